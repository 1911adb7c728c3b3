package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/internal/mailtext"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
)

// Outcome is the classified result of an attempt for one recipient.
type Outcome struct {
	// State is queue.Delivered, queue.Failed, or queue.Pending (temporary).
	State queue.State
	// Code is the SMTP reply code when a server replied, else 0.
	Code int
	// Status is an RFC 3463 enhanced status code, e.g. "5.1.1".
	Status string
	// Response is the remote reply ("550 5.1.1 user unknown") or a
	// description of the local failure, at most maxResponse bytes (clip).
	Response string
	// RemoteMTA is the host that replied, when there was one.
	RemoteMTA string
	// MX is that host with the address of the connection, host[ip], for
	// delivery events; set by run.
	MX string
	// RemoteDSN reports that the remote server advertised DSN (RFC 3461),
	// so a success notice says "relayed" rather than "delivered" when not.
	RemoteDSN bool
}

// Permanent reports whether the outcome ends delivery attempts with a failure.
func (o Outcome) Permanent() bool { return o.State == queue.Failed }

// Classify turns an error from any stage of delivery into an outcome.
// Only a 5xx reply, a null MX and a non-existent domain are permanent;
// every other error, known or not, is temporary, because giving up on mail
// that could still be delivered is the worse mistake. The response is
// clipped to maxResponse bytes: a server chooses its reply text.
func Classify(err error, remoteMTA string) Outcome {
	o := classify(err, remoteMTA)
	o.Response = clip(o.Response)
	return o
}

func classify(err error, remoteMTA string) Outcome {
	var se *smtp.SMTPError
	var re *resolver.Error
	var le *localError
	switch {
	case err == nil:
		return Outcome{State: queue.Delivered, Code: 250, Status: "2.0.0", Response: "250 2.0.0 Ok", RemoteMTA: remoteMTA}
	case errors.Is(err, errReplyTooLong):
		return Outcome{State: queue.Pending, Status: "4.5.0", Response: err.Error(), RemoteMTA: remoteMTA}
	case errors.As(err, &se):
		return smtpOutcome(se, remoteMTA)
	case errors.As(err, &le):
		return Outcome{State: le.state, Status: le.status, Response: le.msg, RemoteMTA: remoteMTA}
	case errors.As(err, &re) && errors.Is(err, resolver.ErrNullMX):
		return Outcome{State: queue.Failed, Status: "5.1.10", Response: "domain " + re.Domain + " accepts no mail (null MX)"}
	case errors.As(err, &re) && re.Permanent():
		return Outcome{State: queue.Failed, Status: "5.4.4", Response: "unable to route: " + re.Error()}
	case errors.As(err, &re):
		return Outcome{State: queue.Pending, Status: "4.4.3", Response: "DNS lookup failed: " + re.Error()}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return Outcome{State: queue.Pending, Status: "4.4.2", Response: "timeout: " + err.Error(), RemoteMTA: remoteMTA}
	default:
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return Outcome{State: queue.Pending, Status: "4.4.1", Response: "connection failed: " + err.Error(), RemoteMTA: remoteMTA}
		}
		return Outcome{State: queue.Pending, Status: "4.4.0", Response: err.Error(), RemoteMTA: remoteMTA}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// smtpOutcome maps a reply: 2xx delivered, 5xx failed, anything else
// (4xx, or a malformed code) temporary.
func smtpOutcome(se *smtp.SMTPError, remoteMTA string) Outcome {
	o := Outcome{Code: se.Code, RemoteMTA: remoteMTA, Response: formatReply(se)}
	switch se.Code / 100 {
	case 2:
		o.State = queue.Delivered
	case 5:
		o.State = queue.Failed
	default:
		o.State = queue.Pending
	}
	o.Status = enhancedStatus(se, o.State)
	return o
}

// enhancedStatus uses the server's enhanced code when it gave one whose
// class agrees with the reply, else a generic one for the class.
func enhancedStatus(se *smtp.SMTPError, state queue.State) string {
	ec := se.EnhancedCode
	if ec != smtp.NoEnhancedCode && ec[0] == se.Code/100 && ec != (smtp.EnhancedCode{}) {
		return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
	}
	switch state {
	case queue.Delivered:
		return "2.0.0"
	case queue.Failed:
		return "5.0.0"
	default:
		return "4.0.0"
	}
}

// formatReply renders a reply the way it appeared on the wire, one line.
func formatReply(se *smtp.SMTPError) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(se.Code))
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
		fmt.Fprintf(&b, " %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	if se.Message != "" {
		b.WriteString(" ")
		b.WriteString(mailtext.OneLine(se.Message))
	}
	return b.String()
}

// localError is a failure decided by the relay itself, with its own
// status: a mail loop, a forbidden address, a TLS policy refusal.
type localError struct {
	state  queue.State
	status string
	msg    string
	cause  error // what went wrong underneath, for errors.As; msg describes it
}

func (e *localError) Error() string { return e.msg }

func (e *localError) Unwrap() error { return e.cause }

func permanentLocal(status, format string, a ...any) error {
	return &localError{state: queue.Failed, status: status, msg: fmt.Sprintf(format, a...)}
}

func temporaryLocal(status, format string, a ...any) error {
	return &localError{state: queue.Pending, status: status, msg: fmt.Sprintf(format, a...)}
}
