#!/usr/bin/env bash
# Two syncer replicas with --leader-elect on one host namespace: exactly one syncs (holds the Lease and
# is ready); when it stops, the other takes the Lease over and syncs.
#
# Usage: leader_election_test.sh SYNCER CMSYNC_SO
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1 CMSYNC=$2
VC=le-vc HNS=vcluster-le
start_cluster host host
start_cluster virt virtual
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
hk create namespace "$HNS" >/dev/null

replica() { # replica NAME PORT
  start_bg "$WORK/syncer-$1.log" "$SYNCER" --name "$VC" --target-namespace "$HNS" \
    --virtual-kubeconfig "$KC_virt" --host-kubeconfig "$KC_host" --plugins "$CMSYNC" \
    --status-address "127.0.0.1:$2" --leader-elect --lease-duration 4 --renew-deadline 3 --retry-period 1
}
pa=$(free_port) pb=$(free_port)
replica a "$pa"
PID_A=$LAST_PID
check "replica a becomes leader and ready" poll 30 curl -sf "http://127.0.0.1:$pa/readyz" -o /dev/null
replica b "$pb"
PID_B=$LAST_PID
check "replica b serves /healthz" poll 30 curl -sf "http://127.0.0.1:$pb/healthz" -o /dev/null
leader_of() { curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "vcluster_syncer_leader" {print $2}'; }
check "replica b is not the leader" test "$(leader_of "$pb")" = 0
check "replica b is not ready (it does not sync)" bash -c "! curl -sf http://127.0.0.1:$pb/readyz -o /dev/null"
check "the Lease names replica a" \
  bash -c "kubectl --kubeconfig '$KC_host' -n $HNS get lease vcluster-$VC-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null | grep -q -- '-$PID_A\$'"
vk create configmap one --from-literal=a=b >/dev/null
check "the leader syncs" poll 20 hk -n "$HNS" get configmap "one-x-default-x-$VC"

check "replica a stops on SIGTERM" stop_pid "$PID_A"
check "replica b takes the Lease over and becomes ready" poll 30 curl -sf "http://127.0.0.1:$pb/readyz" -o /dev/null
check "the Lease names replica b" \
  bash -c "kubectl --kubeconfig '$KC_host' -n $HNS get lease vcluster-$VC-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null | grep -q -- '-$PID_B\$'"
vk create configmap two --from-literal=a=b >/dev/null
check "the new leader syncs" poll 20 hk -n "$HNS" get configmap "two-x-default-x-$VC"
stop_pid "$PID_B"
summary
