// libFuzzer target: the values file (core/config) against the core's key table. A document that loads must
// dump (to_yaml) to one that loads back to the same values, as the CLI relies on when it saves them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/keys.hpp"
#include "config/values.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  vc::config::Values v;
  vc::Error e = vc::config::Values::load_string(yaml, "fuzz.yaml", vc::config::core_keys(), &v);
  if (e) {
    if (e.message.empty()) std::abort();  // a refusal must say why
    return 0;
  }
  std::string out = v.to_yaml();
  vc::config::Values back;
  if (vc::config::Values::load_string(out, "dumped.yaml", vc::config::core_keys(), &back)) std::abort();
  if (back.to_yaml() != out) std::abort();
  return 0;
}
