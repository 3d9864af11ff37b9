// libFuzzer target: the JSON model (core/json). Anything simdjson accepts must dump and read back to the
// same document; nothing may crash, leak or trip a sanitizer on any input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "json/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vc::json::Meta meta;
  (void)vc::json::peek_meta(text, &meta);
  (void)vc::json::minify(text);
  std::string error;
  auto v = vc::json::parse(text, &error);
  if (!v) return 0;
  std::string once = vc::json::dump(*v);
  auto again = vc::json::parse(once);
  if (!again) std::abort();  // dump wrote something parse refuses
  // The round trip keeps the document. Compared as parse() reads numbers: a double -0 dumps as "-0" (as Go
  // writes it), which reads back as the integer 0; both read the same.
  if (!vc::json::same(vc::json::dump(*again), once)) std::abort();
  if (!vc::json::same(once, once)) std::abort();
  if (v->is_object()) {
    vc::json::Value patch = vc::json::merge_patch_diff(*v, *v);
    if (!patch.is_object() || !patch.members().empty()) std::abort();  // no change must be an empty patch
  }
  (void)vc::json::dump(*v, vc::json::DumpOptions{true});
  return 0;
}
