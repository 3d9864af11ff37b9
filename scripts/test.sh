#!/usr/bin/env bash
# The whole test suite: unit tests (doctest) and integration tests against real local control planes.
# Installs and builds what it needs first (scripts/setup.sh). Exit status is meson test's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$VC_ROOT/scripts/setup.sh"
cd "$VC_ROOT"
meson test -C build --print-errorlogs --num-processes 1 "$@"
