// agora review: the tools' parsers (on output captured from cppcheck 2.10
// and clang-tidy 14), the consensus, SARIF, the findings contract on the
// blackboard, the LLM judge (a recorded replay), and end-to-end runs of the
// `agora` binary on examples/review-sample.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <fstream>
#include <sstream>

#include <agora/agora.hpp>

#include "process.hpp"
#include "review/review.hpp"
#include "review/review_run.hpp"
#include "support/temp_dir.hpp"

using namespace agora;
using namespace agora::cli;
using namespace agora::cli::review;
namespace fs = std::filesystem;

namespace {

// A source tree whose files exist only in memory (the parsers need the paths
// and lines, not the files).
source_tree fake_tree() {
  source_tree t;
  t.root = "/work/sample";
  t.target = "sample";
  source_file c{"src/config_loader.c", {}};
  for (int i = 1; i <= 35; ++i) c.lines.push_back("line " + std::to_string(i));
  source_file s{"src/stats.cpp", {}};
  for (int i = 1; i <= 45; ++i) s.lines.push_back("line " + std::to_string(i));
  t.files = {c, s};
  return t;
}

// cppcheck 2.10 --xml on src/config_loader.c and src/stats.cpp of the sample.
const char* cppcheck_xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<results version="2">
    <cppcheck version="2.10"/>
    <errors>
        <error id="resourceLeak" severity="error" msg="Resource leak: f" verbose="Resource leak: f" cwe="775" file0="src/config_loader.c">
            <location file="src/config_loader.c" line="25" column="5"/>
            <symbol>f</symbol>
        </error>
        <error id="nullPointerRedundantCheck" severity="warning" msg="Either the condition &apos;s==nullptr&apos; is redundant or there is possible null pointer dereference: s." verbose="Either the condition &apos;s==nullptr&apos; is redundant or there is possible null pointer dereference: s." cwe="476" file0="src/stats.cpp">
            <location file="src/stats.cpp" line="26" column="31" info="Null pointer dereference"/>
            <location file="src/stats.cpp" line="27" column="9" info="Assuming that condition &apos;s==nullptr&apos; is not redundant"/>
            <symbol>s</symbol>
        </error>
        <error id="useStlAlgorithm" severity="style" msg="Consider using std::accumulate algorithm instead of a raw loop." verbose="Consider using std::accumulate algorithm instead of a raw loop." cwe="398" file0="src/stats.cpp">
            <location file="src/stats.cpp" line="19" column="9"/>
        </error>
        <error id="legacyUninitvar" severity="error" msg="Uninitialized variable: sum" verbose="Uninitialized variable: sum" cwe="457" file0="src/stats.cpp">
            <location file="src/stats.cpp" line="19" column="5"/>
            <symbol>sum</symbol>
        </error>
        <error id="missingInclude" severity="information" msg="Include file not found" verbose="x"/>
        <error id="unusedFunction" severity="style" msg="elsewhere" verbose="x">
            <location file="/usr/include/stdio.h" line="3" column="1"/>
        </error>
    </errors>
</results>
)";

// clang-tidy 14 on the sample's src/config_loader.c and src/stats.cpp (notes and code lines included).
const char* clang_tidy_text =
    "/work/sample/src/config_loader.c:13:3: warning: Call to function 'strcpy' is insecure as it does not "
    "provide bounding of the memory buffer. Replace unbounded copy functions with analogous functions that "
    "support length arguments such as 'strlcpy'. CWE-119 [clang-analyzer-security.insecureAPI.strcpy]\n"
    "  strcpy(user, name);\n"
    "  ^~~~~~\n"
    "/work/sample/src/config_loader.c:13:3: note: Call to function 'strcpy' is insecure as it does not "
    "provide bounding of the memory buffer. CWE-119\n"
    "/work/sample/src/stats.cpp:19:9: warning: The left expression of the compound assignment is an "
    "uninitialized value. The computed value will also be garbage [clang-analyzer-core.uninitialized.Assign]\n"
    "    sum += s.value;\n"
    "    ~~~ ^\n"
    "/work/sample/src/stats.cpp:17:3: note: 'sum' declared without an initial value\n"
    "/work/sample/src/stats.cpp:21:38: warning: The left operand of '/' is a garbage value "
    "[clang-analyzer-core.UndefinedBinaryOperatorResult]\n"
    "/usr/include/stdio.h:10:1: warning: outside the tree [bugprone-reserved-identifier]\n"
    "1724 warnings generated.\n";

finding f(std::string file, int line, std::string category, std::string severity, std::string evidence = "code") {
  finding x;
  x.file = std::move(file);
  x.line = line;
  x.rule = "r-" + category;
  x.category = std::move(category);
  x.severity = std::move(severity);
  x.message = "m";
  x.evidence = std::move(evidence);
  return x;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-review") {}
};

// Runs the agora binary; `env` entries ("NAME=value") replace the caller's
// (through env(1): process_request::env adds entries after the caller's, so
// a second PATH would not win).
bb::result<process_result> run_agora(std::vector<std::string> args, std::vector<std::string> env = {}) {
  process_request rq;
  rq.argv = {"/usr/bin/env"};
  rq.argv.insert(rq.argv.end(), env.begin(), env.end());
  rq.argv.push_back(AGORA_BIN);
  rq.argv.insert(rq.argv.end(), args.begin(), args.end());
  rq.timeout = std::chrono::seconds(120);
  return run_process(rq);
}

json expected_defects() {
  auto j = json::parse(slurp(std::string(AGORA_REVIEW_SAMPLE) + "/EXPECTED.json"), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

bool has_finding(const json& list, const json& defect) {
  for (const auto& x : list)
    if (x.at("file") == defect.at("file") && x.at("category") == defect.at("category") &&
        std::abs(x.at("line").get<int>() - defect.at("line").get<int>()) <= 1)
      return true;
  return false;
}

}  // namespace

// --- Parsers -------------------------------------------------------------------

TEST_CASE("review parse_cppcheck_xml reads cppcheck 2.10 output into findings", "[cli][review]") {
  auto tree = fake_tree();
  auto found = parse_cppcheck_xml(cppcheck_xml, tree);
  REQUIRE(found);
  REQUIRE(found->size() == 4);  // missingInclude and the file outside the tree are dropped
  const auto& leak = (*found)[0];
  CHECK(leak.file == "src/config_loader.c");
  CHECK(leak.line == 25);
  CHECK(leak.rule == "resourceLeak");
  CHECK(leak.category == "resource-leak");
  CHECK(leak.evidence == "line 25");
  const auto& null = (*found)[1];
  CHECK(null.line == 26);  // the first location is the defect
  CHECK(null.category == "null-deref");
  CHECK(null.severity == "high");
  CHECK(null.message.find("'s==nullptr'") != std::string::npos);  // entities decoded
  CHECK((*found)[2].category == "style");
  CHECK((*found)[2].severity == "low");
  CHECK((*found)[3].category == "uninitialized");
}

TEST_CASE("review parse_cppcheck_xml refuses text without results", "[cli][review]") {
  auto tree = fake_tree();
  auto found = parse_cppcheck_xml("cppcheck: error: unrecognized command line option", tree);
  REQUIRE_FALSE(found);
  CHECK(found.error().message.find("<results>") != std::string::npos);
}

TEST_CASE("review parse_clang_tidy reads warning lines and skips notes", "[cli][review]") {
  auto tree = fake_tree();
  auto found = parse_clang_tidy(clang_tidy_text, tree);
  REQUIRE(found.size() == 3);
  CHECK(found[0].file == "src/config_loader.c");
  CHECK(found[0].line == 13);
  CHECK(found[0].rule == "clang-analyzer-security.insecureAPI.strcpy");
  CHECK(found[0].category == "buffer-overflow");
  CHECK(found[0].severity == "high");
  CHECK(found[0].message.rfind("Call to function 'strcpy'", 0) == 0);
  CHECK(found[1].line == 19);
  CHECK(found[1].category == "uninitialized");
  CHECK(found[2].line == 21);
  CHECK(found[2].category == "uninitialized");
}

TEST_CASE("review lookup_rule maps tool rules to a CWE, a family and a trust", "[cli][review]") {
  auto df = lookup_rule("gcc", "-Wanalyzer-double-free", "double-'free' of 'data'");
  CHECK(df.cwe == 415);
  CHECK(df.family == "use-after-free");
  CHECK(df.trust == trust::alone);
  CHECK_FALSE(df.why.empty());
  CHECK(lookup_rule("cppcheck", "memleak", "").family == "resource-leak");
  CHECK(lookup_rule("cppcheck", "memleak", "").trust == trust::weak);
  CHECK(lookup_rule("cppcheck", "nullPointer", "").cwe == 476);
  CHECK(lookup_rule("cppcheck", "somethingNew", "").trust == trust::never);
  CHECK(lookup_rule("clang-tidy", "cert-env33-c", "").trust == trust::lexical);
  CHECK(lookup_rule("clang-tidy", "clang-analyzer-unix.Malloc", "Potential leak of memory").family ==
        "resource-leak");
  CHECK(lookup_rule("clang-tidy", "clang-analyzer-unix.Malloc", "Use of memory after it is freed").family ==
        "use-after-free");
  CHECK(lookup_rule("clang-tidy", "clang-analyzer-deadcode.DeadStores", "").trust == trust::never);
  CHECK(lookup_rule("flawfinder", "strcpy", "").trust == trust::lexical);
  CHECK(lookup_rule("flawfinder", "gets", "").cwe == 242);
  // gets from two tools is one defect: the same family.
  CHECK(lookup_rule("cppcheck", "getsCalled", "").family == lookup_rule("security", "security/dangerous-function", "").family);
  // A reviewer without a table (an LLM) needs another reviewer.
  CHECK(lookup_rule("llm", "anything", "").trust == trust::corroborate);
  CHECK(cwe_family(122) == "buffer-overflow");
  CHECK(cwe_family(690) == "null-deref");
  CHECK(cwe_family(1) == "");
  CHECK(rules_table().size() > 50);
}

// --- Consensus -------------------------------------------------------------------

TEST_CASE("review merge_findings merges duplicates across reviewers", "[cli][review]") {
  auto merged = merge_findings({{"reviewer/a", {f("x.c", 10, "resource-leak", "medium")}},
                                {"reviewer/b", {f("x.c", 11, "resource-leak", "medium")}},
                                {"reviewer/c", {f("x.c", 10, "buffer-overflow", "medium"),
                                                f("x.c", 14, "resource-leak", "low")}}},
                               consensus_options{2, 2});
  REQUIRE(merged.size() == 3);
  CHECK(merged[0].line == 10);
  // Sorted by line; the two lines-apart leak reports are one finding.
  bool leak_found = false;
  for (const auto& m : merged) {
    if (m.category == "resource-leak" && m.line == 10) {
      leak_found = true;
      CHECK(m.found_by == std::vector<std::string>{"reviewer/a", "reviewer/b"});
      CHECK(m.reported);
    }
  }
  CHECK(leak_found);
  CHECK_FALSE(merged[2].reported);  // x.c:14 low, one reviewer
  CHECK(merged[2].line == 14);
}

TEST_CASE("review merge_findings does not depend on the order reviewers come in", "[cli][review]") {
  auto a = f("x.c", 7, "bug", "medium");
  a.message = "from a";
  auto b = f("x.c", 7, "bug", "medium");
  b.message = "from b";
  auto ab = merge_findings({{"reviewer/a", {a}}, {"reviewer/b", {b}}}, consensus_options{});
  auto ba = merge_findings({{"reviewer/b", {b}}, {"reviewer/a", {a}}}, consensus_options{});
  REQUIRE(ab.size() == 1);
  REQUIRE(ba.size() == 1);
  CHECK(ab[0].message == ba[0].message);
  CHECK(ab[0].found_by == ba[0].found_by);
  CHECK(ab[0].rules == ba[0].rules);
}

finding tool_says(std::string file, int line, const std::string& tool, std::string rule) {
  finding x;
  x.file = std::move(file);
  x.line = line;
  const auto info = lookup_rule(tool, rule, "");
  x.rule = std::move(rule);
  x.category = info.family;
  x.cwe = info.cwe;
  x.severity = "high";
  x.message = "m";
  x.evidence = "code";
  return x;
}

TEST_CASE("review consensus reports trusted rules alone and needs agreement, not only lexical, for the rest",
          "[cli][review]") {
  consensus_options two;
  two.min_agree = 2;
  // A path-sensitive rule precise on the development set stands alone, and says why.
  auto alone = merge_findings({{"reviewer/gcc", {tool_says("x.c", 4, "gcc", "-Wanalyzer-double-free")}}}, two);
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].reported);
  CHECK(alone[0].kept_because.find("trusted alone") != std::string::npos);
  // One reviewer whose rule needs corroboration is not enough, even at high severity.
  auto lone = merge_findings({{"reviewer/cppcheck", {tool_says("x.c", 4, "cppcheck", "nullPointer")}}}, two);
  CHECK_FALSE(lone.at(0).reported);
  // Two analyses agree on the defect: reported.
  auto agree = merge_findings({{"reviewer/cppcheck", {tool_says("x.c", 4, "cppcheck", "nullPointer")}},
                               {"reviewer/gcc", {tool_says("x.c", 5, "gcc", "-Wanalyzer-null-dereference")}}},
                              two);
  REQUIRE(agree.size() == 1);
  CHECK(agree[0].reported);
  CHECK(agree[0].kept_because.find("2 reviewers agree") != std::string::npos);
  CHECK(agree[0].rules.size() == 2);
  // Lexical patterns alone (a function's name, three times) are not evidence.
  auto lexical = merge_findings({{"reviewer/clang-tidy", {tool_says("x.c", 9, "clang-tidy", "clang-analyzer-security.insecureAPI.strcpy")}},
                                 {"reviewer/flawfinder", {tool_says("x.c", 9, "flawfinder", "strcpy")}},
                                 {"reviewer/security", {tool_says("x.c", 9, "security", "security/unbounded-copy")}}},
                                two);
  REQUIRE(lexical.size() == 1);
  CHECK_FALSE(lexical[0].reported);
  CHECK(lexical[0].kept_because.find("lexical") != std::string::npos);
  // ... but they corroborate an analysis of the same defect.
  auto corroborated = merge_findings({{"reviewer/flawfinder", {tool_says("x.c", 9, "flawfinder", "strcpy")}},
                                      {"reviewer/clang-tidy", {tool_says("x.c", 10, "clang-tidy", "clang-analyzer-alpha.security.ArrayBoundV2")}}},
                                     two);
  REQUIRE(corroborated.size() == 1);
  CHECK(corroborated[0].reported);
  // Style rules never make a finding, however many agree (a dead store
  // next to an unrelated style rule is not one defect).
  auto style = merge_findings({{"reviewer/clang-tidy", {tool_says("x.c", 3, "clang-tidy", "clang-analyzer-deadcode.DeadStores")}},
                               {"reviewer/cppcheck", {tool_says("x.c", 3, "cppcheck", "variableScope")}}},
                              two);
  REQUIRE(style.size() == 1);
  CHECK_FALSE(style[0].reported);
  // Different defects on one line stay apart.
  auto apart = merge_findings({{"reviewer/cppcheck", {tool_says("x.c", 4, "cppcheck", "nullPointer")}},
                               {"reviewer/gcc", {tool_says("x.c", 4, "gcc", "-Wanalyzer-malloc-leak")}}},
                              two);
  CHECK(apart.size() == 2);
  // The same reviewer twice is one voice; min_agree 3 needs three.
  CHECK_FALSE(merge_findings({{"reviewer/a", {f("x.c", 1, "bug", "low"), f("x.c", 2, "bug", "low")}}}, two)
                  .at(0)
                  .reported);
  consensus_options three;
  three.min_agree = 3;
  auto two_of_three = merge_findings({{"reviewer/a", {f("x.c", 5, "bug", "low")}},
                                      {"reviewer/b", {f("x.c", 5, "bug", "low")}}},
                                     three);
  REQUIRE(two_of_three.size() == 1);
  CHECK_FALSE(two_of_three[0].reported);
}

TEST_CASE("review apply_verdicts keeps what the judge keeps, with its reason", "[cli][review]") {
  std::vector<finding> fs = {f("a.c", 1, "bug", "low"), f("a.c", 9, "bug", "medium"), f("b.c", 3, "style", "low")};
  json answer = {{"verdicts",
                  {{{"id", 0}, {"verdict", "drop"}, {"reason", "noise"}},
                   {{"id", 1}, {"verdict", "keep"}, {"reason", "real off-by-one"}},
                   {{"id", 7}, {"verdict", "keep"}, {"reason", "no such candidate"}}}}};
  CHECK(apply_verdicts(fs, {0, 2}, answer) == 1);
  CHECK_FALSE(fs[0].reported);
  CHECK(fs[0].judge == "dropped: noise");
  CHECK_FALSE(fs[1].reported);  // not a candidate
  CHECK(fs[2].reported);
  CHECK(fs[2].judge == "real off-by-one");
}

// --- Built-in reviewers and the tree --------------------------------------------

TEST_CASE("review built-in reviewers find the sample's defects and nothing in the clean file", "[cli][review]") {
  auto tree = load_source_tree(AGORA_REVIEW_SAMPLE);
  REQUIRE(tree);
  auto sec = review_security(*tree);
  auto cx = review_complexity(*tree);
  auto at = [](const std::vector<finding>& v, const std::string& file, int line, const std::string& cat) {
    for (const auto& x : v)
      if (x.file == file && x.line == line && x.category == cat && !x.evidence.empty()) return true;
    return false;
  };
  CHECK(at(sec, "src/config_loader.c", 13, "buffer-overflow"));
  CHECK(at(sec, "src/net_util.c", 11, "command-injection"));
  CHECK(at(cx, "src/dispatch.cpp", 17, "complexity"));
  CHECK(sec.size() == 2);
  CHECK(cx.size() == 1);
}

TEST_CASE("review security reviewer tells real calls from look-alikes", "[cli][review]") {
  temp_dir d;
  std::ofstream(d.path / "calls.cpp") << R"src(#include <cstdlib>
void f(const char* cmd, int x, Runtime* rt) {
  system("ls -l");            // a fixed command
  rt->system();               // a member
  caf::system(cmd);           // another namespace's
  std::system(cmd);           // line 6: yes
  char b[4];
  sprintf(b, "%d", x);        // line 8: yes
  // strcpy(b, cmd); in a comment
  const char* s = "gets(b)";  // in a string
}
struct T { caf::actor_system& system(); };
)src";
  std::ofstream(d.path / "input.c") << R"src(#include <stdio.h>
void read_line(char* buf) {
  gets(buf);
}
)src";
  auto tree = load_source_tree(d.path.string());
  REQUIRE(tree);
  auto all_sec = review_security(*tree);
  std::vector<finding> sec;
  for (const auto& x : all_sec)
    if (x.file == "calls.cpp") sec.push_back(x);
  REQUIRE(sec.size() == 2);
  CHECK(sec[0].line == 6);
  CHECK(sec[0].category == "command-injection");
  CHECK(sec[1].line == 8);
  CHECK(sec[1].category == "buffer-overflow");
  auto gets_found = review_security(*tree);
  bool dangerous = false;
  for (const auto& x : gets_found)
    dangerous = dangerous || (x.file == "input.c" && x.line == 3 && x.category == "dangerous-function" && x.cwe == 242);
  CHECK(dangerous);
}

TEST_CASE("review complexity reviewer reads no function into preprocessor lines", "[cli][review]") {
  temp_dir d;
  std::ofstream(d.path / "pragma.c") << "#pragma comment(lib, \"ws2_32\")\n"
                                        "#define CHECK(x) \\\n"
                                        "  do { if (x) { f(); } } while (0)\n"
                                        "int simple(int a) {\n"
                                        "  if (a && a > 1 && a < 9 && a != 4 && a != 5 && a != 6 && a != 7 && a != 8 && a != 3 && a != 2) return 1;\n"
                                        "  return 0;\n"
                                        "}\n";
  auto tree = load_source_tree(d.path.string());
  REQUIRE(tree);
  auto cx = review_complexity(*tree);
  REQUIRE(cx.size() == 1);
  CHECK(cx[0].line == 4);
  CHECK(cx[0].message.find("'simple'") != std::string::npos);
}

TEST_CASE("review load_source_tree walks C and C++ files and skips hidden and build directories", "[cli][review]") {
  temp_dir d;
  fs::create_directories(d.path / "src");
  fs::create_directories(d.path / "build");
  fs::create_directories(d.path / ".git");
  for (const char* p : {"src/a.c", "src/b.hpp", "build/gen.cpp", ".git/x.c", "notes.txt"}) std::ofstream(d.path / p) << "int x;\n";
  auto tree = load_source_tree(d.path.string());
  REQUIRE(tree);
  REQUIRE(tree->files.size() == 2);
  CHECK(tree->files[0].path == "src/a.c");
  CHECK(tree->files[1].path == "src/b.hpp");
  auto one = load_source_tree((d.path / "src/a.c").string());
  REQUIRE(one);
  REQUIRE(one->files.size() == 1);
  CHECK(one->files[0].path == "a.c");
  auto missing = load_source_tree((d.path / "nope").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find((d.path / "nope").string()) != std::string::npos);
}

// --- SARIF -------------------------------------------------------------------------

namespace {

review_report sarif_sample() {
  review_report r;
  r.target = "sample";
  r.root = "/work/my repo/sample";
  r.uri_base = "/work/my repo";
  r.reviewers = {"reviewer/cppcheck", "reviewer/gcc", "reviewer/clang-tidy", "reviewer/flawfinder"};
  r.findings = merge_findings(
      {{"reviewer/gcc", {tool_says("src/x.c", 4, "gcc", "-Wanalyzer-double-free"),
                         tool_says("src/y.c", 2, "gcc", "-Wanalyzer-null-dereference")}},
       {"reviewer/cppcheck", {tool_says("src/y.c", 2, "cppcheck", "nullPointer")}},
       {"reviewer/clang-tidy", {tool_says("src/y.c", 3, "clang-tidy", "clang-analyzer-core.NullDereference")}},
       {"reviewer/flawfinder", {tool_says("src/z.c", 9, "flawfinder", "strcpy")}}},
      consensus_options{});
  r.unanalysed = {{"reviewer/gcc", "src/broken.c", "does not compile: error: expected ';'"}};
  r.skipped = {{"reviewer/llm", "the endpoint did not answer"}};
  return r;
}

std::map<std::string, json> results_by_file(const json& run) {
  std::map<std::string, json> by;
  for (const auto& res : run.at("results"))
    by[res.at("locations").at(0).at("physicalLocation").at("artifactLocation").at("uri")] = res;
  return by;
}

}  // namespace

TEST_CASE("review to_sarif writes the fields code scanning reads", "[cli][review]") {
  const review_report r = sarif_sample();
  auto sarif = json::parse(to_sarif(r).dump(), nullptr, false);  // parse it back
  REQUIRE_FALSE(sarif.is_discarded());
  CHECK(sarif.at("version") == "2.1.0");
  const auto& run = sarif.at("runs").at(0);
  CHECK(run.at("tool").at("driver").at("name") == "agora-review");
  CHECK_FALSE(run.at("tool").at("driver").contains("informationUri"));  // none we could honestly give
  // Paths are relative to SRCROOT, the working directory holding the tree.
  CHECK(run.at("originalUriBaseIds").at("SRCROOT").at("uri") == "file:///work/my%20repo/");
  const auto by = results_by_file(run);
  REQUIRE(by.size() == 2);  // the lone flawfinder name match is not reported
  REQUIRE(by.count("sample/src/x.c"));
  REQUIRE(by.count("sample/src/y.c"));
  const json& x = by.at("sample/src/x.c");
  CHECK(x.at("level") == "error");  // high
  CHECK(x.at("ruleId") == "use-after-free/CWE-415");
  CHECK(x.at("locations").at(0).at("physicalLocation").at("artifactLocation").at("uriBaseId") == "SRCROOT");
  CHECK(x.at("message").at("text").get<std::string>().find("trusted alone") != std::string::npos);
  const json& y = by.at("sample/src/y.c");
  CHECK(y.at("properties").at("found_by").size() == 3);
  CHECK(y.at("properties").at("rules").size() == 3);
  // Rules: one per kind and CWE, tagged as GitHub reads them.
  const auto& rules = run.at("tool").at("driver").at("rules");
  for (const auto& res : run.at("results")) {
    const auto& rule = rules.at(res.at("ruleIndex").get<std::size_t>());
    CHECK(rule.at("id") == res.at("ruleId"));
    const auto tags = rule.at("properties").at("tags");
    CHECK(std::find(tags.begin(), tags.end(), "security") != tags.end());
    const std::string cwe_tag = "external/cwe/cwe-" + std::to_string(res.at("properties").at("cwe").get<int>());
    CHECK(std::find(tags.begin(), tags.end(), cwe_tag) != tags.end());
    const double sev = std::stod(rule.at("properties").at("security-severity").get<std::string>());
    CHECK(sev >= 0.1);
    CHECK(sev <= 10.0);
    CHECK(rule.at("helpUri").get<std::string>().rfind("https://cwe.mitre.org/data/definitions/", 0) == 0);
  }
  // What was not analysed and who was left out: the run was not complete.
  const auto& inv = run.at("invocations").at(0);
  CHECK(inv.at("executionSuccessful") == false);
  const auto& notes = inv.at("toolExecutionNotifications");
  REQUIRE(notes.size() == 2);
  bool named_file = false;
  for (const auto& n : notes)
    named_file = named_file || n.at("message").at("text").get<std::string>().find("src/broken.c") != std::string::npos;
  CHECK(named_file);
  // --all adds the unconfirmed ones, at level none.
  const auto with_all = results_by_file(to_sarif(r, true).at("runs").at(0));
  REQUIRE(with_all.count("sample/src/z.c"));
  CHECK(with_all.at("sample/src/z.c").at("level") == "none");
}

TEST_CASE("review to_sarif fingerprints do not move with the line", "[cli][review]") {
  review_report a = sarif_sample();
  review_report b = sarif_sample();
  for (auto& fi : b.findings) fi.line += 7;  // code inserted above
  const auto fa = results_by_file(to_sarif(a).at("runs").at(0));
  const auto fb = results_by_file(to_sarif(b).at("runs").at(0));
  for (const auto& [file, res] : fa) {
    CHECK(res.at("partialFingerprints") == fb.at(file).at("partialFingerprints"));
    CHECK(res.at("partialFingerprints").at("agoraFinding/v1").get<std::string>().size() == 16);
  }
  // Two results on the same code line of the same file and rule stay apart.
  review_report c = sarif_sample();
  c.findings.push_back(c.findings.front());
  c.findings.back().line += 20;
  std::set<std::string> prints;
  const json sc = to_sarif(c);
  for (const auto& res : sc.at("runs").at(0).at("results"))
    prints.insert(res.at("partialFingerprints").at("agoraFinding/v1").get<std::string>());
  CHECK(prints.size() == 3);
}

TEST_CASE("review to_sarif validates against the official SARIF 2.1.0 schema", "[cli][review]") {
  // The schema is the OASIS one, kept beside the repository (not copied in).
  REQUIRE(std::filesystem::exists(AGORA_SARIF_SCHEMA));
  temp_dir d;
  for (bool all : {false, true}) {
    const auto path = d.path / (all ? "all.sarif" : "reported.sarif");
    {
      std::ofstream out(path);
      out << to_sarif(sarif_sample(), all).dump(2);
    }
    process_request rq;
    rq.argv = {"python3", "-c",
               "import json,sys,jsonschema\n"
               "schema=json.load(open(sys.argv[1]))\n"
               "doc=json.load(open(sys.argv[2]))\n"
               "errs=sorted(jsonschema.Draft7Validator(schema).iter_errors(doc),key=str)\n"
               "[print(e.message, list(e.path)) for e in errs]\n"
               "sys.exit(1 if errs else 0)\n",
               AGORA_SARIF_SCHEMA, path.string()};
    auto v = run_process(rq);
    REQUIRE(v);
    INFO(v->out << v->err);
    CHECK(v->exit_code == 0);
  }
}

// --- The contract on the blackboard ---------------------------------------------

TEST_CASE("review findings contract refuses a reviewer's malformed finding", "[cli][review]") {
  SECTION("a promotion at an answer key is rejected naming the field") {
    bb::blackboard board;
    REQUIRE(install_findings_contract(board));
    auto sp = board.begin("reviewer/bad");
    json bad = json::array({to_json(f("x.c", 3, "bug", "medium"))});
    bad[0]["line"] = 0;
    REQUIRE(sp.put("runs/review/answers/1/reviewer/bad", bad));
    auto c = board.promote(sp);
    REQUIRE_FALSE(c);
    CHECK(c.error().code == bb::errc::contract_violation);
    CHECK(c.error().path == "/0/line");
  }
  SECTION("in a review, the bad reviewer is left out with the reason and the others count") {
    auto tree = load_source_tree(AGORA_REVIEW_SAMPLE);
    REQUIRE(tree);
    review_plan plan;
    plan.tree = std::make_shared<const source_tree>(*tree);
    plan.reviewers = {"security", "complexity"};
    plan.extra.push_back({"bad", contributor([](const swarm_turn&) -> bb::result<json> {
                            return json::array({{{"file", "src/net_util.c"},
                                                 {"line", 11},
                                                 {"rule", "x"},
                                                 {"category", "command-injection"},
                                                 {"severity", "critical"},  // not low|medium|high
                                                 {"message", "m"},
                                                 {"evidence", "e"}}});
                          })});
    auto done = run_review(plan);
    REQUIRE(done);
    const auto& r = done->report;
    CHECK(r.reviewers == std::vector<std::string>{"reviewer/security", "reviewer/complexity"});
    REQUIRE(r.skipped.size() == 1);
    CHECK(r.skipped[0].reviewer == "reviewer/bad");
    INFO(r.skipped[0].why);
    CHECK(r.skipped[0].why.find("contract_violation") != std::string::npos);
    CHECK(r.skipped[0].why.find("/0/severity") != std::string::npos);
    CHECK(r.findings.size() == 3);
  }
}

TEST_CASE("review run_review stops when cancelled and says so", "[cli][review]") {
  auto tree = load_source_tree(AGORA_REVIEW_SAMPLE);
  REQUIRE(tree);
  review_plan plan;
  plan.tree = std::make_shared<const source_tree>(*tree);
  plan.cancelled = [] { return true; };  // as after SIGINT
  auto done = run_review(plan);
  REQUIRE_FALSE(done);
  CHECK(done.error().message == "interrupted");
}

// --- End to end: the `agora` binary on the sample ---------------------------------

TEST_CASE("agora review reports every known defect of the sample and nothing in the clean file", "[cli][review][e2e]") {
  temp_dir d;
  const auto sarif = (d.path / "review.sarif").string();
  const auto out_json = (d.path / "review.json").string();
  const auto md = (d.path / "review.md").string();
  auto r = run_agora({"review", AGORA_REVIEW_SAMPLE, "--sarif", sarif, "--json", out_json, "--markdown", md});
  REQUIRE(r);
  INFO(r->out << r->err);
  CHECK(r->exit_code == 1);  // --fail-on high by default, and there are high findings
  auto j = json::parse(slurp(out_json), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j.at("reviewers").size() == 7);
  CHECK(j.at("skipped").empty());
  CHECK(j.at("not_analysed").empty());
  const auto expected = expected_defects();
  for (const auto& defect : expected.at("defects")) {
    INFO(defect.dump());
    // Every defect is found; those with an analysis's evidence are
    // reported, the lexical ones (a strcpy, a system() call) stay
    // unconfirmed until an analysis agrees.
    CHECK(has_finding(j.at(defect.value("reported", true) ? "findings" : "unconfirmed"), defect));
  }
  // The clean file: nothing reported, and no defect claimed even
  // unconfirmed (style remarks, such as a static buffer, may be listed).
  for (const auto& clean : expected.at("clean")) {
    for (const auto& x : j.at("findings")) CHECK(x.at("file") != clean);
    for (const auto& x : j.at("unconfirmed"))
      if (x.at("category") != "style") CHECK(x.at("file") != clean);
  }
  // SARIF: the same findings, locations relative to PATH.
  auto s = json::parse(slurp(sarif), nullptr, false);
  REQUIRE_FALSE(s.is_discarded());
  CHECK(s.at("version") == "2.1.0");
  // SRCROOT + uri names the file, whatever directory agora ran in.
  std::string srcroot = s.at("runs").at(0).at("originalUriBaseIds").at("SRCROOT").at("uri");
  REQUIRE(srcroot.rfind("file://", 0) == 0);
  srcroot = srcroot.substr(7);
  const std::string sample_root = fs::canonical(AGORA_REVIEW_SAMPLE).string() + "/";
  json located = json::array();
  for (const auto& res : s.at("runs").at(0).at("results")) {
    std::string uri = srcroot + res.at("locations").at(0).at("physicalLocation").at("artifactLocation").at("uri").get<std::string>();
    REQUIRE(uri.rfind(sample_root, 0) == 0);
    uri = uri.substr(sample_root.size());
    CHECK(res.at("level") != "none");  // unconfirmed ones only with --all
    const auto& loc = res.at("locations").at(0).at("physicalLocation");
    located.push_back({{"file", uri},
                       {"line", loc.at("region").at("startLine")},
                       {"category", res.at("properties").at("kind")}});
  }
  CHECK(s.at("runs").at(0).at("invocations").at(0).at("executionSuccessful") == true);
  for (const auto& defect : expected.at("defects"))
    if (defect.value("reported", true)) CHECK(has_finding(located, defect));
  // The terminal summary and the Markdown name them too.
  CHECK(r->out.find("src/config_loader.c:25") != std::string::npos);
  CHECK(slurp(md).find("`src/stats.cpp:26`") != std::string::npos);
}

TEST_CASE("agora review exits 0 with --fail-on never and names a missing PATH with exit 2", "[cli][review][e2e]") {
  auto never = run_agora({"review", AGORA_REVIEW_SAMPLE, "--fail-on", "never", "--quiet"});
  REQUIRE(never);
  CHECK(never->exit_code == 0);
  CHECK(never->out.empty());
  auto missing = run_agora({"review", "/no/such/tree"});
  REQUIRE(missing);
  CHECK(missing->exit_code == 2);
  CHECK(missing->err.find("/no/such/tree") != std::string::npos);
  auto bad = run_agora({"review", AGORA_REVIEW_SAMPLE, "--fail-on", "sometimes"});
  REQUIRE(bad);
  CHECK(bad->exit_code == 2);
  CHECK(bad->err.find("--fail-on") != std::string::npos);
}

TEST_CASE("agora review leaves out a reviewer whose tool is missing and says so", "[cli][review][e2e]") {
  temp_dir d;
  // A PATH with everything /usr/bin has but cppcheck.
  const fs::path bin = d.path / "bin";
  fs::create_directories(bin);
  for (const auto& e : fs::directory_iterator("/usr/bin"))
    if (e.path().filename() != "cppcheck") fs::create_symlink(e.path(), bin / e.path().filename());
  const auto out_json = (d.path / "review.json").string();
  auto r = run_agora({"review", AGORA_REVIEW_SAMPLE, "--json", out_json}, {"PATH=" + bin.string()});
  REQUIRE(r);
  INFO(r->out << r->err);
  CHECK((r->exit_code == 0 || r->exit_code == 1));
  CHECK(r->err.find("cppcheck is not installed") != std::string::npos);
  CHECK(r->out.find("left out reviewer/cppcheck") != std::string::npos);
  auto j = json::parse(slurp(out_json), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  REQUIRE(j.at("skipped").size() == 1);
  CHECK(j.at("skipped").at(0).at("reviewer") == "reviewer/cppcheck");
}

TEST_CASE("agora review --data keeps the run's blackboard and spans", "[cli][review][e2e]") {
  temp_dir d;
  auto r = run_agora({"review", AGORA_REVIEW_SAMPLE, "--data", d.path.string(), "--quiet", "--fail-on", "never"});
  REQUIRE(r);
  INFO(r->err);
  CHECK(r->exit_code == 0);
  CHECK(fs::file_size(d.path / "spans.jsonl") > 0);
  bb::durability dur;
  dur.path = (d.path / "blackboard.db").string();
  auto board = bb::blackboard::open(dur);
  REQUIRE(board);
  auto result = (*board)->get("runs/review/result");
  REQUIRE(result);
  CHECK(result->value().at("answer").is_array());
  CHECK((*board)->get("runs/review/answers/1/reviewer/cppcheck"));
}

TEST_CASE("agora review --llm adds an LLM reviewer and a judge that settles unconfirmed findings", "[cli][review][e2e]") {
  temp_dir d;
  const auto out_json = (d.path / "review.json").string();
  auto r = run_agora({"review", AGORA_REVIEW_SAMPLE, "--json", out_json, "--all", "--llm",
                  std::string("replay:") + AGORA_REVIEW_DATA + "/review_llm.jsonl"});
  REQUIRE(r);
  INFO(r->out << r->err);
  CHECK(r->exit_code == 1);
  auto j = json::parse(slurp(out_json), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j.at("skipped").empty());
  bool llm_agreed = false, judged_keep = false, judged_drop = false;
  for (const auto& x : j.at("findings")) {
    for (const auto& who : x.at("found_by")) llm_agreed = llm_agreed || who == "reviewer/llm";
    if (x.value("judge", "").find("snprintf truncates") != std::string::npos) judged_keep = true;
  }
  for (const auto& x : j.at("unconfirmed"))
    if (x.value("judge", "").rfind("dropped: ", 0) == 0) judged_drop = true;
  CHECK(llm_agreed);
  CHECK(judged_keep);
  CHECK(judged_drop);
  CHECK(r->err.find("judge kept 1 of") != std::string::npos);
}
