#include "agora/blackboard/failpoints.hpp"

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "failpoints_internal.hpp"

namespace agora::bb::detail {

std::atomic<bool> failpoints_armed{false};
std::atomic<std::uint64_t> counter_group_commits{0};
std::atomic<std::uint64_t> counter_promotions{0};
std::atomic<std::uint64_t> counter_syncs{0};

namespace {

constexpr std::size_t point_count = static_cast<std::size_t>(failpoint::count_);

enum class act_kind : std::uint8_t { crash, error };

struct setting {
  bool active = false;
  act_kind act = act_kind::error;
  std::uint64_t nth = 0;   // 0 = every hit
  std::uint64_t hits = 0;
};

struct registry {
  std::mutex mu;
  setting points[point_count];
  std::optional<std::uint64_t> disk_limit;  // bytes of growth allowed
  std::uint64_t disk_grown = 0;
  std::string last_env;
};

registry& reg() {
  static registry r;
  return r;
}

void rearm(registry& r) {
  bool any = r.disk_limit.has_value();
  for (const auto& s : r.points) any = any || s.active;
  failpoints_armed.store(any, std::memory_order_relaxed);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint64_t> parse_count(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

struct parsed_entry {
  std::optional<failpoint> point;  // empty for disk_full
  setting s;
  std::uint64_t disk_bytes = 0;
};

result<std::vector<parsed_entry>> parse_spec(std::string_view spec, const std::string& where) {
  std::vector<parsed_entry> out;
  auto bad = [&](std::string_view entry, const std::string& why) {
    return error{errc::invalid_argument,
                 where + "bad failpoint entry '" + std::string(entry) + "': " + why};
  };
  while (!spec.empty()) {
    auto comma = spec.find(',');
    std::string_view entry = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (entry.empty()) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos)
      return bad(entry, "expected <point>=<action>[@N] or disk_full=<bytes>");
    std::string_view name = trim(entry.substr(0, eq));
    std::string_view rhs = trim(entry.substr(eq + 1));
    parsed_entry pe;
    if (name == "disk_full") {
      auto n = parse_count(rhs);
      if (!n) return bad(entry, "disk_full needs a byte count");
      pe.disk_bytes = *n;
      out.push_back(pe);
      continue;
    }
    for (std::size_t i = 0; i < point_count; ++i)
      if (name == to_string(static_cast<failpoint>(i))) pe.point = static_cast<failpoint>(i);
    if (!pe.point)
      return bad(entry, "unknown point '" + std::string(name) +
                            "' (expected before_write, after_write, before_sync, after_sync, "
                            "before_ack, during_compaction, during_recovery or disk_full)");
    std::string_view act = rhs;
    if (auto at = rhs.find('@'); at != std::string_view::npos) {
      act = trim(rhs.substr(0, at));
      auto n = parse_count(trim(rhs.substr(at + 1)));
      if (!n || *n == 0) return bad(entry, "@N needs a count of at least 1");
      pe.s.nth = *n;
    }
    if (act == "crash") pe.s.act = act_kind::crash;
    else if (act == "error") pe.s.act = act_kind::error;
    else return bad(entry, "unknown action '" + std::string(act) + "' (expected crash or error)");
    pe.s.active = true;
    out.push_back(pe);
  }
  return out;
}

status install(std::string_view spec, const std::string& where) {
  auto parsed = parse_spec(spec, where);
  if (!parsed) return std::move(parsed).take_error();
  registry& r = reg();
  std::lock_guard lock(r.mu);
  for (const auto& pe : *parsed) {
    if (pe.point) {
      r.points[static_cast<std::size_t>(*pe.point)] = pe.s;
    } else {
      r.disk_limit = pe.disk_bytes;
      r.disk_grown = 0;
    }
  }
  rearm(r);
  return {};
}

}  // namespace

const char* to_string(failpoint p) noexcept {
  switch (p) {
    case failpoint::before_write: return "before_write";
    case failpoint::after_write: return "after_write";
    case failpoint::before_sync: return "before_sync";
    case failpoint::after_sync: return "after_sync";
    case failpoint::before_ack: return "before_ack";
    case failpoint::during_compaction: return "during_compaction";
    case failpoint::during_recovery: return "during_recovery";
    case failpoint::count_: break;
  }
  return "unknown";
}

bool failpoint_hit_slow(failpoint p) {
  registry& r = reg();
  act_kind act;
  {
    std::lock_guard lock(r.mu);
    setting& s = r.points[static_cast<std::size_t>(p)];
    if (!s.active) return false;
    ++s.hits;
    if (s.nth != 0 && s.hits != s.nth) return false;
    act = s.act;
  }
  if (act == act_kind::crash) {
    // Like kill -9: no destructors, no buffered output, no atexit handlers.
    std::raise(SIGKILL);
    std::_Exit(137);  // not reached
  }
  return true;
}

bool disk_limit_set() noexcept {
  if (!failpoints_armed.load(std::memory_order_relaxed)) return false;
  registry& r = reg();
  std::lock_guard lock(r.mu);
  return r.disk_limit.has_value();
}

bool disk_growth_allowed(std::uint64_t grow_by) {
  registry& r = reg();
  std::lock_guard lock(r.mu);
  if (!r.disk_limit) return true;
  if (r.disk_grown + grow_by > *r.disk_limit) return false;
  r.disk_grown += grow_by;
  return true;
}

}  // namespace agora::bb::detail

namespace agora::bb::failpoints {

status set(std::string_view spec) { return detail::install(spec, {}); }

void clear() {
  detail::registry& r = detail::reg();
  std::lock_guard lock(r.mu);
  for (auto& s : r.points) s = detail::setting{};
  r.disk_limit.reset();
  r.disk_grown = 0;
  detail::rearm(r);
}

status apply_environment() {
  const char* env = std::getenv("AGORA_FAILPOINTS");
  if (!env || !*env) return {};
  detail::registry& r = detail::reg();
  {
    std::lock_guard lock(r.mu);
    if (r.last_env == env) return {};
  }
  if (auto s = detail::install(env, "AGORA_FAILPOINTS: "); !s) return s;
  std::lock_guard lock(r.mu);
  r.last_env = env;
  return {};
}

durable_counters counters() {
  durable_counters c;
  c.group_commits = detail::counter_group_commits.load(std::memory_order_relaxed);
  c.promotions = detail::counter_promotions.load(std::memory_order_relaxed);
  c.syncs = detail::counter_syncs.load(std::memory_order_relaxed);
  return c;
}

}  // namespace agora::bb::failpoints
