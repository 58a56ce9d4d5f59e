// A debate among three deterministic function agents: they answer blind,
// then revise toward what the others said, until a majority agrees or four
// rounds are done. Prints the transcript and why the run stopped.
//
// An LLM debater plugs into the same place: any agent logic that writes its
// answer at the task's `key` and returns {"answer": ...} (see run.hpp).
#include <agora/agora.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <vector>

using namespace agora;

int main() {
  actors::runtime rt;                               // the CAF actor system, all types registered
  auto board = std::make_shared<bb::blackboard>();  // where the debate happens

  // Each debater starts from its persona's estimate; from round 2 on it moves
  // halfway toward the median of the others' previous answers.
  auto estimator = debater([](const debate_turn& turn) -> bb::result<json> {
    double own = turn.persona == "optimist" ? 60 : turn.persona == "pessimist" ? 20 : 40;
    if (turn.own_previous && turn.own_previous->is_number()) own = turn.own_previous->get<double>();
    if (turn.round == 1 || turn.others.empty()) return json(own);
    std::vector<double> others;
    for (const auto& [who, answer] : turn.others)
      if (answer.is_number()) others.push_back(answer.get<double>());
    std::sort(others.begin(), others.end());
    double median = others[others.size() / 2];
    return json(std::round((own + median) / 2 / 5) * 5);  // to the nearest 5
  });

  debate_config cfg;
  for (std::string persona : {"optimist", "realist", "pessimist"}) {
    auto id = actors::agent_id::make("estimator", persona);
    if (!id) return 1;
    auto agent = actors::spawn_agent(rt, board, {*id, "estimator", {}}, estimator);
    if (!agent) return 1;
    cfg.debaters.push_back({*id, *agent, persona});
  }
  // Stop when a majority gives the same number, or after four rounds; then
  // take the round with the broadest agreement.
  cfg.run.stop = consensus(majority) | max_rounds(4);
  cfg.run.fallback = fallback::best_so_far;
  cfg.run.round.timeout = std::chrono::seconds(5);  // a slow debater never holds a round up

  auto debate = spawn_debate(rt, board, cfg);
  if (!debate) {
    std::cerr << bb::to_string(debate.error()) << "\n";
    return 1;
  }
  auto result = run_pattern(rt.system(), *debate, "estimate-1",
                            {{"question", "How many minutes will the migration take?"}},
                            std::chrono::minutes(1));
  if (!result) {
    std::cerr << actors::render(result.error()) << "\n";
    return 1;
  }
  auto text = transcript(*board, "estimate-1");  // read back from the blackboard
  std::cout << (text ? *text : bb::to_string(text.error()));
  std::cout << "\n" << to_string(result->status) << ": " << result->answer.dump() << " after "
            << result->rounds << " round(s)\n";
  return result->status == run_status::settled || result->status == run_status::fallback ? 0 : 1;
}
