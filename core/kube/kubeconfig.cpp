// Kubeconfig loading and editing. yaml-cpp throws on malformed documents and on subscripts of the wrong node
// kind, so every public function catches at its boundary and returns an Error; the helpers below check node
// kinds before subscripting so that the catch is a backstop, not the normal path.
#include "kube/kubeconfig.hpp"
#include "util/yaml_guard.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace vc::kube {
namespace {

namespace fsys = std::filesystem;

Error invalid(std::string msg) {
  return Error(ErrorKind::kInvalidArgument, std::move(msg));
}

// Reads a whole file; on failure `reason` holds strerror so that messages can say why.
bool read_file(const std::string& path, std::string* out, std::string* reason) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *reason = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *reason = "read error";
    return false;
  }
  *out = ss.str();
  return true;
}

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// Standard base64 with padding, as Go's base64.StdEncoding reads it: line breaks are skipped, anything else
// outside the alphabet or a misplaced '=' is rejected.
bool base64_decode(std::string_view in, std::string* out) {
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c == '\r' || c == '\n') continue;
    clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return false;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string res;
  res.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    const bool last = i + 4 == clean.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = clean[i + j];
      if (c == '=') {
        // Padding is legal only in the last quantum, only in its last two places, and only trailing.
        if (!last || j < 2) return false;
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return false;
      v[j] = val(c);
      if (v[j] < 0) return false;
    }
    uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    res.push_back(char((n >> 16) & 0xff));
    if (pad < 2) res.push_back(char((n >> 8) & 0xff));
    if (pad < 1) res.push_back(char(n & 0xff));
  }
  *out = std::move(res);
  return true;
}

std::string base64_encode(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out.push_back(tbl[(n >> 18) & 63]);
    out.push_back(tbl[(n >> 12) & 63]);
    out.push_back(tbl[(n >> 6) & 63]);
    out.push_back(tbl[n & 63]);
  }
  if (i < in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) n |= uint32_t(uint8_t(in[i + 1])) << 8;
    out.push_back(tbl[(n >> 18) & 63]);
    out.push_back(tbl[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? tbl[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string join_names(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string s;
  for (const auto& n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

// A const subscript that never throws: yaml-cpp throws BadSubscript when a scalar is subscripted, and an
// absent key is reported here as a null node so that "missing" and "null" read the same, as they do for
// kubectl.
YAML::Node child(const YAML::Node& map, const char* key) {
  if (!map.IsMap()) return YAML::Node();
  YAML::Node c = map[key];
  if (!c.IsDefined()) return YAML::Node();
  return c;
}

// The parsed document plus the words every message starts with ("kubeconfig /x/config").
struct Doc {
  std::string src;       // "kubeconfig /x/config" or "kubeconfig <inline>"
  std::string base_dir;  // resolves relative file references
  YAML::Node root;
};

Error parse_doc(std::string_view text, Doc* doc) {
  if (YamlHazard h = yaml_hazard(text))
    return Error(ErrorKind::kParse, doc->src + ":" + std::to_string(h.line) + ":" + std::to_string(h.column) +
                                        ": not valid YAML (" + h.why +
                                        "); fix the file or pass another --kubeconfig");
  try {
    doc->root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error(ErrorKind::kParse, doc->src + ":" + std::to_string(e.mark.line + 1) + ":" +
                                        std::to_string(e.mark.column + 1) + ": not valid YAML (" + e.msg +
                                        "); fix the file or pass another --kubeconfig");
  }
  if (doc->root.IsNull()) doc->root = YAML::Node(YAML::NodeType::Map);
  if (!doc->root.IsMap())
    return Error(ErrorKind::kParse, doc->src +
                                        ": the document is not a mapping (expected apiVersion, clusters, "
                                        "users, contexts); fix the file or pass another --kubeconfig");
  return {};
}

// "clusters[0].cluster" + "server", or just "current-context" at the top level.
std::string field(const std::string& where, const char* key) {
  return where.empty() ? key : where + "." + key;
}

// Reads an optional string field; a mapping or a list where a string belongs is an error naming the YAML
// path.
Error get_str(const Doc& doc, const YAML::Node& map, const char* key, const std::string& where,
              std::string* out) {
  YAML::Node n = child(map, key);
  if (n.IsNull()) return {};
  if (!n.IsScalar()) return invalid(doc.src + ": " + field(where, key) + " must be a string; fix that field");
  *out = n.Scalar();
  return {};
}

Error get_bool(const Doc& doc, const YAML::Node& map, const char* key, const std::string& where, bool* out) {
  YAML::Node n = child(map, key);
  if (n.IsNull()) return {};
  std::string s = n.IsScalar() ? n.Scalar() : "";
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true") {
    *out = true;
  } else if (s == "false") {
    *out = false;
  } else {
    return invalid(doc.src + ": " + field(where, key) + " must be true or false; fix that field");
  }
  return {};
}

// One named entry of clusters/users/contexts with the YAML path of its body, e.g. "users[0].user".
struct Entry {
  YAML::Node body;
  std::string where;
  int index = -1;
};

// Finds `name` in the list `list` (whose entries are {name, <inner>: {...}}), checking the list's shape on
// the way. `names` collects every entry's name for "known ..." hints.
Error find_entry(const Doc& doc, const char* list, const char* inner, const std::string& name, Entry* found,
                 std::vector<std::string>* names) {
  YAML::Node seq = child(doc.root, list);
  if (seq.IsNull()) return {};
  if (!seq.IsSequence()) return invalid(doc.src + ": " + list + " must be a list; fix the file");
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string at = std::string(list) + "[" + std::to_string(i) + "]";
    YAML::Node item = seq[i];
    if (!item.IsMap()) return invalid(doc.src + ": " + at + " must be a mapping with name and " + inner);
    std::string n;
    if (Error e = get_str(doc, item, "name", at, &n)) return e;
    names->push_back(n);
    if (n == name && found->index < 0) {
      YAML::Node body = child(item, inner);
      if (!body.IsNull() && !body.IsMap())
        return invalid(doc.src + ": " + at + "." + inner + " must be a mapping; fix the file");
      found->body = body;
      found->where = at + "." + inner;
      found->index = int(i);
    }
  }
  return {};
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || base_dir.empty()) return p;
  return base_dir + "/" + p;
}

// Reads an inline "<key>-data" (base64) or, failing that, the file named by "<key>". Inline data wins, as in
// client-go.
Error get_data_or_file(const Doc& doc, const Entry& e, const char* key, std::string* out) {
  const std::string data_key = std::string(key) + "-data";
  std::string data, file;
  if (Error err = get_str(doc, e.body, data_key.c_str(), e.where, &data)) return err;
  if (Error err = get_str(doc, e.body, key, e.where, &file)) return err;
  if (!data.empty()) {
    if (!base64_decode(data, out))
      return invalid(doc.src + ": " + e.where + "." + data_key +
                     " is not valid base64; re-encode it with base64 -w0");
    return {};
  }
  if (!file.empty()) {
    std::string path = resolve(doc.base_dir, file), reason;
    if (!read_file(path, out, &reason))
      return Error(ErrorKind::kIo, doc.src + ": " + e.where + "." + key + " file " + path +
                                       " cannot be read (" + reason + "); fix the path or embed " + data_key);
  }
  return {};
}

Error resolve_doc(const Doc& doc, const std::string& want_context, RestConfig* out) {
  RestConfig cfg;
  std::string ctx_name = want_context;
  if (ctx_name.empty()) {
    if (Error e = get_str(doc, doc.root, "current-context", "", &ctx_name)) return e;
  }
  Entry ctx;
  std::vector<std::string> ctx_names;
  if (Error e = find_entry(doc, "contexts", "context", ctx_name, &ctx, &ctx_names)) return e;
  if (ctx_name.empty())
    return invalid(doc.src + ": no current-context is set (known contexts: " + join_names(ctx_names) +
                   "); pass --context or set current-context");
  if (ctx.index < 0)
    return Error(ErrorKind::kInvalidArgument,
                 doc.src + ": context \"" + ctx_name + "\" not found (known contexts: " +
                     join_names(ctx_names) + "); pass --context or fix current-context",
                 404);
  cfg.context = ctx_name;
  if (Error e = get_str(doc, ctx.body, "cluster", ctx.where, &cfg.cluster_name)) return e;
  if (Error e = get_str(doc, ctx.body, "user", ctx.where, &cfg.user_name)) return e;
  if (Error e = get_str(doc, ctx.body, "namespace", ctx.where, &cfg.namespace_)) return e;
  // kubectl uses "default" when the context names no namespace.
  if (cfg.namespace_.empty()) cfg.namespace_ = "default";
  if (cfg.cluster_name.empty())
    return invalid(doc.src + ": context \"" + ctx_name + "\" names no cluster; set " + ctx.where +
                   ".cluster");

  Entry cl;
  std::vector<std::string> cl_names;
  if (Error e = find_entry(doc, "clusters", "cluster", cfg.cluster_name, &cl, &cl_names)) return e;
  if (cl.index < 0)
    return invalid(doc.src + ": context \"" + ctx_name + "\" refers to cluster \"" + cfg.cluster_name +
                   "\", which is not in clusters (known clusters: " + join_names(cl_names) + "); fix " +
                   ctx.where + ".cluster");
  if (Error e = get_str(doc, cl.body, "server", cl.where, &cfg.server)) return e;
  if (cfg.server.empty())
    return invalid(doc.src + ": cluster \"" + cfg.cluster_name + "\" has no server; set " + cl.where +
                   ".server");
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0)
    return invalid(doc.src + ": " + cl.where + ".server \"" + cfg.server +
                   "\" is not an http(s) URL; write it as https://host:port");
  while (cfg.server.size() > 8 && cfg.server.back() == '/') cfg.server.pop_back();
  if (Error e = get_data_or_file(doc, cl, "certificate-authority", &cfg.ca_pem)) return e;
  if (Error e = get_bool(doc, cl.body, "insecure-skip-tls-verify", cl.where, &cfg.insecure_skip_tls_verify))
    return e;
  if (Error e = get_str(doc, cl.body, "tls-server-name", cl.where, &cfg.tls_server_name)) return e;

  // A context without a user is legal (anonymous access); a user name that resolves to nothing is a typo.
  if (!cfg.user_name.empty()) {
    Entry us;
    std::vector<std::string> us_names;
    if (Error e = find_entry(doc, "users", "user", cfg.user_name, &us, &us_names)) return e;
    if (us.index < 0)
      return invalid(doc.src + ": context \"" + ctx_name + "\" refers to user \"" + cfg.user_name +
                     "\", which is not in users (known users: " + join_names(us_names) + "); fix " +
                     ctx.where + ".user");
    if (Error e = get_data_or_file(doc, us, "client-certificate", &cfg.cert_pem)) return e;
    if (Error e = get_data_or_file(doc, us, "client-key", &cfg.key_pem)) return e;
    if (cfg.cert_pem.empty() != cfg.key_pem.empty())
      return invalid(doc.src + ": " + us.where +
                     " has a client certificate without a key or a key without a certificate; set both");
    if (Error e = get_str(doc, us.body, "token", us.where, &cfg.token)) return e;
    std::string token_file;
    if (Error e = get_str(doc, us.body, "tokenFile", us.where, &token_file)) return e;
    // client-go: "The last successfully read value [of BearerTokenFile] takes precedence over BearerToken."
    if (!token_file.empty()) {
      cfg.token_file = resolve(doc.base_dir, token_file);
      std::string tok, reason;
      if (!read_file(cfg.token_file, &tok, &reason))
        return Error(ErrorKind::kIo, doc.src + ": " + us.where + ".tokenFile " + cfg.token_file +
                                         " cannot be read (" + reason + "); fix the path");
      cfg.token = trim(tok);
    }
    if (Error e = get_str(doc, us.body, "username", us.where, &cfg.username)) return e;
    if (Error e = get_str(doc, us.body, "password", us.where, &cfg.password)) return e;
    const bool has_cred = !cfg.cert_pem.empty() || !cfg.token.empty() || !cfg.username.empty();
    if (!has_cred && (!child(us.body, "exec").IsNull() || !child(us.body, "auth-provider").IsNull()))
      return invalid(doc.src + ": " + us.where +
                     " uses an exec or auth-provider plugin, which is not supported; use a token or a client "
                     "certificate");
  }
  *out = std::move(cfg);
  return {};
}

std::string dir_of(const std::string& path) {
  fsys::path p(path);
  fsys::path parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

Error load_doc_file(const std::string& path, Doc* doc) {
  doc->src = "kubeconfig " + path;
  doc->base_dir = dir_of(path);
  std::string text, reason;
  if (!read_file(path, &text, &reason))
    return Error(ErrorKind::kIo,
                 doc->src + " cannot be read (" + reason + "); pass an existing file to --kubeconfig");
  return parse_doc(text, doc);
}

// Loads the file for editing; a missing file is an empty Config, anything unreadable or malformed is an error
// so that we never overwrite a file we could not understand.
Error load_for_edit(const std::string& path, Doc* doc, bool must_exist) {
  std::error_code ec;
  if (!must_exist && !fsys::exists(path, ec)) {
    doc->src = "kubeconfig " + path;
    doc->root = YAML::Node(YAML::NodeType::Map);
    return {};
  }
  return load_doc_file(path, doc);
}

Error write_doc(const std::string& path_in, const Doc& doc) {
  // Write through a symlink (e.g. ~/.kube/config managed by a dotfiles repo) rather than replacing it.
  std::error_code ec;
  std::string path = path_in;
  if (fsys::is_symlink(path, ec)) {
    auto target = fsys::canonical(path, ec);
    if (!ec) path = target.string();
  }
  fsys::path dir = fsys::path(path).parent_path();
  if (!dir.empty() && !fsys::exists(dir, ec)) {
    fsys::create_directories(dir, ec);
    if (ec)
      return Error(ErrorKind::kIo, doc.src + ": directory " + dir.string() + " cannot be created (" +
                                       ec.message() + "); create it or choose another path");
  }
  YAML::Emitter em;
  em << doc.root;
  if (!em.good())
    return Error(ErrorKind::kInternal,
                 doc.src + ": cannot serialise the document (" + em.GetLastError() + ")");
  std::string text = std::string(em.c_str()) + "\n";
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  // Credentials live in this file: 0600, as kubectl writes it.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return Error(ErrorKind::kIo,
                 doc.src + ": temporary file " + tmp + " cannot be created (" + std::strerror(errno) +
                     "); check the directory's permissions",
                 errno);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error(ErrorKind::kIo, doc.src + ": writing " + tmp + " failed (" + std::strerror(err) + ")",
                   err);
    }
    off += size_t(n);
  }
  // fsync before rename: otherwise a crash can leave the renamed file empty on some filesystems.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error(ErrorKind::kIo, doc.src + ": flushing " + tmp + " failed (" + std::strerror(err) + ")", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error(ErrorKind::kIo,
                 doc.src + ": renaming " + tmp + " to " + path + " failed (" + std::strerror(err) + ")", err);
  }
  return {};
}

// Returns the list `key` of the root as a sequence, creating it when absent; fails when it is something else.
Error ensure_list(Doc* doc, const char* key, YAML::Node* out) {
  YAML::Node n = child(doc->root, key);
  if (n.IsNull()) {
    doc->root[key] = YAML::Node(YAML::NodeType::Sequence);
    *out = doc->root[key];
    return {};
  }
  if (!n.IsSequence())
    return invalid(doc->src + ": " + key + " must be a list; fix the file before editing it");
  *out = n;
  return {};
}

// Replaces the body of entry `name` in list `key` or appends a new entry.
Error upsert_entry(Doc* doc, const char* key, const char* inner, const std::string& name,
                   const YAML::Node& body) {
  YAML::Node seq;
  if (Error e = ensure_list(doc, key, &seq)) return e;
  for (size_t i = 0; i < seq.size(); ++i) {
    YAML::Node item = seq[i];
    if (item.IsMap() && child(item, "name").IsScalar() && item["name"].Scalar() == name) {
      item[inner] = body;
      return {};
    }
  }
  YAML::Node item(YAML::NodeType::Map);
  item["name"] = name;
  item[inner] = body;
  seq.push_back(item);
  return {};
}

bool context_exists(const Doc& doc, const std::string& name) {
  YAML::Node seq = child(doc.root, "contexts");
  if (!seq.IsSequence()) return false;
  for (size_t i = 0; i < seq.size(); ++i) {
    YAML::Node n = child(seq[i], "name");
    if (n.IsScalar() && n.Scalar() == name) return true;
  }
  return false;
}

Error not_found(const Doc& doc, const std::string& context) {
  std::vector<std::string> names;
  YAML::Node seq = child(doc.root, "contexts");
  if (seq.IsSequence())
    for (size_t i = 0; i < seq.size(); ++i) {
      YAML::Node n = child(seq[i], "name");
      if (n.IsScalar()) names.push_back(n.Scalar());
    }
  return Error(ErrorKind::kInvalidArgument,
               doc.src + ": context \"" + context + "\" not found (known contexts: " + join_names(names) +
                   "); pass one of those",
               404);
}

Error internal(const std::string& what, const std::exception& e) {
  return Error(ErrorKind::kInternal,
               what + ": unexpected YAML error (" + e.what() + "); please report this file");
}

}  // namespace

Error load_kubeconfig_yaml(std::string_view yaml, const std::string& base_dir, const std::string& context,
                           RestConfig* out) {
  Doc doc;
  doc.src = "kubeconfig <inline>";
  doc.base_dir = base_dir;
  try {
    if (Error e = parse_doc(yaml, &doc)) return e;
    return resolve_doc(doc, context, out);
  } catch (const std::exception& e) {
    return internal(doc.src, e);
  }
}

Error load_kubeconfig_file(const std::string& path, const std::string& context, RestConfig* out) {
  Doc doc;
  try {
    if (Error e = load_doc_file(path, &doc)) return e;
    return resolve_doc(doc, context, out);
  } catch (const std::exception& e) {
    return internal("kubeconfig " + path, e);
  }
}

Error load_in_cluster(RestConfig* out, const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0')
    return Error(
        ErrorKind::kInvalidArgument,
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set, so this "
        "is not a pod; pass --kubeconfig",
        404);
  int port_num = 0;
  std::string_view pv(port);
  auto [ptr, ec] = std::from_chars(pv.data(), pv.data() + pv.size(), port_num);
  if (ec != std::errc() || ptr != pv.data() + pv.size() || port_num < 1 || port_num > 65535)
    return invalid("in-cluster config: KUBERNETES_SERVICE_PORT \"" + std::string(port) +
                   "\" is not a port number; fix the pod's environment");
  RestConfig cfg;
  std::string h(host);
  // An IPv6 literal needs brackets in a URL (RFC 3986 section 3.2.2), as net.JoinHostPort adds them in
  // client-go.
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  cfg.server = "https://" + h + ":" + std::to_string(port_num);
  std::string reason, tok;
  if (!read_file(paths.token_file, &tok, &reason))
    return Error(ErrorKind::kIo, "in-cluster config: service-account token " + paths.token_file +
                                     " cannot be read (" + reason +
                                     "); mount a service-account token or pass --kubeconfig");
  cfg.token = trim(tok);
  cfg.token_file = paths.token_file;
  if (!read_file(paths.ca_file, &cfg.ca_pem, &reason))
    return Error(ErrorKind::kIo, "in-cluster config: CA bundle " + paths.ca_file + " cannot be read (" +
                                     reason + "); mount the service-account CA or pass --kubeconfig");
  std::string ns;
  // The namespace file is optional for the API connection itself; "default" matches client-go's fallback.
  cfg.namespace_ = read_file(paths.namespace_file, &ns, &reason) && !trim(ns).empty() ? trim(ns) : "default";
  cfg.context = "in-cluster";
  *out = std::move(cfg);
  return {};
}

Error load_default(const std::string& explicit_path, const std::string& context, RestConfig* out) {
  if (!explicit_path.empty()) return load_kubeconfig_file(explicit_path, context, out);
  std::error_code ec;
  const char* env = std::getenv("KUBECONFIG");
  if (env != nullptr && *env != '\0') {
    std::vector<std::string> files;
    std::string_view rest(env);
    while (true) {
      auto p = rest.find(':');
      std::string part(rest.substr(0, p));
      if (!part.empty()) files.push_back(part);
      if (p == std::string_view::npos) break;
      rest.remove_prefix(p + 1);
    }
    // kubectl merges the list; we pick the first file that can answer, which is the same for the common case
    // of one file per cluster. Missing files are skipped, as kubectl skips them.
    for (const auto& f : files) {
      if (!fsys::exists(f, ec)) continue;
      Doc doc;
      try {
        if (Error e = load_doc_file(f, &doc)) return e;
        std::string want = context;
        if (want.empty()) {
          YAML::Node cur = child(doc.root, "current-context");
          if (!cur.IsScalar() || cur.Scalar().empty()) continue;
        } else if (!context_exists(doc, want)) {
          continue;
        }
        return resolve_doc(doc, want, out);
      } catch (const std::exception& e) {
        return internal(doc.src, e);
      }
    }
    return invalid(
        "no file in $KUBECONFIG (" + join_names(files) + ") " +
        (context.empty() ? std::string("sets current-context") : "has context \"" + context + "\"") +
        "; pass --kubeconfig and --context or fix $KUBECONFIG");
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    std::string p = std::string(home) + "/.kube/config";
    if (fsys::exists(p, ec)) return load_kubeconfig_file(p, context, out);
  }
  Error e = load_in_cluster(out);
  if (e.code == 404)
    return invalid(
        "no kubeconfig found: --kubeconfig not given, $KUBECONFIG unset, ~/.kube/config missing, and "
        "not running in a pod; pass --kubeconfig");
  return e;
}

Error kubeconfig_upsert_context(const std::string& path, const std::string& context_name,
                                const RestConfig& cfg, bool make_current) {
  if (context_name.empty())
    return invalid("kubeconfig " + path + ": the context name is empty; choose a name");
  if (cfg.server.empty())
    return invalid("kubeconfig " + path + ": context \"" + context_name +
                   "\" has no server; set one to write it");
  Doc doc;
  try {
    if (Error e = load_for_edit(path, &doc, false)) return e;
    if (child(doc.root, "apiVersion").IsNull()) doc.root["apiVersion"] = "v1";
    if (child(doc.root, "kind").IsNull()) doc.root["kind"] = "Config";

    YAML::Node cluster(YAML::NodeType::Map);
    cluster["server"] = cfg.server;
    if (!cfg.ca_pem.empty()) cluster["certificate-authority-data"] = base64_encode(cfg.ca_pem);
    if (cfg.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
    if (!cfg.tls_server_name.empty()) cluster["tls-server-name"] = cfg.tls_server_name;

    YAML::Node user(YAML::NodeType::Map);
    if (!cfg.cert_pem.empty()) user["client-certificate-data"] = base64_encode(cfg.cert_pem);
    if (!cfg.key_pem.empty()) user["client-key-data"] = base64_encode(cfg.key_pem);
    // A token file is kept as a reference so that rotation keeps working; otherwise the token is embedded.
    if (!cfg.token_file.empty()) {
      user["tokenFile"] = cfg.token_file;
    } else if (!cfg.token.empty()) {
      user["token"] = cfg.token;
    }
    if (!cfg.username.empty()) user["username"] = cfg.username;
    if (!cfg.password.empty()) user["password"] = cfg.password;

    YAML::Node ctx(YAML::NodeType::Map);
    ctx["cluster"] = context_name;
    ctx["user"] = context_name;
    if (!cfg.namespace_.empty()) ctx["namespace"] = cfg.namespace_;

    if (Error e = upsert_entry(&doc, "clusters", "cluster", context_name, cluster)) return e;
    if (Error e = upsert_entry(&doc, "users", "user", context_name, user)) return e;
    if (Error e = upsert_entry(&doc, "contexts", "context", context_name, ctx)) return e;
    if (make_current || child(doc.root, "current-context").IsNull())
      doc.root["current-context"] = context_name;
    return write_doc(path, doc);
  } catch (const std::exception& e) {
    return internal("kubeconfig " + path, e);
  }
}

Error kubeconfig_set_current(const std::string& path, const std::string& context) {
  Doc doc;
  try {
    if (Error e = load_for_edit(path, &doc, true)) return e;
    if (!context_exists(doc, context)) return not_found(doc, context);
    doc.root["current-context"] = context;
    return write_doc(path, doc);
  } catch (const std::exception& e) {
    return internal("kubeconfig " + path, e);
  }
}

Error kubeconfig_remove_context(const std::string& path, const std::string& context) {
  Doc doc;
  try {
    if (Error e = load_for_edit(path, &doc, true)) return e;
    if (!context_exists(doc, context)) return not_found(doc, context);
    YAML::Node contexts = doc.root["contexts"];
    YAML::Node kept(YAML::NodeType::Sequence);
    std::string cluster, user;
    std::vector<std::string> used_clusters, used_users;
    for (size_t i = 0; i < contexts.size(); ++i) {
      YAML::Node item = contexts[i];
      YAML::Node n = child(item, "name");
      YAML::Node body = child(item, "context");
      std::string c = child(body, "cluster").IsScalar() ? body["cluster"].Scalar() : "";
      std::string u = child(body, "user").IsScalar() ? body["user"].Scalar() : "";
      if (n.IsScalar() && n.Scalar() == context) {
        cluster = c;
        user = u;
        continue;
      }
      used_clusters.push_back(c);
      used_users.push_back(u);
      kept.push_back(item);
    }
    doc.root["contexts"] = kept;
    // Drops entry `name` from list `key` unless another context still refers to it.
    auto drop = [&](const char* key, const std::string& name, const std::vector<std::string>& used) {
      if (name.empty()) return;
      for (const auto& u : used)
        if (u == name) return;
      YAML::Node seq = child(doc.root, key);
      if (!seq.IsSequence()) return;
      YAML::Node rest(YAML::NodeType::Sequence);
      for (size_t i = 0; i < seq.size(); ++i) {
        YAML::Node n = child(seq[i], "name");
        if (n.IsScalar() && n.Scalar() == name) continue;
        rest.push_back(seq[i]);
      }
      doc.root[key] = rest;
    };
    drop("clusters", cluster, used_clusters);
    drop("users", user, used_users);
    YAML::Node cur = child(doc.root, "current-context");
    if (cur.IsScalar() && cur.Scalar() == context) doc.root["current-context"] = "";
    return write_doc(path, doc);
  } catch (const std::exception& e) {
    return internal("kubeconfig " + path, e);
  }
}

Error kubeconfig_current_context(const std::string& path, std::string* out) {
  Doc doc;
  try {
    if (Error e = load_doc_file(path, &doc)) return e;
    std::string cur;
    if (Error e = get_str(doc, doc.root, "current-context", "", &cur)) return e;
    *out = cur;
    return {};
  } catch (const std::exception& e) {
    return internal("kubeconfig " + path, e);
  }
}

}  // namespace vc::kube
