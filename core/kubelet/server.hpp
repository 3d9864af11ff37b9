// The kubelet endpoint of the virtual cluster's nodes: an HTTPS server on the loop that the virtual API
// server calls for `kubectl logs`, `exec`, `attach`, `port-forward` and `cp`, as it would call a node's
// kubelet. Each request is checked (a client certificate signed by the virtual cluster's CA with an allowed
// common name; a pod this vcluster synced), mapped to the host pod, and relayed to the host API server's pod
// subresource with the syncer's host credentials: logs chunk by chunk, upgraded streams (SPDY/3.1,
// WebSocket) byte for byte once both sides said 101. Nothing is buffered whole: a peer whose write queue
// passes Options::high_water stops the reads of the other side until it drains.
//
// Threading: every function on the loop thread, like core/http. See core/kubelet/README.md.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kube/kubeconfig.hpp"
#include "util/error.hpp"

namespace vc::kube {
class Client;
}

namespace vc::kubelet {

struct Options {
  std::string address;            // "127.0.0.1:10250"; port 0 picks a free one
  std::string cert_pem, key_pem;  // the serving certificate (chain allowed) and its key
  std::string client_ca_pem;      // the CA that signs the virtual API server's kubelet client certificate
  // Common names allowed to call; the bed's and kubeadm's kubelet client certificate.
  std::vector<std::string> allowed_cns = {"kube-apiserver-kubelet-client"};
  std::string vcluster_name, host_namespace;
  kube::RestConfig host;  // the host API server and the syncer's credentials for it
  size_t high_water = 1 << 20;
  std::chrono::milliseconds connect_timeout{10000};  // host connect + TLS handshake
  std::chrono::milliseconds head_timeout{30000};     // a caller's TLS handshake and request head
};

struct Stats {
  uint64_t connections = 0, requests = 0;
  uint64_t unauthenticated = 0, forbidden = 0, not_found = 0;  // 401, 403, 404 answers
  uint64_t logs = 0, upgraded = 0;                             // relays started
  uint64_t upstream_failures = 0;                              // 502/504 answers
  uint64_t bytes_down = 0, bytes_up = 0;                       // plaintext relayed to caller / host
  size_t open = 0;                                             // connections open now
};

class Server {
 public:
  // Reads the PEM inputs and builds the TLS contexts; one sentence naming the bad input on failure.
  // host_client is the syncer's host REST client, used to check each pod (it must outlive the server).
  static Error create(uv_loop_t* loop, Options opts, kube::Client* host_client, std::unique_ptr<Server>* out);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on Options::address. Errors name the address.
  Error listen();
  int port() const;
  // Stops listening and ends every open connection (callers see the stream end); done runs once every
  // handle is closed.
  void close(std::function<void()> done);
  const Stats& stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vc::kubelet
