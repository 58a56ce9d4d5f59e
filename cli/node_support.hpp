/// \file node_support.hpp
/// What `agora serve`, `agora worker` and `agora run --listen` share: the
/// network options (address, join token, TLS), an actor system set up for
/// the network, and, for a run, a node on the run's blackboard whose
/// registered remote agents stand in as pattern members.
///
/// ```cpp
/// command_spec spec{...};
/// add_node_options(spec, node_role::serve);
/// auto a = parse_args(spec, argv);
/// auto opts = read_node_options(*a, node_role::serve);   // names the bad option
/// auto ns = node_system::make(*opts, "data/spans.jsonl");
/// auto node = run_node::start(**ns, board, std::cout);   // "listening on 127.0.0.1:40123"
/// auto members = (*node)->remote_members(remote_defs, std::chrono::seconds(60));
/// ...                                                    // a pattern with these members
/// (*node)->stop();                                        // before *ns goes
/// ```
///
/// A scenario agent with `"on": "worker"` runs in an `agora worker`
/// process: the worker spawns it from the same scenario file and registers
/// it under its id. The run's member for it is a dispatcher whose type is
/// that whole id (spawn_dispatcher: a type with a '/' reaches exactly that
/// agent). The run waits, bounded, until every remote agent has
/// registered.
///
/// Thread-safety: call from main's thread. node_system must outlive every
/// run_node made on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/node.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/result.hpp"
#include "args.hpp"
#include "scenario.hpp"

namespace agora::actors {
class tracer;
}
namespace agora::bb {
class blackboard;
}

namespace agora::cli {

enum class node_role { serve, worker, run };

/// The network options, as given on the command line.
struct node_cli {
  std::string host = "127.0.0.1";  ///< serve/run: listen address; worker: the node's
  std::uint16_t port = 0;          ///< serve/run: 0 = any free port (printed); worker: required
  /// The environment variable holding the join token (never on the
  /// command line, never printed).
  std::string token_env = "AGORA_JOIN_TOKEN";
  /// Its value, read by read_node_options. Never print or log it.
  std::string join_token;
  std::string tls_cert, tls_key, tls_ca;  ///< all three or none
  std::string name;                       ///< node or worker name for logs
  bool allow_plaintext_remote = false;
  /// Whether `--listen` (serve, run) or `--join` (worker) was given.
  bool address_given = false;

  bool tls() const { return !tls_cert.empty(); }
  /// "HOST:PORT" ("[::1]:PORT" for an IPv6 address).
  std::string address() const;
};

/// Adds the options a role takes (`--listen HOST:PORT` or `--join
/// HOST:PORT`, `--token-env VAR`, `--tls-cert/--tls-key/--tls-ca FILE`,
/// `--name NAME`, and for serve/run `--insecure-plaintext`) to `spec`.
void add_node_options(command_spec& spec, node_role role);

/// Reads them back. Fails with bb::errc::invalid_argument naming the option:
/// a bad HOST:PORT, only some of the TLS files, the token variable unset or
/// empty, `--join` missing (worker). For role run, the token is only
/// required when `--listen` is given.
bb::result<node_cli> read_node_options(const parsed_args& a, node_role role);

/// "HOST:PORT" for the address a node or worker uses.
std::string host_port(const std::string& host, std::uint16_t port);

/// An actor system for the network: every Agora type registered, the
/// middleman loaded, heartbeats and connection timeouts on, TLS when the
/// options name certificates; a tracer writing to `spans_path` ("" = off).
/// Its destructor waits for the system's actors: stop what you spawned
/// (run_node::stop, exit messages to agents) first.
class node_system {
 public:
  /// Fails with bb::errc::invalid_argument naming the option (a TLS file
  /// missing, unreadable or not a certificate/key) or the spans file.
  static bb::result<std::unique_ptr<node_system>> make(const node_cli& opts,
                                                      const std::string& spans_path = "");
  ~node_system();
  node_system(const node_system&) = delete;
  node_system& operator=(const node_system&) = delete;

  caf::actor_system& system();
  actors::tracer& tracer();
  const node_cli& options() const;

 private:
  node_system();
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A run's node: publishes the run's blackboard and an agent registry, and
/// makes pattern members of the agents workers register. Joins and lost
/// workers are logged by the agora.actors logger (stderr unless --log-file).
class run_node {
 public:
  /// Spawns a blackboard actor on `board` (traced with ns.tracer()) and
  /// starts listening; writes "listening on HOST:PORT" (the real port) to
  /// `log` and flushes it. Fails with bb::errc::invalid_argument naming the
  /// problem (port taken, certificates, plaintext off loopback, no token).
  static bb::result<std::unique_ptr<run_node>> start(node_system& ns,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     std::ostream& log);
  ~run_node();
  run_node(const run_node&) = delete;
  run_node& operator=(const run_node&) = delete;

  std::uint16_t port() const;
  /// The node's blackboard actor (what workers' agents write through).
  const actors::blackboard_actor& board_actor() const;
  const actors::agent_registry_actor& registry() const;

  /// Waits up to `wait` until the agent of each def has registered (under
  /// def.id), then returns one member per def (its
  /// id, a dispatcher to it behind an agent interface, its role as
  /// persona). Fails with bb::errc::invalid_argument naming the agents that
  /// did not register in time (or a def whose id is not an agent id), and
  /// with bb::errc::watch_closed when SIGINT/SIGTERM arrived while waiting
  /// (interrupted()). A lost worker's agent that registers again (a new
  /// worker) takes over its tasks.
  bb::result<std::vector<member>> remote_members(const std::vector<agent_def>& defs,
                                                 std::chrono::milliseconds wait);

  /// Stops the dispatchers, the node and the blackboard actor (also done by
  /// the destructor). Idempotent.
  void stop();

 private:
  run_node();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace agora::cli
