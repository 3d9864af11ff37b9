#include "queue/uv_work_queue.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace vc::queue {

UvWorkQueue::UvWorkQueue(uv_loop_t* loop, WorkQueue::Options opts, Process process, std::size_t max_in_flight)
    : loop_(loop),
      queue_(opts),
      process_(std::move(process)),
      max_in_flight_(std::max<std::size_t>(max_in_flight, 1)) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

UvWorkQueue::~UvWorkQueue() {
  // Destroying the queue with its timer still open would leave the loop holding a dangling handle.
  assert(closed_ && "UvWorkQueue destroyed before close() completed");
}

void UvWorkQueue::add(std::string_view key, bool urgent) {
  if (closing_) return;
  TimePoint now = Clock::now();
  if (queue_.add(key, urgent, now)) wake_at(now, now);
}

void UvWorkQueue::add_after(std::string_view key, Duration delay) {
  if (closing_) return;
  TimePoint now = Clock::now();
  queue_.add_after(key, delay, now);
  rearm(now);
}

void UvWorkQueue::hold(bool on) {
  if (closing_) return;
  const bool was = queue_.held();
  queue_.hold(on);
  if (was && !on) {
    TimePoint now = Clock::now();
    wake_at(now, now);
  }
}

bool UvWorkQueue::done(const std::string& key, Result result) {
  if (closing_) {
    // The core was shut down: it forgets the key without requeueing. Still count it out of flight.
    if (queue_.done(key)) --in_flight_;
    return false;
  }
  // Check first: the result must not touch the backoff or timers of a key that was never handed out.
  if (!queue_.is_processing(key)) return false;
  TimePoint now = Clock::now();
  switch (result.kind) {
    case Result::Kind::kOk:
      queue_.forget(key);
      break;
    case Result::Kind::kRetry:
      queue_.add_rate_limited(key, now);
      break;
    case Result::Kind::kRequeueAfter:
      queue_.forget(key);
      queue_.add_after(key, result.after, now);
      break;
  }
  queue_.done(key, now);
  --in_flight_;
  // A slot is free: look for the next key on a later iteration rather than here, so that process() never
  // runs inside the reconciler's own call to done().
  wake_at(now, now);
  return true;
}

void UvWorkQueue::close(std::function<void()> on_closed) {
  if (closing_) return;
  closing_ = true;
  on_closed_ = std::move(on_closed);
  queue_.shutdown();
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &UvWorkQueue::on_close);
}

void UvWorkQueue::on_close(uv_handle_t* handle) {
  auto* self = static_cast<UvWorkQueue*>(handle->data);
  self->closed_ = true;
  // Move the callback out first: it may destroy this object.
  std::function<void()> cb = std::move(self->on_closed_);
  if (cb) cb();
}

void UvWorkQueue::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<UvWorkQueue*>(timer->data);
  self->armed_for_.reset();
  self->pump();
}

void UvWorkQueue::pump() {
  TimePoint now = Clock::now();
  while (!closing_ && in_flight_ < max_in_flight_) {
    std::optional<std::string> key = queue_.pop(now);
    if (!key) break;
    ++in_flight_;
    process_(*key);
  }
  if (!closing_) rearm(now);
}

void UvWorkQueue::rearm(TimePoint now) {
  // With every slot taken there is nothing to do until done() frees one (it wakes the queue itself).
  if (in_flight_ >= max_in_flight_) return;
  std::optional<TimePoint> when = queue_.next_wakeup(now);
  if (when) wake_at(*when, now);
}

void UvWorkQueue::wake_at(TimePoint when, TimePoint now) {
  if (closing_) return;
  if (armed_for_ && *armed_for_ <= when) return;
  // libuv timers have millisecond resolution; round up so that the timer never fires before the deadline
  // (firing early would only find nothing ready and re-arm, but there is no need to spin).
  Duration wait = std::max(when - now, Duration::zero());
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  uv_timer_start(&timer_, &UvWorkQueue::on_timer, static_cast<std::uint64_t>(ms), 0);
  armed_for_ = when;
}

}  // namespace vc::queue
