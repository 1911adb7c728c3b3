#!/bin/sh
# pkgversion.sh DESCRIBE: the .deb/.rpm version for a `git describe` string
# (make's VERSION), ordered the way both package managers compare them:
#   v1.2.3                    -> 1.2.3
#   v1.2.3-4-gabc1234[-dirty] -> 1.2.3+4.gabc1234[.dirty]  (after 1.2.3)
#   v1.2.3-rc.1               -> 1.2.3~rc.1                (before 1.2.3)
#   abc1234[-dirty], dev      -> 0.0.0~git.abc1234[.dirty] (no release tag yet)
set -eu
v=${1:?usage: pkgversion.sh DESCRIBE}
dirty=
case $v in *-dirty) dirty=.dirty v=${v%-dirty} ;; esac
if ! printf '%s\n' "$v" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+'; then
  printf '0.0.0~git.%s%s\n' "$(printf '%s' "$v" | tr -c 'A-Za-z0-9.\n' .)" "$dirty"
  exit 0
fi
v=${v#v}
# A describe suffix: -<commits since the tag>-g<commit>.
after=$(printf '%s\n' "$v" | sed -nE 's/^.*-([0-9]+)-(g[0-9a-f]+)$/+\1.\2/p')
v=$(printf '%s\n' "$v" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
# A pre-release (v1.2.3-rc.1) sorts before the release.
v=$(printf '%s\n' "$v" | sed -E 's/^([0-9]+\.[0-9]+\.[0-9]+)-/\1~/' | tr -c 'A-Za-z0-9.~\n' .)
if [ -n "$after" ] || [ -n "$dirty" ]; then
  [ -n "$after" ] || after=+0
  v=$v$after$dirty
fi
printf '%s\n' "$v"
