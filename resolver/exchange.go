package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size we advertise (DNS Flag Day 2020): large
// enough for most MX answers, small enough to avoid IP fragmentation.
const ednsSize = 1232

// exchange asks each server in turn until one answers NOERROR or NXDOMAIN.
// On failure it returns the kind and cause of the last server's failure.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, Kind, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	q.SetEdns0(ednsSize, r.dnssec)
	// With DO, a validating server says whether it authenticated the
	// answer; AD in the query asks for that too (RFC 6840 §5.7).
	q.AuthenticatedData = r.dnssec

	kind, err := KindNetwork, errors.New("no servers")
	for _, server := range r.servers {
		if cerr := ctx.Err(); cerr != nil {
			return nil, kindOf(cerr), fmt.Errorf("query %s %s: %w", dns.TypeToString[qtype], name, cerr)
		}
		var resp *dns.Msg
		resp, kind, err = r.ask(ctx, server, q)
		if err == nil {
			return resp, 0, nil
		}
		err = fmt.Errorf("query %s %s via %s: %w", dns.TypeToString[qtype], name, server, err)
	}
	return nil, kind, err
}

// ask sends q to one server over UDP, and again over TCP when the UDP
// answer is truncated.
func (r *Resolver) ask(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, Kind, error) {
	resp, err := r.roundTrip(ctx, r.udp, server, q)
	// A truncated answer may also fail to unpack; TCP repairs both.
	if resp != nil && resp.Truncated {
		resp, err = r.roundTrip(ctx, r.tcp, server, q)
		if err != nil {
			return nil, kindOf(err), fmt.Errorf("truncated over UDP, then over TCP: %w", err)
		}
		if resp.Truncated {
			return nil, KindMalformed, errors.New("answer truncated over TCP")
		}
	}
	if err != nil {
		return nil, kindOf(err), err
	}
	if err := checkReply(q, resp); err != nil {
		return nil, KindMalformed, err
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return resp, 0, nil
	}
	return nil, KindServerFailure, fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
}

// roundTrip makes one attempt, bounded by r.timeout and by ctx.
func (r *Resolver) roundTrip(ctx context.Context, c *dns.Client, server string, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer conn.Close()
	// The client honours the deadline but not cancellation; closing the
	// connection unblocks the read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		return resp, ctxErr(ctx, err)
	}
	return resp, nil
}

// ctxErr prefers the context's error, which says why a read was cut short.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// kindOf classifies a transport error.
func kindOf(err error) Kind {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return KindTimeout
	}
	return KindNetwork
}

// checkReply rejects an answer to a question we did not ask.
func checkReply(q, resp *dns.Msg) error {
	if !resp.Response {
		return errors.New("reply without the QR bit")
	}
	if len(resp.Question) != 1 {
		return fmt.Errorf("reply has %d questions", len(resp.Question))
	}
	want, got := q.Question[0], resp.Question[0]
	if !strings.EqualFold(want.Name, got.Name) || want.Qtype != got.Qtype || want.Qclass != got.Qclass {
		return fmt.Errorf("reply is for %s, not %s", got.String(), want.String())
	}
	return nil
}
