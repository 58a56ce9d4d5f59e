// Findings: the contribution contract, categories, the source tree, the
// tools' parsers and the consensus.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "review/review.hpp"

namespace agora::cli::review {

namespace fs = std::filesystem;

json to_json(const finding& f) {
  return {{"file", f.file},         {"line", f.line},         {"rule", f.rule},
          {"category", f.category}, {"severity", f.severity}, {"message", f.message},
          {"evidence", f.evidence}};
}

json to_merged_json(const finding& f) {
  json j = to_json(f);
  j["found_by"] = f.found_by;
  j["rules"] = f.rules;
  j["reported"] = f.reported;
  if (!f.judge.empty()) j["judge"] = f.judge;
  return j;
}

bb::result<finding> finding_from_json(const json& j) {
  if (!j.is_object()) return bb::error{bb::errc::invalid_argument, "a finding is not an object"};
  finding f;
  try {
    f.file = j.at("file").get<std::string>();
    f.line = j.at("line").get<int>();
    f.rule = j.at("rule").get<std::string>();
    f.category = j.at("category").get<std::string>();
    f.severity = j.at("severity").get<std::string>();
    f.message = j.at("message").get<std::string>();
    f.evidence = j.at("evidence").get<std::string>();
  } catch (const json::exception& e) {
    return bb::error{bb::errc::invalid_argument, std::string("bad finding: ") + e.what()};
  }
  return f;
}

const json& findings_schema() {
  static const json schema = [] {
    json str = {{"type", "string"}, {"minLength", 1}};
    return json{{"type", "array"},
                {"items",
                 {{"type", "object"},
                  {"required", {"file", "line", "rule", "category", "severity", "message", "evidence"}},
                  {"additionalProperties", false},
                  {"properties",
                   {{"file", str},
                    {"line", {{"type", "integer"}, {"minimum", 1}}},
                    {"rule", str},
                    {"category", str},
                    {"severity", {{"type", "string"}, {"enum", {"low", "medium", "high"}}}},
                    {"message", str},
                    {"evidence", {{"type", "string"}}}}}}}};
  }();
  return schema;
}

int severity_rank(const std::string& s) {
  if (s == "high") return 3;
  if (s == "medium") return 2;
  if (s == "low") return 1;
  return 0;
}

std::string category_severity(const std::string& c) {
  static const std::map<std::string, std::string> table = {
      {"buffer-overflow", "high"},   {"command-injection", "high"}, {"null-deref", "high"},
      {"uninitialized", "high"},     {"use-after-free", "high"},    {"resource-leak", "medium"},
      {"complexity", "medium"},      {"bug", "medium"},             {"style", "low"}};
  auto it = table.find(c);
  return it == table.end() ? "" : it->second;
}

namespace {

bool has(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }
bool starts(const std::string& s, const char* what) { return s.rfind(what, 0) == 0; }

}  // namespace

std::string category_of(const std::string& tool, const std::string& rule, const std::string& message,
                        const std::string& tool_severity) {
  if (tool == "cppcheck") {
    static const std::map<std::string, std::string> ids = {
        {"bufferAccessOutOfBounds", "buffer-overflow"}, {"arrayIndexOutOfBounds", "buffer-overflow"},
        {"outOfBounds", "buffer-overflow"},             {"bufferNotZeroTerminated", "buffer-overflow"},
        {"negativeIndex", "buffer-overflow"},           {"arrayIndexOutOfBoundsCond", "buffer-overflow"},
        {"insecureCmdLineArgs", "buffer-overflow"},     {"dangerousUseOfStrcpy", "buffer-overflow"},
        {"resourceLeak", "resource-leak"},              {"memleak", "resource-leak"},
        {"memleakOnRealloc", "resource-leak"},          {"leakReturnValNotUsed", "resource-leak"},
        {"leakNoVarFunctionCall", "resource-leak"},     {"nullPointer", "null-deref"},
        {"nullPointerRedundantCheck", "null-deref"},    {"nullPointerDefaultArg", "null-deref"},
        {"nullPointerArithmetic", "null-deref"},        {"ctunullpointer", "null-deref"},
        {"uninitvar", "uninitialized"},                 {"legacyUninitvar", "uninitialized"},
        {"uninitdata", "uninitialized"},                {"uninitMemberVar", "uninitialized"},
        {"uninitStructMember", "uninitialized"},        {"ctuuninitvar", "uninitialized"},
        {"doubleFree", "use-after-free"},               {"deallocuse", "use-after-free"},
        {"useAfterFree", "use-after-free"},             {"invalidLifetime", "use-after-free"},
        {"returnDanglingLifetime", "use-after-free"}};
    auto it = ids.find(rule);
    if (it != ids.end()) return it->second;
    return tool_severity == "error" || tool_severity == "warning" ? "bug" : "style";
  }
  // clang-tidy
  if (has(rule, "insecureAPI.strcpy") || has(rule, "insecureAPI.gets") || has(rule, "ArrayBound") ||
      rule == "bugprone-not-null-terminated-result" || rule == "cert-str31-c" ||
      has(rule, "insecureAPI.DeprecatedOrUnsafeBufferHandling"))
    return "buffer-overflow";
  if (rule == "cert-env33-c") return "command-injection";
  if (rule == "readability-function-cognitive-complexity") return "complexity";
  if (has(rule, "core.uninitialized") || rule == "clang-analyzer-core.UndefinedBinaryOperatorResult" ||
      (starts(rule, "clang-analyzer-core.") && (has(message, "uninitialized") || has(message, "garbage"))))
    return "uninitialized";
  if (has(rule, "NullDereference") || has(rule, "NonNullParamChecker") || has(message, "null pointer"))
    return "null-deref";
  if ((has(rule, "unix.Malloc") || has(rule, "NewDeleteLeaks") || has(rule, "unix.Stream")) &&
      (has(message, "leak") || has(message, "Leak")))
    return "resource-leak";
  if (has(rule, "unix.Malloc") || has(rule, "NewDelete") || has(message, "released memory"))
    return "use-after-free";
  if (starts(rule, "clang-analyzer-deadcode") || starts(rule, "readability-")) return "style";
  return "bug";
}

// --- The source tree ---------------------------------------------------------

std::string source_tree::line_of(const std::string& file, int line) const {
  for (const auto& f : files)
    if (f.path == file) return line >= 1 && std::size_t(line) <= f.lines.size() ? f.lines[line - 1] : "";
  return "";
}

namespace {

bool is_source(const fs::path& p) {
  static const std::set<std::string> exts = {".c", ".cc", ".cpp", ".cxx", ".h", ".hpp"};
  return exts.count(p.extension().string()) != 0;
}

bool skipped_dir(const std::string& name) {
  return !name.empty() && (name[0] == '.' || name == "build" || starts(name, "build-") ||
                           starts(name, "cmake-build") || name == "CMakeFiles" || name == "node_modules");
}

bb::status read_lines(const fs::path& p, std::vector<std::string>& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return bb::error{bb::errc::io_error, "cannot read " + p.string()};
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(std::move(l));
  }
  return {};
}

}  // namespace

bb::result<source_tree> load_source_tree(const std::string& path) {
  std::error_code ec;
  fs::path target(path);
  if (!fs::exists(target, ec))
    return bb::error{bb::errc::invalid_argument, "no such file or directory: " + path};
  source_tree tree;
  tree.target = path;
  std::vector<fs::path> found;
  if (fs::is_directory(target, ec)) {
    tree.root = fs::weakly_canonical(fs::absolute(target), ec).string();
    fs::recursive_directory_iterator it(target, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) return bb::error{bb::errc::io_error, "cannot list " + path + ": " + ec.message()};
    for (; it != end; it.increment(ec)) {
      if (ec) return bb::error{bb::errc::io_error, "cannot list " + path + ": " + ec.message()};
      const auto name = it->path().filename().string();
      if (it->is_directory(ec)) {
        if (skipped_dir(name)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && is_source(it->path())) found.push_back(it->path());
    }
  } else {
    if (!is_source(target))
      return bb::error{bb::errc::invalid_argument,
                       path + " is not a C or C++ source file (.c .cc .cpp .cxx .h .hpp)"};
    auto abs = fs::weakly_canonical(fs::absolute(target), ec);
    tree.root = abs.parent_path().string();
    found.push_back(target);
  }
  for (const auto& p : found) {
    source_file f;
    auto abs = fs::weakly_canonical(fs::absolute(p), ec);
    f.path = fs::relative(abs, tree.root, ec).generic_string();
    if (auto s = read_lines(p, f.lines); !s) return s.error();
    tree.files.push_back(std::move(f));
  }
  std::sort(tree.files.begin(), tree.files.end(),
            [](const source_file& a, const source_file& b) { return a.path < b.path; });
  return tree;
}

namespace {

// A tool's path (absolute, or relative to the root it ran in) as a path
// of the tree; "" when it is not one of the tree's files.
std::string tree_path(const std::string& tool_path, const source_tree& tree) {
  std::error_code ec;
  fs::path p(tool_path);
  if (p.is_relative()) p = fs::path(tree.root) / p;
  auto rel = fs::relative(fs::weakly_canonical(p, ec), tree.root, ec).generic_string();
  for (const auto& f : tree.files)
    if (f.path == rel) return rel;
  return "";
}

std::string xml_unescape(std::string s) {
  static const std::pair<const char*, const char*> ents[] = {
      {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&#10;", "\n"}, {"&amp;", "&"}};
  for (const auto& [from, to] : ents)
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += std::strlen(to))
      s.replace(pos, std::strlen(from), to);
  return s;
}

// The value of attribute `name` in the tag text `tag`; "" when absent.
std::string attr(const std::string& tag, const std::string& name) {
  std::string needle = " " + name + "=\"";
  auto pos = tag.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  auto end = tag.find('"', pos);
  if (end == std::string::npos) return "";
  return xml_unescape(tag.substr(pos, end - pos));
}

std::string tool_severity_to_ours(const std::string& category, const std::string& tool_sev) {
  auto s = category_severity(category);
  if (category != "bug" && category != "style" && !s.empty()) return s;
  if (tool_sev == "error") return "high";
  if (tool_sev == "warning") return "medium";
  return "low";
}

}  // namespace

bb::result<std::vector<finding>> parse_cppcheck_xml(const std::string& xml, const source_tree& tree) {
  if (xml.find("<results") == std::string::npos)
    return bb::error{bb::errc::invalid_argument, "cppcheck output has no <results> element"};
  std::vector<finding> out;
  std::size_t pos = 0;
  while ((pos = xml.find("<error ", pos)) != std::string::npos) {
    auto tag_end = xml.find('>', pos);
    if (tag_end == std::string::npos) break;
    const std::string tag = xml.substr(pos, tag_end - pos);
    const bool self_closing = tag_end > 0 && xml[tag_end - 1] == '/';
    std::size_t block_end = self_closing ? tag_end : xml.find("</error>", tag_end);
    if (block_end == std::string::npos) block_end = xml.size();
    const std::string body = xml.substr(tag_end, block_end - tag_end);
    pos = block_end;
    const std::string id = attr(tag, "id");
    if (id.empty() || id == "missingInclude" || id == "missingIncludeSystem" || id == "checkersReport" ||
        id == "unmatchedSuppression" || id == "toomanyconfigs" || id == "normalCheckLevelMaxBranches")
      continue;
    // The first <location> is where the defect is.
    auto loc = body.find("<location ");
    if (loc == std::string::npos) continue;
    const std::string ltag = body.substr(loc, body.find('>', loc) - loc);
    const std::string file = tree_path(attr(ltag, "file"), tree);
    if (file.empty()) continue;
    finding f;
    f.file = file;
    f.line = std::max(1, std::atoi(attr(ltag, "line").c_str()));
    f.rule = id;
    const std::string sev = attr(tag, "severity");
    f.category = category_of("cppcheck", id, attr(tag, "msg"), sev);
    f.severity = tool_severity_to_ours(f.category, sev);
    f.message = attr(tag, "msg");
    if (f.message.empty()) f.message = id;
    f.evidence = tree.line_of(f.file, f.line);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<finding> parse_clang_tidy(const std::string& text, const source_tree& tree) {
  std::vector<finding> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    // path:line:col: warning: message [check]
    std::size_t kind_pos = l.find(": warning: ");
    std::size_t kind_len = 11;
    if (kind_pos == std::string::npos) {
      kind_pos = l.find(": error: ");
      kind_len = 9;
    }
    if (kind_pos == std::string::npos || l.back() != ']') continue;
    auto open = l.rfind(" [");
    if (open == std::string::npos || open < kind_pos) continue;
    const std::string head = l.substr(0, kind_pos);  // path:line:col
    auto c2 = head.rfind(':');
    if (c2 == std::string::npos) continue;
    auto c1 = head.rfind(':', c2 - 1);
    if (c1 == std::string::npos || c1 == 0) continue;
    const std::string file = tree_path(head.substr(0, c1), tree);
    if (file.empty()) continue;
    finding f;
    f.file = file;
    f.line = std::max(1, std::atoi(head.substr(c1 + 1, c2 - c1 - 1).c_str()));
    f.rule = l.substr(open + 2, l.size() - open - 3);
    f.message = l.substr(kind_pos + kind_len, open - kind_pos - kind_len);
    if (f.rule.find(',') != std::string::npos) f.rule = f.rule.substr(0, f.rule.find(','));
    if (f.rule == "clang-diagnostic-error") continue;  // the compiler could not parse: not a finding
    f.category = category_of("clang-tidy", f.rule, f.message, "warning");
    f.severity = category_severity(f.category);
    if (f.severity.empty()) f.severity = "medium";
    f.evidence = tree.line_of(f.file, f.line);
    out.push_back(std::move(f));
  }
  return out;
}

// --- Consensus ---------------------------------------------------------------

bool consensus_reports(const finding& merged, const std::vector<finding>& members,
                       const consensus_options& opts) {
  if (merged.found_by.size() >= std::max<std::size_t>(1, opts.min_agree)) return true;
  return std::any_of(members.begin(), members.end(), [](const finding& m) {
    return m.severity == "high" && !m.evidence.empty();
  });
}

std::vector<finding> merge_findings(const std::vector<std::pair<std::string, std::vector<finding>>>& by_reviewer,
                                    const consensus_options& opts) {
  struct tagged {
    std::string who;
    finding f;
  };
  std::vector<tagged> all;
  for (const auto& [who, list] : by_reviewer)
    for (const auto& f : list) all.push_back({who, f});
  std::stable_sort(all.begin(), all.end(), [](const tagged& a, const tagged& b) {
    // Reviewer ids break ties, so the result does not depend on the order
    // reviewers are given in (the swarm's reducer sees them in id order).
    return std::tie(a.f.file, a.f.category, a.f.line, a.who) < std::tie(b.f.file, b.f.category, b.f.line, b.who);
  });
  struct group {
    finding merged;
    std::vector<finding> members;
  };
  std::vector<group> groups;
  for (auto& t : all) {
    group* g = groups.empty() ? nullptr : &groups.back();
    if (g && g->merged.file == t.f.file && g->merged.category == t.f.category &&
        t.f.line - g->merged.line <= 1) {
      auto& m = g->merged;
      if (std::find(m.found_by.begin(), m.found_by.end(), t.who) == m.found_by.end()) m.found_by.push_back(t.who);
      if (std::find(m.rules.begin(), m.rules.end(), t.f.rule) == m.rules.end()) m.rules.push_back(t.f.rule);
      if (severity_rank(t.f.severity) > severity_rank(m.severity)) {
        m.severity = t.f.severity;
        m.message = t.f.message;
        m.rule = t.f.rule;
      }
      if (m.evidence.empty()) m.evidence = t.f.evidence;
      g->members.push_back(t.f);
      continue;
    }
    group ng;
    ng.merged = t.f;
    ng.merged.found_by = {t.who};
    ng.merged.rules = {t.f.rule};
    ng.members.push_back(t.f);
    groups.push_back(std::move(ng));
  }
  std::vector<finding> out;
  for (auto& g : groups) {
    g.merged.reported = consensus_reports(g.merged, g.members, opts);
    std::sort(g.merged.found_by.begin(), g.merged.found_by.end());
    out.push_back(std::move(g.merged));
  }
  std::stable_sort(out.begin(), out.end(), [](const finding& a, const finding& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  return out;
}

}  // namespace agora::cli::review
