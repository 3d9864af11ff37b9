// The commands of `vcluster`, and what the two drivers share. Each command validates everything it can
// (flags, values, plugins, the host's answer) before it changes anything, and reports a failure as one
// Error whose message names the thing and the fix.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/host.hpp"
#include "cli/kube_sync.hpp"
#include "cli/state.hpp"
#include "config/values.hpp"
#include "json/json.hpp"
#include "plugin/loader.hpp"
#include "util/error.hpp"

namespace vc::cli {

// Runs the parsed command; returns the process exit status after printing any error.
int run_command(const Options& o);

// Progress for the user, on stderr (stdout carries only results: tables, manifests, kubeconfigs).
void say(const std::string& line);

// ---- shared by the drivers ----------------------------------------------------------------------

// Loads the plugins (--plugins names or paths, else the syncer's defaults) and validates the values files
// (plus isolation.enabled when isolate) against the core's and the plugins' keys, exactly as the syncer
// will, so a bad file or plugin is refused before anything is touched.
Error load_plugins_and_values(const std::vector<std::string>& names,
                              const std::vector<std::string>& plugin_dirs,
                              const std::vector<std::string>& values_files, bool isolate,
                              std::vector<plugin::LoadedPlugin>* plugins, config::Values* values);

// The host resources a vcluster's syncer may have written: the core's list (what vcluster syncs by
// default) plus every resource a chosen plugin writes to the host.
std::vector<OwnedResource> owned_resources(const std::vector<plugin::LoadedPlugin>& plugins);

// Deletes every host object labelled vcluster.loft.sh/managed-by=NAME in the namespace (and the
// cluster-scoped ones labelled with the cluster marker), for every owned resource. `counts` says what was
// removed ("3 pods, 2 secrets"). Resources the host does not serve are skipped.
Error delete_owned_objects(KubeSync& host, const State& s, std::string* counts);
// A cluster-scoped host object this vcluster made from a virtual one: the cluster marker, and a name that is
// the translation of its object-name annotation (a host PV the storage plugin only imported is neither).
bool is_translated_cluster_copy(const json::Value& item, const State& s);

// Deletes the host pods the syncer created (pause); returns their names.
Error delete_host_pods(KubeSync& host, const State& s, std::vector<std::string>* names);

// Counts the host pods of the vcluster that are not being deleted (resume waits for these: the pods that
// pause deleted may still be Terminating on a real node, and must not count as back).
Error count_host_pods(KubeSync& host, const State& s, size_t* n);
// The same count over a PodList already read.
size_t count_live_pods(const json::Value& list, const State& s);

// Creates the namespace if missing (labelled vcluster.loft.sh/namespace=true, annotated with its creator);
// *created says whether it did.
Error ensure_namespace(KubeSync& host, const std::string& ns, const std::string& name, bool* created);

// Switches the kubeconfig to the vcluster (connect), recording the context in the state.
Error connect_vcluster(const Options& o, State* s, const std::string& dir);

// Removes the vcluster's context from the kubeconfig, switching back first when it is current.
void forget_context(const State& s);

// The host of an existing vcluster: --kubeconfig/--context when given, else the copy of the host
// credentials kept in its state directory (host.kubeconfig), so that later commands reach the same host
// whatever the current context is.
Error state_host(const Options& o, const State& s, const std::string& dir, Host* out);

// Writes the host credentials into <dir>/host.kubeconfig (context "host"), for state_host and the syncer.
Error save_host_kubeconfig(const Host& h, const std::string& dir);

// Removes a directory tree; errors are reported, not fatal.
void remove_tree(const std::string& dir);

// ---- the drivers --------------------------------------------------------------------------------

// The local driver's DNS listener address: the first of `local_ips` (this machine's IPv4 addresses) inside
// one of `pod_cidrs` (the host Nodes' spec.podCIDR(s)), so the pods on those nodes can reach it; else
// 127.0.0.1.
std::string dns_listener_ip(const std::vector<std::string>& pod_cidrs,
                            const std::vector<std::string>& local_ips);

int create_local(const Options& o, const std::string& ns);
int upgrade_local(const Options& o, State s, const std::string& dir);
Error pause_local(const Options& o, State* s, const std::string& dir);
Error resume_local(const Options& o, State* s, const std::string& dir);
Error delete_local(const Options& o, const State& s, const std::string& dir);
// "Running", "Paused" or "Error: <why>".
std::string status_local(const State& s, const std::string& dir);

int create_cluster(const Options& o, const std::string& ns, const State* existing);
Error pause_cluster(const Options& o, State* s, const std::string& dir);
Error resume_cluster(const Options& o, State* s, const std::string& dir);
Error delete_cluster(const Options& o, const State& s, const std::string& dir);
std::string status_cluster(const Options& o, const State& s, const std::string& dir);

}  // namespace vc::cli
