// The values file: vcluster's helm-style configuration of the syncer (sync.<resource>.enabled, mapServices,
// isolation, ...), parsed, merged and validated against a key table (config/keys.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "util/error.hpp"

namespace vc::config {

class Values {
 public:
  // Parses and merges files in order (later files override earlier ones key by key, like helm's -f),
  // validates every leaf against the spec table, and fills defaults. On error `out` is left unchanged.
  static Error load(const std::vector<std::string>& files, const std::vector<KeySpec>& spec, Values* out);
  // One document; `name_for_errors` starts every message ("values.yaml:3:5: ...").
  static Error load_string(std::string_view yaml, const std::string& name_for_errors,
                           const std::vector<KeySpec>& spec, Values* out);
  // Several in-memory documents as {name, yaml}, merged in order (e.g. -f files followed by what --isolate
  // adds).
  static Error load_documents(const std::vector<std::pair<std::string, std::string>>& docs,
                              const std::vector<KeySpec>& spec, Values* out);

  // Getters return the value set by a file, else the key's default, else a zero value. A path that is not in
  // the table, or a getter of the wrong type, also yields the zero value: callers pass paths from their own
  // tables.
  bool get_bool(std::string_view path) const;
  int64_t get_int(std::string_view path) const;
  std::string get_string(std::string_view path) const;
  std::vector<std::string> get_string_list(std::string_view path) const;
  std::vector<std::map<std::string, std::string>> get_object_list(std::string_view path) const;
  std::map<std::string, std::string> get_string_map(std::string_view path) const;

  // True when a file set the key (not only its default).
  bool is_set(std::string_view path) const;

  // The names a file used under a wildcard level, sorted: names_under("plugins") -> {"pods", "x"} for files
  // that set plugins.pods.* and plugins.x.*.
  std::vector<std::string> names_under(std::string_view prefix) const;

  // The effective values (set or defaulted) as a YAML document that load_string accepts back.
  std::string to_yaml() const;

  // For the C ABI: the value as one string (bool "true"/"false", int decimal, string raw, lists and maps as
  // JSON); nullopt when the key is neither set nor defaulted, or not in the table.
  std::optional<std::string> get_raw(std::string_view path) const;

  const std::vector<KeySpec>& spec() const { return spec_; }

  // One parsed value. Public so that the parser in values.cpp can build it; callers use the getters.
  struct Leaf {
    KeyType type = KeyType::kString;
    bool null = false;  // the file wrote null: the key returns to its default (helm deletes null keys)
    bool b = false;
    int64_t i = 0;
    std::string s;
    std::vector<std::string> list;
    std::vector<std::map<std::string, std::string>> objects;
    std::map<std::string, std::string> map;
    std::vector<std::string> map_removed;  // kStringMap keys written as null: removed when merging
  };

 private:
  const Leaf* find(std::string_view path) const;

  std::vector<KeySpec> spec_;
  std::map<std::string, Leaf, std::less<>> set_;       // by concrete path (plugins.pods.enabled)
  std::map<std::string, Leaf, std::less<>> defaults_;  // by table path (plugins.*.enabled)
  // find()'s answers for unset paths: concrete path -> the table path of its default ("" when the path is
  // not a leaf). Plugins read their keys on every hook; classifying a path against the whole table each
  // time cost 7-9% of the syncer's CPU in a burst (docs/benchmarks.md). Values never change after load.
  mutable std::map<std::string, std::string, std::less<>> default_path_;
};

}  // namespace vc::config
