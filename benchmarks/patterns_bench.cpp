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
//   llm debate, K debaters x R rounds
//                              the debate benchmarks/run_all compares with
//                              LangGraph.js (benchmarks/peers/langgraph):
//                              K llm_agent debaters on one synchronous
//                              scripted_client that answers at once (the
//                              instant fake model), max_rounds(R) (R = 3),
//                              K = 3, 10, 30, 100 (--quick: 3, 100). Each
//                              repetition is a fresh process (this executable
//                              with --llm-debate K): it builds the runtime,
//                              board and agents, runs W warm-up debates, then
//                              M debates timed as one block; time per round =
//                              block / (M x R). Memory from /proc/self/status:
//                              the peak resident set (VmHWM) at the end and
//                              what the run added to it (VmHWM at the end
//                              minus VmRSS before the runtime was built).
//                              W and M: K = 3: 20 / 200 (quick 5 / 20);
//                              K <= 10: 10 / 50 (2 / 10); else 3 / 20 (1 / 3)
//                              — the same as debate.mjs's counts().
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
#include "agora/agents/llm_agent.hpp"
#include "agora/agents/run.hpp"
#include "agora/agents/swarm.hpp"
#include "agora/agents/test_clients.hpp"
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

/// A `kB` field of /proc/self/status (VmRSS, VmHWM) in bytes.
double status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::atof(line.c_str() + prefix.size()) * 1024.0;
  die(std::string("no ") + field + " in /proc/self/status");
}

/// Warm-up and timed debates per process for K debaters (both sides alike).
struct debate_counts {
  int warmup;
  int runs;
};
debate_counts llm_debate_counts(int k, bool quick) {
  if (k <= 3) return quick ? debate_counts{5, 20} : debate_counts{20, 200};
  if (k <= 10) return quick ? debate_counts{2, 10} : debate_counts{10, 50};
  return quick ? debate_counts{1, 3} : debate_counts{3, 20};
}

struct llm_debate_figures {
  double round_us;     // time per round over the timed debates
  double hwm_bytes;    // peak resident set of the process
  double added_bytes;  // peak resident set minus the resident set before the runtime existed
};

/// `warmup` + `runs` debates of `k` llm_agent debaters on an instant scripted
/// model, `rounds` rounds each (max_rounds), on one runtime, board and set of
/// agents; a run id per debate.
llm_debate_figures llm_debate(int k, std::uint32_t rounds, int warmup, int runs) {
  const double before = status_bytes("VmRSS");
  actors::runtime rt{bench_runtime()};
  auto board = std::make_shared<bb::blackboard>();
  // The instant fake model: answers inside call(), on the caller's thread.
  auto model = std::make_shared<scripted_client>([](const llm_request& r) -> llm_result {
    return scripted_client::reply("answer of " + r.messages.front().content);
  });
  debate_config cfg;
  for (int i = 0; i < k; ++i) {
    auto id = actors::agent_id::make("debater", std::to_string(i));
    if (!id) die("agent id: " + bb::to_string(id.error()));
    llm_agent_config llm;
    llm.client = model;
    llm.system = "You are debater/" + std::to_string(i) + ".";
    llm.prompt = "Question: {{input.question}}\nYour persona: {{input.persona}}.";
    auto logic = llm_agent(llm);
    if (!logic) die("llm_agent: " + bb::to_string(logic.error()));
    auto a = actors::spawn_agent(rt, board, {*id, "debater", {}}, *logic);
    if (!a) die("spawn_agent: " + bb::to_string(a.error()));
    cfg.debaters.push_back({*id, *a, "debater/" + std::to_string(i)});
  }
  cfg.run.stop = max_rounds(rounds);
  auto d = spawn_debate(rt, board, cfg);
  if (!d) die("spawn_debate: " + bb::to_string(d.error()));
  int n = 0;
  auto debate = [&] {
    auto r = run_pattern(rt.system(), *d, "bench-" + std::to_string(n++),
                         {{"question", "How many minutes does the job take?"}}, std::chrono::minutes(10));
    if (!r) die("debate run failed: " + actors::render(r.error()));
    if (r->rounds != rounds)
      die("debate ran " + std::to_string(r->rounds) + " rounds, not " + std::to_string(rounds) + " (" +
          to_string(r->status) + ": " + r->reason + ")");
  };
  for (int i = 0; i < warmup; ++i) debate();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) debate();
  double s = bench::seconds_since(t0);
  const double hwm = status_bytes("VmHWM");
  return {s * 1e6 / (static_cast<double>(runs) * rounds), hwm, hwm - before};
}

/// llm_debate in a fresh process (this executable with --llm-debate K).
llm_debate_figures llm_debate_in_child(int k, std::uint32_t rounds, bool quick) {
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) die("cannot find this executable");
  exe[len] = '\0';
  const auto c = llm_debate_counts(k, quick);
  std::string cmd = std::string("'") + exe + "' --llm-debate " + std::to_string(k) + " --rounds " +
                    std::to_string(rounds) + " --warmup " + std::to_string(c.warmup) + " --runs " +
                    std::to_string(c.runs);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) die("cannot run " + cmd);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) die(cmd + " failed: " + out);
  auto j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("round_us")) die(cmd + " printed: " + out);
  return {j["round_us"].get<double>(), j["hwm_bytes"].get<double>(), j["added_bytes"].get<double>()};
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
  // --llm-debaters L: the llm debate cases' debater counts ("none": no such case)
  std::optional<std::vector<int>> llm_debaters;
  int llm_debate = 0;        // --llm-debate K: one llm debate measurement (a child), one JSON line
  std::uint32_t rounds = 3;  // --rounds R (llm debate)
  int warmup = 0;            // --warmup W (with --llm-debate)
  int runs = 1;              // --runs M (with --llm-debate)
};

/// "3,10,100" -> {3, 10, 100} (each 1..100000); "none" -> {}.
std::optional<std::vector<int>> parse_counts(const std::string& text) {
  std::vector<int> out;
  if (text == "none") return out;
  std::size_t pos = 0;
  while (true) {
    auto comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long n = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n < 1 || n > 100000) return std::nullopt;
    out.push_back(static_cast<int>(n));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

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
    } else if (std::strcmp(argv[i], "--llm-debaters") == 0 && i + 1 < argc) {
      s.llm_debaters = parse_counts(argv[++i]);
      if (!s.llm_debaters) return std::nullopt;
    } else if (std::strcmp(argv[i], "--llm-debate") == 0 && i + 1 < argc) {
      s.llm_debate = std::atoi(argv[++i]);
      if (s.llm_debate < 1) return std::nullopt;
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      int r = std::atoi(argv[++i]);
      if (r < 1 || r > 1000) return std::nullopt;
      s.rounds = static_cast<std::uint32_t>(r);
    } else if (std::strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
      s.warmup = std::atoi(argv[++i]);
      if (s.warmup < 0) return std::nullopt;
    } else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      s.runs = std::atoi(argv[++i]);
      if (s.runs < 1) return std::nullopt;
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
  std::printf("%-38s %-30s %12s %12s %12s %10s\n", "case", "metric", "median", "min", "max", "target");
  for (const auto& f : figs) {
    std::string target = f.baseline ? bench::human(*f.baseline) : "-";
    std::printf("%-38s %-30s %12s %12s %12s %10s\n", f.case_name.c_str(), (f.metric + " [" + f.unit + "]").c_str(),
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
                 "  --llm-debaters L  debater counts of the llm debate cases, e.g. 3,100 or none\n"
                 "                (default 3,10,30,100; --quick: 3,100)\n"
                 "  --llm-debate K [--rounds R] [--warmup W] [--runs M]\n"
                 "                one llm debate measurement in this process, as a JSON line\n"
                 "  --reps N  repetitions per figure, 5..1000 (default 5; figures are medians)\n";
    return 2;
  }
  const settings s = *parsed;
  if (s.only_swarm) {
    auto f = swarm_round(s.only_swarm);
    std::cout << json{{"round_s", f.round_s}, {"bytes_per_agent", f.bytes_per_agent}}.dump() << std::endl;
    return 0;
  }
  if (s.llm_debate) {
    auto f = llm_debate(s.llm_debate, s.rounds, s.warmup, s.runs);
    std::cout << json{{"round_us", f.round_us}, {"hwm_bytes", f.hwm_bytes}, {"added_bytes", f.added_bytes}}.dump()
              << std::endl;
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
  // The llm debate cases (run_all compares them with LangGraph.js).
  const std::vector<int> llm_ks =
      s.only_debaters ? std::vector<int>{}
                      : s.llm_debaters.value_or(s.quick ? std::vector<int>{3, 100} : std::vector<int>{3, 10, 30, 100});
  for (int k : llm_ks) {
    const std::string name = "llm debate, " + std::to_string(k) + " debaters x " + std::to_string(s.rounds) + " rounds";
    figure t{name, "time per round", "us", std::nullopt, {}};
    figure hwm{name, "peak RSS", "MiB", std::nullopt, {}};
    figure added{name, "RSS added by the run", "MiB", std::nullopt, {}};
    for (int r = 0; r < s.reps; ++r) {
      auto f = llm_debate_in_child(k, s.rounds, s.quick);
      t.samples.push_back(f.round_us);
      hwm.samples.push_back(f.hwm_bytes / 1048576.0);
      added.samples.push_back(f.added_bytes / 1048576.0);
    }
    figures.push_back(t);
    figures.push_back(hwm);
    figures.push_back(added);
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
