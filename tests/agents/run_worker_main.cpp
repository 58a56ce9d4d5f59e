// A worker process for the resume tests (resume_process_test.cpp): runs one
// debate on a durable blackboard file, so that the test can SIGKILL it in
// the middle of a round and start it again on the same file.
//
//   run_worker --db FILE --run ID --calls FILE [--block DEBATER|all --block-round R]
//              [--budget TOKENS] [--max-rounds N] [--timeout-s S]
//
// Three debaters, debater/alice, debater/bob and debater/carol, answer
// "x", "y" and (round 1) "z", (later rounds) the previous round's
// aggregate, read from its record through the scratchpad. Each reports
// usage — 10, 20, 30 tokens and 0.125, 0.25, 0.5 USD per answer — so the
// run's budget grows by 60 tokens a round. The stop policy is
// consensus(unanimity) | token_budget(TOKENS) | max_rounds(N), fallback
// best_so_far, which never settles: the token budget decides the round the
// run stops in.
//
// Before it answers, each debater appends "<debater id> <round>\n" to the
// calls file with one write(2) on an O_APPEND descriptor, so lines from
// several threads (and from the killed and the restarted process) never
// mix. With --block, that debater (every debater with "all") writes its
// line in round R and then never answers (its completion is parked): the
// run hangs in round R until the test kills the process.
//
// Standard output, one line each, for the test to wait on:
//   READY <revision>              the board is open at this revision
//   COMMIT <txn id> <revision>    a contribution under runs/ID/answers committed
//   RESULT <run_result json>      the run ended (exit 0)
//   FAILED <reason>               anything went wrong (exit 4)
// The caller reads these lines as they come.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/agents/debate.hpp"
#include "agora/agents/policy.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace {

using namespace agora;

struct args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, std::string def = {}) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long num(const std::string& k, long def) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    return (end && *end == '\0') ? v : def;
  }
};

std::mutex out_mu;

int say(const std::string& what, const std::string& text, int code = 0) {
  std::lock_guard<std::mutex> lock(out_mu);
  std::cout << what << " " << text << std::endl;
  return code;
}

/// The calls log: one write(2) per line on an O_APPEND descriptor.
class calls_log {
 public:
  explicit calls_log(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) {}
  ~calls_log() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool append(const std::string& line) const {
    const std::string text = line + "\n";
    return ::write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }

 private:
  int fd_;
};

/// Completions of the blocked debater, held so they are never called.
struct parked {
  std::mutex mu;
  std::vector<actors::completion> runs;
};

struct debater_setup {
  std::string name;
  std::uint64_t tokens;
  double cost_usd;
};

/// A debater that follows the contribution protocol and reports usage.
actors::agent_logic debater_logic(debater_setup who, std::shared_ptr<calls_log> log,
                                  std::shared_ptr<parked> park, std::string block,
                                  std::uint32_t block_round) {
  return actors::agent_logic::async([=](const actors::task& t, bb::scratchpad& sp,
                                        actors::completion done) {
    auto fail = [&](const std::string& why) {
      done.fail(bb::error{bb::errc::invalid_argument, "task " + t.txn_id() + ": " + why});
    };
    if (!t.input.is_object()) return fail("input is not a JSON object");
    const auto round_it = t.input.find("round");
    const auto key_it = t.input.find("key");
    if (round_it == t.input.end() || !round_it->is_number_unsigned()) return fail("no round");
    if (key_it == t.input.end() || !key_it->is_string()) return fail("no key");
    const auto round = round_it->get<std::uint32_t>();
    // The previous round's record, through the scratchpad (it enters the read set).
    std::string previous_aggregate;
    auto prev = t.input.find("previous");
    if (prev != t.input.end() && prev->is_string()) {
      auto rec = sp.get(prev->get<std::string>());
      if (!rec) return (void)done.fail(rec.error());
      const json& v = rec->exists() ? rec->value() : json();
      auto summary = v.is_object() ? v.find("summary") : v.end();
      if (v.is_object() && summary != v.end() && summary->is_object()) {
        auto agg = summary->find("aggregate");
        if (agg != summary->end() && agg->is_string()) previous_aggregate = agg->get<std::string>();
      }
    }
    if (!log->append("debater/" + who.name + " " + std::to_string(round)))
      return fail("cannot append to the calls log");
    if ((who.name == block || block == "all") && round == block_round) {
      std::lock_guard<std::mutex> lock(park->mu);
      park->runs.push_back(std::move(done));  // never answers
      return;
    }
    json answer = who.name == "alice" ? json("x")
                  : who.name == "bob" ? json("y")
                  : round == 1 || previous_aggregate.empty() ? json("z")
                                                             : json(previous_aggregate);
    if (auto s = sp.put(key_it->get<std::string>(), answer); !s) return (void)done.fail(s.error());
    done.ok({{"answer", answer},
             {"usage", {{"tokens", who.tokens}, {"cost_usd", who.cost_usd}}}});
  });
}

/// Prints a COMMIT line for every contribution under `prefix` until stopped.
class commit_reporter {
 public:
  commit_reporter(bb::watch w) : w_(std::move(w)), th_([this] { loop(); }) {}
  ~commit_reporter() {
    stop_ = true;
    th_.join();
  }

 private:
  void loop() {
    while (!stop_) {
      auto rec = w_.next(std::chrono::milliseconds(50));
      if (!rec) return;
      if (*rec) say("COMMIT", (*rec)->txn_id + " " + std::to_string((*rec)->revision));
    }
  }
  bb::watch w_;
  std::atomic<bool> stop_{false};
  std::thread th_;
};

int run(const args& a) {
  const std::string db = a.get("--db"), run_id = a.get("--run"), calls = a.get("--calls");
  if (db.empty() || run_id.empty() || calls.empty())
    return say("FAILED", "usage: run_worker --db FILE --run ID --calls FILE", 4);
  auto log = std::make_shared<calls_log>(calls);
  if (!log->ok()) return say("FAILED", "cannot open the calls log '" + calls + "'", 4);

  bb::durability d;
  d.path = db;
  auto board = bb::blackboard::open(d);
  if (!board) return say("FAILED", bb::to_string(board.error()), 4);
  say("READY", std::to_string((*board)->revision()));
  auto watch = (*board)->watch("runs/" + run_id + "/answers", 0);
  if (!watch) return say("FAILED", bb::to_string(watch.error()), 4);

  actors::runtime_options ro;
  ro.worker_threads = 2;
  int code = 0;
  {
    actors::runtime rt(ro);
    auto park = std::make_shared<parked>();
    const std::string block = a.get("--block");
    const auto block_round = static_cast<std::uint32_t>(a.num("--block-round", 0));
    debate_config cfg;
    for (const auto& who : {debater_setup{"alice", 10, 0.125}, debater_setup{"bob", 20, 0.25},
                            debater_setup{"carol", 30, 0.5}}) {
      auto id = actors::agent_id::make("debater", who.name);
      if (!id) return say("FAILED", bb::to_string(id.error()), 4);
      auto agent = actors::spawn_agent(rt.system(), *board, actors::agent_spec{*id, "debater", {}},
                                       debater_logic(who, log, park, block, block_round));
      if (!agent) return say("FAILED", bb::to_string(agent.error()), 4);
      cfg.debaters.push_back({*id, *agent, ""});
    }
    cfg.run.stop = consensus(unanimity) |
                   token_budget(static_cast<std::uint64_t>(a.num("--budget", 300))) |
                   max_rounds(static_cast<std::uint32_t>(a.num("--max-rounds", 8)));
    cfg.run.fallback = fallback::best_so_far;
    const auto timeout = std::chrono::seconds(a.num("--timeout-s", 60));
    cfg.run.round.timeout = timeout;
    cfg.run.round.late_grace = std::chrono::seconds(1);
    auto debate = spawn_debate(rt, *board, cfg);
    if (!debate) return say("FAILED", bb::to_string(debate.error()), 4);
    {
      commit_reporter reporter(std::move(*watch));
      auto r = run_pattern(rt.system(), *debate, run_id, {{"question", "x or y?"}}, timeout * 2);
      if (r)
        say("RESULT", r->to_json().dump());
      else
        code = say("FAILED", actors::render(r.error()), 4);
    }
    caf::anon_send_exit(*debate, caf::exit_reason::user_shutdown);
    for (auto& m : cfg.debaters) caf::anon_send_exit(m.actor, caf::exit_reason::user_shutdown);
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  for (int i = 1; i + 1 < argc; i += 2) a.kv[argv[i]] = argv[i + 1];
  return run(a);
}
