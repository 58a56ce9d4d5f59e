// Shared by the agents tests: a runtime, a board, function agents. Tests only.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora_test {

namespace act = agora::actors;
namespace bb = agora::bb;
using agora::json;
using namespace std::chrono_literals;

/// A one-shot gate a test opens; logic threads wait on it (never a CAF worker).
class gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  /// False when it was not opened within `d`.
  bool wait(std::chrono::milliseconds d = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, d, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// Threads that complete async logic later; joined on destruction.
class later {
 public:
  ~later() {
    for (auto& t : threads_) t.join();
  }
  template <class F>
  void run(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back(std::move(f));
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

inline act::runtime_options test_runtime() {
  act::runtime_options o;
  o.worker_threads = 2;
  return o;
}

struct fixture {
  act::runtime rt{test_runtime()};
  std::shared_ptr<bb::blackboard> board = std::make_shared<bb::blackboard>();
  caf::scoped_actor self{rt.system()};

  static act::agent_id id(const std::string& text) {
    auto parsed = act::agent_id::parse(text);
    REQUIRE(parsed);
    return *parsed;
  }

  agora::member spawn(const std::string& who, act::agent_logic logic, std::string persona = {}) {
    auto a = act::spawn_agent(rt.system(), board, act::agent_spec{id(who), "test", {}}, std::move(logic));
    REQUIRE(a);
    return agora::member{id(who), *a, std::move(persona)};
  }

  agora::run_result run(const act::agent_actor& pattern, const std::string& run_id, json input,
                        std::chrono::milliseconds timeout = 20s) {
    auto r = agora::run_pattern(rt.system(), pattern, run_id, std::move(input), timeout);
    if (!r) FAIL("run failed: " << act::render(r.error()));
    return *r;
  }

  /// The value at `key` (null when absent).
  json at(const std::string& key) const {
    auto e = board->get(key);
    REQUIRE(e);
    return e->value();
  }

  /// Transactions whose id is `txn` in the history.
  std::size_t commits_with_txn(const std::string& txn) const {
    auto h = board->history(1, board->revision(), "");
    REQUIRE(h);
    std::size_t n = 0;
    for (const auto& rec : *h)
      if (rec.txn_id == txn) ++n;
    return n;
  }
};

}  // namespace agora_test
