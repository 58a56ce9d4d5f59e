// Tests of supervision (actors/src/supervision.cpp): the restart tracker and
// circuit breaker with a manual clock, the dead-letter queue, and the
// supervisor actor (dispatch, restarts after kills, breaker refusals,
// retries, deadlines). Every wait is on a reply or a notification with a
// finite timeout; nothing sleeps.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <caf/actor_cast.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "test_support.hpp"
#include "agora/actors/agent.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/actors/supervision.hpp"

namespace act = agora::actors;
namespace bb = agora::bb;
using namespace std::chrono_literals;
using nlohmann::json;

using agora_test::make_task;
using agora_test::read_lines;
using agora_test::writer;

namespace {

using spawned_atom = caf::atom_constant<caf::atom("spawned")>;
using started_atom = caf::atom_constant<caf::atom("started")>;

act::runtime_options test_runtime() {
  act::runtime_options o;
  o.worker_threads = 2;
  return o;
}



/// A runtime, a board, a scoped actor, and the agents the supervisor made,
/// recorded by a factory that also tells the scoped actor about each one.
/// Supervisors spawned through it are stopped at the end.
struct fixture {
  act::runtime rt{test_runtime()};
  std::shared_ptr<bb::blackboard> board = std::make_shared<bb::blackboard>();
  caf::scoped_actor self{rt.system()};
  std::mutex mu;
  std::map<std::string, act::agent_actor> agents;  // latest incarnation per id
  std::vector<act::supervisor_actor> supervisors;

  ~fixture() {
    for (auto& s : supervisors) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  act::agent_spec spec(const std::string& id = "worker/pool") {
    return act::agent_spec{*act::agent_id::parse(id), "worker", {}};
  }

  /// A factory that spawns normal agents and reports each to `self`.
  act::agent_factory recording_factory(act::agent_logic logic, act::agent_options ao = {}) {
    auto test = caf::actor_cast<caf::actor>(self);
    return [this, test, logic, ao](caf::actor_system& sys,
                                   const act::agent_spec& s) -> bb::result<act::agent_actor> {
      auto a = act::spawn_agent(sys, board, s, logic, ao);
      if (a) {
        std::lock_guard<std::mutex> lock(mu);
        agents[s.id.str()] = *a;
        caf::anon_send(test, spawned_atom::value, s.id.str());
      }
      return a;
    };
  }

  act::supervisor_actor spawn(act::agent_logic logic, act::supervisor_options so) {
    auto s = act::spawn_supervisor(rt.system(), board, spec(), std::move(logic), std::move(so));
    REQUIRE(s);
    supervisors.push_back(*s);
    return *s;
  }

  /// Waits for the factory's notice about `n` agents; returns their ids.
  std::vector<std::string> await_spawned(std::size_t n) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i)
      self->receive([&](spawned_atom, std::string id) { ids.push_back(std::move(id)); },
                    caf::after(5s) >> [] { FAIL("no agent was (re)started"); });
    return ids;
  }

  act::agent_actor agent(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    return agents.at(id);
  }

  void kill(const std::string& id) {
    caf::anon_send_exit(agent(id), caf::exit_reason::kill);
  }

  act::outcome dispatch(const act::supervisor_actor& sup, const act::task& t,
                        std::chrono::milliseconds timeout = 10s) {
    act::outcome out;
    bool replied = false;
    self->request(sup, timeout, act::dispatch_atom::value, t)
        .receive([&](act::outcome& o) {
                   out = std::move(o);
                   replied = true;
                 },
                 [&](caf::error& e) { FAIL("dispatch failed: " << act::render(e)); });
    REQUIRE(replied);
    return out;
  }

  act::supervisor_health health(const act::supervisor_actor& sup) {
    act::supervisor_health h;
    self->request(sup, 5s, act::health_atom::value)
        .receive([&](act::supervisor_health& x) { h = std::move(x); },
                 [&](caf::error& e) { FAIL("health failed: " << act::render(e)); });
    return h;
  }

  /// Asks for health until `done` holds (at most 5 s of asking).
  template <class Pred>
  act::supervisor_health await_health(const act::supervisor_actor& sup, Pred done) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto h = health(sup);
      if (done(h)) return h;
      if (std::chrono::steady_clock::now() > until) {
        FAIL("the supervisor never reached the expected state");
      }
    }
  }

  // For first_run_hangs: the completions it keeps, and its runs so far.
  std::mutex held_mu;
  std::vector<act::completion> held;
  std::atomic<int> runs{0};

  /// An async logic whose first run never finishes: it tells `self`
  /// (started_atom, agent id), and that agent is the one to kill. Later runs
  /// write runs/<run>/out/<task>.
  act::agent_logic first_run_hangs() {
    auto test = caf::actor_cast<caf::actor>(self);
    return act::agent_logic::async(
        [this, test](const act::task& t, bb::scratchpad& sp, act::completion done) {
          if (runs.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(held_mu);
            held.push_back(done);
            caf::anon_send(test, started_atom::value, sp.author());
            return;
          }
          done(sp.put("runs/" + t.run_id + "/out/" + t.task_id, sp.author()));
        });
  }

  /// Waits for first_run_hangs's notice; returns the agent running the task.
  std::string await_started() {
    std::string victim;
    self->receive([&](started_atom, std::string author) { victim = std::move(author); },
                  caf::after(5s) >> [] { FAIL("the task never started"); });
    REQUIRE_FALSE(victim.empty());
    return victim;
  }

  json dlq(const std::string& run, const std::string& task) {
    auto e = board->get("_dlq/" + run + "/" + task);
    REQUIRE(e);
    REQUIRE(e->exists());
    return e->value();
  }
};

/// A tracer writing to a fresh file, removed at the end.
struct span_file {
  std::string path = "/tmp/agora-supervision-test-" + std::to_string(::getpid()) + ".jsonl";
  std::unique_ptr<act::tracer> tracer;
  span_file() {
    std::remove(path.c_str());
    auto opened = act::tracer::open(path);
    REQUIRE(opened);
    tracer = std::move(*opened);
  }
  ~span_file() { std::remove(path.c_str()); }
  /// The spans written so far, by name (in the order they ended).
  std::multimap<std::string, json> by_name() {
    tracer->flush();
    std::multimap<std::string, json> out;
    for (auto& line : read_lines(path)) out.emplace(line.at("name").get<std::string>(), line);
    return out;
  }
};

/// The one span named `name`.
json only(const std::multimap<std::string, json>& spans, const std::string& name) {
  INFO("span " << name);
  REQUIRE(spans.count(name) == 1);
  return spans.find(name)->second;
}

/// The span's string or integer attribute `key` as text; "" when absent.
std::string attr(const json& span_line, const std::string& key) {
  for (const auto& a : span_line.at("attributes")) {
    if (a.at("key") != key) continue;
    const json& v = a.at("value");
    return v.contains("stringValue") ? v.at("stringValue").get<std::string>()
                                     : v.at("intValue").get<std::string>();
  }
  return "";
}

const act::agent_health& health_of(const act::supervisor_health& h, const std::string& id) {
  for (auto& a : h.agents)
    if (a.id == id) return a;
  FAIL("no agent " << id << " in the health report");
  throw std::logic_error("unreachable");
}

}  // namespace

// --- restart_tracker ----------------------------------------------------------------

TEST_CASE("restart_tracker allows max_restarts within the window and then gives up for good",
          "[actors][supervision]") {
  act::manual_clock clock;
  act::restart_tracker rt({3, 60s});
  CHECK(rt.allow_restart(clock.now()));
  clock.advance(10s);
  CHECK(rt.allow_restart(clock.now()));
  clock.advance(10s);
  CHECK(rt.allow_restart(clock.now()));
  CHECK(rt.restarts_in_window(clock.now()) == 3);
  clock.advance(10s);
  CHECK_FALSE(rt.allow_restart(clock.now()));  // a 4th crash 30 s after the 1st
  CHECK(rt.gave_up());
  clock.advance(10min);
  CHECK_FALSE(rt.allow_restart(clock.now()));  // failed stays failed
  CHECK(rt.total_restarts() == 3);
}

TEST_CASE("restart_tracker allows restarts again once old ones leave the window",
          "[actors][supervision]") {
  act::manual_clock clock;
  act::restart_tracker rt({2, 60s});
  CHECK(rt.allow_restart(clock.now()));
  clock.advance(30s);
  CHECK(rt.allow_restart(clock.now()));
  clock.advance(30s);  // the first is exactly a window old: out
  CHECK(rt.restarts_in_window(clock.now()) == 1);
  CHECK(rt.allow_restart(clock.now()));
  for (int i = 0; i < 10; ++i) {
    clock.advance(61s);
    CHECK(rt.allow_restart(clock.now()));
  }
  CHECK_FALSE(rt.gave_up());
  CHECK(rt.total_restarts() == 13);
}

TEST_CASE("restart_tracker with max_restarts 0 never restarts", "[actors][supervision]") {
  act::manual_clock clock;
  act::restart_tracker rt({0, 60s});
  CHECK_FALSE(rt.allow_restart(clock.now()));
  CHECK(rt.gave_up());
}

// --- circuit_breaker ----------------------------------------------------------------

TEST_CASE("circuit_breaker opens after K consecutive failures and lets one probe through after the cooldown",
          "[actors][supervision]") {
  act::manual_clock clock;
  act::circuit_breaker br({3, 30s}, clock.fn());
  CHECK(br.state() == act::breaker_state::closed);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(br.allow());
    br.record_failure();
  }
  CHECK(br.state() == act::breaker_state::closed);
  CHECK(br.consecutive_failures() == 2);
  REQUIRE(br.allow());
  br.record_failure();
  CHECK(br.state() == act::breaker_state::open);
  CHECK(br.times_opened() == 1);
  CHECK_FALSE(br.allow());
  clock.advance(29s);
  CHECK_FALSE(br.allow());
  CHECK(br.state() == act::breaker_state::open);
  clock.advance(1s);
  CHECK(br.state() == act::breaker_state::half_open);
  CHECK(br.allow());        // the probe
  CHECK_FALSE(br.allow());  // only one at a time
  CHECK(br.state() == act::breaker_state::half_open);
  br.record_success();
  CHECK(br.state() == act::breaker_state::closed);
  CHECK(br.consecutive_failures() == 0);
  CHECK(br.allow());
}

TEST_CASE("circuit_breaker opens again for a new cooldown when the probe fails",
          "[actors][supervision]") {
  act::manual_clock clock;
  act::circuit_breaker br({1, 10s}, clock.fn());
  REQUIRE(br.allow());
  br.record_failure();
  CHECK(br.state() == act::breaker_state::open);
  clock.advance(10s);
  REQUIRE(br.allow());
  br.record_failure();
  CHECK(br.state() == act::breaker_state::open);
  CHECK(br.times_opened() == 2);
  CHECK(br.retry_at() == clock.now() + 10s);
  clock.advance(9s);
  CHECK_FALSE(br.allow());
  clock.advance(1s);
  CHECK(br.allow());
}

TEST_CASE("circuit_breaker forgets failures after a success", "[actors][supervision]") {
  act::manual_clock clock;
  act::circuit_breaker br({2, 10s}, clock.fn());
  br.record_failure();
  br.record_success();
  br.record_failure();
  CHECK(br.state() == act::breaker_state::closed);
  br.record_failure();
  CHECK(br.state() == act::breaker_state::open);
}

// --- dead letters -------------------------------------------------------------------

TEST_CASE("dlq_key is _dlq/<run>/<task> and percent-encodes what is not a key segment",
          "[actors][supervision]") {
  CHECK(act::dlq_key(make_task("r1", "t1")) == "_dlq/r1/t1");
  CHECK(act::dlq_key(make_task("r1", "t1"), "dead/") == "dead/r1/t1");
  CHECK(act::dlq_key(make_task("a/b", "50%")) == "_dlq/a%2Fb/50%25");
  CHECK(act::dlq_key(make_task("", "x\n")) == "_dlq/%00/x%0A");
}

TEST_CASE("write_dlq records the task, the last error and the attempt count",
          "[actors][supervision]") {
  bb::blackboard board;
  auto t = make_task("r9", "t3", json{{"question", "2+2"}});
  t.attempt_group = 2;
  t.trace = act::trace_context::make_root();
  act::outcome o;
  o.status = act::outcome_status::error;
  o.attempts = 4;
  o.dispatches = 3;
  o.agent = "worker/pool-1";
  o.error = caf::make_error(act::errc::agent_failed, "agent worker/pool-1 logic threw: bad");
  auto w = act::write_dlq(board, t, o, "supervisor/worker");
  REQUIRE(w);
  auto e = board.get("_dlq/r9/t3");
  REQUIRE(e);
  REQUIRE(e->exists());
  CHECK(e->author() == "supervisor/worker");
  const json& v = e->value();
  CHECK(v["task"]["run_id"] == "r9");
  CHECK(v["task"]["task_id"] == "t3");
  CHECK(v["task"]["attempt_group"] == 2);
  CHECK(v["task"]["txn_id"] == "r9/t3/2");
  CHECK(v["task"]["input"] == json{{"question", "2+2"}});
  CHECK(v["task"]["trace_id"] == t.trace.trace_id_hex());
  CHECK(v["task"]["deadline_unix_ns"].get<std::int64_t>() > 0);
  CHECK(v["status"] == "error");
  CHECK(v["error_code"] == "agent_failed");
  CHECK(v["error_category"] == "agora_act");
  CHECK_THAT(v["error"].get<std::string>(), Catch::Contains("logic threw: bad"));
  CHECK(v["attempts"] == 4);
  CHECK(v["dispatches"] == 3);
  CHECK(v["agent"] == "worker/pool-1");

  // A blackboard error keeps its meaning in the record.
  bb::error conflict{bb::errc::conflict, "1 key changed since revision 4: 'a' (4 -> 7)"};
  o.status = act::outcome_status::conflict;
  o.error = act::to_caf_error(conflict);
  REQUIRE(act::write_dlq(board, t, o, "supervisor/worker"));
  CHECK(board.get("_dlq/r9/t3")->value()["error_code"] == "conflict");
  CHECK_THAT(board.get("_dlq/r9/t3")->value()["error"].get<std::string>(),
             Catch::Contains("'a' (4 -> 7)"));
  // History keeps both failures.
  auto h = board.history(1, UINT64_MAX, "_dlq");
  REQUIRE(h);
  CHECK(h->size() == 2);
}

TEST_CASE("write_dlq fails as the blackboard does when the author may not write the DLQ",
          "[actors][supervision]") {
  bb::blackboard_options bo;
  bo.access = bb::access_control::registered;
  bb::blackboard board(bo);
  REQUIRE(board.register_agent("supervisor/worker", {"runs/**"}));
  act::outcome o;
  o.error = caf::make_error(act::errc::no_agent, "none");
  auto w = act::write_dlq(board, make_task("r", "t"), o, "supervisor/worker");
  REQUIRE_FALSE(w);
  CHECK(w.error().code == bb::errc::forbidden);
}

// --- the supervisor -----------------------------------------------------------------

TEST_CASE("supervisor spreads tasks over its agents and answers each with its outcome",
          "[actors][supervision]") {
  fixture f;
  act::supervisor_options so;
  so.agents = 3;
  auto sup = f.spawn(writer(), so);
  std::vector<act::outcome> outs;
  for (int i = 0; i < 9; ++i) {
    auto o = f.dispatch(sup, make_task("r1", "t" + std::to_string(i), i));
    outs.push_back(o);
  }
  for (auto& o : outs) {
    CHECK(o.ok());
    CHECK(o.dispatches == 1);
    CHECK(o.attempts == 1);
  }
  CHECK(f.board->revision() == 9);
  auto h = f.health(sup);
  REQUIRE(h.agents.size() == 3);
  CHECK(h.agents[0].id == "worker/pool-0");
  CHECK(h.agents[2].id == "worker/pool-2");
  for (auto& a : h.agents) {
    CHECK(a.state == act::agent_state::idle);
    CHECK(a.tasks_done == 3);  // round robin
  }
  CHECK(h.succeeded == 9);
  CHECK(h.dead_letters == 0);
  CHECK(h.waiting == 0);
  CHECK(h.running == 0);
}

TEST_CASE("supervisor restarts a killed agent and re-dispatches its unfinished task",
          "[actors][supervision]") {
  fixture f;
  auto logic = f.first_run_hangs();  // its agent is about to be killed
  act::supervisor_options so;
  so.agents = 2;
  so.factory = f.recording_factory(logic);
  auto sup = f.spawn(logic, so);
  f.await_spawned(2);
  auto reply = f.self->request(sup, 10s, act::dispatch_atom::value, make_task("r1", "t1"));
  const std::string victim = f.await_started();
  f.kill(victim);
  auto restarted = f.await_spawned(1);
  CHECK(restarted == std::vector<std::string>{victim});
  act::outcome o;
  reply.receive([&](act::outcome& x) { o = std::move(x); },
                [&](caf::error& e) { FAIL(act::render(e)); });
  REQUIRE(o.ok());
  CHECK(o.dispatches == 2);
  CHECK(o.attempts == 2);
  CHECK(f.runs == 2);
  // Committed exactly once, by the agent that finished it.
  auto h = f.board->history(1);
  REQUIRE(h);
  REQUIRE(h->size() == 1);
  CHECK(h->front().txn_id == "r1/t1/0");
  auto health = f.health(sup);
  CHECK(health_of(health, victim).restarts == 1);
  CHECK(health_of(health, victim).state == act::agent_state::idle);
  CHECK(health.succeeded == 1);
  CHECK(health.dead_letters == 0);
}

TEST_CASE("supervisor marks an agent failed after more restarts than the window allows",
          "[actors][supervision]") {
  fixture f;
  act::manual_clock clock;
  act::supervisor_options so;
  so.agents = 1;
  so.restart = {2, 60s};
  so.clock = clock.fn();
  so.factory = f.recording_factory(writer());
  auto sup = f.spawn(writer(), so);
  f.await_spawned(1);
  const std::string id = "worker/pool-0";
  for (int i = 0; i < 2; ++i) {
    f.kill(id);
    f.await_spawned(1);
    clock.advance(1s);
  }
  CHECK(health_of(f.health(sup), id).restarts == 2);
  f.kill(id);  // the third crash within a minute
  // Ask until the supervisor has handled the crash (it decides in the same
  // step whether to restart, so "failed" means it did not).
  auto h = f.await_health(sup, [&](const act::supervisor_health& x) {
    return health_of(x, id).state != act::agent_state::idle;
  });
  CHECK(health_of(h, id).state == act::agent_state::failed);
  CHECK(health_of(h, id).restarts == 2);
  bool restarted = false;
  f.self->receive([&](spawned_atom, std::string) { restarted = true; },
                  caf::after(0ms) >> [] {});
  CHECK_FALSE(restarted);
  // With no agent left, work is refused and dead-lettered.
  auto o = f.dispatch(sup, make_task("r1", "t1"));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == act::errc::no_agent);
  CHECK(o.dispatches == 0);
  CHECK(o.result["dlq"] == "_dlq/r1/t1");
  CHECK(f.dlq("r1", "t1")["error_code"] == "no_agent");
}

TEST_CASE("supervisor keeps restarting an agent whose crashes are further apart than the window",
          "[actors][supervision]") {
  fixture f;
  act::manual_clock clock;
  act::supervisor_options so;
  so.restart = {1, 60s};
  so.clock = clock.fn();
  so.factory = f.recording_factory(writer());
  auto sup = f.spawn(writer(), so);
  f.await_spawned(1);
  for (int i = 0; i < 4; ++i) {
    f.kill("worker/pool-0");
    f.await_spawned(1);
    clock.advance(61s);
  }
  auto h = f.health(sup);
  CHECK(health_of(h, "worker/pool-0").restarts == 4);
  CHECK(health_of(h, "worker/pool-0").state == act::agent_state::idle);
  CHECK(f.dispatch(sup, make_task("r1", "t1")).ok());
}

TEST_CASE("supervisor refuses work while the breaker is open and probes after the cooldown",
          "[actors][supervision]") {
  fixture f;
  act::manual_clock clock;
  std::atomic<bool> failing{true};
  auto logic = act::agent_logic::sync([&](const act::task& t, bb::scratchpad& sp) -> bb::status {
    if (failing) return bb::error{bb::errc::invalid_argument, "the model is down"};
    return sp.put("runs/" + t.run_id + "/out/" + t.task_id, 1);
  });
  act::supervisor_options so;
  so.breaker = {2, 30s};
  so.max_attempts = 1;
  so.clock = clock.fn();
  auto sup = f.spawn(logic, so);
  for (const char* id : {"t1", "t2"}) {
    auto o = f.dispatch(sup, make_task("r1", id));
    CHECK(o.status == act::outcome_status::error);
    CHECK(o.error == bb::errc::invalid_argument);
    CHECK(o.dispatches == 1);
  }
  auto h = f.health(sup);
  CHECK(h.agents[0].breaker == act::breaker_state::open);
  CHECK(h.agents[0].consecutive_failures == 2);
  // Refused without reaching the agent; recorded in the DLQ.
  auto refused = f.dispatch(sup, make_task("r1", "t3"));
  CHECK(refused.status == act::outcome_status::error);
  CHECK(refused.error == act::errc::circuit_open);
  CHECK(refused.dispatches == 0);
  CHECK(f.dlq("r1", "t3")["error_code"] == "circuit_open");
  // After the cooldown one probe goes through; its success closes the breaker.
  failing = false;
  clock.advance(30s);
  CHECK(f.health(sup).agents[0].breaker == act::breaker_state::half_open);
  auto probe = f.dispatch(sup, make_task("r1", "t4"));
  CHECK(probe.ok());
  h = f.health(sup);
  CHECK(h.agents[0].breaker == act::breaker_state::closed);
  CHECK(h.succeeded == 1);
  CHECK(h.dead_letters == 3);
}

TEST_CASE("supervisor retries a failing task up to max_attempts, then writes it to the DLQ",
          "[actors][supervision]") {
  fixture f;
  std::atomic<int> runs{0};
  auto logic = act::agent_logic::sync([&](const act::task&, bb::scratchpad&) -> bb::status {
    ++runs;
    throw std::runtime_error("flaky tool");
  });
  act::supervisor_options so;
  so.agents = 2;
  so.max_attempts = 3;
  auto sup = f.spawn(logic, so);
  auto t = make_task("r2", "t7", json{{"x", 1}});
  auto o = f.dispatch(sup, t);
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == act::errc::agent_failed);
  CHECK(o.dispatches == 3);
  CHECK(o.attempts == 3);
  CHECK(runs == 3);
  CHECK(o.result["dlq"] == "_dlq/r2/t7");
  CHECK(o.result["dlq_revision"] == f.board->revision());
  json d = f.dlq("r2", "t7");
  CHECK(d["task"]["input"] == json{{"x", 1}});
  CHECK(d["task"]["txn_id"] == "r2/t7/0");
  CHECK(d["attempts"] == 3);
  CHECK(d["dispatches"] == 3);
  CHECK(d["error_code"] == "agent_failed");
  CHECK_THAT(d["error"].get<std::string>(), Catch::Contains("flaky tool"));
  CHECK(d["agent"].get<std::string>().rfind("worker/pool-", 0) == 0);
  CHECK(f.health(sup).dead_letters == 1);
}

TEST_CASE("supervisor does not retry a failure that would repeat", "[actors][supervision]") {
  fixture f;
  auto c = bb::contract::from_schema(json{{"type", "integer"}});
  REQUIRE(c);
  REQUIRE(f.board->set_contract("runs/*/out/*", std::move(*c)));
  act::supervisor_options so;
  so.max_attempts = 5;
  auto sup = f.spawn(writer(), so);
  auto o = f.dispatch(sup, make_task("r1", "t1", "not a number"));
  CHECK(o.error == bb::errc::contract_violation);
  CHECK(o.dispatches == 1);
  CHECK(f.dlq("r1", "t1")["error_code"] == "contract_violation");
}

TEST_CASE("supervisor gives up on a task past its deadline and writes it to the DLQ",
          "[actors][supervision]") {
  fixture f;
  std::mutex mu;
  std::vector<act::completion> held;
  auto logic = act::agent_logic::async([&](const act::task&, bb::scratchpad&, act::completion done) {
    std::lock_guard<std::mutex> lock(mu);
    held.push_back(done);  // never completes
  });
  act::supervisor_options so;
  so.max_attempts = 3;
  auto sup = f.spawn(logic, so);
  auto t = make_task("r3", "slow");
  t.expires_in(150ms);
  auto o = f.dispatch(sup, t, 5s);
  CHECK(o.status == act::outcome_status::deadline_exceeded);
  CHECK(o.error == act::errc::deadline_exceeded);
  CHECK(o.dispatches == 1);  // a deadline is not retried
  CHECK(f.dlq("r3", "slow")["status"] == "deadline_exceeded");
  // The agent is healthy again for the next task.
  CHECK(f.health(sup).agents[0].state == act::agent_state::idle);
}

TEST_CASE("supervisor fails a waiting task at its deadline when every agent is busy",
          "[actors][supervision]") {
  fixture f;
  auto test = caf::actor_cast<caf::actor>(f.self);
  std::mutex mu;
  std::vector<act::completion> held;
  auto logic = act::agent_logic::async(
      [&, test](const act::task& t, bb::scratchpad&, act::completion done) {
        std::lock_guard<std::mutex> lock(mu);
        held.push_back(done);
        caf::anon_send(test, started_atom::value, t.task_id);
      });
  auto sup = f.spawn(logic, {});
  auto await_start = [&](const std::string& id) {
    std::string got;
    f.self->receive([&](started_atom, std::string x) { got = std::move(x); },
                    caf::after(5s) >> [] { FAIL("no task started"); });
    CHECK(got == id);
  };
  auto complete = [&](std::size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(held.size() > i);
    CHECK(held[i].ok());
  };
  auto busy = make_task("r4", "busy");
  busy.expires_in(5s);
  auto first = f.self->request(sup, 10s, act::dispatch_atom::value, busy);
  await_start("busy");
  // Queued ahead of the one that expires: the expiry does not wait its turn.
  auto patient = make_task("r4", "patient");
  patient.expires_in(5s);
  auto second = f.self->request(sup, 10s, act::dispatch_atom::value, patient);
  auto waiting = make_task("r4", "waiting");
  waiting.expires_in(150ms);
  auto o = f.dispatch(sup, waiting, 3s);
  CHECK(o.status == act::outcome_status::deadline_exceeded);
  CHECK(o.dispatches == 0);
  CHECK_THAT(act::render(o.error), Catch::Contains("waiting for an agent"));
  CHECK(f.dlq("r4", "waiting")["status"] == "deadline_exceeded");
  complete(0);
  first.receive([](act::outcome& x) { CHECK(x.ok()); },
                [](caf::error& e) { FAIL(act::render(e)); });
  await_start("patient");  // then the patient one runs
  complete(1);
  second.receive([](act::outcome& x) { CHECK(x.ok()); },
                 [](caf::error& e) { FAIL(act::render(e)); });
}

TEST_CASE("supervisor takes an agent that does not answer past the deadline as hung and restarts it",
          "[actors][supervision]") {
  fixture f;
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::atomic<int> runs{0};
  // The first run blocks its worker thread (what logic must never do).
  auto logic = act::agent_logic::sync([&, released](const act::task& t, bb::scratchpad& sp) -> bb::status {
    if (runs.fetch_add(1) == 0) released.wait();
    return sp.put("runs/" + t.run_id + "/out/" + t.task_id, 1);
  });
  act::supervisor_options so;
  so.reply_grace = 100ms;
  so.factory = f.recording_factory(logic);
  auto sup = f.spawn(logic, so);
  f.await_spawned(1);
  auto t = make_task("r6", "hang");
  t.expires_in(100ms);
  auto o = f.dispatch(sup, t, 5s);
  CHECK(o.status == act::outcome_status::deadline_exceeded);
  CHECK(o.error == act::errc::timeout);
  CHECK_THAT(act::render(o.error), Catch::Contains("did not answer"));
  CHECK(f.dlq("r6", "hang")["error_code"] == "timeout");
  release->set_value();  // the logic returns; the kill it was sent takes effect
  f.await_spawned(1);
  auto h = f.await_health(sup, [](const act::supervisor_health& x) {
    return x.agents[0].state == act::agent_state::idle;
  });
  CHECK(h.agents[0].restarts == 1);
  CHECK(f.dispatch(sup, make_task("r6", "next")).ok());
  CHECK_FALSE(f.board->get("runs/r6/out/hang")->exists());  // past its deadline: not promoted
}

TEST_CASE("supervisor refuses a malformed task and records it under an encoded DLQ key",
          "[actors][supervision]") {
  fixture f;
  auto sup = f.spawn(writer(), {});
  auto o = f.dispatch(sup, make_task("r/5", "t1"));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == bb::errc::invalid_argument);
  CHECK(o.result["dlq"] == "_dlq/r%2F5/t1");
  CHECK(f.board->get("_dlq/r%2F5/t1")->exists());
}

TEST_CASE("spawn_supervisor refuses bad arguments", "[actors][supervision]") {
  fixture f;
  act::supervisor_options so;
  so.agents = 0;
  auto r = act::spawn_supervisor(f.rt.system(), f.board, f.spec(), writer(), so);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("agents is 0"));
  r = act::spawn_supervisor(f.rt.system(), nullptr, f.spec(), writer(), {});
  REQUIRE_FALSE(r);
  r = act::spawn_supervisor(f.rt.system(), f.board, f.spec(), act::agent_logic{}, {});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("no logic"));
}

// --- tracing ------------------------------------------------------------------------

TEST_CASE("supervisor traces a re-dispatched task in the task's trace: task, dispatch, redispatch",
          "[actors][supervision][tracing]") {
  span_file spans;
  fixture f;
  auto logic = f.first_run_hangs();
  act::agent_options ao;
  ao.tracer = spans.tracer.get();
  act::supervisor_options so;
  so.agents = 2;
  so.agent = ao;
  so.factory = f.recording_factory(logic, ao);
  auto sup = f.spawn(logic, so);
  f.await_spawned(2);
  auto t = make_task("r1", "t1");
  t.trace = act::trace_context::make_root();
  auto reply = f.self->request(sup, 10s, act::dispatch_atom::value, t);
  const std::string victim = f.await_started();
  f.kill(victim);
  act::outcome o;
  reply.receive([&](act::outcome& x) { o = std::move(x); },
                [&](caf::error& e) { FAIL(act::render(e)); });
  REQUIRE(o.ok());
  REQUIRE(o.dispatches == 2);

  auto all = spans.by_name();
  const std::string trace_id = t.trace.trace_id_hex();
  for (const auto& [name, line] : all) {
    INFO(name);
    CHECK(line.at("traceId") == trace_id);  // one trace, whoever wrote the span
  }
  // The supervisor's task span is a child of the caller's context; each
  // hand-over is a child of it; the agent that finished is a child of the
  // re-dispatch.
  json task_span = only(all, "supervisor.task");
  CHECK(task_span.at("parentSpanId") == act::span_id_hex(t.trace.span_id));
  CHECK(task_span.at("status").at("code") == "STATUS_CODE_OK");
  CHECK(attr(task_span, "agora.dispatches") == "2");
  json first = only(all, "supervisor.dispatch");
  json second = only(all, "supervisor.redispatch");
  CHECK(first.at("parentSpanId") == task_span.at("spanId"));
  CHECK(second.at("parentSpanId") == task_span.at("spanId"));
  CHECK(first.at("status").at("code") == "STATUS_CODE_ERROR");  // its agent crashed
  CHECK(attr(second, "agora.previous_agent") == victim);
  CHECK_THAT(attr(second, "agora.previous_error"), Catch::Contains(victim));
  CHECK(attr(second, "agora.dispatch") == "2");
  bool finished_under_redispatch = false;
  for (auto [it, end] = all.equal_range("agent.task"); it != end; ++it)
    if (it->second.at("parentSpanId") == second.at("spanId") &&
        it->second.at("status").at("code") == "STATUS_CODE_OK")
      finished_under_redispatch = true;
  CHECK(finished_under_redispatch);
}

TEST_CASE("supervisor traces a dead letter as a child of the task's span, in its trace",
          "[actors][supervision][tracing]") {
  span_file spans;
  fixture f;
  auto logic = act::agent_logic::sync([](const act::task&, bb::scratchpad&) -> bb::status {
    throw std::runtime_error("flaky tool");
  });
  act::supervisor_options so;
  so.max_attempts = 2;
  so.agent.tracer = spans.tracer.get();
  auto sup = f.spawn(logic, so);
  auto t = make_task("r2", "t7");
  t.trace = act::trace_context::make_root();
  auto o = f.dispatch(sup, t);
  REQUIRE(o.status == act::outcome_status::error);
  auto all = spans.by_name();
  json task_span = only(all, "supervisor.task");
  json dead = only(all, "supervisor.dead_letter");
  CHECK(dead.at("traceId") == t.trace.trace_id_hex());
  CHECK(dead.at("parentSpanId") == task_span.at("spanId"));
  CHECK(attr(dead, "agora.dlq") == "_dlq/r2/t7");
  CHECK(attr(dead, "agora.dlq_revision") == std::to_string(f.board->revision()));
  CHECK(only(all, "supervisor.redispatch").at("traceId") == t.trace.trace_id_hex());
  CHECK(task_span.at("status").at("code") == "STATUS_CODE_ERROR");
  // The DLQ record names the task span, so the record leads to the trace.
  CHECK(f.dlq("r2", "t7")["task"]["trace_id"] == t.trace.trace_id_hex());
  CHECK(f.dlq("r2", "t7")["task"]["span_id"] == task_span.at("spanId"));
}

TEST_CASE("supervisor without a tracer passes the task's own context to its agents",
          "[actors][supervision][tracing]") {
  fixture f;
  act::trace_context seen;
  std::mutex mu;
  auto logic = act::agent_logic::sync([&](const act::task& t, bb::scratchpad& sp) -> bb::status {
    std::lock_guard<std::mutex> lock(mu);
    seen = t.trace;
    return sp.put("runs/" + t.run_id + "/out/" + t.task_id, 1);
  });
  auto sup = f.spawn(logic, {});
  auto t = make_task("r3", "t1");
  t.trace = act::trace_context::make_root();
  REQUIRE(f.dispatch(sup, t).ok());
  std::lock_guard<std::mutex> lock(mu);
  CHECK(seen == t.trace);
}
