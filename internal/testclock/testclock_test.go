package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/mxout/mxout/internal/testclock"
)

// Concurrent Advances all count, and nothing else moves the clock.
func TestClock_MovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_800_000_000, 0)
	c := testclock.New(start)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Advance(time.Minute)
		}()
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(10*time.Minute); !got.Equal(want) {
		t.Errorf("after ten Advances of a minute: %v, want %v", got, want)
	}
}
