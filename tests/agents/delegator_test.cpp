#include "agora/agents/delegator.hpp"

#include <atomic>
#include <mutex>

#include "agora/agents/debate.hpp"
#include "agora/agents/pipeline.hpp"
#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

// A worker under the contribution protocol: upper-cases its subtask.
actors::agent_logic upper(std::atomic<int>* calls = nullptr) {
  return actors::agent_logic::sync([calls](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    if (calls) ++*calls;
    auto s = t.input.at("input").get<std::string>();
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto st = sp.put(t.input.at("key").get<std::string>(), s); !st) return std::move(st).take_error();
    return json{{"answer", s}};
  });
}

// Splits {"text": "a b c"} into words.
bb::result<std::vector<json>> words(const json& input) {
  std::vector<json> out;
  std::string w;
  for (char c : input.at("text").get<std::string>() + " ") {
    if (c != ' ') {
      w += c;
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  return out;
}

// Joins the answers that came, in subtask order; "_" for the others.
bb::result<json> join(const json&, const std::vector<subtask_result>& rs) {
  std::string out;
  for (const auto& r : rs) out += (out.empty() ? "" : " ") + (r.ok ? r.answer.get<std::string>() : std::string("_"));
  return json(out);
}

}  // namespace

TEST_CASE("delegator decomposes, delegates round-robin and synthesizes", "[agents][delegator]") {
  fixture f;
  std::atomic<int> a_calls{0}, b_calls{0};
  delegator_config cfg;
  cfg.workers.push_back(f.spawn("worker/a", upper(&a_calls)));
  cfg.workers.push_back(f.spawn("worker/b", upper(&b_calls)));
  cfg.decompose = words;
  cfg.synthesize = join;
  auto d = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "d1", {{"text", "to be or not"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "TO BE OR NOT");
  CHECK(r.reason ==
        "delegator: 4 of 4 subtasks done by worker/a, worker/b (decomposed by function); synthesized by function");
  CHECK(a_calls.load() == 2);
  CHECK(b_calls.load() == 2);
  CHECK(f.at("runs/d1/plan") == json({{"subtasks", {"to", "be", "or", "not"}}, {"by", "function"}}));
  CHECK(f.at("runs/d1/subtasks/1") == "BE");
  auto results = f.at("runs/d1/delegation")["results"];
  REQUIRE(results.size() == 4);
  CHECK(results[1]["worker"] == "worker/b");
  CHECK(results[2]["worker"] == "worker/a");
  CHECK(f.at("runs/d1/result")["done"] == 4);
  CHECK(f.commits_with_txn("d1/sub-3/0") == 1);

  // Re-sent: the recorded result; nobody is asked again.
  auto rev = f.board->revision();
  auto again = f.run(*d, "d1", {{"text", "to be or not"}});
  CHECK(again.answer == r.answer);
  CHECK(a_calls.load() + b_calls.load() == 4);
  CHECK(f.board->revision() == rev);
}

TEST_CASE("delegator: agents decompose and synthesize; a subtask may name its worker", "[agents][delegator]") {
  fixture f;
  std::atomic<int> a_calls{0}, b_calls{0};
  delegator_config cfg;
  cfg.workers.push_back(f.spawn("worker/a", upper(&a_calls)));
  cfg.workers.push_back(f.spawn("worker/b", actors::agent_logic::sync(
                                                [&](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
                                                  ++b_calls;
                                                  json in = t.input.at("input");
                                                  std::string answer = in.is_object() ? in.value("text", std::string()) + "!"
                                                                                      : in.get<std::string>();
                                                  if (!in.is_object())
                                                    for (auto& c : answer) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                                                  if (auto s = sp.put(t.input.at("key").get<std::string>(), answer); !s)
                                                    return std::move(s).take_error();
                                                  return json{{"answer", answer}};
                                                })));
  cfg.decompose_agent = f.spawn("planner/p", decomposer([](const json& in) -> bb::result<std::vector<json>> {
                                  std::vector<json> parts = *words(in);
                                  parts.push_back({{"worker", "worker/b"}, {"text", "end"}});
                                  return parts;
                                }));
  cfg.synthesize_agent = f.spawn("writer/w", synthesizer(join));
  auto d = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "d2", {{"text", "x y"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "X Y end!");
  CHECK(r.reason ==
        "delegator: 3 of 3 subtasks done by worker/a, worker/b (decomposed by agent planner/p); synthesized by "
        "agent writer/w");
  CHECK(a_calls.load() == 1);
  CHECK(b_calls.load() == 2);
  CHECK(f.at("runs/d2/decompose").size() == 3);
  CHECK(f.at("runs/d2/synthesis") == "X Y end!");

  SECTION("an unknown worker fails the run, naming it") {
    delegator_config bad = cfg;
    bad.decompose_agent.reset();
    bad.decompose = [](const json&) -> bb::result<std::vector<json>> {
      return std::vector<json>{json{{"worker", "worker/zz"}}};
    };
    auto d2 = spawn_delegator(f.rt, f.board, bad);
    REQUIRE(d2);
    auto res = f.run(*d2, "d3", {{"text", "?"}});
    CHECK(res.status == run_status::failed);
    CHECK(res.reason ==
          "delegator: subtask 0 names worker 'worker/zz', which is not a worker; workers: worker/a, worker/b");
  }
}

TEST_CASE("delegator closes on quorum without the slow worker; a failing worker is reported", "[agents][delegator]") {
  fixture f;
  gate release;
  later threads;
  auto slow = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    auto key = t.input.at("key").get<std::string>();
    threads.run([&, key, &sp = sp, done] {
      release.wait();
      if (auto s = sp.put(key, "LATE"); !s) return (void)done.fail(s.error());
      done.ok({{"answer", "LATE"}});
    });
  });
  auto broken = actors::agent_logic::sync([](const actors::task&, bb::scratchpad&) -> actors::logic_result {
    return bb::error{bb::errc::invalid_argument, "cannot do it"};
  });
  std::mutex mu;
  std::vector<subtask_result> seen;
  delegator_config cfg;
  cfg.workers.push_back(f.spawn("worker/a", upper()));
  cfg.workers.push_back(f.spawn("worker/slow", slow));
  cfg.workers.push_back(f.spawn("worker/b", upper()));
  cfg.workers.push_back(f.spawn("worker/broken", broken));
  cfg.decompose = words;
  cfg.synthesize = [&](const json& in, const std::vector<subtask_result>& rs) {
    std::lock_guard<std::mutex> lock(mu);
    seen = rs;
    return join(in, rs);
  };
  SECTION("quorum") {
    cfg.quorum = 2;
    auto d = spawn_delegator(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "q1", {{"text", "p q r s"}});
    CHECK(r.status == run_status::settled);
    // Closed once two succeeded: the slow one is missing; the broken one failed (or had not answered).
    CHECK(r.answer == "P _ R _");
    {
      std::lock_guard<std::mutex> lock(mu);
      REQUIRE(seen.size() == 4);
      CHECK_FALSE(seen[1].ok);
      CHECK(seen[1].worker == "worker/slow");
      CHECK(seen[1].error == "no answer before the delegation closed");
      CHECK_FALSE(seen[3].ok);
    }
    // The slow answer comes after all: recorded as late, never counted. (The
    // broken worker's failure may be recorded late too, before or after it.)
    const std::string late_key = "runs/q1/late/subtasks/worker/slow";
    auto w = f.board->watch(late_key, 0);
    REQUIRE(w);
    release.open();
    auto ev = w->next(10s);
    REQUIRE(ev);
    REQUIRE(*ev);
    CHECK(f.at(late_key)["answer"] == "LATE");
    CHECK(f.at("runs/q1/delegation")["results"][1]["ok"] == false);
  }
  SECTION("deadline") {
    cfg.timeout = 1s;  // ample for the prompt workers, even on a loaded machine
    auto d = spawn_delegator(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "q2", {{"text", "p q r s"}});
    release.open();
    CHECK(r.status == run_status::settled);
    CHECK(r.answer == "P _ R _");
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(seen.size() == 4);
    CHECK(seen[1].error == "no answer before the delegation closed");
    CHECK(seen[3].error.find("cannot do it") != std::string::npos);
  }
  SECTION("too few succeed for the quorum") {
    cfg.quorum = 3;
    cfg.timeout = 1s;  // ample for the prompt workers, even on a loaded machine
    auto d = spawn_delegator(f.rt, f.board, cfg);
    REQUIRE(d);
    auto r = f.run(*d, "q3", {{"text", "p q r s"}});
    release.open();
    CHECK(r.status == run_status::failed);
    CHECK(r.reason.find("delegator: 2 of 4 subtasks done, quorum 3 needed: subtask 1 (worker/slow) no answer before the "
                        "delegation closed; subtask 3 (worker/broken) ") == 0);
    std::lock_guard<std::mutex> lock(mu);
    CHECK(seen.empty());  // never synthesized
  }
}

TEST_CASE("delegator nests: a delegator is a debater, and a pipeline is a worker", "[agents][delegator]") {
  fixture f;
  pipeline_config pc;
  pc.stages.push_back({f.spawn("stage/upper", stage([](const stage_turn& t) -> bb::result<json> {
                                 // The item is the worker task's input; its subtask is under "input".
                                 auto s = t.input.at("input").get<std::string>();
                                 for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                                 return json(s);
                               }))});
  pc.id = fixture::id("pipeline/up");
  auto p = spawn_pipeline(f.rt, f.board, pc);
  REQUIRE(p);
  delegator_config cfg;
  cfg.workers.push_back(member{fixture::id("pipeline/up"), *p, ""});
  cfg.workers.push_back(f.spawn("worker/a", upper()));
  cfg.decompose = [](const json& in) -> bb::result<std::vector<json>> { return words({{"text", in.at("question")}}); };
  cfg.synthesize = join;
  cfg.id = fixture::id("delegator/team");
  auto d = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE(d);
  debate_config dc;
  dc.debaters.push_back(member{fixture::id("delegator/team"), *d, ""});
  dc.debaters.push_back(f.spawn("debater/solo", debater([](const debate_turn&) -> bb::result<json> {
                                  return json("HELLO WORLD");
                                })));
  dc.run.stop = consensus(unanimity) | max_rounds(2);
  auto deb = spawn_debate(f.rt, f.board, dc);
  REQUIRE(deb);
  auto r = f.run(*deb, "nd", {{"question", "hello world"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "HELLO WORLD");
  CHECK(f.at("runs/nd/answers/1/delegator/team") == "HELLO WORLD");
  const std::string inner = "runs/nd.r1:delegator:team";
  CHECK(f.at(inner + "/delegation")["results"][0]["worker"] == "pipeline/up");
  CHECK(f.at(inner + "/subtasks/0") == "HELLO");
  CHECK(f.at("runs/nd.r1:delegator:team.sub-0/result")["status"] == "settled");
}

TEST_CASE("delegator refuses a configuration without exactly one way to decompose and synthesize",
          "[agents][delegator]") {
  fixture f;
  delegator_config cfg;
  auto none = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "delegator: no workers");
  cfg.workers.push_back(f.spawn("worker/a", upper()));
  cfg.synthesize = join;
  auto no_plan = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE_FALSE(no_plan);
  CHECK(no_plan.error().message == "delegator: set exactly one of decompose and decompose_agent");
  cfg.decompose = words;
  cfg.synthesize_agent = f.spawn("writer/w", synthesizer(join));
  auto both = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE_FALSE(both);
  CHECK(both.error().message == "delegator: set exactly one of synthesize and synthesize_agent");
  cfg.synthesize_agent.reset();
  // A decompose function that fails fails the run with its error.
  cfg.decompose = [](const json&) -> bb::result<std::vector<json>> {
    return bb::error{bb::errc::invalid_argument, "nothing to split"};
  };
  auto d = spawn_delegator(f.rt, f.board, cfg);
  REQUIRE(d);
  auto r = f.run(*d, "x1", {{"text", "?"}});
  CHECK(r.status == run_status::failed);
  CHECK(r.reason == "delegator: the decompose function failed: invalid_argument: nothing to split");
}
