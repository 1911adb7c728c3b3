printf 'From: noreply@example.com\r\nTo: customer@example.net\r\nSubject: Your receipt\r\n\r\nThank you for your order.\r\n' > message.txt
curl --silent --show-error --url smtp://mxout.example.com:587 --ssl-reqd \
  --user app1:the-password \
  --mail-from noreply@example.com --mail-rcpt customer@example.net \
  --upload-file message.txt
