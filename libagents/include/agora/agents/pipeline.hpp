/// \file pipeline.hpp
/// Pipeline: a batch of items flows through stages, each stage an agent (or
/// a pattern, or another building block), with a contract between each
/// stage and the next. An item that fails — its stage failed or gave no
/// answer in time, or its output broke the stage's contract — goes to the
/// dead-letter queue with the stage and the error; the other items flow on.
///
/// ```cpp
/// using namespace agora;
/// // A stage is any agent; `stage(fn)` makes one from a plain function.
/// auto inc = stage([](const stage_turn& t) -> bb::result<json> {
///   if (!t.input.is_number_integer()) return bb::error{bb::errc::invalid_argument, "not an integer"};
///   return t.input.get<int>() + 1;
/// });
/// pipeline_config cfg;
/// auto non_negative = bb::contract::from_schema({{"type", "integer"}, {"minimum", 0}});
/// cfg.stages.push_back({inc_member, *non_negative});       // member{id, spawn_agent(..., inc)}
/// cfg.stages.push_back({twice_member});
/// cfg.stages[1].timeout = std::chrono::seconds(5);          // never wait forever on a stage
/// auto p = spawn_pipeline(rt, board, cfg);                  // bb::result<actors::agent_actor>
/// auto r = run_pattern(rt.system(), *p, "batch1", {{"items", {1, -5, "x"}}}, std::chrono::minutes(1));
/// // r->answer == {"0": 4}; items "1" (-4 breaks stage 1's contract) and
/// // "2" (stage 1 failed) are in _dlq/batch1/1 and _dlq/batch1/2
/// ```
///
/// **Items.** A run's input `{"items": [...]}` is a batch whose items are
/// named "0", "1", ...; `{"items": {"<name>": item, ...}}` names them
/// (names are single key segments: no '/', no control characters). Any
/// other input is one item, named "item", the whole input — that is how a
/// pipeline stands where an agent can (a debater that is a pipeline gets the
/// debate's task input as its item).
///
/// **Flow.** Every item goes through the stages in order; at most
/// `max_in_flight` items are in the pipeline at once, the others wait their
/// turn (in order). Stage k of item i gets a task `<i>:s<k>` (run.hpp's
/// contribution protocol) with input `{"pattern": "pipeline", "run",
/// "round": 1, "key", "item": i, "stage": k, "input": <item, or stage k-1's
/// output>}`; its answer is its output. Before the output flows on, the
/// pipeline checks it against the stage's contract (a bb::contract:
/// schema or predicate). A stage has `timeout` to answer; an answer after it
/// is recorded as late and does not count.
///
/// **Failures.** An item fails at the first stage that fails (an error
/// outcome, no answer, no answer in time, or an output that breaks the
/// contract). It is written to the DLQ at `<dlq_prefix>/<run>/<item>` with
/// actors::write_dlq: the record's task is the item (input: `{"item",
/// "stage", "stage_agent", "input"` and, for a contract violation,
/// `"output"}`), its error the stage's (errc::timeout for no answer in time,
/// bb::errc::contract_violation naming the stage, the JSON path and why).
///
/// **Result.** settled when at least one item completed (or the batch was
/// empty), failed when none did. The answer: for a batch, an object item →
/// final output of the items that completed; for a single item, its output.
/// The result also holds `"items"` (count), `"completed"` (count) and
/// `"failed"`: item → {"stage", "agent", "error", "dlq"}.
///
/// **On the blackboard** (run R): `runs/R/meta`; `runs/R/stages/<item>/<k>`
/// — stage k's output (written by the stage); `runs/R/items/<item>` —
/// {"status": "done", "output"} or {"status": "failed", "stage", "agent",
/// "error", "dlq"} (txn `R/item/<item>`); `runs/R/late/<item>/<k>/<agent>`;
/// `runs/R/result`. A re-sent task whose run finished gets the recorded
/// result and nothing runs again; a restarted pipeline resumes a run: items
/// recorded are not run again, and stage outputs committed are reused, not
/// asked for again. (The DLQ write has no txn id: a restart between it and
/// the item record writes the DLQ entry again; the value is the same but for
/// its time.)
///
/// Thread-safety: configs and turns are values; the pipeline is an actor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>

#include "agora/actors/agent.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "agora/blackboard/contract.hpp"

namespace agora::actors {
class runtime;
}

namespace agora {

/// One stage: who does it, what its output must satisfy, how long it may take.
struct pipeline_stage {
  pipeline_stage() = default;
  /// `{agent}`, `{agent, contract}`, `{agent, contract, timeout}`.
  pipeline_stage(member a, std::optional<bb::contract> c = std::nullopt,
                 std::chrono::milliseconds t = std::chrono::seconds(60))
      : agent(std::move(a)), contract(std::move(c)), timeout(t) {}

  /// The agent (or pattern, or building block). A pipeline may use the same
  /// member for several stages.
  member agent;
  /// What this stage's output must satisfy before it flows to the next stage
  /// (for the last stage: before it is the item's result). None = anything.
  std::optional<bb::contract> contract;
  /// How long the stage may take per item.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

/// A pipeline's stages and rules.
struct pipeline_config {
  std::vector<pipeline_stage> stages;
  /// Items in the pipeline at once. At least 1.
  std::size_t max_in_flight = 16;
  /// How long a stage's answer may still come after its timeout and be
  /// recorded as late (it never counts).
  std::chrono::milliseconds late_grace{std::chrono::seconds(10)};
  /// Key prefix of the dead-letter queue. Under access_control::registered
  /// the pipeline's id must be allowed to write `<dlq_prefix>/**`.
  std::string dlq_prefix = "_dlq";
  /// The pipeline's own id: what describe_atom reports and the author of its
  /// writes (DLQ entries included). Default `pipeline/orchestrator`.
  actors::agent_id id;
};

/// What a stage sees for one item.
struct stage_turn {
  std::string run_id;
  std::string item;
  /// 1-based.
  std::uint32_t stage = 1;
  /// The item (stage 1) or the previous stage's output.
  json input;
};

/// A stage's logic from a function of its turn; the function's value is
/// the stage's output (written at the task's key, returned as
/// `{"answer": ...}`); its error fails the item. Runs on a CAF worker
/// thread: keep it quick.
actors::agent_logic stage(std::function<bb::result<json>(const stage_turn&)> fn);

/// Spawns a pipeline. Fails with bb::errc::invalid_argument when there are
/// no stages, a stage's member has no id or actor, a stage timeout is not
/// positive, late_grace is negative, max_in_flight is 0, or the board is
/// null. A run whose item names are not single key segments fails, naming
/// the item.
bb::result<actors::agent_actor> spawn_pipeline(caf::actor_system& sys,
                                               std::shared_ptr<bb::blackboard> board,
                                               pipeline_config cfg);
/// The same on a runtime's actor system.
bb::result<actors::agent_actor> spawn_pipeline(actors::runtime& rt,
                                               std::shared_ptr<bb::blackboard> board,
                                               pipeline_config cfg);

}  // namespace agora
