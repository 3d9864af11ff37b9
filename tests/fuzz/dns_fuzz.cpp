// libFuzzer target: the DNS server's packet parsing and answering (core/dns). Any bytes a client sends are
// parsed; a message that parses serializes to one that parses again, and every question it asks is
// classified and, when it is the zone's, answered and written within the classic 512-byte UDP limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dns/wire.hpp"
#include "dns/zone.hpp"

namespace {

vc::dns::Zone* make_zone() {
  auto* z = new vc::dns::Zone("cluster.local");
  z->upsert_service(
      R"({"metadata":{"name":"web","namespace":"demo"},"spec":{"clusterIP":"10.96.0.20","ports":[{"name":"http","port":80,"protocol":"TCP"}]}})");
  z->upsert_service(
      R"({"metadata":{"name":"db","namespace":"demo"},"spec":{"clusterIP":"None","ports":[{"name":"pg","port":5432,"protocol":"TCP"}]}})");
  z->upsert_endpoints(
      R"({"metadata":{"name":"db","namespace":"demo"},"subsets":[{"addresses":[{"ip":"10.88.0.5","hostname":"db-0"},{"ip":"fd00::5"}],"ports":[{"name":"pg","port":5432,"protocol":"TCP"}]}]})");
  z->upsert_service(
      R"({"metadata":{"name":"ext","namespace":"demo"},"spec":{"type":"ExternalName","externalName":"example.com"}})");
  return z;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static vc::dns::Zone* zone = make_zone();
  vc::dns::Message m;
  vc::dns::ParseStatus st = vc::dns::parse(std::string_view(reinterpret_cast<const char*>(data), size), &m);
  if (st != vc::dns::ParseStatus::kOk) return 0;
  std::string out = vc::dns::serialize(m);
  vc::dns::Message back;
  if (vc::dns::parse(out, &back) != vc::dns::ParseStatus::kOk) std::abort();  // we wrote what we cannot read
  for (const auto& q : m.questions) {
    if (zone->classify(q.name) == vc::dns::Zone::Where::kOutside) continue;
    vc::dns::ZoneAnswer a;
    zone->answer(q, vc::dns::kClassicUdpSize, &a);
    vc::dns::Message reply;
    reply.header.id = m.header.id;
    reply.header.qr = true;
    reply.header.rcode = a.rcode;
    reply.questions.push_back(q);
    reply.answers = a.answers;
    reply.authority = a.authority;
    reply.additional = a.additional;
    std::string wire = vc::dns::serialize(reply, vc::dns::kClassicUdpSize);
    if (wire.size() > vc::dns::kClassicUdpSize) std::abort();  // a UDP answer over the limit
    vc::dns::Message again;
    if (vc::dns::parse(wire, &again) != vc::dns::ParseStatus::kOk) std::abort();
  }
  return 0;
}
