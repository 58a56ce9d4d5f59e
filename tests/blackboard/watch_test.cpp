// Watches: committed revisions streamed in order (watch.hpp).
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;

namespace {

using std::chrono::milliseconds;

// Long enough never to be hit by a working implementation on a loaded
// machine; every wait below is for something already committed.
constexpr milliseconds patience{5000};

watch open_watch(blackboard& b, std::string_view prefix, std::uint64_t from = 0) {
  auto w = b.watch(prefix, from);
  INFO("watch('" << prefix << "', " << from << "): " << describe(w));
  REQUIRE(w.ok());
  return std::move(*w);
}

/// The next record, which must arrive.
txn_record next_record(watch& w) {
  auto r = w.next(patience);
  INFO("next: " << describe(r));
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  return std::move(**r);
}

/// Nothing must be pending now.
void check_nothing_pending(watch& w) {
  auto r = w.try_next();
  INFO("try_next: " << describe(r) << (r.ok() && r->has_value() ? " (a record)" : ""));
  REQUIRE(r.ok());
  CHECK_FALSE(r->has_value());
}

std::vector<std::string> keys_of(const txn_record& t) {
  std::vector<std::string> keys;
  for (const auto& c : t.changes) keys.push_back(c.after.key());
  return keys;
}

}  // namespace

TEST_CASE("watch delivers commits from the next one on", "[blackboard][watch]") {
  blackboard b;
  commit_put(b, "runs/1/a", 0);
  auto w = open_watch(b, "runs");
  CHECK(w.next_revision() == 2);
  check_nothing_pending(w);

  commit_put(b, "runs/1/a", 1, "alice");
  const txn_record t = next_record(w);
  CHECK(t.revision == 2);
  CHECK(t.author == "alice");
  REQUIRE(t.changes.size() == 1u);
  CHECK(t.changes[0].kind == op_kind::put);
  CHECK(t.changes[0].after.value() == 1);
  CHECK(w.next_revision() == 3);
  check_nothing_pending(w);
}

TEST_CASE("watch from a past revision replays history then continues live",
          "[blackboard][watch]") {
  blackboard b;
  for (int i = 1; i <= 5; ++i) commit_put(b, "k", i);
  auto w = open_watch(b, "", 3);
  CHECK(next_record(w).revision == 3);
  commit_put(b, "k", 6);  // committed while the watch is still replaying
  CHECK(next_record(w).revision == 4);
  CHECK(next_record(w).revision == 5);
  const txn_record live = next_record(w);
  CHECK(live.revision == 6);
  CHECK(live.changes.at(0).after.value() == 6);
  check_nothing_pending(w);
  commit_put(b, "k", 7);
  CHECK(next_record(w).revision == 7);
  check_nothing_pending(w);

  auto from_next = open_watch(b, "", b.revision() + 1);
  commit_put(b, "k", 8);
  CHECK(next_record(from_next).revision == 8);
}

TEST_CASE("watch delivers one revision whole with only the changes under its prefix",
          "[blackboard][watch]") {
  blackboard b;
  commit_put(b, "runs/1/gone", 1);
  auto w = open_watch(b, "runs/1");
  commit_put(b, "runs/10/x", 1);   // outside: runs/10 is not under runs/1
  commit_put(b, "other", 1);       // outside
  auto sp = b.begin("alice");
  REQUIRE(sp.put("runs/1/z", 1));
  REQUIRE(sp.put("runs/1/a", 1));
  REQUIRE(sp.erase("runs/1/gone"));
  REQUIRE(sp.put("runs/2/x", 1));
  REQUIRE(b.promote(sp).ok());

  const txn_record t = next_record(w);
  CHECK(t.revision == 4);
  CHECK(keys_of(t) == std::vector<std::string>{"runs/1/a", "runs/1/gone", "runs/1/z"});
  CHECK(t.changes[1].kind == op_kind::erase);
  CHECK_FALSE(t.changes[1].after.exists());
  CHECK(t.changes[1].after.mod_revision() == 4);
  check_nothing_pending(w);
}

TEST_CASE("watch delivers each commit's trace tag, live and from history",
          "[blackboard][watch]") {
  blackboard b;
  auto live = open_watch(b, "runs");
  promote_options traced;
  traced.trace = trace_tag{7, 8, 9, 0};
  commit_puts(b, {{"runs/a", 1}, {"other/x", 2}}, "alice", traced);
  commit_put(b, "runs/b", 2, "bob");
  auto first = next_record(live);
  CHECK(first.trace == trace_tag{7, 8, 9, 0});
  CHECK(first.changes.size() == 1);  // reduced to the prefix, tag kept
  CHECK(next_record(live).trace == trace_tag{});

  auto replay = open_watch(b, "runs", 1);  // from history
  CHECK(next_record(replay).trace == trace_tag{7, 8, 9, 0});
}

TEST_CASE("watch that falls behind resumes from history without gaps", "[blackboard][watch]") {
  blackboard_options o;
  o.watch_buffer = 4;
  blackboard b(o);
  auto w = open_watch(b, "");
  for (int i = 1; i <= 20; ++i) commit_put(b, "k/" + std::to_string(i % 3), i);

  std::uint64_t expected = 1;
  for (; expected <= 10; ++expected) REQUIRE(next_record(w).revision == expected);
  for (int i = 21; i <= 30; ++i) commit_put(b, "k/" + std::to_string(i % 3), i);
  for (; expected <= 30; ++expected) {
    const txn_record t = next_record(w);
    REQUIRE(t.revision == expected);
    CHECK(t.changes.at(0).after.value() == expected);
  }
  check_nothing_pending(w);
  CHECK(w.times_fell_behind() > 0u);

  // caught up: live delivery works again
  commit_put(b, "k/0", 31);
  CHECK(next_record(w).revision == 31);
}

TEST_CASE("watch that falls behind past the compaction point fails with compacted",
          "[blackboard][watch]") {
  blackboard_options o;
  o.watch_buffer = 4;
  blackboard b(o);
  auto w = open_watch(b, "");
  for (int i = 1; i <= 12; ++i) commit_put(b, "k", i);
  REQUIRE(b.compact(12));

  std::uint64_t expected = 1;
  for (int i = 0; i < 20; ++i) {
    auto r = w.next(patience);
    if (!r.ok()) {
      CHECK(r.error().code == errc::compacted);
      break;
    }
    REQUIRE(r->has_value());
    REQUIRE((*r)->revision == expected);  // whatever came before the failure had no gap
    ++expected;
  }
  CHECK(expected < 12);
  CHECK(code_of(w.next(milliseconds(0))) == errc::compacted);
  CHECK(code_of(w.try_next()) == errc::compacted);
}

TEST_CASE("watch that keeps up is not disturbed by compaction", "[blackboard][watch]") {
  blackboard b;
  auto w = open_watch(b, "");
  for (int i = 1; i <= 3; ++i) commit_put(b, "k", i);
  for (std::uint64_t rev = 1; rev <= 3; ++rev) REQUIRE(next_record(w).revision == rev);
  REQUIRE(b.compact(3));
  commit_put(b, "k", 4);
  CHECK(next_record(w).revision == 4);
}

TEST_CASE("watch cancel ends the stream with watch_closed", "[blackboard][watch]") {
  blackboard b;
  auto w = open_watch(b, "");
  commit_put(b, "k", 1);
  w.cancel();
  CHECK(code_of(w.next(milliseconds(0))) == errc::watch_closed);
  CHECK(code_of(w.try_next()) == errc::watch_closed);
}

TEST_CASE("watch cancel from another thread wakes a waiting reader", "[blackboard][watch]") {
  blackboard b;
  auto w = open_watch(b, "");
  auto waiting = std::async(std::launch::async, [&w] { return code_of(w.next(milliseconds(30000))); });
  w.cancel();
  REQUIRE(waiting.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(waiting.get() == errc::watch_closed);
}

TEST_CASE("watch on_ready fires when a revision becomes available", "[blackboard][watch]") {
  std::promise<void> ready;
  auto fired = ready.get_future();
  bool set = false;  // only touched by the committing thread
  blackboard b;
  auto w = open_watch(b, "runs");
  w.on_ready([&ready, &set] {
    if (!set) {
      set = true;
      ready.set_value();
    }
  });
  check_nothing_pending(w);
  commit_put(b, "runs/1", 1);
  REQUIRE(fired.wait_for(patience) == std::future_status::ready);
  auto r = w.try_next();
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  CHECK((*r)->revision == 1);
}

TEST_CASE("watch fails to start at a compacted or future revision or a bad prefix",
          "[blackboard][watch]") {
  blackboard b;
  for (int i = 1; i <= 4; ++i) commit_put(b, "k", i);
  REQUIRE(b.compact(3));
  CHECK(code_of(b.watch("", 2)) == errc::compacted);
  CHECK(code_of(b.watch("", 6)) == errc::future_revision);
  CHECK(code_of(b.watch("runs//1", 0)) == errc::invalid_key);

  auto w = open_watch(b, "", 3);
  CHECK(next_record(w).revision == 3);
  CHECK(next_record(w).revision == 4);
}

TEST_CASE("watch that outlives its blackboard fails with watch_closed", "[blackboard][watch]") {
  auto b = std::make_unique<blackboard>();
  auto w = open_watch(*b, "");
  b.reset();
  auto r = w.next(patience);
  INFO("next: " << describe(r));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::watch_closed);
}

TEST_CASE("watch waiting when its blackboard is destroyed wakes with watch_closed",
          "[blackboard][watch]") {
  auto b = std::make_unique<blackboard>();
  auto w = open_watch(*b, "");
  auto waiting = std::async(std::launch::async, [&w] { return code_of(w.next(milliseconds(30000))); });
  b.reset();
  REQUIRE(waiting.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(waiting.get() == errc::watch_closed);
}
