package migrate

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		unit byte
		want time.Duration
		bad  bool
	}{
		{in: "300s", unit: 'd', want: 5 * time.Minute},
		{in: "300", unit: 's', want: 5 * time.Minute},
		{in: "5", unit: 'd', want: 120 * time.Hour},
		{in: "2w", unit: 's', want: 14 * 24 * time.Hour},
		{in: "90m", unit: 's', want: 90 * time.Minute},
		{in: "1h", unit: 's', want: time.Hour},
		{in: "0", unit: 'h', want: 0},
		{in: "", unit: 's', bad: true},
		{in: "5y", unit: 's', bad: true},
		{in: "-5s", unit: 's', bad: true},
		{in: "1.5h", unit: 's', bad: true},
		{in: "99999999999w", unit: 's', bad: true},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, tt.unit)
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("parseTime(%q, %c) = %v, %v", tt.in, tt.unit, got, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "0s", 5 * time.Minute: "5m", 4000 * time.Second: "4000s", 120 * time.Hour: "120h", 90 * time.Second: "90s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseRelayhost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		mx, bad  bool
	}{
		{in: "[smtp.example.net]:587", want: "smtp.example.net:587"},
		{in: "[smtp.example.net]", want: "smtp.example.net:25"},
		{in: "[192.0.2.1]:submission", want: "192.0.2.1:587"},
		{in: "[ipv6:2001:db8::1]:25", want: "[2001:db8::1]:25"},
		{in: "example.net", want: "example.net:25", mx: true},
		{in: "example.net:2525", want: "example.net:2525", mx: true},
		{in: "[smtp.example.net", bad: true},
		{in: "[smtp.example.net]587", bad: true},
		{in: "[smtp.example.net]:nope", bad: true},
		{in: "[bad host]:25", bad: true},
	}
	for _, tt := range tests {
		got, mx, err := parseRelayhost(tt.in)
		if tt.bad != (err != nil) || got != tt.want || mx != tt.mx {
			t.Errorf("parseRelayhost(%q) = %q, %v, %v", tt.in, got, mx, err)
		}
	}
}

func TestMainCF_Expand(t *testing.T) {
	t.Parallel()
	cf := parseMainCF("a = x\nb = $a.${a}.$(a)\nempty =\nc = ${empty?set}${empty:unset}${a?yes}\nloop1 = $loop2\nloop2 = $loop1\nd = $$a $\ne = $missing\n")
	tests := []struct {
		name, want string
		bad        bool
	}{
		{name: "b", want: "x.x.x"},
		{name: "c", want: "unsetyes"},
		{name: "d", want: "$a $"},
		{name: "loop1", bad: true},
		{name: "e", bad: true},
	}
	for _, tt := range tests {
		got, _, err := cf.get(tt.name, nil)
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("get(%s) = %q, %v", tt.name, got, err)
		}
	}
}

// loads reports whether out is a config configs.Load accepts.
func loads(t *testing.T, out []byte) error {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := configs.Load(p)
	return err
}

func FuzzPostfix(f *testing.F) {
	fuzzLoads(f, []string{
		"myhostname = a.example\nrelayhost = [b.example]:587\nmessage_size_limit = 52428800\n",
		"mynetworks = 10.0.0.0/8 [::1]/128 hash:/x\n  !1.2.3.4\nminimal_backoff_time = 2h\n",
		"x = $y\ny = ${x?a}\nsmtp_tls_security_level = dane-only\nmaximal_queue_lifetime = 0\n",
		"smtp_destination_concurrency_limit = 0\ninet_protocols = ipv6\nsmtp_bind_address = 10.0.0.1\n",
	}, func(in []byte) []byte { return Postfix(in, "main.cf", nil) })
}

func FuzzOpenDKIM(f *testing.F) {
	fuzzLoads(f, []string{
		"Domain example.com, example.net\nSelector mail\nKeyFile /k\nSignHeaders From,To\nOversignHeaders Subject\n",
		"KeyTable csl:k1=example.com:s:/k\nSigningTable csl:*@example.com k1\n",
		"Domain a..b\nSelector x y\nKeyFile /k\nSignatureAlgorithm ed25519-sha256\nMultipleSignatures yes\n",
	}, func(in []byte) []byte { return OpenDKIM(in, "opendkim.conf", nil) })
}

// fuzzLoads checks that whatever convert makes of its input, from the
// seeds on, is a config configs.Load accepts.
func fuzzLoads(f *testing.F, seeds []string, convert func(in []byte) []byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := convert([]byte(in))
		if err := loads(t, out); err != nil {
			t.Fatalf("output of %q does not load: %v\n%s", in, err, out)
		}
	})
}
