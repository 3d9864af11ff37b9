// libFuzzer target: the HTTP/1.1 client's response parsing (core/http, llhttp), end to end. A server on
// 127.0.0.1 of this process answers each request with the fuzz input and closes the connection; the client
// parses it as it would an API server's answer. The first byte picks a buffered request (send) or a stream
// (stream, as watches use). Whatever the bytes, the callback must run exactly once and nothing may crash,
// leak or trip a sanitizer.
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "http/client.hpp"

namespace {

struct Fixture {
  uv_loop_t loop{};
  uv_tcp_t server{};
  int port = 0;
  std::string response;
  std::unique_ptr<vc::http::Client> client;
};

// One accepted connection: reads until the end of the request head, writes the response, closes.
struct Conn {
  uv_tcp_t tcp{};
  uv_write_t write{};
  std::string head, response;
  bool answered = false;
};

Fixture* fx = nullptr;

void close_conn(Conn* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
           [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (n > 0 && !c->answered) c->head.append(buf->base, static_cast<size_t>(n));
  delete[] buf->base;
  if (n < 0) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) close_conn(c);
    return;
  }
  if (c->answered || c->head.find("\r\n\r\n") == std::string::npos) return;
  c->answered = true;
  uv_read_stop(s);
  c->response = fx->response;
  uv_buf_t out = uv_buf_init(c->response.data(), static_cast<unsigned>(c->response.size()));
  c->write.data = c;
  uv_write(&c->write, s, &out, 1, [](uv_write_t* w, int) { close_conn(static_cast<Conn*>(w->data)); });
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new Conn;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_conn(c);
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t size, uv_buf_t* buf) {
        *buf = uv_buf_init(new char[size], static_cast<unsigned>(size));
      },
      on_read);
}

Fixture* setup() {
  auto* f = new Fixture;
  uv_loop_init(&f->loop);
  uv_tcp_init(&f->loop, &f->server);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&f->server, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&f->server), 16, on_connection) != 0)
    std::abort();
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&f->server, reinterpret_cast<sockaddr*>(&bound), &len);
  f->port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  vc::http::Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = static_cast<uint16_t>(f->port);
  vc::http::ClientOptions o;
  o.max_connections = 1;
  o.connect_timeout = std::chrono::milliseconds(2000);
  f->client = std::make_unique<vc::http::Client>(&f->loop, ep, o);
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (fx == nullptr) fx = setup();
  if (size == 0) return 0;
  const bool stream = (data[0] & 1) != 0;
  fx->response.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  vc::http::Request req;
  req.target = "/api/v1/pods";
  req.timeout = std::chrono::milliseconds(2000);
  int calls = 0;
  volatile size_t seen = 0;
  if (stream) {
    vc::http::StreamHandlers h;
    h.on_head = [&seen](const vc::http::Response& head) { seen = seen + head.headers.size(); };
    h.on_data = [&seen](std::string_view chunk) {
      for (char c : chunk) seen = seen + static_cast<unsigned char>(c);
    };
    h.on_done = [&calls](vc::Error) { calls++; };
    fx->client->stream(req, std::move(h));
  } else {
    fx->client->send(req, [&calls, &seen](vc::Error e, vc::http::Response r) {
      calls++;
      seen = seen + r.body.size();
      // VC_FUZZ_DEBUG=1 with one input shows what the client made of it (to check the fixture itself).
      if (std::getenv("VC_FUZZ_DEBUG") != nullptr)
        std::fprintf(stderr, "status %d, %zu body bytes, error '%s'\n", r.status, r.body.size(),
                     e.message.c_str());
    });
  }
  while (calls == 0) uv_run(&fx->loop, UV_RUN_ONCE);
  // Let the server side's close callbacks run, so no connection outlives its input.
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  if (calls != 1) std::abort();
  return 0;
}
