#include "translate.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <vector>

#include "sha256.hpp"

namespace vcp_nodes {
namespace {

using vc::json::Value;

const std::string& str_of(const Value* obj, std::string_view key) {
  static const std::string kEmpty;
  const Value* v = obj ? obj->find(key) : nullptr;
  return v && v->is_string() ? v->as_string() : kEmpty;
}

const std::string& node_name(const Value& node) {
  return str_of(node.find("metadata"), "name");
}

const Value* labels_of(const Value& node) {
  return node.at({"metadata", "labels"});
}
const Value* annotations_of(const Value& node) {
  return node.at({"metadata", "annotations"});
}

// The node's operating system and architecture: its well-known labels, else its nodeInfo, else what
// vcluster's fake nodes claim (linux/amd64).
std::pair<std::string, std::string> os_arch(const Value& hnode) {
  const Value* info = hnode.at({"status", "nodeInfo"});
  std::string os = str_of(labels_of(hnode), "kubernetes.io/os");
  if (os.empty()) os = str_of(info, "operatingSystem");
  if (os.empty()) os = "linux";
  std::string arch = str_of(labels_of(hnode), "kubernetes.io/arch");
  if (arch.empty()) arch = str_of(info, "architecture");
  if (arch.empty()) arch = "amd64";
  return {os, arch};
}

// The Ready condition's lastHeartbeatTime of a node status (may be null), or "".
const std::string& ready_heartbeat(const Value* status) {
  static const std::string kEmpty;
  const Value* conds = status ? status->find("conditions") : nullptr;
  if (conds == nullptr || !conds->is_array()) return kEmpty;
  for (const Value& c : conds->items()) {
    if (str_of(&c, "type") == "Ready") return str_of(&c, "lastHeartbeatTime");
  }
  return kEmpty;
}

// vcluster's generic fake node resources (fake_syncer.go), used when the host node reports none.
Value generic_resources() {
  Value r = Value::object();
  r["cpu"] = "16";
  r["memory"] = "32Gi";
  r["ephemeral-storage"] = "100Gi";
  r["hugepages-1Gi"] = "0";
  r["hugepages-2Mi"] = "0";
  r["pods"] = "110";
  return r;
}

// A UUID-shaped string from 32 hex digits.
std::string uuid_from(const std::string& hex) {
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20, 12);
}

// Drops what the API server leaves out of a stored object (null, "", [], {}), recursively, so that an
// object we built compares equal to the same object read back.
Value canon(const Value& v) {
  if (v.is_object()) {
    Value out = Value::object();
    for (const auto& [k, m] : v.members()) {
      Value c = canon(m);
      if (c.is_null() || (c.is_string() && c.as_string().empty()) ||
          ((c.is_array() || c.is_object()) && c.empty()))
        continue;
      out[k] = std::move(c);
    }
    return out;
  }
  if (v.is_array()) {
    Value out = Value::array();
    for (const Value& i : v.items()) out.push_back(canon(i));
    return out;
  }
  return v;
}

// The status without heartbeats: conditions keep only type, status and reason.
Value without_heartbeats(const Value* status) {
  if (status == nullptr || !status->is_object()) return Value::object();
  Value s = *status;
  if (Value* conds = s.find("conditions"); conds && conds->is_array()) {
    Value kept = Value::array();
    for (const Value& c : conds->items()) {
      Value k = Value::object();
      k["type"] = str_of(&c, "type");
      k["status"] = str_of(&c, "status");
      k["reason"] = str_of(&c, "reason");
      kept.push_back(std::move(k));
    }
    *conds = std::move(kept);
  }
  return canon(s);
}

std::set<std::string> split_keys(const std::string& list) {
  std::set<std::string> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t nl = list.find('\n', start);
    std::string k = list.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!k.empty()) out.insert(k);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

std::string join_keys(const std::set<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) {
    if (!out.empty()) out += '\n';
    out += k;
  }
  return out;
}

// vcluster's ApplyMetadata merge of one map: every host entry wins; a virtual entry survives only when the
// host does not have its key and did not have it at the last sync (`managed`), i.e. the tenant added it.
// Keys in `excluded` are skipped on both sides. Returns the merged map; *copied receives the host keys.
Value merge_managed(const Value* host, const Value* virt, const std::set<std::string>& managed,
                    const std::set<std::string>& excluded, std::set<std::string>* copied) {
  Value out = Value::object();
  if (virt && virt->is_object()) {
    for (const auto& [k, v] : virt->members()) {
      if (excluded.count(k) || managed.count(k) || (host && host->find(k))) continue;
      out[k] = v;
    }
  }
  if (host && host->is_object()) {
    for (const auto& [k, v] : host->members()) {
      if (excluded.count(k)) continue;
      out[k] = v;
      copied->insert(k);
    }
  }
  return out;
}

// A taint's identity: key, value and effect (timeAdded is when, not what).
std::string taint_id(const Value& t) {
  return str_of(&t, "key") + '\0' + str_of(&t, "value") + '\0' + str_of(&t, "effect");
}

// A taint as Go's json.Marshal writes a corev1.Taint (field order key, value, effect, timeAdded; empty
// value and timeAdded omitted), the form vcluster stores in original-taints.
std::string go_taint(const Value& t) {
  Value g = Value::object();
  g["key"] = str_of(&t, "key");
  if (!str_of(&t, "value").empty()) g["value"] = str_of(&t, "value");
  g["effect"] = str_of(&t, "effect");
  if (!str_of(&t, "timeAdded").empty()) g["timeAdded"] = str_of(&t, "timeAdded");
  vc::json::DumpOptions o;
  o.escape_html = true;
  return vc::json::dump(g, o);
}

// The identities recorded in a virtual node's original-taints annotation.
std::set<std::string> original_taints(const Value& vnode) {
  std::set<std::string> out;
  auto list = vc::json::parse(str_of(annotations_of(vnode), kOriginalTaints));
  if (!list || !list->is_array()) return out;
  for (const Value& s : list->items()) {
    if (!s.is_string()) continue;
    if (auto t = vc::json::parse(s.as_string()); t && t->is_object()) out.insert(taint_id(*t));
  }
  return out;
}

// Taints under node.kubernetes.io/ (not-ready, unreachable, the pressure conditions, unschedulable) are
// Kubernetes' own, set by its admission and controllers from node conditions; a tenant does not set them.
bool system_taint(const Value& t) {
  return str_of(&t, "key").rfind("node.kubernetes.io/", 0) == 0;
}

const Value& taints_of(const Value& node) {
  static const Value kNone = Value::array();
  const Value* t = node.at({"spec", "taints"});
  return t && t->is_array() ? *t : kNone;
}

void set_or_erase(Value& obj, std::string_view key, Value v) {
  if ((v.is_object() || v.is_array()) && v.empty()) {
    obj.erase(key);
  } else {
    obj[key] = std::move(v);
  }
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

Config read_config(const Host& host) {
  Config c;
  auto flag = [&](std::string_view path, bool dflt) {
    std::optional<std::string> v = host.config(path);
    return v ? *v == "true" : dflt;
  };
  const bool enabled = flag("sync.nodes.enabled", false);
  const bool fake = flag("sync.fake-nodes.enabled", true);
  c.sync_all = flag("sync.nodes.syncAllNodes", false);
  c.enable_scheduler = flag("sync.nodes.enableScheduler", false);
  c.sync_node_changes = flag("sync.nodes.syncNodeChanges", false);
  c.clear_images = flag("sync.nodes.clearImageStatus", false);
  c.mode = enabled ? Mode::kReal : fake ? Mode::kFake : Mode::kOff;
  // vcluster refuses these combinations at start (vcluster-behaviour.md §7, flag constraints): fake nodes
  // exist only for nodes that pods use, and a virtual scheduler needs the real nodes to choose from.
  if (c.sync_all && !enabled) {
    c.error =
        "sync.nodes.syncAllNodes: true needs sync.nodes.enabled: true (fake nodes exist only for the "
        "nodes virtual pods run on); set sync.nodes.enabled or drop syncAllNodes";
    return c;
  }
  if (c.enable_scheduler && !enabled) {
    c.error =
        "sync.nodes.enableScheduler: true needs sync.nodes.enabled: true (a virtual scheduler must see "
        "the real nodes); set sync.nodes.enabled too";
    return c;
  }
  std::string why;
  if (!parse_selector(host.config("sync.nodes.nodeSelector").value_or(""), &c.selector, &why)) {
    c.error = "sync.nodes.nodeSelector: " + why;
    return c;
  }
  c.has_selector = !c.selector.requirements.empty();
  if (c.enable_scheduler && !c.has_selector) c.sync_all = true;
  std::string addr = host.config("sync.nodes.kubeletAddress").value_or("");
  if (!addr.empty() && !parse_kubelet_address(addr, &c.kubelet_ip, &c.kubelet_port, &why)) {
    c.error = "sync.nodes.kubeletAddress: " + why;
    return c;
  }
  return c;
}

bool parse_kubelet_address(std::string_view text, std::string* ip, int* port, std::string* why) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    *why = "\"" + std::string(text) + "\" is not IP:PORT (for example 127.0.0.1:10250)";
    return false;
  }
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned char buf[16];
  bool v4 = inet_pton(AF_INET, host.c_str(), buf) == 1, v6 = inet_pton(AF_INET6, host.c_str(), buf) == 1;
  int p = 0;
  for (char ch : text.substr(colon + 1)) {
    if (ch < '0' || ch > '9' || p > 65535) {
      p = -1;
      break;
    }
    p = p * 10 + (ch - '0');
  }
  if (!v4 && !v6) {
    *why = "\"" + host + "\" is not an IP address (a node's InternalIP must be one)";
    return false;
  }
  if (p <= 0 || p > 65535) {
    *why = "the port of \"" + std::string(text) + "\" is not between 1 and 65535";
    return false;
  }
  *ip = host;
  *port = p;
  return true;
}

void apply_kubelet_endpoint(Value& st, const Config& cfg) {
  if (cfg.kubelet_port == 0) return;
  Value addrs = Value::array();
  Value ip = Value::object();
  ip["type"] = "InternalIP";
  ip["address"] = cfg.kubelet_ip;
  addrs.push_back(std::move(ip));
  if (const Value* old = st.find("addresses"); old && old->is_array())
    for (const Value& a : old->items())
      if (str_of(&a, "type") != "InternalIP") addrs.push_back(a);
  st["addresses"] = std::move(addrs);
  st["daemonEndpoints"] = Value::object();
  st["daemonEndpoints"]["kubeletEndpoint"]["Port"] = cfg.kubelet_port;
}

Selection select_node(const Config& cfg, const Value& hnode) {
  // vcluster's shouldSync: syncAllNodes selects everything (it overrides a selector); a selector selects
  // exactly the matching nodes, used or not (enforceNodeSelector is on by default), so that a virtual
  // scheduler sees every node it may place pods on; otherwise only nodes virtual pods use.
  if (cfg.sync_all) return Selection::kAlways;
  if (cfg.has_selector)
    return cfg.selector.matches(labels_of(hnode)) ? Selection::kAlways : Selection::kNever;
  return Selection::kIfNeeded;
}

bool is_fake_node(const Value& vnode) {
  return str_of(labels_of(vnode), kFakeNodeLabel) == "true";
}

std::string fake_hostname(std::string_view node_name) {
  std::string h(node_name);
  std::replace(h.begin(), h.end(), '.', '-');
  return h + ".nodes.vcluster.com";
}

Value fake_node(const Value& hnode) {
  const std::string& name = node_name(hnode);
  auto [os, arch] = os_arch(hnode);
  Value n = Value::object();
  n["apiVersion"] = "v1";
  n["kind"] = "Node";
  Value& meta = n["metadata"];
  meta["name"] = name;
  Value& l = meta["labels"];
  l[kFakeNodeLabel] = "true";
  l["beta.kubernetes.io/arch"] = arch;
  l["beta.kubernetes.io/os"] = os;
  l["kubernetes.io/arch"] = arch;
  // The spec's table (§7): SafeConcatName("fake", name), which always fits a label value's 63 bytes.
  l["kubernetes.io/hostname"] = safe_concat({"fake", name});
  l["kubernetes.io/os"] = os;
  // What vcluster's fake nodes carry: no TTL for the (disabled) ttl controller, and no attach/detach by a
  // controller, since nothing attaches volumes to a node that does not exist.
  meta["annotations"]["node.alpha.kubernetes.io/ttl"] = "0";
  meta["annotations"]["volumes.kubernetes.io/controller-managed-attach-detach"] = "false";
  return n;
}

Value fake_node_update(const Value& vnode) {
  Value out = vnode;
  Value kept = Value::array();
  for (const Value& t : taints_of(vnode).items())
    if (!system_taint(t)) kept.push_back(t);
  if (Value* spec = out.find("spec"); spec && spec->is_object())
    set_or_erase(*spec, "taints", std::move(kept));
  return out;
}

Value fake_status(const Value& hnode, const Value* current, std::string_view now) {
  const std::string& name = node_name(hnode);
  const Value* hstatus = hnode.find("status");
  std::string heartbeat = ready_heartbeat(hstatus);
  if (heartbeat.empty()) heartbeat = std::string(now);

  Value st = Value::object();
  const Value* cap = hstatus ? hstatus->find("capacity") : nullptr;
  const Value* alloc = hstatus ? hstatus->find("allocatable") : nullptr;
  Value capacity = cap && cap->is_object() && !cap->empty() ? *cap : generic_resources();
  Value allocatable = alloc && alloc->is_object() && !alloc->empty() ? *alloc : capacity;
  st["capacity"] = std::move(capacity);
  st["allocatable"] = std::move(allocatable);

  struct Cond {
    const char* type;
    const char* status;
    const char* reason;
    const char* message;
  };
  static constexpr Cond kConds[] = {
      {"MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
      {"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
      {"PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
      {"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
  };
  const Value* cur_conds = current ? current->find("conditions") : nullptr;
  Value& conds = st["conditions"];
  conds = Value::array();
  for (const Cond& k : kConds) {
    // A condition that already held keeps its transition time: it did not transition.
    std::string since = heartbeat;
    if (cur_conds && cur_conds->is_array()) {
      for (const Value& c : cur_conds->items()) {
        if (str_of(&c, "type") == k.type && str_of(&c, "status") == k.status &&
            !str_of(&c, "lastTransitionTime").empty())
          since = str_of(&c, "lastTransitionTime");
      }
    }
    Value c = Value::object();
    c["type"] = k.type;
    c["status"] = k.status;
    c["lastHeartbeatTime"] = heartbeat;
    c["lastTransitionTime"] = since;
    c["reason"] = k.reason;
    c["message"] = k.message;
    conds.push_back(std::move(c));
  }

  Value addr = Value::object();
  addr["type"] = "Hostname";
  addr["address"] = fake_hostname(name);
  st["addresses"] = Value::array();
  st["addresses"].push_back(std::move(addr));
  st["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 10250;

  // A minimal nodeInfo: the strings vcluster's fake nodes show, the host's kubelet version (a version
  // reveals nothing of the host's machines) and IDs derived from the node name, so that they look like IDs,
  // differ between nodes and stay the same across syncer restarts (a random ID would be a write per restart).
  auto [os, arch] = os_arch(hnode);
  const Value* hinfo = hstatus ? hstatus->find("nodeInfo") : nullptr;
  std::string version = str_of(hinfo, "kubeletVersion");
  if (version.empty()) version = "v1.19.1";  // vcluster's FakeNodesVersion
  Value& info = st["nodeInfo"];
  info["machineID"] = sha256_hex("vcluster-fake-node/machine/" + name).substr(0, 32);
  info["systemUUID"] = uuid_from(sha256_hex("vcluster-fake-node/system/" + name));
  info["bootID"] = uuid_from(sha256_hex("vcluster-fake-node/boot/" + name));
  info["kernelVersion"] = "4.19.76-fakelinux";
  info["osImage"] = "Fake Kubernetes Image";
  info["containerRuntimeVersion"] = "docker://19.3.12";
  info["kubeletVersion"] = version;
  info["kubeProxyVersion"] = version;
  info["operatingSystem"] = os;
  info["architecture"] = arch;
  return st;
}

Value real_node(const Value& hnode, const Value* vnode, const Config& cfg) {
  Value out = Value::object();
  if (vnode) {
    out = *vnode;
  } else {
    out["apiVersion"] = "v1";
    out["kind"] = "Node";
    out["metadata"]["name"] = node_name(hnode);
  }
  const Value* vann = vnode ? annotations_of(*vnode) : nullptr;
  const std::set<std::string> ours = {std::string(kManagedLabels), std::string(kManagedAnnotations),
                                      std::string(kOriginalTaints)};

  std::set<std::string> host_labels, host_annotations;
  Value labels = merge_managed(labels_of(hnode), vnode ? labels_of(*vnode) : nullptr,
                               split_keys(str_of(vann, kManagedLabels)), {}, &host_labels);
  Value annotations = merge_managed(annotations_of(hnode), vann,
                                    split_keys(str_of(vann, kManagedAnnotations)), ours, &host_annotations);
  if (!host_annotations.empty()) annotations[kManagedAnnotations] = join_keys(host_annotations);
  if (!host_labels.empty()) annotations[kManagedLabels] = join_keys(host_labels);

  const Value* hspec = hnode.find("spec");
  Value spec = hspec && hspec->is_object() ? *hspec : Value::object();
  // Taints the tenant puts on a virtual node are kept when a virtual scheduler reads them, or when they are
  // to reach the host (syncNodeChanges); otherwise the spec is the host's, as vcluster copies it.
  if (cfg.enable_scheduler || cfg.sync_node_changes) {
    const Value& physical = taints_of(hnode);
    std::set<std::string> old = vnode ? original_taints(*vnode) : std::set<std::string>{};
    std::set<std::string> seen;
    Value merged = Value::array();
    Value recorded = Value::array();
    for (const Value& t : physical.items()) {
      if (seen.insert(taint_id(t)).second) merged.push_back(t);
      recorded.push_back(go_taint(t));
    }
    if (vnode) {
      for (const Value& t : taints_of(*vnode).items()) {
        std::string id = taint_id(t);
        // A virtual taint that was a host taint at the last sync and is gone from the host was removed there.
        if (old.count(id) || system_taint(t) || !seen.insert(id).second) continue;
        merged.push_back(t);
      }
    }
    set_or_erase(spec, "taints", std::move(merged));
    vc::json::DumpOptions o;
    o.escape_html = true;
    annotations[kOriginalTaints] = vc::json::dump(recorded, o);
  }

  Value& meta = out["metadata"];
  set_or_erase(meta, "labels", std::move(labels));
  set_or_erase(meta, "annotations", std::move(annotations));
  set_or_erase(out, "spec", std::move(spec));
  out.erase("status");
  return out;
}

Value real_status(const Value& hnode, const Config& cfg) {
  const Value* hstatus = hnode.find("status");
  Value st = hstatus && hstatus->is_object() ? *hstatus : Value::object();
  // The host's internal addresses and hostname say where the host's machines are; vcluster replaces them
  // (by its per-node service IP, which we do not have) and keeps the public ones.
  Value addrs = Value::array();
  Value host = Value::object();
  host["type"] = "Hostname";
  host["address"] = fake_hostname(node_name(hnode));
  addrs.push_back(std::move(host));
  if (const Value* ha = st.find("addresses"); ha && ha->is_array()) {
    for (const Value& a : ha->items()) {
      const std::string& type = str_of(&a, "type");
      if (type == "ExternalIP" || type == "ExternalDNS") addrs.push_back(a);
    }
  }
  st["addresses"] = std::move(addrs);
  st["daemonEndpoints"] = Value::object();
  st["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 10250;
  if (cfg.clear_images) st.erase("images");
  apply_kubelet_endpoint(st, cfg);
  return st;
}

bool status_differs(const Value& desired, const Value* current) {
  return !(without_heartbeats(&desired) == without_heartbeats(current));
}

bool heartbeat_due(const Value& desired, const Value* current) {
  std::optional<int64_t> want = parse_time(ready_heartbeat(&desired));
  if (!want) return false;  // nothing to refresh with
  std::optional<int64_t> have = parse_time(ready_heartbeat(current));
  return !have || *want - *have >= kHeartbeatRefreshSeconds;
}

bool same_content(const Value& a, const Value& b) {
  return canon(a) == canon(b);
}

std::optional<Value> host_node_with_tenant_changes(const Value& hnode, const Value& vnode) {
  Value out = hnode;
  bool changed = false;
  const std::set<std::string> managed = split_keys(str_of(annotations_of(vnode), kManagedLabels));
  if (const Value* vl = labels_of(vnode); vl && vl->is_object()) {
    for (const auto& [k, v] : vl->members()) {
      if (managed.count(k) || k == kFakeNodeLabel || !v.is_string()) continue;
      const Value* hl = labels_of(hnode);
      const Value* hv = hl ? hl->find(k) : nullptr;
      if (hv && *hv == v) continue;
      out["metadata"]["labels"][k] = v;
      changed = true;
    }
  }
  std::set<std::string> host_ids;
  for (const Value& t : taints_of(hnode).items()) host_ids.insert(taint_id(t));
  const std::set<std::string> old = original_taints(vnode);
  for (const Value& t : taints_of(vnode).items()) {
    std::string id = taint_id(t);
    if (host_ids.count(id) || old.count(id) || system_taint(t)) continue;
    Value& taints = out["spec"]["taints"];
    if (!taints.is_array()) taints = Value::array();
    taints.push_back(t);
    host_ids.insert(id);
    changed = true;
  }
  if (!changed) return std::nullopt;
  return out;
}

std::optional<int64_t> parse_time(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int64_t* v) {
    if (pos + n > s.size()) return false;
    int64_t r = 0;
    for (size_t i = pos; i < pos + n; i++) {
      if (s[i] < '0' || s[i] > '9') return false;
      r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return true;
  };
  int64_t y, mo, d, h, mi, se;
  if (s.size() < 20 || !digits(0, 4, &y) || s[4] != '-' || !digits(5, 2, &mo) || s[7] != '-' ||
      !digits(8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, &h) || s[13] != ':' ||
      !digits(14, 2, &mi) || s[16] != ':' || !digits(17, 2, &se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  size_t pos = 19;
  if (s[pos] == '.') {
    pos++;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') pos++;
    if (pos == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    pos++;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int64_t oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(pos + 4, 2, &om))
      return std::nullopt;
    offset = (oh * 60 + om) * 60 * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return days * 86400 + h * 3600 + mi * 60 + se - offset;
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace vcp_nodes
