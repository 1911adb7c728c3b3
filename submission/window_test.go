package submission

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestWindowCounter(t *testing.T) {
	t.Parallel()
	const w = time.Minute
	t0 := testNow()
	tests := []struct {
		name   string
		events []time.Duration // offsets from t0 of add calls
		at     time.Duration   // offset of the count
		want   float64
	}{
		{"none", nil, 0, 0},
		{"inside the window", []time.Duration{0, time.Second, 2 * time.Second}, 3 * time.Second, 3},
		// Four events in the first window, read halfway through the next:
		// the previous window counts half.
		{"previous window weighted", []time.Duration{0, 0, 0, 0}, w + w/2, 2},
		{"previous and current", []time.Duration{0, 0, w + time.Second}, w + w/2, 2},
		{"two windows later, forgotten", []time.Duration{0, 0, 0}, 2 * w, 0},
		{"long idle, forgotten", []time.Duration{0}, 10 * w, 0},
		{"clock going back", []time.Duration{time.Second, 0}, 0, 2},
	}
	for _, tt := range tests {
		c := newWindowCounter(w)
		for _, e := range tt.events {
			c.add("k", t0.Add(e))
		}
		if got := c.count("k", t0.Add(tt.at)); got != tt.want {
			t.Errorf("%s: count %v, want %v", tt.name, got, tt.want)
		}
		if got := c.count("other", t0.Add(tt.at)); got != 0 {
			t.Errorf("%s: other key counts %v", tt.name, got)
		}
	}
}

func TestWindowCounter_Bounded(t *testing.T) {
	t.Parallel()
	c := newWindowCounter(time.Minute)
	now := testNow()
	for i := range maxTrackedKeys + 100 {
		c.add(fmt.Sprint("user", i), now)
	}
	if n := len(c.keys); n > maxTrackedKeys {
		t.Errorf("%d keys tracked, bound %d", n, maxTrackedKeys)
	}
	// Idle keys make room first.
	later := now.Add(3 * time.Minute)
	c.add("fresh", later)
	if c.count("fresh", later) != 1 || len(c.keys) > maxTrackedKeys {
		t.Errorf("fresh key %v, %d keys", c.count("fresh", later), len(c.keys))
	}
	long := strings.Repeat("x", 10*maxKeyLen)
	c.add(long, later)
	if c.count(long[:maxKeyLen]+"different tail", later) != 1 {
		t.Error("long keys are not cut to maxKeyLen")
	}
}
