package tlspolicy_test

import (
	"testing"

	"github.com/mxout/mxout/mtasts"
)

func mustPolicy(t *testing.T, text string) *mtasts.Policy {
	t.Helper()
	p, err := mtasts.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
