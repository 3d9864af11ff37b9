// A tiny HTTP/1.0-style status server on the loop: reads one request head, answers, closes the connection.
// It serves a test tool's /healthz and counters, so it needs no keep-alive; in exchange it tracks every
// open connection and closes them all on close(), so shutdown leaves no handle behind.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <unordered_set>

#include "util/error.hpp"

namespace vc::nodesim {

struct Reply {
  int status = 200;
  std::string body;
};
using Handler = std::function<Reply(const std::string& path)>;

class StatusServer {
 public:
  StatusServer(uv_loop_t* loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}
  ~StatusServer() = default;
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // "127.0.0.1:0" picks a free port. Errors name the address. Call it once.
  Error listen(const std::string& address);
  int port() const { return port_; }
  std::size_t open_connections() const { return conns_.size(); }
  // Closes the listener and every open connection; `done` runs once all their handles are closed.
  void close(std::function<void()> done);

  struct Conn;

 private:
  static void on_connection(uv_stream_t* server, int status);
  void close_conn(Conn* c);
  void handle_closed();

  uv_loop_t* loop_;
  Handler handler_;
  uv_tcp_t* listener_ = nullptr;
  int port_ = 0;
  std::unordered_set<Conn*> conns_;
  size_t closing_ = 0;  // handles whose close callback has not run yet
  bool stopping_ = false;
  std::function<void()> done_;
};

}  // namespace vc::nodesim
