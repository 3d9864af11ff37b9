#!/usr/bin/env bash
# The services plugin end to end on two real control planes: virtual Services become host Services
# <name>-x-<ns>-x-<vc> with translated selectors; the virtual Service ends with the host's ClusterIP, either
# because the host granted the IP the virtual cluster chose or because the plugin re-created the virtual
# Service with the host's; headless stays headless; nodePorts match; Endpoints of selector-less Services
# reach the host; updates and deletes follow; a host Service vcluster does not own is never touched; and
# a restart with nothing changed writes nothing on either side.
#
# The virtual API server allocates from the host's Service range (VC_BED_SERVICE_CIDR), as vcluster
# arranges for its virtual clusters: only then can a virtual Service carry a host ClusterIP.
#
# Usage: services_test.sh SYNCER SERVICES_PLUGIN
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1
SERVICES=$2
VC=svc-vc
HNS=vcluster-svc
TAKEN_IP=10.96.100.100

start_cluster host host
VC_BED_SERVICE_CIDR=10.96.0.0/16 start_cluster virt virtual
# KC_host and KC_virt are set by start_cluster (printf -v).
# shellcheck disable=SC2154
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
# shellcheck disable=SC2154
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
hk create namespace "$HNS" >/dev/null

port=$(free_port)
URL=http://127.0.0.1:$port
run_syncer() { syncer_up "$1" "$SERVICES" --log-level debug; }

# vsvc/hsvc NAME JSONPATH: a field of virtual Service default/NAME, or of its host Service.
vsvc() { vk -n default get service "$1" -o "jsonpath=$2"; }
hsvc() { hk -n "$HNS" get service "$1-x-default-x-$VC" -o "jsonpath=$2"; }
# The host label key of virtual label key $1 (vcluster-behaviour.md §1.4), computed independently.
label_key() { echo "vcluster.loft.sh/label-$VC-x-$(printf '%s' "$1" | sha256sum | cut -c1-10)"; }
# A selector map as sorted k=v lines.
sorted_map() { jq -r 'to_entries | map("\(.key)=\(.value)") | sort | .[]'; }
same_ip() { local v h; v=$(vsvc "$1" '{.spec.clusterIP}'); h=$(hsvc "$1" '{.spec.clusterIP}'); [ -n "$v" ] && [ "$v" = "$h" ]; }
on_host() { kubectl --kubeconfig "$KC_host" -n "$HNS" get "$1" "$2-x-default-x-$VC" >/dev/null 2>&1; }
gone_on_host() { ! on_host "$@"; }
# gone_on_host_ns NS NAME: no host Service or Endpoints named like the translation of virtual NS/NAME.
gone_on_host_ns() { ! kubectl --kubeconfig "$KC_host" -n "$HNS" get service,endpoints "$2-x-$1-x-$VC" >/dev/null 2>&1; }

# A host Service that already holds TAKEN_IP, so a virtual Service with that IP cannot get it on the host.
hk -n default create service clusterip taken --clusterip="$TAKEN_IP" --tcp=80 >/dev/null
# A host Service with the name a virtual one will get, owned by someone else.
hk -n "$HNS" create service clusterip "foreign-x-default-x-$VC" --tcp=81 >/dev/null

vk create service clusterip web --tcp=80:8080 >/dev/null
vk create service clusterip clash --clusterip="$TAKEN_IP" --tcp=80 >/dev/null
vk create service clusterip db --clusterip=None --tcp=5432 >/dev/null
vk create service nodeport np --tcp=80:8080 >/dev/null
vk create service clusterip foreign --tcp=82 >/dev/null
cat <<YAML | vk apply -f - >/dev/null
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: default}
spec:
  ports: [{port: 9000, protocol: TCP, targetPort: 9000}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: default}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{port: 9000, protocol: TCP}]
YAML
web_uid=$(vsvc web '{.metadata.uid}')
clash_uid=$(vsvc clash '{.metadata.uid}')

check "syncer becomes ready" run_syncer first

check "host Service web-x-default-x-$VC appears" poll 30 on_host service web
want_sel=$(printf '%s=web\nvcluster.loft.sh/managed-by=%s\nvcluster.loft.sh/namespace=default\n' "$(label_key app)" "$VC" | sort)
check "its selector is the virtual one translated (hashed key, managed-by, namespace)" \
  test "$(hsvc web '{.spec.selector}' | sorted_map)" = "$want_sel"
check "the host granted the IP the virtual cluster chose: same ClusterIP on both sides" poll 20 same_ip web
check "so the virtual Service was not re-created" test "$(vsvc web '{.metadata.uid}')" = "$web_uid"

check "a virtual IP the host already uses ($TAKEN_IP) is not forced on the host" \
  poll 30 bash -c "ip=\$(kubectl --kubeconfig '$KC_host' -n $HNS get svc clash-x-default-x-$VC -o jsonpath='{.spec.clusterIP}' 2>/dev/null); [ -n \"\$ip\" ] && [ \"\$ip\" != $TAKEN_IP ]"
check "the virtual Service is re-created with the host's ClusterIP" poll 30 same_ip clash
check "it is a new object (uid changed)" test "$(vsvc clash '{.metadata.uid}')" != "$clash_uid"
check "the host Service survived the re-creation and belongs to the new virtual Service" \
  poll 20 bash -c "[ \"\$(kubectl --kubeconfig '$KC_host' -n $HNS get svc clash-x-default-x-$VC -o jsonpath='{.metadata.annotations.vcluster\.loft\.sh/object-uid}' 2>/dev/null)\" = \"\$(kubectl --kubeconfig '$KC_virt' get svc clash -o jsonpath='{.metadata.uid}' 2>/dev/null)\" ]"
check "the re-created virtual Service kept its selector and ports" \
  test "$(vsvc clash '{.spec.selector.app}/{.spec.ports[0].port}')" = "clash/80"

check "a headless Service is headless on the host" poll 20 test "$(hsvc db '{.spec.clusterIP}')" = None
check "a NodePort Service has the same nodePort on both sides" \
  poll 20 bash -c "n=\$(kubectl --kubeconfig '$KC_host' -n $HNS get svc np-x-default-x-$VC -o jsonpath='{.spec.ports[0].nodePort}' 2>/dev/null); [ -n \"\$n\" ] && [ \"\$n\" = \"\$(kubectl --kubeconfig '$KC_virt' get svc np -o jsonpath='{.spec.ports[0].nodePort}' 2>/dev/null)\" ]"
check "the NodePort Service has one ClusterIP on both sides" poll 20 same_ip np

check "Endpoints of a selector-less Service reach the host" \
  poll 20 test "$(hk -n "$HNS" get endpoints "legacy-x-default-x-$VC" -o 'jsonpath={.subsets[0].addresses[0].ip}')" = 192.0.2.10
check "the selector-less Service has one ClusterIP on both sides" poll 20 same_ip legacy
check "Endpoints of a selector Service are the host controller's (no object-name annotation)" \
  bash -c "kubectl --kubeconfig '$KC_host' -n $HNS get endpoints web-x-default-x-$VC >/dev/null 2>&1 && [ -z \"\$(kubectl --kubeconfig '$KC_host' -n $HNS get endpoints web-x-default-x-$VC -o jsonpath='{.metadata.annotations.vcluster\.loft\.sh/object-name}' 2>/dev/null)\" ]"

check "a host Service vcluster does not own keeps its spec and gets no labels" \
  test "$(hk -n "$HNS" get service "foreign-x-default-x-$VC" -o 'jsonpath={.spec.ports[0].port}/{.metadata.labels.vcluster\.loft\.sh/managed-by}')" = "81/"
check "and the refusal is a Warning event in the virtual cluster" \
  poll 20 bash -c "kubectl --kubeconfig '$KC_virt' get events -o jsonpath='{.items[*].message}' 2>/dev/null | grep -q 'foreign-x-default-x-$VC exists and is not managed by vcluster $VC'"
check "the kubernetes Service is not synced" gone_on_host service kubernetes

vk create service clusterip live --tcp=8080 >/dev/null
check "a Service created while the syncer runs reaches the host" poll 20 on_host service live
check "with the same ClusterIP on both sides" poll 20 same_ip live

vk label service web tier=gold >/dev/null
check "a label change flows to the host (hashed key)" \
  poll 20 test "$(hsvc web "{.metadata.labels.$(label_key tier | sed 's/\./\\./g')}")" = gold
vk set selector service web app=web2 >/dev/null
check "a selector change flows to the host" \
  poll 20 test "$(hsvc web "{.spec.selector.$(label_key app | sed 's/\./\\./g')}")" = web2
vk patch endpoints legacy --type merge -p '{"subsets":[{"addresses":[{"ip":"192.0.2.11"}],"ports":[{"port":9000,"protocol":"TCP"}]}]}' >/dev/null
check "an Endpoints change flows to the host" \
  poll 20 test "$(hk -n "$HNS" get endpoints "legacy-x-default-x-$VC" -o 'jsonpath={.subsets[0].addresses[0].ip}')" = 192.0.2.11

vk delete service live >/dev/null
check "a deleted virtual Service is deleted on the host" poll 20 gone_on_host service live
vk delete service legacy >/dev/null
check "a deleted selector-less Service takes its host Endpoints along" poll 20 gone_on_host endpoints legacy
check "the host Service that holds $TAKEN_IP is untouched" test "$(hk -n default get service taken -o 'jsonpath={.spec.clusterIP}')" = "$TAKEN_IP"

# The refused Service would be tried again by the restarted syncer (and refused again): not "nothing
# changed", so it goes before the restart.
vk delete service foreign >/dev/null
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
uids_before=$(vk get services -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.uid}{"\n"}{end}' | sort)
keys=$(($(vk get services -A -o name | wc -l) + $(vk get endpoints -A -o name | wc -l)))
check "restarted syncer becomes ready" run_syncer second
# Every key reconciled once and the queue empty; then a barrier: a headless marker Service (created by
# the engine directly, nothing to align) reaching the host shows that the writes issued before it landed.
all_reconciled() {
  [ "$(metric "$URL" vcluster_syncer_reconciles_total)" -ge "$keys" ] && [ "$(metric "$URL" vcluster_syncer_queue_depth)" = 0 ]
}
check "every key of the restart is reconciled ($keys keys)" poll 30 all_reconciled
vk create service clusterip marker --clusterip=None --tcp=1 >/dev/null
check "the marker Service reaches the host" poll 20 on_host service marker
host_writes=$(curl -sf "$URL/metrics" | awk '$1 ~ /^vcluster_syncer_api_requests_total\{side="host",verb="(create|update|patch|delete)",code="2/ {s+=$2} END {print s+0}')
engine_writes=$(curl -sf "$URL/metrics" | awk '$1 ~ /^vcluster_syncer_writes_total/ {s+=$2} END {print s+0}')
check "restart with nothing changed: one host write, the marker's (got $host_writes)" test "$host_writes" = 1
check "and no other write by the engine or the plugin on either side (got $engine_writes, the marker's 1)" \
  test "$engine_writes" = 1
check "no virtual Service was re-created by the restart" \
  test "$(vk get services -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.uid}{"\n"}{end}' | grep -v '^default/marker=' | sort)" = "$uids_before"
check "SIGTERM stops the restarted syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

# mapServices (§4.5) on the real control planes. fromHost: host Service team/db becomes the headless virtual
# Service apps/db (namespace created) whose Endpoints hold the host ClusterIP; fromVirtual: virtual Service
# default/web is published as host Service web-public with the translated selector. Both follow their
# source, and a mapping removed from the values removes what it made.
hk create namespace team >/dev/null
hk -n team create service clusterip db --tcp=5432 >/dev/null
db_ip=$(hk -n team get service db -o jsonpath='{.spec.clusterIP}')
VALUES=$WORK/map-values.yaml
cat >"$VALUES" <<YAML
mapServices:
  fromHost:
  - from: team/db
    to: apps/db
  fromVirtual:
  - from: default/web
    to: web-public
YAML
check "a syncer with both mappings becomes ready" syncer_up mapped "$SERVICES" -f "$VALUES" --log-level debug
vexists() { vk "$@" >/dev/null; }
hexists() { hk "$@" >/dev/null; }
check "fromHost: the virtual namespace apps is created" poll 20 vexists get namespace apps
check "fromHost: virtual Service apps/db is headless with the host Service's port" \
  poll 20 test "$(vk -n apps get service db -o 'jsonpath={.spec.clusterIP}/{.spec.ports[0].port}')" = None/5432
check "fromHost: its Endpoints hold the host Service's ClusterIP $db_ip" \
  poll 20 test "$(vk -n apps get endpoints db -o 'jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}')" = "$db_ip:5432"
check "fromHost: neither goes back to the host (controlled-by)" gone_on_host_ns apps db
check "fromVirtual: host Service web-public is published with the translated selector" \
  poll 20 test "$(hk -n "$HNS" get service web-public -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/controlled-by}')" = vcluster
check "fromVirtual: its selector is the synced Service's" \
  test "$(hk -n "$HNS" get service web-public -o 'jsonpath={.spec.selector}' | sorted_map)" = "$(hsvc web '{.spec.selector}' | sorted_map)"
hk -n team patch service db --type json -p '[{"op":"replace","path":"/spec/ports/0/port","value":5433}]' >/dev/null
check "fromHost: a port change on the host reaches the virtual Endpoints" \
  poll 20 test "$(vk -n apps get endpoints db -o 'jsonpath={.subsets[0].ports[0].port}')" = 5433
vk -n apps delete service db >/dev/null
check "fromHost: a virtual Service the tenant deleted comes back" \
  poll 20 test "$(vk -n apps get service db -o 'jsonpath={.spec.ports[0].port}')" = 5433
hk -n team delete service db >/dev/null
check "fromHost: deleting the host Service deletes the virtual one" poll 20 bash -c "! kubectl --kubeconfig '$KC_virt' -n apps get service db >/dev/null 2>&1"
hk -n team create service clusterip db --tcp=5432 >/dev/null
check "fromHost: a new host Service of that name is mapped again" poll 20 vexists -n apps get endpoints db
check "SIGTERM stops the mapped syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
cat >"$VALUES" <<YAML
mapServices:
  fromVirtual:
  - from: default/web
    to: web-public
YAML
check "restarted without the fromHost mapping" syncer_up unmapped "$SERVICES" -f "$VALUES" --log-level debug
check "what the removed fromHost mapping made is deleted" \
  poll 20 bash -c "! kubectl --kubeconfig '$KC_virt' -n apps get service db >/dev/null 2>&1 && ! kubectl --kubeconfig '$KC_virt' -n apps get endpoints db >/dev/null 2>&1"
check "the host Service it followed is untouched" hexists -n team get service db
check "the fromVirtual mapping still publishes web-public" hexists -n "$HNS" get service web-public
check "SIGTERM stops it cleanly (exit 0)" stop_pid "$SYNCER_PID"
: >"$VALUES"
check "restarted with no mapping at all" syncer_up bare "$SERVICES" -f "$VALUES"
check "the published host Service web-public is deleted" poll 20 bash -c "! kubectl --kubeconfig '$KC_host' -n $HNS get service web-public >/dev/null 2>&1"
check "SIGTERM stops it cleanly (exit 0)" stop_pid "$SYNCER_PID"

# A virtual cluster with a Service range of its own (the bed's default 10.97.0.0/16): host IPs cannot be
# given to virtual Services. The plugin learns the range from a probe the API server refuses, never deletes
# a virtual Service for nothing, and says why with a Warning event.
start_cluster own virtual
# shellcheck disable=SC2154
ok_() { kubectl --kubeconfig "$KC_own" "$@" 2>/dev/null; }
hk create namespace vcluster-own >/dev/null
ok_ create service clusterip solo --tcp=80 >/dev/null
solo_uid=$(ok_ get service solo -o jsonpath='{.metadata.uid}')
start_bg "$WORK/syncer-own.log" "$SYNCER" --name own-vc --target-namespace vcluster-own \
  --virtual-kubeconfig "$KC_own" --host-kubeconfig "$KC_host" \
  --plugins "$SERVICES" --status-address "127.0.0.1:$port" --log-level debug
SYNCER_PID=$LAST_PID
check "a syncer for a virtual cluster with its own range becomes ready" poll 30 curl -sf "$URL/readyz" -o /dev/null
solo_host_ip_is_a_host_ip() {
  [[ $(hk -n vcluster-own get svc solo-x-default-x-own-vc -o jsonpath='{.spec.clusterIP}') == 10.96.* ]]
}
mismatch_warned() {
  ok_ get events -o json | jq -r '.items[] | select(.reason == "ClusterIPMismatch") | .message' | grep -q '10.97.0.0/16'
}
solo_untouched() { [[ $(ok_ get svc solo -o jsonpath='{.metadata.uid} {.spec.clusterIP}') == "$solo_uid 10.97."* ]]; }
check "its Service reaches the host with a host IP" poll 20 solo_host_ip_is_a_host_ip
check "the mismatch is a ClusterIPMismatch Warning naming the virtual range" poll 20 mismatch_warned
check "the virtual Service was never deleted (same uid, its own IP)" solo_untouched
check "the range probe left no Service behind" \
  test "$(ok_ get services -A -o name | grep -c ip-range-probe)" = 0
check "SIGTERM stops that syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

check_no_sanitizer_reports
summary
