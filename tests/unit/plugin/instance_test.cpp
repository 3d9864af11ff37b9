// Guarded hook calls against the real fixtures: a healthy plugin's output lands in engine buffers, and a
// plugin that fails, throws or returns nonsense is quarantined and not called again.
#include "plugin/instance.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "plugin/buffer.hpp"

// The test's own engine context: what a host service needs to find the instance it serves. The real
// engine defines its own vcp_host_ctx; this test program does not link the engine.
struct vcp_host_ctx {
  vc::plugin::Instance* instance = nullptr;
  std::vector<std::string> logs;
};

namespace vc::plugin {
namespace {

using test::fixture_path;

void host_log(vcp_host_ctx* ctx, vcp_log_level, vcp_str message) {
  ctx->logs.push_back(to_string(message));
}
void host_set_error(vcp_host_ctx* ctx, vcp_str message) {
  ctx->instance->set_last_error(to_string(message));
}

// A minimal but real host table: the services the fixtures use, the rest NULL (which a plugin built for
// 1.0 must check before calling, as the ok fixture does).
vcp_host_api make_host() {
  vcp_host_api host{};
  host.struct_size = sizeof(vcp_host_api);
  host.abi_major = VCP_ABI_MAJOR;
  host.abi_minor = VCP_ABI_MINOR;
  host.log = host_log;
  host.set_error = host_set_error;
  host.buf_append = buf_append;
  host.buf_clear = buf_clear;
  return host;
}

// One fixture loaded into an Instance with its context wired up, as the engine would do it.
struct Harness {
  vcp_host_api host = make_host();
  vcp_host_ctx ctx;
  std::unique_ptr<Instance> instance;

  explicit Harness(const std::string& fixture) {
    LoadedPlugin p;
    Error e = load_plugin(fixture_path(fixture), &p);
    REQUIRE_MESSAGE(e.ok(), e.message);
    instance = std::make_unique<Instance>(std::move(p));
    ctx.instance = instance.get();
  }
  vcp_status init() { return instance->call_init(&host, &ctx); }
};

struct Args {
  std::string ns = "team-a", name = "settings", source = R"({"kind":"ConfigMap"})";
  std::string target_ns = "vcluster-host", target_name = "settings-x-team-a-x-my-vcluster";
  vcp_sync_args get() const {
    vcp_sync_args a{};
    a.struct_size = sizeof(vcp_sync_args);
    a.resource = 0;
    a.source_namespace = as_vcp_str(ns);
    a.source_name = as_vcp_str(name);
    a.source = as_vcp_str(source);
    a.target = vcp_str{nullptr, 0};
    a.target_namespace = as_vcp_str(target_ns);
    a.target_name = as_vcp_str(target_name);
    return a;
  }
};

}  // namespace

TEST_CASE("a healthy plugin receives the host table in on_init and writes its results into engine buffers") {
  Harness h("ok");
  REQUIRE(h.init() == VCP_OK);
  CHECK(h.instance->initialized());
  CHECK(h.ctx.logs == std::vector<std::string>{"fixture-ok initialised"});

  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_OK);
  CHECK(out.data ==
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings-x-team-a-x-my-vcluster",)"
        R"("namespace":"vcluster-host","annotations":{"vcluster.loft.sh/object-name":"settings"}}})");

  vcp_buf back;
  CHECK(h.instance->call_back_sync(args.get(), &back) == VCP_NO_CHANGE);
  CHECK(back.data.empty());

  vcp_buf del;
  CHECK(h.instance->call_delete(args.get(), &del) == VCP_OK);
  CHECK(del.data == R"({"propagationPolicy":"Background"})");

  vcp_event ev{};
  ev.struct_size = sizeof(vcp_event);
  ev.type = VCP_EVENT_DELETED;
  CHECK(h.instance->call_watch_event(ev) == VCP_OK);
  CHECK(h.ctx.logs.back() == "fixture-ok saw a deletion");

  CHECK(h.instance->calls(Hook::kInit) == 1);
  CHECK(h.instance->calls(Hook::kSync) == 1);
  CHECK(h.instance->calls(Hook::kBackSync) == 1);
  CHECK(h.instance->calls(Hook::kDelete) == 1);
  CHECK(h.instance->calls(Hook::kWatchEvent) == 1);
  CHECK_FALSE(h.instance->quarantined());
  CHECK(h.instance->quarantine_reason().empty());

  // on_shutdown frees the fixture's state (ASan would report the leak otherwise) and ends the instance.
  h.instance->call_shutdown();
  CHECK(h.instance->calls(Hook::kShutdown) == 1);
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->last_error() ==
        "plugin fixture-ok was called (on_sync) after on_shutdown; the engine must not call a plugin it has "
        "shut down");
  CHECK(h.instance->calls(Hook::kSync) == 1);
  CHECK_FALSE(h.instance->quarantined());
}

TEST_CASE("the last error is cleared at the start of every call, so it belongs to the latest hook") {
  Harness h("ok");
  REQUIRE(h.init() == VCP_OK);
  h.instance->set_last_error("a stale sentence from an earlier hook");
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_OK);
  CHECK(h.instance->last_error().empty());
}

TEST_CASE("hooks called before on_init fail without reaching the plugin or quarantining it") {
  Harness h("ok");
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->last_error() ==
        "plugin fixture-ok was called (on_sync) before on_init succeeded; the engine must initialise a "
        "plugin before "
        "syncing with it");
  CHECK(h.instance->calls(Hook::kSync) == 0);
  CHECK(out.data.empty());
  CHECK_FALSE(h.instance->quarantined());
  REQUIRE(h.init() == VCP_OK);
  CHECK(h.init() == VCP_ERROR);  // on_init runs once
  CHECK(h.instance->last_error() == "plugin fixture-ok is already initialised; on_init is called once");
  CHECK(h.instance->calls(Hook::kInit) == 1);
}

TEST_CASE("a plugin whose on_init returns VCP_ERROR is quarantined with its set_error sentence") {
  Harness h("init-fails");
  CHECK(h.init() == VCP_ERROR);
  CHECK_FALSE(h.instance->initialized());
  CHECK(h.instance->quarantined());
  CHECK(h.instance->quarantine_reason() ==
        "plugin fixture-init-fails returned VCP_ERROR from on_init: fixture-init-fails needs the values key "
        "fixture.required, which is not set; its resources stop syncing");
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->calls(Hook::kSync) == 0);
  CHECK(h.instance->calls_refused() == 1);
  // A plugin that did not start has no state to free: on_shutdown is not called.
  h.instance->call_shutdown();
  CHECK(h.instance->calls(Hook::kShutdown) == 0);
}

TEST_CASE("a hook returning VCP_ERROR quarantines the plugin and the next call does not reach it") {
  Harness h("returns-error");
  REQUIRE(h.init() == VCP_OK);
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->quarantined());
  CHECK(h.instance->quarantine_reason() ==
        "plugin fixture-returns-error returned VCP_ERROR from on_sync: fixture-returns-error lost track of "
        "its own "
        "cache; its resources stop syncing");
  REQUIRE(h.ctx.logs.size() == 1);  // the fixture logs once per call that reaches it

  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->call_delete(args.get(), &out) == VCP_ERROR);
  CHECK(h.ctx.logs.size() == 1);
  CHECK(h.instance->calls(Hook::kSync) == 1);
  CHECK(h.instance->calls_refused() == 2);
  CHECK(h.instance->last_error() == h.instance->quarantine_reason());
}

TEST_CASE(
    "a C++ plugin whose on_sync throws std::runtime_error is quarantined, not allowed to crash the engine") {
  Harness h("throws");
  REQUIRE(h.init() == VCP_OK);
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->quarantined());
  CHECK(h.instance->quarantine_reason() ==
        "plugin fixture-throws threw an exception from on_sync: the fixture's on_sync always throws; its "
        "resources "
        "stop syncing");
  CHECK(h.ctx.logs == std::vector<std::string>{"fixture-throws entered on_sync"});

  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.ctx.logs.size() == 1);  // the second call did not reach the plugin
  CHECK(h.instance->calls(Hook::kSync) == 1);
  CHECK(h.instance->calls_refused() == 1);

  // A quarantined plugin still gets on_shutdown, the only way to free the state on_init made; the fixture
  // deletes it there, so ASan reports a leak if this call is skipped.
  h.instance->call_shutdown();
  CHECK(h.instance->calls(Hook::kShutdown) == 1);
}

TEST_CASE("an exception that is not a std::exception is caught and named as such") {
  Harness h("throws");
  REQUIRE(h.init() == VCP_OK);
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_back_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->quarantine_reason() ==
        "plugin fixture-throws threw an exception that is not a std::exception from on_back_sync; its "
        "resources stop "
        "syncing");
}

TEST_CASE("a plugin whose on_cache throws is quarantined; one without on_cache answers VCP_SKIP") {
  Harness h("throws");
  REQUIRE(h.init() == VCP_OK);
  CHECK(h.instance->has_cache_hook());
  vcp_buf out;
  const std::string obj = R"({"metadata":{"name":"a"}})";
  CHECK(h.instance->call_cache(VCP_SIDE_HOST, 0, vcp_str{obj.data(), obj.size()}, &out) == VCP_ERROR);
  CHECK(h.instance->quarantine_reason() ==
        "plugin fixture-throws threw an exception from on_cache: std::bad_alloc; its resources stop syncing");
  CHECK(h.instance->calls(Hook::kCache) == 1);

  Harness ok("ok");  // a plugin built in C without the hook: the engine caches its objects whole
  REQUIRE(ok.init() == VCP_OK);
  CHECK_FALSE(ok.instance->has_cache_hook());
  CHECK(ok.instance->call_cache(VCP_SIDE_HOST, 0, vcp_str{obj.data(), obj.size()}, &out) == VCP_SKIP);
  CHECK(ok.instance->calls(Hook::kCache) == 0);
  CHECK_FALSE(ok.instance->quarantined());
}

TEST_CASE("a status outside vcp_status quarantines the plugin") {
  Harness h("bad-status");
  REQUIRE(h.init() == VCP_OK);
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_sync(args.get(), &out) == VCP_ERROR);
  CHECK(h.instance->quarantine_reason() ==
        "plugin fixture-bad-status returned the unknown status 42 from on_sync; its resources stop syncing");
}

TEST_CASE("NULL optional hooks answer with the ABI's defaults") {
  // fixture-returns-error has neither on_back_sync, on_delete nor on_watch_event.
  Harness h("returns-error");
  REQUIRE(h.init() == VCP_OK);
  Args args;
  vcp_buf out;
  CHECK(h.instance->call_back_sync(args.get(), &out) == VCP_NO_CHANGE);
  CHECK(h.instance->call_delete(args.get(), &out) == VCP_OK);
  vcp_event ev{};
  ev.struct_size = sizeof(vcp_event);
  CHECK(h.instance->call_watch_event(ev) == VCP_OK);
  CHECK(out.data.empty());
  CHECK_FALSE(h.instance->quarantined());
}

TEST_CASE("destroying an initialised instance calls on_shutdown, so the plugin's state is freed") {
  // Checked by ASan: fixture-ok allocates its state in on_init and frees it only in on_shutdown.
  Harness h("ok");
  REQUIRE(h.init() == VCP_OK);
  h.instance.reset();
}

}  // namespace vc::plugin
