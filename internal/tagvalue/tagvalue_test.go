package tagvalue

import (
	"errors"
	"fmt"
	"testing"
)

func TestPick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		txts []string
		want string
		n    int
	}{
		{[]string{"v=spf1 -all", "v=STSv1; id=1"}, "v=STSv1; id=1", 1},
		{[]string{"v=STSv1 ;id=1"}, "v=STSv1 ;id=1", 1},
		{[]string{"v=STSv1"}, "v=STSv1", 1},
		{[]string{"v=STSv10; id=1", "v=STSv1x"}, "", 0},
		{[]string{"v=STSv1; id=1", "v=STSv1; id=2"}, "v=STSv1; id=2", 2},
		{nil, "", 0},
	}
	for _, tt := range tests {
		if got, n := Pick(tt.txts, "v=STSv1"); n != tt.n || (n == 1 && got != tt.want) {
			t.Errorf("Pick(%q) = %q, %d; want %q, %d", tt.txts, got, n, tt.want, tt.n)
		}
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // fmt of the tags; "" for an error
	}{
		{"v=STSv1; id=1;", "[{v STSv1} {id 1}]"},
		{"v=TLSRPTv1 ;\trua=https://r.example/?a=b ", "[{v TLSRPTv1} {rua https://r.example/?a=b}]"},
		{"a=1", "[{a 1}]"},
		{"a=1;;b=2", ""},
		{";a=1", ""},
		{"a=1; b", ""},
		{"a=1; =2", ""},
		{"a=1; b=", ""},
		{"", ""},
	}
	for _, tt := range tests {
		tags, err := Split(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("Split(%q) = %v, %v; want ErrSyntax", tt.in, tags, err)
			}
			continue
		}
		if got := fmt.Sprint(tags); err != nil || got != tt.want {
			t.Errorf("Split(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
