// The certificates of a control plane that runs in the host cluster (`create --driver cluster`). The CLI
// makes them, as kubeadm does before a control plane starts, so that it can hand out an admin kubeconfig
// (Secret vc-NAME) without waiting for the control plane: one cluster CA, one front-proxy CA for the
// aggregation layer's request-header authentication, the API server's serving certificate, client
// certificates for the admin, the controller manager and the scheduler, and the service-account key pair.
// Keys are ECDSA P-256, as tests/bed uses; the service-account key too, so tokens are ES256.
#pragma once

#include <string>
#include <vector>

#include "util/error.hpp"

namespace vc::cli {

struct KeyPair {
  std::string cert_pem, key_pem;
};

struct Pki {
  KeyPair ca, front_proxy_ca;
  KeyPair apiserver;           // serving: SANs from PkiOptions
  KeyPair admin;               // client: CN=admin, O=system:masters
  KeyPair controller_manager;  // client: CN=system:kube-controller-manager
  KeyPair scheduler;           // client: CN=system:kube-scheduler (empty when read from an older vcluster)
  KeyPair front_proxy_client;  // client of the front-proxy CA: CN=front-proxy-client
  std::string sa_key_pem, sa_pub_pem;
};

struct PkiOptions {
  std::string cluster_name;            // in the CAs' common names
  std::vector<std::string> dns_names;  // serving certificate SANs
  std::vector<std::string> ips;        // serving certificate IP SANs (IPv4 or IPv6 text)
};

Error make_pki(const PkiOptions& opts, Pki* out);

// A serving certificate for `cn` with IP SANs, signed by an existing CA given as PEM (the local driver signs
// the syncer's kubelet endpoint with the virtual cluster's CA, so the virtual API server can verify it).
Error make_serving_cert(const KeyPair& ca, const std::string& cn, const std::vector<std::string>& ips,
                        KeyPair* out);

// Base64 (RFC 4648, with padding), as kubeconfig *-data fields and Secret data hold it.
std::string base64(const std::string& in);
// The reverse, for Secret data and kubeconfig *-data fields; padding and whitespace are ignored. False on a
// character outside the alphabet.
bool unbase64(const std::string& in, std::string* out);

}  // namespace vc::cli
