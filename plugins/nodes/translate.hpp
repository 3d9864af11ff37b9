// Host node → virtual node translation (vcluster-behaviour.md §7) and the decision whether a status write is
// worth making. The functions read nothing but their arguments, so the golden tests pin their output; the
// lifecycle (which nodes are needed, when to delete, how to write) lives in plugin.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "host.hpp"
#include "json/json.hpp"
#include "selector.hpp"

namespace vcp_nodes {

// What the virtual cluster shows for a host node.
enum class Mode {
  kOff,   // neither sync.nodes.enabled nor sync.fake-nodes.enabled: the plugin leaves virtual nodes alone
  kFake,  // a made-up node per host node a virtual pod runs on (the default)
  kReal   // copies of host nodes (sync.nodes.enabled)
};

// The plugin's configuration keys, resolved and checked once in on_init.
struct Config {
  Mode mode = Mode::kFake;
  bool sync_all = false;  // also true when enableScheduler has no selector, as vcluster's start.go forces
  bool has_selector = false;
  Selector selector;
  bool enable_scheduler = false;
  bool sync_node_changes = false;
  bool clear_images = false;
  // The syncer's kubelet endpoint (sync.nodes.kubeletAddress, "IP:PORT", filled by the syncer from
  // --kubelet-address): every virtual node advertises it as its InternalIP and kubelet port, so the virtual
  // API server's logs/exec/port-forward reach the syncer. Empty: the made-up hostname and port 10250 only.
  std::string kubelet_ip;
  int kubelet_port = 0;
  std::string error;  // a sentence naming the bad key or combination, when the values cannot be honoured
};

// Reads our keys through the host table (missing keys take their defaults) and checks their combinations.
Config read_config(const Host& host);

// How often a heartbeat-only status change reaches the virtual node. A v1.20 kubelet with the NodeLease
// feature posts an unchanged node status only every nodeStatusReportFrequency (5 minutes), so a virtual
// node whose lastHeartbeatTime is up to 5 minutes old looks exactly like a healthy real node; and the
// virtual control plane runs no node-lifecycle controller (vcluster disables it) that would read the age.
constexpr int64_t kHeartbeatRefreshSeconds = 300;

// vcluster.loft.sh/fake-node: "true" marks a node made up by fake mode, so that a switch of mode replaces it.
constexpr std::string_view kFakeNodeLabel = "vcluster.loft.sh/fake-node";
// Bookkeeping annotations of real nodes (vcluster's translate.ApplyMetadata and nodes/translate.go): the
// sorted, "\n"-joined keys copied from the host, and the host taints of the last sync as a JSON array of
// JSON-encoded taints.
constexpr std::string_view kManagedLabels = "vcluster.loft.sh/managed-labels";
constexpr std::string_view kManagedAnnotations = "vcluster.loft.sh/managed-annotations";
constexpr std::string_view kOriginalTaints = "vcluster.loft.sh/original-taints";

// In real mode, whether a host node is synced whatever the pods do (kAlways), never (kNever: the selector
// does not match it), or only while a virtual pod uses it (kIfNeeded).
enum class Selection { kAlways, kNever, kIfNeeded };
Selection select_node(const Config& cfg, const vc::json::Value& hnode);

// True for a virtual node that fake mode made.
bool is_fake_node(const vc::json::Value& vnode);

// The address every virtual node shows instead of the host's: "<name with . as ->.nodes.vcluster.com".
std::string fake_hostname(std::string_view node_name);

// A new fake node for host node `hnode`, without status: only the basic labels (hostname, os, arch, the
// fake-node marker) and no taints, so nothing of the host leaks but its name, os and architecture.
vc::json::Value fake_node(const vc::json::Value& hnode);

// An existing fake node as it should stay: the tenant's metadata and spec, minus the taints that only
// Kubernetes sets (node.kubernetes.io/*). The API server's TaintNodesByCondition admission puts
// node.kubernetes.io/not-ready on every node it creates, and no node-lifecycle controller runs in the
// virtual cluster to take it off (vcluster removes it right after creating a fake node, too).
vc::json::Value fake_node_update(const vc::json::Value& vnode);

// The status of a fake node: Ready, no pressure, the host's capacity and allocatable (vcluster's generic
// figures when the host reports none), the made-up hostname as the only address, a minimal nodeInfo with
// stable made-up IDs. Heartbeat times follow the host's Ready heartbeat (`now` when it has none);
// transition times are kept from `current` (the virtual node's status, may be null) while a condition holds.
vc::json::Value fake_status(const vc::json::Value& hnode, const vc::json::Value* current,
                            std::string_view now);

// With a kubelet endpoint configured: an InternalIP address first (the virtual API server's
// --kubelet-preferred-address-types puts InternalIP first) and its port as the kubelet port.
void apply_kubelet_endpoint(vc::json::Value& status, const Config& cfg);

// Parses "IP:PORT" ("[v6]:PORT" too) for sync.nodes.kubeletAddress; false with a reason otherwise.
bool parse_kubelet_address(std::string_view text, std::string* ip, int* port, std::string* why);

// The virtual copy of a real host node without its status: host labels and annotations merged into the
// virtual node's (`vnode`, null on create) keeping keys the tenant added; the host spec, with taints merged
// the same way when enableScheduler or syncNodeChanges is on (node.kubernetes.io/* taints only ever come
// from the host: see fake_node_update).
vc::json::Value real_node(const vc::json::Value& hnode, const vc::json::Value* vnode, const Config& cfg);

// The status of a real node: the host's, with the host addresses that reveal its network (InternalIP,
// InternalDNS, Hostname) replaced by the made-up hostname, the kubelet port 10250, and no images when
// clearImageStatus is on.
vc::json::Value real_status(const vc::json::Value& hnode, const Config& cfg);

// True when `desired` differs from `current` (null when the node has no status) in anything but heartbeats:
// condition type/status/reason, capacity, allocatable, addresses, nodeInfo, images, volumes, endpoints.
bool status_differs(const vc::json::Value& desired, const vc::json::Value* current);

// True when the Ready heartbeat of `desired` is kHeartbeatRefreshSeconds or more ahead of `current`'s (or
// current has none that can be read).
bool heartbeat_due(const vc::json::Value& desired, const vc::json::Value* current);

// True when two objects are equal once members the API server would omit (null, "", [], {}) are dropped.
bool same_content(const vc::json::Value& a, const vc::json::Value& b);

// With syncNodeChanges in real mode: the host node carrying the labels and taints the tenant added to the
// virtual node (keys not listed as host-managed, taints not among the last host set), or nullopt when the
// host node already has them all.
std::optional<vc::json::Value> host_node_with_tenant_changes(const vc::json::Value& hnode,
                                                             const vc::json::Value& vnode);

// Seconds since the epoch of an RFC 3339 time ("2024-05-01T10:00:00Z", fractions and offsets allowed), or
// nullopt when it is not one.
std::optional<int64_t> parse_time(std::string_view text);

// The current UTC time in RFC 3339, as metav1.Time serialises it.
std::string now_rfc3339();

}  // namespace vcp_nodes
