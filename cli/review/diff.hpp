/// \file diff.hpp
/// Which files and lines a git change touches, for `agora review --diff REV`
/// (the reviewed tree against REV, uncommitted changes included) and
/// `--diff A..B` / `--diff A...B` (two commits; `...` diffs from their
/// merge base, as git does).
///
/// ```cpp
/// auto change = read_change("/work/repo/src", "origin/main...HEAD");
/// if (!change) { std::cerr << change.error().message << "\n"; return exit_usage; }
/// for (const auto& f : all_findings)
///   if (const changed_file* c = change->find(f.file); c && c->touched(f.line, 3)) keep(f);
/// ```
///
/// Lines are those of the NEW version of each file (the working tree for
/// `REV`, B for `A..B`); paths are relative to the reviewed tree, so they
/// compare equal to finding::file.
///
/// Thread-safety: changed_file and change_set are values; read_change and
/// parse_git_diff may be called from any thread (read_change blocks while
/// git runs, so not from an actor's handler).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace agora::cli::review {

/// One file the change touches.
struct changed_file {
  /// Relative to the tree root, '/' separated. For a deleted file, its old
  /// path; for a renamed one, its new path.
  std::string path;
  /// Changed (added or modified) line ranges [first, last], 1-based, in the
  /// new version of the file: sorted, disjoint and not adjacent (touching
  /// ranges are merged). Empty when the change only removed lines, only
  /// renamed the file or changed its mode, and for a deleted file.
  std::vector<std::pair<int, int>> ranges;
  /// The file does not exist in the new version.
  bool deleted = false;
  /// The file does not exist in the old version (added, or moved into the
  /// tree root from outside it).
  bool is_new = false;

  /// Whether `line` lies in a changed range. O(log ranges).
  bool touched(int line) const;
  /// Whether `line` lies within `context` lines of a changed range (a
  /// negative context counts as 0). O(log ranges).
  bool touched(int line, int context) const;
};

/// Everything one `--diff` spec changes under one tree root.
struct change_set {
  /// The spec as given ("HEAD~2", "main..topic", "main...topic").
  std::string spec;
  /// The repository's top-level directory (`git rev-parse --show-toplevel`).
  std::string repo_root;
  /// Sorted by path (byte order), one entry per path. Binary files are not
  /// listed, nor untracked files, submodules, or files outside the tree root.
  std::vector<changed_file> files;

  /// The entry for `path` (relative to the tree root, as in changed_file),
  /// or nullptr when the change does not touch it. O(log files).
  const changed_file* find(const std::string& path) const;
};

/// Runs git (argv, no shell; each call with a 60 s timeout) to find what
/// `spec` changes under `tree_root`, a directory inside a git work tree
/// (the reviewed PATH; it may be a subdirectory of the repository).
///
/// `spec` is `REV` (REV against the working tree, as `git diff REV`: tracked
/// files' uncommitted changes count, untracked files do not), `A..B` (`git
/// diff A B`) or `A...B` (`git diff $(git merge-base A B) B`); an empty side
/// means HEAD. Each revision must name a commit. Renames are detected
/// (`-M`): a renamed file is listed under its new path with the lines its
/// edit changed.
///
/// Fails with bb::errc::invalid_argument, the message starting "--diff" and
/// naming the input, when: the spec is empty or a side of it starts with '-'
/// (git would read it as an option); tree_root is not a directory or not
/// inside a git work tree; git is not installed; a revision is unknown or
/// not a commit (with git's first line of complaint); `A...B` has no merge
/// base. Fails with bb::errc::io_error when git fails otherwise (times out,
/// is killed, exits non-zero, writes more than 256 MiB, or writes a diff
/// that cannot be read).
[[nodiscard]] bb::result<change_set> read_change(const std::string& tree_root, const std::string& spec);

/// Parses the output of `git diff -U0 --no-color --no-ext-diff
/// --src-prefix=a/ --dst-prefix=b/` (with or without `-M`, with paths quoted
/// C-style or not) into files, as read_change lists them: sorted by path,
/// one entry per path, binary files left out. Linear in the text's size
/// (plus sorting the files and ranges).
///
/// Fails with bb::errc::io_error naming the line when a hunk header is
/// malformed or the text ends inside a hunk.
[[nodiscard]] bb::result<std::vector<changed_file>> parse_git_diff(std::string_view text);

}  // namespace agora::cli::review
