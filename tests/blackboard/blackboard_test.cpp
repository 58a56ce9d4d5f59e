// The blackboard: revisions, entries, promotion steps, snapshots and
// compaction (blackboard.hpp).
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;
using Catch::Contains;

namespace {

promote_options blind() {
  promote_options o;
  o.isolation = isolation::blind;
  return o;
}

promote_options with_txn(std::string id) {
  promote_options o;
  o.txn_id = std::move(id);
  return o;
}

/// The promotion must fail with `code`; returns its error.
error expect_rejected(blackboard& b, const scratchpad& sp, errc code,
                      const promote_options& opts = {}) {
  auto r = b.promote(sp, opts);
  INFO("promote: " << describe(r));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == code);
  return r.error();
}

}  // namespace

TEST_CASE("blackboard revision starts at 0 and grows by one per commit", "[blackboard][blackboard]") {
  blackboard b;
  CHECK(b.revision() == 0);
  CHECK(b.compact_revision() == 0);
  CHECK(b.snapshot().revision() == 0);

  const commit_result first = commit_puts(b, {{"a", 1}, {"b", 2}});
  CHECK(first.revision == 1);
  CHECK(first.changes == 2u);
  CHECK_FALSE(first.replayed);
  CHECK(commit_put(b, "a", 3) == 2);
  CHECK(commit_erase(b, "b") == 3);
  CHECK(b.revision() == 3);
  CHECK(b.snapshot().revision() == 3);
}

TEST_CASE("blackboard entries keep create and mod revision, version and author",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", "v1", "alice");
  auto e = b.get("k");
  REQUIRE(e.ok());
  CHECK(e->exists());
  CHECK(e->key() == "k");
  CHECK(e->value() == "v1");
  CHECK(e->create_revision() == 1);
  CHECK(e->mod_revision() == 1);
  CHECK(e->version() == 1);
  CHECK(e->author() == "alice");

  commit_put(b, "other", 0);
  commit_put(b, "k", "v2", "bob");
  e = b.get("k");
  CHECK(e->create_revision() == 1);
  CHECK(e->mod_revision() == 3);
  CHECK(e->version() == 2);
  CHECK(e->author() == "bob");

  SECTION("erase then re-create starts a new life") {
    commit_erase(b, "k", "carol");
    auto gone = b.get("k");
    REQUIRE(gone.ok());
    CHECK_FALSE(gone->exists());
    CHECK(gone->key() == "");
    CHECK(gone->mod_revision() == 0);
    CHECK(gone->value().is_null());

    commit_put(b, "k", "v3", "dave");
    e = b.get("k");
    CHECK(e->create_revision() == 5);
    CHECK(e->mod_revision() == 5);
    CHECK(e->version() == 1);
    CHECK(e->author() == "dave");
  }
  SECTION("a key never written reads as an empty entry") {
    auto none = b.get("never");
    REQUIRE(none.ok());
    CHECK_FALSE(none->exists());
    CHECK(none->key() == "");
    CHECK(none->create_revision() == 0);
    CHECK(none->version() == 0);
  }
}

TEST_CASE("blackboard promote with a committed txn_id and the same content replays",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", 1);
  auto sp = b.begin("alice");
  REQUIRE(sp.get("k")->value() == 1);  // a recorded read that will go stale
  REQUIRE(sp.put("k", 10));
  auto first = b.promote(sp, with_txn("t1"));
  REQUIRE(first.ok());
  CHECK(first->revision == 2);
  CHECK(first->txn_id == "t1");
  CHECK_FALSE(first->replayed);

  commit_put(b, "k", 20);
  const auto before = observe(b);

  auto again = b.promote(sp, with_txn("t1"));
  INFO(describe(again));
  REQUIRE(again.ok());
  CHECK(again->replayed);
  CHECK(again->revision == 2);
  CHECK(again->txn_id == "t1");
  check_unchanged(b, before);
  CHECK(value_of(b, "k") == 20);

  SECTION("even after compaction") {
    REQUIRE(b.compact(3));
    auto late = b.promote(sp, with_txn("t1"));
    INFO(describe(late));
    REQUIRE(late.ok());
    CHECK(late->replayed);
    CHECK(late->revision == 2);
  }
  SECTION("different content under the same txn_id is a duplicate") {
    auto other = b.begin("alice");
    REQUIRE(other.put("k", 99));
    auto e = expect_rejected(b, other, errc::duplicate_txn, with_txn("t1"));
    CHECK_THAT(e.message, Contains("t1"));
    check_unchanged(b, before);
  }
}

TEST_CASE("blackboard promote does not record the txn_id of a rejected promotion",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", 1);
  auto stale = b.begin("alice");
  (void)stale.get("k");
  REQUIRE(stale.put("k", 2));
  commit_put(b, "k", 5);
  expect_rejected(b, stale, errc::conflict, with_txn("retry-me"));

  auto fresh = b.begin("alice");
  (void)fresh.get("k");
  REQUIRE(fresh.put("k", 6));
  auto r = b.promote(fresh, with_txn("retry-me"));
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK_FALSE(r->replayed);
  CHECK(value_of(b, "k") == 6);
}

TEST_CASE("blackboard promote under registered access control checks author and keys",
          "[blackboard][blackboard]") {
  blackboard_options o;
  o.access = access_control::registered;
  blackboard b(o);
  REQUIRE(b.register_agent("alice", {"runs/*/alice/**", "shared/log"}));
  const auto before = observe(b);

  SECTION("an unknown author is refused by name") {
    auto sp = b.begin("mallory");
    REQUIRE(sp.put("runs/1/alice/x", 1));
    auto e = expect_rejected(b, sp, errc::unknown_agent);
    CHECK_THAT(e.message, Contains("mallory"));
    check_unchanged(b, before);
  }
  SECTION("a key outside the author's patterns is refused by name") {
    auto sp = b.begin("alice");
    REQUIRE(sp.put("runs/1/alice/answer", 1));
    REQUIRE(sp.put("runs/1/bob/answer", 1));
    auto e = expect_rejected(b, sp, errc::forbidden);
    CHECK_THAT(e.message, Contains("runs/1/bob/answer"));
    CHECK(e.key == "runs/1/bob/answer");
    check_unchanged(b, before);

    auto eraser = b.begin("alice");
    REQUIRE(eraser.erase("shared/other"));
    expect_rejected(b, eraser, errc::forbidden);
  }
  SECTION("keys inside the patterns are allowed") {
    auto sp = b.begin("alice");
    REQUIRE(sp.put("runs/1/alice", 1));
    REQUIRE(sp.put("runs/1/alice/a/b", 2));
    REQUIRE(sp.append("shared/log", "hi"));
    auto r = b.promote(sp);
    INFO(describe(r));
    CHECK(r.ok());
  }
  SECTION("re-registering replaces the patterns") {
    REQUIRE(b.register_agent("alice", {"other/**"}));
    auto sp = b.begin("alice");
    REQUIRE(sp.put("runs/1/alice/x", 1));
    expect_rejected(b, sp, errc::forbidden);
  }
  SECTION("a malformed pattern is refused") {
    CHECK(code_of(b.register_agent("bob", {"runs//x"})) == errc::invalid_argument);
  }
}

TEST_CASE("blackboard promote under open access lets any author write any key",
          "[blackboard][blackboard]") {
  blackboard b;
  REQUIRE(b.register_agent("alice", {"mine/**"}));
  auto sp = b.begin("alice");
  REQUIRE(sp.put("not/mine", 1));
  CHECK(b.promote(sp).ok());
  auto stranger = b.begin("anyone");
  REQUIRE(stranger.put("anywhere/at/all", 1));
  CHECK(b.promote(stranger).ok());

  auto nobody = b.begin("");
  REQUIRE(nobody.put("x", 1));
  expect_rejected(b, nobody, errc::invalid_argument);
}

TEST_CASE("blackboard promote checks contracts naming key and path", "[blackboard][blackboard]") {
  blackboard b;
  auto schema = contract::from_schema(R"({"type":"object","required":["answer"],
      "properties":{"answer":{"type":"string","minLength":1},
                    "confidence":{"type":"number","minimum":0,"maximum":1}}})"_json);
  REQUIRE(schema.ok());
  REQUIRE(b.set_contract("runs/*/answers/*", *schema));
  REQUIRE(b.set_contract("runs/**", contract::from_predicate(
      "no_secrets", [](const json& v) -> std::optional<contract_violation> {
        if (v.is_object() && v.contains("secret")) return contract_violation{"/secret", "no secrets"};
        return std::nullopt;
      })));
  commit_put(b, "runs/1/answers/alice", {{"answer", "42"}, {"confidence", 0.9}});
  commit_put(b, "runs/1/notes", 5);
  const auto before = observe(b);

  SECTION("a schema violation") {
    auto sp = b.begin("bob");
    REQUIRE(sp.put("runs/1/answers/bob", {{"answer", "x"}, {"confidence", 1.5}}));
    auto e = expect_rejected(b, sp, errc::contract_violation);
    CHECK(e.key == "runs/1/answers/bob");
    CHECK(e.path == "/confidence");
    CHECK_THAT(e.message, Contains("runs/1/answers/bob"));
  }
  SECTION("every matching contract must hold") {
    auto sp = b.begin("bob");
    REQUIRE(sp.put("runs/1/answers/bob", {{"answer", "x"}, {"secret", 1}}));
    auto e = expect_rejected(b, sp, errc::contract_violation);
    CHECK(e.key == "runs/1/answers/bob");
    CHECK(e.path == "/secret");
  }
  SECTION("the value after a merge is checked") {
    auto sp = b.begin("alice");
    REQUIRE(sp.merge("runs/1/answers/alice", {{"answer", nullptr}}));
    auto e = expect_rejected(b, sp, errc::contract_violation);
    CHECK(e.key == "runs/1/answers/alice");
  }
  check_unchanged(b, before);
  CHECK(code_of(b.set_contract("runs//x", *schema)) == errc::invalid_argument);
}

TEST_CASE("blackboard promote rejects a serializable promotion whose point reads changed",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_puts(b, {{"runs/1/topic", "t"}, {"runs/1/gone", 1}});
  auto sp = b.begin("alice");
  (void)sp.get("runs/1/topic");
  (void)sp.get("runs/1/verdict");
  (void)sp.get("runs/1/gone");
  REQUIRE(sp.put("runs/1/out", 1));

  commit_put(b, "runs/1/topic", "changed");   // 2
  commit_put(b, "runs/1/verdict", "created");  // 3
  commit_erase(b, "runs/1/gone");              // 4
  const auto before = observe(b);

  auto e = expect_rejected(b, sp, errc::conflict);
  CHECK(e.conflicts == std::vector<key_conflict>{{"runs/1/gone", 1, 0, ""},
                                                 {"runs/1/topic", 1, 2, ""},
                                                 {"runs/1/verdict", 0, 3, ""}});
  CHECK_THAT(e.message, Contains("runs/1/topic"));
  check_unchanged(b, before);
}

TEST_CASE("blackboard promote rejects a serializable promotion whose range read changed",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_puts(b, {{"runs/1/a", 1}, {"runs/1/b", 2}, {"runs/10/x", 0}, {"runs/2/y", 0}});
  auto sp = b.begin("alice");
  REQUIRE(sp.list("runs/1").ok());
  REQUIRE(sp.put("summary", 1));

  SECTION("a key added inside") {
    commit_put(b, "runs/1/c", 3);
    auto e = expect_rejected(b, sp, errc::conflict);
    CHECK(e.conflicts == std::vector<key_conflict>{{"runs/1/c", 0, 2, "runs/1"}});
  }
  SECTION("a key inside changed") {
    commit_put(b, "runs/1/a", 9);
    auto e = expect_rejected(b, sp, errc::conflict);
    CHECK(e.conflicts == std::vector<key_conflict>{{"runs/1/a", 1, 2, "runs/1"}});
  }
  SECTION("a key inside erased") {
    commit_erase(b, "runs/1/b");
    auto e = expect_rejected(b, sp, errc::conflict);
    CHECK(e.conflicts == std::vector<key_conflict>{{"runs/1/b", 1, 0, "runs/1"}});
  }
  SECTION("keys outside the range, including runs/10, do not conflict") {
    commit_puts(b, {{"runs/10/x", 1}, {"runs/2/y", 1}, {"runs/1x", 1}});
    auto r = b.promote(sp);
    INFO(describe(r));
    CHECK(r.ok());
  }
}

TEST_CASE("blackboard promote lets writes that read nothing win", "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", 1);
  auto sp = b.begin("alice");
  REQUIRE(sp.put("k", "mine"));
  REQUIRE(sp.erase("e"));
  commit_puts(b, {{"k", 2}, {"e", 1}});
  auto r = b.promote(sp);
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK(value_of(b, "k") == "mine");
  CHECK_FALSE(b.get("e")->exists());
}

TEST_CASE("blackboard promote with expect is a compare-and-swap even when blind",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", 1);
  auto iso = GENERATE(isolation::serializable, isolation::blind);
  promote_options opts;
  opts.isolation = iso;

  SECTION("the pinned key changed") {
    auto sp = b.begin("alice");
    REQUIRE(sp.expect("k", 1));
    REQUIRE(sp.put("k", 2));
    commit_put(b, "k", 5);
    const auto before = observe(b);
    auto e = expect_rejected(b, sp, errc::conflict, opts);
    REQUIRE(e.conflicts.size() == 1u);
    CHECK(e.conflicts[0].key == "k");
    CHECK(e.conflicts[0].current_revision == 2);
    check_unchanged(b, before);
  }
  SECTION("the pin was wrong from the start") {
    auto sp = b.begin("alice");
    REQUIRE(sp.expect("k", 7));
    REQUIRE(sp.put("k", 2));
    expect_rejected(b, sp, errc::conflict, opts);
  }
  SECTION("a key pinned absent was created") {
    auto sp = b.begin("alice");
    REQUIRE(sp.expect("lock", 0));
    REQUIRE(sp.put("lock", "alice"));
    commit_put(b, "lock", "bob");
    auto e = expect_rejected(b, sp, errc::conflict, opts);
    REQUIRE(e.conflicts.size() == 1u);
    CHECK(e.conflicts[0].key == "lock");
    CHECK(value_of(b, "lock") == "bob");
  }
  SECTION("the pins hold") {
    auto sp = b.begin("alice");
    REQUIRE(sp.expect("k", 1));
    REQUIRE(sp.expect("lock", 0));
    REQUIRE(sp.put("lock", "alice"));
    commit_put(b, "unrelated", 1);
    auto r = b.promote(sp, opts);
    INFO(describe(r));
    REQUIRE(r.ok());
    CHECK(value_of(b, "lock") == "alice");
  }
}

TEST_CASE("blackboard promote when blind skips read validation", "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", 1);
  auto sp = b.begin("alice");
  (void)sp.get("k");
  REQUIRE(sp.list("runs").ok());
  REQUIRE(sp.put("derived", 1));
  commit_puts(b, {{"k", 2}, {"runs/new", 1}});
  auto r = b.promote(sp, blind());
  INFO(describe(r));
  REQUIRE(r.ok());
  CHECK(r->revision == 3);
  CHECK(value_of(b, "derived") == 1);
}

TEST_CASE("blackboard promote never conflicts on appends and merges to mergeable keys",
          "[blackboard][blackboard]") {
  blackboard b;
  REQUIRE(b.declare_mergeable("runs/*/log"));
  REQUIRE(b.declare_mergeable("runs/*/tally"));
  commit_puts(b, {{"runs/1/tally", json::object()}, {"runs/1/list", json::array()},
                  {"runs/1/doc", json::object()}});

  SECTION("mergeable keys") {
    auto alice = b.begin("alice");
    auto bob = b.begin("bob");
    REQUIRE(alice.append("runs/1/log", "a"));
    REQUIRE(alice.merge("runs/1/tally", {{"alice", 1}}));
    REQUIRE(bob.append("runs/1/log", "b"));
    REQUIRE(bob.merge("runs/1/tally", {{"bob", 1}}));
    REQUIRE(b.promote(alice).ok());
    auto r = b.promote(bob);
    INFO(describe(r));
    REQUIRE(r.ok());
    CHECK(value_of(b, "runs/1/log") == R"(["a","b"])"_json);
    CHECK(value_of(b, "runs/1/tally") == R"({"alice":1,"bob":1})"_json);
  }
  SECTION("the same ops on keys that are not mergeable conflict") {
    auto alice = b.begin("alice");
    auto bob = b.begin("bob");
    REQUIRE(alice.append("runs/1/list", "a"));
    REQUIRE(alice.merge("runs/1/doc", {{"alice", 1}}));
    REQUIRE(bob.append("runs/1/list", "b"));
    REQUIRE(bob.merge("runs/1/doc", {{"bob", 1}}));
    REQUIRE(b.promote(alice).ok());
    auto e = expect_rejected(b, bob, errc::conflict);
    CHECK(e.conflicts == std::vector<key_conflict>{{"runs/1/doc", 1, 2, ""},
                                                   {"runs/1/list", 1, 2, ""}});
  }
  SECTION("an append meeting a non-array at commit fails whole") {
    auto alice = b.begin("alice");
    REQUIRE(alice.put("runs/1/first", 1));
    REQUIRE(alice.append("runs/1/log", "a"));
    commit_put(b, "runs/1/log", "not an array");
    const auto before = observe(b);
    auto e = expect_rejected(b, alice, errc::type_mismatch);
    CHECK_THAT(e.message, Contains("runs/1/log"));
    check_unchanged(b, before);
  }
}

TEST_CASE("blackboard promote of nothing commits no revision", "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "x", 1);
  const auto before = observe(b);

  auto empty = b.begin("alice");
  (void)empty.get("x");
  auto r = b.promote(empty);
  REQUIRE(r.ok());
  CHECK(r->revision == 1);
  CHECK(r->changes == 0u);

  auto erase_absent = b.begin("alice");
  REQUIRE(erase_absent.erase("never/there"));
  r = b.promote(erase_absent);
  REQUIRE(r.ok());
  CHECK(r->revision == 1);
  CHECK(r->changes == 0u);
  check_unchanged(b, before);
}

TEST_CASE("blackboard snapshot_at travels back in time", "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "a", 1);                   // 1
  commit_puts(b, {{"a", 2}, {"b", 1}});    // 2
  commit_erase(b, "a");                    // 3

  auto s0 = b.snapshot_at(0);
  REQUIRE(s0.ok());
  CHECK(s0->list("")->empty());
  auto s1 = b.snapshot_at(1);
  REQUIRE(s1.ok());
  CHECK(s1->revision() == 1);
  CHECK(s1->get("a")->value() == 1);
  CHECK_FALSE(s1->get("b")->exists());
  auto s2 = b.snapshot_at(2);
  REQUIRE(s2.ok());
  CHECK(s2->get("a")->value() == 2);
  CHECK(s2->list("")->size() == 2u);
  CHECK_FALSE(b.snapshot_at(3)->get("a")->exists());

  auto future = b.snapshot_at(4);
  REQUIRE_FALSE(future.ok());
  CHECK(future.error().code == errc::future_revision);
}

TEST_CASE("blackboard snapshot never sees later commits", "[blackboard][blackboard]") {
  auto b = std::make_unique<blackboard>();
  commit_puts(*b, {{"a", 1}, {"b", json::array({1})}});
  const snapshot s = b->snapshot();
  commit_put(*b, "a", 2);
  commit_erase(*b, "b");
  commit_put(*b, "c", 3);

  CHECK(s.revision() == 1);
  CHECK(s.get("a")->value() == 1);
  CHECK(s.get("b")->value() == json::array({1}));
  CHECK_FALSE(s.get("c")->exists());
  auto all = s.list("");
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2u);
  CHECK((*all)[0].key() == "a");
  CHECK((*all)[1].key() == "b");

  b.reset();  // a snapshot outlives its blackboard
  CHECK(s.get("a")->value() == 1);
}

TEST_CASE("blackboard compact makes older revisions unreadable and keeps newer ones exact",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_puts(b, {{"k", 1}, {"stable", "s"}, {"gone", "g"}});  // 1
  commit_put(b, "k", 2);                                        // 2
  commit_erase(b, "gone");                                      // 3
  commit_put(b, "k", 3);                                        // 4
  const snapshot old = *b.snapshot_at(2);
  const snapshot kept = *b.snapshot_at(3);

  REQUIRE(b.compact(3));
  CHECK(b.compact_revision() == 3);

  for (std::uint64_t rev : {0u, 1u, 2u}) {
    auto s = b.snapshot_at(rev);
    INFO("revision " << rev);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::compacted);
  }
  CHECK(code_of(old.get("k")) == errc::compacted);
  CHECK(code_of(old.list("")) == errc::compacted);

  auto k3 = kept.get("k");
  REQUIRE(k3.ok());
  CHECK(k3->value() == 2);
  CHECK(k3->create_revision() == 1);
  CHECK(k3->mod_revision() == 2);
  CHECK(k3->version() == 2);
  CHECK(kept.get("stable")->value() == "s");
  CHECK_FALSE(kept.get("gone")->exists());
  CHECK(kept.list("")->size() == 2u);
  CHECK(value_of(b, "k") == 3);
  CHECK(b.get("k")->version() == 3);

  CHECK(code_of(b.compact(10)) == errc::future_revision);
  REQUIRE(b.compact(2));  // below the compaction point: nothing to do
  CHECK(b.compact_revision() == 3);

  SECTION("a serializable promotion on a compacted snapshot is refused") {
    auto sp = b.begin("alice", old);
    REQUIRE(sp.put("x", 1));
    const auto before = observe(b);
    expect_rejected(b, sp, errc::compacted);
    check_unchanged(b, before);
  }
  SECTION("a blind promotion on a compacted snapshot commits") {
    auto sp = b.begin("alice", old);
    REQUIRE(sp.put("x", 1));
    auto r = b.promote(sp, blind());
    INFO(describe(r));
    REQUIRE(r.ok());
    CHECK(value_of(b, "x") == 1);
  }
}

TEST_CASE("blackboard promote validates every field of a plain promotion",
          "[blackboard][blackboard]") {
  blackboard b;
  commit_put(b, "k", 1);
  promotion p;
  p.author = "alice";
  p.base_revision = 1;
  p.ops.push_back(staged_op{op_kind::put, "ok/key", 1});
  const auto before = observe(b);

  auto rejected = [&](errc code) {
    auto r = b.promote(p);
    INFO("promote: " << describe(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == code);
    check_unchanged(b, before);
    return r.error();
  };

  SECTION("a well-formed promotion commits") {
    p.ops.push_back(staged_op{op_kind::append, "ok/list", "x"});
    p.reads.push_back(key_revision{"k", 1});
    auto r = b.promote(p);
    INFO(describe(r));
    REQUIRE(r.ok());
    CHECK(r->revision == 2);
    CHECK(value_of(b, "ok/list") == R"(["x"])"_json);
  }
  SECTION("a malformed key") {
    p.ops.push_back(staged_op{op_kind::put, "bad//key", 1});
    CHECK_THAT(rejected(errc::invalid_key).message, Contains("bad//key"));
  }
  SECTION("a malformed read key") {
    p.reads.push_back(key_revision{"/k", 1});
    rejected(errc::invalid_key);
  }
  SECTION("a NaN value") {
    p.ops.push_back(staged_op{op_kind::put, "n", {{"x", std::numeric_limits<double>::quiet_NaN()}}});
    auto e = rejected(errc::invalid_value);
    CHECK(e.key == "n");
    CHECK(e.path == "/x");
  }
  SECTION("a base revision from the future") {
    p.base_revision = 5;
    rejected(errc::future_revision);
  }
  SECTION("a merge patch that is not an object") {
    p.ops.push_back(staged_op{op_kind::merge, "m", 5});
    rejected(errc::invalid_argument);
  }
  SECTION("an empty author") {
    p.author.clear();
    rejected(errc::invalid_argument);
  }
  SECTION("a read that changed after the base revision") {
    p.reads.push_back(key_revision{"k", 1});
    commit_put(b, "k", 2);
    auto r = b.promote(p);
    INFO("promote: " << describe(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::conflict);
    CHECK(r.error().conflicts == std::vector<key_conflict>{{"k", 1, 2, ""}});
  }
  SECTION("a read whose revision the blackboard never had") {
    // The sender claims it saw "k" absent, but "k" is at revision 1 now
    // and was at the base revision: its writes rest on a view that does not
    // match the board's, so committing them would be unsafe.
    p.reads.push_back(key_revision{"k", 0});
    auto r = b.promote(p);
    INFO("promote: " << describe(r));
    REQUIRE_FALSE(r.ok());
    CHECK((r.error().code == errc::conflict || r.error().code == errc::invalid_argument));
    check_unchanged(b, before);
  }
}
