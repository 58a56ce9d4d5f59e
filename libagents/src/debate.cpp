#include "agora/agents/debate.hpp"

#include <map>
#include <set>
#include <utility>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "orchestrator.hpp"

namespace agora {

namespace {

bb::error bad_input(const actors::task& t, const std::string& what) {
  return bb::error{bb::errc::invalid_argument, "task " + t.txn_id() + ": " + what};
}

// The key a member's contribution goes to, from its task.
bb::result<std::string> key_of(const actors::task& t) {
  if (!t.input.is_object()) return bad_input(t, "input is not a JSON object");
  auto it = t.input.find("key");
  if (it == t.input.end() || !it->is_string()) return bad_input(t, "input has no string field 'key'");
  return it->get<std::string>();
}

// Writes the contribution and reports it as the protocol says.
actors::logic_result contribute(const actors::task& t, bb::scratchpad& sp, json answer) {
  auto key = key_of(t);
  if (!key) return key.error();
  if (auto s = sp.put(*key, answer); !s) return std::move(s).take_error();
  return json{{"answer", std::move(answer)}};
}

}  // namespace

// --- members' logic ----------------------------------------------------------------

std::optional<json> debate_turn::majority_of_others() const {
  std::map<std::string, std::pair<std::size_t, const json*>> votes;
  for (const auto& [who, answer] : others) {
    auto& v = votes[answer.dump()];
    ++v.first;
    v.second = &answer;
  }
  const json* best = nullptr;
  std::size_t best_n = 0;
  std::string best_text;
  for (const auto& [text, v] : votes)
    // Ties keep the smaller answer (numbers as numbers: answer_less).
    if (v.first > best_n || (v.first == best_n && answer_less(text, best_text))) {
      best_n = v.first;
      best = v.second;
      best_text = text;
    }
  if (!best) return std::nullopt;
  return *best;
}

actors::agent_logic debater(std::function<bb::result<json>(const debate_turn&)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return bad_input(t, "input is not a JSON object");
        debate_turn turn;
        turn.run_id = t.input.value("run", t.run_id);
        const json& round = t.input.contains("round") ? t.input["round"] : json(1);
        if (!round.is_number_unsigned()) return bad_input(t, "field 'round' is not a round number");
        turn.round = round.get<std::uint32_t>();
        turn.question = t.input.value("question", json());
        const json& persona = t.input.contains("persona") ? t.input["persona"] : json("");
        if (persona.is_string()) turn.persona = persona.get<std::string>();
        const json& previous = t.input.contains("previous") ? t.input["previous"] : json();
        if (previous.is_string()) {
          // Through the scratchpad: the previous round's record enters the read set.
          auto rec = sp.get(previous.get<std::string>());
          if (!rec) return rec.error();
          if (rec->exists() && rec->value().is_object()) {
            const json& v = rec->value();
            auto answers = v.find("answers");
            if (answers != v.end() && answers->is_object())
              for (const auto& [who, answer] : answers->items()) {
                if (who == sp.author())
                  turn.own_previous = answer;
                else
                  turn.others.emplace(who, answer);
              }
            auto summary = v.find("summary");
            if (summary != v.end() && summary->is_object()) {
              auto agg = summary->find("aggregate");
              if (agg != summary->end() && agg->is_string()) turn.previous_aggregate = agg->get<std::string>();
            }
          }
        }
        auto answer = fn(turn);
        if (!answer) return answer.error();
        return contribute(t, sp, std::move(*answer));
      });
}

actors::agent_logic judge(
    std::function<bb::result<json>(const json& question, const std::map<std::string, json>& answers)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return bad_input(t, "input is not a JSON object");
        std::map<std::string, json> answers;
        auto it = t.input.find("answers");
        if (it == t.input.end() || !it->is_object()) return bad_input(t, "input has no object field 'answers'");
        for (const auto& [who, answer] : it->items()) answers.emplace(who, answer);
        auto pick = fn(t.input.value("question", json()), answers);
        if (!pick) return pick.error();
        return contribute(t, sp, std::move(*pick));
      });
}

// --- the pattern ---------------------------------------------------------------------

namespace {

struct debate_setup {
  debate_config cfg;
  answer_extractor extract;
};

class debate_run final : public detail::pattern_run {
 public:
  debate_run(std::shared_ptr<const debate_setup> setup, detail::run_info info)
      : setup_(std::move(setup)), info_(std::move(info)) {}

  std::optional<std::vector<std::pair<member, json>>> plan(std::uint32_t round,
                                                           std::uint32_t step) override {
    const auto& cfg = setup_->cfg;
    std::vector<std::pair<member, json>> out;
    if (step == 0) {
      reset_round();
      json previous = round > 1 ? json(run_keys::round(info_.run_id, round - 1)) : json();
      for (const auto& d : cfg.debaters)
        out.push_back({d, {{"question", question()}, {"previous", previous}}});
      return out;
    }
    if (step == 1 && cfg.judge && !answers_.empty()) {
      json answers = json::object();
      for (const auto& [who, a] : answers_) answers[who] = a;
      out.push_back({*cfg.judge, {{"role", "judge"}, {"question", question()}, {"answers", answers}}});
      return out;
    }
    return std::nullopt;
  }

  void gathered(std::uint32_t, std::uint32_t step, const std::vector<std::pair<member, json>>& asked,
                const std::vector<actors::outcome>& got) override {
    detail::sort_outcomes(asked, got, missing_, failed_, "returned no answer",
                          [&](const std::string& who, const actors::outcome&, json answer) {
                            if (step == 0)
                              answers_[who] = std::move(answer);
                            else
                              judged_ = std::move(answer);
                            return std::string();
                          });
  }

  detail::round_close close(std::uint32_t round) override {
    const auto& cfg = setup_->cfg;
    detail::round_close rc;
    auto& s = rc.summary;
    s.number = round;
    s.expected = cfg.debaters.size();
    std::map<std::string, std::size_t> votes;
    for (const auto& [who, a] : answers_) {
      auto norm = setup_->extract(a);
      s.answers[who] = norm;
      ++votes[norm];
      raw_[norm] = a;
      auto prev = previous_.find(who);
      if (prev == previous_.end() || prev->second != norm) ++s.new_contributions;
    }
    s.late = missing_.size();
    s.failed = failed_.size();
    if (judged_) {
      auto norm = setup_->extract(*judged_);
      raw_[norm] = *judged_;
      s.aggregate = norm;
    } else if (!votes.empty()) {
      auto best = votes.begin();
      for (auto it = votes.begin(); it != votes.end(); ++it)
        if (it->second > best->second || (it->second == best->second && answer_less(it->first, best->first)))
          best = it;
      s.aggregate = best->first;
    }
    previous_ = s.answers;
    json answers = json::object();
    for (const auto& [who, a] : answers_) answers[who] = a;
    rc.record = {{"answers", answers}, {"votes", votes}, {"failed", failed_}, {"missing", missing_}};
    if (judged_) rc.record["judge"] = *judged_;
    return rc;
  }

  void restore(const json& record) override {
    // Throws json::exception on a malformed record: the engine reports it.
    previous_ = record.at("summary").at("answers").get<std::map<std::string, std::string>>();
    for (const auto& [who, a] : record.at("answers").items()) raw_[setup_->extract(a)] = a;
    if (record.contains("judge")) raw_[setup_->extract(record["judge"])] = record["judge"];
  }

  json answer_for(const std::string& normalized) const override {
    auto it = raw_.find(normalized);
    return it != raw_.end() ? it->second : json(normalized);
  }

 private:
  json question() const {
    return info_.input.is_object() ? info_.input.value("question", json()) : json();
  }
  void reset_round() {
    answers_.clear();
    failed_.clear();
    missing_.clear();
    judged_.reset();
  }

  std::shared_ptr<const debate_setup> setup_;
  detail::run_info info_;
  // This round.
  std::map<std::string, json> answers_;  // counted, raw
  std::map<std::string, std::string> failed_;
  std::vector<std::string> missing_;
  std::optional<json> judged_;
  // Across rounds.
  std::map<std::string, std::string> previous_;  // last round's normalized answers
  std::map<std::string, json> raw_;              // normalized → an answer as given
};

}  // namespace

bb::result<actors::agent_actor> spawn_debate(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                             debate_config cfg) {
  if (cfg.debaters.empty()) return bb::error{bb::errc::invalid_argument, "debate: no debaters"};
  auto all = cfg.debaters;
  if (cfg.judge) all.push_back(*cfg.judge);
  auto setup = std::make_shared<debate_setup>();
  setup->extract = cfg.extract ? cfg.extract : answer_extractor(default_extractor);
  const auto id = cfg.id;
  const auto run = cfg.run;
  setup->cfg = std::move(cfg);
  std::shared_ptr<const debate_setup> shared = setup;
  return detail::spawn_pattern(sys, std::move(board), "debate", id, std::move(all), run,
                               [shared](const detail::run_info& info) -> std::unique_ptr<detail::pattern_run> {
                                 return std::make_unique<debate_run>(shared, info);
                               });
}

bb::result<actors::agent_actor> spawn_debate(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                             debate_config cfg) {
  if (!cfg.run.tracer) cfg.run.tracer = &rt.tracer();
  return actors::adopt(rt, spawn_debate(rt.system(), std::move(board), std::move(cfg)), "debate");
}

}  // namespace agora
