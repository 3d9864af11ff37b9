// Translation of PersistentVolumeClaims, PersistentVolumes and StorageClasses between the virtual cluster and
// the host (vcluster-behaviour.md §1.3, §2, §6). The functions here read nothing but their arguments and the
// naming services of the host table, so the golden tests pin their output exactly; when to write (the fake
// PV before the claim's volumeName, deletes both ways, writes in flight) is decided in plugin.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host.hpp"
#include "json/json.hpp"

namespace vcp_storage {

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
inline constexpr std::string_view kControlledBy = "vcluster.loft.sh/controlled-by";
inline constexpr std::string_view kObjectName = "vcluster.loft.sh/object-name";
inline constexpr std::string_view kObjectNamespace = "vcluster.loft.sh/object-namespace";
inline constexpr std::string_view kSkipTranslate = "vcluster.loft.sh/skip-translate";
inline constexpr std::string_view kFakePvLabel = "vcluster.loft.sh/fake-pv";
inline constexpr std::string_view kHostPv = "vcluster.loft.sh/host-pv";
// Marks a virtual PV imported from a host PV (with sync.persistentvolumes), so that only those are deleted
// when their host PV goes; a tenant's own PV with a host-pv annotation is never deleted for it.
inline constexpr std::string_view kImportedLabel = "vcluster.loft.sh/imported-pv";
inline constexpr std::string_view kBindCompleted = "pv.kubernetes.io/bind-completed";
inline constexpr std::string_view kBoundByController = "pv.kubernetes.io/bound-by-controller";
inline constexpr std::string_view kBetaProvisioner = "volume.beta.kubernetes.io/storage-provisioner";
inline constexpr std::string_view kProvisioner = "volume.kubernetes.io/storage-provisioner";
inline constexpr std::string_view kBetaStorageClass = "volume.beta.kubernetes.io/storage-class";
inline constexpr std::string_view kDefaultClass = "storageclass.kubernetes.io/is-default-class";
inline constexpr std::string_view kBetaDefaultClass = "storageclass.beta.kubernetes.io/is-default-class";

// The plugin's configuration, read once in on_init from the engine's rendered values.
struct Config {
  bool claims = true;         // sync.persistentvolumeclaims.enabled
  bool real_volumes = false;  // sync.persistentvolumes.enabled
  bool fake_volumes = true;   // sync.fake-persistentvolumes.enabled (only without real volumes)
  bool classes = false;       // sync.storageclasses.enabled: virtual → host
  bool host_classes = false;  // sync.hoststorageclasses.enabled (or legacy-storageclasses): host → virtual
  bool host_classes_auto = false;  // turned on by sync.nodes.enableScheduler with claim sync (§6.3)
  std::string error;               // a sentence when the values contradict each other
};

Config read_config(const Host& host);

// The cluster-scoped marker `safe_concat(host namespace, "x", vcluster)` (§1.4): the managed-by value of
// cluster-scoped host objects.
std::string cluster_marker(const Host& host);

// The host name of cluster-scoped virtual object `name`: vcluster-<name>-x-<host ns>-x-<vcluster> (§1.3).
std::string cluster_name(const Host& host, std::string_view name);

// True when the object carries a non-empty `vcluster.loft.sh/controlled-by` label (§2.4 hands-off marker).
bool controlled_by_other(const vc::json::Value& obj);

// True when the object's metadata.deletionTimestamp is set.
bool deleting(const vc::json::Value& obj);

// True for a virtual PV the plugin made (label vcluster.loft.sh/fake-pv=true).
bool is_fake_pv(const vc::json::Value& pv);

// The class a claim asks for: spec.storageClassName, else the deprecated beta annotation; "" for none.
std::string claim_class(const vc::json::Value& pvc);

// What the host has that a claim translation depends on.
struct ClaimContext {
  // For sync.persistentvolumes without sync.storageclasses: does the host have a StorageClass of this name?
  // (§6.1: a dynamically provisioned claim keeps the class name when it does.)
  bool host_class_exists = false;
};

// The host claim to create for a virtual one (§6.1), or nullopt with a sentence in *why when it must be
// refused: storageclasses mode and no class, selector or volumeName ("no storage class defined"), or a
// spec.volumeName naming a host volume directly (a tenant must not bind another tenant's volume).
std::optional<vc::json::Value> translate_claim_create(const Host& host, const Config& cfg,
                                                      const vc::json::Value& vpvc, const ClaimContext& ctx,
                                                      std::string* why);

// The host claim after a change of the virtual one: the host claim with the metadata and
// spec.resources.requests.storage (expansion) of the virtual one; everything else stays the host's.
vc::json::Value translate_claim_update(const Host& host, const vc::json::Value& vpvc,
                                       const vc::json::Value& hpvc);

// The virtual claim with what flows back (§6.1): the binding annotations, the whole status and, when the
// virtual claim names no volume yet, spec.volumeName = `virtual_volume`.
vc::json::Value back_sync_claim(const vc::json::Value& vpvc, const vc::json::Value& hpvc,
                                const std::string& virtual_volume);

// The fake PV for a bound virtual claim (§6.2): named `name`, label fake-pv, the provisioner annotations,
// flexVolume driver "fake", capacity (the host claim's, else the request), access modes and volume mode of
// the claim, reclaim Delete and a claimRef to the virtual claim. Status is written separately (the API server
// ignores it on create).
vc::json::Value fake_pv(const std::string& name, const vc::json::Value& vpvc, const vc::json::Value& hpvc);

// The virtual PV imported from host PV `hpv` (§6.2 SyncUp), a volume the host bound to the host copy of
// `vpvc` without a virtual PV behind it (dynamically provisioned, or an admin's pre-bound volume): the same
// name and volume source, capacity, access modes, reclaim policy, node affinity, volume mode and mount
// options, the virtual claim's class, claimRef to the virtual claim, annotation vcluster.loft.sh/host-pv with
// the host name, label vcluster.loft.sh/imported-pv. Status is written separately.
vc::json::Value imported_pv(const vc::json::Value& hpv, const vc::json::Value& vpvc);

// True when host PV `hpv` is bound (claimRef) to host claim host_ns/host_claim.
bool bound_to(const vc::json::Value& hpv, std::string_view host_ns, std::string_view host_claim);

// The host PV for a PV created in the virtual cluster (§6.2 real PVs): cluster-scoped name and labels, no
// claimRef, the class translated. `current` is the host PV or null: its claimRef and status stay.
vc::json::Value translate_volume(const Host& host, const vc::json::Value& vpv,
                                 const vc::json::Value* current);

// The virtual PV with the host's status and claimRef, the claimRef pointing at `claim` (the virtual claim
// the host claim belongs to) when known, else left as the virtual PV has it.
vc::json::Value back_sync_volume(const vc::json::Value& vpv, const vc::json::Value& hpv,
                                 const vc::json::Value* claim);

// The host StorageClass for a virtual one (§6.3 storageclasses): cluster-scoped name and labels,
// is-default-class not copied, provisioner, parameters, reclaimPolicy, mountOptions, allowVolumeExpansion,
// volumeBindingMode and allowedTopologies copied. `current` is the host class or null.
vc::json::Value translate_class(const Host& host, const vc::json::Value& vsc, const vc::json::Value* current);

// The virtual StorageClass mirroring a host one (§6.3 hoststorageclasses): the same name and fields, server
// metadata dropped. `current` is the virtual class or null.
vc::json::Value mirror_class(const vc::json::Value& hsc, const vc::json::Value* current);

// True when two StorageClasses differ in a field the API server does not let an update change
// (provisioner, parameters, reclaimPolicy, volumeBindingMode, allowedTopologies): replace, don't update.
bool class_immutable_differs(const vc::json::Value& a, const vc::json::Value& b);

}  // namespace vcp_storage
