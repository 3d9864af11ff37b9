#include "translate.hpp"

#include <algorithm>
#include <set>
#include <string_view>

#include "../nodes/selector.hpp"
#include "refs.hpp"

namespace vcp_pods {

using vc::json::Value;

namespace {

constexpr std::string_view kManagedBy = "vcluster.loft.sh/managed-by";
constexpr std::string_view kNamespaceLabel = "vcluster.loft.sh/namespace";
constexpr std::string_view kControlledBy = "vcluster.loft.sh/controlled-by";
constexpr std::string_view kManagedAnnotations = "vcluster.loft.sh/managed-annotations";
constexpr std::string_view kObjectName = "vcluster.loft.sh/object-name";
constexpr std::string_view kObjectNamespace = "vcluster.loft.sh/object-namespace";
constexpr std::string_view kObjectUid = "vcluster.loft.sh/object-uid";
constexpr std::string_view kPodName = "vcluster.loft.sh/name";
constexpr std::string_view kPodNamespace = "vcluster.loft.sh/namespace";
constexpr std::string_view kPodUid = "vcluster.loft.sh/uid";
constexpr std::string_view kPodSA = "vcluster.loft.sh/service-account-name";
constexpr std::string_view kPodLabels = "vcluster.loft.sh/labels";
constexpr std::string_view kOwnerSetKind = "vcluster.loft.sh/owner-set-kind";
constexpr std::string_view kSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict";
constexpr std::string_view kDaemonSetPod = "cluster-autoscaler.kubernetes.io/daemonset-pod";
constexpr std::string_view kHostsRewritten = "vcluster.loft.sh/hosts-rewritten";

std::string str_of(const Value& v, std::string_view key) {
  return std::string(field(v, key).string_or(""));
}

bool parse_bool(const std::optional<std::string>& v, bool fallback) {
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return fallback;
}

// Annotations the generic merge never copies from the virtual object: the bookkeeping keys of §2.1, and for
// pods the §3.1 keys the translator computes itself (a tenant must not be able to forge them).
bool excluded_annotation(std::string_view k, bool pod) {
  if (k == kManagedAnnotations || k == "vcluster.loft.sh/managed-labels" || k == kObjectName ||
      k == kObjectUid || k == kObjectNamespace) {
    return true;
  }
  if (!pod) return false;
  return k == kPodName || k == kPodNamespace || k == kPodUid || k == kPodSA || k == kPodLabels ||
         k == kOwnerSetKind || k == kSafeToEvict || k == kDaemonSetPod || k == kHostsRewritten ||
         k.starts_with("vcluster.loft.sh/token-");
}

// The §3.1 labels annotation: sorted `key=<json.Marshal(value)>` lines. Go's sort.Strings orders whole
// lines, which differs from key order when one key is a prefix of another, so whole lines are sorted.
std::string labels_annotation(const Value& labels) {
  std::vector<std::string> lines;
  for (const auto& [k, v] : labels.members()) {
    std::string line = k + "=";
    vc::json::quote_to(line, v.string_or(""), vc::json::DumpOptions{.escape_html = true});
    lines.push_back(std::move(line));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (size_t i = 0; i < lines.size(); i++) {
    if (i > 0) out += '\n';
    out += lines[i];
  }
  return out;
}

// Rewrites a downward-API field path so that it reads the host pod's copy of the virtual value (§3.4):
// the host pod's own name, namespace and uid are the translated ones, so the virtual values are read from
// the annotations the translator writes.
std::string rewrite_field_path(const Host& host, std::string_view path) {
  if (path == "metadata.name") return "metadata.annotations['" + std::string(kPodName) + "']";
  if (path == "metadata.namespace") return "metadata.annotations['" + std::string(kPodNamespace) + "']";
  if (path == "metadata.uid") return "metadata.annotations['" + std::string(kPodUid) + "']";
  if (path == "spec.serviceAccountName") return "metadata.annotations['" + std::string(kPodSA) + "']";
  if (path == "metadata.labels") return "metadata.annotations['" + std::string(kPodLabels) + "']";
  constexpr std::string_view prefix = "metadata.labels['";
  if (path.starts_with(prefix) && path.ends_with("']")) {
    std::string_view key = path.substr(prefix.size(), path.size() - prefix.size() - 2);
    return std::string(prefix) + host.label_key(key) + "']";
  }
  return std::string(path);
}

void rewrite_field_ref(const Host& host, Value& holder) {
  if (Value* fr = holder.find("fieldRef")) {
    if (Value* fp = fr->find("fieldPath"); fp && fp->is_string())
      *fp = rewrite_field_path(host, fp->as_string());
  }
}

void rewrite_downward_items(const Host& host, Value& downward) {
  if (Value* items = downward.find("items"); items && items->is_array()) {
    for (Value& it : *items->array_ptr()) rewrite_field_ref(host, it);
  }
}

// Replaces the string at obj[key] by its host name, when it is a non-empty string.
void rename(const Host& host, const std::string& vns, Value* obj, std::string_view key) {
  if (obj == nullptr) return;
  if (Value* n = obj->find(key); n && n->is_string() && !n->as_string().empty())
    *n = host.name(vns, n->as_string());
}

Value selector_translated(const Host& host, const Value& sel) {
  Value out = sel;
  if (const Value* ml = sel.find("matchLabels"); ml && ml->is_object()) {
    Value labels = Value::object();
    for (const auto& [k, v] : ml->members()) labels[host.label_key(k)] = v;
    out["matchLabels"] = std::move(labels);
  }
  if (Value* me = out.find("matchExpressions"); me && me->is_array()) {
    for (Value& e : *me->array_ptr()) {
      if (Value* k = e.find("key"); k && k->is_string()) *k = host.label_key(k->as_string());
    }
  }
  return out;
}

// §3.6: a pod (anti-)affinity term selects pods by their host labels, so its selector is translated and
// pinned to this vcluster (managed-by) and to the namespaces the virtual term meant.
void translate_affinity_term(const Host& host, const std::string& vns, Value& term) {
  Value sel = selector_translated(
      host, field(term, "labelSelector").is_object() ? field(term, "labelSelector") : Value::object());
  const Value& nss = field(term, "namespaces");
  const Value* nsel = term.find("namespaceSelector");
  if (!nss.empty()) {
    Value expr = Value::object();
    expr["key"] = kNamespaceLabel;
    expr["operator"] = "In";
    expr["values"] = nss;
    sel["matchExpressions"].push_back(std::move(expr));
  } else if (nsel != nullptr && nsel->is_object()) {
    // Namespace labels are copied onto pods under ns-label keys, so a namespace selector becomes a pod
    // selector over those keys.
    for (const auto& [k, v] : field(*nsel, "matchLabels").members()) {
      std::string nk = ns_label_key(host, k);
      if (!nk.empty()) sel["matchLabels"][nk] = v;
    }
    for (const Value& e : field(*nsel, "matchExpressions").items()) {
      Value ne = e;
      std::string nk = ns_label_key(host, field(e, "key").string_or(""));
      if (nk.empty()) continue;
      ne["key"] = nk;
      sel["matchExpressions"].push_back(std::move(ne));
    }
  } else {
    sel["matchLabels"][kNamespaceLabel] = vns;
  }
  sel["matchLabels"][kManagedBy] = host.cluster_name();
  term["labelSelector"] = std::move(sel);
  term.erase("namespaces");
  term.erase("namespaceSelector");
}

void translate_affinity(const Host& host, const std::string& vns, Value& spec) {
  Value* aff = spec.find("affinity");
  if (aff == nullptr) return;
  for (std::string_view kind : {"podAffinity", "podAntiAffinity"}) {
    Value* pa = aff->find(kind);
    if (pa == nullptr) continue;
    if (Value* req = pa->find("requiredDuringSchedulingIgnoredDuringExecution"); req && req->is_array()) {
      for (Value& t : *req->array_ptr()) translate_affinity_term(host, vns, t);
    }
    if (Value* pref = pa->find("preferredDuringSchedulingIgnoredDuringExecution"); pref && pref->is_array()) {
      for (Value& w : *pref->array_ptr()) {
        if (Value* t = w.find("podAffinityTerm")) translate_affinity_term(host, vns, *t);
      }
    }
  }
}

void translate_topology_spread(const Host& host, const std::string& vns, Value& spec) {
  Value* tsc = spec.find("topologySpreadConstraints");
  if (tsc == nullptr || !tsc->is_array()) return;
  for (Value& c : *tsc->array_ptr()) {
    Value* sel = c.find("labelSelector");
    if (sel == nullptr || !sel->is_object()) continue;
    Value t = selector_translated(host, *sel);
    t["matchLabels"][kNamespaceLabel] = vns;
    t["matchLabels"][kManagedBy] = host.cluster_name();
    *sel = std::move(t);
  }
}

// §3.2: sync.nodes.nodeSelector restricts the host scheduler to the nodes the virtual cluster shows. Its
// `k=v` pairs are merged into spec.nodeSelector and win over the pod's own, as vcluster's enforced selector
// does. The other terms (vcluster accepts none; the nodes plugin does) must hold too: node-affinity terms
// are ORed, so they are appended to every required term, or form the only one.
void add_node_selector(const Config& cfg, Value& spec) {
  for (const auto& [k, v] : cfg.node_selector.members()) spec["nodeSelector"][k] = v;
  if (cfg.node_selector_expressions.empty()) return;
  Value& required = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
  Value& terms = required["nodeSelectorTerms"];
  if (!terms.is_array() || terms.empty()) {
    terms = Value::array();
    terms.push_back(Value::object());
  }
  for (Value& t : *terms.array_ptr()) {
    Value& exprs = t["matchExpressions"];
    if (!exprs.is_array()) exprs = Value::array();
    for (const Value& e : cfg.node_selector_expressions.items()) exprs.push_back(e);
  }
}

std::string translated_image(const Config& cfg, const std::string& image) {
  for (const auto& [from, to] : cfg.translate_images) {
    if (from == image) return to;
  }
  return image;
}

// The KUBERNETES_* variables the kubelet would derive from the virtual cluster's kubernetes Service
// (§3.4). They point at the vcluster's host Service, whose ClusterIP the virtual Service also carries.
std::vector<std::pair<std::string, std::string>> kubernetes_env(const std::string& ip) {
  std::vector<std::pair<std::string, std::string>> env = {
      {"KUBERNETES_PORT", "tcp://" + ip + ":443"}, {"KUBERNETES_PORT_443_TCP", "tcp://" + ip + ":443"},
      {"KUBERNETES_PORT_443_TCP_ADDR", ip},        {"KUBERNETES_PORT_443_TCP_PORT", "443"},
      {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},    {"KUBERNETES_SERVICE_HOST", ip},
      {"KUBERNETES_SERVICE_PORT", "443"},          {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
  };
  std::sort(env.begin(), env.end());
  return env;
}

void translate_container(const Host& host, const Config& cfg, const std::string& vns,
                         const std::string& kube_ip, Value& c) {
  if (Value* img = c.find("image"); img && img->is_string()) *img = translated_image(cfg, img->as_string());
  Value env = Value::array();
  std::set<std::string> defined;
  for (const Value& e : field(c, "env").items()) defined.insert(str_of(e, "name"));
  for (const auto& [name, value] : kubernetes_env(kube_ip)) {
    if (defined.count(name)) continue;
    Value e = Value::object();
    e["name"] = name;
    e["value"] = value;
    env.push_back(std::move(e));
  }
  for (const Value& orig : field(c, "env").items()) {
    Value e = orig;
    if (Value* from = e.find("valueFrom")) {
      rename(host, vns, from->find("configMapKeyRef"), "name");
      rename(host, vns, from->find("secretKeyRef"), "name");
      rewrite_field_ref(host, *from);
    }
    env.push_back(std::move(e));
  }
  c["env"] = std::move(env);
  if (Value* ef = c.find("envFrom"); ef && ef->is_array()) {
    for (Value& e : *ef->array_ptr()) {
      rename(host, vns, e.find("configMapRef"), "name");
      rename(host, vns, e.find("secretRef"), "name");
    }
  }
}

// Volumes (§3.5). Returns false with a sentence for a volume the host pod cannot carry.
bool translate_volumes(const Host& host, const PodFacts& facts, const std::string& vns,
                       const std::string& vname, Value& spec, std::string* why) {
  Value* vols = spec.find("volumes");
  if (vols == nullptr || !vols->is_array()) return true;
  size_t token_ordinal = 0;  // serviceAccountToken sources, numbered across volumes as token_sources does
  for (size_t i = 0; i < vols->size(); i++) {
    Value& v = (*vols->array_ptr())[i];
    std::string where = "spec.volumes[" + std::to_string(i) + "] (" + str_of(v, "name") + ")";
    if (Value* cm = v.find("configMap")) {
      if (str_of(*cm, "name").empty()) {
        *why = where + ".configMap.name is empty, so the ConfigMap it mounts cannot be found";
        return false;
      }
      rename(host, vns, cm, "name");
    }
    if (Value* s = v.find("secret")) {
      if (str_of(*s, "secretName").empty()) {
        *why = where + ".secret.secretName is empty, so the Secret it mounts cannot be found";
        return false;
      }
      rename(host, vns, s, "secretName");
    }
    rename(host, vns, v.find("persistentVolumeClaim"), "claimName");
    if (Value* dw = v.find("downwardAPI")) rewrite_downward_items(host, *dw);
    if (v.find("ephemeral") != nullptr) {
      // The virtual controller manager creates the claim <pod>-<volume> for a generic ephemeral volume;
      // the claims syncer copies it to the host, so the host pod mounts that copy.
      Value pvc = Value::object();
      pvc["claimName"] = host.name(vns, vname + "-" + str_of(v, "name"));
      v.erase("ephemeral");
      v["persistentVolumeClaim"] = std::move(pvc);
    }
    for (std::string_view t : {"iscsi", "rbd", "flexVolume", "cinder", "cephfs", "scaleIO", "storageos"}) {
      if (Value* vol = v.find(t)) rename(host, vns, vol->find("secretRef"), "name");
    }
    if (Value* csi = v.find("csi")) rename(host, vns, csi->find("nodePublishSecretRef"), "name");
    rename(host, vns, v.find("azureFile"), "secretName");
    if (Value* g = v.find("glusterfs")) rename(host, vns, g, "endpoints");
    if (Value* proj = v.find("projected")) {
      Value* sources = proj->find("sources");
      if (sources == nullptr || !sources->is_array()) continue;
      for (Value& s : *sources->array_ptr()) {
        rename(host, vns, s.find("configMap"), "name");
        rename(host, vns, s.find("secret"), "name");
        if (Value* dw = s.find("downwardAPI")) rewrite_downward_items(host, *dw);
        if (const Value* tok = s.find("serviceAccountToken")) {
          // The host pod must not authenticate to the host API server with a host token; it gets the
          // virtual service account's token, kept in a host token Secret the plugin wrote before the pod.
          if (facts.token_secret.empty()) {
            *why = where + ".projected serviceAccountToken has no token Secret prepared";
            return false;
          }
          // The same numbering as token_sources: across all volumes, in order.
          std::string key = facts.token_key_prefix + std::to_string(token_ordinal++);
          Value item = Value::object();
          item["key"] = key;
          item["path"] = str_of(*tok, "path");
          Value secret = Value::object();
          secret["name"] = facts.token_secret;
          secret["items"].push_back(std::move(item));
          Value src = Value::object();
          src["secret"] = std::move(secret);
          s = std::move(src);
        }
      }
    }
  }
  return true;
}

// `key[=value]:Effect` (vcluster's --enforce-toleration) → a toleration object.
bool parse_toleration(const std::string& text, Value* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) return false;
  std::string kv = text.substr(0, colon);
  Value t = Value::object();
  size_t eq = kv.find('=');
  if (eq == std::string::npos) {
    if (!kv.empty()) t["key"] = kv;
    t["operator"] = "Exists";
  } else {
    t["key"] = kv.substr(0, eq);
    t["operator"] = "Equal";
    t["value"] = kv.substr(eq + 1);
  }
  t["effect"] = text.substr(colon + 1);
  *out = std::move(t);
  return true;
}

}  // namespace

Config read_config(const Host& host) {
  Config cfg;
  cfg.pods_enabled = parse_bool(host.config("sync.pods.enabled"), true);
  cfg.host_service_account = host.config("sync.pods.hostServiceAccount").value_or("");
  cfg.all_configmaps = parse_bool(host.config("sync.configmaps.all"), false);
  cfg.all_secrets = parse_bool(host.config("sync.secrets.all"), false);
  if (auto raw = host.config("sync.pods.translateImages"); raw && !raw->empty()) {
    auto list = vc::json::parse(*raw);
    if (!list || !list->is_array()) {
      cfg.error = "sync.pods.translateImages is not a list of strings";
    } else {
      for (const Value& item : list->items()) {
        const std::string& s = item.as_string();
        size_t eq = s.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
          cfg.error = "sync.pods.translateImages entry \"" + s + "\" is not of the form from=to";
          break;
        }
        cfg.translate_images.emplace_back(s.substr(0, eq), s.substr(eq + 1));
      }
    }
  }
  if (auto raw = host.config("sync.pods.enforceTolerations"); raw && !raw->empty()) {
    auto list = vc::json::parse(*raw);
    if (!list || !list->is_array()) {
      cfg.error = "sync.pods.enforceTolerations is not a list of strings";
    } else {
      for (const Value& item : list->items()) {
        Value t;
        if (!parse_toleration(item.as_string(), &t)) {
          cfg.error = "sync.pods.enforceTolerations entry \"" + item.as_string() +
                      "\" is not of the form key[=value]:Effect";
          break;
        }
        cfg.enforce_tolerations.push_back(std::move(t));
      }
    }
  }
  if (parse_bool(host.config("isolation.enabled"), false)) {
    const std::string level = host.config("isolation.podSecurityStandard").value_or("baseline");
    cfg.pod_security = parse_pss_level(level.empty() ? "baseline" : level);
    if (!cfg.pod_security) {
      cfg.error = "isolation.podSecurityStandard \"" + level + "\" is not privileged, baseline or restricted";
    }
  }
  cfg.real_nodes = parse_bool(host.config("sync.nodes.enabled"), false);
  cfg.enable_scheduler = parse_bool(host.config("sync.nodes.enableScheduler"), false);
  if (auto raw = host.config("sync.nodes.nodeSelector"); raw && !raw->empty()) {
    // The nodes plugin's own parser: it refuses to start on a selector it cannot parse, so an error here
    // means the two disagree, which is reported rather than ignored.
    vcp_nodes::Selector sel;
    std::string why;
    if (!vcp_nodes::parse_selector(*raw, &sel, &why)) {
      cfg.error = "sync.nodes.nodeSelector: " + why;
    } else {
      using Op = vcp_nodes::Requirement::Op;
      for (const vcp_nodes::Requirement& r : sel.requirements) {
        if (r.op == Op::kEquals) {
          cfg.node_selector[r.key] = r.values.front();
          continue;
        }
        // Node affinity's NotIn and DoesNotExist match nodes without the key, as `k!=v` and `!k` do.
        Value e = Value::object();
        e["key"] = r.key;
        e["operator"] = r.op == Op::kIn          ? "In"
                        : r.op == Op::kNotIn     ? "NotIn"
                        : r.op == Op::kNotEquals ? "NotIn"
                        : r.op == Op::kExists    ? "Exists"
                                                 : "DoesNotExist";
        if (!r.values.empty()) {
          Value vals = Value::array();
          for (const std::string& v : r.values) vals.push_back(v);
          e["values"] = std::move(vals);
        }
        cfg.node_selector_expressions.push_back(std::move(e));
      }
    }
  }
  return cfg;
}

std::vector<TokenSource> token_sources(const Value& pod, const std::string& cluster_domain) {
  std::vector<TokenSource> out;
  size_t ordinal = 0;
  for (const Value& v : field(field(pod, "spec"), "volumes").items()) {
    for (const Value& s : field(field(v, "projected"), "sources").items()) {
      const Value* tok = s.find("serviceAccountToken");
      if (tok == nullptr) continue;
      TokenSource ts;
      ts.key = std::to_string(ordinal++);
      ts.audiences = Value::array();
      if (std::string aud = str_of(*tok, "audience"); !aud.empty()) {
        ts.audiences.push_back(aud);
      } else {
        // The API server's default audiences, as vcluster requests them (§3.3).
        ts.audiences.push_back("https://kubernetes.default.svc." + cluster_domain);
        ts.audiences.push_back("https://kubernetes.default.svc");
        ts.audiences.push_back("https://kubernetes.default");
      }
      out.push_back(std::move(ts));
    }
  }
  return out;
}

std::string ns_label_key(const Host& host, std::string_view key) {
  return host.label_key_prefixed("vcluster.loft.sh/ns-label", key);
}

std::string pod_hostname(std::string_view vname) {
  std::string h(vname.substr(0, 63));
  std::replace(h.begin(), h.end(), '.', '-');
  if (!h.empty() && h.back() == '-') h.pop_back();
  return h;
}

Value translate_labels(const Host& host, const Value& vobj, const Value* ns_labels, const Value* keep_from) {
  Value out = Value::object();
  for (const auto& [k, v] : field(field(vobj, "metadata"), "labels").members()) out[host.label_key(k)] = v;
  if (ns_labels != nullptr) {
    for (const auto& [k, v] : ns_labels->members()) {
      std::string nk = ns_label_key(host, k);
      if (!nk.empty()) out[nk] = v;
    }
  }
  if (keep_from != nullptr) {
    if (const Value* cb = keep_from->find(kControlledBy)) out[kControlledBy] = *cb;
  }
  out[kManagedBy] = host.cluster_name();
  out[kNamespaceLabel] = str_of(field(vobj, "metadata"), "namespace");
  return out;
}

Value translate_annotations(const Value& vobj, const Value* current, bool pod) {
  const Value& meta = field(vobj, "metadata");
  const Value& from = field(meta, "annotations");
  Value out = Value::object();
  std::vector<std::string> managed;
  for (const auto& [k, v] : from.members()) {
    if (excluded_annotation(k, pod)) continue;
    out[k] = v;
    managed.push_back(k);
  }
  if (current != nullptr) {
    std::set<std::string> previously;
    std::string_view list = field(*current, kManagedAnnotations).string_or("");
    while (!list.empty()) {
      size_t nl = list.find('\n');
      previously.insert(std::string(list.substr(0, nl)));
      list = nl == std::string_view::npos ? std::string_view() : list.substr(nl + 1);
    }
    for (const auto& [k, v] : current->members()) {
      if (excluded_annotation(k, pod)) {
        // Host-set values of bookkeeping keys are kept; the translator overwrites its own below.
        if (!v.string_or("").empty() && !out.contains(k)) out[k] = v;
        continue;
      }
      if (out.contains(k) || previously.count(k)) continue;  // virtual wins, or a removal propagates
      out[k] = v;                                            // host-only annotations survive
    }
  }
  std::sort(managed.begin(), managed.end());
  if (managed.empty()) {
    out.erase(kManagedAnnotations);
  } else {
    std::string joined;
    for (size_t i = 0; i < managed.size(); i++) joined += (i ? "\n" : "") + managed[i];
    out[kManagedAnnotations] = joined;
  }
  out[kObjectName] = str_of(meta, "name");
  out[kObjectUid] = str_of(meta, "uid");
  out[kObjectNamespace] = str_of(meta, "namespace");
  if (!pod) return out;

  // §3.1: a value already on the virtual pod wins for name, namespace and uid, so that a vcluster nested in
  // a vcluster keeps pointing at the outermost tenant's pod.
  auto keep_or = [&](std::string_view key, const std::string& value) {
    std::string_view have = field(from, key).string_or("");
    out[key] = have.empty() ? value : std::string(have);
  };
  keep_or(kPodName, str_of(meta, "name"));
  keep_or(kPodNamespace, str_of(meta, "namespace"));
  keep_or(kPodUid, str_of(meta, "uid"));
  out[kPodSA] = str_of(field(vobj, "spec"), "serviceAccountName");
  out[kPodLabels] = labels_annotation(field(meta, "labels"));
  bool controlled = false;
  std::string set_kind;
  bool daemonset = false;
  for (const Value& o : field(meta, "ownerReferences").items()) {
    if (field(o, "controller").as_bool(false)) controlled = true;
    std::string kind = str_of(o, "kind");
    if (kind == "DaemonSet") daemonset = true;
    if (set_kind.empty() && str_of(o, "apiVersion") == "apps/v1" &&
        (kind == "DaemonSet" || kind == "Job" || kind == "ReplicaSet" || kind == "StatefulSet")) {
      set_kind = kind;
    }
  }
  if (!set_kind.empty()) out[kOwnerSetKind] = set_kind;
  if (controlled) keep_or(kSafeToEvict, "true");
  if (daemonset) out[kDaemonSetPod] = "true";
  return out;
}

bool translate_pod_create(const Host& host, const Config& cfg, const PodFacts& facts, const Value& vpod,
                          Value* out, std::string* why) {
  Value h = vpod;
  const std::string vns = str_of(field(vpod, "metadata"), "namespace");
  const std::string vname = str_of(field(vpod, "metadata"), "name");

  Value& meta = h["metadata"];
  for (std::string_view k :
       {"generateName", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "finalizers", "managedFields", "ownerReferences", "selfLink"}) {
    meta.erase(k);
  }
  meta["name"] = host.name(vns, vname);
  meta["namespace"] = host.host_namespace();
  meta["labels"] =
      translate_labels(host, vpod, facts.ns_labels.is_object() ? &facts.ns_labels : nullptr, nullptr);
  meta["annotations"] = translate_annotations(vpod, nullptr, true);
  h.erase("status");

  Value& spec = h["spec"];
  spec.erase("serviceAccount");
  if (cfg.host_service_account.empty()) {
    spec.erase("serviceAccountName");
  } else {
    spec["serviceAccountName"] = cfg.host_service_account;
  }
  spec["automountServiceAccountToken"] = false;
  spec["enableServiceLinks"] = false;
  spec.erase("priorityClassName");
  spec.erase("priority");

  Value alias = Value::object();
  alias["ip"] = facts.kube_ip;
  alias["hostnames"] = Value(vc::json::Array{"kubernetes", "kubernetes.default", "kubernetes.default.svc"});
  spec["hostAliases"].push_back(std::move(alias));

  std::string policy(field(spec, "dnsPolicy").string_or("ClusterFirst"));
  bool host_network = field(spec, "hostNetwork").as_bool(false);
  if ((policy == "ClusterFirst" && !host_network) || policy == "ClusterFirstWithHostNet") {
    const std::string dom = host.cluster_domain();
    Value dns = Value::object();
    dns["nameservers"].push_back(facts.dns_ip);
    for (const Value& ns : field(field(spec, "dnsConfig"), "nameservers").items())
      dns["nameservers"].push_back(ns);
    std::vector<std::string> searches = {vns + ".svc." + dom, "svc." + dom, dom};
    for (const Value& s : field(field(spec, "dnsConfig"), "searches").items()) {
      if (std::find(searches.begin(), searches.end(), s.as_string()) == searches.end()) {
        searches.push_back(s.as_string());
      }
    }
    for (const std::string& s : searches) dns["searches"].push_back(s);
    Value ndots = Value::object();
    ndots["name"] = "ndots";
    ndots["value"] = "5";
    dns["options"].push_back(std::move(ndots));
    spec["dnsPolicy"] = "None";
    spec["dnsConfig"] = std::move(dns);
  }

  if (field(spec, "hostname").string_or("").empty()) spec["hostname"] = pod_hostname(vname);
  spec.erase("subdomain");

  for (std::string_view list : {"initContainers", "containers", "ephemeralContainers"}) {
    Value* cs = spec.find(list);
    if (cs == nullptr || !cs->is_array()) continue;
    for (Value& c : *cs->array_ptr()) translate_container(host, cfg, vns, facts.kube_ip, c);
  }
  if (Value* ips = spec.find("imagePullSecrets"); ips && ips->is_array()) {
    for (Value& s : *ips->array_ptr()) rename(host, vns, &s, "name");
  }
  for (const Value& t : cfg.enforce_tolerations.items()) {
    bool present = false;
    for (const Value& have : field(spec, "tolerations").items()) present = present || have == t;
    if (!present) spec["tolerations"].push_back(t);
  }
  if (!translate_volumes(host, facts, vns, vname, spec, why)) return false;
  if (cfg.enable_scheduler) {
    // §3.6: the virtual scheduler already placed the pod (spec.nodeName, copied above) by the virtual nodes'
    // labels and taints, which the host nodes do not carry; the host must not judge it again.
    spec.erase("topologySpreadConstraints");
    spec.erase("affinity");
    spec.erase("nodeSelector");
  } else {
    translate_affinity(host, vns, spec);
    translate_topology_spread(host, vns, spec);
  }
  if (cfg.has_node_selector() && field(spec, "nodeName").string_or("").empty()) {
    add_node_selector(cfg, spec);
  }
  *out = std::move(h);
  return true;
}

Value translate_pod_update(const Host& host, const Config& cfg, const Value& vpod, const Value& hpod,
                           const Value& ns_labels) {
  Value h = hpod;
  Value& meta = h["metadata"];
  const Value& hmeta = field(hpod, "metadata");
  meta["labels"] =
      translate_labels(host, vpod, ns_labels.is_object() ? &ns_labels : nullptr, hmeta.find("labels"));
  meta["annotations"] = translate_annotations(vpod, hmeta.find("annotations"), true);
  Value& spec = h["spec"];
  const Value& vspec = field(vpod, "spec");
  for (std::string_view list : {"initContainers", "containers"}) {
    Value* hcs = spec.find(list);
    if (hcs == nullptr || !hcs->is_array()) continue;
    for (Value& hc : *hcs->array_ptr()) {
      for (const Value& vc : field(vspec, list).items()) {
        if (str_of(vc, "name") == str_of(hc, "name") && vc.find("image") != nullptr) {
          hc["image"] = translated_image(cfg, str_of(vc, "image"));
        }
      }
    }
  }
  if (const Value* ads = vspec.find("activeDeadlineSeconds")) {
    spec["activeDeadlineSeconds"] = *ads;
  } else {
    spec.erase("activeDeadlineSeconds");
  }
  return h;
}

Value translate_config_object(const Host& host, const Value& vobj, const Value* current, bool secret) {
  Value h;
  const Value* cur_meta = current ? current->find("metadata") : nullptr;
  if (current != nullptr) {
    h = *current;
  } else {
    h = Value::object();
    h["apiVersion"] = "v1";
    h["kind"] = secret ? "Secret" : "ConfigMap";
    h["metadata"]["name"] =
        host.name(str_of(field(vobj, "metadata"), "namespace"), str_of(field(vobj, "metadata"), "name"));
    h["metadata"]["namespace"] = host.host_namespace();
  }
  Value& meta = h["metadata"];
  meta["labels"] = translate_labels(host, vobj, nullptr, cur_meta ? cur_meta->find("labels") : nullptr);
  meta["annotations"] =
      translate_annotations(vobj, cur_meta ? cur_meta->find("annotations") : nullptr, false);
  for (std::string_view k : {"data", "binaryData", "immutable"}) {
    if (const Value* v = vobj.find(k)) {
      h[k] = *v;
    } else {
      h.erase(k);
    }
  }
  if (secret) {
    // A service-account token Secret would make the host's token controller fill it with a host token;
    // the copy is a plain Opaque secret holding the virtual data (§5).
    std::string type = str_of(vobj, "type");
    if (type == "kubernetes.io/service-account-token") type = "Opaque";
    if (!type.empty()) h["type"] = type;
  }
  return h;
}

}  // namespace vcp_pods
