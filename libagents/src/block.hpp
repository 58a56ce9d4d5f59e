// The engine under the building blocks that are not round-based (pipeline,
// router, delegator): an actor with the agent interface that keeps its runs
// apart, asks members through fan-outs (never holding a request open itself),
// reuses contributions committed before a restart, and records the run's
// result — for a nested run also its answer at the task's key — with
// idempotent txn ids. A block supplies only what its run does. Private.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "agora/actors/agent.hpp"
#include "agora/agents/fan_out.hpp"
#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace agora::detail {

class block_ctx;

/// One run of a block, from its request until it finishes. Called only on
/// the block's actor, one call at a time.
class block_run {
 public:
  virtual ~block_run() = default;
  /// Starts the run (a fresh one, or one whose records are on the board
  /// already: resume by reading them). It ends when it calls ctx.finish or
  /// ctx.fail, now or in a continuation of ctx.ask. An exception fails the run.
  virtual void start(block_ctx& ctx) = 0;
};

/// A block for the engine.
struct block_def {
  /// "pipeline", "router", "delegator": the `pattern` of its runs.
  std::string name;
  actors::agent_spec spec;
  /// Every member, for runs/<run>/meta.
  std::vector<member> members;
  /// How the block decides, for runs/<run>/meta's "policy" (transcripts).
  std::string summary;
  std::function<std::unique_ptr<block_run>()> make;
};

/// How ctx.ask waits.
struct ask_options {
  /// Answers (ok) that close the ask early; 0 = every member.
  std::size_t quorum = 0;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds late_grace{std::chrono::seconds(10)};
  /// Where late answers go (`<late_prefix>/<member id>`); "" = not recorded.
  std::string late_prefix;
};

/// Called on the actor with one outcome per item, in order (see fan_out.hpp:
/// check on_time). An item whose input key already held a value is an ok
/// outcome with `replayed` set and `{"answer": <stored value>}`.
using ask_then = std::function<void(std::vector<actors::outcome>& got)>;

/// The actor's side of a run (implemented in block.cpp).
class block_host {
 public:
  virtual ~block_host() = default;
  virtual void ask(block_ctx& ctx, std::vector<fan_out_item> items, ask_options opts,
                   ask_then then) = 0;
  virtual void reply(block_ctx& ctx, const actors::outcome& o) = 0;
};

/// What a run may do. Valid while its run is; used only on the actor.
class block_ctx {
 public:
  block_ctx(block_host& host, std::shared_ptr<const block_def> def,
            std::shared_ptr<bb::blackboard> board, std::string run_id, actors::task request,
            bool nested, std::uint64_t serial);

  const std::string& run_id() const noexcept { return id_; }
  const actors::task& request() const noexcept { return request_; }
  const json& input() const noexcept { return request_.input; }
  /// Asked as a member of another pattern (the input has a string `key`).
  bool nested() const noexcept { return nested_; }
  const block_def& def() const noexcept { return *def_; }
  bb::blackboard& board() const noexcept { return *board_; }
  const std::shared_ptr<bb::blackboard>& board_ptr() const noexcept { return board_; }
  /// The block's id: the author of its writes.
  const std::string& author() const noexcept { return def_->spec.id.str(); }
  std::uint64_t serial() const noexcept { return serial_; }

  /// `{"pattern", "run", "round": 1, "key"}` (the contribution protocol)
  /// with `fields` added.
  json protocol_input(const std::string& key, json fields) const;
  /// A task of this run for `m`: `task_id`, `input` (with the member's
  /// persona added when it has one and the input is an object without one),
  /// the request's deadline and a child of its trace context.
  actors::task member_task(const member& m, std::string task_id, json input) const;
  /// `limit`, shortened to the time left before the request's deadline
  /// (at least 1 ms).
  std::chrono::milliseconds time_left(std::chrono::milliseconds limit) const;

  /// Asks every item's member; `then` gets the outcomes (see ask_then).
  /// Never calls `then` before returning, and never after the run finished.
  void ask(std::vector<fan_out_item> items, ask_options opts, ask_then then);

  /// Commits `value` at `key` as the block, blind, with txn id
  /// `<run>/<txn_suffix>`; a txn committed before counts as done.
  bb::status record(const std::string& key, json value, const std::string& txn_suffix);

  /// Usage reported by members so far (on-time, not replayed answers).
  void count_usage(const actors::outcome& o);

  /// Ends the run: records runs/<run>/result (r.to_json() plus `extra`'s
  /// fields and "usage"), for a nested run that ended ok also the answer at
  /// the request's key, in one promotion; then replies to every requester.
  /// A failed run's outcome carries `err` when set, else errc::agent_failed
  /// with the reason. Later calls do nothing.
  void finish(run_result r, json extra = json::object(), caf::error err = caf::error{});
  /// finish with status failed and `why` as the reason.
  void fail(std::string why, caf::error err = caf::error{});
  bool finished() const noexcept { return finished_; }

 private:
  block_host* host_;
  std::shared_ptr<const block_def> def_;
  std::shared_ptr<bb::blackboard> board_;
  std::string id_;
  actors::task request_;
  bool nested_;
  std::uint64_t serial_;
  bool finished_ = false;
  std::uint64_t tokens_ = 0;
  double cost_usd_ = 0;
};

/// Checks members: ids and actors set; distinct ids unless `allow_repeats`.
/// `what` names the block in errors.
bb::status check_block_members(const std::string& what, const std::vector<member>& members,
                               bool allow_repeats);

/// Spawns the block's actor.
actors::agent_actor spawn_block(caf::actor_system& sys, std::shared_ptr<bb::blackboard> board,
                                block_def def);

/// Writes `answer` at the task's input key and returns `{"answer": answer}`:
/// what a member does under the contribution protocol.
actors::logic_result write_contribution(const actors::task& t, bb::scratchpad& sp, json answer);

/// A bad task input, as an error naming the task.
bb::error bad_task_input(const actors::task& t, const std::string& what);

/// "a, b, c".
std::string join_ids(const std::vector<member>& members);

}  // namespace agora::detail
