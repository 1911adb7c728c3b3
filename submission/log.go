package submission

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/mxout/mxout/internal/header"
	"github.com/mxout/mxout/internal/mailtext"
)

// maxLoggedMessageID bounds the Message-ID in the accepted line: the
// client chose it. Real ones are well under 100 octets.
const maxLoggedMessageID = 256

// loggedMessageID is msg's Message-ID for the accepted line, on one line
// and bounded; "" when it has none (the relay adds one when the header
// section lacks it, so only a message without a header section).
func loggedMessageID(msg []byte) string {
	v, ok := header.First(msg, "Message-ID")
	if !ok {
		return ""
	}
	return mailtext.Clip(mailtext.OneLine(header.Unfold(v)), maxLoggedMessageID, "...")
}

// errorLog routes go-smtp's internal error messages (accept errors,
// connection errors, recovered panics) through slog.
type errorLog struct{ log *slog.Logger }

// Printf implements smtp.Logger.
func (e errorLog) Printf(format string, v ...any) {
	e.log.Warn(strings.TrimSuffix(fmt.Sprintf(format, v...), "\n"))
}

// Println implements smtp.Logger.
func (e errorLog) Println(v ...any) {
	e.log.Warn(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
