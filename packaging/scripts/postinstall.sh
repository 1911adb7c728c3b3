#!/bin/sh
# After the .deb (postinst configure [OLD-VERSION]) or the .rpm (%post, $1 =
# 1 on install, 2 on upgrade) put mxout's files in place: the mxout user,
# the queue directory, and systemd told about the unit. The service is not
# enabled: the config needs a hostname and listeners first.
set -e
case "$1" in
  configure) upgrade=${2:+yes} ;;
  1) upgrade= ;;
  2) upgrade=yes ;;
  *) exit 0 ;;
esac
# The user and group from the sysusers.d entry, as at boot; useradd where
# systemd-sysusers is missing (containers, other init systems).
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/mxout.conf
elif ! getent passwd mxout >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/mxout --no-create-home \
    --shell /usr/sbin/nologin --comment "mxout mail relay" mxout
fi
# The queue (data_dir of /etc/mxout/mxout.yaml), as the unit's
# StateDirectory= makes it, so `mxout queue` works before the first start.
if [ ! -d /var/lib/mxout ]; then
  install -d -o mxout -g mxout -m 0750 /var/lib/mxout
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if [ -n "$upgrade" ]; then
    systemctl try-restart mxout.service || true
  fi
fi
if [ -z "$upgrade" ]; then
  echo "mxout: edit /etc/mxout/mxout.yaml (mxout config check), then: systemctl enable --now mxout"
fi
