#include "plugin/loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

namespace vc::plugin {
namespace {

// The sizes of the structs as ABI 1.0 defined them. They are frozen: a later minor appends fields, so a
// plugin built against 1.0 still declares these sizes and a newer engine must accept them. The static
// asserts hold while this engine speaks 1.0; when a minor appends a field they must be left alone.
constexpr std::size_t kPluginHeaderSize = offsetof(vcp_plugin, abi_minor) + sizeof(uint32_t);
constexpr std::size_t kPluginNameEnd = offsetof(vcp_plugin, name) + sizeof(const char*);
constexpr std::size_t kPluginSizeV1_0 = offsetof(vcp_plugin, on_watch_event) + sizeof(void*);
constexpr std::size_t kResourceSizeV1_0 = offsetof(vcp_resource, label_selector) + sizeof(const char*);
constexpr std::size_t kConfigKeySizeV1_0 = offsetof(vcp_config_key, object_fields) + sizeof(const char*);
static_assert(VCP_ABI_MINOR != 0 || kPluginSizeV1_0 == sizeof(vcp_plugin),
              "vcp_plugin grew without a minor bump");
static_assert(VCP_ABI_MINOR != 0 || kResourceSizeV1_0 == sizeof(vcp_resource), "vcp_resource grew");
static_assert(VCP_ABI_MINOR != 0 || kConfigKeySizeV1_0 == sizeof(vcp_config_key), "vcp_config_key grew");

// A bound on table lengths. No plugin needs more; an uninitialised count would otherwise send the
// validator reading far past the end of the plugin's static data.
constexpr uint32_t kMaxTableLength = 256;

constexpr uint32_t kKnownResourceFlags = VCP_RES_NAMESPACED | VCP_RES_STATUS | VCP_RES_KEEP_ON_DELETE |
                                         VCP_RES_RECREATE_ON_UID | VCP_RES_UNCACHED | VCP_RES_HOST_NAMESPACES;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// Plugin names are used in file names (libvcp-<name>.so), log tags and metric labels, so they follow the
// DNS-label rule Kubernetes uses for names: [a-z0-9-], at most 63 characters, alphanumeric at both ends.
bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') {
    return false;
  }
  for (char c : name) {
    if (!is_lower_alnum(c) && c != '-') {
      return false;
    }
  }
  return true;
}

// An API group is a DNS subdomain ("apps", "networking.k8s.io"); "" is the core group.
bool valid_group(std::string_view group) {
  for (char c : group) {
    if (!is_lower_alnum(c) && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// Versions ("v1", "v1beta1") and plural resource names ("pods", "csistoragecapacities") are lowercase
// alphanumerics: they become URL path segments, so anything else would change the request.
bool valid_lower_word(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!is_lower_alnum(c)) {
      return false;
    }
  }
  return true;
}

// Kinds are CamelCase identifiers ("Pod", "PersistentVolumeClaim").
bool valid_kind(std::string_view s) {
  if (s.empty() || !(s.front() >= 'A' && s.front() <= 'Z')) {
    return false;
  }
  for (char c : s) {
    if (!is_alnum(c)) {
      return false;
    }
  }
  return true;
}

// A values path is dot-separated keys of [A-Za-z0-9_-] ("sync.nodes.syncAllNodes").
bool valid_config_path(std::string_view path) {
  if (path.empty() || path.front() == '.' || path.back() == '.') {
    return false;
  }
  char prev = 0;
  for (char c : path) {
    if (c == '.' && prev == '.') {
      return false;
    }
    if (!is_alnum(c) && c != '_' && c != '-' && c != '.') {
      return false;
    }
    prev = c;
  }
  return true;
}

bool known_role(uint32_t role) {
  return role >= VCP_ROLE_TO_HOST && role <= VCP_ROLE_WATCH_HOST;
}
bool known_mapping(uint32_t m) {
  return m <= VCP_NAME_SAME;
}
bool known_config_type(uint32_t t) {
  return t <= VCP_CONF_STRING_MAP;
}

std::vector<std::string> split_fields(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      comma = s.size();
    }
    std::string_view field = s.substr(start, comma - start);
    while (!field.empty() && field.front() == ' ') {
      field.remove_prefix(1);
    }
    while (!field.empty() && field.back() == ' ') {
      field.remove_suffix(1);
    }
    if (!field.empty()) {
      out.emplace_back(field);
    }
    start = comma + 1;
  }
  return out;
}

Error refuse(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

std::string missing_file_message(const std::string& path) {
  return fmt::format("plugin file {} does not exist; check the path, or build the plugin first", path);
}

// How a message names a plugin: by its name once that name is known to be sane, else by its file only.
std::string who(const std::string& name, const std::string& path) {
  if (name.empty()) {
    return fmt::format("plugin file {}", path);
  }
  return fmt::format("plugin {} ({})", name, path);
}

// Reads element `i` of a plugin table whose elements are `stride` bytes apart. The stride is the plugin's
// own struct_size, not our sizeof: a plugin built against an older minor has smaller elements.
template <typename T>
const T* element(const T* table, uint32_t stride, uint32_t i) {
  return reinterpret_cast<const T*>(reinterpret_cast<const char*>(table) + std::size_t{stride} * i);
}

Error copy_resources(const vcp_plugin* d, const std::string& me, LoadedPlugin* out) {
  if (d->resource_count == 0) {
    return refuse(
        fmt::format("{} declares no resources; a plugin must own or watch at least one resource (set "
                    "vcp_plugin.resources "
                    "and resource_count)",
                    me));
  }
  if (d->resources == nullptr) {
    return refuse(fmt::format(
        "{} declares {} resources but its resource table is NULL; point vcp_plugin.resources at a static "
        "vcp_resource array",
        me, d->resource_count));
  }
  if (d->resource_count > kMaxTableLength) {
    return refuse(
        fmt::format("{} declares {} resources, more than the {} a plugin may declare; check resource_count",
                    me, d->resource_count, kMaxTableLength));
  }
  const uint32_t stride = d->resources[0].struct_size;
  for (uint32_t i = 0; i < d->resource_count; ++i) {
    const vcp_resource* r = element(d->resources, stride >= kResourceSizeV1_0 ? stride : 0, i);
    if (r->struct_size < kResourceSizeV1_0 || r->struct_size != stride) {
      return refuse(fmt::format(
          "{} resource #{} declares struct_size {}, expected {} or more and the same in every entry; set "
          "struct_size = sizeof(vcp_resource) in each entry",
          me, i, r->struct_size, kResourceSizeV1_0));
    }
    // A NULL group is the core group, so that designated initialisers may leave it out; every other
    // string is required because the engine builds URLs and object kinds from it.
    Resource res;
    res.group = r->group == nullptr ? "" : r->group;
    const char* field = nullptr;
    std::string_view value;
    if (r->version == nullptr || *r->version == 0) {
      field = "version";
    } else if (r->resource == nullptr || *r->resource == 0) {
      field = "resource";
    } else if (r->kind == nullptr || *r->kind == 0) {
      field = "kind";
    }
    std::string named = (r->resource != nullptr && *r->resource != 0)
                            ? fmt::format("resource #{} ({})", i, r->resource)
                            : fmt::format("resource #{}", i);
    if (field != nullptr) {
      return refuse(
          fmt::format("{} {} has an empty {}; set version, resource and kind (and group, \"\" for the core "
                      "group) in every "
                      "entry",
                      me, named, field));
    }
    res.version = r->version;
    res.resource = r->resource;
    res.kind = r->kind;
    if (!valid_group(res.group)) {
      field = "group", value = res.group;
    } else if (!valid_lower_word(res.version)) {
      field = "version", value = res.version;
    } else if (!valid_lower_word(res.resource)) {
      field = "resource", value = res.resource;
    } else if (!valid_kind(res.kind)) {
      field = "kind", value = res.kind;
    }
    if (field != nullptr) {
      return refuse(
          fmt::format("{} {} has the invalid {} \"{}\"; spell it as the API server does (group a DNS "
                      "subdomain, version and "
                      "resource lowercase alphanumerics, kind CamelCase)",
                      me, named, field, value));
    }
    if ((r->flags & ~kKnownResourceFlags) != 0) {
      return refuse(
          fmt::format("{} {} sets unknown flags 0x{:x}; use only VCP_RES_NAMESPACED, VCP_RES_STATUS, "
                      "VCP_RES_KEEP_ON_DELETE, VCP_RES_RECREATE_ON_UID, VCP_RES_UNCACHED and "
                      "VCP_RES_HOST_NAMESPACES",
                      me, named, r->flags & ~kKnownResourceFlags));
    }
    if (!known_role(r->role)) {
      return refuse(
          fmt::format("{} {} has the unknown role {}; use VCP_ROLE_TO_HOST, VCP_ROLE_TO_VIRTUAL, "
                      "VCP_ROLE_WATCH_VIRTUAL or "
                      "VCP_ROLE_WATCH_HOST",
                      me, named, r->role));
    }
    res.namespaced = (r->flags & VCP_RES_NAMESPACED) != 0;
    res.has_status = (r->flags & VCP_RES_STATUS) != 0;
    res.keep_on_delete = (r->flags & VCP_RES_KEEP_ON_DELETE) != 0;
    res.recreate_on_uid = (r->flags & VCP_RES_RECREATE_ON_UID) != 0;
    res.uncached = (r->flags & VCP_RES_UNCACHED) != 0;
    res.host_namespaces = (r->flags & VCP_RES_HOST_NAMESPACES) != 0;
    res.role = static_cast<vcp_role>(r->role);
    // Reading the host outside the vcluster's namespace is allowed for Services only: they hold no secrets,
    // and they are all mapServices.fromHost needs. Anything wider would let a plugin read other tenants.
    if (res.host_namespaces && (res.role != VCP_ROLE_WATCH_HOST || !res.group.empty() ||
                                res.resource != "services" || !res.namespaced)) {
      return refuse(
          fmt::format("{} {} sets VCP_RES_HOST_NAMESPACES, which only a VCP_ROLE_WATCH_HOST entry of the "
                      "core group's namespaced services may set; other host namespaces are readable for "
                      "Services only",
                      me, named));
    }
    if (res.uncached && res.owned()) {
      return refuse(
          fmt::format("{} {} sets VCP_RES_UNCACHED on a resource it owns; the engine needs the cache "
                      "of an owned resource to compare and to find orphans, so use it only with "
                      "VCP_ROLE_WATCH_VIRTUAL or VCP_ROLE_WATCH_HOST",
                      me, named));
    }
    res.label_selector = r->label_selector == nullptr ? "" : r->label_selector;
    // The mapping only matters for resources the plugin writes; the header says it is ignored for WATCH
    // roles, so a WATCH entry is not refused for leaving it at an odd value.
    if (res.owned()) {
      if (!known_mapping(r->name_mapping)) {
        return refuse(
            fmt::format("{} {} has the unknown name mapping {}; use VCP_NAME_NAMESPACED, VCP_NAME_CLUSTER or "
                        "VCP_NAME_SAME",
                        me, named, r->name_mapping));
      }
      res.mapping = static_cast<vcp_name_mapping>(r->name_mapping);
      if (res.mapping == VCP_NAME_NAMESPACED && !res.namespaced) {
        return refuse(
            fmt::format("{} {} is cluster-scoped but uses VCP_NAME_NAMESPACED, which needs a namespace; use "
                        "VCP_NAME_CLUSTER "
                        "or VCP_NAME_SAME, or set VCP_RES_NAMESPACED",
                        me, named));
      }
    } else if (known_mapping(r->name_mapping)) {
      res.mapping = static_cast<vcp_name_mapping>(r->name_mapping);
    }
    // Hooks and events carry an index into this table, so one group/resource must not hide behind two
    // indexes: an owned resource is already cached on both sides, and a WATCH role is one cache.
    for (uint32_t j = 0; j < out->resources.size(); ++j) {
      const Resource& prev = out->resources[j];
      if (prev.group != res.group || prev.resource != res.resource) {
        continue;
      }
      // A watch of other host namespaces is a cache of its own, beside an owned entry's host-namespace one.
      if (prev.host_namespaces != res.host_namespaces) {
        continue;
      }
      if (prev.owned() || res.owned()) {
        return refuse(fmt::format(
            "{} declares {} twice (resources #{} and #{}) and owns it in one of them; an owned resource is "
            "cached on both sides already, so declare it once",
            me, res.group_resource(), j, i));
      }
      if (prev.role == res.role) {
        return refuse(fmt::format("{} declares {} with {} twice (resources #{} and #{}); declare it once", me,
                                  res.group_resource(), role_name(res.role), j, i));
      }
    }
    out->resources.push_back(std::move(res));
  }
  return {};
}

Error copy_config_keys(const vcp_plugin* d, const std::string& me, LoadedPlugin* out) {
  if (d->config_key_count == 0) {
    return {};
  }
  if (d->config_keys == nullptr) {
    return refuse(
        fmt::format("{} declares {} config keys but its config key table is NULL; point "
                    "vcp_plugin.config_keys at a static "
                    "vcp_config_key array or set config_key_count to 0",
                    me, d->config_key_count));
  }
  if (d->config_key_count > kMaxTableLength) {
    return refuse(
        fmt::format("{} declares {} config keys, more than the {} a plugin may declare; check "
                    "config_key_count",
                    me, d->config_key_count, kMaxTableLength));
  }
  const uint32_t stride = d->config_keys[0].struct_size;
  for (uint32_t i = 0; i < d->config_key_count; ++i) {
    const vcp_config_key* k = element(d->config_keys, stride >= kConfigKeySizeV1_0 ? stride : 0, i);
    if (k->struct_size < kConfigKeySizeV1_0 || k->struct_size != stride) {
      return refuse(fmt::format(
          "{} config key #{} declares struct_size {}, expected {} or more and the same in every entry; set "
          "struct_size = sizeof(vcp_config_key) in each entry",
          me, i, k->struct_size, kConfigKeySizeV1_0));
    }
    if (k->path == nullptr) {
      return refuse(fmt::format(
          "{} config key #{} has a NULL path; set its full values path, e.g. \"sync.nodes.syncAllNodes\"", me,
          i));
    }
    ConfigKey key;
    key.path = k->path;
    if (!valid_config_path(key.path)) {
      return refuse(
          fmt::format("{} config key #{} has the invalid path \"{}\"; a values path is dot-separated keys of "
                      "[A-Za-z0-9_-]",
                      me, i, key.path));
    }
    if (!known_config_type(k->type)) {
      return refuse(fmt::format(
          "{} config key #{} ({}) has the unknown type {}; use VCP_CONF_BOOL, VCP_CONF_INT, VCP_CONF_STRING, "
          "VCP_CONF_STRING_LIST, VCP_CONF_OBJECT_LIST or VCP_CONF_STRING_MAP",
          me, i, key.path, k->type));
    }
    key.type = static_cast<vcp_config_type>(k->type);
    key.default_value = k->default_value == nullptr ? "" : k->default_value;
    key.description = k->description == nullptr ? "" : k->description;
    if (key.type == VCP_CONF_OBJECT_LIST) {
      key.object_fields = split_fields(k->object_fields == nullptr ? "" : k->object_fields);
      if (key.object_fields.empty()) {
        return refuse(
            fmt::format("{} config key #{} ({}) is a VCP_CONF_OBJECT_LIST without object_fields; list its "
                        "allowed fields, "
                        "e.g. \"from,to\"",
                        me, i, key.path));
      }
    }
    for (uint32_t j = 0; j < out->config_keys.size(); ++j) {
      if (out->config_keys[j].path == key.path) {
        return refuse(fmt::format("{} declares config key {} twice (#{} and #{}); declare each key once", me,
                                  key.path, j, i));
      }
    }
    out->config_keys.push_back(std::move(key));
  }
  return {};
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::string Resource::gvr() const {
  if (group.empty()) {
    return resource;
  }
  return group + "/" + version + "/" + resource;
}

std::string Resource::group_resource() const {
  if (group.empty()) {
    return resource;
  }
  return resource + "." + group;
}

LoadedPlugin::LoadedPlugin(LoadedPlugin&& other) noexcept {
  *this = std::move(other);
}

LoadedPlugin& LoadedPlugin::operator=(LoadedPlugin&& other) noexcept {
  if (this != &other) {
    reset();
    path = std::move(other.path);
    handle = std::exchange(other.handle, nullptr);
    descriptor = std::exchange(other.descriptor, nullptr);
    unload_on_destroy = other.unload_on_destroy;
    name = std::move(other.name);
    version = std::move(other.version);
    description = std::move(other.description);
    abi_major = other.abi_major;
    abi_minor = other.abi_minor;
    resources = std::move(other.resources);
    config_keys = std::move(other.config_keys);
    other.reset();
  }
  return *this;
}

LoadedPlugin::~LoadedPlugin() {
  reset();
}

void LoadedPlugin::reset() {
  if (handle != nullptr && unload_on_destroy) {
    ::dlclose(handle);
  }
  handle = nullptr;
  descriptor = nullptr;
  path.clear();
  name.clear();
  version.clear();
  description.clear();
  abi_major = abi_minor = 0;
  resources.clear();
  config_keys.clear();
}

std::string LoadedPlugin::label() const {
  return who(name, path);
}

const char* role_name(vcp_role role) {
  switch (role) {
    case VCP_ROLE_TO_HOST:
      return "VCP_ROLE_TO_HOST";
    case VCP_ROLE_TO_VIRTUAL:
      return "VCP_ROLE_TO_VIRTUAL";
    case VCP_ROLE_WATCH_VIRTUAL:
      return "VCP_ROLE_WATCH_VIRTUAL";
    case VCP_ROLE_WATCH_HOST:
      return "VCP_ROLE_WATCH_HOST";
  }
  return "unknown";
}

const char* mapping_name(vcp_name_mapping mapping) {
  switch (mapping) {
    case VCP_NAME_NAMESPACED:
      return "VCP_NAME_NAMESPACED";
    case VCP_NAME_CLUSTER:
      return "VCP_NAME_CLUSTER";
    case VCP_NAME_SAME:
      return "VCP_NAME_SAME";
  }
  return "unknown";
}

const char* config_type_name(vcp_config_type type) {
  switch (type) {
    case VCP_CONF_BOOL:
      return "bool";
    case VCP_CONF_INT:
      return "int";
    case VCP_CONF_STRING:
      return "string";
    case VCP_CONF_STRING_LIST:
      return "string list";
    case VCP_CONF_OBJECT_LIST:
      return "object list";
    case VCP_CONF_STRING_MAP:
      return "string map";
  }
  return "unknown";
}

Error validate_descriptor(const vcp_plugin* d, const std::string& path, LoadedPlugin* out) {
  if (d == nullptr) {
    return refuse(fmt::format(
        "plugin file {} returned no descriptor from vcp_plugin_entry_v1; the entry function must return a "
        "pointer to a static vcp_plugin",
        path));
  }
  // The first four fields (struct_size, abi_major, abi_minor, name) keep their place in every major so
  // that a refusal can name the plugin and both versions. Anything past them is read only after the
  // versions and the size say the layout is the one this engine knows.
  std::string name;
  if (d->struct_size >= kPluginNameEnd && d->name != nullptr && valid_plugin_name(d->name)) {
    name = d->name;
  }
  const std::string me = who(name, path);
  if (d->struct_size < kPluginHeaderSize) {
    return refuse(
        fmt::format("{} declares a vcp_plugin of {} bytes, smaller than the {} bytes of plugin ABI {}.0; set "
                    "struct_size = "
                    "sizeof(vcp_plugin) and rebuild the plugin against vcp/plugin.h {}.x",
                    me, d->struct_size, kPluginSizeV1_0, VCP_ABI_MAJOR, VCP_ABI_MAJOR));
  }
  if (d->abi_major != VCP_ABI_MAJOR) {
    return refuse(
        fmt::format("{} was built for plugin ABI {}.{} but this syncer speaks {}.{}; rebuild the plugin "
                    "against vcp/plugin.h "
                    "{}.x",
                    me, d->abi_major, d->abi_minor, VCP_ABI_MAJOR, VCP_ABI_MINOR, VCP_ABI_MAJOR));
  }
  if (d->abi_minor > VCP_ABI_MINOR) {
    return refuse(fmt::format(
        "{} needs ABI {}.{}, this syncer provides {}.{}; upgrade the syncer or rebuild the plugin against "
        "vcp/plugin.h {}.{}",
        me, d->abi_major, d->abi_minor, VCP_ABI_MAJOR, VCP_ABI_MINOR, VCP_ABI_MAJOR, VCP_ABI_MINOR));
  }
  if (d->struct_size < kPluginSizeV1_0) {
    return refuse(
        fmt::format("{} declares a vcp_plugin of {} bytes, smaller than the {} bytes of plugin ABI {}.0; set "
                    "struct_size = "
                    "sizeof(vcp_plugin) and rebuild the plugin against vcp/plugin.h {}.x",
                    me, d->struct_size, kPluginSizeV1_0, VCP_ABI_MAJOR, VCP_ABI_MAJOR));
  }
  if (d->name == nullptr) {
    return refuse(fmt::format(
        "{} declares no name; set vcp_plugin.name to a short name of [a-z0-9-], e.g. \"pods\"", me));
  }
  if (name.empty()) {
    return refuse(
        fmt::format("{} declares the invalid name \"{}\"; a plugin name is 1 to 63 characters of [a-z0-9-] "
                    "that start and "
                    "end with a letter or digit",
                    me, d->name));
  }
  if (d->version == nullptr || *d->version == 0) {
    return refuse(fmt::format("{} declares no version; set vcp_plugin.version, e.g. \"1.0.0\"", me));
  }

  LoadedPlugin tmp;
  tmp.name = name;
  tmp.version = d->version;
  tmp.description = d->description == nullptr ? "" : d->description;
  tmp.abi_major = d->abi_major;
  tmp.abi_minor = d->abi_minor;
  if (Error e = copy_resources(d, me, &tmp)) {
    return e;
  }
  if (Error e = copy_config_keys(d, me, &tmp)) {
    return e;
  }
  // Without on_init a plugin never receives the host table, so it could not even write a result.
  if (d->on_init == nullptr) {
    return refuse(fmt::format(
        "{} has no on_init hook; every plugin needs on_init to receive the host services table", me));
  }
  for (const Resource& r : tmp.resources) {
    if (r.owned() && d->on_sync == nullptr) {
      return refuse(
          fmt::format("{} owns {} ({}) but has no on_sync hook; implement on_sync or declare the resource "
                      "with a WATCH role",
                      me, r.group_resource(), role_name(r.role)));
    }
  }
  out->name = std::move(tmp.name);
  out->version = std::move(tmp.version);
  out->description = std::move(tmp.description);
  out->abi_major = tmp.abi_major;
  out->abi_minor = tmp.abi_minor;
  out->resources = std::move(tmp.resources);
  out->config_keys = std::move(tmp.config_keys);
  out->descriptor = d;
  return {};
}

Error load_plugin(const std::string& path, LoadedPlugin* out) {
  if (path.empty()) {
    return refuse("no plugin file was given; pass the path of the plugin's .so file");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return Error(ErrorKind::kIo, missing_file_message(path), err);
    }
    return Error(
        ErrorKind::kIo,
        fmt::format("plugin file {} cannot be read: {}; check its permissions", path, std::strerror(err)),
        err);
  }
  if (!S_ISREG(st.st_mode)) {
    return Error(
        ErrorKind::kIo,
        fmt::format("plugin file {} is not a regular file; pass the path of the plugin's .so file", path));
  }
  // dlopen(3) searches the library path for a name without a slash, which could load a different file
  // than the one we just checked; "./" pins it to the file itself.
  const std::string open_path = path.find('/') == std::string::npos ? "./" + path : path;
  // RTLD_NOW: an unresolved symbol fails here, with a message, rather than crash in the first hook call.
  // RTLD_LOCAL: every plugin exports vcp_plugin_entry_v1, so their symbols must not be global.
  ::dlerror();
  void* handle = ::dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Error(ErrorKind::kIo,
                 fmt::format("plugin file {} could not be loaded: {}; check that it is a shared "
                             "object built for this platform and that its dependencies are installed",
                             path, why != nullptr ? why : "unknown dlopen error"));
  }
  // dlsym(3): a symbol's value may legitimately be NULL, so failure is told by dlerror, not by the result.
  ::dlerror();
  void* sym = ::dlsym(handle, VCP_ENTRY_SYMBOL);
  if (sym == nullptr || ::dlerror() != nullptr) {
    ::dlclose(handle);
    return refuse(
        fmt::format("plugin file {} does not export {}; was it built against vcp/plugin.h {}.x with "
                    "VCP_EXPORT on its entry "
                    "function?",
                    path, VCP_ENTRY_SYMBOL, VCP_ABI_MAJOR));
  }
  auto entry = reinterpret_cast<vcp_plugin_entry_v1_fn>(sym);
  const vcp_plugin* d = nullptr;
  // A C++ plugin may throw from its entry function; it is not noexcept, so the exception reaches us (see
  // instance.hpp) and becomes a refusal instead of terminating the syncer.
  try {
    d = entry();
  } catch (const std::exception& ex) {
    ::dlclose(handle);
    return refuse(fmt::format("plugin file {} threw an exception from {}: {}; fix the plugin", path,
                              VCP_ENTRY_SYMBOL, ex.what()));
  } catch (...) {
    ::dlclose(handle);
    return refuse(
        fmt::format("plugin file {} threw an exception from {}; fix the plugin", path, VCP_ENTRY_SYMBOL));
  }
  LoadedPlugin tmp;
  if (Error e = validate_descriptor(d, path, &tmp)) {
    ::dlclose(handle);
    return e;
  }
  tmp.path = path;
  tmp.handle = handle;
  *out = std::move(tmp);
  return {};
}

Error resolve_plugin(const std::string& name_or_path, const std::vector<std::string>& search_dirs,
                     std::string* path) {
  if (name_or_path.empty()) {
    return refuse("no plugin was given; pass a plugin name such as pods or the path of its .so file");
  }
  const bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                               (name_or_path.size() > 3 && name_or_path.ends_with(".so"));
  if (looks_like_path) {
    if (!is_regular_file(name_or_path)) {
      return Error(ErrorKind::kIo, missing_file_message(name_or_path), ENOENT);
    }
    *path = name_or_path;
    return {};
  }
  if (!valid_plugin_name(name_or_path)) {
    return refuse(
        fmt::format("\"{}\" is neither a plugin name ([a-z0-9-]) nor the path of a .so file; pass a name "
                    "such as pods or a "
                    "path",
                    name_or_path));
  }
  const std::string file = "libvcp-" + name_or_path + ".so";
  if (search_dirs.empty()) {
    return Error(
        ErrorKind::kIo,
        fmt::format("plugin {} not found: no plugin directories are configured; pass the path of {} or "
                    "configure a plugin directory",
                    name_or_path, file),
        ENOENT);
  }
  std::string tried;
  for (const std::string& dir : search_dirs) {
    std::string candidate = dir.empty() ? file : (dir.ends_with('/') ? dir + file : dir + "/" + file);
    if (is_regular_file(candidate)) {
      *path = std::move(candidate);
      return {};
    }
    if (!tried.empty()) {
      tried += ", ";
    }
    tried += candidate;
  }
  return Error(
      ErrorKind::kIo,
      fmt::format("plugin {} not found; tried {}; build it, or add the directory that holds {} to the "
                  "plugin search path",
                  name_or_path, tried, file),
      ENOENT);
}

Error check_conflicts(const std::vector<const LoadedPlugin*>& plugins) {
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    for (std::size_t j = i + 1; j < plugins.size(); ++j) {
      const LoadedPlugin& a = *plugins[i];
      const LoadedPlugin& b = *plugins[j];
      if (a.name == b.name) {
        if (a.path == b.path) {
          return refuse(fmt::format("{} is loaded twice; list each plugin once", a.label()));
        }
        return refuse(fmt::format(
            "plugins {} ({}) and {} ({}) have the same name; load only one of them, or rename one", a.name,
            a.path, b.name, b.path));
      }
      for (const Resource& ra : a.resources) {
        if (!ra.owned()) {
          continue;
        }
        for (const Resource& rb : b.resources) {
          if (rb.owned() && ra.group == rb.group && ra.resource == rb.resource) {
            return refuse(
                fmt::format("plugins {} ({}) and {} ({}) both own {}; a resource can be synced by one plugin "
                            "only, so remove "
                            "one of them or give one a WATCH role for it",
                            a.name, a.path, b.name, b.path, ra.group_resource()));
          }
        }
      }
    }
  }
  return {};
}

}  // namespace vc::plugin
