#include "agora/agents/pipeline.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "agora/agents/debate.hpp"
#include "agora/agents/router.hpp"
#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

// "12" → 12; anything else fails the item.
actors::agent_logic parse_int(std::atomic<int>* calls = nullptr) {
  return stage([calls](const stage_turn& t) -> bb::result<json> {
    if (calls) ++*calls;
    if (!t.input.is_string()) return bb::error{bb::errc::invalid_argument, "not text: " + t.input.dump()};
    const auto& s = t.input.get_ref<const std::string&>();
    if (s.empty() || s.find_first_not_of("-0123456789") != std::string::npos)
      return bb::error{bb::errc::invalid_argument, "cannot parse '" + s + "'"};
    return json(std::stoi(s));
  });
}

actors::agent_logic twice() {
  return stage([](const stage_turn& t) -> bb::result<json> {
    if (!t.input.is_number_integer()) return bb::error{bb::errc::invalid_argument, "not a number"};
    return json(t.input.get<int>() * 2);
  });
}

// An async stage that holds the item `hold` until `release` opens (on a
// thread of `threads`) and answers every other item at once with
// `x:<input>` — with `#<call number>` appended when `calls` is given, so
// that running a task again gives another answer.
actors::agent_logic holding(later& threads, gate& release, const std::string& hold, gate* got_it = nullptr,
                            std::atomic<int>* calls = nullptr) {
  return actors::agent_logic::async(
      [&threads, &release, hold, got_it, calls](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        auto key = t.input["key"].get<std::string>();
        json out = "x:" + t.input["input"].dump();
        if (calls) out = out.get<std::string>() + "#" + std::to_string(++*calls);
        if (t.input["item"] != hold) {
          if (auto s = sp.put(key, out); !s) return (void)done.fail(s.error());
          done.ok({{"answer", out}});
          return;
        }
        if (got_it) got_it->open();
        threads.run([&release, &sp = sp, key, out, done] {
          release.wait();
          if (auto s = sp.put(key, out); !s) return (void)done.fail(s.error());
          done.ok({{"answer", out}});
        });
      });
}

member spawn_concurrent(fixture& f, const std::string& who, actors::agent_logic logic) {
  actors::agent_options o;
  o.max_concurrent_tasks = 16;
  auto a = actors::spawn_agent(f.rt.system(), f.board, actors::agent_spec{fixture::id(who), "test", {}},
                               std::move(logic), o);
  REQUIRE(a);
  return member{fixture::id(who), *a, ""};
}

bb::contract non_negative() {
  auto c = bb::contract::from_schema({{"type", "integer"}, {"minimum", 0}});
  REQUIRE(c);
  return *c;
}

}  // namespace

TEST_CASE("pipeline flows every item through its stages and records the results", "[agents][pipeline]") {
  fixture f;
  std::mutex mu;
  std::vector<stage_turn> seen;
  pipeline_config cfg;
  cfg.stages.push_back({f.spawn("stage/parse", parse_int())});
  cfg.stages.push_back({f.spawn("stage/twice", stage([&](const stage_turn& t) -> bb::result<json> {
                                  std::lock_guard<std::mutex> lock(mu);
                                  seen.push_back(t);
                                  return json(t.input.get<int>() * 2);
                                }))});
  cfg.stages.push_back({f.spawn("stage/show", stage([](const stage_turn& t) -> bb::result<json> {
                                  return json("=" + std::to_string(t.input.get<int>()));
                                }))});
  auto p = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE(p);
  auto r = f.run(*p, "b1", {{"items", {"1", "2", "3"}}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == json({{"0", "=2"}, {"1", "=4"}, {"2", "=6"}}));
  CHECK(r.reason == "pipeline: 3 of 3 items completed all 3 stages");

  // Stage 2 got each item's stage-1 output, named by item and stage.
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(seen.size() == 3);
    std::map<std::string, json> inputs;
    for (const auto& t : seen) {
      CHECK(t.stage == 2);
      CHECK(t.run_id == "b1");
      inputs[t.item] = t.input;
    }
    CHECK(inputs == std::map<std::string, json>{{"0", 1}, {"1", 2}, {"2", 3}});
  }
  CHECK(f.at("runs/b1/meta")["pattern"] == "pipeline");
  CHECK(f.at("runs/b1/meta")["policy"] == "stages stage/parse -> stage/twice -> stage/show, max_in_flight 16");
  CHECK(f.at("runs/b1/stages/1/1") == 2);
  CHECK(f.at("runs/b1/stages/1/2") == 4);
  CHECK(f.at("runs/b1/items/2") == json({{"status", "done"}, {"output", "=6"}}));
  CHECK(f.at("runs/b1/result")["completed"] == 3);
  CHECK(f.commits_with_txn("b1/item/0") == 1);
  CHECK(f.commits_with_txn("b1/0:s2/0") == 1);

  // A re-sent task gets the recorded result; nothing runs or commits again.
  auto rev = f.board->revision();
  auto again = f.run(*p, "b1", {{"items", {"1", "2", "3"}}});
  CHECK(again.answer == r.answer);
  CHECK(again.reason == r.reason);
  CHECK(f.board->revision() == rev);
  std::lock_guard<std::mutex> lock(mu);
  CHECK(seen.size() == 3);
}

TEST_CASE("pipeline sends an item that breaks a stage's contract to the DLQ; the others complete",
          "[agents][pipeline]") {
  fixture f;
  std::mutex mu;
  std::set<std::string> reached_stage2;
  pipeline_config cfg;
  cfg.stages.push_back({f.spawn("stage/parse", parse_int()), non_negative()});
  cfg.stages.push_back({f.spawn("stage/twice", stage([&](const stage_turn& t) -> bb::result<json> {
                                  std::lock_guard<std::mutex> lock(mu);
                                  reached_stage2.insert(t.item);
                                  return json(t.input.get<int>() * 2);
                                }))});
  auto p = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE(p);
  auto r = f.run(*p, "c1", {{"items", {{"a", "5"}, {"b", "-3"}, {"c", "7"}}}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == json({{"a", 10}, {"c", 14}}));
  CHECK(r.reason == "pipeline: 2 of 3 items completed all 2 stages; 1 failed (dead letters under _dlq/c1)");
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(reached_stage2 == std::set<std::string>{"a", "c"});  // the bad output never flowed on
  }
  auto dlq = f.at("_dlq/c1/b");
  REQUIRE(dlq.is_object());
  CHECK(dlq["task"]["input"]["stage"] == 1);
  CHECK(dlq["task"]["input"]["stage_agent"] == "stage/parse");
  CHECK(dlq["task"]["input"]["input"] == "-3");
  CHECK(dlq["task"]["input"]["output"] == -3);
  CHECK(dlq["agent"] == "stage/parse");
  CHECK(dlq["error_code"] == "contract_violation");
  auto error = dlq["error"].get<std::string>();
  CHECK(error.find("stage 1 (stage/parse): output for item 'b' breaks the stage's contract") != std::string::npos);
  auto item = f.at("runs/c1/items/b");
  CHECK(item["status"] == "failed");
  CHECK(item["stage"] == 1);
  CHECK(item["dlq"] == "_dlq/c1/b");
  CHECK(f.at("runs/c1/result")["failed"]["b"]["dlq"] == "_dlq/c1/b");
  CHECK(f.at("_dlq/c1/a").is_null());
}

TEST_CASE("pipeline: a failing stage and a slow stage fail only their items", "[agents][pipeline]") {
  fixture f;
  gate release;
  later threads;
  pipeline_config cfg;
  cfg.stages.push_back({f.spawn("stage/check", stage([](const stage_turn& t) -> bb::result<json> {
                                  if (t.input == "bad") return bb::error{bb::errc::invalid_argument, "cannot check 'bad'"};
                                  return t.input;
                                }))});
  cfg.stages.push_back({spawn_concurrent(f, "stage/slow", holding(threads, release, "slow"))});
  cfg.stages[1].timeout = 1s;
  auto p = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE(p);
  auto r = f.run(*p, "t1", {{"items", {{"ok1", "x"}, {"bad", "bad"}, {"slow", "s"}, {"ok2", "y"}}}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == json({{"ok1", "x:\"x\""}, {"ok2", "x:\"y\""}}));
  CHECK(r.reason == "pipeline: 2 of 4 items completed all 2 stages; 2 failed (dead letters under _dlq/t1)");

  auto bad = f.at("_dlq/t1/bad");
  CHECK(bad["task"]["input"]["stage"] == 1);
  CHECK(bad["error"].get<std::string>().find("cannot check 'bad'") != std::string::npos);
  auto slow = f.at("_dlq/t1/slow");
  CHECK(slow["task"]["input"]["stage"] == 2);
  CHECK(slow["task"]["input"]["input"] == "s");
  CHECK(slow["status"] == "deadline_exceeded");
  CHECK(slow["error_code"] == "timeout");
  CHECK(slow["error"].get<std::string>().find("stage 2 (stage/slow) gave no answer for item 'slow' within 1000 ms") !=
        std::string::npos);

  // The slow answer comes after all: recorded as late, never counted.
  const std::string late_key = "runs/t1/late/slow/2/stage/slow";
  auto w = f.board->watch(late_key, 0);
  REQUIRE(w);
  release.open();
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  auto late = f.at(late_key);
  CHECK(late["status"] == "ok");
  CHECK(late["answer"] == "x:\"s\"");
  CHECK(f.at("runs/t1/items/slow")["status"] == "failed");
}

TEST_CASE("pipeline keeps at most max_in_flight items in the pipeline", "[agents][pipeline]") {
  fixture f;
  std::atomic<int> violations{0}, calls{0};
  auto board = f.board;
  pipeline_config cfg;
  // When item i enters stage 1, items 0..i-1 are in the pipeline or done;
  // with at most 2 in flight, at least i-1 of them are recorded as done.
  cfg.stages.push_back({f.spawn("stage/enter", stage([board, &violations, &calls](const stage_turn& t) -> bb::result<json> {
                                  ++calls;
                                  auto done = board->snapshot().list("runs/q1/items");
                                  if (!done) return done.error();
                                  const int i = std::stoi(t.item);
                                  if (static_cast<int>(done->size()) < i - 1) ++violations;
                                  return t.input;
                                }))});
  cfg.stages.push_back({f.spawn("stage/twice", twice())});
  cfg.max_in_flight = 2;
  auto p = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE(p);
  json items = json::array();
  for (int i = 0; i < 8; ++i) items.push_back(i);
  auto r = f.run(*p, "q1", {{"items", items}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer.size() == 8);
  CHECK(r.answer["7"] == 14);
  CHECK(calls.load() == 8);
  CHECK(violations.load() == 0);
}

TEST_CASE("pipeline nests: a stage that is a router, a pipeline that is a debater", "[agents][pipeline]") {
  fixture f;
  SECTION("router stage") {
    router_config rc;
    rc.specialists.push_back(f.spawn("expert/num", twice()));
    rc.specialists.push_back(f.spawn("expert/text", stage([](const stage_turn& t) -> bb::result<json> {
                                       auto s = t.input.get<std::string>();
                                       for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                                       return json(s);
                                     })));
    rc.choose = [](const actors::task& t) -> bb::result<std::string> {
      return std::string(t.input.at("input").is_number() ? "expert/num" : "expert/text");
    };
    rc.id = fixture::id("router/kind");
    auto router = spawn_router(f.rt, f.board, rc);
    REQUIRE(router);
    pipeline_config cfg;
    cfg.stages.push_back({f.spawn("stage/same", stage([](const stage_turn& t) -> bb::result<json> { return t.input; }))});
    cfg.stages.push_back({member{fixture::id("router/kind"), *router, ""}});
    auto p = spawn_pipeline(f.rt, f.board, cfg);
    REQUIRE(p);
    auto r = f.run(*p, "n1", {{"items", {"abc", 4}}});
    CHECK(r.status == run_status::settled);
    CHECK(r.answer == json({{"0", "ABC"}, {"1", 8}}));
    // The router ran its own run per item, named after the stage's task.
    CHECK(f.at("runs/n1.0:s2/route")["specialist"] == "expert/text");
    CHECK(f.at("runs/n1.1:s2/route")["specialist"] == "expert/num");
    CHECK(f.at("runs/n1/stages/1/2") == 8);
  }
  SECTION("pipeline debater") {
    pipeline_config cfg;
    // The item is the debate's task input; stage 1 reads its question.
    cfg.stages.push_back({f.spawn("stage/ask", stage([](const stage_turn& t) -> bb::result<json> {
                                    return t.input.at("question");
                                  }))});
    cfg.stages.push_back({f.spawn("stage/answer", stage([](const stage_turn& t) -> bb::result<json> {
                                    return json(t.input == "6 x 7?" ? "42" : "?");
                                  }))});
    cfg.id = fixture::id("pipeline/thinker");
    auto p = spawn_pipeline(f.rt, f.board, cfg);
    REQUIRE(p);
    debate_config dc;
    dc.debaters.push_back(member{fixture::id("pipeline/thinker"), *p, ""});
    dc.debaters.push_back(f.spawn("debater/solo", debater([](const debate_turn&) -> bb::result<json> { return json("42"); })));
    dc.run.stop = consensus(unanimity) | max_rounds(2);
    auto d = spawn_debate(f.rt, f.board, dc);
    REQUIRE(d);
    auto r = f.run(*d, "pd", {{"question", "6 x 7?"}});
    CHECK(r.status == run_status::settled);
    CHECK(r.answer == "42");
    CHECK(r.rounds == 1);
    CHECK(f.at("runs/pd/answers/1/pipeline/thinker") == "42");
    CHECK(f.at("runs/pd.r1:pipeline:thinker/result")["reason"] == "pipeline: the item completed all 2 stages");
  }
}

TEST_CASE("pipeline resumes after it is killed: recorded items and stage outputs are not redone",
          "[agents][pipeline]") {
  fixture f;
  gate release, holding_b;
  later threads;
  std::atomic<int> parse_calls{0}, second_calls{0};
  pipeline_config cfg;
  cfg.stages.push_back({f.spawn("stage/parse", parse_int(&parse_calls))});
  cfg.stages.push_back({spawn_concurrent(f, "stage/second", holding(threads, release, "b", &holding_b, &second_calls))});
  {
    auto first = spawn_pipeline(f.rt, f.board, cfg);
    REQUIRE(first);
    auto items = f.board->watch("runs/res/items", 0);
    REQUIRE(items);
    actors::task t;
    t.run_id = "res";
    t.task_id = "run";
    t.input = {{"items", {{"a", "1"}, {"b", "2"}}}};
    f.self->send(*first, actors::run_atom::value, t);
    REQUIRE(holding_b.wait());
    auto ev = items->next(10s);  // item a is recorded; b waits in stage 2
    REQUIRE(ev);
    REQUIRE(*ev);
    caf::anon_send_exit(*first, caf::exit_reason::kill);
  }
  CHECK(f.at("runs/res/items/a")["status"] == "done");
  CHECK(f.at("runs/res/items/b").is_null());
  CHECK(parse_calls.load() == 2);

  auto second = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE(second);
  release.open();
  auto r = f.run(*second, "res", {{"items", {{"a", "1"}, {"b", "2"}}}});
  CHECK(r.status == run_status::settled);
  // The outputs are the ones committed, also when stage 2 ran b again and
  // its second run replayed the first commit (or the other way round).
  CHECK(r.answer["a"] == f.at("runs/res/stages/a/2"));
  CHECK(r.answer["b"] == f.at("runs/res/stages/b/2"));
  CHECK(r.answer["a"].get<std::string>().rfind("x:1#", 0) == 0);
  CHECK(r.answer["b"].get<std::string>().rfind("x:2#", 0) == 0);
  CHECK(parse_calls.load() == 2);  // b's stage-1 output was reused
  CHECK(second_calls.load() >= 2);
  CHECK(second_calls.load() <= 3);  // a once; b once, or twice when the restart asked again
  CHECK(f.commits_with_txn("res/item/a") == 1);
  CHECK(f.commits_with_txn("res/b:s2/0") == 1);
}

TEST_CASE("pipeline refuses bad configurations and bad item names", "[agents][pipeline]") {
  fixture f;
  pipeline_config cfg;
  auto none = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "pipeline: no stages");
  cfg.stages.push_back({f.spawn("stage/parse", parse_int())});
  cfg.max_in_flight = 0;
  auto zero = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().message == "pipeline: max_in_flight must be at least 1");
  cfg.max_in_flight = 4;
  cfg.stages.push_back({member{fixture::id("stage/ghost"), {}, ""}});
  auto ghost = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE_FALSE(ghost);
  CHECK(ghost.error().message == "pipeline: member stage/ghost has no actor");
  cfg.stages.pop_back();
  auto p = spawn_pipeline(f.rt, f.board, cfg);
  REQUIRE(p);
  auto r = f.run(*p, "bad", {{"items", {{"a/b", "1"}}}});
  CHECK(r.status == run_status::failed);
  CHECK(r.reason == "pipeline: item name 'a/b' is not a single key segment (no '/', no control characters)");
  // A single item that fails is a failed run whose reason names the stage and the DLQ.
  auto one = f.run(*p, "one", {{"text", "x"}});
  CHECK(one.status == run_status::failed);
  CHECK(one.reason.find("pipeline: the item failed at stage 1 (stage/parse)") == 0);
  CHECK(one.reason.find("dead letter _dlq/one/item") != std::string::npos);
  CHECK(f.at("_dlq/one/item")["task"]["input"]["input"] == json({{"text", "x"}}));
}
