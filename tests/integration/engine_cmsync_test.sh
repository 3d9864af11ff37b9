#!/usr/bin/env bash
# The engine end to end on two real control planes with the in-tree test plugin cmsync (ConfigMaps):
# create, update and delete flow virtual -> host under vcluster names; a foreign host object with a
# colliding name is never touched; objects orphaned while the syncer was down are deleted at start; a
# restart that changes nothing writes nothing; a plugin that cannot load is refused with one sentence.
#
# Usage: engine_cmsync_test.sh SYNCER CMSYNC_SO
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1
CMSYNC=$2
VC=it-vc
HNS=vcluster-it

start_cluster host host
start_cluster virt virtual
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
hk create namespace "$HNS" >/dev/null

port=$(free_port)
URL=http://127.0.0.1:$port
run_syncer() { syncer_up "$1" "$CMSYNC" --log-level debug; }

# A foreign host ConfigMap whose name collides with what a virtual one would become.
hk -n "$HNS" create configmap "clash-x-default-x-$VC" --from-literal=owner=someone-else >/dev/null
# An orphan: looks like ours, but its virtual twin does not exist.
cat <<YAML | hk apply -f - >/dev/null
apiVersion: v1
kind: ConfigMap
metadata:
  name: gone-x-default-x-$VC
  namespace: $HNS
  labels: {vcluster.loft.sh/managed-by: $VC}
  annotations: {vcluster.loft.sh/object-name: gone, vcluster.loft.sh/object-namespace: default}
data: {a: b}
YAML

vk create configmap app-config --from-literal=color=blue >/dev/null
vk label configmap app-config tier=web >/dev/null
vk create configmap clash --from-literal=x=y >/dev/null

check "syncer becomes ready" run_syncer first
host_cm() { hk -n "$HNS" get configmap "$1" -o "jsonpath=$2"; }
check "virtual ConfigMap appears on the host renamed app-config-x-default-x-$VC" \
  poll 20 'test "$(host_cm "app-config-x-default-x-$VC" '\''{.data.color}'\'')" = blue'
check "host copy carries managed-by and object-name" \
  test "$(host_cm "app-config-x-default-x-$VC" '{.metadata.labels.vcluster\.loft\.sh/managed-by}/{.metadata.annotations.vcluster\.loft\.sh/object-name}')" = "$VC/app-config"
check "virtual label key is hashed on the host (tier -> vcluster.loft.sh/label-$VC-x-...)" \
  bash -c "kubectl --kubeconfig '$KC_host' -n $HNS get cm app-config-x-default-x-$VC -o jsonpath='{.metadata.labels}' 2>/dev/null | grep -q 'vcluster.loft.sh/label-$VC-x-[0-9a-f]\{10\}\":\"web'"
check "orphan found at start (managed, no virtual twin) is deleted" \
  poll 20 bash -c "! kubectl --kubeconfig '$KC_host' -n $HNS get cm gone-x-default-x-$VC >/dev/null 2>&1"
check "foreign host ConfigMap with a colliding name is untouched" \
  test "$(host_cm "clash-x-default-x-$VC" '{.data.owner}')" = someone-else
check "the refusal is a Warning event in the virtual cluster" \
  poll 20 bash -c "kubectl --kubeconfig '$KC_virt' get events -o jsonpath='{.items[*].message}' 2>/dev/null | grep -q 'is not managed by vcluster $VC'"

vk patch configmap app-config --type merge -p '{"data":{"color":"green"}}' >/dev/null
check "an update flows to the host" poll 20 'test "$(host_cm "app-config-x-default-x-$VC" '\''{.data.color}'\'')" = green'

vk delete configmap app-config >/dev/null
check "a delete flows to the host" \
  poll 20 bash -c "! kubectl --kubeconfig '$KC_host' -n $HNS get cm app-config-x-default-x-$VC >/dev/null 2>&1"

# on_cache: the virtual cache keeps a ConfigMap without the annotation cmsync never copies; a text that is
# not the object's (another name) is refused, and that ConfigMap is cached whole and still synced.
bulk=$(head -c 30000 /dev/zero | tr '\0' b)
vk create configmap big --from-literal=k=v >/dev/null
vk annotate configmap big "cmsync.test/bulk=$bulk" >/dev/null
vk create configmap bad-cache --from-literal=k=v >/dev/null
vk label configmap bad-cache cmsync.test/bad-cache=1 >/dev/null
check "annotated and refused-projection ConfigMaps both reach the host" \
  poll 20 'test "$(host_cm big-x-default-x-$VC '\''{.data.k}'\'')$(host_cm bad-cache-x-default-x-$VC '\''{.data.k}'\'')" = vv'
vcache=$(curl -sf "$URL/metrics" | awk '$1 == "vcluster_syncer_cache_json_bytes{side=\"virtual\",resource=\"configmaps\"}" {print $2}')
check "the virtual cache holds ConfigMaps without the 30,000-byte annotation ($vcache bytes)" \
  test "${vcache:-999999}" -lt 20000
check "the refused text is logged once, naming the plugin and the object" \
  test "$(grep -c 'plugin cmsync: on_cache wrote a text for configmaps default/bad-cache' "$WORK/syncer-first.log")" = 1

for i in $(seq 1 20); do vk create configmap "bulk-$i" --from-literal=i="$i" >/dev/null; done
check "20 new ConfigMaps all reach the host" \
  poll 30 'test "$(hk -n "$HNS" get cm -l vcluster.loft.sh/managed-by=$VC -o name | grep -c bulk-)" = 20'

check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
# While the syncer is down: one virtual object deleted, one changed.
vk delete configmap bulk-1 >/dev/null
vk patch configmap bulk-2 --type merge -p '{"data":{"i":"changed"}}' >/dev/null
check "restarted syncer becomes ready" run_syncer second
check "object deleted while the syncer was down is removed from the host" \
  poll 20 bash -c "! kubectl --kubeconfig '$KC_host' -n $HNS get cm bulk-1-x-default-x-$VC >/dev/null 2>&1"
check "object changed while the syncer was down is updated" \
  poll 20 'test "$(host_cm "bulk-2-x-default-x-$VC" '\''{.data.i}'\'')" = changed'
stop_pid "$SYNCER_PID"

run_syncer third
sleep 2 # let every key be reconciled once; the assertion is on counters, not on time
# Successful writes (2xx); a refused create of the colliding name (409) changes nothing on the host.
writes=$(curl -sf "$URL/metrics" | awk '$1 ~ /^vcluster_syncer_api_requests_total\{side="host",verb="(create|update|patch|delete)",code="2/ {s+=$2} END {print s+0}')
reconciles=$(metric "$URL" vcluster_syncer_reconciles_total)
check "restart with nothing changed: $reconciles reconciles, 0 host writes (got $writes)" test "$writes" = 0 -a "$reconciles" -gt 20
stop_pid "$SYNCER_PID"

out=$("$SYNCER" --name "$VC" --virtual-kubeconfig "$KC_virt" --host-kubeconfig "$KC_host" --plugins /nonexistent/libvcp-x.so 2>&1)
rc=$?
check "a missing plugin file is refused with one sentence naming it (rc=$rc)" \
  bash -c "[ $rc -ne 0 ] && grep -q '/nonexistent/libvcp-x.so' <<<'$out'"
out=$("$SYNCER" --name "$VC" --virtual-kubeconfig /nonexistent/kubeconfig --plugins "$CMSYNC" 2>&1)
rc=$?
check "a missing virtual kubeconfig is refused naming it (rc=$rc)" \
  bash -c "[ $rc -ne 0 ] && grep -q '/nonexistent/kubeconfig' <<<'$out'"
check_no_sanitizer_reports
summary
