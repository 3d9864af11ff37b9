#!/usr/bin/env bash
# `vcluster` end to end on a real host control plane: bad input is refused with one sentence and changes
# nothing; create (local driver) -> list Running -> connect (kubectl sees the virtual cluster) -> a
# deployment's pods reach the host -> disconnect -> pause (host pods gone, Paused) -> resume (pods back,
# virtual objects intact, same UIDs) -> upgrade with new values (data kept) and with bad values (refused,
# syncer untouched) -> a second vcluster with sync.nodes.enableScheduler (its own kube-scheduler: places
# pods, is paused, resumed and deleted with the rest; --upgrade cannot drop it) -> the cluster driver (--print validated by the API server, then applied, paused,
# resumed and deleted) -> delete (no owned object, namespace, context, state or process left).
#
# Usage: cli_test.sh VCLUSTER PLUGINS
#   PLUGINS: the sync plugins' .so paths, comma-separated (the pods plugin first); given to every create so the
#   test runs the plugins its build made. With the services plugin among them, DNS is checked too.
# The checks run small `bash -c '...' _ ARGS` programs whose $1, $2 expand in the child, on purpose (SC2016);
# start_cluster sets KC_host (SC2154).
# shellcheck disable=SC2016,SC2154
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VCLUSTER=$1
PLUGINS=$2
SERVICES=''
[[ ,$PLUGINS, == *libvcp-services.so,* ]] && SERVICES=yes
export VCLUSTER_STATE_DIR=$WORK/state
VC=demo
NS=vcluster-$VC
STATE=$VCLUSTER_STATE_DIR/$NS/$VC
SV=sched
SSTATE=$VCLUSTER_STATE_DIR/vcluster-$SV/$SV

# Whatever a failed step leaves running is stopped by PID: the syncer the state records, and the control
# plane through the bed's own stop (its PID files name the processes, restarted ones included).
state_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$1/state.json" "$2" 2>/dev/null; }
_cli_cleanup() {
  local rc=$? pid st
  for st in "$STATE" "$SSTATE"; do
    if [ -f "$st/syncer.pid" ]; then
      pid=$(cat "$st/syncer.pid")
      if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$st/"; then kill -TERM "$pid" 2>/dev/null; fi
    fi
    [ -d "$st/cp" ] && "$CLUSTER" stop x --dir "$st/cp" >/dev/null 2>&1
  done
  return "$rc"
}
trap '_cli_cleanup; _cleanup' EXIT

start_cluster host host
export KUBECONFIG=$WORK/kubeconfig
cp "$KC_host" "$KUBECONFIG"
HOSTCTX=$(kubectl config current-context)
CTX=vcluster_${VC}_${NS}_${HOSTCTX}
hk() { kubectl --context "$HOSTCTX" "$@" 2>/dev/null; }
vk() { kubectl --context "$CTX" "$@" 2>/dev/null; }
current() { kubectl config current-context 2>/dev/null; }
owned_on_host() {
  hk get pods,services,endpoints,configmaps,secrets,persistentvolumeclaims -n "$NS" \
    -l "vcluster.loft.sh/managed-by=$VC" -o name | grep -c .
}
# Runs in this script's process, whose command line does not hold the pattern (a `bash -c` child's would).
no_process_mentions() { ! pgrep -f "$1" >/dev/null; }
nothing_changed() { # NAME: no namespace, no state directory, no Service for a refused create
  ! hk get ns "vcluster-$1" >/dev/null && [ ! -e "$VCLUSTER_STATE_DIR/vcluster-$1" ] && [ "$(current)" = "$HOSTCTX" ]
}
# expect_refusal DESC PATTERN COMMAND...: a non-zero exit and one line on stderr matching PATTERN.
expect_refusal() {
  local desc=$1 pattern=$2 out rc
  shift 2
  out=$("$@" 2>&1 >/dev/null)
  rc=$?
  if ((rc != 0)) && [ "$(grep -c . <<<"$out")" = 1 ] && grep -qE "$pattern" <<<"$out"; then
    ok "$desc (rc=$rc): $out"
  else
    not_ok "$desc (rc=$rc): $out"
  fi
}

# ---- plugins list ----------------------------------------------------------------------------------
out=$("$VCLUSTER" plugins list 2>&1)
check "plugins list shows pods with its version, resources and keys" \
  bash -c 'grep -q "^pods [0-9.]* (ABI 1\.[0-9]*)" <<<"$1" && grep -qE "^ +pods +Pod +TO_HOST +NAMESPACED" <<<"$1" && grep -q "sync.pods.enabled" <<<"$1"' _ "$out"

# ---- bad input: one sentence, non-zero, nothing on the host ----------------------------------------
printf 'sync:\n  pods:\n    enabeld: true\n' >"$WORK/typo.yaml"
printf 'syncer:\n  hostQPS: fast\n' >"$WORK/type.yaml"
expect_refusal "a misspelt values key names file, line, key and the fix" \
  "typo.yaml:3:5: sync.pods.enabeld is not a known key \(did you mean sync.pods.enabled\?\)" \
  "$VCLUSTER" create bad --plugins "$PLUGINS" -f "$WORK/typo.yaml"
check "the misspelt key created nothing" nothing_changed bad
expect_refusal "a value of the wrong type is named" 'type.yaml:2:12: syncer.hostQPS must be an integer' \
  "$VCLUSTER" create bad --plugins "$PLUGINS" -f "$WORK/type.yaml"
check "the wrong type created nothing" nothing_changed bad
expect_refusal "a plugin that cannot be found is named with every path tried" 'plugin nope not found; tried .*libvcp-nope.so' \
  "$VCLUSTER" create bad --plugins nope
expect_refusal "a values file that does not exist" 'values file .*/missing.yaml cannot be read' \
  "$VCLUSTER" create bad --plugins "$PLUGINS" -f "$WORK/missing.yaml"
expect_refusal "an unknown flag" "unknown flag --isolat for 'vcluster create' \(did you mean --isolate\?\)" \
  "$VCLUSTER" create bad --isolat
expect_refusal "an unknown command" "unknown command 'crate' \(did you mean create\?\)" "$VCLUSTER" crate bad
expect_refusal "an unknown context" 'has context "nosuch"' "$VCLUSTER" --context nosuch create bad --plugins "$PLUGINS"
sed 's#server: https://127.0.0.1:[0-9]*#server: https://127.0.0.1:1#' "$KC_host" >"$WORK/down.kubeconfig"
expect_refusal "an unreachable host names the server and the fix" \
  'the host cluster at https://127.0.0.1:1 \(context .*\) cannot be reached: .*--context' \
  "$VCLUSTER" --kubeconfig "$WORK/down.kubeconfig" create bad --plugins "$PLUGINS"
check "none of the refusals created anything" nothing_changed bad

# ---- create (local driver) -------------------------------------------------------------------------
t0=$(date +%s%N)
"$VCLUSTER" create "$VC" --plugins "$PLUGINS" >"$WORK/create.out" 2>&1
rc=$?
create_ms=$((($(date +%s%N) - t0) / 1000000))
check "create $VC exits 0 in ${create_ms} ms" test "$rc" = 0
((rc == 0)) || sed 's/^/#   /' "$WORK/create.out"
check "create switched the context to $CTX" test "$(current)" = "$CTX"
check "kubectl sees the virtual cluster (kube-system, no host namespace $NS)" \
  bash -c 'ns=$(kubectl get ns -o name 2>/dev/null); grep -q namespace/kube-system <<<"$ns" && ! grep -q "namespace/$1" <<<"$ns"' _ "$NS"
check "host namespace $NS is labelled vcluster.loft.sh/namespace=true" \
  test "$(hk get ns "$NS" -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/namespace}')" = true
check "host Service $VC has a ClusterIP from the host range" \
  bash -c '[[ $(kubectl --context "$1" -n "$2" get svc "$3" -o jsonpath={.spec.clusterIP} 2>/dev/null) == 10.96.* ]]' _ "$HOSTCTX" "$NS" "$VC"
check "virtual kube-system/kube-dns exists with an IP from the host's range" \
  bash -c '[[ $(kubectl --context "$1" -n kube-system get svc kube-dns -o jsonpath={.spec.clusterIP} 2>/dev/null) == 10.96.* ]]' _ "$CTX"
check "list shows $VC Running" bash -c '"$1" list | grep -qE "^$2 +$3 +local +Running "' _ "$VCLUSTER" "$VC" "$NS"
check "state.json records three control-plane PIDs and the syncer's, which syncer.pid holds too" \
  test "$(state_field "$STATE" 'len([c for c in d["local"]["components"] if c["pid"] > 0])') $(state_field "$STATE" 'd["local"]["syncerPid"]')" = "3 $(cat "$STATE/syncer.pid")"

# A deployment in the virtual cluster; the bed host has no nodes, so its host pods stay Pending.
cat <<'YAML' | kubectl apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      dnsPolicy: Default
      containers: [{name: web, image: nginx}]
YAML
kubectl create configmap keep --from-literal=color=blue >/dev/null 2>&1
keep_uid=$(vk get configmap keep -o jsonpath='{.metadata.uid}')
host_pods() { hk get pods -n "$NS" -l "vcluster.loft.sh/managed-by=$VC" -o name | grep -c "pod/web-.*-x-default-x-$VC"; }
check "the deployment's 2 pods reach the host as <pod>-x-default-x-$VC" poll 60 test "$(host_pods)" = 2
# The virtual API server gives pods a token bound to the pod (the projected kube-api-access volume), which
# the syncer keeps in a host token Secret shared by the pods of one namespace and service account (a key
# per pod); the legacy token Secret, whose token never expires, stays virtual.
check "the host pods mount the shared token Secret (default-sa-tokens-*), not the legacy default-token Secret" \
  bash -c 'n=$(kubectl --context "$1" get pods -n "$2" -l "vcluster.loft.sh/managed-by=$3" \
      -o jsonpath="{range .items[*]}{.spec.volumes[*].projected.sources[*].secret.name}{\"\n\"}{end}" 2>/dev/null |
      grep -c "^default-sa-tokens-"); test "$n" = 2 &&
    ! kubectl --context "$1" get secrets -n "$2" -l "vcluster.loft.sh/managed-by=$3" -o name 2>/dev/null | grep -q "default-token-"' \
  _ "$HOSTCTX" "$NS" "$VC"
if [ -n "$SERVICES" ]; then
  check "the services plugin mirrors kube-dns to the host (kube-dns-x-kube-system-x-$VC)" \
    poll 30 hk get svc -n "$NS" "kube-dns-x-kube-system-x-$VC"
  kubectl run dns-first --image=nginx >/dev/null 2>&1
  check "a ClusterFirst pod reaches the host once the DNS Service is mirrored" \
    poll 60 hk get pod -n "$NS" "dns-first-x-default-x-$VC"
fi

# ---- connect / disconnect --------------------------------------------------------------------------
check "disconnect switches back to $HOSTCTX" bash -c '"$1" disconnect 2>/dev/null && [ "$(kubectl config current-context)" = "$2" ]' _ "$VCLUSTER" "$HOSTCTX"
expect_refusal "disconnect on the host context says there is nothing to disconnect" \
  "the current context $HOSTCTX is not a vcluster context" "$VCLUSTER" disconnect
check "connect switches to $CTX again" bash -c '"$1" connect "$2" 2>/dev/null && [ "$(kubectl config current-context)" = "$3" ]' _ "$VCLUSTER" "$VC" "$CTX"
"$VCLUSTER" disconnect 2>/dev/null
"$VCLUSTER" connect "$VC" --print >"$WORK/standalone.kubeconfig" 2>/dev/null
check "connect --print writes a standalone kubeconfig that reaches the virtual cluster" \
  bash -c 'kubectl --kubeconfig "$1" get configmap keep -o name 2>/dev/null | grep -q configmap/keep' _ "$WORK/standalone.kubeconfig"
check "connect --print changed nothing (context still $HOSTCTX)" test "$(current)" = "$HOSTCTX"

# ---- pause / resume --------------------------------------------------------------------------------
pids_before=$(state_field "$STATE" '" ".join(str(c["pid"]) for c in d["local"]["components"]) + " " + str(d["local"]["syncerPid"])')
check "pause exits 0" "$VCLUSTER" pause "$VC"
check "pause deleted the host pods" test "$(host_pods)" = 0
check "list shows $VC Paused" bash -c '"$1" list | grep -qE "^$2 +$3 +local +Paused "' _ "$VCLUSTER" "$VC" "$NS"
check "no process of the vcluster is left ($pids_before)" no_process_mentions "$STATE/"
check "the control plane's data is kept" test -d "$STATE/cp/etcd"
check "pause again says it is already paused" bash -c '"$1" pause "$2" 2>&1 | grep -q "already paused"' _ "$VCLUSTER" "$VC"
t0=$(date +%s%N)
check "resume exits 0" "$VCLUSTER" resume "$VC"
resume_ms=$((($(date +%s%N) - t0) / 1000000))
echo "# resume took ${resume_ms} ms"
check "list shows $VC Running again" bash -c '"$1" list | grep -qE "^$2 +$3 +local +Running "' _ "$VCLUSTER" "$VC" "$NS"
check "the 2 host pods are back" poll 60 test "$(host_pods)" = 2
check "virtual objects are intact: ConfigMap keep has the same UID and data" \
  test "$(vk get configmap keep -o 'jsonpath={.metadata.uid}/{.data.color}')" = "$keep_uid/blue"
check "virtual objects are intact: deployment web still wants 2 replicas" \
  test "$(vk get deployment web -o 'jsonpath={.spec.replicas}')" = 2
check "the context still reaches the virtual cluster (same certificates)" vk get ns kube-system

# ---- upgrade -----------------------------------------------------------------------------------------
syncer_before=$(state_field "$STATE" 'd["local"]["syncerPid"]')
printf 'syncer:\n  hostQPS: 37\n' >"$WORK/new.yaml"
check "create --upgrade with new values exits 0" "$VCLUSTER" create "$VC" --upgrade -f "$WORK/new.yaml" --connect=false
syncer_after=$(state_field "$STATE" 'd["local"]["syncerPid"]')
check "upgrade restarted the syncer (pid $syncer_before -> $syncer_after) with the new values" \
  bash -c '[ "$1" != "$2" ] && grep -q "hostQPS: 37" "$3/values.yaml"' _ "$syncer_before" "$syncer_after" "$STATE"
check "upgrade kept the data (ConfigMap keep, same UID)" \
  test "$(vk get configmap keep -o 'jsonpath={.metadata.uid}')" = "$keep_uid"
expect_refusal "upgrade with a bad values file is refused" 'type.yaml:2:12: syncer.hostQPS must be an integer' \
  "$VCLUSTER" create "$VC" --upgrade -f "$WORK/type.yaml"
check "the refused upgrade left the syncer running (pid $syncer_after)" \
  bash -c '[ "$(python3 -c "import json;print(json.load(open(\"$1/state.json\"))[\"local\"][\"syncerPid\"])")" = "$2" ] && kill -0 "$2"' _ "$STATE" "$syncer_after"
expect_refusal "create of an existing vcluster without --upgrade is refused" \
  "vcluster $VC already exists in namespace $NS .*--upgrade" "$VCLUSTER" create "$VC"
expect_refusal "--upgrade of a vcluster that is not there is refused, naming where it looked" \
  "vcluster nosuch was not found in namespace vcluster-nosuch \\(looked in $VCLUSTER_STATE_DIR/vcluster-nosuch/nosuch" \
  "$VCLUSTER" create nosuch --upgrade -f "$WORK/new.yaml"
check "the refused --upgrade created nothing (no namespace, no state)" \
  bash -c '! kubectl --context "$1" get ns vcluster-nosuch >/dev/null 2>&1 && [ ! -e "$2/vcluster-nosuch" ]' _ "$HOSTCTX" "$VCLUSTER_STATE_DIR"

# ---- the virtual scheduler: sync.nodes.enableScheduler ---------------------------------------------------
if [[ ,$PLUGINS, == *libvcp-nodes.so,* ]]; then
  printf 'sync:\n  nodes:\n    enabled: true\n    enableScheduler: true\n' >"$WORK/sched.yaml"
  check "create $SV with sync.nodes.enableScheduler exits 0" \
    "$VCLUSTER" create "$SV" --plugins "$PLUGINS" -f "$WORK/sched.yaml" --connect=false
  live_components() { state_field "$SSTATE" '",".join(c["name"] for c in d["local"]["components"] if c["pid"] > 0)'; }
  check "state.json records four control-plane components, kube-scheduler last" \
    test "$(live_components)" = etcd,kube-apiserver,kube-controller-manager,kube-scheduler
  sched_pid=$(cat "$SSTATE/cp/pids/kube-scheduler.pid" 2>/dev/null)
  check "the kube-scheduler process (pid $sched_pid) runs with the vcluster's own kubeconfig" \
    bash -c 'tr "\0" " " <"/proc/$1/cmdline" | grep -q -- "kube-scheduler .*--kubeconfig=$2/cp/pki/scheduler.kubeconfig"' _ "$sched_pid" "$SSTATE"
  check "list shows $SV Running" bash -c '"$1" list | grep -qE "^$2 +vcluster-$2 +local +Running "' _ "$VCLUSTER" "$SV"
  svk() { kubectl --kubeconfig "$SSTATE/cp/kubeconfig" "$@" 2>/dev/null; }
  svk run lonely --image=nginx --restart=Never --overrides='{"spec":{"dnsPolicy":"Default"}}' >/dev/null
  check "the virtual scheduler judges a pod: Unschedulable, the virtual cluster has no node" \
    poll 60 'test "$(svk get pod lonely -o jsonpath='\''{.status.conditions[?(@.type=="PodScheduled")].reason}'\'')" = Unschedulable'
  check "an unscheduled pod is not synced to the host" \
    test "$(hk get pods -n "vcluster-$SV" -l "vcluster.loft.sh/managed-by=$SV" -o name | grep -c .)" = 0
  check "pause $SV stops all four components and the syncer" \
    bash -c '"$1" pause "$2" >/dev/null 2>&1 && ! pgrep -f "$3/" >/dev/null' _ "$VCLUSTER" "$SV" "$SSTATE"
  check "resume $SV starts them again" "$VCLUSTER" resume "$SV"
  check "... the scheduler included (a new pid)" \
    bash -c 'p=$(cat "$1/cp/pids/kube-scheduler.pid"); [ "$p" != "$2" ] && kill -0 "$p"' _ "$SSTATE" "$sched_pid"
  check "list shows $SV Running after resume" bash -c '"$1" list | grep -qE "^$2 +vcluster-$2 +local +Running "' _ "$VCLUSTER" "$SV"
  printf 'sync:\n  nodes:\n    enabled: true\n' >"$WORK/nosched.yaml"
  expect_refusal "an upgrade that turns the virtual scheduler off is refused" \
    "sync.nodes.enableScheduler cannot change on --upgrade \(vcluster $SV runs a virtual kube-scheduler" \
    "$VCLUSTER" create "$SV" --upgrade -f "$WORK/nosched.yaml" --connect=false
  check "the refused upgrade kept the values" grep -q "enableScheduler: true" "$SSTATE/values.yaml"
  check "delete $SV exits 0" "$VCLUSTER" delete "$SV"
  check "no process of $SV is left" no_process_mentions "$SSTATE/"
  "$VCLUSTER" create cs -n default --driver cluster --plugins "$PLUGINS" -f "$WORK/sched.yaml" --print >"$WORK/cs.yaml" 2>/dev/null
  check "the cluster driver's StatefulSet with a kube-scheduler container is accepted (server dry run)" \
    bash -c 'grep -q "name: kube-scheduler" "$2" && kubectl --context "$1" apply --dry-run=server -f "$2" >/dev/null 2>&1' _ "$HOSTCTX" "$WORK/cs.yaml"
fi

# ---- --isolate: Pod Security Standards enforced by the syncer ------------------------------------------
IV=iso
ISTATE=$VCLUSTER_STATE_DIR/vcluster-$IV/$IV
check "create $IV --isolate exits 0" "$VCLUSTER" create "$IV" --plugins "$PLUGINS" --isolate --connect=false
check "its values say isolation.enabled: true" bash -c 'grep -A3 "^isolation:" "$1" | grep -q "^  enabled: true"' _ "$ISTATE/values.yaml"
ivk() { kubectl --kubeconfig "$ISTATE/cp/kubeconfig" "$@" 2>/dev/null; }
ivk run plain --image=nginx --restart=Never --overrides='{"spec":{"dnsPolicy":"Default"}}' >/dev/null
ivk run priv --image=nginx --restart=Never --privileged --overrides='{"spec":{"dnsPolicy":"Default","hostPID":true}}' >/dev/null
check "a pod that meets the baseline profile reaches the host" poll 60 hk get pod -n "vcluster-$IV" "plain-x-default-x-$IV"
check "a privileged hostPID pod gets a Warning naming the profile and both fields" \
  poll 60 'ivk get events --field-selector involvedObject.name=priv -o jsonpath="{range .items[*]}{.type} {.message}{\"\n\"}{end}" | grep "^Warning" | grep "baseline:latest" | grep "privileged (container \"priv\"" | grep -q "hostPID=true"'
check "... is not synced (no host pod) and stays Pending in the virtual cluster" \
  bash -c '! kubectl --context "$1" get pod -n "vcluster-$2" "priv-x-default-x-$2" >/dev/null 2>&1 && [ "$(kubectl --kubeconfig "$3/cp/kubeconfig" get pod priv -o jsonpath={.status.phase} 2>/dev/null)" = Pending ]' _ "$HOSTCTX" "$IV" "$ISTATE"
check "delete $IV exits 0" "$VCLUSTER" delete "$IV"

# ---- the cluster driver ------------------------------------------------------------------------------
"$VCLUSTER" create cv -n default --driver cluster --plugins "$PLUGINS" --isolate --print >"$WORK/cv.yaml" 2>/dev/null
check "create --driver cluster --print: the API server accepts every object (server dry run)" \
  bash -c 'kubectl --context "$1" apply --dry-run=server -f "$2" >/dev/null 2>&1' _ "$HOSTCTX" "$WORK/cv.yaml"
check "--print -o json is a List with the StatefulSet, its RBAC, Secrets and isolation objects" \
  bash -c '"$1" create cv -n default --driver cluster --plugins "$2" --isolate --print -o json 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); k=[i[\"kind\"]+\"/\"+i[\"metadata\"][\"name\"] for i in d[\"items\"]]
need={\"StatefulSet/cv\",\"Role/vc-cv\",\"RoleBinding/vc-cv\",\"Secret/vc-cv\",\"Secret/cv-certs\",\"Service/cv\",
\"ResourceQuota/cv-quota\",\"LimitRange/cv-limit-range\",\"NetworkPolicy/cv-workloads\"}
sys.exit(0 if d[\"kind\"]==\"List\" and need <= set(k) else 1)"' _ "$VCLUSTER" "$PLUGINS"
check "--print created nothing" bash -c '! kubectl --context "$1" get sts cv -n default >/dev/null 2>&1' _ "$HOSTCTX"
check "create cv --driver cluster applies the objects" "$VCLUSTER" create cv --driver cluster --plugins "$PLUGINS" --isolate
check "the StatefulSet, its Secrets, Role and quota exist in vcluster-cv" \
  hk get -n vcluster-cv statefulset/cv secret/vc-cv secret/cv-certs role/vc-cv resourcequota/cv-quota service/cv
check "the StatefulSet controller made pod cv-0 (Pending: the bed has no nodes)" poll 30 hk get pod cv-0 -n vcluster-cv
ca_before=$(hk get secret cv-certs -n vcluster-cv -o 'jsonpath={.data.ca\.crt}')
check "create cv --upgrade re-applies with the same certificates" \
  bash -c '"$1" create cv --upgrade -f "$2" 2>/dev/null && [ "$(kubectl --context "$3" get secret cv-certs -n vcluster-cv -o jsonpath={.data.ca\\.crt})" = "$4" ]' \
  _ "$VCLUSTER" "$WORK/new.yaml" "$HOSTCTX" "$ca_before"
check "pause cv scales the StatefulSet to 0 and remembers 1" \
  bash -c '"$1" pause cv 2>/dev/null && [ "$(kubectl --context "$2" get sts cv -n vcluster-cv -o jsonpath="{.spec.replicas}/{.metadata.annotations.vcluster\.loft\.sh/paused-replicas}")" = 0/1 ]' _ "$VCLUSTER" "$HOSTCTX"
check "list shows cv Paused" bash -c '"$1" list | grep -qE "^cv +vcluster-cv +cluster +Paused "' _ "$VCLUSTER"
check "resume cv scales it back to 1" \
  bash -c '"$1" resume cv 2>/dev/null && [ "$(kubectl --context "$2" get sts cv -n vcluster-cv -o jsonpath={.spec.replicas})" = 1 ]' _ "$VCLUSTER" "$HOSTCTX"
check "connect cv --print reads the kubeconfig Secret vc-cv" \
  bash -c '"$1" connect cv --print 2>/dev/null | grep -q "server: https://cv.vcluster-cv.svc:443"' _ "$VCLUSTER"
check "delete cv exits 0" "$VCLUSTER" delete cv
check "namespace vcluster-cv is gone" poll 60 bash -c '! kubectl --context "$1" get ns vcluster-cv >/dev/null 2>&1' _ "$HOSTCTX"

# ---- delete ----------------------------------------------------------------------------------------
"$VCLUSTER" connect "$VC" 2>/dev/null
check "delete $VC exits 0" "$VCLUSTER" delete "$VC"
check "no object labelled managed-by=$VC is left on the host" test "$(owned_on_host)" = 0
check "host namespace $NS is gone" poll 60 bash -c '! kubectl --context "$1" get ns "$2" >/dev/null 2>&1' _ "$HOSTCTX" "$NS"
check "the context $CTX is gone and the current context is $HOSTCTX again" \
  bash -c '! kubectl config get-contexts -o name | grep -qx "$1" && [ "$(kubectl config current-context)" = "$2" ]' _ "$CTX" "$HOSTCTX"
check "the state directory is gone" test ! -e "$STATE"
check "no process mentions the state directory" no_process_mentions "$VCLUSTER_STATE_DIR"
check "list is empty" test "$("$VCLUSTER" list | wc -l)" = 1
expect_refusal "delete of a vcluster that does not exist names it" "no vcluster named $VC was created from this machine" \
  "$VCLUSTER" delete "$VC"
echo "# create ${create_ms} ms, resume ${resume_ms} ms"
summary
