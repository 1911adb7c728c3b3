#!/usr/bin/env bash
# A private Postfix instance for the benchmark (cmd/mxout-bench), beside and
# separate from the system's: its own config_directory and queue_directory
# under DIR, SMTP on 127.0.0.1:PORT only, relaying everything through a
# transport map to the benchmark's sink MX servers. The system instance
# (/etc/postfix, /var/spool/postfix) is never read for settings nor
# started; installing the package is the only thing done system-wide.
#
# Postfix keeps its default durability: cleanup fsyncs the queue file
# before smtpd answers 250. Chroot is off (the daemons would need copies
# of /etc files inside a private queue directory); everything else not
# named below is Postfix's default.
#
# usage: postfix-bench.sh install
#        postfix-bench.sh start DIR PORT TRANSPORT_FILE [file|syslog]
#        postfix-bench.sh flush DIR
#        postfix-bench.sh stop DIR
# TRANSPORT_FILE holds "domain smtp:[ip]:port" lines. The master's pid is
# in DIR/spool/pid/master.pid once start returns. The log is DIR/maillog
# (maillog_file, written by Postfix's own postlogd, on the queue's disk as
# mxout's log is: "file", the default) or goes to syslog ("syslog":
# Postfix's default, written by the machine's syslog daemon outside
# Postfix's processes, or lost where there is none).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

install_postfix() {
  if [ -x /usr/sbin/postfix ]; then
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "postfix-bench: postfix is not installed and only root can install it; measuring mxout alone" >&2
    return
  fi
  echo "postfix-bench: installing postfix (Debian package; the system instance is left unconfigured)" >&2
  # "No configuration" keeps the package from setting up and starting the
  # system's own instance.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >&2; }
}

write_config() {
  local dir=$1 port=$2 transport=$3 log=$4
  mkdir -p "$dir/etc" "$dir/spool" "$dir/lib"
  chmod 755 "$dir" "$dir/etc"
  cp "$transport" "$dir/etc/transport"
  cat >"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/lib
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.invalid
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
transport_maps = texthash:$dir/etc/transport
alias_maps =
alias_database =
local_recipient_maps =
biff = no
EOF
  if [ "$log" = file ]; then
    echo "maillog_file = $dir/maillog" >>"$dir/etc/main.cf"
  fi
  cat >"$dir/etc/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$port inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

cmd=${1:-}
case "$cmd" in
install)
  install_postfix
  ;;
start)
  [ $# -eq 4 ] || [ $# -eq 5 ] || { echo "usage: $0 start DIR PORT TRANSPORT_FILE [file|syslog]" >&2; exit 2; }
  dir=$(realpath "$2")
  log=${5:-file}
  case "$log" in file | syslog) ;; *) echo "postfix-bench: log must be file or syslog, not $log" >&2; exit 2 ;; esac
  install_postfix
  write_config "$dir" "$3" "$4" "$log"
  # set-permissions creates the queue's directories with their owners.
  postfix -c "$dir/etc" set-permissions >/dev/null 2>&1 || postfix -c "$dir/etc" check
  postfix -c "$dir/etc" start >/dev/null 2>&1 || { cat "$dir/maillog" >&2 2>/dev/null; exit 1; }
  for _ in $(seq 100); do
    [ -s "$dir/spool/pid/master.pid" ] && exit 0
    sleep 0.1
  done
  echo "postfix-bench: master did not start; see $dir/maillog" >&2
  exit 1
  ;;
flush)
  postqueue -c "$(realpath "$2")/etc" -f
  ;;
stop)
  dir=$(realpath "$2")
  postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
  for _ in $(seq 100); do
    [ -s "$dir/spool/pid/master.pid" ] || exit 0
    kill -0 "$(cat "$dir/spool/pid/master.pid")" 2>/dev/null || exit 0
    sleep 0.1
  done
  ;;
*)
  echo "usage: $0 install | start DIR PORT TRANSPORT_FILE [file|syslog] | flush DIR | stop DIR" >&2
  exit 2
  ;;
esac
