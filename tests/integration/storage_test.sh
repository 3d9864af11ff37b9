#!/usr/bin/env bash
# The storage plugin end to end on two real control planes (the host's PV binder and pvc-protection, the
# virtual cluster's admission and protection controllers; vcluster-behaviour.md §6):
#  - default mode: a virtual claim reaches the host renamed, binds there to a host PV made for it, the binding
#    (status, volumeName, annotations) comes back, a fake PV appears in the virtual cluster only, an expansion
#    goes forward, deletes go both ways, and a claim naming another tenant's host PV is refused with a Warning;
#  - the seed's sync-storage.yaml as written (persistentvolumes + storageclasses): the seed's sc.yaml reaches
#    the host under its translated name, without is-default-class, the seed's pvc-sc.yaml asks for it, a claim
#    without a class gets "no storage class defined", a PV created in the virtual cluster goes to the host and
#    binds a claim statically, a host PV the host bound a claim to is imported (and goes with it), and deletes
#    of the class, claim and volume follow;
#  - hoststorageclasses mode mirrors host classes; both class modes at once are refused with a sentence.
# The seed's files are used unchanged (tests/integration/seed/ holds byte-for-byte copies). The real-node flow
# with a provisioner is tests/bed's business.
#
# Usage: storage_test.sh SYNCER STORAGE_PLUGIN
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1
STORAGE=$2
SEED=$(dirname "${BASH_SOURCE[0]}")/seed
VC=sto-vc
HNS=vcluster-sto

start_cluster host host
start_cluster virt virtual
# shellcheck disable=SC2154
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
# shellcheck disable=SC2154
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
hk create namespace "$HNS" >/dev/null

port=$(free_port)
# shellcheck disable=SC2034 # read by lib.sh (syncer_quiet, syncer_writes)
URL=http://127.0.0.1:$port

# hclaim NAME JSONPATH / vclaim NAME JSONPATH: a field of host claim NAME-x-default-x-VC / virtual default/NAME.
hclaim() { hk -n "$HNS" get pvc "$1-x-default-x-$VC" -o "jsonpath=$2"; }
vclaim() { vk -n default get pvc "$1" -o "jsonpath=$2"; }
host_claim_exists() { hk -n "$HNS" get pvc "$1-x-default-x-$VC" >/dev/null; }
host_claim_gone() { ! host_claim_exists "$1"; }
virtual_claim_gone() { ! vk -n default get pvc "$1" >/dev/null; }
host_class_exists() { hk get storageclass "$1" >/dev/null; }
# The cluster-scoped host name of virtual object $1 (§1.3), computed independently of the plugin.
cluster_name() { echo "vcluster-$1-x-$HNS-x-$VC"; }

# host_pv NAME CLASS CLAIM: a host hostPath PV of 1Gi, pre-bound to host claim CLAIM when given.
host_pv() {
  local ref=''
  [ -n "${3:-}" ] && ref="claimRef: {namespace: $HNS, name: $3}"
  cat <<YAML | hk apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: $1}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $2
  hostPath: {path: /tmp/vc-storage-test/$1}
  $ref
YAML
}
# claim NAME CLASS [VOLUME]: a virtual claim of 1Gi in default.
claim() {
  cat <<YAML | vk apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1, namespace: default, labels: {app: db}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  ${2:+storageClassName: $2}
  ${3:+volumeName: $3}
YAML
}
# A class "manual" on both sides that allows expansion (the API servers' resize admission asks for it).
manual_class() {
  cat <<YAML | "$1" apply -f - >/dev/null
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: manual}
provisioner: kubernetes.io/no-provisioner
allowVolumeExpansion: true
YAML
}
manual_class hk
manual_class vk
warned() { # warned NAME TEXT: a Warning event about virtual claim NAME whose message holds TEXT
  vk -n default get events -o json | jq -e --arg n "$1" --arg t "$2" \
    '[.items[] | select(.involvedObject.name == $n and .type == "Warning" and (.message | contains($t)))] | length > 0' >/dev/null
}

# ---- default mode: fake PVs ------------------------------------------------------------------------------
host_pv host-pv-a manual "data-x-default-x-$VC"
host_pv host-pv-b manual "gone-x-default-x-$VC"
host_pv other-tenant manual ''
claim data manual
check "syncer (storage plugin, default values) becomes ready" syncer_up default "$STORAGE" --log-level debug

check "host claim data-x-default-x-$VC appears" poll 30 host_claim_exists data
check "it keeps the class (default mode passes it through)" equals manual -- hclaim data '{.spec.storageClassName}'
check "it carries the managed-by label and the object-name annotation" \
  equals "$VC data" -- hclaim data '{.metadata.labels.vcluster\.loft\.sh/managed-by} {.metadata.annotations.vcluster\.loft\.sh/object-name}'
check "the host binds it to the PV made for it" poll 30 equals Bound -- hclaim data '{.status.phase}'
check "the virtual claim shows Bound to host-pv-a" poll 30 equals "Bound host-pv-a" -- vclaim data '{.status.phase} {.spec.volumeName}'
check "the binding annotation came back" equals yes -- vclaim data '{.metadata.annotations.pv\.kubernetes\.io/bind-completed}'
check "a fake PV host-pv-a appears in the virtual cluster, Bound to default/data" poll 20 \
  equals "true Bound default/data" -- vk get pv host-pv-a -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/fake-pv} {.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}'
check "the fake PV is a flexVolume of driver fake" equals fake -- vk get pv host-pv-a -o 'jsonpath={.spec.flexVolume.driver}'
check "the host PV host-pv-a is untouched (no vcluster label)" \
  equals "" -- hk get pv host-pv-a -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/managed-by}'
check "no PV was created on the host (3, the test's own)" equals 3 -- bash -c "kubectl --kubeconfig '$KC_host' get pv -o name | wc -l"

vk -n default patch pvc data --type merge -p '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}' >/dev/null
check "an expansion reaches the host claim" poll 20 equals 2Gi -- hclaim data '{.spec.resources.requests.storage}'

check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
check "restarted syncer becomes ready" syncer_up again "$STORAGE" --log-level debug
check "with nothing changed it settles without a single write" syncer_quiet 60
check "  (writes since the restart: 0)" equals 0 -- syncer_writes

claim steal manual other-tenant
check "a claim naming another tenant's host PV gets a Warning event" poll 20 warned steal "another tenant's volume"
check "and no host claim" host_claim_gone steal
vk -n default delete pvc steal >/dev/null

claim gone manual
check "claim gone binds on the host too" poll 30 equals "Bound host-pv-b" -- vclaim gone '{.status.phase} {.spec.volumeName}'
hk -n "$HNS" delete pvc "gone-x-default-x-$VC" --wait=false >/dev/null
check "deleting the host claim deletes the virtual one" poll 30 virtual_claim_gone gone
check "and its fake PV" poll 20 bash -c "! kubectl --kubeconfig '$KC_virt' get pv host-pv-b >/dev/null 2>&1"

vk -n default delete pvc data --wait=false >/dev/null
check "deleting the virtual claim deletes the host one" poll 30 host_claim_gone data
check "and the fake PV" poll 20 bash -c "! kubectl --kubeconfig '$KC_virt' get pv host-pv-a >/dev/null 2>&1"
check "the host PV stays (Retain), released by the host" poll 30 equals Released -- hk get pv host-pv-a -o 'jsonpath={.status.phase}'
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

# ---- the seed's sync-storage.yaml: real PVs and StorageClasses to the host ---------------------------------
SC_HOST=$(cluster_name my-local-hostpath)
vk apply -f "$SEED/sc.yaml" >/dev/null
cat <<YAML | vk apply -f - >/dev/null
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
  annotations: {storageclass.kubernetes.io/is-default-class: "true", team: storage}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
YAML
check "syncer with the seed's sync-storage.yaml becomes ready" syncer_up seed "$STORAGE" -f "$SEED/sync-storage.yaml" --log-level debug
check "the seed's class reaches the host as $SC_HOST" poll 30 host_class_exists "$SC_HOST"
check "with its provisioner, binding mode and annotations" \
  equals "openebs.io/local WaitForFirstConsumer local" -- hk get storageclass "$SC_HOST" -o 'jsonpath={.provisioner} {.volumeBindingMode} {.metadata.annotations.openebs\.io/cas-type}'
FAST_HOST=$(cluster_name fast)
check "a default virtual class reaches the host" poll 30 host_class_exists "$FAST_HOST"
check "without is-default-class (it never becomes the host's default)" \
  equals "storage|" -- hk get storageclass "$FAST_HOST" -o 'jsonpath={.metadata.annotations.team}|{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}'

vk apply -f "$SEED/pvc-sc.yaml" >/dev/null
check "the seed's claim reaches the host asking for the translated class" poll 30 \
  equals "$SC_HOST" -- hclaim my-persistent-volume-claim '{.spec.storageClassName}'
check "it waits for its first consumer (Pending on both sides)" \
  equals Pending -- vclaim my-persistent-volume-claim '{.status.phase}'

# The virtual cluster's default class would be filled in by admission; remove the default to see the refusal.
vk annotate storageclass fast storageclass.kubernetes.io/is-default-class- >/dev/null
claim noclass ''
check "a claim with no class gets the \"no storage class defined\" Warning" poll 20 warned noclass "no storage class defined"
check "and no host claim" host_claim_gone noclass
vk -n default delete pvc noclass >/dev/null

cat <<YAML | vk apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-static, labels: {app: db}}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: my-local-hostpath
  hostPath: {path: /tmp/vc-storage-test/pv-static}
YAML
PV_HOST=$(cluster_name pv-static)
check "a PV created in the virtual cluster reaches the host as $PV_HOST" poll 30 bash -c "kubectl --kubeconfig '$KC_host' get pv '$PV_HOST' >/dev/null 2>&1"
check "with the class translated and no claimRef" \
  equals "$SC_HOST|" -- hk get pv "$PV_HOST" -o 'jsonpath={.spec.storageClassName}|{.spec.claimRef.name}'
claim static my-local-hostpath pv-static
check "a claim naming it binds on the host to the translated volume" poll 30 \
  equals "Bound $PV_HOST" -- hclaim static '{.status.phase} {.spec.volumeName}'
check "the virtual claim shows Bound to pv-static" poll 30 equals "Bound pv-static" -- vclaim static '{.status.phase} {.spec.volumeName}'
check "the virtual PV shows Bound to default/static (status and claimRef back)" poll 30 \
  equals "Bound default/static" -- vk get pv pv-static -o 'jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}'
check "no fake PV was made for it" equals "" -- vk get pv pv-static -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/fake-pv}'

check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
check "restarted with the seed's values, it becomes ready" syncer_up seed-again "$STORAGE" -f "$SEED/sync-storage.yaml" --log-level debug
check "with nothing changed it settles without a single write (classes, claims, volumes)" syncer_quiet 60
check "  (writes since the restart: 0)" equals 0 -- syncer_writes

# A host PV the host binds the claim to without a virtual PV behind it (as a provisioner's would be): imported.
MANUAL_HOST=$(cluster_name manual)
check "the virtual class manual reaches the host as $MANUAL_HOST" poll 30 host_class_exists "$MANUAL_HOST"
host_pv host-dyn "$MANUAL_HOST" "dyn-x-default-x-$VC"
claim dyn manual
check "a claim bound on the host to a host PV shows Bound to it" poll 30 equals "Bound host-dyn" -- vclaim dyn '{.status.phase} {.spec.volumeName}'
check "the host PV is imported: a virtual PV host-dyn with host-pv, Bound to default/dyn" poll 30 \
  equals "true host-dyn Bound default/dyn" -- vk get pv host-dyn -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/imported-pv} {.metadata.annotations.vcluster\.loft\.sh/host-pv} {.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}'
check "with the host PV's source and the virtual class" \
  equals "/tmp/vc-storage-test/host-dyn manual" -- vk get pv host-dyn -o 'jsonpath={.spec.hostPath.path} {.spec.storageClassName}'
check "and no host copy of it" bash -c "! kubectl --kubeconfig '$KC_host' get pv '$(cluster_name host-dyn)' >/dev/null 2>&1"
vk -n default delete pvc dyn --wait=false >/dev/null
check "deleting its claim releases the host PV (Retain), and the virtual PV shows it" poll 30 \
  equals Released -- vk get pv host-dyn -o 'jsonpath={.status.phase}'
hk delete pv host-dyn --wait=false >/dev/null
check "deleting the host PV deletes the imported virtual PV" poll 30 bash -c "! kubectl --kubeconfig '$KC_virt' get pv host-dyn >/dev/null 2>&1"

vk delete storageclass fast >/dev/null
check "deleting a virtual class deletes its host copy" poll 30 bash -c "! kubectl --kubeconfig '$KC_host' get storageclass '$FAST_HOST' >/dev/null 2>&1"
hk delete storageclass "$SC_HOST" >/dev/null
check "a host copy deleted behind the syncer's back comes back" poll 30 host_class_exists "$SC_HOST"
vk -n default delete pvc static --wait=false >/dev/null
check "deleting the static claim deletes its host claim" poll 30 host_claim_gone static
vk delete pv pv-static --wait=false >/dev/null
check "deleting the virtual PV deletes the host PV" poll 30 bash -c "! kubectl --kubeconfig '$KC_host' get pv '$PV_HOST' >/dev/null 2>&1"
check "and the virtual PV is gone (finalizer lifted)" poll 30 bash -c "! kubectl --kubeconfig '$KC_virt' get pv pv-static >/dev/null 2>&1"
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

# ---- hoststorageclasses: the host's classes mirrored; both modes refused ------------------------------------
VALUES=$WORK/host-classes.yaml
printf 'sync:\n  hoststorageclasses:\n    enabled: true\n' >"$VALUES"
cat <<YAML | hk apply -f - >/dev/null
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: host-only}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
YAML
vk delete storageclass my-local-hostpath >/dev/null
check "syncer with sync.hoststorageclasses becomes ready" syncer_up mirror "$STORAGE" -f "$VALUES" --log-level debug
check "the host class host-only appears in the virtual cluster" poll 30 \
  equals kubernetes.io/host-path -- vk get storageclass host-only -o 'jsonpath={.provisioner}'
check "the copies of another mode are not mirrored" bash -c "! kubectl --kubeconfig '$KC_virt' get storageclass '$SC_HOST' >/dev/null 2>&1"
hk delete storageclass host-only >/dev/null
check "a class deleted on the host goes from the virtual cluster" poll 30 bash -c "! kubectl --kubeconfig '$KC_virt' get storageclass host-only >/dev/null 2>&1"
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

printf 'sync:\n  hoststorageclasses:\n    enabled: true\n  storageclasses:\n    enabled: true\n' >"$VALUES"
start_bg "$WORK/syncer-both.log" "$SYNCER" --name "$VC" --target-namespace "$HNS" \
  --virtual-kubeconfig "$KC_virt" --host-kubeconfig "$KC_host" --plugins "$STORAGE" -f "$VALUES" \
  --status-address "127.0.0.1:$port"
SYNCER_PID=$LAST_PID
check "both class modes at once are refused with a sentence" poll 30 \
  grep -q "sync.storageclasses.enabled and sync.hoststorageclasses.enabled cannot both be true" "$WORK/syncer-both.log"
stop_pid "$SYNCER_PID" >/dev/null 2>&1

check_no_sanitizer_reports
summary
