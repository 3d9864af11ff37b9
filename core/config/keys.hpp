// The table of values keys. There is no single hard-coded schema: the core declares its keys here, and each
// sync plugin declares the keys it reads in its own table (Fluent Bit's config-map idea), so parsing,
// validation and documentation are all driven by the same rows and cannot drift apart.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace vc::config {

enum class KeyType {
  kBool,        // true or false (YAML 1.2 core schema; "yes" is an error)
  kInt,         // a decimal integer that fits in int64
  kString,      // any scalar, kept as written
  kStringList,  // a list of scalars
  kObjectList,  // a list of mappings whose fields are scalars named in KeySpec::object_fields
  kStringMap,   // a mapping of names to scalars (e.g. labels); merged key by key across files
};

// One row of a key table.
struct KeySpec {
  // Dotted path of a leaf, e.g. "sync.pods.enabled". A segment "*" matches any one name, which is how a map
  // keyed by user-chosen names is declared: "plugins.*.enabled" accepts plugins.pods.enabled,
  // plugins.foo.enabled...
  std::string path;
  KeyType type = KeyType::kString;
  // The default as YAML text ("true", "cluster.local", "[]"); empty means no default (getters return zero
  // values).
  std::string default_yaml;
  std::string description;                 // one sentence, shown in docs and `vcluster plugins list`
  std::vector<std::string> object_fields;  // kObjectList: the allowed field names
  std::string owner;                       // "core" or the plugin's name
  std::vector<std::string> allowed;        // kString: the only accepted values; empty = any string
};

// "bool", "int", "string", "list of strings", "list of {from, to}", "map of strings".
std::string key_type_name(const KeySpec& spec);

// Checks a table before use: paths well formed and unique, no leaf that is also a parent of another leaf,
// object lists with fields, defaults that parse as their type. A plugin whose table fails is refused with
// this error, which names the key and its owner.
Error validate_spec(const std::vector<KeySpec>& spec);

// A markdown table of the keys (key, type, default, owner, description), in table order.
std::string render_docs(const std::vector<KeySpec>& spec);

// The core's own keys: plugins.<name>.enabled/path, syncer.*, isolation.*, mapServices.*.
const std::vector<KeySpec>& core_keys();

}  // namespace vc::config
