// The cluster zone, record kind by record kind, per the Kubernetes DNS specification.
#include <doctest/doctest.h>

#include <cstring>

#include "dns/zone.hpp"

using namespace vc::dns;

namespace {

Name N(const std::string& t) {
  Name n;
  REQUIRE(Name::from_text(t, &n));
  return n;
}

ZoneAnswer ask(const Zone& z, const std::string& name, uint16_t type, size_t budget = 65535) {
  ZoneAnswer a;
  z.answer({N(name), type, kClassIN}, budget, &a);
  return a;
}

std::string ip_of(const Record& r) {
  Ip ip;
  ip.family = r.rdata.size() == 4 ? 4 : 6;
  std::memcpy(ip.bytes, r.rdata.data(), r.rdata.size());
  return ip.text();
}

std::string target_of(const Record& r) {
  Name n;
  size_t skip = r.type == kTypeSRV ? 6 : 0;
  REQUIRE(Name::from_wire(r.rdata.substr(skip), &n));
  return n.text();
}

uint16_t srv_port(const Record& r) {
  return get16(reinterpret_cast<const unsigned char*>(r.rdata.data() + 4));
}

std::string svc(const std::string& ns, const std::string& name, const std::string& spec,
                const std::string& annotations = "{}") {
  return R"({"metadata":{"namespace":")" + ns + R"(","name":")" + name + R"(","annotations":)" + annotations +
         R"(},"spec":)" + spec + "}";
}

std::string eps(const std::string& ns, const std::string& name, const std::string& subsets) {
  return R"({"metadata":{"namespace":")" + ns + R"(","name":")" + name + R"("},"subsets":)" + subsets + "}";
}

// The records of the specification's examples, and a few more.
Zone make_zone() {
  Zone z("cluster.local");
  z.upsert_service(svc(
      "default", "kubernetes",
      R"({"type":"ClusterIP","clusterIP":"10.96.0.1","ports":[{"name":"https","port":443,"protocol":"TCP"}]})"));
  z.upsert_service(svc("default", "web",
                       R"({"type":"ClusterIP","clusterIP":"10.96.0.10","ports":[{"name":"http","port":80},
                           {"name":"dns","port":53,"protocol":"UDP"},{"port":8080}]})"));
  z.upsert_endpoints(eps("default", "web", R"([{"addresses":[{"ip":"10.244.0.5"},{"ip":"10.244.0.6"}],
                           "ports":[{"name":"http","port":8080}]}])"));
  z.upsert_service(svc("db", "headless", R"({"clusterIP":"None","ports":[{"name":"pg","port":5432}]})"));
  z.upsert_endpoints(eps("db", "headless", R"([{"addresses":[{"ip":"10.244.1.1","hostname":"db-0"},
                           {"ip":"10.244.1.2","hostname":"db-1"},{"ip":"10.244.1.3"}],
                           "notReadyAddresses":[{"ip":"10.244.1.4","hostname":"db-2"}],
                           "ports":[{"name":"pg","port":5432,"protocol":"TCP"}]}])"));
  z.upsert_service(svc("default", "ext", R"({"type":"ExternalName","externalName":"www.example.com"})"));
  z.upsert_service(
      svc("default", "alias", R"({"type":"ExternalName","externalName":"web.default.svc.cluster.local."})"));
  z.upsert_service(
      svc("default", "v6", R"({"clusterIP":"fd00::10","clusterIPs":["fd00::10"],"ports":[{"port":80}]})"));
  z.upsert_service(svc("default", "empty", R"({"clusterIP":"None"})"));
  return z;
}

}  // namespace

TEST_CASE("a ClusterIP Service: A of its ClusterIP, TTL 30; AAAA is NODATA with the SOA, TTL 5") {
  Zone z = make_zone();
  auto a = ask(z, "web.default.svc.cluster.local", kTypeA);
  CHECK(a.rcode == kNoError);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "10.96.0.10");
  CHECK(a.answers[0].ttl == 30);
  CHECK(a.authority.empty());
  // Case-insensitive, and the owner is spelled as asked.
  a = ask(z, "WEB.Default.SVC.cluster.LOCAL", kTypeA);
  REQUIRE(a.answers.size() == 1);
  CHECK(a.answers[0].name.text() == "WEB.Default.SVC.cluster.LOCAL.");
  a = ask(z, "web.default.svc.cluster.local", kTypeAAAA);
  CHECK(a.rcode == kNoError);
  CHECK(a.answers.empty());
  REQUIRE(a.authority.size() == 1);
  CHECK(a.authority[0].type == kTypeSOA);
  CHECK(a.authority[0].ttl == 5);
  CHECK(a.authority[0].name.text() == "cluster.local.");
  CHECK(soa_minimum(a.authority[0].rdata, 0) == 5);
  // An IPv6 ClusterIP answers AAAA.
  a = ask(z, "v6.default.svc.cluster.local", kTypeAAAA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "fd00::10");
  CHECK(ask(z, "v6.default.svc.cluster.local", kTypeA).answers.empty());
}

TEST_CASE("NXDOMAIN for names that do not exist, NODATA for names that do") {
  Zone z = make_zone();
  for (const char* name :
       {"nope.default.svc.cluster.local", "web.nope.svc.cluster.local", "nope.cluster.local",
        "x.web.default.svc.cluster.local", "a.b.c.d.e.web.default.svc.cluster.local",
        "_http._udp.web.default.svc.cluster.local", "_nope._tcp.web.default.svc.cluster.local",
        "_udp.headless.db.svc.cluster.local", "x.ext.default.svc.cluster.local",
        "web.default.pod.cluster.local", "1.2.3.4.5.pod.cluster.local"}) {
    CAPTURE(name);
    auto a = ask(z, name, kTypeA);
    CHECK(a.rcode == kNXDomain);
    CHECK(a.answers.empty());
    REQUIRE(a.authority.size() == 1);
    CHECK(a.authority[0].type == kTypeSOA);
    CHECK(a.authority[0].ttl == 5);
  }
  // Names that exist without A records: the apex, "svc", a namespace with Services, "_tcp" under a
  // Service with a named TCP port, "pod" and a namespace under it, ns.dns.
  for (const char* name :
       {"cluster.local", "svc.cluster.local", "default.svc.cluster.local", "db.svc.cluster.local",
        "_tcp.web.default.svc.cluster.local", "_udp.web.default.svc.cluster.local",
        "_tcp.headless.db.svc.cluster.local", "pod.cluster.local", "any.pod.cluster.local",
        "ns.dns.cluster.local", "dns-version.cluster.local"}) {
    CAPTURE(name);
    auto a = ask(z, name, kTypeA);
    CHECK(a.rcode == kNoError);
    CHECK(a.answers.empty());
    REQUIRE(a.authority.size() == 1);
    CHECK(a.authority[0].type == kTypeSOA);
  }
}

TEST_CASE("the apex answers SOA and NS; dns-version TXT") {
  Zone z = make_zone();
  auto a = ask(z, "cluster.local", kTypeSOA);
  REQUIRE(a.answers.size() == 1);
  CHECK(a.answers[0].type == kTypeSOA);
  CHECK(a.answers[0].ttl == 30);
  a = ask(z, "cluster.local", kTypeNS);
  REQUIRE(a.answers.size() == 1);
  CHECK(target_of(a.answers[0]) == "ns.dns.cluster.local.");
  a = ask(z, "dns-version.cluster.local", kTypeTXT);
  REQUIRE(a.answers.size() == 1);
  CHECK(a.answers[0].rdata == std::string("\x05"
                                          "1.0.1"));
}

TEST_CASE("SRV of a ClusterIP Service: named ports only, target the Service, its A in additional") {
  Zone z = make_zone();
  auto a = ask(z, "_https._tcp.kubernetes.default.svc.cluster.local", kTypeSRV);
  REQUIRE(a.answers.size() == 1);
  CHECK(srv_port(a.answers[0]) == 443);
  CHECK(target_of(a.answers[0]) == "kubernetes.default.svc.cluster.local.");
  REQUIRE(a.additional.size() == 1);
  CHECK(ip_of(a.additional[0]) == "10.96.0.1");
  a = ask(z, "_dns._udp.web.default.svc.cluster.local", kTypeSRV);
  REQUIRE(a.answers.size() == 1);
  CHECK(srv_port(a.answers[0]) == 53);
  // The SRV name asked with another type is NODATA.
  a = ask(z, "_http._tcp.web.default.svc.cluster.local", kTypeA);
  CHECK(a.rcode == kNoError);
  CHECK(a.answers.empty());
}

TEST_CASE(
    "a headless Service: ready endpoint IPs, hostnames, SRV per endpoint, NXDOMAIN without ready ones") {
  Zone z = make_zone();
  auto a = ask(z, "headless.db.svc.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 3);  // 10.244.1.4 is not ready
  CHECK(ip_of(a.answers[0]) == "10.244.1.1");
  CHECK(ip_of(a.answers[2]) == "10.244.1.3");
  a = ask(z, "db-1.headless.db.svc.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "10.244.1.2");
  // A not-ready endpoint's hostname has no record; the address without hostname goes by its dashed IP.
  CHECK(ask(z, "db-2.headless.db.svc.cluster.local", kTypeA).rcode == kNXDomain);
  a = ask(z, "10-244-1-3.headless.db.svc.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "10.244.1.3");
  // An address with a hostname is not also known by its dashed IP.
  CHECK(ask(z, "10-244-1-1.headless.db.svc.cluster.local", kTypeA).rcode == kNXDomain);
  CHECK(ask(z, "db-1.headless.db.svc.cluster.local", kTypeAAAA).rcode == kNoError);
  a = ask(z, "_pg._tcp.headless.db.svc.cluster.local", kTypeSRV);
  REQUIRE(a.answers.size() == 3);
  CHECK(target_of(a.answers[0]) == "db-0.headless.db.svc.cluster.local.");
  CHECK(target_of(a.answers[2]) == "10-244-1-3.headless.db.svc.cluster.local.");
  CHECK(srv_port(a.answers[0]) == 5432);
  REQUIRE(a.additional.size() == 3);
  CHECK(a.additional[1].name.text() == "db-1.headless.db.svc.cluster.local.");
  CHECK(ip_of(a.additional[1]) == "10.244.1.2");
  // No Endpoints, or none ready: NXDOMAIN (the specification, §2.4.1).
  CHECK(ask(z, "empty.default.svc.cluster.local", kTypeA).rcode == kNXDomain);
  z.upsert_endpoints(eps("default", "empty", R"([{"notReadyAddresses":[{"ip":"10.244.2.1"}]}])"));
  CHECK(ask(z, "empty.default.svc.cluster.local", kTypeA).rcode == kNXDomain);
  // publishNotReadyAddresses (and the old annotation) make not-ready addresses count.
  z.upsert_service(svc("default", "empty", R"({"clusterIP":"None","publishNotReadyAddresses":true})"));
  CHECK(ask(z, "empty.default.svc.cluster.local", kTypeA).answers.size() == 1);
  z.upsert_service(svc("default", "empty", R"({"clusterIP":"None"})",
                       R"({"service.alpha.kubernetes.io/tolerate-unready-endpoints":"true"})"));
  CHECK(ask(z, "empty.default.svc.cluster.local", kTypeA).answers.size() == 1);
}

TEST_CASE("an address in two subsets is answered once; SRV follows each subset's ports") {
  Zone z("cluster.local");
  z.upsert_service(svc("ns", "multi", R"({"clusterIP":"None"})"));
  z.upsert_endpoints(eps("ns", "multi", R"([{"addresses":[{"ip":"10.0.0.1"}],"ports":[{"name":"a","port":1}]},
                                           {"addresses":[{"ip":"10.0.0.1"},{"ip":"10.0.0.2"}],"ports":[{"name":"b","port":2}]}])"));
  CHECK(ask(z, "multi.ns.svc.cluster.local", kTypeA).answers.size() == 2);
  CHECK(ask(z, "_a._tcp.multi.ns.svc.cluster.local", kTypeSRV).answers.size() == 1);
  CHECK(ask(z, "_b._tcp.multi.ns.svc.cluster.local", kTypeSRV).answers.size() == 2);
}

TEST_CASE("ExternalName: a CNAME; inside the zone it is followed, outside the caller is told to") {
  Zone z = make_zone();
  auto a = ask(z, "ext.default.svc.cluster.local", kTypeA);
  CHECK(a.rcode == kNoError);
  REQUIRE(a.answers.size() == 1);
  CHECK(a.answers[0].type == kTypeCNAME);
  CHECK(target_of(a.answers[0]) == "www.example.com.");
  CHECK(a.chase);
  CHECK(a.chase_question.name.text() == "www.example.com.");
  CHECK(a.chase_question.type == kTypeA);
  a = ask(z, "ext.default.svc.cluster.local", kTypeCNAME);
  CHECK(a.answers.size() == 1);
  CHECK_FALSE(a.chase);
  a = ask(z, "alias.default.svc.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 2);
  CHECK(a.answers[0].type == kTypeCNAME);
  CHECK(ip_of(a.answers[1]) == "10.96.0.10");
  CHECK_FALSE(a.chase);
  // A CNAME to a name of the zone that does not exist ends NXDOMAIN (RFC 6604), the CNAME kept.
  z.upsert_service(svc("default", "dangling",
                       R"({"type":"ExternalName","externalName":"gone.default.svc.cluster.local"})"));
  a = ask(z, "dangling.default.svc.cluster.local", kTypeA);
  CHECK(a.rcode == kNXDomain);
  CHECK(a.answers.size() == 1);
  // Two ExternalNames naming each other end (the chase is bounded).
  z.upsert_service(
      svc("default", "l1", R"({"type":"ExternalName","externalName":"l2.default.svc.cluster.local"})"));
  z.upsert_service(
      svc("default", "l2", R"({"type":"ExternalName","externalName":"l1.default.svc.cluster.local"})"));
  a = ask(z, "l1.default.svc.cluster.local", kTypeA);
  CHECK(a.answers.size() <= 10);
}

TEST_CASE(
    "a CNAME loop of ExternalNames: each owner once, NOERROR (found by tests/integration/dns_test.sh)") {
  Zone z = make_zone();
  // Before the fix: nine identical CNAMEs (the chase went on to its bound).
  z.upsert_service(
      svc("default", "self", R"({"type":"ExternalName","externalName":"self.default.svc.cluster.local"})"));
  auto a = ask(z, "Self.default.svc.cluster.local", kTypeA);
  CHECK(a.rcode == kNoError);
  REQUIRE(a.answers.size() == 1);
  CHECK(a.answers[0].name.text() == "Self.default.svc.cluster.local.");
  CHECK(target_of(a.answers[0]) == "self.default.svc.cluster.local.");
  CHECK(a.authority.empty());
  z.upsert_service(
      svc("default", "l1", R"({"type":"ExternalName","externalName":"l2.default.svc.cluster.local"})"));
  z.upsert_service(
      svc("default", "l2", R"({"type":"ExternalName","externalName":"l1.default.svc.cluster.local"})"));
  a = ask(z, "l1.default.svc.cluster.local", kTypeA);
  CHECK(a.rcode == kNoError);
  REQUIRE(a.answers.size() == 2);
  CHECK(target_of(a.answers[0]) == "l2.default.svc.cluster.local.");
  CHECK(target_of(a.answers[1]) == "l1.default.svc.cluster.local.");
  // A chain that does not loop is still followed to its end.
  z.upsert_service(
      svc("default", "c1", R"({"type":"ExternalName","externalName":"alias.default.svc.cluster.local"})"));
  a = ask(z, "c1.default.svc.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 3);
  CHECK(ip_of(a.answers[2]) == "10.96.0.10");
}

TEST_CASE("PTR for ClusterIPs and ready endpoint IPs; other reverse names are not the zone's") {
  Zone z = make_zone();
  CHECK(z.classify(N("1.0.96.10.in-addr.arpa")) == Zone::Where::kReverse);
  auto a = ask(z, "1.0.96.10.in-addr.arpa", kTypePTR);
  REQUIRE(a.answers.size() == 1);
  CHECK(target_of(a.answers[0]) == "kubernetes.default.svc.cluster.local.");
  a = ask(z, "2.1.244.10.in-addr.arpa", kTypePTR);
  REQUIRE(a.answers.size() == 1);
  CHECK(target_of(a.answers[0]) == "db-1.headless.db.svc.cluster.local.");
  a = ask(z, "5.0.244.10.in-addr.arpa", kTypePTR);
  REQUIRE(a.answers.size() == 1);
  CHECK(target_of(a.answers[0]) == "10-244-0-5.web.default.svc.cluster.local.");
  // ... and that name resolves back.
  CHECK(ask(z, "10-244-0-5.web.default.svc.cluster.local", kTypeA).answers.size() == 1);
  // The IPv6 ClusterIP.
  std::string v6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
  CHECK(z.classify(N(v6)) == Zone::Where::kReverse);
  a = ask(z, v6, kTypePTR);
  REQUIRE(a.answers.size() == 1);
  CHECK(target_of(a.answers[0]) == "v6.default.svc.cluster.local.");
  // Another type at a known reverse name is NODATA.
  a = ask(z, "1.0.96.10.in-addr.arpa", kTypeA);
  CHECK(a.rcode == kNoError);
  CHECK(a.answers.empty());
  REQUIRE(a.authority.size() == 1);
  // Unknown, not ready, partial and bad reverse names are for the upstreams.
  CHECK(z.classify(N("8.8.8.8.in-addr.arpa")) == Zone::Where::kOutside);
  CHECK(z.classify(N("4.1.244.10.in-addr.arpa")) == Zone::Where::kOutside);
  CHECK(z.classify(N("96.10.in-addr.arpa")) == Zone::Where::kOutside);
  CHECK(z.classify(N("01.0.96.10.in-addr.arpa")) == Zone::Where::kOutside);
  CHECK(z.classify(N("www.example.com")) == Zone::Where::kOutside);
  CHECK(z.classify(N("web.default.svc.Cluster.Local")) == Zone::Where::kZone);
}

TEST_CASE("<a-b-c-d>.<ns>.pod: any address (the specification's §2.6), IPv6 dashed too") {
  Zone z = make_zone();
  auto a = ask(z, "10-244-9-9.anyns.pod.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "10.244.9.9");
  a = ask(z, "fd00--9.anyns.pod.cluster.local", kTypeAAAA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "fd00::9");
  CHECK(ask(z, "10-244-9-9.anyns.pod.cluster.local", kTypeAAAA).rcode == kNoError);
  CHECK(ask(z, "10-244-9-999.anyns.pod.cluster.local", kTypeA).rcode == kNXDomain);
}

TEST_CASE("updates and deletes change the answers and the reverse index; a custom domain") {
  Zone z("corp.example.");
  z.upsert_service(svc("a", "s", R"({"clusterIP":"10.0.0.1"})"));
  CHECK(ask(z, "s.a.svc.corp.example", kTypeA).answers.size() == 1);
  CHECK(ask(z, "s.a.svc.cluster.local", kTypeA).rcode == kNXDomain);  // not this zone: the caller forwards
  CHECK(z.classify(N("s.a.svc.cluster.local")) == Zone::Where::kOutside);
  uint32_t serial = z.serial();
  z.upsert_service(svc("a", "s", R"({"clusterIP":"10.0.0.2"})"));
  CHECK(z.serial() != serial);
  auto a = ask(z, "s.a.svc.corp.example", kTypeA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "10.0.0.2");
  CHECK(z.classify(N("1.0.0.10.in-addr.arpa")) == Zone::Where::kOutside);
  CHECK(z.classify(N("2.0.0.10.in-addr.arpa")) == Zone::Where::kReverse);
  z.upsert_endpoints(eps("a", "s", R"([{"addresses":[{"ip":"10.1.0.1"}]}])"));
  CHECK(z.classify(N("1.0.1.10.in-addr.arpa")) == Zone::Where::kReverse);
  z.upsert_endpoints(eps("a", "s", R"([{"addresses":[{"ip":"10.1.0.2"}]}])"));
  CHECK(z.classify(N("1.0.1.10.in-addr.arpa")) == Zone::Where::kOutside);
  z.remove_service("a", "s");
  CHECK(ask(z, "s.a.svc.corp.example", kTypeA).rcode == kNXDomain);
  CHECK(ask(z, "a.svc.corp.example", kTypeA).rcode == kNXDomain);  // the namespace has no Service left
  CHECK(z.classify(N("2.0.1.10.in-addr.arpa")) == Zone::Where::kOutside);  // Endpoints without Service
  z.remove_endpoints("a", "s");
  CHECK(z.reverse_entries() == 0);
  // Objects that cannot be read are counted and change nothing.
  z.upsert_service("not json");
  z.upsert_endpoints(R"({"metadata":{}})");
  z.upsert_service(svc("a", "bad", R"({"type":"ExternalName","externalName":"a..b"})"));
  CHECK(z.rejected() == 3);
  CHECK(z.services() == 0);
  bool ok = true;
  Zone bad("a..b", &ok);
  CHECK_FALSE(ok);
}

TEST_CASE("a headless Service with 10,000 endpoints: answers stop at the budget and say so") {
  Zone z("cluster.local");
  z.upsert_service(svc("big", "h", R"({"clusterIP":"None","ports":[{"name":"p","port":1}]})"));
  std::string addrs;
  for (int i = 0; i < 10000; i++)
    addrs += std::string(i ? "," : "") + R"({"ip":"10.2.)" + std::to_string(i / 256) + "." +
             std::to_string(i % 256) + R"(","hostname":"h-)" + std::to_string(i) + R"("})";
  z.upsert_endpoints(
      eps("big", "h", R"([{"addresses":[)" + addrs + R"(],"ports":[{"name":"p","port":1}]}])"));
  auto a = ask(z, "h.big.svc.cluster.local", kTypeA, 1232);
  CHECK(a.truncated);
  CHECK(a.answers.size() < 80);
  a = ask(z, "h.big.svc.cluster.local", kTypeA, 65535);
  CHECK(a.answers.size() > 3000);
  // A hostname among 10,000 is a binary search.
  a = ask(z, "h-7777.h.big.svc.cluster.local", kTypeA);
  REQUIRE(a.answers.size() == 1);
  CHECK(ip_of(a.answers[0]) == "10.2.30.97");
  a = ask(z, "_p._tcp.h.big.svc.cluster.local", kTypeSRV, 1232);
  CHECK(a.truncated);
  CHECK(z.reverse_entries() == 10000);
}
