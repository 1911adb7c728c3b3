package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
)

// makeInstall runs `make install` from the repository root with vars.
func makeInstall(t *testing.T, vars ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", "..", "--no-print-directory", "install"}, vars...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMakeInstall(t *testing.T) {
	t.Parallel()
	need(t, "make", "")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "build", "mxout")
	tests := []struct {
		name    string
		vars    []string
		root    string // where the installed tree starts (DESTDIR)
		prefix  string
		sysconf string
		sbin    string
	}{
		{name: "DESTDIR with PREFIX=/usr", root: filepath.Join(tmp, "destdir"), prefix: "/usr", sysconf: "/etc", sbin: "/usr/sbin"},
		{name: "PREFIX only", root: "", prefix: filepath.Join(tmp, "prefix"), sysconf: filepath.Join(tmp, "prefix", "etc"), sbin: filepath.Join(tmp, "prefix", "sbin")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := []string{"BIN=" + bin, "DESTDIR=" + tt.root, "PREFIX=" + tt.prefix, "SYSCONFDIR=" + tt.sysconf, "SBINDIR=" + tt.sbin, "SENDMAIL_LINK=1"}
			out, err := makeInstall(t, vars...)
			if err != nil {
				t.Fatalf("make install: %v\n%s", err, out)
			}
			if !strings.Contains(out, "next: systemd-sysusers && systemctl daemon-reload && systemctl enable --now mxout\n") {
				t.Errorf("make install does not print the next steps:\n%s", out)
			}
			at := func(p string) string { return filepath.Join(tt.root, p) }
			mode := func(p string) os.FileMode {
				fi, err := os.Stat(at(p))
				if err != nil {
					t.Fatal(err)
				}
				return fi.Mode().Perm()
			}
			if m := mode(tt.prefix + "/bin/mxout"); m != 0o755 {
				t.Errorf("binary mode %v", m)
			}
			unit, err := os.ReadFile(at(tt.prefix + "/lib/systemd/system/mxout.service"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(unit), "ExecStart="+tt.prefix+"/bin/mxout serve --config "+tt.sysconf+"/mxout/mxout.yaml\n") {
				t.Errorf("unit does not start the installed binary with the installed config:\n%s", unit)
			}
			for _, f := range []string{"/lib/sysusers.d/mxout.conf", "/share/bash-completion/completions/mxout", "/share/zsh/site-functions/_mxout", "/share/fish/vendor_completions.d/mxout.fish",
				"/share/man/man8/mxout.8", "/share/man/man8/mxout-sendmail.8", "/share/man/man5/mxout.yaml.5"} {
				if fi, err := os.Stat(at(tt.prefix + f)); err != nil || fi.Size() == 0 {
					t.Errorf("%s: %v", f, err)
				}
			}
			conf := at(tt.sysconf + "/mxout/mxout.yaml")
			c, err := configs.Load(conf)
			if err != nil {
				t.Fatalf("installed config does not load: %v", err)
			}
			if c.DataDir != "/var/lib/mxout" || mode(tt.sysconf+"/mxout/mxout.yaml") != 0o644 {
				t.Errorf("installed config: data_dir %q, mode %v; want the StateDirectory and 0644 (sendmail callers read it)", c.DataDir, mode(tt.sysconf+"/mxout/mxout.yaml"))
			}
			for _, link := range []string{tt.sbin + "/sendmail", tt.prefix + "/bin/mailq"} {
				if target, err := os.Readlink(at(link)); err != nil || target != tt.prefix+"/bin/mxout" {
					t.Errorf("%s link -> %q, %v", link, target, err)
				}
			}

			// A second install keeps an edited config.
			if err := os.WriteFile(conf, []byte("log: {level: debug}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := makeInstall(t, vars...); err != nil || !strings.Contains(out, "kept the existing") {
				t.Fatalf("second make install: %v\n%s", err, out)
			}
			if b, _ := os.ReadFile(conf); string(b) != "log: {level: debug}\n" {
				t.Errorf("the edited config was replaced: %q", b)
			}
		})
	}

	// Run through the installed links, the binary is sendmail, and mailq
	// (here on a queue that does not exist).
	prefix := filepath.Join(tmp, "prefix")
	noQueue := filepath.Join(tmp, "noqueue.yaml")
	if err := os.WriteFile(noQueue, []byte("data_dir: "+filepath.Join(tmp, "none")+"\nadmin: {listen: \"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		argv []string
		code int
		want string
	}{
		{[]string{filepath.Join(prefix, "sbin", "sendmail"), "-bs"}, 64, "sendmail: "},
		{[]string{filepath.Join(prefix, "bin", "mailq"), "-C", noQueue}, 69, "mailq: queue report unavailable: "},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(run.argv[0], run.argv[1:]...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); cmd.ProcessState.ExitCode() != run.code || !strings.HasPrefix(stderr.String(), run.want) {
			t.Errorf("installed %v: %v, %q; want exit %d and %q", run.argv, err, stderr.String(), run.code, run.want)
		}
	}
	out, err := exec.Command(filepath.Join(prefix, "bin", "mxout"), "version").Output()
	if err != nil || !strings.Contains(string(out), runtime.Version()) || strings.Contains(string(out), "commit unknown") || strings.Contains(string(out), "built unknown") {
		t.Errorf("mxout version = %q, %v: want the commit and build date from the Makefile and the Go version", out, err)
	}
}

func TestMakeInstall_KeepsAnotherMTAsSendmail(t *testing.T) {
	t.Parallel()
	need(t, "make", "")
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	postfixSendmail := filepath.Join(root, "usr/sbin/sendmail")
	if err := os.MkdirAll(filepath.Dir(postfixSendmail), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(postfixSendmail, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := makeInstall(t, "BIN="+filepath.Join(tmp, "mxout"), "DESTDIR="+root, "PREFIX=/usr", "SENDMAIL_LINK=1")
	if err == nil || !strings.Contains(out, "is not a link to /usr/bin/mxout") {
		t.Errorf("make install over another sendmail: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(postfixSendmail); string(b) != "#!/bin/sh\n" {
		t.Error("the other MTA's sendmail was replaced")
	}
}

// The unit as installed passes systemd's own checks.
func TestUnit_SystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	need(t, "systemd-analyze", "Debian package systemd; the unit is not verified")
	need(t, "make", "")
	prefix := t.TempDir()
	// No DESTDIR, so ExecStart names a binary that exists, as verify wants.
	if out, err := makeInstall(t, "BIN="+filepath.Join(prefix, "build", "mxout"), "PREFIX="+prefix, "SYSCONFDIR="+prefix+"/etc"); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	unit := filepath.Join(prefix, "lib/systemd/system/mxout.service")
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The unit keeps the sandbox and the notify protocol the docs promise,
// also where systemd-analyze is absent.
func TestUnit_Settings(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("mxout.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = append(set[k], v)
		}
	}
	for k, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "User": "mxout", "ExecReload": "/bin/kill -HUP $MAINPID",
		"StateDirectory": "mxout", "ConfigurationDirectory": "mxout",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
	} {
		if got := set[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %s", k, got, want)
		}
	}
}
