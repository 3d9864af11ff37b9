// The YAML writer of `create --print`: exact output for the common shapes, and a round trip through
// yaml-cpp for the strings that a careless writer would let turn into booleans, numbers or nulls.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "cli/yaml_out.hpp"
#include "yaml_json.hpp"

using vc::cli::to_yaml;
using vc::json::Value;

namespace {

using vc::cli::test::from_yaml;

Value round_trip(const Value& v) {
  return from_yaml(YAML::Load(to_yaml(v)));
}

}  // namespace

TEST_CASE("a Kubernetes object in kubectl's layout") {
  Value o = Value::object();
  o["apiVersion"] = "v1";
  o["kind"] = "Service";
  o["metadata"]["name"] = "demo";
  o["metadata"]["labels"]["app"] = "vcluster";
  Value p = Value::object();
  p["name"] = "https";
  p["port"] = 443;
  o["spec"]["ports"].push_back(p);
  o["spec"]["selector"] = Value::object();
  o["spec"]["empty"] = Value::array();
  CHECK(to_yaml(o) ==
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        "  name: demo\n"
        "  labels:\n"
        "    app: vcluster\n"
        "spec:\n"
        "  ports:\n"
        "  - name: https\n"
        "    port: 443\n"
        "  selector: {}\n"
        "  empty: []\n");
}

TEST_CASE("strings that look like something else are quoted") {
  Value o = Value::object();
  for (const char* s :
       {"true", "yes",       "on",          "no",  "Off", "y",     "null",   "~",    "1",    "0.5", "1e3",
        "0x1f", "12:30",     ".inf",        "-1",  "",    " lead", "trail ", "a: b", "a #b", "#c",  "*x",
        "&y",   "!z",        "-",           "[a]", "{a}", "'q'",   "\"d\"",  "%p",   "@x",   "`x",  "|",
        ">",    "tab\there", "caf\xc3\xa9", "a\nb"})
    o[std::string("k") + std::to_string(o.size())] = std::string(s);
  CHECK(round_trip(o) == o);
}

TEST_CASE("keys are quoted when needed; nested lists and scalars in lists") {
  Value o = Value::object();
  o["vcluster.loft.sh/managed-by"] = "x";
  o["true"] = "key";
  o["1"] = "one";
  Value inner = Value::array();
  inner.push_back("a");
  inner.push_back(2);
  Value outer = Value::array();
  outer.push_back(inner);
  outer.push_back(true);
  outer.push_back(nullptr);
  o["lists"] = outer;
  CHECK(round_trip(o) == o);
  CHECK(to_yaml(o).find("vcluster.loft.sh/managed-by: x\n") == 0);
}

TEST_CASE("multi-line text becomes a literal block that reads back exactly") {
  Value o = Value::object();
  o["data"]["config"] = "apiVersion: v1\nclusters:\n- name: x\n  cluster: {}\n";
  o["data"]["pem"] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  CHECK(
      to_yaml(o).find("  config: |\n    apiVersion: v1\n    clusters:\n    - name: x\n      cluster: {}\n") !=
      std::string::npos);
  CHECK(round_trip(o) == o);
}

TEST_CASE("multi-line text a literal block cannot hold exactly is JSON-quoted") {
  Value o = Value::object();
  o["no-final-newline"] = "a\nb";
  o["two-final-newlines"] = "a\n\n";
  o["indented-first-line"] = "  a\nb\n";
  o["blank-line-of-spaces"] = "a\n   \nb\n";
  o["cr"] = "a\r\nb\n";
  CHECK(round_trip(o) == o);
  CHECK(to_yaml(o).find("no-final-newline: \"a\\nb\"") != std::string::npos);
}

TEST_CASE("documents are separated by ---") {
  Value a = Value::object();
  a["kind"] = "A";
  Value b = Value::object();
  b["kind"] = "B";
  CHECK(vc::cli::to_yaml_documents({a, b}) == "---\nkind: A\n---\nkind: B\n");
  auto docs = YAML::LoadAll(vc::cli::to_yaml_documents({a, b}));
  CHECK(docs.size() == 2);
}
