/// \file log.hpp
/// Agora's logging: every layer logs through spdlog, one named logger per
/// layer, and nothing here touches spdlog's default logger or registry (a
/// program's own spdlog set-up stays its own).
///
/// | logger         | what it logs                                                    |
/// | -------------- | --------------------------------------------------------------- |
/// | `agora.bb`     | recovery of a durable board, compaction, a board that fails     |
/// | `agora.actors` | node start, joins and refusals (with the peer), lost workers,   |
/// |                | retries with their reason, dead letters, breaker state changes  |
/// | `agora.llm`    | model call errors and retries (never a key or a prompt)         |
/// | `agora.agents` | patterns: runs that end without a settled answer                |
/// | `agora.cli`    | the `agora` command                                             |
///
/// Lines are `TIME LOGGER LEVEL event key=value ...`, e.g.
///
///     2026-12-07T15:04:05.123+00:00 agora.actors info join accepted node=hub worker=w1 peer=10.0.0.2:51234
///
/// or, with format::json, one JSON object per line:
///
///     {"ts":"2026-12-07T15:04:05.123+00:00","logger":"agora.actors","level":"info",
///      "event":"join accepted","node":"hub","worker":"w1","peer":"10.0.0.2:51234"}
///
/// ```cpp
/// #include <agora/log.hpp>
///
/// // Levels in spdlog's SPDLOG_LEVEL syntax: a default, then per logger.
/// agora::log::settings s;
/// s.levels = "warn,agora.actors=debug";
/// s.file = "agora.log";                     // empty: stderr
/// s.fmt = agora::log::format::json;
/// if (auto ok = agora::log::configure(s); !ok) { /* names the bad entry */ }
/// ```
///
/// A program hands in its own spdlog sink with set_sinks(); the levels stay
/// Agora's (configure()), the sink's own level and pattern are the sink's.
/// The environment variable AGORA_LOG holds a level spec, read only when a
/// program calls configure_from_environment() (the `agora` command does).
///
/// Thread-safety: every function is thread-safe; loggers are spdlog's
/// (thread-safe sinks).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace spdlog {
class logger;
namespace sinks {
class sink;
}  // namespace sinks
}  // namespace spdlog

namespace agora::log {

/// The layers' logger names.
inline constexpr std::string_view bb = "agora.bb";
inline constexpr std::string_view actors = "agora.actors";
inline constexpr std::string_view llm = "agora.llm";
inline constexpr std::string_view agents = "agora.agents";
inline constexpr std::string_view cli = "agora.cli";

using logger_ptr = std::shared_ptr<spdlog::logger>;
using sink_ptr = std::shared_ptr<spdlog::sinks::sink>;

/// The logger `name` (one of the names above, or a name of the program's
/// own), created on first use with the current sinks and its level. The
/// same logger every time; never null.
logger_ptr get(std::string_view name);

/// How lines are written by Agora's own sinks (stderr or a file).
enum class format { text, json };

/// What configure() sets. Defaults: info and up, stderr, text.
struct settings {
  /// spdlog's SPDLOG_LEVEL syntax: comma-separated entries, each a level
  /// (the default for every logger) or `logger=level`. Levels: trace,
  /// debug, info, warn (warning), error (err), critical, off. Empty: info.
  std::string levels;
  /// Append lines to this file; empty: stderr.
  std::string file;
  format fmt = format::text;
};

/// Applies `s` to every Agora logger, existing and future: levels, and a
/// new stderr or file sink with the format. Fails, changing nothing, with
/// errc::invalid_argument naming the bad level entry, or errc::io_error
/// naming a file that cannot be opened.
bb::status configure(const settings& s);

/// Applies the levels in the environment variable AGORA_LOG (if set and not
/// empty) on top of the current settings. Errors name the variable and the
/// bad entry; nothing changes then.
bb::status configure_from_environment();

/// Replaces the sinks of every Agora logger (existing and future) with
/// `sinks` (a program's own: a file, syslog, a test's ring buffer). Their
/// formatting is theirs. An empty vector silences Agora.
void set_sinks(std::vector<sink_ptr> sinks);

/// The level spec as configure() reads it, for checking a command line
/// before anything changes: fails like configure() does.
bb::status check_levels(std::string_view levels);

/// `s` as a value in a key=value line: as it is, or quoted with `"` and
/// backslash escapes when it is empty or has a space, `"` or `=`. The JSON
/// format reads the same quoting back into fields.
std::string value(std::string_view s);

}  // namespace agora::log
