// The wire format: names, round trips of every record kind, compression, truncation, EDNS0, and input
// that is not a DNS message.
#include <doctest/doctest.h>

#include <random>

#include "dns/wire.hpp"

using namespace vc::dns;

namespace {

Name N(const char* t) {
  Name n;
  REQUIRE(Name::from_text(t, &n));
  return n;
}

Record rec(const char* owner, uint16_t type, std::string rdata, uint32_t ttl = 30) {
  Record r;
  r.name = N(owner);
  r.type = type;
  r.ttl = ttl;
  r.rdata = std::move(rdata);
  return r;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

}  // namespace

TEST_CASE("names: text and wire forms, escapes, limits") {
  Name n;
  CHECK(Name::from_text("www.Example.com", &n));
  CHECK(n.wire == std::string("\3www\7Example\3com\0", 17));
  CHECK(n.text() == "www.Example.com.");
  CHECK(Name::from_text("www.example.com.", &n));
  CHECK(n.text() == "www.example.com.");
  CHECK(Name::from_text(".", &n));
  CHECK(n.is_root());
  CHECK(n.text() == ".");
  CHECK(Name::from_text("a\\.b.c", &n));
  CHECK(n.wire == std::string("\3a.b\1c\0", 7));
  CHECK(n.text() == "a\\.b.c.");
  CHECK(Name::from_text("\\065b", &n));
  CHECK(n.text() == "Ab.");
  CHECK(Name::from_text("x\\000", &n));
  CHECK(n.text() == "x\\000.");
  // Empty labels, over-long labels and names are refused.
  CHECK_FALSE(Name::from_text("", &n));
  CHECK_FALSE(Name::from_text("a..b", &n));
  CHECK_FALSE(Name::from_text(".a", &n));
  CHECK_FALSE(Name::from_text(std::string(64, 'a'), &n));
  CHECK(Name::from_text(std::string(63, 'a'), &n));
  std::string long_name;
  for (int i = 0; i < 64; i++) long_name += "abc.";
  CHECK_FALSE(Name::from_text(long_name, &n));
  CHECK_FALSE(Name::from_text("bad\\", &n));
  CHECK_FALSE(Name::from_text("bad\\99", &n));
  CHECK_FALSE(Name::from_text("bad\\256", &n));
}

TEST_CASE("names compare without case, on label boundaries") {
  CHECK(N("WEB.Default.svc.cluster.local").equals(N("web.default.svc.CLUSTER.local")));
  CHECK_FALSE(N("web.default").equals(N("web.defaults")));
  CHECK(N("web.default.svc.cluster.local").is_subdomain_of(N("Cluster.Local")));
  CHECK(N("cluster.local").is_subdomain_of(N("cluster.local")));
  CHECK_FALSE(N("xcluster.local").is_subdomain_of(N("cluster.local")));
  CHECK_FALSE(N("local").is_subdomain_of(N("cluster.local")));
  CHECK(N("a.b").lower().wire == N("A.B").lower().wire);
  std::string_view labels[4];
  CHECK(N("a.bc.def").labels(labels, 4) == 3);
  CHECK(labels[1] == "bc");
  CHECK(N("a.b.c.d.e").labels(labels, 4) == -1);
}

TEST_CASE("a message with every record kind survives serialize and parse") {
  Message m;
  m.header.id = 0xbeef;
  m.header.qr = m.header.aa = m.header.rd = m.header.ra = true;
  m.header.rcode = kNXDomain;
  m.questions.push_back({N("web.default.svc.cluster.local"), kTypeANY, kClassIN});
  m.answers.push_back(rec("web.default.svc.cluster.local", kTypeA, bytes({10, 96, 0, 1})));
  m.answers.push_back(rec("web.default.svc.cluster.local", kTypeAAAA,
                          std::string("\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16)));
  m.answers.push_back(rec("ext.default.svc.cluster.local", kTypeCNAME, rdata_name(N("www.example.com"))));
  m.answers.push_back(
      rec("1.0.96.10.in-addr.arpa", kTypePTR, rdata_name(N("web.default.svc.cluster.local"))));
  m.answers.push_back(rec("_http._tcp.web.default.svc.cluster.local", kTypeSRV,
                          rdata_srv(0, 100, 80, N("web.default.svc.cluster.local"))));
  m.answers.push_back(rec("dns-version.cluster.local", kTypeTXT, rdata_txt("1.0.1")));
  m.answers.push_back(rec("cluster.local", kTypeNS, rdata_name(N("ns.dns.cluster.local"))));
  m.answers.push_back(rec("cluster.local", kTypeMX, bytes({0, 10}) + N("mail.cluster.local").wire));
  m.answers.push_back(rec("cluster.local", 99, "opaque"));  // an unknown type's data is kept as it is
  m.authority.push_back(
      rec("cluster.local", kTypeSOA,
          rdata_soa(N("ns.dns.cluster.local"), N("hostmaster.cluster.local"), 7, 7200, 1800, 86400, 5), 5));
  m.additional.push_back(rec("web.default.svc.cluster.local", kTypeA, bytes({10, 96, 0, 2})));
  m.edns.present = true;
  m.edns.udp_size = 1232;
  m.edns.do_bit = true;

  std::string wire = serialize(m);
  Message back;
  REQUIRE(parse(wire, &back) == ParseStatus::kOk);
  CHECK(back.header.id == 0xbeef);
  CHECK(back.header.qr);
  CHECK(back.header.aa);
  CHECK(back.header.rd);
  CHECK(back.header.ra);
  CHECK_FALSE(back.header.tc);
  CHECK(back.header.rcode == kNXDomain);
  REQUIRE(back.questions.size() == 1);
  CHECK(back.questions[0].name.wire == m.questions[0].name.wire);
  CHECK(back.questions[0].type == kTypeANY);
  REQUIRE(back.answers.size() == m.answers.size());
  for (size_t i = 0; i < m.answers.size(); i++) {
    CAPTURE(i);
    CHECK(back.answers[i].name.wire == m.answers[i].name.wire);
    CHECK(back.answers[i].type == m.answers[i].type);
    CHECK(back.answers[i].ttl == m.answers[i].ttl);
    CHECK(back.answers[i].rdata == m.answers[i].rdata);  // names inside the data came back expanded
  }
  REQUIRE(back.authority.size() == 1);
  CHECK(back.authority[0].rdata == m.authority[0].rdata);
  CHECK(soa_minimum(back.authority[0].rdata, 0) == 5);
  REQUIRE(back.additional.size() == 1);  // the OPT record is not among them
  CHECK(back.edns.present);
  CHECK(back.edns.udp_size == 1232);
  CHECK(back.edns.do_bit);
}

TEST_CASE("names are compressed: owners, CNAME/PTR/NS/SOA data; SRV targets are not (RFC 2782)") {
  Message m;
  m.questions.push_back({N("web.default.svc.cluster.local"), kTypeA, kClassIN});
  for (int i = 0; i < 3; i++)
    m.answers.push_back(rec("web.default.svc.cluster.local", kTypeA, bytes({10, 0, 0, i})));
  std::string wire = serialize(m);
  // Header 12, question 31 + 4, then each A record: a 2-byte pointer + 10 + 4.
  CHECK(wire.size() == 12 + 31 + 4 + 3 * 16);
  CHECK(static_cast<unsigned char>(wire[47]) == 0xc0);
  CHECK(static_cast<unsigned char>(wire[48]) == 12);  // points at the question's name

  Message c;
  c.questions.push_back({N("ext.default.svc.cluster.local"), kTypeCNAME, kClassIN});
  c.answers.push_back(
      rec("ext.default.svc.cluster.local", kTypeCNAME, rdata_name(N("web.default.svc.cluster.local"))));
  std::string cw = serialize(c);
  // The CNAME's data is "web" plus a pointer to "default.svc.cluster.local": 4 + 2 bytes.
  CHECK(cw.size() == 12 + 31 + 4 + 2 + 10 + 6);

  Message s;
  s.questions.push_back({N("_http._tcp.web.default.svc.cluster.local"), kTypeSRV, kClassIN});
  s.answers.push_back(rec("_http._tcp.web.default.svc.cluster.local", kTypeSRV,
                          rdata_srv(0, 100, 80, N("web.default.svc.cluster.local"))));
  std::string sw = serialize(s);
  CHECK(sw.size() == 12 + 42 + 4 + 2 + 10 + 6 + 31);
  Message back;
  REQUIRE(parse(sw, &back) == ParseStatus::kOk);
  CHECK(back.answers[0].rdata == s.answers[0].rdata);
}

TEST_CASE("a compressed message from another server parses (RFC 1035 §4.1.4 example)") {
  // Question "F.ISI.ARPA" at 12, an answer owned by "FOO.F.ISI.ARPA" as "FOO" + pointer, and a PTR whose
  // data is a pointer to the root-most part ("ARPA").
  std::string msg = bytes({0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0});
  msg += bytes({1, 'F', 3, 'I', 'S', 'I', 4, 'A', 'R', 'P', 'A', 0, 0, 12, 0, 1});
  msg += bytes({3, 'F', 'O', 'O', 0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 30, 0, 2, 0xc0, 18});
  Message m;
  REQUIRE(parse(msg, &m) == ParseStatus::kOk);
  CHECK(m.header.id == 0x1234);
  CHECK(m.questions[0].name.text() == "F.ISI.ARPA.");
  REQUIRE(m.answers.size() == 1);
  CHECK(m.answers[0].name.text() == "FOO.F.ISI.ARPA.");
  CHECK(m.answers[0].rdata == N("ARPA").wire);
}

TEST_CASE("pointer loops, forward pointers and bad label types are malformed") {
  std::string head = bytes({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
  Message m;
  // A pointer to itself.
  CHECK(parse(head + bytes({0xc0, 12, 0, 1, 0, 1}), &m) == ParseStatus::kMalformed);
  // A pointer forwards.
  CHECK(parse(head + bytes({0xc0, 14, 0, 1, 0, 1, 0}), &m) == ParseStatus::kMalformed);
  // Two pointers pointing at each other (the second label points back to the first pointer).
  CHECK(parse(head + bytes({1, 'a', 0xc0, 12, 0, 1, 0, 1}), &m) == ParseStatus::kMalformed);
  // The 01 label type (extended labels, obsolete).
  CHECK(parse(head + bytes({0x41, 'a', 0, 0, 1, 0, 1}), &m) == ParseStatus::kMalformed);
  // A label running past the end.
  CHECK(parse(head + bytes({5, 'a', 'b'}), &m) == ParseStatus::kMalformed);
  // A question without its type and class.
  CHECK(parse(head + bytes({1, 'a', 0, 0}), &m) == ParseStatus::kMalformed);
  // Counts the bytes cannot hold (and nothing is reserved for them).
  CHECK(parse(bytes({0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), &m) ==
        ParseStatus::kMalformed);
  CHECK(m.header.id == 1);  // the header was read: a FORMERR can go to the right ID
  CHECK(parse(bytes({0, 1, 0}), &m) == ParseStatus::kTooShort);
  // Record data shorter than its length says.
  std::string r = bytes({0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1, 2});
  CHECK(parse(r, &m) == ParseStatus::kMalformed);
  // A CNAME whose data is longer than the name in it.
  std::string c = bytes({0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 0, 0, 1, 0, 3, 1, 'a', 0});
  CHECK(parse(c, &m) == ParseStatus::kOk);
  c = bytes({0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 0, 0, 1, 0, 4, 1, 'a', 0, 7});
  CHECK(parse(c, &m) == ParseStatus::kMalformed);
  // Two OPT records, or one outside the additional section.
  Message e;
  e.questions.push_back({N("a"), kTypeA, kClassIN});
  e.edns.present = true;
  std::string w = serialize(e);
  w[11] = 2;
  w += w.substr(w.size() - 11);
  CHECK(parse(w, &m) == ParseStatus::kMalformed);
}

TEST_CASE("random bytes never crash the parser, and what parses serializes again") {
  std::mt19937 rng(20);
  Message base;
  base.questions.push_back({N("x.default.svc.cluster.local"), kTypeSRV, kClassIN});
  base.answers.push_back(
      rec("x.default.svc.cluster.local", kTypeSRV, rdata_srv(1, 2, 3, N("y.cluster.local"))));
  base.authority.push_back(rec("cluster.local", kTypeSOA,
                               rdata_soa(N("ns.dns.cluster.local"), N("h.cluster.local"), 1, 2, 3, 4, 5)));
  std::string good = serialize(base);
  int ok = 0;
  for (int i = 0; i < 20000; i++) {
    std::string b = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; f++) b[rng() % b.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    Message m;
    if (parse(b, &m) == ParseStatus::kOk) {
      ok++;
      Message again;
      CHECK(parse(serialize(m), &again) == ParseStatus::kOk);
    }
  }
  CHECK(ok > 0);
}

TEST_CASE("truncation keeps whole records and sets TC only for answers that do not fit") {
  Message m;
  m.header.qr = true;
  m.questions.push_back({N("big.default.svc.cluster.local"), kTypeA, kClassIN});
  for (int i = 0; i < 100; i++)
    m.answers.push_back(rec("big.default.svc.cluster.local", kTypeA, bytes({10, 1, 0, i})));
  std::string w = serialize(m, 512);
  CHECK(w.size() <= 512);
  Message back;
  REQUIRE(parse(w, &back) == ParseStatus::kOk);
  CHECK(back.header.tc);
  CHECK(back.answers.size() == (512 - 12 - 35) / 16);
  CHECK(parse(serialize(m, 65535), &back) == ParseStatus::kOk);
  CHECK_FALSE(back.header.tc);
  CHECK(back.answers.size() == 100);

  // Additional records that do not fit are left out without TC.
  Message a;
  a.questions.push_back({N("srv.cluster.local"), kTypeSRV, kClassIN});
  a.answers.push_back(rec("srv.cluster.local", kTypeSRV, rdata_srv(0, 1, 2, N("t.cluster.local"))));
  for (int i = 0; i < 100; i++) a.additional.push_back(rec("t.cluster.local", kTypeA, bytes({10, 2, 0, i})));
  REQUIRE(parse(serialize(a, 512), &back) == ParseStatus::kOk);
  CHECK_FALSE(back.header.tc);
  CHECK(back.answers.size() == 1);
  CHECK(back.additional.size() < 100);

  // With EDNS the OPT record still fits after truncation.
  m.edns.present = true;
  w = serialize(m, 1232);
  CHECK(w.size() <= 1232);
  REQUIRE(parse(w, &back) == ParseStatus::kOk);
  CHECK(back.header.tc);
  CHECK(back.edns.present);
}

TEST_CASE("EDNS: the extended rcode travels in the OPT record (BADVERS)") {
  Message m;
  m.header.qr = true;
  m.header.rcode = kBadVers;
  m.edns.present = true;
  m.edns.udp_size = 1232;
  std::string w = serialize(m);
  CHECK((static_cast<unsigned char>(w[3]) & 0xf) == 0);  // 16 & 0xf in the header
  Message back;
  REQUIRE(parse(w, &back) == ParseStatus::kOk);
  CHECK(back.header.rcode == kBadVers);
  CHECK(std::string(rcode_name(back.header.rcode)) == "BADVERS");
  CHECK(type_name(kTypeSRV) == "SRV");
  CHECK(type_name(999) == "TYPE999");
}
