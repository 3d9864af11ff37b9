#include "cli/manifests.hpp"

#include <arpa/inet.h>

#include <map>
#include <set>

#include "cli/yaml_out.hpp"

namespace vc::cli {

namespace {

using json::Value;

Value str_array(std::initializer_list<std::string> items) {
  Value a = Value::array();
  for (auto& s : items) a.push_back(s);
  return a;
}

Value str_array(const std::vector<std::string>& items) {
  Value a = Value::array();
  for (auto& s : items) a.push_back(s);
  return a;
}

Value object(const std::string& api_version, const std::string& kind, const std::string& name,
             const std::string& ns, const Value& labels) {
  Value o = Value::object();
  o["apiVersion"] = api_version;
  o["kind"] = kind;
  Value& m = o["metadata"];
  m["name"] = name;
  if (!ns.empty()) m["namespace"] = ns;
  if (!labels.empty()) m["labels"] = labels;
  return o;
}

Value rule(const std::string& group, std::initializer_list<std::string> resources,
           std::initializer_list<std::string> verbs) {
  Value r = Value::object();
  r["apiGroups"] = str_array({group});
  r["resources"] = str_array(resources);
  r["verbs"] = str_array(verbs);
  return r;
}

const std::vector<std::string> kAll = {"create", "delete", "patch", "update", "get", "list", "watch"};
const std::vector<std::string> kRead = {"get", "list", "watch"};

// Rules for the plugins' resources of one scope, merged per group and verb set so the Role stays short.
Value plugin_rules(const std::vector<plugin::Resource>& resources, bool namespaced) {
  std::map<std::pair<std::string, bool>, std::set<std::string>> by_group;  // (group, write) -> resources
  for (auto& r : resources) {
    // A watch of other host namespaces (ABI 1.4, Services only: mapServices.fromHost) reads across
    // namespaces, so its read-only rule goes into the ClusterRole, as vcluster's ClusterRole on services.
    const bool in_role = r.namespaced && !r.host_namespaces;
    if (in_role != namespaced) continue;
    bool write;
    switch (r.role) {
      case VCP_ROLE_TO_HOST:
        write = true;
        break;
      case VCP_ROLE_TO_VIRTUAL:
      case VCP_ROLE_WATCH_HOST:
        write = false;
        break;
      default:
        continue;  // WATCH_VIRTUAL reads only the virtual cluster
    }
    by_group[{r.group, write}].insert(r.resource);
    if (write && r.has_status) by_group[{r.group, write}].insert(r.resource + "/status");
  }
  Value rules = Value::array();
  for (auto& [key, res] : by_group) {
    Value r = Value::object();
    r["apiGroups"] = str_array({key.first});
    r["resources"] = str_array(std::vector<std::string>(res.begin(), res.end()));
    r["verbs"] = str_array(key.second ? kAll : kRead);
    rules.push_back(std::move(r));
  }
  return rules;
}

Value port(const std::string& name, int number, int target, const std::string& protocol = "TCP") {
  Value p = Value::object();
  if (!name.empty()) p["name"] = name;
  p["port"] = number;
  if (target != 0) p["targetPort"] = target;
  p["protocol"] = protocol;
  return p;
}

Value container_port(const std::string& name, int number) {
  Value p = Value::object();
  p["name"] = name;
  p["containerPort"] = number;
  p["protocol"] = "TCP";
  return p;
}

Value env(const std::string& name, const std::string& value) {
  Value e = Value::object();
  e["name"] = name;
  e["value"] = value;
  return e;
}

Value mount(const std::string& name, const std::string& path, bool read_only) {
  Value m = Value::object();
  m["name"] = name;
  m["mountPath"] = path;
  if (read_only) m["readOnly"] = true;
  return m;
}

Value http_probe(const std::string& path, int port_number, const std::string& scheme, int initial, int period,
                 int failures) {
  Value p = Value::object();
  Value& g = p["httpGet"];
  g["path"] = path;
  g["port"] = port_number;
  g["scheme"] = scheme;
  p["initialDelaySeconds"] = initial;
  p["periodSeconds"] = period;
  p["failureThreshold"] = failures;
  return p;
}

Value container(const std::string& name, const std::string& image, std::vector<std::string> command) {
  Value c = Value::object();
  c["name"] = name;
  c["image"] = image;
  c["command"] = str_array(command);
  return c;
}

const std::string kIssuer = "https://kubernetes.default.svc.cluster.local";

std::vector<std::string> apiserver_flags(const ManifestOptions& o, const std::string& pki_dir) {
  return {
      "--bind-address=0.0.0.0",
      "--secure-port=6443",
      "--insecure-port=0",
      "--etcd-servers=http://127.0.0.1:2379",
      "--tls-cert-file=" + pki_dir + "/apiserver.crt",
      "--tls-private-key-file=" + pki_dir + "/apiserver.key",
      "--client-ca-file=" + pki_dir + "/ca.crt",
      "--service-account-key-file=" + pki_dir + "/sa.pub",
      "--service-account-signing-key-file=" + pki_dir + "/sa.key",
      "--service-account-issuer=" + kIssuer,
      "--api-audiences=" + kIssuer,
      "--authorization-mode=RBAC",
      "--service-cluster-ip-range=" + o.service_cidr,
      "--allow-privileged=true",
      "--requestheader-client-ca-file=" + pki_dir + "/front-proxy-ca.crt",
      "--requestheader-allowed-names=front-proxy-client",
      "--requestheader-username-headers=X-Remote-User",
      "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      "--proxy-client-cert-file=" + pki_dir + "/front-proxy-client.crt",
      "--proxy-client-key-file=" + pki_dir + "/front-proxy-client.key",
      // The virtual `kubernetes` Service mirrors the vcluster Service (spec §4.3), so the API server must
      // not write its own pod IP into the Endpoints.
      "--endpoint-reconciler-type=none",
      // Pods get the projected kube-api-access volume (a token bound to the pod), as from Kubernetes 1.21 on;
      // v1.20 has it behind this gate. The legacy token Secret holds a token that never expires, which the
      // syncer would copy to the host namespace.
      "--feature-gates=BoundServiceAccountTokenVolume=true",
  };
}

// The distro's control-plane containers, the init containers that place the certificates, and its
// readiness probe port.
void control_plane(const ManifestOptions& o, Value* containers, Value* init_containers) {
  const auto& images = [&]() -> const std::vector<std::string>& {
    for (auto& d : distro_images())
      if (d.distro == o.distro) return d.images;
    return distro_images().front().images;
  }();
  if (o.distro == "k8s") {
    Value etcd = container(
        "etcd", images[0],
        {"etcd", "--name=vcluster", "--data-dir=/data/etcd", "--listen-client-urls=http://127.0.0.1:2379",
         "--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://127.0.0.1:2380",
         "--initial-advertise-peer-urls=http://127.0.0.1:2380",
         "--initial-cluster=vcluster=http://127.0.0.1:2380", "--initial-cluster-state=new"});
    etcd["volumeMounts"].push_back(mount("data", "/data", false));
    containers->push_back(std::move(etcd));

    std::vector<std::string> api = {"kube-apiserver"};
    for (auto& f : apiserver_flags(o, "/pki")) api.push_back(f);
    Value apiserver = container("kube-apiserver", images[1], api);
    apiserver["ports"].push_back(container_port("https", 6443));
    apiserver["readinessProbe"] = http_probe("/readyz", 6443, "HTTPS", 5, 5, 6);
    apiserver["livenessProbe"] = http_probe("/livez", 6443, "HTTPS", 30, 10, 8);
    apiserver["volumeMounts"].push_back(mount("certs", "/pki", true));
    containers->push_back(std::move(apiserver));

    Value cm = container(
        "kube-controller-manager", images[2],
        {"kube-controller-manager", "--kubeconfig=/pki/controller-manager.kubeconfig",
         "--authentication-kubeconfig=/pki/controller-manager.kubeconfig",
         "--authorization-kubeconfig=/pki/controller-manager.kubeconfig", "--bind-address=127.0.0.1",
         "--secure-port=10257", "--port=0", "--leader-elect=false", "--use-service-account-credentials=true",
         "--service-account-private-key-file=/pki/sa.key", "--root-ca-file=/pki/ca.crt",
         "--cluster-signing-cert-file=/pki/ca.crt", "--cluster-signing-key-file=/pki/ca.key",
         "--controllers=" + std::string(kVirtualControllers),
         "--service-cluster-ip-range=" + o.service_cidr});
    cm["volumeMounts"].push_back(mount("certs", "/pki", true));
    containers->push_back(std::move(cm));

    if (o.scheduler) {
      // vcluster's enableScheduler: the tenant's pods are placed on the virtual nodes by this scheduler.
      Value sched =
          container("kube-scheduler", images[3],
                    {"kube-scheduler", "--kubeconfig=/pki/scheduler.kubeconfig",
                     "--authentication-kubeconfig=/pki/scheduler.kubeconfig",
                     "--authorization-kubeconfig=/pki/scheduler.kubeconfig", "--bind-address=127.0.0.1",
                     "--secure-port=10259", "--port=0", "--leader-elect=false"});
      sched["volumeMounts"].push_back(mount("certs", "/pki", true));
      containers->push_back(std::move(sched));
    }
    return;
  }
  if (o.distro == "k3s") {
    std::vector<std::string> k3s_args = {"/bin/k3s",
                                         "server",
                                         "--data-dir=/data",
                                         "--write-kubeconfig=/data/k3s-config/kube-config.yaml",
                                         "--https-listen-port=6443",
                                         "--disable=traefik,servicelb,metrics-server,local-storage",
                                         "--disable-network-policy",
                                         "--disable-agent",
                                         "--disable-cloud-controller"};
    if (!o.scheduler) k3s_args.push_back("--disable-scheduler");
    k3s_args.push_back("--flannel-backend=none");
    k3s_args.push_back("--kube-controller-manager-arg=controllers=" + std::string(kVirtualControllers));
    k3s_args.push_back("--kube-apiserver-arg=endpoint-reconciler-type=none");
    k3s_args.push_back("--kube-apiserver-arg=feature-gates=BoundServiceAccountTokenVolume=true");
    k3s_args.push_back("--service-cidr=" + o.service_cidr);
    // k3s uses CA files it finds in <data-dir>/server/tls before its first start instead of making its own
    // (k3s "custom CA certificates"), so the admin kubeconfig in vc-NAME, signed by the same CA, works.
    Value init =
        container("place-certs", images[0],
                  {"sh", "-c",
                   "mkdir -p /data/server/tls && cd /pki && "
                   "cp ca.crt /data/server/tls/server-ca.crt && cp ca.key /data/server/tls/server-ca.key && "
                   "cp ca.crt /data/server/tls/client-ca.crt && cp ca.key /data/server/tls/client-ca.key && "
                   "cp front-proxy-ca.crt /data/server/tls/request-header-ca.crt && "
                   "cp front-proxy-ca.key /data/server/tls/request-header-ca.key && "
                   "cp sa.key /data/server/tls/service.key"});
    init["volumeMounts"].push_back(mount("data", "/data", false));
    init["volumeMounts"].push_back(mount("certs", "/pki", true));
    init_containers->push_back(std::move(init));
    std::string sans =
        o.name + "," + o.name + "." + o.namespace_ + "," + o.name + "." + o.namespace_ + ".svc";
    k3s_args.push_back("--tls-san=" + sans);
    Value k3s = container("k3s", images[0], k3s_args);
    k3s["ports"].push_back(container_port("https", 6443));
    k3s["readinessProbe"] = http_probe("/readyz", 6443, "HTTPS", 5, 5, 12);
    k3s["volumeMounts"].push_back(mount("data", "/data", false));
    containers->push_back(std::move(k3s));
    return;
  }
  // k0s takes its CA and service-account keys from <data-dir>/pki when they exist before the first start.
  Value init = container("place-certs", images[0],
                         {"sh", "-c",
                          "mkdir -p /data/k0s/pki && cd /pki && cp ca.crt ca.key sa.key sa.pub "
                          "front-proxy-ca.crt front-proxy-ca.key /data/k0s/pki/"});
  init["volumeMounts"].push_back(mount("data", "/data", false));
  init["volumeMounts"].push_back(mount("certs", "/pki", true));
  init_containers->push_back(std::move(init));
  Value k0s = container(
      "k0s", images[0],
      {"k0s", "controller", "--config=/etc/k0s/k0s.yaml", "--data-dir=/data/k0s",
       std::string("--disable-components=konnectivity-server,") + (o.scheduler ? "" : "kube-scheduler,") +
           "csr-approver,kube-proxy,coredns,network-provider,helm,metrics-server,kubelet-config"});
  k0s["ports"].push_back(container_port("https", 6443));
  k0s["readinessProbe"] = http_probe("/readyz", 6443, "HTTPS", 5, 5, 12);
  k0s["volumeMounts"].push_back(mount("data", "/data", false));
  k0s["volumeMounts"].push_back(mount("k0s-config", "/etc/k0s", true));
  containers->push_back(std::move(k0s));
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

const std::vector<DistroImages>& distro_images() {
  static const std::vector<DistroImages> t = {
      {"k8s",
       {"registry.k8s.io/etcd:3.4.13-0", "registry.k8s.io/kube-apiserver:v1.20.2",
        "registry.k8s.io/kube-controller-manager:v1.20.2", "registry.k8s.io/kube-scheduler:v1.20.2"}},
      {"k3s", {"rancher/k3s:v1.20.15-k3s1"}},
      {"k0s", {"k0sproject/k0s:v1.21.14-k0s.0"}},
  };
  return t;
}

Value vcluster_labels(const std::string& name) {
  Value l = Value::object();
  l["app"] = "vcluster";
  l["release"] = name;
  return l;
}

std::string first_service_ip(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return "";
  std::string ip = cidr.substr(0, slash);
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return "";
  char* end = nullptr;
  long bits = std::strtol(cidr.c_str() + slash + 1, &end, 10);
  if (*end != '\0' || bits < 0 || bits > 30) return "";
  uint32_t host = ntohl(a.s_addr);
  uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
  uint32_t first = (host & mask) + 1;
  a.s_addr = htonl(first);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

Value role_rules(const std::vector<plugin::Resource>& resources) {
  Value rules = Value::array();
  rules.push_back(rule("",
                       {"configmaps", "secrets", "services", "pods", "pods/attach", "pods/portforward",
                        "pods/exec", "persistentvolumeclaims"},
                       {"create", "delete", "patch", "update", "get", "list", "watch"}));
  rules.push_back(rule("", {"endpoints"}, {"create", "delete", "patch", "update"}));
  rules.push_back(rule("", {"endpoints", "events", "pods/log"}, {"get", "list", "watch"}));
  rules.push_back(rule("apps", {"deployments", "replicasets", "statefulsets"}, {"get", "list", "watch"}));
  Value extra = plugin_rules(resources, true);
  for (auto& r : extra.items()) rules.push_back(r);
  return rules;
}

Value cluster_role_rules(const std::vector<plugin::Resource>& resources) {
  return plugin_rules(resources, false);
}

std::string kubeconfig_yaml(const std::string& context, const std::string& server, const std::string& ca_pem,
                            const std::string& cert_pem, const std::string& key_pem) {
  Value k = Value::object();
  k["apiVersion"] = "v1";
  k["kind"] = "Config";
  Value cluster = Value::object();
  cluster["name"] = context;
  cluster["cluster"]["server"] = server;
  cluster["cluster"]["certificate-authority-data"] = base64(ca_pem);
  k["clusters"].push_back(std::move(cluster));
  Value user = Value::object();
  user["name"] = context;
  user["user"]["client-certificate-data"] = base64(cert_pem);
  user["user"]["client-key-data"] = base64(key_pem);
  k["users"].push_back(std::move(user));
  Value ctx = Value::object();
  ctx["name"] = context;
  ctx["context"]["cluster"] = context;
  ctx["context"]["user"] = context;
  k["contexts"].push_back(std::move(ctx));
  k["current-context"] = context;
  return to_yaml(k);
}

std::vector<Value> render_isolation(const std::string& name, const std::string& ns,
                                    bool control_plane_policy) {
  std::vector<Value> out;
  Value labels = vcluster_labels(name);

  Value quota = object("v1", "ResourceQuota", name + "-quota", ns, labels);
  Value& hard = quota["spec"]["hard"];
  for (auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"requests.cpu", "10"},
           {"requests.memory", "20Gi"},
           {"requests.storage", "100Gi"},
           {"requests.ephemeral-storage", "60Gi"},
           {"limits.cpu", "20"},
           {"limits.memory", "40Gi"},
           {"limits.ephemeral-storage", "160Gi"},
           {"services.nodeports", "0"},
           {"services.loadbalancers", "1"},
           {"count/endpoints", "40"},
           {"count/pods", "20"},
           {"count/services", "20"},
           {"count/secrets", "100"},
           {"count/configmaps", "100"},
           {"count/persistentvolumeclaims", "20"},
       })
    hard[k] = v;
  out.push_back(std::move(quota));

  Value lr = object("v1", "LimitRange", name + "-limit-range", ns, labels);
  Value limit = Value::object();
  limit["type"] = "Container";
  limit["default"]["ephemeral-storage"] = "8Gi";
  limit["default"]["memory"] = "512Mi";
  limit["default"]["cpu"] = "1";
  limit["defaultRequest"]["ephemeral-storage"] = "3Gi";
  limit["defaultRequest"]["memory"] = "128Mi";
  limit["defaultRequest"]["cpu"] = "100m";
  lr["spec"]["limits"].push_back(std::move(limit));
  out.push_back(std::move(lr));

  // Workloads may reach the control plane, DNS, each other and the internet, but not private ranges: so not
  // the host cluster's pods and services nor other virtual clusters.
  Value wl = object("networking.k8s.io/v1", "NetworkPolicy", name + "-workloads", ns, labels);
  Value& wspec = wl["spec"];
  wspec["podSelector"]["matchLabels"]["vcluster.loft.sh/managed-by"] = name;
  wspec["policyTypes"] = str_array({"Egress"});
  Value to_cp = Value::object();
  Value peer = Value::object();
  peer["podSelector"]["matchLabels"]["release"] = name;
  to_cp["to"].push_back(std::move(peer));
  to_cp["ports"].push_back(port("", 443, 0));
  to_cp["ports"].push_back(port("", 8443, 0));
  wspec["egress"].push_back(std::move(to_cp));
  Value dns = Value::object();
  dns["ports"].push_back(port("", 53, 0, "UDP"));
  dns["ports"].push_back(port("", 53, 0, "TCP"));
  wspec["egress"].push_back(std::move(dns));
  Value world = Value::object();
  Value own = Value::object();
  own["podSelector"]["matchLabels"]["vcluster.loft.sh/managed-by"] = name;
  world["to"].push_back(std::move(own));
  Value block = Value::object();
  block["ipBlock"]["cidr"] = "0.0.0.0/0";
  block["ipBlock"]["except"] =
      str_array({"100.64.0.0/10", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"});
  world["to"].push_back(std::move(block));
  wspec["egress"].push_back(std::move(world));
  out.push_back(std::move(wl));

  if (control_plane_policy) {
    Value cp = object("networking.k8s.io/v1", "NetworkPolicy", name + "-control-plane", ns, labels);
    Value& cspec = cp["spec"];
    cspec["podSelector"]["matchLabels"]["release"] = name;
    cspec["policyTypes"] = str_array({"Egress"});
    Value api = Value::object();
    api["ports"].push_back(port("", 443, 0));
    api["ports"].push_back(port("", 8443, 0));
    api["ports"].push_back(port("", 6443, 0));
    cspec["egress"].push_back(std::move(api));
    Value same_ns = Value::object();
    Value any = Value::object();
    any["podSelector"] = Value::object();
    same_ns["to"].push_back(std::move(any));
    cspec["egress"].push_back(std::move(same_ns));
    Value kdns = Value::object();
    Value dpeer = Value::object();
    dpeer["namespaceSelector"] = Value::object();
    dpeer["podSelector"]["matchLabels"]["k8s-app"] = "kube-dns";
    kdns["to"].push_back(std::move(dpeer));
    cspec["egress"].push_back(std::move(kdns));
    out.push_back(std::move(cp));
  }
  return out;
}

std::vector<Value> render_cluster_manifests(const ManifestOptions& o) {
  std::vector<Value> out;
  const std::string& n = o.name;
  const std::string& ns = o.namespace_;
  Value labels = vcluster_labels(n);
  std::string sa_name = "vc-" + n;

  if (o.include_namespace) {
    Value nsobj = object("v1", "Namespace", ns, "", Value::object());
    nsobj["metadata"]["labels"]["vcluster.loft.sh/namespace"] = "true";
    nsobj["metadata"]["annotations"]["vcluster.loft.sh/created-by"] = "vcluster create " + n;
    out.push_back(std::move(nsobj));
  }

  out.push_back(object("v1", "ServiceAccount", sa_name, ns, labels));

  Value role = object("rbac.authorization.k8s.io/v1", "Role", sa_name, ns, labels);
  role["rules"] = role_rules(o.resources);
  out.push_back(std::move(role));
  Value rb = object("rbac.authorization.k8s.io/v1", "RoleBinding", sa_name, ns, labels);
  rb["roleRef"]["apiGroup"] = "rbac.authorization.k8s.io";
  rb["roleRef"]["kind"] = "Role";
  rb["roleRef"]["name"] = sa_name;
  Value subject = Value::object();
  subject["kind"] = "ServiceAccount";
  subject["name"] = sa_name;
  subject["namespace"] = ns;
  rb["subjects"].push_back(subject);
  out.push_back(std::move(rb));

  Value crules = cluster_role_rules(o.resources);
  if (!crules.empty()) {
    // vcluster's name for the ClusterRole: it must be unique across namespaces.
    std::string crname = "vc-" + n + "-v-" + ns;
    Value cr = object("rbac.authorization.k8s.io/v1", "ClusterRole", crname, "", labels);
    cr["rules"] = std::move(crules);
    out.push_back(std::move(cr));
    Value crb = object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", crname, "", labels);
    crb["roleRef"]["apiGroup"] = "rbac.authorization.k8s.io";
    crb["roleRef"]["kind"] = "ClusterRole";
    crb["roleRef"]["name"] = crname;
    crb["subjects"].push_back(subject);
    out.push_back(std::move(crb));
  }

  const Pki& p = *o.pki;
  const std::string local_server = "https://127.0.0.1:6443";
  Value certs = object("v1", "Secret", n + "-certs", ns, labels);
  certs["type"] = "Opaque";
  Value& sd = certs["stringData"];
  sd["ca.crt"] = p.ca.cert_pem;
  sd["ca.key"] = p.ca.key_pem;
  sd["front-proxy-ca.crt"] = p.front_proxy_ca.cert_pem;
  sd["front-proxy-ca.key"] = p.front_proxy_ca.key_pem;
  sd["front-proxy-client.crt"] = p.front_proxy_client.cert_pem;
  sd["front-proxy-client.key"] = p.front_proxy_client.key_pem;
  sd["apiserver.crt"] = p.apiserver.cert_pem;
  sd["apiserver.key"] = p.apiserver.key_pem;
  sd["sa.key"] = p.sa_key_pem;
  sd["sa.pub"] = p.sa_pub_pem;
  sd["admin.kubeconfig"] = kubeconfig_yaml(n, local_server, p.ca.cert_pem, p.admin.cert_pem, p.admin.key_pem);
  sd["controller-manager.kubeconfig"] = kubeconfig_yaml(
      n, local_server, p.ca.cert_pem, p.controller_manager.cert_pem, p.controller_manager.key_pem);
  if (!p.scheduler.cert_pem.empty())
    sd["scheduler.kubeconfig"] =
        kubeconfig_yaml(n, local_server, p.ca.cert_pem, p.scheduler.cert_pem, p.scheduler.key_pem);
  out.push_back(std::move(certs));

  // vcluster's kubeconfig Secret: how `vcluster connect` and other tools reach the virtual cluster from
  // inside the host cluster.
  Value kc = object("v1", "Secret", "vc-" + n, ns, labels);
  kc["type"] = "Opaque";
  std::string server = "https://" + n + "." + ns + ".svc:443";
  kc["stringData"]["config"] = kubeconfig_yaml(n, server, p.ca.cert_pem, p.admin.cert_pem, p.admin.key_pem);
  kc["stringData"]["certificate-authority"] = p.ca.cert_pem;
  kc["stringData"]["client-certificate"] = p.admin.cert_pem;
  kc["stringData"]["client-key"] = p.admin.key_pem;
  out.push_back(std::move(kc));

  Value values = object("v1", "ConfigMap", n + "-values", ns, labels);
  values["data"]["values.yaml"] = o.values_yaml;
  out.push_back(std::move(values));

  if (o.distro == "k0s") {
    Value cfg = Value::object();
    cfg["apiVersion"] = "k0s.k0sproject.io/v1beta1";
    cfg["kind"] = "Cluster";
    cfg["metadata"]["name"] = "k0s";
    cfg["spec"]["api"]["port"] = 6443;
    cfg["spec"]["api"]["k0sApiPort"] = 9443;
    cfg["spec"]["api"]["sans"] = str_array({n, n + "." + ns, n + "." + ns + ".svc"});
    cfg["spec"]["network"]["serviceCIDR"] = o.service_cidr;
    cfg["spec"]["storage"]["type"] = "kine";
    Value sec = object("v1", "Secret", "vc-" + n + "-config", ns, labels);
    sec["type"] = "Opaque";
    sec["stringData"]["k0s.yaml"] = to_yaml(cfg);
    out.push_back(std::move(sec));
  }

  Value svc = object("v1", "Service", n, ns, labels);
  svc["spec"]["type"] = o.expose ? "LoadBalancer" : "ClusterIP";
  svc["spec"]["ports"].push_back(port("https", 443, 6443));
  svc["spec"]["selector"] = labels;
  out.push_back(std::move(svc));

  Value headless = object("v1", "Service", n + "-headless", ns, labels);
  headless["spec"]["clusterIP"] = "None";
  headless["spec"]["publishNotReadyAddresses"] = true;
  headless["spec"]["ports"].push_back(port("https", 443, 6443));
  headless["spec"]["selector"] = labels;
  out.push_back(std::move(headless));

  Value sts = object("apps/v1", "StatefulSet", n, ns, labels);
  Value& spec = sts["spec"];
  spec["replicas"] = 1;
  spec["serviceName"] = n + "-headless";
  spec["podManagementPolicy"] = "Parallel";
  spec["selector"]["matchLabels"] = labels;
  Value& tmpl = spec["template"];
  tmpl["metadata"]["labels"] = labels;
  Value& pod = tmpl["spec"];
  pod["serviceAccountName"] = sa_name;
  pod["terminationGracePeriodSeconds"] = 10;
  Value containers = Value::array(), init = Value::array();
  control_plane(o, &containers, &init);

  std::vector<std::string> syncer = {
      "/usr/local/bin/vcluster-syncer",     "--name=" + n,
      "--target-namespace=" + ns,           "--virtual-kubeconfig=/pki/admin.kubeconfig",
      "--values=/etc/vcluster/values.yaml", "--status-address=0.0.0.0:8080"};
  if (!o.plugins.empty()) syncer.push_back("--plugins=" + join(o.plugins, ","));
  // Selector-less Endpoints may not point into the host's Service range (the services plugin refuses them).
  if (!o.service_cidr.empty()) syncer.push_back("--host-service-cidr=" + o.service_cidr);
  Value sc = container("syncer", o.syncer_image, syncer);
  sc["ports"].push_back(container_port("status", 8080));
  sc["readinessProbe"] = http_probe("/readyz", 8080, "HTTP", 5, 5, 60);
  sc["livenessProbe"] = http_probe("/healthz", 8080, "HTTP", 60, 10, 6);
  sc["env"].push_back(env("VCLUSTER_NAME", n));
  sc["volumeMounts"].push_back(mount("certs", "/pki", true));
  sc["volumeMounts"].push_back(mount("values", "/etc/vcluster", true));
  containers.push_back(std::move(sc));
  if (!init.empty()) pod["initContainers"] = std::move(init);
  pod["containers"] = std::move(containers);

  Value certs_vol = Value::object();
  certs_vol["name"] = "certs";
  certs_vol["secret"]["secretName"] = n + "-certs";
  pod["volumes"].push_back(std::move(certs_vol));
  Value values_vol = Value::object();
  values_vol["name"] = "values";
  values_vol["configMap"]["name"] = n + "-values";
  pod["volumes"].push_back(std::move(values_vol));
  if (o.distro == "k0s") {
    Value v = Value::object();
    v["name"] = "k0s-config";
    v["secret"]["secretName"] = "vc-" + n + "-config";
    pod["volumes"].push_back(std::move(v));
  }

  Value claim = Value::object();
  claim["metadata"]["name"] = "data";
  claim["spec"]["accessModes"] = str_array({"ReadWriteOnce"});
  claim["spec"]["resources"]["requests"]["storage"] = "5Gi";
  spec["volumeClaimTemplates"].push_back(std::move(claim));
  out.push_back(std::move(sts));

  if (o.isolate)
    for (auto& obj : render_isolation(n, ns, true)) out.push_back(std::move(obj));
  return out;
}

}  // namespace vc::cli
