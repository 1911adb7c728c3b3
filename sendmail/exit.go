package sendmail

import (
	"errors"
	"fmt"
)

// Exit codes from sysexits.h, the convention every sendmail follows and
// its callers check.
const (
	ExOK          = 0  // the relay has the message
	ExUsage       = 64 // bad command line, or an unsupported mode
	ExDataErr     = 65 // the message or an address in it is malformed, or the relay refused the data
	ExNoUser      = 67 // the relay refused a recipient (5xx to RCPT)
	ExUnavailable = 69 // mailq (-bp) could not read the queue (Postfix's postqueue: the mail system is down)
	ExSoftware    = 70 // an internal error
	ExIOErr       = 74 // standard input could not be read
	ExTempFail    = 75 // the relay is down or answered 4xx: try again later
	ExNoPerm      = 77 // the relay refused the sender or the credentials
	ExConfig      = 78 // the mxout config cannot be read or is invalid
)

// Error is a failure with the exit code that reports it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the sysexits code for err: ExOK for nil, the Code of an
// *Error in its chain, else ExSoftware.
func ExitCode(err error) int {
	if err == nil {
		return ExOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExSoftware
}

func fail(code int, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}
