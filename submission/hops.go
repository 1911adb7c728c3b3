package submission

import "github.com/mxout/mxout/internal/header"

// maxHops is the most Received: fields a submitted message may carry, as
// Postfix's hopcount_limit (50). More means the message has passed
// through too many relays: most likely it is looping between them.
const maxHops = 50

// countReceived returns the number of Received: fields in the header
// section of msg: only the header section counts, and a folded field
// counts once (package header says where the section ends).
func countReceived(msg []byte) int { return header.Count(msg, "Received") }
