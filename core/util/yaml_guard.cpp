#include "util/yaml_guard.hpp"

#include <cstddef>

namespace vc {

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

}  // namespace

YamlHazard yaml_hazard(std::string_view text) {
  bool at_start = true;  // no node of the current document seen yet
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    line_no++;
    size_t i = 0;
    // A document marker starts a new document; what follows it on the line is that document's first node.
    if (line.substr(0, 3) == "---" && (line.size() == 3 || blank(line[3]))) {
      at_start = true;
      i = 3;
    } else if (line.substr(0, 3) == "..." && (line.size() == 3 || blank(line[3]))) {
      at_start = true;
      i = 3;
    } else if (at_start && !line.empty() && line[0] == '%') {
      i = line.size();  // a directive
    }
    if (at_start) {
      while (i < line.size()) {
        while (i < line.size() && blank(line[i])) i++;
        if (i >= line.size() || line[i] == '#') break;
        if (line[i] == '&' || line[i] == '!') {  // an anchor or a tag: the node follows it
          // A verbatim tag ends at '>'; other tags and anchors end at a blank or a flow indicator (YAML 1.2
          // ns-anchor-char and ns-tag-char exclude them), so in "!a, x" the node starts at ','.
          if (line.substr(i, 2) == "!<") {
            size_t close = line.find('>', i);
            i = close == std::string_view::npos ? line.size() : close + 1;
          } else {
            i++;
            while (i < line.size() && !blank(line[i]) && !flow_indicator(line[i])) i++;
          }
          continue;
        }
        if (line[i] == ',') return YamlHazard{line_no, i + 1, "a value cannot start with ','; quote it"};
        at_start = false;
        break;
      }
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return {};
}

}  // namespace vc
