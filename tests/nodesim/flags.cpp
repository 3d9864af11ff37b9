#include "flags.hpp"

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>

namespace vc::nodesim {

std::string usage() {
  return R"(Usage: vcluster-nodesim [flags]

Makes a test cluster without kubelets behave as if it had N Ready nodes: registers the Nodes, renews
their Leases, marks every pod the scheduler binds to them Running (with a pod IP from --pod-cidr), and
completes the graceful deletion of their pods as a kubelet would. Nothing runs; no address is contacted.

Flags:
  --kubeconfig PATH            the cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --context NAME               context in it (default: current-context)
  --nodes N                    how many nodes (default 1)
  --name-prefix P              node names are P0..P(N-1) (default sim-node-)
  --pod-cidr CIDR              IPv4 range split into one block per node for pod IPs (default 10.244.0.0/16)
  --max-pods N                 pods each node accepts, status.capacity.pods (default 1000)
  --status-address HOST:PORT   serve /healthz and /metrics there (default: no server; port 0 = any)
  --max-in-flight N            concurrent API requests, at least 2 (default 64)
  --connections N              keep-alive connections to the API server (default 16, at most --max-in-flight)
  --lease-interval S           seconds between Lease renewals (default 10)
  --heartbeat-interval S       seconds between Ready heartbeats in node status (default 40)
  --log-level LEVEL            trace, debug, info, warn, error (default info)
  -h, --help

Prints "N nodes ready" on stdout once every node is registered with a Ready status. SIGTERM or SIGINT
stop it (exit 0).
)";
}

Error parse_flags(int argc, char** argv, Flags* f) {
  using Setter = std::function<Error(const std::string&)>;
  auto str = [](std::string* dst) -> Setter {
    return [dst](const std::string& v) {
      *dst = v;
      return Error();
    };
  };
  auto num = [](const std::string& flag, long min, long max, auto* dst) -> Setter {
    return [flag, min, max, dst](const std::string& v) {
      char* end = nullptr;
      errno = 0;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno != 0 || n < min || n > max)
        return Error(ErrorKind::kInvalidArgument, flag + " needs a whole number from " + std::to_string(min) +
                                                      " to " + std::to_string(max) + ", got '" + v + "'");
      *dst = static_cast<std::remove_pointer_t<decltype(dst)>>(n);
      return Error();
    };
  };
  std::map<std::string, Setter> with_value = {
      {"--kubeconfig", str(&f->kubeconfig)},
      {"--context", str(&f->context)},
      {"--nodes", num("--nodes", 1, 65536, &f->nodes)},
      {"--name-prefix", str(&f->name_prefix)},
      {"--pod-cidr", str(&f->pod_cidr)},
      {"--max-pods", num("--max-pods", 1, 1000000, &f->max_pods)},
      {"--status-address", str(&f->status_address)},
      {"--max-in-flight", num("--max-in-flight", 2, 4096, &f->max_in_flight)},
      {"--connections", num("--connections", 1, 1024, &f->connections)},
      {"--lease-interval", num("--lease-interval", 1, 3600, &f->lease_interval_seconds)},
      {"--heartbeat-interval", num("--heartbeat-interval", 1, 3600, &f->heartbeat_interval_seconds)},
      {"--log-level", str(&f->log_level)},
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      f->help = true;
      continue;
    }
    std::string value;
    bool inline_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    auto it = with_value.find(arg);
    if (it == with_value.end()) return Error(ErrorKind::kInvalidArgument, "unknown flag '" + arg + "'");
    if (!inline_value) {
      if (i + 1 >= argc) return Error(ErrorKind::kInvalidArgument, arg + " needs a value");
      value = argv[++i];
    }
    if (Error e = it->second(value)) return e;
  }
  if (f->name_prefix.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "--name-prefix must not be empty: node names would be bare numbers");
  // Node names are DNS subdomains (RFC 1123): lower-case alphanumerics, '-' and '.', starting with an
  // alphanumeric. The suffix is a number, so checking the prefix is enough.
  for (char c : f->name_prefix) {
    bool okc = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!okc)
      return Error(
          ErrorKind::kInvalidArgument,
          "--name-prefix '" + f->name_prefix + "' may hold only lower-case letters, digits, '-' and '.'");
  }
  if (!((f->name_prefix[0] >= 'a' && f->name_prefix[0] <= 'z') ||
        (f->name_prefix[0] >= '0' && f->name_prefix[0] <= '9')))
    return Error(ErrorKind::kInvalidArgument,
                 "--name-prefix '" + f->name_prefix + "' must start with a lower-case letter or a digit");
  if (f->connections > f->max_in_flight) f->connections = f->max_in_flight;
  return {};
}

}  // namespace vc::nodesim
