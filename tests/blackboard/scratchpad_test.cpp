// Scratchpads: private staging with read-your-writes (scratchpad.hpp).
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;
using Catch::Contains;

namespace {

json staged_value(scratchpad& sp, const std::string& key) {
  auto e = sp.get(key);
  INFO("scratchpad get " << key << ": " << describe(e));
  REQUIRE(e.ok());
  return e->value();
}

std::vector<std::string> keys_of(const std::vector<entry>& entries) {
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.key());
  return keys;
}

const key_revision* find_read(const promotion& p, const std::string& key) {
  auto it = std::find_if(p.reads.begin(), p.reads.end(),
                         [&](const key_revision& r) { return r.key == key; });
  return it == p.reads.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("scratchpad reads its own staged put and erase", "[blackboard][scratchpad]") {
  blackboard b;
  commit_puts(b, {{"a", 1}, {"b", "x"}});
  auto sp = b.begin("alice");

  REQUIRE(sp.put("a", 2));
  REQUIRE(sp.erase("b"));
  REQUIRE(sp.put("c", {{"k", 1}}));

  auto a = sp.get("a");
  REQUIRE(a.ok());
  CHECK(a->exists());
  CHECK(a->value() == 2);
  CHECK(a->mod_revision() == 0);  // staged, not committed
  auto gone = sp.get("b");
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->exists());
  CHECK(staged_value(sp, "c") == json{{"k", 1}});

  auto all = sp.list("");
  REQUIRE(all.ok());
  CHECK(keys_of(*all) == std::vector<std::string>{"a", "c"});
  CHECK(sp.size() == 3u);
}

TEST_CASE("scratchpad merge follows RFC 7386", "[blackboard][scratchpad]") {
  blackboard b;
  commit_puts(b, {{"doc", R"({"a":1,"b":{"c":2,"d":3},"arr":[1,2],"s":"keep"})"_json},
                  {"text", "plain"}});
  auto sp = b.begin("alice");

  // null removes a member, nested objects merge, arrays are replaced.
  REQUIRE(sp.merge("doc", R"({"a":null,"b":{"c":null,"e":5},"arr":[9],"new":{"x":null,"y":1}})"_json));
  const json expected = R"({"b":{"d":3,"e":5},"arr":[9],"s":"keep","new":{"y":1}})"_json;
  CHECK(staged_value(sp, "doc") == expected);

  // merges accumulate
  REQUIRE(sp.merge("doc", R"({"s":"changed"})"_json));
  json expected2 = expected;
  expected2["s"] = "changed";
  CHECK(staged_value(sp, "doc") == expected2);

  // an absent key is merged as {} and a non-object is replaced by {} first
  REQUIRE(sp.merge("fresh", R"({"a":{"b":null,"c":1}})"_json));
  CHECK(staged_value(sp, "fresh") == R"({"a":{"c":1}})"_json);
  REQUIRE(sp.merge("text", R"({"a":1})"_json));
  CHECK(staged_value(sp, "text") == R"({"a":1})"_json);

  auto r = b.promote(sp);
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK(value_of(b, "doc") == expected2);
  CHECK(value_of(b, "fresh") == R"({"a":{"c":1}})"_json);
  CHECK(value_of(b, "text") == R"({"a":1})"_json);
}

TEST_CASE("scratchpad merge refuses a patch that is not an object", "[blackboard][scratchpad]") {
  blackboard b;
  commit_put(b, "doc", {{"a", 1}});
  auto sp = b.begin("alice");
  for (const json& patch : {json(5), json("s"), R"([1])"_json, json(nullptr), json(true)}) {
    auto s = sp.merge("doc", patch);
    INFO("patch " << patch.dump() << ": " << describe(s));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::invalid_argument);
  }
  CHECK(sp.empty());
  CHECK(staged_value(sp, "doc") == json{{"a", 1}});
}

TEST_CASE("scratchpad append adds one element and treats an absent key as an empty array",
          "[blackboard][scratchpad]") {
  blackboard b;
  commit_put(b, "list", json::array({1}));
  auto sp = b.begin("alice");

  REQUIRE(sp.append("list", 2));
  REQUIRE(sp.append("list", {{"x", 1}}));
  REQUIRE(sp.append("list", json::array({3, 4})));  // one element, not a concatenation
  CHECK(staged_value(sp, "list") == R"([1,2,{"x":1},[3,4]])"_json);

  REQUIRE(sp.append("new", "a"));
  CHECK(staged_value(sp, "new") == R"(["a"])"_json);

  REQUIRE(sp.put("p", json::array({0})));
  REQUIRE(sp.append("p", 1));
  CHECK(staged_value(sp, "p") == R"([0,1])"_json);

  auto r = b.promote(sp);
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK(value_of(b, "list") == R"([1,2,{"x":1},[3,4]])"_json);
  CHECK(value_of(b, "new") == R"(["a"])"_json);
  CHECK(value_of(b, "p") == R"([0,1])"_json);
}

TEST_CASE("scratchpad append fails with type_mismatch when the snapshot holds a non-array",
          "[blackboard][scratchpad]") {
  blackboard b;
  commit_puts(b, {{"s", "text"}, {"o", {{"a", 1}}}, {"n", 5}});
  auto sp = b.begin("alice");
  for (const std::string key : {"s", "o", "n"}) {
    auto s = sp.append(key, 1);
    INFO("append onto " << key << ": " << describe(s));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::type_mismatch);
    CHECK_THAT(s.error().message, Contains("'" + key + "'"));
  }
  CHECK(sp.empty());
  CHECK(staged_value(sp, "s") == "text");
}

TEST_CASE("scratchpad staged writes are invisible to others until promoted",
          "[blackboard][scratchpad]") {
  blackboard b;
  commit_puts(b, {{"e", 1}, {"m", {{"a", 1}}}, {"l", json::array()}});
  const auto before = observe(b);

  auto sp = b.begin("alice");
  REQUIRE(sp.put("a", 1));
  REQUIRE(sp.erase("e"));
  REQUIRE(sp.merge("m", {{"b", 2}}));
  REQUIRE(sp.append("l", "x"));

  check_unchanged(b, before);
  auto other = b.begin("bob");
  auto a = other.get("a");
  REQUIRE(a.ok());
  CHECK_FALSE(a->exists());
  CHECK(staged_value(other, "e") == 1);
  CHECK(staged_value(other, "m") == json{{"a", 1}});
  CHECK(staged_value(other, "l") == json::array());

  auto r = b.promote(sp);
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK(value_of(b, "a") == 1);
  CHECK_FALSE(b.get("e")->exists());
  CHECK(value_of(b, "m") == R"({"a":1,"b":2})"_json);
  CHECK(value_of(b, "l") == R"(["x"])"_json);
  // the other scratchpad keeps reading its own snapshot
  CHECK_FALSE(other.get("a")->exists());
  CHECK(b.begin("carol").get("a")->value() == 1);
}

TEST_CASE("scratchpad to_promotion lists author, base, ops, reads, ranges and expects",
          "[blackboard][scratchpad]") {
  blackboard b;
  commit_put(b, "x", 1);
  commit_put(b, "y", 2);
  auto sp = b.begin("alice");

  (void)sp.get("y");
  (void)sp.get("absent");
  (void)sp.get("x");
  (void)sp.list("runs");
  REQUIRE(sp.expect("x", 1));
  REQUIRE(sp.put("z", 3));
  (void)sp.get("z");  // comes wholly from the staged put: not recorded
  REQUIRE(sp.erase("y"));
  REQUIRE(sp.append("l", 1));
  REQUIRE(sp.merge("m", {{"a", 1}}));
  (void)sp.base().get("w");  // reads through base() are not recorded

  const promotion p = sp.to_promotion();
  CHECK(p.author == "alice");
  CHECK(p.base_revision == 2);

  REQUIRE(p.ops.size() == 4u);
  CHECK(p.ops[0].kind == op_kind::put);
  CHECK(p.ops[0].key == "z");
  CHECK(p.ops[0].value == 3);
  CHECK(p.ops[1].kind == op_kind::erase);
  CHECK(p.ops[1].key == "y");
  CHECK(p.ops[1].value.is_null());
  CHECK(p.ops[2].kind == op_kind::append);
  CHECK(p.ops[2].key == "l");
  CHECK(p.ops[2].value == 1);
  CHECK(p.ops[3].kind == op_kind::merge);
  CHECK(p.ops[3].key == "m");
  CHECK(p.ops[3].value == json{{"a", 1}});

  CHECK(std::is_sorted(p.reads.begin(), p.reads.end(),
                       [](const key_revision& a, const key_revision& c) { return a.key < c.key; }));
  const key_revision* absent = find_read(p, "absent");
  REQUIRE(absent != nullptr);
  CHECK(absent->mod_revision == 0);
  REQUIRE(find_read(p, "x") != nullptr);
  CHECK(find_read(p, "x")->mod_revision == 1);
  REQUIRE(find_read(p, "y") != nullptr);
  CHECK(find_read(p, "y")->mod_revision == 2);
  CHECK(find_read(p, "z") == nullptr);
  CHECK(find_read(p, "w") == nullptr);

  CHECK(p.ranges == std::vector<std::string>{"runs"});
  REQUIRE(p.expects.size() == 1u);
  CHECK(p.expects[0].key == "x");
  CHECK(p.expects[0].mod_revision == 1);
}

TEST_CASE("scratchpad a failed staging call stages nothing", "[blackboard][scratchpad]") {
  blackboard b;
  commit_puts(b, {{"s", "text"}, {"k", 0}});
  auto sp = b.begin("alice");
  REQUIRE(sp.put("k", 1));

  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(code_of(sp.put("a//b", 1)) == errc::invalid_key);
  CHECK(code_of(sp.put("k", {{"x", nan}})) == errc::invalid_value);
  CHECK(code_of(sp.erase("")) == errc::invalid_key);
  CHECK(code_of(sp.merge("k", 5)) == errc::invalid_argument);
  CHECK(code_of(sp.merge("/m", {{"a", 1}})) == errc::invalid_key);
  CHECK(code_of(sp.append("s", 1)) == errc::type_mismatch);
  CHECK(code_of(sp.append("k/", 1)) == errc::invalid_key);
  CHECK(code_of(sp.expect("bad//key", 0)) == errc::invalid_key);

  CHECK(sp.size() == 1u);
  CHECK(staged_value(sp, "k") == 1);
  const promotion p = sp.to_promotion();
  REQUIRE(p.ops.size() == 1u);
  CHECK(p.ops[0].key == "k");
  CHECK(p.expects.empty());

  auto r = b.promote(sp);
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK(r->changes == 1u);
  CHECK(value_of(b, "k") == 1);
  CHECK(value_of(b, "s") == "text");
}

TEST_CASE("scratchpad get and list reject malformed keys and prefixes", "[blackboard][scratchpad]") {
  blackboard b;
  auto sp = b.begin("alice");
  auto g = sp.get("a//b");
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().code == errc::invalid_key);
  CHECK_THAT(g.error().message, Contains("a//b"));
  auto l = sp.list("/runs");
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().code == errc::invalid_key);
}

TEST_CASE("scratchpad on an older snapshot reads that snapshot", "[blackboard][scratchpad]") {
  blackboard b;
  commit_put(b, "k", "old");
  commit_put(b, "k", "new");
  auto base = b.snapshot_at(1);
  REQUIRE(base.ok());
  auto sp = b.begin("alice", *base);
  CHECK(sp.base_revision() == 1);
  CHECK(sp.author() == "alice");
  CHECK(staged_value(sp, "k") == "old");
  CHECK(sp.to_promotion().base_revision == 1);
}
