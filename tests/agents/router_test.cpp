#include "agora/agents/router.hpp"

#include <atomic>

#include "agora/agents/debate.hpp"
#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

// A specialist under the contribution protocol: answers `<name>:<topic>`.
actors::agent_logic specialist(const std::string& name, std::atomic<int>* calls = nullptr, json extra = json::object()) {
  return actors::agent_logic::sync(
      [name, calls, extra](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (calls) ++*calls;
        json answer = name + ":" + t.input.value("topic", std::string("?"));
        if (auto s = sp.put(t.input.at("key").get<std::string>(), answer); !s) return std::move(s).take_error();
        json result = extra;
        result["answer"] = answer;
        return result;
      });
}

choose_fn by_topic() {
  return [](const actors::task& t) -> bb::result<std::string> {
    return std::string(t.input.value("topic", std::string()) == "invoice" ? "expert/billing" : "expert/tech");
  };
}

std::pair<actors::outcome, bool> ask(fixture& f, const actors::agent_actor& a, const std::string& run, json input) {
  actors::task t;
  t.run_id = run;
  t.task_id = "run";
  t.input = std::move(input);
  actors::outcome got;
  bool replied = false;
  f.self->request(a, 20s, actors::run_atom::value, t)
      .receive(
          [&](actors::outcome& o) {
            got = std::move(o);
            replied = true;
          },
          [&](caf::error& e) { FAIL("request failed: " << actors::render(e)); });
  return {got, replied};
}

}  // namespace

TEST_CASE("router: a function picks the specialist, whose outcome is returned", "[agents][router]") {
  fixture f;
  std::atomic<int> billing_calls{0}, tech_calls{0};
  router_config cfg;
  cfg.specialists.push_back(f.spawn("expert/billing", specialist("billing", &billing_calls, {{"score", 0.9}}), "money"));
  cfg.specialists.push_back(f.spawn("expert/tech", specialist("tech", &tech_calls)));
  cfg.choose = by_topic();
  auto r = spawn_router(f.rt, f.board, cfg);
  REQUIRE(r);
  auto [o, replied] = ask(f, *r, "t1", {{"topic", "invoice"}});
  REQUIRE(replied);
  CHECK(o.ok());
  CHECK(o.result["answer"] == "billing:invoice");
  CHECK(o.result["score"] == 0.9);  // the specialist's own fields come along
  CHECK(o.result["specialist"] == "expert/billing");
  CHECK(o.result["reason"] == "router: routed to expert/billing (chosen by function)");
  CHECK(billing_calls.load() == 1);
  CHECK(tech_calls.load() == 0);
  CHECK(f.at("runs/t1/route") == json({{"specialist", "expert/billing"}, {"by", "function"}}));
  CHECK(f.at("runs/t1/answer") == "billing:invoice");
  CHECK(f.at("runs/t1/meta")["policy"] == "route by function to one of expert/billing, expert/tech");

  // Re-sent: the recorded result, not a second forward.
  auto rev = f.board->revision();
  auto again = f.run(*r, "t1", {{"topic", "invoice"}});
  CHECK(again.status == run_status::settled);
  CHECK(again.answer == "billing:invoice");
  CHECK(billing_calls.load() == 1);
  CHECK(f.board->revision() == rev);

  auto other = f.run(*r, "t2", {{"topic", "crash"}});
  CHECK(other.answer == "tech:crash");
  CHECK(tech_calls.load() == 1);
}

TEST_CASE("router: an agent picks the specialist", "[agents][router]") {
  fixture f;
  router_config cfg;
  cfg.specialists.push_back(f.spawn("expert/billing", specialist("billing"), "invoices and refunds"));
  cfg.specialists.push_back(f.spawn("expert/tech", specialist("tech"), "crashes"));
  std::vector<std::string> offered;
  json seen_input;
  cfg.choose_agent = f.spawn("router/picker", chooser([&](const json& input, const std::vector<std::string>& ids)
                                                          -> bb::result<std::string> {
                                offered = ids;
                                seen_input = input;
                                return std::string("expert/tech");
                              }));
  auto r = spawn_router(f.rt, f.board, cfg);
  REQUIRE(r);
  auto res = f.run(*r, "a1", {{"topic", "crash"}});
  CHECK(res.status == run_status::settled);
  CHECK(res.answer == "tech:crash");
  CHECK(res.reason == "router: routed to expert/tech (chosen by agent router/picker)");
  CHECK(offered == std::vector<std::string>{"expert/billing", "expert/tech"});
  CHECK(seen_input == json({{"topic", "crash"}}));
  CHECK(f.at("runs/a1/choice") == "expert/tech");
  CHECK(f.at("runs/a1/route")["by"] == "agent router/picker");
}

TEST_CASE("router: a choice that is not a specialist fails with an error naming it", "[agents][router]") {
  fixture f;
  router_config cfg;
  cfg.specialists.push_back(f.spawn("expert/billing", specialist("billing")));
  cfg.specialists.push_back(f.spawn("expert/tech", specialist("tech")));
  SECTION("by function") {
    cfg.choose = [](const actors::task&) -> bb::result<std::string> { return std::string("expert/legal"); };
    auto r = spawn_router(f.rt, f.board, cfg);
    REQUIRE(r);
    auto [o, replied] = ask(f, *r, "u1", {{"topic", "contract"}});
    REQUIRE(replied);
    CHECK_FALSE(o.ok());
    CHECK(o.error == actors::errc::no_agent);
    CHECK(actors::render(o.error).find("router: the choice 'expert/legal' (by function) is not a specialist; "
                                       "specialists: expert/billing, expert/tech") != std::string::npos);
    CHECK(o.result["status"] == "failed");
  }
  SECTION("by agent") {
    cfg.choose_agent = f.spawn("router/picker", chooser([](const json&, const std::vector<std::string>&)
                                                            -> bb::result<std::string> { return std::string("nobody/x"); }));
    auto r = spawn_router(f.rt, f.board, cfg);
    REQUIRE(r);
    auto res = f.run(*r, "u2", {{"topic", "?"}});
    CHECK(res.status == run_status::failed);
    CHECK(res.reason ==
          "router: the choice 'nobody/x' (by agent router/picker) is not a specialist; specialists: expert/billing, "
          "expert/tech");
  }
  SECTION("a choose function that fails") {
    cfg.choose = [](const actors::task&) -> bb::result<std::string> {
      return bb::error{bb::errc::invalid_argument, "no idea"};
    };
    auto r = spawn_router(f.rt, f.board, cfg);
    REQUIRE(r);
    auto res = f.run(*r, "u3", {{"topic", "?"}});
    CHECK(res.status == run_status::failed);
    CHECK(res.reason == "router: the choose function failed: invalid_argument: no idea");
  }
}

TEST_CASE("router: a slow or failing specialist fails the run with its error", "[agents][router]") {
  fixture f;
  gate release;
  later threads;
  auto slow = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    auto key = t.input.at("key").get<std::string>();
    threads.run([&, key, &sp = sp, done] {
      release.wait();
      if (auto s = sp.put(key, "slow answer"); !s) return (void)done.fail(s.error());
      done.ok({{"answer", "slow answer"}});
    });
  });
  router_config cfg;
  cfg.specialists.push_back(f.spawn("expert/slow", slow));
  cfg.specialists.push_back(f.spawn("expert/broken", actors::agent_logic::sync([](const actors::task&, bb::scratchpad&)
                                                                                  -> actors::logic_result {
                                      return bb::error{bb::errc::invalid_argument, "out of order"};
                                    })));
  cfg.choose = [](const actors::task& t) -> bb::result<std::string> { return t.input.at("to").get<std::string>(); };
  cfg.timeout = 1s;
  auto r = spawn_router(f.rt, f.board, cfg);
  REQUIRE(r);

  auto [broken, replied1] = ask(f, *r, "e1", {{"to", "expert/broken"}});
  REQUIRE(replied1);
  CHECK_FALSE(broken.ok());
  CHECK(broken.error == bb::errc::invalid_argument);  // the specialist's own error
  CHECK(broken.result["reason"].get<std::string>().find("router: specialist expert/broken failed: ") == 0);
  CHECK(broken.result["reason"].get<std::string>().find("out of order") != std::string::npos);

  auto [timed_out, replied2] = ask(f, *r, "e2", {{"to", "expert/slow"}});
  REQUIRE(replied2);
  CHECK_FALSE(timed_out.ok());
  CHECK(timed_out.error == actors::errc::timeout);
  CHECK(timed_out.result["reason"] == "router: specialist expert/slow gave no answer within 1000 ms");

  const std::string late_key = "runs/e2/late/forward/expert/slow";
  auto w = f.board->watch(late_key, 0);
  REQUIRE(w);
  release.open();
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  CHECK(f.at(late_key)["answer"] == "slow answer");
  CHECK(f.at("runs/e2/result")["status"] == "failed");
}

TEST_CASE("router: a slow choosing agent fails the run on its timeout", "[agents][router]") {
  fixture f;
  gate release;
  later threads;
  router_config cfg;
  cfg.specialists.push_back(f.spawn("expert/tech", specialist("tech")));
  cfg.choose_agent = f.spawn("router/slow", actors::agent_logic::async([&](const actors::task&, bb::scratchpad&,
                                                                         actors::completion done) {
                               threads.run([&, done] {
                                 release.wait();
                                 done.fail(bb::error{bb::errc::invalid_argument, "too late anyway"});
                               });
                             }));
  cfg.choose_timeout = 1s;
  auto r = spawn_router(f.rt, f.board, cfg);
  REQUIRE(r);
  auto res = f.run(*r, "c1", {{"topic", "?"}});
  release.open();
  CHECK(res.status == run_status::failed);
  CHECK(res.reason == "router: the choosing agent router/slow gave no answer within 1000 ms");
  CHECK(f.at("runs/c1/route").is_null());
}

TEST_CASE("router nests: a router is a debater and routes the debate's task", "[agents][router]") {
  fixture f;
  router_config cfg;
  // The specialists are plain debaters: the forwarded task is the debate's.
  cfg.specialists.push_back(f.spawn("debater/math", debater([](const debate_turn& t) -> bb::result<json> {
                                      return json(t.question == "6 x 7?" ? "42" : "?");
                                    })));
  cfg.specialists.push_back(f.spawn("debater/poet", debater([](const debate_turn&) -> bb::result<json> {
                                      return json("a rose");
                                    })));
  cfg.choose = [](const actors::task& t) -> bb::result<std::string> {
    return std::string(t.input.value("question", std::string()).find(" x ") != std::string::npos ? "debater/math"
                                                                                                  : "debater/poet");
  };
  cfg.id = fixture::id("router/desk");
  auto r = spawn_router(f.rt, f.board, cfg);
  REQUIRE(r);
  debate_config dc;
  dc.debaters.push_back(member{fixture::id("router/desk"), *r, ""});
  dc.debaters.push_back(f.spawn("debater/solo", debater([](const debate_turn&) -> bb::result<json> { return json("42"); })));
  dc.run.stop = consensus(unanimity) | max_rounds(2);
  auto d = spawn_debate(f.rt, f.board, dc);
  REQUIRE(d);
  auto res = f.run(*d, "rd", {{"question", "6 x 7?"}});
  CHECK(res.status == run_status::settled);
  CHECK(res.answer == "42");
  CHECK(f.at("runs/rd/answers/1/router/desk") == "42");
  CHECK(f.at("runs/rd.r1:router:desk/route")["specialist"] == "debater/math");
  CHECK(f.at("runs/rd.r1:router:desk/answer") == "42");
}

TEST_CASE("router refuses a configuration without exactly one way to choose", "[agents][router]") {
  fixture f;
  router_config cfg;
  cfg.specialists.push_back(f.spawn("expert/tech", specialist("tech")));
  auto none = spawn_router(f.rt, f.board, cfg);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "router: set exactly one of choose and choose_agent");
  cfg.choose = by_topic();
  cfg.choose_agent = f.spawn("router/picker", specialist("picker"));
  auto both = spawn_router(f.rt, f.board, cfg);
  REQUIRE_FALSE(both);
  cfg.choose_agent.reset();
  cfg.specialists.push_back(cfg.specialists.front());
  auto twice = spawn_router(f.rt, f.board, cfg);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message == "router: member id expert/tech appears twice");
}
