// The durable half of a blackboard opened with blackboard::open: the SQLite
// log (schema in docs/durability.md), recovery into a store, and the one
// committer thread that writes promotions in groups.
// Private: may change without notice.
//
// Flow of a promotion: store::promote validates it and links its versions
// under commit_mu_ (invisible: rev_ does not move), then enqueue()s a
// commit_item and, after releasing commit_mu_, wait()s for its sequence
// number. The committer takes everything queued (up to max_group), writes it
// in one BEGIN IMMEDIATE..COMMIT (one sync), then store::publish advances
// the visible revision and feeds watches, and only then acknowledges: every
// waiter whose item is in the group returns. A failed write makes the log
// write-failed: the group's waiters, and every later promotion, get the error.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agora/blackboard/options.hpp"
#include "agora/blackboard/result.hpp"
#include "agora/log.hpp"
#include "store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace agora::bb::detail {

/// One unit of the committer's queue.
struct commit_item {
  enum class kind : std::uint8_t { promotion, compaction };
  kind what = kind::promotion;
  /// The committed record; null for a promotion that wrote nothing (it
  /// still waits for everything before it, and may carry an idempotency record).
  record_ptr rec;
  /// Idempotency record to persist, when txn_id is not empty.
  std::string txn_id;
  std::uint64_t idem_revision = 0;
  std::uint64_t hash = 0;
  std::size_t changes = 0;
  /// kind::compaction: the new compaction point.
  std::uint64_t compact_to = 0;
  std::uint64_t seq = 0;  // set by enqueue
};

struct sqlite_closer {
  void operator()(sqlite3* db) const noexcept;
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* st) const noexcept;
};
using db_ptr = std::unique_ptr<sqlite3, sqlite_closer>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

/// Thread-safety: enqueue/wait/failure are thread-safe; open and start run
/// once, before any promotion.
class durable_log {
 public:
  /// Opens or creates the log and rebuilds `s` from it. Errors:
  /// errc::io_error, errc::corrupt (naming the file).
  static result<std::unique_ptr<durable_log>> open(const durability& d, store& s);
  ~durable_log();

  /// Starts the committer thread.
  void start();
  /// Finishes what is queued, stops the committer and closes the file.
  void stop();

  /// Queues an item and returns its sequence number. Callers hold the
  /// store's commit_mu_, so queue order is revision order.
  std::uint64_t enqueue(commit_item item);
  /// The sequence number of the last item queued (0 = none).
  std::uint64_t last_seq() const;
  /// True once item `seq` is durable and published.
  bool acked(std::uint64_t seq) const;
  /// Blocks until item `seq` is durable and published, or fails with the
  /// write failure (errc::io_error) or errc::watch_closed (stopped).
  status wait(std::uint64_t seq);

  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  std::optional<error> failure() const;
  const std::string& path() const noexcept { return path_; }

 private:
  durable_log(store& s, const durability& d);
  status open_file();
  status recover();
  void run();
  status write_group(const std::vector<commit_item>& group);
  status write_compaction(std::uint64_t rev);
  status exec(const char* sql);
  /// Runs a bound insert/delete and resets it; an error names `what`.
  status step_statement(sqlite3_stmt* st, const std::string& what);
  /// Rolls the open transaction back and returns `e`.
  status rollback(error e);
  status prepare(stmt_ptr& st, const char* sql);
  error sqlite_error(const std::string& what) const;
  error io_error(const std::string& what, const std::string& why) const;
  void fail(error e);
  void ack(std::uint64_t seq);

  store& store_;
  std::string path_;
  sync_mode sync_;
  /// agora.bb: recovery, compaction, failure.
  log::logger_ptr log_ = log::get(log::bb);
  std::size_t max_group_;

  db_ptr db_;
  stmt_ptr ins_log_, ins_hist_, put_state_, del_state_, ins_idem_, put_base_, del_base_;
  std::uint64_t compact_rev_ = 0;  // on disk (committer only)

  mutable std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<commit_item> queue_;
  std::uint64_t next_seq_ = 1;
  bool stopping_ = false;

  mutable std::mutex ack_mu_;
  std::condition_variable ack_cv_;
  std::uint64_t acked_seq_ = 0;
  bool stopped_ = false;
  std::optional<error> failure_;
  std::atomic<bool> failed_{false};

  std::thread committer_;
};

/// 64-bit FNV-1a over a canonical form of the promotion's author and
/// operations: the same on every run and build, so idempotency records
/// stay comparable across restarts.
std::uint64_t stable_content_hash(const promotion& p) noexcept;

}  // namespace agora::bb::detail
