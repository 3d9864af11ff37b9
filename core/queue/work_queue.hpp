// The work queue (vc::queue): which keys to reconcile, when, and never one key twice at once.
//
// WorkQueue is the pure core, with client-go's workqueue semantics (k8s.io/client-go/util/workqueue):
// a queued key is queued once however often it is added; a key added while it is being processed is marked
// dirty and queued again only when done() is called, so two reconciles of one key never overlap; delayed
// keys wait in a timer set; failing keys back off exponentially per key; and an overall token bucket paces
// hand-outs. It owns no timers and reads no clock: every time-dependent call takes `now`, so tests drive
// it deterministically and the libuv adapter (uv_work_queue.hpp) decides when to call it.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace vc::queue {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

class WorkQueue {
 public:
  struct Options {
    // Per-key exponential backoff for add_rate_limited: base * 2^(failures-1), capped at max_delay.
    // client-go's default controller rate limiter starts at 5 ms too.
    Duration base_delay = std::chrono::milliseconds(5);
    Duration max_delay = std::chrono::seconds(60);
    // Overall hand-out rate (keys per second) and burst; qps 0 means unlimited. A positive qps with burst 0
    // behaves as burst 1 (a bucket that can never hold a token would stall the queue forever).
    double qps = 0;
    int burst = 0;
    // The longest a hold (below) keeps a non-urgent key back: a key that has waited this long is handed out
    // (after the urgent ones) while the hold lasts, so that status copies and node heartbeats are late by
    // at most this much however long a burst of creations goes on. Zero turns holds off.
    Duration hold_max = std::chrono::seconds(10);
  };

  WorkQueue() : WorkQueue(Options{}) {}
  explicit WorkQueue(Options opts);

  // Queues key unless it is already queued; a key being processed is only marked dirty. Returns whether
  // the call changed anything (false for a duplicate or after shutdown). An urgent key is handed out before
  // every non-urgent one (the engine marks keys whose target does not exist yet, so that objects reach the
  // host before status is copied back for those already there). Adding a key queued as non-urgent with
  // urgent moves it to the urgent keys (it is handed out once); a key marked urgent while it is processed
  // is queued as urgent when done.
  // `now` is when the key was added, for the hold (callers that never hold may leave it out).
  bool add(std::string_view key, bool urgent = false, TimePoint now = {});
  // Holds the non-urgent keys back while `on` (the engine holds them while objects are being created, so
  // that the API servers spend the burst on creations): pop() hands out urgent keys, and non-urgent ones
  // only once they have waited Options::hold_max.
  void hold(bool on) { held_ = on; }
  bool held() const { return held_ && opts_.hold_max > Duration::zero(); }
  // Urgent keys ready to be handed out.
  std::size_t urgent_len() const { return urgent_.size(); }
  // Adds key once `delay` has passed. A key already waiting keeps the earlier of the two deadlines. A delay
  // of zero or less is add().
  void add_after(std::string_view key, Duration delay, TimePoint now);
  // Records one more failure of key and adds it after its backoff; returns that delay.
  Duration add_rate_limited(std::string_view key, TimePoint now);
  // Clears key's failure count, after a successful reconcile.
  void forget(std::string_view key);
  // How many times key has been added with add_rate_limited since the last forget().
  int failures(std::string_view key) const;

  // Hands out the next key, moving it to processing; nullopt when nothing is ready, the token bucket is
  // empty, or the queue is shut down. Delayed keys whose deadline is <= now become ready first.
  std::optional<std::string> pop(TimePoint now);
  // Ends processing of key. If key was added meanwhile it is queued again (waiting since `now`, for the
  // hold). Returns false (and changes nothing) for a key that was not being processed.
  bool done(std::string_view key, TimePoint now = {});

  // When calling pop() may next return a key: `now` if one is ready and a token is available, else the
  // earliest of the next token and the next delayed deadline; nullopt when there is nothing to wait for.
  std::optional<TimePoint> next_wakeup(TimePoint now) const;

  // Whether key has been handed out and not yet reported done.
  bool is_processing(std::string_view key) const { return processing_.count(std::string(key)) != 0; }

  // Keys ready to be handed out (not counting delayed or in-process keys).
  std::size_t len() const { return ready_; }
  // Keys handed out and not yet done.
  std::size_t processing() const { return processing_.size(); }
  // Keys waiting for a deadline.
  std::size_t delayed() const { return waiting_by_key_.size(); }

  // Drops queued and delayed keys and refuses further adds. Keys in processing may still call done(),
  // which then never requeues.
  void shutdown();
  bool shutting_down() const { return shut_down_; }

 private:
  // Moves delayed keys whose deadline has passed into the queue.
  void promote(TimePoint now);
  // The earliest time at which the token bucket allows a hand-out.
  TimePoint token_ready_at(TimePoint now) const;

  Options opts_;
  // The first non-urgent entry that is not stale (see queue_), or nullptr.
  const std::pair<std::string, TimePoint>* first_rest() const;
  // A queue_ entry whose key was handed out meanwhile (from the urgent keys) and not queued again.
  bool stale(const std::string& key) const { return dirty_.count(key) == 0 || processing_.count(key) != 0; }

  // queue_ holds the non-urgent keys with the time each was queued. A key moved to the urgent keys leaves
  // a stale entry there, skipped when it reaches the front (a key is handed out only while dirty and not
  // processing).
  std::deque<std::string> urgent_;
  std::deque<std::pair<std::string, TimePoint>> queue_;
  // Keys that need processing: queued ones, and processing ones added again (client-go's "dirty" set).
  std::unordered_set<std::string> dirty_;
  // Keys in urgent_, and processing keys added again as urgent.
  std::unordered_set<std::string> urgent_keys_;
  std::size_t ready_ = 0;  // dirty keys not processing: what len() reports
  bool held_ = false;
  std::unordered_set<std::string> processing_;
  // Delayed keys ordered by deadline, with the reverse index to keep the earliest deadline per key.
  std::set<std::pair<TimePoint, std::string>> waiting_;
  std::unordered_map<std::string, TimePoint> waiting_by_key_;
  std::unordered_map<std::string, int> failures_;

  // Token bucket as GCRA (generic cell rate algorithm): a hand-out is allowed at `now` when
  // now >= tat_ - tolerance_, and moves tat_ (the theoretical arrival time) one interval on. Integer
  // clock arithmetic keeps next_wakeup() and pop() in exact agreement, which a floating-point token count
  // would not.
  Duration interval_{};
  Duration tolerance_{};
  std::optional<TimePoint> tat_;
  bool shut_down_ = false;
};

}  // namespace vc::queue
