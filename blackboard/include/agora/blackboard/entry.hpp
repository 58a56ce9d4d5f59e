/// \file entry.hpp
/// What reads, history and watches return: entries (one version of one key)
/// and transaction records.
///
/// Thread-safety: entries share immutable data; copy and read them from any
/// thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace agora::bb {

using json = nlohmann::json;

/// What a staged or committed operation did to a key.
enum class op_kind : std::uint8_t {
  put = 1,  ///< replaced the value
  erase,    ///< removed the key
  merge,    ///< applied a JSON Merge Patch (RFC 7386) to the value
  append,   ///< appended one element to the array value (absent counts as [])
};

/// "put", "erase", "merge" or "append".
const char* to_string(op_kind k) noexcept;

namespace detail {
/// One immutable version of a key, shared by the key's version list, history
/// and every entry handed out. Not part of the API.
struct version_data {
  std::string key;
  json value;
  std::string author;
  std::uint64_t create_revision = 0;
  std::uint64_t mod_revision = 0;
  std::uint64_t version = 0;
  bool deleted = false;   ///< a tombstone: the key was erased at mod_revision
};
}  // namespace detail

/// One version of one key as a reader sees it. An entry read for a key that
/// does not exist is empty: `exists()` is false, `key()` is "" and the
/// revisions are 0. Events for an erased key are tombstones: `exists()` is
/// false, but `key()`, `mod_revision()` (the erasing revision) and `author()`
/// are set. Entries read through a scratchpad for keys it has staged writes
/// for carry the staged value with revisions 0 (not committed yet).
class entry {
 public:
  entry() = default;
  explicit entry(std::shared_ptr<const detail::version_data> d) : d_(std::move(d)) {}

  bool exists() const noexcept { return d_ && !d_->deleted; }
  explicit operator bool() const noexcept { return exists(); }

  const std::string& key() const noexcept { return d_ ? d_->key : empty_string(); }
  /// The value; `null` for an empty entry or a tombstone.
  const json& value() const noexcept { return exists() ? d_->value : null_json(); }
  /// The author of this version (or of the erase, for a tombstone).
  const std::string& author() const noexcept { return d_ ? d_->author : empty_string(); }
  /// Revision at which the key was last created (reset by an erase).
  std::uint64_t create_revision() const noexcept { return d_ ? d_->create_revision : 0; }
  /// Revision of this version.
  std::uint64_t mod_revision() const noexcept { return d_ ? d_->mod_revision : 0; }
  /// Writes to the key since it was created: 1 for a new key.
  std::uint64_t version() const noexcept { return d_ ? d_->version : 0; }

 private:
  static const std::string& empty_string() noexcept;
  static const json& null_json() noexcept;
  std::shared_ptr<const detail::version_data> d_;
};

/// What one committed transaction did to one key.
struct change {
  op_kind kind = op_kind::put;  ///< the last operation the transaction staged on the key
  entry after;                  ///< the key's new version (a tombstone for an erase)
};

/// An opaque tag a promotion carries into the record of its commit
/// (promote_options::trace), so that whoever sees the commit later — in
/// history or through a watch — can link it to the operation that made it.
/// The actor layer stores a trace context there (trace id, span id, parent
/// span id); the blackboard never interprets it. All zero = none.
using trace_tag = std::array<std::uint64_t, 4>;

/// One committed transaction, as history and watches report it.
struct txn_record {
  std::uint64_t revision = 0;
  std::string txn_id;          ///< empty when the promotion had none
  std::string author;
  std::int64_t time_us = 0;    ///< commit time, microseconds since the Unix epoch
  std::vector<change> changes; ///< one per key written, in key order
  trace_tag trace{};           ///< the committing promotion's promote_options::trace
};

}  // namespace agora::bb
