import smtplib
import ssl
from email.message import EmailMessage

msg = EmailMessage()
msg["From"] = "noreply@example.com"
msg["To"] = "customer@example.net"
msg["Subject"] = "Your receipt"
msg.set_content("Thank you for your order.")

with smtplib.SMTP("mxout.example.com", 587, timeout=30) as smtp:
    smtp.starttls(context=ssl.create_default_context())  # verifies the certificate
    smtp.login("app1", "the-password")
    refused = smtp.send_message(msg)  # raises if every recipient is refused
    print("queued; refused:", refused)
