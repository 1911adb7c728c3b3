package submission

import "errors"

// ErrAddressUTF8 is CheckAddress's answer for an address that is valid
// only with SMTPUTF8 (non-ASCII) when utf8Allowed is false.
var ErrAddressUTF8 = errAddressUTF8

// CheckAddress applies the MAIL and RCPT address rules to addr (a bare
// local@domain, no angle brackets), for the other ways into the relay
// (the HTTP API) to accept exactly what SMTP submission accepts. It
// returns nil, ErrAddressUTF8, or an error saying the syntax is wrong.
func CheckAddress(addr string, utf8Allowed bool) error {
	err := checkAddress(addr, utf8Allowed)
	if errors.Is(err, errAddressSyntax) {
		return errors.New("not an address of the form local@domain (RFC 5321)")
	}
	return err
}
