#include "agora/agents/debate.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <map>
#include <random>

#include <caf/send.hpp>

#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

// Round 1: the persona's own opinion; later rounds: join the last round's vote.
actors::agent_logic follower(std::atomic<int>* calls = nullptr) {
  return debater([calls](const debate_turn& t) -> bb::result<json> {
    if (calls) ++*calls;
    if (t.round == 1) return json(t.persona.empty() ? "42" : t.persona);
    return t.previous_aggregate ? json(*t.previous_aggregate) : json("42");
  });
}

// Never changes its mind.
actors::agent_logic stubborn(json answer) {
  return debater([answer](const debate_turn&) -> bb::result<json> { return answer; });
}

debate_config three(fixture& f, actors::agent_logic logic, std::vector<std::string> personas = {"", "41", ""}) {
  debate_config cfg;
  const char* names[] = {"alice", "bob", "carol"};
  for (int i = 0; i < 3; ++i)
    cfg.debaters.push_back(f.spawn(std::string("debater/") + names[i], logic, personas[i]));
  return cfg;
}

}  // namespace

TEST_CASE("debate converges: blind round, then revise toward the others until consensus",
          "[agents][debate]") {
  fixture f;
  auto cfg = three(f, follower());  // round 1: 42, 41, 42
  cfg.run.stop = consensus(unanimity) | max_rounds(5);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "q1", {{"question", "6 x 7?"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "42");
  CHECK(r.rounds == 2);
  CHECK(r.reason == "consensus (unanimity): 3 of 3 agree on '42' after round 2");
  CHECK(r.stopped_by == std::vector<stop_kind>{stop_kind::consensus});

  // Everything is on the blackboard under runs/q1.
  CHECK(f.at("runs/q1/meta")["pattern"] == "debate");
  CHECK(f.at("runs/q1/meta")["policy"] == "consensus(unanimity) | max_rounds(5)");
  CHECK(f.at("runs/q1/answers/1/debater/bob") == "41");
  CHECK(f.at("runs/q1/answers/2/debater/bob") == "42");
  CHECK(f.at("runs/q1/round/1")["votes"] == json({{"41", 1}, {"42", 2}}));
  CHECK(f.at("runs/q1/round/1")["summary"]["aggregate"] == "42");
  CHECK(f.at("runs/q1/result")["status"] == "settled");
  // Each contribution committed once, under the member's task txn.
  CHECK(f.commits_with_txn("q1/r1:debater:alice/0") == 1);
  CHECK(f.commits_with_txn("q1/round-2") == 1);

  auto text = transcript(*f.board, "q1");
  REQUIRE(text);
  CHECK(*text ==
        "run q1: debate, policy consensus(unanimity) | max_rounds(5), fallback best_so_far\n"
        "input: {\"question\":\"6 x 7?\"}\n"
        "round 1:\n"
        "  debater/alice: 42\n"
        "  debater/bob: 41\n"
        "  debater/carol: 42\n"
        "  votes: {\"41\":1,\"42\":2}\n"
        "  aggregate: 42\n"
        "round 2:\n"
        "  debater/alice: 42\n"
        "  debater/bob: 42\n"
        "  debater/carol: 42\n"
        "  votes: {\"42\":3}\n"
        "  aggregate: 42\n"
        "result: settled, answer 42\n"
        "reason: consensus (unanimity): 3 of 3 agree on '42' after round 2\n");
}

TEST_CASE("debate refuses a stop policy that could loop forever", "[agents][debate]") {
  fixture f;
  auto cfg = three(f, follower());
  auto none = spawn_debate(f.rt, f.board, cfg);
  REQUIRE_FALSE(none);
  CHECK(none.error().message.find("has no stop policy and could loop forever") != std::string::npos);
  cfg.run.stop = consensus(majority);
  auto unbounded = spawn_debate(f.rt, f.board, cfg);
  REQUIRE_FALSE(unbounded);
  CHECK(unbounded.error().message.find("may never stop") != std::string::npos);
  cfg.run.stop = max_rounds(2);
  cfg.debaters.push_back(cfg.debaters.front());
  auto twice = spawn_debate(f.rt, f.board, cfg);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message == "debate: member id debater/alice appears twice");
}

TEST_CASE("debate stops at max_rounds and lets the fallback choose", "[agents][debate]") {
  fixture f;
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", stubborn("x")));
  cfg.debaters.push_back(f.spawn("debater/b", stubborn("y")));
  cfg.debaters.push_back(f.spawn("debater/c", stubborn("y")));
  SECTION("best_so_far") {
    cfg.run.stop = consensus(unanimity) | max_rounds(2);
    auto d = spawn_debate(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "m1", {{"question", "?"}});
    CHECK(r.status == run_status::fallback);
    CHECK(r.answer == "y");
    CHECK(r.rounds == 2);
    CHECK(r.reason == "max_rounds: 2 of 2 rounds done; no settled answer, fallback best_so_far chose 'y'");
  }
  SECTION("escalate") {
    cfg.run.stop = consensus(unanimity) | max_rounds(1);
    cfg.run.fallback = fallback::escalate;
    auto d = spawn_debate(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "m2", {{"question", "?"}});
    CHECK(r.status == run_status::escalated);
    CHECK(r.answer.is_null());
    CHECK(r.reason == "max_rounds: 1 of 1 rounds done; escalated to _escalations/m2");
    auto esc = f.at("_escalations/m2");
    CHECK(esc["run"] == "m2");
    CHECK(esc["last_aggregate"] == "y");
  }
}

TEST_CASE("debate closes a round on quorum without the slow debater, records it late",
          "[agents][debate]") {
  fixture f;
  later threads;
  gate release;
  auto slow = actors::agent_logic::async(
      [&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        threads.run([&, t, &sp = sp, done] {
          release.wait();
          if (auto s = sp.put(t.input["key"].get<std::string>(), "7"); !s) return (void)done.fail(s.error());
          done.ok({{"answer", "7"}});
        });
      });
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", stubborn("42")));
  cfg.debaters.push_back(f.spawn("debater/b", stubborn("42")));
  cfg.debaters.push_back(f.spawn("debater/slow", slow));
  cfg.run.stop = consensus(majority) | max_rounds(3);
  cfg.run.round.quorum = 2;
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "s1", {{"question", "?"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.reason == "consensus (majority): 2 of 3 agree on '42' after round 1");
  auto round = f.at("runs/s1/round/1");
  CHECK(round["missing"] == json::array({"debater/slow"}));
  CHECK(round["summary"]["late"] == 1);
  // The slow answer arrives after the round closed: recorded as late, never counted.
  auto w = f.board->watch("runs/s1/late", 0);
  REQUIRE(w);
  release.open();
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  auto late = f.at("runs/s1/late/1/debater/slow");
  CHECK(late["status"] == "ok");
  CHECK(late["answer"] == "7");
  CHECK(f.at("runs/s1/round/1")["summary"]["answers"].size() == 2);
}

TEST_CASE("debate counts a failing debater as failed and goes on", "[agents][debate]") {
  fixture f;
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", stubborn("yes")));
  cfg.debaters.push_back(f.spawn("debater/b", stubborn("yes")));
  cfg.debaters.push_back(f.spawn("debater/broken", debater([](const debate_turn&) -> bb::result<json> {
                                   return bb::error{bb::errc::invalid_argument, "cannot think today"};
                                 })));
  cfg.run.stop = consensus(majority) | max_rounds(2);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "f1", {{"question", "?"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "yes");
  auto failed = f.at("runs/f1/round/1")["failed"];
  REQUIRE(failed.contains("debater/broken"));
  CHECK(failed["debater/broken"].get<std::string>().find("cannot think today") != std::string::npos);
}

TEST_CASE("a debate in which no member ever answers fails after its first round, naming a failure",
          "[agents][debate]") {
  fixture f;
  std::atomic<int> calls{0};
  auto broken = [&calls](const std::string& why) {
    return debater([&calls, why](const debate_turn&) -> bb::result<json> {
      ++calls;
      return bb::error{bb::errc::invalid_argument, why};
    });
  };
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", broken("no model")));
  cfg.debaters.push_back(f.spawn("debater/b", broken("no model")));
  cfg.run.stop = consensus(majority) | max_rounds(6);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "nobody", {{"question", "?"}});
  CHECK(r.status == run_status::failed);
  CHECK(r.rounds == 1);  // not six rounds of the same failure
  CHECK(r.reason.find("no member answered: all 2 failed in round 1") == 0);
  CHECK(r.reason.find("no model") != std::string::npos);
  CHECK(calls.load() == 2);
  CHECK(f.at("runs/nobody/round/1").is_object());  // the round is on record
}

TEST_CASE("debate aggregates by a judge when one is given", "[agents][debate]") {
  fixture f;
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", stubborn("Paris")));
  cfg.debaters.push_back(f.spawn("debater/b", stubborn("Lyon")));
  cfg.debaters.push_back(f.spawn("debater/c", stubborn("Lyon")));
  // The judge prefers the longest answer whatever the votes say.
  cfg.judge = f.spawn("judge/j", judge([](const json&, const std::map<std::string, json>& answers)
                                           -> bb::result<json> { return answers.at("debater/a"); }));
  cfg.run.stop = stable_answer(2) | max_rounds(4);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "j1", {{"question", "capital of France?"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "Paris");  // as given, not normalized
  CHECK(r.reason == "stable_answer: 'paris' unchanged for 2 round(s), up to round 2");
  CHECK(f.at("runs/j1/round/1")["judge"] == "Paris");
}

TEST_CASE("debate replies a finished run again without re-running it", "[agents][debate]") {
  fixture f;
  std::atomic<int> calls{0};
  auto cfg = three(f, follower(&calls));
  cfg.run.stop = consensus(unanimity) | max_rounds(5);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto first = f.run(*d, "again", {{"question", "?"}});
  auto rev = f.board->revision();
  int after_first = calls.load();
  auto second = f.run(*d, "again", {{"question", "?"}});
  CHECK(second.answer == first.answer);
  CHECK(second.reason == first.reason);
  CHECK(calls.load() == after_first);
  CHECK(f.board->revision() == rev);
}

TEST_CASE("a run id reused with other input is refused and nothing is written",
          "[agents][debate][run]") {
  fixture f;
  std::atomic<int> calls{0};
  auto cfg = three(f, follower(&calls));
  cfg.run.stop = consensus(unanimity) | max_rounds(5);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto first = f.run(*d, "once", {{"question", "2+2?"}});
  REQUIRE(first.status == agora::run_status::settled);
  const auto rev = f.board->revision();
  const int after_first = calls.load();
  const auto stored = f.at("runs/once/result");

  // The same id with another question: not the old answer, an error.
  auto other = f.run(*d, "once", {{"question", "3+3?"}});
  CHECK(other.status == agora::run_status::failed);
  CHECK(other.reason.find("run id 'once' was started with other input") != std::string::npos);
  CHECK(other.reason.find("\"2+2?\"") != std::string::npos);  // what it was started with
  CHECK(other.reason.find("\"3+3?\"") != std::string::npos);
  CHECK(calls.load() == after_first);
  CHECK(f.board->revision() == rev);        // nothing written
  CHECK(f.at("runs/once/result") == stored);
  // The same input still gets the stored result.
  auto again = f.run(*d, "once", {{"question", "2+2?"}});
  CHECK(again.status == agora::run_status::settled);
  CHECK(again.answer == first.answer);
}

TEST_CASE("debate resumes after its orchestrator is killed mid-round", "[agents][debate]") {
  fixture f;
  later threads;
  gate in_round2, release;
  std::atomic<int> carol_calls{0}, others_calls{0};
  auto counting = [&](const debate_turn& t) -> bb::result<json> {
    ++others_calls;
    return json(t.round == 1 ? "1" : "2");
  };
  // carol answers round 1 at once and blocks in round 2 until released.
  auto carol = actors::agent_logic::async(
      [&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        ++carol_calls;
        auto round = t.input["round"].get<int>();
        auto key = t.input["key"].get<std::string>();
        auto answer = json(round == 1 ? "1" : "2");
        if (round == 1) {
          if (auto s = sp.put(key, answer); !s) return (void)done.fail(s.error());
          done.ok({{"answer", answer}});
          return;
        }
        in_round2.open();
        threads.run([&, key, answer, &sp = sp, done] {
          release.wait();
          if (auto s = sp.put(key, answer); !s) return (void)done.fail(s.error());
          done.ok({{"answer", answer}});
        });
      });
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/alice", debater(counting)));
  cfg.debaters.push_back(f.spawn("debater/bob", debater(counting)));
  cfg.debaters.push_back(f.spawn("debater/carol", carol));
  cfg.run.stop = max_rounds(2);
  cfg.run.fallback = fallback::last;

  {
    auto first = spawn_debate(f.rt, f.board, cfg);
    REQUIRE(first);
    auto round2 = f.board->watch("runs/res/answers/2", 0);
    REQUIRE(round2);
    actors::task t;
    t.run_id = "res";
    t.task_id = "run";
    t.input = {{"question", "?"}};
    f.self->send(*first, actors::run_atom::value, t);
    REQUIRE(in_round2.wait());
    // Wait until alice and bob have committed round 2; carol has not. The orchestrator dies.
    for (int seen = 0; seen < 2; ++seen) {
      auto ev = round2->next(10s);
      REQUIRE(ev);
      REQUIRE(*ev);
    }
    caf::anon_send_exit(*first, caf::exit_reason::kill);
  }
  CHECK(f.at("runs/res/round/1").is_object());
  CHECK(f.at("runs/res/round/2").is_null());
  CHECK(others_calls.load() == 4);

  auto second = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(second);
  release.open();  // carol's first round-2 run commits; the re-asked one replays it
  auto r = f.run(*second, "res", {{"question", "?"}});
  CHECK(r.status == run_status::fallback);
  CHECK(r.rounds == 2);
  CHECK(r.answer == "2");
  // Round 1 was not asked again; in round 2 only carol was (unless her first
  // run committed before the new orchestrator looked: then not even she).
  CHECK(others_calls.load() == 4);
  CHECK(carol_calls.load() >= 2);
  CHECK(carol_calls.load() <= 3);
  CHECK(f.commits_with_txn("res/round-1") == 1);
  CHECK(f.commits_with_txn("res/r2:debater:carol/0") == 1);
}

TEST_CASE("debate: the same seed gives the same transcript", "[agents][debate]") {
  auto run_once = [](std::uint32_t seed) {
    fixture f;
    auto logic = debater([seed](const debate_turn& t) -> bb::result<json> {
      // Deterministic in (seed, round, persona): no shared RNG state.
      std::mt19937 rng(seed * 7919u + t.round * 31u + static_cast<std::uint32_t>(std::hash<std::string>{}(t.persona)));
      if (t.round > 2) {
        auto m = t.majority_of_others();
        if (m) return *m;
      }
      return json(std::to_string(rng() % 3));
    });
    debate_config cfg;
    for (std::string p : {"a", "b", "c", "d", "e"}) cfg.debaters.push_back(f.spawn("debater/" + p, logic, p));
    cfg.run.stop = consensus(supermajority(0.8)) | max_rounds(6);
    auto d = spawn_debate(f.rt, f.board, cfg);
    REQUIRE(d);
    f.run(*d, "seeded", {{"question", "pick"}});
    auto text = transcript(*f.board, "seeded");
    REQUIRE(text);
    return *text;
  };
  auto a = run_once(7), b = run_once(7), c = run_once(8);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("debate nests: a debate can be a debater", "[agents][debate]") {
  fixture f;
  debate_config inner;
  inner.debaters.push_back(f.spawn("debater/i1", stubborn("blue")));
  inner.debaters.push_back(f.spawn("debater/i2", stubborn("blue")));
  inner.run.stop = consensus(unanimity) | max_rounds(2);
  inner.id = fixture::id("debate/panel");
  auto panel = spawn_debate(f.rt, f.board, inner);
  REQUIRE(panel);

  debate_config outer;
  outer.debaters.push_back(member{fixture::id("debate/panel"), *panel, ""});
  outer.debaters.push_back(f.spawn("debater/solo", stubborn("blue")));
  outer.run.stop = consensus(unanimity) | max_rounds(2);
  auto d = spawn_debate(f.rt, f.board, outer);
  REQUIRE(d);
  auto r = f.run(*d, "n1", {{"question", "sky?"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "blue");
  // The panel ran its own run, named after the outer task, and wrote its answer where asked.
  CHECK(f.at("runs/n1.r1:debate:panel/result")["status"] == "settled");
  CHECK(f.at("runs/n1/answers/1/debate/panel") == "blue");
}

TEST_CASE("debate stops at its deadline and closes the round at it, without the slow debater",
          "[agents][debate]") {
  fixture f;
  later threads;
  gate release;
  auto never = actors::agent_logic::async([&](const actors::task&, bb::scratchpad&, actors::completion done) {
    threads.run([&, done] {
      release.wait();
      done.fail(bb::error{bb::errc::invalid_argument, "too late"});
    });
  });
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", stubborn("x")));
  cfg.debaters.push_back(f.spawn("debater/slow", never));
  cfg.run.stop = deadline(1s) | max_rounds(5);
  cfg.run.round.timeout = 30s;  // the deadline, not the round timeout, must close the round
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto t0 = std::chrono::steady_clock::now();
  auto r = f.run(*d, "dl", {{"question", "?"}});
  auto took = std::chrono::steady_clock::now() - t0;
  release.open();
  CHECK(r.stopped_by == std::vector<stop_kind>{stop_kind::deadline});
  CHECK(r.rounds == 1);
  CHECK(r.reason.find("deadline: ") == 0);
  CHECK(r.status == run_status::fallback);
  CHECK(r.answer == "x");
  CHECK(took < 10s);  // bounded by the deadline, not by the 30 s round timeout
  CHECK(f.at("runs/dl/round/1")["missing"] == json::array({"debater/slow"}));
}

namespace {

// Answers `answer` and reports usage, as an LLM agent would.
actors::agent_logic billed(json answer, std::uint64_t tokens, double cost) {
  return actors::agent_logic::sync([=](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    if (auto s = sp.put(t.input["key"].get<std::string>(), answer); !s) return std::move(s).take_error();
    return json{{"answer", answer}, {"usage", {{"tokens", tokens}, {"cost_usd", cost}}}};
  });
}

}  // namespace

TEST_CASE("debate stops when the tokens or the money the debaters report reach the budget",
          "[agents][debate]") {
  fixture f;
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", billed("x", 100, 0.01)));
  cfg.debaters.push_back(f.spawn("debater/b", billed("y", 100, 0.01)));
  cfg.debaters.push_back(f.spawn("debater/c", billed("z", 100, 0.01)));
  SECTION("tokens") {
    cfg.run.stop = token_budget(500) | max_rounds(10);
    auto d = spawn_debate(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "tb", {{"question", "?"}});
    CHECK(r.rounds == 2);
    CHECK(r.tokens == 600);
    CHECK(r.reason.find("token_budget: 600 tokens used, budget 500") == 0);
    CHECK(f.at("runs/tb/round/2")["totals"]["tokens"] == 600);
  }
  SECTION("money") {
    cfg.run.stop = cost_budget(0.05) | max_rounds(10);
    auto d = spawn_debate(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "cb", {{"question", "?"}});
    CHECK(r.rounds == 2);
    CHECK(r.cost_usd == Approx(0.06));
    CHECK(r.stopped_by == std::vector<stop_kind>{stop_kind::cost_budget});
  }
}

TEST_CASE("debate settles on a plurality when no majority forms", "[agents][debate]") {
  fixture f;
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/a", stubborn("x")));
  cfg.debaters.push_back(f.spawn("debater/b", stubborn("x")));
  cfg.debaters.push_back(f.spawn("debater/c", stubborn("y")));
  cfg.debaters.push_back(f.spawn("debater/d", stubborn("z")));
  cfg.debaters.push_back(f.spawn("debater/e", stubborn("w")));
  cfg.run.stop = (consensus(majority) | max_rounds(3)) | (consensus(plurality) & max_rounds(2));
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "pl", {{"question", "?"}});
  // Round 1: no majority (2 of 5), and plurality alone may not stop before round 2.
  CHECK(r.rounds == 2);
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "x");
  CHECK(r.reason ==
        "consensus (plurality): 2 of 5 agree on 'x' after round 2 and max_rounds: 2 of 2 rounds done");
}

TEST_CASE("debate traces the run: a span per run and per round, members' task spans under their round",
          "[agents][debate][tracing]") {
  const std::string path = "/tmp/agora-debate-spans-" + std::to_string(::getpid()) + ".jsonl";
  std::remove(path.c_str());
  {
    auto o = test_runtime();
    o.spans_path = path;
    actors::runtime rt{o};
    REQUIRE(rt.tracer().enabled());
    auto board = std::make_shared<bb::blackboard>();
    debate_config cfg;
    const std::vector<std::string> opinions = {"42", "41", "42"};
    for (int i = 0; i < 3; ++i) {
      auto id = fixture::id("debater/d" + std::to_string(i));
      // The runtime's overload: the agent writes its agent.task spans.
      auto a = actors::spawn_agent(rt, board, actors::agent_spec{id, "test", {}},
                                   debater([first = opinions[i]](const debate_turn& t) -> bb::result<json> {
                                     if (t.round == 1) return json(first);
                                     return json(*t.previous_aggregate);
                                   }));
      REQUIRE(a);
      cfg.debaters.push_back({id, *a, ""});
    }
    cfg.run.stop = consensus(unanimity) | max_rounds(5);
    auto d = spawn_debate(rt, board, cfg);  // takes the runtime's tracer
    REQUIRE(d);
    auto r = run_pattern(rt.system(), *d, "traced", {{"question", "6 x 7?"}}, 20s);
    REQUIRE(r);
    CHECK(r->rounds == 2);
    rt.tracer().flush();
  }
  std::ifstream in(path);
  std::vector<json> spans;
  for (std::string line; std::getline(in, line);) spans.push_back(json::parse(line));
  std::remove(path.c_str());
  auto named = [&](const std::string& n) {
    std::vector<json> out;
    for (const auto& s : spans)
      if (s["name"] == n) out.push_back(s);
    return out;
  };
  auto runs = named("pattern.run");
  auto rounds = named("pattern.round");
  auto tasks = named("agent.task");
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["parentSpanId"] == "");
  REQUIRE(rounds.size() == 2);
  REQUIRE(tasks.size() == 6);
  std::set<std::string> round_ids;
  for (const auto& rs : rounds) {
    CHECK(rs["parentSpanId"] == runs[0]["spanId"]);
    CHECK(rs["traceId"] == runs[0]["traceId"]);
    round_ids.insert(rs["spanId"].get<std::string>());
  }
  for (const auto& ts : tasks) {
    CHECK(round_ids.count(ts["parentSpanId"].get<std::string>()) == 1);
    CHECK(ts["traceId"] == runs[0]["traceId"]);
  }
}

TEST_CASE("run_pattern returns as soon as the pattern actor dies, not at its timeout", "[agents][run]") {
  fixture f;
  // A debater that takes its task and never answers: the run stays open.
  std::promise<void> asked;
  auto asked_once = std::make_shared<std::once_flag>();
  auto held = std::make_shared<std::vector<actors::completion>>();
  auto held_mu = std::make_shared<std::mutex>();
  auto silent = actors::agent_logic::async(
      [&asked, asked_once, held, held_mu](const actors::task&, bb::scratchpad&, actors::completion done) {
        {
          std::lock_guard<std::mutex> lk(*held_mu);
          held->push_back(std::move(done));
        }
        std::call_once(*asked_once, [&asked] { asked.set_value(); });
      });
  debate_config cfg;
  cfg.debaters.push_back(f.spawn("debater/silent", silent));
  cfg.run.stop = max_rounds(2);
  cfg.run.round.timeout = std::chrono::minutes(5);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto pattern = *d;
  auto started = std::chrono::steady_clock::now();
  auto result = std::async(std::launch::async, [&] {
    return run_pattern(f.rt.system(), pattern, "killed", {{"question", "?"}}, std::chrono::minutes(5));
  });
  REQUIRE(asked.get_future().wait_for(20s) == std::future_status::ready);  // the round is open
  caf::anon_send_exit(pattern, caf::exit_reason::kill);
  REQUIRE(result.wait_for(20s) == std::future_status::ready);
  auto r = result.get();
  CHECK_FALSE(r);  // an error, not a result
  CHECK(std::chrono::steady_clock::now() - started < 60s);  // far from the 5-minute timeout
  std::lock_guard<std::mutex> lk(*held_mu);
  held->clear();  // the agent is told its logic dropped the task, and can quit
}

TEST_CASE("debate ties between numbers go to the smaller number, not the smaller text", "[agents][debate]") {
  debate_turn t;
  t.round = 2;
  t.others = {{"debater/a", json(10)}, {"debater/b", json(9)}};
  REQUIRE(t.majority_of_others());
  CHECK(*t.majority_of_others() == json(9));  // as text "10" < "9"
  t.others = {{"debater/a", json("pear")}, {"debater/b", json("apple")}};
  CHECK(*t.majority_of_others() == json("apple"));

  // The round's vote: two say 10, two say 9 (no majority); the aggregate is 9.
  fixture f;
  debate_config cfg;
  const char* answers[] = {"10", "9", "10", "9"};
  for (int i = 0; i < 4; ++i) {
    json a = json::parse(answers[i]);
    cfg.debaters.push_back(f.spawn("debater/d" + std::to_string(i), stubborn(a)));
  }
  cfg.run.stop = consensus(majority) | max_rounds(1);
  cfg.run.fallback = fallback::last;
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "tie", {{"question", "?"}});
  CHECK(r.status == run_status::fallback);
  CHECK(r.answer == json(9));
}

TEST_CASE("make_member spawns a member from its id given once; run_pattern on a runtime returns bb errors",
          "[agents][debate]") {
  fixture f;
  debate_config cfg;
  for (const char* id : {"debater/ann", "debater/bob"}) {
    auto m = make_member(f.rt, f.board, id, stubborn(json(42)), "calm");
    REQUIRE(m);
    CHECK(m->id.str() == id);
    CHECK(m->persona == "calm");
    cfg.debaters.push_back(*m);
  }
  auto bad = make_member(f.rt, f.board, "no slash here", stubborn(json(1)));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == bb::errc::invalid_argument);
  CHECK(bad.error().message.find("no slash here") != std::string::npos);

  cfg.run.stop = consensus(unanimity) | max_rounds(2);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  bb::result<run_result> r = run_pattern(f.rt, *d, "q1", {{"question", "?"}}, std::chrono::seconds(20));
  REQUIRE(r);
  CHECK(r->status == run_status::settled);
  CHECK(r->answer == json(42));
  // The answers are under the members' own ids: the id was given once.
  CHECK(f.at(run_keys::answer("q1", 1, *actors::agent_id::parse("debater/ann"))) == json(42));
  // A bad run id is the blackboard's own error, whole.
  auto e = run_pattern(f.rt, *d, "bad run id/", {{"question", "?"}}, std::chrono::seconds(5));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == bb::errc::invalid_argument);
}
