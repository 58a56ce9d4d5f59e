/// \file agent.hpp
/// Agents as actors: an agent's identity, the task it is given, the outcome
/// it replies with, its logic, and the actor that runs the logic against a
/// blackboard.
///
/// ```cpp
/// using namespace agora;
/// auto board = std::make_shared<bb::blackboard>();
/// auto id = actors::agent_id::parse("critic/alice");          // bb::result<agent_id>
/// if (!id) return id.error();
/// actors::agent_spec spec{*id, "critic", {"review"}};
///
/// // Synchronous logic: reads and writes go to the scratchpad; returning
/// // success promotes it.
/// auto logic = actors::agent_logic::sync(
///     [](const actors::task& t, bb::scratchpad& sp) -> bb::status {
///       return sp.put("runs/" + t.run_id + "/review/" + t.task_id, {{"ok", true}});
///     });
/// auto alice = actors::spawn_agent(sys, board, spec, logic);   // bb::result<agent_actor>
/// if (!alice) return alice.error();
///
/// actors::task t;
/// t.run_id = "r1"; t.task_id = "t1";
/// t.expires_in(std::chrono::seconds(30));                      // the deadline
/// caf::scoped_actor self{sys};
/// self->request(*alice, std::chrono::seconds(40), actors::run_atom::value, t)
///     .receive([](const actors::outcome& o) { /* o.status, o.revision */ },
///              [](const caf::error& e) { /* the request itself failed */ });
/// ```
///
/// Asynchronous logic (an LLM call) gets a `completion` instead of returning:
/// ```cpp
/// auto llm = actors::agent_logic::async(
///     [client](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
///       client->ask(t.input, [&sp, done](reply r) {       // any thread, later
///         if (!r) {
///           done.fail(bb::error{bb::errc::invalid_argument, r.why});
///           return;
///         }
///         done(sp.put("runs/x/answer", r.text));             // promotes sp
///       });
///     });
/// ```
///
/// What the agent actor does with a task (docs/agents-runtime.md has the
/// whole story): it takes a snapshot, hands the logic a scratchpad on it
/// (author = the agent id), promotes the scratchpad when the logic succeeds,
/// re-runs the logic on a fresh snapshot when the promotion conflicts (at
/// most agent_options::max_conflict_retries times), and replies with an
/// `outcome`. Every promotion carries txn_id `<run>/<task>/<attempt group>`,
/// so running the same task again after it committed is not applied twice:
/// the outcome is ok and says `replayed`, with the original revision — also
/// when the earlier commit came from another agent or a logic that wrote
/// something else this time (the blackboard's errc::duplicate_txn): the
/// first commit stands. The deadline is enforced with a timer, never
/// a sleep; a logic exception becomes an error outcome and the actor lives
/// on. Failures are outcomes (status != ok), not caf::errors: a caf::error
/// reply means the request itself went wrong (agent gone, timeout).
///
/// In-process agents promote directly on the thread-safe bb::blackboard: its
/// commit lock is the single writer (a promotion holds it for about a
/// microsecond). Agents on other nodes go through the blackboard actor.
///
/// Thread-safety: agent_id, task, outcome and agent_spec are values.
/// agent_logic is copyable and immutable; its callable is called by one agent
/// at a time per task, possibly by several agents concurrently (one
/// agent_logic may serve many agents). completion is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/save_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/sec.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>
#include <nlohmann/json.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/messages.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "agora/blackboard/result.hpp"
#include "agora/blackboard/scratchpad.hpp"

namespace agora::actors {

class runtime;

// --- Identity -----------------------------------------------------------------

/// An agent's id `type/key`, e.g. `critic/alice`: the type names what the
/// agent does (supervisors own agents of one type), the key tells agents of
/// a type apart. The id is also the agent's author name on the blackboard.
///
/// Rules: the type is 1+ characters of `A-Z a-z 0-9 _ - .`; the key is 1+
/// printable ASCII characters other than space and `/`; at most 256
/// characters in all.
class agent_id {
 public:
  /// The empty id; `empty()` is true. Not accepted by spawn_agent.
  agent_id() = default;

  /// Parses `type/key`. Fails with bb::errc::invalid_argument quoting the
  /// text and saying which rule it breaks.
  static bb::result<agent_id> parse(std::string_view text);
  /// Builds `type/key` from its parts; the same checks as parse.
  static bb::result<agent_id> make(std::string_view type, std::string_view key);

  /// `type/key`; "" for the empty id.
  const std::string& str() const noexcept { return text_; }
  std::string_view type() const noexcept { return std::string_view(text_).substr(0, slash_); }
  std::string_view key() const noexcept {
    return empty() ? std::string_view() : std::string_view(text_).substr(slash_ + 1);
  }
  bool empty() const noexcept { return text_.empty(); }

  friend bool operator==(const agent_id& a, const agent_id& b) noexcept { return a.text_ == b.text_; }
  friend bool operator!=(const agent_id& a, const agent_id& b) noexcept { return a.text_ != b.text_; }
  friend bool operator<(const agent_id& a, const agent_id& b) noexcept { return a.text_ < b.text_; }
  friend std::string to_string(const agent_id& x) { return x.text_; }

  /// Wire form: the text, checked again on arrival.
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, agent_id& x) {
    auto check = caf::meta::load_callback([&x]() -> caf::error {
      if (x.text_.empty()) {
        x.slash_ = 0;
        return caf::none;
      }
      auto parsed = parse(x.text_);
      if (!parsed) return caf::make_error(errc::bad_message, bb::to_string(parsed.error()));
      x = std::move(*parsed);
      return caf::none;
    });
    return f(caf::meta::type_name("agora_agent_id"), x.text_, check);
  }

 private:
  std::string text_;
  std::size_t slash_ = 0;
};

/// What an agent is: its id, its role (free text, e.g. "critic") and its
/// capabilities (free tags an orchestrator may select agents by).
struct agent_spec {
  agent_id id;
  std::string role;
  std::vector<std::string> capabilities;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_spec& x) {
  return f(caf::meta::type_name("agora_agent_spec"), x.id, x.role, x.capabilities);
}

// --- Tasks and outcomes ----------------------------------------------------------

/// One unit of work for an agent.
///
/// `run_id` and `task_id` are single key segments (non-empty, no `/`, no
/// control characters): they name the task's transaction
/// (`<run>/<task>/<attempt group>`) and its dead-letter key
/// (`_dlq/<run>/<task>`). `attempt_group` says which attempts are "the same
/// attempt" for idempotency: re-sending a task with the same group after it
/// committed replays the commit; a new group may commit again.
///
/// Usage that survives a crash: when the input has a string `usage_key` and
/// the logic's result has an object `usage` (the tokens and cost it spent,
/// as LLM agents report it), the agent writes that usage at `usage_key` in
/// the same promotion as the logic's writes. Patterns set it, so that a
/// run resumed after a crash counts what committed contributions cost.
///
/// `deadline` is wall-clock time (system_clock) so that it means the same on
/// every node; the zero timestamp (the default) means "no deadline of its
/// own": the agent then applies agent_options::default_timeout from when it
/// starts the task.
struct task {
  std::string run_id;
  std::string task_id;
  std::uint32_t attempt_group = 0;
  nlohmann::json input;
  caf::timestamp deadline{};
  trace_context trace;

  /// `<run>/<task>/<attempt group>`, the txn_id of every promotion for this task.
  std::string txn_id() const;
  /// Sets the deadline to now + `d`.
  template <class Rep, class Period>
  task& expires_in(std::chrono::duration<Rep, Period> d) {
    deadline = std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now()) +
               std::chrono::duration_cast<caf::timespan>(d);
    return *this;
  }
};

namespace detail {
/// The write of a result's usage at the task's `usage_key` (see task), if
/// the task asks for one and the result has a usage object.
std::optional<bb::staged_op> usage_write(const task& t, const nlohmann::json& result);
}  // namespace detail

/// Checks run_id and task_id (see task). Fails with bb::errc::invalid_argument
/// naming the field and quoting its value.
bb::status validate_task(const task& t);

/// Wire form; the input travels as JSON text (messages.hpp), and text that
/// does not parse fails the message with errc::bad_message.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task& x) {
  std::string input;
  caf::error dump_error;
  if constexpr (Inspector::reads_state)
    dump_error = detail::dump_json(x.input, input, "input of task '" + x.task_id + "'");
  auto on_save = caf::meta::save_callback([&]() -> caf::error { return dump_error; });
  auto on_load = caf::meta::load_callback(
      [&]() -> caf::error { return detail::load_json(input, x.input, "input of task '" + x.task_id + "'"); });
  return f(caf::meta::type_name("agora_task"), x.run_id, x.task_id, x.attempt_group, on_save,
           input, on_load, x.deadline, x.trace);
}

/// How a task ended.
enum class outcome_status : std::uint8_t {
  ok = 1,             ///< the logic succeeded and its scratchpad is committed (or was: `replayed`)
  error,              ///< the logic failed or threw, the promotion was refused for a reason
                      ///< other than a conflict, or the task could not be run at all
  conflict,           ///< still conflicting after the last allowed retry; nothing committed
  deadline_exceeded,  ///< the deadline passed before the promotion; nothing committed
  cancelled,          ///< the task was withdrawn before it finished; nothing committed
};

/// "ok", "error", "conflict", "deadline_exceeded", "cancelled".
const char* to_string(outcome_status s) noexcept;

/// What an agent (or a supervisor) replies to a task.
struct outcome {
  outcome_status status = outcome_status::error;
  /// The revision the task's promotion committed at (for a replay: the
  /// original one); 0 when nothing was committed.
  std::uint64_t revision = 0;
  std::string txn_id;
  /// The commit is the stored result of an earlier promotion with the same txn_id.
  bool replayed = false;
  /// Keys the commit wrote.
  std::uint64_t changes = 0;
  /// Times the logic ran: 1 + conflict retries (summed over dispatches when
  /// a supervisor replies; a dispatch lost to a crash counts 1).
  std::uint32_t attempts = 0;
  /// Agents the task was handed to: 1 from an agent, 1+ from a supervisor.
  std::uint32_t dispatches = 0;
  /// The agent that produced this outcome ("" when none ran the task).
  std::string agent;
  /// Why it failed; empty for ok. Category agora_bb (bb::errc, whole:
  /// conflicting keys, contract path — see errors.hpp) or agora_act
  /// (errc::deadline_exceeded, agent_failed for an exception, circuit_open,
  /// no_agent, cancelled, timeout). `render(error)` makes it readable.
  caf::error error;
  /// What the logic reported besides its writes (null if nothing). For a
  /// task a supervisor gave up on: {"dlq": key, "dlq_revision": rev}.
  nlohmann::json result;

  bool ok() const noexcept { return status == outcome_status::ok; }
  /// "ok at revision 7" / "conflict: conflict: 1 key changed ..." — for people.
  std::string describe() const;
};

/// Wire form; the result travels as JSON text like task::input.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outcome& x) {
  std::string result;
  caf::error dump_error;
  if constexpr (Inspector::reads_state)
    dump_error = detail::dump_json(x.result, result, "result of task " + x.txn_id);
  auto on_save = caf::meta::save_callback([&]() -> caf::error { return dump_error; });
  auto on_load = caf::meta::load_callback([&]() -> caf::error {
    if (x.status < outcome_status::ok || x.status > outcome_status::cancelled)
      return detail::bad_enum("outcome.status", unsigned(x.status));
    return detail::load_json(result, x.result, "result of task " + x.txn_id);
  });
  return f(caf::meta::type_name("agora_outcome"), x.status, x.revision, x.txn_id, x.replayed,
           x.changes, x.attempts, x.dispatches, x.agent, x.error, on_save, result, on_load);
}

// --- Logic -----------------------------------------------------------------------

/// What logic reports: success with an optional result JSON, or an error.
using logic_result = bb::result<nlohmann::json>;

namespace detail {
struct completion_ref;
}

/// The callback an asynchronous logic calls when it is done, from any
/// thread. The first call decides and returns true; later calls are
/// ignored and return false, and so are calls after the agent gave up on
/// the run (deadline passed, agent stopped). Copyable; copies share
/// the decision. If every copy is destroyed without a call, the task fails
/// with errc::agent_failed ("dropped its completion") instead of waiting for
/// its deadline.
///
/// Calling it hands the scratchpad back to the agent: do not touch the
/// scratchpad afterwards.
class completion {
 public:
  explicit completion(std::shared_ptr<detail::completion_ref> ref) : ref_(std::move(ref)) {}

  /// Success (promote the scratchpad) or the logic's error.
  bool operator()(bb::status s) const;
  /// Success with a result JSON for the outcome, or the logic's error.
  bool operator()(logic_result r) const;
  /// Shorthands.
  bool ok(nlohmann::json result = nullptr) const { return (*this)(logic_result(std::move(result))); }
  bool fail(bb::error e) const { return (*this)(logic_result(std::move(e))); }
  /// The logic's error, with a result JSON for the outcome all the same:
  /// what a failed task still has to report, e.g. the tokens its model calls
  /// spent before it failed (patterns add a result's "usage" to the run's
  /// totals whatever the status). Local agents only: a remote agent's failed
  /// outcome carries no result.
  bool fail(bb::error e, nlohmann::json result) const;

 private:
  std::shared_ptr<detail::completion_ref> ref_;
};

/// An agent's logic: a C++ callable run by the agent actor for each task,
/// with the task (its trace context set to the agent's span for this task,
/// when tracing is on) and a scratchpad on a fresh snapshot.
///
/// - sync: `(const task&, bb::scratchpad&) -> bb::status` or
///   `-> logic_result`. Runs on a CAF worker thread: it must be quick and
///   must not block (no I/O waits, no sleeps). The deadline is checked when
///   it returns.
/// - async: `(const task&, bb::scratchpad&, completion) -> void`. Starts
///   work and returns; the task and the scratchpad stay valid until the
///   completion is called (or every copy of it is gone).
///
/// One agent_logic may serve several agents (a supervisor's pool shares
/// one): it then runs on several threads at once, so what it captures must
/// be thread-safe. A logic that throws fails the task with
/// errc::agent_failed naming the exception; the agent lives on. The logic may be re-run for the same task
/// (conflict retries, re-dispatch after a crash): it must not have effects
/// outside the scratchpad that are unsafe to repeat.
class agent_logic {
 public:
  using sync_fn = std::function<logic_result(const task&, bb::scratchpad&)>;
  using async_fn = std::function<void(const task&, bb::scratchpad&, completion)>;

  /// No logic; spawn_agent refuses it.
  agent_logic() = default;

  template <class F>
  static agent_logic sync(F f) {
    using ret = std::invoke_result_t<F&, const task&, bb::scratchpad&>;
    agent_logic l;
    if constexpr (std::is_same_v<ret, logic_result>) {
      l.sync_ = sync_fn(std::move(f));
    } else {
      static_assert(std::is_same_v<ret, bb::status>,
                    "sync logic returns bb::status or agora::actors::logic_result");
      l.sync_ = [g = std::move(f)](const task& t, bb::scratchpad& sp) -> logic_result {
        bb::status s = g(t, sp);
        if (!s) return std::move(s).take_error();
        return nlohmann::json();
      };
    }
    return l;
  }

  template <class F>
  static agent_logic async(F f) {
    static_assert(std::is_invocable_v<F&, const task&, bb::scratchpad&, completion>,
                  "async logic is (const task&, bb::scratchpad&, completion) -> void");
    agent_logic l;
    l.async_ = async_fn(std::move(f));
    return l;
  }

  bool is_async() const noexcept { return static_cast<bool>(async_); }
  bool empty() const noexcept { return !sync_ && !async_; }
  const sync_fn& sync_function() const noexcept { return sync_; }
  const async_fn& async_function() const noexcept { return async_; }

 private:
  sync_fn sync_;
  async_fn async_;
};

// --- The actor -------------------------------------------------------------------

/// Runs a task on an agent.
using run_atom = caf::atom_constant<caf::atom("run")>;
/// Asks an agent for its spec.
using describe_atom = caf::atom_constant<caf::atom("describe")>;

/// The runtime's side of one agent. Thread-safe: it is an actor.
using agent_actor = caf::typed_actor<
    // Runs the task (see the file comment) and replies with its outcome;
    // failures are outcomes, not errors. With async logic, tasks beyond
    // agent_options::max_concurrent_tasks wait in the mailbox.
    caf::replies_to<run_atom, task>::with<outcome>,
    // Replies with the agent's id, role and capabilities.
    caf::replies_to<describe_atom>::with<agent_spec>>;

/// How an agent runs its tasks.
struct agent_options {
  /// Re-runs of the logic after a conflicted promotion (so at most
  /// 1 + max_conflict_retries runs per task).
  std::uint32_t max_conflict_retries = 3;
  /// The deadline of a task that has none, counted from when the agent starts it.
  std::chrono::milliseconds default_timeout{std::chrono::minutes(10)};
  /// Async logic only: tasks in progress at once. Sync logic runs one at a time.
  std::uint32_t max_concurrent_tasks = 1;
  /// How the promotion's reads are validated.
  bb::isolation isolation = bb::isolation::serializable;
  /// When set and enabled: a span per task (a child of task.trace). Not
  /// owned; must outlive the agent.
  actors::tracer* tracer = nullptr;
  /// When set and enabled: counters under the agent's id. Not owned; must
  /// outlive the agent.
  actors::metrics* metrics = nullptr;
};

/// Spawns an agent actor on `board`. Fails with bb::errc::invalid_argument
/// when the id is empty, the logic is empty or the board is null.
bb::result<agent_actor> spawn_agent(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                    agent_spec spec, agent_logic logic, agent_options opts = {});

/// Hands a freshly spawned actor to `rt` (runtime::adopt), so that the
/// runtime stops it at shutdown; passes `spawned` through. The `runtime&`
/// spawn functions of every layer do this.
bb::result<agent_actor> adopt(runtime& rt, bb::result<agent_actor> spawned, std::string what);

/// The same on a runtime's actor system; its tracer and metrics are used
/// unless `opts` names others. The runtime stops the agent at shutdown.
bb::result<agent_actor> spawn_agent(runtime& rt, std::shared_ptr<bb::blackboard> board,
                                    agent_spec spec, agent_logic logic, agent_options opts = {});

namespace detail {

/// completion_core → its agent: run `run` of task `task_seq` completed.
/// Every agent actor that runs async logic through completion_core (the
/// local agent, the remote agent of node.hpp) handles
/// (logic_done_atom, std::uint64_t, std::uint32_t). Not part of the API.
using logic_done_atom = caf::atom_constant<caf::atom("agdone")>;

/// One run of an asynchronous logic, shared by the agent that waits for it
/// and the logic's completions. Not part of the API.
struct completion_core {
  enum phase_t : int { in_call = 0, waiting = 1, completed = 2 };
  std::shared_ptr<const task> t;  // the task as the logic sees it
  std::optional<bb::scratchpad> pad;
  std::atomic<bool> called{false};
  std::atomic<int> phase{in_call};
  caf::error failure;             // set when the logic failed
  nlohmann::json value;           // set when it succeeded
  caf::actor_addr agent;          // weak: a pending run does not keep the agent alive
  std::uint64_t task_seq = 0;
  std::uint32_t run = 0;

  /// The first call wins. Tells the agent, by message unless it is still
  /// inside the logic's call (then it finds out when the call returns).
  bool complete(caf::error failure, nlohmann::json value);
};

/// Calls an async `logic` for the run in `core` (its task and scratchpad,
/// set by the caller along with agent, task_seq and run) with a completion.
/// An exception ends the run with errc::agent_failed naming `agent`. Returns
/// true when the run completed inside the call (the caller settles it now);
/// false when the agent will get (logic_done_atom, task_seq, run) instead.
/// Not part of the API.
bool call_async_logic(const agent_logic::async_fn& logic,
                      const std::shared_ptr<completion_core>& core, const std::string& agent);

/// Owned only by completions: when the last one goes without a call, the run
/// fails ("dropped its completion"). Not part of the API.
struct completion_ref {
  std::shared_ptr<completion_core> core;
  explicit completion_ref(std::shared_ptr<completion_core> c) : core(std::move(c)) {}
  completion_ref(const completion_ref&) = delete;
  completion_ref& operator=(const completion_ref&) = delete;
  ~completion_ref();
};

/// Delivers `msg` to `target` after `delay` without keeping `target` alive
/// meanwhile: nothing arrives if it is gone by then. Runs on one timer
/// thread per process, so pending timers never delay an actor_system's
/// shutdown. Not part of the API.
void send_later_weak(const caf::actor_addr& target, caf::timespan delay, caf::message msg);
/// The same; `sys` is not needed (kept for callers written against the
/// first version of this function).
void send_later_weak(caf::actor_system& sys, const caf::actor_addr& target, caf::timespan delay,
                     caf::message msg);

}  // namespace detail

}  // namespace agora::actors
