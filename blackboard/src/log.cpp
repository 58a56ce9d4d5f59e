// agora::log: named spdlog loggers behind one distributing sink, so sinks
// and levels can change while actor threads log.
#include "agora/log.hpp"

#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>

namespace agora::log {

namespace {

using spdlog::level::level_enum;

/// The parsed level spec.
struct levels_t {
  std::optional<level_enum> fallback;
  std::map<std::string, level_enum, std::less<>> per_logger;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<level_enum> level_named(std::string_view n) {
  if (n == "trace") return level_enum::trace;
  if (n == "debug") return level_enum::debug;
  if (n == "info") return level_enum::info;
  if (n == "warn" || n == "warning") return level_enum::warn;
  if (n == "error" || n == "err") return level_enum::err;
  if (n == "critical") return level_enum::critical;
  if (n == "off") return level_enum::off;
  return std::nullopt;
}

bb::result<levels_t> parse_levels(std::string_view spec, std::string_view what) {
  levels_t out;
  const std::string_view all = spec;
  while (true) {
    const auto comma = spec.find(',');
    const std::string_view entry = trim(spec.substr(0, comma));
    if (!entry.empty()) {
      const auto eq = entry.find('=');
      const std::string_view name = eq == std::string_view::npos ? "" : trim(entry.substr(0, eq));
      const std::string_view lvl = eq == std::string_view::npos ? entry : trim(entry.substr(eq + 1));
      const auto l = level_named(lvl);
      if (!l || (eq != std::string_view::npos && name.empty())) {
        return bb::error{bb::errc::invalid_argument,
                         std::string(what) + "'" + std::string(entry) + "' in '" + std::string(all) +
                             "' is not a level or logger=level (levels: trace, debug, info, warn, "
                             "error, critical, off)"};
      }
      if (name.empty()) {
        out.fallback = *l;
      } else {
        out.per_logger[std::string(name)] = *l;
      }
    }
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  return out;
}

const char* level_text(level_enum l) {
  switch (l) {
    case level_enum::trace: return "trace";
    case level_enum::debug: return "debug";
    case level_enum::info: return "info";
    case level_enum::warn: return "warn";
    case level_enum::err: return "error";
    case level_enum::critical: return "critical";
    default: return "off";
  }
}

void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

/// "2026-12-07T15:04:05.123+00:00", local time with its offset.
void append_time(spdlog::memory_buf_t& dest, std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char zone[8];
  std::strftime(zone, sizeof zone, "%z", &tm);  // +0000
  n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03d%.3s:%.2s",
                                              static_cast<int>(ms), zone, zone + 3));
  dest.append(buf, buf + n);
}

void append_json_string(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      dest.push_back('\\');
      dest.push_back(c);
    } else if (c == '\n') {
      append(dest, "\\n");
    } else if (c == '\t') {
      append(dest, "\\t");
    } else if (u < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", u);
      append(dest, esc);
    } else {
      dest.push_back(c);
    }
  }
  dest.push_back('"');
}

/// Reads `event key=value key="quoted value"` back: the event is the text
/// before the first word with a '='.
struct parsed_line {
  std::string event;
  std::vector<std::pair<std::string, std::string>> fields;
};

parsed_line parse_line(std::string_view line) {
  parsed_line out;
  std::size_t i = 0;
  // The event: words up to the first word containing '='.
  std::size_t event_end = 0;
  while (i < line.size()) {
    std::size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    const std::string_view word = line.substr(i, j - i);
    if (word.find('=') != std::string_view::npos) break;
    event_end = j;
    i = j + 1;
  }
  out.event = std::string(trim(line.substr(0, event_end)));
  while (i < line.size()) {
    const std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key(trim(line.substr(i, eq - i)));
    std::string value;
    std::size_t k = eq + 1;
    if (k < line.size() && line[k] == '"') {
      ++k;
      while (k < line.size() && line[k] != '"') {
        if (line[k] == '\\' && k + 1 < line.size()) {
          ++k;
          value += line[k] == 'n' ? '\n' : line[k];
        } else {
          value += line[k];
        }
        ++k;
      }
      ++k;  // the closing quote
    } else {
      const std::size_t end = std::min(line.find(' ', k), line.size());
      value = std::string(line.substr(k, end - k));
      k = end;
    }
    out.fields.emplace_back(std::move(key), std::move(value));
    i = k;
    while (i < line.size() && line[i] == ' ') ++i;
  }
  return out;
}

class agora_formatter final : public spdlog::formatter {
 public:
  explicit agora_formatter(agora::log::format f) : f_(f) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    const std::string_view name(msg.logger_name.data(), msg.logger_name.size());
    if (f_ == agora::log::format::text) {
      append_time(dest, msg.time);
      dest.push_back(' ');
      append(dest, name);
      dest.push_back(' ');
      append(dest, level_text(msg.level));
      dest.push_back(' ');
      append(dest, text);
      dest.push_back('\n');
      return;
    }
    append(dest, "{\"ts\":\"");
    append_time(dest, msg.time);
    append(dest, "\",\"logger\":");
    append_json_string(dest, name);
    append(dest, ",\"level\":\"");
    append(dest, level_text(msg.level));
    append(dest, "\",\"event\":");
    const parsed_line p = parse_line(text);
    append_json_string(dest, p.event);
    for (const auto& [k, v] : p.fields) {
      // Our own keys come first and win; a field cannot overwrite them.
      if (k == "ts" || k == "logger" || k == "level" || k == "event") continue;
      dest.push_back(',');
      append_json_string(dest, k);
      dest.push_back(':');
      append_json_string(dest, v);
    }
    append(dest, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<agora_formatter>(f_); }

 private:
  agora::log::format f_;
};

struct state {
  std::mutex mu;
  std::map<std::string, logger_ptr, std::less<>> loggers;
  levels_t levels;
  /// Every logger's one sink; it hands lines to the current sinks.
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
  state() {
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    err->set_formatter(std::make_unique<agora_formatter>(format::text));
    dist->add_sink(std::move(err));
  }
};

/// Never destroyed: actor threads may log while static objects go away.
state& st() {
  static state* s = new state;
  return *s;
}

level_enum level_for(const levels_t& l, std::string_view name) {
  if (auto it = l.per_logger.find(name); it != l.per_logger.end()) return it->second;
  return l.fallback.value_or(level_enum::info);
}

void apply_levels(state& s) {
  for (auto& [name, lg] : s.loggers) lg->set_level(level_for(s.levels, name));
}

}  // namespace

logger_ptr get(std::string_view name) {
  state& s = st();
  std::lock_guard lock(s.mu);
  if (auto it = s.loggers.find(name); it != s.loggers.end()) return it->second;
  auto lg = std::make_shared<spdlog::logger>(std::string(name), s.dist);
  lg->set_level(level_for(s.levels, name));
  lg->flush_on(level_enum::trace);  // a line is on disk before the next one
  s.loggers.emplace(std::string(name), lg);
  return lg;
}

bb::status check_levels(std::string_view levels) {
  auto l = parse_levels(levels, "log level ");
  if (!l) return std::move(l).take_error();
  return {};
}

bb::status configure(const settings& cfg) {
  auto levels = parse_levels(cfg.levels, "log level ");
  if (!levels) return std::move(levels).take_error();
  std::shared_ptr<spdlog::sinks::sink> sink;
  try {
    if (cfg.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.file, /*truncate=*/false);
    }
  } catch (const std::exception& e) {
    return bb::error{bb::errc::io_error, "log file '" + cfg.file + "' cannot be opened: " + e.what()};
  }
  sink->set_formatter(std::make_unique<agora_formatter>(cfg.fmt));
  state& s = st();
  std::lock_guard lock(s.mu);
  s.levels = std::move(*levels);
  s.dist->set_sinks({std::move(sink)});
  apply_levels(s);
  return {};
}

bb::status configure_from_environment() {
  const char* env = std::getenv("AGORA_LOG");
  if (!env || !*env) return {};
  auto levels = parse_levels(env, "AGORA_LOG: ");
  if (!levels) return std::move(levels).take_error();
  state& s = st();
  std::lock_guard lock(s.mu);
  if (levels->fallback) s.levels.fallback = levels->fallback;
  for (auto& [name, l] : levels->per_logger) s.levels.per_logger[name] = l;
  apply_levels(s);
  return {};
}

void set_sinks(std::vector<sink_ptr> sinks) { st().dist->set_sinks(std::move(sinks)); }

std::string value(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace agora::log
