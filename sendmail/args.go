package sendmail

import (
	"strings"
)

// Args is a parsed sendmail command line.
type Args struct {
	// Sender is the envelope sender (-f or -r); "" with SenderSet false
	// means the caller's default. SenderSet with an empty Sender is the
	// null sender (-f '<>').
	Sender    string
	SenderSet bool
	// FullName (-F) names the sender in a From: header added when the
	// message has none.
	FullName string
	// ExtractRecipients (-t) adds the To, Cc and Bcc addresses of the
	// message to Recipients.
	ExtractRecipients bool
	// IgnoreDots (-i, -oi) reads to the end of input; without it a line
	// holding a single "." ends the message, as in classic sendmail.
	IgnoreDots bool
	// Recipients are the addresses given as arguments.
	Recipients []string
	// ConfigPath is the mxout config (-C FILE or --config FILE).
	ConfigPath string
	// Notify (-N) is NEVER or a comma-separated list of SUCCESS, FAILURE,
	// DELAY (RFC 3461); empty lets the relay decide.
	Notify []string
	// Return (-R) is FULL or HDRS: what a bounce returns of the message.
	Return string
	// EnvelopeID (-V) is the ENVID returned in delivery reports.
	EnvelopeID string
	// Verbose (-v) prints the relay's final reply on standard error.
	Verbose bool
	// Help (--help) asks for the usage text.
	Help bool
	// ListQueue (-bp, or the program run as mailq) lists the queue in
	// Postfix's mailq format instead of sending.
	ListQueue bool
}

// withArg are the sendmail options that take an argument (attached,
// "-fme@x", or as the next word, "-f me@x"); Postfix's and Sendmail's
// option sets together.
const withArg = "ABCDFLMNOQRVXbdefhopr"

// ignored are accepted and have no effect: they tune how the traditional
// sendmail queues and reports, which the relay decides.
const ignored = "GUcmnsvx"

// ParseArgs parses a sendmail command line (without the program name).
// Options may come before, after and between recipients, grouped as
// getopt allows ("-ti"); "--" ends them. Modes other than delivering the
// message on standard input (-bm) and listing the queue (-bp) are refused
// with ExUsage and a pointer to what mxout offers instead.
func ParseArgs(argv []string) (Args, error) {
	var a Args
	for i := 0; i < len(argv); i++ {
		w := argv[i]
		switch {
		case w == "--":
			for _, r := range argv[i+1:] {
				a.Recipients = append(a.Recipients, splitRecipients(r)...)
			}
			return a, a.check()
		case w == "--help":
			a.Help = true
			continue
		case w == "--config" || strings.HasPrefix(w, "--config="):
			if v, ok := strings.CutPrefix(w, "--config="); ok {
				a.ConfigPath = v
				continue
			}
			if i+1 >= len(argv) {
				return a, fail(ExUsage, "option --config needs a file name")
			}
			i++
			a.ConfigPath = argv[i]
			continue
		case strings.HasPrefix(w, "--"):
			return a, fail(ExUsage, "unknown option %s (see --help)", w)
		case len(w) < 2 || w[0] != '-':
			a.Recipients = append(a.Recipients, splitRecipients(w)...)
			continue
		}
		// A group of one-letter options: -ti, -oi, -fme@x, -f me@x.
		for j := 1; j < len(w); j++ {
			opt := w[j]
			if strings.IndexByte(withArg, opt) < 0 {
				if err := a.flag(opt); err != nil {
					return a, err
				}
				continue
			}
			val := w[j+1:]
			if val == "" {
				if i+1 >= len(argv) {
					return a, fail(ExUsage, "option -%c needs a value", opt)
				}
				i++
				val = argv[i]
			}
			if err := a.option(opt, val); err != nil {
				return a, err
			}
			break
		}
	}
	return a, a.check()
}

func (a *Args) flag(opt byte) error {
	switch {
	case opt == 't':
		a.ExtractRecipients = true
	case opt == 'i':
		a.IgnoreDots = true
	case opt == 'v':
		a.Verbose = true
	case opt == 'I':
		return fail(ExUsage, "-I (newaliases) is not supported: mxout delivers no local mail and has no aliases")
	case opt == 'q':
		return fail(ExUsage, "-q is not supported: mxout retries deferred mail by itself; `mxout queue flush` retries it now")
	case strings.IndexByte(ignored, opt) >= 0:
	default:
		return fail(ExUsage, "unknown option -%c (see --help)", opt)
	}
	return nil
}

func (a *Args) option(opt byte, val string) error {
	switch opt {
	case 'f', 'r':
		a.Sender, a.SenderSet = strings.TrimSpace(val), true
		if a.Sender == "<>" {
			a.Sender = ""
		}
	case 'F':
		a.FullName = val
	case 'C':
		a.ConfigPath = val
	case 'o':
		if val == "i" {
			a.IgnoreDots = true
		}
	case 'b':
		return a.mode(val)
	case 'N':
		return a.notify(val)
	case 'R':
		switch r := strings.ToUpper(val); r {
		case "FULL", "HDRS":
			a.Return = r
		default:
			return fail(ExUsage, "-R %s: want full or hdrs", val)
		}
	case 'V':
		a.EnvelopeID = val
	}
	return nil // B, L, O, X, e, h, p, ...: no effect here
}

// mode accepts -bm (deliver the message on standard input, the default)
// and -bp (list the queue, as mailq), and explains the others.
func (a *Args) mode(m string) error {
	switch m {
	case "m":
		a.ListQueue = false
		return nil
	case "p":
		a.ListQueue = true
		return nil
	case "s":
		return fail(ExUsage, "-bs (SMTP on standard input) is not supported: talk SMTP to the relay's submission listener instead")
	case "i":
		return fail(ExUsage, "-bi (newaliases) is not supported: mxout delivers no local mail and has no aliases")
	case "d", "D":
		return fail(ExUsage, "-b%s (daemon mode) is not supported: run `mxout serve`", m)
	}
	return fail(ExUsage, "-b%s is not supported: only -bm (send the message on standard input)", m)
}

func (a *Args) notify(val string) error {
	a.Notify = nil
	for _, n := range strings.Split(strings.ToUpper(val), ",") {
		n = strings.TrimSpace(n)
		switch n {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
			a.Notify = append(a.Notify, n)
		default:
			return fail(ExUsage, "-N %s: want never, or a list of success, failure, delay", val)
		}
	}
	if len(a.Notify) > 1 && strings.Contains(strings.Join(a.Notify, ","), "NEVER") {
		return fail(ExUsage, "-N %s: never cannot be combined with others", val)
	}
	return nil
}

func (a *Args) check() error {
	if a.ListQueue && len(a.Recipients) > 0 {
		return fail(ExUsage, "-bp (mailq) lists the queue and takes no recipients (got %s)", a.Recipients[0])
	}
	if a.Help || a.ListQueue || a.ExtractRecipients || len(a.Recipients) > 0 {
		return nil
	}
	return fail(ExUsage, "no recipients: name them as arguments, or use -t to read them from the message")
}

// splitRecipients splits a comma-separated argument ("a@x, b@y"), as
// sendmail does, keeping commas inside quotes and angle brackets.
func splitRecipients(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = appendTrimmed(out, s[start:i])
			start = i + 1
		}
	}
	return appendTrimmed(out, s[start:])
}

func appendTrimmed(out []string, s string) []string {
	if s = strings.TrimSpace(s); s != "" {
		out = append(out, s)
	}
	return out
}
