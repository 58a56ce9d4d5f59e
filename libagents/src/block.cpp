#include "block.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "agora/actors/errors.hpp"
#include "orchestrator.hpp"

namespace agora::detail {

namespace {

using ms = std::chrono::milliseconds;

caf::timestamp wall_now() {
  return std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now());
}

}  // namespace

// --- block_ctx ----------------------------------------------------------------------

block_ctx::block_ctx(block_host& host, std::shared_ptr<const block_def> def,
                     std::shared_ptr<bb::blackboard> board, std::string run_id, actors::task request,
                     bool nested, std::uint64_t serial)
    : host_(&host),
      def_(std::move(def)),
      board_(std::move(board)),
      id_(std::move(run_id)),
      request_(std::move(request)),
      nested_(nested),
      serial_(serial) {}

json block_ctx::protocol_input(const std::string& key, json fields) const {
  json in = {{"pattern", def_->name}, {"run", id_}, {"round", 1}, {"key", key}};
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) in[k] = std::move(v);
  return in;
}

actors::task block_ctx::member_task(const member& m, std::string task_id, json input) const {
  actors::task t;
  t.run_id = id_;
  t.task_id = std::move(task_id);
  if (input.is_object() && !m.persona.empty() && !input.contains("persona")) input["persona"] = m.persona;
  t.input = std::move(input);
  t.deadline = request_.deadline;
  if (request_.trace.valid()) t.trace = request_.trace.child();
  return t;
}

ms block_ctx::time_left(ms limit) const {
  if (request_.deadline == caf::timestamp{}) return limit;
  auto left = std::chrono::duration_cast<ms>(request_.deadline - wall_now());
  return std::max(ms(1), std::min(limit, left));
}

void block_ctx::ask(std::vector<fan_out_item> items, ask_options opts, ask_then then) {
  if (finished_) return;
  opts.timeout = time_left(opts.timeout);
  host_->ask(*this, std::move(items), std::move(opts), std::move(then));
}

bb::status block_ctx::record(const std::string& key, json value, const std::string& txn_suffix) {
  auto sp = board_->begin(author());
  if (auto s = sp.put(key, std::move(value)); !s) return s;
  auto c = board_->promote(sp, {id_ + "/" + txn_suffix, bb::isolation::blind});
  // The same txn committed before (a restart, a re-sent task): the first stands.
  if (!c && c.error().code != bb::errc::duplicate_txn) return c.error();
  return {};
}

void block_ctx::count_usage(const actors::outcome& o) {
  if (!on_time(o) || o.replayed) return;
  auto [tokens, cost] = usage_of(o);
  tokens_ += tokens;
  cost_usd_ += cost;
}

void block_ctx::finish(run_result r, json extra, caf::error err) {
  if (finished_) return;
  finished_ = true;
  r.run_id = id_;
  r.tokens = tokens_;
  r.cost_usd = cost_usd_;
  const bool ok = r.status == run_status::settled || r.status == run_status::fallback;
  auto record_of = [&](const run_result& x) {
    json rec = x.to_json();
    if (extra.is_object())
      for (auto& [k, v] : extra.items())
        if (!rec.contains(k)) rec[k] = v;
    rec["usage"] = {{"tokens", tokens_}, {"cost_usd", cost_usd_}};
    return rec;
  };
  json rec = record_of(r);
  const std::string txn = nested_ ? request_.txn_id() : id_ + "/result";
  auto sp = board_->begin(author());
  bb::status staged = sp.put(run_keys::result(id_), rec);
  if (staged && nested_ && ok) staged = sp.put(request_.input.at("key").get<std::string>(), r.answer);
  auto failed_to_record = [&](const bb::error& e) {
    run_result f;
    f.run_id = id_;
    f.status = run_status::failed;
    f.reason = "cannot record the result: " + bb::to_string(e);
    f.tokens = tokens_;
    f.cost_usd = cost_usd_;
    r = std::move(f);
    rec = record_of(r);
    err = actors::to_caf_error(e);
  };
  if (!staged) {
    failed_to_record(staged.error());
  } else if (auto c = board_->promote(sp, {txn, bb::isolation::blind}); !c) {
    if (c.error().code == bb::errc::duplicate_txn) {
      // Recorded before (a restart between the commit and the reply): the first stands.
      if (auto stored = board_->get(run_keys::result(id_)); stored && stored->exists()) {
        rec = stored->value();
        r.revision = stored->mod_revision();
      }
    } else {
      failed_to_record(c.error());
    }
  } else {
    r.revision = c->revision;
  }
  const bool ok_now = r.status == run_status::settled || r.status == run_status::fallback;
  actors::outcome o;
  o.status = ok_now ? actors::outcome_status::ok : actors::outcome_status::error;
  o.revision = r.revision;
  o.txn_id = txn;
  o.attempts = 1;
  o.dispatches = 1;
  o.agent = author();
  o.result = std::move(rec);
  if (!ok_now)
    o.error = err ? err
                  : caf::make_error(actors::errc::agent_failed,
                                    def_->name + " run " + id_ + " failed: " + r.reason);
  host_->reply(*this, o);
}

void block_ctx::fail(std::string why, caf::error err) {
  run_result r;
  r.status = run_status::failed;
  r.reason = std::move(why);
  r.rounds = 1;
  finish(std::move(r), json::object(), std::move(err));
}

// --- the actor ------------------------------------------------------------------------

namespace {

using block_impl = actors::agent_actor::extend<
    caf::reacts_to<fan_out_done_atom, std::uint64_t, std::vector<actors::outcome>>>;

struct block_state;
using block_pointer = block_impl::stateful_pointer<block_state>;

struct run_entry {
  std::unique_ptr<block_ctx> ctx;
  std::unique_ptr<block_run> run;
  std::vector<caf::typed_response_promise<actors::outcome>> promises;
};

// An ask whose outcomes have not all come.
struct pending_ask {
  std::string run;
  std::uint64_t serial = 0;           // the run it belongs to (a later run may reuse the id)
  caf::actor_addr fan;                // null when nothing had to be sent
  std::vector<actors::outcome> got;   // reused contributions filled in
  std::vector<std::size_t> send_index;  // got[send_index[k]] is the fan-out's k-th item
  std::vector<std::string> sent_to;   // the member of each fan-out item
  std::vector<std::string> sent_key;  // the input key of each fan-out item ("" = none)
  ask_then then;
};

class actor_host final : public block_host {
 public:
  explicit actor_host(block_pointer self) : self_(self) {}
  void ask(block_ctx& ctx, std::vector<fan_out_item> items, ask_options opts, ask_then then) override;
  void reply(block_ctx& ctx, const actors::outcome& o) override;

 private:
  block_pointer self_;
};

struct block_state {
  std::shared_ptr<const block_def> def;
  std::shared_ptr<bb::blackboard> board;
  std::unique_ptr<actor_host> host;
  std::map<std::string, run_entry> runs;
  std::map<std::uint64_t, pending_ask> asks;  // by tag
  std::uint64_t next_tag = 0;
  std::uint64_t next_serial = 0;
};

// A run that finished is forgotten once the handler that finished it returns.
void sweep(block_pointer self, const std::string& run) {
  auto it = self->state.runs.find(run);
  if (it != self->state.runs.end() && it->second.ctx->finished()) self->state.runs.erase(it);
}

void actor_host::ask(block_ctx& ctx, std::vector<fan_out_item> items, ask_options opts, ask_then then) {
  auto self = self_;
  auto& st = self->state;
  pending_ask p;
  p.run = ctx.run_id();
  p.serial = ctx.serial();
  p.then = std::move(then);
  p.got.resize(items.size());
  // Contributions committed before (a restart, a re-sent task) are reused,
  // not asked again.
  std::vector<fan_out_item> send;
  std::size_t reused_ok = 0;
  auto snap = st.board->snapshot();
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    const json& in = item.work.input;
    if (in.is_object()) {
      auto key = in.find("key");
      if (key != in.end() && key->is_string()) {
        auto stored = snap.get(key->get<std::string>());
        if (stored && stored->exists()) {
          auto& o = p.got[i];
          o.status = actors::outcome_status::ok;
          o.revision = stored->mod_revision();
          o.txn_id = item.work.txn_id();
          o.replayed = true;
          o.dispatches = 1;
          o.agent = item.to.id.str();
          o.result = {{"answer", stored->value()}};
          ++reused_ok;
          continue;
        }
      }
    }
    p.send_index.push_back(i);
    p.sent_to.push_back(item.to.id.str());
    p.sent_key.push_back(in.is_object() && in.contains("key") && in["key"].is_string()
                             ? in["key"].get<std::string>()
                             : std::string());
    send.push_back(std::move(item));
  }
  const std::size_t quorum = opts.quorum == 0 || opts.quorum >= items.size() ? 0 : opts.quorum;
  const std::uint64_t tag = ++st.next_tag;
  if (send.empty() || (quorum > 0 && reused_ok >= quorum)) {
    for (std::size_t k = 0; k < p.send_index.size(); ++k) {
      auto& o = p.got[p.send_index[k]];
      o.status = actors::outcome_status::deadline_exceeded;
      o.agent = p.sent_to[k];
      o.dispatches = 0;
      o.error = caf::make_error(actors::errc::cancelled, "not asked: enough answers were committed before");
    }
    p.send_index.clear();
    st.asks.emplace(tag, std::move(p));
    // Never call back before ask returns: the run is in the middle of something.
    caf::anon_send(caf::actor_cast<caf::actor>(self), fan_out_done_atom::value, tag,
                   std::vector<actors::outcome>{});
    return;
  }
  fan_out_options fo;
  fo.quorum = quorum > 0 ? quorum - reused_ok : 0;
  fo.timeout = opts.timeout;
  fo.late_grace = opts.late_grace;
  if (!opts.late_prefix.empty()) {
    fo.board = st.board;
    fo.late_prefix = opts.late_prefix;
  }
  fo.owner = self->address();
  // Notified rather than asked: a pending request's timeout would keep this
  // long-lived actor alive (CAF 0.17).
  fo.notify = self->address();
  fo.tag = tag;
  auto fan = spawn_fan_out(self->system(), std::move(send), std::move(fo));
  self->monitor(fan);
  p.fan = fan.address();
  st.asks.emplace(tag, std::move(p));
}

void actor_host::reply(block_ctx& ctx, const actors::outcome& o) {
  auto it = self_->state.runs.find(ctx.run_id());
  if (it == self_->state.runs.end() || it->second.ctx.get() != &ctx) return;
  for (auto& p : it->second.promises) p.deliver(o);
  it->second.promises.clear();
}

// An ask's fan-out closed (fresh = its outcomes) or died before (died = why).
void asked(block_pointer self, std::uint64_t tag, std::vector<actors::outcome>* fresh,
           const caf::error* died) {
  auto& st = self->state;
  auto it = st.asks.find(tag);
  if (it == st.asks.end()) return;
  pending_ask p = std::move(it->second);
  st.asks.erase(it);
  if (p.fan) self->demonitor(p.fan);
  for (std::size_t k = 0; k < p.send_index.size(); ++k) {
    auto& slot = p.got[p.send_index[k]];
    if (fresh && k < fresh->size()) {
      slot = std::move((*fresh)[k]);
      // A member that ran the task again and replayed its first commit
      // reports this run's answer; the committed one is what counts.
      if (slot.ok() && slot.replayed && !p.sent_key[k].empty()) {
        auto stored = st.board->get(p.sent_key[k]);
        if (stored && stored->exists()) {
          if (!slot.result.is_object()) slot.result = json::object();
          slot.result["answer"] = stored->value();
        }
      }
    } else {
      slot.status = actors::outcome_status::error;
      slot.agent = p.sent_to[k];
      slot.dispatches = 0;
      slot.error = died ? *died : caf::make_error(actors::errc::internal, "fan-out lost");
    }
  }
  auto run = st.runs.find(p.run);
  if (run == st.runs.end() || run->second.ctx->serial() != p.serial || run->second.ctx->finished()) return;
  auto& ctx = *run->second.ctx;
  for (const auto& o : p.got) ctx.count_usage(o);
  try {
    p.then(p.got);
  } catch (const std::exception& e) {
    ctx.fail(st.def->name + " run " + ctx.run_id() + ": internal error: " + e.what());
  }
  sweep(self, p.run);
}

// Replies `o` to the run's requesters and forgets the run, recording nothing.
void reply_unrecorded(block_pointer self, block_ctx& ctx, const actors::outcome& o) {
  const std::string id = ctx.run_id();
  self->state.host->reply(ctx, o);
  self->state.runs.erase(id);
}

// A new run, a resumed one, or one already finished.
void start(block_pointer self, run_entry& entry) {
  const auto& def = *self->state.def;
  auto& board = *self->state.board;
  auto& ctx = *entry.ctx;
  auto snap = board.snapshot();
  const auto txn = ctx.nested() ? ctx.request().txn_id() : ctx.run_id() + "/result";
  actors::outcome o;
  o.txn_id = txn;
  o.attempts = 1;
  o.dispatches = 1;
  o.agent = def.spec.id.str();

  // Another pattern's run: refused, and nothing of it touched.
  auto meta = snap.get(run_keys::meta(ctx.run_id()));
  const bool has_meta = meta && meta->exists();
  if (has_meta) {
    auto pattern = meta->value().is_object() ? meta->value().value("pattern", std::string()) : std::string();
    if (pattern != def.name) {
      o.status = actors::outcome_status::error;
      o.error = caf::make_error(actors::errc::agent_failed,
                                def.name + ": run id '" + ctx.run_id() + "' belongs to a " +
                                    (pattern.empty() ? std::string("different") : pattern) + " run");
      return reply_unrecorded(self, ctx, o);
    }
  }

  // Finished before: the same result again, nothing re-run.
  if (auto done = snap.get(run_keys::result(ctx.run_id())); done && done->exists()) {
    const json& rec = done->value();
    const std::string status = rec.is_object() ? rec.value("status", std::string()) : std::string();
    const bool ok = status == "settled" || status == "fallback";
    o.status = ok ? actors::outcome_status::ok : actors::outcome_status::error;
    o.revision = done->mod_revision();
    o.replayed = true;
    o.result = rec;
    if (!ok)
      o.error = caf::make_error(actors::errc::agent_failed,
                                def.name + " run " + ctx.run_id() + " " + status + ": " +
                                    (rec.is_object() ? rec.value("reason", std::string()) : std::string()));
    return reply_unrecorded(self, ctx, o);
  }

  // The run's description, once.
  if (!has_meta) {
    json members = json::array();
    for (const auto& m : def.members) members.push_back(m.id.str());
    auto s = ctx.record(run_keys::meta(ctx.run_id()),
                        {{"pattern", def.name},
                         {"orchestrator", def.spec.id.str()},
                         {"members", members},
                         {"policy", def.summary},
                         {"fallback", "none"},
                         {"input", ctx.input()}},
                        "meta");
    if (!s) return ctx.fail("cannot record the run: " + bb::to_string(s.error()), actors::to_caf_error(s.error()));
  }
  entry.run = def.make();
  entry.run->start(ctx);
}

block_impl::behavior_type block_behavior(block_pointer self, std::shared_ptr<const block_def> def,
                                         std::shared_ptr<bb::blackboard> board) {
  self->state.def = std::move(def);
  self->state.board = std::move(board);
  self->state.host = std::make_unique<actor_host>(self);
  self->set_down_handler([self](const caf::down_msg& dm) {
    for (auto& [tag, p] : self->state.asks)
      if (p.fan && p.fan == dm.source) {
        auto why = dm.reason ? dm.reason
                             : caf::make_error(actors::errc::internal, "fan-out quit before it closed");
        asked(self, tag, nullptr, &why);
        return;
      }
  });
  return {
      [self](actors::run_atom, actors::task& t) -> caf::result<actors::outcome> {
        const auto& d = *self->state.def;
        if (auto refused = detail::invalid_task_outcome(t, d.spec)) return std::move(*refused);
        bool nested = false;
        std::string id = detail::run_id_for(t, nested);
        auto promise = self->make_response_promise<actors::outcome>();
        auto& runs = self->state.runs;
        if (auto it = runs.find(id); it != runs.end()) {
          it->second.promises.push_back(promise);  // asked again while running: one run, two replies
          return promise;
        }
        run_entry entry;
        entry.ctx = std::make_unique<block_ctx>(*self->state.host, self->state.def, self->state.board, id,
                                                std::move(t), nested, ++self->state.next_serial);
        entry.promises.push_back(promise);
        auto& ref = runs.emplace(id, std::move(entry)).first->second;
        try {
          start(self, ref);
        } catch (const std::exception& e) {
          if (auto it = runs.find(id); it != runs.end())
            it->second.ctx->fail(d.name + " run " + id + ": internal error: " + e.what());
        }
        sweep(self, id);
        return promise;
      },
      [self](actors::describe_atom) -> actors::agent_spec { return self->state.def->spec; },
      [self](fan_out_done_atom, std::uint64_t tag, std::vector<actors::outcome>& got) {
        try {
          asked(self, tag, &got, nullptr);
        } catch (const std::exception&) {
          // asked reports failures through the run; nothing may escape.
        }
      },
  };
}

}  // namespace

bb::status check_block_members(const std::string& what, const std::vector<member>& members,
                               bool allow_repeats) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& m = members[i];
    if (m.id.empty())
      return bb::error{bb::errc::invalid_argument, what + ": member " + std::to_string(i) + " has no id"};
    if (!m.actor)
      return bb::error{bb::errc::invalid_argument, what + ": member " + m.id.str() + " has no actor"};
    if (!seen.insert(m.id.str()).second && !allow_repeats)
      return bb::error{bb::errc::invalid_argument, what + ": member id " + m.id.str() + " appears twice"};
  }
  return {};
}

actors::agent_actor spawn_block(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                block_def def) {
  block_impl handle =
      sys.spawn(block_behavior, std::make_shared<const block_def>(std::move(def)), std::move(board));
  return caf::actor_cast<actors::agent_actor>(handle);
}

bb::error bad_task_input(const actors::task& t, const std::string& what) {
  return bb::error{bb::errc::invalid_argument, "task " + t.txn_id() + ": " + what};
}

actors::logic_result write_contribution(const actors::task& t, bb::scratchpad& sp, json answer) {
  if (!t.input.is_object()) return bad_task_input(t, "input is not a JSON object");
  auto it = t.input.find("key");
  if (it == t.input.end() || !it->is_string()) return bad_task_input(t, "input has no string field 'key'");
  if (auto s = sp.put(it->get<std::string>(), answer); !s) return std::move(s).take_error();
  return json{{"answer", std::move(answer)}};
}

std::string join_ids(const std::vector<member>& members) {
  std::string out;
  for (const auto& m : members) {
    if (!out.empty()) out += ", ";
    out += m.id.str();
  }
  return out;
}

}  // namespace agora::detail
