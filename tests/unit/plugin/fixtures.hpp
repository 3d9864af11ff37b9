// Where the fixture plugins of tests/fixtures are: meson passes their build directory in VCP_FIXTURE_DIR.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace vc::plugin::test {

inline std::string fixture_dir() {
  const char* dir = std::getenv("VCP_FIXTURE_DIR");
  // Without the variable every path below would be wrong and each test would fail for a confusing reason.
  REQUIRE_MESSAGE(dir != nullptr, "VCP_FIXTURE_DIR is not set; run these tests through `meson test plugin`");
  return dir;
}

// The file of fixture `name` ("ok", "throws", ...), as tests/fixtures/meson.build names it.
inline std::string fixture_path(const std::string& name) {
  return fixture_dir() + "/libvcp-fixture-" + name + ".so";
}

}  // namespace vc::plugin::test
