// The work queue on the libuv loop: hands keys to an asynchronous reconciler, at most max_in_flight at a
// time, and wakes itself for delayed keys and rate-limit tokens with one uv_timer_t.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "queue/work_queue.hpp"

namespace vc::queue {

// How a reconcile ended; passed to UvWorkQueue::done.
struct Result {
  enum class Kind {
    kOk,            // synced: forget the key's failures
    kRetry,         // failed or asked to try again: back off per key (add_rate_limited)
    kRequeueAfter,  // synced, look again after `after` (e.g. wait for a pod to terminate)
  };
  Kind kind = Kind::kOk;
  Duration after{};

  static Result ok() { return {}; }
  static Result retry() { return {Kind::kRetry, {}}; }
  static Result requeue_after(Duration d) { return {Kind::kRequeueAfter, d}; }
};

// Runs on the loop thread only; no method may be called from another thread.
//
// Lifetime: like any libuv handle owner, the object must stay alive until close()'s callback has run,
// because the loop still references its timer until then.
class UvWorkQueue {
 public:
  using Process = std::function<void(const std::string& key)>;

  // process(key) is called on the loop for each handed-out key; the reconciler must eventually call
  // done(key, result) exactly once for it, from the loop, possibly much later. max_in_flight 0 is taken
  // as 1. (uv_timer_init cannot fail on an initialised loop: libuv always returns 0 from it.)
  UvWorkQueue(uv_loop_t* loop, WorkQueue::Options opts, Process process, std::size_t max_in_flight);
  ~UvWorkQueue();
  UvWorkQueue(const UvWorkQueue&) = delete;
  UvWorkQueue& operator=(const UvWorkQueue&) = delete;

  // Queue a key. Processing starts on a later loop iteration, never inside this call, so a reconciler may
  // add keys (its own included) without re-entering itself.
  void add(std::string_view key, bool urgent = false);
  void add_after(std::string_view key, Duration delay);
  // Holds the non-urgent keys back while `on` (WorkQueue::hold); releasing the hold wakes the queue.
  void hold(bool on);

  // Reports the end of a reconcile of key. Returns false for a key that was not handed out (or after
  // close), which is a reconciler bug worth surfacing.
  bool done(const std::string& key, Result result);

  // Stops handing out keys, drops queued ones and closes the timer; on_closed runs from the loop once the
  // handle is closed. Keys in flight may still call done(), which is then a no-op.
  void close(std::function<void()> on_closed);

  std::size_t in_flight() const { return in_flight_; }
  const WorkQueue& core() const { return queue_; }

 private:
  static void on_timer(uv_timer_t* timer);
  static void on_close(uv_handle_t* handle);
  // Hands out keys until the in-flight limit, the queue or the token bucket stops it, then re-arms.
  void pump();
  // Arms the timer for `when` unless it is already armed for that time or earlier.
  void wake_at(TimePoint when, TimePoint now);
  void rearm(TimePoint now);

  uv_loop_t* loop_;
  WorkQueue queue_;
  Process process_;
  std::size_t max_in_flight_;
  std::size_t in_flight_ = 0;
  uv_timer_t timer_{};
  std::optional<TimePoint> armed_for_;
  bool closing_ = false;
  bool closed_ = false;
  std::function<void()> on_closed_;
};

}  // namespace vc::queue
