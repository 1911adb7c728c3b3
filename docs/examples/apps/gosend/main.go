// Command gosend is the Go example of docs/quickstart-apps.md: one message
// through mxout with net/smtp, which uses STARTTLS (verifying the
// certificate) when the server offers it, and sends AUTH PLAIN only over TLS.
package main

import (
	"log"
	"net/smtp"
)

func main() {
	msg := []byte("From: noreply@example.com\r\n" +
		"To: customer@example.net\r\n" +
		"Subject: Your receipt\r\n" +
		"\r\n" +
		"Thank you for your order.\r\n")
	auth := smtp.PlainAuth("", "app1", "the-password", "mxout.example.com")
	err := smtp.SendMail("mxout.example.com:587", auth, "noreply@example.com", []string{"customer@example.net"}, msg)
	if err != nil {
		log.Fatal(err) // a *textproto.Error's Code tells 4xx (retry) from 5xx
	}
	log.Print("queued")
}
