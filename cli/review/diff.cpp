// Reading what a git change touches: run git (argv, never a shell), parse
// its -U0 diff into changed line ranges of the new version of each file.
#include "review/diff.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "process.hpp"

namespace agora::cli::review {

namespace fs = std::filesystem;

bool changed_file::touched(int line) const { return touched(line, 0); }

bool changed_file::touched(int line, int context) const {
  if (context < 0) context = 0;
  // The first range whose end is not before line - context.
  const long lo = static_cast<long>(line) - context;
  const long hi = static_cast<long>(line) + context;
  auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                             [](const std::pair<int, int>& r, long v) { return r.second < v; });
  return it != ranges.end() && it->first <= hi;
}

const changed_file* change_set::find(const std::string& path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const changed_file& f, const std::string& p) { return f.path < p; });
  return it != files.end() && it->path == path ? &*it : nullptr;
}

namespace {

bb::error bad_diff(std::size_t line_no, const std::string& why) {
  return bb::error{bb::errc::io_error, "git diff output, line " + std::to_string(line_no) + ": " + why};
}

// A path as git prints it: bare, or C-quoted ("a/tab\there") when it holds
// special bytes. Returns nullopt when the quoting is malformed.
std::optional<std::string> unquote(std::string_view s) {
  if (s.empty() || s.front() != '"') return std::string(s);
  if (s.size() < 2 || s.back() != '"') return std::nullopt;
  std::string out;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i + 1 > s.size() - 1) return std::nullopt;
    c = s[i];
    switch (c) {
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case '\\': out.push_back('\\'); break;
      case '"': out.push_back('"'); break;
      default:
        if (c >= '0' && c <= '7') {
          int v = 0;
          int n = 0;
          while (n < 3 && i + 1 < s.size() && s[i] >= '0' && s[i] <= '7') {
            v = v * 8 + (s[i] - '0');
            ++i;
            ++n;
          }
          --i;
          out.push_back(static_cast<char>(v));
        } else {
          return std::nullopt;
        }
    }
  }
  return out;
}

// "a/x" -> "x" (the prefix we asked git for); /dev/null -> "".
std::optional<std::string> strip_side(std::string_view raw, char side) {
  auto p = unquote(raw);
  if (!p) return std::nullopt;
  if (*p == "/dev/null") return std::string();
  if (p->size() < 2 || (*p)[0] != side || (*p)[1] != '/') return std::nullopt;
  return p->substr(2);
}

bool parse_num(std::string_view s, std::size_t& i, long& v) {
  const std::size_t start = i;
  v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + (s[i] - '0');
    if (v > 1'000'000'000L) return false;
    ++i;
  }
  return i > start;
}

// "@@ -a[,b] +c[,d] @@..." -> old count, new start, new count.
bool parse_hunk(std::string_view line, long& old_count, long& new_start, long& new_count) {
  if (line.substr(0, 4) != "@@ -") return false;
  std::size_t i = 4;
  long old_start = 0;
  if (!parse_num(line, i, old_start)) return false;
  old_count = 1;
  if (i < line.size() && line[i] == ',') {
    ++i;
    if (!parse_num(line, i, old_count)) return false;
  }
  if (line.substr(i, 2) != " +") return false;
  i += 2;
  if (!parse_num(line, i, new_start)) return false;
  new_count = 1;
  if (i < line.size() && line[i] == ',') {
    ++i;
    if (!parse_num(line, i, new_count)) return false;
  }
  return line.substr(i, 3) == " @@";
}

struct entry {
  std::string old_path;  // "" = did not exist
  std::string new_path;  // "" = does not exist
  bool binary = false;
  bool submodule = false;
  std::vector<std::pair<int, int>> ranges;
};

// The two paths of "diff --git a/X b/Y" when no ---/+++ or rename lines
// name them (mode-only changes, empty files). Unquoted paths with spaces
// are ambiguous; git only omits the other lines when X == Y, so split in
// the middle.
bool paths_from_git_line(std::string_view rest, entry& e) {
  if (!rest.empty() && rest.front() == '"') {
    // "a/..." then ' ' then b/... (maybe quoted)
    std::size_t i = 1;
    while (i < rest.size() && rest[i] != '"') i += rest[i] == '\\' ? 2 : 1;
    if (i >= rest.size()) return false;
    auto a = strip_side(rest.substr(0, i + 1), 'a');
    auto b = rest.size() > i + 2 ? strip_side(rest.substr(i + 2), 'b') : std::nullopt;
    if (!a || !b) return false;
    e.old_path = *a;
    e.new_path = *b;
    return true;
  }
  if (rest.size() >= 7 && (rest.size() - 1) % 2 == 0) {
    const std::size_t half = (rest.size() - 1) / 2;
    if (rest[half] == ' ' && rest.substr(0, 2) == "a/" && rest.substr(half + 1, 2) == "b/" &&
        rest.substr(2, half - 2) == rest.substr(half + 3)) {
      e.old_path = std::string(rest.substr(2, half - 2));
      e.new_path = e.old_path;
      return true;
    }
  }
  // "a/X b/"..." (second quoted)
  auto q = rest.find(" \"b/");
  if (q != std::string_view::npos) {
    auto a = strip_side(rest.substr(0, q), 'a');
    auto b = strip_side(rest.substr(q + 1), 'b');
    if (a && b) {
      e.old_path = *a;
      e.new_path = *b;
      return true;
    }
  }
  return false;
}

void normalise(std::vector<std::pair<int, int>>& ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<int, int>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && static_cast<long>(r.first) <= static_cast<long>(merged.back().second) + 1)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  ranges = std::move(merged);
}

bb::result<std::vector<entry>> parse_entries(std::string_view text) {
  std::vector<entry> out;
  std::size_t pos = 0;
  std::size_t line_no = 0;
  long old_left = 0;
  long new_left = 0;
  bool have_paths = false;
  std::size_t hunk_line = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (old_left > 0 || new_left > 0) {
      const char c = line.empty() ? '\0' : line.front();
      if (c == '-' && old_left > 0) {
        --old_left;
      } else if (c == '+' && new_left > 0) {
        --new_left;
      } else if (c == ' ' && old_left > 0 && new_left > 0) {
        --old_left;
        --new_left;
      } else if (c == '\\') {
        // "\ No newline at end of file"
      } else {
        return bad_diff(line_no, "a hunk ends early (it began on line " + std::to_string(hunk_line) + ")");
      }
      continue;
    }
    if (line.substr(0, 11) == "diff --git ") {
      out.emplace_back();
      have_paths = paths_from_git_line(line.substr(11), out.back());
      continue;
    }
    if (out.empty()) continue;  // anything before the first file (none with our flags)
    entry& e = out.back();
    auto starts = [&](std::string_view p) { return line.substr(0, p.size()) == p; };
    if (starts("@@ ")) {
      long old_count = 0;
      long new_start = 0;
      long new_count = 0;
      if (!parse_hunk(line, old_count, new_start, new_count))
        return bad_diff(line_no, "malformed hunk header '" + std::string(line.substr(0, 80)) + "'");
      if (new_count > 0) e.ranges.emplace_back(static_cast<int>(new_start), static_cast<int>(new_start + new_count - 1));
      old_left = old_count;
      new_left = new_count;
      hunk_line = line_no;
    } else if (starts("--- ")) {
      auto p = strip_side(line.substr(4), 'a');
      if (!p) return bad_diff(line_no, "cannot read the old path");
      e.old_path = *p;
      have_paths = true;
    } else if (starts("+++ ")) {
      auto p = strip_side(line.substr(4), 'b');
      if (!p) return bad_diff(line_no, "cannot read the new path");
      e.new_path = *p;
      have_paths = true;
    } else if (starts("rename from ") || starts("copy from ")) {
      auto p = unquote(line.substr(line.find(" from ") + 6));
      if (!p) return bad_diff(line_no, "cannot read the rename source");
      e.old_path = *p;
    } else if (starts("rename to ") || starts("copy to ")) {
      auto p = unquote(line.substr(line.find(" to ") + 4));
      if (!p) return bad_diff(line_no, "cannot read the rename target");
      e.new_path = *p;
      have_paths = true;
    } else if (starts("new file mode ")) {
      e.old_path.clear();
      if (line.substr(14) == "160000") e.submodule = true;
    } else if (starts("deleted file mode ")) {
      e.new_path.clear();
      if (line.substr(18) == "160000") e.submodule = true;
    } else if (starts("index ")) {
      if (line.size() >= 7 && line.substr(line.size() - 7) == " 160000") e.submodule = true;
    } else if (starts("Binary files ") || starts("GIT binary patch")) {
      e.binary = true;
    }
    if (!have_paths && !starts("diff --git ") && (starts("@@ "))) return bad_diff(line_no, "a hunk before the file's paths");
  }
  if (old_left > 0 || new_left > 0)
    return bad_diff(line_no, "the diff ends inside the hunk that began on line " + std::to_string(hunk_line));
  return out;
}

}  // namespace

bb::result<std::vector<changed_file>> parse_git_diff(std::string_view text) {
  auto entries = parse_entries(text);
  if (!entries) return entries.error();
  std::map<std::string, changed_file> by_path;
  for (auto& e : *entries) {
    if (e.binary || e.submodule) continue;
    const bool deleted = e.new_path.empty();
    const std::string& path = deleted ? e.old_path : e.new_path;
    if (path.empty()) continue;
    changed_file& f = by_path[path];
    f.path = path;
    f.deleted = deleted;
    f.is_new = e.old_path.empty();
    f.ranges.insert(f.ranges.end(), e.ranges.begin(), e.ranges.end());
    if (deleted) f.ranges.clear();
  }
  std::vector<changed_file> out;
  out.reserve(by_path.size());
  for (auto& [path, f] : by_path) {
    normalise(f.ranges);
    out.push_back(std::move(f));
  }
  return out;
}

namespace {

constexpr auto git_timeout = std::chrono::seconds(60);

bb::result<process_result> git(const std::string& cwd, std::vector<std::string> args) {
  process_request rq;
  rq.argv = {"git", "-C", cwd};
  rq.argv.insert(rq.argv.end(), args.begin(), args.end());
  rq.timeout = git_timeout;
  rq.max_output = 256u << 20;
  rq.env = {"LC_ALL=C", "GIT_PAGER=cat", "GIT_OPTIONAL_LOCKS=0", "GIT_EXTERNAL_DIFF="};
  return run_process(rq);
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  std::string l = s.substr(0, nl);
  while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
  return l;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

bb::error git_failed(const std::string& what, const process_result& r) {
  std::string why = r.timed_out ? "timed out after 60 s"
                    : r.signal ? "killed by signal " + std::to_string(r.signal)
                    : r.truncated ? "wrote more than 256 MiB"
                                  : "exited " + std::to_string(r.exit_code) + ": " + first_line(r.err);
  return bb::error{bb::errc::io_error, "--diff: git " + what + " " + why};
}

}  // namespace

bb::result<change_set> read_change(const std::string& tree_root, const std::string& spec) {
  if (spec.empty()) return bb::error{bb::errc::invalid_argument, "--diff: needs a revision (REV, A..B or A...B)"};
  std::string a;
  std::string b;
  bool two_sided = false;
  bool merge_base = false;
  if (auto p = spec.find("..."); p != std::string::npos) {
    a = spec.substr(0, p);
    b = spec.substr(p + 3);
    two_sided = merge_base = true;
  } else if (auto q = spec.find(".."); q != std::string::npos) {
    a = spec.substr(0, q);
    b = spec.substr(q + 2);
    two_sided = true;
  } else {
    a = spec;
  }
  if (two_sided) {
    if (a.empty()) a = "HEAD";
    if (b.empty()) b = "HEAD";
  }
  for (const std::string* side : {&a, &b}) {
    if (!side->empty() && side->front() == '-')
      return bb::error{bb::errc::invalid_argument, "--diff '" + spec + "': a revision may not start with '-'"};
    if (side->find_first_of(std::string("\0\n", 2)) != std::string::npos)
      return bb::error{bb::errc::invalid_argument, "--diff '" + spec + "': a revision may not hold a newline"};
  }
  std::error_code ec;
  if (!fs::is_directory(tree_root, ec))
    return bb::error{bb::errc::invalid_argument, "--diff: " + tree_root + " is not a directory"};
  if (!program_exists("git"))
    return bb::error{bb::errc::invalid_argument, "--diff: git is not installed (it is needed to read the change)"};

  change_set cs;
  cs.spec = spec;
  auto top = git(tree_root, {"rev-parse", "--show-toplevel"});
  if (!top) return bb::error{bb::errc::io_error, "--diff: " + top.error().message};
  if (top->exit_code != 0)
    return bb::error{bb::errc::invalid_argument,
                     "--diff: " + tree_root + " is not inside a git work tree (" + first_line(top->err) + ")"};
  cs.repo_root = trimmed(top->out);
  auto pre = git(tree_root, {"rev-parse", "--show-prefix"});
  if (!pre) return bb::error{bb::errc::io_error, "--diff: " + pre.error().message};
  if (pre->exit_code != 0) return git_failed("rev-parse --show-prefix", *pre);
  const std::string prefix = trimmed(pre->out);  // "" or "sub/dir/"

  auto commit_of = [&](const std::string& rev) -> bb::result<std::string> {
    auto r = git(tree_root, {"rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}"});
    if (!r) return bb::error{bb::errc::io_error, "--diff: " + r.error().message};
    if (r->exit_code != 0) {
      std::string why = first_line(r->err);
      return bb::error{bb::errc::invalid_argument,
                       "--diff '" + spec + "': '" + rev + "' does not name a commit in " + cs.repo_root +
                           (why.empty() ? "" : " (" + why + ")")};
    }
    return trimmed(r->out);
  };
  auto ca = commit_of(a);
  if (!ca) return ca.error();
  std::string old_rev = *ca;
  std::string new_rev;
  if (two_sided) {
    auto cb = commit_of(b);
    if (!cb) return cb.error();
    new_rev = *cb;
    if (merge_base) {
      auto mb = git(tree_root, {"merge-base", old_rev, new_rev});
      if (!mb) return bb::error{bb::errc::io_error, "--diff: " + mb.error().message};
      if (mb->exit_code == 1)
        return bb::error{bb::errc::invalid_argument, "--diff '" + spec + "': " + a + " and " + b + " have no merge base"};
      if (mb->exit_code != 0) return git_failed("merge-base", *mb);
      old_rev = first_line(mb->out);
    }
  }
  std::vector<std::string> args = {"diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
                                   "--src-prefix=a/", "--dst-prefix=b/", "--ignore-submodules=all", old_rev};
  if (!new_rev.empty()) args.push_back(new_rev);
  args.push_back("--");
  // Paths are read from the top level; the pathspec keeps the diff to the
  // tree, rename sources outside it included as additions.
  auto d = git(cs.repo_root, args);
  if (!d) return bb::error{bb::errc::io_error, "--diff: " + d.error().message};
  if (d->timed_out || d->signal || d->truncated || d->exit_code != 0) return git_failed("diff", *d);
  auto files = parse_git_diff(d->out);
  if (!files) return bb::error{bb::errc::io_error, "--diff: " + files.error().message};
  auto entries = parse_entries(d->out);  // old paths, to tell moves into the tree
  std::map<std::string, std::string> old_of;
  if (entries)
    for (const auto& e : *entries)
      if (!e.new_path.empty()) old_of[e.new_path] = e.old_path;
  for (auto& f : *files) {
    if (f.path.compare(0, prefix.size(), prefix) != 0) continue;
    changed_file g = std::move(f);
    if (!g.deleted && !g.is_new) {
      auto it = old_of.find(g.path);
      if (it != old_of.end() && it->second.compare(0, prefix.size(), prefix) != 0) g.is_new = true;
    }
    g.path = g.path.substr(prefix.size());
    cs.files.push_back(std::move(g));
  }
  std::sort(cs.files.begin(), cs.files.end(),
            [](const changed_file& x, const changed_file& y) { return x.path < y.path; });
  return cs;
}

}  // namespace agora::cli::review
