/// \file swarm.hpp
/// Swarm: N contributors build one artifact together, in turns (round
/// robin), all at once with a merge (parallel then merge), or all at once
/// round after round, each round seeing the last (iterative). A reducer
/// function or a synthesizer agent merges the contributions; the stop
/// policy decides when the artifact is done.
///
/// ```cpp
/// using namespace agora;
/// // A contributor is any agent; `contributor(fn)` makes one from a plain function.
/// auto reviewer = contributor([](const swarm_turn& turn) -> bb::result<json> {
///   return json("finding by " + turn.persona);           // its contribution
/// });
/// swarm_config cfg;
/// for (std::string name : {"style", "security", "tests"}) {
///   auto id = actors::agent_id::make("reviewer", name);
///   auto a = actors::spawn_agent(rt, board, {*id, "reviewer", {}}, reviewer);
///   cfg.contributors.push_back({*id, *a, name});
/// }
/// cfg.order = swarm_order::parallel_then_merge;
/// cfg.reduce = [](const swarm_merge& m) -> bb::result<json> {  // the round's artifact
///   json all = json::array();
///   for (const auto& [who, c] : m.contributions) all.push_back(c);
///   return all;
/// };
/// cfg.run.stop = max_rounds(1);
/// auto s = spawn_swarm(rt, board, cfg);                 // bb::result<actors::agent_actor>
/// auto r = run_pattern(rt.system(), *s, "review-1", {{"task", "review main.cpp"}},
///                      std::chrono::minutes(1));        // r->answer: the artifact
/// ```
///
/// **The artifact** lives at `runs/<run>/artifact` (run_keys::root(run) +
/// "/artifact"). A run's input may carry a starting artifact as its
/// `"artifact"` field; it is written before the first contributor is asked.
/// Who writes the artifact depends on the swarm:
/// - *with a merge* (a reducer or a synthesizer): only the orchestrator. At
///   the end of every round the merge turns the round's contributions (and
///   the artifact as it stood) into the new artifact, written in the same
///   transaction as the round's record. Contributors only contribute.
/// - *without a merge*: the contributors, through their own scratchpads
///   (swarm_contribution::edit: replace, merge or append). A replace pins
///   the artifact as it read it, so two contributors replacing it at once conflict
///   and the agent layer re-runs the later one on a fresh snapshot: no edit
///   is lost. Merges and appends onto a key declared mergeable
///   (bb::blackboard::declare_mergeable) never conflict; on any other key
///   they conflict and retry like a replace. Every edit is pinned to its
///   turn: once its round is recorded (in round robin: once the next step
///   has started), an edit that comes late is refused by the blackboard, so
///   a late contributor does not change the artifact. (An edit that commits
///   in the instant between its step closing and that point stays in the
///   artifact, though its contribution does not count.)
///
/// **Orderings.**
/// - `round_robin`: one contributor per step, in the order of
///   swarm_config::contributors; each sees the artifact as the previous one
///   left it (without a merge, its contribution replaces the artifact by
///   default; with one, it also sees the round's earlier contributions in
///   swarm_turn::others, and the merge runs after the last step).
/// - `parallel_then_merge`: every contributor at once, each at its own key,
///   seeing the artifact as the round started and nobody's contribution;
///   then the merge. Needs a reducer or a synthesizer.
/// - `iterative`: every contributor at once, every round; each sees the
///   artifact and all contributions of the last round (swarm_turn::others).
///   With a merge, the merge makes each round's artifact; without one, the
///   contributors edit it directly (concurrently: see above).
/// - `blind_first`: in round 1, every contributor is asked at once and sees
///   only the starting artifact and nobody's contribution, whatever the
///   ordering, until all have contributed; the merge then makes the
///   artifact. Needs a reducer or a synthesizer. From round 2 on the
///   ordering applies.
///
/// **What policies see** (round_summary): `expected` is the number of
/// contributors; `answers` maps each contributor whose contribution counted
/// to its normalized contribution (the extractor); `new_contributions`
/// counts contributors whose normalized contribution differs from their
/// previous round's (all of them in round 1), so `quiescence(k)` stops a
/// swarm whose contributors stopped changing their minds; `aggregate` is
/// the artifact after the round, normalized, so `stable_answer(k)` stops
/// when the artifact stayed the same for k rounds (unset when the merge
/// failed); `consensus(rule)` votes on the contributions; `quality` is the
/// synthesizer's `"score"` when it reports one. The run's answer is the
/// artifact (or, for a consensus, the agreed contribution), as given.
///
/// **Tasks.** A contributor's task input (run.hpp's contribution protocol)
/// is `{"pattern": "swarm", "run", "round", "key", "persona", "input": the
/// run's input, "order", "blind", "artifact_key", "edits":
/// whether contributors edit the artifact, "previous": the key of the last
/// round's record (iterative, else null), "earlier": {id: contribution}
/// (round robin with a merge), "turn_revision": the pin (when edits)}`. A
/// synthesizer gets `{"pattern": "swarm", "role": "synthesizer", "run",
/// "round", "key", "input", "artifact": the artifact's value,
/// "contributions": {id: contribution}}` and answers with the new artifact.
/// Contributions and the synthesizer's answer are stored at
/// `runs/<run>/answers/<round>/<member id>`; the round's record
/// `runs/<run>/round/<round>` holds `contributions`, `failed`, `missing`,
/// `artifact` and, when the merge failed, `merge_error`.
///
/// Thread-safety: configs, turns and contributions are values; the swarm is
/// an actor. A reducer runs on the orchestrator's thread, one call at a
/// time: keep it quick and let it not block.
#pragma once

#include <functional>
#include <map>
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

/// How contributors take turns (see the file comment).
enum class swarm_order : std::uint8_t {
  round_robin = 1,
  parallel_then_merge,
  iterative,
};

/// "round_robin", "parallel_then_merge", "iterative".
const char* to_string(swarm_order o) noexcept;

/// What a contribution does to the artifact, in the contributor's own
/// promotion. Only swarms without a merge let contributors edit it.
enum class artifact_edit : std::uint8_t {
  /// Without a merge: replace; with one: none.
  by_order = 0,
  /// Leave the artifact alone.
  none,
  /// The contribution becomes the artifact (reads it first: a concurrent
  /// change conflicts and the contributor runs again on a fresh snapshot).
  replace,
  /// The contribution (a JSON object) is merge-patched onto the artifact.
  merge,
  /// The contribution is appended to the artifact (an array; absent = []).
  append,
};

/// A contributor's answer: its contribution, and what it does to the artifact.
struct swarm_contribution {
  json value;
  artifact_edit edit = artifact_edit::by_order;
};

/// What a contributor sees in one turn, read from its task and scratchpad.
struct swarm_turn {
  std::string run_id;
  std::uint32_t round = 1;
  swarm_order order = swarm_order::parallel_then_merge;
  /// The blind first phase: nobody's contribution is shown.
  bool blind = false;
  /// The run's input, as given to the swarm.
  json input;
  std::string persona;
  /// The artifact as this contributor sees it (null when there is none yet).
  json artifact;
  /// This contributor's own counted contribution in the last round (iterative).
  std::optional<json> own_previous;
  /// Other contributors' contributions it may see: contributor id →
  /// contribution. Iterative: the last round's; round robin with a merge:
  /// this round's earlier ones; otherwise empty.
  std::map<std::string, json> others;

  /// Where the contribution goes, and the artifact's key.
  std::string key;
  std::string artifact_key;
  /// True when the swarm has no merge: the contributor edits the artifact.
  bool edits = false;
  /// The turn's pin (see the file comment). 0 when edits is false.
  std::uint64_t turn_revision = 0;

  /// Reads a turn from a swarm task: fields from the input, the artifact
  /// from the scratchpad's snapshot, the last round's contributions through
  /// the scratchpad (they enter its read set). Fails with
  /// bb::errc::invalid_argument naming the task and the field that is
  /// missing or wrong, and with bb::errc::conflict when the contributor
  /// edits the artifact and its turn is already over (so a late contributor
  /// gives up instead of running again).
  static bb::result<swarm_turn> read(const actors::task& t, bb::scratchpad& sp);
};

/// Stages a contribution as the protocol says: the value at `turn.key`, the
/// artifact edit with its pins, and returns the outcome's result
/// `{"answer": value}`. Fails with bb::errc::invalid_argument for an edit
/// in a swarm whose artifact is merged by the orchestrator, or a merge
/// whose value is not an object; with the scratchpad's errors otherwise.
/// For asynchronous contributors: read the turn when the task starts,
/// submit_contribution when the work is done.
actors::logic_result submit_contribution(const swarm_turn& turn, bb::scratchpad& sp, swarm_contribution c);

/// A contributor's logic from a function of its turn (sync: it runs on a
/// CAF worker thread, keep it quick). The first form returns the
/// contribution with the default edit (artifact_edit::by_order); the
/// second chooses the edit.
actors::agent_logic contributor(std::function<bb::result<json>(const swarm_turn&)> fn);
actors::agent_logic contributor(std::function<bb::result<swarm_contribution>(const swarm_turn&)> fn);

/// What a merge gets: the round's counted contributions and the artifact
/// as it stood before them.
struct swarm_merge {
  std::string run_id;
  std::uint32_t round = 1;
  json input;
  json artifact;
  /// Contributor id → contribution, in id order.
  std::map<std::string, json> contributions;
};

/// A merge as a C++ function: returns the round's new artifact, or an error
/// (recorded as the round's merge_error; the artifact stays as it was).
/// An exception it throws is treated like an error.
using swarm_reducer = std::function<bb::result<json>(const swarm_merge&)>;

/// A synthesizer's logic from a function: its answer is the new artifact.
actors::agent_logic swarm_synthesizer(std::function<bb::result<json>(const swarm_merge&)> fn);

/// A swarm's members and rules.
struct swarm_config {
  std::vector<member> contributors;
  swarm_order order = swarm_order::parallel_then_merge;
  /// Round 1 is asked all at once and blind (see the file comment).
  bool blind_first = false;
  /// The merge: a reducer or a synthesizer, not both. Required for
  /// parallel_then_merge and blind_first.
  swarm_reducer reduce;
  std::optional<member> synthesizer;
  run_options run;
  /// Normalizes contributions and artifacts for policies; default_extractor when empty.
  answer_extractor extract;
  /// The orchestrator's own id: what describe_atom reports and the author
  /// of its writes. Default `swarm/orchestrator`.
  actors::agent_id id;
};

/// The artifact's key for run `run`: `runs/<run>/artifact`.
std::string swarm_artifact_key(const std::string& run);

/// Spawns a swarm orchestrator. Fails with bb::errc::invalid_argument when
/// there are no contributors, a member has no id or actor, two members
/// share an id, both a reducer and a synthesizer are given, the ordering
/// or blind_first needs a merge and none is given, or the stop policy is
/// not bounded (a run that could loop forever is refused).
bb::result<actors::agent_actor> spawn_swarm(caf::actor_system& sys,
                                            std::shared_ptr<bb::blackboard> board, swarm_config cfg);
/// The same on a runtime's actor system.
bb::result<actors::agent_actor> spawn_swarm(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                            swarm_config cfg);

}  // namespace agora
