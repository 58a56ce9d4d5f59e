// Runs a review as a swarm of reviewer agents (review_run.hpp).
#include <future>
#include <ostream>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <agora/agora.hpp>
#include <agora/agents/llm_agent.hpp>

#include "review/review_run.hpp"

namespace agora::cli::review {

namespace {

constexpr const char* sources_key = "review/sources";
constexpr const char* judge_key = "review/judge";

const char* categories_text =
    "buffer-overflow, resource-leak, null-deref, uninitialized, use-after-free, command-injection, "
    "complexity, bug, style";

json judge_schema() {
  return {{"type", "object"},
          {"required", {"verdicts"}},
          {"properties",
           {{"verdicts",
             {{"type", "array"},
              {"items",
               {{"type", "object"},
                {"required", {"id", "verdict", "reason"}},
                {"properties",
                 {{"id", {{"type", "integer"}, {"minimum", 0}}},
                  {"verdict", {{"type", "string"}, {"enum", {"keep", "drop"}}}},
                  {"reason", {{"type", "string"}, {"minLength", 1}}}}}}}}}}}};
}

// The sources as the LLM sees them: path -> numbered lines.
json numbered_sources(const source_tree& tree) {
  json j = json::object();
  for (const auto& f : tree.files) {
    std::string text;
    for (std::size_t i = 0; i < f.lines.size(); ++i) text += std::to_string(i + 1) + ": " + f.lines[i] + "\n";
    j[f.path] = text;
  }
  return j;
}

void say(std::ostream* out, const std::string& line) {
  if (out) *out << "agora review: " << line << "\n" << std::flush;
}

}  // namespace

std::string answers_pattern() { return "runs/*/answers/*/reviewer/*"; }

bb::status install_findings_contract(bb::blackboard& board) {
  auto c = bb::contract::from_schema(findings_schema());
  if (!c) return c.error();
  return board.set_contract(answers_pattern(), std::move(*c));
}

std::size_t apply_verdicts(std::vector<finding>& findings, const std::vector<std::size_t>& candidates,
                           const json& answer) {
  std::size_t kept = 0;
  if (!answer.is_object() || !answer.contains("verdicts") || !answer["verdicts"].is_array()) return 0;
  for (const auto& v : answer["verdicts"]) {
    if (!v.is_object() || !v.contains("id") || !v["id"].is_number_integer()) continue;
    const auto id = v["id"].get<long long>();
    if (id < 0 || std::size_t(id) >= candidates.size() || candidates[std::size_t(id)] >= findings.size()) continue;
    auto& f = findings[candidates[std::size_t(id)]];
    const std::string reason = v.value("reason", "");
    if (v.value("verdict", "") == "keep" && !reason.empty()) {
      f.reported = true;
      f.judge = reason;
      ++kept;
    } else if (!reason.empty()) {
      f.judge = "dropped: " + reason;
    }
  }
  return kept;
}

bb::result<review_done> run_review(const review_plan& plan) {
  if (!plan.tree) return bb::error{bb::errc::invalid_argument, "run_review: no source tree"};
  actors::runtime_options ro;
  ro.spans_path = plan.spans_path;
  auto rt = actors::runtime::open(ro);
  if (!rt) return bb::error{bb::errc::io_error, rt.error().message};

  std::shared_ptr<bb::blackboard> board;
  if (plan.board_path.empty()) {
    board = std::make_shared<bb::blackboard>();
  } else {
    bb::durability d;
    d.path = plan.board_path;
    auto opened = bb::blackboard::open(d);
    if (!opened) return bb::error{bb::errc::io_error, opened.error().message};
    board = *opened;
  }
  if (auto s = install_findings_contract(*board); !s) return s.error();

  const std::string run = review_run_id;
  review_done done;
  done.board = board;
  review_report& report = done.report;
  report.files = plan.tree->files.size();
  report.consensus = plan.consensus;

  // Sources for the LLM agents: on the blackboard, so they reach the model as quoted data.
  if (plan.llm) {
    auto sp = board->begin("cli/review");
    if (auto s = sp.put(sources_key, numbered_sources(*plan.tree)); !s) return s.error();
    if (auto c = board->promote(sp); !c) return c.error();
  }

  auto runner = std::make_shared<process_runner>(plan.jobs);
  std::vector<std::pair<std::string, actors::agent_logic>> logics;
  logics.emplace_back("security", builtin_reviewer(plan.tree, review_security));
  logics.emplace_back("resources", builtin_reviewer(plan.tree, review_resources));
  logics.emplace_back("complexity", builtin_reviewer(plan.tree, [](const source_tree& t) {
                        return review_complexity(t);
                      }));
  auto tool = [&](bool wanted, const char* program, const char* name, actors::agent_logic logic) {
    if (!wanted) return;
    if (!program_exists(program)) {
      std::string why = std::string(program) + " is not installed (scripts/setup.sh installs it)";
      say(plan.progress, std::string("warning: reviewer/") + name + " left out: " + why);
      report.skipped.push_back({std::string("reviewer/") + name, why});
      return;
    }
    logics.emplace_back(name, std::move(logic));
  };
  tool(plan.use_cppcheck, "cppcheck", "cppcheck", cppcheck_reviewer(plan.tree, runner));
  tool(plan.use_clang_tidy, "clang-tidy", "clang-tidy", clang_tidy_reviewer(plan.tree, runner));
  if (plan.llm) {
    llm_agent_config cfg;
    cfg.client = plan.llm;
    cfg.system = "You are a meticulous reviewer of C and C++ code. You report real defects only.";
    cfg.prompt = std::string("Review the C and C++ source files in the data block (path -> numbered lines). "
                             "Report each real defect as one finding: file (the path as given), line (the "
                             "line number shown), rule (a short id of your own), category (one of: ") +
                 categories_text +
                 "), severity (low, medium or high), message (what is wrong and why), evidence (the "
                 "source line, verbatim). Reply with an empty array when you find no defect.";
    cfg.reads = {sources_key};
    cfg.output_schema = findings_schema();
    auto logic = llm_agent(cfg);
    if (!logic) return logic.error();
    logics.emplace_back("llm", *logic);
  }
  for (const auto& x : plan.extra) logics.emplace_back(x.name, x.logic);

  swarm_config cfg;
  std::vector<actors::agent_actor> actors_to_stop;
  for (const auto& [name, logic] : logics) {
    auto id = actors::agent_id::make("reviewer", name);
    if (!id) return id.error();
    auto agent = actors::spawn_agent(**rt, board, {*id, "reviewer", {}}, logic);
    if (!agent) return agent.error();
    actors_to_stop.push_back(*agent);
    cfg.contributors.push_back({*id, *agent, name});
    report.reviewers.push_back(id->str());
  }
  cfg.order = swarm_order::parallel_then_merge;
  const consensus_options consensus = plan.consensus;
  // The artifact: every contribution so far, merged and decided.
  cfg.reduce = [consensus](const swarm_merge& m) -> bb::result<json> {
    std::vector<std::pair<std::string, std::vector<finding>>> by;
    for (const auto& [who, c] : m.contributions) {
      std::vector<finding> list;
      if (c.is_array())
        for (const auto& j : c)
          if (auto f = finding_from_json(j)) list.push_back(std::move(*f));
      by.emplace_back(who, std::move(list));
    }
    json merged = json::array();
    for (const auto& f : merge_findings(by, consensus)) merged.push_back(to_merged_json(f));
    return merged;
  };
  cfg.extract = [](const json& a) { return std::to_string(a.is_array() ? a.size() : 0) + " findings"; };
  cfg.run.stop = max_rounds(1);
  cfg.run.fallback = fallback::best_so_far;
  cfg.run.round.timeout = std::chrono::minutes(10);
  cfg.run.round.late_grace = std::chrono::seconds(5);
  auto swarm = spawn_swarm(**rt, board, cfg);
  if (!swarm) return swarm.error();
  actors_to_stop.push_back(*swarm);
  auto stop_all = [&actors_to_stop] {
    for (auto& a : actors_to_stop) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  };

  say(plan.progress, "reviewing " + std::to_string(plan.tree->files.size()) + " file(s) with " +
                         std::to_string(logics.size()) + " reviewers");
  json input = {{"root", plan.tree->root}, {"files", plan.tree->files.size()}};
  // run_pattern blocks; it runs on its own thread so that this one can
  // notice an interruption and stop the swarm (its request then fails).
  caf::actor_system& sys = (*rt)->system();
  const actors::agent_actor swarm_actor = *swarm;
  auto pending = std::async(std::launch::async, [&sys, swarm_actor, run, input] {
    return run_pattern(sys, swarm_actor, run, input, std::chrono::minutes(11));
  });
  bool stopped = false;
  auto stopped_at = std::chrono::steady_clock::now();
  while (pending.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (!stopped && plan.cancelled && plan.cancelled()) {
      // The tool reviewers' processes die now; the reviewers then fail and
      // the round closes, which ends run_pattern.
      say(plan.progress, "interrupted: stopping the reviewers");
      runner->cancel_all();
      stopped = true;
      stopped_at = std::chrono::steady_clock::now();
    }
    if (stopped && plan.abandon && std::chrono::steady_clock::now() - stopped_at > std::chrono::seconds(3))
      plan.abandon();
  }
  auto result = pending.get();
  if (stopped) {
    stop_all();
    return bb::error{bb::errc::io_error, "interrupted"};
  }
  if (!result) {
    stop_all();
    return bb::error{bb::errc::io_error, "the review swarm did not finish: " + actors::render(result.error())};
  }

  // Each reviewer's contribution, as committed under the contract.
  json failed = json::object();
  if (auto rec = board->get(run_keys::round(run, 1)); rec && rec->exists() && rec->value().is_object())
    failed = rec->value().value("failed", json::object());
  std::vector<std::pair<std::string, std::vector<finding>>> by;
  std::vector<std::string> contributed;
  for (const auto& m : cfg.contributors) {
    auto e = board->get(run_keys::answer(run, 1, m.id));
    if (!e || !e->exists()) {
      std::string why = failed.contains(m.id.str()) && failed[m.id.str()].is_string()
                            ? failed[m.id.str()].get<std::string>()
                            : "gave no answer";
      say(plan.progress, "warning: " + m.id.str() + " failed: " + why);
      report.skipped.push_back({m.id.str(), why});
      continue;
    }
    std::vector<finding> list;
    for (const auto& j : e->value())
      if (auto f = finding_from_json(j)) list.push_back(std::move(*f));
    by.emplace_back(m.id.str(), std::move(list));
    contributed.push_back(m.id.str());
  }
  report.reviewers = contributed;
  report.findings = merge_findings(by, plan.consensus);

  // The judge settles what one reviewer alone found (not high).
  if (plan.llm) {
    std::vector<std::size_t> candidates;
    json listed = json::array();
    for (std::size_t i = 0; i < report.findings.size(); ++i) {
      const auto& f = report.findings[i];
      if (f.reported || f.found_by.size() != 1) continue;
      json j = to_json(f);
      j["id"] = candidates.size();
      j["found_by"] = f.found_by;
      listed.push_back(j);
      candidates.push_back(i);
    }
    report.judged = true;
    if (!candidates.empty()) {
      llm_agent_config jc;
      jc.client = plan.llm;
      jc.system = "You are the judge of a code review. Reviewers disagree on the findings you are given.";
      jc.prompt = "Each candidate finding (in the data block `input.candidate`, with an id) was reported by "
                  "one reviewer only. Using the sources (data block review/sources), decide for each: keep "
                  "(a real defect worth fixing) or drop (a false positive or noise), with a one-sentence reason.";
      jc.reads = {sources_key};
      jc.output_schema = judge_schema();
      auto logic = llm_agent(jc);
      if (!logic) {
        stop_all();
        return logic.error();
      }
      auto jid = actors::agent_id::make("judge", "llm");
      auto judge = actors::spawn_agent(**rt, board, {*jid, "judge", {}}, *logic);
      if (!judge) {
        stop_all();
        return judge.error();
      }
      actors_to_stop.push_back(*judge);
      actors::task t;
      t.run_id = run;
      t.task_id = "judge";
      t.input = {{"key", judge_key}, {"candidate", listed}, {"generator", "swarm/orchestrator"}};
      t.expires_in(std::chrono::minutes(5));
      caf::scoped_actor self{(*rt)->system()};
      std::string judge_error;
      self->request(*judge, std::chrono::minutes(6), actors::run_atom::value, t)
          .receive(
              [&](const actors::outcome& o) {
                if (!o.ok()) {
                  judge_error = o.describe();
                  return;
                }
                const json answer = o.result.is_object() ? o.result.value("answer", json()) : json();
                std::size_t kept = apply_verdicts(report.findings, candidates, answer);
                say(plan.progress, "judge kept " + std::to_string(kept) + " of " +
                                       std::to_string(candidates.size()) + " unconfirmed finding(s)");
              },
              [&](const caf::error& e) { judge_error = actors::render(e); });
      if (!judge_error.empty()) {
        say(plan.progress, "warning: judge/llm failed: " + judge_error);
        report.skipped.push_back({"judge/llm", judge_error});
      }
    }
  }
  stop_all();
  return done;
}

}  // namespace agora::cli::review
