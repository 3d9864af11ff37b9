// Choosing, loading and configuring a set of plugins: shared by the syncer and the `vcluster` CLI.
#pragma once

#include <string>
#include <vector>

#include "config/keys.hpp"
#include "config/values.hpp"
#include "plugin/loader.hpp"
#include "util/error.hpp"

namespace vc::engine {

// The plugins a syncer runs when neither --plugins nor the values file says otherwise.
const std::vector<std::string>& default_plugins();

// Where plugins are looked for, in order: $VCLUSTER_PLUGIN_DIR (':'-separated), the install dir
// (<prefix>/<libdir>/vcluster/plugins), <exe>/../lib/vcluster/plugins,
// and, for a build tree, every folder under <exe>/../../plugins.
std::vector<std::string> default_plugin_dirs(const std::string& argv0);

// A plugin's config keys as rows of the values table.
std::vector<config::KeySpec> plugin_key_specs(const plugin::LoadedPlugin& p);

struct PluginSetOptions {
  std::vector<std::string> names;  // from --plugins; empty = default_plugins()
  std::vector<std::string> search_dirs;
  std::vector<std::string> values_files;  // -f, in order
};

// Loads the named plugins, validates the values files against the core's keys plus every plugin's keys,
// then applies `plugins.<name>.enabled` / `plugins.<name>.path` from the values (loading extra plugins
// named there), and checks for conflicts. On error nothing is kept, and the message names the file/plugin.
Error load_plugin_set(const PluginSetOptions& opts, std::vector<plugin::LoadedPlugin>* plugins,
                      config::Values* values);

}  // namespace vc::engine
