// The engine's per-plugin and per-resource bookkeeping, shared by engine.cpp and host_api.cpp.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "plugin/buffer.hpp"

// The ABI's opaque plugin handle: which engine, which plugin.
struct vcp_host_ctx {
  vc::engine::Engine* engine = nullptr;
  size_t plugin = 0;
};

namespace vc::engine {

struct Engine::ResourceSlot {
  plugin::Resource res;
  kube::GVR gvr;
  bool recreate_on_uid = false;
  vcp_side source_side = VCP_SIDE_VIRTUAL, target_side = VCP_SIDE_HOST;
  informer::Informer* source = nullptr;  // WATCH roles: the watched side's informer
  informer::Informer* target = nullptr;  // null for WATCH roles
  // VCP_RES_HOST_NAMESPACES: one host informer per namespace the plugin named (watch_host_namespaces);
  // `source` stays null for such a resource.
  std::map<std::string, informer::Informer*> by_namespace;
  // The informer that holds objects of namespace `ns` on `side`: by_namespace's for a resource watched in
  // other host namespaces, else the side's one.
  informer::Informer* informer_of(vcp_side side, const std::string& ns) const {
    if (res.host_namespaces) {
      if (side != VCP_SIDE_HOST) return nullptr;
      auto it = by_namespace.find(ns);
      return it == by_namespace.end() ? nullptr : it->second;
    }
    if (side == source_side) return source;
    if (side == target_side) return target;
    return nullptr;
  }
  // Every informer of the resource on `side` (by_namespace's all, else the one).
  std::vector<informer::Informer*> informers_of(vcp_side side) const {
    std::vector<informer::Informer*> out;
    if (res.host_namespaces) {
      if (side == VCP_SIDE_HOST)
        for (auto& [ns, inf] : by_namespace) out.push_back(inf);
    } else if (informer::Informer* inf = side == source_side   ? source
                                         : side == target_side ? target
                                                               : nullptr) {
      out.push_back(inf);
    }
    return out;
  }
};

struct Engine::PluginSlot {
  size_t index = 0;
  std::string name;
  std::unique_ptr<plugin::Instance> inst;
  std::vector<ResourceSlot> resources;
  vcp_host_ctx ctx;
  bool initialized = false, in_init = false, quarantine_logged = false, cache_refusal_logged = false;
  std::string call_error;                 // set_error of the hook being called
  std::vector<informer::ObjectPtr> pins;  // objects whose JSON a hook holds views of
  std::deque<std::string> arena;          // service results a hook holds views of (a deque never moves them)
  // Ends a hook call: the views handed out during it are no longer valid.
  void end_call() {
    pins.clear();
    arena.clear();
  }
  vcp_str keep(std::string s) {
    arena.push_back(std::move(s));
    return vcp_str{arena.back().data(), arena.back().size()};
  }
  // A cached object's JSON for the current hook: a view of the object itself (pinned) or, for a packed
  // one (or an identity), of its text made in the arena.
  vcp_str view(const informer::ObjectPtr& o) {
    if (!o->packed && !o->identity_only) {
      pins.push_back(o);
      return plugin::as_vcp_str(o->text());
    }
    return keep(o->json());
  }
  std::vector<std::string> config_paths;  // the values keys the plugin declared (the only ones it may read)
  vcp_cluster_info info{};
};

}  // namespace vc::engine
