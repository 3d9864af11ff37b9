// Golden and behaviour tests of the real networkpolicy plugin shared object: the test dlopens
// libvcp-networkpolicy.so (path in VCP_NETWORKPOLICY_PLUGIN), takes its descriptor through
// vcp_plugin_entry_v1 and drives its hooks against FakeHost, playing the engine's part. The golden files
// (golden/*.json) were written from vcluster-behaviour.md §1.4, §2 and §8.1, with names and label keys
// computed independently (Python's hashlib), not copied from the plugin's output; the single-rule cases
// below spell their expected keys out the same way, one rule of §8.1 each.
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

using networkpolicy_test::FakeHost;
using vc::json::Value;

namespace {

const std::string kVc = "my-vcluster";
const std::string kHostNs = "vcluster-my-vcluster";
const std::string kManagedBy = "vcluster.loft.sh/managed-by";
const std::string kNamespace = "vcluster.loft.sh/namespace";
// Host keys, computed with Python's hashlib: safe_concat("vcluster.loft.sh/label", "my-vcluster", "x",
// sha256(key)[0:10]) for pod label keys, and the same under "vcluster.loft.sh/ns-label" for the keys the
// pods plugin gives a pod's Namespace labels (§1.4 examples 9 and 10, with this suffix).
const std::string kApp = "vcluster.loft.sh/label-my-vcluster-x-a172cedcae";
const std::string kTier = "vcluster.loft.sh/label-my-vcluster-x-e29ccc00b2";
const std::string kRole = "vcluster.loft.sh/label-my-vcluster-x-4b168d88dc";
const std::string kNsTeam = "vcluster.loft.sh/ns-label-my-vcluster-x-ca8b22d0db";
const std::string kNsEnv = "vcluster.loft.sh/ns-label-my-vcluster-x-b77349bf1f";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string golden_dir() {
  const char* d = std::getenv("VCP_NETWORKPOLICY_GOLDEN");
  return d ? d : "tests/plugins/networkpolicy/golden";
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
             << vc::json::dump(actual) << "\nexpected:\n"
             << vc::json::dump(expected));
}

// The member at `path`, failing the test (not crashing it) when it is missing.
const Value& member(const Value& v, std::initializer_list<std::string_view> path) {
  const Value* p = v.at(path);
  REQUIRE_MESSAGE(p != nullptr, "missing member in " << vc::json::dump(v));
  return *p;
}

struct Result {
  vcp_status status;
  std::string out;
};

class Harness {
 public:
  explicit Harness(std::string enabled = "true", bool abi_1_0 = false, vcp_status expect_init = VCP_OK)
      : host(kVc, kHostNs) {
    host.config["sync.networkpolicies.enabled"] = std::move(enabled);
    if (abi_1_0) host.as_abi_1_0();
    const char* path = std::getenv("VCP_NETWORKPOLICY_PLUGIN");
    REQUIRE_MESSAGE(path != nullptr, "set VCP_NETWORKPOLICY_PLUGIN to the path of libvcp-networkpolicy.so");
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

  // One hook call as the engine makes it for virtual policy ns/name (target <name>-x-<ns>-x-my-vcluster).
  Result call(vcp_status (*hook)(void*, const vcp_sync_args*, vcp_buf*), const std::string& ns,
              const std::string& name, const Value* source, const Value* target) {
    std::string src = source ? vc::json::dump(*source) : "", tgt = target ? vc::json::dump(*target) : "";
    std::string tname = FakeHost::safe_concat({name, "x", ns, "x", kVc});
    vcp_sync_args a{};
    a.struct_size = sizeof a;
    a.resource = 0;
    a.source_namespace = {ns.data(), ns.size()};
    a.source_name = {name.data(), name.size()};
    a.source = {src.data(), src.size()};
    a.target = {tgt.data(), tgt.size()};
    a.target_namespace = {kHostNs.data(), kHostNs.size()};
    a.target_name = {tname.data(), tname.size()};
    std::string out;
    host.last_error.clear();
    vcp_status st = hook(state_, &a, reinterpret_cast<vcp_buf*>(&out));
    host.end_hook();
    return {st, out};
  }
  Result sync(const Value& v, const Value* h = nullptr) {
    return call(plugin->on_sync, ns_of(v), name_of(v), &v, h);
  }
  Result remove(const Value& h, const std::string& ns, const std::string& name) {
    return call(plugin->on_delete, ns, name, nullptr, &h);
  }
  // The host object the plugin asks for on create, parsed.
  Value created(const Value& v) {
    Result r = sync(v);
    REQUIRE(r.status == VCP_OK);
    return parse_or_fail(r.out);
  }

  static std::string ns_of(const Value& v) { return v.at({"metadata", "namespace"})->as_string(); }
  static std::string name_of(const Value& v) { return v.at({"metadata", "name"})->as_string(); }

  FakeHost host;
  const vcp_plugin* plugin = nullptr;
  vcp_status init_status = VCP_ERROR;

 private:
  void* dl_ = nullptr;
  void* state_ = nullptr;
};

// A virtual policy default/p with the given spec, as the virtual API server serves it.
Value policy(const std::string& spec_json, const std::string& ns = "default") {
  Value v = parse_or_fail(R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{
      "name":"p","uid":"uid-p","resourceVersion":"10"}})");
  v["metadata"]["namespace"] = ns;
  v["spec"] = parse_or_fail(spec_json);
  return v;
}

// The first ingress rule's first peer of the host policy made from `spec_json`.
Value first_ingress_peer(Harness& t, const std::string& spec_json) {
  Value h = t.created(policy(spec_json));
  const Value* peer = h.at({"spec", "ingress"});
  REQUIRE(peer != nullptr);
  REQUIRE(peer->size() == 1);
  const Value* from = (*peer)[0].find("from");
  REQUIRE(from != nullptr);
  REQUIRE(from->size() == 1);
  return (*from)[0];
}

}  // namespace

TEST_CASE("descriptor: one namespaced TO_HOST resource and sync.networkpolicies.enabled, off by default") {
  Harness t;
  const vcp_plugin* p = t.plugin;
  CHECK(std::string(p->name) == "networkpolicy");
  REQUIRE(p->resource_count == 1);
  const vcp_resource& r = p->resources[0];
  CHECK(std::string(r.group) == "networking.k8s.io");
  CHECK(std::string(r.version) == "v1");
  CHECK(std::string(r.resource) == "networkpolicies");
  CHECK(std::string(r.kind) == "NetworkPolicy");
  CHECK(r.role == VCP_ROLE_TO_HOST);
  CHECK(r.name_mapping == VCP_NAME_NAMESPACED);
  CHECK((r.flags & VCP_RES_NAMESPACED) != 0);
  // §12: UID deletion is on for every syncer but services, claims, volumes and generic importers.
  CHECK((r.flags & VCP_RES_RECREATE_ON_UID) != 0);
  CHECK((r.flags & VCP_RES_KEEP_ON_DELETE) == 0);
  REQUIRE(p->config_key_count == 1);
  CHECK(std::string(p->config_keys[0].path) == "sync.networkpolicies.enabled");
  CHECK(p->config_keys[0].type == VCP_CONF_BOOL);
  CHECK(std::string(p->config_keys[0].default_value) == "false");
}

TEST_CASE("golden: a policy with every kind of selector, peer, port and policy type (§8.1)") {
  Harness t;
  Value v = golden("policy.virtual.json");
  check_same(t.created(v), golden("policy.host.json"));
}

TEST_CASE("podSelector: keys translated as pod labels, plus namespace and managed-by") {
  Harness t;
  Value h = t.created(policy(
      R"({"podSelector":{"matchLabels":{"app":"web"},
          "matchExpressions":[{"key":"tier","operator":"NotIn","values":["db"]}]},"policyTypes":["Ingress"]})",
      "team-a"));
  Value want = Value::object();
  want["matchLabels"][kApp] = "web";
  want["matchLabels"][kNamespace] = "team-a";
  want["matchLabels"][kManagedBy] = kVc;
  want["matchExpressions"] = parse_or_fail(R"([{"key":"","operator":"NotIn","values":["db"]}])");
  want["matchExpressions"].array_ptr()->at(0)["key"] = kTier;
  check_same(member(h, {"spec", "podSelector"}), want);
}

TEST_CASE("podSelector {} (every pod of the namespace) selects the namespace's pods of this vcluster only") {
  Harness t;
  Value h = t.created(policy(R"({"podSelector":{},"policyTypes":["Ingress"]})", "team-a"));
  Value want = Value::object();
  want["matchLabels"][kNamespace] = "team-a";
  want["matchLabels"][kManagedBy] = kVc;
  check_same(member(h, {"spec", "podSelector"}), want);
}

TEST_CASE(
    "peer namespaceSelector: ns-label keys AND-merged into the podSelector, no namespaceSelector left") {
  Harness t;
  Value peer = first_ingress_peer(t, R"({"podSelector":{},"ingress":[{"from":[{
      "podSelector":{"matchLabels":{"role":"monitor"}},
      "namespaceSelector":{"matchLabels":{"team":"b"},"matchExpressions":[{"key":"env","operator":"In","values":["prod"]}]}
    }]}]})");
  Value want = Value::object();
  want["podSelector"]["matchLabels"][kRole] = "monitor";
  want["podSelector"]["matchLabels"][kNsTeam] = "b";
  want["podSelector"]["matchLabels"][kManagedBy] = kVc;
  Value expr = parse_or_fail(R"({"operator":"In","values":["prod"]})");
  expr["key"] = kNsEnv;
  want["podSelector"]["matchExpressions"].push_back(expr);
  // The namespace label is not added: the namespaceSelector says which namespaces.
  check_same(peer, want);
}

TEST_CASE("peer namespaceSelector {}: every pod of this vcluster (managed-by only)") {
  Harness t;
  Value peer = first_ingress_peer(t, R"({"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{}}]}]})");
  Value want = Value::object();
  want["podSelector"]["matchLabels"][kManagedBy] = kVc;
  check_same(peer, want);
}

TEST_CASE("peer podSelector without namespaceSelector: pods of the policy's own namespace") {
  Harness t;
  Value h = t.created(policy(
      R"({"podSelector":{},"egress":[{"to":[{"podSelector":{"matchLabels":{"role":"client"}}}]}],
          "policyTypes":["Egress"]})",
      "team-c"));
  Value want = Value::object();
  want["podSelector"]["matchLabels"][kRole] = "client";
  want["podSelector"]["matchLabels"][kNamespace] = "team-c";
  want["podSelector"]["matchLabels"][kManagedBy] = kVc;
  const Value* to = h.at({"spec", "egress"});
  REQUIRE(to != nullptr);
  REQUIRE(to->size() == 1);
  const Value* peers = (*to)[0].find("to");
  REQUIRE(peers != nullptr);
  REQUIRE(peers->size() == 1);
  check_same((*peers)[0], want);
}

TEST_CASE("peer ipBlock: copied unchanged, with its except list, and no selector added") {
  Harness t;
  Value peer = first_ingress_peer(
      t,
      R"({"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.1.0.0/16","except":["10.1.2.0/24","10.1.3.0/24"]}}]}]})");
  check_same(peer,
             parse_or_fail(R"({"ipBlock":{"cidr":"10.1.0.0/16","except":["10.1.2.0/24","10.1.3.0/24"]}})"));
}

TEST_CASE("ports and policyTypes: copied as they are (numbers, names, protocols, endPort)") {
  Harness t;
  const std::string ports =
      R"([{"protocol":"TCP","port":8080},{"protocol":"UDP","port":"dns"},{"protocol":"SCTP","port":9000,"endPort":9010}])";
  Value h =
      t.created(policy(R"({"podSelector":{},"ingress":[{"ports":)" + ports + R"(}],"egress":[{"ports":)" +
                       ports + R"(}],"policyTypes":["Ingress","Egress"]})"));
  check_same(member(h, {"spec", "ingress"}), parse_or_fail(R"([{"ports":)" + ports + "}]"));
  check_same(member(h, {"spec", "egress"}), parse_or_fail(R"([{"ports":)" + ports + "}]"));
  check_same(member(h, {"spec", "policyTypes"}), parse_or_fail(R"(["Ingress","Egress"])"));
  // An egress-only deny-all stays exactly that: no rules, one policy type.
  Value deny = t.created(policy(R"({"podSelector":{},"policyTypes":["Egress"]})"));
  CHECK(deny.at({"spec", "ingress"}) == nullptr);
  CHECK(deny.at({"spec", "egress"}) == nullptr);
  check_same(member(deny, {"spec", "policyTypes"}), parse_or_fail(R"(["Egress"])"));
}

TEST_CASE(
    "update: the host spec is replaced by the translation; server metadata and host-only annotations stay") {
  Harness t;
  Value v = golden("policy.virtual.json");
  Value h = golden("policy.host.json");
  h["metadata"]["uid"] = "host-uid-1";
  h["metadata"]["resourceVersion"] = "900";
  h["metadata"]["creationTimestamp"] = "2026-12-08T02:00:01Z";
  h["metadata"]["annotations"]["host-only"] = "kept";
  h["metadata"]["labels"]["host-only-label"] = "dropped";  // §2.2: labels have no bookkeeping
  h["metadata"]["labels"]["vcluster.loft.sh/controlled-by"] = "";
  // The virtual policy changed: another podSelector, one ingress peer, no egress.
  v["spec"] = parse_or_fail(R"({"podSelector":{"matchLabels":{"app":"api"}},
      "ingress":[{"from":[{"podSelector":{"matchLabels":{"role":"client"}}}],"ports":[{"protocol":"TCP","port":9090}]}],
      "policyTypes":["Ingress"]})");
  v["metadata"]["resourceVersion"] = "4712";
  Result r = t.sync(v, &h);
  REQUIRE(r.status == VCP_OK);
  Value got = parse_or_fail(r.out);
  Value want = h;
  want["metadata"]["labels"].erase("host-only-label");
  want["spec"] = parse_or_fail(R"({"podSelector":{"matchLabels":{}},
      "ingress":[{"from":[{"podSelector":{"matchLabels":{}}}],"ports":[{"protocol":"TCP","port":9090}]}],
      "policyTypes":["Ingress"]})");
  Value& sel = want["spec"]["podSelector"]["matchLabels"];
  sel[kApp] = "api";
  sel[kNamespace] = "team-a";
  sel[kManagedBy] = kVc;
  Value& peer =
      want["spec"]["ingress"].array_ptr()->at(0)["from"].array_ptr()->at(0)["podSelector"]["matchLabels"];
  peer[kRole] = "client";
  peer[kNamespace] = "team-a";
  peer[kManagedBy] = kVc;
  check_same(got, want);
}

TEST_CASE(
    "update: an unchanged virtual policy gives back exactly the host policy (a restart writes nothing)") {
  Harness t;
  Value h = golden("policy.host.json");
  h["metadata"]["uid"] = "host-uid-1";
  h["metadata"]["resourceVersion"] = "900";
  Result r = t.sync(golden("policy.virtual.json"), &h);
  REQUIRE(r.status == VCP_OK);
  check_same(parse_or_fail(r.out), h);
}

TEST_CASE("update: a label or annotation change reaches the host labels (hashed) and annotations") {
  Harness t;
  Value v = golden("policy.virtual.json");
  Value h = golden("policy.host.json");
  v["metadata"]["labels"].erase("tier");
  v["metadata"]["labels"]["role"] = "edge";
  v["metadata"]["annotations"].erase("team");
  Value got = parse_or_fail(t.sync(v, &h).out);
  const Value& labels = member(got, {"metadata", "labels"});
  CHECK(labels.find(kTier) == nullptr);
  CHECK(labels.find(kRole) != nullptr);
  CHECK(member(got, {"metadata", "annotations"}).find("team") == nullptr);
  CHECK(member(got, {"metadata", "annotations"}).find("vcluster.loft.sh/managed-annotations") == nullptr);
}

TEST_CASE("delete follows: with the virtual policy gone the plugin lets the engine delete the host copy") {
  Harness t;
  Result r = t.remove(golden("policy.host.json"), "team-a", "web-policy");
  CHECK(r.status == VCP_OK);
  CHECK(r.out.empty());  // the engine's default DeleteOptions (the host uid as precondition)
}

TEST_CASE("disabled (the default): no host policy is made, none is deleted") {
  Harness t("false");
  Result r = t.sync(golden("policy.virtual.json"));
  CHECK(r.status == VCP_NO_CHANGE);
  CHECK(r.out.empty());
  CHECK(t.remove(golden("policy.host.json"), "team-a", "web-policy").status == VCP_SKIP);
}

TEST_CASE("a virtual policy with a controlled-by label is left alone (§2.4)") {
  Harness t;
  Value v = golden("policy.virtual.json");
  v["metadata"]["labels"]["vcluster.loft.sh/controlled-by"] = "someone";
  Result r = t.sync(v);
  CHECK(r.status == VCP_NO_CHANGE);
  CHECK(r.out.empty());
}

TEST_CASE("an engine without translate_label_key_prefixed (ABI 1.0) is refused with a sentence") {
  Harness t("true", /*abi_1_0=*/true, VCP_ERROR);
  CHECK(t.host.last_error.find("ABI 1.1") != std::string::npos);
}
