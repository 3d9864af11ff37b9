#!/usr/bin/env bash
# The kubelet relay's figures (core/kubelet) on the real-node bed: a host cluster with one real node
# (tests/bed/node) and `vcluster create` (local driver). Each figure is taken twice, in the virtual cluster
# (kubectl -> virtual API server -> the syncer's kubelet endpoint -> host API server -> kubelet) and straight on
# the host for the same host pod (kubectl -> host API server -> kubelet), and the syncer's resident memory is
# sampled every 0.1 s throughout. Prints one table; asserts nothing. See docs/benchmarks.md.
#
# Usage: bench/kubelet_relay.sh [--build DIR] [--exec-runs 50] [--pf-mb 200] [--log-mb 50] [--follow 100]
#                               [--rounds 3] [--out DIR]
#   --exec-runs N   `kubectl exec POD -- true` N times on each side (alternating): p50, p99
#   --pf-mb M       one `kubectl port-forward` and a curl of an M MB file that nginx serves, per round and side
#   --log-mb M      a container that wrote M MB to stdout; `kubectl logs` of it per round and side
#   --follow C      C `kubectl logs -f` at once in the virtual cluster: time until each got a line, syncer RSS
#   --rounds R      rounds of the port-forward and logs figures (the best and the median are printed)
# The bed's node runs its kubelet with --container-log-max-size=1Gi (VC_BED_KUBELET_ARGS), so the whole log is
# one file (the kubelet's 10 MiB default would rotate it and `kubectl logs` would read only the last part).
# One real node per machine: run it under `flock /tmp/realnode.lock` when other real-node tests may run; it
# waits for another node to go, as the tests do.
# The checks run small `bash -c '...' _ ARGS` programs whose $1, $2 expand in the child (SC2016); lib.sh sets
# CLUSTER and start_cluster KC_host (SC2153, SC2154).
# shellcheck disable=SC2016,SC2153,SC2154
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$HERE/../tests/integration/lib.sh"

BUILD=$ROOT/build EXEC_RUNS=50 PF_MB=200 LOG_MB=50 FOLLOW=100 ROUNDS=3 OUT=""
while (($#)); do
  case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --exec-runs) EXEC_RUNS=$2; shift 2 ;;
    --pf-mb) PF_MB=$2; shift 2 ;;
    --log-mb) LOG_MB=$2; shift 2 ;;
    --follow) FOLLOW=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "kubelet_relay.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/vc-bench-relay.XXXXXX")
mkdir -p "$OUT"

VCLUSTER=$BUILD/cli/vcluster
PLUGINS=$BUILD/plugins/pods/libvcp-pods.so
for p in services nodes; do [ -e "$BUILD/plugins/$p/libvcp-$p.so" ] && PLUGINS+=,$BUILD/plugins/$p/libvcp-$p.so; done
DNS_BIN=$BUILD/core/dns/vcluster-dns
for b in "$VCLUSTER" "$BUILD/core/syncer/vcluster-syncer" "$BUILD/plugins/pods/libvcp-pods.so"; do
  [ -e "$b" ] || { echo "kubelet_relay.sh: $b is missing; build it: ninja -C $BUILD ${b#"$BUILD"/}" >&2; exit 1; }
done
NODE=$ROOT/tests/bed/node
export VCLUSTER_STATE_DIR=$WORK/state
VC=relay-bench
NS=vcluster-$VC
STATE=$VCLUSTER_STATE_DIR/$NS/$VC

_bench_exit() {
  local rc=$? pid
  for pid in $(jobs -p); do kill -TERM "$pid" 2>/dev/null; done
  [ -f "$STATE/syncer.log" ] && cp "$STATE/syncer.log" "$OUT/"
  if [ -f "$STATE/syncer.pid" ]; then
    pid=$(cat "$STATE/syncer.pid")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$STATE/"; then kill -TERM "$pid" 2>/dev/null; fi
  fi
  [ -d "$STATE/cp" ] && "$CLUSTER" stop x --dir "$STATE/cp" >/dev/null 2>&1
  (exit $rc)
  _cleanup
}
trap _bench_exit EXIT

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s |' "$1" "$2" "$3")"); printf '  -> %s: %s %s\n' "$1" "$2" "${3:+($3)}"; }
say() { printf '\n== %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
die() { echo "kubelet_relay.sh: $*" >&2; exit 1; }
now_ns() { date +%s%N; }
# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE, one per line.
pct() { sort -n "$1" | awk -v p="$2" '{v[NR] = $1} END {i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i]}'; }
median() { pct "$1" 50; }
best() { sort -n "$1" | head -1; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# The syncer's RSS every 0.1 s into OUT/rss.samples ("seconds kB"); rss_max FROM TO: the peak in a window.
RSS_T0=$(now_ns)
rss_sampler() {
  while kill -0 "$1" 2>/dev/null && [ ! -e "$OUT/rss.stop" ]; do
    echo "$((($(now_ns) - RSS_T0) / 1000000)) $(rss_kb "$1")" >>"$OUT/rss.samples"
    sleep 0.1
  done
}
mark() { echo $((($(now_ns) - RSS_T0) / 1000000)); }
rss_max() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 > m {m = $2} END {print m + 0}' "$OUT/rss.samples"; }

main() {
  say "host cluster, a real node, vcluster create $VC"
  start_cluster host host
  export KUBECONFIG=$WORK/kubeconfig
  cp "$KC_host" "$KUBECONFIG"
  HOSTCTX=$(kubectl config current-context)
  CTX=vcluster_${VC}_${NS}_${HOSTCTX}
  local dns=() end=$((SECONDS + 900))
  [ -x "$DNS_BIN" ] && grep -q -- '--dns)' "$NODE" && dns=(--dns "$DNS_BIN")
  while :; do
    VC_BED_KUBELET_ARGS="--container-log-max-size=1Gi" "$NODE" start n1 --cluster-dir "$WORK/host" "${dns[@]}" >"$OUT/node-start.log" 2>&1 && break
    if ! grep -q 'another bed node is running' "$OUT/node-start.log" || ((SECONDS >= end)); then
      cat "$OUT/node-start.log" >&2
      die "node start failed"
    fi
    sleep 20
  done
  "$VCLUSTER" create "$VC" --plugins "$PLUGINS" >"$OUT/create.log" 2>&1 || { cat "$OUT/create.log" >&2; die "vcluster create failed"; }
  SYNCER_PID=$(cat "$STATE/syncer.pid")
  hk() { kubectl --context "$HOSTCTX" "$@" 2>/dev/null; }
  vk() { kubectl --context "$CTX" "$@" 2>/dev/null; }

  # The log writer prints LOG_MB MB of 64-byte lines and a last line END, then sleeps.
  cat <<YAML | vk apply -f - >/dev/null || die "cannot create the pods"
apiVersion: v1
kind: Pod
metadata: {name: nettool}
spec:
  containers: [{name: c, image: cr7258/nettool:v1}]
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'i=0; while :; do echo "tick \$i"; i=\$((i+1)); sleep 1; done']
---
apiVersion: v1
kind: Pod
metadata: {name: biglog}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'yes "the kubelet relay streams this log line chunk by chunk 0123456789" | head -c $((LOG_MB * 1024 * 1024)); echo; echo END; exec sleep 36000']
YAML
  local p
  for p in nettool ticker biglog; do
    poll 180 bash -c '[ "$(kubectl --context "$1" get pod "$2" -o jsonpath="{.status.phase}" 2>/dev/null)" = Running ]' _ "$CTX" "$p" ||
      die "pod $p is not Running"
  done
  poll 120 bash -c '[ "$(kubectl --context "$1" logs biglog --tail=1 2>/dev/null)" = END ]' _ "$CTX" || die "biglog did not finish writing"
  vk exec nettool -- sh -c "head -c $((PF_MB * 1024 * 1024)) /dev/urandom >/usr/share/nginx/html/big" || die "cannot write the port-forward file"
  local hpod_suffix=-x-default-x-$VC
  rss_sampler "$SYNCER_PID" &
  sleep 1
  local idle_kb
  idle_kb=$(rss_kb "$SYNCER_PID")
  row "syncer RSS idle" "$(mib "$idle_kb") MiB" "pods nettool, ticker, biglog synced"

  # --- exec -----------------------------------------------------------------------------------------------
  say "kubectl exec -- true, $EXEC_RUNS times on each side"
  local i t m0 m1
  : >"$OUT/exec-virtual.ms"
  : >"$OUT/exec-host.ms"
  vk exec ticker -- true
  hk -n "$NS" exec "ticker$hpod_suffix" -- true
  m0=$(mark)
  for ((i = 0; i < EXEC_RUNS; i++)); do
    t=$(now_ns)
    vk exec ticker -- true || echo "exec failed (virtual)" >&2
    echo $((($(now_ns) - t) / 1000000)) >>"$OUT/exec-virtual.ms"
    t=$(now_ns)
    hk -n "$NS" exec "ticker$hpod_suffix" -- true || echo "exec failed (host)" >&2
    echo $((($(now_ns) - t) / 1000000)) >>"$OUT/exec-host.ms"
  done
  m1=$(mark)
  row "exec -- true p50 virtual / host" "$(median "$OUT/exec-virtual.ms") ms / $(median "$OUT/exec-host.ms") ms" "kubectl's own start included, $EXEC_RUNS runs"
  row "exec -- true p99 virtual / host" "$(pct "$OUT/exec-virtual.ms" 99) ms / $(pct "$OUT/exec-host.ms" 99) ms" ""
  row "syncer RSS peak during exec" "$(mib "$(rss_max "$m0" "$m1")") MiB" "+$(mib $(($(rss_max "$m0" "$m1") - idle_kb))) MiB over idle"

  # --- port-forward ---------------------------------------------------------------------------------------
  say "port-forward: curl of a $PF_MB MB file, $ROUNDS rounds on each side"
  : >"$OUT/pf-virtual.mbs"
  : >"$OUT/pf-host.mbs"
  pf_round() { # SIDE KUBECTL_ARGS...: one port-forward, one curl; appends MB/s
    local side=$1 port pid out
    shift
    port=$(free_port)
    kubectl "$@" "$port:80" >"$OUT/pf-$side.log" 2>&1 &
    pid=$!
    poll 30 curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/" || { echo "port-forward ($side) did not answer" >&2; kill "$pid"; return 1; }
    out=$(curl -sf -o /dev/null -w '%{size_download} %{time_total}' "http://127.0.0.1:$port/big")
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    awk -v o="$out" -v want=$((PF_MB * 1024 * 1024)) -v f="$OUT/pf-$side.mbs" 'BEGIN {split(o, a, " "); if (a[1] != want) {print "short transfer: " a[1] > "/dev/stderr"; exit 1} printf "%.1f\n", a[1] / 1048576 / a[2] >> f}'
  }
  m0=$(mark)
  for ((i = 0; i < ROUNDS; i++)); do
    pf_round virtual --context "$CTX" port-forward pod/nettool
    pf_round host --context "$HOSTCTX" -n "$NS" port-forward "pod/nettool$hpod_suffix"
  done
  m1=$(mark)
  row "port-forward $PF_MB MB, MB/s virtual / host (best)" "$(sort -rn "$OUT/pf-virtual.mbs" | head -1) / $(sort -rn "$OUT/pf-host.mbs" | head -1)" \
    "median $(median "$OUT/pf-virtual.mbs") / $(median "$OUT/pf-host.mbs"); ratio $(awk -v a="$(median "$OUT/pf-virtual.mbs")" -v b="$(median "$OUT/pf-host.mbs")" 'BEGIN {printf "%.2f", a / b}')x"
  row "syncer RSS peak during port-forward" "$(mib "$(rss_max "$m0" "$m1")") MiB" "+$(mib $(($(rss_max "$m0" "$m1") - idle_kb))) MiB over idle"

  # --- logs -----------------------------------------------------------------------------------------------
  say "kubectl logs of a $LOG_MB MB log, $ROUNDS rounds on each side"
  : >"$OUT/logs-virtual.mbs"
  : >"$OUT/logs-host.mbs"
  logs_round() { # SIDE KUBECTL_ARGS...
    local side=$1 t bytes ms
    shift
    t=$(now_ns)
    bytes=$(kubectl "$@" 2>/dev/null | wc -c)
    ms=$((($(now_ns) - t) / 1000000))
    awk -v b="$bytes" -v ms="$ms" -v f="$OUT/logs-$side.mbs" 'BEGIN {printf "%.1f\n", b / 1048576 / (ms / 1000) >> f; printf "  %s: %d bytes in %d ms\n", "'"$side"'", b, ms}'
  }
  m0=$(mark)
  for ((i = 0; i < ROUNDS; i++)); do
    logs_round virtual --context "$CTX" logs biglog
    logs_round host --context "$HOSTCTX" -n "$NS" logs "biglog$hpod_suffix"
  done
  m1=$(mark)
  row "logs $LOG_MB MB, MB/s virtual / host (best)" "$(sort -rn "$OUT/logs-virtual.mbs" | head -1) / $(sort -rn "$OUT/logs-host.mbs" | head -1)" \
    "median $(median "$OUT/logs-virtual.mbs") / $(median "$OUT/logs-host.mbs")"
  row "syncer RSS peak during logs" "$(mib "$(rss_max "$m0" "$m1")") MiB" "+$(mib $(($(rss_max "$m0" "$m1") - idle_kb))) MiB over idle"

  # --- concurrent logs -f ---------------------------------------------------------------------------------
  if ((FOLLOW > 0)); then
    say "$FOLLOW kubectl logs -f at once"
    local pids=() t0 got
    mkdir -p "$OUT/follow"
    m0=$(mark)
    t0=$(now_ns)
    for ((i = 0; i < FOLLOW; i++)); do
      kubectl --context "$CTX" logs -f ticker --tail=0 >"$OUT/follow/$i.log" 2>&1 &
      pids+=($!)
    done
    poll 300 'got=0; for f in "$OUT"/follow/*.log; do grep -q "^tick" "$f" && got=$((got + 1)); done; [ "$got" = "$FOLLOW" ]'
    got=0
    for f in "$OUT"/follow/*.log; do grep -q "^tick" "$f" && got=$((got + 1)); done
    local all_ms=$((($(now_ns) - t0) / 1000000))
    sleep 3
    m1=$(mark)
    local open
    open=$(find "/proc/$SYNCER_PID/fd" -mindepth 1 2>/dev/null | wc -l)
    kill -TERM "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    row "$FOLLOW concurrent logs -f: streaming" "$got of $FOLLOW in ${all_ms} ms" "from the first start to every stream's first line; kubectl start-up included"
    row "syncer RSS peak with $FOLLOW streams" "$(mib "$(rss_max "$m0" "$m1")") MiB" "+$(mib $(($(rss_max "$m0" "$m1") - idle_kb))) MiB over idle; $open fds open"
  fi
  touch "$OUT/rss.stop"

  printf '\n| measure | value | notes |\n| --- | --- | --- |\n'
  printf '%s\n' "${ROWS[@]}"
  printf '%s\n' "${ROWS[@]}" >"$OUT/table.md"
  echo "# logs and samples in $OUT"
}
main "$@"
