/// \file supervision.hpp
/// Keeping agents working: a restart policy for agents that crash, a circuit
/// breaker per agent, the dead-letter queue for work that fails for good,
/// and the supervisor actor that puts them together.
///
/// ```cpp
/// using namespace agora::actors;
/// supervisor_options so;
/// so.agents = 3;                                  // critic/pool-0 .. critic/pool-2
/// so.restart = {5, std::chrono::minutes(1)};      // at most 5 restarts a minute per agent
/// so.breaker = {3, std::chrono::seconds(30)};     // open after 3 failures, probe after 30 s
/// auto sup = spawn_supervisor(sys, board, spec, logic, so);   // bb::result<supervisor_actor>
/// if (!sup) ...
/// self->request(*sup, std::chrono::minutes(2), dispatch_atom::value, t).receive(
///     [](const outcome& o) { if (!o.ok()) /* it is in _dlq/<run>/<task> */; },
///     [](const caf::error& e) { ... });
/// ```
///
/// The pieces:
/// - restart_tracker: at most N restarts of one agent within a sliding
///   window; one more crash inside the window marks the agent failed.
/// - circuit_breaker: closed → open after K consecutive failures; after a
///   cooldown it lets exactly one probe through (half-open); the probe's
///   success closes it, its failure opens it again for another cooldown.
///   Pure: time comes from an injectable clock (manual_clock in tests).
/// - write_dlq: records a task that failed for good under
///   `_dlq/<run>/<task>` with the task, the last error and the attempt count.
/// - the supervisor actor owns the agents of one type. It hands each task to
///   an idle agent whose breaker allows it, one task per agent at a time;
///   retries a retryable failure (crash, logic exception, exhausted
///   conflict retries) up to supervisor_options::max_attempts dispatches with
///   the same attempt group, so a retry of work that did commit is replayed rather
///   than applied twice; restarts crashed agents per policy and re-dispatches
///   their unfinished task; and when it gives up on a task it writes the DLQ
///   entry before it replies. Every task it answers with a non-ok outcome is
///   in the DLQ. Stop it with an exit message
///   (`caf::anon_send_exit(sup, caf::exit_reason::user_shutdown)`): it stops
///   its agents and dead-letters unfinished tasks as cancelled.
///
/// The supervisor and the node's dispatcher (node.hpp) are one dispatch
/// engine (actors/src/dispatch_engine.hpp) with two sources of agents: a
/// pool the supervisor spawns and restarts, or the agents a registry
/// announces.
///
/// Tracing (supervisor_options::agent.tracer, when enabled): per task a span
/// `supervisor.task`, a child of the task's trace context (a new trace when
/// it has none), from dispatch to the final reply; per hand-over to an agent
/// a child `supervisor.dispatch` (the first) or `supervisor.redispatch`
/// (later ones, with the previous agent and error), which the agent's
/// `agent.task` span is a child of; and `supervisor.dead_letter` for the DLQ
/// write. All of a task's spans share its trace id.
///
/// Thread-safety: restart_tracker and circuit_breaker are not thread-safe
/// (one owner: the supervisor). manual_clock is thread-safe. write_dlq is as
/// thread-safe as bb::blackboard. The supervisor is an actor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "agora/actors/agent.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora::actors {

// --- Time --------------------------------------------------------------------------

/// Where supervision reads the time. Steady (monotonic) time: restart
/// windows and cooldowns must not jump with the wall clock.
using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

/// steady_clock::now.
clock_fn steady_clock_fn();

/// A clock that moves only when told: for deterministic tests. Copies share
/// the same time. Thread-safe.
class manual_clock {
 public:
  manual_clock();
  std::chrono::steady_clock::time_point now() const noexcept;
  void advance(std::chrono::steady_clock::duration d) noexcept;
  /// A clock_fn reading this clock (it shares the time with this object).
  clock_fn fn() const;

 private:
  std::shared_ptr<std::atomic<std::int64_t>> ns_;
};

// --- Restarts ----------------------------------------------------------------------

/// At most `max_restarts` restarts within any `window`.
struct restart_policy {
  std::uint32_t max_restarts = 3;
  std::chrono::milliseconds window{std::chrono::minutes(1)};
};

/// Counts one agent's restarts against a restart_policy. Not thread-safe.
class restart_tracker {
 public:
  explicit restart_tracker(restart_policy p = {}) : policy_(p) {}

  /// Called when the agent crashed at `now`: true (and the restart is
  /// counted) if fewer than max_restarts restarts happened within the
  /// window before `now`; false means give up — the agent is failed, and
  /// every later call returns false too.
  bool allow_restart(std::chrono::steady_clock::time_point now);

  /// Restarts counted within the window ending at `now`.
  std::size_t restarts_in_window(std::chrono::steady_clock::time_point now) const;
  /// Restarts counted since construction.
  std::uint64_t total_restarts() const noexcept { return total_; }
  /// True once allow_restart returned false.
  bool gave_up() const noexcept { return gave_up_; }
  const restart_policy& policy() const noexcept { return policy_; }

 private:
  restart_policy policy_;
  std::deque<std::chrono::steady_clock::time_point> recent_;
  std::uint64_t total_ = 0;
  bool gave_up_ = false;
};

// --- Circuit breaker ---------------------------------------------------------------

enum class breaker_state : std::uint8_t {
  closed = 1,  ///< calls go through; failures are counted
  open,        ///< calls are refused until the cooldown has passed
  half_open,   ///< the cooldown passed: one probe call may go through
};

/// "closed", "open", "half_open".
const char* to_string(breaker_state s) noexcept;

struct breaker_options {
  /// Consecutive failures that open the breaker. At least 1.
  std::uint32_t failure_threshold = 5;
  /// How long it stays open before a probe is let through.
  std::chrono::milliseconds cooldown{std::chrono::seconds(30)};
};

/// A circuit breaker for one agent (or endpoint). Pure: no threads, no
/// timers; time comes from the clock given. Not thread-safe.
///
/// ```cpp
/// if (!br.allow()) return refuse(errc::circuit_open);
/// auto r = call();
/// r ? br.record_success() : br.record_failure();
/// ```
class circuit_breaker {
 public:
  explicit circuit_breaker(breaker_options opts = {}, clock_fn clock = steady_clock_fn());

  /// May a call go through now? closed: yes. open: no, until the cooldown
  /// has passed — then the breaker is half-open and this call is the probe
  /// (yes, once). half-open with the probe still out: no. Every `true` must
  /// be followed by record_success or record_failure.
  bool allow();

  /// The call succeeded: closes the breaker and clears the failure count.
  void record_success();
  /// The call failed: counts it; opens the breaker at the threshold, or
  /// again (with a new cooldown) when the probe failed.
  void record_failure();

  /// The state now: an open breaker whose cooldown has passed reports
  /// half_open (without taking the probe).
  breaker_state state() const;
  std::uint32_t consecutive_failures() const noexcept { return failures_; }
  /// Times the breaker went from closed or half-open to open.
  std::uint64_t times_opened() const noexcept { return opened_count_; }
  /// When the cooldown ends (meaningful while open).
  std::chrono::steady_clock::time_point retry_at() const noexcept { return opened_at_ + opts_.cooldown; }
  const breaker_options& options() const noexcept { return opts_; }

 private:
  void open(std::chrono::steady_clock::time_point now);
  breaker_options opts_;
  clock_fn clock_;
  breaker_state state_ = breaker_state::closed;
  bool probe_out_ = false;
  std::uint32_t failures_ = 0;
  std::uint64_t opened_count_ = 0;
  std::chrono::steady_clock::time_point opened_at_{};
};

// --- Dead letters ------------------------------------------------------------------

/// The key a failed task is recorded under: `<prefix>/<run>/<task>`. In the
/// run and task ids, '/', '%' and control characters are percent-encoded
/// ('/' → %2F, '%' → %25, newline → %0A) and an empty id becomes %00, so
/// that even a malformed task gets a key of its own. Valid ids without '%'
/// appear unchanged.
std::string dlq_key(const task& t, std::string_view prefix = "_dlq");

/// The value write_dlq stores:
/// ```json
/// {"task": {"run_id", "task_id", "attempt_group", "txn_id", "input",
///           "deadline_unix_ns", "trace_id", "span_id"},
///  "status": "error", "error": "<readable>", "error_category": "agora_act",
///  "error_code": "agent_failed", "attempts": 3, "dispatches": 3,
///  "agent": "critic/pool-1", "failed_at_unix_ns": 1732...}
/// ```
nlohmann::json dlq_record(const task& t, const outcome& o);

/// What write_dlq commits, as plain data: one put of dlq_record(t, o) at
/// dlq_key(t, prefix) by `author`. Strings that are not UTF-8 (a task's
/// input can hold anything) are replaced, so that the record is not lost.
/// Promote it blind, on a bb::blackboard or through a blackboard actor.
bb::promotion dlq_promotion(const task& t, const outcome& o, const std::string& author,
                            std::string_view prefix = "_dlq");

/// Records a task that failed for good: puts dlq_record(t, o) at
/// dlq_key(t, prefix) as `author`, blind (a dead letter never conflicts).
/// A later failure of the same task replaces the value; history keeps both.
/// Fails as bb::blackboard::promote does (e.g. errc::forbidden when access
/// control does not let `author` write `<prefix>/**`).
bb::result<bb::commit_result> write_dlq(bb::blackboard& board, const task& t, const outcome& o,
                                        const std::string& author, std::string_view prefix = "_dlq");

// --- The supervisor actor ----------------------------------------------------------

/// Hands a task to a supervisor.
using dispatch_atom = caf::atom_constant<caf::atom("dispatch")>;
/// Asks a supervisor how its agents are.
using health_atom = caf::atom_constant<caf::atom("health")>;

/// Lifecycle of one supervised agent.
enum class agent_state : std::uint8_t {
  idle = 1,    ///< alive, no task
  busy,        ///< alive, running a task
  restarting,  ///< crashed; its replacement is not up yet
  failed,      ///< crashed more often than the restart policy allows; no more tasks
};

/// "idle", "busy", "restarting", "failed".
const char* to_string(agent_state s) noexcept;

/// One supervised agent as seen by its supervisor.
struct agent_health {
  std::string id;
  agent_state state = agent_state::idle;
  breaker_state breaker = breaker_state::closed;
  std::uint64_t restarts = 0;
  std::uint32_t consecutive_failures = 0;
  std::uint64_t tasks_done = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_health& x) {
  return f(caf::meta::type_name("agora_agent_health"), x.id, x.state, x.breaker, x.restarts,
           x.consecutive_failures, x.tasks_done);
}

/// A supervisor's view of its agents and its work.
struct supervisor_health {
  std::vector<agent_health> agents;
  std::uint64_t waiting = 0;     ///< tasks waiting for an agent
  std::uint64_t running = 0;     ///< tasks an agent is working on
  std::uint64_t succeeded = 0;   ///< tasks answered ok
  std::uint64_t dead_letters = 0;///< tasks given up on (and written to the DLQ)
  std::uint64_t dlq_failures = 0;///< DLQ writes the blackboard refused
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, supervisor_health& x) {
  return f(caf::meta::type_name("agora_supervisor_health"), x.agents, x.waiting, x.running,
           x.succeeded, x.dead_letters, x.dlq_failures);
}

/// Owns and runs the agents of one type. Thread-safe: it is an actor.
using supervisor_actor = caf::typed_actor<
    // Runs the task on one of the agents, retrying per supervisor_options,
    // and replies with its final outcome (attempts and dispatches summed
    // over all tries). A non-ok outcome has been written to
    // `_dlq/<run>/<task>` before the reply; its result names the key.
    // Refusals are outcomes too: errc::circuit_open (every live agent's
    // breaker is open), errc::no_agent (every agent failed),
    // errc::deadline_exceeded, bb::errc::invalid_argument (a bad task).
    caf::replies_to<dispatch_atom, task>::with<outcome>,
    // Replies with the state of every agent and counts of the work.
    caf::replies_to<health_atom>::with<supervisor_health>>;

/// Makes the agent actor for `id` (a first start or a restart). The default
/// is spawn_agent with the supervisor's board, logic and agent options.
using agent_factory = std::function<bb::result<agent_actor>(caf::actor_system&, const agent_spec&)>;

struct supervisor_options {
  /// How many agents to run. Agent i gets the id `<type>/<key>-<i>` from the
  /// spec's id `<type>/<key>` (e.g. critic/pool-0).
  std::uint32_t agents = 1;
  /// How each agent runs its tasks (tracer and metrics included). The
  /// supervisor writes its own spans to the same tracer.
  agent_options agent;
  /// Per agent: how often a crashed agent is restarted.
  restart_policy restart;
  /// Per agent: when to stop handing it tasks for a while. A failure is an
  /// outcome with status error or deadline_exceeded, or a crash; conflicts
  /// and cancellations are not the agent's fault and count as successes.
  breaker_options breaker;
  /// Dispatches per task (first try included) before the supervisor gives
  /// up on a retryable failure. At least 1.
  std::uint32_t max_attempts = 3;
  /// How long past a task's deadline to wait for the agent's reply before
  /// counting the agent as hung: the task then fails with errc::timeout and
  /// the agent is killed (and restarted per policy).
  std::chrono::milliseconds reply_grace{std::chrono::seconds(5)};
  /// Time for restart windows and breaker cooldowns.
  clock_fn clock = steady_clock_fn();
  /// Key prefix of the dead-letter queue.
  std::string dlq_prefix = "_dlq";
  /// The author of DLQ entries; "" = `supervisor/<type>`. Under
  /// access_control::registered it must be allowed to write `<dlq_prefix>/**`.
  std::string dlq_author;
  /// Makes agents; empty = spawn_agent.
  agent_factory factory;
};

/// Spawns a supervisor and its agents. Fails with bb::errc::invalid_argument
/// when the spec's id is empty, the logic is empty (and no factory is
/// given), the board is null, agents or max_attempts is 0, or an agent
/// cannot be made.
bb::result<supervisor_actor> spawn_supervisor(caf::actor_system& sys,
                                              std::shared_ptr<bb::blackboard> board,
                                              agent_spec spec, agent_logic logic,
                                              supervisor_options opts = {});

}  // namespace agora::actors
