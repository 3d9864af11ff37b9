#include "dns/server.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace vc::dns {
namespace {

constexpr size_t kDgramSlice = 64 * 1024;  // libuv's recvmmsg slice (UV__UDP_DGRAM_MAXSIZE)
constexpr size_t kDgramSlices = 16;

Error parse_listen(const std::string& address, sockaddr_storage* out) {
  std::string host;
  std::string port_text;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close != std::string::npos && close + 1 < address.size() && address[close + 1] == ':') {
      host = address.substr(1, close - 1);
      port_text = address.substr(close + 2);
    }
  } else if (size_t colon = address.rfind(':'); colon != std::string::npos) {
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
  }
  auto bad = [&] {
    return Error(ErrorKind::kInvalidArgument,
                 "DNS address '" + address + "' must be IP:PORT or [IPv6]:PORT, e.g. 127.0.0.1:1053");
  };
  if (host.empty() || port_text.empty() || port_text.find_first_not_of("0123456789") != std::string::npos ||
      port_text.size() > 5)
    return bad();
  int port = std::atoi(port_text.c_str());
  if (port > 65535) return bad();
  *out = {};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) != 0)
    return bad();
  return {};
}

int port_of(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(a).sin6_port
                                       : reinterpret_cast<const sockaddr_in&>(a).sin_port);
}

void set_port(sockaddr_storage* a, int port) {
  if (a->ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(a)->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in*>(a)->sin_port = htons(static_cast<uint16_t>(port));
  }
}

}  // namespace

struct Server::Conn {
  uv_tcp_t tcp;
  uv_timer_t idle;
  Server* server = nullptr;
  uint64_t id = 0;
  std::string in;
  size_t queued = 0;  // answer bytes written and not yet sent
  int open = 0;       // handles not closed yet (tcp, idle)
  bool closing = false;
};

Server::Server(uv_loop_t* loop, const Zone* zone, Forwarder* forwarder, ServerOptions opts)
    : loop_(loop), zone_(zone), forwarder_(forwarder), opts_(opts) {}

Server::~Server() {
  *alive_ = false;
}

Error Server::listen(const std::string& address) {
  sockaddr_storage addr{};
  if (Error e = parse_listen(address, &addr)) return e;
  bool any_port = port_of(addr) == 0;
  int rc = 0;
  // With port 0 the kernel picks a UDP port, which may be taken for TCP: a few tries.
  for (int attempt = 0; attempt < (any_port ? 8 : 1); attempt++) {
    if (any_port) set_port(&addr, 0);
    udp_ = new uv_udp_t;
    uv_udp_init_ex(loop_, udp_, static_cast<unsigned>(addr.ss_family) | UV_UDP_RECVMMSG);
    udp_->data = this;
    rc = uv_udp_bind(udp_, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) {
      sockaddr_storage bound{};
      int len = sizeof bound;
      uv_udp_getsockname(udp_, reinterpret_cast<sockaddr*>(&bound), &len);
      set_port(&addr, port_of(bound));
      tcp_ = new uv_tcp_t;
      uv_tcp_init(loop_, tcp_);
      tcp_->data = this;
      rc = uv_tcp_bind(tcp_, reinterpret_cast<const sockaddr*>(&addr), 0);
      if (rc == 0)
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), 128, [](uv_stream_t* s, int status) {
          auto* self = static_cast<Server*>(s->data);
          if (status < 0) return;
          auto* c = new Conn;
          c->server = self;
          uv_tcp_init(self->loop_, &c->tcp);
          uv_timer_init(self->loop_, &c->idle);
          c->tcp.data = c->idle.data = c;
          c->open = 2;
          self->open_handles_ += 2;
          c->id = self->next_conn_++;
          self->conns_.emplace(c->id, c);
          if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return self->close_conn(c);
          if (self->conns_.size() > self->opts_.max_tcp_connections) {
            self->stats_.tcp_refused++;
            return self->close_conn(c);
          }
          self->stats_.tcp_accepted++;
          uv_timer_start(
              &c->idle,
              [](uv_timer_t* t) {
                static_cast<Conn*>(t->data)->server->close_conn(static_cast<Conn*>(t->data));
              },
              static_cast<uint64_t>(self->opts_.tcp_idle_timeout.count()), 0);
          uv_read_start(
              reinterpret_cast<uv_stream_t*>(&c->tcp),
              [](uv_handle_t* h, size_t, uv_buf_t* b) {
                auto* srv = static_cast<Conn*>(h->data)->server;
                *b = uv_buf_init(srv->recv_buf_.get(), kDgramSlice);
              },
              [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
                auto* conn = static_cast<Conn*>(st->data);
                if (n < 0) return conn->server->close_conn(conn);
                if (n > 0) conn->server->on_tcp_data(conn, b->base, static_cast<size_t>(n));
              });
        });
      if (rc == 0) break;
      uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      tcp_ = nullptr;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(udp_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
    udp_ = nullptr;
  }
  if (rc != 0)
    return Error(
        ErrorKind::kIo,
        "cannot serve DNS on " + address + ": " + uv_strerror(rc) + " (choose another address or port)", rc);
  port_ = port_of(addr);
  open_handles_ += 2;
  recv_buf_.reset(new char[kDgramSlice * kDgramSlices]);
  // A deeper socket buffer rides out bursts while the loop does other work (the kernel caps it).
  int rcvbuf = 4 * 1024 * 1024;
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(udp_), &rcvbuf);
  uv_udp_recv_start(
      udp_,
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* self = static_cast<Server*>(h->data);
        *b = uv_buf_init(self->recv_buf_.get(), static_cast<unsigned>(kDgramSlice * kDgramSlices));
      },
      [](uv_udp_t* h, ssize_t n, const uv_buf_t* b, const sockaddr* from, unsigned) {
        // n == 0 without a sender: nothing read (or recvmmsg's end-of-batch call; the buffer is ours).
        if (n <= 0 || !from) return;
        auto* self = static_cast<Server*>(h->data);
        Client c;
        std::memcpy(&c.addr, from, from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
        self->process(std::string_view(b->base, static_cast<size_t>(n)), c);
      });
  return {};
}

void Server::count_query(bool tcp, uint16_t type) {
  auto it = std::find(kCountedTypes.begin(), kCountedTypes.end(), type);
  stats_.queries[tcp ? 1 : 0][static_cast<size_t>(it - kCountedTypes.begin())]++;
}

void Server::process(std::string_view query, const Client& c) {
  Message q;
  ParseStatus st = parse(query, &q);
  if (st == ParseStatus::kTooShort || q.header.qr) {
    stats_.dropped++;
    return;
  }
  Message r;
  r.header.id = q.header.id;
  r.header.qr = true;
  r.header.opcode = q.header.opcode;
  r.header.rd = q.header.rd;
  r.header.cd = q.header.cd;
  r.header.ra = forwarder_ != nullptr;
  if (st == ParseStatus::kMalformed) {
    count_query(c.tcp, 0);
    r.header.rcode = kFormErr;
    return respond(r, kClassicUdpSize, c);
  }
  // The answer's size limit: what the client said it takes over UDP, within what this server offers.
  size_t max_size = c.tcp            ? kMaxMessage
                    : q.edns.present ? std::clamp<size_t>(q.edns.udp_size, kClassicUdpSize, kEdnsUdpSize)
                                     : kClassicUdpSize;
  if (q.edns.present) {
    r.edns.present = true;
    r.edns.udp_size = kEdnsUdpSize;
  }
  r.questions = q.questions;
  count_query(c.tcp, q.questions.size() == 1 ? q.questions[0].type : 0);
  if (q.header.opcode != 0) {
    r.header.rcode = kNotImp;
    return respond(r, max_size, c);
  }
  if (q.questions.size() != 1) {
    r.header.rcode = kFormErr;
    return respond(r, max_size, c);
  }
  if (q.edns.present && q.edns.version > 0) {
    r.header.rcode = kBadVers;
    r.questions.clear();
    return respond(r, max_size, c);
  }
  const Question& question = q.questions[0];
  if (question.type == kTypeAXFR || question.type == kTypeIXFR || question.type == kTypeOPT) {
    r.header.rcode = question.type == kTypeOPT ? kFormErr : kNotImp;
    return respond(r, max_size, c);
  }
  Zone::Where where = zone_->classify(question.name);
  if (where != Zone::Where::kOutside) {
    if (!zone_->synced()) {
      // Not every Service is known yet: no authoritative answer (the client tries again, or another server).
      r.header.rcode = kServFail;
      return respond(r, max_size, c);
    }
    ZoneAnswer za;
    zone_->answer(question, max_size, &za);
    r.header.aa = true;
    r.header.rcode = za.rcode;
    r.header.tc = za.truncated;
    r.answers = std::move(za.answers);
    r.authority = std::move(za.authority);
    r.additional = std::move(za.additional);
    if (!za.chase || !forwarder_) return respond(r, max_size, c);
    // An ExternalName: the CNAME is ours, its target's records the upstream's.
    stats_.forwarded++;
    std::weak_ptr<bool> alive = alive_;
    forwarder_->resolve(za.chase_question,
                        [this, alive, r = std::move(r), max_size, c](const Message* ans) mutable {
                          if (alive.expired()) return;
                          if (ans) {
                            for (const auto& rec : ans->answers) r.answers.push_back(rec);
                            if (ans->header.rcode == kNXDomain) {
                              r.header.rcode = kNXDomain;
                              r.authority = ans->authority;
                            }
                          }
                          respond(r, max_size, c);
                        });
    return;
  }
  if (!forwarder_) {
    r.header.rcode = kRefused;
    return respond(r, max_size, c);
  }
  stats_.forwarded++;
  std::weak_ptr<bool> alive = alive_;
  forwarder_->resolve(question, [this, alive, r = std::move(r), max_size, c](const Message* ans) mutable {
    if (alive.expired()) return;
    if (!ans) {
      r.header.rcode = kServFail;
    } else {
      r.header.rcode = ans->header.rcode;
      r.header.tc = ans->header.tc;
      r.answers = ans->answers;
      r.authority = ans->authority;
      r.additional = ans->additional;
    }
    respond(r, max_size, c);
  });
}

void Server::respond(Message& r, size_t max_size, const Client& c) {
  serialize(r, max_size, &out_);
  // The rcode as sent (12 bits) and whether the answer was cut, read back from what was written.
  auto it = std::find(kCountedRcodes.begin(), kCountedRcodes.end(), r.header.rcode);
  stats_.responses[static_cast<size_t>(it - kCountedRcodes.begin())]++;
  if (out_.size() >= 4 && (static_cast<unsigned char>(out_[2]) & 0x02)) stats_.truncated++;
  send(c, out_);
}

void Server::send(const Client& c, const std::string& bytes) {
  if (!c.tcp) {
    if (!udp_) return;
    uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    int rc = uv_udp_try_send(udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&c.addr));
    if (rc != UV_EAGAIN) return;
    // The socket's send buffer is full: queue a copy.
    struct Send {
      uv_udp_send_t req;
      std::string data;
    };
    auto* s = new Send{{}, bytes};
    buf = uv_buf_init(s->data.data(), static_cast<unsigned>(s->data.size()));
    s->req.data = s;
    if (uv_udp_send(&s->req, udp_, &buf, 1, reinterpret_cast<const sockaddr*>(&c.addr),
                    [](uv_udp_send_t* req, int) { delete static_cast<Send*>(req->data); }) != 0)
      delete s;
    return;
  }
  auto it = conns_.find(c.conn);
  if (it == conns_.end()) return;  // the client went away while its answer was upstream
  Conn* conn = it->second;
  if (conn->closing) return;
  struct Write {
    uv_write_t req;
    std::string data;
    std::shared_ptr<bool> alive;
    uint64_t conn;
    Server* server;
  };
  auto* w = new Write{{}, {}, alive_, c.conn, this};
  put16(&w->data, static_cast<uint16_t>(bytes.size()));
  w->data += bytes;
  conn->queued += w->data.size();
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&conn->tcp), &buf, 1, [](uv_write_t* req, int) {
    auto* wr = static_cast<Write*>(req->data);
    if (*wr->alive) {
      auto found = wr->server->conns_.find(wr->conn);
      if (found != wr->server->conns_.end()) found->second->queued -= wr->data.size();
    }
    delete wr;
  });
  if (rc != 0) {
    delete w;
    return close_conn(conn);
  }
  // A client that sends queries and never reads the answers is not worth the memory.
  if (conn->queued > opts_.max_tcp_output) close_conn(conn);
}

void Server::on_tcp_data(Conn* c, const char* data, size_t n) {
  c->in.append(data, n);
  size_t pos = 0;
  while (!c->closing && c->in.size() - pos >= 2) {
    size_t len = get16(reinterpret_cast<const unsigned char*>(c->in.data() + pos));
    if (len == 0) {
      // A 0-length frame holds no query and no ID to answer to: skipped.
      stats_.dropped++;
      pos += 2;
      continue;
    }
    if (c->in.size() - pos < 2 + len) break;
    uv_timer_start(
        &c->idle,
        [](uv_timer_t* t) { static_cast<Conn*>(t->data)->server->close_conn(static_cast<Conn*>(t->data)); },
        static_cast<uint64_t>(opts_.tcp_idle_timeout.count()), 0);
    Client cl;
    cl.tcp = true;
    cl.conn = c->id;
    process(std::string_view(c->in).substr(pos + 2, len), cl);
    pos += 2 + len;
  }
  if (!c->closing) c->in.erase(0, pos);
}

void Server::close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  conns_.erase(c->id);
  uv_timer_stop(&c->idle);
  auto closed = [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    Server* srv = conn->server;
    if (--conn->open == 0) delete conn;
    srv->handle_closed();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->idle), closed);
}

void Server::handle_closed() {
  if (--open_handles_ == 0 && closed_) {
    auto done = std::move(closed_);
    closed_ = nullptr;
    done();
  }
}

void Server::close(std::function<void()> done) {
  closed_ = std::move(done);
  std::vector<Conn*> open;
  for (auto& [id, c] : conns_) open.push_back(c);
  for (Conn* c : open) close_conn(c);
  auto closed = [](uv_handle_t* h) {
    auto* self = static_cast<Server*>(h->data);
    if (h->type == UV_UDP) {
      delete reinterpret_cast<uv_udp_t*>(h);
    } else {
      delete reinterpret_cast<uv_tcp_t*>(h);
    }
    self->handle_closed();
  };
  if (udp_) {
    uv_udp_recv_stop(udp_);
    uv_close(reinterpret_cast<uv_handle_t*>(udp_), closed);
    udp_ = nullptr;
  }
  if (tcp_) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_), closed);
    tcp_ = nullptr;
  }
  if (open_handles_ == 0 && closed_) {
    auto d = std::move(closed_);
    closed_ = nullptr;
    d();
  }
}

std::string Server::render_metrics(std::string_view prefix) const {
  std::string p(prefix), out;
  auto line = [&out](const std::string& s) { out += s + "\n"; };
  line("# HELP " + p + "queries_total DNS queries received, by transport and question type.");
  line("# TYPE " + p + "queries_total counter");
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i <= kCountedTypes.size(); i++) {
      if (stats_.queries[t][i] == 0) continue;
      std::string type = i < kCountedTypes.size() ? type_name(kCountedTypes[i]) : "other";
      line(p + "queries_total{transport=\"" + (t ? "tcp" : "udp") + "\",type=\"" + type + "\"} " +
           std::to_string(stats_.queries[t][i]));
    }
  line("# HELP " + p + "responses_total DNS answers sent, by response code.");
  line("# TYPE " + p + "responses_total counter");
  for (size_t i = 0; i <= kCountedRcodes.size(); i++) {
    std::string rc = i < kCountedRcodes.size() ? rcode_name(kCountedRcodes[i]) : "other";
    line(p + "responses_total{rcode=\"" + rc + "\"} " + std::to_string(stats_.responses[i]));
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    line("# HELP " + p + name + " " + help);
    line("# TYPE " + p + name + " counter");
    line(p + name + " " + std::to_string(v));
  };
  auto gauge = [&](const char* name, const char* help, uint64_t v) {
    line("# HELP " + p + name + " " + help);
    line("# TYPE " + p + name + " gauge");
    line(p + name + " " + std::to_string(v));
  };
  counter("truncated_total", "Answers sent with the TC bit (the client retries over TCP).", stats_.truncated);
  counter("dropped_total", "Datagrams and TCP frames that were not queries (dropped unanswered).",
          stats_.dropped);
  counter("forwarded_total", "Questions for names outside the cluster handed to the upstream resolvers.",
          stats_.forwarded);
  counter("tcp_connections_total", "TCP connections accepted.", stats_.tcp_accepted);
  gauge("tcp_connections", "TCP connections open.", conns_.size());
  gauge("services", "Services in the zone.", zone_->services());
  gauge("endpoints", "Endpoints objects in the zone.", zone_->endpoints());
  if (forwarder_) {
    const auto& f = forwarder_->stats();
    counter("upstream_cache_hits_total", "Forwarded questions answered from the cache.", f.cache_hits);
    counter("upstream_queries_total", "Queries sent to the upstream resolvers (UDP attempts).", f.sent);
    counter("upstream_timeouts_total", "Upstream attempts that timed out.", f.timeouts);
    counter("upstream_failures_total", "Forwarded questions answered SERVFAIL (every attempt failed).",
            f.failures);
    gauge("upstream_cache_entries", "Answers in the upstream cache.", forwarder_->cache_size());
  }
  return out;
}

}  // namespace vc::dns
