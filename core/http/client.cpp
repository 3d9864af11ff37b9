// The HTTP client: ClientCore owns the request queue, the keep-alive pool and the deferred-callback queue;
// Connection owns one TCP handle (plus TLS session and llhttp parser) and serves one request at a time.
//
// Lifetime rules, in one place because every bug in an event-loop client is a lifetime bug:
// - An Op (one request) lives from send()/stream() until the close callback of its timer; it is finished
//   (callback queued) exactly once, then its timer is closed and the close callback deletes it.
// - A Connection lives until the close callbacks of all its handles ran and no getaddrinfo is pending.
//   libuv calls write and connect callbacks with UV_ECANCELED before the handle's close callback, so a
//   Connection is still alive in those callbacks.
// - User completion callbacks run only from the deferred queue (a zero timer), never inside llhttp or
//   inside send(). Stream on_head/on_data run inline while parsing; after each, the parser stops if the
//   user cancelled or closed.
#include "http/client.hpp"

#include <llhttp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "http/tls.hpp"
#include "util/log.hpp"

namespace vc::http {
namespace detail {

namespace {

constexpr size_t kReadBufferSize = 64 * 1024;

// The buffers a read lands in: raw bytes from the socket, and bytes TLS decrypted from them. Both are used
// only inside one read callback (everything in them is fed to TLS or the HTTP parser before it returns),
// and the loop runs one callback at a time, so every connection of the thread shares the same two instead
// of holding 128 KiB each.
char* read_buffer() {
  thread_local std::unique_ptr<char[]> b = std::make_unique<char[]>(kReadBufferSize);
  return b.get();
}
char* plain_buffer() {
  thread_local std::unique_ptr<char[]> b = std::make_unique<char[]>(kReadBufferSize);
  return b.get();
}
// A Content-Length larger than this is not trusted for pre-allocation; the body still grows as it arrives.
constexpr uint64_t kMaxReserve = 256ull << 20;

bool is_idempotent(std::string_view m) {
  // RFC 9110 section 9.2.2; POST and PATCH are not, so a retry could apply them twice.
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS";
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

bool has_crlf(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

}  // namespace

class Connection;
class ClientCore;

struct Op {
  ClientCore* core = nullptr;
  uint64_t id = 0;
  bool stream = false;
  std::string method, target;
  std::string head;                         // request line and headers, serialized once
  std::shared_ptr<const std::string> body;  // shared with in-flight writes, so no write outlives its bytes
  std::chrono::milliseconds timeout{0};
  Callback cb;
  StreamHandlers sh;
  Response resp;
  Connection* conn = nullptr;
  uv_timer_t timer{};
  bool queued = false;
  bool finished = false;
  bool retried = false;
  bool needs_fresh = false;  // a retry must not land on another possibly stale pooled connection
  bool got_response_bytes = false;

  std::string describe() const { return method + " " + target; }
};

struct WriteReq {
  uv_write_t req{};
  Connection* conn = nullptr;
  std::string data;                         // owned bytes (request head, or TLS ciphertext)
  std::shared_ptr<const std::string> body;  // borrowed request body for plain connections
};

class ClientCore {
 public:
  ClientCore(uv_loop_t* loop, Endpoint ep, ClientOptions opts);
  ~ClientCore();
  bool has_open_handles() const;

  uint64_t submit(Request req, Callback cb, StreamHandlers sh, bool stream);
  void cancel(uint64_t id);
  void set_default_header(std::string name, std::string value);
  void close(std::function<void()> done);
  Client::Stats stats() const;

  // Called by Connection.
  void on_ready(Connection* c);
  void on_response(Connection* c, Op* op, bool keep_alive);
  void on_failed(Connection* c, Error err);
  void on_closing(Connection* c);
  void on_freed(Connection* c);
  void arm_stream_timer(Op* op);

  uv_loop_t* loop() const { return loop_; }
  const Endpoint& endpoint() const { return ep_; }
  const ClientOptions& options() const { return opts_; }
  const std::string& authority() const { return authority_; }
  TlsContext* tls() const { return tls_.get(); }
  Client::Stats& counters() { return st_; }

 private:
  void finish(Op* op, Error err);
  void abort_op(Op* op, Error err);
  void defer(std::function<void()> fn);
  void ensure_defer_timer();
  void schedule_pump();
  void pump();
  Connection* open_connection(bool dedicated, Op* op);
  size_t pooled_live() const;
  void make_idle(Connection* c);
  void remove_idle(Connection* c);
  void maybe_finish_close();
  Error build_head(Op* op, const Request& req) const;

  static void on_op_timer(uv_timer_t* t);
  static void on_op_closed(uv_handle_t* h);
  static void on_defer_timer(uv_timer_t* t);
  static void on_defer_closed(uv_handle_t* h);

  uv_loop_t* loop_;
  Endpoint ep_;
  ClientOptions opts_;
  std::string authority_;    // "host:port" for messages, IPv6 bracketed
  std::string host_header_;  // Host header value (RFC 9112 section 3.2), port omitted when default
  std::unique_ptr<TlsContext> tls_;
  Error tls_error_;
  std::vector<Header> default_headers_;

  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Op*> ops_;  // unfinished ops
  size_t live_ops_ = 0;                    // ops not yet deleted (finished ones wait for their timer close)
  std::deque<Op*> queue_;                  // ordinary requests waiting for a connection, FIFO
  std::deque<Op*> stream_queue_;           // streams waiting for their dedicated connection
  std::unordered_set<Connection*> conns_;  // every connection not yet freed
  std::vector<Connection*> idle_;          // ready pooled connections without a request, oldest first
  Client::Stats st_;

  uv_timer_t defer_timer_{};
  bool defer_open_ = false;
  bool defer_closing_ = false;
  bool pump_scheduled_ = false;
  std::deque<std::function<void()>> deferred_;

  bool closing_ = false;
  std::vector<std::function<void()>> close_done_;
};

class Connection {
 public:
  enum class State { kNew, kResolving, kConnecting, kHandshaking, kReady, kClosing };

  Connection(ClientCore* core, bool dedicated) : core_(core), dedicated_(dedicated) {}

  void start();
  void assign(Op* op);
  void close();
  void make_idle();
  void detach() { op_ = nullptr; }

  bool dedicated() const { return dedicated_; }
  bool ready() const { return state_ == State::kReady; }
  bool closing() const { return state_ == State::kClosing; }
  bool request_sent() const { return request_sent_; }
  int served() const { return served_; }
  Op* op() const { return op_; }
  void set_op(Op* op) { op_ = op; }

 private:
  void connect_next();
  void became_ready();
  void send_request();
  void handshake_step();
  void on_bytes(const char* data, size_t len);
  void feed_http(const char* data, size_t len);
  void complete_message();
  void on_eof();
  void fail(Error err);
  bool write_owned(std::string data, std::shared_ptr<const std::string> body);
  bool flush_tls();
  void handle_closed();

  static void on_resolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_timer(uv_timer_t* t);
  static void on_handle_closed(uv_handle_t* h);

  static int on_message_begin(llhttp_t* p);
  static int on_header_field(llhttp_t* p, const char* at, size_t len);
  static int on_header_field_complete(llhttp_t* p);
  static int on_header_value(llhttp_t* p, const char* at, size_t len);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t len);
  static int on_message_complete(llhttp_t* p);
  static const llhttp_settings_t* settings();

  ClientCore* core_;
  bool dedicated_;
  State state_ = State::kNew;
  Op* op_ = nullptr;
  int served_ = 0;
  bool request_sent_ = false;

  uv_getaddrinfo_t gai_{};
  bool resolving_ = false;
  std::vector<sockaddr_storage> addrs_;
  size_t next_addr_ = 0;
  int last_connect_error_ = 0;
  uv_tcp_t* tcp_ = nullptr;  // heap-allocated: a failed connect needs a fresh handle for the next address
  uv_connect_t connect_req_{};
  uv_timer_t timer_{};  // connect timeout while connecting, idle timeout while pooled
  int open_handles_ = 0;

  std::unique_ptr<TlsSession> tls_;

  llhttp_t parser_{};
  bool field_open_ = false;
  bool message_done_ = false;
  bool keep_alive_ = false;
  bool interim_ = false;
};

// ---------------------------------------------------------------------------------------------------------
// Connection

const llhttp_settings_t* Connection::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = &Connection::on_message_begin;
    v.on_header_field = &Connection::on_header_field;
    v.on_header_field_complete = &Connection::on_header_field_complete;
    v.on_header_value = &Connection::on_header_value;
    v.on_headers_complete = &Connection::on_headers_complete;
    v.on_body = &Connection::on_body;
    v.on_message_complete = &Connection::on_message_complete;
    return v;
  }();
  return &s;
}

void Connection::start() {
  uv_timer_init(core_->loop(), &timer_);
  timer_.data = this;
  ++open_handles_;
  const auto& opts = core_->options();
  if (opts.connect_timeout.count() > 0) {
    uv_timer_start(&timer_, &Connection::on_timer, static_cast<uint64_t>(opts.connect_timeout.count()), 0);
  }
  const Endpoint& ep = core_->endpoint();
  sockaddr_storage ss{};
  // Literal addresses skip the resolver: getaddrinfo runs on libuv's thread pool and would only add latency.
  if (uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
      uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
    addrs_.push_back(ss);
    state_ = State::kConnecting;
    connect_next();
    return;
  }
  state_ = State::kResolving;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  gai_.data = this;
  std::string port = std::to_string(ep.port);
  int rc =
      uv_getaddrinfo(core_->loop(), &gai_, &Connection::on_resolved, ep.host.c_str(), port.c_str(), &hints);
  if (rc < 0) {
    fail(Error(ErrorKind::kIo,
               "cannot resolve \"" + ep.host + "\": " + uv_strerror(rc) + "; check the server address", rc));
    return;
  }
  resolving_ = true;
}

void Connection::on_resolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  auto* c = static_cast<Connection*>(req->data);
  c->resolving_ = false;
  if (c->closing()) {
    uv_freeaddrinfo(res);
    c->handle_closed();
    return;
  }
  if (status < 0) {
    uv_freeaddrinfo(res);
    c->fail(Error(ErrorKind::kIo,
                  "cannot resolve \"" + c->core_->endpoint().host + "\": " + uv_strerror(status) +
                      "; check the server address and DNS",
                  status));
    return;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    sockaddr_storage ss{};
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    c->addrs_.push_back(ss);
  }
  uv_freeaddrinfo(res);
  c->state_ = State::kConnecting;
  c->connect_next();
}

void Connection::connect_next() {
  // Each address gets its own handle: after a failed connect the socket cannot be reused.
  while (next_addr_ < addrs_.size()) {
    const sockaddr_storage& addr = addrs_[next_addr_++];
    tcp_ = new uv_tcp_t;
    uv_tcp_init(core_->loop(), tcp_);
    tcp_->data = this;
    ++open_handles_;
    connect_req_.data = this;
    int rc = uv_tcp_connect(&connect_req_, tcp_, reinterpret_cast<const sockaddr*>(&addr),
                            &Connection::on_connect);
    if (rc == 0) return;
    last_connect_error_ = rc;
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_), &Connection::on_handle_closed);
    tcp_ = nullptr;
  }
  int rc = last_connect_error_ ? last_connect_error_ : UV_EADDRNOTAVAIL;
  std::string msg = "cannot connect to " + core_->authority() + ": " + uv_strerror(rc);
  msg += rc == UV_ECONNREFUSED ? " (is the API server running?)" : "; check the address and the network";
  fail(Error(ErrorKind::kIo, msg, rc));
}

void Connection::on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (c->closing() || status == UV_ECANCELED) return;
  if (status < 0) {
    c->last_connect_error_ = status;
    uv_close(reinterpret_cast<uv_handle_t*>(c->tcp_), &Connection::on_handle_closed);
    c->tcp_ = nullptr;
    c->connect_next();
    return;
  }
  ++c->core_->counters().connections_opened;
  uv_tcp_nodelay(c->tcp_, 1);
  int rc =
      uv_read_start(reinterpret_cast<uv_stream_t*>(c->tcp_), &Connection::on_alloc, &Connection::on_read);
  if (rc < 0) {
    c->fail(Error(ErrorKind::kIo, "cannot read from " + c->core_->authority() + ": " + uv_strerror(rc), rc));
    return;
  }
  if (!c->core_->endpoint().tls) {
    c->became_ready();
    return;
  }
  Error err;
  c->tls_ = TlsSession::create(c->core_->tls()->get(), c->core_->endpoint().host,
                               c->core_->endpoint().tls_opts, &err);
  if (!c->tls_) {
    c->fail(std::move(err));
    return;
  }
  c->state_ = State::kHandshaking;
  c->handshake_step();
}

void Connection::handshake_step() {
  TlsSession::Status s = tls_->handshake();
  if (!flush_tls()) return;
  if (s == TlsSession::Status::kWantRead) return;
  if (s != TlsSession::Status::kOk) {
    fail(Error(ErrorKind::kIo, "TLS handshake with " + core_->authority() + " failed: " + tls_->error()));
    return;
  }
  ++core_->counters().tls_handshakes;
  became_ready();
}

void Connection::became_ready() {
  state_ = State::kReady;
  uv_timer_stop(&timer_);
  core_->on_ready(this);
}

void Connection::make_idle() {
  uv_timer_stop(&timer_);
  auto idle = core_->options().idle_timeout;
  if (idle.count() > 0)
    uv_timer_start(&timer_, &Connection::on_timer, static_cast<uint64_t>(idle.count()), 0);
}

void Connection::assign(Op* op) {
  uv_timer_stop(&timer_);
  op_ = op;
  op->conn = this;
  send_request();
}

void Connection::send_request() {
  Op* op = op_;
  llhttp_init(&parser_, HTTP_RESPONSE, settings());
  parser_.data = this;
  field_open_ = false;
  message_done_ = false;
  keep_alive_ = false;
  interim_ = false;
  request_sent_ = true;
  if (op->stream) core_->arm_stream_timer(op);
  if (tls_) {
    if (tls_->write(op->head) != TlsSession::Status::kOk ||
        (op->body && tls_->write(*op->body) != TlsSession::Status::kOk)) {
      fail(Error(ErrorKind::kIo,
                 "cannot encrypt the request to " + core_->authority() + ": " + tls_->error()));
      return;
    }
    flush_tls();
    return;
  }
  write_owned(op->head, op->body);
}

bool Connection::write_owned(std::string data, std::shared_ptr<const std::string> body) {
  auto* w = new WriteReq;
  w->conn = this;
  w->data = std::move(data);
  w->body = std::move(body);
  w->req.data = w;
  uv_buf_t bufs[2];
  unsigned n = 0;
  bufs[n++] = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (w->body && !w->body->empty()) {
    // libuv only reads from the buffer; the const_cast is for uv_buf_t's non-const base pointer.
    bufs[n++] = uv_buf_init(const_cast<char*>(w->body->data()), static_cast<unsigned>(w->body->size()));
  }
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), bufs, n, &Connection::on_write);
  if (rc < 0) {
    delete w;
    fail(Error(ErrorKind::kIo, "cannot write to " + core_->authority() + ": " + uv_strerror(rc), rc));
    return false;
  }
  return true;
}

bool Connection::flush_tls() {
  std::string out = tls_->take_output();
  if (out.empty()) return true;
  return write_owned(std::move(out), nullptr);
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->conn;
  delete w;
  if (status < 0 && status != UV_ECANCELED && !c->closing()) {
    c->fail(Error(ErrorKind::kIo, "writing to " + c->core_->authority() + " failed: " + uv_strerror(status),
                  status));
  }
}

void Connection::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(read_buffer(), kReadBufferSize);
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing() || nread == 0) return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      c->on_eof();
    } else {
      int rc = static_cast<int>(nread);
      c->fail(
          Error(ErrorKind::kIo, "reading from " + c->core_->authority() + " failed: " + uv_strerror(rc), rc));
    }
    return;
  }
  if (c->op_ && c->op_->stream && c->request_sent_) c->core_->arm_stream_timer(c->op_);
  c->on_bytes(buf->base, static_cast<size_t>(nread));
}

void Connection::on_bytes(const char* data, size_t len) {
  if (!tls_) {
    feed_http(data, len);
    return;
  }
  tls_->feed(data, len);
  if (state_ == State::kHandshaking) {
    handshake_step();
    if (state_ != State::kReady) return;
  }
  while (!closing()) {
    size_t n = 0;
    char* plain = plain_buffer();
    TlsSession::Status s = tls_->read(plain, kReadBufferSize, &n);
    if (s == TlsSession::Status::kOk) {
      feed_http(plain, n);
      continue;
    }
    if (!flush_tls()) return;
    if (s == TlsSession::Status::kWantRead) return;
    if (s == TlsSession::Status::kClosed) {
      on_eof();
      return;
    }
    fail(
        Error(ErrorKind::kIo, "TLS error on the connection to " + core_->authority() + ": " + tls_->error()));
    return;
  }
}

void Connection::feed_http(const char* data, size_t len) {
  if (!op_ || !request_sent_) {
    // A server may only speak when asked (RFC 9112 section 9.3); bytes on an idle connection mean it is
    // out of sync, so it must not be reused.
    vc::log().debug("http: {} sent {} unexpected bytes on an idle connection; closing it", core_->authority(),
                    len);
    fail(Error());
    return;
  }
  op_->got_response_bytes = true;
  llhttp_errno_t rc = llhttp_execute(&parser_, data, len);
  if (closing()) return;  // a stream handler cancelled the request or closed the client
  if (rc == HPE_PAUSED && message_done_) {
    size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    // Bytes after the response we asked for cannot belong to anything: do not reuse this connection.
    if (used < len) keep_alive_ = false;
    complete_message();
    return;
  }
  if (rc != HPE_OK) {
    fail(Error(ErrorKind::kIo, "the response from " + core_->authority() + " to " + op_->describe() +
                                   " is not valid HTTP/1.1 (" + llhttp_errno_name(rc) + ": " +
                                   llhttp_get_error_reason(&parser_) + ")"));
  }
}

void Connection::complete_message() {
  Op* op = op_;
  op_ = nullptr;
  op->conn = nullptr;
  request_sent_ = false;
  ++served_;
  core_->on_response(this, op, keep_alive_);
}

void Connection::on_eof() {
  if (op_ && request_sent_ && llhttp_message_needs_eof(&parser_)) {
    // A response without Content-Length or chunking ends when the server closes (RFC 9112 section 6.3).
    // llhttp_finish runs on_message_complete, whose HPE_PAUSED it returns; message_done_ says it ended.
    llhttp_finish(&parser_);
    if (closing()) return;
    if (message_done_) {
      keep_alive_ = false;
      complete_message();
      return;
    }
  }
  if (!op_) {
    fail(Error());  // The server closed an idle connection: drop it quietly.
    return;
  }
  std::string what = op_->got_response_bytes ? "in the middle of the response to " : "before answering ";
  fail(Error(ErrorKind::kIo,
             "the server at " + core_->authority() + " closed the connection " + what + op_->describe() +
                 "; retry the request",
             UV_EOF));
}

void Connection::fail(Error err) {
  core_->on_failed(this, std::move(err));
}

void Connection::on_timer(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->state_ == State::kReady) {
    c->fail(Error());  // Idle timeout of a pooled connection.
    return;
  }
  const char* phase = c->state_ == State::kResolving     ? " (resolving the name)"
                      : c->state_ == State::kHandshaking ? " (TLS handshake)"
                                                         : "";
  c->fail(Error(ErrorKind::kTimeout, "connecting to " + c->core_->authority() + " timed out after " +
                                         ms(c->core_->options().connect_timeout) + phase +
                                         "; check that the address is reachable"));
}

void Connection::close() {
  if (closing()) return;
  state_ = State::kClosing;
  core_->on_closing(this);
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&gai_));
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::on_handle_closed);
  }
  if (tcp_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(tcp_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_), &Connection::on_handle_closed);
  }
}

void Connection::on_handle_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (h->type == UV_TCP) {
    if (c->tcp_ == reinterpret_cast<uv_tcp_t*>(h)) c->tcp_ = nullptr;
    delete reinterpret_cast<uv_tcp_t*>(h);
  }
  --c->open_handles_;
  c->handle_closed();
}

void Connection::handle_closed() {
  if (closing() && open_handles_ == 0 && !resolving_) core_->on_freed(this);  // deletes this
}

int Connection::on_message_begin(llhttp_t* p) {
  auto* c = static_cast<Connection*>(p->data);
  c->op_->resp.status = 0;
  c->op_->resp.headers.clear();
  c->field_open_ = false;
  return 0;
}

int Connection::on_header_field(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Connection*>(p->data);
  auto& hs = c->op_->resp.headers;
  // llhttp may deliver a field in pieces (split across reads); a new header starts after a completed field.
  if (!c->field_open_) hs.emplace_back();
  c->field_open_ = true;
  hs.back().name.append(at, len);
  return 0;
}

int Connection::on_header_field_complete(llhttp_t* p) {
  // An empty value produces no on_header_value call, so the field's end, not the value, closes the header.
  static_cast<Connection*>(p->data)->field_open_ = false;
  return 0;
}

int Connection::on_header_value(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Connection*>(p->data);
  c->op_->resp.headers.back().value.append(at, len);
  return 0;
}

int Connection::on_headers_complete(llhttp_t* p) {
  auto* c = static_cast<Connection*>(p->data);
  Op* op = c->op_;
  int status = llhttp_get_status_code(p);
  op->resp.status = status;
  // 1xx answers are interim (RFC 9110 section 15.2); the real response follows on the same connection.
  c->interim_ = status >= 100 && status < 200 && status != 101;
  if (c->interim_) return 0;
  // HEAD, 204 and 304 responses never have a body, whatever Content-Length says (RFC 9110 section 6.4.1).
  bool bodiless = op->method == "HEAD" || status == 204 || status == 304;
  if (!bodiless && !op->stream && (p->flags & F_CONTENT_LENGTH)) {
    op->resp.body.reserve(static_cast<size_t>(std::min<uint64_t>(p->content_length, kMaxReserve)));
  }
  if (op->stream && op->sh.on_head) {
    op->sh.on_head(op->resp);
    if (c->closing() || op->finished) return -1;
  }
  return bodiless ? 1 : 0;
}

int Connection::on_body(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Connection*>(p->data);
  Op* op = c->op_;
  if (!op->stream) {
    op->resp.body.append(at, len);
    return 0;
  }
  if (op->sh.on_data) {
    op->sh.on_data(std::string_view(at, len));
    if (c->closing() || op->finished) return -1;
  }
  return 0;
}

int Connection::on_message_complete(llhttp_t* p) {
  auto* c = static_cast<Connection*>(p->data);
  if (c->interim_) {
    c->interim_ = false;
    return 0;
  }
  c->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  c->message_done_ = true;
  // Pausing hands control back to feed_http, which finishes the request outside the parser.
  return HPE_PAUSED;
}

// ---------------------------------------------------------------------------------------------------------
// ClientCore

ClientCore::ClientCore(uv_loop_t* loop, Endpoint ep, ClientOptions opts)
    : loop_(loop), ep_(std::move(ep)), opts_(opts) {
  if (opts_.max_connections == 0) opts_.max_connections = 1;
  bool v6 = ep_.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + ep_.host + "]" : ep_.host;
  authority_ = host + ":" + std::to_string(ep_.port);
  bool default_port = ep_.port == (ep_.tls ? 443 : 80);
  host_header_ = default_port ? host : authority_;
  if (ep_.tls) {
    tls_ = TlsContext::create(ep_.tls_opts, &tls_error_);
    if (!tls_) tls_error_.message = "cannot set up TLS for " + authority_ + ": " + tls_error_.message;
  }
}

ClientCore::~ClientCore() = default;

bool ClientCore::has_open_handles() const {
  return defer_open_ || !conns_.empty() || live_ops_ > 0;
}

Error ClientCore::build_head(Op* op, const Request& req) const {
  if (req.method.empty() || has_crlf(req.method) || req.method.find(' ') != std::string::npos) {
    return Error(ErrorKind::kInvalidArgument, "the HTTP method \"" + req.method + "\" is not a valid token");
  }
  if (req.target.empty() || (req.target[0] != '/' && req.target != "*") || has_crlf(req.target) ||
      req.target.find(' ') != std::string::npos) {
    return Error(ErrorKind::kInvalidArgument,
                 "the request target \"" + req.target + "\" must start with '/' and contain no spaces");
  }
  auto has = [&](std::string_view name) {
    for (const auto& h : req.headers)
      if (ieq(h.name, name)) return true;
    return false;
  };
  std::string& out = op->head;
  out.reserve(256);
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  if (!has("Host")) out.append("Host: ").append(host_header_).append("\r\n");
  for (const auto& h : default_headers_) {
    if (!has(h.name)) out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  for (const auto& h : req.headers) {
    if (h.name.empty() || has_crlf(h.name) || has_crlf(h.value) || h.name.find(':') != std::string::npos) {
      return Error(ErrorKind::kInvalidArgument,
                   "the request header \"" + h.name + "\" has an invalid name or a line break in its value");
    }
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  bool body_method = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
  if ((!req.body.empty() || body_method) && !has("Content-Length") && !has("Transfer-Encoding")) {
    out.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
  }
  out.append("\r\n");
  return Error();
}

uint64_t ClientCore::submit(Request req, Callback cb, StreamHandlers sh, bool stream) {
  ++st_.requests;
  auto* op = new Op;
  op->core = this;
  op->id = next_id_++;
  op->stream = stream;
  op->cb = std::move(cb);
  op->sh = std::move(sh);
  op->timeout = req.timeout;
  op->method = req.method;
  op->target = req.target;
  ++live_ops_;
  ops_[op->id] = op;
  uv_timer_init(loop_, &op->timer);
  op->timer.data = op;

  Error err = build_head(op, req);
  if (!err && closing_) {
    err = Error(ErrorKind::kCancelled,
                op->describe() + " was not sent because the HTTP client for " + authority_ + " is closed");
  }
  if (!err && ep_.tls && !tls_) err = tls_error_;
  if (err) {
    finish(op, std::move(err));
    return op->id;
  }
  if (!req.body.empty()) op->body = std::make_shared<const std::string>(std::move(req.body));
  if (!stream && op->timeout.count() > 0) {
    uv_timer_start(&op->timer, &ClientCore::on_op_timer, static_cast<uint64_t>(op->timeout.count()), 0);
  }
  op->queued = true;
  (stream ? stream_queue_ : queue_).push_back(op);
  schedule_pump();
  return op->id;
}

void ClientCore::arm_stream_timer(Op* op) {
  if (op->timeout.count() > 0) {
    uv_timer_start(&op->timer, &ClientCore::on_op_timer, static_cast<uint64_t>(op->timeout.count()), 0);
  }
}

void ClientCore::on_op_timer(uv_timer_t* t) {
  auto* op = static_cast<Op*>(t->data);
  ClientCore* core = op->core;
  std::string msg =
      op->stream ? "the stream " + op->describe() + " from " + core->authority_ + " received nothing for " +
                       ms(op->timeout)
                 : op->describe() + " to " + core->authority_ + " did not complete within " + ms(op->timeout);
  msg += "; the server may be overloaded or unreachable";
  core->abort_op(op, Error(ErrorKind::kTimeout, msg));
}

void ClientCore::cancel(uint64_t id) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  Op* op = it->second;
  abort_op(op, Error(ErrorKind::kCancelled, op->describe() + " to " + authority_ + " was cancelled"));
}

void ClientCore::abort_op(Op* op, Error err) {
  if (op->finished) return;
  if (Connection* c = op->conn) {
    op->conn = nullptr;
    c->detach();
    // Once the request is on the wire the response cannot be skipped reliably, so the connection goes.
    // A connection still connecting for this op is kept: it joins the pool when ready.
    if (c->request_sent() || c->dedicated()) c->close();
  }
  finish(op, std::move(err));
  schedule_pump();
}

void ClientCore::finish(Op* op, Error err) {
  if (op->finished) return;
  op->finished = true;
  ops_.erase(op->id);
  if (op->queued) {
    auto& q = op->stream ? stream_queue_ : queue_;
    q.erase(std::find(q.begin(), q.end(), op));
    op->queued = false;
  }
  uv_timer_stop(&op->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&op->timer), &ClientCore::on_op_closed);
  if (op->stream) {
    defer([done = std::move(op->sh.on_done), err = std::move(err)]() mutable {
      if (done) done(std::move(err));
    });
  } else {
    Response resp = err ? Response() : std::move(op->resp);
    defer([cb = std::move(op->cb), err = std::move(err), resp = std::move(resp)]() mutable {
      if (cb) cb(std::move(err), std::move(resp));
    });
  }
  // on_head/on_data stay in the op until it is deleted: finish() may run inside one of them (a handler
  // that cancels), and destroying a std::function while it executes is undefined behaviour.
}

void ClientCore::on_op_closed(uv_handle_t* h) {
  auto* op = static_cast<Op*>(h->data);
  ClientCore* core = op->core;
  delete op;
  --core->live_ops_;
  core->maybe_finish_close();
}

void ClientCore::ensure_defer_timer() {
  if (defer_open_ || defer_closing_) return;
  uv_timer_init(loop_, &defer_timer_);
  defer_timer_.data = this;
  defer_open_ = true;
}

void ClientCore::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  ensure_defer_timer();
  // A zero timeout runs on the next timer phase: after the current call stack, still on the loop thread.
  if (defer_open_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(&defer_timer_))) {
    uv_timer_start(&defer_timer_, &ClientCore::on_defer_timer, 0, 0);
  }
}

void ClientCore::on_defer_timer(uv_timer_t* t) {
  auto* core = static_cast<ClientCore*>(t->data);
  std::deque<std::function<void()>> batch;
  batch.swap(core->deferred_);
  for (auto& fn : batch) fn();
  core->maybe_finish_close();
}

void ClientCore::schedule_pump() {
  if (pump_scheduled_ || closing_) return;
  pump_scheduled_ = true;
  defer([this] {
    pump_scheduled_ = false;
    pump();
  });
}

size_t ClientCore::pooled_live() const {
  size_t n = 0;
  for (Connection* c : conns_)
    if (!c->dedicated() && !c->closing()) ++n;
  return n;
}

Connection* ClientCore::open_connection(bool dedicated, Op* op) {
  auto* c = new Connection(this, dedicated);
  conns_.insert(c);
  if (op) {
    op->queued = false;
    op->conn = c;
    c->set_op(op);
  }
  c->start();
  return c;
}

void ClientCore::pump() {
  if (closing_) return;
  while (!stream_queue_.empty()) {
    Op* op = stream_queue_.front();
    stream_queue_.pop_front();
    open_connection(true, op);
  }
  while (!queue_.empty()) {
    Op* op = queue_.front();
    if (!op->needs_fresh && !idle_.empty()) {
      // The most recently used connection is the least likely to have been closed by the server.
      Connection* c = idle_.back();
      idle_.pop_back();
      queue_.pop_front();
      op->queued = false;
      c->assign(op);
      continue;
    }
    if (pooled_live() >= opts_.max_connections) {
      // A retry needs a fresh connection; make room by retiring the oldest idle one.
      if (!op->needs_fresh || idle_.empty()) break;
      Connection* oldest = idle_.front();
      idle_.erase(idle_.begin());
      oldest->close();
    }
    queue_.pop_front();
    open_connection(false, op);
  }
}

void ClientCore::make_idle(Connection* c) {
  idle_.push_back(c);
  c->make_idle();
}

void ClientCore::remove_idle(Connection* c) {
  auto it = std::find(idle_.begin(), idle_.end(), c);
  if (it != idle_.end()) idle_.erase(it);
}

void ClientCore::on_ready(Connection* c) {
  if (Op* op = c->op()) {
    c->assign(op);
    return;
  }
  if (c->dedicated() || closing_) {
    c->close();
    return;
  }
  make_idle(c);
  schedule_pump();
}

void ClientCore::on_response(Connection* c, Op* op, bool keep_alive) {
  finish(op, Error());
  if (keep_alive && !c->dedicated() && !closing_) {
    make_idle(c);
  } else {
    c->close();
  }
  schedule_pump();
}

void ClientCore::on_failed(Connection* c, Error err) {
  Op* op = c->op();
  bool reused = c->served() > 0;
  c->detach();
  c->close();
  if (op && !op->finished) {
    op->conn = nullptr;
    // A reused connection that the server closed while idle fails before any response byte arrives; the
    // request never reached the application, so an idempotent method may safely go again, once.
    bool retry = err.kind == ErrorKind::kIo && reused && !op->got_response_bytes && !op->stream &&
                 !op->retried && is_idempotent(op->method) && !closing_;
    if (retry) {
      vc::log().debug("http: retrying {} on a fresh connection to {}: {}", op->describe(), authority_,
                      err.message);
      op->retried = true;
      op->needs_fresh = true;
      op->got_response_bytes = false;
      op->resp = Response();
      ++st_.retries;
      op->queued = true;
      queue_.push_front(op);
    } else {
      if (!err) err = Error(ErrorKind::kIo, "the connection to " + authority_ + " closed unexpectedly");
      finish(op, std::move(err));
    }
  }
  schedule_pump();
}

void ClientCore::on_closing(Connection* c) {
  remove_idle(c);
}

void ClientCore::on_freed(Connection* c) {
  conns_.erase(c);
  delete c;
  maybe_finish_close();
}

void ClientCore::set_default_header(std::string name, std::string value) {
  for (auto& h : default_headers_) {
    if (ieq(h.name, name)) {
      h.value = std::move(value);
      return;
    }
  }
  default_headers_.push_back(Header{std::move(name), std::move(value)});
}

void ClientCore::close(std::function<void()> done) {
  closing_ = true;
  if (done) close_done_.push_back(std::move(done));
  ensure_defer_timer();
  std::vector<Op*> open;
  open.reserve(ops_.size());
  for (auto& [id, op] : ops_) open.push_back(op);
  std::sort(open.begin(), open.end(), [](Op* a, Op* b) { return a->id < b->id; });
  for (Op* op : open) {
    abort_op(op, Error(ErrorKind::kCancelled, op->describe() + " was cancelled because the HTTP client for " +
                                                  authority_ + " is closing"));
  }
  std::vector<Connection*> all(conns_.begin(), conns_.end());
  for (Connection* c : all) c->close();
  maybe_finish_close();
}

void ClientCore::maybe_finish_close() {
  if (!closing_ || !conns_.empty() || live_ops_ > 0 || !deferred_.empty()) return;
  if (!defer_open_ || defer_closing_) return;
  defer_closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&defer_timer_), &ClientCore::on_defer_closed);
}

void ClientCore::on_defer_closed(uv_handle_t* h) {
  auto* core = static_cast<ClientCore*>(h->data);
  core->defer_open_ = false;
  core->defer_closing_ = false;
  if (!core->deferred_.empty()) {
    // Something was queued while the timer closed (a send() after close()): deliver it first.
    core->ensure_defer_timer();
    uv_timer_start(&core->defer_timer_, &ClientCore::on_defer_timer, 0, 0);
    return;
  }
  std::vector<std::function<void()>> done;
  done.swap(core->close_done_);
  // The callbacks may destroy the Client (and so this core): touch nothing after them.
  for (auto& fn : done) fn();
}

Client::Stats ClientCore::stats() const {
  Client::Stats s = st_;
  s.open_connections = 0;
  for (Connection* c : conns_)
    if (!c->closing()) ++s.open_connections;
  s.queued = queue_.size() + stream_queue_.size();
  return s;
}

}  // namespace detail

Client::Client(uv_loop_t* loop, Endpoint ep, ClientOptions opts)
    : core_(std::make_unique<detail::ClientCore>(loop, std::move(ep), opts)) {}

Client::~Client() {
  if (core_ && core_->has_open_handles()) {
    // libuv still holds pointers into the core; freeing it would turn the next loop turn into a
    // use-after-free. Leaking it keeps the process sound, and the message names the fix.
    vc::log().critical(
        "http: the client for {} was destroyed with open handles and is leaked; call close() and wait for "
        "its callback before destroying it",
        core_->authority());
    (void)core_.release();
  }
}

uint64_t Client::send(Request req, Callback cb) {
  return core_->submit(std::move(req), std::move(cb), {}, false);
}

uint64_t Client::stream(Request req, StreamHandlers h) {
  return core_->submit(std::move(req), nullptr, std::move(h), true);
}

void Client::cancel(uint64_t id) {
  core_->cancel(id);
}

void Client::set_default_header(std::string name, std::string value) {
  core_->set_default_header(std::move(name), std::move(value));
}

void Client::close(std::function<void()> done) {
  core_->close(std::move(done));
}

Client::Stats Client::stats() const {
  return core_->stats();
}

}  // namespace vc::http
