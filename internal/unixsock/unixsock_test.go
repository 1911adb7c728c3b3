package unixsock

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenDial_LongPath(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"short", strings.Repeat("d", 120)} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "admin.sock")
		l, err := Listen(path)
		if err != nil {
			t.Fatalf("listen on a %d-byte path: %v", len(path), err)
		}
		if l.Addr().String() != path {
			t.Errorf("addr = %s", l.Addr())
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
			t.Fatalf("no socket at %s: %v", path, err)
		}
		go func() {
			c, err := l.Accept()
			if err == nil {
				io.WriteString(c, "hello")
				c.Close()
			}
		}()
		c, err := Dial(context.Background(), path)
		if err != nil {
			t.Fatalf("dial a %d-byte path: %v", len(path), err)
		}
		if b, _ := io.ReadAll(c); string(b) != "hello" {
			t.Errorf("read %q", b)
		}
		c.Close()
		l.Close()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("socket left after close: %v", err)
		}
	}
}
