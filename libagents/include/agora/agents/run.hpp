/// \file run.hpp
/// What every pattern shares: the members it asks, how a round waits for
/// them, the run's result, where a run lives on the blackboard, and how a
/// program starts a run and waits for its result.
///
/// ```cpp
/// using namespace agora;
/// auto d = spawn_debate(rt, board, cfg);                 // bb::result<actors::agent_actor>
/// if (!d) return d.error();
/// auto r = run_pattern(rt.system(), *d, "q1", {{"question", "6 x 7?"}}, std::chrono::minutes(1));
/// if (r) std::cout << to_string(r->status) << ": " << r->answer << " (" << r->reason << ")\n";
/// ```
///
/// A pattern is an orchestrator actor with the same interface as an agent
/// (`actors::agent_actor`: a `run_atom, task` request answered with an
/// `outcome`). That is what lets patterns nest: a pattern stands wherever an
/// agent can, e.g. a debate whose debaters are evaluator loops.
///
/// **The contribution protocol.** A pattern sends each member a task whose
/// input is a JSON object with at least `pattern`, `run`, `round` and `key`,
/// plus the pattern's own fields (docs/patterns.md lists them). The member
/// writes its contribution at `key` in its promotion and returns
/// `{"answer": <the contribution>}` as its outcome's result, optionally with
/// `"usage": {"tokens": n, "cost_usd": x}` and, for evaluators, `"score"`,
/// `"pass"` and `"critique"`. The helpers in debate.hpp (`debater`) and the
/// other pattern headers do this for a plain C++ function. A nested pattern
/// does it too: when its task has a `key`, it runs a run of its own named
/// `<run>.<task>` and promotes its final answer at `key`.
///
/// **On the blackboard** (run id R, round r):
/// - `runs/R/meta`: pattern, members, policy, fallback — written at start;
/// - `runs/R/answers/r/<member id>`: each member's contribution (by the member);
/// - `runs/R/round/r`: the round record — who was asked, whose answers
///   counted, who was late or failed, votes, aggregate, running totals;
/// - `runs/R/late/r/<member id>`: an answer that came after its round closed;
/// - `runs/R/result`: the run's result (run_result::to_json);
/// - `_escalations/R`: a run a policy handed to a person (fallback escalate).
/// Every write of the orchestrator carries a txn id derived from the run
/// (`R/meta`, `R/round-r`, `R/result`), so a restarted orchestrator that
/// writes again does not write twice — and a restarted orchestrator resumes a
/// run from these keys: it skips the rounds recorded, and in the round it was
/// in, reuses the contributions already committed instead of asking again.
///
/// Thread-safety: everything here is a value; run_pattern blocks the calling
/// thread (never call it from inside an actor).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/agents/policy.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::actors {
class tracer;
}

namespace agora {

using json = nlohmann::json;

/// One participant of a pattern: an agent, a supervisor's pool, or another
/// pattern — anything that answers `run_atom, task` with an outcome.
struct member {
  /// Who it is: names its contributions on the blackboard and in transcripts.
  actors::agent_id id;
  actors::agent_actor actor;
  /// A role or persona the pattern passes on in every task (`"persona"`).
  std::string persona;
};

/// A member in one call: the agent `id` ("debater/ann": type "debater",
/// key "ann") spawned on `rt` with `logic`, its id given once. Fails with
/// bb::errc::invalid_argument naming the id when it is malformed, and with
/// spawn_agent's errors otherwise.
///
/// ```cpp
/// auto ann = make_member(rt, board, "debater/ann", logic);   // bb::result<member>
/// ```
bb::result<member> make_member(actors::runtime& rt, std::shared_ptr<bb::blackboard> board, std::string_view id,
                               actors::agent_logic logic, std::string persona = {});

/// How a round waits for its members.
struct round_options {
  /// Answers that close a round (or a step of it) early; 0 = every member.
  std::size_t quorum = 0;
  /// The round (each step of it) closes when this has passed, answered or not.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// How long an answer may still come after its round closed and be
  /// recorded as late (it never counts). Also bounds the member's task:
  /// its deadline is timeout + late_grace.
  std::chrono::milliseconds late_grace{std::chrono::seconds(10)};
};

/// What every pattern is configured with besides its members.
struct run_options {
  /// When to stop. Must be bounded (policy.hpp): spawning a pattern with a
  /// policy that could loop forever fails.
  policy stop;
  /// What decides the result when the stop settles no answer.
  agora::fallback fallback = fallback::best_so_far;
  round_options round;
  /// Spans of the run, when set and enabled (the spawn_* overloads that take
  /// a runtime use its tracer unless one is set here): `pattern.run` per
  /// run (a child of the run request's trace context, or a new trace),
  /// `pattern.round` per round (its child), and every member's task
  /// carries the round span's context, so the agents' `agent.task` spans
  /// hang under the round they answered. Not owned; must outlive the
  /// pattern.
  actors::tracer* tracer = nullptr;
};

/// How a run ended.
enum class run_status : std::uint8_t {
  settled = 1,  ///< a policy settled the answer (consensus, quality, stable answer)
  fallback,     ///< a limit stopped the run; the fallback picked the answer
  escalated,    ///< no answer: handed to a person under `_escalations/<run>`
  failed,       ///< the run could not go on (no member answered, the blackboard refused a write)
};

/// "settled", "fallback", "escalated", "failed".
const char* to_string(run_status s) noexcept;

/// The result of a run, as the pattern replies it and as `runs/<run>/result` holds it.
struct run_result {
  std::string run_id;
  run_status status = run_status::failed;
  /// The answer as a member gave it (not normalized); null when escalated or failed.
  json answer;
  /// Why the run stopped, for people: the policy's reason, plus how the
  /// answer was chosen ("fallback best_so_far: ..."), or what failed.
  std::string reason;
  /// The policies that stopped it (empty when it failed).
  std::vector<stop_kind> stopped_by;
  std::uint32_t rounds = 0;
  std::uint64_t tokens = 0;
  double cost_usd = 0;
  /// Blackboard revision of the result record.
  std::uint64_t revision = 0;

  json to_json() const;
  /// Fails with bb::errc::invalid_argument naming the field that is missing or wrong.
  static bb::result<run_result> from_json(const json& j);
};

/// Blackboard keys of a run (see the file comment).
struct run_keys {
  static std::string root(const std::string& run) { return "runs/" + run; }
  static std::string meta(const std::string& run) { return root(run) + "/meta"; }
  static std::string round(const std::string& run, std::uint32_t r) {
    return root(run) + "/round/" + std::to_string(r);
  }
  static std::string answers(const std::string& run, std::uint32_t r) {
    return root(run) + "/answers/" + std::to_string(r);
  }
  static std::string answer(const std::string& run, std::uint32_t r, const actors::agent_id& who) {
    return answers(run, r) + "/" + who.str();
  }
  static std::string late(const std::string& run, std::uint32_t r, const actors::agent_id& who) {
    return root(run) + "/late/" + std::to_string(r) + "/" + who.str();
  }
  /// Where a member's promotion records what its contribution cost (the
  /// task input's `usage_key`, see actors::task), so that a resumed run
  /// counts it.
  static std::string usage(const std::string& run, std::uint32_t r, const actors::agent_id& who) {
    return root(run) + "/usage/" + std::to_string(r) + "/" + who.str();
  }
  static std::string result(const std::string& run) { return root(run) + "/result"; }
  static std::string escalation(const std::string& run) { return "_escalations/" + run; }
};

/// Turns an answer into the form votes compare (the pattern's extractor).
using answer_extractor = std::function<std::string(const json& answer)>;

/// The default extractor: a string is trimmed and lower-cased; an object
/// with an "answer" field is that field, extracted; anything else is its
/// compact JSON text.
std::string default_extractor(const json& answer);

/// Starts run `run_id` on `pattern` with `input` (e.g. `{"question": ...}`)
/// and waits up to `timeout` for its result. Blocks the calling thread: for
/// main() and tests, never inside an actor. Fails with the outcome's error
/// when the run could not start (bb::errc::invalid_argument for a bad run
/// id), with the request's error when the pattern did not answer in time
/// (`actors::render(err)` makes it readable), and with the pattern's exit
/// reason as soon as the pattern actor goes down before answering (it was
/// killed, or its node was lost) — never by waiting out `timeout` for an
/// actor that is gone. A run that ended escalated or failed is a
/// run_result, not an error.
caf::expected<run_result> run_pattern(caf::actor_system& sys, const actors::agent_actor& pattern,
                                   const std::string& run_id, json input,
                                   std::chrono::milliseconds timeout);

/// The same on a runtime, with the errors of the rest of the API
/// (bb::result): a blackboard error comes back whole; any other (a
/// timeout, a pattern that went down) as bb::errc::io_error whose message
/// is what actors::render says of it.
bb::result<run_result> run_pattern(actors::runtime& rt, const actors::agent_actor& pattern,
                                   const std::string& run_id, json input, std::chrono::milliseconds timeout);

/// A run's transcript as text, read from the blackboard: one line per
/// member answer per round (counted, late, failed), the aggregate and votes
/// of each round, and the result with its reason. No times or revisions, so
/// the same seed gives the same transcript. Fails with bb::errc::invalid_argument
/// when the run has no meta record.
bb::result<std::string> transcript(const bb::blackboard& board, const std::string& run_id);

}  // namespace agora
