import email
from email import policy


def failed_recipients(raw: bytes):
    """The recipients a bounce (an RFC 3464 delivery status notification)
    reports as failed: [(address, status, diagnostic), ...]."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    if msg.get_content_type() != "multipart/report":
        return []  # not a DSN: an auto-reply, or a human
    failed = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        per_message, *per_recipient = part.get_payload()
        for r in per_recipient:
            if r.get("Action", "").lower() == "failed":
                address = r["Final-Recipient"].split(";", 1)[1].strip()
                failed.append((address, r["Status"], r.get("Diagnostic-Code", "")))
    return failed
