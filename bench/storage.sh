#!/usr/bin/env bash
# The storage plugin's burst figure (issue 21): N PersistentVolumeClaims created at once in the virtual cluster,
# timed until every one is Bound on both sides, against the host API server creating the same N claims
# directly (the translated limit: the same host binder binds both). Each claim has a host PV pre-bound to it
# (claimRef), so the host's PV binder does the same O(1) work per claim on both paths. Also the syncer's writes
# per claim (fake PV create and status, the claim's create, metadata and status copies) from its /metrics.
# Two bed control planes (tests/bed/cluster), no node. Prints one table; asserts nothing. Both paths are
# bounded by the host kube-controller-manager's client rate (--kube-api-qps 20 by default) and its binder's
# four writes per claim (PV and claim, each object and status): about 5 claims/s either way.
#
# Usage: bench/storage.sh [--build DIR] [--claims 500]
# The checks run small `bash -c '...' _ ARGS` programs (SC2016); lib.sh sets CLUSTER (SC2153); start_cluster
# sets KC_* (SC2154).
# shellcheck disable=SC2016,SC2153,SC2154,SC2059
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$HERE/../tests/integration/lib.sh"

BUILD=$ROOT/build N=500
while (($#)); do
  case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --claims) N=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "storage.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
SYNCER=$BUILD/core/syncer/vcluster-syncer
STORAGE=$BUILD/plugins/storage/libvcp-storage.so
if [ ! -x "$SYNCER" ] || [ ! -f "$STORAGE" ]; then
  echo "storage.sh: build $SYNCER and $STORAGE first" >&2
  exit 2
fi
VC=bench-sto
HNS=vcluster-bench-sto

start_cluster host host
start_cluster virt virtual
hk() { kubectl --kubeconfig "$KC_host" "$@"; }
vk() { kubectl --kubeconfig "$KC_virt" "$@"; }
hk create namespace "$HNS" >/dev/null
hk create namespace direct >/dev/null

# pvs NAMESPACE PREFIX: N host PVs pv-PREFIX-<i>, each pre-bound to host claim PREFIX<i> in NAMESPACE.
pvs() {
  local i
  for ((i = 0; i < N; i++)); do
    printf -- '---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-%s-%d}\nspec:\n' "$3" "$i"
    printf '  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  storageClassName: bench\n'
    printf '  persistentVolumeReclaimPolicy: Retain\n  hostPath: {path: /tmp/vc-bench/%s-%d}\n' "$3" "$i"
    printf '  claimRef: {namespace: %s, name: %s}\n' "$1" "$(printf "$2" "$i")"
  done
}
# claims NAMESPACE: N claims c<i> of class bench.
claims() {
  local i
  for ((i = 0; i < N; i++)); do
    printf -- '---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c%d, namespace: %s}\n' "$i" "$1"
    printf 'spec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: bench\n'
    printf '  resources: {requests: {storage: 1Gi}}\n'
  done
}
bound() { # bound KUBECTL NAMESPACE: how many claims of NAMESPACE are Bound
  "$1" -n "$2" get pvc -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' 2>/dev/null | grep -c '^Bound$'
}
# timed KUBECTL NAMESPACE: creates the claims in NAMESPACE, prints seconds until all N are Bound.
timed() {
  local t0 t1
  claims "$2" >"$WORK/claims-$2.yaml"
  t0=$(date +%s.%N)
  "$1" create -f "$WORK/claims-$2.yaml" >/dev/null
  until [ "$(bound "$1" "$2")" = "$N" ]; do sleep 0.2; done
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}'
}

pvs direct 'c%d' direct | hk create -f - >/dev/null
pvs "$HNS" "c%d-x-default-x-$VC" vc | hk create -f - >/dev/null

# The binder has seen every PV (Available) before either burst starts.
available() { hk get pv -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Available$'; }
poll 300 'test "$(available)" = $((2 * N))' || { echo "storage.sh: the host PVs did not become Available" >&2; exit 1; }
echo "# direct: $N claims created on the host API server"
direct=$(timed hk direct)

port=$(free_port)
URL=http://127.0.0.1:$port
syncer_up bench "$STORAGE" || { echo "storage.sh: the syncer did not become ready" >&2; exit 1; }
echo "# virtual: $N claims created in the virtual cluster"
virtual=$(timed vk default)
host_bound=$(bound hk "$HNS")
fake=$(vk get pv -l vcluster.loft.sh/fake-pv=true -o name | wc -l)
syncer_quiet 60 || true
writes=$(syncer_writes)
breakdown=$(curl -sf "$URL/metrics" | awk '$1 ~ /^vcluster_syncer_api_requests_total\{side="(host|virtual)",verb="(create|update|patch|delete)",code="2/ {
  match($1, /side="[a-z]+"/); s = substr($1, RSTART + 6, RLENGTH - 7)
  match($1, /verb="[a-z]+"/); v = substr($1, RSTART + 6, RLENGTH - 7)
  n[s " " v] += $2 } END {for (k in n) printf "%s %s=%d", sep, k, n[k]; sep = ","}')

printf '\n| figure | value |\n| --- | --- |\n'
printf '| claims | %d |\n' "$N"
printf '| host API server directly, all Bound | %s s |\n' "$direct"
printf '| through the vcluster, all Bound in the virtual cluster | %s s (%.2fx) |\n' "$virtual" \
  "$(echo "$virtual $direct" | awk '{print ($2 > 0 ? $1 / $2 : 0)}')"
printf '| host claims Bound / fake PVs in the virtual cluster | %s / %s |\n' "$host_bound" "$fake"
printf '| syncer writes (both sides) | %s (%.1f per claim:%s) |\n' "$writes" \
  "$(echo "$writes $N" | awk '{print $1 / $2}')" "$breakdown"
