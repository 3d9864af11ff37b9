// The server on a real loop with real sockets on 127.0.0.1: UDP and TCP, EDNS0, truncation and the TCP
// retry, what is not a query, forwarding to an upstream the test runs on the same loop (another Server,
// or a hand-made responder), the cache, timeouts. Every test closes every handle and checks that the
// loop closes cleanly.
#include <doctest/doctest.h>
#include <uv.h>

#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/forwarder.hpp"
#include "dns/server.hpp"
#include "dns/zone.hpp"

using namespace vc::dns;

namespace {

void close_now(uv_handle_t* h);

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    // Whatever a test left open fails here.
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  // Runs the loop until pred() holds or `ms` pass.
  bool until(const std::function<bool()>& pred, uint64_t ms = 3000) {
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 5, 5);
    uint64_t end = uv_now(&loop) + ms;
    while (!pred() && uv_now(&loop) < end) uv_run(&loop, UV_RUN_ONCE);
    close_now(reinterpret_cast<uv_handle_t*>(&tick));
    return pred();
  }
  // Runs the loop for `ms` (to show that nothing comes).
  void idle(uint64_t ms) {
    until([] { return false; }, ms);
  }
};

sockaddr_storage loopback(int port) {
  sockaddr_storage a{};
  uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&a));
  return a;
}

Name N(const std::string& t) {
  Name n;
  REQUIRE(Name::from_text(t, &n));
  return n;
}

std::string query(const std::string& name, uint16_t type, uint16_t id = 7, bool edns = false,
                  uint8_t version = 0) {
  Message m;
  m.header.id = id;
  m.header.rd = true;
  m.questions.push_back({N(name), type, kClassIN});
  m.edns.present = edns;
  m.edns.udp_size = 4096;
  m.edns.version = version;
  return serialize(m);
}

Message parsed(const std::string& wire) {
  Message m;
  REQUIRE(parse(wire, &m) == ParseStatus::kOk);
  return m;
}

// Closes a handle that lives on the stack and runs the loop until its close callback has run, so that
// its memory may go.
void close_now(uv_handle_t* h) {
  if (uv_is_closing(h)) return;
  bool done = false;
  h->data = &done;
  uv_close(h, [](uv_handle_t* x) { *static_cast<bool*>(x->data) = true; });
  while (!done) uv_run(h->loop, UV_RUN_NOWAIT);
}

struct UdpClient {
  uv_udp_t h{};
  std::vector<std::string> got;
  explicit UdpClient(uv_loop_t* loop) {
    uv_udp_init(loop, &h);
    h.data = this;
    sockaddr_storage a = loopback(0);
    uv_udp_bind(&h, reinterpret_cast<sockaddr*>(&a), 0);
    uv_udp_recv_start(
        &h,
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          b->base = new char[65536];
          b->len = 65536;
        },
        [](uv_udp_t* u, ssize_t n, const uv_buf_t* b, const sockaddr* from, unsigned) {
          if (n > 0 && from)
            static_cast<UdpClient*>(u->data)->got.emplace_back(b->base, static_cast<size_t>(n));
          delete[] b->base;
        });
  }
  ~UdpClient() { close_now(reinterpret_cast<uv_handle_t*>(&h)); }
  void send(int port, const std::string& bytes) {
    sockaddr_storage a = loopback(port);
    uv_buf_t b = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    REQUIRE(uv_udp_try_send(&h, &b, 1, reinterpret_cast<sockaddr*>(&a)) == static_cast<int>(bytes.size()));
  }
};

struct TcpClient {
  uv_tcp_t h{};
  uv_connect_t req{};
  bool connected = false, eof = false;
  std::string in;
  std::vector<std::string> frames;
  TcpClient(uv_loop_t* loop, int port) {
    uv_tcp_init(loop, &h);
    h.data = this;
    req.data = this;
    sockaddr_storage a = loopback(port);
    uv_tcp_connect(&req, &h, reinterpret_cast<sockaddr*>(&a), [](uv_connect_t* r, int status) {
      auto* self = static_cast<TcpClient*>(r->data);
      self->connected = status == 0;
      if (status != 0) return;
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&self->h),
          [](uv_handle_t*, size_t, uv_buf_t* b) {
            b->base = new char[65536];
            b->len = 65536;
          },
          [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
            auto* c = static_cast<TcpClient*>(s->data);
            if (n < 0) c->eof = true;
            if (n > 0) c->in.append(b->base, static_cast<size_t>(n));
            delete[] b->base;
            while (c->in.size() >= 2) {
              size_t len = get16(reinterpret_cast<const unsigned char*>(c->in.data()));
              if (c->in.size() < 2 + len) break;
              c->frames.push_back(c->in.substr(2, len));
              c->in.erase(0, 2 + len);
            }
          });
    });
  }
  ~TcpClient() { close_now(reinterpret_cast<uv_handle_t*>(&h)); }
  void write(const std::string& bytes) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    REQUIRE(uv_try_write(reinterpret_cast<uv_stream_t*>(&h), &b, 1) == static_cast<int>(bytes.size()));
  }
  static std::string frame(const std::string& msg) {
    std::string f;
    put16(&f, static_cast<uint16_t>(msg.size()));
    return f + msg;
  }
};

std::string svc(const std::string& ns, const std::string& name, const std::string& spec) {
  return R"({"metadata":{"namespace":")" + ns + R"(","name":")" + name + R"("},"spec":)" + spec + "}";
}

void fill(Zone* z, int headless_endpoints = 200) {
  z->upsert_service(
      svc("default", "web", R"({"clusterIP":"10.96.0.10","ports":[{"name":"http","port":80}]})"));
  z->upsert_service(svc("default", "big", R"({"clusterIP":"None"})"));
  std::string addrs;
  for (int i = 0; i < headless_endpoints; i++)
    addrs += std::string(i ? "," : "") + R"({"ip":"10.3.0.)" + std::to_string(i % 250 + 1) + R"("})";
  z->upsert_endpoints(R"({"metadata":{"namespace":"default","name":"big"},"subsets":[{"addresses":[)" +
                      addrs + "]}]}");
}

// A server with its zone and, optionally, a forwarder; closes everything at the end of the test.
struct Dns {
  Loop* loop;
  Zone zone;
  std::unique_ptr<Forwarder> fwd;
  std::unique_ptr<Server> server;
  Dns(Loop* l, const char* domain, std::vector<int> upstream_ports = {}, ServerOptions so = {},
      ForwarderOptions fo = {})
      : loop(l), zone(domain) {
    if (!upstream_ports.empty()) {
      for (int p : upstream_ports) {
        Upstream u;
        REQUIRE_FALSE(parse_upstream("127.0.0.1:" + std::to_string(p), &u));
        fo.upstreams.push_back(u);
      }
      fwd = std::make_unique<Forwarder>(&l->loop, fo);
    }
    server = std::make_unique<Server>(&l->loop, &zone, fwd.get(), so);
    REQUIRE_FALSE(server->listen("127.0.0.1:0"));
  }
  ~Dns() {
    bool s = false, f = !fwd;
    server->close([&s] { s = true; });
    if (fwd) fwd->close([&f] { f = true; });
    CHECK(loop->until([&] { return s && f; }));
  }
  int port() const { return server->port(); }
};

// Asks one question over UDP and returns the answer (fails the test when none comes).
Message ask_udp(Loop& l, int port, const std::string& q) {
  UdpClient c(&l.loop);
  c.send(port, q);
  REQUIRE(l.until([&] { return !c.got.empty(); }));
  return parsed(c.got[0]);
}

}  // namespace

TEST_CASE("UDP: answers from the zone, authoritative, with the question echoed") {
  Loop l;
  {
    Dns d(&l, "cluster.local");
    fill(&d.zone);
    Message a = ask_udp(l, d.port(), query("Web.Default.svc.cluster.local", kTypeA, 0x4242));
    CHECK(a.header.id == 0x4242);
    CHECK(a.header.qr);
    CHECK(a.header.aa);
    CHECK(a.header.rd);
    CHECK_FALSE(a.header.ra);  // no upstream: no recursion
    CHECK(a.header.rcode == kNoError);
    REQUIRE(a.questions.size() == 1);
    CHECK(a.questions[0].name.text() == "Web.Default.svc.cluster.local.");
    REQUIRE(a.answers.size() == 1);
    CHECK(a.answers[0].rdata == std::string("\x0a\x60\x00\x0a", 4));
    CHECK_FALSE(a.edns.present);  // no OPT asked, none given
    a = ask_udp(l, d.port(), query("nope.default.svc.cluster.local", kTypeA));
    CHECK(a.header.rcode == kNXDomain);
    REQUIRE(a.authority.size() == 1);
    CHECK(a.authority[0].type == kTypeSOA);
    // Outside the zone without upstreams: REFUSED, and nothing was sent anywhere.
    a = ask_udp(l, d.port(), query("www.example.com", kTypeA));
    CHECK(a.header.rcode == kRefused);
    CHECK(d.server->stats().forwarded == 0);
    std::string metrics = d.server->render_metrics("vcluster_dns_");
    CHECK(metrics.find("vcluster_dns_queries_total{transport=\"udp\",type=\"A\"} 3") != std::string::npos);
    CHECK(metrics.find("vcluster_dns_responses_total{rcode=\"NXDOMAIN\"} 1") != std::string::npos);
    CHECK(metrics.find("vcluster_dns_responses_total{rcode=\"REFUSED\"} 1") != std::string::npos);
  }
}

TEST_CASE("a zone not synced yet answers its names SERVFAIL, not NXDOMAIN; outside names are unaffected") {
  Loop l;
  {
    Dns d(&l, "cluster.local");
    fill(&d.zone);
    d.zone.set_synced(false);
    Message a = ask_udp(l, d.port(), query("nope.default.svc.cluster.local", kTypeA, 0x5151));
    CHECK(a.header.id == 0x5151);
    CHECK(a.header.rcode == kServFail);
    CHECK_FALSE(a.header.aa);
    CHECK(a.answers.empty());
    CHECK(a.authority.empty());
    a = ask_udp(l, d.port(), query("web.default.svc.cluster.local", kTypeA));
    CHECK(a.header.rcode == kServFail);
    a = ask_udp(l, d.port(), query("www.example.com", kTypeA));
    CHECK(a.header.rcode == kRefused);  // no upstream: as before
    d.zone.set_synced(true);
    a = ask_udp(l, d.port(), query("nope.default.svc.cluster.local", kTypeA));
    CHECK(a.header.rcode == kNXDomain);
    a = ask_udp(l, d.port(), query("web.default.svc.cluster.local", kTypeA));
    CHECK(a.header.rcode == kNoError);
    CHECK(a.header.aa);
  }
}

TEST_CASE("EDNS0: a 1232-byte payload offered; TC when the answer does not fit; the TCP retry gets it all") {
  Loop l;
  {
    Dns d(&l, "cluster.local");
    fill(&d.zone, 200);
    UdpClient c(&l.loop);
    c.send(d.port(), query("big.default.svc.cluster.local", kTypeA, 1, false));
    c.send(d.port(), query("big.default.svc.cluster.local", kTypeA, 2, true));
    REQUIRE(l.until([&] { return c.got.size() == 2; }));
    Message plain = parsed(c.got[0]), edns = parsed(c.got[1]);
    CHECK(c.got[0].size() <= 512);
    CHECK(plain.header.tc);
    CHECK(c.got[1].size() <= 1232);
    CHECK(c.got[1].size() > 512);
    CHECK(edns.header.tc);
    CHECK(edns.edns.present);
    CHECK(edns.edns.udp_size == 1232);
    CHECK(edns.answers.size() > plain.answers.size());
    // dig and the stub resolvers ask again over TCP.
    TcpClient t(&l.loop, d.port());
    REQUIRE(l.until([&] { return t.connected; }));
    t.write(TcpClient::frame(query("big.default.svc.cluster.local", kTypeA, 3, true)));
    REQUIRE(l.until([&] { return t.frames.size() == 1; }));
    Message full = parsed(t.frames[0]);
    CHECK_FALSE(full.header.tc);
    CHECK(full.answers.size() == 200);
    CHECK(d.server->stats().truncated == 2);
    // EDNS version 1 is answered BADVERS (RFC 6891 §6.1.3), with an OPT record.
    Message bad = ask_udp(l, d.port(), query("web.default.svc.cluster.local", kTypeA, 4, true, 1));
    CHECK(bad.header.rcode == kBadVers);
    CHECK(bad.edns.present);
  }
}

TEST_CASE("what is not a query is dropped or answered FORMERR/NOTIMP, and the server keeps answering") {
  Loop l;
  {
    Dns d(&l, "cluster.local");
    fill(&d.zone);
    UdpClient c(&l.loop);
    c.send(d.port(), "\x01\x02\x03");  // shorter than a header: dropped
    std::string response = query("web.default.svc.cluster.local", kTypeA, 9);
    response[2] = static_cast<char>(response[2] | 0x80);  // QR set: a response, dropped (no reflection)
    c.send(d.port(), response);
    l.idle(100);
    CHECK(c.got.empty());
    CHECK(d.server->stats().dropped == 2);
    // A header followed by garbage: FORMERR to that ID.
    c.send(d.port(), std::string("\x55\x66\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f"
                                 "abc",
                                 16));
    REQUIRE(l.until([&] { return c.got.size() == 1; }));
    Message f = parsed(c.got[0]);
    CHECK(f.header.id == 0x5566);
    CHECK(f.header.rcode == kFormErr);
    // Two questions: FORMERR; opcode 2 (STATUS): NOTIMP; AXFR: NOTIMP.
    Message two;
    two.header.id = 10;
    two.questions = {{N("a.cluster.local"), kTypeA, kClassIN}, {N("b.cluster.local"), kTypeA, kClassIN}};
    c.send(d.port(), serialize(two));
    std::string status = query("web.default.svc.cluster.local", kTypeA, 11);
    status[2] = static_cast<char>(2 << 3);
    c.send(d.port(), status);
    c.send(d.port(), query("cluster.local", kTypeAXFR, 12));
    REQUIRE(l.until([&] { return c.got.size() == 4; }));
    CHECK(parsed(c.got[1]).header.rcode == kFormErr);
    CHECK(parsed(c.got[2]).header.rcode == kNotImp);
    CHECK(parsed(c.got[3]).header.rcode == kNotImp);
    // Still answering.
    Message ok = ask_udp(l, d.port(), query("web.default.svc.cluster.local", kTypeA));
    CHECK(ok.answers.size() == 1);
  }
}

TEST_CASE("TCP: several queries per connection, split writes, a 0-length frame skipped, idle close") {
  Loop l;
  {
    ServerOptions so;
    so.tcp_idle_timeout = std::chrono::milliseconds(300);
    Dns d(&l, "cluster.local", {}, so);
    fill(&d.zone);
    TcpClient t(&l.loop, d.port());
    REQUIRE(l.until([&] { return t.connected; }));
    std::string q1 = TcpClient::frame(query("web.default.svc.cluster.local", kTypeA, 1));
    std::string q2 = TcpClient::frame(query("_http._tcp.web.default.svc.cluster.local", kTypeSRV, 2));
    t.write(q1 + std::string("\0\0", 2) + q2);
    REQUIRE(l.until([&] { return t.frames.size() == 2; }));
    CHECK(parsed(t.frames[0]).header.id == 1);
    CHECK(parsed(t.frames[1]).header.id == 2);
    CHECK(parsed(t.frames[1]).answers.size() == 1);
    CHECK(d.server->stats().dropped == 1);
    // One query in three writes.
    std::string q3 = TcpClient::frame(query("web.default.svc.cluster.local", kTypeA, 3));
    t.write(q3.substr(0, 1));
    l.idle(20);
    t.write(q3.substr(1, 10));
    l.idle(20);
    t.write(q3.substr(11));
    REQUIRE(l.until([&] { return t.frames.size() == 3; }));
    CHECK(parsed(t.frames[2]).header.id == 3);
    // A malformed query over TCP gets FORMERR on the same connection.
    t.write(TcpClient::frame(std::string("\x00\x09\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f", 13)));
    REQUIRE(l.until([&] { return t.frames.size() == 4; }));
    CHECK(parsed(t.frames[3]).header.rcode == kFormErr);
    CHECK(d.server->tcp_connections() == 1);
    // Then the connection idles and the server closes it.
    REQUIRE(l.until([&] { return t.eof; }, 2000));
    CHECK(d.server->tcp_connections() == 0);
  }
}

TEST_CASE("forwarding: names outside the zone go to the upstream; answers are cached; ExternalName chased") {
  Loop l;
  {
    Dns up(&l, "upstream.test");
    fill(&up.zone);
    ForwarderOptions fo;
    fo.attempt_timeout = std::chrono::milliseconds(500);
    Dns d(&l, "cluster.local", {up.port()}, {}, fo);
    d.zone.upsert_service(
        svc("default", "ext", R"({"type":"ExternalName","externalName":"web.default.svc.upstream.test"})"));
    Message a = ask_udp(l, d.port(), query("WEB.default.svc.upstream.test", kTypeA, 77));
    CHECK(a.header.id == 77);
    CHECK(a.header.ra);
    CHECK_FALSE(a.header.aa);
    CHECK(a.header.rcode == kNoError);
    CHECK(a.questions[0].name.text() == "WEB.default.svc.upstream.test.");
    REQUIRE(a.answers.size() == 1);
    CHECK(a.answers[0].rdata == std::string("\x0a\x60\x00\x0a", 4));
    CHECK(up.server->stats().queries[0][0] == 1);
    // Again: from the cache, the upstream is not asked.
    a = ask_udp(l, d.port(), query("web.default.svc.upstream.test", kTypeA, 78));
    CHECK(a.answers.size() == 1);
    CHECK(d.fwd->stats().cache_hits == 1);
    CHECK(up.server->stats().queries[0][0] == 1);
    // A negative answer is cached too (for the SOA's 5 s).
    a = ask_udp(l, d.port(), query("nope.default.svc.upstream.test", kTypeA));
    CHECK(a.header.rcode == kNXDomain);
    CHECK(a.authority.size() == 1);
    a = ask_udp(l, d.port(), query("nope.default.svc.upstream.test", kTypeA));
    CHECK(a.header.rcode == kNXDomain);
    CHECK(d.fwd->stats().cache_hits == 2);
    CHECK(d.fwd->cache_size() == 2);
    // An ExternalName pointing outside: our CNAME, then the upstream's A.
    a = ask_udp(l, d.port(), query("ext.default.svc.cluster.local", kTypeA));
    CHECK(a.header.aa);
    REQUIRE(a.answers.size() == 2);
    CHECK(a.answers[0].type == kTypeCNAME);
    CHECK(a.answers[1].type == kTypeA);
    // Two clients asking the same new question at once: one upstream query.
    uint64_t before = up.server->stats().queries[0][1];
    UdpClient c(&l.loop);
    c.send(d.port(), query("web.default.svc.upstream.test", kTypeAAAA, 1));
    c.send(d.port(), query("web.default.svc.upstream.test", kTypeAAAA, 2));
    REQUIRE(l.until([&] { return c.got.size() == 2; }));
    CHECK(up.server->stats().queries[0][1] == before + 1);
    CHECK(d.fwd->stats().coalesced == 1);
  }
}

TEST_CASE("forwarding: a truncated upstream answer is asked again over TCP") {
  Loop l;
  {
    Dns up(&l, "upstream.test");
    fill(&up.zone, 200);
    Dns d(&l, "cluster.local", {up.port()});
    TcpClient t(&l.loop, d.port());
    REQUIRE(l.until([&] { return t.connected; }));
    t.write(TcpClient::frame(query("big.default.svc.upstream.test", kTypeA, 5)));
    REQUIRE(l.until([&] { return t.frames.size() == 1; }));
    Message a = parsed(t.frames[0]);
    CHECK_FALSE(a.header.tc);
    CHECK(a.answers.size() == 200);
    CHECK(d.fwd->stats().tcp_retries == 1);
    CHECK(up.server->stats().queries[1][0] == 1);  // the upstream saw it over TCP
    // And over UDP the client gets the same answer cut to its size, with TC.
    Message u = ask_udp(l, d.port(), query("big.default.svc.upstream.test", kTypeA, 6, true));
    CHECK(u.header.tc);
    CHECK(u.answers.size() < 200);
  }
}

namespace {

// A hand-made upstream: answers every query with the given transformation of the right answer (or not at
// all), counting what it receives.
struct FakeUpstream {
  uv_udp_t h{};
  int received = 0;
  std::function<std::string(const Message& q)> reply;
  explicit FakeUpstream(uv_loop_t* loop) {
    uv_udp_init(loop, &h);
    h.data = this;
    sockaddr_storage a = loopback(0);
    uv_udp_bind(&h, reinterpret_cast<sockaddr*>(&a), 0);
    uv_udp_recv_start(
        &h,
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          b->base = new char[65536];
          b->len = 65536;
        },
        [](uv_udp_t* u, ssize_t n, const uv_buf_t* b, const sockaddr* from, unsigned) {
          auto* self = static_cast<FakeUpstream*>(u->data);
          if (n > 0 && from) {
            self->received++;
            Message q;
            if (parse(std::string_view(b->base, static_cast<size_t>(n)), &q) == ParseStatus::kOk &&
                self->reply) {
              std::string out = self->reply(q);
              if (!out.empty()) {
                uv_buf_t ob = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
                uv_udp_try_send(u, &ob, 1, from);
              }
            }
          }
          delete[] b->base;
        });
  }
  ~FakeUpstream() { close_now(reinterpret_cast<uv_handle_t*>(&h)); }
  int port() {
    sockaddr_storage a{};
    int len = sizeof a;
    uv_udp_getsockname(&h, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(reinterpret_cast<sockaddr_in&>(a).sin_port);
  }
};

std::string answer_to(const Message& q, uint16_t id_delta, const char* qname = nullptr) {
  Message r;
  r.header = q.header;
  r.header.id = static_cast<uint16_t>(q.header.id + id_delta);
  r.header.qr = true;
  r.questions = q.questions;
  if (qname) r.questions[0].name = N(qname);
  Record a;
  a.name = q.questions[0].name;
  a.type = kTypeA;
  a.ttl = 60;
  a.rdata = std::string("\x01\x02\x03\x04", 4);
  r.answers.push_back(a);
  return serialize(r);
}

}  // namespace

TEST_CASE(
    "forwarding: an upstream that does not answer, or answers with the wrong ID or question: SERVFAIL") {
  Loop l;
  {
    FakeUpstream silent(&l.loop);
    FakeUpstream forger(&l.loop);
    forger.reply = [](const Message& q) { return answer_to(q, 1); };
    FakeUpstream wrong_q(&l.loop);
    wrong_q.reply = [](const Message& q) { return answer_to(q, 0, "other.example"); };
    for (FakeUpstream* up : {&silent, &forger, &wrong_q}) {
      ForwarderOptions fo;
      fo.attempt_timeout = std::chrono::milliseconds(100);
      fo.attempts = 2;
      Dns d(&l, "cluster.local", {up->port()}, {}, fo);
      uint64_t start = uv_now(&l.loop);
      Message a = ask_udp(l, d.port(), query("www.example.com", kTypeA));
      CHECK(a.header.rcode == kServFail);
      CHECK(uv_now(&l.loop) - start >= 200);  // both attempts waited their timeout
      CHECK(d.fwd->stats().failures == 1);
      CHECK(d.fwd->stats().timeouts == 2);
      CHECK(d.fwd->cache_size() == 0);  // failures are not cached
    }
    CHECK(silent.received == 2);
    CHECK(forger.received == 2);
  }
}

TEST_CASE("forwarding: the second upstream is tried when the first fails; a right answer is used") {
  Loop l;
  {
    FakeUpstream silent(&l.loop);
    FakeUpstream good(&l.loop);
    good.reply = [](const Message& q) { return answer_to(q, 0); };
    ForwarderOptions fo;
    fo.attempt_timeout = std::chrono::milliseconds(100);
    Dns d(&l, "cluster.local", {silent.port(), good.port()}, {}, fo);
    Message a = ask_udp(l, d.port(), query("www.example.com", kTypeA));
    CHECK(a.header.rcode == kNoError);
    REQUIRE(a.answers.size() == 1);
    CHECK(a.answers[0].ttl == 60);
    CHECK(silent.received + good.received >= 1);
    CHECK(good.received == 1);
  }
}

TEST_CASE("upstream parsing and resolv.conf") {
  Upstream u;
  CHECK_FALSE(parse_upstream("127.0.0.1", &u));
  CHECK(u.text == "127.0.0.1:53");
  CHECK_FALSE(parse_upstream("127.0.0.1:5353", &u));
  CHECK(u.text == "127.0.0.1:5353");
  CHECK_FALSE(parse_upstream("[::1]:5300", &u));
  CHECK(u.text == "[::1]:5300");
  CHECK_FALSE(parse_upstream("::1", &u));
  CHECK(parse_upstream("localhost:53", &u).message.find("'localhost:53'") != std::string::npos);
  CHECK(parse_upstream("1.2.3.4:99999", &u));
  CHECK(parse_upstream("1.2.3.4:", &u));
  char path[] = "/tmp/dns-resolv-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string text =
      "# comment\nsearch default.svc.cluster.local\nnameserver 127.0.0.53\nnameserver ::1\n"
      "nameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n";
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  std::vector<Upstream> ups;
  CHECK_FALSE(read_resolv_conf(path, &ups));
  unlink(path);
  REQUIRE(ups.size() == 2);
  CHECK(ups[0].text == "127.0.0.53:53");
  CHECK(ups[1].text == "[::1]:53");
  CHECK(read_resolv_conf("/nonexistent/resolv.conf", &ups).message.find("/nonexistent/resolv.conf") !=
        std::string::npos);
}

TEST_CASE("listen: a bad address is one sentence; a taken port says so") {
  Loop l;
  {
    Zone z("cluster.local");
    Server s(&l.loop, &z, nullptr);
    CHECK(s.listen("nonsense").message.find("'nonsense' must be IP:PORT") != std::string::npos);
    CHECK(s.listen("127.0.0.1:99999"));
    Dns d(&l, "cluster.local");
    Server t(&l.loop, &z, nullptr);
    vc::Error e = t.listen("127.0.0.1:" + std::to_string(d.port()));
    CHECK(e.message.find("cannot serve DNS on 127.0.0.1:") != std::string::npos);
    bool closed = false;
    t.close([&] { closed = true; });
    s.close(nullptr);
    CHECK(l.until([&] { return closed; }));
  }
}
