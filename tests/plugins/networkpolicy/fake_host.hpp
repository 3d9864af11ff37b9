// An in-memory host services table that emulates the engine for the networkpolicy plugin tests: caches are
// maps of JSON text, writes, waits, events and log lines are recorded, and names and label keys (with the ABI
// 1.1 prefixed ones) are translated with vcluster's safe_concat over OpenSSL's SHA-256. It is test
// scaffolding (adapted from the storage plugin's); the engine has its own, separately tested implementation.
#pragma once

#include <vcp/plugin.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace networkpolicy_test {

struct Write {
  vcp_side side;
  uint32_t resource;
  vcp_verb verb;
  std::string ns, name, subresource, body;
  std::string wake_ns, wake_name;
  uint64_t id;
};

struct Wait {
  vcp_side side;
  uint32_t resource;
  std::string ns, name;
  uint32_t waiter_resource;
  std::string waiter_ns, waiter_name;
};

struct Enqueued {
  uint32_t resource;
  std::string ns, name;
};

struct Event {
  vcp_side side;
  uint32_t resource;
  std::string ns, name, type, reason, message;
};

struct Index {
  vcp_side side;
  uint32_t resource;
  std::string name;
  vcp_index_fn fn;
  void* user;
};

class FakeHost {
 public:
  FakeHost(std::string vcluster, std::string host_ns);

  const vcp_host_api* api() const { return &api_; }
  // Makes the table look like an ABI 1.0 engine's: it ends before translate_label_key_prefixed.
  void as_abi_1_0() {
    api_.abi_minor = 0;
    api_.struct_size = offsetof(vcp_host_api, translate_label_key_prefixed);
  }
  vcp_host_ctx* ctx() { return reinterpret_cast<vcp_host_ctx*>(this); }

  // Cache contents, keyed by (side, resource, namespace, name).
  void put(vcp_side side, uint32_t resource, const std::string& json);
  void remove(vcp_side side, uint32_t resource, const std::string& ns, const std::string& name);

  // Finishes a submitted write with an HTTP status and body, as the engine would.
  void finish(uint64_t id, int status, std::string body) { results_[id] = {status, std::move(body)}; }

  // Ends a hook: the engine forgets the views it handed out.
  void end_hook() { arena_.clear(); }

  std::map<std::string, std::string> config;
  std::vector<Write> writes;
  std::vector<Wait> waits;
  std::vector<Enqueued> enqueued;
  std::vector<Index> indexes;
  std::vector<Event> events;
  std::vector<std::string> logs;
  std::string last_error;
  // ABI 1.4 watch_host_namespaces: the namespaces named, by resource; `refuse_watch` makes it answer 0.
  std::map<uint32_t, std::vector<std::string>> watched_namespaces;
  bool refuse_watch = false;

  // safe_concat(parts joined by "-"), as vcluster's SafeConcatName.
  static std::string safe_concat(const std::vector<std::string>& parts);
  static std::string hex10(const std::string& s);

 private:
  static FakeHost* self(vcp_host_ctx* c) { return reinterpret_cast<FakeHost*>(c); }
  vcp_str keep(std::string s);

  vcp_host_api api_{};
  vcp_cluster_info info_{};
  std::string vcluster_, host_ns_, domain_ = "cluster.local";
  std::map<std::tuple<int, uint32_t, std::string, std::string>, std::string> cache_;
  std::map<uint64_t, std::pair<int, std::string>> results_;
  std::deque<std::string> arena_;
  uint64_t next_id_ = 1;
};

}  // namespace networkpolicy_test
