package packaging

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// releaseTag is the tag the release tests put on a copy of the tree.
const releaseTag = "v9.9.9"

// A release is the work tree copied into a fresh repository tagged
// releaseTag, with `make build` and `make package` run in it once for
// all the tests of this file (a package build takes minutes).
type release struct {
	dir, dist string
	err       error
}

var (
	releaseOnce sync.Once
	theRelease  release
	releaseTmp  string // removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if releaseTmp != "" {
		os.RemoveAll(releaseTmp)
	}
	os.Exit(code)
}

// need skips the test where tool is not installed; hint, when not empty,
// says more (the package that has it, what goes untested).
func need(t *testing.T, tool, hint string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if hint != "" {
			t.Skipf("%s is not installed (%s)", tool, hint)
		}
		t.Skipf("%s is not installed", tool)
	}
}

// skipRelease skips a release test that cannot run here, or fails it
// where .ci/run requires the release tests (RELEASE_TESTS=required): CI
// builds the packages and installs the .deb, and a missing tool or root
// there must not pass as a skip nobody reads.
func skipRelease(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("RELEASE_TESTS") == "required" {
		t.Fatalf("RELEASE_TESTS=required, and "+format, args...)
	}
	t.Skipf(format, args...)
}

// needRelease is need for a tool of the release tests: where CI requires
// them, its absence fails the test (skipRelease).
func needRelease(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		skipRelease(t, "%s is not installed", tool)
	}
}

// tagged returns the release, or skips the test where make or git is
// missing.
func tagged(t *testing.T) release {
	t.Helper()
	for _, tool := range []string{"make", "git", "tar", "gzip", "sha256sum"} {
		needRelease(t, tool)
	}
	root := repoRoot(t)
	releaseOnce.Do(func() { theRelease = buildRelease(root) })
	if theRelease.err != nil {
		t.Fatal(theRelease.err)
	}
	return theRelease
}

func buildRelease(root string) release {
	tmp, err := os.MkdirTemp("", "mxout-release-")
	if err != nil {
		return release{err: err}
	}
	releaseTmp = tmp
	r := release{dir: filepath.Join(tmp, "src"), dist: filepath.Join(tmp, "dist")}
	// The files git would commit (tracked or new, not ignored), as they
	// are in the work tree now.
	files, err := run(root, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return release{err: err}
	}
	for _, f := range strings.Split(strings.TrimSuffix(files, "\x00"), "\x00") {
		if err := copyFile(filepath.Join(root, f), filepath.Join(r.dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return release{err: err}
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=release test", "-c", "user.email=test@example.invalid", "commit", "-q", "-m", "release"},
		{"tag", releaseTag},
	} {
		if _, err := run(r.dir, "git", args...); err != nil {
			return release{err: err}
		}
	}
	if _, err := run(r.dir, "make", "--no-print-directory", "build"); err != nil {
		return release{err: err}
	}
	if _, err := run(r.dir, "make", "--no-print-directory", "package", "DIST="+r.dist); err != nil {
		return release{err: err}
	}
	return r
}

// run runs a command in dir and returns its standard output, or an error
// with everything it printed.
func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

func copyFile(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		return os.Symlink(target, to)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, fi.Mode().Perm())
}

// On a release tag, `make build` builds a binary that reports the tag;
// one commit later, the tag and the commit.
func TestRelease_BuildOnATagReportsTheTag(t *testing.T) {
	t.Parallel()
	r := tagged(t)
	out, err := run(r.dir, "bin/mxout", "version")
	if err != nil || !strings.HasPrefix(out, "mxout "+releaseTag+" (commit ") {
		t.Errorf("mxout version on tag %s: %q, %v", releaseTag, out, err)
	}
}

func TestPkgVersion(t *testing.T) {
	t.Parallel()
	for describe, want := range map[string]string{
		"v1.2.3":                  "1.2.3",
		"v1.2.3-4-gabc1234":       "1.2.3+4.gabc1234",
		"v1.2.3-4-gabc1234-dirty": "1.2.3+4.gabc1234.dirty",
		"v1.2.3-dirty":            "1.2.3+0.dirty",
		"v1.2.3-rc.1":             "1.2.3~rc.1",
		"abc1234":                 "0.0.0~git.abc1234",
		"abc1234-dirty":           "0.0.0~git.abc1234.dirty",
		"dev":                     "0.0.0~git.dev",
	} {
		got, err := run("..", "scripts/pkgversion.sh", describe)
		if err != nil || strings.TrimSpace(got) != want {
			t.Errorf("pkgversion.sh %s = %q, %v; want %s", describe, got, err, want)
		}
	}
}

// artefact is the one file of r's dist that matches pattern.
func artefact(t *testing.T, r release, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(r.dist, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("dist/%s: %v, %v", pattern, m, err)
	}
	return m[0]
}

// The tarball holds the static binary, the docs, the example config, the
// unit, the man pages and the completions, in one directory.
func TestPackage_Tarball(t *testing.T) {
	t.Parallel()
	r := tagged(t)
	path := artefact(t, r, "mxout-9.9.9-linux-*.tar.gz")
	top := strings.TrimSuffix(filepath.Base(path), ".tar.gz") + "/"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	entries := map[string]*tar.Header{}
	bin := filepath.Join(t.TempDir(), "mxout")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, top) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s (uid %d) is not owned by root inside %s", h.Name, h.Uid, top)
		}
		entries[strings.TrimPrefix(h.Name, top)] = h
		if h.Name == top+"mxout" {
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(bin, b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, want := range []string{"mxout", "LICENSE", "README.md", "CHANGELOG.md", "SECURITY.md", "mxout.example.yaml",
		"docs/configuration.md", "docs/prometheus/alerts.yml", "docs/grafana/mxout.json",
		"systemd/mxout.service", "systemd/mxout.sysusers",
		"man/man8/mxout.8", "man/man8/mxout-sendmail.8", "man/man8/mxout-serve.8", "man/man5/mxout.yaml.5",
		"completions/mxout.bash", "completions/_mxout", "completions/mxout.fish"} {
		if entries[want] == nil {
			t.Errorf("the tarball has no %s", want)
		}
	}
	if h := entries["mxout"]; h == nil || h.Mode&0o777 != 0o755 {
		t.Fatalf("the binary is missing or not executable: %+v", h)
	}
	assertStatic(t, bin)
	if out, err := run(".", bin, "version"); err != nil || !strings.HasPrefix(out, "mxout "+releaseTag+" ") {
		t.Errorf("the tarball's mxout version: %q, %v", out, err)
	}
}

// assertStatic fails unless the ELF file at path has no interpreter, that
// is it was linked without cgo and runs on any Linux (and FROM scratch).
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has PT_INTERP): build it with CGO_ENABLED=0", path)
		}
	}
}

// SHA256SUMS lists every artefact with its hash, in sha256sum's format.
func TestPackage_SHA256SUMS(t *testing.T) {
	t.Parallel()
	r := tagged(t)
	f, err := os.Open(filepath.Join(r.dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(r.dist, m[2]))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m[1] {
			t.Errorf("SHA256SUMS: wrong hash for %s", m[2])
		}
		listed[m[2]] = true
	}
	all, _ := filepath.Glob(filepath.Join(r.dist, "mxout*"))
	if len(all) != 3 || len(listed) != 3 {
		t.Errorf("artefacts %v, SHA256SUMS lists %v: want the tarball, the .deb and the .rpm", all, listed)
	}
	for _, a := range all {
		if !listed[filepath.Base(a)] {
			t.Errorf("SHA256SUMS does not list %s", filepath.Base(a))
		}
	}
}
