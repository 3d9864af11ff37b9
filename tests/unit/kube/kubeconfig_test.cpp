// Kubeconfig loading and editing against inline documents and temporary files.
#include "kube/kubeconfig.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using vc::Error;
using vc::ErrorKind;
using vc::kube::RestConfig;

namespace {

// A temporary directory removed at scope exit, so tests leave nothing behind even when a CHECK fails.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vc-kubeconfig-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& rel, const std::string& content) const {
    std::string full = path + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream(full) << content;
    return full;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sets or unsets an environment variable for one scope and restores the previous value.
struct ScopedEnv {
  std::string name;
  bool had = false;
  std::string old;
  ScopedEnv(const char* n, const char* value) : name(n) {
    if (const char* o = ::getenv(n)) {
      had = true;
      old = o;
    }
    if (value != nullptr) {
      ::setenv(n, value, 1);
    } else {
      ::unsetenv(n);
    }
  }
  ~ScopedEnv() {
    if (had) {
      ::setenv(name.c_str(), old.c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
};

// "CA PEM" / "CERT PEM" / "KEY PEM" in base64.
const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: kind-a
clusters:
- name: a
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EgUEVN
- name: b
  cluster:
    server: https://10.0.0.1:443/prefix
    insecure-skip-tls-verify: true
    tls-server-name: api.internal
users:
- name: admin-a
  user:
    client-certificate-data: Q0VSVCBQRU0=
    client-key-data: S0VZIFBFTQ==
- name: admin-b
  user:
    token: abc.def
contexts:
- name: kind-a
  context:
    cluster: a
    user: admin-a
- name: b-ctx
  context:
    cluster: b
    user: admin-b
    namespace: team-b
)";

}  // namespace

TEST_CASE("inline base64 data of the current context is decoded") {
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_yaml(kTwoContexts, "", "", &cfg);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(cfg.context == "kind-a");
  CHECK(cfg.cluster_name == "a");
  CHECK(cfg.user_name == "admin-a");
  CHECK(cfg.server == "https://127.0.0.1:6443");  // the trailing '/' is dropped
  CHECK(cfg.ca_pem == "CA PEM");
  CHECK(cfg.cert_pem == "CERT PEM");
  CHECK(cfg.key_pem == "KEY PEM");
  CHECK(cfg.namespace_ == "default");
  CHECK(cfg.token.empty());
  CHECK_FALSE(cfg.insecure_skip_tls_verify);
}

TEST_CASE("an explicit context overrides current-context and carries insecure, server name and token") {
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_yaml(kTwoContexts, "", "b-ctx", &cfg);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(cfg.server == "https://10.0.0.1:443/prefix");
  CHECK(cfg.insecure_skip_tls_verify);
  CHECK(cfg.tls_server_name == "api.internal");
  CHECK(cfg.token == "abc.def");
  CHECK(cfg.namespace_ == "team-b");
  CHECK(cfg.ca_pem.empty());
}

TEST_CASE("a missing context is refused with the known contexts listed") {
  TempDir d;
  std::string path = d.file("config", kTwoContexts);
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_file(path, "foo", &cfg);
  CHECK(e.kind == ErrorKind::kInvalidArgument);
  CHECK(e.message == "kubeconfig " + path +
                         ": context \"foo\" not found (known contexts: kind-a, b-ctx); pass --context or fix "
                         "current-context");
}

TEST_CASE("a missing current-context asks for --context") {
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_yaml("contexts:\n- name: x\n  context: {cluster: c}\n", "", "", &cfg);
  CHECK(e.message ==
        "kubeconfig <inline>: no current-context is set (known contexts: x); pass --context or set "
        "current-context");
}

TEST_CASE("relative file references resolve against the kubeconfig's directory") {
  TempDir d;
  d.file("certs/ca.crt", "FILE CA");
  d.file("certs/client.crt", "FILE CERT");
  d.file("certs/client.key", "FILE KEY");
  std::string path = d.file("kube/../config", R"(current-context: c
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: certs/ca.crt}}]
users: [{name: u, user: {client-certificate: certs/client.crt, client-key: certs/client.key}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
)");
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_file(path, "", &cfg);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(cfg.ca_pem == "FILE CA");
  CHECK(cfg.cert_pem == "FILE CERT");
  CHECK(cfg.key_pem == "FILE KEY");

  // The same document from another directory cannot find the files, and the error names the resolved path.
  Error e2 = vc::kube::load_kubeconfig_yaml(slurp(path), "/nonexistent-dir", "", &cfg);
  CHECK(e2.kind == ErrorKind::kIo);
  CHECK(e2.message.find(
            "clusters[0].cluster.certificate-authority file /nonexistent-dir/certs/ca.crt cannot be "
            "read") != std::string::npos);
}

TEST_CASE("tokenFile is read, trimmed, kept for rotation, and wins over token") {
  TempDir d;
  d.file("tok", "file-token\n");
  std::string path = d.file("config", R"(current-context: c
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {token: inline-token, tokenFile: tok}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
)");
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_file(path, "", &cfg);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(cfg.token == "file-token");
  CHECK(cfg.token_file == d.path + "/tok");
}

TEST_CASE("a cluster without a server is refused naming the field to set") {
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_yaml(
      "current-context: x\nclusters: [{name: c, cluster: {}}]\ncontexts: [{name: x, context: {cluster: "
      "c}}]\n",
      "", "", &cfg);
  CHECK(e.message == "kubeconfig <inline>: cluster \"c\" has no server; set clusters[0].cluster.server");
}

TEST_CASE("invalid base64 names the YAML path") {
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_yaml(R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {client-certificate-data: "not*base64", client-key-data: S0VZ}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)",
                                           "", "", &cfg);
  CHECK(e.message ==
        "kubeconfig <inline>: users[0].user.client-certificate-data is not valid base64; re-encode it with "
        "base64 -w0");
}

TEST_CASE("malformed YAML reports line and column") {
  TempDir d;
  std::string path = d.file("config", "clusters:\n- name: a\n  cluster: {server: [\n");
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_file(path, "", &cfg);
  CHECK(e.kind == ErrorKind::kParse);
  CHECK(e.message.rfind("kubeconfig " + path + ":4:1: not valid YAML (", 0) == 0);
}

TEST_CASE("malformed shapes return errors instead of crashing") {
  const char* docs[] = {
      "- a\n- b\n",
      "just a scalar",
      "clusters: 5\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
      "current-context: x\ncontexts: [5]\n",
      "current-context: x\ncontexts: [{name: [1], context: {}}]\n",
      "current-context: x\ncontexts: [{name: x, context: scalar}]\n",
      "current-context: [x]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: "
      "{server: "
      "{a: b}}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: "
      "{server: "
      "\"https://h\", insecure-skip-tls-verify: maybe}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, "
      "cluster: "
      "{server: \"https://h\"}}]\nusers: [{name: u, user: {exec: {command: gcloud}}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: nobody}}]\nclusters: [{name: c, "
      "cluster: "
      "{server: \"https://h\"}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: "
      "{server: "
      "\"ftp://h\"}}]\n",
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: "
      "{server: "
      "\"https://h\", certificate-authority-data: \"QQ=A\"}}]\n",
      "{{{{",
      "current-context: x\n\tbad: tab\n",
  };
  for (const char* doc : docs) {
    CAPTURE(doc);
    RestConfig cfg;
    Error e = vc::kube::load_kubeconfig_yaml(doc, "", "", &cfg);
    CHECK_FALSE(e.ok());
    CHECK(e.message.rfind("kubeconfig <inline>", 0) == 0);
  }
}

TEST_CASE("upsert, set-current and remove round-trip and keep an unrelated context intact") {
  TempDir d;
  std::string path = d.path + "/sub/dir/config";  // the directory does not exist yet

  RestConfig cfg;
  cfg.server = "https://127.0.0.1:8443";
  cfg.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  cfg.cert_pem = "CERT";
  cfg.key_pem = "KEY";
  cfg.namespace_ = "ns1";
  Error e = vc::kube::kubeconfig_upsert_context(path, "vcluster_demo", cfg, true);
  REQUIRE_MESSAGE(e.ok(), e.message);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // An unrelated context, sharing nothing with ours.
  RestConfig other;
  other.server = "https://10.1.1.1:6443";
  other.token = "tok";
  REQUIRE(vc::kube::kubeconfig_upsert_context(path, "host", other, false).ok());

  std::string cur;
  REQUIRE(vc::kube::kubeconfig_current_context(path, &cur).ok());
  CHECK(cur == "vcluster_demo");

  RestConfig back;
  e = vc::kube::load_kubeconfig_file(path, "", &back);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(back.server == cfg.server);
  CHECK(back.ca_pem == cfg.ca_pem);
  CHECK(back.cert_pem == "CERT");
  CHECK(back.key_pem == "KEY");
  CHECK(back.namespace_ == "ns1");

  // Upserting again replaces rather than duplicates.
  cfg.server = "https://127.0.0.1:9443";
  REQUIRE(vc::kube::kubeconfig_upsert_context(path, "vcluster_demo", cfg, false).ok());
  REQUIRE(vc::kube::load_kubeconfig_file(path, "vcluster_demo", &back).ok());
  CHECK(back.server == "https://127.0.0.1:9443");
  std::string text = slurp(path);
  CHECK(text.find("127.0.0.1:8443") == std::string::npos);

  REQUIRE(vc::kube::kubeconfig_set_current(path, "host").ok());
  REQUIRE(vc::kube::kubeconfig_current_context(path, &cur).ok());
  CHECK(cur == "host");
  Error missing = vc::kube::kubeconfig_set_current(path, "nope");
  CHECK(missing.code == 404);
  CHECK(missing.message.find("known contexts: vcluster_demo, host") != std::string::npos);

  REQUIRE(vc::kube::kubeconfig_set_current(path, "vcluster_demo").ok());
  e = vc::kube::kubeconfig_remove_context(path, "vcluster_demo");
  REQUIRE_MESSAGE(e.ok(), e.message);
  REQUIRE(vc::kube::kubeconfig_current_context(path, &cur).ok());
  CHECK(cur.empty());
  text = slurp(path);
  CHECK(text.find("vcluster_demo") == std::string::npos);  // its cluster and user went with it
  RestConfig host;
  e = vc::kube::load_kubeconfig_file(path, "host", &host);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(host.server == "https://10.1.1.1:6443");
  CHECK(host.token == "tok");
  CHECK(vc::kube::kubeconfig_remove_context(path, "vcluster_demo").code == 404);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp-" + std::to_string(::getpid())));
}

TEST_CASE("remove keeps a cluster still used by another context") {
  TempDir d;
  std::string path = d.file("config", kTwoContexts);
  std::string text =
      std::string(kTwoContexts) + "- name: a2\n  context:\n    cluster: a\n    user: admin-b\n";
  d.file("config", text);
  REQUIRE(vc::kube::kubeconfig_remove_context(path, "kind-a").ok());
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_file(path, "a2", &cfg);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(cfg.ca_pem == "CA PEM");
  CHECK(slurp(path).find("admin-a") == std::string::npos);  // the user was unused and is gone
}

TEST_CASE("editing refuses a file it cannot parse and leaves it untouched") {
  TempDir d;
  std::string path = d.file("config", "clusters: [\n");
  RestConfig cfg;
  cfg.server = "https://h:1";
  Error e = vc::kube::kubeconfig_upsert_context(path, "x", cfg, true);
  CHECK(e.kind == ErrorKind::kParse);
  CHECK(slurp(path) == "clusters: [\n");
}

TEST_CASE("in-cluster config from env and service-account files, IPv6 bracketed") {
  TempDir d;
  vc::kube::InClusterPaths paths;
  paths.token_file = d.file("token", "sa-token\n");
  paths.ca_file = d.file("ca.crt", "SA CA");
  paths.namespace_file = d.file("namespace", "vcluster-demo");

  {
    ScopedEnv h("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    ScopedEnv p("KUBERNETES_SERVICE_PORT", "443");
    RestConfig cfg;
    Error e = vc::kube::load_in_cluster(&cfg, paths);
    REQUIRE_MESSAGE(e.ok(), e.message);
    CHECK(cfg.server == "https://10.96.0.1:443");
    CHECK(cfg.token == "sa-token");
    CHECK(cfg.token_file == paths.token_file);
    CHECK(cfg.ca_pem == "SA CA");
    CHECK(cfg.namespace_ == "vcluster-demo");
  }
  {
    ScopedEnv h("KUBERNETES_SERVICE_HOST", "fd00::1");
    ScopedEnv p("KUBERNETES_SERVICE_PORT", "6443");
    RestConfig cfg;
    REQUIRE(vc::kube::load_in_cluster(&cfg, paths).ok());
    CHECK(cfg.server == "https://[fd00::1]:6443");
  }
  {
    ScopedEnv h("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    ScopedEnv p("KUBERNETES_SERVICE_PORT", "https");
    RestConfig cfg;
    Error e = vc::kube::load_in_cluster(&cfg, paths);
    CHECK(e.message ==
          "in-cluster config: KUBERNETES_SERVICE_PORT \"https\" is not a port number; fix the pod's "
          "environment");
  }
  {
    ScopedEnv h("KUBERNETES_SERVICE_HOST", nullptr);
    ScopedEnv p("KUBERNETES_SERVICE_PORT", "443");
    RestConfig cfg;
    CHECK(vc::kube::load_in_cluster(&cfg, paths).code == 404);
  }
  {
    ScopedEnv h("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    ScopedEnv p("KUBERNETES_SERVICE_PORT", "443");
    vc::kube::InClusterPaths bad = paths;
    bad.token_file = d.path + "/missing-token";
    RestConfig cfg;
    Error e = vc::kube::load_in_cluster(&cfg, bad);
    CHECK(e.kind == ErrorKind::kIo);
    CHECK(e.message.find(bad.token_file) != std::string::npos);
  }
}

TEST_CASE("load_default: explicit path, then the $KUBECONFIG file holding the context, then ~/.kube/config") {
  TempDir d;
  std::string first =
      d.file("one",
             "current-context: one\nclusters: [{name: c, cluster: {server: \"https://one:1\"}}]\n"
             "contexts: [{name: one, context: {cluster: c}}]\n");
  std::string second = d.file("two",
                              "clusters: [{name: c, cluster: {server: \"https://two:2\"}}]\n"
                              "contexts: [{name: two, context: {cluster: c}}]\n");
  d.file("home/.kube/config",
         "current-context: h\nclusters: [{name: c, cluster: {server: \"https://home:3\"}}]\n"
         "contexts: [{name: h, context: {cluster: c}}]\n");
  ScopedEnv home("HOME", (d.path + "/home").c_str());
  RestConfig cfg;
  {
    ScopedEnv kc("KUBECONFIG", (d.path + "/absent:" + first + ":" + second).c_str());
    REQUIRE(vc::kube::load_default("", "two", &cfg).ok());
    CHECK(cfg.server == "https://two:2");
    REQUIRE(vc::kube::load_default("", "", &cfg).ok());
    CHECK(cfg.server == "https://one:1");
    Error e = vc::kube::load_default("", "three", &cfg);
    CHECK(e.message.find("has context \"three\"") != std::string::npos);
    REQUIRE(vc::kube::load_default(second, "", &cfg).kind ==
            ErrorKind::kInvalidArgument);  // no current-context
  }
  {
    ScopedEnv kc("KUBECONFIG", nullptr);
    REQUIRE(vc::kube::load_default("", "", &cfg).ok());
    CHECK(cfg.server == "https://home:3");
  }
  {
    ScopedEnv kc("KUBECONFIG", nullptr);
    ScopedEnv h2("HOME", (d.path + "/nohome").c_str());
    ScopedEnv sh("KUBERNETES_SERVICE_HOST", nullptr);
    Error e = vc::kube::load_default("", "", &cfg);
    CHECK(e.message.rfind("no kubeconfig found", 0) == 0);
  }
}

// yaml-cpp 0.7 never returns from a document whose first value starts with ',' (found by fuzzing the values
// file); a kubeconfig like that must be refused, not hang every command that reads it.
TEST_CASE("a kubeconfig whose first value starts with ',' is refused instead of hanging yaml-cpp") {
  RestConfig cfg;
  Error e = vc::kube::load_kubeconfig_yaml("# kubeconfig\n, clusters", "", "", &cfg);
  CHECK(e.kind == ErrorKind::kParse);
  CHECK(e.message ==
        "kubeconfig <inline>:2:1: not valid YAML (a value cannot start with ','; quote it); fix the file or "
        "pass "
        "another --kubeconfig");
}
