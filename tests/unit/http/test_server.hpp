// A small HTTP/1.1 (+TLS) server on the test's own libuv loop, so that every test drives client and
// server from one thread with no sleeps. It records each request (which connection carried it and which
// headers arrived) and lets the test decide, per request, how to answer: Content-Length or chunked,
// keep-alive or close, later, never, or by dropping the connection.
#pragma once
#include <llhttp.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.hpp"

namespace vc::test {

struct ServerRequest {
  int conn_id = 0;
  std::string method, target;
  std::vector<http::Header> headers;
  std::string body;
  const std::string* header(std::string_view name) const;
};

struct Reply {
  int status = 200;
  std::string body;
  bool chunked = false;  // send the body as chunks of at most 64 KiB instead of with Content-Length
  bool close = false;    // send "Connection: close" and close after the response
  std::vector<http::Header> headers;
};

class TestServer {
 public:
  struct Options {
    bool tls = false;
    bool require_client_cert = false;  // verify against Pki::ca_pem, fail the handshake without one
    bool silent = false;               // accept connections but never read or answer
  };

  class Conn {
   public:
    int id() const { return id_; }
    bool closed() const { return closing_; }
    // A full response.
    void reply(const Reply& r);
    // A chunked response whose chunks the test sends later.
    void start_chunked(int status, const std::vector<http::Header>& headers = {});
    void send_chunk(std::string_view data);
    void end_chunked();
    // Raw bytes, for responses reply() cannot express (HEAD, 204, read-until-EOF).
    void send_raw(std::string data);
    // Closes at once, without a response (what a server does to an idle keep-alive connection).
    void abort();
    // Closes after everything written so far has been sent.
    void end();

    bool peer_cert = false;  // a verified client certificate was presented
    std::string peer_cn;
    std::string sni;

   private:
    friend class TestServer;
    Conn(TestServer* server, int id) : server_(server), id_(id) {}
    void on_bytes(const char* data, size_t len);
    void parse(const char* data, size_t len);
    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void on_closed(uv_handle_t* h);
    static const llhttp_settings_t* settings();
    static int on_message_begin(llhttp_t* p);
    static int on_url(llhttp_t* p, const char* at, size_t len);
    static int on_header_field(llhttp_t* p, const char* at, size_t len);
    static int on_header_field_complete(llhttp_t* p);
    static int on_header_value(llhttp_t* p, const char* at, size_t len);
    static int on_body(llhttp_t* p, const char* at, size_t len);
    static int on_message_complete(llhttp_t* p);

    TestServer* server_;
    int id_;
    uv_tcp_t tcp_{};
    bool closing_ = false;
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;
    BIO* wbio_ = nullptr;
    bool handshake_done_ = false;
    llhttp_t parser_{};
    bool field_open_ = false;
    ServerRequest current_;
    std::vector<ServerRequest> complete_;
    char buf_[64 * 1024];
  };

  using Handler = std::function<void(Conn&, const ServerRequest&)>;

  explicit TestServer(uv_loop_t* loop) : TestServer(loop, Options()) {}
  TestServer(uv_loop_t* loop, Options opts);
  ~TestServer();
  uint16_t port() const { return port_; }
  // Default handler: 200 with body "ok" and Content-Length, keep-alive.
  void set_handler(Handler h) { handler_ = std::move(h); }
  Conn* conn(int id);  // nullptr once closed
  void close(std::function<void()> done);

  std::vector<ServerRequest> requests;
  int accepted = 0;
  int open = 0;
  int max_open = 0;
  int handshake_failures = 0;

 private:
  static void on_connection(uv_stream_t* s, int status);
  void maybe_done();

  uv_loop_t* loop_;
  Options opts_;
  uv_tcp_t listener_{};
  bool listener_open_ = false;
  uint16_t port_ = 0;
  SSL_CTX* ctx_ = nullptr;
  Handler handler_;
  int next_id_ = 1;
  std::map<int, Conn*> conns_;
  std::function<void()> done_;
};

// Runs the loop until cond() holds or limit passes; returns cond(). The deadline timer keeps uv_run from
// blocking forever when nothing else would wake it.
bool run_until(uv_loop_t* loop, const std::function<bool()>& cond,
               std::chrono::milliseconds limit = std::chrono::milliseconds(10000));

// A port on 127.0.0.1 that nothing listens on (bound once, then closed).
uint16_t unused_port(uv_loop_t* loop);

}  // namespace vc::test
