// The mutable JSON model used to build and edit Kubernetes objects (vc::json).
//
// simdjson parses fast but its trees are read-only; syncers need to rename, relabel and patch objects, so
// parsed documents are copied into this small mutable tree. The header is part of the plugin SDK: plugins
// link the same static library, so it depends on nothing but the standard library (simdjson stays inside
// json.cpp) and never throws. See docs/json-model.md for the reasoning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace vc::json {

class Value;

// Array items, in order.
using Array = std::vector<Value>;
// One object member: key and value.
using Member = std::pair<std::string, Value>;
// Object members in insertion order. Kubernetes objects are small maps (metadata has a handful of keys,
// labels a dozen), where a linear scan over contiguous memory beats hashing, costs no per-node table, and
// keeps the member order of the input so that dumps are stable and readable next to what the API server
// sent. Lookups are O(n); very large maps (a ConfigMap with thousands of keys) are built once and read
// rarely, which this trade accepts.
using Object = std::vector<Member>;

enum class Type { kNull, kBool, kInt64, kUint64, kDouble, kString, kArray, kObject };

class Value {
  using Storage =
      std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Array, Object>;

 public:
  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : v_(b) {}
  // Every integer type except bool and the character types. Unsigned values are stored as int64 when they
  // fit, so that one number has one representation (uint64 only above INT64_MAX).
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
           !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t> &&
           !std::is_same_v<T, wchar_t>) Value(T i)
  noexcept : v_(from_integer(i)) {}
  Value(double d) noexcept : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(std::string s) noexcept : v_(std::move(s)) {}
  Value(Array a) noexcept : v_(std::move(a)) {}
  Value(Object o) noexcept : v_(std::move(o)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Type type() const noexcept { return static_cast<Type>(v_.index()); }
  bool is_null() const noexcept { return type() == Type::kNull; }
  bool is_bool() const noexcept { return type() == Type::kBool; }
  bool is_int64() const noexcept { return type() == Type::kInt64; }
  bool is_uint64() const noexcept { return type() == Type::kUint64; }
  bool is_double() const noexcept { return type() == Type::kDouble; }
  // True for int64 and uint64: a JSON number written without fraction or exponent.
  bool is_integer() const noexcept { return is_int64() || is_uint64(); }
  bool is_number() const noexcept { return is_integer() || is_double(); }
  bool is_string() const noexcept { return type() == Type::kString; }
  bool is_array() const noexcept { return type() == Type::kArray; }
  bool is_object() const noexcept { return type() == Type::kObject; }

  // Typed reads. On a type mismatch they return the fallback (or an empty string/array/object) instead of
  // throwing, because Kubernetes objects routinely omit or mistype optional fields and every caller would
  // otherwise need the same guard.
  bool as_bool(bool fallback = false) const noexcept;
  // int64, or a uint64/double that holds an integral value in range; otherwise the fallback.
  std::int64_t as_int64(std::int64_t fallback = 0) const noexcept;
  // A non-negative integer, or an integral double in range; otherwise the fallback.
  std::uint64_t as_uint64(std::uint64_t fallback = 0) const noexcept;
  // Any number, converted to double; otherwise the fallback.
  double as_double(double fallback = 0) const noexcept;
  const std::string& as_string() const noexcept;
  const Array& as_array() const noexcept;
  const Object& as_object() const noexcept;
  // The string, or the fallback when this is not a string.
  std::string_view string_or(std::string_view fallback) const noexcept {
    return is_string() ? std::string_view(as_string()) : fallback;
  }

  // Mutable access to the container, or nullptr when this is not one.
  Array* array_ptr() noexcept { return std::get_if<Array>(&v_); }
  Object* object_ptr() noexcept { return std::get_if<Object>(&v_); }
  std::string* string_ptr() noexcept { return std::get_if<std::string>(&v_); }

  // Array items (empty unless an array) and object members (empty unless an object), for range-for.
  const Array& items() const noexcept { return as_array(); }
  const Object& members() const noexcept { return as_object(); }

  // Number of array items or object members; 0 for scalars.
  std::size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }

  // The member named key, or nullptr (also when this is not an object).
  const Value* find(std::string_view key) const noexcept;
  Value* find(std::string_view key) noexcept;
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }

  // References returned by operator[], ensure and push_back are invalidated by a later insertion into the
  // same container, exactly as with std::vector: `o["a"] = o["b"]` may copy from freed memory, so copy
  // first (`Value b = o["b"]; o["a"] = b;`).
  //
  // The member named key, inserted as null at the end when missing. A null value first becomes an empty
  // object; any other non-object value is replaced by an empty object, since writing a field means the
  // caller wants an object there (the alternative, throwing, is not allowed across our module boundaries).
  Value& operator[](std::string_view key);
  // The array item at index, or a shared null when out of range or not an array.
  const Value& operator[](std::size_t index) const noexcept;

  // Removes the member named key; returns whether it existed.
  bool erase(std::string_view key) noexcept;
  // Appends to an array. A null (or any non-array) value first becomes an empty array, for the same
  // reason as operator[].
  Value& push_back(Value v);

  // Walks nested objects, e.g. at({"metadata", "labels"}); nullptr when any step is missing or not an
  // object.
  const Value* at(std::initializer_list<std::string_view> path) const noexcept;
  Value* at(std::initializer_list<std::string_view> path) noexcept;
  // Like at(), but creates missing (or non-object) steps as empty objects and returns the last value,
  // which is null when it was just created.
  Value& ensure(std::initializer_list<std::string_view> path);

  // Deep equality. Object members compare regardless of order (API servers reorder keys), arrays in order;
  // numbers compare by mathematical value, so 1, 1.0 and 1u are equal.
  friend bool operator==(const Value& a, const Value& b) noexcept;

 private:
  // Builds the storage in the member initialiser rather than assigning in the constructor body: the
  // assignment form makes GCC 12 report a false -Wmaybe-uninitialized under the sanitizers.
  template <typename T>
  static Storage from_integer(T i) noexcept {
    if constexpr (std::is_signed_v<T>) {
      return Storage(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(i));
    } else if (static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(INT64_MAX)) {
      return Storage(std::in_place_type<std::uint64_t>, static_cast<std::uint64_t>(i));
    } else {
      return Storage(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(i));
    }
  }

  Storage v_;
};

// Parses one JSON document (RFC 8259). Integers keep their exact value: int64 when they fit, uint64 above
// INT64_MAX; anything else (fraction, exponent) becomes a double. Duplicate keys keep the last value, as
// Go's encoding/json does. On failure returns nullopt and, when error is non-null, a sentence with the
// byte offset and reason. Integers beyond uint64 and doubles beyond its range are rejected (simdjson
// does not parse them).
std::optional<Value> parse(std::string_view text, std::string* error = nullptr);

struct DumpOptions {
  // Writes <, > and & as \u003c, \u003e and \u0026, like Go's json.Marshal, so that output matches what
  // vcluster writes (e.g. the vcluster.loft.sh/labels annotation).
  bool escape_html = false;
};

// Compact JSON. Strings escape ", \ and control characters (\n, \r, \t short, others \u00XX), U+2028 and
// U+2029 (as Go does), and replace invalid UTF-8 with U+FFFD so that the output is always valid JSON.
// Doubles print in the shortest form that reads back to the same double; NaN and infinities, which JSON
// cannot express, print as null.
std::string dump(const Value& v, DumpOptions opts = {});
// Appends the dump of v to out.
void dump_to(std::string& out, const Value& v, DumpOptions opts = {});
// Appends s as a quoted JSON string to out.
void quote_to(std::string& out, std::string_view s, DumpOptions opts = {});

// RFC 7386 JSON merge patch: the patch that turns `from` into `to`. Removed members become null; equal
// values are omitted, so an empty object means "no change". When either side is not an object the patch
// is `to` itself. Merge patches cannot set a member to null; a null in `to` therefore reads as removal.
Value merge_patch_diff(const Value& from, const Value& to);
// Applies an RFC 7386 merge patch to target in place.
void merge_patch_apply(Value& target, const Value& patch);

// The object metadata a cache needs, read without building a tree.
struct Meta {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  bool deleting = false;  // metadata.deletionTimestamp is set
};

// Reads metadata.{namespace,name,uid,resourceVersion,deletionTimestamp} from an object's JSON. Returns
// false when the text is not an object with a metadata object or those fields have the wrong type. Only the
// path to the metadata is validated, so a true answer does not prove the whole document is valid.
bool peek_meta(std::string_view json, Meta* out);

// The last few documents parsed, found again by their text. A plugin sees the same cached object several
// times in a row: a reconcile passes the source and target to on_sync and again to on_back_sync, and an
// informer event runs the object's index functions and then on_watch_event. Parsing each text once cut the
// pods plugin's share of a burst's CPU by more than half. A hit costs a length check and a memcmp; the
// text is copied, so a hit never depends on where the caller's bytes live. Not thread-safe: one per plugin
// (hooks run on the engine's loop thread).
class ParseCache {
 public:
  explicit ParseCache(std::size_t capacity = 8) : entries_(capacity ? capacity : 1) {}
  // The parsed document, shared with later hits; nullptr when the text is not JSON.
  std::shared_ptr<const Value> parse(std::string_view text);
  std::size_t hits() const { return hits_; }
  std::size_t misses() const { return misses_; }

 private:
  struct Entry {
    std::string text;
    std::shared_ptr<const Value> value;
  };
  std::vector<Entry> entries_;
  std::size_t next_ = 0, hits_ = 0, misses_ = 0;
};

// Compares two JSON documents the way Kubernetes objects compare: member order does not matter and, at
// the top level only, members named in `skip` are left out (e.g. {"kind", "apiVersion", "status"}). Numbers
// compare as parse() reads them (int64, uint64 or double, so 1 and 1.0 differ). Returns false when either
// text is not JSON; objects that repeat a key may compare different (never wrongly the same when one side has
// a key the other lacks). Builds no tree, so it is several times cheaper than parse() twice and operator==.
bool same(std::string_view a, std::string_view b, std::initializer_list<std::string_view> skip = {});

// The document without insignificant whitespace, for storing cached objects compactly. Does not validate;
// returns an empty string when the text cannot be minified (e.g. an unterminated string).
std::string minify(std::string_view json);

}  // namespace vc::json
