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

// A Format reports its package's errors: NoRecord as is, every other
// one wrapping Invalid (and Split's ErrSyntax where that is the cause).
func TestFormat(t *testing.T) {
	t.Parallel()
	errNone, errInvalid := errors.New("none"), errors.New("invalid")
	f := Format{Version: "STSv1", NoRecord: errNone, Invalid: errInvalid}
	if _, err := f.Pick([]string{"v=spf1 -all"}); err != errNone {
		t.Errorf("Pick with no record: %v, want NoRecord itself", err)
	}
	if _, err := f.Pick([]string{"v=STSv1; id=1", "v=STSv1; id=2"}); !errors.Is(err, errInvalid) || err.Error() != "invalid: 2 records" {
		t.Errorf("Pick with two records: %v", err)
	}
	if rec, err := f.Pick([]string{"v=spf1 -all", "v=STSv1; id=1"}); err != nil || rec != "v=STSv1; id=1" {
		t.Errorf("Pick = %q, %v", rec, err)
	}
	tests := []struct {
		in   string
		want string // fmt of the tags, or the error
	}{
		{"v=STSv1; id=1;", "[{id 1}]"},
		{"v=STSv1", "[]"},
		{"id=1; v=STSv1", "invalid: does not start with v=STSv1"},
		{"v=STSv10; id=1", "invalid: does not start with v=STSv1"},
		{"v=STSv1;; id=1", "invalid: not a tag=value list: empty tag"},
	}
	for _, tt := range tests {
		tags, err := f.Fields(tt.in)
		got := fmt.Sprint(tags)
		if err != nil {
			got = err.Error()
			if !errors.Is(err, errInvalid) {
				t.Errorf("Fields(%q) = %v, which does not wrap Invalid", tt.in, err)
			}
		}
		if got != tt.want {
			t.Errorf("Fields(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
