#include "queue/work_queue.hpp"

#include <algorithm>
#include <cmath>

namespace vc::queue {

WorkQueue::WorkQueue(Options opts) : opts_(opts) {
  if (opts_.qps > 0) {
    auto ns = static_cast<Duration::rep>(std::llround(1e9 / opts_.qps));
    interval_ =
        std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(std::max<Duration::rep>(ns, 1)));
    int burst = std::max(opts_.burst, 1);
    tolerance_ = interval_ * (burst - 1);
  }
}

bool WorkQueue::add(std::string_view key, bool urgent) {
  if (shut_down_) return false;
  std::string k(key);
  if (!dirty_.insert(k).second) return false;
  // A key being processed stays out of the queue until done(): that is what keeps reconciles of one key
  // from overlapping.
  if (processing_.count(k) == 0) (urgent ? urgent_ : queue_).push_back(std::move(k));
  return true;
}

void WorkQueue::add_after(std::string_view key, Duration delay, TimePoint now) {
  if (shut_down_) return;
  if (delay <= Duration::zero()) {
    add(key);
    return;
  }
  TimePoint deadline = now + delay;
  std::string k(key);
  auto it = waiting_by_key_.find(k);
  if (it != waiting_by_key_.end()) {
    if (it->second <= deadline) return;
    waiting_.erase({it->second, k});
    it->second = deadline;
  } else {
    waiting_by_key_.emplace(k, deadline);
  }
  waiting_.emplace(deadline, std::move(k));
}

Duration WorkQueue::add_rate_limited(std::string_view key, TimePoint now) {
  int& n = failures_[std::string(key)];
  ++n;
  // base * 2^(n-1), computed by doubling so that it saturates at the cap instead of overflowing.
  Duration delay = opts_.base_delay;
  for (int i = 1; i < n && delay < opts_.max_delay; ++i) delay *= 2;
  delay = std::min(delay, opts_.max_delay);
  add_after(key, delay, now);
  return delay;
}

void WorkQueue::forget(std::string_view key) {
  failures_.erase(std::string(key));
}

int WorkQueue::failures(std::string_view key) const {
  auto it = failures_.find(std::string(key));
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::promote(TimePoint now) {
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_by_key_.erase(key);
    add(key);
  }
}

TimePoint WorkQueue::token_ready_at(TimePoint now) const {
  if (interval_ == Duration::zero() || !tat_) return now;
  return std::max(now, *tat_ - tolerance_);
}

std::optional<std::string> WorkQueue::pop(TimePoint now) {
  if (shut_down_) return std::nullopt;
  promote(now);
  if (urgent_.empty() && queue_.empty()) return std::nullopt;
  if (interval_ != Duration::zero()) {
    if (token_ready_at(now) > now) return std::nullopt;
    tat_ = std::max(tat_.value_or(now), now) + interval_;
  }
  auto& from = urgent_.empty() ? queue_ : urgent_;
  std::string key = std::move(from.front());
  from.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

bool WorkQueue::done(std::string_view key) {
  auto node = processing_.extract(std::string(key));
  if (node.empty()) return false;
  if (!shut_down_ && dirty_.count(node.value()) != 0) queue_.push_back(std::move(node.value()));
  return true;
}

std::optional<TimePoint> WorkQueue::next_wakeup(TimePoint now) const {
  if (shut_down_) return std::nullopt;
  std::optional<TimePoint> when;
  bool ready = !urgent_.empty() || !queue_.empty() || (!waiting_.empty() && waiting_.begin()->first <= now);
  if (ready) {
    when = token_ready_at(now);
  } else if (!waiting_.empty()) {
    // The key becomes ready at its deadline, and can be handed out once a token is there as well.
    when = std::max(waiting_.begin()->first, token_ready_at(now));
  }
  return when;
}

void WorkQueue::shutdown() {
  shut_down_ = true;
  urgent_.clear();
  queue_.clear();
  dirty_.clear();
  waiting_.clear();
  waiting_by_key_.clear();
}

}  // namespace vc::queue
