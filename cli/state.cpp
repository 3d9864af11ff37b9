#include "cli/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vc::cli {

namespace {

json::Value strings(const std::vector<std::string>& v) {
  json::Value a = json::Value::array();
  for (auto& s : v) a.push_back(s);
  return a;
}

std::vector<std::string> read_strings(const json::Value* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  for (auto& i : v->items())
    if (i.is_string()) out.push_back(i.as_string());
  return out;
}

std::string str(const json::Value& o, std::string_view key) {
  const json::Value* v = o.find(key);
  return v != nullptr ? std::string(v->string_or("")) : std::string();
}

bool boolean(const json::Value& o, std::string_view key) {
  const json::Value* v = o.find(key);
  return v != nullptr && v->as_bool();
}

int integer(const json::Value& o, std::string_view key) {
  const json::Value* v = o.find(key);
  return v != nullptr ? static_cast<int>(v->as_int64()) : 0;
}

bool mkdirs(const std::string& path, mode_t mode) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return false;
  }
  return true;
}

std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      struct stat st;
      if (stat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

json::Value State::to_json() const {
  json::Value o = json::Value::object();
  o["name"] = name;
  o["namespace"] = namespace_;
  o["driver"] = driver;
  o["distro"] = distro;
  o["created"] = created;
  o["hostKubeconfig"] = host_kubeconfig;
  o["hostContext"] = host_context;
  o["hostServer"] = host_server;
  o["namespaceCreated"] = namespace_created;
  o["plugins"] = strings(plugins);
  o["valuesFiles"] = strings(values_files);
  o["isolate"] = isolate;
  json::Value owned_list = json::Value::array();
  for (auto& r : owned) {
    json::Value e = json::Value::object();
    e["group"] = r.group;
    e["version"] = r.version;
    e["resource"] = r.resource;
    e["namespaced"] = r.namespaced;
    owned_list.push_back(std::move(e));
  }
  o["owned"] = std::move(owned_list);
  o["contextName"] = context_name;
  o["kubeconfigFile"] = kubeconfig_file;
  o["previousContext"] = previous_context;
  o["paused"] = paused;
  o["pausedAt"] = paused_at;
  o["pausedPods"] = strings(paused_pods);
  if (driver == "local") {
    json::Value l = json::Value::object();
    l["bed"] = bed;
    l["controlPlaneName"] = cp_name;
    l["serviceCIDR"] = service_cidr;
    if (!host_service_cidr.empty()) l["hostServiceCIDR"] = host_service_cidr;
    l["apiServer"] = api_server;
    json::Value comps = json::Value::array();
    for (auto& c : components) {
      json::Value e = json::Value::object();
      e["name"] = c.name;
      e["pid"] = c.pid;
      e["argv"] = strings(c.argv);
      comps.push_back(std::move(e));
    }
    l["components"] = std::move(comps);
    l["syncer"] = syncer;
    l["syncerPid"] = syncer_pid;
    l["syncerPort"] = syncer_port;
    if (kubelet_port != 0) l["kubeletPort"] = kubelet_port;
    if (!dns_address.empty()) l["dnsAddress"] = dns_address;
    if (!dns_upstream.empty()) l["dnsUpstream"] = dns_upstream;
    o["local"] = std::move(l);
  } else {
    json::Value objs = json::Value::array();
    for (auto& a : applied) {
      json::Value e = json::Value::object();
      e["apiVersion"] = a.api_version;
      e["kind"] = a.kind;
      e["namespace"] = a.namespace_;
      e["name"] = a.name;
      objs.push_back(std::move(e));
    }
    json::Value c = json::Value::object();
    c["applied"] = std::move(objs);
    o["cluster"] = std::move(c);
  }
  return o;
}

Error State::from_json(const json::Value& v, const std::string& source, State* out) {
  if (!v.is_object() || str(v, "name").empty() || str(v, "namespace").empty())
    return Error(ErrorKind::kParse,
                 source + " is not a vcluster state file (no name or namespace); remove it");
  State s;
  s.name = str(v, "name");
  s.namespace_ = str(v, "namespace");
  s.driver = str(v, "driver");
  s.distro = str(v, "distro");
  s.created = str(v, "created");
  s.host_kubeconfig = str(v, "hostKubeconfig");
  s.host_context = str(v, "hostContext");
  s.host_server = str(v, "hostServer");
  s.namespace_created = boolean(v, "namespaceCreated");
  s.plugins = read_strings(v.find("plugins"));
  s.values_files = read_strings(v.find("valuesFiles"));
  s.isolate = boolean(v, "isolate");
  if (const json::Value* owned = v.find("owned"))
    for (auto& e : owned->items())
      s.owned.push_back({str(e, "group"), str(e, "version"), str(e, "resource"), boolean(e, "namespaced")});
  s.context_name = str(v, "contextName");
  s.kubeconfig_file = str(v, "kubeconfigFile");
  s.previous_context = str(v, "previousContext");
  s.paused = boolean(v, "paused");
  s.paused_at = str(v, "pausedAt");
  s.paused_pods = read_strings(v.find("pausedPods"));
  if (const json::Value* l = v.find("local")) {
    s.bed = str(*l, "bed");
    s.cp_name = str(*l, "controlPlaneName");
    s.service_cidr = str(*l, "serviceCIDR");
    s.host_service_cidr = str(*l, "hostServiceCIDR");
    s.api_server = str(*l, "apiServer");
    if (const json::Value* comps = l->find("components"))
      for (auto& e : comps->items())
        s.components.push_back({str(e, "name"), integer(e, "pid"), read_strings(e.find("argv"))});
    s.syncer = str(*l, "syncer");
    s.syncer_pid = integer(*l, "syncerPid");
    s.syncer_port = integer(*l, "syncerPort");
    s.kubelet_port = integer(*l, "kubeletPort");
    s.dns_address = str(*l, "dnsAddress");
    s.dns_upstream = str(*l, "dnsUpstream");
  }
  if (const json::Value* c = v.find("cluster"))
    if (const json::Value* objs = c->find("applied"))
      for (auto& e : objs->items())
        s.applied.push_back({str(e, "apiVersion"), str(e, "kind"), str(e, "namespace"), str(e, "name")});
  if (s.driver != "local" && s.driver != "cluster")
    return Error(ErrorKind::kParse, source + " names an unknown driver '" + s.driver + "'; remove the file");
  *out = std::move(s);
  return {};
}

std::string state_root() {
  std::string root;
  if (const char* d = std::getenv("VCLUSTER_STATE_DIR"); d != nullptr && *d != '\0') {
    root = d;
  } else {
    const char* home = std::getenv("HOME");
    root = std::string(home != nullptr && *home != '\0' ? home : "/root") + "/.vcluster";
  }
  // Canonical, because processes are recognised by this path in their command lines, and tests/bed
  // resolves its --dir with realpath before passing it on.
  std::error_code ec;
  auto canon = std::filesystem::weakly_canonical(std::filesystem::absolute(root, ec), ec);
  return ec ? root : canon.string();
}

std::string state_dir(const std::string& namespace_, const std::string& name) {
  return state_root() + "/" + namespace_ + "/" + name;
}

Error load_state(const std::string& dir, State* out) {
  std::string path = dir + "/state.json";
  std::ifstream in(path);
  if (!in) return Error(ErrorKind::kIo, path + " does not exist", 404);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string err;
  auto v = json::parse(ss.str(), &err);
  if (!v)
    return Error(ErrorKind::kParse, path + " is not valid JSON (" + err + "); remove the directory " + dir);
  return State::from_json(*v, path, out);
}

Error save_state(const std::string& dir, const State& s) {
  if (!mkdirs(dir, 0700))
    return Error(ErrorKind::kIo,
                 "cannot create the state directory " + dir + " (" + std::strerror(errno) + ")");
  std::string path = dir + "/state.json", tmp = path + ".tmp";
  std::string text = json::dump(s.to_json());
  text += "\n";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorKind::kIo, "cannot write " + tmp + " (" + std::strerror(errno) + ")");
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      return Error(ErrorKind::kIo, "cannot write " + tmp + " (" + std::strerror(e) + ")");
    }
    off += static_cast<size_t>(n);
  }
  // fsync before rename so that a crash leaves the old or the new state, never an empty file.
  fsync(fd);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return Error(ErrorKind::kIo, "cannot replace " + path + " (" + std::strerror(errno) + ")");
  return {};
}

std::vector<State> list_states(std::vector<std::string>* problems) {
  std::vector<State> out;
  std::string root = state_root();
  for (auto& ns : subdirs(root))
    for (auto& name : subdirs(root + "/" + ns)) {
      State s;
      Error e = load_state(root + "/" + ns + "/" + name, &s);
      if (e.code == 404) continue;
      if (e) {
        if (problems != nullptr) problems->push_back(e.message);
        continue;
      }
      out.push_back(std::move(s));
    }
  return out;
}

Error find_state(const std::string& name, const std::string& namespace_, State* out, std::string* dir) {
  if (!namespace_.empty()) {
    std::string d = state_dir(namespace_, name);
    Error e = load_state(d, out);
    if (e.code == 404)
      return Error(ErrorKind::kInvalidArgument,
                   "no vcluster " + name + " in namespace " + namespace_ +
                       " was created from this machine (no " + d + "/state.json); see 'vcluster list'",
                   404);
    if (e) return e;
    if (dir != nullptr) *dir = d;
    return {};
  }
  std::vector<std::string> namespaces;
  std::string root = state_root();
  for (auto& ns : subdirs(root)) {
    struct stat st;
    if (stat((root + "/" + ns + "/" + name + "/state.json").c_str(), &st) == 0) namespaces.push_back(ns);
  }
  if (namespaces.empty())
    return Error(ErrorKind::kInvalidArgument,
                 "no vcluster named " + name + " was created from this machine (nothing under " + root +
                     "); see 'vcluster list', or pass -n NAMESPACE",
                 404);
  if (namespaces.size() > 1) {
    std::string list;
    for (auto& n : namespaces) list += (list.empty() ? "" : ", ") + n;
    return Error(ErrorKind::kInvalidArgument,
                 "vcluster " + name + " exists in several namespaces (" + list + "); pass -n NAMESPACE");
  }
  return find_state(name, namespaces[0], out, dir);
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string age_since(const std::string& rfc3339) {
  std::tm tm{};
  if (strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return "?";
  std::time_t then = timegm(&tm);
  long s = static_cast<long>(std::time(nullptr) - then);
  if (s < 0) s = 0;
  // kubectl's style: the largest unit, with a second one while the first is small.
  if (s < 120) return std::to_string(s) + "s";
  long m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  long h = m / 60;
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  return std::to_string(h / 24) + "d";
}

}  // namespace vc::cli
