package sendmail

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs_HowCallersInvokeSendmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		argv string
		want Args
	}{
		{"git send-email", "-i -f a@b.example x@y.example", Args{IgnoreDots: true, Sender: "a@b.example", SenderSet: true, Recipients: []string{"x@y.example"}}},
		{"cron", "-FCronDaemon -i -B8BITMIME -oem root", Args{FullName: "CronDaemon", IgnoreDots: true, Recipients: []string{"root"}}},
		{"PHP mail() with -f", "-t -i -fapp@example.test", Args{ExtractRecipients: true, IgnoreDots: true, Sender: "app@example.test", SenderSet: true}},
		{"grouped flags and -oi", "-ti -oi -odb -v", Args{ExtractRecipients: true, IgnoreDots: true, Verbose: true}},
		{"sender as next word, -r", "-r ops@example.test -F Ops a@x.example", Args{Sender: "ops@example.test", SenderSet: true, FullName: "Ops", Recipients: []string{"a@x.example"}}},
		{"null sender", "-f <> a@x.example", Args{SenderSet: true, Recipients: []string{"a@x.example"}}},
		{"recipients between options, comma lists", "a@x.example -i \"Bo,B\"<b@x.example>,c@x.example", Args{IgnoreDots: true, Recipients: []string{"a@x.example", `"Bo,B"<b@x.example>`, "c@x.example"}}},
		{"config flags", "--config /etc/m.yaml -C /etc/other.yaml --config=/x.yaml -t", Args{ConfigPath: "/x.yaml", ExtractRecipients: true}},
		{"double dash ends options", "-i -- -odd@x.example", Args{IgnoreDots: true, Recipients: []string{"-odd@x.example"}}},
		{"DSN options", "-N success,failure -R hdrs -V env-1 a@x.example", Args{Notify: []string{"SUCCESS", "FAILURE"}, Return: "HDRS", EnvelopeID: "env-1", Recipients: []string{"a@x.example"}}},
		{"ignored no-ops", "-bm -oem -odi -G -U -L tag -h 17 -em -X /dev/null -O DeliveryMode=b a@x.example", Args{Recipients: []string{"a@x.example"}}},
		{"help needs no recipients", "--help", Args{Help: true}},
		{"mailq (-bp) needs none either", "-bp -C /etc/m.yaml", Args{ListQueue: true, ConfigPath: "/etc/m.yaml"}},
		{"mailq as check_mailq runs it, with -v", "-bp -v", Args{ListQueue: true, Verbose: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseArgs(words(tt.argv))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseArgs(%s)\n got %+v\nwant %+v", tt.argv, got, tt.want)
			}
		})
	}
}

func TestParseArgs_RefusesWithUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv, wantMsg string
	}{
		{"-bs", "SMTP on standard input"},
		{"-bp a@x.example", "takes no recipients"},
		{"-bi", "aliases"},
		{"-bd", "mxout serve"},
		{"-bv a@x.example", "only -bm"},
		{"-q", "mxout queue flush"},
		{"-q30m", "mxout queue flush"},
		{"-I", "aliases"},
		{"-i", "no recipients"},
		{"-f", "needs a value"},
		{"--config", "needs a file name"},
		{"--verbose a@x.example", "unknown option --verbose"},
		{"-k a@x.example", "unknown option -k"},
		{"-N sometimes a@x.example", "-N sometimes"},
		{"-N never,success a@x.example", "cannot be combined"},
		{"-R body a@x.example", "want full or hdrs"},
	}
	for _, tt := range tests {
		t.Run(tt.argv, func(t *testing.T) {
			t.Parallel()
			_, err := ParseArgs(words(tt.argv))
			if ExitCode(err) != ExUsage || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseArgs(%s) = %v (exit %d), want exit %d mentioning %q", tt.argv, err, ExitCode(err), ExUsage, tt.wantMsg)
			}
		})
	}
}

// words splits like a shell would for these tests: on spaces, keeping
// double-quoted runs together (quotes kept inside a word).
func words(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"-i -f a@b x@y", "-t", "-oi -odb -FName root", "-bs", "-N never -R full -V x a@b", "--config=/x -- -y", "-fa@b,c@d -Cx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArgs(strings.Fields(s))
		if err != nil {
			if c := ExitCode(err); c != ExUsage {
				t.Errorf("ParseArgs(%q): exit %d, want %d", s, c, ExUsage)
			}
			return
		}
		if !a.Help && !a.ExtractRecipients && len(a.Recipients) == 0 {
			t.Errorf("ParseArgs(%q) accepted no recipients", s)
		}
	})
}
