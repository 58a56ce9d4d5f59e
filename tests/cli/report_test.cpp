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
