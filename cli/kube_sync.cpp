#include "cli/kube_sync.hpp"

namespace vc::cli {

Error KubeSync::open(const kube::RestConfig& cfg, const std::string& what, std::chrono::milliseconds timeout,
                     std::unique_ptr<KubeSync>* out) {
  std::unique_ptr<KubeSync> k(new KubeSync());
  if (int rc = uv_loop_init(&k->loop_); rc != 0)
    return Error(ErrorKind::kInternal, std::string("cannot create an event loop: ") + uv_strerror(rc));
  k->loop_ready_ = true;
  k->what_ = what;
  k->cfg_ = cfg;
  kube::ClientOptions o;
  o.max_connections = 4;
  o.request_timeout = timeout;
  o.user_agent = "vcluster-cli/0.1";
  if (Error e = kube::Client::create(&k->loop_, cfg, o, &k->client_)) {
    e.message = what + ": " + e.message;
    return e;
  }
  *out = std::move(k);
  return {};
}

KubeSync::~KubeSync() {
  if (!loop_ready_) return;
  if (client_) {
    bool closed = false;
    client_->close([&closed] { closed = true; });
    while (!closed && uv_run(&loop_, UV_RUN_ONCE) != 0) {
    }
    client_.reset();
  }
  // Anything still open (a timer of a finished request) is closed so the loop closes cleanly.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

template <typename Start>
kube::Result KubeSync::wait(Start start) {
  bool done = false;
  kube::Result result;
  start([&done, &result](kube::Result r) {
    result = std::move(r);
    done = true;
  });
  while (!done) {
    // The client always completes a callback (its request timeout bounds every request), so a loop with
    // nothing left to do before that would be a bug in the client; report it instead of spinning.
    if (uv_run(&loop_, UV_RUN_ONCE) == 0 && !done) {
      result.err = Error(ErrorKind::kInternal, "the request never completed");
      break;
    }
  }
  return result;
}

kube::Result KubeSync::get(const kube::GVR& r, const std::string& ns, const std::string& name) {
  return wait([&](kube::ResultCb cb) { client_->get(r, ns, name, std::move(cb)); });
}

kube::Result KubeSync::list(const kube::GVR& r, const std::string& ns, const std::string& label_selector) {
  kube::ListOptions o;
  o.label_selector = label_selector;
  return wait([&](kube::ResultCb cb) { client_->list(r, ns, o, std::move(cb)); });
}

kube::Result KubeSync::create(const kube::GVR& r, const std::string& ns, const std::string& body) {
  return wait([&](kube::ResultCb cb) { client_->create(r, ns, body, std::move(cb)); });
}

kube::Result KubeSync::update(const kube::GVR& r, const std::string& ns, const std::string& name,
                              const std::string& body) {
  return wait([&](kube::ResultCb cb) { client_->update(r, ns, name, body, std::move(cb)); });
}

kube::Result KubeSync::patch(const kube::GVR& r, const std::string& ns, const std::string& name,
                             const std::string& merge_patch) {
  return wait([&](kube::ResultCb cb) {
    client_->patch(r, ns, name, kube::PatchType::kMerge, merge_patch, std::move(cb));
  });
}

kube::Result KubeSync::remove(const kube::GVR& r, const std::string& ns, const std::string& name,
                              const std::string& delete_options) {
  return wait([&](kube::ResultCb cb) { client_->remove(r, ns, name, delete_options, std::move(cb)); });
}

kube::Result KubeSync::request(const std::string& method, const std::string& target,
                               const std::string& body) {
  return wait([&](kube::ResultCb cb) {
    client_->request(method, target, body, body.empty() ? "" : "application/json", std::move(cb));
  });
}

std::string KubeSync::describe(const kube::Result& r) {
  if (r.status == 0) return r.err.message;
  std::string reason, message;
  kube::parse_status(r.body, &reason, &message);
  std::string out = "HTTP " + std::to_string(r.status);
  if (!reason.empty()) out += " " + reason;
  if (!message.empty()) out += ": " + message;
  return out;
}

Error KubeSync::ping() {
  kube::Result r = request("GET", "/version");
  if (r.ok()) return {};
  std::string ctx = cfg_.context.empty() ? "" : " (context " + cfg_.context + ")";
  std::string fix = r.status == 401 || r.status == 403
                        ? "check the credentials of the context"
                        : "check that it is running (kubectl" +
                              (cfg_.context.empty() ? "" : " --context " + cfg_.context) +
                              " get ns) or pick another one with --context / --kubeconfig";
  return Error(
      r.status == 0 ? ErrorKind::kIo : ErrorKind::kHttp,
      "the " + what_ + " at " + cfg_.server + ctx + " cannot be reached: " + describe(r) + "; " + fix,
      r.status);
}

namespace gvr {
const kube::GVR& namespaces() {
  static const kube::GVR g{"", "v1", "namespaces", false, "Namespace"};
  return g;
}
const kube::GVR& services() {
  static const kube::GVR g{"", "v1", "services", true, "Service"};
  return g;
}
const kube::GVR& pods() {
  static const kube::GVR g{"", "v1", "pods", true, "Pod"};
  return g;
}
const kube::GVR& secrets() {
  static const kube::GVR g{"", "v1", "secrets", true, "Secret"};
  return g;
}
const kube::GVR& configmaps() {
  static const kube::GVR g{"", "v1", "configmaps", true, "ConfigMap"};
  return g;
}
const kube::GVR& nodes() {
  static const kube::GVR g{"", "v1", "nodes", false, "Node"};
  return g;
}
const kube::GVR& endpoints() {
  static const kube::GVR g{"", "v1", "endpoints", true, "Endpoints"};
  return g;
}
const kube::GVR& pvcs() {
  static const kube::GVR g{"", "v1", "persistentvolumeclaims", true, "PersistentVolumeClaim"};
  return g;
}
const kube::GVR& serviceaccounts() {
  static const kube::GVR g{"", "v1", "serviceaccounts", true, "ServiceAccount"};
  return g;
}
const kube::GVR& statefulsets() {
  static const kube::GVR g{"apps", "v1", "statefulsets", true, "StatefulSet"};
  return g;
}
}  // namespace gvr

kube::GVR gvr_of(const json::Value& obj) {
  const json::Value* av = obj.find("apiVersion");
  const json::Value* kv = obj.find("kind");
  std::string api(av != nullptr ? av->string_or("") : "");
  std::string kind(kv != nullptr ? kv->string_or("") : "");
  kube::GVR g;
  size_t slash = api.find('/');
  g.group = slash == std::string::npos ? "" : api.substr(0, slash);
  g.version = slash == std::string::npos ? api : api.substr(slash + 1);
  g.kind = kind;
  static const std::vector<std::pair<std::string, std::string>> plural = {
      {"ResourceQuota", "resourcequotas"},
      {"LimitRange", "limitranges"},
      {"NetworkPolicy", "networkpolicies"},
      {"Service", "services"},
      {"Secret", "secrets"},
      {"ConfigMap", "configmaps"},
      {"ServiceAccount", "serviceaccounts"},
      {"Role", "roles"},
      {"RoleBinding", "rolebindings"},
      {"ClusterRole", "clusterroles"},
      {"ClusterRoleBinding", "clusterrolebindings"},
      {"StatefulSet", "statefulsets"},
      {"Namespace", "namespaces"},
  };
  for (auto& [k, r] : plural)
    if (k == kind) g.resource = r;
  g.namespaced = kind != "Namespace" && kind != "ClusterRole" && kind != "ClusterRoleBinding";
  return g;
}

}  // namespace vc::cli
