// A zone, its forwarder and its server, set up from the options both programs take (the syncer's --dns-*
// flags and vcluster-dns's): one place for the validation and the choice of upstreams.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/forwarder.hpp"
#include "dns/server.hpp"
#include "dns/zone.hpp"
#include "util/error.hpp"

namespace vc::dns {

struct ServiceOptions {
  std::string address;                           // IP:PORT to listen on
  std::string domain = "cluster.local";          // the cluster domain
  std::vector<std::string> upstreams;            // IP[:PORT] each, or the single word "none"
  std::string resolv_conf = "/etc/resolv.conf";  // read when `upstreams` is empty
};

class Service {
 public:
  // Checks the options (the domain, the address, the upstreams; reads the resolv.conf when no upstream is
  // given) and builds the parts; listens only in listen(). Errors name the option and the fix.
  static Error create(uv_loop_t* loop, ServiceOptions opts, std::unique_ptr<Service>* out);
  Zone* zone() { return &zone_; }
  Error listen();
  int port() const { return server_ ? server_->port() : 0; }
  // "127.0.0.1:53, 10.0.0.2:53", or "none".
  std::string upstreams_text() const;
  std::string render_metrics(std::string_view prefix) const { return server_->render_metrics(prefix); }
  const Server& server() const { return *server_; }
  void close(std::function<void()> done);

 private:
  explicit Service(std::string_view domain) : zone_(domain) {}
  ServiceOptions opts_;
  Zone zone_;
  std::vector<Upstream> upstreams_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<Server> server_;
};

}  // namespace vc::dns
