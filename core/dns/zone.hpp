// The cluster's DNS records, per the Kubernetes DNS-Based Service Discovery specification (kubernetes/dns
// docs/specification.md, schema 1.0.1), built from Service and Endpoints objects (their JSON, as the API
// server sends them) and kept indexed so that every query is a hash lookup or a binary search:
//
//   <svc>.<ns>.svc.<zone>                    A/AAAA: the ClusterIP(s); headless: the ready endpoint IPs;
//                                            ExternalName: CNAME to spec.externalName
//   <host>.<svc>.<ns>.svc.<zone>             A/AAAA of the endpoint with that hostname, or whose IP it is
//                                            in dashed form (10-244-0-5): the "system-assigned identifier"
//   _<port>._<proto>.<svc>.<ns>.svc.<zone>   SRV: ClusterIP Services name the Service, headless ones each
//                                            ready endpoint (with its A/AAAA in the additional section)
//   <a-b-c-d>.<ns>.pod.<zone>                A (AAAA for the dashed IPv6 form), for any address (§2.6)
//   <reverse>.in-addr.arpa / ip6.arpa        PTR of ClusterIPs and endpoint IPs
//   dns-version.<zone>                       TXT "1.0.1"; the zone apex answers SOA and NS
//
// A name that exists with other types is NODATA (NOERROR, no answer), one that does not is NXDOMAIN; both
// carry the zone's SOA in the authority section. Positive answers have TTL 30, negative ones 5.
//
// The zone does not watch anything itself: whoever holds the objects feeds it (dns/feed.hpp connects it to
// informers).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/wire.hpp"

namespace vc::dns {

constexpr uint32_t kPositiveTtl = 30;
constexpr uint32_t kNegativeTtl = 5;

struct Ip {
  uint8_t family = 0;  // 4 or 6
  uint8_t bytes[16] = {};
  static bool parse(std::string_view text, Ip* out);
  std::string text() const;
  bool operator==(const Ip& o) const;
};

// What a query resolves to inside the zone.
struct ZoneAnswer {
  uint16_t rcode = kNoError;
  std::vector<Record> answers, authority, additional;
  bool truncated = false;  // the answer was cut to the size budget: the client must ask again over TCP
  // An ExternalName's target outside the zone: the answer holds the CNAME; the records of the target come
  // from the upstream resolvers (the caller asks them and appends what they answer).
  bool chase = false;
  Question chase_question;
};

class Zone {
 public:
  // `domain` is the cluster domain ("cluster.local"); false in *ok when it is not a valid name.
  explicit Zone(std::string_view domain, bool* ok = nullptr);

  // Objects in, as JSON. A Service or Endpoints that cannot be read (not JSON, no name) is ignored and
  // counted (rejected()).
  void upsert_service(std::string_view json);
  void remove_service(std::string_view ns, std::string_view name);
  void upsert_endpoints(std::string_view json);
  void remove_endpoints(std::string_view ns, std::string_view name);

  enum class Where {
    kZone,     // inside the cluster domain: answered here
    kReverse,  // a reverse name of an IP the zone knows: answered here
    kOutside,  // anything else: for the upstream resolvers
  };
  Where classify(const Name& qname) const;

  // Answers a question classified kZone or kReverse. `budget` is the message size the client can take:
  // long answers (a headless Service with thousands of endpoints) stop there, with `truncated` set.
  // Owner names of the answers are the question's own spelling (clients compare them to what they sent).
  void answer(const Question& q, size_t budget, ZoneAnswer* out) const;

  const Name& domain() const { return domain_; }
  size_t services() const { return services_.size(); }
  size_t endpoints() const { return endpoints_.size(); }
  size_t reverse_entries() const { return ptr_.size(); }
  uint64_t rejected() const { return rejected_; }
  // Bumped on every change; the SOA serial.
  uint32_t serial() const { return serial_; }
  // Whether the zone holds every Service and Endpoints yet (its feed's first list is in). Until then the
  // server answers the zone's names SERVFAIL: an NXDOMAIN from a half-filled zone would be cached by the
  // clients as the truth. A zone is synced unless its feeder says otherwise.
  void set_synced(bool synced) { synced_ = synced; }
  bool synced() const { return synced_; }

 private:
  struct Port {
    std::string name;
    std::string proto;  // lower case: "tcp", "udp", "sctp"
    uint16_t port = 0;
  };
  enum class Kind { kClusterIP, kHeadless, kExternalName };
  struct Service {
    Kind kind = Kind::kClusterIP;
    std::vector<Ip> ips;
    Name external;  // kExternalName
    std::vector<Port> ports;
    bool publish_not_ready = false;  // spec.publishNotReadyAddresses or the tolerate-unready annotation
  };
  struct Address {
    Ip ip;
    std::string hostname;
    bool ready = true;
    uint16_t subset = 0;
  };
  struct Endpoints {
    std::vector<Address> addrs;
    std::vector<std::vector<Port>> subset_ports;
    std::vector<uint32_t> by_hostname;  // indexes of addrs with a hostname, sorted by it
  };
  // Maps keyed by the Service's "<svc>.<ns>" in wire form ("\3web\7default"): exactly the bytes of a
  // query name's first two labels, so that a lookup needs no copy.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using Map = std::unordered_map<std::string, V, Hash, std::equal_to<>>;
  struct IpHash {
    size_t operator()(const Ip& ip) const;
  };
  // A reverse entry: the Service (its key in services_/endpoints_) and which address of its Endpoints
  // (-1: the ClusterIP).
  struct PtrRef {
    const std::string* key;
    int32_t addr;
  };

  static std::string key_of(std::string_view ns, std::string_view name);
  void add_ptrs(const std::string& key, const Service& s);
  void add_ptrs(const std::string& key, const Endpoints& e);
  void drop_ptrs(const std::string* key, bool cluster_ips);
  void count_namespace(std::string_view key, int delta);

  void answer_zone(const Question& q, size_t budget, ZoneAnswer* out, int depth = 0) const;
  void answer_reverse(const Question& q, ZoneAnswer* out) const;
  void service_records(const Question& q, const std::string& key, const Service& s, size_t budget,
                       ZoneAnswer* out, int depth) const;
  // The name of an endpoint address inside its Service: its hostname, or its IP dashed.
  std::string endpoint_label(const Address& a) const;
  Name service_name(std::string_view key) const;
  void add_ip_record(const Name& owner, const Ip& ip, std::vector<Record>* to) const;
  void negative(const Question& q, uint16_t rcode, ZoneAnswer* out, const Name& soa_owner) const;
  Record soa_record(const Name& owner, uint32_t ttl) const;
  bool ready(const Service& s, const Address& a) const { return a.ready || s.publish_not_ready; }

  Name domain_;
  Name reverse4_, reverse6_;
  Map<Service> services_;
  Map<Endpoints> endpoints_;
  Map<uint32_t> namespaces_;  // Services per namespace: "<ns>.svc.<zone>" exists while there is one
  std::unordered_multimap<Ip, PtrRef, IpHash> ptr_;
  uint32_t serial_ = 1;
  uint64_t rejected_ = 0;
  bool synced_ = true;
};

}  // namespace vc::dns
