#include "agora/agents/delegator.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "block.hpp"
#include "orchestrator.hpp"

namespace agora {

json subtask_result::to_json() const {
  return {{"subtask", index}, {"worker", worker}, {"ok", ok}, {"answer", answer}, {"error", error}};
}

bb::result<subtask_result> subtask_result::from_json(const json& j) {
  auto bad = [](const std::string& field, const std::string& what) {
    return bb::error{bb::errc::invalid_argument, "subtask result: field '" + field + "' " + what, "", "/" + field};
  };
  if (!j.is_object()) return bb::error{bb::errc::invalid_argument, "subtask result: not a JSON object"};
  subtask_result r;
  auto index = j.find("subtask");
  if (index == j.end() || !index->is_number_unsigned()) return bad("subtask", "is missing or not a subtask number");
  r.index = index->get<std::size_t>();
  auto worker = j.find("worker");
  if (worker == j.end() || !worker->is_string()) return bad("worker", "is missing or not a string");
  r.worker = worker->get<std::string>();
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return bad("ok", "is missing or not a boolean");
  r.ok = ok->get<bool>();
  r.answer = j.value("answer", json());
  auto error = j.find("error");
  if (error != j.end() && !error->is_string()) return bad("error", "is not a string");
  if (error != j.end()) r.error = error->get<std::string>();
  return r;
}

actors::agent_logic decomposer(decompose_fn fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return detail::bad_task_input(t, "input is not a JSON object");
        auto in = t.input.find("input");
        auto parts = fn(in != t.input.end() ? *in : json());
        if (!parts) return parts.error();
        json list = json::array();
        for (auto& p : *parts) list.push_back(std::move(p));
        return detail::write_contribution(t, sp, std::move(list));
      });
}

actors::agent_logic synthesizer(synthesize_fn fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return detail::bad_task_input(t, "input is not a JSON object");
        auto list = t.input.find("results");
        if (list == t.input.end() || !list->is_array())
          return detail::bad_task_input(t, "input has no array field 'results'");
        std::vector<subtask_result> results;
        for (const auto& j : *list) {
          auto r = subtask_result::from_json(j);
          if (!r) return r.error();
          results.push_back(std::move(*r));
        }
        auto in = t.input.find("input");
        auto answer = fn(in != t.input.end() ? *in : json(), results);
        if (!answer) return answer.error();
        return detail::write_contribution(t, sp, std::move(*answer));
      });
}

namespace {

class delegator_run final : public detail::block_run {
 public:
  explicit delegator_run(std::shared_ptr<const delegator_config> cfg) : cfg_(std::move(cfg)) {}

  void start(detail::block_ctx& ctx) override {
    ctx_ = &ctx;
    // Resume: a plan recorded before stands.
    auto plan = ctx.board().get(key("plan"));
    if (plan && plan->exists() && plan->value().is_object() && plan->value().contains("subtasks") &&
        plan->value()["subtasks"].is_array()) {
      const json& p = plan->value();
      for (const auto& s : p["subtasks"]) subtasks_.push_back(s);
      planned_by_ = p.value("by", std::string("?"));
      return delegate();
    }
    if (cfg_->decompose) {
      bb::result<std::vector<json>> parts = bb::error{bb::errc::invalid_argument, "no subtasks"};
      try {
        parts = cfg_->decompose(ctx.input());
      } catch (const std::exception& e) {
        parts = bb::error{bb::errc::invalid_argument, std::string("threw: ") + e.what()};
      }
      if (!parts)
        return ctx.fail("delegator: the decompose function failed: " + bb::to_string(parts.error()),
                        actors::to_caf_error(parts.error()));
      return planned(std::move(*parts), "function");
    }
    const member& agent = *cfg_->decompose_agent;
    ask_one(agent, "decompose", key("decompose"), {{"role", "decompose"}, {"input", ctx.input()}},
            [this](const actors::outcome& o) {
              const std::string who = "the decomposing agent " + cfg_->decompose_agent->id.str();
              json answer;
              if (!step_answer(who, o, answer)) return;
              if (!answer.is_array()) {
                bb::error e{bb::errc::invalid_argument,
                            "delegator: " + who + " answered " + answer.dump() + ", not an array of subtasks"};
                return ctx_->fail(e.message, actors::to_caf_error(e));
              }
              planned(answer.get<std::vector<json>>(), "agent " + cfg_->decompose_agent->id.str());
            });
  }

 private:
  std::string key(const std::string& what) const { return run_keys::root(ctx_->run_id()) + "/" + what; }

  // Asks a decomposing or synthesizing agent; `then` gets its outcome.
  void ask_one(const member& agent, const std::string& task_id, const std::string& at, json fields,
               std::function<void(const actors::outcome&)> then) {
    detail::ask_options o;
    o.timeout = cfg_->step_timeout;
    o.late_grace = cfg_->late_grace;
    o.late_prefix = key("late/" + task_id);
    std::vector<fan_out_item> items;
    items.push_back({agent, ctx_->member_task(agent, task_id, ctx_->protocol_input(at, std::move(fields)))});
    ctx_->ask(std::move(items), std::move(o),
              [then = std::move(then)](std::vector<actors::outcome>& got) { then(got.at(0)); });
  }

  // The answer of a decomposing or synthesizing agent, or false after failing the run.
  bool step_answer(const std::string& who, const actors::outcome& o, json& answer) {
    if (!on_time(o)) {
      ctx_->fail("delegator: " + who + " gave no answer within " + std::to_string(cfg_->step_timeout.count()) + " ms",
                 caf::make_error(actors::errc::timeout, "delegator: " + who + " gave no answer in time"));
      return false;
    }
    if (!o.ok()) {
      ctx_->fail("delegator: " + who + " failed: " + actors::render(o.error), o.error);
      return false;
    }
    answer = detail::answer_of(o);
    if (answer.is_null()) {
      ctx_->fail("delegator: " + who + " returned no answer");
      return false;
    }
    return true;
  }

  void planned(std::vector<json> parts, const std::string& by) {
    subtasks_ = std::move(parts);
    planned_by_ = by;
    json list = json::array();
    for (const auto& s : subtasks_) list.push_back(s);
    auto s = ctx_->record(key("plan"), {{"subtasks", std::move(list)}, {"by", by}}, "plan");
    if (!s) return ctx_->fail("delegator: cannot record the plan: " + bb::to_string(s.error()), actors::to_caf_error(s.error()));
    delegate();
  }

  // The worker of each subtask: the one it names, else round-robin.
  bool assign() {
    const auto& workers = cfg_->workers;
    for (std::size_t j = 0; j < subtasks_.size(); ++j) {
      const json& s = subtasks_[j];
      const member* to = &workers[j % workers.size()];
      if (s.is_object() && s.contains("worker") && s["worker"].is_string()) {
        const std::string named = s["worker"].get<std::string>();
        to = nullptr;
        for (const auto& w : workers)
          if (w.id.str() == named) to = &w;
        if (!to) {
          const std::string why = "delegator: subtask " + std::to_string(j) + " names worker '" + named +
                                  "', which is not a worker; workers: " + detail::join_ids(workers);
          ctx_->fail(why, caf::make_error(actors::errc::no_agent, why));
          return false;
        }
      }
      assigned_.push_back(to);
    }
    return true;
  }

  void delegate() {
    if (!assign()) return;
    // Resume: a delegation recorded before stands.
    auto rec = ctx_->board().get(key("delegation"));
    if (rec && rec->exists() && rec->value().is_object() && rec->value().contains("results")) {
      try {
        for (const auto& j : rec->value()["results"]) {
          auto r = subtask_result::from_json(j);
          if (!r) return ctx_->fail("delegator: the recorded delegation is malformed: " + bb::to_string(r.error()));
          results_.push_back(std::move(*r));
        }
      } catch (const json::exception& e) {
        return ctx_->fail(std::string("delegator: the recorded delegation is malformed: ") + e.what());
      }
      return delegated();
    }
    std::vector<fan_out_item> items;
    for (std::size_t j = 0; j < subtasks_.size(); ++j) {
      const member& w = *assigned_[j];
      auto input = ctx_->protocol_input(key("subtasks/" + std::to_string(j)),
                                        {{"role", "worker"}, {"subtask", j}, {"input", subtasks_[j]}});
      items.push_back({w, ctx_->member_task(w, "sub-" + std::to_string(j), std::move(input))});
    }
    detail::ask_options o;
    o.quorum = cfg_->quorum;
    o.timeout = cfg_->timeout;
    o.late_grace = cfg_->late_grace;
    o.late_prefix = key("late/subtasks");
    ctx_->ask(std::move(items), std::move(o), [this](std::vector<actors::outcome>& got) { gathered(got); });
  }

  void gathered(const std::vector<actors::outcome>& got) {
    for (std::size_t j = 0; j < got.size(); ++j) {
      const auto& o = got[j];
      subtask_result r;
      r.index = j;
      r.worker = assigned_[j]->id.str();
      if (!on_time(o)) {
        r.error = "no answer before the delegation closed";
      } else if (!o.ok()) {
        r.error = actors::render(o.error);
      } else {
        r.answer = detail::answer_of(o);
        r.ok = !r.answer.is_null();
        if (!r.ok) r.error = "returned no answer";
      }
      results_.push_back(std::move(r));
    }
    json list = json::array();
    for (const auto& r : results_) list.push_back(r.to_json());
    auto s = ctx_->record(key("delegation"), {{"results", std::move(list)}}, "delegation");
    if (!s)
      return ctx_->fail("delegator: cannot record the delegation: " + bb::to_string(s.error()),
                        actors::to_caf_error(s.error()));
    delegated();
  }

  void delegated() {
    const std::size_t n = results_.size();
    done_ = static_cast<std::size_t>(std::count_if(results_.begin(), results_.end(), [](const auto& r) { return r.ok; }));
    const std::size_t required = cfg_->quorum == 0 ? (n > 0 ? 1 : 0) : std::min(cfg_->quorum, n);
    if (done_ < required) {
      std::string why = "delegator: " + std::to_string(done_) + " of " + std::to_string(n) + " subtasks done, " +
                        (cfg_->quorum == 0 ? std::string("at least 1") : "quorum " + std::to_string(required)) +
                        " needed";
      std::string sep = ": ";
      for (const auto& r : results_)
        if (!r.ok) {
          why += sep + "subtask " + std::to_string(r.index) + " (" + r.worker + ") " + r.error;
          sep = "; ";
        }
      return ctx_->fail(why);
    }
    synthesize();
  }

  void synthesize() {
    if (cfg_->synthesize) {
      bb::result<json> answer = bb::error{bb::errc::invalid_argument, "no answer"};
      try {
        answer = cfg_->synthesize(ctx_->input(), results_);
      } catch (const std::exception& e) {
        answer = bb::error{bb::errc::invalid_argument, std::string("threw: ") + e.what()};
      }
      if (!answer)
        return ctx_->fail("delegator: the synthesize function failed: " + bb::to_string(answer.error()),
                          actors::to_caf_error(answer.error()));
      return conclude(std::move(*answer), "function");
    }
    json list = json::array();
    for (const auto& r : results_) list.push_back(r.to_json());
    const member& agent = *cfg_->synthesize_agent;
    ask_one(agent, "synthesize", key("synthesis"),
            {{"role", "synthesize"}, {"input", ctx_->input()}, {"results", std::move(list)}},
            [this](const actors::outcome& o) {
              json answer;
              if (!step_answer("the synthesizing agent " + cfg_->synthesize_agent->id.str(), o, answer)) return;
              conclude(std::move(answer), "agent " + cfg_->synthesize_agent->id.str());
            });
  }

  void conclude(json answer, const std::string& by) {
    std::vector<std::string> who;
    for (const auto& r : results_)
      if (r.ok && std::find(who.begin(), who.end(), r.worker) == who.end()) who.push_back(r.worker);
    std::string workers;
    for (const auto& w : who) workers += (workers.empty() ? "" : ", ") + w;
    run_result r;
    r.rounds = 1;
    r.status = run_status::settled;
    r.answer = std::move(answer);
    r.reason = "delegator: " + std::to_string(done_) + " of " + std::to_string(results_.size()) +
               " subtasks done" + (workers.empty() ? std::string() : " by " + workers) + " (decomposed by " +
               planned_by_ + "); synthesized by " + by;
    ctx_->finish(std::move(r), {{"subtasks", results_.size()}, {"done", done_}});
  }

  std::shared_ptr<const delegator_config> cfg_;
  detail::block_ctx* ctx_ = nullptr;
  std::vector<json> subtasks_;
  std::string planned_by_;
  std::vector<const member*> assigned_;
  std::vector<subtask_result> results_;
  std::size_t done_ = 0;
};

}  // namespace

bb::result<actors::agent_actor> spawn_delegator(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                                delegator_config cfg) {
  auto bad = [](const std::string& what) { return bb::error{bb::errc::invalid_argument, "delegator: " + what}; };
  if (!board) return bad("the blackboard is null");
  if (cfg.workers.empty()) return bad("no workers");
  if (static_cast<bool>(cfg.decompose) == cfg.decompose_agent.has_value())
    return bad("set exactly one of decompose and decompose_agent");
  if (static_cast<bool>(cfg.synthesize) == cfg.synthesize_agent.has_value())
    return bad("set exactly one of synthesize and synthesize_agent");
  if (cfg.timeout.count() <= 0 || cfg.step_timeout.count() <= 0) return bad("timeouts must be positive");
  if (cfg.late_grace.count() < 0) return bad("late_grace must not be negative");
  std::vector<member> members = cfg.workers;
  if (cfg.decompose_agent) members.push_back(*cfg.decompose_agent);
  if (cfg.synthesize_agent) members.push_back(*cfg.synthesize_agent);
  if (auto s = detail::check_block_members("delegator", members, false); !s) return std::move(s).take_error();
  detail::block_def def;
  def.name = "delegator";
  def.spec.id = cfg.id.empty() ? *actors::agent_id::make("delegator", "orchestrator") : cfg.id;
  def.spec.role = "delegator";
  def.summary = "decompose by " + (cfg.decompose_agent ? "agent " + cfg.decompose_agent->id.str() : std::string("function")) +
                ", delegate to " + detail::join_ids(cfg.workers) +
                (cfg.quorum > 0 ? " (quorum " + std::to_string(cfg.quorum) + ")" : std::string()) +
                ", synthesize by " +
                (cfg.synthesize_agent ? "agent " + cfg.synthesize_agent->id.str() : std::string("function"));
  def.members = std::move(members);
  auto shared = std::make_shared<const delegator_config>(std::move(cfg));
  def.make = [shared]() -> std::unique_ptr<detail::block_run> { return std::make_unique<delegator_run>(shared); };
  return detail::spawn_block(sys, std::move(board), std::move(def));
}

bb::result<actors::agent_actor> spawn_delegator(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                                delegator_config cfg) {
  return actors::adopt(rt, spawn_delegator(rt.system(), std::move(board), std::move(cfg)), "delegator");
}

}  // namespace agora
