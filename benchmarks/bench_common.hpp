// What every benchmark executable shares: the machine description, number
// formatting, timing and the --reps argument. Header-only; benchmarks only.
#pragma once

#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace agora::bench {

/// {"cores", "cpu" (/proc/cpuinfo model name), "kernel" (uname)}.
inline nlohmann::json machine() {
  std::string cpu = "unknown";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos)
        cpu = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  std::string kernel = "unknown";
  struct utsname u {};
  if (uname(&u) == 0)
    kernel = std::string(u.sysname) + " " + u.release;
  return {{"cores", std::thread::hardware_concurrency()}, {"cpu", cpu}, {"kernel", kernel}};
}

/// 1.23M, 45.6k, 789, 1.23, 0.0123.
inline std::string human(double v) {
  char buf[64];
  if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4)
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else if (v >= 100)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (v >= 1)
    std::snprintf(buf, sizeof buf, "%.2f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

/// One measured figure: samples of repeated runs, reported by their median.
/// `baseline` is the target when there is one.
struct figure {
  std::string case_name;
  std::string metric;
  std::string unit;
  std::optional<double> baseline;
  std::vector<double> samples;

  double median() const {
    std::vector<double> s = samples;
    std::sort(s.begin(), s.end());
    std::size_t n = s.size();
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  double min() const { return *std::min_element(samples.begin(), samples.end()); }
  double max() const { return *std::max_element(samples.begin(), samples.end()); }
};

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The value of --reps: 5..1000 (house rule: medians of at least 5).
inline std::optional<int> parse_reps(const char* text) {
  char* end = nullptr;
  long n = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || n < 5 || n > 1000) return std::nullopt;
  return static_cast<int>(n);
}

}  // namespace agora::bench
