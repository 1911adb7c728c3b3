package delivery

import "time"

// slot is an attempt's right to one connection to its destination, from
// pool.acquire until the attempt ends it. While a session is attached,
// the slot is that session's: the connection counts toward the
// destination's cap for as long as it is open, busy or idle in the pool.
//
// An attempt ends its slot once, by one of Keep (the session goes to
// the pool for the next message, and the slot with it), Close or
// Release (the slot is given back). Each is a no-op after the first, so
// `defer sl.Release()` right after acquire covers every path.
type slot struct {
	p    *pool
	dest string
	s    *session // the attached session; nil while none is open
	done bool
}

// session returns the attached session; nil if there is none.
func (sl *slot) session() *session { return sl.s }

// Attach makes s, a session just opened for the slot's destination, the
// slot's holder. The slot must have no session attached.
func (sl *slot) Attach(s *session) { sl.s = s }

// take attaches an idle session for key from the pool, whichever
// destination it last served (shared MX hosts); the slot that session
// held is given back. It reports whether there was one.
func (sl *slot) take(key connKey) bool {
	sl.s = sl.p.take(key, sl.dest)
	return sl.s != nil
}

// drop aborts the attached session, which is dead; the slot stays for
// another session.
func (sl *slot) drop() {
	if sl.s != nil {
		sl.s.abort()
		sl.s = nil
	}
}

// Keep hands the attached session to the pool for reuse, with the slot;
// the pool closes it instead when it keeps no more idle sessions.
// Without a session attached, Keep is Release.
func (sl *slot) Keep() {
	if sl.done || sl.s == nil {
		sl.Release()
		return
	}
	sl.done = true
	sl.p.put(sl.s, sl.dest)
	sl.s = nil
}

// Close ends the attached session politely (QUIT, waiting at most
// timeout) and gives the slot back.
func (sl *slot) Close(timeout time.Duration) {
	if sl.done {
		return
	}
	if sl.s != nil {
		sl.s.close(timeout)
		sl.s = nil
	}
	sl.Release()
}

// Release gives the slot back; a session still attached is aborted.
func (sl *slot) Release() {
	if sl.done {
		return
	}
	sl.done = true
	sl.drop()
	sl.p.release(sl.dest)
}
