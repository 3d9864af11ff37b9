#!/usr/bin/env bash
# The seed's §6 (storage) end to end, as a user types it, on the real-node bed: a host cluster whose
# controller manager runs Kubernetes' in-tree host-path provisioner (tests/bed/cluster --hostpath-provisioner),
# one real node (tests/bed/node), and the vcluster CLI (local driver).
#
#  default  `vcluster create`: a claim against a host class (Immediate) binds on the host through the
#           provisioner and a fake PV shows in the virtual cluster; a pod mounts it and runs.
#  §6       `vcluster create storage-vcluster -f sync-storage.yaml` (the seed's file, as written): the seed's
#           sc.yaml reaches the host under its translated name (provisioner openebs.io/local, kept as
#           written); the same class made with the bed's provisioner (kubernetes.io/host-path), the seed's
#           pvc-sc.yaml stays Pending until the seed's pod-sc.yaml exists (WaitForFirstConsumer), then the pod
#           is Running, the claim Bound to a PV the virtual cluster shows, a file the pod writes is served by
#           its nginx from the volume (subPath html), survives deleting and re-creating the pod, and deleting
#           the claim reclaims the host PV (its directory removed by the provisioner's deleter).
#  refusal  a claim naming a host PV it does not own through volumeName is not synced and gets a Warning.
#
# The seed's files are used unchanged (tests/integration/seed/ holds byte-for-byte copies), but for the
# class's provisioner in the second class, which must be one the bed has.
# Usage: storage_node_test.sh VCLUSTER PLUGINS DNS   (PLUGINS: the build's .so paths, storage among them)
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
DEADLINE=${VC_TEST_DEADLINE:-120}

_sto_cleanup() {
  local rc=$? st pid
  for st in "$VCLUSTER_STATE_DIR"/*/*; do
    [ -f "$st/syncer.pid" ] || continue
    pid=$(cat "$st/syncer.pid")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$st/"; then kill -TERM "$pid" 2>/dev/null; fi
    [ -d "$st/cp" ] && "$CLUSTER" stop x --dir "$st/cp" >/dev/null 2>&1
  done
  return "$rc"
}
trap '_sto_cleanup; _cleanup' EXIT

start_cluster host host --hostpath-provisioner
export KUBECONFIG=$WORK/kubeconfig
cp "$KC_host" "$KUBECONFIG"
HOSTCTX=$(kubectl config current-context)
hk() { kubectl --context "$HOSTCTX" "$@" 2>/dev/null; }

node_up() {
  local end=$((SECONDS + 600))
  while ((SECONDS < end)); do
    "$NODE" start n1 --cluster-dir "$WORK/host" --dns "$DNS_BIN" >"$WORK/node-start.log" 2>&1 && return 0
    grep -q 'another bed node is running' "$WORK/node-start.log" || { cat "$WORK/node-start.log" >&2; return 1; }
    sleep 20
  done
  return 1
}
check "a real node joins the host cluster (controller manager with the host-path provisioner)" node_up || { summary; exit 1; }

# phase WANT KUBECTL-FN ARGS...: the object's status.phase is WANT.
phase() { local want=$1; shift; [ "$("$@" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$want" ]; }
# host_class_of NAME: the host StorageClass that is the copy of virtual class NAME (its object-name annotation;
# a long cluster-scoped name is shortened with a hash, as vcluster's SafeConcatName does).
host_class_of() {
  hk get storageclass -o json | python3 -c 'import json, sys
for c in json.load(sys.stdin)["items"]:
    a = c["metadata"].get("annotations") or {}
    if a.get("vcluster.loft.sh/object-name") == sys.argv[1] and c["metadata"].get("labels", {}).get("vcluster.loft.sh/managed-by"):
        print(c["metadata"]["name"])' "$1"
}

# --- default mode: a host class, a fake PV --------------------------------------------------------------
VC=default-vcluster
NS=vcluster-$VC
CTX=vcluster_${VC}_${NS}_${HOSTCTX}
vk() { kubectl --context "$CTX" "$@" 2>/dev/null; }
check "host: a StorageClass host-immediate (kubernetes.io/host-path, Immediate)" \
  bash -c 'printf "%s\n" "apiVersion: storage.k8s.io/v1" "kind: StorageClass" "metadata: {name: host-immediate}" "provisioner: kubernetes.io/host-path" "reclaimPolicy: Delete" "volumeBindingMode: Immediate" | kubectl --context "$1" apply -f - >/dev/null' _ "$HOSTCTX"
check "vcluster create $VC" "$VCLUSTER" create "$VC" --plugins "$PLUGINS"
check "virtual: a claim data of class host-immediate" \
  bash -c 'printf "%s\n" "apiVersion: v1" "kind: PersistentVolumeClaim" "metadata: {name: data}" "spec:" "  storageClassName: host-immediate" "  accessModes: [ReadWriteOnce]" "  resources: {requests: {storage: 1Gi}}" | kubectl --context "$1" apply -f - >/dev/null' _ "$CTX"
check "host: the claim data-x-default-x-$VC is Bound through the provisioner" \
  poll "$DEADLINE" phase Bound hk -n "$NS" get pvc "data-x-default-x-$VC"
HPV=$(hk -n "$NS" get pvc "data-x-default-x-$VC" -o jsonpath='{.spec.volumeName}')
check "host: its PV $HPV is a host-path volume under /tmp/hostpath_pv" \
  bash -c '[[ $(kubectl --context "$1" get pv "$2" -o jsonpath="{.spec.hostPath.path}" 2>/dev/null) == /tmp/hostpath_pv/* ]]' _ "$HOSTCTX" "$HPV"
check "virtual: the claim is Bound to $HPV" poll 30 bash -c '[ "$(kubectl --context "$1" get pvc data -o jsonpath="{.status.phase}/{.spec.volumeName}" 2>/dev/null)" = "Bound/$2" ]' _ "$CTX" "$HPV"
check "virtual: a fake PV $HPV exists in the virtual cluster" poll 30 bash -c 'kubectl --context "$1" get pv "$2" >/dev/null 2>&1' _ "$CTX" "$HPV"
# refusal: another tenant's volume (here volumeName names a host PV; with real PVs it is translated)
check "host: a PV foreign-pv that no vcluster owns (Retain)" \
  bash -c 'printf "%s\n" "apiVersion: v1" "kind: PersistentVolume" "metadata: {name: foreign-pv}" "spec:" "  capacity: {storage: 1Gi}" "  accessModes: [ReadWriteOnce]" "  persistentVolumeReclaimPolicy: Retain" "  storageClassName: host-immediate" "  hostPath: {path: /tmp/hostpath_pv/not-used}" | kubectl --context "$1" apply -f - >/dev/null' _ "$HOSTCTX"
check "virtual: a claim thief with volumeName: foreign-pv" \
  bash -c 'printf "%s\n" "apiVersion: v1" "kind: PersistentVolumeClaim" "metadata: {name: thief}" "spec:" "  storageClassName: host-immediate" "  volumeName: foreign-pv" "  accessModes: [ReadWriteOnce]" "  resources: {requests: {storage: 1Gi}}" | kubectl --context "$1" apply -f - >/dev/null' _ "$CTX"
check "virtual: the claim gets a Warning event naming volumeName" \
  poll 30 bash -c 'kubectl --context "$1" get events --field-selector involvedObject.name=thief -o jsonpath="{range .items[*]}{.type} {.message}{\"\n\"}{end}" 2>/dev/null | grep "^Warning" | grep -q volumeName' _ "$CTX"
check "host: no claim thief-x-default-x-$VC, and foreign-pv is still Available and unbound" \
  bash -c '! kubectl --context "$1" -n "$2" get pvc "thief-x-default-x-$3" >/dev/null 2>&1 && [ "$(kubectl --context "$1" get pv foreign-pv -o jsonpath="{.status.phase}{.spec.claimRef.name}" 2>/dev/null)" = Available ]' _ "$HOSTCTX" "$NS" "$VC"
hk delete pv foreign-pv >/dev/null
check "vcluster delete $VC" "$VCLUSTER" delete "$VC"

# --- §6: sync-storage.yaml ------------------------------------------------------------------------------
VC=storage-vcluster
NS=vcluster-$VC
CTX=vcluster_${VC}_${NS}_${HOSTCTX}
check "vcluster create $VC -f sync-storage.yaml" "$VCLUSTER" create "$VC" -f "$SEED/sync-storage.yaml" --plugins "$PLUGINS"
check "virtual: kubectl apply -f sc.yaml (the seed's, openebs.io/local)" vk apply -f "$SEED/sc.yaml"
poll 30 '[ -n "$(host_class_of my-local-hostpath)" ]' 
HSC=$(host_class_of my-local-hostpath)
echo "# host copy of my-local-hostpath: ${HSC:-none}"
check "host: the class reaches the host as $HSC with the seed's provisioner" \
  poll 30 bash -c '[ "$(kubectl --context "$1" get storageclass "$2" -o jsonpath="{.provisioner}/{.volumeBindingMode}" 2>/dev/null)" = openebs.io/local/WaitForFirstConsumer ]' _ "$HOSTCTX" "$HSC"
check "virtual: kubectl delete -f sc.yaml" vk delete -f "$SEED/sc.yaml"
check "host: the class's copy goes with it" poll 30 bash -c '! kubectl --context "$1" get storageclass "$2" >/dev/null 2>&1' _ "$HOSTCTX" "$HSC"
check "virtual: the same class with the bed's provisioner (sc.yaml, provisioner: kubernetes.io/host-path)" \
  bash -c 'sed "s|^provisioner: openebs.io/local.*|provisioner: kubernetes.io/host-path|" "$2" | kubectl --context "$1" apply -f - >/dev/null' _ "$CTX" "$SEED/sc.yaml"
check "host: $HSC now has provisioner kubernetes.io/host-path" \
  poll 30 bash -c '[ "$(kubectl --context "$1" get storageclass "$2" -o jsonpath="{.provisioner}" 2>/dev/null)" = kubernetes.io/host-path ]' _ "$HOSTCTX" "$HSC"
check "virtual: kubectl apply -f pvc-sc.yaml" vk apply -f "$SEED/pvc-sc.yaml"
HCLAIM=my-persistent-volume-claim-x-default-x-$VC
check "host: the claim $HCLAIM exists with class $HSC" \
  poll 30 bash -c '[ "$(kubectl --context "$1" -n "$2" get pvc "$3" -o jsonpath="{.spec.storageClassName}" 2>/dev/null)" = "$4" ]' _ "$HOSTCTX" "$NS" "$HCLAIM" "$HSC"
sleep 3
check "the claim stays Pending without a pod (WaitForFirstConsumer), on both sides" \
  bash -c 'phase() { [ "$(kubectl --context "$1" "${@:3}" get pvc "$2" -o jsonpath="{.status.phase}" 2>/dev/null)" = Pending ]; }; phase "$3" my-persistent-volume-claim && phase "$4" "$5" -n "$6"' _ x x "$CTX" "$HOSTCTX" "$HCLAIM" "$NS"
check "virtual: kubectl apply -f pod-sc.yaml" vk apply -f "$SEED/pod-sc.yaml"
check "virtual: my-pod is Running" poll "$DEADLINE" phase Running vk get pod my-pod
check "virtual: the claim is Bound" poll 60 phase Bound vk get pvc my-persistent-volume-claim
VPV=$(vk get pvc my-persistent-volume-claim -o jsonpath='{.spec.volumeName}')
check "virtual: the PV $VPV is visible in the virtual cluster, bound to the claim" \
  poll 30 bash -c '[ "$(kubectl --context "$1" get pv "$2" -o jsonpath="{.status.phase}/{.spec.claimRef.name}" 2>/dev/null)" = Bound/my-persistent-volume-claim ]' _ "$CTX" "$VPV"
HPV=$(hk -n "$NS" get pvc "$HCLAIM" -o jsonpath='{.spec.volumeName}')
PVDIR=$(hk get pv "$HPV" -o jsonpath='{.spec.hostPath.path}')
check "host: the claim's PV $HPV is the provisioner's ($PVDIR)" bash -c '[[ $1 == /tmp/hostpath_pv/* ]] && [ -d "$1" ]' _ "$PVDIR"
TOKEN=vcluster-storage-$$-$RANDOM
# The provisioner makes the volume's directory 0750 and the kubelet the subPath's, both root's; nginx's
# workers run as the nginx user, so the pod opens them up as it writes (openebs's hostpath directories are
# 0777, where the seed runs).
check "virtual: kubectl exec my-pod writes index.html into the volume" \
  vk exec my-pod -- sh -c "chmod 755 /usr/share/nginx/html && echo $TOKEN > /usr/share/nginx/html/index.html"
check "the file is in the PV's html subdirectory on the node" bash -c 'grep -qx "$2" "$1/html/index.html"' _ "$PVDIR" "$TOKEN"
# The bed's nginx image has busybox beside nginx: its wget asks the pod's own nginx.
served() { vk exec my-pod -- wget -qO- http://127.0.0.1/ | grep -qx "$TOKEN"; }
check "nginx serves it from the volume (subPath html)" poll 20 served
check "virtual: kubectl delete pod my-pod" vk delete pod my-pod --wait=true --timeout=90s
check "virtual: kubectl apply -f pod-sc.yaml again; Running" bash -c 'kubectl --context "$1" apply -f "$2" >/dev/null 2>&1' _ "$CTX" "$SEED/pod-sc.yaml"
check "the re-created pod is Running" poll "$DEADLINE" phase Running vk get pod my-pod
check "the data survived: nginx serves the same file" poll 20 served
check "virtual: kubectl delete pod my-pod; kubectl delete -f pvc-sc.yaml" \
  bash -c 'kubectl --context "$1" delete pod my-pod --wait=true --timeout=90s >/dev/null 2>&1 && kubectl --context "$1" delete -f "$2" >/dev/null 2>&1' _ "$CTX" "$SEED/pvc-sc.yaml"
check "host: the claim is gone" poll 60 bash -c '! kubectl --context "$1" -n "$2" get pvc "$3" >/dev/null 2>&1' _ "$HOSTCTX" "$NS" "$HCLAIM"
check "host: the PV $HPV is reclaimed (reclaimPolicy Delete) and its directory removed" \
  poll 60 bash -c '! kubectl --context "$1" get pv "$2" >/dev/null 2>&1 && [ ! -e "$3" ]' _ "$HOSTCTX" "$HPV" "$PVDIR"
check "virtual: the PV $VPV is gone too" poll 30 bash -c '! kubectl --context "$1" get pv "$2" >/dev/null 2>&1' _ "$CTX" "$VPV"


check "vcluster delete $VC" "$VCLUSTER" delete "$VC"
check "host: no StorageClass of $VC is left" bash -c '! kubectl --context "$1" get storageclass "$2" >/dev/null 2>&1' _ "$HOSTCTX" "$HSC"
summary
