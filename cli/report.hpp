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
/// What the page holds, top to bottom: a header (run id, pattern, status,
/// stop reason, rounds, tokens, cost, duration); for a review (a run with
/// `runs/<run>/review`, the review's result, cli/review), its findings
/// (`section#review`: counts by severity, reported findings by file with
/// their CWE, reviewers, reason and evidence, the unconfirmed ones in a
/// collapsed `details#review-unconfirmed`, the reviewers left out and the
/// files not analysed); the timeline (SVG drawn by
/// the inline script from the embedded JSON data block `#agora-data`: one
/// lane per member, one band per round, each contribution at its commit
/// time with its task span's duration and its tokens, late answers,
/// failures and retries marked); votes per round (`tr.vote-row`) and how
/// the top answer's share grew; the result and `stopped_by`; conflicts,
/// retries and failures (round records' failed/missing lists, late
/// answers, spans with attempts > 1 or status ERROR); the span tree
/// (anchors `#span-<id>`; clicking a span shows its parent and children);
/// the run's commits; the transcript (agora::transcript). When its script
/// has run, `<body data-render="ok">` (`"error"` and a banner if it threw).
///
/// Safety: every text from the run is escaped (HTML) or embedded as JSON
/// with `<`, `>` and `&` as \u escapes and drawn with textContent; the
/// Content-Security-Policy allows no network and only the page's own
/// script (a per-page nonce). The page names no URL of its own, except the
/// links of a review's findings to their CWE entries
/// (https://cwe.mitre.org/data/definitions/N.html, built from the number):
/// links a reader follows, nothing the page loads.
///
/// Thread-safety: reads the blackboard through snapshots; may run while the
/// run goes on (an unfinished run shows status "running").
#pragma once

#include <string>

#include "agora/blackboard/result.hpp"

namespace agora::bb {
class blackboard;
}

namespace agora::cli {

/// What to report on. `board` is borrowed: it must outlive the call.
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

/// `&`, `<`, `>`, `"` and `'` as HTML entities: safe in text and in
/// quoted attribute values.
std::string html_escape(const std::string& s);

/// Renders and writes to `path` (atomically: a temporary file renamed).
/// Fails as render does, or with bb::errc::io_error naming the path.
bb::status write_html_report(const report_input& in, const std::string& path);

}  // namespace agora::cli
