#include "agora/blackboard/key.hpp"

#include "json_util.hpp"

namespace agora::bb {

namespace {

// Keys in messages are cut so that a megabyte of garbage does not become a
// megabyte of error text.
std::string quote(std::string_view key) { return detail::quote_for_message(key); }

status check_chars(std::string_view key, const char* what) {
  for (std::size_t i = 0; i < key.size(); ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f)
      return error{errc::invalid_key,
                   std::string(what) + " " + quote(key) + " has a control character (0x" +
                       detail::hex_byte(c) + ") at byte " + std::to_string(i),
                   std::string(key)};
  }
  if (auto bad = detail::first_invalid_utf8(key); bad != std::string_view::npos)
    return error{errc::invalid_key,
                 std::string(what) + " " + quote(key) + " is not valid UTF-8 at byte " +
                     std::to_string(bad),
                 std::string(key)};
  return {};
}

// `shown` is what the caller passed, quoted in the message.
status check_segments(std::string_view key, const char* what, std::string_view shown = {}) {
  if (shown.empty()) shown = key;
  if (key.front() == '/' || key.back() == '/' || key.find("//") != std::string_view::npos)
    return error{errc::invalid_key,
                 std::string(what) + " " + quote(shown) +
                     " has an empty segment (leading, trailing or doubled '/')",
                 std::string(shown)};
  return {};
}

status check_length(std::string_view key, std::size_t max_key_bytes, const char* what) {
  if (key.size() > max_key_bytes)
    return error{errc::limit_exceeded,
                 std::string(what) + " " + quote(key) + " is " + std::to_string(key.size()) +
                     " bytes, over the limit max_key_bytes=" + std::to_string(max_key_bytes),
                 std::string(key)};
  return {};
}

}  // namespace

status validate_key(std::string_view key, std::size_t max_key_bytes) {
  // Fast path: printable ASCII and no empty segment.
  const std::size_t n = key.size();
  if (n != 0 && n <= max_key_bytes && key.front() != '/' && key.back() != '/') {
    bool plain = true;
    char prev = 0;
    for (char ch : key) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c > 0x7e || (ch == '/' && prev == '/')) {
        plain = false;
        break;
      }
      prev = ch;
    }
    if (plain) return {};
  }
  // Anything unusual: the precise checks, which also word the message.
  if (key.empty()) return error{errc::invalid_key, "key is empty"};
  if (auto s = check_length(key, max_key_bytes, "key"); !s) return s;
  if (auto s = check_segments(key, "key"); !s) return s;
  return check_chars(key, "key");
}

std::string_view normalize_prefix(std::string_view prefix) noexcept {
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix;
}

status validate_prefix(std::string_view prefix, std::size_t max_key_bytes) {
  if (prefix.empty()) return {};
  if (auto s = check_length(prefix, max_key_bytes, "prefix"); !s) return s;
  auto p = normalize_prefix(prefix);
  if (p.empty())
    return error{errc::invalid_key, "prefix " + quote(prefix) + " has an empty segment",
                 std::string(prefix)};
  if (auto s = check_segments(p, "prefix", prefix); !s) return s;
  return check_chars(prefix, "prefix");
}

bool key_in_prefix(std::string_view key, std::string_view prefix) noexcept {
  prefix = normalize_prefix(prefix);
  if (prefix.empty()) return true;
  if (key.size() < prefix.size() || key.compare(0, prefix.size(), prefix) != 0) return false;
  return key.size() == prefix.size() || key[prefix.size()] == '/';
}

result<key_pattern> key_pattern::parse(std::string_view pattern) {
  if (pattern.empty()) return error{errc::invalid_argument, "key pattern is empty"};
  if (pattern.front() == '/' || pattern.back() == '/' ||
      pattern.find("//") != std::string_view::npos)
    return error{errc::invalid_argument,
                 "key pattern " + quote(pattern) + " has an empty segment",
                 std::string(pattern)};
  if (auto s = check_chars(pattern, "key pattern"); !s)
    return error{errc::invalid_argument, s.error().message, std::string(pattern)};
  key_pattern kp;
  kp.text_ = std::string(pattern);
  std::size_t start = 0;
  while (start <= pattern.size()) {
    auto end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    kp.segments_.emplace_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return kp;
}

namespace {

bool match_from(const std::vector<std::string>& segs, std::size_t si, std::string_view key) {
  // `key` is what remains, without a leading '/'; empty means no segments left.
  for (; si < segs.size(); ++si) {
    const std::string& s = segs[si];
    if (s == "**") {
      if (si + 1 == segs.size()) return true;  // matches the rest, including nothing
      // Try every split: zero or more segments consumed by '**'.
      std::string_view rest = key;
      while (true) {
        if (match_from(segs, si + 1, rest)) return true;
        if (rest.empty()) return false;
        auto slash = rest.find('/');
        if (slash == std::string_view::npos) rest = {};
        else rest.remove_prefix(slash + 1);
      }
    }
    if (key.empty()) return false;
    auto slash = key.find('/');
    std::string_view seg = slash == std::string_view::npos ? key : key.substr(0, slash);
    if (s != "*" && s != seg) return false;
    key = slash == std::string_view::npos ? std::string_view{} : key.substr(slash + 1);
  }
  return key.empty();
}

}  // namespace

bool key_pattern::matches(std::string_view key) const noexcept {
  return match_from(segments_, 0, key);
}

}  // namespace agora::bb
