#include "agora/agents/fan_out.hpp"

#include <atomic>

#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

actors::agent_logic answer_with(json value) {
  return actors::agent_logic::sync([value](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    if (auto s = sp.put("out/" + t.task_id, value); !s) return std::move(s).take_error();
    return json{{"answer", value}};
  });
}

std::vector<actors::outcome> gather(fixture& f, const fan_out_actor& g) {
  std::vector<actors::outcome> got;
  f.self->request(g, 20s, gather_atom::value)
      .receive([&](std::vector<actors::outcome>& v) { got = std::move(v); },
               [&](caf::error& e) { FAIL("gather failed: " << actors::render(e)); });
  return got;
}

actors::task task_for(const std::string& id) {
  actors::task t;
  t.run_id = "fo";
  t.task_id = id;
  return t;
}

}  // namespace

TEST_CASE("fan_out gathers every member's outcome in order", "[agents][fan_out]") {
  fixture f;
  std::vector<fan_out_item> items;
  for (int i = 0; i < 5; ++i)
    items.push_back({f.spawn("w/" + std::to_string(i), answer_with(i)), task_for("t" + std::to_string(i))});
  auto got = gather(f, spawn_fan_out(f.rt.system(), std::move(items), {}));
  REQUIRE(got.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(on_time(got[i]));
    CHECK(got[i].ok());
    CHECK(got[i].result["answer"] == i);
    CHECK(got[i].agent == "w/" + std::to_string(i));
  }
}

TEST_CASE("fan_out closes on quorum or timeout and records late answers", "[agents][fan_out]") {
  fixture f;
  later threads;
  gate release;
  auto slow = actors::agent_logic::async([&](const actors::task&, bb::scratchpad&, actors::completion done) {
    threads.run([&, done] {
      release.wait();
      done.ok({{"answer", "late"}});
    });
  });
  std::vector<fan_out_item> items;
  items.push_back({f.spawn("w/fast", answer_with("fast")), task_for("a")});
  items.push_back({f.spawn("w/slow", slow), task_for("b")});
  fan_out_options fo;
  fo.board = f.board;
  fo.late_prefix = "late";
  SECTION("quorum") { fo.quorum = 1; }
  SECTION("timeout") { fo.timeout = 1s; }  // ample for the fast member, even on a loaded machine
  auto got = gather(f, spawn_fan_out(f.rt.system(), std::move(items), fo));
  REQUIRE(got.size() == 2);
  CHECK(on_time(got[0]));
  CHECK(got[0].ok());
  CHECK_FALSE(on_time(got[1]));
  CHECK(got[1].agent == "w/slow");
  CHECK(got[1].error.code() == static_cast<std::uint8_t>(actors::errc::timeout));
  auto w = f.board->watch("late", 0);
  REQUIRE(w);
  release.open();
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  CHECK(f.at("late/w/slow")["answer"] == "late");
}

TEST_CASE("fan_out reports a member that fails or is gone as an on-time failure",
          "[agents][fan_out]") {
  fixture f;
  std::vector<fan_out_item> items;
  auto gone = f.spawn("w/gone", answer_with(1));
  caf::anon_send_exit(gone.actor, caf::exit_reason::kill);
  items.push_back({gone, task_for("a")});
  items.push_back({f.spawn("w/bad", actors::agent_logic::sync([](const actors::task&, bb::scratchpad&) -> bb::status {
                     return bb::error{bb::errc::invalid_argument, "nope"};
                   })),
                   task_for("b")});
  auto got = gather(f, spawn_fan_out(f.rt.system(), std::move(items), {}));
  REQUIRE(got.size() == 2);
  CHECK(on_time(got[0]));
  CHECK_FALSE(got[0].ok());
  CHECK(on_time(got[1]));
  CHECK(got[1].status == actors::outcome_status::error);
  CHECK(actors::render(got[1].error).find("nope") != std::string::npos);
}

TEST_CASE("fan_out with no items closes at once", "[agents][fan_out]") {
  fixture f;
  CHECK(gather(f, spawn_fan_out(f.rt.system(), {}, {})).empty());
}

TEST_CASE("fan_out keeps at most max_in_flight tasks out and asks nobody after it closed",
          "[agents][fan_out]") {
  fixture f;
  std::atomic<int> running{0}, most{0}, asked{0};
  auto counting = actors::agent_logic::sync([&](const actors::task&, bb::scratchpad&) -> actors::logic_result {
    ++asked;
    int now = ++running;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    --running;
    return json{{"answer", 1}};
  });
  SECTION("bounded in flight") {
    // Async members that finish on threads of their own: without the bound
    // all 40 would be started before the first finished.
    later threads;
    std::atomic<int> started{0}, finished{0};
    auto async = actors::agent_logic::async([&](const actors::task&, bb::scratchpad&, actors::completion done) {
      int in_flight = ++started - finished.load();
      for (int seen = most.load(); in_flight > seen && !most.compare_exchange_weak(seen, in_flight);) {
      }
      ++asked;
      threads.run([&, done] {
        ++finished;  // before the outcome goes out, so the next start sees it
        done.ok({{"answer", 1}});
      });
    });
    std::vector<fan_out_item> items;
    for (int i = 0; i < 40; ++i)
      items.push_back({f.spawn("w/" + std::to_string(i), async), task_for("t" + std::to_string(i))});
    fan_out_options fo;
    fo.max_in_flight = 2;
    auto got = gather(f, spawn_fan_out(f.rt.system(), std::move(items), fo));
    REQUIRE(got.size() == 40);
    for (const auto& o : got) CHECK(o.ok());
    CHECK(asked.load() == 40);
    CHECK(most.load() <= 2);
  }
  SECTION("closed on quorum before the rest were asked") {
    std::vector<fan_out_item> items;
    for (int i = 0; i < 5; ++i)
      items.push_back({f.spawn("w/" + std::to_string(i), counting), task_for("t" + std::to_string(i))});
    fan_out_options fo;
    fo.max_in_flight = 1;
    fo.quorum = 2;
    auto got = gather(f, spawn_fan_out(f.rt.system(), std::move(items), fo));
    REQUIRE(got.size() == 5);
    CHECK(got[0].ok());
    CHECK(got[1].ok());
    for (int i = 2; i < 5; ++i) {
      CHECK_FALSE(on_time(got[i]));
      CHECK(actors::render(got[i].error).find("was not asked") != std::string::npos);
    }
    CHECK(asked.load() == 2);
  }
}
