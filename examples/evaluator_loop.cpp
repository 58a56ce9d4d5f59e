// An evaluator loop: a writer drafts a one-line summary of a bug fix, two
// critics score the draft (is it 6 to 12 words long? does it mention the
// words a reader searches for?), and the writer revises with their
// critiques until both critics score it at least 0.9, or five rounds are
// done. Prints the transcript, each round's candidate and score, and why
// the loop stopped.
//
// The writer and the critics are deterministic functions here. An LLM
// writer or critic plugs into the same place: any agent logic that writes
// its candidate (or its verdict {"pass", "score", "critique"}) at the task's
// `key` and returns {"answer": ...} as run.hpp and evaluator_loop.hpp say.
#include <agora/agora.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace agora;

namespace {

const std::vector<std::string> must_mention = {"buffer", "overflow", "config"};
constexpr std::size_t min_words = 6, max_words = 12;

// How the writer rewrites its draft for a word it was asked to mention:
// replace `from` with `to`, or append `to` when `from` is empty.
const std::map<std::string, std::pair<std::string, std::string>> rewrites = {
    {"buffer", {"crash", "buffer overflow"}},
    {"overflow", {"crash", "buffer overflow"}},
    {"config", {"", " in load_config"}},
};
const std::string long_detail = " for names longer than the 16-byte stack buffer can hold";
const std::string short_detail = " for names over 15 characters";

std::size_t count_words(const std::string& s) {
  std::istringstream in(s);
  std::size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

double two_places(double x) { return std::round(x * 100) / 100; }

// The writer: a first draft, then one revision per round that answers the
// critique of the lowest-scoring verdict (one thing at a time).
bb::result<json> write(const generator_turn& turn) {
  if (!turn.previous || !turn.previous->is_string()) return json("Fix crash");
  std::string draft = turn.previous->get<std::string>();
  const evaluation* worst = nullptr;
  for (const auto& [critic, verdict] : turn.critiques)
    if (!worst || verdict.score < worst->score) worst = &verdict;
  if (!worst || worst->pass) return json(draft);  // nothing to fix

  const std::string& critique = worst->critique;
  if (critique.rfind("mention: ", 0) == 0) {  // "mention: buffer, config"
    std::istringstream words(critique.substr(9));
    for (std::string w; std::getline(words, w, ',');) {
      w.erase(0, w.find_first_not_of(' '));
      auto edit = rewrites.find(w);
      if (edit == rewrites.end()) continue;
      const auto& [from, to] = edit->second;
      if (from.empty()) draft += to;
      else if (auto at = draft.find(from); at != std::string::npos) draft.replace(at, from.size(), to);
    }
  } else if (critique.rfind("too short", 0) == 0) {
    draft += long_detail;
  } else if (critique.rfind("too long", 0) == 0) {
    auto at = draft.find(long_detail);
    if (at != std::string::npos) draft.replace(at, long_detail.size(), short_detail);
  }
  return json(draft);
}

// Critic 1: 6 to 12 words scores 1; shorter or longer scores less.
bb::result<evaluation> judge_length(const evaluator_turn& turn) {
  if (!turn.candidate.is_string())
    return bb::error{bb::errc::invalid_argument, "the candidate is not a string"};
  std::size_t n = count_words(turn.candidate.get<std::string>());
  if (n < min_words)
    return evaluation{false, two_places(double(n) / min_words),
                      "too short: " + std::to_string(n) + " words, want 6 to 12"};
  if (n > max_words)
    return evaluation{false, two_places(double(max_words) / n),
                      "too long: " + std::to_string(n) + " words, want 6 to 12"};
  return evaluation{true, 1.0, ""};
}

// Critic 2: the share of the required words the summary mentions.
bb::result<evaluation> judge_coverage(const evaluator_turn& turn) {
  if (!turn.candidate.is_string())
    return bb::error{bb::errc::invalid_argument, "the candidate is not a string"};
  std::string text = turn.candidate.get<std::string>();
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string missing;
  std::size_t found = 0;
  for (const auto& w : must_mention) {
    if (text.find(w) != std::string::npos) ++found;
    else missing += (missing.empty() ? "" : ", ") + w;
  }
  double score = two_places(double(found) / must_mention.size());
  return evaluation{missing.empty(), score, missing.empty() ? "" : "mention: " + missing};
}

}  // namespace

int main() {
  actors::runtime rt;                               // the CAF actor system, all types registered
  auto board = std::make_shared<bb::blackboard>();  // where the loop keeps its rounds

  auto spawn = [&](const char* type, const char* name, actors::agent_logic logic) -> std::optional<member> {
    auto id = actors::agent_id::make(type, name);
    if (!id) return std::nullopt;
    auto agent = actors::spawn_agent(rt, board, {*id, type, {}}, std::move(logic));
    if (!agent) return std::nullopt;
    return member{*id, *agent, name};
  };
  auto writer = spawn("writer", "summary", generator(write));
  auto length = spawn("critic", "length", evaluator(judge_length));
  auto coverage = spawn("critic", "coverage", evaluator(judge_coverage));
  if (!writer || !length || !coverage) return 1;

  evaluator_loop_config cfg;
  cfg.generator = *writer;
  cfg.evaluators = {*length, *coverage};
  // A round's score is the lowest critic's: both must be satisfied.
  cfg.combine = score_combine::min;
  // Good enough at 0.9; otherwise the best draft after five rounds.
  cfg.run.stop = quality_threshold(0.9) | max_rounds(5);
  cfg.run.fallback = fallback::best_so_far;
  cfg.run.round.timeout = std::chrono::seconds(5);  // a slow critic never holds a round up

  auto loop = spawn_evaluator_loop(rt, board, cfg);
  if (!loop) {
    std::cerr << bb::to_string(loop.error()) << "\n";
    return 1;
  }
  auto result = run_pattern(rt.system(), *loop, "summary-1",
                            {{"task", "a one-line summary of the fix to load_config"}},
                            std::chrono::minutes(1));
  if (!result) {
    std::cerr << actors::render(result.error()) << "\n";
    return 1;
  }
  auto text = transcript(*board, "summary-1");  // read back from the blackboard
  std::cout << (text ? *text : bb::to_string(text.error()));

  // Each round's record (runs/summary-1/round/<r>) holds its candidate and score.
  std::printf("\nround  score  candidate\n");
  auto snap = board->snapshot();
  for (std::uint32_t r = 1; r <= result->rounds; ++r) {
    auto rec = snap.get(run_keys::round("summary-1", r));
    if (!rec || !rec->exists()) break;
    const json& j = rec->value();
    const json score = j.value("score", json());  // null when no verdict counted
    std::printf("%5u  %5.2f  %s\n", r, score.is_number() ? score.get<double>() : 0.0,
                j.value("candidate", json()).dump().c_str());
  }
  std::cout << "\n" << to_string(result->status) << ": " << result->answer.dump() << " after "
            << result->rounds << " round(s)\n";
  return result->status == run_status::settled || result->status == run_status::fallback ? 0 : 1;
}
