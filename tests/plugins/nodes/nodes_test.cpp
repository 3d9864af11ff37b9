// Golden and behaviour tests of the real nodes plugin shared object: the test dlopens libvcp-nodes.so (path
// in VCP_NODES_PLUGIN), takes its descriptor through vcp_plugin_entry_v1 and drives its hooks against
// FakeHost. The golden files (golden/host-node.json in, fake.virtual.json and real.virtual.json out) were
// written from vcluster-behaviour.md §7 and the plugin README, with the made-up IDs computed by Python's
// hashlib, not copied from the plugin's output.
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

using nodes_test::FakeHost;
using vc::json::Value;

namespace {

enum : uint32_t { kNodes = 0, kPods = 1 };
const std::string kNode = "ip-10-0-1-17.eu-west-1.compute.internal";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Value parse_or_fail(const std::string& text) {
  std::string err;
  auto v = vc::json::parse(text, &err);
  REQUIRE_MESSAGE(v.has_value(), "invalid JSON: " << err);
  return *v;
}

Value golden(const std::string& name) {
  const char* d = std::getenv("VCP_NODES_GOLDEN");
  return parse_or_fail(slurp(std::string(d ? d : "tests/plugins/nodes/golden") + "/" + name));
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

// What the API server adds to a node the syncer created: identity and version.
Value as_stored(Value node, const std::string& rv = "100") {
  node["metadata"]["uid"] = "9d3b7a52-1c1e-4f0a-8d57-6c5a4b3c2d1e";
  node["metadata"]["resourceVersion"] = rv;
  node["metadata"]["creationTimestamp"] = "2024-05-01T10:00:01Z";
  return node;
}

// Sets the heartbeat of every condition of a node's status.
void set_heartbeat(Value& node, const std::string& t) {
  Value* conds = node.at({"status"})->find("conditions");
  REQUIRE(conds != nullptr);
  for (size_t i = 0; i < conds->size(); i++) (*conds->array_ptr())[i]["lastHeartbeatTime"] = t;
}

Value& condition(Value& node, const std::string& type) {
  Value* conds = node.at({"status"})->find("conditions");
  for (auto& c : *conds->array_ptr())
    if (c.find("type")->as_string() == type) return c;
  FAIL("no condition " << type);
  return *conds;
}

// One loaded plugin instance with its fake engine, configured before on_init as the engine does.
class Harness {
 public:
  explicit Harness(std::map<std::string, std::string> config = {})
      : host("my-vcluster", "vcluster-my-vcluster") {
    host.config = std::move(config);
    const char* path = std::getenv("VCP_NODES_PLUGIN");
    REQUIRE_MESSAGE(path != nullptr, "set VCP_NODES_PLUGIN to the path of libvcp-nodes.so");
    dl_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(dl_ != nullptr, "dlopen " << path << ": " << dlerror());
    auto entry = reinterpret_cast<vcp_plugin_entry_v1_fn>(dlsym(dl_, VCP_ENTRY_SYMBOL));
    const bool has_entry = entry != nullptr;
    REQUIRE_MESSAGE(has_entry, "no " VCP_ENTRY_SYMBOL " in " << path);
    plugin = entry();
    REQUIRE(plugin != nullptr);
    REQUIRE(plugin->abi_major == VCP_ABI_MAJOR);
    init_status = plugin->on_init(host.api(), host.ctx(), &state_);
  }
  ~Harness() {
    if (plugin && plugin->on_shutdown && init_status == VCP_OK) plugin->on_shutdown(state_);
    if (dl_) dlclose(dl_);
  }

  // A virtual pod in the cache (and so in the plugin's pods-by-node index).
  void add_pod(const Value& pod) { host.put(VCP_SIDE_VIRTUAL, kPods, vc::json::dump(pod)); }

  Result sync(const Value& hnode, const Value* vnode = nullptr) {
    return call(plugin->on_sync, hnode, vnode);
  }
  Result back_sync(const Value& hnode, const Value& vnode) {
    return call(plugin->on_back_sync, hnode, &vnode);
  }
  Result remove(const Value& vnode) {
    std::string tgt = vc::json::dump(vnode);
    name_ = vnode.at({"metadata"})->find("name")->as_string();
    vcp_sync_args a = args(std::string(), tgt);
    std::string out;
    vcp_status st = plugin->on_delete(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }
  void event(vcp_event_type type, const Value& pod, const Value* old = nullptr) {
    std::string text = vc::json::dump(pod);
    std::string old_text = old ? vc::json::dump(*old) : std::string();
    vcp_event ev{};
    ev.struct_size = sizeof ev;
    ev.resource = kPods;
    ev.side = VCP_SIDE_VIRTUAL;
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
  vcp_sync_args args(const std::string& source, const std::string& target) {
    vcp_sync_args a{};
    a.struct_size = sizeof a;
    a.resource = kNodes;
    a.source_name = {name_.data(), name_.size()};
    a.source = {source.data(), source.size()};
    a.target = {target.data(), target.size()};
    a.target_name = {name_.data(), name_.size()};
    return a;
  }
  template <typename Hook>
  Result call(Hook hook, const Value& hnode, const Value* vnode) {
    std::string src = vc::json::dump(hnode);
    std::string tgt = vnode ? vc::json::dump(*vnode) : std::string();
    name_ = hnode.at({"metadata"})->find("name")->as_string();
    vcp_sync_args a = args(src, tgt);
    std::string out;
    vcp_status st = hook(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }

  void* dl_ = nullptr;
  void* state_ = nullptr;
  std::string name_;
};

using Conf = std::map<std::string, std::string>;
const Conf kReal = {{"sync.nodes.enabled", "true"}};

// Creates the virtual node for `hnode` as the engine would (on_sync with no target), and returns it as
// the API server stores it.
Value created(Harness& h, const Value& hnode) {
  Result r = h.sync(hnode);
  INFO("plugin error: " << h.host.last_error);
  REQUIRE(r.status == VCP_OK);
  return as_stored(parse_or_fail(r.out));
}

}  // namespace

TEST_CASE("the descriptor declares nodes (to virtual, same name, status) and watches virtual pods") {
  Harness h;
  REQUIRE(h.init_status == VCP_OK);
  REQUIRE(h.plugin->resource_count == 2);
  const vcp_resource& nodes = h.plugin->resources[kNodes];
  CHECK(std::string(nodes.resource) == "nodes");
  CHECK(nodes.role == VCP_ROLE_TO_VIRTUAL);
  CHECK(nodes.name_mapping == VCP_NAME_SAME);
  CHECK(nodes.flags == VCP_RES_STATUS);  // cluster-scoped: no VCP_RES_NAMESPACED
  const vcp_resource& pods = h.plugin->resources[kPods];
  CHECK(std::string(pods.resource) == "pods");
  CHECK(pods.role == VCP_ROLE_WATCH_VIRTUAL);
  // The pods-by-node index is registered on the virtual pods cache during on_init.
  REQUIRE(h.host.indexes.size() == 1);
  CHECK(h.host.indexes[0].resource == kPods);
  CHECK(h.host.indexes[0].side == VCP_SIDE_VIRTUAL);
  // vcluster's keys and defaults.
  std::map<std::string, std::string> defaults;
  for (uint32_t i = 0; i < h.plugin->config_key_count; i++)
    defaults[h.plugin->config_keys[i].path] = h.plugin->config_keys[i].default_value;
  CHECK(defaults == std::map<std::string, std::string>{{"sync.nodes.enabled", "false"},
                                                       {"sync.nodes.syncAllNodes", "false"},
                                                       {"sync.nodes.nodeSelector", "\"\""},
                                                       {"sync.nodes.enableScheduler", "false"},
                                                       {"sync.nodes.syncNodeChanges", "false"},
                                                       {"sync.nodes.clearImageStatus", "false"},
                                                       {"sync.fake-nodes.enabled", "true"},
                                                       {"sync.nodes.kubeletAddress", "\"\""}});
}

TEST_CASE("golden: a fake node for the host node a virtual pod runs on") {
  Harness h;
  h.add_pod(golden("pod-on-node.json"));
  Result r = h.sync(golden("host-node.json"));
  INFO("plugin error: " << h.host.last_error);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), golden("fake.virtual.json"));
  CHECK(h.host.writes.empty());  // one POST by the engine makes the whole node, status included
}

TEST_CASE("fake mode: a node no virtual pod needs is skipped, so the engine deletes its virtual node") {
  Harness h;
  Value host = golden("host-node.json");
  SUBCASE("no pod at all") {
    CHECK(h.sync(host).status == VCP_SKIP);
  }
  SUBCASE("only a DaemonSet's pod, which never keeps a node") {
    Value pod = golden("pod-on-node.json");
    (*pod["metadata"]["ownerReferences"].array_ptr())[0]["kind"] = "DaemonSet";
    h.add_pod(pod);
    Value vnode = as_stored(golden("fake.virtual.json"));
    CHECK(h.sync(host, &vnode).status == VCP_SKIP);
  }
  SUBCASE("a pod on another node") {
    Value pod = golden("pod-on-node.json");
    pod["spec"]["nodeName"] = "ip-10-0-2-4.eu-west-1.compute.internal";
    h.add_pod(pod);
    CHECK(h.sync(host).status == VCP_SKIP);
  }
  CHECK(h.host.writes.empty());
}

TEST_CASE("fake mode: a node name too long for a label gets vcluster's hashed hostname label") {
  Harness h;
  Value host = golden("host-node.json");
  const std::string name =
      "gke-production-cluster-high-memory-pool-7f3c9a1b-x2k4.europe-west4-a.c.example-project.internal";
  host["metadata"]["name"] = name;
  Value pod = golden("pod-on-node.json");
  pod["spec"]["nodeName"] = name;
  h.add_pod(pod);
  Result r = h.sync(host);
  REQUIRE(r.status == VCP_OK);
  Value node = parse_or_fail(r.out);
  const std::string& label = node.at({"metadata", "labels"})->find("kubernetes.io/hostname")->as_string();
  // FakeHost's safe_concat hashes with OpenSSL, independently of the plugin's own SHA-256.
  CHECK(label == FakeHost::safe_concat({"fake", name}));
  CHECK(label.size() <= 63);
  CHECK(
      node.at({"status"})->find("addresses")->items()[0].find("address")->as_string() ==
      "gke-production-cluster-high-memory-pool-7f3c9a1b-x2k4-europe-west4-a-c-example-project-internal.nodes."
      "vcluster.com");
}

TEST_CASE("fake mode: a host node without status gets vcluster's generic capacity") {
  Harness h;
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  host.erase("status");
  Result r = h.sync(host);
  REQUIRE(r.status == VCP_OK);
  Value node = parse_or_fail(r.out);
  check_same(*node.at({"status", "capacity"}),
             parse_or_fail(R"({"cpu":"16","memory":"32Gi","ephemeral-storage":"100Gi","hugepages-1Gi":"0",
                              "hugepages-2Mi":"0","pods":"110"})"));
  check_same(*node.at({"status", "allocatable"}), *node.at({"status", "capacity"}));
  // Without a host heartbeat the conditions carry the syncer's clock, which parses as a time.
  CHECK(condition(node, "Ready").find("lastHeartbeatTime")->as_string().size() == 20);
}

TEST_CASE("golden: a real node copies the host node, hiding its internal addresses") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Result r = h.sync(golden("host-node.json"));
  INFO("plugin error: " << h.host.last_error);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), golden("real.virtual.json"));
}

TEST_CASE("real mode: which host nodes are synced") {
  Value host = golden("host-node.json");
  SUBCASE("by default only nodes virtual pods use") {
    Harness h(kReal);
    CHECK(h.sync(host).status == VCP_SKIP);
    h.add_pod(golden("pod-on-node.json"));
    CHECK(h.sync(host).status == VCP_OK);
  }
  SUBCASE("syncAllNodes: every node, used or not") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.syncAllNodes", "true"}});
    CHECK(h.sync(host).status == VCP_OK);
  }
  SUBCASE("a selector selects exactly the matching nodes, used or not") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.nodeSelector", "team=payments"}});
    CHECK(h.sync(host).status == VCP_OK);
    Value other = host;
    other["metadata"]["labels"]["team"] = "search";
    h.add_pod(golden("pod-on-node.json"));  // a pod on it does not make a non-matching node appear
    CHECK(h.sync(other).status == VCP_SKIP);
  }
  SUBCASE("set-based and existence terms") {
    Harness h(Conf{
        {"sync.nodes.enabled", "true"},
        {"sync.nodes.nodeSelector", "topology.kubernetes.io/zone in (eu-west-1a, eu-west-1b),!legacy,team"}});
    CHECK(h.sync(host).status == VCP_OK);
    Value c = host;
    c["metadata"]["labels"]["topology.kubernetes.io/zone"] = "eu-west-1c";
    CHECK(h.sync(c).status == VCP_SKIP);
    Value legacy = host;
    legacy["metadata"]["labels"]["legacy"] = "";
    CHECK(h.sync(legacy).status == VCP_SKIP);
    Value no_team = host;
    no_team["metadata"]["labels"].erase("team");
    CHECK(h.sync(no_team).status == VCP_SKIP);
  }
  SUBCASE("!= and notin also match nodes without the label") {
    Harness h(
        Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.nodeSelector", "gpu!=true,tier notin (spot)"}});
    CHECK(h.sync(host).status == VCP_OK);
    Value spot = host;
    spot["metadata"]["labels"]["tier"] = "spot";
    CHECK(h.sync(spot).status == VCP_SKIP);
  }
  SUBCASE("syncAllNodes wins over a selector, as in vcluster") {
    Harness h(Conf{{"sync.nodes.enabled", "true"},
                   {"sync.nodes.syncAllNodes", "true"},
                   {"sync.nodes.nodeSelector", "team=search"}});
    CHECK(h.sync(host).status == VCP_OK);
  }
  SUBCASE("enableScheduler without a selector shows every node") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.enableScheduler", "true"}});
    CHECK(h.sync(host).status == VCP_OK);
  }
}

TEST_CASE("with the syncer's kubelet endpoint, fake and real nodes advertise it as InternalIP and port") {
  for (bool real : {false, true}) {
    CAPTURE(real);
    Conf conf{{"sync.nodes.kubeletAddress", "127.0.0.1:41234"}};
    if (real) conf["sync.nodes.enabled"] = "true";
    Harness h(conf);
    REQUIRE(h.init_status == VCP_OK);
    h.add_pod(golden("pod-on-node.json"));
    Result r = h.sync(golden("host-node.json"));
    INFO("plugin error: " << h.host.last_error);
    REQUIRE(r.status == VCP_OK);
    Value node = parse_or_fail(r.out);
    // Everything but the addresses and the port is the golden node of that mode.
    Value expected = golden(real ? "real.virtual.json" : "fake.virtual.json");
    Value& st = expected["status"];
    Value addrs = Value::array();
    Value ip = Value::object();
    ip["type"] = "InternalIP";
    ip["address"] = "127.0.0.1";
    addrs.push_back(std::move(ip));
    for (const Value& a : st["addresses"].items()) addrs.push_back(a);
    st["addresses"] = std::move(addrs);
    st["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 41234;
    check_same(node, expected);
  }
}

TEST_CASE("configurations vcluster refuses stop the plugin from starting, with a sentence") {
  SUBCASE("a kubelet address that is not IP:PORT") {
    Harness h(Conf{{"sync.nodes.kubeletAddress", "localhost:10250"}});
    CHECK(h.init_status == VCP_ERROR);
    CHECK(h.host.last_error ==
          "sync.nodes.kubeletAddress: \"localhost\" is not an IP address (a node's InternalIP must be one)");
    Harness p(Conf{{"sync.nodes.kubeletAddress", "127.0.0.1:70000"}});
    CHECK(p.init_status == VCP_ERROR);
    CHECK(p.host.last_error.find("is not between 1 and 65535") != std::string::npos);
  }
  SUBCASE("syncAllNodes without real nodes") {
    Harness h(Conf{{"sync.nodes.syncAllNodes", "true"}});
    CHECK(h.init_status == VCP_ERROR);
    CHECK(h.host.last_error.find("sync.nodes.syncAllNodes: true needs sync.nodes.enabled: true") == 0);
  }
  SUBCASE("enableScheduler without real nodes") {
    Harness h(Conf{{"sync.nodes.enableScheduler", "true"}});
    CHECK(h.init_status == VCP_ERROR);
    CHECK(h.host.last_error.find("sync.nodes.enableScheduler: true needs sync.nodes.enabled: true") == 0);
  }
  SUBCASE("a malformed selector names its term") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.nodeSelector", "team=payments,zone > 3"}});
    CHECK(h.init_status == VCP_ERROR);
    CHECK(h.host.last_error ==
          "sync.nodes.nodeSelector: the node selector term \"zone > 3\" is not a label selector requirement "
          "(key, "
          "!key, key=value, key!=value, key in (...), key notin (...))");
  }
  SUBCASE("unbalanced parentheses") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.nodeSelector", "zone in (a,b"}});
    CHECK(h.init_status == VCP_ERROR);
    CHECK(h.host.last_error ==
          "sync.nodes.nodeSelector: the node selector \"zone in (a,b\" has unbalanced parentheses");
  }
}

TEST_CASE("heartbeats alone write nothing until the virtual heartbeat is 5 minutes old") {
  for (bool real : {false, true}) {
    CAPTURE(real);
    Harness h(real ? kReal : std::map<std::string, std::string>{});
    h.add_pod(golden("pod-on-node.json"));
    Value host = golden("host-node.json");
    Value vnode = created(h, host);

    // Seven heartbeats of a kubelet that posts every 40 s (nodesim's default), up to 4m40s: no write.
    for (int beat = 1; beat <= 7; beat++) {
      Value later = host;
      later["metadata"]["resourceVersion"] = std::to_string(48213 + beat);
      set_heartbeat(later, "2024-05-01T10:0" + std::to_string(beat * 40 / 60) + ":" +
                               (beat * 40 % 60 < 10 ? "0" : "") + std::to_string(beat * 40 % 60) + "Z");
      Result r = h.sync(later, &vnode);
      CHECK(r.status == VCP_NO_CHANGE);
    }
    CHECK(h.host.writes.empty());

    // At 5 minutes the heartbeat is refreshed, once, through the status subresource.
    Value due = host;
    set_heartbeat(due, "2024-05-01T10:05:00Z");
    CHECK(h.sync(due, &vnode).status == VCP_NO_CHANGE);
    REQUIRE(h.host.writes.size() == 1);
    const auto& w = h.host.writes[0];
    CHECK(w.side == VCP_SIDE_VIRTUAL);
    CHECK(w.resource == kNodes);
    CHECK(w.verb == VCP_VERB_UPDATE);
    CHECK(w.name == kNode);
    CHECK(w.subresource == "status");
    CHECK(w.wake_name == kNode);
    Value body = parse_or_fail(w.body);
    CHECK(body.at({"metadata"})->find("resourceVersion")->as_string() == "100");  // optimistic concurrency
    CHECK(condition(body, "Ready").find("lastHeartbeatTime")->as_string() == "2024-05-01T10:05:00Z");
    // The condition did not change, so its transition time stays.
    CHECK(condition(body, "Ready").find("lastTransitionTime")->as_string() ==
          condition(vnode, "Ready").find("lastTransitionTime")->as_string());
  }
}

TEST_CASE("heartbeat times with offsets and fractions compare as instants") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  Value vnode = created(h, host);
  set_heartbeat(vnode, "2024-05-01T12:00:00.250+02:00");  // 10:00:00.25Z
  Value host2 = host;
  set_heartbeat(host2, "2024-05-01T10:04:59Z");
  CHECK(h.sync(host2, &vnode).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.empty());
  set_heartbeat(host2, "2024-05-01T10:05:01Z");
  CHECK(h.sync(host2, &vnode).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == 1);
}

TEST_CASE("meaningful status changes are written at once") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  Value vnode = created(h, host);
  Value changed = host;
  set_heartbeat(changed, "2024-05-01T10:00:40Z");
  SUBCASE("the node turns NotReady") {
    condition(changed, "Ready")["status"] = "False";
    condition(changed, "Ready")["reason"] = "KubeletNotReady";
  }
  SUBCASE("a condition's reason changes") {
    condition(changed, "DiskPressure")["reason"] = "KubeletHasDiskPressure";
  }
  SUBCASE("allocatable shrinks") {
    changed["status"]["allocatable"]["pods"] = "50";
  }
  SUBCASE("a new image is pulled") {
    Value img = parse_or_fail(R"({"names":["docker.io/library/busybox:latest"],"sizeBytes":1234000})");
    changed["status"]["images"].push_back(img);
  }
  SUBCASE("the kubelet is upgraded") {
    changed["status"]["nodeInfo"]["kubeletVersion"] = "v1.20.15";
  }
  SUBCASE("a public address is added") {
    changed["status"]["addresses"].push_back(
        parse_or_fail(R"({"type":"ExternalIP","address":"54.171.20.34"})"));
  }
  CHECK(h.sync(changed, &vnode).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);
  Value body = parse_or_fail(h.host.writes[0].body);
  // The whole new status, translated as on create (a fresh instance: this one has the write in flight),
  // on the current object, so the PUT carries its resourceVersion.
  Harness fresh(kReal);
  fresh.add_pod(golden("pod-on-node.json"));
  Value expected = vnode;
  expected["status"] = created(fresh, changed)["status"];
  check_same(body, expected);
}

TEST_CASE("status changes the virtual node does not show cause no write") {
  SUBCASE("fake mode hides the host's addresses, images and condition messages") {
    Harness h;
    h.add_pod(golden("pod-on-node.json"));
    Value host = golden("host-node.json");
    Value vnode = created(h, host);
    Value changed = host;
    changed["status"]["images"] = Value::array();
    changed["status"]["addresses"] = parse_or_fail(R"([{"type":"InternalIP","address":"10.0.9.9"}])");
    condition(changed, "Ready")["message"] = "kubelet is posting ready status. AppArmor enabled";
    CHECK(h.sync(changed, &vnode).status == VCP_NO_CHANGE);
    CHECK(h.host.writes.empty());
  }
  SUBCASE("clearImageStatus leaves images out") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.clearImageStatus", "true"}});
    h.add_pod(golden("pod-on-node.json"));
    Value host = golden("host-node.json");
    Value vnode = created(h, host);
    CHECK(vnode.at({"status"})->find("images") == nullptr);
    Value changed = host;
    changed["status"]["images"].push_back(parse_or_fail(R"({"names":["busybox"],"sizeBytes":1})"));
    CHECK(h.sync(changed, &vnode).status == VCP_NO_CHANGE);
    CHECK(h.host.writes.empty());
  }
}

TEST_CASE("a status write in flight is not repeated, and a failed one is retried with backoff") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  Value vnode = created(h, host);
  Value changed = host;
  condition(changed, "Ready")["status"] = "False";
  CHECK(h.sync(changed, &vnode).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);
  CHECK(h.sync(changed, &vnode).status == VCP_NO_CHANGE);  // woken by another event while in flight
  CHECK(h.host.writes.size() == 1);
  h.host.finish(
      h.host.writes[0].id, 409,
      R"({"kind":"Status","message":"Operation cannot be fulfilled on nodes \"x\": the object has been modified"})");
  CHECK(h.sync(changed, &vnode).status == VCP_RETRY);
  CHECK(h.host.last_error.find("updating the status of virtual node " + kNode +
                               " answered HTTP 409: Operation") == 0);
  CHECK(h.host.writes.size() == 1);
  // The retry recomputes from the (now fresh) cache and writes again.
  CHECK(h.sync(changed, &vnode).status == VCP_NO_CHANGE);
  CHECK(h.host.writes.size() == 2);
}

TEST_CASE("real mode: metadata and spec follow the host, status untouched in the same write") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  Value vnode = created(h, host);
  // The tenant labels the virtual node; the host adds one label and drops another.
  vnode["metadata"]["labels"]["tenant.example.com/pool"] = "blue";
  Value changed = host;
  changed["metadata"]["labels"]["node.kubernetes.io/exclude-from-external-load-balancers"] = "";
  changed["metadata"]["labels"].erase("team");
  changed["spec"]["unschedulable"] = true;
  condition(changed, "Ready")["status"] = "False";  // a status change waits for the next pass
  Result r = h.sync(changed, &vnode);
  REQUIRE(r.status == VCP_OK);
  CHECK(h.host.writes.empty());
  Value put = parse_or_fail(r.out);
  const Value& labels = *put.at({"metadata", "labels"});
  CHECK(labels.find("team") == nullptr);
  CHECK(labels.find("node.kubernetes.io/exclude-from-external-load-balancers") != nullptr);
  CHECK(labels.find("tenant.example.com/pool")->as_string() == "blue");  // vcluster keeps tenant keys
  CHECK(put.at({"metadata", "annotations"})->find("vcluster.loft.sh/managed-labels")->as_string() ==
        "beta.kubernetes.io/arch\nbeta.kubernetes.io/os\nkubernetes.io/arch\nkubernetes.io/"
        "hostname\nkubernetes.io/"
        "os\nnode.kubernetes.io/exclude-from-external-load-balancers\nnode.kubernetes.io/"
        "instance-type\ntopology."
        "kubernetes.io/region\ntopology.kubernetes.io/zone");
  CHECK(put.at({"spec"})->find("unschedulable")->as_bool());
  check_same(*put.find("status"), *vnode.find("status"));
  CHECK(put.at({"metadata"})->find("resourceVersion")->as_string() == "100");
}

TEST_CASE("real mode without a virtual scheduler: taints are the host's") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  Value vnode = created(h, host);
  vnode["spec"]["taints"].push_back(parse_or_fail(R"({"key":"tenant","value":"x","effect":"NoSchedule"})"));
  Result r = h.sync(host, &vnode);
  REQUIRE(r.status == VCP_OK);
  check_same(*parse_or_fail(r.out).at({"spec", "taints"}), *host.at({"spec", "taints"}));
}

TEST_CASE("enableScheduler: tenant labels and taints stay virtual and are kept; host removals propagate") {
  Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.enableScheduler", "true"}});
  Value host = golden("host-node.json");
  host["spec"]["taints"].push_back(parse_or_fail(
      R"({"key":"node.kubernetes.io/unreachable","effect":"NoExecute","timeAdded":"2024-05-01T09:59:00Z"})"));
  Value vnode = created(h, host);
  // Taints as Go's json.Marshal writes them, for compatibility with nodes vcluster synced before.
  CHECK(
      vnode.at({"metadata", "annotations"})->find("vcluster.loft.sh/original-taints")->as_string() ==
      R"(["{\"key\":\"dedicated\",\"value\":\"payments\",\"effect\":\"NoSchedule\"}","{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\",\"timeAdded\":\"2024-05-01T09:59:00Z\"}"])");
  CHECK(h.sync(host, &vnode).status == VCP_NO_CHANGE);  // stable

  vnode["metadata"]["labels"]["gpu"] = "a100";
  vnode["spec"]["taints"].push_back(parse_or_fail(R"({"key":"tenant-only","effect":"PreferNoSchedule"})"));
  CHECK(h.sync(host, &vnode).status == VCP_NO_CHANGE);  // kept: nothing to write
  CHECK(h.host.writes.empty());
  CHECK(h.back_sync(host, vnode).status == VCP_NO_CHANGE);  // and nothing reaches the host

  Value healed = host;
  (*healed["spec"]["taints"].array_ptr()).pop_back();  // the host drops the unreachable taint
  Result r = h.sync(healed, &vnode);
  REQUIRE(r.status == VCP_OK);
  Value put = parse_or_fail(r.out);
  check_same(*put.at({"spec", "taints"}),
             parse_or_fail(R"([{"key":"dedicated","value":"payments","effect":"NoSchedule"},
                              {"key":"tenant-only","effect":"PreferNoSchedule"}])"));
  CHECK(put.at({"metadata", "labels"})->find("gpu")->as_string() == "a100");
  CHECK(put.at({"metadata", "annotations"})->find("vcluster.loft.sh/original-taints")->as_string() ==
        R"(["{\"key\":\"dedicated\",\"value\":\"payments\",\"effect\":\"NoSchedule\"}"])");
}

TEST_CASE("syncNodeChanges: labels and taints the tenant adds reach the host node") {
  Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.syncNodeChanges", "true"}});
  h.add_pod(golden("pod-on-node.json"));
  Value host = golden("host-node.json");
  Value vnode = created(h, host);
  CHECK(h.back_sync(host, vnode).status == VCP_NO_CHANGE);
  vnode["metadata"]["labels"]["tenant.example.com/pool"] = "blue";
  vnode["metadata"]["labels"]["team"] = "search";  // a host key: the host's value wins, nothing goes back
  vnode["spec"]["taints"].push_back(parse_or_fail(R"({"key":"maintenance","effect":"NoSchedule"})"));
  Result r = h.back_sync(host, vnode);
  REQUIRE(r.status == VCP_OK);
  Value updated = parse_or_fail(r.out);
  Value expected = host;
  expected["metadata"]["labels"]["tenant.example.com/pool"] = "blue";
  expected["spec"]["taints"].push_back(parse_or_fail(R"({"key":"maintenance","effect":"NoSchedule"})"));
  check_same(updated, expected);
}

TEST_CASE("a virtual node of the other mode is replaced, not merged") {
  Harness h(kReal);
  h.add_pod(golden("pod-on-node.json"));
  Value fake = as_stored(golden("fake.virtual.json"));
  CHECK(h.sync(golden("host-node.json"), &fake).status == VCP_NO_CHANGE);
  REQUIRE(h.host.writes.size() == 1);
  CHECK(h.host.writes[0].verb == VCP_VERB_DELETE);
  CHECK(h.host.writes[0].side == VCP_SIDE_VIRTUAL);
  CHECK(parse_or_fail(h.host.writes[0].body).at({"preconditions"})->find("uid")->as_string() ==
        "9d3b7a52-1c1e-4f0a-8d57-6c5a4b3c2d1e");
  CHECK(h.sync(golden("host-node.json"), &fake).status == VCP_NO_CHANGE);  // in flight: once
  CHECK(h.host.writes.size() == 1);
  h.host.finish(h.host.writes[0].id, 404, "");      // gone already counts as done
  Result after = h.sync(golden("host-node.json"));  // its DELETED event: no target now
  CHECK(after.status == VCP_OK);
}

TEST_CASE(
    "a virtual node whose host node is gone is deleted with a uid precondition, unless syncing is off") {
  {
    Harness h;
    Result r = h.remove(as_stored(golden("fake.virtual.json")));
    CHECK(r.status == VCP_OK);
    CHECK(parse_or_fail(r.out).at({"preconditions"})->find("uid")->as_string() ==
          "9d3b7a52-1c1e-4f0a-8d57-6c5a4b3c2d1e");
  }
  {
    Harness h(Conf{{"sync.fake-nodes.enabled", "false"}});
    CHECK(h.remove(as_stored(golden("fake.virtual.json"))).status == VCP_SKIP);
    CHECK(h.sync(golden("host-node.json")).status == VCP_NO_CHANGE);  // and nothing is created
  }
}

TEST_CASE("pod events enqueue the node a pod lands on or leaves, and ignore status churn") {
  Harness h;
  Value pod = golden("pod-on-node.json");
  Value pending = pod;
  pending["spec"].erase("nodeName");
  h.event(VCP_EVENT_ADDED, pending);
  CHECK(h.host.enqueued.empty());
  h.event(VCP_EVENT_MODIFIED, pod, &pending);  // the binding
  REQUIRE(h.host.enqueued.size() == 1);
  CHECK(h.host.enqueued[0].resource == kNodes);
  CHECK(h.host.enqueued[0].ns.empty());
  CHECK(h.host.enqueued[0].name == kNode);
  Value running = pod;
  running["status"]["podIP"] = "10.244.3.7";
  h.event(VCP_EVENT_MODIFIED, running, &pod);
  CHECK(h.host.enqueued.size() == 1);
  h.event(VCP_EVENT_DELETED, running);
  REQUIRE(h.host.enqueued.size() == 2);
  CHECK(h.host.enqueued[1].name == kNode);
}

TEST_CASE("the not-ready taint the API server adds to every new node is taken off; tenant taints stay") {
  // TaintNodesByCondition admission (on by default since v1.17) taints each created node
  // node.kubernetes.io/not-ready, and the virtual cluster has no node-lifecycle controller to remove it.
  const Value admission = parse_or_fail(R"({"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"})");
  const Value tenant = parse_or_fail(R"({"key":"tenant-only","effect":"PreferNoSchedule"})");
  SUBCASE("fake node") {
    Harness h;
    h.add_pod(golden("pod-on-node.json"));
    Value vnode = created(h, golden("host-node.json"));
    vnode["spec"]["taints"].push_back(admission);
    Result r = h.sync(golden("host-node.json"), &vnode);
    REQUIRE(r.status == VCP_OK);
    CHECK(parse_or_fail(r.out).at({"spec"})->find("taints") == nullptr);
    vnode["spec"]["taints"].push_back(tenant);
    r = h.sync(golden("host-node.json"), &vnode);
    REQUIRE(r.status == VCP_OK);
    check_same(*parse_or_fail(r.out).at({"spec", "taints"}),
               parse_or_fail("[" + vc::json::dump(tenant) + "]"));
  }
  SUBCASE("real node with a virtual scheduler") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.enableScheduler", "true"}});
    Value host = golden("host-node.json");
    Value vnode = created(h, host);
    vnode["spec"]["taints"].push_back(admission);
    vnode["spec"]["taints"].push_back(tenant);
    Result r = h.sync(host, &vnode);
    REQUIRE(r.status == VCP_OK);
    check_same(*parse_or_fail(r.out).at({"spec", "taints"}),
               parse_or_fail(R"([{"key":"dedicated","value":"payments","effect":"NoSchedule"},)" +
                             vc::json::dump(tenant) + "]"));
  }
  SUBCASE("syncNodeChanges never writes Kubernetes' own taints to the host") {
    Harness h(Conf{{"sync.nodes.enabled", "true"}, {"sync.nodes.syncNodeChanges", "true"}});
    h.add_pod(golden("pod-on-node.json"));
    Value host = golden("host-node.json");
    Value vnode = created(h, host);
    vnode["spec"]["taints"].push_back(admission);
    CHECK(h.back_sync(host, vnode).status == VCP_NO_CHANGE);
  }
}
