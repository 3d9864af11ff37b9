// vcluster-nodesim: simulated kubelets for test clusters that have none. See README.md beside this file.
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "flags.hpp"
#include "ipam.hpp"
#include "kube/client.hpp"
#include "kube/kubeconfig.hpp"
#include "simulator.hpp"
#include "status_server.hpp"
#include "util/log.hpp"

using namespace vc;
using namespace vc::nodesim;

namespace {

struct App {
  uv_loop_t loop{};
  std::unique_ptr<kube::Client> client;
  std::unique_ptr<Simulator> sim;
  std::unique_ptr<StatusServer> status;
  uv_signal_t sigterm{}, sigint{};
  bool shutting_down = false;
};

// Resident set size from /proc/self/status (VmRSS, in kB), for the counters page; 0 when unreadable.
uint64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

std::string render_metrics(const App& app) {
  const Simulator& s = *app.sim;
  const Counters& c = s.counters();
  std::string out;
  auto line = [&out](const std::string& name, uint64_t v) { out += name + " " + std::to_string(v) + "\n"; };
  line("nodesim_nodes", static_cast<uint64_t>(s.node_count()));
  line("nodesim_nodes_ready", static_cast<uint64_t>(s.nodes_ready()));
  line("nodesim_node_registrations_total", c.node_registrations);
  line("nodesim_node_status_updates_total", c.node_status_updates);
  line("nodesim_lease_renewals_total", c.lease_renewals);
  line("nodesim_pods_started_total", c.pods_started);
  line("nodesim_pods_deleted_total", c.pods_deleted);
  line("nodesim_request_errors_total", c.request_errors);
  line("nodesim_pod_ips_in_use", s.pod_ips_in_use());
  line("nodesim_pods_cached", s.pods_cached());
  line("nodesim_pods_queued", s.pods_queued());
  line("nodesim_requests_in_flight", s.in_flight());
  line("nodesim_rss_bytes", rss_bytes());
  for (auto& [k, v] : app.client->stats().by_verb_code)
    out += "nodesim_api_requests_total{verb=\"" + k.first + "\",code=\"" + std::to_string(k.second) + "\"} " +
           std::to_string(v) + "\n";
  return out;
}

void shutdown(App* app) {
  if (app->shutting_down) return;
  app->shutting_down = true;
  log().info("shutting down");
  uv_signal_stop(&app->sigterm);
  uv_signal_stop(&app->sigint);
  // Order: the simulator stops issuing work, then the client cancels what is in flight (those callbacks
  // see a closed queue and do nothing), then the remaining handles close.
  app->sim->stop([app] {
    app->client->close([app] {
      auto close_signals = [app] {
        uv_close(reinterpret_cast<uv_handle_t*>(&app->sigterm), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&app->sigint), nullptr);
      };
      if (app->status) {
        app->status->close(close_signals);
      } else {
        close_signals();
      }
    });
  });
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (Error err = parse_flags(argc, argv, &f)) {
    std::fprintf(stderr, "vcluster-nodesim: %s\nRun 'vcluster-nodesim --help' for the flags.\n",
                 err.message.c_str());
    return 2;
  }
  if (f.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (!setup_logging(f.log_level, LogFormat::kText)) {
    std::fprintf(stderr, "vcluster-nodesim: --log-level '%s' is not one of trace, debug, info, warn, error\n",
                 f.log_level.c_str());
    return 2;
  }
  std::vector<Block> blocks;
  if (Error err = plan_blocks(f.pod_cidr, f.nodes, f.max_pods, &blocks)) {
    std::fprintf(stderr, "vcluster-nodesim: %s\n", err.message.c_str());
    return 2;
  }
  // Each node gets a loopback InternalIP (127.0.10.1, 127.0.10.2, ...): plausible, unique, and never
  // reachable from anywhere but this machine, so nothing that tries to reach a "kubelet" leaves it.
  uint32_t first_ip = 0;
  parse_ipv4("127.0.10.1", &first_ip);
  std::string boot_id = std::to_string(getpid()) + "/" +
                        std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < f.nodes; ++i) {
    NodeSpec n;
    n.name = f.name_prefix + std::to_string(i);
    n.internal_ip = format_ipv4(first_ip + static_cast<uint32_t>(i));
    n.pod_cidr = blocks[static_cast<size_t>(i)].cidr();
    n.max_pods = f.max_pods;
    n.boot_id = boot_id;
    nodes.push_back(std::move(n));
  }

  kube::RestConfig cfg;
  Error err = f.kubeconfig.empty() ? kube::load_default("", f.context, &cfg)
                                   : kube::load_kubeconfig_file(f.kubeconfig, f.context, &cfg);
  if (err) {
    log().error("{}", err.message);
    return 1;
  }

  App app;
  uv_loop_init(&app.loop);
  kube::ClientOptions co;
  co.max_connections = f.connections;
  co.user_agent = "vcluster-nodesim/0.1";
  if ((err = kube::Client::create(&app.loop, cfg, co, &app.client))) {
    log().error("{}", err.message);
    uv_loop_close(&app.loop);
    return 1;
  }
  Settings s;
  s.max_in_flight = f.max_in_flight;
  s.lease_interval_seconds = f.lease_interval_seconds;
  s.heartbeat_interval_seconds = f.heartbeat_interval_seconds;
  app.sim = std::make_unique<Simulator>(&app.loop, app.client.get(), std::move(nodes), std::move(blocks), s);

  uv_signal_init(&app.loop, &app.sigterm);
  uv_signal_init(&app.loop, &app.sigint);
  app.sigterm.data = app.sigint.data = &app;
  uv_signal_start(
      &app.sigterm, [](uv_signal_t* h, int) { shutdown(static_cast<App*>(h->data)); }, SIGTERM);
  uv_signal_start(
      &app.sigint, [](uv_signal_t* h, int) { shutdown(static_cast<App*>(h->data)); }, SIGINT);

  int exit_code = 0;
  if (!f.status_address.empty()) {
    app.status = std::make_unique<StatusServer>(&app.loop, [&app](const std::string& path) {
      Reply r;
      if (path == "/healthz") {
        r.body = "ok\n";
      } else if (path == "/readyz") {
        bool ready = app.sim->nodes_ready() == app.sim->node_count();
        r.status = ready ? 200 : 503;
        r.body = ready ? "ok\n" : "nodes not registered yet\n";
      } else if (path == "/metrics") {
        r.body = render_metrics(app);
      } else {
        r.status = 404;
        r.body = "not found; try /healthz, /readyz or /metrics\n";
      }
      return r;
    });
    if ((err = app.status->listen(f.status_address))) {
      log().error("{}", err.message);
      exit_code = 1;
      shutdown(&app);
    } else {
      log().info("serving /healthz, /readyz and /metrics on port {}", app.status->port());
    }
  }

  if (!app.shutting_down) {
    log().info("simulating {} nodes {}0..{}{} on {} (pod CIDR {}, {} requests in flight at most)", f.nodes,
               f.name_prefix, f.name_prefix, f.nodes - 1, cfg.server, f.pod_cidr, f.max_in_flight);
    app.sim->start([&f] {
      // The line tests wait for; stdout is a pipe there, so flush it now.
      std::printf("%d nodes ready\n", f.nodes);
      std::fflush(stdout);
    });
  }

  uv_run(&app.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&app.loop);
  if (rc != 0) {
    uv_walk(
        &app.loop,
        [](uv_handle_t* h, void*) {
          log().error("handle left open at exit: {}", uv_handle_type_name(h->type));
        },
        nullptr);
    log().error("the loop still had handles at exit ({})", uv_strerror(rc));
    return 1;
  }
  log().info("stopped");
  return exit_code;
}
