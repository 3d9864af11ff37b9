// Parsing, metadata peeking and minifying, all through simdjson. simdjson stays private to this file so
// that the public header (shipped to plugin authors) needs nothing but the standard library.
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <string>

#include "json/json.hpp"

namespace vc::json {

namespace {

// simdjson's default maximum nesting depth; the error locator below uses the same limit.
constexpr int kMaxDepth = 1024;

// Keeps the first position and the last value of each duplicated key, which is what Go's encoding/json
// (and so the Kubernetes API server) does with {"a":1,"a":2}.
void dedupe_keys(Object& o) {
  const std::size_t n = o.size();
  if (n < 2) return;
  // Most objects are small and have no duplicates: check those without allocating.
  if (n <= 16) {
    bool dup = false;
    for (std::size_t i = 1; i < n && !dup; ++i) {
      for (std::size_t j = 0; j < i && !dup; ++j) dup = o[i].first == o[j].first;
    }
    if (!dup) return;
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // A stable sort keeps equal keys in input order, so each run of equal keys starts with the first
  // occurrence and ends with the last.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return o[a].first < o[b].first; });
  std::vector<bool> drop(n, false);
  bool any = false;
  for (std::size_t g = 0; g < n;) {
    std::size_t h = g;
    while (h + 1 < n && o[order[h + 1]].first == o[order[g]].first) ++h;
    if (h > g) {
      any = true;
      o[order[g]].second = std::move(o[order[h]].second);
      for (std::size_t k = g + 1; k <= h; ++k) drop[order[k]] = true;
    }
    g = h + 1;
  }
  if (!any) return;
  Object kept;
  kept.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!drop[i]) kept.push_back(std::move(o[i]));
  }
  o = std::move(kept);
}

Value convert(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::NULL_VALUE:
      return Value();
    case element_type::BOOL:
      return Value(e.get_bool().value_unsafe());
    case element_type::INT64:
      return Value(e.get_int64().value_unsafe());
    case element_type::UINT64:
      return Value(e.get_uint64().value_unsafe());
    case element_type::DOUBLE:
      return Value(e.get_double().value_unsafe());
    case element_type::STRING:
      return Value(e.get_string().value_unsafe());
    case element_type::ARRAY: {
      simdjson::dom::array a = e.get_array().value_unsafe();
      Array out;
      out.reserve(a.size());
      for (simdjson::dom::element item : a) out.push_back(convert(item));
      return Value(std::move(out));
    }
    case element_type::OBJECT: {
      simdjson::dom::object o = e.get_object().value_unsafe();
      Object out;
      out.reserve(o.size());
      for (simdjson::dom::key_value_pair kv : o) out.emplace_back(std::string(kv.key), convert(kv.value));
      dedupe_keys(out);
      return Value(std::move(out));
    }
  }
  return Value();
}

// A strict RFC 8259 scanner that only runs after simdjson has rejected a document, to say where. simdjson
// reports what went wrong but not the byte offset, and an error naming the byte is what lets a user fix a
// values file or a plugin author find a bad object.
class ErrorLocator {
 public:
  explicit ErrorLocator(std::string_view s) : s_(s) {}

  // The offset of the first invalid byte, or nullopt when this scanner accepts the whole document.
  std::optional<std::size_t> locate() {
    if (!value(0)) return pos_;
    skip_ws();
    if (pos_ != s_.size()) return pos_;
    return std::nullopt;
  }

 private:
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool value(int depth) {
    skip_ws();
    if (pos_ >= s_.size()) return false;
    switch (s_[pos_]) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return string();
      case 't':
        return word("true");
      case 'f':
        return word("false");
      case 'n':
        return word("null");
      default:
        return number();
    }
  }

  bool literal(std::string_view word) {
    for (char c : word) {
      if (pos_ >= s_.size() || s_[pos_] != c) return false;
      ++pos_;
    }
    return true;
  }

  // A literal value; a misspelt one is reported at its first byte, where the user's eye should go.
  bool word(std::string_view w) {
    std::size_t start = pos_;
    if (literal(w)) return true;
    pos_ = start;
    return false;
  }

  bool object(int depth) {
    if (depth > kMaxDepth) return false;
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"' || !string()) return false;
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return false;
      ++pos_;
      if (!value(depth)) return false;
      skip_ws();
      if (pos_ >= s_.size()) return false;
      if (s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      if (s_[pos_] != ',') return false;
      ++pos_;
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth) return false;
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (!value(depth)) return false;
      skip_ws();
      if (pos_ >= s_.size()) return false;
      if (s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      if (s_[pos_] != ',') return false;
      ++pos_;
    }
  }

  bool hex4(unsigned* out) {
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      if (pos_ >= s_.size()) return false;
      char c = s_[pos_];
      unsigned d;
      if (c >= '0' && c <= '9') {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return false;
      }
      v = v * 16 + d;
      ++pos_;
    }
    *out = v;
    return true;
  }

  bool string() {
    ++pos_;  // the opening quote
    while (pos_ < s_.size()) {
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) return false;
        char e = s_[pos_];
        if (e == 'u') {
          ++pos_;
          unsigned cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate.
            std::size_t at = pos_;
            unsigned lo = 0;
            if (!literal("\\u") || !hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) {
              pos_ = at;
              return false;
            }
          }
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) return false;
        ++pos_;
        continue;
      }
      if (c < 0x80) {
        ++pos_;
        continue;
      }
      std::size_t len = utf8_length(pos_);
      if (len == 0) return false;
      pos_ += len;
    }
    return false;
  }

  std::size_t utf8_length(std::size_t i) const {
    auto b = [&](std::size_t k) -> unsigned { return static_cast<unsigned char>(s_[k]); };
    unsigned b0 = b(i);
    std::size_t n = s_.size() - i;
    auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF) return n >= 2 && cont(i + 1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      if (n < 3) return 0;
      unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
      return b(i + 1) >= lo && b(i + 1) <= hi && cont(i + 2) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      if (n < 4) return 0;
      unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
      return b(i + 1) >= lo && b(i + 1) <= hi && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    return 0;
  }

  bool digits() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool number() {
    const std::size_t start = pos_;
    bool negative = false;
    if (s_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (pos_ >= s_.size()) return false;
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (!digits()) return false;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) return false;
    }
    // Syntactically fine; simdjson still rejects numbers it cannot represent, so point at those.
    std::string text(s_.substr(start, pos_ - start));
    if (integral) {
      errno = 0;
      if (negative) {
        (void)std::strtoll(text.c_str(), nullptr, 10);
      } else {
        (void)std::strtoull(text.c_str(), nullptr, 10);
      }
      if (errno == ERANGE) {
        pos_ = start;
        return false;
      }
    } else if (std::isinf(std::strtod(text.c_str(), nullptr))) {
      pos_ = start;
      return false;
    }
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// A DOM parser keeps buffers for the largest document it parsed, about ten times its size, for as long as
// its thread lives. Objects are kilobytes; after a large one (a big ConfigMap, a list page) the memory goes
// back at once.
constexpr std::size_t kKeepParserFor = 64 * 1024;
void release_if_large(simdjson::dom::parser& p, std::size_t parsed) {
  if (parsed > kKeepParserFor) p = simdjson::dom::parser();
}

simdjson::dom::parser& dom_parser() {
  // One parser per thread: it owns buffers sized to the largest document seen, so reusing it avoids an
  // allocation per parse. The loop thread is the only parser in practice; plugins may call from theirs.
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

std::optional<Value> parse(std::string_view text, std::string* error) {
  simdjson::dom::element root;
  // realloc_if_needed copies the text into the parser's padded buffer: simdjson reads up to
  // SIMDJSON_PADDING bytes past the end, which a string_view does not guarantee are ours.
  simdjson::error_code code = dom_parser().parse(text.data(), text.size(), true).get(root);
  if (code != simdjson::SUCCESS) {
    if (error != nullptr) {
      std::optional<std::size_t> at = ErrorLocator(text).locate();
      std::string reason = simdjson::error_message(code);
      if (at) {
        *error = "the JSON text is invalid at byte " + std::to_string(*at) + " of " +
                 std::to_string(text.size()) + ": " + reason;
      } else {
        *error = "the JSON text (" + std::to_string(text.size()) + " bytes) is invalid: " + reason;
      }
    }
    return std::nullopt;
  }
  std::optional<Value> v = convert(root);
  release_if_large(dom_parser(), text.size());
  return v;
}

namespace {

bool same_element(simdjson::dom::element a, simdjson::dom::element b, int depth);

// Objects with the same members regardless of order; `skip` (top level only) left out of both sides.
bool same_members(simdjson::dom::object a, simdjson::dom::object b,
                  std::initializer_list<std::string_view> skip, int depth) {
  auto skipped = [&skip](std::string_view k) { return std::find(skip.begin(), skip.end(), k) != skip.end(); };
  size_t na = 0, nb = 0;
  for (auto field : a) {
    if (skipped(field.key)) continue;
    na++;
    simdjson::dom::element other;
    if (b.at_key(field.key).get(other) != simdjson::SUCCESS) return false;
    if (!same_element(field.value, other, depth + 1)) return false;
  }
  // Every key of b must be in a too: with equal counts this catches an object that repeats a key.
  for (auto field : b) {
    if (skipped(field.key)) continue;
    nb++;
    simdjson::dom::element mine;
    if (a.at_key(field.key).get(mine) != simdjson::SUCCESS) return false;
  }
  return na == nb;
}

bool same_element(simdjson::dom::element a, simdjson::dom::element b, int depth) {
  if (depth > kMaxDepth) return false;
  auto ta = a.type(), tb = b.type();
  if (ta != tb) return false;
  switch (ta) {
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object oa = a.get_object().value_unsafe(), ob = b.get_object().value_unsafe();
      if (oa.size() != ob.size()) return false;
      return same_members(oa, ob, {}, depth);
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array aa = a.get_array().value_unsafe(), ab = b.get_array().value_unsafe();
      if (aa.size() != ab.size()) return false;
      auto ib = ab.begin();
      for (auto ea : aa) {
        if (!same_element(ea, *ib, depth + 1)) return false;
        ++ib;
      }
      return true;
    }
    case simdjson::dom::element_type::STRING:
      return a.get_string().value_unsafe() == b.get_string().value_unsafe();
    case simdjson::dom::element_type::INT64:
      return a.get_int64().value_unsafe() == b.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64:
      return a.get_uint64().value_unsafe() == b.get_uint64().value_unsafe();
    case simdjson::dom::element_type::DOUBLE:
      return a.get_double().value_unsafe() == b.get_double().value_unsafe();
    case simdjson::dom::element_type::BOOL:
      return a.get_bool().value_unsafe() == b.get_bool().value_unsafe();
    case simdjson::dom::element_type::NULL_VALUE:
      return true;
  }
  return false;
}

}  // namespace

bool same(std::string_view a, std::string_view b, std::initializer_list<std::string_view> skip) {
  // Two documents must be alive at once, so two parsers (per thread) besides parse()'s own.
  thread_local simdjson::dom::parser pa, pb;
  simdjson::dom::element ea, eb;
  if (pa.parse(a.data(), a.size(), true).get(ea) != simdjson::SUCCESS) return false;
  if (pb.parse(b.data(), b.size(), true).get(eb) != simdjson::SUCCESS) return false;
  bool equal;
  if (skip.size() == 0 || !ea.is_object() || !eb.is_object()) {
    equal = same_element(ea, eb, 0);
  } else {
    simdjson::dom::object oa = ea.get_object().value_unsafe(), ob = eb.get_object().value_unsafe();
    equal = same_members(oa, ob, skip, 0);
  }
  release_if_large(pa, a.size());
  release_if_large(pb, b.size());
  return equal;
}

std::shared_ptr<const Value> ParseCache::parse(std::string_view text) {
  for (auto& e : entries_) {
    if (e.value && e.text.size() == text.size() && std::equal(text.begin(), text.end(), e.text.begin())) {
      ++hits_;
      return e.value;
    }
  }
  ++misses_;
  auto v = vc::json::parse(text);
  if (!v) return nullptr;
  Entry& slot = entries_[next_];
  next_ = (next_ + 1) % entries_.size();
  slot.text.assign(text.data(), text.size());
  slot.value = std::make_shared<const Value>(std::move(*v));
  return slot.value;
}

bool peek_meta(std::string_view json, Meta* out) {
  // On-demand parsing touches only the bytes up to the end of metadata. It needs padding after the
  // text, so the text is copied into a reusable per-thread buffer (a memcpy, far cheaper than a parse).
  thread_local std::string buffer;
  thread_local simdjson::ondemand::parser parser;
  buffer.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(json.data(), json.size());
  simdjson::padded_string_view view(buffer.data(), buffer.size(), buffer.capacity());

  simdjson::ondemand::document doc;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS) return false;
  simdjson::ondemand::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return false;
  simdjson::ondemand::object metadata;
  if (root.find_field_unordered("metadata").get_object().get(metadata) != simdjson::SUCCESS) return false;

  Meta meta;
  for (auto&& field_result : metadata) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) return false;
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return false;
    std::string* target = nullptr;
    if (key == "namespace") {
      target = &meta.namespace_;
    } else if (key == "name") {
      target = &meta.name;
    } else if (key == "uid") {
      target = &meta.uid;
    } else if (key == "resourceVersion") {
      target = &meta.resource_version;
    } else if (key == "deletionTimestamp") {
      bool is_null = false;
      if (field.value().is_null().get(is_null) != simdjson::SUCCESS) return false;
      meta.deleting = !is_null;
      continue;
    } else {
      // Unread values are skipped by the iterator when it moves to the next field.
      continue;
    }
    std::string_view s;
    if (field.value().get_string().get(s) != simdjson::SUCCESS) return false;
    target->assign(s);
  }
  *out = std::move(meta);
  return true;
}

std::string minify(std::string_view json) {
  // simdjson::minify writes at most len bytes and reads only within [buf, buf+len).
  std::string out(json.size(), '\0');
  std::size_t len = 0;
  if (simdjson::minify(json.data(), json.size(), out.data(), len) != simdjson::SUCCESS) return std::string();
  out.resize(len);
  return out;
}

}  // namespace vc::json
