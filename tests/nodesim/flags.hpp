// Command-line flags of vcluster-nodesim, parsed into one struct so that the rules (defaults, ranges,
// the pod CIDR being large enough for the nodes and their pods) are checked in one place before any
// connection is made.
#pragma once

#include <cstddef>
#include <string>

#include "util/error.hpp"

namespace vc::nodesim {

struct Flags {
  std::string kubeconfig;  // "" = kubectl's search order ($KUBECONFIG, ~/.kube/config, in-cluster)
  std::string context;
  int nodes = 1;
  std::string name_prefix = "sim-node-";
  std::string pod_cidr = "10.244.0.0/16";
  std::string status_address;  // "" = no status server
  std::size_t max_in_flight = 64;
  std::size_t connections = 16;
  int max_pods = 1000;  // status.capacity.pods of every node
  // The kubelet renews its node Lease every 10 s (a quarter of the 40 s lease duration). The node-lifecycle
  // controller keeps a node Ready while its Lease or its Ready condition's lastHeartbeatTime is younger
  // than --node-monitor-grace-period (40 s), so the Lease is what keeps nodes Ready; the 40 s status
  // refresh keeps the condition's heartbeat plausible for readers that look only at it.
  int lease_interval_seconds = 10;
  int heartbeat_interval_seconds = 40;
  std::string log_level = "info";
  bool help = false;
};

std::string usage();

// Parses argv into *f. Errors are one sentence naming the flag and what it needs.
Error parse_flags(int argc, char** argv, Flags* f);

}  // namespace vc::nodesim
