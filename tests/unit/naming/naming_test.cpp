// Tests for vc::naming. Expected strings come from the worked examples of vcluster-behaviour.md §1.5 and
// from vcluster's own test vector; the extra vectors were computed independently with Python's hashlib.
// A failure here means host names or label keys would differ from vcluster's, orphaning existing objects.
#include <doctest/doctest.h>

#include <string>

#include "naming/keys.hpp"
#include "naming/naming.hpp"

namespace n = vc::naming;
namespace keys = vc::naming::keys;
using vc::json::Value;

TEST_CASE("sha256_hex matches the FIPS 180-2 test vector") {
  CHECK(n::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(n::sha256_hex("").size() == 64);
}

TEST_CASE("§1.5 examples 1-6: namespaced host names, including the 63-byte boundary and the .- collapse") {
  // 1: short names pass through.
  CHECK(n::physical_name("nginx", "default", "vcluster") == "nginx-x-default-x-vcluster");
  // 2: 52 bytes.
  CHECK(n::physical_name("coredns-5d78c9869d-x7k2p", "kube-system", "my-vcluster") ==
        "coredns-5d78c9869d-x7k2p-x-kube-system-x-my-vcluster");
  // 3: exactly 63 bytes is kept, not hashed.
  std::string at_limit =
      n::physical_name("payments-api-canary-deployment-5f7b9c-qwz8", "default", "vcluster");
  CHECK(at_limit == "payments-api-canary-deployment-5f7b9c-qwz8-x-default-x-vcluster");
  CHECK(at_limit.size() == 63);
  // 4: one byte more is hashed.
  std::string over = n::physical_name("payments-api-canary-deployment-5f7b9c-qwz8x", "default", "vcluster");
  CHECK(over == "payments-api-canary-deployment-5f7b9c-qwz8x-x-defaul-ea5f41e7df");
  CHECK(over.size() == 63);
  // 5
  CHECK(n::physical_name("my-application-frontend-deployment-7d9c8b5f6-abcde", "production", "vcluster") ==
        "my-application-frontend-deployment-7d9c8b5f6-abcde-x-bc51d8e7ff");
  // 6: byte 51 is '.', so ".-" collapses and the result is 62 bytes.
  std::string helm =
      n::physical_name("sh.helm.release.v1.grafana-dashboards-monitoring-st.v7", "default", "vcluster");
  CHECK(helm == "sh.helm.release.v1.grafana-dashboards-monitoring-st-c58dc1516b");
  CHECK(helm.size() == 62);
  // An empty name has no host name.
  CHECK(n::physical_name("", "default", "vcluster").empty());
}

TEST_CASE("§1.5 examples 7-8: cluster-scoped host names") {
  CHECK(n::physical_name_cluster_scoped("standard", "vcluster-ns", "vcluster") ==
        "vcluster-standard-x-vcluster-ns-x-vcluster");
  CHECK(n::physical_name_cluster_scoped("high-priority", "team-a-vcluster-host-namespace", "my-vcluster") ==
        "vcluster-high-priority-x-team-a-vcluster-host-namesp-708c33bb33");
  CHECK(n::physical_name_cluster_scoped("", "ns", "vcluster").empty());
}

TEST_CASE("§1.5 examples 9-12 and the repository vector: label keys") {
  CHECK(n::label_key("app", "vcluster") == "vcluster.loft.sh/label-vcluster-x-a172cedcae");
  CHECK(n::ns_label_key("kubernetes.io/metadata.name", "vcluster") ==
        "vcluster.loft.sh/ns-label-vcluster-x-cf1227b7b2");
  CHECK(n::label_key_cluster("app", "vcluster-ns", "vcluster") ==
        "vcluster.loft.sh/label-vcluster-ns-x-vcluster-x-a172cedcae");
  // 12: the whole key, prefix included, is hashed when too long.
  CHECK(n::label_key("app", "a-very-long-virtual-cluster-name-for-testing") ==
        "vcluster.loft.sh/label-a-very-long-virtual-cluster-n-82f5ca7eac");
  // HEAD:pkg/util/translate/translate_test.go
  CHECK(n::label_key("release", "suffix") == "vcluster.loft.sh/label-suffix-x-a4d451ec23");
  CHECK(n::label_key_with_prefix(keys::kNsLabelPrefix, "app", "vcluster") ==
        "vcluster.loft.sh/ns-label-vcluster-x-a172cedcae");
}

TEST_CASE("§1.5 example 13 and markers: multi-namespace host namespace, cluster marker") {
  CHECK(n::physical_namespace_multi("default", "vcluster", "vcluster") == "vcluster-37a8eec1-9d90a678");
  CHECK(n::cluster_marker("vcluster-ns", "vcluster") == "vcluster-ns-x-vcluster");
}

TEST_CASE("safe_concat: one-pass .- collapse like Go's ReplaceAll, and collapse before the cut") {
  // "..-" after the cut becomes ".-" (one pass), leaving 62 bytes.
  std::string dots = n::safe_concat({std::string(50, 'a') + ".." + std::string(20, 'b')});
  CHECK(dots == std::string(50, 'a') + ".-bf0593374f");
  CHECK(dots.size() == 62);
  // A ".-" inside the kept bytes collapses too.
  CHECK(n::safe_concat({"web.-app", std::string(60, 'c')}) ==
        "web-app-ccccccccccccccccccccccccccccccccccccccccccc-2ff05f1c0d");
  CHECK(n::safe_concat({std::string(63, 'x')}) == std::string(63, 'x'));
  CHECK(n::safe_concat({std::string(64, 'x')}) == std::string(52, 'x') + "-7ce100971f");
  // The vector overload joins the same way.
  CHECK(n::safe_concat(std::vector<std::string>{"vcluster", "kube-root-ca.crt", "x", "vcluster"}) ==
        "vcluster-kube-root-ca.crt-x-vcluster");
  CHECK(n::safe_concat(std::vector<std::string>{std::string(64, 'x')}) ==
        std::string(52, 'x') + "-7ce100971f");
}

TEST_CASE("§1.6 pod_hostname: 63 bytes, dots to dashes, one trailing dash removed") {
  CHECK(n::pod_hostname("my.dotted.pod.name") == "my-dotted-pod-name");
  CHECK(n::pod_hostname("nginx") == "nginx");
  CHECK(n::pod_hostname("trailing.") == "trailing");
  CHECK(n::pod_hostname("two--") == "two-");  // TrimSuffix removes one dash only
  std::string longname = std::string(62, 'a') + ".b";
  CHECK(n::pod_hostname(longname) == std::string(62, 'a'));  // cut to 62 a + ".", then "-" trimmed
  CHECK(n::pod_hostname(std::string(70, 'z')) == std::string(63, 'z'));
}

TEST_CASE("labels_annotation: sorted whole lines, JSON values, Go's HTML escaping") {
  CHECK(n::labels_annotation({{"app", "nginx"}}) == "app=\"nginx\"");
  // Sorting "k=v" lines puts "a.b=" before "a=" ('.' < '='), unlike key order.
  CHECK(n::labels_annotation({{"a", "1"}, {"a.b", "2"}, {"tier", "web"}}) ==
        "a.b=\"2\"\na=\"1\"\ntier=\"web\"");
  CHECK(n::labels_annotation({{"k", "<&>\"q\""}}) == "k=\"\\u003c\\u0026\\u003e\\\"q\\\"\"");
  CHECK(n::labels_annotation({}).empty());
}

namespace {

struct Host {
  std::string name = "nginx-x-default-x-vcluster";
  std::string ns = "vcluster-ns";
  n::StringMap labels{{std::string(keys::kManagedBy), "vcluster"}};
  n::StringMap annotations{{std::string(keys::kObjectName), "nginx"},
                           {std::string(keys::kObjectNamespace), "default"}};
  bool managed() const {
    return n::is_managed_namespaced(name, ns, labels, annotations, "vcluster-ns", "vcluster");
  }
};

}  // namespace

TEST_CASE("is_managed_namespaced accepts a synced object and rejects each broken condition") {
  CHECK(Host{}.managed());
  {
    Host h;
    h.ns = "other";
    CHECK_FALSE(h.managed());  // outside the target namespace
  }
  {
    Host h;
    h.annotations.erase(std::string(keys::kObjectName));
    CHECK_FALSE(h.managed());  // no object-name annotation
  }
  {
    Host h;
    h.annotations[std::string(keys::kObjectName)] = "";
    CHECK_FALSE(h.managed());  // empty object-name annotation
  }
  {
    Host h;
    h.name = "renamed-by-someone";
    CHECK_FALSE(h.managed());  // name is not the translation of the annotations
  }
  {
    Host h;
    h.annotations[std::string(keys::kObjectNamespace)] = "kube-system";
    CHECK_FALSE(h.managed());  // annotations point at another virtual object
  }
  {
    Host h;
    h.labels.clear();
    CHECK_FALSE(h.managed());  // labels stripped
  }
  {
    Host h;
    h.labels[std::string(keys::kManagedBy)] = "other-vcluster";
    CHECK_FALSE(h.managed());  // another vcluster's object in the same namespace
  }
}

TEST_CASE("is_managed on JSON objects reads metadata the same way") {
  auto pod = vc::json::parse(R"({"metadata":{"name":"nginx-x-default-x-vcluster","namespace":"vcluster-ns",
      "labels":{"vcluster.loft.sh/managed-by":"vcluster"},
      "annotations":{"vcluster.loft.sh/object-name":"nginx","vcluster.loft.sh/object-namespace":"default"}}})");
  REQUIRE(pod);
  CHECK(n::is_managed_namespaced_object(*pod, "vcluster-ns", "vcluster"));
  CHECK_FALSE(n::is_managed_namespaced_object(*pod, "vcluster-ns", "other"));
  CHECK_FALSE(n::is_managed_namespaced_object(Value::object(), "vcluster-ns", "vcluster"));

  auto sc = vc::json::parse(R"({"metadata":{"name":"vcluster-standard-x-vcluster-ns-x-vcluster",
      "labels":{"vcluster.loft.sh/managed-by":"vcluster-ns-x-vcluster"}}})");
  REQUIRE(sc);
  CHECK(n::is_managed_cluster_object(*sc, "vcluster-ns", "vcluster"));
  CHECK_FALSE(n::is_managed_cluster_object(*sc, "other-ns", "vcluster"));
  // A namespaced marker (the bare suffix) does not make a cluster-scoped object ours.
  CHECK_FALSE(
      n::is_managed_cluster({{std::string(keys::kManagedBy), "vcluster"}}, "vcluster-ns", "vcluster"));
  CHECK_FALSE(n::is_managed_cluster({}, "vcluster-ns", "vcluster"));
}

TEST_CASE("hands-off markers: controlled-by label or foreign annotation, and skip-backsync") {
  const std::string cb(keys::kControlledBy);
  CHECK_FALSE(n::is_controlled_elsewhere({}, {}, "vcluster"));
  CHECK(n::is_controlled_elsewhere({{cb, "vcluster"}}, {}, "vcluster"));  // any non-empty label
  CHECK_FALSE(n::is_controlled_elsewhere({{cb, ""}}, {}, "vcluster"));
  CHECK_FALSE(n::is_controlled_elsewhere({}, {{cb, "vcluster"}}, "vcluster"));
  CHECK(n::is_controlled_elsewhere({}, {{cb, "Certificate/cert-manager.io/GenericExport"}}, "vcluster"));
  CHECK(n::skip_backsync({{std::string(keys::kSkipBacksync), "true"}}));
  CHECK_FALSE(n::skip_backsync({{std::string(keys::kSkipBacksync), "yes"}}));
  CHECK_FALSE(n::skip_backsync({}));
}

TEST_CASE("translate_labels hashes keys and adds markers; selectors rewrite only keys") {
  n::StringMap sel = n::translate_labels({{"app", "nginx"}, {"tier", "web"}}, "default", "vcluster");
  CHECK(sel == n::StringMap{{"vcluster.loft.sh/label-vcluster-x-a172cedcae", "nginx"},
                            {"vcluster.loft.sh/label-vcluster-x-e29ccc00b2", "web"},
                            {"vcluster.loft.sh/managed-by", "vcluster"},
                            {"vcluster.loft.sh/namespace", "default"}});
  // --sync-labels keys are copied as well as hashed.
  n::StringMap kept = n::translate_labels({{"app", "nginx"}}, "default", "vcluster", {"app", "absent"});
  CHECK(kept.at("app") == "nginx");
  CHECK(kept.size() == 4);

  CHECK(n::translate_labels_cluster({{"tier", "web"}}, "vcluster-ns", "vcluster") ==
        n::StringMap{{"vcluster.loft.sh/label-vcluster-ns-x-vcluster-x-e29ccc00b2", "web"},
                     {"vcluster.loft.sh/managed-by", "vcluster-ns-x-vcluster"}});

  auto selector = vc::json::parse(R"({"matchLabels":{"app":"nginx"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["web","api"]}]})");
  REQUIRE(selector);
  Value out = n::translate_label_selector(*selector, keys::kLabelPrefix, "vcluster");
  CHECK(
      vc::json::dump(out) ==
      R"({"matchLabels":{"vcluster.loft.sh/label-vcluster-x-a172cedcae":"nginx"},)"
      R"("matchExpressions":[{"key":"vcluster.loft.sh/label-vcluster-x-e29ccc00b2","operator":"In","values":["web","api"]}]})");
  Value ns_sel = n::translate_label_selector(*selector, keys::kNsLabelPrefix, "vcluster");
  CHECK(ns_sel.at({"matchLabels"})->contains("vcluster.loft.sh/ns-label-vcluster-x-a172cedcae"));
  Value cluster_sel = n::translate_label_selector_cluster(*selector, "vcluster-ns", "vcluster");
  CHECK(cluster_sel.at({"matchExpressions"})->as_array()[0].find("key")->as_string() ==
        "vcluster.loft.sh/label-vcluster-ns-x-vcluster-x-e29ccc00b2");
  CHECK(n::translate_label_selector(Value(), keys::kLabelPrefix, "vcluster").is_null());
  CHECK(vc::json::dump(n::translate_label_selector(Value::object(), keys::kLabelPrefix, "vcluster")) == "{}");
}
