// The multi-version store behind a blackboard, its snapshots and watches.
// Private: may change without notice.
//
// Locking: commit_mu_ serializes every mutation (promote, compact,
// configuration, watcher registration); state_mu_ guards the data readers
// touch (index, history, compaction point) and is held exclusively only while
// a mutation is applied. A mutator holding commit_mu_ may read the data
// without state_mu_, since nobody else changes it.
//
// Durable stores (blackboard::open) add a committer (durable_log.hpp): a
// promotion is validated and linked into the index under commit_mu_ at the
// next revision after head_, but rev_ (what readers see) only moves when the
// committer has made the group durable and publishes it. Every read path
// reads at a revision <= rev_ and so never sees the pending versions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agora/blackboard/blackboard.hpp"
#include "reader_lock.hpp"

namespace agora::bb::detail {

class durable_log;
struct commit_item;

using version_ptr = std::shared_ptr<const version_data>;
using record_ptr = std::shared_ptr<const txn_record>;

/// All versions of one key still needed. A point read of the latest
/// revision touches the first cache line only: the newest version and, for
/// keys up to 44 bytes, the key itself.
struct alignas(64) key_record {
  static constexpr std::size_t small_key_bytes = 44;

  version_ptr latest;  // never null once linked
  std::uint32_t key_len = 0;
  char small_key[small_key_bytes] = {};
  std::string big_key;  // keys longer than small_key_bytes
  std::size_t hash = 0;
  std::vector<std::pair<std::uint64_t, version_ptr>> older;  // (mod_revision, data), ascending

  explicit key_record(std::string_view k);
  std::string_view key() const noexcept {
    return key_len <= small_key_bytes ? std::string_view(small_key, key_len)
                                      : std::string_view(big_key);
  }
  const version_data* newest() const noexcept { return latest.get(); }
  /// The version visible at `rev`, or null.
  const version_ptr* at(std::uint64_t rev) const noexcept;
  /// Makes `v` the newest version.
  void push(version_ptr v);
  /// Drops what no read at revisions >= rev needs; false if nothing is left.
  bool compact(std::uint64_t rev);
};

/// Open-addressing hash table from key to record (linear probing, load <=
/// 1/2): a lookup costs one probe of a flat array plus the record itself.
class key_table {
 public:
  key_table() : slots_(16), mask_(15) {}
  key_record* find(std::string_view key, std::size_t hash) const noexcept;
  /// `rec` must not be in the table yet.
  void insert(key_record* rec);
  void erase(const key_record* rec) noexcept;
  std::size_t size() const noexcept { return size_; }

 private:
  struct slot {
    std::size_t hash = 0;
    key_record* rec = nullptr;
  };
  void grow();
  std::vector<slot> slots_;
  std::size_t mask_;
  std::size_t size_ = 0;
};

inline std::size_t key_hash(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key);
}

/// True if the record changes a key under the (normalized) prefix.
bool touches(const txn_record& r, std::string_view prefix) noexcept;
/// The record reduced to its changes under the prefix.
txn_record filtered(const txn_record& r, std::string_view prefix);

class store;

/// What one promotion does to one key (scratch space of store::promote).
struct key_effect {
  std::string_view key;
  op_kind last_kind = op_kind::put;
  bool exists = false;              // after the transaction
  json value;
  bool depends_on_current = false;  // a merge/append not preceded by a put/erase
  const key_record* rec = nullptr;  // current state, may be null
};

/// The shared state of one watch. `mu` guards everything below it.
struct watcher {
  std::weak_ptr<store> owner;
  std::string prefix;  // normalized
  std::size_t capacity = 1;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<record_ptr> queue;  // live records under the prefix, not yet read
  std::uint64_t next_rev = 1;    // the reader's position
  std::uint64_t fetch_from = 1;  // first revision not yet queued or skipped
  bool live = false;             // receiving records from commits
  bool reader_waiting = false;
  std::uint64_t fell_behind = 0;
  std::optional<error> failure;  // sticky
  std::function<void()> on_ready;
};

class store : public std::enable_shared_from_this<store> {
 public:
  explicit store(blackboard_options opts);
  ~store();

  /// Opens (or creates) the durable log `d.path`, rebuilds the store from it
  /// and starts its committer. Errors: errc::io_error, errc::corrupt.
  static result<std::shared_ptr<store>> open_durable(const durability& d, blackboard_options opts);
  bool durable() const noexcept { return durable_ != nullptr; }
  std::optional<error> write_failure() const;

  const blackboard_options& options() const noexcept { return opts_; }
  std::uint64_t revision() const noexcept { return rev_.load(std::memory_order_acquire); }
  std::uint64_t compact_revision() const noexcept {
    return compact_rev_.load(std::memory_order_acquire);
  }

  result<entry> get(std::string_view key, std::uint64_t rev) const;
  result<std::vector<entry>> list(std::string_view prefix, std::uint64_t rev) const;
  /// Raw records with from <= revision <= min(to, latest).
  result<std::vector<record_ptr>> records(std::uint64_t from, std::uint64_t to) const;

  /// `point_reads`/`ranges` override p.reads/p.ranges when given (a
  /// scratchpad's own maps); `trusted` skips re-validating staged ops;
  /// `movable` (the same object as `p`, or null) lets the commit take the
  /// staged values instead of copying them.
  result<commit_result> promote(const promotion& p, promotion* movable,
                                const std::unordered_map<std::string, std::uint64_t>* point_reads,
                                const std::vector<std::string>* ranges, bool trusted,
                                const promote_options& opts);
  status compact(std::uint64_t rev);

  status set_contract(std::string_view pattern, contract c);
  status declare_mergeable(std::string_view pattern);
  status register_agent(std::string_view agent, const std::vector<std::string>& patterns);

  result<std::shared_ptr<watcher>> add_watch(std::string_view prefix, std::uint64_t from);
  /// Makes a caught-up watcher live; false if commits happened meanwhile.
  bool try_go_live(const std::shared_ptr<watcher>& w);
  void remove_watch(const watcher* w);
  /// Closes every watch (the blackboard is being destroyed).
  void close();
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // --- For the durable log (its committer thread and recovery). ---

  /// Recovery: links a version of the compaction base (one per key, before
  /// any record), then records in revision order, then idempotency records;
  /// finish_restore sets the revisions. No validation: the log was.
  void restore_version(version_ptr v);
  void restore_record(record_ptr rec, std::vector<version_ptr> versions);
  void restore_idempotency(std::string txn_id, std::uint64_t revision, std::uint64_t hash,
                           std::size_t changes);
  void finish_restore(std::uint64_t head, std::uint64_t compact_rev);
  /// Committer: makes the durable group's records visible (rev_ moves to
  /// the last one) and feeds the watches, under commit_mu_.
  void publish(const std::vector<commit_item>& group);
  /// Committer: the in-memory half of a compaction already done on disk.
  void compact_published(std::uint64_t rev);
  /// Committer: the compaction point retention asks for now, or 0.
  std::uint64_t retention_due() const noexcept;

 private:
  struct idem_record {
    std::uint64_t revision;
    std::uint64_t hash;
    std::size_t changes;
    std::uint64_t seq;  // durable: the commit item that persists it (0 = durable already)
  };

  status validate_untrusted(const promotion& p) const;
  void feed_watchers(const record_ptr& rec, std::vector<std::shared_ptr<watcher>>& wake);
  static void wake_watchers(const std::vector<std::shared_ptr<watcher>>& wake);
  // The durable end of promote: queue, release commit_mu_, wait until durable.
  result<commit_result> promote_durable_tail(std::unique_lock<std::mutex>& commit,
                                             record_ptr rec, std::uint64_t hash);
  result<commit_result> promote_nothing_durable(std::unique_lock<std::mutex>& commit,
                                                std::uint64_t cur, std::uint64_t hash,
                                                const promote_options& opts);
  void compact_locked(std::uint64_t rev);  // needs commit_mu_ held
  const key_record* find(std::string_view key) const noexcept;

  blackboard_options opts_;

  mutable reader_lock state_mu_;
  std::map<std::string_view, std::unique_ptr<key_record>, std::less<>> index_;
  key_table table_;
  std::deque<record_ptr> history_;  // history_[i] is revision hist_base_ + i
  std::uint64_t hist_base_ = 1;
  std::atomic<std::uint64_t> rev_{0};
  std::atomic<std::uint64_t> compact_rev_{0};

  std::mutex commit_mu_;
  std::unordered_map<std::string, idem_record> idem_;
  std::vector<std::pair<key_pattern, contract>> contracts_;
  std::vector<key_pattern> mergeable_;
  std::unordered_map<std::string, std::vector<key_pattern>> agents_;
  std::vector<std::shared_ptr<watcher>> watchers_;
  std::atomic<bool> closed_{false};
  // Durable stores only: the last revision assigned (>= rev_), and the log.
  std::uint64_t head_ = 0;
  std::unique_ptr<durable_log> durable_;
  // Scratch space reused by every promotion (guarded by commit_mu_).
  std::vector<std::size_t> order_;
  std::vector<key_effect> effects_;
  std::vector<version_ptr> versions_;
  std::vector<std::unique_ptr<key_record>> fresh_;
};

}  // namespace agora::bb::detail
