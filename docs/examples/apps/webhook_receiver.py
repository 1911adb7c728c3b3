import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["MXOUT_WEBHOOK_SECRET"].encode()
TOLERANCE = 300  # seconds: refuse replays of old batches


def verify(header: str, body: bytes) -> bool:
    """Check Mxout-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    t, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            t = value
        elif key == "v1":
            signatures.append(value)
    if t is None or not t.isdigit() or abs(time.time() - int(t)) > TOLERANCE:
        return False
    expected = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


seen = set()  # event ids already handled; in an application, a unique index


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verify(self.headers.get("Mxout-Signature", ""), body):
            self.send_response(401)
            self.end_headers()
            return
        for event in json.loads(body)["events"]:
            if event["id"] in seen:
                continue  # delivered at least once: skip repeats
            seen.add(event["id"])
            print(event["type"], event["recipient"], event["dsn"], event["reply"], flush=True)
        self.send_response(204)  # any 2xx acknowledges the batch
        self.end_headers()


HTTPServer(("127.0.0.1", 8000), Webhook).serve_forever()
