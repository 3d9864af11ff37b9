#include "syncer/status_server.hpp"

#include <llhttp.h>

#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace vc::syncer {
namespace {

struct Conn {
  uv_tcp_t tcp;
  std::set<void*>* registry = nullptr;
  llhttp_t parser;
  llhttp_settings_t settings;
  std::string url;
  StatusHandler* handler;
  bool closing = false;
};

void close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  if (c->registry) c->registry->erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
           [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

const char* reason(int s) {
  switch (s) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

void respond(Conn* c, const StatusReply& r, bool keep_alive) {
  auto* payload = new std::string;
  *payload = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
             "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
             (keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + r.body;
  auto* req = new uv_write_t;
  req->data = payload;
  uv_buf_t buf = uv_buf_init(payload->data(), static_cast<unsigned>(payload->size()));
  int rc = uv_write(req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, [](uv_write_t* w, int) {
    delete static_cast<std::string*>(w->data);
    delete w;
  });
  if (rc != 0) {
    delete payload;
    delete req;
    close_conn(c);
    return;
  }
  if (!keep_alive) close_conn(c);
}

}  // namespace

StatusServer::StatusServer(uv_loop_t* loop, StatusHandler handler)
    : loop_(loop), handler_(std::move(handler)) {}

StatusServer::~StatusServer() = default;

Error StatusServer::listen(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos)
    return Error(ErrorKind::kInvalidArgument,
                 "status address '" + address + "' must be host:port, e.g. 127.0.0.1:8080");
  std::string host = address.substr(0, colon);
  int port = std::atoi(address.c_str() + colon + 1);
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
    return Error(ErrorKind::kInvalidArgument, "status address '" + address + "' has no valid IP address");
  tcp_ = new uv_tcp_t;
  uv_tcp_init(loop_, tcp_);
  tcp_->data = this;
  int rc = uv_tcp_bind(tcp_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), 64, &StatusServer::on_connection);
  if (rc != 0)
    return Error(
        ErrorKind::kIo,
        "cannot listen on " + address + ": " + uv_strerror(rc) + " (choose another --status-address)", rc);
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return {};
}

void StatusServer::on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* self = static_cast<StatusServer*>(server->data);
  auto* c = new Conn;
  c->handler = &self->handler_;
  c->registry = &self->conns_;
  self->conns_.insert(c);
  uv_tcp_init(self->loop_, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_conn(c);
    return;
  }
  llhttp_settings_init(&c->settings);
  c->settings.on_url = [](llhttp_t* p, const char* at, size_t len) {
    static_cast<Conn*>(p->data)->url.append(at, len);
    return 0;
  };
  c->settings.on_message_complete = [](llhttp_t* p) {
    auto* conn = static_cast<Conn*>(p->data);
    StatusReply r;
    if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
      r.status = 405;
      r.body = "only GET is served here\n";
    } else {
      std::string path = conn->url.substr(0, conn->url.find('?'));
      r = (*conn->handler)(path);
    }
    respond(conn, r, llhttp_should_keep_alive(p));
    conn->url.clear();
    return 0;
  };
  llhttp_init(&c->parser, HTTP_REQUEST, &c->settings);
  c->parser.data = c;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(s->data);
        if (n < 0) {
          close_conn(conn);
        } else if (n > 0 && !conn->closing) {
          if (llhttp_execute(&conn->parser, buf->base, static_cast<size_t>(n)) != HPE_OK) close_conn(conn);
        }
        delete[] buf->base;
      });
}

void StatusServer::close(std::function<void()> done) {
  // Keep-alive connections of scrapers would otherwise keep the loop alive (and leak at exit).
  std::vector<void*> open(conns_.begin(), conns_.end());
  for (void* c : open) close_conn(static_cast<Conn*>(c));
  if (!tcp_) {
    if (done) done();
    return;
  }
  auto* cb = new std::function<void()>(std::move(done));
  tcp_->data = cb;
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), [](uv_handle_t* h) {
    auto* f = static_cast<std::function<void()>*>(h->data);
    delete reinterpret_cast<uv_tcp_t*>(h);
    if (*f) (*f)();
    delete f;
  });
  tcp_ = nullptr;
}

}  // namespace vc::syncer
