#include "cli/yaml_out.hpp"

#include <algorithm>
#include <cstdio>

namespace vc::cli {

namespace {

// Words that YAML 1.1 or 1.2 readers turn into booleans or null; quoting them keeps them strings
// everywhere (kubectl's reader is YAML 1.1: "on", "yes" and "y" would become booleans).
bool is_reserved_word(const std::string& s) {
  static const char* words[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"};
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* w : words)
    if (lower == w) return true;
  return false;
}

// True when a scalar would read as a number (int, float, hex, octal, .inf/.nan, 1_000, 1:30 sexagesimal).
bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9'))) {
    // Anything starting like a number and made of number characters is quoted; over-quoting is harmless.
    return std::all_of(s.begin() + static_cast<long>(i), s.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '_' || c == ':' || c == 'x' ||
             c == 'o' || c == '+' || c == '-' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
  }
  std::string lower = s.substr(i);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == ".inf" || lower == ".nan";
}

bool plain_ok(const std::string& s) {
  if (s.empty() || is_reserved_word(s) || looks_numeric(s)) return false;
  // Characters that start YAML syntax when first, and sequences that end a plain scalar anywhere.
  static const std::string bad_first = "-?:,[]{}#&*!|>'\"%@` ";
  if (bad_first.find(s[0]) != std::string::npos) return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f || c >= 0x80) return false;
  return true;
}

// A literal block (|) keeps multi-line text (kubeconfigs, values files) readable. Only text ending in one
// newline, with no tabs, carriage returns or other control characters and a first line that is not
// indented qualifies; anything else is JSON-quoted.
bool literal_ok(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n') return false;
  if (s[0] == ' ' || s[0] == '\n') return false;
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  // A line with trailing spaces survives a literal block, but a line of only spaces before a shorter one
  // would confuse indentation detection in some readers; quote those.
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    std::string line = s.substr(pos, nl - pos);
    if (!line.empty() && line.find_first_not_of(' ') == std::string::npos) return false;
    pos = nl + 1;
  }
  return true;
}

void scalar(std::string& out, const json::Value& v, const std::string& indent) {
  switch (v.type()) {
    case json::Type::kNull:
      out += "null";
      break;
    case json::Type::kBool:
      out += v.as_bool() ? "true" : "false";
      break;
    case json::Type::kString: {
      const std::string& s = v.as_string();
      if (plain_ok(s)) {
        out += s;
      } else if (literal_ok(s)) {
        out += "|";
        size_t pos = 0;
        while (pos < s.size()) {
          size_t nl = s.find('\n', pos);
          out += "\n";
          std::string line = s.substr(pos, nl - pos);
          if (!line.empty()) out += indent + "  " + line;
          pos = nl + 1;
        }
      } else {
        json::quote_to(out, s);
      }
      break;
    }
    default:
      out += json::dump(v);
      break;
  }
}

bool is_empty_container(const json::Value& v) {
  return (v.is_object() || v.is_array()) && v.empty();
}

void node(std::string& out, const json::Value& v, const std::string& indent);

// Writes the value of a "key:" or "- " line: a scalar or empty container on the same line, otherwise a
// nested block on the following lines.
void value_after_key(std::string& out, const json::Value& v, const std::string& indent) {
  if (v.is_object() && !v.empty()) {
    out += "\n";
    node(out, v, indent + "  ");
  } else if (v.is_array() && !v.empty()) {
    // Sequences under a mapping key sit at the key's indentation, as kubectl prints them.
    out += "\n";
    node(out, v, indent);
  } else if (is_empty_container(v)) {
    out += v.is_object() ? " {}\n" : " []\n";
  } else {
    out += " ";
    scalar(out, v, indent);
    out += "\n";
  }
}

void key(std::string& out, const std::string& k) {
  if (plain_ok(k)) {
    out += k;
  } else {
    json::quote_to(out, k);
  }
  out += ":";
}

void node(std::string& out, const json::Value& v, const std::string& indent) {
  if (v.is_object()) {
    for (auto& [k, child] : v.members()) {
      out += indent;
      key(out, k);
      value_after_key(out, child, indent);
    }
  } else if (v.is_array()) {
    for (auto& item : v.items()) {
      out += indent + "-";
      if (item.is_object() && !item.empty()) {
        // The first member shares the dash's line; the rest align under it.
        std::string inner = indent + "  ";
        bool first = true;
        for (auto& [k, child] : item.members()) {
          out += first ? " " : inner;
          first = false;
          key(out, k);
          value_after_key(out, child, inner);
        }
      } else if (item.is_array() && !item.empty()) {
        out += "\n";
        node(out, item, indent + "  ");
      } else {
        value_after_key(out, item, indent);
      }
    }
  } else {
    out += indent;
    scalar(out, v, indent);
    out += "\n";
  }
}

}  // namespace

std::string to_yaml(const json::Value& v) {
  std::string out;
  if (is_empty_container(v)) return v.is_object() ? "{}\n" : "[]\n";
  node(out, v, "");
  return out;
}

std::string to_yaml_documents(const std::vector<json::Value>& docs) {
  std::string out;
  for (auto& d : docs) {
    out += "---\n";
    out += to_yaml(d);
  }
  return out;
}

}  // namespace vc::cli
