curl --silent --show-error --fail-with-body \
  --header "Authorization: Bearer $MXOUT_TOKEN" \
  --header "Idempotency-Key: receipt-4711" \
  --json '{
    "from": "Shop <noreply@example.com>",
    "to": ["customer@example.net"],
    "subject": "Your receipt",
    "text": "Thank you for your order.",
    "html": "<p>Thank you for your <b>order</b>.</p>",
    "metadata": {"order": "4711"}
  }' \
  https://mxout.example.com:8443/v1/send
