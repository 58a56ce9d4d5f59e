// The review's outputs: terminal summary, Markdown, SARIF 2.1.0, JSON.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>

#include "review/review.hpp"

namespace agora::cli::review {

namespace {

constexpr const char* tool_version = "0.1.0";

std::string short_ids(const std::vector<std::string>& ids) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + id.substr(id.find('/') + 1);
  return s;
}

std::map<std::string, std::size_t> counts(const review_report& r, bool reported) {
  std::map<std::string, std::size_t> c = {{"high", 0}, {"medium", 0}, {"low", 0}};
  for (const auto& f : r.findings)
    if (f.reported == reported) ++c[f.severity];
  return c;
}

std::size_t count_if_reported(const review_report& r, bool reported) {
  return static_cast<std::size_t>(std::count_if(r.findings.begin(), r.findings.end(),
                                                [reported](const finding& f) { return f.reported == reported; }));
}

std::string pad(std::string s, std::size_t n) {
  if (s.size() < n) s.append(n - s.size(), ' ');
  return s;
}

std::string md_cell(std::string s) {
  for (std::size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string cwe_text(int cwe) { return cwe > 0 ? "CWE-" + std::to_string(cwe) : "-"; }

std::string consensus_text(const review_report& r) {
  return "a rule trusted alone, or " + std::to_string(r.consensus.min_agree) +
         " reviewers agreeing (not only by a function's name)";
}

// Files not analysed, by reviewer: "gcc: 3 file(s)".
std::map<std::string, std::vector<const not_analysed*>> unanalysed_by_reviewer(const review_report& r) {
  std::map<std::string, std::vector<const not_analysed*>> by;
  for (const auto& n : r.unanalysed) by[n.reviewer].push_back(&n);
  return by;
}

constexpr std::size_t listed_unanalysed = 10;

}  // namespace

std::string to_terminal(const review_report& r, bool colour, bool all) {
  const char* red = colour ? "\033[31m" : "";
  const char* yellow = colour ? "\033[33m" : "";
  const char* dim = colour ? "\033[2m" : "";
  const char* bold = colour ? "\033[1m" : "";
  const char* reset = colour ? "\033[0m" : "";
  std::ostringstream out;
  const auto c = counts(r, true);
  out << bold << "agora review " << r.target << reset << (r.diff.empty() ? "" : " --diff " + r.diff) << ": "
      << r.files << " file(s), reviewers: " << short_ids(r.reviewers) << "\n";
  for (const auto& s : r.skipped) out << yellow << "  left out " << s.reviewer << ": " << s.why << reset << "\n";
  for (const auto& [reviewer, list] : unanalysed_by_reviewer(r)) {
    out << yellow << "  not analysed by " << reviewer << ": " << list.size() << " file(s)" << reset << "\n";
    for (std::size_t i = 0; i < list.size() && (all || i < listed_unanalysed); ++i)
      out << "    " << list[i]->file << ": " << list[i]->reason << "\n";
    if (!all && list.size() > listed_unanalysed)
      out << "    ... and " << list.size() - listed_unanalysed << " more (--all or --json lists them)\n";
  }
  out << count_if_reported(r, true) << " finding(s) reported (high " << c.at("high") << ", medium " << c.at("medium")
      << ", low " << c.at("low") << "), " << count_if_reported(r, false) << " unconfirmed"
      << (all ? "" : " (--all shows them)") << "; reported when: " << consensus_text(r)
      << (r.judged ? ", LLM judge on the rest" : "") << "\n";
  std::vector<const finding*> rows;
  for (const auto& f : r.findings)
    if (f.reported || all) rows.push_back(&f);
  if (rows.empty()) return out.str();
  std::size_t where_w = 5, cat_w = 4, by_w = 8, cwe_w = 3;
  for (const auto* f : rows) {
    where_w = std::max(where_w, f->file.size() + 1 + std::to_string(f->line).size());
    cat_w = std::max(cat_w, f->category.size());
    by_w = std::max(by_w, short_ids(f->found_by).size());
    cwe_w = std::max(cwe_w, cwe_text(f->cwe).size());
  }
  out << "\n"
      << pad("where", where_w) << "  " << pad("severity", 8) << "  " << pad("kind", cat_w) << "  "
      << pad("CWE", cwe_w) << "  " << pad("found by", by_w) << "  message\n";
  for (const auto* f : rows) {
    const char* sc = !f->reported ? dim : f->severity == "high" ? red : f->severity == "medium" ? yellow : "";
    std::string msg = f->message;
    if (!f->reported) msg = "(unconfirmed) " + msg;
    if (!f->judge.empty()) msg += " [judge: " + f->judge + "]";
    out << pad(f->file + ":" + std::to_string(f->line), where_w) << "  " << sc << pad(f->severity, 8) << reset
        << "  " << pad(f->category, cat_w) << "  " << pad(cwe_text(f->cwe), cwe_w) << "  "
        << pad(short_ids(f->found_by), by_w) << "  " << msg << "\n";
    if (all && !f->kept_because.empty())
      out << pad("", where_w) << "  " << dim << (f->reported ? "kept: " : "not kept: ") << f->kept_because << reset
          << "\n";
  }
  return out.str();
}

std::string to_markdown(const review_report& r, bool all) {
  std::ostringstream out;
  const auto c = counts(r, true);
  out << "# Review of `" << r.target << "`" << (r.diff.empty() ? "" : " (change `" + r.diff + "`)") << "\n\n"
      << r.files << " file(s); reviewers: " << short_ids(r.reviewers) << ".\n\n";
  for (const auto& s : r.skipped) out << "- Left out **" << s.reviewer << "**: " << s.why << "\n";
  if (!r.skipped.empty()) out << "\n";
  out << "**" << count_if_reported(r, true) << " finding(s) reported** (high " << c.at("high") << ", medium "
      << c.at("medium") << ", low " << c.at("low") << "); " << count_if_reported(r, false)
      << " unconfirmed. Reported when: " << consensus_text(r)
      << (r.judged ? "; an LLM judge settled the rest" : "") << ".\n\n";
  auto table = [&out](const std::vector<const finding*>& rows) {
    out << "| Where | Severity | Kind | CWE | Found by | Message | Why | Evidence |\n"
           "|---|---|---|---|---|---|---|---|\n";
    for (const auto* f : rows) {
      std::string msg = f->message + (f->judge.empty() ? "" : " (judge: " + f->judge + ")");
      out << "| `" << f->file << ":" << f->line << "` | " << f->severity << " | " << f->category << " | "
          << cwe_text(f->cwe) << " | " << short_ids(f->found_by) << " | " << md_cell(msg) << " | "
          << md_cell(f->kept_because) << " | `" << md_cell(f->evidence) << "` |\n";
    }
    out << "\n";
  };
  std::vector<const finding*> reported, unconfirmed;
  for (const auto& f : r.findings) (f.reported ? reported : unconfirmed).push_back(&f);
  if (!reported.empty()) {
    out << "## Reported\n\n";
    table(reported);
  }
  if (all && !unconfirmed.empty()) {
    out << "## Unconfirmed\n\n";
    table(unconfirmed);
  }
  if (!r.unanalysed.empty()) {
    out << "## Not analysed\n\n| Reviewer | File | Why |\n|---|---|---|\n";
    for (const auto& n : r.unanalysed)
      out << "| " << n.reviewer << " | `" << md_cell(n.file) << "` | " << md_cell(n.reason) << " |\n";
    out << "\n";
  }
  return out.str();
}

namespace {

// FNV-1a, 64 bits: a stable hash for fingerprints (not for security).
std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The source line with its whitespace squeezed: moving code up or down
// or re-indenting it keeps the fingerprint.
std::string squeeze(const std::string& s) {
  std::string out;
  bool space = false;
  for (char ch : s) {
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(ch);
  }
  return out;
}

// RFC 3986 path: keep unreserved and '/', percent-encode the rest.
std::string uri_path(const std::string& p) {
  std::string out;
  for (unsigned char ch : p) {
    if (std::isalnum(ch) || ch == '/' || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

std::string rule_id(const finding& f) { return f.category + (f.cwe > 0 ? "/CWE-" + std::to_string(f.cwe) : ""); }

bool security_family(const std::string& family) {
  return family != "complexity" && family != "style" && family != "bug" && !family.empty();
}

// GitHub reads properties.security-severity: >= 7 high, >= 4 medium.
const char* security_severity(const std::string& severity) {
  return severity == "high" ? "8.0" : severity == "medium" ? "5.5" : "3.0";
}

const char* sarif_level(const std::string& severity) {
  return severity == "high" ? "error" : severity == "medium" ? "warning" : "note";
}

std::string title(std::string family) {
  std::string out;
  bool up = true;
  for (char ch : family) {
    if (ch == '-') {
      out.push_back(' ');
      up = false;
      continue;
    }
    out.push_back(up ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch);
    up = false;
  }
  return out;
}

}  // namespace

json to_sarif(const review_report& r, bool all) {
  // Paths relative to SRCROOT: the uri_base when it holds the root.
  const std::string base = r.uri_base.empty() ? r.root : r.uri_base;
  std::string prefix;
  if (!r.root.empty() && r.root != base && r.root.compare(0, base.size(), base) == 0 &&
      (base.back() == '/' || r.root[base.size()] == '/')) {
    prefix = r.root.substr(base.size() + (base.back() == '/' ? 0 : 1));
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  }
  json rules = json::array();
  std::map<std::string, std::size_t> rule_index;
  json results = json::array();
  std::map<std::string, int> seen;  // fingerprint key -> occurrences so far
  for (const auto& f : r.findings) {
    if (!f.reported && !all) continue;
    const std::string id = rule_id(f);
    if (!rule_index.count(id)) {
      rule_index[id] = rules.size();
      json tags = json::array();
      if (security_family(f.category)) tags.push_back("security");
      if (f.category == "complexity") tags.push_back("maintainability");
      if (f.cwe > 0) tags.push_back("external/cwe/cwe-" + std::to_string(f.cwe));
      json rule = {{"id", id},
                   {"name", title(f.category)},
                   {"shortDescription",
                    {{"text", title(f.category) + (f.cwe > 0 ? " (CWE-" + std::to_string(f.cwe) + ")" : "")}}},
                   {"defaultConfiguration", {{"level", sarif_level(category_severity(f.category))}}},
                   {"properties", {{"tags", tags}}}};
      if (f.cwe > 0) {
        rule["helpUri"] = "https://cwe.mitre.org/data/definitions/" + std::to_string(f.cwe) + ".html";
        rule["fullDescription"] = {{"text", title(f.category) + ": see CWE-" + std::to_string(f.cwe) + "."}};
      }
      if (security_family(f.category)) rule["properties"]["security-severity"] = security_severity(f.severity);
      rules.push_back(std::move(rule));
    }
    // Line-independent: the file, the rule, the squeezed source line and
    // which occurrence of that triple this is.
    const std::string key = f.file + "\n" + id + "\n" + squeeze(f.evidence);
    const int nth = seen[key]++;
    const std::string fingerprint = hex16(fnv1a(key + "\n" + std::to_string(nth)));
    std::string text = f.message;
    if (!f.kept_because.empty()) text += " [" + std::string(f.reported ? "" : "unconfirmed: ") + f.kept_because + "]";
    json props = {{"found_by", f.found_by}, {"rules", f.rules},       {"severity", f.severity},
                  {"kind", f.category},     {"reported", f.reported}, {"kept_because", f.kept_because}};
    if (f.cwe > 0) props["cwe"] = f.cwe;
    if (!f.judge.empty()) props["judge"] = f.judge;
    json region = {{"startLine", f.line}};
    if (!f.evidence.empty()) region["snippet"] = {{"text", f.evidence}};
    results.push_back(
        {{"ruleId", id},
         {"ruleIndex", rule_index[id]},
         {"level", f.reported ? sarif_level(f.severity) : "none"},
         {"message", {{"text", text}}},
         {"locations",
          {{{"physicalLocation",
             {{"artifactLocation", {{"uri", uri_path(prefix + f.file)}, {"uriBaseId", "SRCROOT"}}},
              {"region", region}}}}}},
         {"partialFingerprints", {{"agoraFinding/v1", fingerprint}}},
         {"properties", props}});
  }
  json notes = json::array();
  for (const auto& s : r.skipped)
    notes.push_back({{"level", "error"},
                     {"descriptor", {{"id", "reviewer-left-out"}}},
                     {"message", {{"text", s.reviewer + " left out: " + s.why}}}});
  for (const auto& n : r.unanalysed)
    notes.push_back(
        {{"level", "warning"},
         {"descriptor", {{"id", "not-analysed"}}},
         {"message", {{"text", n.file + " not analysed by " + n.reviewer + ": " + n.reason}}},
         {"locations",
          {{{"physicalLocation",
             {{"artifactLocation", {{"uri", uri_path(prefix + n.file)}, {"uriBaseId", "SRCROOT"}}}}}}}}});
  json invocation = {{"executionSuccessful", r.skipped.empty() && r.unanalysed.empty()}};
  if (!notes.empty()) invocation["toolExecutionNotifications"] = notes;
  json run = {{"tool",
               {{"driver",
                 {{"name", "agora-review"},
                  {"version", tool_version},
                  {"semanticVersion", tool_version},
                  {"rules", rules}}}}},
              {"invocations", json::array({invocation})},
              {"results", results},
              {"columnKind", "utf16CodeUnits"},
              {"properties", {{"reviewers", r.reviewers}, {"min_agree", r.consensus.min_agree}}}};
  if (!base.empty()) {
    std::string uri = "file://" + uri_path(base);
    if (uri.back() != '/') uri += '/';
    run["originalUriBaseIds"] = {{"SRCROOT", {{"uri", uri}}}};
  }
  if (!r.diff.empty()) run["properties"]["diff"] = r.diff;
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs", json::array({run})}};
}

json to_json(const review_report& r) {
  json reported = json::array(), unconfirmed = json::array(), skipped = json::array(), unanalysed = json::array();
  for (const auto& f : r.findings) (f.reported ? reported : unconfirmed).push_back(to_merged_json(f));
  for (const auto& s : r.skipped) skipped.push_back({{"reviewer", s.reviewer}, {"why", s.why}});
  for (const auto& n : r.unanalysed)
    unanalysed.push_back({{"reviewer", n.reviewer}, {"file", n.file}, {"reason", n.reason}});
  json j = {{"target", r.target},       {"files", r.files},       {"reviewers", r.reviewers},
            {"skipped", skipped},       {"not_analysed", unanalysed},
            {"min_agree", r.consensus.min_agree},
            {"findings", reported},     {"unconfirmed", unconfirmed}};
  if (!r.diff.empty()) j["diff"] = r.diff;
  return j;
}

}  // namespace agora::cli::review
