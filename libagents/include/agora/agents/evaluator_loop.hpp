/// \file evaluator_loop.hpp
/// Evaluator loop: a generator proposes a candidate, one or more evaluators
/// judge it (pass, score, critique), and the generator revises with the
/// critiques in the next round. The loop keeps the best candidate so far;
/// the stop policy decides when it is good enough.
///
/// ```cpp
/// using namespace agora;
/// auto writer = generator([](const generator_turn& turn) -> bb::result<json> {
///   if (!turn.previous) return json("first draft");
///   return json(turn.previous->get<std::string>() + " (revised)");  // use turn.critiques
/// });
/// auto critic = evaluator([](const evaluator_turn& turn) -> bb::result<evaluation> {
///   double score = turn.candidate.get<std::string>().size() / 40.0;
///   return evaluation{score >= 0.8, score, score >= 0.8 ? "" : "say more"};
/// });
/// evaluator_loop_config cfg;
/// cfg.generator = {*actors::agent_id::make("writer", "w"), *writer_actor, ""};
/// cfg.evaluators.push_back({*actors::agent_id::make("critic", "c"), *critic_actor, ""});
/// cfg.run.stop = quality_threshold(0.8) | max_rounds(5);   // else: the best candidate
/// auto loop = spawn_evaluator_loop(rt, board, cfg);        // bb::result<actors::agent_actor>
/// auto r = run_pattern(rt.system(), *loop, "essay-1", {{"task", "write"}}, std::chrono::minutes(1));
/// ```
///
/// Each round r has two steps. Step 0: the generator gets `{"pattern":
/// "evaluator_loop", "run", "round": r, "key", "persona", "input": the run's
/// input, "previous": the key of round r-1's record (null in round 1)}` and
/// answers with its candidate. Step 1 (skipped when there is no candidate):
/// every evaluator gets `{"pattern": "evaluator_loop", "role": "evaluator",
/// "run", "round", "key", "persona", "input", "candidate", "generator": its
/// id}` and answers with `{"answer": {"pass", "score", "critique"}, "pass",
/// "score", "critique"}` (what `evaluator(fn)` does); an evaluator should
/// store that same object at its key, so that a resumed run reads its
/// verdict back. A verdict without a score scores 1 when it passes and 0
/// when not; one without `pass` fails. Each step closes on quorum or
/// timeout (run_options::round); late verdicts are recorded and not counted.
///
/// **How a round is judged.** The round's score combines the scores of the
/// verdicts that counted — their mean (score_combine::mean, the default) or
/// their minimum (score_combine::min: every evaluator must score it that
/// high). The round passes when at least one verdict counted and all of them
/// pass. The **best candidate** is the one with the highest score so far
/// (the earlier on a tie; an unscored candidate only until a scored one
/// comes).
///
/// **What policies see** (round_summary): `quality` is the round's score
/// (unset when no verdict counted), so `quality_threshold(t)` stops when a
/// candidate scores t — with score_combine::min, when every evaluator
/// scores it t. `aggregate` is the best candidate so far, normalized, so
/// `stable_answer(k)` stops when the best has not improved for k rounds, and
/// the fallbacks (best_so_far and last alike) give the best candidate.
/// `expected` is the number of evaluators and `answers` holds, for every
/// evaluator that passed the candidate, the normalized candidate: so
/// `consensus(unanimity)` stops when every evaluator passes it,
/// `consensus(majority)` when most do (plurality: when one does), settling
/// on this round's candidate. `new_contributions` is 1 when the candidate
/// changed since the last round (normalized), else 0: `quiescence(k)` stops
/// a generator that stopped revising. The run's answer is that candidate as
/// the generator gave it.
///
/// The round's record `runs/<run>/round/<r>` holds `candidate`,
/// `evaluations` {evaluator id: {pass, score, critique}}, `score`, `pass`,
/// `best` {round, score, candidate}, `failed` and `missing`; candidates and
/// verdicts are at `runs/<run>/answers/<r>/<member id>`.
///
/// Thread-safety: configs, turns and evaluations are values; the loop is an
/// actor.
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

/// One evaluator's verdict on a candidate.
struct evaluation {
  bool pass = false;
  /// Higher is better; the scale is the user's (quality_threshold compares it).
  double score = 0;
  /// What to change, for the generator.
  std::string critique;

  /// {"pass", "score", "critique"}.
  json to_json() const;
  /// From a verdict object: missing "score" → 1 if it passes, else 0;
  /// missing "pass" → false; missing "critique" → "". Fails with
  /// bb::errc::invalid_argument naming the field of the wrong type, or
  /// when `j` is not an object or has neither "pass" nor "score".
  static bb::result<evaluation> from_json(const json& j);
};

/// What the generator sees in one round.
struct generator_turn {
  std::string run_id;
  std::uint32_t round = 1;
  /// The run's input, as given to the loop.
  json input;
  std::string persona;
  /// The last round's candidate (unset in round 1, or when the generator
  /// gave none last round).
  std::optional<json> previous;
  /// The verdicts on it that counted: evaluator id → evaluation.
  std::map<std::string, evaluation> critiques;
  /// The last round's combined score and pass, when a verdict counted.
  std::optional<double> previous_score;
  bool previous_pass = false;
  /// The best candidate so far, its score and round (unset in round 1).
  std::optional<json> best;
  std::optional<double> best_score;
  std::uint32_t best_round = 0;
};

/// What an evaluator sees.
struct evaluator_turn {
  std::string run_id;
  std::uint32_t round = 1;
  json input;
  std::string persona;
  /// The candidate to judge, as the generator gave it.
  json candidate;
  /// The generator's id.
  std::string generator;
};

/// A generator's logic from a function of its turn (sync: runs on a CAF
/// worker thread, keep it quick). Its candidate is written at the task's key
/// and returned as `{"answer": ...}`. Reading the last round's record goes
/// through the scratchpad (it enters the promotion's read set).
actors::agent_logic generator(std::function<bb::result<json>(const generator_turn&)> fn);

/// An evaluator's logic from a function: its verdict is written at the
/// task's key as {"pass", "score", "critique"} and returned as the protocol
/// says.
actors::agent_logic evaluator(std::function<bb::result<evaluation>(const evaluator_turn&)> fn);

/// How the scores of several evaluators make the round's score.
enum class score_combine : std::uint8_t {
  mean = 1,  ///< the mean of the counted scores
  min,       ///< the lowest counted score
};

/// "mean", "min".
const char* to_string(score_combine c) noexcept;

/// An evaluator loop's members and rules.
struct evaluator_loop_config {
  member generator;
  std::vector<member> evaluators;
  score_combine combine = score_combine::mean;
  run_options run;
  /// Normalizes candidates for policies; default_extractor when empty.
  answer_extractor extract;
  /// The orchestrator's own id: what describe_atom reports and the author
  /// of its writes. Default `evaluator_loop/orchestrator`.
  actors::agent_id id;
};

/// Spawns an evaluator loop. Fails with bb::errc::invalid_argument when the
/// generator or an evaluator has no id or actor, there is no evaluator, two
/// members share an id, or the stop policy is not bounded (a run that could
/// loop forever is refused).
bb::result<actors::agent_actor> spawn_evaluator_loop(caf::actor_system& sys,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     evaluator_loop_config cfg);
/// The same on a runtime's actor system.
bb::result<actors::agent_actor> spawn_evaluator_loop(actors::runtime& rt,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     evaluator_loop_config cfg);

}  // namespace agora
