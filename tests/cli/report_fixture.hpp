/// \file report_fixture.hpp
/// A real debate run on a durable blackboard, for the report and inspect
/// tests (and for `make_report_run`, which makes one by hand to look at).
///
/// ```cpp
/// auto r = make_demo_run("/tmp/x", "demo");   // /tmp/x/blackboard.db, /tmp/x/spans.jsonl
/// REQUIRE(r);                                 // r->status == run_status::settled
/// ```
///
/// The run, deterministic in what it records (not in its times):
/// five debaters, consensus(majority) | max_rounds(4), quorum = all,
/// round timeout 3 s, late grace 10 s.
/// - debater/alice answers "42" (10 tokens, $0.001 a round);
/// - debater/bob answers "41", then "42" (20 tokens);
/// - debater/carol answers demo_evil_answer (script injection), then "42" (30 tokens);
/// - debater/dave fails every round ("model unavailable");
/// - debater/erin is late in round 1: it answers "43" only once the round-1
///   record is committed (the round closes on its timeout); in round 2 its
///   first promotion conflicts (the fixture writes `notes/erin`, which it
///   read, in between) and the retry commits "42".
/// Round 2: 4 of 5 agree on "42": settled by consensus.
///
/// Thread-safety: call from one thread; blocks until the run is over.
#pragma once

#include <string>

#include "agora/agents/run.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::test {

/// Carol's round-1 answer: text a report must escape.
inline constexpr const char* demo_evil_answer =
    "</script><img src=x onerror=\"document.body.dataset.pwned=1\"><script>document.body.dataset.pwned=2</script>";

/// Makes the run `run_id` in `dir` (created if missing): the blackboard at
/// dir/blackboard.db, spans at dir/spans.jsonl. Fails with the first error
/// (blackboard, runtime, spawn, run).
bb::result<run_result> make_demo_run(const std::string& dir, const std::string& run_id);

}  // namespace agora::test
