#include "agora/agents/evaluator_loop.hpp"

#include <atomic>
#include <map>
#include <optional>
#include <random>

#include "agora/agents/debate.hpp"
#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

/// What members saw, in the order they saw it (thread-safe).
class sightings {
 public:
  void add(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

std::string text(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

std::string describe(const generator_turn& t) {
  std::string out = "r" + std::to_string(t.round) + " previous=" + (t.previous ? text(*t.previous) : "-");
  out += " critiques={";
  bool first = true;
  for (const auto& [who, e] : t.critiques) {
    out += (first ? "" : " ") + who + ": " + e.critique + (e.pass ? " (pass)" : " (fail)");
    first = false;
  }
  out += "}";
  if (t.previous_score) out += " score=" + text(*t.previous_score);
  if (t.best) out += " best=" + text(*t.best) + "@" + std::to_string(t.best_round);
  return out;
}

// "v<round>", recording what it saw.
actors::agent_logic versions(sightings* seen = nullptr) {
  return generator([seen](const generator_turn& t) -> bb::result<json> {
    if (seen) seen->add(describe(t));
    return json("v" + std::to_string(t.round));
  });
}

// Scores candidate "v<r>" with scores[r - 1]; passes at 0.8.
actors::agent_logic by_round(std::vector<double> scores) {
  return evaluator([scores](const evaluator_turn& t) -> bb::result<evaluation> {
    double s = scores.at(t.round - 1);
    return evaluation{s >= 0.8, s, s >= 0.8 ? "" : "more in " + text(t.candidate)};
  });
}

// Always the same verdict.
actors::agent_logic fixed(bool pass, double score) {
  return evaluator([pass, score](const evaluator_turn&) -> bb::result<evaluation> {
    return evaluation{pass, score, pass ? "fine" : "not yet"};
  });
}

}  // namespace

TEST_CASE("evaluator loop revises with the critiques until the quality threshold",
          "[agents][evaluator_loop]") {
  fixture f;
  sightings seen;
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", versions(&seen));
  cfg.evaluators.push_back(f.spawn("critic/a", by_round({0.3, 0.6, 0.9, 1.0})));
  cfg.run.stop = quality_threshold(0.8) | max_rounds(5);
  auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE(loop);
  auto r = f.run(*loop, "q1", {{"task", "write"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "v3");
  CHECK(r.rounds == 3);
  CHECK(r.reason == "quality_threshold: score 0.9 >= 0.8 in round 3");
  CHECK(r.stopped_by == std::vector<stop_kind>{stop_kind::quality});
  // The generator saw the last candidate, its critiques and the best so far.
  CHECK(seen.lines() == std::vector<std::string>{
                            "r1 previous=- critiques={}",
                            "r2 previous=v1 critiques={critic/a: more in v1 (fail)} score=0.3 best=v1@1",
                            "r3 previous=v2 critiques={critic/a: more in v2 (fail)} score=0.6 best=v2@2"});
  CHECK(f.at("runs/q1/answers/2/gen/g") == "v2");
  CHECK(f.at("runs/q1/answers/2/critic/a") == json({{"pass", false}, {"score", 0.6}, {"critique", "more in v2"}}));
  auto round3 = f.at("runs/q1/round/3");
  CHECK(round3["candidate"] == "v3");
  CHECK(round3["score"] == 0.9);
  CHECK(round3["pass"] == true);
  CHECK(round3["best"] == json({{"round", 3}, {"score", 0.9}, {"candidate", "v3"}}));
  CHECK(round3["summary"]["quality"] == 0.9);
  CHECK(round3["summary"]["answers"] == json({{"critic/a", "v3"}}));  // critic/a passed it
  CHECK(f.commits_with_txn("q1/r3:gen:g/0") == 1);
  CHECK(f.commits_with_txn("q1/r3s1:critic:a/0") == 1);
}

TEST_CASE("evaluator loop combines several evaluators: mean or min, pass only when all pass",
          "[agents][evaluator_loop]") {
  fixture f;
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", versions());
  cfg.evaluators.push_back(f.spawn("critic/a", fixed(true, 0.9)));
  cfg.evaluators.push_back(f.spawn("critic/b", fixed(true, 0.5)));
  cfg.evaluators.push_back(f.spawn("critic/c", fixed(false, 0.7)));
  cfg.run.stop = consensus(unanimity) | max_rounds(1);
  SECTION("mean") {
    auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
    REQUIRE(loop);
    auto r = f.run(*loop, "mean", json::object());
    CHECK(r.status == run_status::fallback);  // not every evaluator passed
    CHECK(r.answer == "v1");
    auto round = f.at("runs/mean/round/1");
    CHECK(round["score"].get<double>() == Approx(0.7));
    CHECK(round["pass"] == false);
    CHECK(round["combine"] == "mean");
    CHECK(round["summary"]["expected"] == 3);
    CHECK(round["summary"]["answers"] == json({{"critic/a", "v1"}, {"critic/b", "v1"}}));
  }
  SECTION("min") {
    cfg.combine = score_combine::min;
    cfg.run.stop = quality_threshold(0.6) | max_rounds(1);
    auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
    REQUIRE(loop);
    auto r = f.run(*loop, "min", json::object());
    CHECK(r.status == run_status::fallback);  // the lowest score, 0.5, is under 0.6
    CHECK(f.at("runs/min/round/1")["score"] == 0.5);
  }
  SECTION("consensus(majority): most evaluators pass the candidate") {
    cfg.run.stop = consensus(majority) | max_rounds(3);
    auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
    REQUIRE(loop);
    auto r = f.run(*loop, "maj", json::object());
    CHECK(r.status == run_status::settled);
    CHECK(r.answer == "v1");
    CHECK(r.reason == "consensus (majority): 2 of 3 agree on 'v1' after round 1");
  }
}

TEST_CASE("evaluator loop keeps the best candidate so far", "[agents][evaluator_loop]") {
  fixture f;
  sightings seen;
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", versions(&seen));
  cfg.evaluators.push_back(f.spawn("critic/a", by_round({0.5, 0.7, 0.4, 0.6})));
  SECTION("a limit stops it: the fallback gives the best, whichever") {
    cfg.run.stop = max_rounds(3);
    for (auto fb : {fallback::best_so_far, fallback::last}) {
      cfg.run.fallback = fb;
      auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
      REQUIRE(loop);
      const std::string run = std::string("b1-") + to_string(fb);
      auto r = f.run(*loop, run, json::object());
      CHECK(r.status == run_status::fallback);
      CHECK(r.answer == "v2");
      CHECK(f.at("runs/" + run + "/round/3")["best"] == json({{"round", 2}, {"score", 0.7}, {"candidate", "v2"}}));
      CHECK(seen.lines().back() == "r3 previous=v2 critiques={critic/a: more in v2 (fail)} score=0.7 best=v2@2");
    }
  }
  SECTION("stable_answer: the best has not improved for 3 rounds") {
    cfg.run.stop = stable_answer(3) | max_rounds(6);
    auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
    REQUIRE(loop);
    auto r = f.run(*loop, "b2", json::object());
    CHECK(r.status == run_status::settled);
    CHECK(r.answer == "v2");
    CHECK(r.rounds == 4);
    CHECK(r.reason == "stable_answer: 'v2' unchanged for 3 round(s), up to round 4");
  }
}

TEST_CASE("evaluator loop: quiescence stops a generator that stopped revising", "[agents][evaluator_loop]") {
  fixture f;
  evaluator_loop_config cfg;
  // Revises twice, then keeps proposing the same candidate.
  cfg.generator = f.spawn("gen/g", generator([](const generator_turn& t) -> bb::result<json> {
    return json("v" + std::to_string(std::min<std::uint32_t>(t.round, 3)));
  }));
  cfg.evaluators.push_back(f.spawn("critic/a", fixed(false, 0.5)));
  cfg.run.stop = quiescence(2) | max_rounds(10);
  auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE(loop);
  auto r = f.run(*loop, "qu", json::object());
  CHECK(r.status == run_status::fallback);
  CHECK(r.rounds == 5);  // v3 in rounds 3, 4 and 5: no new candidate in 4 and 5
  CHECK(r.reason.find("quiescence: no new contribution in the last 2 round(s), up to round 5") == 0);
  CHECK(r.answer == "v1");  // every candidate scored 0.5: the first stays the best
}

TEST_CASE("evaluator loop closes the verdicts on quorum without the slow evaluator",
          "[agents][evaluator_loop]") {
  fixture f;
  later threads;
  gate release;
  auto slow = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    threads.run([&, t, &sp = sp, done] {
      release.wait();
      json v = evaluation{true, 0.0, "too late"}.to_json();
      if (auto s = sp.put(t.input["key"].get<std::string>(), v); !s) return (void)done.fail(s.error());
      done.ok({{"answer", v}, {"pass", true}, {"score", 0.0}});
    });
  });
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", versions());
  cfg.evaluators.push_back(f.spawn("critic/a", fixed(true, 0.8)));
  cfg.evaluators.push_back(f.spawn("critic/b", fixed(true, 1.0)));
  cfg.evaluators.push_back(f.spawn("critic/slow", slow));
  cfg.run.stop = quality_threshold(0.9) | max_rounds(3);
  cfg.run.round.quorum = 2;
  auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE(loop);
  auto r = f.run(*loop, "s1", json::object());
  CHECK(r.status == run_status::settled);
  CHECK(r.reason == "quality_threshold: score 0.9 >= 0.9 in round 1");  // the mean of the two on time
  auto round = f.at("runs/s1/round/1");
  CHECK(round["missing"] == json::array({"critic/slow"}));
  CHECK(round["summary"]["late"] == 1);
  CHECK(round["evaluations"].size() == 2);
  auto w = f.board->watch("runs/s1/late", 0);
  REQUIRE(w);
  release.open();
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  auto late = f.at("runs/s1/late/1/critic/slow");
  CHECK(late["status"] == "ok");
  CHECK(late["answer"]["critique"] == "too late");
  CHECK(f.at("runs/s1/round/1")["score"] == 0.9);  // never counted
}

TEST_CASE("evaluator loop counts a failing generator or evaluator as failed and goes on",
          "[agents][evaluator_loop]") {
  fixture f;
  std::atomic<int> evaluated{0};
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", generator([](const generator_turn& t) -> bb::result<json> {
    if (t.round == 1) return bb::error{bb::errc::invalid_argument, "writer's block"};
    return json("v" + std::to_string(t.round));
  }));
  cfg.evaluators.push_back(f.spawn("critic/a", evaluator([&evaluated](const evaluator_turn&) -> bb::result<evaluation> {
    ++evaluated;
    return evaluation{true, 0.75, "ok"};
  })));
  cfg.evaluators.push_back(f.spawn("critic/broken", evaluator([](const evaluator_turn&) -> bb::result<evaluation> {
    return bb::error{bb::errc::invalid_argument, "cannot read today"};
  })));
  // Answers without a verdict: a protocol error of its own.
  cfg.evaluators.push_back(f.spawn("critic/vague", actors::agent_logic::sync([](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    json v = {{"comment", "looks fine"}};
    if (auto s = sp.put(t.input["key"].get<std::string>(), v); !s) return std::move(s).take_error();
    return json{{"answer", v}};
  })));
  cfg.run.stop = max_rounds(2);
  auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE(loop);
  auto r = f.run(*loop, "f1", json::object());
  CHECK(r.status == run_status::fallback);
  CHECK(r.answer == "v2");
  auto round1 = f.at("runs/f1/round/1");
  CHECK(round1["candidate"].is_null());
  CHECK(round1["failed"]["gen/g"].get<std::string>().find("writer's block") != std::string::npos);
  CHECK(round1["summary"]["aggregate"].is_null());
  auto round2 = f.at("runs/f1/round/2");
  CHECK(round2["failed"]["critic/broken"].get<std::string>().find("cannot read today") != std::string::npos);
  CHECK(round2["failed"]["critic/vague"].get<std::string>().find("has neither 'pass' nor 'score'") != std::string::npos);
  CHECK(round2["score"] == 0.75);
  CHECK(evaluated.load() == 1);  // nobody was asked to judge round 1's missing candidate
}

TEST_CASE("evaluator loop refuses configurations it cannot run", "[agents][evaluator_loop]") {
  fixture f;
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", versions());
  cfg.run.stop = max_rounds(2);
  auto none = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "evaluator_loop: no evaluators");
  cfg.evaluators.push_back(cfg.generator);
  auto twice = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message == "evaluator_loop: member id gen/g appears twice");
  cfg.evaluators = {f.spawn("critic/a", fixed(true, 1.0))};
  cfg.run.stop = quality_threshold(0.9);
  auto unbounded = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE_FALSE(unbounded);
  CHECK(unbounded.error().message.find("may never stop") != std::string::npos);
  cfg.generator = member{};
  cfg.run.stop = max_rounds(1);
  auto no_generator = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE_FALSE(no_generator);
  CHECK(no_generator.error().message == "evaluator_loop: member 0 has no id");
}

TEST_CASE("evaluator loop nests: a debate whose debaters are evaluator loops",
          "[agents][evaluator_loop][debate]") {
  fixture f;
  sightings seen;
  // Each loop's writer starts from its persona's guess and fixes it once criticized.
  auto writer = generator([&seen](const generator_turn& t) -> bb::result<json> {
    seen.add(t.persona + " r" + std::to_string(t.round) + " question=" + text(t.input.value("question", json())));
    if (t.previous && !t.critiques.empty() && !t.previous_pass) return json("42");
    return json(t.persona.empty() ? "42" : t.persona);
  });
  auto checker = evaluator([](const evaluator_turn& t) -> bb::result<evaluation> {
    bool right = t.candidate == "42";
    return evaluation{right, right ? 1.0 : 0.2, right ? "" : "check the arithmetic"};
  });
  debate_config cfg;
  for (std::string name : {"alice", "bob", "carol"}) {
    evaluator_loop_config loop;
    loop.generator = f.spawn("gen/" + name, writer, name == "bob" ? "41" : "");
    loop.evaluators.push_back(f.spawn("critic/" + name, checker));
    loop.run.stop = quality_threshold(1.0) | max_rounds(3);
    loop.id = fixture::id("loop/" + name);
    auto l = spawn_evaluator_loop(f.rt, f.board, loop);
    REQUIRE(l);
    cfg.debaters.push_back(member{loop.id, *l, ""});
  }
  cfg.run.stop = consensus(unanimity) | max_rounds(2);
  auto d = spawn_debate(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "n", {{"question", "6 x 7?"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "42");
  CHECK(r.reason == "consensus (unanimity): 3 of 3 agree on '42' after round 1");
  // Each loop ran a run of its own, named after the debate's task, and wrote its answer where asked.
  CHECK(f.at("runs/n.r1:loop:bob/result")["status"] == "settled");
  CHECK(f.at("runs/n.r1:loop:bob/result")["rounds"] == 2);  // 41, criticized, then 42
  CHECK(f.at("runs/n.r1:loop:alice/result")["rounds"] == 1);
  CHECK(f.at("runs/n/answers/1/loop/bob") == "42");
  // The loops' writers got the debate's question through the nesting.
  auto lines = seen.lines();
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{" r1 question=6 x 7?", " r1 question=6 x 7?", "41 r1 question=6 x 7?",
                                          "41 r2 question=6 x 7?"});
}

TEST_CASE("evaluator loop resumes after its orchestrator is killed mid-round", "[agents][evaluator_loop]") {
  fixture f;
  later threads;
  gate in_round2, asked_again, release_first, release_second;
  std::atomic<int> gen_calls{0}, critic_calls{0}, critic_round2{0};
  auto gen = generator([&](const generator_turn& t) -> bb::result<json> {
    ++gen_calls;
    return json("v" + std::to_string(t.round));
  });
  // The critic judges round 1 at once. In round 2 its first run (asked by
  // the first orchestrator) and its second (asked again by the second one)
  // block until released; the second would give another verdict.
  auto critic = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    ++critic_calls;
    auto round = t.input["round"].get<int>();
    auto key = t.input["key"].get<std::string>();
    const int run = round == 2 ? ++critic_round2 : 0;
    json v = round == 1 ? evaluation{false, 0.4, "r1"}.to_json()
                        : run == 1 ? evaluation{true, 0.9, "r2"}.to_json() : evaluation{false, 0.1, "r2#2"}.to_json();
    auto finish = [key, v, &sp = sp, done] {
      if (auto s = sp.put(key, v); !s) return (void)done.fail(s.error());
      done.ok({{"answer", v}, {"pass", v["pass"]}, {"score", v["score"]}, {"critique", v["critique"]}});
    };
    if (round == 1) return finish();
    (run == 1 ? in_round2 : asked_again).open();
    threads.run([&, finish, run] {
      (run == 1 ? release_first : release_second).wait();
      finish();
    });
  });
  actors::agent_options two_at_once;
  two_at_once.max_concurrent_tasks = 2;
  auto critic_actor = actors::spawn_agent(f.rt.system(), f.board, actors::agent_spec{fixture::id("critic/c"), "test", {}}, critic, two_at_once);
  REQUIRE(critic_actor);
  evaluator_loop_config cfg;
  cfg.generator = f.spawn("gen/g", gen);
  cfg.evaluators.push_back({fixture::id("critic/c"), *critic_actor, ""});
  cfg.run.stop = max_rounds(2);
  {
    auto first = spawn_evaluator_loop(f.rt, f.board, cfg);
    REQUIRE(first);
    actors::task t;
    t.run_id = "el";
    t.task_id = "run";
    t.input = json::object();
    f.self->send(*first, actors::run_atom::value, t);
    REQUIRE(in_round2.wait());  // round 2's candidate is committed: its verdicts come after it
    caf::anon_send_exit(*first, caf::exit_reason::kill);
  }
  CHECK(f.at("runs/el/round/1")["score"] == 0.4);
  CHECK(f.at("runs/el/round/2").is_null());
  CHECK(f.at("runs/el/answers/2/gen/g") == "v2");

  auto second = spawn_evaluator_loop(f.rt, f.board, cfg);
  REQUIRE(second);
  std::optional<caf::expected<run_result>> finished;
  std::thread runner([&] { finished = run_pattern(f.rt.system(), *second, "el", json::object(), 20s); });
  // The critic is asked again (its first verdict has not committed); the
  // first verdict then commits, and the second run replays it.
  CHECK(asked_again.wait());
  auto committed = f.board->watch("runs/el/answers/2/critic/c", 0);
  REQUIRE(committed);
  release_first.open();
  auto ev = committed->next(10s);
  CHECK(ev);
  release_second.open();
  runner.join();
  REQUIRE(finished);
  REQUIRE(*finished);
  const run_result& r = **finished;
  CHECK(r.status == run_status::fallback);
  CHECK(r.rounds == 2);
  CHECK(r.answer == "v2");
  // The verdict that counts is the one committed, not the replaying run's.
  CHECK(f.at("runs/el/round/2")["evaluations"]["critic/c"] == json({{"pass", true}, {"score", 0.9}, {"critique", "r2"}}));
  CHECK(f.at("runs/el/round/2")["score"] == 0.9);
  // The candidate of round 2 was not asked for again; nothing was committed twice.
  CHECK(gen_calls.load() == 2);
  CHECK(critic_calls.load() == 3);
  CHECK(f.commits_with_txn("el/round-1") == 1);
  CHECK(f.commits_with_txn("el/round-2") == 1);
  CHECK(f.commits_with_txn("el/r2:gen:g/0") == 1);
  CHECK(f.commits_with_txn("el/r2s1:critic:c/0") == 1);
  CHECK(f.commits_with_txn("el/result") == 1);
}

TEST_CASE("evaluator loop: the same seed gives the same transcript", "[agents][evaluator_loop]") {
  auto run_once = [](std::uint32_t seed) {
    fixture f;
    // Deterministic in (seed, round): no shared RNG state.
    auto gen = generator([seed](const generator_turn& t) -> bb::result<json> {
      std::mt19937 rng(seed * 7919u + t.round * 31u);
      return json("draft-" + std::to_string(rng() % 1000));
    });
    auto critic = evaluator([seed](const evaluator_turn& t) -> bb::result<evaluation> {
      std::mt19937 rng(seed * 104729u + static_cast<std::uint32_t>(std::hash<std::string>{}(text(t.candidate))));
      double score = static_cast<double>(rng() % 100) / 100.0;
      return evaluation{score >= 0.9, score, "score " + std::to_string(rng() % 100)};
    });
    evaluator_loop_config cfg;
    cfg.generator = f.spawn("gen/g", gen);
    cfg.evaluators.push_back(f.spawn("critic/a", critic));
    cfg.evaluators.push_back(f.spawn("critic/b", critic));
    cfg.run.stop = quality_threshold(0.9) | max_rounds(5);
    auto loop = spawn_evaluator_loop(f.rt, f.board, cfg);
    REQUIRE(loop);
    f.run(*loop, "seeded", {{"task", "write"}});
    auto out = transcript(*f.board, "seeded");
    REQUIRE(out);
    return *out;
  };
  auto a = run_once(7), b = run_once(7), c = run_once(8);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a.find("run seeded: evaluator_loop, policy quality_threshold(0.9) | max_rounds(5)") == 0);
}
