#include "dns/zone.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "json/json.hpp"

namespace vc::dns {
namespace {

constexpr int kMaxLabels = 128;
// What a record costs in a message at most, for the size budget: a compressed owner (2), type, class,
// TTL, length (10) and the address.
constexpr size_t kARecordSize = 2 + 10 + 4;
constexpr size_t kAAAARecordSize = 2 + 10 + 16;
// Depth of CNAME chains followed inside the zone (an ExternalName naming another Service's name).
constexpr int kMaxChase = 8;

std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "10-244-0-5" or the dashed IPv6 form "fd00--5" (colons written as dashes), as CoreDNS and kube-dns read
// pod names.
bool parse_dashed(std::string_view label, Ip* out) {
  std::string s(label);
  int dashes = static_cast<int>(std::count(s.begin(), s.end(), '-'));
  if (dashes == 3) {
    std::string dotted = s;
    std::replace(dotted.begin(), dotted.end(), '-', '.');
    if (Ip::parse(dotted, out) && out->family == 4) return true;
  }
  std::replace(s.begin(), s.end(), '-', ':');
  return Ip::parse(s, out) && out->family == 6;
}

std::string dashed(const Ip& ip) {
  std::string t = ip.text();
  std::replace(t.begin(), t.end(), '.', '-');
  std::replace(t.begin(), t.end(), ':', '-');
  return t;
}

// The IP of a reverse name (labels without the in-addr.arpa / ip6.arpa suffix, leftmost first).
bool parse_reverse(const std::string_view* labels, int n, bool v6, Ip* out) {
  *out = Ip{};
  if (!v6) {
    if (n != 4) return false;
    for (int i = 0; i < 4; i++) {
      if (!all_digits(labels[i]) || labels[i].size() > 3) return false;
      int v = std::stoi(std::string(labels[i]));
      if (v > 255 || (labels[i].size() > 1 && labels[i][0] == '0')) return false;
      out->bytes[3 - i] = static_cast<uint8_t>(v);
    }
    out->family = 4;
    return true;
  }
  if (n != 32) return false;
  for (int i = 0; i < 32; i++) {
    if (labels[i].size() != 1) return false;
    char c = labels[i][0];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    int nibble = 31 - i;
    out->bytes[nibble / 2] = static_cast<uint8_t>(out->bytes[nibble / 2] | (nibble % 2 ? v : v << 4));
  }
  out->family = 6;
  return true;
}

void read_ports(const json::Value* ports, std::vector<std::string>* names, std::vector<std::string>* protos,
                std::vector<uint16_t>* numbers) {
  if (!ports) return;
  for (const auto& p : ports->items()) {
    const json::Value* n = p.find("name");
    const json::Value* pr = p.find("protocol");
    const json::Value* num = p.find("port");
    names->push_back(lower_copy(n ? n->string_or("") : ""));
    protos->push_back(lower_copy(pr ? pr->string_or("TCP") : "TCP"));
    int64_t v = num ? num->as_int64(0) : 0;
    numbers->push_back(static_cast<uint16_t>(v > 0 && v <= 65535 ? v : 0));
  }
}

}  // namespace

bool Ip::parse(std::string_view text, Ip* out) {
  *out = Ip{};
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out->bytes) == 1) {
    out->family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out->bytes) == 1) {
    out->family = 6;
    return true;
  }
  return false;
}

std::string Ip::text() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

bool Ip::operator==(const Ip& o) const {
  return family == o.family && std::memcmp(bytes, o.bytes, family == 4 ? 4 : 16) == 0;
}

size_t Zone::IpHash::operator()(const Ip& ip) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(ip.bytes), ip.family == 4 ? 4 : 16));
}

Zone::Zone(std::string_view domain, bool* ok) {
  std::string d(domain);
  while (!d.empty() && d.back() == '.') d.pop_back();
  bool good = !d.empty() && Name::from_text(d, &domain_);
  if (!good) Name::from_text("cluster.local", &domain_);
  domain_ = domain_.lower();
  Name::from_text("in-addr.arpa", &reverse4_);
  Name::from_text("ip6.arpa", &reverse6_);
  if (ok) *ok = good;
}

std::string Zone::key_of(std::string_view ns, std::string_view name) {
  std::string k;
  if (!append_label(&k, lower_copy(name)) || !append_label(&k, lower_copy(ns))) return {};
  return k;
}

Name Zone::service_name(std::string_view key) const {
  Name n;
  n.wire.reserve(key.size() + 4 + domain_.wire.size());
  n.wire.append(key);
  append_label(&n.wire, "svc");
  n.wire.append(domain_.wire);
  return n;
}

void Zone::count_namespace(std::string_view key, int delta) {
  // The key's second label is the namespace.
  size_t first = static_cast<unsigned char>(key[0]);
  std::string ns(key.substr(2 + first, static_cast<unsigned char>(key[1 + first])));
  auto it = namespaces_.find(ns);
  if (delta > 0) {
    if (it == namespaces_.end()) {
      namespaces_.emplace(ns, 1);
    } else {
      it->second++;
    }
  } else if (it != namespaces_.end() && --it->second == 0) {
    namespaces_.erase(it);
  }
}

void Zone::add_ptrs(const std::string& key, const Service& s) {
  for (const auto& ip : s.ips) ptr_.emplace(ip, PtrRef{&key, -1});
}

void Zone::add_ptrs(const std::string& key, const Endpoints& e) {
  for (size_t i = 0; i < e.addrs.size(); i++)
    ptr_.emplace(e.addrs[i].ip, PtrRef{&key, static_cast<int32_t>(i)});
}

void Zone::drop_ptrs(const std::string* key, bool cluster_ips) {
  std::vector<Ip> ips;
  if (cluster_ips) {
    auto it = services_.find(*key);
    if (it != services_.end()) ips = it->second.ips;
  } else {
    auto it = endpoints_.find(*key);
    if (it != endpoints_.end())
      for (const auto& a : it->second.addrs) ips.push_back(a.ip);
  }
  for (const auto& ip : ips) {
    auto [b, e] = ptr_.equal_range(ip);
    for (auto it = b; it != e;) {
      if (it->second.key == key) {
        it = ptr_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void Zone::upsert_service(std::string_view text) {
  auto v = json::parse(text);
  const json::Value* meta = v ? v->find("metadata") : nullptr;
  std::string key = meta ? key_of(meta->find("namespace") ? meta->find("namespace")->string_or("") : "",
                                  meta->find("name") ? meta->find("name")->string_or("") : "")
                         : "";
  if (key.empty()) {
    rejected_++;
    return;
  }
  Service s;
  const json::Value* spec = v->find("spec");
  std::string_view type = spec && spec->find("type") ? spec->find("type")->string_or("") : "";
  if (type == "ExternalName") {
    std::string ext(spec->find("externalName") ? spec->find("externalName")->string_or("") : "");
    while (!ext.empty() && ext.back() == '.') ext.pop_back();
    s.kind = Kind::kExternalName;
    if (ext.empty() || !Name::from_text(ext, &s.external)) {
      // An ExternalName the API server accepted is a DNS name; anything else has no record here.
      rejected_++;
      remove_service(meta->find("namespace") ? meta->find("namespace")->string_or("") : "",
                     meta->find("name")->string_or(""));
      return;
    }
    s.external = s.external.lower();
  } else if (spec) {
    std::vector<std::string> ips;
    if (const json::Value* list = spec->find("clusterIPs"); list && list->is_array() && !list->empty()) {
      for (const auto& ip : list->items()) ips.emplace_back(ip.string_or(""));
    } else if (const json::Value* one = spec->find("clusterIP")) {
      ips.emplace_back(one->string_or(""));
    }
    bool headless = ips.empty() || ips[0] == "None" || ips[0].empty();
    s.kind = headless ? Kind::kHeadless : Kind::kClusterIP;
    if (!headless)
      for (const auto& t : ips) {
        Ip ip;
        if (Ip::parse(t, &ip)) s.ips.push_back(ip);
      }
    if (const json::Value* p = spec->find("publishNotReadyAddresses"))
      s.publish_not_ready = p->as_bool(false);
  }
  if (const json::Value* ann = meta->find("annotations"))
    if (const json::Value* t = ann->find("service.alpha.kubernetes.io/tolerate-unready-endpoints"))
      if (t->string_or("") == "true") s.publish_not_ready = true;
  if (spec) {
    std::vector<std::string> names, protos;
    std::vector<uint16_t> numbers;
    read_ports(spec->find("ports"), &names, &protos, &numbers);
    for (size_t i = 0; i < names.size(); i++) s.ports.push_back({names[i], protos[i], numbers[i]});
  }
  auto it = services_.find(key);
  if (it != services_.end()) {
    drop_ptrs(&it->first, true);
    it->second = std::move(s);
  } else {
    it = services_.emplace(key, std::move(s)).first;
    count_namespace(key, 1);
  }
  add_ptrs(it->first, it->second);
  serial_++;
}

void Zone::remove_service(std::string_view ns, std::string_view name) {
  std::string key = key_of(ns, name);
  auto it = key.empty() ? services_.end() : services_.find(key);
  if (it == services_.end()) return;
  drop_ptrs(&it->first, true);
  count_namespace(it->first, -1);
  services_.erase(it);
  serial_++;
}

void Zone::upsert_endpoints(std::string_view text) {
  auto v = json::parse(text);
  const json::Value* meta = v ? v->find("metadata") : nullptr;
  std::string key = meta ? key_of(meta->find("namespace") ? meta->find("namespace")->string_or("") : "",
                                  meta->find("name") ? meta->find("name")->string_or("") : "")
                         : "";
  if (key.empty()) {
    rejected_++;
    return;
  }
  Endpoints e;
  if (const json::Value* subsets = v->find("subsets")) {
    for (const auto& sub : subsets->items()) {
      if (e.subset_ports.size() >= 0xffff) break;
      auto si = static_cast<uint16_t>(e.subset_ports.size());
      std::vector<std::string> names, protos;
      std::vector<uint16_t> numbers;
      read_ports(sub.find("ports"), &names, &protos, &numbers);
      std::vector<Port> ports;
      for (size_t i = 0; i < names.size(); i++) ports.push_back({names[i], protos[i], numbers[i]});
      e.subset_ports.push_back(std::move(ports));
      for (const char* field : {"addresses", "notReadyAddresses"}) {
        const json::Value* list = sub.find(field);
        if (!list) continue;
        for (const auto& a : list->items()) {
          Address addr;
          if (!a.find("ip") || !Ip::parse(a.find("ip")->string_or(""), &addr.ip)) continue;
          if (const json::Value* h = a.find("hostname")) {
            addr.hostname = lower_copy(h->string_or(""));
            // A hostname that is not one DNS label cannot name a record.
            if (addr.hostname.size() > 63 || addr.hostname.find('.') != std::string::npos)
              addr.hostname.clear();
          }
          addr.ready = std::strcmp(field, "addresses") == 0;
          addr.subset = si;
          e.addrs.push_back(std::move(addr));
        }
      }
    }
  }
  for (uint32_t i = 0; i < e.addrs.size(); i++)
    if (!e.addrs[i].hostname.empty()) e.by_hostname.push_back(i);
  std::sort(e.by_hostname.begin(), e.by_hostname.end(),
            [&e](uint32_t a, uint32_t b) { return e.addrs[a].hostname < e.addrs[b].hostname; });
  e.addrs.shrink_to_fit();
  auto it = endpoints_.find(key);
  if (it != endpoints_.end()) {
    drop_ptrs(&it->first, false);
    it->second = std::move(e);
  } else {
    it = endpoints_.emplace(key, std::move(e)).first;
  }
  add_ptrs(it->first, it->second);
  serial_++;
}

void Zone::remove_endpoints(std::string_view ns, std::string_view name) {
  std::string key = key_of(ns, name);
  auto it = key.empty() ? endpoints_.end() : endpoints_.find(key);
  if (it == endpoints_.end()) return;
  drop_ptrs(&it->first, false);
  endpoints_.erase(it);
  serial_++;
}

Zone::Where Zone::classify(const Name& qname) const {
  if (qname.is_subdomain_of(domain_)) return Where::kZone;
  bool v6 = qname.is_subdomain_of(reverse6_);
  if (!v6 && !qname.is_subdomain_of(reverse4_)) return Where::kOutside;
  Name lname = qname.lower();
  std::string_view labels[kMaxLabels];
  int n = lname.labels(labels, kMaxLabels);
  Ip ip;
  if (n < 2 || !parse_reverse(labels, n - 2, v6, &ip)) return Where::kOutside;
  // Only the reverse names of IPs the zone can name are answered here; the rest of in-addr.arpa belongs
  // to the upstream resolvers.
  auto [b, e] = ptr_.equal_range(ip);
  for (auto it = b; it != e; ++it) {
    if (it->second.addr < 0) return Where::kReverse;
    auto svc = services_.find(*it->second.key);
    auto eps = endpoints_.find(*it->second.key);
    if (svc != services_.end() && eps != endpoints_.end() &&
        ready(svc->second, eps->second.addrs[static_cast<size_t>(it->second.addr)]))
      return Where::kReverse;
  }
  return Where::kOutside;
}

Record Zone::soa_record(const Name& owner, uint32_t ttl) const {
  Name mname, rname;
  Name::from_text("ns.dns." + domain_.text(), &mname);
  Name::from_text("hostmaster." + domain_.text(), &rname);
  Record r;
  r.name = owner;
  r.type = kTypeSOA;
  r.ttl = ttl;
  // refresh, retry and expire matter to secondaries only (there are none); minimum is the negative TTL.
  r.rdata = rdata_soa(mname, rname, serial_, 7200, 1800, 86400, kNegativeTtl);
  return r;
}

void Zone::negative(const Question& q, uint16_t rcode, ZoneAnswer* out, const Name& soa_owner) const {
  (void)q;
  out->rcode = rcode;
  out->answers.clear();
  out->additional.clear();
  out->authority.push_back(soa_record(soa_owner, kNegativeTtl));
}

void Zone::add_ip_record(const Name& owner, const Ip& ip, std::vector<Record>* to) const {
  Record r;
  r.name = owner;
  r.type = ip.family == 4 ? kTypeA : kTypeAAAA;
  r.ttl = kPositiveTtl;
  r.rdata.assign(reinterpret_cast<const char*>(ip.bytes), ip.family == 4 ? 4 : 16);
  to->push_back(std::move(r));
}

std::string Zone::endpoint_label(const Address& a) const {
  return a.hostname.empty() ? dashed(a.ip) : a.hostname;
}

void Zone::answer(const Question& q, size_t budget, ZoneAnswer* out) const {
  *out = ZoneAnswer{};
  if (q.cls != kClassIN && q.cls != kClassANY) {
    out->rcode = kRefused;
    return;
  }
  if (q.name.is_subdomain_of(domain_)) {
    answer_zone(q, budget, out);
  } else {
    answer_reverse(q, out);
  }
}

void Zone::answer_reverse(const Question& q, ZoneAnswer* out) const {
  bool v6 = q.name.is_subdomain_of(reverse6_);
  const Name& apex = v6 ? reverse6_ : reverse4_;
  Name lname = q.name.lower();
  std::string_view labels[kMaxLabels];
  int n = lname.labels(labels, kMaxLabels);
  Ip ip;
  if (n < 2 || !parse_reverse(labels, n - 2, v6, &ip)) return negative(q, kNXDomain, out, apex);
  std::vector<Name> names;
  auto [b, e] = ptr_.equal_range(ip);
  for (auto it = b; it != e; ++it) {
    auto svc = services_.find(*it->second.key);
    if (svc == services_.end()) continue;
    Name target = service_name(*it->second.key);
    if (it->second.addr >= 0) {
      auto eps = endpoints_.find(*it->second.key);
      if (eps == endpoints_.end()) continue;
      const Address& a = eps->second.addrs[static_cast<size_t>(it->second.addr)];
      if (!ready(svc->second, a)) continue;
      std::string w;
      append_label(&w, endpoint_label(a));
      target.wire.insert(0, w);
    }
    if (std::none_of(names.begin(), names.end(), [&](const Name& x) { return x.wire == target.wire; }))
      names.push_back(std::move(target));
  }
  if (names.empty()) return negative(q, kNXDomain, out, apex);
  if (q.type != kTypePTR && q.type != kTypeANY) return negative(q, kNoError, out, apex);
  for (auto& t : names) {
    Record r;
    r.name = q.name;
    r.type = kTypePTR;
    r.ttl = kPositiveTtl;
    r.rdata = rdata_name(t);
    out->answers.push_back(std::move(r));
  }
}

void Zone::answer_zone(const Question& q, size_t budget, ZoneAnswer* out, int depth) const {
  Name lname = q.name.lower();
  std::string_view L[kMaxLabels];
  int n = lname.labels(L, kMaxLabels);
  std::string_view zl[kMaxLabels];
  int zc = domain_.labels(zl, kMaxLabels);
  if (n < 0) return negative(q, kNXDomain, out, domain_);
  int m = n - zc;
  auto want = [&q](uint16_t t) { return q.type == t || q.type == kTypeANY; };
  auto nodata = [&] { negative(q, kNoError, out, domain_); };
  auto nxdomain = [&] { negative(q, kNXDomain, out, domain_); };
  // Where label i starts in lname.wire (at its length byte).
  auto at = [&](int i) { return static_cast<size_t>(L[i].data() - lname.wire.data()) - 1; };

  if (m == 0) {
    if (want(kTypeSOA)) out->answers.push_back(soa_record(q.name, kPositiveTtl));
    if (want(kTypeNS)) {
      Name ns;
      Name::from_text("ns.dns." + domain_.text(), &ns);
      Record r;
      r.name = q.name;
      r.type = kTypeNS;
      r.ttl = kPositiveTtl;
      r.rdata = rdata_name(ns);
      out->answers.push_back(std::move(r));
    }
    if (out->answers.empty()) nodata();
    return;
  }
  std::string_view last = L[m - 1];
  if (m == 1 && last == "dns-version") {
    if (!want(kTypeTXT)) return nodata();
    Record r;
    r.name = q.name;
    r.type = kTypeTXT;
    r.ttl = kPositiveTtl;
    r.rdata = rdata_txt("1.0.1");
    out->answers.push_back(std::move(r));
    return;
  }
  // "ns.dns.<zone>", the SOA's primary server, and "dns.<zone>" above it exist without records.
  if ((m == 1 && last == "dns") || (m == 2 && last == "dns" && L[0] == "ns")) return nodata();
  if (last == "pod") {
    if (m <= 2) return nodata();
    Ip ip;
    if (m != 3 || !parse_dashed(L[0], &ip)) return nxdomain();
    if (!want(ip.family == 4 ? kTypeA : kTypeAAAA)) return nodata();
    add_ip_record(q.name, ip, &out->answers);
    return;
  }
  if (last != "svc") return nxdomain();
  if (m == 1) return nodata();
  if (m == 2) return namespaces_.count(std::string(L[0])) ? nodata() : nxdomain();
  if (m > 5) return nxdomain();
  size_t kb = at(m - 3), ke = at(m - 1);
  std::string_view key = std::string_view(lname.wire).substr(kb, ke - kb);
  auto svc_it = services_.find(key);
  if (svc_it == services_.end()) return nxdomain();
  const std::string& skey = svc_it->first;
  const Service& s = svc_it->second;
  if (m == 3) return service_records(q, skey, s, budget, out, depth);
  if (s.kind == Kind::kExternalName) return nxdomain();
  auto eps_it = endpoints_.find(key);
  const Endpoints* eps = eps_it == endpoints_.end() ? nullptr : &eps_it->second;

  if (m == 4) {
    if (!L[0].empty() && L[0][0] == '_') {
      // "_<proto>.<svc>.<ns>.svc": exists when a named port of that protocol does.
      std::string_view proto = L[0].substr(1);
      bool found = false;
      if (s.kind == Kind::kClusterIP) {
        for (const auto& p : s.ports) found |= !p.name.empty() && p.proto == proto;
      } else if (eps) {
        for (const auto& sp : eps->subset_ports)
          for (const auto& p : sp) found |= !p.name.empty() && p.proto == proto;
      }
      return found ? nodata() : nxdomain();
    }
    if (!eps) return nxdomain();
    std::vector<const Address*> hits;
    auto lo = std::lower_bound(eps->by_hostname.begin(), eps->by_hostname.end(), L[0],
                               [eps](uint32_t i, std::string_view h) { return eps->addrs[i].hostname < h; });
    for (; lo != eps->by_hostname.end() && eps->addrs[*lo].hostname == L[0]; ++lo)
      if (ready(s, eps->addrs[*lo])) hits.push_back(&eps->addrs[*lo]);
    Ip ip;
    if (hits.empty() && parse_dashed(L[0], &ip)) {
      auto [b, e] = ptr_.equal_range(ip);
      for (auto it = b; it != e; ++it) {
        if (it->second.key != &eps_it->first || it->second.addr < 0) continue;
        const Address& a = eps->addrs[static_cast<size_t>(it->second.addr)];
        // The dashed name of an address with a hostname is not one of its names.
        if (a.hostname.empty() && ready(s, a)) {
          hits.push_back(&a);
          break;
        }
      }
    }
    if (hits.empty()) return nxdomain();
    for (const Address* a : hits)
      if (want(a->ip.family == 4 ? kTypeA : kTypeAAAA)) add_ip_record(q.name, a->ip, &out->answers);
    if (out->answers.empty()) nodata();
    return;
  }

  // m == 5: "_<port>._<proto>.<svc>.<ns>.svc".
  if (L[0].size() < 2 || L[0][0] != '_' || L[1].size() < 2 || L[1][0] != '_') return nxdomain();
  std::string_view port = L[0].substr(1), proto = L[1].substr(1);
  Name target = service_name(skey);
  if (s.kind == Kind::kClusterIP) {
    std::vector<uint16_t> numbers;
    for (const auto& p : s.ports)
      if (p.name == port && p.proto == proto) numbers.push_back(p.port);
    if (numbers.empty()) return nxdomain();
    if (!want(kTypeSRV)) return nodata();
    for (uint16_t num : numbers) {
      Record r;
      r.name = q.name;
      r.type = kTypeSRV;
      r.ttl = kPositiveTtl;
      r.rdata = rdata_srv(0, 100, num, target);
      out->answers.push_back(std::move(r));
    }
    for (const auto& ip : s.ips) add_ip_record(target, ip, &out->additional);
    return;
  }
  if (!eps) return nxdomain();
  // Headless: one SRV per ready endpoint of each subset that has the port.
  std::vector<std::pair<const Address*, uint16_t>> targets;
  for (size_t si = 0; si < eps->subset_ports.size(); si++) {
    for (const auto& p : eps->subset_ports[si]) {
      if (p.name != port || p.proto != proto) continue;
      for (const auto& a : eps->addrs)
        if (a.subset == si && ready(s, a)) targets.emplace_back(&a, p.port);
    }
  }
  if (targets.empty()) return nxdomain();
  if (!want(kTypeSRV)) return nodata();
  auto weight = static_cast<uint16_t>(std::max<size_t>(1, 100 / targets.size()));
  size_t used = 12 + q.name.wire.size() + 4;
  for (const auto& [a, num] : targets) {
    Name host;
    append_label(&host.wire, endpoint_label(*a));
    host.wire += target.wire;
    // An SRV record here costs about its owner pointer, fixed fields and an uncompressed target; its
    // address record a compressed owner.
    size_t cost = 2 + 10 + 6 + host.wire.size() + (a->ip.family == 4 ? kARecordSize : kAAAARecordSize);
    if (used + cost > budget) {
      out->truncated = true;
      break;
    }
    used += cost;
    Record r;
    r.name = q.name;
    r.type = kTypeSRV;
    r.ttl = kPositiveTtl;
    r.rdata = rdata_srv(0, weight, num, host);
    out->answers.push_back(std::move(r));
    add_ip_record(host, a->ip, &out->additional);
  }
}

void Zone::service_records(const Question& q, const std::string& key, const Service& s, size_t budget,
                           ZoneAnswer* out, int depth) const {
  auto want = [&q](uint16_t t) { return q.type == t || q.type == kTypeANY; };
  if (s.kind == Kind::kExternalName) {
    Record r;
    r.name = q.name;
    r.type = kTypeCNAME;
    r.ttl = kPositiveTtl;
    r.rdata = rdata_name(s.external);
    out->answers.push_back(std::move(r));
    if (q.type == kTypeCNAME || q.type == kTypeANY) return;
    // Follow the CNAME for the client, as a recursive server does: inside the zone here (a chain of
    // ExternalNames at most kMaxChase long, so that two naming each other end), outside through the
    // upstream resolvers (the caller).
    Question next{s.external, q.type, kClassIN};
    if (!next.name.is_subdomain_of(domain_)) {
      out->chase = true;
      out->chase_question = next;
      return;
    }
    if (depth >= kMaxChase) return;
    ZoneAnswer inner;
    answer_zone(next, budget, &inner, depth + 1);
    // A loop (an ExternalName naming itself, two naming each other) ends where a CNAME's owner comes back:
    // each owner once in the answer, NOERROR, as a recursive server answers a CNAME loop.
    for (auto& rec : inner.answers) {
      if (rec.type == kTypeCNAME) {
        Name owner = rec.name.lower();
        if (std::any_of(out->answers.begin(), out->answers.end(), [&owner](const Record& seen) {
              return seen.type == kTypeCNAME && seen.name.lower().wire == owner.wire;
            })) {
          out->rcode = kNoError;
          return;
        }
      }
      out->answers.push_back(std::move(rec));
    }
    // RFC 6604: the rcode is the last name's; a negative end carries the SOA.
    out->rcode = inner.rcode;
    out->authority = std::move(inner.authority);
    out->additional = std::move(inner.additional);
    out->truncated = inner.truncated;
    out->chase = inner.chase;
    out->chase_question = std::move(inner.chase_question);
    return;
  }
  if (s.kind == Kind::kClusterIP) {
    for (const auto& ip : s.ips)
      if (want(ip.family == 4 ? kTypeA : kTypeAAAA)) add_ip_record(q.name, ip, &out->answers);
    if (out->answers.empty()) negative(q, kNoError, out, domain_);
    return;
  }
  // Headless: the ready endpoints' addresses, each once.
  auto eps_it = endpoints_.find(key);
  if (eps_it == endpoints_.end()) return negative(q, kNXDomain, out, domain_);
  const Endpoints& e = eps_it->second;
  bool any_ready = false;
  bool dedupe = e.subset_ports.size() > 1;
  std::unordered_set<Ip, IpHash> seen;
  size_t used = 12 + q.name.wire.size() + 4;
  for (const auto& a : e.addrs) {
    if (!ready(s, a)) continue;
    any_ready = true;
    if (!want(a.ip.family == 4 ? kTypeA : kTypeAAAA)) continue;
    if (dedupe && !seen.insert(a.ip).second) continue;
    size_t cost = a.ip.family == 4 ? kARecordSize : kAAAARecordSize;
    if (used + cost > budget) {
      out->truncated = true;
      break;
    }
    used += cost;
    add_ip_record(q.name, a.ip, &out->answers);
  }
  // The specification: a headless Service without ready endpoints is NXDOMAIN.
  if (!any_ready) return negative(q, kNXDomain, out, domain_);
  if (out->answers.empty()) negative(q, kNoError, out, domain_);
}

}  // namespace vc::dns
