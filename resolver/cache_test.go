package resolver

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	c := newCache(100)
	now := time.Unix(0, 0)
	for i := range 1000 {
		c.put(cacheKey{name: string(rune('a'+i%26)) + string(rune(i)), qtype: 1}, answer{}, time.Minute, now)
		if n := c.len(); n > 100 {
			t.Fatalf("after %d puts the cache holds %d entries, want at most 100", i+1, n)
		}
	}
}

func TestCacheExpiryAndCap(t *testing.T) {
	t.Parallel()
	c := newCache(10)
	now := time.Unix(0, 0)
	k := cacheKey{name: "a.example", qtype: 15}
	c.put(k, answer{kind: KindNoData}, 0, now)
	if _, ok := c.get(k, now); ok {
		t.Fatal("a TTL of 0 was cached")
	}
	c.put(k, answer{kind: KindNoData}, 48*time.Hour, now)
	if a, ok := c.get(k, now.Add(time.Hour-time.Second)); !ok || a.kind != KindNoData {
		t.Fatalf("get before the cap = %v, %v", a, ok)
	}
	if _, ok := c.get(k, now.Add(time.Hour)); ok {
		t.Fatal("entry outlived the 1h cap")
	}
	if c.len() != 0 {
		t.Errorf("expired entry not dropped on get")
	}
}

func TestSystemServers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, conf string
		want       []string
		wantErr    bool
	}{
		{"two servers", "nameserver 192.0.2.1\nnameserver 2001:db8::1\n", []string{"192.0.2.1:53", "[2001:db8::1]:53"}, false},
		{"no nameserver", "search example\n", nil, true},
		{"missing file", "", nil, true},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if tt.conf != "" {
			if err := os.WriteFile(path, []byte(tt.conf), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, err := systemServers(path)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("%s: systemServers = %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
