/// \file failpoints.hpp
/// A testing hook: named failpoints in a durable blackboard's write path,
/// which make the process die (like SIGKILL) or an operation fail with an
/// I/O error at an exact moment, and a simulated full disk. Crash and
/// fault-injection tests use it; production code never should.
///
/// ```cpp
/// #include <agora/blackboard/failpoints.hpp>
/// using namespace agora::bb;
///
/// (void)failpoints::set("after_write=error");   // the next group fails
/// auto r = board->promote(sp);                   // errc::io_error
/// failpoints::clear();
/// ```
///
/// From the environment, only in a program that asks for it by calling
/// apply_environment() (the crash tests' writer process does; nothing in the
/// library, the `agora` command or the examples does, so no environment
/// variable can make an installed program fail or kill itself):
///
///     AGORA_FAILPOINTS="after_write=crash"  durable_writer ...
///     AGORA_FAILPOINTS="before_sync=error@3,disk_full=65536" ...
///
/// Syntax: entries separated by ','; an entry is `<point>=<action>` or
/// `<point>=<action>@<N>` (fire on the N-th time the point is reached only,
/// counting from 1 since the entry was set; without `@N` it fires every
/// time), or `disk_full=<bytes>`. Spaces around entries are ignored.
///
/// Points, in the order a group commit reaches them:
/// | point               | where                                                          |
/// | ------------------- | -------------------------------------------------------------- |
/// | `before_write`      | BEGIN done, before the group's rows are written                |
/// | `after_write`       | every row written, before COMMIT                               |
/// | `before_sync`       | in the VFS, before the fsync of the database or WAL file       |
/// | `after_sync`        | in the VFS, after that fsync succeeded                         |
/// | `before_ack`        | COMMIT done (durable), before the group is published and acked |
/// | `during_compaction` | inside a compaction's transaction, before its COMMIT           |
/// | `during_recovery`   | in blackboard::open, before the log is replayed                |
///
/// Actions: `crash` kills the process at once with SIGKILL (no destructor,
/// no flush: exactly a `kill -9`); `error` makes that operation fail with an
/// I/O error: SQLITE_IOERR_FSYNC from the VFS for the sync points, a
/// synthetic errc::io_error for the others. `disk_full=<bytes>` makes every
/// write through the VFS fail with SQLITE_FULL once the files of durable
/// blackboards have grown by more than `bytes` since the entry was set.
///
/// What a failed group leaves on disk (the blackboard then refuses writes
/// until reopened; see docs/durability.md): nothing for `before_write`,
/// `after_write` and `during_compaction` (rolled back); the whole group for
/// `after_sync` and `before_ack` (it was durable, only the acknowledgement
/// failed); for `before_sync` all of the group or none of it (the WAL frames
/// reached the OS but not the disk).
///
/// Thread-safety: thread-safe; the configuration is process-wide and applies
/// to every durable blackboard in the process.
#pragma once

#include <cstdint>
#include <string_view>

#include "agora/blackboard/result.hpp"

namespace agora::bb::failpoints {

/// Adds (or replaces, by point name) the entries of `spec`, with the syntax
/// above, and restarts their hit counts. Fails with errc::invalid_argument
/// naming the bad entry (unknown point or action, bad `@N`, bad byte count);
/// a failed call changes nothing.
status set(std::string_view spec);

/// Removes every failpoint and the disk-full limit.
void clear();

/// Reads the environment variable AGORA_FAILPOINTS and applies it with set()
/// unless it is unset, empty, or the same text as last applied. The library
/// never calls it: a test program opts in by calling it (before opening its
/// blackboards). Errors name the variable and the bad entry.
status apply_environment();

/// Counts of the work all durable blackboards in this process did, for
/// tests and benchmarks (monotonic; compare before and after).
struct durable_counters {
  /// SQLite write transactions committed for promotions (one per group).
  std::uint64_t group_commits = 0;
  /// Promotions acknowledged as durable (including empty ones and replays
  /// that waited for their original).
  std::uint64_t promotions = 0;
  /// fsync calls through the VFS on database and WAL files.
  std::uint64_t syncs = 0;
};
durable_counters counters();

}  // namespace agora::bb::failpoints
