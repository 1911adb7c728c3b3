package migrate

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxout/mxout/configs"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testdataFiles reads absolute paths from dir, as if dir were /:
// /etc/mailname is dir/etc/mailname.
func testdataFiles(dir string) ReadFile {
	return func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) || strings.Contains(name, "..") {
			return nil, errors.New("not an absolute path")
		}
		return os.ReadFile(filepath.Join(dir, name))
	}
}

// golden compares got with the file want (rewritten with -update) and
// checks that it is a valid mxout config.
func golden(t *testing.T, want string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(want, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(w) != string(got) {
		t.Errorf("output differs from %s (go test ./migrate -update rewrites it):\n%s", want, got)
	}
	if _, err := configs.Load(want); err != nil {
		t.Errorf("%s does not load: %v", want, err)
	}
}

func TestPostfix_Golden(t *testing.T) {
	t.Parallel()
	goldenEach(t, "testdata/postfix", ".cf", func(text []byte, read ReadFile) []byte {
		return Postfix(text, "/etc/postfix/main.cf", read)
	})
}

func TestOpenDKIM_Golden(t *testing.T) {
	t.Parallel()
	goldenEach(t, "testdata/opendkim", ".conf", func(text []byte, read ReadFile) []byte {
		return OpenDKIM(text, "/etc/opendkim.conf", read)
	})
}

// goldenEach converts every dir/*ext input, reading the files it names
// below dir, and compares the output with the input's .golden.yaml.
func goldenEach(t *testing.T, dir, ext string, convert func(text []byte, read ReadFile) []byte) {
	t.Helper()
	inputs, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			t.Parallel()
			text, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := convert(text, testdataFiles(dir))
			golden(t, strings.TrimSuffix(in, ext)+".golden.yaml", got)
		})
	}
}
