// Tests for vc::json: each case names the failure it would catch.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "json/json.hpp"

using vc::json::DumpOptions;
using vc::json::Value;

namespace {

Value P(std::string_view text) {
  std::string err;
  auto v = vc::json::parse(text, &err);
  INFO("parse error: ", err, " for ", text);
  REQUIRE(v.has_value());
  return *v;
}

// Parses, dumps, and parses again: the dump must read back to an equal value.
std::string round_trip(std::string_view text) {
  Value v = P(text);
  std::string out = vc::json::dump(v);
  Value again = P(out);
  CHECK(again == v);
  return out;
}

}  // namespace

TEST_CASE("scalars keep their exact kind and value through parse and dump") {
  CHECK(round_trip("null") == "null");
  CHECK(round_trip("true") == "true");
  CHECK(round_trip("false") == "false");
  CHECK(round_trip("0") == "0");
  CHECK(round_trip("-17") == "-17");

  // Integers must not pass through double: 2^53+1 would become 2^53.
  Value big = P("9007199254740993");
  CHECK(big.is_int64());
  CHECK(big.as_int64() == 9007199254740993LL);
  CHECK(round_trip("9223372036854775807") == "9223372036854775807");
  CHECK(round_trip("-9223372036854775808") == "-9223372036854775808");

  Value u = P("18446744073709551615");
  CHECK(u.is_uint64());
  CHECK(u.as_uint64() == std::numeric_limits<std::uint64_t>::max());
  CHECK(u.as_int64(-1) == -1);  // does not fit: the fallback, not a wrapped value
  CHECK(round_trip("18446744073709551615") == "18446744073709551615");
  CHECK(P("9223372036854775808").is_uint64());

  // Doubles print the shortest text that reads back to the same bits.
  CHECK(round_trip("0.1") == "0.1");
  CHECK(round_trip("1e300") == "1e+300");
  CHECK(round_trip("-2.5e-8") == "-2.5e-08");
  CHECK(P("0.1").as_double() == 0.1);
  CHECK(P("1e300").as_double() == 1e300);
  CHECK(P("1.5").is_double());
}

TEST_CASE("integer constructors pick int64 unless the value only fits uint64") {
  CHECK(Value(5u).is_int64());
  CHECK(Value(std::uint64_t{1} << 63).is_uint64());
  CHECK(Value(-3).as_int64() == -3);
  CHECK(Value(std::numeric_limits<double>::quiet_NaN()).is_double());
  CHECK(vc::json::dump(Value(std::numeric_limits<double>::infinity())) == "null");
}

TEST_CASE("strings: escapes, unicode and surrogate pairs survive a round trip") {
  // \u escapes decode to UTF-8; the dump writes UTF-8 back, not escapes.
  Value v = P(R"("caf\u00e9 \ud83d\ude00 tab\t nl\n quote\" back\\ slash\/ bell\u0007")");
  CHECK(v.as_string() == "caf\xC3\xA9 \xF0\x9F\x98\x80 tab\t nl\n quote\" back\\ slash/ bell\x07");
  CHECK(vc::json::dump(v) ==
        "\"caf\xC3\xA9 \xF0\x9F\x98\x80 tab\\t nl\\n quote\\\" back\\\\ slash/ bell\\u0007\"");
  round_trip(R"(["\u0000\u001f", "\ud800\udc00", "\u2028"])");
  // U+2028 is valid JSON but Go escapes it; so do we.
  CHECK(vc::json::dump(Value("\xE2\x80\xA8")) == "\"\\u2028\"");
  // Invalid UTF-8 must never leak into output: each bad byte becomes U+FFFD.
  CHECK(vc::json::dump(Value(std::string("a\xFF"
                                         "b\xC3"))) == "\"a\\ufffdb\\ufffd\"");
}

TEST_CASE("escape_html writes <, > and & like Go's json.Marshal") {
  Value v("<a href='x'>&</a>");
  CHECK(vc::json::dump(v) == "\"<a href='x'>&</a>\"");
  CHECK(vc::json::dump(v, DumpOptions{.escape_html = true}) ==
        "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\"");
}

TEST_CASE("objects keep insertion order in dumps and dump_to appends") {
  Value o = P(R"({"z":1,"a":{"k":[1,2,{"x":null}]},"m":"s"})");
  CHECK(vc::json::dump(o) == R"({"z":1,"a":{"k":[1,2,{"x":null}]},"m":"s"})");
  std::string out = "prefix:";
  vc::json::dump_to(out, o["m"]);
  CHECK(out == "prefix:\"s\"");
}

TEST_CASE("duplicate keys keep the first position and the last value, as Go does") {
  Value o = P(R"({"a":1,"b":2,"a":3})");
  CHECK(vc::json::dump(o) == R"({"a":3,"b":2})");
  // The same for a large object, which takes the sorting path.
  std::string text = "{";
  for (int i = 0; i < 40; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k5\":500,\"k39\":\"last\"}";
  Value big = P(text);
  CHECK(big.size() == 40);
  CHECK(big.find("k5")->as_int64() == 500);
  CHECK(big.find("k39")->as_string() == "last");
  CHECK(big.members()[5].first == "k5");
}

TEST_CASE("accessors return defaults on type mismatch instead of throwing") {
  Value s("text");
  CHECK(s.as_int64(7) == 7);
  CHECK(s.as_bool(true) == true);
  CHECK(s.as_array().empty());
  CHECK(s.find("x") == nullptr);
  CHECK(s.size() == 0);
  Value n(42);
  CHECK(n.as_string().empty());
  CHECK(n.as_double() == 42.0);
  CHECK(n.string_or("dflt") == "dflt");
  CHECK(P("3.0").as_int64() == 3);
  CHECK(P("3.5").as_int64(-1) == -1);
  CHECK(P("-1").as_uint64(9) == 9);
  Value arr = P("[1,2]");
  CHECK(arr[1].as_int64() == 2);
  CHECK(arr[5].is_null());
}

TEST_CASE("mutation: operator[], ensure, erase, push_back and at") {
  Value obj;
  obj["metadata"]["name"] = "web";
  obj.ensure({"metadata", "labels"})["app"] = "nginx";
  obj.ensure({"spec", "containers"}).push_back(Value::object())["image"] = "nginx:1";
  CHECK(
      vc::json::dump(obj) ==
      R"({"metadata":{"name":"web","labels":{"app":"nginx"}},"spec":{"containers":[{"image":"nginx:1"}]}})");
  REQUIRE(obj.at({"metadata", "labels", "app"}) != nullptr);
  CHECK(obj.at({"metadata", "labels", "app"})->as_string() == "nginx");
  CHECK(obj.at({"metadata", "missing", "app"}) == nullptr);
  CHECK(obj.at({"metadata", "name", "deeper"}) == nullptr);  // a string is not a step
  CHECK(obj.at({})->is_object());

  CHECK(obj["metadata"].erase("name"));
  CHECK_FALSE(obj["metadata"].erase("name"));
  CHECK(obj["metadata"].size() == 1);

  // Writing a field into a scalar turns it into an object rather than failing silently elsewhere.
  Value scalar(5);
  scalar["k"] = true;
  CHECK(vc::json::dump(scalar) == R"({"k":true})");

  int count = 0;
  for (const auto& [key, value] : obj.members()) {
    CHECK(!key.empty());
    CHECK(value.is_object());
    ++count;
  }
  CHECK(count == 2);
}

TEST_CASE("equality ignores object key order but not array order") {
  CHECK(P(R"({"a":1,"b":{"c":[1,2],"d":"x"}})") == P(R"({"b":{"d":"x","c":[1,2]},"a":1})"));
  CHECK_FALSE(P(R"({"a":[1,2]})") == P(R"({"a":[2,1]})"));
  CHECK_FALSE(P(R"({"a":1})") == P(R"({"a":1,"b":null})"));
  CHECK_FALSE(P(R"({"a":1,"b":2})") == P(R"({"a":1,"c":2})"));
  CHECK_FALSE(P(R"("1")") == P("1"));
  // Numbers compare by value across representations, exactly.
  CHECK(P("1") == P("1.0"));
  CHECK_FALSE(P("9007199254740993") == P("9007199254740992.0"));
  CHECK(P("18446744073709551615") == Value(std::numeric_limits<std::uint64_t>::max()));
  CHECK_FALSE(P("18446744073709551615") == P("-1"));
}

TEST_CASE("merge patch apply follows every example of RFC 7386 appendix A") {
  struct Case {
    const char* target;
    const char* patch;
    const char* result;
  };
  const Case cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const Case& c : cases) {
    INFO("target ", c.target, " patch ", c.patch);
    Value target = P(c.target);
    vc::json::merge_patch_apply(target, P(c.patch));
    CHECK(vc::json::dump(target) == c.result);
  }
}

TEST_CASE("merge patch diff produces the minimal patch that apply turns from into to") {
  Value from = P(R"({"metadata":{"name":"p","labels":{"a":"1","b":"2"},"annotations":{"x":"y"}},
                     "spec":{"image":"nginx:1","ports":[80]},"status":{"phase":"Running"}})");
  Value to = P(R"({"metadata":{"labels":{"a":"1","c":"3"},"name":"p","annotations":{"x":"y"}},
                   "spec":{"image":"nginx:2","ports":[80,443]}})");
  Value patch = vc::json::merge_patch_diff(from, to);
  CHECK(patch == P(R"({"metadata":{"labels":{"b":null,"c":"3"}},"spec":{"image":"nginx:2","ports":[80,443]},
                       "status":null})"));
  Value applied = from;
  vc::json::merge_patch_apply(applied, patch);
  CHECK(applied == to);

  // No change, no patch: callers skip the request when the patch is empty.
  CHECK(vc::json::merge_patch_diff(from, from).empty());
  CHECK(vc::json::merge_patch_diff(P(R"({"a":1,"b":2})"), P(R"({"b":2,"a":1})")).empty());
  // Replacing a non-object yields the new value itself.
  CHECK(vc::json::merge_patch_diff(P("[1]"), P("[2]")) == P("[2]"));
}

TEST_CASE("parse errors say where and why, and never return a value") {
  struct Case {
    std::string_view text;
    const char* where;
  };
  const Case cases[] = {
      {"", "at byte 0 "},
      {R"({"a":1,})", "at byte 7 "},
      {R"({"a" 1})", "at byte 5 "},
      {R"([1,2)", "at byte 4 "},
      {R"({"a":tru})", "at byte 5 "},
      {R"({"a":"b)", "at byte 7 of 7"},
      {"[1] x", "at byte 4 "},
      {"[01]", "at byte 2 "},
      {"{\"a\":\"\x01\"}", "at byte 6 "},
      {"[\"\xFF\"]", "at byte 2 "},
      {R"(["\ud800x"])", "at byte 8 "},
      {"[1,18446744073709551616]", "at byte 3 "},
  };
  for (const Case& c : cases) {
    std::string err;
    auto v = vc::json::parse(c.text, &err);
    INFO("input ", c.text, " error ", err);
    CHECK_FALSE(v.has_value());
    CHECK(err.find(c.where) != std::string::npos);
    CHECK(err.find("invalid") != std::string::npos);
  }
  CHECK_FALSE(vc::json::parse("{").has_value());  // a null error pointer is allowed
}

TEST_CASE("parse handles a real pod and re-reads its dump identically") {
  constexpr std::string_view kPod = R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "name": "nginx-5fbdf85c67-42rmp", "generateName": "nginx-5fbdf85c67-", "namespace": "demo-nginx",
      "uid": "6f1c2b9e-3c1d-4f0a-9a7e-2b1d4c5e6f70", "resourceVersion": "48213",
      "creationTimestamp": "2023-09-01T10:00:00Z",
      "labels": {"app": "nginx", "pod-template-hash": "5fbdf85c67"},
      "annotations": {"note": "a <b> & c"},
      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nginx-5fbdf85c67",
        "uid": "0e3c8a1b-1111-2222-3333-444455556666", "controller": true, "blockOwnerDeletion": true}]
    },
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
      "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}],
      "terminationGracePeriodSeconds": 30, "enableServiceLinks": true},
    "status": {"phase": "Pending", "qosClass": "Burstable"}
  })";
  Value pod = P(kPod);
  CHECK(pod.at({"metadata", "labels", "app"})->as_string() == "nginx");
  CHECK(pod.at({"spec", "terminationGracePeriodSeconds"})->as_int64() == 30);
  CHECK(pod.at({"spec", "containers"})->as_array()[0].find("image")->as_string() == "nginx:1.25");
  std::string compact = vc::json::dump(pod);
  CHECK(compact == vc::json::minify(kPod));
  CHECK(P(compact) == pod);

  vc::json::Meta meta;
  REQUIRE(vc::json::peek_meta(kPod, &meta));
  CHECK(meta.name == "nginx-5fbdf85c67-42rmp");
  CHECK(meta.namespace_ == "demo-nginx");
  CHECK(meta.uid == "6f1c2b9e-3c1d-4f0a-9a7e-2b1d4c5e6f70");
  CHECK(meta.resource_version == "48213");
  CHECK_FALSE(meta.deleting);
}

TEST_CASE("peek_meta sees deletion, tolerates key order and refuses non-objects") {
  vc::json::Meta meta;
  REQUIRE(vc::json::peek_meta(
      R"({"spec":{"x":[1,{"metadata":{"name":"decoy"}}]},"metadata":{"deletionTimestamp":"2023-01-01T00:00:00Z",
          "name":"n\u0041me","finalizers":["a"],"resourceVersion":"9"}})",
      &meta));
  CHECK(meta.name == "nAme");
  CHECK(meta.namespace_.empty());
  CHECK(meta.resource_version == "9");
  CHECK(meta.deleting);

  REQUIRE(vc::json::peek_meta(R"({"metadata":{"name":"x","deletionTimestamp":null}})", &meta));
  CHECK_FALSE(meta.deleting);
  CHECK(meta.resource_version.empty());  // the previous answer does not leak into this one

  CHECK_FALSE(vc::json::peek_meta("[1,2]", &meta));
  CHECK_FALSE(vc::json::peek_meta(R"({"kind":"Pod"})", &meta));
  CHECK_FALSE(vc::json::peek_meta(R"({"metadata":[]})", &meta));
  CHECK_FALSE(vc::json::peek_meta(R"({"metadata":{"name":5}})", &meta));
  CHECK_FALSE(vc::json::peek_meta(R"({"metadata":{"name":"x")", &meta));
}

TEST_CASE("minify drops whitespace but not string content, and rejects an unterminated string") {
  CHECK(vc::json::minify(" { \"a b\" : [ 1 , 2 ] }\n") == R"({"a b":[1,2]})");
  CHECK(vc::json::minify(R"({"a":"unterminated)").empty());
}

TEST_CASE("same compares objects regardless of member order, skipping top-level members only") {
  using vc::json::same;
  CHECK(same(R"({"a":1,"b":{"x":[1,"s",true,null],"y":2}})",
             R"({ "b" : {"y":2,"x":[1,"s",true,null]}, "a":1 })"));
  CHECK_FALSE(same(R"({"a":1})", R"({"a":2})"));
  CHECK_FALSE(same(R"({"a":1})", R"({"a":1.0})"));        // int and double differ, as after parse()
  CHECK_FALSE(same(R"({"a":[1,2]})", R"({"a":[2,1]})"));  // arrays keep their order
  CHECK_FALSE(same(R"({"a":1})", R"({"a":1,"b":2})"));
  CHECK_FALSE(same(R"({"a":"1"})", R"({"a":1})"));
  CHECK_FALSE(same(R"({"a":{"b":1}})", R"({"a":{"b":1,"c":null}})"));
  CHECK(same(R"({"kind":"Pod","spec":{},"status":{"phase":"Running"}})",
             R"({"spec":{},"status":{"phase":"Pending"}})", {"kind", "apiVersion", "status"}));
  CHECK_FALSE(
      same(R"({"kind":"Pod","spec":{"a":1}})", R"({"spec":{"a":2}})", {"kind", "apiVersion", "status"}));
  // skip applies at the top level only
  CHECK_FALSE(same(R"({"spec":{"status":1}})", R"({"spec":{"status":2}})", {"status"}));
  // a repeated key never makes two different objects compare the same
  CHECK_FALSE(same(R"({"x":1,"x":1})", R"({"x":1,"y":1})"));
  CHECK_FALSE(same(R"({"x":1,"y":1})", R"({"x":1,"x":1})"));
  CHECK_FALSE(same("{", "{}"));
  CHECK(same("[]", " [ ] "));
  CHECK(same(R"("\u00e9")", "\"\xc3\xa9\""));  // escapes compare by value
}

TEST_CASE("ParseCache parses a text once and finds it again by content") {
  vc::json::ParseCache cache(2);
  std::string a = R"({"metadata":{"name":"a"}})";
  auto pa = cache.parse(a);
  REQUIRE(pa);
  CHECK(pa->at({"metadata", "name"})->as_string() == "a");
  std::string a_again = a;  // other bytes, same content
  CHECK(cache.parse(a_again) == pa);
  CHECK(cache.hits() == 1);
  a[a.size() - 4] = 'b';  // same length, other content: a miss
  auto pb = cache.parse(a);
  REQUIRE(pb);
  CHECK(pb->at({"metadata", "name"})->as_string() == "b");
  CHECK(pa->at({"metadata", "name"})->as_string() == "a");  // a shared result never changes
  CHECK(cache.parse("{") == nullptr);
  cache.parse("[1]");  // capacity 2: the oldest entry goes
  CHECK(cache.misses() == 4);
  cache.parse(a_again);
  CHECK(cache.misses() == 5);
}

TEST_CASE("parse and same keep working across a large document (whose parser memory is given back)") {
  // A ConfigMap of about 200 KiB, then small objects: the per-thread parsers are replaced after the large
  // one, and every later parse must still see its own document.
  std::string big = "{\"metadata\":{\"name\":\"big\"},\"data\":{";
  for (int i = 0; i < 4000; i++) {
    if (i) big += ",";
    big += "\"k" + std::to_string(i) + "\":\"" + std::string(40, static_cast<char>('a' + i % 26)) + "\"";
  }
  big += "}}";
  REQUIRE(big.size() > 128 * 1024);
  for (int round = 0; round < 2; round++) {
    auto v = vc::json::parse(big);
    REQUIRE(v.has_value());
    CHECK(v->at({"data", "k3999"})->as_string() == std::string(40, static_cast<char>('a' + 3999 % 26)));
    CHECK(vc::json::same(big, big));
    auto small = vc::json::parse(R"({"metadata":{"name":"small"}})");
    REQUIRE(small.has_value());
    CHECK(small->at({"metadata", "name"})->as_string() == "small");
    CHECK(vc::json::same(R"({"a":1,"b":[2]})", R"({"b":[2],"a":1})"));
    CHECK_FALSE(vc::json::same(big, R"({"metadata":{"name":"big"}})"));
  }
}

// Found by tests/fuzz/json_fuzz: a double -0 dumps as "-0", as Go's encoding/json writes it, and "-0" reads
// back as the integer 0 (simdjson). The documents compare the same, so a write is never made for it.
TEST_CASE("negative zero dumps as Go writes it and compares the same after a round trip") {
  auto v = vc::json::parse("[-0e3,-0.0,1e3]");
  REQUIRE(v);
  CHECK(vc::json::dump(*v) == "[-0,-0,1000]");
  auto back = vc::json::parse(vc::json::dump(*v));
  REQUIRE(back);
  CHECK(vc::json::dump(*back) == "[0,0,1000]");
  CHECK(vc::json::same(vc::json::dump(*v), vc::json::dump(*back)));
}

// Found by CI's run of tests/fuzz/json_fuzz on "-88888888888888822e4": the shortest text of that double is
// "-888888888888888262656", plain digits past 64 bits, which parse refused, so a document the syncer had read
// could not be read back after a dump. Large whole doubles get an exponent.
TEST_CASE("a large whole double dumps with an exponent and reads back") {
  for (const char* text : {"-88888888888888822e4", "1e300", "18446744073709551616.0", "-9.3e18"}) {
    CAPTURE(text);
    auto v = vc::json::parse(text);
    REQUIRE(v);
    std::string once = vc::json::dump(*v);
    auto back = vc::json::parse(once);
    REQUIRE_MESSAGE(back, once);
    CHECK(back->as_double() == v->as_double());
  }
  auto v = vc::json::parse("[-88888888888888822e4,1e3,9007199254740993.0]");
  REQUIRE(v);
  CHECK(vc::json::dump(*v) == "[-8.888888888888883e+20,1000,9007199254740992]");
}
