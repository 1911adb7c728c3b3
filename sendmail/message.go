package sendmail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/mxout/mxout/internal/header"
)

// Site is what Prepare needs to know about the machine it runs on.
type Site struct {
	// Domain qualifies addresses without one: the login name of the
	// default sender and recipients such as "root".
	Domain string
	// User is the caller's login name, the default sender's local part.
	User string
	// Aliases maps an unqualified recipient ("root") to an address.
	Aliases map[string]string
	// MaxBytes is the largest message read (the relay's limit); 0: none.
	MaxBytes int64
}

// Message is an envelope and the message to submit.
type Message struct {
	// From is the envelope sender; "" is the null sender.
	From string
	// To are the envelope recipients, each once.
	To []string
	// Data is the message with CRLF line endings.
	Data       []byte
	Notify     []string
	Return     string
	EnvelopeID string
}

// Prepare reads the message on r and builds what Submit sends: lines end
// in CRLF (a lone CR is dropped), a leading mbox "From " line is dropped,
// without -i a line holding a single "." ends the input, with -t the
// To/Cc/Bcc addresses (the Resent- ones when present) join the recipients,
// Bcc headers are removed, and a From: header is added when missing.
// Failures are *Error: ExDataErr for bad input, ExIOErr for a read error.
func Prepare(r io.Reader, a Args, site Site) (*Message, error) {
	lines, err := readLines(r, a.IgnoreDots, site.MaxBytes)
	if err != nil {
		return nil, err
	}
	header, body := splitHeader(lines)

	m := &Message{Notify: a.Notify, Return: a.Return, EnvelopeID: a.EnvelopeID}
	m.From = qualify(site.User, site.Domain)
	if a.SenderSet {
		m.From = a.Sender
		if m.From != "" {
			if m.From, err = envelopeAddr(m.From, site.Domain); err != nil {
				return nil, fail(ExDataErr, "sender -f %q: %w", a.Sender, err)
			}
		}
	}
	var rcpts []string
	for _, r := range a.Recipients {
		addr, err := envelopeAddr(r, site.Domain)
		if err != nil {
			return nil, fail(ExDataErr, "recipient %q: %w", r, err)
		}
		rcpts = append(rcpts, addr)
	}
	if a.ExtractRecipients {
		found, err := headerRecipients(header, site.Domain)
		if err != nil {
			return nil, err
		}
		rcpts = append(rcpts, found...)
	}
	m.To = resolve(rcpts, site)
	if len(m.To) == 0 {
		return nil, fail(ExDataErr, "no recipients: the message's To, Cc and Bcc headers name none")
	}

	header = removeFields(header, "Bcc", "Resent-Bcc")
	if !hasField(header, "From") {
		from := m.From
		if from == "" {
			from = qualify(site.User, site.Domain)
		}
		header = append([]field{{name: "From", lines: []string{"From: " + fromHeader(a.FullName, from)}}}, header...)
	}
	m.Data = assemble(header, body)
	return m, nil
}

// readLines reads r to its end (or to a lone "." unless ignoreDots) as
// lines without their line endings.
func readLines(r io.Reader, ignoreDots bool, maxBytes int64) ([]string, error) {
	if maxBytes > 0 {
		r = io.LimitReader(r, maxBytes+1)
	}
	br := bufio.NewReader(r)
	var lines []string
	var n int64
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		n += int64(len(line))
		if maxBytes > 0 && n > maxBytes {
			return nil, fail(ExDataErr, "the message is larger than the relay takes (submission.max_message_bytes %d)", maxBytes)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fail(ExIOErr, "read the message from standard input: %w", err)
		}
		if line == "" && err != nil {
			return lines, nil
		}
		line = strings.ReplaceAll(strings.TrimRight(line, "\r\n"), "\r", "")
		switch {
		case !ignoreDots && line == ".":
			return lines, nil
		case first && strings.HasPrefix(line, "From "):
			// an mbox separator, as git format-patch writes it
		default:
			lines = append(lines, line)
		}
		if err != nil {
			return lines, nil
		}
	}
}

// field is one header field: its name and its lines, folded ones included.
type field struct {
	name  string
	lines []string
}

func (f field) value() string {
	v := strings.Join(f.lines, " ")
	_, v, _ = strings.Cut(v, ":")
	return strings.TrimSpace(v)
}

// splitHeader parses the header fields at the top of lines, as package
// header reads them: the header ends at the first empty line, or at the
// first line that is not a field (that line starts the body).
func splitHeader(lines []string) (fields []field, body []string) {
	n := 0 // lines read
	for f := range header.Fields([]byte(strings.Join(lines, "\n") + "\n")) {
		k := bytes.Count(f.Value, []byte{'\n'})
		fields = append(fields, field{name: f.Name, lines: lines[n : n+k]})
		n += k
	}
	if n < len(lines) && lines[n] == "" {
		n++
	}
	return fields, lines[n:]
}

func hasField(h []field, name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

func removeFields(h []field, names ...string) []field {
	out := h[:0:0]
	for _, f := range h {
		drop := false
		for _, n := range names {
			drop = drop || strings.EqualFold(f.name, n)
		}
		if !drop {
			out = append(out, f)
		}
	}
	return out
}

// headerRecipients are the addresses of To, Cc and Bcc, or of Resent-To,
// Resent-Cc and Resent-Bcc when the message has any of those (it is
// being resent, RFC 5322 3.6.6).
func headerRecipients(h []field, domain string) ([]string, error) {
	names := []string{"To", "Cc", "Bcc"}
	for _, n := range []string{"Resent-To", "Resent-Cc", "Resent-Bcc"} {
		if hasField(h, n) {
			names = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
			break
		}
	}
	var out []string
	for _, f := range h {
		for _, n := range names {
			if !strings.EqualFold(f.name, n) {
				continue
			}
			addrs, err := addressList(f.value(), domain)
			if err != nil {
				return nil, fail(ExDataErr, "%s header: %w", f.name, err)
			}
			out = append(out, addrs...)
		}
	}
	return out, nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}

// addressList parses a header's address list; an unqualified name
// ("root") is qualified with domain.
func addressList(v, domain string) ([]string, error) {
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if list, err := p.ParseList(v); err == nil {
		var out []string
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out, nil
	}
	var out []string
	for _, item := range splitRecipients(v) {
		addr, err := envelopeAddr(item, domain)
		if err != nil {
			return nil, err
		}
		out = append(out, addr)
	}
	return out, nil
}

// envelopeAddr is the address in s ("a@x", "<a@x>", "Name <a@x>", or an
// unqualified "root", which gets @domain).
func envelopeAddr(s, domain string) (string, error) {
	s = strings.TrimSpace(s)
	if local := strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"); isLocalName(local) {
		return qualify(local, domain), nil
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	a, err := p.Parse(s)
	if err != nil {
		return "", fmt.Errorf("not an address: %w", err)
	}
	return a.Address, nil
}

// isLocalName reports whether s is a bare login name such as "root".
func isLocalName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-+", c) >= 0) {
			return false
		}
	}
	return true
}

// qualify appends @domain to a local name; an empty domain leaves it bare.
func qualify(local, domain string) string {
	if domain == "" || strings.Contains(local, "@") {
		return local
	}
	return local + "@" + domain
}

// resolve applies the aliases to unqualified recipients (as qualified
// with the site's domain) and drops repeats.
func resolve(rcpts []string, site Site) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rcpts {
		if local, dom, ok := strings.Cut(r, "@"); ok && strings.EqualFold(dom, site.Domain) {
			if alias, ok := site.Aliases[strings.ToLower(local)]; ok {
				r = alias
			}
		}
		if key := strings.ToLower(r); !seen[key] {
			seen[key] = true
			out = append(out, r)
		}
	}
	return out
}

// fromHeader is the value of a From: header for addr, with the -F name.
func fromHeader(name, addr string) string {
	if name == "" {
		return addr
	}
	return (&mail.Address{Name: name, Address: addr}).String()
}

// assemble joins the header fields and the body with CRLF line endings.
func assemble(h []field, body []string) []byte {
	var b bytes.Buffer
	for _, f := range h {
		for _, l := range f.lines {
			b.WriteString(l)
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	for _, l := range body {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}
