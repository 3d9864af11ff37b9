// Golden and behaviour tests of the real services plugin shared object: the test dlopens libvcp-services.so
// (path in VCP_SERVICES_PLUGIN), takes its descriptor through vcp_plugin_entry_v1 and drives its hooks
// against FakeHost, playing the engine's part (finishing submitted writes, updating caches, delivering watch
// events). Golden files (golden/<case>.virtual.json, optional <case>.host-objects.json, expected
// <case>.host.json and, for Services that ask for the virtual allocations, <case>.host-allocates.json after
// the host refused them) were written from vcluster-behaviour.md §2 and §4, not copied from the plugin's
// output.
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

using svc_test::FakeHost;
using vc::json::Value;

namespace {

enum : uint32_t { kServices = 0, kEndpoints = 1, kHostServices = 2, kNamespaces = 3 };
const std::string kHostNs = "vcluster-my-vcluster";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string golden_dir() {
  const char* d = std::getenv("VCP_SERVICES_GOLDEN");
  return d ? d : "tests/plugins/services/golden";
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

// Key-order-insensitive comparison that prints the merge patch from actual to expected on failure.
void check_same(const Value& actual, const Value& expected) {
  if (actual == expected) return;
  FAIL_CHECK("objects differ; merge patch turning actual into expected:\n"
             << vc::json::dump(vc::json::merge_patch_diff(actual, expected)) << "\nactual:\n"
             << vc::json::dump(actual));
}

const std::string& str_at(const Value& v, std::initializer_list<std::string_view> path,
                          std::string_view leaf) {
  static const std::string kEmpty;
  const Value* p = v.at(path);
  const Value* f = p ? p->find(leaf) : nullptr;
  return f && f->is_string() ? f->as_string() : kEmpty;
}

// Array item i (a shared null when out of range); a named function because a literal 0 would make
// operator[] ambiguous between an index and a key.
const Value& item(const Value& arr, std::size_t i) {
  return arr[i];
}

using Settings = std::map<std::string, std::string>;

struct Result {
  vcp_status status;
  std::string out;
};

// One loaded plugin instance with its fake engine. Config values are set before on_init, which reads them.
class Harness {
 public:
  explicit Harness(Settings config = {}, vcp_status expect_init = VCP_OK) : host("my-vcluster", kHostNs) {
    host.config = std::move(config);
    const char* path = std::getenv("VCP_SERVICES_PLUGIN");
    REQUIRE_MESSAGE(path != nullptr, "set VCP_SERVICES_PLUGIN to the path of libvcp-services.so");
    dl_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(dl_ != nullptr, "dlopen " << path << ": " << dlerror());
    auto entry = reinterpret_cast<vcp_plugin_entry_v1_fn>(dlsym(dl_, VCP_ENTRY_SYMBOL));
    const bool has_entry = entry != nullptr;
    REQUIRE_MESSAGE(has_entry, "no " VCP_ENTRY_SYMBOL " in " << path);
    plugin = entry();
    REQUIRE(plugin != nullptr);
    REQUIRE(plugin->abi_major == VCP_ABI_MAJOR);
    init_status = plugin->on_init(host.api(), host.ctx(), &state_);
    REQUIRE(init_status == expect_init);
  }
  ~Harness() {
    if (init_status == VCP_OK && plugin && plugin->on_shutdown) plugin->on_shutdown(state_);
    if (dl_) dlclose(dl_);
  }

  void put_virtual(uint32_t res, const Value& obj) { host.put(VCP_SIDE_VIRTUAL, res, vc::json::dump(obj)); }
  void put_host(uint32_t res, const Value& obj) { host.put(VCP_SIDE_HOST, res, vc::json::dump(obj)); }

  void load_objects(const std::string& file) {
    Value list = parse_or_fail(slurp(file));
    for (const Value& item : list.items()) {
      uint32_t r = item.find("resource")->as_string() == "services" ? kServices : kEndpoints;
      host.put(item.find("side")->as_string() == "host" ? VCP_SIDE_HOST : VCP_SIDE_VIRTUAL, r,
               vc::json::dump(*item.find("object")));
    }
  }

  Result sync(uint32_t res, const Value& source, const Value* target = nullptr) {
    return call(plugin->on_sync, res, source, target);
  }
  Result back_sync(const Value& source, const Value& target) {
    return call(plugin->on_back_sync, kServices, source, &target);
  }
  Result remove(uint32_t res, const std::string& ns, const std::string& name, const Value& target) {
    std::string tgt = vc::json::dump(target);
    vcp_sync_args a = args(res, ns, name, "", tgt);
    std::string out;
    vcp_status st = plugin->on_delete(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }
  // on_sync of a key whose source is gone (the engine's call for a VCP_RES_HOST_NAMESPACES key).
  Result sync_absent(uint32_t res, const std::string& ns, const std::string& name) {
    vcp_sync_args a = args(res, ns, name, "", "");
    std::string out;
    vcp_status st = plugin->on_sync(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }
  void event(uint32_t res, vcp_side side, vcp_event_type type, const Value& obj, const Value* old = nullptr) {
    std::string text = vc::json::dump(obj);
    std::string old_text = old ? vc::json::dump(*old) : std::string();
    vcp_event ev{};
    ev.struct_size = sizeof ev;
    ev.resource = res;
    ev.side = side;
    ev.type = type;
    ev.object = {text.data(), text.size()};
    ev.old_object = {old_text.data(), old_text.size()};
    plugin->on_watch_event(state_, &ev);
    host.end_hook();
  }

  FakeHost host;
  const vcp_plugin* plugin = nullptr;
  vcp_status init_status = VCP_ERROR;

 private:
  vcp_sync_args args(uint32_t res, const std::string& ns, const std::string& name, const std::string& source,
                     const std::string& target) {
    tname_ = FakeHost::safe_concat({name, "x", ns, "x", "my-vcluster"});
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
  std::string ns_, name_, tname_;
};

// What the API server adds to a created host Service: identity, and the allocations the create left open.
Value as_created(Value h, const std::string& uid, const std::string& ip) {
  h["metadata"]["uid"] = uid;
  h["metadata"]["resourceVersion"] = "1000";
  h["metadata"]["creationTimestamp"] = "2024-05-02T10:00:01Z";
  Value& spec = h["spec"];
  if (!spec.contains("clusterIP")) {
    spec["clusterIP"] = ip;
    spec["clusterIPs"].push_back(ip);
    spec["ipFamilies"].push_back("IPv4");
    spec["ipFamilyPolicy"] = "SingleStack";
  }
  h["status"]["loadBalancer"] = Value::object();
  return h;
}

Value status_body(int code, const std::string& message) {
  Value s = Value::object();
  s["apiVersion"] = "v1";
  s["kind"] = "Status";
  s["status"] = "Failure";
  s["code"] = code;
  s["message"] = message;
  return s;
}

std::string range_refusal(const std::string& ip, const std::string& range) {
  return vc::json::dump(
      status_body(422, "Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"" + ip +
                           "\"}: failed to allocated ip:" + ip +
                           " with error:provided IP is not in the valid range. The range of "
                           "valid IPs is " +
                           range));
}

// The first ClusterIP mismatch makes the plugin ask the virtual API server for its Service range: back-sync
// goes on without re-creating anything and submits a probe Service with an address no range holds. This
// checks the probe, answers it, and takes it off the list of writes, so that callers count the re-create's
// own writes.
void answer_range_probe(Harness& h, const Value& vsvc, const Value& host_svc, int status,
                        const std::string& body) {
  size_t before = h.host.writes.size();
  Result r = h.back_sync(vsvc, host_svc);
  REQUIRE(r.status == VCP_OK);
  REQUIRE(h.host.writes.size() == before + 1);
  const auto probe = h.host.writes.back();
  CHECK(probe.side == VCP_SIDE_VIRTUAL);
  CHECK(probe.verb == VCP_VERB_CREATE);
  CHECK(probe.ns == "default");
  Value pb = parse_or_fail(probe.body);
  CHECK(str_at(pb, {"spec"}, "clusterIP") == "4.4.4.4");
  CHECK(str_at(pb, {"metadata"}, "generateName") == "vcluster-ip-range-probe-");
  CHECK(str_at(pb, {"metadata", "labels"}, "vcluster.loft.sh/controlled-by") == "vcluster");
  // Asked once: a second mismatch while the probe is out waits for the same answer.
  CHECK(h.back_sync(vsvc, host_svc).status == VCP_OK);
  CHECK(h.host.writes.size() == before + 1);
  h.host.finish(probe.id, status, body);
  h.host.writes.pop_back();
}

// Runs one golden case: the first create (submitted when the Service asks for the virtual allocations,
// returned to the engine otherwise) must match <case>.host.json; when the host refuses the allocations,
// the engine's create must match <case>.host-allocates.json.
void run_service_golden(const std::string& name, bool requests_allocations) {
  Harness h;
  Value vsvc = golden(name + ".virtual.json");
  Result r = h.sync(kServices, vsvc);
  INFO("plugin error: " << h.host.last_error);
  if (!requests_allocations) {
    REQUIRE(r.status == VCP_OK);
    CHECK(h.host.writes.empty());
    check_same(parse_or_fail(r.out), golden(name + ".host.json"));
    return;
  }
  REQUIRE(r.status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 1);
  const auto& w = h.host.writes[0];
  CHECK(w.side == VCP_SIDE_HOST);
  CHECK(w.verb == VCP_VERB_CREATE);
  CHECK(w.ns == kHostNs);
  CHECK(w.wake_name == str_at(vsvc, {"metadata"}, "name"));
  check_same(parse_or_fail(w.body), golden(name + ".host.json"));

  h.host.finish(w.id, 422,
                vc::json::dump(status_body(422,
                                           "Service \"x\" is invalid: spec.clusterIPs: Invalid value: "
                                           "[]string{\"10.96.12.34\"}: provided IP is already allocated")));
  r = h.sync(kServices, vsvc);
  REQUIRE(r.status == VCP_OK);
  CHECK(h.host.writes.size() == 1);  // the engine creates this one; the plugin submits nothing more
  check_same(parse_or_fail(r.out), golden(name + ".host-allocates.json"));
}

}  // namespace

TEST_CASE("the descriptor declares services (with status) and endpoints, both owned and namespaced") {
  Harness h;
  REQUIRE(h.plugin->resource_count == 4);
  CHECK(h.plugin->abi_minor == 4);
  const vcp_resource& hs = h.plugin->resources[kHostServices];  // mapServices.fromHost's sources
  CHECK(std::string(hs.resource) == "services");
  CHECK(hs.role == VCP_ROLE_WATCH_HOST);
  CHECK(hs.flags == (VCP_RES_NAMESPACED | VCP_RES_HOST_NAMESPACES));
  CHECK(std::string(h.plugin->resources[kNamespaces].resource) == "namespaces");
  CHECK(h.plugin->resources[kNamespaces].role == VCP_ROLE_WATCH_VIRTUAL);
  CHECK(h.host.watched_namespaces.empty());  // no fromHost mapping: no host namespace watched
  const vcp_resource& svc = h.plugin->resources[kServices];
  CHECK(std::string(svc.resource) == "services");
  CHECK(svc.role == VCP_ROLE_TO_HOST);
  CHECK(svc.name_mapping == VCP_NAME_NAMESPACED);
  CHECK(svc.flags == (VCP_RES_NAMESPACED | VCP_RES_STATUS));
  const vcp_resource& eps = h.plugin->resources[kEndpoints];
  CHECK(std::string(eps.resource) == "endpoints");
  CHECK(eps.role == VCP_ROLE_TO_HOST);
  CHECK(eps.flags == VCP_RES_NAMESPACED);
  REQUIRE(h.plugin->config_key_count == 3);
  CHECK(std::string(h.plugin->config_keys[0].path) == "sync.services.enabled");
  CHECK(std::string(h.plugin->config_keys[1].path) == "sync.endpoints.enabled");
  CHECK(std::string(h.plugin->config_keys[2].path) == "sync.endpoints.deniedCIDRs");
  CHECK(h.plugin->config_keys[2].type == VCP_CONF_STRING_LIST);
}

TEST_CASE(
    "golden: a ClusterIP Service asks the host for its virtual IP, and lets the host allocate when refused") {
  run_service_golden("web", true);
}

TEST_CASE("golden: a NodePort Service asks for its nodePorts too, and drops them with the IP when refused") {
  run_service_golden("nodeport", true);
}

TEST_CASE("golden: a headless Service stays headless and is created by the engine at once") {
  run_service_golden("headless", false);
}

TEST_CASE("golden: an ExternalName Service has nothing to allocate and no selector") {
  run_service_golden("external", false);
}

TEST_CASE("golden: Endpoints of a selector-less Service reach the host with Pod references translated") {
  Harness h;
  h.load_objects(golden_dir() + "/manual.host-objects.json");
  Result r = h.sync(kEndpoints, golden("manual.virtual.json"));
  INFO("plugin error: " << h.host.last_error);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), golden("manual.host.json"));
}

TEST_CASE("create: a submitted create in flight makes the key wait without a second submit") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  REQUIRE(h.sync(kServices, vsvc).status == VCP_WAIT);
  CHECK(h.sync(kServices, vsvc).status == VCP_WAIT);
  CHECK(h.host.writes.size() == 1);
}

TEST_CASE("create: a transient host failure is retried with the virtual IP, not downgraded") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  REQUIRE(h.sync(kServices, vsvc).status == VCP_WAIT);
  h.host.finish(h.host.writes[0].id, 503, vc::json::dump(status_body(503, "etcd leader changed")));
  Result r = h.sync(kServices, vsvc);
  CHECK(r.status == VCP_RETRY);
  CHECK(h.host.last_error.find("HTTP 503") != std::string::npos);
  CHECK(h.sync(kServices, vsvc).status == VCP_WAIT);
  REQUIRE(h.host.writes.size() == 2);
  CHECK(str_at(parse_or_fail(h.host.writes[1].body), {"spec"}, "clusterIP") == "10.96.12.34");
}

TEST_CASE(
    "create: AlreadyExists hands the create to the engine, which can tell a foreign object from a lag") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  REQUIRE(h.sync(kServices, vsvc).status == VCP_WAIT);
  h.host.finish(h.host.writes[0].id, 409,
                vc::json::dump(status_body(409, "services \"web-x\" already exists")));
  Result r = h.sync(kServices, vsvc);
  CHECK(r.status == VCP_OK);
  CHECK(h.host.writes.size() == 1);
  CHECK_FALSE(r.out.empty());
  // The engine's create met the foreign object too and refused with an event; the next sync leaves the
  // create to the engine again instead of asking the host a third time.
  CHECK(h.sync(kServices, vsvc).status == VCP_OK);
  CHECK(h.host.writes.size() == 1);
}

TEST_CASE("update: an unchanged virtual Service gives back exactly the host Service (no write on restart)") {
  Harness h;
  SUBCASE("ClusterIP") {
    Value host_svc = as_created(golden("web.host.json"), "host-uid-1", "");
    Result r = h.sync(kServices, golden("web.virtual.json"), &host_svc);
    REQUIRE(r.status == VCP_OK);
    check_same(parse_or_fail(r.out), host_svc);
  }
  SUBCASE("NodePort with host-assigned nodePorts the virtual Service does not know yet") {
    Value host_svc = as_created(golden("nodeport.host-allocates.json"), "host-uid-2", "10.96.77.1");
    host_svc["spec"]["ports"].array_ptr()->at(0)["nodePort"] = 31001;
    host_svc["spec"]["ports"].array_ptr()->at(1)["nodePort"] = 31002;
    Result r = h.sync(kServices, golden("nodeport.virtual.json"), &host_svc);
    REQUIRE(r.status == VCP_OK);
    check_same(parse_or_fail(r.out), host_svc);
  }
  SUBCASE("host-only annotations survive, excluded host annotations keep their host value") {
    Value host_svc = as_created(golden("web.host.json"), "host-uid-3", "");
    host_svc["metadata"]["annotations"]["host.example.com/audit"] = "seen";
    host_svc["metadata"]["annotations"]["field.cattle.io/publicEndpoints"] = "[host]";
    Result r = h.sync(kServices, golden("web.virtual.json"), &host_svc);
    REQUIRE(r.status == VCP_OK);
    check_same(parse_or_fail(r.out), host_svc);
  }
}

TEST_CASE("update: tenant changes flow to the host while the host's allocations stay") {
  Harness h;
  Value host_svc = as_created(golden("nodeport.host-allocates.json"), "host-uid-2", "10.96.77.1");
  host_svc["spec"]["ports"].array_ptr()->at(0)["nodePort"] = 31001;
  host_svc["spec"]["ports"].array_ptr()->at(1)["nodePort"] = 31002;
  Value vsvc = golden("nodeport.virtual.json");
  vsvc["metadata"]["labels"]["tier"] = "edge";
  vsvc["spec"]["selector"].erase("role");
  vsvc["spec"]["sessionAffinity"] = "None";
  vsvc["spec"].erase("sessionAffinityConfig");
  // The metrics port goes, a new one comes with a nodePort the virtual API server chose.
  Value ports = Value::array();
  ports.push_back(item(*vsvc.at({"spec"})->find("ports"), 0));
  Value admin = Value::object();
  admin["name"] = "admin";
  admin["protocol"] = "TCP";
  admin["port"] = 8443;
  admin["targetPort"] = 8443;
  admin["nodePort"] = 30443;
  ports.push_back(admin);
  vsvc["spec"]["ports"] = ports;

  Result r = h.sync(kServices, vsvc, &host_svc);
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  const Value& spec = *out.find("spec");
  CHECK(str_at(out, {"metadata", "labels"}, "vcluster.loft.sh/label-my-vcluster-x-e29ccc00b2") == "edge");
  CHECK(spec.find("selector")->size() == 3);  // one translated key plus managed-by and namespace
  CHECK(str_at(out, {"spec"}, "sessionAffinity") == "None");
  CHECK(spec.find("sessionAffinityConfig") == nullptr);
  REQUIRE(spec.find("ports")->size() == 2);
  CHECK(item(*spec.find("ports"), 0).find("nodePort")->as_int64() == 31001);  // the host's, not 30080
  CHECK(item(*spec.find("ports"), 1).find("nodePort") == nullptr);            // the host allocates it
  CHECK(str_at(out, {"spec"}, "clusterIP") == "10.96.77.1");
  CHECK(str_at(out, {"metadata"}, "uid") == "host-uid-2");
}

TEST_CASE("update: a switch to ExternalName clears the ClusterIP fields the API server would refuse") {
  Harness h;
  Value host_svc = as_created(golden("web.host.json"), "host-uid-1", "");
  Value vsvc = golden("web.virtual.json");
  vsvc["spec"]["type"] = "ExternalName";
  vsvc["spec"]["externalName"] = "web.example.com";
  vsvc["spec"].erase("clusterIP");
  vsvc["spec"].erase("clusterIPs");
  vsvc["spec"].erase("selector");
  Result r = h.sync(kServices, vsvc, &host_svc);
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  for (std::string_view k : {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "selector"})
    CHECK_MESSAGE(out.find("spec")->find(k) == nullptr, k);
  CHECK(str_at(out, {"spec"}, "externalName") == "web.example.com");
}

TEST_CASE("back-sync: host nodePorts, externalIPs and the load-balancer status reach the virtual Service") {
  Harness h;
  Value vsvc = golden("nodeport.virtual.json");
  vsvc["spec"]["type"] = "LoadBalancer";
  Value host_svc = as_created(golden("nodeport.host.json"), "host-uid-2", "");
  host_svc["spec"]["type"] = "LoadBalancer";
  host_svc["spec"]["ports"].array_ptr()->at(1)["nodePort"] = 31002;
  host_svc["spec"]["externalIPs"].push_back("203.0.113.9");
  Value ingress = Value::object();
  ingress["ip"] = "198.51.100.4";
  host_svc["status"]["loadBalancer"]["ingress"].push_back(ingress);

  Result r = h.back_sync(vsvc, host_svc);
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  CHECK(item(*out.at({"spec"})->find("ports"), 1).find("nodePort")->as_int64() == 31002);
  CHECK(item(*out.at({"spec"})->find("externalIPs"), 0).as_string() == "203.0.113.9");
  CHECK(item(*out.at({"status", "loadBalancer"})->find("ingress"), 0).find("ip")->as_string() ==
        "198.51.100.4");
  CHECK(h.host.writes.empty());

  // Once the virtual Service holds all of that, back-sync gives it back unchanged: the engine writes nothing.
  Result again = h.back_sync(out, host_svc);
  REQUIRE(again.status == VCP_OK);
  check_same(parse_or_fail(again.out), out);
}

TEST_CASE("back-sync: different port lists keep the virtual nodePorts until the forward sync aligns them") {
  Harness h;
  Value vsvc = golden("nodeport.virtual.json");
  Value host_svc = as_created(golden("nodeport.host.json"), "host-uid-2", "");
  host_svc["spec"]["ports"].array_ptr()->pop_back();
  host_svc["spec"]["ports"].array_ptr()->at(0)["nodePort"] = 31001;
  Result r = h.back_sync(vsvc, host_svc);
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  CHECK(item(*out.at({"spec"})->find("ports"), 0).find("nodePort")->as_int64() == 30080);
}

TEST_CASE(
    "ClusterIP: a mismatch replaces the virtual Service by one with the host's IP; the host Service stays") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  Value host_svc = as_created(golden("web.host-allocates.json"), "host-uid-1", "10.96.200.7");
  h.put_virtual(kServices, vsvc);
  answer_range_probe(h, vsvc, host_svc, 422, range_refusal("4.4.4.4", "10.96.0.0/16"));

  // 1. Back-sync sees 10.96.12.34 against 10.96.200.7, a host IP the virtual range holds, and deletes the
  // virtual Service, this one only.
  Result r = h.back_sync(vsvc, host_svc);
  CHECK(r.status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);
  const auto del = h.host.writes[0];
  CHECK(del.side == VCP_SIDE_VIRTUAL);
  CHECK(del.verb == VCP_VERB_DELETE);
  CHECK(del.ns == "default");
  CHECK(del.name == "web");
  CHECK(str_at(parse_or_fail(del.body), {"preconditions"}, "uid") == "5b0e2c1a-0f7e-4b8e-9c55-2f1d3c4b5a60");
  // While the delete is in flight nothing else happens.
  CHECK(h.back_sync(vsvc, host_svc).status == VCP_NO_CHANGE);
  CHECK(h.sync(kServices, vsvc, &host_svc).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == 1);

  // 2. The delete lands; the engine sees the source gone and asks whether to delete the host Service.
  h.host.finish(del.id, 200, vc::json::dump(vsvc));
  h.host.remove(VCP_SIDE_VIRTUAL, kServices, "default", "web");
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, vsvc);
  r = h.remove(kServices, "default", "web", host_svc);
  CHECK(r.status == VCP_SKIP);
  REQUIRE(h.host.writes.size() == 2);
  const auto create = h.host.writes[1];
  CHECK(create.side == VCP_SIDE_VIRTUAL);
  CHECK(create.verb == VCP_VERB_CREATE);
  Value body = parse_or_fail(create.body);
  CHECK(str_at(body, {"spec"}, "clusterIP") == "10.96.200.7");
  CHECK(item(*body.at({"spec"})->find("clusterIPs"), 0).as_string() == "10.96.200.7");
  CHECK(body.at({"metadata"})->find("uid") == nullptr);
  CHECK(body.at({"metadata"})->find("resourceVersion") == nullptr);
  CHECK(body.find("status") == nullptr);
  CHECK(str_at(body, {"metadata", "labels"}, "app") == "web");
  CHECK(str_at(body, {"metadata", "annotations"}, "example.com/owner") == "team-a");
  CHECK(str_at(body, {"spec", "selector"}, "app") == "web");
  // The Endpoints key of a selector Service is not woken while the Service is away.
  for (const auto& e : h.host.enqueued) CHECK(e.resource != kEndpoints);

  // 3. The create lands: the new Service takes the host Service over, and back-sync has nothing to align.
  Value created = body;
  created["metadata"]["uid"] = "new-uid";
  created["metadata"]["resourceVersion"] = "900";
  h.host.finish(create.id, 201, vc::json::dump(created));
  h.put_virtual(kServices, created);
  r = h.sync(kServices, created, &host_svc);
  REQUIRE(r.status == VCP_OK);
  CHECK(str_at(parse_or_fail(r.out), {"metadata", "annotations"}, "vcluster.loft.sh/object-uid") ==
        "new-uid");
  r = h.back_sync(created, host_svc);
  CHECK(r.status == VCP_OK);
  CHECK(h.host.writes.size() == 2);
  CHECK(h.host.events.empty());
}

TEST_CASE("ClusterIP: a Service the tenant deleted before the plugin's delete landed is not brought back") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  Value host_svc = as_created(golden("web.host-allocates.json"), "host-uid-1", "10.96.200.7");
  h.put_virtual(kServices, vsvc);
  answer_range_probe(h, vsvc, host_svc, 422, range_refusal("4.4.4.4", "10.96.0.0/16"));
  REQUIRE(h.back_sync(vsvc, host_svc).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);
  h.host.finish(h.host.writes[0].id, 404, vc::json::dump(status_body(404, "services \"web\" not found")));
  h.host.remove(VCP_SIDE_VIRTUAL, kServices, "default", "web");
  // The source is gone for real: the host Service goes too, and nothing is created in the virtual cluster.
  CHECK(h.remove(kServices, "default", "web", host_svc).status == VCP_OK);
  CHECK(h.host.writes.size() == 1);
}

TEST_CASE("ClusterIP: a late DELETED event of the replaced Service does not cost the host Service") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  Value host_svc = as_created(golden("web.host-allocates.json"), "host-uid-1", "10.96.200.7");
  h.put_virtual(kServices, vsvc);
  answer_range_probe(h, vsvc, host_svc, 422, range_refusal("4.4.4.4", "10.96.0.0/16"));
  REQUIRE(h.back_sync(vsvc, host_svc).status == VCP_NO_CHANGE);
  h.host.finish(h.host.writes[0].id, 200, "{}");
  // The delete's answer arrives before its watch event: the next sync still finds the old Service.
  REQUIRE(h.sync(kServices, vsvc, &host_svc).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 2);
  Value created = parse_or_fail(h.host.writes[1].body);
  created["metadata"]["uid"] = "new-uid";
  h.host.finish(h.host.writes[1].id, 201, vc::json::dump(created));
  REQUIRE(h.sync(kServices, created, &host_svc).status == VCP_OK);

  // Now the old Service's DELETED event empties the engine's cache for that name: keep the host Service.
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED, vsvc);
  CHECK(h.remove(kServices, "default", "web", host_svc).status == VCP_SKIP);
  // The new Service's ADDED event refills the cache; from then on a delete is the tenant's.
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_ADDED, created);
  CHECK(h.remove(kServices, "default", "web", host_svc).status == VCP_OK);
}

TEST_CASE("ClusterIP: a virtual API server with a range of its own keeps its Service, with one warning") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  vsvc["spec"]["clusterIP"] = "10.97.0.20";
  vsvc["spec"]["clusterIPs"].array_ptr()->at(0) = "10.97.0.20";
  Value host_svc = as_created(golden("web.host-allocates.json"), "host-uid-1", "10.96.200.7");
  h.put_virtual(kServices, vsvc);
  answer_range_probe(h, vsvc, host_svc, 422, range_refusal("4.4.4.4", "10.97.0.0/16"));

  Result r = h.back_sync(vsvc, host_svc);
  CHECK(r.status == VCP_OK);
  // Reading the probe's answer wakes the Services that waited for it.
  REQUIRE_FALSE(h.host.enqueued.empty());
  CHECK(h.host.enqueued.back().name == "web");
  CHECK(h.back_sync(vsvc, host_svc).status == VCP_OK);
  CHECK(h.host.writes.empty());  // never deleted
  REQUIRE(h.host.events.size() == 1);
  CHECK(h.host.events[0].reason == "ClusterIPMismatch");
  CHECK(h.host.events[0].type == "Warning");
  CHECK(h.host.events[0].message.find("10.97.0.0/16") != std::string::npos);
  CHECK(h.host.events[0].message.find("10.96.200.7") != std::string::npos);
}

TEST_CASE("ClusterIP: when only the re-create reveals the range, the Service goes back as it was") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  vsvc["spec"]["clusterIP"] = "10.97.0.20";
  vsvc["spec"]["clusterIPs"].array_ptr()->at(0) = "10.97.0.20";
  Value host_svc = as_created(golden("web.host-allocates.json"), "host-uid-1", "10.96.200.7");
  h.put_virtual(kServices, vsvc);
  // A probe refused for another reason (here: forbidden) teaches nothing; the plugin tries the re-create.
  answer_range_probe(h, vsvc, host_svc, 403, vc::json::dump(status_body(403, "services is forbidden")));
  REQUIRE(h.back_sync(vsvc, host_svc).status == VCP_NO_CHANGE);
  h.host.finish(h.host.writes[0].id, 200, "{}");
  h.host.remove(VCP_SIDE_VIRTUAL, kServices, "default", "web");
  REQUIRE(h.remove(kServices, "default", "web", host_svc).status == VCP_SKIP);
  REQUIRE(h.host.writes.size() == 2);
  h.host.finish(h.host.writes[1].id, 422, range_refusal("10.96.200.7", "10.97.0.0/16"));
  // The refusal is read on the next hook; the original goes back with its own IP.
  CHECK(h.remove(kServices, "default", "web", host_svc).status == VCP_SKIP);
  REQUIRE(h.host.writes.size() == 3);
  Value restored = parse_or_fail(h.host.writes[2].body);
  CHECK(h.host.writes[2].verb == VCP_VERB_CREATE);
  CHECK(str_at(restored, {"spec"}, "clusterIP") == "10.97.0.20");
  CHECK(restored.at({"metadata"})->find("uid") == nullptr);
  restored["metadata"]["uid"] = "restored-uid";
  h.host.finish(h.host.writes[2].id, 201, vc::json::dump(restored));
  h.put_virtual(kServices, restored);
  REQUIRE(h.sync(kServices, restored, &host_svc).status == VCP_OK);

  // From now on a mismatch outside 10.97.0.0/16 is reported once and the Service is left as it is.
  CHECK(h.back_sync(restored, host_svc).status == VCP_OK);
  CHECK(h.back_sync(restored, host_svc).status == VCP_OK);
  CHECK(h.host.writes.size() == 3);
  REQUIRE(h.host.events.size() == 1);
  CHECK(h.host.events[0].reason == "ClusterIPMismatch");
  CHECK(h.host.events[0].message.find("10.97.0.0/16") != std::string::npos);
}

TEST_CASE("ClusterIP: another virtual Service holding the host's IP defers the re-create until it moves") {
  Harness h;
  Value vsvc = golden("web.virtual.json");
  Value host_svc = as_created(golden("web.host-allocates.json"), "host-uid-1", "10.96.200.7");
  Value other = golden("headless.virtual.json");
  other["spec"]["clusterIP"] = "10.96.200.7";
  h.put_virtual(kServices, vsvc);
  h.put_virtual(kServices, other);
  answer_range_probe(h, vsvc, host_svc, 422, range_refusal("4.4.4.4", "10.96.0.0/16"));
  Result r = h.back_sync(vsvc, host_svc);
  CHECK(r.status == VCP_OK);
  CHECK(h.host.writes.empty());
  REQUIRE(h.host.waits.size() == 1);
  CHECK(h.host.waits[0].side == VCP_SIDE_VIRTUAL);
  CHECK(h.host.waits[0].ns == "data");
  CHECK(h.host.waits[0].name == "db");
  CHECK(h.host.waits[0].waiter_name == "web");
}

TEST_CASE("ClusterIP: the tenant's Endpoints of a selector-less Service survive its re-creation") {
  Harness h;
  h.load_objects(golden_dir() + "/manual.host-objects.json");
  Value vsvc = *vc::json::parse(
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"legacy","namespace":"default","uid":"svc-legacy"},
          "spec":{"ports":[{"port":9000,"protocol":"TCP","targetPort":9000}],"clusterIP":"10.96.3.3",
                  "clusterIPs":["10.96.3.3"],"type":"ClusterIP"}})");
  Value veps = golden("manual.virtual.json");
  h.put_virtual(kEndpoints, veps);
  Value host_svc = as_created(vsvc, "host-uid-9", "");
  host_svc["spec"]["clusterIP"] = "10.96.9.9";
  answer_range_probe(h, vsvc, host_svc, 422, range_refusal("4.4.4.4", "10.96.0.0/16"));
  REQUIRE(h.back_sync(vsvc, host_svc).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);

  // The virtual endpoints controller deletes the Endpoints of the Service it saw deleted.
  h.host.remove(VCP_SIDE_VIRTUAL, kEndpoints, "default", "legacy");
  Result r = h.remove(kEndpoints, "default", "legacy", golden("manual.host.json"));
  CHECK(r.status == VCP_SKIP);
  REQUIRE(h.host.writes.size() == 2);
  const auto& w = h.host.writes[1];
  CHECK(w.side == VCP_SIDE_VIRTUAL);
  CHECK(w.resource == kEndpoints);
  CHECK(w.verb == VCP_VERB_CREATE);
  Value body = parse_or_fail(w.body);
  CHECK(body.at({"metadata"})->find("uid") == nullptr);
  CHECK(body.at({"metadata"})->find("resourceVersion") == nullptr);
  CHECK(*body.find("subsets") == *veps.find("subsets"));
  // Only once: a later delete of the Endpoints is the tenant's.
  CHECK(h.remove(kEndpoints, "default", "legacy", golden("manual.host.json")).status == VCP_OK);
}

TEST_CASE("skips: the kubernetes Service, controlled Services, and Endpoints the host controller fills") {
  Harness h;
  Value kube = golden("web.virtual.json");
  kube["metadata"]["name"] = "kubernetes";
  CHECK(h.sync(kServices, kube).status == VCP_SKIP);
  CHECK(h.sync(kEndpoints, kube).status == VCP_SKIP);

  Value controlled = golden("web.virtual.json");
  controlled["metadata"]["labels"]["vcluster.loft.sh/controlled-by"] = "vcluster";
  CHECK(h.sync(kServices, controlled).status == VCP_NO_CHANGE);

  Value eps = golden("manual.virtual.json");
  // No virtual Service of that name: nothing to sync, and an owned host copy would be deleted.
  CHECK(h.sync(kEndpoints, eps).status == VCP_SKIP);
  // A selector Service: the host's endpoints controller fills the host Endpoints.
  Value with_selector = golden("web.virtual.json");
  with_selector["metadata"]["name"] = "legacy";
  h.put_virtual(kServices, with_selector);
  CHECK(h.sync(kEndpoints, eps).status == VCP_SKIP);
  CHECK(h.host.writes.empty());
}

TEST_CASE("endpoints: an update keeps host-only annotations and gives back an unchanged host object") {
  Harness h;
  h.load_objects(golden_dir() + "/manual.host-objects.json");
  Value current = golden("manual.host.json");
  current["metadata"]["uid"] = "host-eps";
  current["metadata"]["resourceVersion"] = "5";
  current["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
      "2024-05-02T10:00:00Z";
  Result r = h.sync(kEndpoints, golden("manual.virtual.json"), &current);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), current);

  Value veps = golden("manual.virtual.json");
  veps["subsets"].array_ptr()->at(0)["addresses"].array_ptr()->pop_back();
  r = h.sync(kEndpoints, veps, &current);
  REQUIRE(r.status == VCP_OK);
  Value out = parse_or_fail(r.out);
  CHECK(item(*out.find("subsets"), 0).find("addresses")->size() == 1);
}

TEST_CASE(
    "watch: only a Service's arrival, departure or change of selector presence wakes its Endpoints key") {
  Harness h;
  Value svc = golden("web.virtual.json");
  Value relabelled = svc;
  relabelled["metadata"]["labels"]["tier"] = "backend";
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_MODIFIED, relabelled, &svc);
  CHECK(h.host.enqueued.empty());
  Value selectorless = svc;
  selectorless["spec"].erase("selector");
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_MODIFIED, selectorless, &svc);
  REQUIRE(h.host.enqueued.size() == 1);
  CHECK(h.host.enqueued[0].resource == kEndpoints);
  CHECK(h.host.enqueued[0].name == "web");
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_ADDED, svc);
  CHECK(h.host.enqueued.size() == 2);
}

TEST_CASE("delete: the host Service goes with the engine's default options") {
  Harness h;
  Value host_svc = as_created(golden("web.host.json"), "host-uid-1", "");
  Result r = h.remove(kServices, "default", "web", host_svc);
  CHECK(r.status == VCP_OK);
  CHECK(r.out.empty());
}

TEST_CASE("config: sync.services.enabled false leaves Services alone, host copies included") {
  Harness h(Settings{{"sync.services.enabled", "false"}});
  CHECK(h.sync(kServices, golden("web.virtual.json")).status == VCP_NO_CHANGE);
  CHECK(h.remove(kServices, "default", "web", golden("web.host.json")).status == VCP_SKIP);
  CHECK(h.host.writes.empty());
}

TEST_CASE(
    "mapServices.fromVirtual: the source is published under the host name with its translated selector") {
  Harness h(Settings{{"mapServices.fromVirtual", R"([{"from":"store/shop","to":"shop-public"}])"}});
  Value vsvc = golden("nodeport.virtual.json");
  Value host_svc = as_created(golden("nodeport.host.json"), "host-uid-2", "");
  REQUIRE(h.sync(kServices, vsvc, &host_svc).status == VCP_OK);
  REQUIRE(h.host.writes.size() == 1);
  const auto w = h.host.writes[0];
  CHECK(w.side == VCP_SIDE_HOST);
  CHECK(w.verb == VCP_VERB_CREATE);
  Value mapped = parse_or_fail(w.body);
  CHECK(str_at(mapped, {"metadata"}, "name") == "shop-public");
  CHECK(str_at(mapped, {"metadata"}, "namespace") == kHostNs);
  CHECK(str_at(mapped, {"metadata", "labels"}, "vcluster.loft.sh/controlled-by") == "vcluster");
  CHECK(mapped.at({"metadata", "annotations"}) == nullptr);  // never taken for a synced Service
  CHECK(*mapped.at({"spec"})->find("selector") ==
        *golden("nodeport.host.json").at({"spec"})->find("selector"));
  CHECK(str_at(mapped, {"spec"}, "type") == "ClusterIP");
  for (const Value& p : mapped.at({"spec"})->find("ports")->items()) CHECK(p.find("nodePort") == nullptr);

  // Created: the next sync finds it equal and writes nothing.
  h.host.finish(w.id, 201, w.body);
  Value created = mapped;
  created["metadata"]["uid"] = "mapped-uid";
  h.put_host(kServices, created);
  REQUIRE(h.sync(kServices, vsvc, &host_svc).status == VCP_OK);
  CHECK(h.host.writes.size() == 1);

  // The source goes: so does the published Service, only the one the plugin saw.
  REQUIRE(h.remove(kServices, "store", "shop", host_svc).status == VCP_OK);
  REQUIRE(h.host.writes.size() == 2);
  CHECK(h.host.writes[1].verb == VCP_VERB_DELETE);
  CHECK(h.host.writes[1].name == "shop-public");
  CHECK(str_at(parse_or_fail(h.host.writes[1].body), {"preconditions"}, "uid") == "mapped-uid");
}

TEST_CASE(
    "mapServices.fromVirtual: a host Service of that name held by someone else is left alone, with a "
    "warning") {
  Harness h(Settings{{"mapServices.fromVirtual", R"([{"from":"store/shop","to":"shop-public"}])"}});
  Value vsvc = golden("nodeport.virtual.json");
  Value host_svc = as_created(golden("nodeport.host.json"), "host-uid-2", "");
  REQUIRE(h.sync(kServices, vsvc, &host_svc).status == VCP_OK);
  h.host.finish(h.host.writes[0].id, 409, vc::json::dump(status_body(409, "already exists")));
  REQUIRE(h.sync(kServices, vsvc, &host_svc).status == VCP_OK);
  REQUIRE(h.sync(kServices, vsvc, &host_svc).status == VCP_OK);
  CHECK(h.host.writes.size() == 1);
  REQUIRE(h.host.events.size() == 1);
  CHECK(h.host.events[0].message.find("shop-public") != std::string::npos);
}

TEST_CASE("mapServices.fromVirtual: a published Service whose mapping was removed is deleted when seen") {
  Harness h(Settings{{"mapServices.fromVirtual", "[]"}});
  Value left = *vc::json::parse(
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"old-public","namespace":"vcluster-my-vcluster",
          "uid":"old-uid","labels":{"vcluster.loft.sh/controlled-by":"vcluster",
          "vcluster.loft.sh/managed-by":"my-vcluster"}},"spec":{"clusterIP":"10.96.1.1"}})");
  h.put_host(kServices, left);
  h.event(kServices, VCP_SIDE_HOST, VCP_EVENT_ADDED, left);
  REQUIRE(h.host.writes.size() == 1);
  CHECK(h.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(h.host.writes[0].name == "old-public");
  // A synced Service (object-name annotation) is the engine's, never deleted here.
  Value synced = as_created(golden("web.host.json"), "host-uid-1", "");
  synced["metadata"]["labels"]["vcluster.loft.sh/controlled-by"] = "vcluster";
  h.event(kServices, VCP_SIDE_HOST, VCP_EVENT_ADDED, synced);
  CHECK(h.host.writes.size() == 1);
}

TEST_CASE("mapServices.fromVirtual: a malformed entry refuses to start, naming it") {
  Harness h(Settings{{"mapServices.fromVirtual", R"([{"from":"shop","to":"shop-public"}])"}}, VCP_ERROR);
  CHECK(h.host.last_error.find("\"shop\"") != std::string::npos);
  CHECK(h.host.last_error.find("virtualNamespace/name") != std::string::npos);
}

// --- mapServices.fromHost ---------------------------------------------------------------------------------

namespace {

const Settings kFromHost{{"mapServices.fromHost", R"([{"from":"team/db","to":"apps/db"}])"}};

// What the API server stores for a created object: identity added.
Value stored(Value obj, const std::string& uid) {
  obj["metadata"]["uid"] = uid;
  obj["metadata"]["resourceVersion"] = "7";
  return obj;
}

// Writes since `from`, as (resource, verb) pairs, for compact checks.
std::vector<std::pair<uint32_t, vcp_verb>> writes_since(const Harness& h, size_t from) {
  std::vector<std::pair<uint32_t, vcp_verb>> out;
  for (size_t i = from; i < h.host.writes.size(); i++)
    out.emplace_back(h.host.writes[i].resource, h.host.writes[i].verb);
  return out;
}

}  // namespace

TEST_CASE("mapServices.fromHost: only the namespaces the mappings name are watched on the host") {
  Harness h(Settings{{"mapServices.fromHost",
                      R"([{"from":"team/db","to":"apps/db"},{"from":"team/cache","to":"apps/cache"},
                          {"from":"web","to":"default/web"}])"}});
  // `from` without a namespace is in the vcluster's host namespace (vcluster's parseMapping).
  CHECK(h.host.watched_namespaces[kHostServices] == std::vector<std::string>{"team", kHostNs});
}

TEST_CASE(
    "mapServices.fromHost: the host Service becomes a headless virtual Service with Endpoints at its "
    "ClusterIP, in a namespace created first") {
  Harness h(kFromHost);
  Value hsvc = golden("fromhost.host.json");
  REQUIRE(h.sync(kHostServices, hsvc).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);
  auto ns_write = h.host.writes[0];
  CHECK(ns_write.side == VCP_SIDE_VIRTUAL);
  CHECK(ns_write.resource == kNamespaces);
  CHECK(ns_write.verb == VCP_VERB_CREATE);
  CHECK(str_at(parse_or_fail(ns_write.body), {"metadata"}, "name") == "apps");
  // The answer wakes the host Service's key, which the engine reconciles for this resource.
  CHECK(ns_write.wake_ns == "team");
  CHECK(ns_write.wake_name == "db");
  CHECK(h.sync(kHostServices, hsvc).status == VCP_WAIT);  // in flight: nothing more
  CHECK(h.host.writes.size() == 1);

  h.host.finish(ns_write.id, 201, ns_write.body);
  h.host.put(VCP_SIDE_VIRTUAL, kNamespaces, ns_write.body);
  REQUIRE(h.sync(kHostServices, hsvc).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 3);
  auto svc_write = h.host.writes[1], eps_write = h.host.writes[2];
  CHECK(svc_write.side == VCP_SIDE_VIRTUAL);
  CHECK(svc_write.resource == kServices);
  CHECK(svc_write.verb == VCP_VERB_CREATE);
  CHECK(svc_write.ns == "apps");
  check_same(parse_or_fail(svc_write.body), golden("fromhost.virtual-service.json"));
  CHECK(eps_write.resource == kEndpoints);
  CHECK(eps_write.verb == VCP_VERB_CREATE);
  check_same(parse_or_fail(eps_write.body), golden("fromhost.virtual-endpoints.json"));

  // Both created: the next pass (and a restart's) writes nothing.
  h.host.finish(svc_write.id, 201, svc_write.body);
  h.host.finish(eps_write.id, 201, eps_write.body);
  h.put_virtual(kServices, stored(parse_or_fail(svc_write.body), "vsvc-uid"));
  h.put_virtual(kEndpoints, stored(parse_or_fail(eps_write.body), "veps-uid"));
  REQUIRE(h.sync(kHostServices, hsvc).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == 3);

  // The normal syncers leave both alone (controlled-by): nothing goes back to the host.
  CHECK(h.sync(kServices, stored(parse_or_fail(svc_write.body), "vsvc-uid")).status == VCP_NO_CHANGE);
  CHECK(h.sync(kEndpoints, stored(parse_or_fail(eps_write.body), "veps-uid")).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == 3);
}

TEST_CASE(
    "mapServices.fromHost: a port change on the host is kept in sync, and the source's deletion deletes "
    "both") {
  Harness h(kFromHost);
  Value hsvc = golden("fromhost.host.json");
  h.host.put(VCP_SIDE_VIRTUAL, kNamespaces,
             R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}})");
  h.put_virtual(kServices, stored(golden("fromhost.virtual-service.json"), "vsvc-uid"));
  h.put_virtual(kEndpoints, stored(golden("fromhost.virtual-endpoints.json"), "veps-uid"));
  REQUIRE(h.sync(kHostServices, hsvc).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.empty());

  hsvc["spec"]["ports"] = parse_or_fail(
      R"([{"name":"pg","port":5433,"protocol":"TCP","targetPort":15432,"nodePort":30432},
          {"name":"metrics","port":9187,"protocol":"TCP","targetPort":"metrics","nodePort":30187}])");
  REQUIRE(h.sync(kHostServices, hsvc).status == VCP_NO_CHANGE);
  REQUIRE(writes_since(h, 0) == std::vector<std::pair<uint32_t, vcp_verb>>{{kServices, VCP_VERB_UPDATE},
                                                                           {kEndpoints, VCP_VERB_UPDATE}});
  Value svc = parse_or_fail(h.host.writes[0].body), eps = parse_or_fail(h.host.writes[1].body);
  CHECK(item(*svc.at({"spec"})->find("ports"), 0).find("port")->as_int64() == 5433);
  CHECK(str_at(svc, {"metadata"}, "uid") == "vsvc-uid");  // an update of the object the cache holds
  CHECK(item(*item(*eps.find("subsets"), 0).find("ports"), 0).find("port")->as_int64() == 5433);
  h.host.finish(h.host.writes[0].id, 200, h.host.writes[0].body);
  h.host.finish(h.host.writes[1].id, 200, h.host.writes[1].body);

  // The host Service is deleted: the engine calls on_sync with no source.
  REQUIRE(h.sync_absent(kHostServices, "team", "db").status == VCP_NO_CHANGE);
  REQUIRE(writes_since(h, 2) == std::vector<std::pair<uint32_t, vcp_verb>>{{kServices, VCP_VERB_DELETE},
                                                                           {kEndpoints, VCP_VERB_DELETE}});
  CHECK(str_at(parse_or_fail(h.host.writes[2].body), {"preconditions"}, "uid") == "vsvc-uid");
  CHECK(str_at(parse_or_fail(h.host.writes[3].body), {"preconditions"}, "uid") == "veps-uid");
  CHECK(h.host.writes[2].ns == "apps");
  CHECK(h.host.writes[2].name == "db");
  // A failed write is retried with backoff once every answer is in.
  h.host.finish(h.host.writes[2].id, 200, "{}");
  h.host.finish(h.host.writes[3].id, 500, vc::json::dump(status_body(500, "etcd is sad")));
  CHECK(h.sync_absent(kHostServices, "team", "db").status == VCP_RETRY);
}

TEST_CASE(
    "mapServices.fromHost: a virtual Service vcluster did not make, and a headless source, are left alone") {
  Harness h(kFromHost);
  h.host.put(VCP_SIDE_VIRTUAL, kNamespaces,
             R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}})");
  Value mine = golden("web.virtual.json");
  mine["metadata"]["name"] = "db";
  mine["metadata"]["namespace"] = "apps";
  h.put_virtual(kServices, mine);
  REQUIRE(h.sync(kHostServices, golden("fromhost.host.json")).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.empty());
  REQUIRE(h.host.logs.size() == 1);
  CHECK(h.host.logs[0].find("virtual Service apps/db exists and was not made by vcluster") !=
        std::string::npos);

  Harness g(kFromHost);
  Value headless = golden("fromhost.host.json");
  headless["spec"]["clusterIP"] = "None";
  headless["spec"].erase("clusterIPs");
  REQUIRE(g.sync(kHostServices, headless).status == VCP_NO_CHANGE);
  CHECK(g.host.writes.empty());
  REQUIRE(g.host.logs.size() == 1);
  CHECK(g.host.logs[0].find("host Service team/db has no ClusterIP") != std::string::npos);
}

TEST_CASE("mapServices.fromHost: what a mapping removed from the values made is deleted when seen") {
  Harness h(Settings{{"mapServices.fromHost", "[]"}});
  Value left = stored(golden("fromhost.virtual-service.json"), "old-uid");
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_ADDED, left);
  REQUIRE(h.host.writes.size() == 1);
  CHECK(h.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(h.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(h.host.writes[0].ns == "apps");
  CHECK(h.host.writes[0].name == "db");
  CHECK(h.host.writes[0].wake_ns == "team");  // its answer is read on the source's key
  CHECK(h.host.writes[0].wake_name == "db");
  h.event(kEndpoints, VCP_SIDE_VIRTUAL, VCP_EVENT_ADDED,
          stored(golden("fromhost.virtual-endpoints.json"), "e"));
  REQUIRE(h.host.writes.size() == 2);
  CHECK(h.host.writes[1].resource == kEndpoints);
  h.host.finish(h.host.writes[0].id, 200, "{}");
  h.host.finish(h.host.writes[1].id, 404, "{}");  // already gone: no failure
  CHECK(h.sync_absent(kHostServices, "team", "db").status == VCP_NO_CHANGE);
  // A tenant's Service without the annotation is never deleted.
  Value tenant = golden("web.virtual.json");
  tenant["metadata"]["labels"]["vcluster.loft.sh/controlled-by"] = "vcluster";
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_ADDED, tenant);
  CHECK(h.host.writes.size() == 2);
}

TEST_CASE("mapServices.fromHost: a tenant's edit of the mapped Service wakes its source") {
  Harness h(kFromHost);
  h.event(kServices, VCP_SIDE_VIRTUAL, VCP_EVENT_DELETED,
          stored(golden("fromhost.virtual-service.json"), "u"));
  REQUIRE(h.host.enqueued.size() >= 1);
  CHECK(h.host.enqueued[0].resource == kHostServices);
  CHECK(h.host.enqueued[0].ns == "team");
  CHECK(h.host.enqueued[0].name == "db");
  CHECK(h.host.writes.empty());
}

TEST_CASE("mapServices.fromHost: a malformed entry refuses to start, naming it") {
  Harness h(Settings{{"mapServices.fromHost", R"([{"from":"team/db","to":"db"}])"}}, VCP_ERROR);
  CHECK(h.host.last_error ==
        "mapServices.fromHost entry to \"db\" is not of the form virtualNamespace/name (the virtual Service "
        "it becomes)");
  Harness twice(Settings{{"mapServices.fromHost",
                          R"([{"from":"team/a","to":"apps/db"},{"from":"team/b","to":"apps/db"}])"}},
                VCP_ERROR);
  CHECK(twice.host.last_error.find("names virtual Service \"apps/db\" twice") != std::string::npos);
}

// The failure this provokes (tests/integration/tenant_attacks_test.sh): a tenant's selector-less Service
// whose Endpoints held the host's kubernetes ClusterIP, or another tenant's host Service IP, was copied to
// the host as written, so a host Service in the tenant's namespace forwarded to the host API server
// (CVE-2021-25740's shape).
TEST_CASE("endpoints: addresses in loopback, link-local or sync.endpoints.deniedCIDRs are refused") {
  Harness h(Settings{{"sync.endpoints.deniedCIDRs", R"(["10.96.0.0/16","fd00:10:96::/112"])"}});
  h.load_objects(golden_dir() + "/manual.host-objects.json");
  auto with_ip = [](const std::string& ip) {
    Value veps = golden("manual.virtual.json");
    veps["subsets"].array_ptr()->at(0)["addresses"].array_ptr()->at(0)["ip"] = ip;
    return veps;
  };
  for (const char* bad :
       {"10.96.0.1", "10.96.255.254", "127.0.0.1", "169.254.169.254", "::1", "fd00:10:96::5"}) {
    CAPTURE(bad);
    Result r = h.sync(kEndpoints, with_ip(bad));
    CHECK(r.status == VCP_REFUSED);
    CHECK(h.host.last_error.find(std::string("points at ") + bad + ", inside ") != std::string::npos);
  }
  // notReadyAddresses are tenant-written too.
  Value veps = golden("manual.virtual.json");
  Value nr = Value::object();
  nr["ip"] = "10.96.3.4";
  veps["subsets"].array_ptr()->at(0)["notReadyAddresses"] = Value::array();
  veps["subsets"].array_ptr()->at(0)["notReadyAddresses"].push_back(nr);
  CHECK(h.sync(kEndpoints, veps).status == VCP_REFUSED);
  // Just outside the range, and an outside address: synced.
  for (const char* ok : {"10.97.0.1", "10.95.255.255", "192.0.2.10"}) {
    CAPTURE(ok);
    CHECK(h.sync(kEndpoints, with_ip(ok)).status == VCP_OK);
  }
  CHECK(h.host.writes.empty());
}

TEST_CASE("endpoints: without deniedCIDRs only loopback and link-local are refused; a bad range stops init") {
  Harness h;
  h.load_objects(golden_dir() + "/manual.host-objects.json");
  Value veps = golden("manual.virtual.json");
  veps["subsets"].array_ptr()->at(0)["addresses"].array_ptr()->at(0)["ip"] = "10.96.0.1";
  CHECK(h.sync(kEndpoints, veps).status == VCP_OK);
  veps["subsets"].array_ptr()->at(0)["addresses"].array_ptr()->at(0)["ip"] = "169.254.169.254";
  CHECK(h.sync(kEndpoints, veps).status == VCP_REFUSED);
  Harness bad(Settings{{"sync.endpoints.deniedCIDRs", R"(["10.96.0.0"])"}}, VCP_ERROR);
  CHECK(bad.host.last_error.find("sync.endpoints.deniedCIDRs: \"10.96.0.0\" is not an address range") !=
        std::string::npos);
}
