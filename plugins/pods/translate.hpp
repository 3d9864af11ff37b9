// Virtual → host translation of pods, ConfigMaps and Secrets (vcluster-behaviour.md §2, §3, §5). The
// functions here read nothing but their arguments and the naming services of the host table, so the golden
// tests pin their output exactly; the lifecycle decisions (wait, delete, bind) live in plugin.cpp.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host.hpp"
#include "json/json.hpp"
#include "pss.hpp"

namespace vcp_pods {

// The plugin's configuration keys, parsed once per hook from the engine's rendered values.
struct Config {
  bool pods_enabled = true;
  std::string host_service_account;  // "" = leave spec.serviceAccountName unset (host namespace default)
  bool all_configmaps = false;
  bool all_secrets = false;
  std::vector<std::pair<std::string, std::string>> translate_images;  // exact image → replacement
  vc::json::Value enforce_tolerations = vc::json::Value::array();     // parsed toleration objects
  // The nodes plugin's keys, read (read-only) when it is loaded; without it they keep these defaults.
  bool real_nodes = false;        // sync.nodes.enabled
  bool enable_scheduler = false;  // sync.nodes.enableScheduler: a virtual scheduler sets spec.nodeName
  // sync.nodes.nodeSelector, as what an unbound host pod gets: its `k=v` terms as spec.nodeSelector pairs,
  // its other terms (`k!=v`, `in`, `notin`, `k`, `!k`) as node-affinity match expressions.
  vc::json::Value node_selector = vc::json::Value::object();
  vc::json::Value node_selector_expressions = vc::json::Value::array();
  bool has_node_selector() const { return !node_selector.empty() || !node_selector_expressions.empty(); }
  // isolation.enabled: the Pod Security Standard (isolation.podSecurityStandard) every pod must meet to be
  // synced (pss.hpp); nullopt when isolation is off.
  std::optional<PssLevel> pod_security;
  std::string error;  // a sentence naming the malformed key, when parsing failed
};

// Parses the values the engine renders for our keys (see the table in plugin.cpp).
Config read_config(const Host& host);

// Facts the create-time translation needs from other objects; the caller resolves (or waits for) them.
struct PodFacts {
  std::string kube_ip;           // ClusterIP of the vcluster's own host Service
  std::string dns_ip;            // ClusterIP of the host copy of the virtual kube-dns Service
  vc::json::Value ns_labels;     // labels of the pod's virtual Namespace (object, may be null)
  std::string token_secret;      // host name of the token Secret holding the pod's tokens ("" if none needed)
  std::string token_key_prefix;  // its data keys for this pod are this prefix + TokenSource::key
};

// One projected serviceAccountToken source of a pod, and where its token goes in the token Secret.
struct TokenSource {
  std::string key;            // the source's ordinal among the pod's token sources ("0", "1", ...)
  vc::json::Value audiences;  // array of strings
};

// The serviceAccountToken projections of a virtual pod, in volume order, numbered across all volumes. The
// token Secret is shared by many pods (plugin.cpp, "Token Secrets"), so the data key of a source is the
// pod's own prefix (PodFacts::token_key_prefix) followed by that number.
std::vector<TokenSource> token_sources(const vc::json::Value& pod, const std::string& cluster_domain);

// The host label key carrying label `key` of a pod's virtual Namespace (§1.4: prefix
// "vcluster.loft.sh/ns-label", hashed whole like any label key when too long), or "" when the engine's
// host table predates ABI 1.1 and so cannot compute it.
std::string ns_label_key(const Host& host, std::string_view key);

// The hostname a pod gets when spec.hostname is empty (§1.6).
std::string pod_hostname(std::string_view vname);

// Host labels for a namespaced object: every virtual key translated, plus managed-by and namespace; ns
// labels (pods only) when given. `keep_from` (the current host labels) contributes only controlled-by.
vc::json::Value translate_labels(const Host& host, const vc::json::Value& vobj,
                                 const vc::json::Value* ns_labels, const vc::json::Value* keep_from);

// Host annotations (§2.1 merge plus, for pods, the §3.1 pod annotations). `current` is the host object's
// annotations (null on create).
vc::json::Value translate_annotations(const vc::json::Value& vobj, const vc::json::Value* current, bool pod);

// The host pod to create. Returns false with a sentence in *why when the pod cannot be translated.
bool translate_pod_create(const Host& host, const Config& cfg, const PodFacts& facts,
                          const vc::json::Value& vpod, vc::json::Value* out, std::string* why);

// The host pod after a change of the virtual one: the current host pod with only the fields Kubernetes
// lets change (images, activeDeadlineSeconds) and the metadata recomputed (§3.8 step 8).
vc::json::Value translate_pod_update(const Host& host, const Config& cfg, const vc::json::Value& vpod,
                                     const vc::json::Value& hpod, const vc::json::Value& ns_labels);

// The host ConfigMap or Secret for a virtual one; `current` is the host object or null.
vc::json::Value translate_config_object(const Host& host, const vc::json::Value& vobj,
                                        const vc::json::Value* current, bool secret);

}  // namespace vcp_pods
