/// \file args.hpp
/// Command-line parsing for the `agora` subcommands: each subcommand
/// describes its options once (command_spec), and that description both
/// parses argv and prints `--help`.
///
/// ```cpp
/// command_spec spec{"run", "agora run SCENARIO.json [options]", "Runs a scenario.",
///                   {{"set", "PATH=VALUE", "override a field (repeatable)", true},
///                    {"quiet", "", "no progress line"}},
///                   {"SCENARIO.json"}, 1, 1};
/// auto a = parse_args(spec, argv);          // argv without "agora run"
/// if (!a) { std::cerr << a.error().message << "\n"; return exit_usage; }
/// if (a->help) { std::cout << usage(spec); return exit_ok; }
/// for (const auto& s : a->all("set")) ...
/// ```
/// Accepted forms: `--name value`, `--name=value`, `--flag`, `--` (the rest
/// are positionals), `-h`/`--help`. Unknown options, a missing value, a
/// value given to a flag and a wrong number of positionals are errors that
/// name the option and the command.
///
/// Thread-safety: values only.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace agora::cli {

/// Exit codes of every subcommand (docs/cli.md).
enum exit_code : int {
  exit_ok = 0,           ///< done: a run settled or fell back; a review found nothing at --fail-on
  exit_findings = 1,     ///< review: findings at or above --fail-on; run: escalated or failed
  exit_usage = 2,        ///< bad command line or bad input file (scenario, endpoint): nothing ran
  exit_error = 3,        ///< could not do the work: a tool, file, node or model failed
  exit_interrupted = 130 ///< SIGINT/SIGTERM: stopped early (what was committed stays)
};

/// One option. `value_name` empty = a flag without a value.
struct option_spec {
  std::string name;        ///< without the leading "--"
  std::string value_name;  ///< e.g. "FILE"; empty for a flag
  std::string help;        ///< one line
  bool repeatable = false; ///< may be given more than once
};

/// What a subcommand accepts.
struct command_spec {
  std::string name;         ///< "run"
  std::string synopsis;     ///< "agora run SCENARIO.json [options]"
  std::string description;  ///< a paragraph; may contain newlines
  std::vector<option_spec> options;
  std::vector<std::string> positional_names;  ///< for the usage text
  std::size_t min_positionals = 0;
  std::size_t max_positionals = 0;
  /// Printed after the options by usage(); e.g. examples and exit codes.
  std::string epilog{};
};

/// The parsed command line.
struct parsed_args {
  bool help = false;
  std::vector<std::string> positionals;
  /// Every value an option was given, in order; a flag maps to {""}.
  std::map<std::string, std::vector<std::string>> values;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  /// The last value given, if any.
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, std::string fallback) const;
  std::vector<std::string> all(const std::string& name) const;
};

/// Parses `argv` (the arguments after the subcommand's name). Fails with
/// bb::errc::invalid_argument: "agora run: unknown option '--x' (agora run
/// --help lists them)", a missing value, a flag given a value, an option
/// given twice that is not repeatable, or the wrong number of positionals.
/// With `--help` anywhere, returns help=true and checks nothing else.
bb::result<parsed_args> parse_args(const command_spec& spec, const std::vector<std::string>& argv);

/// The `--help` text: synopsis, description, options aligned, epilog.
std::string usage(const command_spec& spec);

/// What every command does first: parses `argv` into `out`; on a bad
/// command line prints the error to stderr and returns exit_usage; on
/// `--help` prints usage to stdout and returns exit_ok; otherwise returns
/// nothing and the command goes on.
///
/// ```cpp
/// parsed_args a;
/// if (auto done = parse_or_exit(spec, args, a)) return *done;
/// ```
std::optional<int> parse_or_exit(const command_spec& spec, const std::vector<std::string>& argv,
                                 parsed_args& out);

/// Takes the logging options every command accepts out of `argv` (before a
/// `--`): `--log-level LEVELS` (spdlog's SPDLOG_LEVEL syntax, e.g. `debug`
/// or `warn,agora.actors=debug`; applied on top of the environment variable
/// AGORA_LOG), `--log-file FILE` (append there instead of stderr) and
/// `--log-format text|json`, in either `--name value` or `--name=value`
/// form, and configures agora::log with them. Fails with
/// bb::errc::invalid_argument naming the option (or AGORA_LOG) and the bad
/// value, or bb::errc::io_error naming the file; nothing is configured then.
bb::status take_logging_options(const std::string& command, std::vector<std::string>& argv);

/// Parses a number option: fails naming the option and the text when it is
/// not a number in [min, max].
bb::result<double> number_option(const parsed_args& a, const std::string& name, double fallback,
                                 double min, double max);

/// Whether `fd` is a terminal (progress lines and colours only then).
bool is_terminal(int fd);

}  // namespace agora::cli
