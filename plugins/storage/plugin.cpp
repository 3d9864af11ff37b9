// vcp-storage: the storage plugin (vcluster-behaviour.md §6). PersistentVolumeClaims go from the virtual
// cluster to the host namespace under the pods' naming, so the pods plugin's translated claimName finds them;
// what the host's PV controller decides (status, volumeName, the binding annotations) flows back. By default
// the virtual cluster gets a fake PersistentVolume for each bound claim (virtual only, never a host write);
// with sync.persistentvolumes.enabled PersistentVolumes created in the virtual cluster go to the host under
// their cluster-scoped name. StorageClasses go to the host (sync.storageclasses.enabled) or are mirrored from
// it (sync.hoststorageclasses.enabled).
//
// StorageClasses are declared once, TO_VIRTUAL with the same name on both sides: the engine then keeps a
// cache of every host class (the mirror needs it, and so does the claim translation of §6.1, which asks
// whether the host has a class) and of every virtual class. The virtual → host direction is written by the
// plugin itself through submit, from the key of the virtual class.
#include <vcp/plugin.h>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "host.hpp"
#include "json/json.hpp"
#include "translate.hpp"

namespace vcp_storage {
namespace {

using vc::json::Value;

// Indexes into kResources; the engine passes them back in every hook.
enum : uint32_t { kClaims = 0, kVolumes = 1, kClasses = 2 };

// Virtual claims by spec.volumeName: which claims keep a fake PV.
constexpr const char* kIndexClaimsByVolume = "claims-by-volume";

const vcp_resource kResources[] = {
    {sizeof(vcp_resource), "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim",
     VCP_RES_NAMESPACED | VCP_RES_STATUS, VCP_ROLE_TO_HOST, VCP_NAME_NAMESPACED, ""},
    {sizeof(vcp_resource), "", "v1", "persistentvolumes", "PersistentVolume", VCP_RES_STATUS,
     VCP_ROLE_TO_HOST, VCP_NAME_CLUSTER, ""},
    {sizeof(vcp_resource), "storage.k8s.io", "v1", "storageclasses", "StorageClass", 0, VCP_ROLE_TO_VIRTUAL,
     VCP_NAME_SAME, ""},
};

const vcp_config_key kConfigKeys[] = {
    {sizeof(vcp_config_key), "sync.persistentvolumeclaims.enabled", VCP_CONF_BOOL, "true",
     "Copy PersistentVolumeClaims to the host namespace and their binding back.", nullptr},
    {sizeof(vcp_config_key), "sync.persistentvolumes.enabled", VCP_CONF_BOOL, "false",
     "Copy PersistentVolumes created in the virtual cluster to the host (cluster-scoped names) and translate "
     "claims' volumeName and selector to them.",
     nullptr},
    {sizeof(vcp_config_key), "sync.fake-persistentvolumes.enabled", VCP_CONF_BOOL, "true",
     "Show a fake PersistentVolume in the virtual cluster for each bound claim (never written to the host).",
     nullptr},
    {sizeof(vcp_config_key), "sync.storageclasses.enabled", VCP_CONF_BOOL, "false",
     "Copy StorageClasses created in the virtual cluster to the host under cluster-scoped names.", nullptr},
    {sizeof(vcp_config_key), "sync.hoststorageclasses.enabled", VCP_CONF_BOOL, "false",
     "Mirror the host's StorageClasses into the virtual cluster (not together with sync.storageclasses).",
     nullptr},
    {sizeof(vcp_config_key), "sync.legacy-storageclasses.enabled", VCP_CONF_BOOL, "false",
     "The values alias of sync.hoststorageclasses.enabled.", nullptr},
};

// Writes the plugin has in flight for one key, so that a key woken before its write finished does not submit
// it twice, and a failed write is reported (and retried with backoff) instead of resubmitted at once.
struct Ops {
  uint64_t write = 0;   // the one write of this key (create, update, delete)
  uint64_t second = 0;  // a finalizer patch or a status write that goes with it
};

struct State {
  Host host;
  Config cfg;
  std::map<std::string, Ops, std::less<>> ops;       // by "<resource>/<ns>/<name>"
  std::set<std::string, std::less<>> import_failed;  // host volumes the plugin could not mark (fake instead)
};

void write(const Host& host, vcp_buf* out, const Value& v) {
  std::string s = vc::json::dump(v);
  host.api()->buf_clear(out);
  host.api()->buf_append(out, s.data(), s.size());
}

vc::json::ParseCache& trees() {
  static vc::json::ParseCache cache(8);
  return cache;
}

std::shared_ptr<const Value> parse(vcp_str s) {
  if (s.len == 0) return nullptr;
  return trees().parse(std::string_view(s.ptr, s.len));
}

std::string uid_of(const Value& obj) {
  return str_of(field(obj, "metadata"), "uid");
}

std::string delete_options(const std::string& uid) {
  Value opts = Value::object();
  opts["apiVersion"] = "v1";
  opts["kind"] = "DeleteOptions";
  if (!uid.empty()) opts["preconditions"]["uid"] = uid;
  return vc::json::dump(opts);
}

// Reads the outcome of a submitted write. Returns true while it is in flight. A finished write clears the
// slot; a failed one sets *failed with a sentence for set_error. `ok_status` is one more status that counts
// as success (404 for a delete: the object is gone either way).
bool pending(const Host& host, uint64_t& id, std::string_view what, int ok_status, std::string* failed) {
  if (id == 0) return false;
  std::string body;
  int status = host.take_result(id, &body);
  if (status == 0) return true;
  id = 0;
  // 404: the object is gone either way; 409: it exists already (a create racing the cache), or a uid
  // precondition or resourceVersion no longer matches (the object changed, and its event brings the key
  // back).
  if ((status < 200 || status >= 300) && status != ok_status && status != 404 && status != 409) {
    auto st = vc::json::parse(body);
    const Value* m = st ? st->find("message") : nullptr;
    std::string msg = m && m->is_string() ? m->as_string() : std::string();
    *failed =
        std::string(what) + " answered HTTP " + std::to_string(status) + (msg.empty() ? "" : ": " + msg);
  }
  return false;
}

// Settles the writes of one key: returns true while one is in flight (nothing to do now), false once none
// is; a failure of either leaves its sentence in *failed.
bool busy(State& st, const std::string& key, std::string_view what, int ok_status, std::string* failed,
          bool* settled = nullptr) {
  auto it = st.ops.find(key);
  if (it == st.ops.end()) return false;
  if (settled) *settled = true;
  bool a = pending(st.host, it->second.write, what, ok_status, failed);
  bool b = pending(st.host, it->second.second, what, ok_status, failed);
  if (!a && !b) st.ops.erase(it);
  return a || b;
}

std::string claim_key(std::string_view ns, std::string_view name) {
  return "claim/" + std::string(ns) + "/" + std::string(name);
}
std::string volume_key(std::string_view name) {
  return "volume//" + std::string(name);
}
std::string class_key(std::string_view name) {
  return "class//" + std::string(name);
}

// --- PersistentVolumeClaims --------------------------------------------------------------------------------

// True when the claim was bound through this plugin: the API server clears the status of a claim it creates,
// so a Bound (or Lost) phase is the host's, copied back. A missing host claim then means the host deleted it,
// not that it was never created.
bool bound_through_host(const Value& vpvc) {
  const std::string phase = str_of(field(vpvc, "status"), "phase");
  return phase == "Bound" || phase == "Lost";
}

vcp_status sync_claim(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.claims) return VCP_NO_CHANGE;
  auto vpvc = parse(args->source);
  if (!vpvc) {
    host.set_error("the virtual PersistentVolumeClaim is not valid JSON");
    return VCP_REFUSED;
  }
  if (controlled_by_other(*vpvc)) return VCP_NO_CHANGE;
  auto hpvc = parse(args->target);
  const std::string ns = str(args->source_namespace), name = str(args->source_name);
  const std::string key = claim_key(ns, name);
  std::string failed;
  if (busy(st, key, "a write for PersistentVolumeClaim " + ns + "/" + name, 404, &failed))
    return VCP_NO_CHANGE;
  if (!failed.empty()) {
    host.set_error(failed);
    return VCP_RETRY;
  }

  // With no target but a host claim of that name in the cache, this is the engine asking whether the claim
  // wants a target it does not own (a foreign host claim under our name): answer without side effects.
  const bool probe =
      !hpvc && host.has(VCP_SIDE_HOST, kClaims, str(args->target_namespace), str(args->target_name));
  if (deleting(*vpvc) && !probe) {
    // vcluster deletes the host claim as soon as the virtual one is being deleted; the host's
    // pvc-protection keeps it while a host pod still mounts it.
    if (hpvc && !deleting(*hpvc)) {
      st.ops[key].write =
          host.submit(VCP_SIDE_HOST, kClaims, VCP_VERB_DELETE, str(args->target_namespace),
                      str(args->target_name), "", delete_options(uid_of(*hpvc)), kClaims, ns, name);
    }
    return VCP_NO_CHANGE;
  }
  if ((hpvc && deleting(*hpvc)) || (!hpvc && !probe && bound_through_host(*vpvc))) {
    // Deleted on the host: the virtual claim goes too (§6.1, deletion mirrored both ways).
    st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kClaims, VCP_VERB_DELETE, ns, name, "",
                                    delete_options(uid_of(*vpvc)), kClaims, ns, name);
    return VCP_NO_CHANGE;
  }
  if (!hpvc) {
    ClaimContext ctx;
    if (std::string cls = claim_class(*vpvc); !cls.empty())
      ctx.host_class_exists = host.has(VCP_SIDE_HOST, kClasses, "", cls);
    std::string why;
    auto created = translate_claim_create(host, st.cfg, *vpvc, ctx, &why);
    if (!created) {
      host.set_error(why);
      return VCP_REFUSED;
    }
    write(host, out, *created);
    return VCP_OK;
  }
  write(host, out, translate_claim_update(host, *vpvc, *hpvc));
  return VCP_OK;
}

vcp_status back_sync_claim_hook(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.claims) return VCP_NO_CHANGE;
  auto vpvc = parse(args->source);
  auto hpvc = parse(args->target);
  if (!vpvc || !hpvc || controlled_by_other(*vpvc) || deleting(*vpvc) || deleting(*hpvc))
    return VCP_NO_CHANGE;
  const std::string ns = str(args->source_namespace), name = str(args->source_name);
  const std::string hvol = str_of(field(*hpvc, "spec"), "volumeName");
  std::string vvol = hvol;
  // With real volumes, the host volume the host bound this claim to, when it is not made from a virtual one.
  std::optional<Value> import_from;
  if (st.cfg.real_volumes && !hvol.empty()) {
    // A host volume made from a virtual one carries its virtual name; a dynamically provisioned one keeps its
    // host name in the virtual cluster too, and is imported (§6.2 SyncUp).
    auto hpv = host.get(VCP_SIDE_HOST, kVolumes, "", hvol);
    if (!hpv && !st.import_failed.count(hvol)) {
      // The engine caches only host volumes carrying this vcluster's marker. The host bound our host claim to
      // this one (its volumeName is the host binder's: a tenant's is translated), so it is ours to mark.
      const std::string key = "import-for-" + claim_key(ns, name);
      std::string failed;
      bool settled_now = false;
      if (busy(st, key, "marking host PersistentVolume " + hvol, 0, &failed, &settled_now))
        return VCP_NO_CHANGE;
      if (!failed.empty()) {
        // Without the mark (RBAC, an admission webhook) the claim gets a fake volume instead.
        host.log(VCP_LOG_WARN, failed + "; PersistentVolumeClaim " + ns + "/" + name + " gets a fake volume");
        st.import_failed.insert(hvol);
      } else if (settled_now) {
        hpv = host.get(VCP_SIDE_HOST, kVolumes, "", hvol);
        if (!hpv) {
          host.wait_for(VCP_SIDE_HOST, kVolumes, "", hvol, kClaims, ns, name);
          return VCP_WAIT;
        }
      } else {
        Value patch = Value::object();
        patch["metadata"]["labels"][kManagedBy] = cluster_marker(host);
        st.ops[key].write = host.submit(VCP_SIDE_HOST, kVolumes, VCP_VERB_PATCH, "", hvol, "",
                                        vc::json::dump(patch), kClaims, ns, name);
        return VCP_NO_CHANGE;
      }
    }
    if (hpv) {
      std::string owner = str_of(field(field(*hpv, "metadata"), "annotations"), kObjectName);
      if (!owner.empty()) {
        vvol = owner;
      } else if (bound_to(*hpv, host.host_namespace(), str(args->target_name))) {
        import_from = std::move(hpv);
      }
    }
  }
  const bool wants_fake = st.cfg.real_volumes || st.cfg.fake_volumes;
  if (!hvol.empty() && wants_fake && !host.has(VCP_SIDE_VIRTUAL, kVolumes, "", vvol)) {
    // §6.2: the virtual claim gets its volume before it names it, so the virtual cluster never shows a claim
    // bound to a volume it does not have.
    const std::string key = "fake-for-" + claim_key(ns, name);
    std::string failed;
    bool settled_now = false;
    if (busy(st, key,
             "creating the fake PersistentVolume " + vvol + " for PersistentVolumeClaim " + ns + "/" + name,
             0, &failed, &settled_now))
      return VCP_NO_CHANGE;
    if (!failed.empty()) {
      host.set_error(failed);
      return VCP_RETRY;
    }
    if (settled_now) {
      // Created (or already there, 409) but not in the cache yet: look again when the volume shows.
      host.wait_for(VCP_SIDE_VIRTUAL, kVolumes, "", vvol, kClaims, ns, name);
      return VCP_WAIT;
    }
    Value pv = import_from ? imported_pv(*import_from, *vpvc) : fake_pv(vvol, *vpvc, *hpvc);
    st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_CREATE, "", "", "",
                                    vc::json::dump(pv), kClaims, ns, name);
    return VCP_NO_CHANGE;
  }
  const std::string have = str_of(field(*vpvc, "spec"), "volumeName");
  if (!have.empty() && !vvol.empty() && have != vvol) {
    host.log(VCP_LOG_WARN, "virtual PersistentVolumeClaim " + ns + "/" + name + " names volume " + have +
                               " but its host claim is bound to " + hvol + "; only the status is copied");
  }
  write(host, out, back_sync_claim(*vpvc, *hpvc, vvol));
  return VCP_OK;
}

// --- PersistentVolumes
// --------------------------------------------------------------------------------------

// True when a virtual claim keeps fake PV `pv`: its claimRef's claim exists with that uid, or a claim names
// it.
bool fake_pv_used(const Host& host, const Value& pv) {
  const Value& ref = field(field(pv, "spec"), "claimRef");
  if (auto claim = host.get(VCP_SIDE_VIRTUAL, kClaims, str_of(ref, "namespace"), str_of(ref, "name"))) {
    if (uid_of(*claim) == str_of(ref, "uid")) return true;
  }
  bool used = false;
  host.by_index(VCP_SIDE_VIRTUAL, kClaims, kIndexClaimsByVolume, str_of(field(pv, "metadata"), "name"),
                [&](std::string_view) {
                  used = true;
                  return true;
                });
  return used;
}

const std::string kStripFinalizers = R"({"metadata":{"finalizers":null}})";

// A virtual PV imported from a host PV: never copied to the host (the engine's translated target never
// exists); its status and capacity follow the host PV, and it goes when the host PV does.
vcp_status sync_imported(State& st, const Value& vpv) {
  const Host& host = st.host;
  const std::string name = str_of(field(vpv, "metadata"), "name");
  const std::string key = volume_key(name);
  const bool has_finalizers = !field(field(vpv, "metadata"), "finalizers").empty();
  auto hpv =
      host.get(VCP_SIDE_HOST, kVolumes, "", str_of(field(field(vpv, "metadata"), "annotations"), kHostPv));
  if (deleting(vpv)) {
    if (has_finalizers)
      st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_PATCH, "", name, "",
                                      kStripFinalizers, kVolumes, "", name);
    return VCP_NO_CHANGE;
  }
  if (!hpv) {
    auto& ops = st.ops[key];
    ops.write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_DELETE, "", name, "",
                            delete_options(uid_of(vpv)), kVolumes, "", name);
    if (has_finalizers)
      ops.second = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_PATCH, "", name, "", kStripFinalizers,
                               kVolumes, "", name);
    return VCP_NO_CHANGE;
  }
  const Value& hcap = field(field(*hpv, "spec"), "capacity");
  if (!hcap.is_null() && !(field(field(vpv, "spec"), "capacity") == hcap)) {
    Value body = vpv;
    body["spec"]["capacity"] = hcap;
    st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_UPDATE, "", name, "",
                                    vc::json::dump(body), kVolumes, "", name);
    return VCP_NO_CHANGE;
  }
  const Value& hstatus = field(*hpv, "status");
  if (!hstatus.is_null() && !(field(vpv, "status") == hstatus)) {
    Value body = vpv;
    body["status"] = hstatus;
    st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_UPDATE, "", name, "status",
                                    vc::json::dump(body), kVolumes, "", name);
  }
  return VCP_NO_CHANGE;
}

vcp_status sync_volume(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  auto vpv = parse(args->source);
  if (!vpv) {
    host.set_error("the virtual PersistentVolume is not valid JSON");
    return VCP_REFUSED;
  }
  const std::string name = str(args->source_name);
  const std::string key = volume_key(name);
  std::string failed;
  if (busy(st, key, "a write for PersistentVolume " + name, 404, &failed)) return VCP_NO_CHANGE;
  if (!failed.empty()) {
    host.set_error(failed);
    return VCP_RETRY;
  }
  const bool has_finalizers = !field(field(*vpv, "metadata"), "finalizers").empty();
  if (is_fake_pv(*vpv)) {
    // §6.2: never a host write. Deleted (finalizers stripped) once no claim keeps it.
    if (deleting(*vpv)) {
      if (has_finalizers)
        st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_PATCH, "", name, "",
                                        kStripFinalizers, kVolumes, "", name);
      return VCP_NO_CHANGE;
    }
    if (!fake_pv_used(host, *vpv)) {
      auto& ops = st.ops[key];
      ops.write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_DELETE, "", name, "",
                              delete_options(uid_of(*vpv)), kVolumes, "", name);
      // The virtual pv-protection controller adds its finalizer to every volume; it is ours to lift.
      if (has_finalizers)
        ops.second = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_PATCH, "", name, "", kStripFinalizers,
                                 kVolumes, "", name);
      return VCP_NO_CHANGE;
    }
    if (str_of(field(*vpv, "status"), "phase") != "Bound") {
      Value body = *vpv;
      body["status"] = Value::object();
      body["status"]["phase"] = "Bound";
      st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_UPDATE, "", name, "status",
                                      vc::json::dump(body), kVolumes, "", name);
    }
    return VCP_NO_CHANGE;
  }
  if (!st.cfg.real_volumes || controlled_by_other(*vpv)) return VCP_NO_CHANGE;
  if (str_of(field(field(*vpv, "metadata"), "labels"), kImportedLabel) == "true")
    return sync_imported(st, *vpv);
  if (deleting(*vpv)) {
    // vcluster strips the finalizers of a virtual volume being deleted: the virtual cluster runs no volume
    // controller that would lift pv-protection's. on_delete then deletes the host copy.
    if (has_finalizers)
      st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kVolumes, VCP_VERB_PATCH, "", name, "",
                                      kStripFinalizers, kVolumes, "", name);
    return VCP_NO_CHANGE;
  }
  auto hpv = parse(args->target);
  write(host, out, translate_volume(host, *vpv, hpv.get()));
  return VCP_OK;
}

vcp_status back_sync_volume_hook(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.real_volumes) return VCP_NO_CHANGE;
  auto vpv = parse(args->source);
  auto hpv = parse(args->target);
  if (!vpv || !hpv || is_fake_pv(*vpv) || deleting(*vpv)) return VCP_NO_CHANGE;
  // The host claimRef points at a host claim; the virtual one points at the virtual claim it belongs to.
  std::optional<Value> vclaim;
  const Value& ref = field(field(*hpv, "spec"), "claimRef");
  if (str_of(ref, "namespace") == host.host_namespace()) {
    if (auto hclaim = host.get(VCP_SIDE_HOST, kClaims, host.host_namespace(), str_of(ref, "name"))) {
      const Value& ann = field(field(*hclaim, "metadata"), "annotations");
      vclaim = host.get(VCP_SIDE_VIRTUAL, kClaims, str_of(ann, kObjectNamespace), str_of(ann, kObjectName));
    }
  }
  write(host, out, back_sync_volume(*vpv, *hpv, vclaim ? &*vclaim : nullptr));
  return VCP_OK;
}

// True when two objects are the same but for kind and apiVersion, which a listed object lacks.
bool same_object(const Value& a, const Value& b) {
  Value x = a, y = b;
  for (Value* v : {&x, &y}) {
    v->erase("kind");
    v->erase("apiVersion");
  }
  return x == y;
}

// --- StorageClasses ----------------------------------------------------------------------------------------

bool ours(const Host& host, const Value& obj) {
  return str_of(field(field(obj, "metadata"), "labels"), kManagedBy) == cluster_marker(host);
}

// sync.storageclasses: brings the host copy of virtual class `name` in line (create, update, or delete and
// re-create when an immutable field changed). `vsc` is the virtual class or null (gone: delete the copy).
vcp_status forward_class(State& st, const std::string& name, const Value* vsc) {
  const Host& host = st.host;
  const std::string key = class_key(name);
  std::string failed;
  if (busy(st, key, "a write for the host copy of StorageClass " + name, 404, &failed)) return VCP_NO_CHANGE;
  if (!failed.empty()) {
    host.set_error(failed);
    return VCP_RETRY;
  }
  const std::string hname = cluster_name(host, name);
  auto hsc = host.get(VCP_SIDE_HOST, kClasses, "", hname);
  if (hsc && !ours(host, *hsc)) {
    host.event(VCP_SIDE_VIRTUAL, kClasses, "", name, "Warning", "SyncError",
               "cannot sync StorageClass " + name + ": host StorageClass " + hname +
                   " exists and is not managed by vcluster " + host.cluster_name() + "; remove the host one");
    return VCP_NO_CHANGE;
  }
  if (vsc == nullptr || deleting(*vsc) || controlled_by_other(*vsc)) {
    if (hsc)
      st.ops[key].write = host.submit(VCP_SIDE_HOST, kClasses, VCP_VERB_DELETE, "", hname, "",
                                      delete_options(uid_of(*hsc)), kClasses, "", name);
    return VCP_NO_CHANGE;
  }
  Value desired = translate_class(host, *vsc, hsc ? &*hsc : nullptr);
  if (!hsc) {
    st.ops[key].write = host.submit(VCP_SIDE_HOST, kClasses, VCP_VERB_CREATE, "", "", "",
                                    vc::json::dump(desired), kClasses, "", name);
  } else if (class_immutable_differs(desired, *hsc)) {
    // provisioner, parameters, reclaimPolicy and volumeBindingMode cannot be updated: replace the copy (the
    // delete's answer wakes this key, which then creates it).
    st.ops[key].write = host.submit(VCP_SIDE_HOST, kClasses, VCP_VERB_DELETE, "", hname, "",
                                    delete_options(uid_of(*hsc)), kClasses, "", name);
  } else if (!same_object(desired, *hsc)) {
    st.ops[key].write = host.submit(VCP_SIDE_HOST, kClasses, VCP_VERB_UPDATE, "", hname, "",
                                    vc::json::dump(desired), kClasses, "", name);
  }
  return VCP_NO_CHANGE;
}

// The engine's key of a class is its name on both sides: the host class `source` (or null) and the virtual
// class `target` (or null).
vcp_status sync_class(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  auto hsc = parse(args->source);
  auto vsc = parse(args->target);
  const std::string name = str(args->source_name);
  if (st.cfg.classes) {
    if (hsc && ours(host, *hsc)) {
      // A host copy: it goes when its virtual class does.
      std::string owner = str_of(field(field(*hsc, "metadata"), "annotations"), kObjectName);
      if (!owner.empty() && !host.has(VCP_SIDE_VIRTUAL, kClasses, "", owner))
        return forward_class(st, owner, nullptr);
      return VCP_NO_CHANGE;
    }
    if (vsc) return forward_class(st, name, vsc.get());
    return VCP_NO_CHANGE;
  }
  if (st.cfg.host_classes && hsc) {
    // Copies another vcluster made are that vcluster's business, not classes of the host.
    if (!str_of(field(field(*hsc, "metadata"), "labels"), kManagedBy).empty()) return VCP_NO_CHANGE;
    const std::string key = class_key(name);
    std::string failed;
    if (busy(st, key, "deleting virtual StorageClass " + name, 404, &failed)) return VCP_NO_CHANGE;
    if (!failed.empty()) {
      host.set_error(failed);
      return VCP_RETRY;
    }
    Value mirrored = mirror_class(*hsc, vsc.get());
    if (vsc && class_immutable_differs(mirrored, *vsc)) {
      st.ops[key].write = host.submit(VCP_SIDE_VIRTUAL, kClasses, VCP_VERB_DELETE, "", name, "",
                                      delete_options(uid_of(*vsc)), kClasses, "", name);
      return VCP_NO_CHANGE;
    }
    write(host, out, mirrored);
    return VCP_OK;
  }
  return VCP_NO_CHANGE;
}

// No host class of that name, a virtual one exists.
vcp_status delete_class(State& st, const vcp_sync_args* args) {
  auto vsc = parse(args->target);
  const std::string name = str(args->source_name);
  if (st.cfg.classes) {
    vcp_status s = forward_class(st, name, vsc.get());
    return s == VCP_RETRY ? VCP_RETRY : VCP_SKIP;
  }
  // The mirror removes virtual classes the host does not have (§6.3).
  if (st.cfg.host_classes) return VCP_OK;
  return VCP_SKIP;
}

// --- Hooks
// --------------------------------------------------------------------------------------------------

template <typename F>
vcp_status guarded(State* st, F body) {
  try {
    return body();
  } catch (const std::exception& e) {
    st->host.set_error(std::string("storage plugin internal error: ") + e.what());
  } catch (...) {
    st->host.set_error("storage plugin internal error: unknown exception");
  }
  return VCP_ERROR;
}

void index_claim(void*, vcp_str object, void (*emit)(void*, vcp_str), void* emit_ctx) {
  try {
    auto pvc = parse(object);
    if (!pvc) return;
    std::string v = str_of(field(*pvc, "spec"), "volumeName");
    if (!v.empty()) emit(emit_ctx, view(v));
  } catch (...) {
    // An index extractor must not throw into the engine; an unindexed claim keeps no fake volume.
  }
}

vcp_status on_init(const vcp_host_api* api, vcp_host_ctx* ctx, void** state) {
  State* st = nullptr;
  try {
    if (api == nullptr || api->abi_major != VCP_ABI_MAJOR || !VCP_HAS_FIELD(api, vcp_host_api, emit_event)) {
      return VCP_ERROR;
    }
    st = new State{Host(api, ctx), {}, {}, {}};
    st->cfg = read_config(st->host);
    if (!st->cfg.error.empty()) {
      st->host.set_error(st->cfg.error);
      delete st;
      return VCP_ERROR;
    }
    if (st->cfg.host_classes_auto) {
      st->host.log(VCP_LOG_INFO,
                   "sync.nodes.enableScheduler with claim sync: mirroring the host's StorageClasses, as "
                   "vcluster does");
    }
    if (!api->add_index(ctx, VCP_SIDE_VIRTUAL, kClaims, kIndexClaimsByVolume, &index_claim, nullptr)) {
      st->host.set_error("the engine refused the claims-by-volume index on virtual claims");
      delete st;
      return VCP_ERROR;
    }
    *state = st;
    return VCP_OK;
  } catch (...) {
    delete st;
    return VCP_ERROR;
  }
}

void on_shutdown(void* state) {
  delete static_cast<State*>(state);
}

vcp_status on_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    switch (args->resource) {
      case kClaims:
        return sync_claim(*st, args, out);
      case kVolumes:
        return sync_volume(*st, args, out);
      case kClasses:
        return sync_class(*st, args, out);
    }
    return VCP_NO_CHANGE;
  });
}

vcp_status on_back_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    switch (args->resource) {
      case kClaims:
        return back_sync_claim_hook(*st, args, out);
      case kVolumes:
        return back_sync_volume_hook(*st, args, out);
    }
    return VCP_NO_CHANGE;  // a class never writes back to the host class it mirrors
  });
}

vcp_status on_delete(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    switch (args->resource) {
      case kClaims: {
        if (!st->cfg.claims) return VCP_SKIP;
        // The virtual claim is gone: so is the host one (the engine's default options carry the host uid).
        st->ops.erase(claim_key(str(args->source_namespace), str(args->source_name)));
        return VCP_OK;
      }
      case kVolumes:
        // Only a host copy of a virtual volume is ever ours to delete; without sync.persistentvolumes the
        // plugin never writes host volumes.
        return st->cfg.real_volumes ? VCP_OK : VCP_SKIP;
      case kClasses:
        return delete_class(*st, args);
    }
    (void)out;
    return VCP_SKIP;
  });
}

void on_watch_event(void* state, const vcp_event* ev) {
  auto* st = static_cast<State*>(state);
  try {
    const Host& host = st->host;
    auto now = parse(ev->object);
    if (!now) return;
    if (ev->resource == kClaims && ev->side == VCP_SIDE_VIRTUAL) {
      // A claim gone, or naming another volume: its old fake volume may be unused now.
      std::string vol = str_of(field(*now, "spec"), "volumeName");
      if (ev->type == VCP_EVENT_DELETED && !vol.empty()) host.enqueue(kVolumes, "", vol);
      if (ev->type == VCP_EVENT_MODIFIED) {
        auto old = parse(ev->old_object);
        std::string before = old ? str_of(field(*old, "spec"), "volumeName") : std::string();
        if (!before.empty() && before != vol) host.enqueue(kVolumes, "", before);
      }
    } else if (ev->resource == kVolumes && ev->side == VCP_SIDE_VIRTUAL && ev->type == VCP_EVENT_DELETED) {
      // A fake volume deleted under a claim that still has it: the claim's key makes it again.
      if (is_fake_pv(*now)) {
        const Value& ref = field(field(*now, "spec"), "claimRef");
        if (!str_of(ref, "name").empty())
          host.enqueue(kClaims, str_of(ref, "namespace"), str_of(ref, "name"));
      }
    } else if (ev->resource == kVolumes && ev->side == VCP_SIDE_HOST && st->cfg.real_volumes) {
      // A host volume marked for import changed or went: its virtual copy (same name) follows, and the claim
      // it is bound to looks again (an import waits for the mark).
      const Value& meta = field(*now, "metadata");
      if (str_of(field(meta, "annotations"), kObjectName).empty()) {
        host.enqueue(kVolumes, "", str_of(meta, "name"));
        const Value& ref = field(field(*now, "spec"), "claimRef");
        if (str_of(ref, "namespace") == host.host_namespace()) {
          if (auto hclaim = host.get(VCP_SIDE_HOST, kClaims, host.host_namespace(), str_of(ref, "name"))) {
            const Value& ann = field(field(*hclaim, "metadata"), "annotations");
            if (!str_of(ann, kObjectName).empty())
              host.enqueue(kClaims, str_of(ann, kObjectNamespace), str_of(ann, kObjectName));
          }
        }
      }
    } else if (ev->resource == kClasses && st->cfg.classes) {
      if (ev->side == VCP_SIDE_VIRTUAL && ev->type == VCP_EVENT_DELETED) {
        // The copy's key decides it is orphaned (no host class has the virtual name, so the virtual key would
        // find nothing on either side).
        host.enqueue(kClasses, "", cluster_name(host, str_of(field(*now, "metadata"), "name")));
      } else if (ev->side == VCP_SIDE_HOST && ours(host, *now)) {
        // A copy changed or deleted behind our back: its virtual class's key puts it right.
        std::string owner = str_of(field(field(*now, "metadata"), "annotations"), kObjectName);
        if (!owner.empty()) host.enqueue(kClasses, "", owner);
      }
    }
  } catch (...) {
    // Watch handlers only schedule work; a lost event costs a later reconcile, never a wrong write.
  }
}

const vcp_plugin kPlugin = {
    sizeof(vcp_plugin),
    VCP_ABI_MAJOR,
    VCP_ABI_MINOR,
    "storage",
    "0.1.0",
    "Syncs PersistentVolumeClaims to the host with fake or real PersistentVolumes, and StorageClasses either "
    "way.",
    kResources,
    sizeof(kResources) / sizeof(kResources[0]),
    kConfigKeys,
    sizeof(kConfigKeys) / sizeof(kConfigKeys[0]),
    &on_init,
    &on_shutdown,
    &on_sync,
    &on_back_sync,
    &on_delete,
    &on_watch_event,
    nullptr,  // on_cache: claims, volumes and classes are read whole
};

}  // namespace
}  // namespace vcp_storage

extern "C" VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void) {
  return &vcp_storage::kPlugin;
}
