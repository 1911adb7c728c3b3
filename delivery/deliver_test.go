package delivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testlog"
	"github.com/mxout/mxout/internal/testwait"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver/dnstest"
)

func TestDeliver_MultiDomain(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		a := w.mx("a.example", 10, smtptest.Options{})
		b := w.mx("b.example", 10, smtptest.Options{})
		w.start()
		id := w.enqueue("app@sender.example", "x@a.example", "y@a.example", "z@b.example")
		w.waitFinal(id, 3, 10*time.Second)
		ma := a.WaitMessages(t, 1, 5*time.Second)
		mb := b.WaitMessages(t, 1, 5*time.Second)
		if strings.Join(ma[0].To, ",") != "x@a.example,y@a.example" || strings.Join(mb[0].To, ",") != "z@b.example" {
			t.Errorf("recipients a=%v b=%v: want one transaction per domain", ma[0].To, mb[0].To)
		}
		if ma[0].From != "app@sender.example" || !bytes.Contains(ma[0].Data, []byte("hello")) {
			t.Errorf("a got from %q data %q", ma[0].From, ma[0].Data)
		}
		if s := w.q.Stats(); s.Ready+s.Deferred+s.Inflight != 0 {
			t.Errorf("queue not empty after delivery: %+v", s)
		}
	})
}

func TestDeliver_DeferThenDeliver(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("flaky.example", 10, smtptest.Options{})
		mx.SetRcptFunc(func(addr string, attempt int) *smtptest.Reply {
			if attempt <= 2 {
				return &smtptest.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "try later " + strconv.Itoa(attempt)}
			}
			return nil
		})
		w.start()
		id := w.enqueue("app@sender.example", "u@flaky.example")
		final := w.waitFinal(id, 1, 10*time.Second)
		if r := final["u@flaky.example"]; r.State != queue.Delivered {
			t.Fatalf("final = %+v", r)
		}
		all := w.notes.all(id, "u@flaky.example")
		if len(all) != 3 || all[0].State != queue.Pending || all[0].Status != "4.3.0" || !strings.HasPrefix(all[0].Response, "451 4.3.0 try later 1") {
			t.Errorf("attempts = %+v", all)
		}
		if gap := all[1].Attempted.Sub(all[0].Attempted); gap < 40*time.Millisecond {
			t.Errorf("retried after %v, before the backoff", gap)
		}
		if n := mx.RcptAttempts("u@flaky.example"); n != 3 {
			t.Errorf("RCPT attempts = %d, want 3", n)
		}
	})
}

func TestDeliver_MixedRecipientResults(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("mixed.example", 10, smtptest.Options{})
		mx.SetRcpt("gone@mixed.example", &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"})
		mx.SetRcpt("busy@mixed.example", &smtptest.Reply{Code: 452, Enhanced: [3]int{4, 2, 2}, Message: "mailbox full"})
		// The lifetime ends when the test moves the engine's clock past it,
		// once the 4xx recipient has been retried: on a real 200ms
		// lifetime, a loaded machine let it pass before the first attempt.
		var offset atomic.Int64
		w.cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		w.cfg.Retry.MaxLifetime = time.Hour
		logs := &testlog.Buffer{}
		w.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		w.start()
		id := w.enqueue("app@sender.example", "ok@mixed.example", "gone@mixed.example", "busy@mixed.example")
		if !testwait.Until(10*time.Second, func() bool { return mx.RcptAttempts("busy@mixed.example") >= 2 }) {
			t.Fatalf("a 4xx recipient was not retried: %d RCPTs", mx.RcptAttempts("busy@mixed.example"))
		}
		offset.Store(int64(2 * time.Hour))
		final := w.waitFinal(id, 3, 10*time.Second)
		if final["ok@mixed.example"].State != queue.Delivered {
			t.Errorf("ok: %+v", final["ok@mixed.example"])
		}
		if r := final["gone@mixed.example"]; r.State != queue.Failed || r.Status != "5.1.1" || r.Response != "550 5.1.1 no such user" {
			t.Errorf("gone: %+v", r)
		}
		if n := mx.RcptAttempts("gone@mixed.example"); n != 1 {
			t.Errorf("a 5xx recipient was retried: %d RCPTs", n)
		}
		if r := final["busy@mixed.example"]; r.State != queue.Failed || r.Status != "5.4.7" || !strings.Contains(r.Response, "452 4.2.2 mailbox full") {
			t.Errorf("busy after lifetime: %+v", r)
		}
		// Its last attempt line says "deferred"; one more line says that the
		// lifetime ended it, as Postfix's "status=expired".
		var expired []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var l map[string]any
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if l["msg"] == "delivery expired" {
				expired = append(expired, l)
			}
		}
		if len(expired) != 1 || expired[0]["to"] != "busy@mixed.example" || expired[0]["dsn"] != "5.4.7" ||
			expired[0]["status"] != "expired" || expired[0]["queue_id"] != string(id) ||
			!strings.Contains(fmt.Sprint(expired[0]["response"]), "delivery time expired; last error: 452 4.2.2 mailbox full") {
			t.Errorf(`"delivery expired" lines: %v; want one for busy@mixed.example with dsn 5.4.7`, expired)
		}
		if msgs := mx.Messages(); len(msgs) < 1 || strings.Join(msgs[0].To, ",") != "ok@mixed.example" {
			t.Errorf("messages = %+v", msgs)
		}
	})
}

func TestDeliver_DataRejectFailsAccepted(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		mx := w.mx("spam.example", 10, smtptest.Options{})
		mx.SetData(&smtptest.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "rejected as spam"})
		w.start()
		id := w.enqueue("app@sender.example", "a@spam.example", "b@spam.example")
		final := w.waitFinal(id, 2, 10*time.Second)
		for addr, r := range final {
			if r.State != queue.Failed || r.Status != "5.7.1" {
				t.Errorf("%s: %+v", addr, r)
			}
		}
	})
}

func TestDeliver_MXFallbackAndPreference(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.mx("fb.example", 10, smtptest.Options{})
	second := w.mx("fb.example", 20, smtptest.Options{})
	first.Down()
	// With reuse, the next message would ride the idle connection to the
	// second MX, as with Postfix's connection cache.
	w.cfg.ConnectionIdleTimeout = 0
	w.start()
	id := w.enqueue("app@sender.example", "u@fb.example")
	w.waitFinal(id, 1, 10*time.Second)
	if len(second.Messages()) != 1 || len(first.Messages()) != 0 {
		t.Errorf("first MX got %d, second %d; want the second to take over", len(first.Messages()), len(second.Messages()))
	}
	first.Up()
	id = w.enqueue("app@sender.example", "v@fb.example")
	w.waitFinal(id, 1, 10*time.Second)
	if len(first.Messages()) != 1 {
		t.Errorf("preference 10 not used once up: first got %d", len(first.Messages()))
	}
}

func TestDeliver_GreetingRefusalMovesOn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.mx("greet.example", 10, smtptest.Options{})
	second := w.mx("greet.example", 20, smtptest.Options{})
	first.SetGreeting(&smtptest.Reply{Code: 554, Message: "no service"})
	w.start()
	id := w.enqueue("app@sender.example", "u@greet.example")
	if r := w.waitFinal(id, 1, 10*time.Second)["u@greet.example"]; r.State != queue.Delivered {
		t.Errorf("final = %+v", r)
	}
	if len(second.Messages()) != 1 {
		t.Error("a 554 greeting did not move on to the next MX")
	}
}

func TestDeliver_ImplicitMX(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ip := w.net.NextIP()
	s := smtptest.NewServer(t, smtptest.Options{Addr: w.net.Addr(ip)})
	w.dns.Set("implicit.example", dnstest.Record{Type: "A", Value: ip})
	w.start()
	id := w.enqueue("app@sender.example", "u@implicit.example")
	w.waitFinal(id, 1, 10*time.Second)
	if len(s.Messages()) != 1 {
		t.Error("no delivery to the implicit MX (the domain's A record)")
	}
}

func TestDeliver_PermanentRoutingFailures(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dns.Set("nullmx.example", dnstest.Record{Type: "MX", Value: "0 ."})
	w.start()
	id := w.enqueue("app@sender.example", "u@nullmx.example", "v@nxdomain.example")
	final := w.waitFinal(id, 2, 10*time.Second)
	if r := final["u@nullmx.example"]; r.State != queue.Failed || r.Status != "5.1.10" {
		t.Errorf("null MX: %+v", r)
	}
	if r := final["v@nxdomain.example"]; r.State != queue.Failed || r.Status != "5.4.4" {
		t.Errorf("NXDOMAIN: %+v", r)
	}
	if n := len(w.notes.all(id, "u@nullmx.example")); n != 1 {
		t.Errorf("null MX retried: %d attempts", n)
	}
}

func TestDeliver_DNSTroubleDefers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.dns.Set("dead.example", dnstest.Record{Type: "MX", Value: "10 mx.dead.example."})
	w.dns.Set("mx.dead.example", dnstest.Record{Type: "TXT", Value: `"no address"`})
	w.cfg.Retry.MaxLifetime = time.Hour
	w.start()
	id := w.enqueue("app@sender.example", "u@dead.example")
	testwait.Until(5*time.Second, func() bool { return len(w.notes.all(id, "u@dead.example")) > 0 })
	all := w.notes.all(id, "u@dead.example")
	if len(all) == 0 || all[0].State != queue.Pending || all[0].Status != "4.4.3" {
		t.Errorf("MX without addresses: %+v", all)
	}
}

func TestDeliver_OpportunisticSTARTTLS(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("tls.example", 10, smtptest.Options{TLS: true})
	w.start()
	id := w.enqueue("app@sender.example", "u@tls.example")
	w.waitFinal(id, 1, 10*time.Second)
	if msgs := mx.Messages(); len(msgs) != 1 || !msgs[0].TLS {
		t.Errorf("not delivered over STARTTLS: %+v", msgs)
	}
}

func TestDeliver_RequiredTLSDefersWithoutSTARTTLS(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("plain.example", 10, smtptest.Options{})
	w.cfg.TLS = configs.TLSRequired
	w.start()
	id := w.enqueue("app@sender.example", "u@plain.example")
	testwait.Until(5*time.Second, func() bool { return len(w.notes.all(id, "u@plain.example")) > 0 })
	all := w.notes.all(id, "u@plain.example")
	if len(all) == 0 || all[0].State != queue.Pending || all[0].Status != "4.7.10" {
		t.Errorf("required TLS without STARTTLS: %+v", all)
	}
	if len(mx.Messages()) != 0 {
		t.Error("delivered in plaintext although TLS is required")
	}
}

func TestDeliver_LoopToOwnListenerFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ip := w.net.NextIP()
	w.dns.Set("loop.example", dnstest.Record{Type: "MX", Value: "10 mx.loop.example."})
	w.dns.Set("mx.loop.example", dnstest.Record{Type: "A", Value: ip})
	w.cfg.OwnAddrs = []netip.AddrPort{netip.MustParseAddrPort(w.net.Addr(ip))}
	w.start()
	id := w.enqueue("app@sender.example", "u@loop.example")
	if r := w.waitFinal(id, 1, 10*time.Second)["u@loop.example"]; r.State != queue.Failed || r.Status != "5.4.6" {
		t.Errorf("loop: %+v", r)
	}
}

func TestDeliver_ShutdownWaitsForInflight(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mx := w.mx("slow.example", 10, smtptest.Options{})
	mx.SetDataDelay(300 * time.Millisecond)
	w.start()
	id := w.enqueue("app@sender.example", "u@slow.example")
	testwait.Until(5*time.Second, func() bool { return w.q.Stats().Inflight > 0 })
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := w.e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := w.notes.final(id)["u@slow.example"]; r.State != queue.Delivered {
		t.Errorf("in-flight delivery not finished by a graceful shutdown: %+v", r)
	}
}

func TestDeliver_PassesDSNParametersOn(t *testing.T) {
	t.Parallel()
	eachWire(t, func(t *testing.T, w *world) {
		withDSN := w.mx("dsn.example", 10, smtptest.Options{DSN: true})
		without := w.mx("nodsn.example", 10, smtptest.Options{})
		w.start()
		env := queue.Envelope{From: "app@sender.example", DSN: queue.MessageDSN{Ret: "HDRS", EnvID: "env-42"}, To: []queue.RecipientParams{
			{Addr: "u@dsn.example", Notify: []string{"SUCCESS", "FAILURE"}, ORCPT: "RFC822;orig@sender.example"},
			{Addr: "v@nodsn.example", Notify: []string{"NEVER"}},
		}}
		id := w.enqueueEnv(env, "Subject: dsn\r\n\r\nbody\r\n")
		w.waitFinal(id, 2, 10*time.Second)
		m := withDSN.Messages()[0]
		if m.MailOpts.Return != "HDRS" || m.MailOpts.EnvelopeID != "env-42" {
			t.Errorf("MAIL DSN params not passed on: %+v", m.MailOpts)
		}
		ro := m.RcptOpts["u@dsn.example"]
		if ro == nil || len(ro.Notify) != 2 || ro.OriginalRecipient != "orig@sender.example" || ro.OriginalRecipientType != "RFC822" {
			t.Errorf("RCPT DSN params not passed on: %+v", ro)
		}
		if n := len(without.Messages()); n != 1 {
			t.Errorf("a server without DSN got %d messages", n)
		}
	})
}
