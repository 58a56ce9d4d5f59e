/// \file fan_out.hpp
/// Fan-out/fan-in: send one task each to many members, gather the outcomes
/// until a quorum of them succeeded or a deadline passed — never waiting
/// forever on a slow one. The building block under every pattern.
///
/// ```cpp
/// using namespace agora;
/// std::vector<fan_out_item> items;
/// for (auto& m : members) items.push_back({m, make_task(m)});
/// fan_out_options fo;
/// fo.quorum = 2;                                     // close once 2 succeeded
/// fo.timeout = std::chrono::seconds(5);              // or after 5 s
/// fo.board = board;                                  // record late answers ...
/// fo.late_prefix = "runs/r1/late/3";                 // ... under this prefix
/// auto g = spawn_fan_out(sys, std::move(items), fo); // caf::typed_actor, see below
/// self->request(g, std::chrono::seconds(10), gather_atom::value).then(
///     [](const std::vector<actors::outcome>& got) { /* one per item, in order */ });
/// ```
///
/// The reply holds one outcome per item, in the items' order: the member's
/// own outcome if it answered before the fan-out closed, otherwise a
/// placeholder with status deadline_exceeded, error actors::errc::timeout
/// ("no answer before ... closed") and `agent` set to the member — check
/// `on_time(o)`. The fan-out closes at the first of: every member answered;
/// `quorum` members answered ok; `timeout` passed. An answer that comes after
/// it closed (up to `late_grace` later) is *late*: it does not change the
/// reply; with a board and late_prefix it is recorded at
/// `<late_prefix>/<member id>` as {"status", "answer", "revision", "late_by_ms"}.
///
/// The fan-out actor sends the tasks when spawned — up to max_in_flight at
/// once, the rest as answers come back — so members work in parallel. Each task's deadline is set to timeout + late_grace unless
/// the task has an earlier one. It quits when every member answered or its
/// request to it timed out (timeout + late_grace + 1 s), or when `owner` (if
/// set) goes down. It answers gather_atom as many times as asked, once closed.
///
/// Thread-safety: it is an actor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "agora/actors/agent.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora {

/// Asks a fan-out for what it gathered.
using gather_atom = caf::atom_constant<caf::atom("gather")>;
/// Fan-out → fan_out_options::notify: `(fan_out_done_atom, tag, outcomes)`.
using fan_out_done_atom = caf::atom_constant<caf::atom("fo_done")>;

/// One member and the task it gets.
struct fan_out_item {
  member to;
  actors::task work;
};

/// How a fan-out waits.
struct fan_out_options {
  /// Members that must answer ok to close early; 0 = wait for every member.
  std::size_t quorum = 0;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds late_grace{std::chrono::seconds(10)};
  /// Tasks sent and not yet answered, at most (0 = all at once). The rest
  /// wait and go out as answers come back; once the fan-out closes, members
  /// not asked yet are not asked at all (their placeholder says so). Keeps
  /// CAF's scheduler queues short: its work-stealing deque takes a stolen job
  /// from the tail by walking the queue, so waking 100,000 actors at once
  /// made a round quadratic (measured: 40,000 agents 5.1 s, 100,000 35 s).
  std::size_t max_in_flight = 1024;
  /// Where late answers are recorded; nothing is recorded when board is null
  /// or late_prefix empty.
  std::shared_ptr<bb::blackboard> board;
  std::string late_prefix;
  /// When set, the fan-out quits as soon as this actor is down.
  caf::actor_addr owner;
  /// When set, the fan-out also sends `(fan_out_done_atom, tag, outcomes)`
  /// to this actor when it closes. For long-lived actors: in CAF 0.17 a
  /// request's timeout holds a strong reference to the requester until it
  /// fires, even after the reply came, so an actor that asks with
  /// gather_atom stays alive (and delays the actor system's shutdown) for
  /// up to that timeout. A notification holds nothing.
  caf::actor_addr notify;
  std::uint64_t tag = 0;
};

/// The fan-out's interface: answers with one outcome per item, in order,
/// once it has closed.
using fan_out_actor = caf::typed_actor<caf::replies_to<gather_atom>::with<std::vector<actors::outcome>>>;

/// True when `o` is a member's answer in time, false for the placeholder of
/// a member that had not answered when the fan-out closed.
bool on_time(const actors::outcome& o) noexcept;

/// Spawns a fan-out over `items` (see the file comment). An empty `items`
/// closes at once with an empty reply.
fan_out_actor spawn_fan_out(caf::actor_system& sys, std::vector<fan_out_item> items,
                            fan_out_options opts);

}  // namespace agora
