// Virtual → host translation of NetworkPolicies (vcluster-behaviour.md §2 and §8.1). The functions here
// read nothing but their arguments and the naming services of the host table, so the golden tests pin
// their output exactly; when to write is decided in plugin.cpp (and mostly by the engine).
#pragma once

#include <string>
#include <string_view>

#include "host.hpp"
#include "json/json.hpp"

namespace vcp_networkpolicy {

// The member named key, or a shared null: lets read-only walks chain through optional fields.
inline const vc::json::Value& field(const vc::json::Value& v, std::string_view key) {
  static const vc::json::Value kNull;
  const vc::json::Value* f = v.find(key);
  return f ? *f : kNull;
}

// The string member named key, or "" when it is missing or not a string.
inline std::string str_of(const vc::json::Value& v, std::string_view key) {
  return std::string(field(v, key).string_or(""));
}

inline constexpr std::string_view kManagedBy = "vcluster.loft.sh/managed-by";
inline constexpr std::string_view kNamespaceLabel = "vcluster.loft.sh/namespace";
inline constexpr std::string_view kControlledBy = "vcluster.loft.sh/controlled-by";
// The prefix of the keys under which the pods plugin copies a virtual Namespace's labels onto the host
// pods of that namespace (§1.4, example 10): what a namespaceSelector becomes on the host.
inline constexpr std::string_view kNamespaceLabelPrefix = "vcluster.loft.sh/ns-label";

// The plugin's configuration, read once in on_init from the engine's rendered values.
struct Config {
  bool enabled = false;  // sync.networkpolicies.enabled
};

Config read_config(const Host& host);

// True when the object carries a non-empty `vcluster.loft.sh/controlled-by` label (§2.4 hands-off marker).
bool controlled_by_other(const vc::json::Value& obj);

// vcluster's TranslateLabelSelector(WithPrefix) (§2.3): matchLabels and matchExpressions keys become host
// keys (`prefix` empty: the label keys of pods, else the keys under that prefix); operators and values are
// unchanged. A null selector stays null.
vc::json::Value translate_selector(const Host& host, const vc::json::Value& selector,
                                   std::string_view prefix);

// vcluster's MergeLabelSelectors: the union of both selectors' matchLabels and the concatenation of their
// matchExpressions (a AND b). Null selectors contribute nothing; the result is always an object.
vc::json::Value merge_selectors(const vc::json::Value& a, const vc::json::Value& b);

// One `from`/`to` peer (§8.1): an ipBlock peer is copied; any other peer selects host pods: its podSelector
// translated, its namespaceSelector translated with the ns-label prefix and AND-merged into it (the host
// peer has no namespaceSelector, since every pod of the vcluster lives in one host namespace), the policy's
// namespace when it had no namespaceSelector, and managed-by always.
vc::json::Value translate_peer(const Host& host, const vc::json::Value& peer, const std::string& vns);

// The host spec of a virtual NetworkPolicy spec in namespace `vns` (§8.1): podSelector translated plus
// namespace and managed-by; ingress `from` and egress `to` peers translated; ports and policyTypes copied.
// Empty lists are left out, as the API server's JSON leaves them out, so an unchanged policy compares equal.
vc::json::Value translate_spec(const Host& host, const vc::json::Value& spec, const std::string& vns);

// Host labels (§2.2): every virtual key translated, plus managed-by and namespace; `keep_from` (the current
// host labels) contributes only controlled-by.
vc::json::Value translate_labels(const Host& host, const vc::json::Value& vobj,
                                 const vc::json::Value* keep_from);

// Host annotations (§2.1 merge). `current` is the host object's annotations (null on create).
vc::json::Value translate_annotations(const vc::json::Value& vobj, const vc::json::Value* current);

// The host NetworkPolicy to create for `vnp`, named `name` in the host namespace `ns`.
vc::json::Value translate_create(const Host& host, const vc::json::Value& vnp, const std::string& ns,
                                 const std::string& name);

// The host NetworkPolicy after a change of the virtual one: the host object with its labels and
// annotations recomputed and its spec replaced by the translation (vcluster's translateUpdate); the
// server's metadata stays. An unchanged virtual policy gives back exactly the host object.
vc::json::Value translate_update(const Host& host, const vc::json::Value& vnp, const vc::json::Value& hnp);

}  // namespace vcp_networkpolicy
