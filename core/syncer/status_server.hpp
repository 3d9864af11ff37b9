// A minimal HTTP/1.1 server on the loop for /healthz, /readyz and /metrics (Prometheus text format).
// It answers GET only, one request per connection at a time, and closes idle connections.
#pragma once

#include <uv.h>

#include <functional>
#include <set>
#include <string>

#include "util/error.hpp"

namespace vc::syncer {

struct StatusReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};
using StatusHandler = std::function<StatusReply(const std::string& path)>;

class StatusServer {
 public:
  StatusServer(uv_loop_t* loop, StatusHandler handler);
  ~StatusServer();
  // Listens on "127.0.0.1:8080" ("host:port"; port 0 picks a free one). Errors name the address.
  Error listen(const std::string& address);
  int port() const { return port_; }
  void close(std::function<void()> done);

 private:
  static void on_connection(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  StatusHandler handler_;
  uv_tcp_t* tcp_ = nullptr;
  int port_ = 0;
  std::set<void*> conns_;  // open client connections (Conn*), closed by close()
};

}  // namespace vc::syncer
