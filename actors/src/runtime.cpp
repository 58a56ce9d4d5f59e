#include "agora/actors/runtime.hpp"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <vector>
#include <cstdint>
#include <thread>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <caf/timespan.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/node.hpp"
#include "registration.hpp"
#include "work_stealing.hpp"

namespace agora::actors {

std::size_t runtime_options::default_worker_threads() noexcept {
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

void register_types(caf::actor_system_config& cfg) {
  detail::register_blackboard_types(cfg);
  detail::register_agent_types(cfg);
  detail::register_tracing_types(cfg);
  register_node_types(cfg);
  add_error_categories(cfg);
}

namespace {

caf::timespan to_timespan(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<caf::timespan>(std::max(d, std::chrono::milliseconds(0)));
}

}  // namespace

struct runtime::impl {
  runtime_options opts;
  caf::actor_system_config cfg;
  // Declared before `system`: destroyed after it, so every actor (which the
  // system's destructor waits for) can still write spans and counters.
  std::unique_ptr<actors::tracer> tracer;
  actors::metrics metrics;
  bb::status tracing_status;
  std::unique_ptr<caf::actor_system> system;

  // What the runtime spawned: stopped at shutdown, named if they do not quit.
  std::mutex adopted_mu;
  std::vector<std::pair<caf::actor_addr, std::string>> adopted;
  bool shut_down = false;

  explicit impl(runtime_options o)
      : opts(std::move(o)), tracer(std::make_unique<actors::tracer>()),
        metrics(opts.metrics_enabled) {
    opts.worker_threads = std::max<std::size_t>(1, opts.worker_threads);
    if (!opts.spans_path.empty()) {
      auto opened = actors::tracer::open(opts.spans_path);
      if (opened)
        tracer = std::move(*opened);
      else
        tracing_status = opened.error();
    }
    // Everything is registered before the system exists: CAF reads the
    // type tables and error renderers only at construction.
    register_types(cfg);
    cfg.set("scheduler.max-threads", opts.worker_threads);
    if (opts.latency == latency_profile::balanced)
      cfg.set("work-stealing.moderate-poll-attempts", std::size_t{1});
    if (opts.latency == latency_profile::low_latency)
      cfg.set("scheduler.policy", caf::atom("sharing"));
    else
      detail::use_agora_work_stealing(cfg);  // CAF's policy with O(1) steals
    if (opts.load_middleman) {
      cfg.load<caf::io::middleman>();
      cfg.set("middleman.heartbeat-interval", to_timespan(opts.heartbeat_interval));
      cfg.set("middleman.connection-timeout", to_timespan(opts.connection_timeout));
      if (opts.latency != latency_profile::caf_default)
        cfg.set("middleman.workers", std::size_t{0});
    }
    system = std::make_unique<caf::actor_system>(cfg);
  }

  ~impl() {
    system.reset();  // waits for every actor before the tracer goes away
    if (tracer) tracer->flush();
  }
};

runtime::runtime(runtime_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}

bb::result<std::unique_ptr<runtime>> runtime::open(runtime_options opts) {
  auto rt = std::make_unique<runtime>(std::move(opts));
  if (!rt->tracing_status()) return rt->tracing_status().error();
  return rt;
}

runtime::~runtime() {
  if (impl_ && !impl_->shut_down) shutdown(impl_->opts.shutdown_timeout);
}

void runtime::adopt(const caf::actor_addr& actor, std::string what) {
  if (!actor) return;
  std::lock_guard<std::mutex> lk(impl_->adopted_mu);
  // Forget the ones that are gone, so that a long-lived runtime that
  // spawns many short-lived agents does not grow without end.
  if (impl_->adopted.size() >= 1024 && (impl_->adopted.size() & (impl_->adopted.size() - 1)) == 0) {
    auto& v = impl_->adopted;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [](const auto& a) { return !caf::actor_cast<caf::strong_actor_ptr>(a.first); }),
            v.end());
  }
  impl_->adopted.emplace_back(actor, std::move(what));
}

bool runtime::shutdown(std::chrono::milliseconds timeout) {
  if (impl_->shut_down) return true;
  impl_->shut_down = true;
  std::vector<std::pair<caf::actor_addr, std::string>> adopted;
  {
    std::lock_guard<std::mutex> lk(impl_->adopted_mu);
    adopted.swap(impl_->adopted);
  }
  for (const auto& [addr, what] : adopted)
    if (auto p = caf::actor_cast<caf::strong_actor_ptr>(addr))
      caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  auto& reg = impl_->system->registry();
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (reg.running() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (reg.running() == 0) {
    impl_->system.reset();  // nothing runs: returns at once
    if (impl_->tracer) impl_->tracer->flush();
    return true;
  }
  // Name what still runs; what the runtime did not spawn is only counted.
  std::string names;
  std::size_t named = 0;
  for (const auto& [addr, what] : adopted) {
    auto p = caf::actor_cast<caf::strong_actor_ptr>(addr);
    if (!p) continue;
    if (named < 20) names += (named ? ", " : "") + what + " (#" + std::to_string(p->id()) + ")";
    ++named;
  }
  const std::size_t running = reg.running();
  std::string msg = "agora: runtime shutdown: " + std::to_string(running) + " actor(s) still running after " +
                    std::to_string(timeout.count()) + " ms";
  if (named > 0) msg += ": " + names + (named > 20 ? ", ..." : "");
  if (running > named)
    msg += (named > 0 ? "; " : ": ") + std::to_string(running - named) +
           " not spawned through the runtime (send them an exit message before the runtime goes)";
  msg += "; not waiting for them\n";
  std::fputs(msg.c_str(), stderr);
  if (impl_->tracer) impl_->tracer->flush();
  // The actors that still run keep references into the system, its tracer
  // and metrics: all of it is left to the process's exit, never destroyed
  // under them.
  impl_->system->await_actors_before_shutdown(false);
  (void)impl_->system.release();
  (void)impl_->tracer.release();
  (void)impl_.release();
  return false;
}

caf::actor_system& runtime::system() noexcept { return *impl_->system; }

const runtime_options& runtime::options() const noexcept { return impl_->opts; }

std::chrono::milliseconds runtime::request_timeout() const noexcept {
  return impl_->opts.request_timeout;
}

actors::tracer& runtime::tracer() noexcept { return *impl_->tracer; }

actors::metrics& runtime::metrics() noexcept { return impl_->metrics; }

const bb::status& runtime::tracing_status() const noexcept { return impl_->tracing_status; }

}  // namespace agora::actors
