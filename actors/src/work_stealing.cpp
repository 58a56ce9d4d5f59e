#include "work_stealing.hpp"

#include <caf/defaults.hpp>
#include <caf/scheduler/coordinator.hpp>

namespace agora::actors::detail {

namespace {

template <class T>
T setting(caf::scheduler::abstract_coordinator* p, const char* name, T fallback) {
  return caf::get_or(p->config(), std::string("work-stealing.") + name, fallback);
}

}  // namespace

work_stealing::~work_stealing() = default;

work_stealing::worker_data::worker_data(caf::scheduler::abstract_coordinator* p)
    : rengine(std::random_device{}()),
      // Unused with fewer than 2 workers (try_steal returns first).
      uniform(0, p->num_workers() < 2 ? 0 : p->num_workers() - 2) {
  namespace ws = caf::defaults::work_stealing;
  strategies = {{
      {setting(p, "aggressive-poll-attempts", ws::aggressive_poll_attempts), 1,
       setting(p, "aggressive-steal-interval", ws::aggressive_steal_interval), caf::timespan{0}},
      {setting(p, "moderate-poll-attempts", ws::moderate_poll_attempts), 1,
       setting(p, "moderate-steal-interval", ws::moderate_steal_interval),
       setting(p, "moderate-sleep-duration", ws::moderate_sleep_duration)},
      {1, 0, setting(p, "relaxed-steal-interval", ws::relaxed_steal_interval),
       setting(p, "relaxed-sleep-duration", ws::relaxed_sleep_duration)},
  }};
  // A steal interval of 0 would divide by zero in dequeue; CAF rejects none.
  for (auto& s : strategies)
    if (s.steal_interval == 0) s.steal_interval = 1;
}

work_stealing::worker_data::worker_data(const worker_data& other)
    : rengine(std::random_device{}()), uniform(other.uniform), strategies(other.strategies) {}

void use_agora_work_stealing(caf::actor_system_config& cfg) {
  cfg.module_factories.push_back([](caf::actor_system& sys) -> caf::actor_system::module* {
    return new caf::scheduler::coordinator<work_stealing>(sys);
  });
}

}  // namespace agora::actors::detail
