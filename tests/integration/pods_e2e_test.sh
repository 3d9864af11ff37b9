#!/usr/bin/env bash
# The seed's quick start on two real control planes with the pods plugin: a host cluster whose nodes
# are simulated by vcluster-nodesim (a scheduler and controller manager of its own), a virtual cluster
# (API server + controller manager, no scheduler, no nodes), and vcluster-syncer with plugins/pods.
#
# The nodes plugin runs too: without Node objects in the virtual cluster, its pod-GC controller deletes
# bound pods after about 40 s, as it would in vcluster with fake nodes turned off.
#
# Usage: pods_e2e_test.sh SYNCER PLUGINS(comma-separated paths) NODESIM
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1 PODS=$2 NODESIM=$3
VC=my-vcluster
HNS=vcluster-$VC

start_cluster host host
# The virtual cluster allocates Service IPs from the host's range; its ServiceAccount admission injects the
# projected kube-api-access volume (token + kube-root-ca.crt), as the bed's virtual role always has it.
VC_BED_SERVICE_CIDR=10.96.0.0/16 \
  start_cluster virt virtual
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
vcluster_host_services "$KC_host" "$HNS" "$VC"

start_bg "$WORK/nodesim.log" "$NODESIM" --kubeconfig "$KC_host" --nodes 2
check "two simulated nodes become Ready" \
  poll 60 'test "$(hk get nodes -o jsonpath='\''{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'\'' | grep -c True)" = 2'

port=$(free_port)
URL=http://127.0.0.1:$port
# shellcheck disable=SC2086 # SYNCER_ARGS is a list of words
run_syncer() { syncer_up "$1" "$PODS" ${SYNCER_ARGS:-}; }
check "syncer with the pods plugin becomes ready" run_syncer first

# The seed's quick start, verbatim.
vk create namespace demo-nginx >/dev/null
vk create deployment nginx-deployment -n demo-nginx --image=nginx >/dev/null
hostpods() { hk -n "$HNS" get pods -o name | grep -c "nginx-deployment-.*-x-demo-nginx-x-$VC"; }
check "host pod nginx-deployment-<hash>-x-demo-nginx-x-$VC appears in $HNS" poll 60 'test "$(hostpods)" = 1'
vpod=$(vk -n demo-nginx get pods -o jsonpath='{.items[0].metadata.name}')
hpod=$vpod-x-demo-nginx-x-$VC
check "the host name is exactly the translated virtual name ($hpod)" hk -n "$HNS" get pod "$hpod"
check "the virtual pod becomes Running (status copied back)" \
  poll 60 'test "$(vk -n demo-nginx get pod "$vpod" -o jsonpath='\''{.status.phase}'\'')" = Running'
check "the virtual pod is bound to the node the host scheduler chose" \
  test "$(vk -n demo-nginx get pod "$vpod" -o jsonpath='{.spec.nodeName}')" = "$(hk -n "$HNS" get pod "$hpod" -o jsonpath='{.spec.nodeName}')"
check "the virtual pod shows the host pod IP" \
  test -n "$(vk -n demo-nginx get pod "$vpod" -o jsonpath='{.status.podIP}')"
# The labels of the virtual Namespace reach its pods under ns-label keys (§1.4), which the engine's ABI 1.1
# service computes; the key is derived here with sha256sum, apart from the syncer. The bed's API server adds
# no kubernetes.io/metadata.name label, so the test labels the namespace (a label change re-syncs its pods).
vk label namespace demo-nginx team=web >/dev/null
nskey=vcluster.loft.sh/ns-label-$VC-x-$(printf %s team | sha256sum | cut -c1-10)
check "a namespace label reaches the host pod under $nskey" \
  poll 30 "kubectl --kubeconfig '$KC_host' -n $HNS get pod $hpod -o jsonpath='{.metadata.labels}' 2>/dev/null | grep -qF '\"$nskey\":\"web\"'"
# The virtual cluster has no scheduler; the host scheduler's Scheduled event about the host pod is copied
# back, about the virtual pod, with the host names rewritten out of the message.
vevents() {
  vk get events -n demo-nginx --field-selector "involvedObject.name=$1" \
    -o jsonpath='{range .items[*]}{.reason}{"|"}{.involvedObject.uid}{"|"}{.message}{"\n"}{end}'
}
check "the virtual cluster shows the host scheduler's Scheduled event about $vpod" \
  poll 30 'vevents "$vpod" | grep -q "^Scheduled|"'
vuid=$(vk -n demo-nginx get pod "$vpod" -o jsonpath='{.metadata.uid}')
vnode=$(vk -n demo-nginx get pod "$vpod" -o jsonpath='{.spec.nodeName}')
check "the copied event is about the virtual pod (uid $vuid) and names it demo-nginx/$vpod" \
  test "$(vevents "$vpod" | grep '^Scheduled|')" = "Scheduled|$vuid|Successfully assigned demo-nginx/$vpod to $vnode"
check "the host has no demo-nginx namespace" bash -c "! kubectl --kubeconfig '$KC_host' get ns demo-nginx >/dev/null 2>&1"
check "the host has no Deployment" test "$(hk get deployments -A -o name | wc -l)" = 0
check "host pod DNS points at the virtual DNS Service" \
  test "$(hk -n "$HNS" get pod "$hpod" -o jsonpath='{.spec.dnsPolicy}')" = None
check "host pod runs without the virtual service account's automounted token" \
  test "$(hk -n "$HNS" get pod "$hpod" -o jsonpath='{.spec.automountServiceAccountToken}')" = false
# The token lives in a host token Secret shared by the pods of demo-nginx that run as its default service
# account (default-sa-tokens-<hash>-0, translated); the host pod mounts only its own key.
tok_secret=$(hk -n "$HNS" get pod "$hpod" -o jsonpath='{.spec.volumes[*].projected.sources[*].secret.name}')
tok_key=$(hk -n "$HNS" get pod "$hpod" -o jsonpath='{.spec.volumes[*].projected.sources[*].secret.items[*].key}')
check "the service-account token lives in a host token Secret ($tok_secret), not in annotations" \
  bash -c "kubectl --kubeconfig '$KC_host' -n $HNS get secret '$tok_secret' -o jsonpath='{.metadata.annotations.vcluster\.loft\.sh/object-name}' 2>/dev/null | grep -q '^default-sa-tokens-' && ! kubectl --kubeconfig '$KC_host' -n $HNS get pod $hpod -o jsonpath='{.metadata.annotations}' 2>/dev/null | grep -q 'vcluster.loft.sh/token-'"
check "the host pod mounts one key, named after the pod and its uid ($tok_key)" \
  test "$tok_key" = "${vpod}_$(vk -n demo-nginx get pod "$vpod" -o jsonpath='{.metadata.uid}')_0"
# token_shards: the host token Secrets of demo-nginx, one line each: name, then the number of keys.
token_shards() {
  hk -n "$HNS" get secrets -l "vcluster.loft.sh/managed-by=$VC,vcluster.loft.sh/namespace=demo-nginx" \
    -o go-template='{{range .items}}{{if index .metadata.annotations "vcluster.loft.sh/skip-backsync"}}{{.metadata.name}} {{len .data}}{{"\n"}}{{end}}{{end}}'
}
# The syncer's cache keeps a token Secret's keys, not its tokens (the pods plugin's on_cache): a cached host
# Secret is on average smaller than one token alone.
token_bytes=$(hk -n "$HNS" get secret -l "vcluster.loft.sh/managed-by=$VC" \
  -o jsonpath='{range .items[*]}{.data.*}{"\n"}{end}' | awk 'length($0) > 0 {print length($0); exit}')
cache_gauge() { curl -sf "$URL/metrics" | awk -v k="$1{side=\"host\",resource=\"secrets\"}" '$1 == k {print $2}'; }
secret_objs=$(cache_gauge vcluster_syncer_cache_objects)
secret_json=$(cache_gauge vcluster_syncer_cache_json_bytes)
check "the cache holds host token Secrets without tokens ($secret_objs Secrets, $secret_json bytes; a token is $token_bytes)" \
  test "${secret_objs:-0}" -gt 0 -a "${secret_json:-0}" -lt $(( ${secret_objs:-0} * ${token_bytes:-0} ))
# The token the host pod mounts is the virtual service account's: the virtual API server authenticates it
# (an invalid token gets 401 before any authorization) and names the default service account of demo-nginx
# when it refuses the list. The bed's key is ECDSA P-256, so the token is signed ES256.
vtoken=$(hk -n "$HNS" get secret "$tok_secret" -o go-template="{{index .data \"$tok_key\"}}" | base64 -d 2>/dev/null)
virt_server=$(. "$WORK/virt/env" && echo "$VC_API_SERVER") virt_ca=$(. "$WORK/virt/env" && echo "$VC_CA_CERT")
# tok_k TOKEN ARGS...: kubectl against the virtual API server with only that token. No kubeconfig: its client
# certificate would authenticate the request before the token is looked at.
tok_k() {
  local t=$1
  shift
  kubectl --kubeconfig /dev/null --server "$virt_server" --certificate-authority "$virt_ca" --token "$t" "$@" </dev/null
}
refused() { ! tok_k "$1" get --raw /api >/dev/null 2>&1; }
# The list is refused (kubectl exits 1); the refusal names the token's user.
names_sa() { grep -q "system:serviceaccount:demo-nginx:default" <<<"$(tok_k "$vtoken" -n kube-system get secrets 2>&1)"; }
check "the host token Secret of $vpod holds a token" test -n "$vtoken"
check "the host Secret's token authenticates to the virtual API server" tok_k "$vtoken" get --raw /api
# The control: the same token with its signature cut short is refused, so the check above is the token's doing.
check "the token with a damaged signature is refused" refused "${vtoken%????}AAAA"
check "as system:serviceaccount:demo-nginx:default" names_sa
jwt_alg=$(printf %s "$vtoken" | cut -d. -f1 | tr '_-' '/+' | awk '{n = length($0) % 4; if (n) $0 = $0 substr("===", 1, 4 - n); print}' |
  base64 -d 2>/dev/null | grep -o '"alg":"[A-Z0-9]*"')
check "the token is signed ES256 ($jwt_alg)" test "$jwt_alg" = '"alg":"ES256"'
check "kube-root-ca.crt the pod mounts is synced" hk -n "$HNS" get configmap "kube-root-ca.crt-x-demo-nginx-x-$VC"

vk scale deployment nginx-deployment -n demo-nginx --replicas=3 >/dev/null
check "scaling to 3 gives 3 host pods" poll 60 'test "$(hostpods)" = 3'
check "their tokens share one host token Secret, a key each ($(token_shards | tr '\n' ' '))" \
  test "$(token_shards | awk '{print $2}')" = 3
check "and 3 Running virtual pods" \
  poll 60 'test "$(vk -n demo-nginx get pods --field-selector=status.phase=Running -o name | wc -l)" = 3'

# A host pod that is not ours, with the name a virtual pod will get: never touched.
hk -n "$HNS" run "squatter-x-demo-nginx-x-$VC" --image=busybox --restart=Never --labels=owner=someone-else >/dev/null
vk -n demo-nginx run squatter --image=nginx --restart=Never >/dev/null
check "a colliding foreign host pod is left alone" \
  poll 20 bash -c "kubectl --kubeconfig '$KC_virt' -n demo-nginx get events --field-selector involvedObject.name=squatter -o jsonpath='{.items[*].reason}' 2>/dev/null | grep -q SyncError"
check "its labels are untouched" test "$(hk -n "$HNS" get pod "squatter-x-demo-nginx-x-$VC" -o jsonpath='{.metadata.labels.owner}')" = someone-else
vk -n demo-nginx delete pod squatter --wait=false >/dev/null

vk scale deployment nginx-deployment -n demo-nginx --replicas=0 >/dev/null
check "scaling to 0 removes the host pods" poll 90 'test "$(hostpods)" = 0'
check "and the virtual pods" poll 90 'test "$(vk -n demo-nginx get pods -o name | grep -c nginx-deployment)" = 0'
check "and the host token Secret, once its last key is gone" poll 30 'test -z "$(token_shards)"'
vk scale deployment nginx-deployment -n demo-nginx --replicas=2 >/dev/null
check "scaling back to 2 gives 2 host pods" poll 60 'test "$(hostpods)" = 2'
check "both Running in the virtual cluster" \
  poll 60 'test "$(vk -n demo-nginx get pods --field-selector=status.phase=Running -o name | wc -l)" = 2'
check "with their tokens in a new host token Secret, a key each" test "$(token_shards | awk '{print $2}')" = 2

check "the syncer settles (no write for 2 s, empty queue)" syncer_quiet 60
check "SIGTERM stops the syncer (exit 0)" stop_pid "$SYNCER_PID"
run_syncer second
sleep 3 # every key is reconciled once after the caches sync; counters, not time, are asserted
writes=$(syncer_writes)
reconciles=$(curl -sf "$URL/metrics" | awk '$1 == "vcluster_syncer_reconciles_total" {print $2}')
check "restart with nothing changed: $reconciles reconciles, $writes writes on either side" test "$writes" = 0 -a "${reconciles:-0}" -gt 0

vk delete deployment nginx-deployment -n demo-nginx >/dev/null
check "deleting the deployment cleans the host up" poll 90 'test "$(hostpods)" = 0'
check "no owned pods, configmaps or secrets are left on the host" \
  poll 60 'test "$(hk -n "$HNS" get pods,configmaps,secrets -l vcluster.loft.sh/managed-by=$VC -o name | wc -l)" = 0'
stop_pid "$SYNCER_PID"
check_no_sanitizer_reports
summary
