// The DNS server: UDP and TCP on one address, on the caller's libuv loop.
//
// A query for the cluster domain (or the reverse name of an IP the zone knows) is answered from the Zone,
// authoritatively; anything else goes to the Forwarder (or is REFUSED without one). UDP answers fit 512
// bytes, or what the client's EDNS0 OPT record offers up to 1232; an answer that does not fit has the TC
// bit and the client asks again over TCP, where messages carry a 2-byte length (RFC 1035 §4.2.2), several
// per connection, answered as they complete (RFC 7766 §6.2.1.1), and idle connections are closed.
//
// What is not a query is dropped (fewer than 12 bytes, a response, a 0-length TCP frame); a query that does
// not parse, or asks other than one question, gets FORMERR; other opcodes NOTIMP; zone transfers NOTIMP;
// EDNS versions above 0 BADVERS (RFC 6891 §6.1.3). Nothing blocks and nothing is copied per UDP query
// beyond its answer.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dns/forwarder.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"
#include "util/error.hpp"

namespace vc::dns {

struct ServerOptions {
  std::chrono::milliseconds tcp_idle_timeout{10000};
  size_t max_tcp_connections = 256;     // more are accepted and closed at once
  size_t max_tcp_output = 1024 * 1024;  // answers queued to a client that does not read: then it is closed
};

// The question types and response codes counted one by one; the rest count as "other".
constexpr std::array<uint16_t, 9> kCountedTypes = {kTypeA,   kTypeAAAA, kTypeSRV, kTypePTR, kTypeCNAME,
                                                   kTypeTXT, kTypeSOA,  kTypeNS,  kTypeANY};
constexpr std::array<uint16_t, 7> kCountedRcodes = {kNoError, kFormErr, kServFail, kNXDomain,
                                                    kNotImp,  kRefused, kBadVers};

struct ServerStats {
  // [transport: 0 udp, 1 tcp][index in kCountedTypes, last = other]
  uint64_t queries[2][kCountedTypes.size() + 1] = {};
  uint64_t responses[kCountedRcodes.size() + 1] = {};  // by rcode, last = other
  uint64_t truncated = 0;                              // answers sent with TC
  uint64_t dropped = 0;                                // datagrams and frames that were not queries
  uint64_t forwarded = 0;                              // questions handed to the upstream resolvers
  uint64_t tcp_accepted = 0, tcp_refused = 0;
};

class Server {
 public:
  // `zone` and `forwarder` (may be null: no forwarding) outlive the server.
  Server(uv_loop_t* loop, const Zone* zone, Forwarder* forwarder, ServerOptions opts = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on "IP:PORT" ("[IPv6]:PORT"), UDP and TCP on the same port; port 0 picks a free one. The error
  // names the address and why.
  Error listen(const std::string& address);
  int port() const { return port_; }
  // Closes the sockets and every TCP connection; answers still on their way upstream are not sent.
  void close(std::function<void()> done);

  const ServerStats& stats() const { return stats_; }
  size_t tcp_connections() const { return conns_.size(); }
  // The figures in Prometheus text format, every name starting with `prefix` (e.g. "vcluster_dns_").
  std::string render_metrics(std::string_view prefix) const;

 private:
  struct Conn;
  struct Client {
    bool tcp = false;
    sockaddr_storage addr{};  // UDP
    uint64_t conn = 0;        // TCP
  };
  void process(std::string_view query, const Client& c);
  void respond(Message& r, size_t max_size, const Client& c);
  void send(const Client& c, const std::string& bytes);
  void on_tcp_data(Conn* c, const char* data, size_t n);
  void close_conn(Conn* c);
  void count_query(bool tcp, uint16_t type);
  void handle_closed();

  uv_loop_t* loop_;
  const Zone* zone_;
  Forwarder* forwarder_;
  ServerOptions opts_;
  uv_udp_t* udp_ = nullptr;
  uv_tcp_t* tcp_ = nullptr;
  int port_ = 0;
  // recvmmsg reads up to 16 datagrams per call into 64 KiB slices of one buffer, which is never zeroed:
  // only the pages datagrams land in become resident.
  std::unique_ptr<char[]> recv_buf_;
  std::unordered_map<uint64_t, Conn*> conns_;
  uint64_t next_conn_ = 1;
  std::string out_;  // the answer being written
  ServerStats stats_;
  size_t open_handles_ = 0;
  std::function<void()> closed_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vc::dns
