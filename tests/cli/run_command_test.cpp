// `agora run` end to end: the built binary (AGORA_BIN) runs the example
// scenarios (examples/scenarios/) and bad ones, as a user would.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <fstream>
#include <string>
#include <csignal>
#include <iterator>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "agora/blackboard/blackboard.hpp"
#include "agora/agents/run.hpp"
#include "process.hpp"
#include "support/temp_dir.hpp"

using namespace agora;
using namespace agora::cli;
namespace fs = std::filesystem;

namespace {

const fs::path examples = fs::path(AGORA_SOURCE_DIR) / "examples" / "scenarios";

process_result agora_run(std::vector<std::string> args) {
  process_request rq;
  rq.argv = {AGORA_BIN, "run"};
  rq.argv.insert(rq.argv.end(), args.begin(), args.end());
  rq.timeout = std::chrono::seconds(120);
  auto r = run_process(rq);
  REQUIRE(r);
  INFO("stdout:\n" << r->out << "\nstderr:\n" << r->err);
  REQUIRE_FALSE(r->timed_out);
  return *r;
}

/// A fresh directory under the system's temp dir, removed at scope exit.
struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-run-test") {}
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string line_of(const std::string& out, const std::string& prefix) {
  auto at = out.find("\n" + prefix);
  if (at == std::string::npos && out.rfind(prefix, 0) == 0) at = 0;
  else if (at != std::string::npos) ++at;
  if (at == std::string::npos) return "";
  auto end = out.find('\n', at);
  return out.substr(at + prefix.size(), end - at - prefix.size());
}

/// A port nobody listens on right now (the kernel's choice).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Whether something accepts connections on 127.0.0.1:port.
bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("the debate example settles on the recorded majority, offline", "[run][e2e]") {
  auto r = agora_run({(examples / "capital_debate.json").string(), "--quiet"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(line_of(r.out, "answer: ") == "Canberra");
  CHECK(line_of(r.out, "status: ") == "settled");
  CHECK(line_of(r.out, "stop reason: ").find("consensus (majority)") != std::string::npos);
  CHECK(line_of(r.out, "rounds: ") == "1");
  CHECK(line_of(r.out, "tokens: ") == "100");  // 31+2 + 32+2 + 31+2 as recorded

  // Without --quiet but with stderr not a terminal (a pipe here): no progress line.
  auto loud = agora_run({(examples / "capital_debate.json").string()});
  CHECK(loud.exit_code == 0);
  CHECK(loud.err.find("answered") == std::string::npos);
  CHECK(loud.err.find('\r') == std::string::npos);
}

TEST_CASE("the swarm example runs its sh tool agents and merges what they found", "[run][e2e]") {
  auto r = agora_run({(examples / "text_swarm.json").string(), "--quiet", "--json"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  json j = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["status"] == "settled");  // its one round ran to the end: the merge is the answer
  CHECK(j["answer"]["counter/words"] == json{{"words", 9}});
  CHECK(j["answer"]["counter/letters"] == json{{"letters", 35}});
  CHECK(j["answer"]["editor/upper"] == "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG");
  CHECK(j["reason"].get<std::string>().find("max_rounds") != std::string::npos);
  CHECK(j["failures"].empty());
}

TEST_CASE("the evaluator loop example stops when the critic passes a draft", "[run][e2e]") {
  auto r = agora_run({(examples / "essay_loop.json").string(), "--quiet"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(line_of(r.out, "answer: ") == "Books: borrowed ideas, returned wiser.");
  CHECK(line_of(r.out, "status: ") == "settled");
  CHECK(line_of(r.out, "stop reason: ").find("quality") != std::string::npos);
  CHECK(line_of(r.out, "rounds: ") == "2");
}

TEST_CASE("a scenario with worker agents needs --listen and names the agents", "[run][e2e]") {
  auto r = agora_run({(examples / "distributed_debate.json").string(), "--quiet"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("debater/north, debater/south") != std::string::npos);
  CHECK(r.err.find("--listen") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("a bad scenario exits 2 printing every error with file and line, running nothing", "[run][e2e]") {
  temp_dir dir;
  const fs::path file = dir.path / "bad.json";
  write(file, "{\n  \"name\": \"bad\",\n  \"patern\": \"debate\",\n  \"agents\": [],\n  \"stop\": {\"max_rounds\": 1}\n}\n");
  auto r = agora_run({file.string(), "--data", (dir.path / "data").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(file.string() + ":3:3: /patern: unknown key \"patern\"; did you mean \"pattern\"?") !=
        std::string::npos);
  CHECK(r.err.find(file.string() + ":4:13: /agents: expected a non-empty array of agents; got an array") !=
        std::string::npos);
  CHECK(r.out.empty());
  CHECK_FALSE(fs::exists(dir.path / "data" / "blackboard.db"));  // nothing ran

  auto set = agora_run({(examples / "essay_loop.json").string(), "--set", "agents.5.role=x"});
  CHECK(set.exit_code == 2);
  CHECK(set.err.find("--set agents.5.role=x: /agents has 2 elements; no index 5") != std::string::npos);
}

TEST_CASE("run --data keeps the run on a durable blackboard and --set changes the scenario", "[run][e2e]") {
  temp_dir dir;
  auto r = agora_run({(examples / "essay_loop.json").string(), "--quiet", "--data", (dir.path / "d").string(),
                      "--run-id", "slogan-7", "--set", "stop.any.1.max_rounds=1"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(line_of(r.out, "rounds: ") == "1");
  CHECK(line_of(r.out, "status: ") == "fallback");
  REQUIRE(fs::exists(dir.path / "d" / "blackboard.db"));
  CHECK(fs::exists(dir.path / "d" / "spans.jsonl"));
  bb::durability d;
  d.path = (dir.path / "d" / "blackboard.db").string();
  auto board = bb::blackboard::open(d);
  REQUIRE(board);
  auto e = (*board)->get("runs/slogan-7/result");
  REQUIRE(e);
  REQUIRE(e->exists());
  auto res = run_result::from_json(e->value());
  REQUIRE(res);
  CHECK(res->answer == "Books.");
  CHECK(res->rounds == 1);
}

TEST_CASE("a tool agent that fails is reported with its command and stderr", "[run][e2e]") {
  temp_dir dir;
  const fs::path file = dir.path / "failing.json";
  write(file, R"({
  "name": "failing",
  "pattern": "swarm",
  "input": {"text": "a b c"},
  "agents": [
    {"id": "counter/words", "kind": "tool", "command": ["sh", ")" + (examples / "tools" / "count_words.sh").string() + R"("]},
    {"id": "index/broken", "kind": "tool", "command": ["sh", ")" + (examples / "tools" / "fail.sh").string() + R"("]},
    {"id": "slow/sleeper", "kind": "tool", "command": ["sh", "-c", "echo dozing off >&2; sleep 30"], "timeout_s": 0.3}
  ],
  "stop": {"max_rounds": 1}
})");
  auto r = agora_run({file.string(), "--quiet", "--json"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);  // the swarm fell back on what the other agent found
  CHECK(r.err.find("agent index/broken failed") != std::string::npos);
  CHECK(r.err.find("fail.sh' exited with status 3: fail.sh: cannot reach the index service") != std::string::npos);
  json j = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(r.err.find("agent slow/sleeper failed") != std::string::npos);
  CHECK(r.err.find("tool agent slow/sleeper: command 'sh -c echo dozing off >&2; sleep 30' timed out after 0.3 s: "
                   "dozing off") != std::string::npos);
  REQUIRE(j["failures"].size() == 2);
  CHECK(j["failures"][0]["agent"] == "index/broken");
  CHECK(j["failures"][1]["agent"] == "slow/sleeper");
  CHECK(j["answer"]["counter/words"] == json{{"words", 3}});
}

TEST_CASE("agora run --help describes the options and exit codes", "[run][e2e]") {
  auto r = agora_run({"--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--set PATH=VALUE") != std::string::npos);
  CHECK(r.out.find("exit codes") != std::string::npos);
}

TEST_CASE("a scenario with worker agents runs with --listen and an agora worker", "[run][e2e][distributed]") {
  const int port = free_port();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  const std::string file = (examples / "distributed_debate.json").string();
  process_runner runner(2);
  std::promise<bb::result<process_result>> run_done, worker_done;
  process_request run_rq;
  run_rq.argv = {AGORA_BIN, "run", file, "--listen", addr, "--json", "--quiet", "--wait-workers", "30", "--timeout", "60"};
  run_rq.env = {"AGORA_JOIN_TOKEN=test-token-e2e"};
  run_rq.timeout = std::chrono::seconds(90);
  runner.submit(run_rq, [&](bb::result<process_result> r) { run_done.set_value(std::move(r)); });
  // Wait (bounded) until the run's node listens, then join a worker.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!accepts(port) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(accepts(port));
  process_request worker_rq;
  worker_rq.argv = {AGORA_BIN, "worker", "--join", addr, "--scenario", file};
  worker_rq.env = {"AGORA_JOIN_TOKEN=test-token-e2e"};
  worker_rq.timeout = std::chrono::seconds(90);
  runner.submit(worker_rq, [&](bb::result<process_result> r) { worker_done.set_value(std::move(r)); });
  auto run = run_done.get_future().get();
  auto worker = worker_done.get_future().get();  // it leaves when the run's node goes away
  REQUIRE(run);
  REQUIRE(worker);
  INFO("run:\n" << run->out << run->err << "\nworker:\n" << worker->out << worker->err);
  CHECK(run->exit_code == 0);
  json j = json::parse(run->out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["status"] == "settled");
  CHECK(j["answer"] == "no");
  CHECK(j["rounds"] == 2);
  CHECK(worker->out.find("2 agents") != std::string::npos);
  CHECK_FALSE(worker->timed_out);
}

TEST_CASE("run --report writes a self-contained HTML report of the run", "[run][e2e][report]") {
  temp_dir dir;
  const fs::path html = dir.path / "capital.html";
  auto r = agora_run({(examples / "capital_debate.json").string(), "--quiet", "--data", (dir.path / "d").string(),
                      "--report", html.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(line_of(r.out, "report: ") == html.string());
  REQUIRE(fs::exists(html));
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(page.find("<html") != std::string::npos);
  CHECK(page.find("debater/alice") != std::string::npos);
}

TEST_CASE("SIGINT stops a run with exit code 130", "[run][e2e][signal]") {
  temp_dir dir;
  const fs::path file = dir.path / "slow.json";
  write(file, R"({"name": "slow", "pattern": "swarm", "input": {},
  "agents": [{"id": "s/fast", "kind": "tool", "command": ["sh", "-c", "echo started > )" + (dir.path / "started").string() + R"(; echo 1"]},
             {"id": "s/slow", "kind": "tool", "command": ["sh", "-c", "sleep 2; echo 2"], "timeout_s": 5}],
  "stop": {"max_rounds": 50}})");
  int out_pipe[2];
  REQUIRE(::pipe(out_pipe) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(out_pipe[1], 2);
    ::close(out_pipe[0]);
    ::execl(AGORA_BIN, AGORA_BIN, "run", file.c_str(), "--quiet", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  // Wait (bounded) until the run is under way: a tool agent ran.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(dir.path / "started") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(fs::exists(dir.path / "started"));
  ::kill(pid, SIGINT);
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = ::read(out_pipe[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
  ::close(out_pipe[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(output.find("interrupted") != std::string::npos);
}
