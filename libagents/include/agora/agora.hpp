/// \file agora.hpp
/// Everything a user of Agora needs, in one include: the blackboard, the
/// actor runtime, and the patterns with their policies. Link agora::agents.
///
/// ```cpp
/// #include <agora/agora.hpp>
/// using namespace agora;
/// actors::runtime rt;
/// auto board = std::make_shared<bb::blackboard>();
/// // spawn agents (actors::spawn_agent), a pattern (spawn_debate, ...),
/// // then run_pattern(rt.system(), pattern, "run-1", input, timeout)
/// ```
///
/// Headers are also usable one by one; this one only includes them.
#pragma once

#include "agora/blackboard/blackboard.hpp"

#include "agora/actors/agent.hpp"
#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/node.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/actors/supervision.hpp"
#include "agora/actors/tracing.hpp"

#include "agora/agents/debate.hpp"
#include "agora/agents/delegator.hpp"
#include "agora/agents/evaluator_loop.hpp"
#include "agora/agents/fan_out.hpp"
#include "agora/agents/http_client.hpp"
#include "agora/agents/llm.hpp"
#include "agora/agents/llm_agent.hpp"
#include "agora/agents/llm_error.hpp"
#include "agora/agents/llm_json.hpp"
#include "agora/agents/pipeline.hpp"
#include "agora/agents/policy.hpp"
#include "agora/agents/router.hpp"
#include "agora/agents/run.hpp"
#include "agora/agents/sse.hpp"
#include "agora/agents/swarm.hpp"
#include "agora/agents/test_clients.hpp"
#include "agora/agents/usage.hpp"
#include "agora/agents/wire.hpp"
