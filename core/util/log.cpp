#include "util/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace vc {
namespace {
std::shared_ptr<spdlog::logger>& logger_slot() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = std::make_shared<spdlog::logger>("vc", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    lg->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    lg->set_level(spdlog::level::info);
    return lg;
  }();
  return l;
}
}  // namespace

bool setup_logging(std::string_view level, LogFormat format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") return false;
  auto& l = logger_slot();
  l->set_level(lvl);
  if (format == LogFormat::kJson) {
    // One JSON object per line; the message is escaped by the callers that build structured fields.
    l->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})",
                   spdlog::pattern_time_type::utc);
  } else {
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  return true;
}

spdlog::logger& log() {
  return *logger_slot();
}

}  // namespace vc
