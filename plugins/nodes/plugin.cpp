// vcp-nodes: the nodes plugin. Host nodes are projected into the virtual cluster (vcluster-behaviour.md §7):
// by default as fake nodes, one per host node a virtual pod runs on; with sync.nodes.enabled as copies of
// the real host nodes. The engine keys the work by the host node (the source) and targets the virtual node
// of the same name; virtual pods are watched so that a node appears as soon as a pod is bound to it and
// goes when its last pod does.
//
// A node's status is only ever written through the nodes/{name}/status subresource (a PUT of the object
// keeps the old status), so on_sync hands the engine metadata and spec changes and submits status writes
// itself. Heartbeats alone never cause a write until the virtual heartbeat is kHeartbeatRefreshSeconds old.
#include <vcp/plugin.h>

#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "host.hpp"
#include "json/json.hpp"
#include "translate.hpp"

namespace vcp_nodes {
namespace {

using vc::json::Value;

// Indexes into kResources; the engine passes them back in every hook.
enum : uint32_t { kNodes = 0, kPods = 1 };

// Virtual pods by the node they are bound to, counting only pods that keep a node needed.
constexpr const char* kIndexPodsByNode = "pods-by-node";

const vcp_resource kResources[] = {
    {sizeof(vcp_resource), "", "v1", "nodes", "Node", VCP_RES_STATUS, VCP_ROLE_TO_VIRTUAL, VCP_NAME_SAME, ""},
    {sizeof(vcp_resource), "", "v1", "pods", "Pod", VCP_RES_NAMESPACED, VCP_ROLE_WATCH_VIRTUAL,
     VCP_NAME_NAMESPACED, ""},
};

const vcp_config_key kConfigKeys[] = {
    {sizeof(vcp_config_key), "sync.nodes.enabled", VCP_CONF_BOOL, "false",
     "Show copies of the real host nodes in the virtual cluster instead of fake nodes.", nullptr},
    {sizeof(vcp_config_key), "sync.nodes.syncAllNodes", VCP_CONF_BOOL, "false",
     "With sync.nodes.enabled, show every host node, not only those virtual pods run on.", nullptr},
    {sizeof(vcp_config_key), "sync.nodes.nodeSelector", VCP_CONF_STRING, "\"\"",
     "With sync.nodes.enabled, show exactly the host nodes matching this label selector (\"k=v,...\").",
     nullptr},
    {sizeof(vcp_config_key), "sync.nodes.enableScheduler", VCP_CONF_BOOL, "false",
     "A virtual scheduler places pods: labels and taints set on virtual nodes are kept, and all (or all "
     "selected) host nodes are shown.",
     nullptr},
    {sizeof(vcp_config_key), "sync.nodes.syncNodeChanges", VCP_CONF_BOOL, "false",
     "With sync.nodes.enabled, labels and taints the tenant adds to a virtual node are written to the host "
     "node.",
     nullptr},
    {sizeof(vcp_config_key), "sync.nodes.clearImageStatus", VCP_CONF_BOOL, "false",
     "Leave the host's list of pulled images out of virtual node status.", nullptr},
    {sizeof(vcp_config_key), "sync.fake-nodes.enabled", VCP_CONF_BOOL, "true",
     "Without sync.nodes.enabled, show a fake node for each host node a virtual pod runs on.", nullptr},
    {sizeof(vcp_config_key), "sync.nodes.kubeletAddress", VCP_CONF_STRING, "\"\"",
     "IP:PORT of the syncer's kubelet endpoint, advertised as every virtual node's InternalIP and kubelet "
     "port; the syncer sets it from --kubelet-address unless a values file does.",
     nullptr},
};

// Writes the plugin has in flight for one node, so that a key woken before its write finished does not
// submit it twice, and a failed write is reported (and retried with backoff) instead of resubmitted at once.
struct NodeOps {
  uint64_t status_write = 0;
  uint64_t delete_virtual = 0;
};

struct State {
  Host host;
  Config cfg;
  std::map<std::string, NodeOps, std::less<>> ops;  // by node name
};

const std::string& str_at(const Value& v, std::initializer_list<std::string_view> path,
                          std::string_view leaf) {
  static const std::string kEmpty;
  const Value* p = v.at(path);
  const Value* f = p ? p->find(leaf) : nullptr;
  return f && f->is_string() ? f->as_string() : kEmpty;
}

void write(const Host& host, vcp_buf* out, const Value& v) {
  std::string s = vc::json::dump(v);
  host.api()->buf_clear(out);
  host.api()->buf_append(out, s.data(), s.size());
}

// The last few objects parsed: the pods-by-node index function and on_watch_event see the same pod one after
// the other, and a reconcile passes the same nodes to on_sync and on_back_sync. Hooks run on one thread.
vc::json::ParseCache& trees() {
  static vc::json::ParseCache cache(8);
  return cache;
}

std::shared_ptr<const Value> parse(vcp_str s) {
  if (s.len == 0) return nullptr;
  return trees().parse(std::string_view(s.ptr, s.len));
}

// vcluster's isNodeNeededByPod: a virtual pod owned by a DaemonSet does not keep its node, or a DaemonSet
// would keep every node it ever ran on forever.
bool keeps_node(const Value& pod) {
  if (const Value* refs = pod.at({"metadata"}) ? pod.at({"metadata"})->find("ownerReferences") : nullptr;
      refs && refs->is_array()) {
    for (const Value& r : refs->items()) {
      const Value* api = r.find("apiVersion");
      const Value* kind = r.find("kind");
      if (api && kind && api->is_string() && kind->is_string() && api->as_string() == "apps/v1" &&
          kind->as_string() == "DaemonSet")
        return false;
    }
  }
  return true;
}

// The node a virtual pod keeps needed, or "" (unbound, or a DaemonSet's).
std::string needed_node(const Value& pod) {
  const std::string& node = str_at(pod, {"spec"}, "nodeName");
  return node.empty() || !keeps_node(pod) ? std::string() : node;
}

void index_pod(void*, vcp_str object, void (*emit)(void*, vcp_str), void* emit_ctx) {
  try {
    auto pod = parse(object);
    if (!pod) return;
    std::string node = needed_node(*pod);
    if (!node.empty()) emit(emit_ctx, view(node));
  } catch (...) {
    // An index extractor must not throw into the engine; a pod that cannot be indexed keeps no node.
  }
}

bool node_needed(const Host& host, std::string_view node) {
  bool used = false;
  host.by_index(VCP_SIDE_VIRTUAL, kPods, kIndexPodsByNode, node, [&](std::string_view) {
    used = true;
    return true;  // one pod is enough
  });
  return used;
}

// Reads the outcome of a submitted write. Returns true while it is in flight. A finished write clears the
// slot; a failed one sets *failed with a sentence for set_error. `ok_status` is one more status that counts
// as success (404 for a delete: the node is gone either way).
bool pending(const Host& host, uint64_t& id, std::string_view what, int ok_status, std::string* failed) {
  if (id == 0) return false;
  std::string body;
  int status = host.take_result(id, &body);
  if (status == 0) return true;
  id = 0;
  if ((status < 200 || status >= 300) && status != ok_status) {
    auto st = vc::json::parse(body);
    const Value* m = st ? st->find("message") : nullptr;
    std::string msg = m && m->is_string() ? m->as_string() : std::string();
    *failed =
        std::string(what) + " answered HTTP " + std::to_string(status) + (msg.empty() ? "" : ": " + msg);
  }
  return false;
}

vcp_status sync_node(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  const Config& cfg = st.cfg;
  if (cfg.mode == Mode::kOff) return VCP_NO_CHANGE;
  auto hnode = parse(args->source);
  if (!hnode) {
    host.set_error("the host node is not valid JSON");
    return VCP_REFUSED;
  }
  const std::string name = str(args->source_name);
  const bool fake = cfg.mode == Mode::kFake;

  bool wanted = false;
  if (fake) {
    wanted = node_needed(host, name);
  } else {
    Selection s = select_node(cfg, *hnode);
    wanted = s == Selection::kAlways || (s == Selection::kIfNeeded && node_needed(host, name));
  }
  NodeOps& ops = st.ops[name];
  std::string failed;
  if (pending(host, ops.delete_virtual, "deleting virtual node " + name, 404, &failed)) return VCP_NO_CHANGE;
  if (pending(host, ops.status_write, "updating the status of virtual node " + name, 0, &failed))
    return VCP_NO_CHANGE;
  // Nothing is in flight for this node now, so it needs no slot (node names come and go with autoscaling).
  st.ops.erase(name);
  if (!failed.empty()) {
    host.set_error(failed);
    return VCP_RETRY;
  }
  if (!wanted) return VCP_SKIP;  // the engine deletes the virtual node, if there is one

  const std::string now = now_rfc3339();
  auto vnode = parse(args->target);
  if (!vnode) {
    // The API server keeps the status of a Node that is created (kubelets register that way), so one
    // POST makes the whole node.
    Value node = fake ? fake_node(*hnode) : real_node(*hnode, nullptr, cfg);
    node["status"] = fake ? fake_status(*hnode, nullptr, now) : real_status(*hnode, cfg);
    if (fake) apply_kubelet_endpoint(node["status"], cfg);
    write(host, out, node);
    return VCP_OK;
  }
  if (vnode->at({"metadata"}) && vnode->at({"metadata"})->find("deletionTimestamp")) {
    return VCP_NO_CHANGE;  // its DELETED event brings the key back to re-create it
  }
  if (is_fake_node(*vnode) != fake) {
    // The mode changed since this node was made (or the tenant made a node of that name): replace it
    // rather than merge a fake node into a real one. The uid precondition spares a newer node.
    Value opts = Value::object();
    opts["apiVersion"] = "v1";
    opts["kind"] = "DeleteOptions";
    opts["preconditions"]["uid"] = str_at(*vnode, {"metadata"}, "uid");
    st.ops[name].delete_virtual = host.submit(VCP_SIDE_VIRTUAL, kNodes, VCP_VERB_DELETE, "", name, "",
                                              vc::json::dump(opts), kNodes, "", name);
    return VCP_NO_CHANGE;
  }

  // Metadata and spec first: a fake node's are the tenant's once made (vcluster's FakeSync only touches
  // status) but for Kubernetes' own taints, a real node's follow the host. The status in the PUT is the
  // current one, so the engine's comparison sees only what a PUT can change.
  Value desired = fake ? fake_node_update(*vnode) : real_node(*hnode, &*vnode, cfg);
  if (const Value* s = vnode->find("status")) desired["status"] = *s;
  if (!same_content(desired, *vnode)) {
    write(host, out, desired);
    return VCP_OK;  // the PUT's watch event brings the key back for the status
  }

  const Value* current = vnode->find("status");
  Value status = fake ? fake_status(*hnode, current, now) : real_status(*hnode, cfg);
  if (fake) apply_kubelet_endpoint(status, cfg);
  if (status_differs(status, current) || heartbeat_due(status, current)) {
    Value body = *vnode;
    body["status"] = std::move(status);
    st.ops[name].status_write = host.submit(VCP_SIDE_VIRTUAL, kNodes, VCP_VERB_UPDATE, "", name, "status",
                                            vc::json::dump(body), kNodes, "", name);
  }
  return VCP_NO_CHANGE;
}

// --- Hooks
// ---------------------------------------------------------------------------------------------------

template <typename F>
vcp_status guarded(State* st, F body) {
  try {
    return body();
  } catch (const std::exception& e) {
    st->host.set_error(std::string("nodes plugin internal error: ") + e.what());
  } catch (...) {
    st->host.set_error("nodes plugin internal error: unknown exception");
  }
  return VCP_ERROR;
}

vcp_status on_init(const vcp_host_api* api, vcp_host_ctx* ctx, void** state) {
  State* st = nullptr;
  try {
    if (api == nullptr || api->abi_major != VCP_ABI_MAJOR || !VCP_HAS_FIELD(api, vcp_host_api, emit_event)) {
      return VCP_ERROR;
    }
    st = new State{Host(api, ctx), {}, {}};
    st->cfg = read_config(st->host);
    if (!st->cfg.error.empty()) {
      st->host.set_error(st->cfg.error);
      delete st;
      return VCP_ERROR;
    }
    if (st->cfg.kubelet_port != 0)
      st->host.log(VCP_LOG_INFO, "virtual nodes advertise the kubelet endpoint " + st->cfg.kubelet_ip + ":" +
                                     std::to_string(st->cfg.kubelet_port) + " (sync.nodes.kubeletAddress)");
    if (st->cfg.mode != Mode::kReal && st->cfg.sync_node_changes) {
      st->host.log(VCP_LOG_WARN,
                   "sync.nodes.syncNodeChanges has no effect without sync.nodes.enabled: fake nodes are not "
                   "copies of host nodes");
    }
    if (!api->add_index(ctx, VCP_SIDE_VIRTUAL, kPods, kIndexPodsByNode, &index_pod, nullptr)) {
      st->host.set_error("the engine refused the pods-by-node index on virtual pods");
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
  return guarded(st, [&] { return args->resource == kNodes ? sync_node(*st, args, out) : VCP_SKIP; });
}

vcp_status on_back_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    // Only syncNodeChanges writes to host nodes, and only for real nodes: a fake node is not a copy.
    if (args->resource != kNodes || st->cfg.mode != Mode::kReal || !st->cfg.sync_node_changes)
      return VCP_NO_CHANGE;
    auto hnode = parse(args->source);
    auto vnode = parse(args->target);
    if (!hnode || !vnode) return VCP_NO_CHANGE;
    std::optional<Value> updated = host_node_with_tenant_changes(*hnode, *vnode);
    if (!updated) return VCP_NO_CHANGE;
    write(st->host, out, *updated);
    return VCP_OK;
  });
}

vcp_status on_delete(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    if (st->cfg.mode == Mode::kOff) return VCP_SKIP;
    // The host node is gone: so is its virtual node, fake or real (vcluster deletes a virtual node without
    // a host node). The uid precondition spares a node re-created meanwhile.
    st->ops.erase(str(args->source_name));
    Value opts = Value::object();
    opts["apiVersion"] = "v1";
    opts["kind"] = "DeleteOptions";
    if (auto vnode = parse(args->target)) {
      if (const std::string& uid = str_at(*vnode, {"metadata"}, "uid"); !uid.empty())
        opts["preconditions"]["uid"] = uid;
    }
    write(st->host, out, opts);
    return VCP_OK;
  });
}

void on_watch_event(void* state, const vcp_event* ev) {
  auto* st = static_cast<State*>(state);
  try {
    if (ev->side != VCP_SIDE_VIRTUAL || ev->resource != kPods || st->cfg.mode == Mode::kOff) return;
    // A pod bound to a node (or gone from it) may make the node needed (or not): look at the node again.
    // A pod's nodeName never changes once set, so most MODIFIED events (status) need nothing.
    auto now = parse(ev->object);
    std::string node = now ? needed_node(*now) : std::string();
    std::string before;
    if (ev->type == VCP_EVENT_MODIFIED) {
      auto old = parse(ev->old_object);
      before = old ? needed_node(*old) : std::string();
      if (before == node) return;
    }
    if (!node.empty()) st->host.enqueue(kNodes, "", node);
    if (!before.empty()) st->host.enqueue(kNodes, "", before);
  } catch (...) {
    // Watch handlers only schedule work; a lost event costs a later reconcile, never a wrong write.
  }
}

const vcp_plugin kPlugin = {
    sizeof(vcp_plugin),
    VCP_ABI_MAJOR,
    VCP_ABI_MINOR,
    "nodes",
    "0.1.0",
    "Shows host nodes in the virtual cluster: fake nodes for the nodes virtual pods run on, or copies of the "
    "real ones.",
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
    nullptr,  // on_cache: nodes are few and read whole
};

}  // namespace
}  // namespace vcp_nodes

extern "C" VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void) {
  return &vcp_nodes::kPlugin;
}
