// Prometheus text exposition of the syncer's figures.
#pragma once

#include <string>

#include "engine/engine.hpp"
#include "kube/client.hpp"

namespace vc::syncer {
std::string render_metrics(const engine::Engine& eng, const kube::Client& virt, const kube::Client& host,
                           bool leader);
}
