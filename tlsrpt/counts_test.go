package tlsrpt

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestCountsBounded feeds counts whose keys and strings a hostile domain
// chooses; memory stays bounded and the totals stay right.
func TestCountsBounded(t *testing.T) {
	t.Parallel()
	r := &Reporter{counts: map[string]*domainCounts{}, dirty: map[string]bool{}, log: discard(), start: time.Now()}
	long := strings.Repeat("x", 10000)
	for i := range 100 {
		p := Policy{Type: PolicySTS, Domain: "hostile.example", Strings: []string{fmt.Sprint("version ", i%20), long}, MXHost: []string{long}}
		r.Success(p)
		r.Failure(p, Failure{Result: ValidationFailure, ReceivingMX: fmt.Sprint("mx", i), Reason: long})
	}
	d := r.counts["hostile.example"]
	if len(d.Policies) != maxPolicies {
		t.Errorf("%d policies kept, want the first %d", len(d.Policies), maxPolicies)
	}
	for _, pr := range d.Policies {
		if len(pr.Policy.String[1]) != maxString || len(pr.Policy.MXHost[0]) != 255 {
			t.Errorf("strings kept at %d and %d octets", len(pr.Policy.String[1]), len(pr.Policy.MXHost[0]))
		}
		for _, fd := range pr.FailureDetails {
			if len(fd.FailureReasonCode) > maxString {
				t.Errorf("reason of %d octets kept", len(fd.FailureReasonCode))
			}
		}
	}
	one := &PolicyResults{}
	d.Policies = []*PolicyResults{one}
	p := Policy{Type: PolicyNotFound, Domain: "hostile.example"}
	for i := range 100 {
		r.Failure(p, Failure{Result: StartTLSNotSupported, ReceivingIP: fmt.Sprint("192.0.2.", i)})
	}
	pr := r.counts["hostile.example"].policyFor(p)
	if pr.Summary.Failed != 100 || len(pr.FailureDetails) != maxDetails {
		t.Errorf("failed %d with %d details; want 100 with %d", pr.Summary.Failed, len(pr.FailureDetails), maxDetails)
	}

	for i := range maxDomains + 10 {
		r.Success(Policy{Type: PolicyNotFound, Domain: fmt.Sprintf("d%d.example", i)})
	}
	if len(r.counts) != maxDomains {
		t.Errorf("%d domains counted, want at most %d", len(r.counts), maxDomains)
	}
	r.Success(Policy{Type: PolicyNotFound, Domain: "bad\r\nSubject: x"})
	if _, ok := r.counts["bad\r\nsubject: x"]; ok {
		t.Error("a domain with a line break was counted")
	}
}

// TestDelay: no random delay for windows under an hour; under maxDelay
// for longer ones, so a report still leaves within a minute.
func TestDelay(t *testing.T) {
	t.Parallel()
	r := &Reporter{rand: rand.New(rand.NewPCG(1, 2))}
	r.cfg.Interval = 59 * time.Minute
	if d := r.delay(); d != 0 {
		t.Errorf("delay for a 59m window = %v, want 0", d)
	}
	r.cfg.Interval = time.Hour
	var nonzero bool
	for range 1000 {
		d := r.delay()
		if d < 0 || d >= maxDelay {
			t.Fatalf("delay %v outside [0, %v)", d, maxDelay)
		}
		nonzero = nonzero || d > 0
	}
	if !nonzero {
		t.Error("1000 delays for a 1h window were all 0")
	}
	if maxDelay+sendTimeout >= time.Minute {
		t.Errorf("delay %v and send time-out %v can take a report past a minute", maxDelay, sendTimeout)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
