// URL parsing for API server addresses and the small string helpers the client shares.
#include <uv.h>

#include <charconv>

#include "http/client.hpp"

namespace vc::http {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::optional<Endpoint> fail(Error* err, std::string_view url, std::string_view why) {
  if (err) {
    *err =
        Error(ErrorKind::kInvalidArgument, "the server URL \"" + std::string(url) + "\" " + std::string(why) +
                                               "; write it as https://HOST:PORT[/PREFIX]");
  }
  return std::nullopt;
}

}  // namespace

bool is_ip_literal(std::string_view host) {
  // inet_pton needs a NUL-terminated string, and host names are short, so one copy is fine.
  std::string h(host);
  unsigned char buf[16];
  return uv_inet_pton(AF_INET, h.c_str(), buf) == 0 || uv_inet_pton(AF_INET6, h.c_str(), buf) == 0;
}

const std::string* Response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequal(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::optional<Endpoint> parse_url(std::string_view url, std::string* path_prefix, Error* err) {
  Endpoint ep;
  std::string_view rest;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return fail(err, url, "has no scheme");
  std::string_view scheme = url.substr(0, sep);
  if (iequal(scheme, "https")) {
    ep.tls = true;
  } else if (iequal(scheme, "http")) {
    ep.tls = false;
  } else {
    return fail(err, url, "has the scheme \"" + std::string(scheme) + "\", not http or https");
  }
  rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail(err, url, "carries a query or fragment, which a server address cannot have");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return fail(err, url, "carries user information; put credentials in the kubeconfig instead");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    // An IPv6 literal is bracketed so that its colons are not mistaken for the port separator (RFC 3986).
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(err, url, "has an unterminated IPv6 address");
    ep.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(err, url, "has text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return fail(err, url, "has an empty port");
    }
    if (!is_ip_literal(ep.host)) return fail(err, url, "has an invalid IPv6 address in brackets");
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return fail(err, url, "has an empty port");
      authority = authority.substr(0, colon);
    }
    if (authority.find(':') != std::string_view::npos) {
      return fail(err, url, "has an IPv6 address without brackets");
    }
    ep.host = std::string(authority);
  }
  if (ep.host.empty()) return fail(err, url, "has no host");
  if (port_text.empty()) {
    ep.port = ep.tls ? 443 : 80;
  } else {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return fail(err, url, "has the invalid port \"" + std::string(port_text) + "\"");
    }
    ep.port = static_cast<uint16_t>(value);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path_prefix) *path_prefix = std::string(path);
  return ep;
}

}  // namespace vc::http
