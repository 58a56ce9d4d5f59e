// The SQLite VFS every durable blackboard opens its file through: the
// default VFS plus the sync failpoints (before_sync, after_sync), injected
// fsync errors and the disk-full simulation of failpoints.hpp.
// Private: may change without notice.
#pragma once

namespace agora::bb::detail {

/// Registers the shim (once, thread-safe) and returns its name for
/// sqlite3_open_v2; null if SQLite has no default VFS.
const char* agora_vfs();

}  // namespace agora::bb::detail
