#include "engine/plugin_set.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace vc::engine {

const std::vector<std::string>& default_plugins() {
  static const std::vector<std::string> d = {"pods", "services", "nodes", "storage", "networkpolicy"};
  return d;
}

namespace {
std::string exe_dir(const std::string& argv0) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string p = n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv0;
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

config::KeyType key_type(vcp_config_type t) {
  switch (t) {
    case VCP_CONF_BOOL:
      return config::KeyType::kBool;
    case VCP_CONF_INT:
      return config::KeyType::kInt;
    case VCP_CONF_STRING_LIST:
      return config::KeyType::kStringList;
    case VCP_CONF_OBJECT_LIST:
      return config::KeyType::kObjectList;
    case VCP_CONF_STRING_MAP:
      return config::KeyType::kStringMap;
    default:
      return config::KeyType::kString;
  }
}

Error load_named(const std::string& name, const std::string& path_override,
                 const std::vector<std::string>& dirs, std::vector<plugin::LoadedPlugin>* out) {
  std::string path;
  Error e = plugin::resolve_plugin(path_override.empty() ? name : path_override, dirs, &path);
  if (e) return e;
  plugin::LoadedPlugin lp;
  e = plugin::load_plugin(path, &lp);
  if (e) return e;
  out->push_back(std::move(lp));
  return {};
}

std::vector<config::KeySpec> spec_for(const std::vector<plugin::LoadedPlugin>& plugins) {
  std::vector<config::KeySpec> spec = config::core_keys();
  std::set<std::string> seen;
  for (auto& k : spec) seen.insert(k.path);
  for (auto& p : plugins)
    for (auto& k : plugin_key_specs(p))
      if (seen.insert(k.path).second) spec.push_back(std::move(k));
  return spec;
}
}  // namespace

std::vector<std::string> default_plugin_dirs(const std::string& argv0) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("VCLUSTER_PLUGIN_DIR")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t c = s.find(':', start);
      std::string d = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
      if (!d.empty()) dirs.push_back(d);
      if (c == std::string::npos) break;
      start = c + 1;
    }
  }
  std::string ed = exe_dir(argv0);
#ifdef VC_PLUGIN_INSTALL_DIR
  // Where `meson install` puts the plugins (the libdir is multiarch on Debian).
  dirs.push_back(VC_PLUGIN_INSTALL_DIR);
#endif
  dirs.push_back(ed + "/../lib/vcluster/plugins");
  // In a build tree the syncer is <build>/core/syncer/ (or <build>/cli/) and plugins <build>/plugins/<name>/.
  for (std::string root : {ed + "/../../plugins", ed + "/../plugins"}) {
    if (DIR* d = opendir(root.c_str())) {
      std::vector<std::string> subs;
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.' && e->d_type == DT_DIR) subs.push_back(root + "/" + e->d_name);
      closedir(d);
      std::sort(subs.begin(), subs.end());
      dirs.insert(dirs.end(), subs.begin(), subs.end());
    }
  }
  return dirs;
}

std::vector<config::KeySpec> plugin_key_specs(const plugin::LoadedPlugin& p) {
  std::vector<config::KeySpec> out;
  for (auto& k : p.config_keys) {
    config::KeySpec s;
    s.path = k.path;
    s.type = key_type(k.type);
    s.default_yaml = k.default_value;
    s.description = k.description;
    s.object_fields = k.object_fields;
    s.owner = p.name;
    out.push_back(std::move(s));
  }
  return out;
}

Error load_plugin_set(const PluginSetOptions& opts, std::vector<plugin::LoadedPlugin>* plugins,
                      config::Values* values) {
  std::vector<plugin::LoadedPlugin> loaded;
  const auto& names = opts.names.empty() ? default_plugins() : opts.names;
  for (auto& n : names) {
    if (Error e = load_named(n, "", opts.search_dirs, &loaded)) return e;
  }
  config::Values v;
  auto spec = spec_for(loaded);
  if (Error e = config::validate_spec(spec)) return e;
  if (Error e = config::Values::load(opts.values_files, spec, &v)) return e;
  // plugins.<name>.path / .enabled may name plugins beyond the flag's list: load those, then validate again
  // with their keys too.
  bool extra = false;
  std::set<std::string> have;
  for (auto& p : loaded) have.insert(p.name);
  for (auto& name : v.names_under("plugins")) {
    bool enabled =
        v.is_set("plugins." + name + ".enabled") ? v.get_bool("plugins." + name + ".enabled") : true;
    std::string path = v.get_string("plugins." + name + ".path");
    if (!enabled || have.count(name)) continue;
    if (Error e = load_named(name, path, opts.search_dirs, &loaded)) return e;
    have.insert(name);
    extra = true;
  }
  if (extra) {
    spec = spec_for(loaded);
    if (Error e = config::validate_spec(spec)) return e;
    v = config::Values();
    if (Error e = config::Values::load(opts.values_files, spec, &v)) return e;
  }
  // Disabled plugins leave the set.
  loaded.erase(std::remove_if(loaded.begin(), loaded.end(),
                              [&](const plugin::LoadedPlugin& p) {
                                std::string k = "plugins." + p.name + ".enabled";
                                return v.is_set(k) && !v.get_bool(k);
                              }),
               loaded.end());
  std::vector<const plugin::LoadedPlugin*> ptrs;
  for (auto& p : loaded) ptrs.push_back(&p);
  if (Error e = plugin::check_conflicts(ptrs)) return e;
  *plugins = std::move(loaded);
  *values = std::move(v);
  return {};
}

}  // namespace vc::engine
