/// \file scratchpad.hpp
/// An agent's private staging area, and the promotion it turns into.
///
/// ```cpp
/// auto sp = board.begin("debater/alice");          // on the latest snapshot
/// auto votes = sp.get("runs/1/votes");             // read (recorded)
/// if (auto s = sp.put("runs/1/answer/alice", {{"answer", 42}}); !s) ...
/// if (auto s = sp.append("runs/1/log", "alice answered"); !s) ...
/// auto r = board.promote(sp);                      // result<commit_result>
/// ```
/// Reads through a scratchpad see its snapshot plus its own staged writes,
/// and are recorded: each key with the mod_revision it had (absent
/// included), each listed prefix as a range. Under serializable isolation a
/// promotion whose recorded reads changed after the snapshot is rejected with
/// the changed keys. Staged writes are visible to nobody else.
///
/// `put` and `erase` do not read. `merge` and `append` depend on the current
/// value: on a key not declared mergeable they count as a read of it; on a
/// mergeable key they are applied to whatever value is current at commit and
/// never conflict. Reads through `base()` are not recorded.
///
/// Thread-safety: not thread-safe; one owner at a time. Cheap to move.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/options.hpp"
#include "agora/blackboard/result.hpp"
#include "agora/blackboard/snapshot.hpp"

namespace agora::bb {

/// One staged operation. `value` is the new value (put), the merge patch
/// (merge), the element (append), or null (erase).
struct staged_op {
  op_kind kind = op_kind::put;
  std::string key;
  json value;
};

/// A key and a mod_revision: a recorded read (0 = absent) or an expectation.
struct key_revision {
  std::string key;
  std::uint64_t mod_revision = 0;
};

/// Everything a promotion needs, as plain data: what a scratchpad becomes,
/// and what crosses a process boundary. The blackboard validates every field
/// of a promotion it did not build itself.
struct promotion {
  std::string author;
  std::uint64_t base_revision = 0;
  std::vector<staged_op> ops;
  std::vector<key_revision> reads;    ///< point reads
  std::vector<std::string> ranges;    ///< prefix reads
  std::vector<key_revision> expects;  ///< pinned keys: must still be at this mod_revision
};

class blackboard;

class scratchpad {
 public:
  /// Usually obtained from blackboard::begin.
  scratchpad(bb::snapshot base, std::string author, const bb::limits& lim);

  const bb::snapshot& base() const noexcept { return base_; }
  std::uint64_t base_revision() const noexcept { return base_.revision(); }
  const std::string& author() const noexcept { return p_.author; }

  /// The key as this scratchpad sees it. Records the read unless the value
  /// comes wholly from a staged put or erase. Errors as snapshot::get.
  result<entry> get(std::string_view key);

  /// The prefix's subtree as this scratchpad sees it; records the range.
  result<std::vector<entry>> list(std::string_view prefix);

  /// Stages a replacement. Fails with errc::invalid_key, errc::invalid_value,
  /// errc::limit_exceeded; a failed call stages nothing.
  status put(std::string_view key, json value);
  /// Stages a removal (of an absent key: no effect at commit).
  status erase(std::string_view key);
  /// Stages a JSON Merge Patch; `patch` must be an object
  /// (errc::invalid_argument otherwise: use put to replace a value).
  status merge(std::string_view key, json patch);
  /// Stages appending `element` to the array at `key` (absent = []). A
  /// non-array value there fails with errc::type_mismatch, now if the
  /// snapshot shows one, else at promotion.
  status append(std::string_view key, json element);
  /// Pins `key` to `mod_revision` (0 = must be absent): the promotion fails
  /// with errc::conflict unless the key is still there, even when blind.
  status expect(std::string_view key, std::uint64_t mod_revision);

  /// Number of staged operations.
  std::size_t size() const noexcept { return p_.ops.size(); }
  bool empty() const noexcept { return p_.ops.empty(); }

  /// The staged work as plain data (reads in key order).
  promotion to_promotion() const;

 private:
  friend class blackboard;
  status stage(op_kind kind, std::string_view key, json value);
  void record_read(std::string_view key, std::uint64_t mod_revision);
  /// Index of the last put/erase on key, or npos.
  std::size_t last_overwrite(std::string_view key) const noexcept;
  result<entry> view(std::string_view key, bool record);

  static constexpr std::size_t npos_ = static_cast<std::size_t>(-1);

  bb::snapshot base_;
  bb::limits limits_;
  promotion p_;  // reads/ranges kept in the maps below until to_promotion()
  std::unordered_map<std::string, std::uint64_t> reads_;
  std::vector<std::string> ranges_;
};

}  // namespace agora::bb
