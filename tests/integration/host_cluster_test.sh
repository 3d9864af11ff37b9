#!/usr/bin/env bash
# Integration test of the bed's host control plane (tests/bed/cluster): starts a host cluster in a
# fresh directory, proves the real controller manager works (a Deployment gets its ReplicaSet and two
# Pods, each with the ServiceAccount token volume that ServiceAccount admission adds), checks the
# binaries are v1.20.2, then stops the cluster and proves nothing of it is left.
#
# Prints one "ok"/"not ok" line per check and ends with "N passed, M failed"; exits 1 on a failure.
# The cluster is stopped by an EXIT trap whatever happens.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
CLUSTER=$ROOT/tests/bed/cluster
DEADLINE_SECONDS=${VC_TEST_DEADLINE:-60}

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: runs COMMAND, records a pass when it succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
summary() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

work=$(mktemp -d "${TMPDIR:-/tmp}/host-cluster-test.XXXXXX")
dir=$work/cluster
name=it-host-$$
cleanup() {
  local rc=$?
  if [ -d "$dir" ]; then "$CLUSTER" stop "$name" --dir "$dir" >&2 || rc=1; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# poll SECONDS COMMAND...: true as soon as COMMAND succeeds, false when the deadline passes.
poll() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

# Prints the PIDs of live processes whose command line mentions the cluster directory.
procs_mentioning_dir() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$dir/" && echo "${p#/proc/}"
  done
  return 0
}

# --- start -------------------------------------------------------------------------------------
t0=$(date +%s%N)
if kubeconfig=$("$CLUSTER" start "$name" --role host --dir "$dir"); then
  ms=$((($(date +%s%N) - t0) / 1000000))
  ok "cluster start (host) succeeded"
  echo "# measured start time: $((ms / 1000)).$(printf %03d $((ms % 1000)))s (start to ready, including certificates)"
else
  not_ok "cluster start (host) succeeded"
  summary
  exit 1
fi
check "kubeconfig is printed and exists ($kubeconfig)" test "$kubeconfig" = "$dir/kubeconfig" -a -s "$kubeconfig"
check "env file is sourceable" test -s "$dir/env"
# shellcheck disable=SC1091
. "$dir/env"
export KUBECONFIG=$kubeconfig
pids=("$VC_ETCD_PID" "$VC_KUBE_APISERVER_PID" "$VC_KUBE_CONTROLLER_MANAGER_PID" "$VC_KUBE_SCHEDULER_PID")
check "four components recorded (etcd, apiserver, controller manager, scheduler)" \
  test "$(ls "$dir/pids" | sort | tr '\n' ' ')" = "etcd.pid kube-apiserver.pid kube-controller-manager.pid kube-scheduler.pid "

api_on_loopback() { [[ $VC_API_SERVER =~ ^https://127\.0\.0\.1:[0-9]+$ ]]; }
check "API server URL is on 127.0.0.1 ($VC_API_SERVER)" api_on_loopback

refuses_second_start() {
  local out
  out=$("$CLUSTER" start "$name" --role host --dir "$dir" 2>&1) && return 1
  grep -q "already running" <<<"$out"
}
check "a second start of the running cluster is refused" refuses_second_start

token_works() {
  curl -sSf --max-time 5 --cacert "$VC_CA_CERT" -H "Authorization: Bearer $(cat "$VC_TOKEN_FILE")" \
    "$VC_API_SERVER/api/v1/namespaces/kube-system" -o /dev/null
}
check "the admin bearer token authenticates" token_works

# --- the real controller manager works -----------------------------------------------------------
check "kubectl create deployment web --image=nginx --replicas=2" \
  kubectl create deployment web --image=nginx --replicas=2

rs_exists() { [ "$(kubectl get replicasets -l app=web -o name 2>/dev/null | wc -l)" -eq 1 ]; }
two_pods() { [ "$(kubectl get pods -l app=web -o name 2>/dev/null | wc -l)" -eq 2 ]; }
check "the Deployment's ReplicaSet appears within ${DEADLINE_SECONDS}s" poll "$DEADLINE_SECONDS" rs_exists
check "2 Pods appear within ${DEADLINE_SECONDS}s" poll "$DEADLINE_SECONDS" two_pods

# ServiceAccount admission mounts the token at this path in every container (v1.20: a secret volume).
sa_token_mounted() {
  local paths
  paths=$(kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.spec.containers[0].volumeMounts[*].mountPath}{"\n"}{end}')
  [ "$(grep -c '^/var/run/secrets/kubernetes.io/serviceaccount$' <<<"$paths")" -eq 2 ]
}
check "ServiceAccount admission mounted the token into both Pods" sa_token_mounted

version_is_1202() { "$VC_KUBE_BIN/kube-apiserver" --version | grep -qx 'Kubernetes v1.20.2'; }
check "kube-apiserver --version prints v1.20.2" version_is_1202

# --- stop ----------------------------------------------------------------------------------------
check "cluster stop succeeded" "$CLUSTER" stop "$name" --dir "$dir"

none_alive() {
  local pid
  for pid in "${pids[@]}"; do
    # A live PID whose command line still mentions the directory is one of ours; a reused PID is not.
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/"; then
      echo "  pid $pid is still alive: $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-120)" >&2
      return 1
    fi
  done
}
check "no recorded etcd/kube-* PID is alive after stop" none_alive
no_stray() { [ -z "$(procs_mentioning_dir)" ]; }
check "no process mentions the cluster directory after stop" no_stray
check "the cluster directory is removed" test ! -e "$dir"
check "a second stop is harmless" "$CLUSTER" stop "$name" --dir "$dir"

summary
