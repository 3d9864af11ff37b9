#!/usr/bin/env bash
# The syncer's benchmarks on the test bed: a host cluster with simulated nodes (vcluster-nodesim), a virtual
# cluster, vcluster-syncer with the pods (and nodes) plugins, and vcluster-loadgen. Prints one table of
# figures; asserts nothing. See docs/benchmarks.md for what each row means and the figures measured here.
#
# Usage: bench/run.sh [--pods 1000] [--scenario all|burst|waiting|headline|steady|memory|restart|cost|limit|limits|dns-late|podsize]
#                     [--connections 16] [--syncer-connections "16 64"] [--rate 50] [--steady-seconds 20] [--dns-delay 3]
#                     [--build build-bench] [--out DIR] [--perf] [--nice N] [--pin]
#   --pods N          pods per burst (limit, burst, waiting, restart, dns-late)
#   --connections C   keep-alive connections of the load generator (and of the syncer, per API server)
#   --syncer-connections "16 64"   the burst once per value of the syncer's --max-connections
#   --rate R, --steady-seconds S   the steady scenario: R pods/s for S seconds
#   --dns-delay S     dns-late: the DNS Service is created S seconds after the last pod was created
#   --out DIR         keep the logs, metrics snapshots and the table there (default: a new /tmp/vc-bench.* dir)
#   --perf            record the syncer with `perf record --call-graph dwarf` during the burst (OUT/perf-burst.data)
#   --nice N          run the whole bench (clusters, nodesim, syncer, loadgen) at this niceness, e.g. -10 on a
#                     machine shared with other work (root only for negative values)
#   --pin             give the host control plane (etcd, API server, scheduler, controller manager) CPU 1 and
#                     everything else (the virtual control plane, the syncer, nodesim, the load generator)
#                     CPU 0, as in a real deployment, where the host's API server does not share its cores
#                     with the tenant's control plane; the limit then has that one core too
# Environment: SYNCER_ARGS (extra syncer flags), PLUGINS (default: pods,nodes when libvcp-nodes.so exists),
# LIMIT_SECRETS=0 (skip the limit's Secret + pod variant), PERF_FREQ (perf samples per second, default 499),
# IDEAL_IN_FLIGHT (pods in flight of the ideal client, default "2C 8C"),
# SYNCER_PRELOAD (an LD_PRELOAD for the syncer only, e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2).
# SYNCER_WRAP (words put between `env` and the syncer: variables, or a wrapper that execs it).
# HOST_POD_TEMPLATE (a host pod the syncer made, as OUT/host-pod-template.json of an earlier run: the
# translated limit's pod when no burst or waiting phase ran, e.g. --scenario limits: the limit, the
# translated limit, the limit again, to see what the order of the phases does).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../tests/integration/lib.sh"

SYNC_CONNS="" PODS=1000 SCENARIO=all CONN=16 RATE=50 STEADY_S=20 DNS_DELAY=3 BUILD=$ROOT/build-bench OUT="" PERF=0 NICE="" PIN=0
while (($#)); do
  case $1 in
    --pods) PODS=$2; shift 2 ;;
    --scenario) SCENARIO=$2; shift 2 ;;
    --connections) CONN=$2; shift 2 ;;
    --syncer-connections) SYNC_CONNS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --steady-seconds) STEADY_S=$2; shift 2 ;;
    --dns-delay) DNS_DELAY=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --perf) PERF=1; shift ;;
    --nice) NICE=$2; shift 2 ;;
    --pin) PIN=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case $SCENARIO in all|burst|waiting|headline|steady|memory|restart|cost|limit|limits|dns-late|podsize) ;; *)
  echo "run.sh: --scenario must be all, burst, waiting, headline, steady, memory, restart, cost, limit, limits, dns-late or podsize" >&2; exit 2 ;;
esac
if [ -n "$NICE" ]; then renice -n "$NICE" -p $$ >/dev/null || { echo "run.sh: renice $NICE failed" >&2; exit 1; }; fi
if ((PIN)); then
  (($(nproc --all) >= 2)) || { echo "run.sh: --pin needs 2 CPUs" >&2; exit 1; }
  # Everything this script starts inherits CPU 0; the host control plane is moved to CPU 1 once it runs.
  taskset -cp 0 $$ >/dev/null || { echo "run.sh: taskset failed" >&2; exit 1; }
fi
[ -n "$SYNC_CONNS" ] || SYNC_CONNS=$CONN
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/vc-bench.XXXXXX")
mkdir -p "$OUT"

SYNCER=$BUILD/core/syncer/vcluster-syncer
PODS_SO=$BUILD/plugins/pods/libvcp-pods.so
NODES_SO=$BUILD/plugins/nodes/libvcp-nodes.so
NODESIM=$BUILD/tests/nodesim/vcluster-nodesim
LOADGEN=$BUILD/bench/vcluster-loadgen
for b in "$SYNCER" "$PODS_SO" "$NODESIM" "$LOADGEN"; do
  [ -e "$b" ] || { echo "run.sh: $b is missing; build it: ninja -C $BUILD ${b#"$BUILD"/}" >&2; exit 1; }
done
if [ -z "${PLUGINS:-}" ]; then
  if [ -e "$NODES_SO" ]; then
    PLUGINS=$PODS_SO,$NODES_SO
  else
    PLUGINS=$PODS_SO
    echo "# no $NODES_SO: without fake nodes the virtual pod-GC deletes bound pods after ~40-60 s" >&2
  fi
fi

VC=bench-vc
HNS=vcluster-$VC
VNS=bench
SUFFIX=-x-$VNS-x-$VC
STEADY_PODS=$((RATE * STEADY_S))
maxp=$((PODS > STEADY_PODS ? PODS : STEADY_PODS))
NODES=$(((maxp + 99) / 100))

# Everything of the run is copied to OUT before lib.sh's trap removes its work directory.
_bench_exit() {
  local rc=$?
  cp -r "$WORK"/*.log "$OUT"/ 2>/dev/null
  local c
  for c in host virt; do [ -d "$WORK/$c/logs" ] && mkdir -p "$OUT/$c-logs" && cp "$WORK/$c/logs"/*.log "$OUT/$c-logs/" 2>/dev/null; done
  (exit $rc)
  _cleanup
}
trap _bench_exit EXIT

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s |' "$1" "$2" "$3")"); printf '  -> %s: %s %s\n' "$1" "$2" "${3:+($3)}"; }
say() { printf '\n== %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
hk() { kubectl --kubeconfig "$KC_host" "$@"; }
vk() { kubectl --kubeconfig "$KC_virt" "$@"; }
# cpu PID: user+system seconds the process has used so far.
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# result FILE KEY: a value of the loadgen's RESULT line.
result() { awk -v k="$2" '/^RESULT /{for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' "$1"; }
fmt() { awk -v v="$1" 'BEGIN {if (v == "" || v == "NA") print "NA"; else printf "%.2f", v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2f", a / b}'; }

# The whole run is one function, read in full before it starts, so editing this file during a run is safe.
main() {
### Clusters, namespaces, Services, nodes
say "starting the host and the virtual cluster"
t=$SECONDS
start_cluster host host
VC_BED_SERVICE_CIDR=10.96.0.0/16 \
  start_cluster virt virtual
echo "clusters up in $((SECONDS - t)) s"
. "$WORK/host/env"
HOST_API_PID=$VC_KUBE_APISERVER_PID HOST_ETCD_PID=$VC_ETCD_PID
if ((PIN)); then
  for f in "$WORK"/host/pids/*.pid; do taskset -a -cp 1 "$(cat "$f")" >/dev/null || { echo "run.sh: could not pin $f" >&2; exit 1; }; done
  echo "pinned: host control plane on CPU 1 ($(cd "$WORK/host/pids" && ls | sed 's/\.pid//' | tr '\n' ' ')), the rest on CPU 0"
fi
. "$WORK/virt/env"
VIRT_API_PID=$VC_KUBE_APISERVER_PID VIRT_ETCD_PID=$VC_ETCD_PID
vcluster_host_services "$KC_host" "$HNS" "$VC"
dns_service() { vcluster_dns_service "$KC_host" "$HNS" "$VC"; }
vk create namespace "$VNS" >/dev/null
hk create namespace bench-limit >/dev/null
poll 60 'vk -n "$VNS" get serviceaccount default >/dev/null 2>&1' || { echo "no default ServiceAccount in virtual $VNS" >&2; exit 1; }
poll 60 'hk -n bench-limit get serviceaccount default >/dev/null 2>&1' || { echo "no default ServiceAccount in host bench-limit" >&2; exit 1; }

NS_PORT=$(free_port)
start_bg "$WORK/nodesim.log" "$NODESIM" --kubeconfig "$KC_host" --nodes "$NODES" --max-pods 110 \
  --status-address "127.0.0.1:$NS_PORT"
NODESIM_PID=$LAST_PID
poll 120 curl -sf "http://127.0.0.1:$NS_PORT/readyz" -o /dev/null || { echo "nodesim: nodes not ready" >&2; exit 1; }
echo "$NODES simulated nodes ready (110 pods each)"

### The syncer
SYNC_PORT=$(free_port)
URL=http://127.0.0.1:$SYNC_PORT
SYNCER_PID="" READY_S=""
# start_syncer LOG: starts it and waits for /readyz; READY_S = seconds from spawn to the first 200.
start_syncer() {
  local t0
  t0=$(date +%s.%N)
  start_bg "$WORK/$1.log" env ${SYNCER_PRELOAD:+LD_PRELOAD=$SYNCER_PRELOAD} ${SYNCER_WRAP:-} "$SYNCER" --name "$VC" --target-namespace "$HNS" \
    --virtual-kubeconfig "$KC_virt" --host-kubeconfig "$KC_host" --plugins "$PLUGINS" \
    --status-address "127.0.0.1:$SYNC_PORT" --max-connections "${SYNC_CONN:-$CONN}" ${SYNCER_ARGS:-}
  SYNCER_PID=$LAST_PID
  local end=$((SECONDS + 120))
  until curl -sf "$URL/readyz" -o /dev/null; do
    kill -0 "$SYNCER_PID" 2>/dev/null || { echo "syncer exited; see $OUT/$1.log" >&2; exit 1; }
    ((SECONDS < end)) || { echo "syncer not ready after 120 s" >&2; exit 1; }
    sleep 0.02
  done
  READY_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')
}
stop_syncer() { [ -n "$SYNCER_PID" ] && stop_pid "$SYNCER_PID"; SYNCER_PID=""; }
snap() { curl -sf "$URL/metrics" >"$OUT/$1.metrics"; }
# heap FILE: "X MiB / Y MiB", the allocator's bytes in use and freed-but-kept in a snapshot.
heap() { awk -v a="$(mval "$1" process_heap_in_use_bytes)" -v b="$(mval "$1" process_heap_free_bytes)" 'BEGIN {printf "%.1f MiB / %.1f MiB", a/1048576, b/1048576}'; }
# rss_peak FILE: "X MiB (Y)", the resident and peak resident memory in a snapshot.
rss_peak() { awk -v a="$(mval "$1" process_resident_memory_bytes)" -v b="$(mval "$1" process_resident_memory_peak_bytes)" 'BEGIN {printf "%.1f MiB (%.1f)", a/1048576, b/1048576}'; }
# cached_objects FILE: the objects in the syncer's caches, both sides, in a snapshot.
cached_objects() { awk '$1 ~ /^vcluster_syncer_cache_objects\{/ {s += $2} END {print s + 0}' "$1"; }
# mval FILE NAME_WITH_LABELS: a sample of a snapshot (0 when absent).
mval() { awk -v k="$2" '$1 == k {print $2; f=1} END {if (!f) print 0}' "$1"; }
# writes FILE [CODE_PREFIX]: create/update/patch/delete requests on both sides.
writes() {
  awk -v c="${2:-}" '$1 ~ /^vcluster_syncer_api_requests_total\{/ && $1 ~ /verb="(create|update|patch|delete)"/ {
    if (c == "" || $1 ~ ("code=\"" c)) s += $2 } END {print s + 0}' "$1"
}
# settle: waits until the queue is empty and the reconcile count stands still for 2 s; prints seconds.
settle() {
  local t0=$SECONDS last=-1 same=0 r q
  while ((SECONDS - t0 < 300)); do
    r=$(metric "$URL" vcluster_syncer_reconciles_total)
    q=$(metric "$URL" vcluster_syncer_queue_depth)
    if [ "$r" = "$last" ] && [ "${q%.*}" = 0 ]; then same=$((same + 1)); else same=0; fi
    ((same >= 8)) && break
    last=$r
    sleep 0.25
  done
}
# sampler FILE: every 0.5 s one line "seconds queue_depth reconciles host_requests virtual_requests hold
# urgent_queued urgent_reconciling urgent_writes" from
# /metrics, until FILE.stop exists. Run it in the background.
sampler() {
  local t0
  t0=$(date +%s.%N)
  while [ ! -e "$1.stop" ]; do
    curl -sf "$URL/metrics" 2>/dev/null | awk -v t0="$t0" -v now="$(date +%s.%N)" '
      $1 == "vcluster_syncer_queue_depth" {q = $2}
      $1 == "vcluster_syncer_reconciles_total" {r = $2}
      $1 ~ /^vcluster_syncer_api_requests_total\{side="host"/ {h += $2}
      $1 ~ /^vcluster_syncer_api_requests_total\{side="virtual"/ {v += $2}
      $1 == "vcluster_syncer_creation_hold" {hold = $2}
      $1 ~ /^vcluster_syncer_creation_work\{kind="queued"/ {cq = $2}
      $1 ~ /^vcluster_syncer_creation_work\{kind="reconciling"/ {cr = $2}
      $1 ~ /^vcluster_syncer_creation_work\{kind="writes"/ {cw = $2}
      END {printf "%.2f %d %d %d %d %d %d %d %d\n", now - t0, q, r, h, v, hold, cq, cr, cw}' >>"$1"
    sleep 0.5
  done
}
# timeline_summary FILE: the peak queue depth and the peak request rates (between two samples) per side.
timeline_summary() {
  awk 'NR > 1 && $1 > pt {dt = $1 - pt; hr = ($4 - ph) / dt; vr = ($5 - pv) / dt; if (hr > mh) mh = hr; if (vr > mv) mv = vr}
       {if ($2 > mq) mq = $2; pt = $1; ph = $4; pv = $5}
       END {printf "queue depth peak %d; syncer requests/s peak host %.0f, virtual %.0f", mq, mh, mv}' "$1"
}
host_pods() { hk -n "$HNS" get pods --no-headers 2>/dev/null | wc -l; }

# lg LOG ARGS...: the load generator against the virtual cluster, watching the host namespace too.
lg() {
  local log=$1
  shift
  "$LOADGEN" --kubeconfig "$KC_virt" --namespace "$VNS" --connections "$CONN" \
    --host-kubeconfig "$KC_host" --host-namespace "$HNS" --host-suffix "$SUFFIX" "$@" | tee "$OUT/$log.out" |
    sed 's/^/    /'
}
# drain PREFIX [flags]: deletes the pods (through the syncer) and waits until both sides are empty.
drain() {
  local p=$1
  shift
  lg "delete-$p" --action delete --prefix "$p" --pods "${DRAIN_N:-$PODS}" --until gone,host-gone "$@" >/dev/null
}
cpu_marks() { echo "$(cpu "${SYNCER_PID:-0}") $(cpu "$HOST_API_PID") $(cpu "$VIRT_API_PID") $(cpu "$NODESIM_PID") $(cpu "$HOST_ETCD_PID") $(cpu "$VIRT_ETCD_PID")"; }
cpu_delta() {  # cpu_delta "MARKS_BEFORE": prints the CPU seconds each process used since then
  local -a a b
  read -ra a <<<"$1"
  read -ra b <<<"$(cpu_marks)"
  awk -v s="${a[0]} ${a[1]} ${a[2]} ${a[3]} ${a[4]} ${a[5]}" -v e="${b[0]} ${b[1]} ${b[2]} ${b[3]} ${b[4]} ${b[5]}" 'BEGIN {
    split(s, x); split(e, y)
    printf "CPU s: syncer %.1f, host apiserver %.1f, virtual apiserver %.1f, nodesim %.1f, host etcd %.1f, virtual etcd %.1f",
      y[1]-x[1], y[2]-x[2], y[3]-x[3], y[4]-x[4], y[5]-x[5], y[6]-x[6] }'
}

### 6. The limit: the same burst straight on the host API server
LIMIT_S="" LIMIT_RUN_S=""
phase_limit() {
  say "limit: $PODS pods created directly on the host API server, $CONN connections"
  local m
  m=$(cpu_marks)
  "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix l --pods "$PODS" \
    --until created,running | tee "$OUT/limit.out" | sed -u 's/^/    /'
  echo "    $(cpu_delta "$m")"
  LIMIT_S=$(result "$OUT/limit.out" created_s) LIMIT_RUN_S=$(result "$OUT/limit.out" running_s)
  row "limit: $PODS pod creates on the host API server ($CONN conn.)" "$(fmt "$LIMIT_S") s" \
    "$(result "$OUT/limit.out" created_rate) creates/s; all Running (host scheduler + nodesim) $(fmt "$LIMIT_RUN_S") s"
  "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix l --pods "$PODS" \
    --action delete --until gone >"$OUT/limit-delete.out"
  phase_ideal
  [ "${LIMIT_SECRETS:-1}" = 1 ] || return 0
  say "limit with a Secret per pod (2 host writes per pod, as the syncer makes: token Secret + pod)"
  "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix ls --pods "$PODS" \
    --secrets --until created,running | tee "$OUT/limit-secrets.out" | sed -u 's/^/    /'
  row "limit: $PODS (Secret + pod) on the host API server" "$(fmt "$(result "$OUT/limit-secrets.out" created_s)") s" \
    "all Running $(fmt "$(result "$OUT/limit-secrets.out" running_s)") s"
  "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix ls --pods "$PODS" \
    --secrets --action delete --until gone >"$OUT/limit-secrets-delete.out"
}

# The syncer's create path done by a client with nothing else to do (no syncer may run): per pod the virtual
# pod, a TokenRequest, its token into a host token Secret shared as the pods plugin shares them (64 keys
# each, one write per Secret at a time) and the host pod. The API servers' floor for "all on the host".
IDEAL_S=""
phase_ideal() {
  local inf f best=""
  for inf in ${IDEAL_IN_FLIGHT:-$((2 * CONN)) $((8 * CONN))}; do
    say "ideal client: the syncer's create-path requests for $PODS pods, $inf in flight, no syncer (virtual pod → TokenRequest → shared host token Secret → host pod)"
    f=$OUT/ideal-$inf.out
    "$LOADGEN" --kubeconfig "$KC_virt" --namespace "$VNS" --connections "$CONN" --in-flight "$inf" \
      --prefix e --pods "$PODS" --action emulate --host-kubeconfig "$KC_host" --host-namespace "$HNS" \
      --host-suffix "$SUFFIX" --until created,host-exist | tee "$f" | sed -u 's/^/    /'
    row "ideal client: $PODS × (virtual pod, TokenRequest, shared token Secret, host pod), $inf in flight" \
      "$(fmt "$(result "$f" created_s)") s" "$(result "$f" created_rate) pods/s; $CONN connections per side"
    best=$(awk -v a="$best" -v b="$(result "$f" created_s)" 'BEGIN {print (a == "" || b + 0 < a + 0) ? b : a}')
    "$LOADGEN" --kubeconfig "$KC_virt" --namespace "$VNS" --connections "$CONN" --prefix e --pods "$PODS" \
      --action delete --until gone >"$OUT/ideal-$inf-delete.out"
    hk -n "$HNS" delete pods,secrets -l loadgen=e --wait=false >/dev/null 2>&1
    poll 300 'test "$(hk -n "$HNS" get pods -l loadgen=e -o name 2>/dev/null | wc -l)" = 0' ||
      echo "    (host pods of the ideal client still there after 300 s)"
  done
  IDEAL_S=$best
}

# pod_template SRC OUT [NODE]: a --pod-template for vcluster-loadgen from the pod in file SRC ("bare": the
# load generator's own pod): the server's fields dropped, the name @NAME@, the label loadgen=@PREFIX@, bound
# to NODE if one is given (else left to the scheduler).
pod_template() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
src, out, node = sys.argv[1:4]
if src == "bare":
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "@NAME@"},
           "spec": {"containers": [{"name": "c", "image": "nginx",
                                    "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}],
                    "terminationGracePeriodSeconds": 5}}
else:
    pod = json.load(open(src))
    for k in ("namespace", "uid", "resourceVersion", "creationTimestamp", "ownerReferences", "generateName",
              "managedFields", "selfLink", "generation"):
        pod["metadata"].pop(k, None)
    pod.pop("status", None)
    pod["spec"].pop("nodeName", None)
pod["metadata"]["name"] = "@NAME@"
pod["metadata"].setdefault("labels", {})["loadgen"] = "@PREFIX@"
if node:
    pod["spec"]["nodeName"] = node
json.dump(pod, open(out, "w"), separators=(",", ":"))
PY
}

# capture_host_pod NAME: the host pod the syncer made for virtual pod NAME, as the translated limit's
# template (OUT/host-pod-template.json); the first capture stays.
capture_host_pod() {
  [ -s "$OUT/host-pod-template.json" ] && return 0
  { hk -n "$HNS" get pod "$1$SUFFIX" -o json >"$OUT/host-pod.json" &&
    pod_template "$OUT/host-pod.json" "$OUT/host-pod-template.json"; } 2>/dev/null ||
    rm -f "$OUT/host-pod-template.json"
}

### 6b. The limit for the pods the syncer must create: the same burst straight on the host API server, each
# pod the syncer's translation of a bench pod (captured from the burst or the waiting phase), so that the
# translation's own size (vcluster's annotations, labels, variables, DNS config) is in the limit too.
phase_limit_translated() {
  if [ -n "${HOST_POD_TEMPLATE:-}" ] && [ ! -s "$OUT/host-pod-template.json" ]; then
    cp "$HOST_POD_TEMPLATE" "$OUT/host-pod-template.json" || return 1
  fi
  [ -s "$OUT/host-pod-template.json" ] || { echo "    (no synced host pod was captured; no translated limit)"; return 0; }
  say "limit, translated pods: $PODS of the syncer's host pods created directly on the host API server, $CONN connections"
  local m f=$OUT/limit-translated.out lt
  m=$(cpu_marks)
  "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix lt --pods "$PODS" \
    --pod-template "$OUT/host-pod-template.json" --until created,running | tee "$f" | sed -u 's/^/    /'
  echo "    $(cpu_delta "$m")"
  lt=$(result "$f" created_s)
  row "limit, translated pods: $PODS of the syncer's host pods created on the host API server ($(wc -c <"$OUT/host-pod-template.json") B each)" \
    "$(fmt "$lt") s" "$(ratio "$lt" "$LIMIT_S")× the limit's bare pods; all Running $(fmt "$(result "$f" running_s)") s"
  [ -n "$BURST_S" ] && row "burst to host ÷ translated limit" "$(ratio "$BURST_S" "$lt")×" ""
  [ -n "$WAITING_S" ] && row "waiting to host ÷ translated limit" "$(ratio "$WAITING_S" "$lt")×" ""
  "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix lt --pods "$PODS" \
    --action delete --until gone >"$OUT/limit-translated-delete.out"
}

### 1. Burst, 3. memory (pods only), 5. cost per lifecycle
BURST_S=""
phase_burst() {
  local sc T="" i=0
  for sc in $SYNC_CONNS; do
    i=$((i + 1))
    (($(wc -w <<<"$SYNC_CONNS") > 1)) && T=-$i-c$sc
    SYNC_CONN=$sc burst_pass
  done
}
# One burst: its files are OUT/burst$T.*; with several --syncer-connections its rows name the count.
burst_pass() {
  local L=""
  [ -n "$T" ] && L=" [syncer $SYNC_CONN conn.]"
  say "burst: $PODS bare pods created in the virtual cluster at once, loadgen $CONN connections, syncer $SYNC_CONN per API server"
  start_syncer syncer-burst$T
  sleep 2
  snap burst$T-idle
  local idle_rss m
  idle_rss=$(mval "$OUT/burst$T-idle.metrics" process_resident_memory_bytes)
  snap burst$T-0
  m=$(cpu_marks)
  local perf_pid=""
  if ((PERF)) && command -v perf >/dev/null; then
    perf record -F "${PERF_FREQ:-499}" --call-graph dwarf,16384 -p "$SYNCER_PID" -o "$OUT/perf-burst$T.data" >"$OUT/perf.log" 2>&1 &
    perf_pid=$!
  fi
  rm -f "$OUT/burst$T.timeline" "$OUT/burst$T.timeline.stop"
  sampler "$OUT/burst$T.timeline" &
  local sampler_pid=$!
  lg burst$T --prefix b --pods "$PODS" --until host-exist,running
  touch "$OUT/burst$T.timeline.stop"
  wait "$sampler_pid"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid"; fi
  echo "    $(cpu_delta "$m")" | tee "$OUT/burst$T.cpu"
  settle
  snap burst$T-1
  BURST_S=$(result "$OUT/burst$T.out" host_exist_s)
  row "burst: $PODS virtual pods → all on the host$L" "$(fmt "$BURST_S") s" \
    "$(result "$OUT/burst$T.out" host_exist_rate) pods/s; virtual creates answered in $(fmt "$(result "$OUT/burst$T.out" answered_s)") s"
  row "burst: → all Running in the virtual cluster$L" "$(fmt "$(result "$OUT/burst$T.out" running_s)") s" \
    "$(result "$OUT/burst$T.out" running_rate) pods/s"
  row "burst: per-pod create → host (p50 / p99)$L" \
    "$(fmt "$(result "$OUT/burst$T.out" lat_host_p50)") / $(fmt "$(result "$OUT/burst$T.out" lat_host_p99)") s" ""
  [ -n "$LIMIT_S" ] && row "**headline: burst to host ÷ limit**$L" "**$(ratio "$BURST_S" "$LIMIT_S")×**" \
    "to Running: $(ratio "$(result "$OUT/burst$T.out" running_s)" "$LIMIT_RUN_S")× the direct create → Running"
  [ -n "$IDEAL_S" ] && row "burst to host ÷ ideal client (the syncer's own overhead)$L" \
    "$(ratio "$BURST_S" "$IDEAL_S")×" "ideal client $(fmt "$IDEAL_S") s for the same requests"
  row "burst: syncer queue and request rate$L" "$(timeline_summary "$OUT/burst$T.timeline")" "sampled every 0.5 s (OUT/burst$T.timeline)"
  row "burst: syncer CPU$L" "$(awk '{for (i = 1; i <= NF; i++) if ($i == "syncer") {v = $(i+1); sub(",", "", v); print v}}' "$OUT/burst$T.cpu") s" \
    "$(sed 's/^ *CPU s: //' "$OUT/burst$T.cpu")"

  say "memory: $PODS synced pods"
  # How much of a cached pod is metadata.managedFields (kept by the informers as the API server sends it).
  local mf
  mf=$( { vk -n "$VNS" get pod b-0 -o json --show-managed-fields; echo; hk -n "$HNS" get pod "b-0$SUFFIX" -o json --show-managed-fields; } 2>/dev/null | python3 -c '
import json, sys
dec = json.JSONDecoder(); text = sys.stdin.read().strip(); out = []
while text:
    obj, end = dec.raw_decode(text); text = text[end:].strip()
    whole = len(json.dumps(obj, separators=(",", ":")))
    mf = len(json.dumps(obj["metadata"].get("managedFields", []), separators=(",", ":")))
    out.append("%d B, managedFields %d B (%.0f%%)" % (whole, mf, 100.0 * mf / whole))
print("virtual pod " + out[0] + "; host pod " + out[1])' 2>/dev/null)
  echo "    one pod's JSON: $mf"
  local f=$OUT/burst$T-1.metrics rss objs bytes
  rss=$(mval "$f" process_resident_memory_bytes)
  objs=$(cached_objects "$f")
  bytes=$(awk '$1 ~ /^vcluster_syncer_cache_bytes\{/ {s += $2} END {print s + 0}' "$f")
  grep -E '^vcluster_syncer_cache_(objects|bytes)' "$f" | sed -u 's/^/    /'
  row "memory: syncer RSS idle (peak)$L" "$(rss_peak "$OUT/burst$T-idle.metrics")" ""
  row "memory: RSS with $PODS pods synced (peak)$L" "$(rss_peak "$f")" \
    "$objs cached objects, $(awk -v b="$bytes" 'BEGIN {printf "%.1f MiB", b/1048576}') of JSON"
  row "memory: bytes per cached object$L" "$(awk -v b="$bytes" -v o="$objs" 'BEGIN {printf "%.0f B JSON", o ? b/o : 0}')" \
    "RSS growth per object $(awk -v r="$rss" -v i="$idle_rss" -v o="$objs" 'BEGIN {printf "%.0f B", o ? (r-i)/o : 0}'); ${mf:-?}"
  row "memory: heap in use / freed but kept, with $PODS pods$L" "$(heap "$f")" "glibc mallinfo2; RSS minus heap in use is code, stacks and fragmentation"

  capture_host_pod "b-0"
  say "cost: deleting the $PODS pods through the syncer"
  lg burst$T-delete --action delete --prefix b --pods "$PODS" --until gone,host-gone
  settle
  snap burst$T-2
  row "delete: $PODS virtual pods → all gone on both sides$L" "$(fmt "$(result "$OUT/burst$T-delete.out" gone_s)") s" \
    "host copies gone at $(fmt "$(result "$OUT/burst$T-delete.out" host_gone_s)") s"
  # Requests per pod lifecycle, by side, verb and code, from the /metrics deltas.
  awk -v n="$PODS" '
    FNR == 1 {file++}
    $1 ~ /^vcluster_syncer_api_requests_total\{/ {
      match($1, /side="[a-z]+"/); side = substr($1, RSTART + 6, RLENGTH - 7)
      match($1, /verb="[a-z]+"/); verb = substr($1, RSTART + 6, RLENGTH - 7)
      match($1, /code="[0-9]+"/); code = substr($1, RSTART + 6, RLENGTH - 7)
      k = side " " verb " " code
      if (file == 1) v[k] -= $2; else v[k] += $2
    }
    END { for (k in v) if (v[k] != 0) printf "%s %d %.3f\n", k, v[k], v[k] / n }' \
    "$OUT/burst$T-0.metrics" "$OUT/burst$T-2.metrics" | sort >"$OUT/cost$T.txt"
  sed 's/^/    per pod: /' "$OUT/cost$T.txt"
  local cost
  cost=$(awk -v n="$PODS" '
    {t[$1] += $5; sv[$1 " " $2] += $5; if ($3 !~ /^2/) { bad[$1] += $5; badv[$1 " " $2 " " $3] = $5 } }
    END {
      for (k in sv) out = out sprintf("%s %s %.2f, ", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), sv[k])
      for (k in badv) b = b sprintf("%s %.2f, ", k, badv[k])
      printf "%stotal host %.2f, virtual %.2f; of which refused (non-2xx): %s", out, t["host"], t["virtual"], (b == "" ? "none" : substr(b, 1, length(b) - 2))
    }' "$OUT/cost$T.txt")
  local w
  w=$(( $(writes "$OUT/burst$T-2.metrics") - $(writes "$OUT/burst$T-0.metrics") ))
  local rec
  rec=$(( $(mval "$OUT/burst$T-2.metrics" vcluster_syncer_reconciles_total) - $(mval "$OUT/burst$T-0.metrics" vcluster_syncer_reconciles_total) ))
  row "cost: API requests per pod (create → Running → delete)$L" \
    "$(awk -v w="$w" -v n="$PODS" 'BEGIN {printf "%.2f writes", w / n}')" \
    "$cost; $(awk -v r="$rec" -v n="$PODS" 'BEGIN {printf "%.1f", r / n}') reconciles per pod"
  stop_syncer
}

### 4. Restart with N pods (each with its own ConfigMap and Secret) synced; 3. memory after a restart
phase_restart() {
  say "restart: $PODS pods, each with a ConfigMap and a Secret, synced; then the syncer restarted"
  start_syncer syncer-restart-a
  sleep 2
  local idle_rss
  idle_rss=$(metric "$URL" process_resident_memory_bytes)
  lg restart-create --prefix r --pods "$PODS" --configmaps --secrets --until host-exist,running
  row "burst with a ConfigMap + Secret per pod: all on the host" \
    "$(fmt "$(result "$OUT/restart-create.out" host_exist_s)") s" \
    "all Running $(fmt "$(result "$OUT/restart-create.out" running_s)") s; $PODS × 3 virtual creates answered in $(fmt "$(result "$OUT/restart-create.out" answered_s)") s"
  settle
  snap restart-before
  row "memory: $PODS pods + ConfigMaps + Secrets synced, before the restart (peak)" \
    "$(rss_peak "$OUT/restart-before.metrics")" "$(cached_objects "$OUT/restart-before.metrics") cached objects; idle $(awk -v a="$idle_rss" 'BEGIN {printf "%.1f MiB", a/1048576}')"
  stop_syncer
  local m
  m=$(cpu_marks)
  start_syncer syncer-restart-b
  local ready=$READY_S t0=$SECONDS
  settle
  snap restart
  local f=$OUT/restart.metrics
  echo "    $(cpu_delta "$m")"
  row "restart: syncer spawn → /readyz, $PODS pods synced" "${ready} s" \
    "settled (queue empty, no reconcile for 2 s) $((SECONDS - t0)) s after ready; $(mval "$f" vcluster_syncer_reconciles_total) reconciles"
  row "restart: write requests (host + virtual)" "$(writes "$f")" \
    "2xx $(writes "$f" 2); creates $(mval "$f" 'vcluster_syncer_writes_total{kind="create"}'), updates $(mval "$f" 'vcluster_syncer_writes_total{kind="update"}'), status $(mval "$f" 'vcluster_syncer_writes_total{kind="status"}'), deletes $(mval "$f" 'vcluster_syncer_writes_total{kind="delete"}')"
  local rss objs bytes
  rss=$(mval "$f" process_resident_memory_bytes)
  objs=$(cached_objects "$f")
  bytes=$(awk '$1 ~ /^vcluster_syncer_cache_bytes\{/ {s += $2} END {print s + 0}' "$f")
  grep -E '^vcluster_syncer_cache_(objects|bytes)' "$f" | sed -u 's/^/    /'
  row "memory after restart: $PODS pods + ConfigMaps + Secrets (peak)" "$(rss_peak "$f")" \
    "$objs cached objects, $(awk -v b="$bytes" -v o="$objs" 'BEGIN {printf "%.1f MiB JSON, %.0f B/object", b/1048576, o ? b/o : 0}'), RSS growth over idle $(awk -v r="$rss" -v i="$idle_rss" -v o="$objs" 'BEGIN {printf "%.0f B/object", o ? (r-i)/o : 0}')"
  row "memory after restart: heap in use / freed but kept" "$(heap "$f")" ""
  drain r --configmaps --secrets
  stop_syncer
}

### 2. Steady rate
phase_steady() {
  say "steady: $RATE pods/s for $STEADY_S s ($STEADY_PODS pods)"
  start_syncer syncer-steady
  lg steady --prefix s --pods "$STEADY_PODS" --rate "$RATE" --until host-exist,running
  local f=$OUT/steady.out
  row "steady $RATE/s: create → on the host, p50 / p99" \
    "$(fmt "$(result "$f" lat_host_p50)") / $(fmt "$(result "$f" lat_host_p99)") s" \
    "max $(fmt "$(result "$f" lat_host_max)") s; local clock, from the create answer or first watch event"
  row "steady $RATE/s: create → Running in the virtual cluster, p50 / p99" \
    "$(fmt "$(result "$f" lat_running_p50)") / $(fmt "$(result "$f" lat_running_p99)") s" \
    "host side Running p50 $(fmt "$(result "$f" lat_host_running_p50)") s (scheduler + nodesim)"
  DRAIN_N=$STEADY_PODS drain s
  stop_syncer
}

### 1b. Waiting pods: the pods exist before the syncer starts (vcluster's "1,000 waiting pods" figure)
WAITING_S=""
phase_waiting() {
  say "waiting: $PODS pods created in the virtual cluster while no syncer runs; then the syncer starts"
  lg waiting-create --prefix w --pods "$PODS" --until exist >/dev/null
  # The watcher starts first (its informers list both namespaces); the clock starts at the syncer's spawn.
  lg waiting --action none --prefix w --pods "$PODS" --until host-exist,running >/dev/null &
  local lgpid=$! m spawn
  sleep 2
  m=$(cpu_marks)
  spawn=$(date +%s.%N)
  rm -f "$OUT/waiting.timeline" "$OUT/waiting.timeline.stop"
  start_syncer syncer-waiting
  sampler "$OUT/waiting.timeline" &
  local sampler_pid=$!
  wait "$lgpid"
  touch "$OUT/waiting.timeline.stop"
  wait "$sampler_pid"
  echo "    $(cpu_delta "$m")" | tee "$OUT/waiting.cpu"
  sed 's/^/    /' "$OUT/waiting.out"
  local f=$OUT/waiting.out
  WAITING_S=$(awk -v e="$(result "$f" host_exist_epoch)" -v d="$spawn" 'BEGIN {if (e == "" || e == "NA") print "NA"; else printf "%.3f", e - d}')
  row "waiting: syncer spawn → all $PODS waiting pods on the host" "$(fmt "$WAITING_S") s" \
    "ready $READY_S s after spawn; $(timeline_summary "$OUT/waiting.timeline")"
  row "waiting: syncer spawn → all Running in the virtual cluster" \
    "$(awk -v e="$(result "$f" running_epoch)" -v d="$spawn" 'BEGIN {if (e == "" || e == "NA") print "NA"; else printf "%.2f s", e - d}')" ""
  [ -n "$LIMIT_S" ] && row "**headline (waiting): waiting pods to host ÷ limit**" "**$(ratio "$WAITING_S" "$LIMIT_S")×**" \
    "the limit's pod creates $(fmt "$LIMIT_S") s; with a Secret per pod $(fmt "$(result "$OUT/limit-secrets.out" created_s)") s"
  row "waiting: CPU" "$(awk '{for (i = 1; i <= NF; i++) if ($i == "syncer") {v = $(i+1); sub(",", "", v); print v}}' "$OUT/waiting.cpu") s syncer" \
    "$(sed 's/^ *CPU s: //' "$OUT/waiting.cpu")"
  capture_host_pod "w-0"
  drain w
  stop_syncer
}

### 7. The DNS Service appears after the syncer started
phase_dnslate() {
  say "dns-late: syncer started without the DNS Service; $PODS pods; the DNS Service ${DNS_DELAY} s after the last create"
  hk -n "$HNS" delete service "kube-dns-x-kube-system-x-$VC" >/dev/null
  start_syncer syncer-dnslate
  lg dnslate --prefix d --pods "$PODS" --until host-exist,running >/dev/null &
  local lgpid=$!
  poll 300 'grep -q "^created .*held" "$OUT/dnslate.out" 2>/dev/null'
  sleep "$DNS_DELAY"
  local before dns_t
  before=$(host_pods)
  dns_t=$(date +%s.%N)
  dns_service
  wait "$lgpid"
  sed 's/^/    /' "$OUT/dnslate.out"
  local f=$OUT/dnslate.out e
  e=$(result "$f" host_exist_epoch)
  row "dns-late: DNS Service created → all $PODS on the host" \
    "$(awk -v e="$e" -v d="$dns_t" 'BEGIN {if (e == "" || e == "NA") print "NA"; else printf "%.2f s", e - d}')" \
    "$before host pods before it; burst alone $(fmt "$BURST_S") s; waits $(metric "$URL" 'vcluster_syncer_outcomes_total{outcome="wait"}'), retries $(metric "$URL" 'vcluster_syncer_outcomes_total{outcome="retry"}')"
  row "dns-late: DNS Service created → all Running" \
    "$(awk -v e="$(result "$f" running_epoch)" -v d="$dns_t" 'BEGIN {if (e == "" || e == "NA") print "NA"; else printf "%.2f s", e - d}')" ""
  drain d
  stop_syncer
}

### What the pod's size costs the host API server: the limit's bare pod, the seed's nginx pod as the tenant
### writes it (with the kube-api-access volume admission adds), and the pods plugin's translation of that pod
### (both from the plugin's golden files), each created N times straight on the host. Every pod is bound to a
### node that does not exist, so neither the scheduler nor nodesim adds work; they are force-deleted after.
### Two rounds, to see the order's effect.
phase_podsize() {
  local golden=$ROOT/tests/plugins/pods/golden kind f t round src
  local -A base=()
  for kind in bare virtual host; do
    t=$OUT/podsize-$kind.json
    src=$golden/nginx.$kind.json
    [ "$kind" = bare ] && src=bare
    pod_template "$src" "$t" podsize-nowhere || { echo "podsize: cannot make $t" >&2; return 1; }
  done
  for round in 1 2; do
    for kind in bare virtual host; do
      t=$OUT/podsize-$kind.json
      say "pod size, round $round: $PODS $kind pods created directly on the host API server, $CONN connections"
      f=$OUT/podsize-$kind-$round.out
      "$LOADGEN" --kubeconfig "$KC_host" --namespace bench-limit --connections "$CONN" --prefix "z$kind" \
        --pods "$PODS" --pod-template "$t" --until created | tee "$f" | sed -u 's/^/    /'
      [ -n "${base[$round]:-}" ] || base[$round]=$(result "$f" created_s)
      row "pod size, round $round: $PODS $kind pods on the host API server ($(wc -c <"$t") B each)" \
        "$(fmt "$(result "$f" created_s)") s" "$(ratio "$(result "$f" created_s)" "${base[$round]}")× the bare pod"
      # One DeleteCollection with grace 0: no kubelet will ever confirm these pods' deletion.
      hk delete --raw "/api/v1/namespaces/bench-limit/pods?labelSelector=loadgen%3Dz$kind&gracePeriodSeconds=0" \
        >/dev/null 2>&1
      poll 120 'test "$(hk -n bench-limit get pods -l loadgen=z$kind -o name 2>/dev/null | wc -l)" = 0' ||
        echo "    (pods z$kind still there after 120 s)"
    done
  done
}

case $SCENARIO in
  podsize) phase_podsize ;;
  all) phase_limit; phase_burst; phase_waiting; phase_limit_translated; phase_restart; phase_steady; phase_dnslate ;;
  limit) phase_limit ;;
  limits) LIMIT_SECRETS=0 IDEAL_IN_FLIGHT=" " phase_limit; phase_limit_translated; LIMIT_SECRETS=0 IDEAL_IN_FLIGHT=" " phase_limit ;;
  burst) phase_limit; phase_burst ;;
  waiting) phase_limit; phase_waiting; phase_limit_translated ;;
  headline) phase_limit; phase_burst; phase_waiting; phase_limit_translated ;;
  cost) phase_burst ;;
  memory) phase_burst; phase_restart ;;
  restart) phase_restart ;;
  steady) phase_steady ;;
  dns-late) phase_burst; phase_dnslate ;;
esac

{
  echo
  echo "vcluster-syncer benchmarks: $PODS pods, $CONN connections, $NODES simulated nodes; plugins ${PLUGINS//$BUILD\//}"
  echo "niceness $(ps -o ni= -p $$ | tr -d ' ')$( ((PIN)) && echo '; pinned: host control plane on CPU 1, the rest on CPU 0'); machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(date -u +%FT%TZ)"
  echo
  echo "| figure | value | notes |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/table.md"
echo "# logs, metrics snapshots and loadgen outputs: $OUT"
}
main; exit $?
