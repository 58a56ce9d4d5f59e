// patterns_bench: what orchestration costs when agents are instant.
//
//   debate round, K debaters   wall time per round of a debate whose
//                              debaters answer at once (K = 3, 10, 100, 1000):
//                              all of it is orchestration — fan-out, gather,
//                              the round record on the blackboard, policies.
//   swarm round, N agents      one parallel round of N instant agents in one
//                              process (N = 10,000 and 100,000): time, and
//                              resident memory per agent (agents, their
//                              contributions and the round's records).
//
// Prints a table, then one JSON line. Figures are medians of --reps runs.
// Targets (issue 4): a 3-debater round in at most 50 us of overhead; a
// 100,000-agent swarm round in under 1 s with at most 2 KiB per agent.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <caf/scoped_actor.hpp>

#include "agora/actors/runtime.hpp"
#include "agora/agents/debate.hpp"
#include "agora/agents/run.hpp"
#include "agora/agents/swarm.hpp"
#include "bench_common.hpp"

using namespace agora;
using json = nlohmann::json;

namespace {

using agora::bench::figure;

[[noreturn]] void die(const std::string& what) {
  std::cerr << "patterns_bench: " << what << "\n";
  std::exit(1);
}

/// Resident set size of this process in bytes.
double rss_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

actors::runtime_options bench_runtime() {
  actors::runtime_options o;
  o.worker_threads = 2;
  return o;
}

/// Microseconds per round of a debate among `k` instant debaters that never
/// agree (every debater keeps its own answer), stopped by max_rounds(rounds).
double debate_round_us(int k, std::uint32_t rounds) {
  actors::runtime rt{bench_runtime()};
  auto board = std::make_shared<bb::blackboard>();
  // Instant: answers its own name; reads nothing, so no conflicts.
  auto logic = actors::agent_logic::sync([](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    json answer = sp.author();
    if (auto s = sp.put(t.input["key"].get<std::string>(), answer); !s) return std::move(s).take_error();
    return json{{"answer", std::move(answer)}};
  });
  debate_config cfg;
  for (int i = 0; i < k; ++i) {
    auto id = actors::agent_id::make("debater", std::to_string(i));
    auto a = actors::spawn_agent(rt, board, {*id, "debater", {}}, logic);
    if (!a) die("spawn_agent: " + bb::to_string(a.error()));
    cfg.debaters.push_back({*id, *a, ""});
  }
  cfg.run.stop = max_rounds(rounds);
  auto d = spawn_debate(rt, board, cfg);
  if (!d) die("spawn_debate: " + bb::to_string(d.error()));
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_pattern(rt.system(), *d, "bench", {{"question", "?"}}, std::chrono::minutes(10));
  double s = bench::seconds_since(t0);
  if (!r) die("debate run failed: " + actors::render(r.error()));
  if (r->rounds != rounds) die("debate ran " + std::to_string(r->rounds) + " rounds, not " + std::to_string(rounds));
  return s * 1e6 / rounds;
}

struct swarm_figures {
  double round_s;          // one round, from the run request to its result
  double bytes_per_agent;  // resident memory added per agent: agents, contributions, records
};

/// One parallel-then-merge round of `n` instant contributors whose
/// contributions a reducer counts.
swarm_figures swarm_round(int n) {
  actors::runtime rt{bench_runtime()};
  // A run's meta and round records list every member: with 100,000 of them
  // they outgrow the default 1 MiB value limit.
  bb::blackboard_options bo;
  bo.limits.max_value_bytes = std::size_t{64} << 20;
  auto board = std::make_shared<bb::blackboard>(bo);
  const double before = rss_bytes();
  auto logic = contributor([](const swarm_turn& t) -> bb::result<json> { return json(t.persona.size()); });
  swarm_config cfg;
  cfg.contributors.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto id = actors::agent_id::make("worker", std::to_string(i));
    auto a = actors::spawn_agent(rt, board, {*id, "worker", {}}, logic);
    if (!a) die("spawn_agent: " + bb::to_string(a.error()));
    cfg.contributors.push_back({*id, *a, ""});
  }
  cfg.order = swarm_order::parallel_then_merge;
  cfg.reduce = [](const swarm_merge& m) -> bb::result<json> {
    return json{{"contributions", m.contributions.size()}};
  };
  cfg.run.stop = max_rounds(1);
  cfg.run.round.timeout = std::chrono::minutes(5);
  auto sw = spawn_swarm(rt, board, std::move(cfg));
  if (!sw) die("spawn_swarm: " + bb::to_string(sw.error()));
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_pattern(rt.system(), *sw, "bench", {{"task", "count"}}, std::chrono::minutes(10));
  double s = bench::seconds_since(t0);
  if (!r) die("swarm run failed: " + actors::render(r.error()));
  if (!r->answer.is_object() || r->answer.value("contributions", 0) != n)
    die("swarm round counted " + r->answer.dump() + ", not " + std::to_string(n) +
        " contributions (" + to_string(r->status) + ": " + r->reason + ")");
  return {s, (rss_bytes() - before) / n};
}

/// swarm_round in a process of its own (this executable with --swarm N):
/// memory an earlier measurement freed would otherwise be reused and hide
/// what a round costs.
swarm_figures swarm_round_in_child(int n) {
  std::string cmd = "/proc/self/exe --swarm " + std::to_string(n);
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) die("cannot find this executable");
  exe[len] = '\0';
  cmd = std::string("'") + exe + "' --swarm " + std::to_string(n);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) die("cannot run " + cmd);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) die(cmd + " failed: " + out);
  auto j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("round_s")) die(cmd + " printed: " + out);
  return {j["round_s"].get<double>(), j["bytes_per_agent"].get<double>()};
}

struct settings {
  bool quick = false;
  int reps = 5;
  int only_debaters = 0;  // --debaters K: only the debate case with K debaters
  int only_swarm = 0;     // --swarm N: one swarm round of N agents, printed as one JSON line
};

std::optional<settings> parse_args(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      s.quick = true;
    } else if (std::strcmp(argv[i], "--swarm") == 0 && i + 1 < argc) {
      s.only_swarm = std::atoi(argv[++i]);
      if (s.only_swarm < 1) return std::nullopt;
    } else if (std::strcmp(argv[i], "--debaters") == 0 && i + 1 < argc) {
      s.only_debaters = std::atoi(argv[++i]);
      if (s.only_debaters < 1) return std::nullopt;
    } else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      auto n = bench::parse_reps(argv[++i]);
      if (!n) return std::nullopt;
      s.reps = *n;
    } else {
      return std::nullopt;
    }
  }
  return s;
}

void print_table(const std::vector<figure>& figs, const json& m, const settings& s) {
  std::printf("patterns_bench — %s, %d cores, %s; median of %d runs%s\n\n",
              m["cpu"].get<std::string>().c_str(), m["cores"].get<int>(),
              m["kernel"].get<std::string>().c_str(), s.reps, s.quick ? " (quick)" : "");
  std::printf("%-34s %-22s %12s %12s %12s %10s\n", "case", "metric", "median", "min", "max", "target");
  for (const auto& f : figs) {
    std::string target = f.baseline ? bench::human(*f.baseline) : "-";
    std::printf("%-34s %-22s %12s %12s %12s %10s\n", f.case_name.c_str(), (f.metric + " [" + f.unit + "]").c_str(),
                bench::human(f.median()).c_str(), bench::human(f.min()).c_str(),
                bench::human(f.max()).c_str(), target.c_str());
  }
  std::printf("\n");
}

json to_json(const std::vector<figure>& figs, const json& m) {
  json results = json::array();
  for (const auto& f : figs) {
    json r = {{"case", f.case_name}, {"metric", f.metric}, {"value", f.median()}, {"unit", f.unit}};
    r["baseline"] = f.baseline ? json(*f.baseline) : json();
    // ratio = value / target: <= 1 meets a time or memory target.
    r["ratio"] = f.baseline ? json(f.median() / *f.baseline) : json();
    r["min"] = f.min();
    r["max"] = f.max();
    results.push_back(r);
  }
  return {{"bench", "patterns_bench"}, {"machine", m}, {"results", results}};
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed) {
    std::cerr << "usage: patterns_bench [--quick] [--reps N] [--debaters K]\n"
                 "  --quick   fewer rounds and agents (smoke test)\n"
                 "  --debaters K  only the debate case with K debaters (for profiling)\n"
                 "  --swarm N     one swarm round of N agents, as a JSON line (run per measurement)\n"
                 "  --reps N  repetitions per figure, 5..1000 (default 5; figures are medians)\n";
    return 2;
  }
  const settings s = *parsed;
  if (s.only_swarm) {
    auto f = swarm_round(s.only_swarm);
    std::cout << json{{"round_s", f.round_s}, {"bytes_per_agent", f.bytes_per_agent}}.dump() << std::endl;
    return 0;
  }
  std::vector<figure> figures;
  struct debate_case {
    int k;
    std::uint32_t rounds;
  };
  std::vector<debate_case> cases = s.quick ? std::vector<debate_case>{{3, 50}, {10, 20}, {100, 5}}
                                           : std::vector<debate_case>{{3, 2000}, {10, 1000}, {100, 100}, {1000, 10}};
  if (s.only_debaters) cases = {{s.only_debaters, s.only_debaters <= 10 ? 500u : 20u}};
  for (const auto& c : cases) {
    figure f{"debate round, " + std::to_string(c.k) + " debaters", "time per round", "us",
             c.k == 3 ? std::optional<double>(50.0) : std::nullopt, {}};
    for (int r = 0; r < s.reps; ++r) f.samples.push_back(debate_round_us(c.k, c.rounds));
    figures.push_back(f);
  }
  if (!s.only_debaters) {
    for (int n : s.quick ? std::vector<int>{1000, 10000} : std::vector<int>{10000, 100000}) {
      figure t{"swarm round, " + std::to_string(n) + " agents", "time per round", "s",
               n == 100000 ? std::optional<double>(1.0) : std::nullopt, {}};
      figure mem{"swarm round, " + std::to_string(n) + " agents", "memory per agent", "bytes",
                 n == 100000 ? std::optional<double>(2048.0) : std::nullopt, {}};
      for (int r = 0; r < s.reps; ++r) {
        auto f = swarm_round_in_child(n);
        t.samples.push_back(f.round_s);
        mem.samples.push_back(f.bytes_per_agent);
      }
      figures.push_back(t);
      figures.push_back(mem);
    }
  }
  json m = bench::machine();
  print_table(figures, m, s);
  std::cout << to_json(figures, m).dump() << std::endl;
  return 0;
}
