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

bool WorkQueue::add(std::string_view key, bool urgent, TimePoint now) {
  if (shut_down_) return false;
  std::string k(key);
  const bool processing = processing_.count(k) != 0;
  if (!dirty_.insert(k).second) {
    // Already queued (or dirty while processing): only an upgrade to urgent changes anything.
    if (!urgent || !urgent_keys_.insert(k).second) return false;
    if (!processing) urgent_.push_back(std::move(k));
    return true;
  }
  // A key being processed stays out of the queue until done(): that is what keeps reconciles of one key
  // from overlapping.
  if (urgent) urgent_keys_.insert(k);
  if (processing) return true;
  ++ready_;
  if (urgent) {
    urgent_.push_back(std::move(k));
  } else {
    queue_.emplace_back(std::move(k), now);
  }
  return true;
}

void WorkQueue::add_after(std::string_view key, Duration delay, TimePoint now) {
  if (shut_down_) return;
  if (delay <= Duration::zero()) {
    add(key, false, now);
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
    const TimePoint due = waiting_.begin()->first;
    waiting_.erase(waiting_.begin());
    waiting_by_key_.erase(key);
    add(key, false, due);
  }
}

TimePoint WorkQueue::token_ready_at(TimePoint now) const {
  if (interval_ == Duration::zero() || !tat_) return now;
  return std::max(now, *tat_ - tolerance_);
}

std::optional<std::string> WorkQueue::pop(TimePoint now) {
  if (shut_down_) return std::nullopt;
  promote(now);
  // Stale entries (keys moved to the urgent ones and handed out from there) are dropped here.
  while (!queue_.empty() && stale(queue_.front().first)) queue_.pop_front();
  if (urgent_.empty() && (queue_.empty() || (held() && now - queue_.front().second < opts_.hold_max)))
    return std::nullopt;
  if (interval_ != Duration::zero()) {
    if (token_ready_at(now) > now) return std::nullopt;
    tat_ = std::max(tat_.value_or(now), now) + interval_;
  }
  std::string key;
  if (!urgent_.empty()) {
    key = std::move(urgent_.front());
    urgent_.pop_front();
    urgent_keys_.erase(key);
  } else {
    key = std::move(queue_.front().first);
    queue_.pop_front();
  }
  dirty_.erase(key);
  --ready_;
  processing_.insert(key);
  return key;
}

bool WorkQueue::done(std::string_view key, TimePoint now) {
  auto node = processing_.extract(std::string(key));
  if (node.empty()) return false;
  if (!shut_down_ && dirty_.count(node.value()) != 0) {
    ++ready_;
    if (urgent_keys_.count(node.value()) != 0) {
      urgent_.push_back(std::move(node.value()));
    } else {
      queue_.emplace_back(std::move(node.value()), now);
    }
  }
  return true;
}

const std::pair<std::string, TimePoint>* WorkQueue::first_rest() const {
  for (const auto& e : queue_)
    if (!stale(e.first)) return &e;
  return nullptr;
}

std::optional<TimePoint> WorkQueue::next_wakeup(TimePoint now) const {
  if (shut_down_) return std::nullopt;
  std::optional<TimePoint> when;
  if (!urgent_.empty()) return token_ready_at(now);
  // When the first non-urgent key may go: now, or once it has waited hold_max while held. Delayed keys
  // count as queued at their deadline.
  auto rest_at = [&](TimePoint queued) { return held() ? std::max(now, queued + opts_.hold_max) : now; };
  if (ready_ > 0) {
    if (const auto* e = first_rest()) when = rest_at(e->second);
  }
  if (!waiting_.empty()) {
    const TimePoint due = waiting_.begin()->first;
    const TimePoint at = due <= now ? rest_at(due) : (held() ? due + opts_.hold_max : due);
    when = when ? std::min(*when, at) : at;
  }
  if (when) when = std::max(*when, token_ready_at(now));
  return when;
}

void WorkQueue::shutdown() {
  shut_down_ = true;
  urgent_.clear();
  queue_.clear();
  dirty_.clear();
  urgent_keys_.clear();
  ready_ = 0;
  waiting_.clear();
  waiting_by_key_.clear();
}

}  // namespace vc::queue
