package api

import (
	"encoding/json"
	"strings"
	"testing"
)

var testLimits = jsonLimits{MaxDepth: 3, MaxMembers: 4, MaxElements: 3}

func TestScanJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		field      string // of the error; "-" when accepted
	}{
		{"flat", `{"a":1,"b":"x","c":null,"d":true}`, "-"},
		{"nested", `{"a":[{"b":1},{"c":2}],"m":{"k":"v"}}`, "-"},
		{"empty key", `{"":1,"a":{"":2}}`, "-"},
		{"too deep", `{"a":[{"b":[1]}]}`, "a[0].b"},
		{"too many members", `{"a":1,"b":2,"c":3,"d":4,"e":5}`, ""},
		{"too many elements", `{"a":[1,2,3,4]}`, "a"},
		{"nested too many", `{"a":[{"x":[1,2,3,4]}]}`, "a[0].x"},
		{"duplicate", `{"a":1,"a":2}`, "a"},
		{"nested duplicate", `{"m":{"k":1,"k":2}}`, "m.k"},
		{"array top", `[1]`, ""},
		{"string top", `"x"`, ""},
		{"unclosed", `{"a":1`, ""},
		{"two objects", `{}{}`, ""},
		{"garbage after", `{} x`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		_, err := scanJSON([]byte(tt.body), testLimits)
		switch {
		case tt.field == "-" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.field != "-" && err == nil:
			t.Errorf("%s: accepted", tt.name)
		case tt.field != "-" && err.(*Error).Field != tt.field:
			t.Errorf("%s: field %q, want %q (%v)", tt.name, err.(*Error).Field, tt.field, err)
		}
	}
}

// Many tiny elements: refused before anything is decoded.
func TestScanJSON_ManyElements(t *testing.T) {
	t.Parallel()
	body := `{"to":[` + strings.Repeat(`"a",`, 100000) + `"a"]}`
	_, err := scanJSON([]byte(body), jsonLimits{MaxDepth: 3, MaxMembers: 20, MaxElements: 1000})
	if err == nil || err.(*Error).Field != "to" {
		t.Errorf("100001 elements: %v", err)
	}
}

func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{`{"a":[{"b":1}]}`, `{"a":1,"a":2}`, `{"":{"":[]}}`, `[`, `{"a":"\u00e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := scanJSON(data, testLimits)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T, want *Error", err)
			}
			return
		}
		var v map[string]any
		if json.Unmarshal(data, &v) != nil {
			t.Fatalf("accepted %q, which is not a JSON object", data)
		}
		if len(top) != len(v) {
			t.Fatalf("top members %v, decoded %v", top, v)
		}
	})
}
