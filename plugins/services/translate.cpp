#include "translate.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>
#include <string_view>

namespace vcp_services {

using vc::json::Value;

namespace {

constexpr std::string_view kManagedBy = "vcluster.loft.sh/managed-by";
constexpr std::string_view kNamespaceLabel = "vcluster.loft.sh/namespace";
constexpr std::string_view kControlledBy = "vcluster.loft.sh/controlled-by";
constexpr std::string_view kManagedAnnotations = "vcluster.loft.sh/managed-annotations";
constexpr std::string_view kObjectName = "vcluster.loft.sh/object-name";
constexpr std::string_view kObjectNamespace = "vcluster.loft.sh/object-namespace";
constexpr std::string_view kObjectUid = "vcluster.loft.sh/object-uid";
// vcluster's Services syncer never copies Rancher's bookkeeping annotation (§2.1 syncer exclusions): it
// lists the host's endpoints, which the virtual side cannot know.
constexpr std::string_view kRancherPublicEndpoints = "field.cattle.io/publicEndpoints";
// The leader-election record some controllers keep on Endpoints is the virtual cluster's business (§4.4).
constexpr std::string_view kLeaderAnnotation = "control-plane.alpha.kubernetes.io/leader";

// Metadata the API server sets on an object; a copy sent to another API server (or back to the same one
// as a new object) must not carry it.
constexpr std::string_view kServerMetadata[] = {"generateName",
                                                "uid",
                                                "resourceVersion",
                                                "generation",
                                                "creationTimestamp",
                                                "deletionTimestamp",
                                                "deletionGracePeriodSeconds",
                                                "managedFields",
                                                "selfLink"};

bool parse_bool(const std::optional<std::string>& v, bool fallback) {
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return fallback;
}

bool bookkeeping_annotation(std::string_view k) {
  return k == kManagedAnnotations || k == "vcluster.loft.sh/managed-labels" || k == kObjectName ||
         k == kObjectUid || k == kObjectNamespace;
}

std::string type_of(const Value& spec) {
  std::string t = str_of(spec, "type");
  return t.empty() ? "ClusterIP" : t;
}

bool allocates_node_ports(const std::string& type) {
  return type == "NodePort" || type == "LoadBalancer";
}

// A port's identity for matching host and virtual ports: Kubernetes keeps a Service's nodePort across an
// update when a port with the same number and protocol stays (patchAllocatedValues), so the plugin matches
// the same way.
bool same_port(const Value& a, const Value& b) {
  return field(a, "port").as_int64(-1) == field(b, "port").as_int64(-2) &&
         field(a, "protocol").string_or("TCP") == field(b, "protocol").string_or("TCP");
}

Value without_node_port(const Value& port) {
  Value p = port;
  p.erase("nodePort");
  return p;
}

// True when both port lists are equal once nodePorts are ignored.
bool ports_equal_but_node_ports(const Value& a, const Value& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (!(without_node_port(a[i]) == without_node_port(b[i]))) return false;
  }
  return true;
}

void copy_or_erase(Value& to, const Value& from, std::string_view key) {
  if (const Value* v = from.find(key)) {
    to[key] = *v;
  } else {
    to.erase(key);
  }
}

void reset_metadata(Value& meta) {
  for (std::string_view k : kServerMetadata) meta.erase(k);
  meta.erase("finalizers");
  meta.erase("ownerReferences");
}

Value translate_target_ref(const Host& host, const std::string& vns, const Value& ref) {
  Value out = ref;
  if (str_of(ref, "kind") != "Pod") return out;
  std::string ns = str_of(ref, "namespace");
  out["name"] = host.name(ns.empty() ? vns : ns, str_of(ref, "name"));
  out["namespace"] = host.host_namespace();
  out.erase("uid");
  out.erase("resourceVersion");
  return out;
}

}  // namespace

bool parse_from_virtual(std::string_view json, std::vector<VirtualMapping>* out, std::string* why) {
  auto list = vc::json::parse(json);
  if (!list || !list->is_array()) {
    *why = "mapServices.fromVirtual is not a list of {from, to} objects";
    return false;
  }
  std::set<std::string> seen;
  for (const Value& item : list->items()) {
    std::string from = str_of(item, "from"), to = str_of(item, "to");
    size_t slash = from.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == from.size() ||
        from.find('/', slash + 1) != std::string::npos) {
      *why = "mapServices.fromVirtual entry from \"" + from +
             "\" is not of the form virtualNamespace/name (a virtual Service is always namespaced)";
      return false;
    }
    if (to.empty() || to.find('/') != std::string::npos) {
      *why = "mapServices.fromVirtual entry to \"" + to +
             "\" is not a bare Service name (it is created in the vcluster's host namespace)";
      return false;
    }
    if (!seen.insert(to).second) {
      *why = "mapServices.fromVirtual names host Service \"" + to + "\" twice; a host Service has one source";
      return false;
    }
    out->push_back({from.substr(0, slash), from.substr(slash + 1), to});
  }
  return true;
}

bool parse_cidr(std::string_view text, Cidr* out) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  std::string ip(text.substr(0, slash)), len(text.substr(slash + 1));
  if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit)) return false;
  Cidr c;
  c.text = std::string(text);
  c.prefix = std::stoi(len);
  if (inet_pton(AF_INET, ip.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    if (c.prefix > 32) return false;
  } else if (inet_pton(AF_INET6, ip.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    if (c.prefix > 128) return false;
  } else {
    return false;
  }
  *out = c;
  return true;
}

bool Cidr::contains(std::string_view ip) const {
  unsigned char a[16] = {};
  std::string s(ip);
  int fam = inet_pton(AF_INET, s.c_str(), a) == 1    ? AF_INET
            : inet_pton(AF_INET6, s.c_str(), a) == 1 ? AF_INET6
                                                     : 0;
  if (fam == 0 || fam != family) return false;
  int full = prefix / 8, rest = prefix % 8;
  for (int i = 0; i < full; i++)
    if (a[i] != addr[i]) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (addr[full] & mask);
}

const Cidr* denied_range(const std::vector<Cidr>& denied, std::string_view ip) {
  for (const Cidr& c : denied)
    if (c.contains(ip)) return &c;
  return nullptr;
}

Config read_config(const Host& host) {
  Config cfg;
  cfg.services_enabled = parse_bool(host.config("sync.services.enabled"), true);
  cfg.endpoints_enabled = parse_bool(host.config("sync.endpoints.enabled"), true);
  for (const char* always : {"127.0.0.0/8", "169.254.0.0/16", "::1/128", "fe80::/10"}) {
    Cidr c;
    parse_cidr(always, &c);
    cfg.denied.push_back(c);
  }
  if (auto raw = host.config("sync.endpoints.deniedCIDRs"); raw && !raw->empty()) {
    auto list = vc::json::parse(*raw);
    if (list && list->is_array()) {
      for (const Value& item : list->items()) {
        Cidr c;
        if (!item.is_string() || !parse_cidr(item.as_string(), &c)) {
          cfg.error = "sync.endpoints.deniedCIDRs: " +
                      (item.is_string() ? "\"" + item.as_string() + "\"" : std::string("an entry")) +
                      " is not an address range like 10.96.0.0/16";
          break;
        }
        cfg.denied.push_back(c);
      }
    }
  }
  // The core declares mapServices.*; every plugin may read the core's keys (docs/plugin-abi.md §5).
  if (auto raw = host.config("mapServices.fromVirtual"); raw && !raw->empty()) {
    if (!parse_from_virtual(*raw, &cfg.from_virtual, &cfg.error)) cfg.from_virtual.clear();
  }
  if (auto raw = host.config("mapServices.fromHost"); raw && !raw->empty() && cfg.error.empty()) {
    if (!parse_from_host(*raw, host.host_namespace(), &cfg.from_host, &cfg.error)) cfg.from_host.clear();
  }
  return cfg;
}

namespace {
// A namespace or object name as the API server accepts it in a Service's place: an RFC 1123 label.
bool valid_label(std::string_view n) {
  if (n.empty() || n.size() > 63 || n.front() == '-' || n.back() == '-') return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}
}  // namespace

bool parse_from_host(std::string_view json, const std::string& host_ns, std::vector<HostMapping>* out,
                     std::string* why) {
  auto list = vc::json::parse(json);
  if (!list || !list->is_array()) {
    *why = "mapServices.fromHost is not a list of {from, to} objects";
    return false;
  }
  std::set<std::string> seen;
  for (const Value& item : list->items()) {
    std::string from = str_of(item, "from"), to = str_of(item, "to");
    HostMapping m;
    size_t slash = from.find('/');
    if (slash == std::string::npos) {
      m.from_ns = host_ns;  // vcluster's default: the vcluster's own host namespace
      m.from_name = from;
    } else {
      m.from_ns = from.substr(0, slash);
      m.from_name = from.substr(slash + 1);
    }
    if (!valid_label(m.from_ns) || !valid_label(m.from_name)) {
      *why = "mapServices.fromHost entry from \"" + from +
             "\" is not of the form hostNamespace/name (or a bare name in the vcluster's host namespace)";
      return false;
    }
    size_t tslash = to.find('/');
    if (tslash == std::string::npos || !valid_label(to.substr(0, tslash)) ||
        !valid_label(to.substr(tslash + 1))) {
      *why = "mapServices.fromHost entry to \"" + to +
             "\" is not of the form virtualNamespace/name (the virtual Service it becomes)";
      return false;
    }
    m.to_ns = to.substr(0, tslash);
    m.to_name = to.substr(tslash + 1);
    if (!seen.insert(to).second) {
      *why =
          "mapServices.fromHost names virtual Service \"" + to + "\" twice; a virtual Service has one source";
      return false;
    }
    out->push_back(std::move(m));
  }
  return true;
}

bool made_from_host(const Value& obj, const HostMapping* m) {
  const Value& meta = field(obj, "metadata");
  if (str_of(field(meta, "labels"), kControlledBy) != "vcluster") return false;
  std::string from = str_of(field(meta, "annotations"), kMappedFromHost);
  if (from.empty()) return false;
  return m == nullptr || from == m->from_ns + "/" + m->from_name;
}

namespace {
// The metadata every object a fromHost mapping makes carries.
Value& from_host_metadata(Value& obj, const HostMapping& m, std::string_view kind) {
  if (!obj.is_object()) obj = Value::object();
  obj["apiVersion"] = "v1";
  obj["kind"] = kind;
  Value& meta = obj["metadata"];
  meta["name"] = m.to_name;
  meta["namespace"] = m.to_ns;
  meta["labels"][kControlledBy] = "vcluster";
  meta["annotations"][kMappedFromHost] = m.from_ns + "/" + m.from_name;
  return obj;
}
}  // namespace

Value translate_from_host_service(const HostMapping& m, const Value& hsvc, const Value* current) {
  Value v = current ? *current : Value::object();
  from_host_metadata(v, m, "Service");
  Value& spec = v["spec"];
  spec["clusterIP"] = "None";
  Value ports = Value::array();
  for (const Value& p : field(field(hsvc, "spec"), "ports").items()) ports.push_back(without_node_port(p));
  if (ports.empty()) {
    spec.erase("ports");
  } else {
    spec["ports"] = std::move(ports);
  }
  spec.erase("selector");
  return v;
}

Value translate_from_host_endpoints(const HostMapping& m, const Value& hsvc, const Value* current) {
  Value e = current ? *current : Value::object();
  from_host_metadata(e, m, "Endpoints");
  const Value& hspec = field(hsvc, "spec");
  Value subset = Value::object();
  Value addr = Value::object();
  addr["ip"] = str_of(hspec, "clusterIP");
  subset["addresses"].push_back(std::move(addr));
  // vcluster's convertPorts: the Service's port numbers, since the address is the Service's ClusterIP.
  for (const Value& p : field(hspec, "ports").items()) {
    Value ep = Value::object();
    if (const Value* n = p.find("name"); n && !n->string_or("").empty()) ep["name"] = *n;
    ep["port"] = field(p, "port");
    ep["protocol"] = field(p, "protocol").string_or("TCP");
    if (const Value* a = p.find("appProtocol")) ep["appProtocol"] = *a;
    subset["ports"].push_back(std::move(ep));
  }
  Value subsets = Value::array();
  subsets.push_back(std::move(subset));
  e["subsets"] = std::move(subsets);
  return e;
}

bool has_selector(const Value& svc) {
  // An empty map selects nothing in Kubernetes' Service semantics either: the API server drops it, and
  // the endpoints controller treats a Service without selector entries as selector-less.
  return !field(field(svc, "spec"), "selector").empty();
}

bool controlled_by_other(const Value& obj) {
  return !field(field(field(obj, "metadata"), "labels"), kControlledBy).string_or("").empty();
}

Value translate_labels(const Host& host, const Value& vobj, const Value* keep_from) {
  Value out = Value::object();
  for (const auto& [k, v] : field(field(vobj, "metadata"), "labels").members()) out[host.label_key(k)] = v;
  if (keep_from != nullptr) {
    if (const Value* cb = keep_from->find(kControlledBy)) out[kControlledBy] = *cb;
  }
  out[kManagedBy] = host.cluster_name();
  out[kNamespaceLabel] = str_of(field(vobj, "metadata"), "namespace");
  return out;
}

Value translate_annotations(const Value& vobj, const Value* current,
                            const std::vector<std::string_view>& excluded) {
  auto is_excluded = [&](std::string_view k) {
    return bookkeeping_annotation(k) || std::find(excluded.begin(), excluded.end(), k) != excluded.end();
  };
  const Value& meta = field(vobj, "metadata");
  Value out = Value::object();
  std::vector<std::string> managed;
  for (const auto& [k, v] : field(meta, "annotations").members()) {
    if (is_excluded(k)) continue;
    out[k] = v;
    managed.push_back(k);
  }
  if (current != nullptr) {
    std::set<std::string> previously;
    std::string_view list = field(*current, kManagedAnnotations).string_or("");
    while (!list.empty()) {
      size_t nl = list.find('\n');
      previously.insert(std::string(list.substr(0, nl)));
      list = nl == std::string_view::npos ? std::string_view() : list.substr(nl + 1);
    }
    for (const auto& [k, v] : current->members()) {
      if (is_excluded(k)) {
        // Host-set values of excluded keys are kept; the translator overwrites its own below.
        if (!v.string_or("").empty() && !out.contains(k)) out[k] = v;
        continue;
      }
      if (out.contains(k) || previously.count(k)) continue;  // virtual wins, or a removal propagates
      out[k] = v;                                            // host-only annotations survive
    }
  }
  std::sort(managed.begin(), managed.end());
  if (managed.empty()) {
    out.erase(kManagedAnnotations);
  } else {
    std::string joined;
    for (size_t i = 0; i < managed.size(); i++) joined += (i ? "\n" : "") + managed[i];
    out[kManagedAnnotations] = joined;
  }
  out[kObjectName] = str_of(meta, "name");
  out[kObjectUid] = str_of(meta, "uid");
  out[kObjectNamespace] = str_of(meta, "namespace");
  return out;
}

Value translate_selector(const Host& host, const Value& selector, const std::string& vns) {
  Value out = Value::object();
  for (const auto& [k, v] : selector.members()) out[host.label_key(k)] = v;
  out[kManagedBy] = host.cluster_name();
  out[kNamespaceLabel] = vns;
  return out;
}

bool has_allocations(const Value& vsvc) {
  const Value& spec = field(vsvc, "spec");
  std::string ip = str_of(spec, "clusterIP");
  if (!ip.empty() && ip != "None") return true;
  if (field(spec, "healthCheckNodePort").as_int64(0) != 0) return true;
  for (const Value& p : field(spec, "ports").items()) {
    if (field(p, "nodePort").as_int64(0) != 0) return true;
  }
  return false;
}

Value translate_service_create(const Host& host, const Value& vsvc, Allocation alloc) {
  Value h = vsvc;
  const std::string vns = str_of(field(vsvc, "metadata"), "namespace");
  const std::string vname = str_of(field(vsvc, "metadata"), "name");
  Value& meta = h["metadata"];
  reset_metadata(meta);
  meta["name"] = host.name(vns, vname);
  meta["namespace"] = host.host_namespace();
  meta["labels"] = translate_labels(host, vsvc, nullptr);
  meta["annotations"] = translate_annotations(vsvc, nullptr, {kRancherPublicEndpoints});
  h.erase("status");

  Value& spec = h["spec"];
  if (has_selector(vsvc)) {
    spec["selector"] = translate_selector(host, field(field(vsvc, "spec"), "selector"), vns);
  } else {
    spec.erase("selector");
  }
  if (alloc == Allocation::kHostAllocates) {
    // A headless Service stays headless: "None" is not an allocation but the tenant's choice (§4.2).
    if (str_of(spec, "clusterIP") != "None") spec.erase("clusterIP");
    spec.erase("clusterIPs");
    spec.erase("ipFamilies");
    spec.erase("ipFamilyPolicy");
    spec.erase("healthCheckNodePort");
    if (Value* ports = spec.find("ports"); ports && ports->is_array()) {
      for (Value& p : *ports->array_ptr()) p.erase("nodePort");
    }
  }
  return h;
}

Value translate_service_update(const Host& host, const Value& vsvc, const Value& hsvc) {
  Value h = hsvc;
  const Value& vmeta = field(vsvc, "metadata");
  const Value& hmeta = field(hsvc, "metadata");
  Value& meta = h["metadata"];
  meta["labels"] = translate_labels(host, vsvc, hmeta.find("labels"));
  meta["annotations"] = translate_annotations(vsvc, hmeta.find("annotations"), {kRancherPublicEndpoints});

  const Value& vspec = field(vsvc, "spec");
  const Value& hspec = field(hsvc, "spec");
  Value& spec = h["spec"];
  for (std::string_view k :
       {"type", "externalName", "externalTrafficPolicy", "sessionAffinity", "sessionAffinityConfig",
        "loadBalancerSourceRanges", "publishNotReadyAddresses"}) {
    copy_or_erase(spec, vspec, k);
  }
  if (has_selector(vsvc)) {
    spec["selector"] = translate_selector(host, field(vspec, "selector"), str_of(vmeta, "namespace"));
  } else {
    spec.erase("selector");
  }

  const std::string type = type_of(vspec);
  if (type == "ExternalName") {
    // An ExternalName Service has no ClusterIP; the API server refuses one that keeps it.
    spec.erase("clusterIP");
    spec.erase("clusterIPs");
    spec.erase("ipFamilies");
    spec.erase("ipFamilyPolicy");
  }
  // The host allocated the nodePorts: a port that stays keeps its host nodePort; a new one gets none, so the
  // host allocates it and back-sync carries it to the virtual Service. Forwarding the virtual cluster's own
  // allocation would collide with the host's other Services.
  Value ports = Value::array();
  for (const Value& vp : field(vspec, "ports").items()) {
    Value p = without_node_port(vp);
    if (allocates_node_ports(type)) {
      for (const Value& hp : field(hspec, "ports").items()) {
        if (same_port(vp, hp) && field(hp, "nodePort").as_int64(0) != 0) {
          p["nodePort"] = *hp.find("nodePort");
          break;
        }
      }
    }
    ports.push_back(std::move(p));
  }
  if (ports.empty()) {
    spec.erase("ports");
  } else {
    spec["ports"] = std::move(ports);
  }
  // A health-check port exists only for LoadBalancer Services with the Local traffic policy; the host's
  // stays while that holds, and the API server refuses it otherwise.
  if (!(type == "LoadBalancer" && str_of(vspec, "externalTrafficPolicy") == "Local")) {
    spec.erase("healthCheckNodePort");
  }
  return h;
}

Value back_sync_service(const Value& vsvc, const Value& hsvc) {
  Value v = vsvc;
  const Value& hspec = field(hsvc, "spec");
  Value& spec = v["spec"];
  copy_or_erase(spec, hspec, "externalIPs");
  copy_or_erase(spec, hspec, "loadBalancerIP");
  if (type_of(spec) == type_of(hspec) &&
      ports_equal_but_node_ports(field(spec, "ports"), field(hspec, "ports"))) {
    copy_or_erase(spec, hspec, "ports");
  }
  if (const Value* st = hsvc.find("status")) v["status"] = *st;
  return v;
}

std::optional<std::string> cluster_ip_mismatch(const Value& vsvc, const Value& hsvc) {
  std::string v = str_of(field(vsvc, "spec"), "clusterIP");
  std::string h = str_of(field(hsvc, "spec"), "clusterIP");
  if (v.empty() || h.empty() || v == h) return std::nullopt;
  return h;
}

Value restored_object(const Value& obj) {
  Value v = obj;
  Value& meta = v["metadata"];
  for (std::string_view k : kServerMetadata) meta.erase(k);
  v.erase("status");
  return v;
}

Value restored_virtual_service(const Value& vsvc) {
  return restored_object(vsvc);
}

Value recreated_virtual_service(const Value& vsvc, const Value& hsvc) {
  Value v = restored_virtual_service(vsvc);
  const Value& hspec = field(hsvc, "spec");
  Value& spec = v["spec"];
  spec["clusterIP"] = str_of(hspec, "clusterIP");
  if (const Value* ips = hspec.find("clusterIPs")) {
    spec["clusterIPs"] = *ips;
  } else {
    spec.erase("clusterIPs");
  }
  // The families must describe the IPs; the host's do.
  copy_or_erase(spec, hspec, "ipFamilies");
  copy_or_erase(spec, hspec, "ipFamilyPolicy");
  return v;
}

Value translate_endpoints(const Host& host, const Value& veps, const Value* current) {
  const Value& vmeta = field(veps, "metadata");
  const std::string vns = str_of(vmeta, "namespace");
  Value h;
  const Value* cur_meta = current ? current->find("metadata") : nullptr;
  if (current != nullptr) {
    h = *current;
  } else {
    h = Value::object();
    h["apiVersion"] = "v1";
    h["kind"] = "Endpoints";
    h["metadata"]["name"] = host.name(vns, str_of(vmeta, "name"));
    h["metadata"]["namespace"] = host.host_namespace();
  }
  Value& meta = h["metadata"];
  meta["labels"] = translate_labels(host, veps, cur_meta ? cur_meta->find("labels") : nullptr);
  meta["annotations"] =
      translate_annotations(veps, cur_meta ? cur_meta->find("annotations") : nullptr, {kLeaderAnnotation});
  Value subsets = Value::array();
  for (const Value& vs : field(veps, "subsets").items()) {
    Value s = vs;
    for (std::string_view list : {"addresses", "notReadyAddresses"}) {
      Value* addrs = s.find(list);
      if (addrs == nullptr || !addrs->is_array()) continue;
      for (Value& a : *addrs->array_ptr()) {
        if (const Value* ref = a.find("targetRef")) {
          Value translated = translate_target_ref(host, vns, *ref);
          a["targetRef"] = std::move(translated);
        }
      }
    }
    subsets.push_back(std::move(s));
  }
  if (subsets.empty()) {
    h.erase("subsets");
  } else {
    h["subsets"] = std::move(subsets);
  }
  return h;
}

Value translate_mapped_service(const Host& host, const VirtualMapping& m, const Value& vsvc,
                               const Value* current) {
  Value h;
  if (current != nullptr) {
    h = *current;
  } else {
    h = Value::object();
    h["apiVersion"] = "v1";
    h["kind"] = "Service";
    h["metadata"]["name"] = m.to;
    h["metadata"]["namespace"] = host.host_namespace();
  }
  // controlled-by tells the regular syncers (ours and vcluster's) to leave the Service alone; managed-by
  // puts it in this plugin's cache of host Services, so it can be compared and cleaned up. It carries no
  // object-name annotation, so the engine never takes it for the translation of a virtual Service.
  Value& labels = h["metadata"]["labels"];
  labels[kControlledBy] = "vcluster";
  labels[kManagedBy] = host.cluster_name();
  const Value& vspec = field(vsvc, "spec");
  Value& spec = h["spec"];
  spec["type"] = "ClusterIP";
  if (str_of(vspec, "clusterIP") == "None") spec["clusterIP"] = "None";
  Value ports = Value::array();
  for (const Value& p : field(vspec, "ports").items()) ports.push_back(without_node_port(p));
  if (ports.empty()) {
    spec.erase("ports");
  } else {
    spec["ports"] = std::move(ports);
  }
  if (has_selector(vsvc)) {
    spec["selector"] = translate_selector(host, field(vspec, "selector"), m.from_ns);
  } else {
    spec.erase("selector");
  }
  return h;
}

std::string valid_range_from_error(std::string_view message) {
  constexpr std::string_view kMarker = "The range of valid IPs is ";
  size_t at = message.find(kMarker);
  if (at == std::string_view::npos) return "";
  size_t start = at + kMarker.size();
  size_t end = start;
  while (end < message.size() && (std::isxdigit(static_cast<unsigned char>(message[end])) ||
                                  message[end] == '.' || message[end] == ':' || message[end] == '/')) {
    end++;
  }
  return std::string(message.substr(start, end - start));
}

namespace {

bool parse_ipv4(std::string_view s, uint32_t* out) {
  uint32_t v = 0;
  int parts = 0;
  while (!s.empty()) {
    size_t dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    if (part.empty() || part.size() > 3) return false;
    uint32_t n = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<uint32_t>(c - '0');
    }
    if (n > 255) return false;
    v = (v << 8) | n;
    parts++;
    if (dot == std::string_view::npos) break;
    s = s.substr(dot + 1);
    if (s.empty()) return false;
  }
  if (parts != 4) return false;
  *out = v;
  return true;
}

}  // namespace

bool ipv4_in_cidr(std::string_view ip, std::string_view cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) return false;
  uint32_t addr = 0, net = 0;
  if (!parse_ipv4(ip, &addr) || !parse_ipv4(cidr.substr(0, slash), &net)) return false;
  std::string_view bits_text = cidr.substr(slash + 1);
  if (bits_text.empty() || bits_text.size() > 2) return false;
  int bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9') return false;
    bits = bits * 10 + (c - '0');
  }
  if (bits > 32) return false;
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (addr & mask) == (net & mask);
}

}  // namespace vcp_services
