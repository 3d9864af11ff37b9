// What a request to the kubelet endpoint asks for, and the host API server request that answers it. Pure
// functions of their arguments, so the mapping and every refusal can be tested without a socket.
//
// The virtual API server calls a kubelet with the paths of pkg/registry/core/pod/strategy.go (v1.20):
// /containerLogs/{ns}/{pod}/{container}?follow=true&tailLines=..., and /exec, /attach (input, output,
// error, tty, command) and /portForward/{ns}/{pod} (port) from streamParams. The host API server's pod
// subresources take the PodLogOptions, PodExecOptions, PodAttachOptions and PodPortForwardOptions names
// instead (stdin, stdout, stderr, ports), so the query is translated parameter by parameter.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vc::kubelet {

enum class Kind {
  kHealthz,
  kLogs,
  kExec,
  kAttach,
  kPortForward,
  kRun,
  kStatsSummary,
  kMetricsResource,
  kForbidden,   // a path this endpoint never serves (403)
  kBadRequest,  // a served path with a malformed name (400)
};

using Query = std::vector<std::pair<std::string, std::string>>;

struct Route {
  Kind kind = Kind::kForbidden;
  std::string ns, pod, container;  // virtual names, percent-decoded and validated
  Query query;                     // the caller's query, percent-decoded, in order
  std::string problem;             // for kBadRequest: which part is malformed
};

// Splits "path?query" and classifies the path. Names must be DNS-1123 subdomains (namespace, pod) or labels
// (container), so a name can never carry '/' or ".." into the host path.
Route parse_target(std::string_view target);

// True for the kinds that switch protocols (SPDY/3.1 or WebSocket) once both sides said 101.
bool is_upgrade(Kind k);

// The host API server's request target for a route, for the host pod host_pod in host_ns:
// /api/v1/namespaces/H/pods/P/log?container=C&follow=true..., .../exec?command=..&stdin=true..,
// .../attach?..., .../portforward?ports=... Unknown query parameters are dropped.
std::string host_target(const Route& r, std::string_view host_ns, std::string_view host_pod);

// Percent-decoding ('+' stays '+', as Go's url.PathUnescape) and encoding of a query component.
bool percent_decode(std::string_view in, std::string* out);
std::string query_escape(std::string_view s);

// The Kubernetes name rules (k8s.io/apimachinery validation IsDNS1123Subdomain / IsDNS1123Label).
bool is_dns1123_subdomain(std::string_view s);
bool is_dns1123_label(std::string_view s);

}  // namespace vc::kubelet
