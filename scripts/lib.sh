# Shared helpers for the project's shell scripts. Source it; it defines no side effects.
# The cache lives outside the checkout so a fresh clone reuses binaries built by an earlier run.
VC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VC_CACHE=${VC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vcluster-cpp}
KUBE_VERSION=${KUBE_VERSION:-1.20.2}
KUBE_BIN=$VC_CACHE/kube/v$KUBE_VERSION/bin

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
