// Failpoints, injected I/O errors and a full disk on a durable blackboard:
// the failed promotion gets errc::io_error naming the file, the board stops
// accepting writes but stays readable, and after a reopen everything that
// was acknowledged is there (the failed promotion all or nothing).
#include <stdlib.h>

#include <thread>

#include <agora/blackboard/failpoints.hpp>

#include "blackboard/durable_helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;

namespace {

// Clears the process-wide failpoints when a test ends, however it ends.
struct failpoint_guard {
  failpoint_guard() { failpoints::clear(); }
  ~failpoint_guard() { failpoints::clear(); }
};

promote_options with_id(const std::string& id) {
  promote_options o;
  o.txn_id = id;
  return o;
}

// The promotion every failure test tries: two keys, one txn id.
result<commit_result> promote_failing(blackboard& b) {
  auto sp = b.begin("writer");
  REQUIRE(sp.put("doomed/a", "A").ok());
  REQUIRE(sp.put("doomed/b", "B").ok());
  return b.promote(sp, with_id("doomed"));
}

// A failed board: the error names the file; reads work; writes keep failing.
void check_write_failed(blackboard& b, const result<commit_result>& r, const std::string& path,
                        std::uint64_t acked) {
  INFO("failed promote: " << describe(r));
  REQUIRE(code_of(r) == errc::io_error);
  CHECK(r.error().message.find(path) != std::string::npos);
  auto wf = b.write_failure();
  REQUIRE(wf.has_value());
  CHECK(wf->code == errc::io_error);
  CHECK(wf->message == r.error().message);
  CHECK(b.revision() == acked);
  CHECK(value_of(b, "k/1") == 1);
  CHECK_FALSE(b.get("doomed/a")->exists());
  auto h = b.history(1);
  REQUIRE(h.ok());
  CHECK(h->size() == acked);
  // Every later write fails at once with the same error, retries included.
  auto again = promote_failing(b);
  CHECK(code_of(again) == errc::io_error);
  auto sp = b.begin("writer");
  REQUIRE(sp.put("other", 1).ok());
  CHECK(code_of(b.promote(sp)) == errc::io_error);
  CHECK(code_of(b.compact(1)) == errc::io_error);
}

enum class after_reopen { absent, present, either };

void check_after_reopen(const std::string& path, const json& acked_dump, std::uint64_t acked,
                        after_reopen expect) {
  auto b = open_board(path);
  CHECK_FALSE(b->write_failure().has_value());
  const bool present = b->revision() == acked + 1;
  INFO("revision after reopen: " << b->revision());
  if (expect == after_reopen::absent) CHECK(b->revision() == acked);
  if (expect == after_reopen::present) CHECK(present);
  if (expect == after_reopen::either) CHECK((b->revision() == acked || present));
  // Everything acknowledged is there, identical.
  json now = dump(*b);
  json acked_part = now;
  acked_part["revision"] = acked;
  acked_part["history"] = json(now["history"].begin(), now["history"].begin() + acked);
  json state = json::array();
  for (const auto& e : now["state"])
    if (e["key"].get<std::string>().rfind("doomed/", 0) != 0) state.push_back(e);
  acked_part["state"] = state;
  CHECK(acked_part == acked_dump);
  // The failed promotion: all or nothing, and a retry gets the truth.
  CHECK(b->get("doomed/a")->exists() == present);
  CHECK(b->get("doomed/b")->exists() == present);
  auto retry = promote_failing(*b);
  REQUIRE(retry.ok());
  CHECK(retry->revision == acked + 1);
  CHECK(retry->replayed == present);
  CHECK(value_of(*b, "doomed/a") == "A");
}

void run_error_failpoint(const std::string& spec, after_reopen expect) {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json acked_dump;
  {
    auto b = open_board(path);
    for (int i = 1; i <= 3; ++i) commit_put(*b, "k/" + std::to_string(i), i);
    acked_dump = dump(*b);
    REQUIRE(failpoints::set(spec).ok());
    auto r = promote_failing(*b);
    check_write_failed(*b, r, path, 3);
    failpoints::clear();
  }
  check_after_reopen(path, acked_dump, 3, expect);
}

}  // namespace

TEST_CASE("failpoints set rejects malformed entries naming them", "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  for (const char* bad : {"nonsense", "before_lunch=crash", "after_write=explode",
                          "before_sync=error@0", "before_sync=error@x", "disk_full=lots",
                          "after_write=error,=crash"}) {
    auto s = failpoints::set(bad);
    INFO(bad << ": " << describe(s));
    REQUIRE(code_of(s) == errc::invalid_argument);
  }
  auto s = failpoints::set("after_write=explode");
  CHECK(s.error().message.find("'after_write=explode'") != std::string::npos);
  CHECK(failpoints::set(" after_write=error@2 , before_ack=crash,disk_full=100").ok());
  CHECK(failpoints::set("").ok());
}

TEST_CASE("a malformed AGORA_FAILPOINTS fails apply_environment naming the variable",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  REQUIRE(setenv("AGORA_FAILPOINTS", "after_write=sometimes", 1) == 0);
  auto s = failpoints::apply_environment();
  unsetenv("AGORA_FAILPOINTS");
  REQUIRE(code_of(s) == errc::invalid_argument);
  CHECK(s.error().message.find("AGORA_FAILPOINTS") != std::string::npos);
  CHECK(s.error().message.find("after_write=sometimes") != std::string::npos);
}

TEST_CASE("failpoints from AGORA_FAILPOINTS fire on the N-th hit once the program opts in",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  REQUIRE(setenv("AGORA_FAILPOINTS", "after_write=error@2", 1) == 0);
  auto applied = failpoints::apply_environment();
  unsetenv("AGORA_FAILPOINTS");
  REQUIRE(applied.ok());
  auto b = open_board(path);
  CHECK(commit_put(*b, "k/1", 1) == 1);
  auto r = promote_failing(*b);
  CHECK(code_of(r) == errc::io_error);
  CHECK(r.error().message.find("after_write") != std::string::npos);
}

TEST_CASE("blackboard::open never reads AGORA_FAILPOINTS: a shipped program cannot be made to fail",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  // Both a malformed and a firing setting are ignored by the library.
  REQUIRE(setenv("AGORA_FAILPOINTS", "after_write=sometimes", 1) == 0);
  auto bad = blackboard::open([&] {
    durability d;
    d.path = dir.file("other.db");
    return d;
  }());
  CHECK(bad.ok());
  REQUIRE(setenv("AGORA_FAILPOINTS", "after_write=error", 1) == 0);
  auto b = open_board(path);
  unsetenv("AGORA_FAILPOINTS");
  CHECK(commit_put(*b, "k/1", 1) == 1);
  CHECK(commit_put(*b, "k/2", 2) == 2);
}

TEST_CASE("failpoint before_write error fails the promotion and leaves nothing",
          "[blackboard][durable][failpoint]") {
  run_error_failpoint("before_write=error", after_reopen::absent);
}

TEST_CASE("failpoint after_write error fails the promotion and leaves nothing",
          "[blackboard][durable][failpoint]") {
  run_error_failpoint("after_write=error", after_reopen::absent);
}

TEST_CASE("failpoint before_sync error leaves the promotion all or nothing",
          "[blackboard][durable][failpoint]") {
  run_error_failpoint("before_sync=error", after_reopen::either);
}

TEST_CASE("failpoint after_sync error fails the promotion that is durable",
          "[blackboard][durable][failpoint]") {
  run_error_failpoint("after_sync=error", after_reopen::present);
}

TEST_CASE("failpoint before_ack error fails the promotion that is durable",
          "[blackboard][durable][failpoint]") {
  run_error_failpoint("before_ack=error", after_reopen::present);
}

TEST_CASE("failpoint during_compaction error keeps the log uncompacted",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json before;
  {
    auto b = open_board(path);
    for (int i = 1; i <= 5; ++i) commit_put(*b, "k/" + std::to_string(i % 2), i);
    before = dump(*b);
    REQUIRE(failpoints::set("during_compaction=error").ok());
    auto c = b->compact(4);
    INFO(describe(c));
    REQUIRE(code_of(c) == errc::io_error);
    CHECK(c.error().message.find(path) != std::string::npos);
    REQUIRE(b->write_failure().has_value());
    CHECK(b->compact_revision() == 0);
    CHECK(dump(*b) == before);
    auto sp = b->begin("writer");
    REQUIRE(sp.put("k/9", 9).ok());
    CHECK(code_of(b->promote(sp)) == errc::io_error);
    failpoints::clear();
  }
  auto b = open_board(path);
  CHECK(dump(*b) == before);
  REQUIRE(b->compact(4).ok());
  CHECK(b->compact_revision() == 4);
}

TEST_CASE("failpoint during_recovery error fails open and changes nothing",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json before;
  {
    auto b = open_board(path);
    for (int i = 1; i <= 3; ++i) commit_put(*b, "k/" + std::to_string(i), i);
    before = dump(*b);
  }
  REQUIRE(failpoints::set("during_recovery=error").ok());
  durability d;
  d.path = path;
  auto b = blackboard::open(d);
  REQUIRE(code_of(b) == errc::io_error);
  CHECK(b.error().message.find(path) != std::string::npos);
  failpoints::clear();
  CHECK(dump(*open_board(path)) == before);
}

TEST_CASE("disk full fails writes with io_error, keeps reads and every acknowledged promotion",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json acked_dump;
  std::uint64_t acked = 0;
  {
    auto b = open_board(path);
    for (int i = 1; i <= 3; ++i) commit_put(*b, "k/" + std::to_string(i), i);
    REQUIRE(failpoints::set("disk_full=200000").ok());
    // Writes succeed until the files have grown by 200000 bytes.
    result<commit_result> r = commit_result{};
    for (int i = 0; i < 100; ++i) {
      acked_dump = dump(*b);
      acked = b->revision();
      auto sp = b->begin("writer");
      REQUIRE(sp.put("doomed/a", "A").ok());
      REQUIRE(sp.put("big/" + std::to_string(i), std::string(3000, 'x')).ok());
      r = b->promote(sp);
      if (!r) break;
    }
    INFO(describe(r));
    REQUIRE(code_of(r) == errc::io_error);
    CHECK(r.error().message.find(path) != std::string::npos);
    CHECK(r.error().message.find("full") != std::string::npos);
    CHECK(acked > 3);
    REQUIRE(b->write_failure().has_value());
    CHECK(b->revision() == acked);
    CHECK(dump(*b) == acked_dump);
    failpoints::clear();
  }
  auto b = open_board(path);
  CHECK(b->revision() == acked);
  CHECK(dump(*b) == acked_dump);
  CHECK(commit_put(*b, "k/after", 1) == acked + 1);
}

TEST_CASE("failed group gives every waiting promotion the error and keeps every acknowledged one",
          "[blackboard][durable][failpoint]") {
  failpoint_guard guard;
  temp_dir dir;
  const std::string path = dir.file("board.db");
  constexpr int threads = 6;
  std::vector<std::vector<std::pair<std::string, std::uint64_t>>> acked(threads);
  std::vector<int> failures(threads, 0);
  {
    auto b = open_board(path);
    REQUIRE(failpoints::set("after_write=error@5").ok());
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          const std::string key = "t" + std::to_string(t) + "/" + std::to_string(i);
          auto sp = b->begin("w");
          (void)sp.put(key, i);
          auto r = b->promote(sp);
          if (r) acked[t].emplace_back(key, r->revision);
          else if (r.error().code == errc::io_error) ++failures[t];
        }
      });
    for (auto& th : ts) th.join();
    failpoints::clear();
  }
  int total_failures = 0;
  for (int f : failures) total_failures += f;
  CHECK(total_failures > 0);
  auto b = open_board(path);
  std::size_t total_acked = 0;
  for (const auto& per : acked)
    for (const auto& [key, rev] : per) {
      ++total_acked;
      auto e = b->get(key);
      REQUIRE(e.ok());
      CHECK(e->exists());
      CHECK(e->mod_revision() == rev);
    }
  // Nothing but what was acknowledged: the failed group was rolled back.
  CHECK(b->revision() == total_acked);
  CHECK(b->snapshot().list("")->size() == total_acked);
}
