// Kubeconfig loading and editing: how the syncer and the `vcluster` CLI find an API server and the
// credentials to reach it. The format is kubectl's (clientcmd v1 `Config`): clusters, users and contexts are
// lists of named entries, and a context joins one cluster with one user and an optional namespace.
#pragma once
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace vc::kube {

// Everything a REST client needs to talk to one API server, resolved: file references are read, base64 is
// decoded, and the chosen context's names are recorded so that messages can name them.
struct RestConfig {
  std::string server;              // https://127.0.0.1:6443, without a trailing '/' (may carry a path prefix)
  std::string ca_pem;              // from certificate-authority-data (base64) or certificate-authority (file)
  std::string cert_pem, key_pem;   // client-certificate(-data), client-key(-data)
  std::string token;               // token, or the content of tokenFile
  std::string token_file;          // kept so that a rotated in-cluster token can be re-read
  std::string username, password;  // basic auth (rare)
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string context, cluster_name, user_name, namespace_;  // what was chosen
};

// Where a pod finds its service-account credentials. Injectable so that tests can use temporary files.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// Loads one kubeconfig file and resolves `context` ("" = the file's current-context). Relative file
// references (certificate-authority, client-certificate, client-key, tokenFile) are resolved against the
// file's directory, as kubectl does.
Error load_kubeconfig_file(const std::string& path, const std::string& context, RestConfig* out);

// Same, from YAML text; `base_dir` resolves relative file references. Errors name the source "<inline>".
Error load_kubeconfig_yaml(std::string_view yaml, const std::string& base_dir, const std::string& context,
                           RestConfig* out);

// The credentials of the pod we run in: $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT (an IPv6 host
// is bracketed), the service-account token (its path is kept in token_file for rotation), CA and namespace.
Error load_in_cluster(RestConfig* out, const InClusterPaths& paths = {});

// kubectl's search order: `explicit_path` if given; else the first file of the ':'-separated $KUBECONFIG that
// holds `context` (or, for "", that names a current-context); else ~/.kube/config; else in-cluster.
Error load_default(const std::string& explicit_path, const std::string& context, RestConfig* out);

// Writes (or replaces) a cluster, a user and a context all named `context_name`, with certificates embedded
// as
// *-data, keeping every other entry. Creates the file (mode 0600) and its directory if missing. The write is
// atomic (temporary file + rename), so a crash never leaves a half-written kubeconfig.
Error kubeconfig_upsert_context(const std::string& path, const std::string& context_name,
                                const RestConfig& cfg, bool make_current);

// Sets current-context; fails (code 404) when the file has no such context.
Error kubeconfig_set_current(const std::string& path, const std::string& context);

// Removes the context, and its cluster and user when no other context uses them. Clears current-context when
// it named the removed context. Fails with code 404 when the context does not exist.
Error kubeconfig_remove_context(const std::string& path, const std::string& context);

// Reads current-context ("" when unset). Fails when the file cannot be read or parsed.
Error kubeconfig_current_context(const std::string& path, std::string* out);

}  // namespace vc::kube
