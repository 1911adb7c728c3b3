package main

import "testing"

func TestCount_SingularForOne(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0 messages", 1: "1 message", 2: "2 messages"} {
		if got := count(n, "message"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
