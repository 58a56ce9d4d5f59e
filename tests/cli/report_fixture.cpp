// The demo run of report_fixture.hpp.
#include "cli/report_fixture.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "agora/actors/agent.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/messages.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/agents/debate.hpp"
#include "agora/agents/policy.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora::test {

namespace {

// Threads erin's asynchronous logic runs on (never a CAF worker); joined
// when the run is over.
struct helper_threads {
  std::mutex mu;
  std::vector<std::thread> threads;
  void spawn(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu);
    threads.emplace_back(std::move(fn));
  }
  void join_all() {
    std::vector<std::thread> mine;
    {
      std::lock_guard<std::mutex> lock(mu);
      mine.swap(threads);
    }
    for (auto& t : mine)
      if (t.joinable()) t.join();
  }
  ~helper_threads() { join_all(); }
};

// Writes the contribution and reports its usage (the contribution protocol).
actors::logic_result contribute(const actors::task& t, bb::scratchpad& sp, const json& answer,
                                std::uint64_t tokens, double cost) {
  auto key = t.input.find("key");
  if (key == t.input.end() || !key->is_string())
    return bb::error{bb::errc::invalid_argument, "task " + t.txn_id() + " has no key"};
  if (auto s = sp.put(key->get<std::string>(), answer); !s) return s.error();
  return json{{"answer", answer}, {"usage", {{"tokens", tokens}, {"cost_usd", cost}}}};
}

std::uint32_t round_of(const actors::task& t) { return t.input.value("round", 1u); }

}  // namespace

bb::result<run_result> make_demo_run(const std::string& dir, const std::string& run_id) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  bb::durability d;
  d.path = dir + "/blackboard.db";
  auto opened = bb::blackboard::open(d);
  if (!opened) return opened.error();
  std::shared_ptr<bb::blackboard> board = *opened;

  actors::runtime_options ro;
  ro.worker_threads = 2;
  ro.spans_path = dir + "/spans.jsonl";
  auto rt = actors::runtime::open(ro);
  if (!rt) return rt.error();

  auto helpers = std::make_shared<helper_threads>();
  auto poked = std::make_shared<std::atomic<bool>>(false);
  bb::result<run_result> out = bb::error{bb::errc::io_error, "the run did not end"};
  {
    debate_config cfg;
    auto add = [&](const char* name, actors::agent_logic logic) -> bb::status {
      auto id = actors::agent_id::make("debater", name);
      if (!id) return id.error();
      auto a = actors::spawn_agent(**rt, board, actors::agent_spec{*id, "debater", {}}, std::move(logic));
      if (!a) return a.error();
      cfg.debaters.push_back({*id, *a, name});
      return {};
    };
    auto sync = [](std::function<actors::logic_result(const actors::task&, bb::scratchpad&)> fn) {
      return actors::agent_logic::sync(std::move(fn));
    };
    bb::status added = add("alice", sync([](const actors::task& t, bb::scratchpad& sp) {
      return contribute(t, sp, "42", 10, 0.001);
    }));
    if (added) added = add("bob", sync([](const actors::task& t, bb::scratchpad& sp) {
      return contribute(t, sp, round_of(t) == 1 ? "41" : "42", 20, 0.002);
    }));
    if (added) added = add("carol", sync([](const actors::task& t, bb::scratchpad& sp) {
      return contribute(t, sp, round_of(t) == 1 ? json(demo_evil_answer) : json("42"), 30, 0.003);
    }));
    if (added) added = add("dave", sync([](const actors::task&, bb::scratchpad&) -> actors::logic_result {
      return bb::error{bb::errc::io_error, "model unavailable"};
    }));
    const std::string round1 = run_keys::round(run_id, 1);
    if (added)
      added = add("erin", actors::agent_logic::async([board, helpers, poked, round1](
                                                         const actors::task& t, bb::scratchpad& sp,
                                                         actors::completion done) {
        if (round_of(t) == 1) {
          // Late: answers once the round-1 record is committed.
          const std::uint64_t from = board->revision() + 1;
          helpers->spawn([board, &sp, t, done, round1, from] {
            auto w = board->watch(round1, from);
            bool closed = false;
            if (auto e = board->get(round1); e && e->exists()) closed = true;
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (!closed && w && std::chrono::steady_clock::now() < until) {
              auto rec = w->next(std::chrono::milliseconds(200));
              if (!rec) break;
              if (*rec) closed = true;
            }
            done(contribute(t, sp, "43", 15, 0.0015));
          });
          return;
        }
        // Round 2: read notes/erin; the first time, someone changes it
        // before the promotion, so the promotion conflicts and is retried.
        auto note = sp.get("notes/erin");
        if (!note) return (void)done.fail(note.error());
        if (poked->exchange(true)) return (void)done(contribute(t, sp, "42", 15, 0.0015));
        helpers->spawn([board, &sp, t, done] {
          auto other = board->begin("tester/poke");
          (void)other.put("notes/erin", "changed under erin's feet");
          (void)board->promote(other);
          done(contribute(t, sp, "42", 15, 0.0015));
        });
      }));
    if (!added) return added.error();
    cfg.run.stop = consensus(majority) | max_rounds(4);
    cfg.run.fallback = fallback::best_so_far;
    cfg.run.round.quorum = 0;
    // Long enough for the three quick debaters on a loaded machine: round 1
    // always lasts this long (erin waits for it to close).
    cfg.run.round.timeout = std::chrono::seconds(3);
    cfg.run.round.late_grace = std::chrono::seconds(10);
    auto debate = spawn_debate(**rt, board, cfg);
    if (!debate) return debate.error();
    // The caller's own span, as `agora run` would write one: the
    // orchestrator's pattern.run is its child, the rounds and the members'
    // tasks below that (the tree the report shows).
    auto root = (*rt)->tracer().start("cli.run", actors::trace_context::make_root(), "agora");
    root.set("agora.run", run_id);
    actors::task t;
    t.run_id = run_id;
    t.task_id = "run";
    t.input = {{"question", "What is 6 x 7? Answer with a number."}};
    t.trace = root.context();
    caf::expected<run_result> r{caf::error{}};
    {
      caf::scoped_actor self{(*rt)->system()};
      self->request(*debate, std::chrono::seconds(60), actors::run_atom::value, t)
          .receive(
              [&](const actors::outcome& o) {
                auto parsed = run_result::from_json(o.result);
                if (parsed)
                  r = std::move(*parsed);
                else
                  r = actors::to_caf_error(parsed.error());
              },
              [&](caf::error& err) { r = std::move(err); });
    }
    if (!r) root.fail(actors::render(r.error()));
    root.end();
    // Erin's threads are done or bounded (20 s): wait for them while the
    // agents still run.
    helpers->join_all();
    if (r)
      out = std::move(*r);
    else
      out = bb::error{bb::errc::io_error, "run " + run_id + ": " + actors::render(r.error())};
    caf::anon_send_exit(*debate, caf::exit_reason::user_shutdown);
    for (auto& m : cfg.debaters) caf::anon_send_exit(m.actor, caf::exit_reason::user_shutdown);
  }
  (*rt)->tracer().flush();
  return out;
}

}  // namespace agora::test
