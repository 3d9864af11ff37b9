#!/usr/bin/env bash
# vcluster-nodesim on a real host control plane (API server, scheduler, controller manager; no kubelet):
# three simulated nodes register and stay Ready and untainted past the node-lifecycle controller's grace
# period; a Deployment's pods are scheduled across them and marked Running with unique pod IPs from their
# node's CIDR; deleting the Deployment completes the pods' graceful deletion; a burst of 300 pods all run
# (the time and nodesim's RSS are printed); a restarted nodesim adopts the running pods' addresses without
# rewriting them and never hands one out twice; a deleted Node is registered again; SIGTERM exits 0. Bad
# flags are refused with a sentence.
#
# Usage: nodesim_test.sh NODESIM
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NODESIM=$1
GRACE=40 # kube-controller-manager --node-monitor-grace-period default

# Flag errors need no cluster: exit code 2 and a sentence naming the flag.
# refused RC WANT OUTPUT: the exit code is 2 and the output holds WANT.
refused() { [ "$1" -eq 2 ] && grep -qF -- "$2" <<<"$3"; }
out=$("$NODESIM" --pod-cidr 10.244.0.0/24 --nodes 4 2>&1)
rc=$?
check "a pod CIDR too small for --max-pods is refused (rc=$rc)" refused "$rc" 'fewer than --max-pods 1000' "$out"
out=$("$NODESIM" --nodes zero 2>&1)
rc=$?
check "a bad --nodes is refused (rc=$rc)" refused "$rc" "--nodes needs a whole number from 1 to 65536, got 'zero'" "$out"

start_cluster host host
# shellcheck disable=SC2154 # KC_host is set by start_cluster
k() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }

port=$(free_port)
URL=http://127.0.0.1:$port
run_nodesim() {
  start_bg "$WORK/nodesim-$1.log" "$NODESIM" --kubeconfig "$KC_host" --nodes 3 --status-address "127.0.0.1:$port"
  SIM_PID=$LAST_PID
  poll 30 grep -q '^3 nodes ready$' "$WORK/nodesim-$1.log"
}
# metric NAME: one of nodesim's counters.
m() { metric "$URL" "$1"; }

t_start=$SECONDS
check "nodesim prints '3 nodes ready'" run_nodesim first
t_registered=$SECONDS

# --- nodes ---
ready_nodes() {
  k get nodes -l node.kubernetes.io/instance-type=simulated \
    -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '^sim-node-[012]=True$'
}
tainted_nodes() { k get nodes -o jsonpath='{range .items[*]}{.spec.taints}{end}' | grep -c 'node.kubernetes.io' ; }
registered_events() {
  k get events --field-selector reason=RegisteredNode -o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}' |
    grep '^sim-node-[012]$' | sort -u | wc -l
}
check "3 nodes Ready with the simulated instance-type label" poll 20 equals 3 -- ready_nodes
check "the node-lifecycle controller registered all 3 (RegisteredNode events)" \
  poll 30 equals 3 -- registered_events
check "no node carries a node.kubernetes.io taint (not-ready, unreachable)" test "$(tainted_nodes)" = 0
node0=$(k get node sim-node-0 -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address} {.status.nodeInfo.kubeletVersion} {.status.capacity.pods} {.metadata.labels.kubernetes\.io/hostname}')
check "sim-node-0: InternalIP 127.0.10.1, kubelet v1.20.2, 1k pods, hostname label ($node0)" \
  test "$node0" = "127.0.10.1 v1.20.2 1k sim-node-0" # the API server writes the quantity 1000 as 1k
check "each node has a Lease in kube-node-lease held by itself" \
  test "$(k -n kube-node-lease get leases -o jsonpath='{range .items[*]}{.metadata.name}={.spec.holderIdentity}{"\n"}{end}' | grep -c '^\(sim-node-[012]\)=\1$')" = 3

# --- a Deployment: scheduled across the nodes, Running with pod IPs ---
k create deployment web --image=nginx --replicas=6 >/dev/null
running_with_ip() {
  k get pods -l "app=$1" -o jsonpath='{range .items[*]}{.status.phase} {.status.podIP}{"\n"}{end}' |
    grep -c '^Running [0-9]'
}
check "6 web pods Running with pod IPs" poll 60 equals 6 -- running_with_ip web
check "the Deployment counts 6 available replicas (Ready conditions work)" \
  poll 20 equals 6 -- k get deployment web -o jsonpath='{.status.availableReplicas}'
pods_line() { k get pods -l "app=$1" -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.hostIP} {.status.podIP} {.status.containerStatuses[0].ready}{"\n"}{end}'; }
distinct_ips() { [ "$(cut -d' ' -f3 "$1" | sort -u | wc -l)" = "$2" ]; }
pods_line web >"$WORK/web.txt"
nodes_used=$(cut -d' ' -f1 "$WORK/web.txt" | sort -u | wc -l)
check "the scheduler spread the 6 pods over more than one node ($nodes_used nodes)" test "$nodes_used" -ge 2
check "6 distinct pod IPs" distinct_ips "$WORK/web.txt" 6
# Node i has block i of 10.244.0.0/16 cut in four /18s (3 nodes round up to 4 blocks), and InternalIP 127.0.10.(i+1).
in_block() {
  local node host ip ready i third
  while read -r node host ip ready; do
    i=${node#sim-node-}
    third=$(cut -d. -f3 <<<"$ip")
    [ "$host" = "127.0.10.$((i + 1))" ] && [ "${ip%%.*}" = 10 ] && ((third / 64 == i)) && [ "$ready" = true ] || return 1
  done <"$1"
}
check "every pod IP is in its node's /18, hostIP is its node's address, container ready" in_block "$WORK/web.txt"

k delete deployment web --wait=false >/dev/null
no_pods() { [ -z "$(k get pods -l "app=$1" -o name)" ]; }
check "deleting the Deployment: its pods' graceful deletion completes and they are gone" poll 60 no_pods web
check "nodesim completed the 6 deletions (nodesim_pods_deleted_total $(m nodesim_pods_deleted_total))" \
  test "$(m nodesim_pods_deleted_total)" -ge 6
check "every address released (nodesim_pod_ips_in_use)" poll 10 equals 0 -- m nodesim_pod_ips_in_use

# --- a burst of 300 pods ---
{
  echo '{"apiVersion":"v1","kind":"List","items":['
  for i in $(seq 0 299); do
    ((i > 0)) && echo ','
    echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"burst-$i\",\"labels\":{\"app\":\"burst\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}"
  done
  echo ']}'
} >"$WORK/burst.json"
t0=$(date +%s%N)
k create -f "$WORK/burst.json" >/dev/null
t_created=$(date +%s%N)
check "300 burst pods Running with pod IPs" poll 240 equals 300 -- running_with_ip burst
t_running=$(date +%s%N)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$SIM_PID/status")
echo "# burst: 300 pods created by kubectl in $(((t_created - t0) / 1000000)) ms; all Running $(((t_running - t0) / 1000000)) ms after the create began; nodesim RSS $((rss_kb / 1024)) MiB"
pods_line burst >"$WORK/burst.txt"
check "300 distinct pod IPs" distinct_ips "$WORK/burst.txt" 300
check "each in its node's block, hostIP its node's address, container ready" in_block "$WORK/burst.txt"
check "nodesim holds 300 addresses" test "$(m nodesim_pod_ips_in_use)" = 300
echo "# nodesim so far: $(m nodesim_pods_started_total) statuses written, $(m nodesim_pods_deleted_total) deletions completed, $(m nodesim_request_errors_total) failed requests (retried)"

# --- restart: running pods are adopted, not rewritten ---
check "SIGTERM stops nodesim (exit 0)" stop_pid "$SIM_PID"
check "it closed every handle (no 'handle left open' in its log)" bash -c "! grep -q 'left open' '$WORK/nodesim-first.log'"
check "restarted nodesim prints '3 nodes ready' (nodes taken over)" run_nodesim second
check "it adopts the 300 running pods' addresses" poll 20 equals 300 -- m nodesim_pod_ips_in_use
check "and rewrote none of their statuses (nodesim_pods_started_total 0)" test "$(m nodesim_pods_started_total)" = 0
for i in 0 1 2 3 4 5; do
  k run "late-$i" --image=nginx --labels=app=late >/dev/null
done
check "6 pods created after the restart run" poll 60 equals 6 -- running_with_ip late
all_ips=$(k get pods -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}')
check "their addresses differ from the adopted ones (306 distinct IPs)" test "$(sort -u <<<"$all_ips" | grep -c .)" = 306

# --- nodes stay Ready past the grace period, on Lease renewals ---
renewed_after() {
  local t
  t=$(k -n kube-node-lease get lease sim-node-0 -o jsonpath='{.spec.renewTime}')
  [ -n "$t" ] && (($(date -d "$t" +%s) >= $1))
}
registered_epoch=$(($(date +%s) - (SECONDS - t_registered)))
check "a Lease renewal more than ${GRACE}s after registration" poll 120 renewed_after $((registered_epoch + GRACE + 5))
check "3 nodes still Ready" test "$(ready_nodes)" = 3
check "still no node.kubernetes.io taint" test "$(tainted_nodes)" = 0
check "no NodeNotReady event for a simulated node" \
  test "$(k get events --field-selector reason=NodeNotReady -o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}' | grep -c '^sim-node-')" = 0

k delete pods -l 'app in (burst,late)' --wait=false >/dev/null
check "306 pods deleted gracefully and gone" poll 240 bash -c "[ -z \"\$(kubectl --kubeconfig '$KC_host' get pods -o name 2>/dev/null)\" ]"
check "every address released" poll 10 equals 0 -- m nodesim_pod_ips_in_use
echo "# nodesim: $(m nodesim_pods_started_total) statuses written and $(m nodesim_pods_deleted_total) deletions completed since the restart, $(m nodesim_lease_renewals_total) lease renewals; test ran $((SECONDS - t_start)) s"
check "SIGTERM stops the restarted nodesim (exit 0)" stop_pid "$SIM_PID"

# --- a deleted Node is registered again at the next status heartbeat (2 s here instead of 40 s) ---
start_bg "$WORK/nodesim-third.log" "$NODESIM" --kubeconfig "$KC_host" --nodes 3 --heartbeat-interval 2
SIM_PID=$LAST_PID
check "third nodesim ready" poll 30 grep -q '^3 nodes ready$' "$WORK/nodesim-third.log"
old_uid=$(k get node sim-node-2 -o jsonpath='{.metadata.uid}')
k delete node sim-node-2 >/dev/null
new_node() {
  local uid
  uid=$(k get node sim-node-2 -o jsonpath='{.metadata.uid}')
  [ -n "$uid" ] && [ "$uid" != "$old_uid" ]
}
check "a deleted node comes back (a new Node object)" poll 30 new_node
check "and is Ready again" poll 20 equals 3 -- ready_nodes
check "SIGTERM stops the third nodesim (exit 0)" stop_pid "$SIM_PID"
summary
