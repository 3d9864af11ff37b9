// vcp-pods: the pods sync plugin. Virtual pods become host pods (vcluster-behaviour.md §3); the ConfigMaps
// and Secrets they use follow them (§5); host status and scheduling flow back. It is the reference plugin
// for third-party authors: it uses nothing but the public ABI header, the JSON SDK and the host table.
//
// Every hook runs on the engine's loop thread and never blocks. Whatever needs another object (the DNS
// Service, a ConfigMap, a token from the virtual API server) is asked for through the engine and answered
// with VCP_WAIT; the engine wakes the pod's key when the object or the write result arrives.
#include <vcp/plugin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <exception>
#include <map>
#include <memory_resource>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events.hpp"
#include "host.hpp"
#include "json/json.hpp"
#include "pss.hpp"
#include "refs.hpp"
#include "translate.hpp"

namespace vcp_pods {
namespace {

using vc::json::Value;

// Indexes into kResources; the engine passes them back in every hook.
enum : uint32_t {
  kPods = 0,
  kConfigMaps = 1,
  kSecrets = 2,
  kServices = 3,
  kNamespaces = 4,
  kServiceAccounts = 5,
  kEvents = 6,
  kNodes = 7
};

constexpr const char* kIndexConfigMaps = "configmaps";
constexpr const char* kIndexSecrets = "secrets";
constexpr std::string_view kTokenSuffix = "-sa-token";
// vcluster asks for ten-year tokens (§3.3): the host pod cannot renew them through the virtual API server.
constexpr int64_t kTokenSeconds = 315360000;

const vcp_resource kResources[] = {
    {sizeof(vcp_resource), "", "v1", "pods", "Pod",
     VCP_RES_NAMESPACED | VCP_RES_STATUS | VCP_RES_RECREATE_ON_UID, VCP_ROLE_TO_HOST, VCP_NAME_NAMESPACED,
     ""},
    {sizeof(vcp_resource), "", "v1", "configmaps", "ConfigMap", VCP_RES_NAMESPACED, VCP_ROLE_TO_HOST,
     VCP_NAME_NAMESPACED, ""},
    {sizeof(vcp_resource), "", "v1", "secrets", "Secret", VCP_RES_NAMESPACED, VCP_ROLE_TO_HOST,
     VCP_NAME_NAMESPACED, ""},
    {sizeof(vcp_resource), "", "v1", "services", "Service", VCP_RES_NAMESPACED, VCP_ROLE_WATCH_HOST,
     VCP_NAME_NAMESPACED, ""},
    {sizeof(vcp_resource), "", "v1", "namespaces", "Namespace", 0, VCP_ROLE_WATCH_VIRTUAL, VCP_NAME_SAME, ""},
    {sizeof(vcp_resource), "", "v1", "serviceaccounts", "ServiceAccount", VCP_RES_NAMESPACED,
     VCP_ROLE_WATCH_VIRTUAL, VCP_NAME_NAMESPACED, ""},
    // Host Events about synced pods are copied into the virtual cluster (vcluster's events syncer). The role
    // only reads the host side; the copies are written with submit on the virtual side, which the engine
    // allows for any declared resource.
    // Uncached: the engine hands each Event to on_watch_event and keeps only its identity.
    {sizeof(vcp_resource), "", "v1", "events", "Event", VCP_RES_NAMESPACED | VCP_RES_UNCACHED,
     VCP_ROLE_WATCH_HOST, VCP_NAME_NAMESPACED, ""},
    // With sync.nodes.nodeSelector, a pod the tenant bound to a node by name is synced only once that node
    // exists in the virtual cluster (the nodes plugin syncs exactly the selected ones). The engine shares
    // this cache with the nodes plugin's virtual side.
    {sizeof(vcp_resource), "", "v1", "nodes", "Node", 0, VCP_ROLE_WATCH_VIRTUAL, VCP_NAME_SAME, ""},
};

const vcp_config_key kConfigKeys[] = {
    {sizeof(vcp_config_key), "sync.pods.enabled", VCP_CONF_BOOL, "true",
     "Whether virtual pods are synced to the host; when false the plugin leaves every pod alone.", nullptr},
    {sizeof(vcp_config_key), "sync.pods.hostServiceAccount", VCP_CONF_STRING, "\"\"",
     "Host service account every host pod runs as; empty leaves the field unset, so the host namespace's "
     "default service account is used.",
     nullptr},
    {sizeof(vcp_config_key), "sync.configmaps.all", VCP_CONF_BOOL, "false",
     "Sync every virtual ConfigMap to the host, not only those a pod uses.", nullptr},
    {sizeof(vcp_config_key), "sync.secrets.all", VCP_CONF_BOOL, "false",
     "Sync every virtual Secret to the host, not only those a pod uses.", nullptr},
    {sizeof(vcp_config_key), "sync.pods.translateImages", VCP_CONF_STRING_LIST, "[]",
     "Image rewrites \"from=to\" applied to container images by exact match.", nullptr},
    {sizeof(vcp_config_key), "sync.pods.enforceTolerations", VCP_CONF_STRING_LIST, "[]",
     "Tolerations \"key[=value]:Effect\" added to every host pod.", nullptr},
};

// Writes the plugin has in flight for one pod, so that a key woken again before its write finished does not
// submit the same write twice. Tokens are held only until they are handed to a token Secret's write.
struct PodOps {
  uint64_t delete_host = 0;
  uint64_t delete_virtual = 0;
  uint64_t bind = 0;
  std::string bound_to;  // a Binding to this node was answered 2xx or 409; the pod's watch event follows
  std::map<std::string, uint64_t> token_requests;  // token data key → submit id
  std::map<std::string, std::string> tokens;       // token data key → token
  // Until the host pod exists: the token Secret (shard) its tokens went to, and whether they are written.
  std::string group;  // "<vns>/<shard base>"
  int shard = -1;
  bool token_ready = false;
  // The Pod Security message last reported for this pod while its host pod exists (see sync_pod).
  std::string pss_refused;
};

// A token on its way into a shard, and the pod it is for.
struct ShardAdd {
  std::string token;
  std::string pod;
};

// One shared host token Secret (see "Service-account tokens" below) and its writes.
struct Shard {
  std::string vname;      // its virtual name, <base>-<n>; the host name is its translation
  size_t keys = 0;        // keys it holds, with those on their way
  bool exists = false;    // seen on the host, or its create answered
  bool deleting = false;  // its reconcile let the engine delete it; no tokens go in until it is gone
  uint64_t write = 0;     // submit id of the write in flight
  vcp_verb verb = VCP_VERB_CREATE;
  std::string wake_pod;    // the pod the write's answer wakes
  bool wake_gone = false;  // that pod was deleted: the pods of the batch look for the answer themselves
  std::map<std::string, ShardAdd> adds, writing_adds;  // data key → token: waiting, in flight
  std::set<std::string> removes, writing_removes;      // data keys to remove: waiting, in flight
  std::chrono::steady_clock::time_point retry_at{};
  unsigned failures = 0;  // failed writes in a row
};

// The shards of one virtual namespace, service account and audience set, by number.
struct Group {
  std::string vns;
  std::string base;
  std::vector<Shard> shards;
};

// A host Event's uid as a key: a Kubernetes uid is a UUID, 32 hex digits (and dashes), kept as 16 bytes. A
// uid of another form (never written by an API server) is hashed into the same 16 bytes.
struct Uid {
  uint64_t hi = 0, lo = 0;
  auto operator<=>(const Uid&) const = default;
};
struct UidHash {
  size_t operator()(const Uid& u) const noexcept {
    return static_cast<size_t>(u.hi ^ (u.lo * 0x9e3779b97f4a7c15ULL));
  }
};

Uid uid_key(std::string_view uid) {
  Uid u;
  int digits = 0;
  for (char c : uid) {
    if (c == '-') continue;
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0 || digits == 32) {
      digits = -1;
      break;
    }
    uint64_t& half = digits < 16 ? u.hi : u.lo;
    half = half << 4 | static_cast<uint64_t>(v);
    digits++;
  }
  if (digits == 32) return u;
  // FNV-1a twice, from two offsets.
  Uid h{0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
  for (unsigned char c : uid) {
    h.hi = (h.hi ^ c) * 0x100000001b3ULL;
    h.lo = (h.lo ^ c) * 0x100000001b3ULL + 1;
  }
  return h;
}

// What is remembered of every host Event copied into the virtual cluster while the host keeps it (an hour):
// this record under the 16-byte uid, so that 10,000 pods' Events cost about 0.6 MB, not the 4.5 MB their
// names and copies' names took.
// Everything else (the virtual pod, the copy's name) is derived again from the Event when it repeats.
struct EventDone {
  int64_t handled = 0;  // the count last written, or given up on after a failed write
  bool exists = false;  // the virtual copy is known to exist, so a repeat is a PATCH
};

// A write of an Event's virtual copy in flight. Writes are one at a time per Event: a repeat that arrives
// meanwhile is picked up when the result is read, from the host Event as it then is. Host Events are
// watched without a cache (VCP_RES_UNCACHED: a real kubelet writes five per pod start), so the Event's
// latest text is kept here while a write is in flight, and dropped when it finishes.
struct EventWrite {
  std::string host_name;   // the host Event's name
  std::string latest;      // the host Event as last seen (JSON)
  std::string vns, vname;  // the virtual copy
  std::string vpod;        // the virtual pod, whose key the write wakes
  uint64_t id = 0;         // submit id
  vcp_verb verb = VCP_VERB_CREATE;
  int64_t count = 0;  // the count being written
};

struct State {
  Host host;
  std::map<std::string, PodOps> ops;  // "ns/name" of the virtual pod
  // Events older than this (seconds since the epoch, taken in on_init) are left alone: the informer's first
  // list brings every Event the host still keeps, and copying those on each restart would flood the tenant.
  int64_t start_time = 0;
  // What was copied of each host Event (uid → count, exists), from a pool of its own: kept for an hour each,
  // these small nodes would otherwise sit between a burst's transients and keep heap pages resident.
  std::pmr::unsynchronized_pool_resource event_memory{};
  std::pmr::unordered_map<Uid, EventDone, UidHash> events{&event_memory};
  std::unordered_map<Uid, EventWrite, UidHash> event_writes{};  // host Event uid → its write in flight
  // uids whose write has not been read back yet, by the virtual pod ("ns/name") whose key the write wakes:
  // a pod's sync reads only its own results (scanning every Event write in flight on every hook was
  // quadratic: 10,000 pods made thousands of Event copies wait at once).
  std::map<std::string, std::set<Uid>> events_in_flight{};
  // Writes whose Event went away before their result was read; read (and so dropped) once they finish, so
  // the engine does not keep their results forever.
  std::map<std::string, std::vector<uint64_t>> orphaned_writes{};  // by the virtual pod they wake
  // Writes of a pod whose bookkeeping is gone (the pod was deleted) and whose answers nobody waits for any
  // more: read, and so dropped by the engine, as they finish (checked every 32 hook calls).
  std::vector<uint64_t> stray_writes{};
  uint64_t hook_calls = 0;
  // Recently parsed pods: a reconcile hands the same virtual and host pod to on_sync and on_back_sync, and
  // an informer event runs both index functions and then on_watch_event with the same text.
  vc::json::ParseCache trees{8};
  // Token Secrets: the groups by "<vns>/<base>"; each shard's host name → its virtual namespace and name;
  // data keys an earlier run wrote for pods not yet on the host → the shard's virtual name (probe_shards).
  std::map<std::string, Group> groups{};
  std::unordered_map<std::string, std::pair<std::string, std::string>> shard_hosts{};
  std::unordered_map<std::string, std::string> recovered{};
  bool probed = false;
  bool shards_writing = false;  // some shard may have a write in flight (checked every 32 hook calls)
  // The pod ("ns/name") each shard write in flight wakes with its answer → that shard (group key, number).
  // The pod may have taken its tokens from the cache already (the shard's watch event came first), so
  // its next sync, whatever path it takes, reads the answer and sends the next batch.
  std::unordered_map<std::string, std::pair<std::string, size_t>> write_wakes{};
  // Virtual pods ("ns/name") whose host pod is gone while they still exist, → the host name of the shard
  // holding their tokens: swept once the virtual pod goes too.
  std::unordered_map<std::string, std::string> dying{};
  std::optional<Config> cfg{};  // read once: values never change after start
};

const Config& config(State& st) {
  if (!st.cfg) st.cfg = read_config(st.host);
  return *st.cfg;
}

std::string key_of(std::string_view ns, std::string_view name) {
  return std::string(ns) + "/" + std::string(name);
}

const std::string& str_at(const Value& v, std::initializer_list<std::string_view> path,
                          std::string_view leaf) {
  static const std::string kEmpty;
  const Value* p = v.at(path);
  const Value* f = p ? p->find(leaf) : nullptr;
  return f && f->is_string() ? f->as_string() : kEmpty;
}

bool deleting(const Value& obj) {
  return obj.at({"metadata", "deletionTimestamp"}) != nullptr;
}

// A per-pod host token Secret (<pod>-sa-token) that earlier versions of the plugin made, by its marks. They
// are still projected in the cache and deleted with their pod; new tokens go into shared ones (below).
bool is_token_secret(const Value& secret) {
  return str_at(secret, {"metadata", "annotations"}, "vcluster.loft.sh/skip-backsync") == "true" &&
         str_at(secret, {"metadata", "annotations"}, "vcluster.loft.sh/object-name").ends_with(kTokenSuffix);
}

void write(const Host& host, vcp_buf* out, const Value& v) {
  std::string s = vc::json::dump(v);
  host.api()->buf_clear(out);
  host.api()->buf_append(out, s.data(), s.size());
}

// True while the submit `id` has not finished. A finished (or never submitted) write clears the slot, so
// the caller may submit again if the cluster still is not as it should be.
bool in_flight(const Host& host, uint64_t& id) {
  if (id == 0) return false;
  if (host.take_result(id, nullptr) == 0) return true;
  id = 0;
  return false;
}

// True when a pod has no write in flight and nothing to remember: its entry can go (10,000 pods kept
// 2.2 MB of empty entries).
bool idle(const PodOps& ops) {
  return ops.delete_host == 0 && ops.delete_virtual == 0 && ops.bind == 0 && ops.bound_to.empty() &&
         ops.token_requests.empty() && ops.tokens.empty() && ops.shard < 0 && ops.pss_refused.empty();
}

// Drops a pod's entry in st.ops when it holds nothing (the hooks create one with operator[]).
void drop_if_idle(State& st, const vcp_sync_args* args) {
  auto it = st.ops.find(key_of(str(args->source_namespace), str(args->source_name)));
  if (it != st.ops.end() && idle(it->second)) st.ops.erase(it);
}

// Drops a pod's bookkeeping once the pod is gone. The answers of its writes still in flight (a delete's is
// the whole pod) are read when they finish, so the engine does not keep them.
void forget_ops(State& st, const std::string& pod_key) {
  auto it = st.ops.find(pod_key);
  if (it == st.ops.end()) return;
  const PodOps& ops = it->second;
  auto stray = [&](uint64_t id) {
    if (id != 0 && st.host.take_result(id, nullptr) == 0) st.stray_writes.push_back(id);
  };
  stray(ops.delete_host);
  stray(ops.delete_virtual);
  stray(ops.bind);
  for (const auto& [k, id] : ops.token_requests) stray(id);
  st.ops.erase(it);
}

// Deletes a pod on one side with DeleteOptions (grace period when given, uid precondition so that a newer
// pod of the same name is never hit), waking the virtual pod's key when done.
void delete_pod(State& st, uint64_t& slot, vcp_side side, std::string_view ns, std::string_view name,
                std::optional<int64_t> grace, std::string_view uid, std::string_view vns,
                std::string_view vname) {
  if (in_flight(st.host, slot)) return;
  Value opts = Value::object();
  opts["apiVersion"] = "v1";
  opts["kind"] = "DeleteOptions";
  if (grace) opts["gracePeriodSeconds"] = *grace;
  if (!uid.empty()) opts["preconditions"]["uid"] = uid;
  slot = st.host.submit(side, kPods, VCP_VERB_DELETE, ns, name, "", vc::json::dump(opts), kPods, vns, vname);
}

void index_refs(void* user, vcp_str object, void (*emit)(void*, vcp_str), void* emit_ctx, RefKind kind) {
  try {
    auto pod = static_cast<State*>(user)->trees.parse(std::string_view(object.ptr, object.len));
    if (!pod) return;
    const std::string& ns = str_at(*pod, {"metadata"}, "namespace");
    for (const Ref& r : unique_refs(*pod)) {
      if (r.kind != kind) continue;
      std::string v = key_of(ns, r.name);
      emit(emit_ctx, view(v));
    }
  } catch (...) {
    // An index extractor must not throw into the engine; a pod that cannot be indexed simply has no entries.
  }
}

// --- Service-account tokens (§3.3, the Secret variant) ---------------------------------------------------
//
// vcluster's --service-account-token-secrets writes one host Secret per pod, so a pod costs the host API
// server two writes. Here the tokens go into token Secrets shared by the pods of one virtual namespace that
// run as the same service account and ask for the same audiences, at most kShardKeys tokens each ("shards",
// named <sa>-sa-tokens-<hash of sa and audiences>-<n>, translated). Tokens that arrive while a shard's write
// is on its way go into its next write, so a burst of pods costs about one host write per pod. A host pod
// mounts only its own keys (`items`), <pod>_<uid>_<n> for its n-th token source.
//
// Why the grouping: the Node authorizer lets a kubelet read any Secret a pod on its node mounts. A shard
// holds tokens of one service account and audience set only, so a node that reads it learns no identity it
// did not already have through its own pod's token; the tokens differ only in the pod they are bound to.
//
// A shard's keys are removed when their pod is gone (the shard's own reconcile, on_delete, checks each key
// against the virtual pods), and an empty shard is deleted. The writes of a shard are one at a time.

constexpr std::string_view kShardMark = "-sa-tokens-";
constexpr size_t kShardKeys = 64;
// Secret data keys: at most 253 characters of [-._a-zA-Z0-9].
constexpr size_t kMaxDataKey = 253;

// FNV-1a, 64 bits, as hex (`digits` of them).
std::string fnv_hex(std::string_view s, size_t digits) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  static const char* kHex = "0123456789abcdef";
  std::string out(digits, '0');
  for (size_t i = 0; i < digits; i++) out[i] = kHex[(h >> (60 - 4 * (i % 16))) & 0xf];
  return out;
}

// The data keys of a pod are this prefix followed by the number of the token source. A pod name is a DNS
// subdomain (no '_'), so the first '_' ends it; a name too long for a key is hashed, marked by an upper-case
// 'H' no pod name can start with.
std::string token_key_prefix(std::string_view vname, std::string_view uid) {
  std::string p = std::string(vname) + "_" + std::string(uid) + "_";
  if (p.size() + 4 > kMaxDataKey) p = "H" + fnv_hex(vname, 16) + "_" + std::string(uid) + "_";
  return p;
}

// The pod name (empty when hashed) and uid of a data key.
bool parse_token_key(std::string_view key, std::string_view* name, std::string_view* uid) {
  size_t a = key.find('_');
  if (a == std::string_view::npos) return false;
  size_t b = key.find('_', a + 1);
  if (b == std::string_view::npos) return false;
  *name = key[0] == 'H' ? std::string_view() : key.substr(0, a);
  *uid = key.substr(a + 1, b - a - 1);
  return !uid->empty();
}

// The shard group of a pod: "<sa>-sa-tokens-<hash>", the hash over the service account and every token
// source's audiences.
std::string shard_base(const std::string& sa, const std::vector<TokenSource>& sources) {
  std::string id = sa;
  for (const TokenSource& s : sources) {
    id.push_back('\n');
    for (const Value& a : s.audiences.items()) {
      id.append(a.string_or(""));
      id.push_back(' ');
    }
  }
  return sa + std::string(kShardMark) + fnv_hex(id, 8);
}

// A shard of ours, by the marks ensure_tokens gives it.
bool is_token_shard(const Value& secret) {
  return str_at(secret, {"metadata", "annotations"}, "vcluster.loft.sh/skip-backsync") == "true" &&
         str_at(secret, {"metadata", "annotations"}, "vcluster.loft.sh/object-name").find(kShardMark) !=
             std::string::npos;
}

// The shard `vname` of namespace `vns` in the plugin's state (made when first seen); nullptr for a name
// that is not a shard's.
Shard* shard_of(State& st, const std::string& vns, const std::string& vname, std::string* group_key) {
  size_t dash = vname.rfind('-');
  if (dash == std::string::npos || vname.find(kShardMark) == std::string::npos) return nullptr;
  size_t idx = 0;
  for (size_t i = dash + 1; i < vname.size(); i++) {
    if (vname[i] < '0' || vname[i] > '9' || idx > 100000) return nullptr;
    idx = idx * 10 + static_cast<size_t>(vname[i] - '0');
  }
  if (dash + 1 == vname.size()) return nullptr;
  std::string base = vname.substr(0, dash);
  std::string gk = key_of(vns, base);
  Group& g = st.groups[gk];
  g.vns = vns;
  g.base = base;
  while (g.shards.size() <= idx) {
    Shard s;
    s.vname = base + "-" + std::to_string(g.shards.size());
    st.shard_hosts[st.host.name(vns, s.vname)] = {vns, s.vname};
    g.shards.push_back(std::move(s));
  }
  if (group_key) *group_key = gk;
  return &g.shards[idx];
}

// Once per process, before the first token is placed: the shards already on the host (their key counts), and
// which keys belong to pods not on the host yet, so that those pods use the tokens they already have.
void probe_shards(State& st) {
  if (st.probed) return;
  st.probed = true;
  const Host& host = st.host;
  const std::string hns = host.host_namespace();
  std::vector<std::string> texts;
  host.list(VCP_SIDE_HOST, kSecrets, hns, [&](std::string_view text) {
    if (text.find(kShardMark) != std::string_view::npos) texts.emplace_back(text);
    return false;
  });
  for (const std::string& text : texts) {
    auto secret = vc::json::parse(text);
    if (!secret || !is_token_shard(*secret)) continue;
    const std::string vns = str_at(*secret, {"metadata", "annotations"}, "vcluster.loft.sh/object-namespace");
    const std::string vname = str_at(*secret, {"metadata", "annotations"}, "vcluster.loft.sh/object-name");
    std::string gk;
    Shard* sh = shard_of(st, vns, vname, &gk);
    if (!sh) continue;
    sh->exists = true;
    const Value* data = secret->find("data");
    if (!data || !data->is_object()) continue;
    sh->keys = data->size();
    for (const auto& [k, v] : data->members()) {
      std::string_view pod, uid;
      if (!parse_token_key(k, &pod, &uid) || pod.empty()) continue;
      if (!host.has(VCP_SIDE_HOST, kPods, hns, host.name(vns, pod))) st.recovered[k] = sh->vname;
    }
  }
}

// Whether the cached shard holds every data key of a pod.
bool shard_holds(const Host& host, const std::string& vns, const Shard& sh, const std::string& prefix,
                 const std::vector<TokenSource>& sources) {
  auto secret = host.get(VCP_SIDE_HOST, kSecrets, host.host_namespace(), host.name(vns, sh.vname));
  const Value* data = secret ? secret->find("data") : nullptr;
  if (!data) return false;
  for (const TokenSource& s : sources)
    if (!data->contains(prefix + s.key)) return false;
  return true;
}

// Reads the answer of a shard's write in flight and sends the next one. A 2xx answer marks the pods of
// the batch ready and wakes them; a failure puts the batch back and tries again after a growing delay (the
// pods are woken then), so a refusing API server is not asked in a tight loop.
void pump_shard(State& st, const std::string& gk, size_t idx) {
  const Host& host = st.host;
  auto git = st.groups.find(gk);
  if (git == st.groups.end() || idx >= git->second.shards.size()) return;
  Group& g = git->second;
  Shard& sh = g.shards[idx];
  const std::string hns = host.host_namespace();
  const std::string hname = host.name(g.vns, sh.vname);
  const auto now = std::chrono::steady_clock::now();
  if (sh.write != 0) {
    std::string body;
    const int status = host.take_result(sh.write, &body);
    if (status == 0) return;
    sh.write = 0;
    if (auto w = st.write_wakes.find(key_of(g.vns, sh.wake_pod));
        w != st.write_wakes.end() && w->second.first == gk && w->second.second == idx)
      st.write_wakes.erase(w);
    if (status >= 200 && status < 300) {
      sh.exists = true;
      sh.failures = 0;
      for (const auto& [k, add] : sh.writing_adds) {
        auto it = st.ops.find(key_of(g.vns, add.pod));
        if (it != st.ops.end() && it->second.shard == static_cast<int>(idx) && it->second.group == gk) {
          it->second.token_ready = true;
          host.enqueue(kPods, g.vns, add.pod);
        }
      }
      sh.writing_adds.clear();
      sh.writing_removes.clear();
    } else {
      for (auto& [k, add] : sh.writing_adds) sh.adds.emplace(k, std::move(add));
      for (const std::string& k : sh.writing_removes)
        if (!sh.adds.count(k)) sh.removes.insert(k);
      sh.writing_adds.clear();
      sh.writing_removes.clear();
      sh.failures++;
      if (sh.verb == VCP_VERB_CREATE && status == 409) {
        sh.exists = true;  // made meanwhile (or left by an earlier run): add to it
      } else if (sh.verb == VCP_VERB_PATCH && status == 404) {
        sh.exists = false;  // deleted meanwhile: make it again, with nothing to remove
        sh.removes.clear();
      } else {
        host.log(
            VCP_LOG_WARN,
            "writing the host token Secret " + hns + "/" + hname + " answered HTTP " +
                std::to_string(status) + ": " + body.substr(0, 300) +
                (status == 401 || status == 403
                     ? "; the syncer's host credentials must allow creating and patching Secrets in " + hns
                     : std::string()) +
                "; the pods whose tokens it carries wait, and it is written again");
      }
      // The first two conflicts are retried at once; anything else after 0.5 s, doubling up to 30 s.
      const bool conflict = status == 409 || status == 404;
      const int64_t delay_ms =
          conflict && sh.failures <= 2 ? 0 : std::min<int64_t>(30000, 500LL << std::min(sh.failures, 6u));
      sh.retry_at = now + std::chrono::milliseconds(delay_ms);
      if (delay_ms > 0) {
        std::set<std::string> woken;
        for (const auto& [k, add] : sh.adds)
          if (woken.insert(add.pod).second)
            host.enqueue(kPods, g.vns, add.pod, static_cast<uint64_t>(delay_ms));
        if (sh.adds.empty()) host.enqueue(kSecrets, g.vns, sh.vname, static_cast<uint64_t>(delay_ms));
        return;
      }
    }
  }
  if (sh.adds.empty() && sh.removes.empty()) return;
  if (now < sh.retry_at) return;
  if (!sh.exists && host.has(VCP_SIDE_HOST, kSecrets, hns, hname)) sh.exists = true;
  if (!sh.exists) sh.removes.clear();  // nothing to remove from a Secret that is not there
  if (sh.adds.empty() && sh.removes.empty()) return;

  Value body = Value::object();
  if (!sh.exists) {
    body["apiVersion"] = "v1";
    body["kind"] = "Secret";
    Value& meta = body["metadata"];
    meta["name"] = hname;
    meta["namespace"] = hns;
    meta["labels"]["vcluster.loft.sh/managed-by"] = host.cluster_name();
    meta["labels"]["vcluster.loft.sh/namespace"] = g.vns;
    // object-name/namespace make the engine recognise the Secret as ours (its name is their translation);
    // skip-backsync keeps it although no virtual Secret of that name exists.
    meta["annotations"]["vcluster.loft.sh/object-name"] = sh.vname;
    meta["annotations"]["vcluster.loft.sh/object-namespace"] = g.vns;
    meta["annotations"]["vcluster.loft.sh/skip-backsync"] = "true";
    body["type"] = "Opaque";
  }
  // stringData spares the plugin a base64 encoder; the API server stores it as data. A merge patch with a
  // null removes a key.
  if (!sh.adds.empty()) {
    Value string_data = Value::object();
    for (const auto& [k, add] : sh.adds) string_data[k] = add.token;
    body["stringData"] = std::move(string_data);
  }
  if (!sh.removes.empty()) {
    Value data = Value::object();
    for (const std::string& k : sh.removes) data[k] = Value();
    body["data"] = std::move(data);
  }
  sh.verb = sh.exists ? VCP_VERB_PATCH : VCP_VERB_CREATE;
  // The answer wakes a pod of the batch (a pod waiting to be created, whose writes the engine sends
  // first), or the shard's own key for removals alone.
  const bool for_pod = !sh.adds.empty();
  const std::string wake_pod = for_pod ? sh.adds.begin()->second.pod : std::string();
  sh.write =
      host.submit(VCP_SIDE_HOST, kSecrets, sh.verb, hns, sh.exists ? hname : "", "", vc::json::dump(body),
                  for_pod ? kPods : kSecrets, g.vns, for_pod ? wake_pod : sh.vname);
  if (sh.write == 0) {
    host.log(VCP_LOG_WARN, "the engine refused to submit the host token Secret " + hname);
    return;
  }
  sh.wake_pod = wake_pod;
  sh.wake_gone = false;
  if (for_pod) st.write_wakes[key_of(g.vns, wake_pod)] = {gk, idx};
  sh.writing_adds = std::move(sh.adds);
  sh.writing_removes = std::move(sh.removes);
  sh.adds.clear();
  sh.removes.clear();
  st.shards_writing = true;
}

// A pod whose tokens go into a shard that is not on the host yet is woken when it appears (its watch event
// can come before the create's answer). Not for a shard that exists: wait_for wakes at once then.
void wait_for_shard(const Host& host, const std::string& vns, const Shard& sh, const std::string& vname) {
  const std::string hns = host.host_namespace();
  const std::string hname = host.name(vns, sh.vname);
  if (!host.has(VCP_SIDE_HOST, kSecrets, hns, hname))
    host.wait_for(VCP_SIDE_HOST, kSecrets, hns, hname, kPods, vns, vname);
}

// Makes sure the pod's tokens are in a host token Secret: a TokenRequest per token source on the virtual
// side, then a place in a shard. Returns VCP_OK (with facts.token_secret set) when they are written,
// VCP_WAIT while a request or write is on its way, VCP_RETRY on a failed TokenRequest.
vcp_status ensure_tokens(State& st, PodOps& ops, const Value& vpod, const std::vector<TokenSource>& sources,
                         PodFacts* facts) {
  const Host& host = st.host;
  const std::string hns = host.host_namespace();
  const std::string& vns = str_at(vpod, {"metadata"}, "namespace");
  const std::string& vname = str_at(vpod, {"metadata"}, "name");
  const std::string& uid = str_at(vpod, {"metadata"}, "uid");
  std::string sa = str_at(vpod, {"spec"}, "serviceAccountName");
  if (sa.empty()) sa = "default";
  probe_shards(st);
  const std::string prefix = token_key_prefix(vname, uid);
  const std::string base = shard_base(sa, sources);
  const std::string gk = key_of(vns, base);
  facts->token_key_prefix = prefix;

  if (ops.shard < 0 || ops.group != gk) {
    ops.shard = -1;
    ops.token_ready = false;
    // Tokens placed by an earlier run for this very pod (same uid).
    if (auto r = st.recovered.find(prefix + sources.front().key); r != st.recovered.end()) {
      std::string rgk;
      Shard* sh = shard_of(st, vns, r->second, &rgk);
      if (sh && rgk == gk && shard_holds(host, vns, *sh, prefix, sources)) {
        ops.group = gk;
        ops.shard = static_cast<int>(&*sh - &st.groups[gk].shards[0]);
        ops.token_ready = true;
      }
      for (const TokenSource& s : sources) st.recovered.erase(prefix + s.key);
    }
  }
  if (ops.shard >= 0) {
    Shard& sh = st.groups[gk].shards[static_cast<size_t>(ops.shard)];
    facts->token_secret = host.name(vns, sh.vname);
    pump_shard(st, gk, static_cast<size_t>(ops.shard));
    if (ops.token_ready) return VCP_OK;
    bool unsent = false, sent = false;
    for (const TokenSource& s : sources) {
      const std::string k = prefix + s.key;
      unsent = unsent || sh.adds.count(k);
      sent = sent || sh.writing_adds.count(k);
    }
    // The shard's watch event can come before its write's answer: the cache is proof enough.
    if (!unsent && shard_holds(host, vns, sh, prefix, sources)) {
      ops.token_ready = true;
      return VCP_OK;
    }
    if (unsent || sent) {
      // The write's answer wakes the pods it carries. Should the pod it was sent for be gone, they look
      // for the answer themselves, once a second.
      if (sent && sh.wake_gone) host.enqueue(kPods, vns, vname, 1000);
      wait_for_shard(host, vns, sh, vname);
      return VCP_WAIT;
    }
    // Neither written nor on its way (the shard went away meanwhile): ask for tokens again.
    ops.shard = -1;
    facts->token_secret.clear();
  }

  bool missing = false;
  for (const TokenSource& s : sources) {
    const std::string k = prefix + s.key;
    if (ops.tokens.count(k)) continue;
    if (auto it = ops.token_requests.find(k); it != ops.token_requests.end()) {
      std::string body;
      int status = host.take_result(it->second, &body);
      if (status == 0) {
        missing = true;
        continue;
      }
      ops.token_requests.erase(it);
      auto resp = vc::json::parse(body);
      const std::string& token = resp ? str_at(*resp, {"status"}, "token") : std::string();
      if (status < 200 || status >= 300 || token.empty()) {
        host.set_error("the TokenRequest for service account " + vns + "/" + sa + " answered HTTP " +
                       std::to_string(status) +
                       "; the pod waits for a token before it is created on the host");
        return VCP_RETRY;
      }
      ops.tokens[k] = token;
      continue;
    }
    Value req = Value::object();
    req["apiVersion"] = "authentication.k8s.io/v1";
    req["kind"] = "TokenRequest";
    req["spec"]["audiences"] = s.audiences;
    req["spec"]["expirationSeconds"] = kTokenSeconds;
    Value& ref = req["spec"]["boundObjectRef"];
    ref["kind"] = "Pod";
    ref["apiVersion"] = "v1";
    ref["name"] = vname;
    ref["uid"] = uid;
    uint64_t id = host.submit(VCP_SIDE_VIRTUAL, kServiceAccounts, VCP_VERB_CREATE, vns, sa, "token",
                              vc::json::dump(req), kPods, vns, vname);
    if (id == 0) {
      host.set_error("the engine refused to submit a TokenRequest for service account " + vns + "/" + sa);
      return VCP_RETRY;
    }
    ops.token_requests[k] = id;
    missing = true;
  }
  if (missing) return VCP_WAIT;

  // Every token is here: into the first shard of the group with room.
  Group& g = st.groups[gk];
  g.vns = vns;
  g.base = base;
  size_t idx = 0;
  while (idx < g.shards.size() && (g.shards[idx].deleting || g.shards[idx].keys >= kShardKeys)) idx++;
  if (idx == g.shards.size()) shard_of(st, vns, base + "-" + std::to_string(idx), nullptr);
  Shard& sh = st.groups[gk].shards[idx];
  for (auto& [k, token] : ops.tokens) {
    sh.adds[k] = ShardAdd{std::move(token), vname};
    sh.keys++;
  }
  ops.tokens.clear();  // the shard's write holds them now
  ops.group = gk;
  ops.shard = static_cast<int>(idx);
  facts->token_secret = host.name(vns, sh.vname);
  pump_shard(st, gk, idx);
  wait_for_shard(host, vns, st.groups[gk].shards[idx], vname);
  return VCP_WAIT;
}

// Whether the virtual pod a data key names still exists with that uid. Keys with a hashed pod name are
// looked up by uid among the namespace's pods (`uids`, filled on first need).
bool token_pod_alive(const Host& host, const std::string& vns, std::string_view key,
                     std::optional<std::set<std::string>>& uids) {
  std::string_view pod, uid;
  if (!parse_token_key(key, &pod, &uid)) return false;
  if (!pod.empty()) {
    vc::json::Meta m;
    std::string_view text = host.text(VCP_SIDE_VIRTUAL, kPods, vns, pod);
    return !text.empty() && vc::json::peek_meta(text, &m) && m.uid == uid;
  }
  if (!uids) {
    uids.emplace();
    host.list(VCP_SIDE_VIRTUAL, kPods, vns, [&](std::string_view text) {
      vc::json::Meta m;
      if (vc::json::peek_meta(text, &m)) uids->insert(m.uid);
      return false;
    });
  }
  return uids->count(std::string(uid)) > 0;
}

// A shard's reconcile (it never has a virtual twin, so the engine calls on_delete): removes the keys of pods
// that are gone, and lets the engine delete the shard once it is empty. VCP_OK deletes, VCP_SKIP keeps.
vcp_status sweep_shard(State& st, const std::string& vns, const std::string& vname, const Value& secret) {
  std::string gk;
  Shard* sh = shard_of(st, vns, vname, &gk);
  if (!sh) return VCP_SKIP;
  const size_t idx = static_cast<size_t>(sh - &st.groups[gk].shards[0]);
  sh->exists = true;
  pump_shard(st, gk, idx);
  size_t live = 0;
  std::optional<std::set<std::string>> uids;
  if (const Value* data = secret.find("data"); data && data->is_object()) {
    for (const auto& [k, v] : data->members()) {
      if (sh->removes.count(k) || sh->writing_removes.count(k)) continue;
      if (sh->adds.count(k) || sh->writing_adds.count(k) || token_pod_alive(st.host, vns, k, uids)) {
        live++;
      } else {
        sh->removes.insert(k);
        st.recovered.erase(k);
      }
    }
  }
  size_t unwritten = 0;
  for (const auto* m : {&sh->adds, &sh->writing_adds}) unwritten += m->size();
  sh->keys = live + unwritten;
  if (!sh->removes.empty()) {
    pump_shard(st, gk, idx);
    return VCP_SKIP;
  }
  if (live == 0 && unwritten == 0 && sh->write == 0) {
    // No tokens go in until its DELETED event; a token placed meanwhile would be deleted with it.
    sh->deleting = true;
    sh->keys = 0;
    return VCP_OK;
  }
  return VCP_SKIP;
}

// --- Pods --------------------------------------------------------------------------------------------------

// The IP of a host Service, or "" while it is absent or has none yet (then the pod waits for it).
std::string service_ip(const Host& host, const std::string& name, const std::string& vns,
                       const std::string& vname) {
  const std::string hns = host.host_namespace();
  auto svc = host.get(VCP_SIDE_HOST, kServices, hns, name);
  std::string ip = svc ? str_at(*svc, {"spec"}, "clusterIP") : std::string();
  if (ip.empty() || ip == "None") {
    host.wait_for(VCP_SIDE_HOST, kServices, hns, name, kPods, vns, vname);
    return "";
  }
  return ip;
}

Value namespace_labels(const Host& host, const std::string& vns) {
  auto ns = host.get(VCP_SIDE_VIRTUAL, kNamespaces, "", vns);
  const Value* labels = ns ? ns->at({"metadata", "labels"}) : nullptr;
  return labels ? *labels : Value();
}

vcp_status create_pod(State& st, const Config& cfg, const Value& vpod, vcp_buf* out) {
  const Host& host = st.host;
  const std::string hns = host.host_namespace();
  const std::string vns = str_at(vpod, {"metadata"}, "namespace");
  const std::string vname = str_at(vpod, {"metadata"}, "name");
  bool waiting = false;

  PodFacts facts;
  facts.kube_ip = service_ip(host, host.cluster_name(), vns, vname);
  waiting = facts.kube_ip.empty();
  // Only the policies the translator rewrites to the virtual DNS need its IP (§3.2); a pod with dnsPolicy
  // Default or None must not wait for a Service it never uses.
  const Value* spec = vpod.find("spec");
  std::string policy(spec ? field(*spec, "dnsPolicy").string_or("ClusterFirst") : "ClusterFirst");
  bool host_network = spec && field(*spec, "hostNetwork").as_bool(false);
  if ((policy == "ClusterFirst" && !host_network) || policy == "ClusterFirstWithHostNet") {
    facts.dns_ip = service_ip(host, host.name("kube-system", "kube-dns"), vns, vname);
    waiting = waiting || facts.dns_ip.empty();
  }

  // Kubernetes keeps a pod pending until the ConfigMaps and Secrets it mounts exist; the host pod is
  // created only once their host copies do, so it never starts with a missing volume.
  for (const Ref& r : unique_refs(vpod)) {
    uint32_t res = r.kind == RefKind::kConfigMap ? kConfigMaps : kSecrets;
    std::string hname = host.name(vns, r.name);
    if (host.has(VCP_SIDE_HOST, res, hns, hname)) continue;
    if (!host.has(VCP_SIDE_VIRTUAL, res, vns, r.name)) {
      if (r.optional) continue;
      host.wait_for(VCP_SIDE_VIRTUAL, res, vns, r.name, kPods, vns, vname);
      waiting = true;
      continue;
    }
    host.enqueue(res, vns, r.name);
    host.wait_for(VCP_SIDE_HOST, res, hns, hname, kPods, vns, vname);
    waiting = true;
  }

  facts.ns_labels = namespace_labels(host, vns);
  std::vector<TokenSource> sources = token_sources(vpod, host.cluster_domain());
  if (!sources.empty()) {
    vcp_status ts = ensure_tokens(st, st.ops[key_of(vns, vname)], vpod, sources, &facts);
    if (ts == VCP_RETRY) return VCP_RETRY;
    if (ts == VCP_WAIT) waiting = true;
  }
  if (waiting) return VCP_WAIT;

  Value hpod;
  std::string why;
  if (!translate_pod_create(host, cfg, facts, vpod, &hpod, &why)) {
    host.set_error("pod " + vns + "/" + vname + " cannot be synced: " + why);
    return VCP_REFUSED;
  }
  write(host, out, hpod);
  return VCP_OK;
}

vcp_status sync_pod(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  const Config& cfg = config(st);
  if (!cfg.pods_enabled) return VCP_NO_CHANGE;
  if (!cfg.error.empty()) {
    host.set_error(cfg.error);
    return VCP_REFUSED;
  }
  auto vpod = st.trees.parse(std::string_view(args->source.ptr, args->source.len));
  if (!vpod) {
    host.set_error("the virtual pod is not valid JSON");
    return VCP_REFUSED;
  }
  const std::string vns = str(args->source_namespace), vname = str(args->source_name);
  const std::string& vuid = str_at(*vpod, {"metadata"}, "uid");
  PodOps& ops = st.ops[key_of(vns, vname)];

  if (args->target.len == 0) {
    // §3.7 gate 1: a pod that is being deleted, or that already ran and lost its host pod, is never
    // re-created; the virtual cluster has no kubelet to finish its deletion, so it is removed at once.
    if (deleting(*vpod) || vpod->at({"status", "startTime"}) != nullptr) {
      delete_pod(st, ops.delete_virtual, VCP_SIDE_VIRTUAL, vns, vname, 0, vuid, vns, vname);
      return VCP_NO_CHANGE;
    }
    // §3.7 gate 2: under isolation a pod that fails the Pod Security Standard is not synced. The engine
    // turns VCP_REFUSED into one Warning SyncError event on the virtual pod and does not retry the key until
    // the pod changes; the pod stays Pending.
    if (cfg.pod_security) {
      std::vector<PssViolation> violations = pss_check(*vpod, *cfg.pod_security);
      if (!violations.empty()) {
        host.set_error("Pod " + vname + " is forbidden: " + pss_message(*cfg.pod_security, violations));
        return VCP_REFUSED;
      }
    }
    // §3.7 gate 3. The tenant may name a node that the selector keeps out of the virtual cluster; such a pod
    // waits until the node shows there, as vcluster's enforced selector does (it warns and looks again every
    // 15 s). Only with real nodes: fake nodes appear only after a pod runs on them.
    const std::string& vnode = str_at(*vpod, {"spec"}, "nodeName");
    if (cfg.has_node_selector() && cfg.real_nodes && !vnode.empty() &&
        !host.has(VCP_SIDE_VIRTUAL, kNodes, "", vnode)) {
      host.event(VCP_SIDE_VIRTUAL, kPods, vns, vname, "Warning", "SyncWarning",
                 "Given nodeName " + vnode + " does not exist in virtual cluster");
      host.wait_for(VCP_SIDE_VIRTUAL, kNodes, "", vnode, kPods, vns, vname);
      return VCP_WAIT;
    }
    // §3.6: with a virtual scheduler a pod is synced once it is bound. Its binding is a change of the pod,
    // whose watch event brings the key back; nothing else needs waking.
    if (cfg.enable_scheduler && vnode.empty()) return VCP_WAIT;
    return create_pod(st, cfg, *vpod, out);
  }

  auto hpod = st.trees.parse(std::string_view(args->target.ptr, args->target.len));
  if (!hpod) {
    host.set_error("the host pod is not valid JSON");
    return VCP_RETRY;
  }
  // The host pod exists: where its tokens went is in its volumes now.
  ops.group.clear();
  ops.shard = -1;
  ops.token_ready = false;
  if (deleting(*hpod)) {
    // §3.8 step 1: someone deletes the host pod; the virtual pod follows with the host's grace period.
    if (!deleting(*vpod)) {
      std::optional<int64_t> grace;
      if (const Value* g = hpod->at({"metadata", "deletionGracePeriodSeconds"})) {
        grace = g->as_int64(30);
      } else if (const Value* t = hpod->at({"spec", "terminationGracePeriodSeconds"})) {
        grace = t->as_int64(30);
      } else {
        grace = 30;
      }
      delete_pod(st, ops.delete_virtual, VCP_SIDE_VIRTUAL, vns, vname, grace, vuid, vns, vname);
    }
    return VCP_NO_CHANGE;
  }
  if (deleting(*vpod)) {
    // §3.8 step 2: the tenant deletes the pod; the host pod gets the same grace period.
    std::optional<int64_t> grace;
    if (const Value* g = vpod->at({"metadata", "deletionGracePeriodSeconds"})) grace = g->as_int64(30);
    delete_pod(st, ops.delete_host, VCP_SIDE_HOST, str(args->target_namespace), str(args->target_name), grace,
               str_at(*hpod, {"metadata"}, "uid"), vns, vname);
    return VCP_NO_CHANGE;
  }
  // §3.8 step 7: a pod synced before (isolation turned on since, or an ephemeral container added) that fails
  // the standard keeps its host pod, but no update is forwarded; its Warning is emitted once per message.
  if (cfg.pod_security) {
    std::vector<PssViolation> violations = pss_check(*vpod, *cfg.pod_security);
    if (!violations.empty()) {
      std::string msg = "Pod " + vname + " is forbidden: " + pss_message(*cfg.pod_security, violations);
      if (msg == ops.pss_refused) return VCP_NO_CHANGE;
      ops.pss_refused = std::move(msg);
      host.set_error(ops.pss_refused);
      return VCP_REFUSED;
    }
    ops.pss_refused.clear();
  }
  write(host, out, translate_pod_update(host, cfg, *vpod, *hpod, namespace_labels(host, vns)));
  return VCP_OK;
}

// Host status minus what the virtual pod cannot know: statuses of containers it does not declare.
Value filtered_status(const Value& vpod, const Value& hstatus) {
  Value status = hstatus;
  const std::pair<std::string_view, std::string_view> lists[] = {
      {"containerStatuses", "containers"},
      {"initContainerStatuses", "initContainers"},
      {"ephemeralContainerStatuses", "ephemeralContainers"}};
  for (const auto& [slist, clist] : lists) {
    Value* ss = status.find(slist);
    if (ss == nullptr || !ss->is_array()) continue;
    Value kept = Value::array();
    for (const Value& s : ss->items()) {
      const std::string& name = field(s, "name").as_string();
      bool declared = false;
      for (const Value& c : field(field(vpod, "spec"), clist).items())
        declared = declared || field(c, "name").as_string() == name;
      if (declared && name != "vcluster-rewrite-hosts") kept.push_back(s);
    }
    *ss = std::move(kept);
  }
  return status;
}

vcp_status back_sync_pod(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  const Config& cfg = config(st);
  if (!cfg.pods_enabled) return VCP_NO_CHANGE;
  auto vpod = st.trees.parse(std::string_view(args->source.ptr, args->source.len));
  auto hpod = st.trees.parse(std::string_view(args->target.ptr, args->target.len));
  if (!vpod || !hpod) return VCP_NO_CHANGE;
  if (deleting(*vpod) || deleting(*hpod)) return VCP_NO_CHANGE;
  const std::string vns = str(args->source_namespace), vname = str(args->source_name);
  PodOps& ops = st.ops[key_of(vns, vname)];

  const std::string& hnode = str_at(*hpod, {"spec"}, "nodeName");
  const std::string& vnode = str_at(*vpod, {"spec"}, "nodeName");
  // The binding's watch event often comes before its answer: read the answer later, so the engine drops it.
  if (ops.bind != 0 && !vnode.empty() && host.take_result(ops.bind, nullptr) != 0) ops.bind = 0;
  if (!vnode.empty()) ops.bound_to.clear();  // the cache shows the binding now
  if (!hnode.empty() && vnode.empty()) {
    // §3.8 step 3: the host scheduler placed the pod; bind the virtual pod to the same node. The watch
    // event of the binding brings the key back for the status.
    if (ops.bind != 0) {
      int status = host.take_result(ops.bind, nullptr);
      if (status == 0) return VCP_NO_CHANGE;  // still in flight
      ops.bind = 0;
      // The answer is a Status, so the cache learns of the binding only from the pod's watch event; until
      // then a woken key must not bind again (each repeat was answered 409 in the benchmarks).
      if ((status >= 200 && status < 300) || status == 409) ops.bound_to = hnode;
    }
    if (ops.bound_to != hnode) {
      Value b = Value::object();
      b["apiVersion"] = "v1";
      b["kind"] = "Binding";
      b["metadata"]["name"] = vname;
      b["metadata"]["namespace"] = vns;
      b["target"]["apiVersion"] = "v1";
      b["target"]["kind"] = "Node";
      b["target"]["name"] = hnode;
      ops.bind = host.submit(VCP_SIDE_VIRTUAL, kPods, VCP_VERB_CREATE, vns, vname, "binding",
                             vc::json::dump(b), kPods, vns, vname);
    }
    return VCP_NO_CHANGE;
  }
  if (!hnode.empty() && hnode != vnode) {
    // A virtual pod bound to another node than the host pod runs on cannot be reconciled.
    delete_pod(st, ops.delete_virtual, VCP_SIDE_VIRTUAL, vns, vname, std::nullopt,
               str_at(*vpod, {"metadata"}, "uid"), vns, vname);
    return VCP_NO_CHANGE;
  }
  // The virtual pod with the host's status, written member by member rather than by copying the whole
  // tree to replace one member.
  const Value* hs = hpod->find("status");
  std::string text;
  text.reserve(args->source.len + 1024);
  text.push_back('{');
  for (const auto& [k, v] : vpod->members()) {
    if (hs != nullptr && k == "status") continue;
    if (text.size() > 1) text.push_back(',');
    vc::json::quote_to(text, k);
    text.push_back(':');
    vc::json::dump_to(text, v);
  }
  if (hs != nullptr) {
    if (text.size() > 1) text.push_back(',');
    text.append("\"status\":");
    vc::json::dump_to(text, filtered_status(*vpod, *hs));
  }
  text.push_back('}');
  host.api()->buf_clear(out);
  host.api()->buf_append(out, text.data(), text.size());
  return VCP_OK;
}

// --- ConfigMaps and Secrets -------------------------------------------------------------------------------

bool used_by_pod(const Host& host, uint32_t res, std::string_view ns, std::string_view name) {
  bool used = false;
  host.by_index(VCP_SIDE_VIRTUAL, kPods, res == kConfigMaps ? kIndexConfigMaps : kIndexSecrets,
                key_of(ns, name), [&](std::string_view) {
                  used = true;
                  return true;
                });
  return used;
}

vcp_status sync_config_object(State& st, const vcp_sync_args* args, vcp_buf* out) {
  const Host& host = st.host;
  const Config& cfg = config(st);
  bool secret = args->resource == kSecrets;
  auto vobj = vc::json::parse(std::string_view(args->source.ptr, args->source.len));
  if (!vobj) {
    host.set_error("the virtual object is not valid JSON");
    return VCP_REFUSED;
  }
  std::optional<Value> current;
  if (args->target.len > 0) current = vc::json::parse(std::string_view(args->target.ptr, args->target.len));
  if (secret && current && (is_token_shard(*current) || is_token_secret(*current))) {
    // The name is taken by a token Secret of this vcluster: neither overwrite nor delete it.
    host.set_error(
        "the host Secret " + str(args->target_name) +
        " holds service-account tokens of this virtual cluster's pods; rename the virtual Secret " +
        str(args->source_namespace) + "/" + str(args->source_name));
    return VCP_REFUSED;
  }
  bool used = (secret ? cfg.all_secrets : cfg.all_configmaps) ||
              str_at(*vobj, {"metadata", "annotations"}, "vcluster.loft.sh/force-sync") == "true" ||
              (cfg.pods_enabled &&
               used_by_pod(host, args->resource, str(args->source_namespace), str(args->source_name)));
  if (!used) return VCP_SKIP;
  write(host, out, translate_config_object(host, *vobj, current ? &*current : nullptr, secret));
  return VCP_OK;
}

// --- Events, host → virtual ------------------------------------------------------------------------------

// The pod a host Event is about, when it is one of ours: the host pod is in the cache of owned host pods
// (managed-by this vcluster), its name is the translation of its object-name/object-namespace annotations,
// the virtual pod exists, and the Event is about this host pod and not an earlier one of the same name.
std::optional<EventPod> event_pod(const Host& host, const Value& hev) {
  const Value& io = field(hev, "involvedObject");
  const std::string_view api_version = field(io, "apiVersion").string_or("");
  if (field(io, "kind").string_or("") != "Pod" || (!api_version.empty() && api_version != "v1"))
    return std::nullopt;
  EventPod p;
  p.host_namespace = host.host_namespace();
  p.host_name = std::string(field(io, "name").string_or(""));
  if (field(io, "namespace").string_or("") != p.host_namespace || p.host_name.empty()) return std::nullopt;
  auto hpod = host.get(VCP_SIDE_HOST, kPods, p.host_namespace, p.host_name);
  if (!hpod) return std::nullopt;
  const std::string_view io_uid = field(io, "uid").string_or("");
  if (!io_uid.empty() && io_uid != str_at(*hpod, {"metadata"}, "uid")) return std::nullopt;
  p.vns = str_at(*hpod, {"metadata", "annotations"}, "vcluster.loft.sh/object-namespace");
  p.vname = str_at(*hpod, {"metadata", "annotations"}, "vcluster.loft.sh/object-name");
  if (p.vname.empty() || host.name(p.vns, p.vname) != p.host_name) return std::nullopt;
  auto vpod = host.get(VCP_SIDE_VIRTUAL, kPods, p.vns, p.vname);
  if (!vpod) return std::nullopt;
  p.vuid = str_at(*vpod, {"metadata"}, "uid");
  p.vresource_version = str_at(*vpod, {"metadata"}, "resourceVersion");
  return p;
}

// Brings the virtual copy of a host Event up to date: creates it the first time, patches it when the host
// Event repeated (a higher count). At most one write per Event is in flight.
void sync_event(State& st, const Value& hev, std::string_view text) {
  const Host& host = st.host;
  const std::string& uid = str_at(hev, {"metadata"}, "uid");
  if (uid.empty()) return;
  const Uid key = uid_key(uid);
  if (auto w = st.event_writes.find(key); w != st.event_writes.end()) {
    w->second.latest.assign(text);  // written once the write in flight finishes
    return;
  }
  auto it = st.events.find(key);
  if (it == st.events.end()) {
    std::optional<int64_t> when = event_time(hev);
    if (!when || *when < st.start_time) return;
  }
  std::optional<EventPod> pod = event_pod(host, hev);
  if (!pod) return;
  const EventDone done = it == st.events.end() ? EventDone{} : it->second;
  const int64_t count = event_count(hev);
  if (count <= done.handled) return;
  EventWrite w;
  w.host_name = str_at(hev, {"metadata"}, "name");
  w.vns = pod->vns;
  w.vname = virtual_event_name(w.host_name, *pod);
  w.vpod = pod->vname;
  w.verb = done.exists ? VCP_VERB_PATCH : VCP_VERB_CREATE;
  const Value body = done.exists ? event_patch(hev, *pod) : translate_event(hev, *pod);
  w.id = host.submit(VCP_SIDE_VIRTUAL, kEvents, w.verb, w.vns, done.exists ? w.vname : "", "",
                     vc::json::dump(body), kPods, w.vns, w.vpod);
  if (w.id == 0) return;
  w.count = count;
  w.latest.assign(text);
  if (it == st.events.end()) st.events.emplace(key, done);
  st.events_in_flight[key_of(w.vns, w.vpod)].insert(key);
  st.event_writes.emplace(key, std::move(w));
}

// Reads the results of finished Event writes. A copy that already exists (409 on create, e.g. after a
// restart) is patched instead; a copy that vanished (404 on patch: its TTL ran out, or the tenant deleted
// it) is created again. Any other failure is logged and that count is given up on, so a write the virtual
// API server keeps refusing is not retried in a tight loop; the next repeat tries again. Then the host
// Event is synced once more, as it is now, which writes whatever repeat arrived in the meantime.
void collect_event_writes(State& st, const std::string& pod_key) {
  const Host& host = st.host;
  if (auto o = st.orphaned_writes.find(pod_key); o != st.orphaned_writes.end()) {
    std::erase_if(o->second, [&](uint64_t id) { return host.take_result(id, nullptr) != 0; });
    if (o->second.empty()) st.orphaned_writes.erase(o);
  }
  auto in_flight = st.events_in_flight.find(pod_key);
  if (in_flight == st.events_in_flight.end()) return;
  std::vector<Uid> done;
  // The Events as last seen: a repeat that came meanwhile, or the text the finished write was made from (a
  // create answered 409 becomes a patch of it). Nothing is kept once no write is in flight.
  std::vector<std::string> again;
  for (const Uid& key : in_flight->second) {
    auto w = st.event_writes.find(key);
    if (w == st.event_writes.end()) {
      done.push_back(key);
      continue;
    }
    std::string body;
    const int status = host.take_result(w->second.id, &body);
    if (status == 0) continue;
    EventDone& d = st.events[key];
    const bool ok = status >= 200 && status < 300;
    if (w->second.verb == VCP_VERB_CREATE && status == 409) {
      d.exists = true;
      d.handled = 0;
    } else if (w->second.verb == VCP_VERB_PATCH && status == 404) {
      d.exists = false;
      d.handled = 0;
    } else {
      if (ok) {
        d.exists = true;
      } else {
        host.log(VCP_LOG_WARN, "copying host event " + w->second.host_name + " to " + w->second.vns + "/" +
                                   w->second.vname + " answered HTTP " + std::to_string(status) + ": " +
                                   body + "; it is copied again when it repeats");
      }
      d.handled = w->second.count;
    }
    again.push_back(std::move(w->second.latest));
    st.event_writes.erase(w);
    done.push_back(key);
  }
  for (const Uid& key : done) in_flight->second.erase(key);
  if (in_flight->second.empty()) st.events_in_flight.erase(in_flight);
  for (const std::string& text : again)
    if (auto hev = vc::json::parse(text)) sync_event(st, *hev, text);
}

// A host Event that is gone (its TTL ran out) needs no copy state any more; the virtual copy stays, as
// vcluster never deletes one, and expires by the virtual API server's own TTL.
void forget_event(State& st, const std::string& uid) {
  const Uid key = uid_key(uid);
  if (auto w = st.event_writes.find(key); w != st.event_writes.end()) {
    const std::string pod_key = key_of(w->second.vns, w->second.vpod);
    st.orphaned_writes[pod_key].push_back(w->second.id);
    if (auto f = st.events_in_flight.find(pod_key); f != st.events_in_flight.end()) {
      f->second.erase(key);
      if (f->second.empty()) st.events_in_flight.erase(f);
    }
    st.event_writes.erase(w);
  }
  st.events.erase(key);
}

// --- Hooks
// ---------------------------------------------------------------------------------------------------

template <typename F>
vcp_status guarded(State* st, F body) {
  try {
    if (++st->hook_calls % 32 == 0) {
      if (!st->stray_writes.empty())
        std::erase_if(st->stray_writes, [&](uint64_t id) { return st->host.take_result(id, nullptr) != 0; });
      // A shard write's answer wakes one pod of its batch; should that pod be gone, it is read here.
      if (st->shards_writing) {
        st->shards_writing = false;
        for (auto& [gk, g] : st->groups) {
          for (size_t i = 0; i < g.shards.size(); i++) {
            if (g.shards[i].write == 0) continue;
            pump_shard(*st, gk, i);
            st->shards_writing = st->shards_writing || g.shards[i].write != 0;
          }
        }
      }
    }
    return body();
  } catch (const std::exception& e) {
    st->host.set_error(std::string("pods plugin internal error: ") + e.what());
  } catch (...) {
    st->host.set_error("pods plugin internal error: unknown exception");
  }
  return VCP_ERROR;
}

vcp_status on_init(const vcp_host_api* api, vcp_host_ctx* ctx, void** state) {
  try {
    if (api == nullptr || api->abi_major != VCP_ABI_MAJOR || !VCP_HAS_FIELD(api, vcp_host_api, emit_event)) {
      return VCP_ERROR;
    }
    auto* st = new State{Host(api, ctx), {}};
    st->start_time = static_cast<int64_t>(std::time(nullptr));
    if (!VCP_HAS_FIELD(api, vcp_host_api, translate_label_key_prefixed)) {
      st->host.log(
          VCP_LOG_WARN,
          "the engine's host table predates plugin ABI 1.1, so pods get no ns-label keys for the labels "
          "of their virtual namespace");
    }
    api->add_index(
        ctx, VCP_SIDE_VIRTUAL, kPods, kIndexConfigMaps,
        [](void* u, vcp_str o, void (*emit)(void*, vcp_str), void* e) {
          index_refs(u, o, emit, e, RefKind::kConfigMap);
        },
        st);
    api->add_index(
        ctx, VCP_SIDE_VIRTUAL, kPods, kIndexSecrets,
        [](void* u, vcp_str o, void (*emit)(void*, vcp_str), void* e) {
          index_refs(u, o, emit, e, RefKind::kSecret);
        },
        st);
    *state = st;
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
      case kPods:
        // Event writes wake the key of their pod, so that their results are read promptly.
        collect_event_writes(*st, key_of(str(args->source_namespace), str(args->source_name)));
        // The answer of a token Secret write woke this pod: read it, whatever this sync does.
        if (auto w = st->write_wakes.find(key_of(str(args->source_namespace), str(args->source_name)));
            w != st->write_wakes.end()) {
          const auto shard = w->second;
          pump_shard(*st, shard.first, shard.second);
        }
        {
          vcp_status status = sync_pod(*st, args, out);
          drop_if_idle(*st, args);
          return status;
        }
      case kConfigMaps:
      case kSecrets:
        return sync_config_object(*st, args, out);
      default:
        return VCP_SKIP;
    }
  });
}

vcp_status on_back_sync(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&] {
    if (args->resource != kPods) return VCP_NO_CHANGE;
    vcp_status status = back_sync_pod(*st, args, out);
    drop_if_idle(*st, args);
    return status;
  });
}

vcp_status on_delete(void* state, const vcp_sync_args* args, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  return guarded(st, [&]() -> vcp_status {
    const Host& host = st->host;
    auto target = st->trees.parse(std::string_view(args->target.ptr, args->target.len));
    const std::string vns = str(args->source_namespace), vname = str(args->source_name);
    if (args->resource == kPods) {
      if (!config(*st).pods_enabled) return VCP_SKIP;
      forget_ops(*st, key_of(vns, vname));
      // The uid precondition makes sure the engine deletes the host pod it saw, not a newer one.
      Value opts = Value::object();
      opts["apiVersion"] = "v1";
      opts["kind"] = "DeleteOptions";
      if (target) {
        if (const std::string& uid = str_at(*target, {"metadata"}, "uid"); !uid.empty())
          opts["preconditions"]["uid"] = uid;
      }
      write(host, out, opts);
      return VCP_OK;
    }
    if (args->resource == kSecrets && target &&
        str_at(*target, {"metadata", "annotations"}, "vcluster.loft.sh/skip-backsync") == "true") {
      // A token Secret has no virtual twin by design; a shard keeps the keys of pods that exist, and goes
      // when it holds none.
      if (is_token_shard(*target)) return sweep_shard(*st, vns, vname, *target);
      if (vname.size() > kTokenSuffix.size() && vname.ends_with(kTokenSuffix)) {
        std::string pod = vname.substr(0, vname.size() - kTokenSuffix.size());
        if (host.has(VCP_SIDE_VIRTUAL, kPods, vns, pod)) return VCP_SKIP;
        return VCP_OK;
      }
      return VCP_SKIP;
    }
    return VCP_OK;
  });
}

void on_watch_event(void* state, const vcp_event* ev) {
  auto* st = static_cast<State*>(state);
  try {
    const Host& host = st->host;
    if (ev->side == VCP_SIDE_HOST && ev->resource == kEvents) {
      auto hev = vc::json::parse(std::string_view(ev->object.ptr, ev->object.len));
      if (!hev) return;
      // A repeat of an Event whose last write finished but was not read yet: read it now, so the repeat
      // is written at once.
      if (auto w = st->event_writes.find(uid_key(str_at(*hev, {"metadata"}, "uid")));
          w != st->event_writes.end())
        collect_event_writes(*st, key_of(w->second.vns, w->second.vpod));
      if (ev->type == VCP_EVENT_DELETED) {
        forget_event(*st, str_at(*hev, {"metadata"}, "uid"));
      } else {
        sync_event(*st, *hev, std::string_view(ev->object.ptr, ev->object.len));
      }
      return;
    }
    if (ev->side == VCP_SIDE_VIRTUAL && ev->resource == kPods) {
      // A pod that appears or changes may start or stop using ConfigMaps and Secrets: re-evaluate each of
      // them, from the old and the new spec, so that unused host copies are deleted.
      for (vcp_str raw : {ev->object, ev->old_object}) {
        if (raw.len == 0) continue;
        auto pod = st->trees.parse(std::string_view(raw.ptr, raw.len));
        if (!pod) continue;
        const std::string& ns = str_at(*pod, {"metadata"}, "namespace");
        for (const Ref& r : unique_refs(*pod))
          host.enqueue(r.kind == RefKind::kConfigMap ? kConfigMaps : kSecrets, ns, r.name);
        if (ev->type == VCP_EVENT_DELETED) {
          const std::string& name = str_at(*pod, {"metadata"}, "name");
          const std::string pod_key = key_of(ns, name);
          // Its tokens leave their shard: the shard it was placed in (no host pod yet), or the one its
          // host pod mounted (that pod went first).
          if (auto o = st->ops.find(pod_key); o != st->ops.end() && o->second.shard >= 0) {
            auto g = st->groups.find(o->second.group);
            if (g != st->groups.end() && static_cast<size_t>(o->second.shard) < g->second.shards.size()) {
              Shard& sh = g->second.shards[static_cast<size_t>(o->second.shard)];
              host.enqueue(kSecrets, ns, sh.vname);
              // The answer of the write in flight would wake this pod: the others of its batch wait for
              // it themselves now.
              if (sh.write != 0 && sh.wake_pod == name) {
                sh.wake_gone = true;
                for (const auto& [k, add] : sh.writing_adds)
                  if (add.pod != name) host.enqueue(kPods, ns, add.pod);
              }
            }
          }
          if (auto d = st->dying.find(pod_key); d != st->dying.end()) {
            if (auto sh = st->shard_hosts.find(d->second); sh != st->shard_hosts.end())
              host.enqueue(kSecrets, sh->second.first, sh->second.second);
            st->dying.erase(d);
          }
          forget_ops(*st, pod_key);
          // A per-pod token Secret of an earlier version goes with its pod.
          if (host.has(VCP_SIDE_HOST, kSecrets, host.host_namespace(),
                       host.name(ns, name + std::string(kTokenSuffix))))
            host.enqueue(kSecrets, ns, name + std::string(kTokenSuffix));
        }
      }
      return;
    }
    if (ev->side == VCP_SIDE_HOST && ev->resource == kPods && ev->type == VCP_EVENT_DELETED) {
      // A host pod is gone: the keys of its tokens go once its virtual pod is gone as well (at once when it
      // already is; otherwise on the virtual pod's DELETED event).
      auto hpod = vc::json::parse(std::string_view(ev->object.ptr, ev->object.len));
      if (!hpod) return;
      const std::string& vns =
          str_at(*hpod, {"metadata", "annotations"}, "vcluster.loft.sh/object-namespace");
      const std::string& vname = str_at(*hpod, {"metadata", "annotations"}, "vcluster.loft.sh/object-name");
      if (vname.empty()) return;
      for (const Value& v : field(field(*hpod, "spec"), "volumes").items()) {
        for (const Value& s : field(field(v, "projected"), "sources").items()) {
          const std::string name(field(field(s, "secret"), "name").string_or(""));
          auto sh = st->shard_hosts.find(name);
          if (sh == st->shard_hosts.end()) continue;
          if (host.has(VCP_SIDE_VIRTUAL, kPods, vns, vname)) {
            st->dying[key_of(vns, vname)] = name;
          } else {
            host.enqueue(kSecrets, sh->second.first, sh->second.second);
          }
        }
      }
      return;
    }
    if (ev->side == VCP_SIDE_HOST && ev->resource == kSecrets && ev->type == VCP_EVENT_DELETED) {
      // A shard the engine deleted (or someone else did): it takes tokens again, starting empty.
      std::string_view text(ev->object.ptr, ev->object.len);
      if (text.find(kShardMark) == std::string_view::npos) return;
      auto secret = vc::json::parse(text);
      if (!secret || !is_token_shard(*secret)) return;
      std::string gk;
      Shard* sh =
          shard_of(*st, str_at(*secret, {"metadata", "annotations"}, "vcluster.loft.sh/object-namespace"),
                   str_at(*secret, {"metadata", "annotations"}, "vcluster.loft.sh/object-name"), &gk);
      if (!sh) return;
      sh->deleting = false;
      sh->exists = false;
      sh->keys = sh->adds.size() + sh->writing_adds.size();
      return;
    }
    if (ev->side == VCP_SIDE_VIRTUAL && ev->resource == kNamespaces && ev->type != VCP_EVENT_DELETED) {
      // Namespace labels are copied onto pods (ns-label keys), so a label change re-syncs its pods.
      auto ns = vc::json::parse(std::string_view(ev->object.ptr, ev->object.len));
      if (!ns) return;
      std::optional<Value> old;
      if (ev->old_object.len > 0)
        old = vc::json::parse(std::string_view(ev->old_object.ptr, ev->old_object.len));
      const Value* labels = ns->at({"metadata", "labels"});
      const Value* old_labels = old ? old->at({"metadata", "labels"}) : nullptr;
      if (ev->type == VCP_EVENT_MODIFIED && ((labels == nullptr && old_labels == nullptr) ||
                                             (labels && old_labels && *labels == *old_labels))) {
        return;
      }
      const std::string& name = str_at(*ns, {"metadata"}, "name");
      host.list(VCP_SIDE_VIRTUAL, kPods, name, [&](std::string_view pod) {
        vc::json::Meta m;
        if (vc::json::peek_meta(pod, &m)) host.enqueue(kPods, m.namespace_, m.name);
        return false;
      });
    }
  } catch (...) {
    // Watch handlers schedule work and copy Events; an exception (allocation failure) loses at most one
    // copy or one resync, never the correctness of a pod write.
  }
}

// The engine's cache of host Secrets keeps a token Secret without its tokens: the plugin only ever asks
// which keys it holds (ensure_tokens, sweep_shard), and random tokens do not pack (10,000 pods: 9 MiB of
// cache).
// Every other Secret, a copy of a virtual one, is cached whole: on_sync compares it with its source.
vcp_status on_cache(void* state, vcp_side side, uint32_t resource, vcp_str object, vcp_buf* out) {
  auto* st = static_cast<State*>(state);
  if (side != VCP_SIDE_HOST || resource != kSecrets) return VCP_SKIP;
  try {
    std::string_view text(object.ptr, object.len);
    if (text.find("vcluster.loft.sh/skip-backsync") == std::string_view::npos) return VCP_SKIP;
    auto secret = vc::json::parse(text);
    if (!secret || !(is_token_shard(*secret) || is_token_secret(*secret))) return VCP_SKIP;
    if (Value* data = secret->find("data"); data && data->object_ptr()) {
      for (auto& [k, v] : *data->object_ptr()) v = "";
    }
    write(st->host, out, *secret);
    return VCP_OK;
  } catch (...) {
    return VCP_SKIP;  // out of memory: the Secret is cached whole, which is only bigger
  }
}

const vcp_plugin kPlugin = {
    sizeof(vcp_plugin),
    VCP_ABI_MAJOR,
    VCP_ABI_MINOR,
    "pods",
    "0.1.0",
    "Syncs virtual pods to the host namespace, with the ConfigMaps, Secrets and service-account tokens they "
    "use, "
    "and their status, node binding and events back.",
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
    &on_cache,
};

}  // namespace
}  // namespace vcp_pods

extern "C" VCP_EXPORT const vcp_plugin* vcp_plugin_entry_v1(void) {
  return &vcp_pods::kPlugin;
}
