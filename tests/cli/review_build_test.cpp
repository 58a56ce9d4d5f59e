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
#include "review/review.hpp"

using namespace agora;
using namespace agora::cli;
using namespace agora::cli::review;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "agora-review-build-XXXXXX").string();
    path = fs::canonical(::mkdtemp(tmpl.data()));
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
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

  SECTION("without the database: gcc and clang-tidy cannot compile it, and say so") {
    // The header is found (a directory of the tree holding headers is
    // searched), but the build's -D is missing: #error.
    auto r = run_agora_in(d.path, {"review", ".", "--reviewers", "gcc,clang-tidy", "--json", "out.json",
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
    CHECK(r->out.find("not analysed by reviewer/gcc") != std::string::npos);
    CHECK(r->out.find("uaf.c") != std::string::npos);
  }
  SECTION("with -p: analysed, and the use after free is reported") {
    auto r = run_agora_in(d.path, {"review", ".", "-p", "build", "--reviewers", "gcc,clang-tidy", "--json",
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
