#include "dns/forwarder.hpp"

#include <netinet/in.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vc::dns {

// One question on its way upstream, and everyone waiting for its answer.
struct Forwarder::Pending {
  Forwarder* fw = nullptr;
  std::string key;
  Question q;
  std::vector<Callback> waiters;
  uint16_t id = 0;
  int attempt = 0;
  size_t upstream = 0;
  std::string query;
  uv_udp_t* udp = nullptr;  // the current attempt's socket
  uv_timer_t* timer = nullptr;
  TcpConn* tcp = nullptr;
  std::unique_ptr<Message> truncated;  // the UDP answer, kept in case the TCP retry fails
};

// The TCP retry of a truncated answer. Requests cancelled by uv_close call back before the close
// callback, with `owner` already cleared; the close callback frees it.
struct Forwarder::TcpConn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  Forwarder* fw = nullptr;
  Pending* owner = nullptr;
  std::string out, in;
};

namespace {

uint64_t now_ms(uv_loop_t* loop) {
  return uv_now(loop);
}

}  // namespace

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  return false;
}

Error parse_upstream(std::string_view text, Upstream* out) {
  std::string t(text);
  std::string host = t;
  int port = 53;
  auto bad = [&] {
    return Error(ErrorKind::kInvalidArgument,
                 "upstream resolver '" + t + "' is not IP, IP:PORT or [IPv6]:PORT (e.g. 127.0.0.1:5353)");
  };
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string::npos) return bad();
    host = t.substr(1, close - 1);
    if (close + 1 < t.size()) {
      if (t[close + 1] != ':') return bad();
      std::string p = t.substr(close + 2);
      if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) return bad();
      port = std::atoi(p.c_str());
    }
  } else if (std::count(t.begin(), t.end(), ':') == 1) {
    size_t colon = t.find(':');
    host = t.substr(0, colon);
    std::string p = t.substr(colon + 1);
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) return bad();
    port = std::atoi(p.c_str());
  }
  if (port <= 0 || port > 65535) return bad();
  out->addr = {};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&out->addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out->addr)) != 0)
    return bad();
  out->text = out->addr.ss_family == AF_INET6 ? "[" + host + "]:" + std::to_string(port)
                                              : host + ":" + std::to_string(port);
  return {};
}

Error read_resolv_conf(const std::string& path, std::vector<Upstream>* out) {
  std::ifstream in(path);
  if (!in)
    return Error(ErrorKind::kIo, "cannot read resolv.conf '" + path +
                                     "' (name another file, or the upstream resolvers themselves)");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    // A scoped IPv6 address (fe80::1%eth0) needs an interface this server does not track: skipped.
    if (value.find('%') != std::string::npos) continue;
    Upstream u;
    std::string spelled = value.find(':') != std::string::npos ? "[" + value + "]" : value;
    if (parse_upstream(spelled, &u)) continue;
    out->push_back(u);
  }
  return {};
}

Forwarder::Forwarder(uv_loop_t* loop, ForwarderOptions opts) : loop_(loop), opts_(std::move(opts)) {
  if (opts_.attempts < 1) opts_.attempts = 1;
}

Forwarder::~Forwarder() {
  // Every handle was closed by close(); what is left are the records of questions given up.
  for (auto& [k, p] : pending_) delete p;
}

std::string Forwarder::cache_key(const Question& q) {
  std::string k = q.name.lower().wire;
  put16(&k, q.type);
  put16(&k, q.cls);
  return k;
}

bool Forwarder::from_cache(const std::string& key, const Callback& cb) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return false;
  CacheEntry& e = *it->second;
  uint64_t age_ms = now_ms(loop_) - e.stored_ms;
  if (age_ms >= static_cast<uint64_t>(e.ttl) * 1000) {
    lru_.erase(it->second);
    cache_.erase(it);
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  auto age = static_cast<uint32_t>(age_ms / 1000);
  Message aged = e.msg;
  for (auto* section : {&aged.answers, &aged.authority, &aged.additional})
    for (auto& r : *section) r.ttl = r.ttl > age ? r.ttl - age : 0;
  stats_.cache_hits++;
  cb(&aged);
  return true;
}

void Forwarder::store(const std::string& key, const Message& m) {
  if (opts_.cache_entries == 0 || m.header.tc) return;
  uint32_t ttl = 0;
  uint16_t rcode = m.header.rcode;
  if (rcode == kNoError && !m.answers.empty()) {
    ttl = opts_.max_ttl;
    for (const auto& r : m.answers) ttl = std::min(ttl, r.ttl);
  } else if (rcode == kNXDomain || rcode == kNoError) {
    // RFC 2308 §5: a negative answer is cached for the SOA's TTL or its MINIMUM, whichever is less.
    for (const auto& r : m.authority)
      if (r.type == kTypeSOA) ttl = std::min({r.ttl, soa_minimum(r.rdata, 0), opts_.max_ttl});
  }
  if (ttl == 0) return;
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    lru_.erase(it->second);
    cache_.erase(it);
  }
  while (lru_.size() >= opts_.cache_entries) {
    cache_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(CacheEntry{key, m, now_ms(loop_), ttl});
  lru_.front().msg.edns = Edns{};
  cache_.emplace(lru_.front().key, lru_.begin());
}

void Forwarder::resolve(const Question& q, Callback cb) {
  stats_.questions++;
  std::string key = cache_key(q);
  if (from_cache(key, cb)) return;
  if (auto it = pending_.find(key); it != pending_.end()) {
    stats_.coalesced++;
    it->second->waiters.push_back(std::move(cb));
    return;
  }
  if (closing_ || opts_.upstreams.empty() || pending_.size() >= opts_.max_pending) {
    stats_.failures++;
    cb(nullptr);
    return;
  }
  auto* p = new Pending;
  p->fw = this;
  p->key = key;
  p->q = q;
  p->waiters.push_back(std::move(cb));
  p->upstream = next_upstream_++ % opts_.upstreams.size();
  pending_.emplace(key, p);
  p->timer = new uv_timer_t;
  uv_timer_init(loop_, p->timer);
  p->timer->data = p;
  open_handles_++;
  send_attempt(p);
}

void Forwarder::send_attempt(Pending* p) {
  const Upstream& up = opts_.upstreams[p->upstream];
  // A fresh ID for every attempt, from the system's random source.
  p->id = static_cast<uint16_t>(arc4random_uniform(65536));
  Message m;
  m.header.id = p->id;
  m.header.rd = true;
  m.questions.push_back(p->q);
  m.edns.present = true;
  m.edns.udp_size = kEdnsUdpSize;
  serialize(m, kMaxMessage, &p->query);

  p->udp = new uv_udp_t;
  uv_udp_init(loop_, p->udp);
  p->udp->data = p;
  open_handles_++;
  sockaddr_storage any{};
  if (up.addr.ss_family == AF_INET6) {
    uv_ip6_addr("::", 0, reinterpret_cast<sockaddr_in6*>(&any));
  } else {
    uv_ip4_addr("0.0.0.0", 0, reinterpret_cast<sockaddr_in*>(&any));
  }
  uv_buf_t buf = uv_buf_init(p->query.data(), static_cast<unsigned>(p->query.size()));
  int rc = uv_udp_bind(p->udp, reinterpret_cast<const sockaddr*>(&any), 0);
  if (rc == 0)
    rc = uv_udp_recv_start(
        p->udp,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* fw = static_cast<Pending*>(h->data)->fw;
          *b = uv_buf_init(fw->recv_buf_.data(), static_cast<unsigned>(fw->recv_buf_.size()));
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* b, const sockaddr* from, unsigned) {
          auto* pend = static_cast<Pending*>(h->data);
          if (n <= 0 || !from) return;  // nothing read, or an ICMP error: the timer decides
          pend->fw->on_udp_answer(pend, std::string_view(b->base, static_cast<size_t>(n)), from);
        });
  if (rc == 0) {
    int sent = uv_udp_try_send(p->udp, &buf, 1, reinterpret_cast<const sockaddr*>(&up.addr));
    rc = sent < 0 ? sent : 0;
  }
  stats_.sent++;
  uv_timer_start(
      p->timer,
      [](uv_timer_t* t) {
        auto* pend = static_cast<Pending*>(t->data);
        pend->fw->stats_.timeouts++;
        pend->fw->attempt_failed(pend);
      },
      rc == 0 ? static_cast<uint64_t>(opts_.attempt_timeout.count()) : 0, 0);
}

void Forwarder::close_udp(Pending* p) {
  if (!p->udp) return;
  uv_close(reinterpret_cast<uv_handle_t*>(p->udp), [](uv_handle_t* h) {
    // The handle's data is not the question any more (it may be gone): the forwarder was stored in it.
    auto* fw = static_cast<Forwarder*>(h->data);
    delete reinterpret_cast<uv_udp_t*>(h);
    fw->handle_closed();
  });
  p->udp->data = this;
  p->udp = nullptr;
}

void Forwarder::on_udp_answer(Pending* p, std::string_view data, const sockaddr* from) {
  sockaddr_storage src{};
  std::memcpy(&src, from, from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  if (!same_address(src, opts_.upstreams[p->upstream].addr)) return;
  Message m;
  if (parse(data, &m) != ParseStatus::kOk || !m.header.qr || m.header.id != p->id ||
      m.questions.size() != 1 || !m.questions[0].name.equals(p->q.name) || m.questions[0].type != p->q.type ||
      m.questions[0].cls != p->q.cls)
    return;  // not the answer to this question: keep waiting
  if (m.header.tc) {
    p->truncated = std::make_unique<Message>(std::move(m));
    start_tcp(p);
    return;
  }
  uint16_t rc = m.header.rcode;
  if ((rc == kServFail || rc == kRefused || rc == kNotImp) && p->attempt + 1 < opts_.attempts &&
      opts_.upstreams.size() > 1) {
    // Another upstream may know better.
    attempt_failed(p);
    return;
  }
  store(p->key, m);
  finish(p, &m);
}

void Forwarder::start_tcp(Pending* p) {
  stats_.tcp_retries++;
  close_udp(p);
  auto* c = new TcpConn;
  c->fw = this;
  c->owner = p;
  p->tcp = c;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  open_handles_++;
  put16(&c->out, static_cast<uint16_t>(p->query.size()));
  c->out += p->query;
  uv_timer_stop(p->timer);
  uv_timer_start(
      p->timer,
      [](uv_timer_t* t) {
        auto* pend = static_cast<Pending*>(t->data);
        pend->fw->stats_.timeouts++;
        pend->fw->attempt_failed(pend);
      },
      static_cast<uint64_t>(opts_.attempt_timeout.count()), 0);
  c->connect.data = c;
  int rc = uv_tcp_connect(
      &c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&opts_.upstreams[p->upstream].addr),
      [](uv_connect_t* req, int status) {
        auto* conn = static_cast<TcpConn*>(req->data);
        if (!conn->owner) return;
        if (status != 0) return conn->owner->fw->attempt_failed(conn->owner);
        uv_buf_t b = uv_buf_init(conn->out.data(), static_cast<unsigned>(conn->out.size()));
        conn->write.data = conn;
        uv_write(&conn->write, reinterpret_cast<uv_stream_t*>(&conn->tcp), &b, 1, [](uv_write_t* w, int st) {
          auto* cc = static_cast<TcpConn*>(w->data);
          if (cc->owner && st != 0) cc->owner->fw->attempt_failed(cc->owner);
        });
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&conn->tcp),
            [](uv_handle_t* h, size_t, uv_buf_t* b2) {
              auto* fw = static_cast<TcpConn*>(h->data)->fw;
              *b2 = uv_buf_init(fw->recv_buf_.data(), static_cast<unsigned>(fw->recv_buf_.size()));
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b2) {
              auto* cc = static_cast<TcpConn*>(s->data);
              if (!cc->owner) return;
              if (n < 0) return cc->owner->fw->attempt_failed(cc->owner);
              cc->in.append(b2->base, static_cast<size_t>(n));
              if (cc->in.size() < 2) return;
              size_t len = get16(reinterpret_cast<const unsigned char*>(cc->in.data()));
              if (cc->in.size() < 2 + len) return;
              cc->owner->fw->on_tcp_answer(cc->owner, std::string_view(cc->in).substr(2, len));
            });
      });
  if (rc != 0) attempt_failed(p);
}

void Forwarder::on_tcp_answer(Pending* p, std::string_view data) {
  Message m;
  if (parse(data, &m) != ParseStatus::kOk || !m.header.qr || m.header.id != p->id ||
      m.questions.size() != 1 || !m.questions[0].name.equals(p->q.name) || m.questions[0].type != p->q.type)
    return attempt_failed(p);
  store(p->key, m);
  finish(p, &m);
}

void Forwarder::attempt_failed(Pending* p) {
  if (p->truncated) {
    // The TCP retry failed: the truncated answer is still an answer (the client sees TC).
    std::unique_ptr<Message> m = std::move(p->truncated);
    return finish(p, m.get());
  }
  close_udp(p);
  if (++p->attempt >= opts_.attempts) {
    stats_.failures++;
    return finish(p, nullptr);
  }
  p->upstream = (p->upstream + 1) % opts_.upstreams.size();
  uv_timer_stop(p->timer);
  send_attempt(p);
}

void Forwarder::finish(Pending* p, const Message* answer) {
  pending_.erase(p->key);
  close_udp(p);
  if (p->tcp) {
    p->tcp->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->tcp->tcp), [](uv_handle_t* h) {
      auto* c = static_cast<TcpConn*>(h->data);
      Forwarder* fw = c->fw;
      delete c;
      fw->handle_closed();
    });
    p->tcp = nullptr;
  }
  uv_timer_stop(p->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(p->timer), [](uv_handle_t* h) {
    auto* fw = static_cast<Forwarder*>(h->data);
    delete reinterpret_cast<uv_timer_t*>(h);
    fw->handle_closed();
  });
  p->timer->data = this;
  p->timer = nullptr;
  std::vector<Callback> waiters = std::move(p->waiters);
  delete p;
  for (auto& cb : waiters) cb(answer);
}

void Forwarder::handle_closed() {
  if (--open_handles_ == 0 && closing_ && closed_) {
    auto done = std::move(closed_);
    closed_ = nullptr;
    done();
  }
}

void Forwarder::close(std::function<void()> done) {
  closing_ = true;
  closed_ = std::move(done);
  std::vector<Pending*> all;
  for (auto& [k, p] : pending_) all.push_back(p);
  for (Pending* p : all) {
    p->waiters.clear();
    p->truncated.reset();
    finish(p, nullptr);
  }
  if (open_handles_ == 0 && closed_) {
    auto d = std::move(closed_);
    closed_ = nullptr;
    d();
  }
}

}  // namespace vc::dns
