#!/usr/bin/env bash
# The virtual scheduler and the node selector on two real control planes: a host cluster with three
# vcluster-nodesim nodes, a virtual cluster that runs its own kube-scheduler (tests/bed/cluster --scheduler),
# and vcluster-syncer with the pods and nodes plugins.
#  - enableScheduler (real nodes, all of them): the seed's §8 scenario. The tenant labels one virtual node
#    disktype=ssd; a 6-replica Deployment with that nodeSelector is placed by the virtual scheduler, all six
#    virtual pods and their host copies end on that node, created already bound (the host scheduler places
#    none of them), and the host node never gets the label. A taint the tenant puts on the virtual node
#    keeps new pods Pending in the virtual cluster and off the host until it is removed, and never reaches
#    the host node either.
#  - nodeSelector (no virtual scheduler): the host pods carry the selector and the host scheduler puts them
#    only on the matching nodes; a pod bound by name to a node the selector leaves out is not synced.
#
# Usage: scheduler_test.sh SYNCER PODS_PLUGIN NODES_PLUGIN NODESIM
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1 PODS=$2 NODES=$3 NODESIM=$4
VC=my-vcluster
HNS=vcluster-$VC

start_cluster host host
# As the pods end-to-end test (Service IPs from the host's range, the projected token volume), plus the
# virtual cluster's own kube-scheduler, which vcluster runs when sync.nodes.enableScheduler is on.
VC_BED_SCHEDULER=1 VC_BED_SERVICE_CIDR=10.96.0.0/16 start_cluster virt virtual
# shellcheck disable=SC2154 # KC_host and KC_virt are set by start_cluster
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
# shellcheck disable=SC2154
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
check "the virtual cluster runs a kube-scheduler" test -s "$WORK/virt/pids/kube-scheduler.pid"
vcluster_host_services "$KC_host" "$HNS" "$VC"

names() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' '; }
vnodes() { vk get nodes -o jsonpath='{.items[*].metadata.name}' | names; }
hnodes() { hk get nodes -o jsonpath='{.items[*].metadata.name}' | names; }
# The host label key of the pods' label `app` (§1.4), derived here with sha256sum, apart from the syncer.
APPKEY=vcluster.loft.sh/label-$VC-x-$(printf %s app | sha256sum | cut -c1-10)
# APP's pods: their nodes, one line per pod (virtual, host), and how many there are.
vpod_nodes() { vk -n demo get pods -l "app=$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}'; }
hpod_nodes() { hk -n "$HNS" get pods -l "$APPKEY=$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}'; }
hpod_count() { hpod_nodes "$1" | grep -c .; }
vpod_count() { vpod_nodes "$1" | grep -c .; }
# "N on NODE": every one of APP's pods on that side is bound to NODE.
all_on() { # SIDE APP N NODE
  local got
  got=$("$1" "$2")
  [ "$(grep -c . <<<"$got")" = "$3" ] && [ "$(sort -u <<<"$got")" = "$4" ]
}
running() { vk -n demo get pods -l "app=$1" --field-selector=status.phase=Running -o name | grep -c .; }
# The Scheduled events in a namespace (the virtual scheduler's in the virtual cluster; the host scheduler's
# about our host pods in the host namespace).
v_scheduled() { vk -n demo get events --field-selector reason=Scheduled -o name | grep -c .; }
h_scheduled_for() {
  hk -n "$HNS" get events --field-selector reason=Scheduled -o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}' |
    grep -c -- "^$1-"
}

start_bg "$WORK/nodesim.log" "$NODESIM" --kubeconfig "$KC_host" --nodes 3
check "three simulated host nodes become ready" poll 60 grep -q '^3 nodes ready$' "$WORK/nodesim.log"
ALL=$(hnodes)
read -r n0 n1 n2 <<<"$ALL"

port=$(free_port)
URL=http://127.0.0.1:$port
# run_syncer NAME VALUES: starts the syncer with both plugins and waits for /readyz.
run_syncer() { syncer_up "$1" "$PODS,$NODES" -f "$2"; }

# --- enableScheduler: the seed's §8 scenario -------------------------------------------------------------
cat >"$WORK/scheduler.yaml" <<'YAML'
sync:
  nodes:
    enabled: true
    enableScheduler: true
YAML
check "syncer with sync.nodes.enableScheduler becomes ready" run_syncer scheduler "$WORK/scheduler.yaml"
check "the virtual cluster shows all three host nodes ($ALL)" poll 60 equals "$ALL" -- vnodes
check "none of them is tainted (the virtual scheduler may use them all)" \
  poll 30 equals "" -- vk get nodes -o jsonpath='{.items[*].spec.taints}'

vk label node "$n1" disktype=ssd >/dev/null
check "the tenant labels virtual node $n1 disktype=ssd" \
  equals ssd -- vk get node "$n1" -o jsonpath='{.metadata.labels.disktype}'
vk create namespace demo >/dev/null
cat <<'YAML' | vk apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {disktype: ssd}
      containers: [{name: nginx, image: nginx}]
YAML
check "the virtual scheduler binds all 6 virtual pods to $n1" poll 120 all_on vpod_nodes web 6 "$n1"
check "all 6 host pods exist and run on $n1" poll 60 all_on hpod_nodes web 6 "$n1"
check "all 6 virtual pods are Running (status copied back)" poll 60 equals 6 -- running web
check "the virtual cluster shows the virtual scheduler's 6 Scheduled events" poll 30 equals 6 -- v_scheduled
check "the host scheduler placed none of them (no Scheduled event about the host pods)" \
  equals 0 -- h_scheduled_for web
check "the host pods carry neither the nodeSelector nor any affinity" \
  equals "" -- hk -n "$HNS" get pods -l "vcluster.loft.sh/managed-by=$VC" -o jsonpath='{.items[*].spec.nodeSelector}{.items[*].spec.affinity}'
check "the host node $n1 does not get the disktype label" \
  equals "" -- hk get node "$n1" -o jsonpath='{.metadata.labels.disktype}'
check "and the virtual node keeps it" \
  equals ssd -- vk get node "$n1" -o jsonpath='{.metadata.labels.disktype}'

# A taint set in the virtual cluster steers the virtual scheduler and stays virtual.
vk taint node "$n1" dedicated=batch:NoSchedule >/dev/null
# A host label change makes the nodes plugin write the virtual node again: the taint must survive that.
hk label node "$n1" example.com/rack=r7 >/dev/null
check "a host label change of $n1 reaches its virtual node" \
  poll 30 equals r7 -- vk get node "$n1" -o jsonpath='{.metadata.labels.example\.com/rack}'
check "and the tenant's taint stays on it (host taints merged with the tenant's)" \
  equals dedicated -- vk get node "$n1" -o jsonpath='{.spec.taints[*].key}'
vk -n demo scale deployment web --replicas=8 >/dev/null
unschedulable() {
  [ "$(vk -n demo get pods -l app=web -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="PodScheduled")].reason}{"\n"}{end}' |
    grep -c '^Unschedulable$')" = 2 ]
}
check "the 2 new virtual pods are Unschedulable: the only disktype=ssd node is tainted" poll 60 unschedulable
check "and are not synced: still 6 host pods" equals 6 -- hpod_count web
check "the host node $n1 has no taint" equals "" -- hk get node "$n1" -o jsonpath='{.spec.taints}'
vk taint node "$n1" dedicated- >/dev/null
check "once the taint is gone the virtual scheduler binds them to $n1 too" poll 120 all_on vpod_nodes web 8 "$n1"
check "and their host pods follow, on $n1" poll 60 all_on hpod_nodes web 8 "$n1"
check "8 Running virtual pods" poll 60 equals 8 -- running web

vk -n demo delete deployment web >/dev/null
check "deleting the Deployment removes the host pods" poll 90 equals 0 -- hpod_count web
check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"

# --- nodeSelector, without a virtual scheduler ---------------------------------------------------------------
# The pods plugin then leaves the placement to the host scheduler, which must only use selected nodes; a
# virtual scheduler would bind the virtual pods itself, so it goes.
sched=$(cat "$WORK/virt/pids/kube-scheduler.pid")
kill -TERM "$sched"
check "the virtual kube-scheduler stops" poll 15 "! kill -0 $sched 2>/dev/null"
hk label node "$n0" pool=tenants >/dev/null
hk label node "$n2" pool=tenants >/dev/null
cat >"$WORK/selector.yaml" <<'YAML'
sync:
  nodes:
    enabled: true
    nodeSelector: "pool=tenants"
YAML
check "syncer with sync.nodes.nodeSelector pool=tenants becomes ready" run_syncer selector "$WORK/selector.yaml"
check "the virtual cluster shows exactly the selected nodes ($n0 $n2)" poll 60 equals "$n0 $n2 " -- vnodes
vk -n demo create deployment api --image=nginx --replicas=6 >/dev/null
check "6 host pods appear" poll 60 equals 6 -- hpod_count api
selectors() {
  hk -n "$HNS" get pods -l "vcluster.loft.sh/managed-by=$VC" \
    -o jsonpath='{range .items[*]}{.spec.nodeSelector.pool}{"\n"}{end}' | sort | uniq -c | awk '{print $1, $2}'
}
check "every host pod carries nodeSelector pool=tenants" equals "6 tenants" -- selectors
on_selected() {
  local got
  got=$(hpod_nodes api)
  [ "$(grep -c . <<<"$got")" = 6 ] && ! grep -qvx -e "$n0" -e "$n2" <<<"$got"
}
check "the host scheduler puts them only on $n0 and $n2" poll 60 on_selected
echo "# host pods per node: $(hpod_nodes api | sort | uniq -c | tr -s ' \n' ' ')"
check "the host scheduler placed them (6 Scheduled events about the host pods)" poll 30 equals 6 -- h_scheduled_for api
check "the virtual pods are bound to the same nodes and Running" poll 60 equals 6 -- running api
same_nodes() { [ "$(vpod_nodes api | sort)" = "$(hpod_nodes api | sort)" ]; }
check "... each virtual pod on its host pod's node" same_nodes

vk -n demo run pinned --image=nginx --restart=Never --overrides="{\"spec\":{\"nodeName\":\"$n1\"}}" >/dev/null
warned() {
  vk -n demo get events --field-selector involvedObject.name=pinned,reason=SyncWarning -o jsonpath='{.items[*].message}' |
    grep -qF "Given nodeName $n1 does not exist in virtual cluster"
}
check "a pod bound by name to $n1, which the selector leaves out, gets a SyncWarning" poll 30 warned
check "and no host pod" bash -c "! kubectl --kubeconfig '$KC_host' -n $HNS get pod pinned-x-demo-x-$VC >/dev/null 2>&1"
vk -n demo delete pod pinned --wait=false >/dev/null

vk -n demo delete deployment api >/dev/null
check "deleting the Deployment removes the host pods" poll 90 equals 0 -- hpod_count api
check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"

check_no_sanitizer_reports
summary
