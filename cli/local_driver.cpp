// The local driver: the virtual control plane (etcd, kube-apiserver, kube-controller-manager, and
// kube-scheduler when sync.nodes.enableScheduler is on) runs on this machine, started by the test bed's tool
// (tests/bed/cluster) under the vcluster's state directory, and vcluster-syncer runs beside it as a daemon.
// Only the synced objects, the vcluster Service and the namespace live in the host cluster.
//
// Pause keeps the control plane's directory (etcd data, certificates, kubeconfig). The bed's `start` always
// makes a fresh cluster, so resume restarts each component itself with the command line recorded from
// /proc/PID/cmdline at create: same ports, same data, same certificates, so every kubeconfig and token
// handed out stays valid.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/manifests.hpp"
#include "cli/pki.hpp"
#include "cli/proc.hpp"
#include "json/json.hpp"
#include "naming/naming.hpp"

namespace vc::cli {

namespace {

using Clock = std::chrono::steady_clock;

// The components in the order they must start: the API server needs etcd, and the controller manager
// (and the scheduler) exit if they start before the API server's bootstrap RBAC is in place.
const std::vector<std::string> kStartOrder = {"etcd", "kube-apiserver", "kube-controller-manager"};
// The virtual scheduler, started last, only when the values turn sync.nodes.enableScheduler on: the
// tenant's pods are then placed by it on the virtual nodes, and the pods plugin syncs them once bound.
const std::string kScheduler = "kube-scheduler";
constexpr std::string_view kEnableScheduler = "sync.nodes.enableScheduler";

std::vector<std::string> component_names(bool scheduler) {
  std::vector<std::string> names = kStartOrder;
  if (scheduler) names.push_back(kScheduler);
  return names;
}

bool has_scheduler(const State& s) {
  for (auto& c : s.components)
    if (c.name == kScheduler) return true;
  return false;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string canonical_path(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

std::string cp_dir(const std::string& dir) {
  return dir + "/cp";
}
std::string cp_marker(const std::string& dir) {
  return dir + "/cp/";
}
std::string syncer_marker(const std::string& dir) {
  return dir + "/";
}

// The bed's cluster name: `<ns>-<name>` when it fits its 42-byte limit, else a stable hash.
std::string bed_name(const std::string& ns, const std::string& name) {
  std::string n = ns + "-" + name;
  if (n.size() <= 42) return n;
  return "vc-" + naming::sha256_hex(ns + "/" + name).substr(0, 16);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

bool write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// A blocking GET against 127.0.0.1:port with a 2 s budget: the syncer's /readyz. Returns the status
// code (0 when nothing answered) and the body.
int local_get(int port, const std::string& path, std::string* body) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return 0;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return 0;
  }
  std::string resp;
  char buf[4096];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12) return 0;
  size_t hdr_end = resp.find("\r\n\r\n");
  if (body != nullptr) *body = hdr_end == std::string::npos ? "" : resp.substr(hdr_end + 4);
  return std::atoi(resp.c_str() + 9);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Error save(const std::string& dir, const State& s) {
  return save_state(dir, s);
}

// The loopback ports a component listens on, from its command line: --secure-port=N, and etcd's
// --listen-client-urls / --listen-peer-urls (as "--flag=URL" or "--flag URL").
std::vector<int> listen_ports(const std::vector<std::string>& argv) {
  std::vector<int> out;
  for (size_t i = 0; i < argv.size(); i++) {
    for (std::string flag : {"--secure-port", "--listen-client-urls", "--listen-peer-urls"}) {
      std::string value;
      if (argv[i] == flag && i + 1 < argv.size()) {
        value = argv[i + 1];
      } else if (argv[i].rfind(flag + "=", 0) == 0) {
        value = argv[i].substr(flag.size() + 1);
      } else {
        continue;
      }
      size_t colon = value.rfind(':');
      int port = std::atoi(colon == std::string::npos ? value.c_str() : value.c_str() + colon + 1);
      if (port > 0) out.push_back(port);
    }
  }
  return out;
}

// ---- processes ------------------------------------------------------------------------------------

Error read_components(const std::string& dir, bool scheduler, std::vector<Component>* out) {
  out->clear();
  for (auto& name : component_names(scheduler)) {
    std::string pidf = cp_dir(dir) + "/pids/" + name + ".pid";
    std::ifstream in(pidf);
    int pid = 0;
    if (!(in >> pid) || !pid_alive(pid, cp_marker(dir)))
      return Error(ErrorKind::kInternal,
                   "the control plane's " + name + " is not running (no live PID in " + pidf + ")");
    auto argv = cmdline_of(pid);
    if (argv.empty())
      return Error(ErrorKind::kInternal,
                   "cannot read the command line of " + name + " (pid " + std::to_string(pid) + ")");
    out->push_back({name, pid, argv});
  }
  return {};
}

bool component_alive(const Component& c, const std::string& dir) {
  return pid_alive(c.pid, cp_marker(dir));
}

void stop_syncer(State* s, const std::string& dir) {
  if (s->syncer_pid == 0) return;
  if (Error e = stop_pid(s->syncer_pid, syncer_marker(dir), "vcluster-syncer", std::chrono::seconds(10)))
    say("warning: " + e.message);
  s->syncer_pid = 0;
  std::remove((dir + "/syncer.pid").c_str());
}

// Stops the components in reverse start order (the controller manager first, etcd last, so the API server
// never runs without its datastore).
Error stop_components(State* s, const std::string& dir) {
  for (auto it = s->components.rbegin(); it != s->components.rend(); ++it)
    if (Error e = stop_pid(it->pid, cp_marker(dir), it->name, std::chrono::seconds(10))) return e;
  return {};
}

// Whether the syncer binary lists `flag` in its --help (an older build may not have it yet).
bool syncer_has_flag(const std::string& syncer, const std::string& flag) {
  std::string out;
  int status = 0;
  if (run({syncer, "--help"}, {}, &out, &status)) return false;
  return out.find(flag + " ") != std::string::npos;
}

// The syncer's kubelet endpoint: a loopback port of its own, picked once and kept in the state (so pause,
// resume and upgrade keep the address the virtual nodes advertise), and a serving certificate for
// IP:127.0.0.1 signed by the virtual cluster's CA, which the virtual API server trusts for kubelets
// (tests/bed/cluster starts it with --kubelet-certificate-authority). Callers must present the API
// server's kubelet client certificate, signed by the same CA.
Error kubelet_flags(State* s, const std::string& dir, std::vector<std::string>* argv) {
  std::string pki = cp_dir(dir) + "/pki";
  std::string crt = dir + "/kubelet.crt", key = dir + "/kubelet.key";
  if (!std::filesystem::exists(crt) || !std::filesystem::exists(key)) {
    KeyPair ca, serving;
    std::ifstream c(pki + "/ca.crt"), k(pki + "/ca.key");
    std::stringstream cs, ks;
    cs << c.rdbuf();
    ks << k.rdbuf();
    ca.cert_pem = cs.str();
    ca.key_pem = ks.str();
    if (ca.cert_pem.empty() || ca.key_pem.empty())
      return Error(ErrorKind::kIo, "cannot read the virtual cluster's CA (" + pki +
                                       "/ca.crt and ca.key) to sign "
                                       "the syncer's kubelet certificate");
    if (Error e = make_serving_cert(ca, "vcluster-kubelet-" + s->name, {"127.0.0.1"}, &serving)) return e;
    if (!write_file(crt, serving.cert_pem) || !write_file(key, serving.key_pem))
      return Error(ErrorKind::kIo, "cannot write " + crt + " or " + key);
    chmod(key.c_str(), 0600);
  }
  if (s->kubelet_port == 0 || !port_free(s->kubelet_port)) {
    if (s->kubelet_port != 0)
      say("warning: the kubelet port " + std::to_string(s->kubelet_port) +
          " of the syncer is taken; picking another one (the virtual nodes will advertise it)");
    if (Error e = free_port(&s->kubelet_port)) return e;
  }
  for (std::string a : std::vector<std::string>{
           "--kubelet-address", "127.0.0.1:" + std::to_string(s->kubelet_port), "--kubelet-cert", crt,
           "--kubelet-key", key, "--kubelet-client-ca", pki + "/ca.crt"})
    argv->push_back(a);
  return {};
}

Error start_syncer(State* s, const std::string& dir, int timeout_seconds) {
  int port = 0;
  if (Error e = free_port(&port)) return e;
  std::vector<std::string> argv = {s->syncer,
                                   "--name",
                                   s->name,
                                   "--target-namespace",
                                   s->namespace_,
                                   "--virtual-kubeconfig",
                                   cp_dir(dir) + "/kubeconfig",
                                   "--host-kubeconfig",
                                   dir + "/host.kubeconfig",
                                   "--host-context",
                                   "host",
                                   "-f",
                                   dir + "/values.yaml",
                                   "--status-address",
                                   "127.0.0.1:" + std::to_string(port)};
  if (!s->plugins.empty()) {
    argv.push_back("--plugins");
    argv.push_back(join(s->plugins, ","));
  }
  if (!s->dns_address.empty()) {
    if (syncer_has_flag(s->syncer, "--dns-address")) {
      argv.push_back("--dns-address");
      argv.push_back(s->dns_address);
      if (!s->dns_upstream.empty() && syncer_has_flag(s->syncer, "--dns-upstream")) {
        argv.push_back("--dns-upstream");
        argv.push_back(s->dns_upstream);
      }
    } else {
      say("warning: " + s->syncer +
          " has no --dns-address, so nothing answers the virtual cluster's DNS; "
          "build a newer vcluster-syncer");
    }
  }
  if (!s->host_service_cidr.empty() && syncer_has_flag(s->syncer, "--host-service-cidr")) {
    argv.push_back("--host-service-cidr");
    argv.push_back(s->host_service_cidr);
  }
  if (syncer_has_flag(s->syncer, "--kubelet-address")) {
    if (Error e = kubelet_flags(s, dir, &argv)) return e;
  } else {
    say("warning: " + s->syncer +
        " has no --kubelet-address, so kubectl logs/exec/port-forward do not work in the virtual cluster; "
        "build a newer vcluster-syncer");
  }
  std::string log = dir + "/syncer.log";
  pid_t pid = 0;
  if (Error e = spawn_daemon(argv, log, &pid)) return e;
  s->syncer_pid = pid;
  // Also as a PID file beside the log, for scripts and people that do not read state.json.
  if (!write_file(dir + "/syncer.pid", std::to_string(pid) + "\n"))
    say("warning: cannot write " + dir + "/syncer.pid");
  s->syncer_port = port;
  if (Error e = save(dir, *s)) return e;

  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::seconds(timeout_seconds);
  auto next_report = t0 + std::chrono::seconds(5);
  std::string last;
  while (true) {
    int st = 0;
    if (exited(pid, &st))
      return Error(ErrorKind::kInternal, "vcluster-syncer exited with status " + std::to_string(st) +
                                             " while starting; the end of " + log + ":\n" +
                                             tail_lines(log, 12));
    std::string body;
    int code = local_get(port, "/readyz", &body);
    if (code == 200) {
      say("the syncer is ready (" + fmt_seconds(seconds_since(t0)) +
          ", status on 127.0.0.1:" + std::to_string(port) + ", log " + log + ")");
      return {};
    }
    last = code == 0 ? "no answer yet" : "HTTP " + std::to_string(code) + " " + trim(body);
    if (Clock::now() >= deadline)
      return Error(ErrorKind::kTimeout, "vcluster-syncer did not become ready within " +
                                            std::to_string(timeout_seconds) + "s (last /readyz: " + last +
                                            "); the end of " + log + ":\n" + tail_lines(log, 12));
    if (Clock::now() >= next_report) {
      say("waiting for the syncer's /readyz (" + fmt_seconds(seconds_since(t0)) + " of " +
          std::to_string(timeout_seconds) + "s): " + last);
      next_report += std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Polls `ready` every 200 ms until it holds, a component dies, or the deadline passes.
template <typename F>
Error wait_component(const Component& c, const std::string& dir, Clock::time_point deadline,
                     const std::string& what, F ready) {
  while (true) {
    if (!component_alive(c, dir)) {
      exited(c.pid, nullptr);
      std::string log = cp_dir(dir) + "/logs/" + c.name + ".log";
      return Error(ErrorKind::kInternal,
                   c.name + " exited while restarting; the end of " + log + ":\n" + tail_lines(log, 12));
    }
    if (ready()) return {};
    if (Clock::now() >= deadline)
      return Error(ErrorKind::kTimeout,
                   c.name + " did not " + what + " in time; see " + cp_dir(dir) + "/logs/" + c.name + ".log");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Restarts the components that are not running, from their recorded command lines, and waits until the API
// server answers /readyz and the controller manager /healthz.
Error restart_control_plane(State* s, const std::string& dir, int timeout_seconds) {
  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::seconds(timeout_seconds);
  kube::RestConfig vcfg;
  if (Error e = kube::load_kubeconfig_file(cp_dir(dir) + "/kubeconfig", "", &vcfg)) return e;
  std::unique_ptr<KubeSync> virt;
  if (Error e = KubeSync::open(vcfg, "virtual cluster", std::chrono::seconds(3), &virt)) return e;
  bool started_any = false;
  for (auto& c : s->components) {
    if (component_alive(c, dir)) continue;
    if (c.argv.empty())
      return Error(ErrorKind::kInternal, "no recorded command line for " + c.name + " in the state");
    if (c.name == "kube-controller-manager" || c.name == kScheduler) {
      // As in tests/bed: the controller manager and the scheduler start only once the API server is ready.
      const Component& api = s->components[1];
      if (Error e = wait_component(api, dir, deadline, "answer /readyz",
                                   [&] { return virt->request("GET", "/readyz").ok(); }))
        return e;
    }
    pid_t pid = 0;
    std::string log = cp_dir(dir) + "/logs/" + c.name + ".log";
    if (Error e = spawn_daemon(c.argv, log, &pid)) return e;
    c.pid = pid;
    // tests/bed's `cluster stop` stops what the PID files name, so they must name the restarted processes.
    if (!write_file(cp_dir(dir) + "/pids/" + c.name + ".pid", std::to_string(pid) + "\n"))
      return Error(ErrorKind::kIo, "cannot write " + cp_dir(dir) + "/pids/" + c.name + ".pid");
    if (Error e = save(dir, *s)) return e;
    started_any = true;
  }
  if (!started_any) return {};
  if (Error e = wait_component(s->components[1], dir, deadline, "answer /readyz",
                               [&] { return virt->request("GET", "/readyz").ok(); }))
    return e;
  // The controller manager and the scheduler serve /healthz on their --secure-port without authentication.
  for (size_t i = 2; i < s->components.size(); i++) {
    const Component& c = s->components[i];
    std::string port;
    for (auto& a : c.argv)
      if (a.rfind("--secure-port=", 0) == 0) port = a.substr(14);
    if (port.empty()) continue;
    kube::RestConfig hc;
    hc.server = "https://127.0.0.1:" + port;
    hc.insecure_skip_tls_verify = true;
    std::unique_ptr<KubeSync> hz;
    if (Error e = KubeSync::open(hc, c.name, std::chrono::seconds(3), &hz)) return e;
    if (Error e = wait_component(c, dir, deadline, "answer /healthz", [&] {
          kube::Result r = hz->request("GET", "/healthz");
          return r.ok() && trim(r.body) == "ok";
        }))
      return e;
  }
  say("the control plane is up again (" + fmt_seconds(seconds_since(t0)) + ")");
  return {};
}

// ---- objects the local driver creates --------------------------------------------------------------

json::Value vcluster_service(const std::string& name, const std::string& ns) {
  // No selector: nothing in the host backs it. Its ClusterIP is what the virtual cluster's pods get as
  // KUBERNETES_SERVICE_HOST (the pods plugin waits for it).
  json::Value svc = json::Value::object();
  svc["apiVersion"] = "v1";
  svc["kind"] = "Service";
  svc["metadata"]["name"] = name;
  svc["metadata"]["namespace"] = ns;
  svc["metadata"]["labels"] = vcluster_labels(name);
  svc["spec"]["type"] = "ClusterIP";
  json::Value p = json::Value::object();
  p["name"] = "https";
  p["port"] = 443;
  p["targetPort"] = 6443;
  p["protocol"] = "TCP";
  svc["spec"]["ports"].push_back(std::move(p));
  return svc;
}

json::Value dns_service() {
  // The virtual cluster's DNS Service, as CoreDNS's manifests name it. The services plugin mirrors it to the
  // host as kube-dns-x-kube-system-x-<vc>, whose ClusterIP the pods plugin writes into pods' dnsConfig. No
  // selector: no pod serves it. The syncer answers DNS itself (--dns-address), and the Endpoints the CLI
  // writes (dns_endpoints) point the Service at that listener; the services plugin copies selector-less
  // Endpoints to the host, where kube-proxy sends the pods' queries on.
  json::Value svc = json::Value::object();
  svc["apiVersion"] = "v1";
  svc["kind"] = "Service";
  svc["metadata"]["name"] = "kube-dns";
  svc["metadata"]["namespace"] = "kube-system";
  svc["metadata"]["labels"]["k8s-app"] = "kube-dns";
  svc["metadata"]["labels"]["kubernetes.io/name"] = "CoreDNS";
  svc["spec"]["type"] = "ClusterIP";
  for (auto [name, proto] : {std::pair{"dns", "UDP"}, std::pair{"dns-tcp", "TCP"}}) {
    json::Value p = json::Value::object();
    p["name"] = name;
    p["port"] = 53;
    p["targetPort"] = 53;
    p["protocol"] = proto;
    svc["spec"]["ports"].push_back(std::move(p));
  }
  return svc;
}

// The Endpoints of kube-system/kube-dns: the syncer's DNS listener, both protocols on one port. Port names
// match the Service's, which is how kube-proxy pairs them.
json::Value dns_endpoints(const std::string& ip, int port) {
  json::Value eps = json::Value::object();
  eps["apiVersion"] = "v1";
  eps["kind"] = "Endpoints";
  eps["metadata"]["name"] = "kube-dns";
  eps["metadata"]["namespace"] = "kube-system";
  eps["metadata"]["labels"]["k8s-app"] = "kube-dns";
  json::Value subset = json::Value::object();
  json::Value addr = json::Value::object();
  addr["ip"] = ip;
  subset["addresses"].push_back(std::move(addr));
  for (auto [name, proto] : {std::pair{"dns", "UDP"}, std::pair{"dns-tcp", "TCP"}}) {
    json::Value p = json::Value::object();
    p["name"] = name;
    p["port"] = port;
    p["protocol"] = proto;
    subset["ports"].push_back(std::move(p));
  }
  eps["subsets"].push_back(std::move(subset));
  return eps;
}

// Whether both a UDP and a TCP socket can bind ip:port now (a DNS server needs both).
bool dns_port_free(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return false;
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (!ok) return false;
  }
  return true;
}

// Parses "a.b.c.d/n" into a network and mask (host order); false when it is not an IPv4 CIDR.
bool parse_cidr4(const std::string& cidr, uint32_t* net, uint32_t* mask) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1) return false;
  int bits = std::atoi(cidr.c_str() + slash + 1);
  if (bits < 1 || bits > 32) return false;
  *mask = bits == 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
  *net = ntohl(a.s_addr) & *mask;
  return true;
}

}  // namespace

std::string dns_listener_ip(const std::vector<std::string>& pod_cidrs,
                            const std::vector<std::string>& local_ips) {
  for (const std::string& ip : local_ips) {
    in_addr a{};
    if (inet_pton(AF_INET, ip.c_str(), &a) != 1) continue;
    for (const std::string& cidr : pod_cidrs) {
      uint32_t net = 0, mask = 0;
      if (parse_cidr4(cidr, &net, &mask) && (ntohl(a.s_addr) & mask) == net) return ip;
    }
  }
  return "127.0.0.1";
}

namespace {

// Where the syncer answers DNS for the tenant's pods: this machine's address inside a host Node's pod range
// (the pod bridge's gateway, which the pods on that node reach), or 127.0.0.1 when no such address exists
// (a host with simulated nodes only: no pod runs there to ask). One port per vcluster, free now on both
// protocols.
Error pick_dns_address(KubeSync& host, std::string* out) {
  std::vector<std::string> cidrs;
  kube::Result r = host.list(gvr::nodes(), "");
  if (!r.ok()) return Error(ErrorKind::kHttp, "cannot list the host's nodes: " + KubeSync::describe(r));
  if (auto list = json::parse(r.body)) {
    if (const json::Value* items = list->find("items")) {
      for (const json::Value& n : items->items()) {
        const json::Value* spec = n.find("spec");
        if (!spec) continue;
        if (const json::Value* c = spec->find("podCIDR"); c && c->is_string())
          cidrs.emplace_back(c->as_string());
        if (const json::Value* cs = spec->find("podCIDRs"))
          for (const json::Value& c : cs->items())
            if (c.is_string()) cidrs.emplace_back(c.as_string());
      }
    }
  }
  std::vector<std::string> ips;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      char buf[INET_ADDRSTRLEN];
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) ips.emplace_back(buf);
    }
    freeifaddrs(ifs);
  }
  std::string ip = dns_listener_ip(cidrs, ips);
  for (int attempt = 0; attempt < 20; attempt++) {
    int port = 0;
    if (Error e = free_port(&port)) return e;
    if (dns_port_free(ip, port)) {
      *out = ip + ":" + std::to_string(port);
      return {};
    }
  }
  return Error(ErrorKind::kIo, "cannot find a free port on " + ip + " for the syncer's DNS listener");
}

// Where the syncer sends names outside the virtual cluster: the host cluster's own DNS, as vcluster's
// CoreDNS does (its pod's resolv.conf names the host's). The host's kube-system/kube-dns Endpoints (their
// first ready address and UDP port: reachable from this machine without a Service proxy), else that
// Service's ClusterIP on port 53; empty when the host has no cluster DNS (the syncer then reads its own
// resolv.conf).
std::string host_dns_upstream(KubeSync& host) {
  kube::Result r = host.get(gvr::endpoints(), "kube-system", "kube-dns");
  if (r.ok()) {
    if (auto eps = json::parse(r.body)) {
      if (const json::Value* subsets = eps->find("subsets")) {
        for (const json::Value& ss : subsets->items()) {
          const json::Value* addrs = ss.find("addresses");
          const json::Value* ports = ss.find("ports");
          if (!addrs || !ports || addrs->items().empty()) continue;
          const json::Value* ip = addrs->items()[0].find("ip");
          if (!ip || !ip->is_string()) continue;
          for (const json::Value& p : ports->items()) {
            const json::Value* proto = p.find("protocol");
            const json::Value* port = p.find("port");
            bool udp = !proto || (proto->is_string() && proto->as_string() == "UDP");
            if (udp && port && port->is_number())
              return ip->as_string() + ":" + std::to_string(port->as_int64());
          }
        }
      }
    }
  }
  r = host.get(gvr::services(), "kube-system", "kube-dns");
  if (r.ok())
    if (auto svc = json::parse(r.body))
      if (const json::Value* spec = svc->find("spec"))
        if (const json::Value* ip = spec->find("clusterIP");
            ip && ip->is_string() && !ip->as_string().empty() && ip->as_string() != "None")
          return ip->as_string() + ":53";
  return {};
}

// The IP of an "IP:PORT" DNS address, and its port.
std::pair<std::string, int> split_address(const std::string& addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return {addr, 0};
  return {addr.substr(0, colon), std::atoi(addr.c_str() + colon + 1)};
}

Error create_objects(KubeSync& host, const std::vector<json::Value>& objs) {
  for (auto& o : objs) {
    kube::GVR g = gvr_of(o);
    std::string ns(o.at({"metadata", "namespace"}) ? o.at({"metadata", "namespace"})->string_or("") : "");
    kube::Result r = host.create(g, ns, json::dump(o));
    if (!r.ok() && !r.already_exists())
      return Error(ErrorKind::kHttp, "cannot create " + g.kind + " " +
                                         std::string(o.at({"metadata", "name"})->string_or("")) + " in " +
                                         ns + ": " + KubeSync::describe(r));
  }
  return {};
}

// Deletes the vcluster Service only when it is ours (labels app=vcluster, release=NAME).
void delete_vcluster_service(KubeSync& host, const State& s) {
  kube::Result r = host.get(gvr::services(), s.namespace_, s.name);
  if (!r.ok()) return;
  auto v = json::parse(r.body);
  const json::Value* rel = v ? v->at({"metadata", "labels", "release"}) : nullptr;
  if (rel == nullptr || rel->string_or("") != s.name) {
    say("warning: Service " + s.name + " in " + s.namespace_ + " is not labelled release=" + s.name +
        "; left alone");
    return;
  }
  host.remove(gvr::services(), s.namespace_, s.name);
}

}  // namespace

// ---- create ----------------------------------------------------------------------------------------

int create_local(const Options& o, const std::string& ns) {
  auto report = [](const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.message.c_str());
    return e.kind == ErrorKind::kInvalidArgument ? 2 : 1;
  };
  // 1. Everything that can be checked without touching the host.
  std::vector<plugin::LoadedPlugin> plugins;
  config::Values values;
  if (Error e =
          load_plugins_and_values(o.plugins, o.plugin_dirs, o.values_files, o.isolate, &plugins, &values))
    return report(e);
  std::string bed, syncer;
  if (Error e = find_bed(&bed)) return report(e);
  if (Error e = find_syncer(&syncer)) return report(e);
  Host h;
  if (Error e = resolve_host(o, &h)) return report(e);
  if (!h.note.empty()) say(h.note);
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return report(e);
  {
    kube::Result r = host->get(gvr::services(), ns, o.name);
    if (r.ok())
      return report(Error(ErrorKind::kInvalidArgument,
                          "the host already has a Service " + o.name + " in namespace " + ns +
                              " (another vcluster, or someone else's); choose another name or namespace"));
  }
  std::string cidr = o.service_cidr, how = "--service-cidr";
  if (cidr.empty())
    if (Error e = host_service_cidr(*host, &cidr, &how)) return report(e);
  std::string local_cidr;
  if (Error e = local_service_cidr(cidr, "", &local_cidr)) return report(e);
  std::string dir = state_dir(ns, o.name);
  {
    for (auto& name : component_names(true)) {
      std::ifstream in(cp_dir(dir) + "/pids/" + name + ".pid");
      int pid = 0;
      if (in >> pid && pid_alive(pid, cp_marker(dir)))
        return report(
            Error(ErrorKind::kInvalidArgument, "a control plane from an earlier attempt still runs in " +
                                                   cp_dir(dir) + " (" + name + " pid " + std::to_string(pid) +
                                                   "); stop it with 'tests/bed/cluster stop " +
                                                   bed_name(ns, o.name) + " --dir " + cp_dir(dir) + "'"));
    }
    remove_tree(dir);
  }

  // 2. Act. From here on a failure removes what was made, through the same code as `vcluster delete`.
  auto t0 = Clock::now();
  State s;
  s.name = o.name;
  s.namespace_ = ns;
  s.driver = "local";
  s.distro = "k8s";
  s.created = now_rfc3339();
  s.host_kubeconfig = h.kubeconfig_file;
  s.host_context = h.context;
  s.host_server = h.cfg.server;
  s.values_files = o.values_files;
  s.isolate = o.isolate;
  for (auto& p : plugins) s.plugins.push_back(canonical_path(p.path));
  s.owned = owned_resources(plugins);
  s.bed = bed;
  s.cp_name = bed_name(ns, o.name);
  s.service_cidr = local_cidr;
  s.host_service_cidr = cidr;
  s.syncer = syncer;

  auto rollback = [&](const Error& cause) {
    say("create failed; removing what it made");
    if (Error e = delete_local(o, s, dir)) say("warning: cleanup: " + e.message);
    return report(cause);
  };

  bool ns_created = false;
  if (Error e = ensure_namespace(*host, ns, o.name, &ns_created)) return report(e);
  s.namespace_created = ns_created;
  if (Error e = save(dir, s)) return rollback(e);
  if (Error e = save_host_kubeconfig(h, dir)) return rollback(e);
  if (!write_file(dir + "/values.yaml", values.to_yaml()))
    return rollback(Error(ErrorKind::kIo, "cannot write " + dir + "/values.yaml"));
  say("host namespace " + ns + (ns_created ? " created" : " exists") + "; Service range " + local_cidr +
      " (" + how + ")");

  const bool scheduler = values.get_bool(kEnableScheduler);
  say("starting the virtual control plane (" + join(component_names(scheduler), ", ") + ") with " + bed);
  int status = 0;
  std::string out;
  std::vector<std::string> bed_argv = {bed, "start", s.cp_name, "--role", "virtual", "--dir", cp_dir(dir)};
  if (scheduler) bed_argv.push_back("--scheduler");
  if (Error e = run(bed_argv, {{"VC_BED_SERVICE_CIDR", local_cidr}}, &out, &status)) return rollback(e);
  if (status != 0)
    return rollback(Error(ErrorKind::kInternal, "the control plane did not start (" + bed +
                                                    " exited with status " + std::to_string(status) +
                                                    "; its messages are above, its logs in " + cp_dir(dir) +
                                                    "/logs)"));
  if (Error e = read_components(dir, scheduler, &s.components)) return rollback(e);
  kube::RestConfig vcfg;
  if (Error e = kube::load_kubeconfig_file(cp_dir(dir) + "/kubeconfig", "", &vcfg)) return rollback(e);
  s.api_server = vcfg.server;
  if (Error e = save(dir, s)) return rollback(e);
  say("the control plane is up at " + vcfg.server + " (" + fmt_seconds(seconds_since(t0)) + ")");

  {
    std::unique_ptr<KubeSync> virt;
    if (Error e = KubeSync::open(vcfg, "virtual cluster", std::chrono::seconds(30), &virt))
      return rollback(e);
    kube::Result r = virt->create(gvr::services(), "kube-system", json::dump(dns_service()));
    if (!r.ok() && !r.already_exists())
      return rollback(Error(ErrorKind::kHttp,
                            "cannot create the DNS Service kube-system/kube-dns in the virtual cluster: " +
                                KubeSync::describe(r)));
    if (Error e = pick_dns_address(*host, &s.dns_address)) return rollback(e);
    s.dns_upstream = host_dns_upstream(*host);
    if (!s.dns_upstream.empty())
      say("names outside the virtual cluster go to the host cluster's DNS (" + s.dns_upstream + ")");
    auto [dns_ip, dns_port] = split_address(s.dns_address);
    // An Endpoints address may not be a loopback one (the API server refuses it), and no pod could use it.
    if (dns_ip != "127.0.0.1") {
      r = virt->create(gvr::endpoints(), "kube-system", json::dump(dns_endpoints(dns_ip, dns_port)));
      if (!r.ok() && !r.already_exists())
        return rollback(
            Error(ErrorKind::kHttp,
                  "cannot create the DNS Endpoints kube-system/kube-dns in the virtual cluster: " +
                      KubeSync::describe(r)));
      say("the syncer answers DNS on " + s.dns_address +
          " (on the host's pod bridge; kube-dns points there)");
    } else {
      say("no address of this machine is in a host node's pod range; the syncer answers DNS on " +
          s.dns_address + " only");
    }
    if (Error e = save(dir, s)) return rollback(e);
  }
  std::vector<json::Value> host_objs = {vcluster_service(o.name, ns)};
  if (o.isolate)
    for (auto& obj : render_isolation(o.name, ns, false)) host_objs.push_back(std::move(obj));
  if (Error e = create_objects(*host, host_objs)) return rollback(e);

  say("starting vcluster-syncer (plugins: " + join(s.plugins, ", ") + ")");
  if (Error e = start_syncer(&s, dir, o.timeout_seconds)) return rollback(e);
  if (Error e = save(dir, s)) return rollback(e);
  say("vcluster " + o.name + " is running in namespace " + ns + " (" + fmt_seconds(seconds_since(t0)) +
      "); state in " + dir);

  if (o.connect) {
    if (Error e = connect_vcluster(o, &s, dir)) return report(e);
    if (Error e = save(dir, s)) return report(e);
  }
  return 0;
}

// ---- upgrade ---------------------------------------------------------------------------------------

int upgrade_local(const Options& o, State s, const std::string& dir) {
  auto report = [](const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.message.c_str());
    return e.kind == ErrorKind::kInvalidArgument ? 2 : 1;
  };
  std::vector<plugin::LoadedPlugin> plugins;
  config::Values values;
  const std::vector<std::string>& names = o.plugins.empty() ? s.plugins : o.plugins;
  if (Error e = load_plugins_and_values(names, o.plugin_dirs, o.values_files, o.isolate || s.isolate,
                                        &plugins, &values))
    return report(e);
  // The virtual scheduler is part of the control plane, which an upgrade leaves untouched; turning it on
  // or off under running pods would also leave them placed by the other scheduler.
  if (values.get_bool(kEnableScheduler) != has_scheduler(s))
    return report(Error(ErrorKind::kInvalidArgument,
                        std::string(kEnableScheduler) + " cannot change on --upgrade (vcluster " + s.name +
                            (has_scheduler(s) ? " runs" : " does not run") +
                            " a virtual kube-scheduler, started at create); delete and create the vcluster "
                            "with the new values"));
  std::string syncer;
  if (Error e = find_syncer(&syncer)) return report(e);
  std::unique_ptr<KubeSync> host;
  if (o.isolate && !s.isolate) {
    Host h;
    if (Error e = state_host(o, s, dir, &h)) return report(e);
    if (Error e = connect_host(h, &host)) return report(e);
  }

  std::string values_path = dir + "/values.yaml", previous = dir + "/values.yaml.previous";
  std::rename(values_path.c_str(), previous.c_str());
  if (!write_file(values_path, values.to_yaml())) {
    std::rename(previous.c_str(), values_path.c_str());
    return report(Error(ErrorKind::kIo, "cannot write " + values_path));
  }
  State old = s;
  s.plugins.clear();
  for (auto& p : plugins) s.plugins.push_back(canonical_path(p.path));
  s.owned = owned_resources(plugins);
  s.values_files = o.values_files;
  s.syncer = syncer;
  if (host) {
    if (Error e = create_objects(*host, render_isolation(s.name, s.namespace_, false))) return report(e);
    s.isolate = true;
  }
  if (s.paused) {
    if (Error e = save(dir, s)) return report(e);
    say("vcluster " + s.name + " is paused; the new values are saved and take effect on 'vcluster resume " +
        s.name + "'");
    return 0;
  }
  say("restarting vcluster-syncer with the new values (the control plane and its data are untouched)");
  stop_syncer(&s, dir);
  if (Error e = start_syncer(&s, dir, o.timeout_seconds)) {
    // The new values do not work: go back to the old ones so the vcluster keeps running.
    stop_syncer(&s, dir);
    std::rename(previous.c_str(), values_path.c_str());
    Error back = start_syncer(&old, dir, o.timeout_seconds);
    save(dir, old);
    return report(Error(
        e.kind, e.message + (back ? "\nthe previous values could not be restarted either: " + back.message
                                  : "\nrestored the previous values; the syncer runs with them")));
  }
  if (Error e = save(dir, s)) return report(e);
  say("vcluster " + s.name + " upgraded");
  if (o.connect) {
    if (Error e = connect_vcluster(o, &s, dir)) return report(e);
    if (Error e = save(dir, s)) return report(e);
  }
  return 0;
}

// ---- pause / resume --------------------------------------------------------------------------------

Error pause_local(const Options& o, State* s, const std::string& dir) {
  Host h;
  if (Error e = state_host(o, *s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return e;
  // The syncer stops first: with it running, deleting a host pod would delete its virtual pod too.
  stop_syncer(s, dir);
  if (Error e = stop_components(s, dir)) return e;
  std::vector<std::string> pods;
  Error e = delete_host_pods(*host, *s, &pods);
  s->paused = true;
  s->paused_at = now_rfc3339();
  for (auto& p : pods) s->paused_pods.push_back(p);
  if (Error se = save(dir, *s)) return se;
  if (e) return e;
  say("vcluster " + s->name + " paused: control plane and syncer stopped (data kept in " + cp_dir(dir) +
      "), " + std::to_string(pods.size()) + " host pods deleted");
  return {};
}

Error resume_local(const Options& o, State* s, const std::string& dir) {
  Host h;
  if (Error e = state_host(o, *s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return e;
  bool cp_alive = true;
  for (auto& c : s->components) cp_alive = cp_alive && component_alive(c, dir);
  bool syncer_alive = pid_alive(s->syncer_pid, syncer_marker(dir));
  if (!s->paused && cp_alive && syncer_alive) {
    say("vcluster " + s->name + " is already running");
    return {};
  }
  if (s->components.size() != component_names(has_scheduler(*s)).size())
    return Error(
        ErrorKind::kInternal,
        "the state of " + s->name + " records no control-plane command lines; delete and create it again");
  // A port of a stopped component may have been taken meanwhile; say so instead of a bind error in a log.
  for (auto& c : s->components) {
    if (component_alive(c, dir)) continue;
    for (int port : listen_ports(c.argv))
      if (!port_free(port))
        return Error(ErrorKind::kInternal,
                     "port " + std::to_string(port) + " of the paused " + c.name +
                         " is now used by another process; free it, or delete and create the "
                         "vcluster again");
  }
  say("starting the control plane of " + s->name + " from " + cp_dir(dir));
  if (Error e = restart_control_plane(s, dir, o.timeout_seconds)) return e;
  if (!pid_alive(s->syncer_pid, syncer_marker(dir))) {
    say("starting vcluster-syncer");
    if (Error e = start_syncer(s, dir, o.timeout_seconds)) return e;
  }
  size_t expected = s->paused_pods.size();
  s->paused = false;
  s->paused_at.clear();
  if (Error e = save(dir, *s)) return e;
  if (expected > 0) {
    // The syncer recreates the host pods from the virtual ones; wait for as many as pause deleted.
    auto t0 = Clock::now();
    auto deadline = t0 + std::chrono::seconds(o.timeout_seconds);
    size_t n = 0;
    while (true) {
      if (Error e = count_host_pods(*host, *s, &n)) return e;
      if (n >= expected || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    if (n >= expected) {
      say(std::to_string(n) + " host pods are back (" + fmt_seconds(seconds_since(t0)) + ")");
    } else {
      say("warning: " + std::to_string(n) + " of the " + std::to_string(expected) +
          " host pods deleted by pause are back after " + std::to_string(o.timeout_seconds) + "s; see " +
          dir + "/syncer.log");
    }
  }
  s->paused_pods.clear();
  if (Error e = save(dir, *s)) return e;
  say("vcluster " + s->name + " resumed");
  return {};
}

// ---- delete ----------------------------------------------------------------------------------------

Error delete_local(const Options& o, const State& s_in, const std::string& dir) {
  State s = s_in;
  Host h;
  if (Error e = state_host(o, s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host))
    return Error(e.kind, e.message + "; nothing was deleted (to forget vcluster " + s.name +
                             " without cleaning its host, remove " + dir + ")");
  stop_syncer(&s, dir);
  if (Error e = stop_components(&s, dir)) return e;
  std::string counts;
  if (Error e = delete_owned_objects(*host, s, &counts)) return e;
  delete_vcluster_service(*host, s);
  if (s.isolate)
    for (auto& obj : render_isolation(s.name, s.namespace_, false)) {
      kube::GVR g = gvr_of(obj);
      host->remove(g, s.namespace_, std::string(obj.at({"metadata", "name"})->string_or("")));
    }
  bool ns_deleted = false;
  if (s.namespace_created) {
    bool shared = false;
    for (auto& other : list_states(nullptr))
      if (other.namespace_ == s.namespace_ && other.name != s.name) shared = true;
    if (shared) {
      say("namespace " + s.namespace_ + " is kept: another vcluster created from this machine uses it");
    } else {
      kube::Result r = host->remove(gvr::namespaces(), "", s.namespace_);
      if (!r.ok() && !r.not_found())
        return Error(ErrorKind::kHttp,
                     "cannot delete namespace " + s.namespace_ + ": " + KubeSync::describe(r));
      ns_deleted = true;
    }
  }
  forget_context(s);
  remove_tree(dir);
  rmdir((state_root() + "/" + s.namespace_).c_str());  // only when empty
  say("vcluster " + s.name + " deleted: processes stopped, host objects removed (" + counts + ")" +
      (ns_deleted ? ", namespace " + s.namespace_ + " deleted" : "") + ", state " + dir + " removed");
  return {};
}

std::string status_local(const State& s, const std::string& dir) {
  if (s.paused) return "Paused";
  if (s.components.empty()) return "Error";
  for (auto& c : s.components)
    if (!component_alive(c, dir)) return "Error";
  if (!pid_alive(s.syncer_pid, syncer_marker(dir))) return "Error";
  return "Running";
}

}  // namespace vc::cli
