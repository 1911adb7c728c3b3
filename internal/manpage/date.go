package manpage

import (
	"fmt"
	"time"
)

// dateLayout is the form of a man page's date: month and year, as
// cobra's doc package writes it.
const dateLayout = "Jan 2006"

// MonthOf is t's date in the form the pages carry.
func MonthOf(t time.Time) string { return t.UTC().Format(dateLayout) }

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("man page date %q: want the form %q", s, dateLayout)
	}
	return t, nil
}
