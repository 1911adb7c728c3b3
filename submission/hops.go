package submission

import "strings"

// maxHops is the most Received: fields a submitted message may carry, as
// Postfix's hopcount_limit (50). More means the message has passed
// through too many relays: most likely it is looping between them.
const maxHops = 50

// countReceived returns the number of Received: fields in the header
// section of msg. Only the header section counts, and a folded field
// counts once: its continuation lines are part of it, even when one reads
// "Received:" (see eachField for where the header section ends). It
// depends on nothing but the header scanner, so it can move with it.
func countReceived(msg []byte) int {
	n := 0
	eachField(msg, func(name string, _ []byte) {
		if strings.EqualFold(name, "Received") {
			n++
		}
	})
	return n
}
