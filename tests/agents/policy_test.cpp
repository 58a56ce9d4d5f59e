#include "agora/agents/policy.hpp"

#include <catch2/catch.hpp>

using namespace agora;
using namespace std::chrono_literals;

namespace {

// A round where agents answered as given; `expected` defaults to the number of answers.
round_summary round_of(std::uint32_t n, std::map<std::string, std::string> answers,
                       std::size_t expected = 0) {
  round_summary r;
  r.number = n;
  r.expected = expected ? expected : answers.size();
  r.new_contributions = answers.size();
  r.answers = std::move(answers);
  return r;
}

run_state with_rounds(std::vector<round_summary> rounds) {
  run_state s;
  s.run_id = "r1";
  s.rounds = std::move(rounds);
  return s;
}

}  // namespace

TEST_CASE("policy max_rounds stops after n rounds and says so", "[agents][policy]") {
  auto p = max_rounds(2);
  CHECK_FALSE(p.evaluate(with_rounds({round_of(1, {{"a", "x"}})})).stop);
  auto d = p.evaluate(with_rounds({round_of(1, {{"a", "x"}}), round_of(2, {{"a", "y"}})}));
  CHECK(d.stop);
  CHECK(d.reason == "max_rounds: 2 of 2 rounds done");
  CHECK(d.has(stop_kind::max_rounds));
  CHECK_FALSE(d.answer);  // a limit settles nothing: the fallback decides
  CHECK(p.bounded());
  CHECK(p.describe() == "max_rounds(2)");
}

TEST_CASE("policy deadline stops once the elapsed time reaches it", "[agents][policy]") {
  auto p = deadline(2s);
  run_state s = with_rounds({round_of(1, {{"a", "x"}})});
  s.elapsed = 1999ms;
  CHECK_FALSE(p.evaluate(s).stop);
  s.elapsed = 2s;
  auto d = p.evaluate(s);
  CHECK(d.stop);
  CHECK(d.reason == "deadline: 2 s elapsed, limit 2 s (after round 1)");
  CHECK(p.bounded());
}

TEST_CASE("policy budgets stop when tokens or money reach them", "[agents][policy]") {
  run_state s;
  s.tokens = 999;
  s.cost_usd = 0.25;
  CHECK_FALSE(token_budget(1000).evaluate(s).stop);
  CHECK_FALSE(cost_budget(0.5).evaluate(s).stop);
  s.tokens = 1000;
  s.cost_usd = 0.5;
  CHECK(token_budget(1000).evaluate(s).reason == "token_budget: 1000 tokens used, budget 1000");
  CHECK(cost_budget(0.5).evaluate(s).reason == "cost_budget: $0.5000 spent, budget $0.5000");
  CHECK_FALSE(token_budget(10).bounded());  // free agents never spend it
}

TEST_CASE("policy consensus rules count against the agents asked", "[agents][policy]") {
  // 2 of 3 answered 42, one agent did not answer at all.
  auto two_of_three = with_rounds({round_of(2, {{"a", "42"}, {"b", "42"}}, 3)});
  auto d = consensus(majority).evaluate(two_of_three);
  CHECK(d.stop);
  CHECK(d.reason == "consensus (majority): 2 of 3 agree on '42' after round 2");
  REQUIRE(d.answer);
  CHECK(*d.answer == "42");
  CHECK_FALSE(consensus(unanimity).evaluate(two_of_three).stop);  // the third did not answer
  CHECK_FALSE(consensus(supermajority(0.75)).evaluate(two_of_three).stop);  // needs 3 of 3
  CHECK(consensus(supermajority(2.0 / 3)).evaluate(two_of_three).stop);     // needs 2 of 3

  auto all = with_rounds({round_of(1, {{"a", "x"}, {"b", "x"}, {"c", "x"}})});
  CHECK(consensus(unanimity).evaluate(all).reason ==
        "consensus (unanimity): 3 of 3 agree on 'x' after round 1");

  // One of four is not a majority; plurality needs a unique leader.
  auto split = with_rounds({round_of(1, {{"a", "x"}, {"b", "x"}, {"c", "y"}, {"d", "z"}})});
  CHECK_FALSE(consensus(majority).evaluate(split).stop);  // 2 of 4 is not more than half
  auto p = consensus(plurality).evaluate(split);
  CHECK(p.stop);
  CHECK(*p.answer == "x");
  auto tie = with_rounds({round_of(1, {{"a", "x"}, {"b", "x"}, {"c", "y"}, {"d", "y"}})});
  CHECK_FALSE(consensus(plurality).evaluate(tie).stop);
  CHECK_FALSE(consensus(majority).evaluate(run_state{}).stop);  // no round yet
  CHECK_FALSE(consensus(majority).bounded());
}

TEST_CASE("policy supermajority rejects a quota not above one half or above one", "[agents][policy]") {
  auto bad = consensus_rule::make_supermajority(0.4);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == bb::errc::invalid_argument);
  CHECK(bad.error().message == "supermajority quota 0.4 is outside (0.5, 1]");
  CHECK_FALSE(consensus_rule::make_supermajority(1.01));
  REQUIRE(consensus_rule::make_supermajority(1.0));
  CHECK(supermajority(2.0 / 3).needed(3) == 2);
  CHECK(supermajority(0.9).needed(10) == 9);
  CHECK(supermajority(0.67).name() == "supermajority(0.67)");
}

TEST_CASE("policy quality_threshold stops on a good enough round and carries its answer",
          "[agents][policy]") {
  auto r1 = round_of(1, {{"gen", "draft 1"}});
  r1.aggregate = "draft 1";
  r1.quality = 0.5;
  auto r2 = r1;
  r2.number = 2;
  r2.aggregate = "draft 2";
  r2.quality = 0.9;
  CHECK_FALSE(quality_threshold(0.8).evaluate(with_rounds({r1})).stop);
  auto d = quality_threshold(0.8).evaluate(with_rounds({r1, r2}));
  CHECK(d.stop);
  CHECK(d.reason == "quality_threshold: score 0.9 >= 0.8 in round 2");
  CHECK(*d.answer == "draft 2");
}

TEST_CASE("policy quiescence stops after k rounds without anything new", "[agents][policy]") {
  auto r1 = round_of(1, {{"a", "x"}});
  auto r2 = round_of(2, {{"a", "x"}});
  r2.new_contributions = 0;
  auto r3 = r2;
  r3.number = 3;
  CHECK_FALSE(quiescence(2).evaluate(with_rounds({r1, r2})).stop);
  auto d = quiescence(2).evaluate(with_rounds({r1, r2, r3}));
  CHECK(d.stop);
  CHECK(d.reason == "quiescence: no new contribution in the last 2 round(s), up to round 3");
  CHECK_FALSE(d.answer);
}

TEST_CASE("policy stable_answer stops when the aggregate holds for k rounds", "[agents][policy]") {
  auto r1 = round_of(1, {{"a", "x"}});
  r1.aggregate = "x";
  auto r2 = round_of(2, {{"a", "y"}});
  r2.aggregate = "y";
  auto r3 = round_of(3, {{"a", "y"}});
  r3.aggregate = "y";
  CHECK_FALSE(stable_answer(3).evaluate(with_rounds({r1, r2, r3})).stop);
  auto d = stable_answer(2).evaluate(with_rounds({r1, r2, r3}));
  CHECK(d.stop);
  CHECK(d.reason == "stable_answer: 'y' unchanged for 2 round(s), up to round 3");
  CHECK(*d.answer == "y");
}

TEST_CASE("policy | stops when either stops, & only when both do", "[agents][policy]") {
  auto agreed = with_rounds({round_of(1, {{"a", "x"}, {"b", "x"}})});
  auto split = with_rounds({round_of(1, {{"a", "x"}, {"b", "y"}})});

  auto either = consensus(majority) | max_rounds(3);
  CHECK(either.evaluate(agreed).stop);
  CHECK(either.evaluate(agreed).has(stop_kind::consensus));
  CHECK_FALSE(either.evaluate(split).stop);
  CHECK(either.describe() == "consensus(majority) | max_rounds(3)");

  // Both fire in the same round: both reasons, the settled answer kept.
  auto both_fire = consensus(majority) | max_rounds(1);
  auto d = both_fire.evaluate(agreed);
  CHECK(d.reason ==
        "consensus (majority): 2 of 2 agree on 'x' after round 1; max_rounds: 1 of 1 rounds done");
  CHECK(d.kinds == std::vector<stop_kind>{stop_kind::consensus, stop_kind::max_rounds});
  CHECK(*d.answer == "x");

  auto both = consensus(majority) & max_rounds(2);
  CHECK_FALSE(both.evaluate(agreed).stop);  // agreed, but only one round done
  auto agreed_twice = with_rounds({round_of(1, {{"a", "x"}, {"b", "x"}}), round_of(2, {{"a", "x"}, {"b", "x"}})});
  auto d2 = both.evaluate(agreed_twice);
  CHECK(d2.stop);
  CHECK(d2.reason ==
        "consensus (majority): 2 of 2 agree on 'x' after round 2 and max_rounds: 2 of 2 rounds done");
  CHECK((( consensus(majority) | quiescence(2)) & max_rounds(2)).describe() ==
        "(consensus(majority) | quiescence(2)) & max_rounds(2)");
}

TEST_CASE("policy boundedness: a run that might never stop is refused", "[agents][policy]") {
  CHECK((consensus(majority) | max_rounds(3)).bounded());
  CHECK((consensus(majority) | deadline(1s)).bounded());
  CHECK_FALSE((consensus(majority) & max_rounds(3)).bounded());  // consensus may never come
  CHECK((deadline(1s) & max_rounds(3)).bounded());
  CHECK_FALSE((token_budget(10) | cost_budget(1.0)).bounded());

  auto none = policy{}.check_bounded("r7");
  REQUIRE_FALSE(none);
  CHECK(none.error().code == bb::errc::invalid_argument);
  CHECK(none.error().message.find("run 'r7' has no stop policy") == 0);

  auto unbounded = (consensus(majority) | quiescence(2)).check_bounded("r7");
  REQUIRE_FALSE(unbounded);
  CHECK(unbounded.error().message.find("'consensus(majority) | quiescence(2)' may never stop") !=
        std::string::npos);
  CHECK((consensus(majority) | max_rounds(3)).check_bounded("r7"));
  // Combining with an empty policy is the other side alone.
  CHECK((policy{} | max_rounds(2)).describe() == "max_rounds(2)");
}

TEST_CASE("policy fallback picks the last or the best round's aggregate", "[agents][policy]") {
  auto r1 = round_of(1, {{"a", "x"}, {"b", "x"}, {"c", "y"}});
  r1.aggregate = "x";  // 2 of 3
  auto r2 = round_of(2, {{"a", "z"}, {"b", "y"}, {"c", "y"}});
  r2.aggregate = "y";  // 2 of 3: a tie in share, the later round wins
  auto r3 = round_of(3, {{"a", "z"}, {"b", "y"}, {"c", "w"}});
  r3.aggregate = "z";  // 1 of 3
  auto s = with_rounds({r1, r2, r3});
  CHECK(*pick_fallback(fallback::last, s) == "z");
  CHECK(*pick_fallback(fallback::best_so_far, s) == "y");
  CHECK_FALSE(pick_fallback(fallback::escalate, s));
  CHECK_FALSE(pick_fallback(fallback::last, run_state{}));

  // Quality beats votes.
  r1.quality = 0.9;
  r2.quality = 0.4;
  CHECK(*pick_fallback(fallback::best_so_far, with_rounds({r1, r2, r3})) == "x");
}

TEST_CASE("policy time_limit is the deadline that stops a run whatever else happens",
          "[agents][policy]") {
  CHECK_FALSE(max_rounds(3).time_limit());
  CHECK(*(deadline(5s) | deadline(2s)).time_limit() == 2s);
  CHECK(*(consensus(majority) | deadline(2s)).time_limit() == 2s);
  CHECK_FALSE((consensus(majority) & deadline(2s)).time_limit());  // needs consensus too
  CHECK(*(deadline(5s) & deadline(2s)).time_limit() == 5s);
  CHECK_FALSE(policy{}.time_limit());
}

TEST_CASE("policy custom stops when its function says so, with its reason and answer", "[agents][policy]") {
  // Stop when every answer of the last round is within 1 of the others.
  auto close = custom("close_enough", [](const run_state& s) {
    decision d;
    const round_summary* r = s.last();
    if (!r || r->answers.empty()) return d;
    double lo = 1e300, hi = -1e300;
    for (const auto& [who, a] : r->answers) {
      lo = std::min(lo, std::stod(a));
      hi = std::max(hi, std::stod(a));
    }
    if (hi - lo > 1) return d;
    d.stop = true;
    d.reason = "close_enough: spread " + std::to_string(static_cast<int>(hi - lo));
    d.answer = r->answers.begin()->second;
    return d;
  });
  CHECK_FALSE(close.bounded());
  CHECK(close.describe() == "close_enough");
  CHECK_FALSE(close.evaluate(with_rounds({round_of(1, {{"a", "10"}, {"b", "14"}})})).stop);
  auto d = close.evaluate(with_rounds({round_of(1, {{"a", "10"}, {"b", "14"}}), round_of(2, {{"a", "11"}, {"b", "12"}})}));
  CHECK(d.stop);
  CHECK(d.reason == "close_enough: spread 1");
  REQUIRE(d.kinds.size() == 1);
  CHECK(d.kinds[0] == stop_kind::custom);
  CHECK(d.answer == std::optional<std::string>("11"));

  // Unbounded alone: a pattern refuses it; with a bound of its own or | max_rounds it is accepted.
  CHECK_FALSE(close.check_bounded("r1"));
  CHECK((close | max_rounds(3)).check_bounded("r1"));
  CHECK_FALSE((close & max_rounds(3)).bounded());
  CHECK((close | max_rounds(3)).describe() == "close_enough | max_rounds(3)");
}

TEST_CASE("policy custom with a round bound is bounded and stops there", "[agents][policy]") {
  auto never = custom("never", [](const run_state&) { return decision{}; }, 2);
  CHECK(never.bounded());
  CHECK(never.check_bounded("r1"));
  CHECK(never.describe() == "never(bound 2)");
  CHECK_FALSE(never.evaluate(with_rounds({round_of(1, {{"a", "1"}})})).stop);
  auto d = never.evaluate(with_rounds({round_of(1, {{"a", "1"}}), round_of(2, {{"a", "1"}})}));
  CHECK(d.stop);
  CHECK(d.reason == "never: 2 of 2 rounds done");
  CHECK_FALSE(d.answer);
  // Composes like the built-ins: both fire in the same round.
  auto both = (never | max_rounds(2)).evaluate(with_rounds({round_of(1, {{"a", "1"}}), round_of(2, {{"a", "1"}})}));
  CHECK(both.has(stop_kind::custom));
  CHECK(both.has(stop_kind::max_rounds));
}

TEST_CASE("policy custom that throws stops the run naming the failure, and fills an empty reason",
          "[agents][policy]") {
  auto bad = custom("picky", [](const run_state&) -> decision { throw std::runtime_error("no rounds to judge"); });
  auto d = bad.evaluate(with_rounds({round_of(1, {{"a", "1"}})}));
  CHECK(d.stop);
  CHECK(d.reason == "picky failed: no rounds to judge");
  CHECK_FALSE(d.answer);
  auto terse = custom("terse", [](const run_state&) {
    decision x;
    x.stop = true;
    return x;
  });
  CHECK(terse.evaluate(with_rounds({round_of(1, {{"a", "1"}}), round_of(2, {{"a", "1"}})})).reason ==
        "terse: stopped after round 2");
}

TEST_CASE("answer_less ranks numbers as numbers and everything else as text", "[agents][policy]") {
  CHECK(answer_less("9", "10"));
  CHECK_FALSE(answer_less("10", "9"));
  CHECK(answer_less("-2.5", "1"));
  CHECK(answer_less("1e2", "101"));
  CHECK(answer_less("10", "9a"));  // "9a" is not a number: text order
  CHECK(answer_less("apple", "banana"));
  CHECK_FALSE(answer_less("9", "9"));
}
