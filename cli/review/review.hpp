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

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
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
  std::string category;  ///< the defect family shared across reviewers (rule_info::family)
  std::string severity;  ///< low | medium | high
  std::string message;
  std::string evidence;  ///< the source line or the tool's output
  int cwe = 0;           ///< the rule's CWE (rules table); 0 = none fits
  // --- set by merge_findings ---
  std::vector<std::string> found_by;  ///< reviewer ids (merged duplicates)
  std::vector<std::string> rules;     ///< every "reviewer:rule" that found it
  bool reported = false;              ///< the consensus (or the judge) kept it
  std::string judge;                  ///< the judge's reason when it decided
  std::string kept_because;           ///< why it was reported (or why not), for the reader
  /// The source around `line` (set after merging, add_context()): lines
  /// context_first .. context_first + context.size() - 1 of the file.
  int context_first = 0;
  std::vector<std::string> context;
};


/// How far one rule's word is trusted (docs/review.md, "Calibration").
enum class trust {
  /// Path-sensitive or semantic evidence precise on the development set:
  /// the finding stands on its own.
  alone,
  /// Needs another reviewer (not only lexical ones) to agree.
  corroborate,
  /// A lexical pattern: counts only as corroboration of another reviewer.
  lexical,
  /// Measured wrong more often than right on the development set (fewer
  /// than a third of its findings in flawed functions, typically paths
  /// through conditions the file cannot decide): shown, never a vote.
  weak,
  /// Not a defect claim (style, no CWE): shown with --all, never reported.
  never,
};
const char* to_string(trust t);

/// What the rules table says of one tool rule.
struct rule_info {
  int cwe = 0;              ///< 0 = no CWE fits (family says what it is)
  std::string family;       ///< merge key: buffer-overflow, resource-leak, ...
  review::trust trust = trust::corroborate;
  std::string why;          ///< why it is trusted that much (measured)
};
/// Looks `rule` of `tool` (the reviewer's name: gcc, clang-tidy, cppcheck,
/// flawfinder, security, complexity, ...) up in the one rules table
/// (rules.cpp). `message` refines rules that report several defects
/// (clang's unix.Malloc). Unknown rules: no CWE, family "bug", trust never.
rule_info lookup_rule(const std::string& tool, const std::string& rule, const std::string& message);
/// The defect family of a CWE ("" when none of the table's).
std::string cwe_family(int cwe);
/// Every row of the table, for docs and SARIF: {tool, rule, cwe, family, trust, why}.
json rules_table();

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
/// The severity a family has by default ("" for an unknown family).
std::string category_severity(const std::string& category);

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
  /// The file at `path`, nullptr when it is not one of the tree's.
  const source_file* find(const std::string& path) const;
  /// Rebuilds the path index find() uses (after changing `files`).
  void reindex();

 private:
  std::map<std::string, std::size_t> index_;
};

/// Walks `path` (a directory, recursively, skipping hidden and build
/// directories; or a single file) for .c .cc .cpp .cxx .h .hpp files.
/// Fails with invalid_argument "no such file or directory: PATH" or when a
/// single file is not C/C++, io_error naming a file that cannot be read.
bb::result<source_tree> load_source_tree(const std::string& path);

/// Sets each finding's context: up to `radius` lines of its file on each
/// side of its line, from `tree` (nothing for a file the tree lacks).
void add_context(std::vector<finding>& findings, const source_tree& tree, int radius = 3);

/// How the files are compiled, for the reviewers that compile them (gcc,
/// clang-tidy) or preprocess them (cppcheck).
struct build_flags {
  /// Per file (a tree path): its own arguments from a compile database
  /// (-I, -D, -U, -std, -include, -isystem, -iquote, -W kept; the output,
  /// -c and the compiler dropped), already made absolute.
  std::map<std::string, std::vector<std::string>> per_file;
  /// For files the database does not list, and with no database: -I for
  /// every directory of the tree holding a header, then the user's -I/-D.
  std::vector<std::string> common;
  std::string c_std = "gnu11";    ///< --std for C files without their own -std
  std::string cxx_std = "gnu++17";
  /// The files that a database was given for but does not list (reported).
  std::vector<std::string> not_in_database;
  /// The flags of `file`: its database entry, else `common` (no -std).
  const std::vector<std::string>& of(const std::string& file) const;
  /// "-std=..." for `file` unless its flags name one ("" then).
  std::string std_flag(const std::string& file) const;
};
/// Reads a compile database (compile_commands.json: `directory`, `file`,
/// `arguments` or `command`; relative `directory` against the database's
/// folder, relative `file` against `directory`) for the files of `tree`.
/// Fails with invalid_argument naming the file and the entry (index and
/// field) that is malformed.
bb::result<build_flags> read_compile_database(const std::string& path, const source_tree& tree);
/// The flags without a database: -I for the tree's header directories.
build_flags default_flags(const source_tree& tree);
/// Splits a compile database `command` string as a POSIX shell would
/// (quotes, backslashes; no expansion).
std::vector<std::string> split_command(const std::string& command);

/// A file a reviewer could not analyse, and why (the compiler's first
/// error, a timeout, the budget).
struct not_analysed {
  std::string reviewer;  ///< reviewer id
  std::string file;
  std::string reason;
};

/// What one reviewer contributes besides its findings (staged at
/// coverage_key() in the same promotion).
struct coverage {
  std::size_t analysed = 0;
  std::vector<not_analysed> files;  ///< reviewer is left empty in the record
};
json to_json(const coverage& c);
coverage coverage_from_json(const json& j, const std::string& reviewer);

/// Parses `cppcheck --xml` output (version 2). Paths are made relative to
/// `root`; findings outside the tree are dropped. Fails with
/// invalid_argument when there is no <results> element. A syntax or
/// preprocessor error makes its file not analysed (`failed`, when given).
bb::result<std::vector<finding>> parse_cppcheck_xml(const std::string& xml, const source_tree& tree,
                                                    std::vector<not_analysed>* failed = nullptr);
/// Parses clang-tidy's `file:line:col: warning|error: message [check]`
/// lines. Compiler errors (clang-diagnostic-error, "fatal error:") are not
/// findings: the file goes to `failed` with the first error.
std::vector<finding> parse_clang_tidy(const std::string& text, const source_tree& tree,
                                      std::vector<not_analysed>* failed = nullptr);
/// Parses GCC's `-fdiagnostics-format=json` output (warnings, including
/// -fanalyzer's, with the analyzer's path as evidence). Errors make the file
/// not analysed. Fails with invalid_argument when the text is not GCC's JSON.
bb::result<std::vector<finding>> parse_gcc_json(const std::string& text, const source_tree& tree,
                                                std::vector<not_analysed>* failed = nullptr);
/// Parses `flawfinder --csv` output.
std::vector<finding> parse_flawfinder_csv(const std::string& text, const source_tree& tree);

/// The data-flow reviewer's analysis (flow.cpp, docs/review.md
/// "reviewer/flow"): `ast_json` is what `clang -fsyntax-only -Xclang
/// -ast-dump=json` printed for the file at `main_path` (the path as clang
/// was given it), whose text is `text`; findings are of `file` (the tree
/// path). Untrusted input reaching a command or a format, integers that can
/// overflow, wrap, divide by zero or index outside their array, and
/// allocations used without a NULL check, each where no check dominates the
/// use. Fails with invalid_argument when `ast_json` is not clang's JSON.
bb::result<std::vector<finding>> analyse_clang_ast(const std::string& ast_json, const std::string& file,
                                                   const std::string& main_path, const std::string& text);

/// CPU seconds this process has spent in analyse_clang_ast (all threads):
/// the data-flow reviewer's analysis, reported apart from the review's own
/// overhead (`timing.analysis_cpu_s`).
double flow_analysis_cpu_seconds();

/// The built-in reviewers, as pure functions of the tree.
std::vector<finding> review_security(const source_tree& tree);
/// A function of a file, found lexically: its (unqualified or qualified)
/// name, the line of the name and the line of its closing brace.
struct function_span {
  std::string name;
  int first = 0;
  int last = 0;
};
std::vector<function_span> function_spans(const source_file& f);
/// The functions a change reaches (`agora review --diff --context
/// function`): each function of `tree` holding a line for which
/// `changed(file, line)` holds, then, until nothing is added, the functions
/// that call a reached one and those it calls (by name: what the change
/// returns and what it passes). File -> [first, last] line ranges.
std::map<std::string, std::vector<std::pair<int, int>>> reachable_functions(
    const source_tree& tree, const std::function<bool(const std::string&, int)>& changed);

/// Functions over `max_complexity` (cyclomatic) or `max_nesting` (blocks
/// inside the body). Preprocessor lines are not code.
std::vector<finding> review_complexity(const source_tree& tree, int max_complexity = 10,
                                       int max_nesting = 4);

/// The consensus rule (docs/review.md).
struct consensus_options {
  /// Reviewers that must agree for a `corroborate` finding to be reported.
  /// 3 by measurement (docs/review.md, "Calibration"): on the development
  /// set two analyzers agreeing were right about half the time.
  std::size_t min_agree = 3;
  /// Lines between findings of one defect (same file and family).
  int window = 2;
};
/// Merges duplicates (same file and family, lines within `window` of the
/// group's first line) into one finding naming every reviewer
/// (`found_by`) and every rule, then decides `reported`
/// (consensus_reports). `by_reviewer` pairs a reviewer id with its
/// findings. The result is sorted by file and line. O(n log n).
std::vector<finding> merge_findings(const std::vector<std::pair<std::string, std::vector<finding>>>& by_reviewer,
                                    const consensus_options& opts);
/// The decision for one merged finding whose members are (reviewer id,
/// finding): reported when a member's rule is trusted alone, or when
/// min_agree reviewers agree and one of them is not lexical. Sets
/// `kept_because`.
bool consensus_reports(finding& merged, const std::vector<std::pair<std::string, finding>>& members,
                       const consensus_options& opts);

/// A reviewer that could not take part, and why (shown in the summary).
struct left_out {
  std::string reviewer;
  std::string why;
};

/// What a review produced.
struct review_report {
  std::string target;
  /// Absolute directory finding::file is relative to (source_tree::root).
  std::string root;
  /// Absolute directory SARIF's SRCROOT names; finding paths are written
  /// relative to it (the working directory when it holds `root`, so the
  /// URIs are repository-relative when `agora review` runs at the
  /// repository's top, as CI does). Empty = `root`.
  std::string uri_base;
  std::size_t files = 0;
  std::vector<std::string> reviewers;    ///< those that contributed
  std::vector<left_out> skipped;         ///< missing tools, failed reviewers
  std::vector<not_analysed> unanalysed;  ///< files a reviewer could not analyse
  std::vector<finding> findings;         ///< merged; reported and unconfirmed
  consensus_options consensus;
  bool judged = false;
  std::string diff;                      ///< --diff spec, when the review was of a change
};

/// The terminal summary; colours when `colour`; unconfirmed rows with `all`.
std::string to_terminal(const review_report& r, bool colour, bool all);
std::string to_markdown(const review_report& r, bool all);
/// SARIF 2.1.0 as GitHub code scanning takes it (docs/review.md, "SARIF"):
/// reported findings (and unconfirmed ones as level "none" with `all`),
/// one rule per defect family and CWE, CWE tags and security-severity,
/// line-independent partialFingerprints, files not analysed and reviewers
/// left out as toolExecutionNotifications.
json to_sarif(const review_report& r, bool all = false);
/// {"target", "files", "reviewers", "skipped", "not_analysed", "findings": reported, "unconfirmed": [...]}.
json to_json(const review_report& r);

// --- Reviewer agents ---------------------------------------------------------

/// What the tool reviewers share.
struct tool_context {
  std::shared_ptr<const source_tree> tree;
  std::shared_ptr<const build_flags> flags;
  std::shared_ptr<process_runner> runner;
  /// Each tool process on one file.
  std::chrono::milliseconds per_file_timeout{std::chrono::seconds(120)};
  /// The whole review: files not started by then are not analysed.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  /// What a file not started by the deadline is told ("the review's time
  /// budget (--budget) ran out").
  std::string deadline_reason = "the review's time limit ran out";
  /// Called once per tool reviewer with the number of files it will
  /// check, then after each file it finished (progress), any thread.
  std::function<void(std::size_t)> files_planned;
  std::function<void()> file_done;
};

/// The key a reviewer's coverage record is staged at.
std::string coverage_key(const std::string& run_id, const std::string& reviewer_id);

/// Logic of a built-in reviewer: reads its turn and contributes `fn(tree)`.
actors::agent_logic builtin_reviewer(std::shared_ptr<const source_tree> tree,
                                     std::vector<finding> (*fn)(const source_tree&));
/// The tool reviewers, each on every file through ctx.runner (never on a
/// CAF worker): cppcheck and gcc (-fanalyzer and warnings) and clang-tidy
/// (clang's analyzer, warnings and bugprone/cert checks) once per file;
/// flawfinder once on the tree.
actors::agent_logic cppcheck_reviewer(tool_context ctx);
actors::agent_logic gcc_reviewer(tool_context ctx);
actors::agent_logic clang_tidy_reviewer(tool_context ctx);
actors::agent_logic flawfinder_reviewer(tool_context ctx);
/// The data-flow reviewer: clang's AST of each file (clang -ast-dump=json,
/// the file's own flags) through analyse_clang_ast(). A file whose AST is
/// larger than flow_max_ast bytes is not analysed, with that reason.
actors::agent_logic flow_reviewer(tool_context ctx);
inline constexpr std::size_t flow_max_ast = std::size_t{256} << 20;

}  // namespace agora::cli::review
