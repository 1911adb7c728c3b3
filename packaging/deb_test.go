package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The .deb's files, conffile and maintainer scripts, read with dpkg-deb
// (no root needed).
func TestPackage_DebContents(t *testing.T) {
	t.Parallel()
	needRelease(t, "dpkg-deb")
	r := tagged(t)
	deb := artefact(t, r, "mxout_9.9.9-1_*.deb")
	list, err := run(".", "dpkg-deb", "--contents", deb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"./usr/bin/mxout", "./usr/lib/systemd/system/mxout.service", "./usr/lib/sysusers.d/mxout.conf",
		"./etc/mxout/mxout.yaml", "./usr/share/man/man8/mxout.8.gz", "./usr/share/man/man8/mxout-sendmail.8.gz",
		"./usr/share/man/man5/mxout.yaml.5.gz", "./usr/share/bash-completion/completions/mxout",
		"./usr/share/zsh/vendor-completions/_mxout", "./usr/share/fish/vendor_completions.d/mxout.fish",
		"./usr/share/doc/mxout/copyright", "./usr/share/doc/mxout/docs/configuration.md"} {
		if !strings.Contains(list, " "+want+"\n") {
			t.Errorf("the .deb has no %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, "./var/lib/mxout") {
		t.Error("the .deb owns /var/lib/mxout: removing it would take the queue")
	}
	for field, want := range map[string]string{"Package": "mxout", "Version": "9.9.9-1", "Section": "mail"} {
		if got, err := run(".", "dpkg-deb", "--field", deb, field); err != nil || strings.TrimSpace(got) != want {
			t.Errorf("%s: %q, %v; want %s", field, got, err, want)
		}
	}
	ctrl := t.TempDir()
	if _, err := run(".", "dpkg-deb", "--control", deb, ctrl); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); string(b) != "/etc/mxout/mxout.yaml\n" {
		t.Errorf("conffiles = %q, want the config alone", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ctrl, "postinst")); !strings.Contains(string(b), "systemd-sysusers /usr/lib/sysusers.d/mxout.conf") || !strings.Contains(string(b), "useradd --system") {
		t.Errorf("postinst does not create the mxout user:\n%s", b)
	}
}

// The .deb installed with dpkg on this machine (as CI does; it runs as
// root on Debian): mxout runs, its man pages are found, the user and the
// queue directory exist; a reinstall keeps an edited config; removing the
// package keeps the config and the queue. Skipped without root or dpkg,
// or where an mxout is installed already (failed instead in CI).
func TestPackage_DebInstallAndRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		skipRelease(t, "not root: the .deb is not installed")
	}
	needRelease(t, "dpkg")
	needRelease(t, "dpkg-query")
	r := tagged(t)
	deb := artefact(t, r, "mxout_9.9.9-1_*.deb")
	// One such test at a time on a machine, until its cleanup below has
	// purged the package: registered first, the unlock runs last (a
	// deferred one ran before the purge, and a test waiting for the lock
	// found the package installed and skipped).
	t.Cleanup(lockFile(t, filepath.Join(os.TempDir(), "mxout-deb-test.lock")))
	if st, _ := run(".", "dpkg-query", "--show", "--showformat=${db:Status-Status}", "mxout"); st != "" && st != "not-installed" {
		skipRelease(t, "an mxout package is on this machine (%s): not touching it", st)
	}
	for _, p := range []string{"/usr/bin/mxout", "/etc/mxout"} {
		if _, err := os.Lstat(p); err == nil {
			skipRelease(t, "%s exists: not touching this machine's mxout", p)
		}
	}
	_, userErr := run(".", "getent", "passwd", "mxout")
	_, queueErr := os.Stat("/var/lib/mxout")
	t.Cleanup(func() {
		if out, err := run(".", "dpkg", "--purge", "mxout"); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
		os.RemoveAll("/etc/mxout")
		if queueErr != nil {
			os.RemoveAll("/var/lib/mxout")
		}
		if userErr != nil {
			run(".", "userdel", "mxout")
			run(".", "groupdel", "mxout")
		}
	})

	out, err := run(".", "dpkg", "--install", deb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "then: systemctl enable --now mxout") {
		t.Errorf("dpkg -i does not say what to do next:\n%s", out)
	}
	if v, err := run(".", "mxout", "version"); err != nil || !strings.HasPrefix(v, "mxout "+releaseTag+" ") {
		t.Errorf("mxout version = %q, %v", v, err)
	}
	for _, page := range [][]string{{"mxout"}, {"5", "mxout.yaml"}, {"mxout-sendmail"}, {"mxout-queue-list"}} {
		p, err := run(".", "man", append([]string{"-w"}, page...)...)
		if err != nil || !strings.HasPrefix(p, "/usr/share/man/") {
			t.Errorf("man -w %s = %q, %v", strings.Join(page, " "), p, err)
		}
	}
	if pw, err := run(".", "getent", "passwd", "mxout"); err != nil || !strings.Contains(pw, ":/var/lib/mxout:/usr/sbin/nologin") {
		t.Errorf("the mxout user: %q, %v", pw, err)
	}
	if fi, err := os.Stat("/var/lib/mxout"); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("/var/lib/mxout: %v, %v; want mode 0750", fi, err)
	}
	if out, err := run(".", "mxout", "config", "check", "--config", "/etc/mxout/mxout.yaml"); err != nil || !strings.Contains(out, "data_dir: /var/lib/mxout") {
		t.Errorf("the installed config: %v\n%s", err, out)
	}

	// An edited config survives a reinstall (an upgrade asks first).
	edited := "# edited by the test\n"
	appendFile(t, "/etc/mxout/mxout.yaml", edited)
	if out, err := run(".", "dpkg", "--install", deb); err != nil {
		t.Fatalf("reinstall: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile("/etc/mxout/mxout.yaml"); !strings.HasSuffix(string(b), edited) {
		t.Error("a reinstall replaced the edited config")
	}

	if out, err := run(".", "dpkg", "--remove", "mxout"); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	if _, err := os.Stat("/usr/bin/mxout"); err == nil {
		t.Error("/usr/bin/mxout is still there after dpkg -r")
	}
	if b, err := os.ReadFile("/etc/mxout/mxout.yaml"); err != nil || !strings.HasSuffix(string(b), edited) {
		t.Errorf("dpkg -r did not keep the config: %v", err)
	}
	if _, err := os.Stat("/var/lib/mxout"); err != nil {
		t.Errorf("dpkg -r did not keep the queue directory: %v", err)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// lockFile takes an exclusive lock on path, waiting for it.
func lockFile(t *testing.T, path string) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// The .rpm's files, config flag and scriptlets, read with rpm where it
// is installed.
func TestPackage_RPM(t *testing.T) {
	t.Parallel()
	need(t, "rpm", "Debian package rpm")
	r := tagged(t)
	pkg := artefact(t, r, "mxout-9.9.9-1.*.rpm")
	q := func(args ...string) string {
		t.Helper()
		out, err := run(".", "rpm", append(append([]string{"-qp", "--nosignature", "--nodigest"}, args...), pkg)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := q("--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{LICENSE}"); got != "mxout 9.9.9 1 Apache-2.0" {
		t.Errorf("rpm header: %q", got)
	}
	files := q("--queryformat", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]")
	for _, want := range []string{"/usr/bin/mxout \n", "/etc/mxout/mxout.yaml cn\n", "/usr/lib/systemd/system/mxout.service \n",
		"/usr/lib/sysusers.d/mxout.conf \n", "/usr/share/man/man8/mxout.8.gz", "/usr/share/man/man5/mxout.yaml.5.gz",
		"/usr/share/zsh/site-functions/_mxout \n", "/usr/share/licenses/mxout/LICENSE l\n"} {
		if !strings.Contains(files, want) {
			t.Errorf("the .rpm lacks %q (c: config, n: noreplace):\n%s", want, files)
		}
	}
	if s := q("--scripts"); !strings.Contains(s, "postinstall scriptlet") || !strings.Contains(s, "systemd-sysusers") || !strings.Contains(s, "preuninstall scriptlet") {
		t.Errorf("rpm scriptlets:\n%s", s)
	}
}
