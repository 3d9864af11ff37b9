// Tests for UvWorkQueue on a real libuv loop. Reconciles complete asynchronously through zero timers, as a
// real reconcile completes when its HTTP response arrives. No sleeps: the loop runs until a condition
// holds or a deadline passes, and every test ends with uv_loop_close() == 0 so a leaked handle fails it.
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "queue/uv_work_queue.hpp"

using namespace std::chrono_literals;
using vc::queue::Result;
using vc::queue::UvWorkQueue;
using vc::queue::WorkQueue;

namespace {

// Runs fn on a later loop iteration (a one-shot zero timer that frees itself).
void defer(uv_loop_t* loop, std::function<void()> fn) {
  struct Deferred {
    uv_timer_t timer;
    std::function<void()> fn;
  };
  auto* d = new Deferred{{}, std::move(fn)};
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(
      &d->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Deferred*>(t->data);
        self->fn();
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Deferred*>(h->data); });
      },
      0, 0);
}

// Runs the loop until cond() holds; false if the deadline passed first (or the loop ran dry).
bool run_until(uv_loop_t* loop, const std::function<bool()>& cond, std::chrono::seconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !cond()) return false;
  }
  return true;
}

// Closes the queue and checks that the loop ends with no handle left.
void close_and_check(uv_loop_t* loop, UvWorkQueue& q) {
  bool closed = false;
  q.close([&] { closed = true; });
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(closed);
  CHECK(uv_loop_close(loop) == 0);
}

}  // namespace

TEST_CASE("1000 keys, max_in_flight 8: each processed exactly once and never more than 8 at a time") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::map<std::string, int> calls;
  std::size_t in_flight = 0, max_seen = 0, completed = 0;
  std::unique_ptr<UvWorkQueue> q;
  q = std::make_unique<UvWorkQueue>(
      &loop, WorkQueue::Options{},
      [&](const std::string& key) {
        ++calls[key];
        ++in_flight;
        max_seen = std::max(max_seen, in_flight);
        CHECK(q->in_flight() == in_flight);
        defer(&loop, [&, key] {
          --in_flight;
          ++completed;
          CHECK(q->done(key, Result::ok()));
        });
      },
      8);
  for (int i = 0; i < 1000; ++i) q->add("ns/obj-" + std::to_string(i));
  CHECK(calls.empty());  // nothing runs inside add()
  REQUIRE(run_until(&loop, [&] { return completed == 1000; }));
  CHECK(calls.size() == 1000);
  bool all_once = true;
  for (const auto& [key, n] : calls) all_once = all_once && n == 1;
  CHECK(all_once);
  CHECK(max_seen == 8);  // the limit was reached (concurrency happened) and never exceeded
  CHECK(q->in_flight() == 0);
  CHECK(q->core().len() == 0);
  close_and_check(&loop, *q);
}

TEST_CASE("a key re-added while in flight is processed again after done, never concurrently") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  int calls = 0;
  bool active = false, overlapped = false;
  std::unique_ptr<UvWorkQueue> q;
  q = std::make_unique<UvWorkQueue>(
      &loop, WorkQueue::Options{},
      [&](const std::string& key) {
        overlapped = overlapped || active;
        active = true;
        ++calls;
        if (calls == 1) {
          // Events for the same object arrive while it is being reconciled.
          q->add(key);
          q->add(key);
        }
        defer(&loop, [&, key] {
          active = false;
          q->done(key, Result::ok());
        });
      },
      4);
  q->add("ns/a");
  REQUIRE(run_until(&loop, [&] { return calls == 2 && !active; }));
  // Let any spurious third hand-out show up before checking there was none.
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(calls == 2);
  CHECK_FALSE(overlapped);
  close_and_check(&loop, *q);
}

TEST_CASE("retry backs off, requeue_after waits, ok forgets the failures") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::vector<std::chrono::steady_clock::time_point> attempts;
  std::unique_ptr<UvWorkQueue> q;
  q = std::make_unique<UvWorkQueue>(
      &loop, WorkQueue::Options{},
      [&](const std::string& key) {
        attempts.push_back(std::chrono::steady_clock::now());
        Result r = attempts.size() <= 2   ? Result::retry()
                   : attempts.size() == 3 ? Result::requeue_after(30ms)
                                          : Result::ok();
        defer(&loop, [&, key, r] { q->done(key, r); });
      },
      1);
  q->add("ns/flaky");
  REQUIRE(run_until(&loop, [&] { return attempts.size() == 4 && q->in_flight() == 0; }));
  CHECK(attempts[1] - attempts[0] >= 5ms);   // first backoff
  CHECK(attempts[2] - attempts[1] >= 10ms);  // second backoff doubles
  CHECK(attempts[3] - attempts[2] >= 30ms);  // requeue_after
  CHECK(q->core().failures("ns/flaky") == 0);
  // done() for a key that is not in flight is refused and leaves no backoff behind.
  CHECK_FALSE(q->done("ns/unknown", Result::retry()));
  CHECK(q->core().failures("ns/unknown") == 0);
  CHECK(q->core().delayed() == 0);
  close_and_check(&loop, *q);
}

TEST_CASE("close with keys queued and in flight: nothing more is processed and the loop closes cleanly") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  int calls = 0;
  std::vector<std::string> held;
  UvWorkQueue q(
      &loop, WorkQueue::Options{},
      [&](const std::string& key) {
        ++calls;
        held.push_back(key);  // completed only after close
      },
      2);
  for (int i = 0; i < 5; ++i) q.add("k" + std::to_string(i));
  q.add_after("later", 1h);
  REQUIRE(run_until(&loop, [&] { return calls == 2; }));
  bool closed = false;
  q.close([&] { closed = true; });
  for (const std::string& k : held) CHECK_FALSE(q.done(k, Result::ok()));
  CHECK(q.in_flight() == 0);
  q.add("after-close");
  uv_run(&loop, UV_RUN_DEFAULT);  // must return: the delayed key's timer is gone
  CHECK(closed);
  CHECK(calls == 2);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("held keys wait while urgent ones run, and go as soon as the hold is released") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::vector<std::string> order;
  std::unique_ptr<UvWorkQueue> q;
  WorkQueue::Options o;
  o.hold_max = 60s;  // far beyond the test: only the release can let "status" go
  q = std::make_unique<UvWorkQueue>(
      &loop, o,
      [&](const std::string& key) {
        order.push_back(key);
        defer(&loop, [&, key] { q->done(key, Result::ok()); });
      },
      4);
  q->hold(true);
  q->add("status");
  q->add("create", true);
  REQUIRE(run_until(&loop, [&] { return order.size() == 1 && q->in_flight() == 0; }));
  CHECK(order == std::vector<std::string>{"create"});
  // Nothing else runs while held: a few loop turns leave "status" queued.
  for (int i = 0; i < 5; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(order.size() == 1);
  CHECK(q->core().len() == 1);
  q->hold(false);
  REQUIRE(run_until(
      &loop, [&] { return order.size() == 2; }, 2s));
  CHECK(order.back() == "status");
  REQUIRE(run_until(&loop, [&] { return q->in_flight() == 0; }));
  close_and_check(&loop, *q);
}
