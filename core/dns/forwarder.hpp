// Forwarding of names outside the cluster to upstream resolvers, with a small cache.
//
// Only the configured upstreams are ever asked. Each question in flight has a UDP socket of its own (a
// port the kernel picks at random, plus a random ID: RFC 5452's defences against forged answers), and an
// answer counts only when it comes from the upstream asked, with that ID and that question. An answer
// the upstream truncated is asked again over TCP. A question is tried `attempts` times, rotating through
// the upstreams, each attempt waiting `attempt_timeout`; when all fail the caller gets nothing (and answers
// SERVFAIL). The same question asked again while one is on its way waits for the same answer.
//
// The cache keeps answers for their smallest TTL (at most max_ttl), negative answers for their SOA's
// negative TTL (RFC 2308), nothing else (SERVFAIL, REFUSED, truncated); the least recently used entry
// goes first when it is full. Cached answers are handed out with their TTLs aged.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/wire.hpp"
#include "util/error.hpp"

namespace vc::dns {

struct Upstream {
  sockaddr_storage addr{};
  std::string text;  // "10.0.0.2:53", for logs
};
// "IP", "IP:PORT" or "[IPv6]:PORT" (port 53 when none). The error names the text and the expected form.
Error parse_upstream(std::string_view text, Upstream* out);
// The nameservers of a resolv.conf (its `nameserver` lines, port 53). Read once at start: not on the loop.
Error read_resolv_conf(const std::string& path, std::vector<Upstream>* out);
// Whether two socket addresses are the same address and port.
bool same_address(const sockaddr_storage& a, const sockaddr_storage& b);

struct ForwarderOptions {
  std::vector<Upstream> upstreams;
  std::chrono::milliseconds attempt_timeout{1500};
  int attempts = 2;  // in total, rotating through the upstreams; the stub resolvers give up after 5 s
  size_t cache_entries = 4096;
  uint32_t max_ttl = 300;
  size_t max_pending = 1024;  // distinct questions in flight; more fail at once
};

struct ForwarderStats {
  uint64_t questions = 0, cache_hits = 0, coalesced = 0, sent = 0, timeouts = 0, failures = 0,
           tcp_retries = 0;
};

class Forwarder {
 public:
  // The upstream's answer (its rcode and sections; the header's ID and the question are the upstream's),
  // or nullptr when every attempt failed.
  using Callback = std::function<void(const Message* answer)>;

  Forwarder(uv_loop_t* loop, ForwarderOptions opts);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Resolves q. From the cache, or when the question cannot be sent at all, `cb` runs before resolve
  // returns; otherwise when the answer comes or the attempts run out.
  void resolve(const Question& q, Callback cb);
  // Gives up every question in flight (their callbacks are not called) and closes the sockets; `done` runs
  // when every handle is closed.
  void close(std::function<void()> done);

  const ForwarderStats& stats() const { return stats_; }
  size_t cache_size() const { return lru_.size(); }
  size_t in_flight() const { return pending_.size(); }
  const ForwarderOptions& options() const { return opts_; }

 private:
  struct Pending;
  struct TcpConn;
  struct CacheEntry {
    std::string key;
    Message msg;
    uint64_t stored_ms = 0;
    uint32_t ttl = 0;
  };
  static std::string cache_key(const Question& q);
  bool from_cache(const std::string& key, const Callback& cb);
  void store(const std::string& key, const Message& m);
  void send_attempt(Pending* p);
  void on_udp_answer(Pending* p, std::string_view data, const sockaddr* from);
  void start_tcp(Pending* p);
  void on_tcp_answer(Pending* p, std::string_view data);
  void attempt_failed(Pending* p);
  void finish(Pending* p, const Message* answer);
  void close_udp(Pending* p);
  void handle_closed();

  uv_loop_t* loop_;
  ForwarderOptions opts_;
  std::unordered_map<std::string, Pending*> pending_;
  std::list<CacheEntry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<CacheEntry>::iterator> cache_;
  std::vector<char> recv_buf_ = std::vector<char>(65536);
  size_t next_upstream_ = 0;
  size_t open_handles_ = 0;
  bool closing_ = false;
  std::function<void()> closed_;
  ForwarderStats stats_;
};

}  // namespace vc::dns
