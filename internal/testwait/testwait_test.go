package testwait

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	if !Until(10*time.Second, func() bool { return n.Add(1) >= 5 }) {
		t.Fatal("a condition that holds on the fifth check was not seen")
	}
	if got := n.Load(); got != 5 {
		t.Errorf("%d checks, want 5: it must stop once the condition holds", got)
	}
	start := time.Now()
	if Until(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as held")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the 50ms bound", d)
	}
}

func TestFor_FailsNamingTheWait(t *testing.T) {
	t.Parallel()
	ft := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		For(ft, 10*time.Millisecond, "the moon", func() bool { return false })
	}()
	<-done
	if ft.msg != "timed out after 10ms waiting for the moon" {
		t.Errorf("failure %q", ft.msg)
	}
}

// fakeT records the failure of For; Fatalf ends the goroutine as
// testing.T's does.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
