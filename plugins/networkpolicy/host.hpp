// A thin C++ face over the engine's host services table (vcp_host_api), as a third-party plugin would
// write it: every call crosses the C ABI, borrowed views are copied into std::string before the hook
// returns, and nothing here throws across the boundary on its own (allocation failure aside, which the
// hooks catch). Only the few services this plugin uses are here.
#pragma once

#include <vcp/plugin.h>

#include <optional>
#include <string>
#include <string_view>

namespace vcp_networkpolicy {

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

  // The host name of a namespaced virtual object (<name>-x-<ns>-x-<vcluster>, hashed when too long).
  std::string name(std::string_view ns, std::string_view name) const {
    return str(api_->translate_name(ctx_, VCP_NAME_NAMESPACED, view(ns), view(name)));
  }
  // The host key of a label of a namespaced virtual object: the key the pods plugin gives the same label
  // on a host pod, so a translated selector matches the host pods of the virtual pods it selected.
  std::string label_key(std::string_view key) const {
    return str(api_->translate_label_key(ctx_, 0, view(key)));
  }
  // The host key of a label under another prefix (ABI 1.1). on_init refuses an engine without the
  // service, so it is always there when a hook runs.
  std::string label_key_prefixed(std::string_view prefix, std::string_view key) const {
    return str(api_->translate_label_key_prefixed(ctx_, view(prefix), view(key)));
  }
  // The rendered config value, or nullopt when the engine does not know the key.
  std::optional<std::string> config(std::string_view path) const {
    vcp_str v{};
    if (!api_->config_get(ctx_, view(path), &v)) return std::nullopt;
    return str(v);
  }

 private:
  const vcp_host_api* api_;
  vcp_host_ctx* ctx_;
};

}  // namespace vcp_networkpolicy
