// Command helpers that need no cluster: which host pods count as back after a resume, which cluster-scoped
// host objects delete takes.
#include <doctest/doctest.h>

#include "cli/commands.hpp"
#include "json/json.hpp"
#include "naming/naming.hpp"

namespace {

vc::json::Value pod(const std::string& vname, bool terminating) {
  auto v = vc::json::parse(
      R"({"metadata":{"name":")" + vname +
      R"(-x-default-x-vc","namespace":"vcluster-vc","labels":{"vcluster.loft.sh/managed-by":"vc"},)"
      R"("annotations":{"vcluster.loft.sh/object-name":")" +
      vname + R"(","vcluster.loft.sh/object-namespace":"default"}}})");
  REQUIRE(v);
  if (terminating) (*v)["metadata"]["deletionTimestamp"] = "2026-12-07T20:00:00Z";
  return std::move(*v);
}

}  // namespace

// The failure this provokes: resume said "3 host pods are back (0.0s)" while the three were the pods pause
// had deleted, still Terminating on the real node.
TEST_CASE("resume counts only host pods that are not being deleted") {
  vc::cli::State s;
  s.name = "vc";
  s.namespace_ = "vcluster-vc";
  vc::json::Value list = vc::json::Value::object();
  list["items"] = vc::json::Value::array();
  list["items"].push_back(pod("a", true));
  list["items"].push_back(pod("b", true));
  CHECK(vc::cli::count_live_pods(list, s) == 0);
  list["items"].push_back(pod("a", false));
  CHECK(vc::cli::count_live_pods(list, s) == 1);
  // A pod another vcluster (or nobody) owns never counts.
  vc::json::Value foreign = pod("c", false);
  foreign["metadata"]["labels"]["vcluster.loft.sh/managed-by"] = "other";
  list["items"].push_back(std::move(foreign));
  CHECK(vc::cli::count_live_pods(list, s) == 1);
}

TEST_CASE("the DNS listener is this machine's address inside a host node's pod range, else loopback") {
  using vc::cli::dns_listener_ip;
  // The bed's real node: the pod bridge's gateway is the one address inside 10.88.0.0/16.
  CHECK(dns_listener_ip({"10.88.0.0/16"}, {"127.0.0.1", "192.0.2.2", "10.88.0.1"}) == "10.88.0.1");
  // podCIDRs of several nodes; a /24 range; an address just outside it does not count.
  CHECK(dns_listener_ip({"10.244.1.0/24", "10.244.2.0/24"}, {"10.244.3.1", "10.244.2.1"}) == "10.244.2.1");
  // Simulated nodes only (no pod range here), a malformed range, an IPv6 range: loopback.
  CHECK(dns_listener_ip({}, {"127.0.0.1", "10.88.0.1"}) == "127.0.0.1");
  CHECK(dns_listener_ip({"10.88.0.0"}, {"10.88.0.1"}) == "127.0.0.1");
  CHECK(dns_listener_ip({"fd00:10::/64"}, {"10.88.0.1"}) == "127.0.0.1");
}

// The failure this provokes: `vcluster delete` of a vcluster run with the seed's sync-storage.yaml left the
// host copy of its StorageClass behind (cluster-scoped copies were not in the owned list), and deleting every
// host PV with the cluster marker would have removed PVs the storage plugin only imported.
TEST_CASE("delete takes a cluster-scoped host object only when it is a translated copy") {
  vc::cli::State s;
  s.name = "vc";
  s.namespace_ = "vcluster-vc";
  const std::string marker = vc::naming::cluster_marker(s.namespace_, s.name);
  const std::string copy = vc::naming::physical_name_cluster_scoped("fast", s.namespace_, s.name);
  auto obj = [&](const std::string& name, const std::string& label, const std::string& object_name) {
    auto v = vc::json::parse(
        R"({"metadata":{"name":")" + name + R"(","labels":{"vcluster.loft.sh/managed-by":")" + label +
        R"("},"annotations":{"vcluster.loft.sh/object-name":")" + object_name + R"("}}})");
    REQUIRE(v);
    return std::move(*v);
  };
  CHECK(vc::cli::is_translated_cluster_copy(obj(copy, marker, "fast"), s));
  // An imported host PV: our marker, but its own host name.
  CHECK_FALSE(vc::cli::is_translated_cluster_copy(obj("pvc-1234", marker, "pvc-1234"), s));
  // Another vcluster's copy, or a name that does not match the annotation.
  CHECK_FALSE(vc::cli::is_translated_cluster_copy(
      obj(copy, vc::naming::cluster_marker("vcluster-other", "other"), "fast"), s));
  CHECK_FALSE(vc::cli::is_translated_cluster_copy(obj(copy, marker, "slow"), s));
  auto bare = vc::json::parse(R"({"metadata":{"name":"x","labels":{"vcluster.loft.sh/managed-by":"m"}}})");
  REQUIRE(bare);
  CHECK_FALSE(vc::cli::is_translated_cluster_copy(*bare, s));
}
