#include "agora/agents/pipeline.hpp"

#include <map>
#include <utility>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/actors/supervision.hpp"
#include "block.hpp"
#include "orchestrator.hpp"

namespace agora {

actors::agent_logic stage(std::function<bb::result<json>(const stage_turn&)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return detail::bad_task_input(t, "input is not a JSON object");
        stage_turn turn;
        auto run = t.input.find("run");
        turn.run_id = run != t.input.end() && run->is_string() ? run->get<std::string>() : t.run_id;
        auto item = t.input.find("item");
        if (item != t.input.end() && item->is_string()) turn.item = item->get<std::string>();
        auto k = t.input.find("stage");
        if (k != t.input.end()) {
          if (!k->is_number_unsigned()) return detail::bad_task_input(t, "field 'stage' is not a stage number");
          turn.stage = k->get<std::uint32_t>();
        }
        auto in = t.input.find("input");
        if (in != t.input.end()) turn.input = *in;
        auto out = fn(turn);
        if (!out) return out.error();
        return detail::write_contribution(t, sp, std::move(*out));
      });
}

namespace {

std::string stage_key(const std::string& run, const std::string& item, std::size_t k) {
  return run_keys::root(run) + "/stages/" + item + "/" + std::to_string(k);
}

std::string item_key(const std::string& run, const std::string& item) {
  return run_keys::root(run) + "/items/" + item;
}

class pipeline_run final : public detail::block_run {
 public:
  explicit pipeline_run(std::shared_ptr<const pipeline_config> cfg) : cfg_(std::move(cfg)) {}

  void start(detail::block_ctx& ctx) override {
    ctx_ = &ctx;
    const json& in = ctx.input();
    if (in.is_object() && in.contains("items") && (in["items"].is_array() || in["items"].is_object())) {
      batch_ = true;
      const json& items = in["items"];
      if (items.is_array()) {
        for (std::size_t i = 0; i < items.size(); ++i) items_.push_back({std::to_string(i), items[i]});
      } else {
        for (const auto& [name, value] : items.items()) items_.push_back({name, value});
      }
    } else {
      items_.push_back({"item", in});
    }
    for (const auto& it : items_) {
      actors::task probe;
      probe.run_id = ctx.run_id();
      probe.task_id = it.name;
      if (auto v = actors::validate_task(probe); !v) {
        bb::error e{bb::errc::invalid_argument,
                    "pipeline: item name '" + it.name + "' is not a single key segment (no '/', no control characters)"};
        return ctx.fail(e.message, actors::to_caf_error(e));
      }
    }
    // Resume: items recorded before are not run again.
    auto snap = ctx.board().snapshot();
    for (auto& it : items_) {
      auto rec = snap.get(item_key(ctx.run_id(), it.name));
      if (!rec || !rec->exists() || !rec->value().is_object()) continue;
      const json& v = rec->value();
      it.finished = true;
      ++done_;
      if (v.value("status", std::string()) == "done") {
        completed_[it.name] = v.value("output", json());
      } else {
        json f = v;
        f.erase("status");
        failed_[it.name] = std::move(f);
      }
    }
    pump();
  }

 private:
  struct item_state {
    std::string name;
    json value;              // the item, then each stage's output
    std::size_t stage = 0;   // the next stage (0-based)
    bool finished = false;
  };

  // Lets items in while there is room; concludes when every item is through.
  void pump() {
    while (!ctx_->finished() && in_flight_ < cfg_->max_in_flight && next_ < items_.size()) {
      const std::size_t i = next_++;
      if (items_[i].finished) continue;
      ++in_flight_;
      ask_stage(i);
    }
    if (!ctx_->finished() && done_ == items_.size()) conclude();
  }

  void ask_stage(std::size_t i) {
    auto& it = items_[i];
    const std::size_t k = it.stage;
    const auto& st = cfg_->stages[k];
    const std::string run = ctx_->run_id();
    auto input = ctx_->protocol_input(stage_key(run, it.name, k + 1),
                                      {{"item", it.name}, {"stage", k + 1}, {"input", it.value}});
    auto t = ctx_->member_task(st.agent, it.name + ":s" + std::to_string(k + 1), std::move(input));
    detail::ask_options o;
    o.timeout = st.timeout;
    o.late_grace = cfg_->late_grace;
    o.late_prefix = run_keys::root(run) + "/late/" + it.name + "/" + std::to_string(k + 1);
    std::vector<fan_out_item> items;
    items.push_back({st.agent, std::move(t)});
    ctx_->ask(std::move(items), std::move(o), [this, i, k](std::vector<actors::outcome>& got) {
      on_stage(i, k, std::move(got.at(0)));
      pump();
    });
  }

  void on_stage(std::size_t i, std::size_t k, actors::outcome o) {
    auto& it = items_[i];
    const auto& st = cfg_->stages[k];
    const std::string where = "stage " + std::to_string(k + 1) + " (" + st.agent.id.str() + ")";
    if (o.agent.empty()) o.agent = st.agent.id.str();
    if (!on_time(o)) {
      o.status = actors::outcome_status::deadline_exceeded;
      o.error = caf::make_error(actors::errc::timeout, where + " gave no answer for item '" + it.name +
                                                           "' within " + std::to_string(st.timeout.count()) + " ms");
      return fail_item(i, k, std::move(o), json());
    }
    if (!o.ok()) return fail_item(i, k, std::move(o), json());
    json answer = detail::answer_of(o);
    if (answer.is_null()) {
      o.status = actors::outcome_status::error;
      o.error = caf::make_error(actors::errc::agent_failed, where + " returned no answer for item '" + it.name + "'");
      return fail_item(i, k, std::move(o), json());
    }
    if (st.contract) {
      if (auto v = st.contract->check(answer)) {
        bb::error e{bb::errc::contract_violation,
                    where + ": output for item '" + it.name + "' breaks the stage's contract (" +
                        st.contract->description() + ")" + (v->path.empty() ? "" : " at " + v->path) + ": " +
                        v->message,
                    stage_key(ctx_->run_id(), it.name, k + 1), v->path};
        o.status = actors::outcome_status::error;
        o.error = actors::to_caf_error(e);
        return fail_item(i, k, std::move(o), std::move(answer));
      }
    }
    it.value = std::move(answer);
    ++it.stage;
    if (it.stage < cfg_->stages.size()) return ask_stage(i);
    complete_item(i);
  }

  void complete_item(std::size_t i) {
    auto& it = items_[i];
    auto s = ctx_->record(item_key(ctx_->run_id(), it.name), {{"status", "done"}, {"output", it.value}},
                          "item/" + it.name);
    if (!s) return ctx_->fail("pipeline: cannot record item '" + it.name + "': " + bb::to_string(s.error()),
                              actors::to_caf_error(s.error()));
    completed_[it.name] = it.value;
    it.finished = true;
    --in_flight_;
    ++done_;
  }

  void fail_item(std::size_t i, std::size_t k, actors::outcome o, json output) {
    auto& it = items_[i];
    const auto& st = cfg_->stages[k];
    // The dead letter is the item, with the stage it failed at and what that stage got.
    actors::task t;
    t.run_id = ctx_->run_id();
    t.task_id = it.name;
    t.input = {{"item", it.name}, {"stage", k + 1}, {"stage_agent", st.agent.id.str()}, {"input", it.value}};
    if (!output.is_null()) t.input["output"] = std::move(output);
    t.trace = ctx_->request().trace;
    if (o.attempts == 0) o.attempts = 1;
    if (o.dispatches == 0) o.dispatches = 1;
    auto w = actors::write_dlq(ctx_->board(), t, o, ctx_->author(), cfg_->dlq_prefix);
    if (!w) return ctx_->fail("pipeline: cannot write item '" + it.name + "' to the DLQ: " + bb::to_string(w.error()),
                              actors::to_caf_error(w.error()));
    json f = {{"stage", k + 1},
              {"agent", st.agent.id.str()},
              {"error", actors::render(o.error)},
              {"dlq", actors::dlq_key(t, cfg_->dlq_prefix)}};
    json rec = f;
    rec["status"] = "failed";
    auto s = ctx_->record(item_key(ctx_->run_id(), it.name), std::move(rec), "item/" + it.name);
    if (!s) return ctx_->fail("pipeline: cannot record item '" + it.name + "': " + bb::to_string(s.error()),
                              actors::to_caf_error(s.error()));
    failed_[it.name] = std::move(f);
    last_error_ = std::move(o.error);
    it.finished = true;
    --in_flight_;
    ++done_;
  }

  void conclude() {
    const std::size_t n = items_.size(), ok = completed_.size(), bad = n - ok;
    const std::string stages = std::to_string(cfg_->stages.size()) + " stage" + (cfg_->stages.size() == 1 ? "" : "s");
    const std::string dlq = cfg_->dlq_prefix + "/" + ctx_->run_id();
    run_result r;
    r.rounds = 1;
    if (batch_) {
      r.answer = completed_;
      r.status = ok > 0 || n == 0 ? run_status::settled : run_status::failed;
      if (bad == 0)
        r.reason = "pipeline: " + std::to_string(n) + " of " + std::to_string(n) + " items completed all " + stages;
      else if (ok > 0)
        r.reason = "pipeline: " + std::to_string(ok) + " of " + std::to_string(n) + " items completed all " + stages +
                   "; " + std::to_string(bad) + " failed (dead letters under " + dlq + ")";
      else
        r.reason = "pipeline: all " + std::to_string(n) + " items failed (dead letters under " + dlq + ")";
    } else if (ok == 1) {
      r.answer = completed_.begin()->second;
      r.status = run_status::settled;
      r.reason = "pipeline: the item completed all " + stages;
    } else {
      const json& f = failed_.begin()->second;
      r.status = run_status::failed;
      r.reason = "pipeline: the item failed at stage " + f.value("stage", json()).dump() + " (" +
                 f.value("agent", std::string("?")) + "): " + f.value("error", std::string("?")) +
                 " (dead letter " + f.value("dlq", std::string("?")) + ")";
    }
    json failed = json::object();
    for (const auto& [name, f] : failed_) failed[name] = f;
    ctx_->finish(std::move(r), {{"items", n}, {"completed", ok}, {"failed", std::move(failed)}},
                 batch_ ? caf::error{} : last_error_);
  }

  std::shared_ptr<const pipeline_config> cfg_;
  detail::block_ctx* ctx_ = nullptr;
  bool batch_ = false;
  std::vector<item_state> items_;
  std::size_t next_ = 0;       // the next item to let in
  std::size_t in_flight_ = 0;
  std::size_t done_ = 0;       // items completed or failed
  std::map<std::string, json> completed_;  // item → output
  std::map<std::string, json> failed_;     // item → {stage, agent, error, dlq}
  caf::error last_error_;
};

}  // namespace

bb::result<actors::agent_actor> spawn_pipeline(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                               pipeline_config cfg) {
  if (!board) return bb::error{bb::errc::invalid_argument, "pipeline: the blackboard is null"};
  if (cfg.stages.empty()) return bb::error{bb::errc::invalid_argument, "pipeline: no stages"};
  if (cfg.max_in_flight == 0) return bb::error{bb::errc::invalid_argument, "pipeline: max_in_flight must be at least 1"};
  if (cfg.late_grace.count() < 0) return bb::error{bb::errc::invalid_argument, "pipeline: late_grace must not be negative"};
  std::vector<member> members;
  for (std::size_t k = 0; k < cfg.stages.size(); ++k) {
    if (cfg.stages[k].timeout.count() <= 0)
      return bb::error{bb::errc::invalid_argument,
                       "pipeline: stage " + std::to_string(k + 1) + " timeout must be positive"};
    members.push_back(cfg.stages[k].agent);
  }
  if (auto s = detail::check_block_members("pipeline", members, true); !s) return std::move(s).take_error();
  detail::block_def def;
  def.name = "pipeline";
  def.spec.id = cfg.id.empty() ? *actors::agent_id::make("pipeline", "orchestrator") : cfg.id;
  def.spec.role = "pipeline";
  def.summary = "stages ";
  for (std::size_t k = 0; k < members.size(); ++k) def.summary += (k ? " -> " : "") + members[k].id.str();
  def.summary += ", max_in_flight " + std::to_string(cfg.max_in_flight);
  def.members = std::move(members);
  auto shared = std::make_shared<const pipeline_config>(std::move(cfg));
  def.make = [shared]() -> std::unique_ptr<detail::block_run> { return std::make_unique<pipeline_run>(shared); };
  return detail::spawn_block(sys, std::move(board), std::move(def));
}

bb::result<actors::agent_actor> spawn_pipeline(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                               pipeline_config cfg) {
  return actors::adopt(rt, spawn_pipeline(rt.system(), std::move(board), std::move(cfg)), "pipeline");
}

}  // namespace agora
