#include "fake_host.hpp"

#include <openssl/sha.h>

#include <cstdio>

#include "json/json.hpp"

namespace networkpolicy_test {

namespace {
std::string s(vcp_str v) {
  return v.ptr ? std::string(v.ptr, v.len) : std::string();
}
}  // namespace

std::string FakeHost::hex10(const std::string& in) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  char buf[11];
  for (int i = 0; i < 5; i++) std::snprintf(buf + 2 * i, 3, "%02x", md[i]);
  return std::string(buf, 10);
}

std::string FakeHost::safe_concat(const std::vector<std::string>& parts) {
  std::string full;
  for (size_t i = 0; i < parts.size(); i++) full += (i ? "-" : "") + parts[i];
  if (full.size() <= 63) return full;
  std::string cut = full.substr(0, 52) + "-" + hex10(full);
  for (size_t p; (p = cut.find(".-")) != std::string::npos;) cut.replace(p, 2, "-");
  return cut;
}

vcp_str FakeHost::keep(std::string v) {
  arena_.push_back(std::move(v));
  return vcp_str{arena_.back().data(), arena_.back().size()};
}

void FakeHost::put(vcp_side side, uint32_t resource, const std::string& json) {
  vc::json::Meta m;
  vc::json::peek_meta(json, &m);
  cache_[{side, resource, m.namespace_, m.name}] = json;
}

void FakeHost::remove(vcp_side side, uint32_t resource, const std::string& ns, const std::string& name) {
  cache_.erase({side, resource, ns, name});
}

FakeHost::FakeHost(std::string vcluster, std::string host_ns)
    : vcluster_(std::move(vcluster)), host_ns_(std::move(host_ns)) {
  info_.struct_size = sizeof info_;
  info_.vcluster_name = {vcluster_.data(), vcluster_.size()};
  info_.host_namespace = {host_ns_.data(), host_ns_.size()};
  info_.cluster_domain = {domain_.data(), domain_.size()};

  api_.struct_size = sizeof api_;
  api_.abi_major = VCP_ABI_MAJOR;
  api_.abi_minor = VCP_ABI_MINOR;
  api_.log = [](vcp_host_ctx* c, vcp_log_level, vcp_str m) { self(c)->logs.push_back(s(m)); };
  api_.set_error = [](vcp_host_ctx* c, vcp_str m) { self(c)->last_error = s(m); };
  api_.buf_append = [](vcp_buf* b, const char* d, size_t n) {
    reinterpret_cast<std::string*>(b)->append(d, n);
  };
  api_.buf_clear = [](vcp_buf* b) { reinterpret_cast<std::string*>(b)->clear(); };
  api_.cluster_info = [](vcp_host_ctx* c) -> const vcp_cluster_info* { return &self(c)->info_; };
  api_.config_get = [](vcp_host_ctx* c, vcp_str path, vcp_str* out) -> int {
    auto it = self(c)->config.find(s(path));
    if (it == self(c)->config.end()) return 0;
    *out = self(c)->keep(it->second);
    return 1;
  };
  api_.translate_name = [](vcp_host_ctx* c, vcp_name_mapping m, vcp_str ns, vcp_str name) -> vcp_str {
    FakeHost* h = self(c);
    if (m == VCP_NAME_NAMESPACED) return h->keep(safe_concat({s(name), "x", s(ns), "x", h->vcluster_}));
    if (m == VCP_NAME_CLUSTER)
      return h->keep(safe_concat({"vcluster", s(name), "x", h->host_ns_, "x", h->vcluster_}));
    return h->keep(s(name));
  };
  api_.translate_label_key = [](vcp_host_ctx* c, int cluster, vcp_str key) -> vcp_str {
    FakeHost* h = self(c);
    if (cluster) {
      return h->keep(
          safe_concat({"vcluster.loft.sh/label", h->host_ns_, "x", h->vcluster_, "x", hex10(s(key))}));
    }
    return h->keep(safe_concat({"vcluster.loft.sh/label", h->vcluster_, "x", hex10(s(key))}));
  };
  api_.translate_label_key_prefixed = [](vcp_host_ctx* c, vcp_str prefix, vcp_str key) -> vcp_str {
    FakeHost* h = self(c);
    return h->keep(safe_concat({s(prefix), h->vcluster_, "x", hex10(s(key))}));
  };
  api_.cache_get = [](vcp_host_ctx* c, vcp_side side, uint32_t r, vcp_str ns, vcp_str name,
                      vcp_str* out) -> int {
    auto& cache = self(c)->cache_;
    auto it = cache.find({side, r, s(ns), s(name)});
    if (it == cache.end()) return 0;
    *out = {it->second.data(), it->second.size()};
    return 1;
  };
  api_.cache_list = [](vcp_host_ctx* c, vcp_side side, uint32_t r, vcp_str ns, vcp_each_fn each, void* user) {
    for (auto& [k, v] : self(c)->cache_) {
      if (std::get<0>(k) != side || std::get<1>(k) != r) continue;
      if (ns.len > 0 && std::get<2>(k) != s(ns)) continue;
      if (each(user, {v.data(), v.size()})) return;
    }
  };
  api_.add_index = [](vcp_host_ctx* c, vcp_side side, uint32_t r, const char* name, vcp_index_fn fn,
                      void* user) -> int {
    self(c)->indexes.push_back({side, r, name, fn, user});
    return 1;
  };
  api_.cache_by_index = [](vcp_host_ctx* c, vcp_side side, uint32_t r, const char* name, vcp_str value,
                           vcp_each_fn each, void* user) {
    FakeHost* h = self(c);
    for (const Index& ix : h->indexes) {
      if (ix.side != side || ix.resource != r || ix.name != name) continue;
      for (auto& [k, v] : h->cache_) {
        if (std::get<0>(k) != side || std::get<1>(k) != r) continue;
        std::vector<std::string> vals;
        ix.fn(
            ix.user, {v.data(), v.size()},
            [](void* e, vcp_str val) { static_cast<std::vector<std::string>*>(e)->push_back(s(val)); },
            &vals);
        for (const auto& x : vals) {
          if (x == s(value)) {
            if (each(user, {v.data(), v.size()})) return;
            break;
          }
        }
      }
    }
  };
  api_.enqueue = [](vcp_host_ctx* c, uint32_t r, vcp_str ns, vcp_str name, uint64_t) {
    self(c)->enqueued.push_back({r, s(ns), s(name)});
  };
  api_.wait_for = [](vcp_host_ctx* c, vcp_side side, uint32_t r, vcp_str ns, vcp_str name, uint32_t wr,
                     vcp_str wns, vcp_str wname) {
    self(c)->waits.push_back({side, r, s(ns), s(name), wr, s(wns), s(wname)});
  };
  api_.submit = [](vcp_host_ctx* c, const vcp_write* w) -> uint64_t {
    FakeHost* h = self(c);
    uint64_t id = h->next_id_++;
    h->writes.push_back({static_cast<vcp_side>(w->side), w->resource, static_cast<vcp_verb>(w->verb),
                         s(w->namespace_), s(w->name), s(w->subresource), s(w->body), s(w->wake_namespace),
                         s(w->wake_name), id});
    return id;
  };
  api_.take_result = [](vcp_host_ctx* c, uint64_t id, vcp_str* body) -> int {
    FakeHost* h = self(c);
    auto it = h->results_.find(id);
    if (it == h->results_.end()) return 0;
    int status = it->second.first;
    // A null body asks for the status only.
    if (body != nullptr) *body = h->keep(std::move(it->second.second));
    h->results_.erase(it);
    return status;
  };
  api_.watch_host_namespaces = [](vcp_host_ctx* c, uint32_t r, const vcp_str* names, size_t n) -> int {
    FakeHost* h = self(c);
    if (h->refuse_watch) return 0;
    for (size_t i = 0; i < n; i++) h->watched_namespaces[r].push_back(s(names[i]));
    return 1;
  };
  api_.emit_event = [](vcp_host_ctx* c, vcp_side side, uint32_t r, vcp_str ns, vcp_str name, vcp_str type,
                       vcp_str reason, vcp_str message) {
    self(c)->events.push_back({side, r, s(ns), s(name), s(type), s(reason), s(message)});
  };
}

}  // namespace networkpolicy_test
