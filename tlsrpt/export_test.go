package tlsrpt

import "time"

// SetFlushEvery shortens how often r saves counts and retries reports.
func SetFlushEvery(r *Reporter, d time.Duration) { r.flushEvery = d }
