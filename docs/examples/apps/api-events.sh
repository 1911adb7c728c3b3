# The events of this key's messages after $CURSOR (empty: the oldest kept).
# Store the answer's "next" and pass it as after= next time; an empty
# "events" list means there is nothing newer yet.
curl --silent --show-error --fail-with-body \
  --header "Authorization: Bearer $MXOUT_TOKEN" \
  "https://mxout.example.com:8443/v1/events?after=$CURSOR&limit=100"
