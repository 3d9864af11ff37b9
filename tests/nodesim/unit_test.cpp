// Unit tests of vcluster-nodesim's pure parts (flags, address blocks, the JSON a kubelet writes) and of its
// status server on a real loop. The API behaviour is covered by tests/integration/nodesim_test.sh.
#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "flags.hpp"
#include "ipam.hpp"
#include "json/json.hpp"
#include "objects.hpp"
#include "status_server.hpp"

using namespace vc::nodesim;
using vc::json::Value;

namespace {

Value parse(const std::string& s) {
  std::string err;
  auto v = vc::json::parse(s, &err);
  REQUIRE_MESSAGE(v.has_value(), err);
  return *v;
}

std::string str(const Value& v, std::initializer_list<std::string_view> path, std::string_view leaf) {
  const Value* o = v.at(path);
  if (!o || !o->find(leaf)) return "<missing>";
  return o->find(leaf)->as_string();
}

const Value* condition(const Value& list, std::string_view type) {
  for (const Value& c : list.items())
    if (c.find("type") && c.find("type")->as_string() == type) return &c;
  return nullptr;
}

vc::Error flags_of(std::vector<std::string> args, Flags* f) {
  args.insert(args.begin(), "vcluster-nodesim");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_flags(static_cast<int>(argv.size()), argv.data(), f);
}

// 2024-05-01T12:34:56.789012Z
std::chrono::system_clock::time_point fixed_time() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1714566896)) +
         std::chrono::microseconds(789012);
}

}  // namespace

TEST_CASE("flags: defaults, both value forms, and refusals naming the flag") {
  Flags f;
  REQUIRE_FALSE(flags_of({}, &f));
  CHECK(f.nodes == 1);
  CHECK(f.name_prefix == "sim-node-");
  CHECK(f.pod_cidr == "10.244.0.0/16");
  CHECK(f.max_in_flight == 64);
  CHECK(f.connections == 16);
  CHECK(f.status_address.empty());

  Flags g;
  REQUIRE_FALSE(
      flags_of({"--nodes", "12", "--name-prefix=n-", "--max-in-flight", "8", "--kubeconfig", "/k"}, &g));
  CHECK(g.nodes == 12);
  CHECK(g.name_prefix == "n-");
  CHECK(g.kubeconfig == "/k");
  CHECK(g.connections == 8);  // never more connections than requests in flight

  Flags h;
  vc::Error e = flags_of({"--nodes", "0"}, &h);
  CHECK(e.message.find("--nodes needs a whole number from 1") != std::string::npos);
  e = flags_of({"--nodes", "3x"}, &h);
  CHECK(e.message.find("got '3x'") != std::string::npos);
  e = flags_of({"--max-in-flight", "1"}, &h);
  CHECK(e.message.find("--max-in-flight") != std::string::npos);
  e = flags_of({"--bogus"}, &h);
  CHECK(e.message == "unknown flag '--bogus'");
  e = flags_of({"--nodes"}, &h);
  CHECK(e.message == "--nodes needs a value");
  Flags k;
  e = flags_of({"--name-prefix", "Sim_"}, &k);
  CHECK(e.message.find("lower-case letters") != std::string::npos);
  Flags m;
  e = flags_of({"--name-prefix", "-x"}, &m);
  CHECK(e.message.find("must start with") != std::string::npos);
}

TEST_CASE("ipv4 and CIDR parsing") {
  uint32_t ip = 0;
  CHECK(parse_ipv4("10.244.1.2", &ip));
  CHECK(ip == 0x0AF40102u);
  CHECK(format_ipv4(ip) == "10.244.1.2");
  CHECK_FALSE(parse_ipv4("10.244.1", &ip));
  CHECK_FALSE(parse_ipv4("10.244.1.256", &ip));
  CHECK_FALSE(parse_ipv4("10.244.1.2.3", &ip));
  CHECK_FALSE(parse_ipv4("10.244.1.0002", &ip));
  CHECK_FALSE(parse_ipv4("a.b.c.d", &ip));

  uint32_t base = 0;
  int prefix = 0;
  CHECK_FALSE(parse_cidr("10.244.0.0/16", &base, &prefix));
  CHECK(base == 0x0AF40000u);
  CHECK(prefix == 16);
  CHECK(parse_cidr("10.244.1.0/16", &base, &prefix)
            .message.find("host bits set; write the network address, e.g. "
                          "10.244.0.0/16") != std::string::npos);
  CHECK(parse_cidr("10.244.0.0", &base, &prefix).message.find("needs a prefix length") != std::string::npos);
  CHECK(parse_cidr("10.244.0.0/33", &base, &prefix).message.find("0..32") != std::string::npos);
  CHECK(parse_cidr("fd00::/64", &base, &prefix).message.find("only IPv4") != std::string::npos);
}

TEST_CASE("plan_blocks: one power-of-two block per node, large enough for --max-pods") {
  std::vector<Block> b;
  REQUIRE_FALSE(plan_blocks("10.244.0.0/16", 1, 1000, &b));
  REQUIRE(b.size() == 1);
  CHECK(b[0].cidr() == "10.244.0.0/16");

  REQUIRE_FALSE(plan_blocks("10.244.0.0/16", 3, 1000, &b));
  REQUIRE(b.size() == 3);
  CHECK(b[0].cidr() == "10.244.0.0/18");
  CHECK(b[1].cidr() == "10.244.64.0/18");
  CHECK(b[2].cidr() == "10.244.128.0/18");

  REQUIRE_FALSE(plan_blocks("10.244.0.0/16", 10, 1000, &b));
  CHECK(b[9].cidr() == "10.244.144.0/20");
  CHECK(b[9].usable() == 4093);

  vc::Error e = plan_blocks("10.244.0.0/24", 4, 1000, &b);
  CHECK(e.message.find("fewer than --max-pods 1000") != std::string::npos);
  e = plan_blocks("10.244.0.0/28", 8, 1, &b);
  CHECK(e.message.find("too small for 8 nodes") != std::string::npos);
}

TEST_CASE("Block: unique addresses, reserved offsets skipped, released addresses not reused at once") {
  Block b(0x0A000000u, 24);  // 10.0.0.0/24
  CHECK(b.usable() == 253);
  std::set<uint32_t> seen;
  uint32_t ip = 0;
  for (int i = 0; i < 253; ++i) {
    REQUIRE(b.allocate(&ip));
    CHECK(seen.insert(ip).second);
    uint32_t off = ip - 0x0A000000u;
    CHECK(off >= 2);
    CHECK(off <= 254);
  }
  CHECK(b.in_use() == 253);
  CHECK_FALSE(b.allocate(&ip));  // full: .0, .1 and .255 are never handed out

  CHECK(b.release(0x0A000005u));
  CHECK_FALSE(b.release(0x0A000005u));
  CHECK(b.allocate(&ip));
  CHECK(ip == 0x0A000005u);  // the only free address, found by wrapping around

  Block c(0x0A000000u, 24);
  uint32_t first = 0, second = 0, third = 0;
  REQUIRE(c.allocate(&first));
  REQUIRE(c.allocate(&second));
  CHECK(first == 0x0A000002u);
  CHECK(second == 0x0A000003u);
  c.release(first);
  REQUIRE(c.allocate(&third));
  CHECK(third == 0x0A000004u);  // the cursor moves on instead of reusing .2 at once

  CHECK(c.reserve(0x0A000010u));
  CHECK_FALSE(c.reserve(0x0A000010u));  // already used
  CHECK_FALSE(c.reserve(0x0A000000u));  // network address
  CHECK_FALSE(c.reserve(0x0A0000FFu));  // broadcast
  CHECK_FALSE(c.reserve(0x0A000100u));  // outside
  for (int i = 0; i < 12; ++i) REQUIRE(c.allocate(&ip));
  CHECK(ip == 0x0A000011u);  // .5 ... .15, then .17: the reserved .16 was skipped
}

TEST_CASE("Block: 4,093 allocations of a /20 are unique and stay cheap after churn") {
  Block b(0x0AF49000u, 20);
  std::vector<uint32_t> ips;
  uint32_t ip = 0;
  while (b.allocate(&ip)) ips.push_back(ip);
  CHECK(ips.size() == 4093);
  CHECK(std::set<uint32_t>(ips.begin(), ips.end()).size() == 4093);
  // Free every other address and allocate them all again.
  for (size_t i = 0; i < ips.size(); i += 2) REQUIRE(b.release(ips[i]));
  size_t again = 0;
  while (b.allocate(&ip)) ++again;
  CHECK(again == (ips.size() + 1) / 2);
}

TEST_CASE("time formats: metav1.Time and metav1.MicroTime") {
  CHECK(rfc3339(fixed_time()) == "2024-05-01T12:34:56Z");
  CHECK(micro_time(fixed_time()) == "2024-05-01T12:34:56.789012Z");
  CHECK(micro_time(std::chrono::system_clock::time_point(std::chrono::seconds(1714566896))) ==
        "2024-05-01T12:34:56.000000Z");
}

TEST_CASE("sha256_hex") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

NodeSpec sample_node() {
  NodeSpec n;
  n.name = "sim-node-2";
  n.internal_ip = "127.0.10.3";
  n.pod_cidr = "10.244.128.0/18";
  n.max_pods = 1000;
  n.boot_id = "run-1";
  return n;
}

TEST_CASE("node_object: the labels a kubelet sets, and the pod CIDR") {
  Value n = parse(node_object(sample_node()));
  CHECK(str(n, {}, "kind") == "Node");
  CHECK(str(n, {"metadata"}, "name") == "sim-node-2");
  CHECK(str(n, {"metadata", "labels"}, "kubernetes.io/hostname") == "sim-node-2");
  CHECK(str(n, {"metadata", "labels"}, "kubernetes.io/os") == "linux");
  CHECK(str(n, {"metadata", "labels"}, "kubernetes.io/arch") == "amd64");
  CHECK(str(n, {"metadata", "labels"}, "node.kubernetes.io/instance-type") == "simulated");
  CHECK(str(n, {"spec"}, "podCIDR") == "10.244.128.0/18");
  CHECK(n.at({"spec"})->find("podCIDRs")->items().at(0).as_string() == "10.244.128.0/18");
  CHECK_FALSE(n.contains("status"));  // status goes through the subresource

  Value p = parse(node_labels_patch(sample_node()));
  CHECK(str(p, {"metadata", "labels"}, "node.kubernetes.io/instance-type") == "simulated");
  CHECK(p.size() == 1);
}

TEST_CASE("node_status_patch: Ready with fresh heartbeats, capacity, addresses, nodeInfo") {
  Value p = parse(node_status_patch(sample_node(), "2024-05-01T12:00:00Z", "2024-05-01T12:34:56Z"));
  const Value& st = *p.find("status");
  CHECK(str(st, {"capacity"}, "cpu") == "16");
  CHECK(str(st, {"capacity"}, "memory") == "64Gi");
  CHECK(str(st, {"capacity"}, "pods") == "1000");
  CHECK(str(st, {"allocatable"}, "pods") == "1000");
  const Value& conds = *st.find("conditions");
  CHECK(conds.size() == 4);
  const Value* ready = condition(conds, "Ready");
  REQUIRE(ready);
  CHECK(ready->find("status")->as_string() == "True");
  CHECK(ready->find("reason")->as_string() == "KubeletReady");
  CHECK(ready->find("lastHeartbeatTime")->as_string() == "2024-05-01T12:34:56Z");
  CHECK(ready->find("lastTransitionTime")->as_string() == "2024-05-01T12:00:00Z");
  for (const char* t : {"MemoryPressure", "DiskPressure", "PIDPressure"}) {
    const Value* c = condition(conds, t);
    REQUIRE_MESSAGE(c, t);
    CHECK(c->find("status")->as_string() == "False");
  }
  const Value& addrs = *st.find("addresses");
  REQUIRE(addrs.size() == 2);
  CHECK(addrs[0].find("type")->as_string() == "InternalIP");
  CHECK(addrs[0].find("address")->as_string() == "127.0.10.3");
  CHECK(addrs[1].find("type")->as_string() == "Hostname");
  CHECK(addrs[1].find("address")->as_string() == "sim-node-2");
  CHECK(str(st, {"nodeInfo"}, "kubeletVersion") == "v1.20.2");
  CHECK(str(st, {"nodeInfo"}, "operatingSystem") == "linux");
  CHECK(str(st, {"nodeInfo"}, "architecture") == "amd64");
  CHECK(str(st, {"nodeInfo"}, "systemUUID").size() == 36);
  CHECK(st.at({"daemonEndpoints", "kubeletEndpoint"})->find("Port")->as_int64() == 10250);

  // Another run of the simulator is another boot; the machine stays the same.
  NodeSpec other = sample_node();
  other.boot_id = "run-2";
  Value q = parse(node_status_patch(other, "x", "y"));
  CHECK(str(q, {"status", "nodeInfo"}, "machineID") == str(p, {"status", "nodeInfo"}, "machineID"));
  CHECK(str(q, {"status", "nodeInfo"}, "bootID") != str(p, {"status", "nodeInfo"}, "bootID"));
}

TEST_CASE("lease_object and lease_renew_patch") {
  Value l = parse(lease_object(sample_node(), "uid-1", 40, "2024-05-01T12:34:56.789012Z"));
  CHECK(str(l, {}, "apiVersion") == "coordination.k8s.io/v1");
  CHECK(str(l, {"metadata"}, "namespace") == "kube-node-lease");
  CHECK(str(l, {"metadata"}, "name") == "sim-node-2");
  const Value& owner = l.at({"metadata"})->find("ownerReferences")->items().at(0);
  CHECK(owner.find("kind")->as_string() == "Node");
  CHECK(owner.find("uid")->as_string() == "uid-1");
  CHECK(str(l, {"spec"}, "holderIdentity") == "sim-node-2");
  CHECK(l.at({"spec"})->find("leaseDurationSeconds")->as_int64() == 40);
  CHECK(str(l, {"spec"}, "renewTime") == "2024-05-01T12:34:56.789012Z");

  Value without_uid = parse(lease_object(sample_node(), "", 40, "t"));
  CHECK_FALSE(without_uid.at({"metadata"})->contains("ownerReferences"));

  Value r = parse(lease_renew_patch(sample_node(), 40, "t2"));
  CHECK(str(r, {"spec"}, "renewTime") == "t2");
  CHECK(r.size() == 1);
}

const char* kPod = R"({
  "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1"},
  "spec": {
    "nodeName": "sim-node-2",
    "initContainers": [{"name": "setup", "image": "busybox"}],
    "containers": [{"name": "web", "image": "nginx:1.25"},
                   {"name": "side", "image": "registry.local:5000/tools/side@sha256:0123"}]
  },
  "status": {
    "phase": "Pending",
    "qosClass": "BestEffort",
    "conditions": [
      {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-05-01T12:00:00Z"},
      {"type": "example.com/custom", "status": "True", "lastTransitionTime": "2024-05-01T12:00:01Z"}
    ]
  }
})";

TEST_CASE("pod_running_patch: what a kubelet reports for a started pod") {
  Value pod = parse(kPod);
  Value p = parse(pod_running_patch(pod, "10.244.128.2", "127.0.10.3", "2024-05-01T12:34:56Z"));
  CHECK(str(p, {"metadata"}, "uid") == "u-1");
  const Value& st = *p.find("status");
  CHECK(str(st, {}, "phase") == "Running");
  CHECK(str(st, {}, "podIP") == "10.244.128.2");
  CHECK(st.find("podIPs")->items().at(0).find("ip")->as_string() == "10.244.128.2");
  CHECK(str(st, {}, "hostIP") == "127.0.10.3");
  CHECK(str(st, {}, "startTime") == "2024-05-01T12:34:56Z");
  CHECK_FALSE(st.contains("qosClass"));  // set by the API server at creation; a merge patch leaves it

  const Value& conds = *st.find("conditions");
  for (const char* t : {"Initialized", "Ready", "ContainersReady", "PodScheduled"}) {
    const Value* c = condition(conds, t);
    REQUIRE_MESSAGE(c, t);
    CHECK_MESSAGE(c->find("status")->as_string() == "True", t);
  }
  CHECK(condition(conds, "PodScheduled")->find("lastTransitionTime")->as_string() == "2024-05-01T12:00:00Z");
  CHECK(condition(conds, "Ready")->find("lastTransitionTime")->as_string() == "2024-05-01T12:34:56Z");
  REQUIRE(condition(conds, "example.com/custom"));  // kept: the merge patch replaces the whole list
  CHECK(conds.size() == 5);

  const Value& cs = *st.find("containerStatuses");
  REQUIRE(cs.size() == 2);
  CHECK(cs[0].find("name")->as_string() == "web");
  CHECK(cs[0].find("ready")->as_bool());
  CHECK(cs[0].find("started")->as_bool());
  CHECK(cs[0].find("restartCount")->as_int64(-1) == 0);
  CHECK(cs[0].at({"state", "running"})->find("startedAt")->as_string() == "2024-05-01T12:34:56Z");
  CHECK(cs[0].find("image")->as_string() == "nginx:1.25");
  CHECK(cs[0].find("imageID")->as_string().rfind("nginx@sha256:", 0) == 0);
  CHECK(cs[0].find("imageID")->as_string().size() == std::string("nginx@sha256:").size() + 64);
  CHECK(cs[1].find("imageID")->as_string() == "registry.local:5000/tools/side@sha256:0123");
  std::string id0 = cs[0].find("containerID")->as_string();
  CHECK(id0.rfind("containerd://sim-", 0) == 0);
  CHECK(id0 != cs[1].find("containerID")->as_string());

  const Value& ics = *st.find("initContainerStatuses");
  REQUIRE(ics.size() == 1);
  CHECK(ics[0].find("name")->as_string() == "setup");
  CHECK(ics[0].at({"state", "terminated"})->find("reason")->as_string() == "Completed");
  CHECK(ics[0].at({"state", "terminated"})->find("exitCode")->as_int64(-1) == 0);
  CHECK_FALSE(ics[0].find("started")->as_bool(true));

  // The same pod gets the same container IDs on every write (a retry must not "restart" containers).
  Value again = parse(pod_running_patch(pod, "10.244.128.2", "127.0.10.3", "later"));
  CHECK(again.at({"status"})->find("containerStatuses")->items().at(0).find("containerID")->as_string() ==
        id0);
}

TEST_CASE("pod_running_patch: an unmet readiness gate keeps Ready False") {
  Value pod =
      parse(R"({"metadata":{"uid":"u"},"spec":{"nodeName":"n","readinessGates":[{"conditionType":"g/ok"},
    {"conditionType":"g/missing"}],"containers":[{"name":"c","image":"i"}]},
    "status":{"conditions":[{"type":"g/ok","status":"True"}]}})");
  Value p = parse(pod_running_patch(pod, "10.0.0.2", "127.0.10.1", "t"));
  const Value* ready = condition(*p.at({"status"})->find("conditions"), "Ready");
  REQUIRE(ready);
  CHECK(ready->find("status")->as_string() == "False");
  CHECK(ready->find("reason")->as_string() == "ReadinessGatesNotReady");
  CHECK(ready->find("message")->as_string().find("g/missing") != std::string::npos);
  CHECK(ready->find("message")->as_string().find("g/ok") == std::string::npos);
  CHECK_FALSE(p.at({"status"})->contains("initContainerStatuses"));
}

TEST_CASE("pod_facts: node, phase, address, and the two deletion states") {
  PodFacts f = pod_facts(parse(kPod));
  CHECK(f.uid == "u-1");
  CHECK(f.node_name == "sim-node-2");
  CHECK(f.phase == "Pending");
  CHECK_FALSE(f.deleting);

  PodFacts d =
      pod_facts(parse(R"({"metadata":{"uid":"u","deletionTimestamp":"t","deletionGracePeriodSeconds":30},
    "spec":{"nodeName":"n"},"status":{"phase":"Running","podIP":"10.0.0.9"}})"));
  CHECK(d.deleting);
  CHECK_FALSE(d.forced);  // a graceful deletion: the kubelet's turn
  CHECK(d.pod_ip == "10.0.0.9");

  PodFacts fin = pod_facts(parse(R"({"metadata":{"deletionTimestamp":"t","deletionGracePeriodSeconds":0,
    "finalizers":["x/y"]},"spec":{}})"));
  CHECK(fin.deleting);
  CHECK(fin.forced);  // only the finalizer keeps it; deleting again would change nothing
  PodFacts forced =
      pod_facts(parse(R"({"metadata":{"deletionTimestamp":"t","deletionGracePeriodSeconds":0}})"));
  CHECK(forced.forced);  // already being removed by the API server
}

TEST_CASE("force_delete_options") {
  Value o = parse(force_delete_options("u-9"));
  CHECK(o.find("gracePeriodSeconds")->as_int64(-1) == 0);
  CHECK(str(o, {"preconditions"}, "uid") == "u-9");
  CHECK(str(o, {}, "kind") == "DeleteOptions");
}

// ---- the status server on a real loop ----

namespace {

struct Probe {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  std::string request, response;
  bool closed = false;
};

void probe_close(Probe* p) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&p->tcp))) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&p->tcp),
           [](uv_handle_t* h) { static_cast<Probe*>(h->data)->closed = true; });
}

// Connects to 127.0.0.1:port and, if `request` is not empty, sends it and reads until the server closes.
void probe_start(uv_loop_t* loop, Probe* p, int port, std::string request) {
  p->request = std::move(request);
  uv_tcp_init(loop, &p->tcp);
  p->tcp.data = p;
  p->connect.data = p;
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_connect(&p->connect, &p->tcp, reinterpret_cast<sockaddr*>(&addr), [](uv_connect_t* c, int status) {
    auto* pr = static_cast<Probe*>(c->data);
    REQUIRE(status == 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&pr->tcp),
        [](uv_handle_t*, size_t n, uv_buf_t* b) {
          b->base = new char[n];
          b->len = n;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* q = static_cast<Probe*>(s->data);
          if (n > 0) q->response.append(b->base, static_cast<size_t>(n));
          delete[] b->base;
          if (n < 0) probe_close(q);
        });
    if (pr->request.empty()) return;
    uv_buf_t buf = uv_buf_init(pr->request.data(), static_cast<unsigned>(pr->request.size()));
    uv_write(&pr->write, reinterpret_cast<uv_stream_t*>(&pr->tcp), &buf, 1, nullptr);
  });
}

bool run_until(uv_loop_t* loop, const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    uv_run(loop, UV_RUN_ONCE);
  }
  return true;
}

}  // namespace

TEST_CASE("StatusServer: answers GET, refuses other methods, and closes idle connections on close()") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int handled = 0;
  StatusServer srv(&loop, [&handled](const std::string& path) {
    ++handled;
    Reply r;
    if (path == "/healthz") {
      r.body = "ok\n";
    } else {
      r.status = 404;
      r.body = "nope\n";
    }
    return r;
  });
  REQUIRE_FALSE(srv.listen("127.0.0.1:0"));
  REQUIRE(srv.port() > 0);

  Probe ok, missing, post, idle;
  probe_start(&loop, &ok, srv.port(), "GET /healthz?verbose HTTP/1.1\r\nHost: x\r\n\r\n");
  probe_start(&loop, &missing, srv.port(), "GET /other HTTP/1.1\r\n\r\n");
  probe_start(&loop, &post, srv.port(), "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(run_until(&loop, [&] { return ok.closed && missing.closed && post.closed; }));
  CHECK(ok.response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(ok.response.find("\r\n\r\nok\n") != std::string::npos);
  CHECK(ok.response.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(missing.response.rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(post.response.rfind("HTTP/1.1 405 ", 0) == 0);
  CHECK(handled == 2);

  // A client that connects and says nothing must not keep the server (and the loop) alive after close().
  probe_start(&loop, &idle, srv.port(), "");
  REQUIRE(run_until(&loop, [&] { return srv.open_connections() == 1; }));
  bool closed = false;
  srv.close([&closed] { closed = true; });
  REQUIRE(run_until(&loop, [&] { return closed && idle.closed; }));
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("StatusServer: a port in use is refused with a sentence naming the address") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  StatusServer a(&loop, [](const std::string&) { return Reply{}; });
  REQUIRE_FALSE(a.listen("127.0.0.1:0"));
  StatusServer b(&loop, [](const std::string&) { return Reply{}; });
  vc::Error e = b.listen("127.0.0.1:" + std::to_string(a.port()));
  CHECK(e.message.find("cannot listen on 127.0.0.1:" + std::to_string(a.port())) != std::string::npos);
  CHECK(b.listen("127.0.0.1:1").message == "the status server already has a listener");
  StatusServer c(&loop, [](const std::string&) { return Reply{}; });
  CHECK(c.listen("nohost").message.find("must be host:port") != std::string::npos);
  CHECK(c.listen("127.0.0.1:99999").message.find("has no valid port") != std::string::npos);
  CHECK(c.listen("localhost:80").message.find("has no valid IP address") != std::string::npos);
  int closed = 0;
  a.close([&closed] { ++closed; });
  b.close([&closed] { ++closed; });
  c.close([&closed] { ++closed; });
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed == 3);
  CHECK(uv_loop_close(&loop) == 0);
}
