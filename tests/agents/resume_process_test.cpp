// Resumable runs across a real process kill: run_worker (run_worker_main.cpp)
// runs a debate on a durable blackboard file; the test SIGKILLs it in the
// middle of a round, starts it again on the same file and run id, and
// compares with a run that was never killed. Every wait is bounded.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace {

using namespace agora;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// A fresh directory under the system's temp dir, removed at the end.
struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-resume") {}
};

/// A run_worker process, stdout on a pipe, stderr in a file. Killed (and
/// reaped) by the destructor if it is still running.
class worker {
 public:
  worker(std::vector<std::string> args, const fs::path& stderr_file) : stderr_file_(stderr_file) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    args.insert(args.begin(), AGORA_RUN_WORKER);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, AGORA_RUN_WORKER, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
    REQUIRE(rc == 0);
  }
  ~worker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  /// The next line of its stdout; "" on timeout or end of file.
  std::string read_line(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[1024];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return {};
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// The rest of the first line starting with `prefix` (lines before it are
  /// kept in `seen`); nothing when none came within `timeout`.
  std::optional<std::string> wait_for(const std::string& prefix, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      auto line = read_line(left);
      if (line.empty()) return std::nullopt;
      seen.push_back(line);
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    }
    return std::nullopt;
  }

  void kill(int sig) { ::kill(pid_, sig); }

  /// Its exit code once it exits within `timeout` (a signal counts as 128 + sig).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > end) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

  std::string stderr_text() const {
    std::ifstream in(stderr_file_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::vector<std::string> seen;

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
  fs::path stderr_file_;
};

std::vector<std::string> worker_args(const fs::path& db, const fs::path& calls) {
  return {"--db", db.string(), "--run", "r1", "--calls", calls.string(), "--budget", "300",
          "--max-rounds", "8", "--timeout-s", "60"};
}

/// Runs run_worker to the end and returns its result.
run_result run_to_end(std::vector<std::string> args, const fs::path& err) {
  worker w(std::move(args), err);
  auto line = w.wait_for("RESULT ", 60s);
  std::string out;
  for (const auto& l : w.seen) out += l + "\n";
  INFO("stdout: " << out);
  INFO("stderr: " << w.stderr_text());
  REQUIRE(line);
  CHECK(w.wait_exit(20s) == 0);
  auto j = json::parse(*line, nullptr, false);
  REQUIRE(!j.is_discarded());
  auto r = run_result::from_json(j);
  REQUIRE(r);
  return *r;
}

/// The calls log: how often each "<debater> <round>" line was written.
std::map<std::string, int> read_calls(const fs::path& path) {
  std::map<std::string, int> n;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) ++n[line];
  return n;
}

/// Waits (bounded, polling the file) until the calls log has `line`.
bool wait_for_call(const fs::path& path, const std::string& line, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (read_calls(path).count(line)) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
}

std::shared_ptr<bb::blackboard> open_board(const fs::path& db) {
  bb::durability d;
  d.path = db.string();
  auto b = bb::blackboard::open(d);
  if (!b) FAIL("cannot open " << db << ": " << bb::to_string(b.error()));
  return *b;
}

/// Transactions by id in the whole history.
std::map<std::string, int> txn_counts(const bb::blackboard& board) {
  auto h = board.history(1, board.revision(), "");
  REQUIRE(h);
  std::map<std::string, int> n;
  for (const auto& rec : *h) ++n[rec.txn_id];
  return n;
}

/// "debater/alice 3" for the member txn "r1/r3:debater:alice/0"; "" for
/// other transactions.
std::string call_of_txn(const std::string& txn) {
  const std::string prefix = "r1/r";
  if (txn.rfind(prefix, 0) != 0) return {};
  auto colon = txn.find(':');
  auto slash = txn.rfind('/');
  if (colon == std::string::npos || slash == std::string::npos || slash < colon) return {};
  std::string round = txn.substr(prefix.size(), colon - prefix.size());
  std::string who = txn.substr(colon + 1, slash - colon - 1);
  auto sep = who.find(':');
  if (sep == std::string::npos) return {};
  return who.substr(0, sep) + "/" + who.substr(sep + 1) + " " + round;
}

/// The reference run (never killed), on its own file.
struct reference {
  run_result result;
  fs::path db;
};

reference reference_run(const temp_dir& tmp) {
  return reference{run_to_end(worker_args(tmp.path / "ref.db", tmp.path / "ref.calls"),
                              tmp.path / "ref.err"),
                   tmp.path / "ref.db"};
}

/// What kill_and_resume compares with the reference run.
enum class compare {
  work,        ///< no committed work redone, nothing committed twice, same answer
  everything,  ///< and the same budgets spent, rounds, reason, transcript and commits
};

/// Runs the debate with `block` ("carol" or "all") hanging in round 3,
/// SIGKILLs the process once every debater has started round 3 and the
/// others' round-3 contributions are committed, starts it again on the same
/// file and run id, and checks the resumed run against the reference.
void kill_and_resume(const temp_dir& tmp, const std::string& block, compare what) {
  const auto ref = reference_run(tmp);
  // 60 tokens a round against a budget of 300: it stops after round 5.
  REQUIRE(ref.result.rounds == 5);
  REQUIRE(ref.result.tokens == 300);
  REQUIRE(ref.result.status == run_status::fallback);

  const std::set<std::string> debaters = {"alice", "bob", "carol"};
  std::set<std::string> committed_in_3;  // round-3 contributions committed before the kill
  for (const auto& d : debaters)
    if (block != "all" && d != block) committed_in_3.insert("r1/r3:debater:" + d + "/0");

  const auto db = tmp.path / "run.db", calls = tmp.path / "run.calls";
  {
    auto args = worker_args(db, calls);
    args.insert(args.end(), {"--block", block, "--block-round", "3"});
    worker w(args, tmp.path / "killed.err");
    bool started = true;
    for (const auto& d : debaters) started = started && wait_for_call(calls, "debater/" + d + " 3", 30s);
    INFO("stderr: " << w.stderr_text());
    REQUIRE(started);
    std::set<std::string> round3;
    while (round3 != committed_in_3) {
      auto commit = w.wait_for("COMMIT ", 30s);
      REQUIRE(commit);
      auto txn = commit->substr(0, commit->find(' '));
      if (txn.rfind("r1/r3:", 0) == 0) round3.insert(txn);
    }
    w.kill(SIGKILL);
    REQUIRE(w.wait_exit(10s) == 128 + SIGKILL);
  }

  // What the killed process left: rounds 1 and 2 closed, round 3 open, no result.
  std::map<std::string, int> before;
  {
    auto board = open_board(db);
    CHECK(board->get("runs/r1/round/2")->exists());
    CHECK(!board->get("runs/r1/round/3")->exists());
    CHECK(!board->get("runs/r1/result")->exists());
    for (const auto& d : debaters)
      CHECK(board->get("runs/r1/answers/3/debater/" + d)->exists() ==
            (committed_in_3.count("r1/r3:debater:" + d + "/0") == 1));
    before = txn_counts(*board);
  }

  // Started again on the same file and run id, nobody blocking.
  const auto resumed = run_to_end(worker_args(db, calls), tmp.path / "resumed.err");

  CHECK(resumed.status == ref.result.status);
  CHECK(resumed.answer == ref.result.answer);
  auto board = open_board(db);
  auto ref_board = open_board(ref.db);
  auto txns = txn_counts(*board), ref_txns = txn_counts(*ref_board);
  if (what == compare::everything) {
    // The same result as the run that was never killed: the budget spent
    // before the kill counts, so it stops in the same round.
    CHECK(resumed.reason == ref.result.reason);
    CHECK(resumed.stopped_by == ref.result.stopped_by);
    CHECK(resumed.rounds == ref.result.rounds);
    CHECK(resumed.tokens == ref.result.tokens);
    CHECK(resumed.cost_usd == ref.result.cost_usd);
    auto text = transcript(*board, "r1"), ref_text = transcript(*ref_board, "r1");
    REQUIRE(text);
    REQUIRE(ref_text);
    CHECK(*text == *ref_text);
    CHECK(txns == ref_txns);
  }

  // Every transaction committed once.
  for (const auto& [txn, n] : txns) {
    INFO(txn);
    CHECK(n == 1);
  }
  // Whatever committed before the kill is still there, once.
  for (const auto& [txn, n] : before) {
    INFO(txn);
    CHECK(txns[txn] == 1);
  }
  CHECK(before.count("r1/round-2") == 1);
  for (const auto& txn : committed_in_3) CHECK(before.count(txn) == 1);

  // No member task that had committed was run again: each committed
  // (debater, round) is in the calls log once — the rounds closed before the
  // kill and the round-3 contributions committed before it included. Only
  // the round-3 tasks that never committed in the killed process were
  // asked twice.
  auto made = read_calls(calls);
  std::size_t member_txns = 0, lines = 0;
  for (const auto& [txn, n] : txns) {
    auto call = call_of_txn(txn);
    if (call.empty()) continue;
    ++member_txns;
    const bool redone = txn.rfind("r1/r3:", 0) == 0 && !committed_in_3.count(txn);
    INFO(call);
    CHECK(made[call] == (redone ? 2 : 1));
  }
  if (what == compare::everything) CHECK(member_txns == 15);  // 3 debaters x 5 rounds
  for (const auto& [call, n] : made) lines += static_cast<std::size_t>(n);
  CHECK(lines == member_txns + (debaters.size() - committed_in_3.size()));
}

}  // namespace

TEST_CASE("run resumes after its process is killed between contributions: same result, closed "
          "rounds not redone, budgets kept",
          "[agents][resume]") {
  temp_dir tmp;
  kill_and_resume(tmp, "all", compare::everything);
}

TEST_CASE("run resumes after its process is killed mid-round: contributions committed in the open "
          "round are reused, not redone",
          "[agents][resume]") {
  temp_dir tmp;
  kill_and_resume(tmp, "carol", compare::work);
}

// The usage a member reports reaches the orchestrator in its outcome only
// when the round closes. A contribution committed in the round that was
// open at the kill is reused on resume, so its usage must come from the
// blackboard: the member's promotion writes it at the task's usage_key
// (actors::task). Without that, the resumed run ended with 330 tokens after
// 6 rounds instead of 300 after 5.
TEST_CASE("run resumes after its process is killed mid-round: the budget spent on the open round's "
          "committed contributions counts",
          "[agents][resume]") {
  temp_dir tmp;
  kill_and_resume(tmp, "carol", compare::everything);
}
