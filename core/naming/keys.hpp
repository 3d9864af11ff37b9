// Every label and annotation key the syncer reads or writes, in one place, spelt exactly as vcluster spells
// them (loft-sh/vcluster v0.15.7, pkg/util/translate/translate.go and the pod translator). Users and tools
// look these keys up by name, so they are part of the compatibility surface.
#pragma once

#include <string_view>

namespace vc::naming::keys {

// Annotations written on every synced host object (translate.go ApplyAnnotations).
inline constexpr std::string_view kObjectName = "vcluster.loft.sh/object-name";
inline constexpr std::string_view kObjectNamespace = "vcluster.loft.sh/object-namespace";
inline constexpr std::string_view kObjectUid = "vcluster.loft.sh/object-uid";
inline constexpr std::string_view kManagedAnnotations = "vcluster.loft.sh/managed-annotations";
inline constexpr std::string_view kManagedLabels = "vcluster.loft.sh/managed-labels";

// Labels written on every synced host object (translate.go MarkerLabel, NamespaceLabel).
inline constexpr std::string_view kManagedBy = "vcluster.loft.sh/managed-by";
inline constexpr std::string_view kNamespace = "vcluster.loft.sh/namespace";

// Hands-off markers (syncer.go excludePhysical/excludeVirtual): a non-empty label or a foreign annotation
// value means another controller owns the object.
inline constexpr std::string_view kControlledBy = "vcluster.loft.sh/controlled-by";
// A host object with this annotation set to "true" is never deleted for lack of a virtual twin.
inline constexpr std::string_view kSkipBacksync = "vcluster.loft.sh/skip-backsync";

// Prefixes of translated label keys: label_key() and ns_label_key() hash the virtual key behind these.
inline constexpr std::string_view kLabelPrefix = "vcluster.loft.sh/label";
inline constexpr std::string_view kNsLabelPrefix = "vcluster.loft.sh/ns-label";

// Pod-only annotations (pods/translate/translator.go).
inline constexpr std::string_view kPodName = "vcluster.loft.sh/name";
inline constexpr std::string_view kPodNamespace = "vcluster.loft.sh/namespace";
inline constexpr std::string_view kPodUid = "vcluster.loft.sh/uid";
inline constexpr std::string_view kPodServiceAccountName = "vcluster.loft.sh/service-account-name";
inline constexpr std::string_view kPodLabels = "vcluster.loft.sh/labels";
inline constexpr std::string_view kOwnerSetKind = "vcluster.loft.sh/owner-set-kind";
inline constexpr std::string_view kHostsRewritten = "vcluster.loft.sh/hosts-rewritten";
inline constexpr std::string_view kTokenPrefix = "vcluster.loft.sh/token-";

// Cluster-scoped objects whose host name a user may pin (persistentvolumes and volumesnapshotcontents
// syncers).
inline constexpr std::string_view kHostPv = "vcluster.loft.sh/host-pv";
inline constexpr std::string_view kHostVolumeSnapshotContent = "vcluster.loft.sh/host-volumesnapshotcontent";

}  // namespace vc::naming::keys
