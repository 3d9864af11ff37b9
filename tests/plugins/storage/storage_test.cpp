// Golden and behaviour tests of the real storage plugin shared object: the test dlopens libvcp-storage.so
// (path in VCP_STORAGE_PLUGIN), takes its descriptor through vcp_plugin_entry_v1 and drives its hooks against
// FakeHost, playing the engine's part (finishing submitted writes, updating caches, delivering watch events).
// The golden files (golden/*.json) were written from vcluster-behaviour.md §1.3, §2 and §6 and the seed's
// sc.yaml and pvc-sc.yaml, with names and label keys computed independently (Python's hashlib), not copied
// from the plugin's output.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "fake_host.hpp"
#include "json/json.hpp"

using storage_test::FakeHost;
using vc::json::Value;

namespace {

enum : uint32_t { kClaims = 0, kVolumes = 1, kClasses = 2 };
const std::string kHostNs = "vcluster-my-vcluster";
const std::string kMarker = "vcluster-my-vcluster-x-my-vcluster";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string golden_dir() {
  const char* d = std::getenv("VCP_STORAGE_GOLDEN");
  return d ? d : "tests/plugins/storage/golden";
}

Value parse_or_fail(const std::string& text) {
  std::string err;
  auto v = vc::json::parse(text, &err);
  REQUIRE_MESSAGE(v.has_value(), "invalid JSON: " << err << "\n" << text);
  return *v;
}

Value golden(const std::string& name) {
  return parse_or_fail(slurp(golden_dir() + "/" + name));
}

void check_same(const Value& actual, const Value& expected) {
  if (actual == expected) return;
  FAIL_CHECK("objects differ; merge patch turning actual into expected:\n"
             << vc::json::dump(vc::json::merge_patch_diff(actual, expected)) << "\nactual:\n"
             << vc::json::dump(actual));
}

std::string str_at(const Value& v, std::initializer_list<std::string_view> path) {
  const Value* p = v.at(path);
  return p && p->is_string() ? p->as_string() : std::string();
}

using Settings = std::map<std::string, std::string>;

// Every key the plugin declares, at its default, as the engine renders them; tests override some.
Settings defaults(Settings over = {}) {
  Settings s = {
      {"sync.persistentvolumeclaims.enabled", "true"}, {"sync.persistentvolumes.enabled", "false"},
      {"sync.fake-persistentvolumes.enabled", "true"}, {"sync.storageclasses.enabled", "false"},
      {"sync.hoststorageclasses.enabled", "false"},    {"sync.legacy-storageclasses.enabled", "false"}};
  for (auto& [k, v] : over) s[k] = v;
  return s;
}

struct Result {
  vcp_status status;
  std::string out;
};

class Harness {
 public:
  explicit Harness(Settings config = defaults(), vcp_status expect_init = VCP_OK)
      : host("my-vcluster", kHostNs) {
    host.config = std::move(config);
    const char* path = std::getenv("VCP_STORAGE_PLUGIN");
    REQUIRE_MESSAGE(path != nullptr, "set VCP_STORAGE_PLUGIN to the path of libvcp-storage.so");
    dl_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(dl_ != nullptr, "dlopen " << path << ": " << dlerror());
    auto entry = reinterpret_cast<vcp_plugin_entry_v1_fn>(dlsym(dl_, VCP_ENTRY_SYMBOL));
    const bool has_entry = entry != nullptr;
    REQUIRE(has_entry);
    plugin = entry();
    REQUIRE(plugin != nullptr);
    init_status = plugin->on_init(host.api(), host.ctx(), &state_);
    REQUIRE(init_status == expect_init);
  }
  ~Harness() {
    if (init_status == VCP_OK && plugin && plugin->on_shutdown) plugin->on_shutdown(state_);
    if (dl_) dlclose(dl_);
  }

  void put_virtual(uint32_t res, const Value& obj) { host.put(VCP_SIDE_VIRTUAL, res, vc::json::dump(obj)); }
  void put_host(uint32_t res, const Value& obj) { host.put(VCP_SIDE_HOST, res, vc::json::dump(obj)); }

  // One hook call as the engine makes it for the key of `source` (or, with no source, of `target`).
  Result call(vcp_status (*hook)(void*, const vcp_sync_args*, vcp_buf*), uint32_t res, const Value* source,
              const Value* target, const std::string& key_ns, const std::string& key_name,
              const std::string& tns, const std::string& tname) {
    std::string src = source ? vc::json::dump(*source) : "", tgt = target ? vc::json::dump(*target) : "";
    vcp_sync_args a{};
    a.struct_size = sizeof a;
    a.resource = res;
    a.source_namespace = {key_ns.data(), key_ns.size()};
    a.source_name = {key_name.data(), key_name.size()};
    a.source = {src.data(), src.size()};
    a.target = {tgt.data(), tgt.size()};
    a.target_namespace = {tns.data(), tns.size()};
    a.target_name = {tname.data(), tname.size()};
    std::string out;
    host.last_error.clear();
    vcp_status st = hook(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }

  // Claims: key ns/name, target <name>-x-<ns>-x-my-vcluster in the host namespace.
  Result claim(vcp_status (*hook)(void*, const vcp_sync_args*, vcp_buf*), const Value* v, const Value* h) {
    (void)h;
    std::string ns = str_at(*v, {"metadata", "namespace"});
    std::string name = str_at(*v, {"metadata", "name"});
    return call(hook, kClaims, v, h, ns, name, kHostNs,
                FakeHost::safe_concat({name, "x", ns, "x", "my-vcluster"}));
  }
  Result sync_claim(const Value& v, const Value* h = nullptr) { return claim(plugin->on_sync, &v, h); }
  Result back_claim(const Value& v, const Value& h) { return claim(plugin->on_back_sync, &v, &h); }

  Result volume(vcp_status (*hook)(void*, const vcp_sync_args*, vcp_buf*), const std::string& name,
                const Value* v, const Value* h) {
    return call(hook, kVolumes, v, h, "", name, "",
                FakeHost::safe_concat({"vcluster", name, "x", kHostNs, "x", "my-vcluster"}));
  }
  // Classes are TO_VIRTUAL with the same name: the source is the host class, the target the virtual one.
  Result klass(vcp_status (*hook)(void*, const vcp_sync_args*, vcp_buf*), const std::string& name,
               const Value* hsc, const Value* vsc) {
    return call(hook, kClasses, hsc, vsc, "", name, "", name);
  }

  void event(uint32_t res, vcp_side side, vcp_event_type type, const Value& obj, const Value* old = nullptr) {
    std::string o = vc::json::dump(obj), p = old ? vc::json::dump(*old) : "";
    vcp_event e{};
    e.struct_size = sizeof e;
    e.resource = res;
    e.side = side;
    e.type = type;
    e.object = {o.data(), o.size()};
    e.old_object = {p.data(), p.size()};
    plugin->on_watch_event(state_, &e);
    host.end_hook();
  }

  FakeHost host;
  const vcp_plugin* plugin = nullptr;
  vcp_status init_status = VCP_ERROR;

 private:
  void* dl_ = nullptr;
  void* state_ = nullptr;
};

Value host_claim_bound(const std::string& volume) {
  Value h = golden("claim-default.host.json");
  h["metadata"]["uid"] = "h-uid-1";
  h["metadata"]["resourceVersion"] = "900";
  h["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = "yes";
  h["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = "yes";
  h["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] = "kubernetes.io/host-path";
  h["spec"]["volumeName"] = volume;
  h["status"] =
      parse_or_fail(R"({"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"2Gi"}})");
  return h;
}

size_t host_writes(const FakeHost& h) {
  size_t n = 0;
  for (const auto& w : h.writes) n += w.side == VCP_SIDE_HOST;
  return n;
}

}  // namespace

TEST_CASE("real volumes: a host PV the host bound the claim to is marked, imported, followed and let go") {
  Harness t(defaults({{"sync.persistentvolumes.enabled", "true"}}));
  Value v = golden("claim-default.virtual.json");
  t.put_virtual(kClaims, v);
  Value h = host_claim_bound("pvc-dyn-1");
  Result r = t.back_claim(v, h);
  CHECK(r.status == VCP_NO_CHANGE);
  // Not in the engine's cache (no marker): the plugin marks it, so that the engine caches it.
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].side == VCP_SIDE_HOST);
  CHECK(t.host.writes[0].verb == VCP_VERB_PATCH);
  CHECK(t.host.writes[0].name == "pvc-dyn-1");
  CHECK(t.host.writes[0].body ==
        R"({"metadata":{"labels":{"vcluster.loft.sh/managed-by":")" + kMarker + R"("}}})");
  Value hpv = parse_or_fail(R"({"apiVersion":"v1","kind":"PersistentVolume",
      "metadata":{"name":"pvc-dyn-1","uid":"hpv-dyn","resourceVersion":"5",
        "labels":{"vcluster.loft.sh/managed-by":"vcluster-my-vcluster-x-my-vcluster"},
        "annotations":{"pv.kubernetes.io/provisioned-by":"kubernetes.io/host-path"}},
      "spec":{"capacity":{"storage":"2Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/tmp/x"},
        "persistentVolumeReclaimPolicy":"Delete","storageClassName":"standard","volumeMode":"Filesystem",
        "claimRef":{"kind":"PersistentVolumeClaim","namespace":"vcluster-my-vcluster",
          "name":"data-x-default-x-my-vcluster","uid":"h-uid-1"}},
      "status":{"phase":"Bound"}})");
  t.host.finish(t.host.writes[0].id, 200, vc::json::dump(hpv));
  t.put_host(kVolumes, hpv);
  r = t.back_claim(v, h);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 2);
  const auto w = t.host.writes[1];
  CHECK(w.side == VCP_SIDE_VIRTUAL);
  CHECK(w.verb == VCP_VERB_CREATE);
  Value want = parse_or_fail(R"({"apiVersion":"v1","kind":"PersistentVolume",
      "metadata":{"name":"pvc-dyn-1","labels":{"vcluster.loft.sh/imported-pv":"true"},
        "annotations":{"vcluster.loft.sh/host-pv":"pvc-dyn-1"}},
      "spec":{"capacity":{"storage":"2Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/tmp/x"},
        "persistentVolumeReclaimPolicy":"Delete","storageClassName":"standard","volumeMode":"Filesystem",
        "claimRef":{"apiVersion":"v1","kind":"PersistentVolumeClaim","namespace":"default","name":"data",
          "uid":"c-uid-1"}}})");
  check_same(parse_or_fail(w.body), want);

  // The imported volume's key: status from the host, never a host write, deleted once the host PV goes.
  Value vpv = want;
  vpv["metadata"]["uid"] = "vpv-dyn";
  t.host.finish(w.id, 201, vc::json::dump(vpv));
  t.put_virtual(kVolumes, vpv);
  r = t.back_claim(v, h);
  REQUIRE(r.status == VCP_OK);
  CHECK(str_at(parse_or_fail(r.out), {"spec", "volumeName"}) == "pvc-dyn-1");
  t.host.writes.clear();
  r = t.volume(t.plugin->on_sync, "pvc-dyn-1", &vpv, nullptr);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(t.host.writes[0].subresource == "status");
  CHECK(str_at(parse_or_fail(t.host.writes[0].body), {"status", "phase"}) == "Bound");
  t.host.finish(t.host.writes[0].id, 200, "{}");
  t.host.writes.clear();
  t.put_host(kClaims, h);
  t.event(kVolumes, VCP_SIDE_HOST, VCP_EVENT_DELETED, hpv);
  bool woke_volume = false, woke_claim = false;
  for (const auto& e : t.host.enqueued) {
    woke_volume |= e.resource == kVolumes && e.name == "pvc-dyn-1";
    woke_claim |= e.resource == kClaims && e.ns == "default" && e.name == "data";
  }
  CHECK(woke_volume);
  CHECK(woke_claim);
  t.host.remove(VCP_SIDE_HOST, kVolumes, "", "pvc-dyn-1");
  t.volume(t.plugin->on_sync, "pvc-dyn-1", &vpv, nullptr);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(t.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(host_writes(t.host) == 0);

  // A host volume the plugin may not mark: the claim gets a fake volume.
  Harness f(defaults({{"sync.persistentvolumes.enabled", "true"}}));
  f.put_virtual(kClaims, v);
  f.back_claim(v, h);
  f.host.finish(f.host.writes[0].id, 403, R"({"message":"forbidden"})");
  f.back_claim(v, h);
  REQUIRE(f.host.writes.size() == 2);
  CHECK(f.host.writes[1].verb == VCP_VERB_CREATE);
  CHECK(str_at(parse_or_fail(f.host.writes[1].body), {"metadata", "labels", "vcluster.loft.sh/fake-pv"}) ==
        "true");
}

TEST_CASE(
    "the descriptor declares claims, volumes and classes and the values keys with vcluster's defaults") {
  Harness t;
  const vcp_plugin* p = t.plugin;
  CHECK(std::string(p->name) == "storage");
  REQUIRE(p->resource_count == 3);
  CHECK(std::string(p->resources[kClaims].resource) == "persistentvolumeclaims");
  CHECK(p->resources[kClaims].role == VCP_ROLE_TO_HOST);
  CHECK(p->resources[kClaims].name_mapping == VCP_NAME_NAMESPACED);
  CHECK((p->resources[kClaims].flags & (VCP_RES_NAMESPACED | VCP_RES_STATUS)) ==
        (VCP_RES_NAMESPACED | VCP_RES_STATUS));
  CHECK(std::string(p->resources[kVolumes].resource) == "persistentvolumes");
  CHECK(p->resources[kVolumes].name_mapping == VCP_NAME_CLUSTER);
  CHECK((p->resources[kVolumes].flags & VCP_RES_NAMESPACED) == 0);
  CHECK(std::string(p->resources[kClasses].group) == "storage.k8s.io");
  CHECK(p->resources[kClasses].role == VCP_ROLE_TO_VIRTUAL);
  std::map<std::string, std::string> keys;
  for (uint32_t i = 0; i < p->config_key_count; i++) {
    CHECK(p->config_keys[i].type == VCP_CONF_BOOL);
    keys[p->config_keys[i].path] = p->config_keys[i].default_value;
  }
  // §9: claims and fake volumes on, the rest off; the seed's sync-storage.yaml sets two of these keys.
  CHECK(keys["sync.persistentvolumeclaims.enabled"] == "true");
  CHECK(keys["sync.fake-persistentvolumes.enabled"] == "true");
  CHECK(keys["sync.persistentvolumes.enabled"] == "false");
  CHECK(keys["sync.storageclasses.enabled"] == "false");
  CHECK(keys["sync.hoststorageclasses.enabled"] == "false");
}

TEST_CASE("both StorageClass modes at once refuse to start with a sentence naming both keys") {
  Harness t(defaults({{"sync.storageclasses.enabled", "true"}, {"sync.hoststorageclasses.enabled", "true"}}),
            VCP_ERROR);
  CHECK(
      t.host.last_error.find("sync.storageclasses.enabled and sync.hoststorageclasses.enabled cannot both") !=
      std::string::npos);
}

TEST_CASE("default mode: a claim reaches the host renamed, class passed through, dataSource translated") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  Result r = t.sync_claim(v);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), golden("claim-default.host.json"));
}

TEST_CASE("skip-translate keeps dataSource names as the tenant wrote them") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  v["metadata"]["annotations"]["vcluster.loft.sh/skip-translate"] = "true";
  Result r = t.sync_claim(v);
  REQUIRE(r.status == VCP_OK);
  Value h = parse_or_fail(r.out);
  CHECK(str_at(h, {"spec", "dataSource", "name"}) == "snap-1");
  CHECK(str_at(h, {"metadata", "annotations", "vcluster.loft.sh/skip-translate"}) == "true");
}

TEST_CASE("storageclasses mode: the seed's claim asks for the translated class; no class is refused") {
  Harness t(defaults({{"sync.storageclasses.enabled", "true"}, {"sync.persistentvolumes.enabled", "true"}}));
  Result r = t.sync_claim(golden("claim-seed.virtual.json"));
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), golden("claim-seed.host.json"));

  // The deprecated annotation moves into spec.storageClassName, translated.
  Value beta = golden("claim-seed.virtual.json");
  beta["spec"].erase("storageClassName");
  beta["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"] = "my-local-hostpath";
  r = t.sync_claim(beta);
  REQUIRE(r.status == VCP_OK);
  Value h = parse_or_fail(r.out);
  check_same(h, golden("claim-seed.host.json"));

  Value none = golden("claim-seed.virtual.json");
  none["spec"].erase("storageClassName");
  r = t.sync_claim(none);
  CHECK(r.status == VCP_REFUSED);
  CHECK(t.host.last_error.find("no storage class defined") != std::string::npos);
  CHECK(t.host.last_error.find("default/my-persistent-volume-claim") != std::string::npos);
}

TEST_CASE(
    "persistentvolumes mode: a host class is kept, a virtual-only class and static binding translated") {
  Harness t(defaults({{"sync.persistentvolumes.enabled", "true"}}));
  Value standard = parse_or_fail(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",
      "metadata":{"name":"standard"},"provisioner":"kubernetes.io/host-path"})");
  t.put_host(kClasses, standard);
  Value v = golden("claim-default.virtual.json");
  Result r = t.sync_claim(v);
  REQUIRE(r.status == VCP_OK);
  CHECK(str_at(parse_or_fail(r.out), {"spec", "storageClassName"}) == "standard");

  v["spec"]["storageClassName"] = "fast";  // no host class "fast": dynamic provisioning through the copy
  r = t.sync_claim(v);
  REQUIRE(r.status == VCP_OK);
  CHECK(str_at(parse_or_fail(r.out), {"spec", "storageClassName"}) ==
        "vcluster-fast-x-vcluster-my-vcluster-x-my-vcluster");

  v["spec"]["storageClassName"] = "standard";
  v["spec"]["volumeName"] = "pv-static";
  v["spec"]["selector"] = parse_or_fail(R"({"matchLabels":{"app":"db"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["fast"]}]})");
  r = t.sync_claim(v);
  REQUIRE(r.status == VCP_OK);
  Value h = parse_or_fail(r.out);
  CHECK(str_at(h, {"spec", "volumeName"}) == "vcluster-pv-static-x-vcluster-my-vcluster-x-my-vcluster");
  CHECK(str_at(h, {"spec", "storageClassName"}) == "vcluster-standard-x-vcluster-my-vcluster-x-my-vcluster");
  CHECK(str_at(h, {"spec", "selector", "matchLabels",
                   "vcluster.loft.sh/label-vcluster-my-vcluster-x-my-vcl-29b5dc2273"}) == "db");
  CHECK(str_at(h, {"spec", "selector", "matchExpressions"}).empty());
  const Value* expr = h.at({"spec", "selector", "matchExpressions"});
  REQUIRE(expr != nullptr);
  CHECK(str_at(expr->items().front(), {"key"}) ==
        "vcluster.loft.sh/label-vcluster-my-vcluster-x-my-vcl-d9978c6118");
}

TEST_CASE("a claim naming a host volume it does not own through volumeName is refused, nothing written") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  v["spec"]["volumeName"] = "pvc-of-another-tenant";
  Result r = t.sync_claim(v);
  CHECK(r.status == VCP_REFUSED);  // the engine turns this into a Warning event on the virtual claim
  CHECK(r.out.empty());
  CHECK(t.host.writes.empty());
  CHECK(t.host.last_error.find("pvc-of-another-tenant") != std::string::npos);
  CHECK(t.host.last_error.find("another tenant's volume") != std::string::npos);

  // skip-translate must not open that door in persistentvolumes mode either.
  Harness pv(defaults({{"sync.persistentvolumes.enabled", "true"}}));
  v["metadata"]["annotations"]["vcluster.loft.sh/skip-translate"] = "true";
  r = pv.sync_claim(v);
  CHECK(r.status == VCP_REFUSED);
}

TEST_CASE(
    "updates forward metadata and the requested size only; an unchanged claim gives the host claim back") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  Value h = host_claim_bound("pvc-0a1b2c");
  Result r = t.sync_claim(v, &h);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), h);

  v["spec"]["resources"]["requests"]["storage"] = "3Gi";
  v["spec"]["accessModes"] = parse_or_fail(R"(["ReadWriteMany"])");
  v["metadata"]["labels"]["app"] = "db2";
  v["metadata"]["annotations"].erase("team");
  r = t.sync_claim(v, &h);
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  CHECK(str_at(out, {"spec", "resources", "requests", "storage"}) == "3Gi");
  CHECK(out.at({"spec", "accessModes"})->items().front().as_string() == "ReadWriteOnce");
  CHECK(str_at(out, {"spec", "volumeName"}) == "pvc-0a1b2c");
  CHECK(str_at(out, {"metadata", "labels", "vcluster.loft.sh/label-my-vcluster-x-a172cedcae"}) == "db2");
  CHECK(out.at({"metadata", "annotations", "team"}) == nullptr);  // a removal propagates
  // The host's binding annotations survive.
  CHECK(str_at(out, {"metadata", "annotations", "pv.kubernetes.io/bind-completed"}) == "yes");
  CHECK(str_at(out, {"status", "phase"}) == "Bound");
}

TEST_CASE(
    "back-sync: the fake volume is created first (virtual only), then volumeName, annotations and status") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  t.put_virtual(kClaims, v);
  Value h = host_claim_bound("pvc-0a1b2c");
  Result r = t.back_claim(v, h);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 1);
  const auto& w = t.host.writes[0];
  CHECK(w.side == VCP_SIDE_VIRTUAL);
  CHECK(w.resource == kVolumes);
  CHECK(w.verb == VCP_VERB_CREATE);
  CHECK(w.wake_name == "data");
  check_same(parse_or_fail(w.body), golden("fake-pv.json"));

  // Woken before the answer: nothing twice.
  r = t.back_claim(v, h);
  CHECK(r.status == VCP_NO_CHANGE);
  CHECK(t.host.writes.size() == 1);

  Value pv = golden("fake-pv.json");
  pv["metadata"]["uid"] = "fpv-uid";
  t.host.finish(w.id, 201, vc::json::dump(pv));
  t.put_virtual(kVolumes, pv);
  r = t.back_claim(v, h);  // the answer is read, the volume is in the cache
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  CHECK(str_at(out, {"spec", "volumeName"}) == "pvc-0a1b2c");
  CHECK(str_at(out, {"status", "phase"}) == "Bound");
  CHECK(str_at(out, {"status", "capacity", "storage"}) == "2Gi");
  CHECK(str_at(out, {"metadata", "annotations", "pv.kubernetes.io/bound-by-controller"}) == "yes");
  CHECK(str_at(out, {"metadata", "annotations", "volume.kubernetes.io/storage-provisioner"}) ==
        "kubernetes.io/host-path");
  CHECK(str_at(out, {"metadata", "annotations", "team"}) == "payments");
  CHECK(host_writes(t.host) == 0);

  // Created meanwhile by an earlier run (409), not in the cache yet: the claim waits for the volume.
  Harness u;
  u.put_virtual(kClaims, v);
  u.back_claim(v, h);
  REQUIRE(u.host.writes.size() == 1);
  u.host.finish(u.host.writes[0].id, 409, R"({"message":"already exists"})");
  r = u.back_claim(v, h);
  CHECK(r.status == VCP_WAIT);
  REQUIRE(u.host.waits.size() == 1);
  CHECK(u.host.waits[0].name == "pvc-0a1b2c");
  CHECK(u.host.waits[0].waiter_name == "data");
  CHECK(u.host.writes.size() == 1);

  // A failed create is retried with backoff, with the server's sentence.
  Harness f;
  f.back_claim(v, h);
  f.host.finish(f.host.writes[0].id, 403, R"({"message":"forbidden"})");
  r = f.back_claim(v, h);
  CHECK(r.status == VCP_RETRY);
  CHECK(f.host.last_error.find("forbidden") != std::string::npos);
}

TEST_CASE(
    "a fake volume gets status Bound, stays while its claim exists, and goes (finalizers lifted) after") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  v["spec"]["volumeName"] = "pvc-0a1b2c";
  t.put_virtual(kClaims, v);
  Value pv = golden("fake-pv.json");
  pv["metadata"]["uid"] = "fpv-uid";
  pv["metadata"]["finalizers"] = parse_or_fail(R"(["kubernetes.io/pv-protection"])");
  pv["status"] = parse_or_fail(R"({"phase":"Pending"})");
  Result r = t.volume(t.plugin->on_sync, "pvc-0a1b2c", &pv, nullptr);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].subresource == "status");
  CHECK(str_at(parse_or_fail(t.host.writes[0].body), {"status", "phase"}) == "Bound");
  t.host.finish(t.host.writes[0].id, 200, "{}");
  t.host.writes.clear();

  pv["status"]["phase"] = "Bound";
  r = t.volume(t.plugin->on_sync, "pvc-0a1b2c", &pv, nullptr);
  CHECK(r.status == VCP_NO_CHANGE);
  CHECK(t.host.writes.empty());

  // The claim is deleted: its DELETED event wakes the volume, which is deleted with its finalizer lifted.
  t.host.remove(VCP_SIDE_VIRTUAL, kClaims, "default", "data");
  t.event(kClaims, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, v);
  REQUIRE(!t.host.enqueued.empty());
  CHECK(t.host.enqueued.back().resource == kVolumes);
  CHECK(t.host.enqueued.back().name == "pvc-0a1b2c");
  r = t.volume(t.plugin->on_sync, "pvc-0a1b2c", &pv, nullptr);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 2);
  CHECK(t.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(t.host.writes[0].body.find("fpv-uid") != std::string::npos);
  CHECK(t.host.writes[1].verb == VCP_VERB_PATCH);
  CHECK(t.host.writes[1].body == R"({"metadata":{"finalizers":null}})");
  CHECK(host_writes(t.host) == 0);

  // A fake volume is never copied to the host, and its key never deletes a host volume.
  CHECK(t.volume(t.plugin->on_delete, "pvc-0a1b2c", nullptr, &pv).status == VCP_SKIP);
}

TEST_CASE(
    "deletes both ways: virtual deleting deletes the host claim, host deleted deletes the virtual one") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  Value h = host_claim_bound("pvc-0a1b2c");
  v["metadata"]["deletionTimestamp"] = "2026-12-08T02:00:00Z";
  Result r = t.sync_claim(v, &h);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].side == VCP_SIDE_HOST);
  CHECK(t.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(t.host.writes[0].name == "data-x-default-x-my-vcluster");
  CHECK(t.host.writes[0].ns == kHostNs);
  CHECK(t.host.writes[0].body.find("h-uid-1") != std::string::npos);
  // The virtual claim gone: the engine deletes the host one.
  CHECK(t.claim(t.plugin->on_delete, &v, &h).status == VCP_OK);

  Harness u;
  Value v2 = golden("claim-default.virtual.json");
  Value h2 = host_claim_bound("pvc-0a1b2c");
  h2["metadata"]["deletionTimestamp"] = "2026-12-08T02:00:00Z";
  r = u.sync_claim(v2, &h2);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(u.host.writes.size() == 1);
  CHECK(u.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(u.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(u.host.writes[0].body.find("c-uid-1") != std::string::npos);

  // A bound claim whose host claim vanished is deleted too, not re-created unbound.
  Harness w;
  Value v3 = golden("claim-default.virtual.json");
  v3["status"]["phase"] = "Bound";
  r = w.sync_claim(v3);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(w.host.writes.size() == 1);
  CHECK(w.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(w.host.writes[0].verb == VCP_VERB_DELETE);
}

TEST_CASE("the engine's probe for a foreign host claim under our name has no side effects") {
  Harness t;
  Value v = golden("claim-default.virtual.json");
  v["status"]["phase"] = "Bound";
  Value foreign = golden("claim-default.host.json");
  foreign["metadata"]["annotations"]["vcluster.loft.sh/object-name"] = "someone-else";
  t.put_host(kClaims, foreign);
  Result r = t.sync_claim(v);  // no target: the engine asks whether the claim wants one
  CHECK(r.status == VCP_OK);
  CHECK(t.host.writes.empty());  // the virtual claim is not deleted for a host claim that is not ours
  v["metadata"]["deletionTimestamp"] = "2026-12-08T02:00:00Z";
  t.sync_claim(v);
  CHECK(t.host.writes.empty());
}

TEST_CASE("claims off: nothing written, nothing deleted") {
  Harness t(defaults({{"sync.persistentvolumeclaims.enabled", "false"}}));
  Value v = golden("claim-default.virtual.json");
  CHECK(t.sync_claim(v).status == VCP_NO_CHANGE);
  Value h = host_claim_bound("x");
  CHECK(t.claim(t.plugin->on_delete, &v, &h).status == VCP_SKIP);
}

TEST_CASE(
    "real volumes: a virtual PV goes to the host under its cluster-scoped name, status and claim back") {
  Harness t(defaults({{"sync.persistentvolumes.enabled", "true"}}));
  Value vpv = golden("volume.virtual.json");
  Result r = t.volume(t.plugin->on_sync, "pv-static", &vpv, nullptr);
  REQUIRE(r.status == VCP_OK);
  Value want = golden("volume.host.json");
  check_same(parse_or_fail(r.out), want);

  // Bound on the host to the host claim of default/data: the virtual PV points at the virtual claim.
  Value hpv = want;
  hpv["metadata"]["uid"] = "hpv-uid";
  hpv["spec"]["claimRef"] = parse_or_fail(
      R"({"kind":"PersistentVolumeClaim","namespace":"vcluster-my-vcluster","name":"data-x-default-x-my-vcluster","uid":"h-uid-1"})");
  hpv["status"] = parse_or_fail(R"({"phase":"Bound"})");
  // An unchanged virtual PV keeps the host's claimRef and status.
  r = t.volume(t.plugin->on_sync, "pv-static", &vpv, &hpv);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), hpv);

  t.put_host(kClaims, host_claim_bound("vcluster-pv-static-x-vcluster-my-vcluster-x-my-vcluster"));
  t.put_virtual(kClaims, golden("claim-default.virtual.json"));
  r = t.volume(t.plugin->on_back_sync, "pv-static", &vpv, &hpv);
  REQUIRE(r.status == VCP_OK);
  Value back = parse_or_fail(r.out);
  CHECK(str_at(back, {"status", "phase"}) == "Bound");
  CHECK(str_at(back, {"spec", "claimRef", "namespace"}) == "default");
  CHECK(str_at(back, {"spec", "claimRef", "name"}) == "data");
  CHECK(str_at(back, {"spec", "claimRef", "uid"}) == "c-uid-1");

  // The claim bound to it back-syncs the virtual volume name, and no fake volume is made for it.
  t.put_host(kVolumes, hpv);
  t.put_virtual(kVolumes, vpv);
  Value v = golden("claim-default.virtual.json");
  r = t.back_claim(v, host_claim_bound("vcluster-pv-static-x-vcluster-my-vcluster-x-my-vcluster"));
  REQUIRE(r.status == VCP_OK);
  CHECK(str_at(parse_or_fail(r.out), {"spec", "volumeName"}) == "pv-static");
  CHECK(t.host.writes.empty());

  CHECK(t.volume(t.plugin->on_delete, "pv-static", nullptr, &hpv).status == VCP_OK);

  // Without sync.persistentvolumes a tenant's PV stays in the virtual cluster.
  Harness f;
  CHECK(f.volume(f.plugin->on_sync, "pv-static", &vpv, nullptr).status == VCP_NO_CHANGE);
  CHECK(f.volume(f.plugin->on_delete, "pv-static", nullptr, &hpv).status == VCP_SKIP);
}

TEST_CASE(
    "storageclasses mode: the seed's class is created on the host (no is-default-class), kept, replaced") {
  Harness t(defaults({{"sync.storageclasses.enabled", "true"}}));
  Value vsc = golden("sc-seed.virtual.json");
  // No host class named my-local-hostpath: the engine calls on_delete for the virtual class's key.
  Result r = t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  CHECK(r.status == VCP_SKIP);  // the virtual class stays
  REQUIRE(t.host.writes.size() == 1);
  const auto w = t.host.writes[0];
  CHECK(w.side == VCP_SIDE_HOST);
  CHECK(w.verb == VCP_VERB_CREATE);
  CHECK(w.resource == kClasses);
  Value want = golden("sc-seed.host.json");
  check_same(parse_or_fail(w.body), want);

  Value hsc = want;
  hsc["metadata"]["uid"] = "hsc-uid";
  hsc["metadata"]["resourceVersion"] = "77";
  t.host.finish(w.id, 201, vc::json::dump(hsc));
  t.put_host(kClasses, hsc);
  t.host.writes.clear();
  r = t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  CHECK(r.status == VCP_SKIP);
  CHECK(t.host.writes.empty());  // the answer read, the copy matches

  r = t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  CHECK(t.host.writes.empty());  // and again: nothing to write

  // A listed object has no kind and apiVersion: still the same class, nothing to write.
  Value listed = hsc;
  listed.erase("kind");
  listed.erase("apiVersion");
  t.put_host(kClasses, listed);
  t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  CHECK(t.host.writes.empty());

  vsc["allowVolumeExpansion"] = true;
  r = t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].verb == VCP_VERB_UPDATE);
  CHECK(parse_or_fail(t.host.writes[0].body).find("allowVolumeExpansion")->as_bool() == true);
  t.host.finish(t.host.writes[0].id, 200, "{}");
  t.host.writes.clear();

  vsc["provisioner"] = "kubernetes.io/host-path";  // immutable on the host: delete, then create again
  t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);  // reads the update's answer
  r = t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(t.host.writes[0].body.find("hsc-uid") != std::string::npos);
  t.host.finish(t.host.writes[0].id, 200, "{}");
  t.host.writes.clear();

  // The virtual class deleted: its event wakes the copy's key, which deletes the copy.
  t.host.remove(VCP_SIDE_VIRTUAL, kClasses, "", "my-local-hostpath");
  t.event(kClasses, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, vsc);
  REQUIRE(!t.host.enqueued.empty());
  CHECK(t.host.enqueued.back().name == want.at({"metadata", "name"})->as_string());
  const std::string hname = want.at({"metadata", "name"})->as_string();
  t.klass(t.plugin->on_sync, hname, &hsc, nullptr);  // reads the earlier delete's answer
  r = t.klass(t.plugin->on_sync, hname, &hsc, nullptr);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(t.host.writes.size() == 1);
  CHECK(t.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(t.host.writes[0].name == hname);
}

TEST_CASE("storageclasses mode: a host class under the translated name that is not ours is left alone") {
  Harness t(defaults({{"sync.storageclasses.enabled", "true"}}));
  Value vsc = golden("sc-seed.virtual.json");
  Value foreign = parse_or_fail(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",
      "metadata":{"name":"vcluster-my-local-hostpath-x-vcluster-my-vcluster-x-my-vcluster","uid":"f"},
      "provisioner":"x"})");
  t.put_host(kClasses, foreign);
  t.klass(t.plugin->on_delete, "my-local-hostpath", nullptr, &vsc);
  CHECK(t.host.writes.empty());
  REQUIRE(t.host.events.size() == 1);
  CHECK(t.host.events[0].type == "Warning");
  CHECK(t.host.events[0].side == VCP_SIDE_VIRTUAL);
}

TEST_CASE(
    "hoststorageclasses mode mirrors host classes and removes virtual ones the host lacks; off does "
    "nothing") {
  Harness t(defaults({{"sync.hoststorageclasses.enabled", "true"}}));
  Value hsc = parse_or_fail(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",
      "metadata":{"name":"standard","uid":"h1","resourceVersion":"3","creationTimestamp":"2026-12-08T00:00:00Z",
        "annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},
      "provisioner":"kubernetes.io/host-path","reclaimPolicy":"Delete","volumeBindingMode":"Immediate"})");
  Result r = t.klass(t.plugin->on_sync, "standard", &hsc, nullptr);
  REQUIRE(r.status == VCP_OK);
  Value want = parse_or_fail(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass",
      "metadata":{"name":"standard","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},
      "provisioner":"kubernetes.io/host-path","reclaimPolicy":"Delete","volumeBindingMode":"Immediate"})");
  check_same(parse_or_fail(r.out), want);
  Value tenant = want;
  tenant["metadata"]["name"] = "mine";
  CHECK(t.klass(t.plugin->on_delete, "mine", nullptr, &tenant).status == VCP_OK);
  CHECK(t.klass(t.plugin->on_back_sync, "standard", &hsc, &want).status == VCP_NO_CHANGE);
  CHECK(t.host.writes.empty());

  Harness off;
  CHECK(off.klass(off.plugin->on_sync, "standard", &hsc, nullptr).status == VCP_NO_CHANGE);
  CHECK(off.klass(off.plugin->on_delete, "mine", nullptr, &tenant).status == VCP_SKIP);
  CHECK(off.host.writes.empty());

  // §6.3: enableScheduler with claim sync turns the mirror on.
  Harness sched(defaults({{"sync.nodes.enableScheduler", "true"}}));
  CHECK(sched.klass(sched.plugin->on_sync, "standard", &hsc, nullptr).status == VCP_OK);
}

TEST_CASE("watch events wake the keys that depend on them") {
  Harness t(defaults({{"sync.storageclasses.enabled", "true"}}));
  // A host copy deleted behind the syncer's back: its virtual class's key re-creates it.
  Value copy = golden("sc-seed.host.json");
  t.event(kClasses, VCP_SIDE_HOST, VCP_EVENT_DELETED, copy);
  REQUIRE(t.host.enqueued.size() == 1);
  CHECK(t.host.enqueued[0].resource == kClasses);
  CHECK(t.host.enqueued[0].name == "my-local-hostpath");
  // A host class that is not a copy wakes nothing in this mode.
  Value other = parse_or_fail(R"({"metadata":{"name":"standard"},"provisioner":"x"})");
  t.event(kClasses, VCP_SIDE_HOST, VCP_EVENT_MODIFIED, other, &other);
  CHECK(t.host.enqueued.size() == 1);

  // A fake volume deleted under a live claim: the claim's key makes it again.
  Value pv = golden("fake-pv.json");
  t.event(kVolumes, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, pv);
  REQUIRE(t.host.enqueued.size() == 2);
  CHECK(t.host.enqueued[1].resource == kClaims);
  CHECK(t.host.enqueued[1].ns == "default");
  CHECK(t.host.enqueued[1].name == "data");

  // A claim that names another volume than before lets the old one go.
  Value before = golden("claim-default.virtual.json");
  before["spec"]["volumeName"] = "pvc-old";
  Value after = before;
  after["spec"]["volumeName"] = "pvc-new";
  t.event(kClaims, VCP_SIDE_VIRTUAL, VCP_EVENT_MODIFIED, after, &before);
  REQUIRE(t.host.enqueued.size() == 3);
  CHECK(t.host.enqueued[2].resource == kVolumes);
  CHECK(t.host.enqueued[2].name == "pvc-old");
}
