// Package sendmail is mxout's sendmail(8)-compatible entry point: the
// command that cron, PHP's mail(), git send-email and monitoring tools run
// as /usr/sbin/sendmail.
//
// It parses sendmail's command line (ParseArgs), prepares the message read
// from standard input (Prepare: line endings to CRLF, recipients from the
// headers with -t, Bcc removed, a From: added when missing) and submits it
// over SMTP to the local relay (Submit), so the relay's queue and checks
// apply. It keeps no queue of its own.
//
// Guarantees: Submit returns nil only after the relay answered 250 to the
// end of the data, that is after the relay has the message on disk; every
// other outcome is an *Error whose Code is a sysexits.h value the caller
// can act on (ExTempFail: try again later; the others: do not retry
// unchanged). A recipient refused with 5xx aborts the whole transaction,
// so a message is never delivered to some recipients and reported failed.
package sendmail
