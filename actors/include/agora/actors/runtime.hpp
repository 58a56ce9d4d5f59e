/// \file runtime.hpp
/// The actor runtime of one process: a CAF actor_system configured for
/// Agora, with every message type and error category registered.
///
/// ```cpp
/// agora::actors::runtime_options opts;
/// opts.worker_threads = 2;
/// opts.spans_path = "run.spans.jsonl";                 // empty = tracing off
/// auto rt = agora::actors::runtime::open(opts);        // fails if the file cannot be opened
/// if (!rt) { std::cerr << to_string(rt.error()); return 1; }
/// auto board = agora::actors::spawn_blackboard((*rt)->system(),
///                                              std::make_shared<agora::bb::blackboard>());
/// caf::scoped_actor self{(*rt)->system()};
/// self->request(board, (*rt)->request_timeout(), agora::actors::revision_atom::value)
///   .receive([](std::uint64_t rev) { ... }, [](const caf::error& err) { ... });
/// caf::anon_send_exit(board, caf::exit_reason::user_shutdown);  // every actor must quit
/// ```
///
/// Lifetime: destroying a runtime calls shutdown(): every actor spawned
/// through it (the spawn functions that take a `runtime&`: agents,
/// blackboard actors, patterns) is sent an exit message (user_shutdown),
/// and the runtime waits up to `shutdown_timeout` for every actor of the
/// system to quit. Should some still run then (one spawned on
/// `rt.system()` directly and never stopped, one stuck in a handler),
/// shutdown names them on stderr and returns instead of waiting forever;
/// the system is then left running until the process exits. The tracer and
/// metrics outlive every actor.
///
/// Thread-safety: the accessors may be called from any thread; the
/// actor_system, tracer and metrics are thread-safe themselves. Construct and
/// destroy a runtime on one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "agora/actors/tracing.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::actors {

/// Scheduler and middleman settings traded between remote latency and
/// throughput. Measured with `actor_bench --remote --case agora` on 2 cores,
/// loopback, both processes running a runtime with the profile
/// (docs/benchmarks.md): request round trip median of a blackboard read /
/// one-way messages/s of the raw echo, with the cores free. When other
/// processes keep the cores busy, every profile's median rises to 150-300 us.
///
/// caf_default and balanced run Agora's work-stealing policy (CAF's, with an
/// O(1) steal: spawning many actors from one actor is 20-35x faster than
/// with CAF's own queue; docs/ARCHITECTURE.md); low_latency runs CAF's work
/// sharing.
enum class latency_profile {
  /// CAF 0.17's own scheduler settings: 249 us / 165k msgs/s (raw CAF alike:
  /// 283 us, 247k). Idle workers sleep 50 us between polls, which is most of
  /// the round trip.
  caf_default,
  /// "work-stealing.moderate-poll-attempts" = 1 and "middleman.workers" = 0
  /// (the I/O thread delivers directly): 101-106 us / 196k msgs/s.
  balanced,
  /// "scheduler.policy" = sharing and "middleman.workers" = 0: 68 us /
  /// about half the one-way throughput of the other two.
  low_latency,
};

/// How a runtime is set up. Every field has a usable default.
struct runtime_options {
  /// CAF worker threads ("scheduler.max-threads"). Default: the number of
  /// hardware threads, at least 1. CAF's own default is max(cores, 4),
  /// which oversubscribes small machines. 0 counts as 1. Measured on 2
  /// cores (`actor_bench --workers 1,2,4`, docs/benchmarks.md): pure
  /// message passing is as fast or faster with 1 worker, agents that work
  /// while others send gain 55% with 2, and 4 only adds oversubscription.
  std::size_t worker_threads = default_worker_threads();

  /// Loads CAF's middleman (TCP networking), needed to publish actors or
  /// reach remote ones.
  bool load_middleman = false;

  /// With the middleman loaded: how often a node sends a heartbeat to every
  /// connected node ("middleman.heartbeat-interval"). CAF 0.17 disables
  /// heartbeats by default, so a peer that dies without closing its socket
  /// (power loss, cable, frozen process) is never noticed. 0 = off.
  std::chrono::milliseconds heartbeat_interval{1000};

  /// With the middleman loaded: silence after which a connection is declared
  /// dead ("middleman.connection-timeout"); its actors then send down
  /// messages, which is how lost agents are noticed. Several heartbeat
  /// intervals, so one late heartbeat does not drop a healthy peer. CAF 0.17
  /// disables it by default. 0 = off.
  std::chrono::milliseconds connection_timeout{5000};

  /// Scheduler and middleman settings for remote latency (see
  /// latency_profile). The middleman settings apply only when it is loaded.
  latency_profile latency = latency_profile::caf_default;

  /// Timeout of every request our actors and helpers make. Finite by rule: a
  /// message that fails to deserialize remotely gets no reply in CAF 0.17.
  std::chrono::milliseconds request_timeout{10000};

  /// File spans are appended to as JSON lines; empty = tracing off.
  std::string spans_path;

  /// Collects per-agent counters (actors::metrics).
  bool metrics_enabled = false;

  /// How long shutdown() (and the destructor) waits for the actors to quit
  /// after telling the ones the runtime spawned to stop.
  std::chrono::milliseconds shutdown_timeout{10000};

  /// std::thread::hardware_concurrency(), at least 1.
  static std::size_t default_worker_threads() noexcept;
};

/// Registers everything agora::actors sends — blackboard wire types, agent,
/// tracing and node-protocol types — and both error categories with `cfg`. A runtime does
/// this itself; call it when you build your own actor_system_config (it
/// must happen before the actor_system is constructed, on every node).
void register_types(caf::actor_system_config& cfg);

/// Owns the actor_system of one process. Not copyable, not movable (actors
/// hold references to its system).
class runtime {
 public:
  /// Builds and starts the actor system. Never fails: if `spans_path` cannot
  /// be opened, tracing stays off and tracing_status() says why (use open()
  /// to fail instead).
  explicit runtime(runtime_options opts = {});

  /// Like the constructor, but fails with bb::errc::invalid_argument (naming
  /// the file and the system's reason) when spans_path cannot be opened.
  static bb::result<std::unique_ptr<runtime>> open(runtime_options opts = {});

  /// shutdown(options().shutdown_timeout) unless it was called.
  ~runtime();

  /// Stops what the runtime spawned and waits up to `timeout` for every
  /// actor of the system to quit; then the system is shut down. True when
  /// all had quit. Otherwise prints "agora: runtime shutdown: N actor(s)
  /// still running after T ms: <names>" to stderr, returns false, and
  /// leaves the system (and what still runs in it) to the process's exit.
  /// Call it once, from the thread that made the runtime, after every
  /// run_pattern has returned; the runtime is unusable afterwards.
  bool shutdown(std::chrono::milliseconds timeout);

  /// Records an actor spawned through this runtime (the `runtime&` spawn
  /// functions call it) so that shutdown() stops it and names it if it does
  /// not quit. `what` names it ("debater/ann", "debate").
  void adopt(const caf::actor_addr& actor, std::string what);

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  caf::actor_system& system() noexcept;
  const runtime_options& options() const noexcept;
  /// options().request_timeout.
  std::chrono::milliseconds request_timeout() const noexcept;
  /// The span writer; disabled (every call a no-op) unless spans_path was
  /// set and could be opened.
  actors::tracer& tracer() noexcept;
  /// Per-agent counters; disabled unless metrics_enabled.
  actors::metrics& metrics() noexcept;
  /// Whether the tracer opened as asked (ok when tracing was not asked for).
  const bb::status& tracing_status() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace agora::actors
