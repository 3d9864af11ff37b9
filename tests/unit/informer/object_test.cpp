// How the informer builds cached objects from the API server's JSON (no server needed).
#include <doctest/doctest.h>

#include "informer/informer.hpp"
#include "json/json.hpp"

using vc::informer::make_object;
using vc::informer::remaining_after_delete;

TEST_CASE("make_object reads identity and vcluster's ownership marks, and drops managedFields") {
  auto o = make_object(R"({"kind":"Pod","metadata":{"name":"web-x-shop-x-vc","namespace":"vcluster-vc",
    "uid":"u1","resourceVersion":"42","managedFields":[{"manager":"kubectl"}],
    "labels":{"vcluster.loft.sh/managed-by":"vc"},
    "annotations":{"vcluster.loft.sh/object-name":"web","vcluster.loft.sh/object-namespace":"shop",
                   "vcluster.loft.sh/object-uid":"v-uid"}},"spec":{}})");
  REQUIRE(o);
  CHECK(o->key() == "vcluster-vc/web-x-shop-x-vc");
  CHECK(o->uid() == "u1");
  CHECK(o->resource_version() == "42");
  CHECK_FALSE(o->deleting);
  CHECK(o->managed_by() == "vc");
  CHECK(o->owner_name() == "web");
  CHECK(o->owner_namespace() == "shop");
  CHECK(o->owner_uid() == "v-uid");
  CHECK(o->json().find("managedFields") == std::string::npos);

  auto plain = make_object(R"({"metadata":{"name":"x","labels":{"app":"a"}}})");
  REQUIRE(plain);
  CHECK(plain->managed_by().empty());
  CHECK(plain->owner_name().empty());
  CHECK(make_object(R"({"metadata":{}})") == nullptr);
}

TEST_CASE("remaining_after_delete tells an object still terminating from one already gone") {
  // A graceful deletion in progress: the object stays until its grace period ends.
  auto graceful = remaining_after_delete(R"({"metadata":{"name":"p","namespace":"n","resourceVersion":"7",
    "deletionTimestamp":"2026-01-01T00:00:00Z","deletionGracePeriodSeconds":30}})");
  REQUIRE(graceful);
  CHECK(graceful->deleting);
  CHECK(graceful->resource_version() == "7");
  // Grace 0 and no finalizers: the server removed it and answered with its last state.
  CHECK(remaining_after_delete(R"({"metadata":{"name":"p","namespace":"n","resourceVersion":"8",
    "deletionTimestamp":"2026-01-01T00:00:00Z","deletionGracePeriodSeconds":0}})") == nullptr);
  // Grace 0 with a finalizer pending: still there.
  CHECK(remaining_after_delete(R"({"metadata":{"name":"p","resourceVersion":"9","finalizers":["x/y"],
    "deletionTimestamp":"2026-01-01T00:00:00Z","deletionGracePeriodSeconds":0}})") != nullptr);
  // A Status answer, and an object without deletionTimestamp (an immediate delete of a ConfigMap).
  CHECK(remaining_after_delete(
            R"({"kind":"Status","apiVersion":"v1","status":"Success","details":{"name":"c"}})") == nullptr);
  CHECK(remaining_after_delete(R"({"metadata":{"name":"c","resourceVersion":"3"}})") == nullptr);
  CHECK(remaining_after_delete("not json") == nullptr);
}

TEST_CASE("observe_delete_answer keeps a terminating object and forgets a deleted one") {
  // The cache alone: no loop or client is needed until start().
  vc::informer::Informer inf(nullptr, nullptr, vc::kube::GVR{"", "v1", "pods", true, "Pod"}, {});
  const char* live = R"({"metadata":{"name":"p","namespace":"n","resourceVersion":"1"}})";
  const char* terminating = R"({"metadata":{"name":"p","namespace":"n","resourceVersion":"2",
    "deletionTimestamp":"2026-01-01T00:00:00Z","deletionGracePeriodSeconds":30}})";
  const char* removed = R"({"metadata":{"name":"p","namespace":"n","resourceVersion":"3",
    "deletionTimestamp":"2026-01-01T00:00:00Z","deletionGracePeriodSeconds":0}})";
  inf.observe_write(live);
  REQUIRE(inf.get("n", "p"));
  inf.observe_delete_answer("n", "p", 500, "");  // a failed delete changes nothing
  REQUIRE(inf.get("n", "p"));
  CHECK_FALSE(inf.get("n", "p")->deleting);
  inf.observe_delete_answer("n", "p", 200, terminating);
  REQUIRE(inf.get("n", "p"));
  CHECK(inf.get("n", "p")->deleting);
  inf.observe_delete_answer("n", "p", 200, removed);
  CHECK(inf.get("n", "p") == nullptr);
  inf.observe_write(live);
  inf.observe_delete_answer("n", "p", 404, R"({"kind":"Status","code":404})");
  CHECK(inf.get("n", "p") == nullptr);
}

TEST_CASE("make_object keeps working across a large object (whose parser memory is given back)") {
  std::string big =
      R"({"metadata":{"name":"big","namespace":"ns","uid":"u","resourceVersion":"7"},"data":{"x":")" +
      std::string(200 * 1024, 'x') + "\"}}";
  for (int round = 0; round < 2; round++) {
    auto o = vc::informer::make_object(big);
    REQUIRE(o);
    CHECK(o->name() == "big");
    CHECK(o->json().size() == big.size());
    auto s = vc::informer::make_object(R"({"metadata":{"name":"small","resourceVersion":"8"}})");
    REQUIRE(s);
    CHECK(s->name() == "small");
    CHECK(s->resource_version() == "8");
  }
}

TEST_CASE("identity fields are views of one block; an absurdly long mark is cut, never overflowing it") {
  // A tenant controls its virtual objects' annotations, so a mark can be anything up to the API server's
  // 256 KiB: the fields sit at 16-bit offsets, each cut at 8 KiB (names are at most 253 bytes).
  std::string huge(20000, 'a');
  auto o = vc::informer::make_object(R"({"metadata":{"name":"web-1","namespace":"shop","uid":"u1",)"
                                     R"("annotations":{"vcluster.loft.sh/object-name":")" +
                                     huge + R"(","vcluster.loft.sh/object-uid":"ou"}}})");
  REQUIRE(o);
  CHECK(o->name() == "web-1");
  CHECK(o->namespace_() == "shop");
  CHECK(o->key_view() == "shop/web-1");
  CHECK(o->key() == "shop/web-1");
  CHECK(o->owner_name().size() == 8 * 1024);
  CHECK(o->owner_uid() == "ou");
  CHECK(o->uid() == "u1");
  auto c = vc::informer::make_object(R"({"metadata":{"name":"node-a"}})");  // cluster-scoped: no slash
  REQUIRE(c);
  CHECK(c->key_view() == "node-a");
  CHECK(c->namespace_().empty());
}

TEST_CASE("a projection decides what the cache keeps; handlers and indexes still see the whole object") {
  vc::informer::Informer inf(nullptr, nullptr, vc::kube::GVR{"", "v1", "secrets", true, "Secret"}, {});
  int projected = 0;
  // Keeps the keys of data, not the values, of Secrets marked "t"; the rest whole.
  inf.set_projection([&](const vc::informer::Object& full, std::string* out) {
    if (full.name() != "t") return false;
    projected++;
    std::string j = full.json();
    auto v = vc::json::parse(j);
    for (auto& [k, val] : *v->find("data")->object_ptr()) val = "";
    *out = vc::json::dump(*v);
    return true;
  });
  std::vector<std::string> indexed;
  inf.add_index("data", [&](const vc::informer::Object& o, std::vector<std::string>* vals) {
    indexed.push_back(o.json());
    vals->push_back(std::string(o.name()));
  });
  int adds = 0, updates = 0;
  std::string added;
  vc::informer::Handlers h;
  h.on_add = [&](const vc::informer::ObjectPtr& o) {
    adds++;
    added = o->json();
  };
  h.on_update = [&](const vc::informer::ObjectPtr&, const vc::informer::ObjectPtr&) { updates++; };
  inf.add_handlers(h);

  const std::string v1 =
      R"({"metadata":{"name":"t","namespace":"n","uid":"u","resourceVersion":"1"},"data":{"token":"c2VjcmV0"}})";
  inf.observe_write(v1);
  REQUIRE(inf.get("n", "t"));
  CHECK(inf.get("n", "t")->json() ==
        R"({"metadata":{"name":"t","namespace":"n","uid":"u","resourceVersion":"1"},"data":{"token":""}})");
  CHECK(inf.get("n", "t")->uid() == "u");
  CHECK(added == v1);
  REQUIRE(indexed.size() == 1);
  CHECK(indexed[0] == v1);
  CHECK(inf.by_index("data", "t").size() == 1);
  CHECK(inf.json_bytes() == inf.get("n", "t")->json().size());

  // The same version again (a watch event after the write's answer): the projections match, no update.
  inf.observe_write(v1);
  CHECK(updates == 0);
  CHECK(projected == 2);
  // A new version is projected again, and announced whole.
  inf.observe_write(
      R"({"metadata":{"name":"t","namespace":"n","uid":"u","resourceVersion":"2"},"data":{"token":"bmV3","ca":"eA=="}})");
  CHECK(updates == 1);
  CHECK(
      inf.get("n", "t")->json() ==
      R"({"metadata":{"name":"t","namespace":"n","uid":"u","resourceVersion":"2"},"data":{"token":"","ca":""}})");

  // An object the projection declines is kept whole.
  const std::string other =
      R"({"metadata":{"name":"o","namespace":"n","resourceVersion":"3"},"data":{"k":"dg=="}})";
  inf.observe_write(other);
  CHECK(inf.get("n", "o")->json() == other);
}

TEST_CASE("index entries follow updates and deletes; a value emitted twice is listed once") {
  vc::informer::Informer inf(nullptr, nullptr, vc::kube::GVR{"", "v1", "pods", true, "Pod"}, {});
  // Each pod's ConfigMaps, read from a "cms" annotation-like field; "twice" emits its value twice.
  inf.add_index("cm", [](const vc::informer::Object& o, std::vector<std::string>* vals) {
    auto v = vc::json::parse(o.json());
    for (const auto& item : v->find("cms")->items()) vals->push_back(item.as_string());
  });
  auto pod = [](const char* name, const char* rv, const char* cms) {
    return std::string(R"({"metadata":{"name":")") + name + R"(","namespace":"n","resourceVersion":")" + rv +
           R"("},"cms":)" + cms + "}";
  };
  inf.observe_write(pod("a", "1", R"(["root","x","x"])"));
  inf.observe_write(pod("b", "2", R"(["root"])"));
  CHECK(inf.by_index("cm", "root").size() == 2);
  CHECK(inf.by_index("cm", "x").size() == 1);
  // a no longer uses x: its entries move with the update.
  inf.observe_write(pod("a", "3", R"(["root","y"])"));
  CHECK(inf.by_index("cm", "x").empty());
  CHECK(inf.by_index("cm", "y").size() == 1);
  CHECK(inf.by_index("cm", "root").size() == 2);
  inf.observe_delete("n", "a");
  CHECK(inf.by_index("cm", "y").empty());
  REQUIRE(inf.by_index("cm", "root").size() == 1);
  CHECK(inf.by_index("cm", "root")[0]->name() == "b");
  inf.observe_delete("n", "b");
  CHECK(inf.by_index("cm", "root").empty());
  CHECK(inf.size() == 0);
}

TEST_CASE("an informer destroyed with indexed objects gives all of the caches' pool back") {
  const auto before = vc::informer::cache_memory_stats().in_use;
  {
    vc::informer::Informer inf(nullptr, nullptr, vc::kube::GVR{"", "v1", "pods", true, "Pod"}, {});
    inf.add_index("name", [](const vc::informer::Object& o, std::vector<std::string>* vals) {
      vals->push_back(std::string(o.name()));
      vals->push_back("all");
    });
    for (int i = 0; i < 50; i++)
      inf.observe_write(R"({"metadata":{"name":"p)" + std::to_string(i) +
                        R"(","namespace":"n","resourceVersion":"1"}})");
    CHECK(inf.by_index("cm", "all").empty());
    CHECK(inf.by_index("name", "all").size() == 50);
    CHECK(vc::informer::cache_memory_stats().in_use > before);
  }
  CHECK(vc::informer::cache_memory_stats().in_use == before);
}

TEST_CASE("kept objects live in the caches' pool, and give its bytes back when they go") {
  const auto before = vc::informer::cache_memory_stats();
  {
    vc::informer::Informer inf(nullptr, nullptr, vc::kube::GVR{"", "v1", "pods", true, "Pod"}, {});
    for (int i = 0; i < 100; i++)
      inf.observe_write(R"({"metadata":{"name":"p)" + std::to_string(i) +
                        R"(","namespace":"n","resourceVersion":"1"},"spec":{"x":")" + std::string(200, 'a') +
                        "\"}}");
    const auto full = vc::informer::cache_memory_stats();
    CHECK(full.in_use > before.in_use + 100 * 64);  // the objects, their blocks, the store's nodes
    CHECK(full.reserved >= full.in_use);
    for (int i = 0; i < 100; i++) inf.observe_delete("n", "p" + std::to_string(i));
  }
  CHECK(vc::informer::cache_memory_stats().in_use == before.in_use);
}
