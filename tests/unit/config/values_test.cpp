// The values file: validation errors (exact text), merge order, defaults, every key type, wildcard keys,
// docs.
#include "config/values.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using vc::Error;
using vc::ErrorKind;
using vc::config::KeySpec;
using vc::config::KeyType;
using vc::config::Values;

namespace {

// The core's keys plus a table shaped like the pods and nodes plugins' declarations.
std::vector<KeySpec> test_spec() {
  std::vector<KeySpec> spec = vc::config::core_keys();
  spec.push_back({"sync.pods.enabled", KeyType::kBool, "true", "Sync pods.", {}, "pods", {}});
  spec.push_back(
      {"sync.pods.ephemeralContainers", KeyType::kBool, "false", "Ephemeral containers.", {}, "pods", {}});
  spec.push_back({"sync.pods.translateImage", KeyType::kStringMap, "{}", "Image rewrites.", {}, "pods", {}});
  spec.push_back({"sync.nodes.enabled", KeyType::kBool, "false", "Sync real nodes.", {}, "nodes", {}});
  spec.push_back({"sync.nodes.nodeSelector", KeyType::kString, "", "Node label selector.", {}, "nodes", {}});
  spec.push_back({"sync.nodes.maxNodes", KeyType::kInt, "", "Cap.", {}, "nodes", {}});
  return spec;
}

Error load(std::string_view yaml, Values* v) {
  return Values::load_string(yaml, "values.yaml", test_spec(), v);
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vc-values-XXXXXX";
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
    std::ofstream(full) << content;
    return full;
  }
};

}  // namespace

TEST_CASE("the core and test tables pass validate_spec") {
  Error e = vc::config::validate_spec(test_spec());
  CHECK_MESSAGE(e.ok(), e.message);
}

TEST_CASE("an empty file yields every default and sets nothing") {
  Values v;
  REQUIRE(load("", &v).ok());
  CHECK(v.get_bool("sync.pods.enabled"));
  CHECK_FALSE(v.get_bool("sync.nodes.enabled"));
  CHECK(v.get_string("syncer.clusterDomain") == "cluster.local");
  CHECK(v.get_string("isolation.podSecurityStandard") == "baseline");
  CHECK(v.get_int("syncer.hostQPS") == 0);
  CHECK(v.get_object_list("mapServices.fromHost").empty());
  CHECK_FALSE(v.is_set("sync.pods.enabled"));
  // No default: absent from get_raw, zero from the getter.
  CHECK_FALSE(v.get_raw("sync.nodes.maxNodes").has_value());
  CHECK(v.get_int("sync.nodes.maxNodes") == 0);
  CHECK(v.get_raw("sync.nodes.nodeSelector") == std::nullopt);
  // Paths outside the table are not values.
  CHECK_FALSE(v.get_raw("sync.bogus").has_value());
}

TEST_CASE("a misspelt key is refused with position and a did-you-mean") {
  Values v;
  Error e = load("sync:\n  pods:\n    enabeld: true\n", &v);
  CHECK(e.kind == ErrorKind::kInvalidArgument);
  CHECK(e.message ==
        "values.yaml:3:5: sync.pods.enabeld is not a known key (did you mean sync.pods.enabled?)");

  e = load("sync:\n  pod:\n    enabled: true\n", &v);
  CHECK(e.message == "values.yaml:2:3: sync.pod is not a known key (did you mean sync.pods?)");

  e = load("syncer:\n  loglevel: debug\n", &v);
  CHECK(e.message == "values.yaml:2:3: syncer.loglevel is not a known key (did you mean syncer.logLevel?)");
}

TEST_CASE("an unknown key with nothing close lists the known keys at that level") {
  Values v;
  Error e = load("sync:\n  volumesnapshots:\n    enabled: true\n", &v);
  CHECK(e.message ==
        "values.yaml:2:3: sync.volumesnapshots is not a known key (known keys under sync: nodes, pods)");
  e = load("zzz: 1\n", &v);
  CHECK(
      e.message ==
      "values.yaml:1:1: zzz is not a known key (known top-level keys: isolation, mapServices, plugins, sync, "
      "syncer)");
}

TEST_CASE("YAML 1.1 booleans are refused: yes is not true") {
  Values v;
  Error e = load("sync:\n  nodes:\n    enabled: yes\n", &v);
  CHECK(e.message == "values.yaml:3:14: sync.nodes.enabled must be a boolean (true or false), got \"yes\"");
  e = load("sync:\n  nodes:\n    enabled: \"true\"\n", &v);
  CHECK(e.message ==
        "values.yaml:3:14: sync.nodes.enabled must be a boolean (true or false), got the quoted string "
        "\"true\"");
  REQUIRE(load("sync:\n  nodes:\n    enabled: True\n", &v).ok());
  CHECK(v.get_bool("sync.nodes.enabled"));
}

TEST_CASE("wrong types for int, string, list, object list and string map") {
  Values v;
  CHECK(load("syncer:\n  hostQPS: fast\n", &v).message ==
        "values.yaml:2:12: syncer.hostQPS must be an integer (decimal, within 64 bits), got \"fast\"");
  CHECK(load("syncer:\n  hostQPS: 99999999999999999999\n", &v).message ==
        "values.yaml:2:12: syncer.hostQPS must be an integer (decimal, within 64 bits), got "
        "\"99999999999999999999\"");
  CHECK(load("syncer:\n  clusterDomain: [a]\n", &v).message ==
        "values.yaml:2:18: syncer.clusterDomain must be a string, got a list");
  CHECK(load("syncer:\n  logLevel: verbose\n", &v).message ==
        "values.yaml:2:13: syncer.logLevel must be one of trace, debug, info, warn, error, got \"verbose\"");
  CHECK(load("syncer:\n  syncLabels: app\n", &v).message ==
        "values.yaml:2:15: syncer.syncLabels must be a list of strings, got \"app\"");
  CHECK(load("syncer:\n  syncLabels: [a, {b: c}]\n", &v).message ==
        "values.yaml:2:19: syncer.syncLabels[1] must be a string, got a mapping");
  CHECK(load("mapServices:\n  fromHost: [x]\n", &v).message ==
        "values.yaml:2:14: mapServices.fromHost[0] must be a mapping with fields from, to, got \"x\"");
  CHECK(load("mapServices:\n  fromHost:\n  - form: a/b\n    to: c/d\n", &v).message ==
        "values.yaml:3:5: mapServices.fromHost[0].form is not a known field (did you mean from?)");
  CHECK(load("mapServices:\n  fromHost:\n  - via: a/b\n", &v).message ==
        "values.yaml:3:5: mapServices.fromHost[0].via is not a known field (fields: from, to)");
  CHECK(load("sync:\n  pods:\n    translateImage: [a]\n", &v).message ==
        "values.yaml:3:21: sync.pods.translateImage must be a mapping of names to strings, got a list");
}

TEST_CASE("a scalar where a mapping is expected, and a non-mapping document") {
  Values v;
  CHECK(load("sync: true\n", &v).message ==
        "values.yaml:1:7: sync must be a mapping (with keys such as nodes, pods), got \"true\"");
  CHECK(load("- a\n- b\n", &v).message ==
        "values.yaml:1:1: the document must be a mapping of keys (such as isolation, mapServices, plugins, "
        "sync, "
        "syncer), got a list");
}

TEST_CASE("malformed YAML reports line and column") {
  Values v;
  Error e = load("sync:\n  pods:\n    enabled: [true\n", &v);
  CHECK(e.kind == ErrorKind::kParse);
  CHECK(e.message == "values.yaml:4:1: not valid YAML (end of sequence flow not found); fix the syntax");
}

TEST_CASE("a duplicate key in one mapping is refused") {
  Values v;
  CHECK(load("sync:\n  pods:\n    enabled: true\n    enabled: false\n", &v).message ==
        "values.yaml:4:5: sync.pods.enabled appears twice in the same mapping (first at 3:5); keep one");
}

TEST_CASE("an unreadable file names its path") {
  Values v;
  Error e = Values::load({"/nonexistent/values.yaml"}, test_spec(), &v);
  CHECK(e.kind == ErrorKind::kIo);
  CHECK(e.message ==
        "values file /nonexistent/values.yaml cannot be read (No such file or directory); check the -f "
        "path");
}

TEST_CASE("later files override earlier ones key by key; string maps merge; null restores the default") {
  TempDir d;
  std::string a = d.file("a.yaml", R"(sync:
  nodes:
    enabled: true
    nodeSelector: "role=worker"
  pods:
    translateImage: {nginx: mirror/nginx, busybox: mirror/busybox}
syncer:
  hostQPS: 50
  syncLabels: [app, tier]
)");
  std::string b = d.file("b.yaml", R"(sync:
  nodes:
    nodeSelector: "role=edge"
  pods:
    translateImage: {busybox: ~, redis: mirror/redis}
syncer:
  hostQPS: ~
  syncLabels: [team]
)");
  Values v;
  Error e = Values::load({a, b}, test_spec(), &v);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(v.get_bool("sync.nodes.enabled"));                                            // only a sets it
  CHECK(v.get_string("sync.nodes.nodeSelector") == "role=edge");                      // b wins
  CHECK(v.get_string_list("syncer.syncLabels") == std::vector<std::string>{"team"});  // lists are replaced
  CHECK(v.get_int("syncer.hostQPS") == 0);  // null in b: back to the default
  CHECK_FALSE(v.is_set("syncer.hostQPS"));
  CHECK(v.get_string_map("sync.pods.translateImage") ==
        std::map<std::string, std::string>{{"nginx", "mirror/nginx"}, {"redis", "mirror/redis"}});

  // The reverse order gives the other answers: order matters.
  REQUIRE(Values::load({b, a}, test_spec(), &v).ok());
  CHECK(v.get_string("sync.nodes.nodeSelector") == "role=worker");
  CHECK(v.get_int("syncer.hostQPS") == 50);

  // Errors in the second file name the second file.
  std::string bad = d.file("bad.yaml", "isolation:\n  enabled: 1\n");
  CHECK(Values::load({a, bad}, test_spec(), &v).message ==
        bad + ":2:12: isolation.enabled must be a boolean (true or false), got \"1\"");
}

TEST_CASE("mapServices object lists keep their entries in order") {
  Values v;
  Error e = load(R"(mapServices:
  fromHost:
  - from: other-ns/my-svc
    to: my-vcluster-ns/my-svc
  - {from: db, to: default/db}
  fromVirtual:
  - from: my-namespace/name
    to: host-service
)",
                 &v);
  REQUIRE_MESSAGE(e.ok(), e.message);
  auto from_host = v.get_object_list("mapServices.fromHost");
  REQUIRE(from_host.size() == 2);
  CHECK(from_host[0].at("from") == "other-ns/my-svc");
  CHECK(from_host[0].at("to") == "my-vcluster-ns/my-svc");
  CHECK(from_host[1].at("from") == "db");
  CHECK(v.get_object_list("mapServices.fromVirtual").at(0).at("to") == "host-service");
  CHECK(v.get_raw("mapServices.fromVirtual") == R"([{"from":"my-namespace/name","to":"host-service"}])");
}

TEST_CASE("wildcard plugin keys accept any name, default per name, and list the names used") {
  Values v;
  Error e = load("plugins:\n  pods:\n    enabled: false\n  my-crd:\n    path: /opt/vcp/libmy.so\n", &v);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK_FALSE(v.get_bool("plugins.pods.enabled"));
  CHECK(v.get_bool("plugins.my-crd.enabled"));  // defaulted per name
  CHECK(v.get_string("plugins.my-crd.path") == "/opt/vcp/libmy.so");
  CHECK(v.get_bool("plugins.never-mentioned.enabled"));
  CHECK(v.names_under("plugins") == std::vector<std::string>{"my-crd", "pods"});

  CHECK(load("plugins:\n  pods:\n    enabeld: false\n", &v).message ==
        "values.yaml:3:5: plugins.pods.enabeld is not a known key (did you mean plugins.pods.enabled?)");
  CHECK(load("plugins:\n  \"a.b\":\n    enabled: true\n", &v).message ==
        "values.yaml:2:3: \"a.b\" under plugins is not a valid name; names may not be empty or contain '.'");
  CHECK(load("plugins:\n  pods: true\n", &v).message ==
        "values.yaml:2:9: plugins.pods must be a mapping (with keys such as enabled, path), got \"true\"");
}

TEST_CASE("get_raw renders each type for the C ABI") {
  Values v;
  REQUIRE(load("syncer:\n  hostBurst: -3\n  syncLabels: [a, \"q\\\"x\"]\nsync:\n  pods:\n    translateImage: "
               "{b: \"2\", a: \"1\"}\n",
               &v)
              .ok());
  CHECK(v.get_raw("sync.pods.enabled") == "true");
  CHECK(v.get_raw("syncer.hostBurst") == "-3");
  CHECK(v.get_raw("syncer.clusterDomain") == "cluster.local");
  CHECK(v.get_raw("syncer.syncLabels") == R"(["a","q\"x"])");
  CHECK(v.get_raw("sync.pods.translateImage") == R"({"a":"1","b":"2"})");
}

TEST_CASE("to_yaml round-trips the effective values") {
  Values v;
  REQUIRE(load("sync:\n  nodes:\n    enabled: true\n    maxNodes: 7\nplugins:\n  pods:\n    path: "
               "/x.so\nmapServices:\n "
               " fromHost: [{from: a/b, to: c/d}]\nsyncer:\n  clusterDomain: \"true\"\n",
               &v)
              .ok());
  std::string y = v.to_yaml();
  CAPTURE(y);
  Values back;
  Error e = Values::load_string(y, "effective.yaml", test_spec(), &back);
  REQUIRE_MESSAGE(e.ok(), e.message);
  CHECK(back.get_bool("sync.nodes.enabled"));
  CHECK(back.get_int("sync.nodes.maxNodes") == 7);
  CHECK(back.get_string("plugins.pods.path") == "/x.so");
  CHECK(back.is_set("plugins.pods.enabled"));  // the per-name default was written out
  CHECK(back.get_object_list("mapServices.fromHost").at(0).at("to") == "c/d");
  CHECK(back.get_string("syncer.clusterDomain") == "true");
  CHECK(y.find("clusterDomain: \"true\"") != std::string::npos);  // quoted, so helm reads a string too
  CHECK(back.is_set("sync.pods.enabled"));
  CHECK_FALSE(back.is_set("sync.nodes.nodeSelector"));  // no default, not set: not written
  CHECK(back.to_yaml() == y);
}

TEST_CASE("validate_spec refuses broken tables naming the key and owner") {
  std::vector<KeySpec> dup = {{"sync.pods.enabled", KeyType::kBool, "true", "", {}, "core", {}},
                              {"sync.pods.enabled", KeyType::kBool, "true", "", {}, "pods", {}}};
  CHECK(vc::config::validate_spec(dup).message ==
        "key table: sync.pods.enabled (owner pods) is declared twice (also by core); each key has one owner");
  std::vector<KeySpec> bad_default = {{"syncer.hostQPS", KeyType::kInt, "many", "", {}, "core", {}}};
  Error e = vc::config::validate_spec(bad_default);
  CHECK(e.kind == ErrorKind::kInternal);
  CHECK(e.message ==
        "key table: default of syncer.hostQPS (owner core): syncer.hostQPS must be an integer (decimal, "
        "within 64 "
        "bits), got \"many\"; fix the key table");
  std::vector<KeySpec> leaf_parent = {{"sync.pods", KeyType::kBool, "", "", {}, "core", {}},
                                      {"sync.*.enabled", KeyType::kBool, "", "", {}, "x", {}}};
  CHECK(vc::config::validate_spec(leaf_parent).message ==
        "key table: sync.pods (owner core) is a leaf but sync.*.enabled (owner x) declares keys under it; "
        "rename one "
        "of them");
  std::vector<KeySpec> no_fields = {{"a.b", KeyType::kObjectList, "", "", {}, "core", {}}};
  CHECK_FALSE(vc::config::validate_spec(no_fields).ok());
  std::vector<KeySpec> bad_path = {{"a..b", KeyType::kBool, "", "", {}, "core", {}}};
  CHECK_FALSE(vc::config::validate_spec(bad_path).ok());
  // A load with a broken table fails before reading any document.
  Values v;
  CHECK(Values::load_string("{}", "values.yaml", dup, &v).kind == ErrorKind::kInternal);
}

TEST_CASE("render_docs writes one markdown row per key with <name> for wildcards") {
  std::vector<KeySpec> spec = {
      {"plugins.*.enabled", KeyType::kBool, "true", "Whether the plugin loads.", {}, "core", {}},
      {"mapServices.fromHost", KeyType::kObjectList, "[]", "Host | virtual.", {"from", "to"}, "core", {}},
      {"syncer.logFormat", KeyType::kString, "", "Format.", {}, "core", {"text", "json"}},
  };
  CHECK(vc::config::render_docs(spec) ==
        "| Key | Type | Default | Owner | Description |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| `plugins.<name>.enabled` | bool | `true` | core | Whether the plugin loads. |\n"
        "| `mapServices.fromHost` | list of {from, to} | `[]` | core | Host \\| virtual. |\n"
        "| `syncer.logFormat` | one of text, json | — | core | Format. |\n");
}

TEST_CASE("malformed inputs never crash") {
  const char* docs[] = {
      "? [a, b]\n: c\n",
      "sync:\n  ? {a: 1}\n  : 2\n",
      "&a [*a]\n",
      "sync: &x\n  pods: *x\n",
      "---\na: 1\n---\nb: 2\n",
      "mapServices:\n  fromHost:\n  - {from: [1]}\n",
      "sync:\n  pods:\n    translateImage: {a: [1]}\n",
      "\"\\xff\": 1\n",
      "%YAML 1.2\n---\n",
      "{",
  };
  for (const char* d : docs) {
    CAPTURE(d);
    Values v;
    Error e = load(d, &v);
    // Some of these are valid but meaningless; what matters is an answer, and an error that starts with the
    // name.
    if (!e.ok()) CHECK(e.message.rfind("values.yaml", 0) == 0);
  }
}

// Found by tests/fuzz/values_fuzz: yaml-cpp 0.7 never returns from these (it allocates until memory runs
// out), so a values file like them hung `vcluster create -f` and the syncer at start.
TEST_CASE("a document whose first value starts with ',' is refused instead of hanging yaml-cpp") {
  for (const char* text : {",", ", a", ",,", " ,", "---\n,", "&a ,", "# schedule\n  , plugins.*.enabled",
                           "%YAML 1.2\n---\n!t ,", "sync: {}\n---\n, x",
                           // found in CI: a tag or an anchor ends at ',' (YAML's ns-tag-char), so these are
                           // the same shape
                           "!:, x", "!a, x", "&a, x", "!!str, y", "!<tag:a> , x", "%# c\n# c\n!:, \xff",
                           // found in CI: a line starting with ',' after a node and a comment
                           "n #\n,", "- n #c\n,", "n #c\n\n, x", "\"n\" #c\n  ,",
                           "# .yamd\nsyn\n    # Set the node\n    enabled: true\n ,\xe0\xe8x: true\n",
                           // found in CI: quotes on a directive line, a '\r' that does not end a comment,
                           // and a shape no pattern names (the event budget stops it)
                           "% '''''\n,", "#\r'''''''\n,", "&e a\n?\n"}) {
    Values v;
    Error e = Values::load_string(text, "bad.yaml", test_spec(), &v);
    CAPTURE(text);
    CHECK(e.kind == ErrorKind::kParse);
    CHECK((e.message.find("not valid YAML (a value cannot start with ','; quote it); fix the syntax") !=
               std::string::npos ||
           e.message.find("not valid YAML (a line cannot start with ','; quote the value it belongs to); fix "
                          "the syntax") != std::string::npos ||
           e.message.find("not valid YAML (the YAML parser loops on this document; check the syntax around "
                          "here); fix the syntax") != std::string::npos));
  }
  Values v;
  Error e = Values::load_string("# c\n  , plugins", "bad.yaml", test_spec(), &v);
  CHECK(e.message ==
        "bad.yaml:2:3: not valid YAML (a value cannot start with ','; quote it); fix the syntax");
  // Commas anywhere else are YAML's business as before: in flow collections (also at a line's start), in
  // block scalars and in quoted scalars over several lines.
  CHECK(Values::load_string("sync:\n  pods:\n    translateImage: {a: b\n      , c: d}\n", "ok.yaml",
                            test_spec(), &v)
            .ok());
  CHECK(
      Values::load_string("syncer:\n  clusterDomain: |\n    a\n    , b\n", "ok.yaml", test_spec(), &v).ok());
  CHECK(Values::load_string("syncer:\n  clusterDomain: \"a\n    , b\"\n", "ok.yaml", test_spec(), &v).ok());
  CHECK(Values::load_string("syncer:\n  clusterDomain: 'a,b'\n", "ok.yaml", test_spec(), &v).ok());
  CHECK(Values::load_string("sync:\n  pods:\n    translateImage: {a: b, c: d}\n", "ok.yaml", test_spec(), &v)
            .ok());
}
