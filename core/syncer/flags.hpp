// Command-line flags of vcluster-syncer, named like vcluster's where they overlap.
#pragma once

#include <string>
#include <vector>

#include "util/error.hpp"

namespace vc::syncer {

struct Flags {
  std::string name = "vcluster";  // --name: the vcluster name, suffix of host names
  std::string host_namespace;     // --target-namespace: default the host kubeconfig's namespace
  std::string virtual_kubeconfig, virtual_context;  // --virtual-kubeconfig, --virtual-context
  std::string host_kubeconfig,
      host_context;                       // --host-kubeconfig ("" = $KUBECONFIG, ~/.kube/config, in-cluster)
  std::vector<std::string> values_files;  // -f/--values (repeatable)
  std::vector<std::string> plugin_dirs;   // --plugin-dir (repeatable)
  std::vector<std::string> plugins;       // --plugins a,b,c
  std::string log_level = "info", log_format = "text";
  std::string status_address = "127.0.0.1:8080";  // --status-address (healthz, readyz, metrics)
  bool leader_elect = false;
  int lease_duration = 60, renew_deadline = 40, retry_period = 15;
  size_t max_in_flight = 64;    // --max-in-flight: concurrent reconciles
  size_t max_connections = 16;  // --max-connections: keep-alive connections per API server
  int creation_hold = 10;       // --creation-hold: seconds other work may wait for creations (0 = never)
  // --kubelet-address IP:PORT: serve the kubelet API of the virtual nodes there (off when empty), with
  // --kubelet-cert/--kubelet-key, trusting callers whose certificate --kubelet-client-ca signed.
  std::string kubelet_address, kubelet_cert, kubelet_key, kubelet_client_ca;
  // --dns-address IP:PORT: answer DNS for the virtual cluster there (off when empty); names outside the
  // cluster go to --dns-upstream (repeatable IP[:PORT], or "none") or else the --dns-resolv-conf servers.
  std::string dns_address, dns_resolv_conf = "/etc/resolv.conf";
  std::vector<std::string> dns_upstreams;
  // --host-service-cidr CIDR: the host's Service range, which selector-less Endpoints may not point into
  // (fills the services plugin's sync.endpoints.deniedCIDRs unless a values file sets it).
  std::string host_service_cidr;
  bool help = false;
};

Error parse_flags(int argc, char** argv, Flags* out);
std::string usage();

}  // namespace vc::syncer
