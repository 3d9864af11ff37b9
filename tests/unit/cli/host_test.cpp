// The host side that needs no cluster: the Service range the local control plane can use, context names,
// the kubeconfig search order and the current context.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "cli/host.hpp"

using vc::cli::local_service_cidr;

TEST_CASE("the host's Service range, narrowed to what the local control plane accepts") {
  std::string out;
  REQUIRE(local_service_cidr("10.96.0.0/16", "", &out).ok());
  CHECK(out == "10.96.0.0/16");
  REQUIRE(local_service_cidr("10.96.0.0/12", "", &out).ok());
  CHECK(out == "10.96.0.0/16");
  REQUIRE(local_service_cidr("10.96.0.0/12", "10.100.3.1", &out).ok());
  CHECK(out == "10.100.0.0/16");
  REQUIRE(local_service_cidr("172.20.4.0/22", "", &out).ok());
  CHECK(out == "172.20.4.0/24");
  REQUIRE(local_service_cidr("192.168.7.0/24", "", &out).ok());
  CHECK(out == "192.168.7.0/24");
  vc::Error e = local_service_cidr("10.0.0.0/28", "", &out);
  CHECK(e.message.find("the Service range 10.0.0.0/28 is narrower than a /24") == 0);
  CHECK_FALSE(local_service_cidr("fd00::/108", "", &out).ok());
}

TEST_CASE("the context name carries name, namespace and host context") {
  CHECK(vc::cli::context_name("demo", "vcluster-demo", "kind-kind") ==
        "vcluster_demo_vcluster-demo_kind-kind");
}

TEST_CASE("kubeconfig search order and the current context") {
  vc::cli::Options o;
  o.kubeconfig = "/explicit";
  CHECK(vc::cli::kubeconfig_files(o) == std::vector<std::string>{"/explicit"});
  o.kubeconfig.clear();
  setenv("KUBECONFIG", "/a::/b", 1);
  CHECK(vc::cli::kubeconfig_files(o) == std::vector<std::string>{"/a", "/b"});
  unsetenv("KUBECONFIG");
  setenv("HOME", "/home/x", 1);
  CHECK(vc::cli::kubeconfig_files(o) == std::vector<std::string>{"/home/x/.kube/config"});

  char tmpl[] = "/tmp/vc-cli-host-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::ofstream(dir + "/none") << "apiVersion: v1\nkind: Config\n";
  std::ofstream(dir + "/cur")
      << "apiVersion: v1\nkind: Config\ncurrent-context: second\ncontexts:\n- name: second\n"
         "  context: {cluster: c, user: u}\n";
  std::string file;
  CHECK(vc::cli::current_context({dir + "/missing", dir + "/none", dir + "/cur"}, &file) == "second");
  CHECK(file == dir + "/cur");
  CHECK(vc::cli::current_context({dir + "/none"}).empty());

  // No file at all: one sentence naming the file and the fix.
  o.kubeconfig = dir + "/missing";
  vc::cli::Host h;
  vc::Error e = vc::cli::resolve_host(o, &h);
  CHECK(e.message ==
        "no host cluster: the kubeconfig " + dir +
            "/missing does not exist; point --kubeconfig or $KUBECONFIG at the host cluster's kubeconfig");
  o.kubeconfig = dir + "/none";
  e = vc::cli::resolve_host(o, &h);
  CHECK(e.message.find("sets no current-context; pass --context NAME") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("$VCLUSTER_BED and $VCLUSTER_SYNCER must name executables") {
  setenv("VCLUSTER_BED", "/nonexistent/cluster", 1);
  std::string p;
  CHECK(vc::cli::find_bed(&p).message ==
        "$VCLUSTER_BED names /nonexistent/cluster, which is not an executable file; fix or unset it");
  setenv("VCLUSTER_BED", "/bin/sh", 1);
  REQUIRE(vc::cli::find_bed(&p).ok());
  CHECK(p == "/bin/sh");
  unsetenv("VCLUSTER_BED");
  setenv("VCLUSTER_SYNCER", "/etc/passwd", 1);
  CHECK_FALSE(vc::cli::find_syncer(&p).ok());
  unsetenv("VCLUSTER_SYNCER");
}

TEST_CASE("a vcluster context's name says its vcluster and host context") {
  vc::cli::VclusterContext c;
  REQUIRE(vc::cli::parse_context_name("vcluster_demo_vcluster-demo_kind-kind", &c));
  CHECK(c.name == "demo");
  CHECK(c.namespace_ == "vcluster-demo");
  CHECK(c.host_context == "kind-kind");
  // A host context may hold '_' itself (a nested vcluster's context, for one).
  REQUIRE(vc::cli::parse_context_name("vcluster_a_ns_vcluster_b_ns2_host", &c));
  CHECK(c.name == "a");
  CHECK(c.host_context == "vcluster_b_ns2_host");
  CHECK_FALSE(vc::cli::parse_context_name("demo-host", &c));
  CHECK_FALSE(vc::cli::parse_context_name("vcluster_demo", &c));
  CHECK_FALSE(vc::cli::parse_context_name("vcluster_demo_ns_", &c));
  CHECK_FALSE(vc::cli::parse_context_name("vcluster__ns_host", &c));
}

// The failure this provokes: after a demo, a shell without VCLUSTER_STATE_DIR finds no state for the current
// (virtual) context, and `vcluster create --upgrade` created a second vcluster nested inside the first.
TEST_CASE("the current context of a vcluster without its state still resolves to its host context") {
  char tmpl[] = "/tmp/vc-cli-nest-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  setenv("VCLUSTER_STATE_DIR", (dir + "/empty-state").c_str(), 1);
  auto kubeconfig = [&](const std::string& current, bool with_host) {
    std::string f = dir + "/kc-" + std::to_string(with_host);
    std::ofstream out(f);
    out << "apiVersion: v1\nkind: Config\ncurrent-context: " << current << "\n"
        << "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: "
           "true}\n"
        << "users:\n- name: u\n  user: {token: t}\n"
        << "contexts:\n- name: " << current << "\n  context: {cluster: c, user: u}\n";
    if (with_host) out << "- name: demo-host\n  context: {cluster: c, user: u, namespace: default}\n";
    return f;
  };
  vc::cli::Options o;
  o.kubeconfig = kubeconfig("vcluster_my-vcluster_vcluster-my-vcluster_demo-host", true);
  vc::cli::Host h;
  REQUIRE(vc::cli::resolve_host(o, &h).ok());
  CHECK(h.context == "demo-host");
  CHECK(h.note ==
        "the current context vcluster_my-vcluster_vcluster-my-vcluster_demo-host is vcluster "
        "my-vcluster's; using its host context demo-host");

  o.kubeconfig = kubeconfig("vcluster_my-vcluster_vcluster-my-vcluster_demo-host", false);
  vc::Error e = vc::cli::resolve_host(o, &h);
  CHECK(e.message ==
        "the current context vcluster_my-vcluster_vcluster-my-vcluster_demo-host is vcluster my-vcluster's "
        "virtual cluster, and its host context demo-host is not in the kubeconfig; pass --context "
        "HOST_CONTEXT or run 'vcluster disconnect' first");
  unsetenv("VCLUSTER_STATE_DIR");
  std::filesystem::remove_all(dir);
}
