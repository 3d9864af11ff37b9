#include "simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "util/log.hpp"

namespace vc::nodesim {
namespace {

const kube::GVR kNodes{"", "v1", "nodes", false, "Node"};
const kube::GVR kPods{"", "v1", "pods", true, "Pod"};
const kube::GVR kLeases{"coordination.k8s.io", "v1", "leases", true, "Lease"};
constexpr const char* kLeaseNamespace = "kube-node-lease";

std::string now_rfc3339() {
  return rfc3339(std::chrono::system_clock::now());
}

// "register/sim-node-0" -> ("register", "sim-node-0").
std::pair<std::string, std::string> split_key(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) return {key, {}};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

std::string uid_of(std::string_view body) {
  json::Meta m;
  return json::peek_meta(body, &m) ? m.uid : std::string();
}

// A retry that is worth a warning: anything but the API server asking us to slow down or a conflict that
// the next attempt resolves by itself.
bool noisy(const kube::Result& r) {
  return r.status != 429 && r.status != 409;
}

// How to retry a failed request: after the server's Retry-After when it sent one (429 from API Priority
// and Fairness, 503 from a busy server), else with the key's exponential backoff.
queue::Result retry_for(const kube::Result& r) {
  if (r.retry_after.count() > 0) return queue::Result::requeue_after(r.retry_after);
  return queue::Result::retry();
}

}  // namespace

Simulator::Simulator(uv_loop_t* loop, kube::Client* client, std::vector<NodeSpec> nodes,
                     std::vector<Block> blocks, Settings settings)
    : loop_(loop), client_(client), settings_(settings) {
  nodes_.reserve(nodes.size());
  std::string since = now_rfc3339();
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node n;
    n.spec = std::move(nodes[i]);
    n.block = std::move(blocks[i]);
    n.since = since;
    node_by_name_.emplace(n.spec.name, static_cast<int>(i));
    nodes_.push_back(std::move(n));
  }
  // The node queue carries three keys per node; a few in flight are enough and leave the rest of
  // --max-in-flight to pods. Together they never exceed --max-in-flight.
  std::size_t node_share = std::clamp<std::size_t>(settings_.max_in_flight / 8, 1, 8);
  std::size_t pod_share = settings_.max_in_flight > node_share ? settings_.max_in_flight - node_share : 1;
  // Failed writes back off per key from 100 ms to 10 s: a simulator should catch up quickly once the API
  // server answers again, and its keys are few compared with a controller's.
  queue::WorkQueue::Options qo;
  qo.base_delay = std::chrono::milliseconds(100);
  qo.max_delay = std::chrono::seconds(10);
  node_queue_ = std::make_unique<queue::UvWorkQueue>(
      loop_, qo, [this](const std::string& key) { reconcile_node(key); }, node_share);
  pod_queue_ = std::make_unique<queue::UvWorkQueue>(
      loop_, qo, [this](const std::string& key) { reconcile_pod(key); }, pod_share);

  informer::Options io;
  // Only pods the scheduler has bound; unscheduled ones are none of a kubelet's business. The scheduler's
  // own informer for assigned pods uses the same selector.
  io.field_selector = "spec.nodeName!=";
  pods_ = std::make_unique<informer::Informer>(loop_, client_, kPods, io);
  informer::Handlers h;
  h.on_add = [this](const informer::ObjectPtr& o) { consider_pod(o); };
  h.on_update = [this](const informer::ObjectPtr&, const informer::ObjectPtr& o) { consider_pod(o); };
  h.on_delete = [this](const informer::ObjectPtr& o) { release_ip(o->key(), std::string(o->uid())); };
  pods_->add_handlers(std::move(h));
  pods_->on_error([](const Error& e) { log().warn("pod informer: {}", e.message); });
}

Simulator::~Simulator() = default;

std::size_t Simulator::pods_queued() const {
  return pod_queue_->core().len() + pod_queue_->core().delayed();
}

std::size_t Simulator::in_flight() const {
  return pod_queue_->in_flight() + node_queue_->in_flight();
}

int Simulator::node_index(const std::string& name) const {
  auto it = node_by_name_.find(name);
  return it == node_by_name_.end() ? -1 : it->second;
}

void Simulator::failed(const std::string& what, const kube::Result& r) {
  counters_.request_errors++;
  if (stopping_) return;
  if (noisy(r)) {
    log().warn("{} failed: {}", what, r.err.message);
  } else {
    log().debug("{} will be retried: {}", what, r.err.message);
  }
}

void Simulator::start(std::function<void()> on_ready) {
  on_ready_ = std::move(on_ready);
  for (auto& n : nodes_) node_queue_->add("register/" + n.spec.name);
  auto make_timer = [this](bool leases) {
    auto* t = new uv_timer_t;
    uv_timer_init(loop_, t);
    t->data = this;
    uint64_t ms = 1000ull * static_cast<uint64_t>(leases ? settings_.lease_interval_seconds
                                                         : settings_.heartbeat_interval_seconds);
    // One timer per kind for all nodes: the queue spreads the writes, and N nodes cost two handles.
    uv_timer_cb cb = leases ? +[](uv_timer_t* h) { static_cast<Simulator*>(h->data)->tick(true); }
                            : +[](uv_timer_t* h) { static_cast<Simulator*>(h->data)->tick(false); };
    uv_timer_start(t, cb, ms, ms);
    return t;
  };
  lease_timer_ = make_timer(true);
  heartbeat_timer_ = make_timer(false);
  pods_->start();
}

void Simulator::tick(bool leases) {
  for (auto& n : nodes_)
    if (n.registered) node_queue_->add((leases ? "lease/" : "status/") + n.spec.name);
}

void Simulator::stop(std::function<void()> done) {
  stopping_ = true;
  // Five handles close: two timers, the informer's, two queues'. `done` runs after the last.
  auto pending = std::make_shared<int>(5);
  auto finish = [pending, done = std::move(done)] {
    if (--*pending == 0 && done) done();
  };
  for (uv_timer_t** slot : {&lease_timer_, &heartbeat_timer_}) {
    uv_timer_t* t = *slot;
    *slot = nullptr;
    if (!t) {
      finish();
      continue;
    }
    uv_timer_stop(t);
    t->data = new std::function<void()>(finish);
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
      auto* cb = static_cast<std::function<void()>*>(h->data);
      delete reinterpret_cast<uv_timer_t*>(h);
      (*cb)();
      delete cb;
    });
  }
  pods_->stop(finish);
  node_queue_->close(finish);
  pod_queue_->close(finish);
}

// ---- nodes ----

void Simulator::reconcile_node(const std::string& key) {
  auto [kind, name] = split_key(key);
  int i = node_index(name);
  if (i < 0 || stopping_) {
    node_queue_->done(key, queue::Result::ok());
    return;
  }
  if (kind == "register") {
    register_node(key, i);
  } else if (kind == "status") {
    update_node_status(key, i);
  } else {
    renew_lease(key, i);
  }
}

void Simulator::register_node(const std::string& key, int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  client_->create(kNodes, "", node_object(n.spec), [this, key, i](kube::Result r) {
    Node& n = nodes_[static_cast<size_t>(i)];
    if (r.ok()) {
      n.uid = uid_of(r.body);
      counters_.node_registrations++;
      log().info("registered node {} (InternalIP {}, pod CIDR {})", n.spec.name, n.spec.internal_ip,
                 n.block.cidr());
      node_queue_->add("status/" + n.spec.name);
      node_queue_->done(key, queue::Result::ok());
      return;
    }
    if (!r.already_exists()) {
      failed("create node " + n.spec.name, r);
      node_queue_->done(key, retry_for(r));
      return;
    }
    // A node left by an earlier run (or made by hand): take it over by putting our labels on it. Its
    // spec.podCIDR cannot change once set, so an old one stays; our addresses come from our own block.
    client_->patch(kNodes, "", n.spec.name, kube::PatchType::kMerge, node_labels_patch(n.spec),
                   [this, key, i](kube::Result r2) {
                     Node& n = nodes_[static_cast<size_t>(i)];
                     if (!r2.ok()) {
                       failed("label existing node " + n.spec.name, r2);
                       node_queue_->done(key, retry_for(r2));
                       return;
                     }
                     n.uid = uid_of(r2.body);
                     counters_.node_registrations++;
                     log().info("took over existing node {}", n.spec.name);
                     node_queue_->add("status/" + n.spec.name);
                     node_queue_->done(key, queue::Result::ok());
                   });
  });
}

void Simulator::update_node_status(const std::string& key, int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  client_->patch(
      kNodes, "", n.spec.name, kube::PatchType::kMerge, node_status_patch(n.spec, n.since, now_rfc3339()),
      [this, key, i](kube::Result r) {
        Node& n = nodes_[static_cast<size_t>(i)];
        if (r.not_found()) {
          // Someone deleted the Node: register it again, as a kubelet does when its node disappears.
          if (n.registered) nodes_ready_--;
          n.registered = false;
          log().warn("node {} was deleted; registering it again", n.spec.name);
          node_queue_->add("register/" + n.spec.name);
          node_queue_->done(key, queue::Result::ok());
          return;
        }
        if (!r.ok()) {
          failed("update status of node " + n.spec.name, r);
          node_queue_->done(key, retry_for(r));
          return;
        }
        counters_.node_status_updates++;
        if (!n.registered) {
          n.registered = true;
          nodes_ready_++;
          // The Lease right away: the node-lifecycle controller reads it as the heartbeat.
          node_queue_->add("lease/" + n.spec.name);
        }
        node_queue_->done(key, queue::Result::ok());
        if (!announced_ && nodes_ready_ == static_cast<int>(nodes_.size())) {
          announced_ = true;
          log().info("{} nodes ready", nodes_.size());
          if (on_ready_) on_ready_();
        }
      },
      "status");
}

void Simulator::renew_lease(const std::string& key, int i) {
  Node& n = nodes_[static_cast<size_t>(i)];
  std::string renew = micro_time(std::chrono::system_clock::now());
  client_->patch(kLeases, kLeaseNamespace, n.spec.name, kube::PatchType::kMerge,
                 lease_renew_patch(n.spec, settings_.lease_duration_seconds, renew),
                 [this, key, i, renew](kube::Result r) {
                   Node& n = nodes_[static_cast<size_t>(i)];
                   if (r.ok()) {
                     counters_.lease_renewals++;
                     node_queue_->done(key, queue::Result::ok());
                     return;
                   }
                   if (!r.not_found()) {
                     failed("renew lease of node " + n.spec.name, r);
                     node_queue_->done(key, retry_for(r));
                     return;
                   }
                   client_->create(kLeases, kLeaseNamespace,
                                   lease_object(n.spec, n.uid, settings_.lease_duration_seconds, renew),
                                   [this, key, i](kube::Result r2) {
                                     Node& n = nodes_[static_cast<size_t>(i)];
                                     if (!r2.ok()) {
                                       failed("create lease of node " + n.spec.name, r2);
                                       node_queue_->done(key, retry_for(r2));
                                       return;
                                     }
                                     counters_.lease_renewals++;
                                     node_queue_->done(key, queue::Result::ok());
                                   });
                 });
}

// ---- pods ----

void Simulator::consider_pod(const informer::ObjectPtr& obj) {
  if (stopping_) return;
  auto pod = json::parse(obj->json());
  if (!pod) return;
  PodFacts f = pod_facts(*pod);
  int i = node_index(f.node_name);
  std::string key = obj->key();
  if (i < 0) {
    // Not ours. An address we still hold under this key belonged to an earlier pod of the same name.
    release_ip(key, {});
    return;
  }
  if (f.deleting) {
    if (!f.forced) pod_queue_->add(key);
    return;
  }
  if (f.phase == "Running") {
    // Already running (we wrote it, or an earlier run did): make sure its address is marked used, so a
    // restarted simulator never hands it out twice.
    auto it = allocs_.find(key);
    if (it != allocs_.end() && it->second.uid == obj->uid()) return;
    uint32_t ip = 0;
    Node& n = nodes_[static_cast<size_t>(i)];
    if (parse_ipv4(f.pod_ip, &ip) && n.block.reserve(ip)) {
      release_ip(key, {});
      allocs_[key] = Alloc{std::string(obj->uid()), i, ip};
    }
    return;
  }
  if (f.phase == "Succeeded" || f.phase == "Failed") {
    // A finished pod's sandbox is gone on a real node, and with it the address.
    release_ip(key, {});
    return;
  }
  pod_queue_->add(key);
}

bool Simulator::ensure_ip(const std::string& key, const std::string& uid, int node, uint32_t* ip) {
  auto it = allocs_.find(key);
  if (it != allocs_.end()) {
    if (it->second.uid == uid && it->second.node == node) {
      *ip = it->second.ip;
      return true;
    }
    release_ip(key, {});
  }
  Node& n = nodes_[static_cast<size_t>(node)];
  if (!n.block.allocate(ip)) return false;
  allocs_[key] = Alloc{uid, node, *ip};
  return true;
}

void Simulator::release_ip(const std::string& key, const std::string& uid) {
  auto it = allocs_.find(key);
  if (it == allocs_.end()) return;
  if (!uid.empty() && it->second.uid != uid) return;
  nodes_[static_cast<size_t>(it->second.node)].block.release(it->second.ip);
  allocs_.erase(it);
}

void Simulator::reconcile_pod(const std::string& key) {
  auto done = [this, key](queue::Result res) { pod_queue_->done(key, res); };
  informer::ObjectPtr obj = pods_->get_key(key);
  if (!obj || stopping_) {
    if (!obj) release_ip(key, {});
    done(queue::Result::ok());
    return;
  }
  auto pod = json::parse(obj->json());
  if (!pod) {
    done(queue::Result::ok());
    return;
  }
  PodFacts f = pod_facts(*pod);
  int i = node_index(f.node_name);
  if (i < 0) {
    done(queue::Result::ok());
    return;
  }
  if (f.deleting) {
    if (f.forced) {
      done(queue::Result::ok());
      return;
    }
    // The containers of a simulated pod stop at once, so the graceful deletion is complete as soon as it
    // starts: delete with gracePeriodSeconds 0, as the kubelet does after its containers exit. The uid
    // precondition keeps us from deleting a new pod that took the name meanwhile.
    std::string uid = f.uid;
    client_->remove(kPods, obj->namespace_(), obj->name(), force_delete_options(uid),
                    [this, key, uid, done](kube::Result r) {
                      if (r.ok() || r.not_found()) {
                        if (r.ok()) counters_.pods_deleted++;
                        release_ip(key, uid);
                        done(queue::Result::ok());
                      } else if (r.status == 409) {
                        // The uid precondition failed: the name now belongs to another pod, which its own
                        // events bring to us.
                        done(queue::Result::ok());
                      } else {
                        failed("delete pod " + key, r);
                        done(retry_for(r));
                      }
                    });
    return;
  }
  if (f.phase == "Running" || f.phase == "Succeeded" || f.phase == "Failed") {
    done(queue::Result::ok());
    return;
  }
  uint32_t ip = 0;
  Node& n = nodes_[static_cast<size_t>(i)];
  if (!ensure_ip(key, f.uid, i, &ip)) {
    // The node's block is full (more pods than --max-pods were bound, which the scheduler prevents unless
    // someone set spec.nodeName by hand). Wait for an address to be released.
    log().warn("pod {} on node {}: no free address in {}; retrying", key, n.spec.name, n.block.cidr());
    done(queue::Result::requeue_after(std::chrono::seconds(5)));
    return;
  }
  std::string body = pod_running_patch(*pod, format_ipv4(ip), n.spec.internal_ip, now_rfc3339());
  client_->patch(
      kPods, obj->namespace_(), obj->name(), kube::PatchType::kMerge, std::move(body),
      [this, key, uid = f.uid, done](kube::Result r) {
        if (r.ok()) {
          counters_.pods_started++;
          // Apply our own write to the cache now, so the MODIFIED event that follows changes nothing.
          pods_->observe_write(r.body);
          done(queue::Result::ok());
        } else if (r.not_found()) {
          release_ip(key, {});
          done(queue::Result::ok());
        } else if (r.status == 422) {
          // Either metadata.uid did not match (a new pod took the name; its own events bring it here again)
          // or the API server found the status invalid, which retrying cannot fix: say so loudly.
          informer::ObjectPtr now_cached = pods_->get_key(key);
          if (now_cached && now_cached->uid() == uid) {
            failed("write status of pod " + key, r);
          } else {
            log().debug("pod {} was replaced before its status was written: {}", key, r.err.message);
          }
          done(queue::Result::ok());
        } else {
          failed("write status of pod " + key, r);
          done(retry_for(r));
        }
      },
      "status");
}

}  // namespace vc::nodesim
