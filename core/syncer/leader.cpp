#include "syncer/leader.hpp"

#include <ctime>

#include "json/json.hpp"
#include "util/log.hpp"

namespace vc::syncer {
namespace {
const kube::GVR kLeases{"coordination.k8s.io", "v1", "leases", true, "Lease"};

std::string micro_time_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[40], out[80];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out, sizeof out, "%s.%06ldZ", buf, ts.tv_nsec / 1000);
  return out;
}
}  // namespace

LeaderElector::LeaderElector(uv_loop_t* loop, kube::Client* client, LeaderOptions opts)
    : loop_(loop), client_(client), opts_(std::move(opts)) {}

LeaderElector::~LeaderElector() = default;

std::string LeaderElector::lease_json(const std::string& rv, int transitions) const {
  json::Value l = json::Value::object();
  l["apiVersion"] = "coordination.k8s.io/v1";
  l["kind"] = "Lease";
  l["metadata"]["name"] = opts_.name;
  l["metadata"]["namespace"] = opts_.namespace_;
  if (!rv.empty()) l["metadata"]["resourceVersion"] = rv;
  l["spec"]["holderIdentity"] = opts_.identity;
  l["spec"]["leaseDurationSeconds"] = static_cast<int64_t>(opts_.lease_duration.count());
  l["spec"]["acquireTime"] = acquire_time_;
  l["spec"]["renewTime"] = micro_time_now();
  l["spec"]["leaseTransitions"] = transitions;
  return json::dump(l);
}

void LeaderElector::run(std::function<void()> on_started_leading, std::function<void()> on_stopped_leading) {
  started_ = std::move(on_started_leading);
  stopped_ = std::move(on_stopped_leading);
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  try_acquire_or_renew();
  uint64_t period = static_cast<uint64_t>(std::chrono::milliseconds(opts_.retry_period).count());
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<LeaderElector*>(t->data)->tick(); }, period, period);
}

void LeaderElector::tick() {
  if (leading_ && std::chrono::steady_clock::now() - last_renew_ > opts_.renew_deadline) {
    leading_ = false;
    log().error("lost the leader lease {}/{}: not renewed within {}s", opts_.namespace_, opts_.name,
                opts_.renew_deadline.count());
    if (stopped_) stopped_();
    return;
  }
  try_acquire_or_renew();
}

void LeaderElector::try_acquire_or_renew() {
  if (busy_) return;
  busy_ = true;
  client_->get(kLeases, opts_.namespace_, opts_.name, [this](kube::Result r) {
    auto done = [this](bool ok) {
      busy_ = false;
      if (ok) {
        last_renew_ = std::chrono::steady_clock::now();
        if (!leading_) {
          leading_ = true;
          log().info("acquired the leader lease {}/{} as {}", opts_.namespace_, opts_.name, opts_.identity);
          if (started_) started_();
        }
      }
    };
    if (r.not_found()) {
      acquire_time_ = micro_time_now();
      client_->create(kLeases, opts_.namespace_, lease_json("", 0), [done](kube::Result c) { done(c.ok()); });
      return;
    }
    if (!r.ok()) {
      log().warn("leader lease {}/{}: {}", opts_.namespace_, opts_.name, r.err.message);
      done(false);
      return;
    }
    auto lease = json::parse(r.body);
    if (!lease) {
      done(false);
      return;
    }
    const json::Value* spec = lease->find("spec");
    std::string holder =
        spec && spec->find("holderIdentity") ? spec->find("holderIdentity")->as_string() : "";
    std::string renew = spec && spec->find("renewTime") ? spec->find("renewTime")->as_string() : "";
    int transitions =
        spec && spec->find("leaseTransitions") ? int(spec->find("leaseTransitions")->as_int64()) : 0;
    std::string rv = lease->at({"metadata", "resourceVersion"})
                         ? lease->at({"metadata", "resourceVersion"})->as_string()
                         : "";
    auto now = std::chrono::steady_clock::now();
    std::string record = holder + "|" + renew;
    if (record != observed_record_) {
      observed_record_ = record;
      observed_at_ = now;
    }
    bool expired = holder.empty() || now - observed_at_ > opts_.lease_duration;
    if (holder != opts_.identity && !expired) {
      done(false);
      return;
    }
    if (holder != opts_.identity) {
      acquire_time_ = micro_time_now();
      transitions++;
    } else if (acquire_time_.empty()) {
      acquire_time_ =
          spec && spec->find("acquireTime") ? spec->find("acquireTime")->as_string() : micro_time_now();
    }
    client_->update(kLeases, opts_.namespace_, opts_.name, lease_json(rv, transitions),
                    [done](kube::Result u) { done(u.ok()); });
  });
}

void LeaderElector::close(std::function<void()> done) {
  if (!timer_) {
    if (done) done();
    return;
  }
  uv_timer_stop(timer_);
  auto* cb = new std::function<void()>(std::move(done));
  timer_->data = cb;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) {
    auto* f = static_cast<std::function<void()>*>(h->data);
    delete reinterpret_cast<uv_timer_t*>(h);
    if (*f) (*f)();
    delete f;
  });
  timer_ = nullptr;
}

}  // namespace vc::syncer
