// A durable blackboard (bb::blackboard::open) behind the blackboard actor:
// agents promote through the actor, everything is closed, the file is
// reopened and served again. State, history, idempotency and watches from
// old revisions work through the actor exactly as before the restart.
#include <catch2/catch.hpp>

#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

#include "agora/actors/agent.hpp"
#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/messages.hpp"
#include "agora/actors/node.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "test_support.hpp"
#include "support/temp_dir.hpp"

namespace bb = agora::bb;
namespace act = agora::actors;
namespace fs = std::filesystem;
using bb::json;
using std::uint64_t;

namespace {

const act::trace_context no_trace{};
constexpr std::chrono::seconds wait_limit{10};

struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-durable-actor") {}
};

act::runtime_options test_runtime() {
  act::runtime_options o;
  o.worker_threads = 2;
  o.request_timeout = wait_limit;
  return o;
}

/// One "process lifetime" of the board: the file opened, a runtime, the
/// blackboard actor serving it. The destructor stops the actor, waits for
/// every actor and closes the file.
struct served_board {
  explicit served_board(const fs::path& db) : rt(test_runtime()), self(rt.system()) {
    bb::durability d;
    d.path = db.string();
    auto opened = bb::blackboard::open(d);
    if (!opened) FAIL("cannot open " << db << ": " << bb::to_string(opened.error()));
    board = *opened;
    actor = act::spawn_blackboard(rt.system(), board);
  }
  ~served_board() {
    for (auto& a : agents) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  /// An agent that reaches the board only through the actor.
  act::agent_actor agent(const std::string& id) {
    auto parsed = act::agent_id::parse(id);
    REQUIRE(parsed);
    act::remote_agent_options o;
    o.scope = {"runs"};
    auto a = act::spawn_remote_agent(rt.system(), actor, act::agent_spec{*parsed, "writer", {}},
                                     agora_test::writer(), o);
    REQUIRE(a);
    agents.push_back(*a);
    return *a;
  }

  act::outcome run(const act::agent_actor& who, act::task t) {
    std::optional<act::outcome> got;
    caf::error err;
    self->request(who, wait_limit, act::run_atom::value, std::move(t))
        .receive([&](act::outcome& o) { got = std::move(o); }, [&](caf::error& e) { err = std::move(e); });
    INFO("run failed: " << act::render(err));
    REQUIRE(got);
    return *got;
  }

  template <class T, class... Ts>
  T ask(Ts&&... xs) {
    std::optional<T> out;
    caf::error err;
    self->request(actor, wait_limit, std::forward<Ts>(xs)...)
        .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { err = std::move(e); });
    INFO("request failed: " << act::render(err));
    REQUIRE(out.has_value());
    return std::move(*out);
  }

  caf::error ask_error(bb::promotion p, bb::promote_options o) {
    caf::error err;
    bool replied = false;
    self->request(actor, wait_limit, act::promote_atom::value, std::move(p), std::move(o), no_trace)
        .receive([&](bb::commit_result&) { replied = true; }, [&](caf::error& e) { err = std::move(e); });
    CHECK_FALSE(replied);
    return err;
  }

  bb::commit_result promote(bb::promotion p, std::string txn) {
    bb::promote_options o;
    o.txn_id = std::move(txn);
    return ask<bb::commit_result>(act::promote_atom::value, std::move(p), o, no_trace);
  }

  std::vector<act::record_data> history(uint64_t from = 1) {
    return ask<std::vector<act::record_data>>(act::history_atom::value, from, UINT64_MAX,
                                              std::string(), no_trace);
  }

  std::vector<act::entry_data> list() {
    return ask<std::vector<act::entry_data>>(act::list_atom::value, std::string(), uint64_t{0}, no_trace);
  }

  act::runtime rt;
  caf::scoped_actor self;
  std::shared_ptr<bb::blackboard> board;
  act::blackboard_actor actor;
  std::vector<act::agent_actor> agents;
};

bb::promotion put(const std::string& author, const std::string& key, json value) {
  bb::promotion p;
  p.author = author;
  p.ops.push_back(bb::staged_op{bb::op_kind::put, key, std::move(value)});
  return p;
}

}  // namespace

TEST_CASE("durable blackboard behind the actor: state, history, idempotency and watches survive "
          "a reopen",
          "[actors][durable]") {
  temp_dir tmp;
  const auto db = tmp.path / "board.db";
  std::vector<act::outcome> first;
  bb::commit_result manual;
  std::vector<act::record_data> history_before;
  std::vector<act::entry_data> state_before;
  {
    served_board s(db);
    REQUIRE(s.board->durable());
    auto alice = s.agent("writer/alice");
    auto bob = s.agent("writer/bob");
    for (int i = 0; i < 6; ++i)
      first.push_back(s.run(i % 2 ? bob : alice,
                            agora_test::make_task("r1", "t" + std::to_string(i), {{"n", i}})));
    for (const auto& o : first) {
      INFO(o.describe());
      REQUIRE(o.ok());
      CHECK_FALSE(o.replayed);
    }
    manual = s.promote(put("writer/carol", "runs/r1/manual", {{"by", "hand"}}), "r1/manual/0");
    CHECK_FALSE(manual.replayed);
    history_before = s.history();
    state_before = s.list();
    REQUIRE(history_before.size() == 7);
    REQUIRE(s.ask<uint64_t>(act::revision_atom::value, no_trace) == 7);
  }  // the actor, the agents, the runtime and the file are all closed here

  served_board s(db);
  // State and history, read through the actor, are what they were.
  CHECK(s.ask<uint64_t>(act::revision_atom::value, no_trace) == 7);
  CHECK(s.list() == state_before);
  CHECK(s.history() == history_before);
  auto e = s.ask<act::entry_data>(act::read_atom::value, std::string("runs/r1/out/t3"), uint64_t{0}, no_trace);
  CHECK(e.exists());
  CHECK(e.author == "writer/bob");
  CHECK(json::parse(e.value) == json{{"n", 3}});
  // Time travel through the actor: t3 did not exist at the revision before it.
  auto old = s.ask<act::entry_data>(act::read_atom::value, std::string("runs/r1/out/t3"),
                                    first[3].revision - 1, no_trace);
  CHECK_FALSE(old.exists());

  // Idempotency: each task run again (by another agent, through the actor)
  // replays its original revision and commits nothing.
  auto carol = s.agent("writer/carol");
  for (int i = 0; i < 6; ++i) {
    auto again = s.run(carol, agora_test::make_task("r1", "t" + std::to_string(i), {{"n", i}}));
    INFO(again.describe());
    CHECK(again.ok());
    CHECK(again.replayed);
    CHECK(again.revision == first[static_cast<std::size_t>(i)].revision);
  }
  auto replay = s.promote(put("writer/carol", "runs/r1/manual", {{"by", "hand"}}), "r1/manual/0");
  CHECK(replay.replayed);
  CHECK(replay.revision == manual.revision);
  // The same txn id with other content is refused, naming it.
  auto err = s.ask_error(put("writer/carol", "runs/r1/manual", {{"by", "someone else"}}), [] {
    bb::promote_options o;
    o.txn_id = "r1/manual/0";
    return o;
  }());
  CHECK(act::from_caf_error(err).code == bb::errc::duplicate_txn);
  CHECK(s.ask<uint64_t>(act::revision_atom::value, no_trace) == 7);

  // A watch through the actor from an old revision replays the history
  // written before the restart, then streams new commits.
  auto id = s.ask<uint64_t>(act::watch_atom::value, std::string("runs/r1"), uint64_t{2},
                            uint64_t{100}, no_trace);
  auto next = s.promote(put("writer/carol", "runs/r1/after", json("restart")), "r1/after/0");
  CHECK(next.revision == 8);  // contiguous with the revisions before the restart
  std::vector<act::record_data> events;
  bool timed_out = false;
  while (events.size() < 7 && !timed_out)
    s.self->receive(
        [&](act::watch_event_atom, uint64_t wid, act::record_data& r, act::trace_context&) {
          CHECK(wid == id);
          events.push_back(std::move(r));
        },
        caf::after(wait_limit) >> [&] { timed_out = true; });
  REQUIRE(events.size() == 7);
  for (std::size_t i = 0; i < 6; ++i) CHECK(events[i] == history_before[i + 1]);
  CHECK(events[6].revision == 8);
  CHECK(events[6].txn_id == "r1/after/0");
}
