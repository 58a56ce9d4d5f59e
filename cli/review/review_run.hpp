/// \file review_run.hpp
/// Runs a review: spawns the reviewer agents, runs them as a swarm
/// (parallel then merge, one round) on a blackboard whose answer keys carry
/// the findings contract, merges their findings by consensus and, with an
/// LLM client, asks an LLM reviewer and a judge.
///
/// ```cpp
/// review_plan plan;
/// plan.tree = std::make_shared<const source_tree>(*load_source_tree("src"));
/// auto done = run_review(plan);            // blocks; bb::result<review_done>
/// if (done) std::cout << to_terminal(done->report, false, false);
/// ```
///
/// Thread-safety: run_review blocks the calling thread (main's, never an
/// actor's); it builds and tears down its own actor runtime.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "agora/actors/agent.hpp"
#include "agora/agents/llm.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "review/review.hpp"

namespace agora::cli::review {

/// The run id of every review (its keys: runs/review/...).
inline constexpr const char* review_run_id = "review";

/// The key pattern the findings contract is set on.
std::string answers_pattern();

/// Installs the findings contract on `board` (answers_pattern()).
bb::status install_findings_contract(bb::blackboard& board);

/// An extra reviewer (tests: a reviewer that breaks the contract).
struct extra_reviewer {
  std::string name;  ///< the id's key: reviewer/<name>
  actors::agent_logic logic;
};

/// What to review and how.
/// How long a review may run without --budget: long enough for any tree
/// this machine can review in a working day, short of forever.
inline constexpr std::chrono::hours default_review_limit{8};

/// The largest value the review's blackboard takes (a reviewer's findings,
/// the merged result): 256 MiB, against the blackboard's default 1 MiB.
inline constexpr std::size_t review_max_value_bytes = std::size_t(256) << 20;

struct review_plan {
  std::shared_ptr<const source_tree> tree;
  consensus_options consensus;
  /// Tool processes at once.
  std::size_t jobs = 2;
  /// A durable blackboard file; "" = in memory.
  std::string board_path;
  /// Spans as JSON lines; "" = none.
  std::string spans_path;
  /// With a client: an LLM reviewer and a judge.
  std::shared_ptr<llm_client> llm;
  /// The reviewers to run, by name (all_reviewers() when empty): security,
  /// complexity, cppcheck, gcc, clang-tidy, flawfinder. Tests and
  /// `--reviewers` pick some.
  std::vector<std::string> reviewers;
  /// The build's flags (default_flags(tree) when null).
  std::shared_ptr<const build_flags> flags;
  /// Each tool process on one file.
  std::chrono::milliseconds per_file_timeout{std::chrono::seconds(120)};
  /// The whole review's time budget: files not started by then are not
  /// analysed (and say so). Zero = the default limit, default_review_limit.
  std::chrono::milliseconds budget{0};
  std::vector<extra_reviewer> extra;
  /// Progress lines (nullptr = none).
  std::ostream* progress = nullptr;
  /// Polled while the swarm runs; true stops the review: running tool
  /// processes are killed (process_runner::cancel_all), their reviewers
  /// fail, the round closes and run_review fails with bb::errc::io_error
  /// "interrupted".
  std::function<bool()> cancelled;
  /// Called when the run has not ended 3 s after `cancelled` (an LLM call
  /// still waiting): the command ends the process there. When unset,
  /// run_review waits for the round to close.
  std::function<void()> abandon;
};

struct review_done {
  review_report report;
  std::shared_ptr<bb::blackboard> board;
};

/// The names of every reviewer, in the order they are listed.
const std::vector<std::string>& all_reviewers();

/// The key the review's result (to_json(review_report)) is written at when
/// it is done, for `agora report` and `agora inspect`.
std::string review_result_key();

/// Writes to_json(report) at review_result_key() (run_review does; the
/// command again after --diff filtered the findings).
bb::status record_result(bb::blackboard& board, const review_report& report);

/// Runs the review. Fails with bb::errc::io_error when the blackboard or
/// spans file cannot be opened, or the swarm could not run at all.
/// Reviewers that fail are listed in report.skipped with the reason.
bb::result<review_done> run_review(const review_plan& plan);

/// Applies a judge's answer `{"verdicts": [{"id", "verdict": keep|drop,
/// "reason"}]}` to `findings`, where id indexes `candidates` (indexes into
/// findings). A kept finding becomes reported with judge = the reason.
/// Returns how many were kept. Unknown ids are ignored.
std::size_t apply_verdicts(std::vector<finding>& findings, const std::vector<std::size_t>& candidates,
                           const json& answer);

}  // namespace agora::cli::review
