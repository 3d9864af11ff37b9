// The cluster driver: the vcluster runs inside the host cluster as vcluster does it, one StatefulSet pod
// holding the control plane of the chosen distro and the syncer, with its RBAC, Services and Secrets.
// `--print` prints the objects; otherwise they are applied with the REST client and recorded, so that pause
// (scale to 0), resume and delete work on exactly what was applied.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "cli/commands.hpp"
#include "cli/manifests.hpp"
#include "cli/pki.hpp"
#include "cli/yaml_out.hpp"
#include "json/json.hpp"

namespace vc::cli {

namespace {

const char* kPausedReplicas = "vcluster.loft.sh/paused-replicas";

int report(const Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return e.kind == ErrorKind::kInvalidArgument ? 2 : 1;
}

std::string name_of(const json::Value& o) {
  const json::Value* n = o.at({"metadata", "name"});
  return n != nullptr ? std::string(n->string_or("")) : std::string();
}

std::string namespace_of(const json::Value& o) {
  const json::Value* n = o.at({"metadata", "namespace"});
  return n != nullptr ? std::string(n->string_or("")) : std::string();
}

// Reads the certificates of an earlier create from Secret NAME-certs, so an upgrade keeps every kubeconfig
// and token valid. False when the Secret is missing or incomplete.
bool existing_pki(KubeSync& host, const std::string& ns, const std::string& name, Pki* p) {
  kube::Result r = host.get(gvr::secrets(), ns, name + "-certs");
  if (!r.ok()) return false;
  auto v = json::parse(r.body);
  const json::Value* data = v ? v->find("data") : nullptr;
  if (data == nullptr) return false;
  std::map<std::string, std::string> files;
  for (auto& [k, val] : data->members()) {
    std::string dec;
    if (!unbase64(std::string(val.string_or("")), &dec)) return false;
    files[k] = dec;
  }
  auto get = [&](const char* k, std::string* dst) {
    auto it = files.find(k);
    if (it == files.end()) return false;
    *dst = it->second;
    return true;
  };
  // The admin and controller-manager certificates live inside their kubeconfigs; the Secret vc-NAME keeps
  // the admin's as separate keys.
  kube::Result kr = host.get(gvr::secrets(), ns, "vc-" + name);
  auto kv = kr.ok() ? json::parse(kr.body) : std::nullopt;
  const json::Value* kd = kv ? kv->find("data") : nullptr;
  auto get_kc = [&](const char* k, std::string* dst) {
    const json::Value* f = kd != nullptr ? kd->find(k) : nullptr;
    return f != nullptr && unbase64(std::string(f->string_or("")), dst);
  };
  kube::RestConfig cm;
  bool ok = get("ca.crt", &p->ca.cert_pem) && get("ca.key", &p->ca.key_pem) &&
            get("front-proxy-ca.crt", &p->front_proxy_ca.cert_pem) &&
            get("front-proxy-ca.key", &p->front_proxy_ca.key_pem) &&
            get("front-proxy-client.crt", &p->front_proxy_client.cert_pem) &&
            get("front-proxy-client.key", &p->front_proxy_client.key_pem) &&
            get("apiserver.crt", &p->apiserver.cert_pem) && get("apiserver.key", &p->apiserver.key_pem) &&
            get("sa.key", &p->sa_key_pem) && get("sa.pub", &p->sa_pub_pem) &&
            get_kc("client-certificate", &p->admin.cert_pem) && get_kc("client-key", &p->admin.key_pem) &&
            files.count("controller-manager.kubeconfig") &&
            kube::load_kubeconfig_yaml(files["controller-manager.kubeconfig"], "", "", &cm).ok();
  if (!ok) return false;
  p->controller_manager.cert_pem = cm.cert_pem;
  p->controller_manager.key_pem = cm.key_pem;
  // A vcluster created before the CLI made a scheduler certificate has none; the caller decides.
  kube::RestConfig sched;
  if (files.count("scheduler.kubeconfig") &&
      kube::load_kubeconfig_yaml(files["scheduler.kubeconfig"], "", "", &sched).ok()) {
    p->scheduler.cert_pem = sched.cert_pem;
    p->scheduler.key_pem = sched.key_pem;
  }
  return true;
}

PkiOptions pki_options(const std::string& name, const std::string& ns, const std::string& cidr,
                       const std::string& service_ip) {
  PkiOptions po;
  po.cluster_name = "vcluster-" + name;
  po.dns_names = {name,
                  name + "." + ns,
                  name + "." + ns + ".svc",
                  name + "." + ns + ".svc.cluster.local",
                  "localhost",
                  "kubernetes",
                  "kubernetes.default",
                  "kubernetes.default.svc",
                  "kubernetes.default.svc.cluster.local"};
  po.ips = {"127.0.0.1"};
  std::string first = first_service_ip(cidr);
  if (!first.empty()) po.ips.push_back(first);
  if (!service_ip.empty() && service_ip != "None") po.ips.push_back(service_ip);
  return po;
}

// Create, or (upgrade) replace keeping the resourceVersion. The certificates and kubeconfig Secrets are
// never replaced: they were made once and every credential depends on them.
Error apply_object(KubeSync& host, const json::Value& obj, bool upgrade, const std::string& name) {
  kube::GVR g = gvr_of(obj);
  std::string ns = namespace_of(obj), n = name_of(obj);
  kube::Result r = host.create(g, ns, json::dump(obj));
  if (r.ok()) return {};
  if (!r.already_exists())
    return Error(ErrorKind::kHttp, "cannot create " + g.kind + " " + n + (ns.empty() ? "" : " in " + ns) +
                                       ": " + KubeSync::describe(r));
  if (!upgrade)
    return Error(ErrorKind::kInvalidArgument,
                 g.kind + " " + n + (ns.empty() ? "" : " in " + ns) +
                     " already exists; use --upgrade to update a vcluster, or delete it first");
  if (g.kind == "Namespace" || (g.kind == "Secret" && (n == name + "-certs" || n == "vc-" + name))) return {};
  kube::Result cur = host.get(g, ns, n);
  if (!cur.ok())
    return Error(ErrorKind::kHttp, "cannot read " + g.kind + " " + n + ": " + KubeSync::describe(cur));
  auto cv = json::parse(cur.body);
  json::Value next = obj;
  const json::Value* rv = cv ? cv->at({"metadata", "resourceVersion"}) : nullptr;
  if (rv != nullptr) next["metadata"]["resourceVersion"] = std::string(rv->string_or(""));
  if (g.kind == "Service" && cv) {
    // clusterIP is immutable and assigned by the host.
    if (const json::Value* ip = cv->at({"spec", "clusterIP"})) {
      json::Value copy = *ip;
      next["spec"]["clusterIP"] = std::move(copy);
    }
  }
  kube::Result u = host.update(g, ns, n, json::dump(next));
  if (!u.ok())
    return Error(ErrorKind::kHttp, "cannot update " + g.kind + " " + n + ": " + KubeSync::describe(u));
  return {};
}

}  // namespace

int create_cluster(const Options& o, const std::string& ns, const State* existing) {
  std::vector<plugin::LoadedPlugin> plugins;
  config::Values values;
  std::vector<std::string> names = o.plugins;
  if (names.empty() && existing != nullptr) names = existing->plugins;
  if (Error e = load_plugins_and_values(names, o.plugin_dirs, o.values_files, o.isolate, &plugins, &values))
    return report(e);

  ManifestOptions mo;
  mo.name = o.name;
  mo.namespace_ = ns;
  mo.distro = existing != nullptr && !existing->distro.empty() ? existing->distro : o.distro;
  // The image carries its plugins in its default directory, so the syncer container gets names.
  for (auto& p : plugins) {
    mo.plugins.push_back(p.name);
    for (auto& r : p.resources) mo.resources.push_back(r);
  }
  mo.values_yaml = values.to_yaml();
  mo.isolate = o.isolate || (existing != nullptr && existing->isolate);
  mo.expose = o.expose;
  mo.scheduler = values.get_bool("sync.nodes.enableScheduler");

  if (o.print) {
    // Printing needs no host. The Service range is the host's when it answers, else --service-cidr or the
    // Kubernetes default; the serving certificate cannot name the Service's future ClusterIP.
    std::string cidr = o.service_cidr, how = "--service-cidr";
    if (cidr.empty()) {
      Host h;
      std::unique_ptr<KubeSync> host;
      if (resolve_host(o, &h).ok() && connect_host(h, &host).ok() &&
          host_service_cidr(*host, &cidr, &how).ok()) {
      } else {
        cidr = "10.96.0.0/12";
        how = "the Kubernetes default; the host did not answer";
      }
    }
    say("# Service range " + cidr + " (" + how + ")");
    mo.service_cidr = cidr;
    Pki pki;
    if (Error e = make_pki(pki_options(o.name, ns, cidr, ""), &pki)) return report(e);
    mo.pki = &pki;
    auto objs = render_cluster_manifests(mo);
    if (o.output == "json") {
      json::Value list = json::Value::object();
      list["apiVersion"] = "v1";
      list["kind"] = "List";
      list["items"] = json::Value::array();
      for (auto& obj : objs) list["items"].push_back(obj);
      std::printf("%s\n", json::dump(list).c_str());
    } else {
      std::fputs(to_yaml_documents(objs).c_str(), stdout);
    }
    return 0;
  }

  Host h;
  if (Error e = resolve_host(o, &h)) return report(e);
  if (!h.note.empty()) say(h.note);
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return report(e);
  if (existing == nullptr) {
    kube::Result r = host->get(gvr::services(), ns, o.name);
    if (r.ok())
      return report(Error(ErrorKind::kInvalidArgument,
                          "the host already has a Service " + o.name + " in namespace " + ns +
                              " (another vcluster, or someone else's); choose another name or namespace"));
  }
  std::string cidr = o.service_cidr, how = "--service-cidr";
  if (cidr.empty() && existing != nullptr) cidr = existing->service_cidr, how = "as created";
  if (cidr.empty())
    if (Error e = host_service_cidr(*host, &cidr, &how)) return report(e);
  mo.service_cidr = cidr;

  std::string dir = state_dir(ns, o.name);
  State s;
  if (existing != nullptr) {
    s = *existing;
  } else {
    s.name = o.name;
    s.namespace_ = ns;
    s.driver = "cluster";
    s.distro = mo.distro;
    s.created = now_rfc3339();
    s.host_kubeconfig = h.kubeconfig_file;
    s.host_context = h.context;
    s.host_server = h.cfg.server;
  }
  s.plugins = mo.plugins;
  s.values_files = o.values_files;
  s.isolate = mo.isolate;
  s.owned = owned_resources(plugins);
  s.service_cidr = cidr;

  bool ns_created = false;
  if (Error e = ensure_namespace(*host, ns, o.name, &ns_created)) return report(e);
  if (existing == nullptr) s.namespace_created = ns_created;
  if (Error e = save_state(dir, s)) return report(e);
  if (Error e = save_host_kubeconfig(h, dir)) return report(e);

  // The Service first: its ClusterIP goes into the serving certificate, because pods reach the virtual API
  // server through it by IP (KUBERNETES_SERVICE_HOST).
  mo.include_namespace = false;
  Pki pki;
  bool reuse = existing != nullptr && existing_pki(*host, ns, o.name, &pki);
  if (reuse && mo.scheduler && mo.distro == "k8s" && pki.scheduler.cert_pem.empty())
    return report(Error(ErrorKind::kInvalidArgument,
                        "Secret " + o.name + "-certs in " + ns +
                            " has no scheduler.kubeconfig (the vcluster predates the virtual scheduler), so "
                            "sync.nodes.enableScheduler cannot be turned on by --upgrade; delete and create "
                            "the vcluster with the new values"));
  Pki placeholder;
  if (!reuse)
    if (Error e = make_pki(pki_options(o.name, ns, cidr, ""), &placeholder)) return report(e);
  mo.pki = reuse ? &pki : &placeholder;
  std::string service_ip;
  for (auto& obj : render_cluster_manifests(mo)) {
    if (gvr_of(obj).kind != "Service" || name_of(obj) != o.name) continue;
    if (Error e = apply_object(*host, obj, existing != nullptr, o.name)) return report(e);
    kube::Result r = host->get(gvr::services(), ns, o.name);
    auto v = r.ok() ? json::parse(r.body) : std::nullopt;
    const json::Value* ip = v ? v->at({"spec", "clusterIP"}) : nullptr;
    service_ip = ip != nullptr ? std::string(ip->string_or("")) : "";
  }
  if (!reuse) {
    if (Error e = make_pki(pki_options(o.name, ns, cidr, service_ip), &pki)) return report(e);
  }
  mo.pki = &pki;
  auto objs = render_cluster_manifests(mo);
  s.applied.clear();
  if (ns_created || s.namespace_created) s.applied.push_back({"v1", "Namespace", "", ns});
  for (auto& obj : objs) {
    if (Error e = apply_object(
            *host, obj, existing != nullptr || (gvr_of(obj).kind == "Service" && name_of(obj) == o.name),
            o.name))
      return report(e);
    const json::Value* av = obj.find("apiVersion");
    s.applied.push_back({std::string(av->string_or("")), gvr_of(obj).kind, namespace_of(obj), name_of(obj)});
    if (Error e = save_state(dir, s)) return report(e);
  }
  say("vcluster " + o.name + ": applied " + std::to_string(objs.size()) + " objects to namespace " + ns +
      " (distro " + mo.distro + ", Service IP " + service_ip + "); the StatefulSet " + o.name +
      " runs once its images can be pulled (" + std::string(kSyncerImage) + " is built from cli/Dockerfile)");
  say("reach it from inside the host cluster with the kubeconfig in Secret vc-" + o.name +
      ", or: vcluster connect " + o.name + " -n " + ns + " --server https://<address>:443");
  return 0;
}

Error pause_cluster(const Options& o, State* s, const std::string& dir) {
  Host h;
  if (Error e = state_host(o, *s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return e;
  kube::Result r = host->get(gvr::statefulsets(), s->namespace_, s->name);
  if (!r.ok())
    return Error(ErrorKind::kHttp, "cannot read StatefulSet " + s->name + ": " + KubeSync::describe(r));
  auto v = json::parse(r.body);
  const json::Value* rep = v ? v->at({"spec", "replicas"}) : nullptr;
  int64_t replicas = rep != nullptr ? rep->as_int64(1) : 1;
  // vcluster remembers the replica count in an annotation, so resume restores it whoever runs it.
  json::Value patch = json::Value::object();
  patch["metadata"]["annotations"][kPausedReplicas] = std::to_string(replicas);
  patch["spec"]["replicas"] = 0;
  kube::Result p = host->patch(gvr::statefulsets(), s->namespace_, s->name, json::dump(patch));
  if (!p.ok())
    return Error(ErrorKind::kHttp, "cannot scale StatefulSet " + s->name + " to 0: " + KubeSync::describe(p));
  std::vector<std::string> pods;
  Error e = delete_host_pods(*host, *s, &pods);
  s->paused = true;
  s->paused_at = now_rfc3339();
  s->paused_pods = pods;
  if (Error se = save_state(dir, *s)) return se;
  if (e) return e;
  say("vcluster " + s->name + " paused: StatefulSet scaled from " + std::to_string(replicas) + " to 0, " +
      std::to_string(pods.size()) + " host pods deleted");
  return {};
}

Error resume_cluster(const Options& o, State* s, const std::string& dir) {
  Host h;
  if (Error e = state_host(o, *s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return e;
  kube::Result r = host->get(gvr::statefulsets(), s->namespace_, s->name);
  if (!r.ok())
    return Error(ErrorKind::kHttp, "cannot read StatefulSet " + s->name + ": " + KubeSync::describe(r));
  auto v = json::parse(r.body);
  const json::Value* ann = v ? v->at({"metadata", "annotations", kPausedReplicas}) : nullptr;
  if (ann == nullptr && !s->paused) {
    say("vcluster " + s->name + " is not paused");
    return {};
  }
  int64_t replicas = ann != nullptr ? std::atoll(std::string(ann->string_or("1")).c_str()) : 1;
  if (replicas <= 0) replicas = 1;
  json::Value patch = json::Value::object();
  patch["metadata"]["annotations"][kPausedReplicas] = nullptr;
  patch["spec"]["replicas"] = replicas;
  kube::Result p = host->patch(gvr::statefulsets(), s->namespace_, s->name, json::dump(patch));
  if (!p.ok())
    return Error(ErrorKind::kHttp, "cannot scale StatefulSet " + s->name + ": " + KubeSync::describe(p));
  s->paused = false;
  s->paused_at.clear();
  s->paused_pods.clear();
  if (Error e = save_state(dir, *s)) return e;
  say("vcluster " + s->name + " resumed: StatefulSet scaled to " + std::to_string(replicas) +
      "; its syncer recreates the host pods once it runs");
  return {};
}

Error delete_cluster(const Options& o, const State& s, const std::string& dir) {
  Host h;
  if (Error e = state_host(o, s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host))
    return Error(e.kind, e.message + "; nothing was deleted (to forget vcluster " + s.name +
                             " without cleaning its host, remove " + dir + ")");
  // The StatefulSet's claims outlive it (Kubernetes keeps volumeClaimTemplates' PVCs), so they go explicitly.
  std::vector<AppliedObject> objs(s.applied.rbegin(), s.applied.rend());
  bool ns_deleted = false;
  for (auto& a : objs) {
    if (a.kind == "Namespace") continue;
    json::Value probe = json::Value::object();
    probe["apiVersion"] = a.api_version;
    probe["kind"] = a.kind;
    kube::GVR g = gvr_of(probe);
    kube::Result r = host->remove(g, a.namespace_, a.name, R"({"propagationPolicy":"Background"})");
    if (!r.ok() && !r.not_found())
      return Error(ErrorKind::kHttp, "cannot delete " + a.kind + " " + a.name + ": " + KubeSync::describe(r));
  }
  host->remove(gvr::pvcs(), s.namespace_, "data-" + s.name + "-0");
  std::string counts;
  if (Error e = delete_owned_objects(*host, s, &counts)) return e;
  if (s.namespace_created) {
    kube::Result r = host->remove(gvr::namespaces(), "", s.namespace_);
    if (!r.ok() && !r.not_found())
      return Error(ErrorKind::kHttp,
                   "cannot delete namespace " + s.namespace_ + ": " + KubeSync::describe(r));
    ns_deleted = true;
  }
  forget_context(s);
  remove_tree(dir);
  rmdir((state_root() + "/" + s.namespace_).c_str());  // only when empty
  say("vcluster " + s.name + " deleted: " + std::to_string(s.applied.size()) + " applied objects and " +
      counts + " removed" + (ns_deleted ? ", namespace " + s.namespace_ + " deleted" : "") + ", state " +
      dir + " removed");
  return {};
}

std::string status_cluster(const Options& o, const State& s, const std::string& dir) {
  if (s.paused) return "Paused";
  Host h;
  std::unique_ptr<KubeSync> host;
  if (!state_host(o, s, dir, &h).ok() || !connect_host(h, &host).ok()) return "Unknown";
  kube::Result r = host->get(gvr::statefulsets(), s.namespace_, s.name);
  if (!r.ok()) return "Error";
  auto v = json::parse(r.body);
  const json::Value* ready = v ? v->at({"status", "readyReplicas"}) : nullptr;
  if (ready != nullptr && ready->as_int64() >= 1) return "Running";
  return "Pending";
}

}  // namespace vc::cli
