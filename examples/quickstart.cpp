// The README's blackboard example, compiled so that it stays true.
#include <agora/blackboard/blackboard.hpp>

#include <iostream>

using namespace agora::bb;

int main() {
  blackboard board;

  // Contracts say what a value must look like; violations name key and field.
  auto schema = contract::from_schema(json::parse(R"(
    {"type": "object", "required": ["answer"],
     "properties": {"confidence": {"type": "number", "minimum": 0, "maximum": 1}}})"));
  if (!schema || !board.set_contract("runs/*/answers/*", std::move(*schema))) return 1;

  // An agent stages writes in its private scratchpad ...
  scratchpad sp = board.begin("debater/alice");        // on the latest snapshot
  auto others = sp.list("runs/1/answers");              // a recorded range read
  if (auto s = sp.put("runs/1/answers/alice", {{"answer", "42"}, {"confidence", 0.9}}); !s)
    std::cerr << to_string(s.error()) << "\n";         // bad key, bad value, limit

  // ... and promotes them: validated, checked for conflicts, committed atomically.
  promote_options opts;
  opts.txn_id = "run1/alice/round0";                    // a retry is never applied twice
  result<commit_result> r = board.promote(sp, opts);
  if (!r && r.error().code == errc::conflict)           // someone changed what alice read
    for (const key_conflict& c : r.error().conflicts)
      std::cerr << c.key << " moved from " << c.seen_revision << " to " << c.current_revision
                << "\n";

  // Every revision stays readable until compacted: time travel, audit, watches.
  auto then = board.snapshot_at(1);                     // result<snapshot>
  auto log = board.history(1, board.revision(), "runs/1");
  auto w = board.watch("runs/1", /*from_revision=*/1);  // ordered, gap-free, complete
  if (!r || !then || !log || !w) return 1;
  auto first = w->next(std::chrono::milliseconds(100));
  std::cout << "committed revision " << r->revision << "; the watch replayed revision "
            << (first && *first ? (*first)->revision : 0) << "; history has " << log->size()
            << " transaction(s); "
            << then->get("runs/1/answers/alice")->value().dump() << "\n";
  return 0;
}
