#!/usr/bin/env bash
# make image: the container image $IMAGE from packaging/Containerfile, with
# podman (or buildah). The binary is built here, static, and copied in with
# this machine's CA bundle; nothing comes from a registry.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIST=${DIST:-dist}
VERSION=${VERSION:?} COMMIT=${COMMIT:?} IMAGE=${IMAGE:?}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if command -v podman >/dev/null 2>&1; then
  build=(podman build --layers=false)
elif command -v buildah >/dev/null 2>&1; then
  build=(buildah bud)
else
  echo "make image needs podman or buildah (Debian packages podman, buildah)" >&2
  exit 1
fi
[ -r "$CA_BUNDLE" ] || { echo "no CA bundle at $CA_BUNDLE (Debian package ca-certificates; or set CA_BUNDLE)" >&2; exit 1; }

ctx=$DIST/image
rm -rf "$ctx"
mkdir -p "$ctx/data"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
CGO_ENABLED=0 GOOS=linux make --no-print-directory build GO="$GO" VERSION="$VERSION" COMMIT="$COMMIT" \
  BIN="$ctx/mxout" GOBUILDFLAGS=-trimpath EXTRA_LDFLAGS='-s -w' >/dev/null
cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
cp packaging/container/mxout.yaml packaging/container/passwd packaging/container/group "$ctx/"
"${build[@]}" --build-arg VERSION="$VERSION" -f packaging/Containerfile -t "$IMAGE" "$ctx"
echo "built $IMAGE"
