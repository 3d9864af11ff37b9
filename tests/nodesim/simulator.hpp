// The simulated kubelets: one object that does for N nodes what N kubelets would do through the API, on one
// libuv loop. Two work queues carry all writes: a small one for the nodes (registration, status heartbeats,
// Lease renewals) and a large one for pods, so that a burst of 10,000 pods never delays a Lease renewal
// by more than the HTTP pool's queue. Both queues deduplicate keys and bound the requests in flight.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "informer/informer.hpp"
#include "ipam.hpp"
#include "kube/client.hpp"
#include "objects.hpp"
#include "queue/uv_work_queue.hpp"

namespace vc::nodesim {

struct Settings {
  std::size_t max_in_flight = 64;
  int lease_interval_seconds = 10;
  int heartbeat_interval_seconds = 40;
  // The kubelet's nodeLeaseDurationSeconds default.
  int lease_duration_seconds = 40;
};

struct Counters {
  uint64_t node_registrations = 0;  // Node created, or an existing one relabelled
  uint64_t node_status_updates = 0;
  uint64_t lease_renewals = 0;  // Lease patched or created
  uint64_t pods_started = 0;    // Running status written
  uint64_t pods_deleted = 0;    // graceful deletions completed with gracePeriodSeconds 0
  uint64_t request_errors = 0;  // failed requests that were retried or given up
};

class Simulator {
 public:
  // `nodes` and `blocks` are parallel: blocks[i] holds node i's pod addresses.
  Simulator(uv_loop_t* loop, kube::Client* client, std::vector<NodeSpec> nodes, std::vector<Block> blocks,
            Settings settings);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Registers the nodes and starts watching pods. `on_ready` runs once, the first time every node has been
  // registered with a Ready status.
  void start(std::function<void()> on_ready);
  // Stops the timers, the pod informer and both queues; `done` runs once their handles are closed. Requests
  // still in flight end when the caller closes the client (their results are then ignored).
  void stop(std::function<void()> done);

  const Counters& counters() const { return counters_; }
  int nodes_ready() const { return nodes_ready_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  std::size_t pod_ips_in_use() const { return allocs_.size(); }
  std::size_t pods_cached() const { return pods_ ? pods_->size() : 0; }
  std::size_t pods_queued() const;
  std::size_t in_flight() const;

 private:
  struct Node {
    NodeSpec spec;
    Block block;
    std::string uid;    // from the API's answers; the Lease's owner reference
    std::string since;  // when this run first reported it Ready: the conditions' lastTransitionTime
    bool registered = false;
  };
  struct Alloc {
    std::string uid;
    int node = -1;
    uint32_t ip = 0;
  };

  void reconcile_node(const std::string& key);
  void register_node(const std::string& key, int i);
  void update_node_status(const std::string& key, int i);
  void renew_lease(const std::string& key, int i);
  void tick(bool leases);

  void consider_pod(const informer::ObjectPtr& obj);
  void reconcile_pod(const std::string& key);
  bool ensure_ip(const std::string& key, const std::string& uid, int node, uint32_t* ip);
  void release_ip(const std::string& key, const std::string& uid);

  int node_index(const std::string& name) const;
  // Logs a failed request (unless we are stopping) and counts it.
  void failed(const std::string& what, const kube::Result& r);

  uv_loop_t* loop_;
  kube::Client* client_;
  Settings settings_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, int> node_by_name_;
  std::unordered_map<std::string, Alloc> allocs_;  // pod key "ns/name" -> its address
  std::unique_ptr<informer::Informer> pods_;
  std::unique_ptr<queue::UvWorkQueue> node_queue_, pod_queue_;
  uv_timer_t* lease_timer_ = nullptr;
  uv_timer_t* heartbeat_timer_ = nullptr;
  std::function<void()> on_ready_;
  Counters counters_;
  int nodes_ready_ = 0;
  bool announced_ = false, stopping_ = false;
};

}  // namespace vc::nodesim
