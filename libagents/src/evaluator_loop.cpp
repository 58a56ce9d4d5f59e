#include "agora/agents/evaluator_loop.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "orchestrator.hpp"

namespace agora {

namespace {

bb::error bad_input(const actors::task& t, const std::string& what) {
  return bb::error{bb::errc::invalid_argument, "task " + t.txn_id() + ": " + what};
}

// The fields every task of the loop carries.
struct common_fields {
  std::string run_id;
  std::uint32_t round = 1;
  json input;
  std::string persona;
  std::string key;
};

bb::result<common_fields> read_common(const actors::task& t) {
  if (!t.input.is_object()) return bad_input(t, "input is not a JSON object");
  const json& in = t.input;
  common_fields c;
  c.run_id = t.run_id;
  if (auto it = in.find("run"); it != in.end()) {
    if (!it->is_string()) return bad_input(t, "field 'run' is not a string");
    c.run_id = it->get<std::string>();
  }
  if (auto it = in.find("round"); it != in.end()) {
    if (!it->is_number_unsigned()) return bad_input(t, "field 'round' is not a round number");
    c.round = it->get<std::uint32_t>();
  }
  c.input = in.value("input", json());
  if (auto it = in.find("persona"); it != in.end() && it->is_string()) c.persona = it->get<std::string>();
  auto key = in.find("key");
  if (key == in.end() || !key->is_string()) return bad_input(t, "input has no string field 'key'");
  c.key = key->get<std::string>();
  return c;
}

// A verdict from an evaluator's outcome: the protocol's top-level fields,
// else — and always for a replay, whose answer the engine took from the
// commit that stands — the stored answer.
bb::result<evaluation> evaluation_of(const actors::outcome& o) {
  if (!o.replayed && o.result.is_object() && (o.result.contains("pass") || o.result.contains("score")))
    return evaluation::from_json(o.result);
  return evaluation::from_json(detail::answer_of(o));
}

}  // namespace

json evaluation::to_json() const { return {{"pass", pass}, {"score", score}, {"critique", critique}}; }

bb::result<evaluation> evaluation::from_json(const json& j) {
  auto bad = [](const std::string& field, const std::string& what) {
    return bb::error{bb::errc::invalid_argument, "verdict: field '" + field + "' " + what, "", "/" + field};
  };
  if (!j.is_object()) return bb::error{bb::errc::invalid_argument, "verdict: not a JSON object"};
  auto pass = j.find("pass");
  auto score = j.find("score");
  if (pass == j.end() && score == j.end())
    return bb::error{bb::errc::invalid_argument, "verdict: has neither 'pass' nor 'score'"};
  evaluation e;
  if (pass != j.end()) {
    if (!pass->is_boolean()) return bad("pass", "is not a boolean");
    e.pass = pass->get<bool>();
  }
  if (score != j.end()) {
    if (!score->is_number()) return bad("score", "is not a number");
    e.score = score->get<double>();
  } else {
    e.score = e.pass ? 1.0 : 0.0;
  }
  if (auto c = j.find("critique"); c != j.end() && !c->is_null()) {
    if (!c->is_string()) return bad("critique", "is not a string");
    e.critique = c->get<std::string>();
  }
  return e;
}

const char* to_string(score_combine c) noexcept {
  switch (c) {
    case score_combine::mean: return "mean";
    case score_combine::min: return "min";
  }
  return "unknown";
}

// --- members' logic ----------------------------------------------------------------

actors::agent_logic generator(std::function<bb::result<json>(const generator_turn&)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        auto c = read_common(t);
        if (!c) return c.error();
        generator_turn turn;
        turn.run_id = c->run_id;
        turn.round = c->round;
        turn.input = std::move(c->input);
        turn.persona = std::move(c->persona);
        if (auto prev = t.input.find("previous"); prev != t.input.end() && prev->is_string()) {
          // Through the scratchpad: the last round's record enters the read set.
          auto rec = sp.get(prev->get<std::string>());
          if (!rec) return rec.error();
          const json& r = rec->value();
          if (rec->exists() && r.is_object()) {
            if (auto cand = r.find("candidate"); cand != r.end() && !cand->is_null()) turn.previous = *cand;
            if (auto ev = r.find("evaluations"); ev != r.end() && ev->is_object())
              for (const auto& [who, v] : ev->items())
                if (auto e = evaluation::from_json(v)) turn.critiques.emplace(who, std::move(*e));
            if (auto s = r.find("score"); s != r.end() && s->is_number())
              turn.previous_score = s->get<double>();
            if (auto p = r.find("pass"); p != r.end() && p->is_boolean()) turn.previous_pass = p->get<bool>();
            if (auto b = r.find("best"); b != r.end() && b->is_object()) {
              turn.best = b->value("candidate", json());
              if (auto s = b->find("score"); s != b->end() && s->is_number())
                turn.best_score = s->get<double>();
              if (auto n = b->find("round"); n != b->end() && n->is_number_unsigned())
                turn.best_round = n->get<std::uint32_t>();
            }
          }
        }
        auto candidate = fn(turn);
        if (!candidate) return candidate.error();
        if (auto s = sp.put(c->key, *candidate); !s) return std::move(s).take_error();
        return json{{"answer", std::move(*candidate)}};
      });
}

actors::agent_logic evaluator(std::function<bb::result<evaluation>(const evaluator_turn&)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        auto c = read_common(t);
        if (!c) return c.error();
        evaluator_turn turn;
        turn.run_id = c->run_id;
        turn.round = c->round;
        turn.input = std::move(c->input);
        turn.persona = std::move(c->persona);
        auto cand = t.input.find("candidate");
        if (cand == t.input.end()) return bad_input(t, "input has no field 'candidate'");
        turn.candidate = *cand;
        if (auto g = t.input.find("generator"); g != t.input.end() && g->is_string())
          turn.generator = g->get<std::string>();
        auto verdict = fn(turn);
        if (!verdict) return verdict.error();
        json v = verdict->to_json();
        if (auto s = sp.put(c->key, v); !s) return std::move(s).take_error();
        return json{{"answer", v},
                    {"pass", verdict->pass},
                    {"score", verdict->score},
                    {"critique", verdict->critique}};
      });
}

// --- the pattern ---------------------------------------------------------------------

namespace {

struct loop_setup {
  evaluator_loop_config cfg;
  answer_extractor extract;
};

struct best_candidate {
  std::uint32_t round = 0;
  std::optional<double> score;
  json candidate;
  std::string normalized;
};

class evaluator_loop_run final : public detail::pattern_run {
 public:
  evaluator_loop_run(std::shared_ptr<const loop_setup> setup, detail::run_info info)
      : setup_(std::move(setup)), info_(std::move(info)) {}

  std::optional<std::vector<std::pair<member, json>>> plan(std::uint32_t round,
                                                           std::uint32_t step) override {
    const auto& cfg = setup_->cfg;
    std::vector<std::pair<member, json>> out;
    if (step == 0) {
      reset_round();
      json previous = round > 1 ? json(run_keys::round(info_.run_id, round - 1)) : json();
      out.push_back({cfg.generator, {{"input", info_.input}, {"previous", std::move(previous)}}});
      return out;
    }
    if (step == 1 && candidate_) {
      for (const auto& e : cfg.evaluators)
        out.push_back({e,
                       {{"role", "evaluator"},
                        {"input", info_.input},
                        {"candidate", *candidate_},
                        {"generator", cfg.generator.id.str()},
                        {"key", run_keys::answer(info_.run_id, round, e.id)}}});
      return out;
    }
    return std::nullopt;
  }

  void gathered(std::uint32_t, std::uint32_t step, const std::vector<std::pair<member, json>>& asked,
                const std::vector<actors::outcome>& got) override {
    detail::sort_outcomes(asked, got, missing_, failed_, step == 0 ? "returned no candidate" : nullptr,
                          [&](const std::string& who, const actors::outcome& o, json answer) {
                            if (step == 0) {
                              candidate_ = std::move(answer);
                              return std::string();
                            }
                            auto verdict = evaluation_of(o);
                            if (!verdict) return bb::to_string(verdict.error());
                            evaluations_[who] = std::move(*verdict);
                            return std::string();
                          });
  }

  detail::round_close close(std::uint32_t round) override {
    const auto& cfg = setup_->cfg;
    detail::round_close rc;
    auto& s = rc.summary;
    s.number = round;
    s.expected = cfg.evaluators.size();
    s.late = missing_.size();
    s.failed = failed_.size();

    std::optional<double> score;
    bool pass = !evaluations_.empty();
    json evaluations = json::object();
    for (const auto& [who, e] : evaluations_) {
      pass = pass && e.pass;
      evaluations[who] = e.to_json();
      if (!score)
        score = e.score;
      else if (cfg.combine == score_combine::min)
        score = std::min(*score, e.score);
      else
        *score += e.score;
    }
    if (score && cfg.combine == score_combine::mean) *score /= static_cast<double>(evaluations_.size());

    if (candidate_) {
      auto norm = setup_->extract(*candidate_);
      raw_[norm] = *candidate_;
      if (!last_ || *last_ != norm) s.new_contributions = 1;
      last_ = norm;
      for (const auto& [who, e] : evaluations_)
        if (e.pass) s.answers[who] = norm;
      const bool better = !best_ || (score && (!best_->score || *score > *best_->score));
      if (better) best_ = best_candidate{round, score, *candidate_, norm};
    }
    s.quality = score;
    if (best_) s.aggregate = best_->normalized;

    json best;
    if (best_)
      best = {{"round", best_->round},
              {"score", best_->score ? json(*best_->score) : json()},
              {"candidate", best_->candidate}};
    rc.record = {{"candidate", candidate_ ? *candidate_ : json()},
                 {"evaluations", std::move(evaluations)},
                 {"score", score ? json(*score) : json()},
                 {"pass", pass},
                 {"combine", to_string(cfg.combine)},
                 {"best", std::move(best)},
                 {"failed", failed_},
                 {"missing", missing_}};
    return rc;
  }

  void restore(const json& record) override {
    // Throws json::exception on a malformed record: the engine reports it.
    const json& candidate = record.at("candidate");
    if (!candidate.is_null()) {
      last_ = setup_->extract(candidate);
      raw_[*last_] = candidate;
    }
    const json& best = record.at("best");
    if (!best.is_null()) {
      best_candidate b;
      b.round = best.at("round").get<std::uint32_t>();
      if (!best.at("score").is_null()) b.score = best.at("score").get<double>();
      b.candidate = best.at("candidate");
      b.normalized = setup_->extract(b.candidate);
      raw_[b.normalized] = b.candidate;
      best_ = std::move(b);
    }
  }

  json answer_for(const std::string& normalized) const override {
    auto it = raw_.find(normalized);
    return it != raw_.end() ? it->second : json(normalized);
  }

 private:
  void reset_round() {
    candidate_.reset();
    evaluations_.clear();
    failed_.clear();
    missing_.clear();
  }

  std::shared_ptr<const loop_setup> setup_;
  detail::run_info info_;
  // This round.
  std::optional<json> candidate_;
  std::map<std::string, evaluation> evaluations_;  // counted verdicts
  std::map<std::string, std::string> failed_;
  std::vector<std::string> missing_;
  // Across rounds.
  std::optional<std::string> last_;  // the last candidate, normalized
  std::optional<best_candidate> best_;
  std::map<std::string, json> raw_;  // normalized → a candidate as given
};

}  // namespace

bb::result<actors::agent_actor> spawn_evaluator_loop(caf::actor_system& sys,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     evaluator_loop_config cfg) {
  if (cfg.evaluators.empty()) return bb::error{bb::errc::invalid_argument, "evaluator_loop: no evaluators"};
  if (cfg.combine != score_combine::mean && cfg.combine != score_combine::min)
    return bb::error{bb::errc::invalid_argument, "evaluator_loop: unknown score_combine"};
  std::vector<member> all{cfg.generator};
  all.insert(all.end(), cfg.evaluators.begin(), cfg.evaluators.end());
  auto setup = std::make_shared<loop_setup>();
  setup->extract = cfg.extract ? cfg.extract : answer_extractor(default_extractor);
  const auto id = cfg.id;
  const auto run = cfg.run;
  setup->cfg = std::move(cfg);
  std::shared_ptr<const loop_setup> shared = setup;
  return detail::spawn_pattern(sys, std::move(board), "evaluator_loop", id, std::move(all), run,
                               [shared](const detail::run_info& info) -> std::unique_ptr<detail::pattern_run> {
                                 return std::make_unique<evaluator_loop_run>(shared, info);
                               });
}

bb::result<actors::agent_actor> spawn_evaluator_loop(actors::runtime& rt,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     evaluator_loop_config cfg) {
  if (!cfg.run.tracer) cfg.run.tracer = &rt.tracer();
  return actors::adopt(rt, spawn_evaluator_loop(rt.system(), std::move(board), std::move(cfg)), "evaluator_loop");
}

}  // namespace agora
