package mtasts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxout/mxout/internal/testcert"
)

// testCA signs the policy servers' certificates. TestMain makes it the
// system's only root through SSL_CERT_FILE, which Go reads when it first
// loads the system roots, so the fetch is tested exactly as it runs.
var testCA *testcert.Pair

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if testCA, err = testcert.New("mxout test CA"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "mtasts-ca")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, testCA.CertPEM, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("SSL_CERT_FILE", file)
	os.Unsetenv("SSL_CERT_DIR")
	return m.Run()
}
