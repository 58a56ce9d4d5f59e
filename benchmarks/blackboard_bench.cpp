// blackboard_bench: throughput and latency of agora::bb::blackboard.
//
//   blackboard_bench [--quick] [--reps N]
//
// Cases: uncontended promotions (disjoint keys; 1 and 2 threads), a contended
// hot key (get+put versus merge onto a mergeable key), snapshot point reads
// (1 and 2 threads over 100k keys, where every read misses the CPU caches,
// and 1 thread over 1k keys, which fit in them), and watch delivery latency. Every figure
// is the median of N >= 5 repetitions (default 5); the table shows min and max.
// The last line of output is one JSON object for machines.

#include "bench_common.hpp"


#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/blackboard/blackboard.hpp"

using agora::bench::human;
using agora::bench::seconds_since;

namespace {

namespace bb = agora::bb;
using nlohmann::json;
using steady = std::chrono::steady_clock;

constexpr double k_target_promotions_per_s = 1e6;
constexpr double k_target_reads_per_s = 5e6;
constexpr int k_read_keys = 100000;
constexpr int k_cached_read_keys = 1000;

struct settings {
  bool quick = false;
  int reps = 5;
};

/// One reported figure: a metric of a case, sampled once per repetition.
using agora::bench::figure;

[[noreturn]] void die(const std::string& what) {
  std::cerr << "blackboard_bench: " << what << "\n";
  std::exit(1);
}


/// Runs fn(thread_index) on `threads` threads released together; returns the
/// wall time from release to the last one finishing.
double run_threads(int threads, const std::function<void(int)>& fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      fn(t);
    });
  while (ready.load() < threads)
    std::this_thread::yield();
  auto t0 = steady::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool)
    th.join();
  return seconds_since(t0);
}

/// Cheap per-thread random numbers for picking keys.
struct xorshift {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// --- Uncontended promotions ---------------------------------------------------

/// begin + put one key + promote, on disjoint keys per thread, in a fresh
/// blackboard each repetition (so the store does not grow across them).
double uncontended_promotions_per_s(int threads, long per_thread) {
  bb::blackboard board;
  std::vector<std::vector<std::string>> keys(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t)
    for (int k = 0; k < 64; ++k)
      keys[static_cast<std::size_t>(t)].push_back("bench/t" + std::to_string(t) + "/k" +
                                                  std::to_string(k));
  std::atomic<long> failures{0};
  double secs = run_threads(threads, [&](int t) {
    const auto& mine = keys[static_cast<std::size_t>(t)];
    std::string author = "bench/writer" + std::to_string(t);
    for (long i = 0; i < per_thread; ++i) {
      auto sp = board.begin(author);
      if (!sp.put(mine[static_cast<std::size_t>(i) % mine.size()], i).ok() ||
          !board.promote(sp).ok())
        failures.fetch_add(1);
    }
  });
  if (failures.load() != 0)
    die(std::to_string(failures.load()) + " uncontended promotions failed");
  return static_cast<double>(per_thread) * threads / secs;
}

// --- Contended hot key --------------------------------------------------------

struct contention {
  double commits_per_s = 0;
  double abort_rate = 0;
};

/// Two threads on one key: get + put(+1) (conflicts) or, when `mergeable`,
/// merge {"t<i>": n} onto a key declared mergeable (never conflicts).
contention hot_key(bool mergeable, long attempts_per_thread) {
  constexpr int threads = 2;
  bb::blackboard board;
  if (mergeable && !board.declare_mergeable("hot/**").ok())
    die("declare_mergeable failed");
  const std::string key = "hot/counter";
  {
    auto sp = board.begin("bench/setup");
    if (!sp.put(key, mergeable ? json::object() : json(0)).ok() || !board.promote(sp).ok())
      die("hot key setup failed");
  }
  std::atomic<long> commits{0}, conflicts{0}, failures{0};
  double secs = run_threads(threads, [&](int t) {
    std::string author = "bench/hot" + std::to_string(t);
    std::string field = "t" + std::to_string(t);
    long mine_commits = 0, mine_conflicts = 0;
    for (long i = 0; i < attempts_per_thread; ++i) {
      auto sp = board.begin(author);
      if (mergeable) {
        if (!sp.merge(key, json{{field, i}}).ok()) {
          failures.fetch_add(1);
          continue;
        }
      } else {
        auto e = sp.get(key);
        if (!e || !e->value().is_number_integer() ||
            !sp.put(key, e->value().get<std::int64_t>() + 1).ok()) {
          failures.fetch_add(1);
          continue;
        }
      }
      auto r = board.promote(sp);
      if (r)
        ++mine_commits;
      else if (r.error().code == bb::errc::conflict)
        ++mine_conflicts;
      else
        failures.fetch_add(1);
    }
    commits.fetch_add(mine_commits);
    conflicts.fetch_add(mine_conflicts);
  });
  if (failures.load() != 0)
    die(std::to_string(failures.load()) + " hot-key attempts failed other than by conflict");
  contention c;
  c.commits_per_s = static_cast<double>(commits.load()) / secs;
  c.abort_rate = static_cast<double>(conflicts.load()) /
                 static_cast<double>(commits.load() + conflicts.load());
  return c;
}

// --- Snapshot point reads -------------------------------------------------------

struct read_fixture {
  bb::blackboard board;
  std::vector<std::string> keys;

  explicit read_fixture(int count) {
    keys.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i)
      keys.push_back("bench/read/" + std::to_string(i));
    const std::size_t batch = board.options().limits.max_ops_per_txn;
    for (std::size_t i = 0; i < keys.size(); i += batch) {
      auto sp = board.begin("bench/loader");
      for (std::size_t j = i; j < std::min(keys.size(), i + batch); ++j)
        if (!sp.put(keys[j], json{{"n", j}, {"label", "value"}}).ok())
          die("preload put failed");
      if (!board.promote(sp).ok())
        die("preload promote failed");
    }
  }
};

double point_reads_per_s(read_fixture& f, int threads, long per_thread) {
  bb::snapshot snap = f.board.snapshot();
  std::atomic<long> misses{0};
  std::atomic<std::uint64_t> sink{0};
  double secs = run_threads(threads, [&](int t) {
    xorshift rng{0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(t + 1)};
    std::uint64_t local = 0;
    long local_misses = 0;
    for (long i = 0; i < per_thread; ++i) {
      const std::string& key = f.keys[rng.next() % f.keys.size()];
      auto e = snap.get(key);
      if (!e || !e->exists())
        ++local_misses;
      else
        local += e->mod_revision();
    }
    misses.fetch_add(local_misses);
    sink.fetch_add(local);
  });
  if (misses.load() != 0)
    die(std::to_string(misses.load()) + " point reads missed a preloaded key");
  return static_cast<double>(per_thread) * threads / secs;
}

// --- Watch delivery latency -----------------------------------------------------

struct latency {
  double median_us = 0;
  double p99_us = 0;
};

/// A watcher blocked in next(); the committer stamps the time just before
/// promote, waits until the watcher has the revision, pauses so the watcher
/// is blocked again, and repeats. Latency = promote call to next() returning.
latency watch_latency(int samples) {
  bb::blackboard board;
  auto w = board.watch("lat", 0);
  if (!w)
    die("watch failed: " + to_string(w.error()));
  bb::watch watch = std::move(*w);
  std::atomic<std::int64_t> stamp_ns{0};
  std::atomic<int> delivered{0};
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(samples));
  std::atomic<bool> failed{false};

  std::thread watcher([&] {
    for (int i = 0; i < samples; ++i) {
      auto r = watch.next(std::chrono::seconds(10));
      auto now = steady::now().time_since_epoch();
      if (!r || !*r) {
        failed = true;
        delivered.store(samples);
        return;
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() -
                stamp_ns.load(std::memory_order_acquire);
      us.push_back(static_cast<double>(ns) / 1000.0);
      delivered.store(i + 1, std::memory_order_release);
    }
  });

  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // let the watcher block
    auto sp = board.begin("bench/committer");
    if (!sp.put("lat/k", i).ok())
      die("latency put failed");
    stamp_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       steady::now().time_since_epoch())
                       .count(),
                   std::memory_order_release);
    if (!board.promote(sp).ok())
      die("latency promote failed");
    while (delivered.load(std::memory_order_acquire) < i + 1)
      std::this_thread::yield();
  }
  watcher.join();
  if (failed.load())
    die("watch delivered nothing within 10 s");
  std::sort(us.begin(), us.end());
  latency l;
  l.median_us = us[us.size() / 2];
  l.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  return l;
}

// --- Machine and output ---------------------------------------------------------



void print_table(const std::vector<figure>& figures, const json& m, const settings& s) {
  std::printf("blackboard_bench: %s, %d cores, %s; %d repetitions%s\n",
              m["cpu"].get<std::string>().c_str(), m["cores"].get<int>(),
              m["kernel"].get<std::string>().c_str(), s.reps, s.quick ? " (quick)" : "");
  std::printf("%-44s %-14s %10s %10s %10s %-10s %10s %7s\n", "case", "metric", "median", "min",
              "max", "unit", "target", "ratio");
  std::printf("%s\n", std::string(122, '-').c_str());
  for (const figure& f : figures) {
    std::string target = f.baseline ? human(*f.baseline) : "-";
    std::string ratio = "-";
    if (f.baseline) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", f.median() / *f.baseline);
      ratio = buf;
    }
    std::printf("%-44s %-14s %10s %10s %10s %-10s %10s %7s\n", f.case_name.c_str(),
                f.metric.c_str(), human(f.median()).c_str(), human(f.min()).c_str(),
                human(f.max()).c_str(), f.unit.c_str(), target.c_str(), ratio.c_str());
  }
}

json to_json(const std::vector<figure>& figures, const json& m) {
  json results = json::array();
  for (const figure& f : figures) {
    double v = f.median();
    results.push_back({{"case", f.case_name},
                       {"metric", f.metric},
                       {"value", v},
                       {"unit", f.unit},
                       {"baseline", f.baseline ? json(*f.baseline) : json(nullptr)},
                       {"ratio", f.baseline ? json(v / *f.baseline) : json(nullptr)}});
  }
  return {{"bench", "blackboard"}, {"machine", m}, {"results", results}};
}

std::optional<settings> parse_args(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      s.quick = true;
    } else if (a == "--reps" && i + 1 < argc) {
      auto n = agora::bench::parse_reps(argv[++i]);
      if (!n) return std::nullopt;
      s.reps = *n;
    } else {
      return std::nullopt;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed) {
    std::cerr << "usage: blackboard_bench [--quick] [--reps N]\n"
                 "  --quick   fewer iterations (smoke test)\n"
                 "  --reps N  repetitions per figure, 5..1000 (default 5; figures are medians)\n";
    return 2;
  }
  const settings s = *parsed;
  const long promotions = s.quick ? 20000 : 300000;  // per repetition, all threads together
  const long hot_attempts = s.quick ? 5000 : 100000;   // per thread
  const long reads = s.quick ? 200000 : 3000000;       // per thread
  const int latency_samples = s.quick ? 200 : 2000;

  const double promo_target = k_target_promotions_per_s;
  figure unc1{"uncontended promote, 1 thread", "promotions/s", "1/s", promo_target, {}};
  figure unc2{"uncontended promote, 2 threads", "promotions/s", "1/s", promo_target, {}};
  figure hot_c{"hot key get+put, 2 threads", "commits/s", "1/s", std::nullopt, {}};
  figure hot_a{"hot key get+put, 2 threads", "abort rate", "fraction", std::nullopt, {}};
  figure mrg_c{"hot key merge (mergeable), 2 threads", "commits/s", "1/s", std::nullopt, {}};
  figure mrg_a{"hot key merge (mergeable), 2 threads", "abort rate", "fraction", std::nullopt, {}};
  figure rd1{"snapshot point reads, 100k keys, 1 thread", "reads/s", "1/s", k_target_reads_per_s, {}};
  figure rd2{"snapshot point reads, 100k keys, 2 threads", "reads/s", "1/s", k_target_reads_per_s, {}};
  figure rdc{"snapshot point reads, 1k keys, 1 thread", "reads/s", "1/s", k_target_reads_per_s, {}};
  figure lat50{"watch delivery latency", "median", "us", std::nullopt, {}};
  figure lat99{"watch delivery latency", "p99", "us", std::nullopt, {}};

  for (int r = 0; r < s.reps; ++r) {
    unc1.samples.push_back(uncontended_promotions_per_s(1, promotions));
    unc2.samples.push_back(uncontended_promotions_per_s(2, promotions / 2));
    auto hc = hot_key(false, hot_attempts);
    hot_c.samples.push_back(hc.commits_per_s);
    hot_a.samples.push_back(hc.abort_rate);
    auto mc = hot_key(true, hot_attempts);
    mrg_c.samples.push_back(mc.commits_per_s);
    mrg_a.samples.push_back(mc.abort_rate);
  }
  {
    read_fixture fixture(k_read_keys);  // loaded once; every repetition reads one snapshot of it
    read_fixture cached(k_cached_read_keys);
    for (int r = 0; r < s.reps; ++r) {
      rd1.samples.push_back(point_reads_per_s(fixture, 1, reads));
      rd2.samples.push_back(point_reads_per_s(fixture, 2, reads));
      rdc.samples.push_back(point_reads_per_s(cached, 1, reads));
    }
  }
  for (int r = 0; r < s.reps; ++r) {
    auto l = watch_latency(latency_samples);
    lat50.samples.push_back(l.median_us);
    lat99.samples.push_back(l.p99_us);
  }

  std::vector<figure> figures{unc1, unc2, hot_c, hot_a, mrg_c, mrg_a, rd1, rd2, rdc, lat50, lat99};
  json m = agora::bench::machine();
  print_table(figures, m, s);
  std::cout << to_json(figures, m).dump() << std::endl;
  return 0;
}
