#!/bin/sh
# Before the .deb (prerm remove|upgrade ...) or the .rpm (%preun, $1 = 0 on
# erase, 1 on upgrade) takes mxout's files away: on removal, stop and
# disable the service, which lets deliveries in flight finish and syncs the
# queue (an upgrade restarts it after, in postinstall).
set -e
case "$1" in
  remove | 0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now mxout.service || true
    fi
    ;;
esac
