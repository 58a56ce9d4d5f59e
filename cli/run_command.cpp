// `agora run SCENARIO.json`: loads a scenario (scenario.hpp), runs it on a
// local actor runtime (or, with --listen, on a node that `agora worker`
// processes join), shows progress, prints the result and writes the
// report. execute_scenario (run_scenario.hpp) is the part after the
// command line.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/agents/debate.hpp"
#include "agora/agents/evaluator_loop.hpp"
#include "agora/agents/swarm.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "node_support.hpp"
#include "process.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "run_scenario.hpp"
#include "scenario.hpp"

namespace agora::cli {

namespace fs = std::filesystem;

namespace {

answer_extractor make_extractor(const std::string& field) {
  if (field.empty()) return {};
  return [field](const json& a) {
    const json* v = &a;
    if (v->is_object() && v->contains("answer") && !v->contains(field)) v = &(*v)["answer"];
    if (v->is_object()) {
      auto it = v->find(field);
      if (it != v->end()) return default_extractor(*it);
    }
    return default_extractor(*v);
  };
}

swarm_reducer make_reducer(const std::string& merge) {
  if (merge.empty()) return {};
  return [merge](const swarm_merge& m) -> bb::result<json> {
    if (merge == "collect") {
      json out = json::object();
      for (const auto& [who, c] : m.contributions) out[who] = c;
      return out;
    }
    json out = json::array();
    for (const auto& [who, c] : m.contributions) {
      if (merge == "concat" && c.is_array())
        for (const auto& x : c) out.push_back(x);
      else
        out.push_back(c);
    }
    return out;
  };
}

void send_exit(const caf::actor& a) {
  if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

std::string answer_text(const json& a) {
  if (a.is_string()) return a.get<std::string>();
  return a.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

int execute_scenario(const scenario& s, const run_settings& settings, caf::actor_system& sys,
                     actors::tracer* tracer, std::shared_ptr<bb::blackboard> board, run_node* node,
                     std::ostream& out, std::ostream& err) {
  const std::string run_id = settings.run_id.empty() ? s.name : settings.run_id;
  process_runner runner(2);  // outlives every agent's use of it: agents quit before it goes
  std::vector<caf::actor> actors_to_stop;
  auto stop_all = [&] {
    for (const auto& a : actors_to_stop) send_exit(a);
    actors_to_stop.clear();
  };

  logic_context ctx;
  ctx.processes = &runner;
  ctx.tracer = tracer;
  ctx.record_path = settings.record_path;

  // Members, by part.
  std::map<std::string, member> by_id;
  std::vector<agent_def> remote;
  for (const auto& a : s.agents) {
    if (a.remote) {
      remote.push_back(a);
      continue;
    }
    auto logic = make_agent_logic(s, a, ctx);
    if (!logic) {
      err << "agora run: " << s.file << ": " << logic.error().message << "\n";
      stop_all();
      return exit_usage;
    }
    auto id = actors::agent_id::parse(a.id);
    if (!id) {
      err << "agora run: " << s.file << ": " << id.error().message << "\n";
      stop_all();
      return exit_usage;
    }
    actors::agent_options opts;
    opts.tracer = tracer;
    opts.max_concurrent_tasks = logic->is_async() ? 4 : 1;
    auto actor = actors::spawn_agent(sys, board, {*id, a.part, {}}, *logic, opts);
    if (!actor) {
      err << "agora run: cannot start agent " << a.id << ": " << actor.error().message << "\n";
      stop_all();
      return exit_error;
    }
    actors_to_stop.push_back(caf::actor_cast<caf::actor>(*actor));
    by_id[a.id] = member{*id, *actor, a.role};
  }
  if (!remote.empty()) {
    if (!node) {
      std::string names;
      for (const auto& a : remote) names += (names.empty() ? "" : ", ") + a.id;
      err << "agora run: " << s.file << ": agents " << names
          << " run on workers (\"on\": \"worker\"): give --listen HOST:PORT and start `agora worker --join`\n";
      stop_all();
      return exit_usage;
    }
    if (!settings.json_output) err << "waiting for workers to register " << remote.size() << " agent(s)\n";
    auto members = node->remote_members(remote, settings.wait_workers);
    if (!members) {
      err << "agora run: " << members.error().message << "\n";
      stop_all();
      return interrupted() ? exit_interrupted : exit_error;
    }
    for (std::size_t i = 0; i < remote.size() && i < members->size(); ++i) by_id[remote[i].id] = (*members)[i];
  }

  // The pattern.
  bb::result<actors::agent_actor> pattern = bb::error{bb::errc::invalid_argument, "unknown pattern " + s.pattern};
  // Every member answers once a round (a judge or synthesizer too).
  const std::size_t expected = s.agents.size();
  const answer_extractor extract = make_extractor(s.vote_field);
  if (s.pattern == "debate") {
    debate_config cfg;
    for (const auto& a : s.agents) {
      if (a.part == "judge") cfg.judge = by_id[a.id];
      else cfg.debaters.push_back(by_id[a.id]);
    }
    cfg.run = s.run;
    cfg.extract = extract;
    pattern = spawn_debate(sys, board, std::move(cfg));
  } else if (s.pattern == "swarm") {
    swarm_config cfg;
    for (const auto& a : s.agents) {
      if (a.part == "synthesizer") cfg.synthesizer = by_id[a.id];
      else cfg.contributors.push_back(by_id[a.id]);
    }
    cfg.order = s.order;
    cfg.blind_first = s.blind_first;
    if (!cfg.synthesizer) cfg.reduce = make_reducer(s.merge);
    cfg.run = s.run;
    cfg.extract = extract;
    pattern = spawn_swarm(sys, board, std::move(cfg));
  } else if (s.pattern == "evaluator_loop") {
    evaluator_loop_config cfg;
    for (const auto& a : s.agents) {
      if (a.part == "generator") cfg.generator = by_id[a.id];
      else cfg.evaluators.push_back(by_id[a.id]);
    }
    cfg.combine = s.combine;
    cfg.run = s.run;
    cfg.extract = extract;
    pattern = spawn_evaluator_loop(sys, board, std::move(cfg));
  }
  if (!pattern) {
    err << "agora run: " << s.file << ": " << pattern.error().message << "\n";
    stop_all();
    return exit_usage;
  }
  actors_to_stop.push_back(caf::actor_cast<caf::actor>(*pattern));

  // Ask the pattern from a helper actor (as run_pattern does, but without
  // blocking this thread), so that this one can notice SIGINT meanwhile.
  struct shared_result {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<caf::expected<run_result>> value;
  };
  auto res = std::make_shared<shared_result>();
  auto deliver = [res](caf::expected<run_result> v) {
    std::lock_guard<std::mutex> lock(res->mu);
    res->value.emplace(std::move(v));
    res->cv.notify_all();
  };
  auto progress = progress_line::start(board, run_id, expected, err, settings.progress && is_terminal(2));
  actors::task run_task;
  run_task.run_id = run_id;
  run_task.task_id = "run";
  run_task.input = s.input;
  auto asker = sys.spawn([p = *pattern, run_task, timeout = settings.timeout, deliver](caf::event_based_actor* self) {
    self->request(p, std::chrono::duration_cast<caf::timespan>(timeout), actors::run_atom::value, run_task)
        .then(
            [deliver](const actors::outcome& o) {
              auto r = run_result::from_json(o.result);
              if (r) {
                r->revision = o.revision;
                deliver(std::move(*r));
              } else if (o.error) {
                deliver(o.error);
              } else {
                deliver(actors::to_caf_error(r.error()));
              }
            },
            [deliver](caf::error& e) { deliver(std::move(e)); });
  });
  actors_to_stop.push_back(asker);
  bool was_interrupted = false;
  {
    std::unique_lock<std::mutex> lock(res->mu);
    while (!res->value) {
      res->cv.wait_for(lock, std::chrono::milliseconds(100));
      if (!res->value && interrupted()) {
        was_interrupted = true;
        runner.cancel_all();  // tool processes die now, not at their own timeout
        break;
      }
    }
  }
  progress->stop();
  stop_all();
  if (was_interrupted) {
    err << "agora run: interrupted; what was committed stays on the blackboard (run " << run_id << ")\n";
    return exit_interrupted;
  }
  auto& r = *res->value;
  if (!r) {
    err << "agora run: run " << run_id << " did not finish: " << actors::render(r.error()) << "\n";
    return exit_error;
  }

  if (!settings.report_path.empty()) {
    report_input in;
    in.board = board.get();
    in.run_id = run_id;
    in.spans_path = settings.spans_path;
    in.title = s.name;
    if (auto w = write_html_report(in, settings.report_path); !w)
      err << "agora run: cannot write the report: " << w.error().message << "\n";
  }

  // Members that failed a round, with why (a tool's exit status and stderr).
  json failures = json::array();
  for (std::uint32_t round = 1; round <= r->rounds; ++round) {
    auto rec = board->get(run_keys::round(run_id, round));
    if (!rec || !rec->exists()) continue;
    const json& v = rec->value();
    if (auto f = v.find("failed"); f != v.end() && f->is_object())
      for (auto it = f->begin(); it != f->end(); ++it)
        failures.push_back({{"round", round}, {"agent", it.key()}, {"error", answer_text(*it)}});
  }
  for (const auto& f : failures)
    err << "agora run: round " << f["round"].get<std::uint32_t>() << ": agent " << f["agent"].get<std::string>()
        << " failed: " << f["error"].get<std::string>() << "\n";

  const int code = (r->status == run_status::settled || r->status == run_status::fallback) ? exit_ok : exit_findings;
  if (settings.json_output) {
    json j = r->to_json();
    j["scenario"] = s.name;
    j["pattern"] = s.pattern;
    j["failures"] = failures;
    if (!settings.report_path.empty()) j["report"] = settings.report_path;
    out << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    std::ostringstream cost;
    cost << std::fixed << std::setprecision(4) << r->cost_usd;
    out << "answer: " << answer_text(r->answer) << "\n"
        << "status: " << to_string(r->status) << "\n"
        << "stop reason: " << r->reason << "\n"
        << "rounds: " << r->rounds << "\n"
        << "tokens: " << r->tokens << "\n"
        << "cost: $" << cost.str() << "\n";
    if (!settings.report_path.empty()) out << "report: " << settings.report_path << "\n";
  }
  return code;
}

int run_command(const std::vector<std::string>& args) {
  command_spec spec{
      "run",
      "agora run SCENARIO.json [options]",
      "Runs a scenario: a pattern (debate, swarm, evaluator_loop), its agents (LLM, tool,\n"
      "scripted), a stop policy and a fallback (docs/scenarios.md). Prints the answer, the\n"
      "status, why the run stopped, rounds, tokens and cost.",
      {{"set", "PATH=VALUE", "override a field before checking (/agents/0/role or agents.0.role)",
        true},
       {"run-id", "ID", "the run's id on the blackboard (default: the scenario's name)"},
       {"data", "DIR", "keep the blackboard in DIR/blackboard.db and spans in DIR/spans.jsonl"},
       {"report", "FILE.html", "write a self-contained HTML report of the run"},
       {"json", "", "print the result as one JSON object"},
       {"quiet", "", "no progress line"},
       {"timeout", "S", "give up on the run after S seconds (default 600)"},
       {"record", "FILE", "LLM agents append their exchanges to FILE (JSON lines, for replay)"},
       {"wait-workers", "S", "with --listen: how long to wait for workers' agents (default 60)"}},
      {"SCENARIO.json"},
      1,
      1,
      "exit codes: 0 settled or fell back, 1 escalated or failed, 2 bad command line or scenario\n"
      "(every error printed as FILE:LINE:COL: /field: expected ...; got ...), 3 could not run,\n"
      "130 interrupted.\n"};
  add_node_options(spec, node_role::run);
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, args, parsed)) return *done;
  const parsed_args* a = &parsed;
  auto timeout = number_option(*a, "timeout", 600, 0.001, 1e7);
  auto wait_workers = number_option(*a, "wait-workers", 60, 0, 1e6);
  if (!timeout || !wait_workers) {
    std::cerr << (!timeout ? timeout.error().message : wait_workers.error().message) << "\n";
    return exit_usage;
  }
  const bool listen = a->has("listen");
  std::optional<node_cli> node_opts;
  if (listen) {
    auto n = read_node_options(*a, node_role::run);
    if (!n) {
      std::cerr << n.error().message << "\n";
      return exit_usage;
    }
    node_opts = *n;
  }

  auto loaded = load_scenario(a->positionals[0], a->all("set"));
  if (!loaded) {
    for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "agora run: " << loaded.errors.size() << " error(s) in " << a->positionals[0]
              << "; nothing was run\n";
    return exit_usage;
  }
  const scenario& s = *loaded.value;
  if (!listen) {
    std::string names;
    for (const auto& ag : s.agents)
      if (ag.remote) names += (names.empty() ? "" : ", ") + ag.id;
    if (!names.empty()) {
      std::cerr << s.file << ": agents " << names
                << " run on workers (\"on\": \"worker\"): give --listen HOST:PORT and start `agora worker --join "
                   "HOST:PORT` with the same scenario\n";
      return exit_usage;
    }
  }

  run_settings settings;
  settings.run_id = a->get_or("run-id", "");
  if (!settings.run_id.empty() &&
      (settings.run_id.find('/') != std::string::npos || settings.run_id.find_first_of("\r\n\t") != std::string::npos)) {
    std::cerr << "agora run: --run-id '" << settings.run_id << "': a run id is one key segment (no '/')\n";
    return exit_usage;
  }
  settings.report_path = a->get_or("report", "");
  settings.progress = !a->has("quiet");
  settings.json_output = a->has("json");
  settings.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*timeout * 1000));
  settings.wait_workers = std::chrono::milliseconds(static_cast<std::int64_t>(*wait_workers * 1000));
  settings.record_path = a->get_or("record", "");

  // The blackboard: in memory, or durable under --data.
  std::shared_ptr<bb::blackboard> board;
  if (auto dir = a->get("data")) {
    std::error_code ec;
    fs::create_directories(*dir, ec);
    if (ec) {
      std::cerr << "agora run: --data " << *dir << ": cannot create the directory: " << ec.message() << "\n";
      return exit_usage;
    }
    bb::durability d;
    d.path = (fs::path(*dir) / board_file).string();
    auto opened = bb::blackboard::open(d);
    if (!opened) {
      std::cerr << "agora run: --data " << *dir << ": " << opened.error().message << "\n";
      return exit_error;
    }
    board = *opened;
    settings.spans_path = (fs::path(*dir) / spans_file).string();
  } else {
    board = std::make_shared<bb::blackboard>();
  }

  if (listen) {
    auto ns = node_system::make(*node_opts, settings.spans_path);
    if (!ns) {
      std::cerr << "agora run: " << ns.error().message << "\n";
      return exit_usage;
    }
    int code = exit_error;
    {
      auto node = run_node::start(**ns, board, std::cerr);
      if (!node) {
        std::cerr << "agora run: " << node.error().message << "\n";
        return exit_usage;
      }
      code = execute_scenario(s, settings, (*ns)->system(), &(*ns)->tracer(), board, node->get(), std::cout,
                              std::cerr);
      (*node)->stop();
    }
    return code;
  }

  actors::runtime_options opts;
  opts.spans_path = settings.spans_path;
  auto rt = actors::runtime::open(opts);
  if (!rt) {
    std::cerr << "agora run: " << rt.error().message << "\n";
    return exit_error;
  }
  return execute_scenario(s, settings, (*rt)->system(), &(*rt)->tracer(), board, nullptr, std::cout, std::cerr);
}

}  // namespace agora::cli
