// The core's key table and the markdown rendering of any table.
#include "config/keys.hpp"

namespace vc::config {

std::string key_type_name(const KeySpec& spec) {
  switch (spec.type) {
    case KeyType::kBool:
      return "bool";
    case KeyType::kInt:
      return "int";
    case KeyType::kString: {
      if (spec.allowed.empty()) return "string";
      std::string s = "one of ";
      for (size_t i = 0; i < spec.allowed.size(); ++i) s += (i > 0 ? ", " : "") + spec.allowed[i];
      return s;
    }
    case KeyType::kStringList:
      return "list of strings";
    case KeyType::kObjectList: {
      std::string s = "list of {";
      for (size_t i = 0; i < spec.object_fields.size(); ++i) s += (i > 0 ? ", " : "") + spec.object_fields[i];
      return s + "}";
    }
    case KeyType::kStringMap:
      return "map of strings";
  }
  return "?";
}

namespace {

// A table cell: pipes would end the cell and newlines the row (GitHub-flavoured markdown tables).
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string render_docs(const std::vector<KeySpec>& spec) {
  std::string out = "| Key | Type | Default | Owner | Description |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& k : spec) {
    // "*" is where the user writes a name of their choosing; <name> says so in prose.
    std::string path = k.path;
    for (size_t p = path.find('*'); p != std::string::npos; p = path.find('*', p))
      path.replace(p, 1, "<name>");
    out += "| `" + cell(path) + "` | " + cell(key_type_name(k)) + " | " +
           (k.default_yaml.empty() ? std::string("—") : "`" + cell(k.default_yaml) + "`") + " | " +
           cell(k.owner) + " | " + cell(k.description) + " |\n";
  }
  return out;
}

const std::vector<KeySpec>& core_keys() {
  // Built once; a function-local static avoids the static-initialisation-order problem for plugins that copy
  // it.
  static const std::vector<KeySpec> keys = {
      {"plugins.*.enabled",
       KeyType::kBool,
       "true",
       "Whether the sync plugin <name> is loaded; false leaves its resources unsynced.",
       {},
       "core",
       {}},
      {"plugins.*.path",
       KeyType::kString,
       "\"\"",
       "Path of the plugin's shared object; empty means the plugin directory's default for <name>.",
       {},
       "core",
       {}},
      {"syncer.logLevel",
       KeyType::kString,
       "info",
       "Least severe log level written.",
       {},
       "core",
       {"trace", "debug", "info", "warn", "error"}},
      {"syncer.logFormat",
       KeyType::kString,
       "text",
       "Log line format: text for people, json for collectors.",
       {},
       "core",
       {"text", "json"}},
      {"syncer.clusterDomain",
       KeyType::kString,
       "cluster.local",
       "DNS domain of the virtual cluster, used in pods' search domains.",
       {},
       "core",
       {}},
      {"syncer.hostQPS",
       KeyType::kInt,
       "0",
       "Requests per second the syncer sends to the host API server; 0 means "
       "unlimited.",
       {},
       "core",
       {}},
      {"syncer.hostBurst",
       KeyType::kInt,
       "0",
       "Requests allowed in a burst above syncer.hostQPS; 0 means the same as syncer.hostQPS.",
       {},
       "core",
       {}},
      {"syncer.syncLabels",
       KeyType::kStringList,
       "[]",
       "Label keys copied to host objects verbatim instead of being rewritten to vcluster.loft.sh/label-... "
       "keys.",
       {},
       "core",
       {}},
      {"isolation.enabled",
       KeyType::kBool,
       "false",
       "Enforces isolation.podSecurityStandard on synced pods (what vcluster create --isolate sets): a pod "
       "that fails is not synced and gets a Warning event naming each failing check.",
       {},
       "core",
       {}},
      {"isolation.podSecurityStandard",
       KeyType::kString,
       "baseline",
       "Pod Security Standard a virtual pod must meet to be synced while isolation is enabled "
       "(pod-security-admission's checks at version latest, init and ephemeral containers included; "
       "privileged checks nothing).",
       {},
       "core",
       {"privileged", "baseline", "restricted"}},
      {"mapServices.fromHost",
       KeyType::kObjectList,
       "[]",
       "Host Services made reachable in the virtual cluster: from hostNamespace/name (namespace optional) to "
       "virtualNamespace/name.",
       {"from", "to"},
       "core",
       {}},
      {"mapServices.fromVirtual",
       KeyType::kObjectList,
       "[]",
       "Virtual Services published in the host namespace: from virtualNamespace/name to a bare host Service "
       "name.",
       {"from", "to"},
       "core",
       {}},
  };
  return keys;
}

}  // namespace vc::config
