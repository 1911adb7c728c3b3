package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBinary runs the built binary as argv0 (a link name, or "" for the
// binary itself) with args, in dir, with env added to the environment
// (MXOUT_CONFIG removed first). It returns stdout, stderr and the exit
// status.
func runBinary(t *testing.T, dir, argv0 string, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	path := binary(t)
	if argv0 != "" {
		path = filepath.Join(t.TempDir(), argv0)
		if err := os.Symlink(binary(t), path); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXOUT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %s %v: %v", argv0, args, err)
	}
	return out.String(), errOut.String(), code
}

// Every command finds its config by one rule: --config, else
// $MXOUT_CONFIG, else the system-wide file if it exists, else the
// embedded defaults. Each config below is invalid in its own way, so the
// error every command prints shows which one it read.
//
// Not parallel: it writes the binary's system-wide config file, which the
// other tests expect to be absent (parallel tests wait until the
// sequential ones have finished).
func TestConfigFile_OneRuleForEveryCommand(t *testing.T) {
	binary(t)
	dir := t.TempDir()
	write := func(path, workers string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("delivery:\n  workers: "+workers+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flagFile, envFile := filepath.Join(dir, "flag.yaml"), filepath.Join(dir, "env.yaml")
	write(flagFile, "-1")
	write(envFile, "-2")
	write(systemConfigPath, "-3")
	t.Cleanup(func() { os.Remove(systemConfigPath) })

	commands := []struct {
		name  string
		argv0 string
		args  []string
		// configFlag is how this command is given a config file.
		configFlag string
	}{
		{"serve", "", []string{"serve"}, "--config"},
		{"config check", "", []string{"config", "check"}, "--config"},
		{"queue list", "", []string{"queue", "list"}, "--config"},
		{"queue stats", "", []string{"queue", "stats"}, "--config"},
		{"dkim check", "", []string{"dkim", "check"}, "--config"},
		{"sendmail", "", []string{"sendmail", "-i", "to@example.net"}, "-C"},
		{"sendmail link", "sendmail", []string{"-i", "to@example.net"}, "-C"},
	}
	sources := []struct {
		name        string
		flag        bool
		env         []string
		wantFile    string
		wantWorkers string
	}{
		{"--config wins over $MXOUT_CONFIG", true, []string{"MXOUT_CONFIG=" + envFile}, flagFile, "-1"},
		{"$MXOUT_CONFIG wins over the system file", false, []string{"MXOUT_CONFIG=" + envFile}, envFile, "-2"},
		{"the system file when neither is set", false, nil, systemConfigPath, "-3"},
	}
	for _, c := range commands {
		for _, s := range sources {
			args := c.args
			if s.flag {
				args = append([]string{}, c.args[:len(c.args)-1]...)
				args = append(args, c.configFlag, flagFile, c.args[len(c.args)-1])
			}
			_, stderr, code := runBinary(t, dir, c.argv0, s.env, "Subject: x\n\nx\n", args...)
			want := "config " + s.wantFile + ": delivery.workers: must be between 1 and 10000 (got " + s.wantWorkers + ", line 2)"
			if code == 0 || !strings.Contains(stderr, want) {
				t.Errorf("%s, %s: exit %d, stderr %q; want an error with %q", c.name, s.name, code, stderr, want)
			}
		}
	}

	// config check says which file it used.
	okFile := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(okFile, []byte("hostname: ok.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(systemConfigPath, []byte("hostname: system.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"--config", nil, []string{"--config", okFile}, "# config file: " + okFile + " (from --config)\n"},
		{"$MXOUT_CONFIG", []string{"MXOUT_CONFIG=" + okFile}, nil, "# config file: " + okFile + " (from $MXOUT_CONFIG)\n"},
		{"system", nil, nil, "# config file: " + systemConfigPath + " (neither --config nor $MXOUT_CONFIG is set, and it exists)\n"},
	} {
		stdout, stderr, code := runBinary(t, dir, "", tt.env, "", append([]string{"config", "check"}, tt.args...)...)
		if code != 0 || !strings.HasPrefix(stdout, tt.want) {
			t.Errorf("config check with %s: exit %d (%s), output starts %q; want it to start %q", tt.name, code, stderr, firstLines(stdout, 1), tt.want)
		}
	}
	os.Remove(systemConfigPath)
	stdout, stderr, code := runBinary(t, dir, "", nil, "", "config", "check")
	want := "# config file: none: the embedded defaults (no --config, no $MXOUT_CONFIG, no " + systemConfigPath + ")\n"
	if code != 0 || !strings.HasPrefix(stdout, want) {
		t.Errorf("config check with no config file: exit %d (%s), output starts %q; want %q", code, stderr, firstLines(stdout, 1), want)
	}
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[:min(n, len(lines))], "")
}

// `mxout --version` prints what `mxout version` prints.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want, stderr, code := runBinary(t, dir, "", nil, "", "version")
	if code != 0 || !strings.HasPrefix(want, "mxout ") {
		t.Fatalf("mxout version: exit %d, %q %q", code, want, stderr)
	}
	for _, flag := range []string{"--version", "-v"} {
		got, stderr, code := runBinary(t, dir, "", nil, "", flag)
		if code != 0 || got != want {
			t.Errorf("mxout %s: exit %d, stdout %q, stderr %q; want %q", flag, code, got, stderr, want)
		}
	}
}
