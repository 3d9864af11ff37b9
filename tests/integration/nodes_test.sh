#!/usr/bin/env bash
# The nodes plugin on two real control planes: a host cluster with three vcluster-nodesim nodes, a virtual
# cluster (no scheduler, no nodes), and vcluster-syncer with the pods and nodes plugins.
#  - fake nodes (default): a Deployment's pods make exactly the nodes they run on appear, Ready, with none
#    of the host's addresses or labels; host heartbeats (every 5 s here) write nothing; scaling to 0 removes
#    the nodes;
#  - real nodes with syncAllNodes (values file): all three host nodes with their labels, Ready; a restart
#    with nothing changed writes nothing; host label changes follow, tenant labels stay virtual;
#  - a nodeSelector: exactly the matching nodes, the other one is removed.
# NODES_MEASURE_SECONDS=N (unset: skipped) adds a measurement of virtual writes per node per minute over N
# seconds of real-mode heartbeats.
#
# Usage: nodes_test.sh SYNCER PODS_PLUGIN NODES_PLUGIN NODESIM
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1 PODS=$2 NODES=$3 NODESIM=$4
VC=my-vcluster
HNS=vcluster-$VC
BEAT=5 # nodesim's status heartbeat interval: eight times the default, so a storm would show at once

start_cluster host host
# As the pods end-to-end test: Service IPs from the host's range, and the projected token volume.
VC_BED_SERVICE_CIDR=10.96.0.0/16 \
  start_cluster virt virtual
# shellcheck disable=SC2154 # KC_host and KC_virt are set by start_cluster
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
vcluster_host_services "$KC_host" "$HNS" "$VC"

names() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' '; }
vnodes() { vk get nodes -o jsonpath='{.items[*].metadata.name}' | names; }
hnodes() { hk get nodes -o jsonpath='{.items[*].metadata.name}' | names; }
# The nodes the virtual pods of the demo Deployment are bound to.
pod_nodes() { vk -n demo get pods -l app=web -o jsonpath='{.items[*].spec.nodeName}' | names; }
ready_vnodes() {
  vk get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True
}
rvs() { vk get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}'; }
# The host Ready heartbeat of a node, in seconds since the epoch.
host_beat() { date -d "$(hk get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')" +%s; }
beat_after() { (($(host_beat "$1") >= $2)); }

simport=$(free_port)
start_bg "$WORK/nodesim.log" "$NODESIM" --kubeconfig "$KC_host" --nodes 3 --heartbeat-interval "$BEAT" \
  --status-address "127.0.0.1:$simport"
check "three simulated host nodes become ready" poll 60 grep -q '^3 nodes ready$' "$WORK/nodesim.log"
ALL=$(hnodes)

port=$(free_port)
URL=http://127.0.0.1:$port
# run_syncer NAME [VALUES...]: starts the syncer with both plugins and waits for /readyz.
run_syncer() {
  local name=$1 f args=()
  shift
  for f in "$@"; do args+=(-f "$f"); done
  syncer_up "$name" "$PODS,$NODES" "${args[@]}"
}
# Writes the syncer made to the virtual API server (any verb that changes something, success codes).
virtual_writes() {
  curl -sf "$URL/metrics" |
    awk '$1 ~ /^vcluster_syncer_api_requests_total\{side="virtual",verb="(create|update|patch|delete)",code="2/ {s+=$2} END {print s+0}'
}
settled() { [ "$(metric "$URL" vcluster_syncer_queue_depth)" = 0 ] && [ "$(metric "$URL" vcluster_syncer_reconciles_total)" -gt 0 ]; }
# heartbeats_pass SECONDS: true once every host node has posted a heartbeat SECONDS after now.
heartbeats_pass() {
  local t=$(($(date +%s) + $1)) n
  for n in $ALL; do poll $(($1 + 30)) beat_after "$n" "$t" || return 1; done
}

# --- Fake nodes ---------------------------------------------------------------------------------------------
check "syncer with the pods and nodes plugins becomes ready (fake nodes)" run_syncer fake
check "no virtual node while no pod runs" equals "" -- vnodes
vk create namespace demo >/dev/null
vk -n demo create deployment web --image=nginx --replicas=2 >/dev/null
bound() { [ "$(pod_nodes | wc -w)" -ge 1 ] && [ "$(vk -n demo get pods -l app=web -o jsonpath='{.items[*].spec.nodeName}' | wc -w)" = 2 ]; }
check "both virtual pods are bound to the host pods' nodes" poll 90 bound
want=$(pod_nodes)
check "the virtual cluster shows exactly the nodes its pods run on ($want)" poll 30 equals "$want" -- vnodes
check "they are Ready" poll 30 equals "$(wc -w <<<"$want")" -- ready_vnodes
n1=$(awk '{print $1}' <<<"$want")
check "a fake node is marked vcluster.loft.sh/fake-node=true" \
  equals true -- vk get node "$n1" -o jsonpath='{.metadata.labels.vcluster\.loft\.sh/fake-node}'
check "its only address is the made-up hostname $n1.nodes.vcluster.com" \
  equals "Hostname=$n1.nodes.vcluster.com " -- \
  vk get node "$n1" -o jsonpath='{range .status.addresses[*]}{.type}={.address} {end}'
check "none of the host's labels show (instance-type)" \
  equals "" -- vk get node "$n1" -o jsonpath='{.metadata.labels.node\.kubernetes\.io/instance-type}'
check "fake nodes carry no taints (the not-ready taint node admission adds is taken off)" \
  poll 30 equals "" -- vk get nodes -o jsonpath='{.items[*].spec.taints}'
check "the capacity is the host node's" \
  equals "$(hk get node "$n1" -o jsonpath='{.status.capacity.pods}')" -- vk get node "$n1" -o jsonpath='{.status.capacity.pods}'

before=$(rvs) w0=$(virtual_writes) s0=$(metric "http://127.0.0.1:$simport" nodesim_node_status_updates_total)
check "host heartbeats keep coming ($((4 * BEAT)) s of them)" heartbeats_pass $((4 * BEAT))
s1=$(metric "http://127.0.0.1:$simport" nodesim_node_status_updates_total)
check "... and write nothing to the fake nodes ($((s1 - s0)) host status updates, $(($(virtual_writes) - w0)) virtual writes)" \
  equals "$before" -- rvs

vk -n demo scale deployment web --replicas=0 >/dev/null
check "scaling to 0 removes the fake nodes" poll 90 equals "" -- vnodes
check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"

# --- Real nodes, all of them -------------------------------------------------------------------------------
cat >"$WORK/all.yaml" <<'YAML'
sync:
  nodes:
    enabled: true
    syncAllNodes: true
YAML
check "syncer with sync.nodes.enabled and syncAllNodes becomes ready" run_syncer all "$WORK/all.yaml"
check "the virtual cluster shows all three host nodes ($ALL)" poll 60 equals "$ALL" -- vnodes
check "all Ready" poll 30 equals 3 -- ready_vnodes
same_labels() {
  local n
  for n in $ALL; do
    [ "$(hk get node "$n" -o json | jq -S .metadata.labels)" = "$(vk get node "$n" -o json | jq -S .metadata.labels)" ] || return 1
  done
}
check "each carries exactly its host node's labels" same_labels
check "and its taints (none once the host's node-lifecycle controller saw them Ready)" \
  poll 30 equals "$(hk get nodes -o jsonpath='{.items[*].spec.taints}')" -- vk get nodes -o jsonpath='{.items[*].spec.taints}'
check "the internal address is hidden" \
  equals "Hostname=$n1.nodes.vcluster.com " -- \
  vk get node "$n1" -o jsonpath='{range .status.addresses[*]}{.type}={.address} {end}'

check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"
check "the syncer restarts" run_syncer all-again "$WORK/all.yaml"
check "it settles" poll 60 settled
check "a restart with nothing changed writes nothing ($(virtual_writes) virtual writes)" equals 0 -- virtual_writes

before=$(rvs) w0=$(virtual_writes) s0=$(metric "http://127.0.0.1:$simport" nodesim_node_status_updates_total)
check "host heartbeats keep coming ($((4 * BEAT)) s of them)" heartbeats_pass $((4 * BEAT))
s1=$(metric "http://127.0.0.1:$simport" nodesim_node_status_updates_total)
check "... and are not copied to the real-node copies ($((s1 - s0)) host status updates, $(($(virtual_writes) - w0)) virtual writes)" \
  equals "$before" -- rvs

if [ -n "${NODES_MEASURE_SECONDS:-}" ]; then
  w0=$(virtual_writes) s0=$(metric "http://127.0.0.1:$simport" nodesim_node_status_updates_total) t0=$SECONDS
  sleep "$NODES_MEASURE_SECONDS" # the measured interval itself, not a wait for a condition
  w=$(($(virtual_writes) - w0)) s=$(($(metric "http://127.0.0.1:$simport" nodesim_node_status_updates_total) - s0))
  awk -v w="$w" -v s="$s" -v t=$((SECONDS - t0)) 'BEGIN {
    printf "# measured over %d s with 3 nodes: %d host status updates (%.2f per node per minute), %d virtual writes (%.2f per node per minute)\n",
      t, s, s / 3 / (t / 60), w, w / 3 / (t / 60) }'
fi

n0=$(awk '{print $1}' <<<"$ALL")
hk label node "$n0" example.com/team=payments >/dev/null
check "a label added on the host node appears on its copy" \
  poll 30 equals payments -- vk get node "$n0" -o jsonpath='{.metadata.labels.example\.com/team}'
vk label node "$n0" tenant.example.com/pool=blue >/dev/null
hk label node "$n0" example.com/team- >/dev/null
check "a label removed on the host node goes from its copy" \
  poll 30 equals "" -- vk get node "$n0" -o jsonpath='{.metadata.labels.example\.com/team}'
check "a label the tenant set stays on the virtual node" \
  equals blue -- vk get node "$n0" -o jsonpath='{.metadata.labels.tenant\.example\.com/pool}'
check "and does not reach the host node" \
  equals "" -- hk get node "$n0" -o jsonpath='{.metadata.labels.tenant\.example\.com/pool}'
check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"

# --- A node selector ---------------------------------------------------------------------------------------
read -r s0 s1 s2 <<<"$ALL"
cat >"$WORK/selector.yaml" <<YAML
sync:
  nodes:
    enabled: true
    nodeSelector: "kubernetes.io/hostname in ($s0,$s2)"
YAML
check "syncer with a nodeSelector becomes ready" run_syncer selector "$WORK/selector.yaml"
check "the virtual cluster shows exactly the matching nodes ($s0 $s2); $s1 is removed" \
  poll 60 equals "$s0 $s2 " -- vnodes
check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"

check_no_sanitizer_reports
summary
