// Package smtptest runs in-process destination MX servers for tests, the
// way net/http/httptest runs HTTP servers: a real go-smtp server on a real
// loopback socket whose answers are scripted and whose traffic is recorded.
//
// A test starts one with NewServer, points the code under test at its
// Addr, scripts failures with SetGreeting, SetMail, SetRcpt, SetRcptFunc,
// SetData and Down/Up, and checks what arrived with Messages or
// WaitMessages. SetHostile turns it into an adversarial MX: a giant reply
// line, an endless multi-line reply, replies dripped an octet at a time,
// or garbage, at a chosen stage of the session, or a hang-up. Options
// change how it talks on the wire (wire.go): without PIPELINING, with the
// replies to pipelined commands in one write, answering DATA after
// refused RCPTs; with RecordReads, Reads shows how a client's commands
// arrived, together or one at a time. Every method is safe to call from
// any goroutine while the server runs. Benchmarks set Options.Discard and
// count arrivals with OnMessage so that the sink stays cheap at thousands
// of messages a second; load tools outside tests start one with Start and
// Close it themselves.
package smtptest
