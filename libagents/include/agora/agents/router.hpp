/// \file router.hpp
/// Router: picks the specialist for a task — by a C++ function over the
/// task, or by asking an agent — forwards the task to it and returns the
/// specialist's outcome.
///
/// ```cpp
/// using namespace agora;
/// router_config cfg;
/// cfg.specialists = {billing, tech};                     // members: any agent, pattern or block
/// cfg.choose = [](const actors::task& t) -> bb::result<std::string> {
///   return t.input.value("topic", "") == "invoice" ? "expert/billing" : "expert/tech";
/// };
/// // ... or let an agent choose: cfg.choose_agent = member{picker_id, picker};
/// //     where the picker's logic may be chooser([](const json& input, const std::vector<std::string>& ids) ...)
/// cfg.timeout = std::chrono::seconds(30);                 // never wait forever on the specialist
/// auto r = spawn_router(rt, board, cfg);                  // bb::result<actors::agent_actor>
/// auto res = run_pattern(rt.system(), *r, "ticket-7", {{"topic", "invoice"}}, std::chrono::minutes(1));
/// ```
///
/// **Choosing.** With a function, the router calls it on its own actor with
/// the task it got (keep it quick). With an agent, it first asks that agent
/// with input `{"pattern": "router", "role": "choose", "run", "round": 1,
/// "key", "input": <the task's input>, "specialists": [{"id", "persona"}]}`;
/// the agent's answer (a string) is the specialist's id; it has
/// `choose_timeout` to answer. A choice that names no registered specialist
/// fails the run with errc::no_agent: "router: the choice 'x/y' (by
/// function) is not a specialist; specialists: a/b, c/d".
///
/// **Forwarding.** The specialist gets task `forward` of the router's run
/// with the router's input unchanged, except that `key` (when the input is
/// an object) is `runs/R/answer`, and its persona is added when it has one
/// and the input has none. So a router is transparent: as a debater it
/// routes the debate's task to a debater that sees the question, round and
/// previous round as if it had been asked itself. The specialist has
/// `timeout` to answer; a later answer is recorded as late.
///
/// **Result.** The specialist's outcome: when it failed, the router's
/// outcome has the specialist's error (errc::timeout when it gave no answer
/// in time) and the run is failed. When it succeeded, the router's result is
/// run.hpp's run_result (answer = the specialist's `answer`, or its whole
/// result when it has none) plus every other field of the specialist's
/// result (`score`, `pass`, `critique`, `usage`, ...) and `"specialist"`.
///
/// **On the blackboard** (run R): `runs/R/meta`; `runs/R/choice` (a choosing
/// agent's answer); `runs/R/route` = {"specialist", "by"} (txn `R/route`);
/// `runs/R/answer` (the specialist's contribution); `runs/R/late/...`;
/// `runs/R/result`. A re-sent task whose run finished gets the recorded
/// result; a restarted router resumes: a recorded route is not chosen again,
/// a committed answer is not asked for again.
///
/// Thread-safety: configs are values; the router is an actor.
#pragma once

#include <chrono>
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

/// Picks a specialist by id (`type/key`) from the task the router got.
using choose_fn = std::function<bb::result<std::string>(const actors::task& t)>;

/// A router's specialists and how it chooses.
struct router_config {
  std::vector<member> specialists;
  /// Exactly one of `choose` and `choose_agent`.
  choose_fn choose;
  std::optional<member> choose_agent;
  /// How long the choosing agent may take.
  std::chrono::milliseconds choose_timeout{std::chrono::seconds(60)};
  /// How long the specialist may take.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// How long an answer may still come after its timeout and be recorded as
  /// late (it never counts).
  std::chrono::milliseconds late_grace{std::chrono::seconds(10)};
  /// The router's own id (describe_atom, author of its writes). Default
  /// `router/orchestrator`.
  actors::agent_id id;
};

/// A choosing agent's logic from a function of the routed input and the
/// specialists' ids; its value (an id) is written at the task's key and
/// returned as `{"answer": id}`.
actors::agent_logic chooser(
    std::function<bb::result<std::string>(const json& input, const std::vector<std::string>& specialists)> fn);

/// Spawns a router. Fails with bb::errc::invalid_argument when there are no
/// specialists, a member has no id or actor, two specialists share an id,
/// not exactly one of choose and choose_agent is set, a timeout is not
/// positive, late_grace is negative, or the board is null.
bb::result<actors::agent_actor> spawn_router(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                             router_config cfg);
/// The same on a runtime's actor system.
bb::result<actors::agent_actor> spawn_router(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                             router_config cfg);

}  // namespace agora
