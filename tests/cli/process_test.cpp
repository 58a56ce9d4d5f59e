#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "process.hpp"

using namespace agora::cli;
using namespace std::chrono_literals;

TEST_CASE("process captures stdout, stderr and the exit code, and feeds stdin", "[cli][process]") {
  process_request rq;
  rq.argv = {"sh", "-c", "cat; echo oops >&2; exit 3"};
  rq.stdin_text = std::string(200000, 'x');  // more than a pipe buffer
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->exit_code == 3);
  CHECK(r->signal == 0);
  CHECK_FALSE(r->timed_out);
  CHECK(r->out.size() == 200000);
  CHECK(r->err == "oops\n");
}

TEST_CASE("process kills the whole group when it runs past its timeout", "[cli][process]") {
  process_request rq;
  rq.argv = {"sh", "-c", "sleep 30 & sleep 30; echo never"};
  rq.timeout = 300ms;
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->signal == 9);
  CHECK(r->out.empty());
  CHECK(r->elapsed < 10s);
}

TEST_CASE("process names a program that does not exist", "[cli][process]") {
  process_request rq;
  rq.argv = {"agora-no-such-program", "x"};
  auto r = run_process(rq);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == agora::bb::errc::io_error);
  CHECK_THAT(r.error().message, Catch::Contains("cannot run 'agora-no-such-program'"));
  CHECK_FALSE(program_exists("agora-no-such-program"));
  CHECK(program_exists("sh"));
}

TEST_CASE("process keeps at most max_output bytes and says so", "[cli][process]") {
  process_request rq;
  rq.argv = {"sh", "-c", "head -c 100000 /dev/zero"};
  rq.max_output = 1000;
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->out.size() == 1000);
  CHECK(r->truncated);
  CHECK(r->exit_code == 0);
}

TEST_CASE("process stops a producer whose output passes max_output when asked", "[cli][process]") {
  process_request rq;
  rq.argv = {"yes"};  // never ends on its own
  rq.max_output = 4096;
  rq.stop_when_truncated = true;
  rq.timeout = std::chrono::seconds(60);
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->truncated);
  CHECK(r->out.size() == 4096);
  CHECK_FALSE(r->timed_out);  // stopped at the limit, not at the timeout
  CHECK(r->signal == SIGKILL);
}

TEST_CASE("process_runner calls back once per request and cancels queued work at destruction",
          "[cli][process]") {
  std::mutex mu;
  std::condition_variable cv;
  int ok = 0, cancelled = 0;
  {
    process_runner runner(1);
    process_request slow;
    slow.argv = {"sh", "-c", "sleep 0.3"};
    runner.submit(slow, [&](agora::bb::result<process_result> r) {
      std::lock_guard<std::mutex> lk(mu);
      if (r && r->exit_code == 0) ++ok;
      cv.notify_all();
    });
    for (int i = 0; i < 3; ++i)
      runner.submit(slow, [&](agora::bb::result<process_result> r) {
        std::lock_guard<std::mutex> lk(mu);
        if (r) ++ok; else ++cancelled;
      });
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, 10s, [&] { return ok >= 1; });
  }  // destructor: the queued ones that never started are cancelled
  CHECK(ok + cancelled == 4);
  CHECK(ok >= 1);
}

TEST_CASE("process survives a child that exits without reading its stdin", "[cli][process]") {
  process_request rq;
  rq.argv = {"true"};
  rq.stdin_text = std::string(1 << 20, 'x');
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->exit_code == 0);
}

TEST_CASE("process_runner cancel_all kills running processes and refuses new work", "[cli][process]") {
  std::mutex mu;
  std::condition_variable cv;
  bool started_done = false, cancelled = false;
  process_runner runner(1);
  process_request rq;
  rq.argv = {"sh", "-c", "sleep 30"};
  rq.timeout = 60s;
  const auto t0 = std::chrono::steady_clock::now();
  runner.submit(rq, [&](agora::bb::result<process_result> r) {
    std::lock_guard<std::mutex> lk(mu);
    started_done = true;
    // Killed while it ran, or answered as cancelled before it ran.
    cancelled = (r && r->cancelled && r->signal == 9) || (!r && r.error().message.rfind("cancelled", 0) == 0);
    cv.notify_all();
  });
  process_request probe;
  probe.argv = {"true"};
  runner.cancel_all();
  {
    std::unique_lock<std::mutex> lk(mu);
    REQUIRE(cv.wait_for(lk, 20s, [&] { return started_done; }));
  }
  // Either it was still queued (answered as cancelled, never ran) or it ran
  // and was killed: both well before its 30 s.
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  bool refused = false;
  runner.submit(probe, [&](agora::bb::result<process_result> r) { refused = !r; });
  CHECK(refused);
  CHECK(cancelled);
}

TEST_CASE("process with a cancel flag is killed when the flag is set", "[cli][process]") {
  std::atomic<bool> flag{true};  // already set: killed right after it started
  process_request rq;
  rq.argv = {"sh", "-c", "sleep 30"};
  rq.cancel = &flag;
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->cancelled);
  CHECK(r->signal == 9);
  CHECK(r->elapsed < 10s);
}

TEST_CASE("process env entries replace the caller's of the same name", "[cli][process]") {
  process_request rq;
  rq.argv = {"sh", "-c", "echo \"$HOME|$AGORA_PROCESS_TEST\""};
  rq.env = {"HOME=/agora-home", "AGORA_PROCESS_TEST=1"};
  auto r = run_process(rq);
  REQUIRE(r);
  CHECK(r->out == "/agora-home|1\n");
}

// The review's reviewers own the runner through their callbacks: the last
// owner can go inside a callback, on the runner's own thread. That was
// std::terminate ("Resource deadlock avoided": a thread joining itself).
TEST_CASE("process_runner may be destroyed by a callback on its own thread", "[cli][process]") {
  std::mutex mu;
  std::condition_variable cv;
  bool gone = false;
  // Set by the destructor of a value the callback holds, after the runner
  // it also holds has been released on the runner's thread.
  struct signal_on_destroy {
    std::mutex* mu;
    std::condition_variable* cv;
    bool* gone;
    ~signal_on_destroy() {
      std::lock_guard<std::mutex> lk(*mu);
      *gone = true;
      cv->notify_all();
    }
  };
  std::thread::id callback_thread;
  {
    auto runner = std::make_shared<process_runner>(2);
    process_request rq;
    rq.argv = {"sh", "-c", "sleep 0.2"};
    rq.timeout = 20s;
    auto signal = std::make_shared<signal_on_destroy>(signal_on_destroy{&mu, &cv, &gone});
    runner->submit(rq, [owner = runner, signal, &callback_thread](agora::bb::result<process_result> r) mutable {
      callback_thread = std::this_thread::get_id();
      CHECK(r);
      owner.reset();   // the last owner, once the test's own handle is gone
      signal.reset();  // tells the test
    });
  }  // the test's handle goes while the process still runs
  std::unique_lock<std::mutex> lk(mu);
  REQUIRE(cv.wait_for(lk, 20s, [&] { return gone; }));
  CHECK(callback_thread != std::this_thread::get_id());
  // Had the runner joined its own thread, std::terminate would have ended
  // this test binary before here.
  lk.unlock();
  std::this_thread::sleep_for(100ms);
  SUCCEED();
}
