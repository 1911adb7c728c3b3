package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mxout.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refused is a config file that Load must refuse, and the key its error
// must name.
type refused struct{ name, yaml, wantKey string }

// testRefused loads each config, in parallel subtests, and wants an error
// that names its key.
func testRefused(t *testing.T, tests []refused) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(writeConfig(t, tt.yaml))
			if err == nil {
				t.Fatalf("config %q accepted", tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %s", err, tt.wantKey)
			}
		})
	}
}

// parsed is a value's text, and what a parser makes of it: want, or an
// error when bad.
type parsed[T comparable] struct {
	in   string
	want T
	bad  bool
}

// testParse runs parse on each text and wants its value or its error.
func testParse[T comparable](t *testing.T, name string, parse func(string) (T, error), tests []parsed[T]) {
	t.Helper()
	for _, tt := range tests {
		got, err := parse(tt.in)
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("%s(%q) = %+v, %v", name, tt.in, got, err)
		}
	}
}
