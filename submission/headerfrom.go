package submission

import (
	"net/mail"

	"github.com/mxout/mxout/internal/header"
)

// maxFromLen bounds the From: value handed to the address parser.
const maxFromLen = 8192

// headerFrom returns the unfolded values of every From: field in the
// header section of msg.
func headerFrom(msg []byte) []string {
	var out []string
	for f := range header.Fields(msg) {
		if f.Is("From") {
			out = append(out, header.Unfold(f.Value))
		}
	}
	return out
}

// mayUseHeaderFrom reports whether the account may send msg as its From:
// header says (submission.check_header_from). A "*" account may send
// anything. Otherwise there must be exactly one From: field (RFC 5322
// 3.6), it must parse, and every mailbox in it must match the account's
// allowed senders: a second From: or an unparseable one could show the
// reader a sender that was never checked.
func (a *account) mayUseHeaderFrom(msg []byte) bool {
	if a.mayUseAny() {
		return true
	}
	froms := headerFrom(msg)
	if len(froms) != 1 || len(froms[0]) > maxFromLen {
		return false
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil || len(list) == 0 {
		return false
	}
	for _, addr := range list {
		if !a.mayUse(addr.Address) {
			return false
		}
	}
	return true
}
