#!/usr/bin/env bash
# The seed's §4 (networking) end to end, as a user types it, on the real-node bed: a host cluster with one
# real node (tests/bed/node) and `vcluster create net-vcluster` (local driver).
#
#  4.1  nettool deployments on both sides; their pods reach each other by IP (ping, curl).
#  DNS  the virtual kube-dns Service's host copy has Endpoints at the syncer's DNS listener (the address
#       `vcluster create` recorded, on the pod bridge), and pods' resolv.conf names that Service.
#  4.2.1 host `kubectl expose deployment nettool-host`, `vcluster create net-vcluster --upgrade -f
#       host-to-vcluster.yaml`: the virtual cluster has a headless default/nettool-host whose Endpoints hold
#       the host Service's ClusterIP, and the virtual pod's `curl nettool-host` answers "Welcome to nginx!".
#  4.2.2 virtual `kubectl expose deployment nettool-virtual`, `--upgrade -f vcluster-to-host.yaml`: the host
#       has nettool-virtual in vcluster-net-vcluster, and the host pod's `curl nettool-virtual.vcluster-
#       net-vcluster` answers; the second upgrade drops the fromHost mapping, and what it made goes.
#
# The seed's two values files are used unchanged (tests/integration/seed/ holds byte-for-byte copies).
# Usage: network_test.sh VCLUSTER PLUGINS DNS   (PLUGINS: the build's pods,services[,nodes] .so paths; DNS:
# the build's vcluster-dns, the host cluster's DNS on the real node)
# The checks run small `bash -c '...' _ ARGS` programs whose $1, $2 expand in the child, on purpose (SC2016);
# start_cluster sets KC_host (SC2154).
# shellcheck disable=SC2016,SC2154
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VCLUSTER=$1
PLUGINS=$2
DNS_BIN=$3
SEED=$(dirname "${BASH_SOURCE[0]}")/seed
NODE=$ROOT/tests/bed/node
export VCLUSTER_STATE_DIR=$WORK/state
VC=net-vcluster
NS=vcluster-$VC
STATE=$VCLUSTER_STATE_DIR/$NS/$VC
DEADLINE=${VC_TEST_DEADLINE:-150}

# Whatever a failed step leaves running is stopped by PID (the syncer the state records, the control plane
# through the bed's own stop); the host cluster's stop (lib.sh) stops the node.
_net_cleanup() {
  local rc=$? pid
  if [ -f "$STATE/syncer.pid" ]; then
    pid=$(cat "$STATE/syncer.pid")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$STATE/"; then kill -TERM "$pid" 2>/dev/null; fi
  fi
  [ -d "$STATE/cp" ] && "$CLUSTER" stop x --dir "$STATE/cp" >/dev/null 2>&1
  return "$rc"
}
trap '_net_cleanup; _cleanup' EXIT

start_cluster host host
export KUBECONFIG=$WORK/kubeconfig
cp "$KC_host" "$KUBECONFIG"
HOSTCTX=$(kubectl config current-context)
CTX=vcluster_${VC}_${NS}_${HOSTCTX}
hk() { kubectl --context "$HOSTCTX" "$@" 2>/dev/null; }
vk() { kubectl --context "$CTX" "$@" 2>/dev/null; }

# One real node per machine: another test's node makes `node start` refuse; wait for it a while.
node_up() {
  local end=$((SECONDS + 600))
  while ((SECONDS < end)); do
    "$NODE" start n1 --cluster-dir "$WORK/host" --dns "$DNS_BIN" >"$WORK/node-start.log" 2>&1 && return 0
    grep -q 'another bed node is running' "$WORK/node-start.log" || { cat "$WORK/node-start.log" >&2; return 1; }
    sleep 20
  done
  return 1
}
check "a real node joins the host cluster" node_up || { summary; exit 1; }

check "vcluster create $VC" "$VCLUSTER" create "$VC" --plugins "$PLUGINS"
check "the current context is the virtual cluster's" test "$(kubectl config current-context)" = "$CTX"

# --- DNS: kube-dns points at the syncer's listener -------------------------------------------------------
DNS_ADDR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("local", {}).get("dnsAddress", ""))' "$STATE/state.json")
BRIDGE_NET=$(hk get nodes -o jsonpath='{.items[0].spec.podCIDR}')
in_range() { python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "$2"; }
check "the DNS listener $DNS_ADDR is on the pod bridge (in the node's range $BRIDGE_NET)" in_range "${DNS_ADDR%:*}" "$BRIDGE_NET"
DNS_HOST_SVC=kube-dns-x-kube-system-x-$VC
check "the host copy of kube-dns has Endpoints at the listener ($DNS_ADDR, UDP and TCP)" \
  poll 30 bash -c '[ "$(kubectl --context "$1" -n "$2" get endpoints "$3" -o jsonpath="{.subsets[0].addresses[0].ip}:{.subsets[0].ports[*].port}/{.subsets[0].ports[*].protocol}" 2>/dev/null)" = "${4%:*}:${4##*:} ${4##*:}/UDP TCP" ]' \
  _ "$HOSTCTX" "$NS" "$DNS_HOST_SVC" "$DNS_ADDR"

# --- 4.1: pods of both sides reach each other by IP ------------------------------------------------------
check "virtual: kubectl create deployment nettool-virtual --image=cr7258/nettool:v1" \
  vk create deployment nettool-virtual --image=cr7258/nettool:v1
check "host: kubectl create deployment nettool-host --image=cr7258/nettool:v1" \
  hk create deployment nettool-host --image=cr7258/nettool:v1
running() { [ "$("$1" get pods -l "app=$2" -o jsonpath='{.items[*].status.phase}')" = Running ]; }
check "the virtual nettool pod is Running" poll "$DEADLINE" running vk nettool-virtual
check "the host nettool pod is Running" poll "$DEADLINE" running hk nettool-host
VPOD=$(vk get pods -l app=nettool-virtual -o jsonpath='{.items[0].metadata.name}')
VIP=$(vk get pods -l app=nettool-virtual -o jsonpath='{.items[0].status.podIP}')
HPOD=$(hk get pods -l app=nettool-host -o jsonpath='{.items[0].metadata.name}')
HIP=$(hk get pods -l app=nettool-host -o jsonpath='{.items[0].status.podIP}')
VPOD_HOST=$VPOD-x-default-x-$VC
echo "# virtual pod $VPOD ($VIP, host pod $VPOD_HOST), host pod $HPOD ($HIP)"
check "the virtual pod's IP is its host pod's" test "$VIP" = "$(hk -n "$NS" get pod "$VPOD_HOST" -o jsonpath='{.status.podIP}')"
# `kubectl exec` in the virtual cluster, as the seed types it: the virtual API server asks the virtual node's
# kubelet, which is the syncer's kubelet endpoint, relaying to the host pod through the host API server.
in_virtual() { vk exec deploy/nettool-virtual -- "$@"; }
in_host() { hk exec "deploy/nettool-host" -- "$@"; }
welcome() { "$@" 2>/dev/null | grep -q 'Welcome to nginx!'; }
check "virtual: kubectl exec deploy/nettool-virtual -- ping the host pod ($HIP)" bash -c 'kubectl --context "$1" exec deploy/nettool-virtual -- ping -c 1 -W 3 "$2" | grep -q "1 packets received"' _ "$CTX" "$HIP"
check "ping from the host pod to the virtual pod ($VIP)" bash -c 'kubectl --context "$1" exec deploy/nettool-host -- ping -c 1 -W 3 "$2" | grep -q "1 packets received"' _ "$HOSTCTX" "$VIP"
check "curl from the virtual pod to the host pod by IP: Welcome to nginx!" poll 20 welcome in_virtual curl -sS --max-time 5 "http://$HIP/"
check "curl from the host pod to the virtual pod by IP: Welcome to nginx!" poll 20 welcome in_host curl -sS --max-time 5 "http://$VIP/"

DNS_SVC_IP=$(hk -n "$NS" get service "$DNS_HOST_SVC" -o jsonpath='{.spec.clusterIP}')
check "the virtual pod's resolv.conf names kube-dns's host copy ($DNS_SVC_IP)" \
  bash -c 'kubectl --context "$1" exec deploy/nettool-virtual -- cat /etc/resolv.conf | grep -qx "nameserver $2"' _ "$CTX" "$DNS_SVC_IP"

# --- 4.2.1: a host Service made visible in the virtual cluster -------------------------------------------
check "host: kubectl expose deployment nettool-host --port=80 --target-port=80" \
  hk expose deployment nettool-host --port=80 --target-port=80
check "virtual: kubectl expose deployment nettool-virtual --port=80 --target-port=80" \
  vk expose deployment nettool-virtual --port=80 --target-port=80
HSVC_IP=$(hk get service nettool-host -o jsonpath='{.spec.clusterIP}')
check "vcluster create $VC --upgrade -f host-to-vcluster.yaml" \
  "$VCLUSTER" create "$VC" --upgrade -f "$SEED/host-to-vcluster.yaml" --plugins "$PLUGINS"
check "virtual: default/nettool-host is headless" poll 30 bash -c '[ "$(kubectl --context "$1" get service nettool-host -o jsonpath="{.spec.clusterIP}" 2>/dev/null)" = None ]' _ "$CTX"
check "virtual: its Endpoints hold the host Service's ClusterIP $HSVC_IP" \
  poll 30 bash -c '[ "$(kubectl --context "$1" get endpoints nettool-host -o jsonpath="{.subsets[0].addresses[0].ip}" 2>/dev/null)" = "$2" ]' _ "$CTX" "$HSVC_IP"
check "the virtual pod reaches that address: Welcome to nginx!" poll 20 welcome in_virtual curl -sS --max-time 5 "http://$HSVC_IP/"
check "virtual: kubectl exec deployments/nettool-virtual -- curl nettool-host: Welcome to nginx!" \
  poll 30 welcome in_virtual curl -sS --max-time 5 nettool-host

# --- 4.2.2: a virtual Service published on the host ------------------------------------------------------
check "vcluster create $VC --upgrade -f vcluster-to-host.yaml" \
  "$VCLUSTER" create "$VC" --upgrade -f "$SEED/vcluster-to-host.yaml" --plugins "$PLUGINS"
check "host: $NS/nettool-virtual exists" poll 30 bash -c 'kubectl --context "$1" -n "$2" get service nettool-virtual >/dev/null 2>&1' _ "$HOSTCTX" "$NS"
PUB_IP=$(hk -n "$NS" get service nettool-virtual -o jsonpath='{.spec.clusterIP}')
check "the host pod reaches it by ClusterIP ($PUB_IP): Welcome to nginx!" poll 30 welcome in_host curl -sS --max-time 5 "http://$PUB_IP/"
check "host: kubectl exec deployments/nettool-host -- curl nettool-virtual.$NS: Welcome to nginx!" \
  poll 30 welcome in_host curl -sS --max-time 5 "nettool-virtual.$NS"
check "the dropped fromHost mapping's virtual nettool-host is gone" \
  poll 30 bash -c '! kubectl --context "$1" get service nettool-host >/dev/null 2>&1' _ "$CTX"

check "vcluster delete $VC" "$VCLUSTER" delete "$VC"
check "no host object of $VC is left in $NS" poll 60 bash -c '! kubectl --context "$1" get namespace "$2" >/dev/null 2>&1 || [ -z "$(kubectl --context "$1" -n "$2" get pods,services,endpoints -l vcluster.loft.sh/managed-by="$3" -o name 2>/dev/null)" ]' _ "$HOSTCTX" "$NS" "$VC"
summary
