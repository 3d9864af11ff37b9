// state.json: round trip of every field, atomic save, listing and lookup by name across namespaces.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/state.hpp"

using vc::cli::State;

namespace {

// A private state root for one test, removed at the end.
struct TempRoot {
  std::string path;
  TempRoot() {
    char tmpl[] = "/tmp/vc-cli-state-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = std::filesystem::canonical(tmpl).string();
    setenv("VCLUSTER_STATE_DIR", path.c_str(), 1);
  }
  ~TempRoot() {
    std::filesystem::remove_all(path);
    unsetenv("VCLUSTER_STATE_DIR");
  }
};

State sample(const std::string& name, const std::string& ns) {
  State s;
  s.name = name;
  s.namespace_ = ns;
  s.driver = "local";
  s.distro = "k8s";
  s.created = "2026-01-02T03:04:05Z";
  s.host_context = "host";
  s.host_server = "https://127.0.0.1:6443";
  s.namespace_created = true;
  s.plugins = {"/p/libvcp-pods.so"};
  s.values_files = {"a.yaml"};
  s.isolate = true;
  s.owned = {{"", "v1", "pods", true}, {"storage.k8s.io", "v1", "storageclasses", false}};
  s.context_name = "vcluster_" + name + "_" + ns + "_host";
  s.kubeconfig_file = "/k";
  s.previous_context = "prev";
  s.paused = true;
  s.paused_at = "2026-01-02T03:05:00Z";
  s.paused_pods = {"a-x-default-x-" + name};
  s.bed = "/bed/cluster";
  s.cp_name = ns + "-" + name;
  s.service_cidr = "10.96.0.0/16";
  s.components = {{"etcd", 11, {"etcd", "--data-dir", "/x"}}, {"kube-apiserver", 12, {"kube-apiserver"}}};
  s.syncer_pid = 13;
  s.syncer_port = 4567;
  s.dns_address = "10.88.0.1:40053";
  s.syncer = "/bin/vcluster-syncer";
  s.api_server = "https://127.0.0.1:29000";
  return s;
}

}  // namespace

TEST_CASE("every field survives to_json and from_json") {
  State s = sample("demo", "team");
  State back;
  REQUIRE(State::from_json(s.to_json(), "x", &back).ok());
  CHECK(vc::json::dump(back.to_json()) == vc::json::dump(s.to_json()));
  CHECK(back.components[0].argv == std::vector<std::string>{"etcd", "--data-dir", "/x"});
  CHECK(back.owned[1].namespaced == false);
  CHECK(back.syncer_port == 4567);
  CHECK(back.dns_address == "10.88.0.1:40053");

  s.driver = "cluster";
  s.applied = {{"apps/v1", "StatefulSet", "team", "demo"}};
  REQUIRE(State::from_json(s.to_json(), "x", &back).ok());
  CHECK(back.applied.size() == 1);
  CHECK(back.applied[0].kind == "StatefulSet");
}

TEST_CASE("a file that is not a state is refused naming it") {
  State out;
  auto v = vc::json::parse(R"({"name":"x"})");
  vc::Error e = State::from_json(*v, "/s/state.json", &out);
  CHECK(e.message == "/s/state.json is not a vcluster state file (no name or namespace); remove it");
  v = vc::json::parse(R"({"name":"x","namespace":"y","driver":"docker"})");
  CHECK(State::from_json(*v, "/s/state.json", &out).message ==
        "/s/state.json names an unknown driver 'docker'; remove the file");
}

TEST_CASE("save, load, list and find") {
  TempRoot root;
  CHECK(vc::cli::state_root() == root.path);
  CHECK(vc::cli::state_dir("team", "demo") == root.path + "/team/demo");
  State loaded;
  CHECK(vc::cli::load_state(vc::cli::state_dir("team", "demo"), &loaded).code == 404);

  REQUIRE(vc::cli::save_state(vc::cli::state_dir("team", "demo"), sample("demo", "team")).ok());
  REQUIRE(vc::cli::save_state(vc::cli::state_dir("other", "demo"), sample("demo", "other")).ok());
  REQUIRE(vc::cli::save_state(vc::cli::state_dir("other", "b"), sample("b", "other")).ok());
  CHECK_FALSE(std::filesystem::exists(vc::cli::state_dir("team", "demo") + "/state.json.tmp"));
  CHECK((std::filesystem::status(vc::cli::state_dir("team", "demo")).permissions() &
         std::filesystem::perms::others_read) == std::filesystem::perms::none);

  REQUIRE(vc::cli::load_state(vc::cli::state_dir("team", "demo"), &loaded).ok());
  CHECK(loaded.namespace_ == "team");

  // A broken file is reported, not fatal to the listing.
  std::filesystem::create_directories(root.path + "/bad/x");
  std::ofstream(root.path + "/bad/x/state.json") << "{not json";
  std::vector<std::string> problems;
  auto all = vc::cli::list_states(&problems);
  REQUIRE(all.size() == 3);
  CHECK(all[0].namespace_ == "other");
  CHECK(all[0].name == "b");
  CHECK(all[2].namespace_ == "team");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find(root.path + "/bad/x/state.json is not valid JSON") == 0);

  State found;
  std::string dir;
  REQUIRE(vc::cli::find_state("b", "", &found, &dir).ok());
  CHECK(dir == root.path + "/other/b");
  vc::Error e = vc::cli::find_state("demo", "", &found, &dir);
  CHECK(e.message == "vcluster demo exists in several namespaces (other, team); pass -n NAMESPACE");
  REQUIRE(vc::cli::find_state("demo", "team", &found, &dir).ok());
  CHECK(found.namespace_ == "team");
  e = vc::cli::find_state("nope", "", &found, &dir);
  CHECK(e.code == 404);
  CHECK(e.message.find("no vcluster named nope was created from this machine") == 0);
  CHECK(vc::cli::find_state("nope", "team", &found, &dir).code == 404);
}

TEST_CASE("ages read like kubectl's") {
  CHECK(vc::cli::age_since("garbage") == "?");
  std::string now = vc::cli::now_rfc3339();
  CHECK(now.size() == 20);
  std::string age = vc::cli::age_since(now);
  CHECK((age == "0s" || age == "1s"));
  CHECK(vc::cli::age_since("2000-01-01T00:00:00Z").back() == 'd');
}
