package submission

import (
	"fmt"
	"log/slog"
	"strings"
)

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
