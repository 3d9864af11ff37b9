// Virtual → host translation of Services and Endpoints, and host → virtual back-sync of Services
// (vcluster-behaviour.md §2, §4). The functions here read nothing but their arguments and the naming
// services of the host table, so the golden tests pin their output exactly; the lifecycle decisions (the
// create with the virtual ClusterIP, the re-creation of the virtual Service) live in plugin.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host.hpp"
#include "json/json.hpp"

namespace vcp_services {

// The member named key, or a shared null: lets read-only walks chain through optional fields.
inline const vc::json::Value& field(const vc::json::Value& v, std::string_view key) {
  static const vc::json::Value kNull;
  const vc::json::Value* f = v.find(key);
  return f ? *f : kNull;
}

// The string member named key, or "" when it is missing or not a string.
inline std::string str_of(const vc::json::Value& v, std::string_view key) {
  return std::string(field(v, key).string_or(""));
}

// One `mapServices.fromVirtual` entry: virtual Service from_ns/from_name published as host Service `to`.
struct VirtualMapping {
  std::string from_ns, from_name, to;
};

// One `mapServices.fromHost` entry: host Service from_ns/from_name made visible in the virtual cluster as
// to_ns/to_name.
struct HostMapping {
  std::string from_ns, from_name, to_ns, to_name;
};

// The annotation that marks the virtual Service and Endpoints a fromHost mapping made, naming the host
// Service ("ns/name"): what lets the plugin remove them once the mapping is gone from the values.
inline constexpr std::string_view kMappedFromHost = "vcluster.loft.sh/mapped-from-host";

// The plugin's configuration keys, parsed once per hook from the engine's rendered values.
// An address range (IPv4 or IPv6) a selector-less Service's Endpoints may not point at on the host.
struct Cidr {
  std::string text;             // as configured, for messages
  unsigned char addr[16] = {};  // network address, IPv4 in the first 4 bytes
  int family = 0, prefix = 0;   // AF_INET or AF_INET6
  bool contains(std::string_view ip) const;
};
// Parses "10.96.0.0/16" (or "fd00::/108"); false for anything else.
bool parse_cidr(std::string_view text, Cidr* out);
// The first denied range that holds `ip`, or nullptr.
const Cidr* denied_range(const std::vector<Cidr>& denied, std::string_view ip);

struct Config {
  bool services_enabled = true;
  bool endpoints_enabled = true;
  // sync.endpoints.deniedCIDRs (the vcluster CLI and --host-service-cidr put the host's Service range there)
  // plus loopback and link-local, always: a tenant's selector-less Service must not aim a host Service at
  // the host API server, the node's metadata endpoint or another tenant's Service (CVE-2021-25740's shape).
  std::vector<Cidr> denied;
  std::vector<VirtualMapping> from_virtual;
  std::vector<HostMapping> from_host;
  std::string error;  // a sentence naming the malformed entry, when parsing failed
};

// Parses the values the engine renders for our keys (see the table in plugin.cpp) and, when the engine
// lets the plugin read it, the core's `mapServices.fromVirtual`.
Config read_config(const Host& host);

// Parses the JSON list of {from, to} objects of `mapServices.fromVirtual` (§4.5: `from` is ns/name, `to`
// a bare name). Returns false with a sentence in *why for a malformed entry.
bool parse_from_virtual(std::string_view json, std::vector<VirtualMapping>* out, std::string* why);

// Parses the JSON list of {from, to} objects of `mapServices.fromHost` (§4.5 parseMapping: `from` is
// hostNamespace/name or a bare name in `host_ns`, the vcluster's host namespace; `to` is
// virtualNamespace/name). Returns false with a sentence in *why for a malformed entry.
bool parse_from_host(std::string_view json, const std::string& host_ns, std::vector<HostMapping>* out,
                     std::string* why);

// True when a virtual object was made by mapping `m` (controlled-by vcluster and our annotation naming
// its source), or, with `m` null, by any fromHost mapping.
bool made_from_host(const vc::json::Value& obj, const HostMapping* m);

// The virtual Service for host Service `hsvc` under mapping `m` (§4.5): headless, the host Service's ports
// without nodePorts, labelled controlled-by so no syncer copies it back to the host. `current` is the
// existing virtual Service or null; its server-set fields are kept.
vc::json::Value translate_from_host_service(const HostMapping& m, const vc::json::Value& hsvc,
                                            const vc::json::Value* current);

// The virtual Endpoints of that Service: one address, the host Service's ClusterIP, with its ports (pods
// reach the host Service through kube-proxy at that IP and the Service's own port numbers).
vc::json::Value translate_from_host_endpoints(const HostMapping& m, const vc::json::Value& hsvc,
                                              const vc::json::Value* current);

// True when a Service has a label selector (a selector-less Service gets its Endpoints from the tenant).
bool has_selector(const vc::json::Value& svc);

// True when the object carries a non-empty `vcluster.loft.sh/controlled-by` label: someone else (a
// mapServices syncer) manages it, and the normal syncers leave it alone (§2.4).
bool controlled_by_other(const vc::json::Value& obj);

// Host labels for a namespaced object (§2.2): every virtual key translated, plus managed-by and namespace.
// `keep_from` (the current host labels) contributes only controlled-by.
vc::json::Value translate_labels(const Host& host, const vc::json::Value& vobj,
                                 const vc::json::Value* keep_from);

// Host annotations (§2.1 merge). `current` is the host object's annotations (null on create); `excluded`
// lists the resource's own exclusions on top of the bookkeeping keys.
vc::json::Value translate_annotations(const vc::json::Value& vobj, const vc::json::Value* current,
                                      const std::vector<std::string_view>& excluded);

// The host selector of a Service selector map (§2.3): keys translated, plus managed-by and namespace, so
// that it matches the host pods the pods plugin created from the virtual pods it selects.
vc::json::Value translate_selector(const Host& host, const vc::json::Value& selector, const std::string& vns);

// How much of what the virtual API server allocated a host create asks for.
enum class Allocation {
  // clusterIP(s) with their families, nodePorts and healthCheckNodePort as the virtual Service has them,
  // so that both sides show the same values and the virtual Service need not be re-created.
  kRequestVirtual,
  // None of them: the host allocates, and the values flow back (§4.2, the controller's create).
  kHostAllocates
};

// True when the virtual Service holds anything kRequestVirtual would ask the host for.
bool has_allocations(const vc::json::Value& vsvc);

// The host Service to create for a virtual one.
vc::json::Value translate_service_create(const Host& host, const vc::json::Value& vsvc, Allocation alloc);

// The host Service after a change of the virtual one: the current host Service with the fields the tenant
// controls copied over (§4.2 translateUpdate) and what the host allocated (clusterIPs, nodePorts,
// healthCheckNodePort) kept, so that an unchanged virtual Service gives back exactly the host Service.
vc::json::Value translate_service_update(const Host& host, const vc::json::Value& vsvc,
                                         const vc::json::Value& hsvc);

// The virtual Service with what flows back from the host (§4.2 translateUpdateBackwards): externalIPs,
// loadBalancerIP, the host's nodePorts when both sides declare the same ports, and the whole status. The
// ClusterIP is not touched here: it is immutable, so a mismatch takes the re-create flow in plugin.cpp.
vc::json::Value back_sync_service(const vc::json::Value& vsvc, const vc::json::Value& hsvc);

// The ClusterIP the virtual Service should have: the host's when the two differ and both are real IPs or
// "None", nullopt when they already agree or there is nothing to compare (ExternalName, not allocated yet).
std::optional<std::string> cluster_ip_mismatch(const vc::json::Value& vsvc, const vc::json::Value& hsvc);

// The virtual Service to create in place of `vsvc` so that it carries the host's ClusterIPs: the same
// object without its server-set metadata and status, with the host's clusterIP, clusterIPs and ipFamilies.
vc::json::Value recreated_virtual_service(const vc::json::Value& vsvc, const vc::json::Value& hsvc);

// The virtual Service as it was (server-set metadata and status removed): what goes back when the virtual
// API server refuses the host's ClusterIP.
vc::json::Value restored_virtual_service(const vc::json::Value& vsvc);

// An object without its server-set metadata and status, ready to be created again.
vc::json::Value restored_object(const vc::json::Value& obj);

// The host Endpoints for the virtual Endpoints of a selector-less Service (§4.4); `current` is the host
// object or null.
vc::json::Value translate_endpoints(const Host& host, const vc::json::Value& veps,
                                    const vc::json::Value* current);

// The host Service published for `mapServices.fromVirtual` (§4.5): named `to` in the host namespace, the
// source's ports (nodePorts stripped) and translated selector, headless when the source is; `current` is the
// existing host Service or null, whose allocated fields are kept.
vc::json::Value translate_mapped_service(const Host& host, const VirtualMapping& m,
                                         const vc::json::Value& vsvc, const vc::json::Value* current);

// Parses "The range of valid IPs is <cidr>" out of an API server's refusal of a ClusterIP, or "".
std::string valid_range_from_error(std::string_view message);

// True when IPv4 address `ip` lies in IPv4 CIDR `cidr`; false when either does not parse.
bool ipv4_in_cidr(std::string_view ip, std::string_view cidr);

}  // namespace vcp_services
