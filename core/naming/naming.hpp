// vcluster's name translation, byte for byte (vc::naming).
//
// Host names, label keys and ownership checks must match loft-sh/vcluster v0.15 exactly: users, tools and a
// syncer restarted over existing host objects all look objects up by these names, and a host object whose
// name does not match the translation of its annotations is treated as foreign and never touched. Sources
// are cited per function (paths in loft-sh/vcluster at v0.15.7); /work/shared/spec/vcluster-behaviour.md
// sections 1 and 2 hold the worked examples the tests check.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "json/json.hpp"

namespace vc::naming {

// Labels, annotations and map-form selectors. Ordered, because several outputs (the labels annotation,
// managed-annotations) are sorted and ordered iteration makes every output deterministic.
using StringMap = std::map<std::string, std::string>;

// Kubernetes names and label values are at most 63 bytes (DNS-1123 label).
inline constexpr std::size_t kMaxNameLength = 63;

// Lowercase hex of SHA-256(data), all 64 digits.
std::string sha256_hex(std::string_view data);

// SafeConcatName (pkg/util/translate/translate.go): the parts joined with "-"; when longer than 63 bytes,
// the first 52 bytes, "-", and the first 10 hex digits of SHA-256 of the whole joined string, after which
// every ".-" becomes "-" (so the result may be 62 bytes). Exactly 63 bytes is returned unchanged.
std::string safe_concat(std::initializer_list<std::string_view> parts);
std::string safe_concat(const std::vector<std::string>& parts);

// Host name of a namespaced object in single-namespace mode: safe_concat(name, "x", vns, "x", suffix), or ""
// for an empty name (single_namespace.go PhysicalName).
std::string physical_name(std::string_view name, std::string_view vns, std::string_view suffix);

// Host name of a cluster-scoped object: safe_concat("vcluster", name, "x", target_ns, "x", suffix), or ""
// for an empty name (single_namespace.go PhysicalNameClusterScoped).
std::string physical_name_cluster_scoped(std::string_view name, std::string_view target_ns,
                                         std::string_view suffix);

// Host namespace of virtual namespace vns in multi-namespace mode:
// "vcluster-" + hex(sha256(vns))[0:8] + "-" + hex(sha256(current_ns + "x" + suffix))[0:8]
// (multi_namespace.go PhysicalNamespace).
std::string physical_namespace_multi(std::string_view vns, std::string_view current_ns,
                                     std::string_view suffix);

// Host label key for a label of a namespaced object:
// safe_concat(prefix, suffix, "x", hex(sha256(key))[0:10]) with prefix "vcluster.loft.sh/label"
// (single_namespace.go ConvertLabelKeyWithPrefix). The whole key, prefix included, is hashed when too long,
// which can produce an invalid label key for long vcluster names; vcluster does the same.
std::string label_key(std::string_view key, std::string_view suffix);
// The same with another prefix (e.g. keys::kNsLabelPrefix for namespace selectors).
std::string label_key_with_prefix(std::string_view prefix, std::string_view key, std::string_view suffix);
// Host label key for a label of a cluster-scoped object:
// safe_concat("vcluster.loft.sh/label", target_ns, "x", suffix, "x", hex(sha256(key))[0:10])
// (single_namespace.go convertNamespacedLabelKey).
std::string label_key_cluster(std::string_view key, std::string_view target_ns, std::string_view suffix);
// Host pod label key carrying a label of the pod's virtual Namespace: prefix "vcluster.loft.sh/ns-label"
// (pods/translate/translator.go).
std::string ns_label_key(std::string_view key, std::string_view suffix);

// Value of the managed-by label on cluster-scoped host objects: safe_concat(target_ns, "x", suffix)
// (single_namespace.go TranslateLabelsCluster). Namespaced objects use the suffix itself.
std::string cluster_marker(std::string_view target_ns, std::string_view suffix);

// The hostname a pod gets when spec.hostname is empty: the first 63 bytes of the virtual name, every "." as
// "-", then one trailing "-" removed (pods/translate/translator.go; Go strings.TrimSuffix).
std::string pod_hostname(std::string_view vname);

// Value of the vcluster.loft.sh/labels pod annotation: one line `key=<json.Marshal(value)>` per label,
// the lines sorted as whole strings (Go sort.Strings, which is not key order: "a.b=" sorts before "a="),
// joined by "\n". Values are HTML-escaped like Go's json.Marshal.
std::string labels_annotation(const StringMap& labels);

// IsManaged for a namespaced host object in single-namespace mode (single_namespace.go): in the target
// namespace, annotation object-name non-empty, name == physical_name(object-name, object-namespace,
// suffix), and label managed-by == suffix.
bool is_managed_namespaced(std::string_view name, std::string_view namespace_, const StringMap& labels,
                           const StringMap& annotations, std::string_view target_ns, std::string_view suffix);
// IsManagedCluster for a cluster-scoped host object: label managed-by == cluster_marker(target_ns, suffix).
bool is_managed_cluster(const StringMap& labels, std::string_view target_ns, std::string_view suffix);
// The same checks on an object's JSON (reads metadata.name, namespace, labels and annotations). Named apart
// from the map forms so that a braced map argument is never ambiguous.
bool is_managed_namespaced_object(const json::Value& object, std::string_view target_ns,
                                  std::string_view suffix);
bool is_managed_cluster_object(const json::Value& object, std::string_view target_ns,
                               std::string_view suffix);

// The hands-off rule (syncer.go excludePhysical/excludeVirtual): an object with a non-empty
// controlled-by label, or a controlled-by annotation that differs from controller_name, belongs to someone
// else and must be ignored on either side.
bool is_controlled_elsewhere(const StringMap& labels, const StringMap& annotations,
                             std::string_view controller_name);
// True when a host object is annotated skip-backsync: "true" and so must survive without a virtual twin.
bool skip_backsync(const StringMap& annotations);

// A string-to-string map from a JSON object (e.g. metadata.labels); non-string members are skipped, and a
// missing or non-object value gives an empty map.
StringMap string_map(const json::Value* object);

// TranslateLabels for a namespaced object or a map-form selector (Service spec.selector): every key k
// becomes label_key(k, suffix) with its value, plus managed-by=suffix and namespace=vns. Keys listed in
// keep_verbatim (the --sync-labels exact keys) are also copied unchanged. A caller translating a selector
// keeps an absent selector absent; this function always adds the two markers.
StringMap translate_labels(const StringMap& labels, std::string_view vns, std::string_view suffix,
                           const std::vector<std::string>& keep_verbatim = {});
// TranslateLabelsCluster: keys become label_key_cluster(k), plus managed-by=cluster_marker; no namespace
// label.
StringMap translate_labels_cluster(const StringMap& labels, std::string_view target_ns,
                                   std::string_view suffix,
                                   const std::vector<std::string>& keep_verbatim = {});

// TranslateLabelSelectorWithPrefix for a metav1.LabelSelector in JSON form: matchLabels keys and
// matchExpressions[].key become label_key_with_prefix(prefix, key, suffix); operators and values are
// unchanged. A null selector stays null.
json::Value translate_label_selector(const json::Value& selector, std::string_view prefix,
                                     std::string_view suffix);
// TranslateLabelSelectorCluster: the same with label_key_cluster keys (PVC spec.selector over PVs).
json::Value translate_label_selector_cluster(const json::Value& selector, std::string_view target_ns,
                                             std::string_view suffix);

}  // namespace vc::naming
