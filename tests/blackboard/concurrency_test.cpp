// Concurrency: several threads promote at once while readers take snapshots
// and watches stream; afterwards a checker replays the committed history and
// verifies that everything each thread saw is explained by that one order.
//
// Worker threads never use Catch2 macros (Catch2 v2 assertions are not
// thread-safe): they record what they did and saw, plus any problem noticed
// on the spot, and the main thread checks after joining them.
//
// Seeded: AGORA_TEST_SEED=<n> picks every random choice again (the thread
// interleaving still differs from run to run). The seed is printed on failure.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "agora/blackboard/blackboard.hpp"

namespace {

namespace bb = agora::bb;
using bb::json;

// Scales every count in this file. Races show up more often with more
// rounds; at 4 the file takes about 1 s in a RelWithDebInfo build and 5 s
// under AddressSanitizer on two cores (budgets: 20 s and 2 min).
constexpr int k_scale = 4;

constexpr std::uint64_t k_default_seed = 20240611;
constexpr int k_workers = 4;
constexpr int k_attempts_per_worker = 3000 * k_scale;
constexpr int k_counter_keys = 16;
constexpr std::size_t k_log_reset_size = 64;  // logs are reset beyond this many elements
constexpr std::size_t k_max_snapshot_records = 5000 * k_scale;

constexpr int k_tellers = 4;
constexpr int k_transfers_per_teller = 2000 * k_scale;
constexpr int k_accounts = 8;
constexpr std::int64_t k_initial_balance = 100;
constexpr std::int64_t k_bank_total = k_accounts * k_initial_balance;

constexpr std::size_t k_problems_shown = 25;
// Below the 300 s ctest timeout, far above the ~2 min an ASan build needs.
constexpr std::chrono::seconds k_watchdog_limit{240};

// --- Seed -------------------------------------------------------------------

/// The seed from AGORA_TEST_SEED, or the default; nothing for a malformed one.
std::optional<std::uint64_t> test_seed() {
  const char* env = std::getenv("AGORA_TEST_SEED");
  if (env == nullptr || *env == '\0')
    return k_default_seed;
  char* end = nullptr;
  unsigned long long v = std::strtoull(env, &end, 0);
  if (end == env || *end != '\0')
    return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

// --- Watchdog ---------------------------------------------------------------

/// A hung promote() or next() cannot be interrupted, and a test killed by
/// ctest's timeout prints nothing. Past its limit the watchdog prints the
/// seed and the phase the test was in, then aborts.
class watchdog {
 public:
  watchdog(std::uint64_t seed, std::chrono::seconds limit)
      : thread_([this, seed, limit] {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return done_; }))
            return;
          std::fprintf(stderr,
                       "concurrency_test: still %s after %lld s; hung? seed %llu "
                       "(rerun with AGORA_TEST_SEED=%llu)\n",
                       phase_.load(), static_cast<long long>(limit.count()),
                       static_cast<unsigned long long>(seed),
                       static_cast<unsigned long long>(seed));
          std::fflush(stderr);
          std::abort();
        }) {}

  ~watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  /// What the test is doing now; a string literal.
  void phase(const char* what) { phase_.store(what); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<const char*> phase_{"starting"};
  std::thread thread_;  // last: starts once everything above exists
};

// --- Keys -------------------------------------------------------------------
// Counters live under "c/k"; "m/**" is declared mergeable, so appends and
// merges there never conflict, while those onto the "c/..." twins read the key.

constexpr const char* k_counters = "c/k";
constexpr const char* k_plain_log = "c/log/n";
constexpr const char* k_plain_map = "c/merge/n";
constexpr const char* k_mergeable_pattern = "m/**";
constexpr const char* k_mergeable_log = "m/log";
constexpr const char* k_mergeable_map = "m/merge";

std::string counter_key(int i) {
  std::string n = std::to_string(i);
  if (n.size() < 2)
    n.insert(0, 2 - n.size(), '0');
  return std::string(k_counters) + "/" + n;
}

std::string account_key(int i) { return "bank/acct/" + std::to_string(i); }

// Deliberately independent of the library's key_in_prefix.
bool in_prefix(const std::string& key, std::string prefix) {
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();
  if (prefix.empty())
    return true;
  if (key.size() < prefix.size() || key.compare(0, prefix.size(), prefix) != 0)
    return false;
  return key.size() == prefix.size() || key[prefix.size()] == '/';
}

// --- What threads observe ---------------------------------------------------

/// One key as a reader saw it.
struct observed {
  std::string key;
  bool exists = false;
  json value;
  std::uint64_t mod_revision = 0;
};

observed observe(std::string key, const bb::entry& e) {
  observed o;
  o.key = std::move(key);
  o.exists = e.exists();
  o.value = e.value();
  o.mod_revision = e.mod_revision();
  return o;
}

bool operator==(const observed& a, const observed& b) {
  return a.key == b.key && a.exists == b.exists && a.mod_revision == b.mod_revision &&
         (!a.exists || a.value == b.value);
}

std::string describe(const observed& o) {
  if (!o.exists)
    return "'" + o.key + "' absent";
  return "'" + o.key + "'=" + o.value.dump() + "@" + std::to_string(o.mod_revision);
}

std::string describe(const std::vector<observed>& v) {
  std::string s = "[";
  for (const observed& o : v)
    s += (s.size() > 1 ? ", " : "") + describe(o);
  return s + "]";
}

/// The keys on which two key-ordered listings differ, e.g.
/// "'c/k/03'=4@17 vs 'c/k/03'=5@21; 'c/k/09' absent vs 'c/k/09'=0@30".
std::string describe_difference(const std::vector<observed>& a, const std::vector<observed>& b) {
  std::map<std::string, std::pair<const observed*, const observed*>> by_key;
  for (const observed& o : a)
    by_key[o.key].first = &o;
  for (const observed& o : b)
    by_key[o.key].second = &o;
  std::string s;
  for (const auto& [key, pair] : by_key) {
    observed absent{key, false, nullptr, 0};
    const observed& x = pair.first ? *pair.first : absent;
    const observed& y = pair.second ? *pair.second : absent;
    if (!(x == y))
      s += (s.empty() ? "" : "; ") + describe(x) + " vs " + describe(y);
  }
  return s.empty() ? "same keys, different order" : s;
}

std::vector<observed> observe_all(const std::vector<bb::entry>& entries) {
  std::vector<observed> out;
  out.reserve(entries.size());
  for (const bb::entry& e : entries)
    out.push_back(observe(e.key(), e));
  return out;
}

/// A prefix read and what it returned.
struct range_read {
  std::string prefix;
  std::vector<observed> entries;
};

enum class outcome { not_promoted, committed, conflict, failed };

/// One promotion attempt of a worker, everything the checker needs about it.
struct attempt {
  std::string author;
  std::uint64_t base = 0;
  bool blind = false;
  std::string txn_id;
  /// Point reads the promotion depends on: explicit reads through the
  /// scratchpad, the implicit read of a merge/append onto a key that is not
  /// mergeable, and the keys pinned with expect (seen through base()).
  std::vector<observed> reads;
  std::vector<range_read> ranges;
  std::vector<bb::staged_op> ops;

  outcome result = outcome::not_promoted;
  std::uint64_t revision = 0;     // committed at
  std::size_t changes = 0;        // commit_result::changes
  std::uint64_t rev_before = 0;   // board.revision() just before promote
  std::uint64_t rev_after = 0;    // board.revision() just after promote
  std::vector<bb::key_conflict> conflicts;
};

std::string describe(const attempt& a) {
  std::string s = a.author + " base=" + std::to_string(a.base) + (a.blind ? " blind" : "") +
                  " reads=" + describe(a.reads);
  for (const range_read& r : a.ranges)
    s += " list('" + r.prefix + "')=" + describe(r.entries);
  s += " ops=[";
  for (const bb::staged_op& op : a.ops)
    s += std::string(bb::to_string(op.kind)) + " '" + op.key + "' " + op.value.dump() + "; ";
  return s + "]";
}

struct worker_log {
  std::vector<attempt> attempts;
  std::vector<std::string> problems;
};

/// A snapshot read: `list(prefix)` or, when `point`, `get(prefix)`.
struct snapshot_record {
  std::uint64_t revision = 0;
  std::string prefix;
  bool point = false;
  std::vector<observed> entries;
};

// --- Worker -----------------------------------------------------------------

enum class action {
  read_modify_write,  // get 1-3 counters, put each +1
  prefix_sum,         // list("c/k"), put the sum elsewhere (and maybe into the range)
  erase_or_create,    // get a counter; erase it if present, else create it
  append_log,         // append to a mergeable or a non-mergeable log
  merge_map,          // merge patch onto a mergeable or a non-mergeable object
  compare_and_swap,   // expect(counter, seen) + put, blind
  blind_put,          // put without reading, blind
  rmw_and_append,     // one counter +1 and an append onto the mergeable log
};

class worker {
 public:
  worker(bb::blackboard& board, int id, std::uint64_t seed)
      : board_(board), id_(id), author_("worker/" + std::to_string(id)), rng_(seed) {}

  void run(int attempts) {
    for (int i = 0; i < attempts; ++i)
      one(i);
  }

  worker_log log;

 private:
  void problem(const std::string& what) { log.problems.push_back(author_ + ": " + what); }

  bool staged(const bb::status& s, const std::string& what) {
    if (!s.ok())
      problem(what + " failed: " + to_string(s.error()));
    return s.ok();
  }

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::int64_t as_counter(const observed& o) {
    if (!o.exists)
      return 0;
    if (!o.value.is_number_integer()) {
      problem("counter " + describe(o) + " is not an integer");
      return 0;
    }
    return o.value.get<std::int64_t>();
  }

  /// Reads through the scratchpad (recorded by it, and by us).
  std::optional<observed> read(bb::scratchpad& sp, attempt& a, const std::string& key) {
    auto e = sp.get(key);
    if (!e) {
      problem("get '" + key + "': " + to_string(e.error()));
      return std::nullopt;
    }
    a.reads.push_back(observe(key, *e));
    return a.reads.back();
  }

  /// Reads through base(), not recorded by the scratchpad.
  std::optional<observed> peek(const bb::scratchpad& sp, const std::string& key) {
    auto e = sp.base().get(key);
    if (!e) {
      problem("base().get '" + key + "': " + to_string(e.error()));
      return std::nullopt;
    }
    return observe(key, *e);
  }

  bool stage_put(bb::scratchpad& sp, attempt& a, const std::string& key, json v) {
    a.ops.push_back({bb::op_kind::put, key, v});
    return staged(sp.put(key, std::move(v)), "put '" + key + "'");
  }
  bool stage_erase(bb::scratchpad& sp, attempt& a, const std::string& key) {
    a.ops.push_back({bb::op_kind::erase, key, nullptr});
    return staged(sp.erase(key), "erase '" + key + "'");
  }
  bool stage_append(bb::scratchpad& sp, attempt& a, const std::string& key, json v) {
    a.ops.push_back({bb::op_kind::append, key, v});
    return staged(sp.append(key, std::move(v)), "append '" + key + "'");
  }
  bool stage_merge(bb::scratchpad& sp, attempt& a, const std::string& key, json v) {
    a.ops.push_back({bb::op_kind::merge, key, v});
    return staged(sp.merge(key, std::move(v)), "merge '" + key + "'");
  }

  /// Puts counter+1 and checks that the scratchpad reads its own write.
  bool increment(bb::scratchpad& sp, attempt& a, const std::string& key) {
    auto seen = read(sp, a, key);
    if (!seen)
      return false;
    std::int64_t next = as_counter(*seen) + 1;
    if (!stage_put(sp, a, key, next))
      return false;
    auto own = sp.get(key);
    if (!own || !own->exists() || own->value() != json(next) || own->mod_revision() != 0)
      problem("scratchpad does not read its own put of '" + key + "'");
    return true;
  }

  bool stage_log_append(bb::scratchpad& sp, attempt& a, const std::string& key, bool mergeable,
                        int i) {
    auto cur = peek(sp, key);
    if (!cur)
      return false;
    if (cur->exists && cur->value.is_array() && cur->value.size() >= k_log_reset_size)
      return stage_put(sp, a, key, json::array());  // keeps the log small; put reads nothing
    if (!mergeable)
      a.reads.push_back(*cur);  // an append onto a non-mergeable key reads it
    return stage_append(sp, a, key, id_ * 1000000 + i);
  }

  bool stage_action(bb::scratchpad& sp, attempt& a, action act, int i) {
    switch (act) {
      case action::read_modify_write: {
        int n = 1 + pick(3);
        std::set<int> keys;
        while (static_cast<int>(keys.size()) < n)
          keys.insert(pick(k_counter_keys));
        for (int k : keys)
          if (!increment(sp, a, counter_key(k)))
            return false;
        return true;
      }
      case action::prefix_sum: {
        auto l = sp.list(k_counters);
        if (!l) {
          problem(std::string("list '") + k_counters + "': " + to_string(l.error()));
          return false;
        }
        a.ranges.push_back({k_counters, observe_all(*l)});
        std::int64_t sum = 0;
        for (const observed& o : a.ranges.back().entries)
          sum += as_counter(o);
        if (!stage_put(sp, a, "c/sum/" + std::to_string(id_),
                       {{"sum", sum}, {"keys", a.ranges.back().entries.size()}}))
          return false;
        if (chance(0.3))  // a write inside the range just read
          return stage_put(sp, a, counter_key(pick(k_counter_keys)), sum % 7);
        return true;
      }
      case action::erase_or_create: {
        std::string key = counter_key(pick(k_counter_keys));
        auto seen = read(sp, a, key);
        if (!seen)
          return false;
        return seen->exists ? stage_erase(sp, a, key) : stage_put(sp, a, key, 0);
      }
      case action::append_log:
        return chance(0.5) ? stage_log_append(sp, a, k_mergeable_log, true, i)
                           : stage_log_append(sp, a, k_plain_log, false, i);
      case action::merge_map: {
        json patch = {{"t" + std::to_string(id_), i}};
        if (chance(0.2))
          patch["t" + std::to_string((id_ + 1) % k_workers)] = nullptr;  // removes a field
        if (chance(0.5))
          return stage_merge(sp, a, k_mergeable_map, std::move(patch));
        auto cur = peek(sp, k_plain_map);
        if (!cur)
          return false;
        a.reads.push_back(*cur);  // a merge onto a non-mergeable key reads it
        patch["last"] = id_;
        return stage_merge(sp, a, k_plain_map, std::move(patch));
      }
      case action::compare_and_swap: {
        std::string key = counter_key(pick(k_counter_keys));
        auto seen = peek(sp, key);
        if (!seen)
          return false;
        a.blind = true;
        a.reads.push_back(*seen);  // pinned by expect, so still true at commit
        if (!staged(sp.expect(key, seen->mod_revision), "expect '" + key + "'"))
          return false;
        return stage_put(sp, a, key, as_counter(*seen) + 1);
      }
      case action::blind_put:
        a.blind = true;
        return stage_put(sp, a, "o/blind/" + std::to_string(pick(4)), {{"t", id_}, {"i", i}});
      case action::rmw_and_append:
        return increment(sp, a, counter_key(pick(k_counter_keys))) &&
               stage_append(sp, a, k_mergeable_log, id_ * 1000000 + i);
    }
    return false;
  }

  void check_recorded_reads(const bb::scratchpad& sp, const attempt& a) {
    if (a.blind)
      return;
    bb::promotion p = sp.to_promotion();
    for (const observed& o : a.reads) {
      if (o.key == k_plain_log || o.key == k_plain_map)
        continue;  // implicit reads of merge/append may be recorded at promotion instead
      auto it = std::find_if(p.reads.begin(), p.reads.end(),
                             [&](const bb::key_revision& r) { return r.key == o.key; });
      if (it == p.reads.end() || it->mod_revision != o.mod_revision)
        problem("scratchpad did not record the read " + describe(o));
    }
    for (const range_read& r : a.ranges)
      if (std::find(p.ranges.begin(), p.ranges.end(), r.prefix) == p.ranges.end())
        problem("scratchpad did not record the range '" + r.prefix + "'");
  }

  void one(int i) {
    // Relative weights, in the order of enum action.
    static const std::discrete_distribution<int>::param_type weights{30, 15, 10, 15, 10, 8, 5, 7};
    std::discrete_distribution<int> pick_action(weights);
    auto act = static_cast<action>(pick_action(rng_));

    // Now and then start from an older snapshot, which makes conflicts likely.
    std::optional<bb::scratchpad> sp;
    if (chance(0.1)) {
      std::uint64_t latest = board_.revision();
      std::uint64_t rev = latest > 4 ? latest - 1 - static_cast<std::uint64_t>(pick(3)) : latest;
      auto snap = board_.snapshot_at(rev);
      if (!snap) {
        problem("snapshot_at(" + std::to_string(rev) + "): " + to_string(snap.error()));
        return;
      }
      sp.emplace(board_.begin(author_, *snap));
    } else {
      sp.emplace(board_.begin(author_));
    }

    attempt a;
    a.author = author_;
    a.base = sp->base_revision();
    if (!stage_action(*sp, a, act, i))
      return;
    check_recorded_reads(*sp, a);
    if (chance(0.05))
      a.txn_id = author_ + "/" + std::to_string(i);
    // On two cores the threads otherwise run long stretches alone; giving up
    // the CPU between reading and promoting lets others commit in between.
    if (chance(0.25))
      std::this_thread::yield();

    bb::promote_options opts;
    opts.txn_id = a.txn_id;
    opts.isolation = a.blind ? bb::isolation::blind : bb::isolation::serializable;
    a.rev_before = board_.revision();
    auto r = board_.promote(*sp, opts);
    a.rev_after = board_.revision();
    if (r) {
      a.result = outcome::committed;
      a.revision = r->revision;
      a.changes = r->changes;
      if (r->replayed)
        problem("a first promotion was reported as replayed: " + describe(a));
      if (a.revision <= a.rev_before || a.revision > a.rev_after)
        problem("committed at " + std::to_string(a.revision) + " outside (" +
                std::to_string(a.rev_before) + ", " + std::to_string(a.rev_after) + "]");
      if (!a.txn_id.empty())
        check_idempotency(*sp, opts, a);
    } else if (r.error().code == bb::errc::conflict) {
      a.result = outcome::conflict;
      a.conflicts = r.error().conflicts;
    } else {
      a.result = outcome::failed;
      problem("promote failed: " + to_string(r.error()) + " for " + describe(a));
    }
    log.attempts.push_back(std::move(a));
  }

  // A committed txn_id: the same content replays, other content is refused.
  // Neither may commit a revision, which the history check would notice.
  void check_idempotency(const bb::scratchpad& sp, const bb::promote_options& opts,
                         const attempt& a) {
    if (chance(0.5)) {
      auto again = board_.promote(sp, opts);
      if (!again || !again->replayed || again->revision != a.revision)
        problem("retrying txn_id '" + a.txn_id + "' did not replay revision " +
                std::to_string(a.revision));
    } else {
      auto other = board_.begin(author_);
      if (!staged(other.put("o/dup", a.txn_id), "put 'o/dup'"))
        return;
      auto dup = board_.promote(other, opts);
      if (dup || dup.error().code != bb::errc::duplicate_txn)
        problem("reusing txn_id '" + a.txn_id + "' for other content was not refused");
    }
  }

  bb::blackboard& board_;
  int id_;
  std::string author_;
  std::mt19937_64 rng_;
};

// --- Replay -----------------------------------------------------------------

struct replayed_value {
  json value;
  std::uint64_t create_revision = 0;
  std::uint64_t mod_revision = 0;
  std::uint64_t version = 0;
};

using replay_state = std::map<std::string, replayed_value>;

std::vector<observed> replay_list(const replay_state& state, const std::string& prefix) {
  std::vector<observed> out;
  for (auto it = state.lower_bound(prefix); it != state.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0)
      break;
    if (in_prefix(it->first, prefix))
      out.push_back({it->first, true, it->second.value, it->second.mod_revision});
  }
  return out;
}

observed replay_get(const replay_state& state, const std::string& key) {
  auto it = state.find(key);
  if (it == state.end())
    return {key, false, nullptr, 0};
  return {key, true, it->second.value, it->second.mod_revision};
}

/// Per key, every revision that wrote it and its mod_revision afterwards (0 = erased).
class key_timelines {
 public:
  explicit key_timelines(const std::vector<bb::txn_record>& history) {
    for (const bb::txn_record& t : history)
      for (const bb::change& c : t.changes)
        writes_[c.after.key()].emplace_back(t.revision, c.after.exists() ? t.revision : 0);
  }

  std::uint64_t mod_at(const std::string& key, std::uint64_t rev) const {
    const auto* w = writes(key);
    if (w == nullptr)
      return 0;
    auto it = first_after(*w, rev);
    return it == w->begin() ? 0 : std::prev(it)->second;
  }

  bool changed_in(const std::string& key, std::uint64_t after, std::uint64_t up_to) const {
    const auto* w = writes(key);
    if (w == nullptr)
      return false;
    auto it = first_after(*w, after);
    return it != w->end() && it->first <= up_to;
  }

  /// True when some revision in [lo, hi] shows `key` at mod_revision `mod`.
  bool mod_somewhere_in(const std::string& key, std::uint64_t mod, std::uint64_t lo,
                        std::uint64_t hi) const {
    if (mod_at(key, lo) == mod)
      return true;
    const auto* w = writes(key);
    if (w == nullptr)
      return false;
    for (auto it = first_after(*w, lo); it != w->end() && it->first <= hi; ++it)
      if (it->second == mod)
        return true;
    return false;
  }

  std::vector<std::string> keys_in(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& kv : writes_)
      if (in_prefix(kv.first, prefix))
        out.push_back(kv.first);
    return out;
  }

 private:
  using write_list = std::vector<std::pair<std::uint64_t, std::uint64_t>>;  // in revision order

  const write_list* writes(const std::string& key) const {
    auto it = writes_.find(key);
    return it == writes_.end() ? nullptr : &it->second;
  }
  static write_list::const_iterator first_after(const write_list& w, std::uint64_t rev) {
    return std::upper_bound(w.begin(), w.end(), rev,
                            [](std::uint64_t r, const auto& x) { return r < x.first; });
  }

  std::map<std::string, write_list> writes_;
};

std::string diff_records(const bb::txn_record& got, const bb::txn_record& want) {
  std::ostringstream os;
  if (got.revision != want.revision)
    os << "revision " << got.revision << " != " << want.revision << "; ";
  if (got.author != want.author)
    os << "author '" << got.author << "' != '" << want.author << "'; ";
  if (got.txn_id != want.txn_id)
    os << "txn_id '" << got.txn_id << "' != '" << want.txn_id << "'; ";
  if (got.time_us != want.time_us)
    os << "time_us " << got.time_us << " != " << want.time_us << "; ";
  if (got.changes.size() != want.changes.size()) {
    os << got.changes.size() << " changes != " << want.changes.size() << "; ";
    return os.str();
  }
  for (std::size_t i = 0; i < got.changes.size(); ++i) {
    const bb::change& g = got.changes[i];
    const bb::change& w = want.changes[i];
    if (g.kind != w.kind || g.after.key() != w.after.key() ||
        g.after.exists() != w.after.exists() || g.after.value() != w.after.value() ||
        g.after.mod_revision() != w.after.mod_revision() || g.after.author() != w.after.author())
      os << "change " << i << " ('" << g.after.key() << "' vs '" << w.after.key() << "') differs; ";
  }
  return os.str();
}

/// History records reduced to their changes under `prefix`, as a watch or
/// history(prefix) must report them.
std::vector<bb::txn_record> filter(const std::vector<bb::txn_record>& history,
                                   const std::string& prefix) {
  std::vector<bb::txn_record> out;
  for (const bb::txn_record& t : history) {
    bb::txn_record r = t;
    r.changes.clear();
    for (const bb::change& c : t.changes)
      if (in_prefix(c.after.key(), prefix))
        r.changes.push_back(c);
    if (!r.changes.empty())
      out.push_back(std::move(r));
  }
  return out;
}

void check_stream(const std::string& name, const std::vector<bb::txn_record>& got,
                  const std::vector<bb::txn_record>& want, std::vector<std::string>& problems) {
  for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    if (got[i].revision != want[i].revision) {
      std::string why = i > 0 && got[i].revision <= got[i - 1].revision
                            ? "duplicate or out of order"
                        : got[i].revision > want[i].revision ? "gap"
                                                             : "unexpected revision";
      problems.push_back(name + ": " + why + " at position " + std::to_string(i) + ": got " +
                         std::to_string(got[i].revision) + ", expected " +
                         std::to_string(want[i].revision));
      return;
    }
    std::string d = diff_records(got[i], want[i]);
    if (!d.empty()) {
      problems.push_back(name + ": revision " + std::to_string(want[i].revision) + ": " + d);
      return;
    }
  }
  if (got.size() != want.size())
    problems.push_back(name + ": " + std::to_string(got.size()) + " records, expected " +
                       std::to_string(want.size()));
}

/// The values a committed attempt must have written, computed from the
/// state before its revision. Nothing for a key it leaves as it was (an
/// erase of an absent key).
std::map<std::string, std::pair<bb::op_kind, std::optional<json>>>
expected_writes(const attempt& a, const replay_state& before) {
  std::map<std::string, std::pair<bb::op_kind, std::optional<json>>> out;
  for (const bb::staged_op& op : a.ops) {
    bool staged_before = out.count(op.key) > 0;
    auto& slot = out[op.key];
    std::optional<json> cur;
    if (staged_before) {
      cur = slot.second;
    } else if (auto it = before.find(op.key); it != before.end()) {
      cur = it->second.value;
    }
    switch (op.kind) {
      case bb::op_kind::put: cur = op.value; break;
      case bb::op_kind::erase: cur.reset(); break;
      case bb::op_kind::merge: {
        json j = cur ? *cur : json::object();
        j.merge_patch(op.value);
        cur = std::move(j);
        break;
      }
      case bb::op_kind::append: {
        json j = cur ? *cur : json::array();
        j.push_back(op.value);
        cur = std::move(j);
        break;
      }
    }
    slot = {op.kind, std::move(cur)};
  }
  for (auto it = out.begin(); it != out.end();) {
    if (!it->second.second && before.count(it->first) == 0)
      it = out.erase(it);
    else
      ++it;
  }
  return out;
}

void check_committed(const attempt& a, const replay_state& before, const bb::txn_record& rec,
                     std::vector<std::string>& problems) {
  auto fail = [&](const std::string& what) {
    problems.push_back("revision " + std::to_string(rec.revision) + ": " + what + " -- " +
                       describe(a));
  };
  for (const observed& o : a.reads) {
    observed now = replay_get(before, o.key);
    if (!(now == o))
      fail("read " + describe(o) + " but the replay before the commit has " + describe(now));
  }
  for (const range_read& r : a.ranges) {
    auto now = replay_list(before, r.prefix);
    if (now.size() != r.entries.size() || !std::equal(now.begin(), now.end(), r.entries.begin()))
      fail("list('" + r.prefix + "') differs from the replay before the commit (read vs replay): " +
           describe_difference(r.entries, now));
  }
  if (rec.author != a.author)
    fail("history says author '" + rec.author + "'");
  if (rec.txn_id != a.txn_id)
    fail("history says txn_id '" + rec.txn_id + "'");
  if (a.changes != rec.changes.size())
    fail("commit_result::changes " + std::to_string(a.changes) + " but history has " +
         std::to_string(rec.changes.size()));

  auto want = expected_writes(a, before);
  std::set<std::string> seen;
  for (const bb::change& c : rec.changes) {
    const std::string& key = c.after.key();
    seen.insert(key);
    auto it = want.find(key);
    if (it == want.end()) {
      fail("history has a change to '" + key + "' the promotion did not make");
      continue;
    }
    const auto& [kind, value] = it->second;
    if (c.kind != kind)
      fail("'" + key + "' changed by " + bb::to_string(c.kind) + ", staged " +
           bb::to_string(kind));
    if (c.after.exists() != value.has_value() || (value && c.after.value() != *value))
      fail("'" + key + "' became " + (c.after.exists() ? c.after.value().dump() : "absent") +
           ", expected " + (value ? value->dump() : "absent"));
    if (c.after.author() != a.author)
      fail("'" + key + "' written by '" + c.after.author() + "'");
  }
  for (const auto& kv : want)
    if (seen.count(kv.first) == 0)
      fail("history lacks the change to '" + kv.first + "'");
}

/// Applies one history record, checking its bookkeeping.
void apply(const bb::txn_record& rec, replay_state& state, std::vector<std::string>& problems) {
  auto fail = [&](const std::string& what) {
    problems.push_back("history revision " + std::to_string(rec.revision) + ": " + what);
  };
  if (rec.changes.empty())
    fail("a committed revision without changes");
  for (std::size_t i = 0; i < rec.changes.size(); ++i) {
    const bb::change& c = rec.changes[i];
    const std::string& key = c.after.key();
    if (i > 0 && !(rec.changes[i - 1].after.key() < key))
      fail("changes not in strict key order at '" + key + "'");
    if (c.after.mod_revision() != rec.revision)
      fail("'" + key + "' has mod_revision " + std::to_string(c.after.mod_revision()));
    auto prev = state.find(key);
    if (!c.after.exists()) {
      if (c.kind != bb::op_kind::erase)
        fail("'" + key + "' is a tombstone after a " + bb::to_string(c.kind));
      if (prev != state.end())
        state.erase(prev);
      continue;
    }
    std::uint64_t create = prev == state.end() ? rec.revision : prev->second.create_revision;
    std::uint64_t version = prev == state.end() ? 1 : prev->second.version + 1;
    if (c.after.create_revision() != create || c.after.version() != version)
      fail("'" + key + "' has create_revision " + std::to_string(c.after.create_revision()) +
           " version " + std::to_string(c.after.version()) + ", expected " +
           std::to_string(create) + " and " + std::to_string(version));
    state[key] = {c.after.value(), create, rec.revision, version};
  }
}

/// A rejected attempt's conflicts must be real: each listed key was read
/// (or lies in a listed range), changed after the base revision, and shows
/// a mod_revision it had at some point while the promotion ran; every read
/// key that differed from the base for the whole promotion is listed.
void check_conflict(const attempt& a, const key_timelines& keys,
                    std::vector<std::string>& problems) {
  auto fail = [&](const std::string& what) {
    problems.push_back("conflict between revisions " + std::to_string(a.rev_before) + " and " +
                       std::to_string(a.rev_after) + ": " + what + " -- " + describe(a));
  };
  if (a.conflicts.empty())
    fail("errc::conflict without conflicting keys");
  std::set<std::string> listed;
  for (std::size_t i = 0; i < a.conflicts.size(); ++i) {
    const bb::key_conflict& c = a.conflicts[i];
    listed.insert(c.key);
    std::string what = "'" + c.key + "' (" + std::to_string(c.seen_revision) + " -> " +
                       std::to_string(c.current_revision) +
                       (c.range.empty() ? "" : ", range '" + c.range + "'") + ")";
    if (i > 0 && c.key < a.conflicts[i - 1].key)
      fail("conflicts not in key order at " + what);
    if (c.range.empty()) {
      bool read = std::any_of(a.reads.begin(), a.reads.end(),
                              [&](const observed& o) { return o.key == c.key; });
      if (!read)
        fail(what + " was never read");
    } else {
      bool ranged = std::any_of(a.ranges.begin(), a.ranges.end(), [&](const range_read& r) {
        return in_prefix(r.prefix, c.range) && in_prefix(c.range, r.prefix);
      });
      if (!ranged || !in_prefix(c.key, c.range))
        fail(what + " is not in a range that was listed");
    }
    if (c.seen_revision != keys.mod_at(c.key, a.base))
      fail(what + ": the key was at " + std::to_string(keys.mod_at(c.key, a.base)) +
           " at the base revision");
    if (!keys.changed_in(c.key, a.base, a.rev_after))
      fail(what + " did not change after the base revision");
    if (!keys.mod_somewhere_in(c.key, c.current_revision, a.rev_before, a.rev_after))
      fail(what + ": current_revision never held during the promotion");
  }
  // Completeness: a key that differed from the base at every revision the
  // check could have run at must be listed.
  auto must_be_listed = [&](const std::string& key) {
    std::uint64_t base_mod = keys.mod_at(key, a.base);
    if (keys.mod_somewhere_in(key, base_mod, a.rev_before, a.rev_after))
      return;
    if (listed.count(key) == 0)
      fail("'" + key + "' changed since the base revision but is not listed");
  };
  for (const observed& o : a.reads)
    must_be_listed(o.key);
  for (const range_read& r : a.ranges)
    for (const std::string& key : keys.keys_in(r.prefix))
      must_be_listed(key);
}

std::string summarize(const std::vector<std::string>& problems) {
  std::string s = std::to_string(problems.size()) + " problem(s)";
  for (std::size_t i = 0; i < std::min(problems.size(), k_problems_shown); ++i)
    s += "\n  " + problems[i];
  return s;
}

/// Reads every record a watch has for revisions up to `last`.
void drain(bb::watch& w, std::uint64_t last, std::vector<bb::txn_record>& out,
           const std::string& name, std::vector<std::string>& problems) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (out.empty() || out.back().revision < last) {
    if (std::chrono::steady_clock::now() > deadline) {
      problems.push_back(name + ": stalled before revision " + std::to_string(last));
      return;
    }
    auto r = w.next(std::chrono::milliseconds(200));
    if (!r) {
      problems.push_back(name + ": next failed: " + to_string(r.error()));
      return;
    }
    if (*r)
      out.push_back(std::move(**r));
  }
  auto extra = w.try_next();
  if (!extra || *extra)
    problems.push_back(name + ": delivered something past the last revision");
}

}  // namespace

TEST_CASE("blackboard concurrent promotions agree with a replay of history",
          "[blackboard][concurrency]") {
  auto seed = test_seed();
  REQUIRE(seed.has_value());  // AGORA_TEST_SEED must be a number
  INFO("seed " << *seed << " (rerun with AGORA_TEST_SEED=" << *seed << ")");
  watchdog guard(*seed, k_watchdog_limit);

  bb::blackboard_options options;
  options.watch_buffer = 8;  // small, so a watch not read meanwhile falls behind
  bb::blackboard board(options);
  REQUIRE(board.declare_mergeable(k_mergeable_pattern).ok());

  // Both watches start at revision 1 and so must see everything.
  auto all_watch = board.watch("", 1);
  REQUIRE(all_watch.ok());
  auto counter_watch = board.watch(k_counters, 1);
  REQUIRE(counter_watch.ok());
  bb::watch w_all = std::move(*all_watch);
  bb::watch w_counters = std::move(*counter_watch);

  {
    auto sp = board.begin("setup");
    for (int k = 0; k < k_counter_keys; ++k)
      REQUIRE(sp.put(counter_key(k), 0).ok());
    REQUIRE(sp.put(k_plain_log, json::array()).ok());
    REQUIRE(sp.put(k_mergeable_log, json::array()).ok());
    REQUIRE(sp.put(k_plain_map, json::object()).ok());
    REQUIRE(sp.put(k_mergeable_map, json::object()).ok());
    auto r = board.promote(sp);
    REQUIRE(r.ok());
    REQUIRE(r->revision == 1);
  }

  std::atomic<bool> workers_done{false};
  std::vector<std::string> reader_problems;
  std::vector<snapshot_record> snapshots;
  std::vector<std::string> watcher_problems;
  std::vector<bb::txn_record> counter_events;

  std::vector<worker> workers;
  workers.reserve(k_workers);
  for (int t = 0; t < k_workers; ++t)
    workers.emplace_back(board, t, *seed + static_cast<std::uint64_t>(t));

  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&w] { w.run(k_attempts_per_worker); });

  // Reader: latest snapshots, time travel, and one snapshot read again later.
  std::thread reader([&] {
    std::mt19937_64 rng(*seed + 1000);
    std::optional<bb::snapshot> kept;
    auto record_list = [&](const bb::snapshot& s, const std::string& prefix) {
      auto l = s.list(prefix);
      if (!l) {
        reader_problems.push_back("list('" + prefix + "') at " + std::to_string(s.revision()) +
                                  ": " + to_string(l.error()));
        return;
      }
      snapshots.push_back({s.revision(), prefix, false, observe_all(*l)});
    };
    for (std::uint64_t n = 0; !workers_done.load() && snapshots.size() < k_max_snapshot_records;
         ++n) {
      bb::snapshot s = board.snapshot();
      record_list(s, "");
      if (n % 3 == 0 && s.revision() > 0) {
        auto rev = std::uniform_int_distribution<std::uint64_t>(1, s.revision())(rng);
        auto old = board.snapshot_at(rev);
        if (!old) {
          reader_problems.push_back("snapshot_at(" + std::to_string(rev) +
                                    "): " + to_string(old.error()));
          return;
        }
        record_list(*old, k_counters);
        std::string key = counter_key(static_cast<int>(rng() % k_counter_keys));
        auto e = old->get(key);
        if (e)
          snapshots.push_back({rev, key, true, {observe(key, *e)}});
        else
          reader_problems.push_back("get '" + key + "': " + to_string(e.error()));
      }
      if (n % 50 == 0) {
        if (kept)
          record_list(*kept, "");  // the same snapshot, read again after more commits
        kept = s;
      }
      std::this_thread::yield();  // spread the snapshots over the whole run
    }
  });

  // Watcher: keeps up with the counter watch while commits go on.
  std::thread watcher([&] {
    while (!workers_done.load()) {
      auto r = w_counters.next(std::chrono::milliseconds(20));
      if (!r) {
        watcher_problems.push_back("counter watch: next failed: " + to_string(r.error()));
        return;
      }
      if (*r)
        counter_events.push_back(std::move(**r));
    }
  });

  guard.phase("running workers");
  auto started = std::chrono::steady_clock::now();
  for (auto& t : threads)
    t.join();
  workers_done = true;
  guard.phase("joining the reader and the watcher");
  reader.join();
  watcher.join();
  auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();

  std::vector<std::string> problems;
  std::vector<const attempt*> attempts;
  for (const auto& w : workers) {
    problems.insert(problems.end(), w.log.problems.begin(), w.log.problems.end());
    for (const attempt& a : w.log.attempts)
      attempts.push_back(&a);
  }
  problems.insert(problems.end(), reader_problems.begin(), reader_problems.end());
  problems.insert(problems.end(), watcher_problems.begin(), watcher_problems.end());

  guard.phase("checking history");
  const std::uint64_t latest = board.revision();
  auto hist = board.history(1, latest);
  REQUIRE(hist.ok());
  const std::vector<bb::txn_record>& history = *hist;

  // Revisions 1..latest, each once, each owned by exactly one committed
  // promotion (the setup owns revision 1).
  for (std::size_t i = 0; i < history.size(); ++i)
    if (history[i].revision != i + 1) {
      problems.push_back("history position " + std::to_string(i) + " holds revision " +
                         std::to_string(history[i].revision));
      break;
    }
  if (history.size() != latest)
    problems.push_back("history has " + std::to_string(history.size()) +
                       " records for revision " + std::to_string(latest));
  std::map<std::uint64_t, const attempt*> by_revision;
  std::size_t committed = 0, conflicts = 0;
  for (const attempt* a : attempts) {
    if (a->result == outcome::conflict)
      ++conflicts;
    if (a->result != outcome::committed)
      continue;
    ++committed;
    if (a->revision <= 1 || a->revision > latest)
      problems.push_back("committed revision " + std::to_string(a->revision) +
                         " outside history -- " + describe(*a));
    else if (!by_revision.emplace(a->revision, a).second)
      problems.push_back("revision " + std::to_string(a->revision) + " reported twice");
  }
  for (std::uint64_t rev = 2; rev <= latest; ++rev)
    if (by_revision.count(rev) == 0)
      problems.push_back("revision " + std::to_string(rev) + " committed by no promotion");

  // Replay, checking each commit against the state before it and each
  // snapshot against the state at its revision.
  std::multimap<std::uint64_t, const snapshot_record*> snapshots_at;
  for (const snapshot_record& s : snapshots)
    snapshots_at.emplace(s.revision, &s);
  replay_state state;
  for (const bb::txn_record& rec : history) {
    if (auto it = by_revision.find(rec.revision); it != by_revision.end())
      check_committed(*it->second, state, rec, problems);
    apply(rec, state, problems);
    auto [lo, hi] = snapshots_at.equal_range(rec.revision);
    for (auto it = lo; it != hi; ++it) {
      const snapshot_record& s = *it->second;
      std::vector<observed> want = s.point ? std::vector<observed>{replay_get(state, s.prefix)}
                                           : replay_list(state, s.prefix);
      if (want.size() != s.entries.size() ||
          !std::equal(want.begin(), want.end(), s.entries.begin()))
        problems.push_back("snapshot at " + std::to_string(s.revision) +
                           (s.point ? " get('" : " list('") + s.prefix +
                           "') differs from the replay (read vs replay): " +
                           describe_difference(s.entries, want));
    }
  }

  key_timelines timelines(history);
  for (const attempt* a : attempts)
    if (a->result == outcome::conflict)
      check_conflict(*a, timelines, problems);

  // Watches: exactly history filtered by prefix, in order, without gaps or
  // duplicates, whole records.
  guard.phase("draining watches");
  std::vector<bb::txn_record> all_events;
  auto want_all = filter(history, "");
  auto want_counters = filter(history, k_counters);
  drain(w_all, want_all.empty() ? 0 : want_all.back().revision, all_events, "watch('')", problems);
  drain(w_counters, want_counters.empty() ? 0 : want_counters.back().revision, counter_events,
        "watch('c/k')", problems);
  check_stream("watch('')", all_events, want_all, problems);
  check_stream("watch('c/k')", counter_events, want_counters, problems);
  auto prefixed = board.history(1, latest, k_counters);
  REQUIRE(prefixed.ok());
  check_stream("history(1, latest, 'c/k')", *prefixed, want_counters, problems);

  INFO(attempts.size() << " attempts: " << committed << " committed, " << conflicts
                       << " conflicts; " << snapshots.size() << " snapshot reads; " << elapsed_ms
                       << " ms");
  INFO(summarize(problems));
  CHECK(problems.empty());
  CHECK(committed > 0);
  CHECK(conflicts > 0);
  CHECK(snapshots.size() > 0);
  // Nobody read w_all during the run, so it overflowed its buffer of 8.
  CHECK(w_all.times_fell_behind() > 0);
}

TEST_CASE("blackboard bank transfers keep the total at every revision",
          "[blackboard][concurrency]") {
  auto seed = test_seed();
  REQUIRE(seed.has_value());  // AGORA_TEST_SEED must be a number
  INFO("seed " << *seed << " (rerun with AGORA_TEST_SEED=" << *seed << ")");
  watchdog guard(*seed, k_watchdog_limit);

  bb::blackboard board;
  {
    auto sp = board.begin("bank/setup");
    for (int i = 0; i < k_accounts; ++i)
      REQUIRE(sp.put(account_key(i), k_initial_balance).ok());
    auto r = board.promote(sp);
    REQUIRE(r.ok());
    REQUIRE(r->revision == 1);
  }

  struct teller_log {
    std::size_t committed = 0;
    std::size_t retries = 0;
    std::size_t declined = 0;
    std::vector<std::string> problems;
  };
  std::vector<teller_log> tellers(k_tellers);
  std::atomic<bool> done{false};

  auto balance = [](const bb::entry& e, std::vector<std::string>& problems) -> std::int64_t {
    if (!e.exists() || !e.value().is_number_integer()) {
      problems.push_back("account '" + e.key() + "' is missing or not an integer");
      return 0;
    }
    return e.value().get<std::int64_t>();
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < k_tellers; ++t)
    threads.emplace_back([&, t] {
      teller_log& log = tellers[static_cast<std::size_t>(t)];
      std::mt19937_64 rng(*seed + 100 + static_cast<std::uint64_t>(t));
      std::string author = "bank/teller/" + std::to_string(t);
      for (int n = 0; n < k_transfers_per_teller; ++n) {
        int from = static_cast<int>(rng() % k_accounts);
        // Any account but `from`.
        auto step = 1 + rng() % (k_accounts - 1);
        int to = static_cast<int>((static_cast<std::uint64_t>(from) + step) % k_accounts);
        std::int64_t amount = 1 + static_cast<std::int64_t>(rng() % 30);
        for (;;) {  // retry until it commits or is declined
          auto sp = board.begin(author);
          auto a = sp.get(account_key(from));
          auto b = sp.get(account_key(to));
          if (!a || !b) {
            log.problems.push_back(author + ": get failed");
            return;
          }
          std::int64_t have = balance(*a, log.problems);
          std::int64_t other = balance(*b, log.problems);
          if (have < amount) {
            ++log.declined;
            break;
          }
          if (!sp.put(account_key(from), have - amount).ok() ||
              !sp.put(account_key(to), other + amount).ok()) {
            log.problems.push_back(author + ": put failed");
            return;
          }
          if (rng() % 4 == 0)
            std::this_thread::yield();  // let another teller commit in between
          auto r = board.promote(sp);
          if (r) {
            ++log.committed;
            break;
          }
          if (r.error().code != bb::errc::conflict) {
            log.problems.push_back(author + ": promote failed: " + to_string(r.error()));
            return;
          }
          ++log.retries;
        }
      }
    });

  std::vector<std::vector<std::string>> reader_problems(2);
  std::vector<std::size_t> sums_checked(2, 0);
  std::vector<std::thread> readers;
  for (std::size_t r = 0; r < reader_problems.size(); ++r)
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(*seed + 200 + r);
      while (!done.load()) {
        bb::snapshot s = board.snapshot();
        if (r == 1 && s.revision() > 1) {  // time travel: any past revision must hold too
          auto old = board.snapshot_at(1 + rng() % s.revision());
          if (!old) {
            reader_problems[r].push_back("snapshot_at: " + to_string(old.error()));
            return;
          }
          s = *old;
        }
        auto l = s.list("bank/acct");
        if (!l) {
          reader_problems[r].push_back("list: " + to_string(l.error()));
          return;
        }
        std::int64_t sum = 0;
        for (const bb::entry& e : *l)
          sum += balance(e, reader_problems[r]);
        if (sum != k_bank_total || l->size() != k_accounts)
          reader_problems[r].push_back("snapshot at " + std::to_string(s.revision()) + " holds " +
                                       std::to_string(sum) + " in " + std::to_string(l->size()) +
                                       " accounts");
        ++sums_checked[r];
        std::this_thread::yield();  // don't starve the tellers on two cores
      }
    });

  guard.phase("running tellers");
  for (auto& t : threads)
    t.join();
  done = true;
  guard.phase("checking history");
  for (auto& r : readers)
    r.join();

  std::vector<std::string> problems;
  std::size_t committed = 0, retries = 0, declined = 0;
  for (const teller_log& t : tellers) {
    problems.insert(problems.end(), t.problems.begin(), t.problems.end());
    committed += t.committed;
    retries += t.retries;
    declined += t.declined;
  }
  for (const auto& p : reader_problems)
    problems.insert(problems.end(), p.begin(), p.end());

  auto hist = board.history(1, board.revision());
  REQUIRE(hist.ok());
  if (hist->size() != committed + 1)
    problems.push_back("history has " + std::to_string(hist->size()) + " revisions for " +
                       std::to_string(committed) + " transfers + setup");
  std::map<std::string, std::int64_t> accounts;
  for (const bb::txn_record& rec : *hist) {
    if (rec.revision > 1 && rec.changes.size() != 2)
      problems.push_back("revision " + std::to_string(rec.revision) + " changes " +
                         std::to_string(rec.changes.size()) + " accounts");
    for (const bb::change& c : rec.changes)
      accounts[c.after.key()] = balance(c.after, problems);
    std::int64_t sum = 0;
    for (const auto& kv : accounts) {
      sum += kv.second;
      if (kv.second < 0)
        problems.push_back("revision " + std::to_string(rec.revision) + ": '" + kv.first +
                           "' is overdrawn");
    }
    if (sum != k_bank_total)
      problems.push_back("revision " + std::to_string(rec.revision) + " holds " +
                         std::to_string(sum));
  }

  INFO(committed << " transfers, " << retries << " retries, " << declined << " declined; "
                 << sums_checked[0] + sums_checked[1] << " snapshot sums");
  INFO(summarize(problems));
  CHECK(problems.empty());
  CHECK(committed > 0);
  CHECK(sums_checked[0] + sums_checked[1] > 0);
}
