// Loading a sync plugin: dlopen a shared object, find its versioned entry symbol, and validate the
// descriptor it returns before the engine trusts any of it.
//
// Every refusal is one sentence naming the plugin, its file and the fix. A mismatch is refused, never
// warned about: the syncer writes to real clusters, so a plugin the engine does not fully understand must
// not run. The engine then works only from the validated C++ copy of the descriptor's tables
// (`LoadedPlugin::resources` and `config_keys`), which also hides the element stride of the plugin's tables
// (a plugin built against an older minor has smaller elements).
#pragma once
#include <vcp/plugin.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace vc::plugin {

// One resource a plugin declares, copied out of its `vcp_resource` table.
struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural, as in URLs
  std::string kind;
  bool namespaced = false;
  bool has_status = false;
  bool keep_on_delete = false;
  bool recreate_on_uid = false;  // VCP_RES_RECREATE_ON_UID
  bool uncached = false;         // VCP_RES_UNCACHED: watch without keeping the objects
  bool host_namespaces = false;  // VCP_RES_HOST_NAMESPACES: watched in the host namespaces the plugin names
  vcp_role role = VCP_ROLE_WATCH_VIRTUAL;
  vcp_name_mapping mapping = VCP_NAME_NAMESPACED;
  std::string label_selector;  // "" = all objects

  // "pods" for the core group, "apps/v1/deployments" otherwise: how logs and metrics name the resource.
  std::string gvr() const;
  // "pods" or "deployments.apps" (kubectl's spelling): ownership is per group and resource, whatever the
  // version, because two versions of one resource are the same objects on the API server.
  std::string group_resource() const;
  // True for VCP_ROLE_TO_HOST and VCP_ROLE_TO_VIRTUAL: the plugin writes the targets of this resource.
  bool owned() const { return role == VCP_ROLE_TO_HOST || role == VCP_ROLE_TO_VIRTUAL; }
};

// One values key a plugin reads, copied out of its `vcp_config_key` table.
struct ConfigKey {
  std::string path;  // "sync.nodes.syncAllNodes"
  vcp_config_type type = VCP_CONF_STRING;
  std::string default_value;  // YAML text; "" when the plugin gave none
  std::string description;
  std::vector<std::string> object_fields;  // VCP_CONF_OBJECT_LIST only: the allowed fields
};

// A plugin that passed every check of load_plugin. Move-only: it owns one dlopen reference, released with
// dlclose on destruction unless `unload_on_destroy` is false (useful when a process is about to exit and a
// plugin registered destructors that must not run after the engine's own state is gone).
struct LoadedPlugin {
  std::string path;
  void* handle = nullptr;
  const vcp_plugin* descriptor = nullptr;
  bool unload_on_destroy = true;

  // The validated copy of the descriptor.
  std::string name;
  std::string version;
  std::string description;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  std::vector<Resource> resources;  // same order as the plugin's table: hooks receive these indexes
  std::vector<ConfigKey> config_keys;

  LoadedPlugin() = default;
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;
  LoadedPlugin(LoadedPlugin&& other) noexcept;
  LoadedPlugin& operator=(LoadedPlugin&& other) noexcept;
  ~LoadedPlugin();

  // Releases the dlopen reference now (when unload_on_destroy is set) and empties the struct.
  void reset();
  // "plugin pods (/usr/lib/vcluster/plugins/libvcp-pods.so)": how every message names this plugin.
  std::string label() const;
};

// Loads the shared object at `path` with dlopen(RTLD_NOW | RTLD_LOCAL), calls `vcp_plugin_entry_v1` and
// validates the descriptor (see validate_descriptor). On success fills *out; on failure *out is untouched,
// the object is unloaded again, and the Error's message is one sentence naming the file and the fix.
Error load_plugin(const std::string& path, LoadedPlugin* out);

// Validates a descriptor and fills out->name/version/description/abi_*/resources/config_keys. `path` only
// names the plugin in messages. Split from load_plugin so that every validation rule can be tested on a
// descriptor built in memory; load_plugin is this plus dlopen, dlsym and the entry call.
Error validate_descriptor(const vcp_plugin* descriptor, const std::string& path, LoadedPlugin* out);

// Resolves a plugin given by name ("pods") or by path ("./libvcp-pods.so", "/x/y.so"). A value holding a
// '/' or ending in ".so" is a path and must exist; a name becomes `<dir>/libvcp-<name>.so` in each of
// `search_dirs` in order, the first existing file wins, and the error lists every path tried.
Error resolve_plugin(const std::string& name_or_path, const std::vector<std::string>& search_dirs,
                     std::string* path);

// Refuses a set of plugins that cannot run together: two plugins with the same name, or two plugins that
// both own (VCP_ROLE_TO_HOST / VCP_ROLE_TO_VIRTUAL) the same group and resource, whatever the version.
// WATCH roles never conflict: any number of plugins may read a resource.
Error check_conflicts(const std::vector<const LoadedPlugin*>& plugins);

// "VCP_ROLE_TO_HOST", ... for messages and `vcluster plugins list`; "unknown" outside the enum.
const char* role_name(vcp_role role);
const char* mapping_name(vcp_name_mapping mapping);
const char* config_type_name(vcp_config_type type);

}  // namespace vc::plugin
