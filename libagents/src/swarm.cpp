#include "agora/agents/swarm.hpp"

#include <exception>
#include <map>
#include <stdexcept>
#include <utility>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "orchestrator.hpp"

namespace agora {

namespace {

bb::error bad_input(const actors::task& t, const std::string& what) {
  return bb::error{bb::errc::invalid_argument, "task " + t.txn_id() + ": " + what};
}

// The marker every edit of the artifact is pinned to (see swarm.hpp).
std::string turn_key(const std::string& run) { return run_keys::root(run) + "/turn"; }

std::optional<swarm_order> order_from(const std::string& s) {
  for (auto o : {swarm_order::round_robin, swarm_order::parallel_then_merge, swarm_order::iterative})
    if (s == to_string(o)) return o;
  return std::nullopt;
}

const char* to_string(artifact_edit e) noexcept {
  switch (e) {
    case artifact_edit::by_order: return "by_order";
    case artifact_edit::none: return "none";
    case artifact_edit::replace: return "replace";
    case artifact_edit::merge: return "merge";
    case artifact_edit::append: return "append";
  }
  return "unknown";
}

// Optional fields of a task input, checked for their type without throwing.
bb::result<std::string> string_field(const actors::task& t, const char* name, std::string fallback) {
  auto it = t.input.find(name);
  if (it == t.input.end() || it->is_null()) return fallback;
  if (!it->is_string()) return bad_input(t, std::string("field '") + name + "' is not a string");
  return it->get<std::string>();
}

bb::result<bool> bool_field(const actors::task& t, const char* name) {
  auto it = t.input.find(name);
  if (it == t.input.end() || it->is_null()) return false;
  if (!it->is_boolean()) return bad_input(t, std::string("field '") + name + "' is not a boolean");
  return it->get<bool>();
}

json contributions_json(const std::map<std::string, json>& m) {
  json out = json::object();
  for (const auto& [who, c] : m) out[who] = c;
  return out;
}

}  // namespace

const char* to_string(swarm_order o) noexcept {
  switch (o) {
    case swarm_order::round_robin: return "round_robin";
    case swarm_order::parallel_then_merge: return "parallel_then_merge";
    case swarm_order::iterative: return "iterative";
  }
  return "unknown";
}

std::string swarm_artifact_key(const std::string& run) { return run_keys::root(run) + "/artifact"; }

// --- members' logic ----------------------------------------------------------------

bb::result<swarm_turn> swarm_turn::read(const actors::task& t, bb::scratchpad& sp) {
  if (!t.input.is_object()) return bad_input(t, "input is not a JSON object");
  const json& in = t.input;
  swarm_turn turn;
  auto run = string_field(t, "run", t.run_id);
  if (!run) return run.error();
  turn.run_id = std::move(*run);
  if (auto it = in.find("round"); it != in.end()) {
    if (!it->is_number_unsigned()) return bad_input(t, "field 'round' is not a round number");
    turn.round = it->get<std::uint32_t>();
  }
  auto order = string_field(t, "order", "");
  if (!order) return order.error();
  auto o = order_from(*order);
  if (!o) return bad_input(t, "field 'order' is not one of round_robin, parallel_then_merge, iterative");
  turn.order = *o;
  auto blind = bool_field(t, "blind");
  if (!blind) return blind.error();
  turn.blind = *blind;
  turn.input = in.value("input", json());
  auto persona = string_field(t, "persona", "");
  if (!persona) return persona.error();
  turn.persona = std::move(*persona);
  auto key = string_field(t, "key", "");
  if (!key) return key.error();
  if (key->empty()) return bad_input(t, "input has no string field 'key'");
  turn.key = std::move(*key);
  auto artifact = string_field(t, "artifact_key", "");
  if (!artifact) return artifact.error();
  if (artifact->empty()) return bad_input(t, "input has no string field 'artifact_key'");
  turn.artifact_key = std::move(*artifact);
  auto edits = bool_field(t, "edits");
  if (!edits) return edits.error();
  turn.edits = *edits;

  const auto& base = sp.base();
  if (turn.edits) {
    auto pin = in.find("turn_revision");
    if (pin == in.end() || !pin->is_number_unsigned())
      return bad_input(t, "field 'turn_revision' is missing or not a revision");
    turn.turn_revision = pin->get<std::uint64_t>();
    // A late contributor gives up here instead of running again after its
    // pinned promotion conflicted.
    auto closed = base.get(run_keys::round(turn.run_id, turn.round));
    if (!closed) return closed.error();
    if (closed->exists())
      return bb::error{bb::errc::conflict, "swarm run " + turn.run_id + ": round " +
                                               std::to_string(turn.round) +
                                               " closed before this contribution"};
    auto marker = base.get(turn_key(turn.run_id));
    if (!marker) return marker.error();
    if (marker->mod_revision() != turn.turn_revision)
      return bb::error{bb::errc::conflict, "swarm run " + turn.run_id + ": the turn in round " +
                                               std::to_string(turn.round) +
                                               " is over; another contributor has it now"};
  }
  // Unrecorded: a merge or an append need not conflict with what it did not
  // use; a replace pins what it saw (submit_contribution).
  auto current = base.get(turn.artifact_key);
  if (!current) return current.error();
  turn.artifact = current->value();

  if (auto prev = in.find("previous"); prev != in.end() && prev->is_string()) {
    // Through the scratchpad: the last round's record enters the read set.
    auto rec = sp.get(prev->get<std::string>());
    if (!rec) return rec.error();
    if (rec->exists() && rec->value().is_object()) {
      auto c = rec->value().find("contributions");
      if (c != rec->value().end() && c->is_object())
        for (const auto& [who, value] : c->items()) {
          if (who == sp.author())
            turn.own_previous = value;
          else
            turn.others.emplace(who, value);
        }
    }
  }
  if (auto earlier = in.find("earlier"); earlier != in.end() && earlier->is_object())
    for (const auto& [who, value] : earlier->items()) turn.others.emplace(who, value);
  return turn;
}

actors::logic_result submit_contribution(const swarm_turn& turn, bb::scratchpad& sp, swarm_contribution c) {
  artifact_edit edit = c.edit;
  if (edit == artifact_edit::by_order) edit = turn.edits ? artifact_edit::replace : artifact_edit::none;
  if (edit != artifact_edit::none && !turn.edits)
    return bb::error{bb::errc::invalid_argument,
                     "swarm run " + turn.run_id + " merges its artifact itself: a contributor cannot " +
                         to_string(edit) + " it"};
  if (edit == artifact_edit::merge && !c.value.is_object())
    return bb::error{bb::errc::invalid_argument, "swarm run " + turn.run_id +
                                                     ": a merge edit needs a JSON object, got " +
                                                     std::string(c.value.type_name())};
  if (auto s = sp.put(turn.key, c.value); !s) return std::move(s).take_error();
  if (edit != artifact_edit::none) {
    // Pinned to the turn: a late edit is refused once the round is recorded
    // or the next step has started.
    if (auto s = sp.expect(run_keys::round(turn.run_id, turn.round), 0); !s) return std::move(s).take_error();
    if (auto s = sp.expect(turn_key(turn.run_id), turn.turn_revision); !s) return std::move(s).take_error();
    bb::status staged;
    switch (edit) {
      case artifact_edit::replace: {
        // Pin the artifact as the turn saw it: a concurrent change conflicts
        // (even under blind isolation) and the agent runs the logic again.
        auto seen = sp.base().get(turn.artifact_key);
        if (!seen) return seen.error();
        staged = sp.expect(turn.artifact_key, seen->mod_revision());
        if (staged) staged = sp.put(turn.artifact_key, c.value);
        break;
      }
      case artifact_edit::merge: staged = sp.merge(turn.artifact_key, c.value); break;
      case artifact_edit::append: staged = sp.append(turn.artifact_key, c.value); break;
      default: break;
    }
    if (!staged) return std::move(staged).take_error();
  }
  return json{{"answer", std::move(c.value)}};
}

actors::agent_logic contributor(std::function<bb::result<swarm_contribution>(const swarm_turn&)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        auto turn = swarm_turn::read(t, sp);
        if (!turn) return turn.error();
        auto c = fn(*turn);
        if (!c) return c.error();
        return submit_contribution(*turn, sp, std::move(*c));
      });
}

actors::agent_logic contributor(std::function<bb::result<json>(const swarm_turn&)> fn) {
  return contributor(std::function<bb::result<swarm_contribution>(const swarm_turn&)>(
      [fn = std::move(fn)](const swarm_turn& turn) -> bb::result<swarm_contribution> {
        auto v = fn(turn);
        if (!v) return v.error();
        return swarm_contribution{std::move(*v)};
      }));
}

actors::agent_logic swarm_synthesizer(std::function<bb::result<json>(const swarm_merge&)> fn) {
  return actors::agent_logic::sync(
      [fn = std::move(fn)](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
        if (!t.input.is_object()) return bad_input(t, "input is not a JSON object");
        swarm_merge m;
        auto run = string_field(t, "run", t.run_id);
        if (!run) return run.error();
        m.run_id = std::move(*run);
        if (auto it = t.input.find("round"); it != t.input.end()) {
          if (!it->is_number_unsigned()) return bad_input(t, "field 'round' is not a round number");
          m.round = it->get<std::uint32_t>();
        }
        m.input = t.input.value("input", json());
        m.artifact = t.input.value("artifact", json());
        auto c = t.input.find("contributions");
        if (c == t.input.end() || !c->is_object())
          return bad_input(t, "input has no object field 'contributions'");
        for (const auto& [who, value] : c->items()) m.contributions.emplace(who, value);
        auto key = string_field(t, "key", "");
        if (!key) return key.error();
        if (key->empty()) return bad_input(t, "input has no string field 'key'");
        auto merged = fn(m);
        if (!merged) return merged.error();
        if (auto s = sp.put(*key, *merged); !s) return std::move(s).take_error();
        return json{{"answer", std::move(*merged)}};
      });
}

// --- the pattern ---------------------------------------------------------------------

namespace {

struct swarm_setup {
  swarm_config cfg;
  answer_extractor extract;
  std::string author;  // the orchestrator's id: the author of its own writes
  bool merges() const { return cfg.reduce || cfg.synthesizer.has_value(); }
};

class swarm_run final : public detail::pattern_run {
 public:
  swarm_run(std::shared_ptr<const swarm_setup> setup, detail::run_info info)
      : setup_(std::move(setup)), info_(std::move(info)), artifact_key_(swarm_artifact_key(info_.run_id)) {}

  std::optional<std::vector<std::pair<member, json>>> plan(std::uint32_t round,
                                                           std::uint32_t step) override {
    const auto& cfg = setup_->cfg;
    if (step == 0) reset_round();
    const bool blind = cfg.blind_first && round == 1;
    const bool all_at_once = blind || cfg.order != swarm_order::round_robin;
    const std::uint32_t contribution_steps =
        all_at_once ? 1 : static_cast<std::uint32_t>(cfg.contributors.size());
    std::vector<std::pair<member, json>> out;
    if (step < contribution_steps) {
      const std::uint64_t pin = mark_turn(round, step);
      if (all_at_once) {
        for (const auto& c : cfg.contributors) out.push_back({c, contributor_input(round, c, blind, pin)});
      } else {
        const auto& c = cfg.contributors[step];
        json in = contributor_input(round, c, blind, pin);
        in["key"] = run_keys::answer(info_.run_id, round, c.id);  // every step's contribution side by side
        out.push_back({c, std::move(in)});
      }
      return out;
    }
    if (step == contribution_steps && cfg.synthesizer && !contributions_.empty()) {
      out.push_back({*cfg.synthesizer,
                     {{"role", "synthesizer"},
                      {"input", info_.input},
                      {"artifact", artifact_now()},
                      {"contributions", contributions_json(contributions_)},
                      {"key", run_keys::answer(info_.run_id, round, cfg.synthesizer->id)}}});
      return out;
    }
    return std::nullopt;
  }

  void gathered(std::uint32_t, std::uint32_t, const std::vector<std::pair<member, json>>& asked,
                const std::vector<actors::outcome>& got) override {
    const auto& cfg = setup_->cfg;
    detail::sort_outcomes(asked, got, missing_, failed_, "returned no answer",
                          [&](const std::string& who, const actors::outcome& o, json answer) {
                            if (cfg.synthesizer && who == cfg.synthesizer->id.str()) {
                              merged_ = std::move(answer);
                              if (o.result.is_object())
                                if (auto sc = o.result.find("score"); sc != o.result.end() && sc->is_number())
                                  synth_score_ = sc->get<double>();
                            } else {
                              contributions_[who] = std::move(answer);
                            }
                            return std::string();
                          });
  }

  detail::round_close close(std::uint32_t round) override {
    const auto& cfg = setup_->cfg;
    detail::round_close rc;
    auto& s = rc.summary;
    s.number = round;
    s.expected = cfg.contributors.size();
    for (const auto& [who, c] : contributions_) {
      auto norm = setup_->extract(c);
      auto prev = previous_.find(who);
      if (prev == previous_.end() || prev->second != norm) ++s.new_contributions;
      raw_[norm] = c;
      s.answers[who] = std::move(norm);
    }
    s.late = missing_.size();
    s.failed = failed_.size();

    json artifact = artifact_now();
    std::optional<std::string> merge_error;
    if (setup_->merges()) {
      auto merged = merge(round, artifact);
      if (merged) {
        artifact = std::move(*merged);
        rc.writes.push_back({artifact_key_, artifact});
      } else {
        merge_error = merged.error().message;
      }
    }
    if (!merge_error && !artifact.is_null()) {
      auto norm = setup_->extract(artifact);
      raw_[norm] = artifact;
      s.aggregate = std::move(norm);
    }
    s.quality = synth_score_;
    previous_ = s.answers;
    rc.record = {{"order", to_string(cfg.order)},
                 {"blind", cfg.blind_first && round == 1},
                 {"contributions", contributions_json(contributions_)},
                 {"failed", failed_},
                 {"missing", missing_},
                 {"artifact", artifact}};
    if (merge_error) rc.record["merge_error"] = *merge_error;
    return rc;
  }

  void restore(const json& record) override {
    // Throws json::exception on a malformed record: the engine reports it.
    previous_ = record.at("summary").at("answers").get<std::map<std::string, std::string>>();
    for (const auto& [who, c] : record.at("contributions").items()) raw_[setup_->extract(c)] = c;
    const json& artifact = record.at("artifact");
    if (!artifact.is_null()) raw_[setup_->extract(artifact)] = artifact;
  }

  json answer_for(const std::string& normalized) const override {
    auto it = raw_.find(normalized);
    return it != raw_.end() ? it->second : json(normalized);
  }

  bool aggregate_settles() const override { return true; }

 private:
  json contributor_input(std::uint32_t round, const member&, bool blind, std::uint64_t pin) const {
    const auto& cfg = setup_->cfg;
    const bool edits = !setup_->merges();
    json previous = !blind && cfg.order == swarm_order::iterative && round > 1
                        ? json(run_keys::round(info_.run_id, round - 1))
                        : json();
    json in = {{"input", info_.input},         {"order", to_string(cfg.order)},
               {"blind", blind},               {"artifact_key", artifact_key_},
               {"edits", edits},               {"previous", std::move(previous)}};
    if (!blind && cfg.order == swarm_order::round_robin && setup_->merges())
      in["earlier"] = contributions_json(contributions_);
    if (edits) in["turn_revision"] = pin;
    return in;
  }

  // Writes the turn marker contributors pin their edits to (and, before the
  // first turn, the starting artifact). Returns the marker's revision; 0
  // when nothing is pinned. The txn id makes it idempotent: after a restart
  // the replay returns the first commit's revision.
  std::uint64_t mark_turn(std::uint32_t round, std::uint32_t step) {
    const bool edits = !setup_->merges();
    const bool initial =
        round == 1 && step == 0 && info_.input.is_object() && info_.input.contains("artifact");
    if (!edits && !initial) return 0;
    auto sp = info_.board->begin(setup_->author);
    bb::status staged;
    if (initial) staged = sp.put(artifact_key_, info_.input["artifact"]);
    if (staged && edits) staged = sp.put(turn_key(info_.run_id), {{"round", round}, {"step", step}});
    if (!staged) throw std::runtime_error("cannot stage the turn marker: " + bb::to_string(staged.error()));
    auto c = info_.board->promote(sp, {info_.run_id + "/turn-" + std::to_string(round) + "-" +
                                           std::to_string(step),
                                       bb::isolation::blind});
    if (!c) throw std::runtime_error("cannot write the turn marker: " + bb::to_string(c.error()));
    return edits ? c->revision : 0;
  }

  // The round's new artifact from the merge, or why there is none.
  bb::result<json> merge(std::uint32_t round, const json& before) {
    const auto& cfg = setup_->cfg;
    if (cfg.synthesizer) {
      if (merged_) return *merged_;
      if (contributions_.empty()) return bb::error{bb::errc::invalid_argument, "no contribution to merge"};
      const std::string who = cfg.synthesizer->id.str();
      auto f = failed_.find(who);
      return bb::error{bb::errc::invalid_argument,
                       "synthesizer " + who +
                           (f != failed_.end() ? " failed: " + f->second : " gave no answer in time")};
    }
    if (contributions_.empty()) return bb::error{bb::errc::invalid_argument, "no contribution to merge"};
    swarm_merge m{info_.run_id, round, info_.input, before, contributions_};
    try {
      auto r = cfg.reduce(m);
      if (!r) return bb::error{r.error().code, "reducer failed: " + bb::to_string(r.error())};
      return std::move(*r);
    } catch (const std::exception& e) {
      return bb::error{bb::errc::invalid_argument, std::string("reducer threw: ") + e.what()};
    }
  }

  json artifact_now() const {
    auto e = info_.board->get(artifact_key_);
    return e ? e->value() : json();
  }

  void reset_round() {
    contributions_.clear();
    failed_.clear();
    missing_.clear();
    merged_.reset();
    synth_score_.reset();
  }

  std::shared_ptr<const swarm_setup> setup_;
  detail::run_info info_;
  std::string artifact_key_;
  // This round.
  std::map<std::string, json> contributions_;  // counted, raw
  std::map<std::string, std::string> failed_;
  std::vector<std::string> missing_;
  std::optional<json> merged_;  // the synthesizer's answer
  std::optional<double> synth_score_;
  // Across rounds.
  std::map<std::string, std::string> previous_;  // last round's normalized contributions
  std::map<std::string, json> raw_;              // normalized → a value as given
};

}  // namespace

bb::result<actors::agent_actor> spawn_swarm(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                            swarm_config cfg) {
  if (!board) return bb::error{bb::errc::invalid_argument, "swarm: the blackboard is null"};
  if (cfg.contributors.empty()) return bb::error{bb::errc::invalid_argument, "swarm: no contributors"};
  if (cfg.order != swarm_order::round_robin && cfg.order != swarm_order::parallel_then_merge &&
      cfg.order != swarm_order::iterative)
    return bb::error{bb::errc::invalid_argument, "swarm: unknown ordering"};
  if (cfg.reduce && cfg.synthesizer)
    return bb::error{bb::errc::invalid_argument, "swarm: give a reducer or a synthesizer, not both"};
  const bool merges = cfg.reduce || cfg.synthesizer;
  if (!merges && cfg.order == swarm_order::parallel_then_merge)
    return bb::error{bb::errc::invalid_argument,
                     "swarm: parallel_then_merge needs a reducer or a synthesizer"};
  if (!merges && cfg.blind_first)
    return bb::error{bb::errc::invalid_argument,
                     "swarm: blind_first needs a reducer or a synthesizer to make the artifact "
                     "of the blind round"};
  auto all = cfg.contributors;
  if (cfg.synthesizer) all.push_back(*cfg.synthesizer);
  auto setup = std::make_shared<swarm_setup>();
  setup->extract = cfg.extract ? cfg.extract : answer_extractor(default_extractor);
  const auto id = cfg.id;
  const auto run = cfg.run;
  setup->author = detail::pattern_id("swarm", id).str();
  setup->cfg = std::move(cfg);
  std::shared_ptr<const swarm_setup> shared = setup;
  return detail::spawn_pattern(sys, std::move(board), "swarm", id, std::move(all), run,
                               [shared](const detail::run_info& info) -> std::unique_ptr<detail::pattern_run> {
                                 return std::make_unique<swarm_run>(shared, info);
                               });
}

bb::result<actors::agent_actor> spawn_swarm(actors::runtime& rt, std::shared_ptr<bb::blackboard> board,
                                            swarm_config cfg) {
  if (!cfg.run.tracer) cfg.run.tracer = &rt.tracer();
  return actors::adopt(rt, spawn_swarm(rt.system(), std::move(board), std::move(cfg)), "swarm");
}

}  // namespace agora
