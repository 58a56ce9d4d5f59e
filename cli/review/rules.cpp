// The one rules table of the review: every tool rule the reviewers know,
// with its CWE, the defect family findings merge by, and how far its word
// is trusted (docs/review.md, "Calibration" and "The rules table").
//
// Trust was measured on ../shared/juliet-dev (368 NIST Juliet cases, run
// through each tool alone with the review's own flags): "bad N / good M"
// is how many findings of the rule's family fell in flawed functions and
// how many in the fixed ("good") functions of the same files. A rule stands
// alone when it was (nearly) never wrong there; one that is right often but
// also fires on fixed code needs another reviewer; a lexical pattern (a
// function name) only corroborates. The measurement is per rule: no file,
// function or test-case name is ever read.
#include <algorithm>
#include <map>
#include <string>

#include "review/review.hpp"

namespace agora::cli::review {

namespace {

enum class match { exact, prefix };

struct row {
  const char* tool;
  const char* rule;
  match how;
  const char* message;  // "" = any; else a (lower-case) substring of the message
  int cwe;
  const char* family;
  trust level;
  const char* why;
};

// Families: buffer-overflow, resource-leak, null-deref, uninitialized,
// use-after-free (and double free), bad-free (freeing what was not
// allocated, mismatched release), format-string, command-injection,
// integer-overflow, divide-by-zero, dangerous-function, type-confusion,
// complexity; "bug" and "style" have no CWE and are never reported.
constexpr trust alone = trust::alone;
constexpr trust corroborate = trust::corroborate;
constexpr trust lexical = trust::lexical;
constexpr trust never = trust::never;
constexpr trust weak = trust::weak;

// First match wins: specific rows (with a message) before general ones.
const row table[] = {
    // --- GCC 12: -fanalyzer (path-sensitive, with the path as evidence) ----------
    {"gcc", "-Wanalyzer-double-free", match::exact, "", 415, "use-after-free", alone,
     "path-sensitive; dev set: bad 13 / good 0"},
    {"gcc", "-Wanalyzer-use-after-free", match::exact, "", 416, "use-after-free", alone,
     "path-sensitive; dev set: bad 22 / good 0"},
    {"gcc", "-Wanalyzer-free-of-non-heap", match::exact, "", 590, "bad-free", alone,
     "path-sensitive; dev set: bad 20 / good 0"},
    {"gcc", "-Wanalyzer-mismatching-deallocation", match::exact, "", 762, "bad-free", alone,
     "path-sensitive: the release does not match the allocation"},
    {"gcc", "-Wanalyzer-null-dereference", match::exact, "", 476, "null-deref", corroborate,
     "path-sensitive, but follows paths a single file cannot rule out; dev set: bad 24 / good 15"},
    {"gcc", "-Wanalyzer-possible-null-dereference", match::exact, "", 690, "null-deref", weak,
     "an unchecked allocation's NULL; dev set: bad 11 / good 106"},
    {"gcc", "-Wanalyzer-null-argument", match::exact, "", 476, "null-deref", weak,
     "dev set: bad 1 / good 10"},
    {"gcc", "-Wanalyzer-possible-null-argument", match::exact, "", 690, "null-deref", weak,
     "dev set: bad 4 / good 25"},
    {"gcc", "-Wanalyzer-malloc-leak", match::exact, "", 401, "resource-leak", weak,
     "path-sensitive, but often on paths through functions it cannot see; dev set: bad 32 / good 121"},
    {"gcc", "-Wanalyzer-file-leak", match::exact, "", 775, "resource-leak", corroborate,
     "dev set: bad 11 / good 10"},
    {"gcc", "-Wanalyzer-fd-leak", match::exact, "", 775, "resource-leak", corroborate,
     "path-sensitive descriptor leak"},
    {"gcc", "-Wanalyzer-fd-double-close", match::exact, "", 675, "use-after-free", alone,
     "path-sensitive: a descriptor closed twice"},
    {"gcc", "-Wanalyzer-fd-use-after-close", match::exact, "", 910, "use-after-free", alone,
     "path-sensitive: a descriptor used after close"},
    {"gcc", "-Wanalyzer-use-of-uninitialized-value", match::exact, "", 457, "uninitialized", weak,
     "dev set: bad 40 / good 124 (paths through unseen globals)"},
    {"gcc", "-Wanalyzer-out-of-bounds", match::exact, "", 787, "buffer-overflow", alone,
     "path-sensitive bounds"},
    {"gcc", "-Wanalyzer-shift-count", match::prefix, "", 1335, "integer-overflow", corroborate, ""},
    {"gcc", "-Wanalyzer-tainted", match::prefix, "", 20, "buffer-overflow", corroborate,
     "attacker-controlled value reaches a size or index"},
    {"gcc", "-Wanalyzer-", match::prefix, "", 0, "bug", never, "other analyzer diagnostics"},
    // --- GCC 12: compiler warnings (semantic, per statement) --------------------
    {"gcc", "-Wdangling-pointer", match::prefix, "", 590, "bad-free", alone,
     "semantic; dev set: bad 13 / good 0"},
    {"gcc", "-Wfree-nonheap-object", match::exact, "", 590, "bad-free", alone, "semantic; dev set: bad 6 / good 0"},
    {"gcc", "-Wmismatched-dealloc", match::exact, "", 762, "bad-free", alone, "semantic: release does not match"},
    {"gcc", "-Wmismatched-new-delete", match::exact, "", 762, "bad-free", alone,
     "semantic: delete does not match new[] (or the reverse)"},
    {"gcc", "-Wuse-after-free", match::prefix, "", 416, "use-after-free", alone,
     "semantic; dev set: bad 7 / good 1"},
    {"gcc", "-Wstringop-overflow", match::prefix, "", 787, "buffer-overflow", alone,
     "semantic, sizes known at compile time; dev set: bad 7 / good 0"},
    {"gcc", "-Wstringop-overread", match::prefix, "", 126, "buffer-overflow", alone,
     "semantic; dev set: bad 3 / good 0"},
    {"gcc", "-Warray-bounds", match::prefix, "", 787, "buffer-overflow", alone, "semantic, constant index"},
    {"gcc", "-Wmaybe-uninitialized", match::exact, "", 457, "uninitialized", alone,
     "semantic; dev set: bad 6 / good 0"},
    {"gcc", "-Wuninitialized", match::exact, "", 457, "uninitialized", corroborate, "dev set: bad 1 / good 2"},
    {"gcc", "-Wformat-security", match::exact, "", 134, "format-string", corroborate,
     "a non-literal format; safe when the string is not from input; dev set: bad 12 / good 18"},
    {"gcc", "-Wformat-nonliteral", match::exact, "", 134, "format-string", corroborate, ""},
    {"gcc", "-Wdiv-by-zero", match::exact, "", 369, "divide-by-zero", alone, "semantic: constant zero divisor"},
    {"gcc", "-Wint-to-pointer-cast", match::exact, "", 704, "type-confusion", alone,
     "semantic: an integer (a descriptor, a length) used as a pointer; dev set: bad 8 / good 0"},
    {"gcc", "-Wreturn-local-addr", match::exact, "", 562, "use-after-free", alone,
     "semantic: returns the address of a local"},
    {"gcc", "-Woverflow", match::exact, "", 190, "integer-overflow", corroborate, "constant overflow"},
    {"gcc", "", match::prefix, "", 0, "style", never, "other compiler warnings (unused, sign, ...)"},
    // --- clang-tidy: clang's static analyzer (path-sensitive) -------------------
    {"clang-tidy", "clang-analyzer-core.DivideZero", match::exact, "", 369, "divide-by-zero", alone,
     "path-sensitive; dev set: bad 7 / good 0"},
    {"clang-tidy", "clang-analyzer-alpha.unix.cstring.OutOfBounds", match::exact, "", 787, "buffer-overflow",
     alone, "path-sensitive; dev set: bad 9 / good 0"},
    {"clang-tidy", "clang-analyzer-alpha.security.ArrayBound", match::prefix, "", 787, "buffer-overflow",
     corroborate, "path-sensitive; dev set: bad 9 / good 3"},
    {"clang-tidy", "clang-analyzer-alpha.security.ReturnPtrRange", match::exact, "", 466, "buffer-overflow",
     corroborate, ""},
    {"clang-tidy", "clang-analyzer-alpha.security.taint.TaintPropagation", match::exact, "format", 134,
     "format-string", alone, "taint from input to a format; dev set: bad 5 / good 0"},
    {"clang-tidy", "clang-analyzer-alpha.security.taint.TaintPropagation", match::exact, "system call", 78,
     "command-injection", alone, "taint from input to a command"},
    {"clang-tidy", "clang-analyzer-alpha.security.taint.TaintPropagation", match::exact, "", 20,
     "buffer-overflow", corroborate, "taint from input"},
    {"clang-tidy", "clang-analyzer-alpha.core.CastSize", match::exact, "", 131, "buffer-overflow", corroborate,
     ""},
    {"clang-tidy", "clang-analyzer-unix.MallocSizeof", match::exact, "", 131, "buffer-overflow", corroborate, ""},
    {"clang-tidy", "clang-analyzer-alpha.core.SizeofPtr", match::exact, "", 467, "buffer-overflow", corroborate,
     ""},
    {"clang-tidy", "bugprone-sizeof-expression", match::exact, "", 467, "buffer-overflow", corroborate, ""},
    {"clang-tidy", "bugprone-not-null-terminated-result", match::exact, "", 170, "buffer-overflow", corroborate,
     ""},
    {"clang-tidy", "clang-analyzer-core.NullDereference", match::exact, "", 476, "null-deref", corroborate,
     "path-sensitive; dev set: bad 15 / good 14"},
    {"clang-tidy", "clang-analyzer-core.NonNullParamChecker", match::exact, "", 476, "null-deref", weak,
     "dev set: bad 0 / good 9"},
    {"clang-tidy", "clang-analyzer-unix.Malloc", match::exact, "leak", 401, "resource-leak", corroborate,
     "path-sensitive"},
    {"clang-tidy", "clang-analyzer-unix.Malloc", match::exact, "released memory", 416, "use-after-free", alone,
     "path-sensitive: use after free"},
    {"clang-tidy", "clang-analyzer-unix.Malloc", match::exact, "freed", 415, "use-after-free", alone,
     "path-sensitive: double free"},
    {"clang-tidy", "clang-analyzer-unix.Malloc", match::exact, "not allocated", 590, "bad-free", alone,
     "path-sensitive: free of memory not from malloc"},
    {"clang-tidy", "clang-analyzer-unix.Malloc", match::exact, "", 0, "bug", never, ""},
    {"clang-tidy", "clang-analyzer-cplusplus.NewDeleteLeaks", match::exact, "", 401, "resource-leak", weak,
     "path-sensitive, but on paths a single file cannot decide; dev set: bad 5 / good 33"},
    {"clang-tidy", "clang-analyzer-cplusplus.NewDelete", match::exact, "released memory", 416, "use-after-free",
     alone, "path-sensitive"},
    {"clang-tidy", "clang-analyzer-cplusplus.NewDelete", match::exact, "freed", 415, "use-after-free", alone,
     "path-sensitive"},
    {"clang-tidy", "clang-analyzer-cplusplus.NewDelete", match::exact, "", 590, "bad-free", corroborate, ""},
    {"clang-tidy", "clang-analyzer-unix.MismatchedDeallocator", match::exact, "", 762, "bad-free", alone,
     "path-sensitive: release does not match allocation"},
    {"clang-tidy", "clang-analyzer-alpha.unix.Stream", match::exact, "leak", 775, "resource-leak", corroborate,
     "dev set: bad 11 / good 11"},
    {"clang-tidy", "clang-analyzer-core.uninitialized", match::prefix, "", 457, "uninitialized", corroborate, ""},
    {"clang-tidy", "clang-analyzer-core.CallAndMessage", match::exact, "uninitialized", 457, "uninitialized",
     weak, "dev set: bad 7 / good 18"},
    {"clang-tidy", "clang-analyzer-core.UndefinedBinaryOperatorResult", match::exact, "", 457, "uninitialized",
     weak, "dev set: bad 0 / good 7"},
    {"clang-tidy", "clang-analyzer-core.StackAddressEscape", match::exact, "", 562, "use-after-free", corroborate,
     ""},
    {"clang-tidy", "clang-analyzer-security.insecureAPI.gets", match::exact, "", 242, "dangerous-function", alone,
     "gets() cannot be used safely"},
    {"clang-tidy", "clang-analyzer-security.insecureAPI.strcpy", match::exact, "", 120, "buffer-overflow", lexical,
     "a call of strcpy, whatever its sizes; dev set: bad 8 / good 75"},
    {"clang-tidy", "cert-env33-c", match::exact, "", 78, "command-injection", lexical,
     "every system() call; dev set: bad 14 / good 19"},
    // clang's compiler warnings (clang-tidy passes -Wall -Wextra -Wformat=2)
    {"clang-tidy", "clang-diagnostic-format-security", match::exact, "", 134, "format-string", corroborate,
     "a non-literal format"},
    {"clang-tidy", "clang-diagnostic-format-nonliteral", match::exact, "", 134, "format-string", corroborate, ""},
    {"clang-tidy", "clang-diagnostic-array-bounds", match::exact, "", 787, "buffer-overflow", alone,
     "semantic, constant index"},
    {"clang-tidy", "clang-diagnostic-division-by-zero", match::exact, "", 369, "divide-by-zero", alone, ""},
    {"clang-tidy", "clang-diagnostic-uninitialized", match::exact, "", 457, "uninitialized", corroborate, ""},
    {"clang-tidy", "clang-diagnostic-sometimes-uninitialized", match::exact, "", 457, "uninitialized",
     corroborate, ""},
    {"clang-tidy", "clang-diagnostic-mismatched-new-delete", match::exact, "", 762, "bad-free", alone, ""},
    {"clang-tidy", "clang-diagnostic-free-nonheap-object", match::exact, "", 590, "bad-free", alone, ""},
    {"clang-tidy", "clang-diagnostic-return-stack-address", match::exact, "", 562, "use-after-free", alone, ""},
    {"clang-tidy", "clang-diagnostic-int-conversion", match::exact, "", 704, "type-confusion", alone, ""},
    {"clang-tidy", "clang-diagnostic-int-to-pointer-cast", match::exact, "", 704, "type-confusion", alone, ""},
    {"clang-tidy", "readability-function-cognitive-complexity", match::exact, "", 0, "complexity", never,
     "a measure, not a defect (dev set: bad 8 / good 25 functions); shown with --all"},
    {"clang-tidy", "", match::prefix, "", 0, "style", never, "other checks (dead stores, narrowing, ...)"},
    // --- cppcheck 2.10 ----------------------------------------------------------
    {"cppcheck", "doubleFree", match::exact, "", 415, "use-after-free", alone, "dev set: bad 8 / good 0"},
    {"cppcheck", "deallocuse", match::exact, "", 416, "use-after-free", alone, "dev set: bad 1 / good 0"},
    {"cppcheck", "useAfterFree", match::exact, "", 416, "use-after-free", alone, ""},
    {"cppcheck", "deallocret", match::exact, "", 416, "use-after-free", alone, ""},
    {"cppcheck", "returnDanglingLifetime", match::exact, "", 562, "use-after-free", alone, ""},
    {"cppcheck", "invalidLifetime", match::exact, "", 590, "bad-free", alone,
     "a pointer to memory whose lifetime ended; dev set: bad 14 / good 0"},
    {"cppcheck", "autovarInvalidDeallocation", match::exact, "", 590, "bad-free", alone, "dev set: bad 6 / good 0"},
    {"cppcheck", "mismatchAllocDealloc", match::exact, "", 762, "bad-free", alone, ""},
    {"cppcheck", "resourceLeak", match::exact, "", 775, "resource-leak", alone, "dev set: bad 8 / good 0"},
    {"cppcheck", "memleakOnRealloc", match::exact, "", 401, "resource-leak", alone, "dev set: bad 1 / good 0"},
    {"cppcheck", "memleak", match::exact, "", 401, "resource-leak", weak, "dev set: bad 0 / good 12"},
    {"cppcheck", "leakReturnValNotUsed", match::exact, "", 401, "resource-leak", corroborate, ""},
    {"cppcheck", "leakNoVarFunctionCall", match::exact, "", 401, "resource-leak", corroborate, ""},
    {"cppcheck", "pointerOutOfBounds", match::exact, "", 823, "buffer-overflow", alone, "dev set: bad 6 / good 0"},
    {"cppcheck", "bufferAccessOutOfBounds", match::exact, "", 788, "buffer-overflow", alone,
     "dev set: bad 5 / good 0"},
    {"cppcheck", "arrayIndexOutOfBounds", match::exact, "", 788, "buffer-overflow", alone, "dev set: bad 1 / good 0"},
    {"cppcheck", "arrayIndexOutOfBoundsCond", match::exact, "", 788, "buffer-overflow", corroborate, ""},
    {"cppcheck", "negativeIndex", match::exact, "", 786, "buffer-overflow", alone, "dev set: bad 2 / good 0"},
    {"cppcheck", "outOfBounds", match::exact, "", 788, "buffer-overflow", alone, ""},
    {"cppcheck", "bufferNotZeroTerminated", match::exact, "", 170, "buffer-overflow", corroborate, ""},
    {"cppcheck", "nullPointerRedundantCheck", match::exact, "", 476, "null-deref", alone, "dev set: bad 3 / good 0"},
    {"cppcheck", "nullPointer", match::exact, "", 476, "null-deref", corroborate, "dev set: bad 14 / good 24"},
    {"cppcheck", "nullPointerArithmetic", match::exact, "", 476, "null-deref", corroborate, ""},
    {"cppcheck", "ctunullpointer", match::exact, "", 476, "null-deref", corroborate, ""},
    {"cppcheck", "uninitdata", match::exact, "", 457, "uninitialized", alone, "dev set: bad 3 / good 0"},
    {"cppcheck", "uninitvar", match::exact, "", 457, "uninitialized", weak, "dev set: bad 4 / good 32"},
    {"cppcheck", "legacyUninitvar", match::exact, "", 457, "uninitialized", corroborate, ""},
    {"cppcheck", "uninitStructMember", match::exact, "", 457, "uninitialized", corroborate,
     "dev set: bad 4 / good 2"},
    {"cppcheck", "zerodiv", match::exact, "", 369, "divide-by-zero", alone, "dev set: bad 1 / good 0"},
    {"cppcheck", "zerodivcond", match::exact, "", 369, "divide-by-zero", corroborate, ""},
    {"cppcheck", "integerOverflow", match::exact, "", 190, "integer-overflow", corroborate, ""},
    {"cppcheck", "getsCalled", match::exact, "", 242, "dangerous-function", alone, "gets() cannot be used safely"},
    {"cppcheck", "obsoleteFunctionsgets", match::exact, "", 242, "dangerous-function", alone,
     "gets() cannot be used safely"},
    {"cppcheck", "wrongPrintfScanfArgNum", match::exact, "", 628, "format-string", corroborate, ""},
    {"cppcheck", "", match::prefix, "", 0, "style", never, "style and portability checks"},
    // --- flawfinder (lexical: a function's name) --------------------------------
    {"flawfinder", "gets", match::exact, "", 242, "dangerous-function", alone, "gets() cannot be used safely"},
    {"flawfinder", "strcpy", match::exact, "", 120, "buffer-overflow", lexical, "dev set: bad 8 / good 59"},
    {"flawfinder", "strcat", match::exact, "", 120, "buffer-overflow", lexical, "dev set: bad 2 / good 27"},
    {"flawfinder", "memcpy", match::exact, "", 120, "buffer-overflow", lexical, "dev set: bad 22 / good 38"},
    {"flawfinder", "strncpy", match::exact, "", 120, "buffer-overflow", lexical, "dev set: bad 10 / good 14"},
    {"flawfinder", "strncat", match::exact, "", 120, "buffer-overflow", lexical, ""},
    {"flawfinder", "sprintf", match::exact, "", 120, "buffer-overflow", lexical, ""},
    {"flawfinder", "vsprintf", match::exact, "", 120, "buffer-overflow", lexical, ""},
    {"flawfinder", "printf", match::exact, "", 134, "format-string", lexical, "dev set: bad 4 / good 10"},
    {"flawfinder", "fprintf", match::exact, "", 134, "format-string", lexical, ""},
    {"flawfinder", "vfprintf", match::exact, "", 134, "format-string", lexical, ""},
    {"flawfinder", "vprintf", match::exact, "", 134, "format-string", lexical, ""},
    {"flawfinder", "snprintf", match::exact, "", 134, "format-string", lexical, ""},
    {"flawfinder", "vsnprintf", match::exact, "", 134, "format-string", lexical, ""},
    {"flawfinder", "syslog", match::exact, "", 134, "format-string", lexical, ""},
    {"flawfinder", "system", match::exact, "", 78, "command-injection", lexical, ""},
    {"flawfinder", "popen", match::exact, "", 78, "command-injection", lexical, ""},
    {"flawfinder", "execl", match::prefix, "", 78, "command-injection", lexical, ""},
    {"flawfinder", "execv", match::prefix, "", 78, "command-injection", lexical, ""},
    {"flawfinder", "", match::prefix, "", 0, "style", never, "static buffers, atoi, ... (dev set: char bad 109 / good 284)"},
    // --- reviewer/flow: data flow on clang's AST (flow.cpp) ----------------------
    {"flow", "flow/command-injection", match::exact, "", 78, "command-injection", alone,
     "data flow: input reaches a command with no check on the way"},
    {"flow", "flow/format-string", match::exact, "", 134, "format-string", alone,
     "data flow: input is the format"},
    {"flow", "flow/integer-overflow", match::exact, "", 190, "integer-overflow", alone,
     "data flow: input or a type's maximum reaches + * ++ with no upper bound checked"},
    {"flow", "flow/integer-underflow", match::exact, "", 191, "integer-overflow", alone,
     "data flow: input or a type's minimum reaches - -- with no lower bound checked"},
    {"flow", "flow/divide-by-zero", match::exact, "", 369, "divide-by-zero", alone,
     "data flow: input or zero is the divisor, not checked against zero"},
    {"flow", "flow/unchecked-index", match::exact, "", 129, "buffer-overflow", alone,
     "data flow: input is an index without both bounds checked"},
    {"flow", "flow/index-out-of-bounds", match::exact, "", 787, "buffer-overflow", alone,
     "data flow: a constant index outside its array on every path"},
    {"flow", "flow/uninitialized", match::exact, "", 457, "uninitialized", alone,
     "data flow: read before any value is stored, on every path"},
    {"flow", "flow/unchecked-allocation", match::exact, "", 690, "null-deref", alone,
     "data flow: an allocation's result used before any NULL check"},
    // --- the built-in reviewers -------------------------------------------------
    {"security", "security/dangerous-function", match::exact, "", 242, "dangerous-function", alone,
     "gets() cannot be used safely"},
    {"security", "security/unbounded-copy", match::exact, "", 120, "buffer-overflow", lexical,
     "a call of an unbounded copy, whatever its sizes"},
    {"security", "security/shell-command", match::exact, "", 78, "command-injection", lexical,
     "a command built at run time"},
    {"complexity", "complexity/function", match::exact, "", 0, "complexity", never,
     "a measure, not a defect (dev set: bad 8 / good 25 functions); shown with --all"},
};

bool matches(const row& r, const std::string& tool, const std::string& rule, const std::string& lower_msg) {
  if (tool != r.tool) return false;
  if (r.how == match::exact ? rule != r.rule : rule.rfind(r.rule, 0) != 0) return false;
  return !*r.message || lower_msg.find(r.message) != std::string::npos;
}

}  // namespace

const char* to_string(trust t) {
  switch (t) {
    case trust::alone: return "alone";
    case trust::corroborate: return "corroborate";
    case trust::lexical: return "lexical";
    case trust::weak: return "weak";
    case trust::never: return "never";
  }
  return "never";
}

rule_info lookup_rule(const std::string& tool, const std::string& rule, const std::string& message) {
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& r : table)
    if (matches(r, tool, rule, lower)) return {r.cwe, r.family, r.level, r.why};
  // A reviewer the table does not know (an LLM, an extra reviewer): its
  // word needs another reviewer's; its own category stays the family.
  return {0, "", trust::corroborate, "a reviewer without a rules table: needs another reviewer"};
}

std::string cwe_family(int cwe) {
  static const std::map<int, std::string> families = [] {
    std::map<int, std::string> m;
    for (const auto& r : table)
      if (r.cwe != 0) m.emplace(r.cwe, r.family);
    // Relatives the tools do not name but a reader (and the scoring) does.
    for (int c : {119, 121, 122, 124, 125, 126, 127, 129, 131, 170, 193, 786, 787, 788, 805, 806}) m[c] = "buffer-overflow";
    for (int c : {401, 404, 459, 772, 775}) m[c] = "resource-leak";
    for (int c : {476, 690, 252}) m[c] = "null-deref";
    for (int c : {415, 416, 825}) m[c] = "use-after-free";
    for (int c : {590, 761, 762, 763}) m[c] = "bad-free";
    for (int c : {190, 191, 680}) m[c] = "integer-overflow";
    for (int c : {242, 676}) m[c] = "dangerous-function";
    m[78] = "command-injection";
    m[134] = "format-string";
    m[369] = "divide-by-zero";
    m[457] = "uninitialized";
    m[908] = "uninitialized";
    return m;
  }();
  auto it = families.find(cwe);
  return it == families.end() ? "" : it->second;
}

json rules_table() {
  json out = json::array();
  for (const auto& r : table)
    out.push_back({{"tool", r.tool},
                   {"rule", std::string(r.rule) + (r.how == match::prefix ? "*" : "")},
                   {"message", r.message},
                   {"cwe", r.cwe},
                   {"family", r.family},
                   {"trust", to_string(r.level)},
                   {"why", r.why}});
  return out;
}

}  // namespace agora::cli::review
