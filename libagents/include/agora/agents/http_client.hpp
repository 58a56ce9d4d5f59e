/// \file http_client.hpp
/// The model client that talks to a real server over HTTP(S) with libcurl:
/// OpenAI Chat Completions (OpenAI, and the OpenAI-compatible servers
/// Ollama, vLLM, llama.cpp's server, LM Studio) and Anthropic Messages.
///
/// ```cpp
/// agora::endpoint ep;                                  // or endpoint::from_json(cfg)
/// ep.format = agora::wire_format::openai;
/// ep.base_url = "http://127.0.0.1:8080/v1";            // "/chat/completions" is appended
/// ep.model = "qwen2.5-0.5b";
/// ep.api_key_env = "";                                 // local server: no key
/// ep.max_in_flight = 16;                               // more calls wait their turn (FIFO)
/// agora::http_client client(ep);
/// auto h = client.call(std::move(req), [](agora::llm_result r) { ... });
/// ```
///
/// How a call goes: call() only queues it and wakes the client's I/O thread,
/// which runs every transfer on one libcurl multi handle, so hundreds of
/// calls can be in flight without any caller blocking. A call holds one of
/// `max_in_flight` slots from its first request to its callback (retry
/// waits included); calls beyond that wait in a FIFO queue. A failed
/// attempt that may be cured by retrying (connection error, timeout, 408,
/// 409, 429 without insufficient_quota, 5xx) is retried after
/// retry_policy::next_delay, at least what the server asked for with
/// `retry-after-ms` or `Retry-After`; the wait is a timer on the I/O thread.
///
/// Streamed calls (llm_request::stream) are read as server-sent events as
/// the bytes arrive; call_options::on_delta sees each piece of text. When a
/// stream fails part-way and is retried, on_delta sees the text of the new
/// attempt from its start (the result holds only the successful attempt's).
/// An error status on a stream is classified by its body like any other.
///
/// Timeouts, per attempt: `connect_timeout` to connect; `timeout` for the
/// whole request and reply; `idle_timeout` with no byte received, counted
/// from the start of the attempt (so it also bounds the wait for the first
/// byte, and a stream that stalls). An attempt that passes one fails with
/// llm_errc::timeout, which is retried.
///
/// Circuit breaker: after `breaker.failures` consecutive failed attempts
/// of the kinds that say the server is unwell (transport, timeout, server;
/// rate limiting does not count: the server is up and says when to come
/// back) the breaker opens for `breaker.cool_down`: calls and retries then
/// fail at once with llm_errc::circuit_open, naming the URL and when the
/// breaker lets a call through again, without sending anything. After the
/// cool-down one call goes through as a probe (the others still fail with
/// circuit_open); if the server answers, the breaker closes, else it opens
/// for another cool-down.
///
/// The API key is read from the environment variable `api_key_env` for
/// every call; it is never part of describe(), of an error message (a
/// server that echoes it back has it replaced by "***"), or of anything
/// logged.
///
/// Thread-safety: call(), cancel() on any handle, describe() and the usage
/// accessors are thread-safe. Callbacks (and call_options::on_delta) run on
/// the client's I/O thread, each exactly once; they must not block and must
/// not throw (an exception from a callback is swallowed). Destroying the
/// client cancels every call still in flight (their callbacks run with
/// llm_errc::cancelled before the destructor returns) and joins the thread;
/// do not destroy it from inside one of its own callbacks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agora/agents/llm.hpp"
#include "agora/agents/llm_error.hpp"
#include "agora/agents/wire.hpp"
#include "agora/blackboard/result.hpp"

namespace agora {

/// When to stop sending calls to a failing endpoint (see the file comment).
struct circuit_breaker_options {
  /// Consecutive failed attempts that open the breaker; 0 = never opens.
  int failures = 10;
  /// How long it stays open before a probe call may go through.
  std::chrono::milliseconds cool_down{30000};
};

/// Where and how to call a model server.
struct endpoint {
  wire_format format = wire_format::openai;
  /// The API's base; the client appends "/chat/completions" (openai) or
  /// "/messages" (anthropic). A trailing '/' is ignored.
  std::string base_url = "https://api.openai.com/v1";
  /// The model a request without one goes to.
  std::string model;
  /// The name of the environment variable holding the API key
  /// ("OPENAI_API_KEY"); empty = send no key (local servers). When set but
  /// the variable is missing or empty, calls fail with
  /// llm_errc::invalid_request naming the variable.
  std::string api_key_env;
  /// Sent with every request (after the client's own; the same name replaces
  /// nothing, so do not repeat the auth headers here).
  http_headers headers;
  /// Per attempt: to establish the connection (TLS included).
  std::chrono::milliseconds connect_timeout{10000};
  /// Per attempt: the whole request and reply, streaming included.
  std::chrono::milliseconds timeout{120000};
  /// Per attempt: the longest time without receiving a byte, from the start
  /// of the attempt (bounds a slow first byte and a stalled stream).
  std::chrono::milliseconds idle_timeout{60000};
  /// Sent as max_tokens where the format needs one and the request has none
  /// (Anthropic).
  std::uint32_t default_max_tokens = 4096;
  /// Calls that may be in flight at once on this client; more wait in a
  /// FIFO queue (never rejected). At least 1.
  std::size_t max_in_flight = 64;
  retry_policy retry;
  circuit_breaker_options breaker;
  /// The anthropic-version header of the Anthropic format.
  std::string anthropic_version = "2023-06-01";

  /// The URL requests go to: base_url + "/chat/completions" or "/messages".
  std::string url() const;

  /// An endpoint from configuration, e.g. a scenario file:
  /// ```json
  /// {"format": "anthropic", "model": "claude-3-5-haiku-latest",
  ///  "api_key_env": "ANTHROPIC_API_KEY", "max_in_flight": 8,
  ///  "timeout_ms": 60000, "retry": {"max_attempts": 4, "base_ms": 1000}}
  /// ```
  /// Fields (all optional but `model`): format ("openai" | "anthropic"),
  /// base_url (default: the format's public API), model, api_key_env,
  /// headers (object of strings), connect_timeout_ms, timeout_ms,
  /// idle_timeout_ms, default_max_tokens, max_in_flight, retry
  /// {max_attempts, base_ms, max_delay_ms}, breaker {failures,
  /// cool_down_ms}, anthropic_version. Fails with bb::errc::invalid_argument
  /// naming the field that is missing, of the wrong type, out of range or
  /// unknown (a typo is not silently ignored).
  static bb::result<endpoint> from_json(const nlohmann::json& j);
};

/// See the file comment.
class http_client final : public llm_client {
 public:
  /// Starts the I/O thread. A bad endpoint (max_in_flight 0, an empty
  /// base_url) makes every call fail with llm_errc::invalid_request saying
  /// why.
  explicit http_client(endpoint ep, price_table prices = price_table::defaults());
  /// Cancels what is in flight (callbacks run with llm_errc::cancelled) and
  /// joins the I/O thread.
  ~http_client() override;

  /// "openai-compatible http://127.0.0.1:8080/v1 model qwen (key from
  /// $OPENAI_API_KEY)"; credentials in the URL are masked.
  std::string describe() const override;
  std::string default_model() const override;
  const endpoint& config() const noexcept { return ep_; }

 protected:
  call_handle start(llm_request req, callback done, const call_options& opts) override;

 private:
  endpoint ep_;
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace agora
