#!/usr/bin/env bash
# One idempotent set-up: installs what the project needs from Debian, builds (or reuses from the cache
# outside the checkout) the Kubernetes binaries of the test bed, and builds the project with meson.
# Both README commands and .ci/run start here.
#
# Usage: scripts/setup.sh [--build-dir DIR] [--sanitize]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

build_dir=$VC_ROOT/build
meson_opts=()
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --sanitize) meson_opts+=(-Dsanitize=true); shift ;;
    *) die "setup.sh: unknown argument '$1' (known: --build-dir DIR, --sanitize)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "setup.sh installs Debian packages and runs a local Kubernetes test bed: run it as root"

"$VC_ROOT/scripts/apt-deps.sh"
"$VC_ROOT/tests/bed/build-kube.sh"

if [ ! -f "$build_dir/build.ninja" ]; then
  log "meson setup $build_dir ${meson_opts[*]}"
  meson setup "$build_dir" "$VC_ROOT" "${meson_opts[@]}" >/dev/null
elif ((${#meson_opts[@]})); then
  meson configure "$build_dir" "${meson_opts[@]}" >/dev/null
fi
log "building"
ninja -C "$build_dir" >/dev/null || { ninja -C "$build_dir" | tail -40 >&2; die "build failed"; }
log "ready: $build_dir"
