// An asynchronous HTTP/1.1 client on one libuv loop: keep-alive pooling, chunked decoding through llhttp,
// TLS through OpenSSL memory BIOs, uv timers for every deadline. The Kubernetes REST client is built on it.
// Threading: every function must be called on the loop thread, and every callback runs there, never
// synchronously inside the call that started the work. See core/http/README.md for ownership rules.
#pragma once
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace vc::http {

struct TlsOptions {
  std::string ca_pem;             // PEM CA bundle to verify the server; empty => OpenSSL default paths
  std::string cert_pem, key_pem;  // client certificate (+ optional chain) and key (PEM), optional
  bool insecure_skip_verify = false;
  std::string server_name;  // SNI and name to verify; empty => the endpoint host
};

struct Endpoint {
  bool tls = false;
  std::string host;  // a DNS name or an IP literal, IPv6 without brackets
  uint16_t port = 0;
  TlsOptions tls_opts;
};

// Parses "https://127.0.0.1:6443/prefix" into an Endpoint and an optional path prefix (without a trailing
// slash, empty for "/"). On failure returns nullopt and, if err is set, a sentence naming the URL.
std::optional<Endpoint> parse_url(std::string_view url, std::string* path_prefix, Error* err);

// True when host is a literal IPv4 or IPv6 address (IPv6 without brackets).
bool is_ip_literal(std::string_view host);

struct ClientOptions {
  size_t max_connections = 16;  // keep-alive pool bound for ordinary requests
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{90000};  // idle pooled connections are closed after this
};

struct Header {
  std::string name, value;
};

struct Request {
  std::string method = "GET";
  std::string target = "/";  // path + query
  std::vector<Header> headers;
  std::string body;
  // Whole-request deadline, counted from send(); for streams: the longest silence allowed between bytes.
  // Zero means no deadline.
  std::chrono::milliseconds timeout{30000};
};

struct Response {
  int status = 0;
  std::vector<Header> headers;
  std::string body;
  const std::string* header(std::string_view name) const;  // case-insensitive; nullptr when absent
};

// Receives the result exactly once. A non-2xx status is not an error at this layer: err is kNone and the
// caller reads response.status. On error the response is empty.
using Callback = std::function<void(Error, Response)>;

struct StreamHandlers {
  std::function<void(const Response& head)> on_head;    // status + headers
  std::function<void(std::string_view chunk)> on_data;  // decoded body bytes as they arrive (chunked decoded)
  std::function<void(Error)> on_done;                   // exactly once: clean end, error, timeout or cancel
};

namespace detail {
class ClientCore;
}

class Client {
 public:
  Client(uv_loop_t* loop, Endpoint ep, ClientOptions opts = {});
  // Requires close() to have completed (its callback ran), or that nothing was ever sent. Destroyed with
  // open handles, it logs a critical message and leaks its state rather than leave libuv dangling pointers.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a request and buffers the whole response. Returns an id for cancel().
  uint64_t send(Request req, Callback cb);
  // Sends a long-lived request (a Kubernetes watch) on a dedicated connection that does not count toward
  // max_connections; body bytes are handed to on_data as they arrive.
  uint64_t stream(Request req, StreamHandlers h);
  // Ends a request early: its callback or on_done gets ErrorKind::kCancelled. Unknown or finished ids are
  // ignored.
  void cancel(uint64_t id);
  // Adds a header to every request unless the request carries one of the same name (e.g. Authorization).
  void set_default_header(std::string name, std::string value);
  // Cancels everything and closes every handle; done runs (on the loop) once all are closed and every
  // pending callback has been delivered. Requests sent afterwards are answered with kCancelled.
  void close(std::function<void()> done);

  struct Stats {
    uint64_t requests = 0, connections_opened = 0, tls_handshakes = 0, retries = 0;
    size_t open_connections = 0, queued = 0;
  };
  Stats stats() const;

 private:
  std::unique_ptr<detail::ClientCore> core_;
};

}  // namespace vc::http
