// Package metrics defines every Prometheus metric mxout exports and serves
// /metrics, /healthz and /readyz.
//
// It is a leaf: other packages report to it through the instruments of a
// *Metrics value built on a registry that cmd/mxout passes in (never the
// global one), and the queue is read at scrape time through a callback, so
// its gauges are exact rather than drifting counters. Label values come from
// small fixed sets; no label carries an address or an unbounded domain.
//
// A part built without metrics (a test, a command that serves none) gets
// Discard(), never nil: call sites do not check.
package metrics
