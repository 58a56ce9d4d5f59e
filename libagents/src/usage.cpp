#include "agora/agents/usage.hpp"

#include <cstdint>

namespace agora {

namespace {

using json = nlohmann::json;

// Reads `j[field]` (or `j[parent][field]`) as a token count. Absent: `fallback`
// (nullopt = required).
bb::status read_count(const json& j, const char* format, const std::string& path, const char* field,
                      std::optional<std::uint64_t> fallback, std::uint64_t& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (!fallback)
      return bb::error{bb::errc::invalid_argument,
                       std::string(format) + " usage: field '" + path + field + "' is missing", "",
                       "/" + path + field};
    out = *fallback;
    return {};
  }
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0))
    return bb::error{bb::errc::invalid_argument,
                     std::string(format) + " usage: field '" + path + field + "' is " + it->dump() +
                         ", not a non-negative integer",
                     "", "/" + path + field};
  out = it->get<std::uint64_t>();
  return {};
}

}  // namespace

bb::result<usage> usage::from_openai(const json& j) {
  if (!j.is_object()) return bb::error{bb::errc::invalid_argument, "openai usage: not a JSON object"};
  usage u;
  if (auto s = read_count(j, "openai", "", "prompt_tokens", std::nullopt, u.prompt); !s) return s.error();
  if (auto s = read_count(j, "openai", "", "completion_tokens", std::nullopt, u.completion); !s)
    return s.error();
  if (auto d = j.find("prompt_tokens_details"); d != j.end() && d->is_object())
    if (auto s = read_count(*d, "openai", "prompt_tokens_details/", "cached_tokens", 0, u.cached); !s)
      return s.error();
  if (auto d = j.find("completion_tokens_details"); d != j.end() && d->is_object())
    if (auto s = read_count(*d, "openai", "completion_tokens_details/", "reasoning_tokens", 0, u.reasoning); !s)
      return s.error();
  return u;
}

bb::result<usage> usage::from_anthropic(const json& j) {
  if (!j.is_object()) return bb::error{bb::errc::invalid_argument, "anthropic usage: not a JSON object"};
  usage u;
  std::uint64_t input = 0, cache_read = 0, cache_write = 0;
  if (auto s = read_count(j, "anthropic", "", "input_tokens", 0, input); !s) return s.error();
  if (auto s = read_count(j, "anthropic", "", "output_tokens", 0, u.completion); !s) return s.error();
  if (auto s = read_count(j, "anthropic", "", "cache_read_input_tokens", 0, cache_read); !s) return s.error();
  if (auto s = read_count(j, "anthropic", "", "cache_creation_input_tokens", 0, cache_write); !s)
    return s.error();
  // Anthropic counts cached input apart from input_tokens; OpenAI includes it.
  // Absurd counts must not wrap around to small ones (found by the usage
  // fuzz target): the sum would undercount the cost.
  if (cache_read > UINT64_MAX - input || cache_write > UINT64_MAX - input - cache_read)
    return bb::error{bb::errc::invalid_argument,
                     "anthropic usage: input_tokens + cache_read_input_tokens + "
                     "cache_creation_input_tokens does not fit in 64 bits"};
  u.prompt = input + cache_read + cache_write;
  u.cached = cache_read;
  return u;
}

price_table price_table::defaults() {
  price_table t;
  t.set("gpt-4o-mini*", {0.15, 0.60, 0.075});
  t.set("gpt-4o*", {2.50, 10.00, 1.25});
  t.set("claude-3-5-haiku*", {0.80, 4.00, 0.08});
  t.set("claude-3-5-sonnet*", {3.00, 15.00, 0.30});
  return t;
}

std::optional<model_price> price_table::find(const std::string& model) const {
  if (auto it = prices_.find(model); it != prices_.end()) return it->second;
  const std::pair<const std::string, model_price>* best = nullptr;
  for (const auto& entry : prices_) {
    const std::string& k = entry.first;
    if (k.empty() || k.back() != '*') continue;
    std::string_view prefix(k.data(), k.size() - 1);
    if (model.compare(0, prefix.size(), prefix) != 0) continue;
    if (!best || prefix.size() > best->first.size() - 1) best = &entry;
  }
  if (!best) return std::nullopt;
  return best->second;
}

bb::result<double> price_table::cost(const std::string& model, const usage& u) const {
  auto p = find(model);
  if (!p)
    return bb::error{bb::errc::invalid_argument,
                     "no price for model '" + model + "': add one with price_table::set"};
  const double cached_price = p->cached_per_mtok.value_or(p->prompt_per_mtok);
  const std::uint64_t cached = u.cached <= u.prompt ? u.cached : u.prompt;
  return (static_cast<double>(u.prompt - cached) * p->prompt_per_mtok +
          static_cast<double>(cached) * cached_price +
          static_cast<double>(u.completion) * p->completion_per_mtok) /
         1e6;
}

}  // namespace agora
