// A loaded plugin as the engine calls it: every hook call goes through here, so that a broken plugin is
// quarantined (its resources stop syncing) while the engine keeps syncing everything else.
//
// Why `catch (...)` works at all: hooks are C function pointers, but a C++ plugin's hooks are C++ code
// behind `extern "C"`. GCC compiles C++ with unwind tables and does not make `extern "C"` functions
// noexcept, so an exception that escapes a hook unwinds through the call below into our catch handler; the
// exception's type info comes from the one libstdc++ both sides share, so `catch (const std::exception&)`
// matches a plugin's std::runtime_error. Plugins written in C (compiled without -fexceptions) never throw.
// Catching is a last resort the ABI documents, not a contract: a hook that throws leaves its own state in an
// unknown shape, which is exactly why the instance is quarantined instead of called again.
#pragma once
#include <vcp/plugin.h>

#include <array>
#include <cstdint>
#include <string>

#include "plugin/loader.hpp"

namespace vc::plugin {

enum class Hook : uint8_t { kInit = 0, kShutdown, kSync, kBackSync, kDelete, kWatchEvent, kCache };
inline constexpr std::size_t kHookCount = 7;

// "on_init", "on_sync", ... as the ABI spells them, for messages.
const char* hook_name(Hook hook);

class Instance {
 public:
  // Takes ownership of the loaded plugin. An Instance is neither copied nor moved: the engine's
  // vcp_host_ctx points at it for the plugin's lifetime, so its address must not change.
  explicit Instance(LoadedPlugin plugin);
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  // Calls on_shutdown if the engine has not (see call_shutdown), then unloads the plugin.
  ~Instance();

  const LoadedPlugin& plugin() const { return plugin_; }
  const std::string& name() const { return plugin_.name; }

  // on_init. Any status but VCP_OK quarantines: the header allows only VCP_OK or VCP_ERROR (refusing to
  // start), and a plugin that did not start must not be called again. Calling it twice returns VCP_ERROR.
  vcp_status call_init(const vcp_host_api* host, vcp_host_ctx* ctx);
  // on_shutdown, at most once, and only when on_init returned VCP_OK: it frees the state on_init made, so
  // it runs even for a plugin quarantined later (the plugin must cope with state a failed hook left).
  void call_shutdown();

  // The sync hooks. Each returns the plugin's status, or VCP_ERROR without calling the plugin when it is
  // quarantined, not yet initialised or already shut down (last_error() then says which). A hook the
  // plugin left NULL answers with the ABI's default: on_sync VCP_SKIP (the engine only asks plugins that
  // own the resource, and those must have on_sync), on_back_sync VCP_NO_CHANGE, on_delete VCP_OK (delete
  // with defaults), on_watch_event VCP_OK.
  vcp_status call_sync(const vcp_sync_args& args, vcp_buf* out);
  vcp_status call_back_sync(const vcp_sync_args& args, vcp_buf* out);
  vcp_status call_delete(const vcp_sync_args& args, vcp_buf* out);
  vcp_status call_watch_event(const vcp_event& event);
  // on_cache (ABI 1.3): VCP_SKIP, without calling the plugin, when it has no such hook (a plugin built
  // before 1.3 has no such field).
  vcp_status call_cache(vcp_side side, uint32_t resource, vcp_str object, vcp_buf* out);
  bool has_cache_hook() const;

  // The sentence a plugin attached to the current hook's result through the host's `set_error` service.
  // The engine's set_error implementation stores it here; it is cleared at the start of every call, so it
  // always belongs to the latest hook (the engine reads it after VCP_REFUSED or VCP_RETRY).
  void set_last_error(std::string message) { last_error_ = std::move(message); }
  const std::string& last_error() const { return last_error_; }

  bool quarantined() const { return quarantined_; }
  // One sentence naming the plugin, the hook and the cause; empty while healthy.
  const std::string& quarantine_reason() const { return quarantine_reason_; }
  bool initialized() const { return initialized_; }

  // How many times each hook reached the plugin (calls refused because of quarantine are not counted).
  uint64_t calls(Hook hook) const { return calls_[static_cast<std::size_t>(hook)]; }
  // How many calls were answered with VCP_ERROR without reaching the plugin, because it was quarantined.
  uint64_t calls_refused() const { return calls_refused_; }

 private:
  template <typename Fn>
  vcp_status guarded(Hook hook, Fn&& fn);
  void quarantine(std::string reason);

  LoadedPlugin plugin_;
  void* state_ = nullptr;
  bool initialized_ = false;
  bool shut_down_ = false;
  bool quarantined_ = false;
  std::string quarantine_reason_;
  std::string last_error_;
  std::array<uint64_t, kHookCount> calls_{};
  uint64_t calls_refused_ = 0;
};

}  // namespace vc::plugin
