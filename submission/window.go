package submission

import (
	"sync"
	"time"
)

// maxTrackedKeys bounds the memory of one windowCounter: an attacker who
// invents usernames or rotates addresses cannot grow it without end.
const maxTrackedKeys = 1 << 16

// maxKeyLen bounds a key (an attacker-chosen username) in memory.
const maxKeyLen = 256

// windowCounter counts events per key (a username, an IP address) over a
// sliding window. The window is approximated from two fixed windows: the
// count of the previous one, weighted by the part of it that the sliding
// window still covers, plus the count of the current one. Over time no key
// gets more than about its limit per window. Safe for concurrent use.
type windowCounter struct {
	window time.Duration

	mu        sync.Mutex
	keys      map[string]*windowBucket
	lastSweep time.Time
}

type windowBucket struct {
	start     time.Time // of the current fixed window
	prev, cur int
}

func newWindowCounter(window time.Duration) *windowCounter {
	return &windowCounter{window: window, keys: make(map[string]*windowBucket)}
}

// count returns the estimated number of events for key in the window
// that ends at now.
func (w *windowCounter) count(key string, now time.Time) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.keys[clampKey(key)]
	if b == nil {
		return 0
	}
	return w.estimate(b, now)
}

// add records one event for key at now and returns the new estimate.
func (w *windowCounter) add(key string, now time.Time) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	key = clampKey(key)
	b := w.keys[key]
	if b == nil {
		w.makeRoom(now)
		b = &windowBucket{start: now}
		w.keys[key] = b
	}
	w.roll(b, now)
	b.cur++
	return w.estimate(b, now)
}

func (w *windowCounter) estimate(b *windowBucket, now time.Time) float64 {
	w.roll(b, now)
	elapsed := max(now.Sub(b.start), 0)
	weight := float64(w.window-elapsed) / float64(w.window)
	return float64(b.prev)*weight + float64(b.cur)
}

// roll moves b's current window forward to the one that contains now.
func (w *windowCounter) roll(b *windowBucket, now time.Time) {
	elapsed := now.Sub(b.start)
	if elapsed < w.window {
		return // also when the clock went backwards
	}
	if elapsed < 2*w.window {
		b.prev = b.cur
	} else {
		b.prev = 0
	}
	b.cur = 0
	b.start = b.start.Add(elapsed / w.window * w.window)
}

// makeRoom keeps the map under maxTrackedKeys: it drops keys idle for two
// windows (at most every quarter window, so a flood of new keys does not
// sweep on every insert), then, if still full, an arbitrary key.
func (w *windowCounter) makeRoom(now time.Time) {
	if len(w.keys) < maxTrackedKeys {
		return
	}
	if now.Sub(w.lastSweep) >= w.window/4 {
		w.lastSweep = now
		for k, b := range w.keys {
			if now.Sub(b.start) >= 2*w.window {
				delete(w.keys, k)
			}
		}
	}
	for k := range w.keys {
		if len(w.keys) < maxTrackedKeys {
			break
		}
		delete(w.keys, k)
	}
}

func clampKey(key string) string {
	if len(key) > maxKeyLen {
		return key[:maxKeyLen]
	}
	return key
}
