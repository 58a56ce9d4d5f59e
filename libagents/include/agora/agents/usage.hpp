/// \file usage.hpp
/// Token usage, normalized across the OpenAI and Anthropic wire formats, and
/// what it costs by a per-model price table the user can extend.
///
/// ```cpp
/// auto u = agora::usage::from_openai(reply.at("usage"));     // bb::result<usage>
/// agora::price_table prices = agora::price_table::defaults();
/// prices.set("my-local-model", {0.0, 0.0});                  // free
/// auto cost = prices.cost("gpt-4o-mini", *u);                // bb::result<double>, USD
/// ```
///
/// Thread-safety: values. A price_table is not synchronized: share it as
/// const, or give each client its own copy.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agora/blackboard/result.hpp"

namespace agora {

/// Tokens of one call (or a sum of calls), the same whatever the wire format.
struct usage {
  /// Tokens sent, including cached ones (OpenAI: prompt_tokens; Anthropic:
  /// input_tokens + cache_read_input_tokens + cache_creation_input_tokens).
  std::uint64_t prompt = 0;
  /// Tokens generated, including reasoning tokens.
  std::uint64_t completion = 0;
  /// Of `prompt`, those read from the provider's prompt cache.
  std::uint64_t cached = 0;
  /// Of `completion`, those spent on hidden reasoning.
  std::uint64_t reasoning = 0;

  std::uint64_t total() const noexcept { return prompt + completion; }
  usage& operator+=(const usage& o) noexcept {
    prompt += o.prompt;
    completion += o.completion;
    cached += o.cached;
    reasoning += o.reasoning;
    return *this;
  }
  friend bool operator==(const usage& a, const usage& b) noexcept {
    return a.prompt == b.prompt && a.completion == b.completion && a.cached == b.cached &&
           a.reasoning == b.reasoning;
  }

  /// From an OpenAI Chat Completions `usage` object (`prompt_tokens`,
  /// `completion_tokens`, optional `prompt_tokens_details.cached_tokens`,
  /// `completion_tokens_details.reasoning_tokens`). Fails with
  /// bb::errc::invalid_argument naming the field that is missing or not a
  /// non-negative integer.
  static bb::result<usage> from_openai(const nlohmann::json& j);
  /// From an Anthropic Messages `usage` object (`input_tokens`,
  /// `output_tokens`, optional `cache_read_input_tokens`,
  /// `cache_creation_input_tokens`). A streamed message reports usage in
  /// message_start and again in message_delta, whose counts are cumulative
  /// (message_start's output_tokens is a placeholder): overlay the delta's
  /// fields on the start's before parsing, do not add the two (the stream
  /// assembler in wire.hpp does this). Missing `input_tokens` or `output_tokens` count as 0 (message_delta
  /// carries only the output); a field that is present but not a
  /// non-negative integer fails with bb::errc::invalid_argument naming it.
  static bb::result<usage> from_anthropic(const nlohmann::json& j);
};

/// US dollars per million tokens. Prompt tokens written to a provider's
/// cache (Anthropic's cache_creation_input_tokens) are priced as prompt
/// tokens; providers that charge a premium for them are undercounted by it.
struct model_price {
  double prompt_per_mtok = 0;
  double completion_per_mtok = 0;
  /// For cached prompt tokens; unset = the prompt price.
  std::optional<double> cached_per_mtok;
};

/// Prices by model name. A name matches exactly, or by the longest entry
/// that ends in `*` and prefixes it (`"gpt-4o-mini*"` prices
/// `gpt-4o-mini-2024-07-18`).
class price_table {
 public:
  /// A starting table of a few well-known models, at list prices as of this
  /// writing; check and override them (`set`) for real accounting.
  static price_table defaults();

  void set(std::string model, model_price p) { prices_[std::move(model)] = p; }
  /// The price of `model`, if the table has one.
  std::optional<model_price> find(const std::string& model) const;
  /// The cost of `u` on `model`. Fails with bb::errc::invalid_argument
  /// naming the model when the table has no price for it — an unknown
  /// model is not free.
  bb::result<double> cost(const std::string& model, const usage& u) const;

 private:
  std::map<std::string, model_price> prices_;
};

}  // namespace agora
