// What `vcluster` remembers about each virtual cluster it created: one directory per vcluster under
// ${VCLUSTER_STATE_DIR:-$HOME/.vcluster}/<namespace>/<name>/ holding state.json, the values, the syncer's
// log and, for the local driver, the control plane's directory. Every later command (list, connect,
// pause, resume, delete) starts from state.json, so it records everything needed to find and stop what
// was started: paths, PIDs with the command lines to restart them, ports, and the host context.
#pragma once

#include <string>
#include <vector>

#include "json/json.hpp"
#include "util/error.hpp"

namespace vc::cli {

// A host resource the vcluster's syncer may have written, to be cleaned up by `delete`.
struct OwnedResource {
  std::string group, version, resource;
  bool namespaced = true;
};

// One control-plane process of the local driver, with the command line that restarts it on resume.
struct Component {
  std::string name;  // etcd, kube-apiserver, kube-controller-manager
  int pid = 0;
  std::vector<std::string> argv;
};

// A host object applied by the cluster driver, deleted by name on `delete`.
struct AppliedObject {
  std::string api_version, kind, namespace_, name;
};

struct State {
  std::string name, namespace_;
  std::string driver;                // "local" or "cluster"
  std::string distro;                // "k8s", "k3s", "k0s"
  std::string created;               // RFC 3339, UTC
  std::string host_kubeconfig;       // the kubeconfig file the host context came from ("" = default search)
  std::string host_context;          // the host context's name
  std::string host_server;           // its API server, for messages
  bool namespace_created = false;    // the CLI created the namespace, so `delete` removes it
  std::vector<std::string> plugins;  // as given to the syncer (resolved paths)
  std::vector<std::string> values_files;  // the -f files of the last create/upgrade, as given
  bool isolate = false;
  std::vector<OwnedResource> owned;

  // Connection.
  std::string context_name;      // vcluster_NAME_NS_<host context>
  std::string kubeconfig_file;   // where connect wrote it ("" = not connected yet)
  std::string previous_context;  // what disconnect switches back to

  // Pause.
  bool paused = false;
  std::string paused_at;
  std::vector<std::string> paused_pods;  // host pods deleted by pause, by name

  // Local driver.
  std::string bed;           // the control-plane tool used (tests/bed/cluster)
  std::string cp_name;       // the bed cluster's name
  std::string service_cidr;  // the virtual cluster's service range (the host's)
  // The host's whole Service range (--host-service-cidr: selector-less Endpoints may not point into it).
  std::string host_service_cidr;
  std::vector<Component> components;
  int syncer_pid = 0;
  int syncer_port = 0;
  int kubelet_port = 0;  // the syncer's kubelet endpoint on 127.0.0.1, kept across pause/resume (0 = none)
  // The syncer's DNS listener (--dns-address), fixed at create so that the virtual kube-dns Endpoints stay
  // right across pause, resume and upgrade: an address on the host's pod bridge, or 127.0.0.1.
  std::string dns_address;
  // Where it forwards names outside the cluster (--dns-upstream): the host cluster's DNS, found at create;
  // empty = the syncer's own resolv.conf.
  std::string dns_upstream;
  std::string syncer;      // the vcluster-syncer binary
  std::string api_server;  // the virtual API server URL

  // Cluster driver.
  std::vector<AppliedObject> applied;

  json::Value to_json() const;
  static Error from_json(const json::Value& v, const std::string& source, State* out);
};

// ${VCLUSTER_STATE_DIR}, else $HOME/.vcluster.
std::string state_root();
// <root>/<namespace>/<name>
std::string state_dir(const std::string& namespace_, const std::string& name);

// Reads <dir>/state.json. Fails with code 404 when there is no such file.
Error load_state(const std::string& dir, State* out);
// Writes <dir>/state.json atomically (temporary file + rename), creating the directory (mode 0700).
Error save_state(const std::string& dir, const State& s);

// Every state under the root, sorted by namespace then name. Unreadable files are reported in `problems`.
std::vector<State> list_states(std::vector<std::string>* problems);

// Finds the state of NAME: in `namespace_` when given, else the only namespace holding a vcluster of that
// name. Fails with code 404 (naming where it looked) or, when NAME exists in several namespaces, asks for -n.
Error find_state(const std::string& name, const std::string& namespace_, State* out, std::string* dir);

// The current time as RFC 3339 (UTC, seconds), and an age such as 45s, 3m, 2h5m, 4d for `list`.
std::string now_rfc3339();
std::string age_since(const std::string& rfc3339);

}  // namespace vc::cli
