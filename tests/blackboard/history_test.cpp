// History: committed transactions in order (blackboard::history).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;
using Catch::Contains;

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::uint64_t> revisions_of(const std::vector<txn_record>& records) {
  std::vector<std::uint64_t> revs;
  for (const auto& t : records) revs.push_back(t.revision);
  return revs;
}

std::vector<std::string> keys_of(const txn_record& t) {
  std::vector<std::string> keys;
  for (const auto& c : t.changes) keys.push_back(c.after.key());
  return keys;
}

std::vector<txn_record> history_of(const blackboard& b, std::uint64_t from,
                                   std::uint64_t to = UINT64_MAX, std::string_view prefix = {}) {
  auto h = b.history(from, to, prefix);
  INFO("history(" << from << ", " << to << ", '" << prefix << "'): " << describe(h));
  REQUIRE(h.ok());
  return *h;
}

}  // namespace

TEST_CASE("history returns committed transactions in a revision range", "[blackboard][history]") {
  blackboard b;
  const std::int64_t start = now_us();
  commit_puts(b, {{"a", 1}}, "alice", [] { promote_options o; o.txn_id = "t-1"; return o; }());
  commit_put(b, "b", 2, "bob");
  commit_put(b, "c", 3, "carol");
  const std::int64_t end = now_us();

  auto all = history_of(b, 1);
  CHECK(revisions_of(all) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(all[0].txn_id == "t-1");
  CHECK(all[0].author == "alice");
  CHECK(all[1].txn_id.empty());
  CHECK(all[1].author == "bob");
  CHECK(all[2].author == "carol");
  for (const auto& t : all) {
    INFO("revision " << t.revision);
    CHECK(t.time_us >= start);
    CHECK(t.time_us <= end);
  }
  CHECK(all[0].time_us <= all[1].time_us);
  CHECK(all[1].time_us <= all[2].time_us);

  CHECK(revisions_of(history_of(b, 2, 3)) == std::vector<std::uint64_t>{2, 3});
  CHECK(revisions_of(history_of(b, 2, 2)) == std::vector<std::uint64_t>{2});
  CHECK(revisions_of(history_of(b, 3, 100)) == std::vector<std::uint64_t>{3});  // `to` clamped
}

TEST_CASE("history keeps each commit's trace tag, and a replay keeps the first one",
          "[blackboard][history]") {
  blackboard b;
  promote_options traced;
  traced.txn_id = "t-1";
  traced.trace = trace_tag{1, 2, 3, 4};
  commit_puts(b, {{"runs/a", 1}}, "alice", traced);
  commit_put(b, "runs/b", 2, "bob");  // untraced
  // The same transaction again, with another tag: replayed, the record
  // still holds the tag of the commit that happened.
  promote_options retry = traced;
  retry.trace = trace_tag{9, 9, 9, 9};
  auto sp = b.begin("alice");
  REQUIRE(sp.put("runs/a", 1).ok());
  auto r = b.promote(sp, retry);
  REQUIRE(r.ok());
  CHECK(r->replayed);

  auto all = history_of(b, 1);
  REQUIRE(all.size() == 2);
  CHECK(all[0].trace == trace_tag{1, 2, 3, 4});
  CHECK(all[1].trace == trace_tag{});
  // A prefix-reduced record keeps the tag too.
  CHECK(history_of(b, 1, 1, "runs/a").at(0).trace == trace_tag{1, 2, 3, 4});
}

TEST_CASE("history records each change with its new version", "[blackboard][history]") {
  blackboard b;
  commit_put(b, "k", "v1", "alice");
  commit_put(b, "k", "v2", "bob");
  auto h = history_of(b, 2, 2);
  REQUIRE(h.size() == 1u);
  REQUIRE(h[0].changes.size() == 1u);
  const change& c = h[0].changes[0];
  CHECK(c.kind == op_kind::put);
  CHECK(c.after.exists());
  CHECK(c.after.key() == "k");
  CHECK(c.after.value() == "v2");
  CHECK(c.after.create_revision() == 1);
  CHECK(c.after.mod_revision() == 2);
  CHECK(c.after.version() == 2);
  CHECK(c.after.author() == "bob");
}

TEST_CASE("history lists the changes of one transaction in key order, one per key",
          "[blackboard][history]") {
  blackboard b;
  REQUIRE(b.declare_mergeable("log"));
  auto sp = b.begin("alice");
  REQUIRE(sp.put("z", 1));
  REQUIRE(sp.put("a", 1));
  REQUIRE(sp.put("m/x", json::array()));
  REQUIRE(sp.append("m/x", 1));
  REQUIRE(sp.merge("doc", {{"k", 1}}));
  REQUIRE(b.promote(sp).ok());

  auto h = history_of(b, 1);
  REQUIRE(h.size() == 1u);
  CHECK(keys_of(h[0]) == std::vector<std::string>{"a", "doc", "m/x", "z"});
  CHECK(h[0].changes[1].kind == op_kind::merge);
  CHECK(h[0].changes[1].after.value() == json{{"k", 1}});
  CHECK(h[0].changes[2].kind == op_kind::append);  // the last op staged on the key
  CHECK(h[0].changes[2].after.value() == json::array({1}));
}

TEST_CASE("history reports an erase as a tombstone", "[blackboard][history]") {
  blackboard b;
  commit_put(b, "k", 1, "alice");
  commit_erase(b, "k", "bob");
  auto h = history_of(b, 2);
  REQUIRE(h.size() == 1u);
  REQUIRE(h[0].changes.size() == 1u);
  const change& c = h[0].changes[0];
  CHECK(c.kind == op_kind::erase);
  CHECK_FALSE(c.after.exists());
  CHECK(c.after.key() == "k");
  CHECK(c.after.mod_revision() == 2);
  CHECK(c.after.author() == "bob");
  CHECK(c.after.value().is_null());
}

TEST_CASE("history with a prefix keeps only the changes under it", "[blackboard][history]") {
  blackboard b;
  commit_puts(b, {{"runs/1/a", 1}, {"runs/2/b", 1}, {"runs/10/c", 1}});  // 1
  commit_put(b, "runs/2/b", 2);                                           // 2
  commit_puts(b, {{"runs/1/d", 1}, {"runs/1/a", 2}, {"other", 1}});       // 3
  commit_erase(b, "runs/1/d");                                            // 4

  auto h = history_of(b, 1, UINT64_MAX, "runs/1");
  CHECK(revisions_of(h) == std::vector<std::uint64_t>{1, 3, 4});
  REQUIRE(h.size() == 3u);
  CHECK(keys_of(h[0]) == std::vector<std::string>{"runs/1/a"});
  CHECK(keys_of(h[1]) == std::vector<std::string>{"runs/1/a", "runs/1/d"});
  CHECK(keys_of(h[2]) == std::vector<std::string>{"runs/1/d"});
  CHECK(h[2].changes[0].kind == op_kind::erase);

  CHECK(history_of(b, 1, UINT64_MAX, "runs/1/") .size() == 3u);
  CHECK(revisions_of(history_of(b, 2, 3, "runs/2")) == std::vector<std::uint64_t>{2});
  CHECK(history_of(b, 1, UINT64_MAX, "nothing/here").empty());
  CHECK(history_of(b, 1, UINT64_MAX, "").size() == 4u);
}

TEST_CASE("history leaves out rejected and empty promotions", "[blackboard][history]") {
  blackboard b;
  commit_put(b, "k", 1);
  auto stale = b.begin("alice");
  (void)stale.get("k");
  REQUIRE(stale.put("k", 2));
  commit_put(b, "k", 3);
  CHECK_FALSE(b.promote(stale).ok());
  REQUIRE(b.promote(b.begin("alice")).ok());
  CHECK(revisions_of(history_of(b, 1)) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("history rejects bad ranges, bad prefixes and compacted revisions",
          "[blackboard][history]") {
  blackboard b;
  for (int i = 0; i < 4; ++i) commit_put(b, "k", i);

  CHECK(code_of(b.history(0)) == errc::invalid_argument);
  CHECK(code_of(b.history(3, 2)) == errc::invalid_argument);
  auto bad = b.history(1, 4, "runs//x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == errc::invalid_key);
  CHECK_THAT(bad.error().message, Contains("runs//x"));

  REQUIRE(b.compact(3));
  CHECK(code_of(b.history(1)) == errc::compacted);
  CHECK(code_of(b.history(2, 4)) == errc::compacted);
  CHECK(revisions_of(history_of(b, 3)) == std::vector<std::uint64_t>{3, 4});
}
