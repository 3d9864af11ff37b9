// Tests for the pure WorkQueue core, on a fake clock: every time is an explicit TimePoint.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "queue/work_queue.hpp"

using namespace std::chrono_literals;
using vc::queue::Duration;
using vc::queue::TimePoint;
using vc::queue::WorkQueue;

namespace {

// An arbitrary fixed origin, far from zero, so that no test relies on the epoch.
const TimePoint t0 = TimePoint{} + 1000h;

std::vector<std::string> drain(WorkQueue& q, TimePoint now) {
  std::vector<std::string> out;
  while (auto k = q.pop(now)) out.push_back(*k);
  return out;
}

}  // namespace

TEST_CASE("add dedups keys that are already queued and keeps FIFO order") {
  WorkQueue q;
  CHECK(q.add("a"));
  CHECK(q.add("b"));
  CHECK_FALSE(q.add("a"));
  CHECK(q.len() == 2);
  CHECK(drain(q, t0) == std::vector<std::string>{"a", "b"});
  CHECK(q.processing() == 2);
  CHECK_FALSE(q.pop(t0).has_value());
}

TEST_CASE("a key added while processing is not handed out again until done, then exactly once") {
  WorkQueue q;
  q.add("a");
  REQUIRE(q.pop(t0) == std::optional<std::string>("a"));
  CHECK(q.is_processing("a"));
  CHECK(q.add("a"));        // marked dirty
  CHECK_FALSE(q.add("a"));  // already dirty
  CHECK(q.len() == 0);
  CHECK_FALSE(q.pop(t0).has_value());  // a second concurrent reconcile of "a" would be the bug
  CHECK(q.done("a"));
  CHECK(q.len() == 1);
  CHECK(q.pop(t0) == std::optional<std::string>("a"));
  CHECK(q.done("a"));
  CHECK(q.len() == 0);  // not dirty this time: no requeue
  CHECK_FALSE(q.done("a"));
  CHECK_FALSE(q.done("never-handed-out"));
}

TEST_CASE("add_after keeps the earliest deadline and releases the key at it") {
  WorkQueue q;
  q.add_after("a", 10s, t0);
  q.add_after("a", 2s, t0);
  q.add_after("a", 5s, t0);  // later than the pending 2 s: ignored
  CHECK(q.delayed() == 1);
  CHECK(q.len() == 0);
  CHECK(q.next_wakeup(t0) == t0 + 2s);
  CHECK_FALSE(q.pop(t0 + 2s - 1ns).has_value());
  CHECK(q.pop(t0 + 2s) == std::optional<std::string>("a"));
  CHECK(q.delayed() == 0);
  CHECK_FALSE(q.next_wakeup(t0 + 2s).has_value());

  // A zero delay is a plain add.
  q.add_after("b", 0s, t0);
  CHECK(q.len() == 1);
  // A delayed key that is also queued is handed out once now, and again when the delay fires.
  q.add_after("b", 1s, t0);
  CHECK(q.pop(t0) == std::optional<std::string>("b"));
  q.done("b");
  CHECK(q.pop(t0 + 1s) == std::optional<std::string>("b"));
}

TEST_CASE("add_rate_limited backs off 5, 10, 20 ms ... capped, and forget resets the sequence") {
  WorkQueue::Options opts;
  opts.max_delay = 100ms;
  WorkQueue q(opts);
  std::vector<Duration> got;
  for (int i = 0; i < 8; ++i) got.push_back(q.add_rate_limited("k", t0));
  CHECK(got == std::vector<Duration>{5ms, 10ms, 20ms, 40ms, 80ms, 100ms, 100ms, 100ms});
  CHECK(q.failures("k") == 8);
  CHECK(q.failures("other") == 0);
  // Every call re-added with a later deadline than the first, so the earliest (5 ms) still holds.
  CHECK(q.next_wakeup(t0) == t0 + 5ms);
  q.forget("k");
  CHECK(q.failures("k") == 0);
  CHECK(q.add_rate_limited("k", t0) == 5ms);

  // The default cap is 60 s, and a very long failure streak saturates instead of overflowing.
  WorkQueue d;
  Duration last{};
  for (int i = 0; i < 200; ++i) last = d.add_rate_limited("x", t0);
  CHECK(last == 60s);
}

TEST_CASE("the token bucket limits hand-outs and next_wakeup reports when the next token arrives") {
  WorkQueue::Options opts;
  opts.qps = 10;  // one token per 100 ms
  opts.burst = 2;
  WorkQueue q(opts);
  for (const char* k : {"a", "b", "c", "d"}) q.add(k);
  CHECK(q.next_wakeup(t0) == t0);
  CHECK(q.pop(t0) == std::optional<std::string>("a"));
  CHECK(q.pop(t0) == std::optional<std::string>("b"));
  CHECK_FALSE(q.pop(t0).has_value());  // burst spent
  CHECK(q.len() == 2);
  CHECK(q.next_wakeup(t0) == t0 + 100ms);
  CHECK_FALSE(q.pop(t0 + 99ms).has_value());
  CHECK(q.pop(t0 + 100ms) == std::optional<std::string>("c"));
  CHECK(q.next_wakeup(t0 + 100ms) == t0 + 200ms);
  CHECK(q.pop(t0 + 200ms) == std::optional<std::string>("d"));
  // After a long idle period the bucket refills only up to the burst.
  for (const char* k : {"e", "f", "g"}) q.add(k);
  CHECK(drain(q, t0 + 10s).size() == 2);

  // A delayed key waits for both its deadline and a token.
  WorkQueue::Options slow;
  slow.qps = 1;
  slow.burst = 1;
  WorkQueue s(slow);
  s.add("x");
  CHECK(s.pop(t0).has_value());
  s.add_after("y", 100ms, t0);
  CHECK(s.next_wakeup(t0) == t0 + 1s);
  CHECK_FALSE(s.pop(t0 + 100ms).has_value());
  CHECK(s.pop(t0 + 1s) == std::optional<std::string>("y"));
}

TEST_CASE("qps 0 is unlimited and a positive qps with burst 0 still hands out") {
  WorkQueue q;
  for (int i = 0; i < 1000; ++i) q.add("k" + std::to_string(i));
  CHECK(drain(q, t0).size() == 1000);

  WorkQueue::Options opts;
  opts.qps = 5;
  WorkQueue z(opts);
  z.add("a");
  z.add("b");
  CHECK(z.pop(t0).has_value());
  CHECK_FALSE(z.pop(t0).has_value());
  CHECK(z.next_wakeup(t0) == t0 + 200ms);
}

TEST_CASE("next_wakeup is empty when there is nothing to wait for") {
  WorkQueue q;
  CHECK_FALSE(q.next_wakeup(t0).has_value());
  q.add("a");
  REQUIRE(q.pop(t0).has_value());
  CHECK_FALSE(q.next_wakeup(t0).has_value());  // processing keys need no wakeup
}

TEST_CASE("shutdown drops queued and delayed keys and refuses adds; done never requeues") {
  WorkQueue q;
  q.add("a");
  q.add("b");
  q.add_after("c", 1s, t0);
  REQUIRE(q.pop(t0) == std::optional<std::string>("a"));
  q.add("a");  // dirty
  q.shutdown();
  CHECK(q.shutting_down());
  CHECK(q.len() == 0);
  CHECK(q.delayed() == 0);
  CHECK_FALSE(q.add("d"));
  CHECK_FALSE(q.pop(t0 + 2s).has_value());
  CHECK(q.done("a"));
  CHECK(q.len() == 0);
  CHECK_FALSE(q.next_wakeup(t0).has_value());
}

TEST_CASE("urgent keys are handed out before the others; an urgent add moves a queued key ahead") {
  WorkQueue q;
  TimePoint now{};
  q.add("status-a");
  q.add("status-b");
  q.add("create-a", true);
  CHECK(q.add("status-b", true));  // queued as non-urgent: moves to the urgent keys, handed out once
  CHECK_FALSE(q.add("status-b", true));
  q.add("create-b", true);
  CHECK(q.len() == 4);
  CHECK(q.urgent_len() == 3);
  CHECK(drain(q, now) == std::vector<std::string>{"create-a", "status-b", "create-b", "status-a"});
  CHECK(q.len() == 0);
  // A key added again while it is processed is queued once done(), as urgent if it was added as urgent.
  q.add("x");
  REQUIRE(q.pop(now) == std::optional<std::string>("x"));
  q.add("y");
  q.add("x", true);
  CHECK(q.len() == 1);
  q.done("x");
  CHECK(q.len() == 2);
  CHECK(q.pop(now) == std::optional<std::string>("x"));
  CHECK(q.pop(now) == std::optional<std::string>("y"));
  q.done("x");
  q.done("y");
  // ...and as non-urgent otherwise.
  q.add("z");
  REQUIRE(q.pop(now) == std::optional<std::string>("z"));
  q.add("w");
  q.add("z");
  q.done("z");
  CHECK(q.pop(now) == std::optional<std::string>("w"));
  q.shutdown();
  CHECK(q.len() == 0);
}

TEST_CASE("a hold keeps non-urgent keys back until it is released or they have waited hold_max") {
  WorkQueue::Options o;
  o.hold_max = 10s;
  WorkQueue q(o);
  TimePoint t0{};
  q.add("status", false, t0);
  q.add("create", true, t0);
  q.hold(true);
  CHECK(q.held());
  CHECK(q.pop(t0) == std::optional<std::string>("create"));
  CHECK_FALSE(q.pop(t0 + 1s).has_value());  // held
  CHECK(q.len() == 1);
  // Nothing to hand out until "status" has waited 10 s.
  CHECK(q.next_wakeup(t0 + 1s) == std::optional<TimePoint>(t0 + 10s));
  // Urgent keys still go while held.
  q.add("create-2", true, t0 + 1s);
  CHECK(q.next_wakeup(t0 + 1s) == std::optional<TimePoint>(t0 + 1s));
  CHECK(q.pop(t0 + 1s) == std::optional<std::string>("create-2"));
  // A key added later waits its own 10 s: the hold's age does not matter, only each key's.
  q.add("status-2", false, t0 + 5s);
  CHECK_FALSE(q.pop(t0 + 9s).has_value());
  CHECK(q.pop(t0 + 10s) == std::optional<std::string>("status"));
  CHECK_FALSE(q.pop(t0 + 14s).has_value());
  CHECK(q.next_wakeup(t0 + 14s) == std::optional<TimePoint>(t0 + 15s));
  // Released: non-urgent keys go at once.
  q.hold(false);
  CHECK(q.next_wakeup(t0 + 14s) == std::optional<TimePoint>(t0 + 14s));
  CHECK(q.pop(t0 + 14s) == std::optional<std::string>("status-2"));
  // A key requeued by done() waits from then.
  q.done("status-2", t0 + 14s);
  q.add("status-2", false, t0 + 14s);
  REQUIRE(q.pop(t0 + 14s) == std::optional<std::string>("status-2"));
  q.add("status-2", false, t0 + 14s);
  q.hold(true);
  q.done("status-2", t0 + 20s);
  CHECK_FALSE(q.pop(t0 + 29s).has_value());
  CHECK(q.pop(t0 + 30s) == std::optional<std::string>("status-2"));
  // Delayed keys that come due during a hold count as queued at their deadline.
  q.add_after("later", 1s, t0 + 40s);
  CHECK(q.next_wakeup(t0 + 40s) == std::optional<TimePoint>(t0 + 51s));
  CHECK_FALSE(q.pop(t0 + 45s).has_value());
  CHECK(q.pop(t0 + 51s) == std::optional<std::string>("later"));
}

TEST_CASE("hold_max 0 turns the hold off") {
  WorkQueue::Options o;
  o.hold_max = Duration::zero();
  WorkQueue q(o);
  TimePoint t0{};
  q.add("status", false, t0);
  q.hold(true);
  CHECK_FALSE(q.held());
  CHECK(q.pop(t0) == std::optional<std::string>("status"));
}
