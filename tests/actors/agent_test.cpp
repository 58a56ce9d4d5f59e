// Tests of the agent actor (actors/src/agent.cpp): ids, wire forms, sync and
// async logic, promotion, conflict retries, idempotent replays, deadlines,
// exceptions, tracing and counters. Every wait is on a reply with a finite
// timeout; nothing sleeps.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/after.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "test_support.hpp"
#include "agora/actors/agent.hpp"
#include "agora/actors/runtime.hpp"

namespace act = agora::actors;
namespace bb = agora::bb;
using namespace std::chrono_literals;
using nlohmann::json;

using agora_test::make_task;
using agora_test::writer;
using agora_test::read_lines;

namespace {

using started_atom = caf::atom_constant<caf::atom("started")>;

act::runtime_options test_runtime() {
  act::runtime_options o;
  o.worker_threads = 2;
  return o;
}

/// A runtime, a board and a scoped actor. Members are destroyed in reverse:
/// the scoped actor and every agent handle go before the runtime, whose
/// destructor waits for every actor to quit.
struct fixture {
  act::runtime rt{test_runtime()};
  std::shared_ptr<bb::blackboard> board = std::make_shared<bb::blackboard>();
  caf::scoped_actor self{rt.system()};

  act::agent_spec spec(const std::string& id = "worker/a") {
    auto parsed = act::agent_id::parse(id);
    REQUIRE(parsed);
    return act::agent_spec{*parsed, "worker", {"test"}};
  }

  act::agent_actor spawn(act::agent_logic logic, act::agent_options opts = {},
                         const std::string& id = "worker/a") {
    auto a = act::spawn_agent(rt.system(), board, spec(id), std::move(logic), opts);
    REQUIRE(a);
    return *a;
  }

  act::outcome run(const act::agent_actor& a, const act::task& t,
                   std::chrono::milliseconds timeout = 10s) {
    act::outcome out;
    bool replied = false;
    self->request(a, timeout, act::run_atom::value, t)
        .receive([&](act::outcome& o) {
                   out = std::move(o);
                   replied = true;
                 },
                 [&](caf::error& e) { FAIL("request failed: " << act::render(e)); });
    REQUIRE(replied);
    return out;
  }
};




}  // namespace

// --- values -----------------------------------------------------------------------

TEST_CASE("agent_id parses type/key and names what is wrong with a bad id", "[actors][agent]") {
  auto id = act::agent_id::parse("critic/alice");
  REQUIRE(id);
  CHECK(id->str() == "critic/alice");
  CHECK(id->type() == "critic");
  CHECK(id->key() == "alice");
  CHECK(act::agent_id::make("llm.gpt-4_o", "pool-3")->str() == "llm.gpt-4_o/pool-3");

  struct bad_case {
    const char* text;
    const char* why;
  };
  for (auto c : {bad_case{"", "empty"}, bad_case{"critic", "no '/'"},
                 bad_case{"/alice", "empty type"}, bad_case{"critic/", "empty key"},
                 bad_case{"a/b/c", "more than one '/'"}, bad_case{"cri tic/a", "type character"},
                 bad_case{"critic/al ice", "key character"},
                 bad_case{"critic/a\x01", "key character"}}) {
    auto r = act::agent_id::parse(c.text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == bb::errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(c.why));
  }
  CHECK_FALSE(act::agent_id::parse("t/" + std::string(300, 'k')));
  CHECK(act::agent_id().empty());
}

TEST_CASE("agent task, outcome and spec survive CAF's binary serialization", "[actors][agent]") {
  act::task in = make_task("r1", "t1", json{{"q", "why?"}, {"n", {1, 2, 3}}});
  in.attempt_group = 4;
  in.trace = act::trace_context::make_root();
  act::outcome o;
  o.status = act::outcome_status::conflict;
  o.revision = 9;
  o.txn_id = in.txn_id();
  o.attempts = 3;
  o.dispatches = 2;
  o.agent = "worker/a";
  o.error = caf::make_error(act::errc::agent_failed, "boom");
  o.result = json{{"score", 0.5}};
  act::agent_spec spec{*act::agent_id::parse("critic/alice"), "critic", {"review", "math"}};

  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(in, o, spec));
  act::task in2;
  act::outcome o2;
  act::agent_spec spec2;
  caf::binary_deserializer source{nullptr, buf};
  REQUIRE_FALSE(source(in2, o2, spec2));
  CHECK(in2.run_id == "r1");
  CHECK(in2.task_id == "t1");
  CHECK(in2.attempt_group == 4);
  CHECK(in2.input == in.input);
  CHECK(in2.deadline == in.deadline);
  CHECK(in2.trace == in.trace);
  CHECK(in2.txn_id() == "r1/t1/4");
  CHECK(o2.status == act::outcome_status::conflict);
  CHECK(o2.revision == 9);
  CHECK(o2.attempts == 3);
  CHECK(o2.dispatches == 2);
  CHECK(o2.agent == "worker/a");
  CHECK(o2.error == act::errc::agent_failed);
  CHECK(o2.result == o.result);
  CHECK(spec2.id.str() == "critic/alice");
  CHECK(spec2.capabilities == spec.capabilities);
}

TEST_CASE("agent task validation names the bad field", "[actors][agent]") {
  CHECK(act::validate_task(make_task("r1", "t1")));
  auto r = act::validate_task(make_task("r/1", "t1"));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("run_id") && Catch::Contains("'r/1'"));
  r = act::validate_task(make_task("r1", ""));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("task_id is empty"));
}

// --- the actor --------------------------------------------------------------------

TEST_CASE("agent runs sync logic and promotes its scratchpad as the agent", "[actors][agent]") {
  fixture f;
  auto a = f.spawn(writer());
  auto o = f.run(a, make_task("r1", "t1", json{{"answer", 42}}));
  REQUIRE(o.status == act::outcome_status::ok);
  CHECK_FALSE(o.error);
  CHECK(o.revision == 1);
  CHECK(o.changes == 1);
  CHECK(o.attempts == 1);
  CHECK(o.dispatches == 1);
  CHECK(o.txn_id == "r1/t1/0");
  CHECK(o.agent == "worker/a");
  CHECK_FALSE(o.replayed);
  auto e = f.board->get("runs/r1/out/t1");
  REQUIRE(e);
  CHECK(e->value() == json{{"answer", 42}});
  CHECK(e->author() == "worker/a");
  auto h = f.board->history(1);
  REQUIRE(h);
  REQUIRE(h->size() == 1);
  CHECK(h->front().txn_id == "r1/t1/0");
}

TEST_CASE("agent answers describe with its spec", "[actors][agent]") {
  fixture f;
  auto a = f.spawn(writer());
  act::agent_spec got;
  f.self->request(a, 5s, act::describe_atom::value)
      .receive([&](act::agent_spec& s) { got = std::move(s); },
               [&](caf::error& e) { FAIL(act::render(e)); });
  CHECK(got.id.str() == "worker/a");
  CHECK(got.role == "worker");
  CHECK(got.capabilities == std::vector<std::string>{"test"});
}

TEST_CASE("agent passes a sync logic's result JSON and error to the outcome", "[actors][agent]") {
  fixture f;
  auto a = f.spawn(act::agent_logic::sync([](const act::task& t, bb::scratchpad& sp) -> act::logic_result {
    if (t.input == "bad") return bb::error{bb::errc::invalid_argument, "input is bad"};
    if (auto s = sp.put("x", 1); !s) return s.error();
    return json{{"wrote", "x"}};
  }));
  auto o = f.run(a, make_task("r", "good"));
  REQUIRE(o.ok());
  CHECK(o.result == json{{"wrote", "x"}});
  o = f.run(a, make_task("r", "bad", "bad"));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == bb::errc::invalid_argument);
  CHECK_THAT(act::render(o.error), Catch::Contains("input is bad"));
  CHECK(o.revision == 0);
  CHECK(f.board->revision() == 1);
}

TEST_CASE("agent runs async logic completed later from another thread", "[actors][agent]") {
  fixture f;
  std::mutex mu;
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0}, ignored{0};
  auto logic = act::agent_logic::async(
      [&](const act::task& t, bb::scratchpad& sp, act::completion done) {
        std::lock_guard<std::mutex> lock(mu);
        threads.emplace_back([&sp, &accepted, &ignored, done, t] {
          auto s = sp.put("runs/" + t.run_id + "/async/" + t.task_id, t.input);
          if (s && done.ok(json{{"thread", "other"}})) ++accepted;
          if (!done.ok()) ++ignored;  // exactly once: a second call is ignored
        });
      });
  auto a = f.spawn(logic);
  auto o1 = f.run(a, make_task("r1", "t1", 1));
  auto o2 = f.run(a, make_task("r1", "t2", 2));
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& th : threads) th.join();
  }
  CHECK(accepted == 2);
  CHECK(ignored == 2);
  REQUIRE(o1.ok());
  REQUIRE(o2.ok());
  CHECK(o1.result == json{{"thread", "other"}});
  CHECK(o2.revision == 2);
  CHECK(f.board->get("runs/r1/async/t2")->value() == 2);
}

TEST_CASE("agent settles async logic that completes inside the call", "[actors][agent]") {
  fixture f;
  auto a = f.spawn(act::agent_logic::async(
      [](const act::task& t, bb::scratchpad& sp, act::completion done) {
        done(sp.put("inline/" + t.task_id, true));
      }));
  for (int i = 0; i < 5; ++i) {
    auto o = f.run(a, make_task("r", "t" + std::to_string(i)));
    REQUIRE(o.ok());
    CHECK(o.revision == static_cast<std::uint64_t>(i + 1));
  }
}

TEST_CASE("agent retries a conflicted promotion on a fresh snapshot and succeeds",
          "[actors][agent]") {
  fixture f;
  act::metrics m{true};
  REQUIRE(f.board->get("counter"));
  std::atomic<int> interfere{2};
  std::atomic<int> runs{0};
  auto logic = act::agent_logic::sync([&](const act::task&, bb::scratchpad& sp) -> bb::status {
    ++runs;
    auto cur = sp.get("counter");
    if (!cur) return cur.error();
    const int v = cur->exists() ? cur->value().get<int>() : 0;
    if (interfere.fetch_sub(1) > 0) {
      // A competing writer commits between this run's snapshot and its promotion.
      // (No Catch2 assertions here: this runs on a CAF worker thread.)
      auto rival = f.board->begin("rival/x");
      if (auto s = rival.put("counter", v + 100); !s) return s;
      if (auto r = f.board->promote(rival); !r) return r.error();
    }
    return sp.put("counter", v + 1);
  });
  act::agent_options opts;
  opts.max_conflict_retries = 3;
  opts.metrics = &m;
  auto a = f.spawn(logic, opts);
  auto o = f.run(a, make_task("r", "t"));
  REQUIRE(o.ok());
  CHECK(o.attempts == 3);
  CHECK(runs == 3);
  // Each rerun read the rival's latest write (100, then 200); the last built on it.
  CHECK(f.board->get("counter")->value() == 201);
  CHECK(f.board->get("counter")->author() == "worker/a");
  auto& c = m.of("worker/a");
  CHECK(c.conflicts == 2);
  CHECK(c.retries == 2);
  CHECK(c.promotions == 1);
  CHECK(c.tasks == 1);
  CHECK(c.failures == 0);
}

TEST_CASE("agent gives up after max_conflict_retries and names the conflicting key",
          "[actors][agent]") {
  fixture f;
  std::atomic<int> runs{0};
  auto logic = act::agent_logic::sync([&](const act::task&, bb::scratchpad& sp) -> bb::status {
    ++runs;
    auto cur = sp.get("hot");
    if (!cur) return cur.error();
    auto rival = f.board->begin("rival/x");
    if (auto s = rival.put("hot", runs.load()); !s) return s;
    if (auto r = f.board->promote(rival); !r) return r.error();
    return sp.put("mine", runs.load());
  });
  act::agent_options opts;
  opts.max_conflict_retries = 2;
  auto a = f.spawn(logic, opts);
  auto o = f.run(a, make_task("r", "t"));
  CHECK(o.status == act::outcome_status::conflict);
  CHECK(o.attempts == 3);
  CHECK(runs == 3);
  REQUIRE(act::is_blackboard_error(o.error));
  bb::error e = act::from_caf_error(o.error);
  CHECK(e.code == bb::errc::conflict);
  REQUIRE(e.conflicts.size() == 1);
  CHECK(e.conflicts[0].key == "hot");
  CHECK_FALSE(f.board->get("mine")->exists());
}

TEST_CASE("agent replays a task that already committed instead of applying it twice",
          "[actors][agent]") {
  fixture f;
  act::metrics m{true};
  act::agent_options opts;
  opts.metrics = &m;
  auto a = f.spawn(act::agent_logic::sync([](const act::task& t, bb::scratchpad& sp) -> bb::status {
                     return sp.append("runs/" + t.run_id + "/log", t.task_id);
                   }),
                   opts);
  auto t = make_task("r1", "t1");
  auto first = f.run(a, t);
  REQUIRE(first.ok());
  CHECK_FALSE(first.replayed);
  auto again = f.run(a, t);  // the same task again: say its reply was lost
  REQUIRE(again.ok());
  CHECK(again.replayed);
  CHECK(again.revision == first.revision);
  CHECK(again.txn_id == "r1/t1/0");
  CHECK(f.board->revision() == first.revision);
  CHECK(f.board->get("runs/r1/log")->value() == json::array({"t1"}));

  // A new attempt group is a new transaction.
  t.attempt_group = 1;
  auto next = f.run(a, t);
  REQUIRE(next.ok());
  CHECK_FALSE(next.replayed);
  CHECK(next.revision == first.revision + 1);
  CHECK(f.board->get("runs/r1/log")->value() == json::array({"t1", "t1"}));
  CHECK(m.of("worker/a").promotions == 2);
  CHECK(m.of("worker/a").tasks == 3);
}

TEST_CASE("agent reports a promotion refused by a contract as an error outcome",
          "[actors][agent]") {
  fixture f;
  auto c = bb::contract::from_schema(json{{"type", "object"}, {"required", {"score"}}});
  REQUIRE(c);
  REQUIRE(f.board->set_contract("runs/*/out/*", std::move(*c)));
  auto a = f.spawn(writer());
  auto o = f.run(a, make_task("r1", "t1", json{{"no_score", 1}}));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == bb::errc::contract_violation);
  CHECK(act::from_caf_error(o.error).key == "runs/r1/out/t1");
  CHECK(o.attempts == 1);
}

TEST_CASE("agent replies deadline_exceeded when async logic never completes and ignores a late completion",
          "[actors][agent]") {
  fixture f;
  std::mutex mu;
  std::vector<act::completion> held;
  auto logic = act::agent_logic::async(
      [&](const act::task& t, bb::scratchpad& sp, act::completion done) {
        if (t.task_id == "stuck") {
          std::lock_guard<std::mutex> lock(mu);
          held.push_back(done);  // never called in time
          return;
        }
        done(sp.put("fine/" + t.task_id, 1));
      });
  auto a = f.spawn(logic);
  auto t = make_task("r", "stuck");
  t.expires_in(100ms);
  const auto before = std::chrono::steady_clock::now();
  auto o = f.run(a, t, 5s);
  CHECK(std::chrono::steady_clock::now() - before < 4s);
  CHECK(o.status == act::outcome_status::deadline_exceeded);
  CHECK(o.error == act::errc::deadline_exceeded);
  CHECK(o.attempts == 1);
  // Completing now is ignored: nothing is promoted.
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(held.size() == 1);
    CHECK_FALSE(held[0].ok());
  }
  // The next task is the first commit.
  auto next = f.run(a, make_task("r", "after"));
  REQUIRE(next.ok());
  CHECK(next.revision == 1);
  CHECK(f.board->revision() == 1);
}

TEST_CASE("agent fails a sync task whose deadline has already passed without running it",
          "[actors][agent]") {
  fixture f;
  std::atomic<int> runs{0};
  auto a = f.spawn(act::agent_logic::sync([&](const act::task&, bb::scratchpad&) -> bb::status {
    ++runs;
    return {};
  }));
  auto t = make_task("r", "late");
  t.deadline = caf::timestamp{} + std::chrono::seconds(1);  // 1970
  auto o = f.run(a, t);
  CHECK(o.status == act::outcome_status::deadline_exceeded);
  CHECK(o.attempts == 0);
  CHECK(runs == 0);
}

TEST_CASE("agent turns a logic exception into an error outcome and answers the next task",
          "[actors][agent]") {
  fixture f;
  act::metrics m{true};
  act::agent_options opts;
  opts.metrics = &m;
  auto a = f.spawn(act::agent_logic::sync([](const act::task& t, bb::scratchpad& sp) -> bb::status {
                     if (t.input == "boom") throw std::runtime_error("kaboom from the logic");
                     if (t.input == "int") throw 7;
                     return sp.put("ok/" + t.task_id, true);
                   }),
                   opts);
  auto o = f.run(a, make_task("r", "t1", "boom"));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == act::errc::agent_failed);
  CHECK_THAT(act::render(o.error), Catch::Contains("kaboom from the logic") &&
                                       Catch::Contains("worker/a"));
  o = f.run(a, make_task("r", "t2", "int"));
  CHECK(o.error == act::errc::agent_failed);
  o = f.run(a, make_task("r", "t3"));
  CHECK(o.ok());
  CHECK(m.of("worker/a").failures == 2);
  CHECK(m.of("worker/a").tasks == 3);
}

TEST_CASE("agent turns an async logic exception into an error outcome", "[actors][agent]") {
  fixture f;
  auto a = f.spawn(act::agent_logic::async(
      [](const act::task& t, bb::scratchpad& sp, act::completion done) {
        if (t.input == "boom") throw std::logic_error("async kaboom");
        done(sp.put("ok/" + t.task_id, true));
      }));
  auto o = f.run(a, make_task("r", "t1", "boom"));
  CHECK(o.status == act::outcome_status::error);
  CHECK_THAT(act::render(o.error), Catch::Contains("async kaboom"));
  CHECK(f.run(a, make_task("r", "t2")).ok());
}

TEST_CASE("agent fails a task whose async logic drops its completion", "[actors][agent]") {
  fixture f;
  std::mutex mu;
  std::vector<std::thread> threads;
  auto a = f.spawn(act::agent_logic::async(
      [&](const act::task& t, bb::scratchpad&, act::completion done) {
        if (t.input == "later") {
          // Dropped on another thread, after the call returned.
          std::lock_guard<std::mutex> lock(mu);
          threads.emplace_back([d = std::move(done)]() mutable { auto gone = std::move(d); });
        }
        // else: dropped inside the call
      }));
  auto o = f.run(a, make_task("r", "t1"));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == act::errc::agent_failed);
  CHECK_THAT(act::render(o.error), Catch::Contains("dropped its completion"));
  o = f.run(a, make_task("r", "t2", "later"));
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& th : threads) th.join();
  }
  CHECK(o.error == act::errc::agent_failed);
}

TEST_CASE("agent runs async tasks one at a time by default, later ones wait in the mailbox",
          "[actors][agent]") {
  fixture f;
  auto test = caf::actor_cast<caf::actor>(f.self);
  std::mutex mu;
  std::vector<act::completion> held;
  auto logic = act::agent_logic::async(
      [&, test](const act::task& t, bb::scratchpad& sp, act::completion done) {
        (void)sp.put("seen/" + t.task_id, true);
        std::lock_guard<std::mutex> lock(mu);
        held.push_back(done);
        caf::anon_send(test, started_atom::value, t.task_id);
      });
  auto a = f.spawn(logic);
  // Two tasks at once, from two requesters.
  caf::scoped_actor other{f.rt.system()};
  auto r1 = f.self->request(a, 10s, act::run_atom::value, make_task("r", "first"));
  auto r2 = other->request(a, 10s, act::run_atom::value, make_task("r", "second"));
  std::string started;
  f.self->receive([&](started_atom, std::string id) { started = id; },
                  caf::after(5s) >> [] { FAIL("no task started"); });
  CHECK(started == "first");
  // The second has not started: the first holds the agent. The describe
  // request is queued behind the second task, so by its reply the agent has
  // seen (and set aside) that task; had it started it, its notice would be
  // in our mailbox before the reply.
  f.self->request(a, 5s, act::describe_atom::value)
      .receive([](act::agent_spec&) {}, [](caf::error& e) { FAIL(act::render(e)); });
  bool second_started_early = false;
  f.self->receive([&](started_atom, std::string) { second_started_early = true; },
                  caf::after(0ms) >> [] {});
  CHECK_FALSE(second_started_early);
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(held.size() == 1);
    held[0].ok();
  }
  r1.receive([&](act::outcome& o) { CHECK(o.ok()); },
             [&](caf::error& e) { FAIL(act::render(e)); });
  f.self->receive([&](started_atom, std::string id) { started = id; },
                  caf::after(5s) >> [] { FAIL("second task never started"); });
  CHECK(started == "second");
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(held.size() == 2);
    held[1].ok();
  }
  r2.receive([&](act::outcome& o) { CHECK(o.ok()); },
             [&](caf::error& e) { FAIL(act::render(e)); });
}

TEST_CASE("agent refuses a malformed task with an error outcome that names the field",
          "[actors][agent]") {
  fixture f;
  auto a = f.spawn(writer());
  auto o = f.run(a, make_task("runs/1", "t1"));
  CHECK(o.status == act::outcome_status::error);
  CHECK(o.error == bb::errc::invalid_argument);
  CHECK_THAT(act::render(o.error), Catch::Contains("run_id"));
  CHECK(o.attempts == 0);
  CHECK(f.board->revision() == 0);
}

TEST_CASE("agent writes a span per task as a child of the task's trace and counts latency",
          "[actors][agent]") {
  const std::string path = "/tmp/agora-agent-test-" + std::to_string(::getpid()) + ".jsonl";
  std::remove(path.c_str());
  auto opened = act::tracer::open(path);
  REQUIRE(opened);
  std::unique_ptr<act::tracer> tr = std::move(*opened);
  act::metrics m{true};
  act::trace_context seen;
  {
    fixture f;
    act::agent_options opts;
    opts.tracer = tr.get();
    opts.metrics = &m;
    auto a = f.spawn(act::agent_logic::sync([&](const act::task& t, bb::scratchpad& sp) -> bb::status {
                       seen = t.trace;
                       if (t.input == "fail") return bb::error{bb::errc::invalid_argument, "no"};
                       return sp.put("k/" + t.task_id, 1);
                     }),
                     opts);
    auto t = make_task("r1", "t1");
    t.trace = act::trace_context::make_root();
    REQUIRE(f.run(a, t).ok());
    // The logic saw the agent's span, a child of the task's context.
    CHECK(seen.trace_hi == t.trace.trace_hi);
    CHECK(seen.trace_lo == t.trace.trace_lo);
    CHECK(seen.parent_span_id == t.trace.span_id);
    const act::trace_context first = seen;
    CHECK_FALSE(f.run(a, make_task("r1", "t2", "fail")).ok());
    tr->flush();
    auto lines = read_lines(path);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["name"] == "agent.task");
    CHECK(lines[0]["traceId"] == t.trace.trace_id_hex());
    CHECK(lines[0]["parentSpanId"] == act::span_id_hex(t.trace.span_id));
    CHECK(lines[0]["spanId"] == act::span_id_hex(first.span_id));
    CHECK(lines[0]["status"]["code"] == "STATUS_CODE_OK");
    CHECK(lines[1]["status"]["code"] == "STATUS_CODE_ERROR");
    CHECK_THAT(lines[1]["status"]["message"].get<std::string>(), Catch::Contains("no"));
    auto& c = m.of("worker/a");
    CHECK(c.tasks == 2);
    CHECK(c.failures == 1);
    CHECK(c.promotions == 1);
    CHECK(c.latency_ns_total > 0);
  }
  std::remove(path.c_str());
}

TEST_CASE("agent spawned on a runtime uses the runtime's metrics", "[actors][agent]") {
  act::runtime_options ro = test_runtime();
  ro.metrics_enabled = true;
  act::runtime rt{ro};
  auto board = std::make_shared<bb::blackboard>();
  {
    caf::scoped_actor self{rt.system()};
    auto a = act::spawn_agent(rt, board, {*act::agent_id::parse("rt/a"), "r", {}}, writer());
    REQUIRE(a);
    self->request(*a, 5s, act::run_atom::value, make_task("r", "t"))
        .receive([](act::outcome& o) { CHECK(o.ok()); },
                 [](caf::error& e) { FAIL(act::render(e)); });
  }
  CHECK(rt.metrics().of("rt/a").tasks == 1);
}

TEST_CASE("spawn_agent refuses a null board, an empty id and empty logic", "[actors][agent]") {
  fixture f;
  auto spec = f.spec();
  auto r = act::spawn_agent(f.rt.system(), nullptr, spec, writer());
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("blackboard is null"));
  r = act::spawn_agent(f.rt.system(), f.board, act::agent_spec{}, writer());
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("id is empty"));
  r = act::spawn_agent(f.rt.system(), f.board, spec, act::agent_logic{});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("no logic"));
}

TEST_CASE("agent killed with a task in progress answers it cancelled", "[actors][agent]") {
  fixture f;
  auto test = caf::actor_cast<caf::actor>(f.self);
  std::mutex mu;
  std::vector<act::completion> held;
  auto a = f.spawn(act::agent_logic::async(
      [&, test](const act::task& t, bb::scratchpad&, act::completion done) {
        std::lock_guard<std::mutex> lock(mu);
        held.push_back(done);
        caf::anon_send(test, started_atom::value, t.task_id);
      }));
  auto reply = f.self->request(a, 5s, act::run_atom::value, make_task("r", "t1"));
  f.self->receive([](started_atom, std::string) {},
                  caf::after(5s) >> [] { FAIL("the task never started"); });
  caf::anon_send_exit(a, caf::exit_reason::kill);
  act::outcome o;
  reply.receive([&](act::outcome& x) { o = std::move(x); },
                [&](caf::error& e) { FAIL("no outcome: " << act::render(e)); });
  CHECK(o.status == act::outcome_status::cancelled);
  CHECK(o.error == act::errc::cancelled);
  CHECK(o.txn_id == "r/t1/0");
  std::lock_guard<std::mutex> lock(mu);
  CHECK_FALSE(held.at(0).ok());  // the agent is gone: the completion is ignored
}

TEST_CASE("agent treats its task's txn committed earlier by another agent as replayed",
          "[actors][agent]") {
  fixture f;
  auto a = f.spawn(writer(), {}, "worker/a");
  auto b = f.spawn(writer(), {}, "worker/b");
  auto t = make_task("r1", "t1", json{{"v", 1}});
  auto first = f.run(a, t);
  REQUIRE(first.ok());
  // Say a's reply was lost and the task went to b: other author, other
  // content as far as the blackboard can tell.
  auto second = f.run(b, t);
  REQUIRE(second.ok());
  CHECK(second.replayed);
  CHECK(second.revision == first.revision);
  CHECK(second.changes == 1);
  CHECK(second.agent == "worker/b");
  CHECK(f.board->revision() == first.revision);
  CHECK(f.board->get("runs/r1/out/t1")->author() == "worker/a");
}

TEST_CASE("agent message types are registered for the wire by the runtime", "[actors][agent]") {
  act::runtime rt{test_runtime()};
  auto t = make_task("r1", "t1", json{{"k", "v"}});
  act::outcome o;
  o.status = act::outcome_status::ok;
  o.revision = 3;
  o.result = json::array({1, 2});
  act::agent_spec spec{*act::agent_id::parse("a/b"), "role", {"x"}};
  caf::message in = caf::make_message(act::run_atom::value, t, o, spec);
  std::vector<char> buf;
  caf::binary_serializer sink{rt.system(), buf};
  // A message is written with its element types' registered names; an
  // unregistered type makes this fail.
  REQUIRE_FALSE(sink(in));
  caf::message out;
  caf::binary_deserializer source{rt.system(), buf};
  REQUIRE_FALSE(source(out));
  REQUIRE(out.match_elements<act::run_atom, act::task, act::outcome, act::agent_spec>());
  CHECK(out.get_as<act::task>(1).input == json{{"k", "v"}});
  CHECK(out.get_as<act::outcome>(2).result == json::array({1, 2}));
  CHECK(out.get_as<act::agent_spec>(3).id.str() == "a/b");
}
