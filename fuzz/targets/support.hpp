// What the fuzz targets share: a reader that turns the fuzzer's bytes into
// choices, the failure plumbing and a guard against escaping exceptions.
// Private to fuzz/targets/.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "targets.hpp"

namespace agora::fuzz {

/// The name of the target running now (set by guarded()).
extern thread_local const char* current_target;

/// Reports a broken invariant of the target running now; does not return.
[[noreturn]] void fail(const std::string& what);

#define AGORA_FUZZ_CHECK(cond, what)                                                     \
  do {                                                                                   \
    if (!(cond))                                                                         \
      ::agora::fuzz::fail(std::string("line ") + std::to_string(__LINE__) + ": " #cond \
                          " failed: " + std::string(what));                              \
  } while (false)

/// Runs `body` as target `name`: an exception escaping it is a failure
/// (every API fuzzed promises to let none out).
template <class F>
int guarded(const char* name, F&& body) {
  current_target = name;
  try {
    body();
  } catch (const invariant_broken&) {
    throw;
  } catch (const std::exception& e) {
    fail(std::string("exception escaped: ") + e.what());
  } catch (...) {
    fail("an exception of unknown type escaped");
  }
  return 0;
}

/// Compact JSON text that never throws (invalid UTF-8 is replaced), for
/// comparisons and messages.
inline std::string text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// The fuzzer's bytes as a stream of choices. Reading past the end yields
/// zeros and empty strings, so every input decodes to something.
class input {
 public:
  input(const std::uint8_t* data, std::size_t size)
      : p_(reinterpret_cast<const char*>(data)), n_(size) {}

  bool empty() const noexcept { return i_ >= n_; }
  std::size_t left() const noexcept { return empty() ? 0 : n_ - i_; }

  std::uint8_t byte() noexcept { return empty() ? 0 : static_cast<std::uint8_t>(p_[i_++]); }
  bool flag() noexcept { return byte() & 1; }
  /// A number in [0, max].
  std::uint64_t number(std::uint64_t max) noexcept {
    std::uint64_t v = 0;
    for (std::uint64_t m = max; m != 0; m >>= 8) v = (v << 8) | byte();
    return max == UINT64_MAX ? v : v % (max + 1);
  }
  /// A length byte, then up to that many bytes (at most `max`).
  std::string bytes(std::size_t max) {
    std::size_t len = std::min<std::size_t>(byte(), max);
    len = std::min(len, left());
    std::string out(p_ + i_, len);
    i_ += len;
    return out;
  }
  /// Everything not read yet.
  std::string_view rest() noexcept {
    std::string_view out = empty() ? std::string_view() : std::string_view(p_ + i_, n_ - i_);
    i_ = n_;
    return out;
  }

 private:
  const char* p_;
  std::size_t n_;
  std::size_t i_ = 0;
};

}  // namespace agora::fuzz
