// The runtime's lifetime: what it spawned is stopped at its end, and an
// actor that does not quit is named instead of hanging the program. Each
// case runs in a child process (fork before any actor system exists), so
// that a program's real exit, static destructors included, is what is
// checked; the parent waits for it with a time limit.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "agora/actors/runtime.hpp"
#include "test_support.hpp"

using namespace agora;

namespace {

struct child_result {
  bool exited = false;  // within the time limit
  int status = -1;
  std::string err;
};

// Runs `body` in a child whose stderr goes to a file; the child ends with
// std::exit (static destructors run) with body's return value.
child_result in_child(const std::function<int()>& body, std::chrono::seconds limit = std::chrono::seconds(30)) {
  char path[] = "/tmp/agora-runtime-test-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fd, 2);
    std::exit(body());
  }
  ::close(fd);
  child_result r;
  const auto until = std::chrono::steady_clock::now() + limit;
  int st = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      r.exited = true;
      r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!r.exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
  }
  std::ifstream in(path);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  ::unlink(path);
  return r;
}

}  // namespace

TEST_CASE("runtime stops the agents it spawned when it goes, even with their handles still held",
          "[actors][runtime]") {
  auto r = in_child([] {
    actors::agent_actor kept;  // outlives the runtime: this used to hang at exit
    {
      actors::runtime rt;
      auto board = std::make_shared<bb::blackboard>();
      auto id = actors::agent_id::parse("worker/kept");
      auto a = actors::spawn_agent(rt, board, {*id, "worker", {}}, agora_test::writer());
      if (!a) return 3;
      kept = *a;
    }
    return 0;
  });
  CHECK(r.exited);
  CHECK(r.status == 0);
  CHECK(r.err.empty());
}

TEST_CASE("runtime shutdown names what still runs and returns instead of waiting forever", "[actors][runtime]") {
  auto r = in_child([] {
    actors::runtime_options o;
    o.shutdown_timeout = std::chrono::milliseconds(300);
    actors::runtime rt(o);
    // Spawned on the system directly, never told to quit, its handle held.
    caf::actor stuck = rt.system().spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](int x) { return x; }};
    });
    auto board = std::make_shared<bb::blackboard>();
    auto id = actors::agent_id::parse("worker/polite");
    if (!actors::spawn_agent(rt, board, {*id, "worker", {}}, agora_test::writer())) return 3;
    const auto t0 = std::chrono::steady_clock::now();
    const bool all_quit = rt.shutdown(std::chrono::milliseconds(300));
    const auto took = std::chrono::steady_clock::now() - t0;
    if (all_quit) return 4;
    if (took > std::chrono::seconds(5)) return 5;
    return 0;  // then the process exits with `stuck` still running
  });
  CHECK(r.exited);
  CHECK(r.status == 0);
  INFO(r.err);
  CHECK(r.err.find("agora: runtime shutdown: 1 actor(s) still running after 300 ms") != std::string::npos);
  CHECK(r.err.find("1 not spawned through the runtime") != std::string::npos);
  // The agent the runtime spawned was stopped: it is not among them.
  CHECK(r.err.find("worker/polite") == std::string::npos);
}

TEST_CASE("runtime shutdown names an agent of its own that is stuck in its handler", "[actors][runtime]") {
  auto r = in_child([] {
    actors::runtime rt;
    auto board = std::make_shared<bb::blackboard>();
    auto id = actors::agent_id::parse("worker/stuck");
    // A sync logic that never returns: the exit message waits behind it.
    auto logic = actors::agent_logic::sync([](const actors::task&, bb::scratchpad&) -> bb::status {
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    });
    auto a = actors::spawn_agent(rt, board, {*id, "worker", {}}, logic);
    if (!a) return 3;
    caf::anon_send(*a, actors::run_atom::value, agora_test::make_task("r", "t"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return rt.shutdown(std::chrono::milliseconds(300)) ? 4 : 0;
  });
  CHECK(r.exited);
  CHECK(r.status == 0);
  INFO(r.err);
  CHECK(r.err.find("worker/stuck (#") != std::string::npos);
}
