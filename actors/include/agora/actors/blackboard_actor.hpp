/// \file blackboard_actor.hpp
/// The blackboard actor: one blackboard behind a typed actor interface, for
/// nodes that reach it through CAF (remote workers, orchestrators).
///
/// ```cpp
/// auto board = std::make_shared<agora::bb::blackboard>();
/// blackboard_actor bb = spawn_blackboard(rt, board);   // traces with rt.tracer()
/// caf::scoped_actor self{rt.system()};
///
/// agora::bb::promotion p;                        // or scratchpad::to_promotion()
/// p.author = "debater/alice";
/// p.ops.push_back({agora::bb::op_kind::put, "runs/1/answer", 42});
/// trace_context ctx = task.trace;                // trace_context{} = not traced
/// self->request(bb, rt.request_timeout(), promote_atom::value, p,
///               agora::bb::promote_options{}, ctx)
///   .receive([](const agora::bb::commit_result& r) { ... },
///            [](const caf::error& err) {
///              auto e = from_caf_error(err);    // code, message, key, path, conflicts
///            });
///
/// // A watch streams events to the actor that asked for it, `credit` at a time:
/// self->request(bb, rt.request_timeout(), watch_atom::value, std::string("runs/1"),
///               std::uint64_t{0}, std::uint64_t{16}, ctx)
///   .receive([&](std::uint64_t id) { watch_id = id; }, ...);
/// self->receive([&](watch_event_atom, std::uint64_t id, const record_data& rec,
///                   const trace_context& commit) {   // the committing promotion's
///   ...;                                                   // handle, then
///   self->send(bb, credit_atom::value, id, std::uint64_t{1}, ctx);  // ask for one more
/// });
///
/// caf::anon_send_exit(bb, caf::exit_reason::user_shutdown);  // lets the system shut down
/// ```
///
/// Trace contexts: every request carries a trace_context as its last
/// element; an empty (default) one means "not traced". When the actor has a
/// tracer (blackboard_actor_options::tracer, or the runtime's with
/// `spawn_blackboard(rt, ...)`) it records one span per traced request,
/// named `bb.<request>` ("bb.read", "bb.promote", ...), as a child of the
/// request's context; untraced requests, and every request when it has no
/// tracer, cost a pointer check. A promotion's commit remembers the context
/// it propagates — the bb.promote span's when the actor records one, else
/// the request's own — in its bb::txn_record::trace, and every watch event
/// for that revision carries it, so a watcher's work links to the commit
/// that caused it. Commits made directly on the bb::blackboard carry
/// whatever bb::promote_options::trace their caller set (empty by default).
///
/// Compatibility: the interface still accepts each request without the
/// context (untraced_blackboard_actor below), so code written before trace
/// contexts keeps compiling and working. Those forms are deprecated and will
/// be removed in a later release; Agora's own senders use the traced forms,
/// and holding a traced_blackboard_actor (a blackboard_actor converts to it)
/// makes the compiler refuse an untraced request. A watch opened with the
/// untraced form gets its events in the old shape, without a context.
///
/// Errors reach the requester as caf::error: blackboard failures in category
/// agora_bb via to_caf_error (from_caf_error recovers code, message, key,
/// JSON path and conflicting keys), the actor's own in category agora_act
/// (errors.hpp). No exception escapes a handler: an unexpected one becomes
/// errc::internal.
///
/// In-process agents may also use the (thread-safe) bb::blackboard directly;
/// the actor and direct callers see the same revisions, and watches opened
/// through the actor see commits made either way.
///
/// Flow control: each watch has a credit, the number of events the
/// subscriber is still willing to receive. The actor sends an event only
/// against credit, so at most the granted credit of undelivered events is in
/// flight to a subscriber, whatever the commit rate. Events the subscriber
/// has not asked for yet stay in the blackboard's bounded watch buffer;
/// past it the watch falls back to history (blackboard_options::watch_buffer),
/// so no mailbox and no buffer grows without bound. A subscriber that lags
/// so far that the history it needs is compacted gets watch_end with
/// bb::errc::compacted (noticed the next time it has credit).
///
/// Lifetime: the actor runs until it receives an exit message with a
/// non-normal reason (`caf::exit_reason::user_shutdown` or `kill`); CAF
/// ignores an exit with reason `normal`. The actor_system cannot shut down
/// before it has quit. Its watches close with it; the blackboard object lives
/// on as long as someone else holds it.
///
/// Thread-safety: it is an actor; its handle may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "agora/actors/messages.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora::actors {

class runtime;

/// The blackboard protocol with a trace context on every request. `rev` 0
/// means the latest revision throughout; `ctx` is the sender's current
/// trace context, empty = not traced (see the file comment).
using traced_blackboard_actor = caf::typed_actor<
    // read(key, rev, ctx): the key as of `rev`; an absent key replies an
    // empty entry_data (exists() false). Fails with bb::errc::invalid_key,
    // compacted, future_revision.
    caf::replies_to<read_atom, std::string, std::uint64_t, trace_context>::with<entry_data>,

    // list(prefix, rev, ctx): every existing key under `prefix` (whole
    // segments; "" = all) as of `rev`, in key order. Fails like read.
    caf::replies_to<list_atom, std::string, std::uint64_t, trace_context>::with<
        std::vector<entry_data>>,

    // revision(ctx): the latest committed revision (0 for an empty board).
    caf::replies_to<revision_atom, trace_context>::with<std::uint64_t>,

    // promote(promotion, options, ctx): validates and commits; replies with
    // the commit result. options.trace is ignored: the commit records the
    // context this request propagates (file comment). Fails with
    // bb::errc::conflict (error.conflicts lists the keys), forbidden,
    // unknown_agent, contract_violation (key, path), duplicate_txn,
    // limit_exceeded, type_mismatch, invalid_key, invalid_value,
    // invalid_argument, compacted, future_revision.
    caf::replies_to<promote_atom, bb::promotion, bb::promote_options, trace_context>::with<
        bb::commit_result>,

    // history(from, to, prefix, ctx): committed transactions from <=
    // revision <= to (clamped to the latest), each reduced to its changes
    // under prefix. Fails with bb::errc::compacted, invalid_argument (from 0
    // or > to), invalid_key.
    caf::replies_to<history_atom, std::uint64_t, std::uint64_t, std::string,
                    trace_context>::with<std::vector<record_data>>,

    // compact(rev, ctx): forgets what only revisions below `rev` need;
    // replies with an empty message. Fails with bb::errc::future_revision.
    caf::reacts_to<compact_atom, std::uint64_t, trace_context>,

    // watch(prefix, from_revision, initial_credit, ctx): opens a watch for
    // the sender (the subscriber) and replies with its id. From then on the
    // subscriber receives, in revision order with no gaps and no
    // duplicates, one (watch_event_atom, id, record_data, trace_context)
    // per revision that wrote under prefix — never more than its credit;
    // the context is the committing promotion's (empty when it was not
    // traced). from_revision 0 = from the next commit on. If the watch
    // fails the subscriber receives (watch_end_atom, id, caf::error,
    // trace_context) — the context the watch request propagated — and the
    // watch is gone. A subscriber that goes down loses its watches. Fails
    // with bb::errc::compacted, future_revision, invalid_key;
    // errc::bad_message without a sender.
    caf::replies_to<watch_atom, std::string, std::uint64_t, std::uint64_t,
                    trace_context>::with<std::uint64_t>,

    // credit(id, n, ctx): grants the watch n more events. Anyone holding the
    // id may grant; an unknown id is ignored. No reply.
    caf::reacts_to<credit_atom, std::uint64_t, std::uint64_t, trace_context>,

    // unwatch(id, ctx): closes the watch; no event is sent for it after the
    // reply (events sent before may still be in the subscriber's mailbox).
    // Replies with an empty message; an unknown or already closed id
    // succeeds too.
    caf::reacts_to<unwatch_atom, std::uint64_t, trace_context>,

    // watches(ctx): the number of open watches.
    caf::replies_to<watches_atom, trace_context>::with<std::uint64_t>>;

/// Deprecated: the same requests without a trace context, answered as if
/// they carried an empty one. Kept so that code written before trace
/// contexts compiles; to be removed in a later release. A watch opened this
/// way sends its events as (watch_event_atom, id, record_data) and
/// (watch_end_atom, id, caf::error), without a context.
using untraced_blackboard_actor = caf::typed_actor<
    caf::replies_to<read_atom, std::string, std::uint64_t>::with<entry_data>,
    caf::replies_to<list_atom, std::string, std::uint64_t>::with<std::vector<entry_data>>,
    caf::replies_to<revision_atom>::with<std::uint64_t>,
    caf::replies_to<promote_atom, bb::promotion, bb::promote_options>::with<bb::commit_result>,
    caf::replies_to<history_atom, std::uint64_t, std::uint64_t, std::string>::with<
        std::vector<record_data>>,
    caf::reacts_to<compact_atom, std::uint64_t>,
    caf::replies_to<watch_atom, std::string, std::uint64_t, std::uint64_t>::with<std::uint64_t>,
    caf::reacts_to<credit_atom, std::uint64_t, std::uint64_t>,
    caf::reacts_to<unwatch_atom, std::uint64_t>,
    caf::replies_to<watches_atom>::with<std::uint64_t>>;

/// Serializes all access to one blackboard. Thread-safe: it is an actor.
/// Accepts both forms; converts to either part implicitly.
using blackboard_actor = traced_blackboard_actor::extend_with<untraced_blackboard_actor>;

/// How a blackboard actor records what it does.
struct blackboard_actor_options {
  /// When set and enabled: a span per traced request (file comment). Not
  /// owned; must outlive the actor.
  actors::tracer* tracer = nullptr;
};

/// Spawns a blackboard actor serving `board` (a new default blackboard
/// when null). The actor shares `board` with any other holder.
blackboard_actor spawn_blackboard(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                  blackboard_actor_options opts = {});

/// The same on a runtime's actor system; its tracer is used unless `opts`
/// names another.
blackboard_actor spawn_blackboard(runtime& rt, std::shared_ptr<bb::blackboard> board,
                                  blackboard_actor_options opts = {});

}  // namespace agora::actors
