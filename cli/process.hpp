/// \file process.hpp
/// Running other programs: the tool agents (cppcheck, clang-tidy, a
/// scenario's `"kind": "tool"`) and the tests that run `agora` itself.
///
/// ```cpp
/// process_request rq;
/// rq.argv = {"cppcheck", "--xml", "src/"};
/// rq.timeout = std::chrono::seconds(60);
/// auto r = run_process(rq);                 // blocks; use process_runner off-thread
/// if (!r) ...                               // cannot start: names argv[0] and errno text
/// if (r->timed_out || r->exit_code != 0) ...
/// ```
/// A process gets its own process group; on timeout or cancellation the
/// whole group is killed with SIGKILL and reaped. Output is captured up to
/// a limit (the rest is dropped and `truncated` set), stdin gets
/// `stdin_text` and is then closed.
///
/// Thread-safety: run_process may be called from any thread. process_runner
/// is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace agora::cli {

struct process_request {
  /// argv[0] is looked up in PATH when it has no '/'.
  std::vector<std::string> argv;
  /// Working directory; empty = the caller's.
  std::string cwd;
  std::string stdin_text;
  /// The process (group) is killed when it has not exited by then.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// Bytes kept of stdout and of stderr each.
  std::size_t max_output = 16u << 20;
  /// When the output passes max_output, kill the process group at once
  /// (the result says `truncated`, and the signal) instead of reading and
  /// dropping the rest.
  bool stop_when_truncated = false;
  /// Environment entries "NAME=value" on top of the caller's; one whose
  /// NAME the caller has replaces it.
  std::vector<std::string> env;
  /// When set and it becomes true, the process group is killed at once
  /// (checked every 50 ms) and the result says `cancelled`. Not owned.
  const std::atomic<bool>* cancel = nullptr;
  /// process_runner only: when it would start the process after this
  /// point, it does not, and answers a result with `not_started` (a
  /// whole-review budget that ran out while the request was queued). Its
  /// timeout is also cut to end by then.
  std::chrono::steady_clock::time_point not_after = std::chrono::steady_clock::time_point::max();
};

struct process_result {
  /// The exit status; -1 when killed by a signal.
  int exit_code = -1;
  /// The signal that ended it, 0 when it exited.
  int signal = 0;
  bool timed_out = false;
  /// Killed because process_request::cancel became true.
  bool cancelled = false;
  bool truncated = false;
  /// Never started: process_request::not_after had passed.
  bool not_started = false;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

/// Runs a program to its end (or its timeout) and returns what it did.
/// Fails with bb::errc::invalid_argument when argv is empty, with
/// bb::errc::io_error when it cannot start ("cannot run 'cppcheck': No such
/// file or directory") or a pipe fails.
bb::result<process_result> run_process(const process_request& rq);

/// Whether a program can be found in PATH (or is an executable path).
bool program_exists(const std::string& name);

/// A small pool that runs processes off the caller's thread (agent logic
/// must not block a CAF worker) and calls `done` from a pool thread.
/// cancel_all() (what a command does on SIGINT) kills the running process
/// groups and answers everything queued with bb::errc::io_error
/// ("cancelled: ..."); the runner then refuses new work the same way. The
/// destructor does the same and joins its threads. It may run on one of
/// the runner's own threads (a `done` callback that dropped the last owner
/// of the runner): that thread is then left to end by itself, never joined
/// from itself.
class process_runner {
 public:
  using callback = std::function<void(bb::result<process_result>)>;

  explicit process_runner(std::size_t threads = 2);
  ~process_runner();
  process_runner(const process_runner&) = delete;
  process_runner& operator=(const process_runner&) = delete;

  /// Queues a process; `done` is called exactly once.
  void submit(process_request rq, callback done);

  /// Kills what runs, cancels what waits, refuses what comes. Any thread.
  void cancel_all();

 private:
  // What the threads share; a thread keeps it alive after the runner is gone.
  struct state {
    std::atomic<bool> cancelled{false};
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<process_request, callback>> queue;
    bool stopping = false;
  };
  static void work(const std::shared_ptr<state>& s);

  std::shared_ptr<state> s_;
  std::vector<std::thread> threads_;
};

}  // namespace agora::cli
