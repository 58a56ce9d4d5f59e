/// \file node.hpp
/// Nodes: one blackboard and an agent registry published on a TCP port;
/// worker processes that connect, spawn their agents locally and register
/// them; a dispatcher that sends tasks to the registered agents of a type,
/// wherever they run, and re-dispatches the work of agents that are lost.
///
/// The blackboard node:
/// ```cpp
/// using namespace agora::actors;
/// caf::actor_system_config cfg;
/// register_types(cfg);                      // runtime.hpp: every Agora type
/// register_node_types(cfg);                 // the node protocol's types
/// cfg.load<caf::io::middleman>();
/// set_failure_detection(cfg, {});           // heartbeats + connection timeout on
/// if (auto err = enable_tls(cfg, {"node.pem", "node.key", "ca.pem", ""})) ...
/// caf::actor_system sys{cfg};
///
/// auto board = std::make_shared<agora::bb::blackboard>();
/// blackboard_actor bba = spawn_blackboard(sys, board);
/// node_options no;
/// no.join_token = secret;                   // from the environment, never logged
/// no.port = 4242;
/// auto n = node::start(sys, bba, no);       // caf::expected<std::unique_ptr<node>>
/// if (!n) ...                               // bad certificates, plaintext off loopback, ...
///
/// // Tasks of type "critic" go to every registered critic, local or remote:
/// auto d = spawn_dispatcher(sys, (*n)->registry(), bba, "critic", {});
/// self->request(*d, std::chrono::minutes(2), dispatch_atom::value, t).receive(...);
/// ```
///
/// A worker process (its logic may be sync or async, as for local agents):
/// ```cpp
/// // (the same configuration, with the worker's own certificate)
/// connect_options co;
/// co.host = "10.0.0.5"; co.port = 4242; co.join_token = secret; co.worker = "gpu-box-1";
/// auto conn = connect_to_node(sys, co);     // TLS iff enable_tls was called
/// if (!conn) ...                            // errc::join_refused: token, certificate, TLS
/// auto a = spawn_remote_agent(sys, conn->board, spec, logic);
/// if (auto err = register_agents(sys, *conn, {agent_entry{spec, *a, {}, {}}})) ...
/// ```
///
/// Failure detection. CAF 0.17 sends no heartbeats and never times a
/// connection out unless told to; set_failure_detection turns both on
/// (defaults: a heartbeat every second, a connection silent for 5 s is
/// dead). A lost connection kills the proxies of the peer's actors, which
/// sends down messages to every actor that monitors them: the registry drops
/// the agents, the dispatcher re-dispatches their unfinished tasks to other
/// agents of the type or writes them to `_dlq/<run>/<task>`. Every node and
/// worker must use compatible values (node::start and the join check them).
///
/// Security. With TLS (enable_tls) both sides present a certificate signed
/// by the configured authority; a peer without one, with one from another
/// authority, or speaking plain TCP, fails the handshake. Registration also
/// requires the node's join token. Without TLS a node listens on loopback
/// only unless node_options::allow_plaintext_remote is set. docs/nodes.md
/// has the limits (what CAF 0.17 lets us observe, what the token does not
/// protect).
///
/// OpenSSL: node.cpp interposes SSL_read, SSL_write, SSL_accept and
/// SSL_connect in every program that uses it, to empty OpenSSL's error
/// queue before each call. Without that, CAF 0.17 with OpenSSL 3 lets one
/// failed TLS connection close every other (docs/nodes.md, "Security").
///
/// Trace contexts. A join carries the worker's context (join_request::trace;
/// connect_options::trace, or a new trace per connection); the registry
/// stores it with each entry it registers (agent_entry::trace) and logs its
/// trace id, so a follower's agent_up carries it. Tasks carry theirs
/// (task::trace) through dispatch and re-dispatch; with tracers the
/// dispatcher, the node and remote agents write spans in those traces (see
/// spawn_dispatcher, node_options::tracer, remote_agent_options).
///
/// Thread-safety: connect_to_node and register_agents block and must not
/// run on a CAF worker thread; the other free functions may be called from
/// any thread. node is not thread-safe; the actors are actors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/supervision.hpp"
#include "agora/blackboard/result.hpp"
#include "agora/log.hpp"

namespace agora::actors {

// --- Setup of an actor system that networks ------------------------------------------

/// Registers the node protocol's types (join_request, join_reply,
/// agent_entry; trace_context is registered by register_types) with `cfg`. Call on every node before the actor_system is
/// built, next to register_types (runtime.hpp).
void register_node_types(caf::actor_system_config& cfg);

/// Dead-peer detection of CAF's middleman.
struct failure_detection {
  /// How often a heartbeat goes to every connected node
  /// ("middleman.heartbeat-interval"). 0 = off.
  std::chrono::milliseconds heartbeat_interval{1000};
  /// Silence after which a connection is declared dead
  /// ("middleman.connection-timeout"). 0 = off. Must be well above the
  /// peers' heartbeat interval (node::start and the join check 2x).
  std::chrono::milliseconds connection_timeout{5000};
};

/// Writes both settings into `cfg` (before the actor_system is built).
void set_failure_detection(caf::actor_system_config& cfg, const failure_detection& fd);

/// The settings an actor system runs with (0 when off or not set).
failure_detection failure_detection_of(const caf::actor_system& sys);

/// Mutual-certificate TLS. All three paths are PEM files.
struct tls_options {
  std::string certificate;  ///< this process's certificate (chain)
  std::string key;          ///< its private key
  std::string ca_file;      ///< the authority every peer's certificate must be signed by
  std::string passphrase;   ///< of the key, when it is encrypted
};

/// Loads CAF's openssl module into `cfg` and sets its certificate, key and
/// authority: every connection of the system can then use TLS, and both
/// sides must present a certificate signed by `ca_file`. Fails with
/// caf::sec::invalid_argument when a path is empty or not a readable file
/// (naming it). The files' contents are checked by check_tls once the system
/// runs.
caf::error enable_tls(caf::actor_system_config& cfg, const tls_options& tls);

/// True when the system has the openssl module with a certificate set.
bool tls_enabled(const caf::actor_system& sys);

/// Loads the system's certificate, key and authority the way CAF will for
/// every connection. CAF 0.17 throws from its I/O thread when they do not
/// load, which ends the process at the first connection; this finds the
/// problem first. Fails with caf::sec::invalid_argument naming the file and
/// OpenSSL's reason ("cannot load private key '...' ..."), or when TLS is
/// not enabled. node::start and connect_to_node call it.
caf::error check_tls(caf::actor_system& sys);

// --- Logging -------------------------------------------------------------------------

// Nodes and dispatchers log through spdlog (<agora/log.hpp>): the logger
// "agora.actors" unless their options name another.

// --- The registry protocol -----------------------------------------------------------

/// Worker → registry: authenticate and register agents.
using node_join_atom = caf::atom_constant<caf::atom("node_join")>;
/// Agents of a type.
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
/// Follow the agents of a type.
using follow_atom = caf::atom_constant<caf::atom("follow")>;
/// Registry → follower: an agent was registered.
using agent_up_atom = caf::atom_constant<caf::atom("agent_up")>;
/// Registry → follower: an agent is gone (with the reason).
using agent_gone_atom = caf::atom_constant<caf::atom("agent_gone")>;

/// One registered agent.
struct agent_entry {
  agent_spec spec;
  agent_actor handle;
  /// The worker that registered it (set by the registry from the join).
  std::string worker;
  /// "host:port" of the worker's connection as the node sees it; "local"
  /// for agents in the node's own process (set by the registry).
  std::string peer;
  /// The registration's trace context (set by the registry: the join's, or
  /// the registry's `node.join` span when the node traces). Followers get it
  /// with agent_up, so that what the agent's arrival causes joins the trace
  /// of the registration. (Default-initialized: `{spec, handle, {}, {}}`
  /// stays a complete initializer.)
  trace_context trace{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_entry& x) {
  return f(caf::meta::type_name("agora_agent_entry"), x.spec, x.handle, x.worker, x.peer,
           x.trace);
}

/// What a worker presents.
struct join_request {
  std::string token;
  /// A name for logs and agent_entry::worker; non-empty.
  std::string worker;
  /// The worker's heartbeat interval: the node refuses a worker whose
  /// heartbeats would be too rare for the node's connection timeout.
  std::uint64_t heartbeat_ms = 0;
  /// Agents to register (may be empty: then the join only authenticates).
  std::vector<agent_entry> agents;
  /// The worker's trace context for this registration (empty = not traced).
  trace_context trace;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  return f(caf::meta::type_name("agora_join_request"), x.token, x.worker, x.heartbeat_ms, x.agents,
           x.trace);
}

/// What the node answers a join with.
struct join_reply {
  std::string node;
  /// The node's blackboard actor.
  blackboard_actor board;
  std::uint64_t heartbeat_ms = 0;
  std::uint64_t connection_timeout_ms = 0;
  /// Agents registered by this join.
  std::uint32_t registered = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_reply& x) {
  return f(caf::meta::type_name("agora_join_reply"), x.node, x.board, x.heartbeat_ms,
           x.connection_timeout_ms, x.registered);
}

/// The directory of the agents a node knows, local and remote. Thread-safe:
/// it is an actor. It monitors every agent it registers and drops it when it
/// goes down (its worker's connection was lost, or it quit).
using agent_registry_actor = caf::typed_actor<
    // join(request): checks the token (refused: errc::join_refused, logged
    // at warn with the worker's host:port) and the heartbeat settings
    // (errc::join_refused naming both values), then registers the agents
    // (each entry's trace = the join's context, or the registry's
    // `node.join` span under it) and replies with the blackboard. An agent id already registered with
    // another handle refuses the whole join (errc::join_refused); the same
    // handle again is a no-op. errc::bad_message for a null handle or a
    // message without a sender.
    caf::replies_to<node_join_atom, join_request>::with<join_reply>,
    // lookup(type): the registered agents of `type` ("" = all), by id.
    caf::replies_to<lookup_atom, std::string>::with<std::vector<agent_entry>>,
    // follow(type): like lookup, and from then on the sender receives
    // (agent_up_atom, agent_entry) and (agent_gone_atom, agent_entry,
    // caf::error reason) for agents of `type` ("" = all) until it goes down.
    caf::replies_to<follow_atom, std::string>::with<std::vector<agent_entry>>>;

// --- The node ------------------------------------------------------------------------

struct node_options {
  /// For logs and join_reply::node.
  std::string name = "node";
  /// Address to listen on. Without TLS it must be a loopback address
  /// (127.x.x.x, ::1, localhost) unless allow_plaintext_remote is set; ""
  /// means every interface.
  std::string host = "127.0.0.1";
  /// 0 = any free port (node::port() tells which).
  std::uint16_t port = 0;
  /// Sets SO_REUSEADDR.
  bool reuse_address = false;
  /// Every join must present it. Required (non-empty); never logged.
  std::string join_token;
  /// Lets a node without TLS listen on a non-loopback address: anyone who
  /// can reach the port can then read the traffic and, with the token,
  /// join. Off by default; node::start refuses (and logs an error) otherwise.
  bool allow_plaintext_remote = false;
  /// Timeout of the registry's own requests (peer address lookups).
  std::chrono::milliseconds request_timeout{5000};
  /// Where the node logs (start, joins and refusals with the peer, lost
  /// workers); empty = agora::log::get(agora::log::actors) ("agora.actors").
  log::logger_ptr logger;
  /// When set and enabled: a span `node.join` per accepted join, a child of
  /// the join's trace context. Not owned; must outlive the node.
  actors::tracer* tracer = nullptr;
};

/// A running node: the registry published on a port, TLS when the system
/// has it (tls_enabled). Not thread-safe; not copyable. The blackboard actor
/// stays the caller's: the node neither spawns nor stops it.
class node {
 public:
  /// Checks the options and the system (TLS certificates load; plaintext
  /// only on loopback unless allowed; the openssl module without a
  /// certificate is refused: CAF would fall back to anonymous,
  /// unauthenticated TLS), spawns the registry and publishes it. Fails with
  /// caf::sec::invalid_argument naming the problem, or CAF's publish error
  /// (e.g. the port is taken).
  static caf::expected<std::unique_ptr<node>> start(caf::actor_system& sys, blackboard_actor board,
                                                    node_options opts);

  /// stop().
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// The port the registry is published on.
  std::uint16_t port() const noexcept { return port_; }
  bool tls() const noexcept { return tls_; }
  const agent_registry_actor& registry() const noexcept { return registry_; }
  const blackboard_actor& board() const noexcept { return board_; }
  const node_options& options() const noexcept { return opts_; }

  /// Closes the port and stops the registry. Idempotent.
  void stop();

 private:
  node() = default;
  caf::actor_system* sys_ = nullptr;
  node_options opts_;
  blackboard_actor board_;
  agent_registry_actor registry_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
};

// --- Joining a node ------------------------------------------------------------------

struct connect_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string join_token;
  /// This worker's name (logs, agent_entry::worker). Required.
  std::string worker;
  /// Bounds the connection (TCP, TLS and CAF handshakes) and the join.
  std::chrono::milliseconds timeout{10000};
  /// The trace context the worker's joins are sent under; empty = a new
  /// trace (trace_context::make_root) for this connection.
  trace_context trace;
};

/// A joined node.
struct node_connection {
  agent_registry_actor registry;
  blackboard_actor board;
  std::string node;
  std::string join_token;
  std::string worker;
  failure_detection node_failure_detection;
  /// The connection's trace context: every join (register_agents) is sent
  /// as a child of it.
  trace_context trace;
};

/// Connects to the node at host:port (TLS when the system has it) and joins
/// with the token, registering nothing yet. Blocks the calling thread (not a
/// CAF worker) for at most `timeout` per step. Fails with
/// errc::join_refused when the node refuses the token or the heartbeat
/// settings, or the handshake was cut (the node did not accept our
/// certificate, or it speaks TLS and we do not, or the other way round):
/// the message says which and names host:port. Other failures: CAF's
/// (caf::sec::cannot_connect_to_node, ...) or errc::timeout.
caf::expected<node_connection> connect_to_node(caf::actor_system& sys, const connect_options& opts);

/// Registers agents with a joined node (a join that carries them). Blocks
/// for at most `timeout`. Fails like the registry's join.
caf::error register_agents(caf::actor_system& sys, const node_connection& conn,
                           std::vector<agent_entry> agents,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

// --- Agents that work on a remote blackboard -----------------------------------------

struct remote_agent_options {
  /// Retries, default timeout, isolation and (async logic)
  /// max_concurrent_tasks as for local agents. With a tracer: a span
  /// `agent.task` per task, a child of the task's context, whose context
  /// the logic sees and every request to the blackboard actor carries.
  /// Metrics are not used yet.
  agent_options agent;
  /// What the logic may read: key prefixes it sees as of one revision of
  /// the node's blackboard. Empty = `runs/<run id of the task>`. A read or
  /// a listed prefix outside the scope fails the task (errc::bad_message
  /// naming the key) rather than read a wrong value.
  std::vector<std::string> scope;
  /// Timeout of each request to the blackboard actor: capped by the task's
  /// deadline until the promotion is sent, not after (its answer says
  /// whether the task committed).
  std::chrono::milliseconds request_timeout{10000};
};

/// Spawns an agent whose logic works on the blackboard behind `board`,
/// typically a remote node's. Same interface and outcomes as spawn_agent
/// (agent.hpp). For each run of the logic it reads the scope at the
/// board's latest revision R (requests with finite timeouts: no thread
/// waits), hands the logic a scratchpad on that view, and sends the
/// resulting promotion (base revision R, reads as the node numbers them,
/// txn_id of the task) to `board`, so conflicts are checked by the node as
/// for local agents and a conflict re-runs the logic on a fresh view (at
/// most max_conflict_retries times). Sync logic runs one task at a time;
/// async logic (an LLM call) returns at once and calls its completion later
/// from any thread, up to max_concurrent_tasks tasks at once; either way no
/// CAF thread waits for it. The deadline is enforced by a timer while the
/// logic runs (a late completion is refused); once the promotion is sent
/// only the node's answer settles the task. A promotion refused with
/// bb::errc::duplicate_txn for the task's own txn_id means an earlier
/// dispatch of the task (on another agent) committed it: the outcome is ok
/// and `replayed`. Expects are taken as mod_revisions seen in the
/// scratchpad and translated. Fails with bb::errc::invalid_argument for an
/// empty id, empty logic, a scope prefix that is not one, or an invalid
/// board.
bb::result<agent_actor> spawn_remote_agent(caf::actor_system& sys, blackboard_actor board,
                                           agent_spec spec, agent_logic logic,
                                           remote_agent_options opts = {});

// --- Dispatching to registered agents ------------------------------------------------

struct dispatcher_options {
  /// Dispatches per task (the first included) before the dispatcher gives
  /// up on a retryable failure; an agent lost with the task counts as one.
  std::uint32_t max_attempts = 3;
  /// Per agent: when to stop handing it tasks for a while.
  breaker_options breaker;
  /// How long past a task's deadline to wait for an agent's reply.
  std::chrono::milliseconds reply_grace{std::chrono::seconds(5)};
  /// The deadline of a task that has none, from when it is dispatched.
  std::chrono::milliseconds default_timeout{std::chrono::minutes(10)};
  /// Timeout of the follow request to the registry and of DLQ promotions.
  std::chrono::milliseconds request_timeout{10000};
  /// Key prefix of the dead-letter queue.
  std::string dlq_prefix = "_dlq";
  /// The author of DLQ entries; "" = `dispatcher/<type>`.
  std::string dlq_author;
  /// Time for breaker cooldowns.
  clock_fn clock = steady_clock_fn();
  /// Where the dispatcher logs (lost agents, retries, dead letters, breaker
  /// changes); empty = agora::log::get(agora::log::actors).
  log::logger_ptr logger;
  /// When set and enabled: the dispatcher's spans (see spawn_dispatcher).
  /// Not owned; must outlive the dispatcher.
  actors::tracer* tracer = nullptr;
};

/// Spawns a dispatcher for the agents of `type` registered with `registry`
/// (local and remote alike). A `type` with a '/' is a whole agent id
/// ("writer/north"): the dispatcher then reaches exactly that agent (and
/// its replacement after a lost worker registers the same id), which is
/// how a pattern member stands for one remote agent. It speaks supervisor_actor (supervision.hpp)
/// and is the supervisor's dispatch engine with the registry as the source
/// of agents: one task per agent at a time, breakers, retries with the same
/// attempt group, dead letters, health. It follows the registry and
/// monitors every agent itself: when an agent goes down (its worker's
/// connection was lost: a down message with remote_link_unreachable) the
/// task it was running goes to another agent of the type with the same
/// attempt group, so work that committed is not applied twice. Tasks wait
/// while no agent is free (or none is registered), until their deadline
/// (then errc::no_agent when there is no agent at all). Every task it
/// answers with a non-ok outcome — given up on (max_attempts, deadline, a
/// failure that would repeat), refused (all breakers open) or malformed —
/// is written to `<dlq_prefix>/<run>/<task>` through `board` before the
/// reply; a task that would fail again anyway (a contract violation, ...)
/// is not retried. bb::errc::duplicate_txn for the task's txn_id counts as
/// done (ok, `replayed`): an earlier dispatch committed it. Stopping the
/// dispatcher answers its unfinished tasks with status cancelled (not
/// dead-lettered: its agents are not its own and may still finish them).
///
/// With dispatcher_options::tracer: per task a span `dispatcher.task` (a
/// child of the task's trace context), per hand-over `dispatcher.dispatch`
/// or `dispatcher.redispatch` (children of it; the agent gets the task with
/// that span's context), `dispatcher.dead_letter` for a DLQ write (its
/// context goes with the promotion to the blackboard actor), and
/// `dispatcher.agent_added` per agent, a child of its registration's
/// context (agent_entry::trace).
///
/// Fails with bb::errc::invalid_argument for an empty type, invalid handles
/// or max_attempts 0.
bb::result<supervisor_actor> spawn_dispatcher(caf::actor_system& sys, agent_registry_actor registry,
                                              blackboard_actor board, std::string type,
                                              dispatcher_options opts = {});

}  // namespace agora::actors
