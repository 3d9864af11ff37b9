// Which ConfigMaps and Secrets a pod needs. The same walk feeds the cache indexes ("which pods use this
// ConfigMap?"), the watch handler (a new pod enqueues its ConfigMaps) and the pod's own create-time wait
// (a pod is created on the host only after the objects it mounts are there), so the three cannot disagree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "json/json.hpp"

namespace vcp_pods {

// The member named key, or a shared null: lets read-only walks chain through optional fields.
inline const vc::json::Value& field(const vc::json::Value& v, std::string_view key) {
  static const vc::json::Value kNull;
  const vc::json::Value* f = v.find(key);
  return f ? *f : kNull;
}

enum class RefKind { kConfigMap, kSecret };

struct Ref {
  RefKind kind;
  std::string name;
  // True when Kubernetes starts the pod without the object (`optional: true` on that reference).
  bool optional;
};

// Every ConfigMap and Secret the pod spec names, per vcluster's ConfigNamesFromPod / SecretNamesFromPod:
// volumes (configMap, secret, projected sources, and the secret references of iscsi, rbd, flexVolume,
// cinder, cephfs, azureFile, scaleIO, storageos, csi), env valueFrom, envFrom and imagePullSecrets of
// containers, init and ephemeral containers. A name may appear more than once; it is optional only if every
// reference to it is.
std::vector<Ref> pod_refs(const vc::json::Value& pod);

// The same list with one entry per (kind, name).
std::vector<Ref> unique_refs(const vc::json::Value& pod);

}  // namespace vcp_pods
