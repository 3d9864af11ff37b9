// The Kubernetes REST client: typed paths, verbs, Status errors, paging and watch streams over vc::http.
// Everything runs on the loop thread; every callback runs exactly once, never inside the call that queued it.
// Objects travel as JSON text: callers parse with simdjson (vc::json) only what they need.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.hpp"

namespace simdjson::dom {
class element;
}
#include "kube/kubeconfig.hpp"
#include "util/error.hpp"

namespace vc::kube {

// A resource as the URL names it. `group` is "" for the core group.
struct GVR {
  std::string group, version, resource;
  bool namespaced = true;
  std::string kind;

  // "/api/v1/namespaces/ns/pods/name/status" or "/apis/apps/v1/deployments"; empty parts are left out.
  std::string path(std::string_view ns = {}, std::string_view name = {},
                   std::string_view subresource = {}) const;
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "pods" or "deployments.apps": the name used in logs and metrics.
  std::string id() const { return group.empty() ? resource : resource + "." + group; }
};

// The outcome of one request. For a non-2xx answer, err.kind is kHttp, err.code the status, and
// `reason` the Status reason (NotFound, AlreadyExists, Conflict, Invalid, Gone, TooManyRequests, ...).
struct Result {
  Error err;
  int status = 0;
  std::string body;
  std::string reason;
  std::chrono::seconds retry_after{0};
  bool ok() const { return err.ok(); }
  bool not_found() const { return status == 404; }
  bool conflict() const { return status == 409 && reason == "Conflict"; }
  bool already_exists() const { return status == 409 && reason == "AlreadyExists"; }
  bool gone() const { return status == 410; }
};
using ResultCb = std::function<void(Result)>;

struct ListOptions {
  std::string label_selector, field_selector;
  int64_t limit = 0;  // 0 = no paging
  std::string continue_token;
  std::string resource_version;  // "" = most recent (quorum read)
};

enum class PatchType { kMerge, kJson, kStrategic };

// One watch event. `object` is the minified JSON of the object and `element` the parsed object (both valid
// during the callback only). A watcher that reads `element` sets WatchHandlers::need_text = false and the
// decoder then does not minify (`object` is empty except for ERROR events): one parse per event.
enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };
struct WatchEvent {
  EventType type;
  std::string_view object;
  const simdjson::dom::element* element = nullptr;
};
struct WatchOptions {
  std::string resource_version;
  std::string label_selector, field_selector;
  int timeout_seconds = 0;  // server-side timeout; 0 = server default
  bool bookmarks = true;
};
struct WatchHandlers {
  std::function<void(const WatchEvent&)> on_event;
  std::function<void(Error)> on_done;  // once; err.code 410 when the server said Gone (in-stream or status)
  bool need_text = true;               // false: on_event reads WatchEvent::element, `object` stays empty
};

struct ClientOptions {
  size_t max_connections = 16;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds watch_idle_timeout{0};  // 0: the server's watch timeout ends idle streams
  std::string user_agent = "vcluster-cpp/0.1";
  std::string side = "host";  // label for metrics: "host" or "virtual"
};

// Counters by verb and status code, for the syncer's /metrics and the benchmarks' "requests per object".
struct RequestStats {
  std::map<std::pair<std::string, int>, uint64_t> by_verb_code;  // (verb, code) -> count; code 0 = transport
  uint64_t total() const;
  uint64_t writes() const;  // create, update, patch, delete
};

class Client {
 public:
  // Builds a client from a RestConfig (CA, client cert, token). Errors name the server URL.
  static Error create(uv_loop_t* loop, const RestConfig& cfg, ClientOptions opts,
                      std::unique_ptr<Client>* out);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void get(const GVR& r, std::string_view ns, std::string_view name, ResultCb cb, std::string_view sub = {});
  void list(const GVR& r, std::string_view ns, const ListOptions& o, ResultCb cb);
  void create(const GVR& r, std::string_view ns, std::string body, ResultCb cb, std::string_view name = {},
              std::string_view sub = {});
  void update(const GVR& r, std::string_view ns, std::string_view name, std::string body, ResultCb cb,
              std::string_view sub = {});
  void patch(const GVR& r, std::string_view ns, std::string_view name, PatchType t, std::string body,
             ResultCb cb, std::string_view sub = {});
  // `delete_options` is DeleteOptions JSON ("" for defaults): gracePeriodSeconds, preconditions.uid, ...
  void remove(const GVR& r, std::string_view ns, std::string_view name, std::string delete_options,
              ResultCb cb);
  // A raw request, for discovery and anything not covered above.
  void request(std::string method, std::string target, std::string body, std::string content_type,
               ResultCb cb);

  uint64_t watch(const GVR& r, std::string_view ns, const WatchOptions& o, WatchHandlers h);
  void cancel_watch(uint64_t id);

  // Closes every connection; `done` runs when all handles are closed.
  void close(std::function<void()> done);

  const RequestStats& stats() const { return stats_; }
  const std::string& server() const { return server_; }
  const std::string& side() const { return opts_.side; }
  // Called after every finished request: verb, code (0 = transport error). For metrics.
  std::function<void(std::string_view verb, int code)> on_request;

 private:
  Client(uv_loop_t* loop, ClientOptions opts);
  void send(std::string verb, http::Request req, ResultCb cb);

  uv_loop_t* loop_;
  ClientOptions opts_;
  std::string server_, prefix_;
  std::unique_ptr<http::Client> http_;
  RequestStats stats_;
  std::shared_ptr<bool> alive_;
};

// Parses a Kubernetes Status body into reason + message; falls back to the raw body.
void parse_status(std::string_view body, std::string* reason, std::string* message);

// Builds the query string for list/watch ("?labelSelector=...&limit=...").
std::string url_escape(std::string_view s);

}  // namespace vc::kube
