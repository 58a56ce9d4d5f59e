// The `agora` command: dispatches to a subcommand (commands.hpp).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

#include <spdlog/logger.h>

#include "agora/log.hpp"
#include "args.hpp"
#include "commands.hpp"

namespace agora::cli {

namespace {
std::atomic<bool> interrupted_{false};

extern "C" void on_signal(int sig) {
  if (interrupted_.exchange(true)) _exit(exit_interrupted);
  (void)sig;
}
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() noexcept { return interrupted_.load(); }

}  // namespace agora::cli

namespace {

const char* const top_usage = R"(usage: agora COMMAND [options]

Agents that reason together on a versioned blackboard.

commands:
  review PATH            review a source tree with a swarm of reviewer agents
                         (cppcheck, clang-tidy, built-in checks; LLMs with --llm)
  run SCENARIO.json      run a scenario: a pattern, its agents, its policies
  report DIR             write a self-contained HTML report of a run
  inspect DIR|TRACE      history, a key's versions, time travel, transcripts
  serve                  a node: a blackboard that workers join
  worker --join H:P      run a scenario's agents for a node on another machine

`agora COMMAND --help` describes a command. Exit codes: 0 done, 1 findings
(review) or no settled answer (run), 2 bad command line or input file,
3 the work failed (tool, file, node, model), 130 interrupted. See docs/cli.md.
)";

/// Runs the subcommand `cmd` (an unknown one: the usage, exit_usage).
int dispatch(const std::string& cmd, std::vector<std::string>& args) {
  using namespace agora::cli;
  if (cmd == "run") return run_command(args);
  if (cmd == "review") return review_command(args);
  if (cmd == "serve") return serve_command(args);
  if (cmd == "worker") return worker_command(args);
  if (cmd == "inspect") return inspect_command(args);
  if (cmd == "report") return report_command(args);
  std::cerr << "agora: unknown command '" << cmd << "'\n\n" << top_usage;
  return exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace agora::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << top_usage;
    return exit_usage;
  }
  const std::string cmd = args.front();
  args.erase(args.begin());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << top_usage;
    return exit_ok;
  }
  if (cmd == "--version") {
    std::cout << "agora 0.1.0\n";
    return exit_ok;
  }
  if (auto logging = take_logging_options(cmd, args); !logging) {
    std::cerr << logging.error().message << "\n";
    return logging.error().code == agora::bb::errc::io_error ? exit_error : exit_usage;
  }
  install_interrupt_handlers();
  const auto lg = agora::log::get(agora::log::cli);
  const auto started = std::chrono::steady_clock::now();
  lg->debug("command start cmd={} args={}", agora::log::value(cmd), args.size());
  const int rc = dispatch(cmd, args);
  lg->debug("command done cmd={} exit={} wall_ms={}", agora::log::value(cmd), rc,
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                .count());
  return rc;
}
