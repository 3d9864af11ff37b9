#include "cli/host.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "cli/proc.hpp"
#include "json/json.hpp"

#ifndef VC_SOURCE_ROOT
#define VC_SOURCE_ROOT ""
#endif
#ifndef VC_BUILD_SYNCER
#define VC_BUILD_SYNCER ""
#endif

namespace vc::cli {

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(sep, start);
    std::string part = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
    if (!part.empty()) out.push_back(part);
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

bool parse_ipv4(const std::string& s, uint32_t* out) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

// The path without "..", for messages and the state.
std::string canonical(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

std::string format_ipv4(uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

}  // namespace

std::vector<std::string> kubeconfig_files(const Options& o) {
  if (!o.kubeconfig.empty()) return {o.kubeconfig};
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    auto files = split(env, ':');
    if (!files.empty()) return files;
  }
  const char* home = std::getenv("HOME");
  return {std::string(home != nullptr ? home : "") + "/.kube/config"};
}

std::string current_context(const std::vector<std::string>& files, std::string* file) {
  for (auto& f : files) {
    if (!exists(f)) continue;
    std::string cur;
    if (kube::kubeconfig_current_context(f, &cur).ok() && !cur.empty()) {
      if (file != nullptr) *file = f;
      return cur;
    }
  }
  return "";
}

Error resolve_host(const Options& o, Host* out) {
  Host h;
  auto files = kubeconfig_files(o);
  h.kubeconfig_file = files.front();
  bool any = false;
  for (auto& f : files) any = any || exists(f);
  if (!any)
    return Error(ErrorKind::kInvalidArgument,
                 "no host cluster: the kubeconfig " +
                     (files.size() == 1 ? files[0] : "files of $KUBECONFIG") +
                     " does not exist; point --kubeconfig or $KUBECONFIG at the host cluster's kubeconfig");
  h.context = o.context;
  if (h.context.empty()) {
    h.context = current_context(files);
    if (h.context.empty())
      return Error(
          ErrorKind::kInvalidArgument,
          "no host cluster: " + (files.size() == 1 ? files[0] : std::string("$KUBECONFIG")) +
              " sets no current-context; pass --context NAME or run 'kubectl config use-context NAME'");
    VclusterContext vctx;
    if (parse_context_name(h.context, &vctx)) {
      bool from_state = false;
      for (auto& s : list_states(nullptr)) {
        if (s.context_name == h.context && !s.host_context.empty()) {
          h.note = "the current context " + h.context + " is vcluster " + s.name +
                   "'s; using its host context " + s.host_context;
          h.context = s.host_context;
          from_state = true;
          break;
        }
      }
      // The state directory may be another one (VCLUSTER_STATE_DIR unset, another user's): the context's
      // own name still says that it is a virtual cluster's and which host context it came from, so a
      // create never nests inside the virtual cluster by accident.
      if (!from_state) {
        kube::RestConfig probe;
        Error pe = o.kubeconfig.empty() ? kube::load_default("", vctx.host_context, &probe)
                                        : kube::load_kubeconfig_file(o.kubeconfig, vctx.host_context, &probe);
        if (pe)
          return Error(ErrorKind::kInvalidArgument,
                       "the current context " + h.context + " is vcluster " + vctx.name +
                           "'s virtual cluster, and its host context " + vctx.host_context +
                           " is not in the kubeconfig; pass --context HOST_CONTEXT or run 'vcluster "
                           "disconnect' first");
        h.note = "the current context " + h.context + " is vcluster " + vctx.name +
                 "'s; using its host context " + vctx.host_context;
        h.context = vctx.host_context;
      }
    }
  }
  Error e = o.kubeconfig.empty() ? kube::load_default("", h.context, &h.cfg)
                                 : kube::load_kubeconfig_file(o.kubeconfig, h.context, &h.cfg);
  if (e) {
    e.message = "host cluster: " + e.message;
    return e;
  }
  *out = std::move(h);
  return {};
}

Error connect_host(const Host& h, std::unique_ptr<KubeSync>* out) {
  std::unique_ptr<KubeSync> k;
  if (Error e = KubeSync::open(h.cfg, "host cluster", std::chrono::seconds(30), &k)) return e;
  if (Error e = k->ping()) return e;
  *out = std::move(k);
  return {};
}

Error host_service_cidr(KubeSync& host, std::string* cidr, std::string* how) {
  // The probe asks for 4.4.4.4, which is outside every usual range; the API server refuses it with
  // "... The range of valid IPs is 10.96.0.0/16" and creates nothing.
  json::Value svc = json::Value::object();
  svc["apiVersion"] = "v1";
  svc["kind"] = "Service";
  svc["metadata"]["name"] = "vcluster-service-cidr-probe";
  svc["spec"]["clusterIP"] = "4.4.4.4";
  json::Value p = json::Value::object();
  p["port"] = 443;
  svc["spec"]["ports"].push_back(p);
  kube::Result r = host.create(gvr::services(), "default", json::dump(svc));
  if (r.ok()) {
    // 4.4.4.4 was in the range after all: remove the probe at once and fall back.
    host.remove(gvr::services(), "default", "vcluster-service-cidr-probe");
  } else {
    static const std::string marker = "The range of valid IPs is ";
    size_t at = r.body.find(marker);
    if (at != std::string::npos) {
      size_t start = at + marker.size();
      size_t end = r.body.find_first_not_of("0123456789./", start);
      std::string c = r.body.substr(start, end == std::string::npos ? std::string::npos : end - start);
      uint32_t ip;
      if (c.find('/') != std::string::npos && parse_ipv4(c.substr(0, c.find('/')), &ip)) {
        *cidr = c;
        *how = "the host API server's Service range";
        return {};
      }
    }
  }
  kube::Result k = host.get(gvr::services(), "default", "kubernetes");
  if (k.ok()) {
    auto v = json::parse(k.body);
    const json::Value* ipv = v ? v->at({"spec", "clusterIP"}) : nullptr;
    std::string ip = ipv != nullptr ? std::string(ipv->string_or("")) : std::string();
    uint32_t n;
    if (!ip.empty() && parse_ipv4(ip, &n)) {
      *cidr = format_ipv4(n & 0xffff0000u) + "/16";
      *how = "the /16 around the host's kubernetes Service IP " + ip;
      return {};
    }
  }
  return Error(ErrorKind::kInvalidArgument,
               "cannot find the host's Service range (the API server did not name it and default/kubernetes "
               "cannot be read: " +
                   KubeSync::describe(k) + "); pass --service-cidr CIDR");
}

Error local_service_cidr(const std::string& host_cidr, const std::string& anchor_ip, std::string* out) {
  size_t slash = host_cidr.find('/');
  uint32_t base, anchor;
  if (slash == std::string::npos || !parse_ipv4(host_cidr.substr(0, slash), &base))
    return Error(ErrorKind::kInvalidArgument,
                 "'" + host_cidr + "' is not an IPv4 range; pass --service-cidr");
  int bits = std::atoi(host_cidr.c_str() + slash + 1);
  if (anchor_ip.empty() || !parse_ipv4(anchor_ip, &anchor)) anchor = base;
  if (bits > 24)
    return Error(
        ErrorKind::kInvalidArgument,
        "the Service range " + host_cidr +
            " is narrower than a /24, which the local control plane cannot use; pass --service-cidr with "
            "a /16 or /24 range");
  if (bits == 16 || bits == 24) {
    *out = format_ipv4(base) + "/" + std::to_string(bits);
  } else if (bits < 16) {
    *out = format_ipv4(anchor & 0xffff0000u) + "/16";
  } else {
    *out = format_ipv4(anchor & 0xffffff00u) + "/24";
  }
  return {};
}

Error find_bed(std::string* path) {
  std::vector<std::string> tried;
  if (const char* env = std::getenv("VCLUSTER_BED"); env != nullptr && *env != '\0') {
    if (is_executable(env)) {
      *path = env;
      return {};
    }
    return Error(ErrorKind::kInvalidArgument, std::string("$VCLUSTER_BED names ") + env +
                                                  ", which is not an executable file; fix or unset it");
  }
  std::string ed = exe_dir();
  for (std::string p :
       {ed + "/../share/vcluster/tests/bed/cluster", ed + "/../../tests/bed/cluster",
        std::string(VC_SOURCE_ROOT).empty() ? "" : std::string(VC_SOURCE_ROOT) + "/tests/bed/cluster"}) {
    if (p.empty()) continue;
    tried.push_back(p);
    if (is_executable(p)) {
      *path = canonical(p);
      return {};
    }
  }
  std::string list;
  for (auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return Error(ErrorKind::kInvalidArgument,
               "the local driver's control-plane tool (tests/bed/cluster) was not found (tried " + list +
                   "); set $VCLUSTER_BED to its path or use --driver cluster");
}

Error find_syncer(std::string* path) {
  if (const char* env = std::getenv("VCLUSTER_SYNCER"); env != nullptr && *env != '\0') {
    if (is_executable(env)) {
      *path = env;
      return {};
    }
    return Error(ErrorKind::kInvalidArgument, std::string("$VCLUSTER_SYNCER names ") + env +
                                                  ", which is not an executable file; fix or unset it");
  }
  std::string ed = exe_dir();
  std::vector<std::string> tried;
  for (std::string p :
       {ed + "/vcluster-syncer", ed + "/../core/syncer/vcluster-syncer", std::string(VC_BUILD_SYNCER)}) {
    if (p.empty()) continue;
    tried.push_back(p);
    if (is_executable(p)) {
      *path = canonical(p);
      return {};
    }
  }
  std::string list;
  for (auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return Error(ErrorKind::kInvalidArgument, "vcluster-syncer was not found (tried " + list +
                                                "); install it next to vcluster or set $VCLUSTER_SYNCER");
}

std::string context_name(const std::string& name, const std::string& namespace_,
                         const std::string& host_context) {
  return "vcluster_" + name + "_" + namespace_ + "_" + host_context;
}

bool parse_context_name(const std::string& context, VclusterContext* out) {
  // vcluster_NAME_NS_HOST: NAME and NS are DNS labels, which hold no '_', so the first two '_' after the
  // prefix end them and the host context is the rest (it may hold '_' itself).
  const std::string prefix = "vcluster_";
  if (context.rfind(prefix, 0) != 0) return false;
  size_t a = context.find('_', prefix.size());
  if (a == std::string::npos || a == prefix.size()) return false;
  size_t b = context.find('_', a + 1);
  if (b == std::string::npos || b == a + 1 || b + 1 >= context.size()) return false;
  out->name = context.substr(prefix.size(), a - prefix.size());
  out->namespace_ = context.substr(a + 1, b - a - 1);
  out->host_context = context.substr(b + 1);
  return true;
}

}  // namespace vc::cli
