// Limits and storable values (options.hpp, scratchpad put/merge/append,
// promote).
#include <functional>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;
using Catch::Contains;

namespace {

blackboard_options small_limits() {
  blackboard_options o;
  o.limits.max_key_bytes = 16;
  o.limits.max_value_bytes = 64;
  o.limits.max_ops_per_txn = 3;
  o.limits.max_depth = 3;
  return o;
}

/// Stages with `stage` on a fresh scratchpad and promotes; the limit may be
/// enforced at either step. Returns the error, which must come.
error rejection(blackboard& b, const std::function<status(scratchpad&)>& stage) {
  auto sp = b.begin("alice");
  status s = stage(sp);
  if (!s.ok()) return s.error();
  auto r = b.promote(sp);
  INFO("promote: " << describe(r));
  REQUIRE_FALSE(r.ok());
  return r.error();
}

/// A failed put must stage nothing and name `key`; returns the error.
error rejected_put(scratchpad& sp, const std::string& key, json value, errc code) {
  auto s = sp.put(key, std::move(value));
  INFO("put " << key << ": " << describe(s));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == code);
  CHECK(sp.empty());
  return s.error();
}

const double k_nan = std::numeric_limits<double>::quiet_NaN();
const double k_inf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("limits max_key_bytes rejects longer keys naming limit and length", "[blackboard][limits]") {
  blackboard b(small_limits());
  const auto before = observe(b);
  auto sp = b.begin("alice");
  CHECK(sp.put(std::string(16, 'k'), 1).ok());

  auto other = b.begin("alice");
  auto e = rejected_put(other, std::string(17, 'k'), 1, errc::limit_exceeded);
  CHECK_THAT(e.message, Contains("max_key_bytes"));
  CHECK_THAT(e.message, Contains("17"));

  promotion p;
  p.author = "alice";
  p.ops.push_back(staged_op{op_kind::put, std::string(17, 'p'), 1});
  auto r = b.promote(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::limit_exceeded);
  CHECK_THAT(r.error().message, Contains("max_key_bytes"));
  CHECK_THAT(r.error().message, Contains("17"));
  check_unchanged(b, before);
}

TEST_CASE("limits max_value_bytes rejects larger values naming limit, key and size",
          "[blackboard][limits]") {
  blackboard b(small_limits());
  const auto before = observe(b);
  auto sp = b.begin("alice");
  CHECK(sp.put("small", std::string(20, 'x')).ok());

  auto other = b.begin("alice");
  auto e = rejected_put(other, "big", std::string(1000, 'x'), errc::limit_exceeded);
  CHECK_THAT(e.message, Contains("max_value_bytes"));
  CHECK_THAT(e.message, Contains("big"));
  // 1000 characters; 1002 with the quotes of its JSON text
  CHECK_THAT(e.message, Contains("1000") || Contains("1002"));

  promotion p;
  p.author = "alice";
  p.ops.push_back(staged_op{op_kind::put, "big", std::string(1000, 'x')});
  auto r = b.promote(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::limit_exceeded);
  CHECK_THAT(r.error().message, Contains("max_value_bytes"));
  check_unchanged(b, before);
}

TEST_CASE("limits max_value_bytes applies to the result of merges and appends at promotion",
          "[blackboard][limits]") {
  blackboard b(small_limits());
  REQUIRE(b.declare_mergeable("doc"));
  REQUIRE(b.declare_mergeable("log"));
  const std::string thirty(30, 'x');
  const std::string twenty(20, 'y');
  commit_put(b, "log", json::array({twenty}));  // ["yy…"]: 24 bytes

  SECTION("merge") {
    // {"a":"<30>"} is 38 bytes; with "b" as well it is 75 > 64.
    auto alice = b.begin("alice");
    auto bob = b.begin("bob");
    REQUIRE(alice.merge("doc", {{"a", thirty}}));
    REQUIRE(bob.merge("doc", {{"b", thirty}}));
    REQUIRE(b.promote(alice).ok());
    const auto before = observe(b);
    auto r = b.promote(bob);
    INFO(describe(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::limit_exceeded);
    CHECK_THAT(r.error().message, Contains("max_value_bytes"));
    CHECK_THAT(r.error().message, Contains("doc"));
    check_unchanged(b, before);
  }
  SECTION("append") {
    // 24 -> 47 bytes with alice's element, 70 > 64 with bob's too.
    auto alice = b.begin("alice");
    auto bob = b.begin("bob");
    REQUIRE(alice.append("log", twenty));
    REQUIRE(bob.append("log", twenty));
    REQUIRE(b.promote(alice).ok());
    const auto before = observe(b);
    auto r = b.promote(bob);
    INFO(describe(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::limit_exceeded);
    CHECK_THAT(r.error().message, Contains("max_value_bytes"));
    CHECK_THAT(r.error().message, Contains("log"));
    check_unchanged(b, before);
  }
}

TEST_CASE("limits max_ops_per_txn rejects a promotion with more operations",
          "[blackboard][limits]") {
  blackboard b(small_limits());
  const auto before = observe(b);

  auto three = b.begin("alice");
  REQUIRE(three.put("a", 1));
  REQUIRE(three.put("b", 1));
  REQUIRE(three.erase("c"));

  auto e = rejection(b, [](scratchpad& sp) -> status {
    for (const char* k : {"a", "b", "c"})
      if (auto s = sp.put(k, 1); !s) return s;
    return sp.append("d", 1);
  });
  CHECK(e.code == errc::limit_exceeded);
  CHECK_THAT(e.message, Contains("max_ops_per_txn"));
  check_unchanged(b, before);

  promotion p;
  p.author = "alice";
  for (const char* k : {"a", "b", "c", "d"}) p.ops.push_back(staged_op{op_kind::put, k, 1});
  auto r = b.promote(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::limit_exceeded);
  CHECK_THAT(r.error().message, Contains("max_ops_per_txn"));
  CHECK_THAT(r.error().message, Contains("4"));
  check_unchanged(b, before);

  auto ok = b.promote(three);
  INFO(describe(ok));
  CHECK(ok.ok());
}

TEST_CASE("limits max_depth rejects deeper values naming limit and depth", "[blackboard][limits]") {
  blackboard b(small_limits());
  REQUIRE(b.declare_mergeable("deep"));
  const auto before = observe(b);

  auto sp = b.begin("alice");
  CHECK(sp.put("flat", 1).ok());
  CHECK(sp.put("three", R"({"a":{"b":{"c":1}}})"_json).ok());
  CHECK(sp.put("arrays", R"([[[1]]])"_json).ok());

  auto other = b.begin("alice");
  auto e = rejected_put(other, "four", R"({"a":{"b":{"c":[1]}}})"_json, errc::limit_exceeded);
  CHECK_THAT(e.message, Contains("max_depth"));
  CHECK_THAT(e.message, Contains("4"));
  CHECK_THAT(e.message, Contains("four"));

  // [[[1]]] has depth 3, but appended to an array the result has depth 4.
  auto appended = rejection(b, [](scratchpad& s) { return s.append("deep", R"([[[1]]])"_json); });
  CHECK(appended.code == errc::limit_exceeded);
  CHECK_THAT(appended.message, Contains("max_depth"));

  promotion p;
  p.author = "alice";
  p.ops.push_back(staged_op{op_kind::put, "four", R"([[[[1]]]])"_json});
  auto r = b.promote(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::limit_exceeded);
  CHECK_THAT(r.error().message, Contains("max_depth"));
  check_unchanged(b, before);

  auto fine = b.promote(sp);
  INFO(describe(fine));
  CHECK(fine.ok());
}

TEST_CASE("limits NaN and infinity are not storable values", "[blackboard][limits]") {
  blackboard b;
  commit_put(b, "runs/1/list", json::array());
  const auto before = observe(b);
  auto sp = b.begin("alice");

  auto e = rejected_put(sp, "runs/1/v", {{"scores", {1, k_nan}}}, errc::invalid_value);
  CHECK(e.key == "runs/1/v");
  CHECK(e.path == "/scores/1");
  CHECK_THAT(e.message, Contains("runs/1/v"));

  e = rejected_put(sp, "runs/1/v", k_inf, errc::invalid_value);
  CHECK(e.path == "");
  rejected_put(sp, "runs/1/v", json::array({-k_inf}), errc::invalid_value);

  auto m = sp.merge("runs/1/doc", {{"x", k_nan}});
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == errc::invalid_value);
  CHECK(m.error().key == "runs/1/doc");
  CHECK(m.error().path == "/x");
  auto a = sp.append("runs/1/list", {{"y", k_inf}});
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == errc::invalid_value);
  CHECK(a.error().key == "runs/1/list");

  CHECK(sp.empty());
  check_unchanged(b, before);
}

TEST_CASE("limits strings with invalid UTF-8 are not storable values", "[blackboard][limits]") {
  blackboard b;
  const auto before = observe(b);
  auto sp = b.begin("alice");

  auto e = rejected_put(sp, "runs/1/v", {{"name", "a\xff" "b"}}, errc::invalid_value);
  CHECK(e.key == "runs/1/v");
  CHECK(e.path == "/name");
  CHECK_THAT(e.message, Contains("runs/1/v"));

  e = rejected_put(sp, "runs/1/v", json::array({"ok", "\xc3"}), errc::invalid_value);
  CHECK(e.path == "/1");
  rejected_put(sp, "runs/1/v", {{"bad\xfe", 1}}, errc::invalid_value);

  auto a = sp.append("runs/1/list", "\xed\xa0\x80");  // a UTF-16 surrogate
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == errc::invalid_value);

  CHECK(sp.empty());
  check_unchanged(b, before);
  CHECK(sp.put("runs/1/v", {{"name", "h\xc3\xa9llo"}}).ok());  // valid UTF-8 is fine
}
