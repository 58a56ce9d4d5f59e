#include "agora/actors/runtime.hpp"

#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
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

runtime::~runtime() = default;

caf::actor_system& runtime::system() noexcept { return *impl_->system; }

const runtime_options& runtime::options() const noexcept { return impl_->opts; }

std::chrono::milliseconds runtime::request_timeout() const noexcept {
  return impl_->opts.request_timeout;
}

actors::tracer& runtime::tracer() noexcept { return *impl_->tracer; }

actors::metrics& runtime::metrics() noexcept { return impl_->metrics; }

const bb::status& runtime::tracing_status() const noexcept { return impl_->tracing_status; }

}  // namespace agora::actors
