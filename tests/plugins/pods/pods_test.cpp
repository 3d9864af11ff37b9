// Golden and behaviour tests of the real pods plugin shared object: the test dlopens libvcp-pods.so (path in
// VCP_PODS_PLUGIN), takes its descriptor through vcp_plugin_entry_v1 and drives its hooks against FakeHost.
// Golden files (golden/<case>.virtual.json, optional <case>.host-objects.json, expected <case>.host.json)
// were written from vcluster-behaviour.md §1–3, not copied from the plugin's output.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "events.hpp"
#include "fake_host.hpp"
#include "json/json.hpp"

using pods_test::FakeHost;
using vc::json::Value;

namespace {

enum : uint32_t {
  kPods = 0,
  kConfigMaps = 1,
  kSecrets = 2,
  kServices = 3,
  kNamespaces = 4,
  kServiceAccounts = 5,
  kEvents = 6,
  kNodes = 7
};
const std::string kHostNs = "vcluster-my-vcluster";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string golden_dir() {
  const char* d = std::getenv("VCP_PODS_GOLDEN");
  return d ? d : "tests/plugins/pods/golden";
}

Value parse_or_fail(const std::string& text) {
  std::string err;
  auto v = vc::json::parse(text, &err);
  REQUIRE_MESSAGE(v.has_value(), "invalid JSON: " << err);
  return *v;
}

// Key-order-insensitive comparison that prints the merge patch from actual to expected on failure.
void check_same(const Value& actual, const Value& expected) {
  if (actual == expected) return;
  FAIL_CHECK("objects differ; merge patch turning actual into expected:\n"
             << vc::json::dump(vc::json::merge_patch_diff(actual, expected)) << "\nactual:\n"
             << vc::json::dump(actual));
}

struct Result {
  vcp_status status;
  std::string out;
};

// One loaded plugin instance with its fake engine.
class Harness {
 public:
  // `vcluster` names the virtual cluster (host namespace stays kHostNs); `abi_1_0` hands the plugin a host
  // table as a 1.0 engine has it, without the services 1.1 appended.
  explicit Harness(std::string vcluster = "my-vcluster", bool abi_1_0 = false)
      : host(vcluster, kHostNs), vcluster_(std::move(vcluster)) {
    if (abi_1_0) host.downgrade_to_abi_1_0();
    const char* path = std::getenv("VCP_PODS_PLUGIN");
    REQUIRE_MESSAGE(path != nullptr, "set VCP_PODS_PLUGIN to the path of libvcp-pods.so");
    dl_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(dl_ != nullptr, "dlopen " << path << ": " << dlerror());
    auto entry = reinterpret_cast<vcp_plugin_entry_v1_fn>(dlsym(dl_, VCP_ENTRY_SYMBOL));
    const bool has_entry = entry != nullptr;
    REQUIRE_MESSAGE(has_entry, "no " VCP_ENTRY_SYMBOL " in " << path);
    plugin = entry();
    REQUIRE(plugin != nullptr);
    REQUIRE(plugin->abi_major == VCP_ABI_MAJOR);
    REQUIRE(plugin->on_init(host.api(), host.ctx(), &state_) == VCP_OK);
  }
  ~Harness() {
    if (plugin && plugin->on_shutdown) plugin->on_shutdown(state_);
    if (dl_) dlclose(dl_);
  }
  // Values never change while a syncer runs (the plugin reads them once); a test that changes them restarts
  // the plugin, as the syncer would be restarted. The fake host's caches and records stay.
  void restart() {
    if (plugin->on_shutdown) plugin->on_shutdown(state_);
    state_ = nullptr;
    REQUIRE(plugin->on_init(host.api(), host.ctx(), &state_) == VCP_OK);
  }

  void load_objects(const std::string& file) {
    Value list = parse_or_fail(slurp(file));
    for (const Value& item : list.items()) {
      const std::string& side = item.find("side")->as_string();
      const std::string& res = item.find("resource")->as_string();
      uint32_t r = res == "pods"         ? kPods
                   : res == "configmaps" ? kConfigMaps
                   : res == "secrets"    ? kSecrets
                   : res == "services"   ? kServices
                   : res == "namespaces" ? kNamespaces
                   : res == "events"     ? kEvents
                   : res == "nodes"      ? kNodes
                                         : kServiceAccounts;
      host.put(side == "host" ? VCP_SIDE_HOST : VCP_SIDE_VIRTUAL, r, vc::json::dump(*item.find("object")));
    }
  }

  vcp_sync_args args(uint32_t res, const std::string& ns, const std::string& name, const std::string& source,
                     const std::string& target) {
    tname_ = FakeHost::safe_concat({name, "x", ns, "x", vcluster_});
    ns_ = ns;
    name_ = name;
    vcp_sync_args a{};
    a.struct_size = sizeof a;
    a.resource = res;
    a.source_namespace = {ns_.data(), ns_.size()};
    a.source_name = {name_.data(), name_.size()};
    a.source = {source.data(), source.size()};
    a.target = {target.data(), target.size()};
    a.target_namespace = {kHostNs.data(), kHostNs.size()};
    a.target_name = {tname_.data(), tname_.size()};
    return a;
  }

  // What the engine does when a write the plugin submitted for a pod finishes: the pod's key wakes and the
  // pod is synced (with its host copy when the cache holds one).
  Result wake_pod(const std::string& ns, const std::string& name) {
    Value vpod = parse_or_fail(host.cached(VCP_SIDE_VIRTUAL, kPods, ns, name));
    std::string h = host.cached(VCP_SIDE_HOST, kPods, std::string(kHostNs),
                                FakeHost::safe_concat({name, "x", ns, "x", vcluster_}));
    if (h.empty()) return sync(kPods, vpod);
    Value hpod = parse_or_fail(h);
    return sync(kPods, vpod, &hpod);
  }

  Result sync(uint32_t res, const Value& source, const Value* target = nullptr) {
    return call(plugin->on_sync, res, source, target);
  }
  Result back_sync(const Value& source, const Value& target) {
    return call(plugin->on_back_sync, kPods, source, &target);
  }
  Result remove(uint32_t res, const std::string& ns, const std::string& name, const Value& target) {
    std::string tgt = vc::json::dump(target);
    vcp_sync_args a = args(res, ns, name, "", tgt);
    std::string out;
    vcp_status st = plugin->on_delete(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }
  void event(uint32_t res, vcp_side side, vcp_event_type type, const Value& obj) {
    std::string text = vc::json::dump(obj);
    vcp_event ev{};
    ev.struct_size = sizeof ev;
    ev.resource = res;
    ev.side = side;
    ev.type = type;
    ev.object = {text.data(), text.size()};
    plugin->on_watch_event(state_, &ev);
    host.end_hook();
  }
  // on_cache (ABI 1.3): what the engine's cache keeps of `obj`.
  Result cache(vcp_side side, uint32_t res, const std::string& obj) {
    std::string out;
    vcp_status st =
        plugin->on_cache(state_, side, res, {obj.data(), obj.size()}, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }
  // A host Event as the engine delivers it: host Events are VCP_RES_UNCACHED, so the plugin gets the Event
  // in on_watch_event and nothing is ever in the cache to read back.
  void host_event(vcp_event_type type, const Value& obj) { event(kEvents, VCP_SIDE_HOST, type, obj); }

  FakeHost host;
  const vcp_plugin* plugin = nullptr;

 private:
  template <typename Hook>
  Result call(Hook hook, uint32_t res, const Value& source, const Value* target) {
    std::string src = vc::json::dump(source);
    std::string tgt = target ? vc::json::dump(*target) : std::string();
    const Value* meta = source.find("metadata");
    vcp_sync_args a =
        args(res, meta->find("namespace")->as_string(), meta->find("name")->as_string(), src, tgt);
    std::string out;
    vcp_status st = hook(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }

  void* dl_ = nullptr;
  void* state_ = nullptr;
  std::string vcluster_;
  std::string ns_, name_, tname_;
};

// Runs one golden case and returns the produced host object.
Value run_golden(Harness& h, const std::string& name) {
  const std::string dir = golden_dir() + "/";
  std::ifstream objects(dir + name + ".host-objects.json");
  if (objects.good()) h.load_objects(dir + name + ".host-objects.json");
  Value vpod = parse_or_fail(slurp(dir + name + ".virtual.json"));
  Result r = h.sync(kPods, vpod);
  INFO("plugin error: " << h.host.last_error);
  REQUIRE(r.status == VCP_OK);
  Value actual = parse_or_fail(r.out);
  check_same(actual, parse_or_fail(slurp(dir + name + ".host.json")));
  return actual;
}

}  // namespace

TEST_CASE("the descriptor declares pods, configmaps, secrets and the watched dependencies") {
  Harness h;
  REQUIRE(h.plugin->resource_count == 8);
  CHECK(std::string(h.plugin->resources[kPods].resource) == "pods");
  CHECK(h.plugin->resources[kPods].flags == (VCP_RES_NAMESPACED | VCP_RES_STATUS | VCP_RES_RECREATE_ON_UID));
  CHECK(h.plugin->resources[kServices].role == VCP_ROLE_WATCH_HOST);
  CHECK(h.plugin->resources[kNamespaces].role == VCP_ROLE_WATCH_VIRTUAL);
  CHECK(h.plugin->resources[kServiceAccounts].role == VCP_ROLE_WATCH_VIRTUAL);
  CHECK(std::string(h.plugin->resources[kEvents].resource) == "events");
  CHECK(std::string(h.plugin->resources[kEvents].kind) == "Event");
  CHECK(h.plugin->resources[kEvents].role == VCP_ROLE_WATCH_HOST);
  CHECK(h.plugin->resources[kEvents].flags == (VCP_RES_NAMESPACED | VCP_RES_UNCACHED));
  CHECK(std::string(h.plugin->resources[kNodes].resource) == "nodes");
  CHECK(h.plugin->resources[kNodes].role == VCP_ROLE_WATCH_VIRTUAL);
  CHECK(h.plugin->resources[kNodes].flags == 0);  // cluster-scoped
  // Built against 1.1: the loader refuses it on a 1.0 engine, which lacks translate_label_key_prefixed.
  // It declares the header's minor (1.4 now); it needs 1.2 (VCP_RES_UNCACHED host Events) and 1.3 (on_cache).
  CHECK(h.plugin->abi_minor == VCP_ABI_MINOR);
  CHECK(h.plugin->abi_minor >= 3);
  const bool has_cache_hook = h.plugin->on_cache != nullptr;
  CHECK(has_cache_hook);
  // Both reference indexes are registered on the virtual pods cache during on_init.
  REQUIRE(h.host.indexes.size() == 2);
  CHECK(h.host.indexes[0].resource == kPods);
  CHECK(h.host.indexes[0].side == VCP_SIDE_VIRTUAL);
}

TEST_CASE("golden: the seed's nginx deployment pod with the kube-api-access volume") {
  Harness h;
  run_golden(h, "nginx");
  CHECK(h.host.writes.empty());  // the token Secret already exists for this uid: nothing to request
}

TEST_CASE(
    "golden: a pod over 63 characters gets a hashed name, translated labels and the labels annotation") {
  Harness h;
  run_golden(h, "labels");
}

TEST_CASE("golden: configMap, secret and claim volumes and env references point at the host copies") {
  Harness h;
  run_golden(h, "refs");
}

TEST_CASE("re-syncing against the produced host pod returns that pod unchanged (no write on restart)") {
  Harness h;
  for (const char* c : {"nginx", "labels", "refs"}) {
    Value created = run_golden(h, c);
    Value vpod = parse_or_fail(slurp(golden_dir() + "/" + c + ".virtual.json"));
    Result again = h.sync(kPods, vpod, &created);
    REQUIRE(again.status == VCP_OK);
    check_same(parse_or_fail(again.out), created);
  }
}

TEST_CASE("after creation only images, activeDeadlineSeconds, labels and annotations flow to the host") {
  Harness h;
  Value created = run_golden(h, "refs");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  (*vpod.at({"spec"}))["containers"].array_ptr()->at(0)["image"] = "shop/web:3";
  (*vpod.at({"spec"}))["activeDeadlineSeconds"] = 600;
  (*vpod.at({"spec"}))["dnsPolicy"] = "ClusterFirst";  // immutable in Kubernetes: must not reach the host
  vpod.ensure({"metadata", "labels"})["release"] = "v3";
  h.host.config["sync.pods.translateImages"] = R"(["shop/web:3=mirror.example/shop/web:3"])";
  h.restart();
  Result r = h.sync(kPods, vpod, &created);
  REQUIRE(r.status == VCP_OK);
  Value expected = created;
  (*expected.at({"spec"}))["containers"].array_ptr()->at(0)["image"] = "mirror.example/shop/web:3";
  (*expected.at({"spec"}))["activeDeadlineSeconds"] = 600;
  expected.ensure({"metadata", "labels"})[FakeHost::safe_concat(
      {"vcluster.loft.sh/label", "my-vcluster", "x", FakeHost::hex10("release")})] = "v3";
  expected.ensure({"metadata", "annotations"})["vcluster.loft.sh/labels"] = "release=\"v3\"";
  check_same(parse_or_fail(r.out), expected);
}

TEST_CASE("without the host DNS service the pod waits for it instead of being created") {
  Harness h;
  h.load_objects(golden_dir() + "/labels.host-objects.json");
  h.host.remove(VCP_SIDE_HOST, kServices, kHostNs, "kube-dns-x-kube-system-x-my-vcluster");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/labels.virtual.json"));
  Result r = h.sync(kPods, vpod);
  CHECK(r.status == VCP_WAIT);
  CHECK(r.out.empty());
  REQUIRE(h.host.waits.size() == 1);
  CHECK(h.host.waits[0].side == VCP_SIDE_HOST);
  CHECK(h.host.waits[0].resource == kServices);
  CHECK(h.host.waits[0].name == "kube-dns-x-kube-system-x-my-vcluster");
  CHECK(h.host.waits[0].waiter_resource == kPods);
  CHECK(h.host.waits[0].waiter_name == "a-really-long-pod-name-for-a-batch-job-that-runs-nightly-abcde");
}

TEST_CASE("a referenced ConfigMap missing on the host is enqueued and waited for") {
  Harness h;
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  h.host.remove(VCP_SIDE_HOST, kConfigMaps, kHostNs, "app-config-x-shop-x-my-vcluster");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  Result r = h.sync(kPods, vpod);
  CHECK(r.status == VCP_WAIT);
  REQUIRE(h.host.enqueued.size() == 1);
  CHECK(h.host.enqueued[0].resource == kConfigMaps);
  CHECK(h.host.enqueued[0].name == "app-config");
  REQUIRE(h.host.waits.size() == 1);
  CHECK(h.host.waits[0].name == "app-config-x-shop-x-my-vcluster");
}

TEST_CASE("a ConfigMap is synced while a pod uses it and skipped when none does") {
  Harness h;
  Value cm = parse_or_fail(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app-config",
    "namespace":"shop","uid":"cm-1","labels":{"app":"shop"}},"data":{"mode":"prod"}})");
  Result unused = h.sync(kConfigMaps, cm);
  CHECK(unused.status == VCP_SKIP);

  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  h.host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(vpod));
  Result used = h.sync(kConfigMaps, cm);
  REQUIRE(used.status == VCP_OK);
  check_same(parse_or_fail(used.out), parse_or_fail(R"({"apiVersion":"v1","kind":"ConfigMap",
    "metadata":{"name":"app-config-x-shop-x-my-vcluster","namespace":"vcluster-my-vcluster",
      "labels":{"vcluster.loft.sh/label-my-vcluster-x-a172cedcae":"shop","vcluster.loft.sh/managed-by":"my-vcluster",
                "vcluster.loft.sh/namespace":"shop"},
      "annotations":{"vcluster.loft.sh/object-name":"app-config","vcluster.loft.sh/object-namespace":"shop",
                     "vcluster.loft.sh/object-uid":"cm-1"}},
    "data":{"mode":"prod"}})"));

  // Deleting the pod enqueues the ConfigMap so that its host copy is re-evaluated (and then deleted).
  h.host.remove(VCP_SIDE_VIRTUAL, kPods, "shop", "web");
  h.event(kPods, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, vpod);
  bool enqueued = false;
  for (const auto& e : h.host.enqueued)
    enqueued = enqueued || (e.resource == kConfigMaps && e.name == "app-config");
  CHECK(enqueued);
  CHECK(h.sync(kConfigMaps, cm).status == VCP_SKIP);

  h.host.config["sync.configmaps.all"] = "true";
  h.restart();
  CHECK(h.sync(kConfigMaps, cm).status == VCP_OK);
}

TEST_CASE("a service-account-token Secret becomes Opaque on the host") {
  Harness h;
  h.host.config["sync.secrets.all"] = "true";
  h.restart();
  Value s =
      parse_or_fail(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"t","namespace":"ns","uid":"s1"},
    "type":"kubernetes.io/service-account-token","data":{"token":"eA=="}})");
  Result r = h.sync(kSecrets, s);
  REQUIRE(r.status == VCP_OK);
  CHECK(parse_or_fail(r.out).find("type")->as_string() == "Opaque");
}

// --- Token Secrets shared by the pods of a namespace, service account and audience set ---

const std::string kNginx = "nginx-deployment-5fbdf85c67-42rmp";
const std::string kNginxUid = "6f1c2d8e-3b4a-4c5d-9e8f-0a1b2c3d4e5f";
// The shard of the nginx pod's group (service account "default", the API server's default audiences):
// "<sa>-sa-tokens-" + the first 8 hex digits of FNV-1a 64 over "default\n<aud> <aud> <aud> ".
const std::string kShard = "default-sa-tokens-3840df0c-0";
const std::string kShardHost = "default-sa-tokens-3840df0c-0-x-demo-nginx-x-my-vcluster";

std::string token_key(const std::string& pod, const std::string& uid) {
  return pod + "_" + uid + "_0";
}

// The nginx golden objects without the shard, and the nginx virtual pod renamed to `name` with `uid`, put
// into the virtual cache (a shard's reconcile looks its pods up there).
Value nginx_pod(Harness& h, const std::string& name = kNginx, const std::string& uid = kNginxUid) {
  if (h.host.cached(VCP_SIDE_HOST, kServices, kHostNs, "my-vcluster").empty()) {
    h.load_objects(golden_dir() + "/nginx.host-objects.json");
    h.host.remove(VCP_SIDE_HOST, kSecrets, kHostNs, kShardHost);
  }
  Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));
  (*vpod.at({"metadata"}))["name"] = name;
  (*vpod.at({"metadata"}))["uid"] = uid;
  h.host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(vpod));
  return vpod;
}

// Syncs a pod through its TokenRequest (answered with `token`); returns the status of the sync that
// follows the answer.
vcp_status through_token_request(Harness& h, const Value& vpod, const std::string& token) {
  REQUIRE(h.sync(kPods, vpod).status == VCP_WAIT);
  const pods_test::Write req = h.host.writes.back();
  REQUIRE(req.subresource == "token");
  h.host.finish(req.id, 201, R"({"kind":"TokenRequest","status":{"token":")" + token + "\"}}");
  return h.sync(kPods, vpod).status;
}

// What the API server does with a shard write: applies it to the stored Secret (stringData becomes data,
// a null in data removes the key), puts the result into the host cache and answers with it.
Value apply_shard_write(Harness& h, const pods_test::Write& w, bool answer = true) {
  REQUIRE(w.side == VCP_SIDE_HOST);
  REQUIRE(w.resource == kSecrets);
  Value body = parse_or_fail(w.body);
  Value stored;
  if (w.verb == VCP_VERB_CREATE) {
    stored = body;
    stored.erase("stringData");
    stored["data"] = Value::object();
  } else {
    REQUIRE(w.verb == VCP_VERB_PATCH);
    stored = parse_or_fail(h.host.cached(VCP_SIDE_HOST, kSecrets, kHostNs, w.name));
  }
  Value data = stored.find("data") ? *stored.find("data") : Value::object();
  if (const Value* sd = body.find("stringData"))
    for (const auto& [k, v] : sd->members()) data[k] = "dG9rZW4=";
  if (const Value* rm = body.find("data"); rm && w.verb == VCP_VERB_PATCH)
    for (const auto& [k, v] : rm->members())
      if (v.is_null()) data.erase(k);
  stored["data"] = data;
  const std::string text = vc::json::dump(stored);
  h.host.put(VCP_SIDE_HOST, kSecrets, text);
  if (answer) h.host.finish(w.id, w.verb == VCP_VERB_CREATE ? 201 : 200, text);
  return stored;
}

std::vector<pods_test::Write> secret_writes(const Harness& h) {
  std::vector<pods_test::Write> out;
  for (const auto& w : h.host.writes)
    if (w.resource == kSecrets) out.push_back(w);
  return out;
}

bool enqueued_pod(const Harness& h, const std::string& name, uint64_t* delay = nullptr) {
  for (const auto& e : h.host.enqueued) {
    if (e.resource == kPods && e.name == name) {
      if (delay) *delay = e.delay_ms;
      return true;
    }
  }
  return false;
}

TEST_CASE("the token flow: TokenRequest on the virtual side, then a shared host token Secret, then the pod") {
  Harness h;
  Value vpod = nginx_pod(h);

  Result r1 = h.sync(kPods, vpod);
  CHECK(r1.status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 1);
  const pods_test::Write req = h.host.writes[0];
  CHECK(req.side == VCP_SIDE_VIRTUAL);
  CHECK(req.resource == kServiceAccounts);
  CHECK(req.verb == VCP_VERB_CREATE);
  CHECK(req.name == "default");
  CHECK(req.subresource == "token");
  CHECK(req.wake_name == kNginx);
  check_same(parse_or_fail(req.body), parse_or_fail(R"({"apiVersion":"authentication.k8s.io/v1",
    "kind":"TokenRequest","spec":{"audiences":["https://kubernetes.default.svc.cluster.local",
    "https://kubernetes.default.svc","https://kubernetes.default"],"expirationSeconds":315360000,
    "boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"nginx-deployment-5fbdf85c67-42rmp",
    "uid":"6f1c2d8e-3b4a-4c5d-9e8f-0a1b2c3d4e5f"}}})"));

  // Woken before the request finished: no second request.
  CHECK(h.sync(kPods, vpod).status == VCP_WAIT);
  CHECK(h.host.writes.size() == 1);

  h.host.finish(req.id, 201, R"({"kind":"TokenRequest","status":{"token":"virtual-token-abc"}})");
  CHECK(h.sync(kPods, vpod).status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 2);
  const pods_test::Write create = h.host.writes[1];
  CHECK(create.side == VCP_SIDE_HOST);
  CHECK(create.resource == kSecrets);
  CHECK(create.verb == VCP_VERB_CREATE);
  CHECK(create.ns == kHostNs);
  // The answer wakes the pod, so the write goes out in the engine's lane for pods being created.
  CHECK(create.wake_name == kNginx);
  Value body = parse_or_fail(create.body);
  CHECK(body.at({"metadata"})->find("name")->as_string() == kShardHost);
  CHECK(body.at({"stringData"})->size() == 1);
  CHECK(body.at({"stringData"})->find(token_key(kNginx, kNginxUid))->as_string() == "virtual-token-abc");
  CHECK(body.at({"metadata", "annotations"})->find("vcluster.loft.sh/skip-backsync")->as_string() == "true");
  CHECK(body.at({"metadata", "annotations"})->find("vcluster.loft.sh/object-name")->as_string() == kShard);
  CHECK(body.at({"metadata", "annotations"})->find("vcluster.loft.sh/object-namespace")->as_string() ==
        "demo-nginx");
  CHECK(body.find("type")->as_string() == "Opaque");
  bool waited = false;
  for (const auto& w : h.host.waits) waited = waited || (w.resource == kSecrets && w.name == kShardHost);
  CHECK(waited);

  // Woken again before the write's answer: no second write.
  CHECK(h.sync(kPods, vpod).status == VCP_WAIT);
  CHECK(h.host.writes.size() == 2);

  // The Secret is written: the pod is created, token-free, mounting only its own key.
  apply_shard_write(h, create);
  Result r3 = h.sync(kPods, vpod);
  REQUIRE(r3.status == VCP_OK);
  CHECK(r3.out.find("virtual-token-abc") == std::string::npos);
  check_same(parse_or_fail(r3.out), parse_or_fail(slurp(golden_dir() + "/nginx.host.json")));
  CHECK(h.host.unread_results() == 0);

  // The shard's watch event can also come before the write's answer: the pod is created from the cache,
  // and the answer, arriving later, is still read (the engine would keep it otherwise).
  {
    Harness h2;
    Value vpod2 = nginx_pod(h2);
    REQUIRE(through_token_request(h2, vpod2, "t") == VCP_WAIT);
    const pods_test::Write w = h2.host.writes.back();
    Value stored = apply_shard_write(h2, w, /*answer=*/false);
    Result created = h2.sync(kPods, vpod2);
    REQUIRE(created.status == VCP_OK);
    Value hpod2 = parse_or_fail(created.out);
    h2.host.finish(w.id, 201, vc::json::dump(stored));
    CHECK(h2.host.unread_results() == 1);
    // The host pod exists now, so the pod's syncs no longer look at the shard; the answer is read anyway.
    for (int i = 0; i < 32; i++) h2.sync(kPods, vpod2, &hpod2);
    CHECK(h2.host.unread_results() == 0);
  }
}

TEST_CASE("a pod's token sources are numbered across volumes, in its keys and in its host volumes alike") {
  Harness h;
  Value vpod = nginx_pod(h);
  // A second projected volume with a token for another audience (e.g. a vault), after kube-api-access.
  (*vpod.at({"spec"}))["volumes"].push_back(parse_or_fail(R"({"name":"vault-token","projected":{"sources":[
    {"serviceAccountToken":{"audience":"vault","expirationSeconds":600,"path":"vault"}}]}})"));
  h.host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(vpod));
  REQUIRE(h.sync(kPods, vpod).status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 2);  // a TokenRequest per source
  const Value second = parse_or_fail(h.host.writes[1].body);
  CHECK(second.at({"spec"})->find("audiences")->items().at(0).as_string() == "vault");
  h.host.finish(h.host.writes[0].id, 201, R"({"status":{"token":"t-api"}})");
  h.host.finish(h.host.writes[1].id, 201, R"({"status":{"token":"t-vault"}})");
  REQUIRE(h.sync(kPods, vpod).status == VCP_WAIT);
  const pods_test::Write create = h.host.writes.back();
  Value body = parse_or_fail(create.body);
  const std::string shard = body.at({"metadata"})->find("name")->as_string();
  // Another audience set is another group: not the default-audience shard.
  CHECK(shard != kShardHost);
  CHECK(shard.rfind("default-sa-tokens-", 0) == 0);
  CHECK(body.at({"stringData"})->find(kNginx + "_" + kNginxUid + "_0")->as_string() == "t-api");
  CHECK(body.at({"stringData"})->find(kNginx + "_" + kNginxUid + "_1")->as_string() == "t-vault");
  apply_shard_write(h, create);
  Result r = h.sync(kPods, vpod);
  REQUIRE(r.status == VCP_OK);
  std::map<std::string, std::string> mounted;  // volume → its token item's key
  const Value hpod = parse_or_fail(r.out);
  for (const Value& v : hpod.at({"spec"})->find("volumes")->items()) {
    const Value* proj = v.find("projected");
    if (!proj) continue;
    for (const Value& src : proj->find("sources")->items())
      if (const Value* sec = src.find("secret"); sec && sec->find("name")->as_string() == shard)
        mounted[v.find("name")->as_string()] = (*sec->find("items"))[0].find("key")->as_string();
  }
  CHECK(mounted["kube-api-access-7xk2m"] == kNginx + "_" + kNginxUid + "_0");
  CHECK(mounted["vault-token"] == kNginx + "_" + kNginxUid + "_1");
}

TEST_CASE("tokens that come while a shard write is on its way go out together in its next write") {
  Harness h;
  Value a = nginx_pod(h);
  Value b = nginx_pod(h, "web-b", "00000000-0000-4000-8000-00000000000b");
  Value c = nginx_pod(h, "web-c", "00000000-0000-4000-8000-00000000000c");
  REQUIRE(through_token_request(h, a, "ta") == VCP_WAIT);
  const pods_test::Write create = h.host.writes.back();
  REQUIRE(create.verb == VCP_VERB_CREATE);
  REQUIRE(through_token_request(h, b, "tb") == VCP_WAIT);
  REQUIRE(through_token_request(h, c, "tc") == VCP_WAIT);
  CHECK(secret_writes(h).size() == 1);  // one write per shard at a time

  // The create's answer wakes a: it is created, and the waiting tokens go out in one PATCH.
  apply_shard_write(h, create);
  h.host.enqueued.clear();
  REQUIRE(h.sync(kPods, a).status == VCP_OK);
  REQUIRE(secret_writes(h).size() == 2);
  const pods_test::Write patch = secret_writes(h).back();
  CHECK(patch.verb == VCP_VERB_PATCH);
  CHECK(patch.name == kShardHost);
  Value body = parse_or_fail(patch.body);
  CHECK(body.find("metadata") == nullptr);  // a merge patch of the keys alone
  REQUIRE(body.find("stringData") != nullptr);
  CHECK(body.find("stringData")->size() == 2);
  CHECK(body.at({"stringData"})
            ->find(token_key("web-b", "00000000-0000-4000-8000-00000000000b"))
            ->as_string() == "tb");
  CHECK(body.at({"stringData"})
            ->find(token_key("web-c", "00000000-0000-4000-8000-00000000000c"))
            ->as_string() == "tc");
  CHECK(!enqueued_pod(h, "web-b"));

  // A pod whose token joins the existing shard waits for the write's answer, not for the shard itself:
  // waiting for an object that exists wakes at once, and the pod would spin (the first e2e run did).
  Value d = nginx_pod(h, "web-d", "00000000-0000-4000-8000-00000000000d");
  REQUIRE(through_token_request(h, d, "td") == VCP_WAIT);
  CHECK(!enqueued_pod(h, "web-d"));
  CHECK(h.sync(kPods, d).status == VCP_WAIT);
  CHECK(!enqueued_pod(h, "web-d"));
  CHECK(secret_writes(h).size() == 2);  // d waits for the PATCH in flight to finish

  // Its answer (it wakes b, the first of the batch) wakes c too; each mounts its own key of the Secret.
  CHECK(patch.wake_name == "web-b");
  apply_shard_write(h, patch);
  CHECK(!enqueued_pod(h, "web-c"));
  for (const auto& [pod, uid] :
       {std::pair<Value*, std::string>{&b, "00000000-0000-4000-8000-00000000000b"},
        std::pair<Value*, std::string>{&c, "00000000-0000-4000-8000-00000000000c"}}) {
    Result r = h.sync(kPods, *pod);
    REQUIRE(r.status == VCP_OK);
    CHECK(enqueued_pod(h, "web-c"));
    Value hpod = parse_or_fail(r.out);
    bool mounted = false;
    static const Value kNone;
    for (const Value& v : hpod.at({"spec"})->find("volumes")->items())
      for (const Value& s : (v.find("projected") ? *v.find("projected")->find("sources") : kNone).items())
        if (const Value* sec = s.find("secret"); sec && sec->find("name")->as_string() == kShardHost)
          mounted = sec->find("items")->size() == 1 &&
                    (*sec->find("items"))[0].find("key")->as_string() ==
                        token_key(pod->at({"metadata"})->find("name")->as_string(), uid);
    CHECK(mounted);
  }
  // Four pods, three host writes for their tokens: d's went out as soon as the b and c write was answered.
  REQUIRE(secret_writes(h).size() == 3);
  const pods_test::Write third = secret_writes(h).back();
  CHECK(third.verb == VCP_VERB_PATCH);
  CHECK(parse_or_fail(third.body).find("stringData")->size() == 1);
  CHECK(third.wake_name == "web-d");
  apply_shard_write(h, third);
  CHECK(h.sync(kPods, d).status == VCP_OK);
  CHECK(h.host.unread_results() == 0);
}

TEST_CASE("the pod a shard write wakes reads its answer even after taking its token from the cache") {
  // The shard's watch event can come before the create's answer: a takes its token from the cache and is
  // created; the answer then wakes a, whose sync (now with its host pod) must still read it and send b's
  // token. The nodes e2e test saw b wait for minutes when only a hook count read it.
  Harness h;
  Value a = nginx_pod(h);
  Value b = nginx_pod(h, "web-b", "00000000-0000-4000-8000-00000000000b");
  REQUIRE(through_token_request(h, a, "ta") == VCP_WAIT);
  const pods_test::Write create = secret_writes(h).back();
  REQUIRE(create.wake_name == kNginx);
  REQUIRE(through_token_request(h, b, "tb") == VCP_WAIT);
  Value stored = apply_shard_write(h, create, /*answer=*/false);
  Result ra = h.sync(kPods, a);
  REQUIRE(ra.status == VCP_OK);  // from the cache
  CHECK(secret_writes(h).size() == 1);
  CHECK(h.sync(kPods, b).status == VCP_WAIT);  // b's token waits for the create's answer
  CHECK(secret_writes(h).size() == 1);
  h.host.finish(create.id, 201, vc::json::dump(stored));
  Value hpod = parse_or_fail(ra.out);
  h.sync(kPods, a, &hpod);  // the answer woke a
  REQUIRE(secret_writes(h).size() == 2);
  const pods_test::Write patch = secret_writes(h).back();
  CHECK(patch.verb == VCP_VERB_PATCH);
  CHECK(patch.wake_name == "web-b");
  apply_shard_write(h, patch);
  CHECK(h.sync(kPods, b).status == VCP_OK);
}

TEST_CASE("a shard takes 64 tokens; the next token opens the next shard") {
  Harness h;
  Value first = nginx_pod(h, "p0", "00000000-0000-4000-8000-000000000000");
  REQUIRE(through_token_request(h, first, "t") == VCP_WAIT);
  const pods_test::Write create = secret_writes(h).back();
  for (int i = 1; i < 64; i++) {
    char uid[64];
    std::snprintf(uid, sizeof uid, "00000000-0000-4000-8000-%012d", i);
    REQUIRE(through_token_request(h, nginx_pod(h, "p" + std::to_string(i), uid), "t") == VCP_WAIT);
  }
  CHECK(secret_writes(h).size() == 1);
  Value last = nginx_pod(h, "p64", "00000000-0000-4000-8000-000000000064");
  REQUIRE(through_token_request(h, last, "t") == VCP_WAIT);
  REQUIRE(secret_writes(h).size() == 2);
  const pods_test::Write second = secret_writes(h).back();
  CHECK(second.verb == VCP_VERB_CREATE);
  CHECK(parse_or_fail(second.body).at({"metadata"})->find("name")->as_string() ==
        "default-sa-tokens-3840df0c-1-x-demo-nginx-x-my-vcluster");
  apply_shard_write(h, create);
  REQUIRE(h.sync(kPods, first).status == VCP_OK);
  const pods_test::Write patch = secret_writes(h).back();
  CHECK(patch.verb == VCP_VERB_PATCH);
  CHECK(parse_or_fail(patch.body).find("stringData")->size() == 63);
}

TEST_CASE("a failed shard write is sent again after a delay, and its pods wait for it") {
  Harness h;
  Value a = nginx_pod(h);
  REQUIRE(through_token_request(h, a, "ta") == VCP_WAIT);
  const pods_test::Write create = secret_writes(h).back();
  h.host.finish(create.id, 403, R"({"kind":"Status","message":"secrets is forbidden"})");
  h.host.enqueued.clear();
  CHECK(h.sync(kPods, a).status == VCP_WAIT);
  uint64_t delay = 0;
  CHECK(enqueued_pod(h, kNginx, &delay));
  // One warning names the Secret, the answer and the fix.
  REQUIRE(!h.host.logged.empty());
  const std::string& warning = h.host.logged.back();
  CHECK(warning.find("host token Secret vcluster-my-vcluster/" + kShardHost + " answered HTTP 403") !=
        std::string::npos);
  CHECK(warning.find("must allow creating and patching Secrets in vcluster-my-vcluster") !=
        std::string::npos);
  CHECK(delay >= 500);
  CHECK(secret_writes(h).size() == 1);  // not at once
  CHECK(h.sync(kPods, a).status == VCP_WAIT);
  CHECK(secret_writes(h).size() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay + 50));
  CHECK(h.sync(kPods, a).status == VCP_WAIT);
  REQUIRE(secret_writes(h).size() == 2);
  const pods_test::Write again = secret_writes(h).back();
  CHECK(again.verb == VCP_VERB_CREATE);
  CHECK(parse_or_fail(again.body).at({"stringData"})->find(token_key(kNginx, kNginxUid))->as_string() ==
        "ta");
  CHECK(h.host.writes.size() == 3);  // the token was not asked for again

  // A create answered 409 (the shard was made meanwhile) becomes a PATCH of the same keys, at once.
  h.host.put(VCP_SIDE_HOST, kSecrets,
             R"({"metadata":{"name":")" + kShardHost + R"(","namespace":"vcluster-my-vcluster",
    "annotations":{"vcluster.loft.sh/object-name":")" +
                 kShard + R"(","vcluster.loft.sh/object-namespace":"demo-nginx",
    "vcluster.loft.sh/skip-backsync":"true"}},"data":{}})");
  h.host.finish(again.id, 409, R"({"kind":"Status","reason":"AlreadyExists"})");
  CHECK(h.sync(kPods, a).status == VCP_WAIT);
  REQUIRE(secret_writes(h).size() == 3);
  const pods_test::Write patch = secret_writes(h).back();
  CHECK(patch.verb == VCP_VERB_PATCH);
  apply_shard_write(h, patch);
  CHECK(h.sync(kPods, a).status == VCP_OK);
}

TEST_CASE("a shard's reconcile removes the keys of pods that are gone and deletes it when empty") {
  Harness h;
  Value a = nginx_pod(h);
  const std::string gone = token_key("web-gone", "00000000-0000-4000-8000-0000000000ff");
  const std::string older = token_key(kNginx, "00000000-0000-4000-8000-000000000001");  // an earlier pod a
  Value shard = parse_or_fail(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + kShardHost +
                              R"(","namespace":"vcluster-my-vcluster","annotations":{
    "vcluster.loft.sh/object-name":")" +
                              kShard + R"(","vcluster.loft.sh/object-namespace":"demo-nginx",
    "vcluster.loft.sh/skip-backsync":"true"}},"type":"Opaque","data":{}})");
  shard["data"][token_key(kNginx, kNginxUid)] = "";
  shard["data"][gone] = "";
  shard["data"][older] = "";
  h.host.put(VCP_SIDE_HOST, kSecrets, vc::json::dump(shard));

  Result r = h.remove(kSecrets, "demo-nginx", kShard, shard);
  CHECK(r.status == VCP_SKIP);
  REQUIRE(secret_writes(h).size() == 1);
  const pods_test::Write rm = secret_writes(h).back();
  CHECK(rm.verb == VCP_VERB_PATCH);
  CHECK(rm.wake_name == kShard);  // removals alone wake the shard's own key
  check_same(parse_or_fail(rm.body),
             parse_or_fail(R"({"data":{")" + gone + R"(":null,")" + older + R"(":null}})"));
  // Reconciled again before the answer: no second write.
  CHECK(h.remove(kSecrets, "demo-nginx", kShard, shard).status == VCP_SKIP);
  CHECK(secret_writes(h).size() == 1);
  shard = apply_shard_write(h, rm);

  // Every key's pod exists: nothing is written (a restart that changed nothing writes nothing).
  CHECK(h.remove(kSecrets, "demo-nginx", kShard, shard).status == VCP_SKIP);
  CHECK(secret_writes(h).size() == 1);
  CHECK(h.host.unread_results() == 0);

  // The last pod goes: its key is removed, then the empty shard is deleted.
  h.host.remove(VCP_SIDE_VIRTUAL, kPods, "demo-nginx", kNginx);
  CHECK(h.remove(kSecrets, "demo-nginx", kShard, shard).status == VCP_SKIP);
  REQUIRE(secret_writes(h).size() == 2);
  shard = apply_shard_write(h, secret_writes(h).back());
  CHECK(shard.find("data")->size() == 0);
  CHECK(h.remove(kSecrets, "demo-nginx", kShard, shard).status == VCP_OK);

  // Until its DELETED event, no token goes into it; a new pod's token opens another shard.
  Value b = nginx_pod(h, "web-b", "00000000-0000-4000-8000-00000000000b");
  REQUIRE(through_token_request(h, b, "tb") == VCP_WAIT);
  CHECK(parse_or_fail(secret_writes(h).back().body).at({"metadata"})->find("name")->as_string() ==
        "default-sa-tokens-3840df0c-1-x-demo-nginx-x-my-vcluster");
  h.host.remove(VCP_SIDE_HOST, kSecrets, kHostNs, kShardHost);
  h.event(kSecrets, VCP_SIDE_HOST, VCP_EVENT_DELETED, shard);
  Value c = nginx_pod(h, "web-c", "00000000-0000-4000-8000-00000000000c");
  REQUIRE(through_token_request(h, c, "tc") == VCP_WAIT);
  CHECK(parse_or_fail(secret_writes(h).back().body).at({"metadata"})->find("name")->as_string() ==
        kShardHost);
}

TEST_CASE("a pod's deletion reconciles the shard holding its tokens") {
  Harness h;
  Value created = run_golden(h, "nginx");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));
  h.host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(vpod));
  created.ensure({"metadata"})["uid"] = "host-uid-9";
  // The host pod goes first (the virtual pod still exists): nothing yet, its keys are still in use.
  h.event(kPods, VCP_SIDE_HOST, VCP_EVENT_DELETED, created);
  auto shard_enqueued = [&] {
    for (const auto& e : h.host.enqueued)
      if (e.resource == kSecrets && e.name == kShard && e.ns == "demo-nginx") return true;
    return false;
  };
  CHECK(!shard_enqueued());
  // Then the virtual pod: the shard is reconciled.
  h.host.remove(VCP_SIDE_VIRTUAL, kPods, "demo-nginx", kNginx);
  h.event(kPods, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, vpod);
  CHECK(shard_enqueued());

  // The other order: the virtual pod is already gone when the host pod goes.
  h.host.enqueued.clear();
  h.event(kPods, VCP_SIDE_HOST, VCP_EVENT_DELETED, created);
  CHECK(shard_enqueued());
}

TEST_CASE("a virtual Secret named like a token Secret is refused, never synced over it or deleted") {
  Harness h;
  h.load_objects(golden_dir() + "/nginx.host-objects.json");
  Value shard = parse_or_fail(h.host.cached(VCP_SIDE_HOST, kSecrets, kHostNs, kShardHost));
  Value tenant = parse_or_fail(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + kShard +
                               R"(","namespace":"demo-nginx","uid":"s-9"},"data":{"x":"eQ=="}})");
  Result r = h.sync(kSecrets, tenant, &shard);
  CHECK(r.status == VCP_REFUSED);
  CHECK(h.host.last_error.find(kShardHost) != std::string::npos);
  CHECK(h.host.last_error.find("rename the virtual Secret demo-nginx/" + kShard) != std::string::npos);
}

TEST_CASE("the host cache keeps a token Secret's keys, not its tokens, and the pod is created from it") {
  Harness h;
  Value vpod = nginx_pod(h);
  REQUIRE(through_token_request(h, vpod, "virtual-token-abc") == VCP_WAIT);
  const pods_test::Write create = secret_writes(h).back();
  h.host.finish(create.id, 201, create.body);

  // The Secret as the API server stores it: stringData became data, and the server set its fields.
  Value stored = parse_or_fail(create.body);
  Value& m = *stored.find("metadata");
  m["uid"] = "host-secret-uid";
  m["resourceVersion"] = "812";
  m["creationTimestamp"] = "2026-11-26T08:00:00Z";
  const Value meta = m;  // a copy: adding members to `stored` below moves its metadata
  Value data = Value::object();
  data[token_key(kNginx, kNginxUid)] = "dmlydHVhbC10b2tlbi1hYmM=";
  stored["data"] = data;
  stored.erase("stringData");
  Result kept = h.cache(VCP_SIDE_HOST, kSecrets, vc::json::dump(stored));
  REQUIRE(kept.status == VCP_OK);
  Value cached = parse_or_fail(kept.out);
  CHECK(kept.out.find("dmlydHVhbC10b2tlbi1hYmM=") == std::string::npos);
  CHECK(cached.at({"data"})->find(token_key(kNginx, kNginxUid))->as_string().empty());
  check_same(*cached.find("metadata"), meta);
  CHECK(cached.find("type")->as_string() == "Opaque");

  // With only that in the cache, the pod is created and nothing is written again.
  h.host.put(VCP_SIDE_HOST, kSecrets, kept.out);
  const size_t writes = h.host.writes.size();
  Result created = h.sync(kPods, vpod);
  REQUIRE(created.status == VCP_OK);
  check_same(parse_or_fail(created.out), parse_or_fail(slurp(golden_dir() + "/nginx.host.json")));
  CHECK(h.host.writes.size() == writes);

  // A per-pod token Secret of an earlier version is projected the same way.
  const std::string legacy =
      R"({"metadata":{"name":"web-sa-token-x-demo-x-my-vcluster","namespace":"vcluster-my-vcluster",
    "annotations":{"vcluster.loft.sh/skip-backsync":"true","vcluster.loft.sh/object-name":"web-sa-token"}},
    "data":{"kube-api-access-1":"c2VjcmV0"}})";
  Result legacy_kept = h.cache(VCP_SIDE_HOST, kSecrets, legacy);
  REQUIRE(legacy_kept.status == VCP_OK);
  CHECK(legacy_kept.out.find("c2VjcmV0") == std::string::npos);

  // Everything else is cached whole: a host copy of a virtual Secret (on_sync compares it with its
  // source), a skip-backsync Secret that is no token Secret, and the virtual side.
  const std::string copy =
      R"({"metadata":{"name":"db-x-demo-x-my-vcluster","namespace":"vcluster-my-vcluster",
    "annotations":{"vcluster.loft.sh/object-name":"db"}},"data":{"password":"cGFzcw=="}})";
  CHECK(h.cache(VCP_SIDE_HOST, kSecrets, copy).status == VCP_SKIP);
  const std::string other = R"({"metadata":{"name":"x","namespace":"vcluster-my-vcluster","annotations":{
    "vcluster.loft.sh/skip-backsync":"true","vcluster.loft.sh/object-name":"x"}},"data":{"k":"dg=="}})";
  CHECK(h.cache(VCP_SIDE_HOST, kSecrets, other).status == VCP_SKIP);
  CHECK(h.cache(VCP_SIDE_VIRTUAL, kSecrets, kept.out).status == VCP_SKIP);
  CHECK(h.cache(VCP_SIDE_HOST, kPods, kept.out).status == VCP_SKIP);
}

// The "refs" golden pod synced: its virtual pod, and its host copy (uid host-uid-1) placed on node-a by the
// host scheduler.
std::pair<Value, Value> scheduled_refs_pod(Harness& h) {
  Value hpod = run_golden(h, "refs");
  hpod.ensure({"metadata"})["uid"] = "host-uid-1";
  (*hpod.at({"spec"}))["nodeName"] = "node-a";
  return {parse_or_fail(slurp(golden_dir() + "/refs.virtual.json")), std::move(hpod)};
}

TEST_CASE("back-sync binds the virtual pod to the host's node, then copies the host status") {
  Harness h;
  auto [vpod, hpod] = scheduled_refs_pod(h);
  hpod["status"] = parse_or_fail(R"({"phase":"Running","podIP":"10.244.0.7","hostIP":"172.18.0.2",
    "startTime":"2024-05-01T10:00:05Z","qosClass":"BestEffort",
    "conditions":[{"type":"Ready","status":"True"}],
    "containerStatuses":[{"name":"app","ready":true,"image":"shop/web:2"},
                         {"name":"vcluster-rewrite-hosts","ready":true}]})");
  size_t before = h.host.writes.size();
  Result bind = h.back_sync(vpod, hpod);
  CHECK(bind.status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == before + 1);
  const pods_test::Write& w = h.host.writes.back();
  CHECK(w.side == VCP_SIDE_VIRTUAL);
  CHECK(w.resource == kPods);
  CHECK(w.verb == VCP_VERB_CREATE);
  CHECK(w.subresource == "binding");
  CHECK(w.name == "web");
  check_same(parse_or_fail(w.body), parse_or_fail(R"({"apiVersion":"v1","kind":"Binding",
    "metadata":{"name":"web","namespace":"shop"},"target":{"apiVersion":"v1","kind":"Node","name":"node-a"}})"));

  // While the Binding is in flight, and after it was answered but before the pod's watch event shows the
  // node, a woken key binds no second time (the answer is a Status the cache cannot learn from).
  const uint64_t bind_id = w.id;
  CHECK(h.back_sync(vpod, hpod).status == VCP_NO_CHANGE);
  h.host.finish(bind_id, 201, R"({"kind":"Status","apiVersion":"v1","status":"Success","code":201})");
  CHECK(h.back_sync(vpod, hpod).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == before + 1);

  (*vpod.at({"spec"}))["nodeName"] = "node-a";
  Result status = h.back_sync(vpod, hpod);
  REQUIRE(status.status == VCP_OK);
  Value expected = vpod;
  expected["status"] = parse_or_fail(R"({"phase":"Running","podIP":"10.244.0.7","hostIP":"172.18.0.2",
    "startTime":"2024-05-01T10:00:05Z","qosClass":"BestEffort","conditions":[{"type":"Ready","status":"True"}],
    "containerStatuses":[{"name":"app","ready":true,"image":"shop/web:2"}]})");
  check_same(parse_or_fail(status.out), expected);
}

TEST_CASE(
    "every write's answer is read: a Binding answered after the pod's watch event, a pod deleted mid-write") {
  Harness h;
  auto [vpod, hpod] = scheduled_refs_pod(h);
  h.back_sync(vpod, hpod);
  REQUIRE(h.host.writes.back().subresource == "binding");
  const uint64_t bind_id = h.host.writes.back().id;
  // The pod's watch event (bound) comes first; the Binding's answer after it. The next hook reads it, so
  // the engine does not keep it (before the fix: one unread answer per pod, and one more per deleted pod).
  (*vpod.at({"spec"}))["nodeName"] = "node-a";
  h.back_sync(vpod, hpod);
  h.host.finish(bind_id, 201, R"({"kind":"Status","apiVersion":"v1","status":"Success","code":201})");
  CHECK(h.host.unread_results() == 1);
  h.back_sync(vpod, hpod);
  CHECK(h.host.unread_results() == 0);

  // The virtual pod is deleted while the host delete is in flight, and its bookkeeping goes with it: the
  // delete's answer (the whole pod) is still read once it arrives, within 32 hook calls.
  vpod.ensure({"metadata"})["deletionTimestamp"] = "2024-05-01T11:00:00Z";
  vpod.ensure({"metadata"})["deletionGracePeriodSeconds"] = 17;
  h.sync(kPods, vpod, &hpod);
  REQUIRE(h.host.writes.back().verb == VCP_VERB_DELETE);
  const uint64_t del_id = h.host.writes.back().id;
  h.event(kPods, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, vpod);
  h.host.finish(del_id, 200, vc::json::dump(hpod));
  CHECK(h.host.unread_results() == 1);
  for (int i = 0; i < 32; i++) h.back_sync(vpod, hpod);  // any hooks
  CHECK(h.host.unread_results() == 0);
}

TEST_CASE("deletion: virtual delete → host delete with its grace, host gone → virtual delete with grace 0") {
  Harness h;
  Value created = run_golden(h, "refs");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  vpod.ensure({"metadata"})["deletionTimestamp"] = "2024-05-01T11:00:00Z";
  vpod.ensure({"metadata"})["deletionGracePeriodSeconds"] = 17;
  Value hpod = created;
  hpod.ensure({"metadata"})["uid"] = "host-uid-1";

  size_t before = h.host.writes.size();
  CHECK(h.sync(kPods, vpod, &hpod).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == before + 1);
  pods_test::Write del = h.host.writes.back();
  CHECK(del.side == VCP_SIDE_HOST);
  CHECK(del.verb == VCP_VERB_DELETE);
  CHECK(del.ns == kHostNs);
  CHECK(del.name == "web-x-shop-x-my-vcluster");
  check_same(parse_or_fail(del.body), parse_or_fail(R"({"apiVersion":"v1","kind":"DeleteOptions",
    "gracePeriodSeconds":17,"preconditions":{"uid":"host-uid-1"}})"));
  // Woken again while the delete is in flight: no duplicate.
  CHECK(h.sync(kPods, vpod, &hpod).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == before + 1);
  CHECK(h.back_sync(vpod, hpod).status == VCP_NO_CHANGE);

  h.host.finish(del.id, 200, "{}");
  Result gone = h.sync(kPods, vpod);
  CHECK(gone.status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == before + 2);
  pods_test::Write vdel = h.host.writes.back();
  CHECK(vdel.side == VCP_SIDE_VIRTUAL);
  CHECK(vdel.verb == VCP_VERB_DELETE);
  CHECK(vdel.name == "web");
  check_same(parse_or_fail(vdel.body), parse_or_fail(R"({"apiVersion":"v1","kind":"DeleteOptions",
    "gracePeriodSeconds":0,"preconditions":{"uid":"aaaa-bbbb"}})"));
}

TEST_CASE(
    "a host pod deleted by someone else deletes the started virtual pod; a virtual-less host pod gets a uid "
    "precondition") {
  Harness h;
  Value created = run_golden(h, "refs");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  Value hpod = created;
  hpod.ensure({"metadata"})["uid"] = "host-uid-1";
  hpod.ensure({"metadata"})["deletionTimestamp"] = "2024-05-01T11:00:00Z";
  hpod.ensure({"metadata"})["deletionGracePeriodSeconds"] = 5;
  CHECK(h.sync(kPods, vpod, &hpod).status == VCP_NO_CHANGE);
  REQUIRE(!h.host.writes.empty());
  CHECK(h.host.writes.back().side == VCP_SIDE_VIRTUAL);
  CHECK(parse_or_fail(h.host.writes.back().body).find("gracePeriodSeconds")->as_int64() == 5);

  // A started virtual pod whose host pod vanished is deleted, not re-created.
  Harness h2;
  h2.load_objects(golden_dir() + "/refs.host-objects.json");
  vpod["status"] = parse_or_fail(R"({"phase":"Running","startTime":"2024-05-01T10:00:05Z"})");
  Result r = h2.sync(kPods, vpod);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(h2.host.writes.size() == 1);
  CHECK(h2.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(h2.host.writes[0].verb == VCP_VERB_DELETE);

  Result opts = h2.remove(kPods, "shop", "web", parse_or_fail(R"({"metadata":{"uid":"host-uid-9"}})"));
  CHECK(opts.status == VCP_OK);
  CHECK(parse_or_fail(opts.out).at({"preconditions"})->find("uid")->as_string() == "host-uid-9");
}

TEST_CASE("an invalid reference is refused with a sentence naming the field") {
  Harness h;
  h.load_objects(golden_dir() + "/labels.host-objects.json");
  Value vpod = parse_or_fail(R"({"metadata":{"name":"bad","namespace":"default","uid":"u"},
    "spec":{"containers":[{"name":"c","image":"i"}],"volumes":[{"name":"v","configMap":{}}]}})");
  CHECK(h.sync(kPods, vpod).status == VCP_REFUSED);
  CHECK(h.host.last_error.find("spec.volumes[0] (v).configMap.name") != std::string::npos);
}

TEST_CASE("enforced tolerations are added and a namespace label change re-enqueues its pods") {
  Harness h;
  h.load_objects(golden_dir() + "/labels.host-objects.json");
  h.host.config["sync.pods.enforceTolerations"] = R"(["dedicated=tenants:NoSchedule"])";
  Value vpod = parse_or_fail(slurp(golden_dir() + "/labels.virtual.json"));
  Result r = h.sync(kPods, vpod);
  REQUIRE(r.status == VCP_OK);
  check_same(
      *parse_or_fail(r.out).at({"spec"})->find("tolerations"),
      parse_or_fail(R"([{"key":"dedicated","operator":"Equal","value":"tenants","effect":"NoSchedule"}])"));

  h.host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(vpod));
  h.event(kNamespaces, VCP_SIDE_VIRTUAL, VCP_EVENT_ADDED,
          parse_or_fail(R"({"metadata":{"name":"default","labels":{"team":"a"}}})"));
  bool enqueued = false;
  for (const auto& e : h.host.enqueued) enqueued = enqueued || (e.resource == kPods && e.ns == "default");
  CHECK(enqueued);
}

TEST_CASE("a pod with dnsPolicy Default does not wait for the virtual DNS service") {
  Harness h;
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  h.host.remove(VCP_SIDE_HOST, kServices, kHostNs, "kube-dns-x-kube-system-x-my-vcluster");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  Result r = h.sync(kPods, vpod);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), parse_or_fail(slurp(golden_dir() + "/refs.host.json")));
  CHECK(h.host.waits.empty());
}

// --- The nodes plugin's keys: enableScheduler and nodeSelector (§3.2, §3.6, §3.7 gate 3) -----------------

namespace {

void scheduler_config(FakeHost& host) {
  host.config["sync.nodes.enabled"] = "true";
  host.config["sync.nodes.enableScheduler"] = "true";
  host.config["sync.nodes.nodeSelector"] = "";
}

}  // namespace

TEST_CASE("golden: with a virtual scheduler the bound pod goes to its node without selector or affinity") {
  Harness h;
  scheduler_config(h.host);
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  run_golden(h, "scheduled");
  CHECK(h.host.writes.empty());
  CHECK(h.host.waits.empty());
}

TEST_CASE("with a virtual scheduler an unbound pod waits, and is created once the scheduler binds it") {
  Harness h;
  scheduler_config(h.host);
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/scheduled.virtual.json"));
  vpod.at({"spec"})->erase("nodeName");
  Result r = h.sync(kPods, vpod);
  CHECK(r.status == VCP_WAIT);
  CHECK(r.out.empty());
  // Nothing to wait for but the pod itself: its binding is a watch event of the pod, which wakes the key.
  CHECK(h.host.waits.empty());
  CHECK(h.host.writes.empty());
  CHECK(h.host.emitted.empty());

  (*vpod.at({"spec"}))["nodeName"] = "node-b";
  Result bound = h.sync(kPods, vpod);
  REQUIRE(bound.status == VCP_OK);
  check_same(parse_or_fail(bound.out), parse_or_fail(slurp(golden_dir() + "/scheduled.host.json")));
}

TEST_CASE("with a virtual scheduler back-sync binds nothing and copies the status of the host pod") {
  Harness h;
  scheduler_config(h.host);
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  Value created = run_golden(h, "scheduled");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/scheduled.virtual.json"));
  Value hpod = created;
  hpod.ensure({"metadata"})["uid"] = "host-uid-7";
  hpod["status"] = parse_or_fail(R"({"phase":"Running","podIP":"10.244.1.9","hostIP":"127.0.10.2",
    "containerStatuses":[{"name":"app","ready":true,"image":"shop/web:2"}]})");
  Result r = h.back_sync(vpod, hpod);
  REQUIRE(r.status == VCP_OK);
  CHECK(h.host.writes.empty());  // no Binding: the virtual pod is already bound to the host pod's node
  Value expected = vpod;
  expected["status"] = *hpod.find("status");
  check_same(parse_or_fail(r.out), expected);
  // Re-syncing against the created host pod changes nothing, selector and affinity stay off the host.
  Result again = h.sync(kPods, vpod, &created);
  REQUIRE(again.status == VCP_OK);
  check_same(parse_or_fail(again.out), created);
}

TEST_CASE("without the nodes plugin's keys an unbound pod is created for the host scheduler as before") {
  Harness h;  // config_get knows no sync.nodes.* key: the nodes plugin is not loaded
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/scheduled.virtual.json"));
  vpod.at({"spec"})->erase("nodeName");
  Result r = h.sync(kPods, vpod);
  REQUIRE(r.status == VCP_OK);
  Value hpod = parse_or_fail(r.out);
  CHECK(hpod.at({"spec"})->find("nodeName") == nullptr);
  check_same(*hpod.at({"spec"})->find("nodeSelector"), parse_or_fail(R"({"disktype":"ssd"})"));
  // Scheduling fields stay, translated for the host (§3.6 without a virtual scheduler).
  REQUIRE(hpod.at({"spec", "affinity", "podAntiAffinity"}) != nullptr);
  REQUIRE(hpod.at({"spec"})->find("topologySpreadConstraints") != nullptr);
}

TEST_CASE("golden: sync.nodes.nodeSelector reaches the host pod as nodeSelector pairs and node affinity") {
  Harness h;
  h.host.config["sync.nodes.enabled"] = "true";
  h.host.config["sync.nodes.enableScheduler"] = "false";
  h.host.config["sync.nodes.nodeSelector"] =
      "disktype=ssd, topology.kubernetes.io/zone in "
      "(zone-a,zone-b),kubernetes.io/os!=windows,!example.com/spot";
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  run_golden(h, "selector");
}

TEST_CASE("an equality-only nodeSelector adds nodeSelector pairs and no node affinity") {
  Harness h;
  h.host.config["sync.nodes.enabled"] = "true";
  h.host.config["sync.nodes.nodeSelector"] = "pool=tenants,disktype==ssd";
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  Result r = h.sync(kPods, vpod);
  REQUIRE(r.status == VCP_OK);
  Value hpod = parse_or_fail(r.out);
  check_same(*hpod.at({"spec"})->find("nodeSelector"),
             parse_or_fail(R"({"pool":"tenants","disktype":"ssd"})"));
  CHECK(hpod.at({"spec"})->find("affinity") == nullptr);
  // The rest is the refs golden exactly.
  Value expected = parse_or_fail(slurp(golden_dir() + "/refs.host.json"));
  (*expected.at({"spec"}))["nodeSelector"] = *hpod.at({"spec"})->find("nodeSelector");
  check_same(hpod, expected);
}

TEST_CASE("with a nodeSelector a pod bound by name waits for its node to show in the virtual cluster") {
  Harness h;
  h.host.config["sync.nodes.enabled"] = "true";
  h.host.config["sync.nodes.nodeSelector"] = "disktype=ssd";
  h.load_objects(golden_dir() + "/refs.host-objects.json");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  (*vpod.at({"spec"}))["nodeName"] = "node-x";
  Result r = h.sync(kPods, vpod);
  CHECK(r.status == VCP_WAIT);
  CHECK(h.host.writes.empty());
  REQUIRE(h.host.waits.size() == 1);
  CHECK(h.host.waits[0].side == VCP_SIDE_VIRTUAL);
  CHECK(h.host.waits[0].resource == kNodes);
  CHECK(h.host.waits[0].ns.empty());
  CHECK(h.host.waits[0].name == "node-x");
  CHECK(h.host.waits[0].waiter_resource == kPods);
  CHECK(h.host.waits[0].waiter_ns == "shop");
  CHECK(h.host.waits[0].waiter_name == "web");
  REQUIRE(h.host.emitted.size() == 1);
  CHECK(h.host.emitted[0].side == VCP_SIDE_VIRTUAL);
  CHECK(h.host.emitted[0].resource == kPods);
  CHECK(h.host.emitted[0].name == "web");
  CHECK(h.host.emitted[0].type == "Warning");
  CHECK(h.host.emitted[0].reason == "SyncWarning");
  CHECK(h.host.emitted[0].message == "Given nodeName node-x does not exist in virtual cluster");

  // The node appears (the nodes plugin synced it because it matches): the pod goes to it, and the host
  // scheduler is not asked, so the selector is not added.
  h.host.put(VCP_SIDE_VIRTUAL, kNodes, R"({"metadata":{"name":"node-x","labels":{"disktype":"ssd"}}})");
  Result ok = h.sync(kPods, vpod);
  REQUIRE(ok.status == VCP_OK);
  Value expected = parse_or_fail(slurp(golden_dir() + "/refs.host.json"));
  (*expected.at({"spec"}))["nodeName"] = "node-x";
  check_same(parse_or_fail(ok.out), expected);

  // With fake nodes a node appears only once a pod runs on it, so nothing waits for one.
  Harness fake;
  fake.host.config["sync.nodes.enabled"] = "false";
  fake.host.config["sync.nodes.nodeSelector"] = "disktype=ssd";
  fake.load_objects(golden_dir() + "/refs.host-objects.json");
  Result f = fake.sync(kPods, vpod);
  REQUIRE(f.status == VCP_OK);
  check_same(parse_or_fail(f.out), expected);
  CHECK(fake.host.waits.empty());
}

// --- ns-label keys (ABI 1.1) -------------------------------------------------------------------------------

TEST_CASE("ns-label keys come from the engine's prefixed label-key service, also for names over 24 bytes") {
  // With this 28-byte name every ns-label key is over 63 bytes before hashing, so safe_concat hashes it
  // whole; the plugin used to derive the key from the plain label key and left such labels out. The expected
  // keys were computed apart from the plugin (Python hashlib over §1.1's SafeConcatName).
  const std::string vc = "tenant-a-staging-vcluster-01";
  Harness h(vc);
  h.host.put(VCP_SIDE_HOST, kServices,
             R"({"metadata":{"name":")" + vc + R"(","namespace":")" + kHostNs +
                 R"("},"spec":{"clusterIP":"10.96.0.10"}})");
  h.host.put(VCP_SIDE_VIRTUAL, kNamespaces,
             R"({"metadata":{"name":"team","labels":{"kubernetes.io/metadata.name":"team","tier":"gold"}}})");
  Value vpod = parse_or_fail(R"({"metadata":{"name":"p","namespace":"team","uid":"u1"},
    "spec":{"containers":[{"name":"c","image":"i"}],"dnsPolicy":"Default",
      "affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
        {"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"app":"db"}},
         "namespaceSelector":{"matchLabels":{"tier":"gold"}}}]}}}})");
  Result r = h.sync(kPods, vpod);
  INFO("plugin error: " << h.host.last_error);
  REQUIRE(r.status == VCP_OK);
  Value hpod = parse_or_fail(r.out);
  const Value* labels = hpod.at({"metadata", "labels"});
  REQUIRE(labels != nullptr);
  const Value* name_key = labels->find("vcluster.loft.sh/ns-label-tenant-a-staging-vcluster--c04249737d");
  REQUIRE(name_key != nullptr);
  CHECK(name_key->as_string() == "team");
  const Value* tier_key = labels->find("vcluster.loft.sh/ns-label-tenant-a-staging-vcluster--274431740a");
  REQUIRE(tier_key != nullptr);
  CHECK(tier_key->as_string() == "gold");
  // The namespace selector of the affinity term selects pods by the same keys.
  const Value* terms = hpod.at({"spec", "affinity", "podAffinity"});
  REQUIRE(terms != nullptr);
  const Value& sel = (*terms->find("requiredDuringSchedulingIgnoredDuringExecution"))[0];
  const Value* ml = sel.at({"labelSelector", "matchLabels"});
  REQUIRE(ml != nullptr);
  CHECK(ml->find("vcluster.loft.sh/ns-label-tenant-a-staging-vcluster--274431740a") != nullptr);
  CHECK(ml->find("vcluster.loft.sh/label-tenant-a-staging-vcluster-01--bd67a50aa4") == nullptr);
}

TEST_CASE("with a 1.0 host table the plugin starts and leaves ns-label keys out instead of guessing them") {
  Harness h("my-vcluster", true);
  h.load_objects(golden_dir() + "/nginx.host-objects.json");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));
  Result r = h.sync(kPods, vpod);
  REQUIRE(r.status == VCP_OK);
  Value expected = parse_or_fail(slurp(golden_dir() + "/nginx.host.json"));
  REQUIRE(expected.at({"metadata", "labels"})->erase("vcluster.loft.sh/ns-label-my-vcluster-x-cf1227b7b2"));
  check_same(parse_or_fail(r.out), expected);
}

// --- Events, host → virtual --------------------------------------------------------------------------------

namespace {

std::string rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Moves every time an Event carries to `when`, so that a golden Event recorded in 2024 counts as newer than
// the plugin's start; input and expected copy are restamped alike.
void restamp(Value& ev, const std::string& when) {
  for (std::string_view k : {"eventTime", "firstTimestamp", "lastTimestamp"}) {
    if (Value* f = ev.find(k); f && f->is_string()) *f = when;
  }
  if (Value* f = ev.at({"series", "lastObservedTime"}); f && f->is_string()) *f = when;
}

Value golden_event(const std::string& file, const std::string& when) {
  Value ev = parse_or_fail(slurp(golden_dir() + "/" + file));
  restamp(ev, when);
  return ev;
}

size_t event_writes(const FakeHost& host) {
  size_t n = 0;
  for (const auto& w : host.writes) n += w.resource == kEvents ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("golden: the host scheduler's Scheduled event becomes a virtual event about the virtual pod") {
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  const std::string now = rfc3339(std::time(nullptr));
  h.host_event(VCP_EVENT_ADDED, golden_event("event-scheduled.host.json", now));
  REQUIRE(h.host.writes.size() == 1);
  const pods_test::Write& w = h.host.writes[0];
  CHECK(w.side == VCP_SIDE_VIRTUAL);
  CHECK(w.resource == kEvents);
  CHECK(w.verb == VCP_VERB_CREATE);
  CHECK(w.ns == "shop");
  CHECK(w.name.empty());
  CHECK(w.subresource.empty());
  // The write wakes the virtual pod's key, whose sync reads the result.
  CHECK(w.wake_ns == "shop");
  CHECK(w.wake_name == "web");
  check_same(parse_or_fail(w.body), golden_event("event-scheduled.virtual.json", now));
}

TEST_CASE("golden: a kubelet event keeps its count, times, source and labels; only pod names are rewritten") {
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  const std::string now = rfc3339(std::time(nullptr));
  h.host_event(VCP_EVENT_ADDED, golden_event("event-backoff.host.json", now));
  REQUIRE(h.host.writes.size() == 1);
  check_same(parse_or_fail(h.host.writes[0].body), golden_event("event-backoff.virtual.json", now));
}

TEST_CASE("events older than the plugin's start, and events about objects it does not manage, are ignored") {
  const std::time_t before = std::time(nullptr);
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  const std::string now = rfc3339(std::time(nullptr));

  // Already there when the syncer started (the informer's first list brings them all): not copied. Each
  // time field counts, in order, so an old lastTimestamp wins over a fresh creationTimestamp.
  h.host_event(VCP_EVENT_ADDED, golden_event("event-scheduled.host.json", rfc3339(before - 2)));
  Value old_kubelet = golden_event("event-backoff.host.json", rfc3339(before - 2));
  (*old_kubelet.at({"metadata"}))["creationTimestamp"] = now;
  h.host_event(VCP_EVENT_MODIFIED, old_kubelet);
  Value untimed = golden_event("event-backoff.host.json", now);
  untimed.erase("firstTimestamp");
  untimed.erase("lastTimestamp");
  untimed.at({"metadata"})->erase("creationTimestamp");
  (*untimed.at({"metadata"}))["uid"] = "ev-untimed";
  h.host_event(VCP_EVENT_ADDED, untimed);

  auto variant = [&](const char* uid, auto change) {
    Value ev = golden_event("event-scheduled.host.json", now);
    (*ev.at({"metadata"}))["uid"] = uid;
    change(ev);
    h.host_event(VCP_EVENT_ADDED, ev);
  };
  variant("ev-service", [](Value& ev) { (*ev.at({"involvedObject"}))["kind"] = "Service"; });
  variant("ev-other-group", [](Value& ev) { (*ev.at({"involvedObject"}))["apiVersion"] = "example.com/v1"; });
  variant("ev-other-ns", [](Value& ev) { (*ev.at({"involvedObject"}))["namespace"] = "kube-system"; });
  variant("ev-foreign-pod", [](Value& ev) {
    // A host pod without our annotations is not in the cache of owned host pods.
    (*ev.at({"involvedObject"}))["name"] = "squatter-x-shop-x-my-vcluster";
    ev.at({"involvedObject"})->erase("uid");
  });
  variant("ev-earlier-pod", [](Value& ev) { (*ev.at({"involvedObject"}))["uid"] = "host-uid-0"; });
  CHECK(h.host.writes.empty());

  // A host pod whose name is not the translation of its annotations is not ours either.
  Value impostor = parse_or_fail(R"({"metadata":{"name":"cache-x-shop-x-my-vcluster",
    "namespace":"vcluster-my-vcluster","uid":"host-uid-7","annotations":{"vcluster.loft.sh/object-name":"web",
    "vcluster.loft.sh/object-namespace":"shop"}}})");
  h.host.put(VCP_SIDE_HOST, kPods, vc::json::dump(impostor));
  variant("ev-impostor", [](Value& ev) {
    (*ev.at({"involvedObject"}))["name"] = "cache-x-shop-x-my-vcluster";
    (*ev.at({"involvedObject"}))["uid"] = "host-uid-7";
  });
  // The virtual pod is gone: nothing to attach the event to.
  h.host.remove(VCP_SIDE_VIRTUAL, kPods, "shop", "web");
  variant("ev-orphan", [](Value&) {});
  CHECK(h.host.writes.empty());

  h.load_objects(golden_dir() + "/events.host-objects.json");
  variant("ev-fresh", [](Value&) {});
  CHECK(h.host.writes.size() == 1);
}

TEST_CASE("a repeated event patches its copy once the create finished, one write at a time") {
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  const Value objects = parse_or_fail(slurp(golden_dir() + "/events.host-objects.json"));
  const Value& hpod = *objects[0].find("object");
  const Value& vpod = *objects[1].find("object");
  const std::string t0 = rfc3339(std::time(nullptr));
  Value ev = golden_event("event-backoff.host.json", t0);
  h.host_event(VCP_EVENT_ADDED, ev);
  REQUIRE(h.host.writes.size() == 1);
  const pods_test::Write create = h.host.writes[0];

  // Repeats while the create is in flight write nothing yet.
  ev["count"] = 2;
  ev["lastTimestamp"] = rfc3339(std::time(nullptr) + 10);
  h.host_event(VCP_EVENT_MODIFIED, ev);
  CHECK(h.host.writes.size() == 1);

  // The create finishes and wakes the pod's key: its sync reads the result and patches the repeat.
  h.host.finish(create.id, 201, create.body);
  h.sync(kPods, vpod, &hpod);
  REQUIRE(h.host.writes.size() == 2);
  const pods_test::Write patch = h.host.writes[1];
  CHECK(patch.side == VCP_SIDE_VIRTUAL);
  CHECK(patch.resource == kEvents);
  CHECK(patch.verb == VCP_VERB_PATCH);
  CHECK(patch.ns == "shop");
  CHECK(patch.name == "web.17cb8e3a5b6d7e8f");
  Value expected_patch = Value::object();
  expected_patch["count"] = 2;
  expected_patch["lastTimestamp"] = ev["lastTimestamp"];
  expected_patch["message"] =
      "Back-off restarting failed container app in pod web_vcluster-my-vcluster(host-uid-1)";
  check_same(parse_or_fail(patch.body), expected_patch);
  CHECK(h.host.unread_results() == 0);

  // The same count again (a relist, an unrelated field) writes nothing; a higher one patches again.
  h.host.finish(patch.id, 200, "{}");
  h.host_event(VCP_EVENT_MODIFIED, ev);
  CHECK(h.host.writes.size() == 2);
  CHECK(h.host.unread_results() == 0);
  ev["count"] = 3;
  h.host_event(VCP_EVENT_MODIFIED, ev);
  REQUIRE(h.host.writes.size() == 3);
  CHECK(h.host.writes[2].verb == VCP_VERB_PATCH);
  CHECK(parse_or_fail(h.host.writes[2].body).find("count")->as_int64() == 3);
}

TEST_CASE(
    "a copy that already exists is patched, a vanished one re-created, a refused one left until a repeat") {
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  const std::string now = rfc3339(std::time(nullptr));
  Value ev = golden_event("event-backoff.host.json", now);
  ev["count"] = 4;

  // After a restart the host event repeats and the create finds the copy of the earlier run: patch it.
  h.host_event(VCP_EVENT_MODIFIED, ev);
  REQUIRE(h.host.writes.size() == 1);
  CHECK(h.host.writes[0].verb == VCP_VERB_CREATE);
  h.host.finish(h.host.writes[0].id, 409, R"({"kind":"Status","reason":"AlreadyExists"})");
  h.wake_pod("shop", "web");
  REQUIRE(h.host.writes.size() == 2);
  CHECK(h.host.writes[1].verb == VCP_VERB_PATCH);
  CHECK(h.host.writes[1].name == "web.17cb8e3a5b6d7e8f");
  CHECK(parse_or_fail(h.host.writes[1].body).find("count")->as_int64() == 4);

  // The copy expired in the virtual cluster: the patch answers 404 and the copy is created again.
  h.host.finish(h.host.writes[1].id, 404, R"({"kind":"Status","reason":"NotFound"})");
  h.wake_pod("shop", "web");
  REQUIRE(h.host.writes.size() == 3);
  CHECK(h.host.writes[2].verb == VCP_VERB_CREATE);
  CHECK(parse_or_fail(h.host.writes[2].body).at({"metadata"})->find("name")->as_string() ==
        "web.17cb8e3a5b6d7e8f");

  // A refusal is not retried in a loop: nothing more until the event repeats, which creates it anew.
  h.host.finish(h.host.writes[2].id, 403, R"({"kind":"Status","reason":"Forbidden"})");
  h.wake_pod("shop", "web");
  h.host_event(VCP_EVENT_MODIFIED, ev);
  CHECK(h.host.writes.size() == 3);
  ev["count"] = 5;
  h.host_event(VCP_EVENT_MODIFIED, ev);
  REQUIRE(h.host.writes.size() == 4);
  CHECK(h.host.writes[3].verb == VCP_VERB_CREATE);
  CHECK(parse_or_fail(h.host.writes[3].body).find("count")->as_int64() == 5);
  CHECK(event_writes(h.host) == 4);
}

TEST_CASE("events whose UUIDs differ in one digit are copied apart; a repeat of each patches only its copy") {
  // The plugin keeps a UUID as 16 bytes (and other uids hashed): each Event must keep its own count.
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  const std::string now = rfc3339(std::time(nullptr));
  Value a = golden_event("event-backoff.host.json", now);
  a["metadata"]["uid"] = "0f8e2a4c-1d3b-4e5f-8a9b-0c1d2e3f4a5b";
  Value b = a;
  b["metadata"]["uid"] = "0f8e2a4c-1d3b-4e5f-8a9b-0c1d2e3f4a5c";
  b["metadata"]["name"] = "web.17cb8e3a5b6d7e90";
  h.host_event(VCP_EVENT_ADDED, a);
  h.host_event(VCP_EVENT_ADDED, b);
  REQUIRE(h.host.writes.size() == 2);
  CHECK(h.host.writes[0].verb == VCP_VERB_CREATE);
  CHECK(h.host.writes[1].verb == VCP_VERB_CREATE);
  h.host.finish(h.host.writes[0].id, 201, h.host.writes[0].body);
  h.host.finish(h.host.writes[1].id, 201, h.host.writes[1].body);
  h.wake_pod("shop", "web");
  CHECK(h.host.unread_results() == 0);
  b["count"] = 7;
  h.host_event(VCP_EVENT_MODIFIED, a);  // the same count: nothing
  h.host_event(VCP_EVENT_MODIFIED, b);
  REQUIRE(h.host.writes.size() == 3);
  CHECK(h.host.writes[2].verb == VCP_VERB_PATCH);
  CHECK(h.host.writes[2].name == "web.17cb8e3a5b6d7e90");
  CHECK(parse_or_fail(h.host.writes[2].body).find("count")->as_int64() == 7);
}

TEST_CASE("a host event deleted with its write in flight leaves no result behind") {
  Harness h;
  h.load_objects(golden_dir() + "/events.host-objects.json");
  Value ev = golden_event("event-scheduled.host.json", rfc3339(std::time(nullptr)));
  h.host_event(VCP_EVENT_ADDED, ev);
  REQUIRE(h.host.writes.size() == 1);
  h.host_event(VCP_EVENT_DELETED, ev);
  // The write finishes after its event went away; the next hook reads the result so the engine can drop it.
  h.host.finish(h.host.writes[0].id, 201, h.host.writes[0].body);
  CHECK(h.host.unread_results() == 1);
  h.wake_pod("shop", "web");
  CHECK(h.host.unread_results() == 0);
  CHECK(h.host.writes.size() == 1);
}

// The time and count rules are compiled into this test from plugins/pods/events.cpp (the shared object
// exports nothing but its entry), so their edge cases are checked directly.
TEST_CASE("event times: RFC 3339 seconds, MicroTime fractions and offsets; malformed times are refused") {
  CHECK(vcp_pods::parse_time("1970-01-01T00:00:00Z") == 0);
  CHECK(vcp_pods::parse_time("2024-05-01T10:00:05Z") == 1714557605);
  CHECK(vcp_pods::parse_time("2024-05-01T10:00:05.999999Z") == 1714557605);
  CHECK(vcp_pods::parse_time("2024-05-01T12:00:05+02:00") == 1714557605);
  CHECK(vcp_pods::parse_time("2024-05-01T05:30:05-04:30") == 1714557605);
  CHECK(vcp_pods::parse_time("2000-02-29T23:59:59Z") == 951868799);
  for (const char* bad : {"", "2024-05-01", "2024-05-01T10:00:05", "2024-05-01 10:00:05Z",
                          "2024-13-01T10:00:05Z", "2024-05-01T24:00:05Z", "2024-05-01T10:00:05.Z",
                          "2024-05-01T10:00:05Zjunk", "2024-05-01T10:00:05+0200", "2024-o5-01T10:00:05Z"}) {
    INFO(bad);
    CHECK_FALSE(vcp_pods::parse_time(bad).has_value());
  }
}

TEST_CASE("event time and count: the newest field that is set; series count for events.k8s.io events") {
  using vcp_pods::event_count;
  using vcp_pods::event_time;
  CHECK(
      event_time(parse_or_fail(R"({"lastTimestamp":"1970-01-01T00:00:30Z","eventTime":"1970-01-01T00:00:10Z",
    "metadata":{"creationTimestamp":"1970-01-01T00:00:01Z"}})")) == 30);
  CHECK(event_time(parse_or_fail(R"({"lastTimestamp":null,"eventTime":"1970-01-01T00:00:10.5Z",
    "series":{"count":3,"lastObservedTime":"1970-01-01T00:00:20.000001Z"}})")) == 20);
  CHECK(event_time(parse_or_fail(R"({"lastTimestamp":null,"eventTime":"1970-01-01T00:00:10.5Z"})")) == 10);
  CHECK(event_time(parse_or_fail(R"({"firstTimestamp":"1970-01-01T00:00:07Z"})")) == 7);
  CHECK(event_time(parse_or_fail(R"({"metadata":{"creationTimestamp":"1970-01-01T00:00:01Z"}})")) == 1);
  CHECK_FALSE(event_time(parse_or_fail(R"({"metadata":{}})")).has_value());
  CHECK(event_count(parse_or_fail(R"({})")) == 1);
  CHECK(event_count(parse_or_fail(R"({"count":0})")) == 1);
  CHECK(event_count(parse_or_fail(R"({"count":7})")) == 7);
  CHECK(event_count(parse_or_fail(R"({"series":{"count":4}})")) == 4);
}

TEST_CASE("event names keep their suffix; names not derived from the pod's are kept") {
  vcp_pods::EventPod p;
  p.host_namespace = "vcluster-my-vcluster";
  p.host_name = "web-x-shop-x-my-vcluster";
  p.vns = "shop";
  p.vname = "web";
  CHECK(vcp_pods::virtual_event_name("web-x-shop-x-my-vcluster.17cb8e3a", p) == "web.17cb8e3a");
  CHECK(vcp_pods::virtual_event_name("custom-name", p) == "custom-name");
  CHECK(vcp_pods::virtual_event_message(
            "Successfully assigned vcluster-my-vcluster/web-x-shop-x-my-vcluster to node-a; "
            "web-x-shop-x-my-vcluster again",
            p) == "Successfully assigned shop/web to node-a; web again");
}

// --- Pod Security Standards under isolation (§3.7 gate 2, §8.2; the checks are tested in pss_test.cpp)
// ------

TEST_CASE(
    "isolation: a pod failing the standard is refused with the admission message and nothing is written") {
  Harness h;
  h.host.config["isolation.enabled"] = "true";
  h.host.config["isolation.podSecurityStandard"] = "baseline";
  h.restart();
  h.load_objects(golden_dir() + "/nginx.host-objects.json");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));
  (*vpod.at({"spec"}))["hostNetwork"] = true;
  (*vpod.at({"spec"}))["containers"].array_ptr()->at(0)["securityContext"]["privileged"] = true;
  const std::string cname = vpod.at({"spec"})->find("containers")->items()[0].find("name")->as_string();
  Result r = h.sync(kPods, vpod);
  // VCP_REFUSED: the engine emits exactly one Warning SyncError event with this message on the virtual pod
  // and does not retry the key until the pod changes (vcp/plugin.h); the plugin itself emits none.
  CHECK(r.status == VCP_REFUSED);
  CHECK(r.out.empty());
  CHECK(h.host.writes.empty());
  CHECK(h.host.emitted.empty());
  CHECK(h.host.last_error ==
        "Pod nginx-deployment-5fbdf85c67-42rmp is forbidden: pod violates PodSecurity "
        "\"baseline:latest\": host namespaces (hostNetwork=true), privileged (container \"" +
            cname + "\" must not set securityContext.privileged=true)");
}

TEST_CASE(
    "isolation: a compliant pod is synced exactly as without isolation; privileged lets everything through") {
  {
    Harness h;
    h.host.config["isolation.enabled"] = "true";
    h.host.config["isolation.podSecurityStandard"] = "baseline";
    h.restart();
    run_golden(h, "nginx");
  }
  for (const char* level_or_off : {"privileged", "off"}) {
    CAPTURE(level_or_off);
    Harness h;
    h.host.config["isolation.enabled"] = std::string(level_or_off) == "off" ? "false" : "true";
    h.host.config["isolation.podSecurityStandard"] =
        std::string(level_or_off) == "off" ? "restricted" : level_or_off;
    h.restart();
    h.load_objects(golden_dir() + "/nginx.host-objects.json");
    Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));
    (*vpod.at({"spec"}))["hostPID"] = true;
    (*vpod.at({"spec"}))["containers"].array_ptr()->at(0)["securityContext"]["privileged"] = true;
    Result r = h.sync(kPods, vpod);
    INFO("plugin error: " << h.host.last_error);
    CHECK(r.status == VCP_OK);
    CHECK(parse_or_fail(r.out).at({"spec", "hostPID"}) != nullptr);
  }
}

TEST_CASE(
    "isolation: a synced pod that fails later keeps its host pod, gets no update, and is reported once") {
  Harness h;
  Value created = run_golden(h, "nginx");
  h.host.config["isolation.enabled"] = "true";
  h.host.config["isolation.podSecurityStandard"] = "restricted";
  h.restart();
  Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));
  (*vpod.at({"spec"}))["activeDeadlineSeconds"] = 600;  // an update that would otherwise reach the host
  Result r = h.sync(kPods, vpod, &created);
  CHECK(r.status == VCP_REFUSED);
  CHECK(h.host.last_error.find(
            "pod violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false") !=
        std::string::npos);
  Result again = h.sync(kPods, vpod, &created);
  CHECK(again.status == VCP_NO_CHANGE);  // the same message: no second Warning
  CHECK(h.host.writes.empty());          // no delete, no update
}
