package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a message rate: Count messages per Per (a second or a minute),
// spaced evenly. The zero Rate is unlimited.
type Rate struct {
	Count int
	Per   time.Duration
}

// Interval is the spacing between two messages at the rate (10/s is one
// every 100 ms); 0 when unlimited.
func (r Rate) Interval() time.Duration {
	if r.Count <= 0 || r.Per <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.Count)
}

// String prints the rate as ParseRate reads it ("10/s", "600/m"); "" when
// unlimited.
func (r Rate) String() string {
	switch {
	case r == Rate{}:
		return ""
	case r.Per == time.Second:
		return strconv.Itoa(r.Count) + "/s"
	case r.Per == time.Minute:
		return strconv.Itoa(r.Count) + "/m"
	}
	return fmt.Sprintf("%d/%v", r.Count, r.Per)
}

// maxRateCount bounds the count so that Per/Count stays a usable interval.
const maxRateCount = 1_000_000

// ParseRate parses "10/s", "600/m" (also "/sec", "/second", "/min",
// "/minute"); "" is the zero Rate, unlimited.
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Rate{}, nil
	}
	num, unit, ok := strings.Cut(t, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || err != nil || n < 1 || n > maxRateCount {
		return Rate{}, fmt.Errorf("%q is not a rate (use a positive count per second or minute: 10/s, 600/m)", s)
	}
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "s", "sec", "second":
		return Rate{Count: n, Per: time.Second}, nil
	case "m", "min", "minute":
		return Rate{Count: n, Per: time.Minute}, nil
	}
	return Rate{}, fmt.Errorf("%q is not a rate (the unit is s or m: 10/s, 600/m)", s)
}
