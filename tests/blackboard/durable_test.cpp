// The durable blackboard (blackboard::open): what a promotion acknowledged
// before a close is still there, identical, after the reopen; idempotency,
// compaction, snapshots and watches across restarts; group commit; files
// that are not Agora logs.
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <agora/blackboard/failpoints.hpp>

#include "blackboard/durable_helpers.hpp"

using namespace agora::bb;
using namespace agora::bb::test;

namespace {

// Runs SQL on a log file with the sqlite3 library, as a person would with
// the sqlite3 shell; returns the rows as arrays of text (null as "NULL").
json query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  json rows = json::array();
  char* err = nullptr;
  auto cb = [](void* out, int n, char** vals, char**) {
    json row = json::array();
    for (int i = 0; i < n; ++i) row.push_back(vals[i] ? vals[i] : "NULL");
    static_cast<json*>(out)->push_back(row);
    return 0;
  };
  int rc = sqlite3_exec(db, sql.c_str(), cb, &rows, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  INFO(sql << ": " << msg);
  REQUIRE(rc == SQLITE_OK);
  return rows;
}

// A varied workload: puts, merges, appends, erases, txn ids, trace tags.
void write_workload(blackboard& b) {
  commit_puts(b, {{"runs/1/a", 1}, {"runs/1/b", {{"x", "y"}}}}, "alice");
  {
    auto sp = b.begin("bob");
    REQUIRE(sp.merge("runs/1/b", {{"z", 2}}).ok());
    REQUIRE(sp.append("runs/1/log", "first").ok());
    promote_options o;
    o.txn_id = "bob/1";
    o.trace = {1, 2, 3, 0xffffffffffffffffULL};
    REQUIRE(b.promote(sp, o).ok());
  }
  commit_erase(b, "runs/1/a", "carol");
  commit_put(b, "runs/1/a", json::array({1.5, nullptr, true, "ü"}), "alice");
  commit_put(b, "runs/2/x", "two", "dave");
}

}  // namespace

TEST_CASE("durable blackboard reopens with identical state, history and metadata",
          "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json before;
  {
    auto b = open_board(path);
    CHECK(b->revision() == 0);
    write_workload(*b);
    CHECK(b->revision() == 5);
    CHECK_FALSE(b->write_failure().has_value());
    before = dump(*b);
  }
  auto b = open_board(path);
  CHECK(b->revision() == 5);
  CHECK(dump(*b) == before);
  // Snapshots at old revisions read what they read before the restart.
  auto s2 = b->snapshot_at(2);
  REQUIRE(s2.ok());
  auto a = s2->get("runs/1/a");
  REQUIRE(a.ok());
  CHECK(a->value() == 1);
  auto s3 = b->snapshot_at(3);
  REQUIRE(s3.ok());
  CHECK_FALSE(s3->get("runs/1/a")->exists());
  CHECK(s3->get("runs/1/b")->value() == json({{"x", "y"}, {"z", 2}}));
  // And the board goes on from where it was.
  CHECK(commit_put(*b, "runs/3/y", 3) == 6);
}

TEST_CASE("durable blackboard watch from an old revision after reopen replays then goes live",
          "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  {
    auto b = open_board(path);
    write_workload(*b);
  }
  auto b = open_board(path);
  auto w = b->watch("runs/1", 2);
  REQUIRE(w.ok());
  std::vector<std::uint64_t> revs;
  for (int i = 0; i < 3; ++i) {
    auto r = w->next(std::chrono::seconds(5));
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    revs.push_back((*r)->revision);
  }
  CHECK(revs == std::vector<std::uint64_t>{2, 3, 4});
  const std::uint64_t live = commit_put(*b, "runs/1/c", "live");
  auto r = w->next(std::chrono::seconds(5));
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  CHECK((*r)->revision == live);
  CHECK((*r)->changes.at(0).after.value() == "live");
}

TEST_CASE("durable idempotent retry after reopen returns the original revision",
          "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  promote_options o;
  o.txn_id = "run7/task3/0";
  promote_options empty_id;
  empty_id.txn_id = "run7/nothing";
  {
    auto b = open_board(path);
    commit_put(*b, "k/0", 0);
    auto r = commit_puts(*b, {{"k/1", 1}, {"k/2", 2}}, "writer", o);
    CHECK(r.revision == 2);
    CHECK_FALSE(r.replayed);
    commit_put(*b, "k/3", 3);
    // A promotion that writes nothing keeps its idempotency record too.
    auto sp = b->begin("writer");
    REQUIRE(sp.erase("k/absent").ok());
    auto e = b->promote(sp, empty_id);
    REQUIRE(e.ok());
    CHECK(e->revision == 3);
  }
  auto b = open_board(path);
  auto sp = b->begin("writer");
  REQUIRE(sp.put("k/1", 1).ok());
  REQUIRE(sp.put("k/2", 2).ok());
  auto again = b->promote(sp, o);
  REQUIRE(again.ok());
  CHECK(again->revision == 2);
  CHECK(again->replayed);
  CHECK(again->changes == 2);
  CHECK(b->revision() == 3);

  auto other = b->begin("writer");
  REQUIRE(other.put("k/1", "different").ok());
  auto dup = b->promote(other, o);
  CHECK(code_of(dup) == errc::duplicate_txn);

  auto sp2 = b->begin("writer");
  REQUIRE(sp2.erase("k/absent").ok());
  auto e = b->promote(sp2, empty_id);
  REQUIRE(e.ok());
  CHECK(e->replayed);
  CHECK(e->revision == 3);
}

TEST_CASE("durable compaction survives reopen", "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json before;
  {
    auto b = open_board(path);
    for (int i = 1; i <= 6; ++i) commit_put(*b, "k/" + std::to_string(i % 3), i);
    commit_erase(*b, "k/0");  // 7
    commit_put(*b, "k/9", 9);  // 8
    REQUIRE(b->compact(4).ok());
    CHECK(b->compact_revision() == 4);
    commit_put(*b, "k/1", 10);  // 9
    REQUIRE(b->compact(8).ok());
    before = dump(*b);
  }
  auto b = open_board(path);
  CHECK(dump(*b) == before);
  CHECK(b->compact_revision() == 8);
  CHECK(code_of(b->snapshot_at(7)) == errc::compacted);
  CHECK(code_of(b->history(7)) == errc::compacted);
  auto h = b->history(8);
  REQUIRE(h.ok());
  REQUIRE(h->size() == 2);
  CHECK(h->at(0).revision == 8);
  auto s8 = b->snapshot_at(8);
  REQUIRE(s8.ok());
  CHECK(s8->get("k/1")->value() == 4);
  CHECK(s8->get("k/1")->mod_revision() == 4);
  CHECK_FALSE(s8->get("k/0")->exists());
  CHECK(s8->get("k/9")->value() == 9);
  CHECK(commit_put(*b, "k/new", 1) == 10);
}

TEST_CASE("durable retention compacts on disk and in memory", "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  blackboard_options opts;
  opts.retain_revisions = 5;
  json before;
  {
    auto b = open_board(path, sync_mode::full, opts);
    for (int i = 1; i <= 30; ++i) commit_put(*b, "k/" + std::to_string(i % 4), i);
    CHECK(b->compact_revision() > 0);
    CHECK(b->revision() - b->compact_revision() >= 5);
    before = dump(*b);
  }
  auto b = open_board(path, sync_mode::full, opts);
  CHECK(dump(*b) == before);
  auto rows = query(path, "SELECT min(revision) FROM txn_log");
  CHECK(rows.at(0).at(0) == std::to_string(b->compact_revision()));
}

TEST_CASE("durable group commit shares transactions among concurrent promotions",
          "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  constexpr int threads = 8;
  constexpr int per_thread = 25;
  const auto before = failpoints::counters();
  std::vector<std::vector<std::uint64_t>> got(threads);
  {
    auto b = open_board(path);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto sp = b->begin("w" + std::to_string(t));
          (void)sp.put("t" + std::to_string(t) + "/" + std::to_string(i), i);
          auto r = b->promote(sp);
          if (r) got[t].push_back(r->revision);
        }
      });
    for (auto& th : ts) th.join();
    CHECK(b->revision() == threads * per_thread);
  }
  const auto after = failpoints::counters();
  std::vector<std::uint64_t> all;
  for (const auto& g : got) {
    CHECK(g.size() == per_thread);
    CHECK(std::is_sorted(g.begin(), g.end()));
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == i + 1);
  const auto groups = after.group_commits - before.group_commits;
  INFO("group commits: " << groups << " for " << threads * per_thread << " promotions");
  CHECK(groups < static_cast<std::uint64_t>(threads * per_thread));
  CHECK(groups >= 1);
  auto b = open_board(path);
  CHECK(b->revision() == threads * per_thread);
  auto all_keys = b->snapshot().list("");
  REQUIRE(all_keys.ok());
  CHECK(all_keys->size() == threads * per_thread);
}

TEST_CASE("durable conflict on a promotion still syncing is answered once it is visible",
          "[blackboard][durable]") {
  // Two writers increment one counter. A durable promotion is visible only
  // once synced, but later promotions are checked against it at once; a
  // conflict must not be answered before the change it names is visible,
  // or the retry's fresh snapshot would miss it and conflict again.
  temp_dir dir;
  auto b = open_board(dir.file("board.db"));
  constexpr int per_writer = 60;
  std::atomic<int> conflicts{0}, early{0};
  auto writer = [&](const std::string& who) {
    for (int done = 0; done < per_writer;) {
      auto sp = b->begin(who);
      auto cur = sp.get("counter");
      REQUIRE(cur.ok());
      (void)sp.put("counter", cur->exists() ? cur->value().get<int>() + 1 : 1);
      auto r = b->promote(sp);
      if (r) {
        ++done;
        continue;
      }
      REQUIRE(r.error().code == errc::conflict);
      ++conflicts;
      for (const auto& c : r.error().conflicts)
        if (b->revision() < c.current_revision) ++early;
    }
  };
  std::thread t1(writer, "a"), t2(writer, "b");
  t1.join();
  t2.join();
  INFO(conflicts.load() << " conflicts");
  CHECK(early.load() == 0);
  auto v = b->get("counter");
  REQUIRE(v.ok());
  CHECK(v->value() == 2 * per_writer);
  CHECK(b->revision() == 2 * per_writer);
}

TEST_CASE("durable blackboard with sync_mode normal keeps what it acknowledged",
          "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  json before;
  {
    auto b = open_board(path, sync_mode::normal);
    write_workload(*b);
    before = dump(*b);
  }
  auto b = open_board(path, sync_mode::normal);
  CHECK(dump(*b) == before);
  auto rows = query(path, "PRAGMA journal_mode");
  CHECK(rows.at(0).at(0) == "wal");
}

TEST_CASE("durable log schema answers the documented sqlite3 queries", "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  {
    auto b = open_board(path);
    write_workload(*b);
  }
  CHECK(query(path, "SELECT value FROM meta WHERE key = 'schema_version'") == json{{"1"}});
  CHECK(query(path, "SELECT revision, kind FROM history WHERE key = 'runs/1/a' ORDER BY revision") ==
        json::array({json::array({"1", "put"}), json::array({"3", "erase"}), json::array({"4", "put"})}));
  CHECK(query(path, "SELECT key, value, version FROM state WHERE key = 'runs/1/b'") ==
        json{{"runs/1/b", R"({"x":"y","z":2})", "2"}});
  CHECK(query(path, "SELECT revision, author FROM txn_log WHERE txn_id = 'bob/1'") ==
        json::array({json::array({"2", "bob"})}));
  CHECK(query(path, "SELECT revision FROM idempotency WHERE txn_id = 'bob/1'") == json{{"2"}});
  CHECK(query(path, "SELECT j.value ->> 'key' FROM txn_log, json_each(txn_log.changes) AS j "
                    "WHERE revision = 2 ORDER BY 1") ==
        json{{"runs/1/b"}, {"runs/1/log"}});
}

TEST_CASE("durable log's change lists are the JSON the log documents, escapes included",
          "[blackboard][durable]") {
  temp_dir dir;
  const std::string path = dir.file("board.db");
  const json odd = {{"quote\"d", "tab\there"}, {"u", "\u00e9\u4e2d"}, {"n", -1.5}, {"list", {1, nullptr}}};
  {
    auto b = open_board(path);
    commit_puts(*b, {{"runs/1/a", odd}, {"runs/1/b", 2}}, "alice");
    auto sp = b->begin("bob");
    REQUIRE(sp.erase("runs/1/b").ok());
    REQUIRE(b->promote(std::move(sp)).ok());
  }
  auto rows = query(path, "SELECT changes FROM txn_log ORDER BY revision");
  REQUIRE(rows.size() == 2);
  const json first = json::array(
      {{{"create_revision", 1}, {"key", "runs/1/a"}, {"kind", "put"}, {"value", odd}, {"version", 1}},
       {{"create_revision", 1}, {"key", "runs/1/b"}, {"kind", "put"}, {"value", 2}, {"version", 1}}});
  const json second = json::array({{{"deleted", true}, {"key", "runs/1/b"}, {"kind", "erase"}}});
  // Byte for byte what nlohmann's dump() gives, so older readers see no change.
  CHECK(rows.at(0).at(0).get<std::string>() == first.dump());
  CHECK(rows.at(1).at(0).get<std::string>() == second.dump());
  CHECK(query(path, "SELECT value FROM state WHERE key = 'runs/1/a'") == json{{odd.dump()}});
}

TEST_CASE("durable open fails with corrupt naming a file that is not an Agora log",
          "[blackboard][durable]") {
  temp_dir dir;
  SECTION("a text file") {
    const std::string path = dir.file("notes.txt");
    std::ofstream(path) << "these are my notes, not a database, and long enough to have a header";
    durability d;
    d.path = path;
    auto b = blackboard::open(d);
    REQUIRE(code_of(b) == errc::corrupt);
    CHECK(b.error().message.find(path) != std::string::npos);
  }
  SECTION("another application's SQLite database") {
    const std::string path = dir.file("other.db");
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE songs(title TEXT)", nullptr, nullptr, nullptr) ==
            SQLITE_OK);
    sqlite3_close(db);
    durability d;
    d.path = path;
    auto b = blackboard::open(d);
    REQUIRE(code_of(b) == errc::corrupt);
    CHECK(b.error().message.find(path) != std::string::npos);
    CHECK(b.error().message.find("not an Agora log") != std::string::npos);
  }
  SECTION("an Agora log of an unknown schema version") {
    const std::string path = dir.file("future.db");
    { open_board(path); }
    query(path, "UPDATE meta SET value = 99 WHERE key = 'schema_version'");
    durability d;
    d.path = path;
    auto b = blackboard::open(d);
    REQUIRE(code_of(b) == errc::corrupt);
    CHECK(b.error().message.find(path) != std::string::npos);
    CHECK(b.error().message.find("schema version 99") != std::string::npos);
  }
  SECTION("a log with a gap in its revisions") {
    const std::string path = dir.file("gap.db");
    {
      auto b = open_board(path);
      for (int i = 0; i < 3; ++i) commit_put(*b, "k", i);
    }
    query(path, "DELETE FROM txn_log WHERE revision = 2");
    durability d;
    d.path = path;
    auto b = blackboard::open(d);
    REQUIRE(code_of(b) == errc::corrupt);
    CHECK(b.error().message.find("jumps from revision 1 to 3") != std::string::npos);
  }
  SECTION("a state table that disagrees with the log") {
    const std::string path = dir.file("edited.db");
    {
      auto b = open_board(path);
      commit_put(*b, "k", 1);
    }
    query(path, "UPDATE state SET value = '2' WHERE key = 'k'");
    durability d;
    d.path = path;
    auto b = blackboard::open(d);
    REQUIRE(code_of(b) == errc::corrupt);
    CHECK(b.error().message.find("'k'") != std::string::npos);
  }
}

TEST_CASE("durable open fails with io_error naming a file it cannot create",
          "[blackboard][durable]") {
  temp_dir dir;
  durability d;
  d.path = dir.file("no/such/dir/board.db");
  auto b = blackboard::open(d);
  REQUIRE(code_of(b) == errc::io_error);
  CHECK(b.error().message.find(d.path) != std::string::npos);
  d.path.clear();
  CHECK(code_of(blackboard::open(d)) == errc::invalid_argument);
}

TEST_CASE("in-memory blackboard is not durable and ignores failpoints", "[blackboard][durable]") {
  blackboard b;
  CHECK_FALSE(b.durable());
  REQUIRE(failpoints::set("before_write=error,after_write=error,disk_full=0").ok());
  CHECK(commit_put(b, "k", 1) == 1);
  CHECK_FALSE(b.write_failure().has_value());
  failpoints::clear();
}
