// Pod Security Standards, checked by the syncer before a virtual pod reaches the host when
// `isolation.enabled` is true (vcluster-behaviour.md §3.7 gate 2, §8.2: vcluster's
// --enforce-pod-security-standard). The checks are those of kubernetes/pod-security-admission's
// policy/check_*.go at version "latest", with the same reasons and details in the message, so a tenant reads
// what `kubectl apply` would have told them against a namespace labelled pod-security.kubernetes.io/enforce.
// The functions read only their arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json/json.hpp"

namespace vcp_pods {

enum class PssLevel { kPrivileged, kBaseline, kRestricted };

// "privileged", "baseline" or "restricted"; nullopt for anything else.
std::optional<PssLevel> parse_pss_level(std::string_view name);
std::string_view pss_level_name(PssLevel level);

// One failed check: the admission plugin's ForbiddenReason and ForbiddenDetail.
struct PssViolation {
  std::string reason;  // e.g. "privileged"
  std::string detail;  // e.g. `container "x" must not set securityContext.privileged=true`
};

// Every check of `level` the pod fails, in the admission plugin's order (by check ID). The privileged level
// has no checks; restricted runs every baseline check too, its own capabilities and seccompProfile checks
// replacing the baseline ones. Init and ephemeral containers are checked like containers.
std::vector<PssViolation> pss_check(const vc::json::Value& pod, PssLevel level);

// `pod violates PodSecurity "<level>:latest": <reason> (<detail>), ...`, as the admission plugin words it.
std::string pss_message(PssLevel level, const std::vector<PssViolation>& violations);

}  // namespace vcp_pods
