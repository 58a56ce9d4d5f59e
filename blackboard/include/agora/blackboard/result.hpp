/// \file result.hpp
/// The blackboard layer's error vocabulary and its value-or-error type.
///
/// ```cpp
/// agora::bb::result<agora::bb::entry> r = snap.get("runs/1/answer");
/// if (!r) {
///   std::cerr << to_string(r.error()) << "\n";   // "invalid_key: key 'a//b' ..."
///   return;
/// }
/// if (r->exists()) use(r->value());
/// ```
///
/// Thread-safety: values; no shared state.
#pragma once

#include <cassert>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace agora::bb {

/// Why a blackboard operation failed. Starts at 1: 0 means "no error" to CAF,
/// which carries these codes across actor boundaries.
enum class errc : std::uint8_t {
  invalid_key = 1,     ///< malformed key or prefix (empty, empty segment, control char, bad UTF-8)
  invalid_value,       ///< value is not storable JSON (NaN, infinity, bad UTF-8)
  limit_exceeded,      ///< a configured limit was passed; the message names limit and value
  invalid_argument,    ///< a malformed argument other than a key or value (pattern, merge patch, revision range)
  invalid_contract,    ///< a contract schema could not be compiled; the message names the schema path
  type_mismatch,       ///< an append onto a value that is not an array
  compacted,           ///< the revision asked for lies below the compaction point
  future_revision,     ///< the revision asked for has not been committed yet
  conflict,            ///< something the scratchpad read changed since its snapshot; see error::conflicts
  forbidden,           ///< the author may not write the key (ACL)
  unknown_agent,       ///< the author is not registered and access control requires it
  contract_violation,  ///< a written value breaks the contract of its key; see error::key, error::path
  duplicate_txn,       ///< the transaction id was committed before with different content
  watch_closed,        ///< the watch was cancelled or its blackboard destroyed
  io_error,            ///< a durable blackboard could not write or read its file; after a write
                       ///< failure it refuses writes (stays readable) until reopened
  corrupt,             ///< a durable blackboard's file is not a valid Agora log (names the file and what is wrong)
  unavailable,         ///< a service the work needs failed or refused for now (a model server: rate limit,
                       ///< timeout, 5xx, transport, open circuit); see error::origin and the retry hint
};

/// The name of a code, e.g. "conflict".
const char* to_string(errc code) noexcept;

/// One key whose revision moved between a scratchpad's snapshot and its
/// promotion. `seen_revision` is the key's mod_revision in the snapshot (0 =
/// absent there); `current_revision` its mod_revision now (0 = absent now).
struct key_conflict {
  std::string key;
  std::uint64_t seen_revision = 0;
  std::uint64_t current_revision = 0;
  /// The prefix range whose read this key invalidated; empty for a point read.
  std::string range;
  friend bool operator==(const key_conflict& a, const key_conflict& b) {
    return a.key == b.key && a.seen_revision == b.seen_revision &&
           a.current_revision == b.current_revision && a.range == b.range;
  }
};

/// A failure with everything a caller needs to act on it. `message` is for
/// people and names the offending input; the other fields are for code.
struct error {
  errc code = errc::invalid_argument;
  std::string message;
  /// The key the error is about, when there is one.
  std::string key;
  /// JSON pointer into the value (contract violations, invalid values), e.g. "/votes/2".
  std::string path;
  /// For errc::conflict: every key that changed, in key order.
  std::vector<key_conflict> conflicts;
  /// When the error comes from a layer with its own codes: that layer
  /// ("llm": a model call) and its code's name ("rate_limited", "quota",
  /// "timeout", ... — agora::llm_errc). They survive the agent boundary and
  /// the wire, so a supervisor tells a rate limit from a bad argument.
  /// Empty for the blackboard's own errors.
  std::string origin;
  std::string origin_code;
  /// The retry hint: trying the same work again may succeed (a rate limit,
  /// a timeout, a server error) — after `retry_after` when the source said
  /// how long. Supervisors and dispatchers read it.
  bool retryable = false;
  std::optional<std::chrono::milliseconds> retry_after;

  error() = default;
  error(errc c, std::string msg) : code(c), message(std::move(msg)) {}
  error(errc c, std::string msg, std::string k, std::string p = {})
      : code(c), message(std::move(msg)), key(std::move(k)), path(std::move(p)) {}
};

/// "<code>: <message>", e.g. "conflict: 1 key changed since revision 4: 'a' (4 -> 7)".
std::string to_string(const error& e);

/// A value of type T, or the error that prevented it. Check before use:
/// `value()` asserts in debug builds and is undefined on an error.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  result(bb::error e) : v_(std::in_place_index<1>, std::move(e)) {}   // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only valid when `!ok()`.
  const bb::error& error() const { assert(!ok()); return std::get<1>(v_); }
  bb::error&& take_error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, bb::error> v_;
};

/// Success, or the error that prevented it.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(bb::error e) : e_(std::move(e)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const bb::error& error() const { assert(!ok()); return *e_; }
  bb::error&& take_error() && { assert(!ok()); return std::move(*e_); }

 private:
  std::optional<bb::error> e_;
};

using status = result<void>;

}  // namespace agora::bb
