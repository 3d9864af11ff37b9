#!/usr/bin/env bash
# The main job: a local host cluster with a real node, a virtual cluster created by `vcluster create
# my-vcluster --driver local` (its control plane and the syncer with the default plugins run as local
# processes), then the quick start — a namespace and an nginx deployment in the virtual cluster, whose pods
# run on the host renamed <pod>-x-demo-nginx-x-my-vcluster and serve HTTP.
#
# Usage: scripts/demo.sh [up|down|status]
#   up (default)  set everything up and run the quick start; it stays up for you to explore
#   down          delete the virtual cluster and stop the host cluster and its node
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEMO_DIR=${VC_DEMO_DIR:-/tmp/vcluster-demo}
HOST_DIR=$DEMO_DIR/host
export KUBECONFIG=$DEMO_DIR/kubeconfig
export VCLUSTER_STATE_DIR=$DEMO_DIR/vclusters
BED=$VC_ROOT/tests/bed
VCLUSTER=$VC_ROOT/build/cli/vcluster
VC=my-vcluster

down() {
  if [ -x "$VCLUSTER" ] && [ -f "$KUBECONFIG" ]; then
    "$VCLUSTER" delete "$VC" >/dev/null 2>&1 || true
  fi
  if [ -d "$HOST_DIR" ]; then "$BED/cluster" stop demo-host --dir "$HOST_DIR" >/dev/null; fi
  rm -rf "$DEMO_DIR"
  log "demo stopped and removed"
}

status() {
  [ -f "$KUBECONFIG" ] || { echo "the demo is not running"; return 0; }
  "$VCLUSTER" list
  kubectl --context demo-host get pods -n "vcluster-$VC" -o wide 2>/dev/null
}

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

up() {
  "$VC_ROOT/scripts/setup.sh"
  if [ -d "$HOST_DIR" ]; then
    log "a previous demo is still there; removing it first"
    down
  fi
  mkdir -p "$DEMO_DIR"
  log "starting the host cluster (etcd, kube-apiserver, controller manager, scheduler)"
  "$BED/cluster" start demo-host --role host --dir "$HOST_DIR" >/dev/null
  cp "$HOST_DIR/kubeconfig" "$KUBECONFIG"
  kubectl config rename-context "$(kubectl config current-context 2>/dev/null)" demo-host >/dev/null 2>&1 || true
  log "starting a real node (containerd, runc, CNI bridge, kubelet, kube-proxy, local image registry)"
  "$BED/node" start demo-node --cluster-dir "$HOST_DIR" --dns "$VC_ROOT/build/core/dns/vcluster-dns" >/dev/null
  kubectl wait --for=condition=Ready node --all --timeout=120s >/dev/null 2>&1

  say "vcluster create $VC --driver local"
  "$VCLUSTER" create "$VC" --driver local

  say "kubectl create namespace demo-nginx"
  kubectl create namespace demo-nginx
  say "kubectl create deployment nginx-deployment -n demo-nginx --image=nginx"
  kubectl create deployment nginx-deployment -n demo-nginx --image=nginx
  kubectl wait --for=condition=Available deployment/nginx-deployment -n demo-nginx --timeout=180s >/dev/null 2>&1 || true
  say "kubectl get pods -n demo-nginx -o wide            # in the virtual cluster"
  kubectl get pods -n demo-nginx -o wide 2>/dev/null
  say "kubectl --context demo-host get pods -n vcluster-$VC   # on the host: renamed <pod>-x-<namespace>-x-<vcluster>"
  kubectl --context demo-host get pods -n "vcluster-$VC" 2>/dev/null
  say "kubectl --context demo-host get namespaces,deployments -A   # no demo-nginx namespace, no Deployment on the host"
  kubectl --context demo-host get namespaces 2>/dev/null
  kubectl --context demo-host get deployments -A 2>/dev/null || true
  ip=$(kubectl get pods -n demo-nginx -o jsonpath='{.items[0].status.podIP}' 2>/dev/null)
  if [ -n "$ip" ]; then
    say "curl -s http://$ip/ | grep title                 # nginx really runs"
    curl -s --max-time 5 "http://$ip/" | grep -i '<title>' || true
  fi

  # A virtual pod reaches the Service by name: the virtual cluster's DNS is the syncer's (kube-dns).
  say "kubectl expose deployment nginx-deployment -n demo-nginx --port 80"
  kubectl expose deployment nginx-deployment -n demo-nginx --port 80
  say "kubectl run curl-demo -n demo-nginx --image=cr7258/nettool:v1 --restart=Never -- curl -sS --max-time 5 http://nginx-deployment.demo-nginx/"
  kubectl run curl-demo -n demo-nginx --image=cr7258/nettool:v1 --restart=Never -- \
    curl -sS --max-time 5 http://nginx-deployment.demo-nginx/
  for _ in $(seq 90); do
    case $(kubectl get pod curl-demo -n demo-nginx -o jsonpath='{.status.phase}' 2>/dev/null) in
      Succeeded | Failed) break ;;
    esac
    sleep 1
  done
  say "kubectl get pod curl-demo -n demo-nginx            # Succeeded: curl reached nginx by its Service's name"
  kubectl get pod curl-demo -n demo-nginx 2>/dev/null
  say "kubectl --context demo-host logs -n vcluster-$VC curl-demo-x-demo-nginx-x-$VC | grep title   # its output, on the host"
  kubectl --context demo-host logs -n "vcluster-$VC" "curl-demo-x-demo-nginx-x-$VC" 2>/dev/null | grep -i '<title>' || true
  cat <<EOF

The demo stays up. To explore it, in another shell:
  export KUBECONFIG=$KUBECONFIG
  export VCLUSTER_STATE_DIR=$VCLUSTER_STATE_DIR
  kubectl get pods -A                      # the virtual cluster (current context)
  kubectl --context demo-host get pods -A  # the host
  $VCLUSTER list | disconnect | connect $VC | pause $VC | resume $VC
Stop it with: scripts/demo.sh down
EOF
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: scripts/demo.sh [up|down|status]" ;;
esac
