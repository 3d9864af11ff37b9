// Command helpers that need no cluster: which host pods count as back after a resume.
#include <doctest/doctest.h>

#include "cli/commands.hpp"
#include "json/json.hpp"

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
