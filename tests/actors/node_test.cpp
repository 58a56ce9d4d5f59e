// Nodes: the registry, the dispatcher, refusals and failure detection, with
// worker processes (node_worker) on loopback. Every wait is bounded.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <catch2/catch.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/node.hpp"
#include "agora/actors/runtime.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace {

using namespace agora;
using namespace agora::actors;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// --- helpers -------------------------------------------------------------------------

/// A fresh directory under the system's temp dir, removed at the end.
struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-node") {}
};

/// Throwaway certificates, made once per test run.
const fs::path& certs() {
  static temp_dir dir;
  static bool made = [] {
    const std::string cmd = std::string("bash '") + AGORA_MAKE_TEST_CERTS + "' '" +
                            dir.path.string() + "' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 && fs::exists(dir.path / "rogue.pem");
  }();
  if (!made) FAIL("make_test_certs.sh failed: is the openssl CLI installed (scripts/setup.sh)?");
  return dir.path;
}

std::string cert(const char* name) { return (certs() / name).string(); }

/// The node's log, kept for assertions: a logger of the test's own with a
/// capturing spdlog sink (how a program hands Agora its own sink).
class log_capture {
  class sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    explicit sink(log_capture& owner) : owner_(owner) {}

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - owner_.start_)
                          .count();
      const auto level = spdlog::level::to_string_view(msg.level);
      std::lock_guard<std::mutex> g(owner_.mu_);
      owner_.lines_.push_back(std::to_string(ms) + "ms " + std::string(level.data(), level.size()) +
                              " " + std::string(msg.payload.data(), msg.payload.size()));
    }
    void flush_() override {}

   private:
    log_capture& owner_;
  };

 public:
  /// A logger writing here (debug and up).
  log::logger_ptr logger() {
    std::lock_guard<std::mutex> g(mu_);
    if (!logger_) {
      logger_ = std::make_shared<spdlog::logger>("agora.actors", std::make_shared<sink>(*this));
      logger_->set_level(spdlog::level::debug);
    }
    return logger_;
  }
  /// The first line containing every one of `parts`, or "".
  std::string find(std::initializer_list<std::string> parts) const {
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& l : lines_) {
      bool all = true;
      for (const auto& p : parts) all = all && l.find(p) != std::string::npos;
      if (all) return l;
    }
    return {};
  }
  /// Waits (bounded) until such a line exists.
  std::string wait_for(std::initializer_list<std::string> parts,
                       std::chrono::milliseconds timeout = 5s) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto l = find(parts);
      if (!l.empty() || std::chrono::steady_clock::now() > end) return l;
      std::this_thread::sleep_for(10ms);
    }
  }
  std::string all() const {
    std::lock_guard<std::mutex> g(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  log::logger_ptr logger_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

constexpr auto heartbeat = 250ms;
constexpr auto conn_timeout = 2000ms;

/// An actor system for a node: every type registered, the middleman with
/// failure detection, TLS with the node's certificate when asked. The
/// config outlives the system.
struct node_system {
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor_system& operator*() { return *sys; }
  caf::actor_system* operator->() { return sys.get(); }
  void reset() { sys.reset(); }
};

node_system make_system(bool tls) {
  node_system ns;
  ns.cfg = std::make_unique<caf::actor_system_config>();
  auto& cfg = *ns.cfg;
  register_types(cfg);
  register_node_types(cfg);
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(2));
  cfg.load<caf::io::middleman>();
  set_failure_detection(cfg, {heartbeat, conn_timeout});
  if (tls) {
    auto err = enable_tls(cfg, {cert("node.pem"), cert("node.key"), cert("ca.pem"), ""});
    REQUIRE(!err);
  }
  ns.sys = std::make_unique<caf::actor_system>(cfg);
  return ns;
}

/// A node worker process (node_worker), stdout on a pipe, stderr in a file.
class worker_process {
 public:
  worker_process(std::vector<std::string> args, const fs::path& stderr_file) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    args.insert(args.begin(), AGORA_NODE_WORKER);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, AGORA_NODE_WORKER, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
    stderr_file_ = stderr_file;
    REQUIRE(rc == 0);
  }

  ~worker_process() {
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
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[512];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return {};
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  void signal(int sig) { ::kill(pid_, sig); }

  /// Its exit code once it exits within `timeout`; nothing otherwise
  /// (then it is killed by the destructor). A signal counts as 128 + sig.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      auto r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
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

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
  fs::path stderr_file_;
};

/// Arguments for a worker joining `port`.
std::vector<std::string> worker_args(std::uint16_t port, const std::string& token,
                                     const std::string& name) {
  return {"--port",         std::to_string(port),
          "--token",        token,
          "--name",         name,
          "--heartbeat-ms", std::to_string(heartbeat.count()),
          "--timeout-ms",   std::to_string(conn_timeout.count()),
          "--lifetime-s",   "60"};
}

void add_tls(std::vector<std::string>& args, const char* cert_name, const char* key_name,
             const char* ca_name) {
  args.insert(args.end(),
              {"--cert", cert(cert_name), "--key", cert(key_name), "--ca", cert(ca_name)});
}

/// A blackboard node in this process.
struct test_node {
  node_system sys;
  std::shared_ptr<bb::blackboard> board = std::make_shared<bb::blackboard>();
  blackboard_actor bba;
  std::unique_ptr<node> n;
  log_capture log;
  const std::string token = "s3cret-join-token";

  explicit test_node(bool tls) : sys(make_system(tls)) {
    bba = spawn_blackboard(*sys, board);
    node_options no;
    no.name = "test-node";
    no.join_token = token;
    no.logger = log.logger();
    auto started = node::start(*sys, bba, no);
    if (!started) FAIL("node did not start: " << render(started.error()));
    n = std::move(*started);
  }

  ~test_node() {
    if (n) n->stop();
    n.reset();
    caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
    sys.reset();  // waits for every actor
  }

  std::vector<agent_entry> lookup(const std::string& type) {
    caf::scoped_actor self{*sys};
    std::vector<agent_entry> out;
    self->request(n->registry(), 5s, lookup_atom::value, type)
        .receive([&](std::vector<agent_entry>& xs) { out = std::move(xs); },
                 [&](caf::error& e) { FAIL("lookup failed: " << render(e)); });
    return out;
  }

  /// Waits (bounded) until `type` has `count` registered agents.
  bool wait_agents(const std::string& type, std::size_t count,
                   std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (lookup(type).size() == count) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

agent_spec spec_of(const std::string& id) {
  auto parsed = agent_id::parse(id);
  REQUIRE(parsed);
  return agent_spec{*parsed, "test", {}};
}

agent_logic put_result_logic() {
  return agent_logic::sync([](const task& t, bb::scratchpad& sp) -> bb::status {
    return sp.put("runs/" + t.run_id + "/results/" + t.task_id, {{"task", t.task_id}});
  });
}

task make_task(const std::string& run, const std::string& id, std::chrono::milliseconds ttl) {
  task t;
  t.run_id = run;
  t.task_id = id;
  t.input = {{"n", id}};
  t.expires_in(ttl);
  return t;
}

caf::error join_as(caf::actor_system& sys, const agent_registry_actor& reg,
                   const std::string& token, std::vector<agent_entry> agents,
                   trace_context trace = {}) {
  caf::scoped_actor self{sys};
  caf::error out;
  join_request req;
  req.token = token;
  req.worker = "local";
  req.agents = std::move(agents);
  req.trace = trace;
  self->request(reg, 5s, node_join_atom::value, req)
      .receive([](const join_reply&) {}, [&](caf::error& e) { out = std::move(e); });
  return out;
}

/// Waits (bounded) until the dispatcher knows `count` agents.
void await_dispatcher_agents(caf::scoped_actor& self, const supervisor_actor& d,
                             std::size_t count) {
  for (int i = 0; i < 250; ++i) {
    std::size_t known = 0;
    self->request(d, 5s, health_atom::value)
        .receive([&](const supervisor_health& h) { known = h.agents.size(); },
                 [&](caf::error& e) { FAIL(render(e)); });
    if (known == count) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL("the dispatcher never knew " << count << " agents");
}

/// Sends tasks <run>/t0 .. t<n-1> (each due in `ttl`) to `d` from an actor
/// of its own, which forwards each final outcome (or request error) to
/// `self`; collect_outcomes receives them.
void dispatch_batch(caf::actor_system& sys, caf::scoped_actor& self, const supervisor_actor& d,
                    const std::string& run, int n, std::chrono::milliseconds ttl) {
  // (Handles go in as spawn arguments: CAF 0.17 dereferences a null
  // argument tuple for a function actor spawned without any.)
  sys.spawn(
      [](caf::event_based_actor* c, caf::actor sink, supervisor_actor target, std::string run_id,
         int count, std::chrono::milliseconds due) {
        auto left = std::make_shared<int>(count);
        for (int i = 0; i < count; ++i)
          c->request(target, due + 15s, dispatch_atom::value,
                     make_task(run_id, "t" + std::to_string(i), due))
              .then(
                  [c, sink, left](outcome& o) {
                    caf::anon_send(sink, std::move(o));
                    if (--*left == 0) c->quit();
                  },
                  [c, sink, left](caf::error& e) {
                    caf::anon_send(sink, std::move(e));
                    if (--*left == 0) c->quit();
                  });
      },
      caf::actor_cast<caf::actor>(self), d, run, n, ttl);
}

struct batch_result {
  std::vector<outcome> outcomes;
  std::vector<std::string> errors;
};

/// Receives up to `n` outcomes or errors of dispatch_batch, at most `each`
/// apart.
batch_result collect_outcomes(caf::scoped_actor& self, int n, std::chrono::milliseconds each) {
  batch_result r;
  for (int i = 0; i < n; ++i) {
    bool timed_out = false;
    self->receive([&](outcome& o) { r.outcomes.push_back(std::move(o)); },
                  [&](caf::error& e) { r.errors.push_back(render(e)); },
                  caf::after(each) >> [&] { timed_out = true; });
    if (timed_out) break;
  }
  return r;
}

/// The blackboard's history under runs/<run>/results: one promotion per
/// task t0 .. t<n-1>, none lost, none twice; and nothing in _dlq/.
void check_exactly_once(const bb::blackboard& board, const std::string& run, int n) {
  auto hist = board.history(1, UINT64_MAX, "runs/" + run + "/results");
  REQUIRE(hist);
  std::map<std::string, int> per_txn;
  for (const auto& r : *hist) ++per_txn[r.txn_id];
  CHECK(per_txn.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const std::string txn = run + "/t" + std::to_string(i) + "/0";
    INFO(txn);
    CHECK(per_txn[txn] == 1);
    CHECK(board.get("runs/" + run + "/results/t" + std::to_string(i))->exists());
  }
  CHECK(hist->size() == static_cast<std::size_t>(n));
  auto dead = board.snapshot().list("_dlq");
  REQUIRE(dead);
  CHECK(dead->empty());
}

/// Runs one task on an agent and returns its outcome.
outcome run_task(caf::actor_system& sys, const agent_actor& who, task t) {
  caf::scoped_actor self{sys};
  std::optional<outcome> got;
  self->request(who, 10s, run_atom::value, std::move(t))
      .receive([&](outcome& o) { got = std::move(o); }, [&](caf::error& e) { FAIL(render(e)); });
  REQUIRE(got);
  return *got;
}

/// A tracer writing to `path`; the spans it wrote, by name.
struct span_file {
  std::string path;
  std::unique_ptr<tracer> tr;
  explicit span_file(const fs::path& p) : path(p.string()) {
    auto opened = tracer::open(path);
    REQUIRE(opened);
    tr = std::move(*opened);
  }
  std::multimap<std::string, nlohmann::json> by_name() {
    tr->flush();
    std::multimap<std::string, nlohmann::json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      REQUIRE(!j.is_discarded());
      out.emplace(j.at("name").get<std::string>(), std::move(j));
    }
    return out;
  }
};

/// A well-behaved TLS worker, joined, with one agent.
std::unique_ptr<worker_process> steady_worker(const test_node& tn, const temp_dir& tmp) {
  auto args = worker_args(tn.n->port(), tn.token, "steady");
  add_tls(args, "worker.pem", "worker.key", "ca.pem");
  auto w = std::make_unique<worker_process>(args, tmp.path / "steady.err");
  REQUIRE(w->read_line(15s) == "READY 1");
  return w;
}

/// The steady worker survived a bad joiner: its agent still answers, and
/// no connection was dropped for a few heartbeats after.
void check_steady_survived(test_node& tn) {
  auto agents = tn.lookup("echo");
  REQUIRE(agents.size() == 1);
  caf::scoped_actor self{*tn.sys};
  bool answered = false;
  self->request(agents[0].handle, 5s, describe_atom::value)
      .receive(
          [&](const agent_spec& s) { answered = s.id.str() == "echo/steady-0"; },
          [&](caf::error& e) { FAIL("the steady worker's agent did not answer: " << render(e)); });
  CHECK(answered);
  INFO(tn.log.all());
  CHECK(tn.log.wait_for({"worker lost"}, heartbeat * 4).empty());
  CHECK(tn.lookup("echo").size() == 1);
}

}  // namespace

// --- options and setup ---------------------------------------------------------------

TEST_CASE("node refuses plain TCP beyond loopback unless told otherwise", "[actors][node]") {
  log_capture log;  // outlives the system, whose actors hold its sink
  auto sys = make_system(false);
  auto bba = spawn_blackboard(*sys, nullptr);
  node_options no;
  no.join_token = "t";
  no.host = "0.0.0.0";
  no.logger = log.logger();
  auto n = node::start(*sys, bba, no);
  REQUIRE(!n);
  CHECK(n.error() == caf::sec::invalid_argument);
  CHECK(render(n.error()).find("allow_plaintext_remote") != std::string::npos);
  CHECK(!log.find({"error", "node start refused", "0.0.0.0"}).empty());

  SECTION("an empty join token is refused too") {
    no.host = "127.0.0.1";
    no.join_token.clear();
    auto m = node::start(*sys, bba, no);
    REQUIRE(!m);
    CHECK(render(m.error()).find("join_token") != std::string::npos);
  }
  SECTION("loopback is fine") {
    no.host = "127.0.0.1";
    auto m = node::start(*sys, bba, no);
    REQUIRE(m);
    CHECK((*m)->port() != 0);
    CHECK(!(*m)->tls());
  }
  caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
}

TEST_CASE("node refuses TLS settings that would not load instead of crashing later",
          "[actors][node]") {
  SECTION("a missing file is named when TLS is enabled") {
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    auto err = enable_tls(cfg, {cert("node.pem"), cert("missing.key"), cert("ca.pem"), ""});
    REQUIRE(err);
    CHECK(render(err).find("missing.key") != std::string::npos);
  }
  SECTION("a key that does not belong to the certificate fails node::start") {
    auto cfg = std::make_unique<caf::actor_system_config>();
    register_types(*cfg);
    register_node_types(*cfg);
    cfg->load<caf::io::middleman>();
    set_failure_detection(*cfg, {heartbeat, conn_timeout});
    REQUIRE(!enable_tls(*cfg, {cert("node.pem"), cert("worker.key"), cert("ca.pem"), ""}));
    {
      caf::actor_system sys{*cfg};
      CHECK(tls_enabled(sys));
      auto bba = spawn_blackboard(sys, nullptr);
      node_options no;
      no.join_token = "t";
      log_capture log;
      no.logger = log.logger();
      auto n = node::start(sys, bba, no);
      REQUIRE(!n);
      CHECK(render(n.error()).find("cannot load private key") != std::string::npos);
      CHECK(render(n.error()).find("worker.key") != std::string::npos);
      caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
    }
  }
}

// --- the registry and the dispatcher in one process ----------------------------------

TEST_CASE("registry registers agents, finds them by type, and drops one that stops",
          "[actors][node]") {
  test_node tn(false);
  auto& sys = *tn.sys;
  auto a = spawn_agent(sys, tn.board, spec_of("critic/a"), put_result_logic());
  auto b = spawn_agent(sys, tn.board, spec_of("critic/b"), put_result_logic());
  auto c = spawn_agent(sys, tn.board, spec_of("echo/c"), put_result_logic());
  REQUIRE((a && b && c));
  REQUIRE(!join_as(sys, tn.n->registry(), tn.token,
                   {{spec_of("critic/a"), *a, {}, {}},
                    {spec_of("critic/b"), *b, {}, {}},
                    {spec_of("echo/c"), *c, {}, {}}}));
  auto critics = tn.lookup("critic");
  REQUIRE(critics.size() == 2);
  CHECK(critics[0].spec.id.str() == "critic/a");
  CHECK(critics[1].spec.id.str() == "critic/b");
  CHECK(critics[0].peer == "local");
  CHECK(critics[0].worker == "local");
  CHECK(tn.lookup("").size() == 3);
  CHECK(tn.lookup("nobody").empty());

  SECTION("a follower learns when an agent goes down, and it is gone") {
    caf::scoped_actor self{sys};
    std::vector<agent_entry> now;
    self->request(tn.n->registry(), 5s, follow_atom::value, std::string("critic"))
        .receive([&](std::vector<agent_entry>& xs) { now = std::move(xs); },
                 [&](caf::error& e) { FAIL(render(e)); });
    CHECK(now.size() == 2);
    caf::anon_send_exit(*a, caf::exit_reason::kill);
    bool gone = false;
    self->receive(
        [&](agent_gone_atom, const agent_entry& e, const caf::error& reason) {
          gone = true;
          CHECK(e.spec.id.str() == "critic/a");
          CHECK(reason == caf::exit_reason::kill);
        },
        caf::after(5s) >> [] {});
    CHECK(gone);
    CHECK(tn.lookup("critic").size() == 1);
  }
  SECTION("a wrong token is refused and logged") {
    auto err = join_as(sys, tn.n->registry(), "wrong", {});
    CHECK(err == errc::join_refused);
    CHECK(!tn.log.find({"warn", "join refused", "reason=bad_token", "peer=local"}).empty());
    CHECK(tn.log.all().find("wrong") == std::string::npos);  // tokens are never logged
  }
  SECTION("an id registered with another handle refuses the join") {
    auto d = spawn_agent(sys, tn.board, spec_of("critic/a"), put_result_logic());
    REQUIRE(d);
    auto err = join_as(sys, tn.n->registry(), tn.token, {{spec_of("critic/a"), *d, {}, {}}});
    CHECK(err == errc::join_refused);
    CHECK(render(err).find("critic/a") != std::string::npos);
    caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
  }
  for (auto* x : {&a, &b, &c}) caf::anon_send_exit(**x, caf::exit_reason::user_shutdown);
}

namespace {

/// Takes a task, tells `observer`, and never answers: stands in for an agent
/// whose node is about to be lost.
agent_actor::behavior_type silent_agent(agent_actor::pointer self, caf::actor observer) {
  return {
      [self, observer](run_atom, task& t) -> caf::result<outcome> {
        caf::anon_send(observer, std::string("took ") + t.task_id);
        return self->make_response_promise<outcome>();
      },
      [](describe_atom) -> agent_spec { return {}; },
  };
}

}  // namespace

TEST_CASE("dispatcher re-dispatches the task of a lost agent to another agent of its type",
          "[actors][node]") {
  test_node tn(false);
  auto& sys = *tn.sys;
  caf::scoped_actor self{sys};
  agent_actor silent = sys.spawn(silent_agent, caf::actor_cast<caf::actor>(self));
  auto real = spawn_agent(sys, tn.board, spec_of("echo/b-real"), put_result_logic());
  REQUIRE(real);
  // "echo/a-..." sorts first: the first task goes to the silent agent.
  REQUIRE(!join_as(
      sys, tn.n->registry(), tn.token,
      {{spec_of("echo/a-silent"), silent, {}, {}}, {spec_of("echo/b-real"), *real, {}, {}}}));
  dispatcher_options dopts;
  dopts.logger = tn.log.logger();
  auto d = spawn_dispatcher(sys, tn.n->registry(), tn.bba, "echo", dopts);
  REQUIRE(d);
  await_dispatcher_agents(self, *d, 2);
  auto pending = self->request(*d, 20s, dispatch_atom::value, make_task("r1", "t1", 15s));
  bool took = false;
  self->receive([&](const std::string& what) { took = what == "took t1"; },
                caf::after(5s) >> [] {});
  REQUIRE(took);
  caf::anon_send_exit(silent, caf::exit_reason::kill);  // its owner learns by a down message
  std::optional<outcome> got;
  pending.receive([&](outcome& o) { got = std::move(o); }, [&](caf::error& e) { FAIL(render(e)); });
  REQUIRE(got);
  CHECK(got->ok());
  CHECK(got->dispatches == 2);
  CHECK(got->agent == "echo/b-real");
  CHECK(tn.board->get("runs/r1/results/t1")->exists());
  CHECK(!tn.log.find({"agent lost with a task", "agent=echo/a-silent", "txn=r1/t1/0"}).empty());
  caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*real, caf::exit_reason::user_shutdown);
}

TEST_CASE("dispatcher traces a re-dispatched task in the task's trace, and agents in their "
          "registration's",
          "[actors][node][tracing]") {
  temp_dir tmp;
  span_file spans(tmp.path / "spans.jsonl");
  test_node tn(false);
  auto& sys = *tn.sys;
  caf::scoped_actor self{sys};
  agent_actor silent = sys.spawn(silent_agent, caf::actor_cast<caf::actor>(self));
  agent_options ao;
  ao.tracer = spans.tr.get();
  auto real = spawn_agent(sys, tn.board, spec_of("echo/b-real"), put_result_logic(), ao);
  REQUIRE(real);
  const trace_context registration = trace_context::make_root();
  REQUIRE(!join_as(
      sys, tn.n->registry(), tn.token,
      {{spec_of("echo/a-silent"), silent, {}, {}}, {spec_of("echo/b-real"), *real, {}, {}}},
      registration));
  // The registry keeps the registration's context with each entry, and logs it.
  for (const auto& e : tn.lookup("echo")) CHECK(e.trace == registration);
  CHECK(!tn.log.find({"join accepted", "trace=" + registration.trace_id_hex()}).empty());
  dispatcher_options dopts;
  dopts.logger = tn.log.logger();
  dopts.tracer = spans.tr.get();
  auto d = spawn_dispatcher(sys, tn.n->registry(), tn.bba, "echo", dopts);
  REQUIRE(d);
  await_dispatcher_agents(self, *d, 2);
  auto t = make_task("r1", "t1", 15s);
  t.trace = trace_context::make_root();
  auto pending = self->request(*d, 20s, dispatch_atom::value, t);
  self->receive([](const std::string&) {}, caf::after(5s) >> [] { FAIL("the task never started"); });
  caf::anon_send_exit(silent, caf::exit_reason::kill);
  std::optional<outcome> got;
  pending.receive([&](outcome& o) { got = std::move(o); }, [&](caf::error& e) { FAIL(render(e)); });
  REQUIRE(got);
  REQUIRE(got->ok());
  REQUIRE(got->dispatches == 2);

  auto all = spans.by_name();
  auto one = [&](const std::string& name) {
    INFO("span " << name);
    REQUIRE(all.count(name) == 1);
    return all.find(name)->second;
  };
  const std::string trace_id = t.trace.trace_id_hex();
  auto task_span = one("dispatcher.task");
  auto first = one("dispatcher.dispatch");
  auto second = one("dispatcher.redispatch");
  auto agent = one("agent.task");
  for (const auto* s : {&task_span, &first, &second, &agent}) CHECK(s->at("traceId") == trace_id);
  CHECK(task_span.at("parentSpanId") == span_id_hex(t.trace.span_id));
  CHECK(first.at("parentSpanId") == task_span.at("spanId"));
  CHECK(first.at("status").at("code") == "STATUS_CODE_ERROR");  // its agent was lost
  CHECK(second.at("parentSpanId") == task_span.at("spanId"));
  CHECK(agent.at("parentSpanId") == second.at("spanId"));  // the task went on with the context
  // Each agent's arrival is in the trace of its registration.
  REQUIRE(all.count("dispatcher.agent_added") == 2);
  for (auto [it, end] = all.equal_range("dispatcher.agent_added"); it != end; ++it) {
    CHECK(it->second.at("traceId") == registration.trace_id_hex());
    CHECK(it->second.at("parentSpanId") == span_id_hex(registration.span_id));
  }
  caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*real, caf::exit_reason::user_shutdown);
}

TEST_CASE("dispatcher dead-letters a task that no agent takes before its deadline",
          "[actors][node]") {
  test_node tn(false);
  auto& sys = *tn.sys;
  dispatcher_options dopts;
  dopts.logger = tn.log.logger();
  auto d = spawn_dispatcher(sys, tn.n->registry(), tn.bba, "nobody", dopts);
  REQUIRE(d);
  caf::scoped_actor self{sys};
  std::optional<outcome> got;
  self->request(*d, 10s, dispatch_atom::value, make_task("r9", "t3", 300ms))
      .receive([&](outcome& o) { got = std::move(o); }, [&](caf::error& e) { FAIL(render(e)); });
  REQUIRE(got);
  CHECK(got->status == outcome_status::error);
  CHECK(got->error == errc::no_agent);
  CHECK(got->result.value("dlq", "") == "_dlq/r9/t3");
  auto dead = tn.board->get("_dlq/r9/t3");
  REQUIRE(dead);
  REQUIRE(dead->exists());
  CHECK(dead->value().at("task").at("txn_id") == "r9/t3/0");
  CHECK(dead->value().at("error_code") == "no_agent");
  CHECK(dead->author() == "dispatcher/nobody");
  caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
}

namespace {

/// Threads an async logic finishes its runs on; joined when it goes (before
/// the node it is declared after).
class helper_threads {
 public:
  ~helper_threads() {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& t : threads_) t.join();
  }
  template <class F>
  void run(F f) {
    std::lock_guard<std::mutex> g(mu_);
    threads_.emplace_back(std::move(f));
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

}  // namespace

TEST_CASE("remote agent works through a blackboard actor: scope, conflicts, replays",
          "[actors][node]") {
  test_node tn(false);
  auto& sys = *tn.sys;
  {
    auto sp = tn.board->begin("test/setup");
    REQUIRE(sp.put("runs/r1/input", {{"x", 20}}));
    REQUIRE(tn.board->promote(sp));
  }
  helper_threads threads;
  // Reads the input, writes twice its x. On the first run of task "race"
  // someone else changes the input first: the board must see the conflict.
  // Sync, or async as an LLM agent's: it reads in its call, then writes and
  // completes on a thread of its own, as a model call's callback would.
  const bool async = GENERATE(false, true);
  INFO((async ? "async logic" : "sync logic"));
  auto raced = std::make_shared<std::atomic<bool>>(false);
  auto board = tn.board;
  auto finish = [board, raced](const task& t, bb::scratchpad& sp, int x) -> logic_result {
    if (t.task_id == "race" && !raced->exchange(true)) {
      auto other = board->begin("test/other");
      (void)other.put("runs/r1/input", {{"x", 50}});
      (void)board->promote(other);
    }
    if (auto put = sp.put("runs/" + t.run_id + "/out/" + t.task_id, 2 * x); !put)
      return put.error();
    return nlohmann::json{{"x", x}};
  };
  auto input = [](const task& t, bb::scratchpad& sp) -> bb::result<int> {
    auto in = sp.get("runs/" + t.run_id + "/input");
    if (!in) return in.error();
    return in->value().at("x").get<int>();
  };
  auto logic =
      async ? agent_logic::async([&threads, input, finish](const task& t, bb::scratchpad& sp,
                                                           completion done) {
                auto x = input(t, sp);
                if (!x) {
                  done.fail(x.error());
                  return;
                }
                threads.run([&t, &sp, done, x = *x, finish] { done(finish(t, sp, x)); });
              })
            : agent_logic::sync([input, finish](const task& t, bb::scratchpad& sp) -> logic_result {
                auto x = input(t, sp);
                if (!x) return x.error();
                return finish(t, sp, *x);
              });
  auto a = spawn_remote_agent(sys, tn.bba, spec_of("calc/a"), logic);
  auto b = spawn_remote_agent(sys, tn.bba, spec_of("calc/b"), logic);
  REQUIRE((a && b));
  auto run = [&](const agent_actor& who, task t) { return run_task(sys, who, std::move(t)); };

  auto first = run(*a, make_task("r1", "t1", 5s));
  REQUIRE(first.ok());
  CHECK(first.attempts == 1);
  CHECK(first.agent == "calc/a");
  CHECK(first.result == nlohmann::json{{"x", 20}});
  CHECK(tn.board->get("runs/r1/out/t1")->value() == 40);

  SECTION(
      "a read that changed meanwhile is a conflict the board catches; the retry sees the new "
      "value") {
    auto o = run(*a, make_task("r1", "race", 5s));
    REQUIRE(o.ok());
    CHECK(o.attempts == 2);
    CHECK(tn.board->get("runs/r1/out/race")->value() == 100);
  }
  SECTION("the same task on another agent is a replay, not a second commit") {
    auto o = run(*b, make_task("r1", "t1", 5s));
    REQUIRE(o.ok());
    CHECK(o.replayed);
    CHECK(o.revision == first.revision);
    auto hist = tn.board->history(1, UINT64_MAX, "runs/r1/out");
    REQUIRE(hist);
    CHECK(hist->size() == 1);
  }
  SECTION("a read outside the scope fails the task instead of reading a wrong value") {
    auto nosy =
        spawn_remote_agent(sys, tn.bba, spec_of("calc/nosy"),
                           agent_logic::sync([](const task&, bb::scratchpad& sp) -> bb::status {
                             auto e = sp.get("config/limits");
                             if (!e) return e.error();
                             return sp.put("runs/r1/out/nosy", 1);
                           }));
    REQUIRE(nosy);
    auto o = run(*nosy, make_task("r1", "n1", 5s));
    CHECK(o.status == outcome_status::error);
    CHECK(o.error == errc::bad_message);
    CHECK(render(o.error).find("outside its scope") != std::string::npos);
    CHECK(!tn.board->get("runs/r1/out/nosy")->exists());
    caf::anon_send_exit(*nosy, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*b, caf::exit_reason::user_shutdown);
}


TEST_CASE("remote agent with async logic: a completion that never comes ends at the deadline, "
          "a dropped one at once",
          "[actors][node]") {
  test_node tn(false);
  auto& sys = *tn.sys;
  std::mutex mu;
  std::vector<completion> held;  // runs that are never completed
  auto logic = agent_logic::async([&](const task& t, bb::scratchpad& sp, completion done) {
    if (t.task_id == "drop") return;  // loses its completion
    if (t.task_id == "ok") {
      done(sp.put("runs/" + t.run_id + "/out/" + t.task_id, 1));
      return;
    }
    std::lock_guard<std::mutex> g(mu);
    held.push_back(done);
  });
  auto a = spawn_remote_agent(sys, tn.bba, spec_of("calc/a"), logic);
  REQUIRE(a);
  auto o = run_task(sys, *a, make_task("r1", "never", 300ms));
  CHECK(o.status == outcome_status::deadline_exceeded);
  CHECK(o.error == errc::deadline_exceeded);
  {
    std::lock_guard<std::mutex> g(mu);
    REQUIRE(held.size() == 1);
    CHECK_FALSE(held[0].ok());  // the agent gave up on the run: too late
  }
  CHECK(!tn.board->get("runs/r1/out/never")->exists());
  // The agent is free for the next task.
  CHECK(run_task(sys, *a, make_task("r1", "ok", 5s)).ok());

  // A dropped completion fails the task at once, well before its deadline.
  auto dropped = run_task(sys, *a, make_task("r1", "drop", 30s));
  CHECK(dropped.status == outcome_status::error);
  CHECK(dropped.error == errc::agent_failed);
  CHECK(render(dropped.error).find("dropped its completion") != std::string::npos);
  caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
}

TEST_CASE("remote agent with async logic runs up to max_concurrent_tasks at once",
          "[actors][node]") {
  test_node tn(false);
  auto& sys = *tn.sys;
  helper_threads threads;
  std::mutex mu;
  struct parked {
    const task* t;
    bb::scratchpad* sp;
    completion done;
  };
  std::vector<parked> runs;
  // Completes nothing until two runs are in progress: with one task at a
  // time the first would wait for ever (its deadline fails it).
  auto logic = agent_logic::async([&](const task& t, bb::scratchpad& sp, completion done) {
    std::lock_guard<std::mutex> g(mu);
    runs.push_back(parked{&t, &sp, std::move(done)});
    if (runs.size() < 2) return;
    threads.run([batch = std::move(runs)] {
      for (const auto& r : batch)
        r.done(r.sp->put("runs/" + r.t->run_id + "/out/" + r.t->task_id, 1));
    });
    runs.clear();
  });
  remote_agent_options ro;
  ro.agent.max_concurrent_tasks = 2;
  auto a = spawn_remote_agent(sys, tn.bba, spec_of("pair/a"), logic, ro);
  REQUIRE(a);
  caf::scoped_actor self{sys};
  auto one = self->request(*a, 10s, run_atom::value, make_task("r1", "p1", 5s));
  auto two = self->request(*a, 10s, run_atom::value, make_task("r1", "p2", 5s));
  for (auto* pending : {&one, &two})
    pending->receive([](outcome& o) { CHECK(o.ok()); }, [](caf::error& e) { FAIL(render(e)); });
  CHECK(tn.board->get("runs/r1/out/p1")->exists());
  CHECK(tn.board->get("runs/r1/out/p2")->exists());
  caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
}

// --- refusals: three bad joiners (and one misconfigured one) --------------------------

TEST_CASE("a worker with the wrong join token is refused, and the node logs its address",
          "[actors][node]") {
  temp_dir tmp;
  test_node tn(true);
  REQUIRE(tn.n->tls());
  auto steady = steady_worker(tn, tmp);
  auto args = worker_args(tn.n->port(), "not-the-token", "intruder");
  add_tls(args, "worker.pem", "worker.key", "ca.pem");
  worker_process w(args, tmp.path / "w.err");
  auto line = w.read_line(15s);
  CHECK(line.rfind("REFUSED", 0) == 0);
  CHECK(line.find("wrong join token") != std::string::npos);
  CHECK(w.wait_exit(10s) == 3);
  auto logged = tn.log.wait_for({"warn", "join refused", "worker=intruder", "reason=bad_token"});
  INFO(tn.log.all());
  REQUIRE(!logged.empty());
  CHECK(logged.find("peer=127.0.0.1:") != std::string::npos);
  check_steady_survived(tn);
}

TEST_CASE("a worker with a certificate from another authority is refused", "[actors][node]") {
  temp_dir tmp;
  test_node tn(true);
  auto steady = steady_worker(tn, tmp);
  auto args = worker_args(tn.n->port(), tn.token, "rogue");
  SECTION("it trusts its own authority") {
    add_tls(args, "rogue.pem", "rogue.key", "rogue-ca.pem");
  }
  SECTION("it trusts ours (so only the node can refuse)") {
    add_tls(args, "rogue.pem", "rogue.key", "ca.pem");
  }
  worker_process w(args, tmp.path / "w.err");
  auto line = w.read_line(15s);
  INFO(w.stderr_text());
  CHECK(line.rfind("REFUSED", 0) == 0);
  CHECK(line.find("TLS handshake") != std::string::npos);
  CHECK(w.wait_exit(10s) == 3);
  // The worker's side names the node it was refused by.
  CHECK(w.stderr_text().find("node=127.0.0.1:" + std::to_string(tn.n->port())) !=
        std::string::npos);
  CHECK(tn.log.find({"join accepted", "worker=rogue"}).empty());
  check_steady_survived(tn);
}

TEST_CASE("a worker speaking plain TCP to a TLS node is refused", "[actors][node]") {
  temp_dir tmp;
  test_node tn(true);
  auto steady = steady_worker(tn, tmp);
  worker_process w(worker_args(tn.n->port(), tn.token, "plain"), tmp.path / "w.err");
  auto line = w.read_line(15s);
  INFO(w.stderr_text());
  CHECK(line.rfind("REFUSED", 0) == 0);
  CHECK(line.find("requires TLS") != std::string::npos);
  CHECK(w.wait_exit(10s) == 3);
  check_steady_survived(tn);
}

TEST_CASE("a worker without heartbeats is refused: the node would drop it as dead",
          "[actors][node]") {
  temp_dir tmp;
  test_node tn(false);
  auto args = worker_args(tn.n->port(), tn.token, "quiet");
  args.insert(args.end(), {"--heartbeat-ms", "0"});
  worker_process w(args, tmp.path / "w.err");
  auto line = w.read_line(15s);
  CHECK(line.rfind("REFUSED", 0) == 0);
  CHECK(line.find("heartbeat") != std::string::npos);
  CHECK(w.wait_exit(10s) == 3);
  CHECK(!tn.log.wait_for({"join refused", "worker=quiet", "reason=heartbeat_mismatch"}).empty());
}

// --- failure detection ---------------------------------------------------------------

TEST_CASE("a frozen worker is declared lost by the connection timeout", "[actors][node]") {
  temp_dir tmp;
  test_node tn(false);
  worker_process w(worker_args(tn.n->port(), tn.token, "frozen"), tmp.path / "w.err");
  REQUIRE(w.read_line(15s) == "READY 1");
  caf::scoped_actor self{*tn.sys};
  std::vector<agent_entry> now;
  self->request(tn.n->registry(), 5s, follow_atom::value, std::string("echo"))
      .receive([&](std::vector<agent_entry>& xs) { now = std::move(xs); },
               [&](caf::error& e) { FAIL(render(e)); });
  REQUIRE(now.size() == 1);
  // SIGSTOP keeps the socket open: only the missing heartbeats tell.
  const auto stopped = std::chrono::steady_clock::now();
  w.signal(SIGSTOP);
  bool gone = false;
  caf::error why;
  self->receive(
      [&](agent_gone_atom, const agent_entry&, const caf::error& reason) {
        gone = true;
        why = reason;
      },
      caf::after(conn_timeout * 4) >> [] {});
  const auto took = std::chrono::steady_clock::now() - stopped;
  REQUIRE(gone);
  CHECK(why == caf::exit_reason::remote_link_unreachable);
  CHECK(took >= conn_timeout / 2);
  CHECK(took < conn_timeout * 3);
  CHECK(!tn.log.find({"warn", "worker lost", "worker=frozen", "peer=127.0.0.1:"}).empty());
  CHECK(tn.lookup("echo").empty());
  w.signal(SIGKILL);
}

// --- the distributed run -------------------------------------------------------------

TEST_CASE("tasks survive a worker killed mid-run: every task is promoted exactly once",
          "[actors][node]") {
  temp_dir tmp;
  test_node tn(true);
  auto& sys = *tn.sys;
  static constexpr int tasks = 60;
  auto watch = tn.board->watch("runs/r1/results", 0);
  REQUIRE(watch);

  std::vector<std::unique_ptr<worker_process>> workers;
  for (const char* name : {"w1", "w2"}) {
    auto args = worker_args(tn.n->port(), tn.token, name);
    add_tls(args, "worker.pem", "worker.key", "ca.pem");
    args.insert(args.end(), {"--agents", "2", "--work-ms", "40"});
    workers.push_back(
        std::make_unique<worker_process>(args, tmp.path / (std::string(name) + ".err")));
  }
  for (auto& w : workers) REQUIRE(w->read_line(15s) == "READY 2");
  REQUIRE(tn.wait_agents("echo", 4));

  dispatcher_options dopts;
  dopts.logger = tn.log.logger();
  dopts.reply_grace = 2s;
  auto d = spawn_dispatcher(sys, tn.n->registry(), tn.bba, "echo", dopts);
  REQUIRE(d);
  caf::scoped_actor self{sys};
  await_dispatcher_agents(self, *d, 4);

  // A collector sends every task and forwards each final outcome to us.
  dispatch_batch(sys, self, *d, "r1", tasks, 45s);

  // Kill w1 once it has committed a few results: it has tasks in flight then.
  int by_w1 = 0;
  const auto kill_deadline = std::chrono::steady_clock::now() + 30s;
  while (by_w1 < 6 && std::chrono::steady_clock::now() < kill_deadline) {
    auto rec = watch->next(100ms);
    REQUIRE(rec);
    if (*rec && (*rec)->author.rfind("echo/w1-", 0) == 0) ++by_w1;
  }
  REQUIRE(by_w1 >= 6);
  tn.log.logger()->info("TEST killing w1");
  workers[0]->signal(SIGKILL);
  CHECK(workers[0]->wait_exit(5s) == 128 + SIGKILL);

  auto [outcomes, errors] = collect_outcomes(self, tasks, 60s);
  INFO(tn.log.all());
  INFO("w2 stderr: " << workers[1]->stderr_text());
  REQUIRE(errors.empty());
  REQUIRE(outcomes.size() == static_cast<std::size_t>(tasks));

  std::set<std::string> ok_txns;
  int redispatched = 0;
  for (const auto& o : outcomes) {
    INFO(o.describe());
    CHECK(o.ok());
    ok_txns.insert(o.txn_id);
    if (o.dispatches > 1) ++redispatched;
    CHECK(o.agent.rfind("echo/w", 0) == 0);
  }
  CHECK(ok_txns.size() == static_cast<std::size_t>(tasks));
  CHECK(redispatched >= 1);  // w1 died with work in flight

  // The blackboard's history: one promotion per task, none lost, none twice.
  check_exactly_once(*tn.board, "r1", tasks);

  // The registry dropped w1's agents and said so, with the address.
  CHECK(tn.wait_agents("echo", 2));
  for (const auto& e : tn.lookup("echo")) CHECK(e.worker == "w2");
  CHECK(!tn.log.find({"warn", "worker lost", "worker=w1", "peer=127.0.0.1:"}).empty());

  caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
}

TEST_CASE("async logic on a worker process runs off the CAF threads and commits every task once",
          "[actors][node]") {
  temp_dir tmp;
  test_node tn(false);
  auto& sys = *tn.sys;
  static constexpr int tasks = 12;
  // 4 agents on a worker with 2 CAF threads, whose logic parks its runs
  // until 4 are parked (node_worker --async-batch): a batch only completes
  // when a running async logic holds no CAF thread.
  auto args = worker_args(tn.n->port(), tn.token, "llm");
  args.insert(args.end(), {"--agents", "4", "--async-batch", "4"});
  worker_process w(args, tmp.path / "llm.err");
  REQUIRE(w.read_line(15s) == "READY 4");
  REQUIRE(tn.wait_agents("echo", 4));
  dispatcher_options dopts;
  dopts.logger = tn.log.logger();
  auto d = spawn_dispatcher(sys, tn.n->registry(), tn.bba, "echo", dopts);
  REQUIRE(d);
  caf::scoped_actor self{sys};
  await_dispatcher_agents(self, *d, 4);
  dispatch_batch(sys, self, *d, "a1", tasks, 20s);
  auto [outcomes, errors] = collect_outcomes(self, tasks, 30s);
  INFO(tn.log.all());
  INFO("worker stderr: " << w.stderr_text());
  REQUIRE(errors.empty());
  REQUIRE(outcomes.size() == static_cast<std::size_t>(tasks));
  std::set<std::string> agents;
  for (const auto& o : outcomes) {
    INFO(o.describe());
    CHECK(o.ok());
    CHECK(o.dispatches == 1);
    agents.insert(o.agent);
  }
  CHECK(agents.size() == 4);  // every batch held all four agents
  check_exactly_once(*tn.board, "a1", tasks);
  caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
}

// --- durable blackboards behind a node ------------------------------------------------

namespace {

/// A node serving a durable blackboard file: one "life" of the node process.
/// The destructor stops the node, waits for every actor and closes the file.
struct durable_node {
  log_capture log;  // outlives the system, whose actors hold its sink
  node_system sys;
  std::shared_ptr<bb::blackboard> board;
  blackboard_actor bba;
  std::unique_ptr<node> n;
  const std::string token = "s3cret-join-token";

  explicit durable_node(const fs::path& db) : sys(make_system(false)) {
    bb::durability d;
    d.path = db.string();
    auto opened = bb::blackboard::open(d);
    if (!opened) FAIL("cannot open " << db << ": " << bb::to_string(opened.error()));
    board = *opened;
    bba = spawn_blackboard(*sys, board);
    node_options no;
    no.name = "durable-node";
    no.join_token = token;
    no.logger = log.logger();
    auto started = node::start(*sys, bba, no);
    if (!started) FAIL("node did not start: " << render(started.error()));
    n = std::move(*started);
  }
  ~durable_node() {
    if (n) n->stop();
    n.reset();
    caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
    sys.reset();
  }

  std::size_t agents(const std::string& type) {
    caf::scoped_actor self{*sys};
    std::size_t count = 0;
    self->request(n->registry(), 5s, lookup_atom::value, type)
        .receive([&](std::vector<agent_entry>& xs) { count = xs.size(); },
                 [&](caf::error& e) { FAIL("lookup failed: " << render(e)); });
    return count;
  }
  bool wait_agents(const std::string& type, std::size_t count) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      if (agents(type) == count) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  /// Joins a worker process with two agents, dispatches tasks <run>/t0 ..
  /// t<n-1> to them and returns every outcome (each required to come).
  std::vector<outcome> run_batch(const temp_dir& tmp, const std::string& worker_name,
                                 const std::string& run, int tasks) {
    auto args = worker_args(n->port(), token, worker_name);
    args.insert(args.end(), {"--agents", "2"});
    worker_process w(args, tmp.path / (worker_name + ".err"));
    REQUIRE(w.read_line(15s) == "READY 2");
    REQUIRE(wait_agents("echo", 2));
    dispatcher_options dopts;
    dopts.logger = log.logger();
    auto d = spawn_dispatcher(*sys, n->registry(), bba, "echo", dopts);
    REQUIRE(d);
    caf::scoped_actor self{*sys};
    await_dispatcher_agents(self, *d, 2);
    dispatch_batch(*sys, self, *d, run, tasks, 20s);
    auto [outcomes, errors] = collect_outcomes(self, tasks, 30s);
    caf::anon_send_exit(*d, caf::exit_reason::user_shutdown);
    INFO(log.all());
    INFO("worker stderr: " << w.stderr_text());
    REQUIRE(errors.empty());
    REQUIRE(outcomes.size() == static_cast<std::size_t>(tasks));
    return outcomes;
  }
};

}  // namespace

TEST_CASE("a node serving a durable blackboard keeps every acknowledged task exactly once "
          "across a restart",
          "[actors][node][durable]") {
  temp_dir tmp;
  const auto db = tmp.path / "node.db";
  static constexpr int tasks = 20;
  std::map<std::string, std::uint64_t> acknowledged;  // txn id -> revision
  std::uint64_t revision = 0;
  {
    durable_node dn(db);
    for (const auto& o : dn.run_batch(tmp, "w1", "d1", tasks)) {
      INFO(o.describe());
      CHECK(o.ok());
      CHECK_FALSE(o.replayed);
      acknowledged[o.txn_id] = o.revision;
    }
    revision = dn.board->revision();
  }  // the node, its actor system and the file are closed here

  // Reopened: every acknowledged task is there, at the revision its outcome
  // named, exactly once.
  REQUIRE(acknowledged.size() == static_cast<std::size_t>(tasks));
  {
    bb::durability d;
    d.path = db.string();
    auto board = bb::blackboard::open(d);
    REQUIRE(board);
    CHECK((*board)->revision() == revision);
    check_exactly_once(**board, "d1", tasks);
    auto hist = (*board)->history(1, UINT64_MAX, "runs/d1/results");
    REQUIRE(hist);
    for (const auto& rec : *hist) CHECK(acknowledged.at(rec.txn_id) == rec.revision);
  }

  // The node restarted on the file: the same tasks dispatched again, to a
  // new worker, replay their original revisions and commit nothing new.
  durable_node dn(db);
  for (const auto& o : dn.run_batch(tmp, "w2", "d1", tasks)) {
    INFO(o.describe());
    CHECK(o.ok());
    CHECK(o.replayed);
    CHECK(o.revision == acknowledged.at(o.txn_id));
  }
  CHECK(dn.board->revision() == revision);
  check_exactly_once(*dn.board, "d1", tasks);
}
