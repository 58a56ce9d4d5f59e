#include "agora/agents/router.hpp"

#include <exception>
#include <utility>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "block.hpp"
#include "orchestrator.hpp"

namespace agora {

actors::agent_logic chooser(
    std::function<bb::result<std::string>(const json& input, const std::vector<std::string>& specialists)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return detail::bad_task_input(t, "input is not a JSON object");
        std::vector<std::string> ids;
        auto list = t.input.find("specialists");
        if (list == t.input.end() || !list->is_array())
          return detail::bad_task_input(t, "input has no array field 'specialists'");
        for (const auto& s : *list) {
          auto id = s.is_object() ? s.find("id") : s.end();
          if (id == s.end() || !id->is_string()) return detail::bad_task_input(t, "a specialist has no string 'id'");
          ids.push_back(id->get<std::string>());
        }
        auto in = t.input.find("input");
        auto pick = fn(in != t.input.end() ? *in : json(), ids);
        if (!pick) return pick.error();
        return detail::write_contribution(t, sp, json(std::move(*pick)));
      });
}

namespace {

class router_run final : public detail::block_run {
 public:
  explicit router_run(std::shared_ptr<const router_config> cfg) : cfg_(std::move(cfg)) {}

  void start(detail::block_ctx& ctx) override {
    ctx_ = &ctx;
    // Resume: a route recorded before stands.
    auto route = ctx.board().get(run_keys::root(ctx.run_id()) + "/route");
    if (route && route->exists() && route->value().is_object()) {
      const json& v = route->value();
      return decided(v.value("specialist", std::string()), v.value("by", std::string("?")), false);
    }
    if (cfg_->choose) {
      bb::result<std::string> pick = bb::error{bb::errc::invalid_argument, "no choice"};
      try {
        pick = cfg_->choose(ctx.request());
      } catch (const std::exception& e) {
        pick = bb::error{bb::errc::invalid_argument, std::string("threw: ") + e.what()};
      }
      if (!pick)
        return ctx.fail("router: the choose function failed: " + bb::to_string(pick.error()),
                        actors::to_caf_error(pick.error()));
      return decided(*pick, "function", true);
    }
    const member& agent = *cfg_->choose_agent;
    json specialists = json::array();
    for (const auto& s : cfg_->specialists) specialists.push_back({{"id", s.id.str()}, {"persona", s.persona}});
    auto input = ctx.protocol_input(run_keys::root(ctx.run_id()) + "/choice",
                                    {{"role", "choose"}, {"input", ctx.input()}, {"specialists", specialists}});
    detail::ask_options o;
    o.timeout = cfg_->choose_timeout;
    o.late_grace = cfg_->late_grace;
    o.late_prefix = run_keys::root(ctx.run_id()) + "/late/choice";
    std::vector<fan_out_item> items;
    items.push_back({agent, ctx.member_task(agent, "choose", std::move(input))});
    ctx.ask(std::move(items), std::move(o), [this](std::vector<actors::outcome>& got) { chosen(got.at(0)); });
  }

 private:
  void chosen(const actors::outcome& o) {
    const std::string who = "the choosing agent " + cfg_->choose_agent->id.str();
    if (!on_time(o))
      return ctx_->fail("router: " + who + " gave no answer within " + std::to_string(cfg_->choose_timeout.count()) + " ms",
                        caf::make_error(actors::errc::timeout, "router: " + who + " gave no answer in time"));
    if (!o.ok()) return ctx_->fail("router: " + who + " failed: " + actors::render(o.error), o.error);
    json answer = detail::answer_of(o);
    if (!answer.is_string()) {
      bb::error e{bb::errc::invalid_argument, "router: " + who + " answered " + answer.dump() + ", not a specialist id"};
      return ctx_->fail(e.message, actors::to_caf_error(e));
    }
    decided(answer.get<std::string>(), "agent " + cfg_->choose_agent->id.str(), true);
  }

  void decided(const std::string& choice, const std::string& by, bool record) {
    const member* to = nullptr;
    for (const auto& s : cfg_->specialists)
      if (s.id.str() == choice) to = &s;
    if (!to) {
      std::string known;
      for (const auto& s : cfg_->specialists) known += (known.empty() ? "" : ", ") + s.id.str();
      const std::string why =
          "router: the choice '" + choice + "' (by " + by + ") is not a specialist; specialists: " + known;
      return ctx_->fail(why, caf::make_error(actors::errc::no_agent, why));
    }
    if (record) {
      auto s = ctx_->record(run_keys::root(ctx_->run_id()) + "/route", {{"specialist", choice}, {"by", by}}, "route");
      if (!s) return ctx_->fail("router: cannot record the route: " + bb::to_string(s.error()), actors::to_caf_error(s.error()));
    }
    forward(*to, by);
  }

  void forward(const member& to, const std::string& by) {
    json input = ctx_->input();
    if (input.is_object()) input["key"] = run_keys::root(ctx_->run_id()) + "/answer";
    detail::ask_options o;
    o.timeout = cfg_->timeout;
    o.late_grace = cfg_->late_grace;
    o.late_prefix = run_keys::root(ctx_->run_id()) + "/late/forward";
    std::vector<fan_out_item> items;
    items.push_back({to, ctx_->member_task(to, "forward", std::move(input))});
    const std::string id = to.id.str();
    ctx_->ask(std::move(items), std::move(o),
              [this, id, by](std::vector<actors::outcome>& got) { answered(id, by, got.at(0)); });
  }

  void answered(const std::string& id, const std::string& by, const actors::outcome& o) {
    if (!on_time(o))
      return ctx_->fail("router: specialist " + id + " gave no answer within " + std::to_string(cfg_->timeout.count()) + " ms",
                        caf::make_error(actors::errc::timeout, "router: specialist " + id + " gave no answer in time"));
    if (!o.ok()) return ctx_->fail("router: specialist " + id + " failed: " + actors::render(o.error), o.error);
    run_result r;
    r.rounds = 1;
    r.status = run_status::settled;
    r.reason = "router: routed to " + id + " (chosen by " + by + ")";
    json extra = json::object();
    if (o.result.is_object() && o.result.contains("answer")) {
      r.answer = o.result["answer"];
      for (const auto& [k, v] : o.result.items())
        if (k != "answer") extra[k] = v;
    } else {
      r.answer = o.result;
    }
    extra["specialist"] = id;
    ctx_->finish(std::move(r), std::move(extra));
  }

  std::shared_ptr<const router_config> cfg_;
  detail::block_ctx* ctx_ = nullptr;
};

}  // namespace

bb::result<actors::agent_actor> spawn_router(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                             router_config cfg) {
  if (!board) return bb::error{bb::errc::invalid_argument, "router: the blackboard is null"};
  if (cfg.specialists.empty()) return bb::error{bb::errc::invalid_argument, "router: no specialists"};
  if (static_cast<bool>(cfg.choose) == cfg.choose_agent.has_value())
    return bb::error{bb::errc::invalid_argument, "router: set exactly one of choose and choose_agent"};
  if (cfg.timeout.count() <= 0 || cfg.choose_timeout.count() <= 0)
    return bb::error{bb::errc::invalid_argument, "router: timeouts must be positive"};
  if (cfg.late_grace.count() < 0) return bb::error{bb::errc::invalid_argument, "router: late_grace must not be negative"};
  if (auto s = detail::check_block_members("router", cfg.specialists, false); !s) return std::move(s).take_error();
  std::vector<member> members = cfg.specialists;
  if (cfg.choose_agent) {
    if (auto s = detail::check_block_members("router", {*cfg.choose_agent}, false); !s) return std::move(s).take_error();
    members.push_back(*cfg.choose_agent);
  }
  detail::block_def def;
  def.name = "router";
  def.spec.id = cfg.id.empty() ? *actors::agent_id::make("router", "orchestrator") : cfg.id;
  def.spec.role = "router";
  def.summary = cfg.choose_agent ? "route by agent " + cfg.choose_agent->id.str() : std::string("route by function");
  def.summary += " to one of " + detail::join_ids(cfg.specialists);
  def.members = std::move(members);
  auto shared = std::make_shared<const router_config>(std::move(cfg));
  def.make = [shared]() -> std::unique_ptr<detail::block_run> { return std::make_unique<router_run>(shared); };
  return detail::spawn_block(sys, std::move(board), std::move(def));
}

bb::result<actors::agent_actor> spawn_router(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                             router_config cfg) {
  return actors::adopt(rt, spawn_router(rt.system(), std::move(board), std::move(cfg)), "router");
}

}  // namespace agora
