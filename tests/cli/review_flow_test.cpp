// reviewer/flow (cli/review/flow.cpp): the data-flow analysis on clang's
// real AST. Each hazard is written twice in code of our own: once flawed
// (reported, on the line of the use) and once with the check that makes it
// safe (not reported), so that every test fails if the analysis stops
// telling the two apart.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "process.hpp"
#include "support/temp_dir.hpp"
#include "review/review.hpp"

using namespace agora;
using namespace agora::cli;
using namespace agora::cli::review;
namespace fs = std::filesystem;

namespace {

// A temporary directory named for these tests.
struct temp_dir : agora::test::temp_dir {
  temp_dir() : agora::test::temp_dir("agora-flow") {}
};

// The findings of `code` as (line, rule), from clang's AST of it.
std::set<std::pair<int, std::string>> flow(const std::string& code, bool cxx = false) {
  temp_dir d;
  const std::string name = cxx ? "t.cpp" : "t.c";
  {
    std::ofstream out(d.path / name, std::ios::binary);
    out << code;
  }
  process_request rq;
  rq.argv = {"clang", "-fsyntax-only", "-Xclang", "-ast-dump=json", "-w", cxx ? "-xc++" : "-xc", name};
  rq.cwd = d.path.string();
  rq.timeout = std::chrono::seconds(60);
  rq.max_output = flow_max_ast;
  auto r = run_process(rq);
  REQUIRE(r);
  INFO(r->err);
  REQUIRE(r->exit_code == 0);
  auto found = analyse_clang_ast(r->out, "src/" + name, name, code);
  REQUIRE(found);
  std::set<std::pair<int, std::string>> out;
  for (const auto& f : *found) {
    CHECK(f.file == "src/" + name);
    CHECK(!f.category.empty());
    CHECK(!f.message.empty());
    out.emplace(f.line, f.rule);
  }
  return out;
}

const char* prelude =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include <limits.h>\n"
    "#include <math.h>\n";  // lines 1-5

}  // namespace

TEST_CASE("flow: input reaching a command or a format is reported, a constant is not", "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "void bad(void) {\n"                                   // 6
                "  char buf[100] = \"ls \";\n"                         // 7
                "  char *e = getenv(\"X\");\n"                         // 8
                "  if (e != NULL) strncat(buf + 3, e, 50);\n"          // 9
                "  system(buf);\n"                                     // 10
                "  printf(buf);\n"                                     // 11
                "}\n"                                                  // 12
                "void good(void) {\n"                                  // 13
                "  char buf[100] = \"ls \";\n"                         // 14
                "  strcat(buf, \"*.*\");\n"                            // 15
                "  system(buf);\n"                                     // 16
                "  printf(buf);\n"                                     // 17
                "  char in[100];\n"                                    // 18
                "  if (fgets(in, 100, stdin)) printf(\"%s\", in);\n"  // 19
                "}\n");
  CHECK(f.count({10, "flow/command-injection"}) == 1);
  CHECK(f.count({11, "flow/format-string"}) == 1);
  CHECK(f.size() == 2);
}

TEST_CASE("flow: integers from input overflow, wrap and divide unless checked", "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "void bad(void) {\n"                            // 6
                "  int data;\n"                                 // 7
                "  fscanf(stdin, \"%d\", &data);\n"             // 8
                "  int sum = data + 1;\n"                       // 9
                "  int diff;\n"                                 // 10
                "  diff = data - 1;\n"                          // 11
                "  int q = 100 / data;\n"                       // 12
                "  data++;\n"                                   // 13
                "  printf(\"%d %d %d\", sum, diff, q);\n"       // 14
                "}\n"                                           // 15
                "void good(void) {\n"                           // 16
                "  int data = rand();\n"                        // 17
                "  if (data < INT_MAX) { int s = data + 1; printf(\"%d\", s); }\n"  // 18
                "  if (data > INT_MIN) { int d = data - 1; printf(\"%d\", d); }\n"  // 19
                "  if (data != 0) printf(\"%d\", 100 / data);\n"                    // 20
                "  if (abs(data) < 1000) printf(\"%d\", data * data);\n"            // 21
                "}\n");
  CHECK(f.count({9, "flow/integer-overflow"}) == 1);
  CHECK(f.count({11, "flow/integer-underflow"}) == 1);
  CHECK(f.count({12, "flow/divide-by-zero"}) == 1);
  CHECK(f.count({13, "flow/integer-overflow"}) == 1);
  CHECK(f.size() == 4);
}

TEST_CASE("flow: a value at its type's limit wraps; a small one does not", "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "void bad(void) {\n"                                 // 6
                "  char c = CHAR_MAX;\n"                             // 7
                "  ++c;\n"                                           // 8
                "  int m = INT_MIN;\n"                               // 9
                "  int r = m - 1;\n"                                 // 10
                "  unsigned int u = 0;\n"                            // 11
                "  u--;\n"                                           // 12
                "  printf(\"%d %d %u\", c, r, u);\n"                 // 13
                "}\n"                                                // 14
                "void good(void) {\n"                                // 15
                "  char c = 2;\n"                                    // 16
                "  ++c;\n"                                           // 17
                "  unsigned int u = -2;\n"                           // 18
                "  u--;\n"                                           // 19
                "  int m = INT_MIN;\n"                               // 20
                "  if (m > INT_MIN) { int r = m - 1; printf(\"%d\", r); }\n"  // 21
                "  printf(\"%d %u\", c, u);\n"                       // 22
                "}\n");
  CHECK(f.count({8, "flow/integer-overflow"}) == 1);
  CHECK(f.count({10, "flow/integer-underflow"}) == 1);
  CHECK(f.count({12, "flow/integer-underflow"}) == 1);
  CHECK(f.size() == 3);
}

TEST_CASE("flow: an index from input needs both bounds; a constant one must fit", "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "void bad(void) {\n"                                 // 6
                "  int buffer[10] = {0};\n"                          // 7
                "  int data = rand();\n"                             // 8
                "  if (data >= 0) buffer[data] = 1;\n"               // 9
                "  if (data < 10) buffer[data] = 1;\n"               // 10
                "  int neg = -5;\n"                                  // 11
                "  printf(\"%d\", buffer[neg]);\n"                   // 12
                "}\n"                                                // 13
                "void good(void) {\n"                                // 14
                "  int buffer[10] = {0};\n"                          // 15
                "  int data = rand();\n"                             // 16
                "  if (data >= 0 && data < 10) buffer[data] = 1;\n"  // 17
                "  int seven = 7;\n"                                 // 18
                "  printf(\"%d\", buffer[seven]);\n"                 // 19
                "}\n");
  CHECK(f.count({9, "flow/unchecked-index"}) == 1);
  CHECK(f.count({10, "flow/unchecked-index"}) == 1);
  CHECK(f.count({12, "flow/index-out-of-bounds"}) == 1);
  CHECK(f.size() == 3);
}

TEST_CASE("flow: an allocation used before a NULL check; checked ones are not reported", "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "void bad(void) {\n"                                          // 6
                "  char *p = (char *)malloc(100);\n"                          // 7
                "  strcpy(p, \"x\");\n"                                       // 8
                "  int *q = (int *)calloc(10, sizeof(int));\n"                // 9
                "  q[0] = 1;\n"                                               // 10
                "  free(p); free(q);\n"                                       // 11
                "}\n"                                                         // 12
                "void good(void) {\n"                                         // 13
                "  char *p = (char *)malloc(100);\n"                          // 14
                "  if (p == NULL) { exit(-1); }\n"                            // 15
                "  strcpy(p, \"x\");\n"                                       // 16
                "  int *q = (int *)calloc(10, sizeof(int));\n"                // 17
                "  if (q != NULL) { q[0] = 1; free(q); }\n"                   // 18
                "  int *r = NULL;\n"                                          // 19
                "  if (rand()) { r = (int *)malloc(4); if (!r) abort(); }\n"  // 20
                "  if (r) *r = 2;\n"                                          // 21
                "  free(p); free(r);\n"                                       // 22
                "}\n");
  CHECK(f.count({8, "flow/unchecked-allocation"}) == 1);
  CHECK(f.count({10, "flow/unchecked-allocation"}) == 1);
  CHECK(f.size() == 2);
}

TEST_CASE("flow: a call to a noreturn function ends the path, so a checking allocation wrapper is not reported",
          "[review][flow]") {
  // The shape of PostgreSQL's zic.c: emalloc() = memcheck(malloc()), and
  // memcheck() calls a function declared noreturn when the pointer is NULL.
  auto f = flow(std::string(prelude) +
                "static void oom(const char *m) __attribute__((noreturn));\n"          // 6
                "static void oom(const char *m) { fputs(m, stderr); exit(1); }\n"      // 7
                "static void *memcheck(void *p) { if (p == NULL) oom(\"x\"); return p; }\n"  // 8
                "static void *emalloc(size_t n) { return memcheck(malloc(n)); }\n"    // 9
                "static void *nocheck(void *p) { return p; }\n"                       // 10
                "static void *lazy_malloc(size_t n) { return nocheck(malloc(n)); }\n" // 11
                "void good(void) {\n"                                                  // 12
                "  char *s = (char *)emalloc(8);\n"                                    // 13
                "  s[0] = 'a';\n"                                                      // 14
                "  free(s);\n"                                                         // 15
                "}\n"                                                                  // 16
                "void bad(void) {\n"                                                   // 17
                "  char *s = (char *)lazy_malloc(8);\n"                                // 18
                "  s[0] = 'a';\n"                                                      // 19
                "  free(s);\n"                                                         // 20
                "}\n");
  CHECK(f.count({19, "flow/unchecked-allocation"}) == 1);
  CHECK(f.count({14, "flow/unchecked-allocation"}) == 0);
  CHECK(f.size() == 1);
}

TEST_CASE("flow: values cross functions, globals, pointers and references", "[review][flow]") {
  auto c = flow(std::string(prelude) +
                "static int badData;\n"                               // 6
                "static int goodData;\n"                              // 7
                "static void sink(int data) { printf(\"%d\", 100 / data); }\n"  // 8
                "static void safe_sink(int data) { if (data != 0) printf(\"%d\", 100 / data); }\n"  // 9
                "static int source(void) { return rand(); }\n"        // 10
                "static void gsink(void) { int d = badData; printf(\"%d\", d + 1); }\n"  // 11
                "static void ggood(void) { int d = goodData; printf(\"%d\", d + 1); }\n"  // 12
                "void bad(void) {\n"                                  // 13
                "  int data = source();\n"                            // 14
                "  sink(data);\n"                                     // 15
                "  safe_sink(data);\n"                                // 16
                "  badData = data; gsink();\n"                        // 17
                "  goodData = 2; ggood();\n"                          // 18
                "  int v = 0; int *pv = &v;\n"                        // 19
                "  *pv = rand();\n"                                   // 20
                "  printf(\"%d\", 10 / v);\n"                         // 21
                "  void (*fp)(int) = sink;\n"                         // 22
                "  fp(3);\n"                                          // 23
                "}\n");
  CHECK(c.count({8, "flow/divide-by-zero"}) == 1);
  CHECK(c.count({11, "flow/integer-overflow"}) == 1);
  CHECK(c.count({21, "flow/divide-by-zero"}) == 1);
  CHECK(c.size() == 3);

  auto cxx = flow(std::string(prelude) +
                  "static void source(int &data) { data = rand(); }\n"  // 6
                  "void bad() {\n"                                       // 7
                  "  int data = 0;\n"                                    // 8
                  "  source(data);\n"                                    // 9
                  "  int &ref = data;\n"                                 // 10
                  "  int copy = ref;\n"                                  // 11
                  "  printf(\"%d\", copy * 2);\n"                        // 12
                  "}\n"
                  "void good() {\n"                                      // 14
                  "  int data = 0;\n"                                    // 15
                  "  int &ref = data;\n"                                 // 16
                  "  ref = 4;\n"                                         // 17
                  "  printf(\"%d\", 100 / data);\n"                      // 18
                  "}\n",
                  true);
  CHECK(cxx.count({12, "flow/integer-overflow"}) == 1);
  CHECK(cxx.size() == 1);
}

TEST_CASE("flow: constant conditions decide which arm runs; both arms of an unknown one join",
          "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "static const int FIVE = 5;\n"                        // 6
                "static int returnsTrue(void) { return 1; }\n"        // 7
                "extern int unknownFlag;\n"                           // 8
                "void bad(void) {\n"                                  // 9
                "  float data = 0.0F;\n"                              // 10
                "  if (FIVE != 5) data = 2.0F;\n"                     // 11
                "  printf(\"%f\", 100.0 / data);\n"                   // 12
                "  int n = 0;\n"                                      // 13
                "  if (unknownFlag) n = rand();\n"                    // 14
                "  printf(\"%d\", 7 % n);\n"                          // 15
                "}\n"                                                 // 16
                "void good(void) {\n"                                 // 17
                "  float data = 0.0F;\n"                              // 18
                "  if (returnsTrue()) data = 2.0F;\n"                 // 19
                "  printf(\"%f\", 100.0 / data);\n"                   // 20
                "  float d2 = 0.0F;\n"                                // 21
                "  if (unknownFlag) { } else { d2 = 2.0F; }\n"        // 22
                "  printf(\"%f\", 100.0 / d2);\n"                     // 23
                "  while (1) { d2 = 3.0F; break; }\n"                 // 24
                "  if (fabs(d2) > 0.0001) printf(\"%f\", 1.0 / d2);\n"  // 25
                "}\n");
  CHECK(f.count({12, "flow/divide-by-zero"}) == 1);
  CHECK(f.count({15, "flow/divide-by-zero"}) == 1);
  CHECK(f.size() == 2);
}

TEST_CASE("flow: what is not clang's JSON is refused, naming the file", "[review][flow]") {
  auto r = analyse_clang_ast("not json", "src/a.c", "a.c", "int x;\n");
  REQUIRE(!r);
  CHECK(r.error().message.find("src/a.c") != std::string::npos);
  auto empty = analyse_clang_ast("{\"kind\":\"TranslationUnitDecl\",\"inner\":[]}", "src/a.c", "a.c", "");
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("flow: a variable read or updated before any value is stored, on every path", "[review][flow]") {
  auto f = flow(std::string(prelude) +
                "void bad(void) {\n"                                      // 6
                "  int data;\n"                                           // 7
                "  printf(\"%d\", data);\n"                               // 8
                "  double sum;\n"                                         // 9
                "  for (int i = 0; i < 3; i++) sum += i;\n"               // 10
                "  int *p;\n"                                             // 11
                "  printf(\"%d\", *p);\n"                                 // 12
                "}\n"                                                     // 13
                "void good(int flag) {\n"                                 // 14
                "  int a; if (flag) a = 1; else a = 2;\n"                 // 15
                "  printf(\"%d\", a);\n"                                  // 16
                "  int b; scanf(\"%d\", &b); printf(\"%d\", b);\n"         // 17
                "  static int c; printf(\"%d\", c);\n"                    // 18
                "  int d; for (int i = 0; i < 3; i++) { d = i; continue; }\n"  // 19
                "  int e; if (flag) e = 1;\n"                             // 20
                "  printf(\"%d\", e);\n"                                  // 21
                "  int buf[4]; buf[0] = 1; printf(\"%d\", buf[0]);\n"     // 22
                "}\n");
  CHECK(f.count({8, "flow/uninitialized"}) == 1);
  CHECK(f.count({10, "flow/uninitialized"}) == 1);
  CHECK(f.count({12, "flow/uninitialized"}) == 1);
  CHECK(f.size() == 3);
}
