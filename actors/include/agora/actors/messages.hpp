/// \file messages.hpp
/// The blackboard protocol's atoms and wire types.
///
/// ```cpp
/// // Reading a key through the blackboard actor from a scoped_actor:
/// self->request(board, rt.request_timeout(), read_atom::value, "runs/1/answer", 0)
///   .receive(
///     [&](const entry_data& e) {
///       auto value = parse_value(e);          // caf::expected<bb::json>
///       if (!value) ...                       // errc::bad_message, names the key
///     },
///     [&](const caf::error& err) { ... });
/// ```
///
/// Every request of the blackboard protocol carries a `trace_context`
/// (tracing.hpp) as its last element, and so do the events of a watch opened
/// with one; an empty (default) context means "not traced". See
/// blackboard_actor.hpp for the messages and docs/actors.md for what the
/// actor does with the context.
///
/// Values travel as JSON text: `entry_data::value` is dumped text, and the
/// `inspect` overloads below write a bb::staged_op's value as text and parse
/// it on arrival without throwing; bad text fails the load with
/// errc::bad_message naming the key. Every type here, and the blackboard
/// types used in messages (staged_op, key_revision, promotion,
/// promote_options, commit_result, key_conflict), is registered by
/// `register_types` (runtime.hpp) under the names listed in docs/actors.md;
/// CAF registers `std::vector<T>` of each along with it. trace_context is
/// registered with tracing.hpp's types.
///
/// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/save_callback.hpp>
#include <caf/meta/type_name.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/scratchpad.hpp"

namespace agora::actors {

// -- atoms of the blackboard protocol (see blackboard_actor.hpp) --------------

using read_atom = caf::atom_constant<caf::atom("read")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using revision_atom = caf::atom_constant<caf::atom("revision")>;
using promote_atom = caf::atom_constant<caf::atom("promote")>;
using history_atom = caf::atom_constant<caf::atom("history")>;
using compact_atom = caf::atom_constant<caf::atom("compact")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
/// Grants a watch more events.
using credit_atom = caf::atom_constant<caf::atom("credit")>;
/// Cancels a watch. Not `cancel`: that verb belongs to tasks.
using unwatch_atom = caf::atom_constant<caf::atom("unwatch")>;
/// Asks how many watches are open.
using watches_atom = caf::atom_constant<caf::atom("watches")>;
/// Blackboard → subscriber: one event of a watch.
using watch_event_atom = caf::atom_constant<caf::atom("watch_evt")>;
/// Blackboard → subscriber: the watch failed and is closed.
using watch_end_atom = caf::atom_constant<caf::atom("watch_end")>;

// -- trace contexts in the blackboard layer ------------------------------------

/// The context as the blackboard stores it with a commit
/// (bb::promote_options::trace, bb::txn_record::trace): trace id high and
/// low, span id, parent span id.
inline bb::trace_tag to_trace_tag(const trace_context& c) noexcept {
  return {c.trace_hi, c.trace_lo, c.span_id, c.parent_span_id};
}
/// The context a commit's record holds; empty when the commit was not traced.
inline trace_context from_trace_tag(const bb::trace_tag& t) noexcept {
  trace_context c;
  c.trace_hi = t[0];
  c.trace_lo = t[1];
  c.span_id = t[2];
  c.parent_span_id = t[3];
  return c;
}

// -- wire types ---------------------------------------------------------------

/// One version of one key, as it crosses the wire (bb::entry shares memory
/// and cannot). An absent key reads as an empty entry_data (key "", value
/// "null"); an erased key in an event is a tombstone (`deleted`, key and
/// mod_revision set, value "null").
struct entry_data {
  std::string key;
  std::string value = "null";  ///< the JSON value as compact text
  std::string author;
  std::uint64_t create_revision = 0;
  std::uint64_t mod_revision = 0;
  std::uint64_t version = 0;
  bool deleted = false;

  /// True for an existing key (neither empty nor a tombstone).
  bool exists() const noexcept { return !key.empty() && !deleted; }

  friend bool operator==(const entry_data& a, const entry_data& b) {
    return a.key == b.key && a.value == b.value && a.author == b.author &&
           a.create_revision == b.create_revision && a.mod_revision == b.mod_revision &&
           a.version == b.version && a.deleted == b.deleted;
  }
  friend bool operator!=(const entry_data& a, const entry_data& b) { return !(a == b); }
};

/// What one transaction did to one key.
struct change_data {
  bb::op_kind kind = bb::op_kind::put;
  entry_data after;  ///< the key's new version (a tombstone for an erase)

  friend bool operator==(const change_data& a, const change_data& b) {
    return a.kind == b.kind && a.after == b.after;
  }
  friend bool operator!=(const change_data& a, const change_data& b) { return !(a == b); }
};

/// One committed transaction, as history and watch events carry it.
struct record_data {
  std::uint64_t revision = 0;
  std::string txn_id;
  std::string author;
  std::int64_t time_us = 0;  ///< commit time, microseconds since the Unix epoch
  std::vector<change_data> changes;  ///< in key order

  friend bool operator==(const record_data& a, const record_data& b) {
    return a.revision == b.revision && a.txn_id == b.txn_id && a.author == b.author &&
           a.time_us == b.time_us && a.changes == b.changes;
  }
  friend bool operator!=(const record_data& a, const record_data& b) { return !(a == b); }
};

/// The wire form of an entry (its value dumped as compact text).
entry_data to_entry_data(const bb::entry& e);
/// The wire form of a transaction record.
record_data to_record_data(const bb::txn_record& r);
/// The wire forms of several entries / records.
std::vector<entry_data> to_entry_data(const std::vector<bb::entry>& es);
std::vector<record_data> to_record_data(const std::vector<bb::txn_record>& rs);

/// Parses JSON text without throwing. Fails with errc::bad_message whose
/// message says what `what` names (e.g. "value of key 'runs/1/x'") and where
/// the text broke.
caf::expected<bb::json> parse_json(const std::string& text, const std::string& what);
/// The entry's value, parsed. Fails with errc::bad_message naming the key.
caf::expected<bb::json> parse_value(const entry_data& e);

namespace detail {

/// Compact JSON text of `value`; fails (never throws) with errc::bad_message
/// when a string in it is not UTF-8. `what` names the value in the message.
caf::error dump_json(const bb::json& value, std::string& out, const std::string& what);
/// Parses `text` into `out`; fails (never throws) with errc::bad_message.
caf::error load_json(const std::string& text, bb::json& out, const std::string& what);
/// errc::bad_message "<field> has no valid value: <n>".
caf::error bad_enum(const char* field, unsigned value);

inline bool valid(bb::op_kind k) noexcept {
  return k >= bb::op_kind::put && k <= bb::op_kind::append;
}
inline bool valid(bb::isolation i) noexcept {
  return i == bb::isolation::serializable || i == bb::isolation::blind;
}

}  // namespace detail

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entry_data& x) {
  return f(caf::meta::type_name("agora_entry_data"), x.key, x.value, x.author,
           x.create_revision, x.mod_revision, x.version, x.deleted);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change_data& x) {
  auto check = caf::meta::load_callback([&]() -> caf::error {
    if (!detail::valid(x.kind)) return detail::bad_enum("change_data.kind", unsigned(x.kind));
    return caf::none;
  });
  return f(caf::meta::type_name("agora_change_data"), x.kind, x.after, check);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_data& x) {
  return f(caf::meta::type_name("agora_record_data"), x.revision, x.txn_id, x.author,
           x.time_us, x.changes);
}

}  // namespace agora::actors

namespace agora::bb {

// Wire forms of the blackboard's own types. They live in agora::bb so that
// CAF finds them by argument-dependent lookup.

/// The value travels as compact JSON text and is parsed on arrival; bad
/// text (or a value that cannot be written as text: a string that is not
/// UTF-8) fails with actors::errc::bad_message naming the key.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, staged_op& x) {
  std::string text;
  caf::error dump_error;
  if constexpr (Inspector::reads_state)
    dump_error = actors::detail::dump_json(x.value, text, "staged value of key '" + x.key + "'");
  auto on_save = caf::meta::save_callback([&]() -> caf::error { return dump_error; });
  auto on_load = caf::meta::load_callback([&]() -> caf::error {
    if (!actors::detail::valid(x.kind))
      return actors::detail::bad_enum("staged_op.kind", unsigned(x.kind));
    return actors::detail::load_json(text, x.value, "staged value of key '" + x.key + "'");
  });
  return f(caf::meta::type_name("agora_staged_op"), on_save, x.kind, x.key, text, on_load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_revision& x) {
  return f(caf::meta::type_name("agora_key_revision"), x.key, x.mod_revision);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, promotion& x) {
  return f(caf::meta::type_name("agora_promotion"), x.author, x.base_revision, x.ops, x.reads,
           x.ranges, x.expects);
}

/// `trace` does not travel: the blackboard actor sets it from the request's
/// trace_context (blackboard_actor.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, promote_options& x) {
  auto check = caf::meta::load_callback([&]() -> caf::error {
    if (!actors::detail::valid(x.isolation))
      return actors::detail::bad_enum("promote_options.isolation", unsigned(x.isolation));
    return caf::none;
  });
  return f(caf::meta::type_name("agora_promote_options"), x.txn_id, x.isolation, check);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, commit_result& x) {
  // size_t is not a wire type everywhere; a fixed width is.
  std::uint64_t changes = x.changes;
  auto on_load = caf::meta::load_callback([&]() -> caf::error {
    x.changes = static_cast<std::size_t>(changes);
    return caf::none;
  });
  return f(caf::meta::type_name("agora_commit_result"), x.revision, x.txn_id, x.replayed,
           changes, on_load);
}

}  // namespace agora::bb
