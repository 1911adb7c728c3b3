// Package testwait is how tests wait for something to happen: they poll a
// condition until it holds, never sleep a fixed time and then assert. The
// bound on each wait only stops a broken test; on a loaded machine a
// passing test waits as long as it needs up to it.
package testwait

import (
	"testing"
	"time"
)

// maxPoll is the longest pause between two checks; the first checks come
// quicker, so that a condition that holds at once costs little.
const maxPoll = 20 * time.Millisecond

// For polls cond until it holds, and fails the test, naming what it
// waited for, when timeout passes first.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Until polls cond until it holds or timeout passes, and reports whether
// it held, for a test that says itself what went wrong.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPoll)
	}
	return true
}
