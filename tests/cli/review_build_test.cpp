// agora review on a project of its own: compile databases, files a tool
// cannot analyse (named, never dropped silently), the time budget, and
// --diff on a real git repository. Everything runs the real tools and the
// real `agora` binary.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <agora/agora.hpp>

#include "process.hpp"
#include "support/temp_dir.hpp"
#include "review/diff.hpp"
#include "review/review.hpp"

using namespace agora;
using namespace agora::cli;
using namespace agora::cli::review;
namespace fs = std::filesystem;

namespace {

// A temporary directory named for these tests.
struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-review-build") {}
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p);
  out << text;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bb::result<process_result> run_in(const fs::path& cwd, std::vector<std::string> argv) {
  process_request rq;
  rq.argv = std::move(argv);
  rq.cwd = cwd.string();
  rq.timeout = std::chrono::seconds(180);
  rq.env = {"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t",
            "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"};
  return run_process(rq);
}

bb::result<process_result> run_agora_in(const fs::path& cwd, std::vector<std::string> args) {
  args.insert(args.begin(), AGORA_BIN);
  return run_in(cwd, std::move(args));
}

json read_json(const fs::path& p) {
  auto j = json::parse(slurp(p), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// A use after free only gcc -fanalyzer sees when the header's macro is
// defined as the build defines it: without the compile database's -I and
// -D the file does not compile at all.
const char* uaf_c = R"(#include "config.h"
#include <stdlib.h>

int use_after_free(void) {
  int *p = (int *)malloc(sizeof(int) * BUF_ITEMS);
  if (!p) return 0;
  p[0] = 1;
  free(p);
  return p[0];
}
)";

const char* config_h = R"(#ifndef CONFIG_H
#define CONFIG_H
#ifndef HAVE_BUILD_FLAGS
#error "build with -DHAVE_BUILD_FLAGS"
#endif
#define BUF_ITEMS 4
#endif
)";

bool has(const json& list, const std::string& file, const std::string& category) {
  for (const auto& f : list)
    if (f.at("file") == file && f.at("category") == category) return true;
  return false;
}

}  // namespace

TEST_CASE("review read_compile_database reads arguments and command entries, relative to the database", "[cli][review]") {
  temp_dir d;
  write(d.path / "proj/src/a.c", "int a;\n");
  write(d.path / "proj/src/b.c", "int b;\n");
  write(d.path / "proj/src/c.c", "int c;\n");
  write(d.path / "proj/inc/x.h", "\n");
  // "directory" relative to the database's folder; "file" relative to it.
  write(d.path / "proj/build/compile_commands.json", R"([
    {"directory": "../src", "file": "a.c",
     "arguments": ["cc", "-I../inc", "-DMODE=2", "-std=c99", "-O2", "-c", "a.c", "-o", "a.o"]},
    {"directory": ".", "file": "../src/b.c",
     "command": "/usr/bin/gcc -I \"../inc dir\" -D NAME=\"a b\" -c ../src/b.c -o b.o"},
    {"directory": "/elsewhere", "file": "/elsewhere/outside.c", "arguments": ["cc", "-c", "outside.c"]}
  ])");
  auto tree = load_source_tree((d.path / "proj/src").string());
  REQUIRE(tree);
  auto flags = read_compile_database((d.path / "proj/build").string(), *tree);  // its directory works too
  REQUIRE(flags);
  const auto& a = flags->of("a.c");
  CHECK(std::find(a.begin(), a.end(), "-I" + (d.path / "proj/inc").string()) != a.end());
  CHECK(std::find(a.begin(), a.end(), "-DMODE=2") != a.end());
  CHECK(std::find(a.begin(), a.end(), "-O2") == a.end());  // not a flag the analysis needs
  CHECK(std::find(a.begin(), a.end(), "a.o") == a.end());
  CHECK(flags->std_flag("a.c").empty());  // its own -std=c99 stays
  const auto& b = flags->of("b.c");
  CHECK(std::find(b.begin(), b.end(), "-I" + (d.path / "proj/inc dir").string()) != b.end());
  CHECK(std::find(b.begin(), b.end(), "-DNAME=a b") != b.end());
  CHECK(flags->std_flag("b.c") == "-std=gnu11");
  // c.c is not in the database: the default flags, and the user is told.
  CHECK(flags->not_in_database == std::vector<std::string>{"c.c"});

  SECTION("a malformed database names the entry and the field") {
    write(d.path / "bad/compile_commands.json", R"([{"directory": ".", "file": 7, "arguments": []}])");
    auto bad = read_compile_database((d.path / "bad/compile_commands.json").string(), *tree);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("\"file\"") != std::string::npos);
    CHECK(bad.error().message.find("compile_commands.json") != std::string::npos);
    write(d.path / "bad2/compile_commands.json", "{not json");
    auto bad2 = read_compile_database((d.path / "bad2").string(), *tree);
    REQUIRE_FALSE(bad2);
    CHECK(bad2.error().message.find("not JSON") != std::string::npos);
  }
}

TEST_CASE("review split_command splits a shell command as the shell would", "[cli][review]") {
  CHECK(split_command("cc -I 'a b' -D\"X=1 2\" x\\ y.c") ==
        std::vector<std::string>{"cc", "-I", "a b", "-DX=1 2", "x y.c"});
  CHECK(split_command("  cc   -c  ").size() == 2);
}

TEST_CASE("agora review -p uses the build's flags; without them the file is named as not analysed", "[cli][review][e2e]") {
  temp_dir d;
  write(d.path / "src/uaf.c", uaf_c);
  write(d.path / "include/config.h", config_h);
  write(d.path / "build/compile_commands.json",
        json::array({{{"directory", (d.path / "build").string()},
                      {"file", "../src/uaf.c"},
                      {"arguments", {"gcc", "-I../include", "-DHAVE_BUILD_FLAGS", "-c", "../src/uaf.c"}}}})
            .dump());

  SECTION("without the database: gcc, clang-tidy and flow cannot compile it, and say so") {
    // The header is found (a directory of the tree holding headers is
    // searched), but the build's -D is missing: #error.
    auto r = run_agora_in(d.path, {"review", ".", "--reviewers", "gcc,clang-tidy,flow", "--json", "out.json",
                            "--fail-on", "never,not-analysed"});
    REQUIRE(r);
    INFO(r->out << r->err);
    CHECK(r->exit_code == 1);  // a file was not analysed
    const json j = read_json(d.path / "out.json");
    std::set<std::string> who;
    for (const auto& n : j.at("not_analysed")) {
      CHECK(n.at("file") == "src/uaf.c");
      CHECK(n.at("reason").get<std::string>().find("HAVE_BUILD_FLAGS") != std::string::npos);
      who.insert(n.at("reviewer"));
    }
    CHECK(who.count("reviewer/gcc"));
    CHECK(who.count("reviewer/clang-tidy"));
    CHECK(who.count("reviewer/flow"));
    CHECK(r->out.find("not analysed by reviewer/gcc") != std::string::npos);
    CHECK(r->out.find("not analysed by reviewer/flow") != std::string::npos);
    CHECK(r->out.find("uaf.c") != std::string::npos);
  }
  SECTION("with -p: analysed, and the use after free is reported") {
    auto r = run_agora_in(d.path, {"review", ".", "-p", "build", "--reviewers", "gcc,clang-tidy,flow", "--json",
                            "out.json", "--fail-on", "never,not-analysed"});
    REQUIRE(r);
    INFO(r->out << r->err);
    CHECK(r->exit_code == 0);
    const json j = read_json(d.path / "out.json");
    CHECK(j.at("not_analysed").empty());
    CHECK(has(j.at("findings"), "src/uaf.c", "use-after-free"));
  }
  SECTION("-I and -D on the command line do the same") {
    auto r = run_agora_in(d.path, {"review", "src", "-I", "include", "-DHAVE_BUILD_FLAGS", "--reviewers", "gcc", "--json",
                            "out.json", "--fail-on", "never"});
    REQUIRE(r);
    INFO(r->out << r->err);
    const json j = read_json(d.path / "out.json");
    CHECK(j.at("not_analysed").empty());
    CHECK(has(j.at("findings"), "uaf.c", "use-after-free"));
  }
  SECTION("a database that does not exist is a usage error naming it") {
    auto r = run_agora_in(d.path, {"review", "src", "-p", "nowhere"});
    REQUIRE(r);
    CHECK(r->exit_code == 2);
    CHECK(r->err.find("nowhere") != std::string::npos);
  }
}

TEST_CASE("agora review --budget names every file it did not reach", "[cli][review][e2e]") {
  temp_dir d;
  // Enough files that one second cannot check them all with one job.
  for (int i = 0; i < 300; ++i)
    write(d.path / ("src/f" + std::to_string(i) + ".c"),
          "#include <stdio.h>\nint f" + std::to_string(i) + "(const char *s) { return printf(\"%s\", s); }\n");
  auto r = run_agora_in(d.path, {"review", "src", "--reviewers", "gcc", "--jobs", "1", "--budget", "1", "--json", "out.json",
                          "--fail-on", "never,not-analysed"});
  REQUIRE(r);
  INFO(r->out << r->err << "signal " << r->signal);
  CHECK(r->exit_code == 1);
  const json j = read_json(d.path / "out.json");
  const auto& na = j.at("not_analysed");
  REQUIRE_FALSE(na.empty());
  CHECK(na.size() < 300);  // some were checked
  for (const auto& n : na) CHECK(n.at("reason").get<std::string>().find("--budget") != std::string::npos);
}

TEST_CASE("agora review --diff reviews only the change's lines", "[cli][review][e2e]") {
  temp_dir d;
  const fs::path repo = d.path / "repo";
  write(repo / "old.c",
        "#include <stdlib.h>\nint old_leak(void) {\n  int *p = (int *)malloc(4);\n  if (!p) return 0;\n"
        "  free(p);\n  free(p);\n  return 0;\n}\n");
  write(repo / "untouched.c", "int untouched(void) { return 0; }\n");
  REQUIRE(run_in(repo, {"git", "init", "-q", "-b", "main"})->exit_code == 0);
  REQUIRE(run_in(repo, {"git", "add", "."})->exit_code == 0);
  REQUIRE(run_in(repo, {"git", "commit", "-q", "-m", "base"})->exit_code == 0);
  // The change: a new double free in new.c; old.c's double free predates it.
  write(repo / "new.c",
        "#include <stdlib.h>\nint new_df(void) {\n  int *p = (int *)malloc(4);\n  if (!p) return 0;\n"
        "  free(p);\n  free(p);\n  return 0;\n}\n");
  REQUIRE(run_in(repo, {"git", "add", "new.c"})->exit_code == 0);
  REQUIRE(run_in(repo, {"git", "commit", "-q", "-m", "change"})->exit_code == 0);

  auto r = run_agora_in(repo, {"review", ".", "--diff", "HEAD~1", "--reviewers", "gcc", "--json", "out.json", "--sarif",
                        "out.sarif", "--fail-on", "never"});
  REQUIRE(r);
  INFO(r->out << r->err);
  CHECK(r->exit_code == 0);
  const json j = read_json(repo / "out.json");
  CHECK(j.at("diff") == "HEAD~1");
  CHECK(j.at("files") == 1);  // only new.c was reviewed
  CHECK(has(j.at("findings"), "new.c", "use-after-free"));
  for (const char* list : {"findings", "unconfirmed"})
    for (const auto& f : j.at(list)) CHECK(f.at("file") == "new.c");
  CHECK(read_json(repo / "out.sarif").at("runs").at(0).at("properties").at("diff") == "HEAD~1");

  SECTION("a change that touches no C or C++ line reviews nothing and says so") {
    write(repo / "README", "text\n");
    REQUIRE(run_in(repo, {"git", "add", "README"})->exit_code == 0);
    REQUIRE(run_in(repo, {"git", "commit", "-q", "-m", "doc"})->exit_code == 0);
    auto none = run_agora_in(repo, {"review", ".", "--diff", "HEAD~1"});
    REQUIRE(none);
    CHECK(none->exit_code == 0);
    CHECK(none->out.find("nothing to review") != std::string::npos);
  }
  SECTION("an unknown revision is a usage error naming it") {
    auto bad = run_agora_in(repo, {"review", ".", "--diff", "no-such-branch"});
    REQUIRE(bad);
    CHECK(bad->exit_code == 2);
    CHECK(bad->err.find("no-such-branch") != std::string::npos);
  }
}

TEST_CASE("agora review --diff --context function keeps what the change reaches through calls", "[cli][review][e2e]") {
  temp_dir d;
  const fs::path repo = d.path / "repo";
  // Findings of one family within 2 lines merge, so the functions stand apart.
  const std::string before =
      "#include <stdlib.h>\n"
      "static int scale(int d) { return 100 / d; }\n"                      // 2: divides by what it is given
      "\n\n\n"
      "static int unrelated(void) { int n = rand(); return 7 % n; }\n"     // 6: called by the changed function
      "\n\n\n"
      "int entry(void) {\n"                                                // 10
      "  int d = 5;\n"                                                     // 11: the change gives rand()
      "  return scale(d) + unrelated();\n"
      "}\n"
      "int other(void) { return entry(); }\n"                              // 14: a caller
      "\n\n\n"
      "int lonely(void) { int n = rand(); return 9 % n; }\n";             // 18: nothing changed reaches it
  write(repo / "calc.c", before);
  REQUIRE(run_in(repo, {"git", "init", "-q", "-b", "main"})->exit_code == 0);
  REQUIRE(run_in(repo, {"git", "add", "."})->exit_code == 0);
  REQUIRE(run_in(repo, {"git", "commit", "-q", "-m", "base"})->exit_code == 0);
  std::string after = before;
  after.replace(after.find("int d = 5;"), 10, "int d = rand();");
  write(repo / "calc.c", after);

  auto lines_of = [](const json& list) {
    std::set<int> out;
    for (const auto& f : list) out.insert(f.at("line").get<int>());
    return out;
  };
  // The changed line alone: the division it makes reachable is elsewhere.
  auto plain = run_agora_in(repo, {"review", ".", "--diff", "HEAD", "--reviewers", "flow", "--json", "a.json",
                                   "--fail-on", "never", "--quiet"});
  REQUIRE(plain);
  INFO(plain->out << plain->err);
  REQUIRE(plain->exit_code == 0);
  CHECK(lines_of(read_json(repo / "a.json").at("findings")).count(2) == 0);

  auto reach = run_agora_in(repo, {"review", ".", "--diff", "HEAD", "--context", "function", "--reviewers", "flow",
                                   "--json", "b.json", "--fail-on", "never", "--quiet"});
  REQUIRE(reach);
  INFO(reach->out << reach->err);
  REQUIRE(reach->exit_code == 0);
  const auto kept = lines_of(read_json(repo / "b.json").at("findings"));
  CHECK(kept.count(2) == 1);  // scale: called by the changed function
  CHECK(kept.count(6) == 1);   // unrelated: called by it too
  CHECK(kept.count(18) == 0);  // lonely: no call path from the change
  // The whole file's review has both.
  auto whole = run_agora_in(repo, {"review", ".", "--reviewers", "flow", "--json", "c.json", "--fail-on", "never",
                                   "--quiet"});
  REQUIRE(whole);
  const auto all = lines_of(read_json(repo / "c.json").at("findings"));
  CHECK(all.count(2) == 1);
  CHECK(all.count(18) == 1);

  auto bad = run_agora_in(repo, {"review", ".", "--diff", "HEAD", "--context", "functions"});
  REQUIRE(bad);
  CHECK(bad->exit_code == 2);
  CHECK(bad->err.find("context") != std::string::npos);
}

TEST_CASE("review parse_git_diff reads hunks, renames, quoted paths and refuses a torn diff", "[cli][review]") {
  const std::string text =
      "diff --git a/src/a.c b/src/a.c\n"
      "index 1111111..2222222 100644\n"
      "--- a/src/a.c\n"
      "+++ b/src/a.c\n"
      "@@ -3 +3,2 @@ int f(void)\n"
      "-  old();\n"
      "+  new_one();\n"
      "+  new_two();\n"
      "@@ -9,2 +10,0 @@\n"
      "-  gone();\n"
      "-  gone_too();\n"
      "@@ -20,0 +19 @@\n"
      "+  added();\n"
      "\\ No newline at end of file\n"
      "diff --git a/old name.c b/new name.c\n"
      "similarity index 90%\n"
      "rename from old name.c\n"
      "rename to new name.c\n"
      "--- a/old name.c\n"
      "+++ b/new name.c\n"
      "@@ -5 +5 @@\n"
      "-x\n"
      "+y\n"
      "diff --git \"a/t\\tab.c\" \"b/t\\tab.c\"\n"
      "new file mode 100644\n"
      "--- /dev/null\n"
      "+++ \"b/t\\tab.c\"\n"
      "@@ -0,0 +1,3 @@\n"
      "+a\n+b\n+c\n"
      "diff --git a/gone.c b/gone.c\n"
      "deleted file mode 100644\n"
      "--- a/gone.c\n"
      "+++ /dev/null\n"
      "@@ -1 +0,0 @@\n"
      "-z\n"
      "diff --git a/logo.png b/logo.png\n"
      "Binary files a/logo.png and b/logo.png differ\n";
  auto files = parse_git_diff(text);
  REQUIRE(files);
  REQUIRE(files->size() == 4);  // the binary file is left out
  change_set cs;
  cs.files = *files;
  const changed_file* a = cs.find("src/a.c");
  REQUIRE(a);
  // 3-4 changed, 19 added; adjacent ranges would merge, these do not touch.
  CHECK(a->ranges == std::vector<std::pair<int, int>>{{3, 4}, {19, 19}});
  CHECK(a->touched(4));
  CHECK_FALSE(a->touched(5));
  CHECK(a->touched(6, 2));
  CHECK_FALSE(a->touched(7, 2));
  CHECK(a->touched(17, 2));
  const changed_file* renamed = cs.find("new name.c");
  REQUIRE(renamed);
  CHECK_FALSE(renamed->is_new);
  CHECK(renamed->ranges == std::vector<std::pair<int, int>>{{5, 5}});
  CHECK_FALSE(cs.find("old name.c"));
  const changed_file* tab = cs.find("t\tab.c");
  REQUIRE(tab);
  CHECK(tab->is_new);
  CHECK(tab->ranges == std::vector<std::pair<int, int>>{{1, 3}});
  const changed_file* gone = cs.find("gone.c");
  REQUIRE(gone);
  CHECK(gone->deleted);
  CHECK(gone->ranges.empty());

  auto bad_header = parse_git_diff("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +x @@\n");
  REQUIRE_FALSE(bad_header);
  CHECK(bad_header.error().message.find("line 4") != std::string::npos);
  auto torn = parse_git_diff("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1,3 @@\n+a\n");
  REQUIRE_FALSE(torn);
  CHECK(torn.error().message.find("ends inside") != std::string::npos);
}

TEST_CASE("review read_change refuses bad specs and trees, naming them", "[cli][review]") {
  temp_dir d;
  CHECK(read_change(d.path.string(), "").error().code == bb::errc::invalid_argument);
  auto dash = read_change(d.path.string(), "--output=/tmp/x");
  REQUIRE_FALSE(dash);
  CHECK(dash.error().message.find("'-'") != std::string::npos);
  auto not_git = read_change(d.path.string(), "HEAD");
  REQUIRE_FALSE(not_git);
  CHECK(not_git.error().message.find("not inside a git work tree") != std::string::npos);
  auto no_dir = read_change((d.path / "nope").string(), "HEAD");
  REQUIRE_FALSE(no_dir);
  CHECK(no_dir.error().message.find("nope") != std::string::npos);
}
