// Package packaging holds what installs mxout on a systemd host: the unit
// (mxout.service, Type=notify, sandboxed, SIGHUP on reload) and the
// sysusers.d entry for its user, installed by `make install`. It has no
// Go code; its tests run `make install` into temporary directories, check
// the unit with systemd-analyze where it is available, and check that the
// repository ships sources only (a licence, no committed binaries).
package packaging
