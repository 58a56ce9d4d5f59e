#include "agora/agents/fan_out.hpp"

#include <algorithm>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "agora/actors/errors.hpp"

namespace agora {

namespace {

using close_atom = caf::atom_constant<caf::atom("fo_close")>;
using expire_atom = caf::atom_constant<caf::atom("fo_expire")>;

using fan_out_impl =
    fan_out_actor::extend<caf::reacts_to<close_atom>, caf::reacts_to<expire_atom>>;

caf::timestamp wall_now() {
  return std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now());
}

struct fan_out_state {
  std::vector<fan_out_item> items;
  fan_out_options opts;
  std::vector<actors::outcome> got;      // placeholders until answered
  std::vector<bool> answered;
  std::size_t answers = 0;               // members that answered at all
  std::size_t ok_answers = 0;            // ... ok, before closing
  bool closed = false;
  bool delivered = false;                // someone got the reply
  std::size_t next = 0;                  // items[next] is the next to send
  caf::timestamp task_deadline{};
  caf::timespan request_timeout{};
  caf::timestamp closed_at{};
  std::vector<caf::typed_response_promise<std::vector<actors::outcome>>> waiting;
};

using fan_out_pointer = fan_out_impl::stateful_pointer<fan_out_state>;

actors::outcome placeholder(const fan_out_item& item, std::chrono::milliseconds timeout) {
  actors::outcome o;
  o.status = actors::outcome_status::deadline_exceeded;
  o.txn_id = item.work.txn_id();
  o.agent = item.to.id.str();
  o.dispatches = 0;  // what on_time() looks at
  o.error = caf::make_error(actors::errc::timeout,
                            "no answer from " + item.to.id.str() + " before the round closed after " +
                                std::to_string(timeout.count()) + " ms");
  return o;
}

void close(fan_out_pointer self) {
  auto& st = self->state;
  if (st.closed) return;
  st.closed = true;
  st.closed_at = wall_now();
  for (std::size_t i = st.next; i < st.items.size(); ++i)
    st.got[i].error = caf::make_error(actors::errc::timeout,
                                      "member " + st.items[i].to.id.str() +
                                          " was not asked: the round closed before its turn");
  if (st.opts.notify) {
    if (auto to = caf::actor_cast<caf::actor>(st.opts.notify)) {
      caf::anon_send(to, fan_out_done_atom::value, st.opts.tag, st.got);
      st.delivered = true;
    }
  }
  for (auto& p : st.waiting) p.deliver(st.got);
  if (!st.waiting.empty()) st.delivered = true;
  st.waiting.clear();
}

// Done when the reply went out and nothing more can come. (A fan-out that
// nobody asks quits at its expiry timer.)
void maybe_quit(fan_out_pointer self) {
  auto& st = self->state;
  if (st.closed && st.delivered && st.answers == st.next) self->quit();
}

// A late answer is kept on the blackboard (when asked to) so that it is
// visible, but it is never part of the reply.
void record_late(fan_out_pointer self, std::size_t i, const actors::outcome& o) {
  auto& st = self->state;
  if (!st.opts.board || st.opts.late_prefix.empty()) return;
  auto late_by = std::chrono::duration_cast<std::chrono::milliseconds>(wall_now() - st.closed_at);
  auto sp = st.opts.board->begin("_orchestrator");
  json record = {{"status", actors::to_string(o.status)},
                 {"answer", o.result.is_object() ? o.result.value("answer", json()) : json()},
                 {"revision", o.revision},
                 {"late_by_ms", late_by.count()}};
  if (!o.ok()) record["error"] = actors::render(o.error);
  if (!sp.put(st.opts.late_prefix + "/" + st.items[i].to.id.str(), std::move(record))) return;
  // Blind: a late record never conflicts; the txn id makes a repeat harmless.
  (void)st.opts.board->promote(sp, {o.txn_id + "/late", bb::isolation::blind});
}

void on_answer(fan_out_pointer self, std::size_t i, actors::outcome o);

// Sends the next tasks, keeping at most max_in_flight unanswered. Nothing is
// sent once the fan-out closed: those members were never asked.
void send_more(fan_out_pointer self) {
  auto& st = self->state;
  const std::size_t limit = st.opts.max_in_flight == 0 ? st.items.size() : st.opts.max_in_flight;
  while (!st.closed && st.next < st.items.size() && st.next - st.answers < limit) {
    const std::size_t i = st.next++;
    auto& item = st.items[i];
    if (item.work.deadline == caf::timestamp{} || item.work.deadline > st.task_deadline)
      item.work.deadline = st.task_deadline;
    if (!item.to.actor) {
      actors::outcome o;
      o.status = actors::outcome_status::error;
      o.txn_id = st.got[i].txn_id;
      o.error = caf::make_error(actors::errc::no_agent, "member " + item.to.id.str() + " has no actor");
      on_answer(self, i, std::move(o));
      continue;
    }
    // The task moves into the message: the placeholder in got[i] keeps its txn id.
    self->request(item.to.actor, st.request_timeout, actors::run_atom::value, std::move(item.work))
        .then([self, i](actors::outcome& o) { on_answer(self, i, std::move(o)); },
              [self, i](caf::error& err) {
                actors::outcome o;
                o.status = actors::outcome_status::error;
                o.txn_id = self->state.got[i].txn_id;
                o.error = std::move(err);
                on_answer(self, i, std::move(o));
              });
  }
}

void on_answer(fan_out_pointer self, std::size_t i, actors::outcome o) {
  auto& st = self->state;
  if (st.answered[i]) return;
  st.answered[i] = true;
  ++st.answers;
  if (st.closed) {
    record_late(self, i, o);
    maybe_quit(self);
    return;
  }
  if (o.agent.empty()) o.agent = st.items[i].to.id.str();
  if (o.dispatches == 0) o.dispatches = 1;  // it came from the member, so it is on time
  if (o.ok()) ++st.ok_answers;
  st.got[i] = std::move(o);
  if (st.answers == st.items.size() || (st.opts.quorum > 0 && st.ok_answers >= st.opts.quorum))
    close(self);
  else
    send_more(self);
  maybe_quit(self);
}

fan_out_impl::behavior_type fan_out_behavior(fan_out_pointer self, std::vector<fan_out_item> items,
                                             fan_out_options opts) {
  auto& st = self->state;
  st.items = std::move(items);
  st.opts = std::move(opts);
  st.answered.assign(st.items.size(), false);
  st.got.reserve(st.items.size());
  for (const auto& item : st.items) st.got.push_back(placeholder(item, st.opts.timeout));

  if (st.opts.owner) {
    self->monitor(st.opts.owner);
    self->set_down_handler([self](const caf::down_msg& dm) {
      if (dm.source == self->state.opts.owner) self->quit();
    });
  }
  const auto task_deadline = wall_now() + std::chrono::duration_cast<caf::timespan>(
                                              st.opts.timeout + st.opts.late_grace);
  const auto request_timeout =
      std::chrono::duration_cast<caf::timespan>(st.opts.timeout + st.opts.late_grace) +
      std::chrono::seconds(1);
  st.request_timeout = request_timeout;
  st.task_deadline = task_deadline;
  send_more(self);
  if (st.items.empty()) close(self);
  if (!st.closed)
    actors::detail::send_later_weak(self->address(),
                                    std::chrono::duration_cast<caf::timespan>(st.opts.timeout),
                                    caf::make_message(close_atom::value));
  // By then every request has been answered or has timed out.
  actors::detail::send_later_weak(self->address(), request_timeout + std::chrono::seconds(1),
                                  caf::make_message(expire_atom::value));
  return {
      [self](gather_atom) -> caf::result<std::vector<actors::outcome>> {
        auto& s = self->state;
        if (s.closed) {
          s.delivered = true;
          auto reply = s.got;
          maybe_quit(self);
          return reply;
        }
        auto p = self->make_response_promise<std::vector<actors::outcome>>();
        s.waiting.push_back(p);
        return p;
      },
      [self](close_atom) {
        close(self);
        maybe_quit(self);
      },
      [self](expire_atom) {
        close(self);
        self->quit();
      },
  };
}

}  // namespace

bool on_time(const actors::outcome& o) noexcept { return o.dispatches != 0; }

fan_out_actor spawn_fan_out(caf::actor_system& sys, std::vector<fan_out_item> items,
                            fan_out_options opts) {
  return sys.spawn(fan_out_behavior, std::move(items), std::move(opts));
}

}  // namespace agora
