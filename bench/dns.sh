#!/usr/bin/env bash
# The DNS server's benchmark (core/dns) with Debian's dnsperf on loopback: a cluster holding 1,000 Services
# (900 ClusterIP, 100 headless) and 10,000 pods' worth of Endpoints (100 addresses with hostnames per headless
# Service), created through the API in bulk; then queries/s at saturation and p50/p99 latency at a fixed
# rate against vcluster-dns (standalone, its own informers, against the bed's host cluster) and, unless
# --no-syncer, against vcluster-syncer's --dns-address listener (the same server on the syncer's loop, fed
# from the engine's caches of the virtual cluster), and the memory the data and the DNS server add. Prints
# one table; asserts nothing. Figures measured here: core/dns/README.md, "Figures".
#
# Usage: bench/dns.sh [--build DIR] [--seconds 10] [--rate 20000] [--clients 8] [--no-syncer] [--plugin SO]
#                     [--nice N] [--out DIR]
#   --build DIR     the build directory with core/dns/vcluster-dns (and core/syncer/vcluster-syncer,
#                   tests/plugins/cmsync/libvcp-cmsync.so for the syncer rows); default build
#   --seconds S     each saturation run lasts S seconds (default 10)
#   --rate R        the latency runs send R queries/s (default 20000), below saturation: latency, not queueing
#   --clients C     dnsperf clients (sockets) of the saturation runs (default 8), 100 queries in flight each
#   --no-syncer     only the standalone server
#   --plugin SO     the syncer's plugin (default the cmsync test plugin, which watches no Service); with
#                   plugins/services/libvcp-services.so the syncer holds the Service and Endpoints caches
#                   anyway (and copies the 1,000 Services to the host first), so the DNS adds only its zone
#   --nice N        run the server and dnsperf at this niceness, e.g. -10 on a machine shared with other work
#                   (root only for negative values); the clusters and the data stay at the default
#   --out DIR       keep the logs, query files and dnsperf outputs there (default: a new /tmp/vc-dnsbench.* dir)
# With 2 CPUs or more the server runs on CPU 0 and dnsperf on CPU 1 (taskset): "queries/s on one core".
# The query mix (one file per cluster, 10,000 lines, shuffled): 40% A of a ClusterIP Service, 30% A of a
# headless endpoint's hostname, 10% SRV of a named port, 10% PTR of a ClusterIP, 10% NXDOMAIN.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../tests/integration/lib.sh"

BUILD=$ROOT/build SECONDS_RUN=10 RATE=20000 CLIENTS=8 WITH_SYNCER=1 OUT="" NICE=0 PLUGIN=""
while (($#)); do
  case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --no-syncer) WITH_SYNCER=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --plugin) PLUGIN=$(realpath "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "dns.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/vc-dnsbench.XXXXXX")
mkdir -p "$OUT"
DNS=$BUILD/core/dns/vcluster-dns
SYNCER=$BUILD/core/syncer/vcluster-syncer
CMSYNC=${PLUGIN:-$BUILD/tests/plugins/cmsync/libvcp-cmsync.so}
[ -x "$DNS" ] || { echo "dns.sh: $DNS is missing; build it: ninja -C $BUILD core/dns/vcluster-dns" >&2; exit 1; }
if ((WITH_SYNCER)) && { [ ! -x "$SYNCER" ] || [ ! -e "$CMSYNC" ]; }; then
  echo "dns.sh: $SYNCER or $CMSYNC is missing (ninja -C $BUILD core/syncer/vcluster-syncer tests/plugins/cmsync/libvcp-cmsync.so); or --no-syncer" >&2
  exit 1
fi
for t in dnsperf dig kubectl; do command -v "$t" >/dev/null || { echo "dns.sh: $t is missing (scripts/apt-deps.sh)" >&2; exit 1; }; done
SERVER_CPU=(nice -n "$NICE") PERF_CPU=(nice -n "$NICE")
if (($(nproc) >= 2)); then SERVER_CPU+=(taskset -c 0) PERF_CPU+=(taskset -c 1); fi
NS=bench
CLUSTERIP=900 HEADLESS=100 ADDRS=100

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
d() { dig @127.0.0.1 -p "$1" +time=2 +tries=1 +short "${@:2}" 2>/dev/null; }

# ---- clusters and data ----------------------------------------------------------------------------------
start_cluster host host
((WITH_SYNCER)) && start_cluster virt virtual
# shellcheck disable=SC2154 # KC_host, KC_virt are set by start_cluster
CLUSTERS=("$KC_host")
((WITH_SYNCER)) && CLUSTERS+=("$KC_virt")

# The objects, in 4 files created in parallel (kubectl create sends one POST per object).
gen_objects() {
  local part=$1 i j
  for ((i = part; i < CLUSTERIP; i += 4)); do
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc-%d","namespace":"%s"},"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP"}]}}\n' "$i" "$NS"
  done
  for ((i = part; i < HEADLESS; i += 4)); do
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"hl-%d","namespace":"%s"},"spec":{"clusterIP":"None","ports":[{"name":"http","port":80,"protocol":"TCP"}]}}\n' "$i" "$NS"
    printf '{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"hl-%d","namespace":"%s"},"subsets":[{"ports":[{"name":"http","port":80,"protocol":"TCP"}],"addresses":[' "$i" "$NS"
    for ((j = 0; j < ADDRS; j++)); do
      ((j)) && printf ','
      printf '{"ip":"10.%d.%d.%d","hostname":"h-%d"}' $((100 + i / 250)) $((i % 250)) $((j + 1)) "$j"
    done
    printf ']}]}\n'
  done
}
for p in 0 1 2 3; do gen_objects "$p" >"$OUT/objects-$p.json"; done
create_data() {
  local kc=$1 p pids=()
  kubectl --kubeconfig "$kc" create namespace "$NS" >/dev/null
  for p in 0 1 2 3; do
    kubectl --kubeconfig "$kc" create -f "$OUT/objects-$p.json" >/dev/null 2>>"$OUT/create-errors.log" &
    pids+=($!)
  done
  local rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

# query_file KUBECONFIG FILE: the mix, with the PTRs of that cluster's ClusterIPs.
query_file() {
  local kc=$1 f=$2 i
  kubectl --kubeconfig "$kc" -n "$NS" get services -o jsonpath='{range .items[*]}{.spec.clusterIP}{"\n"}{end}' \
    | grep -v None | head -1000 >"$OUT/ips.txt"
  {
    for i in $(seq 0 3999); do echo "svc-$((i % CLUSTERIP)).$NS.svc.cluster.local A"; done
    for i in $(seq 0 2999); do echo "h-$((i % ADDRS)).hl-$((i % HEADLESS)).$NS.svc.cluster.local A"; done
    for i in $(seq 0 999); do echo "_http._tcp.svc-$((i % CLUSTERIP)).$NS.svc.cluster.local SRV"; done
    awk -F. '{print $4"."$3"."$2"."$1".in-addr.arpa PTR"}' "$OUT/ips.txt" | head -1000
    for i in $(seq 0 999); do echo "nosuch-$i.$NS.svc.cluster.local A"; done
  } | shuf --random-source=<(yes) >"$f"
}

# cpu_ticks PID: user + system CPU time of the process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
# perf PORT QUERIES LABEL SERVER_PID: saturation then latency; sets QPS, P50, P99 (ms), LOST, and PER_CPU_S:
# the queries answered per second of the server's own CPU time during the saturation run (what one core
# would answer, whatever else the machine runs).
perf() {
  local port=$1 q=$2 label=$3 pid=$4 c0 c1
  LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  c0=$(cpu_ticks "$pid")
  "${PERF_CPU[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$q" -l "$SECONDS_RUN" -c "$CLIENTS" -q $((CLIENTS * 100)) \
    >"$OUT/dnsperf-$label-sat.txt" 2>&1
  c1=$(cpu_ticks "$pid")
  QPS=$(awk '/Queries per second/ {printf "%d", $4}' "$OUT/dnsperf-$label-sat.txt")
  PER_CPU_S=$(awk -v n="$(awk '/Queries completed/ {print $3}' "$OUT/dnsperf-$label-sat.txt")" -v t=$((c1 - c0)) -v hz="$TCK" \
    'BEGIN {if (t > 0) printf "%d (%.0f%% of a core busy)", n / (t / hz), 100 * t / hz / '"$SECONDS_RUN"'; else print "?"}')
  LOST=$(awk '/Queries lost/ {print $3}' "$OUT/dnsperf-$label-sat.txt")
  local v0 v1
  v0=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "/proc/$pid/status")
  "${PERF_CPU[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$q" -l 5 -Q "$RATE" -v >"$OUT/dnsperf-$label-lat.txt" 2>&1
  v1=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "/proc/$pid/status")
  # How often the server was preempted (by other work on its CPU) during the latency run.
  PREEMPT=$((v1 - v0))
  awk '$1 == ">" {print $NF}' "$OUT/dnsperf-$label-lat.txt" | sort -g >"$OUT/lat-$label.txt"
  local n
  n=$(wc -l <"$OUT/lat-$label.txt")
  P50=$(awk -v n="$n" 'NR == int(n * 0.50) + 1 {printf "%.3f", $1 * 1000}' "$OUT/lat-$label.txt")
  P99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 {printf "%.3f", $1 * 1000}' "$OUT/lat-$label.txt")
  RCODES=$(sed -n 's/^ *Response codes: *//p' "$OUT/dnsperf-$label-sat.txt")
}

ROWS=()
LOAD="?"
row() { ROWS+=("$(printf '%-44s %s' "$1" "$2")"); }

# ---- standalone ---------------------------------------------------------------------------------------
PORT=$(free_port)
start_bg "$OUT/vcluster-dns.log" "${SERVER_CPU[@]}" "$DNS" --address "127.0.0.1:$PORT" --kubeconfig "$KC_host" --upstream none
DNS_PID=$LAST_PID
poll 30 "grep -qs 'caches synced' '$OUT/vcluster-dns.log'" || { echo "dns.sh: vcluster-dns did not sync" >&2; exit 1; }
sleep 1
RSS0=$(rss_kib "$DNS_PID")
t0=$(date +%s.%N)
cpids=()
for kc in "${CLUSTERS[@]}"; do
  create_data "$kc" &
  cpids+=($!)
done
for p in "${cpids[@]}"; do wait "$p" || echo "dns.sh: some objects were not created: $(head -3 "$OUT/create-errors.log")" >&2; done
t1=$(date +%s.%N)
row "objects created (each cluster, 4 kubectl)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d Services + %d Endpoints in %.1f s", '$CLUSTERIP' + '$HEADLESS', '$HEADLESS', b - a}')"
last_hl=$((HEADLESS - 1))
poll 60 "[ -n \"\$(d $PORT svc-$((CLUSTERIP - 1)).$NS.svc.cluster.local A)\" ] && [ -n \"\$(d $PORT h-$((ADDRS - 1)).hl-$last_hl.$NS.svc.cluster.local A)\" ]" \
  || { echo "dns.sh: vcluster-dns does not answer the last objects" >&2; exit 1; }
sleep 2
RSS1=$(rss_kib "$DNS_PID")
row "vcluster-dns RSS, empty cluster" "$(mib "$RSS0") MiB"
row "vcluster-dns RSS with the data" "$(mib "$RSS1") MiB (+$(mib $((RSS1 - RSS0))) MiB: informer caches and zone)"
query_file "$KC_host" "$OUT/queries-host.txt"
perf "$PORT" "$OUT/queries-host.txt" standalone "$DNS_PID"
row "standalone: queries/s (saturation)" "$QPS (lost $LOST; $RCODES)"
row "standalone: queries per CPU-second" "$PER_CPU_S"
row "standalone: p50 / p99 at $RATE q/s" "$P50 / $P99 ms ($PREEMPT preemptions of the server in 5 s)"
SA_QPS=$QPS SA_PER_CPU=$PER_CPU_S
RSS2=$(rss_kib "$DNS_PID")
row "vcluster-dns RSS after the runs" "$(mib "$RSS2") MiB"
stop_pid "$DNS_PID"

# ---- the syncer's listener ------------------------------------------------------------------------------
if ((WITH_SYNCER)); then
  VC=dnsbench HNS=vcluster-dnsbench
  kubectl --kubeconfig "$KC_host" create namespace "$HNS" >/dev/null
  port=$(free_port)
  # shellcheck disable=SC2034 # URL is read by lib.sh's helpers
  URL=http://127.0.0.1:$port
  # The syncer with the cmsync plugin only (it watches no Service): without DNS, then with it; what the second
  # adds is the DNS server with the engine's Service and Endpoints caches it asks for.
  SYNCER_BIN=$SYNCER
  SYNCER=("${SERVER_CPU[@]}" "$SYNCER_BIN")
  run_syncer() {
    local name=$1
    shift
    start_bg "$OUT/syncer-$name.log" "${SYNCER[@]}" --name "$VC" --target-namespace "$HNS" \
      --virtual-kubeconfig "$KC_virt" --host-kubeconfig "$KC_host" --plugins "$CMSYNC" \
      --status-address "127.0.0.1:$port" "$@"
    SYNCER_PID=$LAST_PID
    poll 60 curl -sf "$URL/readyz" -o /dev/null || return 1
    # A plugin with work to do (the services plugin copies the Services to the host): until it is done.
    syncer_quiet 180
  }
  run_syncer nodns || { echo "dns.sh: the syncer did not become ready: $(tail -3 "$OUT/syncer-nodns.log")" >&2; exit 1; }
  sleep 3
  S0=$(rss_kib "$SYNCER_PID")
  stop_pid "$SYNCER_PID"
  SPORT=$(free_port)
  run_syncer dns --dns-address "127.0.0.1:$SPORT" --dns-upstream none \
    || { echo "dns.sh: the syncer with DNS did not become ready: $(tail -3 "$OUT/syncer-dns.log")" >&2; exit 1; }
  poll 60 "[ -n \"\$(d $SPORT svc-$((CLUSTERIP - 1)).$NS.svc.cluster.local A)\" ] && [ -n \"\$(d $SPORT h-$((ADDRS - 1)).hl-$last_hl.$NS.svc.cluster.local A)\" ]" \
    || { echo "dns.sh: the syncer's DNS does not answer the last objects" >&2; exit 1; }
  sleep 3
  S1=$(rss_kib "$SYNCER_PID")
  row "syncer RSS without --dns-address" "$(mib "$S0") MiB"
  row "syncer RSS with --dns-address" "$(mib "$S1") MiB (+$(mib $((S1 - S0))) MiB: what --dns-address adds)"
  query_file "$KC_virt" "$OUT/queries-virt.txt"
  perf "$SPORT" "$OUT/queries-virt.txt" syncer "$SYNCER_PID"
  row "syncer listener: queries/s (saturation)" "$QPS (lost $LOST; $RCODES)"
  row "syncer listener: queries per CPU-second" "$PER_CPU_S"
  row "syncer listener: p50 / p99 at $RATE q/s" "$P50 / $P99 ms ($PREEMPT preemptions of the syncer in 5 s)"
  row "syncer / standalone queries/s" "$(awk -v a="$QPS" -v b="$SA_QPS" 'BEGIN {printf "%.2f", a / b}')"
  row "syncer / standalone queries per CPU-second" "$(awk -v a="${PER_CPU_S%% *}" -v b="${SA_PER_CPU%% *}" 'BEGIN {if (b > 0) printf "%.2f", a / b}')"
  row "syncer DNS metrics: responses" "$(curl -sf "$URL/metrics" | awk '/^vcluster_syncer_dns_responses_total/ && $2 > 0 {sub(/vcluster_syncer_dns_responses_total/, ""); printf "%s=%s ", $1, $2}')"
  stop_pid "$SYNCER_PID"
fi

echo
echo "# load average before the last run: $LOAD"
echo "# bench/dns.sh: syncer plugin $(basename "$CMSYNC"); $((CLUSTERIP + HEADLESS)) Services, $((HEADLESS * ADDRS)) endpoint addresses; dnsperf -c $CLIENTS, ${SECONDS_RUN}s; server: ${SERVER_CPU[*]}; $(nproc) CPUs; out $OUT"
printf '%s\n' "${ROWS[@]}" | tee "$OUT/table.txt"
