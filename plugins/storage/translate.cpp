#include "translate.hpp"

#include <algorithm>
#include <set>

#include "sha256.hpp"

namespace vcp_storage {

using vc::json::Value;

namespace {

constexpr std::string_view kNamespaceLabel = "vcluster.loft.sh/namespace";
constexpr std::string_view kManagedAnnotations = "vcluster.loft.sh/managed-annotations";
constexpr std::string_view kObjectUid = "vcluster.loft.sh/object-uid";

// Metadata the API server sets on an object; a copy sent to another API server must not carry it.
constexpr std::string_view kServerMetadata[] = {"generateName",
                                                "uid",
                                                "resourceVersion",
                                                "generation",
                                                "creationTimestamp",
                                                "deletionTimestamp",
                                                "deletionGracePeriodSeconds",
                                                "managedFields",
                                                "selfLink",
                                                "finalizers",
                                                "ownerReferences"};

// The StorageClass fields §6.3 copies; the first five cannot change once the class exists.
constexpr std::string_view kClassImmutable[] = {"provisioner", "parameters", "reclaimPolicy",
                                                "volumeBindingMode", "allowedTopologies"};
constexpr std::string_view kClassMutable[] = {"mountOptions", "allowVolumeExpansion"};

bool parse_bool(const std::optional<std::string>& v, bool fallback) {
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return fallback;
}

bool bookkeeping_annotation(std::string_view k) {
  return k == kManagedAnnotations || k == "vcluster.loft.sh/managed-labels" || k == kObjectName ||
         k == kObjectUid || k == kObjectNamespace;
}

void reset_metadata(Value& meta) {
  for (std::string_view k : kServerMetadata) meta.erase(k);
}

void copy_or_erase(Value& to, const Value& from, std::string_view key) {
  if (const Value* v = from.find(key)) {
    to[key] = *v;
  } else {
    to.erase(key);
  }
}

// Host labels (§2.2): every virtual key translated, plus managed-by and, for namespaced objects, the
// namespace label. `keep_from` (the current host labels) contributes only controlled-by.
Value translate_labels(const Host& host, const Value& vobj, const Value* keep_from, bool cluster) {
  Value out = Value::object();
  for (const auto& [k, v] : field(field(vobj, "metadata"), "labels").members()) {
    out[str(host.api()->translate_label_key(host.ctx(), cluster ? 1 : 0, view(k)))] = v;
  }
  if (keep_from != nullptr) {
    if (const Value* cb = keep_from->find(kControlledBy)) out[kControlledBy] = *cb;
  }
  if (cluster) {
    out[kManagedBy] = cluster_marker(host);
  } else {
    out[kManagedBy] = host.cluster_name();
    out[kNamespaceLabel] = str_of(field(vobj, "metadata"), "namespace");
  }
  return out;
}

// Host annotations (§2.1 merge). `current` is the host object's annotations (null on create); `excluded`
// lists the resource's own exclusions on top of the bookkeeping keys.
Value translate_annotations(const Value& vobj, const Value* current,
                            const std::vector<std::string_view>& excluded, bool cluster) {
  auto is_excluded = [&](std::string_view k) {
    return bookkeeping_annotation(k) || std::find(excluded.begin(), excluded.end(), k) != excluded.end();
  };
  const Value& meta = field(vobj, "metadata");
  Value out = Value::object();
  std::vector<std::string> managed;
  for (const auto& [k, v] : field(meta, "annotations").members()) {
    if (is_excluded(k)) continue;
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
      if (is_excluded(k)) {
        // Host-set values of excluded keys (the host's binding annotations) are kept.
        if (!v.string_or("").empty() && !out.contains(k) && !bookkeeping_annotation(k)) out[k] = v;
        continue;
      }
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
  out[kObjectUid] = str_of(meta, "uid");
  if (!cluster) out[kObjectNamespace] = str_of(meta, "namespace");
  return out;
}

void set_map(Value& meta, std::string_view key, Value m) {
  if (m.empty()) {
    meta.erase(key);
  } else {
    meta[key] = std::move(m);
  }
}

// A LabelSelector with its keys translated to the cluster-scoped form (§2.3, PVC selector over PVs).
Value translate_selector_cluster(const Host& host, const Value& sel) {
  Value out = sel;
  auto key = [&](const std::string& k) {
    return str(host.api()->translate_label_key(host.ctx(), 1, view(k)));
  };
  if (const Value* ml = sel.find("matchLabels"); ml && ml->is_object()) {
    Value m = Value::object();
    for (const auto& [k, v] : ml->members()) m[key(k)] = v;
    out["matchLabels"] = std::move(m);
  }
  if (const Value* me = sel.find("matchExpressions"); me && me->is_array()) {
    Value list = Value::array();
    for (const Value& e : me->items()) {
      Value x = e;
      x["key"] = key(str_of(e, "key"));
      list.push_back(std::move(x));
    }
    out["matchExpressions"] = std::move(list);
  }
  return out;
}

const std::vector<std::string_view>& claim_exclusions() {
  // §2.1: the binding annotations belong to the host's PV controller, which writes them on the host claim.
  static const std::vector<std::string_view> k = {kBindCompleted, kBoundByController, kBetaProvisioner,
                                                  kProvisioner};
  return k;
}

}  // namespace

Config read_config(const Host& host) {
  Config c;
  c.claims = parse_bool(host.config("sync.persistentvolumeclaims.enabled"), true);
  c.real_volumes = parse_bool(host.config("sync.persistentvolumes.enabled"), false);
  c.fake_volumes = parse_bool(host.config("sync.fake-persistentvolumes.enabled"), true);
  c.classes = parse_bool(host.config("sync.storageclasses.enabled"), false);
  c.host_classes = parse_bool(host.config("sync.hoststorageclasses.enabled"), false) ||
                   parse_bool(host.config("sync.legacy-storageclasses.enabled"), false);
  if (c.classes && c.host_classes) {
    c.error =
        "sync.storageclasses.enabled and sync.hoststorageclasses.enabled cannot both be true: the first "
        "copies "
        "the virtual cluster's StorageClasses to the host, the second mirrors the host's into the virtual "
        "cluster; turn one of them off";
    return c;
  }
  // vcluster turns on the host mirrors when a virtual scheduler places pods and claims are synced (§6.3):
  // the scheduler must see the classes the host provisions with. The key is the nodes plugin's, readable
  // when it is loaded.
  if (c.claims && !c.classes && !c.host_classes &&
      parse_bool(host.config("sync.nodes.enableScheduler"), false)) {
    c.host_classes = c.host_classes_auto = true;
  }
  return c;
}

std::string cluster_marker(const Host& host) {
  return safe_concat({host.host_namespace(), "x", host.cluster_name()});
}

std::string cluster_name(const Host& host, std::string_view name) {
  return str(host.api()->translate_name(host.ctx(), VCP_NAME_CLUSTER, view(""), view(name)));
}

bool controlled_by_other(const Value& obj) {
  return !field(field(field(obj, "metadata"), "labels"), kControlledBy).string_or("").empty();
}

bool deleting(const Value& obj) {
  return !field(field(obj, "metadata"), "deletionTimestamp").is_null();
}

bool is_fake_pv(const Value& pv) {
  return str_of(field(field(pv, "metadata"), "labels"), kFakePvLabel) == "true";
}

std::string claim_class(const Value& pvc) {
  std::string c = str_of(field(pvc, "spec"), "storageClassName");
  if (c.empty()) c = str_of(field(field(pvc, "metadata"), "annotations"), kBetaStorageClass);
  return c;
}

std::optional<Value> translate_claim_create(const Host& host, const Config& cfg, const Value& vpvc,
                                            const ClaimContext& ctx, std::string* why) {
  const Value& vmeta = field(vpvc, "metadata");
  const std::string vns = str_of(vmeta, "namespace"), vname = str_of(vmeta, "name");
  const bool skip = str_of(field(vmeta, "annotations"), kSkipTranslate) == "true";
  const std::string who = "PersistentVolumeClaim " + vns + "/" + vname;
  Value h = vpvc;
  h.erase("status");
  Value& meta = h["metadata"];
  reset_metadata(meta);
  meta["name"] = host.name(vns, vname);
  meta["namespace"] = host.host_namespace();
  set_map(meta, "labels", translate_labels(host, vpvc, nullptr, false));
  Value ann = translate_annotations(vpvc, nullptr, claim_exclusions(), false);

  Value& spec = h["spec"];
  if (!skip) {
    // §6.1: a clone or snapshot source is a namespaced object of the claim's namespace, synced under its
    // translated name.
    for (std::string_view ds : {"dataSource", "dataSourceRef"}) {
      if (Value* d = spec.find(ds); d && d->is_object() && !str_of(*d, "name").empty()) {
        (*d)["name"] = host.name(vns, str_of(*d, "name"));
      }
    }
  }

  const std::string volume = str_of(spec, "volumeName");
  const bool has_selector = !field(spec, "selector").is_null();
  if (!volume.empty()) {
    if (!cfg.real_volumes || skip) {
      // In the default mode the virtual cluster has no volumes of its own: a volumeName can only name a host
      // PersistentVolume, which belongs to the host or to another tenant.
      *why = who + " names PersistentVolume \"" + volume + "\" in spec.volumeName, a host volume vcluster " +
             host.cluster_name() +
             " does not own; a tenant must not mount another tenant's volume, so the claim is not synced "
             "(remove "
             "spec.volumeName, or bind to a PersistentVolume created in the virtual cluster with "
             "sync.persistentvolumes.enabled" +
             std::string(skip ? " and without vcluster.loft.sh/skip-translate" : "") + ")";
      return std::nullopt;
    }
    spec["volumeName"] = cluster_name(host, volume);
  }
  if (cfg.real_volumes && !skip && has_selector) {
    spec["selector"] = translate_selector_cluster(host, field(spec, "selector"));
  }

  const std::string cls = claim_class(vpvc);
  bool translate_class = false;
  if (cfg.classes) {
    if (cls.empty() && !has_selector && volume.empty()) {
      *why =
          who +
          ": no storage class defined; with sync.storageclasses.enabled a claim must name a StorageClass of "
          "the virtual cluster (spec.storageClassName), or one must be marked as the default class";
      return std::nullopt;
    }
    translate_class = !cls.empty();
  } else if (cfg.real_volumes && !skip && !cls.empty()) {
    // §6.1: static binding always translates (the virtual PV's host copy carries the translated class);
    // dynamic provisioning keeps a class the host has.
    translate_class = !volume.empty() || !ctx.host_class_exists;
  }
  if (translate_class) {
    spec["storageClassName"] = cluster_name(host, cls);
    ann.erase(kBetaStorageClass);
    if (const Value* m = ann.find(kManagedAnnotations)) {
      // The beta annotation became spec.storageClassName: it is no longer a copied annotation.
      std::string list(m->string_or("")), kept;
      size_t start = 0;
      while (start <= list.size()) {
        size_t nl = list.find('\n', start);
        std::string k = list.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (k != kBetaStorageClass && !k.empty()) kept += (kept.empty() ? "" : "\n") + k;
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
      if (kept.empty()) {
        ann.erase(kManagedAnnotations);
      } else {
        ann[kManagedAnnotations] = kept;
      }
    }
  }
  set_map(meta, "annotations", std::move(ann));
  return h;
}

Value translate_claim_update(const Host& host, const Value& vpvc, const Value& hpvc) {
  Value h = hpvc;
  Value& meta = h["metadata"];
  const Value& hmeta = field(hpvc, "metadata");
  set_map(meta, "labels", translate_labels(host, vpvc, &field(hmeta, "labels"), false));
  Value ann = translate_annotations(vpvc, &field(hmeta, "annotations"), claim_exclusions(), false);
  // The class annotation moved into the spec at create (storageclasses mode) stays out.
  if (!field(field(hmeta, "annotations"), kBetaStorageClass).is_null() || ann.contains(kBetaStorageClass)) {
    copy_or_erase(ann, field(hmeta, "annotations"), kBetaStorageClass);
  }
  set_map(meta, "annotations", std::move(ann));
  // §6.1: only the requested size flows forward (expansion); the rest of a claim's spec is immutable.
  const Value* want = field(vpvc, "spec").at({"resources", "requests", "storage"});
  if (want != nullptr) h.ensure({"spec", "resources", "requests"})["storage"] = *want;
  return h;
}

Value back_sync_claim(const Value& vpvc, const Value& hpvc, const std::string& virtual_volume) {
  Value v = vpvc;
  const Value& hann = field(field(hpvc, "metadata"), "annotations");
  for (std::string_view k : claim_exclusions()) {
    if (const Value* a = hann.find(k)) v.ensure({"metadata", "annotations"})[k] = *a;
  }
  if (!virtual_volume.empty() && str_of(field(vpvc, "spec"), "volumeName").empty()) {
    v.ensure({"spec"})["volumeName"] = virtual_volume;
  }
  copy_or_erase(v, hpvc, "status");
  return v;
}

Value fake_pv(const std::string& name, const Value& vpvc, const Value& hpvc) {
  const Value& vmeta = field(vpvc, "metadata");
  const Value& vspec = field(vpvc, "spec");
  Value pv = Value::object();
  pv["apiVersion"] = "v1";
  pv["kind"] = "PersistentVolume";
  Value& meta = pv["metadata"];
  meta["name"] = name;
  meta["labels"][kFakePvLabel] = "true";
  meta["annotations"]["kubernetes.io/createdby"] = "fake-pv-provisioner";
  meta["annotations"]["pv.kubernetes.io/provisioned-by"] = "fake-pv-provisioner";
  meta["annotations"][kBoundByController] = "true";
  Value& spec = pv["spec"];
  if (const Value* am = vspec.find("accessModes")) spec["accessModes"] = *am;
  const Value* size = field(hpvc, "status").at({"capacity", "storage"});
  if (size == nullptr) size = vspec.at({"resources", "requests", "storage"});
  if (size != nullptr) spec["capacity"]["storage"] = *size;
  spec["flexVolume"]["driver"] = "fake";
  spec["persistentVolumeReclaimPolicy"] = "Delete";
  if (std::string cls = claim_class(vpvc); !cls.empty()) spec["storageClassName"] = cls;
  if (const Value* vm = vspec.find("volumeMode")) spec["volumeMode"] = *vm;
  Value& ref = spec["claimRef"];
  ref["apiVersion"] = "v1";
  ref["kind"] = "PersistentVolumeClaim";
  ref["namespace"] = str_of(vmeta, "namespace");
  ref["name"] = str_of(vmeta, "name");
  ref["uid"] = str_of(vmeta, "uid");
  return pv;
}

Value imported_pv(const Value& hpv, const Value& vpvc) {
  const Value& hmeta = field(hpv, "metadata");
  const Value& vmeta = field(vpvc, "metadata");
  Value pv = Value::object();
  pv["apiVersion"] = "v1";
  pv["kind"] = "PersistentVolume";
  Value& meta = pv["metadata"];
  meta["name"] = str_of(hmeta, "name");
  meta["labels"][kImportedLabel] = "true";
  meta["annotations"][kHostPv] = str_of(hmeta, "name");
  Value spec = field(hpv, "spec").is_object() ? field(hpv, "spec") : Value::object();
  spec.erase("claimRef");
  if (std::string cls = claim_class(vpvc); !cls.empty()) {
    spec["storageClassName"] = cls;
  } else {
    spec.erase("storageClassName");
  }
  Value& ref = spec["claimRef"];
  ref["apiVersion"] = "v1";
  ref["kind"] = "PersistentVolumeClaim";
  ref["namespace"] = str_of(vmeta, "namespace");
  ref["name"] = str_of(vmeta, "name");
  ref["uid"] = str_of(vmeta, "uid");
  pv["spec"] = std::move(spec);
  return pv;
}

bool bound_to(const Value& hpv, std::string_view host_ns, std::string_view host_claim) {
  const Value& ref = field(field(hpv, "spec"), "claimRef");
  return str_of(ref, "namespace") == host_ns && str_of(ref, "name") == host_claim;
}

Value translate_volume(const Host& host, const Value& vpv, const Value* current) {
  static const std::vector<std::string_view> kExcluded = {kHostPv};
  Value h = current ? *current : vpv;
  Value& meta = h["metadata"];
  if (!current) {
    reset_metadata(meta);
    h.erase("status");
  }
  meta["name"] = cluster_name(host, str_of(field(vpv, "metadata"), "name"));
  const Value* cur_meta = current ? &field(*current, "metadata") : nullptr;
  set_map(meta, "labels",
          translate_labels(host, vpv, cur_meta ? &field(*cur_meta, "labels") : nullptr, true));
  set_map(meta, "annotations",
          translate_annotations(vpv, cur_meta ? &field(*cur_meta, "annotations") : nullptr, kExcluded, true));
  // Every field of the virtual spec (the volume source, capacity, accessModes, reclaim policy, class, node
  // affinity, volumeMode, mountOptions) except claimRef, which is the host's binder's business.
  Value spec = field(vpv, "spec").is_object() ? field(vpv, "spec") : Value::object();
  spec.erase("claimRef");
  if (std::string cls = str_of(spec, "storageClassName"); !cls.empty()) {
    spec["storageClassName"] = cluster_name(host, cls);
  }
  if (current) {
    if (const Value* ref = field(*current, "spec").find("claimRef")) spec["claimRef"] = *ref;
  }
  h["spec"] = std::move(spec);
  return h;
}

Value back_sync_volume(const Value& vpv, const Value& hpv, const Value* claim) {
  Value v = vpv;
  copy_or_erase(v, hpv, "status");
  if (claim != nullptr && field(field(hpv, "spec"), "claimRef").is_object()) {
    const Value& cmeta = field(*claim, "metadata");
    Value ref = Value::object();
    ref["apiVersion"] = "v1";
    ref["kind"] = "PersistentVolumeClaim";
    ref["namespace"] = str_of(cmeta, "namespace");
    ref["name"] = str_of(cmeta, "name");
    ref["uid"] = str_of(cmeta, "uid");
    v.ensure({"spec"})["claimRef"] = std::move(ref);
  }
  return v;
}

Value translate_class(const Host& host, const Value& vsc, const Value* current) {
  static const std::vector<std::string_view> kExcluded = {kDefaultClass, kBetaDefaultClass};
  Value h = current ? *current : Value::object();
  h["apiVersion"] = "storage.k8s.io/v1";
  h["kind"] = "StorageClass";
  Value& meta = h["metadata"];
  meta["name"] = cluster_name(host, str_of(field(vsc, "metadata"), "name"));
  const Value* cur_meta = current ? &field(*current, "metadata") : nullptr;
  set_map(meta, "labels",
          translate_labels(host, vsc, cur_meta ? &field(*cur_meta, "labels") : nullptr, true));
  Value ann =
      translate_annotations(vsc, cur_meta ? &field(*cur_meta, "annotations") : nullptr, kExcluded, true);
  // Not even a host-set value: the host copy must never become the host's default class.
  ann.erase(kDefaultClass);
  ann.erase(kBetaDefaultClass);
  set_map(meta, "annotations", std::move(ann));
  for (std::string_view k : kClassImmutable) copy_or_erase(h, vsc, k);
  for (std::string_view k : kClassMutable) copy_or_erase(h, vsc, k);
  return h;
}

Value mirror_class(const Value& hsc, const Value* current) {
  Value v = current ? *current : Value::object();
  v["apiVersion"] = "storage.k8s.io/v1";
  v["kind"] = "StorageClass";
  Value& meta = v["metadata"];
  const Value& hmeta = field(hsc, "metadata");
  meta["name"] = str_of(hmeta, "name");
  copy_or_erase(meta, hmeta, "labels");
  copy_or_erase(meta, hmeta, "annotations");
  for (std::string_view k : kClassImmutable) copy_or_erase(v, hsc, k);
  for (std::string_view k : kClassMutable) copy_or_erase(v, hsc, k);
  return v;
}

bool class_immutable_differs(const Value& a, const Value& b) {
  for (std::string_view k : kClassImmutable) {
    const Value& x = field(a, k);
    const Value& y = field(b, k);
    if (x == y) continue;
    // The API server's defaults: a class written without them reads back with them.
    if (k == "reclaimPolicy" && x.string_or("Delete") == y.string_or("Delete")) continue;
    if (k == "volumeBindingMode" && x.string_or("Immediate") == y.string_or("Immediate")) continue;
    if ((k == "parameters" || k == "allowedTopologies") && x.empty() && y.empty()) continue;
    return true;
  }
  return false;
}

}  // namespace vcp_storage
