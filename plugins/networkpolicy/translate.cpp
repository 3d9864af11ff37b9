#include "translate.hpp"

#include <algorithm>
#include <set>
#include <vector>

namespace vcp_networkpolicy {

using vc::json::Value;

namespace {

constexpr std::string_view kManagedAnnotations = "vcluster.loft.sh/managed-annotations";
constexpr std::string_view kObjectName = "vcluster.loft.sh/object-name";
constexpr std::string_view kObjectNamespace = "vcluster.loft.sh/object-namespace";
constexpr std::string_view kObjectUid = "vcluster.loft.sh/object-uid";

bool bookkeeping_annotation(std::string_view k) {
  return k == kManagedAnnotations || k == "vcluster.loft.sh/managed-labels" || k == kObjectName ||
         k == kObjectUid || k == kObjectNamespace;
}

// The host key of `key` under `prefix`, or as a pod label key when `prefix` is empty.
std::string host_key(const Host& host, std::string_view prefix, std::string_view key) {
  return prefix.empty() ? host.label_key(key) : host.label_key_prefixed(prefix, key);
}

// Go's encoding/json leaves out the empty lists and maps of a NetworkPolicy (every one is `omitempty`), and
// so does the API server's answer: the translation leaves them out too, so that it compares equal to what
// the host serves.
void set_unless_empty(Value& obj, std::string_view key, Value v) {
  if (v.is_null() || ((v.is_array() || v.is_object()) && v.empty())) {
    obj.erase(key);
  } else {
    obj[key] = std::move(v);
  }
}

// The translated peers of one rule's `from` or `to`; null when the rule has none.
Value translate_peers(const Host& host, const Value& peers, const std::string& vns) {
  if (!peers.is_array()) return Value();
  Value out = Value::array();
  for (const Value& p : peers.items()) out.push_back(translate_peer(host, p, vns));
  return out;
}

// One ingress or egress rule: ports copied, peers (`peers_key`: "from" or "to") translated. Other members
// (none exist in networking.k8s.io/v1) are not carried, as vcluster's typed copy carries none.
Value translate_rule(const Host& host, const Value& rule, std::string_view peers_key,
                     const std::string& vns) {
  Value out = Value::object();
  set_unless_empty(out, "ports", field(rule, "ports"));
  set_unless_empty(out, peers_key, translate_peers(host, field(rule, peers_key), vns));
  return out;
}

}  // namespace

Config read_config(const Host& host) {
  Config cfg;
  cfg.enabled = host.config("sync.networkpolicies.enabled").value_or("false") == "true";
  return cfg;
}

bool controlled_by_other(const Value& obj) {
  return !field(field(field(obj, "metadata"), "labels"), kControlledBy).string_or("").empty();
}

Value translate_selector(const Host& host, const Value& selector, std::string_view prefix) {
  if (!selector.is_object()) return Value();
  Value out = Value::object();
  Value labels = Value::object();
  for (const auto& [k, v] : field(selector, "matchLabels").members()) labels[host_key(host, prefix, k)] = v;
  set_unless_empty(out, "matchLabels", std::move(labels));
  Value exprs = Value::array();
  for (const Value& e : field(selector, "matchExpressions").items()) {
    Value ne = Value::object();
    ne["key"] = host_key(host, prefix, str_of(e, "key"));
    ne["operator"] = field(e, "operator");
    set_unless_empty(ne, "values", field(e, "values"));
    exprs.push_back(std::move(ne));
  }
  set_unless_empty(out, "matchExpressions", std::move(exprs));
  return out;
}

Value merge_selectors(const Value& a, const Value& b) {
  Value labels = Value::object();
  Value exprs = Value::array();
  for (const Value* s : {&a, &b}) {
    for (const auto& [k, v] : field(*s, "matchLabels").members()) labels[k] = v;
    for (const Value& e : field(*s, "matchExpressions").items()) exprs.push_back(e);
  }
  Value out = Value::object();
  set_unless_empty(out, "matchLabels", std::move(labels));
  set_unless_empty(out, "matchExpressions", std::move(exprs));
  return out;
}

Value translate_peer(const Host& host, const Value& peer, const std::string& vns) {
  Value out = Value::object();
  // The peer's own podSelector, translated (an ipBlock peer has none: the API server refuses both at once).
  Value pods = translate_selector(host, field(peer, "podSelector"), "");
  if (const Value* block = peer.find("ipBlock"); block && !block->is_null()) {
    out["ipBlock"] = *block;
    if (!pods.is_null()) out["podSelector"] = std::move(pods);
    return out;
  }
  const Value& nsel = field(peer, "namespaceSelector");
  // The namespace's labels are on every host pod under ns-label keys (the pods plugin copies them), so a
  // namespace selector becomes part of the pod selector: a pod matches when both hold (AND).
  Value sel = merge_selectors(pods, translate_selector(host, nsel, kNamespaceLabelPrefix));
  Value& labels = sel["matchLabels"];
  if (!labels.is_object()) labels = Value::object();
  // Without a namespaceSelector a peer means pods of the policy's own namespace.
  if (!nsel.is_object()) labels[kNamespaceLabel] = vns;
  // Only pods of this vcluster: `namespaceSelector: {}` (every namespace) means every pod of the vcluster,
  // never the host's other pods.
  labels[kManagedBy] = host.cluster_name();
  out["podSelector"] = std::move(sel);
  return out;
}

Value translate_spec(const Host& host, const Value& spec, const std::string& vns) {
  Value out = Value::object();
  Value pods = translate_selector(host, field(spec, "podSelector"), "");
  if (!pods.is_object()) pods = Value::object();
  Value& labels = pods["matchLabels"];
  if (!labels.is_object()) labels = Value::object();
  // A NetworkPolicy selects pods of its own namespace, and on the host only pods of this vcluster.
  labels[kNamespaceLabel] = vns;
  labels[kManagedBy] = host.cluster_name();
  out["podSelector"] = std::move(pods);

  Value ingress = Value::array();
  for (const Value& r : field(spec, "ingress").items())
    ingress.push_back(translate_rule(host, r, "from", vns));
  set_unless_empty(out, "ingress", std::move(ingress));
  Value egress = Value::array();
  for (const Value& r : field(spec, "egress").items()) egress.push_back(translate_rule(host, r, "to", vns));
  set_unless_empty(out, "egress", std::move(egress));
  set_unless_empty(out, "policyTypes", field(spec, "policyTypes"));
  return out;
}

Value translate_labels(const Host& host, const Value& vobj, const Value* keep_from) {
  Value out = Value::object();
  for (const auto& [k, v] : field(field(vobj, "metadata"), "labels").members()) out[host.label_key(k)] = v;
  if (keep_from != nullptr) {
    if (const Value* cb = keep_from->find(kControlledBy)) out[kControlledBy] = *cb;
  }
  out[kManagedBy] = host.cluster_name();
  out[kNamespaceLabel] = str_of(field(vobj, "metadata"), "namespace");
  return out;
}

Value translate_annotations(const Value& vobj, const Value* current) {
  const Value& meta = field(vobj, "metadata");
  Value out = Value::object();
  std::vector<std::string> managed;
  for (const auto& [k, v] : field(meta, "annotations").members()) {
    if (bookkeeping_annotation(k)) continue;
    out[k] = v;
    managed.push_back(k);
  }
  if (current != nullptr) {
    std::set<std::string> previously;
    std::string_view list = field(*current, kManagedAnnotations).string_or("");
    while (!list.empty()) {
      size_t nl = list.find('\n');
      previously.insert(std::string(list.substr(0, nl)));
      list = nl == std::string_view::npos ? std::string_view() : list.substr(nl + 1);
    }
    for (const auto& [k, v] : current->members()) {
      if (bookkeeping_annotation(k)) continue;               // rewritten below
      if (out.contains(k) || previously.count(k)) continue;  // virtual wins, or a removal propagates
      out[k] = v;                                            // host-only annotations survive
    }
  }
  std::sort(managed.begin(), managed.end());
  if (!managed.empty()) {
    std::string joined;
    for (size_t i = 0; i < managed.size(); i++) joined += (i ? "\n" : "") + managed[i];
    out[kManagedAnnotations] = joined;
  }
  out[kObjectName] = str_of(meta, "name");
  out[kObjectNamespace] = str_of(meta, "namespace");
  out[kObjectUid] = str_of(meta, "uid");
  return out;
}

Value translate_create(const Host& host, const Value& vnp, const std::string& ns, const std::string& name) {
  const std::string vns = str_of(field(vnp, "metadata"), "namespace");
  Value h = Value::object();
  h["apiVersion"] = "networking.k8s.io/v1";
  h["kind"] = "NetworkPolicy";
  Value& meta = h["metadata"];
  meta["name"] = name;
  meta["namespace"] = ns;
  meta["labels"] = translate_labels(host, vnp, nullptr);
  meta["annotations"] = translate_annotations(vnp, nullptr);
  h["spec"] = translate_spec(host, field(vnp, "spec"), vns);
  return h;
}

Value translate_update(const Host& host, const Value& vnp, const Value& hnp) {
  const std::string vns = str_of(field(vnp, "metadata"), "namespace");
  Value h = hnp;
  const Value& hmeta = field(hnp, "metadata");
  Value& meta = h["metadata"];
  meta["labels"] = translate_labels(host, vnp, hmeta.find("labels"));
  meta["annotations"] = translate_annotations(vnp, hmeta.find("annotations"));
  h["spec"] = translate_spec(host, field(vnp, "spec"), vns);
  return h;
}

}  // namespace vcp_networkpolicy
