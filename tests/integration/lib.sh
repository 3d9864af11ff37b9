# Shared helpers of the integration tests: checks with a summary line, polling with deadlines, and
# clusters/syncers that are always stopped (by PID) when the test exits, whatever happens.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
CLUSTER=$ROOT/tests/bed/cluster

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
summary() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
}
# poll SECONDS COMMAND...: true as soon as COMMAND succeeds, false when the deadline passes.
# poll SECONDS 'EXPRESSION': the one-string form is evaluated afresh on every try, so command
# substitutions in it ('test "$(count_pods)" = 3') are re-run; in the first form they would be
# expanded once, before polling starts.
poll() {
  local end=$((SECONDS + $1))
  shift
  while :; do
    if (($# == 1)); then eval "$1" && return 0; else "$@" && return 0; fi
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vc-it.XXXXXX")
_clusters=()
_pids=()
_cleanup() {
  local rc=$?
  local p c
  for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  for c in "${_clusters[@]}"; do "$CLUSTER" stop "$(basename "$c")" --dir "$c" >/dev/null 2>&1 || rc=1; done
  if ((rc != 0)) && [ -n "${KEEP_LOGS_ON_FAILURE:-}" ]; then echo "# logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_cluster NAME ROLE: starts a bed cluster under $WORK; sets KC_<NAME> to its kubeconfig.
start_cluster() { # start_cluster NAME ROLE [EXTRA cluster start FLAGS...]
  local name=$1 role=$2 dir=$WORK/$1
  shift 2
  _clusters+=("$dir")
  local kc
  kc=$("$CLUSTER" start "$name-$$" --role "$role" --dir "$dir" "$@") || { not_ok "start $role cluster $name"; summary; exit 1; }
  printf -v "KC_$name" '%s' "$kc"
}

# start_bg LOGFILE COMMAND...: starts a process in the background, tracked for cleanup; sets LAST_PID.
start_bg() {
  local logf=$1
  shift
  "$@" >"$logf" 2>&1 &
  LAST_PID=$!
  _pids+=("$LAST_PID")
}

# stop_pid PID: SIGTERM, wait for the exit; returns the process's exit code.
stop_pid() {
  kill -TERM "$1" 2>/dev/null
  wait "$1"
}

# metric URL NAME_WITH_LABELS: prints a Prometheus sample value (0 when absent).
metric() {
  curl -sf "$1/metrics" | awk -v k="$2" '$1 == k {print $2; found=1} END {if (!found) print 0}'
}

# free_port: a free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# equals WANT -- COMMAND...: COMMAND prints WANT. For poll, which must run the command on every attempt
# (`poll 10 test "$(cmd)" = x` would expand $(cmd) once).
equals() {
  local want=$1
  shift 2
  [ "$("$@")" = "$want" ]
}

# vcluster_dns_service KUBECONFIG HOST_NS VC: the virtual cluster's DNS Service as the services plugin names
# it in the host namespace (the pods plugin waits for its ClusterIP).
vcluster_dns_service() {
  cat <<YAML | kubectl --kubeconfig "$1" apply -f - >/dev/null
apiVersion: v1
kind: Service
metadata:
  name: kube-dns-x-kube-system-x-$3
  namespace: $2
spec:
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
YAML
}

# vcluster_host_services KUBECONFIG HOST_NS VC: what `vcluster create` puts in the host namespace: the
# namespace, the vcluster's own Service (its ClusterIP is what pods see as KUBERNETES_SERVICE_HOST) and the
# virtual DNS Service.
vcluster_host_services() {
  kubectl --kubeconfig "$1" create namespace "$2" >/dev/null
  kubectl --kubeconfig "$1" -n "$2" create service clusterip "$3" --tcp=443:8443 >/dev/null
  vcluster_dns_service "$@"
}

# syncer_up NAME PLUGINS [ARGS...]: starts $SYNCER for vcluster $VC (host namespace $HNS) between $KC_virt and
# $KC_host, logging to $WORK/syncer-NAME.log and serving /readyz and /metrics on 127.0.0.1:$port (the
# caller's free port, URL=http://127.0.0.1:$port), and waits until it is ready. Sets SYNCER_PID.
# VC_SYNCER_LOG_LEVEL=debug (with KEEP_LOGS_ON_FAILURE=1) keeps a failing run's reconcile-by-reconcile log.
syncer_up() {
  local name=$1 plugins=$2
  shift 2
  # shellcheck disable=SC2154 # VC, HNS, port, KC_* and SYNCER come from the calling test
  start_bg "$WORK/syncer-$name.log" "$SYNCER" --name "$VC" --target-namespace "$HNS" \
    --virtual-kubeconfig "$KC_virt" --host-kubeconfig "$KC_host" \
    --plugins "$plugins" --status-address "127.0.0.1:$port" ${VC_SYNCER_LOG_LEVEL:+--log-level "$VC_SYNCER_LOG_LEVEL"} "$@"
  SYNCER_PID=$LAST_PID
  poll 30 curl -sf "http://127.0.0.1:$port/readyz" -o /dev/null
}

# syncer_writes: the syncer's successful writes so far, both sides (from $URL/metrics).
syncer_writes() {
  curl -sf "$URL/metrics" | awk '$1 ~ /^vcluster_syncer_api_requests_total\{side="(host|virtual)",verb="(create|update|patch|delete)",code="2/ {s+=$2} END {print s+0}'
}

# syncer_quiet SECONDS: waits until the syncer's work queue is empty and it made no write for 2 s (the
# clusters may still be settling after the last check: a status or an Event that arrives during a restart
# is a change the restarted syncer must copy).
syncer_quiet() {
  local end=$((SECONDS + $1)) before after depth
  while ((SECONDS < end)); do
    before=$(syncer_writes)
    sleep 2
    after=$(syncer_writes)
    depth=$(curl -sf "$URL/metrics" | awk '$1 == "vcluster_syncer_queue_depth" {print $2}')
    [ "$before" = "$after" ] && [ "${depth:-1}" = 0 ] && return 0
  done
  return 1
}

# check_no_sanitizer_reports: one check that no syncer log ($WORK/syncer-*.log) holds an AddressSanitizer,
# LeakSanitizer or UndefinedBehaviorSanitizer report (they matter in a -Dsanitize=true build).
check_no_sanitizer_reports() {
  local pattern='runtime error\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer'
  if grep -q "$pattern" "$WORK"/syncer-*.log 2>/dev/null; then
    not_ok "sanitizer reports in the syncer logs: $(grep -h -m3 "$pattern" "$WORK"/syncer-*.log)"
  else
    ok "no sanitizer report in the syncer logs"
  fi
}
