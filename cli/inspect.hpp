/// \file inspect.hpp
/// Reading what a run left behind, for `agora inspect` and `agora report`:
/// a data directory's durable blackboard (opened for reading only), its
/// history, a key's versions, the state at a revision, and span files
/// (JSON lines, actors/tracing.hpp) as a tree.
///
/// ```cpp
/// auto board = open_data_dir("run1");           // run1/blackboard.db, must exist
/// if (!board) { std::cerr << board.error().message; return exit_usage; }
/// auto versions = key_versions(**board, "runs/q1/result");
/// auto spans = read_span_file("run1/spans.jsonl", true);   // strict: a bad line fails
/// std::cout << render_span_tree(spans->spans, {});
/// ```
///
/// Opening a blackboard that another process has open (`agora serve
/// --data DIR` while it runs): the log is SQLite in WAL mode, which lets
/// other connections read while one writes. open_data_dir opens it like
/// any durable blackboard (it never promotes, so it writes nothing) and
/// reads what was committed when it opened: later commits of the other
/// process are not seen. See docs/reports.md.
///
/// Thread-safety: functions are re-entrant; a span_record is a value.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/blackboard/blackboard.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::cli {

/// One span line of a spans file.
struct span_record {
  std::string trace_id;
  std::string span_id;
  std::string parent_id;  ///< "" for a root
  std::string name;
  std::string agent;      ///< the attribute agora.agent, "" when absent
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  bool error = false;     ///< status STATUS_CODE_ERROR
  std::string message;    ///< the status message
  /// Attributes flattened: key → string, number (int or double) value.
  nlohmann::json attributes = nlohmann::json::object();
  std::size_t line = 0;   ///< 1-based line in its file

  /// An attribute as text ("" when absent).
  std::string attribute(const std::string& key) const;
  nlohmann::json to_json() const;
};

/// Parses one line. Fails with bb::errc::invalid_argument saying what is
/// wrong (not JSON, a missing or mistyped field); the caller adds the line.
bb::result<span_record> parse_span(std::string_view line);

/// A spans file: the spans that parsed, and what did not (lenient mode).
struct span_file {
  std::vector<span_record> spans;
  /// "spans.jsonl:3: not JSON ..." for each line that did not parse.
  std::vector<std::string> bad_lines;
};

/// Reads a spans file. Fails with bb::errc::io_error naming the file when it
/// cannot be read; when `strict`, with bb::errc::invalid_argument naming
/// the file and line of the first line that does not parse. Empty lines
/// are skipped.
bb::result<span_file> read_span_file(const std::string& path, bool strict);

/// Where a span sits in the tree: under its recorded parent when that span
/// is in the set; when the parent was never written (patterns hand their
/// members a child context of their own span without recording it), under
/// the outermost span of the same trace that encloses it in time, marked
/// `inferred` (the outermost, because a shorter enclosing span may just be
/// a sibling that ran at the same time); otherwise at the top (parent "").
struct span_link {
  std::string parent;
  bool inferred = false;
};

/// The links of every span in `spans` (by span id). Never makes a cycle
/// out of inferred links (an enclosing span is strictly longer).
std::map<std::string, span_link> link_spans(const std::vector<span_record>& spans);

/// The spans as an indented tree, one line each: name, agent, duration,
/// status (and its message), run/task attributes; children under their
/// parent in start order (link_spans). A span whose parent is not in
/// `spans` says "(parent <id> not recorded)", and "under the enclosing
/// span" when it was placed by time. `trace_id`
/// non-empty keeps that trace only.
std::string render_span_tree(const std::vector<span_record>& spans, const std::string& trace_id);

/// The same as JSON: [{span..., "children": [...]}] per root.
nlohmann::json span_tree_json(const std::vector<span_record>& spans, const std::string& trace_id);

/// Opens `dir`/blackboard.db (commands.hpp: board_file). Fails with
/// bb::errc::invalid_argument when `dir` is not a directory or has no
/// blackboard.db (it is never created), else as bb::blackboard::open.
bb::result<std::shared_ptr<bb::blackboard>> open_data_dir(const std::string& dir);

/// Run ids on the board (keys runs/<id>/meta), sorted.
std::vector<std::string> list_runs(const bb::blackboard& board);

/// Every version of `key` still in the history, oldest first (tombstones
/// included): each a txn_record whose changes hold that key only. Fails
/// with bb::errc::invalid_argument ("key 'k' was never written (revisions
/// c..n)") when there is none, bb::errc::invalid_key for a bad key.
bb::result<std::vector<bb::txn_record>> key_versions(const bb::blackboard& board, const std::string& key);

/// "2026-11-21T19:45:20.678Z" from microseconds since the epoch (UTC).
std::string format_time_us(std::int64_t us);

}  // namespace agora::cli
