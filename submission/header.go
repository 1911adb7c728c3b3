package submission

import "github.com/mxout/mxout/internal/header"

// headerInfo is what the relay needs to know about a message's header
// section before it adds its own fields.
type headerInfo struct {
	// HasHeader is false when the message starts with a line that is
	// neither a header field nor the empty separator line: it is then all
	// body, and the relay's fields need a separator line after them.
	HasHeader             bool
	HasMessageID, HasDate bool
}

// scanHeader reads the header section of msg (package header).
func scanHeader(msg []byte) headerInfo {
	h := headerInfo{HasHeader: header.HasSection(msg)}
	for f := range header.Fields(msg) {
		h.HasMessageID = h.HasMessageID || f.Is("Message-ID")
		h.HasDate = h.HasDate || f.Is("Date")
	}
	return h
}
