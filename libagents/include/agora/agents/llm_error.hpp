/// \file llm_error.hpp
/// What went wrong with a model call, as a type a program can act on, and
/// when to try again.
///
/// ```cpp
/// agora::llm_error e = agora::classify_http_error(429, body, headers);
/// if (e.code == agora::llm_errc::rate_limited) ...       // e.retry_after: the server's wait
/// agora::retry_policy retry;                               // 5 attempts, 0.5 s .. 30 s, jitter
/// if (auto wait = retry.next_delay(attempt, e, rng)) schedule_retry(*wait);
/// else fail(e);                                            // not retryable, or out of attempts
/// ```
///
/// Retried: connection errors and timeouts, HTTP 408, 409, 429 (unless the
/// quota is exhausted) and 5xx (including Anthropic's 529 "overloaded").
/// Not retried: insufficient quota, authentication (401, 403), a request the
/// server rejects (other 4xx), a context that is too long, and a reply that
/// cannot be understood.
///
/// Thread-safety: values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace agora {

/// Kinds of model-call failure.
enum class llm_errc : std::uint8_t {
  rate_limited = 1,  ///< 429: slow down (retry_after says how long, when the server said)
  quota,             ///< the account's quota or credit is exhausted (429 insufficient_quota)
  authentication,    ///< 401/403: the key is missing, wrong or not allowed
  bad_request,       ///< another 4xx: the request itself is wrong
  context_overflow,  ///< the prompt is longer than the model's context
  server,            ///< 5xx, 409, Anthropic 529: the server failed or is overloaded
  timeout,           ///< 408, or the connect/total timeout passed
  transport,         ///< no HTTP reply: DNS, connection refused or reset, TLS
  invalid_reply,     ///< a reply that is not what the API promises
  cancelled,         ///< the caller cancelled the call (call_handle::cancel)
  budget_exhausted,  ///< the call would overrun its budget; nothing was sent
  circuit_open,      ///< the endpoint failed too often lately; nothing was sent
  invalid_request,   ///< the request cannot be sent as it is (no API key, bad model); nothing was sent
};

/// "rate_limited", "quota", ...
const char* to_string(llm_errc c) noexcept;

/// One failed call.
struct llm_error {
  llm_errc code = llm_errc::invalid_reply;
  /// For people: what the server or the transport said.
  std::string message;
  /// The HTTP status, 0 when there was none.
  int http_status = 0;
  /// How long the server asked to wait (retry-after-ms or Retry-After).
  std::optional<std::chrono::milliseconds> retry_after;

  /// True for the kinds that a retry may cure (see the file comment).
  bool retryable() const noexcept;
};

/// Header names are compared case-insensitively; give them in any case.
using http_headers = std::map<std::string, std::string>;

/// Classifies an HTTP error reply of either API: the status, the body's
/// error object (OpenAI `{"error": {"type", "code", "message"}}`, Anthropic
/// `{"type": "error", "error": {"type", "message"}}`; a body that is not JSON
/// is quoted, cut short), and the retry headers (`retry-after-ms`, then
/// `Retry-After` as seconds or an HTTP date, relative to `now`).
llm_error classify_http_error(int status, std::string_view body, const http_headers& headers,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// When to try a failed call again: exponential backoff with full jitter,
/// at least what the server asked for.
struct retry_policy {
  /// Calls in all, the first included.
  int max_attempts = 5;
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds max_delay{30000};

  /// The wait before attempt `attempt + 1` after `attempt` (1-based) failed
  /// with `e`; nullopt when `e` is not retryable or attempts are used up.
  /// The delay is uniform in [0, min(max_delay, base × 2^(attempt-1))]
  /// ("full jitter"), raised to e.retry_after when the server asked for
  /// more (a server's wait is honoured even above max_delay).
  std::optional<std::chrono::milliseconds> next_delay(int attempt, const llm_error& e,
                                                      std::mt19937_64& rng) const;
};

}  // namespace agora
