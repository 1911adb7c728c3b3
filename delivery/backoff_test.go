package delivery

import (
	"testing"
	"time"
)

func TestBackoff_Interval(t *testing.T) {
	t.Parallel()
	base := Backoff{Initial: 5 * time.Minute, Multiplier: 2, MaxInterval: 4000 * time.Second}
	tests := []struct {
		name    string
		b       Backoff
		attempt int
		rand    float64
		want    time.Duration
	}{
		{name: "first", b: base, attempt: 1, want: 5 * time.Minute},
		{name: "second doubles", b: base, attempt: 2, want: 10 * time.Minute},
		{name: "fourth", b: base, attempt: 4, want: 40 * time.Minute},
		{name: "capped", b: base, attempt: 5, want: 4000 * time.Second},
		{name: "huge attempt stays capped", b: base, attempt: 5000, want: 4000 * time.Second},
		{name: "zero attempt treated as first", b: base, attempt: 0, want: 5 * time.Minute},
		{name: "multiplier one is constant", b: Backoff{Initial: time.Minute, Multiplier: 1, MaxInterval: time.Hour}, attempt: 9, want: time.Minute},
		{name: "jitter low end", b: Backoff{Initial: time.Minute, Multiplier: 1, MaxInterval: time.Hour, Jitter: 0.5}, attempt: 1, rand: 0, want: 30 * time.Second},
		{name: "jitter middle", b: Backoff{Initial: time.Minute, Multiplier: 1, MaxInterval: time.Hour, Jitter: 0.5}, attempt: 1, rand: 0.5, want: time.Minute},
		{name: "jitter high end", b: Backoff{Initial: time.Minute, Multiplier: 1, MaxInterval: time.Hour, Jitter: 0.5}, attempt: 1, rand: 0.999999, want: 89999940 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.b.Interval(tt.attempt, func() float64 { return tt.rand })
			if d := got - tt.want; d > time.Millisecond || d < -time.Millisecond {
				t.Errorf("Interval(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestBackoff_NextAttempt(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: time.Hour, Multiplier: 2, MaxInterval: 4 * time.Hour, MaxLifetime: 5 * time.Hour}
	arrival := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		now         time.Time
		attempt     int
		wantNext    time.Time
		wantExpired bool
	}{
		{name: "early", now: arrival, attempt: 1, wantNext: arrival.Add(time.Hour)},
		{name: "clamped to the deadline", now: arrival.Add(3 * time.Hour), attempt: 3, wantNext: arrival.Add(5 * time.Hour)},
		{name: "at the deadline fails", now: arrival.Add(5 * time.Hour), attempt: 4, wantExpired: true},
		{name: "after the deadline fails", now: arrival.Add(50 * time.Hour), attempt: 9, wantExpired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, expired := b.NextAttempt(arrival, tt.now, tt.attempt, nil)
			if expired != tt.wantExpired || !next.Equal(tt.wantNext) {
				t.Errorf("NextAttempt = %v %v, want %v %v", next, expired, tt.wantNext, tt.wantExpired)
			}
		})
	}
}
