#include "agora/actors/agent.hpp"

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "agora/actors/runtime.hpp"

namespace agora::actors {

namespace {

// Internal messages of the agent actor: not in agent_actor, only in its
// implementation's interface.
using logic_done_atom = detail::logic_done_atom;
using expire_atom = caf::atom_constant<caf::atom("agexpire")>;

constexpr std::size_t max_agent_id_bytes = 256;

bool type_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool key_char(char c) noexcept { return c > 0x20 && c < 0x7f && c != '/'; }

// Quotes a value for an error message; control bytes become \xNN so that the
// message itself stays printable.
std::string quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  return out;
}

bb::status check_segment(std::string_view field, const std::string& value) {
  if (value.empty()) return bb::error{bb::errc::invalid_argument, std::string(field) + " is empty"};
  for (unsigned char c : value) {
    if (c == '/')
      return bb::error{bb::errc::invalid_argument,
                       std::string(field) + " " + quote(value) +
                           " contains '/' (it must be a single key segment)"};
    if (c < 0x20 || c == 0x7f)
      return bb::error{bb::errc::invalid_argument,
                       std::string(field) + " " + quote(value) + " contains a control character"};
  }
  return {};
}

}  // namespace

// --- agent_id ---------------------------------------------------------------------

bb::result<agent_id> agent_id::make(std::string_view type, std::string_view key) {
  std::string text;
  text.reserve(type.size() + 1 + key.size());
  text.append(type).append("/").append(key);
  return parse(text);
}

bb::result<agent_id> agent_id::parse(std::string_view text) {
  auto bad = [&](const char* why) {
    return bb::error{bb::errc::invalid_argument, "agent id " + quote(text) + " " + why};
  };
  if (text.empty()) return bad("is empty (expected type/key)");
  if (text.size() > max_agent_id_bytes)
    return bad(("is longer than " + std::to_string(max_agent_id_bytes) + " characters").c_str());
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("has no '/' (expected type/key)");
  if (slash == 0) return bad("has an empty type (expected type/key)");
  if (slash + 1 == text.size()) return bad("has an empty key (expected type/key)");
  for (std::size_t i = 0; i < slash; ++i)
    if (!type_char(text[i]))
      return bad("has a type character other than A-Z a-z 0-9 _ - .");
  for (std::size_t i = slash + 1; i < text.size(); ++i) {
    if (text[i] == '/') return bad("has more than one '/' (expected type/key)");
    if (!key_char(text[i])) return bad("has a key character that is not printable ASCII or is a space");
  }
  agent_id id;
  id.text_ = std::string(text);
  id.slash_ = slash;
  return id;
}

// --- task and outcome -------------------------------------------------------------

std::string task::txn_id() const {
  std::string out;
  out.reserve(run_id.size() + task_id.size() + 12);
  out.append(run_id).append("/").append(task_id).append("/").append(std::to_string(attempt_group));
  return out;
}

bb::status validate_task(const task& t) {
  if (auto s = check_segment("task run_id", t.run_id); !s) return s;
  return check_segment("task task_id", t.task_id);
}

const char* to_string(outcome_status s) noexcept {
  switch (s) {
    case outcome_status::ok: return "ok";
    case outcome_status::error: return "error";
    case outcome_status::conflict: return "conflict";
    case outcome_status::deadline_exceeded: return "deadline_exceeded";
    case outcome_status::cancelled: return "cancelled";
  }
  return "unknown";
}

std::string outcome::describe() const {
  std::string out = to_string(status);
  if (status == outcome_status::ok) {
    out += " at revision " + std::to_string(revision);
    if (replayed) out += " (replayed)";
  }
  if (error) out += ": " + render(error);
  return out;
}

// --- completion -------------------------------------------------------------------

namespace detail {

bool completion_core::complete(caf::error why, nlohmann::json v) {
  if (called.exchange(true, std::memory_order_acq_rel)) return false;
  failure = std::move(why);
  value = std::move(v);
  int expected = in_call;
  if (phase.compare_exchange_strong(expected, completed, std::memory_order_acq_rel))
    return true;  // still inside the logic's call: the agent looks when it returns
  phase.store(completed, std::memory_order_release);
  if (auto h = caf::actor_cast<caf::actor>(agent))
    caf::anon_send(h, logic_done_atom::value, task_seq, run);
  return true;
}

completion_ref::~completion_ref() {
  if (core)
    core->complete(caf::make_error(errc::agent_failed,
                                   "the agent's logic dropped its completion without calling it"),
                   nullptr);
}

}  // namespace detail

bool completion::operator()(bb::status s) const {
  if (!s) return ref_->core->complete(to_caf_error(s.error()), nullptr);
  return ref_->core->complete(caf::error{}, nullptr);
}

bool completion::operator()(logic_result r) const {
  if (!r) return ref_->core->complete(to_caf_error(r.error()), nullptr);
  return ref_->core->complete(caf::error{}, std::move(*r));
}

bool completion::fail(bb::error e, nlohmann::json result) const {
  return ref_->core->complete(to_caf_error(e), std::move(result));
}

namespace detail {

std::optional<bb::staged_op> usage_write(const task& t, const nlohmann::json& result) {
  if (!t.input.is_object() || !result.is_object()) return std::nullopt;
  auto k = t.input.find("usage_key");
  auto u = result.find("usage");
  if (k == t.input.end() || !k->is_string() || u == result.end() || !u->is_object()) return std::nullopt;
  bb::staged_op op;
  op.kind = bb::op_kind::put;
  op.key = k->get<std::string>();
  op.value = *u;
  return op;
}

bool call_async_logic(const agent_logic::async_fn& logic,
                      const std::shared_ptr<completion_core>& core, const std::string& agent) {
  auto threw = [&](const char* what) {
    // Ignored if the logic completed before it threw.
    core->complete(
        caf::make_error(errc::agent_failed, "agent " + agent + " logic threw: " + what), nullptr);
  };
  {
    completion done{std::make_shared<completion_ref>(core)};
    try {
      logic(*core->t, *core->pad, done);
    } catch (const std::exception& e) {
      threw(e.what());
    } catch (...) {
      threw("an exception not derived from std::exception");
    }
  }  // our copy of `done` goes here: if it was the last, the run fails as dropped
  int expected = completion_core::in_call;
  return !core->phase.compare_exchange_strong(expected, completion_core::waiting,
                                              std::memory_order_acq_rel);
}

}  // namespace detail

// --- timers that do not keep their target alive -----------------------------------

namespace detail {

namespace {

// CAF 0.17's delayed messages hold a strong reference to their receiver until
// they fire and cannot be cancelled, and the actor_system's destructor waits
// for every actor that is alive: a 10-minute deadline timer would keep an
// idle agent, and the program's exit, waiting 10 minutes. A hidden relay
// actor does not hold up shutdown, but one that is still alive when the
// system is torn down crashes CAF's teardown. So deadlines run on one small
// timer thread per process that holds only weak references: when a timer
// fires, the message goes out only if its target still exists.
class weak_timer {
 public:
  static weak_timer& instance() {
    static weak_timer t;
    return t;
  }

  void schedule(std::chrono::steady_clock::time_point when, caf::actor_addr target,
                caf::message msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    const bool earliest = due_.empty() || when < due_.begin()->first;
    due_.emplace(when, entry{std::move(target), std::move(msg)});
    if (earliest) cv_.notify_one();
  }

  ~weak_timer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct entry {
    caf::actor_addr target;
    caf::message msg;
  };

  weak_timer() = default;

  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = due_.begin();
      if (std::chrono::steady_clock::now() < first->first) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      entry e = std::move(first->second);
      due_.erase(first);
      lock.unlock();
      if (auto h = caf::actor_cast<caf::strong_actor_ptr>(e.target))
        h->enqueue(nullptr, caf::make_message_id(), std::move(e.msg), nullptr);
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, entry> due_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

void send_later_weak(const caf::actor_addr& target, caf::timespan delay, caf::message msg) {
  weak_timer::instance().schedule(std::chrono::steady_clock::now() + delay, target, std::move(msg));
}

void send_later_weak(caf::actor_system&, const caf::actor_addr& target, caf::timespan delay,
                     caf::message msg) {
  send_later_weak(target, delay, std::move(msg));
}

}  // namespace detail

// --- the agent actor --------------------------------------------------------------

namespace {

using agent_impl = agent_actor::extend<caf::reacts_to<logic_done_atom, std::uint64_t, std::uint32_t>,
                                       caf::reacts_to<expire_atom, std::uint64_t>>;

/// Everything fixed at spawn time, shared by the agent's handlers.
struct agent_setup {
  std::shared_ptr<bb::blackboard> board;
  agent_spec spec;
  agent_logic logic;
  agent_options opts;
  agent_counters* counters = nullptr;  // null when metrics are off
  tracer* trace = nullptr;             // null when tracing is off
};

/// One task from receipt to reply.
struct task_run {
  // The task as the logic sees it (trace = this task's span when tracing);
  // shared with the async runs, which may outlive this record.
  std::shared_ptr<const task> t;
  // t->txn_id(), built once: every promotion and the outcome carry it.
  std::string txn_id;
  caf::timestamp deadline{};
  std::chrono::steady_clock::time_point started{};
  std::uint32_t runs = 0;
  span sp;
};

/// A task whose async logic is in progress.
struct async_run {
  task_run run;
  caf::typed_response_promise<outcome> promise;
  std::shared_ptr<detail::completion_core> core;  // the current run of the logic
};

/// The agent gives up on the run in progress: a later call of its
/// completion returns false.
void abandon(async_run& a) {
  if (a.core) a.core->called.store(true, std::memory_order_release);
}

outcome failed(outcome_status status, caf::error err);
outcome finish(const agent_setup& s, task_run& r, outcome o);

struct agent_state {
  std::shared_ptr<const agent_setup> setup;
  std::uint64_t next_seq = 0;
  std::unordered_map<std::uint64_t, async_run> pending;
  const char* name = "agora_agent";

  ~agent_state() {
    // The agent is going away (killed, or its system stops): whoever waits
    // for these tasks learns it now instead of at its request timeout.
    if (!setup) return;
    for (auto& [seq, p] : pending) {
      abandon(p);
      if (!p.promise.pending()) continue;
      p.promise.deliver(finish(*setup, p.run,
                               failed(outcome_status::cancelled,
                                      caf::make_error(errc::cancelled,
                                                      "agent " + setup->spec.id.str() +
                                                          " stopped before the task finished"))));
    }
  }
};

using agent_pointer = agent_impl::stateful_pointer<agent_state>;

caf::timestamp wall_now() {
  return std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now());
}

bool past(caf::timestamp deadline) { return wall_now() >= deadline; }

outcome failed(outcome_status status, caf::error err) {
  outcome o;
  o.status = status;
  o.error = std::move(err);
  return o;
}

caf::error deadline_error(const task& t) {
  return caf::make_error(errc::deadline_exceeded,
                         "task " + t.txn_id() + " passed its deadline before it was promoted");
}

task_run start_run(const agent_setup& s, task t) {
  task_run r;
  r.deadline = t.deadline == caf::timestamp{}
                   ? wall_now() + std::chrono::duration_cast<caf::timespan>(s.opts.default_timeout)
                   : t.deadline;
  if (s.counters) r.started = std::chrono::steady_clock::now();
  if (s.trace) {
    r.sp = s.trace->start("agent.task", t.trace, s.spec.id.str());
    r.sp.set("agora.run", t.run_id);
    r.sp.set("agora.task", t.task_id);
    r.sp.set("agora.attempt_group", static_cast<std::int64_t>(t.attempt_group));
  }
  if (r.sp.active()) t.trace = r.sp.context();
  r.txn_id = t.txn_id();
  r.t = std::make_shared<const task>(std::move(t));
  return r;
}

/// Fills in what every outcome carries, counts and traces it.
outcome finish(const agent_setup& s, task_run& r, outcome o) {
  o.txn_id = r.txn_id;
  o.attempts = r.runs;
  o.dispatches = 1;
  o.agent = s.spec.id.str();
  if (auto* c = s.counters) {
    c->tasks.fetch_add(1, std::memory_order_relaxed);
    if (!o.ok()) c->failures.fetch_add(1, std::memory_order_relaxed);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                   r.started)
                  .count();
    c->record_latency(static_cast<std::uint64_t>(ns < 0 ? 0 : ns));
  }
  if (r.sp.active()) {
    r.sp.set("agora.status", std::string(to_string(o.status)));
    r.sp.set("agora.attempts", static_cast<std::int64_t>(o.attempts));
    if (o.ok()) {
      r.sp.set("agora.revision", static_cast<std::int64_t>(o.revision));
      if (o.replayed) r.sp.set("agora.replayed", std::int64_t{1});
    } else {
      r.sp.fail(render(o.error));
    }
    r.sp.end();
  }
  return o;
}

/// Looks up the revision and size of the commit with `txn_id` (newest
/// first); leaves them 0 when history no longer has it.
void find_commit(const bb::blackboard& board, const std::string& txn_id, outcome& o) {
  const auto from = std::max<std::uint64_t>(1, board.compact_revision());
  auto records = board.history(from);
  if (!records) return;
  for (auto it = records->rbegin(); it != records->rend(); ++it)
    if (it->txn_id == txn_id) {
      o.revision = it->revision;
      o.changes = it->changes.size();
      return;
    }
}

/// After one run of the logic: promotes, or decides that the logic must run
/// again (a conflict with retries left: returns nothing), or that the task
/// is over (returns its outcome, not yet finished()).
std::optional<outcome> after_logic(const agent_setup& s, task_run& r, caf::error failure,
                                   nlohmann::json value, bb::scratchpad&& pad) {
  if (failure) {
    outcome o = failed(outcome_status::error, std::move(failure));
    o.result = std::move(value);  // completion::fail(error, result): e.g. usage spent
    return o;
  }
  if (past(r.deadline)) return failed(outcome_status::deadline_exceeded, deadline_error(*r.t));
  if (auto u = detail::usage_write(*r.t, value))
    if (auto st = pad.put(u->key, std::move(u->value)); !st)
      return failed(outcome_status::error, to_caf_error(st.error()));
  bb::promote_options po;
  po.txn_id = r.txn_id;
  po.isolation = s.opts.isolation;
  auto c = s.board->promote(std::move(pad), po);
  if (c) {
    if (s.counters && !c->replayed) s.counters->promotions.fetch_add(1, std::memory_order_relaxed);
    outcome o;
    o.status = outcome_status::ok;
    o.revision = c->revision;
    o.replayed = c->replayed;
    o.changes = c->changes;
    o.result = std::move(value);
    return o;
  }
  if (c.error().code == bb::errc::duplicate_txn) {
    // The txn_id was committed before with other content: by an earlier
    // dispatch of this task to another agent (another author), or by a
    // logic that does not repeat itself. That commit stands; this run's
    // writes are not applied.
    outcome o;
    o.status = outcome_status::ok;
    o.replayed = true;
    o.result = std::move(value);
    find_commit(*s.board, r.txn_id, o);
    return o;
  }
  if (c.error().code == bb::errc::conflict) {
    if (s.counters) s.counters->conflicts.fetch_add(1, std::memory_order_relaxed);
    if (r.runs <= s.opts.max_conflict_retries) {
      if (s.counters) s.counters->retries.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return failed(outcome_status::conflict, to_caf_error(c.error()));
  }
  return failed(outcome_status::error, to_caf_error(c.error()));
}

caf::error thrown(const agent_setup& s, const char* what) {
  return caf::make_error(errc::agent_failed, "agent " + s.spec.id.str() + " logic threw: " + what);
}

/// Runs a sync logic to the end of the task, re-running it after conflicts.
outcome run_sync(const agent_setup& s, task t) {
  task_run r = start_run(s, std::move(t));
  for (;;) {
    if (past(r.deadline))
      return finish(s, r, failed(outcome_status::deadline_exceeded, deadline_error(*r.t)));
    ++r.runs;
    bb::scratchpad pad = s.board->begin(s.spec.id.str());
    caf::error failure;
    nlohmann::json value;
    try {
      logic_result lr = s.logic.sync_function()(*r.t, pad);
      if (lr)
        value = std::move(*lr);
      else
        failure = to_caf_error(lr.error());
    } catch (const std::exception& e) {
      failure = thrown(s, e.what());
    } catch (...) {
      failure = thrown(s, "an exception not derived from std::exception");
    }
    if (auto o = after_logic(s, r, std::move(failure), std::move(value), std::move(pad)))
      return finish(s, r, std::move(*o));
  }
}

void settle_async(agent_pointer self, std::uint64_t seq);

/// Starts the next run of an async logic for pending task `seq`; settles
/// the task right away when the run completed inside the call.
void start_async(agent_pointer self, std::uint64_t seq) {
  auto it = self->state.pending.find(seq);
  if (it == self->state.pending.end()) return;
  const agent_setup& s = *self->state.setup;
  async_run& a = it->second;
  if (past(a.run.deadline)) {
    a.promise.deliver(
        finish(s, a.run, failed(outcome_status::deadline_exceeded, deadline_error(*a.run.t))));
    self->state.pending.erase(it);
    return;
  }
  ++a.run.runs;
  auto core = std::make_shared<detail::completion_core>();
  core->t = a.run.t;
  core->pad.emplace(s.board->begin(s.spec.id.str()));
  core->agent = self->address();
  core->task_seq = seq;
  core->run = a.run.runs;
  a.core = core;
  {
    completion done{std::make_shared<detail::completion_ref>(core)};
    try {
      s.logic.async_function()(*core->t, *core->pad, done);
    } catch (const std::exception& e) {
      core->complete(thrown(s, e.what()), nullptr);  // ignored if the logic completed first
    } catch (...) {
      core->complete(thrown(s, "an exception not derived from std::exception"), nullptr);
    }
  }  // our copy of `done` goes here: if it was the last, the run fails as dropped
  int expected = detail::completion_core::in_call;
  if (core->phase.compare_exchange_strong(expected, detail::completion_core::waiting,
                                          std::memory_order_acq_rel))
    return;  // the logic completes later, by message
  settle_async(self, seq);
}

/// The current run of pending task `seq` completed: promote, retry or reply.
void settle_async(agent_pointer self, std::uint64_t seq) {
  auto it = self->state.pending.find(seq);
  if (it == self->state.pending.end()) return;
  const agent_setup& s = *self->state.setup;
  async_run& a = it->second;
  auto core = std::move(a.core);
  bb::scratchpad pad = std::move(*core->pad);
  auto o = after_logic(s, a.run, std::move(core->failure), std::move(core->value), std::move(pad));
  if (!o) {
    start_async(self, seq);  // a conflict with retries left
    return;
  }
  a.promise.deliver(finish(s, a.run, std::move(*o)));
  self->state.pending.erase(it);
}

agent_impl::behavior_type agent_behavior(agent_pointer self, std::shared_ptr<const agent_setup> setup) {
  self->state.setup = std::move(setup);
  return {
      [self](run_atom, task& t) -> caf::result<outcome> {
        auto& st = self->state;
        const agent_setup& s = *st.setup;
        if (auto v = validate_task(t); !v) {
          task_run r = start_run(s, std::move(t));
          return finish(s, r, failed(outcome_status::error, to_caf_error(v.error())));
        }
        if (!s.logic.is_async()) return run_sync(s, std::move(t));
        // Async: beyond the limit, the task waits in the mailbox (skipped
        // messages are retried after the next message is handled).
        if (st.pending.size() >= std::max<std::uint32_t>(1, s.opts.max_concurrent_tasks))
          return caf::skip;
        const auto seq = ++st.next_seq;
        async_run a;
        a.run = start_run(s, std::move(t));
        a.promise = self->make_response_promise<outcome>();
        auto remaining = a.run.deadline - wall_now();
        if (remaining > caf::timespan::zero())
          detail::send_later_weak(self->address(), remaining,
                                  caf::make_message(expire_atom::value, seq));
        auto promise = a.promise;
        st.pending.emplace(seq, std::move(a));
        start_async(self, seq);
        return promise;
      },
      [self](describe_atom) -> agent_spec { return self->state.setup->spec; },
      [self](logic_done_atom, std::uint64_t seq, std::uint32_t run) {
        auto it = self->state.pending.find(seq);
        // A completion of a run the agent gave up on (deadline) or of an
        // earlier run: ignored.
        if (it == self->state.pending.end() || !it->second.core || it->second.core->run != run)
          return;
        settle_async(self, seq);
      },
      [self](expire_atom, std::uint64_t seq) {
        auto it = self->state.pending.find(seq);
        if (it == self->state.pending.end()) return;
        const agent_setup& s = *self->state.setup;
        async_run& a = it->second;
        abandon(a);
        a.promise.deliver(finish(
            s, a.run, failed(outcome_status::deadline_exceeded, deadline_error(*a.run.t))));
        self->state.pending.erase(it);
      },
  };
}

bb::status check_spawn_args(const std::shared_ptr<bb::blackboard>& board, const agent_spec& spec,
                            const agent_logic& logic) {
  if (!board) return bb::error{bb::errc::invalid_argument, "spawn_agent: the blackboard is null"};
  if (spec.id.empty()) return bb::error{bb::errc::invalid_argument, "spawn_agent: the agent id is empty"};
  if (logic.empty())
    return bb::error{bb::errc::invalid_argument,
                     "spawn_agent: agent " + spec.id.str() + " has no logic"};
  return {};
}

}  // namespace

bb::result<agent_actor> spawn_agent(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                    agent_spec spec, agent_logic logic, agent_options opts) {
  if (auto s = check_spawn_args(board, spec, logic); !s) return std::move(s).take_error();
  auto setup = std::make_shared<agent_setup>();
  setup->board = std::move(board);
  setup->spec = std::move(spec);
  setup->logic = std::move(logic);
  setup->opts = opts;
  if (opts.metrics && opts.metrics->enabled()) setup->counters = &opts.metrics->of(setup->spec.id.str());
  if (opts.tracer && opts.tracer->enabled()) setup->trace = opts.tracer;
  agent_actor handle = sys.spawn(agent_behavior, std::shared_ptr<const agent_setup>(std::move(setup)));
  return handle;
}

bb::result<agent_actor> spawn_agent(runtime& rt, std::shared_ptr<bb::blackboard> board,
                                    agent_spec spec, agent_logic logic, agent_options opts) {
  if (!opts.tracer) opts.tracer = &rt.tracer();
  if (!opts.metrics) opts.metrics = &rt.metrics();
  std::string what = spec.id.str();
  return adopt(rt, spawn_agent(rt.system(), std::move(board), std::move(spec), std::move(logic), opts),
               std::move(what));
}

bb::result<agent_actor> adopt(runtime& rt, bb::result<agent_actor> spawned, std::string what) {
  if (spawned) rt.adopt(caf::actor_cast<caf::actor_addr>(*spawned), std::move(what));
  return spawned;
}

}  // namespace agora::actors
