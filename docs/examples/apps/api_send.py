import os

import requests

resp = requests.post(
    "https://mxout.example.com:8443/v1/send",
    headers={
        "Authorization": "Bearer " + os.environ["MXOUT_TOKEN"],
        # A retry with the same key, even after a time-out, sends nothing twice.
        "Idempotency-Key": "receipt-4711",
    },
    json={
        "from": "Shop <noreply@example.com>",
        "to": ["customer@example.net"],
        "subject": "Your receipt",
        "text": "Thank you for your order.",
        "html": "<p>Thank you for your <b>order</b>.</p>",
        "metadata": {"order": "4711"},
    },
    timeout=30,
)
if resp.status_code == 202:
    print("queued:", resp.json()["id"])
elif resp.status_code >= 500:  # 503: the relay's disk is full; 500: a fault
    raise SystemExit(f"not accepted ({resp.status_code}); try again later, same Idempotency-Key")
else:
    error = resp.json()  # 400, 401, 403, 413: do not retry unchanged
    raise SystemExit(f"refused ({resp.status_code}): {error['field']}: {error['error']}")
