#include "agora/actors/blackboard_actor.hpp"

#include <exception>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace agora::actors {

namespace {

/// Internal: "the watch with this id may have records to deliver". Sent by
/// the watch's on_ready callback (from whatever thread commits) and by the
/// actor to itself. Not part of the public interface.
using pump_atom = caf::atom_constant<caf::atom("bb_pump")>;

/// The handle type the actor is implemented with: the public interface plus
/// the pump message. spawn_blackboard hands out only the public part.
using blackboard_impl = blackboard_actor::extend<caf::reacts_to<pump_atom, std::uint64_t>>;

/// Events sent per pump message before the actor yields to its mailbox, so
/// a subscriber with a huge credit cannot starve requests.
constexpr std::size_t max_events_per_pump = 256;

struct watch_slot {
  bb::watch stream;
  caf::strong_actor_ptr subscriber;
  std::uint64_t credit = 0;
};

struct blackboard_state {
  std::shared_ptr<bb::blackboard> board;
  std::uint64_t next_watch_id = 1;
  std::unordered_map<std::uint64_t, watch_slot> watches;
  /// Open watches per subscriber; a subscriber is monitored while it has any.
  std::map<caf::actor_addr, std::size_t> subscribers;

  static inline const char* name = "agora.blackboard";
};

using self_ptr = blackboard_impl::stateful_pointer<blackboard_state>;

caf::error internal_error(const char* what, const char* detail) {
  return caf::make_error(errc::internal, std::string(what) + " failed unexpectedly: " + detail);
}

/// Runs a handler body; an exception becomes errc::internal for the
/// requester instead of killing the actor.
template <class F>
auto guarded(const char* what, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_error(what, e.what());
  } catch (...) {
    return internal_error(what, "unknown exception");
  }
}

/// The snapshot at `rev` (0 = latest).
bb::result<bb::snapshot> snapshot_at(const bb::blackboard& board, std::uint64_t rev) {
  if (rev == 0) return board.snapshot();
  return board.snapshot_at(rev);
}

void forget_subscriber(self_ptr self, const caf::actor_addr& addr) {
  auto& subs = self->state.subscribers;
  auto it = subs.find(addr);
  if (it == subs.end()) return;
  if (--it->second == 0) {
    subs.erase(it);
    self->demonitor(addr);
  }
}

/// Closes a watch (its bb::watch is cancelled by its destructor).
void close_watch(self_ptr self, std::uint64_t id) {
  auto it = self->state.watches.find(id);
  if (it == self->state.watches.end()) return;
  auto addr = caf::actor_cast<caf::actor_addr>(it->second.subscriber);
  self->state.watches.erase(it);
  forget_subscriber(self, addr);
}

/// Sends `to` a message from this actor. A typed actor may not send() to a
/// dynamically typed handle in CAF 0.17, and anon_send would hide from the
/// subscriber who sent its events; enqueueing directly keeps the sender and
/// the per-sender ordering CAF guarantees.
template <class... Ts>
void deliver(self_ptr self, const caf::strong_actor_ptr& to, Ts&&... xs) {
  if (to)
    to->get()->eq_impl(caf::make_message_id(), self->ctrl(), self->context(),
                       std::forward<Ts>(xs)...);
}

/// Sends the subscriber of watch `id` as many events as its credit allows.
void drain(self_ptr self, std::uint64_t id) {
  auto it = self->state.watches.find(id);
  if (it == self->state.watches.end()) return;
  watch_slot& slot = it->second;
  const caf::strong_actor_ptr subscriber = slot.subscriber;
  std::size_t sent = 0;
  caf::error failure;
  try {
    while (slot.credit > 0 && sent < max_events_per_pump) {
      auto next = slot.stream.try_next();
      if (!next) {
        failure = to_caf_error(next.error());
        break;
      }
      if (!*next) return;  // caught up: the watch's on_ready pumps again
      deliver(self, subscriber, watch_event_atom::value, id, to_record_data(**next));
      --slot.credit;
      ++sent;
    }
  } catch (const std::exception& e) {
    failure = internal_error("watch delivery", e.what());
  } catch (...) {
    failure = internal_error("watch delivery", "unknown exception");
  }
  if (failure) {
    deliver(self, subscriber, watch_end_atom::value, id, std::move(failure));
    close_watch(self, id);
    return;
  }
  // Stopped by the batch limit with credit left: continue after whatever
  // else waits in the mailbox.
  if (slot.credit > 0) self->send(self, pump_atom::value, id);
}

caf::result<std::uint64_t> open_watch(self_ptr self, const std::string& prefix,
                                      std::uint64_t from_revision, std::uint64_t credit) {
  caf::strong_actor_ptr subscriber = self->current_sender();
  if (!subscriber)
    return caf::make_error(errc::bad_message,
                           "watch needs a sender to deliver events to (use request, not "
                           "anon_send)");
  auto opened = self->state.board->watch(prefix, from_revision);
  if (!opened) return to_caf_error(opened.error());
  const std::uint64_t id = self->state.next_watch_id++;
  // The callback runs on the committing thread (maybe this actor's, inside
  // a promote): it only enqueues a message, through a weak handle so the
  // blackboard never keeps this actor alive.
  caf::actor_addr weak_self = self->address();
  opened->on_ready([weak_self, id] {
    if (auto strong = caf::actor_cast<blackboard_impl>(weak_self))
      caf::anon_send(strong, pump_atom::value, id);
  });
  auto addr = caf::actor_cast<caf::actor_addr>(subscriber);
  self->state.watches.emplace(id, watch_slot{std::move(*opened), std::move(subscriber), credit});
  if (self->state.subscribers[addr]++ == 0) self->monitor(addr);
  // Events go out after the reply: the first pump is a message, handled
  // once this handler has returned the id.
  if (credit > 0) self->send(self, pump_atom::value, id);
  return id;
}

blackboard_impl::behavior_type blackboard_fun(self_ptr self, std::shared_ptr<bb::blackboard> board) {
  self->state.board = board ? std::move(board) : std::make_shared<bb::blackboard>();
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto it = self->state.subscribers.find(dm.source);
    if (it == self->state.subscribers.end()) return;
    self->state.subscribers.erase(it);
    for (auto w = self->state.watches.begin(); w != self->state.watches.end();) {
      if (caf::actor_cast<caf::actor_addr>(w->second.subscriber) == dm.source)
        w = self->state.watches.erase(w);
      else
        ++w;
    }
  });
  return {
      [self](read_atom, const std::string& key, std::uint64_t rev) -> caf::result<entry_data> {
        return guarded("read", [&]() -> caf::result<entry_data> {
          auto snap = snapshot_at(*self->state.board, rev);
          if (!snap) return to_caf_error(snap.error());
          auto e = snap->get(key);
          if (!e) return to_caf_error(e.error());
          return to_entry_data(*e);
        });
      },
      [self](list_atom, const std::string& prefix,
             std::uint64_t rev) -> caf::result<std::vector<entry_data>> {
        return guarded("list", [&]() -> caf::result<std::vector<entry_data>> {
          auto snap = snapshot_at(*self->state.board, rev);
          if (!snap) return to_caf_error(snap.error());
          auto es = snap->list(prefix);
          if (!es) return to_caf_error(es.error());
          return to_entry_data(*es);
        });
      },
      [self](revision_atom) -> std::uint64_t { return self->state.board->revision(); },
      [self](promote_atom, bb::promotion& p,
             const bb::promote_options& opts) -> caf::result<bb::commit_result> {
        return guarded("promote", [&]() -> caf::result<bb::commit_result> {
          auto r = self->state.board->promote(std::move(p), opts);
          if (!r) return to_caf_error(r.error());
          return std::move(*r);
        });
      },
      [self](history_atom, std::uint64_t from, std::uint64_t to,
             const std::string& prefix) -> caf::result<std::vector<record_data>> {
        return guarded("history", [&]() -> caf::result<std::vector<record_data>> {
          auto rs = self->state.board->history(from, to, prefix);
          if (!rs) return to_caf_error(rs.error());
          return to_record_data(*rs);
        });
      },
      [self](compact_atom, std::uint64_t rev) -> caf::result<void> {
        return guarded("compact", [&]() -> caf::result<void> {
          auto s = self->state.board->compact(rev);
          if (!s) return to_caf_error(s.error());
          return caf::unit;
        });
      },
      [self](watch_atom, const std::string& prefix, std::uint64_t from_revision,
             std::uint64_t credit) -> caf::result<std::uint64_t> {
        return guarded("watch", [&] { return open_watch(self, prefix, from_revision, credit); });
      },
      [self](credit_atom, std::uint64_t id, std::uint64_t n) {
        auto it = self->state.watches.find(id);
        if (it == self->state.watches.end()) return;
        auto& credit = it->second.credit;
        credit = n > std::numeric_limits<std::uint64_t>::max() - credit
                     ? std::numeric_limits<std::uint64_t>::max()
                     : credit + n;
        drain(self, id);
      },
      [self](unwatch_atom, std::uint64_t id) -> caf::result<void> {
        close_watch(self, id);
        return caf::unit;
      },
      [self](watches_atom) -> std::uint64_t { return self->state.watches.size(); },
      [self](pump_atom, std::uint64_t id) { drain(self, id); },
  };
}

}  // namespace

blackboard_actor spawn_blackboard(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board) {
  return sys.spawn(blackboard_fun, std::move(board));
}

}  // namespace agora::actors
