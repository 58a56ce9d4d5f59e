// `agora inspect` (cli/inspect_command.cpp, cli/inspect.cpp) end to end on a
// real debate run's data directory and spans file (report_fixture.hpp).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "cli/report_test_support.hpp"
#include "inspect.hpp"

using namespace agora;
using namespace agora::test;
using nlohmann::json;

namespace {

std::shared_ptr<bb::blackboard> open_board(const std::string& dir) {
  auto b = cli::open_data_dir(dir);
  if (!b) FAIL("cannot open " << dir << ": " << bb::to_string(b.error()));
  return *b;
}

// Writes `value` at `key` as author tester/notes; returns the revision.
std::uint64_t write(bb::blackboard& board, const std::string& key, const json& value) {
  auto sp = board.begin("tester/notes");
  REQUIRE(sp.put(key, value));
  auto c = board.promote(sp);
  REQUIRE(c);
  return c->revision;
}

}  // namespace

TEST_CASE("agora inspect DIR summarizes the blackboard and its runs", "[cli][inspect]") {
  demo_dir d;
  auto r = run_agora({"inspect", d.dir.path()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("revision 14, compaction point 0,") != std::string::npos);
  CHECK(r.out.find("run demo: \"debate\", settled after 2 round(s), answer \"42\"") != std::string::npos);

  auto j = run_agora({"inspect", d.dir.path(), "--json"});
  REQUIRE(j.exit_code == 0);
  auto parsed = json::parse(j.out, nullptr, false);
  REQUIRE_FALSE(parsed.is_discarded());
  CHECK(parsed["revision"] == 14);
  CHECK(parsed["runs"][0]["run"] == "demo");
  CHECK(parsed["runs"][0]["status"] == "settled");
}

TEST_CASE("agora inspect --history prints one line per commit", "[cli][inspect]") {
  demo_dir d;
  auto r = run_agora({"inspect", d.dir.path(), "--history"});
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 14);
  for (std::size_t i = 0; i < lines.size(); ++i)
    CHECK(lines[i].rfind("rev " + std::to_string(i + 1) + "  20", 0) == 0);
  CHECK(lines[0].find("debate/orchestrator  txn demo/meta  runs/demo/meta") != std::string::npos);
  CHECK(r.out.find("txn demo/round-1  runs/demo/round/1") != std::string::npos);
  CHECK(r.out.find("tester/poke  txn -  notes/erin") != std::string::npos);

  auto prefix = run_agora({"inspect", d.dir.path(), "--history", "--prefix", "runs/demo/result"});
  REQUIRE(prefix.exit_code == 0);
  CHECK(lines_of(prefix.out).size() == 1);
  CHECK(prefix.out.find("rev 14 ") == 0);

  auto limited = run_agora({"inspect", d.dir.path(), "--history", "--from", "3", "--to", "9", "--limit", "2"});
  REQUIRE(limited.exit_code == 0);
  auto ll = lines_of(limited.out);
  REQUIRE(ll.size() == 3);
  CHECK(ll[0].rfind("rev 3 ", 0) == 0);
  CHECK(ll[1].rfind("rev 4 ", 0) == 0);
  CHECK(ll[2] == "... 5 more (--from 5)");

  auto j = run_agora({"inspect", d.dir.path(), "--history", "--json", "--prefix", "runs/demo/round"});
  REQUIRE(j.exit_code == 0);
  auto parsed = json::parse(j.out, nullptr, false);
  REQUIRE(parsed.is_array());
  REQUIRE(parsed.size() == 2);
  CHECK(parsed[0]["txn_id"] == "demo/round-1");
  CHECK(parsed[0]["changes"][0]["key"] == "runs/demo/round/1");
  CHECK(parsed[1]["author"] == "debate/orchestrator");
}

TEST_CASE("agora inspect --key and --at show versions and the past state", "[cli][inspect]") {
  demo_dir d;
  std::uint64_t first = 0, second = 0;
  {
    auto board = open_board(d.dir.path());
    first = write(*board, "notes/verdict", "first");
    second = write(*board, "notes/verdict", "second");
  }
  auto r = run_agora({"inspect", d.dir.path(), "--key", "notes/verdict"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("rev " + std::to_string(first) + "  20", 0) == 0);
  CHECK(lines[0].find("  tester/notes  put  \"first\"") != std::string::npos);
  CHECK(lines[1].find("  tester/notes  put  \"second\"") != std::string::npos);

  auto j = run_agora({"inspect", d.dir.path(), "--key", "notes/verdict", "--json"});
  auto parsed = json::parse(j.out, nullptr, false);
  REQUIRE(parsed.is_array());
  CHECK(parsed[0]["value"] == "first");
  CHECK(parsed[1]["revision"] == second);
  CHECK(parsed[1]["version"] == 2);

  // Time travel: at the first write's revision the key held "first".
  auto then = run_agora({"inspect", d.dir.path(), "--at", std::to_string(first), "--prefix", "notes"});
  REQUIRE(then.exit_code == 0);
  CHECK(then.out.find("notes/verdict = \"first\"  (rev " + std::to_string(first) + ", tester/notes)") !=
        std::string::npos);
  auto now = run_agora({"inspect", d.dir.path(), "--at", std::to_string(second), "--prefix", "notes", "--json"});
  auto pn = json::parse(now.out, nullptr, false);
  REQUIRE(pn.is_object());
  CHECK(pn["keys"]["notes/verdict"]["value"] == "second");
  // Before round 1 closed, bob's round-1 answer was there and no round record.
  auto early = run_agora({"inspect", d.dir.path(), "--at", "4", "--prefix", "runs/demo"});
  CHECK(early.out.find("runs/demo/answers/1/debater/bob = \"41\"") != std::string::npos);
  CHECK(early.out.find("runs/demo/round/1") == std::string::npos);
}

TEST_CASE("agora inspect --run prints the run's transcript", "[cli][inspect]") {
  demo_dir d;
  auto r = run_agora({"inspect", d.dir.path(), "--run", "demo"});
  REQUIRE(r.exit_code == 0);
  auto board = open_board(d.dir.path());
  auto expected = transcript(*board, "demo");
  REQUIRE(expected);
  CHECK(r.out == *expected);
  CHECK(r.out.find("debater/erin: 43 (late, not counted)") != std::string::npos);
  CHECK(r.out.find("result: settled, answer 42") != std::string::npos);

  auto unknown = run_agora({"inspect", d.dir.path(), "--run", "q9"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err == "agora inspect: no run 'q9' on this blackboard; runs: demo\n");
}

TEST_CASE("agora inspect TRACE prints the span tree", "[cli][inspect]") {
  demo_dir d;
  const std::string spans = d.dir / "spans.jsonl";
  auto r = run_agora({"inspect", spans});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 15);  // the trace, cli.run, pattern.run, 2 rounds, 10 tasks
  CHECK(lines[0].rfind("trace ", 0) == 0);
  CHECK(lines[1].rfind("  cli.run [agora] ", 0) == 0);
  CHECK(lines[2].rfind("    pattern.run [debate/orchestrator] ", 0) == 0);
  std::size_t tasks = 0, errors = 0, rounds = 0;
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].rfind("      pattern.round [debate/orchestrator] ", 0) == 0) {
      ++rounds;
      continue;
    }
    CHECK(lines[i].rfind("        agent.task [debater/", 0) == 0);  // indented under its round
    tasks += lines[i].find(" run=demo task=r") != std::string::npos;
    errors += lines[i].find(" ERROR: io_error: model unavailable") != std::string::npos;
  }
  CHECK(rounds == 2);
  CHECK(tasks == 10);
  CHECK(errors == 2);
  CHECK(r.out.find("task=r2:debater:erin attempts=2") != std::string::npos);

  const std::string trace_id = lines[0].substr(6);
  auto one = run_agora({"inspect", spans, "--trace-id", trace_id, "--json"});
  REQUIRE(one.exit_code == 0);
  auto parsed = json::parse(one.out, nullptr, false);
  REQUIRE(parsed.is_array());
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["name"] == "cli.run");
  REQUIRE(parsed[0]["children"].size() == 1);
  CHECK(parsed[0]["children"][0]["name"] == "pattern.run");
  CHECK(parsed[0]["children"][0]["children"].size() == 2);

  auto other = run_agora({"inspect", spans, "--trace-id", "0123"});
  CHECK(other.exit_code == 2);
  CHECK(other.err.find("no trace '0123' in '" + spans + "'") != std::string::npos);
}

TEST_CASE("agora inspect names the input it cannot use with exit code 2", "[cli][inspect]") {
  demo_dir d;
  temp_dir empty;
  auto no_board = run_agora({"inspect", empty.path()});
  CHECK(no_board.exit_code == 2);
  CHECK(no_board.err.find("'" + empty.path() + "' has no blackboard.db") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(empty / "blackboard.db"));

  auto nothing = run_agora({"inspect", empty / "nowhere"});
  CHECK(nothing.exit_code == 2);
  CHECK(nothing.err.find("nowhere' does not exist") != std::string::npos);

  auto never = run_agora({"inspect", d.dir.path(), "--key", "runs/demo/nothing"});
  CHECK(never.exit_code == 2);
  CHECK(never.err == "agora inspect: key 'runs/demo/nothing' was never written (revisions 1..14)\n");

  auto future = run_agora({"inspect", d.dir.path(), "--at", "99"});
  CHECK(future.exit_code == 2);
  CHECK(future.err.find("--at 99 is beyond the latest revision 14") != std::string::npos);
  auto zero = run_agora({"inspect", d.dir.path(), "--at", "0"});
  CHECK(zero.exit_code == 2);
  auto word = run_agora({"inspect", d.dir.path(), "--at", "x"});
  CHECK(word.exit_code == 2);
  CHECK(word.err.find("option '--at': expected a whole number, got 'x'") != std::string::npos);
  auto both = run_agora({"inspect", d.dir.path(), "--key", "a", "--at", "3"});
  CHECK(both.exit_code == 2);

  {
    auto board = open_board(d.dir.path());
    REQUIRE(board->compact(6));
  }
  auto compacted = run_agora({"inspect", d.dir.path(), "--at", "3"});
  CHECK(compacted.exit_code == 2);
  CHECK(compacted.err.find("--at 3 is compacted (revisions 6..14 can be read)") != std::string::npos);
  auto history = run_agora({"inspect", d.dir.path(), "--history", "--from", "2"});
  CHECK(history.exit_code == 2);
  CHECK(history.err.find("--from 2 is compacted") != std::string::npos);

  const std::string bad = empty / "bad.jsonl";
  {
    std::ofstream out(bad);
    out << read_file(d.dir / "spans.jsonl").substr(0, read_file(d.dir / "spans.jsonl").find('\n') + 1)
        << "\n{\"traceId\": \"ab\"}\n";
  }
  auto malformed = run_agora({"inspect", bad});
  CHECK(malformed.exit_code == 2);
  CHECK(malformed.err == "agora inspect: malformed span at " + bad + ":3: field 'spanId' is missing\n");
  auto db = run_agora({"inspect", d.dir / "blackboard.db"});
  CHECK(db.exit_code == 2);
  CHECK(db.err.find("is a blackboard file; give its directory: agora inspect " + d.dir.path()) !=
        std::string::npos);
  auto wrong = run_agora({"inspect", bad, "--history"});
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("--history needs a data directory") != std::string::npos);
}

TEST_CASE("agora inspect reads a blackboard another process has open", "[cli][inspect]") {
  demo_dir d;
  // This process keeps the blackboard open and writes, as `agora serve` would.
  auto board = open_board(d.dir.path());
  const auto rev = write(*board, "notes/live", "before");
  auto r = run_agora({"inspect", d.dir.path(), "--key", "notes/live"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("put  \"before\"") != std::string::npos);
  CHECK(r.out.rfind("rev " + std::to_string(rev) + " ", 0) == 0);
  // The writer is unharmed: it still commits, and inspect sees that too.
  const auto rev2 = write(*board, "notes/live", "after");
  CHECK(rev2 == rev + 1);
  auto again = run_agora({"inspect", d.dir.path(), "--key", "notes/live"});
  CHECK(lines_of(again.out).size() == 2);
  CHECK(again.out.find("put  \"after\"") != std::string::npos);
}
