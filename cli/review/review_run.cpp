// Runs a review as a swarm of reviewer agents (review_run.hpp).
#include <algorithm>
#include <atomic>
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
    "buffer-overflow, resource-leak, null-deref, uninitialized, use-after-free, bad-free, format-string, "
    "command-injection, integer-overflow, divide-by-zero, dangerous-function, complexity, bug, style";

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

const std::vector<std::string>& all_reviewers() {
  static const std::vector<std::string> names = {"security", "complexity", "cppcheck",
                                                 "gcc",      "clang-tidy", "flawfinder", "flow"};
  return names;
}

std::string review_result_key() { return std::string("runs/") + review_run_id + "/review"; }

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

  // A reviewer's contribution and the merged result are one value each;
  // on a large tree (thousands of findings) they pass the default 1 MiB,
  // so the review's own board allows values up to review_max_value_bytes.
  bb::blackboard_options options;
  options.limits.max_value_bytes = review_max_value_bytes;
  std::shared_ptr<bb::blackboard> board;
  if (plan.board_path.empty()) {
    board = std::make_shared<bb::blackboard>(options);
  } else {
    bb::durability d;
    d.path = plan.board_path;
    auto opened = bb::blackboard::open(d, options);
    if (!opened) return bb::error{bb::errc::io_error, opened.error().message};
    board = *opened;
  }
  if (auto s = install_findings_contract(*board); !s) return s.error();

  const std::string run = review_run_id;
  review_done done;
  done.board = board;
  review_report& report = done.report;
  report.files = plan.tree->files.size();
  report.target = plan.tree->target;
  report.root = plan.tree->root;
  report.consensus = plan.consensus;

  // Sources for the LLM agents: on the blackboard, so they reach the model as quoted data.
  if (plan.llm) {
    auto sp = board->begin("cli/review");
    if (auto s = sp.put(sources_key, numbered_sources(*plan.tree)); !s) return s.error();
    if (auto c = board->promote(sp); !c) return c.error();
  }

  auto runner = std::make_shared<process_runner>(plan.jobs);
  tool_context ctx;
  ctx.tree = plan.tree;
  ctx.flags = plan.flags ? plan.flags : std::make_shared<const build_flags>(default_flags(*plan.tree));
  ctx.runner = runner;
  ctx.per_file_timeout = plan.per_file_timeout;
  // Tool processes end by the deadline (not started after it, their
  // timeouts cut to it); the round closes a little later, so what ran is
  // parsed and committed and what did not is named.
  const std::chrono::milliseconds limit =
      plan.budget.count() > 0 ? plan.budget : std::chrono::milliseconds(default_review_limit);
  ctx.deadline = std::chrono::steady_clock::now() + limit;
  ctx.deadline_reason = plan.budget.count() > 0
                            ? "the review's time budget (--budget " + std::to_string(plan.budget.count() / 1000) + " s) ran out"
                            : "the review's time limit (" + std::to_string(default_review_limit.count()) + " h) ran out";
  struct tally {
    std::atomic<std::size_t> planned{0};
    std::atomic<std::size_t> done{0};
  };
  auto counts = std::make_shared<tally>();
  ctx.files_planned = [counts](std::size_t n) { counts->planned += n; };
  ctx.file_done = [counts] { ++counts->done; };
  const auto& wanted = plan.reviewers.empty() ? all_reviewers() : plan.reviewers;
  auto want = [&wanted](const char* name) {
    return std::find(wanted.begin(), wanted.end(), name) != wanted.end();
  };
  std::vector<std::pair<std::string, actors::agent_logic>> logics;
  if (want("security")) logics.emplace_back("security", builtin_reviewer(plan.tree, review_security));
  if (want("complexity"))
    logics.emplace_back("complexity", builtin_reviewer(plan.tree, [](const source_tree& t) {
                          return review_complexity(t);
                        }));
  auto tool = [&](const char* name, const char* program, actors::agent_logic (*make)(tool_context)) {
    if (!want(name)) return;
    if (!program_exists(program)) {
      std::string why = std::string(program) + " is not installed (scripts/setup.sh installs it)";
      say(plan.progress, std::string("warning: reviewer/") + name + " left out: " + why);
      report.skipped.push_back({std::string("reviewer/") + name, why});
      return;
    }
    logics.emplace_back(name, make(ctx));
  };
  tool("cppcheck", "cppcheck", cppcheck_reviewer);
  tool("gcc", "gcc", gcc_reviewer);
  tool("clang-tidy", "clang-tidy", clang_tidy_reviewer);
  tool("flawfinder", "flawfinder", flawfinder_reviewer);
  tool("flow", "clang", flow_reviewer);
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
  // One round: the merge of the reviewers' findings is the review's
  // answer. stable_answer(1) settles it as soon as the round has merged
  // (status "settled", not a fallback chosen by a limit); max_rounds(1)
  // bounds the run and ends it when no merge came (every reviewer failed).
  cfg.run.stop = stable_answer(1) | max_rounds(1);
  cfg.run.fallback = fallback::best_so_far;
  cfg.run.round.timeout = limit + std::chrono::seconds(30);
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
  auto pending = std::async(std::launch::async, [&sys, swarm_actor, run, input, limit] {
    return run_pattern(sys, swarm_actor, run, input, limit + std::chrono::seconds(90));
  });
  bool stopped = false;
  auto stopped_at = std::chrono::steady_clock::now();
  const auto began = std::chrono::steady_clock::now();
  auto next_progress = began + std::chrono::seconds(10);
  std::size_t last_done = 0;
  while (pending.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    const auto now = std::chrono::steady_clock::now();
    if (plan.progress && now >= next_progress) {
      // A line every 10 s while the tools work, so a long review is seen to move.
      next_progress = now + std::chrono::seconds(10);
      const std::size_t d = counts->done;
      const std::size_t p = counts->planned;
      if (p > 0 && d != last_done) {
        last_done = d;
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - began).count();
        say(plan.progress, std::to_string(d) + " of " + std::to_string(p) + " file checks done (" +
                               std::to_string(100 * d / p) + "%), " + std::to_string(secs) + " s");
      }
    }
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
    if (auto c = board->get(coverage_key(run, m.id.str())); c && c->exists()) {
      auto cov = coverage_from_json(c->value(), m.id.str());
      for (auto& n : cov.files) report.unanalysed.push_back(std::move(n));
    }
  }
  if (!ctx.flags->not_in_database.empty())
    say(plan.progress, "warning: " + std::to_string(ctx.flags->not_in_database.size()) +
                           " file(s) not in the compile database, reviewed with the default flags (first: " +
                           ctx.flags->not_in_database.front() + ")");
  report.reviewers = contributed;
  report.findings = merge_findings(by, plan.consensus);
  add_context(report.findings, *plan.tree);

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
  if (auto s = record_result(*board, report); !s) return s.error();
  return done;
}

bb::status record_result(bb::blackboard& board, const review_report& report) {
  auto sp = board.begin("cli/review");
  if (auto s = sp.put(review_result_key(), to_json(report)); !s) return s.error();
  if (auto c = board.promote(sp); !c) return c.error();
  return {};
}

}  // namespace agora::cli::review
