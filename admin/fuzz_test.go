package admin

import (
	"net/http/httptest"
	"testing"

	"github.com/mxout/mxout/queue"
)

// FuzzListOptions feeds arbitrary query strings to the listing's parser:
// it must never panic, and whatever it accepts must be in range.
func FuzzListOptions(f *testing.F) {
	for _, q := range []string{
		"", "state=held", "state=bogus", "limit=1000", "limit=0", "limit=-5", "limit=99999999999999999999",
		"after=0123456789abcdefghij", "after=../../etc", "older_than=2h", "older_than=-1s", "older_than=1e400h",
		"domain=EXAMPLE.com&sender=%3C%3E", "state=ready&state=held", "%zz", "after=%00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/v1/messages", nil)
		r.URL.RawQuery = raw
		opts, err := listOptions(r)
		if err != nil {
			return
		}
		if opts.State != "" && !states[opts.State] {
			t.Errorf("accepted state %q", opts.State)
		}
		if opts.Limit < 1 || opts.Limit > maxLimit {
			t.Errorf("accepted limit %d", opts.Limit)
		}
		if opts.OlderThan < 0 {
			t.Errorf("accepted older_than %v", opts.OlderThan)
		}
		if opts.After != "" {
			if _, err := queue.ParseID(string(opts.After)); err != nil {
				t.Errorf("accepted cursor %q", opts.After)
			}
		}
	})
}
