#include "util/yaml_guard.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <sstream>
#include <string>

namespace vc {

namespace {

// yaml-cpp 0.7's infinite loops all look alike from outside: the parser emits events (empty documents, nulls)
// forever without reading further. A document cannot have more events than a small multiple of its bytes
// (an event needs at least a character or two: "[]", "- ", "---"), so counting them with a generous budget
// stops every such loop, whatever input shape causes it, before LoadAll builds anything.
struct Runaway {
  size_t line = 0;
};
class EventBudget : public YAML::EventHandler {
 public:
  explicit EventBudget(size_t limit) : limit_(limit) {}
  void OnDocumentStart(const YAML::Mark& m) override { tick(m); }
  void OnDocumentEnd() override { tick(); }
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { tick(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { tick(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override {
    tick(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    tick(m);
  }
  void OnSequenceEnd() override { tick(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    tick(m);
  }
  void OnMapEnd() override { tick(); }

 private:
  void tick(const YAML::Mark& m) {
    line_ = m.line >= 0 ? static_cast<size_t>(m.line) + 1 : line_;
    tick();
  }
  void tick() {
    if (++events_ > limit_) throw Runaway{line_ == 0 ? 1 : line_};
  }
  size_t limit_, events_ = 0, line_ = 0;
};

YamlHazard runaway(std::string_view text) {
  std::stringstream in{std::string(text)};
  try {
    YAML::Parser parser(in);
    EventBudget budget(16 * text.size() + 64);
    while (parser.HandleNextDocument(budget)) {
    }
  } catch (const Runaway& r) {
    return YamlHazard{r.line, 1, "the YAML parser loops on this document; check the syntax around here"};
  } catch (...) {
    // A syntax error: the real parse reports it with its own message.
  }
  return {};
}

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

// Where a token may start: the line's start, after a blank, or after an indicator that ends one.
bool token_start(std::string_view line, size_t j) {
  if (j == 0) return true;
  char p = line[j - 1];
  return blank(p) || p == '[' || p == '{' || p == ',' || p == ':' || p == '-' || p == '?';
}

}  // namespace

YamlHazard yaml_hazard(std::string_view text) {
  bool at_start = true;    // no node of the current document seen yet
  int flow_depth = 0;      // inside [ ] or { } (where a line may well start with ',')
  char quote = 0;          // inside a quoted scalar that goes on over lines: '"' or '\''
  long block_indent = -1;  // inside a block scalar (| or >): the indentation of the line that opened it
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    // Lines as yaml-cpp 0.7 reads them: a '\r' alone does not end one (in "#\r'x'\n," the quote is part of
    // the comment and the ',' starts the document).
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    line_no++;
    size_t indent = 0;
    while (indent < line.size() && line[indent] == ' ') indent++;
    bool empty = indent == line.size() || line.find_first_not_of(" \t\r", indent) == std::string_view::npos;
    // A block scalar's lines are text, whatever they start with, while they are indented deeper than the
    // line that opened it (or blank).
    if (block_indent >= 0) {
      if (empty || static_cast<long>(indent) > block_indent) {
        if (end == text.size()) break;
        pos = end + 1;
        continue;
      }
      block_indent = -1;
    }
    size_t i = 0;
    if (quote == 0) {
      // A document marker starts a new document; what follows it on the line is that document's first node.
      if (line.substr(0, 3) == "---" && (line.size() == 3 || blank(line[3]))) {
        at_start = true;
        flow_depth = 0;
        i = 3;
      } else if (line.substr(0, 3) == "..." && (line.size() == 3 || blank(line[3]))) {
        at_start = true;
        flow_depth = 0;
        i = 3;
      } else if (at_start && !line.empty() && line[0] == '%') {
        // A directive: nothing on its line opens a quote, a collection or a block scalar.
        if (end == text.size()) break;
        pos = end + 1;
        continue;
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
      // Outside flow collections, a line that starts with ',' is the other shape yaml-cpp 0.7 never returns
      // from ("n #c\n," and "- n #c\n,": after a node and a comment). Valid YAML reads such a line as a plain
      // scalar's continuation, which no values file or kubeconfig needs; quoting the scalar says the same.
      size_t first = line.find_first_not_of(" \t\r");
      if (!empty && flow_depth == 0 && first != std::string_view::npos && line[first] == ',')
        return YamlHazard{line_no, first + 1, "a line cannot start with ','; quote the value it belongs to"};
    }
    // What the line opens or closes: quotes that go on, flow collections, a block scalar.
    size_t j = quote != 0 ? 0 : indent;
    size_t last_token = std::string_view::npos;  // where the last thing outside quotes and comments is
    for (; j < line.size(); j++) {
      char c = line[j];
      if (quote == '"') {
        if (c == '\\') {
          j++;
        } else if (c == '"') {
          quote = 0;
          last_token = j;
        }
        continue;
      }
      if (quote == '\'') {
        if (c == '\'' && j + 1 < line.size() && line[j + 1] == '\'') {
          j++;
        } else if (c == '\'') {
          quote = 0;
          last_token = j;
        }
        continue;
      }
      if (c == '#' && (j == 0 || blank(line[j - 1]))) break;  // a comment
      if ((c == '"' || c == '\'') && token_start(line, j)) {
        quote = c;
        continue;
      }
      if ((c == '[' || c == '{') && (flow_depth > 0 || token_start(line, j))) {
        flow_depth++;
      } else if ((c == ']' || c == '}') && flow_depth > 0) {
        flow_depth--;
      }
      if (!blank(c)) last_token = j;
    }
    // "key: |", "- >-", "|2": the lines after it are a block scalar's.
    if (quote == 0 && flow_depth == 0 && last_token != std::string_view::npos) {
      size_t k = last_token;
      while (k > indent && (line[k] == '+' || line[k] == '-' || (line[k] >= '0' && line[k] <= '9'))) k--;
      if ((line[k] == '|' || line[k] == '>') && token_start(line, k))
        block_indent = static_cast<long>(indent);
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return runaway(text);
}

}  // namespace vc
