/// \file blackboard.hpp
/// The versioned, transactional blackboard: shared JSON state in which every
/// change is a validated, atomic, numbered transaction.
///
/// ```cpp
/// #include <agora/blackboard/blackboard.hpp>
/// using namespace agora::bb;
///
/// blackboard board;
/// auto sp = board.begin("debater/alice");
/// (void)sp.put("runs/1/answer/alice", {{"answer", 42}});
/// promote_options opts;
/// opts.txn_id = "run1/task7/0";                         // makes a retry safe
/// result<commit_result> r = board.promote(sp, opts);
/// if (!r) std::cerr << to_string(r.error()) << "\n";
/// else    std::cout << "committed at revision " << r->revision << "\n";
///
/// auto then = board.snapshot_at(1);                     // time travel
/// auto log  = board.history(1, board.revision(), "runs/1");
/// ```
///
/// Semantics (see docs/blackboard.md for the whole story):
/// - One global revision, +1 per committed transaction; revision 0 is the
///   empty board. Each key keeps create/mod revision, version and author.
/// - `promote` runs, in order: idempotency (a txn_id committed before with
///   the same content returns the original result; different content fails
///   with errc::duplicate_txn), access control, limits and contracts on every
///   written value, conflict checks (serializable by default: every recorded
///   read must be unchanged; `expect` pins; blind skips reads), then commits
///   all operations atomically under one new revision. A rejected promotion
///   changes nothing. A promotion that writes nothing (or only erases absent
///   keys) commits no revision and returns the current one.
/// - `compact(rev)` drops every version and history record no longer needed
///   to read at revisions >= rev; anything older then fails with
///   errc::compacted. Idempotency records are kept.
///
/// Thread-safety: thread-safe. Commits are serialized; snapshots, history and
/// watches read concurrently with them. Snapshots, scratchpads and watches may
/// outlive the blackboard (watches then close, snapshots still read).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agora/blackboard/contract.hpp"
#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/key.hpp"
#include "agora/blackboard/options.hpp"
#include "agora/blackboard/result.hpp"
#include "agora/blackboard/scratchpad.hpp"
#include "agora/blackboard/snapshot.hpp"
#include "agora/blackboard/watch.hpp"

namespace agora::bb {

/// How a promotion's reads are validated.
enum class isolation : std::uint8_t {
  /// Any recorded read (point or range) that changed after the snapshot
  /// rejects the promotion with errc::conflict listing the changed keys.
  serializable = 1,
  /// Reads are not checked; `expect` pins still are. The snapshot may be
  /// older than the compaction point.
  blind,
};

struct promote_options {
  /// Makes the promotion idempotent: retrying with the same id and content
  /// returns the first result. Empty = not idempotent.
  std::string txn_id;
  bb::isolation isolation = isolation::serializable;
  /// Stored unread in the commit's txn_record::trace (see trace_tag). Not
  /// part of the content idempotency compares: a replay keeps the first
  /// commit's tag.
  trace_tag trace{};
};

struct commit_result {
  /// The revision the promotion committed at (for an idempotent replay: the
  /// original one; for a promotion that wrote nothing: the current one).
  std::uint64_t revision = 0;
  std::string txn_id;
  /// True when this is the stored result of an earlier promotion with the same txn_id.
  bool replayed = false;
  /// Keys written by the commit.
  std::size_t changes = 0;
};

class blackboard {
 public:
  /// An in-memory blackboard.
  explicit blackboard(blackboard_options options = {});
  /// A durable blackboard on the SQLite file `d.path` (created when
  /// missing), rebuilt to its last acknowledged revision. A promotion on it
  /// returns only once its transaction is durable (see sync_mode); the
  /// state, history, snapshots, compaction, idempotency records and watches
  /// behave exactly as in memory and survive restarts. Configuration
  /// (contracts, mergeable patterns, registered agents) is not stored: set
  /// it again after opening. Fails with errc::io_error (the file cannot be
  /// opened or read) or errc::corrupt (it is not an Agora log, or its schema
  /// version is unknown), naming the file. See docs/durability.md.
  static result<std::shared_ptr<blackboard>> open(const durability& d, blackboard_options options = {});
  /// True for a blackboard made by open().
  bool durable() const noexcept;
  /// After a failed write to a durable blackboard's file (disk full, I/O
  /// error): the error every promotion now fails with. The blackboard stays
  /// readable; nothing acknowledged is lost. Empty while writes work.
  std::optional<error> write_failure() const;
  ~blackboard();
  blackboard(const blackboard&) = delete;
  blackboard& operator=(const blackboard&) = delete;

  const blackboard_options& options() const noexcept;

  /// The latest committed revision (0 for an empty board).
  std::uint64_t revision() const noexcept;
  /// The compaction point: revisions below it can no longer be read.
  std::uint64_t compact_revision() const noexcept;

  /// A view of the latest revision. O(1); copies nothing.
  bb::snapshot snapshot() const;
  /// A view of `rev`. Fails with errc::compacted or errc::future_revision.
  result<bb::snapshot> snapshot_at(std::uint64_t rev) const;
  /// Shorthand for snapshot().get(key).
  result<entry> get(std::string_view key) const;

  /// A scratchpad for `author` on the latest snapshot. The author is checked
  /// at promotion (errc::invalid_argument, errc::unknown_agent).
  scratchpad begin(std::string author) const;
  /// A scratchpad for `author` on an older snapshot.
  scratchpad begin(std::string author, bb::snapshot base) const;

  /// Validates and commits a scratchpad (see the file comment for the
  /// steps). Errors: errc::duplicate_txn, errc::invalid_argument (author),
  /// errc::unknown_agent, errc::forbidden, errc::limit_exceeded,
  /// errc::type_mismatch, errc::contract_violation, errc::compacted (snapshot
  /// older than the compaction point, when serializable), errc::conflict.
  result<commit_result> promote(const scratchpad& sp, const promote_options& opts = {});
  /// The same, taking the staged values instead of copying them: cheaper for
  /// large values. The scratchpad is consumed whatever the outcome.
  result<commit_result> promote(scratchpad&& sp, const promote_options& opts = {});
  /// The same for a promotion built elsewhere (for example received from
  /// another process); every field is validated, with errc::invalid_key,
  /// errc::invalid_value, errc::invalid_argument and errc::future_revision
  /// added to the errors above.
  result<commit_result> promote(const promotion& p, const promote_options& opts = {});
  /// The same, taking the values out of `p`; `p` is consumed whatever the outcome.
  result<commit_result> promote(promotion&& p, const promote_options& opts = {});

  /// Committed transactions with from <= revision <= to, in order, each
  /// reduced to its changes under `prefix` (records with none are left out).
  /// `to` is clamped to the latest revision. Fails with errc::compacted when
  /// from < compact_revision(), errc::invalid_argument when from > to or
  /// from == 0, errc::invalid_key for a bad prefix.
  result<std::vector<txn_record>> history(std::uint64_t from, std::uint64_t to = UINT64_MAX,
                                          std::string_view prefix = {}) const;

  /// Forgets what only revisions below `rev` need. Fails with
  /// errc::future_revision when rev > revision(); rev <= compact_revision()
  /// does nothing.
  status compact(std::uint64_t rev);

  /// Streams every revision >= from_revision that writes under `prefix`;
  /// from_revision 0 means "from the next commit on". Fails with
  /// errc::compacted, errc::future_revision (beyond the next revision),
  /// errc::invalid_key.
  result<bb::watch> watch(std::string_view prefix, std::uint64_t from_revision = 0);

  // --- Configuration. Applies to promotions that start after the call. ---

  /// Every value written to a key matching `pattern` must satisfy `c`;
  /// several matching contracts must all hold. Fails with
  /// errc::invalid_argument for a bad pattern.
  status set_contract(std::string_view pattern, contract c);
  /// Merges and appends onto keys matching `pattern` never conflict.
  status declare_mergeable(std::string_view pattern);
  /// Registers (or re-registers) an author and the key patterns it may
  /// write. Matters under access_control::registered.
  status register_agent(std::string_view agent, const std::vector<std::string>& write_patterns);

 private:
  result<commit_result> promote_scratchpad(const scratchpad& sp, scratchpad* movable,
                                           const promote_options& opts);
  std::shared_ptr<detail::store> store_;
};

}  // namespace agora::bb
