// Parsing, merging and validating values files against a key table. yaml-cpp throws on malformed input and on
// misuse; the public functions catch at their boundary so that no exception leaves this module.
#include "config/values.hpp"
#include "util/yaml_guard.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace vc::config {
namespace {

using Segs = std::vector<std::string>;
using Flat = std::map<std::string, Values::Leaf, std::less<>>;

Segs split(std::string_view path) {
  Segs out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.emplace_back(
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string join(const Segs& segs, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < segs.size(); ++i) {
    if (i > 0) out += '.';
    out += segs[i];
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// The key table split into segments once.
struct Table {
  const std::vector<KeySpec>& spec;
  std::vector<Segs> segs;
  explicit Table(const std::vector<KeySpec>& s) : spec(s) {
    for (const auto& k : s) segs.push_back(split(k.path));
  }
};

// How well the first n segments of `pattern` match `concrete`: -1 when they do not, else the number of
// literal (non-"*") segments, so that a literal row beats a wildcard row for the same path.
int match_prefix(const Segs& pattern, const Segs& concrete, size_t n) {
  if (pattern.size() < n || concrete.size() < n) return -1;
  int literal = 0;
  for (size_t i = 0; i < n; ++i) {
    if (pattern[i] == "*") continue;
    if (pattern[i] != concrete[i]) return -1;
    ++literal;
  }
  return literal;
}

enum class Kind { kUnknown, kLeaf, kParent };
struct Match {
  Kind kind = Kind::kUnknown;
  int index = -1;              // the leaf row, for kLeaf
  bool wildcard_last = false;  // the last segment was matched by "*", so it is a user-chosen name
};

Match classify(const Table& t, const Segs& concrete) {
  Match best;
  int best_score = -1;
  const size_t n = concrete.size();
  for (size_t i = 0; i < t.segs.size(); ++i) {
    const Segs& p = t.segs[i];
    int score = match_prefix(p, concrete, n);
    if (score < 0) continue;
    const bool leaf = p.size() == n;
    // Ties go to the leaf; otherwise the more literal row wins.
    if (score > best_score || (score == best_score && leaf && best.kind != Kind::kLeaf)) {
      best_score = score;
      best.kind = leaf ? Kind::kLeaf : Kind::kParent;
      best.index = leaf ? int(i) : -1;
      best.wildcard_last = p[n - 1] == "*";
    }
  }
  return best;
}

// "values.yaml:3:5: " from a 0-based yaml-cpp mark; marks of synthesised nodes are unset, then just the name.
std::string at(const std::string& name, const YAML::Mark& m) {
  if (name.empty()) return "";  // a table default: its position inside a one-line snippet means nothing
  if (m.is_null() || m.line < 0) return name + ": ";
  return name + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

bool plain(const YAML::Node& n) {
  return n.Tag() == "?";
}

// What was found instead, for "got ..." in messages.
std::string describe(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "null";
  if (n.IsScalar()) return plain(n) ? "\"" + n.Scalar() + "\"" : "the quoted string \"" + n.Scalar() + "\"";
  return "an undefined node";
}

Error bad(std::string msg) {
  return Error(ErrorKind::kInvalidArgument, std::move(msg));
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so "enabeld" is one edit from
// "enabled", the commonest typo.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The closest candidate when it is close enough to be a typo of `wrong` (whose last segment is `last`): at
// most a third of that segment's length, between 1 and 3 edits. Empty when nothing is close.
std::string suggest(const std::vector<std::string>& candidates, const std::string& wrong,
                    const std::string& last) {
  const size_t limit = std::clamp<size_t>(last.size() / 3, 1, 3);
  std::string best;
  size_t best_d = limit + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(wrong, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

// The names a table allows directly under `parent` (segments), "*" shown as <name>, sorted and unique.
std::vector<std::string> children(const Table& t, const Segs& parent) {
  std::set<std::string> out;
  for (const auto& p : t.segs) {
    if (p.size() <= parent.size() || match_prefix(p, parent, parent.size()) < 0) continue;
    out.insert(p[parent.size()] == "*" ? "<name>" : p[parent.size()]);
  }
  return {out.begin(), out.end()};
}

Error unknown_key(const Table& t, const Segs& segs, const std::string& pos) {
  const size_t n = segs.size();
  const std::string path = join(segs, n);
  std::vector<std::string> candidates;
  for (const auto& p : t.segs) {
    if (p.size() < n) continue;
    Segs c(p.begin(), p.begin() + long(n));
    // A wildcard stands for whatever the file wrote there, so only the literal segments count as differences.
    for (size_t i = 0; i < n; ++i)
      if (c[i] == "*") c[i] = segs[i];
    candidates.push_back(join(c, n));
  }
  std::string s = suggest(candidates, path, segs.back());
  if (!s.empty()) return bad(pos + path + " is not a known key (did you mean " + s + "?)");
  Segs parent(segs.begin(), segs.end() - 1);
  std::vector<std::string> known = children(t, parent);
  return bad(pos + path + " is not a known key (known " +
             (parent.empty() ? std::string("top-level keys") : "keys under " + join(parent, parent.size())) +
             ": " + join_list(known) + ")");
}

bool parse_int(const std::string& s, int64_t* out) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') ++b;  // YAML 1.2 core schema allows a leading '+'; from_chars does not
  if (b == e) return false;
  auto [ptr, ec] = std::from_chars(b, e, *out);
  return ec == std::errc() && ptr == e;
}

// Converts one value node for table row `ks`; `path` is the concrete dotted path and `name` the source.
Error convert(const YAML::Node& v, const KeySpec& ks, const std::string& path, const std::string& name,
              Values::Leaf* out) {
  out->type = ks.type;
  if (v.IsNull()) {
    out->null = true;
    return {};
  }
  const std::string pos = at(name, v.Mark());
  switch (ks.type) {
    case KeyType::kBool: {
      // YAML 1.2 core schema spellings only; YAML 1.1's yes/no/on/off are the classic helm surprise.
      const std::string s = v.IsScalar() ? v.Scalar() : "";
      const bool ok_tag = v.IsScalar() && (plain(v) || v.Tag() == "tag:yaml.org,2002:bool");
      if (ok_tag && (s == "true" || s == "True" || s == "TRUE")) {
        out->b = true;
      } else if (ok_tag && (s == "false" || s == "False" || s == "FALSE")) {
        out->b = false;
      } else {
        return bad(pos + path + " must be a boolean (true or false), got " + describe(v));
      }
      return {};
    }
    case KeyType::kInt: {
      const bool ok_tag = v.IsScalar() && (plain(v) || v.Tag() == "tag:yaml.org,2002:int");
      if (!ok_tag || !parse_int(v.Scalar(), &out->i))
        return bad(pos + path + " must be an integer (decimal, within 64 bits), got " + describe(v));
      return {};
    }
    case KeyType::kString: {
      if (!v.IsScalar()) return bad(pos + path + " must be a string, got " + describe(v));
      out->s = v.Scalar();
      if (!ks.allowed.empty() && std::find(ks.allowed.begin(), ks.allowed.end(), out->s) == ks.allowed.end())
        return bad(pos + path + " must be one of " + join_list(ks.allowed) + ", got " + describe(v));
      return {};
    }
    case KeyType::kStringList: {
      if (!v.IsSequence()) return bad(pos + path + " must be a list of strings, got " + describe(v));
      for (size_t i = 0; i < v.size(); ++i) {
        YAML::Node e = v[i];
        if (!e.IsScalar())
          return bad(at(name, e.Mark()) + path + "[" + std::to_string(i) + "] must be a string, got " +
                     describe(e));
        out->list.push_back(e.Scalar());
      }
      return {};
    }
    case KeyType::kObjectList: {
      const std::string fields = join_list(ks.object_fields);
      if (!v.IsSequence())
        return bad(pos + path + " must be a list of mappings with fields " + fields + ", got " + describe(v));
      for (size_t i = 0; i < v.size(); ++i) {
        YAML::Node e = v[i];
        const std::string item = path + "[" + std::to_string(i) + "]";
        if (!e.IsMap())
          return bad(at(name, e.Mark()) + item + " must be a mapping with fields " + fields + ", got " +
                     describe(e));
        std::map<std::string, std::string> obj;
        std::set<std::string> seen;
        for (auto it = e.begin(); it != e.end(); ++it) {
          const YAML::Node k = it->first;
          const YAML::Node val = it->second;
          const std::string kpos = at(name, k.Mark());
          if (!k.IsScalar())
            return bad(kpos + item + " has a key that is not a string; use one of " + fields);
          const std::string f = k.Scalar();
          if (std::find(ks.object_fields.begin(), ks.object_fields.end(), f) == ks.object_fields.end()) {
            std::string s = suggest(ks.object_fields, f, f);
            return bad(kpos + item + "." + f + " is not a known field (" +
                       (s.empty() ? "fields: " + fields : "did you mean " + s + "?") + ")");
          }
          if (!seen.insert(f).second) return bad(kpos + item + "." + f + " appears twice; keep one");
          if (val.IsNull()) continue;
          if (!val.IsScalar())
            return bad(at(name, val.Mark()) + item + "." + f + " must be a string, got " + describe(val));
          obj[f] = val.Scalar();
        }
        out->objects.push_back(std::move(obj));
      }
      return {};
    }
    case KeyType::kStringMap: {
      if (!v.IsMap()) return bad(pos + path + " must be a mapping of names to strings, got " + describe(v));
      std::set<std::string> seen;
      for (auto it = v.begin(); it != v.end(); ++it) {
        const YAML::Node k = it->first;
        const YAML::Node val = it->second;
        if (!k.IsScalar()) return bad(at(name, k.Mark()) + path + " has a key that is not a string");
        const std::string key = k.Scalar();
        if (!seen.insert(key).second)
          return bad(at(name, k.Mark()) + path + "." + key + " appears twice in the same mapping; keep one");
        if (val.IsNull()) {
          out->map_removed.push_back(key);
        } else if (val.IsScalar()) {
          out->map[key] = val.Scalar();
        } else {
          return bad(at(name, val.Mark()) + path + "." + key + " must be a string, got " + describe(val));
        }
      }
      return {};
    }
  }
  return Error(ErrorKind::kInternal, pos + path + " has a key type this build does not know");
}

// Walks one mapping at `segs`, validating keys against the table and collecting leaves into `out`.
Error walk(const YAML::Node& map, Segs* segs, const std::string& name, const Table& t, Flat* out) {
  std::map<std::string, YAML::Mark> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    const std::string pos = at(name, k.Mark());
    if (!k.IsScalar())
      return bad(
          pos +
          (segs->empty() ? std::string("a top-level key") : "a key under " + join(*segs, segs->size())) +
          " is not a string; keys are plain names");
    const std::string key = k.Scalar();
    segs->push_back(key);
    const std::string path = join(*segs, segs->size());
    auto dup = seen.find(key);
    if (dup != seen.end())
      return bad(pos + path + " appears twice in the same mapping (first at " +
                 std::to_string(dup->second.line + 1) + ":" + std::to_string(dup->second.column + 1) +
                 "); keep one");
    seen.emplace(key, k.Mark());
    Match m = classify(t, *segs);
    if (m.kind == Kind::kUnknown) return unknown_key(t, *segs, pos);
    // A user-chosen name becomes one segment of a dotted path, so it cannot itself contain a dot.
    if (m.wildcard_last && (key.empty() || key.find('.') != std::string::npos))
      return bad(pos + "\"" + key + "\" under " + join(*segs, segs->size() - 1) +
                 " is not a valid name; names may not be empty or contain '.'");
    if (m.kind == Kind::kLeaf) {
      Values::Leaf leaf;
      if (Error e = convert(v, t.spec[size_t(m.index)], path, name, &leaf)) return e;
      (*out)[path] = std::move(leaf);
    } else if (v.IsMap()) {
      if (Error e = walk(v, segs, name, t, out)) return e;
    } else if (!v.IsNull()) {
      // A null parent ("sync:" with nothing under it) sets nothing; anything else is a shape error.
      return bad(at(name, v.Mark()) + path + " must be a mapping (with keys such as " +
                 join_list(children(t, *segs)) + "), got " + describe(v));
    }
    segs->pop_back();
  }
  return {};
}

Error parse_document(std::string_view text, const std::string& name, const Table& t, Flat* out) {
  std::vector<YAML::Node> docs;
  if (YamlHazard h = yaml_hazard(text))
    return Error(ErrorKind::kParse, name + ":" + std::to_string(h.line) + ":" + std::to_string(h.column) +
                                        ": not valid YAML (" + h.why + "); fix the syntax");
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error(ErrorKind::kParse, at(name, e.mark) + "not valid YAML (" + e.msg + "); fix the syntax");
  }
  YAML::Node root;
  int non_null = 0;
  for (const auto& d : docs)
    if (!d.IsNull()) {
      if (non_null++ == 0) root = d;
    }
  if (non_null > 1)
    return bad(name + ": holds " + std::to_string(non_null) +
               " YAML documents; put each in its own file and pass them in order with -f");
  if (non_null == 0) return {};
  if (!root.IsMap())
    return bad(at(name, root.Mark()) + "the document must be a mapping of keys (such as " +
               join_list(children(t, {})) + "), got " + describe(root));
  Segs segs;
  return walk(root, &segs, name, t, out);
}

// Applies one file's leaves over the merged result: a later file replaces a key, null returns it to its
// default, and string maps merge key by key, as helm merges maps.
void merge(const Flat& file, Flat* into) {
  for (const auto& [path, leaf] : file) {
    if (leaf.null) {
      into->erase(path);
      continue;
    }
    auto it = into->find(path);
    if (leaf.type == KeyType::kStringMap && it != into->end()) {
      for (const auto& k : leaf.map_removed) it->second.map.erase(k);
      for (const auto& [k, v] : leaf.map) it->second.map[k] = v;
      continue;
    }
    Values::Leaf copy = leaf;
    copy.map_removed.clear();
    (*into)[path] = std::move(copy);
  }
}

bool read_file(const std::string& path, std::string* out, std::string* reason) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    *reason = "it is a directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *reason = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// JSON string literal (RFC 8259 section 7) for get_raw.
std::string json_str(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
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
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_map(const std::map<std::string, std::string>& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) {
    if (out.size() > 1) out += ",";
    out += json_str(k) + ":" + json_str(v);
  }
  return out + "}";
}

// True when a plain scalar with this text would be read back as something other than a string by YAML 1.1
// or 1.2 readers (helm, kubectl, PyYAML): then it is written quoted, so that "true" stays a string
// everywhere.
bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  std::string lower;
  for (char c : s) lower += char(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> words = {"true", "false", "yes", "no",   "on",
                                              "off",  "y",     "n",   "null", "~"};
  if (words.count(lower) != 0) return true;
  const char c0 = s[0];
  if (std::isdigit(static_cast<unsigned char>(c0)) || c0 == '-' || c0 == '+' || c0 == '.') {
    char* end = nullptr;
    errno = 0;
    std::strtod(s.c_str(), &end);
    if (end != nullptr && *end == '\0') return true;
    if (lower == ".inf" || lower == "-.inf" || lower == ".nan" || lower.rfind("0x", 0) == 0 ||
        lower.rfind("0o", 0) == 0)
      return true;
  }
  return false;
}

void emit_string(YAML::Emitter& em, const std::string& s) {
  if (needs_quotes(s)) {
    em << YAML::DoubleQuoted << s;
  } else {
    em << s;
  }
}

void emit_leaf(YAML::Emitter& em, const Values::Leaf& l) {
  switch (l.type) {
    case KeyType::kBool:
      em << (l.b ? "true" : "false");
      return;
    case KeyType::kInt:
      em << l.i;
      return;
    case KeyType::kString:
      emit_string(em, l.s);
      return;
    case KeyType::kStringList:
      if (l.list.empty()) em << YAML::Flow;
      em << YAML::BeginSeq;
      for (const auto& s : l.list) emit_string(em, s);
      em << YAML::EndSeq;
      return;
    case KeyType::kObjectList:
      if (l.objects.empty()) em << YAML::Flow;
      em << YAML::BeginSeq;
      for (const auto& o : l.objects) {
        em << YAML::BeginMap;
        for (const auto& [k, v] : o) {
          em << YAML::Key << k << YAML::Value;
          emit_string(em, v);
        }
        em << YAML::EndMap;
      }
      em << YAML::EndSeq;
      return;
    case KeyType::kStringMap:
      if (l.map.empty()) em << YAML::Flow;
      em << YAML::BeginMap;
      for (const auto& [k, v] : l.map) {
        em << YAML::Key;
        emit_string(em, k);
        em << YAML::Value;
        emit_string(em, v);
      }
      em << YAML::EndMap;
      return;
  }
}

// The effective values as a tree in table order, for emitting.
// Children by name in insertion order. Names and subtrees are two vectors: a vector of pair<string, Tree>
// inside Tree names an incomplete type, which clang's libstdc++ checks refuse (a vector of Tree is allowed).
struct Tree {
  std::vector<std::string> names;
  std::vector<Tree> kids;
  const Values::Leaf* leaf = nullptr;
  Tree& child(const std::string& k) {
    for (size_t i = 0; i < names.size(); i++)
      if (names[i] == k) return kids[i];
    names.push_back(k);
    kids.emplace_back();
    return kids.back();
  }
};

void emit_tree(YAML::Emitter& em, const Tree& t) {
  if (t.leaf != nullptr) {
    emit_leaf(em, *t.leaf);
    return;
  }
  em << YAML::BeginMap;
  for (size_t i = 0; i < t.kids.size(); i++) {
    em << YAML::Key << t.names[i] << YAML::Value;
    emit_tree(em, t.kids[i]);
  }
  em << YAML::EndMap;
}

// Parses every default of a table; the table has been validated, so failures are internal errors.
Error parse_defaults(const Table& t, Flat* out) {
  for (const auto& ks : t.spec) {
    if (ks.default_yaml.empty()) continue;
    const std::string name = "key table: default of " + ks.path + " (owner " + ks.owner + ")";
    YAML::Node n;
    try {
      n = YAML::Load(ks.default_yaml);
    } catch (const YAML::Exception& e) {
      return Error(ErrorKind::kInternal, name + " is not valid YAML (" + e.msg + "); fix the key table");
    }
    Values::Leaf leaf;
    if (Error e = convert(n, ks, ks.path, "", &leaf)) {
      return Error(ErrorKind::kInternal, name + ": " + e.message + "; fix the key table");
    }
    if (!leaf.null) (*out)[ks.path] = std::move(leaf);
  }
  return {};
}

}  // namespace

Error validate_spec(const std::vector<KeySpec>& spec) {
  try {
    Table t(spec);
    std::map<std::string, const KeySpec*> seen;
    for (size_t i = 0; i < spec.size(); ++i) {
      const KeySpec& ks = spec[i];
      const std::string who =
          "key table: " + ks.path + " (owner " + (ks.owner.empty() ? "?" : ks.owner) + ")";
      if (ks.owner.empty())
        return Error(ErrorKind::kInternal, who + " has no owner; set owner to core or the plugin's name");
      for (const auto& seg : t.segs[i])
        if (seg.empty() || (seg != "*" && seg.find('*') != std::string::npos))
          return Error(
              ErrorKind::kInternal,
              who + " is not a valid path; use dotted non-empty segments, \"*\" only as a whole segment");
      auto [it, fresh] = seen.emplace(ks.path, &ks);
      if (!fresh)
        return Error(ErrorKind::kInternal,
                     who + " is declared twice (also by " + it->second->owner + "); each key has one owner");
      if (ks.type == KeyType::kObjectList && ks.object_fields.empty())
        return Error(ErrorKind::kInternal,
                     who + " is a list of objects without object_fields; list its fields");
      if (!ks.allowed.empty() && ks.type != KeyType::kString)
        return Error(ErrorKind::kInternal, who + " has allowed values but is not a string key; drop them");
      // A leaf that is also a parent would make "a.b: x" and "a.b.c: y" both valid, with no way to say which.
      for (size_t j = 0; j < spec.size(); ++j) {
        const Segs& longer = t.segs[j];
        const Segs& mine = t.segs[i];
        if (longer.size() <= mine.size()) continue;
        bool overlap = true;
        for (size_t s = 0; s < mine.size() && overlap; ++s)
          overlap = mine[s] == "*" || longer[s] == "*" || mine[s] == longer[s];
        if (overlap)
          return Error(ErrorKind::kInternal, who + " is a leaf but " + spec[j].path + " (owner " +
                                                 spec[j].owner +
                                                 ") declares keys under it; rename one of them");
      }
    }
    Flat defaults;
    return parse_defaults(t, &defaults);
  } catch (const std::exception& e) {
    return Error(ErrorKind::kInternal, std::string("key table: unexpected error (") + e.what() + ")");
  }
}

Error Values::load_documents(const std::vector<std::pair<std::string, std::string>>& docs,
                             const std::vector<KeySpec>& spec, Values* out) {
  if (Error e = validate_spec(spec)) return e;
  try {
    Table t(spec);
    Values v;
    v.spec_ = spec;
    if (Error e = parse_defaults(t, &v.defaults_)) return e;
    for (const auto& [name, text] : docs) {
      Flat flat;
      if (Error e = parse_document(text, name, t, &flat)) return e;
      merge(flat, &v.set_);
    }
    *out = std::move(v);
    return {};
  } catch (const std::exception& e) {
    return Error(ErrorKind::kInternal, std::string("values: unexpected YAML error (") + e.what() + ")");
  }
}

Error Values::load_string(std::string_view yaml, const std::string& name_for_errors,
                          const std::vector<KeySpec>& spec, Values* out) {
  return load_documents({{name_for_errors, std::string(yaml)}}, spec, out);
}

Error Values::load(const std::vector<std::string>& files, const std::vector<KeySpec>& spec, Values* out) {
  std::vector<std::pair<std::string, std::string>> docs;
  for (const auto& f : files) {
    std::string text, reason;
    if (!read_file(f, &text, &reason))
      return Error(ErrorKind::kIo,
                   "values file " + f + " cannot be read (" + reason + "); check the -f path");
    docs.emplace_back(f, std::move(text));
  }
  return load_documents(docs, spec, out);
}

const Values::Leaf* Values::find(std::string_view path) const {
  auto it = set_.find(path);
  if (it != set_.end()) return &it->second;
  auto memo = default_path_.find(path);
  if (memo == default_path_.end()) {
    Table t(spec_);
    Match m = classify(t, split(path));
    memo = default_path_.emplace(std::string(path), m.kind == Kind::kLeaf ? spec_[size_t(m.index)].path : "")
               .first;
  }
  if (memo->second.empty()) return nullptr;
  auto d = defaults_.find(memo->second);
  return d == defaults_.end() ? nullptr : &d->second;
}

bool Values::get_bool(std::string_view path) const {
  const Leaf* l = find(path);
  return l != nullptr && l->type == KeyType::kBool && l->b;
}

int64_t Values::get_int(std::string_view path) const {
  const Leaf* l = find(path);
  return l != nullptr && l->type == KeyType::kInt ? l->i : 0;
}

std::string Values::get_string(std::string_view path) const {
  const Leaf* l = find(path);
  return l != nullptr && l->type == KeyType::kString ? l->s : std::string();
}

std::vector<std::string> Values::get_string_list(std::string_view path) const {
  const Leaf* l = find(path);
  return l != nullptr && l->type == KeyType::kStringList ? l->list : std::vector<std::string>();
}

std::vector<std::map<std::string, std::string>> Values::get_object_list(std::string_view path) const {
  const Leaf* l = find(path);
  return l != nullptr && l->type == KeyType::kObjectList ? l->objects
                                                         : std::vector<std::map<std::string, std::string>>();
}

std::map<std::string, std::string> Values::get_string_map(std::string_view path) const {
  const Leaf* l = find(path);
  return l != nullptr && l->type == KeyType::kStringMap ? l->map : std::map<std::string, std::string>();
}

bool Values::is_set(std::string_view path) const {
  return set_.find(path) != set_.end();
}

std::vector<std::string> Values::names_under(std::string_view prefix) const {
  std::set<std::string> names;
  const std::string p = std::string(prefix) + ".";
  for (const auto& [path, leaf] : set_) {
    if (path.compare(0, p.size(), p) != 0) continue;
    const size_t dot = path.find('.', p.size());
    names.insert(path.substr(p.size(), dot == std::string::npos ? std::string::npos : dot - p.size()));
  }
  return {names.begin(), names.end()};
}

std::optional<std::string> Values::get_raw(std::string_view path) const {
  const Leaf* l = find(path);
  if (l == nullptr) return std::nullopt;
  switch (l->type) {
    case KeyType::kBool:
      return std::string(l->b ? "true" : "false");
    case KeyType::kInt:
      return std::to_string(l->i);
    case KeyType::kString:
      return l->s;
    case KeyType::kStringList: {
      std::string out = "[";
      for (const auto& s : l->list) out += (out.size() > 1 ? "," : "") + json_str(s);
      return out + "]";
    }
    case KeyType::kObjectList: {
      std::string out = "[";
      for (const auto& o : l->objects) out += (out.size() > 1 ? "," : "") + json_map(o);
      return out + "]";
    }
    case KeyType::kStringMap:
      return json_map(l->map);
  }
  return std::nullopt;
}

std::string Values::to_yaml() const {
  try {
    Table t(spec_);
    // Which concrete names each wildcard prefix took in the files ("plugins.*" -> plugins.pods, plugins.x),
    // so that a named entry shows its defaulted keys too.
    std::map<std::string, std::set<std::string>> bound;
    for (const auto& [path, leaf] : set_) {
      Segs c = split(path);
      Match m = classify(t, c);
      if (m.kind != Kind::kLeaf) continue;
      const Segs& p = t.segs[size_t(m.index)];
      for (size_t i = 0; i < p.size(); ++i)
        if (p[i] == "*") bound[join(p, i + 1)].insert(join(c, i + 1));
    }
    std::vector<std::pair<std::string, const Leaf*>> rows;
    std::set<std::string> done;
    auto add = [&](const std::string& path) {
      if (!done.insert(path).second) return;
      if (const Leaf* l = find(path)) rows.emplace_back(path, l);
    };
    for (size_t i = 0; i < spec_.size(); ++i) {
      const Segs& p = t.segs[i];
      size_t last = p.size();
      for (size_t j = 0; j < p.size(); ++j)
        if (p[j] == "*") last = j;
      if (last == p.size()) {
        add(spec_[i].path);
        continue;
      }
      for (const auto& prefix : bound[join(p, last + 1)]) {
        Segs rest(p.begin() + long(last) + 1, p.end());
        add(prefix + "." + join(rest, rest.size()));
      }
    }
    Tree root;
    for (const auto& [path, leaf] : rows) {
      Tree* cur = &root;
      for (const auto& seg : split(path)) cur = &cur->child(seg);
      cur->leaf = leaf;
    }
    if (root.kids.empty()) return "{}\n";
    YAML::Emitter em;
    emit_tree(em, root);
    return std::string(em.c_str()) + "\n";
  } catch (const std::exception& e) {
    return std::string("# values could not be rendered: ") + e.what() + "\n";
  }
}

}  // namespace vc::config
