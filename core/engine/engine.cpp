#include "engine/engine.hpp"

#include <ctime>
#include <tuple>
#include <utility>

#include "config/keys.hpp"
#include "engine/host_api.hpp"
#include "engine/slots.hpp"
#include "json/json.hpp"
#include "naming/naming.hpp"
#include "plugin/buffer.hpp"
#include "util/log.hpp"

namespace vc::engine {

using informer::ObjectPtr;

void Metrics::observe_latency(double seconds) {
  size_t i = 0;
  while (i < latency_buckets_le.size() && seconds > latency_buckets_le[i]) i++;
  latency_counts[i]++;
  latency_sum += seconds;
  latency_count++;
}

namespace {

std::string work_key(size_t p, size_t r, const std::string& ns, const std::string& name) {
  std::string k = std::to_string(p);
  k += '|';
  k += std::to_string(r);
  k += '|';
  k += informer::make_key(ns, name);
  return k;
}

bool parse_work_key(const std::string& key, size_t* p, size_t* r, std::string* ns, std::string* name) {
  size_t a = key.find('|');
  if (a == std::string::npos) return false;
  size_t b = key.find('|', a + 1);
  if (b == std::string::npos) return false;
  *p = std::stoul(key.substr(0, a));
  *r = std::stoul(key.substr(a + 1, b - a - 1));
  std::string rest = key.substr(b + 1);
  size_t s = rest.find('/');
  if (s == std::string::npos) {
    ns->clear();
    *name = rest;
  } else {
    *ns = rest.substr(0, s);
    *name = rest.substr(s + 1);
  }
  return true;
}

std::string rfc3339_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* side_name(vcp_side s) {
  return s == VCP_SIDE_HOST ? "host" : "virtual";
}

// Compares two objects as Kubernetes sees them: key order does not matter, and list items carry no
// kind/apiVersion while single objects do, so those two top-level fields are left out.
bool same_object(const json::Value& a, const json::Value& b) {
  if (!a.is_object() || !b.is_object()) return a == b;
  const auto& am = a.members();
  const auto& bm = b.members();
  size_t na = 0, nb = 0;
  for (auto& [k, v] : am) {
    if (k == "kind" || k == "apiVersion") continue;
    na++;
    const json::Value* o = b.find(k);
    if (!o || !(*o == v)) return false;
  }
  for (auto& [k, v] : bm)
    if (k != "kind" && k != "apiVersion") nb++;
  return na == nb;
}

// Same as same_object, also leaving out `status` (for deciding between an object and a status write).
bool same_without_status(const json::Value& a, const json::Value& b) {
  json::Value x = a, y = b;
  x.erase("status");
  y.erase("status");
  return same_object(x, y);
}

}  // namespace

struct Engine::Reconcile {
  std::string key;
  size_t p = 0, r = 0;
  std::string ns, name;
  std::string tns, tname;
  ObjectPtr src, tgt;
  // Their JSON, unpacked once per reconcile (the cache holds objects packed); set with src/tgt.
  std::string src_text, tgt_text;
  std::string_view src_json, tgt_json;
  void set_src(ObjectPtr o) {
    src = std::move(o);
    src_json = src ? src->json(&src_text) : std::string_view{};
  }
  void set_tgt(ObjectPtr o) {
    tgt = std::move(o);
    tgt_json = tgt ? tgt->json(&tgt_text) : std::string_view{};
  }
  std::chrono::steady_clock::time_point started;
};

namespace {
// The hook arguments of one reconcile: views into the Reconcile, valid while it lives. The source and the
// target are passed only when asked for (the probe passes no target, on_delete no source).
vcp_sync_args sync_args(const std::string& ns, const std::string& name, const std::string& tns,
                        const std::string& tname, size_t r, const informer::ObjectPtr& src,
                        std::string_view src_json, const informer::ObjectPtr& tgt,
                        std::string_view tgt_json) {
  vcp_sync_args a{};
  a.struct_size = sizeof a;
  a.resource = static_cast<uint32_t>(r);
  a.source_namespace = plugin::as_vcp_str(ns);
  a.source_name = plugin::as_vcp_str(name);
  if (src) a.source = plugin::as_vcp_str(src_json);
  if (tgt) a.target = plugin::as_vcp_str(tgt_json);
  a.target_namespace = plugin::as_vcp_str(tns);
  a.target_name = plugin::as_vcp_str(tname);
  return a;
}
}  // namespace

Engine::Engine(uv_loop_t* loop, kube::Client* virtual_client, kube::Client* host_client, Settings settings,
               const config::Values* values)
    : loop_(loop),
      virtual_(virtual_client),
      host_(host_client),
      settings_(std::move(settings)),
      values_(values),
      alive_(std::make_shared<bool>(true)) {}

Engine::~Engine() {
  *alive_ = false;
  for (auto& ps : plugins_)
    if (ps->initialized) ps->inst->call_shutdown();
}

void Engine::add_plugin(plugin::LoadedPlugin loaded) {
  auto ps = std::make_unique<PluginSlot>();
  ps->index = plugins_.size();
  ps->ctx.engine = this;
  ps->ctx.plugin = ps->index;
  ps->name = loaded.name;
  for (auto& k : loaded.config_keys) ps->config_paths.push_back(k.path);
  // The core's own keys (mapServices.*, syncer.*, isolation.*) are readable by every plugin: they describe
  // the virtual cluster as a whole, and a plugin must not redeclare them to see them.
  for (auto& k : config::core_keys())
    if (k.path.find('*') == std::string::npos) ps->config_paths.push_back(k.path);
  ps->info.struct_size = sizeof ps->info;
  ps->info.vcluster_name = plugin::as_vcp_str(settings_.vcluster_name);
  ps->info.host_namespace = plugin::as_vcp_str(settings_.host_namespace);
  ps->info.cluster_domain = plugin::as_vcp_str(settings_.cluster_domain);
  for (size_t i = 0; i < loaded.resources.size(); i++) {
    const auto& r = loaded.resources[i];
    ResourceSlot rs;
    rs.recreate_on_uid = r.recreate_on_uid;
    rs.res = r;
    rs.gvr = kube::GVR{r.group, r.version, r.resource, r.namespaced, r.kind};
    ps->resources.push_back(std::move(rs));
  }
  ps->inst = std::make_unique<plugin::Instance>(std::move(loaded));
  plugins_.push_back(std::move(ps));
}

informer::Informer* Engine::informer_for(vcp_side side, const plugin::Resource& r, const std::string& ns,
                                         const std::string& selector) {
  // An uncached informer is its own: a plugin that declared the resource cached must find its objects.
  std::string id = std::string(side_name(side)) + "|" + r.gvr() + "|" + ns + "|" + selector +
                   (r.uncached ? "|uncached" : "");
  auto& slot = informers_[id];
  if (!slot) {
    informer::Options o;
    o.namespace_ = ns;
    o.label_selector = selector;
    o.keep_objects = !r.uncached;
    slot = std::make_unique<informer::Informer>(
        loop_, client(side), kube::GVR{r.group, r.version, r.resource, r.namespaced, r.kind}, o);
  }
  return slot.get();
}

const informer::Informer* Engine::watch_cache(vcp_side side, const kube::GVR& gvr, informer::Handlers h) {
  plugin::Resource r;
  r.group = gvr.group;
  r.version = gvr.version;
  r.resource = gvr.resource;
  r.kind = gvr.kind;
  r.namespaced = gvr.namespaced;
  informer::Informer* inf = informer_for(side, r, "", "");
  inf->add_handlers(std::move(h));
  return inf;
}

Error Engine::start() {
  if (started_) return {};
  started_ = true;
  queue::WorkQueue::Options qo;
  qo.max_delay = settings_.backoff_cap;
  qo.qps = settings_.write_qps;
  qo.burst = static_cast<int>(settings_.write_qps);
  qo.hold_max = settings_.creation_hold_max;
  queue_ = std::make_unique<queue::UvWorkQueue>(
      loop_, qo, [this](const std::string& key) { process(key); }, settings_.max_in_flight);

  // Informers first (plugins register indexes on them during on_init), then on_init, then start them.
  for (auto& ps : plugins_) {
    for (size_t r = 0; r < ps->resources.size(); r++) {
      auto& rs = ps->resources[r];
      const auto& res = rs.res;
      std::string host_ns = res.namespaced ? settings_.host_namespace : "";
      switch (res.role) {
        case VCP_ROLE_TO_HOST: {
          rs.source_side = VCP_SIDE_VIRTUAL;
          rs.target_side = VCP_SIDE_HOST;
          rs.source = informer_for(VCP_SIDE_VIRTUAL, res, "", res.label_selector);
          // Only objects carrying our managed-by label can be ours: the server filters the rest out.
          std::string marker = res.mapping == VCP_NAME_CLUSTER
                                   ? naming::cluster_marker(settings_.host_namespace, settings_.vcluster_name)
                                   : settings_.vcluster_name;
          std::string sel = "vcluster.loft.sh/managed-by=" + marker;
          if (res.mapping == VCP_NAME_SAME) sel = res.label_selector;
          rs.target = informer_for(VCP_SIDE_HOST, res, host_ns, sel);
          break;
        }
        case VCP_ROLE_TO_VIRTUAL:
          rs.source_side = VCP_SIDE_HOST;
          rs.target_side = VCP_SIDE_VIRTUAL;
          rs.source = informer_for(VCP_SIDE_HOST, res, host_ns, res.label_selector);
          rs.target = informer_for(VCP_SIDE_VIRTUAL, res, "", "");
          break;
        case VCP_ROLE_WATCH_VIRTUAL:
          rs.source_side = rs.target_side = VCP_SIDE_VIRTUAL;
          rs.source = informer_for(VCP_SIDE_VIRTUAL, res, "", res.label_selector);
          break;
        case VCP_ROLE_WATCH_HOST:
          rs.source_side = rs.target_side = VCP_SIDE_HOST;
          // ABI 1.4: watched in the namespaces the plugin names during on_init (watch_host_namespaces).
          if (!res.host_namespaces) rs.source = informer_for(VCP_SIDE_HOST, res, host_ns, res.label_selector);
          break;
      }
    }
  }
  for (auto& ps : plugins_) {
    ps->in_init = true;
    vcp_status st = ps->inst->call_init(host_api_table(), &ps->ctx);
    ps->in_init = false;
    if (st != VCP_OK) {
      log().error("plugin {} failed to start: {}; its resources will not sync", ps->name,
                  ps->inst->quarantined() ? ps->inst->quarantine_reason() : ps->call_error);
      continue;
    }
    ps->initialized = true;
    for (size_t r = 0; r < ps->resources.size(); r++) wire_events(ps->index, r);
  }
  wire_projections();
  pending_sync_ = informers_.size();
  for (auto& [id, inf] : informers_) {
    inf->on_synced([this] {
      if (--pending_sync_ == 0) on_all_synced();
    });
    inf->on_error([id = id](const Error& e) { log().warn("informer {}: {}", id, e.message); });
    inf->start();
  }
  if (informers_.empty()) on_all_synced();
  return {};
}

void Engine::on_all_synced() {
  ready_ = true;
  log().info("all {} caches synced; reconciling {} keys", informers_.size(), pending_keys_.size());
  // Keys gathered while the caches filled (every source object and every owned target, which is how
  // targets orphaned while the syncer was down are found) are handed to the queue only now, so that no
  // reconcile ever sees a half-filled cache and mistakes a missing object for a deleted one.
  for (auto& k : pending_keys_) queue_->add(k, creates_target(k));
  pending_keys_.clear();
  update_hold();
  if (on_ready) on_ready();
}

void Engine::wire_events(size_t p, size_t r) {
  auto& rs = plugins_[p]->resources[r];
  auto add = [this, p, r](informer::Informer* inf, vcp_side side) {
    if (!inf) return;
    informer::Handlers h;
    h.on_add = [this, p, r, side](const ObjectPtr& o) { route(p, r, side, VCP_EVENT_ADDED, o, nullptr); };
    h.on_update = [this, p, r, side](const ObjectPtr& old, const ObjectPtr& o) {
      route(p, r, side, VCP_EVENT_MODIFIED, o, old);
    };
    h.on_delete = [this, p, r, side](const ObjectPtr& o) {
      route(p, r, side, VCP_EVENT_DELETED, o, nullptr);
    };
    inf->add_handlers(std::move(h));
  };
  add(rs.source, rs.source_side);
  if (rs.target && rs.target != rs.source) add(rs.target, rs.target_side);
  for (auto& [ns, inf] : rs.by_namespace) add(inf, VCP_SIDE_HOST);
}

void Engine::route(size_t p, size_t r, vcp_side side, vcp_event_type type, const ObjectPtr& obj,
                   const ObjectPtr& old) {
  if (stopping_) return;
  metrics_.informer_events++;
  auto& ps = *plugins_[p];
  if (ps.inst->quarantined()) return;
  auto& rs = ps.resources[r];
  // Wake whoever waits for this object (a pod waiting for its ConfigMap).
  if (type != VCP_EVENT_DELETED) {
    std::string wk =
        std::string(side_name(side)) + "|" + std::to_string(p) + "|" + std::to_string(r) + "|" + obj->key();
    auto it = waiters_.find(wk);
    if (it != waiters_.end()) {
      for (auto& k : it->second) add_key(k);
      waiters_.erase(it);
    }
  }
  if (rs.res.owned()) {
    if (side == rs.source_side) {
      enqueue(p, r, std::string(obj->namespace_()), std::string(obj->name()), 0);
    } else {
      std::string sns, sname;
      if (owned_target(rs, *obj) && source_key_of_target(rs, *obj, &sns, &sname))
        enqueue(p, r, sns, sname, 0);
    }
  } else if (rs.res.host_namespaces) {
    // ABI 1.4: the keys of a resource watched in other host namespaces are reconciled (see
    // reconcile_watched).
    enqueue(p, r, std::string(obj->namespace_()), std::string(obj->name()), 0);
  }
  // Only a plugin that watches gets the event: unpacking a cached old object for nobody is wasted work.
  if (ps.initialized && ps.inst->plugin().descriptor->on_watch_event) {
    vcp_event ev{};
    ev.struct_size = sizeof ev;
    ev.resource = static_cast<uint32_t>(r);
    ev.side = side;
    ev.type = type;
    std::string obj_text, old_text;
    ev.object = plugin::as_vcp_str(obj->json(&obj_text));
    if (old) ev.old_object = plugin::as_vcp_str(old->json(&old_text));
    ps.inst->call_watch_event(ev);
    ps.end_call();
    quarantine_check(p);
  }
}

void Engine::enqueue(size_t p, size_t r, const std::string& ns, const std::string& name, uint64_t delay_ms) {
  std::string key = work_key(p, r, ns, name);
  first_seen_.try_emplace(key, std::chrono::steady_clock::now());
  if (delay_ms == 0 || !ready_) {
    add_key(key);
  } else {
    queue_->add_after(key, std::chrono::milliseconds(delay_ms));
  }
}

void Engine::add_key(const std::string& key) {
  if (!ready_) {
    pending_keys_.insert(key);
  } else if (queue_) {
    // Objects that are not on their target side yet go before status copies of those that are: during a
    // burst the API servers are the limit, and the time until every object exists is what tenants wait on.
    const bool urgent = creates_target(key);
    queue_->add(key, urgent);
    if (urgent) update_hold();
  }
}

Engine::HoldInfo Engine::hold_info() const {
  return {queue_ && queue_->core().held(), queue_ ? queue_->core().urgent_len() : 0,
          urgent_processing_.size(), urgent_submits_,
          deferred_submits_[0][1].size() + deferred_submits_[1][1].size()};
}

std::pair<size_t, size_t> Engine::unread_results() const {
  size_t bytes = 0;
  for (auto& [id, r] : results_) bytes += r.body.size();
  return {results_.size(), bytes};
}

std::vector<Engine::UnreadWrites> Engine::unread_results_by_write() const {
  static const char* const kVerbs[] = {"create", "update", "patch", "delete"};
  std::map<std::tuple<size_t, vcp_side, uint32_t, vcp_verb, bool>, UnreadWrites> by;
  for (auto& [id, r] : results_) {
    UnreadWrites& u = by[{r.plugin, r.side, r.resource, r.verb, r.subresource}];
    if (u.count == 0) {
      const auto& ps = *plugins_[r.plugin];
      u.plugin = ps.name;
      u.side = r.side == VCP_SIDE_HOST ? "host" : "virtual";
      u.kind = r.resource < ps.resources.size() ? ps.resources[r.resource].res.kind : "?";
      u.verb = std::string(r.verb >= 0 && r.verb < 4 ? kVerbs[r.verb] : "?") + (r.subresource ? "/sub" : "");
    }
    u.count++;
    u.bytes += r.body.size();
  }
  std::vector<UnreadWrites> out;
  for (auto& [k, u] : by) out.push_back(std::move(u));
  return out;
}

void Engine::sweep_results() {
  results_since_sweep_ = 0;
  // After the TTL the body goes (it can be a whole pod); the status stays a while longer, so that a plugin
  // asking late still learns the write finished instead of waiting for it forever.
  const auto now = std::chrono::steady_clock::now();
  const auto cutoff = now - kUnreadResultTtl, forget = now - 6 * kUnreadResultTtl;
  std::set<size_t> plugins;
  for (auto it = results_.begin(); it != results_.end();) {
    if (it->second.at < forget) {
      it = results_.erase(it);
      continue;
    }
    if (it->second.at < cutoff && !it->second.body.empty()) {
      plugins.insert(it->second.plugin);
      metrics_.results_dropped++;
      it->second.body = std::string();
    }
    ++it;
  }
  for (size_t p : plugins)
    if (p < plugins_.size())
      log().warn(
          "plugin {} did not read the answers of some of its writes (take_result) within {} minutes; "
          "their bodies were dropped. Read every id submit returned, even one whose answer no longer matters",
          plugins_[p]->name, kUnreadResultTtl.count());
}

bool Engine::held_back(std::chrono::steady_clock::time_point since) const {
  return queue_ && queue_->core().held() &&
         std::chrono::steady_clock::now() - since < settings_.creation_hold_max;
}

void Engine::update_hold() {
  if (!queue_ || stopping_) return;
  queue_->hold(hold_wanted(hold_info(), std::max<size_t>(settings_.creation_hold_busy, 1)));
  pump_submits(0);
  pump_submits(1);
}

void Engine::pump_submits(int side) {
  auto& urgent = deferred_submits_[side][1];
  auto& rest = deferred_submits_[side][0];
  while ((!urgent.empty() || (!rest.empty() && !held_back(rest.front().since))) && !stopping_ &&
         submits_in_flight_[side] < std::max<size_t>(settings_.max_submits_in_flight, 1)) {
    auto& q = urgent.empty() ? rest : urgent;
    auto send = std::move(q.front().send);
    q.pop_front();
    send();
  }
}

bool Engine::creates_target(const std::string& key) const {
  size_t p = 0, r = 0;
  std::string ns, name;
  if (!parse_work_key(key, &p, &r, &ns, &name) || p >= plugins_.size() || r >= plugins_[p]->resources.size())
    return false;
  const auto& rs = plugins_[p]->resources[r];
  if (!rs.res.owned() || !rs.source || !rs.target) return false;
  auto src = rs.source->get(ns, name);
  if (!src || src->deleting) return false;
  return rs.target->get(target_namespace(rs, ns), target_name(rs, ns, name)) == nullptr;
}

size_t Engine::queue_depth() const {
  return queue_ ? queue_->core().len() : pending_keys_.size();
}

std::string Engine::target_namespace(const ResourceSlot& rs, const std::string& ns) const {
  if (!rs.res.namespaced) return "";
  return rs.res.role == VCP_ROLE_TO_HOST ? settings_.host_namespace : ns;
}

std::string Engine::target_name(const ResourceSlot& rs, const std::string& ns,
                                const std::string& name) const {
  if (rs.res.role != VCP_ROLE_TO_HOST) return name;
  switch (rs.res.mapping) {
    case VCP_NAME_NAMESPACED:
      return naming::physical_name(name, ns, settings_.vcluster_name);
    case VCP_NAME_CLUSTER:
      return naming::physical_name_cluster_scoped(name, settings_.host_namespace, settings_.vcluster_name);
    default:
      return name;
  }
}

bool Engine::owned_target(const ResourceSlot& rs, const informer::Object& target) const {
  if (rs.res.role != VCP_ROLE_TO_HOST || rs.res.mapping == VCP_NAME_SAME) return true;
  // vcluster's IsManaged: the managed-by label matches AND the name is the translation of the
  // object-name/object-namespace annotations. Anything else in the host namespace is not ours.
  if (target.managed_by().empty() || target.owner_name().empty()) return false;
  if (rs.res.mapping == VCP_NAME_CLUSTER) {
    return target.managed_by() == naming::cluster_marker(settings_.host_namespace, settings_.vcluster_name) &&
           target.name() == naming::physical_name_cluster_scoped(
                                target.owner_name(), settings_.host_namespace, settings_.vcluster_name);
  }
  if (target.managed_by() != settings_.vcluster_name || target.namespace_() != settings_.host_namespace)
    return false;
  return target.name() ==
         naming::physical_name(target.owner_name(), target.owner_namespace(), settings_.vcluster_name);
}

bool Engine::source_key_of_target(const ResourceSlot& rs, const informer::Object& target, std::string* ns,
                                  std::string* name) const {
  if (rs.res.role != VCP_ROLE_TO_HOST || rs.res.mapping == VCP_NAME_SAME) {
    *ns = target.namespace_();
    *name = target.name();
    return true;
  }
  if (target.owner_name().empty()) return false;
  *name = target.owner_name();
  *ns = rs.res.mapping == VCP_NAME_CLUSTER ? std::string() : std::string(target.owner_namespace());
  return true;
}

void Engine::process(const std::string& key) {
  auto* rc = new Reconcile;
  rc->key = key;
  // A key queued as urgent may find its target there by now, and the urgent keys may have just run out:
  // the hold is looked at again on every hand-out. (Plugin writes it held go out once it ends or runs out.)
  if (creates_target(key)) urgent_processing_.insert(key);
  update_hold();
  rc->started = std::chrono::steady_clock::now();
  if (!parse_work_key(key, &rc->p, &rc->r, &rc->ns, &rc->name) || rc->p >= plugins_.size() ||
      rc->r >= plugins_[rc->p]->resources.size()) {
    finish(rc, queue::Result::ok());
    return;
  }
  metrics_.reconciles++;
  auto& ps = *plugins_[rc->p];
  if (ps.inst->quarantined() || !ps.initialized) {
    finish(rc, queue::Result::ok());
    return;
  }
  auto& rs = ps.resources[rc->r];
  if (!rs.res.owned()) {
    if (rs.res.host_namespaces) {
      reconcile_watched(rc);
      return;
    }
    // A key of a watched resource: nothing to reconcile (plugins enqueue their own resources).
    finish(rc, queue::Result::ok());
    return;
  }
  rc->set_src(rs.source->get(rc->ns, rc->name));
  rc->tname = target_name(rs, rc->ns, rc->name);
  rc->tns = target_namespace(rs, rc->ns);
  rc->set_tgt(rs.target->get(rc->tns, rc->tname));
  if (rc->tgt && !owned_target(rs, *rc->tgt)) {
    // Never modify or delete a host object the syncer does not own, even when its name collides. Ask the
    // plugin first whether it wants a target at all: a host controller may have made one under our name
    // (the endpoints controller copies a Service's labels onto its Endpoints), which is no conflict.
    bool wanted = false;
    if (rc->src) {
      vcp_sync_args probe =
          sync_args(rc->ns, rc->name, rc->tns, rc->tname, rc->r, rc->src, rc->src_json, nullptr, {});
      vcp_buf ignored;
      ps.call_error.clear();
      wanted = ps.inst->call_sync(probe, &ignored) == VCP_OK;
      ps.end_call();
      quarantine_check(rc->p);
    }
    if (wanted) {
      metrics_.refusals++;
      std::string msg = "cannot sync " + rs.res.kind + " " + informer::make_key(rc->ns, rc->name) +
                        ": host " + rs.res.kind + " " + informer::make_key(rc->tns, rc->tname) +
                        " exists and is not managed by vcluster " + settings_.vcluster_name +
                        "; rename the virtual object or remove the host one";
      log().warn("{}", msg);
      emit_event(rs.source_side, rs, rc->ns, rc->name, "Warning", "SyncError", msg);
    }
    finish(rc, queue::Result::ok());
    return;
  }
  if (!rc->src) {
    if (!rc->tgt || rs.res.keep_on_delete) {
      finish(rc, queue::Result::ok());
      return;
    }
    vcp_sync_args args =
        sync_args(rc->ns, rc->name, rc->tns, rc->tname, rc->r, nullptr, {}, rc->tgt, rc->tgt_json);
    vcp_buf out;
    ps.call_error.clear();
    vcp_status st = ps.inst->call_delete(args, &out);
    ps.end_call();
    quarantine_check(rc->p);
    if (st == VCP_OK) {
      do_delete(rc, out.data);
    } else if (st == VCP_RETRY) {
      finish(rc, queue::Result::retry());
    } else {
      finish(rc, queue::Result::ok());
    }
    return;
  }
  if (rc->tgt && rs.recreate_on_uid) {
    const std::string_view uid = rc->tgt->owner_uid();
    if (!uid.empty() && uid != rc->src->uid()) {
      if (rc->tgt->deleting) {
        finish(rc, queue::Result::requeue_after(std::chrono::seconds(1)));
      } else {
        log().info("host {} {} belongs to an earlier {} of that name; deleting it", rs.res.kind, rc->tname,
                   rs.res.kind);
        do_delete(rc, "");
      }
      return;
    }
  }
  step_forward(rc);
}

void Engine::reconcile_watched(Reconcile* rc) {
  // ABI 1.4, VCP_RES_HOST_NAMESPACES: on_sync with the host object (or nothing, once it is gone) and no
  // target. The plugin's writes go through submit, so only the queue's verdict is the engine's business.
  auto& ps = *plugins_[rc->p];
  auto& rs = ps.resources[rc->r];
  informer::Informer* inf = rs.informer_of(VCP_SIDE_HOST, rc->ns);
  rc->set_src(inf ? inf->get(rc->ns, rc->name) : nullptr);
  rc->tns = rc->ns;
  rc->tname = rc->name;
  vcp_sync_args args =
      sync_args(rc->ns, rc->name, rc->tns, rc->tname, rc->r, rc->src, rc->src_json, nullptr, {});
  vcp_buf out;
  ps.call_error.clear();
  vcp_status st = ps.inst->call_sync(args, &out);
  ps.end_call();
  quarantine_check(rc->p);
  log().debug("sync watched {} {}: {}{}{}", rs.res.kind, informer::make_key(rc->ns, rc->name),
              vcp_status_name(st), ps.call_error.empty() ? "" : ": ", ps.call_error);
  if (st == VCP_RETRY) {
    finish(rc, queue::Result::retry());
    return;
  }
  if (st == VCP_WAIT) metrics_.waits++;
  finish(rc, queue::Result::ok());
}

void Engine::step_forward(Reconcile* rc) {
  auto& ps = *plugins_[rc->p];
  auto& rs = ps.resources[rc->r];
  vcp_sync_args args =
      sync_args(rc->ns, rc->name, rc->tns, rc->tname, rc->r, rc->src, rc->src_json, rc->tgt, rc->tgt_json);
  vcp_buf out;
  ps.call_error.clear();
  vcp_status st = ps.inst->call_sync(args, &out);
  ps.end_call();
  quarantine_check(rc->p);
  log().debug("sync {} {} (target {}): {}{}{}", rs.res.kind, informer::make_key(rc->ns, rc->name),
              rc->tgt ? "present" : "absent", vcp_status_name(st), ps.call_error.empty() ? "" : ": ",
              ps.call_error);
  switch (st) {
    case VCP_OK:
      break;
    case VCP_NO_CHANGE:
      step_back(rc);
      return;
    case VCP_SKIP:
      if (rc->tgt && !rs.res.keep_on_delete) {
        do_delete(rc, "");
      } else {
        finish(rc, queue::Result::ok());
      }
      return;
    case VCP_WAIT:
      metrics_.waits++;
      finish(rc, queue::Result::ok());
      return;
    case VCP_RETRY:
      log().debug("{} {}: retry: {}", rs.res.kind, informer::make_key(rc->ns, rc->name), ps.call_error);
      finish(rc, queue::Result::retry());
      return;
    case VCP_REFUSED: {
      metrics_.refusals++;
      std::string msg =
          ps.call_error.empty() ? "the " + ps.name + " plugin cannot translate this object" : ps.call_error;
      log().warn("{} {}: refused: {}", rs.res.kind, informer::make_key(rc->ns, rc->name), msg);
      emit_event(rs.source_side, rs, rc->ns, rc->name, "Warning", "SyncError", msg);
      finish(rc, queue::Result::ok());
      return;
    }
    default:
      finish(rc, queue::Result::ok());
      return;
  }
  // Fast path, taken when the plugin wrote the target's identity itself (the usual case): compare and send
  // the plugin's text as it is, without building trees (they were 40% of a burst's CPU).
  kube::Client* cl = client(rs.target_side);
  std::weak_ptr<bool> alive = alive_;
  json::Meta dm;
  const bool identity_ok = json::peek_meta(out.data, &dm) && dm.name == rc->tname && dm.namespace_ == rc->tns;
  if (identity_ok && rc->tgt && json::same(out.data, rc->tgt_json, {"kind", "apiVersion"})) {
    metrics_.no_change++;
    step_back(rc);
    return;
  }
  std::string body;
  if (identity_ok && (!rc->tgt || dm.resource_version == rc->tgt->resource_version())) {
    body = std::move(out.data);
  } else {
    std::string err;
    auto desired = json::parse(out.data, &err);
    if (!desired || !desired->is_object()) {
      metrics_.refusals++;
      log().error("plugin {} produced a {} that is not a JSON object ({}); not writing it", ps.name,
                  rs.res.kind, err);
      finish(rc, queue::Result::retry());
      return;
    }
    // The target's identity is the engine's: a plugin cannot write outside the vcluster's namespace.
    json::Value& meta = desired->ensure({"metadata"});
    meta["name"] = rc->tname;
    if (!rc->tns.empty()) {
      meta["namespace"] = rc->tns;
    } else {
      meta.erase("namespace");
    }
    if (rc->tgt) {
      auto current = json::parse(rc->tgt_json);
      if (current && same_object(*desired, *current)) {
        metrics_.no_change++;
        step_back(rc);
        return;
      }
      if (const json::Value* rv = current ? current->at({"metadata", "resourceVersion"}) : nullptr)
        meta["resourceVersion"] = *rv;
    }
    body = json::dump(*desired);
  }
  if (!rc->tgt) {
    cl->create(rs.gvr, rc->tns, std::move(body), [this, alive, rc](kube::Result r) {
      if (alive.expired()) return;
      auto& rs2 = plugins_[rc->p]->resources[rc->r];
      if (r.ok()) {
        metrics_.creates++;
        rs2.target->observe_write(r.body);
        auto it = first_seen_.find(rc->key);
        if (it != first_seen_.end())
          metrics_.observe_latency(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count());
        finish(rc, queue::Result::ok());
      } else if (r.already_exists()) {
        // Either our cache lags the server (then the watch brings the object and the key again), or a
        // host object we do not own holds the name: the target informer only sees objects carrying our
        // managed-by label, so ask the server whose it is.
        metrics_.conflicts++;
        check_foreign(rc);
      } else {
        log().warn("create {} {} {}: {}", side_name(rs2.target_side), rs2.res.kind, rc->tname, r.err.message);
        if (r.status == 422 || r.status == 400 || r.status == 403) {
          emit_event(rs2.source_side, rs2, rc->ns, rc->name, "Warning", "SyncError",
                     "creating " + rs2.res.kind + " " + rc->tname + " failed: " + r.err.message);
        }
        finish(rc, r.retry_after.count() > 0 ? queue::Result::requeue_after(r.retry_after)
                                             : queue::Result::retry());
      }
    });
    return;
  }
  cl->update(rs.gvr, rc->tns, rc->tname, std::move(body), [this, alive, rc](kube::Result r) {
    if (alive.expired()) return;
    auto& rs2 = plugins_[rc->p]->resources[rc->r];
    if (r.ok()) {
      metrics_.updates++;
      rs2.target->observe_write(r.body);
      finish(rc, queue::Result::ok());
    } else if (r.conflict() || r.not_found()) {
      metrics_.conflicts++;
      finish(rc, queue::Result::retry());
    } else {
      log().warn("update {} {} {}: {}", rs2.target_side == VCP_SIDE_HOST ? "host" : "virtual", rs2.res.kind,
                 rc->tname, r.err.message);
      finish(rc, r.retry_after.count() > 0 ? queue::Result::requeue_after(r.retry_after)
                                           : queue::Result::retry());
    }
  });
}

void Engine::check_foreign(Reconcile* rc) {
  auto& rs = plugins_[rc->p]->resources[rc->r];
  std::weak_ptr<bool> alive = alive_;
  client(rs.target_side)->get(rs.gvr, rc->tns, rc->tname, [this, alive, rc](kube::Result r) {
    if (alive.expired()) return;
    auto& rs2 = plugins_[rc->p]->resources[rc->r];
    auto o = r.ok() ? informer::make_object(r.body) : nullptr;
    if (o && !owned_target(rs2, *o)) {
      metrics_.refusals++;
      std::string msg = "cannot sync " + rs2.res.kind + " " + informer::make_key(rc->ns, rc->name) +
                        ": host " + rs2.res.kind + " " + informer::make_key(rc->tns, rc->tname) +
                        " exists and is not managed by vcluster " + settings_.vcluster_name +
                        "; rename the virtual object or remove the host one";
      log().warn("{}", msg);
      emit_event(rs2.source_side, rs2, rc->ns, rc->name, "Warning", "SyncError", msg);
      finish(rc, queue::Result::ok());
      return;
    }
    finish(rc, queue::Result::requeue_after(std::chrono::milliseconds(500)));
  });
}

void Engine::step_back(Reconcile* rc) {
  auto& ps = *plugins_[rc->p];
  auto& rs = ps.resources[rc->r];
  if (!rc->tgt || !ps.inst->plugin().descriptor->on_back_sync) {
    finish(rc, queue::Result::ok());
    return;
  }
  vcp_sync_args args =
      sync_args(rc->ns, rc->name, rc->tns, rc->tname, rc->r, rc->src, rc->src_json, rc->tgt, rc->tgt_json);
  vcp_buf out;
  ps.call_error.clear();
  vcp_status st = ps.inst->call_back_sync(args, &out);
  ps.end_call();
  quarantine_check(rc->p);
  log().debug("back-sync {} {}: {}", rs.res.kind, informer::make_key(rc->ns, rc->name), vcp_status_name(st));
  if (st == VCP_RETRY) {
    finish(rc, queue::Result::retry());
    return;
  }
  if (st != VCP_OK) {
    finish(rc, queue::Result::ok());
    return;
  }
  // As in step_forward: compare the texts, and send the plugin's text when it carries the source's identity
  // and resourceVersion; build trees only when the engine must fix those.
  if (json::same(out.data, rc->src_json, {"kind", "apiVersion"})) {
    metrics_.no_change++;
    finish(rc, queue::Result::ok());
    return;
  }
  json::Meta um;
  bool status_only = false;
  std::string body;
  if (json::peek_meta(out.data, &um) && um.name == rc->name && um.namespace_ == rc->ns &&
      um.resource_version == rc->src->resource_version()) {
    status_only = rs.res.has_status && json::same(out.data, rc->src_json, {"kind", "apiVersion", "status"});
    body = std::move(out.data);
  } else {
    auto updated = json::parse(out.data);
    auto current = json::parse(rc->src_json);
    if (!updated || !updated->is_object() || !current) {
      log().error("plugin {} back-synced a {} that is not a JSON object; not writing it", ps.name,
                  rs.res.kind);
      finish(rc, queue::Result::ok());
      return;
    }
    json::Value& meta = updated->ensure({"metadata"});
    meta["name"] = rc->name;
    if (!rc->ns.empty()) meta["namespace"] = rc->ns;
    if (const json::Value* rv = current->at({"metadata", "resourceVersion"})) meta["resourceVersion"] = *rv;
    status_only = rs.res.has_status && same_without_status(*updated, *current);
    body = json::dump(*updated);
  }
  std::string sub = status_only ? "status" : "";
  std::weak_ptr<bool> alive = alive_;
  client(rs.source_side)
      ->update(
          rs.gvr, rc->ns, rc->name, std::move(body),
          [this, alive, rc, status_only](kube::Result r) {
            if (alive.expired()) return;
            auto& rs2 = plugins_[rc->p]->resources[rc->r];
            if (r.ok()) {
              if (status_only) {
                metrics_.status_updates++;
              } else {
                metrics_.updates++;
              }
              rs2.source->observe_write(r.body);
              finish(rc, queue::Result::ok());
            } else if (r.conflict() || r.not_found()) {
              metrics_.conflicts++;
              finish(rc, queue::Result::retry());
            } else {
              log().warn("back-sync {} {}: {}", rs2.res.kind, informer::make_key(rc->ns, rc->name),
                         r.err.message);
              finish(rc, queue::Result::retry());
            }
          },
          sub);
}

void Engine::do_delete(Reconcile* rc, const std::string& options) {
  auto& rs = plugins_[rc->p]->resources[rc->r];
  if (rc->tgt && rc->tgt->deleting && options.empty()) {
    // Already being deleted with its own grace period; the DELETED event will come.
    finish(rc, queue::Result::ok());
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  std::string body = options;
  if (body.empty() && rc->tgt && !rc->tgt->uid().empty())
    body = R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":")" +
           std::string(rc->tgt->uid()) + "\"}}";
  client(rs.target_side)->remove(rs.gvr, rc->tns, rc->tname, body, [this, alive, rc](kube::Result r) {
    if (alive.expired()) return;
    auto& rs2 = plugins_[rc->p]->resources[rc->r];
    // A graceful delete answers with the object, now terminating; an immediate one with the object or a
    // Status. The watch confirms either way; record what we know now.
    rs2.target->observe_delete_answer(rc->tns, rc->tname, r.status, r.body);
    if (r.ok()) {
      metrics_.deletes++;
      finish(rc, queue::Result::ok());
    } else if (r.not_found()) {
      finish(rc, queue::Result::ok());
    } else if (r.conflict() || r.status == 409) {
      finish(rc, queue::Result::retry());
    } else {
      log().warn("delete {} {}: {}", rs2.res.kind, rc->tname, r.err.message);
      finish(rc, queue::Result::retry());
    }
  });
}

void Engine::finish(Reconcile* rc, queue::Result result) {
  if (result.kind == queue::Result::Kind::kOk) first_seen_.erase(rc->key);
  if (result.kind == queue::Result::Kind::kRetry) metrics_.retries++;
  if (queue_) queue_->done(rc->key, result);
  if (urgent_processing_.erase(rc->key) != 0) update_hold();
  delete rc;
}

void Engine::wire_projections() {
  struct Use {
    size_t p, r;
    vcp_side side;
  };
  std::unordered_map<informer::Informer*, std::vector<Use>> uses;
  for (auto& ps : plugins_)
    for (size_t r = 0; r < ps->resources.size(); r++) {
      auto& rs = ps->resources[r];
      if (rs.source) uses[rs.source].push_back({ps->index, r, rs.source_side});
      if (rs.target) uses[rs.target].push_back({ps->index, r, rs.target_side});
      for (auto& [ns, inf] : rs.by_namespace) uses[inf].push_back({ps->index, r, VCP_SIDE_HOST});
    }
  for (auto& [inf, u] : uses) {
    // A shared cache keeps objects whole: what one plugin never reads, another may.
    if (u.size() != 1) continue;
    auto& ps = *plugins_[u[0].p];
    if (!ps.initialized || !ps.inst->has_cache_hook()) continue;
    inf->set_projection([this, use = u[0]](const informer::Object& full, std::string* out) {
      return project(use.p, use.r, use.side, full, out);
    });
  }
}

bool Engine::project(size_t p, size_t r, vcp_side side, const informer::Object& full, std::string* out) {
  auto& ps = *plugins_[p];
  if (ps.inst->quarantined()) return false;
  std::string scratch;
  vcp_buf buf;
  vcp_status st =
      ps.inst->call_cache(side, static_cast<uint32_t>(r), plugin::as_vcp_str(full.json(&scratch)), &buf);
  ps.end_call();
  quarantine_check(p);
  if (st != VCP_OK) return false;
  json::Meta m;
  if (!json::peek_meta(buf.data, &m) || m.name != full.name() || m.namespace_ != full.namespace_() ||
      m.uid != full.uid() || m.resource_version != full.resource_version() || !json::parse(buf.data)) {
    if (!ps.cache_refusal_logged) {
      ps.cache_refusal_logged = true;
      log().warn(
          "plugin {}: on_cache wrote a text for {} {} that is not JSON with the object's name, namespace, "
          "uid and resourceVersion; the engine caches such objects whole (logged once)",
          ps.name, ps.resources[r].res.resource, full.key());
    }
    return false;
  }
  *out = std::move(buf.data);
  return true;
}

void Engine::quarantine_check(size_t p) {
  auto& ps = *plugins_[p];
  if (ps.inst->quarantined() && !ps.quarantine_logged) {
    ps.quarantine_logged = true;
    log().error("plugin {} is quarantined: {}; its resources stop syncing, everything else goes on", ps.name,
                ps.inst->quarantine_reason());
  }
}

std::vector<std::pair<std::string, std::string>> Engine::quarantined() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& ps : plugins_)
    if (ps->inst->quarantined()) out.emplace_back(ps->name, ps->inst->quarantine_reason());
  return out;
}

std::vector<Engine::InformerInfo> Engine::informers() const {
  std::vector<InformerInfo> out;
  for (auto& [id, inf] : informers_)
    out.push_back({id.substr(0, id.find('|')), inf->gvr().id(), inf->size(), inf->bytes(), inf->json_bytes(),
                   inf->dict_bytes()});
  return out;
}

void Engine::emit_event(vcp_side side, const ResourceSlot& rs, const std::string& ns, const std::string& name,
                        const std::string& type, const std::string& reason, const std::string& message) {
  informer::Informer* inf = side == rs.source_side ? rs.source : rs.target;
  ObjectPtr obj = inf ? inf->get(ns, name) : nullptr;
  std::string ev_ns = ns.empty() ? "default" : ns;
  json::Value ev = json::Value::object();
  ev["apiVersion"] = "v1";
  ev["kind"] = "Event";
  ev["metadata"]["generateName"] = name + ".";
  ev["metadata"]["namespace"] = ev_ns;
  json::Value& io = ev["involvedObject"];
  io["apiVersion"] = rs.gvr.api_version();
  io["kind"] = rs.res.kind;
  io["name"] = name;
  if (!ns.empty()) io["namespace"] = ns;
  if (obj) {
    io["uid"] = obj->uid();
    io["resourceVersion"] = obj->resource_version();
  }
  ev["reason"] = reason;
  ev["message"] = message;
  ev["type"] = type;
  ev["source"]["component"] = "vcluster-syncer";
  std::string now = rfc3339_now();
  ev["firstTimestamp"] = now;
  ev["lastTimestamp"] = now;
  ev["count"] = 1;
  metrics_.events_emitted++;
  client(side)->create(kube::GVR{"", "v1", "events", true, "Event"}, ev_ns, json::dump(ev),
                       [](kube::Result r) {
                         if (!r.ok()) log().debug("recording an event failed: {}", r.err.message);
                       });
}

void Engine::stop(std::function<void()> done) {
  stopping_ = true;
  auto remaining = std::make_shared<size_t>(informers_.size() + 1);
  auto finish_one = [remaining, done = std::move(done)]() {
    if (--*remaining == 0 && done) done();
  };
  for (auto& [id, inf] : informers_) inf->stop(finish_one);
  if (queue_) {
    queue_->close(finish_one);
  } else {
    finish_one();
  }
}

}  // namespace vc::engine
