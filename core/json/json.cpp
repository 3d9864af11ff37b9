// The mutable JSON model: accessors, equality, dump and merge patch. Parsing and peeking (simdjson) live in
// parse.cpp so this file needs no third-party header.
#include "json/json.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace vc::json {

namespace {

const std::string kEmptyString;
const Array kEmptyArray;
const Object kEmptyObject;
const Value kNull;

// 2^63 and 2^64 as doubles: the exclusive upper bounds of int64 and uint64. Comparing against these (not
// against INT64_MAX converted to double, which rounds up to 2^63) keeps the range checks exact.
constexpr double kTwo63 = 9223372036854775808.0;
constexpr double kTwo64 = 18446744073709551616.0;

bool double_is_int64(double d, std::int64_t* out) {
  if (!(d >= -kTwo63 && d < kTwo63) || std::trunc(d) != d) return false;
  *out = static_cast<std::int64_t>(d);
  return true;
}

bool double_is_uint64(double d, std::uint64_t* out) {
  if (!(d >= 0 && d < kTwo64) || std::trunc(d) != d) return false;
  *out = static_cast<std::uint64_t>(d);
  return true;
}

}  // namespace

bool Value::as_bool(bool fallback) const noexcept {
  const bool* b = std::get_if<bool>(&v_);
  return b != nullptr ? *b : fallback;
}

std::int64_t Value::as_int64(std::int64_t fallback) const noexcept {
  switch (type()) {
    case Type::kInt64:
      return std::get<std::int64_t>(v_);
    case Type::kDouble: {
      std::int64_t i = 0;
      return double_is_int64(std::get<double>(v_), &i) ? i : fallback;
    }
    default:
      // A uint64 is only stored above INT64_MAX, so it never fits.
      return fallback;
  }
}

std::uint64_t Value::as_uint64(std::uint64_t fallback) const noexcept {
  switch (type()) {
    case Type::kInt64: {
      std::int64_t i = std::get<std::int64_t>(v_);
      return i >= 0 ? static_cast<std::uint64_t>(i) : fallback;
    }
    case Type::kUint64:
      return std::get<std::uint64_t>(v_);
    case Type::kDouble: {
      std::uint64_t u = 0;
      return double_is_uint64(std::get<double>(v_), &u) ? u : fallback;
    }
    default:
      return fallback;
  }
}

double Value::as_double(double fallback) const noexcept {
  switch (type()) {
    case Type::kInt64:
      return static_cast<double>(std::get<std::int64_t>(v_));
    case Type::kUint64:
      return static_cast<double>(std::get<std::uint64_t>(v_));
    case Type::kDouble:
      return std::get<double>(v_);
    default:
      return fallback;
  }
}

const std::string& Value::as_string() const noexcept {
  const std::string* s = std::get_if<std::string>(&v_);
  return s != nullptr ? *s : kEmptyString;
}

const Array& Value::as_array() const noexcept {
  const Array* a = std::get_if<Array>(&v_);
  return a != nullptr ? *a : kEmptyArray;
}

const Object& Value::as_object() const noexcept {
  const Object* o = std::get_if<Object>(&v_);
  return o != nullptr ? *o : kEmptyObject;
}

std::size_t Value::size() const noexcept {
  if (const Array* a = std::get_if<Array>(&v_)) return a->size();
  if (const Object* o = std::get_if<Object>(&v_)) return o->size();
  return 0;
}

const Value* Value::find(std::string_view key) const noexcept {
  const Object* o = std::get_if<Object>(&v_);
  if (o == nullptr) return nullptr;
  for (const Member& m : *o) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Value* Value::find(std::string_view key) noexcept {
  return const_cast<Value*>(static_cast<const Value&>(*this).find(key));
}

Value& Value::operator[](std::string_view key) {
  Object* o = std::get_if<Object>(&v_);
  if (o == nullptr) {
    v_ = Object{};
    o = std::get_if<Object>(&v_);
  }
  for (Member& m : *o) {
    if (m.first == key) return m.second;
  }
  o->emplace_back(std::string(key), Value());
  return o->back().second;
}

const Value& Value::operator[](std::size_t index) const noexcept {
  const Array* a = std::get_if<Array>(&v_);
  if (a == nullptr || index >= a->size()) return kNull;
  return (*a)[index];
}

bool Value::erase(std::string_view key) noexcept {
  Object* o = std::get_if<Object>(&v_);
  if (o == nullptr) return false;
  for (auto it = o->begin(); it != o->end(); ++it) {
    if (it->first == key) {
      o->erase(it);
      return true;
    }
  }
  return false;
}

Value& Value::push_back(Value v) {
  Array* a = std::get_if<Array>(&v_);
  if (a == nullptr) {
    v_ = Array{};
    a = std::get_if<Array>(&v_);
  }
  a->push_back(std::move(v));
  return a->back();
}

const Value* Value::at(std::initializer_list<std::string_view> path) const noexcept {
  const Value* cur = this;
  for (std::string_view step : path) {
    cur = cur->find(step);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

Value* Value::at(std::initializer_list<std::string_view> path) noexcept {
  return const_cast<Value*>(static_cast<const Value&>(*this).at(path));
}

Value& Value::ensure(std::initializer_list<std::string_view> path) {
  Value* cur = this;
  for (std::string_view step : path) cur = &(*cur)[step];
  return *cur;
}

namespace {

// Exact comparison of numbers of possibly different representations.
bool numbers_equal(const Value& a, const Value& b) {
  if (a.type() == b.type()) {
    switch (a.type()) {
      case Type::kInt64:
        return a.as_int64() == b.as_int64();
      case Type::kUint64:
        return a.as_uint64() == b.as_uint64();
      default:
        return a.as_double() == b.as_double();
    }
  }
  // Mixed integer kinds never match: a uint64 is only stored above INT64_MAX.
  if (a.is_integer() && b.is_integer()) return false;
  const Value& d = a.is_double() ? a : b;
  const Value& i = a.is_double() ? b : a;
  if (i.is_int64()) {
    std::int64_t x = 0;
    return double_is_int64(d.as_double(), &x) && x == i.as_int64();
  }
  std::uint64_t x = 0;
  return double_is_uint64(d.as_double(), &x) && x == i.as_uint64();
}

}  // namespace

bool operator==(const Value& a, const Value& b) noexcept {
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return a.as_bool() == b.as_bool();
    case Type::kString:
      return a.as_string() == b.as_string();
    case Type::kArray:
      return a.as_array() == b.as_array();
    case Type::kObject: {
      const Object& oa = a.as_object();
      if (oa.size() != b.size()) return false;
      // Member keys are unique (parse and operator[] guarantee it), so equal sizes plus every member of a
      // found equal in b means the same set. Quadratic, which is fine for the small maps objects hold.
      for (const Member& m : oa) {
        const Value* other = b.find(m.first);
        if (other == nullptr || !(m.second == *other)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Dump.

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_u_escape(std::string& out, unsigned cp) {
  out += "\\u";
  out += kHex[(cp >> 12) & 0xF];
  out += kHex[(cp >> 8) & 0xF];
  out += kHex[(cp >> 4) & 0xF];
  out += kHex[cp & 0xF];
}

// The length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF included), per RFC 3629 table 3-7.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i, unsigned* cp) {
  auto byte = [&](std::size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  unsigned b0 = byte(i);
  std::size_t n = s.size() - i;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (n < 2 || (byte(i + 1) & 0xC0) != 0x80) return 0;
    *cp = ((b0 & 0x1F) << 6) | (byte(i + 1) & 0x3F);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (n < 3) return 0;
    unsigned b1 = byte(i + 1), b2 = byte(i + 2);
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80;
    unsigned hi = b0 == 0xED ? 0x9F : 0xBF;
    if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80) return 0;
    *cp = ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F);
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (n < 4) return 0;
    unsigned b1 = byte(i + 1), b2 = byte(i + 2), b3 = byte(i + 3);
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80;
    unsigned hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (b1 < lo || b1 > hi || (b2 & 0xC0) != 0x80 || (b3 & 0xC0) != 0x80) return 0;
    *cp = ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F);
    return 4;
  }
  return 0;
}

void dump_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  // std::to_chars without a format gives the shortest text that reads back to the same double.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  // The shortest text of a large whole double may be plain digits ("-888888888888888262656" for -8.9e20),
  // which reads back as an integer and, past 64 bits, is refused (found by tests/fuzz/json_fuzz). Such a
  // double is written with an exponent instead.
  std::int64_t i = 0;
  std::uint64_t u = 0;
  if (std::string_view(buf, static_cast<size_t>(res.ptr - buf)).find_first_of(".eE") ==
          std::string_view::npos &&
      !double_is_int64(d, &i) && !double_is_uint64(d, &u))
    res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  out.append(buf, res.ptr);
}

template <typename T>
void dump_integer(std::string& out, T i) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, res.ptr);
}

}  // namespace

void quote_to(std::string& out, std::string_view s, DumpOptions opts) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '<':
        case '>':
        case '&':
          if (opts.escape_html) {
            append_u_escape(out, c);
          } else {
            out += static_cast<char>(c);
          }
          break;
        default:
          if (c < 0x20) {
            append_u_escape(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    unsigned cp = 0;
    std::size_t n = utf8_sequence_length(s, i, &cp);
    if (n == 0) {
      // Go's encoding/json does the same: each invalid byte becomes U+FFFD.
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      // Line and paragraph separators are valid JSON but break JavaScript string literals; Go escapes them.
      append_u_escape(out, cp);
    } else {
      out.append(s.data() + i, n);
    }
    i += n;
  }
  out += '"';
}

void dump_to(std::string& out, const Value& v, DumpOptions opts) {
  switch (v.type()) {
    case Type::kNull:
      out += "null";
      return;
    case Type::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Type::kInt64:
      dump_integer(out, v.as_int64());
      return;
    case Type::kUint64:
      dump_integer(out, v.as_uint64());
      return;
    case Type::kDouble:
      dump_double(out, v.as_double());
      return;
    case Type::kString:
      quote_to(out, v.as_string(), opts);
      return;
    case Type::kArray: {
      out += '[';
      bool first = true;
      for (const Value& item : v.items()) {
        if (!first) out += ',';
        first = false;
        dump_to(out, item, opts);
      }
      out += ']';
      return;
    }
    case Type::kObject: {
      out += '{';
      bool first = true;
      for (const Member& m : v.members()) {
        if (!first) out += ',';
        first = false;
        quote_to(out, m.first, opts);
        out += ':';
        dump_to(out, m.second, opts);
      }
      out += '}';
      return;
    }
  }
}

std::string dump(const Value& v, DumpOptions opts) {
  std::string out;
  dump_to(out, v, opts);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// RFC 7386 merge patch.

Value merge_patch_diff(const Value& from, const Value& to) {
  if (!from.is_object() || !to.is_object()) return to;
  Value patch = Value::object();
  for (const Member& m : from.members()) {
    if (!to.contains(m.first)) patch[m.first] = Value();
  }
  for (const Member& m : to.members()) {
    const Value* old = from.find(m.first);
    if (old == nullptr) {
      patch[m.first] = m.second;
    } else if (old->is_object() && m.second.is_object()) {
      Value sub = merge_patch_diff(*old, m.second);
      if (!sub.empty()) patch[m.first] = std::move(sub);
    } else if (!(*old == m.second)) {
      patch[m.first] = m.second;
    }
  }
  return patch;
}

void merge_patch_apply(Value& target, const Value& patch) {
  // RFC 7386 section 2, MergePatch(Target, Patch), applied in place.
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Value::object();
  for (const Member& m : patch.members()) {
    if (m.second.is_null()) {
      target.erase(m.first);
    } else {
      merge_patch_apply(target[m.first], m.second);
    }
  }
}

}  // namespace vc::json
