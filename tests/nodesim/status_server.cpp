#include "status_server.hpp"

#include <cstdlib>
#include <cstring>

namespace vc::nodesim {

struct StatusServer::Conn {
  uv_tcp_t tcp;
  StatusServer* server;
  std::string in;
  std::string out;
  uv_write_t write;
  bool closing = false;
  bool answered = false;
};

namespace {

const char* reason(int s) {
  switch (s) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Error";
  }
}

// A request head larger than this is not a status probe; refusing it bounds what a client can make us buffer.
constexpr size_t kMaxHead = 8192;

}  // namespace

Error StatusServer::listen(const std::string& address) {
  if (listener_) return Error(ErrorKind::kInternal, "the status server already has a listener");
  size_t colon = address.rfind(':');
  if (colon == std::string::npos)
    return Error(ErrorKind::kInvalidArgument,
                 "--status-address '" + address + "' must be host:port, e.g. 127.0.0.1:8081");
  std::string host = address.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(address.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || colon + 1 == address.size() || port < 0 || port > 65535)
    return Error(ErrorKind::kInvalidArgument, "--status-address '" + address + "' has no valid port");
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), static_cast<int>(port), reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), static_cast<int>(port), reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
    return Error(ErrorKind::kInvalidArgument, "--status-address '" + address + "' has no valid IP address");
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 16, &StatusServer::on_connection);
  if (rc != 0)
    return Error(
        ErrorKind::kIo,
        "cannot listen on " + address + ": " + uv_strerror(rc) + " (choose another --status-address)", rc);
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return {};
}

void StatusServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<StatusServer*>(listener->data);
  if (status < 0 || self->stopping_) return;
  auto* c = new Conn;
  c->server = self;
  uv_tcp_init(self->loop_, &c->tcp);
  c->tcp.data = c;
  self->conns_.insert(c);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    self->close_conn(c);
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(s->data);
        StatusServer* srv = conn->server;
        if (n > 0 && !conn->closing && !conn->answered) conn->in.append(buf->base, static_cast<size_t>(n));
        delete[] buf->base;
        if (n < 0) {
          srv->close_conn(conn);
          return;
        }
        if (conn->closing || conn->answered) return;
        size_t head_end = conn->in.find("\r\n\r\n");
        Reply r;
        if (head_end == std::string::npos) {
          if (conn->in.size() <= kMaxHead) return;
          r.status = 400;
          r.body = "request head too large\n";
        } else {
          // "GET /path?query HTTP/1.1": method, target, version separated by single spaces (RFC 9112 3).
          std::string line = conn->in.substr(0, conn->in.find("\r\n"));
          size_t sp1 = line.find(' ');
          size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
          if (sp2 == std::string::npos) {
            r.status = 400;
            r.body = "malformed request line\n";
          } else if (line.compare(0, sp1, "GET") != 0) {
            r.status = 405;
            r.body = "only GET is served here\n";
          } else {
            std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            r = srv->handler_(target.substr(0, target.find('?')));
          }
        }
        conn->answered = true;
        uv_read_stop(s);
        conn->out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                    std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
        uv_buf_t out = uv_buf_init(conn->out.data(), static_cast<unsigned>(conn->out.size()));
        conn->write.data = conn;
        if (uv_write(&conn->write, s, &out, 1, [](uv_write_t* w, int) {
              auto* cc = static_cast<Conn*>(w->data);
              cc->server->close_conn(cc);
            }) != 0)
          srv->close_conn(conn);
      });
}

void StatusServer::close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  ++closing_;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    StatusServer* srv = conn->server;
    srv->conns_.erase(conn);
    delete conn;
    srv->handle_closed();
  });
}

void StatusServer::handle_closed() {
  --closing_;
  if (stopping_ && closing_ == 0 && conns_.empty() && !listener_ && done_) {
    auto done = std::move(done_);
    done_ = nullptr;
    done();
  }
}

void StatusServer::close(std::function<void()> done) {
  stopping_ = true;
  done_ = std::move(done);
  for (Conn* c : std::unordered_set<Conn*>(conns_)) close_conn(c);
  if (listener_) {
    ++closing_;
    listener_->data = this;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) {
      auto* srv = static_cast<StatusServer*>(h->data);
      delete reinterpret_cast<uv_tcp_t*>(h);
      srv->listener_ = nullptr;
      srv->handle_closed();
    });
  } else if (closing_ == 0 && conns_.empty() && done_) {
    auto d = std::move(done_);
    done_ = nullptr;
    d();
  }
}

}  // namespace vc::nodesim
