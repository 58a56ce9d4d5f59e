#include "agora/agents/swarm.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <random>

#include "agora/agents/debate.hpp"
#include "support.hpp"

using namespace agora;
using namespace agora_test;

namespace {

/// Opens once `n` threads have arrived; logic threads wait on it (never a CAF worker).
class latch {
 public:
  explicit latch(int n) : left_(n) {}
  void arrive() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--left_ <= 0) cv_.notify_all();
  }
  bool is_open() {
    std::lock_guard<std::mutex> lock(mu_);
    return left_ <= 0;
  }
  /// False when it did not open within `d`.
  bool wait(std::chrono::milliseconds d = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, d, [this] { return left_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
};

/// What contributors saw, in the order they saw it (thread-safe).
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

std::string others_text(const swarm_turn& t) {
  std::string out;
  for (const auto& [who, c] : t.others) out += (out.empty() ? "" : " ") + who + "=" + text(c);
  return "{" + out + "}";
}

// Adds its persona to a comma-separated artifact (its version of the artifact).
actors::agent_logic chain(sightings* seen = nullptr) {
  return contributor([seen](const swarm_turn& t) -> bb::result<json> {
    std::string so_far = t.artifact.is_string() ? t.artifact.get<std::string>() : "";
    if (seen) seen->add(t.persona + " saw '" + so_far + "'");
    return json(so_far.empty() ? t.persona : so_far + "," + t.persona);
  });
}

// Contributes its persona and what round it is, and records what it saw.
actors::agent_logic observer(sightings& seen) {
  return contributor([&seen](const swarm_turn& t) -> bb::result<json> {
    seen.add("r" + std::to_string(t.round) + " " + t.persona + " artifact=" + text(t.artifact) +
             " others=" + others_text(t) + (t.blind ? " blind" : ""));
    return json(t.persona + std::to_string(t.round));
  });
}

// The contributions, joined by '+' in contributor order.
bb::result<json> join(const swarm_merge& m) {
  std::string out;
  for (const auto& [who, c] : m.contributions) out += (out.empty() ? "" : "+") + text(c);
  return json(out);
}

std::vector<std::string> sorted(const json& array) {
  std::vector<std::string> out;
  for (const auto& x : array) out.push_back(text(x));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("swarm round_robin: each contributor edits the artifact as the previous one left it",
          "[agents][swarm]") {
  fixture f;
  sightings seen;
  swarm_config cfg;
  cfg.order = swarm_order::round_robin;
  for (std::string p : {"a", "b", "c"}) cfg.contributors.push_back(f.spawn("contributor/" + p, chain(&seen), p));
  cfg.run.stop = max_rounds(2);
  cfg.run.fallback = fallback::last;
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "rr", {{"task", "write"}});
  CHECK(r.status == run_status::fallback);
  CHECK(r.answer == "a,b,c,a,b,c");
  CHECK(r.rounds == 2);
  CHECK(r.reason == "max_rounds: 2 of 2 rounds done; no settled answer, fallback last chose 'a,b,c,a,b,c'");
  CHECK(seen.lines() == std::vector<std::string>{"a saw ''", "b saw 'a'", "c saw 'a,b'", "a saw 'a,b,c'",
                                                 "b saw 'a,b,c,a'", "c saw 'a,b,c,a,b'"});
  // The artifact, every step's contribution, and the rounds, on the blackboard.
  CHECK(f.at("runs/rr/artifact") == "a,b,c,a,b,c");
  CHECK(f.at("runs/rr/answers/1/contributor/b") == "a,b");
  CHECK(f.at("runs/rr/answers/2/contributor/c") == "a,b,c,a,b,c");
  auto round1 = f.at("runs/rr/round/1");
  CHECK(round1["order"] == "round_robin");
  CHECK(round1["artifact"] == "a,b,c");
  CHECK(round1["summary"]["aggregate"] == "a,b,c");
  CHECK(round1["summary"]["new_contributions"] == 3);
  // One step per contributor, each committed once under its own task.
  CHECK(f.commits_with_txn("rr/r1:contributor:a/0") == 1);
  CHECK(f.commits_with_txn("rr/r1s1:contributor:b/0") == 1);
  CHECK(f.commits_with_txn("rr/r2s2:contributor:c/0") == 1);
}

TEST_CASE("swarm parallel_then_merge: contributors see only the round's artifact, a reducer merges",
          "[agents][swarm]") {
  fixture f;
  sightings seen;
  swarm_config cfg;
  for (std::string p : {"a", "b", "c"}) cfg.contributors.push_back(f.spawn("contributor/" + p, observer(seen), p));
  // A union of ideas: the starting artifact plus every new contribution (without its round).
  cfg.reduce = [](const swarm_merge& m) -> bb::result<json> {
    json out = m.artifact.is_array() ? m.artifact : json::array();
    for (const auto& [who, c] : m.contributions) {
      json idea = text(c).substr(0, 1);
      if (std::find(out.begin(), out.end(), idea) == out.end()) out.push_back(idea);
    }
    return out;
  };
  cfg.run.stop = stable_answer(2) | max_rounds(5);
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "pm", {{"task", "ideas"}, {"artifact", json::array({"seed"})}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == json::array({"seed", "a", "b", "c"}));  // as given, not normalized
  CHECK(r.rounds == 2);
  CHECK(r.reason == "stable_answer: '[\"seed\",\"a\",\"b\",\"c\"]' unchanged for 2 round(s), up to round 2");
  auto lines = seen.lines();
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{
                     "r1 a artifact=[\"seed\"] others={}", "r1 b artifact=[\"seed\"] others={}",
                     "r1 c artifact=[\"seed\"] others={}",
                     "r2 a artifact=[\"seed\",\"a\",\"b\",\"c\"] others={}",
                     "r2 b artifact=[\"seed\",\"a\",\"b\",\"c\"] others={}",
                     "r2 c artifact=[\"seed\",\"a\",\"b\",\"c\"] others={}"});
  // The merged artifact is written with the round's record, in one transaction.
  CHECK(f.at("runs/pm/round/1")["contributions"] == json({{"contributor/a", "a1"}, {"contributor/b", "b1"}, {"contributor/c", "c1"}}));
  auto h = f.board->history(1, f.board->revision(), "runs/pm");
  REQUIRE(h);
  std::vector<std::string> written;
  for (const auto& rec : *h)
    if (rec.txn_id == "pm/round-1")
      for (const auto& c : rec.changes) written.push_back(c.after.key());
  CHECK(written == std::vector<std::string>{"runs/pm/artifact", "runs/pm/round/1"});
}

TEST_CASE("swarm parallel_then_merge with a synthesizer: its score is the round's quality",
          "[agents][swarm]") {
  fixture f;
  swarm_config cfg;
  for (std::string p : {"a", "b"})
    cfg.contributors.push_back(f.spawn("contributor/" + p, contributor([](const swarm_turn& t) -> bb::result<json> {
                                         return json(t.persona + std::to_string(t.round));
                                       }),
                                       p));
  // A synthesizer that reports a score: better in round 2.
  cfg.synthesizer = f.spawn("synth/s", actors::agent_logic::sync([](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    std::string merged;
    for (const auto& [who, c] : t.input.at("contributions").items()) merged += text(c);
    if (auto s = sp.put(t.input.at("key").get<std::string>(), merged); !s) return std::move(s).take_error();
    return json{{"answer", merged}, {"score", t.input.at("round").get<int>() == 1 ? 0.5 : 0.9}};
  }));
  cfg.run.stop = quality_threshold(0.8) | max_rounds(4);
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "sy", {{"task", "merge"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == "a2b2");
  CHECK(r.reason == "quality_threshold: score 0.9 >= 0.8 in round 2");
  CHECK(f.at("runs/sy/artifact") == "a2b2");
  CHECK(f.at("runs/sy/answers/1/synth/s") == "a1b1");
  CHECK(f.at("runs/sy/round/1")["summary"]["quality"] == 0.5);
}

TEST_CASE("swarm: quiescence stops once no contributor changes its contribution", "[agents][swarm]") {
  fixture f;
  std::atomic<int> rounds_seen{0};
  // a settles on its idea in round 2, b in round 3.
  auto settling = contributor([&rounds_seen](const swarm_turn& t) -> bb::result<json> {
    ++rounds_seen;
    std::uint32_t settle = t.persona == "a" ? 2 : 3;
    return json(t.persona + std::to_string(std::min(t.round, settle)));
  });
  swarm_config cfg;
  cfg.order = swarm_order::iterative;
  cfg.contributors.push_back(f.spawn("contributor/a", settling, "a"));
  cfg.contributors.push_back(f.spawn("contributor/b", settling, "b"));
  cfg.reduce = join;
  cfg.run.stop = quiescence(1) | max_rounds(10);
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "qu", json::object());
  // Gone quiet: the artifact is done, settled (not left to the fallback).
  CHECK(r.status == run_status::settled);
  CHECK(r.rounds == 4);
  CHECK(r.reason == "quiescence: no new contribution in the last 1 round(s), up to round 4; "
                    "the artifact of round 4 is the answer");
  CHECK(r.answer == "a2+b3");
  CHECK(rounds_seen.load() == 8);
  CHECK(f.at("runs/qu/round/3")["summary"]["new_contributions"] == 1);  // only b changed
  CHECK(f.at("runs/qu/round/4")["summary"]["new_contributions"] == 0);
}

TEST_CASE("swarm iterative: each round sees the last round's contributions and artifact",
          "[agents][swarm]") {
  fixture f;
  sightings seen;
  // Round 1: its own number; later: the largest number it has seen.
  auto climber = contributor([&seen](const swarm_turn& t) -> bb::result<json> {
    if (t.round == 1) return json(std::stoi(t.persona));
    seen.add(t.persona + " r" + std::to_string(t.round) + " own=" + (t.own_previous ? text(*t.own_previous) : "-") +
             " others=" + others_text(t) + " artifact=" + text(t.artifact));
    int best = t.own_previous ? t.own_previous->get<int>() : 0;
    for (const auto& [who, c] : t.others) best = std::max(best, c.get<int>());
    return json(best);
  });
  swarm_config cfg;
  cfg.order = swarm_order::iterative;
  for (std::string p : {"3", "5", "9"}) cfg.contributors.push_back(f.spawn("contributor/n" + p, climber, p));
  cfg.synthesizer = f.spawn("synth/max", swarm_synthesizer([](const swarm_merge& m) -> bb::result<json> {
    int best = 0;
    for (const auto& [who, c] : m.contributions) best = std::max(best, c.get<int>());
    return json(best);
  }));
  cfg.run.stop = consensus(unanimity) | max_rounds(4);
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "it", {{"task", "climb"}});
  CHECK(r.status == run_status::settled);
  CHECK(r.answer == 9);
  CHECK(r.rounds == 2);
  CHECK(r.reason == "consensus (unanimity): 3 of 3 agree on '9' after round 2");
  auto lines = seen.lines();
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{
                     "3 r2 own=3 others={contributor/n5=5 contributor/n9=9} artifact=9",
                     "5 r2 own=5 others={contributor/n3=3 contributor/n9=9} artifact=9",
                     "9 r2 own=9 others={contributor/n3=3 contributor/n5=5} artifact=9"});
  CHECK(f.at("runs/it/round/2")["summary"]["new_contributions"] == 2);  // n9 kept its 9
}

TEST_CASE("swarm blind first phase: round 1 asks everyone at once and shows nobody's contribution",
          "[agents][swarm]") {
  fixture f;
  sightings seen;
  later threads;
  latch all_asked(3);
  // Round 1 completes only once all three were asked: a round robin that
  // asked one at a time would never get there (and fail on the latch).
  auto logic = actors::agent_logic::async(
      [&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        auto turn = swarm_turn::read(t, sp);
        if (!turn) return (void)done.fail(turn.error());
        seen.add("r" + std::to_string(turn->round) + " " + turn->persona + " artifact=" + text(turn->artifact) +
                 " others=" + others_text(*turn) + (turn->blind ? " blind" : ""));
        swarm_contribution c{json(turn->persona + std::to_string(turn->round))};
        if (turn->round > 1) return (void)done(submit_contribution(*turn, sp, std::move(c)));
        all_asked.arrive();
        threads.run([&, turn = *turn, &sp = sp, done, c] {
          if (!all_asked.wait()) return (void)done.fail(bb::error{bb::errc::invalid_argument, "not all asked at once"});
          done(submit_contribution(turn, sp, c));
        });
      });
  swarm_config cfg;
  cfg.order = swarm_order::round_robin;
  cfg.blind_first = true;
  for (std::string p : {"a", "b", "c"}) cfg.contributors.push_back(f.spawn("contributor/" + p, logic, p));
  cfg.reduce = join;
  cfg.run.stop = max_rounds(2);
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "bl", {{"artifact", "start"}});
  CHECK(r.status == run_status::fallback);
  CHECK(r.answer == "a2+b2+c2");
  auto lines = seen.lines();
  std::sort(lines.begin(), lines.begin() + 3);  // round 1 came in any order; round 2 in turn
  CHECK(lines == std::vector<std::string>{
                     "r1 a artifact=start others={} blind", "r1 b artifact=start others={} blind",
                     "r1 c artifact=start others={} blind",
                     // From round 2 on, round robin: the merged artifact, and this round's earlier contributions.
                     "r2 a artifact=a1+b1+c1 others={}", "r2 b artifact=a1+b1+c1 others={contributor/a=a2}",
                     "r2 c artifact=a1+b1+c1 others={contributor/a=a2 contributor/b=b2}"});
  CHECK(f.at("runs/bl/round/1")["blind"] == true);
  CHECK(f.at("runs/bl/round/2")["blind"] == false);
  CHECK(f.commits_with_txn("bl/r1:contributor:c/0") == 1);    // round 1: one step
  CHECK(f.commits_with_txn("bl/r2s2:contributor:c/0") == 1);  // round 2: a step each
}

TEST_CASE("swarm refuses configurations it cannot run", "[agents][swarm]") {
  fixture f;
  swarm_config cfg;
  auto none = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "swarm: no contributors");
  cfg.contributors.push_back(f.spawn("contributor/a", chain(), "a"));
  cfg.order = swarm_order::parallel_then_merge;
  cfg.run.stop = max_rounds(1);
  auto no_merge = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(no_merge);
  CHECK(no_merge.error().message == "swarm: parallel_then_merge needs a reducer or a synthesizer");
  cfg.order = swarm_order::iterative;
  cfg.blind_first = true;
  auto blind = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(blind);
  CHECK(blind.error().message.find("blind_first needs a reducer or a synthesizer") != std::string::npos);
  cfg.reduce = join;
  cfg.synthesizer = f.spawn("synth/s", swarm_synthesizer(join));
  auto both = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(both);
  CHECK(both.error().message == "swarm: give a reducer or a synthesizer, not both");
  cfg.synthesizer.reset();
  cfg.run.stop = quiescence(2);
  auto unbounded = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(unbounded);
  CHECK(unbounded.error().message.find("may never stop") != std::string::npos);
  cfg.run.stop = policy();
  auto no_policy = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(no_policy);
  CHECK(no_policy.error().message.find("has no stop policy and could loop forever") != std::string::npos);
  cfg.run.stop = max_rounds(1);
  cfg.contributors.push_back(cfg.contributors.front());
  auto twice = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message == "swarm: member id contributor/a appears twice");
}

TEST_CASE("swarm counts a failing contributor as failed and goes on", "[agents][swarm]") {
  fixture f;
  auto broken = contributor([](const swarm_turn&) -> bb::result<json> {
    return bb::error{bb::errc::invalid_argument, "cannot write today"};
  });
  SECTION("round robin: the next step builds on the artifact as it was") {
    swarm_config cfg;
    cfg.order = swarm_order::round_robin;
    cfg.contributors.push_back(f.spawn("contributor/a", chain(), "a"));
    cfg.contributors.push_back(f.spawn("contributor/broken", broken, "broken"));
    cfg.contributors.push_back(f.spawn("contributor/c", chain(), "c"));
    cfg.run.stop = max_rounds(1);
    auto s = spawn_swarm(f.rt, f.board, cfg);
    REQUIRE(s);
    auto r = f.run(*s, "fr", json::object());
    CHECK(r.answer == "a,c");
    auto round = f.at("runs/fr/round/1");
    CHECK(round["summary"]["failed"] == 1);
    CHECK(round["failed"]["contributor/broken"].get<std::string>().find("cannot write today") != std::string::npos);
    CHECK(f.at("runs/fr/answers/1/contributor/broken").is_null());
  }
  SECTION("a merging swarm: a contributor may not edit the artifact, a failing reducer leaves it") {
    swarm_config cfg;
    cfg.contributors.push_back(f.spawn("contributor/a", contributor([](const swarm_turn&) -> bb::result<json> {
                                         return json("a");
                                       })));
    cfg.contributors.push_back(f.spawn("contributor/editor", contributor([](const swarm_turn&) -> bb::result<swarm_contribution> {
                                         return swarm_contribution{json("mine"), artifact_edit::append};
                                       })));
    int calls = 0;
    cfg.reduce = [&calls](const swarm_merge& m) -> bb::result<json> {
      if (++calls == 2) throw std::runtime_error("out of ideas");
      return join(m);
    };
    cfg.run.stop = max_rounds(2);
    auto s = spawn_swarm(f.rt, f.board, cfg);
    REQUIRE(s);
    auto r = f.run(*s, "fm", {{"artifact", "draft"}});
    CHECK(r.status == run_status::fallback);
    CHECK(r.answer == "a");
    auto round1 = f.at("runs/fm/round/1");
    CHECK(round1["failed"]["contributor/editor"].get<std::string>().find(
              "merges its artifact itself: a contributor cannot append it") != std::string::npos);
    auto round2 = f.at("runs/fm/round/2");
    CHECK(round2["merge_error"] == "reducer threw: out of ideas");
    CHECK(round2["summary"]["aggregate"].is_null());
    CHECK(f.at("runs/fm/artifact") == "a");  // as round 1 left it
  }
}

TEST_CASE("swarm: contributors editing the shared artifact at once lose no edit", "[agents][swarm]") {
  fixture f;
  later threads;
  latch all_started(4);
  std::atomic<int> calls{0};
  artifact_edit how = artifact_edit::replace;
  bool mergeable = false;
  SECTION("replace: conflicts, retried on a fresh snapshot") { how = artifact_edit::replace; }
  SECTION("append onto a plain key: conflicts, retried") { how = artifact_edit::append; }
  SECTION("merge onto a mergeable key: no conflict at all") {
    how = artifact_edit::merge;
    mergeable = true;
  }
  if (mergeable) REQUIRE(f.board->declare_mergeable("runs/*/artifact"));
  // Every contributor takes its snapshot, then waits until all four have:
  // their first promotions all start from the same revision and collide.
  auto logic = actors::agent_logic::async(
      [&, how](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        ++calls;
        auto turn = swarm_turn::read(t, sp);
        if (!turn) return (void)done.fail(turn.error());
        const std::string me = sp.author();
        json value;
        if (how == artifact_edit::merge) {
          value = {{me, true}};
        } else if (how == artifact_edit::append) {
          value = me;
        } else {
          value = turn->artifact.is_array() ? turn->artifact : json::array();
          value.push_back(me);
        }
        swarm_contribution c{value, how};
        if (all_started.is_open()) return (void)done(submit_contribution(*turn, sp, c));  // a retry
        all_started.arrive();
        threads.run([&, turn = *turn, &sp = sp, done, c] {
          if (!all_started.wait()) return (void)done.fail(bb::error{bb::errc::invalid_argument, "not all started"});
          done(submit_contribution(turn, sp, c));
        });
      });
  actors::agent_options opts;
  opts.max_conflict_retries = 10;  // at most 3 are needed: every wave commits one
  swarm_config cfg;
  cfg.order = swarm_order::iterative;
  for (std::string p : {"a", "b", "c", "d"}) {
    auto id = fixture::id("contributor/" + p);
    auto a = actors::spawn_agent(f.rt.system(), f.board, actors::agent_spec{id, "test", {}}, logic, opts);
    REQUIRE(a);
    cfg.contributors.push_back({id, *a, p});
  }
  cfg.run.stop = max_rounds(1);
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "cc", json::object());
  CHECK(r.status == run_status::settled);  // its one round ran to the end
  auto artifact = f.at("runs/cc/artifact");
  const std::vector<std::string> all{"contributor/a", "contributor/b", "contributor/c", "contributor/d"};
  if (how == artifact_edit::merge) {
    CHECK(artifact == json({{"contributor/a", true}, {"contributor/b", true}, {"contributor/c", true}, {"contributor/d", true}}));
    CHECK(calls.load() == 4);  // nobody had to run again
  } else {
    CHECK(sorted(artifact) == all);
    CHECK(calls.load() >= 7);  // three lost the first race, and ran again
  }
  CHECK(r.answer == artifact);
  CHECK(f.at("runs/cc/round/1")["summary"]["answers"].size() == 4);
  for (const auto& who : all) {
    auto task = "cc/r1:contributor:" + who.substr(std::string("contributor/").size()) + "/0";
    CHECK(f.commits_with_txn(task) == 1);
  }
}

TEST_CASE("swarm closes an iterative round on quorum, the slow edit is refused afterwards",
          "[agents][swarm]") {
  fixture f;
  later threads;
  gate release, slow_started;
  std::atomic<int> slow_calls{0};
  REQUIRE(f.board->declare_mergeable("runs/*/artifact"));
  // a and b answer once the slow one has read its turn: the round then
  // closes on their quorum while the slow one is still at work.
  auto appender = actors::agent_logic::async(
      [&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        auto turn = swarm_turn::read(t, sp);
        if (!turn) return (void)done.fail(turn.error());
        threads.run([&, turn = *turn, &sp = sp, done] {
          if (!slow_started.wait()) return (void)done.fail(bb::error{bb::errc::invalid_argument, "slow never started"});
          done(submit_contribution(turn, sp, {json(turn.persona), artifact_edit::append}));
        });
      });
  auto slow = actors::agent_logic::async(
      [&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        ++slow_calls;
        auto turn = swarm_turn::read(t, sp);  // on the retry: "round 1 closed before this contribution"
        if (!turn) return (void)done.fail(turn.error());
        slow_started.open();
        threads.run([&, turn = *turn, &sp = sp, done] {
          release.wait();
          done(submit_contribution(turn, sp, {json("slow"), artifact_edit::append}));
        });
      });
  swarm_config cfg;
  cfg.order = swarm_order::iterative;
  cfg.contributors.push_back(f.spawn("contributor/a", appender, "a"));
  cfg.contributors.push_back(f.spawn("contributor/b", appender, "b"));
  cfg.contributors.push_back(f.spawn("contributor/slow", slow, "slow"));
  cfg.run.stop = max_rounds(1);
  cfg.run.round.quorum = 2;
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "q", json::object());
  CHECK(sorted(r.answer) == std::vector<std::string>{"a", "b"});
  CHECK(f.at("runs/q/round/1")["missing"] == json::array({"contributor/slow"}));
  auto w = f.board->watch("runs/q/late", 0);
  REQUIRE(w);
  release.open();
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  auto late = f.at("runs/q/late/1/contributor/slow");
  CHECK(late["status"] == "error");
  CHECK(late["error"].get<std::string>().find("round 1 closed before this contribution") != std::string::npos);
  CHECK(slow_calls.load() == 2);  // its pinned promotion conflicted once, then it gave up
  CHECK(sorted(f.at("runs/q/artifact")) == std::vector<std::string>{"a", "b"});
  CHECK(f.at("runs/q/answers/1/contributor/slow").is_null());
}

TEST_CASE("swarm round robin goes on without a slow contributor, whose late edit is refused",
          "[agents][swarm]") {
  fixture f;
  later threads;
  gate release_b, b_gave_up;
  std::atomic<int> b_calls{0};
  sightings seen;
  auto b = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    ++b_calls;
    auto turn = swarm_turn::read(t, sp);
    if (!turn) {
      b_gave_up.open();  // the retry after its pinned promotion conflicted: the turn is over
      return (void)done.fail(turn.error());
    }
    threads.run([&, turn = *turn, &sp = sp, done] {
      release_b.wait();
      done(submit_contribution(turn, sp, {json("b-was-here")}));
    });
  });
  // c, whose step starts once b's closed, lets b finish and waits until b
  // has given up before it contributes: b is refused by the step's pin, not
  // by the round's record.
  auto c = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    auto turn = swarm_turn::read(t, sp);
    if (!turn) return (void)done.fail(turn.error());
    release_b.open();
    threads.run([&, turn = *turn, &sp = sp, done] {
      if (!b_gave_up.wait()) return (void)done.fail(bb::error{bb::errc::invalid_argument, "b never gave up"});
      std::string so_far = turn.artifact.is_string() ? turn.artifact.get<std::string>() : "";
      seen.add("c saw '" + so_far + "'");
      done(submit_contribution(turn, sp, {json(so_far + ",c")}));
    });
  });
  swarm_config cfg;
  cfg.order = swarm_order::round_robin;
  cfg.contributors.push_back(f.spawn("contributor/a", chain(), "a"));
  cfg.contributors.push_back(f.spawn("contributor/b", b, "b"));
  cfg.contributors.push_back(f.spawn("contributor/c", c, "c"));
  cfg.run.stop = max_rounds(1);
  cfg.run.round.timeout = 2s;  // b's step closes on it; a's and c's need far less
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto w = f.board->watch("runs/rs/late", 0);
  REQUIRE(w);
  auto r = f.run(*s, "rs", json::object());
  CHECK(r.answer == "a,c");
  CHECK(seen.lines() == std::vector<std::string>{"c saw 'a'"});
  CHECK(b_calls.load() == 2);
  CHECK(f.at("runs/rs/round/1")["missing"] == json::array({"contributor/b"}));
  auto ev = w->next(10s);
  REQUIRE(ev);
  REQUIRE(*ev);
  auto late = f.at("runs/rs/late/1/contributor/b");
  CHECK(late["status"] == "error");
  CHECK(late["error"].get<std::string>().find("is over") != std::string::npos);
  CHECK(f.at("runs/rs/artifact") == "a,c");
}

TEST_CASE("swarm resumes after its orchestrator is killed mid-round", "[agents][swarm]") {
  fixture f;
  later threads;
  gate in_round2, asked_again, release_first, release_second;
  std::map<std::string, std::atomic<int>> calls;
  for (std::string p : {"a", "b", "c"}) calls[p] = 0;
  auto counted = contributor([&](const swarm_turn& t) -> bb::result<json> {
    ++calls.at(t.persona);
    std::string so_far = t.artifact.is_string() ? t.artifact.get<std::string>() : "";
    return json(so_far + t.persona);
  });
  // c contributes at once in round 1. In round 2 its first run (asked by the
  // first orchestrator) and its second (asked again by the second one) both
  // block until released; the second would contribute something else.
  std::atomic<int> c_round2{0};
  auto c = actors::agent_logic::async([&](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    ++calls.at("c");
    auto turn = swarm_turn::read(t, sp);
    if (!turn) return (void)done.fail(turn.error());
    std::string mine = turn->artifact.get<std::string>() + "c";
    if (turn->round == 1) return (void)done(submit_contribution(*turn, sp, {json(mine)}));
    const int run = ++c_round2;
    (run == 1 ? in_round2 : asked_again).open();
    threads.run([&, turn = *turn, &sp = sp, done, mine, run] {
      (run == 1 ? release_first : release_second).wait();
      done(submit_contribution(turn, sp, {json(run == 1 ? mine : mine + "#2")}));
    });
  });
  actors::agent_options two_at_once;
  two_at_once.max_concurrent_tasks = 2;
  auto c_actor = actors::spawn_agent(f.rt.system(), f.board, actors::agent_spec{fixture::id("contributor/c"), "test", {}}, c, two_at_once);
  REQUIRE(c_actor);
  swarm_config cfg;
  cfg.order = swarm_order::round_robin;
  cfg.contributors.push_back(f.spawn("contributor/a", counted, "a"));
  cfg.contributors.push_back(f.spawn("contributor/b", counted, "b"));
  cfg.contributors.push_back({fixture::id("contributor/c"), *c_actor, "c"});
  cfg.run.stop = max_rounds(2);
  cfg.run.fallback = fallback::last;
  {
    auto first = spawn_swarm(f.rt, f.board, cfg);
    REQUIRE(first);
    actors::task t;
    t.run_id = "res";
    t.task_id = "run";
    t.input = json::object();
    f.self->send(*first, actors::run_atom::value, t);
    REQUIRE(in_round2.wait());  // a and b have committed round 2: the steps run in turn
    caf::anon_send_exit(*first, caf::exit_reason::kill);
  }
  CHECK(f.at("runs/res/round/1")["artifact"] == "abc");
  CHECK(f.at("runs/res/round/2").is_null());
  CHECK(f.at("runs/res/answers/2/contributor/b") == "abcab");

  auto second = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(second);
  std::optional<caf::expected<run_result>> finished;
  std::thread runner([&] { finished = run_pattern(f.rt.system(), *second, "res", json::object(), 20s); });
  // c is asked again (its first run has not committed); the first run then
  // commits, and the second replays that commit instead of its own.
  CHECK(asked_again.wait());
  auto committed = f.board->watch("runs/res/answers/2/contributor/c", 0);
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
  CHECK(r.answer == "abcabc");
  CHECK(f.at("runs/res/artifact") == "abcabc");
  CHECK(f.at("runs/res/round/2")["contributions"]["contributor/c"] == "abcabc");  // the commit that stands
  // Nothing completed was asked again; nothing was committed twice.
  CHECK(calls.at("a").load() == 2);
  CHECK(calls.at("b").load() == 2);
  CHECK(calls.at("c").load() == 3);
  CHECK(f.commits_with_txn("res/round-1") == 1);
  CHECK(f.commits_with_txn("res/round-2") == 1);
  CHECK(f.commits_with_txn("res/turn-2-0") == 1);
  CHECK(f.commits_with_txn("res/turn-2-2") == 1);
  CHECK(f.commits_with_txn("res/r2s2:contributor:c/0") == 1);
  CHECK(f.commits_with_txn("res/result") == 1);
}

TEST_CASE("a swarm stopped by a limit after several rounds leaves the answer to the fallback, named short",
          "[agents][swarm]") {
  fixture f;
  // Long contributions that never settle: two rounds, then max_rounds.
  auto wordy = contributor([](const swarm_turn& t) -> bb::result<json> {
    return json(std::string(200, static_cast<char>('a' + t.round)) + t.persona);
  });
  swarm_config cfg;
  cfg.order = swarm_order::iterative;
  cfg.contributors.push_back(f.spawn("contributor/a", wordy, "a"));
  cfg.reduce = join;
  cfg.run.stop = max_rounds(2);
  cfg.run.fallback = fallback::last;
  auto s = spawn_swarm(f.rt, f.board, cfg);
  REQUIRE(s);
  auto r = f.run(*s, "long", json::object());
  CHECK(r.status == run_status::fallback);
  CHECK(r.answer.get<std::string>().size() == 201);  // the answer is whole
  CHECK(r.reason.size() < 160);                       // the reason only names it
  CHECK(r.reason.find("...'") != std::string::npos);
}

TEST_CASE("swarm nests: a swarm can be a contributor", "[agents][swarm]") {
  fixture f;
  swarm_config inner;
  inner.contributors.push_back(f.spawn("contributor/i1", contributor([](const swarm_turn&) -> bb::result<json> { return json("x"); })));
  inner.contributors.push_back(f.spawn("contributor/i2", contributor([](const swarm_turn&) -> bb::result<json> { return json("y"); })));
  inner.reduce = join;
  inner.run.stop = max_rounds(1);
  inner.id = fixture::id("swarm/panel");
  auto panel = spawn_swarm(f.rt, f.board, inner);
  REQUIRE(panel);

  swarm_config outer;
  outer.contributors.push_back(member{fixture::id("swarm/panel"), *panel, ""});
  outer.contributors.push_back(f.spawn("contributor/solo", contributor([](const swarm_turn&) -> bb::result<json> { return json("z"); })));
  outer.reduce = join;
  outer.run.stop = max_rounds(1);
  auto s = spawn_swarm(f.rt, f.board, outer);
  REQUIRE(s);
  auto r = f.run(*s, "n1", {{"task", "nest"}});
  CHECK(r.answer == "z+x+y");  // in contributor id order: contributor/solo, swarm/panel
  // The panel ran its own run, named after the outer task, and wrote its artifact where asked.
  CHECK(f.at("runs/n1.r1:swarm:panel/result")["status"] == "settled");
  CHECK(f.at("runs/n1.r1:swarm:panel/artifact") == "x+y");
  CHECK(f.at("runs/n1/answers/1/swarm/panel") == "x+y");
}

TEST_CASE("swarm: the same seed gives the same transcript", "[agents][swarm]") {
  auto run_once = [](std::uint32_t seed) {
    fixture f;
    auto logic = contributor([seed](const swarm_turn& t) -> bb::result<json> {
      // Deterministic in (seed, round, persona): no shared RNG state.
      std::mt19937 rng(seed * 7919u + t.round * 31u + static_cast<std::uint32_t>(std::hash<std::string>{}(t.persona)));
      if (t.round > 2 && t.artifact.is_string()) return t.artifact;  // join the majority
      return json(std::to_string(rng() % 3));
    });
    swarm_config cfg;
    cfg.order = swarm_order::iterative;
    for (std::string p : {"a", "b", "c", "d", "e"}) cfg.contributors.push_back(f.spawn("contributor/" + p, logic, p));
    cfg.reduce = [](const swarm_merge& m) -> bb::result<json> {  // the most common contribution
      std::map<std::string, int> votes;
      for (const auto& [who, c] : m.contributions) ++votes[text(c)];
      auto best = std::max_element(votes.begin(), votes.end(),
                                   [](const auto& x, const auto& y) { return x.second < y.second; });
      return json(best->first);
    };
    cfg.run.stop = consensus(supermajority(0.8)) | quiescence(2) | max_rounds(6);
    auto s = spawn_swarm(f.rt, f.board, cfg);
    REQUIRE(s);
    f.run(*s, "seeded", {{"task", "pick"}});
    auto out = transcript(*f.board, "seeded");
    REQUIRE(out);
    return *out;
  };
  auto a = run_once(7), b = run_once(7), c = run_once(8);
  CHECK(a == b);
  CHECK(a != c);
  INFO(a);
  CHECK(a.find("run seeded: swarm, policy consensus(supermajority(0.80)) | quiescence(2) | max_rounds(6)") == 0);
  CHECK(a.find("round 2:\n") != std::string::npos);
}
