// vcp-services: the Services and Endpoints sync plugin. Virtual Services become host Services with
// translated selectors, so that they select the host pods the pods plugin creates; what the host allocates
// (ClusterIP, nodePorts) and the load-balancer status flow back (vcluster-behaviour.md §4). Endpoints of
// selector-less Services are copied to the host; the others are the host's endpoints controller's job.
//
// The ClusterIP must be the same on both sides, because pods run on the host network and reach Services by
// the IPs the virtual cluster shows them. vcluster gets there with an API proxy that creates the host
// Service first; this syncer has no proxy, so the plugin (1) creates the host Service asking for the virtual
// Service's ClusterIP and nodePorts, (2) lets the host allocate when it refuses them, and (3) replaces the
// virtual Service by one carrying the host's ClusterIP when the two still differ (a ClusterIP is
// immutable). Every step is a write submitted through the engine and read back on the key's next sync;
// no hook ever blocks.
#include <vcp/plugin.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host.hpp"
#include "json/json.hpp"
#include "translate.hpp"

namespace vcp_services {
namespace {

using vc::json::Value;
using Clock = std::chrono::steady_clock;

// Indexes into kResources; the engine passes them back in every hook.
enum : uint32_t { kServices = 0, kEndpoints = 1, kHostServices = 2, kNamespaces = 3 };

// How long a Service whose re-creation the virtual API server refused because another virtual Service
// holds the host's IP waits before the plugin tries again; meanwhile that other Service is normally moved
// to its own host IP, which frees this one.
constexpr std::chrono::seconds kRecreateHold{30};
constexpr uint64_t kTransientRetryMs = 1000;
// The virtual endpoints controller deletes the Endpoints of a Service it sees deleted, selector-less
// Services included, so a re-create can cost the tenant the Endpoints they wrote. The plugin keeps a copy
// for this long after the delete and puts it back if it goes.
constexpr std::chrono::seconds kEndpointsRescueWindow{60};

const vcp_resource kResources[] = {
    {sizeof(vcp_resource), "", "v1", "services", "Service", VCP_RES_NAMESPACED | VCP_RES_STATUS,
     VCP_ROLE_TO_HOST, VCP_NAME_NAMESPACED, ""},
    {sizeof(vcp_resource), "", "v1", "endpoints", "Endpoints", VCP_RES_NAMESPACED, VCP_ROLE_TO_HOST,
     VCP_NAME_NAMESPACED, ""},
    // mapServices.fromHost (ABI 1.4): host Services of the namespaces the mappings name, read-only; the
    // engine reconciles their keys, and the plugin writes the virtual Services and Endpoints they become.
    {sizeof(vcp_resource), "", "v1", "services", "Service", VCP_RES_NAMESPACED | VCP_RES_HOST_NAMESPACES,
     VCP_ROLE_WATCH_HOST, VCP_NAME_SAME, ""},
    // The virtual namespaces a fromHost target may need created.
    {sizeof(vcp_resource), "", "v1", "namespaces", "Namespace", 0, VCP_ROLE_WATCH_VIRTUAL, VCP_NAME_SAME, ""},
};

const vcp_config_key kConfigKeys[] = {
    {sizeof(vcp_config_key), "sync.services.enabled", VCP_CONF_BOOL, "true",
     "Whether virtual Services are synced to the host; when false the plugin leaves every Service alone.",
     nullptr},
    {sizeof(vcp_config_key), "sync.endpoints.enabled", VCP_CONF_BOOL, "true",
     "Whether the Endpoints of selector-less virtual Services are synced to the host.", nullptr},
    {sizeof(vcp_config_key), "sync.endpoints.deniedCIDRs", VCP_CONF_STRING_LIST, "[]",
     "Address ranges the Endpoints of a selector-less virtual Service may not point at on the host, besides "
     "loopback and link-local (always refused); the vcluster CLI adds the host's Service range "
     "(vcluster-syncer --host-service-cidr), so no tenant can aim a host Service at a host Service.",
     nullptr},
};

// The first create of a host Service, submitted by the plugin (not returned to the engine) so that a
// refusal of the virtual Service's allocations can be read and answered with a create that lets the host
// allocate.
struct CreateAttempt {
  uint64_t id = 0;
  std::string uid;  // the virtual Service the attempt was made for
};

// The replacement of a virtual Service by one with the host's ClusterIP: delete, then create; when the
// virtual API server refuses the IP, the original goes back.
struct Recreate {
  enum class Stage { kDeleting, kCreating, kRestoring };
  Stage stage = Stage::kDeleting;
  uint64_t id = 0;  // the submit in flight; 0 = submit this stage's write on the next sync
  Value desired;    // the virtual Service with the host's ClusterIP
  Value original;   // the virtual Service as it was
  std::string host_ip;
  bool old_gone = false;  // the watch reported the deletion of the original
};

// A re-created virtual Service whose original's DELETED watch event has not been seen yet. The engine's
// cache erases an object by name on that event, so when it arrives after the new Service was put in the
// cache, the cache briefly shows no Service; the host Service must survive that moment.
struct Settling {
  std::string old_uid, new_uid;
  bool old_gone = false;
};

// A copy of the tenant's Endpoints of a selector-less Service being re-created.
struct SavedEndpoints {
  Value endpoints;
  Clock::time_point until;
};

// A write to a `mapServices.fromVirtual` host Service in flight.
struct MappedOp {
  uint64_t id = 0;
  vcp_verb verb = VCP_VERB_CREATE;
};

// A write of a `mapServices.fromHost` mapping in flight: it wakes the key of the host Service it follows.
struct HostOp {
  uint64_t id = 0;
  std::string what;  // "creating virtual Service default/web", for the log
};

struct State {
  State(Host h, Config c) : host(h), cfg(std::move(c)) {}

  Host host;
  Config cfg;
  std::map<std::string, CreateAttempt> creates;  // "ns/name" of the virtual Service
  // "ns/name" → uid of the virtual Service whose host copy the engine creates without the virtual
  // allocations: the host refused them, or the name is taken (AlreadyExists), which the engine's own create
  // sorts out.
  std::map<std::string, std::string> engine_creates_for;
  std::map<std::string, Recreate> recreates;              // "ns/name"
  std::map<std::string, Settling> settling;               // "ns/name"
  std::map<std::string, SavedEndpoints> saved_endpoints;  // "ns/name"
  std::map<std::string, Clock::time_point> hold;          // "ns/name" → no re-create before this time
  // What the plugin learnt of the virtual cluster's Service range, from the range probe or a refused
  // re-create: the range itself when the API server named it, else only that host IPs fall outside it.
  std::string virtual_range;
  bool virtual_refuses_host_range = false;
  // The probe that asks the virtual API server for its range before the first re-create (see
  // probe_virtual_range): 0 before it is sent, its submit id while in flight; `probed` once answered.
  uint64_t probe_id = 0;
  bool probed = false;
  std::set<std::string> probe_waiters;         // "ns/name" of the Services waiting for its answer
  std::set<std::string> warned;                // "ns/name|uid|ip" mismatches already reported with an event
  std::map<std::string, MappedOp> mapped_ops;  // host Service name → write in flight
  std::set<std::string> mapped_foreign;        // host Service names held by someone else
  // mapServices.fromHost: writes in flight by the key ("ns/name") of the host Service that wakes, and the
  // complaints already logged (once each).
  std::map<std::string, std::vector<HostOp>> host_ops;
  std::set<std::string> host_warned;
};

std::string key_of(std::string_view ns, std::string_view name) {
  return std::string(ns) + "/" + std::string(name);
}

bool deleting(const Value& obj) {
  return obj.at({"metadata", "deletionTimestamp"}) != nullptr;
}

bool ok_status(int status) {
  return status >= 200 && status < 300;
}

// A refusal that a different request can avoid (invalid or forbidden), as opposed to one worth repeating
// as is (a server error, throttling, a broken connection).
bool refusal_status(int status) {
  return status >= 400 && status < 500 && status != 409 && status != 429;
}

void write(const Host& host, vcp_buf* out, const Value& v) {
  std::string s = vc::json::dump(v);
  host.api()->buf_clear(out);
  host.api()->buf_append(out, s.data(), s.size());
}

// The `message` of a Kubernetes Status body, or the body itself when it is not one.
std::string status_message(const std::string& body) {
  auto v = vc::json::parse(body);
  if (v) {
    std::string m = str_of(*v, "message");
    if (!m.empty()) return m;
  }
  return body;
}

std::optional<Value> parse_arg(vcp_str s) {
  if (s.len == 0) return std::nullopt;
  return vc::json::parse(std::string_view(s.ptr, s.len));
}

// --- mapServices.fromVirtual (§4.5) -----------------------------------------------------------------------

bool is_mapped_service(const Host& host, const Value& hsvc) {
  const Value& labels = field(field(hsvc, "metadata"), "labels");
  return str_of(labels, "vcluster.loft.sh/controlled-by") == "vcluster" &&
         str_of(labels, "vcluster.loft.sh/managed-by") == host.cluster_name() &&
         field(field(hsvc, "metadata"), "annotations").find("vcluster.loft.sh/object-name") == nullptr;
}

// Reads the result of the mapped Service's write in flight; returns true while it is still in flight.
bool mapped_in_flight(State& st, const std::string& to, std::string_view vns, std::string_view vname) {
  auto it = st.mapped_ops.find(to);
  if (it == st.mapped_ops.end()) return false;
  std::string body;
  int status = st.host.take_result(it->second.id, &body);
  if (status == 0) return true;
  vcp_verb verb = it->second.verb;
  st.mapped_ops.erase(it);
  if (verb == VCP_VERB_CREATE && status == 409) {
    // The host Service exists but is not in our cache, so it lacks our labels: a user's Service, which
    // vcluster leaves alone too.
    st.mapped_foreign.insert(to);
    if (!vname.empty()) {
      st.host.event(VCP_SIDE_VIRTUAL, kServices, vns, vname, "Warning", "SyncError",
                    "mapServices.fromVirtual cannot publish this Service as host Service " + to +
                        ": a host Service of that name exists and is not managed by vcluster " +
                        st.host.cluster_name());
    }
  } else if (!ok_status(status) && status != 404) {
    st.host.log(VCP_LOG_WARN, "writing mapped host Service " + to + " answered HTTP " +
                                  std::to_string(status) + ": " + status_message(body));
  }
  return false;
}

void delete_mapped(State& st, const std::string& to) {
  const Host& host = st.host;
  if (mapped_in_flight(st, to, "", "")) return;
  auto cur = host.get(VCP_SIDE_HOST, kServices, host.host_namespace(), to);
  if (!cur || !is_mapped_service(host, *cur)) return;
  Value opts = Value::object();
  opts["apiVersion"] = "v1";
  opts["kind"] = "DeleteOptions";
  opts["preconditions"]["uid"] = str_of(field(*cur, "metadata"), "uid");
  uint64_t id = host.submit(VCP_SIDE_HOST, kServices, VCP_VERB_DELETE, host.host_namespace(), to, "",
                            vc::json::dump(opts), kServices, "", "");
  if (id != 0) st.mapped_ops[to] = {id, VCP_VERB_DELETE};
}

// Keeps the host Services that publish virtual Service vns/vname (mapServices.fromVirtual) like it.
void sync_mapped(State& st, const Value& vsvc, const std::string& vns, const std::string& vname) {
  const Host& host = st.host;
  for (const VirtualMapping& m : st.cfg.from_virtual) {
    if (m.from_ns != vns || m.from_name != vname) continue;
    if (mapped_in_flight(st, m.to, vns, vname) || st.mapped_foreign.count(m.to)) continue;
    auto cur = host.get(VCP_SIDE_HOST, kServices, host.host_namespace(), m.to);
    if (cur && !is_mapped_service(host, *cur)) {
      st.mapped_foreign.insert(m.to);
      continue;
    }
    Value desired = translate_mapped_service(host, m, vsvc, cur ? &*cur : nullptr);
    uint64_t id = 0;
    vcp_verb verb = VCP_VERB_CREATE;
    if (cur && (str_of(field(*cur, "spec"), "clusterIP") == "None") !=
                   (str_of(field(desired, "spec"), "clusterIP") == "None")) {
      // Headlessness lives in the immutable ClusterIP: delete, and the next sync creates it anew.
      delete_mapped(st, m.to);
      continue;
    }
    if (cur && desired == *cur) continue;
    if (cur) {
      verb = VCP_VERB_UPDATE;
      id = host.submit(VCP_SIDE_HOST, kServices, verb, host.host_namespace(), m.to, "",
                       vc::json::dump(desired), kServices, vns, vname);
    } else {
      id = host.submit(VCP_SIDE_HOST, kServices, verb, host.host_namespace(), "", "", vc::json::dump(desired),
                       kServices, vns, vname);
    }
    if (id != 0) st.mapped_ops[m.to] = {id, verb};
  }
}

void delete_mapped_of(State& st, const std::string& vns, const std::string& vname) {
  for (const VirtualMapping& m : st.cfg.from_virtual) {
    if (m.from_ns == vns && m.from_name == vname) delete_mapped(st, m.to);
  }
}

// --- mapServices.fromHost (§4.5) --------------------------------------------------------------------------

// Reads the answers of the writes woken on host Service key `key`. Returns 1 while some are in flight, -1
// when one failed (the key is retried with backoff), 0 when all are done.
int collect_host_ops(State& st, const std::string& key) {
  auto it = st.host_ops.find(key);
  if (it == st.host_ops.end()) return 0;
  bool failed = false;
  std::vector<HostOp> left;
  for (HostOp& op : it->second) {
    std::string body;
    int status = st.host.take_result(op.id, &body);
    if (status == 0) {
      left.push_back(std::move(op));
    } else if (!ok_status(status) && status != 404 && status != 409) {
      // 404 on a delete: gone already; 409: someone was faster (a cache lag); the next pass looks afresh.
      st.host.log(VCP_LOG_WARN, "mapServices.fromHost: " + op.what + " answered HTTP " +
                                    std::to_string(status) + ": " + status_message(body));
      failed = true;
    }
  }
  if (left.empty()) {
    st.host_ops.erase(it);
  } else {
    it->second = std::move(left);
    return 1;
  }
  return failed ? -1 : 0;
}

void host_op(State& st, const std::string& key, uint64_t id, std::string what) {
  if (id != 0) st.host_ops[key].push_back({id, std::move(what)});
}

void warn_once(State& st, const std::string& what) {
  if (st.host_warned.insert(what).second) st.host.log(VCP_LOG_WARN, "mapServices.fromHost: " + what);
}

// Deletes a virtual object (kServices or kEndpoints) a fromHost mapping made, only the one seen (uid).
void delete_from_host_object(State& st, uint32_t res, const Value& obj, const std::string& key) {
  const Value& meta = field(obj, "metadata");
  const std::string ns = str_of(meta, "namespace"), name = str_of(meta, "name");
  Value opts = Value::object();
  opts["apiVersion"] = "v1";
  opts["kind"] = "DeleteOptions";
  opts["preconditions"]["uid"] = str_of(meta, "uid");
  size_t slash = key.find('/');
  uint64_t id = st.host.submit(VCP_SIDE_VIRTUAL, res, VCP_VERB_DELETE, ns, name, "", vc::json::dump(opts),
                               kHostServices, key.substr(0, slash), key.substr(slash + 1));
  host_op(
      st, key, id,
      std::string("deleting virtual ") + (res == kServices ? "Service " : "Endpoints ") + key_of(ns, name));
}

// Brings the virtual Service and Endpoints of mapping `m` in line with host Service `hsvc` (null when it is
// gone): created (with their namespace) when missing, updated when they differ, deleted with the source.
void reconcile_from_host(State& st, const HostMapping& m, const Value* hsvc, const std::string& key) {
  const Host& host = st.host;
  const std::string to = key_of(m.to_ns, m.to_name);
  auto vsvc = host.get(VCP_SIDE_VIRTUAL, kServices, m.to_ns, m.to_name);
  auto veps = host.get(VCP_SIDE_VIRTUAL, kEndpoints, m.to_ns, m.to_name);
  const std::string ip = hsvc ? str_of(field(*hsvc, "spec"), "clusterIP") : std::string();
  const bool usable = hsvc && !deleting(*hsvc) && !ip.empty() && ip != "None";
  if (!usable) {
    if (hsvc && !deleting(*hsvc)) {
      // A headless source would need its Endpoints, which the plugin cannot read (the engine lets it read
      // host Services only outside the vcluster's namespace); an ExternalName one has nothing to point at.
      warn_once(st, "host Service " + key +
                        " has no ClusterIP (headless or ExternalName), so it is not made "
                        "visible as " +
                        to + "; map a Service with a ClusterIP");
    }
    if (vsvc && made_from_host(*vsvc, &m)) delete_from_host_object(st, kServices, *vsvc, key);
    if (veps && made_from_host(*veps, &m)) delete_from_host_object(st, kEndpoints, *veps, key);
    return;
  }
  if (vsvc && !controlled_by_other(*vsvc)) {
    // vcluster leaves a target it did not make alone (no controlled-by label), and so does the plugin.
    warn_once(st, "virtual Service " + to + " exists and was not made by vcluster, so host Service " + key +
                      " is not mapped onto it; delete it or choose another `to`");
    return;
  }
  if (!host.has(VCP_SIDE_VIRTUAL, kNamespaces, "", m.to_ns)) {
    Value ns = Value::object();
    ns["apiVersion"] = "v1";
    ns["kind"] = "Namespace";
    ns["metadata"]["name"] = m.to_ns;
    host_op(st, key,
            host.submit(VCP_SIDE_VIRTUAL, kNamespaces, VCP_VERB_CREATE, "", "", "", vc::json::dump(ns),
                        kHostServices, m.from_ns, m.from_name),
            "creating virtual namespace " + m.to_ns);
    return;  // the answer wakes this key, and the next pass creates the Service in it
  }
  if (vsvc && str_of(field(*vsvc, "spec"), "clusterIP") != "None") {
    // Made by a mapping but not headless (an older vcluster's, or edited): a ClusterIP is immutable.
    delete_from_host_object(st, kServices, *vsvc, key);
    return;
  }
  Value desired = translate_from_host_service(m, *hsvc, vsvc ? &*vsvc : nullptr);
  if (!vsvc) {
    host_op(st, key,
            host.submit(VCP_SIDE_VIRTUAL, kServices, VCP_VERB_CREATE, m.to_ns, "", "",
                        vc::json::dump(desired), kHostServices, m.from_ns, m.from_name),
            "creating virtual Service " + to);
  } else if (!(desired == *vsvc)) {
    host_op(st, key,
            host.submit(VCP_SIDE_VIRTUAL, kServices, VCP_VERB_UPDATE, m.to_ns, m.to_name, "",
                        vc::json::dump(desired), kHostServices, m.from_ns, m.from_name),
            "updating virtual Service " + to);
  }
  if (veps && !controlled_by_other(*veps)) {
    warn_once(st, "virtual Endpoints " + to + " exist and were not made by vcluster; left alone");
    return;
  }
  Value eps = translate_from_host_endpoints(m, *hsvc, veps ? &*veps : nullptr);
  if (!veps) {
    host_op(st, key,
            host.submit(VCP_SIDE_VIRTUAL, kEndpoints, VCP_VERB_CREATE, m.to_ns, "", "", vc::json::dump(eps),
                        kHostServices, m.from_ns, m.from_name),
            "creating virtual Endpoints " + to);
  } else if (!(eps == *veps)) {
    host_op(st, key,
            host.submit(VCP_SIDE_VIRTUAL, kEndpoints, VCP_VERB_UPDATE, m.to_ns, m.to_name, "",
                        vc::json::dump(eps), kHostServices, m.from_ns, m.from_name),
            "updating virtual Endpoints " + to);
  }
}

// on_sync of a host Service key (resource kHostServices): the engine reconciles these keys for us
// (VCP_RES_HOST_NAMESPACES), with the host Service as source, or none once it is gone.
vcp_status sync_from_host(State& st, const vcp_sync_args* args) {
  const std::string key = key_of(str(args->source_namespace), str(args->source_name));
  int pending = collect_host_ops(st, key);
  if (pending > 0) return VCP_WAIT;  // each answer wakes the key
  if (pending < 0) {
    st.host.set_error("a mapServices.fromHost write for host Service " + key + " failed (see the log)");
    return VCP_RETRY;
  }
  auto hsvc = parse_arg(args->source);
  for (const HostMapping& m : st.cfg.from_host) {
    if (key_of(m.from_ns, m.from_name) == key) reconcile_from_host(st, m, hsvc ? &*hsvc : nullptr, key);
  }
  return VCP_NO_CHANGE;
}

// A virtual Service or Endpoints event: wakes the host Service a mapping makes it from (so a tenant's edit
// or delete is undone), and deletes what a mapping that is gone from the values made.
void from_host_virtual_event(State& st, uint32_t res, const vcp_event* ev, const Value& obj) {
  const Value& meta = field(obj, "metadata");
  const std::string ns = str_of(meta, "namespace"), name = str_of(meta, "name");
  for (const HostMapping& m : st.cfg.from_host) {
    if (m.to_ns == ns && m.to_name == name) {
      st.host.enqueue(kHostServices, m.from_ns, m.from_name);
      return;
    }
  }
  if (ev->type == VCP_EVENT_DELETED || !made_from_host(obj, nullptr)) return;
  std::string from = str_of(field(meta, "annotations"), kMappedFromHost);
  if (from.find('/') == std::string::npos) return;
  delete_from_host_object(st, res, obj, from);
}

// --- The ClusterIP flow
// -------------------------------------------------------------------------------------

// Whether the virtual API server can be expected to accept `ip` as a ClusterIP, from what it said before.
bool virtual_can_hold(const State& st, const std::string& ip) {
  if (ip == "None") return true;
  if (!st.virtual_range.empty()) {
    uint32_t dots = 0;
    for (char c : st.virtual_range) dots += c == '.';
    if (dots == 3) return ipv4_in_cidr(ip, st.virtual_range);
  }
  return !st.virtual_refuses_host_range;
}

// An address no Kubernetes Service range uses (it is public unicast space), so that the virtual API server
// refuses it and names its range in the refusal; vcluster probes the host's range the same way (§4.1).
constexpr std::string_view kProbeIP = "4.4.4.4";

// Whether the plugin knows enough about the virtual cluster's Service range to re-create a Service. The
// first time a re-create is needed the plugin asks: a create of a Service with kProbeIP in namespace
// default, whose refusal names the range. Without that, a virtual cluster with a range of its own would
// lose one Service (deleted, then put back) before the plugin learnt that the host's IPs do not fit.
// Returns true once the answer is in; until then the key waits for it.
bool probe_virtual_range(State& st, const std::string& vns, const std::string& vname) {
  const Host& host = st.host;
  if (st.probed || !st.virtual_range.empty()) return true;
  st.probe_waiters.insert(key_of(vns, vname));
  if (st.probe_id == 0) {
    Value probe = Value::object();
    probe["apiVersion"] = "v1";
    probe["kind"] = "Service";
    probe["metadata"]["generateName"] = "vcluster-ip-range-probe-";
    probe["metadata"]["namespace"] = "default";
    // Should the range hold the address after all, the probe exists until deleted below: controlled-by
    // keeps it off the host meanwhile (§2.4).
    probe["metadata"]["labels"]["vcluster.loft.sh/controlled-by"] = "vcluster";
    probe["spec"]["clusterIP"] = kProbeIP;
    Value port = Value::object();
    port["port"] = 1;
    probe["spec"]["ports"].push_back(std::move(port));
    st.probe_id = host.submit(VCP_SIDE_VIRTUAL, kServices, VCP_VERB_CREATE, "default", "", "",
                              vc::json::dump(probe), kServices, vns, vname);
    if (st.probe_id == 0) {
      st.probed = true;  // no probe possible: learn from refusals instead
      return true;
    }
    return false;
  }
  std::string body;
  int status = host.take_result(st.probe_id, &body);
  if (status == 0) return false;  // in flight; the engine wakes the key that sent it
  st.probe_id = 0;
  st.probed = true;
  std::string msg = status_message(body);
  st.virtual_range = valid_range_from_error(msg);
  if (ok_status(status)) {
    // The range holds the probe's address after all: remove the probe; the range stays unknown.
    auto created = vc::json::parse(body);
    std::string name = created ? str_of(field(*created, "metadata"), "name") : std::string();
    if (!name.empty()) {
      host.submit(VCP_SIDE_VIRTUAL, kServices, VCP_VERB_DELETE, "default", name, "", "", kServices, vns,
                  vname);
    }
  }
  host.log(VCP_LOG_INFO, st.virtual_range.empty()
                             ? "the virtual API server did not name its Service range (HTTP " +
                                   std::to_string(status) + ": " + msg + ")"
                             : "the virtual API server allocates Service IPs from " + st.virtual_range);
  for (const std::string& k : st.probe_waiters) {
    size_t slash = k.find('/');
    host.enqueue(kServices, k.substr(0, slash), k.substr(slash + 1));
  }
  st.probe_waiters.clear();
  return true;
}

// Learns from the virtual API server's refusal of a ClusterIP whether host IPs are outside its range.
void learn_refusal(State& st, const std::string& key, const std::string& message) {
  std::string range = valid_range_from_error(message);
  if (!range.empty()) st.virtual_range = range;
  if (message.find("not in the valid range") != std::string::npos || !range.empty()) {
    st.virtual_refuses_host_range = true;
  } else {
    // Most likely another virtual Service holds the IP right now; give it time to move.
    st.hold[key] = Clock::now() + kRecreateHold;
  }
}

// Submits the write of the re-create's current stage. Returns false when the engine refused the submit.
bool submit_stage(State& st, Recreate& r, const std::string& vns, const std::string& vname) {
  const Host& host = st.host;
  if (r.stage == Recreate::Stage::kDeleting) {
    Value opts = Value::object();
    opts["apiVersion"] = "v1";
    opts["kind"] = "DeleteOptions";
    // Only the Service the plugin looked at: a newer one of the same name is not touched.
    opts["preconditions"]["uid"] = str_of(field(r.original, "metadata"), "uid");
    r.id = host.submit(VCP_SIDE_VIRTUAL, kServices, VCP_VERB_DELETE, vns, vname, "", vc::json::dump(opts),
                       kServices, vns, vname);
  } else {
    Value body = r.stage == Recreate::Stage::kCreating ? r.desired : r.original;
    body["metadata"].erase("uid");
    r.id = host.submit(VCP_SIDE_VIRTUAL, kServices, VCP_VERB_CREATE, vns, "", "", vc::json::dump(body),
                       kServices, vns, vname);
  }
  return r.id != 0;
}

// Ends a re-create whose create succeeded. Until the watch has reported the original's deletion, the
// engine's cache may still lose the new Service to that event, so the key is marked settling.
void finish_recreate(State& st, std::map<std::string, Recreate>::iterator it,
                     const std::string& created_body) {
  if (!it->second.old_gone) {
    auto created = vc::json::parse(created_body);
    st.settling[it->first] = {str_of(field(it->second.original, "metadata"), "uid"),
                              created ? str_of(field(*created, "metadata"), "uid") : std::string(), false};
  }
  st.recreates.erase(it);
}

// Advances a re-create of the virtual Service vns/vname, if one is under way. Returns true while it is.
bool drive_recreate(State& st, const std::string& vns, const std::string& vname) {
  const Host& host = st.host;
  const std::string key = key_of(vns, vname);
  auto it = st.recreates.find(key);
  if (it == st.recreates.end()) return false;
  Recreate& r = it->second;
  if (r.id == 0) {
    if (!submit_stage(st, r, vns, vname)) host.enqueue(kServices, vns, vname, kTransientRetryMs);
    return true;
  }
  std::string body;
  int status = host.take_result(r.id, &body);
  if (status == 0) return true;  // in flight; the engine wakes the key when it is done
  r.id = 0;
  const std::string msg = status_message(body);
  switch (r.stage) {
    case Recreate::Stage::kDeleting:
      if (ok_status(status)) {
        r.stage = Recreate::Stage::kCreating;
        if (!submit_stage(st, r, vns, vname)) host.enqueue(kServices, vns, vname, kTransientRetryMs);
        return true;
      }
      // 404: the tenant deleted the Service meanwhile, which must not be undone. 409 (a failed uid
      // precondition): it was replaced meanwhile. Anything else left it as it was. In every case the
      // plugin stops here, and the next sync looks afresh.
      host.log(VCP_LOG_WARN, "deleting virtual Service " + key +
                                 " to give it the host's ClusterIP answered HTTP " + std::to_string(status) +
                                 ": " + msg);
      st.recreates.erase(it);
      return false;
    case Recreate::Stage::kCreating:
      if (ok_status(status)) {
        host.log(VCP_LOG_INFO,
                 "re-created virtual Service " + key + " with the host's ClusterIP " + r.host_ip);
        finish_recreate(st, it, body);
        return false;
      }
      if (status == 409) {  // created by someone else since the delete: that one is theirs
        st.recreates.erase(it);
        return false;
      }
      if (refusal_status(status)) {
        host.log(VCP_LOG_WARN, "the virtual API server refused ClusterIP " + r.host_ip + " for Service " +
                                   key + " (HTTP " + std::to_string(status) + ": " + msg +
                                   "); putting the Service back as it was");
        learn_refusal(st, key, msg);
        r.stage = Recreate::Stage::kRestoring;
        if (!submit_stage(st, r, vns, vname)) host.enqueue(kServices, vns, vname, kTransientRetryMs);
        return true;
      }
      host.enqueue(kServices, vns, vname, kTransientRetryMs);  // transient: the same create again, later
      return true;
    case Recreate::Stage::kRestoring:
      if (ok_status(status)) {
        finish_recreate(st, it, body);
        return false;
      }
      if (status == 409) {
        st.recreates.erase(it);
        return false;
      }
      if (refusal_status(status)) {
        // The original cannot come back either (its IP was taken meanwhile): let the virtual cluster
        // allocate, and the next back-sync tries to align the IPs again.
        host.log(VCP_LOG_WARN, "restoring virtual Service " + key + " answered HTTP " +
                                   std::to_string(status) + ": " + msg +
                                   "; creating it with a ClusterIP of the virtual cluster's choice");
        Value& spec = r.original["spec"];
        if (str_of(spec, "clusterIP") != "None") {
          spec.erase("clusterIP");
          spec.erase("clusterIPs");
        }
      }
      host.enqueue(kServices, vns, vname, kTransientRetryMs);
      return true;
  }
  return false;
}

// True while the plugin replaces virtual Service `key`: its absence from the cache is the plugin's doing.
bool replacing(const State& st, const std::string& key) {
  return st.recreates.count(key) > 0 || st.settling.count(key) > 0;
}

// The name of another virtual Service that holds ClusterIP `ip`, or "".
std::string virtual_holder(const Host& host, const std::string& ip, const std::string& key) {
  std::string holder;
  host.list(VCP_SIDE_VIRTUAL, kServices, "", [&](std::string_view text) {
    auto svc = vc::json::parse(text);
    if (!svc) return false;
    const Value& meta = field(*svc, "metadata");
    std::string k = key_of(str_of(meta, "namespace"), str_of(meta, "name"));
    if (k != key && str_of(field(*svc, "spec"), "clusterIP") == ip) {
      holder = k;
      return true;
    }
    return false;
  });
  return holder;
}

// Starts replacing the virtual Service when its ClusterIP differs from the host's. Returns true when a
// re-create was started.
bool align_cluster_ip(State& st, const Value& vsvc, const Value& hsvc, const std::string& vns,
                      const std::string& vname) {
  const Host& host = st.host;
  auto host_ip = cluster_ip_mismatch(vsvc, hsvc);
  if (!host_ip) return false;
  const std::string key = key_of(vns, vname);
  const std::string vuid = str_of(field(vsvc, "metadata"), "uid");
  if (*host_ip != "None" && !probe_virtual_range(st, vns, vname)) return false;
  if (!virtual_can_hold(st, *host_ip)) {
    if (st.warned.insert(key + "|" + vuid + "|" + *host_ip).second) {
      std::string range = st.virtual_range.empty() ? std::string("its Service range") : st.virtual_range;
      host.event(VCP_SIDE_VIRTUAL, kServices, vns, vname, "Warning", "ClusterIPMismatch",
                 "the host Service has ClusterIP " + *host_ip +
                     ", which the virtual API server refuses (outside " + range +
                     "), so this Service keeps " + str_of(field(vsvc, "spec"), "clusterIP") +
                     " and pods cannot reach it by that IP; give the virtual API server the host's "
                     "--service-cluster-ip-range");
    }
    return false;
  }
  if (auto h = st.hold.find(key); h != st.hold.end()) {
    if (Clock::now() < h->second) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(h->second - Clock::now()).count();
      host.enqueue(kServices, vns, vname, static_cast<uint64_t>(left) + 1);
      return false;
    }
    st.hold.erase(h);
  }
  if (*host_ip != "None") {
    if (std::string holder = virtual_holder(host, *host_ip, key); !holder.empty()) {
      // That Service's own host copy could not get its IP, so it is about to be moved; its re-creation wakes
      // this key.
      size_t slash = holder.find('/');
      host.wait_for(VCP_SIDE_VIRTUAL, kServices, holder.substr(0, slash), holder.substr(slash + 1), kServices,
                    vns, vname);
      return false;
    }
  }
  Recreate r;
  r.original = restored_virtual_service(vsvc);
  r.original["metadata"]["uid"] = vuid;  // for the delete precondition; dropped from the create bodies
  r.desired = recreated_virtual_service(vsvc, hsvc);
  r.host_ip = *host_ip;
  host.log(VCP_LOG_INFO, "virtual Service " + key + " has ClusterIP " +
                             str_of(field(vsvc, "spec"), "clusterIP") + " and its host Service " + *host_ip +
                             "; re-creating the virtual Service with " + *host_ip);
  if (!has_selector(vsvc)) {
    if (auto eps = host.get(VCP_SIDE_VIRTUAL, kEndpoints, vns, vname)) {
      st.saved_endpoints[key] = {restored_object(*eps), Clock::now() + kEndpointsRescueWindow};
    }
  }
  Recreate& slot = st.recreates[key] = std::move(r);
  if (!submit_stage(st, slot, vns, vname)) {
    st.recreates.erase(key);
    host.set_error("the engine refused to submit the delete of virtual Service " + key);
    return false;
  }
  return true;
}

// --- Services
// -----------------------------------------------------------------------------------------------

vcp_status create_service(State& st, const vcp_sync_args* args, const Value& vsvc, vcp_buf* out) {
  const Host& host = st.host;
  const std::string vns = str(args->source_namespace), vname = str(args->source_name);
  const std::string key = key_of(vns, vname);
  const std::string vuid = str_of(field(vsvc, "metadata"), "uid");
  if (auto it = st.creates.find(key); it != st.creates.end()) {
    std::string body;
    int status = host.take_result(it->second.id, &body);
    if (status == 0) return VCP_WAIT;  // in flight; the engine wakes the key when it is done
    bool same_object = it->second.uid == vuid;
    st.creates.erase(it);
    if (ok_status(status) || status == 409) {
      // A success whose object the cache does not show yet, or 409 (our cache lags, or the name is held
      // by an object vcluster does not own): the engine's own create sorts those out, refusing a foreign
      // one with an event, without the plugin asking again on every sync.
      st.engine_creates_for[key] = vuid;
    } else if (same_object && refusal_status(status)) {
      // Typically 422: the IP or a nodePort is taken on the host, or outside its range. The host
      // allocates instead, and back-sync aligns the virtual Service afterwards.
      host.log(VCP_LOG_INFO, "the host refused the virtual allocations of Service " + key + " (HTTP " +
                                 std::to_string(status) + ": " + status_message(body) +
                                 "); creating it with host-allocated ones");
      st.engine_creates_for[key] = vuid;
    } else if (same_object) {
      host.set_error("creating host Service " + str(args->target_name) + " answered HTTP " +
                     std::to_string(status) + ": " + status_message(body));
      return VCP_RETRY;
    }
  }
  auto handed = st.engine_creates_for.find(key);
  bool request = has_allocations(vsvc) && (handed == st.engine_creates_for.end() || handed->second != vuid);
  Value h = translate_service_create(host, vsvc,
                                     request ? Allocation::kRequestVirtual : Allocation::kHostAllocates);
  h["metadata"]["name"] = str(args->target_name);
  h["metadata"]["namespace"] = str(args->target_namespace);
  if (!request) {
    write(host, out, h);
    return VCP_OK;
  }
  uint64_t id = host.submit(VCP_SIDE_HOST, kServices, VCP_VERB_CREATE, str(args->target_namespace), "", "",
                            vc::json::dump(h), kServices, vns, vname);
  if (id == 0) {
    host.set_error("the engine refused to submit the create of host Service " + str(args->target_name));
    return VCP_RETRY;
  }
  st.creates[key] = {id, vuid};
  return VCP_WAIT;
}

vcp_status sync_service(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.services_enabled) return VCP_NO_CHANGE;
  const std::string vns = str(args->source_namespace), vname = str(args->source_name);
  // §4.3: the virtual cluster's own API Service is the API server's business on each side.
  if (vns == "default" && vname == "kubernetes") return VCP_SKIP;
  auto vsvc = parse_arg(args->source);
  if (!vsvc) {
    host.set_error("the virtual Service is not valid JSON");
    return VCP_REFUSED;
  }
  // §2.4: a Service someone else controls (a mapServices.fromHost target) is left alone.
  if (controlled_by_other(*vsvc)) return VCP_NO_CHANGE;
  const std::string key = key_of(vns, vname);
  if (!deleting(*vsvc)) sync_mapped(st, *vsvc, vns, vname);

  if (args->target.len == 0) {
    if (drive_recreate(st, vns, vname)) return VCP_NO_CHANGE;
    if (deleting(*vsvc)) return VCP_NO_CHANGE;
    return create_service(st, args, *vsvc, out);
  }
  auto hsvc = parse_arg(args->target);
  if (!hsvc) {
    host.set_error("the host Service is not valid JSON");
    return VCP_RETRY;
  }
  if (auto it = st.creates.find(key); it != st.creates.end()) {
    // The plugin's own create landed (the engine put its answer in the cache before waking the key):
    // collect the answer so the engine can forget it.
    if (host.take_result(it->second.id, nullptr) != 0) st.creates.erase(it);
  }
  st.engine_creates_for.erase(key);
  if (drive_recreate(st, vns, vname)) return VCP_NO_CHANGE;
  if (deleting(*hsvc)) return VCP_NO_CHANGE;  // it goes; the next sync creates it anew
  write(host, out, translate_service_update(host, *vsvc, *hsvc));
  return VCP_OK;
}

vcp_status back_sync_service_hook(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.services_enabled) return VCP_NO_CHANGE;
  auto vsvc = parse_arg(args->source);
  auto hsvc = parse_arg(args->target);
  if (!vsvc || !hsvc || deleting(*vsvc) || deleting(*hsvc) || controlled_by_other(*vsvc))
    return VCP_NO_CHANGE;
  const std::string vns = str(args->source_namespace), vname = str(args->source_name);
  // Any Service's sync collects the range probe's answer, so the Services waiting for it never depend on
  // the one that sent it still needing it.
  if (st.probe_id != 0) probe_virtual_range(st, vns, vname);
  if (st.recreates.count(key_of(vns, vname))) return VCP_NO_CHANGE;
  if (align_cluster_ip(st, *vsvc, *hsvc, vns, vname)) return VCP_NO_CHANGE;
  write(host, out, back_sync_service(*vsvc, *hsvc));
  return VCP_OK;
}

// --- Endpoints
// ----------------------------------------------------------------------------------------------

vcp_status sync_endpoints(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  if (!st.cfg.endpoints_enabled) return VCP_NO_CHANGE;
  const std::string vns = str(args->source_namespace), vname = str(args->source_name);
  if (vns == "default" && vname == "kubernetes") return VCP_SKIP;
  auto veps = parse_arg(args->source);
  if (!veps) {
    host.set_error("the virtual Endpoints is not valid JSON");
    return VCP_REFUSED;
  }
  if (controlled_by_other(*veps)) return VCP_NO_CHANGE;
  // §4.4: only selector-less Services have Endpoints the tenant wrote. For a selector Service the host's
  // endpoints controller fills the host Endpoints from the translated selector, and SKIP deletes a copy
  // synced while the Service had no selector, so that the controller rebuilds it.
  auto vsvc = host.get(VCP_SIDE_VIRTUAL, kServices, vns, vname);
  if (!vsvc && replacing(st, key_of(vns, vname))) return VCP_NO_CHANGE;
  if (!vsvc || has_selector(*vsvc) || controlled_by_other(*vsvc)) return VCP_SKIP;
  // A tenant writes these addresses: none may send host traffic where the tenant could not go itself.
  for (const Value& ss : field(*veps, "subsets").items())
    for (std::string_view list : {"addresses", "notReadyAddresses"})
      for (const Value& a : field(ss, list).items()) {
        std::string ip = str_of(a, "ip");
        if (const Cidr* c = denied_range(st.cfg.denied, ip)) {
          host.set_error("Endpoints " + vns + "/" + vname + " points at " + ip + ", inside " + c->text +
                         " (loopback, link-local or sync.endpoints.deniedCIDRs, which holds the host's "
                         "Service range): not synced to the host; point a selector-less Service at pods "
                         "or at addresses outside the cluster");
          return VCP_REFUSED;
        }
      }
  auto current = parse_arg(args->target);
  write(host, out, translate_endpoints(host, *veps, current ? &*current : nullptr));
  return VCP_OK;
}

// Puts back the tenant's Endpoints of a selector-less Service that the virtual endpoints controller deleted
// because the plugin re-created the Service. Returns true when it did (the host copy then stays).
bool rescue_endpoints(State& st, const std::string& vns, const std::string& vname) {
  const std::string key = key_of(vns, vname);
  auto it = st.saved_endpoints.find(key);
  if (it == st.saved_endpoints.end()) return false;
  Value eps = std::move(it->second.endpoints);
  bool in_window = Clock::now() < it->second.until;
  st.saved_endpoints.erase(it);
  if (!in_window) return false;
  auto vsvc = st.host.get(VCP_SIDE_VIRTUAL, kServices, vns, vname);
  if (!replacing(st, key) && (!vsvc || has_selector(*vsvc))) return false;
  st.host.log(VCP_LOG_INFO,
              "putting back the Endpoints " + key +
                  " that the virtual endpoints controller deleted while the Service was re-created");
  return st.host.submit(VCP_SIDE_VIRTUAL, kEndpoints, VCP_VERB_CREATE, vns, "", "", vc::json::dump(eps),
                        kEndpoints, vns, vname) != 0;
}

// --- Hooks
// --------------------------------------------------------------------------------------------------

template <typename F>
vcp_status guarded(State* st, F body) {
  try {
    return body();
  } catch (const std::exception& e) {
    st->host.set_error(std::string("services plugin internal error: ") + e.what());
  } catch (...) {
    st->host.set_error("services plugin internal error: unknown exception");
  }
  return VCP_ERROR;
}

vcp_status on_init(const vcp_host_api* api, vcp_host_ctx* ctx, void** state) {
  try {
    if (api == nullptr || api->abi_major != VCP_ABI_MAJOR || !VCP_HAS_FIELD(api, vcp_host_api, emit_event)) {
      return VCP_ERROR;
    }
    Host host(api, ctx);
    Config cfg = read_config(host);
    if (!cfg.error.empty()) {
      // vcluster refuses to start on a malformed mapping (§4.5 parseMapping); so does the plugin.
      host.set_error(cfg.error);
      return VCP_ERROR;
    }
    if (!cfg.from_host.empty()) {
      if (!VCP_HAS_FIELD(api, vcp_host_api, watch_host_namespaces)) {
        host.set_error(
            "mapServices.fromHost needs a syncer of plugin ABI 1.4 or newer (watch_host_namespaces)");
        return VCP_ERROR;
      }
      // Only the namespaces the mappings name: the plugin reads nothing else of the host outside its own.
      std::set<std::string> names;
      for (const HostMapping& m : cfg.from_host) names.insert(m.from_ns);
      std::vector<vcp_str> views;
      for (const std::string& n : names) views.push_back(view(n));
      if (!api->watch_host_namespaces(ctx, kHostServices, views.data(), views.size())) {
        host.set_error(
            "the syncer refused to watch host Services in the namespaces mapServices.fromHost names");
        return VCP_ERROR;
      }
    }
    *state = new State(host, std::move(cfg));
    return VCP_OK;
  } catch (...) {
    return VCP_ERROR;
  }
}

void on_shutdown(void* state) {
  delete static_cast<State*>(state);
}

vcp_status on_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&] {
    switch (args->resource) {
      case kServices:
        return sync_service(*st, args, out);
      case kEndpoints:
        return sync_endpoints(*st, args, out);
      case kHostServices:
        return sync_from_host(*st, args);
      default:
        return VCP_SKIP;
    }
  });
}

vcp_status on_back_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&] {
    return args->resource == kServices ? back_sync_service_hook(*st, args, out) : VCP_NO_CHANGE;
  });
}

vcp_status on_delete(void* state, const vcp_sync_args* args, vcp_buf* out) {
  (void)out;  // the engine's default DeleteOptions (the target's uid as precondition) are what we want
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    const std::string vns = str(args->source_namespace), vname = str(args->source_name);
    const std::string key = key_of(vns, vname);
    if (args->resource == kEndpoints) {
      if (!st->cfg.endpoints_enabled) return VCP_SKIP;
      return rescue_endpoints(*st, vns, vname) ? VCP_SKIP : VCP_OK;
    }
    if (!st->cfg.services_enabled) return VCP_SKIP;
    // The plugin itself deleted the virtual Service to give it the host's ClusterIP: the host Service
    // stays, and the new virtual Service takes it over.
    if (drive_recreate(*st, vns, vname) || st->settling.count(key)) return VCP_SKIP;
    delete_mapped_of(*st, vns, vname);
    st->creates.erase(key);
    st->engine_creates_for.erase(key);
    st->hold.erase(key);
    for (auto it = st->warned.lower_bound(key + "|"); it != st->warned.end() && it->starts_with(key + "|");) {
      it = st->warned.erase(it);
    }
    return VCP_OK;
  });
}

void on_watch_event(void* state, const vcp_event* ev) {
  auto* st = static_cast<State*>(state);
  try {
    if (ev->resource != kServices && ev->resource != kEndpoints) return;
    const Host& host = st->host;
    auto obj = parse_arg(ev->object);
    if (!obj) return;
    if (ev->side == VCP_SIDE_VIRTUAL) from_host_virtual_event(*st, ev->resource, ev, *obj);
    if (ev->resource != kServices) return;
    const Value& meta = field(*obj, "metadata");
    const std::string ns = str_of(meta, "namespace"), name = str_of(meta, "name");
    if (ev->side == VCP_SIDE_HOST) {
      // A published Service whose mapping is gone from the configuration (changed while the syncer was
      // down) is removed; the configuration does not depend on any cache, so this is safe at start too.
      if (ev->type == VCP_EVENT_DELETED || !is_mapped_service(host, *obj)) return;
      for (const VirtualMapping& m : st->cfg.from_virtual) {
        if (m.to == name) return;
      }
      delete_mapped(*st, name);
      return;
    }
    const std::string key = key_of(ns, name), uid = str_of(meta, "uid");
    if (auto r = st->recreates.find(key); r != st->recreates.end()) {
      // The plugin's own delete: nothing else follows from it.
      if (ev->type == VCP_EVENT_DELETED && uid == str_of(field(r->second.original, "metadata"), "uid"))
        r->second.old_gone = true;
      return;
    }
    if (auto s = st->settling.find(key); s != st->settling.end()) {
      if (ev->type == VCP_EVENT_DELETED && uid == s->second.old_uid) {
        s->second.old_gone = true;
        return;
      }
      if (ev->type == VCP_EVENT_DELETED || (uid == s->second.new_uid && s->second.old_gone)) {
        // Either the cache holds the new Service for good now, or the tenant deleted it.
        st->settling.erase(s);
      }
    }
    if (ev->type == VCP_EVENT_DELETED) delete_mapped_of(*st, ns, name);
    // The Endpoints sync depends on the Service: whether it exists and whether it has a selector. Other
    // changes leave it alone, so its key is not woken for them.
    bool wake = ev->type != VCP_EVENT_MODIFIED;
    if (!wake) {
      auto old = parse_arg(ev->old_object);
      wake = !old || has_selector(*old) != has_selector(*obj) ||
             controlled_by_other(*old) != controlled_by_other(*obj);
    }
    if (wake) host.enqueue(kEndpoints, ns, name);
  } catch (...) {
    // Watch handlers only schedule work; losing one event costs a resync, never correctness of a write.
  }
}

const vcp_plugin kPlugin = {
    sizeof(vcp_plugin),
    VCP_ABI_MAJOR,
    VCP_ABI_MINOR,
    "services",
    "0.1.0",
    "Syncs virtual Services to the host namespace with translated selectors and the host's ClusterIP, and "
    "the "
    "Endpoints of selector-less Services.",
    kResources,
    sizeof(kResources) / sizeof(kResources[0]),
    kConfigKeys,
    sizeof(kConfigKeys) / sizeof(kConfigKeys[0]),
    &on_init,
    &on_shutdown,
    &on_sync,
    &on_back_sync,
    &on_delete,
    &on_watch_event,
    nullptr,  // on_cache: services and endpoints are read whole
};

}  // namespace
}  // namespace vcp_services

extern "C" VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void) {
  return &vcp_services::kPlugin;
}
