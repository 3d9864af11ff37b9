// vcluster-syncer: copies low-level objects from a virtual cluster to its host namespace with the chosen
// plugins, and status back. One libuv loop does all I/O.
#include <malloc.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/values.hpp"
#include "dns/feed.hpp"
#include "dns/service.hpp"
#include "engine/engine.hpp"
#include "engine/plugin_set.hpp"
#include "kube/client.hpp"
#include "kube/kubeconfig.hpp"
#include "kubelet/server.hpp"
#include "naming/naming.hpp"
#include "syncer/flags.hpp"
#include "syncer/leader.hpp"
#include "syncer/metrics.hpp"
#include "syncer/status_server.hpp"
#include "util/log.hpp"

using namespace vc;

namespace {

struct App {
  uv_loop_t* loop = nullptr;
  syncer::Flags flags;
  config::Values values;
  std::unique_ptr<kube::Client> virt, host;
  std::unique_ptr<engine::Engine> eng;
  std::unique_ptr<syncer::StatusServer> status;
  std::unique_ptr<kubelet::Server> kubelet;
  std::unique_ptr<dns::Service> dns;
  // Values documents the flags filled (fill_key), merged after the -f files.
  std::vector<std::pair<std::string, std::string>> filled;
  std::unique_ptr<syncer::LeaderElector> leader;
  uv_signal_t sigterm{}, sigint{};
  // Every 10 s, glibc's free pages go back to the system (malloc_trim). A burst parses and drops many
  // transient trees; without this the process kept their peak as RSS for good.
  uv_timer_t trim{};
  bool shutting_down = false;
  int exit_code = 0;
};

void shutdown(App* app, int code) {
  if (app->shutting_down) return;
  app->shutting_down = true;
  app->exit_code = code;
  log().info("shutting down");
  uv_signal_stop(&app->sigterm);
  uv_signal_stop(&app->sigint);
  auto close_rest = [app] {
    if (app->leader) app->leader->close(nullptr);
    if (app->status) app->status->close(nullptr);
    if (app->kubelet) app->kubelet->close(nullptr);
    if (app->dns) app->dns->close(nullptr);
    if (app->virt) app->virt->close(nullptr);
    if (app->host) app->host->close(nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&app->sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&app->sigint), nullptr);
    uv_timer_stop(&app->trim);
    uv_close(reinterpret_cast<uv_handle_t*>(&app->trim), nullptr);
  };
  if (app->eng) {
    app->eng->stop(close_rest);
  } else {
    close_rest();
  }
}

Error load_config(const std::string& path, const std::string& context, const char* what,
                  kube::RestConfig* cfg) {
  Error e =
      path.empty() ? kube::load_default("", context, cfg) : kube::load_kubeconfig_file(path, context, cfg);
  if (e) e.message = std::string(what) + " cluster: " + e.message;
  return e;
}

bool read_text(const std::string& path, std::string* out) {
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return false;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) out->append(buf, n);
  bool ok = !std::ferror(fp);
  std::fclose(fp);
  return ok;
}

// Sets a plugin's key from a flag (the nodes plugin's kubeletAddress from --kubelet-address, the services
// plugin's deniedCIDRs from --host-service-cidr) unless no loaded plugin declares it or a values file set it
// (an empty string or list counts as unset: the local driver writes every key with its default). `yaml` is
// the document that sets it, merged after the -f files.
Error fill_key(App* app, const std::string& key, const std::string& flag, const std::string& yaml) {
  bool declared = false;
  for (auto& k : app->values.spec()) declared = declared || k.path == key;
  if (!declared) return {};
  auto raw = app->values.get_raw(key);
  if (raw && !raw->empty() && *raw != "\"\"" && *raw != "[]") return {};
  std::vector<std::pair<std::string, std::string>> docs;
  for (auto& file : app->flags.values_files) {
    std::string text;
    if (!read_text(file, &text)) return Error(ErrorKind::kIo, "values file " + file + " cannot be read");
    docs.emplace_back(file, std::move(text));
  }
  // The documents earlier flags filled go again, after the files, so that each fill keeps the others.
  app->filled.emplace_back(flag, yaml);
  for (auto& d : app->filled) docs.push_back(d);
  config::Values v;
  if (Error e = config::Values::load_documents(docs, app->values.spec(), &v)) return e;
  app->values = std::move(v);
  return {};
}

// The kubelet endpoint (--kubelet-address): the virtual API server reaches the virtual nodes' kubelet API
// here, and the nodes plugin advertises the address on the nodes through its key
// sync.nodes.kubeletAddress, which the flag fills unless a values file set it (a cluster driver puts a
// Service in front of the syncer and names that instead).
Error start_kubelet(App* app, const kube::RestConfig& hcfg) {
  auto& f = app->flags;
  kubelet::Options ko;
  ko.address = f.kubelet_address;
  ko.vcluster_name = f.name;
  ko.host_namespace = f.host_namespace;
  ko.host = hcfg;
  struct Input {
    const std::string* path;
    std::string* out;
    const char* flag;
  } inputs[] = {{&f.kubelet_cert, &ko.cert_pem, "--kubelet-cert"},
                {&f.kubelet_key, &ko.key_pem, "--kubelet-key"},
                {&f.kubelet_client_ca, &ko.client_ca_pem, "--kubelet-client-ca"}};
  for (auto& in : inputs)
    if (!read_text(*in.path, in.out))
      return Error(ErrorKind::kIo, std::string(in.flag) + " " + *in.path + " cannot be read (" +
                                       std::strerror(errno) + "); give a readable PEM file");
  if (Error e = kubelet::Server::create(app->loop, std::move(ko), app->host.get(), &app->kubelet)) {
    e.message += "; check --kubelet-cert " + f.kubelet_cert + ", --kubelet-key " + f.kubelet_key +
                 " and --kubelet-client-ca " + f.kubelet_client_ca;
    return e;
  }
  if (Error e = app->kubelet->listen()) return e;
  std::string ip = f.kubelet_address.substr(0, f.kubelet_address.rfind(':'));
  std::string address = ip + ":" + std::to_string(app->kubelet->port());
  log().info("serving the kubelet API of the virtual nodes on {} (relayed to the host API server {})",
             address, hcfg.server);
  // A values file that names another address wins; an empty one does not count as set: the local driver
  // writes the effective values (defaults included), so its values.yaml always carries kubeletAddress: "".
  return fill_key(app, "sync.nodes.kubeletAddress", "--kubelet-address",
                  "sync:\n  nodes:\n    kubeletAddress: \"" + address + "\"\n");
}

}  // namespace

int main(int argc, char** argv) {
  // glibc's allocator, set before anything is allocated. A fixed mmap threshold: list pages and their
  // bodies (megabytes) are mapped on their own and go back to the system when freed; by default glibc
  // raises the threshold to the largest block freed so far, and later pages stay in the heap as free
  // space (a restart with 1,000 pods held 96 MiB of it against 19 MiB in use). Two arenas: the loop's, and
  // one for libuv's pool threads, which only parse list pages.
  // glibc's own settings (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX) win, for experiments.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
  App app;
  Error err = syncer::parse_flags(argc, argv, &app.flags);
  if (err) {
    std::fprintf(stderr, "vcluster-syncer: %s\nRun 'vcluster-syncer --help' for the flags.\n",
                 err.message.c_str());
    return 2;
  }
  if (app.flags.help) {
    std::fputs(syncer::usage().c_str(), stdout);
    return 0;
  }
  if (!setup_logging(app.flags.log_level,
                     app.flags.log_format == "json" ? LogFormat::kJson : LogFormat::kText)) {
    std::fprintf(stderr, "vcluster-syncer: --log-level '%s' is not one of trace, debug, info, warn, error\n",
                 app.flags.log_level.c_str());
    return 2;
  }
  auto& f = app.flags;

  // Plugins and values: every problem here is the user's input, reported in one sentence before any
  // connection is made, so nothing on either cluster changes.
  std::vector<plugin::LoadedPlugin> plugins;
  engine::PluginSetOptions po;
  po.names = f.plugins;
  po.search_dirs = f.plugin_dirs;
  for (auto& d : engine::default_plugin_dirs(argv[0])) po.search_dirs.push_back(d);
  po.values_files = f.values_files;
  if ((err = engine::load_plugin_set(po, &plugins, &app.values))) {
    log().error("{}", err.message);
    return 1;
  }

  kube::RestConfig vcfg, hcfg;
  if ((err = load_config(f.virtual_kubeconfig, f.virtual_context, "virtual", &vcfg)) ||
      (err = load_config(f.host_kubeconfig, f.host_context, "host", &hcfg))) {
    log().error("{}", err.message);
    return 1;
  }
  if (f.host_namespace.empty()) f.host_namespace = hcfg.namespace_.empty() ? "default" : hcfg.namespace_;

  app.loop = uv_default_loop();
  kube::ClientOptions vo, ho;
  vo.side = "virtual";
  ho.side = "host";
  vo.max_connections = ho.max_connections = f.max_connections;
  if ((err = kube::Client::create(app.loop, vcfg, vo, &app.virt)) ||
      (err = kube::Client::create(app.loop, hcfg, ho, &app.host))) {
    log().error("{}", err.message);
    return 1;
  }

  if (!f.kubelet_address.empty()) {
    if ((err = start_kubelet(&app, hcfg))) {
      log().error("{}", err.message);
      return 1;
    }
  }
  if (!f.host_service_cidr.empty() &&
      (err = fill_key(&app, "sync.endpoints.deniedCIDRs", "--host-service-cidr",
                      "sync:\n  endpoints:\n    deniedCIDRs: [\"" + f.host_service_cidr + "\"]\n"))) {
    log().error("{}", err.message);
    return 1;
  }

  engine::Settings s;
  s.vcluster_name = f.name;
  s.host_namespace = f.host_namespace;
  s.cluster_domain = app.values.get_string("syncer.clusterDomain");
  if (s.cluster_domain.empty()) s.cluster_domain = "cluster.local";
  s.max_in_flight = f.max_in_flight;
  s.creation_hold_max = std::chrono::seconds(f.creation_hold);
  app.eng = std::make_unique<engine::Engine>(app.loop, app.virt.get(), app.host.get(), s, &app.values);
  // The first lists are the largest transient memory of a run: give it back once they are applied.
  app.eng->on_ready = [&app] {
    // The DNS zone is complete once the caches are: until then its names are SERVFAIL (not an NXDOMAIN
    // that clients would cache).
    if (app.dns) app.dns->zone()->set_synced(true);
    malloc_trim(0);
  };
  std::string names;
  for (auto& p : plugins) {
    names += (names.empty() ? "" : ", ") + p.name + " " + p.version;
    app.eng->add_plugin(std::move(p));
  }
  log().info("vcluster-syncer for vcluster {} in host namespace {}; virtual {} host {}; plugins: {}", f.name,
             f.host_namespace, vcfg.server, hcfg.server, names);

  // DNS for the virtual cluster (--dns-address), answered from the engine's caches of virtual Services
  // and Endpoints: the services plugin's own informers when it is loaded, else the engine's for DNS alone.
  if (!f.dns_address.empty()) {
    dns::ServiceOptions dopts;
    dopts.address = f.dns_address;
    dopts.domain = s.cluster_domain;
    dopts.upstreams = f.dns_upstreams;
    dopts.resolv_conf = f.dns_resolv_conf;
    if ((err = dns::Service::create(app.loop, dopts, &app.dns)) || (err = app.dns->listen())) {
      log().error("{}", err.message);
      return 1;
    }
    app.dns->zone()->set_synced(false);  // until the engine's caches are synced (on_ready)
    app.eng->watch_cache(VCP_SIDE_VIRTUAL, dns::services_gvr(), dns::service_handlers(app.dns->zone()));
    app.eng->watch_cache(VCP_SIDE_VIRTUAL, dns::endpoints_gvr(), dns::endpoints_handlers(app.dns->zone()));
    log().info("serving DNS for {} on {}:{} (UDP and TCP); other names go to {}", s.cluster_domain,
               f.dns_address.substr(0, f.dns_address.rfind(':')), app.dns->port(), app.dns->upstreams_text());
  }

  app.status = std::make_unique<syncer::StatusServer>(app.loop, [&app](const std::string& path) {
    syncer::StatusReply r;
    if (path == "/healthz" || path == "/livez") {
      r.body = "ok\n";
    } else if (path == "/readyz") {
      bool ready = app.eng && app.eng->ready();
      r.status = ready ? 200 : 503;
      r.body = ready ? "ok\n" : "caches not synced yet\n";
    } else if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body =
          syncer::render_metrics(*app.eng, *app.virt, *app.host, app.leader ? app.leader->leading() : true);
      if (app.dns) r.body += app.dns->render_metrics("vcluster_syncer_dns_");
    } else {
      r.status = 404;
      r.body = "not found; try /healthz, /readyz or /metrics\n";
    }
    return r;
  });
  if ((err = app.status->listen(f.status_address))) {
    log().error("{}", err.message);
    return 1;
  }
  log().info("serving /healthz, /readyz and /metrics on {}:{}",
             f.status_address.substr(0, f.status_address.rfind(':')), app.status->port());

  uv_signal_init(app.loop, &app.sigterm);
  uv_signal_init(app.loop, &app.sigint);
  app.sigterm.data = app.sigint.data = &app;
  uv_signal_start(
      &app.sigterm, [](uv_signal_t* h, int) { shutdown(static_cast<App*>(h->data), 0); }, SIGTERM);
  uv_signal_start(
      &app.sigint, [](uv_signal_t* h, int) { shutdown(static_cast<App*>(h->data), 0); }, SIGINT);

  uv_timer_init(app.loop, &app.trim);
  uv_timer_start(
      &app.trim, [](uv_timer_t*) { malloc_trim(0); }, 10000, 10000);
  uv_unref(reinterpret_cast<uv_handle_t*>(&app.trim));

  auto start_engine = [&app] {
    if (Error e = app.eng->start()) {
      log().error("{}", e.message);
      shutdown(&app, 1);
    }
  };
  if (f.leader_elect) {
    syncer::LeaderOptions lo;
    lo.namespace_ = f.host_namespace;
    lo.name = naming::safe_concat({"vcluster", f.name, "controller"});
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    lo.identity = std::string(host) + "-" + std::to_string(getpid());
    lo.lease_duration = std::chrono::seconds(f.lease_duration);
    lo.renew_deadline = std::chrono::seconds(f.renew_deadline);
    lo.retry_period = std::chrono::seconds(f.retry_period);
    app.leader = std::make_unique<syncer::LeaderElector>(app.loop, app.host.get(), lo);
    app.leader->run(start_engine, [&app] {
      // Like vcluster: a replica that lost the lease exits, and its restart competes again.
      shutdown(&app, 1);
    });
  } else {
    start_engine();
  }

  uv_run(app.loop, UV_RUN_DEFAULT);
  app.eng.reset();
  // Close whatever is left (accepted status connections) so the loop can be closed cleanly.
  uv_walk(
      app.loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(app.loop, UV_RUN_DEFAULT);
  uv_loop_close(app.loop);
  log().info("stopped");
  return app.exit_code;
}
