package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The api generators run on mxout only.
func TestParseGenerators_API(t *testing.T) {
	t.Parallel()
	gens, err := parseGenerators("api,api-raw", &world{}, postfixTools{})
	if err != nil {
		t.Fatal(err)
	}
	if gens[0].Name() != "api" || gens[1].Name() != "api-raw" {
		t.Errorf("names %s, %s", gens[0].Name(), gens[1].Name())
	}
	if _, err := gens[0].load.target(&postfixRelay{}); err == nil {
		t.Error("the api load accepted Postfix as a target")
	}
	if addr, err := gens[0].load.target(&mxoutRelay{api: 8443}); err != nil || addr != "127.0.0.1:8443" {
		t.Errorf("target mxout: %q, %v", addr, err)
	}
}

// Both shapes of the api load go through the real mxout binary into the
// sinks, every message accepted with a 202 and every recipient arriving.
func TestAPILoad_ThroughMxout(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "mxout")
	if out, err := exec.Command("go", "build", "-o", bin, "../mxout").CombinedOutput(); err != nil {
		t.Fatalf("go build mxout: %v\n%s", err, out)
	}
	w, err := newWorld(3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wl := workload{Name: "t", Messages: 30, Size: 3000, Recipients: 2, Clients: 4}
	for _, raw := range []bool{false, true} {
		g := generator{load: apiLoad{raw: raw}, sinks: goSinks{w: w}}
		rl := &mxoutRelay{bin: bin}
		res, err := runOnce(rl, wl, g, w, t.TempDir(), strings.ReplaceAll(g.Name(), "-", ""), options{timeout: time.Minute})
		if err != nil {
			t.Fatalf("%s: %v", g.Name(), err)
		}
		if res.Accepted != wl.Messages || res.Refused != 0 || res.Incomplete != "" || res.Arrived != wl.Messages*wl.Recipients {
			t.Errorf("%s: %+v", g.Name(), res)
		}
		if res.AcceptP50 <= 0 || res.AcceptRate <= 0 {
			t.Errorf("%s: accept rate %v, p50 %v ms: not timed", g.Name(), res.AcceptRate, res.AcceptP50)
		}
	}
}
