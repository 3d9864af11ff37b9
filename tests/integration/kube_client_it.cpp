// The core REST client and informer against a real API server (started by kube_client_test.sh).
// Environment: VC_IT_KUBECONFIG, VC_IT_CLUSTER (bed name), VC_IT_CLUSTER_DIR, VC_IT_BED (tests/bed/cluster),
// VC_ETCD_URL (for compaction).
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "informer/informer.hpp"
#include "json/json.hpp"
#include "kube/client.hpp"
#include "kube/kubeconfig.hpp"

using namespace vc;

namespace {

const kube::GVR kConfigMaps{"", "v1", "configmaps", true, "ConfigMap"};
const kube::GVR kNamespaces{"", "v1", "namespaces", false, "Namespace"};

std::string env(const char* k) {
  const char* v = std::getenv(k);
  REQUIRE_MESSAGE(v != nullptr, "missing env ", k);
  return v;
}

struct Fixture {
  uv_loop_t loop{};
  std::unique_ptr<kube::Client> client;
  Fixture() {
    uv_loop_init(&loop);
    kube::RestConfig cfg;
    Error e = kube::load_kubeconfig_file(env("VC_IT_KUBECONFIG"), "", &cfg);
    REQUIRE_MESSAGE(!e, e.message);
    kube::ClientOptions o;
    o.max_connections = 4;
    e = kube::Client::create(&loop, cfg, o, &client);
    REQUIRE_MESSAGE(!e, e.message);
  }
  ~Fixture() {
    bool closed = false;
    client->close([&] { closed = true; });
    run_until([&] { return closed; }, 10);
    CHECK(uv_loop_close(&loop) == 0);
  }
  // Drives the loop until cond holds or the deadline passes.
  bool run_until(const std::function<bool()>& cond, double seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 20, 20);
    bool ok = false;
    while (std::chrono::steady_clock::now() < end) {
      if (cond()) {
        ok = true;
        break;
      }
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok || cond();
  }
  kube::Result call(const std::function<void(kube::ResultCb)>& f) {
    kube::Result out;
    bool done = false;
    f([&](kube::Result r) {
      out = std::move(r);
      done = true;
    });
    REQUIRE(run_until([&] { return done; }, 30));
    return out;
  }
  std::string cm(const std::string& ns, const std::string& name, const std::string& value) {
    // The label keeps the controller manager's kube-root-ca.crt (in every namespace) out of the tests.
    return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","namespace":")" +
           ns + R"(","labels":{"it":"1"}},"data":{"v":")" + value + "\"}}";
  }
  // Stops an informer and waits until its handles are closed.
  void stop(informer::Informer& inf) {
    bool stopped = false;
    inf.stop([&] { stopped = true; });
    CHECK(run_until([&] { return stopped; }, 10));
  }
  void make_ns(const std::string& ns) {
    auto r = call([&](auto cb) {
      client->create(kNamespaces, "",
                     R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns + "\"}}", cb);
    });
    REQUIRE_MESSAGE((r.ok() || r.already_exists()), r.err.message);
  }
};

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

}  // namespace

TEST_CASE("REST verbs and Status errors against a real API server") {
  Fixture f;
  f.make_ns("it-rest");
  auto r = f.call([&](auto cb) { f.client->create(kConfigMaps, "it-rest", f.cm("it-rest", "a", "1"), cb); });
  REQUIRE_MESSAGE(r.ok(), r.err.message);
  CHECK(r.status == 201);
  auto created = json::parse(r.body);
  REQUIRE(created);
  std::string rv = created->at({"metadata", "resourceVersion"})->as_string();
  std::string uid = created->at({"metadata", "uid"})->as_string();

  r = f.call([&](auto cb) { f.client->create(kConfigMaps, "it-rest", f.cm("it-rest", "a", "1"), cb); });
  CHECK(r.already_exists());
  CHECK(r.reason == "AlreadyExists");

  r = f.call([&](auto cb) { f.client->get(kConfigMaps, "it-rest", "missing", cb); });
  CHECK(r.not_found());
  CHECK(r.err.message.find("\"missing\" not found") != std::string::npos);

  // An update carrying a stale resourceVersion is a Conflict, which the engine retries.
  auto body = *created;
  body["data"]["v"] = "2";
  r = f.call([&](auto cb) { f.client->update(kConfigMaps, "it-rest", "a", json::dump(body), cb); });
  REQUIRE_MESSAGE(r.ok(), r.err.message);
  body["data"]["v"] = "3";  // still the old resourceVersion
  r = f.call([&](auto cb) { f.client->update(kConfigMaps, "it-rest", "a", json::dump(body), cb); });
  CHECK(r.conflict());
  CHECK(r.status == 409);

  r = f.call([&](auto cb) {
    f.client->patch(kConfigMaps, "it-rest", "a", kube::PatchType::kMerge, R"({"data":{"w":"x"}})", cb);
  });
  REQUIRE_MESSAGE(r.ok(), r.err.message);
  CHECK(json::parse(r.body)->at({"data", "w"})->as_string() == "x");

  // Paged list: 5 objects, pages of 2 -> 3 pages with continue tokens.
  for (int i = 0; i < 4; i++)
    f.call([&](auto cb) {
      f.client->create(kConfigMaps, "it-rest", f.cm("it-rest", "p" + std::to_string(i), "x"), cb);
    });
  std::set<std::string> names;
  std::string cont;
  int pages = 0;
  do {
    kube::ListOptions lo;
    lo.limit = 2;
    lo.label_selector = "it=1";
    lo.continue_token = cont;
    r = f.call([&](auto cb) { f.client->list(kConfigMaps, "it-rest", lo, cb); });
    REQUIRE_MESSAGE(r.ok(), r.err.message);
    auto l = json::parse(r.body);
    for (auto& it : l->find("items")->items()) names.insert(it.at({"metadata", "name"})->as_string());
    const json::Value* c = l->at({"metadata", "continue"});
    cont = c ? c->as_string() : "";
    pages++;
  } while (!cont.empty() && pages < 10);
  CHECK(names.size() == 5);
  CHECK(pages == 3);

  // Delete with a uid precondition that does not match is refused; with the right one it succeeds.
  r = f.call([&](auto cb) {
    f.client->remove(kConfigMaps, "it-rest", "a",
                     R"({"preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}})", cb);
  });
  CHECK(r.status == 409);
  r = f.call([&](auto cb) {
    f.client->remove(kConfigMaps, "it-rest", "a", R"({"preconditions":{"uid":")" + uid + "\"}}", cb);
  });
  CHECK_MESSAGE(r.ok(), r.err.message);
  CHECK(f.client->stats().total() >= 10);
}

TEST_CASE("a write's late answer never brings back an object the watch saw deleted") {
  Fixture f;
  f.make_ns("it-late");
  informer::Options o;
  o.namespace_ = "it-late";
  o.label_selector = "it=1";
  informer::Informer inf(&f.loop, f.client.get(), kConfigMaps, o);
  inf.start();
  REQUIRE(f.run_until([&] { return inf.synced(); }, 20));
  auto created =
      f.call([&](auto cb) { f.client->create(kConfigMaps, "it-late", f.cm("it-late", "z", "1"), cb); });
  REQUIRE_MESSAGE(created.ok(), created.err.message);
  REQUIRE(f.run_until([&] { return inf.get("it-late", "z") != nullptr; }, 20));
  auto del = f.call([&](auto cb) { f.client->remove(kConfigMaps, "it-late", "z", "", cb); });
  REQUIRE_MESSAGE(del.ok(), del.err.message);
  REQUIRE(f.run_until([&] { return inf.get("it-late", "z") == nullptr; }, 20));
  // The create's answer, handled only now (as when it waited behind the watch): the object stays gone.
  inf.observe_write(created.body);
  CHECK(inf.get("it-late", "z") == nullptr);
  // A newer object of the same name, created after the delete, is still taken from an answer at once.
  auto again =
      f.call([&](auto cb) { f.client->create(kConfigMaps, "it-late", f.cm("it-late", "z", "2"), cb); });
  REQUIRE_MESSAGE(again.ok(), again.err.message);
  inf.observe_write(again.body);
  CHECK(inf.get("it-late", "z") != nullptr);
  f.stop(inf);
}

TEST_CASE("an informer that does not keep objects hands them all to its handlers and keeps only identities") {
  Fixture f;
  f.make_ns("it-unc");
  informer::Options o;
  o.namespace_ = "it-unc";
  o.label_selector = "it=1";
  o.keep_objects = false;
  informer::Informer inf(&f.loop, f.client.get(), kConfigMaps, o);
  std::vector<std::string> added, deleted;
  std::vector<std::pair<std::string, std::string>> updated;  // (old json, new json)
  informer::Handlers h;
  h.on_add = [&](const informer::ObjectPtr& obj) { added.push_back(obj->json()); };
  h.on_update = [&](const informer::ObjectPtr& old, const informer::ObjectPtr& obj) {
    updated.emplace_back(old->json(), obj->json());
  };
  h.on_delete = [&](const informer::ObjectPtr& obj) { deleted.push_back(std::string(obj->name())); };
  inf.add_handlers(h);
  for (int i = 0; i < 3; i++) {
    auto r = f.call([&](auto cb) {
      f.client->create(kConfigMaps, "it-unc", f.cm("it-unc", "u" + std::to_string(i), "one"), cb);
    });
    REQUIRE_MESSAGE(r.ok(), r.err.message);
  }
  inf.start();
  REQUIRE(f.run_until([&] { return inf.synced(); }, 20));
  // The handlers saw whole objects; the informer knows three and keeps none of them.
  REQUIRE(added.size() == 3);
  for (auto& j : added) CHECK(json::parse(j)->at({"data", "v"})->as_string() == "one");
  CHECK(inf.size() == 3);
  CHECK(inf.get("it-unc", "u1") == nullptr);
  int visited = 0;
  inf.for_each([&](const informer::ObjectPtr&) { return ++visited > 0; });
  CHECK(visited == 0);
  CHECK(inf.bytes() < 3 * 200);  // identities only

  // An update reaches the handlers with the identity as the old object and the whole new object.
  auto r = f.call([&](auto cb) {
    f.client->patch(kConfigMaps, "it-unc", "u1", kube::PatchType::kMerge, R"({"data":{"v":"two"}})", cb);
  });
  REQUIRE_MESSAGE(r.ok(), r.err.message);
  REQUIRE(f.run_until([&] { return updated.size() == 1; }, 20));
  auto old = json::parse(updated[0].first);
  REQUIRE(old);
  CHECK(old->at({"metadata", "name"})->as_string() == "u1");
  CHECK_FALSE(old->at({"metadata", "uid"})->as_string().empty());
  CHECK(old->find("data") == nullptr);
  CHECK(json::parse(updated[0].second)->at({"data", "v"})->as_string() == "two");
  // The same version again (our own write's answer, observed) is not a second update.
  inf.observe_write(r.body);
  CHECK(updated.size() == 1);

  // A delete reaches the handlers with the object from the watch.
  r = f.call([&](auto cb) { f.client->remove(kConfigMaps, "it-unc", "u2", "", cb); });
  REQUIRE_MESSAGE(r.ok(), r.err.message);
  REQUIRE(f.run_until([&] { return deleted.size() == 1; }, 20));
  CHECK(deleted[0] == "u2");
  CHECK(inf.size() == 2);
  f.stop(inf);
}

TEST_CASE("an informer survives an API server restart without losing an event, and relists after 410") {
  Fixture f;
  f.make_ns("it-inf");
  informer::Options o;
  o.namespace_ = "it-inf";
  o.page_size = 3;
  o.label_selector = "it=1";
  o.off_loop_bytes = 0;  // every page goes through the thread pool, as a 10,000-pod page would
  o.backoff_base = std::chrono::milliseconds(100);
  o.backoff_cap = std::chrono::milliseconds(1000);
  informer::Informer inf(&f.loop, f.client.get(), kConfigMaps, o);
  std::set<std::string> deleted;
  int adds = 0;
  informer::Handlers h;
  h.on_add = [&](const informer::ObjectPtr&) { adds++; };
  h.on_delete = [&](const informer::ObjectPtr& obj) { deleted.insert(std::string(obj->name())); };
  inf.add_handlers(h);
  inf.add_index("by-value", [](const informer::Object& obj, std::vector<std::string>* out) {
    auto v = json::parse(obj.json());
    if (const json::Value* d = v ? v->at({"data", "v"}) : nullptr) out->push_back(d->as_string());
  });
  for (int i = 0; i < 7; i++)
    f.call([&](auto cb) {
      f.client->create(kConfigMaps, "it-inf", f.cm("it-inf", "c" + std::to_string(i), "old"), cb);
    });
  inf.start();
  REQUIRE(f.run_until([&] { return inf.synced(); }, 20));
  CHECK(inf.size() == 7);
  CHECK(adds == 7);
  CHECK(inf.by_index("by-value", "old").size() == 7);
  // The server records managedFields on every object; the cache leaves them out (they are a third of it).
  auto direct = f.call([&](auto cb) { f.client->get(kConfigMaps, "it-inf", "c1", cb); });
  CHECK(direct.body.find("managedFields") != std::string::npos);
  REQUIRE(inf.get("it-inf", "c1"));
  CHECK(inf.get("it-inf", "c1")->json().find("managedFields") == std::string::npos);
  CHECK(json::parse(inf.get("it-inf", "c1")->json())->at({"metadata", "labels", "it"})->as_string() == "1");
  // The cache holds objects packed against a dictionary learned from them: seven ConfigMaps that differ in
  // their names take a fraction of their JSON, and each unpacks to exactly what the server sent.
  CHECK(inf.get("it-inf", "c1")->packed);
  INFO("held " << inf.bytes() << " bytes for " << inf.json_bytes() << " bytes of JSON");
  CHECK(inf.bytes() * 2 < inf.json_bytes());
  CHECK(inf.dict_bytes() > 0);
  CHECK(json::same(inf.get("it-inf", "c1")->json(), direct.body, {"metadata", "kind", "apiVersion"}));

  // Restart the API server; every change made right after must reach the cache.
  std::string bed = env("VC_IT_BED"), name = env("VC_IT_CLUSTER"), dir = env("VC_IT_CLUSTER_DIR");
  REQUIRE(sh(bed + " restart " + name + " kube-apiserver --dir " + dir + " >/dev/null 2>&1") == 0);
  // The loop was blocked during the restart: let it notice that the pooled connections were closed, as it
  // would have at once in a real process (a POST on a stale connection is not retried, by design).
  f.run_until([] { return false; }, 0.5);
  auto r1 = f.call(
      [&](auto cb) { f.client->create(kConfigMaps, "it-inf", f.cm("it-inf", "after-restart", "new"), cb); });
  REQUIRE_MESSAGE(r1.ok(), r1.err.message);
  r1 = f.call([&](auto cb) { f.client->remove(kConfigMaps, "it-inf", "c0", "", cb); });
  REQUIRE_MESSAGE(r1.ok(), r1.err.message);
  r1 = f.call([&](auto cb) {
    f.client->patch(kConfigMaps, "it-inf", "c1", kube::PatchType::kMerge, R"({"data":{"v":"new"}})", cb);
  });
  REQUIRE_MESSAGE(r1.ok(), r1.err.message);
  CHECK(f.run_until(
      [&] {
        return inf.get("it-inf", "after-restart") && !inf.get("it-inf", "c0") && deleted.count("c0") &&
               inf.by_index("by-value", "new").size() == 2;
      },
      30));
  MESSAGE("after restart: size ", inf.size(), " new ", inf.by_index("by-value", "new").size(), " c0 deleted ",
          deleted.count("c0"), " gone ", inf.stats().gone, " relists ", inf.stats().relists, " errors ",
          inf.stats().stream_errors, " watches ", inf.stats().watches);
  CHECK(inf.stats().stream_errors + inf.stats().gone >= 1);  // the stream really broke
  CHECK(inf.by_index("by-value", "old").size() == 5);

  // While the API server is down: delete c2 directly in etcd and compact etcd at its current revision.
  // The restarted server's watch cache starts after the informer's resourceVersion, so the resumed watch
  // gets 410 Gone, and only a relist can tell that c2 was deleted.
  std::string etcd = env("VC_ETCD_URL");
  std::string between =
      "export ETCDCTL_API=3 E=" + etcd +
      R"(; etcdctl --endpoints $E del /registry/configmaps/it-inf/c2 >/dev/null && )"
      R"(rev=$(etcdctl --endpoints $E endpoint status -w json | grep -o '"revision":[0-9]*' | cut -d: -f2) && )"
      R"(etcdctl --endpoints $E compact $rev >/dev/null)";
  uint64_t relists_before = inf.stats().relists, gone_before = inf.stats().gone;
  setenv("VC_BED_RESTART_BETWEEN", between.c_str(), 1);
  REQUIRE(sh(bed + " restart " + name + " kube-apiserver --dir " + dir + " >/dev/null 2>&1") == 0);
  unsetenv("VC_BED_RESTART_BETWEEN");
  f.run_until([] { return false; }, 0.5);
  r1 = f.call([&](auto cb) { f.client->remove(kConfigMaps, "it-inf", "c3", "", cb); });
  REQUIRE_MESSAGE(r1.ok(), r1.err.message);
  CHECK(f.run_until([&] { return !inf.get("it-inf", "c2") && !inf.get("it-inf", "c3"); }, 40));
  CHECK(deleted.count("c2") == 1);
  CHECK(deleted.count("c3") == 1);
  MESSAGE("gone ", inf.stats().gone, " relists ", inf.stats().relists, " stream errors ",
          inf.stats().stream_errors);
  CHECK(inf.stats().gone + inf.stats().relists > gone_before + relists_before);
  CHECK(inf.size() == 5);  // c1, c4, c5, c6, after-restart

  f.stop(inf);
}
