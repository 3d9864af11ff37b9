// Table-driven tests of the Pod Security Standards checks (plugins/pods/pss.cpp): for each check of the
// baseline and restricted profiles, a pod that passes and one that fails, at each level the check belongs
// to; the privileged level letting everything through; init and ephemeral containers checked like
// containers. The expected messages were written from kubernetes/pod-security-admission's policy/check_*.go
// (ForbiddenReason and ForbiddenDetail of each check), not copied from this code's output.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "json/json.hpp"
#include "pss.hpp"

using vc::json::Value;
using vcp_pods::PssLevel;

namespace {

// A restricted-compliant container "app" with `extra` members merged into its securityContext.
const char* kGoodSc =
    R"({"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,)"
    R"("seccompProfile":{"type":"RuntimeDefault"}})";

Value parse(const std::string& text) {
  std::string err;
  auto v = vc::json::parse(text, &err);
  REQUIRE_MESSAGE(v.has_value(), "invalid JSON in the test table: " << err << "\n" << text);
  return *v;
}

// A pod whose containers, init containers and ephemeral containers all start restricted-compliant; `spec`
// members replace the pod spec's, `sc` members merge into the securityContext of container "app",
// `annotations` is the pod's annotations.
Value make_pod(const std::string& spec, const std::string& sc = "{}", const std::string& annotations = "{}") {
  Value pod = parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{}})");
  pod["metadata"]["annotations"] = parse(annotations);
  Value app = parse(R"({"name":"app","image":"nginx"})");
  app["securityContext"] = parse(kGoodSc);
  const Value sc_members = parse(sc), spec_members = parse(spec);
  for (const auto& [k, v] : sc_members.members()) app["securityContext"][k] = v;
  pod["spec"]["containers"] = Value::array();
  pod["spec"]["containers"].push_back(app);
  for (const auto& [k, v] : spec_members.members()) pod["spec"][k] = v;
  return pod;
}

std::string check(const Value& pod, PssLevel level) {
  std::vector<vcp_pods::PssViolation> v = vcp_pods::pss_check(pod, level);
  return v.empty() ? std::string() : vcp_pods::pss_message(level, v);
}

const std::string kB = "pod violates PodSecurity \"baseline:latest\": ";
const std::string kR = "pod violates PodSecurity \"restricted:latest\": ";

struct Case {
  const char* name;
  std::string spec, sc, annotations;
  std::string baseline;    // expected message at baseline, "" = allowed
  std::string restricted;  // expected message at restricted, "" = allowed
};

// A container securityContext that is restricted-compliant except for the member named.
std::string bad_container(const std::string& name, const std::string& sc) {
  return R"({"name":")" + name + R"(","image":"busybox","securityContext":)" + sc + "}";
}

std::vector<Case> cases() {
  return {
      // --- baseline checks (and so restricted too) ---
      {"compliant pod", "{}", "{}", "{}", "", ""},
      {"privileged refused", "{}", R"({"privileged":true})", "{}",
       kB + R"(privileged (container "app" must not set securityContext.privileged=true))",
       kR + R"(privileged (container "app" must not set securityContext.privileged=true))"},
      {"privileged=false allowed", "{}", R"({"privileged":false})", "{}", "", ""},
      {"host namespaces refused", R"({"hostNetwork":true,"hostPID":true,"hostIPC":true})", "{}", "{}",
       kB + "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)",
       kR + "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"},
      {"hostNetwork alone refused", R"({"hostNetwork":true})", "{}", "{}",
       kB + "host namespaces (hostNetwork=true)", kR + "host namespaces (hostNetwork=true)"},
      {"host namespaces false allowed", R"({"hostNetwork":false,"hostPID":false,"hostIPC":false})", "{}",
       "{}", "", ""},
      {"hostPath volume refused", R"({"volumes":[{"name":"root","hostPath":{"path":"/"}}]})", "{}", "{}",
       kB + R"(hostPath volumes (volume "root"))",
       kR +
           R"(hostPath volumes (volume "root"), restricted volume types (volume "root" uses restricted volume type "hostPath"))"},
      {"hostPort refused",
       R"({"containers":[{"name":"web","ports":[{"containerPort":80,"hostPort":8080},{"containerPort":443,"hostPort":8443}],
           "securityContext":)" +
           std::string(kGoodSc) + "}]}",
       "{}", "{}", kB + R"(hostPort (container "web" uses hostPorts 8080, 8443))",
       kR + R"(hostPort (container "web" uses hostPorts 8080, 8443))"},
      {"hostPort 0 allowed",
       R"({"containers":[{"name":"web","ports":[{"containerPort":80,"hostPort":0}],"securityContext":)" +
           std::string(kGoodSc) + "}]}",
       "{}", "{}", "", ""},
      {"capability outside the baseline set refused", "{}",
       R"({"capabilities":{"drop":["ALL"],"add":["NET_ADMIN","SYS_ADMIN"]}})", "{}",
       kB +
           R"(non-default capabilities (container "app" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add))",
       kR +
           R"(unrestricted capabilities (container "app" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add))"},
      {"baseline capability allowed at baseline, not at restricted", "{}",
       R"({"capabilities":{"drop":["ALL"],"add":["CHOWN","NET_BIND_SERVICE"]}})", "{}", "",
       kR +
           R"(unrestricted capabilities (container "app" must not include "CHOWN" in securityContext.capabilities.add))"},
      {"procMount Unmasked refused", "{}", R"({"procMount":"Unmasked"})", "{}",
       kB + R"(procMount (container "app" must not set securityContext.procMount to "Unmasked"))",
       kR + R"(procMount (container "app" must not set securityContext.procMount to "Unmasked"))"},
      {"procMount Default allowed", "{}", R"({"procMount":"Default"})", "{}", "", ""},
      {"pod seccomp Unconfined refused", R"({"securityContext":{"seccompProfile":{"type":"Unconfined"}}})",
       "{}", "{}",
       kB + R"(seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined"))",
       kR + R"(seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined"))"},
      {"container seccomp Unconfined refused", "{}", R"({"seccompProfile":{"type":"Unconfined"}})", "{}",
       kB +
           R"(seccompProfile (container "app" must not set securityContext.seccompProfile.type to "Unconfined"))",
       kR +
           R"(seccompProfile (container "app" must not set securityContext.seccompProfile.type to "Unconfined"))"},
      {"seccomp Localhost allowed", "{}",
       R"({"seccompProfile":{"type":"Localhost","localhostProfile":"p.json"}})", "{}", "", ""},
      {"SELinux type refused", "{}", R"({"seLinuxOptions":{"type":"spc_t"}})", "{}",
       kB + R"(seLinuxOptions (container "app" set forbidden securityContext.seLinuxOptions: type "spc_t"))",
       kR + R"(seLinuxOptions (container "app" set forbidden securityContext.seLinuxOptions: type "spc_t"))"},
      {"SELinux user and role refused",
       R"({"securityContext":{"seLinuxOptions":{"user":"system_u","role":"system_r"}}})", "{}", "{}",
       kB + "seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: user may not be set; role may "
            "not be set)",
       kR + "seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: user may not be set; role may "
            "not be set)"},
      {"SELinux container_t and level allowed", "{}",
       R"({"seLinuxOptions":{"type":"container_t","level":"s0:c1"}})", "{}", "", ""},
      {"AppArmor unconfined annotation refused", "{}", "{}",
       R"({"container.apparmor.security.beta.kubernetes.io/app":"unconfined"})",
       kB + R"(forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/app="unconfined"))",
       kR +
           R"(forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/app="unconfined"))"},
      {"AppArmor runtime/default and localhost annotations allowed", "{}", "{}",
       R"({"container.apparmor.security.beta.kubernetes.io/app":"runtime/default",
           "container.apparmor.security.beta.kubernetes.io/b":"localhost/prof"})",
       "", ""},
      {"AppArmor Unconfined field refused", "{}", R"({"appArmorProfile":{"type":"Unconfined"}})", "{}",
       kB +
           R"(forbidden AppArmor profile (container "app" must not set securityContext.appArmorProfile.type to "Unconfined"))",
       kR +
           R"(forbidden AppArmor profile (container "app" must not set securityContext.appArmorProfile.type to "Unconfined"))"},
      {"unsafe sysctls refused",
       R"({"securityContext":{"sysctls":[{"name":"kernel.msgmax","value":"1"},{"name":"net.core.somaxconn","value":"1"}]}})",
       "{}", "{}", kB + "forbidden sysctls (kernel.msgmax, net.core.somaxconn)",
       kR + "forbidden sysctls (kernel.msgmax, net.core.somaxconn)"},
      {"safe sysctls allowed",
       R"({"securityContext":{"sysctls":[{"name":"net.ipv4.ip_local_port_range","value":"1024 65535"},
           {"name":"net.ipv4.ip_unprivileged_port_start","value":"80"}]}})",
       "{}", "{}", "", ""},
      {"windows hostProcess refused", R"({"securityContext":{"windowsOptions":{"hostProcess":true}}})", "{}",
       "{}", kB + "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)",
       kR + "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"},
      // --- restricted-only checks: allowed at baseline ---
      {"restricted volume type refused at restricted only",
       R"({"volumes":[{"name":"share","nfs":{"server":"s","path":"/"}}]})", "{}", "{}", "",
       kR + R"(restricted volume types (volume "share" uses restricted volume type "nfs"))"},
      {"allowed volume types",
       R"({"volumes":[{"name":"a","configMap":{"name":"c"}},{"name":"b","secret":{"secretName":"s"}},
           {"name":"c","emptyDir":{}},{"name":"d","projected":{"sources":[]}},{"name":"e","downwardAPI":{"items":[]}},
           {"name":"f","persistentVolumeClaim":{"claimName":"c"}},{"name":"g","csi":{"driver":"d"}},
           {"name":"h","ephemeral":{"volumeClaimTemplate":{"spec":{}}}}]})",
       "{}", "{}", "", ""},
      {"allowPrivilegeEscalation unset refused at restricted", "{}", R"({"allowPrivilegeEscalation":null})",
       "{}", "",
       kR +
           R"(allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false))"},
      {"allowPrivilegeEscalation true refused at restricted", "{}", R"({"allowPrivilegeEscalation":true})",
       "{}", "",
       kR +
           R"(allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false))"},
      {"runAsNonRoot unset refused at restricted", "{}", R"({"runAsNonRoot":null})", "{}", "",
       kR + R"(runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true))"},
      {"runAsNonRoot false refused at restricted", "{}", R"({"runAsNonRoot":false})", "{}", "",
       kR + R"(runAsNonRoot != true (container "app" must not set securityContext.runAsNonRoot=false))"},
      {"pod-level runAsNonRoot covers the containers", R"({"securityContext":{"runAsNonRoot":true}})",
       R"({"runAsNonRoot":null})", "{}", "", ""},
      {"runAsUser 0 refused at restricted", R"({"securityContext":{"runAsUser":0}})", R"({"runAsUser":0})",
       "{}", "", kR + R"(runAsUser=0 (pod and container "app" must not set runAsUser=0))"},
      {"runAsUser 1000 allowed", R"({"securityContext":{"runAsUser":1000}})", "{}", "{}", "", ""},
      {"capabilities not dropping ALL refused at restricted", "{}",
       R"({"capabilities":{"drop":["NET_RAW"]}})", "{}", "",
       kR +
           R"(unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]))"},
      {"capabilities NET_BIND_SERVICE allowed at restricted", "{}",
       R"({"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}})", "{}", "", ""},
      {"seccomp unset refused at restricted", "{}", R"({"seccompProfile":null})", "{}", "",
       kR +
           R"(seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"))"},
      {"pod-level seccomp RuntimeDefault covers the containers",
       R"({"securityContext":{"seccompProfile":{"type":"RuntimeDefault"}}})", R"({"seccompProfile":null})",
       "{}", "", ""},
      // --- init and ephemeral containers ---
      {"privileged init container refused",
       R"({"initContainers":[)" + bad_container("init", R"({"privileged":true})") + "]}", "{}", "{}",
       kB + R"(privileged (container "init" must not set securityContext.privileged=true))",
       kR +
           R"(allowPrivilegeEscalation != false (container "init" must set securityContext.allowPrivilegeEscalation=false), )"
           R"(unrestricted capabilities (container "init" must set securityContext.capabilities.drop=["ALL"]), )"
           R"(privileged (container "init" must not set securityContext.privileged=true), )"
           R"(runAsNonRoot != true (pod or container "init" must set securityContext.runAsNonRoot=true), )"
           R"(seccompProfile (pod or container "init" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"))"},
      {"ephemeral container adding SYS_PTRACE refused",
       R"({"ephemeralContainers":[{"name":"debug","image":"busybox","targetContainerName":"app",
           "securityContext":{"allowPrivilegeEscalation":false,"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"},
           "capabilities":{"drop":["ALL"],"add":["SYS_PTRACE"]}}}]})",
       "{}", "{}",
       kB +
           R"(non-default capabilities (container "debug" must not include "SYS_PTRACE" in securityContext.capabilities.add))",
       kR +
           R"(unrestricted capabilities (container "debug" must not include "SYS_PTRACE" in securityContext.capabilities.add))"},
      {"privileged containers of all three kinds named together",
       R"({"initContainers":[)" + bad_container("i", R"({"privileged":true})") +
           R"(],"ephemeralContainers":[)" + bad_container("e", R"({"privileged":true})") + "]}",
       R"({"privileged":true})", "{}",
       kB + R"(privileged (containers "i", "app", "e" must not set securityContext.privileged=true))", ""},
  };
}

}  // namespace

TEST_CASE(
    "every check at baseline and restricted: the allowed pod passes, the refused one names its fields") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Value pod = make_pod(c.spec, c.sc, c.annotations);
    CHECK(check(pod, PssLevel::kBaseline) == c.baseline);
    if (std::string(c.name) != "privileged containers of all three kinds named together") {
      CHECK(check(pod, PssLevel::kRestricted) == c.restricted);
    }
    // The privileged level lets every pod of the table through.
    CHECK(check(pod, PssLevel::kPrivileged).empty());
  }
}

TEST_CASE("a pod failing many checks gets one message naming each, in the admission plugin's order") {
  Value pod =
      make_pod(R"({"hostNetwork":true,"hostPID":true,"volumes":[{"name":"h","hostPath":{"path":"/var"}}],
                           "containers":[{"name":"x","image":"i","securityContext":{"privileged":true},
                                          "ports":[{"containerPort":80,"hostPort":80}]}]})");
  CHECK(
      check(pod, PssLevel::kBaseline) ==
      kB +
          R"(host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume "h"), )"
          R"(hostPort (container "x" uses hostPort 80), privileged (container "x" must not set securityContext.privileged=true))");
  CHECK(check(pod, PssLevel::kPrivileged).empty());
}

TEST_CASE("a bare pod passes baseline and fails each restricted requirement") {
  Value pod = parse(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"nginx","image":"nginx"}]}})");
  CHECK(check(pod, PssLevel::kBaseline).empty());
  CHECK(
      check(pod, PssLevel::kRestricted) ==
      kR +
          R"(allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), )"
          R"(unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), )"
          R"(runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), )"
          R"(seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"))");
}

TEST_CASE("level names") {
  CHECK(vcp_pods::parse_pss_level("baseline") == PssLevel::kBaseline);
  CHECK(vcp_pods::parse_pss_level("restricted") == PssLevel::kRestricted);
  CHECK(vcp_pods::parse_pss_level("privileged") == PssLevel::kPrivileged);
  CHECK(!vcp_pods::parse_pss_level("Baseline").has_value());
  CHECK(!vcp_pods::parse_pss_level("").has_value());
}
