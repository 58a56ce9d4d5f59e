// The failpoints as the durable path sees them: cheap checks at fixed points.
// Private: may change without notice. The public face is failpoints.hpp.
#pragma once

#include <atomic>
#include <cstdint>

namespace agora::bb::detail {

enum class failpoint : std::uint8_t {
  before_write,
  after_write,
  before_sync,
  after_sync,
  before_ack,
  during_compaction,
  during_recovery,
  count_,
};

const char* to_string(failpoint p) noexcept;

/// True when any failpoint or the disk-full limit is set (a relaxed load:
/// the fast path of every check).
extern std::atomic<bool> failpoints_armed;

/// Counts a hit of `p`; a `crash` action kills the process here. True when
/// an `error` action fires: the caller fails the operation.
bool failpoint_hit_slow(failpoint p);
inline bool failpoint_hit(failpoint p) {
  return failpoints_armed.load(std::memory_order_relaxed) && failpoint_hit_slow(p);
}

/// Accounts `grow_by` bytes of file growth; false when that passes the
/// disk-full limit (the write must fail with SQLITE_FULL and is not counted).
bool disk_growth_allowed(std::uint64_t grow_by);
/// True when a disk-full limit is set (writes must measure their growth).
bool disk_limit_set() noexcept;

// Counters behind failpoints::counters().
extern std::atomic<std::uint64_t> counter_group_commits;
extern std::atomic<std::uint64_t> counter_promotions;
extern std::atomic<std::uint64_t> counter_syncs;

}  // namespace agora::bb::detail
