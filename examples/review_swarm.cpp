// A code review by a swarm of specialist reviewers. Each reviewer is a plain
// C++ function that looks for one kind of defect in a small C++ file; all of
// them review at once (parallel then merge), and a reducer merges their
// findings into one artifact, one row per defect even when two reviewers
// report the same one. The swarm stops when a round brings nothing new, or
// after three rounds. Prints the transcript, the findings and why it stopped.
//
// An LLM reviewer plugs into the same place: any agent logic that reads its
// turn (swarm_turn::read), writes its findings at the task's `key` and
// returns {"answer": ...} (submit_contribution does both; see swarm.hpp).
#include <agora/agora.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

using namespace agora;

namespace {

// The code under review, with three known defects: an unbounded strcpy into
// a 16-byte buffer (line 7), the file leaked on an error path (line 11),
// and ifs nested four deep (line 15).
constexpr const char* code = R"(#include <cstdio>
#include <cstring>

// Returns the first character of the config file, or a negative error.
int load_config(const char* path, const char* name) {
  char user[16];
  strcpy(user, name);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  int c = fgetc(f);
  if (c == EOF) return -2;
  if (user[0] != '\0') {
    if (c == '#') {
      if (path[0] == '/') {
        if (name[1] == '\0') {
          c = 0;
        }
      }
    }
  }
  fclose(f);
  return c;
}
)";

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

json finding(const std::string& file, std::size_t line, const char* rule, const char* severity,
             std::string message) {
  return {{"file", file},         {"line", line},
          {"rule", rule},         {"severity", severity},
          {"message", std::move(message)}};
}

// A reviewer's expertise: the findings in `lines` (line numbers start at 1).
using review_fn = json (*)(const std::string& file, const std::vector<std::string>& lines);

// Security: copies with no bound into a fixed-size buffer.
json review_security(const std::string& file, const std::vector<std::string>& lines) {
  json found = json::array();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (contains(lines[i], "strcpy(") || contains(lines[i], "strcat("))
      found.push_back(finding(file, i + 1, "unbounded-copy", "high",
                              "copy into a fixed-size buffer without a bound can overflow it"));
  return found;
}

// Lint: functions the house style bans. Overlaps with security on strcpy:
// the reducer keeps one row for both.
json review_lint(const std::string& file, const std::vector<std::string>& lines) {
  json found = json::array();
  for (std::size_t i = 0; i < lines.size(); ++i)
    for (const char* banned : {"strcpy(", "strcat(", "sprintf("})
      if (contains(lines[i], banned))
        found.push_back(finding(file, i + 1, "unbounded-copy", "medium",
                                std::string("banned function ") + banned + ")"));
  return found;
}

// Resources: a file opened with fopen and left open by a return before fclose.
json review_resources(const std::string& file, const std::vector<std::string>& lines) {
  json found = json::array();
  bool open = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    if (contains(l, "fopen(")) open = true;
    if (contains(l, "fclose(")) open = false;
    // `if (!f) return` returns because the file did not open: nothing leaks.
    if (open && contains(l, "return") && !contains(l, "(!f)"))
      found.push_back(finding(file, i + 1, "leak-on-error-path", "high",
                              "returns without fclose: the FILE* opened above leaks"));
  }
  return found;
}

// Complexity: blocks nested more than three deep inside a function.
json review_complexity(const std::string& file, const std::vector<std::string>& lines) {
  json found = json::array();
  int depth = 0;  // braces open; the function body is depth 1
  for (std::size_t i = 0; i < lines.size(); ++i) {
    for (char ch : lines[i]) {
      if (ch == '{' && ++depth == 5)
        found.push_back(finding(file, i + 1, "deep-nesting", "low",
                                "4 nested blocks; return early or extract a function"));
      if (ch == '}') --depth;
    }
  }
  return found;
}

// Makes a swarm contributor from a review function: it reads the file from
// the run's input and contributes its findings (a JSON array).
actors::agent_logic reviewer(review_fn review) {
  return contributor([review](const swarm_turn& turn) -> bb::result<json> {
    const json& in = turn.input;
    if (!in.is_object() || !in.contains("code") || !in["code"].is_string())
      return bb::error{bb::errc::invalid_argument, "review input has no \"code\" string"};
    std::vector<std::string> lines;
    std::istringstream text(in["code"].get<std::string>());
    for (std::string l; std::getline(text, l);) lines.push_back(l);
    const bool named = in.contains("file") && in["file"].is_string();
    return review(named ? in["file"].get<std::string>() : "input.cpp", lines);
  });
}

int rank(const std::string& severity) { return severity == "high" ? 3 : severity == "medium" ? 2 : 1; }

// The reducer: the artifact so far plus this round's findings, one row per
// (file, line, rule). A duplicate adds its reviewer to "found_by" and keeps
// the higher severity, with that reviewer's message. Rows come out sorted.
bb::result<json> merge_findings(const swarm_merge& m) {
  std::map<std::tuple<std::string, std::size_t, std::string>, json> rows;
  auto add = [&rows](json f, const json& by) {
    auto key = std::make_tuple(f.value("file", ""), f.value("line", std::size_t{0}), f.value("rule", ""));
    auto [it, fresh] = rows.emplace(key, f);
    json& row = it->second;
    if (fresh) row["found_by"] = json::array();
    for (const auto& who : by)
      if (std::find(row["found_by"].begin(), row["found_by"].end(), who) == row["found_by"].end())
        row["found_by"].push_back(who);
    if (rank(f.value("severity", "")) > rank(row.value("severity", ""))) {
      row["severity"] = f["severity"];
      row["message"] = f["message"];
    }
  };
  if (m.artifact.is_array())
    for (const auto& f : m.artifact) add(f, f.value("found_by", json::array()));
  for (const auto& [who, findings] : m.contributions) {
    if (!findings.is_array())
      return bb::error{bb::errc::invalid_argument, who + " did not contribute a list"};
    for (const auto& f : findings)
      if (f.is_object()) add(f, json::array({who}));
  }
  json merged = json::array();
  for (auto& [key, row] : rows) merged.push_back(std::move(row));
  return merged;
}

// How policies and the transcript see a list of findings: "config.cpp:7
// unbounded-copy, ...". Two rounds with the same findings look the same.
std::string short_form(const json& answer) {
  if (!answer.is_array()) return default_extractor(answer);
  std::string s = answer.empty() ? "no findings" : "";
  for (const auto& f : answer) {
    if (!f.is_object()) return default_extractor(answer);
    if (!s.empty()) s += ", ";
    s += f.value("file", "?") + ":" + std::to_string(f.value("line", 0)) + " " + f.value("rule", "?");
  }
  return s;
}

}  // namespace

int main() {
  actors::runtime rt;                               // the CAF actor system, all types registered
  auto board = std::make_shared<bb::blackboard>();  // where the review happens

  swarm_config cfg;
  const std::pair<const char*, review_fn> reviewers[] = {{"security", review_security},
                                                         {"lint", review_lint},
                                                         {"resources", review_resources},
                                                         {"complexity", review_complexity}};
  for (const auto& [name, review] : reviewers) {
    auto id = actors::agent_id::make("reviewer", name);
    if (!id) return 1;
    auto agent = actors::spawn_agent(rt, board, {*id, "reviewer", {}}, reviewer(review));
    if (!agent) return 1;
    cfg.contributors.push_back({*id, *agent, name});
  }
  // All reviewers at once, each blind to the others; the reducer merges.
  cfg.order = swarm_order::parallel_then_merge;
  cfg.reduce = merge_findings;
  cfg.extract = short_form;
  // Stop when a round brings no new contribution (the reviewers found all
  // they can), or after three rounds; the answer is then the artifact.
  cfg.run.stop = quiescence(1) | max_rounds(3);
  cfg.run.fallback = fallback::best_so_far;
  cfg.run.round.timeout = std::chrono::seconds(5);  // a slow reviewer never holds a round up

  auto swarm = spawn_swarm(rt, board, cfg);
  if (!swarm) {
    std::cerr << bb::to_string(swarm.error()) << "\n";
    return 1;
  }
  auto result = run_pattern(rt.system(), *swarm, "review-1", {{"file", "config.cpp"}, {"code", code}},
                            std::chrono::minutes(1));
  if (!result) {
    std::cerr << actors::render(result.error()) << "\n";
    return 1;
  }
  auto text = transcript(*board, "review-1");  // read back from the blackboard
  std::cout << (text ? *text : bb::to_string(text.error()));

  std::printf("\n%-14s %-20s %-8s %-18s %s\n", "where", "rule", "severity", "found by", "message");
  for (const auto& f : result->answer) {
    std::string where = f.value("file", "?") + ":" + std::to_string(f.value("line", 0));
    std::string by;  // reviewer names, without the "reviewer/" type
    for (const auto& who : f.value("found_by", json::array())) {
      auto id = who.get<std::string>();
      by += (by.empty() ? "" : ",") + id.substr(id.find('/') + 1);
    }
    std::printf("%-14s %-20s %-8s %-18s %s\n", where.c_str(), f.value("rule", "?").c_str(),
                f.value("severity", "?").c_str(), by.c_str(), f.value("message", "").c_str());
  }
  std::cout << "\n" << to_string(result->status) << ": " << result->answer.size() << " finding(s) after "
            << result->rounds << " round(s)\n";
  return result->status == run_status::settled || result->status == run_status::fallback ? 0 : 1;
}
