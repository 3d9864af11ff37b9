#include "pack/pack.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

using namespace vc::pack;

namespace {

std::string roundtrip(std::string_view raw, const DictIndex* index) {
  std::string p = pack(raw, index);
  std::string out = "junk that unpack must replace";
  REQUIRE(unpack(p, index ? index->dict() : std::string_view{}, &out));
  CHECK(unpacked_size(p) == raw.size());
  return out;
}

// A pod as the host API server returns it, with the parts that differ between pods as parameters.
std::string pod(const std::string& name, const std::string& uid, const std::string& ip) {
  return R"({"metadata":{"name":")" + name + R"(","namespace":"vcluster-my-vcluster","uid":")" + uid +
         R"(","resourceVersion":"4711","creationTimestamp":"2026-11-26T04:47:39Z","labels":{"vcluster.loft.sh/managed-by":"my-vcluster","vcluster.loft.sh/namespace":"demo-nginx"},"annotations":{"vcluster.loft.sh/object-name":")" +
         name +
         R"(","vcluster.loft.sh/object-namespace":"demo-nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"Always"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"None","automountServiceAccountToken":false,"securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":false,"preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Running","podIP":")" +
         ip + R"(","conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"True"}]}})";
}

}  // namespace

TEST_CASE("pack and unpack round-trip texts with and without a dictionary") {
  CHECK(roundtrip("", nullptr).empty());
  CHECK(roundtrip("abc", nullptr) == "abc");
  CHECK(roundtrip("abcdefghij", nullptr) == "abcdefghij");
  std::string runs(1000, 'a');  // one literal, then a match overlapping itself
  CHECK(roundtrip(runs, nullptr) == runs);
  CHECK(pack(runs, nullptr).size() < 20);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; round++) {
    std::string text;
    size_t len = rng() % 3000;
    // A small alphabet makes repeats (and so matches of every length and distance) common.
    for (size_t i = 0; i < len; i++) text.push_back(static_cast<char>('a' + rng() % (round % 2 ? 3 : 26)));
    CHECK(roundtrip(text, nullptr) == text);
    std::string dict_text = text.substr(0, len / 2) + "some other words";
    DictIndex index(dict_text);
    CHECK(roundtrip(text, &index) == text);
  }
}

TEST_CASE("a large text (a ConfigMap of a megabyte) packs and unpacks, repetitive or not") {
  std::mt19937 rng(11);
  std::string random_text, repetitive;
  for (int i = 0; i < (1 << 20); i++) random_text.push_back(static_cast<char>(' ' + rng() % 90));
  while (repetitive.size() < (1 << 20))
    repetitive += R"({"key":"value-)" + std::to_string(rng() % 1000) + "\"},";
  CHECK(roundtrip(random_text, nullptr) == random_text);
  CHECK(roundtrip(repetitive, nullptr) == repetitive);
  CHECK(pack(repetitive, nullptr).size() < repetitive.size() / 4);
}

TEST_CASE("a match may start in the dictionary and run on into the text itself") {
  // dict ends with "xyzab"; the text repeats "abab...": the best match for the text's second half starts
  // in the dictionary's tail and continues in the text's own first bytes.
  std::string dict_text = "0123456789 prefix xyz" + std::string("abababababab");
  std::string text = "abababababababababababababababab end";
  DictIndex index(dict_text);
  CHECK(roundtrip(text, &index) == text);
  CHECK(pack(text, &index).size() < text.size() / 2);
}

TEST_CASE("a pod packs to a small fraction of its size against another pod") {
  std::string a = pod("nginx-deployment-84cd76b964-29bph-x-demo-nginx-x-my-vcluster",
                      "211eea83-fb4a-4814-adea-702c9d1973db", "10.244.0.17");
  std::string b = pod("nginx-deployment-84cd76b964-q7xk2-x-demo-nginx-x-my-vcluster",
                      "9c0e55d1-3a2b-4c1d-8e7f-0a1b2c3d4e5f", "10.244.1.203");
  DictIndex index(a);
  std::string p = pack(b, &index);
  CHECK(roundtrip(b, &index) == b);
  INFO("packed " << p.size() << " of " << b.size());
  CHECK(p.size() * 8 < b.size());
  // Without the dictionary only repeats within the pod itself are found.
  CHECK(pack(b, nullptr).size() > p.size() * 3);
}

TEST_CASE("Packer learns its dictionary from the texts and keeps earlier dictionaries alive for them") {
  Packer packer(4096);
  DictPtr d1;
  std::string first = pod("web-1", "u-1", "10.0.0.1");
  std::string p1 = packer.pack(first, &d1);
  REQUIRE(d1);  // the first text packs poorly with nothing to refer to: it becomes the dictionary
  CHECK(d1->text == first);
  CHECK(p1.size() < 16);
  std::string out;
  REQUIRE(unpack(p1, d1->text, &out));
  CHECK(out == first);

  DictPtr d2;
  std::string second = pod("web-2", "u-2", "10.0.0.2");
  std::string p2 = packer.pack(second, &d2);
  CHECK(d2 == d1);  // packs well: nothing learned
  REQUIRE(unpack(p2, d2->text, &out));
  CHECK(out == second);

  // Something unlike the dictionary is learned: a new dictionary, while p1 still unpacks with d1.
  std::string other =
      R"({"kind":"ConfigMap","data":{"file.txt":"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"}})";
  DictPtr d3;
  std::string p3 = packer.pack(other, &d3);
  REQUIRE(d3);
  CHECK(d3 != d1);
  CHECK(d3->text.size() == first.size() + other.size());
  REQUIRE(unpack(p3, d3->text, &out));
  CHECK(out == other);
  REQUIRE(unpack(p1, d1->text, &out));
  CHECK(out == first);

  // Once the dictionary is at its limit nothing more is learned; texts still pack and unpack.
  std::string big(5000, 'q');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 23);
  DictPtr d4;
  std::string p4 = packer.pack(big, &d4);
  CHECK(d4 == d3);
  REQUIRE(unpack(p4, d4->text, &out));
  CHECK(out == big);
}

TEST_CASE("unpack refuses corrupt data instead of reading out of bounds") {
  std::string a = pod("web-1", "u-1", "10.0.0.1");
  DictIndex index(a);
  std::string p = pack(pod("web-2", "u-2", "10.0.0.2"), &index);
  std::string out;
  REQUIRE(unpack(p, a, &out));
  CHECK_FALSE(unpack(p.substr(0, p.size() - 1), a, &out));          // truncated
  CHECK_FALSE(unpack(p + "x", a, &out));                            // trailing bytes
  CHECK_FALSE(unpack(p, std::string_view(a).substr(0, 10), &out));  // a shorter dictionary
  CHECK_FALSE(unpack("", a, &out));
  std::string huge_size = "\xff\xff\xff\xff\xff\xff\x01";  // claims 2^48 bytes
  CHECK_FALSE(unpack(huge_size, a, &out));
}
