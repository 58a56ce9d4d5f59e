/// \file options.hpp
/// Limits and settings of one blackboard, fixed when it is constructed.
/// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace agora::bb {

/// Bounds on what one promotion may carry. Every rejection names the limit
/// (by the field name below) and the offending value.
struct limits {
  /// Longest key or prefix, in bytes of UTF-8.
  std::size_t max_key_bytes = 512;
  /// Largest value, measured as the length of its compact JSON text
  /// (strings counted unescaped; numbers as 8 bytes).
  std::size_t max_value_bytes = 1 << 20;
  /// Most staged operations (put, erase, merge, append) in one promotion.
  std::size_t max_ops_per_txn = 1024;
  /// Deepest nesting of arrays and objects in a value (a scalar has depth 0).
  std::size_t max_depth = 64;
};

/// Who may write.
enum class access_control {
  /// Any well-formed author may write any key.
  open,
  /// Only authors registered with blackboard::register_agent may write, and
  /// only keys that match one of their write patterns.
  registered,
};

struct blackboard_options {
  bb::limits limits{};
  access_control access = access_control::open;
  /// Revisions a watch may hold undelivered before it falls behind and
  /// resumes from history. At least 1.
  std::size_t watch_buffer = 1024;
  /// When non-zero, the blackboard compacts itself so that at least this
  /// many recent revisions stay readable (history, snapshots, watches) and
  /// memory stays bounded. 0 keeps everything until compact() is called.
  std::uint64_t retain_revisions = 0;
};

/// How hard a durable blackboard syncs (SQLite's `synchronous`).
enum class sync_mode : std::uint8_t {
  /// `synchronous=FULL`: a promotion is acknowledged only after its
  /// transaction is synced to the disk; it survives a process kill and a
  /// power loss.
  full = 1,
  /// `synchronous=NORMAL` (WAL): acknowledged after the write, synced at
  /// checkpoints. Survives a process kill (`kill -9`); a power loss or an OS
  /// crash may lose the last acknowledged promotions (never tear one, never
  /// corrupt the file).
  normal,
};

/// Where and how a durable blackboard keeps its log (blackboard::open).
struct durability {
  /// The SQLite database file; created with its schema when missing.
  std::string path;
  bb::sync_mode sync = sync_mode::full;
  /// Group commit: promotions that arrive while a sync is running share the
  /// next transaction and its one sync. `max_group` bounds one group.
  std::size_t max_group = 512;
};

}  // namespace agora::bb
