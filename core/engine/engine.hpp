// The sync engine: one libuv loop feeding virtual and host informers to the loaded plugins.
//
// For each resource a plugin owns, the engine keys work by the SOURCE object (virtual namespace/name for
// TO_HOST resources) and reconciles: create the missing target, update it only when the plugin's desired
// object differs from the cached one, delete owned targets whose source is gone (also those orphaned while
// the syncer was down, found at start from the ownership label and annotations), back-sync, and never
// touch a target the syncer does not own. Plugins see JSON and the host services table of vcp/plugin.h.
#pragma once

#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <vcp/plugin.h>

#include "informer/informer.hpp"
#include "kube/client.hpp"
#include "plugin/instance.hpp"
#include "plugin/loader.hpp"
#include "queue/uv_work_queue.hpp"
#include "util/error.hpp"

namespace vc::config {
class Values;
}

namespace vc::engine {

struct Settings {
  std::string vcluster_name = "vcluster";  // the suffix of host names
  std::string host_namespace;              // where namespaced targets live
  std::string cluster_domain = "cluster.local";
  size_t max_in_flight = 64;  // concurrent reconciles
  // Plugin writes (submit) on the wire per side; more wait in the engine, in order. Without a bound, a burst
  // of Event copies, Bindings and TokenRequests queued thousands deep in the HTTP client ahead of the
  // engine's own writes (a fake Node create waited 30 s and timed out, and the virtual pod-GC deleted the
  // pods bound to that node), and their deadlines ran out while they queued.
  // Writes that continue the creation of an object (its wake key's target does not exist yet: a pod's
  // TokenRequest and token Secret) go before the others (Event copies, Bindings).
  size_t max_submits_in_flight = 64;
  // While objects are being created (urgent keys queued or in a reconcile, or their writes on the wire),
  // reconciles of the other keys and the other plugin writes wait, for at most this long: during a burst
  // both API servers are the limit, and status copies, Bindings and Event copies (2-3 writes per pod) would
  // take their time from the creations. 0 turns the hold off.
  std::chrono::milliseconds creation_hold_max{10000};
  // The hold is on only while creations are backed up: urgent keys queued, urgent writes waiting for a slot,
  // or at least this many creations in a reconcile or on the wire. A steady trickle of creations (50 pods/s
  // keeps about 5 on their way) then never holds status copies back: with any creation counting, the hold
  // was on nearly all the time and pods showed Running in the virtual cluster 2.8 s after the host (p50).
  size_t creation_hold_busy = 16;
  std::chrono::milliseconds backoff_cap{30000};
  double write_qps = 0;  // overall queue rate limit; 0 = none (the API server is the limit)
};

// Counters for /metrics and the benchmarks.
struct Metrics {
  uint64_t reconciles = 0, creates = 0, updates = 0, deletes = 0, status_updates = 0, no_change = 0;
  uint64_t retries = 0, refusals = 0, waits = 0, conflicts = 0, submits = 0, events_emitted = 0;
  uint64_t informer_events = 0;
  uint64_t results_dropped = 0;  // plugin write answers never read, dropped after kUnreadResultTtl
  std::vector<double> latency_buckets_le{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::vector<uint64_t> latency_counts = std::vector<uint64_t>(12, 0);  // last = +Inf
  double latency_sum = 0;
  uint64_t latency_count = 0;
  void observe_latency(double seconds);
};

class Engine {
 public:
  Engine(uv_loop_t* loop, kube::Client* virtual_client, kube::Client* host_client, Settings settings,
         const config::Values* values);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Adds a loaded plugin (conflicts were checked by the caller). Before start().
  void add_plugin(plugin::LoadedPlugin loaded);
  // Calls every plugin's on_init, starts the informers, and starts reconciling once every cache is synced.
  // A plugin whose on_init fails is quarantined with its reason; the others go on.
  Error start();
  // Stops reconciling and closes the informers and timers; `done` runs when every handle is closed.
  void stop(std::function<void()> done);

  bool ready() const { return ready_; }
  const Metrics& metrics() const { return metrics_; }
  size_t queue_depth() const;
  // The creation hold: whether it holds now, and the creation work it waits for (urgent keys queued, urgent
  // keys in a reconcile, urgent plugin writes waiting or on the wire).
  struct HoldInfo {
    bool held;
    size_t urgent_queued, urgent_processing, urgent_submits;
    size_t urgent_deferred = 0;  // urgent plugin writes waiting for a slot on the wire
  };
  HoldInfo hold_info() const;
  // Whether the hold should be on (Settings::creation_hold_busy).
  static bool hold_wanted(const HoldInfo& h, size_t busy) {
    return h.urgent_queued > 0 || h.urgent_deferred > 0 || h.urgent_processing + h.urgent_submits >= busy;
  }
  // Answers of plugin writes not read yet (take_result): how many, and their bodies' bytes.
  std::pair<size_t, size_t> unread_results() const;
  // The same by the write they answer (verb "create/sub" for a subresource such as a Binding).
  struct UnreadWrites {
    std::string plugin, side, kind, verb;
    size_t count = 0, bytes = 0;
  };
  std::vector<UnreadWrites> unread_results_by_write() const;
  // (plugin name, reason) of every quarantined plugin.
  std::vector<std::pair<std::string, std::string>> quarantined() const;
  // Every informer: side, resource id, cached objects, bytes held for them (packed), their JSON's size
  // unpacked, and the size of the dictionary they are packed against.
  struct InformerInfo {
    std::string side, resource;
    size_t objects, bytes, json_bytes, dict_bytes;
  };
  std::vector<InformerInfo> informers() const;
  // Called once when every cache is synced and reconciling starts.
  std::function<void()> on_ready;
  // A cache for a core part beside the plugins (the DNS server reads virtual Services and Endpoints): the
  // informer of side|gvr over all namespaces without a selector, the very one a plugin declaring that
  // resource gets (so no second watch), or one made for the caller when none does; `h` is added to its
  // handlers. Before start(); readiness waits for it like for the others. Read-only: the caller never
  // writes through it.
  const informer::Informer* watch_cache(vcp_side side, const kube::GVR& gvr, informer::Handlers h);

  // The pieces the host services need; public for the services table in host_api.cpp.
  struct PluginSlot;
  struct ResourceSlot;
  struct CallCtx;

 private:
  friend struct HostApi;
  struct Reconcile;

  informer::Informer* informer_for(vcp_side side, const plugin::Resource& r, const std::string& ns,
                                   const std::string& selector);
  void wire_events(size_t p, size_t r);
  void route(size_t p, size_t r, vcp_side side, vcp_event_type type, const informer::ObjectPtr& obj,
             const informer::ObjectPtr& old);
  void add_key(const std::string& key);
  // Whether a key's reconcile would create its target (source present and not deleting, target absent):
  // such keys are urgent in the work queue.
  bool creates_target(const std::string& key) const;
  // Sends deferred plugin writes of one side (0 virtual, 1 host) while slots are free; non-urgent ones
  // only when the creation hold is off.
  void pump_submits(int side);
  // Turns the creation hold on while creation work is pending, off when none is (then sends the held
  // plugin writes).
  void update_hold();
  // Whether a non-urgent plugin write deferred at `since` must still wait for the creation hold.
  bool held_back(std::chrono::steady_clock::time_point since) const;
  void enqueue(size_t p, size_t r, const std::string& ns, const std::string& name, uint64_t delay_ms);
  void process(const std::string& key);
  void finish(Reconcile* rc, queue::Result result);
  void step_forward(Reconcile* rc);
  // A key of a VCP_RES_HOST_NAMESPACES resource (ABI 1.4): on_sync with the host object, no target.
  void reconcile_watched(Reconcile* rc);
  void step_back(Reconcile* rc);
  void check_foreign(Reconcile* rc);
  void do_delete(Reconcile* rc, const std::string& options);
  void quarantine_check(size_t p);
  // Hands each informer only one plugin declares to that plugin's on_cache hook (ABI 1.3), if it has one.
  void wire_projections();
  // What the cache keeps of `full`: the text plugin p's on_cache wrote, checked to keep the identity.
  bool project(size_t p, size_t r, vcp_side side, const informer::Object& full, std::string* out);
  void on_all_synced();
  // Where a source object's target lives: the host namespace for TO_HOST, the source's own otherwise, ""
  // for cluster-scoped resources.
  std::string target_namespace(const ResourceSlot& rs, const std::string& ns) const;
  std::string target_name(const ResourceSlot& rs, const std::string& ns, const std::string& name) const;
  bool owned_target(const ResourceSlot& rs, const informer::Object& target) const;
  bool source_key_of_target(const ResourceSlot& rs, const informer::Object& target, std::string* ns,
                            std::string* name) const;
  void emit_event(vcp_side side, const ResourceSlot& rs, const std::string& ns, const std::string& name,
                  const std::string& type, const std::string& reason, const std::string& message);
  kube::Client* client(vcp_side side) const { return side == VCP_SIDE_HOST ? host_ : virtual_; }

  uv_loop_t* loop_;
  kube::Client* virtual_;
  kube::Client* host_;
  Settings settings_;
  const config::Values* values_;
  std::vector<std::unique_ptr<PluginSlot>> plugins_;
  std::map<std::string, std::unique_ptr<informer::Informer>> informers_;  // by side|gvr|ns|selector
  std::unique_ptr<queue::UvWorkQueue> queue_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> first_seen_;
  std::set<std::string> pending_keys_;  // keys seen before every cache synced
  // wait_for: watched object key (side|p|r|ns/name) -> waiting work keys
  std::unordered_map<std::string, std::vector<std::string>> waiters_;
  // submit results: id -> (status, body)
  struct SubmitResult {
    int status;
    std::string body;
    std::chrono::steady_clock::time_point at;
    size_t plugin;
    uint32_t resource;
    vcp_side side;
    vcp_verb verb;
    bool subresource;
  };
  std::unordered_map<uint64_t, SubmitResult> results_;
  // Answers a plugin never read are dropped after this long (a plugin bug: they would be kept forever).
  static constexpr std::chrono::minutes kUnreadResultTtl{10};
  uint64_t results_since_sweep_ = 0;
  void sweep_results();
  uint64_t next_submit_ = 1;
  size_t submits_in_flight_[2] = {0, 0};  // by side: 0 virtual, 1 host
  struct Deferred {
    std::chrono::steady_clock::time_point since;
    std::function<void()> send;
  };
  std::deque<Deferred> deferred_submits_[2][2];  // sends waiting for a slot: [side][urgent]
  // Creation work, for the hold: keys handed out as urgent and not finished, and urgent plugin writes
  // waiting or on the wire.
  std::unordered_set<std::string> urgent_processing_;
  size_t urgent_submits_ = 0;
  Metrics metrics_;
  bool started_ = false, ready_ = false, stopping_ = false;
  size_t pending_sync_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace vc::engine
