/// \file node_support.hpp
/// What `agora serve`, `agora worker` and `agora run --listen` share: the
/// network options (address, join token, TLS), an actor system set up for
/// the network, and, for a run, a node on the run's blackboard whose
/// registered remote agents stand in as pattern members.
///
/// A scenario agent with `"on": "worker"` runs in an `agora worker`
/// process: the worker spawns it from the same scenario file and registers
/// it under its agent id (its agent type is the id, so the dispatcher the
/// run makes for it reaches exactly that agent). The run waits, bounded,
/// until every remote agent has registered.
///
/// Thread-safety: call from main's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

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
  std::string tls_cert, tls_key, tls_ca;  ///< all three or none
  std::string name;                       ///< node or worker name for logs
  bool allow_plaintext_remote = false;
};

/// Adds the options a role takes (`--listen HOST:PORT` or `--join
/// HOST:PORT`, `--token-env VAR`, `--tls-cert/--tls-key/--tls-ca FILE`,
/// `--name NAME`, `--insecure-plaintext`) to `spec`.
void add_node_options(command_spec& spec, node_role role);

/// Reads them back. Fails with bb::errc::invalid_argument naming the option:
/// a bad HOST:PORT, only some of the TLS files, the token variable unset or
/// empty.
bb::result<node_cli> read_node_options(const parsed_args& a, node_role role);

/// An actor system for the network: every Agora type registered, the
/// middleman loaded, heartbeats and connection timeouts on, TLS when the
/// options name certificates; a tracer writing to `spans_path` ("" = off).
class node_system {
 public:
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
/// makes pattern members of the agents workers register.
class run_node {
 public:
  /// Starts listening (the port goes to `log`). Fails naming the problem
  /// (port taken, certificates, plaintext off loopback).
  static bb::result<std::unique_ptr<run_node>> start(node_system& ns,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     std::ostream& log);
  ~run_node();
  run_node(const run_node&) = delete;
  run_node& operator=(const run_node&) = delete;

  std::uint16_t port() const;

  /// Waits up to `wait` until an agent with each def's id has registered,
  /// then returns one member per def (its id, a dispatcher to it, its
  /// role as persona). Fails with bb::errc::invalid_argument naming the
  /// agents that did not register in time.
  bb::result<std::vector<member>> remote_members(const std::vector<agent_def>& defs,
                                                 std::chrono::milliseconds wait);

  /// Stops the node and its dispatchers (also done by the destructor).
  void stop();

 private:
  run_node();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace agora::cli
