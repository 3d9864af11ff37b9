#include "plugin/instance.hpp"

#include <fmt/format.h>

#include <exception>
#include <utility>

#include "util/log.hpp"

namespace vc::plugin {
namespace {

// A set_error message is a sentence of its own; dropping its final period lets it sit inside ours.
std::string clause(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

const char* hook_name(Hook hook) {
  switch (hook) {
    case Hook::kInit:
      return "on_init";
    case Hook::kShutdown:
      return "on_shutdown";
    case Hook::kSync:
      return "on_sync";
    case Hook::kBackSync:
      return "on_back_sync";
    case Hook::kDelete:
      return "on_delete";
    case Hook::kWatchEvent:
      return "on_watch_event";
    case Hook::kCache:
      return "on_cache";
  }
  return "unknown hook";
}

Instance::Instance(LoadedPlugin plugin) : plugin_(std::move(plugin)) {}

Instance::~Instance() {
  call_shutdown();
}

void Instance::quarantine(std::string reason) {
  if (quarantined_) {
    return;
  }
  quarantined_ = true;
  quarantine_reason_ = std::move(reason);
  vc::log().error("{}", quarantine_reason_);
}

template <typename Fn>
vcp_status Instance::guarded(Hook hook, Fn&& fn) {
  if (plugin_.descriptor == nullptr) {
    last_error_ =
        "this plugin instance holds no loaded plugin; construct it from a LoadedPlugin that load_plugin "
        "filled";
    return VCP_ERROR;
  }
  if (quarantined_) {
    ++calls_refused_;
    last_error_ = quarantine_reason_;
    return VCP_ERROR;
  }
  if (shut_down_) {
    last_error_ = fmt::format(
        "plugin {} was called ({}) after on_shutdown; the engine must not call a plugin it "
        "has shut down",
        plugin_.name, hook_name(hook));
    return VCP_ERROR;
  }
  if (!initialized_ && hook != Hook::kInit) {
    last_error_ = fmt::format(
        "plugin {} was called ({}) before on_init succeeded; the engine must initialise a "
        "plugin before syncing with it",
        plugin_.name, hook_name(hook));
    return VCP_ERROR;
  }
  last_error_.clear();
  ++calls_[static_cast<std::size_t>(hook)];
  // The status is taken as an int: a C plugin can return any int through a C enum, and a value outside
  // vcp_status must be seen (and quarantined) rather than switched on.
  int raw = 0;
  try {
    raw = fn();
  } catch (const std::exception& ex) {
    quarantine(fmt::format("plugin {} threw an exception from {}: {}; its resources stop syncing",
                           plugin_.name, hook_name(hook), ex.what()));
    return VCP_ERROR;
  } catch (...) {
    quarantine(
        fmt::format("plugin {} threw an exception that is not a std::exception from {}; its resources stop "
                    "syncing",
                    plugin_.name, hook_name(hook)));
    return VCP_ERROR;
  }
  if (raw < VCP_OK || raw > VCP_ERROR) {
    quarantine(fmt::format("plugin {} returned the unknown status {} from {}; its resources stop syncing",
                           plugin_.name, raw, hook_name(hook)));
    return VCP_ERROR;
  }
  const auto status = static_cast<vcp_status>(raw);
  if (status == VCP_ERROR) {
    if (last_error_.empty()) {
      quarantine(
          fmt::format("plugin {} returned VCP_ERROR from {} without calling set_error; its resources stop "
                      "syncing",
                      plugin_.name, hook_name(hook)));
    } else {
      quarantine(fmt::format("plugin {} returned VCP_ERROR from {}: {}; its resources stop syncing",
                             plugin_.name, hook_name(hook), clause(last_error_)));
    }
  }
  return status;
}

vcp_status Instance::call_init(const vcp_host_api* host, vcp_host_ctx* ctx) {
  if (initialized_) {
    last_error_ = fmt::format("plugin {} is already initialised; on_init is called once", plugin_.name);
    return VCP_ERROR;
  }
  const vcp_plugin* d = plugin_.descriptor;
  vcp_status s = guarded(Hook::kInit, [&] { return static_cast<int>(d->on_init(host, ctx, &state_)); });
  if (s == VCP_OK) {
    initialized_ = true;
  } else if (!quarantined_) {
    // The header allows only VCP_OK or VCP_ERROR here; "retry" or "skip" from on_init would leave the
    // plugin half-started, so it is treated as a refusal to start.
    quarantine(
        fmt::format("plugin {} returned {} from on_init, which allows only VCP_OK or VCP_ERROR; its "
                    "resources stop syncing",
                    plugin_.name, vcp_status_name(s)));
    s = VCP_ERROR;
  }
  return s;
}

void Instance::call_shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  const vcp_plugin* d = plugin_.descriptor;
  if (!initialized_ || d == nullptr || d->on_shutdown == nullptr) {
    return;
  }
  ++calls_[static_cast<std::size_t>(Hook::kShutdown)];
  try {
    d->on_shutdown(state_);
  } catch (const std::exception& ex) {
    quarantine(fmt::format("plugin {} threw an exception from on_shutdown: {}; its resources stop syncing",
                           plugin_.name, ex.what()));
  } catch (...) {
    quarantine(
        fmt::format("plugin {} threw an exception that is not a std::exception from on_shutdown; its "
                    "resources stop syncing",
                    plugin_.name));
  }
  state_ = nullptr;
}

vcp_status Instance::call_sync(const vcp_sync_args& args, vcp_buf* out) {
  const vcp_plugin* d = plugin_.descriptor;
  return guarded(Hook::kSync, [&] {
    return d->on_sync == nullptr ? static_cast<int>(VCP_SKIP)
                                 : static_cast<int>(d->on_sync(state_, &args, out));
  });
}

vcp_status Instance::call_back_sync(const vcp_sync_args& args, vcp_buf* out) {
  const vcp_plugin* d = plugin_.descriptor;
  return guarded(Hook::kBackSync, [&] {
    return d->on_back_sync == nullptr ? static_cast<int>(VCP_NO_CHANGE)
                                      : static_cast<int>(d->on_back_sync(state_, &args, out));
  });
}

vcp_status Instance::call_delete(const vcp_sync_args& args, vcp_buf* out) {
  const vcp_plugin* d = plugin_.descriptor;
  return guarded(Hook::kDelete, [&] {
    return d->on_delete == nullptr ? static_cast<int>(VCP_OK)
                                   : static_cast<int>(d->on_delete(state_, &args, out));
  });
}

vcp_status Instance::call_watch_event(const vcp_event& event) {
  const vcp_plugin* d = plugin_.descriptor;
  return guarded(Hook::kWatchEvent, [&] {
    if (d->on_watch_event != nullptr) {
      d->on_watch_event(state_, &event);
    }
    return static_cast<int>(VCP_OK);
  });
}

bool Instance::has_cache_hook() const {
  const vcp_plugin* d = plugin_.descriptor;
  return d != nullptr && plugin_.abi_minor >= 3 && VCP_HAS_FIELD(d, vcp_plugin, on_cache) &&
         d->on_cache != nullptr;
}

vcp_status Instance::call_cache(vcp_side side, uint32_t resource, vcp_str object, vcp_buf* out) {
  const vcp_plugin* d = plugin_.descriptor;
  if (!has_cache_hook()) return VCP_SKIP;
  return guarded(Hook::kCache,
                 [&] { return static_cast<int>(d->on_cache(state_, side, resource, object, out)); });
}

}  // namespace vc::plugin
