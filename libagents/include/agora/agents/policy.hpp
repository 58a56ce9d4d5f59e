/// \file policy.hpp
/// Stop policies: when a run has converged or must stop, and why.
///
/// ```cpp
/// using namespace agora;
/// // Stop on a 2-of-3 majority, but after 5 rounds or 2 minutes at the latest.
/// policy stop = consensus(majority) | max_rounds(5) | deadline(std::chrono::minutes(2));
/// // Stop only when the answer is both agreed and good enough.
/// policy strict = (consensus(unanimity) & quality_threshold(0.8)) | max_rounds(10);
///
/// decision d = stop.evaluate(state);        // after every round
/// if (d.stop) std::cout << d.reason;        // "consensus (majority): 2 of 3 agree on '42' after round 2"
/// ```
///
/// A policy is a value: cheap to copy (it shares an immutable tree), and a
/// pure function of the run's state — the same state gives the same
/// decision, which is what makes runs resumable and replayable. `a | b`
/// stops when either stops; `a & b` only when both do.
///
/// A policy is *bounded* when it is certain to stop a run: max_rounds and
/// deadline are; `a | b` is when either side is; `a & b` when both are.
/// Patterns refuse a run whose policy is not bounded (consensus alone could
/// wait forever; a token budget never ends a run of free agents).
///
/// Thread-safety: policies, states and decisions are values; evaluate() is
/// const and may run on several threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace agora {

// --- What a policy sees ----------------------------------------------------------

/// One closed round of a run, as policies see it.
struct round_summary {
  /// 1-based.
  std::uint32_t number = 0;
  /// Agents the round was sent to; the denominator of every consensus rule.
  std::size_t expected = 0;
  /// The counted answers: agent id → normalized answer (the pattern's
  /// extractor). Late and failed agents have no entry.
  std::map<std::string, std::string> answers;
  /// Agents whose answer came after the round closed (recorded, not counted).
  std::size_t late = 0;
  /// Agents that failed the round's task.
  std::size_t failed = 0;
  /// Counted answers that differ from the same agent's answer in the
  /// previous round (all of them in round 1).
  std::size_t new_contributions = 0;
  /// The pattern's aggregate after this round (vote winner, judge's pick,
  /// synthesis, best candidate), normalized; empty when there is none.
  std::optional<std::string> aggregate;
  /// The best quality score seen in this round (evaluator loops), if any.
  std::optional<double> quality;
};

/// A run's state after a round: what every policy is evaluated on.
struct run_state {
  std::string run_id;
  /// Every closed round, oldest first; rounds.size() is the number done.
  std::vector<round_summary> rounds;
  /// Time since the run started (as the orchestrator's clock tells it).
  std::chrono::milliseconds elapsed{0};
  /// Tokens used so far (prompt + completion), as agents reported them.
  std::uint64_t tokens = 0;
  /// Money spent so far, in US dollars, as agents reported it.
  double cost_usd = 0;

  std::uint32_t rounds_done() const noexcept { return static_cast<std::uint32_t>(rounds.size()); }
  /// The last closed round; nullptr before the first.
  const round_summary* last() const noexcept { return rounds.empty() ? nullptr : &rounds.back(); }
};

// --- What a policy says ----------------------------------------------------------

/// Which kind of policy made a decision.
enum class stop_kind : std::uint8_t {
  none = 0,       ///< no stop
  max_rounds,
  deadline,
  token_budget,
  cost_budget,
  consensus,
  quality,
  quiescence,
  stable_answer,
  custom,  ///< a policy of the user's own (custom())
};

/// "max_rounds", "consensus", ...
const char* to_string(stop_kind k) noexcept;

/// The verdict of a policy after a round.
struct decision {
  bool stop = false;
  /// For people: "consensus (majority): 2 of 3 agree on '42' after round 2";
  /// "max_rounds: 5 of 5 rounds done". Empty when not stopping.
  std::string reason;
  /// The policies that stopped the run (several for `&`, or for `|` when
  /// more than one fired in the same round), in the order written.
  std::vector<stop_kind> kinds;
  /// Set when the stop settles the answer — consensus, quality threshold or
  /// a stable answer said so: the agreed (normalized) answer. Unset for
  /// limits (rounds, time, budgets, quiescence): the run's fallback then
  /// decides the result.
  std::optional<std::string> answer;

  /// True when `kinds` contains `k`.
  bool has(stop_kind k) const noexcept;
};

// --- Consensus rules -------------------------------------------------------------

/// How many of a round's expected agents must give the same answer.
class consensus_rule {
 public:
  enum class kind : std::uint8_t { majority, supermajority, unanimity, plurality };

  /// More than half of the expected agents agree.
  static consensus_rule make_majority() { return consensus_rule(kind::majority, 0.5); }
  /// At least ceil(q × expected) agents agree; q in (0.5, 1].
  static bb::result<consensus_rule> make_supermajority(double q);
  /// Every expected agent answered, and all the same.
  static consensus_rule make_unanimity() { return consensus_rule(kind::unanimity, 1.0); }
  /// One answer has strictly more votes than any other (ties do not stop).
  static consensus_rule make_plurality() { return consensus_rule(kind::plurality, 0.0); }

  kind which() const noexcept { return kind_; }
  double quota() const noexcept { return quota_; }
  /// "majority", "supermajority(0.67)", "unanimity", "plurality".
  std::string name() const;
  /// Votes needed among `expected` agents (plurality: 1).
  std::size_t needed(std::size_t expected) const noexcept;

 private:
  consensus_rule(kind k, double q) : kind_(k), quota_(q) {}
  kind kind_;
  double quota_;
};

/// Shorthands: `consensus(majority)`, `consensus(unanimity)`, `consensus(plurality)`.
extern const consensus_rule majority;
extern const consensus_rule unanimity;
extern const consensus_rule plurality;

/// `consensus(supermajority(2.0 / 3))`. A quota outside (0.5, 1] is a
/// programming error here (asserted) — use consensus_rule::make_supermajority
/// to check a quota that comes from input.
consensus_rule supermajority(double q);

// --- Policies --------------------------------------------------------------------

/// A stop policy. Default-constructed, it is empty: it never stops and is
/// not bounded (a pattern refuses it).
class policy {
 public:
  struct node;

  policy() = default;

  /// The verdict on `state`. An empty policy never stops.
  decision evaluate(const run_state& state) const;
  /// True when the policy is certain to stop a run (see the file comment).
  bool bounded() const noexcept;
  /// The elapsed time at which the policy stops a run whatever else
  /// happens, if there is one: the smallest deadline on either side of `|`,
  /// the later of two on both sides of `&`. Patterns close a round early
  /// when this falls inside it.
  std::optional<std::chrono::milliseconds> time_limit() const;
  /// The token budget of the policy, if it has one: the smallest
  /// token_budget(n) anywhere in the tree (on either side of `|` or `&`).
  /// Patterns pass what is left of it to every member's task as
  /// `"budget": {"tokens_left": ...}`, so a member that calls a model stops
  /// calling when the run's budget is spent (llm_agent.hpp), not only after
  /// the round.
  std::optional<std::uint64_t> token_limit() const;
  /// The same for cost_budget(usd): `"budget": {"cost_usd_left": ...}`.
  std::optional<double> cost_limit() const;
  bool empty() const noexcept { return !root_; }
  /// The policy as written: "consensus(majority) | max_rounds(5)".
  std::string describe() const;

  /// An OK status when the policy can drive a run; otherwise
  /// bb::errc::invalid_argument naming `run_id` and saying what to add.
  bb::status check_bounded(const std::string& run_id) const;

  friend policy operator|(const policy& a, const policy& b);
  friend policy operator&(const policy& a, const policy& b);

  /// Not part of the API: builds a policy on a node.
  explicit policy(std::shared_ptr<const node> root) : root_(std::move(root)) {}

 private:
  std::shared_ptr<const node> root_;
};

/// Stops after `n` rounds (n >= 1; 0 is treated as 1).
policy max_rounds(std::uint32_t n);
/// Stops when `d` has elapsed since the run started. Patterns also close a
/// round early when the deadline falls inside it.
policy deadline(std::chrono::milliseconds d);
/// Stops when the tokens used reach `n`. Also a cap: patterns do not start
/// a round once the budget is spent.
policy token_budget(std::uint64_t n);
/// Stops when the money spent reaches `usd`.
policy cost_budget(double usd);
/// Stops when the last round's answers satisfy `rule`; the decision carries
/// the agreed answer.
policy consensus(consensus_rule rule);
/// Stops when the last round's quality reaches `t`; the decision carries that
/// round's aggregate as the answer.
policy quality_threshold(double t);
/// Stops when the last `k` rounds brought no new contribution (k >= 1).
policy quiescence(std::uint32_t k);
/// Stops when the aggregate has been the same for the last `k` rounds
/// (k >= 1; counts rounds, so k = 2 means the last two rounds agree); the
/// decision carries it as the answer.
policy stable_answer(std::uint32_t k);

/// A stop policy of your own: `fn` is called after every round with the
/// run's state and says whether to stop, why, and (to settle the run) the
/// agreed answer, like the built-ins. It composes with `|` and `&` and is
/// checked for boundedness like them: with `round_bound` 0 it is not
/// bounded (a pattern refuses it unless it is `|`-combined with a bounded
/// policy); with `round_bound` n it also stops after n rounds ("NAME: n of
/// n rounds done"), so it is bounded on its own. `fn` must be a pure
/// function of the state (runs are resumed and replayed by evaluating
/// policies again). A decision that stops without a reason gets
/// "NAME: stopped after round R"; its kinds are {stop_kind::custom}. An
/// exception thrown by `fn` stops the run with "NAME failed: WHAT" (no
/// answer: the fallback decides), never kills the pattern.
///
/// ```cpp
/// // Stop when every answer of the last round lies within 5% of the mean.
/// policy close = custom("close_enough", [](const run_state& s) {
///   decision d;
///   ... d.stop = spread < 0.05; d.reason = "close_enough: spread " + ...; d.answer = mean;
///   return d;
/// });
/// cfg.run.stop = close | max_rounds(6);
/// ```
policy custom(std::string name, std::function<decision(const run_state&)> fn, std::uint32_t round_bound = 0);

/// The order answers are ranked in when votes tie (the smaller wins): two
/// answers that are both numbers ("9", "10", "-2.5") compare as numbers,
/// anything else as text. Used by consensus, the debate's vote and
/// debate_turn::majority_of_others, so that a tie between 9 and 10 goes
/// to 9, not to "10" for sorting first as text.
bool answer_less(const std::string& a, const std::string& b);

// --- Fallback --------------------------------------------------------------------

/// What decides the result when a run stops without a settled answer.
enum class fallback : std::uint8_t {
  best_so_far = 1,  ///< the aggregate of the round with the best support (quality, then votes)
  last,             ///< the last round's aggregate
  escalate,         ///< no answer: written to `_escalations/<run>` for a person
};

/// "best_so_far", "last", "escalate".
const char* to_string(fallback f) noexcept;

/// The answer `f` picks from `state`, for fallbacks that pick one
/// (best_so_far, last); unset for escalate or when no round had an
/// aggregate. best_so_far prefers the highest quality; among rounds without
/// quality (or equal), the largest share of votes for the aggregate; on a
/// tie, the later round.
std::optional<std::string> pick_fallback(fallback f, const run_state& state);

}  // namespace agora
