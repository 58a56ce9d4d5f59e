// The actor layer's log lines: a logger (agora.actors unless the options
// name another) as a callable that writes one prepared key=value line.
#pragma once

#include <spdlog/logger.h>

#include <string>

#include "agora/log.hpp"

namespace agora::actors::detail {

namespace lv = spdlog::level;

struct log_fn {
  log::logger_ptr lg;
  void operator()(lv::level_enum l, const std::string& line) const {
    if (lg && lg->should_log(l)) lg->log(l, spdlog::string_view_t(line.data(), line.size()));
  }
};

/// The logger of options that may name none: agora.actors then.
inline log::logger_ptr logger_or_default(const log::logger_ptr& lg) {
  return lg ? lg : log::get(log::actors);
}

}  // namespace agora::actors::detail
