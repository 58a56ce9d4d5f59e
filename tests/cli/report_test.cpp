// The HTML report (cli/report.cpp) and `agora report` (cli/report_command.cpp),
// on a real debate run (report_fixture.hpp): its content, its escaping, no
// network, the command end to end, and the page in headless Chromium.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

#include "agora/blackboard/blackboard.hpp"
#include "cli/report_test_support.hpp"
#include "inspect.hpp"
#include "process.hpp"
#include "report.hpp"

using namespace agora;
using namespace agora::test;

namespace {

std::shared_ptr<bb::blackboard> open_board(const std::string& dir) {
  auto b = cli::open_data_dir(dir);
  if (!b) FAIL("cannot open " << dir << ": " << bb::to_string(b.error()));
  return *b;
}

std::string render(const demo_dir& d, bool spans = true) {
  auto board = open_board(d.dir.path());
  cli::report_input in;
  in.board = board.get();
  in.run_id = "demo";
  if (spans) in.spans_path = d.dir / "spans.jsonl";
  auto html = cli::render_html_report(in);
  if (!html) FAIL("render failed: " << bb::to_string(html.error()));
  return *html;
}

const char* const members[] = {"debater/alice", "debater/bob", "debater/carol", "debater/dave",
                               "debater/erin"};

}  // namespace

TEST_CASE("report shows every agent and round with the votes and the result and the stop reason", "[cli][report]") {
  demo_dir d;
  REQUIRE(d.result.status == run_status::settled);
  const std::string html = render(d);
  for (const char* m : members) CHECK(html.find(m) != std::string::npos);
  CHECK(html.find("<h3>Round 1</h3>") != std::string::npos);
  CHECK(html.find("<h3>Round 2</h3>") != std::string::npos);
  CHECK(html.find("data-round=\"3\"") == std::string::npos);
  // Round 1: three answers with one vote each; round 2: "42" with 4 of 5.
  CHECK(count_of(html, "<tr class=\"vote-row") == 4);
  CHECK(html.find("4 / 5") != std::string::npos);
  CHECK(html.find("debater/alice, debater/bob, debater/carol, debater/erin") != std::string::npos);
  // Result, stop reason, stopped_by.
  CHECK(html.find("id=\"final-answer\">42</div>") != std::string::npos);
  CHECK(html.find("consensus (majority): 4 of 5 agree on &#39;42&#39; after round 2") != std::string::npos);
  CHECK(html.find("<span class=\"chip ok\">consensus</span>") != std::string::npos);
  CHECK(html.find("<div class=\"v\">135</div>") != std::string::npos);  // tokens
  // Failures, the late answer, the conflict retry.
  CHECK(html.find("io_error: model unavailable") != std::string::npos);
  CHECK(html.find(">late</span>") != std::string::npos);
  CHECK(html.find("task r2:debater:erin ran 2 times") != std::string::npos);
  // Spans with anchors, and the transcript.
  CHECK(count_of(html, "<li id=\"span-") == 14);  // cli.run, pattern.run, 2 rounds, 10 tasks
  CHECK(html.find("pattern.run [debate/orchestrator]") != std::string::npos);
  CHECK(html.find("result: settled, answer 42") != std::string::npos);
  // The timeline's data: every contribution with its commit revision and tokens.
  CHECK(html.find("\"late\":true") != std::string::npos);
  CHECK(html.find("\"attempts\":2") != std::string::npos);
}

TEST_CASE("report escapes every text from the run", "[cli][report]") {
  demo_dir d;
  const std::string html = render(d);
  const std::string evil = demo_evil_answer;
  CHECK(html.find(evil) == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("&lt;/script&gt;&lt;img src=x onerror=&quot;") != std::string::npos);
  // In the data block the answer's '<' and '>' are \u escapes.
  CHECK(html.find("\\u003c/script\\u003e\\u003cimg") != std::string::npos);
  // Exactly the page's two script elements: the data block and its code.
  CHECK(count_of(html, "<script") == 2);
  CHECK(count_of(html, "</script>") == 2);
}

TEST_CASE("report names no network URL and forbids network access", "[cli][report]") {
  demo_dir d;
  const std::string html = render(d);
  // The run's own text holds no URL, so none may appear anywhere.
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("//www.") == std::string::npos);
  CHECK(html.find("Content-Security-Policy\" content=\"default-src 'none';") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(html, m, std::regex("script-src 'nonce-([0-9a-f]+)'")));
  CHECK(html.find("<script nonce=\"" + m[1].str() + "\">") != std::string::npos);
}

TEST_CASE("report fails naming the run and listing the runs there are", "[cli][report]") {
  demo_dir d;
  auto board = open_board(d.dir.path());
  cli::report_input in;
  in.board = board.get();
  in.run_id = "nope";
  auto html = cli::render_html_report(in);
  REQUIRE_FALSE(html);
  CHECK(html.error().code == bb::errc::invalid_argument);
  CHECK(html.error().message == "no run 'nope' on this blackboard; runs: demo");
  in.run_id = "demo";
  in.spans_path = d.dir / "missing.jsonl";
  auto no_spans = cli::render_html_report(in);
  REQUIRE_FALSE(no_spans);
  CHECK(no_spans.error().message.find("missing.jsonl") != std::string::npos);
}

TEST_CASE("report names span lines it cannot read and still renders", "[cli][report]") {
  demo_dir d;
  {
    std::ofstream out(d.dir / "spans.jsonl", std::ios::app);
    out << "{not json\n";
  }
  const std::string html = render(d);
  CHECK(html.find("1 span line(s) could not be read") != std::string::npos);
  CHECK(html.find("spans.jsonl:15: not JSON") != std::string::npos);
  CHECK(count_of(html, "<li id=\"span-") == 14);  // cli.run, pattern.run, 2 rounds, 10 tasks
}

TEST_CASE("agora report writes DIR/report-RUN.html and prints its path", "[cli][report]") {
  demo_dir d;
  auto r = run_agora({"report", d.dir.path()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string path = d.dir / "report-demo.html";
  CHECK(r.out == path + "\n");
  const std::string html = read_file(path);
  CHECK(html.find("<title>Agora report: demo</title>") != std::string::npos);
  CHECK(count_of(html, "<li id=\"span-") == 14);  // cli.run, pattern.run, 2 rounds, 10 tasks  // found DIR/spans.jsonl by itself

  auto o = run_agora({"report", d.dir.path(), "-o", d.dir / "x.html"});
  CHECK(o.exit_code == 0);
  CHECK(o.out == d.dir / "x.html\n");
  CHECK(std::filesystem::file_size(d.dir / "x.html") == std::filesystem::file_size(path));
}

TEST_CASE("agora report asks for --run when the directory holds several runs", "[cli][report]") {
  demo_dir d;
  auto second = make_demo_run(d.dir.path(), "other");
  REQUIRE(second);
  auto r = run_agora({"report", d.dir.path()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("holds 2 runs; choose one with --run: demo other") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(d.dir / "report-demo.html"));

  auto one = run_agora({"report", d.dir.path(), "--run", "other", "--output", d.dir / "other.html"});
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  CHECK(read_file(d.dir / "other.html").find("<title>Agora report: other</title>") != std::string::npos);

  auto unknown = run_agora({"report", d.dir.path(), "--run", "q9"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("no run 'q9' on this blackboard; runs: demo, other") != std::string::npos);
}

TEST_CASE("agora report refuses bad input with exit code 2 and creates nothing", "[cli][report]") {
  temp_dir empty;
  auto r = run_agora({"report", empty.path()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("'" + empty.path() + "' has no blackboard.db") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(empty / "blackboard.db"));

  auto missing = run_agora({"report", empty / "nowhere"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("nowhere' is not a directory") != std::string::npos);

  auto bad = run_agora({"report", empty.path(), "--colour"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--colour") != std::string::npos);

  auto help = run_agora({"report", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("agora report DIR") != std::string::npos);
}

TEST_CASE("agora report's page renders in headless Chromium", "[cli][report][chromium]") {
  // Chromium is part of the set-up (scripts/setup.sh): missing, it fails.
  REQUIRE(cli::program_exists("chromium"));
  demo_dir d;
  auto r = run_agora({"report", d.dir.path()});
  REQUIRE(r.exit_code == 0);
  const std::string page = "file://" + d.dir / "report-demo.html";
  auto chromium = [&](std::vector<std::string> extra) {
    cli::process_request rq;
    rq.argv = {"chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
               "--user-data-dir=" + d.dir / "chromium-profile", "--virtual-time-budget=5000"};
    rq.argv.insert(rq.argv.end(), extra.begin(), extra.end());
    rq.argv.push_back(page);
    rq.timeout = std::chrono::seconds(90);
    auto res = cli::run_process(rq);
    REQUIRE(res);
    INFO(res->err);
    REQUIRE_FALSE(res->timed_out);
    REQUIRE(res->exit_code == 0);
    return *res;
  };

  SECTION("the DOM after the script ran") {
    auto dom = chromium({"--dump-dom"}).out;
    // The script finished without throwing (it sets "error" and a banner otherwise).
    CHECK(dom.find("data-render=\"ok\"") != std::string::npos);
    CHECK(dom.find("id=\"render-error\"") == std::string::npos);
    // The timeline: one SVG, one lane per agent, one band per round.
    CHECK(count_of(dom, "<svg width=") == 1);  // (the script itself says "<svg></svg>")
    CHECK(dom.find("class=\"timeline\"") != std::string::npos);
    CHECK(count_of(dom, "class=\"lane\"") == 5);
    for (const char* m : members) CHECK(dom.find("class=\"lane\" data-agent=\"" + std::string(m) + "\"") != std::string::npos);
    CHECK(dom.find("class=\"band-group\" data-round=\"1\"") != std::string::npos);
    CHECK(dom.find("class=\"band-group\" data-round=\"2\"") != std::string::npos);
    CHECK(count_of(dom, "class=\"contribution") == 8);      // 4 a round (dave failed), erin late in round 1
    CHECK(count_of(dom, "class=\"contribution late\"") == 1);
    CHECK(count_of(dom, "class=\"failure\"") == 2);          // dave, both rounds
    CHECK(dom.find("2 attempts") != std::string::npos);     // erin's retry
    // The votes.
    CHECK(count_of(dom, "<tr class=\"vote-row") == 4);
    // The injected answer did nothing.
    CHECK(dom.find("data-pwned") == std::string::npos);
    CHECK(dom.find("<img") == std::string::npos);
  }

  SECTION("a span opened by its anchor shows its parent and children") {
    auto spans = cli::read_span_file(d.dir / "spans.jsonl", true);
    REQUIRE(spans);
    std::string run_span, erin_span, erin_parent;
    for (const auto& s : spans->spans) {
      if (s.name == "pattern.run") run_span = s.span_id;
      if (s.attribute("agora.task") == "r2:debater:erin") {
        erin_span = s.span_id;
        erin_parent = s.parent_id;
      }
    }
    REQUIRE_FALSE(run_span.empty());
    REQUIRE_FALSE(erin_span.empty());
    const std::string base = page;
    auto panel_of = [&](const std::string& id) {
      cli::process_request rq;
      rq.argv = {"chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                 "--user-data-dir=" + d.dir / "chromium-profile", "--virtual-time-budget=5000",
                 "--dump-dom", base + "#span-" + id};
      rq.timeout = std::chrono::seconds(90);
      auto res = cli::run_process(rq);
      REQUIRE(res);
      REQUIRE_FALSE(res->timed_out);
      const auto at = res->out.find("<div id=\"span-details\">");
      REQUIRE(at != std::string::npos);
      return res->out.substr(at, res->out.find("</dl>", at) - at);
    };
    const std::string erin = panel_of(erin_span);
    CHECK(erin.find("<h3>agent.task — debater/erin</h3>") != std::string::npos);
    // Its parent is recorded: round 2's span.
    CHECK(erin.find("<dt>parent</dt><dd><a href=\"#span-" + erin_parent + "\"") != std::string::npos);
    CHECK(erin.find("(not recorded)") == std::string::npos);
    CHECK(erin.find("<dt>agora.attempts</dt><dd>2</dd>") != std::string::npos);
    const std::string run = panel_of(run_span);
    CHECK(run.find("<h3>pattern.run — debate/orchestrator</h3>") != std::string::npos);
    CHECK(count_of(run, "<a href=\"#span-") == 3);  // its parent (cli.run) and its two rounds
    const std::string round2 = panel_of(erin_parent);
    CHECK(round2.find("<h3>pattern.round — debate/orchestrator</h3>") != std::string::npos);
    CHECK(count_of(round2, "<a href=\"#span-") == 6);  // its parent and five task spans
  }

  SECTION("a screenshot") {
    const std::string png = d.dir / "report.png";
    chromium({"--window-size=1280,2400", "--screenshot=" + png, "--hide-scrollbars"});
    REQUIRE(std::filesystem::exists(png));
    const std::string bytes = read_file(png);
    REQUIRE(bytes.size() > 24);
    CHECK(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    auto be32 = [&](std::size_t at) {
      return (std::uint32_t(std::uint8_t(bytes[at])) << 24) | (std::uint32_t(std::uint8_t(bytes[at + 1])) << 16) |
             (std::uint32_t(std::uint8_t(bytes[at + 2])) << 8) | std::uint32_t(std::uint8_t(bytes[at + 3]));
    };
    CHECK(be32(16) == 1280);  // IHDR width
    CHECK(be32(20) == 2400);  // IHDR height
    // A page of text, cards and a chart compresses far worse than a blank one (~10 KB).
    CHECK(bytes.size() > 100000);
  }
}

TEST_CASE("report of an unfinished run without spans renders in Chromium too", "[cli][report][chromium]") {
  REQUIRE(cli::program_exists("chromium"));
  // A run as an evaluator-like pattern leaves it mid-way: meta and one round
  // record without "votes" (the counted answers are the votes), no result.
  temp_dir dir;
  {
    bb::durability dur;
    dur.path = dir / "blackboard.db";
    auto board = bb::blackboard::open(dur);
    REQUIRE(board);
    auto sp = (*board)->begin("loop/orchestrator");
    REQUIRE(sp.put("runs/half/meta", {{"pattern", "evaluator_loop"},
                                      {"members", {"writer/w", "critic/c1", "critic/c2"}},
                                      {"policy", "quality_threshold(0.9) | max_rounds(3)"},
                                      {"fallback", "best_so_far"},
                                      {"input", {{"task", "a haiku about <b>tags</b>"}}}}));
    REQUIRE((*board)->promote(sp));
    auto sp2 = (*board)->begin("loop/orchestrator");
    REQUIRE(sp2.put("runs/half/round/1",
                    {{"round", 1},
                     {"candidate", "<i>draft</i>"},
                     {"failed", json::object()},
                     {"missing", json::array({"critic/c2"})},
                     {"summary", {{"number", 1}, {"expected", 3}, {"answers", {{"writer/w", "draft"}, {"critic/c1", "draft"}}},
                                  {"late", 0}, {"failed", 0}, {"new_contributions", 2},
                                  {"aggregate", "draft"}, {"quality", 0.75}}},
                     {"totals", {{"tokens", 50}, {"cost_usd", 0.01}, {"elapsed_ms", 800}}}}));
    REQUIRE((*board)->promote(sp2));
  }
  auto r = run_agora({"report", dir.path()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(dir / "report-half.html");
  CHECK(html.find("id=\"status\">running</span>") != std::string::npos);
  CHECK(html.find("Quality: <b>0.750</b>") != std::string::npos);
  CHECK(count_of(html, "<tr class=\"vote-row") == 1);
  CHECK(html.find("2 / 3") != std::string::npos);
  CHECK(html.find("<b>tags</b>") == std::string::npos);
  CHECK(html.find("No spans") != std::string::npos);

  cli::process_request rq;
  rq.argv = {"chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--user-data-dir=" + dir / "chromium-profile", "--virtual-time-budget=5000", "--dump-dom",
             "file://" + dir / "report-half.html"};
  rq.timeout = std::chrono::seconds(90);
  auto res = cli::run_process(rq);
  REQUIRE(res);
  REQUIRE_FALSE(res->timed_out);
  CHECK(res->out.find("data-render=\"ok\"") != std::string::npos);
  CHECK(count_of(res->out, "class=\"lane\"") == 3);
  CHECK(res->out.find("<i>") == std::string::npos);
}

// --- a review's outcome (runs/review/review, cli/review's to_json(review_report)) -------

namespace {

// A finished review on an in-memory blackboard: meta and result as the swarm
// writes them and, when given, the review's result record.
std::shared_ptr<bb::blackboard> review_board(const json& review) {
  auto board = std::make_shared<bb::blackboard>();
  auto sp = board->begin("swarm/orchestrator");
  REQUIRE(sp.put("runs/review/meta", {{"pattern", "swarm"},
                                      {"members", {"reviewer/gcc", "reviewer/cppcheck"}},
                                      {"policy", "stable_answer(1) | max_rounds(1)"},
                                      {"fallback", "best_so_far"},
                                      {"input", {{"root", "/src"}, {"files", 3}}}}));
  REQUIRE(board->promote(sp));
  auto sp2 = board->begin("swarm/orchestrator");
  REQUIRE(sp2.put("runs/review/result", {{"run_id", "review"},
                                         {"status", "settled"},
                                         {"answer", json::array()},
                                         {"reason", "stable_answer: '4 findings' unchanged for 1 round(s), up to round 1"},
                                         {"stopped_by", {"stable_answer", "max_rounds"}},
                                         {"rounds", 1},
                                         {"tokens", 0},
                                         {"cost_usd", 0.0},
                                         {"revision", 0}}));
  REQUIRE(board->promote(sp2));
  if (!review.is_null()) {
    auto sp3 = board->begin("cli/review");
    REQUIRE(sp3.put("runs/review/review", review));
    REQUIRE(board->promote(sp3));
  }
  return board;
}

json sample_review() {
  json reported = json::array();
  reported.push_back({{"file", "src/a.c"}, {"line", 12}, {"rule", "-Wformat-security"}, {"category", "format-string"},
                      {"severity", "high"}, {"message", "user text <script>alert(1)</script> reaches printf"},
                      {"evidence", "printf(buf); // a < b && c > d"}, {"cwe", 134},
                      {"found_by", {"reviewer/gcc", "reviewer/cppcheck"}},
                      {"rules", {"gcc:-Wformat-security", "cppcheck:wrongPrintfScanfArgNum"}},
                      {"reported", true}, {"kept_because", "consensus: 2 reviewers agree"}});
  reported.push_back({{"file", "src/a.c"}, {"line", 3}, {"rule", "nullPointer"}, {"category", "null-deref"},
                      {"severity", "medium"}, {"message", "p may be null"}, {"evidence", "*p = 1;"}, {"cwe", 0},
                      {"found_by", {"reviewer/cppcheck"}}, {"rules", {"cppcheck:nullPointer"}},
                      {"reported", true}, {"kept_because", "trusted alone: cppcheck nullPointer"}});
  reported.push_back({{"file", "src/b.c"}, {"line", 7}, {"rule", "leak"}, {"category", "resource-leak"},
                      {"severity", "low"}, {"message", "f leaks"}, {"evidence", ""},
                      {"found_by", {"reviewer/gcc"}}, {"rules", {"gcc:leak"}}, {"reported", true},
                      {"judge", "a real leak"}, {"kept_because", "the judge kept it"}});
  json unconfirmed = json::array();
  unconfirmed.push_back({{"file", "src/c.c"}, {"line", 5}, {"rule", "strcpy"}, {"category", "dangerous-function"},
                         {"severity", "low"}, {"message", "strcpy <b>unbounded</b>"}, {"evidence", "strcpy(d, s);"},
                         {"cwe", 120}, {"found_by", {"reviewer/flawfinder"}}, {"rules", {"flawfinder:strcpy"}},
                         {"reported", false}, {"kept_because", "only lexical evidence (a function's name)"}});
  return {{"target", "src"},
          {"files", 3},
          {"reviewers", {"reviewer/gcc", "reviewer/cppcheck"}},
          {"skipped", {{{"reviewer", "reviewer/clang-tidy"}, {"why", "clang-tidy is not installed"}}}},
          {"not_analysed", {{{"reviewer", "reviewer/gcc"}, {"file", "src/<odd>.c"}, {"reason", "timed out after 120 s"}}}},
          {"min_agree", 2},
          {"findings", reported},
          {"unconfirmed", unconfirmed}};
}

std::string render_board(const bb::blackboard& board, const std::string& run = "review") {
  cli::report_input in;
  in.board = &board;
  in.run_id = run;
  auto html = cli::render_html_report(in);
  if (!html) FAIL("render failed: " << bb::to_string(html.error()));
  return *html;
}

std::string stat_html(const std::string& key, const std::string& label, int n) {
  return "data-stat=\"" + key + "\"><div class=\"k\">" + label + "</div><div class=\"v\">" + std::to_string(n) + "</div>";
}

}  // namespace

TEST_CASE("report of a review shows its findings before the timeline, escaped", "[cli][report][review]") {
  auto board = review_board(sample_review());
  const std::string html = render_board(*board);
  const auto section = html.find("<section id=\"review\"><h2>Review findings</h2>");
  REQUIRE(section != std::string::npos);
  REQUIRE(html.find("<section id=\"timeline\">") != std::string::npos);
  CHECK(section < html.find("<section id=\"timeline\">"));
  CHECK(html.find("<a href=\"#review\">Review findings</a>") != std::string::npos);
  CHECK(html.find("id=\"status\">settled</span>") != std::string::npos);

  // Summary counts.
  CHECK(html.find(stat_html("reported", "Reported", 3)) != std::string::npos);
  CHECK(html.find(stat_html("high", "High", 1)) != std::string::npos);
  CHECK(html.find(stat_html("medium", "Medium", 1)) != std::string::npos);
  CHECK(html.find(stat_html("low", "Low", 1)) != std::string::npos);
  CHECK(html.find(stat_html("unconfirmed", "Unconfirmed", 1)) != std::string::npos);
  CHECK(html.find(stat_html("files", "Files", 3)) != std::string::npos);
  CHECK(html.find(stat_html("reviewers", "Reviewers", 2)) != std::string::npos);
  CHECK(html.find(stat_html("left-out", "Left out", 1)) != std::string::npos);
  CHECK(html.find(stat_html("not-analysed", "Not analysed", 1)) != std::string::npos);
  CHECK(html.find("or 2 reviewers agree") != std::string::npos);

  // By file (a.c, b.c; c.c among the unconfirmed), by line within a file.
  CHECK(count_of(html, "<h3 class=\"file\">") == 3);
  const auto a = html.find("<h3 class=\"file\">src/a.c <span class=\"muted\">(2)</span></h3>");
  REQUIRE(a != std::string::npos);
  const auto line3 = html.find("<span class=\"line\">line 3</span>");
  const auto line12 = html.find("<span class=\"line\">line 12</span>");
  REQUIRE(line3 != std::string::npos);
  REQUIRE(line12 != std::string::npos);
  CHECK(a < line3);
  CHECK(line3 < line12);
  CHECK(line12 < html.find("<h3 class=\"file\">src/b.c"));
  CHECK(count_of(html, "<div class=\"finding high\" data-severity=\"high\">") == 1);
  CHECK(html.find("<span class=\"line\">line 12</span><span class=\"sev high\">high</span>"
                  "<span class=\"chip\" title=\"kind\">format-string</span>") != std::string::npos);
  CHECK(html.find("<span class=\"muted\">found by</span><span class=\"chip\" title=\"reviewer/gcc\">gcc</span>"
                  "<span class=\"chip\" title=\"reviewer/cppcheck\">cppcheck</span>") != std::string::npos);
  CHECK(html.find("gcc:-Wformat-security, cppcheck:wrongPrintfScanfArgNum") != std::string::npos);
  CHECK(html.find("kept because: consensus: 2 reviewers agree") != std::string::npos);
  CHECK(html.find("<b>Judge:</b> a real leak") != std::string::npos);

  // The CWE as a link (none for cwe 0 or no cwe).
  CHECK(html.find("<a class=\"cwe\" href=\"https://cwe.mitre.org/data/definitions/134.html\" "
                  "rel=\"noreferrer\">CWE-134</a>") != std::string::npos);
  CHECK(count_of(html, "https://cwe.mitre.org/data/definitions/") == 2);  // 134, and 120 (unconfirmed)
  CHECK(html.find("CWE-0") == std::string::npos);

  // Escaped: the message, the evidence, the file names.
  CHECK(html.find("<script>alert(1)</script>") == std::string::npos);
  CHECK(html.find("<p class=\"msg\">user text &lt;script&gt;alert(1)&lt;/script&gt; reaches printf</p>") !=
        std::string::npos);
  CHECK(html.find("<pre class=\"evidence\"><code>printf(buf); // a &lt; b &amp;&amp; c &gt; d</code></pre>") !=
        std::string::npos);
  CHECK(count_of(html, "<script") == 2);  // the page's own data block and code
  CHECK(html.find("<b>unbounded</b>") == std::string::npos);
  CHECK(html.find("src/<odd>") == std::string::npos);

  // The unconfirmed ones, collapsed.
  const auto det = html.find("<details class=\"unconfirmed\" id=\"review-unconfirmed\"><summary>1 unconfirmed finding(s)");
  REQUIRE(det != std::string::npos);
  CHECK(html.find("<details class=\"unconfirmed\" id=\"review-unconfirmed\" open") == std::string::npos);
  const auto det_end = html.find("</details>", det);
  const auto strcpy_at = html.find("<p class=\"msg\">strcpy &lt;b&gt;unbounded&lt;/b&gt;</p>");
  REQUIRE(strcpy_at != std::string::npos);
  CHECK(det < strcpy_at);
  CHECK(strcpy_at < det_end);
  CHECK(html.find("not kept: only lexical evidence (a function&#39;s name)") != std::string::npos);

  // Reviewers left out, files not analysed.
  CHECK(html.find("<tr class=\"skipped-row\"><td>reviewer/clang-tidy</td><td>clang-tidy is not installed</td></tr>") !=
        std::string::npos);
  CHECK(html.find("1 file check(s) were not done") != std::string::npos);
  CHECK(html.find("<tr class=\"unanalysed-row\"><td>reviewer/gcc</td><td class=\"answer\">src/&lt;odd&gt;.c</td>"
                  "<td>timed out after 120 s</td></tr>") != std::string::npos);
  CHECK(html.find("<section id=\"review\"") < html.find("<tr class=\"unanalysed-row\">"));
  CHECK(html.find("<tr class=\"unanalysed-row\">") < html.find("<section id=\"timeline\">"));
}

TEST_CASE("report of a review says so when every file was analysed and nothing was reported", "[cli][report][review]") {
  json rv = sample_review();
  rv["findings"] = json::array();
  rv["unconfirmed"] = json::array();
  rv["skipped"] = json::array();
  rv["not_analysed"] = json::array();
  auto board = review_board(rv);
  const std::string html = render_board(*board);
  CHECK(html.find("<section id=\"review\">") != std::string::npos);
  CHECK(html.find("No finding was reported.") != std::string::npos);
  CHECK(html.find("No unconfirmed finding.") != std::string::npos);
  CHECK(html.find("Every reviewer that ran analysed every file.") != std::string::npos);
  CHECK(html.find("id=\"review-unconfirmed\"") == std::string::npos);
  CHECK(html.find("unanalysed-row") == std::string::npos);
  CHECK(html.find("skipped-row") == std::string::npos);
  CHECK(html.find(stat_html("not-analysed", "Not analysed", 0)) != std::string::npos);
}

TEST_CASE("report of a review record of another shape renders what it can", "[cli][report][review]") {
  // Wrong types everywhere: nothing throws, nothing unescaped, no made-up link.
  json rv = {{"target", 7},
             {"files", "many"},
             {"findings", json::array({json{{"file", "<f>"}, {"line", "x"}, {"severity", "<b>"}, {"cwe", "79"},
                                            {"found_by", "reviewer/gcc"}, {"message", json::array({1, 2})}},
                                       3})},
             {"not_analysed", "none"}};
  auto board = review_board(rv);
  const std::string html = render_board(*board);
  CHECK(html.find("<section id=\"review\">") != std::string::npos);
  CHECK(html.find("cwe.mitre.org") == std::string::npos);
  CHECK(html.find("<div class=\"finding other\" data-severity=\"other\">") != std::string::npos);
  CHECK(html.find("<span class=\"sev other\">&lt;b&gt;</span>") != std::string::npos);
  CHECK(html.find("<h3 class=\"file\">&lt;f&gt;") != std::string::npos);
  CHECK(html.find("The review&#39;s record does not say which files were analysed.") != std::string::npos);
  CHECK(html.find(stat_html("reported", "Reported", 2)) != std::string::npos);
}

TEST_CASE("report of a run without a review record has no findings section", "[cli][report][review]") {
  auto board = review_board(json());
  const std::string html = render_board(*board);
  CHECK(html.find("id=\"review\"") == std::string::npos);
  CHECK(html.find("Review findings") == std::string::npos);
  CHECK(html.find("cwe.mitre.org") == std::string::npos);
  CHECK(html.find("<section id=\"timeline\">") != std::string::npos);
  CHECK(html.find("id=\"status\">settled</span>") != std::string::npos);
}

TEST_CASE("agora review --report: the review settles, and its page shows the findings", "[cli][report][review][chromium]") {
  REQUIRE(cli::program_exists("chromium"));
  const auto sample = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "examples" / "review-sample";
  REQUIRE(std::filesystem::is_directory(sample));
  temp_dir d;
  const std::string page = d / "review.html";
  auto r = run_agora({"review", sample.string(), "--data", d / "data", "--report", page, "--quiet", "--fail-on", "never"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(page);
  // One round whose merge is the answer: settled, not a fallback.
  CHECK(html.find("id=\"status\">settled</span>") != std::string::npos);
  CHECK(html.find("fallback best_so_far chose") == std::string::npos);
  CHECK(html.find("<section id=\"review\"><h2>Review findings</h2>") != std::string::npos);
  CHECK(html.find("<div class=\"finding high\"") != std::string::npos);
  CHECK(html.find("https://cwe.mitre.org/data/definitions/") != std::string::npos);
  CHECK(html.find("id=\"review-unconfirmed\"") != std::string::npos);
  // The code around each finding, its line marked: src/stats.cpp:19 (sum
  // updated before it is set) with three lines on each side.
  const auto at = html.find("<span class=\"hl\"><span class=\"ln\">19</span>");
  REQUIRE(at != std::string::npos);
  CHECK(html.find("sum", at) < html.find("</span>\n", at + 40));
  const auto block = html.rfind("<pre class=\"code\">", at);
  REQUIRE(block != std::string::npos);
  CHECK(html.find("<span class=\"ln\">16</span>", block) < at);
  CHECK(html.find("<span class=\"ln\">22</span>", at) < html.find("</pre>", at));

  cli::process_request rq;
  rq.argv = {"chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--user-data-dir=" + d / "chromium-profile", "--virtual-time-budget=5000", "--dump-dom",
             "file://" + page};
  rq.timeout = std::chrono::seconds(90);
  auto res = cli::run_process(rq);
  REQUIRE(res);
  REQUIRE_FALSE(res->timed_out);
  CHECK(res->out.find("data-render=\"ok\"") != std::string::npos);
  CHECK(res->out.find("<section id=\"review\">") != std::string::npos);
}
