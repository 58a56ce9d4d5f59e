#include "agora/actors/supervision.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "dispatch_engine.hpp"
#include "registration.hpp"

namespace agora::actors {

// --- time ---------------------------------------------------------------------------

clock_fn steady_clock_fn() {
  return [] { return std::chrono::steady_clock::now(); };
}

manual_clock::manual_clock() : ns_(std::make_shared<std::atomic<std::int64_t>>(0)) {}

std::chrono::steady_clock::time_point manual_clock::now() const noexcept {
  return std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(ns_->load(std::memory_order_acquire)));
}

void manual_clock::advance(std::chrono::steady_clock::duration d) noexcept {
  ns_->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                 std::memory_order_acq_rel);
}

clock_fn manual_clock::fn() const {
  return [ns = ns_] {
    return std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(ns->load(std::memory_order_acquire)));
  };
}

// --- restarts -----------------------------------------------------------------------

namespace {

void drop_older(std::deque<std::chrono::steady_clock::time_point>& recent,
                std::chrono::steady_clock::time_point now, std::chrono::milliseconds window) {
  // A restart exactly `window` ago has left the window.
  while (!recent.empty() && now - recent.front() >= window) recent.pop_front();
}

}  // namespace

bool restart_tracker::allow_restart(std::chrono::steady_clock::time_point now) {
  if (gave_up_) return false;
  drop_older(recent_, now, policy_.window);
  if (recent_.size() >= policy_.max_restarts) {
    gave_up_ = true;
    return false;
  }
  recent_.push_back(now);
  ++total_;
  return true;
}

std::size_t restart_tracker::restarts_in_window(std::chrono::steady_clock::time_point now) const {
  return static_cast<std::size_t>(std::count_if(recent_.begin(), recent_.end(), [&](auto t) {
    return now - t < policy_.window;
  }));
}

// --- circuit breaker ----------------------------------------------------------------

const char* to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed: return "closed";
    case breaker_state::open: return "open";
    case breaker_state::half_open: return "half_open";
  }
  return "unknown";
}

circuit_breaker::circuit_breaker(breaker_options opts, clock_fn clock)
    : opts_(opts), clock_(clock ? std::move(clock) : steady_clock_fn()) {
  if (opts_.failure_threshold == 0) opts_.failure_threshold = 1;
}

void circuit_breaker::open(std::chrono::steady_clock::time_point now) {
  state_ = breaker_state::open;
  opened_at_ = now;
  probe_out_ = false;
  ++opened_count_;
}

bool circuit_breaker::allow() {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      if (clock_() - opened_at_ < opts_.cooldown) return false;
      state_ = breaker_state::half_open;
      probe_out_ = true;
      return true;
    case breaker_state::half_open:
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return false;
}

void circuit_breaker::record_success() {
  state_ = breaker_state::closed;
  failures_ = 0;
  probe_out_ = false;
}

void circuit_breaker::record_failure() {
  ++failures_;
  if (state_ == breaker_state::half_open) {
    open(clock_());
  } else if (state_ == breaker_state::closed && failures_ >= opts_.failure_threshold) {
    open(clock_());
  }
}

breaker_state circuit_breaker::state() const {
  if (state_ == breaker_state::open && clock_() - opened_at_ >= opts_.cooldown)
    return breaker_state::half_open;
  return state_;
}

// --- dead letters -------------------------------------------------------------------

namespace {

std::string dlq_segment(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (s.empty()) return "%00";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '/' || c == '%' || c < 0x20 || c == 0x7f) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string error_code_name(const caf::error& e) {
  if (!e) return "";
  if (e.category() == blackboard_category) return bb::to_string(static_cast<bb::errc>(e.code()));
  if (e.category() == actors_category) return to_string(static_cast<errc>(e.code()));
  if (e.category() == caf::atom("system")) return caf::to_string(static_cast<caf::sec>(e.code()));
  if (e.category() == caf::atom("exit"))
    return caf::to_string(static_cast<caf::exit_reason>(e.code()));
  return std::to_string(e.code());
}

std::int64_t unix_ns(caf::timestamp t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string dlq_key(const task& t, std::string_view prefix) {
  std::string key(bb::normalize_prefix(prefix));
  if (!key.empty()) key += '/';
  key += dlq_segment(t.run_id);
  key += '/';
  key += dlq_segment(t.task_id);
  return key;
}

nlohmann::json dlq_record(const task& t, const outcome& o) {
  nlohmann::json task_json = {
      {"run_id", t.run_id},
      {"task_id", t.task_id},
      {"attempt_group", t.attempt_group},
      {"txn_id", t.txn_id()},
      {"input", t.input},
      {"deadline_unix_ns", unix_ns(t.deadline)},
      {"trace_id", t.trace.valid() ? t.trace.trace_id_hex() : std::string()},
      {"span_id", span_id_hex(t.trace.span_id)},
  };
  return nlohmann::json{
      {"task", std::move(task_json)},
      {"status", to_string(o.status)},
      {"error", render(o.error)},
      {"error_category", o.error ? caf::to_string(o.error.category()) : std::string()},
      {"error_code", error_code_name(o.error)},
      {"attempts", o.attempts},
      {"dispatches", o.dispatches},
      {"agent", o.agent},
      {"failed_at_unix_ns",
       std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
           .count()},
  };
}

bb::promotion dlq_promotion(const task& t, const outcome& o, const std::string& author,
                            std::string_view prefix) {
  // The record is built from our own values; strings that are not UTF-8
  // (a task's input can hold anything) would make the put fail, so the
  // record goes through a lossy round trip first rather than be lost.
  auto text = dlq_record(t, o).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  bb::promotion p;
  p.author = author;
  p.ops.push_back(
      bb::staged_op{bb::op_kind::put, dlq_key(t, prefix), nlohmann::json::parse(text, nullptr, false)});
  return p;
}

bb::result<bb::commit_result> write_dlq(bb::blackboard& board, const task& t, const outcome& o,
                                        const std::string& author, std::string_view prefix) {
  bb::promote_options po;
  po.isolation = bb::isolation::blind;
  return board.promote(dlq_promotion(t, o, author, prefix), po);
}

// --- the supervisor -----------------------------------------------------------------

const char* to_string(agent_state s) noexcept {
  switch (s) {
    case agent_state::idle: return "idle";
    case agent_state::busy: return "busy";
    case agent_state::restarting: return "restarting";
    case agent_state::failed: return "failed";
  }
  return "unknown";
}

namespace {

using supervisor_impl =
    supervisor_actor::extend<caf::reacts_to<detail::engine_expire_atom, std::uint64_t>,
                             caf::reacts_to<detail::engine_retry_atom, std::uint64_t>>;

/// What spawn_supervisor prepares: the agents are already running.
struct supervisor_setup {
  std::shared_ptr<bb::blackboard> board;
  agent_spec spec;
  agent_logic logic;
  supervisor_options opts;
  std::vector<std::pair<agent_spec, agent_actor>> agents;
};

struct supervisor_state {
  std::shared_ptr<bb::blackboard> board;
  agent_logic logic;
  supervisor_options opts;
  detail::dispatch_engine engine;
  const char* name = "agora_supervisor";

  // Stops the agents and dead-letters unfinished tasks as cancelled.
  ~supervisor_state() { engine.stop(); }
};

using supervisor_pointer = supervisor_impl::stateful_pointer<supervisor_state>;

/// A first start or a restart: the factory, or spawn_agent.
bb::result<agent_actor> make_agent(caf::actor_system& sys, const std::shared_ptr<bb::blackboard>& board,
                                   const agent_logic& logic, const supervisor_options& opts,
                                   const agent_spec& spec) {
  auto made = opts.factory ? opts.factory(sys, spec)
                           : spawn_agent(sys, board, spec, logic, opts.agent);
  if (made && !*made)
    return bb::error{bb::errc::invalid_argument,
                     "the agent factory returned no actor for " + spec.id.str()};
  return made;
}

supervisor_impl::behavior_type supervisor_behavior(supervisor_pointer self,
                                                   std::shared_ptr<supervisor_setup> setup) {
  auto& st = self->state;
  st.board = setup->board;
  st.logic = std::move(setup->logic);
  st.opts = std::move(setup->opts);
  detail::engine_options eo;
  eo.source = detail::agent_source::pool;
  eo.owner = "supervisor";
  eo.type = std::string(setup->spec.id.type());
  eo.agents = setup->spec.id.str();
  eo.max_attempts = st.opts.max_attempts;
  eo.restart = st.opts.restart;
  eo.breaker = st.opts.breaker;
  eo.reply_grace = st.opts.reply_grace;
  eo.default_timeout = st.opts.agent.default_timeout;
  eo.clock = st.opts.clock;
  eo.dlq_prefix = st.opts.dlq_prefix;
  eo.dlq_author = st.opts.dlq_author;
  eo.trace = st.opts.agent.tracer;
  auto board = setup->board;
  st.engine.configure(
      std::move(eo), self->address(), detail::send_through(self),
      [board](bb::promotion p, const trace_context& ctx, detail::dispatch_engine::dlq_done_fn done) {
        bb::promote_options po;
        po.isolation = bb::isolation::blind;
        po.trace = to_trace_tag(ctx);
        auto w = board->promote(std::move(p), po);
        if (w)
          done(w->revision, {});
        else
          done(0, bb::to_string(w.error()));
      },
      [self](const agent_spec& spec) -> bb::result<agent_actor> {
        const auto& state = self->state;
        auto made = make_agent(self->system(), state.board, state.logic, state.opts, spec);
        if (made) self->monitor(*made);
        return made;
      });
  // An agent that died since it was spawned is reported right away.
  for (auto& [spec, handle] : setup->agents) {
    self->monitor(handle);
    st.engine.add_agent(std::move(spec), std::move(handle));
  }
  self->set_down_handler(
      [self](caf::down_msg& d) { self->state.engine.agent_down(d.source, d.reason); });
  return {
      [self](dispatch_atom, task& t) -> caf::result<outcome> {
        return self->state.engine.accept(std::move(t), self->make_response_promise<outcome>());
      },
      [self](health_atom) -> supervisor_health { return self->state.engine.health(); },
      [self](detail::engine_expire_atom, std::uint64_t job) { self->state.engine.expire(job); },
      [self](detail::engine_retry_atom, std::uint64_t job) { self->state.engine.retry_due(job); },
  };
}

}  // namespace

bb::result<supervisor_actor> spawn_supervisor(caf::actor_system& sys,
                                              std::shared_ptr<bb::blackboard> board,
                                              agent_spec spec, agent_logic logic,
                                              supervisor_options opts) {
  auto bad = [](std::string why) {
    return bb::error{bb::errc::invalid_argument, "spawn_supervisor: " + std::move(why)};
  };
  if (!board) return bad("the blackboard is null");
  if (spec.id.empty()) return bad("the agent id is empty");
  if (logic.empty() && !opts.factory) return bad("agent " + spec.id.str() + " has no logic");
  if (opts.agents == 0) return bad("agents is 0");
  if (opts.max_attempts == 0) return bad("max_attempts is 0");
  if (!opts.clock) opts.clock = steady_clock_fn();
  if (opts.dlq_author.empty()) opts.dlq_author = "supervisor/" + std::string(spec.id.type());
  auto setup = std::make_shared<supervisor_setup>();
  setup->board = std::move(board);
  setup->logic = std::move(logic);
  setup->opts = std::move(opts);
  // The agents start here, so that a factory's error is the caller's.
  auto stop_all = [&] {
    for (auto& a : setup->agents) caf::anon_send_exit(a.second, caf::exit_reason::user_shutdown);
  };
  for (std::uint32_t i = 0; i < setup->opts.agents; ++i) {
    auto id = agent_id::make(spec.id.type(), std::string(spec.id.key()) + "-" + std::to_string(i));
    if (!id) {
      stop_all();
      return id.error();
    }
    agent_spec s{std::move(*id), spec.role, spec.capabilities};
    auto made = make_agent(sys, setup->board, setup->logic, setup->opts, s);
    if (!made) {
      stop_all();
      return made.error();
    }
    setup->agents.emplace_back(std::move(s), std::move(*made));
  }
  setup->spec = std::move(spec);
  supervisor_actor handle = sys.spawn(supervisor_behavior, std::move(setup));
  return handle;
}

// --- registration -------------------------------------------------------------------

namespace detail {

void register_agent_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<agent_id>("agora_agent_id");
  cfg.add_message_type<agent_spec>("agora_agent_spec");
  cfg.add_message_type<task>("agora_task");
  cfg.add_message_type<outcome>("agora_outcome");
  cfg.add_message_type<agent_health>("agora_agent_health");
  cfg.add_message_type<supervisor_health>("agora_supervisor_health");
}

}  // namespace detail

}  // namespace agora::actors
