// A blocking face over vc::kube::Client for the CLI. A command does one request after another and
// decides on each answer, so each call runs a private libuv loop until its callback has fired. The
// asynchronous client stays the only HTTP and TLS code in the project.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>

#include "json/json.hpp"
#include "kube/client.hpp"
#include "kube/kubeconfig.hpp"

namespace vc::cli {

class KubeSync {
 public:
  // Builds a client for `cfg`; `what` names the cluster in messages ("host cluster", "virtual cluster").
  static Error open(const kube::RestConfig& cfg, const std::string& what, std::chrono::milliseconds timeout,
                    std::unique_ptr<KubeSync>* out);
  ~KubeSync();
  KubeSync(const KubeSync&) = delete;
  KubeSync& operator=(const KubeSync&) = delete;

  kube::Result get(const kube::GVR& r, const std::string& ns, const std::string& name);
  kube::Result list(const kube::GVR& r, const std::string& ns, const std::string& label_selector = {});
  kube::Result create(const kube::GVR& r, const std::string& ns, const std::string& body);
  kube::Result update(const kube::GVR& r, const std::string& ns, const std::string& name,
                      const std::string& body);
  kube::Result patch(const kube::GVR& r, const std::string& ns, const std::string& name,
                     const std::string& merge_patch);
  kube::Result remove(const kube::GVR& r, const std::string& ns, const std::string& name,
                      const std::string& delete_options = {});
  kube::Result request(const std::string& method, const std::string& target, const std::string& body = {});

  // GET /version: Ok when the API server answers. The error names the server and the context.
  Error ping();

  // The Status message of a failed result, or the transport error, as one phrase.
  static std::string describe(const kube::Result& r);

  const std::string& what() const { return what_; }
  const kube::RestConfig& config() const { return cfg_; }

 private:
  KubeSync() = default;
  template <typename Start>
  kube::Result wait(Start start);

  uv_loop_t loop_{};
  bool loop_ready_ = false;
  std::unique_ptr<kube::Client> client_;
  std::string what_;
  kube::RestConfig cfg_;
};

// Well-known resources the CLI touches.
namespace gvr {
const kube::GVR& namespaces();
const kube::GVR& services();
const kube::GVR& pods();
const kube::GVR& secrets();
const kube::GVR& configmaps();
const kube::GVR& endpoints();
const kube::GVR& nodes();
const kube::GVR& pvcs();
const kube::GVR& serviceaccounts();
const kube::GVR& statefulsets();
}  // namespace gvr

// The resource of an object the CLI creates, from its apiVersion and kind (the kinds of manifests.hpp).
kube::GVR gvr_of(const json::Value& obj);

}  // namespace vc::cli
