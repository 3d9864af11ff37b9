// The host objects of a vcluster, as JSON values: what `create --driver cluster` applies (or prints with
// --print), and the isolation objects both drivers create with --isolate. Pure functions of their options,
// so the unit tests check every object without a cluster.
#pragma once

#include <string>
#include <vector>

#include "cli/pki.hpp"
#include "json/json.hpp"
#include "plugin/loader.hpp"

namespace vc::cli {

// Images of the control planes the cluster driver runs, one row per distro. The k8s row matches the
// Kubernetes version the test bed runs (v1.20.2).
struct DistroImages {
  std::string distro;
  std::vector<std::string> images;  // k8s: etcd, kube-apiserver, kube-controller-manager, kube-scheduler;
                                    // k3s/k0s: one
};
const std::vector<DistroImages>& distro_images();

// The image built from cli/Dockerfile.
inline constexpr const char* kSyncerImage = "vcluster-cpp/syncer:0.1.0";

// The controllers a virtual control plane runs: vcluster's set, without the node and volume controllers
// (the host does that work).
inline constexpr const char* kVirtualControllers =
    "*,-nodeipam,-nodelifecycle,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,"
    "-cloud-node-lifecycle,-ttl";

struct ManifestOptions {
  std::string name, namespace_;
  std::string distro = "k8s";                 // k8s, k3s, k0s
  std::vector<std::string> plugins;           // names given to the syncer container's --plugins
  std::vector<plugin::Resource> resources;    // every resource the chosen plugins declare (for RBAC)
  std::string values_yaml;                    // the effective values, mounted at /etc/vcluster/values.yaml
  std::string service_cidr = "10.96.0.0/12";  // the host's range, given to the virtual API server
  bool isolate = false, expose = false;
  // sync.nodes.enableScheduler: the control plane runs a kube-scheduler (k8s: a container with the
  // certificates Secret's scheduler.kubeconfig; k3s and k0s: their own, no longer disabled).
  bool scheduler = false;
  bool include_namespace = true;  // render the Namespace object first
  std::string syncer_image = kSyncerImage;
  const Pki* pki = nullptr;  // required: certificates for the Secrets
};

// Every object, in the order they are applied (the certificates Secret holds admin, controller-manager and
// scheduler kubeconfigs; the scheduler's is left out when o.pki has no scheduler certificate): Namespace,
// ServiceAccount, Role, RoleBinding, ClusterRole and ClusterRoleBinding (only when a plugin needs
// cluster-scoped host resources), the certificates Secret, the kubeconfig Secret vc-NAME, the values
// ConfigMap, (k0s: its config Secret), the Services NAME and NAME-headless, the StatefulSet NAME, and with
// isolate the objects of render_isolation.
std::vector<json::Value> render_cluster_manifests(const ManifestOptions& o);

// The --isolate objects of vcluster's chart (spec §8.2) with their default numbers: ResourceQuota
// NAME-quota, LimitRange NAME-limit-range, NetworkPolicy NAME-workloads and, when the control plane runs in
// the namespace, NetworkPolicy NAME-control-plane.
std::vector<json::Value> render_isolation(const std::string& name, const std::string& namespace_,
                                          bool control_plane_policy);

// The host rights of the syncer: vcluster's default Role (spec §11.3) plus get/list/watch (WATCH_HOST,
// TO_VIRTUAL) or full rights (TO_HOST) on every namespaced resource a plugin declares. The cluster rules
// hold the same for cluster-scoped resources; empty when no plugin needs any.
json::Value role_rules(const std::vector<plugin::Resource>& resources);
json::Value cluster_role_rules(const std::vector<plugin::Resource>& resources);

// A kubeconfig (YAML text) with one cluster, user and context named `context`, certificates embedded.
std::string kubeconfig_yaml(const std::string& context, const std::string& server, const std::string& ca_pem,
                            const std::string& cert_pem, const std::string& key_pem);

// The first usable address of an IPv4 CIDR ("10.96.0.0/16" -> "10.96.0.1"), which the API server takes for
// the virtual `kubernetes` Service; "" when the text is not an IPv4 CIDR.
std::string first_service_ip(const std::string& cidr);

// The labels of every object the CLI creates for vcluster NAME, and the selector of its control plane.
json::Value vcluster_labels(const std::string& name);

}  // namespace vc::cli
