// Package dsn builds delivery status notifications: the multipart/report
// messages of RFC 3464 and RFC 6522 that tell a sender what became of a
// message (failed, delayed, delivered or relayed), one report covering
// several recipients.
//
// A report has three parts: a human-readable explanation quoting the
// remote reply, a message/delivery-status part with the per-message and
// per-recipient fields, and the original message (message/rfc822) or its
// header (text/rfc822-headers), as the Report asks.
//
// Guarantees:
//   - Every field value is one line of printable text: a remote reply or an
//     address cannot inject header lines, and no line exceeds 998 octets
//     outside the returned original.
//   - The report needs SMTPUTF8 on its way to its recipient only when that
//     recipient's own address is non-ASCII (NeedsSMTPUTF8). Otherwise it is
//     7-bit clean, whatever the original held (RFC 6533, RFC 6532):
//     non-ASCII addresses become utf-8-addr-xtext ("utf-8; j\x{F6}rg@..."),
//     and an original with 8-bit octets travels base64-encoded as
//     message/global (or message/global-headers). When the report goes
//     over SMTPUTF8 anyway, those parts are left unencoded, and a status
//     part with UTF-8 in it is message/global-delivery-status.
//   - The same Report always gives the same bytes (golden files).
//
// The package decides nothing about whether a report is due or whom it
// goes to; that is the bounce package's job.
package dsn
