#!/bin/sh
# After the .deb (postrm remove|purge|upgrade ...) or the .rpm (%postun,
# $1 = 0 on erase) removed mxout's files. The queue in /var/lib/mxout, the
# mxout user and /etc/mxout/mxout.yaml stay, even on purge for the queue:
# it can hold mail mxout accepted and has not delivered yet.
set -e
case "$1" in
  remove | purge | 0)
    if [ -d /run/systemd/system ]; then
      systemctl daemon-reload || true
    fi
    if [ -d /var/lib/mxout ]; then
      echo "mxout: kept the queue in /var/lib/mxout and the mxout user; remove them by hand once the queue is empty"
    fi
    ;;
esac
