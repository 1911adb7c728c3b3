// Package bounce decides which delivery status notifications a delivery
// round calls for, and queues them with the null sender, so that they are
// as durable as any mail and retried like it.
//
// The rules (RFC 3461, and Postfix where the RFC leaves a choice):
//   - Failure: one report per message per delivery round, covering every
//     recipient that failed in that round and whose NOTIFY includes
//     FAILURE. No NOTIFY means FAILURE only (RFC 3461 §4.1 allows FAILURE
//     or FAILURE,DELAY; delay notices are opt-in). NOTIFY=NEVER suppresses.
//     RET=HDRS returns the header, RET=FULL the whole message; without
//     RET, the whole message up to Config.MaxOriginalBytes, else the header.
//   - Delay: once per message, when it has been queued for
//     Config.DelayNoticeAfter (0 disables), for its pending recipients that
//     gave NOTIFY=DELAY. The delivery engine records that it was sent.
//   - Success: for recipients with NOTIFY=SUCCESS that were accepted by a
//     server without DSN, "relayed" (RFC 3461 §5.2.2). A server with DSN
//     received NOTIFY itself and reports delivery (§5.2.1), so the relay
//     sends nothing. Delay and success reports carry the header only (RET
//     is about failure reports, RFC 3461 §4.3).
//   - Never a report to the null sender: a failed message from <> is
//     logged, and a copy of the report goes to Config.Postmaster when set,
//     unless the failed recipient is the postmaster itself (a double
//     bounce, which is dropped). This bounds every chain of reports.
//
// Reports are DKIM-signed with the hostname's key through Config.Signer
// (MAILER-DAEMON@hostname is their From:), unsigned when it has none.
// An operator's delete with a bounce (BounceDeleted, admin.Bouncer) is
// reported as a round in which every pending recipient failed.
//
// Each queued report is logged with the original's queue ID and its own,
// and counted in mxout_bounces_sent_total{type}.
package bounce
