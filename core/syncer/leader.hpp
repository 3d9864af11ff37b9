// Leader election on a coordination.k8s.io/v1 Lease in the host namespace, for HA syncer replicas.
// Like client-go, expiry is judged by when WE last saw the lease change (not by the holder's clock), so
// clock skew between replicas cannot make two leaders.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <string>

#include "kube/client.hpp"

namespace vc::syncer {

struct LeaderOptions {
  std::string namespace_, name, identity;
  std::chrono::seconds lease_duration{60}, renew_deadline{40}, retry_period{15};
};

class LeaderElector {
 public:
  LeaderElector(uv_loop_t* loop, kube::Client* client, LeaderOptions opts);
  ~LeaderElector();
  // on_started_leading runs once when the lease is ours; on_stopped_leading when it is lost.
  void run(std::function<void()> on_started_leading, std::function<void()> on_stopped_leading);
  void close(std::function<void()> done);
  bool leading() const { return leading_; }

 private:
  void tick();
  void try_acquire_or_renew();
  std::string lease_json(const std::string& rv, int transitions) const;

  uv_loop_t* loop_;
  kube::Client* client_;
  LeaderOptions opts_;
  uv_timer_t* timer_ = nullptr;
  bool leading_ = false, busy_ = false;
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_at_{}, last_renew_{};
  std::string acquire_time_;
  std::function<void()> started_, stopped_;
};

}  // namespace vc::syncer
