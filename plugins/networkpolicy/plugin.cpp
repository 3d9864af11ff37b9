// vcp-networkpolicy: the NetworkPolicy plugin (vcluster-behaviour.md §8.1). Off by default
// (sync.networkpolicies.enabled). A virtual NetworkPolicy becomes a host NetworkPolicy
// <name>-x-<namespace>-x-<vcluster> in the vcluster's host namespace whose selectors pick the host pods the
// pods plugin made: label keys translated as the pods plugin translates pod labels, namespace selectors
// over the ns-label keys it copies from the pods' virtual Namespaces, and every selector pinned to this
// vcluster (managed-by). Updates replace the host spec; deletes follow (the engine deletes the target whose
// source is gone, and never touches a host policy without our managed-by label).
#include <vcp/plugin.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "host.hpp"
#include "json/json.hpp"
#include "translate.hpp"

namespace vcp_networkpolicy {
namespace {

using vc::json::Value;

// Indexes into kResources; the engine passes them back in every hook.
enum : uint32_t { kPolicies = 0 };

// vcluster deletes a host policy whose object-uid is an earlier virtual object's (deleted and re-created
// under the same name while the syncer was down): UID deletion is off only for services, claims, volumes
// and generic importers (§12).
const vcp_resource kResources[] = {
    {sizeof(vcp_resource), "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy",
     VCP_RES_NAMESPACED | VCP_RES_RECREATE_ON_UID, VCP_ROLE_TO_HOST, VCP_NAME_NAMESPACED, ""},
};

const vcp_config_key kConfigKeys[] = {
    {sizeof(vcp_config_key), "sync.networkpolicies.enabled", VCP_CONF_BOOL, "false",
     "Copy NetworkPolicies to the host namespace with selectors translated to the host pods of this "
     "vcluster.",
     nullptr},
};

struct State {
  Host host;
  Config cfg;
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

vcp_status sync_policy(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.enabled) return VCP_NO_CHANGE;
  auto vnp = parse(args->source);
  if (!vnp || !vnp->is_object()) {
    host.set_error("the virtual NetworkPolicy is not valid JSON");
    return VCP_REFUSED;
  }
  // §2.4: a policy someone else controls is left alone on both sides.
  if (controlled_by_other(*vnp)) return VCP_NO_CHANGE;
  if (args->target.len == 0) {
    write(host, out, translate_create(host, *vnp, str(args->target_namespace), str(args->target_name)));
    return VCP_OK;
  }
  auto hnp = parse(args->target);
  if (!hnp || !hnp->is_object()) {
    host.set_error("the host NetworkPolicy is not valid JSON");
    return VCP_RETRY;
  }
  write(host, out, translate_update(host, *vnp, *hnp));
  return VCP_OK;
}

template <typename F>
vcp_status guarded(State* st, F body) {
  try {
    return body();
  } catch (const std::exception& e) {
    st->host.set_error(std::string("networkpolicy plugin internal error: ") + e.what());
  } catch (...) {
    st->host.set_error("networkpolicy plugin internal error: unknown exception");
  }
  return VCP_ERROR;
}

vcp_status on_init(const vcp_host_api* api, vcp_host_ctx* ctx, void** state) {
  try {
    if (api == nullptr || api->abi_major != VCP_ABI_MAJOR || !VCP_HAS_FIELD(api, vcp_host_api, emit_event)) {
      return VCP_ERROR;
    }
    Host host(api, ctx);
    // Namespace selectors become selectors over the ns-label keys of host pods; without the service that
    // computes them (ABI 1.1) the plugin would have to guess the engine's hashing, so it refuses to start.
    if (!VCP_HAS_FIELD(api, vcp_host_api, translate_label_key_prefixed) ||
        api->translate_label_key_prefixed == nullptr) {
      host.set_error(
          "the networkpolicy plugin needs a syncer of plugin ABI 1.1 or newer (translate_label_key_prefixed, "
          "for namespace selectors)");
      return VCP_ERROR;
    }
    *state = new State{host, read_config(host)};
    return VCP_OK;
  } catch (...) {
    return VCP_ERROR;
  }
}

void on_shutdown(void* state) {
  delete static_cast<State*>(state);
}

vcp_status on_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    if (args->resource != kPolicies) return VCP_NO_CHANGE;
    return sync_policy(*st, args, out);
  });
}

vcp_status on_delete(void* state, const vcp_sync_args* args, vcp_buf* out) {
  (void)args;
  (void)out;  // the engine's default DeleteOptions (the target's uid as precondition) are what we want
  auto* st = static_cast<State*>(state);
  // The virtual policy is gone: so is its host copy. Disabled, the plugin leaves host copies alone, as
  // vcluster never touches objects of a syncer that is off.
  return st->cfg.enabled ? VCP_OK : VCP_SKIP;
}

const vcp_plugin kPlugin = {
    sizeof(vcp_plugin),
    VCP_ABI_MAJOR,
    VCP_ABI_MINOR,
    "networkpolicy",
    "0.1.0",
    "Syncs NetworkPolicies to the host with selectors translated to this vcluster's host pods (off by "
    "default).",
    kResources,
    sizeof(kResources) / sizeof(kResources[0]),
    kConfigKeys,
    sizeof(kConfigKeys) / sizeof(kConfigKeys[0]),
    &on_init,
    &on_shutdown,
    &on_sync,
    nullptr,  // on_back_sync: a NetworkPolicy has nothing the host sets that the tenant sees
    &on_delete,
    nullptr,  // on_watch_event: a policy depends on no other object
    nullptr,  // on_cache: policies are small and read whole
};

}  // namespace
}  // namespace vcp_networkpolicy

extern "C" VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void) {
  return &vcp_networkpolicy::kPlugin;
}
