#include "naming/naming.hpp"

#include <openssl/evp.h>

#include <algorithm>

#include "naming/keys.hpp"

namespace vc::naming {

namespace {

// SafeConcatName keeps this many bytes before appending "-" and 10 hash digits (52 + 1 + 10 = 63).
constexpr std::size_t kKeepBytes = 52;
constexpr std::size_t kHashDigits = 10;

std::string hex10(std::string_view key) {
  return sha256_hex(key).substr(0, kHashDigits);
}

// Go strings.ReplaceAll(s, ".-", "-"): one left-to-right pass over non-overlapping matches, so "..-"
// becomes ".-", not "-".
std::string collapse_dot_dash(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.' && i + 1 < s.size() && s[i + 1] == '-') {
      out += '-';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string shorten(std::string full) {
  if (full.size() <= kMaxNameLength) return full;
  return collapse_dot_dash(full.substr(0, kKeepBytes) + "-" + hex10(full));
}

std::string_view lookup(const StringMap& m, std::string_view key) {
  auto it = m.find(std::string(key));
  return it == m.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest with SHA-256 only fails on allocation failure inside OpenSSL; an all-zero digest would then
  // silently produce wrong names, so the failure is made loud instead.
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

std::string safe_concat(std::initializer_list<std::string_view> parts) {
  std::string full;
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) full += '-';
    first = false;
    full += p;
  }
  return shorten(std::move(full));
}

std::string safe_concat(const std::vector<std::string>& parts) {
  std::string full;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) full += '-';
    full += parts[i];
  }
  return shorten(std::move(full));
}

std::string physical_name(std::string_view name, std::string_view vns, std::string_view suffix) {
  if (name.empty()) return std::string();
  return safe_concat({name, "x", vns, "x", suffix});
}

std::string physical_name_cluster_scoped(std::string_view name, std::string_view target_ns,
                                         std::string_view suffix) {
  if (name.empty()) return std::string();
  return safe_concat({"vcluster", name, "x", target_ns, "x", suffix});
}

std::string physical_namespace_multi(std::string_view vns, std::string_view current_ns,
                                     std::string_view suffix) {
  std::string owner(current_ns);
  owner += 'x';
  owner += suffix;
  return "vcluster-" + sha256_hex(vns).substr(0, 8) + "-" + sha256_hex(owner).substr(0, 8);
}

std::string label_key_with_prefix(std::string_view prefix, std::string_view key, std::string_view suffix) {
  std::string digest = hex10(key);
  return safe_concat({prefix, suffix, "x", digest});
}

std::string label_key(std::string_view key, std::string_view suffix) {
  return label_key_with_prefix(keys::kLabelPrefix, key, suffix);
}

std::string label_key_cluster(std::string_view key, std::string_view target_ns, std::string_view suffix) {
  std::string digest = hex10(key);
  return safe_concat({keys::kLabelPrefix, target_ns, "x", suffix, "x", digest});
}

std::string ns_label_key(std::string_view key, std::string_view suffix) {
  return label_key_with_prefix(keys::kNsLabelPrefix, key, suffix);
}

std::string cluster_marker(std::string_view target_ns, std::string_view suffix) {
  return safe_concat({target_ns, "x", suffix});
}

std::string pod_hostname(std::string_view vname) {
  std::string h(vname.substr(0, std::min(vname.size(), kMaxNameLength)));
  std::replace(h.begin(), h.end(), '.', '-');
  if (!h.empty() && h.back() == '-') h.pop_back();
  return h;
}

std::string labels_annotation(const StringMap& labels) {
  std::vector<std::string> lines;
  lines.reserve(labels.size());
  for (const auto& [k, v] : labels) {
    std::string line = k;
    line += '=';
    json::quote_to(line, v, json::DumpOptions{.escape_html = true});
    lines.push_back(std::move(line));
  }
  // Sorting whole lines, not keys, is what vcluster does (sort.Strings over "k=v" strings); the two orders
  // differ when one key is a prefix of another, so sorting by key would change the annotation.
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    out += lines[i];
  }
  return out;
}

bool is_managed_namespaced(std::string_view name, std::string_view namespace_, const StringMap& labels,
                           const StringMap& annotations, std::string_view target_ns,
                           std::string_view suffix) {
  if (namespace_ != target_ns) return false;
  std::string_view object_name = lookup(annotations, keys::kObjectName);
  if (object_name.empty()) return false;
  if (physical_name(object_name, lookup(annotations, keys::kObjectNamespace), suffix) != name) return false;
  auto marker = labels.find(std::string(keys::kManagedBy));
  return marker != labels.end() && marker->second == suffix;
}

bool is_managed_cluster(const StringMap& labels, std::string_view target_ns, std::string_view suffix) {
  auto marker = labels.find(std::string(keys::kManagedBy));
  return marker != labels.end() && marker->second == cluster_marker(target_ns, suffix);
}

bool is_managed_namespaced_object(const json::Value& object, std::string_view target_ns,
                                  std::string_view suffix) {
  const json::Value* meta = object.find("metadata");
  if (meta == nullptr) return false;
  const json::Value* name = meta->find("name");
  const json::Value* ns = meta->find("namespace");
  return is_managed_namespaced(name != nullptr ? name->string_or("") : "",
                               ns != nullptr ? ns->string_or("") : "", string_map(meta->find("labels")),
                               string_map(meta->find("annotations")), target_ns, suffix);
}

bool is_managed_cluster_object(const json::Value& object, std::string_view target_ns,
                               std::string_view suffix) {
  return is_managed_cluster(string_map(object.at({"metadata", "labels"})), target_ns, suffix);
}

bool is_controlled_elsewhere(const StringMap& labels, const StringMap& annotations,
                             std::string_view controller_name) {
  if (!lookup(labels, keys::kControlledBy).empty()) return true;
  auto it = annotations.find(std::string(keys::kControlledBy));
  return it != annotations.end() && it->second != controller_name;
}

bool skip_backsync(const StringMap& annotations) {
  return lookup(annotations, keys::kSkipBacksync) == "true";
}

StringMap string_map(const json::Value* object) {
  StringMap out;
  if (object == nullptr) return out;
  for (const auto& [k, v] : object->members()) {
    if (v.is_string()) out.emplace(k, v.as_string());
  }
  return out;
}

namespace {

void copy_verbatim(const StringMap& labels, const std::vector<std::string>& keep_verbatim, StringMap& out) {
  for (const std::string& k : keep_verbatim) {
    auto it = labels.find(k);
    if (it != labels.end()) out[k] = it->second;
  }
}

}  // namespace

StringMap translate_labels(const StringMap& labels, std::string_view vns, std::string_view suffix,
                           const std::vector<std::string>& keep_verbatim) {
  StringMap out;
  for (const auto& [k, v] : labels) out[label_key(k, suffix)] = v;
  copy_verbatim(labels, keep_verbatim, out);
  out[std::string(keys::kManagedBy)] = std::string(suffix);
  out[std::string(keys::kNamespace)] = std::string(vns);
  return out;
}

StringMap translate_labels_cluster(const StringMap& labels, std::string_view target_ns,
                                   std::string_view suffix, const std::vector<std::string>& keep_verbatim) {
  StringMap out;
  for (const auto& [k, v] : labels) out[label_key_cluster(k, target_ns, suffix)] = v;
  copy_verbatim(labels, keep_verbatim, out);
  out[std::string(keys::kManagedBy)] = cluster_marker(target_ns, suffix);
  return out;
}

namespace {

template <typename KeyFn>
json::Value rewrite_selector(const json::Value& selector, KeyFn key_fn) {
  if (!selector.is_object()) return selector;
  json::Value out = json::Value::object();
  // Go marshals both fields with omitempty, so empty ones disappear; they select the same either way.
  if (const json::Value* match_labels = selector.find("matchLabels");
      match_labels != nullptr && !match_labels->empty()) {
    json::Value& ml = out["matchLabels"];
    for (const auto& [k, v] : match_labels->members()) ml[key_fn(k)] = v;
  }
  if (const json::Value* exprs = selector.find("matchExpressions"); exprs != nullptr && !exprs->empty()) {
    json::Value& list = out["matchExpressions"];
    list = json::Value::array();
    for (const json::Value& req : exprs->items()) {
      json::Value copy = req;
      if (json::Value* key = copy.find("key"); key != nullptr) *key = key_fn(key->as_string());
      list.push_back(std::move(copy));
    }
  }
  return out;
}

}  // namespace

json::Value translate_label_selector(const json::Value& selector, std::string_view prefix,
                                     std::string_view suffix) {
  return rewrite_selector(selector,
                          [&](std::string_view k) { return label_key_with_prefix(prefix, k, suffix); });
}

json::Value translate_label_selector_cluster(const json::Value& selector, std::string_view target_ns,
                                             std::string_view suffix) {
  return rewrite_selector(selector,
                          [&](std::string_view k) { return label_key_cluster(k, target_ns, suffix); });
}

}  // namespace vc::naming
