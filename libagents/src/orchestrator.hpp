// The engine every pattern runs on: an orchestrator actor with the agent
// interface that drives runs round by round — plan a step, fan it out,
// gather on quorum or deadline, close the round on the blackboard, ask the
// stop policy, and finish with a result. Patterns supply only what differs:
// who is asked what, and how a round is summarized. Private.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/errors.hpp"
#include "agora/agents/fan_out.hpp"
#include "agora/agents/policy.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora::detail {

/// Everything a pattern's run knows about the run it belongs to.
struct run_info {
  std::string run_id;
  json input;  // the run request's input (e.g. {"question": ...})
  std::shared_ptr<bb::blackboard> board;
};

/// How a round closed, as the pattern reports it.
struct round_close {
  round_summary summary;  // number and expected are filled in by the pattern
  json record;            // pattern-specific fields of runs/<run>/round/<r>
  // Other keys written in the same transaction as the record (a swarm's
  // merged artifact): they land exactly when the round is recorded.
  std::vector<std::pair<std::string, json>> writes;
};

/// One run of a pattern: its per-run state and decisions. Called only from
/// the orchestrator actor, one call at a time.
class pattern_run {
 public:
  virtual ~pattern_run() = default;
  /// The members asked in step `step` (0-based) of round `round`, with their
  /// task inputs (the engine fills in run, round, key and the task ids);
  /// nullopt when the round has no more steps. An empty vector is a step
  /// with nobody to ask (skipped).
  virtual std::optional<std::vector<std::pair<member, json>>> plan(std::uint32_t round,
                                                                   std::uint32_t step) = 0;
  /// The outcomes of that step, in plan order. Contributions reused on
  /// resume come as ok outcomes with `replayed` set and the stored answer;
  /// so does a member that ran the task again and replayed its first commit
  /// (the engine replaces its result's answer with the one at its key).
  virtual void gathered(std::uint32_t round, std::uint32_t step,
                        const std::vector<std::pair<member, json>>& asked,
                        const std::vector<actors::outcome>& got) = 0;
  /// Closes the round. An exception fails the run.
  virtual round_close close(std::uint32_t round) = 0;
  /// Re-applies a closed round's record (resume), in round order.
  virtual void restore(const json& record) = 0;
  /// The answer as a member gave it, for a normalized aggregate.
  virtual json answer_for(const std::string& normalized) const = 0;
  /// True when the last round's aggregate is the run's answer whenever the
  /// run went quiet (quiescence) or ran its only round to the end
  /// (max_rounds(1)): a swarm's artifact. Such a stop settles the run
  /// instead of leaving the answer to the fallback.
  virtual bool aggregate_settles() const { return false; }
};

/// A pattern for the engine.
struct pattern_def {
  /// "debate", "swarm", "evaluator_loop".
  std::string name;
  /// The orchestrator's own identity (describe_atom).
  actors::agent_spec spec;
  /// Every member, for runs/<run>/meta.
  std::vector<member> members;
  run_options run;
  /// Starts a run (a fresh one, or one being resumed: restore() follows).
  std::function<std::unique_ptr<pattern_run>(const run_info&)> start;
};

/// Checks what every pattern needs: members with ids and actors, distinct
/// ids, a bounded stop policy. `what` names the pattern in errors.
bb::status check_members(const std::string& what, const std::vector<member>& members);
bb::status check_run_options(const std::string& what, const run_options& opts);

/// Spawns the orchestrator.
actors::agent_actor spawn_orchestrator(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                       pattern_def def);

/// The run a task asks a pattern for: the task's run id, or `<run>.<task>`
/// when the task comes from a parent pattern (its input has a string
/// "key"); `nested` says which.
std::string run_id_for(const actors::task& t, bool& nested);

/// The error outcome a pattern answers a task with that fails
/// actors::validate_task; nullopt for a valid task.
std::optional<actors::outcome> invalid_task_outcome(const actors::task& t, const actors::agent_spec& who);

/// `id`, or `<name>/orchestrator` when it is empty.
actors::agent_id pattern_id(const std::string& name, const actors::agent_id& id);

/// What every spawn_<pattern> does after its own checks: refuses a null
/// board, bad members (check_members) and an unbounded policy
/// (check_run_options), then spawns the orchestrator for `name` with
/// identity pattern_id(name, id). Errors name the pattern.
bb::result<actors::agent_actor> spawn_pattern(
    caf::actor_system& sys, std::shared_ptr<bb::blackboard> board, const std::string& name,
    const actors::agent_id& id, std::vector<member> members, const run_options& run,
    std::function<std::unique_ptr<pattern_run>(const run_info&)> start);

/// The id of a member's task in a round's step: a single key segment.
std::string step_task_id(std::uint32_t round, std::uint32_t step, const actors::agent_id& who);

/// Usage a member reported in its outcome's result ({"usage": {...}}).
std::pair<std::uint64_t, double> usage_of(const actors::outcome& o);

/// The contribution in an outcome's result ({"answer": ...}); null when none.
json answer_of(const actors::outcome& o);

/// Sorts a step's outcomes the way every pattern does: a member with no
/// answer in time goes to `missing`; one that failed goes to `failed` with
/// the rendered error, and so does one whose result has no answer when
/// `no_answer` names that failure (nullptr: an answer is not required);
/// every other is passed to `take(who, outcome, answer)`, which returns an
/// error text to count it as failed after all, or "" to accept it.
template <class Take>
void sort_outcomes(const std::vector<std::pair<member, json>>& asked,
                   const std::vector<actors::outcome>& got, std::vector<std::string>& missing,
                   std::map<std::string, std::string>& failed, const char* no_answer, Take take) {
  for (std::size_t i = 0; i < got.size() && i < asked.size(); ++i) {
    const auto& o = got[i];
    const std::string who = asked[i].first.id.str();
    if (!on_time(o)) {
      missing.push_back(who);
      continue;
    }
    if (!o.ok()) {
      failed[who] = actors::render(o.error);
      continue;
    }
    json answer = answer_of(o);
    if (no_answer && answer.is_null()) {
      failed[who] = no_answer;
      continue;
    }
    std::string why = take(who, o, std::move(answer));
    if (!why.empty()) failed[who] = std::move(why);
  }
}

}  // namespace agora::detail
