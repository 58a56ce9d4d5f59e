#include "agora/agents/run.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "agora/actors/errors.hpp"

namespace agora {

const char* to_string(run_status s) noexcept {
  switch (s) {
    case run_status::settled: return "settled";
    case run_status::fallback: return "fallback";
    case run_status::escalated: return "escalated";
    case run_status::failed: return "failed";
  }
  return "unknown";
}

namespace {

std::optional<run_status> status_from(const std::string& s) {
  for (auto st : {run_status::settled, run_status::fallback, run_status::escalated, run_status::failed})
    if (s == to_string(st)) return st;
  return std::nullopt;
}

std::optional<stop_kind> kind_from(const std::string& s) {
  for (auto k : {stop_kind::max_rounds, stop_kind::deadline, stop_kind::token_budget,
                 stop_kind::cost_budget, stop_kind::consensus, stop_kind::quality,
                 stop_kind::quiescence, stop_kind::stable_answer, stop_kind::custom})
    if (s == to_string(k)) return k;
  return std::nullopt;
}

}  // namespace

json run_result::to_json() const {
  json kinds = json::array();
  for (auto k : stopped_by) kinds.push_back(to_string(k));
  return {{"run", run_id},   {"status", to_string(status)}, {"answer", answer},
          {"reason", reason}, {"stopped_by", kinds},         {"rounds", rounds},
          {"tokens", tokens}, {"cost_usd", cost_usd}};
}

bb::result<run_result> run_result::from_json(const json& j) {
  auto bad = [](const std::string& field, const std::string& what) {
    return bb::error{bb::errc::invalid_argument, "run result: field '" + field + "' " + what, "", "/" + field};
  };
  if (!j.is_object()) return bb::error{bb::errc::invalid_argument, "run result: not a JSON object"};
  run_result r;
  auto run = j.find("run");
  if (run == j.end() || !run->is_string()) return bad("run", "is missing or not a string");
  r.run_id = run->get<std::string>();
  auto status = j.find("status");
  if (status == j.end() || !status->is_string()) return bad("status", "is missing or not a string");
  auto st = status_from(status->get<std::string>());
  if (!st) return bad("status", "is not one of settled, fallback, escalated, failed");
  r.status = *st;
  r.answer = j.value("answer", json());
  auto reason = j.find("reason");
  if (reason != j.end() && !reason->is_string()) return bad("reason", "is not a string");
  if (reason != j.end()) r.reason = reason->get<std::string>();
  if (auto k = j.find("stopped_by"); k != j.end()) {
    if (!k->is_array()) return bad("stopped_by", "is not an array");
    for (const auto& x : *k) {
      auto kind = x.is_string() ? kind_from(x.get<std::string>()) : std::nullopt;
      if (!kind) return bad("stopped_by", "holds an unknown policy kind");
      r.stopped_by.push_back(*kind);
    }
  }
  auto num = [&](const char* f, auto& out) -> bool {
    auto it = j.find(f);
    if (it == j.end()) return true;
    if (!it->is_number()) return false;
    out = it->get<std::decay_t<decltype(out)>>();
    return true;
  };
  if (!num("rounds", r.rounds)) return bad("rounds", "is not a number");
  if (!num("tokens", r.tokens)) return bad("tokens", "is not a number");
  if (!num("cost_usd", r.cost_usd)) return bad("cost_usd", "is not a number");
  return r;
}

std::string default_extractor(const json& answer) {
  if (answer.is_object()) {
    auto it = answer.find("answer");
    if (it != answer.end()) return default_extractor(*it);
  }
  if (!answer.is_string()) return answer.dump();
  const auto& s = answer.get_ref<const std::string&>();
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  std::string out = s.substr(b, e - b + 1);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

caf::expected<run_result> run_pattern(caf::actor_system& sys, const actors::agent_actor& pattern,
                                      const std::string& run_id, json input,
                                      std::chrono::milliseconds timeout) {
  actors::task t;
  t.run_id = run_id;
  t.task_id = "run";
  t.input = std::move(input);
  if (!pattern) return caf::make_error(caf::sec::invalid_argument, "run_pattern: no pattern actor");
  caf::scoped_actor self{sys};
  caf::actor waiter = self;
  // A helper asks on our behalf and also monitors the pattern: CAF 0.17
  // answers nothing when an actor dies holding a request it accepted, so a
  // plain request would wait out its whole timeout for a pattern that is
  // already gone. The helper forwards whichever comes first and quits.
  sys.spawn([pattern, t, timeout, waiter](caf::event_based_actor* helper) {
    helper->monitor(pattern);
    helper->set_down_handler([=](caf::down_msg& dm) {
      helper->send(waiter, dm.reason ? std::move(dm.reason)
                                     : caf::make_error(caf::sec::request_receiver_down,
                                                       "the pattern quit before it answered"));
      helper->quit();
    });
    helper->request(pattern, std::chrono::duration_cast<caf::timespan>(timeout), actors::run_atom::value, t)
        .then(
            [=](actors::outcome& o) {
              helper->send(waiter, std::move(o));
              helper->quit();
            },
            [=](caf::error& err) {
              helper->send(waiter, std::move(err));
              helper->quit();
            });
  });
  caf::expected<run_result> out{caf::error{}};
  // The helper always answers within `timeout` (its request's own limit);
  // the margin only covers a helper that could not run at all.
  self->receive(
      [&](actors::outcome& o) {
        auto r = run_result::from_json(o.result);
        if (r) {
          r->revision = o.revision;
          out = std::move(*r);
        } else if (o.error) {
          out = o.error;  // refused before it started (bad run id)
        } else {
          out = actors::to_caf_error(r.error());
        }
      },
      [&](caf::error& err) {
        out = err ? std::move(err) : caf::make_error(caf::sec::request_receiver_down, "the pattern quit");
      },
      caf::after(timeout + std::chrono::seconds(5)) >> [&] { out = caf::make_error(caf::sec::request_timeout); });
  return out;
}

bb::result<run_result> run_pattern(actors::runtime& rt, const actors::agent_actor& pattern,
                                   const std::string& run_id, json input, std::chrono::milliseconds timeout) {
  auto r = run_pattern(rt.system(), pattern, run_id, std::move(input), timeout);
  if (r) return std::move(*r);
  if (actors::is_blackboard_error(r.error())) return actors::from_caf_error(r.error());
  return bb::error{bb::errc::io_error, "run '" + run_id + "': " + actors::render(r.error())};
}

bb::result<member> make_member(actors::runtime& rt, std::shared_ptr<bb::blackboard> board, std::string_view id,
                               actors::agent_logic logic, std::string persona) {
  auto parsed = actors::agent_id::parse(id);
  if (!parsed) return parsed.error();
  auto agent = actors::spawn_agent(rt, std::move(board), {*parsed, std::string(parsed->type()), {}}, std::move(logic));
  if (!agent) return agent.error();
  return member{*parsed, *agent, std::move(persona)};
}

namespace {

std::string text_of(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

}  // namespace

bb::result<std::string> transcript(const bb::blackboard& board, const std::string& run_id) {
  auto snap = board.snapshot();
  auto meta = snap.get(run_keys::meta(run_id));
  if (!meta) return meta.error();
  if (!meta->exists())
    return bb::error{bb::errc::invalid_argument, "run '" + run_id + "' has no record at " + run_keys::meta(run_id),
                     run_keys::meta(run_id)};
  std::ostringstream out;
  const json& m = meta->value();
  out << "run " << run_id << ": " << m.value("pattern", std::string("?")) << ", policy "
      << m.value("policy", std::string("?")) << ", fallback " << m.value("fallback", std::string("?"))
      << "\n";
  if (m.contains("input")) out << "input: " << m["input"].dump() << "\n";
  for (std::uint32_t r = 1;; ++r) {
    auto rec = snap.get(run_keys::round(run_id, r));
    if (!rec || !rec->exists()) break;
    const json& j = rec->value();
    out << "round " << r << ":\n";
    auto answers = snap.list(run_keys::answers(run_id, r));
    const json summary = j.value("summary", json::object());
    if (answers) {
      for (const auto& e : *answers) {
        auto who = e.key().substr(run_keys::answers(run_id, r).size() + 1);
        out << "  " << who << ": " << text_of(e.value());
        auto late = snap.get(run_keys::root(run_id) + "/late/" + std::to_string(r) + "/" + who);
        if (late && late->exists()) out << " (late, not counted)";
        out << "\n";
      }
    }
    if (j.contains("failed") && j["failed"].is_object())
      for (const auto& [who, why] : j["failed"].items()) out << "  " << who << " failed: " << text_of(why) << "\n";
    if (j.contains("missing") && j["missing"].is_array())
      for (const auto& who : j["missing"]) out << "  " << text_of(who) << ": no answer in time\n";
    if (j.contains("votes")) out << "  votes: " << j["votes"].dump() << "\n";
    if (summary.contains("quality") && !summary["quality"].is_null())
      out << "  quality: " << summary["quality"].dump() << "\n";
    out << "  aggregate: " << (summary.value("aggregate", json()).is_null() ? std::string("(none)") : text_of(summary["aggregate"])) << "\n";
  }
  auto res = snap.get(run_keys::result(run_id));
  if (res && res->exists()) {
    const json& j = res->value();
    out << "result: " << j.value("status", std::string("?")) << ", answer "
        << text_of(j.value("answer", json())) << "\n";
    out << "reason: " << j.value("reason", std::string()) << "\n";
  } else {
    out << "result: (not finished)\n";
  }
  return out.str();
}

}  // namespace agora
