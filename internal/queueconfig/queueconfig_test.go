package queueconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
)

// Every queue key of the config reaches the queue's options.
func TestOptions_MapsEveryQueueKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mxout.yaml")
	yaml := `data_dir: /var/spool/mxout-test
submission: {max_message_bytes: 20MiB}
queue:
  min_free_bytes: 1GiB
  gc_interval: 7m
  lease_duration: 45s
  badger: {memtable_bytes: 4MiB, num_memtables: 3, block_cache_bytes: 8MiB, index_cache_bytes: 2MiB, value_log_file_bytes: 96MiB, value_threshold: 2KiB}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := Options(c, nil)
	want := queue.Options{
		Dir: "/var/spool/mxout-test", MinFreeBytes: 1 << 30, MaxMessageBytes: 20 << 20,
		LeaseDuration: 45 * time.Second, GCInterval: 7 * time.Minute,
		MemtableBytes: 4 << 20, NumMemtables: 3, BlockCacheBytes: 8 << 20, IndexCacheBytes: 2 << 20,
		ValueLogFileBytes: 96 << 20, ValueThreshold: 2 << 10,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Options =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDefaults_InTheGivenDirectory(t *testing.T) {
	t.Parallel()
	got, err := Defaults("/tmp/q", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := configs.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Options(c, nil)
	want.Dir = "/tmp/q"
	if !reflect.DeepEqual(got, want) || got.MemtableBytes == 0 {
		t.Errorf("Defaults = %+v, want %+v", got, want)
	}
}

// docs/architecture.md gives the value threshold (which values go to
// badger's value log) as the default the config really has.
func TestDocs_ArchitectureValueThreshold(t *testing.T) {
	t.Parallel()
	c, err := configs.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d KiB", c.Queue.Badger.ValueThreshold>>10)
	above := regexp.MustCompile("above (?:`\\S+`,? )?(\\d+ KiB)")
	n := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.Contains(line, "value log") && !strings.Contains(line, "value_threshold") {
			continue
		}
		for _, m := range above.FindAllStringSubmatch(line, -1) {
			n++
			if m[1] != want {
				t.Errorf("docs/architecture.md: %q, but values above %s go to the value log by default", line, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("docs/architecture.md does not say which values go to the value log")
	}
}
