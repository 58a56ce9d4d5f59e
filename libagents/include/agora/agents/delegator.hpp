/// \file delegator.hpp
/// Delegator — the *supervisor* building block of the patterns: decompose a
/// task into subtasks, delegate them to workers (a fan-out that closes on
/// quorum or deadline), synthesize the subtask results into the answer.
///
/// It is called a delegator so as not to be confused with
/// actors::spawn_supervisor (supervision.hpp), which keeps a pool of agents
/// alive (restarts, circuit breakers, DLQ) — a different job. The two
/// combine: a delegator's worker may be a supervisor's pool behind an agent.
///
/// ```cpp
/// using namespace agora;
/// delegator_config cfg;
/// cfg.workers = {w1, w2, w3};                              // any agents, patterns or blocks
/// cfg.decompose = [](const json& in) -> bb::result<std::vector<json>> {
///   std::vector<json> parts;
///   for (const auto& f : in.at("files")) parts.push_back(f);  // one subtask per file
///   return parts;
/// };
/// cfg.synthesize = [](const json&, const std::vector<subtask_result>& rs) -> bb::result<json> {
///   json all = json::array();
///   for (const auto& r : rs) if (r.ok) all.push_back(r.answer);
///   return all;
/// };
/// cfg.quorum = 2;                                          // close once 2 subtasks are done ...
/// cfg.timeout = std::chrono::seconds(30);                  // ... or after 30 s
/// auto d = spawn_delegator(rt, board, cfg);                // bb::result<actors::agent_actor>
/// auto r = run_pattern(rt.system(), *d, "review-1", {{"files", {"a.cpp", "b.cpp"}}}, std::chrono::minutes(1));
/// ```
///
/// **Decompose.** A function of the run's input (called on the delegator's
/// actor: keep it quick), or an agent asked with `{"pattern": "delegator",
/// "role": "decompose", "run", "round": 1, "key", "input"}` whose answer is
/// a JSON array. Each element is a subtask.
///
/// **Delegate.** Subtask j goes to worker j mod (number of workers), or to
/// the worker a subtask names: an object subtask with a string field
/// `"worker"` equal to a worker's id (an unknown id fails the run, naming
/// it). The worker gets task `sub-<j>` with input `{"pattern":
/// "delegator", "role": "worker", "run", "round": 1, "key", "subtask": j,
/// "input": <subtask>}`. All are sent at once; the delegation closes when
/// `quorum` subtasks succeeded (0: when all answered) or after `timeout`.
/// Late answers are recorded and do not count. With quorum q > 0, fewer than
/// q successes fail the run; with quorum 0, at least one success is needed.
///
/// **Synthesize.** A function of the input and the subtask results (every
/// subtask, in order, ok or not), or an agent asked with `{"pattern":
/// "delegator", "role": "synthesize", "run", "round": 1, "key", "input",
/// "results": [{"subtask", "worker", "ok", "answer", "error"}]}`. Its value
/// is the run's answer.
///
/// **Result.** settled with the synthesized answer, or failed with the
/// reason (decomposer, delegation or synthesizer). The result also holds
/// `"subtasks"` (count) and `"done"` (successes).
///
/// **On the blackboard** (run R): `runs/R/meta`; `runs/R/decompose` (the
/// decomposing agent's answer); `runs/R/plan` = {"subtasks", "by"} (txn
/// `R/plan`); `runs/R/subtasks/<j>` (worker contributions);
/// `runs/R/delegation` = {"results"} (txn `R/delegation`);
/// `runs/R/synthesis` (the synthesizing agent's answer); `runs/R/late/...`;
/// `runs/R/result`. A re-sent task whose run finished gets the recorded
/// result; a restarted delegator resumes from the plan and delegation
/// recorded, and reuses subtask answers committed, instead of asking again.
///
/// Thread-safety: configs and results are values; the delegator is an actor.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "agora/actors/agent.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora::actors {
class runtime;
}

namespace agora {

/// How one subtask went.
struct subtask_result {
  std::size_t index = 0;
  /// The worker it was given to.
  std::string worker;
  /// True when the worker answered in time and succeeded.
  bool ok = false;
  /// Its answer (null unless ok).
  json answer;
  /// Why it did not succeed ("" when ok), e.g. "no answer in time".
  std::string error;

  json to_json() const;
  /// Fails with bb::errc::invalid_argument naming the field.
  static bb::result<subtask_result> from_json(const json& j);
};

/// Splits the run's input into subtasks.
using decompose_fn = std::function<bb::result<std::vector<json>>(const json& input)>;
/// Combines the subtask results into the answer.
using synthesize_fn = std::function<bb::result<json>(const json& input, const std::vector<subtask_result>& results)>;

/// A decomposing agent's logic from a decompose_fn (its subtasks are the answer, as an array).
actors::agent_logic decomposer(decompose_fn fn);
/// A synthesizing agent's logic from a synthesize_fn.
actors::agent_logic synthesizer(synthesize_fn fn);

/// A delegator's members and rules.
struct delegator_config {
  std::vector<member> workers;
  /// Exactly one of `decompose` and `decompose_agent`.
  decompose_fn decompose;
  std::optional<member> decompose_agent;
  /// Exactly one of `synthesize` and `synthesize_agent`.
  synthesize_fn synthesize;
  std::optional<member> synthesize_agent;
  /// Successful subtasks that close the delegation early; 0 = wait for all.
  std::size_t quorum = 0;
  /// How long the delegation waits for its workers.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// How long the decomposing and synthesizing agents may take (each).
  std::chrono::milliseconds step_timeout{std::chrono::seconds(60)};
  /// How long an answer may still come after its timeout and be recorded as
  /// late (it never counts).
  std::chrono::milliseconds late_grace{std::chrono::seconds(10)};
  /// The delegator's own id (describe_atom, author of its writes). Default
  /// `delegator/orchestrator`.
  actors::agent_id id;
};

/// Spawns a delegator. Fails with bb::errc::invalid_argument when there are
/// no workers, a member has no id or actor, two members share an id, not
/// exactly one way to decompose (or to synthesize) is set, a timeout is not
/// positive, late_grace is negative, or the board is null.
bb::result<actors::agent_actor> spawn_delegator(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                                delegator_config cfg);
/// The same on a runtime's actor system.
bb::result<actors::agent_actor> spawn_delegator(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                                delegator_config cfg);

}  // namespace agora
