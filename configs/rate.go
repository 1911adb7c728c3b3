package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a message rate: Count messages per Per (a second or a minute).
type Rate struct {
	Count int
	Per   time.Duration
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
