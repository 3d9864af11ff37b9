#!/usr/bin/env bash
# Builds the Kubernetes binaries the test bed runs, from Debian's `kubernetes` source package,
# and caches them outside the checkout under $VC_CACHE/kube/v$KUBE_VERSION/bin.
# Reuses the cache: does nothing when every binary is already there.
#
# Usage: build-kube.sh [binary...]   (default: every binary the bed uses)
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

WANT=("$@")
((${#WANT[@]})) || WANT=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubemark)

need=()
for b in "${WANT[@]}"; do [ -x "$KUBE_BIN/$b" ] || need+=("$b"); done
if ((${#need[@]} == 0)); then
  log "kubernetes v$KUBE_VERSION binaries cached in $KUBE_BIN"
  exit 0
fi

# A deb-src entry derived from the machine's own Debian sources file: same mirrors, same suites.
src_list=/etc/apt/sources.list.d/vcluster-cpp-src.sources
if ! apt-get source --print-uris kubernetes >/dev/null 2>&1; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$src_list"
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/vcluster-cpp-src.list
  else
    die "no Debian sources file to derive a deb-src entry from (looked in /etc/apt/sources.list.d/debian.sources and /etc/apt/sources.list)"
  fi
  log "apt-get update (deb-src entry added)"
  apt-get update -qq
fi

work=$VC_CACHE/kube/src
rm -rf "$work"; mkdir -p "$work"
cd "$work"
log "fetching the kubernetes source package"
apt-get source --download-only kubernetes >/dev/null 2>&1 || die "apt-get source kubernetes failed"
dpkg-source --no-check -x kubernetes_*.dsc src >/dev/null
cd src
# Debian versions such as 1.20.5+really1.20.2 carry the real upstream version after "really".
ver=$(sed -n '1s/^kubernetes (\([^)]*\)).*/\1/p' debian/changelog | sed 's/.*really//; s/-[^-]*$//')
[ "$ver" = "$KUBE_VERSION" ] || log "warning: source package is v$ver, cache keyed as v$KUBE_VERSION"

# reflect2 1.0.1 crashes at random under Go >= 1.18 (runtime.mapiterinit faults); use Debian's 1.0.2.
r2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -d "$r2" ] || die "Debian's golang-github-modern-go-reflect2-dev is not installed (scripts/apt-deps.sh installs it)"
rm -rf vendor/github.com/modern-go/reflect2
mkdir -p vendor/github.com/modern-go/reflect2
( cd "$r2" && find . -maxdepth 1 -type f ! -name '*_test.go' -exec cp {} "$work/src/vendor/github.com/modern-go/reflect2/" \; )
sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' go.mod vendor/modules.txt staging/src/k8s.io/*/go.mod
sed -i '/github.com\/modern-go\/reflect2 v1.0.1/d' go.sum staging/src/k8s.io/*/go.sum 2>/dev/null || true

export PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 GOFLAGS=-mod=vendor HOME=$work/home GOCACHE=$work/gocache
mkdir -p "$HOME"
targets=()
for b in "${need[@]}"; do targets+=("cmd/$b"); done
log "building ${targets[*]} (several minutes)"
start=$(date +%s)
make WHAT="${targets[*]}" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; die "kubernetes build failed; full log: $work/build.log"; }
mkdir -p "$KUBE_BIN"
for b in "${need[@]}"; do
  cp "_output/local/bin/linux/amd64/$b" "$KUBE_BIN/$b.tmp" && mv "$KUBE_BIN/$b.tmp" "$KUBE_BIN/$b"
done
log "built ${need[*]} in $(( $(date +%s) - start ))s into $KUBE_BIN"
cd / && rm -rf "$work"
