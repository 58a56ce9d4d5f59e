#include "agora/agents/usage.hpp"

#include <catch2/catch.hpp>

using namespace agora;
using nlohmann::json;

TEST_CASE("usage reads OpenAI's usage object, with cached and reasoning tokens", "[agents][usage]") {
  auto u = usage::from_openai(json::parse(R"({
      "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
      "prompt_tokens_details": {"cached_tokens": 1000},
      "completion_tokens_details": {"reasoning_tokens": 120}})"));
  REQUIRE(u);
  CHECK(u->prompt == 1200);
  CHECK(u->completion == 300);
  CHECK(u->cached == 1000);
  CHECK(u->reasoning == 120);
  CHECK(u->total() == 1500);

  auto plain = usage::from_openai(json{{"prompt_tokens", 5}, {"completion_tokens", 7}});
  REQUIRE(plain);
  CHECK(*plain == usage{5, 7, 0, 0});
}

TEST_CASE("usage reads Anthropic's usage, counting cached input as prompt", "[agents][usage]") {
  // message_start carries the input, message_delta the output: add them.
  auto start = usage::from_anthropic(json::parse(R"({"input_tokens": 50,
      "cache_read_input_tokens": 900, "cache_creation_input_tokens": 100, "output_tokens": 1})"));
  auto delta = usage::from_anthropic(json::parse(R"({"output_tokens": 250})"));
  REQUIRE(start);
  REQUIRE(delta);
  usage u = *start;
  u += *delta;
  CHECK(u.prompt == 1050);
  CHECK(u.cached == 900);
  CHECK(u.completion == 251);
  CHECK(u.reasoning == 0);
}

TEST_CASE("usage names the field that is missing or wrong", "[agents][usage]") {
  auto missing = usage::from_openai(json{{"prompt_tokens", 5}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "openai usage: field 'completion_tokens' is missing");
  CHECK(missing.error().path == "/completion_tokens");

  auto negative = usage::from_openai(json{{"prompt_tokens", -1}, {"completion_tokens", 2}});
  REQUIRE_FALSE(negative);
  CHECK(negative.error().message == "openai usage: field 'prompt_tokens' is -1, not a non-negative integer");

  auto nested = usage::from_openai(
      json{{"prompt_tokens", 1}, {"completion_tokens", 2}, {"prompt_tokens_details", {{"cached_tokens", "many"}}}});
  REQUIRE_FALSE(nested);
  CHECK(nested.error().path == "/prompt_tokens_details/cached_tokens");

  auto text = usage::from_anthropic(json{{"output_tokens", 1.5}});
  REQUIRE_FALSE(text);
  CHECK(text.error().message == "anthropic usage: field 'output_tokens' is 1.5, not a non-negative integer");
  CHECK_FALSE(usage::from_anthropic(json::array()));
}

TEST_CASE("price_table prices usage by model, longest prefix first, cached at its own price",
          "[agents][usage]") {
  price_table t;
  t.set("model-a*", {1.0, 2.0, 0.5});
  t.set("model-a-large*", {10.0, 20.0, std::nullopt});
  t.set("exact", {3.0, 3.0, std::nullopt});
  usage u{1'000'000, 500'000, 400'000, 0};  // 600k uncached + 400k cached prompt, 500k completion
  auto small = t.cost("model-a-2025", u);
  REQUIRE(small);
  CHECK(*small == Approx(0.6 * 1.0 + 0.4 * 0.5 + 0.5 * 2.0));
  auto large = t.cost("model-a-large-1", u);  // the longer prefix wins; cached at the prompt price
  REQUIRE(large);
  CHECK(*large == Approx(1.0 * 10.0 + 0.5 * 20.0));
  CHECK(t.cost("exact", u).ok());
  auto unknown = t.cost("mystery-model", u);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "no price for model 'mystery-model': add one with price_table::set");

  // The defaults know a few models, and a user's entry overrides them.
  auto d = price_table::defaults();
  CHECK(d.find("gpt-4o-mini-2024-07-18"));
  CHECK(d.find("gpt-4o-mini-2024-07-18")->prompt_per_mtok == Approx(0.15));  // not gpt-4o's price
  d.set("gpt-4o-mini*", {0.0, 0.0, std::nullopt});
  CHECK(*d.cost("gpt-4o-mini", u) == 0.0);
}

TEST_CASE("usage refuses Anthropic counts whose sum does not fit instead of wrapping", "[llm][usage]") {
  auto u = usage::from_anthropic(
      json::parse(R"({"input_tokens": 18446744073709551615, "cache_read_input_tokens": 1})"));
  REQUIRE_FALSE(u.ok());
  CHECK(u.error().code == bb::errc::invalid_argument);
  CHECK(u.error().message.find("cache_read_input_tokens") != std::string::npos);
}
