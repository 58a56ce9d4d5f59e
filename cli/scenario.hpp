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
///     {"id": "debater/bob", "kind": "tool", "command": ["sh", "tools/bob.sh"]},
///     {"id": "debater/carol", "kind": "scripted", "replies": ["Sydney", "Canberra"],
///      "on": "worker"}
///   ],
///   "endpoints": {"local": {"format": "openai", "base_url": "http://127.0.0.1:8080/v1",
///                           "model": "qwen2.5"}},
///   "stop": {"any": [{"consensus": "majority"}, {"max_rounds": 3}]},
///   "fallback": "best_so_far"
/// }
/// ```
///
/// ```cpp
/// auto l = load_scenario("capital.json", {"agents.0.role=a skeptic"});
/// if (!l) { for (const auto& e : l.errors) std::cerr << e.to_string() << "\n"; return exit_usage; }
/// process_runner runner;
/// logic_context ctx{&runner, nullptr, ""};
/// for (const auto& a : l.value->agents) auto logic = make_agent_logic(*l.value, a, ctx);
/// ```
///
/// Loading checks everything before anything runs; an error names the file,
/// the line and column, the field (a JSON pointer) and what was expected:
/// `capital.json:7:16: /agents/1/kind: expected one of "llm", "tool",
/// "scripted"; got "lmm"; did you mean "llm"?`. Every error is reported,
/// not only the first; positions come from a scan of the text (nlohmann
/// keeps none), values set by --set are blamed on the --set.
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
#include "agora/agents/evaluator_loop.hpp"
#include "agora/agents/run.hpp"
#include "agora/agents/swarm.hpp"
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
  /// "stop", "fallback" and "round", as the pattern takes them.
  agora::run_options run;
  /// "vote_field": votes compare this field of object answers ("" = the
  /// whole answer, default_extractor).
  std::string vote_field;
  /// "swarm": {"order", "blind_first", "merge"}. merge: "" = none (the
  /// contributors edit the artifact), "collect" (object id → contribution),
  /// "list" (array in id order), "concat" (arrays concatenated).
  agora::swarm_order order = agora::swarm_order::parallel_then_merge;
  bool blind_first = false;
  std::string merge;
  /// "evaluator_loop": {"combine": "mean" | "min"}.
  agora::score_combine combine = agora::score_combine::mean;

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

/// Builds the logic of one agent of `s`, following the contribution protocol
/// of its part (run.hpp; debate.hpp, swarm.hpp, evaluator_loop.hpp):
/// - "llm": an LLM agent (llm_agent.hpp) on an http_client for its endpoint
///   (key from the variable `api_key_env` names) or a replay_client for its
///   "replay" file, wrapped in a recording_client with ctx.record_path;
///   evaluators get a default output schema {pass, score, critique};
/// - "tool": asynchronous logic that runs "command" through ctx.processes
///   (never on a CAF worker) with the task input as JSON on stdin (plus
///   "agent", "previous_record" and, for swarm contributors, "artifact");
///   stdout is the contribution (JSON, else the text as a string); a non-zero
///   exit or a timeout fails the task naming the command and stderr's last line;
/// - "scripted": "replies"[round - 1] (the last one repeats).
/// The logic keeps what it needs alive (clients). Fails with bb::errc::invalid_argument
/// naming the agent and the field (an endpoint's key variable is unset, a
/// replay file does not open).
bb::result<actors::agent_logic> make_agent_logic(const scenario& s, const agent_def& a,
                                                 const logic_context& ctx);

/// The enums of the format, as the checker knows them (the schema file
/// must list the same; a test compares them).
const std::vector<std::string>& scenario_patterns();   ///< "debate", "swarm", "evaluator_loop"
const std::vector<std::string>& scenario_agent_kinds(); ///< "llm", "tool", "scripted"
const std::vector<std::string>& scenario_agent_parts(); ///< "debater", "judge", ...
const std::vector<std::string>& scenario_fallbacks();   ///< "best_so_far", "last", "escalate"
const std::vector<std::string>& scenario_stop_kinds();  ///< "any", "all", "max_rounds", ...
const std::vector<std::string>& scenario_swarm_orders(); ///< "round_robin", ...
const std::vector<std::string>& scenario_swarm_merges(); ///< "collect", "list", "concat"

/// The stop policy of a scenario's "stop" value; errors name `pointer`
/// below it. Used by load_scenario; exposed for tests.
bb::result<agora::policy> parse_stop_policy(const json& j, const std::string& pointer = "/stop");

/// The scenario JSON Schema (draft 2020-12) the binary was built with —
/// the same text as cli/scenario.schema.json.
const std::string& scenario_schema_text();

}  // namespace agora::cli
