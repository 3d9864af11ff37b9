// Golden and behaviour tests of the real pods plugin shared object: the test dlopens libvcp-pods.so (path in
// VCP_PODS_PLUGIN), takes its descriptor through vcp_plugin_entry_v1 and drives its hooks against FakeHost.
// Golden files (golden/<case>.virtual.json, optional <case>.host-objects.json, expected <case>.host.json)
// were written from vcluster-behaviour.md §1–3, not copied from the plugin's output.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

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
  kServiceAccounts = 5
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
  REQUIRE(h.plugin->resource_count == 6);
  CHECK(std::string(h.plugin->resources[kPods].resource) == "pods");
  CHECK(h.plugin->resources[kPods].flags == (VCP_RES_NAMESPACED | VCP_RES_STATUS | VCP_RES_RECREATE_ON_UID));
  CHECK(h.plugin->resources[kServices].role == VCP_ROLE_WATCH_HOST);
  CHECK(h.plugin->resources[kNamespaces].role == VCP_ROLE_WATCH_VIRTUAL);
  CHECK(h.plugin->resources[kServiceAccounts].role == VCP_ROLE_WATCH_VIRTUAL);
  // Built against 1.1: the loader refuses it on a 1.0 engine, which lacks translate_label_key_prefixed.
  CHECK(h.plugin->abi_minor == 1);
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
  CHECK(h.sync(kConfigMaps, cm).status == VCP_OK);
}

TEST_CASE("a service-account-token Secret becomes Opaque on the host") {
  Harness h;
  h.host.config["sync.secrets.all"] = "true";
  Value s =
      parse_or_fail(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"t","namespace":"ns","uid":"s1"},
    "type":"kubernetes.io/service-account-token","data":{"token":"eA=="}})");
  Result r = h.sync(kSecrets, s);
  REQUIRE(r.status == VCP_OK);
  CHECK(parse_or_fail(r.out).find("type")->as_string() == "Opaque");
}

TEST_CASE("the token flow: TokenRequest on the virtual side, then the host Secret, then the pod") {
  Harness h;
  h.load_objects(golden_dir() + "/nginx.host-objects.json");
  const std::string secret = "nginx-deployment-5fbdf85c67-42rmp-sa-token-x-demo-ng-f45bc9d59b";
  h.host.remove(VCP_SIDE_HOST, kSecrets, kHostNs, secret);
  Value vpod = parse_or_fail(slurp(golden_dir() + "/nginx.virtual.json"));

  Result r1 = h.sync(kPods, vpod);
  CHECK(r1.status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 1);
  const pods_test::Write req = h.host.writes[0];
  CHECK(req.side == VCP_SIDE_VIRTUAL);
  CHECK(req.resource == kServiceAccounts);
  CHECK(req.verb == VCP_VERB_CREATE);
  CHECK(req.name == "default");
  CHECK(req.subresource == "token");
  CHECK(req.wake_name == "nginx-deployment-5fbdf85c67-42rmp");
  check_same(parse_or_fail(req.body), parse_or_fail(R"({"apiVersion":"authentication.k8s.io/v1",
    "kind":"TokenRequest","spec":{"audiences":["https://kubernetes.default.svc.cluster.local",
    "https://kubernetes.default.svc","https://kubernetes.default"],"expirationSeconds":315360000,
    "boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"nginx-deployment-5fbdf85c67-42rmp",
    "uid":"6f1c2d8e-3b4a-4c5d-9e8f-0a1b2c3d4e5f"}}})"));

  // Woken before the request finished: no second request.
  CHECK(h.sync(kPods, vpod).status == VCP_WAIT);
  CHECK(h.host.writes.size() == 1);

  h.host.finish(req.id, 201, R"({"kind":"TokenRequest","status":{"token":"virtual-token-abc"}})");
  Result r2 = h.sync(kPods, vpod);
  CHECK(r2.status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 2);
  const pods_test::Write create = h.host.writes[1];
  CHECK(create.side == VCP_SIDE_HOST);
  CHECK(create.resource == kSecrets);
  CHECK(create.verb == VCP_VERB_CREATE);
  CHECK(create.ns == kHostNs);
  Value body = parse_or_fail(create.body);
  CHECK(body.at({"stringData"})->find("kube-api-access-7xk2m")->as_string() == "virtual-token-abc");
  CHECK(body.at({"metadata", "annotations"})->find("vcluster.loft.sh/skip-backsync")->as_string() == "true");
  CHECK(body.at({"metadata", "annotations"})->find("vcluster.loft.sh/object-name")->as_string() ==
        "nginx-deployment-5fbdf85c67-42rmp-sa-token");
  bool waited = false;
  for (const auto& w : h.host.waits) waited = waited || (w.resource == kSecrets && w.name == secret);
  CHECK(waited);

  // The Secret appears (the API server turned stringData into data): the pod is created, token-free.
  h.host.finish(create.id, 201, create.body);
  h.host.put(
      VCP_SIDE_HOST, kSecrets,
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + secret +
          R"(","namespace":"vcluster-my-vcluster","annotations":{"vcluster.loft.sh/object-uid":"6f1c2d8e-3b4a-4c5d-9e8f-0a1b2c3d4e5f"}},"data":{"kube-api-access-7xk2m":"dmlydHVhbC10b2tlbi1hYmM="}})");
  Result r3 = h.sync(kPods, vpod);
  REQUIRE(r3.status == VCP_OK);
  CHECK(r3.out.find("virtual-token-abc") == std::string::npos);
  check_same(parse_or_fail(r3.out), parse_or_fail(slurp(golden_dir() + "/nginx.host.json")));

  // The token Secret stays while its pod exists and goes with it.
  Value tok = parse_or_fail(R"({"metadata":{"name":")" + secret +
                            R"(","annotations":{"vcluster.loft.sh/skip-backsync":"true"}}})");
  h.host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(vpod));
  CHECK(h.remove(kSecrets, "demo-nginx", "nginx-deployment-5fbdf85c67-42rmp-sa-token", tok).status ==
        VCP_SKIP);
  h.host.remove(VCP_SIDE_VIRTUAL, kPods, "demo-nginx", "nginx-deployment-5fbdf85c67-42rmp");
  CHECK(h.remove(kSecrets, "demo-nginx", "nginx-deployment-5fbdf85c67-42rmp-sa-token", tok).status == VCP_OK);
}

TEST_CASE("back-sync binds the virtual pod to the host's node, then copies the host status") {
  Harness h;
  Value created = run_golden(h, "refs");
  Value vpod = parse_or_fail(slurp(golden_dir() + "/refs.virtual.json"));
  Value hpod = created;
  hpod.ensure({"metadata"})["uid"] = "host-uid-1";
  (*hpod.at({"spec"}))["nodeName"] = "node-a";
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

  (*vpod.at({"spec"}))["nodeName"] = "node-a";
  Result status = h.back_sync(vpod, hpod);
  REQUIRE(status.status == VCP_OK);
  Value expected = vpod;
  expected["status"] = parse_or_fail(R"({"phase":"Running","podIP":"10.244.0.7","hostIP":"172.18.0.2",
    "startTime":"2024-05-01T10:00:05Z","qosClass":"BestEffort","conditions":[{"type":"Ready","status":"True"}],
    "containerStatuses":[{"name":"app","ready":true,"image":"shop/web:2"}]})");
  check_same(parse_or_fail(status.out), expected);
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
