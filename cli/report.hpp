/// \file report.hpp
/// The HTML report of a run: one self-contained file (inline CSS, JS and
/// SVG; no network access) with a timeline of rounds and agents (who
/// contributed when, for how long, with how many tokens), the votes per
/// round and how consensus formed, the result and the stop reason,
/// conflicts and retries, and spans linked to their parents.
///
/// Everything comes from the run's blackboard (runs/<run>/…, its history
/// with commit times and authors) and, when given, the spans the run wrote
/// (JSON lines, tracing.hpp).
///
/// ```cpp
/// report_input in;
/// in.board = board.get();                 // the run's blackboard
/// in.run_id = "capital";
/// in.spans_path = "run/spans.jsonl";      // optional
/// auto html = render_html_report(in);     // bb::result<std::string>
/// auto ok = write_html_report(in, "capital.html");
/// ```
///
/// Thread-safety: reads the blackboard through snapshots; may run while the
/// run goes on.
#pragma once

#include <string>

#include "agora/blackboard/result.hpp"

namespace agora::bb {
class blackboard;
}

namespace agora::cli {

struct report_input {
  const bb::blackboard* board = nullptr;
  std::string run_id;
  /// Spans as JSON lines (tracing.hpp); "" = none. Lines that do not parse
  /// are counted and named in the report, not fatal.
  std::string spans_path;
  /// Shown in the title; "" = the run id.
  std::string title;
};

/// The page. Fails with bb::errc::invalid_argument when the run has no
/// meta record ("no run 'x' on this blackboard; runs: a, b"), or when the
/// spans file cannot be read (naming it).
bb::result<std::string> render_html_report(const report_input& in);

/// Renders and writes to `path` (atomically: a temporary file renamed).
/// Fails as render does, or with bb::errc::io_error naming the path.
bb::status write_html_report(const report_input& in, const std::string& path);

}  // namespace agora::cli
