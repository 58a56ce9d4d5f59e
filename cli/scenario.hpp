/// \file scenario.hpp
/// Scenario files: what `agora run` runs and what `agora worker` takes its
/// agents from. A scenario is JSON (schema: cli/scenario.schema.json, guide:
/// docs/scenarios.md) naming the pattern, the agents, the policies and the
/// fallback:
///
/// ```json
/// {
///   "name": "capital",
///   "pattern": "debate",
///   "input": {"question": "What is the capital of Australia?"},
///   "agents": [
///     {"id": "debater/alice", "kind": "llm", "role": "a careful geographer",
///      "endpoint": "local", "prompt": "Answer: {{input.question}}"},
///     {"id": "debater/bob", "kind": "tool", "command": ["python3", "bob.py"]},
///     {"id": "debater/carol", "kind": "llm", "endpoint": "local", "on": "worker"}
///   ],
///   "endpoints": {"local": {"url": "http://127.0.0.1:8080/v1/chat/completions",
///                           "api": "openai", "model": "qwen2.5"}},
///   "stop": {"any": [{"consensus": "majority"}, {"max_rounds": 3}]},
///   "fallback": "best_so_far"
/// }
/// ```
///
/// Loading checks everything before anything runs; an error names the file,
/// the line and column, the field (a JSON pointer) and what was expected:
/// `capital.json:7:16: /agents/1/kind: expected one of "llm", "tool",
/// "scripted"; got "lmm"`.
///
/// Thread-safety: values; load_scenario and make_agent_logic may run on any
/// thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/actors/agent.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::actors {
class tracer;
}

namespace agora::cli {

using json = nlohmann::json;

class process_runner;

/// One thing wrong with a scenario file.
struct scenario_error {
  std::string file;
  std::size_t line = 0;    ///< 1-based; 0 when unknown
  std::size_t column = 0;  ///< 1-based; 0 when unknown
  std::string field;       ///< JSON pointer, "" for the whole document
  std::string expected;    ///< what the schema wants there
  std::string message;     ///< the whole sentence, e.g. "got \"lmm\""
  /// "FILE:LINE:COL: FIELD: expected ...; got ..." — what `agora run` prints.
  std::string to_string() const;
};

/// One agent of a scenario, validated.
struct agent_def {
  std::string id;    ///< "type/name"
  std::string kind;  ///< "llm" | "tool" | "scripted"
  std::string role;  ///< the persona the pattern passes on ("" = none)
  /// What it does in the pattern: "debater", "judge", "contributor",
  /// "synthesizer", "generator", "evaluator" (defaults by pattern).
  std::string part;
  /// Runs in `agora worker` processes instead of the run's process.
  bool remote = false;
  /// The agent's object as written (after --set overrides), for the
  /// kind-specific fields.
  json spec;
  std::size_t line = 0;  ///< where the object starts in the file
};

/// A validated scenario.
struct scenario {
  std::string file;  ///< as given; relative paths inside resolve against its directory
  std::string name;
  std::string pattern;  ///< "debate" | "swarm" | "evaluator_loop"
  json input;
  std::vector<agent_def> agents;
  /// The whole document after overrides (the run records it in its meta).
  json document;

  /// The directory relative paths in the file resolve against.
  std::string base_dir() const;
};

/// A scenario or every error found in it (at least one).
struct scenario_load {
  std::unique_ptr<scenario> value;  ///< null when errors is not empty
  std::vector<scenario_error> errors;
  explicit operator bool() const { return value != nullptr; }
};

/// Reads `path`, applies `overrides` ("json/pointer/or.dotted.path=VALUE",
/// VALUE parsed as JSON when it parses, else taken as a string), validates
/// against the schema and the cross-field rules (ids unique, parts fit the
/// pattern, endpoints named exist, the stop policy is bounded). Never
/// throws.
scenario_load load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

/// The same for text already in memory (`file` names it in errors).
scenario_load parse_scenario(const std::string& text, const std::string& file,
                             const std::vector<std::string>& overrides = {});

/// What building an agent's logic may use. Pointers are not owned and must
/// outlive the agents built with them.
struct logic_context {
  /// Runs the processes of tool agents off the CAF workers. Required for
  /// "tool" agents.
  process_runner* processes = nullptr;
  /// Spans of LLM calls, when set and enabled.
  actors::tracer* tracer = nullptr;
  /// `--record FILE`: LLM agents record their exchanges there (JSON lines).
  std::string record_path;
};

/// Builds the logic of one agent of `s`: an LLM agent (llm_agent.hpp) on its
/// endpoint, replay file or scripted replies; a tool agent that runs its
/// command with the task's input as JSON on stdin and takes its stdout as
/// the contribution; a scripted agent answering from a list. The logic
/// keeps what it needs alive (clients). Fails with bb::errc::invalid_argument
/// naming the agent and the field (an endpoint's key variable is unset, a
/// replay file does not open).
bb::result<actors::agent_logic> make_agent_logic(const scenario& s, const agent_def& a,
                                                 const logic_context& ctx);

/// The scenario JSON Schema (draft 2020-12) the binary was built with —
/// the same text as cli/scenario.schema.json.
const std::string& scenario_schema_text();

}  // namespace agora::cli
