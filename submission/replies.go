package submission

import (
	"errors"
	"io"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/queue"
)

// Reasons are the values of the reason label of
// mxout_messages_rejected_total. The set is fixed so the label stays bounded.
const (
	ReasonAuthRequired      = "auth_required"       // MAIL or RCPT without AUTH from an untrusted client
	ReasonSenderDenied      = "sender_denied"       // MAIL FROM or From: outside the user's allowed senders
	ReasonBadAddress        = "bad_address"         // malformed MAIL or RCPT address, or non-ASCII without SMTPUTF8
	ReasonTooManyRecipients = "too_many_recipients" // RCPT beyond MaxRecipients
	ReasonSize              = "size"                // DATA larger than MaxMessageBytes
	ReasonLineTooLong       = "line_too_long"       // a message line longer than MaxLineLength
	ReasonBareLF            = "bare_lf"             // bare LF or bare CR in DATA or BDAT
	ReasonRateLimit         = "rate_limit"          // MAIL over a per-user or per-IP message rate
	ReasonConnectionLimit   = "connection_limit"    // a connection over MaxConnections or MaxConnectionsPerIP
	ReasonTooManyErrors     = "too_many_errors"     // a connection closed after MaxErrors refusals
	ReasonTimeout           = "timeout"             // DATA not complete within DataTimeout or the session's end
	ReasonStorage           = "storage"             // the queue refused the message (disk reserve, badger error)
	ReasonAborted           = "aborted"             // the client went away during DATA
	ReasonLocalError        = "local_error"         // any other local fault
	ReasonNoDKIMKey         = "no_dkim_key"         // dkim.require and the sender domain has no key
	ReasonTooManyHops       = "too_many_hops"       // more than 50 Received: fields: a mail loop
	ReasonPreAuthTimeout    = "pre_auth_timeout"    // an untrusted client did not AUTH within PreAuthTimeout
)

// allReasons lists every reason label value, so New can pre-create the series.
func allReasons() []string {
	return []string{
		ReasonAuthRequired, ReasonSenderDenied, ReasonBadAddress, ReasonTooManyRecipients,
		ReasonSize, ReasonLineTooLong, ReasonBareLF, ReasonRateLimit, ReasonConnectionLimit,
		ReasonTooManyErrors, ReasonTimeout, ReasonStorage, ReasonAborted, ReasonLocalError,
		ReasonNoDKIMKey, ReasonTooManyHops, ReasonPreAuthTimeout,
	}
}

// reply builds an SMTP reply with an enhanced status code (RFC 3463).
func reply(code, class, subject, detail int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: msg}
}

// Replies the session sends. Each is a fresh value built on demand so that
// no caller can mutate a shared one.
func replyAuthRequired() *smtp.SMTPError {
	return reply(530, 5, 7, 0, "Authentication required") // RFC 4954 6
}

func replyAuthInvalid() *smtp.SMTPError {
	return reply(535, 5, 7, 8, "Authentication credentials invalid") // RFC 4954 6
}

func replyAuthTooMany() *smtp.SMTPError {
	return reply(454, 4, 7, 0, "Too many failed authentication attempts, try again later")
}

func replyTLSRequired() *smtp.SMTPError {
	return reply(523, 5, 7, 10, "TLS is required") // RFC 5248, as go-smtp words it
}

func replyTooManyRecipients() *smtp.SMTPError {
	return reply(452, 4, 5, 3, "Too many recipients") // RFC 5321 4.5.3.1.10
}

func replyRateLimited() *smtp.SMTPError {
	return reply(450, 4, 7, 1, "Too many messages, try again later")
}

func replyTooManyErrors() *smtp.SMTPError {
	return reply(421, 4, 7, 0, "Too many errors, closing connection")
}

func replyDataTimeout() *smtp.SMTPError {
	return reply(421, 4, 4, 2, "Timeout while reading message data, closing connection")
}

func replyHeaderFromDenied() *smtp.SMTPError {
	return reply(553, 5, 7, 1, "From header not allowed for this user")
}

func replyAuthInTransaction() *smtp.SMTPError {
	return reply(503, 5, 5, 1, "AUTH not allowed during a mail transaction") // RFC 4954 4
}

func replySenderDenied() *smtp.SMTPError {
	return reply(553, 5, 7, 1, "Sender address not allowed for this user")
}

func replyBadSender() *smtp.SMTPError {
	return reply(501, 5, 1, 7, "Bad sender address syntax")
}

func replyBadRecipient() *smtp.SMTPError {
	return reply(501, 5, 1, 3, "Bad recipient address syntax")
}

func replyNeedsUTF8() *smtp.SMTPError {
	return reply(553, 5, 6, 7, "Non-ASCII address requires SMTPUTF8") // RFC 6531 3.5
}

func replyBadSequence() *smtp.SMTPError {
	return reply(503, 5, 5, 1, "Bad sequence of commands")
}

func replyBareLF() *smtp.SMTPError {
	return reply(550, 5, 6, 11, "Bare LF or CR in message data (RFC 5321 2.3.8)")
}

func replyLineTooLong() *smtp.SMTPError {
	return reply(500, 5, 5, 2, "Line too long in message data (RFC 5321 4.5.3.1.6)")
}

func replyTooManyHops() *smtp.SMTPError {
	return reply(554, 5, 4, 6, "Too many hops (more than 50 Received: fields), mail loop?") // RFC 3463 5.4.6: routing loop
}

func replyStorage() *smtp.SMTPError {
	return reply(452, 4, 3, 1, "Insufficient system storage, try again later")
}

func replyAborted() *smtp.SMTPError {
	return reply(451, 4, 4, 2, "Connection problem while reading message data, try again later")
}

func replyLocalError() *smtp.SMTPError {
	return reply(451, 4, 3, 0, "Local error in processing, try again later")
}

func replyQueued(id queue.ID) *smtp.SMTPError {
	return reply(250, 2, 0, 0, "Ok: queued as "+string(id))
}

// dataReply is the one place that turns an error met while reading DATA
// into a reply and a reject reason. Anything it does not recognise is a
// temporary local fault: a 5xx for our own bug would make clients bounce
// good mail.
func dataReply(err error) (*smtp.SMTPError, string) {
	var se *smtp.SMTPError
	var ne net.Error
	switch {
	case errors.Is(err, errBareLineEnding):
		return replyBareLF(), ReasonBareLF
	case errors.As(err, &se) && se.Code == smtp.ErrDataTooLarge.Code:
		// go-smtp's own 552 5.3.4, passed through unchanged.
		return se, ReasonSize
	case errors.As(err, &se) && *se == *replyDataTimeout():
		// A read past the DATA deadline (trackedConn.Read).
		return se, ReasonTimeout
	case errors.As(err, &se):
		return se, ReasonLocalError
	case errors.Is(err, smtp.ErrTooLongLine), errors.Is(err, errLineTooLong):
		return replyLineTooLong(), ReasonLineTooLong
	case errors.As(err, &ne) && ne.Timeout():
		return replyDataTimeout(), ReasonTimeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, smtp.ErrDataReset), errors.Is(err, net.ErrClosed),
		errors.As(err, &ne):
		return replyAborted(), ReasonAborted
	default:
		return replyLocalError(), ReasonLocalError
	}
}

func replyNoDKIMKey() *smtp.SMTPError {
	return reply(550, 5, 7, 1, "No DKIM key for the sender domain, and this relay signs all mail")
}

func replySigningDomainDenied() *smtp.SMTPError {
	return reply(553, 5, 7, 1, "Sender domain not allowed for this user, the message is not signed for it")
}

// signReply turns a Signer error into a reply: a signing domain the user
// may not use is 553 5.7.1, as a sender it may not use; another permanent
// refusal (no key while signing is required) is 550 5.7.1; anything else
// is our fault and temporary, never a 5xx that would make the client
// bounce the message.
func signReply(err error) (*smtp.SMTPError, string) {
	var p interface{ Permanent() bool }
	switch {
	case errors.Is(err, dkim.ErrDomainNotAllowed):
		return replySigningDomainDenied(), ReasonSenderDenied
	case errors.As(err, &p) && p.Permanent():
		return replyNoDKIMKey(), ReasonNoDKIMKey
	}
	return replyLocalError(), ReasonLocalError
}
