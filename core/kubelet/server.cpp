#include "kubelet/server.hpp"

#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <map>

#include "http/client.hpp"
#include "http/tls.hpp"
#include "json/json.hpp"
#include "kube/client.hpp"
#include "kubelet/route.hpp"
#include "naming/keys.hpp"
#include "naming/naming.hpp"
#include "util/log.hpp"

namespace vc::kubelet {

using http::detail::TlsContext;
using http::detail::TlsSession;

namespace {

constexpr size_t kReadBuf = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string openssl_reason() {
  std::string reason;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    const char* r = ERR_reason_error_string(code);
    reason = r ? r : "unknown OpenSSL error";
  }
  return reason;
}

// Accepts every client certificate during the handshake; Conn::check_peer reads the verification result
// afterwards, so that a caller without a valid certificate gets an HTTP 401 it can read rather than a
// broken handshake.
int accept_any(int, X509_STORE_CTX*) {
  return 1;
}

Error server_context(const Options& o, SSL_CTX** out) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Error(ErrorKind::kInternal, "cannot create an OpenSSL server context");
  auto fail = [ctx](std::string what) {
    std::string r = openssl_reason();
    SSL_CTX_free(ctx);
    return Error(ErrorKind::kInvalidArgument, what + (r.empty() ? "" : " (" + r + ")"));
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  BIO* b = BIO_new_mem_buf(o.cert_pem.data(), static_cast<int>(o.cert_pem.size()));
  X509* leaf = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
    X509_free(leaf);
    BIO_free(b);
    return fail("the kubelet serving certificate is not a readable PEM certificate");
  }
  X509_free(leaf);
  while (X509* extra = PEM_read_bio_X509(b, nullptr, nullptr, nullptr))
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) X509_free(extra);
  BIO_free(b);
  ERR_clear_error();
  b = BIO_new_mem_buf(o.key_pem.data(), static_cast<int>(o.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  if (!key) return fail("the kubelet serving key is not a readable unencrypted PEM key");
  int used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return fail("the kubelet serving key does not belong to the kubelet serving certificate");
  b = BIO_new_mem_buf(o.client_ca_pem.data(), static_cast<int>(o.client_ca_pem.size()));
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  int added = 0;
  if (infos) {
    for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
      X509_INFO* info = sk_X509_INFO_value(infos, i);
      if (!info->x509 || X509_STORE_add_cert(store, info->x509) != 1) continue;
      ++added;
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(info->x509)));
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
  }
  if (added == 0) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    return fail("the kubelet client CA holds no readable PEM certificate");
  }
  ERR_clear_error();
  // The CA names tell the API server's TLS stack which of its certificates to present.
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
  *out = ctx;
  return {};
}

const kube::GVR& pods_gvr() {
  static const kube::GVR g{"", "v1", "pods", true, "Pod"};
  return g;
}

}  // namespace

struct Conn;

struct Server::Impl {
  uv_loop_t* loop = nullptr;
  Options opts;
  kube::Client* host_client = nullptr;
  SSL_CTX* ctx = nullptr;
  std::unique_ptr<TlsContext> up_ctx;
  http::Endpoint up_ep;
  std::string up_prefix, up_auth;
  uv_tcp_t listener{};
  bool listener_open = false;
  int port = 0;
  std::map<uint64_t, Conn*> conns;
  uint64_t next_id = 1;
  bool closing = false;
  std::function<void()> close_done;
  Stats stats;

  ~Impl() {
    if (ctx) SSL_CTX_free(ctx);
  }
  void maybe_closed();
  static void on_connection(uv_stream_t* s, int status);
};

// One caller connection and, once the request is checked, its host connection.
struct Conn {
  enum class Phase { kHead, kLookup, kUpConnect, kUpHead, kBody, kRelay, kEnding };

  struct Side {
    uv_tcp_t tcp{};
    bool inited = false;
    bool closing = false;
    bool reading = false;
    bool paused = false;  // reads stopped because the other side's write queue is full
    std::unique_ptr<TlsSession> tls;
    bool handshake_done = false;
  };

  struct Write {
    uv_write_t req{};
    std::string data;
    Conn* conn = nullptr;
    bool to_down = true;
  };

  Server::Impl* srv;
  uint64_t id;
  Side down, up;
  uv_timer_t timer{};
  bool timer_inited = false;
  int handles = 0;  // handles initialised and not yet closed
  bool dead = false;
  Phase phase = Phase::kHead;

  int auth_status = 0;  // 0 = a trusted caller; 401 or 403 otherwise
  std::string auth_message;

  // The caller's request.
  llhttp_t req_parser{};
  std::string method, url, field, value;
  bool in_value = false;
  std::vector<http::Header> req_headers;
  bool head_done = false;
  std::string early;  // plaintext the caller sent after its request head
  Route route;
  std::string host_pod;

  // The host's response.
  llhttp_t resp_parser{};
  int up_status = 0;
  std::vector<http::Header> up_headers;
  bool up_in_value = false;
  bool up_head_done = false, up_msg_done = false;
  bool down_head_sent = false;
  uv_connect_t connect_req{};

  char buf[kReadBuf];

  Conn(Server::Impl* s, uint64_t i) : srv(s), id(i) {}

  // ---- lifecycle ----

  static void on_closed(uv_handle_t* h) {
    auto* c = static_cast<Conn*>(h->data);
    if (--c->handles == 0) c->destroy();
  }
  void close_handle(uv_handle_t* h, bool* closing) {
    if (*closing) return;
    *closing = true;
    uv_close(h, &Conn::on_closed);
  }
  void close_up() {
    if (up.inited) close_handle(reinterpret_cast<uv_handle_t*>(&up.tcp), &up.closing);
  }
  // Closes everything at once; writes still queued are dropped.
  void abort() {
    dead = true;
    if (timer_inited) {
      uv_timer_stop(&timer);
      close_handle(reinterpret_cast<uv_handle_t*>(&timer), &timer_closing);
    }
    close_up();
    if (down.inited) close_handle(reinterpret_cast<uv_handle_t*>(&down.tcp), &down.closing);
  }
  bool timer_closing = false;
  bool down_shutdown = false;
  uv_shutdown_t shutdown_req{};
  // Ends the caller's side after what is queued has been written: a TLS close_notify, then a TCP shutdown,
  // then the close. The host side closes at once.
  void end_gracefully() {
    phase = Phase::kEnding;
    close_up();
    if (timer_inited) {
      uv_timer_stop(&timer);
      close_handle(reinterpret_cast<uv_handle_t*>(&timer), &timer_closing);
    }
    if (!down.inited || down.closing || down_shutdown) return;
    if (down.tls) {
      down.tls->close_notify();
      flush_down();
    }
    down_shutdown = true;
    shutdown_req.data = this;
    if (uv_shutdown(&shutdown_req, reinterpret_cast<uv_stream_t*>(&down.tcp), [](uv_shutdown_t* r, int) {
          auto* c = static_cast<Conn*>(r->data);
          c->close_handle(reinterpret_cast<uv_handle_t*>(&c->down.tcp), &c->down.closing);
        }) != 0)
      close_handle(reinterpret_cast<uv_handle_t*>(&down.tcp), &down.closing);
  }
  void destroy() {
    srv->conns.erase(id);
    srv->stats.open = srv->conns.size();
    Server::Impl* s = srv;
    delete this;
    s->maybe_closed();
  }

  // ---- writing ----

  void raw_write(Side& side, std::string data, bool to_down) {
    if (data.empty() || !side.inited || side.closing) return;
    auto* w = new Write;
    w->data = std::move(data);
    w->conn = this;
    w->to_down = to_down;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    w->req.data = w;
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&side.tcp), &b, 1, &Conn::on_written);
    if (rc != 0) {
      delete w;
      abort();
    }
  }
  static void on_written(uv_write_t* req, int status) {
    auto* w = static_cast<Write*>(req->data);
    Conn* c = w->conn;
    bool to_down = w->to_down;
    delete w;
    if (status != 0) {
      if (status != UV_ECANCELED) c->abort();
      return;
    }
    // Backpressure: the side whose reads were paused for this queue resumes once it is half drained.
    Side& target = to_down ? c->down : c->up;
    Side& source = to_down ? c->up : c->down;
    if (source.paused && !target.closing &&
        uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&target.tcp)) <=
            c->srv->opts.high_water / 2) {
      source.paused = false;
      c->start_reading(source, to_down ? &Conn::on_up_read : &Conn::on_down_read);
    }
  }
  void flush_down() {
    if (down.tls) raw_write(down, down.tls->take_output(), true);
  }
  void flush_up() {
    if (up.tls) raw_write(up, up.tls->take_output(), false);
  }
  void write_down(std::string_view data) {
    if (data.empty()) return;
    srv->stats.bytes_down += data.size();
    if (down.tls) {
      if (down.tls->write(data) != TlsSession::Status::kOk) return abort();
      flush_down();
    } else {
      raw_write(down, std::string(data), true);
    }
    throttle(up, down);
  }
  void write_up(std::string_view data) {
    if (data.empty()) return;
    srv->stats.bytes_up += data.size();
    if (up.tls) {
      if (up.tls->write(data) != TlsSession::Status::kOk) return abort();
      flush_up();
    } else {
      raw_write(up, std::string(data), false);
    }
    throttle(down, up);
  }
  // Stops reading `source` while `target` has more than high_water bytes queued.
  void throttle(Side& source, Side& target) {
    if (!target.inited || target.closing || !source.reading) return;
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&target.tcp)) > srv->opts.high_water) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&source.tcp));
      source.reading = false;
      source.paused = true;
    }
  }
  void start_reading(Side& side, uv_read_cb cb) {
    if (side.reading || side.closing || !side.inited) return;
    side.reading = true;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&side.tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* c = static_cast<Conn*>(h->data);
          *b = uv_buf_init(c->buf, sizeof c->buf);
        },
        cb);
  }
  void stop_reading(Side& side) {
    if (!side.reading) return;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&side.tcp));
    side.reading = false;
  }

  // A complete answer of our own (refusals, /healthz, host failures), then the end of the connection.
  void respond(int status, const std::string& body) {
    if (dead) return;
    if (status == 401) ++srv->stats.unauthenticated;
    if (status == 403) ++srv->stats.forbidden;
    if (status == 404) ++srv->stats.not_found;
    if (status == 502 || status == 504) ++srv->stats.upstream_failures;
    if (down_head_sent) return end_gracefully();
    down_head_sent = true;
    std::string text = body.empty() || body.back() == '\n' ? body : body + "\n";
    std::string head =
        "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
        "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(text.size()) +
        "\r\nConnection: close\r\n\r\n";
    write_down(head + text);
    end_gracefully();
  }

  // ---- the caller's side ----

  static void on_down_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* c = static_cast<Conn*>(s->data);
    if (n == 0) return;
    if (n < 0) {
      // The caller went away: a log stream or an upgraded stream ends; so does the host request.
      c->stop_reading(c->down);
      if (c->phase == Phase::kRelay) return c->end_gracefully();
      return c->abort();
    }
    c->down.tls->feed(b->base, static_cast<size_t>(n));
    if (!c->down.handshake_done) {
      auto st = c->down.tls->handshake();
      c->flush_down();
      if (st == TlsSession::Status::kWantRead) return;
      if (st != TlsSession::Status::kOk) {
        log().debug("kubelet endpoint: TLS handshake failed: {}", c->down.tls->error());
        return c->abort();
      }
      c->down.handshake_done = true;
      c->check_peer();
    }
    c->drain_down();
  }
  void drain_down() {
    while (!dead) {
      size_t got = 0;
      char plain[16 * 1024];
      auto st = down.tls->read(plain, sizeof plain, &got);
      if (st == TlsSession::Status::kOk) {
        on_down_plain(std::string_view(plain, got));
        continue;
      }
      flush_down();  // a TLS 1.3 session ticket or key update answer
      if (st == TlsSession::Status::kWantRead) return;
      // close_notify or a broken record: the same as an EOF.
      stop_reading(down);
      if (phase == Phase::kRelay) return end_gracefully();
      return abort();
    }
  }
  void check_peer() {
    SSL* ssl = down.tls->ssl();
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (!peer) {
      auth_status = 401;
      auth_message =
          "this kubelet endpoint answers only the virtual API server: present its kubelet client "
          "certificate (--kubelet-client-certificate)";
      return;
    }
    long verify = SSL_get_verify_result(ssl);
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn - 1);
    X509_free(peer);
    if (verify != X509_V_OK) {
      auth_status = 401;
      auth_message = std::string("the client certificate is not trusted (") +
                     X509_verify_cert_error_string(verify) +
                     "); it must be signed by the virtual cluster's CA (--kubelet-client-ca)";
      return;
    }
    const auto& allowed = srv->opts.allowed_cns;
    if (std::find(allowed.begin(), allowed.end(), std::string(cn)) == allowed.end()) {
      auth_status = 403;
      auth_message = std::string("the client certificate's common name \"") + cn +
                     "\" may not call this kubelet endpoint; only the virtual API server's kubelet client "
                     "certificate may";
    }
  }

  static const llhttp_settings_t* req_settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t v;
      llhttp_settings_init(&v);
      v.on_method = [](llhttp_t* p, const char* at, size_t len) {
        static_cast<Conn*>(p->data)->method.append(at, len);
        return 0;
      };
      v.on_url = [](llhttp_t* p, const char* at, size_t len) {
        auto* c = static_cast<Conn*>(p->data);
        if (c->url.size() + len > 64 * 1024) return -1;
        c->url.append(at, len);
        return 0;
      };
      v.on_header_field = [](llhttp_t* p, const char* at, size_t len) {
        auto* c = static_cast<Conn*>(p->data);
        if (c->in_value) {
          c->req_headers.push_back({std::move(c->field), std::move(c->value)});
          c->field.clear();
          c->value.clear();
          c->in_value = false;
        }
        if (c->req_headers.size() > 200) return -1;
        c->field.append(at, len);
        return 0;
      };
      v.on_header_value = [](llhttp_t* p, const char* at, size_t len) {
        auto* c = static_cast<Conn*>(p->data);
        c->in_value = true;
        if (c->value.size() + len > 64 * 1024) return -1;
        c->value.append(at, len);
        return 0;
      };
      v.on_headers_complete = [](llhttp_t* p) {
        auto* c = static_cast<Conn*>(p->data);
        if (c->in_value || !c->field.empty())
          c->req_headers.push_back({std::move(c->field), std::move(c->value)});
        c->in_value = false;
        return 0;
      };
      // The kubelet API takes no request bodies; one that is sent is read and ignored.
      v.on_message_complete = [](llhttp_t* p) -> int {
        static_cast<Conn*>(p->data)->head_done = true;
        return HPE_PAUSED;
      };
      return v;
    }();
    return &s;
  }

  void on_down_plain(std::string_view data) {
    if (phase == Phase::kRelay) return write_up(data);
    // While a log streams, the caller is read only to notice that it went away.
    if (phase == Phase::kBody || phase == Phase::kEnding) return;
    if (head_done) {
      // Bytes after the head before the host said 101: kept for the relay, and the caller is not read
      // further until then, so this stays within one read.
      early.append(data);
      stop_reading(down);
      return;
    }
    llhttp_errno_t rc = llhttp_execute(&req_parser, data.data(), data.size());
    if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
      const char* pos = llhttp_get_error_pos(&req_parser);
      size_t used = pos ? static_cast<size_t>(pos - data.data()) : data.size();
      if (used < data.size()) early.append(data.substr(used));
      head_done = true;
      stop_reading(down);
      return handle_request();
    }
    if (rc != HPE_OK) {
      respond(400, std::string("malformed HTTP request: ") + llhttp_errno_name(rc));
    }
  }

  const std::string* req_header(std::string_view name) const {
    for (auto& h : req_headers)
      if (iequals(h.name, name)) return &h.value;
    return nullptr;
  }

  void handle_request() {
    ++srv->stats.requests;
    if (timer_inited) uv_timer_stop(&timer);
    if (auth_status != 0) return respond(auth_status, auth_message);
    route = parse_target(url);
    switch (route.kind) {
      case Kind::kHealthz:
        return respond(200, "ok");
      case Kind::kBadRequest:
        return respond(400, route.problem);
      case Kind::kForbidden:
        return respond(403, "the path " + url.substr(0, url.find('?')) +
                                " is not served by the vcluster kubelet endpoint (it serves containerLogs, "
                                "exec, attach, portForward and healthz)");
      case Kind::kRun:
      case Kind::kStatsSummary:
      case Kind::kMetricsResource:
        return respond(501, "the vcluster kubelet endpoint does not serve " + url.substr(0, url.find('?')) +
                                " yet; see core/kubelet/README.md");
      default:
        break;
    }
    if (route.kind == Kind::kLogs && method != "GET")
      return respond(405, "containerLogs takes GET, not " + method);
    if (is_upgrade(route.kind) && method != "GET" && method != "POST")
      return respond(405, route.kind == Kind::kPortForward ? "portForward takes GET or POST"
                                                           : "exec and attach take GET or POST");
    phase = Phase::kLookup;
    host_pod = naming::physical_name(route.pod, route.ns, srv->opts.vcluster_name);
    Server::Impl* s = srv;
    uint64_t my_id = id;
    s->host_client->get(pods_gvr(), s->opts.host_namespace, host_pod, [s, my_id](kube::Result r) {
      auto it = s->conns.find(my_id);
      if (it == s->conns.end() || it->second->dead) return;
      it->second->on_pod(std::move(r));
    });
  }

  void on_pod(kube::Result r) {
    std::string who = "pod " + route.ns + "/" + route.pod;
    if (r.not_found())
      return respond(404, who + " is not a pod of vcluster " + srv->opts.vcluster_name + " (no host pod " +
                              host_pod + " in " + srv->opts.host_namespace + "; it may not be synced yet)");
    if (!r.ok()) {
      if (r.err.kind == ErrorKind::kHttp)
        return respond(502, "the host API server " + srv->opts.host.server + " refused to read host pod " +
                                host_pod + ": HTTP " + std::to_string(r.status) + " " + r.err.message);
      return respond(502,
                     "the host API server " + srv->opts.host.server + " is not reachable: " + r.err.message);
    }
    auto obj = json::parse(r.body);
    const json::Value* oname =
        obj ? obj->at({"metadata", "annotations", std::string(naming::keys::kObjectName)}) : nullptr;
    const json::Value* ons =
        obj ? obj->at({"metadata", "annotations", std::string(naming::keys::kObjectNamespace)}) : nullptr;
    bool ours =
        obj &&
        naming::is_managed_namespaced_object(*obj, srv->opts.host_namespace, srv->opts.vcluster_name) &&
        oname && oname->string_or("") == route.pod && ons && ons->string_or("") == route.ns;
    if (!ours)
      return respond(404, who + " is not a pod of vcluster " + srv->opts.vcluster_name + " (host pod " +
                              host_pod + " is not managed by it)");
    connect_up();
  }

  // ---- the host's side ----

  void connect_up() {
    phase = Phase::kUpConnect;
    const auto& ep = srv->up_ep;
    sockaddr_storage addr{};
    bool ok = uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
              uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0;
    if (!ok) {
      // Kubeconfigs of local and in-cluster hosts name an IP; a name would need uv_getaddrinfo here.
      return respond(502, "the host API server " + srv->opts.host.server +
                              " is named by a DNS name; the kubelet relay needs an IP address in the host "
                              "kubeconfig");
    }
    uv_tcp_init(srv->loop, &up.tcp);
    up.tcp.data = this;
    up.inited = true;
    ++handles;
    uv_tcp_nodelay(&up.tcp, 1);
    if (timer_inited)
      uv_timer_start(&timer, &Conn::on_timer, static_cast<uint64_t>(srv->opts.connect_timeout.count()), 0);
    connect_req.data = this;
    int rc = uv_tcp_connect(&connect_req, &up.tcp, reinterpret_cast<sockaddr*>(&addr),
                            [](uv_connect_t* req, int status) {
                              auto* c = static_cast<Conn*>(req->data);
                              if (status == UV_ECANCELED || c->dead) return;
                              if (status != 0)
                                return c->respond(502, "the host API server " + c->srv->opts.host.server +
                                                           " is not reachable: " + uv_strerror(status));
                              c->on_up_connected();
                            });
    if (rc != 0)
      respond(502, "the host API server " + srv->opts.host.server + " is not reachable: " + uv_strerror(rc));
  }

  void on_up_connected() {
    if (srv->up_ep.tls) {
      Error e;
      up.tls = TlsSession::create(srv->up_ctx->get(), srv->up_ep.host, srv->up_ep.tls_opts, &e);
      if (!up.tls)
        return respond(502,
                       "cannot start TLS to the host API server " + srv->opts.host.server + ": " + e.message);
      up.tls->handshake();
      flush_up();
    } else {
      up.handshake_done = true;
      send_up_head();
    }
    start_reading(up, &Conn::on_up_read);
  }

  void send_up_head() {
    if (timer_inited) uv_timer_stop(&timer);
    phase = Phase::kUpHead;
    llhttp_init(&resp_parser, HTTP_RESPONSE, resp_settings());
    resp_parser.data = this;
    std::string target = srv->up_prefix + host_target(route, srv->opts.host_namespace, host_pod);
    std::string m = route.kind == Kind::kLogs ? "GET" : method;
    std::string head = m + " " + target + " HTTP/1.1\r\nHost: " + srv->up_ep.host + ":" +
                       std::to_string(srv->up_ep.port) + "\r\nUser-Agent: vcluster-syncer/kubelet-relay\r\n";
    if (!srv->up_auth.empty()) head += "Authorization: " + srv->up_auth + "\r\n";
    if (route.kind == Kind::kLogs) {
      head += "Accept: */*\r\nConnection: close\r\n";
    } else {
      // The headers of the protocol switch, as the caller sent them: the host API server and its kubelet
      // negotiate the stream protocol with the caller through them (SPDY/3.1 or WebSocket, and the
      // channel.k8s.io version).
      for (auto& h : req_headers) {
        if (iequals(h.name, "Upgrade") || iequals(h.name, "Connection") ||
            iequals(h.name, "X-Stream-Protocol-Version") ||
            (h.name.size() > 14 && iequals(std::string_view(h.name).substr(0, 14), "Sec-WebSocket-")) ||
            iequals(h.name, "Origin")) {
          if (h.value.find_first_of("\r\n") != std::string::npos) continue;
          head += h.name + ": " + h.value + "\r\n";
        }
      }
      if (method == "POST") head += "Content-Length: 0\r\n";
    }
    head += "\r\n";
    if (up.tls) {
      if (up.tls->write(head) != TlsSession::Status::kOk) return abort();
      flush_up();
    } else {
      raw_write(up, head, false);
    }
  }

  static void on_up_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* c = static_cast<Conn*>(s->data);
    if (n == 0) return;
    if (n < 0) {
      c->stop_reading(c->up);
      return c->on_up_eof();
    }
    if (!c->up.tls) return c->on_up_plain(std::string_view(b->base, static_cast<size_t>(n)));
    c->up.tls->feed(b->base, static_cast<size_t>(n));
    if (!c->up.handshake_done) {
      auto st = c->up.tls->handshake();
      c->flush_up();
      if (st == TlsSession::Status::kWantRead) return;
      if (st != TlsSession::Status::kOk)
        return c->respond(502, "TLS handshake with the host API server " + c->srv->opts.host.server +
                                   " failed: " + c->up.tls->error());
      c->up.handshake_done = true;
      c->send_up_head();
    }
    while (!c->dead && !c->up.closing) {
      size_t got = 0;
      char plain[16 * 1024];
      auto st = c->up.tls->read(plain, sizeof plain, &got);
      if (st == TlsSession::Status::kOk) {
        c->on_up_plain(std::string_view(plain, got));
        continue;
      }
      c->flush_up();
      if (st == TlsSession::Status::kWantRead) return;
      c->stop_reading(c->up);
      return c->on_up_eof();
    }
  }

  void on_up_eof() {
    if (dead) return;
    switch (phase) {
      case Phase::kRelay:
        return end_gracefully();
      case Phase::kBody:
        // A body delimited by the end of the connection ends here.
        if (!up_msg_done) {
          llhttp_errno_t rc = llhttp_finish(&resp_parser);
          if (rc != HPE_OK && rc != HPE_PAUSED) return abort();  // truncated: the caller must not see an end
        }
        return end_body();
      case Phase::kUpConnect:
      case Phase::kUpHead:
        return respond(502, "the host API server " + srv->opts.host.server +
                                " closed the connection before it answered");
      default:
        return;
    }
  }

  static const llhttp_settings_t* resp_settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t v;
      llhttp_settings_init(&v);
      v.on_header_field = [](llhttp_t* p, const char* at, size_t len) {
        auto* c = static_cast<Conn*>(p->data);
        if (c->up_in_value || c->up_headers.empty()) {
          c->up_headers.push_back({});
          c->up_in_value = false;
        }
        c->up_headers.back().name.append(at, len);
        return 0;
      };
      v.on_header_value = [](llhttp_t* p, const char* at, size_t len) {
        auto* c = static_cast<Conn*>(p->data);
        c->up_in_value = true;
        if (c->up_headers.empty()) c->up_headers.push_back({});
        c->up_headers.back().value.append(at, len);
        return 0;
      };
      v.on_headers_complete = [](llhttp_t* p) {
        auto* c = static_cast<Conn*>(p->data);
        c->up_status = p->status_code;
        c->up_head_done = true;
        if (c->up_status == 101 && is_upgrade(c->route.kind)) return 0;
        c->start_body();
        return 0;
      };
      v.on_body = [](llhttp_t* p, const char* at, size_t len) {
        auto* c = static_cast<Conn*>(p->data);
        c->write_chunk(std::string_view(at, len));
        return 0;
      };
      v.on_message_complete = [](llhttp_t* p) -> int {
        static_cast<Conn*>(p->data)->up_msg_done = true;
        return HPE_PAUSED;
      };
      return v;
    }();
    return &s;
  }

  void on_up_plain(std::string_view data) {
    if (phase == Phase::kRelay) return write_down(data);
    if (phase != Phase::kUpHead && phase != Phase::kBody) return;
    llhttp_errno_t rc = llhttp_execute(&resp_parser, data.data(), data.size());
    if (up_head_done && up_status == 101 && is_upgrade(route.kind) &&
        (rc == HPE_PAUSED_UPGRADE || rc == HPE_PAUSED)) {
      const char* pos = llhttp_get_error_pos(&resp_parser);
      size_t used = pos ? static_cast<size_t>(pos - data.data()) : data.size();
      return start_relay(data.substr(std::min(used, data.size())));
    }
    if (rc == HPE_PAUSED && up_msg_done) return end_body();
    if (rc != HPE_OK) {
      if (!down_head_sent)
        return respond(502, "the host API server " + srv->opts.host.server + " sent a malformed response (" +
                                llhttp_errno_name(rc) + ")");
      return abort();
    }
  }

  void start_body() {
    phase = Phase::kBody;
    if (route.kind == Kind::kLogs && up_status == 200) ++srv->stats.logs;
    down_head_sent = true;
    std::string head = "HTTP/1.1 " + std::to_string(up_status) + " " + reason_phrase(up_status) + "\r\n";
    for (auto& h : up_headers)
      if (iequals(h.name, "Content-Type") || iequals(h.name, "Cache-Control") ||
          iequals(h.name, "Retry-After"))
        head += h.name + ": " + h.value + "\r\n";
    head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    write_down(head);
    start_reading(down, &Conn::on_down_read);
  }
  void write_chunk(std::string_view data) {
    if (data.empty()) return;
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string frame;
    frame.reserve(data.size() + 40);
    frame += size;
    frame.append(data);
    frame += "\r\n";
    write_down(frame);
  }
  void end_body() {
    write_down("0\r\n\r\n");
    end_gracefully();
  }

  void start_relay(std::string_view rest) {
    ++srv->stats.upgraded;
    phase = Phase::kRelay;
    down_head_sent = true;
    std::string head = "HTTP/1.1 101 Switching Protocols\r\n";
    for (auto& h : up_headers) head += h.name + ": " + h.value + "\r\n";
    head += "\r\n";
    write_down(head);
    write_down(rest);
    std::string e = std::move(early);
    early.clear();
    write_up(e);
    start_reading(down, &Conn::on_down_read);
    // Plaintext that OpenSSL already decrypted from the caller arrives with the next read; nothing is lost
    // because drain_down reads until WANT_READ.
  }

  static void on_timer(uv_timer_t* t) {
    auto* c = static_cast<Conn*>(t->data);
    if (c->phase == Phase::kHead) return c->abort();
    if (c->phase == Phase::kUpConnect)
      return c->respond(504, "the host API server " + c->srv->opts.host.server +
                                 " did not accept a connection within " +
                                 std::to_string(c->srv->opts.connect_timeout.count() / 1000) + "s");
  }
};

void Server::Impl::maybe_closed() {
  if (!closing || !conns.empty() || listener_open) return;
  if (close_done) {
    auto done = std::move(close_done);
    close_done = nullptr;
    done();
  }
}

void Server::Impl::on_connection(uv_stream_t* s, int status) {
  auto* srv = static_cast<Server::Impl*>(s->data);
  if (status != 0 || srv->closing) return;
  uint64_t id = srv->next_id++;
  auto* c = new Conn(srv, id);
  uv_tcp_init(srv->loop, &c->down.tcp);
  c->down.tcp.data = c;
  c->down.inited = true;
  c->handles = 1;
  srv->conns[id] = c;
  srv->stats.open = srv->conns.size();
  ++srv->stats.connections;
  if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->down.tcp)) != 0) return c->abort();
  uv_tcp_nodelay(&c->down.tcp, 1);
  Error e;
  c->down.tls = TlsSession::create_server(srv->ctx, &e);
  if (!c->down.tls) return c->abort();
  llhttp_init(&c->req_parser, HTTP_REQUEST, Conn::req_settings());
  c->req_parser.data = c;
  uv_timer_init(srv->loop, &c->timer);
  c->timer.data = c;
  c->timer_inited = true;
  ++c->handles;
  uv_timer_start(&c->timer, &Conn::on_timer, static_cast<uint64_t>(srv->opts.head_timeout.count()), 0);
  c->start_reading(c->down, &Conn::on_down_read);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_ && (impl_->listener_open || !impl_->conns.empty()))
    log().error("kubelet endpoint destroyed with open handles; leaking its state");
  if (impl_ && (impl_->listener_open || !impl_->conns.empty())) (void)impl_.release();
}

Error Server::create(uv_loop_t* loop, Options opts, kube::Client* host_client, std::unique_ptr<Server>* out) {
  // libuv writes to sockets with write(2), which raises SIGPIPE when the peer has gone: a kubectl cp whose
  // remote tar exits while the relay still writes its input, a caller that quits mid-stream. The signal's
  // default action ends the process (the syncer vanished without a log line). Ignored, the write fails with
  // EPIPE, which ends only that connection.
  std::signal(SIGPIPE, SIG_IGN);
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->host_client = host_client;
  if (Error e = server_context(opts, &impl->ctx)) return e;
  Error err;
  auto ep = http::parse_url(opts.host.server, &impl->up_prefix, &err);
  if (!ep) return err;
  ep->tls_opts.ca_pem = opts.host.ca_pem;
  ep->tls_opts.cert_pem = opts.host.cert_pem;
  ep->tls_opts.key_pem = opts.host.key_pem;
  ep->tls_opts.insecure_skip_verify = opts.host.insecure_skip_tls_verify;
  ep->tls_opts.server_name = opts.host.tls_server_name;
  if (ep->tls) {
    impl->up_ctx = TlsContext::create(ep->tls_opts, &err);
    if (!impl->up_ctx) return Error(err.kind, "host cluster: " + err.message);
  }
  impl->up_ep = std::move(*ep);
  if (!opts.host.token.empty()) impl->up_auth = "Bearer " + opts.host.token;
  impl->opts = std::move(opts);
  out->reset(new Server(std::move(impl)));
  return {};
}

Error Server::listen() {
  auto* d = impl_.get();
  const std::string& a = d->opts.address;
  size_t colon = a.rfind(':');
  if (colon == std::string::npos)
    return Error(ErrorKind::kInvalidArgument, "--kubelet-address '" + a + "' is not IP:PORT");
  std::string host = a.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(a.c_str() + colon + 1, &end, 10);
  if (colon + 1 == a.size() || *end != '\0' || port < 0 || port > 65535)
    return Error(ErrorKind::kInvalidArgument, "--kubelet-address '" + a + "' has no valid port");
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), static_cast<int>(port), reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), static_cast<int>(port), reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
    return Error(ErrorKind::kInvalidArgument,
                 "--kubelet-address '" + a + "' does not start with an IP address");
  uv_tcp_init(d->loop, &d->listener);
  d->listener.data = d;
  d->listener_open = true;
  int rc = uv_tcp_bind(&d->listener, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&d->listener), 128, &Impl::on_connection);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&d->listener), [](uv_handle_t* h) {
      auto* impl = static_cast<Impl*>(h->data);
      impl->listener_open = false;
      impl->maybe_closed();
    });
    return Error(ErrorKind::kIo, "cannot listen on " + a + " for the kubelet endpoint: " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&d->listener, reinterpret_cast<sockaddr*>(&bound), &len);
  d->port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return {};
}

int Server::port() const {
  return impl_->port;
}

const Stats& Server::stats() const {
  return impl_->stats;
}

void Server::close(std::function<void()> done) {
  auto* d = impl_.get();
  d->closing = true;
  d->close_done = std::move(done);
  if (d->listener_open && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&d->listener)))
    uv_close(reinterpret_cast<uv_handle_t*>(&d->listener), [](uv_handle_t* h) {
      auto* impl = static_cast<Impl*>(h->data);
      impl->listener_open = false;
      impl->maybe_closed();
    });
  std::vector<Conn*> open;
  for (auto& [id, c] : d->conns) open.push_back(c);
  for (Conn* c : open) c->abort();
  d->maybe_closed();
}

}  // namespace vc::kubelet
