package tlsrpt

import (
	"slices"
	"strings"
	"time"
)

// Bounds on what the counts hold: every key and string below comes from
// a recipient domain or its servers.
const (
	maxDomains       = 20000 // domains counted per window
	maxPolicies      = 16    // policies per domain (a policy changed during the window)
	maxDetails       = 32    // distinct failure details per policy
	maxPolicyStrings = 128   // lines of a policy-string
	maxString        = 512   // octets of any string
)

// Policy is the policy a session was held to.
type Policy struct {
	Type PolicyType
	// Domain is the policy domain: the recipient domain.
	Domain string
	// Strings is the policy as text: the MTA-STS policy's lines, or the
	// TLSA records in presentation form; none for no-policy-found.
	Strings []string
	// MXHost is the MTA-STS policy's mx patterns, or the MX host whose
	// TLSA records applied.
	MXHost []string
}

// Failure describes one failed session (RFC 8460 §4.4).
type Failure struct {
	Result ResultType
	// SendingIP is the relay's address on that session.
	SendingIP string
	// ReceivingMX is the MX host name, ReceivingHELO its EHLO name and
	// ReceivingIP its address.
	ReceivingMX, ReceivingHELO, ReceivingIP string
	// Reason is a short error text (failure-reason-code).
	Reason string
}

// domainCounts are one domain's counts for a window; stored as JSON.
type domainCounts struct {
	// Start is when counting began: the window's start, or an earlier
	// window's when counts left over from before a restart were merged in.
	Start    time.Time        `json:"start"`
	Policies []*PolicyResults `json:"policies"`
}

// policyFor returns the counts of p, adding them if there is room.
func (d *domainCounts) policyFor(p Policy) *PolicyResults {
	desc := describe(p)
	for _, pr := range d.Policies {
		if samePolicy(pr.Policy, desc) {
			return pr
		}
	}
	if len(d.Policies) >= maxPolicies {
		return nil
	}
	pr := &PolicyResults{Policy: desc}
	d.Policies = append(d.Policies, pr)
	return pr
}

func (d *domainCounts) success(p Policy) bool {
	pr := d.policyFor(p)
	if pr == nil {
		return false
	}
	pr.Summary.Successful++
	return true
}

func (d *domainCounts) failure(p Policy, f Failure) bool {
	pr := d.policyFor(p)
	if pr == nil {
		return false
	}
	pr.Summary.Failed++
	fd := FailureDetail{
		ResultType:          ResultType(clip(string(f.Result), 64)),
		SendingMTAIP:        clip(f.SendingIP, 64),
		ReceivingMXHostname: clip(strings.ToLower(f.ReceivingMX), 255),
		ReceivingMXHelo:     clip(f.ReceivingHELO, 255),
		ReceivingIP:         clip(f.ReceivingIP, 64),
		FailureReasonCode:   clip(f.Reason, maxString),
	}
	for i := range pr.FailureDetails {
		if c := &pr.FailureDetails[i]; sameDetail(*c, fd) {
			c.FailedSessionCount++
			return true
		}
	}
	if len(pr.FailureDetails) < maxDetails {
		fd.FailedSessionCount = 1
		pr.FailureDetails = append(pr.FailureDetails, fd)
	}
	return true // the summary counts it even when the details are full
}

// merge adds o's counts to d, keeping the earlier start.
func (d *domainCounts) merge(o *domainCounts) {
	if o.Start.Before(d.Start) || d.Start.IsZero() {
		d.Start = o.Start
	}
	for _, op := range o.Policies {
		var pr *PolicyResults
		for _, x := range d.Policies {
			if samePolicy(x.Policy, op.Policy) {
				pr = x
			}
		}
		if pr == nil {
			if len(d.Policies) >= maxPolicies {
				continue
			}
			pr = &PolicyResults{Policy: op.Policy}
			d.Policies = append(d.Policies, pr)
		}
		pr.Summary.Successful += op.Summary.Successful
		pr.Summary.Failed += op.Summary.Failed
	next:
		for _, ofd := range op.FailureDetails {
			for i := range pr.FailureDetails {
				if sameDetail(pr.FailureDetails[i], ofd) {
					pr.FailureDetails[i].FailedSessionCount += ofd.FailedSessionCount
					continue next
				}
			}
			if len(pr.FailureDetails) < maxDetails {
				pr.FailureDetails = append(pr.FailureDetails, ofd)
			}
		}
	}
}

func describe(p Policy) PolicyDesc {
	d := PolicyDesc{Type: p.Type, Domain: clip(strings.ToLower(p.Domain), 255)}
	for i, s := range p.Strings {
		if i == maxPolicyStrings {
			break
		}
		d.String = append(d.String, clip(s, maxString))
	}
	for i, h := range p.MXHost {
		if i == maxPolicyStrings {
			break
		}
		d.MXHost = append(d.MXHost, clip(strings.ToLower(h), 255))
	}
	return d
}

func samePolicy(a, b PolicyDesc) bool {
	return a.Type == b.Type && a.Domain == b.Domain && slices.Equal(a.String, b.String) && slices.Equal(a.MXHost, b.MXHost)
}

func sameDetail(a, b FailureDetail) bool {
	a.FailedSessionCount, b.FailedSessionCount = 0, 0
	return a == b
}
