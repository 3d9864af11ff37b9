// Command-line parsing of `vcluster`: the commands, their flags and the global flags, with no side effects
// so that every rule can be unit-tested. Each error is one sentence naming the bad word and the fix.
#pragma once

#include <string>
#include <vector>

#include "util/error.hpp"

namespace vc::cli {

struct Options {
  // Global flags, accepted before or after the command.
  std::string kubeconfig;  // --kubeconfig: the host kubeconfig ("" = $KUBECONFIG, ~/.kube/config)
  std::string context;     // --context: the host context ("" = current-context)
  bool help = false;       // -h/--help: print the usage of `command` (or of vcluster)

  // "create", "connect", "disconnect", "list", "pause", "resume", "delete", "plugins" or "" (none given).
  std::string command;
  std::string subcommand;  // "list" for `plugins list`
  std::string name;        // the vcluster NAME of create, connect, pause, resume and delete

  std::string namespace_;                 // -n/--namespace ("" = vcluster-NAME, or found in the state)
  std::vector<std::string> values_files;  // -f/--values, in order
  std::vector<std::string> plugins;       // --plugins a,b,c (repeatable; "" entries dropped)
  std::vector<std::string> plugin_dirs;   // --plugin-dir DIR (repeatable), searched before the defaults
  bool upgrade = false;                   // --upgrade: apply new values to an existing vcluster
  bool expose = false;                    // --expose: a LoadBalancer Service for the API server
  bool isolate = false;                   // --isolate: NetworkPolicies, ResourceQuota, LimitRange, PSS
  bool connect = true;                    // --connect=false: do not switch the kubeconfig after create
  bool print = false;            // --print: print instead of acting (create --driver cluster, connect)
  std::string distro = "k8s";    // --distro k8s|k3s|k0s
  std::string driver = "local";  // --driver local|cluster
  std::string output = "yaml";   // -o/--output yaml|json (create --print)
  std::string server;            // connect --server URL: overrides the kubeconfig's server
  std::string service_cidr;      // --service-cidr: the virtual Service range ("" = the host's)
  int timeout_seconds = 120;     // --timeout SECONDS: how long create/resume wait for readiness
};

// Parses argv without the program name. On error `out` may be partly filled and must not be used.
Error parse_args(const std::vector<std::string>& args, Options* out);

// The usage text of one command ("" for the overview), as --help prints it.
std::string usage(const std::string& command);

// True for a DNS-1035 label of at most `max` bytes: lower-case letters, digits and '-', starting with a
// letter and ending with a letter or digit (what a Service name must be).
bool is_dns1035_label(const std::string& s, size_t max = 63);
// True for a DNS-1123 label of at most 63 bytes (what a Namespace name must be).
bool is_dns1123_label(const std::string& s);

// The longest vcluster name accepted: the default namespace vcluster-NAME must stay a 63-byte label.
inline constexpr size_t kMaxNameLength = 52;

}  // namespace vc::cli
