// vcluster-dns: the cluster DNS server of core/dns on its own, against any kubeconfig, with informers of its
// own for Services and Endpoints. The syncer serves the virtual cluster with the same server from its caches;
// this program serves a cluster that has no DNS of its own (the test bed's host cluster).
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dns/feed.hpp"
#include "dns/service.hpp"
#include "informer/informer.hpp"
#include "kube/client.hpp"
#include "kube/kubeconfig.hpp"
#include "util/log.hpp"

using namespace vc;

namespace {

const char* kUsage = R"(Usage: vcluster-dns --address IP:PORT [flags]

Answers DNS for a Kubernetes cluster (the Kubernetes DNS specification: Services, Endpoints, pods, SRV,
PTR) from Services and Endpoints it watches with the kubeconfig's credentials (list and watch of both,
all namespaces). Names outside the cluster domain are forwarded to the upstream resolvers.

Flags:
  --address IP:PORT      where to listen, UDP and TCP (required)
  --kubeconfig FILE      the cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --context NAME         a context of that kubeconfig (default: its current context)
  --domain NAME          the cluster domain (default cluster.local)
  --upstream IP[:PORT]   where other names go; repeatable; 'none' answers them REFUSED
                         (default: the nameservers of --resolv-conf)
  --resolv-conf PATH     (default /etc/resolv.conf)
  --log-level LEVEL      trace, debug, info, warn, error (default info)
  -h, --help
)";

struct App {
  uv_loop_t* loop = nullptr;
  std::unique_ptr<kube::Client> client;
  std::unique_ptr<dns::Service> dns;
  std::unique_ptr<informer::Informer> services, endpoints;
  uv_signal_t sigterm{}, sigint{};
  bool stopping = false;
};

void shutdown(App* app) {
  if (app->stopping) return;
  app->stopping = true;
  log().info("stopping");
  auto pending = std::make_shared<int>(3);
  auto rest = [app, pending] {
    if (--*pending > 0) return;
    app->dns->close(nullptr);
    app->client->close(nullptr);
  };
  app->services->stop(rest);
  app->endpoints->stop(rest);
  rest();
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&app->sigint), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig, context, level = "info";
  dns::ServiceOptions opts;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string v;
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      std::fprintf(stderr, "vcluster-dns: %s needs a value\nRun 'vcluster-dns --help' for the flags.\n",
                   a.c_str());
      return 2;
    }
    if (a == "--address") {
      opts.address = v;
    } else if (a == "--kubeconfig") {
      kubeconfig = v;
    } else if (a == "--context") {
      context = v;
    } else if (a == "--domain") {
      opts.domain = v;
    } else if (a == "--upstream") {
      opts.upstreams.push_back(v);
    } else if (a == "--resolv-conf") {
      opts.resolv_conf = v;
    } else if (a == "--log-level") {
      level = v;
    } else {
      std::fprintf(stderr, "vcluster-dns: unknown flag %s\nRun 'vcluster-dns --help' for the flags.\n",
                   a.c_str());
      return 2;
    }
  }
  if (opts.address.empty()) {
    std::fprintf(stderr, "vcluster-dns: --address IP:PORT is required (e.g. --address 127.0.0.1:1053)\n");
    return 2;
  }
  if (!setup_logging(level, LogFormat::kText)) {
    std::fprintf(stderr, "vcluster-dns: --log-level '%s' is not one of trace, debug, info, warn, error\n",
                 level.c_str());
    return 2;
  }
  if (opts.upstreams.size() > 1)
    for (const auto& u : opts.upstreams)
      if (u == "none") {
        std::fprintf(stderr, "vcluster-dns: --upstream none cannot be combined with other upstreams\n");
        return 2;
      }

  kube::RestConfig cfg;
  Error err = kubeconfig.empty() ? kube::load_default("", context, &cfg)
                                 : kube::load_kubeconfig_file(kubeconfig, context, &cfg);
  if (err) {
    std::fprintf(stderr, "vcluster-dns: %s\n", err.message.c_str());
    return 1;
  }
  App app;
  app.loop = uv_default_loop();
  kube::ClientOptions co;
  co.side = "cluster";
  co.user_agent = "vcluster-dns/0.1";
  if ((err = kube::Client::create(app.loop, cfg, co, &app.client)) ||
      (err = dns::Service::create(app.loop, opts, &app.dns)) || (err = app.dns->listen())) {
    std::fprintf(stderr, "vcluster-dns: %s\n", err.message.c_str());
    return 1;
  }
  informer::Options io;  // all namespaces
  app.services = std::make_unique<informer::Informer>(app.loop, app.client.get(), dns::services_gvr(), io);
  app.endpoints = std::make_unique<informer::Informer>(app.loop, app.client.get(), dns::endpoints_gvr(), io);
  app.services->add_handlers(dns::service_handlers(app.dns->zone()));
  app.endpoints->add_handlers(dns::endpoints_handlers(app.dns->zone()));
  // Names of the zone are SERVFAIL until both informers have listed (no NXDOMAIN from a half-filled zone).
  app.dns->zone()->set_synced(false);
  auto synced = std::make_shared<int>(2);
  auto one = [synced, &app] {
    if (--*synced == 0) {
      app.dns->zone()->set_synced(true);
      log().info("caches synced: answering from {} Services", app.dns->zone()->services());
    }
  };
  app.services->on_synced(one);
  app.endpoints->on_synced(one);
  app.services->start();
  app.endpoints->start();
  log().info("vcluster-dns for {} on {}:{} (UDP and TCP), cluster {}; other names go to {}", opts.domain,
             opts.address.substr(0, opts.address.rfind(':')), app.dns->port(), cfg.server,
             app.dns->upstreams_text());

  uv_signal_init(app.loop, &app.sigterm);
  uv_signal_init(app.loop, &app.sigint);
  app.sigterm.data = app.sigint.data = &app;
  uv_signal_start(
      &app.sigterm, [](uv_signal_t* h, int) { shutdown(static_cast<App*>(h->data)); }, SIGTERM);
  uv_signal_start(
      &app.sigint, [](uv_signal_t* h, int) { shutdown(static_cast<App*>(h->data)); }, SIGINT);
  uv_run(app.loop, UV_RUN_DEFAULT);
  return 0;
}
