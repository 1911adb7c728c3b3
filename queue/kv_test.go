package queue

import (
	"errors"
	"fmt"
	"testing"
)

func mustKV(t *testing.T, q *Queue, area string) *KV {
	t.Helper()
	kv, err := q.KV(area)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestKV_SurvivesRestartBesideMail stores values in two areas next to a
// queued message, reopens the queue, and finds both intact and apart.
func TestKV_SurvivesRestartBesideMail(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, opts := openTest(t, c)
	sts, rpt := mustKV(t, q, "mta-sts"), mustKV(t, q, "tlsrpt")
	id := mustEnqueue(t, q, env("a@example.com", "b@example.net"), "Subject: x\r\n\r\nhi\r\n")
	for i := range 3 {
		if err := sts.Put(fmt.Sprintf("d%d.example", i), []byte(fmt.Sprintf("policy %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := rpt.Put("d0.example", []byte("counts")); err != nil {
		t.Fatal(err)
	}
	if err := sts.Put("d1.example", []byte("policy 1, refreshed")); err != nil {
		t.Fatal(err)
	}
	if err := sts.Delete("d2.example"); err != nil {
		t.Fatal(err)
	}
	if err := sts.Delete("never.example"); err != nil {
		t.Errorf("Delete of a missing key = %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q = mustOpen(t, opts)
	defer q.Close()
	wantStats(t, q, 1, 0, 0, 0) // the values are not messages
	if _, err := q.Get(id); err != nil {
		t.Errorf("message after reopen: %v", err)
	}
	sts, rpt = mustKV(t, q, "mta-sts"), mustKV(t, q, "tlsrpt")
	got := map[string]string{}
	err := sts.Each(func(k string, v []byte) error { got[k] = string(v); return nil })
	want := map[string]string{"d0.example": "policy 0", "d1.example": "policy 1, refreshed"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Each(mta-sts) = %v, %v; want %v", got, err, want)
	}
	if v, err := rpt.Get("d0.example"); err != nil || string(v) != "counts" {
		t.Errorf("Get(tlsrpt, d0) = %q, %v", v, err)
	}
	if _, err := rpt.Get("d1.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of another area's key = %v, want ErrNotFound", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := sts.Each(func(string, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Each stopped by fn = %v after %d calls, want fn's error after 1", err, n)
	}
}

func TestKV_Refusals(t *testing.T) {
	t.Parallel()
	c := newClock()
	q, opts := openTest(t, c)
	for _, bad := range []string{"", "a\x00b", "a/b", "ü"} {
		if _, err := q.KV(bad); err == nil {
			t.Errorf("KV(%q) accepted", bad)
		}
	}
	kv := mustKV(t, q, "mta-sts")
	if err := kv.Put("big", make([]byte, MaxKVValue+1)); err == nil {
		t.Error("Put of a value over MaxKVValue accepted")
	}
	if err := kv.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	// Below the disk reserve nothing is written, as for Enqueue.
	full := opts
	full.Dir = t.TempDir()
	full.MinFreeBytes = 1 << 20
	full.FreeSpace = func(string) (int64, error) { return 1 << 20, nil }
	fq := mustOpen(t, full)
	defer fq.Close()
	if err := mustKV(t, fq, "mta-sts").Put("k", []byte("v")); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Put below the reserve = %v, want ErrNoSpace", err)
	}

	// A read-only open reads the values and refuses to change them.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put("k", []byte("w")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	ro, err := OpenReadOnly(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rkv := mustKV(t, ro, "mta-sts")
	if v, err := rkv.Get("k"); err != nil || string(v) != "v" {
		t.Errorf("read-only Get = %q, %v", v, err)
	}
	if err := rkv.Put("k", []byte("w")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Put = %v, want ErrReadOnly", err)
	}
	if err := rkv.Delete("k"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Delete = %v, want ErrReadOnly", err)
	}
}
