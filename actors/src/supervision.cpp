#include "agora/actors/supervision.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "registration.hpp"

namespace agora::actors {

// --- time ---------------------------------------------------------------------------

clock_fn steady_clock_fn() {
  return [] { return std::chrono::steady_clock::now(); };
}

manual_clock::manual_clock() : ns_(std::make_shared<std::atomic<std::int64_t>>(0)) {}

std::chrono::steady_clock::time_point manual_clock::now() const noexcept {
  return std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(ns_->load(std::memory_order_acquire)));
}

void manual_clock::advance(std::chrono::steady_clock::duration d) noexcept {
  ns_->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                 std::memory_order_acq_rel);
}

clock_fn manual_clock::fn() const {
  return [ns = ns_] {
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(ns->load(std::memory_order_acquire)));
  };
}

// --- restarts -----------------------------------------------------------------------

namespace {

void drop_older(std::deque<std::chrono::steady_clock::time_point>& recent,
                std::chrono::steady_clock::time_point now, std::chrono::milliseconds window) {
  // A restart exactly `window` ago has left the window.
  while (!recent.empty() && now - recent.front() >= window) recent.pop_front();
}

}  // namespace

bool restart_tracker::allow_restart(std::chrono::steady_clock::time_point now) {
  if (gave_up_) return false;
  drop_older(recent_, now, policy_.window);
  if (recent_.size() >= policy_.max_restarts) {
    gave_up_ = true;
    return false;
  }
  recent_.push_back(now);
  ++total_;
  return true;
}

std::size_t restart_tracker::restarts_in_window(std::chrono::steady_clock::time_point now) const {
  return static_cast<std::size_t>(std::count_if(recent_.begin(), recent_.end(), [&](auto t) {
    return now - t < policy_.window;
  }));
}

// --- circuit breaker ----------------------------------------------------------------

const char* to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed: return "closed";
    case breaker_state::open: return "open";
    case breaker_state::half_open: return "half_open";
  }
  return "unknown";
}

circuit_breaker::circuit_breaker(breaker_options opts, clock_fn clock)
    : opts_(opts), clock_(clock ? std::move(clock) : steady_clock_fn()) {
  if (opts_.failure_threshold == 0) opts_.failure_threshold = 1;
}

void circuit_breaker::open(std::chrono::steady_clock::time_point now) {
  state_ = breaker_state::open;
  opened_at_ = now;
  probe_out_ = false;
  ++opened_count_;
}

bool circuit_breaker::allow() {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      if (clock_() - opened_at_ < opts_.cooldown) return false;
      state_ = breaker_state::half_open;
      probe_out_ = true;
      return true;
    case breaker_state::half_open:
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return false;
}

void circuit_breaker::record_success() {
  state_ = breaker_state::closed;
  failures_ = 0;
  probe_out_ = false;
}

void circuit_breaker::record_failure() {
  ++failures_;
  if (state_ == breaker_state::half_open) {
    open(clock_());
  } else if (state_ == breaker_state::closed && failures_ >= opts_.failure_threshold) {
    open(clock_());
  }
}

breaker_state circuit_breaker::state() const {
  if (state_ == breaker_state::open && clock_() - opened_at_ >= opts_.cooldown)
    return breaker_state::half_open;
  return state_;
}

// --- dead letters -------------------------------------------------------------------

namespace {

std::string dlq_segment(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (s.empty()) return "%00";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '/' || c == '%' || c < 0x20 || c == 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string error_code_name(const caf::error& e) {
  if (!e) return "";
  if (e.category() == blackboard_category) return bb::to_string(static_cast<bb::errc>(e.code()));
  if (e.category() == actors_category) return to_string(static_cast<errc>(e.code()));
  if (e.category() == caf::atom("system")) return caf::to_string(static_cast<caf::sec>(e.code()));
  if (e.category() == caf::atom("exit"))
    return caf::to_string(static_cast<caf::exit_reason>(e.code()));
  return std::to_string(e.code());
}

std::int64_t unix_ns(caf::timestamp t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string dlq_key(const task& t, std::string_view prefix) {
  std::string key(bb::normalize_prefix(prefix));
  if (!key.empty()) key += '/';
  key += dlq_segment(t.run_id);
  key += '/';
  key += dlq_segment(t.task_id);
  return key;
}

nlohmann::json dlq_record(const task& t, const outcome& o) {
  nlohmann::json task_json = {
      {"run_id", t.run_id},
      {"task_id", t.task_id},
      {"attempt_group", t.attempt_group},
      {"txn_id", t.txn_id()},
      {"input", t.input},
      {"deadline_unix_ns", unix_ns(t.deadline)},
      {"trace_id", t.trace.valid() ? t.trace.trace_id_hex() : std::string()},
      {"span_id", span_id_hex(t.trace.span_id)},
  };
  return nlohmann::json{
      {"task", std::move(task_json)},
      {"status", to_string(o.status)},
      {"error", render(o.error)},
      {"error_category", o.error ? caf::to_string(o.error.category()) : std::string()},
      {"error_code", error_code_name(o.error)},
      {"attempts", o.attempts},
      {"dispatches", o.dispatches},
      {"agent", o.agent},
      {"failed_at_unix_ns",
       std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
           .count()},
  };
}

bb::result<bb::commit_result> write_dlq(bb::blackboard& board, const task& t, const outcome& o,
                                        const std::string& author, std::string_view prefix) {
  auto sp = board.begin(author);
  // The record is built from our own values; strings that are not UTF-8
  // (a task's input can hold anything) would make the put fail, so the
  // record goes through a lossy round trip first rather than be lost.
  nlohmann::json record = dlq_record(t, o);
  auto text = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  record = nlohmann::json::parse(text, nullptr, false);
  if (auto s = sp.put(dlq_key(t, prefix), std::move(record)); !s) return std::move(s).take_error();
  bb::promote_options po;
  po.isolation = bb::isolation::blind;
  return board.promote(std::move(sp), po);
}

// --- the supervisor -----------------------------------------------------------------

const char* to_string(agent_state s) noexcept {
  switch (s) {
    case agent_state::idle: return "idle";
    case agent_state::busy: return "busy";
    case agent_state::restarting: return "restarting";
    case agent_state::failed: return "failed";
  }
  return "unknown";
}

namespace {

using expire_atom = caf::atom_constant<caf::atom("spexpire")>;

using supervisor_impl =
    supervisor_actor::extend<caf::reacts_to<expire_atom, std::uint64_t>>;

constexpr std::size_t no_slot = std::numeric_limits<std::size_t>::max();

/// One supervised agent.
struct slot {
  agent_spec spec;
  agent_actor handle;  // invalid unless idle or busy
  caf::actor_addr addr;
  agent_state state = agent_state::idle;
  restart_tracker restarts;
  circuit_breaker breaker;
  std::uint64_t job = 0;       // the task in flight, 0 = none
  std::uint64_t dispatch = 0;  // its dispatch id
  std::uint64_t tasks_done = 0;
};

/// One task from dispatch to reply.
struct job {
  task t;
  caf::typed_response_promise<outcome> promise;
  std::uint32_t dispatches = 0;
  std::uint32_t attempts = 0;
  std::size_t slot = no_slot;  // where it runs; no_slot while waiting
  std::uint64_t dispatch = 0;  // the current dispatch's id
  std::string last_agent;
};

struct supervisor_state {
  std::shared_ptr<bb::blackboard> board;
  agent_spec spec;
  agent_logic logic;
  supervisor_options opts;
  std::vector<slot> slots;
  std::unordered_map<std::uint64_t, job> jobs;
  std::deque<std::uint64_t> waiting;
  std::uint64_t next_job = 0;
  std::uint64_t next_dispatch = 0;
  std::size_t next_slot = 0;  // round robin start
  std::uint64_t succeeded = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t dlq_failures = 0;
  const char* name = "agora_supervisor";

  ~supervisor_state();
};

using supervisor_pointer = supervisor_impl::stateful_pointer<supervisor_state>;

caf::timestamp wall_now() {
  return std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now());
}

outcome make_failure(outcome_status status, caf::error err) {
  outcome o;
  o.status = status;
  o.error = std::move(err);
  return o;
}

/// Records the failure in the DLQ and answers the requester (if any);
/// returns the final outcome.
outcome give_up(supervisor_state& st, job& j, outcome o) {
  o.txn_id = j.t.txn_id();
  o.attempts = j.attempts;
  o.dispatches = j.dispatches;
  if (o.agent.empty()) o.agent = j.last_agent;
  o.revision = 0;
  o.replayed = false;
  o.changes = 0;
  const std::string key = dlq_key(j.t, st.opts.dlq_prefix);
  if (st.board) {
    auto w = write_dlq(*st.board, j.t, o, st.opts.dlq_author, st.opts.dlq_prefix);
    if (w) {
      o.result = {{"dlq", key}, {"dlq_revision", w->revision}};
    } else {
      ++st.dlq_failures;
      o.result = {{"dlq", key}, {"dlq_error", bb::to_string(w.error())}};
    }
  }
  ++st.dead_letters;
  if (j.promise.pending()) j.promise.deliver(o);
  return o;
}

supervisor_state::~supervisor_state() {
  for (auto& s : slots)
    if (s.handle) caf::anon_send_exit(s.handle, caf::exit_reason::user_shutdown);
  for (auto& [seq, j] : jobs)
    give_up(*this, j,
            make_failure(outcome_status::cancelled,
                         caf::make_error(errc::cancelled, "the supervisor of " + spec.id.str() +
                                                              " stopped before the task finished")));
}

/// May the job be tried again after `o`?
bool retryable(const outcome& o) {
  switch (o.status) {
    case outcome_status::ok:
    case outcome_status::deadline_exceeded:
      return false;
    case outcome_status::conflict:
    case outcome_status::cancelled:
      return true;
    case outcome_status::error:
      break;
  }
  if (o.error == errc::agent_failed || o.error == errc::timeout) return true;
  // A snapshot compacted under a slow logic: a fresh one may do.
  if (o.error == bb::errc::compacted || o.error == bb::errc::conflict) return true;
  // Everything else (forbidden, contract_violation, duplicate_txn, bad
  // input, ...) would fail the same way again.
  return false;
}

void pump(supervisor_pointer self);

/// A dispatch of `j` ended without an outcome worth replying with yet:
/// retry it, or give up with `last`.
void retry_or_give_up(supervisor_pointer self, std::uint64_t seq, outcome last) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end()) return;
  job& j = it->second;
  j.slot = no_slot;
  j.dispatch = 0;
  if (retryable(last) && j.dispatches < st.opts.max_attempts && wall_now() < j.t.deadline) {
    st.waiting.push_front(seq);  // it has waited its turn already
    return;
  }
  give_up(st, j, std::move(last));
  st.jobs.erase(it);
}

/// Frees the slot running `j`'s current dispatch.
void end_dispatch(supervisor_state& st, job& j, agent_state next) {
  if (j.slot == no_slot) return;
  slot& s = st.slots[j.slot];
  if (s.job == 0) return;
  s.job = 0;
  s.dispatch = 0;
  ++s.tasks_done;
  if (s.state == agent_state::busy) s.state = next;
}

void on_reply(supervisor_pointer self, std::uint64_t seq, std::uint64_t dispatch, outcome o) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end() || it->second.dispatch != dispatch) return;  // stale
  job& j = it->second;
  slot& s = st.slots[j.slot];
  j.attempts += o.attempts;
  j.last_agent = s.spec.id.str();
  if (o.status == outcome_status::cancelled) {
    // The agent is going away; its down message will count the crash and
    // restart it. Until then it gets nothing.
    end_dispatch(st, j, agent_state::restarting);
  } else {
    if (o.status == outcome_status::error || o.status == outcome_status::deadline_exceeded)
      s.breaker.record_failure();
    else
      s.breaker.record_success();
    end_dispatch(st, j, agent_state::idle);
  }
  if (o.ok()) {
    o.attempts = j.attempts;
    o.dispatches = j.dispatches;
    ++st.succeeded;
    j.promise.deliver(std::move(o));
    st.jobs.erase(it);
  } else {
    retry_or_give_up(self, seq, std::move(o));
  }
  pump(self);
}

void on_request_error(supervisor_pointer self, std::uint64_t seq, std::uint64_t dispatch,
                      const caf::error& err) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end() || it->second.dispatch != dispatch) return;  // stale
  job& j = it->second;
  slot& s = st.slots[j.slot];
  j.attempts += 1;
  j.last_agent = s.spec.id.str();
  outcome last;
  if (err == caf::sec::request_timeout) {
    // No answer well past the deadline: the agent is hung (a logic that
    // blocks its thread). Kill it; the down message restarts it per policy.
    s.breaker.record_failure();
    if (s.handle) caf::anon_send_exit(s.handle, caf::exit_reason::kill);
    last = make_failure(outcome_status::deadline_exceeded,
                        caf::make_error(errc::timeout, "agent " + s.spec.id.str() +
                                                           " did not answer by the task's deadline"));
    end_dispatch(st, j, agent_state::restarting);
  } else if (err == caf::sec::request_receiver_down) {
    // The agent is gone; its down message counts the crash and restarts it.
    last = make_failure(outcome_status::error,
                        caf::make_error(errc::agent_failed,
                                        "agent " + s.spec.id.str() + " went down with the task"));
    end_dispatch(st, j, agent_state::restarting);
  } else {
    // The agent refused the message (e.g. a factory's actor that speaks
    // another protocol): its fault, but it is still there.
    s.breaker.record_failure();
    last = make_failure(outcome_status::error,
                        caf::make_error(errc::agent_failed, "agent " + s.spec.id.str() +
                                                                " did not take the task: " + render(err)));
    end_dispatch(st, j, agent_state::idle);
  }
  retry_or_give_up(self, seq, std::move(last));
  pump(self);
}

void dispatch_to(supervisor_pointer self, std::uint64_t seq, std::size_t idx) {
  auto& st = self->state;
  job& j = st.jobs.at(seq);
  slot& s = st.slots[idx];
  const auto id = ++st.next_dispatch;
  ++j.dispatches;
  j.slot = idx;
  j.dispatch = id;
  s.state = agent_state::busy;
  s.job = seq;
  s.dispatch = id;
  auto remaining = std::max(j.t.deadline - wall_now(), caf::timespan::zero()) +
                   std::chrono::duration_cast<caf::timespan>(st.opts.reply_grace);
  self->request(s.handle, remaining, run_atom::value, j.t)
      .then([self, seq, id](outcome& o) { on_reply(self, seq, id, std::move(o)); },
            [self, seq, id](caf::error& e) { on_request_error(self, seq, id, e); });
}

/// Picks an idle agent whose breaker lets the task through: closed ones
/// first (round robin), then a half-open probe.
std::size_t pick_slot(supervisor_state& st) {
  const std::size_t n = st.slots.size();
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (st.next_slot + k) % n;
      slot& s = st.slots[i];
      if (s.state != agent_state::idle || !s.handle) continue;
      if (pass == 0 && s.breaker.state() != breaker_state::closed) continue;
      if (!s.breaker.allow()) continue;
      st.next_slot = (i + 1) % n;
      return i;
    }
  }
  return no_slot;
}

/// Hands waiting tasks to free agents, in order; refuses what no agent can
/// take now or later.
void pump(supervisor_pointer self) {
  auto& st = self->state;
  while (!st.waiting.empty()) {
    const std::uint64_t seq = st.waiting.front();
    auto it = st.jobs.find(seq);
    if (it == st.jobs.end()) {
      st.waiting.pop_front();
      continue;
    }
    job& j = it->second;
    if (wall_now() >= j.t.deadline) {
      st.waiting.pop_front();
      give_up(st, j,
              make_failure(outcome_status::deadline_exceeded,
                           caf::make_error(errc::deadline_exceeded,
                                           "task " + j.t.txn_id() +
                                               " passed its deadline waiting for an agent")));
      st.jobs.erase(it);
      continue;
    }
    const std::size_t idx = pick_slot(st);
    if (idx != no_slot) {
      st.waiting.pop_front();
      dispatch_to(self, seq, idx);
      continue;
    }
    // Nobody can take it now. Wait if an agent will come free; refuse if
    // none will: all failed, or all idle behind open breakers.
    bool any_live = false, any_coming = false;
    for (auto& s : st.slots) {
      if (s.state == agent_state::failed) continue;
      any_live = true;
      if (s.state == agent_state::busy || s.state == agent_state::restarting) any_coming = true;
    }
    if (any_coming) return;
    st.waiting.pop_front();
    if (!any_live)
      give_up(st, j,
              make_failure(outcome_status::error,
                           caf::make_error(errc::no_agent, "every agent of " + st.spec.id.str() +
                                                               " has failed for good")));
    else
      give_up(st, j,
              make_failure(outcome_status::error,
                           caf::make_error(errc::circuit_open,
                                           "every agent of " + st.spec.id.str() +
                                               " has its circuit breaker open")));
    st.jobs.erase(it);
  }
}

bb::status start_agent(supervisor_pointer self, slot& s) {
  auto& st = self->state;
  auto made = st.opts.factory
                  ? st.opts.factory(self->system(), s.spec)
                  : spawn_agent(self->system(), st.board, s.spec, st.logic, st.opts.agent);
  if (!made) return std::move(made).take_error();
  if (!*made)
    return bb::error{bb::errc::invalid_argument,
                     "the agent factory returned no actor for " + s.spec.id.str()};
  s.handle = std::move(*made);
  s.addr = s.handle.address();
  s.state = agent_state::idle;
  self->monitor(s.handle);
  return {};
}

void on_down(supervisor_pointer self, const caf::down_msg& d) {
  auto& st = self->state;
  auto found = std::find_if(st.slots.begin(), st.slots.end(),
                            [&](const slot& s) { return s.addr && s.addr == d.source; });
  if (found == st.slots.end()) return;
  slot& s = *found;
  s.handle = nullptr;
  s.addr = caf::actor_addr();
  s.breaker.record_failure();
  const std::string why = "agent " + s.spec.id.str() + " crashed: " + render(d.reason);
  if (s.job != 0) {
    auto it = st.jobs.find(s.job);
    if (it != st.jobs.end() && it->second.dispatch == s.dispatch) {
      job& j = it->second;
      j.attempts += 1;
      j.last_agent = s.spec.id.str();
      s.job = 0;
      s.dispatch = 0;
      retry_or_give_up(self, it->first,
                       make_failure(outcome_status::error, caf::make_error(errc::agent_failed, why)));
    }
    s.job = 0;
    s.dispatch = 0;
  }
  if (s.restarts.allow_restart(st.opts.clock())) {
    if (auto started = start_agent(self, s); !started) s.state = agent_state::failed;
  } else {
    s.state = agent_state::failed;
  }
  pump(self);
}

/// What spawn_supervisor prepares: the state, agents already running.
struct supervisor_setup {
  std::shared_ptr<bb::blackboard> board;
  agent_spec spec;
  agent_logic logic;
  supervisor_options opts;
  std::vector<slot> slots;
};

supervisor_impl::behavior_type supervisor_behavior(supervisor_pointer self,
                                                   std::shared_ptr<supervisor_setup> setup) {
  self->state.board = std::move(setup->board);
  self->state.spec = std::move(setup->spec);
  self->state.logic = std::move(setup->logic);
  self->state.opts = std::move(setup->opts);
  self->state.slots = std::move(setup->slots);
  // An agent that died since it was spawned is reported right away.
  for (auto& s : self->state.slots) self->monitor(s.handle);
  self->set_down_handler([self](caf::down_msg& d) { on_down(self, d); });
  return {
      [self](dispatch_atom, task& t) -> caf::result<outcome> {
        auto& st = self->state;
        if (auto v = validate_task(t); !v) {
          job j;  // no promise: give_up only records it
          j.t = std::move(t);
          return give_up(st, j, make_failure(outcome_status::error, to_caf_error(v.error())));
        }
        // One deadline for every dispatch of the task: retries do not extend it.
        if (t.deadline == caf::timestamp{})
          t.deadline = wall_now() + std::chrono::duration_cast<caf::timespan>(st.opts.agent.default_timeout);
        const auto seq = ++st.next_job;
        job j;
        j.promise = self->make_response_promise<outcome>();
        j.t = std::move(t);
        const auto remaining = j.t.deadline - wall_now();
        if (remaining > caf::timespan::zero())
          detail::send_later_weak(self->address(), remaining,
                                  caf::make_message(expire_atom::value, seq));
        auto promise = j.promise;
        st.jobs.emplace(seq, std::move(j));
        st.waiting.push_back(seq);
        pump(self);
        return promise;
      },
      [self](health_atom) -> supervisor_health {
        auto& st = self->state;
        supervisor_health h;
        for (auto& s : st.slots) {
          agent_health a;
          a.id = s.spec.id.str();
          a.state = s.state;
          a.breaker = s.breaker.state();
          a.restarts = s.restarts.total_restarts();
          a.consecutive_failures = s.breaker.consecutive_failures();
          a.tasks_done = s.tasks_done;
          h.agents.push_back(std::move(a));
        }
        h.waiting = st.waiting.size();
        h.running = st.jobs.size() - st.waiting.size();
        h.succeeded = st.succeeded;
        h.dead_letters = st.dead_letters;
        h.dlq_failures = st.dlq_failures;
        return h;
      },
      [self](expire_atom, std::uint64_t seq) {
        // Only a task still waiting for an agent is settled here; one in
        // flight is settled by the agent's reply or the request timeout.
        auto& st = self->state;
        auto it = st.jobs.find(seq);
        if (it == st.jobs.end() || it->second.slot != no_slot) return;
        auto w = std::find(st.waiting.begin(), st.waiting.end(), seq);
        if (w != st.waiting.end()) st.waiting.erase(w);
        give_up(st, it->second,
                make_failure(outcome_status::deadline_exceeded,
                             caf::make_error(errc::deadline_exceeded,
                                             "task " + it->second.t.txn_id() +
                                                 " passed its deadline waiting for an agent")));
        st.jobs.erase(it);
      },
  };
}

}  // namespace

bb::result<supervisor_actor> spawn_supervisor(caf::actor_system& sys,
                                              std::shared_ptr<bb::blackboard> board,
                                              agent_spec spec, agent_logic logic,
                                              supervisor_options opts) {
  auto bad = [](std::string why) {
    return bb::error{bb::errc::invalid_argument, "spawn_supervisor: " + std::move(why)};
  };
  if (!board) return bad("the blackboard is null");
  if (spec.id.empty()) return bad("the agent id is empty");
  if (logic.empty() && !opts.factory) return bad("agent " + spec.id.str() + " has no logic");
  if (opts.agents == 0) return bad("agents is 0");
  if (opts.max_attempts == 0) return bad("max_attempts is 0");
  if (!opts.clock) opts.clock = steady_clock_fn();
  if (opts.dlq_author.empty()) opts.dlq_author = "supervisor/" + std::string(spec.id.type());
  auto setup = std::make_shared<supervisor_setup>();
  setup->slots.reserve(opts.agents);
  auto stop_all = [&] {
    for (auto& s : setup->slots)
      if (s.handle) caf::anon_send_exit(s.handle, caf::exit_reason::user_shutdown);
  };
  for (std::uint32_t i = 0; i < opts.agents; ++i) {
    auto id = agent_id::make(spec.id.type(), std::string(spec.id.key()) + "-" + std::to_string(i));
    if (!id) {
      stop_all();
      return id.error();
    }
    slot s;
    s.spec = agent_spec{std::move(*id), spec.role, spec.capabilities};
    s.restarts = restart_tracker(opts.restart);
    s.breaker = circuit_breaker(opts.breaker, opts.clock);
    auto made = opts.factory ? opts.factory(sys, s.spec)
                             : spawn_agent(sys, board, s.spec, logic, opts.agent);
    if (!made || !*made) {
      stop_all();
      if (!made) return made.error();
      return bad("the agent factory returned no actor for " + s.spec.id.str());
    }
    s.handle = std::move(*made);
    s.addr = s.handle.address();
    setup->slots.push_back(std::move(s));
  }
  setup->board = std::move(board);
  setup->spec = std::move(spec);
  setup->logic = std::move(logic);
  setup->opts = std::move(opts);
  supervisor_actor handle = sys.spawn(supervisor_behavior, std::move(setup));
  return handle;
}

// --- registration -------------------------------------------------------------------

namespace detail {

void register_agent_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<agent_id>("agora_agent_id");
  cfg.add_message_type<agent_spec>("agora_agent_spec");
  cfg.add_message_type<task>("agora_task");
  cfg.add_message_type<outcome>("agora_outcome");
  cfg.add_message_type<agent_health>("agora_agent_health");
  cfg.add_message_type<supervisor_health>("agora_supervisor_health");
}

}  // namespace detail

}  // namespace agora::actors
