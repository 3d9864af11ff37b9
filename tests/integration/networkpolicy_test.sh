#!/usr/bin/env bash
# The networkpolicy plugin end to end on two real control planes, with the pods plugin beside it so that the
# translated selectors are checked against the labels real host pods carry (vcluster-behaviour.md §2.3,
# §8.1):
#  - off by default: without sync.networkpolicies.enabled no host policy appears;
#  - enabled: a virtual NetworkPolicy with a podSelector, peers with and without namespaceSelectors, an
#    ipBlock peer, ports and both policy types appears on the host as <name>-x-<ns>-x-<vc>; its selectors,
#    run as label selectors against the host namespace, pick exactly the host pods of the virtual pods the
#    virtual selectors meant (namespace selectors through the ns-label keys the pods plugin copies);
#  - an update replaces the host spec; a delete follows;
#  - a host policy that is not ours is untouched, whether another name or the name a virtual one wants;
#  - a restart with nothing changed writes nothing.
# Host pods stay Pending (the host has no nodes): only their labels matter here.
#
# Usage: networkpolicy_test.sh SYNCER PODS_PLUGIN NETWORKPOLICY_PLUGIN
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SYNCER=$1
PODS=$2
NETPOL=$3
VC=np-vc
HNS=vcluster-np

start_cluster host host
VC_BED_SERVICE_CIDR=10.96.0.0/16 start_cluster virt virtual
# KC_host and KC_virt are set by start_cluster (printf -v).
# shellcheck disable=SC2154
hk() { kubectl --kubeconfig "$KC_host" "$@" 2>/dev/null; }
# shellcheck disable=SC2154
vk() { kubectl --kubeconfig "$KC_virt" "$@" 2>/dev/null; }
# The vcluster's own Service and the virtual DNS Service in the host namespace: the pods plugin waits for them.
vcluster_host_services "$KC_host" "$HNS" "$VC"

port=$(free_port)
# shellcheck disable=SC2034 # read by lib.sh (syncer_quiet, syncer_writes)
URL=http://127.0.0.1:$port
VALUES=$WORK/values.yaml
printf 'sync:\n  networkpolicies:\n    enabled: true\n' >"$VALUES"

# Host label keys, computed apart from the syncer (§1.4): pod labels and the ns-label keys of Namespace labels.
hash10() { printf '%s' "$1" | sha256sum | cut -c1-10; }
lkey() { echo "vcluster.loft.sh/label-$VC-x-$(hash10 "$1")"; }
nskey() { echo "vcluster.loft.sh/ns-label-$VC-x-$(hash10 "$1")"; }
HP=web-policy-x-team-a-x-$VC
# hpol JQ: a jq expression over host policy $HP (compact output).
hpol() { hk -n "$HNS" get networkpolicy "$HP" -o json | jq -cS "$1"; }
host_policy_exists() { hk -n "$HNS" get networkpolicy "$1" >/dev/null; }
host_policy_gone() { ! host_policy_exists "$1"; }
# A LabelSelector (JSON on stdin) as a kubectl -l string.
selector_string() {
  jq -r '[(.matchLabels // {} | to_entries[] | "\(.key)=\(.value)"),
          (.matchExpressions // [] | .[] |
            if .operator == "In" then "\(.key) in (\(.values | join(",")))"
            elif .operator == "NotIn" then "\(.key) notin (\(.values | join(",")))"
            elif .operator == "Exists" then .key else "!\(.key)" end)] | join(",")'
}
# selects JQ: the host pods (names, sorted, space-separated) that the LabelSelector at JQ of $HP selects.
selects() {
  local sel
  sel=$(hpol "$1" | selector_string)
  hk -n "$HNS" get pods -l "$sel" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort | xargs
}

# ---- virtual namespaces and pods; host objects that are not ours -------------------------------------------
vk create namespace team-a >/dev/null
vk create namespace team-b >/dev/null
vk label namespace team-a team=a >/dev/null
vk label namespace team-b team=b env=prod >/dev/null
# vpod NS NAME LABELS: a virtual pod without a service-account token (the bed's virtual cluster makes the
# default ServiceAccount shortly after the namespace; admission needs it).
vpod() {
  poll 30 vk -n "$1" get serviceaccount default >/dev/null
  cat <<YAML | vk apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {$3}}
spec:
  automountServiceAccountToken: false
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
YAML
}
vpod team-a web 'app: web'
vpod team-a client 'role: client'
vpod team-a monitor-a 'role: monitor'
vpod team-b monitor 'role: monitor'
vpod team-b dns 'k8s-app: kube-dns'
# A host pod of the host namespace that is not the vcluster's: no translated selector may pick it.
cat <<YAML | hk apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: bystander, namespace: $HNS, labels: {role: monitor}}
spec: {containers: [{name: c, image: busybox}]}
YAML
# A host policy of the host's own, and one under the name the virtual team-a/foreign would get.
cat <<YAML | hk apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: host-own, namespace: $HNS}
spec: {podSelector: {matchLabels: {role: monitor}}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: foreign-x-team-a-x-$VC, namespace: $HNS}
spec: {podSelector: {}, policyTypes: [Egress]}
YAML
own_rv=$(hk -n "$HNS" get networkpolicy host-own -o jsonpath='{.metadata.resourceVersion}')
foreign_rv=$(hk -n "$HNS" get networkpolicy "foreign-x-team-a-x-$VC" -o jsonpath='{.metadata.resourceVersion}')

cat <<YAML | vk apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-policy, namespace: team-a, labels: {app: web}}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    - namespaceSelector: {matchLabels: {team: b}}
      podSelector: {matchLabels: {role: monitor}}
    - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
    ports: [{protocol: TCP, port: 8080}, {protocol: TCP, port: metrics}]
  egress:
  - to:
    - namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}
      podSelector: {matchExpressions: [{key: k8s-app, operator: Exists}]}
    ports: [{protocol: UDP, port: 53}]
  - to: [{namespaceSelector: {}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: foreign, namespace: team-a}
spec: {podSelector: {}, policyTypes: [Ingress]}
YAML

# ---- off by default ---------------------------------------------------------------------------------------
check "syncer (pods + networkpolicy plugins, default values) becomes ready" syncer_up off "$PODS,$NETPOL"
hostpods() { hk -n "$HNS" get pods -o name | grep -c -- "-x-team-[ab]-x-$VC"; }
# shellcheck disable=SC2016 # poll evaluates the expression afresh on every try
check "the five host pods appear (the pods plugin runs)" poll 60 'test "$(hostpods)" = 5'
check "it settles" syncer_quiet 60
check "sync.networkpolicies.enabled is false by default: no host policy is made" host_policy_gone "$HP"
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

# ---- enabled: the translation -----------------------------------------------------------------------------
check "syncer with sync.networkpolicies.enabled becomes ready" syncer_up on "$PODS,$NETPOL" -f "$VALUES" --log-level debug
check "host policy $HP appears" poll 30 host_policy_exists "$HP"
check "it carries managed-by, namespace and the object-name annotation" \
  equals "$VC team-a web-policy" -- hk -n "$HNS" get networkpolicy "$HP" \
  -o 'jsonpath={.metadata.labels.vcluster\.loft\.sh/managed-by} {.metadata.labels.vcluster\.loft\.sh/namespace} {.metadata.annotations.vcluster\.loft\.sh/object-name}'
want=$(jq -cnS --arg a "$(lkey app)" --arg vc "$VC" '{($a): "web", "vcluster.loft.sh/managed-by": $vc, "vcluster.loft.sh/namespace": "team-a"}')
check "its labels are the virtual ones hashed, plus managed-by and namespace" equals "$want" -- hpol '.metadata.labels'
check "its podSelector is app=web translated, plus namespace and managed-by" equals "$want" -- hpol '.spec.podSelector.matchLabels'
check "  and it selects exactly the host pod of team-a/web" equals "web-x-team-a-x-$VC" -- selects '.spec.podSelector'
want=$(jq -cnS --arg r "$(lkey role)" --arg vc "$VC" '{($r): "client", "vcluster.loft.sh/managed-by": $vc, "vcluster.loft.sh/namespace": "team-a"}')
check "a peer without namespaceSelector: translated, plus the policy's namespace and managed-by" \
  equals "$want" -- hpol '.spec.ingress[0].from[0].podSelector.matchLabels'
check "  and it selects exactly the host pod of team-a/client" equals "client-x-team-a-x-$VC" -- selects '.spec.ingress[0].from[0].podSelector'
want=$(jq -cnS --arg r "$(lkey role)" --arg t "$(nskey team)" --arg vc "$VC" '{($r): "monitor", ($t): "b", "vcluster.loft.sh/managed-by": $vc}')
check "a peer with namespaceSelector: the ns-label keys AND-merged into its podSelector" \
  equals "$want" -- hpol '.spec.ingress[0].from[1].podSelector.matchLabels'
check "  with no namespaceSelector left on the host" equals null -- hpol '.spec.ingress[0].from[1].namespaceSelector'
check "  and it selects team-b's monitor only (not team-a's, not the host's bystander)" \
  equals "monitor-x-team-b-x-$VC" -- selects '.spec.ingress[0].from[1].podSelector'
check "the ipBlock peer is copied unchanged" \
  equals '{"ipBlock":{"cidr":"192.0.2.0/24","except":["192.0.2.128/25"]}}' -- hpol '.spec.ingress[0].from[2]'
check "ingress ports are copied" \
  equals '[{"port":8080,"protocol":"TCP"},{"port":"metrics","protocol":"TCP"}]' -- hpol '.spec.ingress[0].ports'
check "egress ports are copied" equals '[{"port":53,"protocol":"UDP"}]' -- hpol '.spec.egress[0].ports'
check "policyTypes are copied" equals '["Ingress","Egress"]' -- hpol '.spec.policyTypes'
want=$(jq -cnS --arg k "$(lkey k8s-app)" --arg e "$(nskey env)" '[{key: $k, operator: "Exists"}, {key: $e, operator: "In", values: ["prod"]}]')
check "an egress peer's matchExpressions: pod keys and ns-label keys, operators and values unchanged" \
  equals "$want" -- hpol '.spec.egress[0].to[0].podSelector.matchExpressions'
check "  and it selects exactly team-b's kube-dns pod" equals "dns-x-team-b-x-$VC" -- selects '.spec.egress[0].to[0].podSelector'
check "namespaceSelector {}: a podSelector of managed-by only" \
  equals "{\"podSelector\":{\"matchLabels\":{\"vcluster.loft.sh/managed-by\":\"$VC\"}}}" -- hpol '.spec.egress[1].to[0]'
all="client-x-team-a-x-$VC dns-x-team-b-x-$VC monitor-a-x-team-a-x-$VC monitor-x-team-b-x-$VC web-x-team-a-x-$VC"
check "  which selects every host pod of this vcluster and nothing else" equals "$all" -- selects '.spec.egress[1].to[0].podSelector'

check "a host policy vcluster does not own is untouched (resourceVersion $own_rv)" \
  equals "$own_rv" -- hk -n "$HNS" get networkpolicy host-own -o 'jsonpath={.metadata.resourceVersion}'
check "the host policy under the name team-a/foreign wants is untouched" \
  equals "$foreign_rv|" -- hk -n "$HNS" get networkpolicy "foreign-x-team-a-x-$VC" -o 'jsonpath={.metadata.resourceVersion}|{.metadata.labels.vcluster\.loft\.sh/managed-by}'
check "  and the refusal is a Warning event in the virtual cluster" \
  poll 20 bash -c "kubectl --kubeconfig '$KC_virt' -n team-a get events -o jsonpath='{.items[*].message}' 2>/dev/null | grep -q 'foreign-x-team-a-x-$VC exists and is not managed by vcluster $VC'"

# ---- update replaces the spec ------------------------------------------------------------------------------
cat <<YAML | vk replace -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-policy, namespace: team-a, labels: {app: web}}
spec:
  podSelector: {matchLabels: {role: monitor}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {env: prod}}}]
    ports: [{protocol: TCP, port: 9090}]
YAML
check "an update reaches the host: the podSelector is the new one" \
  poll 20 equals "monitor-a-x-team-a-x-$VC" -- selects '.spec.podSelector'
want=$(jq -cnS --arg e "$(nskey env)" --arg vc "$VC" '{"policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {"matchLabels": {($e): "prod", "vcluster.loft.sh/managed-by": $vc}}}], "ports": [{"port": 9090, "protocol": "TCP"}]}], "egress": "none"}')
check "the whole spec is replaced: no egress left, one ingress rule, Ingress only" \
  equals "$want" -- hpol '{policyTypes: .spec.policyTypes, ingress: .spec.ingress, egress: (.spec.egress // "none")}'
check "  its peer selects team-b's pods (env=prod)" equals "dns-x-team-b-x-$VC monitor-x-team-b-x-$VC" -- selects '.spec.ingress[0].from[0].podSelector'

# ---- a restart that changes nothing writes nothing -----------------------------------------------------------
# The refused policy would be refused again (an event, a write): not "nothing changed", so it goes first; and
# the restart runs the networkpolicy plugin alone, since the host scheduler keeps reporting the Pending pods
# (events the pods plugin would copy).
vk -n team-a delete networkpolicy foreign >/dev/null
check "it settles" syncer_quiet 60
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
hp_rv=$(hk -n "$HNS" get networkpolicy "$HP" -o jsonpath='{.metadata.resourceVersion}')
check "restarted syncer (networkpolicy plugin) becomes ready" syncer_up again "$NETPOL" -f "$VALUES" --log-level debug
check "with nothing changed it settles without a single write" syncer_quiet 60
check "  (writes since the restart: 0)" equals 0 -- syncer_writes
check "  (the host policy's resourceVersion is still $hp_rv)" \
  equals "$hp_rv" -- hk -n "$HNS" get networkpolicy "$HP" -o jsonpath='{.metadata.resourceVersion}'
check "the foreign host policy is still there, untouched" \
  equals "$foreign_rv" -- hk -n "$HNS" get networkpolicy "foreign-x-team-a-x-$VC" -o 'jsonpath={.metadata.resourceVersion}'

# ---- deletes follow; a policy created while the syncer runs ----------------------------------------------
vk -n team-b create -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: team-b}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
YAML
check "a deny-all created while the syncer runs reaches the host" poll 20 host_policy_exists "deny-all-x-team-b-x-$VC"
check "  as deny-all for team-b's pods of this vcluster (no rules, both types)" \
  equals "{\"podSelector\":{\"matchLabels\":{\"vcluster.loft.sh/managed-by\":\"$VC\",\"vcluster.loft.sh/namespace\":\"team-b\"}},\"policyTypes\":[\"Ingress\",\"Egress\"]}" \
  -- bash -c "kubectl --kubeconfig '$KC_host' -n '$HNS' get networkpolicy 'deny-all-x-team-b-x-$VC' -o json | jq -cS .spec"
vk -n team-a delete networkpolicy web-policy >/dev/null
check "deleting the virtual policy deletes the host one" poll 20 host_policy_gone "$HP"
vk -n team-b delete networkpolicy deny-all >/dev/null
check "and the other" poll 20 host_policy_gone "deny-all-x-team-b-x-$VC"
check "the host's own policy is still there, untouched" \
  equals "$own_rv" -- hk -n "$HNS" get networkpolicy host-own -o 'jsonpath={.metadata.resourceVersion}'
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

# ---- a policy deleted while the syncer is down: its host copy goes at start -------------------------------
check "syncer up again" syncer_up gc "$NETPOL" -f "$VALUES"
vk -n team-a create -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: orphan, namespace: team-a}
spec: {podSelector: {}, policyTypes: [Ingress]}
YAML
check "policy orphan reaches the host" poll 20 host_policy_exists "orphan-x-team-a-x-$VC"
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"
vk -n team-a delete networkpolicy orphan >/dev/null
check "restarted after orphan was deleted in the virtual cluster" syncer_up gc2 "$NETPOL" -f "$VALUES"
check "the orphaned host policy is deleted at start" poll 20 host_policy_gone "orphan-x-team-a-x-$VC"
check "the host's own policy is still there, untouched" \
  equals "$own_rv" -- hk -n "$HNS" get networkpolicy host-own -o 'jsonpath={.metadata.resourceVersion}'
check "SIGTERM stops the syncer cleanly (exit 0)" stop_pid "$SYNCER_PID"

check_no_sanitizer_reports
summary
