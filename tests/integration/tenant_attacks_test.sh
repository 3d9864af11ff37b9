#!/usr/bin/env bash
# Tenant attacks (issue 25 item 3) on real control planes: one host cluster and TWO virtual clusters, each
# with its own syncer (pods, services and storage plugins): vcluster a in host namespace vcluster-a, b in
# vcluster-b. Each attack is a check with its expected outcome: refused (a Warning event in the virtual
# cluster naming the object or field) or neutralised, and the host objects it aims at untouched (uid and
# resourceVersion compared before and after).
#  1. names colliding with foreign host objects (pod, Service, ConfigMap without managed-by);
#  2. a tenant pod labelled vcluster.loft.sh/managed-by: b in vcluster a;
#  3. selector-less Services whose Endpoints point at the host API server (127.0.0.1, the host's kubernetes
#     ClusterIP) or at another tenant's host Service;
#  4. a Secret of type service-account-token naming a host ServiceAccount;
#  5. names of 253 characters, label values of 63, a ~1 MB ConfigMap that fits and a ~2 MB one that does not;
#  6. two vclusters on one host: objects in a that point at b's host objects (object-name/object-namespace
#     annotations, b's translated names as ConfigMap/claim names, a PVC volumeName of b's PV).
#
# Usage: tenant_attacks_test.sh SYNCER PODS_PLUGIN SERVICES_PLUGIN STORAGE_PLUGIN
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2034 # SYNCER, VC, HNS, KC_virt and port are read by syncer_up (lib.sh)
SYNCER=$1
PLUGINS=$2,$3,$4

start_cluster host host
VC_BED_SERVICE_CIDR=10.96.0.0/16 start_cluster virta virtual
VC_BED_SERVICE_CIDR=10.96.0.0/16 start_cluster virtb virtual
# shellcheck disable=SC2154 # set by start_cluster (printf -v)
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
# shellcheck disable=SC2154
ak() { kubectl --kubeconfig "$KC_virta" "$@" 2>/dev/null; }
# shellcheck disable=SC2154
bk() { kubectl --kubeconfig "$KC_virtb" "$@" 2>/dev/null; }
vcluster_host_services "$KC_host" vcluster-a a
vcluster_host_services "$KC_host" vcluster-b b

VALUES=$WORK/values.yaml
cat >"$VALUES" <<YAML
sync:
  configmaps:
    all: true
  secrets:
    all: true
YAML

# up a|b: the syncer of vcluster a or b (its own status port); sets URL_a / URL_b.
# shellcheck disable=SC2034
up() {
  local which=$1 kc
  VC=$which HNS=vcluster-$which
  kc=KC_virt$which
  KC_virt=${!kc}
  port=$(free_port)
  printf -v "URL_$which" '%s' "http://127.0.0.1:$port"
  # As the vcluster CLI starts it: with the host's Service range, which selector-less Endpoints may not
  # point into (the services plugin's sync.endpoints.deniedCIDRs).
  syncer_up "$which" "$PLUGINS" -f "$VALUES" --log-level debug --host-service-cidr "$(host_service_cidr)"
}
host_service_cidr() { sed -n 's/^export VC_SERVICE_CIDR=//p' "$WORK/host/env"; }
# stamp NS KIND NAME: uid/resourceVersion of a host object ("" when absent).
stamp() { hk -n "$1" get "$2" "$3" -o 'jsonpath={.metadata.uid}/{.metadata.resourceVersion}'; }
stamp_cluster() { hk get "$1" "$2" -o 'jsonpath={.metadata.uid}/{.metadata.resourceVersion}'; }
# warned K NAME TEXT: a Warning event in virtual cluster K (ak/bk) about NAME whose message holds TEXT.
warned() {
  "$1" -n default get events -o json | jq -e --arg n "$2" --arg t "$3" \
    '[.items[] | select(.involvedObject.name == $n and .type == "Warning" and (.message | contains($t)))] | length > 0' >/dev/null
}
hexists() { hk -n "$1" get "$2" "$3" >/dev/null; }
has_text() { grep -q -i "$2" <<<"$1"; }

# ---- objects of tenant b, and the foreign host objects a's names will collide with ---------------------
check "syncer b becomes ready" up b
bk -n default create configmap bdata --from-literal=k=b-secret-value >/dev/null
bk -n default create secret generic bsecret --from-literal=password=b-password >/dev/null
bk -n default create service clusterip bsvc --tcp=80 >/dev/null
cat <<YAML | bk apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bclaim, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  storageClassName: manual
YAML
cat <<YAML | hk apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-of-b}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  hostPath: {path: /tmp/vc-attack-test/pv-of-b}
  claimRef: {namespace: vcluster-b, name: bclaim-x-default-x-b}
YAML
check "b's ConfigMap, Secret, Service and claim reach vcluster-b" poll 40 'hexists vcluster-b configmap bdata-x-default-x-b &&
  hexists vcluster-b secret bsecret-x-default-x-b && hexists vcluster-b service bsvc-x-default-x-b && hexists vcluster-b pvc bclaim-x-default-x-b'
check "b's claim binds to pv-of-b on the host" poll 40 equals Bound -- hk -n vcluster-b get pvc bclaim-x-default-x-b -o 'jsonpath={.status.phase}'
sleep 3 # let b's objects settle (bind annotations, fake PV) before their stamps are taken
B_OBJECTS="configmap/bdata-x-default-x-b secret/bsecret-x-default-x-b service/bsvc-x-default-x-b pvc/bclaim-x-default-x-b endpoints/bsvc-x-default-x-b"
b_stamps() {
  local o
  for o in $B_OBJECTS; do echo "$o=$(stamp vcluster-b "${o%%/*}" "${o#*/}")"; done
  echo "pv/pv-of-b=$(stamp_cluster pv pv-of-b)"
}
b_before=$(b_stamps)
bsvc_ip=$(hk -n vcluster-b get service bsvc-x-default-x-b -o 'jsonpath={.spec.clusterIP}')
host_api_ip=$(hk -n default get service kubernetes -o 'jsonpath={.spec.clusterIP}')

# Foreign host objects with exactly the names a's virtual objects will get (no managed-by label).
hk -n vcluster-a run clash-x-default-x-a --image=registry.k8s.io/pause:3.2 --restart=Never --labels=owner=someone-else >/dev/null
hk -n vcluster-a create service clusterip clash-x-default-x-a --tcp=81 >/dev/null
hk -n vcluster-a create configmap clash-x-default-x-a --from-literal=owner=someone-else >/dev/null
foreign_before="$(stamp vcluster-a pod clash-x-default-x-a) $(stamp vcluster-a service clash-x-default-x-a) $(stamp vcluster-a configmap clash-x-default-x-a)"

check "syncer a becomes ready" up a

# ---- 1. collisions with foreign host objects --------------------------------------------------------------
ak -n default run clash --image=nginx --restart=Never >/dev/null
ak -n default create service clusterip clash --tcp=80 >/dev/null
ak -n default create configmap clash --from-literal=mine=yes >/dev/null
check "1. the colliding virtual pod gets a Warning naming the foreign host pod" \
  poll 30 warned ak clash "host Pod vcluster-a/clash-x-default-x-a exists and is not managed by vcluster a"
check "1. the colliding virtual Service gets a Warning" \
  poll 30 warned ak clash "host Service vcluster-a/clash-x-default-x-a exists and is not managed by vcluster a"
check "1. the colliding virtual ConfigMap gets a Warning" \
  poll 30 warned ak clash "host ConfigMap vcluster-a/clash-x-default-x-a exists and is not managed by vcluster a"
sleep 3
check "1. the three foreign host objects are untouched (uid/resourceVersion)" \
  equals "$foreign_before" -- echo "$(stamp vcluster-a pod clash-x-default-x-a) $(stamp vcluster-a service clash-x-default-x-a) $(stamp vcluster-a configmap clash-x-default-x-a)"
check "1. the foreign ConfigMap keeps its data and gets no managed-by label" \
  equals "someone-else|" -- hk -n vcluster-a get configmap clash-x-default-x-a -o 'jsonpath={.data.owner}|{.metadata.labels.vcluster\.loft\.sh/managed-by}'

hashed_spoof_label() {
  hk -n vcluster-a get pod spoof-x-default-x-a -o json |
    jq -e '[.metadata.labels | to_entries[] | select(.value == "b" and (.key | startswith("vcluster.loft.sh/label-a-x-")))] | length == 1' >/dev/null
}
# ---- 2. a pod that claims to be b's ----------------------------------------------------------------------
ak -n default run spoof --image=nginx --restart=Never --labels=vcluster.loft.sh/managed-by=b,app=spoof >/dev/null
check "2. a's host copy of the pod labelled managed-by=b appears in vcluster-a" poll 40 hexists vcluster-a pod spoof-x-default-x-a
check "2. its managed-by label is a's (the tenant's label is rewritten)" \
  equals a -- hk -n vcluster-a get pod spoof-x-default-x-a -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/managed-by}'
check "2. the tenant's value survives only under a hashed key of vcluster a" \
  hashed_spoof_label
check "2. no host pod in vcluster-b" equals 0 -- bash -c "kubectl --kubeconfig '$KC_host' -n vcluster-b get pods -o name | wc -l"
spoof_before=$(stamp vcluster-a pod spoof-x-default-x-a)
check "2. b's syncer never mentions the pod" bash -c "! grep -q spoof '$WORK/syncer-b.log'"

# ---- 3. Endpoints at the host API server / another tenant ----------------------------------------------
selectorless() { # selectorless NAME IP: a selector-less Service in a and its Endpoints at IP:443
  cat <<YAML | kubectl --kubeconfig "$KC_virta" apply -f - 2>&1
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  ports: [{port: 443, protocol: TCP, targetPort: 443}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: $1, namespace: default}
subsets:
- addresses: [{ip: $2}]
  ports: [{port: 443, protocol: TCP}]
YAML
}
loop_out=$(selectorless loop 127.0.0.1)
check "3. Endpoints at 127.0.0.1 are refused by the virtual API server (loopback range)" \
  has_text "$loop_out" loopback
check "3. so no host Endpoints for them" bash -c "! kubectl --kubeconfig '$KC_host' -n vcluster-a get endpoints loop-x-default-x-a -o jsonpath='{.subsets}' 2>/dev/null | grep -q 127.0.0.1"
selectorless hostapi "$host_api_ip" >/dev/null
selectorless tob "$bsvc_ip" >/dev/null
check "3. the selector-less Service hostapi reaches the host" poll 30 hexists vcluster-a service hostapi-x-default-x-a
check "3. the selector-less Service tob reaches the host" poll 30 hexists vcluster-a service tob-x-default-x-a
sleep 5
hostapi_eps=$(hk -n vcluster-a get endpoints hostapi-x-default-x-a -o 'jsonpath={.subsets[*].addresses[*].ip}')
tob_eps=$(hk -n vcluster-a get endpoints tob-x-default-x-a -o 'jsonpath={.subsets[*].addresses[*].ip}')
echo "# host Endpoints hostapi-x-default-x-a: [$hostapi_eps] (host kubernetes ClusterIP $host_api_ip)"
echo "# host Endpoints tob-x-default-x-a: [$tob_eps] (b's host Service ClusterIP $bsvc_ip)"
check "3. FINDING if failing: host Endpoints never point at the host's kubernetes ClusterIP $host_api_ip" \
  test "$hostapi_eps" != "$host_api_ip"
check "3. FINDING if failing: host Endpoints never point at another tenant's host Service $bsvc_ip" \
  test "$tob_eps" != "$bsvc_ip"
check "3. FINDING if failing: the refusal is a Warning on the virtual Endpoints" \
  poll 10 'warned ak hostapi 127.0.0.1 || warned ak hostapi "$host_api_ip"'

# ---- 4. a service-account-token Secret naming a host ServiceAccount --------------------------------------
hk -n vcluster-a create serviceaccount host-admin >/dev/null
ak -n default create serviceaccount host-admin >/dev/null
cat <<YAML | ak apply -f - >/dev/null
apiVersion: v1
kind: Secret
metadata:
  name: tok
  namespace: default
  annotations: {kubernetes.io/service-account.name: host-admin}
type: kubernetes.io/service-account-token
YAML
check "4. the token Secret reaches the host" poll 30 hexists vcluster-a secret tok-x-default-x-a
sleep 3
check "4. its host copy is Opaque, not a service-account-token" \
  equals Opaque -- hk -n vcluster-a get secret tok-x-default-x-a -o 'jsonpath={.type}'
host_tok=$(hk -n vcluster-a get secret tok-x-default-x-a -o 'jsonpath={.data.token}' | base64 -d 2>/dev/null)
virt_tok=$(ak -n default get secret tok -o 'jsonpath={.data.token}' | base64 -d 2>/dev/null)
check "4. no host token was minted into it (any token there is the virtual cluster's)" \
  test "$host_tok" = "$virt_tok"
check "4. the host's token controller made no token Secret for host-admin" \
  equals "" -- bash -c "kubectl --kubeconfig '$KC_host' -n vcluster-a get secrets -o json | jq -r '.items[] | select(.type == \"kubernetes.io/service-account-token\" and .metadata.annotations[\"kubernetes.io/service-account.name\"] == \"host-admin\" and (.metadata.name | startswith(\"host-admin-token-\") | not)) | .metadata.name'"

# ---- 5. limits --------------------------------------------------------------------------------------------
long=$(printf 'n%.0s' $(seq 253))
v63=$(printf 'v%.0s' $(seq 63))
k63=$(printf 'k%.0s' $(seq 63))
ak -n default create configmap "$long" --from-literal=x=y >/dev/null
ak -n default label configmap "$long" "tier=$v63" "example.com/$k63=$v63" >/dev/null
long_host() { hk -n vcluster-a get configmaps -o json | jq -r --arg n "$long" '.items[] | select(.metadata.annotations["vcluster.loft.sh/object-name"] == $n) | .metadata.name'; }
check "5. a ConfigMap named with 253 characters reaches the host" poll 30 'test -n "$(long_host)"'
lh=$(long_host)
echo "# host name of the 253-character ConfigMap: $lh (${#lh} characters)"
check "5. its host name is a valid name (<= 253 characters)" test "${#lh}" -le 253
long_labels() {
  [ -n "$lh" ] && hk -n vcluster-a get configmap "$lh" -o json |
    jq -e --arg v "$v63" '[.metadata.labels | to_entries[] | select(.value == $v)] | length == 2' >/dev/null
}
check "5. label values of 63 characters are copied intact under translated keys" \
  long_labels
python3 -c 'print("x" * 1000000)' >"$WORK/1mb.txt"
python3 -c 'print("x" * 2000000)' >"$WORK/2mb.txt"
ak -n default create configmap big1 --from-file=data="$WORK/1mb.txt" >/dev/null
check "5. a 1,000,001-byte ConfigMap reaches the host intact" \
  poll 40 'test "$(hk -n vcluster-a get configmap big1-x-default-x-a -o "jsonpath={.data.data}" | wc -c)" = 1000001'
big2_out=$(kubectl --kubeconfig "$KC_virta" -n default create configmap big2 --from-file=data="$WORK/2mb.txt" 2>&1)
echo "# the 2,000,001-byte ConfigMap: $big2_out" | cut -c1-300
echo "# Endpoints at 127.0.0.1: $loop_out" | tr "\n" " " | cut -c1-300; echo
check "5. a 2,000,001-byte ConfigMap is refused by the virtual API server with a clear error" \
  has_text "$big2_out" 'too long\|too large\|at most'
ak -n default create configmap after-big --from-literal=ok=1 >/dev/null
check "5. and syncing goes on (a small ConfigMap created after it reaches the host)" poll 30 hexists vcluster-a configmap after-big-x-default-x-a

# ---- 6. a reaches for b's host objects --------------------------------------------------------------------
cat <<YAML | ak apply -f - >/dev/null
apiVersion: v1
kind: ConfigMap
metadata:
  name: pointer
  namespace: default
  annotations:
    vcluster.loft.sh/object-name: bdata
    vcluster.loft.sh/object-namespace: default
    vcluster.loft.sh/object-host-namespace: vcluster-b
data: {k: a-overwrite}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: bdata-x-default-x-b, namespace: default}
data: {k: a-overwrite}
---
apiVersion: v1
kind: Secret
metadata:
  name: spoofsec
  namespace: default
  annotations: {vcluster.loft.sh/object-name: bsecret, vcluster.loft.sh/object-namespace: default}
stringData: {password: a-overwrite}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: steal, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  storageClassName: manual
  volumeName: pv-of-b
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bclaim-x-default-x-b, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  storageClassName: manual
---
apiVersion: v1
kind: Pod
metadata: {name: reach, namespace: default}
spec:
  containers:
  - name: c
    image: nginx
    envFrom: [{configMapRef: {name: bdata-x-default-x-b}}]
    volumeMounts: [{name: data, mountPath: /data}, {name: cm, mountPath: /cm}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: bclaim-x-default-x-b}
  - name: cm
    configMap: {name: bdata-x-default-x-b}
YAML
check "6. a PVC with volumeName of b's PV is refused with a Warning" poll 30 warned ak steal "another tenant's volume"
check "6. and has no host claim" bash -c "! kubectl --kubeconfig '$KC_host' -n vcluster-a get pvc steal-x-default-x-a >/dev/null 2>&1"
check "6. a ConfigMap with object-name annotations pointing at b's lands in vcluster-a under its own name" \
  poll 30 hexists vcluster-a configmap pointer-x-default-x-a
check "6. its host annotations name a's object, not b's" \
  equals "pointer default" -- hk -n vcluster-a get configmap pointer-x-default-x-a -o 'jsonpath={.metadata.annotations.vcluster\.loft\.sh/object-name} {.metadata.annotations.vcluster\.loft\.sh/object-namespace}'
check "6. a ConfigMap named like b's host copy becomes bdata-x-default-x-b-x-default-x-a in vcluster-a" \
  poll 30 hexists vcluster-a configmap bdata-x-default-x-b-x-default-x-a
check "6. the pod naming b's translated ConfigMap/claim reaches the host" poll 40 hexists vcluster-a pod reach-x-default-x-a
check "6. its volumes and envFrom name a's translations, in a's namespace" \
  equals "bclaim-x-default-x-b-x-default-x-a bdata-x-default-x-b-x-default-x-a bdata-x-default-x-b-x-default-x-a" -- \
  hk -n vcluster-a get pod reach-x-default-x-a -o 'jsonpath={.spec.volumes[0].persistentVolumeClaim.claimName} {.spec.volumes[1].configMap.name} {.spec.containers[0].envFrom[0].configMapRef.name}'
check "6. a's syncer wrote nothing in vcluster-b (every object there is b's or the test's)" \
  equals "" -- bash -c "kubectl --kubeconfig '$KC_host' -n vcluster-b get all,configmaps,secrets,pvc,endpoints -o json | jq -r '.items[] | select(.metadata.labels[\"vcluster.loft.sh/managed-by\"] == \"a\") | .metadata.name'"
sleep 5
check "6. b's host objects and PV are unchanged (uid/resourceVersion)" equals "$b_before" -- b_stamps
check "6. b's ConfigMap and Secret keep b's data" \
  equals "b-secret-value b-password" -- bash -c "echo \$(kubectl --kubeconfig '$KC_host' -n vcluster-b get configmap bdata-x-default-x-b -o jsonpath='{.data.k}') \$(kubectl --kubeconfig '$KC_host' -n vcluster-b get secret bsecret-x-default-x-b -o jsonpath='{.data.password}' | base64 -d)"
check "6. b's virtual objects are unchanged too" \
  equals "b-secret-value" -- bk -n default get configmap bdata -o 'jsonpath={.data.k}'
check "2. the spoofed pod's host copy was not touched by b meanwhile (resourceVersion)" \
  equals "$spoof_before" -- stamp vcluster-a pod spoof-x-default-x-a
check "2. still a's: b's syncer never adopted or deleted it" bash -c "! grep -q spoof '$WORK/syncer-b.log'"
check "1. the foreign host objects are still untouched at the end" \
  equals "$foreign_before" -- echo "$(stamp vcluster-a pod clash-x-default-x-a) $(stamp vcluster-a service clash-x-default-x-a) $(stamp vcluster-a configmap clash-x-default-x-a)"

check "SIGTERM stops syncer a cleanly" stop_pid "$SYNCER_PID"
check_no_sanitizer_reports
summary
