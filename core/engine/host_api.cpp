#include "engine/host_api.hpp"

#include <algorithm>

#include "config/values.hpp"
#include "engine/slots.hpp"
#include "json/json.hpp"
#include "naming/naming.hpp"
#include "plugin/buffer.hpp"
#include "util/log.hpp"

namespace vc::engine {

using plugin::to_string;

namespace {
// A namespace name as the API server accepts it: an RFC 1123 label (1-63 of [a-z0-9-], alphanumeric at
// both ends).
bool valid_namespace_name(const std::string& n) {
  if (n.empty() || n.size() > 63 || n.front() == '-' || n.back() == '-') return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}
}  // namespace

// Every service validates what the plugin passes (indexes, sides) and ignores misuse with a log line:
// plugin code is not trusted to be correct, and a bad call must not crash the syncer.
struct HostApi {
  static Engine::PluginSlot* slot(vcp_host_ctx* ctx) {
    if (!ctx || !ctx->engine || ctx->plugin >= ctx->engine->plugins_.size()) return nullptr;
    return ctx->engine->plugins_[ctx->plugin].get();
  }
  static Engine::ResourceSlot* res(vcp_host_ctx* ctx, uint32_t r) {
    auto* ps = slot(ctx);
    if (!ps || r >= ps->resources.size()) {
      log().warn("plugin {} named resource index {} it did not declare", ps ? ps->name : "?", r);
      return nullptr;
    }
    return &ps->resources[r];
  }
  // The informer of (side, resource) that holds namespace `ns`.
  static informer::Informer* cache(vcp_host_ctx* ctx, vcp_side side, uint32_t r, const std::string& ns) {
    auto* rs = res(ctx, r);
    return rs ? rs->informer_of(side, ns) : nullptr;
  }
  // Every informer of (side, resource): one, or one per namespace of a VCP_RES_HOST_NAMESPACES resource.
  static std::vector<informer::Informer*> caches(vcp_host_ctx* ctx, vcp_side side, uint32_t r) {
    auto* rs = res(ctx, r);
    return rs ? rs->informers_of(side) : std::vector<informer::Informer*>{};
  }

  static void log_fn(vcp_host_ctx* ctx, vcp_log_level level, vcp_str message) {
    auto* ps = slot(ctx);
    std::string_view m(message.ptr ? message.ptr : "", message.ptr ? message.len : 0);
    const std::string& n = ps ? ps->name : std::string();
    switch (level) {
      case VCP_LOG_DEBUG:
        log().debug("[{}] {}", n, m);
        break;
      case VCP_LOG_INFO:
        log().info("[{}] {}", n, m);
        break;
      case VCP_LOG_WARN:
        log().warn("[{}] {}", n, m);
        break;
      default:
        log().error("[{}] {}", n, m);
        break;
    }
  }
  static void set_error(vcp_host_ctx* ctx, vcp_str message) {
    if (auto* ps = slot(ctx)) {
      ps->call_error = to_string(message);
      ps->inst->set_last_error(ps->call_error);
    }
  }
  static const vcp_cluster_info* cluster_info(vcp_host_ctx* ctx) {
    auto* ps = slot(ctx);
    return ps ? &ps->info : nullptr;
  }
  static int config_get(vcp_host_ctx* ctx, vcp_str path, vcp_str* out) {
    auto* ps = slot(ctx);
    if (!ps || !out) return 0;
    std::string p = to_string(path);
    // A plugin reads its own keys, the core's, and (read-only) the keys another loaded plugin declared, e.g.
    // the pods plugin reads sync.nodes.nodeSelector. A key nobody loaded declared is unknown (0).
    auto declared = [&p](const auto& s) {
      return std::find(s.config_paths.begin(), s.config_paths.end(), p) != s.config_paths.end();
    };
    if (!declared(*ps)) {
      bool any = false;
      for (const auto& other : ctx->engine->plugins_)
        if (other.get() != ps && declared(*other)) any = true;
      if (!any) return 0;
    }
    const config::Values* v = ctx->engine->values_;
    if (!v) return 0;
    auto raw = v->get_raw(p);
    if (!raw) return 0;
    *out = ps->keep(std::move(*raw));
    return 1;
  }
  static vcp_str translate_name(vcp_host_ctx* ctx, vcp_name_mapping mapping, vcp_str ns, vcp_str name) {
    auto* ps = slot(ctx);
    if (!ps) return vcp_str{nullptr, 0};
    const auto& s = ctx->engine->settings_;
    switch (mapping) {
      case VCP_NAME_NAMESPACED:
        return ps->keep(naming::physical_name(to_string(name), to_string(ns), s.vcluster_name));
      case VCP_NAME_CLUSTER:
        return ps->keep(
            naming::physical_name_cluster_scoped(to_string(name), s.host_namespace, s.vcluster_name));
      default:
        return ps->keep(to_string(name));
    }
  }
  static vcp_str translate_label_key(vcp_host_ctx* ctx, int cluster, vcp_str key) {
    auto* ps = slot(ctx);
    if (!ps) return vcp_str{nullptr, 0};
    const auto& s = ctx->engine->settings_;
    return ps->keep(cluster ? naming::label_key_cluster(to_string(key), s.host_namespace, s.vcluster_name)
                            : naming::label_key(to_string(key), s.vcluster_name));
  }
  // ABI 1.1. The prefix comes from the plugin (e.g. "vcluster.loft.sh/ns-label"); only the vcluster name and
  // the hash are the engine's, so that a plugin never needs its own SHA-256 to match vcluster's keys.
  static vcp_str translate_label_key_prefixed(vcp_host_ctx* ctx, vcp_str prefix, vcp_str key) {
    auto* ps = slot(ctx);
    if (!ps) return vcp_str{nullptr, 0};
    return ps->keep(naming::label_key_with_prefix(to_string(prefix), to_string(key),
                                                  ctx->engine->settings_.vcluster_name));
  }
  static int cache_get(vcp_host_ctx* ctx, vcp_side side, uint32_t r, vcp_str ns, vcp_str name, vcp_str* out) {
    auto* inf = cache(ctx, side, r, to_string(ns));
    if (!inf || !out) return 0;
    auto o = inf->get(to_string(ns), to_string(name));
    if (!o) return 0;
    *out = slot(ctx)->view(o);
    return 1;
  }
  static void cache_list(vcp_host_ctx* ctx, vcp_side side, uint32_t r, vcp_str ns, vcp_each_fn each,
                         void* user) {
    if (!each) return;
    auto* ps = slot(ctx);
    const std::string n = to_string(ns);
    bool go = true;
    for (informer::Informer* inf : caches(ctx, side, r)) {
      inf->for_each(
          [&](const informer::ObjectPtr& o) {
            go = each(user, ps->view(o)) == 0;
            return go;
          },
          n);
      if (!go) return;
    }
  }
  static int add_index(vcp_host_ctx* ctx, vcp_side side, uint32_t r, const char* index_name, vcp_index_fn fn,
                       void* user) {
    auto* ps = slot(ctx);
    auto infs = caches(ctx, side, r);
    auto* rs = ps && r < ps->resources.size() ? &ps->resources[r] : nullptr;
    if (!ps || !rs || (infs.empty() && !rs->res.host_namespaces) || !fn || !index_name || !ps->in_init) {
      log().warn("plugin {}: add_index is only allowed during on_init, on a declared resource",
                 ps ? ps->name : "?");
      return 0;
    }
    if (r < ps->resources.size() && ps->resources[r].res.uncached) {
      log().warn(
          "plugin {}: add_index on {}, which it declared VCP_RES_UNCACHED: nothing is kept to index; "
          "drop the flag to index it",
          ps->name, ps->resources[r].res.gvr());
      return 0;
    }
    // Index names are per plugin so two plugins sharing an informer cannot clash.
    for (informer::Informer* inf : infs)
      inf->add_index(ps->name + "/" + index_name,
                     [fn, user](const informer::Object& o, std::vector<std::string>* vals) {
                       std::string scratch;
                       fn(
                           user, plugin::as_vcp_str(o.json(&scratch)),
                           [](void* emit_ctx, vcp_str v) {
                             static_cast<std::vector<std::string>*>(emit_ctx)->push_back(to_string(v));
                           },
                           vals);
                     });
    return 1;
  }
  static void cache_by_index(vcp_host_ctx* ctx, vcp_side side, uint32_t r, const char* index_name,
                             vcp_str value, vcp_each_fn each, void* user) {
    auto* ps = slot(ctx);
    if (!ps || !each || !index_name) return;
    bool go = true;
    for (informer::Informer* inf : caches(ctx, side, r)) {
      inf->for_each_in_index(ps->name + "/" + index_name, to_string(value),
                             [&](const informer::ObjectPtr& o) {
                               go = each(user, ps->view(o)) == 0;
                               return go;
                             });
      if (!go) return;
    }
  }
  static void enqueue(vcp_host_ctx* ctx, uint32_t r, vcp_str ns, vcp_str name, uint64_t delay_ms) {
    if (!res(ctx, r) || !ctx->engine->queue_) return;
    ctx->engine->enqueue(ctx->plugin, r, to_string(ns), to_string(name), delay_ms);
  }
  static void wait_for(vcp_host_ctx* ctx, vcp_side side, uint32_t r, vcp_str ns, vcp_str name,
                       uint32_t waiter_r, vcp_str wns, vcp_str wname) {
    auto* inf = cache(ctx, side, r, to_string(ns));
    if (!inf || !res(ctx, waiter_r)) return;
    Engine* e = ctx->engine;
    std::string waiter = std::to_string(ctx->plugin) + "|" + std::to_string(waiter_r) + "|" +
                         informer::make_key(to_string(wns), to_string(wname));
    std::string k = std::string(side == VCP_SIDE_HOST ? "host" : "virtual") + "|" +
                    std::to_string(ctx->plugin) + "|" + std::to_string(r) + "|" +
                    informer::make_key(to_string(ns), to_string(name));
    auto& v = e->waiters_[k];
    if (std::find(v.begin(), v.end(), waiter) == v.end()) v.push_back(waiter);
    // The object may have appeared after the plugin looked: then wake the waiter at once.
    if (inf->get(to_string(ns), to_string(name))) e->add_key(waiter);
  }
  static uint64_t submit(vcp_host_ctx* ctx, const vcp_write* w) {
    auto* ps = slot(ctx);
    if (!ps || !w || w->struct_size < sizeof(vcp_write)) return 0;
    auto* rs = res(ctx, w->resource);
    if (!rs) return 0;
    Engine* e = ctx->engine;
    vcp_side side = w->side == VCP_SIDE_HOST ? VCP_SIDE_HOST : VCP_SIDE_VIRTUAL;
    std::string ns = to_string(w->namespace_), name = to_string(w->name), sub = to_string(w->subresource);
    std::string body = to_string(w->body);
    // A tenant's plugin may only write host objects inside the vcluster's host namespace.
    if (side == VCP_SIDE_HOST && rs->res.namespaced && ns != e->settings_.host_namespace) {
      log().error("plugin {} tried to write host {} in namespace {} outside {}; refused", ps->name,
                  rs->res.kind, ns, e->settings_.host_namespace);
      return 0;
    }
    uint64_t id = e->next_submit_++;
    std::string wake;
    if (w->wake_name.len > 0) {
      wake = std::to_string(ctx->plugin) + "|" + std::to_string(w->wake_resource) + "|" +
             informer::make_key(to_string(w->wake_namespace), to_string(w->wake_name));
    }
    e->metrics_.submits++;
    std::weak_ptr<bool> alive = e->alive_;
    auto done = [e, alive, id, wake, side, r = w->resource, p = ctx->plugin, verb = w->verb, ns, name,
                 sub](kube::Result res) {
      if (alive.expired()) return;
      log().debug("submitted write {} answered {}{}{}", id, res.status, res.ok() ? "" : ": ",
                  res.err.message);
      auto& rs2 = e->plugins_[p]->resources[r];
      informer::Informer* inf = side == rs2.source_side ? rs2.source : rs2.target;
      if (inf && sub.empty() && verb == VCP_VERB_DELETE) {
        // Recording the answer now stops the woken key from deleting the same object again (those repeats
        // were answered 404 0.04-0.8 times per pod in the benchmarks).
        inf->observe_delete_answer(ns, name, res.status, res.body);
      } else if (res.ok() && inf && verb != VCP_VERB_DELETE) {
        if (auto o = informer::make_object(res.body); o && !o->resource_version().empty())
          inf->observe(std::move(o));
      }
      e->results_[id] = {res.status,
                         std::move(res.body),
                         std::chrono::steady_clock::now(),
                         p,
                         r,
                         side,
                         static_cast<vcp_verb>(verb),
                         !sub.empty()};
      if (++e->results_since_sweep_ >= 4096) e->sweep_results();
      if (!wake.empty()) e->add_key(wake);
    };
    if (w->verb != VCP_VERB_CREATE && w->verb != VCP_VERB_UPDATE && w->verb != VCP_VERB_PATCH &&
        w->verb != VCP_VERB_DELETE)
      return 0;
    // At most max_submits_in_flight writes per side on the wire; the rest wait here, in order, and their
    // request deadline starts only when they are sent.
    const int si = side == VCP_SIDE_HOST ? 1 : 0;
    const bool urgent = !wake.empty() && e->creates_target(wake);
    if (urgent) {
      e->urgent_submits_++;
      e->update_hold();
    }
    auto send = [e, alive, si, side, urgent, gvr = rs->gvr, verb = w->verb, ns, name, sub,
                 body = std::move(body), done = std::move(done)]() mutable {
      e->submits_in_flight_[si]++;
      auto finished = [e, alive, si, urgent, done = std::move(done)](kube::Result res) {
        if (alive.expired()) return;
        e->submits_in_flight_[si]--;
        done(std::move(res));
        if (urgent) {
          e->urgent_submits_--;
          e->update_hold();
        }
        e->pump_submits(si);
      };
      kube::Client* cl = e->client(side);
      switch (verb) {
        case VCP_VERB_CREATE:
          cl->create(gvr, ns, std::move(body), std::move(finished), name, sub);
          break;
        case VCP_VERB_UPDATE:
          cl->update(gvr, ns, name, std::move(body), std::move(finished), sub);
          break;
        case VCP_VERB_PATCH:
          cl->patch(gvr, ns, name, kube::PatchType::kMerge, std::move(body), std::move(finished), sub);
          break;
        default:
          cl->remove(gvr, ns, name, std::move(body), std::move(finished));
          break;
      }
    };
    if (e->submits_in_flight_[si] < std::max<size_t>(e->settings_.max_submits_in_flight, 1) &&
        e->deferred_submits_[si][1].empty() &&
        (urgent ||
         (e->deferred_submits_[si][0].empty() && !e->held_back(std::chrono::steady_clock::now())))) {
      send();
    } else {
      e->deferred_submits_[si][urgent ? 1 : 0].push_back({std::chrono::steady_clock::now(), std::move(send)});
      if (urgent) e->update_hold();  // a creation's write waits for a slot: creations are backed up
    }
    return id;
  }
  static int take_result(vcp_host_ctx* ctx, uint64_t id, vcp_str* body) {
    auto* ps = slot(ctx);
    if (!ps) return 0;
    auto& m = ctx->engine->results_;
    auto it = m.find(id);
    if (it == m.end()) return 0;
    int status = it->second.status;
    if (body) *body = ps->keep(std::move(it->second.body));  // a body nobody asked for is freed at once
    m.erase(it);
    return status == 0 ? -1 : status;
  }
  // ABI 1.4. One namespace-scoped host informer per named namespace, made here and started with the others
  // after on_init, so the plugin reads exactly the namespaces its configuration names.
  static int watch_host_namespaces(vcp_host_ctx* ctx, uint32_t r, const vcp_str* namespaces, size_t count) {
    auto* ps = slot(ctx);
    auto* rs = res(ctx, r);
    if (!ps || !rs) return 0;
    if (!ps->in_init || !rs->res.host_namespaces || (count > 0 && !namespaces)) {
      log().warn(
          "plugin {}: watch_host_namespaces is only allowed during on_init, on a resource declared "
          "VCP_RES_HOST_NAMESPACES",
          ps->name);
      return 0;
    }
    std::vector<std::string> names;
    for (size_t i = 0; i < count; i++) {
      std::string n = to_string(namespaces[i]);
      if (!valid_namespace_name(n)) {
        log().warn("plugin {}: watch_host_namespaces was given \"{}\", which is not a namespace name",
                   ps->name, n);
        return 0;
      }
      names.push_back(std::move(n));
    }
    for (auto& n : names) {
      if (rs->by_namespace.count(n)) continue;
      rs->by_namespace[n] = ctx->engine->informer_for(VCP_SIDE_HOST, rs->res, n, rs->res.label_selector);
      log().info("plugin {} watches host {} in namespace {}", ps->name, rs->res.resource, n);
    }
    return 1;
  }
  static void emit_event(vcp_host_ctx* ctx, vcp_side side, uint32_t r, vcp_str ns, vcp_str name, vcp_str type,
                         vcp_str reason, vcp_str message) {
    auto* rs = res(ctx, r);
    if (!rs) return;
    ctx->engine->emit_event(side, *rs, to_string(ns), to_string(name), to_string(type), to_string(reason),
                            to_string(message));
  }
};

const vcp_host_api* host_api_table() {
  static const vcp_host_api table = [] {
    vcp_host_api t{};
    t.struct_size = sizeof t;
    t.abi_major = VCP_ABI_MAJOR;
    t.abi_minor = VCP_ABI_MINOR;
    t.log = &HostApi::log_fn;
    t.set_error = &HostApi::set_error;
    t.buf_append = &plugin::buf_append;
    t.buf_clear = &plugin::buf_clear;
    t.cluster_info = &HostApi::cluster_info;
    t.config_get = &HostApi::config_get;
    t.translate_name = &HostApi::translate_name;
    t.translate_label_key = &HostApi::translate_label_key;
    t.cache_get = &HostApi::cache_get;
    t.cache_list = &HostApi::cache_list;
    t.add_index = &HostApi::add_index;
    t.cache_by_index = &HostApi::cache_by_index;
    t.enqueue = &HostApi::enqueue;
    t.wait_for = &HostApi::wait_for;
    t.submit = &HostApi::submit;
    t.take_result = &HostApi::take_result;
    t.emit_event = &HostApi::emit_event;
    t.translate_label_key_prefixed = &HostApi::translate_label_key_prefixed;
    t.watch_host_namespaces = &HostApi::watch_host_namespaces;
    return t;
  }();
  return &table;
}

}  // namespace vc::engine
