#!/usr/bin/env bash
# Runs the REST client and informer tests (kube_client_it) against a real host cluster of the bed.
# Usage: kube_client_test.sh KUBE_CLIENT_IT_BINARY
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start_cluster kc host
# shellcheck disable=SC1091
. "$WORK/kc/env"
export VC_IT_KUBECONFIG=$KC_kc VC_IT_CLUSTER=kc-$$ VC_IT_CLUSTER_DIR=$WORK/kc VC_IT_BED=$CLUSTER VC_ETCD_URL
if "$1"; then ok "kube_client_it (REST verbs, Status errors, paging, informer restart and 410 relist)"; else not_ok "kube_client_it"; fi
summary
