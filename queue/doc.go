// Package queue is mxout's durable mail queue, stored in badger.
//
// Guarantees:
//   - Enqueue returns only after the envelope and body are synced to disk
//     (badger SyncWrites). Badger syncs once per transaction, so the queue
//     gathers concurrent enqueues, leases and completions into one
//     transaction and one sync (a group commit, commit.go). A crash after
//     Enqueue returns loses nothing.
//   - Every write checks the free disk space first, so badger never
//     discovers a full disk itself: it would die with SIGBUS on an mmapped
//     page it cannot back. Below the reserve, Enqueue, Lease and the
//     operator changes that keep a message refuse (ErrNoSpace); the
//     results of deliveries already made, returned leases, deletes and GC
//     go on down to an emergency margin of half the reserve (space.go).
//   - A new message is refused (ErrSyncFailed) when badger logged, rather
//     than returned, a failed sync during its commit (syncwatch.go).
//   - Delivery is at least once. A lease is held in memory only. Lease
//     first pushes the message's due time forward on disk (by
//     Options.LeaseDuration), so after a crash every leased message is due
//     again shortly, once, instead of in a tight loop.
//   - State is kept per recipient: pending, delivered or failed, with the
//     attempt count, the last response and the next attempt. The message and
//     its body are deleted once every recipient is final.
//   - Due work is found by a range scan of a time-ordered index, never a
//     full scan; Open rebuilds its counters from that index without reading
//     bodies.
//   - A message's record, body and index entry change together, in one
//     badger transaction, so no crash leaves a message half-written;
//     Verify checks it.
//   - Listings (ListPage) seek to a cursor and read a bounded number of
//     envelopes, never bodies. OpenReadOnly inspects a stopped relay's
//     queue with badger's shared lock.
//   - Disk space of delivered and deleted bodies comes back through
//     value-log GC: on a schedule, early after large deletes, and with a
//     compaction to the bottom level when badger cannot yet see the
//     garbage (RunGC).
//
// The queue knows nothing of SMTP: responses are opaque strings that the
// delivery side hands in.
package queue
