// Private helpers around nlohmann::json: value checks, merge patches, and
// message formatting. Not part of the API.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/options.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::bb::detail {

/// 'key' in single quotes, cut to 80 bytes with "..." when longer.
std::string quote_for_message(std::string_view s);

/// Two lowercase hex digits.
std::string hex_byte(unsigned char c);

/// Offset of the first byte that is not part of valid UTF-8, or npos.
std::size_t first_invalid_utf8(std::string_view s) noexcept;

/// Size and depth of a value as limits.hpp defines them.
struct value_shape {
  std::size_t size = 0;
  std::size_t depth = 0;
};

/// Walks `v` once: rejects NaN/infinity and invalid UTF-8 (errc::invalid_value,
/// naming key and JSON pointer), values deeper than max_depth or larger than
/// max_value_bytes (errc::limit_exceeded). `what` starts the message ("value",
/// "merge patch", "element").
result<value_shape> check_value(const json& v, std::string_view key, const limits& lim,
                                const char* what = "value");

/// Checks the argument of one staged operation: a put's value, a merge
/// patch (must be an object), an append's element.
status check_staged(op_kind kind, std::string_view key, const json& value, const limits& lim);

/// errc::type_mismatch for an append onto `current`, which is not an array.
error not_an_array(std::string_view key, const json& current);

/// Applies an RFC 7386 JSON Merge Patch to `target` in place.
void apply_merge_patch(json& target, const json& patch);

/// Escapes one JSON pointer reference token (RFC 6901).
std::string pointer_token(std::string_view s);

/// A short name of a JSON value's type: "object", "array", "string", ...
const char* type_name(const json& v) noexcept;

}  // namespace agora::bb::detail
