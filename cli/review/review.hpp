/// \file review.hpp
/// The review swarm of `agora review PATH` (docs/review.md): the findings
/// every reviewer contributes, the parsers of the tools' output, the
/// built-in reviewers, the consensus that decides what is reported, and the
/// outputs (terminal, Markdown, SARIF 2.1.0, JSON).
///
/// ```cpp
/// auto tree = load_source_tree("examples/review-sample");      // files, relative paths, lines
/// if (!tree) { std::cerr << tree.error().message; return exit_usage; }
/// auto cpp = parse_cppcheck_xml(xml_text, tree->root);          // bb::result<std::vector<finding>>
/// std::vector<finding> all = ...;                                // every reviewer's findings
/// auto merged = merge_findings(all, consensus_options{});       // duplicates merged, each reported or not
/// std::string sarif = to_sarif(merged).dump(2);
/// ```
///
/// Contributions on the blackboard are JSON arrays of findings
/// (findings_schema(), enforced with bb::contract on
/// `runs/<run>/answers/*/reviewer/*`).
///
/// Thread-safety: everything here is a value or a pure function; the agent
/// logics returned by the reviewer factories may run on several threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/actors/agent.hpp"
#include "agora/blackboard/result.hpp"
#include "process.hpp"

namespace agora::cli::review {

using json = nlohmann::json;

/// One defect a reviewer reports (the contribution contract's item), and,
/// after merging, the consensus on it.
struct finding {
  std::string file;      ///< relative to the reviewed PATH ('/' separated)
  int line = 1;          ///< >= 1
  std::string rule;      ///< the tool's id ("nullPointer", "cert-env33-c", "security/system")
  std::string category;  ///< shared across reviewers: buffer-overflow, resource-leak, ...
  std::string severity;  ///< low | medium | high
  std::string message;
  std::string evidence;  ///< the source line or the tool's output
  // --- set by merge_findings ---
  std::vector<std::string> found_by;  ///< reviewer ids (merged duplicates)
  std::vector<std::string> rules;     ///< every rule that found it
  bool reported = false;              ///< the consensus (or the judge) kept it
  std::string judge;                  ///< the judge's reason when it decided
};

/// The contribution form (no consensus fields).
json to_json(const finding& f);
/// The merged form: the contribution form plus found_by, rules, reported, judge.
json to_merged_json(const finding& f);
/// Reads a contribution item. Fails with invalid_argument naming the field.
bb::result<finding> finding_from_json(const json& j);

/// The JSON schema (bb::contract's subset) of a contribution: an array of
/// findings {file, line >= 1, rule, category, severity in low|medium|high,
/// message, evidence}; no other fields.
const json& findings_schema();

/// 1 low, 2 medium, 3 high, 0 anything else.
int severity_rank(const std::string& severity);
/// The severity a category has by default ("" for an unknown category).
std::string category_severity(const std::string& category);

/// The shared category of a tool rule. `tool` is "cppcheck" or
/// "clang-tidy"; `tool_severity` is cppcheck's (error, warning, style, ...).
/// Unknown rules fall back to "bug" (errors, warnings) or "style".
std::string category_of(const std::string& tool, const std::string& rule, const std::string& message,
                        const std::string& tool_severity);

/// The files under review.
struct source_file {
  std::string path;  ///< relative to the root
  std::vector<std::string> lines;
};
struct source_tree {
  std::string root;    ///< absolute directory the paths are relative to
  std::string target;  ///< what the user named (a directory or one file)
  std::vector<source_file> files;
  /// The line `line` (1-based) of `file`, "" when out of range.
  std::string line_of(const std::string& file, int line) const;
};

/// Walks `path` (a directory, recursively, skipping hidden and build
/// directories; or a single file) for .c .cc .cpp .cxx .h .hpp files.
/// Fails with invalid_argument "no such file or directory: PATH" or when a
/// single file is not C/C++, io_error naming a file that cannot be read.
bb::result<source_tree> load_source_tree(const std::string& path);

/// Parses `cppcheck --xml` output (version 2). Paths are made relative to
/// `root`; findings outside the tree are dropped. Fails with
/// invalid_argument when there is no <results> element.
bb::result<std::vector<finding>> parse_cppcheck_xml(const std::string& xml, const source_tree& tree);
/// Parses clang-tidy's `file:line:col: warning|error: message [check]` lines.
std::vector<finding> parse_clang_tidy(const std::string& text, const source_tree& tree);

/// The built-in reviewers, as pure functions of the tree.
std::vector<finding> review_security(const source_tree& tree);
std::vector<finding> review_resources(const source_tree& tree);
/// Functions over `max_complexity` (cyclomatic) or `max_nesting` (blocks
/// inside the body).
std::vector<finding> review_complexity(const source_tree& tree, int max_complexity = 10,
                                       int max_nesting = 4);

/// The consensus rule (docs/review.md).
struct consensus_options {
  /// Reviewers that must agree for a finding to be reported.
  std::size_t min_agree = 2;
};
/// Merges duplicates (same file and category, lines within 1 of the
/// group's first line) into one finding naming every reviewer
/// (`found_by`), then decides `reported`: at least min_agree reviewers, or
/// one with severity high and non-empty evidence. `by_reviewer` pairs a
/// reviewer id with its findings. The result is sorted by file and line.
std::vector<finding> merge_findings(const std::vector<std::pair<std::string, std::vector<finding>>>& by_reviewer,
                                    const consensus_options& opts);
/// The decision alone, for one merged finding.
bool consensus_reports(const finding& merged, const std::vector<finding>& members,
                       const consensus_options& opts);

/// A reviewer that could not take part, and why (shown in the summary).
struct left_out {
  std::string reviewer;
  std::string why;
};

/// What a review produced.
struct review_report {
  std::string target;
  std::size_t files = 0;
  std::vector<std::string> reviewers;  ///< those that contributed
  std::vector<left_out> skipped;       ///< missing tools, failed reviewers
  std::vector<finding> findings;       ///< merged; reported and unconfirmed
  consensus_options consensus;
  bool judged = false;
};

/// The terminal summary; colours when `colour`; unconfirmed rows with `all`.
std::string to_terminal(const review_report& r, bool colour, bool all);
std::string to_markdown(const review_report& r, bool all);
/// SARIF 2.1.0: reported findings as error (high) / warning, unconfirmed as note.
json to_sarif(const review_report& r);
/// {"target", "files", "reviewers", "skipped", "findings": reported, "unconfirmed": [...]}.
json to_json(const review_report& r);

// --- Reviewer agents ---------------------------------------------------------

/// Logic of a built-in reviewer: reads its turn and contributes `fn(tree)`.
actors::agent_logic builtin_reviewer(std::shared_ptr<const source_tree> tree,
                                     std::vector<finding> (*fn)(const source_tree&));
/// Logic of the cppcheck reviewer: runs cppcheck on the tree through
/// `runner` (never on a CAF worker) and contributes its parsed findings.
actors::agent_logic cppcheck_reviewer(std::shared_ptr<const source_tree> tree,
                                      std::shared_ptr<process_runner> runner);
/// Logic of the clang-tidy reviewer: one clang-tidy process per file.
actors::agent_logic clang_tidy_reviewer(std::shared_ptr<const source_tree> tree,
                                        std::shared_ptr<process_runner> runner);

}  // namespace agora::cli::review
