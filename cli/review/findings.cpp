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
          {"evidence", f.evidence}, {"cwe", f.cwe}};
}

json to_merged_json(const finding& f) {
  json j = to_json(f);
  j["found_by"] = f.found_by;
  j["rules"] = f.rules;
  j["reported"] = f.reported;
  j["kept_because"] = f.kept_because;
  if (!f.judge.empty()) j["judge"] = f.judge;
  if (!f.context.empty()) j["context"] = {{"first", f.context_first}, {"lines", f.context}};
  return j;
}

void add_context(std::vector<finding>& findings, const source_tree& tree, int radius) {
  for (auto& f : findings) {
    const source_file* file = tree.find(f.file);
    if (!file || file->lines.empty()) continue;
    const int last = static_cast<int>(file->lines.size());
    const int from = std::max(1, f.line - radius);
    const int to = std::min(last, f.line + radius);
    f.context.clear();
    f.context_first = from;
    for (int i = from; i <= to; ++i) f.context.push_back(file->lines[static_cast<std::size_t>(i - 1)]);
  }
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
    f.cwe = j.value("cwe", 0);
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
                    {"evidence", {{"type", "string"}}},
                    {"cwe", {{"type", "integer"}, {"minimum", 0}}}}}}}};
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
      {"buffer-overflow", "high"},    {"command-injection", "high"},  {"format-string", "high"},
      {"null-deref", "high"},         {"uninitialized", "high"},      {"use-after-free", "high"},
      {"bad-free", "high"},           {"dangerous-function", "high"}, {"type-confusion", "high"},
      {"integer-overflow", "medium"}, {"divide-by-zero", "medium"},   {"resource-leak", "medium"},
      {"complexity", "medium"},       {"bug", "medium"},              {"style", "low"}};
  auto it = table.find(c);
  return it == table.end() ? "" : it->second;
}

namespace {

bool starts(const std::string& s, const char* what) { return s.rfind(what, 0) == 0; }

}  // namespace

// --- The source tree ---------------------------------------------------------

std::string source_tree::line_of(const std::string& file, int line) const {
  const source_file* f = find(file);
  return f && line >= 1 && std::size_t(line) <= f->lines.size() ? f->lines[std::size_t(line) - 1] : "";
}

const source_file* source_tree::find(const std::string& path) const {
  if (index_.size() == files.size()) {
    auto it = index_.find(path);
    return it == index_.end() ? nullptr : &files[it->second];
  }
  for (const auto& f : files)  // a tree built by hand, not indexed
    if (f.path == path) return &f;
  return nullptr;
}

void source_tree::reindex() {
  index_.clear();
  for (std::size_t i = 0; i < files.size(); ++i) index_.emplace(files[i].path, i);
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
  tree.reindex();
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
  return tree.find(rel) ? rel : "";
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

// The finding of tool `tool`'s `rule` at file:line, with the rules table's
// CWE, family and the family's severity (the tool's own severity for
// families without one).
finding tool_finding(const std::string& tool, const std::string& file, int line, const std::string& rule,
                     const std::string& message, const std::string& tool_sev, const source_tree& tree) {
  finding f;
  f.file = file;
  f.line = std::max(1, line);
  f.rule = rule;
  f.message = message.empty() ? rule : message;
  const auto info = lookup_rule(tool, rule, message);
  f.cwe = info.cwe;
  f.category = info.family.empty() ? "bug" : info.family;
  f.severity = category_severity(f.category);
  if (f.category == "bug" || f.category == "style" || f.severity.empty())
    f.severity = tool_sev == "error" ? "high" : tool_sev == "warning" ? "medium" : "low";
  f.evidence = tree.line_of(f.file, f.line);
  return f;
}

void add_failure(std::vector<not_analysed>* failed, const std::string& file, const std::string& reason) {
  if (!failed) return;
  for (const auto& n : *failed)
    if (n.file == file) return;  // the first error is the reason
  failed->push_back({"", file, reason});
}

}  // namespace

bb::result<std::vector<finding>> parse_cppcheck_xml(const std::string& xml, const source_tree& tree,
                                                    std::vector<not_analysed>* failed) {
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
    std::string file, line;
    if (loc != std::string::npos) {
      const std::string ltag = body.substr(loc, body.find('>', loc) - loc);
      file = tree_path(attr(ltag, "file"), tree);
      line = attr(ltag, "line");
    }
    // cppcheck could not parse or preprocess the file: nothing in it was checked.
    if (id == "syntaxError" || id == "preprocessorErrorDirective" || id == "internalAstError" ||
        id == "unknownMacro" || id == "cppcheckError" || id == "internalError" || starts(id, "syntaxError")) {
      if (!file.empty())
        add_failure(failed, file, "cppcheck " + id + " at line " + line + ": " + attr(tag, "msg"));
      continue;
    }
    if (file.empty()) continue;
    out.push_back(tool_finding("cppcheck", file, std::atoi(line.c_str()), id, attr(tag, "msg"),
                               attr(tag, "severity"), tree));
  }
  return out;
}

namespace {

// `path:line:col: KIND: message` → its parts; false when the line is not one.
bool diagnostic_line(const std::string& l, std::string& path, int& line, std::string& kind, std::string& rest) {
  for (const char* k : {": warning: ", ": error: ", ": fatal error: "}) {
    auto kp = l.find(k);
    if (kp == std::string::npos) continue;
    const std::string head = l.substr(0, kp);  // path:line:col
    auto c2 = head.rfind(':');
    if (c2 == std::string::npos || c2 == 0) return false;
    auto c1 = head.rfind(':', c2 - 1);
    if (c1 == std::string::npos || c1 == 0) return false;
    path = head.substr(0, c1);
    line = std::atoi(head.substr(c1 + 1, c2 - c1 - 1).c_str());
    kind = std::string(k).substr(2, std::strlen(k) - 4);
    rest = l.substr(kp + std::strlen(k));
    return line > 0;
  }
  return false;
}

}  // namespace

std::vector<finding> parse_clang_tidy(const std::string& text, const source_tree& tree,
                                      std::vector<not_analysed>* failed) {
  std::vector<finding> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    std::string path, kind, rest;
    int line = 0;
    if (!diagnostic_line(l, path, line, kind, rest)) continue;
    const std::string file = tree_path(path, tree);
    std::string rule, message = rest;
    if (!rest.empty() && rest.back() == ']') {
      auto open = rest.rfind(" [");
      if (open != std::string::npos) {
        rule = rest.substr(open + 2, rest.size() - open - 3);
        message = rest.substr(0, open);
        if (rule.find(',') != std::string::npos) rule = rule.substr(0, rule.find(','));
      }
    }
    if (kind != "warning" || rule == "clang-diagnostic-error" || rule.empty()) {
      // The compiler could not parse: the file (or the one that includes
      // this header) was not analysed.
      if (kind != "warning") add_failure(failed, file.empty() ? path : file, path + ":" + std::to_string(line) + ": " + kind + ": " + message);
      continue;
    }
    if (file.empty()) continue;
    out.push_back(tool_finding("clang-tidy", file, line, rule, message, "warning", tree));
  }
  return out;
}

bb::result<std::vector<finding>> parse_gcc_json(const std::string& text, const source_tree& tree,
                                                std::vector<not_analysed>* failed) {
  // GCC prints one JSON array (per translation unit) on stderr; other lines
  // (a linker, a crash) may come around it.
  auto start = text.find('[');
  auto end = text.rfind(']');
  if (start == std::string::npos || end == std::string::npos || end < start)
    return bb::error{bb::errc::invalid_argument, "gcc printed no JSON diagnostics"};
  auto j = json::parse(text.substr(start, end - start + 1), nullptr, false);
  if (j.is_discarded() || !j.is_array())
    return bb::error{bb::errc::invalid_argument, "gcc's diagnostics are not a JSON array"};
  std::vector<finding> out;
  for (const auto& d : j) {
    if (!d.is_object()) continue;
    const std::string kind = d.value("kind", "");
    const std::string message = d.value("message", "");
    std::string path;
    int line = 0;
    const json& locs = d.contains("locations") && d["locations"].is_array() ? d["locations"] : json::array();
    if (!locs.empty() && locs[0].is_object() && locs[0].contains("caret") && locs[0]["caret"].is_object()) {
      path = locs[0]["caret"].value("file", "");
      line = locs[0]["caret"].value("line", 0);
    }
    const std::string file = path.empty() ? "" : tree_path(path, tree);
    if (kind == "error" || kind == "fatal error" || kind == "sorry") {
      add_failure(failed, file.empty() ? path : file,
                  path + ":" + std::to_string(line) + ": " + kind + ": " + message);
      continue;
    }
    if (kind != "warning" || file.empty()) continue;
    std::string rule = d.value("option", "");
    if (rule.empty()) rule = "gcc-warning";
    finding f = tool_finding("gcc", file, line, rule, message, "warning", tree);
    // The analyzer's path, as evidence a reader can follow.
    if (d.contains("path") && d["path"].is_array() && !d["path"].empty()) {
      std::string steps;
      std::size_t n = 0;
      for (const auto& e : d["path"]) {
        if (!e.is_object() || ++n > 12) continue;
        int l = 0;
        if (e.contains("location") && e["location"].is_object()) l = e["location"].value("line", 0);
        const std::string desc = e.contains("description") && e["description"].is_string()
                                     ? e["description"].get<std::string>()
                                     : "";
        steps += "\n  (" + std::to_string(n) + ") line " + std::to_string(l) + ": " + desc;
      }
      f.message += " [path:" + steps + "]";
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<finding> parse_flawfinder_csv(const std::string& text, const source_tree& tree) {
  // File,Line,Column,DefaultLevel,Level,Category,Name,Warning,Suggestion,Note,CWEs,Context,Fingerprint,...
  std::vector<finding> out;
  std::istringstream in(text);
  std::string l;
  std::vector<std::string> header;
  auto split = [](const std::string& row) {
    std::vector<std::string> cells;
    std::string cur;
    bool q = false;
    for (std::size_t i = 0; i < row.size(); ++i) {
      char c = row[i];
      if (q) {
        if (c == '"' && i + 1 < row.size() && row[i + 1] == '"') {
          cur += '"';
          ++i;
        } else if (c == '"') {
          q = false;
        } else {
          cur += c;
        }
      } else if (c == '"') {
        q = true;
      } else if (c == ',') {
        cells.push_back(std::move(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
    cells.push_back(std::move(cur));
    return cells;
  };
  if (!std::getline(in, l)) return out;
  header = split(l);
  auto col = [&header](const char* name) -> std::size_t {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? std::string::npos : std::size_t(it - header.begin());
  };
  const auto c_file = col("File"), c_line = col("Line"), c_name = col("Name"), c_warn = col("Warning");
  if (c_file == std::string::npos || c_line == std::string::npos || c_name == std::string::npos) return out;
  while (std::getline(in, l)) {
    auto cells = split(l);
    if (cells.size() <= std::max({c_file, c_line, c_name})) continue;
    const std::string file = tree_path(cells[c_file], tree);
    if (file.empty()) continue;
    const std::string msg = c_warn < cells.size() ? cells[c_warn] : cells[c_name];
    out.push_back(tool_finding("flawfinder", file, std::atoi(cells[c_line].c_str()), cells[c_name],
                               cells[c_name] + ": " + msg, "warning", tree));
  }
  return out;
}

// --- Coverage ----------------------------------------------------------------

json to_json(const coverage& c) {
  json files = json::array();
  for (const auto& n : c.files) files.push_back({{"file", n.file}, {"reason", n.reason}});
  return {{"analysed", c.analysed}, {"not_analysed", files}};
}

coverage coverage_from_json(const json& j, const std::string& reviewer) {
  coverage c;
  if (!j.is_object()) return c;
  c.analysed = j.value("analysed", std::size_t(0));
  if (j.contains("not_analysed") && j["not_analysed"].is_array())
    for (const auto& n : j["not_analysed"])
      if (n.is_object()) c.files.push_back({reviewer, n.value("file", ""), n.value("reason", "")});
  return c;
}

// --- Consensus ---------------------------------------------------------------

namespace {

std::string short_name(const std::string& reviewer_id) { return reviewer_id.substr(reviewer_id.find('/') + 1); }

}  // namespace

bool consensus_reports(finding& merged, const std::vector<std::pair<std::string, finding>>& members,
                       const consensus_options& opts) {
  std::set<std::string> agreeing, semantic;
  for (const auto& [who, f] : members) {
    const auto info = lookup_rule(short_name(who), f.rule, f.message);
    if (info.trust == trust::never || info.trust == trust::weak) continue;
    if (info.trust == trust::alone) {
      merged.kept_because = "trusted alone: " + short_name(who) + " " + f.rule + " (" + info.why + ")";
      return true;
    }
    agreeing.insert(who);
    if (info.trust != trust::lexical) semantic.insert(who);
  }
  const std::size_t need = std::max<std::size_t>(1, opts.min_agree);
  if (agreeing.size() >= need && !semantic.empty()) {
    merged.kept_because = "consensus: " + std::to_string(agreeing.size()) + " reviewers agree";
    return true;
  }
  bool weak_only = !members.empty() && agreeing.empty();
  for (const auto& [who, f] : members)
    weak_only = weak_only && lookup_rule(short_name(who), f.rule, f.message).trust != trust::never;
  if (weak_only)
    merged.kept_because = "only rules measured wrong more often than right (docs/review.md, Calibration)";
  else if (agreeing.empty())
    merged.kept_because = "not a defect claim (style, or a rule without a CWE)";
  else if (semantic.empty())
    merged.kept_because = "only lexical evidence (a function's name): needs an analysis to agree";
  else
    merged.kept_because = "one reviewer alone, and its rule needs another to agree";
  return false;
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
    return std::tie(a.f.file, a.f.category, a.f.line, a.who, a.f.rule) <
           std::tie(b.f.file, b.f.category, b.f.line, b.who, b.f.rule);
  });
  struct group {
    finding merged;
    std::vector<std::pair<std::string, finding>> members;
  };
  std::vector<group> groups;
  for (auto& t : all) {
    group* g = groups.empty() ? nullptr : &groups.back();
    const std::string tagged_rule = short_name(t.who) + ":" + t.f.rule;
    if (g && g->merged.file == t.f.file && g->merged.category == t.f.category &&
        t.f.line - g->merged.line <= std::max(0, opts.window)) {
      auto& m = g->merged;
      if (std::find(m.found_by.begin(), m.found_by.end(), t.who) == m.found_by.end()) m.found_by.push_back(t.who);
      if (std::find(m.rules.begin(), m.rules.end(), tagged_rule) == m.rules.end()) m.rules.push_back(tagged_rule);
      if (severity_rank(t.f.severity) > severity_rank(m.severity)) m.severity = t.f.severity;
      if (m.cwe == 0) m.cwe = t.f.cwe;
      if (m.evidence.empty()) m.evidence = t.f.evidence;
      g->members.emplace_back(t.who, t.f);
      continue;
    }
    group ng;
    ng.merged = t.f;
    ng.merged.found_by = {t.who};
    ng.merged.rules = {tagged_rule};
    ng.members.emplace_back(t.who, t.f);
    groups.push_back(std::move(ng));
  }
  std::vector<finding> out;
  for (auto& g : groups) {
    g.merged.reported = consensus_reports(g.merged, g.members, opts);
    // The message and rule shown are the most trusted member's.
    for (const auto& [who, f] : g.members)
      if (lookup_rule(short_name(who), f.rule, f.message).trust == trust::alone) {
        g.merged.message = f.message;
        g.merged.rule = f.rule;
        if (f.cwe != 0) g.merged.cwe = f.cwe;
        break;
      }
    std::sort(g.merged.found_by.begin(), g.merged.found_by.end());
    out.push_back(std::move(g.merged));
  }
  std::stable_sort(out.begin(), out.end(), [](const finding& a, const finding& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  return out;
}

}  // namespace agora::cli::review
