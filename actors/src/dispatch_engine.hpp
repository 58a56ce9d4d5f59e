/// \file dispatch_engine.hpp
/// Private. The one dispatch engine behind both actors that hand tasks to
/// agents of one type: the supervisor (supervision.cpp), whose agents are a
/// pool it spawns, restarts and stops, and the dispatcher (node.cpp), whose
/// agents come and go with a node's registry, local or remote.
///
/// The engine owns the work: the tasks waiting and running, one task per
/// agent at a time, the agents' states, restart tracking and circuit
/// breakers, retries with the same attempt group, re-dispatch of the task
/// of an agent that went down, dead letters before non-ok replies, deadline
/// expiry, health, and (with a tracer) the spans of all of it. What differs
/// between the two owners is passed in: where agents come from
/// (agent_source), how a task reaches an agent (always a request from the
/// owning actor: send_fn), how a dead letter is committed (directly on a
/// bb::blackboard, or through a blackboard actor: dead_letter_fn), and how a
/// pool agent is (re)started (start_fn).
///
/// ```cpp
/// struct my_state { detail::dispatch_engine engine; ~my_state() { engine.stop(); } };
/// // in the behavior:
/// self->state.engine.configure(opts, self->address(), detail::send_through(self), writer, start);
/// self->set_down_handler([self](caf::down_msg& d) { self->state.engine.agent_down(d.source, d.reason); });
/// [self](dispatch_atom, task& t) -> caf::result<outcome> {
///   return self->state.engine.accept(std::move(t), self->make_response_promise<outcome>());
/// },
/// [self](detail::engine_expire_atom, std::uint64_t job) { self->state.engine.expire(job); },
/// [self](detail::engine_retry_atom, std::uint64_t job) { self->state.engine.retry_due(job); },
/// ```
///
/// Thread-safety: none; it lives in one actor's state and only that actor's
/// handlers call it. Its address must not change after configure (the
/// callbacks it hands out refer to it): keep it in the state, never move it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/node.hpp"
#include "agora/actors/supervision.hpp"
#include "agora/actors/tracing.hpp"
#include "log_line.hpp"

namespace agora::actors::detail {

/// Timer → the owning actor: job `seq` reached its deadline. Every owner's
/// behavior forwards it to dispatch_engine::expire.
using engine_expire_atom = caf::atom_constant<caf::atom("dexpire")>;
/// Timer: a task whose last failure asked for a wait (retry-after) may be
/// dispatched again.
using engine_retry_atom = caf::atom_constant<caf::atom("dretry")>;

/// Where an engine's agents come from.
enum class agent_source : std::uint8_t {
  /// The owner spawned them: a crashed agent is restarted per the restart
  /// policy (or marked failed), a hung one is killed, all are stopped with
  /// the engine, and unfinished tasks are dead-lettered when it stops.
  pool = 1,
  /// A registry announces them: an agent that goes down is dropped, none is
  /// killed or stopped, tasks wait while there is none (one may register),
  /// and unfinished tasks are answered cancelled (not dead-lettered) when
  /// the engine stops: their agents are not the engine's and may finish.
  registry,
};

struct engine_options {
  agent_source source = agent_source::pool;
  /// "supervisor" or "dispatcher": span names (`<owner>.task`, ...) and messages.
  std::string owner = "supervisor";
  /// The agent type, for log lines (`type=`).
  std::string type;
  /// What the agents are called in messages: "every agent of <agents> ...".
  std::string agents;
  std::uint32_t max_attempts = 3;
  restart_policy restart;
  breaker_options breaker;
  std::chrono::milliseconds reply_grace{std::chrono::seconds(5)};
  /// The deadline of a task that has none, from when it is accepted.
  std::chrono::milliseconds default_timeout{std::chrono::minutes(10)};
  clock_fn clock = steady_clock_fn();
  std::string dlq_prefix = "_dlq";
  std::string dlq_author;
  /// Spans when set and enabled. Not owned.
  tracer* trace = nullptr;
  /// Log lines (agora.actors unless the owner's options name a logger).
  log_fn log{log::get(log::actors)};
};

/// One agent as the engine sees it.
struct engine_slot {
  agent_spec spec;
  std::string id;    ///< spec.id.str()
  std::string peer;  ///< where it runs (registry agents), for logs
  agent_actor handle;  ///< null unless idle or busy
  caf::actor_addr addr;
  agent_state state = agent_state::idle;
  restart_tracker restarts;
  circuit_breaker breaker;
  std::uint64_t job = 0;       ///< the task in flight, 0 = none
  std::uint64_t dispatch = 0;  ///< its dispatch id
  std::uint64_t tasks_done = 0;
};

/// One task from accept to reply.
struct engine_job {
  task t;  ///< trace = the engine's task span when tracing
  caf::typed_response_promise<outcome> promise;
  std::uint32_t dispatches = 0;
  std::uint32_t attempts = 0;
  std::string slot;  ///< id of the agent running it; "" while waiting
  std::uint64_t dispatch = 0;
  std::string last_agent;
  std::string last_error;  ///< why the previous dispatch ended (re-dispatch spans)
  span task_span;
  span dispatch_span;
};

class dispatch_engine {
 public:
  /// Sends `t` to `agent` as a request with `timeout`. Its reply must come
  /// back as on_reply(job, dispatch, outcome), its error as
  /// on_request_error(job, dispatch, error): send_through does that.
  using send_fn = std::function<void(const agent_actor& agent, caf::timespan timeout, const task& t,
                                     std::uint64_t job, std::uint64_t dispatch)>;
  /// Called once a dead letter is committed (revision, "") or refused (0, why).
  using dlq_done_fn = std::function<void(std::uint64_t revision, const std::string& error)>;
  /// Commits a dead letter (a blind promotion: dlq_promotion) under trace
  /// context `ctx` and calls `done`, now or from a later handler of the
  /// owning actor.
  using dead_letter_fn =
      std::function<void(bb::promotion p, const trace_context& ctx, dlq_done_fn done)>;
  /// Spawns (and monitors) a pool agent: at a restart.
  using start_fn = std::function<bb::result<agent_actor>(const agent_spec&)>;

  dispatch_engine() = default;
  dispatch_engine(const dispatch_engine&) = delete;
  dispatch_engine& operator=(const dispatch_engine&) = delete;

  /// Once, before any other call. `self` is the owning actor (timers go to it).
  void configure(engine_options opts, caf::actor_addr self, send_fn send, dead_letter_fn dead_letter,
                 start_fn start = {});

  // --- agents -------------------------------------------------------------------

  /// A new agent (the caller monitors it). A registry agent is kept in id
  /// order; an id already known with another actor replaces it (the old one
  /// counts as lost, with its task). Returns false when it is known already.
  bool add_agent(agent_spec spec, agent_actor handle, std::string peer = {});
  /// The agent behind `addr` went down or was lost: its task in flight goes
  /// back to the head of the queue (or to the DLQ), and the agent is
  /// restarted per policy (pool) or dropped (registry). Unknown addresses
  /// are ignored (a registry and a down message may both report a loss).
  void agent_down(const caf::actor_addr& addr, const caf::error& reason);

  // --- work ---------------------------------------------------------------------

  /// Takes a task and answers `rp` with its final outcome (see
  /// supervisor_actor). Returns `rp` for the handler to return.
  caf::typed_response_promise<outcome> accept(task t, caf::typed_response_promise<outcome> rp);
  void on_reply(std::uint64_t job, std::uint64_t dispatch, outcome o);
  void on_request_error(std::uint64_t job, std::uint64_t dispatch, const caf::error& err);
  /// The deadline of `job` came: settles it if it is still waiting (one in
  /// flight is settled by its agent's reply or the request timeout).
  void expire(std::uint64_t job);
  /// The wait a failure's retry hint asked for is over: `job` queues again
  /// (if it is still there and not settled).
  void retry_due(std::uint64_t job);

  supervisor_health health() const;

  /// The owner stops: every unfinished task is answered cancelled
  /// (dead-lettered first for a pool, whose agents are stopped too).
  /// Idempotent.
  void stop();

 private:
  engine_slot* find_slot(const std::string& id);
  engine_slot* pick();
  void pump();
  void dispatch_to(std::uint64_t seq, engine_slot& s);
  void end_dispatch(engine_job& j, agent_state next, const outcome* o);
  void retry_or_give_up(std::uint64_t seq, outcome last);
  /// The slot's breaker records the outcome; a change of state is logged.
  void record_failure(engine_slot& s);
  void record_success(engine_slot& s);
  void give_up(engine_job j, outcome o);
  void drop_waiting(std::uint64_t seq);
  outcome waiting_expired(const engine_job& j) const;
  bool any_live() const;
  span start_span(const std::string& name, const trace_context& parent, std::string agent) const;
  void log(lv::level_enum l, const std::string& line) const;

  engine_options opts_;
  caf::actor_addr self_;
  send_fn send_;
  dead_letter_fn dead_letter_;
  start_fn start_;
  std::vector<engine_slot> slots_;  // pool: in spawn order; registry: by id
  std::size_t next_slot_ = 0;       // round robin start
  std::unordered_map<std::uint64_t, engine_job> jobs_;
  std::deque<std::uint64_t> waiting_;
  std::uint64_t next_job_ = 0;
  std::uint64_t next_dispatch_ = 0;
  std::uint64_t succeeded_ = 0;
  std::uint64_t dead_letters_ = 0;
  std::uint64_t dlq_failures_ = 0;
  bool stopped_ = false;
};

/// Ends `s` (if active) with the outcome: agora.status, and agora.revision
/// and agora.replayed when ok, else an error status with the rendered error.
void end_outcome_span(span& s, const outcome& o);

/// `s` as a value in a key=value log line (agora::log::value).
inline std::string log_value(const std::string& s) { return log::value(s); }

/// The send_fn of an actor whose state holds its engine as `engine`: a
/// request whose reply and error go back to that engine.
template <class Self>
dispatch_engine::send_fn send_through(Self self) {
  return [self](const agent_actor& agent, caf::timespan timeout, const task& t, std::uint64_t job,
                std::uint64_t dispatch) {
    self->request(agent, timeout, run_atom::value, t)
        .then([self, job, dispatch](
                  outcome& o) { self->state.engine.on_reply(job, dispatch, std::move(o)); },
              [self, job, dispatch](caf::error& e) {
                self->state.engine.on_request_error(job, dispatch, e);
              });
  };
}

}  // namespace agora::actors::detail
