#include "cli/commands.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/pki.hpp"
#include "cli/proc.hpp"
#include "config/keys.hpp"
#include "engine/plugin_set.hpp"
#include "json/json.hpp"
#include "naming/naming.hpp"

namespace vc::cli {

namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The kubeconfig of the virtual cluster: the control plane's admin kubeconfig (local driver) or the
// vc-NAME Secret in the host namespace (cluster driver).
Error virtual_config(const Options& o, const State& s, const std::string& dir, kube::RestConfig* cfg) {
  if (s.driver == "local") {
    std::string kc = dir + "/cp/kubeconfig";
    if (Error e = kube::load_kubeconfig_file(kc, "", cfg)) {
      e.message = "vcluster " + s.name + ": " + e.message + "; is it deleted? see 'vcluster list'";
      return e;
    }
    return {};
  }
  Host h;
  if (Error e = state_host(o, s, dir, &h)) return e;
  std::unique_ptr<KubeSync> host;
  if (Error e = connect_host(h, &host)) return e;
  kube::Result r = host->get(gvr::secrets(), s.namespace_, "vc-" + s.name);
  if (!r.ok())
    return Error(ErrorKind::kInvalidArgument, "vcluster " + s.name + ": the kubeconfig Secret vc-" + s.name +
                                                  " in namespace " + s.namespace_ + " cannot be read (" +
                                                  KubeSync::describe(r) +
                                                  "); is the vcluster created there?");
  auto v = json::parse(r.body);
  const json::Value* data = v ? v->at({"data", "config"}) : nullptr;
  std::string yaml;
  if (data == nullptr || !unbase64(std::string(data->string_or("")), &yaml))
    return Error(ErrorKind::kParse,
                 "vcluster " + s.name + ": Secret vc-" + s.name + " has no data.config kubeconfig");
  return kube::load_kubeconfig_yaml(yaml, "", "", cfg);
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); i++) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

int fail(const Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return e.kind == ErrorKind::kInvalidArgument ? 2 : 1;
}

// ---- connect / disconnect ------------------------------------------------------------------------

int cmd_connect(const Options& o) {
  State s;
  std::string dir;
  Error e = find_state(o.name, o.namespace_, &s, &dir);
  bool have_state = e.ok();
  if (e && e.code != 404) return fail(e);
  if (!have_state) {
    // A vcluster created from another machine with --driver cluster: its kubeconfig Secret is on the host.
    Host h;
    if (Error he = resolve_host(o, &h)) return fail(he);
    s.name = o.name;
    s.namespace_ = o.namespace_.empty() ? "vcluster-" + o.name : o.namespace_;
    s.driver = "cluster";
    s.host_context = h.context;
    Options with_host = o;
    with_host.context = h.context;
    if (Error ce = connect_vcluster(with_host, &s, ""))
      return fail(Error(
          ErrorKind::kInvalidArgument,
          "no vcluster " + o.name + " was created from this machine, and the host has none: " + ce.message));
    return 0;
  }
  if (Error ce = connect_vcluster(o, &s, dir)) return fail(ce);
  if (have_state && !o.print)
    if (Error se = save_state(dir, s)) return fail(se);
  return 0;
}

int cmd_disconnect(const Options& o) {
  auto files = kubeconfig_files(o);
  std::string file;
  std::string cur = current_context(files, &file);
  if (cur.empty())
    return fail(
        Error(ErrorKind::kInvalidArgument, "the kubeconfig sets no current context; nothing to disconnect"));
  std::string dir;
  State found;
  bool have = false;
  for (auto& s : list_states(nullptr))
    if (s.context_name == cur) {
      found = s;
      have = true;
      dir = state_dir(s.namespace_, s.name);
      break;
    }
  std::vector<std::string> targets;
  if (have) {
    if (!found.previous_context.empty() && found.previous_context != cur)
      targets.push_back(found.previous_context);
    targets.push_back(found.host_context);
  } else if (cur.rfind("vcluster_", 0) == 0) {
    // vcluster_NAME_NS_HOSTCONTEXT: names and namespaces hold no '_', so the host context is what follows the
    // third '_' (it may hold '_' itself).
    size_t a = cur.find('_'), b = cur.find('_', a + 1), c = cur.find('_', b + 1);
    if (c != std::string::npos) targets.push_back(cur.substr(c + 1));
  }
  if (targets.empty())
    return fail(Error(ErrorKind::kInvalidArgument,
                      "the current context " + cur + " is not a vcluster context; nothing to disconnect"));
  for (auto& t : targets) {
    Error e = kube::kubeconfig_set_current(file, t);
    if (e.ok()) {
      say("switched the context of " + file + " back to " + t);
      return 0;
    }
    if (e.code != 404) return fail(e);
  }
  return fail(Error(ErrorKind::kInvalidArgument, "cannot switch back from " + cur + ": the context " +
                                                     join(targets, " or ") + " is no longer in " + file +
                                                     "; pick one with kubectl config use-context"));
}

// ---- list ------------------------------------------------------------------------------------------

int cmd_list(const Options& o) {
  std::vector<std::string> problems;
  auto states = list_states(&problems);
  std::vector<std::vector<std::string>> rows = {{"NAME", "NAMESPACE", "DRIVER", "STATUS", "AGE"}};
  for (auto& s : states) {
    std::string dir = state_dir(s.namespace_, s.name);
    std::string status = s.driver == "local" ? status_local(s, dir) : status_cluster(o, s, dir);
    rows.push_back({s.name, s.namespace_, s.driver, status, age_since(s.created)});
  }
  print_table(rows);
  for (auto& p : problems) std::fprintf(stderr, "warning: %s\n", p.c_str());
  return 0;
}

// ---- plugins list ------------------------------------------------------------------------------

int cmd_plugins_list(const Options& o) {
  std::vector<std::string> dirs = o.plugin_dirs;
  for (auto& d : engine::default_plugin_dirs("vcluster")) dirs.push_back(d);
  std::vector<std::string> names = o.plugins;
  if (names.empty()) {
    // Every libvcp-<name>.so in the search directories; the first directory holding a name wins, as it does
    // when the syncer resolves that name.
    std::set<std::string> seen;
    for (auto& d : dirs) {
      std::vector<std::string> found;
      if (DIR* dp = opendir(d.c_str())) {
        while (dirent* e = readdir(dp)) {
          std::string f = e->d_name;
          if (f.rfind("libvcp-", 0) == 0 && f.size() > 10 && f.compare(f.size() - 3, 3, ".so") == 0)
            found.push_back(f.substr(7, f.size() - 10));
        }
        closedir(dp);
      }
      std::sort(found.begin(), found.end());
      for (auto& n : found)
        if (seen.insert(n).second) names.push_back(n);
    }
    if (names.empty()) {
      std::fprintf(stderr, "no plugins found in %s\n", join(dirs, ", ").c_str());
      return 1;
    }
  }
  int rc = 0;
  bool first = true;
  for (auto& n : names) {
    std::string path;
    plugin::LoadedPlugin p;
    Error e = plugin::resolve_plugin(n, dirs, &path);
    if (!e) e = plugin::load_plugin(path, &p);
    if (!first) std::printf("\n");
    first = false;
    if (e) {
      std::printf("%s: cannot load: %s\n", n.c_str(), e.message.c_str());
      rc = 1;
      continue;
    }
    std::printf("%s %s (ABI %u.%u) %s\n", p.name.c_str(), p.version.c_str(), p.abi_major, p.abi_minor,
                p.path.c_str());
    if (!p.description.empty()) std::printf("  %s\n", p.description.c_str());
    std::printf("\n");
    std::vector<std::vector<std::string>> rows = {
        {"  RESOURCE", "KIND", "ROLE", "MAPPING", "SCOPE", "SELECTOR"}};
    for (auto& r : p.resources) {
      std::string role = plugin::role_name(r.role), mapping = plugin::mapping_name(r.mapping);
      rows.push_back({"  " + r.gvr(), r.kind, role.substr(std::string("VCP_ROLE_").size()),
                      mapping.substr(std::string("VCP_NAME_").size()),
                      r.namespaced ? "namespaced" : "cluster",
                      r.label_selector.empty() ? "-" : r.label_selector});
    }
    print_table(rows);
    auto keys = engine::plugin_key_specs(p);
    std::printf("\n");
    if (keys.empty()) {
      std::printf("  (no values keys)\n");
    } else {
      std::printf("%s", config::render_docs(keys).c_str());
    }
  }
  return rc;
}

// ---- pause / resume / delete -------------------------------------------------------------------

int cmd_pause(const Options& o) {
  State s;
  std::string dir;
  if (Error e = find_state(o.name, o.namespace_, &s, &dir)) return fail(e);
  if (s.paused) {
    say("vcluster " + s.name + " in " + s.namespace_ + " is already paused (since " + s.paused_at + ")");
    return 0;
  }
  Error e = s.driver == "local" ? pause_local(o, &s, dir) : pause_cluster(o, &s, dir);
  if (e) return fail(e);
  return 0;
}

int cmd_resume(const Options& o) {
  State s;
  std::string dir;
  if (Error e = find_state(o.name, o.namespace_, &s, &dir)) return fail(e);
  Error e = s.driver == "local" ? resume_local(o, &s, dir) : resume_cluster(o, &s, dir);
  if (e) return fail(e);
  return 0;
}

int cmd_delete(const Options& o) {
  State s;
  std::string dir;
  if (Error e = find_state(o.name, o.namespace_, &s, &dir)) return fail(e);
  Error e = s.driver == "local" ? delete_local(o, s, dir) : delete_cluster(o, s, dir);
  if (e) return fail(e);
  return 0;
}

int cmd_create(const Options& o) {
  std::string ns = o.namespace_.empty() ? "vcluster-" + o.name : o.namespace_;
  std::string dir = state_dir(ns, o.name);
  State existing;
  Error e = load_state(dir, &existing);
  if (e && e.code != 404) return fail(e);
  bool exists = e.ok();
  if (exists && !o.upgrade && !o.print)
    return fail(Error(ErrorKind::kInvalidArgument,
                      "vcluster " + o.name + " already exists in namespace " + ns + " (driver " +
                          existing.driver + ", created " + existing.created + "); use 'vcluster create " +
                          o.name + " -n " + ns +
                          " --upgrade -f VALUES' to change its values, or 'vcluster delete " + o.name +
                          " -n " + ns + "' first"));
  // An upgrade changes a vcluster that exists; creating one instead would hide a wrong state directory or
  // context (a shell without VCLUSTER_STATE_DIR once made a second vcluster nested inside the first).
  if (!exists && o.upgrade && !o.print)
    return fail(Error(ErrorKind::kInvalidArgument,
                      "vcluster " + o.name + " was not found in namespace " + ns + " (looked in " + dir +
                          ", under " + state_root() +
                          "); drop --upgrade to create it, or set VCLUSTER_STATE_DIR to the directory it was "
                          "created with"));
  if (exists && !o.print) {
    if (existing.driver == "local") return upgrade_local(o, existing, dir);
    return create_cluster(o, ns, &existing);
  }
  if (o.driver == "cluster") return create_cluster(o, ns, nullptr);
  return create_local(o, ns);
}

}  // namespace

void say(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

Error load_plugins_and_values(const std::vector<std::string>& names,
                              const std::vector<std::string>& plugin_dirs,
                              const std::vector<std::string>& values_files, bool isolate,
                              std::vector<plugin::LoadedPlugin>* plugins, config::Values* values) {
  engine::PluginSetOptions po;
  po.names = names;
  po.search_dirs = plugin_dirs;
  for (auto& d : engine::default_plugin_dirs("vcluster")) po.search_dirs.push_back(d);
  std::string tmp;
  if (isolate) {
    // What `vcluster create --isolate` sets (spec §8.2), as the first file so the user's files may refine it
    // (for example isolation.podSecurityStandard: restricted).
    const char* td = std::getenv("TMPDIR");
    tmp = std::string(td != nullptr && *td != '\0' ? td : "/tmp") + "/vcluster-isolate-XXXXXX.yaml";
    int fd = mkstemps(tmp.data(), 5);
    if (fd < 0) return Error(ErrorKind::kIo, "cannot create a temporary file in " + tmp);
    static const char text[] = "isolation:\n  enabled: true\n";
    ssize_t n = write(fd, text, sizeof text - 1);
    close(fd);
    if (n != static_cast<ssize_t>(sizeof text - 1)) {
      unlink(tmp.c_str());
      return Error(ErrorKind::kIo, "cannot write the temporary file " + tmp);
    }
    po.values_files.push_back(tmp);
  }
  for (auto& f : values_files) po.values_files.push_back(f);
  Error e = engine::load_plugin_set(po, plugins, values);
  if (!tmp.empty()) unlink(tmp.c_str());
  // Whatever went wrong (a key, a type, a missing or refused plugin) is the user's input to fix.
  if (e) e.kind = ErrorKind::kInvalidArgument;
  return e;
}

std::vector<OwnedResource> owned_resources(const std::vector<plugin::LoadedPlugin>& plugins) {
  std::vector<OwnedResource> out = {
      {"", "v1", "pods", true},
      {"", "v1", "services", true},
      {"", "v1", "endpoints", true},
      {"", "v1", "configmaps", true},
      {"", "v1", "secrets", true},
      {"", "v1", "persistentvolumeclaims", true},
      {"networking.k8s.io", "v1", "ingresses", true},
      {"networking.k8s.io", "v1", "networkpolicies", true},
      // Cluster-scoped copies (the storage plugin's, vcluster-behaviour.md §1.3): StorageClasses made from
      // virtual ones (sync.storageclasses) and PVs made from virtual PVs; delete takes only those whose name
      // is the translation of their object-name annotation, never a host PV the syncer merely imported.
      {"storage.k8s.io", "v1", "storageclasses", false},
      {"", "v1", "persistentvolumes", false},
  };
  for (auto& p : plugins)
    for (auto& r : p.resources) {
      if (r.role != VCP_ROLE_TO_HOST) continue;
      bool dup = std::any_of(out.begin(), out.end(), [&](const OwnedResource& o) {
        return o.group == r.group && o.resource == r.resource;
      });
      if (!dup) out.push_back({r.group, r.version, r.resource, r.namespaced});
    }
  return out;
}

bool is_translated_cluster_copy(const json::Value& item, const State& s) {
  if (!naming::is_managed_cluster_object(item, s.namespace_, s.name)) return false;
  const json::Value* nv = item.at({"metadata", "name"});
  const json::Value* ov = item.at({"metadata", "annotations", "vcluster.loft.sh/object-name"});
  if (nv == nullptr || ov == nullptr || !ov->is_string()) return false;
  return nv->string_or("") == naming::physical_name_cluster_scoped(ov->as_string(), s.namespace_, s.name);
}

Error delete_owned_objects(KubeSync& host, const State& s, std::string* counts) {
  std::vector<std::string> parts;
  for (auto& r : s.owned) {
    kube::GVR g{r.group, r.version, r.resource, r.namespaced, ""};
    std::string selector = "vcluster.loft.sh/managed-by=" +
                           (r.namespaced ? s.name : naming::cluster_marker(s.namespace_, s.name));
    kube::Result lr = host.list(g, r.namespaced ? s.namespace_ : "", selector);
    if (lr.not_found()) continue;  // the host does not serve this resource (or the namespace is gone)
    if (!lr.ok())
      return Error(ErrorKind::kHttp,
                   "cannot list " + g.id() + " in " + s.namespace_ + ": " + KubeSync::describe(lr));
    auto v = json::parse(lr.body);
    const json::Value* items = v ? v->at({"items"}) : nullptr;
    size_t n = 0;
    if (items != nullptr)
      for (auto& item : items->items()) {
        const json::Value* nv = item.at({"metadata", "name"});
        std::string name(nv != nullptr ? nv->string_or("") : "");
        if (name.empty()) continue;
        if (!r.namespaced && !is_translated_cluster_copy(item, s)) continue;
        kube::Result dr =
            host.remove(g, r.namespaced ? s.namespace_ : "", name, R"({"propagationPolicy":"Background"})");
        if (!dr.ok() && !dr.not_found())
          return Error(ErrorKind::kHttp,
                       "cannot delete " + g.id() + " " + name + ": " + KubeSync::describe(dr));
        n++;
      }
    if (n > 0) parts.push_back(std::to_string(n) + " " + g.id());
  }
  *counts = parts.empty() ? "no objects" : join(parts, ", ");
  return {};
}

Error delete_host_pods(KubeSync& host, const State& s, std::vector<std::string>* names) {
  kube::Result lr = host.list(gvr::pods(), s.namespace_, "vcluster.loft.sh/managed-by=" + s.name);
  if (lr.not_found()) return {};
  if (!lr.ok())
    return Error(ErrorKind::kHttp,
                 "cannot list the host pods in " + s.namespace_ + ": " + KubeSync::describe(lr));
  auto v = json::parse(lr.body);
  const json::Value* items = v ? v->at({"items"}) : nullptr;
  if (items == nullptr) return {};
  for (auto& item : items->items()) {
    // Only pods the syncer owns (managed-by and a name that is the translation of its annotations).
    if (!naming::is_managed_namespaced_object(item, s.namespace_, s.name)) continue;
    std::string name(item.at({"metadata", "name"})->string_or(""));
    kube::Result dr = host.remove(gvr::pods(), s.namespace_, name);
    if (!dr.ok() && !dr.not_found())
      return Error(ErrorKind::kHttp, "cannot delete the host pod " + name + ": " + KubeSync::describe(dr));
    names->push_back(name);
  }
  return {};
}

Error count_host_pods(KubeSync& host, const State& s, size_t* n) {
  kube::Result lr = host.list(gvr::pods(), s.namespace_, "vcluster.loft.sh/managed-by=" + s.name);
  if (!lr.ok())
    return Error(ErrorKind::kHttp,
                 "cannot list the host pods in " + s.namespace_ + ": " + KubeSync::describe(lr));
  auto v = json::parse(lr.body);
  *n = v ? count_live_pods(*v, s) : 0;
  return {};
}

size_t count_live_pods(const json::Value& list, const State& s) {
  const json::Value* items = list.at({"items"});
  size_t n = 0;
  if (items == nullptr) return 0;
  for (auto& item : items->items()) {
    // A pod being deleted (deletionTimestamp set) is an old one still Terminating, not one that came back.
    if (item.at({"metadata", "deletionTimestamp"}) != nullptr) continue;
    if (naming::is_managed_namespaced_object(item, s.namespace_, s.name)) n++;
  }
  return n;
}

Error ensure_namespace(KubeSync& host, const std::string& ns, const std::string& name, bool* created) {
  *created = false;
  kube::Result r = host.get(gvr::namespaces(), "", ns);
  if (r.ok()) {
    auto v = json::parse(r.body);
    const json::Value* phase = v ? v->at({"status", "phase"}) : nullptr;
    if (phase != nullptr && phase->string_or("") == "Terminating")
      return Error(
          ErrorKind::kInvalidArgument,
          "namespace " + ns + " is being deleted; wait until it is gone (kubectl get ns " + ns + ")");
    return {};
  }
  if (!r.not_found())
    return Error(ErrorKind::kHttp, "cannot read namespace " + ns + ": " + KubeSync::describe(r));
  json::Value o = json::Value::object();
  o["apiVersion"] = "v1";
  o["kind"] = "Namespace";
  o["metadata"]["name"] = ns;
  o["metadata"]["labels"]["vcluster.loft.sh/namespace"] = "true";
  o["metadata"]["annotations"]["vcluster.loft.sh/created-by"] = "vcluster create " + name;
  kube::Result c = host.create(gvr::namespaces(), "", json::dump(o));
  if (!c.ok() && !c.already_exists())
    return Error(ErrorKind::kHttp, "cannot create namespace " + ns + ": " + KubeSync::describe(c));
  *created = c.ok();
  return {};
}

Error state_host(const Options& o, const State& s, const std::string& dir, Host* out) {
  if (!o.kubeconfig.empty() || !o.context.empty()) return resolve_host(o, out);
  Host h;
  std::string file = dir + "/host.kubeconfig";
  if (Error e = kube::load_kubeconfig_file(file, "host", &h.cfg)) {
    e.message = "vcluster " + s.name + ": the host credentials kept at create are unreadable (" + e.message +
                "); pass --context for its host cluster (" + s.host_context + ")";
    return e;
  }
  h.context = s.host_context;
  h.cfg.context = s.host_context;
  h.kubeconfig_file = s.host_kubeconfig;
  *out = std::move(h);
  return {};
}

Error save_host_kubeconfig(const Host& h, const std::string& dir) {
  return kube::kubeconfig_upsert_context(dir + "/host.kubeconfig", "host", h.cfg, true);
}

Error connect_vcluster(const Options& o, State* s, const std::string& dir) {
  kube::RestConfig cfg;
  if (Error e = virtual_config(o, *s, dir, &cfg)) return e;
  if (!o.server.empty()) cfg.server = o.server;
  std::string ctx = context_name(s->name, s->namespace_, s->host_context);
  if (o.print) {
    // A standalone kubeconfig: written through the same code to a private temporary file, then printed.
    char tmpl[] = "/tmp/vcluster-kubeconfig-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return Error(ErrorKind::kIo, "cannot create a temporary file in /tmp");
    close(fd);
    unlink(tmpl);
    Error e = kube::kubeconfig_upsert_context(tmpl, ctx, cfg, true);
    std::string text = read_file(tmpl);
    unlink(tmpl);
    if (e) return e;
    std::fputs(text.c_str(), stdout);
    return {};
  }
  auto files = kubeconfig_files(o);
  std::string file = files.front();
  std::string cur_file;
  std::string cur = current_context(files, &cur_file);
  if (Error e = kube::kubeconfig_upsert_context(file, ctx, cfg, true)) return e;
  if (!cur.empty() && cur != ctx) s->previous_context = cur;
  s->context_name = ctx;
  s->kubeconfig_file = file;
  say("switched the context of " + file + " to " + ctx + " (API server " + cfg.server +
      "); 'vcluster disconnect' switches back to " +
      (s->previous_context.empty() ? s->host_context : s->previous_context));
  if (s->paused)
    say("note: vcluster " + s->name + " is paused; 'vcluster resume " + s->name + "' starts its API server");
  return {};
}

void forget_context(const State& s) {
  if (s.kubeconfig_file.empty() || s.context_name.empty()) return;
  std::string cur;
  if (kube::kubeconfig_current_context(s.kubeconfig_file, &cur).ok() && cur == s.context_name) {
    bool switched = false;
    for (auto& t : {s.previous_context, s.host_context})
      if (!t.empty() && t != cur && kube::kubeconfig_set_current(s.kubeconfig_file, t).ok()) {
        say("switched the context of " + s.kubeconfig_file + " back to " + t);
        switched = true;
        break;
      }
    if (!switched)
      say("warning: no context to switch back to; " + s.kubeconfig_file + " has no current context now");
  }
  Error e = kube::kubeconfig_remove_context(s.kubeconfig_file, s.context_name);
  if (e && e.code != 404) say("warning: " + e.message);
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) say("warning: cannot remove " + dir + " (" + ec.message() + ")");
}

int run_command(const Options& o) {
  if (o.help) {
    std::fputs(usage(o.command).c_str(), stdout);
    return 0;
  }
  const std::string& c = o.command;
  if (c == "create") return cmd_create(o);
  if (c == "connect") return cmd_connect(o);
  if (c == "disconnect") return cmd_disconnect(o);
  if (c == "list") return cmd_list(o);
  if (c == "pause") return cmd_pause(o);
  if (c == "resume") return cmd_resume(o);
  if (c == "delete") return cmd_delete(o);
  if (c == "plugins") return cmd_plugins_list(o);
  return fail(Error(ErrorKind::kInvalidArgument, "unknown command '" + c + "'; run 'vcluster --help'"));
}

}  // namespace vc::cli
