// The engine's creation hold policy (Engine::hold_wanted): other work waits only while creations are
// backed up, not whenever one is on its way.
#include <doctest/doctest.h>

#include "engine/engine.hpp"

using vc::engine::Engine;

namespace {
Engine::HoldInfo info(size_t queued, size_t processing, size_t submits, size_t deferred = 0) {
  Engine::HoldInfo h{};
  h.urgent_queued = queued;
  h.urgent_processing = processing;
  h.urgent_submits = submits;
  h.urgent_deferred = deferred;
  return h;
}
}  // namespace

TEST_CASE("no creation on its way: no hold") {
  CHECK_FALSE(Engine::hold_wanted(info(0, 0, 0), 16));
}

TEST_CASE("a steady trickle of creations does not hold status copies back") {
  // 50 pods/s keeps about 5 creations in a reconcile or on the wire at once.
  CHECK_FALSE(Engine::hold_wanted(info(0, 2, 3), 16));
  CHECK_FALSE(Engine::hold_wanted(info(0, 15, 0), 16));
  CHECK_FALSE(Engine::hold_wanted(info(0, 0, 15), 16));
}

TEST_CASE("a burst holds: urgent keys queued, creation writes waiting for a slot, or many on their way") {
  CHECK(Engine::hold_wanted(info(1, 0, 0), 16));
  CHECK(Engine::hold_wanted(info(0, 0, 0, 1), 16));
  CHECK(Engine::hold_wanted(info(0, 8, 8), 16));
  CHECK(Engine::hold_wanted(info(0, 64, 0), 16));
  CHECK(Engine::hold_wanted(info(999, 64, 64, 200), 16));
}

TEST_CASE("a threshold of 1 holds for any creation, as the hold did before") {
  CHECK(Engine::hold_wanted(info(0, 1, 0), 1));
  CHECK(Engine::hold_wanted(info(0, 0, 1), 1));
  CHECK_FALSE(Engine::hold_wanted(info(0, 0, 0), 1));
}
