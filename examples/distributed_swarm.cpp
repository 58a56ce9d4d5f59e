// A swarm whose contributors run in another process: a blackboard node and
// a worker, on loopback.
//
// Run it without arguments. It is the node: it publishes a blackboard and
// an agent registry on a free port, then starts itself again as the worker
// (`distributed_swarm --worker PORT`), handing it the join token through
// the environment (never on the command line). The worker connects, spawns
// three contributor agents that work on the node's blackboard — a planner,
// a builder and a tester, each with a type of its own — and registers them.
// The node makes one dispatcher per type (a dispatcher reaches every agent
// of its type that registers, wherever it runs, and hands a lost agent's
// task to another one) and runs a swarm whose members are those
// dispatchers. It prints the transcript and the stop reason, stops the
// node, and the worker, seeing the node go, exits too.
//
// The same pieces make `agora serve` and `agora worker` (docs/nodes.md).
#include <agora/agora.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace agora;
using namespace agora::actors;

namespace {

constexpr const char* token_variable = "DISTRIBUTED_SWARM_TOKEN";

// The contributors: each adds its part of a plan for a small command-line
// tool. Their contribution depends only on the task, so a second round
// brings nothing new and the swarm stops (quiescence).
struct part {
  const char* type;
  const char* text;
};
constexpr part parts[] = {
    {"planner", "parse the arguments; read the input file"},
    {"builder", "count the words per line; print a table"},
    {"tester", "test an empty file, a missing file and a 1 GB file"},
};

caf::actor_system_config& network_config(caf::actor_system_config& cfg) {
  register_types(cfg);       // every Agora type
  register_node_types(cfg);  // the node protocol
  cfg.load<caf::io::middleman>();
  failure_detection fd;
  fd.heartbeat_interval = std::chrono::milliseconds(250);
  fd.connection_timeout = std::chrono::seconds(2);
  set_failure_detection(cfg, fd);  // notice a dead peer
  return cfg;
}

// --- the worker process --------------------------------------------------------

int worker(std::uint16_t port) {
  const char* token = std::getenv(token_variable);
  if (token == nullptr) {
    std::cerr << "worker: " << token_variable << " is not set\n";
    return 2;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{network_config(cfg)};

  connect_options co;
  co.port = port;
  co.join_token = token;
  co.worker = "worker-1";
  auto conn = connect_to_node(sys, co);
  if (!conn) {
    std::cerr << "worker: " << render(conn.error()) << "\n";
    return 3;
  }
  std::vector<agent_entry> entries;
  for (const auto& p : parts) {
    auto id = agent_id::make(p.type, co.worker);
    if (!id) return 3;
    agent_spec spec{*id, p.type, {}};
    const std::string text = p.text;
    // Runs here; reads and writes the node's blackboard through its actor.
    auto logic = contributor([text](const swarm_turn&) -> bb::result<json> { return json(text); });
    auto agent = spawn_remote_agent(sys, conn->board, spec, logic);
    if (!agent) return 3;
    entries.push_back(agent_entry{spec, *agent, {}, {}});
  }
  if (auto err = register_agents(sys, *conn, entries)) {
    std::cerr << "worker: " << render(err) << "\n";
    for (auto& e : entries) caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
    return 3;
  }
  std::cerr << "worker: registered " << entries.size() << " agents with the node\n";

  // Until the node goes away (bounded, in case it never does).
  caf::scoped_actor self{sys};
  self->monitor(conn->registry);
  self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(60)) >> [] {});
  std::cerr << "worker: the node is gone, stopping\n";
  for (auto& e : entries) caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  return 0;
}

// --- the node process ----------------------------------------------------------

// A dispatcher behind an agent's interface, so that it can be a swarm
// member: run(task) becomes dispatch(task). Linked: both end together.
agent_actor::behavior_type dispatched_member(agent_actor::pointer self, supervisor_actor dispatcher,
                                             agent_spec spec) {
  self->link_to(dispatcher);
  return {
      [self, dispatcher](run_atom, task t) {
        return self->delegate(dispatcher, dispatch_atom::value, std::move(t));
      },
      [spec](describe_atom) { return spec; },
  };
}

// Waits (bounded) until an agent of each type is registered.
bool wait_for_agents(caf::actor_system& sys, const agent_registry_actor& registry,
                     std::chrono::seconds limit) {
  std::set<std::string> seen;
  auto note = [&seen](const agent_entry& e) { seen.insert(std::string(e.spec.id.type())); };
  caf::scoped_actor self{sys};
  bool ok = true;
  self->request(registry, std::chrono::seconds(5), follow_atom::value, std::string())
      .receive([&](const std::vector<agent_entry>& es) { for (const auto& e : es) note(e); },
               [&](const caf::error&) { ok = false; });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (ok && seen.size() < std::size(parts)) {
    self->receive([&](agent_up_atom, const agent_entry& e) { note(e); },
                  [](agent_gone_atom, const agent_entry&, const caf::error&) {},
                  caf::after(std::chrono::milliseconds(100)) >> [] {});
    if (std::chrono::steady_clock::now() > deadline) ok = false;
  }
  return ok;
}

// Starts `program --worker PORT` with the token in its environment.
pid_t start_worker(const char* program, std::uint16_t port) {
  const std::string port_text = std::to_string(port);
  std::vector<char*> argv{const_cast<char*>(program), const_cast<char*>("--worker"),
                          const_cast<char*>(port_text.c_str()), nullptr};
  pid_t pid = -1;
  if (posix_spawnp(&pid, program, nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

// Waits up to `limit` for the child; kills it after that.
int reap(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int node_main(const char* program) {
  // A fresh secret per run; the child inherits it through the environment.
  std::random_device rd;
  const std::string token = std::to_string(rd()) + std::to_string(rd());
  setenv(token_variable, token.c_str(), 1);

  caf::actor_system_config cfg;
  caf::actor_system sys{network_config(cfg)};
  auto board = std::make_shared<bb::blackboard>();
  blackboard_actor bba = spawn_blackboard(sys, board);
  node_options no;
  no.join_token = token;  // port 0: any free port on loopback
  auto n = node::start(sys, bba, no);
  if (!n) {
    std::cerr << "node: " << render(n.error()) << "\n";
    caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::cout << "node: listening on 127.0.0.1:" << (*n)->port() << "\n";

  const pid_t child = start_worker(program, (*n)->port());
  std::vector<caf::actor> to_stop;
  auto finish = [&](int code) {
    for (auto& a : to_stop) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    (*n)->stop();  // the worker sees the registry go and exits
    caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
    const int worker_code = child > 0 ? reap(child, std::chrono::seconds(15)) : -1;
    std::cout << "worker exited with " << worker_code << "\n";
    return worker_code == 0 ? code : 1;
  };
  if (child <= 0 || !wait_for_agents(sys, (*n)->registry(), std::chrono::seconds(30))) {
    std::cerr << "node: the worker did not register its agents\n";
    return finish(1);
  }

  swarm_config sc;
  for (const auto& p : parts) {
    // One dispatcher per type: every registered agent of the type, wherever it runs.
    auto d = spawn_dispatcher(sys, (*n)->registry(), bba, p.type, {});
    if (!d) return finish(1);
    auto id = agent_id::make(p.type, "remote");
    if (!id) return finish(1);
    auto m = sys.spawn(dispatched_member, *d, agent_spec{*id, p.type, {}});
    to_stop.push_back(caf::actor_cast<caf::actor>(m));
    sc.contributors.push_back({*id, m, p.type});
  }
  sc.order = swarm_order::parallel_then_merge;
  sc.reduce = [](const swarm_merge& m) -> bb::result<json> {  // the plan: one step per contributor
    json plan = json::object();
    for (const auto& [who, c] : m.contributions) plan[who] = c;
    return plan;
  };
  sc.run.stop = quiescence(1) | max_rounds(4);
  sc.run.round.timeout = std::chrono::seconds(10);
  auto swarm = spawn_swarm(sys, board, sc);
  if (!swarm) {
    std::cerr << bb::to_string(swarm.error()) << "\n";
    return finish(1);
  }
  to_stop.push_back(caf::actor_cast<caf::actor>(*swarm));
  auto result = run_pattern(sys, *swarm, "plan-1", {{"task", "plan a word-count tool"}},
                            std::chrono::minutes(1));
  if (!result) {
    std::cerr << render(result.error()) << "\n";
    return finish(1);
  }
  auto text = transcript(*board, "plan-1");
  std::cout << (text ? *text : bb::to_string(text.error()));
  std::cout << "\n" << to_string(result->status) << " after " << result->rounds
            << " round(s); stop reason: " << result->reason << "\n";
  const bool done = result->status == run_status::settled || result->status == run_status::fallback;
  return finish(done ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--worker")
    return worker(static_cast<std::uint16_t>(std::strtoul(argv[2], nullptr, 10)));
  return node_main(argv[0]);
}
