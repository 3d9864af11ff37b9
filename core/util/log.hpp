// Logging: spdlog behind one setup call, text or JSON lines. Every module logs through vc::log().
#pragma once
#include <spdlog/spdlog.h>
#include <string_view>

namespace vc {

enum class LogFormat { kText, kJson };

// Configures the process-wide logger: level is one of trace, debug, info, warn, error; format text or json.
// Returns false (and leaves the logger unchanged) for an unknown level.
bool setup_logging(std::string_view level, LogFormat format);

// The process-wide logger. Safe to call before setup_logging (then: info level, text).
spdlog::logger& log();

}  // namespace vc
