#include "json_util.hpp"

#include <cmath>

namespace agora::bb::detail {

std::string quote_for_message(std::string_view s) {
  constexpr std::size_t max_shown = 80;
  std::string out = "'";
  if (s.size() <= max_shown) {
    out.append(s);
  } else {
    out.append(s.substr(0, max_shown));
    out += "...";
  }
  out += "'";
  return out;
}

std::string hex_byte(unsigned char c) {
  static const char* digits = "0123456789abcdef";
  return {digits[c >> 4], digits[c & 0xf]};
}

std::size_t first_invalid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return i;
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string pointer_token(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

const char* type_name(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::null: return "null";
    default: return "binary";
  }
}

namespace {

struct walker {
  std::string_view key;
  const limits& lim;
  const char* what;
  std::size_t size = 0;
  std::size_t max_depth_seen = 0;
  // Path is built only when an error is reported (kept as a stack of steps).
  std::vector<std::string> path;

  std::string pointer() const {
    std::string p;
    for (const auto& t : path) { p += '/'; p += pointer_token(t); }
    return p;
  }

  error fail(errc code, std::string why) const {
    std::string ptr = pointer();
    std::string msg = std::string(what) + " for key " + quote_for_message(key);
    if (!ptr.empty()) msg += " at " + ptr;
    msg += ": " + why;
    return error{code, std::move(msg), std::string(key), ptr};
  }

  std::optional<error> string_ok(const std::string& s) {
    if (auto bad = first_invalid_utf8(s); bad != std::string_view::npos)
      return fail(errc::invalid_value, "string is not valid UTF-8 at byte " + std::to_string(bad));
    size += s.size() + 2;
    return std::nullopt;
  }

  // Entering an object or array one level below `depth`.
  std::optional<error> enter(std::size_t depth) {
    if (depth + 1 > lim.max_depth)
      return fail(errc::limit_exceeded, "nesting depth " + std::to_string(depth + 1) +
                                            " is over the limit max_depth=" +
                                            std::to_string(lim.max_depth));
    max_depth_seen = std::max(max_depth_seen, depth + 1);
    size += 2;
    return std::nullopt;
  }

  std::optional<error> walk(const json& v, std::size_t depth) {
    switch (v.type()) {
      case json::value_t::object: {
        if (auto e = enter(depth)) return e;
        for (auto it = v.begin(); it != v.end(); ++it) {
          path.push_back(it.key());
          if (auto e = string_ok(it.key())) return e;
          size += 2;  // ':' and ','
          if (auto e = walk(it.value(), depth + 1)) return e;
          path.pop_back();
        }
        break;
      }
      case json::value_t::array: {
        if (auto e = enter(depth)) return e;
        std::size_t i = 0;
        for (const auto& el : v) {
          path.push_back(std::to_string(i++));
          size += 1;
          if (auto e = walk(el, depth + 1)) return e;
          path.pop_back();
        }
        break;
      }
      case json::value_t::string:
        if (auto e = string_ok(v.get_ref<const std::string&>())) return e;
        break;
      case json::value_t::number_float: {
        double d = v.get<double>();
        if (!std::isfinite(d))
          return fail(errc::invalid_value, std::string(std::isnan(d) ? "NaN" : "infinity") +
                                               " is not a JSON number");
        size += 8;
        break;
      }
      case json::value_t::binary:
        return fail(errc::invalid_value, "binary values are not JSON");
      case json::value_t::discarded:
        return fail(errc::invalid_value, "discarded value (a failed parse) is not JSON");
      default:
        size += 8;
        break;
    }
    if (size > lim.max_value_bytes)
      return fail(errc::limit_exceeded, "size is at least " + std::to_string(size) +
                                            " bytes, over the limit max_value_bytes=" +
                                            std::to_string(lim.max_value_bytes));
    return std::nullopt;
  }
};

}  // namespace

result<value_shape> check_value(const json& v, std::string_view key, const limits& lim,
                                const char* what) {
  walker w{key, lim, what, 0, 0, {}};
  if (auto e = w.walk(v, 0)) return std::move(*e);
  return value_shape{w.size, w.max_depth_seen};
}

status check_staged(op_kind kind, std::string_view key, const json& value, const limits& lim) {
  switch (kind) {
    case op_kind::put:
      if (auto s = check_value(value, key, lim); !s) return s.error();
      return {};
    case op_kind::merge:
      if (!value.is_object())
        return error{errc::invalid_argument,
                     "merge patch for key " + quote_for_message(key) + " is " + type_name(value) +
                         ", not an object (use put to replace a value)",
                     std::string(key)};
      if (auto s = check_value(value, key, lim, "merge patch"); !s) return s.error();
      return {};
    case op_kind::append:
      if (auto s = check_value(value, key, lim, "element"); !s) return s.error();
      return {};
    case op_kind::erase:
      return {};
  }
  return error{errc::invalid_argument,
               "operation on key " + quote_for_message(key) + " has an unknown kind",
               std::string(key)};
}

error not_an_array(std::string_view key, const json& current) {
  return error{errc::type_mismatch,
               "cannot append to key " + quote_for_message(key) + ": its value is " +
                   type_name(current) + ", not an array",
               std::string(key)};
}

void apply_merge_patch(json& target, const json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      target.erase(it.key());
    } else {
      apply_merge_patch(target[it.key()], it.value());
    }
  }
}

}  // namespace agora::bb::detail
