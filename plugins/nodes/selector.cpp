#include "selector.hpp"

#include <algorithm>

namespace vcp_nodes {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A label key is an optional DNS-subdomain prefix and "/" followed by a name of [A-Za-z0-9._-]; the API
// server checks the finer rules, a selector only needs to tell a key from an operator.
bool valid_key(std::string_view k) {
  if (k.empty()) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
  });
}

// Label values are at most 63 characters of [A-Za-z0-9._-], and may be empty.
bool valid_value(std::string_view v) {
  return v.size() <= 63 && std::all_of(v.begin(), v.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
         });
}

// Splits on commas outside parentheses, so that "a in (x,y),b" gives two terms.
std::vector<std::string_view> terms(std::string_view text, bool* balanced) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  *balanced = true;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '(') depth++;
    if (text[i] == ')' && --depth < 0) *balanced = false;
    if (text[i] == ',' && depth == 0) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) *balanced = false;
  out.push_back(text.substr(start));
  return out;
}

bool parse_term(std::string_view term, Requirement* r, std::string* why) {
  auto bad = [&](std::string_view what) {
    *why = "the node selector term \"" + std::string(term) + "\" " + std::string(what);
    return false;
  };
  if (term.empty()) return bad("is empty; remove the stray comma");
  if (term.front() == '!') {
    r->op = Requirement::Op::kDoesNotExist;
    r->key = std::string(trim(term.substr(1)));
    return valid_key(r->key) ? true : bad("does not name a valid label key after '!'");
  }
  if (size_t p = term.find("!="); p != std::string_view::npos) {
    r->op = Requirement::Op::kNotEquals;
    r->key = std::string(trim(term.substr(0, p)));
    r->values = {std::string(trim(term.substr(p + 2)))};
  } else if (size_t q = term.find('='); q != std::string_view::npos) {
    r->op = Requirement::Op::kEquals;
    r->key = std::string(trim(term.substr(0, q)));
    size_t vstart = q + 1 < term.size() && term[q + 1] == '=' ? q + 2 : q + 1;
    r->values = {std::string(trim(term.substr(vstart)))};
  } else if (size_t open = term.find('('); open != std::string_view::npos) {
    // "key in (a,b)" / "key notin (a,b)": the operator is the last word before the parenthesis.
    std::string_view head = trim(term.substr(0, open));
    size_t sp = head.find_last_of(" \t");
    if (sp == std::string_view::npos) return bad("needs \"key in (values)\" or \"key notin (values)\"");
    std::string_view op = head.substr(sp + 1);
    if (op == "in") {
      r->op = Requirement::Op::kIn;
    } else if (op == "notin") {
      r->op = Requirement::Op::kNotIn;
    } else {
      return bad("uses the operator \"" + std::string(op) + "\"; only in and notin take a value set");
    }
    r->key = std::string(trim(head.substr(0, sp)));
    if (term.back() != ')') return bad("has text after its closing parenthesis");
    std::string_view inner = term.substr(open + 1, term.size() - open - 2);
    size_t start = 0;
    while (true) {
      size_t c = inner.find(',', start);
      r->values.emplace_back(
          trim(inner.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start)));
      if (c == std::string_view::npos) break;
      start = c + 1;
    }
  } else if (term.find_first_of("<> \t") != std::string_view::npos) {
    return bad(
        "is not a label selector requirement (key, !key, key=value, key!=value, key in (...), key notin "
        "(...))");
  } else {
    r->op = Requirement::Op::kExists;
    r->key = std::string(term);
  }
  if (!valid_key(r->key)) return bad("does not start with a valid label key");
  for (const std::string& v : r->values) {
    if (!valid_value(v)) return bad("has the value \"" + v + "\", which is not a valid label value");
  }
  return true;
}

}  // namespace

bool parse_selector(std::string_view text, Selector* out, std::string* why) {
  out->requirements.clear();
  text = trim(text);
  if (text.empty()) return true;
  bool balanced = true;
  std::vector<std::string_view> parts = terms(text, &balanced);
  if (!balanced) {
    *why = "the node selector \"" + std::string(text) + "\" has unbalanced parentheses";
    return false;
  }
  for (std::string_view t : parts) {
    Requirement r;
    if (!parse_term(trim(t), &r, why)) return false;
    out->requirements.push_back(std::move(r));
  }
  return true;
}

bool Selector::matches(const vc::json::Value* labels) const {
  for (const Requirement& r : requirements) {
    const vc::json::Value* v = labels ? labels->find(r.key) : nullptr;
    const std::string* s = v && v->is_string() ? &v->as_string() : nullptr;
    bool in_set = s && std::find(r.values.begin(), r.values.end(), *s) != r.values.end();
    bool ok = false;
    switch (r.op) {
      case Requirement::Op::kEquals:
      case Requirement::Op::kIn:
        ok = in_set;
        break;
      case Requirement::Op::kNotEquals:
      case Requirement::Op::kNotIn:
        ok = !in_set;
        break;
      case Requirement::Op::kExists:
        ok = s != nullptr;
        break;
      case Requirement::Op::kDoesNotExist:
        ok = s == nullptr;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace vcp_nodes
