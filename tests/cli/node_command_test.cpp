// `agora serve` and `agora worker` end to end: the built binary (AGORA_BIN)
// as real processes on loopback, a scenario whose agents run in a worker
// (tests/cli/data/node_swarm.json), TLS with throwaway certificates
// (tests/support/make_test_certs.sh), and the command-line errors.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/blackboard/blackboard.hpp"
#include "process.hpp"
#include "support/temp_dir.hpp"

using namespace agora;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const fs::path scenario_file = fs::path(AGORA_NODE_TEST_DATA) / "node_swarm.json";
constexpr const char* good_token = "s3cret-node-token-4711";
constexpr const char* bad_token = "wrong-token-0815";

/// A fresh directory, removed at scope exit.
struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-node-test") {}
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// `agora ARGS...` running in the background: stdout through a pipe (read
/// line by line, bounded), stderr into a file. Killed (SIGKILL) and reaped
/// when destroyed, if still running.
class agora_process {
 public:
  agora_process(std::vector<std::string> args, std::map<std::string, std::string> env,
                const fs::path& err_file)
      : err_file_(err_file) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    std::vector<std::string> argv{AGORA_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) ::dup2(err, 2);
      ::close(out[0]);
      ::close(out[1]);
      ::unsetenv("AGORA_JOIN_TOKEN");
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> cargv;
      for (auto& s : argv) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }
  ~agora_process() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    ::close(out_);
  }
  agora_process(const agora_process&) = delete;
  agora_process& operator=(const agora_process&) = delete;

  pid_t pid() const { return pid_; }

  /// The next stdout line starting with `prefix` (earlier lines are kept in
  /// out()), or nullopt when none came within `limit` or stdout closed.
  std::optional<std::string> line_starting(const std::string& prefix,
                                           std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto nl = pending_.find('\n');
      while (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        if (line.rfind(prefix, 0) == 0) return line;
        nl = pending_.find('\n');
      }
      if (!read_some(deadline)) return std::nullopt;
    }
  }

  /// Waits up to `limit` for the exit; the exit code, or nullopt (still running).
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      // Drain stdout meanwhile, so that a full pipe never blocks the child.
      read_some(std::min(deadline, std::chrono::steady_clock::now() + 50ms));
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        while (read_some(std::chrono::steady_clock::now() + 100ms)) {
        }
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
    return code_;
  }

  /// Everything read from stdout so far.
  const std::string& out() const { return all_; }
  std::string err() const { return slurp(err_file_); }

 private:
  /// Reads what is available before `deadline`; false at EOF or timeout.
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count()))) <= 0) return false;
    char buf[4096];
    const auto n = ::read(out_, buf, sizeof(buf));
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    all_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  fs::path err_file_;
  pid_t pid_ = -1;
  int out_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string pending_;
  std::string all_;
};

/// The port of "listening on 127.0.0.1:PORT[ (TLS)]".
int port_of(const std::string& line) {
  const auto colon = line.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
}

/// Runs `agora ARGS` to its end (bounded) with `env`.
cli::process_result agora_run(std::vector<std::string> args, std::map<std::string, std::string> env) {
  cli::process_request rq;
  rq.argv = {AGORA_BIN};
  rq.argv.insert(rq.argv.end(), args.begin(), args.end());
  rq.timeout = 60s;
  for (const auto& [k, v] : env) rq.env.push_back(k + "=" + v);
  auto r = cli::run_process(rq);
  REQUIRE(r);
  REQUIRE_FALSE(r->timed_out);
  return *r;
}

/// The throwaway certificates, made once per test process.
const fs::path& certs() {
  static temp_dir dir;
  static const bool made = [] {
    const std::string cmd = std::string("bash '") + AGORA_MAKE_TEST_CERTS + "' '" +
                            dir.path.string() + "' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 && fs::exists(dir.path / "rogue.pem");
  }();
  if (!made) FAIL("make_test_certs.sh failed: is the openssl CLI installed (scripts/setup.sh)?");
  return dir.path;
}

std::vector<std::string> tls_args(const std::string& who) {
  return {"--tls-cert", (certs() / (who + ".pem")).string(), "--tls-key",
          (certs() / (who + ".key")).string(), "--tls-ca", (certs() / "ca.pem").string()};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::map<std::string, std::string> good_env{{"AGORA_JOIN_TOKEN", good_token}};

/// serve --once with the scenario, one worker; returns (serve's exit code, its stdout).
struct distributed_run {
  int serve_code = -1;
  int worker_code = -1;
  std::string serve_out, serve_err, worker_out, worker_err;
};

distributed_run run_with_worker(const temp_dir& dir, const std::vector<std::string>& serve_tls,
                                const std::vector<std::string>& worker_tls) {
  distributed_run r;
  agora_process serve(std::vector<std::string>{"serve", "--listen", "127.0.0.1:0", "--data",
                                               (dir.path / "data").string(), "--scenario",
                                               scenario_file.string(), "--once", "--wait-workers",
                                               "30"} +
                          serve_tls,
                      good_env, dir.path / "serve.err");
  auto listening = serve.line_starting("listening on ", 30s);
  INFO("serve stderr:\n" << serve.err());
  REQUIRE(listening);
  const int port = port_of(*listening);
  REQUIRE(port > 0);
  agora_process worker(std::vector<std::string>{"worker", "--join",
                                                "127.0.0.1:" + std::to_string(port), "--scenario",
                                                scenario_file.string(), "--name", "w1"} +
                           worker_tls,
                       good_env, dir.path / "worker.err");
  auto joined = worker.line_starting("joined ", 30s);
  INFO("worker stderr:\n" << worker.err());
  CHECK(joined == "joined 127.0.0.1:" + std::to_string(port) + " as w1: 3 agents");
  auto sc = serve.wait_exit(60s);
  REQUIRE(sc);
  r.serve_code = *sc;
  // The node went away: the worker notices (connection closed) and exits.
  auto wc = worker.wait_exit(30s);
  REQUIRE(wc);
  r.worker_code = *wc;
  r.serve_out = serve.out();
  r.serve_err = serve.err();
  r.worker_out = worker.out();
  r.worker_err = worker.err();
  return r;
}

/// Waits up to `limit` until `file` exists and contains `text`.
bool file_shows(const fs::path& file, const std::string& text, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(file) && slurp(file).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);  // polling a file: nothing to wait on
  }
  return false;
}

}  // namespace

TEST_CASE("agora serve listens on a free port, prints it, and stops on SIGTERM with exit 0",
          "[cli][node]") {
  temp_dir dir;
  agora_process serve({"serve", "--listen", "127.0.0.1:0", "--data", (dir.path / "data").string()},
                      good_env, dir.path / "serve.err");
  auto line = serve.line_starting("listening on ", 30s);
  INFO("stderr:\n" << serve.err());
  REQUIRE(line);
  CHECK(line->rfind("listening on 127.0.0.1:", 0) == 0);
  CHECK(port_of(*line) > 0);
  CHECK(fs::exists(dir.path / "data" / "blackboard.db"));
  REQUIRE(::kill(serve.pid(), SIGTERM) == 0);
  auto code = serve.wait_exit(30s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(serve.err().find(good_token) == std::string::npos);
}

TEST_CASE("agora worker with a wrong token exits 3 naming the refusal, without printing a token",
          "[cli][node]") {
  temp_dir dir;
  agora_process serve({"serve"}, good_env, dir.path / "serve.err");
  auto line = serve.line_starting("listening on ", 30s);
  REQUIRE(line);
  auto r = agora_run({"worker", "--join", "127.0.0.1:" + std::to_string(port_of(*line)),
                      "--scenario", scenario_file.string()},
                     {{"AGORA_JOIN_TOKEN", bad_token}});
  INFO("worker stdout:\n" << r.out << "\nworker stderr:\n" << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("refused") != std::string::npos);
  CHECK(r.err.find("token") != std::string::npos);  // says why
  CHECK(r.out.find("joined") == std::string::npos);
  for (const auto* t : {good_token, bad_token}) {
    CHECK(r.out.find(t) == std::string::npos);
    CHECK(r.err.find(t) == std::string::npos);
  }
  REQUIRE(::kill(serve.pid(), SIGINT) == 0);
  auto code = serve.wait_exit(30s);
  REQUIRE(code);
  CHECK(*code == 0);
  // The node logged the refusal, without the token either.
  CHECK(serve.err().find("join refused") != std::string::npos);
  CHECK(serve.err().find(bad_token) == std::string::npos);
  CHECK(serve.err().find(good_token) == std::string::npos);
}

TEST_CASE("agora serve --log-format json --log-file writes timestamped JSON lines with the peer",
          "[cli][node][log]") {
  temp_dir dir;
  const fs::path log_file = dir.path / "serve.jsonl";
  agora_process serve({"serve", "--log-format", "json", "--log-file", log_file.string(),
                       "--log-level", "info,agora.cli=debug"},
                      good_env, dir.path / "serve.err");
  auto line = serve.line_starting("listening on ", 30s);
  REQUIRE(line);
  const int port = port_of(*line);
  auto r = agora_run({"worker", "--join", "127.0.0.1:" + std::to_string(port), "--scenario",
                      scenario_file.string()},
                     {{"AGORA_JOIN_TOKEN", bad_token}});
  CHECK(r.exit_code == 3);
  REQUIRE(::kill(serve.pid(), SIGINT) == 0);
  REQUIRE(serve.wait_exit(30s));
  std::ifstream in(log_file);
  std::vector<nlohmann::json> lines;
  for (std::string l; std::getline(in, l);) {
    INFO(l);
    auto j = nlohmann::json::parse(l, nullptr, false);
    REQUIRE(!j.is_discarded());  // every line is one JSON object
    REQUIRE(j.contains("ts"));
    lines.push_back(j);
  }
  auto find = [&](const std::string& event) -> const nlohmann::json* {
    for (const auto& j : lines)
      if (j.value("event", "") == event) return &j;
    return nullptr;
  };
  const auto* listening = find("node listening");
  REQUIRE(listening);
  CHECK(listening->at("logger") == "agora.actors");
  CHECK(listening->at("port") == std::to_string(port));
  const auto* refused = find("join refused");
  REQUIRE(refused);
  CHECK(refused->at("level") == "warn");
  CHECK(refused->at("reason") == "bad_token");
  CHECK(refused->at("peer").get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK(find("command start"));  // agora.cli at debug, as asked
  // Nothing on stderr but what is not a log line; no token anywhere.
  CHECK(serve.err().find("join refused") == std::string::npos);
  std::ifstream whole(log_file);
  const std::string text((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
  CHECK(text.find(bad_token) == std::string::npos);
  CHECK(text.find(good_token) == std::string::npos);

  // Bad logging options name themselves and run nothing.
  auto bad_level = agora_run({"serve", "--log-level", "loud"}, good_env);
  CHECK(bad_level.exit_code == 2);
  CHECK(bad_level.err.find("--log-level") != std::string::npos);
  CHECK(bad_level.err.find("'loud'") != std::string::npos);
  CHECK(bad_level.out.find("listening") == std::string::npos);
  auto bad_format = agora_run({"serve", "--log-format=xml"}, good_env);
  CHECK(bad_format.exit_code == 2);
  CHECK(bad_format.err.find("--log-format 'xml'") != std::string::npos);
  auto env = good_env;
  env["AGORA_LOG"] = "chatty";
  auto bad_env = agora_run({"serve"}, env);
  CHECK(bad_env.exit_code == 2);
  CHECK(bad_env.err.find("AGORA_LOG") != std::string::npos);
}

TEST_CASE("agora serve --scenario --once runs a scenario whose agents a worker provides",
          "[cli][node]") {
  temp_dir dir;
  auto r = run_with_worker(dir, {}, {});
  INFO("serve stdout:\n" << r.serve_out << "\nserve stderr:\n" << r.serve_err << "\nworker stderr:\n"
                         << r.worker_err);
  CHECK(r.serve_code == 0);
  CHECK(r.serve_err.find("join accepted") != std::string::npos);  // joins are logged
  // The worker saw the node go when serve exited.
  CHECK(r.worker_code == 3);
  CHECK(r.worker_err.find("lost the node 127.0.0.1:") != std::string::npos);

  // The run is on the durable blackboard, with the worker's contributions.
  auto board = bb::blackboard::open({(dir.path / "data" / "blackboard.db").string()});
  REQUIRE(board);
  auto result = (*board)->get("runs/node-swarm/result");
  REQUIRE(result);
  const auto& v = result->value();
  CHECK(v.at("status") == "settled");  // a swarm's one round, run to the end
  CHECK(v.at("rounds") == 1);
  const auto& answer = v.at("answer");
  // Two remote agents of one type: each member's dispatcher reaches its own.
  CHECK(answer.at("writer/north") == "north part");  // scripted, in the worker
  CHECK(answer.at("writer/south") == "south part");
  CHECK(answer.size() == 4);
  CHECK(answer.at("counter/words") == 3);            // a tool, run by the worker
  CHECK(answer.at("writer/home") == "home part");    // local to the node
}

TEST_CASE("agora serve and worker with TLS certificates complete a run", "[cli][node][tls]") {
  temp_dir dir;
  auto r = run_with_worker(dir, tls_args("node"), tls_args("worker"));
  INFO("serve stdout:\n" << r.serve_out << "\nserve stderr:\n" << r.serve_err << "\nworker stderr:\n"
                         << r.worker_err);
  CHECK(r.serve_out.find("(TLS)") != std::string::npos);
  CHECK(r.serve_code == 0);
  auto board = bb::blackboard::open({(dir.path / "data" / "blackboard.db").string()});
  REQUIRE(board);
  auto result = (*board)->get("runs/node-swarm/result");
  REQUIRE(result);
  CHECK(result->value().at("answer").at("writer/north") == "north part");
  CHECK(result->value().at("answer").at("writer/south") == "south part");
}

TEST_CASE("a TLS node refuses a worker without a certificate and one from another authority",
          "[cli][node][tls]") {
  temp_dir dir;
  agora_process serve(std::vector<std::string>{"serve"} + tls_args("node"), good_env,
                      dir.path / "serve.err");
  auto line = serve.line_starting("listening on ", 30s);
  INFO("serve stderr:\n" << serve.err());
  REQUIRE(line);
  const std::string addr = "127.0.0.1:" + std::to_string(port_of(*line));
  const std::vector<std::string> join{"worker", "--join", addr, "--scenario", scenario_file.string(),
                                      "--connect-timeout", "5"};
  SECTION("plaintext") {
    auto r = agora_run(join, good_env);
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("refused") != std::string::npos);
  }
  SECTION("a certificate from another authority") {
    auto r = agora_run(join + std::vector<std::string>{"--tls-cert", (certs() / "rogue.pem").string(),
                                                       "--tls-key", (certs() / "rogue.key").string(),
                                                       "--tls-ca", (certs() / "rogue-ca.pem").string()},
                       good_env);
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("refused") != std::string::npos);
  }
  REQUIRE(::kill(serve.pid(), SIGTERM) == 0);
  auto code = serve.wait_exit(30s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("agora serve and worker reject bad options with exit 2, naming the option",
          "[cli][node]") {
  struct bad_case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string names;
  };
  const std::string s = scenario_file.string();
  const std::vector<bad_case> cases{
      {{"serve", "--listen", "localhost"}, good_env, "--listen"},
      {{"serve", "--listen", "127.0.0.1:99999"}, good_env, "--listen"},
      {{"serve", "--tls-cert", s}, good_env, "--tls-key"},
      {{"serve", "--tls-cert", "/nonexistent.pem", "--tls-key", s, "--tls-ca", s}, good_env,
       "--tls-cert"},
      {{"serve"}, {}, "AGORA_JOIN_TOKEN"},
      {{"serve", "--token-env", "NODE_TEST_UNSET_VAR"}, good_env, "NODE_TEST_UNSET_VAR"},
      {{"serve", "--listen", "0.0.0.0:0"}, good_env, "--insecure-plaintext"},
      {{"serve", "--once"}, good_env, "--once"},
      {{"serve", "--wait-workers", "soon"}, good_env, "--wait-workers"},
      {{"serve", "--scenario", "/nonexistent/scenario.json"}, good_env, "/nonexistent/scenario.json"},
      {{"worker", "--scenario", s}, good_env, "--join"},
      {{"worker", "--join", "127.0.0.1:0", "--scenario", s}, good_env, "--join"},
      {{"worker", "--join", "127.0.0.1:1"}, good_env, "--scenario"},
      {{"worker", "--join", "127.0.0.1:1", "--scenario", s, "--agents", "writer/nobody"}, good_env,
       "writer/nobody"},
      {{"worker", "--join", "127.0.0.1:1", "--scenario", s, "--bogus"}, good_env, "--bogus"},
  };
  for (const auto& c : cases) {
    auto r = agora_run(c.args, c.env);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    INFO("agora " << cmd << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.names) != std::string::npos);
    CHECK(r.out.find("listening") == std::string::npos);  // nothing ran
  }
}

TEST_CASE("a worker SIGKILLed with a task loses it to the next worker that registers the agent",
          "[cli][node]") {
  temp_dir dir;
  const fs::path scenario = fs::path(AGORA_NODE_TEST_DATA) / "node_takeover.json";
  const fs::path mark = dir.path / "tool-started";
  auto env = good_env;
  env["NODE_TEST_MARK"] = mark.string();
  agora_process serve({"serve", "--data", (dir.path / "data").string(), "--scenario",
                       scenario.string(), "--once", "--wait-workers", "30"},
                      good_env, dir.path / "serve.err");
  auto line = serve.line_starting("listening on ", 30s);
  INFO("serve stderr:\n" << serve.err());
  REQUIRE(line);
  const std::string addr = "127.0.0.1:" + std::to_string(port_of(*line));
  const std::vector<std::string> join{"worker", "--join", addr, "--scenario", scenario.string()};
  {
    agora_process first(join + std::vector<std::string>{"--name", "first"}, env,
                        dir.path / "first.err");
    REQUIRE(first.line_starting("joined ", 30s));
    // The tool started on the first worker: its task is running there.
    REQUIRE(file_shows(mark, "\n", 30s));
    REQUIRE(::kill(first.pid(), SIGKILL) == 0);
    CHECK(first.wait_exit(30s) == 128 + SIGKILL);
  }
  // The orphaned tool (its own process group) is ours to end.
  const int tool_pid = std::atoi(slurp(mark).c_str());
  if (tool_pid > 0) ::kill(tool_pid, SIGKILL);
  // The node noticed (the kernel closed the connection) and dropped its agents.
  REQUIRE(file_shows(dir.path / "serve.err", "worker lost", 30s));
  agora_process second(join + std::vector<std::string>{"--name", "second"}, env,
                       dir.path / "second.err");
  INFO("second worker stderr:\n" << second.err());
  REQUIRE(second.line_starting("joined ", 30s));
  auto code = serve.wait_exit(60s);
  REQUIRE(code);
  CHECK(*code == 0);
  auto board = bb::blackboard::open({(dir.path / "data" / "blackboard.db").string()});
  REQUIRE(board);
  auto result = (*board)->get("runs/node-takeover/result");
  REQUIRE(result);
  // The task the first worker lost was re-dispatched to the second one,
  // within the same round.
  CHECK(result->value().at("answer").at("slow/tool") == "second");
  CHECK(result->value().at("answer").at("writer/home") == "home part");
  CHECK(result->value().at("rounds") == 1);
  auto dead = (*board)->snapshot().list("_dlq");  // nothing was given up on
  REQUIRE(dead);
  CHECK(dead->empty());
}
