package delivery

import (
	"context"
	"errors"
	"net"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/metrics"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/tlspolicy"
	"github.com/mxout/mxout/tlsrpt"
)

// TLSPolicies decides the TLS policy of each MX host: DANE, MTA-STS, or
// the configured delivery.tls (*tlspolicy.Policies).
type TLSPolicies interface {
	Domain(ctx context.Context, domain string, mxSecure bool) *tlspolicy.Domain
	Host(ctx context.Context, d *tlspolicy.Domain, mxHost string, configured configs.TLSPolicy) (*tlspolicy.Host, error)
}

// TLSReports counts sessions for SMTP TLS reports (*tlsrpt.Reporter).
type TLSReports interface {
	Success(p tlsrpt.Policy)
	Failure(p tlsrpt.Policy, f tlsrpt.Failure)
}

// TLSReportClient marks the queued TLS reports (queue.Envelope.Client,
// with the null sender): they must get through whatever the TLS policy
// of their destination (RFC 8460 §3), and their own sessions are not
// reported.
const TLSReportClient = "tls report"

// hostPolicy is what one MX host's TLS policy means for the walk.
type hostPolicy struct {
	kind string // the policy label: tlspolicy.Kind, or required/opportunistic
	// check judges the handshake (DANE, MTA-STS); nil when delivery.tls
	// alone applies.
	check *tlspolicy.Host
	// refused says why the host must not be used (an enforced policy).
	refused *tlspolicy.Failure
	// noted is a failure of every session to the host that does not stop
	// it (MTA-STS testing: an MX host outside the policy).
	noted *tlspolicy.Failure
	// unfetched is why the domain's MTA-STS policy could not be had: its
	// sessions go into TLS reports as that failure.
	unfetched *tlspolicy.Failure
	// report names the policy in TLS reports; zero: sessions not reported.
	report tlsrpt.Policy
}

// reportsTLS says whether a's sessions go into TLS reports and are held
// to MTA-STS and DANE: not the smarthost's, and not the reports'.
func (e *Engine) reportsTLS(a *attempt) bool {
	return !a.r.smarthost && !(a.m.Envelope.From == "" && a.m.Envelope.Client == TLSReportClient)
}

// policyHops gives each MX host of a its TLS policy.
func (e *Engine) policyHops(ctx context.Context, a *attempt, mxHosts []string, mxSecure bool) []hop {
	out := make([]hop, len(mxHosts))
	for i, h := range mxHosts {
		out[i] = hop{host: h, tls: a.r.tls, policy: hostPolicy{kind: kindOf(a.r.tls)}}
	}
	if e.cfg.TLSPolicies == nil || !e.reportsTLS(a) {
		return out
	}
	d := e.cfg.TLSPolicies.Domain(ctx, a.r.dest, mxSecure)
	stsFailure := d.STSFailure()
	for i := range out {
		hp := &out[i].policy
		hp.report = tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: a.r.dest}
		if stsFailure != nil {
			hp.unfetched, hp.report.Type = stsFailure, tlsrpt.PolicySTS
		}
		h, err := e.cfg.TLSPolicies.Host(ctx, d, out[i].host, a.r.policy.TLS)
		var f *tlspolicy.Failure
		switch {
		case errors.As(err, &f):
			// A TLSA lookup failed under an authenticated MX.
			hp.refused, hp.kind = f, string(tlspolicy.DANE)
			hp.report = tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: a.r.dest, MXHost: []string{out[i].host}}
			continue
		case err != nil:
			hp.refused = &tlspolicy.Failure{Result: tlsrpt.ValidationFailure, Enforced: true, Err: err}
			continue
		}
		hp.kind = string(h.Kind)
		if h.Kind == tlspolicy.Required || h.Kind == tlspolicy.Opportunistic {
			continue // delivery.tls, as without policies
		}
		hp.check, hp.report = h, h.Report()
		out[i].tls = tlsPolicy{mode: modeOf(h.TLS), kind: hp.kind}
		if f := h.Admit(); f != nil {
			if f.Enforced {
				hp.refused = f
			} else {
				hp.noted = f
			}
		}
	}
	return out
}

// kindOf names the policy label of delivery.tls alone: required when the
// certificate is verified, else opportunistic.
func kindOf(p tlsPolicy) string {
	if p.verify {
		return metrics.TLSPolicyRequired
	}
	return metrics.TLSPolicyOpportunistic
}

func modeOf(m tlspolicy.TLSMode) tlsMode {
	switch m {
	case tlspolicy.TLSMust:
		return tlsMust
	case tlspolicy.TLSOff:
		return tlsOff
	}
	return tlsMay
}

// refusedOutcome is the deferral of a host its policy refuses.
func refusedOutcome(host string, f *tlspolicy.Failure) Outcome {
	return Outcome{State: queue.Pending, Status: "4.7.5", Response: clip(f.Error()), RemoteMTA: host}
}

// policyFailure wraps an enforced policy failure of a session as its
// deferral: 4.7.10 without TLS, 4.7.5 for the certificate.
func policyFailure(f *tlspolicy.Failure) error {
	status := "4.7.5"
	if f.Result == tlsrpt.StartTLSNotSupported {
		status = "4.7.10"
	}
	return &localError{state: queue.Pending, status: status, msg: f.Error(), cause: f}
}

// observeSession counts a session attempt at t under its policy, logs a
// policy failure, and reports it for TLS reports. s is the session, or
// nil when none opened (err).
func (e *Engine) observeSession(a *attempt, t target, s *session, err error) {
	var f *tlspolicy.Failure
	errors.As(err, &f)
	if s != nil && s.noted != nil {
		f = s.noted
	}
	if f == nil && s != nil {
		f = t.policy.noted
	}
	switch {
	case f != nil:
		e.m.OutboundTLS.WithLabelValues(t.policy.kind, metrics.TLSFailure).Inc()
		msg := "delivery: TLS policy not met; host not used"
		if !f.Enforced {
			msg = "delivery: TLS policy not met; delivered anyway, reported"
		}
		e.log.Warn(msg, "queue_id", a.m.ID, "dest", a.r.dest, "relay", t.addr, "host", t.host, "tls_policy", t.policy.kind,
			"result", string(f.Result), "err", clipErr(f))
	case errors.Is(err, errTLSHandshake):
		e.m.OutboundTLS.WithLabelValues(t.policy.kind, metrics.TLSFailed).Inc()
	case err != nil:
		return // no session: the connection or the greeting failed
	case s.tls != "":
		e.m.OutboundTLS.WithLabelValues(t.policy.kind, metrics.TLSEstablished).Inc()
	default:
		e.m.OutboundTLS.WithLabelValues(t.policy.kind, metrics.TLSPlaintext).Inc()
	}
	if f == nil && s != nil {
		f = t.policy.unfetched
	}
	e.report(t, s, err, f)
}

// report counts the session at t for the TLS report of its domain.
func (e *Engine) report(t target, s *session, err error, f *tlspolicy.Failure) {
	if e.cfg.TLSReports == nil || t.policy.report.Domain == "" || (t.tls.mode == tlsOff && f == nil) {
		return
	}
	fail := tlsrpt.Failure{ReceivingMX: t.host, ReceivingIP: t.addr.Addr().String()}
	var oe *openError
	if errors.As(err, &oe) {
		fail.SendingIP = oe.local
	} else if s != nil {
		fail.SendingIP = s.local
	}
	switch {
	case f != nil:
		fail.Result, fail.Reason = f.Result, clip(f.Error())
	case err != nil: // a failed handshake, retried in plaintext under opportunistic
		fail.Result, fail.Reason = tlsrpt.ValidationFailure, clip(err.Error())
	case s.tls == "":
		fail.Result, fail.Reason = tlsrpt.StartTLSNotSupported, "no STARTTLS"
	default:
		e.cfg.TLSReports.Success(t.policy.report)
		return
	}
	e.cfg.TLSReports.Failure(t.policy.report, fail)
}

// refuseHost logs and reports an MX host that its policy keeps the walk
// from (no session, so no outbound_tls_total count).
func (e *Engine) refuseHost(a *attempt, h hop) {
	f := h.policy.refused
	e.log.Warn("delivery: TLS policy not met; host not used", "queue_id", a.m.ID, "dest", a.r.dest, "host", h.host,
		"tls_policy", h.policy.kind, "result", string(f.Result), "err", clipErr(f))
	if e.cfg.TLSReports != nil && h.policy.report.Domain != "" {
		e.cfg.TLSReports.Failure(h.policy.report, tlsrpt.Failure{Result: f.Result, ReceivingMX: h.host, Reason: clip(f.Error())})
	}
}

// openError is a failure to open a session after the connection was made;
// it keeps our address on it, which a TLS report names.
type openError struct {
	local string
	err   error
}

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

func localIP(c net.Conn) string {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// tlsCheck is a session's DANE or MTA-STS check and what it found.
type tlsCheck struct {
	host  *tlspolicy.Host // nil: delivery.tls alone
	noted *tlspolicy.Failure
}

// note records f, a failure that does not stop the session, or returns
// the deferral of an enforced one.
func (c *tlsCheck) note(f *tlspolicy.Failure) error {
	if f == nil {
		return nil
	}
	if f.Enforced {
		return policyFailure(f)
	}
	c.noted = f
	return nil
}
