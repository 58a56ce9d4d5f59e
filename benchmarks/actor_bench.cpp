// actor_bench: Agora's actor layer against raw CAF 0.17, same work, one run.
//
//   actor_bench [--quick] [--reps N] [--workers N[,N...]] [--case C] [--side S]
//   actor_bench --remote [--quick] [--reps N] [--workers N] [--case raw|agora]
//
// Every case runs the same message pattern twice per repetition: once on a
// raw caf::actor_system, once on an agora::actors::runtime (metrics enabled),
// each built fresh for that run and torn down after it, outside the timing
// (a long-lived system made later runs cost 5-6% more instructions, on one
// side more than the other). Odd repetitions run Agora's side first.
// Both systems have the same scheduler settings: scheduler.max-threads =
// --workers (default: the number of hardware threads, runtime_options'
// default), everything else CAF's default. `--workers 1,2,4` repeats every
// case at each count (one row per case and count).
//
// "Agora's layer" is what Agora adds to a message between actors: every
// message carries an agora::actors::trace_context (32 bytes, passed along
// unchanged) and every handler bumps the receiving agent's agent_counters
// (relaxed atomic, counters from runtime::metrics()). agent.hpp has no
// lightweight agent-to-agent message path — an agent only takes whole tasks
// (snapshot + scratchpad + promote) — so the local patterns use plain actors
// spawned on the runtime's system, and one more case, "agent task round
// trip", measures tasks/s through spawn_agent with a logic that stages
// nothing, against a raw CAF request/response round trip.
//
// Cases: ping-pong (2 actors, N round trips), N:1 mailbox (8 senders, one
// receiver), fan-out/fan-in (a coordinator sends to 100 workers and gathers
// every reply, R rounds), a ring (100 actors pass a token around R times),
// actor creation (a spawner spawns N actors, each sends it one hello and
// quits; Agora's side also registers each new actor's agent_counters, as
// spawn_agent does, and the hello carries the trace context), agent task
// round trip. benchmarks/run_all runs the same shapes and counts on
// Erlang/OTP (benchmarks/peers/erlang/actor_peer.erl). Every figure is the median of N >= 5 repetitions
// (default 5); the table shows min and max of both sides. baseline = the raw
// CAF median, ratio = Agora / raw. The last line of output is one JSON object.
//
// Instruction counts: `--case C --side S` runs one case on one side, and
// under `valgrind --tool=callgrind` every measured run is dumped on its own
// (callgrind.out.<pid>.<n>, labelled "<case> <side> w<workers>"), so
// instructions per message = the dump's total / the run's messages
// (docs/benchmarks.md has the commands).
//
// With --remote it measures instead, between two processes on loopback
// (this one and a forked child): request round trip (median and p99 in
// microseconds, per repetition; the table shows the median over
// repetitions) and one-way throughput (msgs/s, the sender's last message is
// a request whose reply says every message before it arrived). First raw
// CAF, once per scheduler setting (the same on both processes, the child
// publishes an echo actor). Then Agora's path, once per
// runtime_options::latency profile: both processes run an
// agora::actors::runtime with that profile; the child publishes the echo, a
// blackboard actor and an agent; the parent measures the echo, a blackboard
// read, an agent task and watch credit grants (one-way).

#include "bench_common.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define AGORA_BENCH_CALLGRIND 1
#endif

#include "agora/actors/agent.hpp"
#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/messages.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/blackboard/blackboard.hpp"

using agora::bench::human;
using agora::bench::seconds_since;

namespace {

namespace act = agora::actors;
namespace bb = agora::bb;
using nlohmann::json;
using steady = std::chrono::steady_clock;

using go_atom = caf::atom_constant<caf::atom("bgo")>;
using done_atom = caf::atom_constant<caf::atom("bdone")>;
using ping_atom = caf::atom_constant<caf::atom("bping")>;
using pong_atom = caf::atom_constant<caf::atom("bpong")>;
using load_atom = caf::atom_constant<caf::atom("bload")>;
using work_atom = caf::atom_constant<caf::atom("bwork")>;
using reply_atom = caf::atom_constant<caf::atom("breply")>;
using token_atom = caf::atom_constant<caf::atom("btoken")>;
using next_atom = caf::atom_constant<caf::atom("bnext")>;
using hello_atom = caf::atom_constant<caf::atom("bhello")>;

constexpr std::size_t k_senders = 8;
constexpr std::size_t k_workers = 100;
constexpr std::size_t k_ring = 100;
constexpr auto k_wait = std::chrono::seconds(120);

struct settings {
  bool quick = false;
  bool remote = false;
  int reps = 5;
  /// Scheduler workers per system; one table section per entry.
  std::vector<std::size_t> workers{act::runtime_options::default_worker_threads()};
  /// Only this case ("" = all): ping-pong, n1, fan, ring, spawn, task.
  std::string only_case;
  bool run_raw = true;
  bool run_agora = true;
};

/// One case: a metric sampled once per repetition on each side.
struct figure {
  std::string case_name;
  std::string metric;
  std::string unit;
  std::vector<double> raw;    // raw CAF samples (the baseline)
  std::vector<double> agora;  // Agora's layer samples
  std::string key;            // the case's short name (--case), "" = none

  // NaN for a side that did not run (--side).
  static double median(std::vector<double> s) {
    if (s.empty()) return std::nan("");
    std::sort(s.begin(), s.end());
    std::size_t n = s.size();
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  static double min(const std::vector<double>& s) {
    return s.empty() ? std::nan("") : *std::min_element(s.begin(), s.end());
  }
  static double max(const std::vector<double>& s) {
    return s.empty() ? std::nan("") : *std::max_element(s.begin(), s.end());
  }
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "actor_bench: " << what << "\n";
  std::exit(1);
}

/// Runs one measured side of one case and returns its figure. Under
/// callgrind the counters are zeroed before and dumped after with `label`,
/// so each dump holds the instructions of exactly one run (its few actor
/// spawns included); elsewhere the markers cost a few instructions.
template <class F>
double measured([[maybe_unused]] const std::string& label, F&& run) {
#ifdef AGORA_BENCH_CALLGRIND
  CALLGRIND_ZERO_STATS;
#endif
  double v = run();
#ifdef AGORA_BENCH_CALLGRIND
  CALLGRIND_DUMP_STATS_AT(label.c_str());
#endif
  return v;
}


/// What one side adds to a message. Raw: nothing. Agora: a trace context in
/// the message and a counter update in the handler.
struct layer {
  act::agent_counters* counters = nullptr;  // null on the raw side
  act::trace_context trace;

  void count() const {
    if (counters) counters->tasks.fetch_add(1, std::memory_order_relaxed);
  }
};

/// Sends `xs..., trace` (Agora) or `xs...` (raw).
template <bool Agora, class Self, class Dest, class... Ts>
void send_msg(Self* self, const Dest& dest, const act::trace_context& t, Ts&&... xs) {
  if constexpr (Agora)
    self->send(dest, std::forward<Ts>(xs)..., t);
  else
    self->send(dest, std::forward<Ts>(xs)...);
}

/// Waits for done from the actors of one run; dies on silence.
void await_done(caf::scoped_actor& self, const char* what) {
  bool ok = false;
  self->receive([&](done_atom) { ok = true; },
                caf::after(k_wait) >> [&] { ok = false; });
  if (!ok) die(std::string(what) + ": no result within 120 s");
}

void stop(const std::vector<caf::actor>& actors) {
  for (const auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// --- Ping-pong --------------------------------------------------------------------

template <bool Agora>
caf::behavior ponger(caf::event_based_actor* self, layer l) {
  if constexpr (Agora)
    return {[=](ping_atom, std::uint64_t i, const act::trace_context& t) {
      l.count();
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), pong_atom::value, i, t);
    }};
  else
    return {[=](ping_atom, std::uint64_t i) {
      l.count();
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), pong_atom::value, i);
    }};
}

template <bool Agora>
caf::behavior pinger(caf::event_based_actor* self, caf::actor pong, std::uint64_t n, layer l) {
  return {[=](go_atom) {
    auto driver = caf::actor_cast<caf::actor>(self->current_sender());
    send_msg<Agora>(self, pong, l.trace, ping_atom::value, std::uint64_t{1});
    auto on_pong = [=](std::uint64_t i) {
      l.count();
      if (i >= n) {
        self->send(driver, done_atom::value);
        self->quit();
        return;
      }
      send_msg<Agora>(self, pong, l.trace, ping_atom::value, i + 1);
    };
    if constexpr (Agora)
      self->become([=](pong_atom, std::uint64_t i, const act::trace_context&) { on_pong(i); });
    else
      self->become([=](pong_atom, std::uint64_t i) { on_pong(i); });
  }};
}

template <bool Agora>
double ping_pong(caf::actor_system& sys, const layer& a, const layer& b, std::uint64_t n) {
  caf::scoped_actor self{sys};
  auto pong = sys.spawn(ponger<Agora>, b);
  auto ping = sys.spawn(pinger<Agora>, pong, n, a);
  auto t0 = steady::now();
  self->send(ping, go_atom::value);
  await_done(self, "ping-pong");
  double secs = seconds_since(t0);
  stop({pong});
  return static_cast<double>(n) / secs;
}

// --- N:1 mailbox ------------------------------------------------------------------

template <bool Agora>
caf::behavior load_receiver(caf::event_based_actor* self, std::uint64_t total, layer l) {
  return {[=](go_atom) {
    auto driver = caf::actor_cast<caf::actor>(self->current_sender());
    auto seen = std::make_shared<std::uint64_t>(0);  // owned by this actor's handlers only
    auto on_load = [=] {
      l.count();
      if (++*seen == total) {
        self->send(driver, done_atom::value);
        self->quit();
      }
    };
    if constexpr (Agora)
      self->become([=](load_atom, std::uint64_t, const act::trace_context&) { on_load(); });
    else
      self->become([=](load_atom, std::uint64_t) { on_load(); });
  }};
}

template <bool Agora>
caf::behavior load_sender(caf::event_based_actor* self, caf::actor target, std::uint64_t m,
                          layer l) {
  return {[=](go_atom) {
    for (std::uint64_t i = 0; i < m; ++i)
      send_msg<Agora>(self, target, l.trace, load_atom::value, i);
    self->quit();
  }};
}

template <bool Agora>
double n_to_one(caf::actor_system& sys, const layer& recv, const std::vector<layer>& senders,
                std::uint64_t per_sender) {
  caf::scoped_actor self{sys};
  auto target = sys.spawn(load_receiver<Agora>, per_sender * senders.size(), recv);
  std::vector<caf::actor> ss;
  for (const layer& l : senders)
    ss.push_back(sys.spawn(load_sender<Agora>, target, per_sender, l));
  auto t0 = steady::now();
  self->send(target, go_atom::value);  // before any load message: mailboxes are FIFO per sender
  for (const auto& s : ss)
    self->send(s, go_atom::value);
  await_done(self, "N:1 mailbox");
  double secs = seconds_since(t0);
  return static_cast<double>(per_sender * senders.size()) / secs;
}

// --- Fan-out / fan-in -------------------------------------------------------------

template <bool Agora>
caf::behavior worker(caf::event_based_actor* self, layer l) {
  if constexpr (Agora)
    return {[=](work_atom, std::uint64_t i, const act::trace_context& t) {
      l.count();
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), reply_atom::value, i, t);
    }};
  else
    return {[=](work_atom, std::uint64_t i) {
      l.count();
      self->send(caf::actor_cast<caf::actor>(self->current_sender()), reply_atom::value, i);
    }};
}

template <bool Agora>
caf::behavior coordinator(caf::event_based_actor* self, std::vector<caf::actor> workers,
                          std::uint64_t rounds, layer l) {
  return {[=](go_atom) {
    auto driver = caf::actor_cast<caf::actor>(self->current_sender());
    struct progress {
      std::uint64_t round = 0;
      std::size_t replies = 0;
    };
    auto p = std::make_shared<progress>();  // owned by this actor's handlers only
    auto fan_out = [=] {
      for (const auto& w : workers)
        send_msg<Agora>(self, w, l.trace, work_atom::value, p->round);
    };
    fan_out();
    auto on_reply = [=] {
      l.count();
      if (++p->replies < workers.size()) return;
      p->replies = 0;
      if (++p->round == rounds) {
        self->send(driver, done_atom::value);
        self->quit();
        return;
      }
      fan_out();
    };
    if constexpr (Agora)
      self->become([=](reply_atom, std::uint64_t, const act::trace_context&) { on_reply(); });
    else
      self->become([=](reply_atom, std::uint64_t) { on_reply(); });
  }};
}

template <bool Agora>
double fan_out_in(caf::actor_system& sys, const layer& coord, const std::vector<layer>& workers,
                  std::uint64_t rounds) {
  caf::scoped_actor self{sys};
  std::vector<caf::actor> ws;
  for (const layer& l : workers)
    ws.push_back(sys.spawn(worker<Agora>, l));
  auto c = sys.spawn(coordinator<Agora>, ws, rounds, coord);
  auto t0 = steady::now();
  self->send(c, go_atom::value);
  await_done(self, "fan-out/fan-in");
  double secs = seconds_since(t0);
  stop(ws);
  return static_cast<double>(rounds * workers.size()) / secs;
}

// --- Ring -------------------------------------------------------------------------

struct ring_state {
  caf::actor next;
  caf::actor driver;
};

template <bool Agora>
caf::behavior ring_node(caf::stateful_actor<ring_state>* self, layer l) {
  auto on_token = [=](std::uint64_t left) {
    l.count();
    if (left == 0)
      self->send(self->state.driver, done_atom::value);
    else
      send_msg<Agora>(self, self->state.next, l.trace, token_atom::value, left - 1);
  };
  auto on_next = [=](next_atom, caf::actor next) {
    self->state.next = std::move(next);
    self->state.driver = caf::actor_cast<caf::actor>(self->current_sender());
  };
  if constexpr (Agora)
    return {on_next,
            [=](token_atom, std::uint64_t left, const act::trace_context&) { on_token(left); }};
  else
    return {on_next, [=](token_atom, std::uint64_t left) { on_token(left); }};
}

template <bool Agora>
double ring(caf::actor_system& sys, const std::vector<layer>& nodes, std::uint64_t rounds) {
  caf::scoped_actor self{sys};
  std::vector<caf::actor> ns;
  for (const layer& l : nodes)
    ns.push_back(sys.spawn(ring_node<Agora>, l));
  for (std::size_t i = 0; i < ns.size(); ++i)
    self->send(ns[i], next_atom::value, ns[(i + 1) % ns.size()]);
  const std::uint64_t hops = rounds * ns.size();
  auto t0 = steady::now();
  if constexpr (Agora)
    self->send(ns[0], token_atom::value, hops - 1, nodes[0].trace);
  else
    self->send(ns[0], token_atom::value, hops - 1);
  await_done(self, "ring");
  double secs = seconds_since(t0);
  stop(ns);
  return static_cast<double>(hops) / secs;
}

// --- Actor creation -----------------------------------------------------------------

/// Says hello to `parent` once and quits.
template <bool Agora>
caf::behavior hello_once(caf::event_based_actor* self, caf::actor parent, layer l) {
  send_msg<Agora>(self, parent, l.trace, hello_atom::value);
  self->quit();
  return {};
}

/// On go: spawns `n` hello_once actors and counts their hellos. Agora's side
/// (`m` set) registers each new actor's agent_counters first, as spawn_agent
/// does for an agent, and counts with its own.
template <bool Agora>
caf::behavior spawner(caf::event_based_actor* self, std::uint64_t n, act::metrics* m, layer l) {
  return {[=](go_atom) {
    auto driver = caf::actor_cast<caf::actor>(self->current_sender());
    auto me = caf::actor_cast<caf::actor>(self);
    for (std::uint64_t i = 0; i < n; ++i) {
      layer child = l;
      if (m) child.counters = &m->of("bench/spawn-" + std::to_string(i));
      self->spawn(hello_once<Agora>, me, child);
    }
    auto seen = std::make_shared<std::uint64_t>(0);  // owned by this actor's handlers only
    auto on_hello = [=] {
      l.count();
      if (++*seen == n) {
        self->send(driver, done_atom::value);
        self->quit();
      }
    };
    if constexpr (Agora)
      self->become([=](hello_atom, const act::trace_context&) { on_hello(); });
    else
      self->become([=](hello_atom) { on_hello(); });
  }};
}

template <bool Agora>
double creation(caf::actor_system& sys, act::metrics* m, const layer& l, std::uint64_t n) {
  caf::scoped_actor self{sys};
  auto s = sys.spawn(spawner<Agora>, n, m, l);
  auto t0 = steady::now();
  self->send(s, go_atom::value);
  await_done(self, "actor creation");
  return static_cast<double>(n) / seconds_since(t0);
}

// --- Agent task round trip ----------------------------------------------------------

struct client_state {
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  caf::actor driver;
  std::string first_failure;
};

/// Raw side: request (ping, i) -> i, one at a time.
void issue_raw(caf::stateful_actor<client_state>* self, caf::actor echo, std::uint64_t total) {
  self->request(echo, k_wait, ping_atom::value, self->state.done)
      .then(
          [=](std::uint64_t) {
            if (++self->state.done == total) {
              self->send(self->state.driver, done_atom::value);
              self->quit();
              return;
            }
            issue_raw(self, echo, total);
          },
          [=](caf::error&) {
            self->send(self->state.driver, done_atom::value, std::uint64_t{1});
            self->quit();
          });
}

caf::behavior raw_client(caf::stateful_actor<client_state>* self, caf::actor echo,
                         std::uint64_t total) {
  return {[=](go_atom) {
    self->state.driver = caf::actor_cast<caf::actor>(self->current_sender());
    issue_raw(self, echo, total);
  }};
}

caf::behavior raw_echo(caf::event_based_actor*) {
  return {[](ping_atom, std::uint64_t i) { return i; }};
}

/// Agora side: request (run, task) -> outcome, one at a time; distinct task ids.
void issue_task(caf::stateful_actor<client_state>* self, act::agent_actor agent,
                std::uint64_t total, std::string run_id, act::trace_context trace) {
  act::task t;
  t.run_id = run_id;
  t.task_id = "t" + std::to_string(self->state.done);
  t.trace = trace;
  self->request(agent, k_wait, act::run_atom::value, std::move(t))
      .then(
          [=](const act::outcome& o) {
            if (!o.ok() && self->state.failed++ == 0) self->state.first_failure = o.describe();
            if (++self->state.done == total) {
              self->send(self->state.driver, done_atom::value, self->state.failed,
                         self->state.first_failure);
              self->quit();
              return;
            }
            issue_task(self, agent, total, run_id, trace);
          },
          [=](caf::error& e) {
            self->send(self->state.driver, done_atom::value, total, caf::to_string(e));
            self->quit();
          });
}

caf::behavior task_client(caf::stateful_actor<client_state>* self, act::agent_actor agent,
                          std::uint64_t total, std::string run_id, act::trace_context trace) {
  return {[=](go_atom) {
    self->state.driver = caf::actor_cast<caf::actor>(self->current_sender());
    issue_task(self, agent, total, run_id, trace);
  }};
}

double raw_request_round_trip(caf::actor_system& sys, std::uint64_t n) {
  caf::scoped_actor self{sys};
  auto echo = sys.spawn(raw_echo);
  auto client = sys.spawn(raw_client, echo, n);
  auto t0 = steady::now();
  self->send(client, go_atom::value);
  bool ok = false;
  self->receive([&](done_atom) { ok = true; }, [&](done_atom, std::uint64_t) { ok = false; },
                caf::after(k_wait) >> [&] { ok = false; });
  double secs = seconds_since(t0);
  stop({echo});
  if (!ok) die("raw request round trip failed or timed out");
  return static_cast<double>(n) / secs;
}

double agent_task_round_trip(act::runtime& rt, std::uint64_t n, int rep) {
  auto board = std::make_shared<bb::blackboard>();
  auto id = act::agent_id::parse("bench/agent");
  if (!id) die("agent id: " + bb::to_string(id.error()));
  act::agent_spec spec{*id, "bench", {}};
  // Stages nothing: the agent still takes a snapshot, opens a scratchpad and promotes it.
  auto logic = act::agent_logic::sync(
      [](const act::task&, bb::scratchpad&) -> bb::status { return bb::status{}; });
  auto agent = act::spawn_agent(rt, board, spec, logic);
  if (!agent) die("spawn_agent: " + bb::to_string(agent.error()));
  caf::scoped_actor self{rt.system()};
  auto client = rt.system().spawn(task_client, *agent, n, "r" + std::to_string(rep),
                                  act::trace_context::make_root());
  auto t0 = steady::now();
  self->send(client, go_atom::value);
  std::string failure;
  std::uint64_t failed = 0;
  bool answered = false;
  self->receive(
      [&](done_atom, std::uint64_t f, const std::string& why) {
        answered = true;
        failed = f;
        failure = why;
      },
      caf::after(k_wait) >> [&] { answered = false; });
  double secs = seconds_since(t0);
  caf::anon_send_exit(*agent, caf::exit_reason::user_shutdown);
  if (!answered) die("agent task round trip: no result within 120 s");
  if (failed != 0)
    die("agent task round trip: " + std::to_string(failed) + " of " + std::to_string(n) +
        " tasks failed, first: " + failure);
  return static_cast<double>(n) / secs;
}

// --- Machine and output ---------------------------------------------------------

json machine(const std::vector<std::size_t>& workers) {
  json m = agora::bench::machine();
  m["caf"] = CAF_VERSION;
  // One number for a normal run, the list for a --workers sweep.
  m["scheduler_workers"] = workers.size() == 1 ? json(workers[0]) : json(workers);
  return m;
}

std::string join(const std::vector<std::size_t>& xs) {
  std::string out;
  for (std::size_t x : xs) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

void print_table(const std::vector<figure>& figures, const json& m, const settings& s) {
  std::printf("actor_bench: %s, %d cores, %s, CAF %d, %s scheduler workers per system; "
              "%d repetitions%s\n",
              m["cpu"].get<std::string>().c_str(), m["cores"].get<int>(),
              m["kernel"].get<std::string>().c_str(), m["caf"].get<int>(),
              join(s.workers).c_str(), s.reps, s.quick ? " (quick)" : "");
  std::printf("%-60s %-14s %9s %9s %9s %9s %9s %9s %-5s %6s\n", "case", "metric", "raw med",
              "raw min", "raw max", "agora med", "agora min", "agora max", "unit", "ratio");
  std::printf("%s\n", std::string(146, '-').c_str());
  for (const figure& f : figures) {
    double r = figure::median(f.raw), a = figure::median(f.agora);
    std::printf("%-60s %-14s %9s %9s %9s %9s %9s %9s %-5s %6.2f\n", f.case_name.c_str(),
                f.metric.c_str(), human(r).c_str(), human(figure::min(f.raw)).c_str(),
                human(figure::max(f.raw)).c_str(), human(a).c_str(),
                human(figure::min(f.agora)).c_str(), human(figure::max(f.agora)).c_str(),
                f.unit.c_str(), a / r);
  }
  std::printf("Agora side: trace_context in every message + agent_counters update per handled\n"
              "message, actors on agora::actors::runtime. agent.hpp has no lightweight\n"
              "agent-to-agent path, so \"agent task round trip\" is the full task path\n"
              "(spawn_agent, logic stages nothing: snapshot + scratchpad + promote + outcome)\n"
              "against a raw CAF request/response round trip. \"actor creation\": Agora's\n"
              "side also registers each new actor's agent_counters (as spawn_agent does).\n");
}

json to_json(const std::vector<figure>& figures, const json& m) {
  json results = json::array();
  for (const figure& f : figures) {
    double r = figure::median(f.raw), a = figure::median(f.agora);
    // Beyond the common fields: the case's short key (as --case names it;
    // run_all matches the Erlang side by it) and both sides' spread.
    results.push_back({{"case", f.case_name},
                       {"metric", f.metric},
                       {"value", a},
                       {"unit", f.unit},
                       {"baseline", r},
                       {"ratio", a / r},
                       {"key", f.key},
                       {"min", figure::min(f.agora)},
                       {"max", figure::max(f.agora)},
                       {"baseline_min", figure::min(f.raw)},
                       {"baseline_max", figure::max(f.raw)}});
  }
  return {{"bench", "actor"}, {"machine", m}, {"results", results}};
}

/// The local cases at one worker count; appends one figure per case run.
/// `suffix` tells the worker count apart in a sweep ("" otherwise).
///
/// Every measured run gets a fresh actor system (raw) or runtime (Agora),
/// built and torn down outside the measurement: CAF 0.17 keeps per-system
/// state between runs (its logger's thread-to-actor map, the clock's pending
/// request timeouts) that made later runs on a long-lived system cost 5-6%
/// more instructions than the first, and not equally on both sides.
void run_local(const settings& s, std::size_t workers, const std::string& suffix,
               std::vector<figure>& out) {
  const std::uint64_t round_trips = s.quick ? 20000 : 300000;
  const std::uint64_t per_sender = s.quick ? 5000 : 100000;
  const std::uint64_t fan_rounds = s.quick ? 100 : 2000;
  const std::uint64_t ring_rounds = s.quick ? 200 : 3000;
  const std::uint64_t tasks = s.quick ? 2000 : 30000;
  const std::uint64_t spawns = s.quick ? 10000 : 100000;

  // Same scheduler settings on both sides.
  auto on_raw = [workers](auto&& run) {
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", workers);
    caf::actor_system sys{cfg};
    return run(sys);
  };
  auto on_agora = [workers](auto&& run) {
    act::runtime_options opts;
    opts.worker_threads = workers;
    opts.metrics_enabled = true;
    act::runtime rt{opts};
    return run(rt);
  };
  // Per-actor layers: raw ones are empty, Agora ones carry a trace and counters.
  auto agora_layer = [](act::runtime& rt, const std::string& agent) {
    return layer{&rt.metrics().of(agent), act::trace_context::make_root()};
  };
  auto agora_layers = [&](act::runtime& rt, std::size_t n, const std::string& prefix) {
    std::vector<layer> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(agora_layer(rt, prefix + std::to_string(i)));
    return v;
  };
  const layer none{};
  auto wanted = [&](const char* key) { return s.only_case.empty() || s.only_case == key; };
  const std::string w = " w" + std::to_string(workers);

  figure pp{"ping-pong, 2 actors" + suffix, "round trips/s", "1/s", {}, {}, "ping-pong"};
  figure n1{"N:1 mailbox, 8 senders -> 1 receiver" + suffix, "msgs/s", "1/s", {}, {}, "n1"};
  figure fan{"fan-out/fan-in, 1 -> 100 workers -> 1" + suffix, "replies/s", "1/s", {}, {}, "fan"};
  figure rg{"ring, 100 actors" + suffix, "hops/s", "1/s", {}, {}, "ring"};
  figure sp{"actor creation" + suffix, "actors/s", "1/s", {}, {}, "spawn"};
  figure task{"agent task round trip (full task path; raw: request)" + suffix, "tasks/s", "1/s",
              {}, {}, "task"};

  // Runs one repetition of a case on the sides asked for; odd repetitions
  // run Agora's side first, so neither side always runs on a machine the
  // other just warmed up (or loaded).
  auto rep = [&](int r, figure& f, auto&& raw, auto&& agora) {
    auto run_raw = [&] {
      if (s.run_raw) f.raw.push_back(on_raw(raw));
    };
    auto run_agora = [&] {
      if (s.run_agora) f.agora.push_back(on_agora(agora));
    };
    if (r % 2 == 0) {
      run_raw();
      run_agora();
    } else {
      run_agora();
      run_raw();
    }
  };

  for (int r = 0; r < s.reps; ++r) {
    if (wanted("ping-pong"))
      rep(
          r, pp,
          [&](caf::actor_system& sys) {
            return measured("ping-pong raw" + w,
                            [&] { return ping_pong<false>(sys, none, none, round_trips); });
          },
          [&](act::runtime& rt) {
            layer a = agora_layer(rt, "bench/ping"), b = agora_layer(rt, "bench/pong");
            return measured("ping-pong agora" + w,
                            [&] { return ping_pong<true>(rt.system(), a, b, round_trips); });
          });
    if (wanted("n1"))
      rep(
          r, n1,
          [&](caf::actor_system& sys) {
            std::vector<layer> ls(k_senders);
            return measured("n1 raw" + w,
                            [&] { return n_to_one<false>(sys, none, ls, per_sender); });
          },
          [&](act::runtime& rt) {
            layer recv = agora_layer(rt, "bench/receiver");
            auto ls = agora_layers(rt, k_senders, "bench/sender-");
            return measured("n1 agora" + w,
                            [&] { return n_to_one<true>(rt.system(), recv, ls, per_sender); });
          });
    if (wanted("fan"))
      rep(
          r, fan,
          [&](caf::actor_system& sys) {
            std::vector<layer> ls(k_workers);
            return measured("fan raw" + w,
                            [&] { return fan_out_in<false>(sys, none, ls, fan_rounds); });
          },
          [&](act::runtime& rt) {
            layer coord = agora_layer(rt, "bench/coordinator");
            auto ls = agora_layers(rt, k_workers, "bench/worker-");
            return measured("fan agora" + w,
                            [&] { return fan_out_in<true>(rt.system(), coord, ls, fan_rounds); });
          });
    if (wanted("ring"))
      rep(
          r, rg,
          [&](caf::actor_system& sys) {
            std::vector<layer> ls(k_ring);
            return measured("ring raw" + w, [&] { return ring<false>(sys, ls, ring_rounds); });
          },
          [&](act::runtime& rt) {
            auto ls = agora_layers(rt, k_ring, "bench/ring-");
            return measured("ring agora" + w,
                            [&] { return ring<true>(rt.system(), ls, ring_rounds); });
          });
    if (wanted("spawn"))
      rep(
          r, sp,
          [&](caf::actor_system& sys) {
            return measured("spawn raw" + w,
                            [&] { return creation<false>(sys, nullptr, none, spawns); });
          },
          [&](act::runtime& rt) {
            layer l = agora_layer(rt, "bench/spawner");
            return measured("spawn agora" + w, [&] {
              return creation<true>(rt.system(), &rt.metrics(), l, spawns);
            });
          });
    if (wanted("task"))
      rep(
          r, task,
          [&](caf::actor_system& sys) {
            return measured("task raw" + w, [&] { return raw_request_round_trip(sys, tasks); });
          },
          [&](act::runtime& rt) {
            return measured("task agora" + w,
                            [&] { return agent_task_round_trip(rt, tasks, r); });
          });
  }
  for (figure* f : {&pp, &n1, &fan, &rg, &sp, &task})
    if (!f->raw.empty() || !f->agora.empty()) out.push_back(std::move(*f));
}

// --- Remote (two processes on loopback) ----------------------------------------

/// A scheduler/middleman setting tried on both processes.
struct remote_variant {
  std::string name;
  std::function<void(caf::actor_system_config&)> apply;
};

std::vector<remote_variant> remote_variants(std::size_t workers) {
  using namespace std::chrono_literals;
  auto base = [workers](caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", workers);
    cfg.load<caf::io::middleman>();
  };
  return {
      {"CAF defaults", base},
      {"aggressive-poll-attempts=100000",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("work-stealing.aggressive-poll-attempts", std::size_t{100000});
       }},
      {"moderate-poll-attempts=1 (sleep on cv)",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("work-stealing.moderate-poll-attempts", std::size_t{1});
       }},
      {"moderate-sleep-duration=1us",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{1us});
       }},
      {"relaxed-sleep-duration=50us",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{50us});
       }},
      {"scheduler.policy=sharing",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("scheduler.policy", caf::atom("sharing"));
       }},
      {"moderate-poll-attempts=1, middleman.workers=0",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("work-stealing.moderate-poll-attempts", std::size_t{1});
         cfg.set("middleman.workers", std::size_t{0});
       }},
      {"sharing, middleman.workers=0",
       [=](caf::actor_system_config& cfg) {
         base(cfg);
         cfg.set("scheduler.policy", caf::atom("sharing"));
         cfg.set("middleman.workers", std::size_t{0});
       }},
  };
}

caf::behavior remote_echo(caf::event_based_actor*) {
  auto seen = std::make_shared<std::uint64_t>(0);  // owned by this actor's handlers only
  return {[](ping_atom, std::uint64_t i) { return i; },
          [seen](load_atom, std::uint64_t) { ++*seen; },
          [seen](done_atom) {
            auto n = *seen;
            *seen = 0;
            return n;
          }};
}

/// The child: publishes an echo actor on a free loopback port, writes the port
/// to `port_fd`, and runs until `stop_fd` reaches end of file.
[[noreturn]] void remote_child(const remote_variant& v, int port_fd, int stop_fd) {
  int rc = 0;
  {
    caf::actor_system_config cfg;
    v.apply(cfg);
    caf::actor_system sys{cfg};
    auto echo = sys.spawn(remote_echo);
    auto port = sys.middleman().publish(echo, 0, "127.0.0.1", true);
    std::uint16_t p = port ? *port : 0;
    if (write(port_fd, &p, sizeof p) != static_cast<ssize_t>(sizeof p)) rc = 1;
    close(port_fd);
    char c;
    while (read(stop_fd, &c, 1) > 0) {
    }
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    if (!port) rc = 1;
  }
  _exit(rc);
}

struct remote_sample {
  double rtt_median_us = 0;
  double rtt_p99_us = 0;
  double one_way_per_s = 0;
};

/// One repetition against the child's echo actor; nullopt if a request failed.
std::optional<remote_sample> remote_rep(caf::scoped_actor& self, const caf::actor& echo,
                                        int rtts, std::uint64_t one_way) {
  using namespace std::chrono_literals;
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rtts));
  bool ok = true;
  for (int i = 0; i < rtts + 100 && ok; ++i) {  // the first 100 warm up
    auto t0 = steady::now();
    self->request(echo, 5s, ping_atom::value, static_cast<std::uint64_t>(i))
        .receive([](std::uint64_t) {}, [&](caf::error&) { ok = false; });
    double d = std::chrono::duration<double, std::micro>(steady::now() - t0).count();
    if (i >= 100) us.push_back(d);
  }
  if (!ok) return std::nullopt;
  std::sort(us.begin(), us.end());
  remote_sample r;
  r.rtt_median_us = us[us.size() / 2];
  r.rtt_p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  auto t0 = steady::now();
  for (std::uint64_t i = 0; i < one_way; ++i)
    self->send(echo, load_atom::value, i);
  std::uint64_t seen = 0;
  self->request(echo, 60s, done_atom::value)
      .receive([&](std::uint64_t n) { seen = n; }, [&](caf::error&) { ok = false; });
  if (!ok || seen != one_way) return std::nullopt;
  r.one_way_per_s = static_cast<double>(one_way) / seconds_since(t0);
  return r;
}

/// Forks a child with setting `v`, connects with the same setting, runs `reps`
/// repetitions. Empty when something failed (printed to stderr).
std::vector<remote_sample> remote_variant_run(const remote_variant& v, int reps, int rtts,
                                              std::uint64_t one_way) {
  int port_pipe[2], stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) die("pipe failed");
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    remote_child(v, port_pipe[1], stop_pipe[0]);
  }
  close(port_pipe[1]);
  close(stop_pipe[0]);
  std::uint16_t port = 0;
  bool have_port = read(port_pipe[0], &port, sizeof port) == static_cast<ssize_t>(sizeof port) &&
                   port != 0;
  close(port_pipe[0]);
  std::vector<remote_sample> out;
  if (!have_port) {
    std::cerr << "actor_bench: " << v.name << ": the child could not publish\n";
  } else {
    caf::actor_system_config cfg;
    v.apply(cfg);
    caf::actor_system sys{cfg};
    auto echo = sys.middleman().remote_actor("127.0.0.1", port);
    if (!echo) {
      std::cerr << "actor_bench: " << v.name << ": remote_actor: " << sys.render(echo.error())
                << "\n";
    } else {
      caf::scoped_actor self{sys};
      for (int r = 0; r < reps; ++r) {
        auto s = remote_rep(self, *echo, rtts, one_way);
        if (!s) {
          std::cerr << "actor_bench: " << v.name << ": a remote request failed\n";
          out.clear();
          break;
        }
        out.push_back(*s);
      }
    }
  }
  close(stop_pipe[1]);  // the child stops
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

// --- Remote through agora::actors::runtime -----------------------------------

/// Agora's side of the remote measurements: runtimes on both processes with
/// the same latency profile, Agora's own actors and messages.
struct agora_profile {
  std::string name;
  act::latency_profile latency;
  std::string raw_alike;  // the remote_variant configured the same way
};

std::vector<agora_profile> agora_profiles() {
  return {{"caf_default", act::latency_profile::caf_default, "CAF defaults"},
          {"balanced", act::latency_profile::balanced,
           "moderate-poll-attempts=1, middleman.workers=0"},
          {"low_latency", act::latency_profile::low_latency, "sharing, middleman.workers=0"}};
}

act::runtime_options remote_runtime_options(act::latency_profile p, std::size_t workers) {
  act::runtime_options o;
  o.worker_threads = workers;
  o.load_middleman = true;
  o.latency = p;
  return o;
}

const char* const k_bench_key = "bench/remote/key";

/// The child: a runtime with profile `p`, a blackboard actor serving a board
/// that holds one key, an agent whose logic stages nothing (so a task still
/// takes a snapshot, opens a scratchpad, promotes it and replies with an
/// outcome) and the raw rows' echo actor, all published on loopback. Writes
/// the three ports to `port_fd` and runs until `stop_fd` reaches end of file.
[[noreturn]] void agora_child(act::latency_profile p, std::size_t workers, int port_fd,
                              int stop_fd) {
  int rc = 0;
  {
    act::runtime rt{remote_runtime_options(p, workers)};
    auto board = std::make_shared<bb::blackboard>();
    auto pad = board->begin("bench/writer");
    if (!pad.put(k_bench_key, json{{"answer", 42}, {"note", "read by actor_bench --remote"}}) ||
        !board->promote(std::move(pad)))
      rc = 1;
    auto bba = act::spawn_blackboard(rt.system(), board);
    auto id = act::agent_id::parse("bench/remote");
    auto logic = act::agent_logic::sync(
        [](const act::task&, bb::scratchpad&) -> bb::status { return bb::status{}; });
    auto agent = act::spawn_agent(rt, board, act::agent_spec{*id, "bench", {}}, logic);
    auto echo = rt.system().spawn(remote_echo);
    std::uint16_t ports[3] = {0, 0, 0};
    if (agent) {
      auto p1 = rt.system().middleman().publish(bba, 0, "127.0.0.1", true);
      auto p2 = rt.system().middleman().publish(*agent, 0, "127.0.0.1", true);
      auto p3 = rt.system().middleman().publish(echo, 0, "127.0.0.1", true);
      if (p1 && p2 && p3) {
        ports[0] = *p1;
        ports[1] = *p2;
        ports[2] = *p3;
      }
    }
    if (write(port_fd, ports, sizeof ports) != static_cast<ssize_t>(sizeof ports)) rc = 1;
    close(port_fd);
    char c;
    while (read(stop_fd, &c, 1) > 0) {
    }
    caf::anon_send_exit(bba, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    if (agent) caf::anon_send_exit(*agent, caf::exit_reason::user_shutdown);
    if (ports[0] == 0) rc = 1;
  }
  _exit(rc);
}

struct agora_sample {
  double echo_median_us = 0, echo_p99_us = 0;
  double read_median_us = 0, read_p99_us = 0;
  double task_median_us = 0, task_p99_us = 0;
  double echo_one_way_per_s = 0;
  double one_way_per_s = 0;
};

/// Times `n` + 100 requests made by `once` (the first 100 warm up): median
/// and p99 in microseconds; nullopt if one failed.
template <class F>
std::optional<std::pair<double, double>> time_requests(int n, F&& once) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n + 100; ++i) {
    auto t0 = steady::now();
    if (!once(i)) return std::nullopt;
    double d = std::chrono::duration<double, std::micro>(steady::now() - t0).count();
    if (i >= 100) us.push_back(d);
  }
  std::sort(us.begin(), us.end());
  return std::make_pair(us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]);
}

/// One repetition against the child's actors; nullopt (and a line on
/// stderr) if something failed.
std::optional<agora_sample> agora_rep(caf::scoped_actor& self, const act::blackboard_actor& bba,
                                      const act::agent_actor& agent, const caf::actor& echo,
                                      int rep, int rtts, std::uint64_t one_way) {
  using namespace std::chrono_literals;
  const act::trace_context untraced{};  // tracing off, as in a default runtime
  agora_sample out;
  std::string why;
  // The raw rows' echo, between runtimes: what the runtime's settings give
  // before Agora's messages and actors add anything.
  auto echoes = time_requests(rtts, [&](int i) {
    bool ok = false;
    self->request(echo, 5s, ping_atom::value, static_cast<std::uint64_t>(i))
        .receive([&](std::uint64_t) { ok = true; },
                 [&](caf::error& e) { why = "echo: " + caf::to_string(e); });
    return ok;
  });
  if (!echoes) {
    std::cerr << "actor_bench: " << why << "\n";
    return std::nullopt;
  }
  std::tie(out.echo_median_us, out.echo_p99_us) = *echoes;
  // Blackboard read: (read_atom, key, rev, ctx) -> entry_data.
  auto reads = time_requests(rtts, [&](int) {
    bool ok = false;
    self->request(bba, 5s, act::read_atom::value, std::string(k_bench_key), std::uint64_t{0},
                  untraced)
        .receive([&](const act::entry_data& e) { ok = e.exists(); },
                 [&](caf::error& e) { why = "read: " + caf::to_string(e); });
    if (!ok && why.empty()) why = "read: the key is missing";
    return ok;
  });
  if (!reads) {
    std::cerr << "actor_bench: " << why << "\n";
    return std::nullopt;
  }
  std::tie(out.read_median_us, out.read_p99_us) = *reads;
  // Agent task: (run_atom, task) -> outcome; distinct task ids, so every
  // task promotes (nothing) under its own transaction id.
  auto tasks = time_requests(rtts, [&](int i) {
    act::task t;
    t.run_id = "remote" + std::to_string(rep);
    t.task_id = "t" + std::to_string(i);
    bool ok = false;
    self->request(agent, 5s, act::run_atom::value, std::move(t))
        .receive(
            [&](const act::outcome& o) {
              ok = o.ok();
              if (!ok) why = "task: " + o.describe();
            },
            [&](caf::error& e) { why = "task: " + caf::to_string(e); });
    return ok;
  });
  if (!tasks) {
    std::cerr << "actor_bench: " << why << "\n";
    return std::nullopt;
  }
  std::tie(out.task_median_us, out.task_p99_us) = *tasks;
  // One way, raw: the raw rows' (load_atom, i) messages to the echo.
  {
    auto t0 = steady::now();
    for (std::uint64_t i = 0; i < one_way; ++i) self->send(echo, load_atom::value, i);
    std::uint64_t seen = 0;
    self->request(echo, 60s, done_atom::value)
        .receive([&](std::uint64_t n) { seen = n; },
                 [&](caf::error& e) { why = "echo done: " + caf::to_string(e); });
    if (seen != one_way) {
      std::cerr << "actor_bench: echo one-way: " << seen << " of " << one_way << " arrived "
                << why << "\n";
      return std::nullopt;
    }
    out.echo_one_way_per_s = static_cast<double>(one_way) / seconds_since(t0);
  }
  // One way: credit grants to a watch of ours on a quiet prefix (no events
  // come back), then one request; the actor handles a sender's messages in
  // order, so its reply means every grant before it was handled.
  std::uint64_t watch = 0;
  bool ok = false;
  self->request(bba, 5s, act::watch_atom::value, std::string("bench/quiet"), std::uint64_t{0},
                std::uint64_t{0}, untraced)
      .receive(
          [&](std::uint64_t id) {
            watch = id;
            ok = true;
          },
          [&](caf::error& e) { why = "watch: " + caf::to_string(e); });
  if (!ok) {
    std::cerr << "actor_bench: " << why << "\n";
    return std::nullopt;
  }
  auto t0 = steady::now();
  for (std::uint64_t i = 0; i < one_way; ++i)
    self->send(bba, act::credit_atom::value, watch, std::uint64_t{1}, untraced);
  ok = false;
  self->request(bba, 60s, act::watches_atom::value, untraced)
      .receive([&](std::uint64_t) { ok = true; },
               [&](caf::error& e) { why = "watches: " + caf::to_string(e); });
  out.one_way_per_s = static_cast<double>(one_way) / seconds_since(t0);
  self->request(bba, 5s, act::unwatch_atom::value, watch, untraced)
      .receive([] {}, [&](caf::error& e) { why = "unwatch: " + caf::to_string(e); });
  if (!ok) {
    std::cerr << "actor_bench: " << why << "\n";
    return std::nullopt;
  }
  return out;
}

/// Forks a child running profile `p`, connects with a runtime of the same
/// profile, runs `reps` repetitions. Empty when something failed.
std::vector<agora_sample> agora_profile_run(const agora_profile& p, std::size_t workers,
                                            int reps, int rtts, std::uint64_t one_way) {
  int port_pipe[2], stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) die("pipe failed");
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    agora_child(p.latency, workers, port_pipe[1], stop_pipe[0]);
  }
  close(port_pipe[1]);
  close(stop_pipe[0]);
  std::uint16_t ports[3] = {0, 0, 0};
  bool have_ports = read(port_pipe[0], ports, sizeof ports) == static_cast<ssize_t>(sizeof ports) &&
                    ports[0] != 0 && ports[1] != 0 && ports[2] != 0;
  close(port_pipe[0]);
  std::vector<agora_sample> out;
  if (!have_ports) {
    std::cerr << "actor_bench: " << p.name << ": the child could not publish\n";
  } else {
    act::runtime rt{remote_runtime_options(p.latency, workers)};
    auto& mm = rt.system().middleman();
    auto bba = mm.remote_actor<act::blackboard_actor>("127.0.0.1", ports[0]);
    auto agent = mm.remote_actor<act::agent_actor>("127.0.0.1", ports[1]);
    auto echo = mm.remote_actor("127.0.0.1", ports[2]);
    if (!bba || !agent || !echo) {
      std::cerr << "actor_bench: " << p.name << ": remote_actor: "
                << rt.system().render(!bba ? bba.error() : !agent ? agent.error() : echo.error())
                << "\n";
    } else {
      caf::scoped_actor self{rt.system()};
      for (int r = 0; r < reps; ++r) {
        auto x = agora_rep(self, *bba, *agent, *echo, r, rtts, one_way);
        if (!x) {
          out.clear();
          break;
        }
        out.push_back(*x);
      }
    }
  }
  close(stop_pipe[1]);  // the child stops
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

int run_remote(const settings& s) {
  const int rtts = s.quick ? 200 : 3000;
  const std::uint64_t one_way = s.quick ? 10000 : 200000;
  const std::size_t workers = s.workers.front();
  json m = machine({workers});
  std::printf("actor_bench --remote: %s, %d cores, %s, CAF %d, %zu scheduler workers per "
              "process; %d repetitions%s; %d round trips and %llu one-way msgs per repetition\n",
              m["cpu"].get<std::string>().c_str(), m["cores"].get<int>(),
              m["kernel"].get<std::string>().c_str(), m["caf"].get<int>(), workers, s.reps,
              s.quick ? " (quick)" : "", rtts, static_cast<unsigned long long>(one_way));
  std::printf("%-58s %-14s %9s %9s %9s %-5s %9s %6s\n", "setting (both processes)", "metric",
              "median", "min", "max", "unit", "baseline", "ratio");
  std::printf("%s\n", std::string(128, '-').c_str());
  json results = json::array();
  // Medians of the raw rows by setting, the baselines of Agora's rows.
  std::map<std::string, double> raw_rtt, raw_tp;
  // `base` NaN = no baseline. (Not std::optional<double>: GCC 12 warns
  // maybe-uninitialized on it here.)
  const double none = std::nan("");
  auto row = [&](const std::string& name, const char* metric, const char* unit,
                 const std::vector<double>& xs, double base) {
    double med = figure::median(xs);
    const bool has_base = !std::isnan(base);
    char ratio[32] = "-", basebuf[32] = "-";
    if (has_base) {
      std::snprintf(ratio, sizeof ratio, "%.2f", med / base);
      std::snprintf(basebuf, sizeof basebuf, "%s", human(base).c_str());
    }
    std::printf("%-58s %-14s %9s %9s %9s %-5s %9s %6s\n", name.c_str(), metric,
                human(med).c_str(), human(figure::min(xs)).c_str(),
                human(figure::max(xs)).c_str(), unit, basebuf, ratio);
    results.push_back({{"case", "remote loopback, " + name},
                       {"metric", metric},
                       {"value", med},
                       {"unit", unit},
                       {"baseline", has_base ? json(base) : json(nullptr)},
                       {"ratio", has_base ? json(med / base) : json(nullptr)},
                       {"min", figure::min(xs)},
                       {"max", figure::max(xs)}});
  };
  double defaults_rtt = none, defaults_tp = none;
  for (const auto& v : remote_variants(workers)) {
    if (s.only_case == "agora") break;
    auto samples = remote_variant_run(v, s.reps, rtts, one_way);
    if (samples.empty()) {
      std::printf("%-58s failed (see stderr)\n", v.name.c_str());
      continue;
    }
    std::vector<double> rtt, p99, tp;
    for (const auto& x : samples) {
      rtt.push_back(x.rtt_median_us);
      p99.push_back(x.rtt_p99_us);
      tp.push_back(x.one_way_per_s);
    }
    // baseline: the CAF default setting's figure (its own row has ratio 1).
    row(v.name, "RTT median", "us", rtt, defaults_rtt);
    row(v.name, "RTT p99", "us", p99, none);
    row(v.name, "one-way", "1/s", tp, defaults_tp);
    raw_rtt[v.name] = figure::median(rtt);
    raw_tp[v.name] = figure::median(tp);
    if (std::isnan(defaults_rtt)) {
      defaults_rtt = raw_rtt[v.name];
      defaults_tp = raw_tp[v.name];
    }
  }
  std::printf("%s\n", std::string(128, '-').c_str());
  for (const auto& p : agora_profiles()) {
    if (s.only_case == "raw") break;
    auto samples = agora_profile_run(p, workers, s.reps, rtts, one_way);
    const std::string name = "agora runtime, latency_profile::" + p.name;
    if (samples.empty()) {
      std::printf("%-58s failed (see stderr)\n", name.c_str());
      continue;
    }
    std::vector<double> em, ep, rm, rp, tm, tpp, eow, ow;
    for (const auto& x : samples) {
      eow.push_back(x.echo_one_way_per_s);
      em.push_back(x.echo_median_us);
      ep.push_back(x.echo_p99_us);
      rm.push_back(x.read_median_us);
      rp.push_back(x.read_p99_us);
      tm.push_back(x.task_median_us);
      tpp.push_back(x.task_p99_us);
      ow.push_back(x.one_way_per_s);
    }
    const double base_rtt = raw_rtt.count(p.raw_alike) ? raw_rtt[p.raw_alike] : none;
    const double base_tp = raw_tp.count(p.raw_alike) ? raw_tp[p.raw_alike] : none;
    // The echo rows compare the runtime with raw CAF configured alike (run
    // earlier); Agora's rows compare with the echo measured in the same
    // processes, interleaved, which the machine's load affects alike.
    row(name + ", echo", "RTT median", "us", em, base_rtt);
    row(name + ", echo", "RTT p99", "us", ep, none);
    row(name + ", echo", "one-way", "1/s", eow, base_tp);
    row(name + ", bb read", "RTT median", "us", rm, figure::median(em));
    row(name + ", bb read", "RTT p99", "us", rp, none);
    row(name + ", agent task", "RTT median", "us", tm, figure::median(em));
    row(name + ", agent task", "RTT p99", "us", tpp, none);
    row(name + ", bb credit", "one-way", "1/s", ow, figure::median(eow));
  }
  std::printf("Target: RTT median under 100 us. Raw rows: baseline = the \"CAF defaults\" row.\n"
              "Agora rows (runtimes with the profile on both processes; the raw echo, a\n"
              "blackboard read, an agent task with a logic that stages nothing, watch credit\n"
              "grants; Agora's messages carry an empty trace context): echo baseline = the\n"
              "raw row configured alike; bb read, agent task and bb credit baseline = that\n"
              "profile's echo, measured in the same processes.\n");
  std::cout << json{{"bench", "actor_remote"}, {"machine", m}, {"results", results}}.dump()
            << std::endl;
  return 0;
}

/// "1,2,4" -> {1, 2, 4}; each 1..64.
std::optional<std::vector<std::size_t>> parse_workers(const std::string& text) {
  std::vector<std::size_t> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long n = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n < 1 || n > 64) return std::nullopt;
    out.push_back(static_cast<std::size_t>(n));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::optional<settings> parse_args(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      s.quick = true;
    } else if (a == "--remote") {
      s.remote = true;
    } else if (a == "--reps" && i + 1 < argc) {
      auto n = agora::bench::parse_reps(argv[++i]);
      if (!n) return std::nullopt;
      s.reps = *n;
    } else if (a == "--workers" && i + 1 < argc) {
      auto w = parse_workers(argv[++i]);
      if (!w) return std::nullopt;
      s.workers = *w;
    } else if (a == "--case" && i + 1 < argc) {
      s.only_case = argv[++i];
      if (s.only_case != "ping-pong" && s.only_case != "n1" && s.only_case != "fan" &&
          s.only_case != "ring" && s.only_case != "spawn" && s.only_case != "task" &&
          s.only_case != "raw" &&
          s.only_case != "agora")
        return std::nullopt;
    } else if (a == "--side" && i + 1 < argc) {
      std::string side = argv[++i];
      if (side != "raw" && side != "agora") return std::nullopt;
      s.run_raw = side == "raw";
      s.run_agora = side == "agora";
    } else {
      return std::nullopt;
    }
  }
  // --case raw|agora selects a part of --remote, the others a local case.
  const bool remote_case = s.only_case == "raw" || s.only_case == "agora";
  if (!s.only_case.empty() && remote_case != s.remote) return std::nullopt;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed) {
    std::cerr
        << "usage: actor_bench [--quick] [--reps N] [--workers N[,N...]] [--case C] [--side S]\n"
           "       actor_bench --remote [--quick] [--reps N] [--workers N]\n"
           "                            [--case raw|agora]\n"
           "  --quick       fewer messages (smoke test, < 10 s)\n"
           "  --reps N      repetitions per figure, 5..1000 (default 5; figures are medians)\n"
           "  --workers L   scheduler workers per system, e.g. 2 or 1,2,4 (a sweep: one\n"
           "                row per case and count); default: hardware threads\n"
           "  --case C      only case C: ping-pong, n1, fan, ring, spawn, task; with --remote:\n"
           "                raw (CAF settings) or agora (runtime profiles)\n"
           "  --side S      only side S: raw or agora (for profiling; ratios are nan)\n"
           "  --remote      two processes on loopback instead: round trip and one-way\n"
           "                throughput, raw CAF under several scheduler settings and\n"
           "                Agora's messages through agora::actors::runtime per\n"
           "                latency profile\n"
           "Under valgrind --tool=callgrind each measured run is dumped separately\n"
           "(callgrind.out.<pid>.<n>, labelled with case, side and workers).\n";
    return 2;
  }
  const settings s = *parsed;
  if (s.remote) return run_remote(s);  // before any thread exists: it forks
  std::vector<figure> figures;
  for (std::size_t w : s.workers)
    run_local(s, w, s.workers.size() > 1 ? ", " + std::to_string(w) + " workers" : "", figures);
  json m = machine(s.workers);
  print_table(figures, m, s);
  std::cout << to_json(figures, m).dump() << std::endl;
  return 0;
}
