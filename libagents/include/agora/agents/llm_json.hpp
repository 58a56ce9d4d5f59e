/// \file llm_json.hpp
/// JSON forms of llm.hpp's request/response model: what replay files are
/// made of (test_clients.hpp), and what a trace or a tool may store.
///
/// ```cpp
/// nlohmann::json j = agora::to_json(req);                    // llm_request -> JSON
/// auto back = agora::from_json<agora::llm_request>(j);       // bb::result<llm_request>
/// if (!back) fail(back.error().message);  // "request.messages[1].role: expected one of ..."
/// ```
///
/// The forms (every key optional unless marked required; to_json leaves out
/// what is empty or unset):
///
/// - tool_call: `{"id": "call_1", "name": "search" (required), "arguments": "{\"q\":\"x\"}"}`.
///   `arguments` is JSON text; from_json also takes a JSON object or array
///   there and keeps its text.
/// - message: `{"role": "system"|"user"|"assistant"|"tool" (required),
///   "content": "...", "tool_calls": [tool_call...], "tool_call_id": "call_1"}`.
/// - tool_def: `{"name" (required), "description", "parameters": {schema}}`.
/// - llm_request: `{"model", "messages": [message...] (required), "temperature",
///   "top_p", "seed", "stop": [...], "max_tokens", "response_schema": {schema},
///   "schema_name", "tools": [tool_def...], "tool_choice", "stream": bool,
///   "extra": {...}}`.
/// - usage: `{"prompt", "completion", "cached", "reasoning"}` (non-negative integers).
/// - llm_response: `{"id", "model", "content", "tool_calls", "finish_reason",
///   "tokens": usage, "usage_reported": bool, "cost_usd", "cost_known",
///   "latency_us", "attempts"}`.
/// - llm_error: `{"code": "rate_limited"|... (llm_errc's names, required),
///   "message", "http_status", "retry_after_ms"}`.
///
/// Errors: from_json fails with bb::errc::invalid_argument; the message
/// names the field by its path from the value given (`messages[1].role:
/// expected a string, got 3`), prefixed by `where` when given, and
/// error::path holds the same place as a JSON pointer (`/messages/1/role`).
/// Unknown keys are ignored.
///
/// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agora/agents/llm.hpp"
#include "agora/blackboard/result.hpp"

namespace agora {

nlohmann::json to_json(const tool_call& c);
nlohmann::json to_json(const message& m);
nlohmann::json to_json(const tool_def& t);
nlohmann::json to_json(const llm_request& r);
nlohmann::json to_json(const usage& u);
nlohmann::json to_json(const llm_response& r);
nlohmann::json to_json(const llm_error& e);

/// Reads a T from its JSON form (see the file comment). `where` prefixes
/// the field names in error messages ("request" gives "request.messages[1].role").
/// Defined for tool_call, message, tool_def, llm_request, usage,
/// llm_response and llm_error.
template <class T>
bb::result<T> from_json(const nlohmann::json& j, const std::string& where = {});

template <>
bb::result<tool_call> from_json<tool_call>(const nlohmann::json& j, const std::string& where);
template <>
bb::result<message> from_json<message>(const nlohmann::json& j, const std::string& where);
template <>
bb::result<tool_def> from_json<tool_def>(const nlohmann::json& j, const std::string& where);
template <>
bb::result<llm_request> from_json<llm_request>(const nlohmann::json& j, const std::string& where);
template <>
bb::result<usage> from_json<usage>(const nlohmann::json& j, const std::string& where);
template <>
bb::result<llm_response> from_json<llm_response>(const nlohmann::json& j, const std::string& where);
template <>
bb::result<llm_error> from_json<llm_error>(const nlohmann::json& j, const std::string& where);

/// The llm_errc named `name` ("rate_limited", ...), if there is one.
std::optional<llm_errc> llm_errc_from_string(std::string_view name) noexcept;

}  // namespace agora
