// A user's first debate, as the README's "Use Agora in your project"
// shows it: three plain-code debaters, a majority to stop, the stop reason.
#include <agora/agora.hpp>

#include <iostream>

using namespace agora;

int main() {
  actors::runtime rt;
  auto board = std::make_shared<bb::blackboard>();

  // Round 1: each says what it thinks; then each joins the last majority.
  auto logic = debater([](const debate_turn& turn) -> bb::result<json> {
    if (turn.round == 1) return json(turn.persona == "careful" ? 41 : 42);
    return turn.previous_aggregate ? json::parse(*turn.previous_aggregate) : json(42);
  });
  debate_config cfg;
  for (std::string name : {"ann", "bob", "cy"}) {
    auto id = actors::agent_id::make("debater", name);
    if (!id) return 1;
    auto agent = actors::spawn_agent(rt, board, {*id, "debater", {}}, logic);
    if (!agent) return 1;
    cfg.debaters.push_back({*id, *agent, name == "bob" ? "careful" : ""});
  }
  cfg.run.stop = consensus(unanimity) | max_rounds(4);

  auto d = spawn_debate(rt, board, cfg);
  if (!d) {
    std::cerr << bb::to_string(d.error()) << "\n";
    return 1;
  }
  auto r = run_pattern(rt.system(), *d, "q1", {{"question", "6 x 7?"}}, std::chrono::minutes(1));
  if (!r) {
    std::cerr << actors::render(r.error()) << "\n";
    return 1;
  }
  std::cout << "answer: " << r->answer.dump() << "\n";
  std::cout << "reason: " << r->reason << "\n";
  return r->status == run_status::settled ? 0 : 1;
}
