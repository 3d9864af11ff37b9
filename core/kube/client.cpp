#include "kube/client.hpp"

#include <simdjson.h>

#include <utility>

#include "kube/watch_decoder.hpp"
#include "util/log.hpp"

namespace vc::kube {

std::string GVR::path(std::string_view ns, std::string_view name, std::string_view subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) {
    p += "/namespaces/";
    p += ns;
  }
  p += "/";
  p += resource;
  if (!name.empty()) {
    p += "/";
    p += name;
    if (!subresource.empty()) {
      p += "/";
      p += subresource;
    }
  }
  return p;
}

uint64_t RequestStats::total() const {
  uint64_t n = 0;
  for (auto& [k, v] : by_verb_code) n += v;
  return n;
}

uint64_t RequestStats::writes() const {
  uint64_t n = 0;
  for (auto& [k, v] : by_verb_code)
    if (k.first == "create" || k.first == "update" || k.first == "patch" || k.first == "delete") n += v;
  return n;
}

std::string url_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

void parse_status(std::string_view body, std::string* reason, std::string* message) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (!body.empty() && parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS &&
      doc.is_object()) {
    std::string_view r, m;
    if (doc["reason"].get(r) == simdjson::SUCCESS) *reason = std::string(r);
    if (doc["message"].get(m) == simdjson::SUCCESS) {
      *message = std::string(m);
      return;
    }
  }
  *message = std::string(body.substr(0, 512));
}

Client::Client(uv_loop_t* loop, ClientOptions opts)
    : loop_(loop), opts_(std::move(opts)), alive_(std::make_shared<bool>(true)) {}

Client::~Client() {
  *alive_ = false;
}

Error Client::create(uv_loop_t* loop, const RestConfig& cfg, ClientOptions opts,
                     std::unique_ptr<Client>* out) {
  Error err;
  std::string prefix;
  auto ep = http::parse_url(cfg.server, &prefix, &err);
  if (!ep) return err;
  if (!ep->tls && (!cfg.cert_pem.empty() || !cfg.token.empty()))
    return Error(
        ErrorKind::kInvalidArgument,
        "server " + cfg.server + " is plain http but credentials are configured; use an https:// URL");
  ep->tls_opts.ca_pem = cfg.ca_pem;
  ep->tls_opts.cert_pem = cfg.cert_pem;
  ep->tls_opts.key_pem = cfg.key_pem;
  ep->tls_opts.insecure_skip_verify = cfg.insecure_skip_tls_verify;
  ep->tls_opts.server_name = cfg.tls_server_name;
  std::unique_ptr<Client> c(new Client(loop, std::move(opts)));
  c->server_ = cfg.server;
  c->prefix_ = prefix;
  if (!c->prefix_.empty() && c->prefix_.back() == '/') c->prefix_.pop_back();
  http::ClientOptions ho;
  ho.max_connections = c->opts_.max_connections;
  c->http_ = std::make_unique<http::Client>(loop, std::move(*ep), ho);
  c->http_->set_default_header("User-Agent", c->opts_.user_agent);
  c->http_->set_default_header("Accept", "application/json");
  if (!cfg.token.empty()) {
    c->http_->set_default_header("Authorization", "Bearer " + cfg.token);
  } else if (!cfg.username.empty()) {
    // Basic auth is rare but kubeconfig allows it.
    std::string raw = cfg.username + ":" + cfg.password;
    static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string enc;
    size_t i = 0;
    for (; i + 2 < raw.size(); i += 3) {
      uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8) | uint8_t(raw[i + 2]);
      enc += b64[v >> 18];
      enc += b64[(v >> 12) & 63];
      enc += b64[(v >> 6) & 63];
      enc += b64[v & 63];
    }
    if (i + 1 == raw.size()) {
      uint32_t v = uint8_t(raw[i]) << 16;
      enc += b64[v >> 18];
      enc += b64[(v >> 12) & 63];
      enc += "==";
    } else if (i + 2 == raw.size()) {
      uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8);
      enc += b64[v >> 18];
      enc += b64[(v >> 12) & 63];
      enc += b64[(v >> 6) & 63];
      enc += '=';
    }
    c->http_->set_default_header("Authorization", "Basic " + enc);
  }
  *out = std::move(c);
  return {};
}

void Client::send(std::string verb, http::Request req, ResultCb cb) {
  req.target = prefix_ + req.target;
  req.timeout = opts_.request_timeout;
  std::weak_ptr<bool> alive = alive_;
  http_->send(std::move(req),
              [this, alive, verb = std::move(verb), cb = std::move(cb)](Error err, http::Response resp) {
                Result r;
                if (alive.expired()) {
                  r.err = Error(ErrorKind::kCancelled, "client closed");
                  cb(std::move(r));
                  return;
                }
                if (err) {
                  r.err = std::move(err);
                  stats_.by_verb_code[{verb, 0}]++;
                  if (on_request) on_request(verb, 0);
                  cb(std::move(r));
                  return;
                }
                r.status = resp.status;
                stats_.by_verb_code[{verb, resp.status}]++;
                if (on_request) on_request(verb, resp.status);
                if (resp.status < 200 || resp.status > 299) {
                  std::string message;
                  parse_status(resp.body, &r.reason, &message);
                  if (const std::string* ra = resp.header("Retry-After")) {
                    r.retry_after = std::chrono::seconds(std::strtol(ra->c_str(), nullptr, 10));
                  }
                  r.err = Error(ErrorKind::kHttp, message, resp.status);
                }
                r.body = std::move(resp.body);
                cb(std::move(r));
              });
}

namespace {
void add_query(std::string* target, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  target->push_back(target->find('?') == std::string::npos ? '?' : '&');
  target->append(key);
  target->push_back('=');
  target->append(url_escape(value));
}

http::Request make(std::string method, std::string target, std::string body = {},
                   std::string content_type = "application/json") {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  if (!body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    r.headers.push_back({"Content-Type", std::move(content_type)});
    r.body = std::move(body);
  }
  return r;
}
}  // namespace

void Client::get(const GVR& r, std::string_view ns, std::string_view name, ResultCb cb,
                 std::string_view sub) {
  send("get", make("GET", r.path(ns, name, sub)), std::move(cb));
}

void Client::list(const GVR& r, std::string_view ns, const ListOptions& o, ResultCb cb) {
  std::string t = r.path(ns);
  add_query(&t, "labelSelector", o.label_selector);
  add_query(&t, "fieldSelector", o.field_selector);
  if (o.limit > 0) add_query(&t, "limit", std::to_string(o.limit));
  add_query(&t, "continue", o.continue_token);
  add_query(&t, "resourceVersion", o.resource_version);
  send("list", make("GET", std::move(t)), std::move(cb));
}

void Client::create(const GVR& r, std::string_view ns, std::string body, ResultCb cb, std::string_view name,
                    std::string_view sub) {
  send("create", make("POST", r.path(ns, name, sub), std::move(body)), std::move(cb));
}

void Client::update(const GVR& r, std::string_view ns, std::string_view name, std::string body, ResultCb cb,
                    std::string_view sub) {
  send("update", make("PUT", r.path(ns, name, sub), std::move(body)), std::move(cb));
}

void Client::patch(const GVR& r, std::string_view ns, std::string_view name, PatchType t, std::string body,
                   ResultCb cb, std::string_view sub) {
  const char* ct = t == PatchType::kMerge  ? "application/merge-patch+json"
                   : t == PatchType::kJson ? "application/json-patch+json"
                                           : "application/strategic-merge-patch+json";
  send("patch", make("PATCH", r.path(ns, name, sub), std::move(body), ct), std::move(cb));
}

void Client::remove(const GVR& r, std::string_view ns, std::string_view name, std::string delete_options,
                    ResultCb cb) {
  send("delete", make("DELETE", r.path(ns, name), std::move(delete_options)), std::move(cb));
}

void Client::request(std::string method, std::string target, std::string body, std::string content_type,
                     ResultCb cb) {
  std::string verb = method == "GET"      ? "get"
                     : method == "POST"   ? "create"
                     : method == "PUT"    ? "update"
                     : method == "PATCH"  ? "patch"
                     : method == "DELETE" ? "delete"
                                          : method;
  send(std::move(verb), make(std::move(method), std::move(target), std::move(body), std::move(content_type)),
       std::move(cb));
}

uint64_t Client::watch(const GVR& r, std::string_view ns, const WatchOptions& o, WatchHandlers h) {
  std::string t = r.path(ns);
  add_query(&t, "watch", "true");
  add_query(&t, "resourceVersion", o.resource_version);
  add_query(&t, "labelSelector", o.label_selector);
  add_query(&t, "fieldSelector", o.field_selector);
  if (o.bookmarks) add_query(&t, "allowWatchBookmarks", "true");
  if (o.timeout_seconds > 0) add_query(&t, "timeoutSeconds", std::to_string(o.timeout_seconds));
  http::Request req = make("GET", prefix_ + t);
  req.timeout = opts_.watch_idle_timeout;
  auto dec = std::make_shared<detail::WatchDecoder>();
  dec->h = std::move(h);
  auto status = std::make_shared<int>(0);
  auto err_body = std::make_shared<std::string>();
  std::weak_ptr<bool> alive = alive_;
  http::StreamHandlers sh;
  sh.on_head = [status](const http::Response& head) { *status = head.status; };
  sh.on_data = [dec, status, err_body](std::string_view chunk) {
    if (*status >= 200 && *status < 300) {
      dec->feed(chunk);
    } else if (err_body->size() < 65536) {
      err_body->append(chunk);
    }
  };
  sh.on_done = [this, alive, dec, status, err_body](Error err) {
    if (!alive.expired()) {
      stats_.by_verb_code[{"watch", *status}]++;
      if (on_request) on_request("watch", *status);
    }
    if (!err && (*status < 200 || *status > 299) && *status != 0) {
      std::string reason, message;
      parse_status(*err_body, &reason, &message);
      err = Error(ErrorKind::kHttp, message, *status);
    } else if (!err && dec->stream_error) {
      err = dec->stream_error;
    }
    if (dec->gone && err.code != 410) err = Error(ErrorKind::kHttp, "watch resource version too old", 410);
    if (dec->h.on_done) dec->h.on_done(std::move(err));
  };
  return http_->stream(std::move(req), std::move(sh));
}

void Client::cancel_watch(uint64_t id) {
  http_->cancel(id);
}

void Client::close(std::function<void()> done) {
  http_->close(std::move(done));
}

}  // namespace vc::kube
