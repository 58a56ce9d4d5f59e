// Helpers shared by the actors tests: a task, a logic that writes it, and a
// JSON-lines reader. Tests only.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/actors/agent.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora_test {

/// A task of `run` with id `id` and `input`, due in 10 s.
inline agora::actors::task make_task(const std::string& run, const std::string& id,
                                     nlohmann::json input = nullptr) {
  agora::actors::task t;
  t.run_id = run;
  t.task_id = id;
  t.input = std::move(input);
  t.expires_in(std::chrono::seconds(10));
  return t;
}

/// Writes `task.input` under runs/<run>/out/<task>.
inline agora::actors::agent_logic writer() {
  return agora::actors::agent_logic::sync(
      [](const agora::actors::task& t, agora::bb::scratchpad& sp) -> agora::bb::status {
        return sp.put("runs/" + t.run_id + "/out/" + t.task_id, t.input);
      });
}

/// Every line of a JSON-lines file, each required to parse.
inline std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace agora_test
