// The JSON documents a kubelet would write, built with vc::json: the Node and its status, the node Lease,
// a pod's Running status, and the DeleteOptions that complete a graceful deletion. Pure functions of their
// inputs (the time is passed in), so the unit tests can check every field.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "json/json.hpp"

namespace vc::nodesim {

// metav1.Time: RFC 3339 in UTC with whole seconds ("2024-05-01T12:00:00Z").
std::string rfc3339(std::chrono::system_clock::time_point t);
// metav1.MicroTime, used by Lease.spec.renewTime: six fractional digits ("2024-05-01T12:00:00.123456Z").
std::string micro_time(std::chrono::system_clock::time_point t);

// Lower-case hex of the SHA-256 of `s`: stable fake digests and container IDs.
std::string sha256_hex(std::string_view s);

struct NodeSpec {
  std::string name;
  std::string internal_ip;  // a loopback address nothing connects to
  std::string pod_cidr;     // the node's block of --pod-cidr
  int max_pods = 1000;
  std::string boot_id;  // changes with every run of the simulator, as a kubelet's does with every boot
};

// The Node a kubelet registers: labels, spec.podCIDR(s). Status is written separately through the status
// subresource, which is the only place the API server accepts it from an update.
std::string node_object(const NodeSpec& n);
// A merge patch that puts our labels on a Node that already exists (a restarted simulator).
std::string node_labels_patch(const NodeSpec& n);
// A merge patch of the whole status: capacity and allocatable, the four kubelet conditions (Ready True,
// the pressures False) with lastHeartbeatTime `now` and lastTransitionTime `since`, addresses, nodeInfo
// and the kubelet endpoint. A merge patch replaces lists whole, which is what we want: we own them all.
std::string node_status_patch(const NodeSpec& n, std::string_view since, std::string_view now);

// The Lease in kube-node-lease that the node-lifecycle controller reads as the node's heartbeat. The
// owner reference to the Node (when its uid is known) lets the garbage collector remove the Lease with it,
// as with a kubelet's.
std::string lease_object(const NodeSpec& n, std::string_view node_uid, int duration_seconds,
                         std::string_view renew_time);
std::string lease_renew_patch(const NodeSpec& n, int duration_seconds, std::string_view renew_time);

// What the simulator needs to know about a pod to decide what to do with it.
struct PodFacts {
  std::string uid, node_name, phase, pod_ip;
  bool deleting = false;  // metadata.deletionTimestamp is set
  // deletionGracePeriodSeconds is already 0: the API server removes the object itself, at once or when its
  // finalizers are gone. Nothing is left for a kubelet to do.
  bool forced = false;
};
PodFacts pod_facts(const json::Value& pod);

// The status a kubelet reports for a started pod, as a merge patch for pods/{name}/status: phase Running,
// pod and host IPs, startTime, the four conditions (readiness gates respected), one running status per
// container and a Completed one per init container. Conditions of other types (readiness gates set by
// controllers) are kept, because a merge patch replaces the list. metadata.uid is included so that a
// pod recreated under the same name is refused (uid is immutable: 422) rather than patched by mistake.
std::string pod_running_patch(const json::Value& pod, std::string_view pod_ip, std::string_view host_ip,
                              std::string_view now);

// DeleteOptions with gracePeriodSeconds 0 and a uid precondition: what a kubelet sends once a pod's
// containers are gone, so that the API server removes the object.
std::string force_delete_options(std::string_view uid);

}  // namespace vc::nodesim
