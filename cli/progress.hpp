/// \file progress.hpp
/// The progress line of `agora run`: while a run goes, one line on stderr,
/// rewritten in place —
/// `round 2 · 2/3 answered · 1,234 tokens · $0.0012 · 4.2 s` — fed by a
/// blackboard watch on `runs/<run>` (answers, usage and round records;
/// run.hpp lists the keys). Only on a terminal; nothing otherwise.
///
/// ```cpp
/// auto line = progress_line::start(board, "capital", 3, std::cerr, is_terminal(2));
/// ... run_pattern(...) ...
/// line->stop();              // joins the thread and clears the line
/// ```
///
/// The pieces are testable without a terminal: format_progress is a pure
/// function, progress_tracker folds committed transactions into a state.
///
/// Thread-safety: format_progress is pure; a progress_tracker is used by one
/// thread; progress_line's start/stop are called from one thread (its own
/// thread does the watching and the drawing).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "agora/blackboard/entry.hpp"

namespace agora::bb {
class blackboard;
}

namespace agora::cli {

/// What the line shows.
struct progress_state {
  std::uint32_t round = 1;
  std::size_t answered = 0;  ///< answers committed in `round`
  std::size_t expected = 0;  ///< members asked per round (0 = unknown: not shown as a fraction)
  std::uint64_t tokens = 0;
  double cost_usd = 0;
  std::chrono::milliseconds elapsed{0};
};

/// `round 2 · 2/3 answered · 1,234 tokens · $0.0012 · 4.2 s` (thousands
/// separated by commas; cost with 4 decimals; seconds with one).
std::string format_progress(const progress_state& s);

/// Folds the commits under `runs/<run>` into a progress_state.
class progress_tracker {
 public:
  progress_tracker(const std::string& run_id, std::size_t expected);
  /// One committed transaction (a watch's record; other keys are ignored).
  void observe(const bb::txn_record& t);
  /// The state, with `elapsed` filled in.
  progress_state state(std::chrono::milliseconds elapsed) const;

 private:
  std::string prefix_;
  std::size_t expected_;
  std::uint32_t round_ = 1;
  std::map<std::uint32_t, std::set<std::string>> answers_;
  std::map<std::string, std::pair<std::uint64_t, double>> usage_;  // usage key → tokens, cost
  std::uint64_t closed_tokens_ = 0;  // the last round record's totals
  double closed_cost_ = 0;
};

/// The line itself, drawn from its own thread (about 5 times a second).
class progress_line {
 public:
  /// Starts watching `board` for run `run_id` and drawing to `out`. When
  /// `enabled` is false (not a terminal, --quiet) nothing is started and
  /// stop() does nothing.
  static std::unique_ptr<progress_line> start(std::shared_ptr<bb::blackboard> board, const std::string& run_id,
                                              std::size_t expected, std::ostream& out, bool enabled);
  /// Stops the thread, joins it and clears the line. Idempotent.
  void stop();
  ~progress_line();
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;

 private:
  progress_line() = default;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace agora::cli
