/// \file watch.hpp
/// A stream of committed transactions under one prefix.
///
/// ```cpp
/// auto w = board.watch("runs/1", 0);           // from the next commit on
/// while (auto r = w->next(std::chrono::milliseconds(100))) {
///   if (!*r) continue;                         // nothing within 100 ms
///   const txn_record& t = **r;                 // one whole revision
///   for (const change& c : t.changes) ...
/// }
/// // the loop ends when next() fails: errc::compacted or errc::watch_closed
/// ```
/// A watch delivers every committed revision that wrote under its prefix, in
/// revision order, each exactly once and whole (all of its changes under the
/// prefix in one record, other keys left out). It may start at any revision
/// not yet compacted. Commits never wait for a watcher: each watch buffers at
/// most blackboard_options::watch_buffer revisions; past that it falls behind
/// (counted by `times_fell_behind()`), stops buffering, and its reader
/// continues from history, without gaps, until it has caught up. If history
/// it still needs is compacted meanwhile, `next` fails with errc::compacted.
///
/// Thread-safety: one reader calls next/try_next; `cancel`, `on_ready` and the
/// accessors may be called from any thread. Destroying the watch cancels it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::bb {

namespace detail {
struct watcher;
}

class watch {
 public:
  watch(watch&&) noexcept = default;
  watch& operator=(watch&&) noexcept;
  ~watch();

  /// The next revision under the prefix; nothing if none arrived within
  /// `timeout`. Fails with errc::compacted (history needed was compacted)
  /// or errc::watch_closed (cancelled, or the blackboard is gone); after a
  /// failure every later call fails the same way.
  result<std::optional<txn_record>> next(std::chrono::milliseconds timeout);
  /// `next` without waiting.
  result<std::optional<txn_record>> try_next() { return next(std::chrono::milliseconds(0)); }

  /// The revision the next delivered record will be at least.
  std::uint64_t next_revision() const;
  /// How often this watch overflowed its buffer and went back to history.
  std::uint64_t times_fell_behind() const;

  /// Calls `fn` (from the committing thread; it must not block or call back
  /// into the blackboard) whenever a revision becomes available to `next`
  /// after the reader found nothing. Replaces any earlier callback.
  void on_ready(std::function<void()> fn);

  /// Ends the stream: later `next` calls fail with errc::watch_closed.
  void cancel();

  explicit watch(std::shared_ptr<detail::watcher> w) : w_(std::move(w)) {}

 private:
  std::shared_ptr<detail::watcher> w_;
};

}  // namespace agora::bb
