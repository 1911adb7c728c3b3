package sendmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/mailtext"
)

// Relay is where and how Submit hands the message over.
type Relay struct {
	// Address is the relay's submission listener, host:port.
	Address string
	// TLS is what the listener speaks.
	TLS configs.TLSMode
	// TLSConfig is used for starttls and implicit; nil: verify the
	// certificate against the system roots for the address's host.
	TLSConfig *tls.Config
	// Username and Password, when set, are sent with AUTH PLAIN.
	Username, Password string
	// HeloName is sent in EHLO.
	HeloName string
	// Timeout bounds the connection and each command; the reply to the
	// end of data may take up to 5 times as long. 0: 30s.
	Timeout time.Duration
	// Dial opens the connection; nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Result is the relay's reply to the message: "2.0.0 Ok: queued as <id>".
type Result struct {
	Reply string
}

// Submit sends m to the relay in one SMTP transaction. It returns nil
// only after the relay's 250 to the end of data. A 5xx to any recipient
// aborts the transaction before DATA, so nothing is sent. Errors are
// *Error values with a sysexits code: ExTempFail when the relay cannot be
// reached or answers 4xx, ExNoUser for a refused recipient, ExNoPerm for
// a refused sender or refused credentials, ExDataErr for refused data.
func Submit(ctx context.Context, r Relay, m *Message) (Result, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, 6*timeout)
	defer cancel()
	conn, err := r.dial(ctx, timeout)
	if err != nil {
		return Result{}, fail(ExTempFail, "relay %s is not reachable: %w", r.Address, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := r.hello(conn, timeout)
	if err != nil {
		conn.Close()
		return Result{}, err
	}
	defer c.Close()
	res, err := transact(c, m)
	if err != nil {
		return Result{}, classify(r.Address, err)
	}
	c.Quit()
	return res, nil
}

func (r Relay) dial(ctx context.Context, timeout time.Duration) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := r.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(dctx, "tcp", r.Address)
	if err != nil {
		return nil, err
	}
	if r.TLS != configs.TLSImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, r.tlsConfig())
	if err := tc.HandshakeContext(dctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

func (r Relay) tlsConfig() *tls.Config {
	if r.TLSConfig != nil {
		return r.TLSConfig
	}
	host, _, _ := net.SplitHostPort(r.Address)
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

// hello greets, starts TLS when the listener wants it, and authenticates
// when credentials are set.
func (r Relay) hello(conn net.Conn, timeout time.Duration) (*smtp.Client, error) {
	name := r.HeloName
	if name == "" {
		name = "localhost"
	}
	c := smtp.NewClient(conn)
	if r.TLS == configs.TLSStartTLS {
		var err error
		if c, err = smtp.NewClientStartTLS(conn, r.tlsConfig()); err != nil {
			return nil, &Error{Code: ExTempFail, Err: fmt.Errorf("relay %s: STARTTLS: %w", r.Address, err)}
		}
	}
	c.CommandTimeout, c.SubmissionTimeout = timeout, 5*timeout
	if err := c.Hello(name); err != nil {
		return nil, classify(r.Address, err)
	}
	if r.Username == "" {
		return c, nil
	}
	if !c.SupportsAuth(sasl.Plain) {
		return nil, fail(ExConfig, "relay %s does not offer AUTH PLAIN on this connection (AUTH needs TLS, or allow_plaintext_auth_from_trusted)", r.Address)
	}
	if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			return nil, &Error{Code: ExNoPerm, Err: fmt.Errorf("relay %s refused the sendmail.username credentials: %w", r.Address, err)}
		}
		return nil, classify(r.Address, err)
	}
	return c, nil
}

// stepError tags an SMTP error with the command it answered.
type stepError struct {
	step string // MAIL, RCPT or DATA
	arg  string
	err  error
}

func (e *stepError) Error() string {
	if e.arg != "" {
		return fmt.Sprintf("%s %s: %v", e.step, e.arg, e.err)
	}
	return fmt.Sprintf("%s: %v", e.step, e.err)
}
func (e *stepError) Unwrap() error { return e.err }

func transact(c *smtp.Client, m *Message) (Result, error) {
	opts := &smtp.MailOptions{Size: int64(len(m.Data)), Return: smtp.DSNReturn(m.Return), EnvelopeID: m.EnvelopeID}
	opts.UTF8 = !mailtext.IsASCII(m.From)
	for _, to := range m.To {
		opts.UTF8 = opts.UTF8 || !mailtext.IsASCII(to)
	}
	if err := c.Mail(m.From, opts); err != nil {
		return Result{}, &stepError{"MAIL FROM", "<" + m.From + ">", err}
	}
	var ropts *smtp.RcptOptions
	if len(m.Notify) > 0 {
		ropts = &smtp.RcptOptions{}
		for _, n := range m.Notify {
			ropts.Notify = append(ropts.Notify, smtp.DSNNotify(n))
		}
	}
	for _, to := range m.To {
		if err := c.Rcpt(to, ropts); err != nil {
			c.Reset()
			return Result{}, &stepError{"RCPT TO", "<" + to + ">", err}
		}
	}
	w, err := c.Data()
	if err != nil {
		return Result{}, &stepError{"DATA", "", err}
	}
	if _, err := w.Write(m.Data); err != nil {
		return Result{}, &stepError{"DATA", "", err}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return Result{}, &stepError{"end of DATA", "", err}
	}
	return Result{Reply: resp.StatusText}, nil
}

// classify maps a failed exchange to its exit code: a 5xx reply is final
// (the code says whose fault), anything else — a 4xx, a dropped
// connection, a timeout — is temporary.
func classify(addr string, err error) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code < 500 {
		return &Error{Code: ExTempFail, Err: fmt.Errorf("relay %s: %w", addr, err)}
	}
	code := ExDataErr
	var step *stepError
	if errors.As(err, &step) {
		switch {
		case step.step == "RCPT TO":
			code = ExNoUser
		case step.step == "MAIL FROM" && se.EnhancedCode[1] == 7:
			code = ExNoPerm
		}
	}
	return &Error{Code: code, Err: fmt.Errorf("relay %s refused %w", addr, err)}
}

// Describe is a one-line form of err for standard error.
func Describe(err error) string {
	return mailtext.OneLine(err.Error())
}
