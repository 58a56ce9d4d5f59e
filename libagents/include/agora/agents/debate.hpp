/// \file debate.hpp
/// Debate: K debaters answer a question blind, then in every round read the
/// others' latest answers and revise; a vote on normalized answers (or a
/// judge) aggregates each round, and the stop policy decides when it ends.
///
/// ```cpp
/// using namespace agora;
/// // A debater is any agent; `debater(fn)` makes one from a plain function.
/// auto logic = debater([](const debate_turn& turn) -> bb::result<json> {
///   if (turn.round == 1) return json(41 + (turn.persona == "careful"));
///   return turn.majority_of_others().value_or(json(42));   // revise toward the others
/// });
/// debate_config cfg;
/// for (std::string name : {"alice", "bob", "carol"}) {
///   auto id = actors::agent_id::make("debater", name);
///   auto a = actors::spawn_agent(rt, board, {*id, "debater", {}}, logic);
///   cfg.debaters.push_back({*id, *a, name == "bob" ? "careful" : ""});
/// }
/// cfg.run.stop = consensus(unanimity) | max_rounds(4);
/// auto d = spawn_debate(rt, board, cfg);              // bb::result<actors::agent_actor>
/// auto r = run_pattern(rt.system(), *d, "q1", {{"question", "6 x 7?"}}, std::chrono::minutes(1));
/// ```
///
/// Each round r: every debater gets a task (run.hpp's contribution protocol)
/// with input `{"pattern": "debate", "run", "round": r, "key", "question",
/// "persona", "previous"}` where `previous` is the key of round r-1's record
/// (null in round 1: the blind round). The round closes on quorum or timeout
/// (run_options::round); late answers are recorded and do not count. With a
/// judge, the judge then gets `{"pattern": "debate", "role": "judge", "run",
/// "round", "key", "question", "answers": {debater id: answer}}` and its
/// answer (normalized) is the round's aggregate; without one, the aggregate
/// is the answer with the most votes (ties: the smallest normalized answer).
/// Policies see the debaters' normalized answers as votes.
///
/// Thread-safety: configs and turns are values; the debate is an actor.
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

/// What a debater sees in one round.
struct debate_turn {
  std::string run_id;
  std::uint32_t round = 1;
  json question;
  std::string persona;
  /// This debater's own counted answer in the previous round, if any.
  std::optional<json> own_previous;
  /// The other debaters' counted answers in the previous round (empty in
  /// round 1): debater id → answer.
  std::map<std::string, json> others;
  /// The previous round's aggregate as recorded (normalized), if any.
  std::optional<std::string> previous_aggregate;

  /// The answer most of the others gave (by compact JSON text; ties: the
  /// smallest); unset when there are none.
  std::optional<json> majority_of_others() const;
};

/// A debater's logic from a function of its turn. The function runs on a CAF
/// worker thread (keep it quick); its answer is written at the task's key
/// and returned as `{"answer": ...}`. Reading the previous round's record
/// goes through the scratchpad, so it is part of the promotion's read set.
actors::agent_logic debater(std::function<bb::result<json>(const debate_turn&)> fn);

/// A judge's logic from a function of the question and the round's answers
/// (debater id → answer); it returns the chosen answer.
actors::agent_logic judge(
    std::function<bb::result<json>(const json& question, const std::map<std::string, json>& answers)> fn);

/// A debate's members and rules.
struct debate_config {
  std::vector<member> debaters;
  /// Optional: aggregates each round instead of the vote.
  std::optional<member> judge;
  run_options run;
  /// Normalizes answers for votes; default_extractor when empty.
  answer_extractor extract;
  /// The orchestrator's own id: what describe_atom reports and the author
  /// of its writes. Default `debate/orchestrator`.
  actors::agent_id id;
};

/// Spawns a debate orchestrator. Fails with bb::errc::invalid_argument when
/// there are no debaters, a member has no id or actor, two debaters share
/// an id, or the stop policy is not bounded (policy::check_bounded: a run
/// that could loop forever is refused).
bb::result<actors::agent_actor> spawn_debate(caf::actor_system& sys,
                                             std::shared_ptr<bb::blackboard> board,
                                             debate_config cfg);
/// The same on a runtime's actor system.
bb::result<actors::agent_actor> spawn_debate(actors::runtime& rt,
                                             std::shared_ptr<bb::blackboard> board,
                                             debate_config cfg);

}  // namespace agora
