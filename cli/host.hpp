// The host side of every command: which kubeconfig file and context name the host cluster, the tools the
// local driver runs (the control-plane tool and vcluster-syncer), and the host's Service range.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/kube_sync.hpp"
#include "cli/state.hpp"
#include "kube/kubeconfig.hpp"

namespace vc::cli {

struct Host {
  std::string kubeconfig_file;  // the file connect writes to and the context came from
  std::string context;          // the host context's name
  kube::RestConfig cfg;
  std::string note;  // a line for the user when the context was chosen indirectly
};

// The kubeconfig files in kubectl's order: --kubeconfig, else the entries of $KUBECONFIG, else
// ~/.kube/config. The first one is where new contexts are written.
std::vector<std::string> kubeconfig_files(const Options& o);

// The current context of the first file that sets one ("" when none does).
std::string current_context(const std::vector<std::string>& files, std::string* file = nullptr);

// Resolves the host: --context, else the current context. When the current context is a vcluster's own
// (after `vcluster connect`), the host is that vcluster's host context, as vcluster does, so that
// `vcluster create` never nests inside the virtual cluster by accident: the vcluster's state names it, else
// the context's own name (vcluster_NAME_NS_HOST); a vcluster context whose host context is not in the
// kubeconfig is refused.
Error resolve_host(const Options& o, Host* out);

// Opens a client for the host and checks that the API server answers; the error names the context, the
// server and the fix.
Error connect_host(const Host& h, std::unique_ptr<KubeSync>* out);

// The host's Service range: the API server names its range when a Service asks for an IP outside it (vcluster
// probes with 4.4.4.4 the same way, spec §4.1; the request is refused, so nothing is created). Falls back to
// the /16 around the `kubernetes` Service's IP.
Error host_service_cidr(KubeSync& host, std::string* cidr, std::string* how);

// A range the local control plane accepts (tests/bed allows x.y.0.0/16 and x.y.z.0/24): a wider range is
// narrowed to the /16 holding `anchor_ip` (the host's `kubernetes` Service IP or the range's start), a range
// between /17 and /24 to the /24 holding it. Fails for ranges narrower than /24.
Error local_service_cidr(const std::string& host_cidr, const std::string& anchor_ip, std::string* out);

// Locates the control-plane tool: $VCLUSTER_BED, <exe>/../share/vcluster/tests/bed/cluster, the source tree's
// tests/bed/cluster. The error lists every path tried and the fix.
Error find_bed(std::string* path);
// Locates vcluster-syncer: $VCLUSTER_SYNCER, <exe dir>/vcluster-syncer, <exe>/../core/syncer/vcluster-syncer.
Error find_syncer(std::string* path);

// The context name connect writes: vcluster_NAME_NS_<host context>.
std::string context_name(const std::string& name, const std::string& namespace_,
                         const std::string& host_context);

// What a context name of connect's says: the vcluster, its namespace and the host context it was made from.
struct VclusterContext {
  std::string name, namespace_, host_context;
};
// False when `context` is not of the form vcluster_NAME_NS_HOST (vcluster's own CLI names them so too).
bool parse_context_name(const std::string& context, VclusterContext* out);

}  // namespace vc::cli
