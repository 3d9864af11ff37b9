#include "kubelet/route.hpp"

namespace vc::kubelet {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's url.QueryUnescape: like PathUnescape, and '+' is a space (application/x-www-form-urlencoded, which
// url.Values.Encode writes: the virtual API server encodes `sh -c "a b"` as command=sh&command=-c&...).
bool query_decode(std::string_view in, std::string* out) {
  std::string plus;
  plus.reserve(in.size());
  for (char c : in) plus += c == '+' ? ' ' : c;
  return percent_decode(plus, out);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string_view::npos ? std::string_view::npos : i - start));
    if (i == std::string_view::npos) break;
    start = i + 1;
  }
  return out;
}

// PodExecOptions and PodAttachOptions booleans: the virtual API server writes "1"; the host's conversion
// (runtime.Convert_Slice_string_To_bool) reads anything but "0" and "false" as true.
std::string as_bool(const std::string& v) {
  return v == "0" || v == "false" || v == "False" || v == "FALSE" ? "false" : "true";
}

}  // namespace

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string query_escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool is_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && i > 0 && i + 1 < s.size())) return false;
  }
  return true;
}

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (auto part : split(s, '.'))
    if (!is_dns1123_label(part)) return false;
  return true;
}

bool is_upgrade(Kind k) {
  return k == Kind::kExec || k == Kind::kAttach || k == Kind::kPortForward;
}

Route parse_target(std::string_view target) {
  Route r;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (!query.empty()) {
    for (auto pair : split(query, '&')) {
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      std::string k, v;
      if (!query_decode(pair.substr(0, eq), &k) ||
          (eq != std::string_view::npos && !query_decode(pair.substr(eq + 1), &v))) {
        r.kind = Kind::kBadRequest;
        r.problem = "the query has a malformed percent escape";
        return r;
      }
      r.query.emplace_back(std::move(k), std::move(v));
    }
  }
  if (path == "/healthz") {
    r.kind = Kind::kHealthz;
    return r;
  }
  if (path == "/stats/summary") {
    r.kind = Kind::kStatsSummary;
    return r;
  }
  if (path == "/metrics/resource") {
    r.kind = Kind::kMetricsResource;
    return r;
  }
  if (path.empty() || path[0] != '/') return r;
  auto parts = split(path.substr(1), '/');
  struct Prefix {
    std::string_view name;
    Kind kind;
    size_t segments;  // after the prefix: ns, pod[, container]
  };
  static const Prefix kPrefixes[] = {
      {"containerLogs", Kind::kLogs, 3},      {"exec", Kind::kExec, 3}, {"attach", Kind::kAttach, 3},
      {"portForward", Kind::kPortForward, 2}, {"run", Kind::kRun, 3},
  };
  for (const auto& p : kPrefixes) {
    if (parts[0] != p.name) continue;
    // The kubelet also accepts /exec/{ns}/{pod}/{uid}/{container}; the API server never sends that form,
    // and a relay that cannot check the uid against the host pod refuses it rather than ignore it.
    if (parts.size() != p.segments + 1) return r;
    std::string names[3];
    for (size_t i = 0; i < p.segments; i++) {
      if (!percent_decode(parts[i + 1], &names[i])) {
        r.kind = Kind::kBadRequest;
        r.problem = "the path has a malformed percent escape";
        return r;
      }
    }
    r.ns = names[0];
    r.pod = names[1];
    r.container = names[2];
    if (!is_dns1123_label(r.ns)) {
      r.kind = Kind::kBadRequest;
      r.problem = "the namespace \"" + r.ns + "\" is not a valid namespace name";
    } else if (!is_dns1123_subdomain(r.pod)) {
      r.kind = Kind::kBadRequest;
      r.problem = "the pod name \"" + r.pod + "\" is not a valid pod name";
    } else if (p.segments == 3 && !is_dns1123_label(r.container)) {
      r.kind = Kind::kBadRequest;
      r.problem = "the container name \"" + r.container + "\" is not a valid container name";
    } else {
      r.kind = p.kind;
    }
    return r;
  }
  return r;
}

std::string host_target(const Route& r, std::string_view host_ns, std::string_view host_pod) {
  std::string t = "/api/v1/namespaces/" + std::string(host_ns) + "/pods/" + std::string(host_pod);
  Query out;
  switch (r.kind) {
    case Kind::kLogs:
      t += "/log";
      out.emplace_back("container", r.container);
      // PodLogOptions, spelt the same on both sides (kubelet's containerLogs handler reads these names).
      for (auto& [k, v] : r.query)
        if (k == "follow" || k == "previous" || k == "timestamps" || k == "sinceSeconds" ||
            k == "sinceTime" || k == "tailLines" || k == "limitBytes")
          out.emplace_back(k, v);
      break;
    case Kind::kExec:
    case Kind::kAttach:
      t += r.kind == Kind::kExec ? "/exec" : "/attach";
      out.emplace_back("container", r.container);
      for (auto& [k, v] : r.query) {
        // The kubelet's names (api.ExecStdinParam "input", ExecStdoutParam "output", ExecStderrParam
        // "error") become PodExecOptions' stdin, stdout and stderr; the options' own names pass as well.
        if (k == "input" || k == "stdin") {
          out.emplace_back("stdin", as_bool(v));
        } else if (k == "output" || k == "stdout") {
          out.emplace_back("stdout", as_bool(v));
        } else if (k == "error" || k == "stderr") {
          out.emplace_back("stderr", as_bool(v));
        } else if (k == "tty") {
          out.emplace_back("tty", as_bool(v));
        } else if (k == "command" && r.kind == Kind::kExec) {
          out.emplace_back("command", v);
        }
      }
      break;
    case Kind::kPortForward:
      t += "/portforward";
      for (auto& [k, v] : r.query)
        if (k == "port" || k == "ports") out.emplace_back("ports", v);
      break;
    default:
      return t;
  }
  char sep = '?';
  for (auto& [k, v] : out) {
    t += sep;
    t += query_escape(k) + "=" + query_escape(v);
    sep = '&';
  }
  return t;
}

}  // namespace vc::kubelet
