/// \file key.hpp
/// Keys, prefixes and key patterns.
///
/// A key is a path of '/'-separated segments: `runs/42/debate/round/2/alice`.
/// It is rejected when empty, longer than limits::max_key_bytes, with an empty
/// segment (leading, trailing or doubled '/'), with a control character, or
/// with invalid UTF-8.
///
/// A prefix selects a subtree by whole segments: prefix `runs/4` selects
/// `runs/4` and `runs/4/x`, not `runs/42`. The empty prefix selects every key.
/// A trailing '/' on a prefix is ignored.
///
/// A key pattern matches keys segment by segment: `*` matches one segment,
/// `**` (only as a whole segment) matches any number of segments including
/// none, anything else matches itself: `runs/*/debate/**`.
///
/// Thread-safety: free functions are pure; key_pattern is an immutable value.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace agora::bb {

/// Checks a key; the error (errc::invalid_key or errc::limit_exceeded) quotes it.
status validate_key(std::string_view key, std::size_t max_key_bytes);

/// Checks a prefix: empty is allowed (every key), a trailing '/' is allowed.
status validate_prefix(std::string_view prefix, std::size_t max_key_bytes);

/// The prefix without its trailing '/', if any.
std::string_view normalize_prefix(std::string_view prefix) noexcept;

/// True if `key` lies in the subtree of the normalized `prefix`.
bool key_in_prefix(std::string_view key, std::string_view prefix) noexcept;

/// A compiled key pattern.
class key_pattern {
 public:
  /// Fails with errc::invalid_argument naming the pattern when it is empty or
  /// has an empty segment.
  static result<key_pattern> parse(std::string_view pattern);

  bool matches(std::string_view key) const noexcept;
  const std::string& str() const noexcept { return text_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;
};

}  // namespace agora::bb
