#include "refs.hpp"

#include <string_view>

namespace vcp_pods {

using vc::json::Value;

namespace {

void add(std::vector<Ref>& out, RefKind kind, const Value* name, const Value* optional) {
  if (name == nullptr || !name->is_string() || name->as_string().empty()) return;
  out.push_back(Ref{kind, name->as_string(), optional != nullptr && optional->as_bool(false)});
}

void add_obj(std::vector<Ref>& out, RefKind kind, const Value* obj, std::string_view name_field) {
  if (obj == nullptr || !obj->is_object()) return;
  add(out, kind, obj->find(name_field), obj->find("optional"));
}

void container_refs(std::vector<Ref>& out, const Value& c) {
  for (const Value& e : field(c, "env").items()) {
    const Value* from = e.find("valueFrom");
    if (from == nullptr) continue;
    add_obj(out, RefKind::kConfigMap, from->find("configMapKeyRef"), "name");
    add_obj(out, RefKind::kSecret, from->find("secretKeyRef"), "name");
  }
  for (const Value& e : field(c, "envFrom").items()) {
    add_obj(out, RefKind::kConfigMap, e.find("configMapRef"), "name");
    add_obj(out, RefKind::kSecret, e.find("secretRef"), "name");
  }
}

// Volume types that name a Secret through `secretRef.name` (Kubernetes core/v1 types.go).
constexpr std::string_view kSecretRefVolumes[] = {"iscsi",  "rbd",     "flexVolume", "cinder",
                                                  "cephfs", "scaleIO", "storageos"};

}  // namespace

std::vector<Ref> pod_refs(const Value& pod) {
  std::vector<Ref> out;
  const Value* spec = pod.find("spec");
  if (spec == nullptr) return out;
  for (const Value& v : field(*spec, "volumes").items()) {
    add_obj(out, RefKind::kConfigMap, v.find("configMap"), "name");
    add_obj(out, RefKind::kSecret, v.find("secret"), "secretName");
    if (const Value* proj = v.find("projected")) {
      for (const Value& s : field(*proj, "sources").items()) {
        add_obj(out, RefKind::kConfigMap, s.find("configMap"), "name");
        add_obj(out, RefKind::kSecret, s.find("secret"), "name");
      }
    }
    for (std::string_view t : kSecretRefVolumes) {
      if (const Value* vol = v.find(t)) add_obj(out, RefKind::kSecret, vol->find("secretRef"), "name");
    }
    if (const Value* csi = v.find("csi"))
      add_obj(out, RefKind::kSecret, csi->find("nodePublishSecretRef"), "name");
    if (const Value* az = v.find("azureFile")) add(out, RefKind::kSecret, az->find("secretName"), nullptr);
  }
  for (std::string_view list : {"initContainers", "containers", "ephemeralContainers"}) {
    for (const Value& c : field(*spec, list).items()) container_refs(out, c);
  }
  for (const Value& s : field(*spec, "imagePullSecrets").items())
    add(out, RefKind::kSecret, s.find("name"), nullptr);
  return out;
}

std::vector<Ref> unique_refs(const Value& pod) {
  std::vector<Ref> out;
  for (Ref& r : pod_refs(pod)) {
    bool merged = false;
    for (Ref& o : out) {
      if (o.kind == r.kind && o.name == r.name) {
        o.optional = o.optional && r.optional;
        merged = true;
        break;
      }
    }
    if (!merged) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace vcp_pods
