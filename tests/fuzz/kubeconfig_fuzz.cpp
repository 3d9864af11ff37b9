// libFuzzer target: kubeconfig parsing (core/kube/kubeconfig). File references resolve under a directory
// that does not exist, so a reference fails the way a missing file does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kube/kubeconfig.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  for (const char* context : {"", "virtual"}) {
    vc::kube::RestConfig cfg;
    vc::Error e = vc::kube::load_kubeconfig_yaml(yaml, "/nonexistent/vcluster-fuzz", context, &cfg);
    if (e && e.message.empty()) std::abort();  // a refusal must say why
  }
  return 0;
}
