// The cluster driver's objects and the --isolate objects: names, order, RBAC derived from the plugins'
// resource tables, the spec's isolation numbers, and certificates that verify against their CA.
#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "cli/manifests.hpp"
#include "cli/pki.hpp"
#include "cli/yaml_out.hpp"
#include "kube/kubeconfig.hpp"
#include "yaml_json.hpp"

using vc::cli::ManifestOptions;
using vc::json::Value;

namespace {

const vc::cli::Pki& test_pki() {
  static vc::cli::Pki p = [] {
    vc::cli::Pki out;
    vc::cli::PkiOptions po;
    po.cluster_name = "vcluster-demo";
    po.dns_names = {"demo", "demo.team", "localhost"};
    po.ips = {"127.0.0.1", "10.96.0.1", "10.96.7.7"};
    REQUIRE(vc::cli::make_pki(po, &out).ok());
    return out;
  }();
  return p;
}

vc::plugin::Resource res(std::string group, std::string resource, bool namespaced, vcp_role role,
                         bool status = false) {
  vc::plugin::Resource r;
  r.group = std::move(group);
  r.version = "v1";
  r.resource = std::move(resource);
  r.namespaced = namespaced;
  r.role = role;
  r.has_status = status;
  return r;
}

ManifestOptions options() {
  ManifestOptions o;
  o.name = "demo";
  o.namespace_ = "team";
  o.plugins = {"pods"};
  o.resources = {res("", "pods", true, VCP_ROLE_TO_HOST, true),
                 res("", "services", true, VCP_ROLE_WATCH_HOST),
                 res("", "namespaces", false, VCP_ROLE_WATCH_VIRTUAL)};
  o.values_yaml = "syncer:\n  hostQPS: 0\n";
  o.service_cidr = "10.96.0.0/16";
  o.pki = &test_pki();
  return o;
}

std::vector<std::string> kinds_and_names(const std::vector<Value>& objs) {
  std::vector<std::string> out;
  for (auto& o : objs)
    out.push_back(o.find("kind")->as_string() + "/" + o.at({"metadata", "name"})->as_string());
  return out;
}

const Value* find(const std::vector<Value>& objs, const std::string& kind, const std::string& name) {
  for (auto& o : objs)
    if (o.find("kind")->as_string() == kind && o.at({"metadata", "name"})->as_string() == name) return &o;
  return nullptr;
}

const Value* container(const Value& sts, const std::string& name) {
  for (auto& c : sts.at({"spec", "template", "spec"})->find("containers")->items())
    if (c.find("name")->as_string() == name) return &c;
  return nullptr;
}

bool has_arg(const Value& c, const std::string& arg) {
  for (auto& a : c.find("command")->items())
    if (a.as_string() == arg) return true;
  return false;
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
X509Ptr load_cert(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return X509Ptr(c, X509_free);
}

bool signed_by(const std::string& cert_pem, const std::string& ca_pem) {
  auto cert = load_cert(cert_pem), ca = load_cert(ca_pem);
  if (!cert || !ca) return false;
  EVP_PKEY* k = X509_get0_pubkey(ca.get());
  return X509_verify(cert.get(), k) == 1;
}

}  // namespace

TEST_CASE("the k8s distro: objects in apply order, no ClusterRole without cluster-scoped host resources") {
  auto objs = vc::cli::render_cluster_manifests(options());
  CHECK(kinds_and_names(objs) == std::vector<std::string>{"Namespace/team", "ServiceAccount/vc-demo",
                                                          "Role/vc-demo", "RoleBinding/vc-demo",
                                                          "Secret/demo-certs", "Secret/vc-demo",
                                                          "ConfigMap/demo-values", "Service/demo",
                                                          "Service/demo-headless", "StatefulSet/demo"});
  const Value* ns = find(objs, "Namespace", "team");
  CHECK(ns->at({"metadata", "labels", "vcluster.loft.sh/namespace"})->as_string() == "true");

  const Value* sts = find(objs, "StatefulSet", "demo");
  REQUIRE(sts != nullptr);
  CHECK(sts->at({"spec", "replicas"})->as_int64() == 1);
  CHECK(sts->at({"spec", "template", "spec", "serviceAccountName"})->as_string() == "vc-demo");
  std::vector<std::string> names;
  for (auto& c : sts->at({"spec", "template", "spec"})->find("containers")->items())
    names.push_back(c.find("name")->as_string());
  CHECK(names == std::vector<std::string>{"etcd", "kube-apiserver", "kube-controller-manager", "syncer"});
  CHECK(has_arg(*container(*sts, "kube-apiserver"), "--service-cluster-ip-range=10.96.0.0/16"));
  // Pods get tokens bound to them (the projected kube-api-access volume), not the legacy token Secret.
  CHECK(has_arg(*container(*sts, "kube-apiserver"), "--feature-gates=BoundServiceAccountTokenVolume=true"));
  CHECK(has_arg(*container(*sts, "kube-controller-manager"),
                "--controllers=" + std::string(vc::cli::kVirtualControllers)));
  const Value* syncer = container(*sts, "syncer");
  CHECK(has_arg(*syncer, "--name=demo"));
  CHECK(has_arg(*syncer, "--target-namespace=team"));
  CHECK(has_arg(*syncer, "--plugins=pods"));
  CHECK(syncer->find("image")->as_string() == vc::cli::kSyncerImage);
  CHECK(syncer->at({"readinessProbe", "httpGet", "path"})->as_string() == "/readyz");

  const Value* svc = find(objs, "Service", "demo");
  CHECK(svc->at({"spec", "type"})->as_string() == "ClusterIP");
  CHECK(svc->at({"spec", "selector", "release"})->as_string() == "demo");
  CHECK(find(objs, "ConfigMap", "demo-values")->at({"data", "values.yaml"})->as_string() ==
        "syncer:\n  hostQPS: 0\n");
}

TEST_CASE("RBAC: the spec's default Role plus exactly the rights the plugins' roles need") {
  auto rules = vc::cli::role_rules(options().resources);
  // vcluster's default rules come first (spec §11.3).
  CHECK(rules.items()[0].find("resources")->items().size() == 8);
  CHECK(rules.items()[3].find("apiGroups")->items()[0].as_string() == "apps");
  // pods (TO_HOST, with status) get every verb and the status subresource; services (WATCH_HOST) get reads;
  // namespaces (WATCH_VIRTUAL) nothing.
  bool pods_full = false, services_read = false, namespaces = false;
  for (auto& r : rules.items()) {
    std::vector<std::string> res, verbs;
    for (auto& x : r.find("resources")->items()) res.push_back(x.as_string());
    for (auto& x : r.find("verbs")->items()) verbs.push_back(x.as_string());
    if (res == std::vector<std::string>{"pods", "pods/status"} && verbs.size() == 7) pods_full = true;
    if (res == std::vector<std::string>{"services"} &&
        verbs == std::vector<std::string>{"get", "list", "watch"})
      services_read = true;
    if (std::find(res.begin(), res.end(), "namespaces") != res.end()) namespaces = true;
  }
  CHECK(pods_full);
  CHECK(services_read);
  CHECK_FALSE(namespaces);
  CHECK(vc::cli::cluster_role_rules(options().resources).empty());
}

TEST_CASE("a plugin with cluster-scoped host resources adds a ClusterRole and its binding") {
  ManifestOptions o = options();
  o.resources.push_back(res("storage.k8s.io", "storageclasses", false, VCP_ROLE_TO_HOST));
  o.resources.push_back(res("", "nodes", false, VCP_ROLE_TO_VIRTUAL));
  auto objs = vc::cli::render_cluster_manifests(o);
  const Value* cr = find(objs, "ClusterRole", "vc-demo-v-team");
  REQUIRE(cr != nullptr);
  REQUIRE(find(objs, "ClusterRoleBinding", "vc-demo-v-team") != nullptr);
  CHECK(cr->find("rules")->size() == 2);
  CHECK(cr->find("metadata")->find("namespace") == nullptr);
}

TEST_CASE(
    "a watch of Services in other host namespaces (mapServices.fromHost) is a read-only ClusterRole rule") {
  ManifestOptions o = options();
  vc::plugin::Resource r = res("", "services", true, VCP_ROLE_WATCH_HOST);
  r.host_namespaces = true;
  o.resources.push_back(r);
  auto objs = vc::cli::render_cluster_manifests(o);
  const Value* cr = find(objs, "ClusterRole", "vc-demo-v-team");
  REQUIRE(cr != nullptr);
  REQUIRE(cr->find("rules")->size() == 1);
  const Value& rule = cr->find("rules")->items()[0];
  CHECK(rule.find("resources")->items()[0].as_string() == "services");
  for (const Value& v : rule.find("verbs")->items())
    CHECK((v.as_string() == "get" || v.as_string() == "list" || v.as_string() == "watch"));
}

TEST_CASE("isolation: the spec's quota and limit numbers and the two NetworkPolicies") {
  auto objs = vc::cli::render_isolation("demo", "team", true);
  CHECK(kinds_and_names(objs) ==
        std::vector<std::string>{"ResourceQuota/demo-quota", "LimitRange/demo-limit-range",
                                 "NetworkPolicy/demo-workloads", "NetworkPolicy/demo-control-plane"});
  const Value* hard = objs[0].at({"spec", "hard"});
  CHECK(hard->find("count/pods")->as_string() == "20");
  CHECK(hard->find("count/configmaps")->as_string() == "100");
  CHECK(hard->find("requests.memory")->as_string() == "20Gi");
  CHECK(hard->find("limits.ephemeral-storage")->as_string() == "160Gi");
  CHECK(hard->find("services.nodeports")->as_string() == "0");
  CHECK(hard->find("services.loadbalancers")->as_string() == "1");
  CHECK(hard->size() == 15);
  const Value& limit = objs[1].at({"spec"})->find("limits")->items()[0];
  CHECK(limit.at({"default", "memory"})->as_string() == "512Mi");
  CHECK(limit.at({"defaultRequest", "cpu"})->as_string() == "100m");
  const Value* wl = objs[2].find("spec");
  CHECK(wl->at({"podSelector", "matchLabels", "vcluster.loft.sh/managed-by"})->as_string() == "demo");
  const Value& world = wl->find("egress")->items()[2];
  const Value* except = world.find("to")->items()[1].at({"ipBlock", "except"});
  CHECK(except->size() == 5);
  // The local driver has no control-plane pods in the namespace, so no policy for them.
  CHECK(vc::cli::render_isolation("demo", "team", false).size() == 3);
  ManifestOptions o = options();
  o.isolate = true;
  CHECK(vc::cli::render_cluster_manifests(o).size() == 14);
}

TEST_CASE("expose makes the API server's Service a LoadBalancer") {
  ManifestOptions o = options();
  o.expose = true;
  auto objs = vc::cli::render_cluster_manifests(o);
  CHECK(find(objs, "Service", "demo")->at({"spec", "type"})->as_string() == "LoadBalancer");
}

TEST_CASE("k3s and k0s place the CLI's certificates before their first start") {
  for (std::string distro : {"k3s", "k0s"}) {
    ManifestOptions o = options();
    o.distro = distro;
    auto objs = vc::cli::render_cluster_manifests(o);
    const Value* sts = find(objs, "StatefulSet", "demo");
    auto init = sts->at({"spec", "template", "spec"})->find("initContainers");
    REQUIRE(init != nullptr);
    CHECK(init->items()[0].find("name")->as_string() == "place-certs");
    REQUIRE(container(*sts, distro) != nullptr);
    CHECK(container(*sts, "syncer") != nullptr);
    CHECK((find(objs, "Secret", "vc-demo-config") != nullptr) == (distro == "k0s"));
  }
  ManifestOptions o = options();
  o.distro = "k3s";
  auto objs = vc::cli::render_cluster_manifests(o);
  const Value* k3s = container(*find(objs, "StatefulSet", "demo"), "k3s");
  CHECK(has_arg(*k3s, "--service-cidr=10.96.0.0/16"));
  CHECK(has_arg(*k3s, "--kube-apiserver-arg=feature-gates=BoundServiceAccountTokenVolume=true"));
}

TEST_CASE("the kubeconfig Secrets load as kubeconfigs and name the right servers") {
  auto objs = vc::cli::render_cluster_manifests(options());
  vc::kube::RestConfig cfg;
  std::string kc = find(objs, "Secret", "vc-demo")->at({"stringData", "config"})->as_string();
  REQUIRE(vc::kube::load_kubeconfig_yaml(kc, "", "", &cfg).ok());
  CHECK(cfg.server == "https://demo.team.svc:443");
  CHECK(cfg.ca_pem == test_pki().ca.cert_pem);
  CHECK(cfg.cert_pem == test_pki().admin.cert_pem);
  std::string admin = find(objs, "Secret", "demo-certs")->at({"stringData", "admin.kubeconfig"})->as_string();
  REQUIRE(vc::kube::load_kubeconfig_yaml(admin, "", "", &cfg).ok());
  CHECK(cfg.server == "https://127.0.0.1:6443");
}

TEST_CASE("certificates verify against their CA and carry the Service IP") {
  const auto& p = test_pki();
  CHECK(signed_by(p.apiserver.cert_pem, p.ca.cert_pem));
  CHECK(signed_by(p.admin.cert_pem, p.ca.cert_pem));
  CHECK(signed_by(p.controller_manager.cert_pem, p.ca.cert_pem));
  CHECK(signed_by(p.front_proxy_client.cert_pem, p.front_proxy_ca.cert_pem));
  CHECK_FALSE(signed_by(p.admin.cert_pem, p.front_proxy_ca.cert_pem));
  auto cert = load_cert(p.apiserver.cert_pem);
  CHECK(X509_check_ip_asc(cert.get(), "10.96.7.7", 0) == 1);
  CHECK(X509_check_host(cert.get(), "demo.team", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "other", 0, 0, nullptr) == 0);
  auto admin = load_cert(p.admin.cert_pem);
  char org[64] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(admin.get()), NID_organizationName, org, sizeof org);
  CHECK(std::string(org) == "system:masters");
  CHECK(p.sa_key_pem.find("BEGIN PRIVATE KEY") != std::string::npos);
  CHECK(p.sa_pub_pem.find("BEGIN PUBLIC KEY") != std::string::npos);
  // The service-account key signs a token per synced pod: ECDSA P-256 (ES256), not RSA.
  BIO* kb = BIO_new_mem_buf(p.sa_key_pem.data(), static_cast<int>(p.sa_key_pem.size()));
  EVP_PKEY* sa = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  REQUIRE(sa != nullptr);
  CHECK(EVP_PKEY_base_id(sa) == EVP_PKEY_EC);
  CHECK(EVP_PKEY_get_bits(sa) == 256);
  EVP_PKEY_free(sa);
}

TEST_CASE("first service IP and base64") {
  CHECK(vc::cli::first_service_ip("10.96.0.0/16") == "10.96.0.1");
  CHECK(vc::cli::first_service_ip("10.96.5.9/12") == "10.96.0.1");
  CHECK(vc::cli::first_service_ip("nonsense").empty());
  CHECK(vc::cli::base64("") == "");
  CHECK(vc::cli::base64("f") == "Zg==");
  CHECK(vc::cli::base64("fo") == "Zm8=");
  CHECK(vc::cli::base64("foo") == "Zm9v");
  std::string back;
  for (const std::string& in :
       std::vector<std::string>{"", "f", "fo", "foo", std::string("\0\xff\x10 bytes", 9)}) {
    REQUIRE(vc::cli::unbase64(vc::cli::base64(in), &back));
    CHECK(back == in);
  }
  CHECK(vc::cli::unbase64("Zm9v\r\nYmFy ", &back));  // whitespace as in Secret data
  CHECK(back == "foobar");
  CHECK_FALSE(vc::cli::unbase64("Zm9v!", &back));
}

TEST_CASE("the rendered YAML reads back as the same objects") {
  ManifestOptions o = options();
  o.isolate = true;
  auto objs = vc::cli::render_cluster_manifests(o);
  auto docs = YAML::LoadAll(vc::cli::to_yaml_documents(objs));
  REQUIRE(docs.size() == objs.size());
  for (size_t i = 0; i < docs.size(); i++) CHECK(vc::cli::test::from_yaml(docs[i]) == objs[i]);
}

TEST_CASE("sync.nodes.enableScheduler: a kube-scheduler in the control plane, with its own certificate") {
  ManifestOptions o = options();
  auto plain = vc::cli::render_cluster_manifests(o);
  CHECK(container(*find(plain, "StatefulSet", "demo"), "kube-scheduler") == nullptr);

  o.scheduler = true;
  auto objs = vc::cli::render_cluster_manifests(o);
  const Value* sts = find(objs, "StatefulSet", "demo");
  std::vector<std::string> names;
  for (auto& c : sts->at({"spec", "template", "spec"})->find("containers")->items())
    names.push_back(c.find("name")->as_string());
  CHECK(names == std::vector<std::string>{"etcd", "kube-apiserver", "kube-controller-manager",
                                          "kube-scheduler", "syncer"});
  const Value* sched = container(*sts, "kube-scheduler");
  CHECK(sched->find("image")->as_string() == "registry.k8s.io/kube-scheduler:v1.20.2");
  CHECK(has_arg(*sched, "--kubeconfig=/pki/scheduler.kubeconfig"));
  CHECK(has_arg(*sched, "--leader-elect=false"));

  // The scheduler authenticates as system:kube-scheduler, which the bootstrap RBAC policy binds.
  std::string kc =
      find(objs, "Secret", "demo-certs")->at({"stringData", "scheduler.kubeconfig"})->as_string();
  vc::kube::RestConfig cfg;
  REQUIRE(vc::kube::load_kubeconfig_yaml(kc, "", "", &cfg).ok());
  CHECK(cfg.server == "https://127.0.0.1:6443");
  CHECK(cfg.cert_pem == test_pki().scheduler.cert_pem);
  CHECK(signed_by(test_pki().scheduler.cert_pem, test_pki().ca.cert_pem));
  auto cert = load_cert(test_pki().scheduler.cert_pem);
  char cn[64] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  CHECK(std::string(cn) == "system:kube-scheduler");

  // k3s and k0s run their own scheduler unless told not to.
  for (bool on : {false, true}) {
    ManifestOptions k = options();
    k.scheduler = on;
    k.distro = "k3s";
    auto k3 = vc::cli::render_cluster_manifests(k);
    CHECK(has_arg(*container(*find(k3, "StatefulSet", "demo"), "k3s"), "--disable-scheduler") == !on);
    k.distro = "k0s";
    auto k0 = vc::cli::render_cluster_manifests(k);
    std::string disabled;
    for (auto& a : container(*find(k0, "StatefulSet", "demo"), "k0s")->find("command")->items())
      if (a.as_string().rfind("--disable-components=", 0) == 0) disabled = a.as_string();
    REQUIRE(!disabled.empty());
    CHECK((disabled.find("kube-scheduler") != std::string::npos) == !on);
    CHECK(disabled.find("konnectivity-server") != std::string::npos);
  }
}
