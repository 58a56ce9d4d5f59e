// The review's outputs: terminal summary, Markdown, SARIF 2.1.0, JSON.
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "review/review.hpp"

namespace agora::cli::review {

namespace {

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
  return s;
}

}  // namespace

std::string to_terminal(const review_report& r, bool colour, bool all) {
  const char* red = colour ? "\033[31m" : "";
  const char* yellow = colour ? "\033[33m" : "";
  const char* dim = colour ? "\033[2m" : "";
  const char* bold = colour ? "\033[1m" : "";
  const char* reset = colour ? "\033[0m" : "";
  std::ostringstream out;
  const auto c = counts(r, true);
  out << bold << "agora review " << r.target << reset << ": " << r.files << " file(s), reviewers: "
      << short_ids(r.reviewers) << "\n";
  for (const auto& s : r.skipped) out << yellow << "  left out " << s.reviewer << ": " << s.why << reset << "\n";
  out << count_if_reported(r, true) << " finding(s) reported (high " << c.at("high") << ", medium " << c.at("medium")
      << ", low " << c.at("low") << "), " << count_if_reported(r, false) << " unconfirmed"
      << (all ? "" : " (--all shows them)") << "; consensus: " << r.consensus.min_agree
      << " reviewers agree, or one high with evidence" << (r.judged ? ", LLM judge on the rest" : "") << "\n";
  std::vector<const finding*> rows;
  for (const auto& f : r.findings)
    if (f.reported || all) rows.push_back(&f);
  if (rows.empty()) return out.str();
  std::size_t where_w = 5, cat_w = 8, by_w = 8;
  for (const auto* f : rows) {
    where_w = std::max(where_w, f->file.size() + 1 + std::to_string(f->line).size());
    cat_w = std::max(cat_w, f->category.size());
    by_w = std::max(by_w, short_ids(f->found_by).size());
  }
  out << "\n"
      << pad("where", where_w) << "  " << pad("severity", 8) << "  " << pad("category", cat_w) << "  "
      << pad("found by", by_w) << "  message\n";
  for (const auto* f : rows) {
    const char* sc = !f->reported ? dim : f->severity == "high" ? red : f->severity == "medium" ? yellow : "";
    std::string msg = f->message;
    if (!f->reported) msg = "(unconfirmed) " + msg;
    if (!f->judge.empty()) msg += " [judge: " + f->judge + "]";
    out << pad(f->file + ":" + std::to_string(f->line), where_w) << "  " << sc << pad(f->severity, 8) << reset
        << "  " << pad(f->category, cat_w) << "  " << pad(short_ids(f->found_by), by_w) << "  " << msg << "\n";
  }
  return out.str();
}

std::string to_markdown(const review_report& r, bool all) {
  std::ostringstream out;
  const auto c = counts(r, true);
  out << "# Review of `" << r.target << "`\n\n"
      << r.files << " file(s); reviewers: " << short_ids(r.reviewers) << ".\n\n";
  for (const auto& s : r.skipped) out << "- Left out **" << s.reviewer << "**: " << s.why << "\n";
  if (!r.skipped.empty()) out << "\n";
  out << "**" << count_if_reported(r, true) << " finding(s) reported** (high " << c.at("high") << ", medium "
      << c.at("medium") << ", low " << c.at("low") << "); " << count_if_reported(r, false)
      << " unconfirmed. Consensus: " << r.consensus.min_agree
      << " reviewers agree, or one reports high severity with evidence"
      << (r.judged ? "; an LLM judge settled the rest" : "") << ".\n\n";
  auto table = [&out](const std::vector<const finding*>& rows) {
    out << "| Where | Severity | Category | Found by | Message | Evidence |\n|---|---|---|---|---|---|\n";
    for (const auto* f : rows) {
      std::string msg = f->message + (f->judge.empty() ? "" : " (judge: " + f->judge + ")");
      out << "| `" << f->file << ":" << f->line << "` | " << f->severity << " | " << f->category << " | "
          << short_ids(f->found_by) << " | " << md_cell(msg) << " | `" << md_cell(f->evidence) << "` |\n";
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
  return out.str();
}

json to_sarif(const review_report& r) {
  json rules = json::array();
  std::map<std::string, std::size_t> rule_index;
  json results = json::array();
  for (const auto& f : r.findings) {
    const std::string id = f.category + "/" + f.rule;
    if (!rule_index.count(id)) {
      rule_index[id] = rules.size();
      rules.push_back({{"id", id},
                       {"shortDescription", {{"text", f.category + " (" + f.rule + ")"}}},
                       {"properties", {{"category", f.category}}}});
    }
    const std::string level = !f.reported ? "note" : f.severity == "high" ? "error" : "warning";
    json props = {{"found_by", f.found_by}, {"rules", f.rules}, {"severity", f.severity},
                  {"category", f.category}, {"reported", f.reported}};
    if (!f.judge.empty()) props["judge"] = f.judge;
    results.push_back(
        {{"ruleId", id},
         {"ruleIndex", rule_index[id]},
         {"level", level},
         {"message", {{"text", f.message}}},
         {"locations",
          {{{"physicalLocation",
             {{"artifactLocation", {{"uri", f.file}, {"uriBaseId", "SRCROOT"}}},
              {"region", {{"startLine", f.line}, {"snippet", {{"text", f.evidence}}}}}}}}}},
         {"properties", props}});
  }
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs",
           {{{"tool",
              {{"driver",
                {{"name", "agora-review"},
                 {"informationUri", "https://github.com/agora/agora/blob/main/docs/review.md"},
                 {"rules", rules}}}}},
             {"results", results},
             {"properties", {{"reviewers", r.reviewers}, {"min_agree", r.consensus.min_agree}}}}}}};
}

json to_json(const review_report& r) {
  json reported = json::array(), unconfirmed = json::array(), skipped = json::array();
  for (const auto& f : r.findings) (f.reported ? reported : unconfirmed).push_back(to_merged_json(f));
  for (const auto& s : r.skipped) skipped.push_back({{"reviewer", s.reviewer}, {"why", s.why}});
  return {{"target", r.target},     {"files", r.files},       {"reviewers", r.reviewers},
          {"skipped", skipped},     {"min_agree", r.consensus.min_agree},
          {"findings", reported},   {"unconfirmed", unconfirmed}};
}

}  // namespace agora::cli::review
