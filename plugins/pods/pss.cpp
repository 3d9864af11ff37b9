#include "pss.hpp"

#include <algorithm>
#include <set>

#include "refs.hpp"

namespace vcp_pods {

using vc::json::Value;

namespace {

// The admission plugin's helpers: pluralize(singular, plural, n) and joinQuote(`"a", "b"`).
std::string plural(std::string_view one, std::string_view many, size_t n) {
  return std::string(n == 1 ? one : many);
}

template <typename List>
std::string join_quote(const List& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += '"';
    out += s;
    out += '"';
  }
  return out;
}

template <typename List>
std::string join(const List& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// `container "a"` / `containers "a", "b"`.
std::string containers_phrase(const std::vector<std::string>& names) {
  return plural("container", "containers", names.size()) + " " + join_quote(names);
}

// Init containers, then containers, then ephemeral containers, as visitContainers walks them.
template <typename F>
void each_container(const Value& spec, F fn) {
  for (std::string_view list : {"initContainers", "containers", "ephemeralContainers"}) {
    for (const Value& c : field(spec, list).items()) fn(c, field(c, "name").as_string());
  }
}

const Value& sc_of(const Value& c) {
  return field(c, "securityContext");
}

bool is_true(const Value& v) {
  return v.is_bool() && v.as_bool();
}

void add(std::vector<PssViolation>& out, std::string reason, std::string detail) {
  out.push_back({std::move(reason), std::move(detail)});
}

void allow_privilege_escalation(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> bad;
  each_container(spec, [&](const Value& c, const std::string& name) {
    const Value& ape = field(sc_of(c), "allowPrivilegeEscalation");
    if (!ape.is_bool() || ape.as_bool()) bad.push_back(name);
  });
  if (!bad.empty()) {
    add(out, "allowPrivilegeEscalation != false",
        containers_phrase(bad) + " must set securityContext.allowPrivilegeEscalation=false");
  }
}

void app_armor(const Value& pod, const Value& spec, std::vector<PssViolation>& out) {
  // The beta annotations, and (Kubernetes 1.30+) securityContext.appArmorProfile.
  constexpr std::string_view kPrefix = "container.apparmor.security.beta.kubernetes.io/";
  std::vector<std::string> bad;
  for (const auto& [k, v] : field(field(pod, "metadata"), "annotations").members()) {
    if (!std::string_view(k).starts_with(kPrefix)) continue;
    const std::string& value = v.as_string();
    if (value.empty() || value == "runtime/default" || value.starts_with("localhost/")) continue;
    bad.push_back(k + "=\"" + value + "\"");
  }
  std::vector<std::string> setters;
  auto bad_profile = [](const Value& sc) {
    const Value& t = field(field(sc, "appArmorProfile"), "type");
    return t.is_string() && t.as_string() != "RuntimeDefault" && t.as_string() != "Localhost";
  };
  if (bad_profile(field(spec, "securityContext"))) setters.push_back("pod");
  std::vector<std::string> names;
  each_container(spec, [&](const Value& c, const std::string& name) {
    if (bad_profile(sc_of(c))) names.push_back(name);
  });
  if (!names.empty()) setters.push_back(containers_phrase(names));
  if (!setters.empty()) {
    bad.push_back(join(setters, " and ") +
                  " must not set securityContext.appArmorProfile.type to \"Unconfined\"");
  }
  if (!bad.empty()) {
    add(out, plural("forbidden AppArmor profile", "forbidden AppArmor profiles", bad.size()),
        join(bad, ", "));
  }
}

void capabilities_baseline(const Value& spec, std::vector<PssViolation>& out) {
  static const std::set<std::string, std::less<>> kAllowed = {
      "AUDIT_WRITE",      "CHOWN",   "DAC_OVERRIDE", "FOWNER",  "FSETID", "KILL",      "MKNOD",
      "NET_BIND_SERVICE", "SETFCAP", "SETGID",       "SETPCAP", "SETUID", "SYS_CHROOT"};
  std::vector<std::string> bad;
  std::set<std::string> caps;
  each_container(spec, [&](const Value& c, const std::string& name) {
    bool found = false;
    for (const Value& cap : field(field(sc_of(c), "capabilities"), "add").items()) {
      if (kAllowed.count(cap.as_string()) == 0) {
        found = true;
        caps.insert(cap.as_string());
      }
    }
    if (found) bad.push_back(name);
  });
  if (!bad.empty()) {
    add(out, "non-default capabilities",
        containers_phrase(bad) + " must not include " + join_quote(caps) +
            " in securityContext.capabilities.add");
  }
}

void capabilities_restricted(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> no_drop, bad_add;
  std::set<std::string> caps;
  each_container(spec, [&](const Value& c, const std::string& name) {
    const Value& cs = field(sc_of(c), "capabilities");
    bool dropped_all = false;
    for (const Value& cap : field(cs, "drop").items()) dropped_all = dropped_all || cap.as_string() == "ALL";
    if (!dropped_all) no_drop.push_back(name);
    bool found = false;
    for (const Value& cap : field(cs, "add").items()) {
      if (cap.as_string() != "NET_BIND_SERVICE") {
        found = true;
        caps.insert(cap.as_string());
      }
    }
    if (found) bad_add.push_back(name);
  });
  std::vector<std::string> details;
  if (!no_drop.empty()) {
    details.push_back(containers_phrase(no_drop) + " must set securityContext.capabilities.drop=[\"ALL\"]");
  }
  if (!bad_add.empty()) {
    details.push_back(containers_phrase(bad_add) + " must not include " + join_quote(caps) +
                      " in securityContext.capabilities.add");
  }
  if (!details.empty()) add(out, "unrestricted capabilities", join(details, "; "));
}

void host_namespaces(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> bad;
  for (std::string_view f : {"hostNetwork", "hostPID", "hostIPC"}) {
    if (is_true(field(spec, f))) bad.push_back(std::string(f) + "=true");
  }
  if (!bad.empty()) add(out, "host namespaces", join(bad, ", "));
}

void host_path_volumes(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> bad;
  for (const Value& v : field(spec, "volumes").items()) {
    if (v.find("hostPath") != nullptr) bad.push_back(field(v, "name").as_string());
  }
  if (!bad.empty())
    add(out, "hostPath volumes", plural("volume", "volumes", bad.size()) + " " + join_quote(bad));
}

void host_ports(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> bad;
  std::set<std::string> ports;  // sorted as strings, as sets.String.List() does
  each_container(spec, [&](const Value& c, const std::string& name) {
    bool found = false;
    for (const Value& p : field(c, "ports").items()) {
      const int64_t hp = field(p, "hostPort").as_int64(0);
      if (hp != 0) {
        found = true;
        ports.insert(std::to_string(hp));
      }
    }
    if (found) bad.push_back(name);
  });
  if (!bad.empty()) {
    add(out, "hostPort",
        containers_phrase(bad) + " " + plural("uses", "use", bad.size()) + " " +
            plural("hostPort", "hostPorts", ports.size()) + " " + join(ports, ", "));
  }
}

void privileged(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> bad;
  each_container(spec, [&](const Value& c, const std::string& name) {
    if (is_true(field(sc_of(c), "privileged"))) bad.push_back(name);
  });
  if (!bad.empty())
    add(out, "privileged", containers_phrase(bad) + " must not set securityContext.privileged=true");
}

void proc_mount(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> bad;
  std::set<std::string> values;
  each_container(spec, [&](const Value& c, const std::string& name) {
    const Value& pm = field(sc_of(c), "procMount");
    if (pm.is_string() && pm.as_string() != "Default") {
      bad.push_back(name);
      values.insert(pm.as_string());
    }
  });
  if (!bad.empty()) {
    add(out, "procMount",
        containers_phrase(bad) + " must not set securityContext.procMount to " + join_quote(values));
  }
}

void restricted_volumes(const Value& spec, std::vector<PssViolation>& out) {
  static const std::set<std::string, std::less<>> kAllowed = {
      "configMap", "csi",   "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
      "projected", "secret"};
  std::vector<std::string> bad;
  std::set<std::string> types;
  for (const Value& v : field(spec, "volumes").items()) {
    bool found = false;
    for (const auto& [k, src] : v.members()) {
      if (k == "name" || src.is_null() || kAllowed.count(k) != 0) continue;
      found = true;
      types.insert(k);
    }
    if (found) bad.push_back(field(v, "name").as_string());
  }
  if (!bad.empty()) {
    add(out, "restricted volume types",
        plural("volume", "volumes", bad.size()) + " " + join_quote(bad) + " " +
            plural("uses", "use", bad.size()) + " " +
            plural("restricted volume type", "restricted volume types", types.size()) + " " +
            join_quote(types));
  }
}

void run_as_non_root(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> setters, explicit_bad, implicit_bad;
  bool pod_true = false;
  const Value& pod_v = field(field(spec, "securityContext"), "runAsNonRoot");
  if (pod_v.is_bool()) {
    if (pod_v.as_bool()) {
      pod_true = true;
    } else {
      setters.push_back("pod");
    }
  }
  each_container(spec, [&](const Value& c, const std::string& name) {
    const Value& v = field(sc_of(c), "runAsNonRoot");
    if (v.is_bool()) {
      if (!v.as_bool()) explicit_bad.push_back(name);
    } else if (!pod_true) {
      implicit_bad.push_back(name);
    }
  });
  if (!explicit_bad.empty()) setters.push_back(containers_phrase(explicit_bad));
  if (!setters.empty()) {
    add(out, "runAsNonRoot != true",
        join(setters, " and ") + " must not set securityContext.runAsNonRoot=false");
  } else if (!implicit_bad.empty()) {
    add(out, "runAsNonRoot != true",
        "pod or " + containers_phrase(implicit_bad) + " must set securityContext.runAsNonRoot=true");
  }
}

void run_as_user(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> setters, names;
  auto is_root = [](const Value& sc) {
    const Value& u = field(sc, "runAsUser");
    return u.is_integer() && u.as_int64(-1) == 0;
  };
  if (is_root(field(spec, "securityContext"))) setters.push_back("pod");
  each_container(spec, [&](const Value& c, const std::string& name) {
    if (is_root(sc_of(c))) names.push_back(name);
  });
  if (!names.empty()) setters.push_back(containers_phrase(names));
  if (!setters.empty()) add(out, "runAsUser=0", join(setters, " and ") + " must not set runAsUser=0");
}

void se_linux(const Value& spec, std::vector<PssViolation>& out) {
  static const std::set<std::string, std::less<>> kTypes = {"", "container_t", "container_init_t",
                                                            "container_kvm_t"};
  std::set<std::string> types;
  bool user = false, role = false;
  auto valid = [&](const Value& sc) {
    const Value* o = sc.find("seLinuxOptions");
    if (o == nullptr || !o->is_object()) return true;
    bool ok = true;
    if (kTypes.count(field(*o, "type").as_string()) == 0) {
      ok = false;
      types.insert(field(*o, "type").as_string());
    }
    if (!field(*o, "user").as_string().empty()) {
      ok = false;
      user = true;
    }
    if (!field(*o, "role").as_string().empty()) {
      ok = false;
      role = true;
    }
    return ok;
  };
  std::vector<std::string> setters, names;
  if (!valid(field(spec, "securityContext"))) setters.push_back("pod");
  each_container(spec, [&](const Value& c, const std::string& name) {
    if (!valid(sc_of(c))) names.push_back(name);
  });
  if (!names.empty()) setters.push_back(containers_phrase(names));
  if (setters.empty()) return;
  // The admission plugin names user and role only when a type is wrong as well; naming them always tells the
  // tenant every field to fix.
  std::vector<std::string> data;
  if (!types.empty()) data.push_back(plural("type", "types", types.size()) + " " + join_quote(types));
  if (user) data.push_back("user may not be set");
  if (role) data.push_back("role may not be set");
  add(out, "seLinuxOptions",
      join(setters, " and ") + " set forbidden securityContext.seLinuxOptions: " + join(data, "; "));
}

const Value& seccomp_type(const Value& sc) {
  return field(field(sc, "seccompProfile"), "type");
}

void seccomp_baseline(const Value& spec, std::vector<PssViolation>& out) {
  std::vector<std::string> setters, names;
  if (seccomp_type(field(spec, "securityContext")).as_string() == "Unconfined") setters.push_back("pod");
  each_container(spec, [&](const Value& c, const std::string& name) {
    if (seccomp_type(sc_of(c)).as_string() == "Unconfined") names.push_back(name);
  });
  if (!names.empty()) setters.push_back(containers_phrase(names));
  if (!setters.empty()) {
    add(out, "seccompProfile",
        join(setters, " and ") + " must not set securityContext.seccompProfile.type to \"Unconfined\"");
  }
}

void seccomp_restricted(const Value& spec, std::vector<PssViolation>& out) {
  auto good = [](const Value& t) {
    return t.as_string() == "RuntimeDefault" || t.as_string() == "Localhost";
  };
  std::vector<std::string> setters, explicit_bad, implicit_bad;
  std::set<std::string> values;
  bool pod_ok = false;
  const Value& pt = seccomp_type(field(spec, "securityContext"));
  if (pt.is_string()) {
    if (good(pt)) {
      pod_ok = true;
    } else {
      setters.push_back("pod");
      values.insert(pt.as_string());
    }
  }
  each_container(spec, [&](const Value& c, const std::string& name) {
    const Value& t = seccomp_type(sc_of(c));
    if (t.is_string()) {
      if (!good(t)) {
        explicit_bad.push_back(name);
        values.insert(t.as_string());
      }
    } else if (!pod_ok) {
      implicit_bad.push_back(name);
    }
  });
  if (!explicit_bad.empty()) setters.push_back(containers_phrase(explicit_bad));
  std::vector<std::string> details;
  if (!setters.empty()) {
    details.push_back(join(setters, " and ") + " must not set securityContext.seccompProfile.type to " +
                      join_quote(values));
  }
  if (!implicit_bad.empty()) {
    details.push_back("pod or " + containers_phrase(implicit_bad) +
                      " must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"");
  }
  if (!details.empty()) add(out, "seccompProfile", join(details, "; "));
}

void sysctls(const Value& spec, std::vector<PssViolation>& out) {
  // The safe set of the latest version (1.0, plus ip_unprivileged_port_start in 1.22,
  // ip_local_reserved_ports in 1.27 and the tcp keepalive/fin settings in 1.29).
  static const std::set<std::string, std::less<>> kSafe = {"kernel.shm_rmid_forced",
                                                           "net.ipv4.ip_local_port_range",
                                                           "net.ipv4.tcp_syncookies",
                                                           "net.ipv4.ping_group_range",
                                                           "net.ipv4.ip_unprivileged_port_start",
                                                           "net.ipv4.ip_local_reserved_ports",
                                                           "net.ipv4.tcp_keepalive_time",
                                                           "net.ipv4.tcp_fin_timeout",
                                                           "net.ipv4.tcp_keepalive_intvl",
                                                           "net.ipv4.tcp_keepalive_probes"};
  std::vector<std::string> bad;
  for (const Value& s : field(field(spec, "securityContext"), "sysctls").items()) {
    const std::string& name = field(s, "name").as_string();
    if (kSafe.count(name) == 0) bad.push_back(name);
  }
  if (!bad.empty()) add(out, "forbidden sysctls", join(bad, ", "));
}

void windows_host_process(const Value& spec, std::vector<PssViolation>& out) {
  auto host_process = [](const Value& sc) {
    return is_true(field(field(sc, "windowsOptions"), "hostProcess"));
  };
  std::vector<std::string> setters, names;
  if (host_process(field(spec, "securityContext"))) setters.push_back("pod");
  each_container(spec, [&](const Value& c, const std::string& name) {
    if (host_process(sc_of(c))) names.push_back(name);
  });
  if (!names.empty()) setters.push_back(containers_phrase(names));
  if (!setters.empty()) {
    add(out, "hostProcess",
        join(setters, " and ") + " must not set securityContext.windowsOptions.hostProcess=true");
  }
}

}  // namespace

std::optional<PssLevel> parse_pss_level(std::string_view name) {
  if (name == "privileged") return PssLevel::kPrivileged;
  if (name == "baseline") return PssLevel::kBaseline;
  if (name == "restricted") return PssLevel::kRestricted;
  return std::nullopt;
}

std::string_view pss_level_name(PssLevel level) {
  switch (level) {
    case PssLevel::kPrivileged:
      return "privileged";
    case PssLevel::kBaseline:
      return "baseline";
    case PssLevel::kRestricted:
      return "restricted";
  }
  return "privileged";
}

std::vector<PssViolation> pss_check(const Value& pod, PssLevel level) {
  std::vector<PssViolation> out;
  if (level == PssLevel::kPrivileged) return out;
  const bool restricted = level == PssLevel::kRestricted;
  const Value& spec = field(pod, "spec");
  // Check IDs in sorted order: allowPrivilegeEscalation, appArmorProfile, capabilities_*, hostNamespaces,
  // hostPathVolumes, hostPorts, privileged, procMount, restrictedVolumes, runAsNonRoot, runAsUser,
  // seLinuxOptions, seccompProfile_*, sysctls, windowsHostProcess.
  if (restricted) allow_privilege_escalation(spec, out);
  app_armor(pod, spec, out);
  if (restricted) {
    capabilities_restricted(spec, out);
  } else {
    capabilities_baseline(spec, out);
  }
  host_namespaces(spec, out);
  host_path_volumes(spec, out);
  host_ports(spec, out);
  privileged(spec, out);
  proc_mount(spec, out);
  if (restricted) {
    restricted_volumes(spec, out);
    run_as_non_root(spec, out);
    run_as_user(spec, out);
  }
  se_linux(spec, out);
  if (restricted) {
    seccomp_restricted(spec, out);
  } else {
    seccomp_baseline(spec, out);
  }
  sysctls(spec, out);
  windows_host_process(spec, out);
  return out;
}

std::string pss_message(PssLevel level, const std::vector<PssViolation>& violations) {
  std::string m = "pod violates PodSecurity \"" + std::string(pss_level_name(level)) + ":latest\": ";
  for (size_t i = 0; i < violations.size(); i++) {
    if (i > 0) m += ", ";
    m += violations[i].reason + " (" + violations[i].detail + ")";
  }
  return m;
}

}  // namespace vcp_pods
