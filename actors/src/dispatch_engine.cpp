#include "dispatch_engine.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>

namespace agora::actors::detail {

namespace {

caf::timestamp wall_now() {
  return std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now());
}

outcome make_failure(outcome_status status, caf::error err) {
  outcome o;
  o.status = status;
  o.error = std::move(err);
  return o;
}

std::string q(const std::string& s) { return log_value(s); }

/// May the task be tried again after `o`?
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
  // A service the logic needs (a model server) said: try again (later).
  if (o.error == bb::errc::unavailable) return from_caf_error(o.error).retryable;
  // Everything else (forbidden, contract_violation, bad input, ...) would
  // fail the same way again.
  return false;
}

/// How long the failure asked to wait before the next try (a model server's
/// retry-after), if it said.
std::optional<caf::timespan> retry_delay(const outcome& o) {
  if (!is_blackboard_error(o.error)) return std::nullopt;
  auto e = from_caf_error(o.error);
  if (!e.retry_after || e.retry_after->count() <= 0) return std::nullopt;
  return std::chrono::duration_cast<caf::timespan>(*e.retry_after);
}

/// A failure that is the agent's: counts against its breaker. Conflicts
/// are contention, cancellations are neither.
bool agent_failure(const outcome& o) {
  return o.status == outcome_status::error || o.status == outcome_status::deadline_exceeded;
}

void end_span(span& s, const outcome& o) { end_outcome_span(s, o); }

}  // namespace

void end_outcome_span(span& s, const outcome& o) {
  if (!s.active()) return;
  s.set("agora.status", std::string(to_string(o.status)));
  if (o.ok()) {
    s.set("agora.revision", static_cast<std::int64_t>(o.revision));
    if (o.replayed) s.set("agora.replayed", std::int64_t{1});
  } else {
    s.fail(render(o.error));
  }
  s.end();
}

void dispatch_engine::configure(engine_options opts, caf::actor_addr self, send_fn send,
                                dead_letter_fn dead_letter, start_fn start) {
  opts_ = std::move(opts);
  if (!opts_.clock) opts_.clock = steady_clock_fn();
  if (opts_.trace && !opts_.trace->enabled()) opts_.trace = nullptr;
  self_ = std::move(self);
  send_ = std::move(send);
  dead_letter_ = std::move(dead_letter);
  start_ = std::move(start);
}

span dispatch_engine::start_span(const std::string& name, const trace_context& parent,
                                 std::string agent) const {
  if (!opts_.trace) return {};
  return opts_.trace->start(opts_.owner + "." + name, parent, std::move(agent));
}

void dispatch_engine::log(lv::level_enum l, const std::string& line) const {
  opts_.log(l, line);
}

// --- agents -----------------------------------------------------------------------

engine_slot* dispatch_engine::find_slot(const std::string& id) {
  for (auto& s : slots_)
    if (s.id == id) return &s;
  return nullptr;
}

bool dispatch_engine::add_agent(agent_spec spec, agent_actor handle, std::string peer) {
  if (!handle) return false;
  const std::string id = spec.id.str();
  if (auto* known = find_slot(id)) {
    if (known->addr == handle.address()) return false;
    // The id now names another actor: the old one is gone, with its task.
    agent_down(known->addr,
               caf::make_error(errc::agent_failed, "agent " + id + " was registered again"));
  }
  engine_slot s;
  s.spec = std::move(spec);
  s.id = id;
  s.peer = std::move(peer);
  s.addr = handle.address();
  s.handle = std::move(handle);
  s.restarts = restart_tracker(opts_.restart);
  s.breaker = circuit_breaker(opts_.breaker, opts_.clock);
  auto at = slots_.end();
  if (opts_.source == agent_source::registry)
    at = std::find_if(slots_.begin(), slots_.end(), [&](const engine_slot& x) { return x.id > id; });
  const auto index = static_cast<std::size_t>(at - slots_.begin());
  if (index < next_slot_) ++next_slot_;  // the round robin keeps its place
  slots_.insert(at, std::move(s));
  pump();
  return true;
}

void dispatch_engine::agent_down(const caf::actor_addr& addr, const caf::error& reason) {
  if (!addr) return;
  auto found = std::find_if(slots_.begin(), slots_.end(),
                            [&](const engine_slot& s) { return s.addr == addr; });
  if (found == slots_.end()) return;
  engine_slot& s = *found;
  s.handle = nullptr;
  s.addr = caf::actor_addr();
  s.state = agent_state::restarting;
  record_failure(s);
  if (s.job != 0) {
    auto it = jobs_.find(s.job);
    if (it != jobs_.end() && it->second.dispatch == s.dispatch) {
      engine_job& j = it->second;
      log(lv::warn, "agent lost with a task type=" + q(opts_.type) + " agent=" + q(s.id) +
                               " peer=" + q(s.peer.empty() ? "local" : s.peer) +
                               " txn=" + q(j.t.txn_id()) + " reason=" + q(render(reason)));
      j.attempts += 1;
      j.last_agent = s.id;
      const std::string why =
          "agent " + s.id +
          (opts_.source == agent_source::pool ? " crashed: " : " was lost: ") + render(reason);
      outcome lost = make_failure(outcome_status::error, caf::make_error(errc::agent_failed, why));
      end_span(j.dispatch_span, lost);
      retry_or_give_up(it->first, std::move(lost));
    }
    s.job = 0;
    s.dispatch = 0;
  }
  if (opts_.source == agent_source::registry) {
    const auto index = static_cast<std::size_t>(found - slots_.begin());
    if (index < next_slot_) --next_slot_;
    slots_.erase(found);
  } else if (s.restarts.allow_restart(opts_.clock()) && start_) {
    auto made = start_(s.spec);
    if (made && *made) {
      s.handle = std::move(*made);
      s.addr = s.handle.address();
      s.state = agent_state::idle;
    } else {
      s.state = agent_state::failed;
    }
  } else {
    s.state = agent_state::failed;
  }
  pump();
}

// --- work -------------------------------------------------------------------------

caf::typed_response_promise<outcome> dispatch_engine::accept(
    task t, caf::typed_response_promise<outcome> rp) {
  engine_job j;
  j.promise = rp;
  // The task span is the parent of everything the engine does for the task;
  // agents get children of it, so one trace holds every dispatch.
  j.task_span = start_span("task", t.trace, {});
  if (j.task_span.active()) {
    j.task_span.set("agora.run", t.run_id);
    j.task_span.set("agora.task", t.task_id);
    j.task_span.set("agora.attempt_group", static_cast<std::int64_t>(t.attempt_group));
    t.trace = j.task_span.context();
  }
  if (auto v = validate_task(t); !v) {
    j.t = std::move(t);
    give_up(std::move(j), make_failure(outcome_status::error, to_caf_error(v.error())));
    return rp;
  }
  // One deadline for every dispatch of the task: retries do not extend it.
  if (t.deadline == caf::timestamp{})
    t.deadline = wall_now() + std::chrono::duration_cast<caf::timespan>(opts_.default_timeout);
  j.t = std::move(t);
  const auto seq = ++next_job_;
  const auto remaining = j.t.deadline - wall_now();
  if (remaining > caf::timespan::zero())
    send_later_weak(self_, remaining, caf::make_message(engine_expire_atom::value, seq));
  jobs_.emplace(seq, std::move(j));
  waiting_.push_back(seq);
  pump();
  return rp;
}

void dispatch_engine::on_reply(std::uint64_t seq, std::uint64_t dispatch, outcome o) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end() || it->second.dispatch != dispatch) return;  // stale
  engine_job& j = it->second;
  j.attempts += o.attempts;
  j.last_agent = j.slot;
  if (o.error == bb::errc::duplicate_txn) {
    // The task's txn_id was committed before, by an earlier dispatch on
    // another agent (another author, so the blackboard sees other
    // content): that commit stands and the task is done.
    o.status = outcome_status::ok;
    o.replayed = true;
    o.error = caf::error{};
  }
  if (o.status == outcome_status::cancelled) {
    // The agent is going away; its down message counts the crash (and
    // restarts or drops it). Until then it gets nothing.
    end_dispatch(j, agent_state::restarting, &o);
  } else {
    if (auto* s = find_slot(j.slot)) {
      if (agent_failure(o))
        record_failure(*s);
      else
        record_success(*s);
    }
    end_dispatch(j, agent_state::idle, &o);
  }
  if (o.ok()) {
    o.attempts = j.attempts;
    o.dispatches = j.dispatches;
    ++succeeded_;
    if (j.task_span.active()) j.task_span.set("agora.dispatches", std::int64_t{j.dispatches});
    end_span(j.task_span, o);
    j.promise.deliver(std::move(o));
    jobs_.erase(it);
  } else {
    retry_or_give_up(seq, std::move(o));
  }
  pump();
}

void dispatch_engine::on_request_error(std::uint64_t seq, std::uint64_t dispatch,
                                       const caf::error& err) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end() || it->second.dispatch != dispatch) return;  // stale
  engine_job& j = it->second;
  j.attempts += 1;
  j.last_agent = j.slot;
  engine_slot* s = find_slot(j.slot);
  outcome last;
  if (err == caf::sec::request_timeout) {
    // No answer well past the deadline: the agent is hung (a logic that
    // blocks its thread). A pool agent is killed; its down message
    // restarts it per policy.
    if (s) record_failure(*s);
    last = make_failure(outcome_status::deadline_exceeded,
                        caf::make_error(errc::timeout, "agent " + j.slot +
                                                           " did not answer by the task's deadline"));
    if (s && s->handle && opts_.source == agent_source::pool) {
      caf::anon_send_exit(s->handle, caf::exit_reason::kill);
      end_dispatch(j, agent_state::restarting, &last);
    } else {
      end_dispatch(j, agent_state::idle, &last);
    }
  } else if (err == caf::sec::request_receiver_down) {
    // The agent is gone; its down message counts the crash.
    last = make_failure(outcome_status::error,
                        caf::make_error(errc::agent_failed,
                                        "agent " + j.slot + " went down with the task"));
    end_dispatch(j, agent_state::restarting, &last);
  } else {
    // The agent refused the message (e.g. an actor that speaks another
    // protocol): its fault, but it is still there.
    if (s) record_failure(*s);
    last = make_failure(outcome_status::error,
                        caf::make_error(errc::agent_failed, "agent " + j.slot +
                                                                " did not take the task: " +
                                                                render(err)));
    end_dispatch(j, agent_state::idle, &last);
  }
  retry_or_give_up(seq, std::move(last));
  pump();
}

void dispatch_engine::retry_due(std::uint64_t seq) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end() || !it->second.slot.empty() || stopped_) return;
  if (std::find(waiting_.begin(), waiting_.end(), seq) != waiting_.end()) return;
  waiting_.push_front(seq);
  pump();
}

void dispatch_engine::expire(std::uint64_t seq) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end() || !it->second.slot.empty()) return;
  drop_waiting(seq);
  engine_job j = std::move(it->second);
  jobs_.erase(it);
  auto o = waiting_expired(j);
  give_up(std::move(j), std::move(o));
}

supervisor_health dispatch_engine::health() const {
  supervisor_health h;
  for (const auto& s : slots_) {
    agent_health a;
    a.id = s.id;
    a.state = s.state;
    a.breaker = s.breaker.state();
    a.restarts = s.restarts.total_restarts();
    a.consecutive_failures = s.breaker.consecutive_failures();
    a.tasks_done = s.tasks_done;
    h.agents.push_back(std::move(a));
  }
  h.waiting = waiting_.size();
  h.running = jobs_.size() - waiting_.size();
  h.succeeded = succeeded_;
  h.dead_letters = dead_letters_;
  h.dlq_failures = dlq_failures_;
  return h;
}

void dispatch_engine::stop() {
  if (stopped_) return;
  stopped_ = true;
  const bool pool = opts_.source == agent_source::pool;
  if (pool)
    for (auto& s : slots_)
      if (s.handle) caf::anon_send_exit(s.handle, caf::exit_reason::user_shutdown);
  auto jobs = std::move(jobs_);
  jobs_.clear();
  waiting_.clear();
  for (auto& [seq, j] : jobs) {
    outcome o = make_failure(
        outcome_status::cancelled,
        caf::make_error(errc::cancelled, "the " + opts_.owner + " of " + opts_.agents +
                                             " stopped before the task finished"));
    if (pool) {
      give_up(std::move(j), std::move(o));  // the pool's DLQ write is synchronous
      continue;
    }
    o.txn_id = j.t.txn_id();
    o.attempts = j.attempts;
    o.dispatches = j.dispatches;
    o.agent = j.last_agent;
    end_span(j.dispatch_span, o);
    end_span(j.task_span, o);
    if (j.promise.pending()) j.promise.deliver(std::move(o));
  }
}

// --- internals ----------------------------------------------------------------------

void dispatch_engine::drop_waiting(std::uint64_t seq) {
  auto w = std::find(waiting_.begin(), waiting_.end(), seq);
  if (w != waiting_.end()) waiting_.erase(w);
}

bool dispatch_engine::any_live() const {
  return std::any_of(slots_.begin(), slots_.end(),
                     [](const engine_slot& s) { return s.state != agent_state::failed; });
}

outcome dispatch_engine::waiting_expired(const engine_job& j) const {
  if (!any_live())
    return make_failure(outcome_status::error,
                        caf::make_error(errc::no_agent, "no agent of " + opts_.agents +
                                                            " was available before the task's "
                                                            "deadline"));
  return make_failure(outcome_status::deadline_exceeded,
                      caf::make_error(errc::deadline_exceeded,
                                      "task " + j.t.txn_id() +
                                          " passed its deadline waiting for an agent"));
}

engine_slot* dispatch_engine::pick() {
  const std::size_t n = slots_.size();
  // Closed breakers first (round robin), then a half-open probe.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (next_slot_ + k) % n;
      engine_slot& s = slots_[i];
      if (s.state != agent_state::idle || !s.handle) continue;
      if (pass == 0 && s.breaker.state() != breaker_state::closed) continue;
      if (!s.breaker.allow()) continue;
      next_slot_ = (i + 1) % n;
      return &s;
    }
  }
  return nullptr;
}

void dispatch_engine::pump() {
  while (!waiting_.empty()) {
    const std::uint64_t seq = waiting_.front();
    auto it = jobs_.find(seq);
    if (it == jobs_.end() || !it->second.slot.empty()) {
      waiting_.pop_front();
      continue;
    }
    if (wall_now() >= it->second.t.deadline) {
      waiting_.pop_front();
      engine_job j = std::move(it->second);
      jobs_.erase(it);
      auto o = waiting_expired(j);
      give_up(std::move(j), std::move(o));
      continue;
    }
    if (engine_slot* s = pick()) {
      waiting_.pop_front();
      dispatch_to(seq, *s);
      continue;
    }
    // Nobody can take it now. Wait if an agent will come free (busy, being
    // restarted, or — with a registry — none yet: one may register); the
    // deadline timer ends the wait. Refuse when none will: all failed, or
    // all idle behind open breakers.
    bool coming = opts_.source == agent_source::registry && slots_.empty();
    for (const auto& s : slots_)
      if (s.state == agent_state::busy || s.state == agent_state::restarting) coming = true;
    if (coming) return;
    waiting_.pop_front();
    engine_job j = std::move(it->second);
    jobs_.erase(it);
    if (!any_live())
      give_up(std::move(j),
              make_failure(outcome_status::error,
                           caf::make_error(errc::no_agent, "every agent of " + opts_.agents +
                                                               " has failed for good")));
    else
      give_up(std::move(j),
              make_failure(outcome_status::error,
                           caf::make_error(errc::circuit_open, "every agent of " + opts_.agents +
                                                                   " has its circuit breaker open")));
  }
}

void dispatch_engine::dispatch_to(std::uint64_t seq, engine_slot& s) {
  engine_job& j = jobs_.at(seq);
  const auto id = ++next_dispatch_;
  ++j.dispatches;
  j.slot = s.id;
  j.dispatch = id;
  s.state = agent_state::busy;
  s.job = seq;
  s.dispatch = id;
  const auto timeout = std::max(j.t.deadline - wall_now(), caf::timespan::zero()) +
                       std::chrono::duration_cast<caf::timespan>(opts_.reply_grace);
  log(lv::debug, "dispatch type=" + q(opts_.type) + " txn=" + q(j.t.txn_id()) +
                            " agent=" + q(s.id) + " dispatch=" + std::to_string(j.dispatches));
  const bool again = j.dispatches > 1;
  j.dispatch_span = start_span(again ? "redispatch" : "dispatch", j.t.trace, s.id);
  if (!j.dispatch_span.active()) {
    send_(s.handle, timeout, j.t, seq, id);
    return;
  }
  j.dispatch_span.set("agora.dispatch", std::int64_t{j.dispatches});
  if (again) {
    j.dispatch_span.set("agora.previous_agent", j.last_agent);
    j.dispatch_span.set("agora.previous_error", j.last_error);
  }
  // The agent's own span becomes a child of this dispatch.
  task sent = j.t;
  sent.trace = j.dispatch_span.context();
  send_(s.handle, timeout, sent, seq, id);
}

void dispatch_engine::end_dispatch(engine_job& j, agent_state next, const outcome* o) {
  if (o) end_span(j.dispatch_span, *o);
  engine_slot* s = find_slot(j.slot);
  if (!s || s->job == 0 || s->dispatch != j.dispatch) return;
  s->job = 0;
  s->dispatch = 0;
  ++s->tasks_done;
  if (s->state == agent_state::busy) s->state = next;
}

void dispatch_engine::record_failure(engine_slot& s) {
  const breaker_state before = s.breaker.state();
  s.breaker.record_failure();
  if (s.breaker.state() == breaker_state::open && before != breaker_state::open)
    log(lv::warn, "breaker opened type=" + q(opts_.type) + " agent=" + q(s.id) +
                      " failures=" + std::to_string(s.breaker.consecutive_failures()) +
                      " cooldown_ms=" + std::to_string(opts_.breaker.cooldown.count()));
}

void dispatch_engine::record_success(engine_slot& s) {
  const breaker_state before = s.breaker.state();
  s.breaker.record_success();
  if (before != breaker_state::closed && s.breaker.state() == breaker_state::closed)
    log(lv::info, "breaker closed type=" + q(opts_.type) + " agent=" + q(s.id));
}

void dispatch_engine::retry_or_give_up(std::uint64_t seq, outcome last) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end()) return;
  engine_job& j = it->second;
  j.slot.clear();
  j.dispatch = 0;
  j.last_error = render(last.error);
  const auto now = wall_now();
  const auto delay = retry_delay(last);
  if (retryable(last) && j.dispatches < opts_.max_attempts && now < j.t.deadline) {
    if (delay && now + *delay >= j.t.deadline) {
      // The retry hint asks for a wait past the task's deadline.
      last.error = caf::make_error(
          errc::deadline_exceeded,
          "the task's last failure asks for a retry in " +
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(*delay).count()) +
              " ms, after its deadline: " + j.last_error);
      last.status = outcome_status::deadline_exceeded;
    } else {
      log(lv::info, "task retried type=" + q(opts_.type) + " txn=" + q(j.t.txn_id()) +
                        " agent=" + q(j.last_agent) + " dispatches=" + std::to_string(j.dispatches) +
                        " max_attempts=" + std::to_string(opts_.max_attempts) +
                        " delay_ms=" +
                        std::to_string(delay ? std::chrono::duration_cast<std::chrono::milliseconds>(*delay).count()
                                             : 0) +
                        " reason=" + q(j.last_error));
      if (delay) {
        // Waits out the hint off the queue; retry_due puts it back.
        send_later_weak(self_, *delay, caf::make_message(engine_retry_atom::value, seq));
      } else {
        waiting_.push_front(seq);  // it has waited its turn already
      }
      return;
    }
  }
  engine_job taken = std::move(j);
  jobs_.erase(it);
  give_up(std::move(taken), std::move(last));
}

void dispatch_engine::give_up(engine_job j, outcome o) {
  o.txn_id = j.t.txn_id();
  o.attempts = j.attempts;
  o.dispatches = j.dispatches;
  if (o.agent.empty()) o.agent = j.last_agent;
  o.revision = 0;
  o.replayed = false;
  o.changes = 0;
  ++dead_letters_;
  const std::string key = dlq_key(j.t, opts_.dlq_prefix);
  log(lv::warn, "task dead-lettered type=" + q(opts_.type) + " txn=" + q(o.txn_id) +
                           " key=" + q(key) + " dispatches=" + std::to_string(o.dispatches) +
                           " error=" + q(render(o.error)));
  // Spans end when the write is known; the callback may run in a later
  // handler, so they travel with it.
  auto dl = std::make_shared<span>(start_span("dead_letter", j.t.trace, opts_.dlq_author));
  auto task_span = std::make_shared<span>(std::move(j.task_span));
  if (dl->active()) {
    dl->set("agora.dlq", key);
    dl->set("agora.dispatches", std::int64_t{o.dispatches});
    dl->set("agora.error", render(o.error));
  }
  end_span(j.dispatch_span, o);
  auto promise = j.promise;
  auto done = [this, promise, o, key, dl, task_span](std::uint64_t revision,
                                                     const std::string& error) mutable {
    if (error.empty()) {
      o.result = {{"dlq", key}, {"dlq_revision", revision}};
      if (dl->active()) dl->set("agora.dlq_revision", static_cast<std::int64_t>(revision));
    } else {
      ++dlq_failures_;
      log(lv::err, "dead letter not written key=" + q(key) + " error=" + q(error));
      o.result = {{"dlq", key}, {"dlq_error", error}};
      if (dl->active()) dl->fail(error);
    }
    dl->end();
    end_span(*task_span, o);
    if (promise.pending()) promise.deliver(std::move(o));
  };
  const trace_context ctx = dl->active() ? dl->context() : j.t.trace;
  dead_letter_(dlq_promotion(j.t, o, opts_.dlq_author, opts_.dlq_prefix), ctx, std::move(done));
}

}  // namespace agora::actors::detail
