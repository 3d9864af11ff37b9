#include "dns/service.hpp"

#include <netinet/in.h>

namespace vc::dns {
namespace {

// Whether an upstream would be this server itself (a resolv.conf naming the address the server is given):
// forwarding there would loop.
bool is_self(const Upstream& u, const std::string& listen) {
  Upstream l;
  if (parse_upstream(listen, &l)) return false;
  if (same_address(u.addr, l.addr)) return true;
  if (l.addr.ss_family != AF_INET || u.addr.ss_family != AF_INET) return false;
  const auto& la = reinterpret_cast<const sockaddr_in&>(l.addr);
  const auto& ua = reinterpret_cast<const sockaddr_in&>(u.addr);
  return la.sin_addr.s_addr == htonl(INADDR_ANY) && la.sin_port == ua.sin_port;
}

}  // namespace

Error Service::create(uv_loop_t* loop, ServiceOptions opts, std::unique_ptr<Service>* out) {
  bool ok = false;
  std::unique_ptr<Service> s(new Service(opts.domain));
  { Zone check(opts.domain, &ok); }
  if (!ok)
    return Error(ErrorKind::kInvalidArgument,
                 "cluster domain '" + opts.domain +
                     "' is not a DNS name (set syncer.clusterDomain, e.g. cluster.local)");
  std::vector<Upstream> candidates;
  if (opts.upstreams.size() == 1 && opts.upstreams[0] == "none") {
    // No forwarding: names outside the cluster are REFUSED.
  } else if (!opts.upstreams.empty()) {
    for (const auto& t : opts.upstreams) {
      Upstream u;
      if (Error e = parse_upstream(t, &u)) return e;
      candidates.push_back(u);
    }
  } else if (Error e = read_resolv_conf(opts.resolv_conf, &candidates)) {
    return e;
  }
  for (auto& u : candidates)
    if (!is_self(u, opts.address)) s->upstreams_.push_back(u);
  if (!s->upstreams_.empty()) {
    ForwarderOptions fo;
    fo.upstreams = s->upstreams_;
    s->forwarder_ = std::make_unique<Forwarder>(loop, fo);
  }
  s->server_ = std::make_unique<Server>(loop, &s->zone_, s->forwarder_.get());
  s->opts_ = std::move(opts);
  *out = std::move(s);
  return {};
}

Error Service::listen() {
  return server_->listen(opts_.address);
}

std::string Service::upstreams_text() const {
  std::string t;
  for (const auto& u : upstreams_) t += (t.empty() ? "" : ", ") + u.text;
  return t.empty() ? "none" : t;
}

void Service::close(std::function<void()> done) {
  auto pending = std::make_shared<int>(forwarder_ ? 2 : 1);
  auto one = [pending, done = std::move(done)] {
    if (--*pending == 0 && done) done();
  };
  server_->close(one);
  if (forwarder_) forwarder_->close(one);
}

}  // namespace vc::dns
