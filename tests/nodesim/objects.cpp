#include "objects.hpp"

#include <openssl/sha.h>

#include <cstdio>
#include <ctime>

namespace vc::nodesim {

using json::Value;

namespace {

// The string member `key` of `obj`, or "" when obj is null, lacks it, or it is not a string.
std::string field(const Value* obj, std::string_view key) {
  const Value* v = obj ? obj->find(key) : nullptr;
  return v ? std::string(v->string_or("")) : std::string();
}

std::string format_utc(std::chrono::system_clock::time_point t, bool micros) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);  // floor, also before the epoch
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (micros) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    char frac[24];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    out += frac;
  }
  out += 'Z';
  return out;
}

Value condition(std::string_view type, std::string_view status, std::string_view reason,
                std::string_view message, std::string_view heartbeat, std::string_view since) {
  Value c = Value::object();
  c["type"] = type;
  c["status"] = status;
  if (!heartbeat.empty()) c["lastHeartbeatTime"] = heartbeat;
  c["lastTransitionTime"] = since;
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  return c;
}

Value resources(const NodeSpec& n) {
  Value r = Value::object();
  r["cpu"] = "16";
  r["memory"] = "64Gi";
  r["pods"] = std::to_string(n.max_pods);
  r["ephemeral-storage"] = "100Gi";
  r["hugepages-1Gi"] = "0";
  r["hugepages-2Mi"] = "0";
  return r;
}

Value labels(const NodeSpec& n) {
  Value l = Value::object();
  l["kubernetes.io/hostname"] = n.name;
  l["kubernetes.io/os"] = "linux";
  l["kubernetes.io/arch"] = "amd64";
  // The deprecated beta labels are what some schedulers' node selectors still use, and a v1.20 kubelet
  // sets them too.
  l["beta.kubernetes.io/os"] = "linux";
  l["beta.kubernetes.io/arch"] = "amd64";
  l["node.kubernetes.io/instance-type"] = "simulated";
  return l;
}

// "nginx:1.25" -> "nginx", "registry:5000/app:v1" -> "registry:5000/app", "app@sha256:..." -> "app".
std::string image_repository(std::string_view image) {
  if (size_t at = image.find('@'); at != std::string_view::npos) return std::string(image.substr(0, at));
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    return std::string(image.substr(0, colon));
  return std::string(image);
}

// containerd reports the repository digest it pulled: "<repository>@sha256:<digest>". A digest reference
// is its own image ID; otherwise we make up a stable digest from the reference.
std::string image_id(std::string_view image) {
  if (image.find("@sha256:") != std::string_view::npos) return std::string(image);
  return image_repository(image) + "@sha256:" + sha256_hex(image);
}

std::string container_id(std::string_view pod_uid, std::string_view container) {
  std::string seed(pod_uid);
  seed += '/';
  seed += container;
  return "containerd://sim-" + sha256_hex(seed);
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) {
  return format_utc(t, false);
}
std::string micro_time(std::chrono::system_clock::time_point t) {
  return format_utc(t, true);
}

std::string sha256_hex(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : md) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string node_object(const NodeSpec& n) {
  Value node = Value::object();
  node["apiVersion"] = "v1";
  node["kind"] = "Node";
  Value& meta = node["metadata"];
  meta["name"] = n.name;
  meta["labels"] = labels(n);
  Value& spec = node["spec"];
  spec["podCIDR"] = n.pod_cidr;
  spec["podCIDRs"].push_back(n.pod_cidr);
  return json::dump(node);
}

std::string node_labels_patch(const NodeSpec& n) {
  Value p = Value::object();
  p["metadata"]["labels"] = labels(n);
  return json::dump(p);
}

std::string node_status_patch(const NodeSpec& n, std::string_view since, std::string_view now) {
  Value p = Value::object();
  Value& st = p["status"];
  st["capacity"] = resources(n);
  st["allocatable"] = resources(n);
  Value& conds = st["conditions"];
  conds = Value::array();
  conds.push_back(condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                            "kubelet has sufficient memory available", now, since));
  conds.push_back(condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                            "kubelet has no disk pressure", now, since));
  conds.push_back(condition("PIDPressure", "False", "KubeletHasSufficientPID",
                            "kubelet has sufficient PID available", now, since));
  conds.push_back(condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now, since));
  Value& addrs = st["addresses"];
  addrs = Value::array();
  Value ip = Value::object();
  ip["type"] = "InternalIP";
  ip["address"] = n.internal_ip;
  addrs.push_back(std::move(ip));
  Value host = Value::object();
  host["type"] = "Hostname";
  host["address"] = n.name;
  addrs.push_back(std::move(host));
  st["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 10250;
  Value& info = st["nodeInfo"];
  std::string machine = sha256_hex("machine/" + n.name).substr(0, 32);
  std::string boot = sha256_hex("boot/" + n.name + "/" + n.boot_id);
  info["machineID"] = machine;
  info["systemUUID"] = machine.substr(0, 8) + "-" + machine.substr(8, 4) + "-" + machine.substr(12, 4) + "-" +
                       machine.substr(16, 4) + "-" + machine.substr(20, 12);
  info["bootID"] = boot.substr(0, 8) + "-" + boot.substr(8, 4) + "-" + boot.substr(12, 4) + "-" +
                   boot.substr(16, 4) + "-" + boot.substr(20, 12);
  info["kernelVersion"] = "6.1.0-simulated";
  info["osImage"] = "vcluster-nodesim";
  info["containerRuntimeVersion"] = "containerd://1.6.20";
  info["kubeletVersion"] = "v1.20.2";
  info["kubeProxyVersion"] = "v1.20.2";
  info["operatingSystem"] = "linux";
  info["architecture"] = "amd64";
  return json::dump(p);
}

std::string lease_object(const NodeSpec& n, std::string_view node_uid, int duration_seconds,
                         std::string_view renew_time) {
  Value l = Value::object();
  l["apiVersion"] = "coordination.k8s.io/v1";
  l["kind"] = "Lease";
  Value& meta = l["metadata"];
  meta["name"] = n.name;
  meta["namespace"] = "kube-node-lease";
  if (!node_uid.empty()) {
    Value owner = Value::object();
    owner["apiVersion"] = "v1";
    owner["kind"] = "Node";
    owner["name"] = n.name;
    owner["uid"] = node_uid;
    meta["ownerReferences"].push_back(std::move(owner));
  }
  Value& spec = l["spec"];
  spec["holderIdentity"] = n.name;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = renew_time;
  return json::dump(l);
}

std::string lease_renew_patch(const NodeSpec& n, int duration_seconds, std::string_view renew_time) {
  Value p = Value::object();
  Value& spec = p["spec"];
  spec["holderIdentity"] = n.name;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = renew_time;
  return json::dump(p);
}

PodFacts pod_facts(const Value& pod) {
  PodFacts f;
  const Value* meta = pod.find("metadata");
  f.uid = field(meta, "uid");
  const Value* del = meta ? meta->find("deletionTimestamp") : nullptr;
  f.deleting = del && !del->is_null();
  const Value* grace = meta ? meta->find("deletionGracePeriodSeconds") : nullptr;
  f.forced = f.deleting && grace && grace->as_int64(-1) == 0;
  f.node_name = field(pod.find("spec"), "nodeName");
  const Value* st = pod.find("status");
  f.phase = field(st, "phase");
  f.pod_ip = field(st, "podIP");
  return f;
}

std::string pod_running_patch(const Value& pod, std::string_view pod_ip, std::string_view host_ip,
                              std::string_view now) {
  const Value* spec = pod.find("spec");
  const Value* status = pod.find("status");
  const Value* existing = status ? status->find("conditions") : nullptr;
  std::string uid = field(pod.find("metadata"), "uid");

  // The scheduler's PodScheduled keeps its transition time; the others start now, as the kubelet's would.
  auto since_of = [&](std::string_view type) -> std::string {
    if (existing)
      for (const Value& c : existing->items())
        if (field(&c, "type") == type && !field(&c, "lastTransitionTime").empty())
          return field(&c, "lastTransitionTime");
    return std::string(now);
  };
  auto condition_true = [&](std::string_view type) {
    if (existing)
      for (const Value& c : existing->items())
        if (field(&c, "type") == type) return field(&c, "status") == "True";
    return false;
  };

  // Readiness gates (KEP 580): the pod is Ready only when every gate's condition is True.
  std::string gates_missing;
  if (spec && spec->find("readinessGates"))
    for (const Value& g : spec->find("readinessGates")->items()) {
      std::string t = field(&g, "conditionType");
      if (!t.empty() && !condition_true(t)) gates_missing += (gates_missing.empty() ? "" : ", ") + t;
    }

  Value p = Value::object();
  if (!uid.empty()) p["metadata"]["uid"] = uid;
  Value& st = p["status"];
  st["phase"] = "Running";
  Value& conds = st["conditions"];
  conds = Value::array();
  conds.push_back(condition("Initialized", "True", "", "", "", since_of("Initialized")));
  if (gates_missing.empty()) {
    conds.push_back(condition("Ready", "True", "", "", "", now));
  } else {
    conds.push_back(condition(
        "Ready", "False", "ReadinessGatesNotReady",
        "corresponding condition of pod readiness gate \"" + gates_missing + "\" does not exist.", "", now));
  }
  conds.push_back(condition("ContainersReady", "True", "", "", "", now));
  conds.push_back(condition("PodScheduled", "True", "", "", "", since_of("PodScheduled")));
  if (existing)
    for (const Value& c : existing->items()) {
      std::string t = field(&c, "type");
      if (t != "Initialized" && t != "Ready" && t != "ContainersReady" && t != "PodScheduled")
        conds.push_back(c);
    }
  st["hostIP"] = host_ip;
  st["podIP"] = pod_ip;
  Value ipv = Value::object();
  ipv["ip"] = pod_ip;
  st["podIPs"].push_back(std::move(ipv));
  st["startTime"] = now;

  auto status_of = [&](const Value& c, bool init) {
    std::string name = field(&c, "name");
    std::string image = field(&c, "image");
    Value cs = Value::object();
    cs["name"] = name;
    Value& state = cs["state"];
    if (init) {
      Value& term = state["terminated"];
      term["exitCode"] = 0;
      term["reason"] = "Completed";
      term["startedAt"] = now;
      term["finishedAt"] = now;
      term["containerID"] = container_id(uid, name);
    } else {
      state["running"]["startedAt"] = now;
    }
    cs["lastState"] = Value::object();
    cs["ready"] = true;
    cs["restartCount"] = 0;
    cs["image"] = image;
    cs["imageID"] = image_id(image);
    cs["containerID"] = container_id(uid, name);
    // A finished init container is not "started" (the field means: running and past its startup probe).
    cs["started"] = !init;
    return cs;
  };
  if (spec && spec->find("initContainers") && !spec->find("initContainers")->empty()) {
    Value& ics = st["initContainerStatuses"];
    ics = Value::array();
    for (const Value& c : spec->find("initContainers")->items()) ics.push_back(status_of(c, true));
  }
  Value& css = st["containerStatuses"];
  css = Value::array();
  if (spec && spec->find("containers"))
    for (const Value& c : spec->find("containers")->items()) css.push_back(status_of(c, false));
  return json::dump(p);
}

std::string force_delete_options(std::string_view uid) {
  Value o = Value::object();
  o["apiVersion"] = "v1";
  o["kind"] = "DeleteOptions";
  o["gracePeriodSeconds"] = 0;
  if (!uid.empty()) o["preconditions"]["uid"] = uid;
  return json::dump(o);
}

}  // namespace vc::nodesim
