/// \file errors.hpp
/// The actor layer's error vocabulary, and how blackboard errors cross actor
/// boundaries without losing meaning.
///
/// ```cpp
/// // In a handler: a blackboard failure becomes the requester's caf::error.
/// auto r = board->promote(p, opts);
/// if (!r) return agora::actors::to_caf_error(r.error());
///
/// // At the requester: all of it comes back.
/// [&](const caf::error& err) {
///   if (agora::actors::is_blackboard_error(err)) {
///     agora::bb::error e = agora::actors::from_caf_error(err);
///     for (const auto& c : e.conflicts) retry_after_rereading(c.key);
///   }
///   log->warn("promote failed: {}", system.render(err));  // "conflict: 1 key changed ..."
/// }
/// ```
///
/// Two CAF error categories exist:
/// - `agora_bb`  (blackboard_category): codes of agora::bb::errc; the context
///   is always (message, key, JSON path, std::vector<bb::key_conflict>,
///   origin, origin_code, retryable, retry_after_ms) — see bb::error.
/// - `agora_act` (actors_category): codes of agora::actors::errc; the context
///   is one std::string, the human-readable message.
///
/// Both are registered with CAF_ERROR_CODE_ENUM, so
/// `caf::make_error(errc::timeout, "...")` builds an error and a handler may
/// return an errc directly. `register_types` in runtime.hpp adds their
/// renderers (add_error_categories below) to every runtime.
///
/// Thread-safety: free functions of values; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>  // CAF_ERROR_CODE_ENUM needs make_message
#include <caf/meta/type_name.hpp>

#include "agora/blackboard/result.hpp"

namespace caf {
class actor_system_config;
}

namespace agora::actors {

/// Why an operation of the actor layer failed. Starts at 1: 0 means "no
/// error" to CAF.
enum class errc : std::uint8_t {
  timeout = 1,        ///< a request got no reply within its timeout
  deadline_exceeded,  ///< the work did not finish before its deadline
  agent_failed,       ///< an agent's logic failed (exception, error outcome)
  circuit_open,       ///< a circuit breaker refuses calls for now
  no_agent,           ///< no agent is registered under the id asked for
  cancelled,          ///< the work was cancelled before it finished
  bad_message,        ///< a message could not be decoded (bad JSON text, missing sender)
  join_refused,       ///< a node refused a worker (token, version)
  node_lost,          ///< the node hosting an actor went away
  unknown_watch,      ///< no open watch has the id given
  internal,           ///< an unexpected exception inside the actor layer; the message names it
};

}  // namespace agora::actors

// Before anything mentions caf::error together with these enums: the macro
// specializes a CAF template that such uses would instantiate.
CAF_ERROR_CODE_ENUM(agora::bb::errc, "agora_bb")
CAF_ERROR_CODE_ENUM(agora::actors::errc, "agora_act")

namespace agora::actors {

/// The name of a code, e.g. "bad_message"; "unknown" for a value out of range.
const char* to_string(errc code) noexcept;

/// CAF category of agora::bb::errc errors.
constexpr caf::atom_value blackboard_category = caf::atom("agora_bb");
/// CAF category of agora::actors::errc errors.
constexpr caf::atom_value actors_category = caf::atom("agora_act");

/// A bb::error as a caf::error of category agora_bb: the code, and a context
/// of (message, key, path, conflicts, origin, origin_code, retryable,
/// retry_after in ms or -1). Nothing is lost: a model call's llm code and
/// retry hint cross actors and nodes as they are.
caf::error to_caf_error(const bb::error& e);

/// The bb::error a caf::error of category agora_bb carries, whole. An error
/// of any other category (a timeout, an actor that went down, errc::*)
/// becomes bb::errc::invalid_argument whose message is `render(err)`;
/// check is_blackboard_error first when that difference matters. A
/// default-constructed (empty) caf::error gives invalid_argument "no error".
bb::error from_caf_error(const caf::error& err);

/// True if `err` is of category agora_bb.
bool is_blackboard_error(const caf::error& err) noexcept;

/// Human-readable text for any error, without an actor_system: our two
/// categories as their renderers print them (e.g. "conflict: 1 key changed
/// since revision 4: 'a' (4 -> 7)", "bad_message: ..."), CAF's own
/// categories (system, exit, parser) by their code names, anything else as
/// caf::to_string does. "" for no error.
std::string render(const caf::error& err);

/// Registers the renderers of both categories with `cfg`, so that
/// `actor_system::render(err)` prints what `render(err)` does. Called by
/// register_types (runtime.hpp); call it yourself only when you build an
/// actor_system_config without agora::actors::runtime.
void add_error_categories(caf::actor_system_config& cfg);

/// Compares an error with a code of this layer: `if (err == errc::timeout)`.
bool operator==(const caf::error& err, errc code) noexcept;
inline bool operator==(errc code, const caf::error& err) noexcept { return err == code; }
inline bool operator!=(const caf::error& err, errc code) noexcept { return !(err == code); }
inline bool operator!=(errc code, const caf::error& err) noexcept { return !(err == code); }

}  // namespace agora::actors

namespace agora::bb {

/// Wire form of a conflict (inside every agora_bb error's context).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_conflict& x) {
  return f(caf::meta::type_name("agora_key_conflict"), x.key, x.seen_revision,
           x.current_revision, x.range);
}

/// Compares an error with a blackboard code: `if (err == bb::errc::conflict)`.
bool operator==(const caf::error& err, errc code) noexcept;
inline bool operator==(errc code, const caf::error& err) noexcept { return err == code; }
inline bool operator!=(const caf::error& err, errc code) noexcept { return !(err == code); }
inline bool operator!=(errc code, const caf::error& err) noexcept { return !(err == code); }

}  // namespace agora::bb
