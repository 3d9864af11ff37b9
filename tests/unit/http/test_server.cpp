#include "test_server.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cstring>
#include <stdexcept>

#include "pki.hpp"

namespace vc::test {

namespace {

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

struct ServerWrite {
  uv_write_t req{};
  std::string data;
};

SSL_CTX* make_server_ctx(bool require_client_cert) {
  const Pki& pki = Pki::get();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  BIO* cb = BIO_new_mem_buf(pki.server_cert_pem.data(), static_cast<int>(pki.server_cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(pki.server_key_pem.data(), static_cast<int>(pki.server_key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  if (!cert || !key || SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    throw std::runtime_error("test server: cannot load its certificate");
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  if (require_client_cert) {
    BIO* ab = BIO_new_mem_buf(pki.ca_pem.data(), static_cast<int>(pki.ca_pem.size()));
    X509* ca = PEM_read_bio_X509(ab, nullptr, nullptr, nullptr);
    BIO_free(ab);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    X509_free(ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

}  // namespace

const std::string* ServerRequest::header(std::string_view name) const {
  for (const auto& h : headers)
    if (ieq(h.name, name)) return &h.value;
  return nullptr;
}

TestServer::TestServer(uv_loop_t* loop, Options opts) : loop_(loop), opts_(opts) {
  if (opts_.tls) ctx_ = make_server_ctx(opts_.require_client_cert);
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  listener_open_ = true;
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, &TestServer::on_connection) != 0) {
    throw std::runtime_error("test server: cannot listen on 127.0.0.1");
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

TestServer::~TestServer() {
  if (ctx_) SSL_CTX_free(ctx_);
}

TestServer::Conn* TestServer::conn(int id) {
  auto it = conns_.find(id);
  return it == conns_.end() || it->second->closing_ ? nullptr : it->second;
}

void TestServer::on_connection(uv_stream_t* s, int status) {
  auto* srv = static_cast<TestServer*>(s->data);
  if (status < 0) return;
  auto* c = new Conn(srv, srv->next_id_++);
  uv_tcp_init(srv->loop_, &c->tcp_);
  c->tcp_.data = c;
  srv->conns_[c->id_] = c;
  ++srv->accepted;
  ++srv->open;
  if (srv->open > srv->max_open) srv->max_open = srv->open;
  if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp_)) != 0) {
    c->abort();
    return;
  }
  llhttp_init(&c->parser_, HTTP_REQUEST, Conn::settings());
  c->parser_.data = c;
  if (srv->ctx_) {
    c->ssl_ = SSL_new(srv->ctx_);
    c->rbio_ = BIO_new(BIO_s_mem());
    c->wbio_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(c->rbio_, -1);
    BIO_set_mem_eof_return(c->wbio_, -1);
    SSL_set_bio(c->ssl_, c->rbio_, c->wbio_);
    SSL_set_accept_state(c->ssl_);
  }
  if (srv->opts_.silent) return;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* cc = static_cast<Conn*>(h->data);
        *b = uv_buf_init(cc->buf_, sizeof cc->buf_);
      },
      &Conn::on_read);
}

void TestServer::Conn::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (c->closing_ || nread == 0) return;
  if (nread < 0) {
    c->abort();
    return;
  }
  c->on_bytes(buf->base, static_cast<size_t>(nread));
}

void TestServer::Conn::on_bytes(const char* data, size_t len) {
  if (!ssl_) {
    parse(data, len);
    return;
  }
  BIO_write(rbio_, data, static_cast<int>(len));
  if (!handshake_done_) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      send_raw(std::string());  // flush the handshake bytes or the alert
      if (e != SSL_ERROR_WANT_READ) {
        ++server_->handshake_failures;
        ERR_clear_error();
        end();
      }
      return;
    }
    handshake_done_ = true;
    send_raw(std::string());
    if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
      peer_cert = SSL_get_verify_result(ssl_) == X509_V_OK;
      char cn[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      peer_cn = cn;
      X509_free(peer);
    }
    if (const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) sni = name;
  }
  char plain[16 * 1024];
  while (!closing_) {
    ERR_clear_error();
    int n = SSL_read(ssl_, plain, sizeof plain);
    if (n <= 0) {
      int e = SSL_get_error(ssl_, n);
      if (e != SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        abort();
      }
      return;
    }
    parse(plain, static_cast<size_t>(n));
  }
}

void TestServer::Conn::parse(const char* data, size_t len) {
  llhttp_errno_t rc = llhttp_execute(&parser_, data, len);
  if (rc != HPE_OK) {
    abort();
    return;
  }
  std::vector<ServerRequest> done;
  done.swap(complete_);
  for (auto& r : done) {
    server_->requests.push_back(r);
    if (server_->handler_) {
      server_->handler_(*this, r);
    } else {
      Reply ok;
      ok.body = "ok";
      reply(ok);
    }
    if (closing_) return;
  }
}

void TestServer::Conn::send_raw(std::string data) {
  if (closing_) return;
  if (ssl_) {
    if (!data.empty()) SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    size_t pending = BIO_ctrl_pending(wbio_);
    data.assign(pending, '\0');
    if (pending > 0) BIO_read(wbio_, data.data(), static_cast<int>(pending));
  }
  if (data.empty()) return;
  auto* w = new ServerWrite;
  w->data = std::move(data);
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  w->req.data = w;
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1,
               [](uv_write_t* req, int) { delete static_cast<ServerWrite*>(req->data); }) != 0) {
    delete w;
  }
}

void TestServer::Conn::reply(const Reply& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\n";
  for (const auto& h : r.headers) out += h.name + ": " + h.value + "\r\n";
  if (r.close) out += "Connection: close\r\n";
  if (r.chunked) {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    for (size_t off = 0; off < r.body.size(); off += 64 * 1024) {
      size_t n = std::min<size_t>(64 * 1024, r.body.size() - off);
      char size[32];
      snprintf(size, sizeof size, "%zx\r\n", n);
      out += size;
      out.append(r.body, off, n);
      out += "\r\n";
    }
    out += "0\r\n\r\n";
  } else {
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    out += r.body;
  }
  send_raw(std::move(out));
  if (r.close) end();
}

void TestServer::Conn::start_chunked(int status, const std::vector<http::Header>& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  for (const auto& h : headers) out += h.name + ": " + h.value + "\r\n";
  out += "Transfer-Encoding: chunked\r\n\r\n";
  send_raw(std::move(out));
}

void TestServer::Conn::send_chunk(std::string_view data) {
  char size[32];
  snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out.append(data);
  out += "\r\n";
  send_raw(std::move(out));
}

void TestServer::Conn::end_chunked() {
  send_raw("0\r\n\r\n");
}

void TestServer::Conn::abort() {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Conn::on_closed);
}

void TestServer::Conn::end() {
  if (closing_) return;
  if (ssl_ && handshake_done_) {
    SSL_shutdown(ssl_);
    send_raw(std::string());
  }
  closing_ = true;
  // uv_shutdown waits for queued writes, so the response reaches the client before the FIN.
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) {
        auto* c = static_cast<Conn*>(r->data);
        delete r;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), &Conn::on_closed);
      }) != 0) {
    delete req;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Conn::on_closed);
  }
}

void TestServer::Conn::on_closed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  TestServer* srv = c->server_;
  srv->conns_.erase(c->id_);
  --srv->open;
  if (c->ssl_) SSL_free(c->ssl_);
  delete c;
  srv->maybe_done();
}

void TestServer::maybe_done() {
  if (done_ && !listener_open_ && conns_.empty()) {
    auto d = std::move(done_);
    done_ = nullptr;
    d();
  }
}

void TestServer::close(std::function<void()> done) {
  done_ = std::move(done);
  for (auto& [id, c] : conns_) c->abort();
  if (listener_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), [](uv_handle_t* h) {
      auto* srv = static_cast<TestServer*>(h->data);
      srv->listener_open_ = false;
      srv->maybe_done();
    });
  }
}

int TestServer::Conn::on_message_begin(llhttp_t* p) {
  auto* c = static_cast<Conn*>(p->data);
  c->current_ = ServerRequest();
  c->current_.conn_id = c->id_;
  c->field_open_ = false;
  return 0;
}

int TestServer::Conn::on_url(llhttp_t* p, const char* at, size_t len) {
  static_cast<Conn*>(p->data)->current_.target.append(at, len);
  return 0;
}

int TestServer::Conn::on_header_field(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Conn*>(p->data);
  if (!c->field_open_) c->current_.headers.emplace_back();
  c->field_open_ = true;
  c->current_.headers.back().name.append(at, len);
  return 0;
}

int TestServer::Conn::on_header_field_complete(llhttp_t* p) {
  static_cast<Conn*>(p->data)->field_open_ = false;
  return 0;
}

int TestServer::Conn::on_header_value(llhttp_t* p, const char* at, size_t len) {
  static_cast<Conn*>(p->data)->current_.headers.back().value.append(at, len);
  return 0;
}

int TestServer::Conn::on_body(llhttp_t* p, const char* at, size_t len) {
  static_cast<Conn*>(p->data)->current_.body.append(at, len);
  return 0;
}

int TestServer::Conn::on_message_complete(llhttp_t* p) {
  auto* c = static_cast<Conn*>(p->data);
  c->current_.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  c->complete_.push_back(std::move(c->current_));
  c->current_ = ServerRequest();
  return 0;
}

const llhttp_settings_t* TestServer::Conn::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = &Conn::on_message_begin;
    v.on_url = &Conn::on_url;
    v.on_header_field = &Conn::on_header_field;
    v.on_header_field_complete = &Conn::on_header_field_complete;
    v.on_header_value = &Conn::on_header_value;
    v.on_body = &Conn::on_body;
    v.on_message_complete = &Conn::on_message_complete;
    return v;
  }();
  return &s;
}

bool run_until(uv_loop_t* loop, const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  struct Deadline {
    uv_timer_t timer{};
    bool expired = false;
    bool closed = false;
  } d;
  uv_timer_init(loop, &d.timer);
  d.timer.data = &d;
  uv_timer_start(
      &d.timer, [](uv_timer_t* t) { static_cast<Deadline*>(t->data)->expired = true; },
      static_cast<uint64_t>(limit.count()), 0);
  while (!cond() && !d.expired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&d.timer),
           [](uv_handle_t* h) { static_cast<Deadline*>(h->data)->closed = true; });
  while (!d.closed) uv_run(loop, UV_RUN_ONCE);
  return cond();
}

uint16_t unused_port(uv_loop_t* loop) {
  uv_tcp_t tcp;
  uv_tcp_init(loop, &tcp);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_bind(&tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
  sockaddr_storage ss{};
  int len = sizeof ss;
  uv_tcp_getsockname(&tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  uint16_t port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  bool closed = false;
  tcp.data = &closed;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) { *static_cast<bool*>(h->data) = true; });
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  return port;
}

}  // namespace vc::test
