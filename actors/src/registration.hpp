// Every message type of agora::actors is registered through these functions,
// which runtime.cpp calls on every node before the actor_system is built.
// Private: each unit that defines message types implements its function.
#pragma once

namespace caf {
class actor_system_config;
}

namespace agora::actors::detail {

/// Wire types of the blackboard protocol (messages.hpp, blackboard_actor.hpp).
void register_blackboard_types(caf::actor_system_config& cfg);
/// Tasks, outcomes and the agent protocol (agent.hpp, supervision.hpp).
void register_agent_types(caf::actor_system_config& cfg);
/// Trace contexts (tracing.hpp).
void register_tracing_types(caf::actor_system_config& cfg);

}  // namespace agora::actors::detail
