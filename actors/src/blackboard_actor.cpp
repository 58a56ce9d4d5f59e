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

#include "agora/actors/runtime.hpp"

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
  /// Opened with the traced form: events carry a trace_context.
  bool traced = false;
  /// What the watch request propagated; watch_end carries it.
  trace_context context;
};

struct blackboard_state {
  std::shared_ptr<bb::blackboard> board;
  /// Null unless spans are recorded: the one check untraced work pays.
  tracer* spans = nullptr;
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

// -- spans --------------------------------------------------------------------

/// The span of a traced request, a child of `ctx`; inactive (and free) when
/// the actor records no spans or the request is not traced.
span start_span(self_ptr self, const char* name, const trace_context& ctx,
                const std::string& agent = std::string()) {
  if (!self->state.spans || !ctx.valid()) return span{};
  span s = self->state.spans->start(name, ctx, agent);
  s.set("agora.status", std::string("ok"));  // a failure overwrites it
  return s;
}

/// What a request propagates to the messages it causes: its span's context
/// when it has one, else the context it came with.
const trace_context& propagated(const span& s, const trace_context& ctx) {
  return s.active() ? s.context() : ctx;
}

void set_number(span& s, const char* key, std::uint64_t value) {
  if (s.active()) s.set(key, static_cast<std::int64_t>(value));
}

void set_text(span& s, const char* key, const std::string& value) {
  if (s.active()) s.set(key, value);
}

/// Marks the span failed with a blackboard error and returns it for the
/// requester.
caf::error failed(span& s, const bb::error& e) {
  if (s.active()) {
    s.set("agora.status", std::string(bb::to_string(e.code)));
    if (!e.conflicts.empty()) {
      std::string keys;
      for (const auto& c : e.conflicts) keys += (keys.empty() ? "" : ",") + c.key;
      s.set("agora.conflicts", std::move(keys));
    }
    s.fail(bb::to_string(e));
  }
  return to_caf_error(e);
}

/// Runs a handler body; an exception becomes errc::internal for the
/// requester (and fails the span) instead of killing the actor.
template <class F>
auto guarded(const char* what, span& s, F&& body) -> decltype(body()) {
  caf::error err;
  try {
    return body();
  } catch (const std::exception& e) {
    err = internal_error(what, e.what());
  } catch (...) {
    err = internal_error(what, "unknown exception");
  }
  if (s.active()) {
    s.set("agora.status", std::string("internal"));
    s.fail(render(err));
  }
  return err;
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

/// Sends the subscriber of watch `id` as many events as its credit allows;
/// returns how many it sent.
std::size_t drain(self_ptr self, std::uint64_t id) {
  auto it = self->state.watches.find(id);
  if (it == self->state.watches.end()) return 0;
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
      if (!*next) return sent;  // caught up: the watch's on_ready pumps again
      const bb::txn_record& rec = **next;
      if (slot.traced)
        deliver(self, subscriber, watch_event_atom::value, id, to_record_data(rec),
                from_trace_tag(rec.trace));
      else
        deliver(self, subscriber, watch_event_atom::value, id, to_record_data(rec));
      --slot.credit;
      ++sent;
    }
  } catch (const std::exception& e) {
    failure = internal_error("watch delivery", e.what());
  } catch (...) {
    failure = internal_error("watch delivery", "unknown exception");
  }
  if (failure) {
    if (slot.traced)
      deliver(self, subscriber, watch_end_atom::value, id, std::move(failure), slot.context);
    else
      deliver(self, subscriber, watch_end_atom::value, id, std::move(failure));
    close_watch(self, id);
    return sent;
  }
  // Stopped by the batch limit with credit left: continue after whatever
  // else waits in the mailbox.
  if (slot.credit > 0) self->send(self, pump_atom::value, id);
  return sent;
}

caf::result<std::uint64_t> open_watch(self_ptr self, const std::string& prefix,
                                      std::uint64_t from_revision, std::uint64_t credit,
                                      bool traced, const trace_context& context, span& s) {
  caf::strong_actor_ptr subscriber = self->current_sender();
  if (!subscriber) {
    auto err = caf::make_error(errc::bad_message,
                               "watch needs a sender to deliver events to (use request, not "
                               "anon_send)");
    if (s.active()) {
      s.set("agora.status", std::string("bad_message"));
      s.fail(render(err));
    }
    return err;
  }
  auto opened = self->state.board->watch(prefix, from_revision);
  if (!opened) return failed(s, opened.error());
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
  self->state.watches.emplace(
      id, watch_slot{std::move(*opened), std::move(subscriber), credit, traced, context});
  set_number(s, "agora.watch", id);
  if (self->state.subscribers[addr]++ == 0) self->monitor(addr);
  // Events go out after the reply: the first pump is a message, handled
  // once this handler has returned the id.
  if (credit > 0) self->send(self, pump_atom::value, id);
  return id;
}

// -- requests -------------------------------------------------------------------
// One function per request; the traced and the untraced (deprecated) form
// of a message both land here, the latter with an empty context. Called
// qualified, so that no read() or list() found by argument-dependent lookup
// gets in the way.

namespace requests {

caf::result<entry_data> read(self_ptr self, const std::string& key, std::uint64_t rev,
                             const trace_context& ctx) {
  span s = start_span(self, "bb.read", ctx);
  return guarded("read", s, [&]() -> caf::result<entry_data> {
    set_text(s, "agora.key", key);
    auto snap = snapshot_at(*self->state.board, rev);
    if (!snap) return failed(s, snap.error());
    set_number(s, "agora.revision", snap->revision());
    auto e = snap->get(key);
    if (!e) return failed(s, e.error());
    set_number(s, "agora.mod_revision", e->mod_revision());
    return to_entry_data(*e);
  });
}

caf::result<std::vector<entry_data>> list(self_ptr self, const std::string& prefix,
                                          std::uint64_t rev, const trace_context& ctx) {
  span s = start_span(self, "bb.list", ctx);
  return guarded("list", s, [&]() -> caf::result<std::vector<entry_data>> {
    set_text(s, "agora.prefix", prefix);
    auto snap = snapshot_at(*self->state.board, rev);
    if (!snap) return failed(s, snap.error());
    set_number(s, "agora.revision", snap->revision());
    auto es = snap->list(prefix);
    if (!es) return failed(s, es.error());
    set_number(s, "agora.keys", es->size());
    return to_entry_data(*es);
  });
}

std::uint64_t revision(self_ptr self, const trace_context& ctx) {
  span s = start_span(self, "bb.revision", ctx);
  const std::uint64_t rev = self->state.board->revision();
  set_number(s, "agora.revision", rev);
  return rev;
}

caf::result<bb::commit_result> promote(self_ptr self, bb::promotion& p, bb::promote_options opts,
                                       const trace_context& ctx) {
  span s = start_span(self, "bb.promote", ctx, p.author);
  return guarded("promote", s, [&]() -> caf::result<bb::commit_result> {
    // The commit's record keeps what this request propagates; the watch
    // events of its revision carry it. What the sender put there is ignored.
    opts.trace = to_trace_tag(propagated(s, ctx));
    if (s.active()) {
      set_text(s, "agora.txn_id", opts.txn_id);
      set_number(s, "agora.base_revision", p.base_revision);
      set_number(s, "agora.ops", p.ops.size());
    }
    auto r = self->state.board->promote(std::move(p), opts);
    if (!r) return failed(s, r.error());
    if (s.active()) {
      set_number(s, "agora.revision", r->revision);
      set_number(s, "agora.keys", r->changes);
      if (r->replayed) set_number(s, "agora.replayed", 1);
    }
    return std::move(*r);
  });
}

caf::result<std::vector<record_data>> history(self_ptr self, std::uint64_t from,
                                              std::uint64_t to, const std::string& prefix,
                                              const trace_context& ctx) {
  span s = start_span(self, "bb.history", ctx);
  return guarded("history", s, [&]() -> caf::result<std::vector<record_data>> {
    if (s.active()) {
      set_number(s, "agora.from", from);
      set_number(s, "agora.to", to);
      set_text(s, "agora.prefix", prefix);
    }
    auto rs = self->state.board->history(from, to, prefix);
    if (!rs) return failed(s, rs.error());
    set_number(s, "agora.records", rs->size());
    return to_record_data(*rs);
  });
}

caf::result<void> compact(self_ptr self, std::uint64_t rev, const trace_context& ctx) {
  span s = start_span(self, "bb.compact", ctx);
  return guarded("compact", s, [&]() -> caf::result<void> {
    set_number(s, "agora.revision", rev);
    auto done = self->state.board->compact(rev);
    if (!done) return failed(s, done.error());
    return caf::unit;
  });
}

caf::result<std::uint64_t> watch(self_ptr self, const std::string& prefix,
                                 std::uint64_t from_revision, std::uint64_t credit, bool traced,
                                 const trace_context& ctx) {
  span s = start_span(self, "bb.watch", ctx);
  return guarded("watch", s, [&]() -> caf::result<std::uint64_t> {
    if (s.active()) {
      set_text(s, "agora.prefix", prefix);
      set_number(s, "agora.from_revision", from_revision);
      set_number(s, "agora.credit", credit);
    }
    return open_watch(self, prefix, from_revision, credit, traced, propagated(s, ctx), s);
  });
}

void credit(self_ptr self, std::uint64_t id, std::uint64_t n, const trace_context& ctx) {
  span s = start_span(self, "bb.credit", ctx);
  set_number(s, "agora.watch", id);
  set_number(s, "agora.credit", n);
  auto it = self->state.watches.find(id);
  if (it == self->state.watches.end()) {
    set_text(s, "agora.status", "unknown_watch");  // ignored, as documented
    return;
  }
  auto& granted = it->second.credit;
  granted = n > std::numeric_limits<std::uint64_t>::max() - granted
                ? std::numeric_limits<std::uint64_t>::max()
                : granted + n;
  set_number(s, "agora.events", drain(self, id));
}

caf::result<void> unwatch(self_ptr self, std::uint64_t id, const trace_context& ctx) {
  span s = start_span(self, "bb.unwatch", ctx);
  set_number(s, "agora.watch", id);
  close_watch(self, id);
  return caf::unit;
}

std::uint64_t watches(self_ptr self, const trace_context& ctx) {
  span s = start_span(self, "bb.watches", ctx);
  set_number(s, "agora.watches", self->state.watches.size());
  return self->state.watches.size();
}

}  // namespace requests

blackboard_impl::behavior_type blackboard_fun(self_ptr self, std::shared_ptr<bb::blackboard> board,
                                              blackboard_actor_options opts) {
  self->state.board = board ? std::move(board) : std::make_shared<bb::blackboard>();
  if (opts.tracer && opts.tracer->enabled()) self->state.spans = opts.tracer;
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
      // -- traced forms --
      [self](read_atom, const std::string& key, std::uint64_t rev, const trace_context& ctx) {
        return requests::read(self, key, rev, ctx);
      },
      [self](list_atom, const std::string& prefix, std::uint64_t rev, const trace_context& ctx) {
        return requests::list(self, prefix, rev, ctx);
      },
      [self](revision_atom, const trace_context& ctx) { return requests::revision(self, ctx); },
      [self](promote_atom, bb::promotion& p, const bb::promote_options& o,
             const trace_context& ctx) { return requests::promote(self, p, o, ctx); },
      [self](history_atom, std::uint64_t from, std::uint64_t to, const std::string& prefix,
             const trace_context& ctx) { return requests::history(self, from, to, prefix, ctx); },
      [self](compact_atom, std::uint64_t rev, const trace_context& ctx) {
        return requests::compact(self, rev, ctx);
      },
      [self](watch_atom, const std::string& prefix, std::uint64_t from_revision,
             std::uint64_t initial_credit, const trace_context& ctx) {
        return requests::watch(self, prefix, from_revision, initial_credit, true, ctx);
      },
      [self](credit_atom, std::uint64_t id, std::uint64_t n, const trace_context& ctx) {
        requests::credit(self, id, n, ctx);
      },
      [self](unwatch_atom, std::uint64_t id, const trace_context& ctx) {
        return requests::unwatch(self, id, ctx);
      },
      [self](watches_atom, const trace_context& ctx) { return requests::watches(self, ctx); },
      // -- untraced forms (deprecated) --
      [self](read_atom, const std::string& key, std::uint64_t rev) {
        return requests::read(self, key, rev, trace_context{});
      },
      [self](list_atom, const std::string& prefix, std::uint64_t rev) {
        return requests::list(self, prefix, rev, trace_context{});
      },
      [self](revision_atom) { return requests::revision(self, trace_context{}); },
      [self](promote_atom, bb::promotion& p, const bb::promote_options& o) {
        return requests::promote(self, p, o, trace_context{});
      },
      [self](history_atom, std::uint64_t from, std::uint64_t to, const std::string& prefix) {
        return requests::history(self, from, to, prefix, trace_context{});
      },
      [self](compact_atom, std::uint64_t rev) {
        return requests::compact(self, rev, trace_context{});
      },
      [self](watch_atom, const std::string& prefix, std::uint64_t from_revision,
             std::uint64_t initial_credit) {
        return requests::watch(self, prefix, from_revision, initial_credit, false,
                               trace_context{});
      },
      [self](credit_atom, std::uint64_t id, std::uint64_t n) {
        requests::credit(self, id, n, trace_context{});
      },
      [self](unwatch_atom, std::uint64_t id) {
        return requests::unwatch(self, id, trace_context{});
      },
      [self](watches_atom) { return requests::watches(self, trace_context{}); },
      // -- internal --
      [self](pump_atom, std::uint64_t id) { drain(self, id); },
  };
}

}  // namespace

blackboard_actor spawn_blackboard(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                  blackboard_actor_options opts) {
  return sys.spawn(blackboard_fun, std::move(board), opts);
}

blackboard_actor spawn_blackboard(runtime& rt, std::shared_ptr<bb::blackboard> board,
                                  blackboard_actor_options opts) {
  if (!opts.tracer) opts.tracer = &rt.tracer();
  auto a = spawn_blackboard(rt.system(), std::move(board), opts);
  rt.adopt(caf::actor_cast<caf::actor_addr>(a), "blackboard");
  return a;
}

}  // namespace agora::actors
