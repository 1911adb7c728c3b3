package main

import (
	"os"
	"path/filepath"
	"testing"
)

// testPaths are paths for a command line under test: no system-wide
// config file, whatever the machine has in /etc.
func testPaths(t *testing.T) paths {
	t.Helper()
	return paths{systemConfig: filepath.Join(t.TempDir(), "absent", "mxout.yaml")}
}

func TestLocateConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	system := filepath.Join(dir, "mxout.yaml")
	if err := os.WriteFile(system, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "absent.yaml")
	unreadable := filepath.Join(dir, "notadir", "mxout.yaml") // stat fails with ENOTDIR, not ENOENT
	if err := os.WriteFile(filepath.Join(dir, "notadir"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name              string
		flag, env, system string
		want              configSource
	}{
		{"flag first", "a.yaml", "b.yaml", system, configSource{"a.yaml", "--config"}},
		{"then $MXOUT_CONFIG", "", "b.yaml", system, configSource{"b.yaml", "$MXOUT_CONFIG"}},
		{"then the system file", "", "", system, configSource{system, "system"}},
		{"a system file that cannot be read is used, not skipped", "", "", unreadable, configSource{unreadable, "system"}},
		{"else the embedded defaults", "", "", absent, configSource{absent, "defaults"}},
	}
	for _, tt := range tests {
		if got := locateConfig(tt.flag, tt.env, tt.system); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestConfigSource_LoadsTheDefaultsWithoutAFile(t *testing.T) {
	t.Parallel()
	c, err := configSource{Path: filepath.Join(t.TempDir(), "absent.yaml"), From: "defaults"}.load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./mxout-data" {
		t.Errorf("data_dir %q, want the default ./mxout-data", c.DataDir)
	}
	if _, err := (configSource{Path: filepath.Join(t.TempDir(), "absent.yaml"), From: "system"}).load(); err == nil {
		t.Error("a system file that vanished loaded without error")
	}
}
