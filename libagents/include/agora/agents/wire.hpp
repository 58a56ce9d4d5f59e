/// \file wire.hpp
/// The two wire formats of llm.hpp's model: OpenAI Chat Completions (also
/// spoken by Ollama, vLLM, llama.cpp's server, LM Studio) and Anthropic
/// Messages. Pure functions and per-stream assemblers; http_client uses
/// them, and so can anyone who moves the bytes some other way.
///
/// ```cpp
/// auto body = agora::wire::to_request_body(agora::wire_format::openai, req, "gpt-4o-mini", 1024);
/// if (!body) fail(body.error());                  // e.g. tool-call arguments that are not JSON
/// llm_result r = agora::wire::parse_reply(agora::wire_format::openai, reply_body, req);
///
/// auto a = agora::wire::stream_assembler::make(agora::wire_format::anthropic, req);
/// for (const sse_event& e : events) if (auto err = a->feed(e)) fail(*err);
/// llm_result r = a->finish(parser.finish());
/// ```
///
/// Thread-safety: functions are pure; an assembler serves one stream.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agora/agents/llm.hpp"
#include "agora/agents/sse.hpp"

namespace agora {

/// Which API a server speaks.
enum class wire_format : std::uint8_t { openai, anthropic };

/// "openai", "anthropic".
const char* to_string(wire_format f) noexcept;

namespace wire {

/// The JSON body of `req` (req.model, or `default_model` when empty).
/// `default_max_tokens` is used where the format needs a token limit and the
/// request has none (Anthropic). With req.stream, OpenAI's body asks for
/// usage in the final chunk (`stream_options.include_usage`). Fails with
/// bb::errc::invalid_argument naming the message (by index) and field when
/// the request cannot be expressed (Anthropic needs tool-call arguments as
/// JSON objects; a request with no non-system message).
bb::result<nlohmann::json> to_request_body(wire_format f, const llm_request& req,
                                           const std::string& default_model,
                                           std::uint32_t default_max_tokens);

/// Parses a complete (non-streamed) 2xx reply body. A body that is not
/// JSON or lacks what the API promises fails with llm_errc::invalid_reply,
/// naming the missing field and quoting the start of the body. tokens,
/// finish_reason, tool calls and (for a response_schema sent as Anthropic's
/// forced tool) content are filled; cost, latency and attempts are not.
/// `req` is the request the reply answers (its response_schema and
/// schema_name say whether a forced tool carries the structured output).
llm_result parse_reply(wire_format f, std::string_view body, const llm_request& req);

/// Rebuilds one reply from the events of a stream: text deltas joined, tool
/// calls from their fragments (by index), usage from the final chunk when
/// the server sends one (else estimated, usage_reported = false). The result
/// equals parse_reply's for the same reply sent whole: Anthropic tool-call
/// arguments are the input re-serialized as compact JSON either way (kept as
/// sent when the fragments do not join to valid JSON), and Anthropic's
/// message_delta usage replaces message_start's field by field (its counts
/// are cumulative). In Anthropic schema mode on_delta also sees the forced
/// tool's JSON fragments, since that JSON becomes `content`.
class stream_assembler {
 public:
  /// `req` as for parse_reply.
  static std::unique_ptr<stream_assembler> make(wire_format f, const llm_request& req);
  virtual ~stream_assembler() = default;

  /// One event. Returns an error for an error event inside the stream
  /// (classified like an HTTP error body: overloaded → server, and so on)
  /// or a chunk that is not valid JSON (invalid_reply); the stream is then
  /// over. Text deltas are also handed to `on_delta` when set.
  virtual std::optional<llm_error> feed(const sse_event& e) = 0;
  /// The reply, once the stream ended. A stream cut off before its end
  /// marker (OpenAI `[DONE]`, Anthropic `message_stop`) fails with
  /// llm_errc::transport ("stream ended without ..."), which is retryable.
  virtual llm_result finish(const sse_end& end) = 0;

  std::function<void(std::string_view)> on_delta;
};

}  // namespace wire
}  // namespace agora
