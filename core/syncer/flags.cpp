#include "syncer/flags.hpp"

#include <cstdlib>
#include <functional>
#include <map>

namespace vc::syncer {

std::string usage() {
  return R"(Usage: vcluster-syncer [flags]

Copies Pods, Services and the other low-level objects of a virtual cluster into one host namespace,
renamed <name>-x-<namespace>-x-<vcluster>, and their status back, with dlopen'd sync plugins.

Flags:
  --name NAME                  vcluster name, the suffix of host object names (default vcluster)
  --target-namespace NS        host namespace receiving synced objects (default: the host kubeconfig's namespace)
  --virtual-kubeconfig PATH    kubeconfig of the virtual API server (required)
  --virtual-context NAME       context in it (default: current-context)
  --host-kubeconfig PATH       kubeconfig of the host cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --host-context NAME          context in it
  -f, --values FILE            vcluster values file; repeat to merge (later files win)
  --plugins a,b,c              plugins to run, by name or path (default: pods,services,nodes,storage,networkpolicy)
  --plugin-dir DIR             extra directory to find libvcp-<name>.so in; repeatable
  --log-level LEVEL            trace, debug, info, warn, error (default info)
  --log-format text|json       (default text)
  --status-address HOST:PORT   /healthz, /readyz, /metrics (default 127.0.0.1:8080; port 0 = any free port)
  --leader-elect               run leader election on a Lease in the target namespace (HA replicas)
  --lease-duration S, --renew-deadline S, --retry-period S   (60, 40, 15)
  --max-in-flight N            concurrent reconciles (default 64)
  --max-connections N          keep-alive connections per API server (default 16)
  --creation-hold S            while creations are backed up (a burst), other work (status copies, Event
                               copies) waits, each item for at most S seconds (default 10; 0 = never waits)
  --kubelet-address IP:PORT    serve the kubelet API of the virtual nodes (logs, exec, attach, port-forward)
                               there and relay it to the host API server; off when empty
  --kubelet-cert FILE, --kubelet-key FILE   its serving certificate and key (PEM)
  --kubelet-client-ca FILE     the CA that signed the virtual API server's kubelet client certificate
  --dns-address IP:PORT        answer DNS for the virtual cluster there, UDP and TCP (off by default)
  --dns-upstream IP[:PORT]     where names outside the cluster domain go; repeatable; 'none' answers them
                               REFUSED (default: the nameservers of --dns-resolv-conf)
  --dns-resolv-conf PATH       (default /etc/resolv.conf)
  --host-service-cidr CIDR     the host's Service range: selector-less Endpoints may not point into it
                               (sync.endpoints.deniedCIDRs, unless a values file sets that)
  -h, --help
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
  auto list = [](std::vector<std::string>* dst) -> Setter {
    return [dst](const std::string& v) {
      dst->push_back(v);
      return Error();
    };
  };
  auto num = [](const std::string& flag, auto* dst) -> Setter {
    return [flag, dst](const std::string& v) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n <= 0)
        return Error(ErrorKind::kInvalidArgument, flag + " needs a positive whole number, got '" + v + "'");
      *dst = static_cast<std::remove_pointer_t<decltype(dst)>>(n);
      return Error();
    };
  };
  std::map<std::string, Setter> with_value = {
      {"--name", str(&f->name)},
      {"--target-namespace", str(&f->host_namespace)},
      {"--virtual-kubeconfig", str(&f->virtual_kubeconfig)},
      {"--virtual-context", str(&f->virtual_context)},
      {"--host-kubeconfig", str(&f->host_kubeconfig)},
      {"--host-context", str(&f->host_context)},
      {"-f", list(&f->values_files)},
      {"--values", list(&f->values_files)},
      {"--plugin-dir", list(&f->plugin_dirs)},
      {"--plugins",
       [f](const std::string& v) {
         size_t start = 0;
         while (start <= v.size()) {
           size_t c = v.find(',', start);
           std::string n = v.substr(start, c == std::string::npos ? std::string::npos : c - start);
           if (!n.empty()) f->plugins.push_back(n);
           if (c == std::string::npos) break;
           start = c + 1;
         }
         return Error();
       }},
      {"--log-level", str(&f->log_level)},
      {"--log-format",
       [f](const std::string& v) {
         if (v != "text" && v != "json")
           return Error(ErrorKind::kInvalidArgument, "--log-format must be text or json, got '" + v + "'");
         f->log_format = v;
         return Error();
       }},
      {"--status-address", str(&f->status_address)},
      {"--kubelet-address", str(&f->kubelet_address)},
      {"--kubelet-cert", str(&f->kubelet_cert)},
      {"--kubelet-key", str(&f->kubelet_key)},
      {"--kubelet-client-ca", str(&f->kubelet_client_ca)},
      {"--dns-address", str(&f->dns_address)},
      {"--dns-upstream", list(&f->dns_upstreams)},
      {"--dns-resolv-conf", str(&f->dns_resolv_conf)},
      {"--host-service-cidr", str(&f->host_service_cidr)},
      {"--lease-duration", num("--lease-duration", &f->lease_duration)},
      {"--renew-deadline", num("--renew-deadline", &f->renew_deadline)},
      {"--retry-period", num("--retry-period", &f->retry_period)},
      {"--max-in-flight", num("--max-in-flight", &f->max_in_flight)},
      {"--max-connections", num("--max-connections", &f->max_connections)},
      {"--creation-hold",
       [f](const std::string& v) {
         char* end = nullptr;
         long n = std::strtol(v.c_str(), &end, 10);
         if (v.empty() || *end != '\0' || n < 0 || n > 3600)
           return Error(ErrorKind::kInvalidArgument,
                        "--creation-hold needs whole seconds from 0 to 3600, got '" + v + "'");
         f->creation_hold = static_cast<int>(n);
         return Error();
       }},
  };
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      f->help = true;
      return {};
    }
    if (a == "--leader-elect") {
      f->leader_elect = true;
      continue;
    }
    std::string value;
    bool inline_value = false;
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    auto it = with_value.find(a);
    if (it == with_value.end()) return Error(ErrorKind::kInvalidArgument, "unknown flag " + a);
    if (!inline_value) {
      if (i + 1 >= argc) return Error(ErrorKind::kInvalidArgument, "flag " + a + " needs a value");
      value = argv[++i];
    }
    if (Error e = it->second(value)) return e;
  }
  if (!f->kubelet_address.empty() &&
      (f->kubelet_cert.empty() || f->kubelet_key.empty() || f->kubelet_client_ca.empty()))
    return Error(ErrorKind::kInvalidArgument,
                 "--kubelet-address needs --kubelet-cert, --kubelet-key and --kubelet-client-ca (the serving "
                 "certificate and the CA of the virtual API server's kubelet client certificate)");
  if (!f->help && f->virtual_kubeconfig.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "--virtual-kubeconfig is required (the virtual API server's kubeconfig)");
  return {};
}

}  // namespace vc::syncer
