// The services table handed to plugins (vcp_host_api), implemented over the engine's caches and queue.
#pragma once
#include <vcp/plugin.h>

namespace vc::engine {
const vcp_host_api* host_api_table();
}
