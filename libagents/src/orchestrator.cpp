#include "orchestrator.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/tracing.hpp"

namespace agora::detail {

namespace {

using steady = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// --- round summaries on the blackboard -------------------------------------------

json summary_to_json(const round_summary& s) {
  json j = {{"number", s.number},
            {"expected", s.expected},
            {"answers", s.answers},
            {"late", s.late},
            {"failed", s.failed},
            {"new_contributions", s.new_contributions}};
  j["aggregate"] = s.aggregate ? json(*s.aggregate) : json();
  j["quality"] = s.quality ? json(*s.quality) : json();
  return j;
}

// Throws json::exception on a malformed record; callers catch.
round_summary summary_from_json(const json& j) {
  round_summary s;
  s.number = j.at("number").get<std::uint32_t>();
  s.expected = j.at("expected").get<std::size_t>();
  s.answers = j.at("answers").get<std::map<std::string, std::string>>();
  s.late = j.at("late").get<std::size_t>();
  s.failed = j.at("failed").get<std::size_t>();
  s.new_contributions = j.at("new_contributions").get<std::size_t>();
  if (!j.at("aggregate").is_null()) s.aggregate = j.at("aggregate").get<std::string>();
  if (!j.at("quality").is_null()) s.quality = j.at("quality").get<double>();
  return s;
}

// --- the actor --------------------------------------------------------------------

struct run_ctx {
  std::string id;
  actors::task request;  // the task that asked for the run
  bool nested = false;   // asked as a member of another pattern (its input has a key)
  std::vector<caf::typed_response_promise<actors::outcome>> promises;
  std::unique_ptr<pattern_run> run;
  run_state state;
  steady::time_point started;
  ms elapsed_before{0};  // time spent before a restart
  std::uint32_t round = 0;
  std::uint32_t step = 0;
  std::vector<std::pair<member, json>> asked;  // the step in flight
  std::string first_failure;  // the first member failure of the run, for a run nobody answered
  // With a tracer: the run's span and the open round's. Shared pointers
  // because a span is a move-only value the actor keeps across handlers.
  std::shared_ptr<actors::span> run_span;
  std::shared_ptr<actors::span> round_span;
};

// A step whose fan-out has not closed yet.
struct pending_step {
  std::string run;
  std::uint32_t round = 0;
  std::uint32_t step = 0;
  std::vector<actors::outcome> got;    // reused contributions filled in
  std::vector<std::size_t> send_index;  // got[send_index[k]] is the fan-out's k-th item
  caf::actor_addr fan;
};

struct orchestrator_state {
  std::shared_ptr<const pattern_def> def;
  std::shared_ptr<bb::blackboard> board;
  std::map<std::string, std::unique_ptr<run_ctx>> runs;
  std::map<std::uint64_t, pending_step> steps;  // by fan-out tag
  std::uint64_t next_tag = 0;
};

using orchestrator_impl = actors::agent_actor::extend<
    caf::reacts_to<fan_out_done_atom, std::uint64_t, std::vector<actors::outcome>>>;
using orchestrator_pointer = orchestrator_impl::stateful_pointer<orchestrator_state>;

void next_round(orchestrator_pointer self, run_ctx& ctx);
void next_step(orchestrator_pointer self, run_ctx& ctx);
void step_closed(orchestrator_pointer self, std::uint64_t tag, std::vector<actors::outcome>* fresh,
                 const caf::error* died);
void finish(orchestrator_pointer self, run_ctx& ctx, run_result r);

std::string author_of(const pattern_def& def) { return def.spec.id.str(); }

ms elapsed(const run_ctx& ctx) {
  return ctx.elapsed_before + std::chrono::duration_cast<ms>(steady::now() - ctx.started);
}

run_result failed_result(const run_ctx& ctx, std::string why) {
  run_result r;
  r.run_id = ctx.id;
  r.status = run_status::failed;
  r.reason = std::move(why);
  r.rounds = ctx.state.rounds_done();
  r.tokens = ctx.state.tokens;
  r.cost_usd = ctx.state.cost_usd;
  return r;
}

actors::outcome outcome_of(const pattern_def& def, const run_result& r, const std::string& txn,
                           bool replayed) {
  actors::outcome o;
  o.status = (r.status == run_status::settled || r.status == run_status::fallback)
                 ? actors::outcome_status::ok
                 : actors::outcome_status::error;
  o.revision = r.revision;
  o.txn_id = txn;
  o.replayed = replayed;
  o.attempts = 1;
  o.dispatches = 1;
  o.agent = def.spec.id.str();
  o.result = r.to_json();
  if (!o.ok())
    o.error = caf::make_error(actors::errc::agent_failed,
                              def.name + " run " + r.run_id + " " + to_string(r.status) + ": " + r.reason);
  return o;
}

void reply_all(orchestrator_pointer self, const std::string& run_id, const actors::outcome& o) {
  auto it = self->state.runs.find(run_id);
  if (it == self->state.runs.end()) return;
  for (auto& p : it->second->promises) p.deliver(o);
  self->state.runs.erase(it);
}

// The run's result, and for a nested run its contribution, in one promotion.
void finish(orchestrator_pointer self, run_ctx& ctx, run_result r) {
  const auto& def = *self->state.def;
  auto& board = *self->state.board;
  r.run_id = ctx.id;
  r.rounds = ctx.state.rounds_done();
  r.tokens = ctx.state.tokens;
  r.cost_usd = ctx.state.cost_usd;
  auto sp = board.begin(author_of(def));
  bb::status staged = sp.put(run_keys::result(ctx.id), r.to_json());
  if (staged && r.status == run_status::escalated)
    staged = sp.put(run_keys::escalation(ctx.id),
                    {{"run", ctx.id},
                     {"pattern", def.name},
                     {"reason", r.reason},
                     {"rounds", r.rounds},
                     {"last_aggregate", ctx.state.last() && ctx.state.last()->aggregate
                                            ? json(*ctx.state.last()->aggregate)
                                            : json()}});
  if (staged && ctx.nested) staged = sp.put(ctx.request.input.at("key").get<std::string>(), r.answer);
  const std::string txn = ctx.nested ? ctx.request.txn_id() : ctx.id + "/result";
  if (!staged) {
    r = failed_result(ctx, "cannot record the result: " + bb::to_string(staged.error()));
  } else if (auto c = board.promote(sp, {txn, bb::isolation::blind}); !c) {
    r = failed_result(ctx, "cannot record the result: " + bb::to_string(c.error()));
  } else {
    r.revision = c->revision;
  }
  ctx.round_span.reset();
  if (ctx.run_span) {
    ctx.run_span->set("agora.status", std::string(to_string(r.status)));
    ctx.run_span->set("agora.rounds", static_cast<std::int64_t>(r.rounds));
    ctx.run_span->set("agora.tokens", static_cast<std::int64_t>(r.tokens));
    ctx.run_span->set("agora.reason", r.reason);
    if (r.status == run_status::failed) ctx.run_span->fail(r.reason);
    ctx.run_span.reset();  // written now
  }
  reply_all(self, ctx.id, outcome_of(def, r, txn, false));
}

// The stop policy has spoken: settle the answer or let the fallback pick it.
void conclude(orchestrator_pointer self, run_ctx& ctx, const decision& d) {
  const auto& def = *self->state.def;
  run_result r;
  r.stopped_by = d.kinds;
  const auto stopped = [&](stop_kind k) { return std::find(d.kinds.begin(), d.kinds.end(), k) != d.kinds.end(); };
  const round_summary* last = ctx.state.last();
  // A swarm that went quiet, or ran its only round to the end, has its answer:
  // the artifact of its last round.
  const bool artifact_done = ctx.run->aggregate_settles() && last && last->aggregate &&
                             (stopped(stop_kind::quiescence) ||
                              (stopped(stop_kind::max_rounds) && ctx.state.rounds_done() == 1));
  if (d.answer) {
    r.status = run_status::settled;
    r.answer = ctx.run->answer_for(*d.answer);
    r.reason = d.reason;
  } else if (artifact_done) {
    r.status = run_status::settled;
    r.answer = ctx.run->answer_for(*last->aggregate);
    r.reason = d.reason + "; the artifact of round " + std::to_string(last->number) + " is the answer";
  } else if (auto pick = pick_fallback(def.run.fallback, ctx.state)) {
    r.status = run_status::fallback;
    r.answer = ctx.run->answer_for(*pick);
    // The answer itself is in the result; the reason only names it.
    const std::string shown = pick->size() <= 60 ? *pick : pick->substr(0, 60) + "...";
    r.reason = d.reason + "; no settled answer, fallback " + to_string(def.run.fallback) +
               " chose '" + shown + "'";
  } else {
    r.status = run_status::escalated;
    r.reason = d.reason + (def.run.fallback == fallback::escalate
                               ? "; escalated to _escalations/" + ctx.id
                               : "; no round produced an answer, escalated to _escalations/" + ctx.id);
  }
  finish(self, ctx, std::move(r));
}

void close_round(orchestrator_pointer self, run_ctx& ctx) {
  const auto& def = *self->state.def;
  round_close rc;
  try {
    rc = ctx.run->close(ctx.round);
  } catch (const std::exception& e) {
    return finish(self, ctx, failed_result(ctx, std::string("pattern failed closing round ") + std::to_string(ctx.round) + ": " + e.what()));
  }
  rc.summary.number = ctx.round;
  ctx.state.rounds.push_back(rc.summary);
  ctx.state.elapsed = elapsed(ctx);
  json record = rc.record.is_object() ? std::move(rc.record) : json::object();
  record["round"] = ctx.round;
  record["summary"] = summary_to_json(rc.summary);
  record["totals"] = {{"tokens", ctx.state.tokens},
                      {"cost_usd", ctx.state.cost_usd},
                      {"elapsed_ms", ctx.state.elapsed.count()}};
  auto sp = self->state.board->begin(author_of(def));
  bb::status staged = sp.put(run_keys::round(ctx.id, ctx.round), std::move(record));
  for (auto& [key, value] : rc.writes)
    if (staged) staged = sp.put(key, std::move(value));
  if (!staged) return finish(self, ctx, failed_result(ctx, "cannot record round " + std::to_string(ctx.round) + ": " + bb::to_string(staged.error())));
  auto c = self->state.board->promote(
      sp, {ctx.id + "/round-" + std::to_string(ctx.round), bb::isolation::blind});
  if (!c)
    return finish(self, ctx,
                  failed_result(ctx, "cannot record round " + std::to_string(ctx.round) + ": " +
                                         bb::to_string(c.error())));
  if (ctx.round_span) {
    ctx.round_span->set("agora.answers", static_cast<std::int64_t>(rc.summary.answers.size()));
    ctx.round_span->set("agora.late", static_cast<std::int64_t>(rc.summary.late));
    ctx.round_span->set("agora.failed", static_cast<std::int64_t>(rc.summary.failed));
    if (rc.summary.aggregate) ctx.round_span->set("agora.aggregate", *rc.summary.aggregate);
    ctx.round_span.reset();
  }
  decision d = def.run.stop.evaluate(ctx.state);
  if (d.stop) return conclude(self, ctx, d);
  // The policy goes on, but every member failed and none has ever answered:
  // more rounds would fail the same way, so the run fails now instead of
  // running to its limit.
  const bool all_failed = rc.summary.expected > 0 && rc.summary.failed == rc.summary.expected;
  const bool never_answered = std::all_of(ctx.state.rounds.begin(), ctx.state.rounds.end(),
                                          [](const round_summary& r) { return r.answers.empty(); });
  if (all_failed && never_answered)
    return finish(self, ctx,
                  failed_result(ctx, "no member answered: all " + std::to_string(rc.summary.expected) +
                                         " failed in round " + std::to_string(ctx.round) +
                                         (ctx.first_failure.empty() ? std::string() : " (first: " + ctx.first_failure + ")")));
  next_round(self, ctx);
}

void step_gathered(orchestrator_pointer self, const std::string& run_id, std::uint32_t round,
                   std::uint32_t step, std::vector<actors::outcome> got) {
  auto it = self->state.runs.find(run_id);
  if (it == self->state.runs.end()) return;
  run_ctx& ctx = *it->second;
  if (ctx.round != round || ctx.step != step) return;
  auto snap = self->state.board->snapshot();
  for (std::size_t i = 0; i < got.size(); ++i) {
    auto& o = got[i];
    if (!o.ok() && ctx.first_failure.empty())
      ctx.first_failure = (o.agent.empty() ? std::string("a member") : o.agent) + ": " + actors::render(o.error);
    if (!on_time(o)) continue;
    if (!o.replayed) {
      auto [tokens, cost] = usage_of(o);
      ctx.state.tokens += tokens;
      ctx.state.cost_usd += cost;
      continue;
    }
    // A replay (a contribution committed before this orchestrator asked —
    // before a crash, say) counts what its commit recorded at the task's
    // usage_key: the round was still open, so no round record counted it.
    if (i < ctx.asked.size()) {
      const json& in = ctx.asked[i].second;
      auto uk = in.find("usage_key");
      if (uk != in.end() && uk->is_string())
        if (auto spent = snap.get(uk->get<std::string>()); spent && spent->exists()) {
          actors::outcome recorded;
          recorded.result = {{"usage", spent->value()}};
          auto [tokens, cost] = usage_of(recorded);
          ctx.state.tokens += tokens;
          ctx.state.cost_usd += cost;
        }
    }
    // A member that ran the task again after it had committed (asked again
    // after a restart) replays the first commit, but its result is this
    // run's: the contribution that counts is the one stored at the key.
    if (!o.ok() || i >= ctx.asked.size()) continue;
    const json& in = ctx.asked[i].second;
    auto key = in.find("key");
    if (key == in.end() || !key->is_string()) continue;
    auto stored = snap.get(key->get<std::string>());
    if (!stored || !stored->exists()) continue;
    if (!o.result.is_object()) o.result = json::object();
    o.result["answer"] = stored->value();
  }
  try {
    ctx.run->gathered(round, step, ctx.asked, got);
  } catch (const std::exception& e) {
    return finish(self, ctx, failed_result(ctx, std::string("pattern failed on round ") + std::to_string(round) + ": " + e.what()));
  }
  ++ctx.step;
  next_step(self, ctx);
}

// What is left of the run's budgets, for every task of the next step:
// `{"tokens_left": n, "cost_usd_left": x}` (only the kinds there are), or
// null. Limits come from the stop policy (token_budget, cost_budget) and,
// for a nested run, from the budget its own task carried (what the parent
// had left, minus what this run has spent since); the smaller wins. An LLM
// agent refuses calls that do not fit (llm_agent.hpp), so a budget stops
// calls inside a round, not only between rounds.
json budget_left(const pattern_def& def, const run_ctx& ctx) {
  std::optional<std::uint64_t> tokens;
  std::optional<double> usd;
  if (auto n = def.run.stop.token_limit()) tokens = *n > ctx.state.tokens ? *n - ctx.state.tokens : 0;
  if (auto x = def.run.stop.cost_limit()) usd = std::max(0.0, *x - ctx.state.cost_usd);
  const json& in = ctx.request.input;
  auto given = in.is_object() ? in.find("budget") : in.end();
  if (in.is_object() && given != in.end() && given->is_object()) {
    auto t = given->find("tokens_left");
    if (t != given->end() && t->is_number_unsigned()) {
      auto n = t->get<std::uint64_t>();
      std::uint64_t left = n > ctx.state.tokens ? n - ctx.state.tokens : 0;
      tokens = tokens ? std::min(*tokens, left) : left;
    }
    auto c = given->find("cost_usd_left");
    if (c != given->end() && c->is_number()) {
      double left = std::max(0.0, c->get<double>() - ctx.state.cost_usd);
      usd = usd ? std::min(*usd, left) : left;
    }
  }
  if (!tokens && !usd) return json();
  json b = json::object();
  if (tokens) b["tokens_left"] = *tokens;
  if (usd) b["cost_usd_left"] = *usd;
  return b;
}

void next_step(orchestrator_pointer self, run_ctx& ctx) {
  const auto& def = *self->state.def;
  auto& board = *self->state.board;
  std::optional<std::vector<std::pair<member, json>>> plan;
  try {
    plan = ctx.run->plan(ctx.round, ctx.step);
  } catch (const std::exception& e) {
    return finish(self, ctx, failed_result(ctx, std::string("pattern failed planning round ") + std::to_string(ctx.round) + ": " + e.what()));
  }
  if (!plan) return close_round(self, ctx);
  ctx.asked = std::move(*plan);

  // Fill in the protocol's fields; reuse contributions committed before a restart.
  std::vector<actors::outcome> got(ctx.asked.size());
  std::vector<std::size_t> send_index;
  std::vector<fan_out_item> items;
  std::size_t reused_ok = 0;
  auto snap = board.snapshot();
  const json budget = budget_left(def, ctx);
  for (std::size_t i = 0; i < ctx.asked.size(); ++i) {
    auto& [m, input] = ctx.asked[i];
    if (!input.is_object()) input = json::object();
    input["pattern"] = def.name;
    input["run"] = ctx.id;
    input["round"] = ctx.round;
    if (!budget.is_null()) input["budget"] = budget;
    if (!input.contains("key"))
      input["key"] = ctx.step == 0 ? run_keys::answer(ctx.id, ctx.round, m.id)
                                   : run_keys::answers(ctx.id, ctx.round) + "/s" +
                                         std::to_string(ctx.step) + "/" + m.id.str();
    if (!input.contains("usage_key"))
      input["usage_key"] = ctx.step == 0 ? run_keys::usage(ctx.id, ctx.round, m.id)
                                         : run_keys::root(ctx.id) + "/usage/" + std::to_string(ctx.round) +
                                               "/s" + std::to_string(ctx.step) + "/" + m.id.str();
    if (!m.persona.empty() && !input.contains("persona")) input["persona"] = m.persona;
    actors::task t;
    t.run_id = ctx.id;
    t.task_id = step_task_id(ctx.round, ctx.step, m.id);
    t.input = input;
    // The agent's span is a child of the task's context: the round's span
    // when we trace, else a child of the request's.
    if (ctx.round_span) {
      t.trace = ctx.round_span->context();
    } else if (ctx.request.trace.valid()) {
      t.trace = ctx.request.trace.child();
    }
    auto stored = snap.get(input["key"].get<std::string>());
    if (stored && stored->exists()) {
      actors::outcome o;
      o.status = actors::outcome_status::ok;
      o.revision = stored->mod_revision();
      o.txn_id = t.txn_id();
      o.replayed = true;
      o.attempts = 0;
      o.dispatches = 1;
      o.agent = m.id.str();
      o.result = {{"answer", stored->value()}};
      // What it cost, recorded with it (actors::task's usage_key): a resumed
      // run counts it toward token_budget and cost_budget.
      if (const auto& uk = input["usage_key"]; uk.is_string())
        if (auto spent = snap.get(uk.get<std::string>()); spent && spent->exists())
          o.result["usage"] = spent->value();
      got[i] = std::move(o);
      ++reused_ok;
      continue;
    }
    send_index.push_back(i);
    items.push_back({m, std::move(t)});
  }

  const auto& ro = def.run.round;
  fan_out_options fo;
  std::size_t quorum = ro.quorum == 0 || ro.quorum >= ctx.asked.size() ? 0 : ro.quorum;
  if (quorum > 0) fo.quorum = quorum > reused_ok ? quorum - reused_ok : 1;
  fo.timeout = ro.timeout;
  if (auto limit = def.run.stop.time_limit()) {
    // A run deadline inside the round closes the round early.
    auto left = *limit - elapsed(ctx);
    fo.timeout = std::max(ms(1), std::min(fo.timeout, left));
  }
  fo.late_grace = ro.late_grace;
  fo.board = self->state.board;
  fo.late_prefix = run_keys::root(ctx.id) + "/late/" + std::to_string(ctx.round);
  fo.owner = self->address();
  const bool quorum_already = quorum > 0 && reused_ok >= quorum;
  if (items.empty() || quorum_already) {
    // Everything needed was committed before a restart.
    for (std::size_t k = 0; k < send_index.size(); ++k) {
      got[send_index[k]].status = actors::outcome_status::deadline_exceeded;
      got[send_index[k]].agent = items[k].to.id.str();
      got[send_index[k]].dispatches = 0;
    }
    return step_gathered(self, ctx.id, ctx.round, ctx.step, std::move(got));
  }
  // The fan-out notifies us instead of answering a request: a pending
  // request's timeout would keep this long-lived actor alive (CAF 0.17).
  const std::uint64_t tag = ++self->state.next_tag;
  fo.notify = self->address();
  fo.tag = tag;
  auto fan = spawn_fan_out(self->system(), std::move(items), fo);
  self->monitor(fan);
  self->state.steps.emplace(tag, pending_step{ctx.id, ctx.round, ctx.step, std::move(got),
                                              std::move(send_index), fan.address()});
}

// A fan-out closed (or died before it could).
void step_closed(orchestrator_pointer self, std::uint64_t tag, std::vector<actors::outcome>* fresh,
                 const caf::error* died) {
  auto it = self->state.steps.find(tag);
  if (it == self->state.steps.end()) return;
  pending_step p = std::move(it->second);
  self->state.steps.erase(it);
  self->demonitor(p.fan);
  for (std::size_t k = 0; k < p.send_index.size(); ++k) {
    auto& slot = p.got[p.send_index[k]];
    if (fresh && k < fresh->size()) {
      slot = std::move((*fresh)[k]);
    } else {
      // Nobody in the fan-out answered in time.
      slot.status = actors::outcome_status::error;
      slot.dispatches = 0;
      slot.error = died ? *died : caf::make_error(actors::errc::internal, "fan-out lost");
    }
  }
  step_gathered(self, p.run, p.round, p.step, std::move(p.got));
}

void next_round(orchestrator_pointer self, run_ctx& ctx) {
  ctx.round = ctx.state.rounds_done() + 1;
  ctx.step = 0;
  if (ctx.run_span) {
    ctx.round_span = std::make_shared<actors::span>(self->state.def->run.tracer->start(
        "pattern.round", ctx.run_span->context(), author_of(*self->state.def)));
    ctx.round_span->set("agora.run", ctx.id);
    ctx.round_span->set("agora.round", static_cast<std::int64_t>(ctx.round));
  }
  next_step(self, ctx);
}

// A new run, a resumed one, or one already finished.
void start(orchestrator_pointer self, run_ctx& ctx) {
  const auto& def = *self->state.def;
  auto& board = *self->state.board;
  auto snap = board.snapshot();
  const auto txn = ctx.nested ? ctx.request.txn_id() : ctx.id + "/result";

  // A run id is one run: another pattern's, or the same pattern's with other
  // input, is refused, and nothing is written (its records stay theirs).
  auto refuse = [&](const std::string& why) {
    reply_all(self, ctx.id, outcome_of(def, failed_result(ctx, why), txn, false));
  };
  auto meta = snap.get(run_keys::meta(ctx.id));
  if (meta && meta->exists()) {
    auto pattern = meta->value().is_object() ? meta->value().value("pattern", std::string()) : std::string();
    if (pattern != def.name)
      return refuse("run id '" + ctx.id + "' belongs to a " + (pattern.empty() ? std::string("different") : pattern) +
                    " run");
    if (meta->value().contains("input") && meta->value()["input"] != ctx.request.input) {
      auto shorten = [](const json& j) {
        std::string t = j.dump();
        return t.size() > 160 ? t.substr(0, 157) + "..." : t;
      };
      return refuse("run id '" + ctx.id + "' was started with other input (stored " +
                    shorten(meta->value()["input"]) + ", given " + shorten(ctx.request.input) +
                    "): give a new run id, or the same input to resume it");
    }
  }

  // Finished before: the same result again, nothing re-run.
  if (auto done = snap.get(run_keys::result(ctx.id)); done && done->exists()) {
    auto r = run_result::from_json(done->value());
    if (!r) return reply_all(self, ctx.id, outcome_of(def, failed_result(ctx, "stored result is malformed: " + bb::to_string(r.error())), txn, false));
    r->revision = done->mod_revision();
    return reply_all(self, ctx.id, outcome_of(def, *r, txn, true));
  }

  // The run's description, once.
  if (!meta || !meta->exists()) {
    json members = json::array();
    for (const auto& m : def.members) members.push_back(m.id.str());
    auto sp = board.begin(author_of(def));
    bb::status staged = sp.put(run_keys::meta(ctx.id), {{"pattern", def.name},
                                                         {"orchestrator", def.spec.id.str()},
                                                         {"members", members},
                                                         {"policy", def.run.stop.describe()},
                                                         {"fallback", to_string(def.run.fallback)},
                                                         {"input", ctx.request.input}});
    if (!staged) return finish(self, ctx, failed_result(ctx, "cannot record the run: " + bb::to_string(staged.error())));
    if (auto c = board.promote(sp, {ctx.id + "/meta", bb::isolation::blind}); !c)
      return finish(self, ctx, failed_result(ctx, "cannot record the run: " + bb::to_string(c.error())));
  }

  run_info info{ctx.id, ctx.request.input, self->state.board};
  try {
    ctx.run = def.start(info);
    // Resume: re-apply every closed round.
    for (std::uint32_t r = 1;; ++r) {
      auto rec = snap.get(run_keys::round(ctx.id, r));
      if (!rec || !rec->exists()) break;
      const json& j = rec->value();
      ctx.state.rounds.push_back(summary_from_json(j.at("summary")));
      const json& totals = j.at("totals");
      ctx.state.tokens = totals.at("tokens").get<std::uint64_t>();
      ctx.state.cost_usd = totals.at("cost_usd").get<double>();
      ctx.elapsed_before = ms(totals.at("elapsed_ms").get<std::int64_t>());
      ctx.run->restore(j);
    }
  } catch (const std::exception& e) {
    return finish(self, ctx, failed_result(ctx, std::string("cannot resume from runs/") + ctx.id + ": " + e.what()));
  }
  ctx.state.run_id = ctx.id;
  ctx.state.elapsed = ctx.elapsed_before;
  ctx.started = steady::now();
  if (def.run.tracer && def.run.tracer->enabled()) {
    ctx.run_span = std::make_shared<actors::span>(
        def.run.tracer->start("pattern.run", ctx.request.trace, author_of(def)));
    ctx.run_span->set("agora.run", ctx.id);
    ctx.run_span->set("agora.pattern", def.name);
    if (!ctx.state.rounds.empty())
      ctx.run_span->set("agora.resumed_after_round", static_cast<std::int64_t>(ctx.state.rounds_done()));
  }
  if (!ctx.state.rounds.empty()) {
    // Stopped between recording a round and recording the result.
    decision d = def.run.stop.evaluate(ctx.state);
    if (d.stop) return conclude(self, ctx, d);
  }
  next_round(self, ctx);
}

orchestrator_impl::behavior_type orchestrator_behavior(orchestrator_pointer self,
                                                         std::shared_ptr<const pattern_def> def,
                                                         std::shared_ptr<bb::blackboard> board) {
  self->state.def = std::move(def);
  self->state.board = std::move(board);
  self->set_down_handler([self](const caf::down_msg& dm) {
    for (auto& [tag, p] : self->state.steps)
      if (p.fan == dm.source) {
        auto why = dm.reason ? dm.reason : caf::make_error(actors::errc::internal, "fan-out quit before it closed");
        step_closed(self, tag, nullptr, &why);
        return;
      }
  });
  return {
      [self](actors::run_atom, actors::task& t) -> caf::result<actors::outcome> {
        if (auto refused = invalid_task_outcome(t, self->state.def->spec)) return std::move(*refused);
        bool nested = false;
        std::string id = run_id_for(t, nested);
        auto promise = self->make_response_promise<actors::outcome>();
        auto it = self->state.runs.find(id);
        if (it != self->state.runs.end()) {
          it->second->promises.push_back(promise);  // asked again while running: one run, two replies
          return promise;
        }
        auto ctx = std::make_unique<run_ctx>();
        ctx->id = id;
        ctx->request = std::move(t);
        ctx->nested = nested;
        ctx->promises.push_back(promise);
        run_ctx& ref = *ctx;
        self->state.runs.emplace(id, std::move(ctx));
        try {
          start(self, ref);
        } catch (const std::exception& e) {
          finish(self, ref, failed_result(ref, std::string("internal error: ") + e.what()));
        }
        return promise;
      },
      [self](actors::describe_atom) -> actors::agent_spec { return self->state.def->spec; },
      [self](fan_out_done_atom, std::uint64_t tag, std::vector<actors::outcome>& got) {
        try {
          step_closed(self, tag, &got, nullptr);
        } catch (const std::exception&) {
          // step_closed reports failures through the run; nothing may escape.
        }
      },
  };
}

}  // namespace

bb::status check_members(const std::string& what, const std::vector<member>& members) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& m = members[i];
    if (m.id.empty())
      return bb::error{bb::errc::invalid_argument, what + ": member " + std::to_string(i) + " has no id"};
    if (!m.actor)
      return bb::error{bb::errc::invalid_argument, what + ": member " + m.id.str() + " has no actor"};
    if (!seen.insert(m.id.str()).second)
      return bb::error{bb::errc::invalid_argument, what + ": member id " + m.id.str() + " appears twice"};
  }
  return {};
}

bb::status check_run_options(const std::string& what, const run_options& opts) {
  if (auto s = opts.stop.check_bounded(what); !s) return s;
  if (opts.round.timeout <= ms(0))
    return bb::error{bb::errc::invalid_argument, what + ": round timeout must be positive"};
  if (opts.round.late_grace < ms(0))
    return bb::error{bb::errc::invalid_argument, what + ": late_grace must not be negative"};
  return {};
}

actors::agent_actor spawn_orchestrator(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                       pattern_def def) {
  orchestrator_impl handle = sys.spawn(
      orchestrator_behavior, std::make_shared<const pattern_def>(std::move(def)), std::move(board));
  return caf::actor_cast<actors::agent_actor>(handle);
}

std::string run_id_for(const actors::task& t, bool& nested) {
  nested = t.input.is_object() && t.input.contains("key") && t.input["key"].is_string();
  return nested ? t.run_id + "." + t.task_id : t.run_id;
}

std::optional<actors::outcome> invalid_task_outcome(const actors::task& t, const actors::agent_spec& who) {
  auto v = actors::validate_task(t);
  if (v) return std::nullopt;
  actors::outcome o;
  o.status = actors::outcome_status::error;
  o.txn_id = t.txn_id();
  o.agent = who.id.str();
  o.dispatches = 1;
  o.error = actors::to_caf_error(v.error());
  return o;
}

actors::agent_id pattern_id(const std::string& name, const actors::agent_id& id) {
  if (!id.empty()) return id;
  auto made = actors::agent_id::make(name, "orchestrator");
  return made ? *made : actors::agent_id{};
}

bb::result<actors::agent_actor> spawn_pattern(
    caf::actor_system& sys, std::shared_ptr<bb::blackboard> board, const std::string& name,
    const actors::agent_id& id, std::vector<member> members, const run_options& run,
    std::function<std::unique_ptr<pattern_run>(const run_info&)> start) {
  if (!board) return bb::error{bb::errc::invalid_argument, name + ": the blackboard is null"};
  if (auto s = check_members(name, members); !s) return std::move(s).take_error();
  if (auto s = check_run_options(name, run); !s) return std::move(s).take_error();
  pattern_def def;
  def.name = name;
  def.spec.id = pattern_id(name, id);
  def.spec.role = name;
  def.members = std::move(members);
  def.run = run;
  def.start = std::move(start);
  return spawn_orchestrator(sys, std::move(board), std::move(def));
}

std::string step_task_id(std::uint32_t round, std::uint32_t step, const actors::agent_id& who) {
  std::string id = "r" + std::to_string(round);
  if (step > 0) id += "s" + std::to_string(step);
  id += ":";
  id += who.type();
  id += ":";
  id += who.key();
  return id;
}

std::pair<std::uint64_t, double> usage_of(const actors::outcome& o) {
  if (!o.result.is_object()) return {0, 0.0};
  auto it = o.result.find("usage");
  if (it == o.result.end() || !it->is_object()) return {0, 0.0};
  std::uint64_t tokens = 0;
  double cost = 0;
  if (auto t = it->find("tokens"); t != it->end() && t->is_number_unsigned()) tokens = t->get<std::uint64_t>();
  if (auto c = it->find("cost_usd"); c != it->end() && c->is_number()) cost = c->get<double>();
  return {tokens, cost};
}

json answer_of(const actors::outcome& o) {
  if (!o.result.is_object()) return json();
  auto it = o.result.find("answer");
  return it == o.result.end() ? json() : *it;
}

}  // namespace agora::detail
