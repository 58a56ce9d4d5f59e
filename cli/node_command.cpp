// `agora serve` and `agora worker` (commands.hpp, docs/nodes.md "The agora
// command: serve and worker").
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/node.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "node_support.hpp"
#include "process.hpp"
#include "run_scenario.hpp"
#include "scenario.hpp"

namespace agora::cli {

namespace fs = std::filesystem;

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(100);

int usage_error(const std::string& cmd, const std::string& msg) {
  std::cerr << "agora " << cmd << ": " << msg << "\n";
  return exit_usage;
}

bool loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

/// Loads a scenario or prints every error in it.
std::unique_ptr<scenario> load_or_report(const std::string& cmd, const std::string& path,
                                         const std::vector<std::string>& overrides) {
  auto loaded = load_scenario(path, overrides);
  if (loaded) return std::move(loaded.value);
  for (const auto& e : loaded.errors) std::cerr << "agora " << cmd << ": " << e.to_string() << "\n";
  return nullptr;
}

std::string default_worker_name() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "worker");
  return std::string(host) + "-" + std::to_string(static_cast<long>(getpid()));
}

/// Plaintext beyond loopback is refused by the node itself too; checking
/// here makes it a usage error that names the options.
bool plaintext_refused(const std::string& cmd, const node_cli& o) {
  if (o.tls() || o.allow_plaintext_remote || loopback(o.host)) return false;
  usage_error(cmd, "--listen " + o.address() +
                       ": listening beyond loopback needs TLS (--tls-cert, --tls-key, --tls-ca) "
                       "or --insecure-plaintext");
  return true;
}

}  // namespace

// --- agora serve ------------------------------------------------------------------

int serve_command(const std::vector<std::string>& args) {
  command_spec spec{
      "serve",
      "agora serve [--listen HOST:PORT] [--data DIR] [--scenario FILE]... [--once] [options]",
      "A node: a blackboard (durable in DIR with --data) and an agent registry that\n"
      "`agora worker`s join with the join token. Prints `listening on HOST:PORT` (the\n"
      "real port when 0 was asked) on stdout. With --scenario it runs each scenario\n"
      "once the agents its workers provide (\"on\": \"worker\") have registered; with\n"
      "--once it then exits, else it serves until SIGINT or SIGTERM.",
      {{"data", "DIR", "keep the blackboard in DIR/blackboard.db and spans in DIR/spans.jsonl"},
       {"scenario", "FILE", "run this scenario once its workers joined (in order)", true},
       {"set", "PATH=VALUE", "override a field of every scenario", true},
       {"once", "", "exit after the scenarios ran (exit code of the last run)"},
       {"wait-workers", "SECONDS", "how long a scenario waits for its workers' agents (default 60)"},
       {"timeout", "SECONDS", "bound on each run (default 600)"}},
      {},
      0,
      0,
      "Join token: the node reads it from the environment variable named by\n"
      "--token-env (AGORA_JOIN_TOKEN by default); it is never printed.\n"
      "Exit codes: 0 stopped by SIGINT/SIGTERM (a normal stop) or --once runs that\n"
      "settled; 1 a --once run escalated or failed; 2 bad command line, scenario or\n"
      "certificate; 3 cannot listen (port taken) or a run could not be done;\n"
      "130 a --once run interrupted by SIGINT/SIGTERM.\n"};
  add_node_options(spec, node_role::serve);
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, args, parsed)) return *done;
  const parsed_args* a = &parsed;
  auto opts = read_node_options(*a, node_role::serve);
  if (!opts) return usage_error("serve", opts.error().message);
  if (plaintext_refused("serve", *opts)) return exit_usage;
  const auto scenario_files = a->all("scenario");
  if (a->has("once") && scenario_files.empty())
    return usage_error("serve", "--once needs at least one --scenario FILE");
  auto wait_s = number_option(*a, "wait-workers", 60, 0.1, 86400);
  if (!wait_s) return usage_error("serve", wait_s.error().message);
  auto timeout_s = number_option(*a, "timeout", 600, 0.1, 7 * 86400);
  if (!timeout_s) return usage_error("serve", timeout_s.error().message);

  // Everything is checked before anything listens.
  std::vector<std::unique_ptr<scenario>> scenarios;
  for (const auto& f : scenario_files) {
    auto s = load_or_report("serve", f, a->all("set"));
    if (!s) return exit_usage;
    scenarios.push_back(std::move(s));
  }

  std::shared_ptr<bb::blackboard> board;
  std::string spans_path;
  if (a->has("data")) {
    const fs::path dir = *a->get("data");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return usage_error("serve", "--data " + dir.string() + ": " + ec.message());
    bb::durability d;
    d.path = (dir / board_file).string();
    auto opened = bb::blackboard::open(d);
    if (!opened) {
      std::cerr << "agora serve: --data " << dir.string() << ": " << opened.error().message << "\n";
      return exit_error;
    }
    board = std::move(*opened);
    spans_path = (dir / spans_file).string();
  } else {
    board = std::make_shared<bb::blackboard>();
  }

  auto ns = node_system::make(*opts, spans_path);
  if (!ns) return usage_error("serve", ns.error().message);
  int code = exit_ok;
  {
    auto node = run_node::start(**ns, board, std::cout);
    if (!node) {
      std::cerr << "agora serve: " << node.error().message << "\n";
      return exit_error;
    }
    for (const auto& s : scenarios) {
      if (interrupted()) break;
      run_settings rs;
      rs.spans_path = spans_path;
      rs.wait_workers = std::chrono::milliseconds(static_cast<long long>(*wait_s * 1000));
      rs.timeout = std::chrono::milliseconds(static_cast<long long>(*timeout_s * 1000));
      std::cerr << "agora serve: running " << s->file << "\n";
      code = execute_scenario(*s, rs, (*ns)->system(), &(*ns)->tracer(), board, node->get(),
                              std::cout, std::cerr);
      std::cout.flush();
    }
    if (!a->has("once")) {
      // A server stops when told to; that is a normal stop (exit 0).
      while (!interrupted()) std::this_thread::sleep_for(poll_interval);
      std::cerr << "agora serve: stopping (signal)\n";
      code = exit_ok;
    } else if (interrupted()) {
      code = exit_interrupted;
    }
    (*node)->stop();
  }
  (*ns)->tracer().flush();
  return code;
}

// --- agora worker -----------------------------------------------------------------

namespace {

/// Ends the agents and waits (bounded) until they are gone, so that
/// nothing runs a logic that uses the process runner after it is destroyed.
void stop_agents(caf::actor_system& sys, const std::vector<actors::agent_entry>& entries) {
  caf::scoped_actor self{sys};
  for (const auto& e : entries) {
    self->monitor(e.handle);
    caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    bool timed_out = false;
    self->receive([](const caf::down_msg&) {},
                  caf::after(std::chrono::seconds(5)) >> [&] { timed_out = true; });
    if (timed_out) break;
  }
}

}  // namespace

int worker_command(const std::vector<std::string>& args) {
  command_spec spec{
      "worker",
      "agora worker --join HOST:PORT --scenario FILE [--agents ID,ID] [options]",
      "Runs a scenario's agents for a node on another machine: the agents marked\n"
      "\"on\": \"worker\" in FILE (or the ones --agents names), built from the same\n"
      "file the node runs, joined to the node at HOST:PORT. Prints `joined HOST:PORT\n"
      "as NAME: N agents` on stdout and stays until the node goes away or SIGINT/SIGTERM.",
      {{"scenario", "FILE", "the scenario whose agents to run (required)"},
       {"agents", "ID,ID", "run these agents of FILE instead of those marked \"on\": \"worker\""},
       {"set", "PATH=VALUE", "override a field of the scenario", true},
       {"connect-timeout", "SECONDS", "bound on connecting and joining (default 10)"}},
      {},
      0,
      0,
      "Join token: read from the environment variable named by --token-env\n"
      "(AGORA_JOIN_TOKEN by default); never printed.\n"
      "Exit codes: 0 stopped by SIGINT/SIGTERM; 2 bad command line, scenario, agent id\n"
      "or certificate; 3 the node refused the join (token, TLS), could not be reached,\n"
      "or went away (\"lost the node HOST:PORT\").\n"};
  add_node_options(spec, node_role::worker);
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, args, parsed)) return *done;
  const parsed_args* a = &parsed;
  auto opts = read_node_options(*a, node_role::worker);
  if (!opts) return usage_error("worker", opts.error().message);
  if (!a->has("scenario")) return usage_error("worker", "--scenario FILE is required");
  auto connect_s = number_option(*a, "connect-timeout", 10, 0.1, 3600);
  if (!connect_s) return usage_error("worker", connect_s.error().message);
  if (opts->name.empty()) opts->name = default_worker_name();

  auto s = load_or_report("worker", *a->get("scenario"), a->all("set"));
  if (!s) return exit_usage;
  std::vector<const agent_def*> defs;
  if (a->has("agents")) {
    std::stringstream list(*a->get("agents"));
    for (std::string id; std::getline(list, id, ',');) {
      if (id.empty()) continue;
      const agent_def* found = nullptr;
      for (const auto& d : s->agents)
        if (d.id == id) found = &d;
      if (!found) return usage_error("worker", "--agents: " + s->file + " has no agent '" + id + "'");
      defs.push_back(found);
    }
    if (defs.empty()) return usage_error("worker", "--agents: no agent id given");
  } else {
    for (const auto& d : s->agents)
      if (d.remote) defs.push_back(&d);
    if (defs.empty())
      return usage_error("worker", s->file +
                                       " has no agent marked \"on\": \"worker\" (name the agents "
                                       "to run with --agents ID,ID)");
  }

  auto ns = node_system::make(*opts, "");
  if (!ns) return usage_error("worker", ns.error().message);
  auto& sys = (*ns)->system();
  const std::string node_addr = opts->address();
  int code = exit_ok;
  {
    process_runner runner(2);
    logic_context ctx{&runner, &(*ns)->tracer(), ""};
    std::vector<std::pair<actors::agent_spec, actors::agent_logic>> built;
    for (const auto* d : defs) {
      auto id = actors::agent_id::parse(d->id);
      if (!id) return usage_error("worker", s->file + ": agent " + d->id + ": " + id.error().message);
      auto logic = make_agent_logic(*s, *d, ctx);
      if (!logic) return usage_error("worker", logic.error().message);
      built.emplace_back(actors::agent_spec{*id, d->role, {}}, std::move(*logic));
    }

    actors::connect_options co;
    co.host = opts->host;
    co.port = opts->port;
    co.join_token = opts->join_token;
    co.worker = opts->name;
    co.timeout = std::chrono::milliseconds(static_cast<long long>(*connect_s * 1000));
    auto conn = actors::connect_to_node(sys, co);
    if (!conn) {
      const bool refused = conn.error() == actors::errc::join_refused;
      std::cerr << "agora worker: " << (refused ? "the node refused the join: " : "cannot join ")
                << (refused ? "" : node_addr + ": ") << actors::render(conn.error()) << "\n";
      return exit_error;
    }

    std::vector<actors::agent_entry> entries;
    for (auto& [spec_, logic] : built) {
      auto agent = actors::spawn_remote_agent(sys, conn->board, spec_, std::move(logic));
      if (!agent) {
        stop_agents(sys, entries);
        std::cerr << "agora worker: agent " << spec_.id.str() << ": " << agent.error().message << "\n";
        return exit_error;
      }
      entries.push_back(actors::agent_entry{spec_, *agent, {}, {}});
    }
    if (auto err = actors::register_agents(sys, *conn, entries)) {
      stop_agents(sys, entries);
      const bool refused = err == actors::errc::join_refused;
      std::cerr << "agora worker: " << (refused ? "the node refused the agents: " : "cannot register: ")
                << actors::render(err) << "\n";
      return exit_error;
    }
    std::cout << "joined " << node_addr << " as " << opts->name << ": " << entries.size()
              << (entries.size() == 1 ? " agent" : " agents") << std::endl;

    // Until the node goes away (its registry's proxy dies with the
    // connection) or a signal.
    bool lost = false;
    caf::error why;
    {
      caf::scoped_actor self{sys};
      self->monitor(conn->registry);
      while (!lost && !interrupted())
        self->receive(
            [&](const caf::down_msg& down) {
              lost = true;
              why = down.reason;
            },
            caf::after(poll_interval) >> [] {});
    }
    if (lost) {
      // A node that stops cleanly ends its registry (user_shutdown); a lost
      // connection kills the proxy (remote_link_unreachable).
      std::cerr << "agora worker: lost the node " << node_addr << " ("
                << (why == caf::exit_reason::user_shutdown ? std::string("the node stopped")
                                                           : actors::render(why))
                << ")\n";
      code = exit_error;
    } else {
      std::cerr << "agora worker: stopping (signal)\n";
    }
    stop_agents(sys, entries);
  }
  return code;
}

}  // namespace agora::cli
