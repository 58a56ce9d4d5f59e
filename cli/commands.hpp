/// \file commands.hpp
/// The subcommands of `agora`. Each takes the arguments after its name and
/// returns an exit code (args.hpp: exit_code); each prints its `--help`.
/// main.cpp only dispatches; the tests call the binary itself.
///
/// Output: results go to stdout; progress, warnings and errors to stderr.
/// Thread-safety: call from main's thread, one at a time.
#pragma once

#include <string>
#include <vector>

namespace agora::cli {

/// `agora run SCENARIO.json`: runs a scenario (scenario.hpp). run_command.cpp.
int run_command(const std::vector<std::string>& args);
/// `agora review PATH`: the review swarm. review/review_command.cpp.
int review_command(const std::vector<std::string>& args);
/// `agora serve`: a node with a blackboard. node_command.cpp.
int serve_command(const std::vector<std::string>& args);
/// `agora worker --join HOST:PORT`: a scenario's agents on another machine. node_command.cpp.
int worker_command(const std::vector<std::string>& args);
/// `agora inspect DIR|TRACE`: history, versions, time travel, transcripts. inspect_command.cpp.
int inspect_command(const std::vector<std::string>& args);
/// `agora report DIR`: a self-contained HTML report of a run. report_command.cpp.
int report_command(const std::vector<std::string>& args);

/// A data directory (`--data DIR` of run, review, serve; what inspect and
/// report read): the durable blackboard and the spans of the runs.
inline constexpr const char* board_file = "blackboard.db";
inline constexpr const char* spans_file = "spans.jsonl";

/// Installs SIGINT/SIGTERM handlers that set interrupted() (once; a second
/// signal ends the process with 130).
void install_interrupt_handlers();
/// Whether SIGINT or SIGTERM arrived.
bool interrupted() noexcept;

}  // namespace agora::cli
