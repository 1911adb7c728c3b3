package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/delivery/smtptest"
	"github.com/mxout/mxout/internal/testwait"
)

// sendDSN submits one message with RFC 3461 parameters.
func (r *relay) sendDSN(from string, mailOpts *smtp.MailOptions, to []string, rcptOpts map[string]*smtp.RcptOptions, body string) error {
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", r.port))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.e2e.invalid"); err != nil {
		return err
	}
	if err := c.Mail(from, mailOpts); err != nil {
		return err
	}
	for _, a := range to {
		if err := c.Rcpt(a, rcptOpts[a]); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// metric scrapes the relay's /metrics for one series; 0 if absent.
func (r *relay) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

func TestBounce_FailureReachesTheSendersMX(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dest := e.mx("dest.example", 10, smtptest.Options{})
	dest.SetRcptFunc(func(addr string, _ int) *smtptest.Reply {
		if strings.HasPrefix(addr, "gone") {
			return &smtptest.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "<" + addr + ">: no such user"}
		}
		return nil
	})
	senderMX := e.mx("sender.example", 10, smtptest.Options{})
	r := e.newRelay(nil).start()

	body := message("bounce")
	err := r.sendDSN("app@sender.example", &smtp.MailOptions{EnvelopeID: "order-42"},
		[]string{"gone1@dest.example", "ok@dest.example", "gone2@dest.example"},
		map[string]*smtp.RcptOptions{"gone1@dest.example": {OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "customer@sender.example"}},
		body)
	if err != nil {
		t.Fatal(err)
	}
	got := senderMX.WaitMessages(t, 1, 20*time.Second)[0]
	if got.From != "" || len(got.To) != 1 || got.To[0] != "app@sender.example" {
		t.Fatalf("bounce envelope: MAIL FROM:<%s> RCPT TO:%v, want <> to app@sender.example", got.From, got.To)
	}
	report := parseReport(t, got.Data)

	h := report.header
	for name, want := range map[string]string{
		"From": "MAILER-DAEMON@relay.e2e.invalid", "To": "<app@sender.example>", "Auto-Submitted": "auto-replied",
		"Subject": "Undelivered Mail Returned to Sender", "Mime-Version": "1.0", "References": "<bounce@sender.example>",
	} {
		if !strings.Contains(h.Get(name), want) {
			t.Errorf("header %s = %q, want it to contain %q", name, h.Get(name), want)
		}
	}
	if _, err := mail.ParseDate(h.Get("Date")); err != nil || h.Get("Message-Id") == "" {
		t.Errorf("Date %q (%v), Message-ID %q", h.Get("Date"), err, h.Get("Message-Id"))
	}
	if report.reportType != "delivery-status" {
		t.Errorf("report-type = %q", report.reportType)
	}
	if text := strings.Join(strings.Fields(report.text), " "); !strings.Contains(text, "said: 550 5.1.1 <gone1@dest.example>: no such user") {
		t.Errorf("the human-readable part does not quote the remote reply:\n%s", report.text)
	}

	pm := report.perMessage
	if pm.Get("Reporting-Mta") != "dns; relay.e2e.invalid" || pm.Get("Original-Envelope-Id") != "order-42" {
		t.Errorf("per-message fields: %v", pm)
	}
	if _, err := mail.ParseDate(pm.Get("Arrival-Date")); err != nil {
		t.Errorf("Arrival-Date %q: %v", pm.Get("Arrival-Date"), err)
	}
	if len(report.recipients) != 2 {
		t.Fatalf("%d recipient blocks, want the two failed recipients in one report", len(report.recipients))
	}
	remoteMTA := regexp.MustCompile(`^dns; mx-127-[0-9-]+\.dest\.example$`)
	for i, addr := range []string{"gone1@dest.example", "gone2@dest.example"} {
		f := report.recipients[i]
		for name, want := range map[string]string{
			"Final-Recipient": "rfc822; " + addr, "Action": "failed", "Status": "5.1.1",
			"Diagnostic-Code": "smtp; 550 5.1.1 <" + addr + ">: no such user",
		} {
			if f.Get(name) != want {
				t.Errorf("recipient %d: %s = %q, want %q", i, name, f.Get(name), want)
			}
		}
		if !remoteMTA.MatchString(f.Get("Remote-Mta")) {
			t.Errorf("recipient %d: Remote-MTA = %q", i, f.Get("Remote-Mta"))
		}
		if _, err := mail.ParseDate(f.Get("Last-Attempt-Date")); err != nil {
			t.Errorf("recipient %d: Last-Attempt-Date %q: %v", i, f.Get("Last-Attempt-Date"), err)
		}
	}
	if o := report.recipients[0].Get("Original-Recipient"); o != "rfc822; customer@sender.example" {
		t.Errorf("Original-Recipient = %q", o)
	}
	if _, ok := report.recipients[1]["Original-Recipient"]; ok {
		t.Error("Original-Recipient without ORCPT")
	}
	if report.originalType != "message/rfc822" || !bytes.HasSuffix(report.original, []byte(body)) {
		t.Errorf("original part %s:\n%s", report.originalType, report.original)
	}

	if n := len(dest.Messages()); n != 1 {
		t.Errorf("the destination got %d messages, want 1 (ok@)", n)
	}
	time.Sleep(time.Second) // more than a retry interval: no second report
	if n := len(senderMX.Messages()); n != 1 {
		t.Errorf("the sender got %d reports, want 1", n)
	}
	if v := r.metric(t, `mxout_bounces_sent_total{type="failure"}`); v != 1 {
		t.Errorf("mxout_bounces_sent_total{type=\"failure\"} = %v, want 1", v)
	}
	if !regexp.MustCompile(`"msg":"bounce queued","queue_id":"[0-9a-v]{20}","bounce_id":"[0-9a-v]{20}","type":"failure"`).MatchString(r.logs()) {
		t.Errorf("no log line naming the original and the bounce:\n%s", r.logs())
	}
}

func TestBounce_NullSenderFailureMakesNoNewMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dest := e.mxWithout("dest.example", "gone@dest.example")
	senderMX := e.mx("sender.example", 10, smtptest.Options{})
	r := e.newRelay(nil).start()

	if err := r.sendDSN("", nil, []string{"gone@dest.example"}, nil, message("null")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "the null-sender failure to be logged", func() bool {
		return strings.Contains(r.logs(), "bounce: dropped: null-sender mail is never returned")
	})
	time.Sleep(1500 * time.Millisecond) // several retry intervals
	if n := dest.RcptAttempts("gone@dest.example"); n != 1 {
		t.Errorf("the failed recipient was tried %d times, want 1", n)
	}
	if n := len(dest.Messages()) + len(senderMX.Messages()); n != 0 {
		t.Errorf("%d messages arrived anywhere, want none", n)
	}
	if v := r.metric(t, `mxout_bounces_sent_total{type="failure"}`); v != 0 {
		t.Errorf("bounces_sent_total = %v, want 0", v)
	}
	for _, state := range []string{"ready", "deferred", "held", "inflight"} {
		if v := r.metric(t, `mxout_queue_messages{state="`+state+`"}`); v != 0 {
			t.Errorf("queue %s = %v, want an empty queue", state, v)
		}
	}
}

func TestBounce_NullSenderFailureGoesToThePostmaster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mxWithout("dest.example", "gone@dest.example")
	pmMX := e.mx("ops.example", 10, smtptest.Options{})
	r := e.newRelay(map[string]any{"dsn": map[string]any{"postmaster": "postmaster@ops.example"}}).start()

	if err := r.sendDSN("", nil, []string{"gone@dest.example"}, nil, message("pm")); err != nil {
		t.Fatal(err)
	}
	got := pmMX.WaitMessages(t, 1, 20*time.Second)[0]
	if got.From != "" || got.To[0] != "postmaster@ops.example" {
		t.Errorf("postmaster copy envelope: <%s> to %v", got.From, got.To)
	}
	report := parseReport(t, got.Data)
	if report.header.Get("Subject") != "Postmaster Copy: Undelivered Mail" || report.recipients[0].Get("Final-Recipient") != "rfc822; gone@dest.example" {
		t.Errorf("postmaster copy: %v %v", report.header, report.recipients)
	}
	if report.originalType != "text/rfc822-headers" {
		t.Errorf("postmaster copy returns %s, want the headers only", report.originalType)
	}
}

// report is a delivery status notification taken apart with mime/multipart
// and net/textproto, as a sender's bounce processor would.
type report struct {
	header       textproto.MIMEHeader
	reportType   string
	text         string
	perMessage   textproto.MIMEHeader
	recipients   []textproto.MIMEHeader
	originalType string
	original     []byte
}

func parseReport(t *testing.T, data []byte) report {
	t.Helper()
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("report header: %v\n%s", err, data)
	}
	rep := report{header: h}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" {
		t.Fatalf("Content-Type %q (%v), want multipart/report", h.Get("Content-Type"), err)
	}
	rep.reportType = params["report-type"]
	mr := multipart.NewReader(tp.R, params["boundary"])
	var types []string
	var bodies [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v\n%s", len(bodies)+1, err, data)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types, bodies = append(types, ct), append(bodies, b)
	}
	if len(bodies) != 3 || types[0] != "text/plain" || types[1] != "message/delivery-status" {
		t.Fatalf("parts %v, want text/plain, message/delivery-status and the original", types)
	}
	rep.text = string(bodies[0])
	for i, block := range strings.Split(strings.TrimRight(string(bodies[1]), "\r\n"), "\r\n\r\n") {
		f, err := textproto.NewReader(bufio.NewReader(strings.NewReader(block + "\r\n\r\n"))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("delivery-status block %d: %v", i, err)
		}
		if i == 0 {
			rep.perMessage = f
		} else {
			rep.recipients = append(rep.recipients, f)
		}
	}
	rep.originalType, rep.original = types[2], bodies[2]
	return rep
}
