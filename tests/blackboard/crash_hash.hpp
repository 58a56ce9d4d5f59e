// The content hash the crash tests compare: durable_writer prints it for
// every promotion it sends, crash_test.cpp computes it from what the file
// holds. One definition, so the two can never drift apart.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace agora::bb::test {

/// FNV-1a 64 over "key\nvalue\n" of every key written (values as compact
/// JSON text), in key order; 16 hex digits.
inline std::string writes_hash(const std::map<std::string, std::string>& writes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto feed = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
  };
  for (const auto& [k, v] : writes) {
    feed(k);
    feed("\n");
    feed(v);
    feed("\n");
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return buf;
}

}  // namespace agora::bb::test
