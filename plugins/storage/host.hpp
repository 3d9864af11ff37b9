// A thin C++ face over the engine's host services table (vcp_host_api), as a third-party plugin would
// write it: every call crosses the C ABI, borrowed views are copied into std::string before the hook
// returns, and nothing here throws across the boundary on its own (allocation failure aside, which the
// hooks catch).
#pragma once

#include <vcp/plugin.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "json/json.hpp"

namespace vcp_storage {

inline vcp_str view(std::string_view s) {
  return vcp_str{s.data(), s.size()};
}
inline std::string str(vcp_str s) {
  return s.ptr == nullptr ? std::string() : std::string(s.ptr, s.len);
}

class Host {
 public:
  Host(const vcp_host_api* api, vcp_host_ctx* ctx) : api_(api), ctx_(ctx) {}

  const vcp_host_api* api() const { return api_; }
  vcp_host_ctx* ctx() const { return ctx_; }

  void log(vcp_log_level level, std::string_view msg) const { api_->log(ctx_, level, view(msg)); }
  void set_error(std::string_view msg) const { api_->set_error(ctx_, view(msg)); }

  std::string cluster_name() const { return str(api_->cluster_info(ctx_)->vcluster_name); }
  std::string host_namespace() const { return str(api_->cluster_info(ctx_)->host_namespace); }
  std::string cluster_domain() const {
    std::string d = str(api_->cluster_info(ctx_)->cluster_domain);
    return d.empty() ? std::string("cluster.local") : d;
  }

  // The host name of a namespaced virtual object (<name>-x-<ns>-x-<vcluster>, hashed when too long).
  std::string name(std::string_view ns, std::string_view name) const {
    return str(api_->translate_name(ctx_, VCP_NAME_NAMESPACED, view(ns), view(name)));
  }
  // The host key of a label of a namespaced virtual object.
  std::string label_key(std::string_view key) const {
    return str(api_->translate_label_key(ctx_, 0, view(key)));
  }
  // The rendered config value, or nullopt when the engine does not know the key.
  std::optional<std::string> config(std::string_view path) const {
    vcp_str v{};
    if (!api_->config_get(ctx_, view(path), &v)) return std::nullopt;
    return str(v);
  }
  // Returns the HTTP status of a finished submit (or -1 for a transport failure, 0 while in flight) and
  // its response body.
  int take_result(uint64_t id, std::string* body) const {
    vcp_str v{};
    int status = api_->take_result(ctx_, id, &v);
    if (body) *body = str(v);
    return status;
  }

  // A cached object, parsed; nullopt when absent (or unparsable, which a cache should never hold).
  std::optional<vc::json::Value> get(vcp_side side, uint32_t res, std::string_view ns,
                                     std::string_view name) const {
    vcp_str out{};
    if (!api_->cache_get(ctx_, side, res, view(ns), view(name), &out)) return std::nullopt;
    return vc::json::parse(std::string_view(out.ptr, out.len));
  }
  bool has(vcp_side side, uint32_t res, std::string_view ns, std::string_view name) const {
    vcp_str out{};
    return api_->cache_get(ctx_, side, res, view(ns), view(name), &out) != 0;
  }
  // Calls fn(json_text) for each cached object; fn returns true to stop.
  template <typename F>
  void list(vcp_side side, uint32_t res, std::string_view ns, F fn) const {
    api_->cache_list(ctx_, side, res, view(ns), &each_thunk<F>, &fn);
  }
  template <typename F>
  void by_index(vcp_side side, uint32_t res, const char* index, std::string_view value, F fn) const {
    api_->cache_by_index(ctx_, side, res, index, view(value), &each_thunk<F>, &fn);
  }

  void enqueue(uint32_t res, std::string_view ns, std::string_view name, uint64_t delay_ms = 0) const {
    api_->enqueue(ctx_, res, view(ns), view(name), delay_ms);
  }
  void wait_for(vcp_side side, uint32_t res, std::string_view ns, std::string_view name, uint32_t waiter_res,
                std::string_view waiter_ns, std::string_view waiter_name) const {
    api_->wait_for(ctx_, side, res, view(ns), view(name), waiter_res, view(waiter_ns), view(waiter_name));
  }
  uint64_t submit(vcp_side side, uint32_t res, vcp_verb verb, std::string_view ns, std::string_view name,
                  std::string_view subresource, std::string_view body, uint32_t wake_res,
                  std::string_view wake_ns, std::string_view wake_name) const {
    vcp_write w{};
    w.struct_size = sizeof w;
    w.side = side;
    w.resource = res;
    w.verb = verb;
    w.namespace_ = view(ns);
    w.name = view(name);
    w.subresource = view(subresource);
    w.body = view(body);
    w.wake_namespace = view(wake_ns);
    w.wake_name = view(wake_name);
    w.wake_resource = wake_res;
    return api_->submit(ctx_, &w);
  }
  void event(vcp_side side, uint32_t res, std::string_view ns, std::string_view name, std::string_view type,
             std::string_view reason, std::string_view msg) const {
    api_->emit_event(ctx_, side, res, view(ns), view(name), view(type), view(reason), view(msg));
  }

 private:
  template <typename F>
  static int each_thunk(void* user, vcp_str object) {
    return (*static_cast<F*>(user))(std::string_view(object.ptr, object.len)) ? 1 : 0;
  }

  const vcp_host_api* api_;
  vcp_host_ctx* ctx_;
};

}  // namespace vcp_storage
