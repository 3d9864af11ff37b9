#!/usr/bin/env bash
# kubectl logs, exec, attach, port-forward and cp in the VIRTUAL cluster, as a user types them, on the real-node
# bed: a host cluster with one real node (tests/bed/node) and `vcluster create relay` (local driver). The
# virtual API server calls the syncer's kubelet endpoint (core/kubelet), which relays to the host API server.
#
#  logs     `kubectl logs`, `--tail=2` (exactly two lines), `-f` (new lines keep arriving), `--previous` after
#           a container restart (the first run's line; the current run's without it)
#  exec     `kubectl exec deploy/nettool -- curl -s http://<web pod IP>` (the seed's form), `exec -i` with 4 MB
#           piped to sha256sum (same digest), `exec -it` under a pty (`script`): an interactive sh whose tty
#           is /dev/pts/N and which evaluates what is typed
#  attach   `kubectl attach -i` to a container reading its stdin: the line sent comes back
#  port-fwd `kubectl port-forward deploy/nettool PORT:80`, then curl on localhost: Welcome to nginx!
#  cp       `kubectl cp` of a 10 MB file into the pod and back: the same sha256 in the pod and back here
#  refused  an unknown container and a pod that is not synced yet (it mounts a ConfigMap that does not
#           exist, and names a node) give kubectl an error; straight to the endpoint (the port is
#           state.json's local.kubeletPort): no client certificate 401, the host cluster's kubelet client
#           certificate (another CA) 401, the virtual cluster's admin certificate (right CA, wrong name) 403, the
#           virtual API server's own kubelet client certificate 200, 404 for the pod not synced, the host's
#           400 passed back for an unknown container
#  restart  `vcluster create relay --upgrade` restarts the syncer during a `kubectl logs -f`: that stream ends,
#           and the next one works
#  host down the host API server stopped (tests/bed/cluster restart, checks run while it is down): kubectl
#           logs and exec print an error naming the host API server; the syncer keeps running, and once the
#           host is back a new virtual pod is synced and its logs read
#
# Usage: kubelet_relay_test.sh VCLUSTER PLUGINS [DNS]   (PLUGINS: the build's pods,services[,nodes] .so paths;
# DNS: the build's vcluster-dns, the host cluster's DNS on the real node, when the bed's node takes --dns)
# The checks run small `bash -c '...' _ ARGS` programs whose $1, $2 expand in the child, on purpose (SC2016);
# start_cluster sets KC_host (SC2154).
# shellcheck disable=SC2016,SC2154
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VCLUSTER=$1
PLUGINS=$2
DNS_BIN=${3:-}
NODE=$ROOT/tests/bed/node
export VCLUSTER_STATE_DIR=$WORK/state
VC=relay
NS=vcluster-$VC
STATE=$VCLUSTER_STATE_DIR/$NS/$VC
DEADLINE=${VC_TEST_DEADLINE:-120}
T0=$SECONDS

# Whatever a failed step leaves running is stopped by PID: background kubectl processes, the syncer the state
# records, the virtual control plane through the bed's own stop; the host cluster's stop (lib.sh) stops the node.
# The syncer's log goes with the state at `vcluster delete`: a copy stays in $WORK (KEEP_LOGS_ON_FAILURE=1).
keep_syncer_log() { [ -f "$STATE/syncer.log" ] && cp "$STATE/syncer.log" "$WORK/syncer-relay.log"; return 0; }
_relay_cleanup() {
  local rc=$? pid
  keep_syncer_log
  if [ -f "$STATE/syncer.pid" ]; then
    pid=$(cat "$STATE/syncer.pid")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$STATE/"; then kill -TERM "$pid" 2>/dev/null; fi
  fi
  [ -d "$STATE/cp" ] && "$CLUSTER" stop x --dir "$STATE/cp" >/dev/null 2>&1
  return "$rc"
}
trap '_relay_cleanup; _cleanup' EXIT

start_cluster host host
export KUBECONFIG=$WORK/kubeconfig
cp "$KC_host" "$KUBECONFIG"
HOSTCTX=$(kubectl config current-context)
export CTX=vcluster_${VC}_${NS}_${HOSTCTX}
hk() { kubectl --context "$HOSTCTX" "$@" 2>/dev/null; }
vk() { kubectl --context "$CTX" "$@" 2>/dev/null; }
# vk_out ARGS...: kubectl in the virtual cluster with stderr kept, for the refusals (kubectl's own warning about
# the client/server version skew left out).
vk_out() { kubectl --context "$CTX" "$@" 2>&1 | grep -v 'version difference'; return "${PIPESTATUS[0]}"; }

# One real node per machine: another test's node makes `node start` refuse; wait for it a while.
node_up() {
  local end=$((SECONDS + 600)) dns=()
  [ -n "$DNS_BIN" ] && dns=(--dns "$DNS_BIN")
  while ((SECONDS < end)); do
    "$NODE" start n1 --cluster-dir "$WORK/host" "${dns[@]}" >"$WORK/node-start.log" 2>&1 && return 0
    grep -q 'another bed node is running' "$WORK/node-start.log" || { cat "$WORK/node-start.log" >&2; return 1; }
    sleep 20
  done
  return 1
}
check "a real node joins the host cluster" node_up || { summary; exit 1; }
T_NODE=$SECONDS

check "vcluster create $VC" "$VCLUSTER" create "$VC" --plugins "$PLUGINS"
check "the current context is the virtual cluster's" test "$(kubectl config current-context)" = "$CTX"
KPORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("local", {}).get("kubeletPort", ""))' "$STATE/state.json")
check "state.json records the syncer's kubelet port ($KPORT)" test -n "$KPORT"
SYNCER_PID=$(cat "$STATE/syncer.pid" 2>/dev/null)

# --- the tenant's workloads ------------------------------------------------------------------------------
check "virtual: kubectl create deployment web --image=nginx" vk create deployment web --image=nginx
check "virtual: kubectl create deployment nettool --image=cr7258/nettool:v1" \
  vk create deployment nettool --image=cr7258/nettool:v1
# ticker prints a numbered line twice a second; restarter fails its first run (a marker in an emptyDir tells
# the runs apart), so its container restarts once; attacher echoes what arrives on its stdin.
cat >"$WORK/pods.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.5; done']
---
apiVersion: v1
kind: Pod
metadata: {name: restarter}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'if [ -e /m/ran ]; then echo "second run"; exec sleep 3600; fi; touch /m/ran; echo "first run"; exit 1']
    volumeMounts: [{name: m, mountPath: /m}]
  volumes: [{name: m, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: attacher}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    stdin: true
    stdinOnce: true
    command: [sh, -c, 'echo ready; while read -r l; do echo "got:$l"; done']
YAML
check "virtual: kubectl apply -f pods.yaml (ticker, restarter, attacher)" vk apply -f "$WORK/pods.yaml"
running() { [ "$(vk get pod "$1" -o jsonpath='{.status.phase}')" = Running ]; }
app_running() { [ "$(vk get pods -l "app=$1" -o jsonpath='{.items[*].status.phase}')" = Running ]; }
check "the virtual web pod is Running" poll "$DEADLINE" app_running web
check "the virtual nettool pod is Running" poll "$DEADLINE" app_running nettool
check "ticker and attacher are Running" poll "$DEADLINE" 'running ticker && running attacher'
restarted() { [ "$(vk get pod restarter -o jsonpath='{.status.containerStatuses[0].restartCount}/{.status.phase}/{.status.containerStatuses[0].ready}')" = 1/Running/true ]; }
check "restarter's container restarted once and runs" poll "$DEADLINE" restarted
NETTOOL=$(vk get pods -l app=nettool -o jsonpath='{.items[0].metadata.name}')
WEB_IP=$(vk get pods -l app=web -o jsonpath='{.items[0].status.podIP}')
NODE_NAME=$(vk get pod ticker -o jsonpath='{.spec.nodeName}')
echo "# nettool pod $NETTOOL, web pod IP $WEB_IP, virtual node $NODE_NAME, kubelet port $KPORT; $((SECONDS - T0)) s so far"

# --- logs ------------------------------------------------------------------------------------------------
check "kubectl logs ticker: its first line" poll 10 bash -c 'kubectl --context "$1" logs ticker 2>/dev/null | head -1 | grep -qx "tick 0"' _ "$CTX"
check "kubectl logs ticker --tail=2: exactly the two last lines" \
  bash -c 'out=$(kubectl --context "$1" logs ticker --tail=2 2>/dev/null); [ "$(grep -c "^tick [0-9]*$" <<<"$out")" = 2 ] && [ "$(wc -l <<<"$out")" = 2 ] && ! grep -qx "tick 0" <<<"$out"' _ "$CTX"
kubectl --context "$CTX" logs -f ticker --tail=1 >"$WORK/follow.log" 2>"$WORK/follow.err" &
FOLLOW=$!
_pids+=("$FOLLOW")
check "kubectl logs -f ticker: new lines arrive while it follows (3 lines)" poll 20 '[ "$(grep -c "^tick" "$WORK/follow.log")" -ge 3 ]'
check "kubectl logs -f is still following" kill -0 "$FOLLOW"
kill -TERM "$FOLLOW" 2>/dev/null
wait "$FOLLOW" 2>/dev/null
check "kubectl logs restarter --previous: the first run's line" equals "first run" -- vk logs restarter --previous
check "kubectl logs restarter: the current run's line" equals "second run" -- vk logs restarter

# --- exec ------------------------------------------------------------------------------------------------
welcome() { "$@" 2>/dev/null | grep -q 'Welcome to nginx!'; }
check "kubectl exec deploy/nettool -- curl -s http://$WEB_IP: Welcome to nginx!" \
  poll 20 welcome vk exec deploy/nettool -- curl -s --max-time 5 "http://$WEB_IP"
head -c 4M /dev/urandom >"$WORK/four.bin"
SUM4=$(sha256sum "$WORK/four.bin" | cut -d' ' -f1)
check "kubectl exec -i ticker -- sha256sum < 4 MB: the same digest" \
  equals "$SUM4" -- bash -c 'kubectl --context "$1" exec -i ticker -- sha256sum <"$2" 2>/dev/null | cut -d" " -f1' _ "$CTX" "$WORK/four.bin"
check "kubectl exec ticker -- sh -c 'exit 3': the exit code comes back" \
  bash -c 'kubectl --context "$1" exec ticker -- sh -c "exit 3" 2>/dev/null; [ $? = 3 ]' _ "$CTX"
# A pty of our own (script), as a person at a terminal: the remote sh has a tty and evaluates the typed lines.
printf 'echo pty-$((6*7))\ntty\nexit\n' | timeout 60 script -qec "kubectl --context $CTX exec -it ticker -- sh" /dev/null >"$WORK/pty.out" 2>&1
check "kubectl exec -it ticker -- sh under a pty: the typed line is evaluated (pty-42)" grep -q 'pty-42' "$WORK/pty.out"
check "kubectl exec -it: the remote shell's stdin is a tty (/dev/pts/N)" grep -q '^/dev/pts/[0-9]' "$WORK/pty.out"

# --- attach ----------------------------------------------------------------------------------------------
check "kubectl attach -i attacher: the line sent comes back (got:hello-attach)" \
  bash -c 'echo hello-attach | timeout 30 kubectl --context "$1" attach -i attacher 2>/dev/null | grep -q "^got:hello-attach"' _ "$CTX"

# --- port-forward ----------------------------------------------------------------------------------------
LPORT=$(free_port)
kubectl --context "$CTX" port-forward deploy/nettool "$LPORT:80" >"$WORK/pf.log" 2>&1 &
PF=$!
_pids+=("$PF")
check "kubectl port-forward deploy/nettool $LPORT:80, curl http://127.0.0.1:$LPORT: Welcome to nginx!" \
  poll 20 welcome curl -s --max-time 5 "http://127.0.0.1:$LPORT/"
check "a second request through the same port-forward" welcome curl -s --max-time 5 "http://127.0.0.1:$LPORT/"
kill -TERM "$PF" 2>/dev/null
wait "$PF" 2>/dev/null

# --- cp --------------------------------------------------------------------------------------------------
head -c 10M /dev/urandom >"$WORK/ten.bin"
SUM10=$(sha256sum "$WORK/ten.bin" | cut -d' ' -f1)
check "kubectl cp ten.bin (10 MB) $NETTOOL:/tmp/ten.bin" vk cp "$WORK/ten.bin" "default/$NETTOOL:/tmp/ten.bin"
check "the copy in the pod has the same sha256" \
  equals "$SUM10" -- bash -c 'kubectl --context "$1" exec "$2" -- sha256sum /tmp/ten.bin 2>/dev/null | cut -d" " -f1' _ "$CTX" "$NETTOOL"
check "kubectl cp $NETTOOL:/tmp/ten.bin back" vk cp "default/$NETTOOL:/tmp/ten.bin" "$WORK/back.bin"
check "the file copied back has the same sha256" equals "$SUM10" -- bash -c 'sha256sum "$1" | cut -d" " -f1' _ "$WORK/back.bin"

# --- refusals --------------------------------------------------------------------------------------------
expect_error() { # DESC PATTERN COMMAND...: a non-zero exit and output matching PATTERN
  local desc=$1 pattern=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if ((rc != 0)) && grep -qE "$pattern" <<<"$out"; then ok "$desc (rc=$rc): $(head -c 300 <<<"$out" | tr '\n' ' ')"; else not_ok "$desc (rc=$rc): $(head -c 300 <<<"$out" | tr '\n' ' ')"; fi
}
expect_error "kubectl logs ticker -c nope: an error naming the container" 'nope' vk_out logs ticker -c nope
expect_error "kubectl exec ticker -c nope -- true: an error naming the container" 'nope' vk_out exec ticker -c nope -- true
cat >"$WORK/pending.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: pending}
spec:
  nodeName: $NODE_NAME
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    volumeMounts: [{name: cm, mountPath: /cm}]
  volumes: [{name: cm, configMap: {name: does-not-exist}}]
YAML
check "virtual: a pod on $NODE_NAME that mounts a missing ConfigMap (not synced: it waits for it)" vk apply -f "$WORK/pending.yaml"
check "it has no host pod" bash -c '! kubectl --context "$1" -n "$2" get pod pending-x-default-x-"$3" >/dev/null 2>&1' _ "$HOSTCTX" "$NS" "$VC"
# The endpoint answers 404: the virtual API server says NotFound for a log, and passes the endpoint's sentence
# back for an exec.
expect_error "kubectl logs pending (not synced): NotFound" 'NotFound' vk_out logs pending
expect_error "kubectl exec pending -- true (not synced): not a pod of vcluster $VC" "not a pod of vcluster $VC" vk_out exec pending -- true

VPKI=$STATE/cp/pki
HPKI=$WORK/host/pki
KURL=https://127.0.0.1:$KPORT
code() { curl -s -o "$WORK/code.body" -w '%{http_code}' --max-time 10 --cacert "$VPKI/ca.crt" "$@"; }
check "straight to the endpoint without a client certificate: 401" equals 401 -- code "$KURL/containerLogs/default/ticker/c"
check "with the host cluster's kubelet client certificate (another CA): 401" \
  equals 401 -- code --cert "$HPKI/apiserver-kubelet-client.crt" --key "$HPKI/apiserver-kubelet-client.key" "$KURL/containerLogs/default/ticker/c"
check "with the virtual cluster's admin certificate (its CA, another name): 403" \
  equals 403 -- code --cert "$VPKI/admin.crt" --key "$VPKI/admin.key" "$KURL/exec/default/ticker/c?command=id&output=1"
vcert=(--cert "$VPKI/apiserver-kubelet-client.crt" --key "$VPKI/apiserver-kubelet-client.key")
check "with the virtual API server's kubelet client certificate: 200 and ticker's log" \
  bash -c '[ "$(curl -s -o "$1" -w "%{http_code}" --max-time 10 --cacert "$2/ca.crt" --cert "$2/apiserver-kubelet-client.crt" --key "$2/apiserver-kubelet-client.key" "$3/containerLogs/default/ticker/c?tailLines=1")" = 200 ] && grep -q "^tick" "$1"' _ "$WORK/code.body" "$VPKI" "$KURL"
check "the pod not synced: 404" equals 404 -- code "${vcert[@]}" "$KURL/containerLogs/default/pending/c"
check "an unknown container: the host's 400 passed back" \
  bash -c '[ "$(curl -s -o "$1" -w "%{http_code}" --max-time 10 --cacert "$2/ca.crt" --cert "$2/apiserver-kubelet-client.crt" --key "$2/apiserver-kubelet-client.key" "$3/containerLogs/default/ticker/nope")" = 400 ] && grep -q nope "$1"' _ "$WORK/code.body" "$VPKI" "$KURL"
check "a path the endpoint does not serve: 403" equals 403 -- code "${vcert[@]}" "$KURL/configz"

# --- the syncer restarted during a logs -f ---------------------------------------------------------------
kubectl --context "$CTX" logs -f ticker --tail=1 >"$WORK/follow2.log" 2>"$WORK/follow2.err" &
FOLLOW=$!
_pids+=("$FOLLOW")
check "kubectl logs -f ticker follows" poll 20 '[ "$(grep -c "^tick" "$WORK/follow2.log")" -ge 2 ]'
check "vcluster create $VC --upgrade (restarts the syncer)" "$VCLUSTER" create "$VC" --upgrade --plugins "$PLUGINS"
check "that logs -f ended with the syncer" poll 30 '! kill -0 "$FOLLOW" 2>/dev/null'
kill -TERM "$FOLLOW" 2>/dev/null
wait "$FOLLOW" 2>/dev/null
NEW_SYNCER=$(cat "$STATE/syncer.pid" 2>/dev/null)
check "a new syncer runs (pid $SYNCER_PID -> $NEW_SYNCER)" bash -c '[ "$1" != "$2" ] && kill -0 "$2"' _ "$SYNCER_PID" "$NEW_SYNCER"
kubectl --context "$CTX" logs -f ticker --tail=1 >"$WORK/follow3.log" 2>"$WORK/follow3.err" &
FOLLOW=$!
_pids+=("$FOLLOW")
check "the next kubectl logs -f works (3 lines)" poll 30 '[ "$(grep -c "^tick" "$WORK/follow3.log")" -ge 3 ]'
kill -TERM "$FOLLOW" 2>/dev/null
wait "$FOLLOW" 2>/dev/null

# --- the host API server down ----------------------------------------------------------------------------
# shellcheck disable=SC1091
HOST_SERVER=$(. "$WORK/host/env"; echo "$VC_API_SERVER")
HOST_ADDR=${HOST_SERVER#https://}
# The checks run while the host API server is stopped (tests/bed/cluster restart runs this in between).
export DOWN=$WORK/down
mkdir -p "$DOWN"
export VC_BED_RESTART_BETWEEN='
  kubectl --context "$CTX" logs ticker --tail=1 >"$DOWN/logs.out" 2>&1; echo $? >"$DOWN/logs.rc"
  kubectl --context "$CTX" exec ticker -- true >"$DOWN/exec.out" 2>&1; echo $? >"$DOWN/exec.rc"'
check "the host API server $HOST_ADDR stopped and started again" "$CLUSTER" restart "host-$$" kube-apiserver --dir "$WORK/host"
unset VC_BED_RESTART_BETWEEN
echo "# while it was down: logs: $(tr '\n' ' ' <"$DOWN/logs.out" | head -c 300); exec: $(tr '\n' ' ' <"$DOWN/exec.out" | head -c 300)"
check "kubectl logs while the host is down: an error naming the host API server" \
  bash -c '[ "$(cat "$1/logs.rc")" != 0 ] && grep -q "$2" "$1/logs.out"' _ "$DOWN" "$HOST_ADDR"
check "kubectl exec while the host is down: an error naming the host API server" \
  bash -c '[ "$(cat "$1/exec.rc")" != 0 ] && grep -q "$2" "$1/exec.out"' _ "$DOWN" "$HOST_ADDR"
check "the syncer kept running" kill -0 "$NEW_SYNCER"
check "virtual: kubectl run after (a pod created once the host is back)" \
  vk run after --image=busybox --restart=Never -- sh -c 'echo after-the-outage; sleep 3600'
check "it is synced and Running" poll "$DEADLINE" running after
check "kubectl logs after: after-the-outage" poll 20 equals after-the-outage -- vk logs after
check "kubectl exec works again" equals ok -- vk exec ticker -- echo ok

check "the syncer is the one the upgrade started (it never exited)" kill -0 "$NEW_SYNCER"
keep_syncer_log
check "vcluster delete $VC" "$VCLUSTER" delete "$VC"
echo "# $((SECONDS - T0)) s in all, $((SECONDS - T_NODE)) s after the node was up"
summary
