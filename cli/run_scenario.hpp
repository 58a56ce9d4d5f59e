/// \file run_scenario.hpp
/// Running a loaded scenario: what `agora run` does after parsing its
/// command line, and what `agora serve --scenario` does once its workers
/// have joined. Builds the local agents (make_agent_logic), takes the
/// remote ones from the node, spawns the pattern with the scenario's
/// policies, shows progress, waits for the result (bounded), prints it,
/// and writes the HTML report when asked.
///
/// Thread-safety: call from main's thread.
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "scenario.hpp"

namespace agora::actors {
class tracer;
}
namespace agora::bb {
class blackboard;
}

namespace agora::cli {

class run_node;

struct run_settings {
  /// The run's id on the blackboard; "" = the scenario's name.
  std::string run_id;
  /// `--report FILE.html`; "" = none.
  std::string report_path;
  /// The spans file the tracer writes ("" = none); the report reads it.
  std::string spans_path;
  /// A progress line on stderr (only when stderr is a terminal).
  bool progress = true;
  /// Print the result as one JSON object instead of text.
  bool json_output = false;
  /// The whole run is bounded by this.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  /// How long to wait for workers to register the remote agents.
  std::chrono::milliseconds wait_workers{std::chrono::seconds(60)};
  /// LLM agents record their exchanges here ("" = no recording).
  std::string record_path;
};

/// Runs `s` as run `settings.run_id` on `board` with `sys`; remote agents
/// (agent_def::remote) come from `node`, which must then be non-null.
/// Prints the result (answer, status, stop reason, rounds, tokens, cost)
/// to `out`, problems to `err`. Returns the exit code: exit_ok when the run
/// settled or fell back, exit_findings when it escalated or failed,
/// exit_error when it could not run, exit_interrupted on SIGINT/SIGTERM.
int execute_scenario(const scenario& s, const run_settings& settings, caf::actor_system& sys,
                     actors::tracer* tracer, std::shared_ptr<bb::blackboard> board, run_node* node,
                     std::ostream& out, std::ostream& err);

}  // namespace agora::cli
