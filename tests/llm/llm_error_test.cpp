#include "agora/agents/llm_error.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace agora;
using namespace std::chrono_literals;

TEST_CASE("llm_error classifies rate limits and tells them from an exhausted quota",
          "[agents][llm_error]") {
  auto limited = classify_http_error(
      429, R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
      {{"Retry-After-Ms", "1500"}});
  CHECK(limited.code == llm_errc::rate_limited);
  CHECK(limited.retryable());
  REQUIRE(limited.retry_after);
  CHECK(*limited.retry_after == 1500ms);
  CHECK(limited.message == "HTTP 429 requests: Rate limit reached");

  auto quota = classify_http_error(
      429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})",
      {});
  CHECK(quota.code == llm_errc::quota);
  CHECK_FALSE(quota.retryable());
}

TEST_CASE("llm_error reads Retry-After as seconds or as an HTTP date", "[agents][llm_error]") {
  auto secs = classify_http_error(503, "", {{"retry-after", " 7 "}});
  REQUIRE(secs.retry_after);
  CHECK(*secs.retry_after == 7s);
  // 2015-10-21 07:28:00 UTC, asked 30 s before.
  auto now = std::chrono::system_clock::from_time_t(1445412480) - 30s;
  auto date = classify_http_error(503, "", {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}, now);
  REQUIRE(date.retry_after);
  CHECK(*date.retry_after == 30s);
  CHECK_FALSE(classify_http_error(503, "", {{"Retry-After", "soon"}}).retry_after);
}

TEST_CASE("llm_error sorts the other statuses of both APIs", "[agents][llm_error]") {
  CHECK(classify_http_error(401, R"({"error":{"message":"Incorrect API key provided"}})", {}).code ==
        llm_errc::authentication);
  CHECK(classify_http_error(408, "", {}).code == llm_errc::timeout);
  CHECK(classify_http_error(409, "", {}).code == llm_errc::server);
  auto overloaded = classify_http_error(
      529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", {});
  CHECK(overloaded.code == llm_errc::server);
  CHECK(overloaded.retryable());
  CHECK(overloaded.message == "HTTP 529 overloaded_error: Overloaded");
  CHECK(classify_http_error(
            400, R"({"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}})",
            {})
            .code == llm_errc::context_overflow);
  CHECK(classify_http_error(
            400, R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}})",
            {})
            .code == llm_errc::context_overflow);
  auto bad = classify_http_error(422, "<html>Unprocessable</html>", {});
  CHECK(bad.code == llm_errc::bad_request);
  CHECK_FALSE(bad.retryable());
  CHECK(bad.message == "HTTP 422: '<html>Unprocessable</html>'");
}

TEST_CASE("retry_policy backs off exponentially with jitter, honours the server, stops",
          "[agents][llm_error]") {
  retry_policy p;  // 5 attempts, 500 ms base, 30 s cap
  std::mt19937_64 rng(42);
  llm_error server{llm_errc::server, "HTTP 500", 500, std::nullopt};
  for (int attempt = 1; attempt < 5; ++attempt) {
    const auto cap = std::min(500ms * (1 << (attempt - 1)), std::chrono::milliseconds(30000));
    for (int i = 0; i < 50; ++i) {
      auto d = p.next_delay(attempt, server, rng);
      REQUIRE(d);
      CHECK(*d >= 0ms);
      CHECK(*d <= cap);
    }
  }
  CHECK_FALSE(p.next_delay(5, server, rng));  // attempts used up

  llm_error limited{llm_errc::rate_limited, "HTTP 429", 429, 45s};
  CHECK(*p.next_delay(1, limited, rng) == 45s);  // the server's wait, even above the cap

  llm_error auth{llm_errc::authentication, "HTTP 401", 401, std::nullopt};
  CHECK_FALSE(p.next_delay(1, auth, rng));

  // Jitter spreads the waits: 50 draws for attempt 3 are not all the same.
  std::set<long long> seen;
  for (int i = 0; i < 50; ++i) seen.insert(p.next_delay(3, server, rng)->count());
  CHECK(seen.size() > 10);
}

TEST_CASE("llm_error reads a Retry-After date far from now without overflowing", "[llm][llm_error]") {
  // Dates outside system_clock's nanosecond range (1677..2262) used to wrap
  // around: year 1011 asked for 157 years, year 9999 for nothing.
  auto now = std::chrono::system_clock::from_time_t(1700000000);  // 2023-11-14
  auto past = classify_http_error(503, "", {{"Retry-After", "Mon, 01 Jan 1011 00:00:00 GMT"}}, now);
  REQUIRE(past.retry_after);
  CHECK(*past.retry_after == 0ms);
  auto far = classify_http_error(503, "", {{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}}, now);
  REQUIRE(far.retry_after);
  CHECK(*far.retry_after > std::chrono::hours(24 * 365 * 7000));
}
