// A user's first debate, as the README's "Use Agora in your project"
// shows it: three plain-code debaters, unanimity to stop, the stop reason.
#include <agora/agora.hpp>

#include <iostream>

using namespace agora;

int main() {
  actors::runtime rt;                               // the actor system
  auto board = std::make_shared<bb::blackboard>();  // where the debate happens

  // Round 1: each says what it thinks; later rounds: join the last majority.
  auto logic = debater([](const debate_turn& turn) -> bb::result<json> {
    if (turn.round == 1) return json(turn.persona == "careful" ? 41 : 42);
    return turn.previous_aggregate ? json::parse(*turn.previous_aggregate) : json(42);
  });
  debate_config cfg;
  for (const char* id : {"debater/ann", "debater/bob", "debater/cy"}) {
    auto m = make_member(rt, board, id, logic, id == std::string("debater/bob") ? "careful" : "");
    if (!m) return std::cerr << bb::to_string(m.error()) << "\n", 1;
    cfg.debaters.push_back(*m);
  }
  cfg.run.stop = consensus(unanimity) | max_rounds(4);  // required, and bounded

  auto d = spawn_debate(rt, board, cfg);
  if (!d) return std::cerr << bb::to_string(d.error()) << "\n", 1;
  auto r = run_pattern(rt, *d, "q1", {{"question", "6 x 7?"}}, std::chrono::minutes(1));
  if (!r) return std::cerr << bb::to_string(r.error()) << "\n", 1;
  std::cout << "answer: " << r->answer.dump() << "\n";
  std::cout << "reason: " << r->reason << "\n";  // consensus (unanimity): 3 of 3 agree on '42' after round 2
  return r->status == run_status::settled ? 0 : 1;
}
