// A tour of the versioned blackboard: two debaters answer, a judge tallies,
// and every step shows what the blackboard guarantees. Run it with
// `./build.sh demo`; it prints what happens and why.
#include <agora/blackboard/blackboard.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace agora::bb;

namespace {

void say(const std::string& line) { std::cout << line << "\n"; }

// Stages an answer and promotes it; prints the outcome.
result<commit_result> answer(blackboard& board, const std::string& who, const json& value,
                             const std::string& txn_id = {}) {
  auto sp = board.begin("debater/" + who);
  if (auto s = sp.put("runs/1/answers/" + who, value); !s) return s.error();
  if (auto s = sp.append("runs/1/log", who + " answered " + value.value("answer", "?")); !s)
    return s.error();
  promote_options opts;
  opts.txn_id = txn_id;
  return board.promote(sp, opts);
}

// Reads every answer through a scratchpad (a recorded range read) and writes
// the tally. Conflicts if any answer changes before it promotes.
result<commit_result> tally(blackboard& board, scratchpad sp) {
  auto answers = sp.list("runs/1/answers");
  if (!answers) return answers.error();
  json counts = json::object();
  for (const entry& e : *answers) counts[e.value().value("answer", "?")] = counts.value(e.value().value("answer", "?"), 0) + 1;
  if (auto s = sp.put("runs/1/tally", counts); !s) return s.error();
  return board.promote(sp);
}

}  // namespace

int main() {
  blackboard board;
  say("== Agora blackboard tour ==");

  // Contracts: every answer must be an object with a string and a confidence in [0, 1].
  auto c = contract::from_schema(json::parse(R"({
    "type": "object", "required": ["answer", "confidence"],
    "properties": {"answer": {"type": "string", "minLength": 1},
                   "confidence": {"type": "number", "minimum": 0, "maximum": 1}}})"));
  if (!c || !board.set_contract("runs/*/answers/*", std::move(*c)) ||
      !board.declare_mergeable("runs/*/log")) {
    std::cerr << "setup failed\n";
    return 1;
  }
  say("contract on runs/*/answers/*; runs/*/log is mergeable (appends never conflict)");

  auto w = board.watch("runs/1/answers");
  if (!w) return 1;

  // 1. Two debaters answer. Each write is one numbered, atomic transaction.
  auto a = answer(board, "alice", {{"answer", "42"}, {"confidence", 0.9}}, "run1/alice/round0");
  auto b = answer(board, "bob", {{"answer", "41"}, {"confidence", 0.6}});
  if (!a || !b) return 1;
  say("alice answered 42 -> revision " + std::to_string(a->revision));
  say("bob answered 41   -> revision " + std::to_string(b->revision));

  // 2. A bad value is refused, names the key and the field, and changes nothing.
  auto bad = answer(board, "carol", {{"answer", "43"}, {"confidence", 1.5}});
  say("carol's confidence 1.5 is refused: " + to_string(bad.error()));
  say("  revision is still " + std::to_string(board.revision()));

  // 3. A retried promotion with the same transaction id is not applied twice.
  auto again = answer(board, "alice", {{"answer", "42"}, {"confidence", 0.9}}, "run1/alice/round0");
  say("alice's retry of run1/alice/round0 returns revision " + std::to_string(again->revision) +
      (again->replayed ? " (replayed, nothing applied again)" : ""));

  // 4. The judge reads all answers, but bob revises before the judge promotes.
  auto judge = board.begin("judge/main");
  auto answers = judge.list("runs/1/answers");
  auto revised = answer(board, "bob", {{"answer", "42"}, {"confidence", 0.8}});
  if (!answers || !revised) return 1;
  say("bob revises to 42 -> revision " + std::to_string(revised->revision));
  {
    json counts = json::object();
    for (const entry& e : *answers) counts[e.value()["answer"].get<std::string>()] = 1;
    (void)judge.put("runs/1/tally", counts);
  }
  auto stale = board.promote(judge);
  say("the judge's tally from the old snapshot is refused: " + to_string(stale.error()));
  auto fresh = tally(board, board.begin("judge/main"));
  if (!fresh) return 1;
  say("the judge retries on a fresh snapshot -> revision " + std::to_string(fresh->revision) +
      ", tally " + board.get("runs/1/tally")->value().dump());

  // 5. Time travel: the board as it was at revision 2.
  auto then = board.snapshot_at(b->revision);
  say("at revision " + std::to_string(b->revision) + " bob said " +
      then->get("runs/1/answers/bob")->value()["answer"].get<std::string>() + "; now he says " +
      board.get("runs/1/answers/bob")->value()["answer"].get<std::string>());

  // 6. The watch saw every answer, in order, one revision at a time.
  say("the watch on runs/1/answers saw:");
  while (true) {
    auto ev = w->try_next();
    if (!ev || !*ev) break;
    for (const change& ch : (*ev)->changes)
      say("  rev " + std::to_string((*ev)->revision) + "  " + to_string(ch.kind) + " " +
          ch.after.key() + " by " + ch.after.author() + " (version " +
          std::to_string(ch.after.version()) + ")");
  }

  // 7. History is the audit log.
  say("the log, merged from every debater's appends: " + board.get("runs/1/log")->value().dump());
  auto hist = board.history(1);
  say("history holds " + std::to_string(hist->size()) + " transactions; latest revision " +
      std::to_string(board.revision()));
  return 0;
}
