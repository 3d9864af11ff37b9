// Inputs that make Debian's yaml-cpp 0.7 loop forever, refused before it sees them. Found by fuzzing
// (tests/fuzz/values_fuzz): a document whose first node starts with ',' (after comments, directives, '---'
// and an anchor or tag: "# comment\n, x", "!a, x"), and, outside flow collections, a line that starts with
// ',' after a node and a comment ("n #c\n,", "- n #c\n,"): YAML::Load and LoadAll never return and allocate
// until memory runs out. In YAML a plain scalar cannot start with the flow indicator ',' (YAML 1.2 §7.3.3);
// a line starting with ',' outside [ ] and { } can only continue a multi-line plain scalar, which no values
// file or kubeconfig needs. Block scalars (| and >) and quoted scalars are text and never refused. Other
// shapes loop too ("&e a\n?\n"): whatever the shape, a loop is the parser emitting events without reading on,
// so a first pass counts the events against a budget of 16 per byte and refuses a document that exceeds it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vc {

struct YamlHazard {
  size_t line = 0, column = 0;  // 1-based; line 0 means none was found
  std::string why;
  explicit operator bool() const { return line != 0; }
};
// The first of those shapes in `text`, if any.
YamlHazard yaml_hazard(std::string_view text);

}  // namespace vc
