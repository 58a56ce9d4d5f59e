#include "store.hpp"

#include <algorithm>
#include <chrono>

#include "durable_log.hpp"
#include "json_util.hpp"

namespace agora::bb::detail {

namespace {

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

status validate_author(std::string_view author, const limits& lim) {
  if (author.empty()) return error{errc::invalid_argument, "author is empty"};
  if (author.size() > lim.max_key_bytes)
    return error{errc::invalid_argument, "author " + quote_for_message(author) + " is " +
                                             std::to_string(author.size()) +
                                             " bytes, over the limit max_key_bytes=" +
                                             std::to_string(lim.max_key_bytes)};
  for (unsigned char c : author)
    if (c < 0x20 || c == 0x7f)
      return error{errc::invalid_argument,
                   "author " + quote_for_message(author) + " has a control character"};
  if (first_invalid_utf8(author) != std::string_view::npos)
    return error{errc::invalid_argument, "author " + quote_for_message(author) +
                                             " is not valid UTF-8"};
  return {};
}

// Visits every key record in the subtree of a normalized prefix, in key order.
template <class Index, class Fn>
void for_each_in_prefix(const Index& index, std::string_view prefix, Fn&& fn) {
  if (prefix.empty()) {
    for (const auto& [k, rec] : index) fn(*rec);
    return;
  }
  if (auto it = index.find(prefix); it != index.end()) fn(*it->second);
  // Keys below the prefix are exactly those in ["prefix/", "prefix0"): '0' follows '/'.
  std::string lo(prefix);
  lo += '/';
  std::string hi(prefix);
  hi += '0';
  for (auto it = index.lower_bound(std::string_view(lo));
       it != index.end() && it->first < std::string_view(hi); ++it)
    fn(*it->second);
}

std::string conflict_message(const std::vector<key_conflict>& cs, std::uint64_t base) {
  std::string msg = std::to_string(cs.size()) + (cs.size() == 1 ? " key" : " keys") +
                    " changed since the snapshot at revision " + std::to_string(base) + ":";
  std::size_t shown = 0;
  for (const auto& c : cs) {
    if (shown++ == 8) {
      msg += " ...";
      break;
    }
    msg += " " + quote_for_message(c.key) + " (" + std::to_string(c.seen_revision) + " -> " +
           std::to_string(c.current_revision) + ")";
    if (!c.range.empty()) msg += " in range " + quote_for_message(c.range);
  }
  return msg;
}

}  // namespace

key_record::key_record(std::string_view k)
    : key_len(static_cast<std::uint32_t>(k.size())), hash(key_hash(k)) {
  if (k.size() <= small_key_bytes) k.copy(small_key, k.size());
  else big_key = std::string(k);
}

const version_ptr* key_record::at(std::uint64_t rev) const noexcept {
  if (latest && latest->mod_revision <= rev) return &latest;
  auto it = std::upper_bound(older.begin(), older.end(), rev,
                             [](std::uint64_t r, const auto& v) { return r < v.first; });
  if (it == older.begin()) return nullptr;
  return &std::prev(it)->second;
}

void key_record::push(version_ptr v) {
  if (latest) older.emplace_back(latest->mod_revision, std::move(latest));
  latest = std::move(v);
}

bool key_record::compact(std::uint64_t rev) {
  if (latest->mod_revision <= rev) {
    // Only the newest version is visible from `rev` on; a tombstone reads
    // the same as nothing at all.
    older.clear();
    if (older.capacity() > 64) older.shrink_to_fit();  // a once-hot key gives its memory back
    return !latest->deleted;
  }
  // Keep the version visible at `rev` and everything after it.
  auto keep = std::upper_bound(older.begin(), older.end(), rev,
                               [](std::uint64_t r, const auto& v) { return r < v.first; });
  if (keep != older.begin()) {
    --keep;
    if (keep->second->deleted) ++keep;
  }
  older.erase(older.begin(), keep);
  return true;
}

key_record* key_table::find(std::string_view key, std::size_t hash) const noexcept {
  for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const slot& s = slots_[i];
    if (!s.rec) return nullptr;
    if (s.hash == hash && s.rec->key() == key) return s.rec;
  }
}

void key_table::insert(key_record* rec) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  std::size_t i = rec->hash & mask_;
  while (slots_[i].rec) i = (i + 1) & mask_;
  slots_[i] = slot{rec->hash, rec};
  ++size_;
}

void key_table::erase(const key_record* rec) noexcept {
  std::size_t i = rec->hash & mask_;
  while (slots_[i].rec != rec) i = (i + 1) & mask_;
  // Backward-shift deletion keeps every probe sequence unbroken.
  std::size_t j = i;
  while (true) {
    j = (j + 1) & mask_;
    if (!slots_[j].rec) break;
    std::size_t home = slots_[j].hash & mask_;
    // Move slots_[j] into the hole unless its home lies cyclically in (i, j].
    bool home_in_between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_in_between) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = slot{};
  --size_;
}

void key_table::grow() {
  std::vector<slot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const slot& s : old) {
    if (!s.rec) continue;
    std::size_t i = s.hash & mask_;
    while (slots_[i].rec) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

bool touches(const txn_record& r, std::string_view prefix) noexcept {
  if (prefix.empty()) return true;
  for (const auto& c : r.changes)
    if (key_in_prefix(c.after.key(), prefix)) return true;
  return false;
}

txn_record filtered(const txn_record& r, std::string_view prefix) {
  txn_record out;
  out.revision = r.revision;
  out.txn_id = r.txn_id;
  out.author = r.author;
  out.time_us = r.time_us;
  out.trace = r.trace;
  if (prefix.empty()) {
    out.changes = r.changes;
  } else {
    for (const auto& c : r.changes)
      if (key_in_prefix(c.after.key(), prefix)) out.changes.push_back(c);
  }
  return out;
}

store::store(blackboard_options opts) : opts_(opts) {
  if (opts_.watch_buffer == 0) opts_.watch_buffer = 1;
}

store::~store() {
  if (durable_) durable_->stop();
}

result<std::shared_ptr<store>> store::open_durable(const durability& d, blackboard_options opts) {
  auto s = std::make_shared<store>(opts);
  auto log = durable_log::open(d, *s);
  if (!log) return std::move(log).take_error();
  s->durable_ = std::move(*log);
  s->durable_->start();
  return s;
}

std::optional<error> store::write_failure() const {
  return durable_ ? durable_->failure() : std::nullopt;
}

void store::restore_version(version_ptr v) {
  key_record* kr = table_.find(v->key, key_hash(v->key));
  if (!kr) {
    auto fresh = std::make_unique<key_record>(v->key);
    kr = fresh.get();
    index_.emplace(kr->key(), std::move(fresh));
    table_.insert(kr);
  }
  kr->push(std::move(v));
}

void store::restore_record(record_ptr rec, std::vector<version_ptr> versions) {
  for (auto& v : versions) restore_version(std::move(v));
  if (history_.empty()) hist_base_ = rec->revision;
  history_.push_back(std::move(rec));
}

void store::restore_idempotency(std::string txn_id, std::uint64_t revision, std::uint64_t hash,
                                std::size_t changes) {
  idem_.emplace(std::move(txn_id), idem_record{revision, hash, changes, 0});
}

void store::finish_restore(std::uint64_t head, std::uint64_t compact_rev) {
  if (history_.empty()) hist_base_ = head + 1;
  head_ = head;
  rev_.store(head, std::memory_order_release);
  compact_rev_.store(compact_rev, std::memory_order_release);
}

void store::publish(const std::vector<commit_item>& group) {
  std::vector<std::shared_ptr<watcher>> wake;
  {
    std::lock_guard commit(commit_mu_);
    for (const auto& item : group) {
      if (!item.rec) continue;
      rev_.store(item.rec->revision, std::memory_order_release);
      feed_watchers(item.rec, wake);
    }
  }
  wake_watchers(wake);
}

const key_record* store::find(std::string_view key) const noexcept {
  return table_.find(key, key_hash(key));
}

static error compacted_error(std::uint64_t rev, std::uint64_t compact_rev) {
  return error{errc::compacted, "revision " + std::to_string(rev) +
                                    " is below the compaction point " +
                                    std::to_string(compact_rev)};
}

result<entry> store::get(std::string_view key, std::uint64_t rev) const {
  if (auto s = validate_key(key, opts_.limits.max_key_bytes); !s) return std::move(s).take_error();
  std::shared_lock lock(state_mu_);
  if (auto c = compact_rev_.load(std::memory_order_relaxed); rev < c) return compacted_error(rev, c);
  const key_record* rec = find(key);
  if (!rec) return entry{};
  const version_ptr* v = rec->at(rev);
  if (!v || (*v)->deleted) return entry{};
  return entry{*v};
}

result<std::vector<entry>> store::list(std::string_view prefix, std::uint64_t rev) const {
  if (auto s = validate_prefix(prefix, opts_.limits.max_key_bytes); !s)
    return std::move(s).take_error();
  prefix = normalize_prefix(prefix);
  std::vector<entry> out;
  std::shared_lock lock(state_mu_);
  if (auto c = compact_rev_.load(std::memory_order_relaxed); rev < c) return compacted_error(rev, c);
  for_each_in_prefix(index_, prefix, [&](const key_record& rec) {
    const version_ptr* v = rec.at(rev);
    if (v && !(*v)->deleted) out.emplace_back(*v);
  });
  return out;
}

result<std::vector<record_ptr>> store::records(std::uint64_t from, std::uint64_t to) const {
  std::vector<record_ptr> out;
  std::shared_lock lock(state_mu_);
  if (auto c = compact_rev_.load(std::memory_order_relaxed); from < c)
    return compacted_error(from, c);
  std::uint64_t last = std::min(to, rev_.load(std::memory_order_relaxed));
  if (from > last) return out;
  out.reserve(last - from + 1);
  for (std::uint64_t r = from; r <= last; ++r) out.push_back(history_[r - hist_base_]);
  return out;
}

status store::validate_untrusted(const promotion& p) const {
  const limits& lim = opts_.limits;
  for (const auto& op : p.ops) {
    if (auto s = validate_key(op.key, lim.max_key_bytes); !s) return s;
    if (auto s = check_staged(op.kind, op.key, op.value, lim); !s) return s;
  }
  for (const auto& r : p.reads)
    if (auto s = validate_key(r.key, lim.max_key_bytes); !s) return s;
  for (const auto& e : p.expects)
    if (auto s = validate_key(e.key, lim.max_key_bytes); !s) return s;
  for (const auto& r : p.ranges)
    if (auto s = validate_prefix(r, lim.max_key_bytes); !s) return s;
  return {};
}

result<commit_result> store::promote(
    const promotion& p, promotion* movable, const std::unordered_map<std::string, std::uint64_t>* point_reads,
    const std::vector<std::string>* ranges, bool trusted, const promote_options& opts) {
  const limits& lim = opts_.limits;
  // Step 0: well-formedness, which needs no shared state.
  if (auto s = validate_author(p.author, lim); !s) return std::move(s).take_error();
  if (p.ops.size() > lim.max_ops_per_txn)
    return error{errc::limit_exceeded, "promotion has " + std::to_string(p.ops.size()) +
                                           " operations, over the limit max_ops_per_txn=" +
                                           std::to_string(lim.max_ops_per_txn)};
  if (!trusted)
    if (auto s = validate_untrusted(p); !s) return s.error();
  const bool serializable = opts.isolation != isolation::blind;
  const std::uint64_t hash = opts.txn_id.empty() ? 0 : stable_content_hash(p);

  std::unique_lock commit(commit_mu_);
  if (closed_.load(std::memory_order_relaxed))
    return error{errc::watch_closed, "the blackboard is closed"};
  // A durable store that failed to write refuses before anything else, so a
  // retry never gets a "replayed" revision that is not durable.
  if (durable_ && durable_->failed()) return *durable_->failure();
  const std::uint64_t visible = rev_.load(std::memory_order_relaxed);
  // In memory the newest revision is the visible one; a durable store may
  // have assigned revisions that are not durable (visible) yet.
  const std::uint64_t cur = durable_ ? head_ : visible;
  if (p.base_revision > visible)
    return error{errc::future_revision, "promotion's base revision " +
                                            std::to_string(p.base_revision) +
                                            " is after the latest revision " +
                                            std::to_string(visible)};

  // Step 1: idempotency.
  if (!opts.txn_id.empty()) {
    if (auto it = idem_.find(opts.txn_id); it != idem_.end()) {
      if (it->second.hash != hash)
        return error{errc::duplicate_txn,
                     "transaction id " + quote_for_message(opts.txn_id) +
                         " was committed at revision " + std::to_string(it->second.revision) +
                         " with different content"};
      commit_result replay{it->second.revision, opts.txn_id, true, it->second.changes};
      if (durable_ && it->second.seq != 0 && !durable_->acked(it->second.seq)) {
        // The original is still on its way to the disk: answer when it is there.
        const std::uint64_t seq = it->second.seq;
        commit.unlock();
        if (auto s = durable_->wait(seq); !s) return std::move(s).take_error();
      }
      return replay;
    }
  }

  // Step 2: access.
  if (opts_.access == access_control::registered) {
    auto agent = agents_.find(p.author);
    if (agent == agents_.end())
      return error{errc::unknown_agent,
                   "author " + quote_for_message(p.author) + " is not a registered agent"};
    for (const auto& op : p.ops) {
      bool allowed = std::any_of(agent->second.begin(), agent->second.end(),
                                 [&](const key_pattern& kp) { return kp.matches(op.key); });
      if (!allowed)
        return error{errc::forbidden,
                     "agent " + quote_for_message(p.author) + " may not write key " +
                         quote_for_message(op.key),
                     op.key};
    }
  }

  // Group the operations by key, in key order, keeping their order per key.
  std::vector<std::size_t>& order = order_;
  order.resize(p.ops.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (order.size() > 1)
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return p.ops[a].key < p.ops[b].key; });

  // Step 3: the value each key ends with; limits and contracts on it.
  std::vector<key_effect>& effects = effects_;
  effects.clear();
  for (std::size_t g = 0; g < order.size();) {
    std::size_t end = g;
    const std::string& key = p.ops[order[g]].key;
    while (end < order.size() && p.ops[order[end]].key == key) ++end;
    key_effect fx;
    fx.key = key;
    fx.rec = find(key);
    const version_data* latest = fx.rec ? fx.rec->newest() : nullptr;
    // Start from the last put/erase, or from the current value.
    std::size_t start = g;
    for (std::size_t i = end; i-- > g;) {
      const auto& op = p.ops[order[i]];
      if (op.kind == op_kind::put || op.kind == op_kind::erase) {
        start = i;
        break;
      }
    }
    const auto& first = p.ops[order[start]];
    bool need_check = false;
    if (first.kind == op_kind::put || first.kind == op_kind::erase) {
      fx.exists = first.kind == op_kind::put;
      if (fx.exists) fx.value = movable ? std::move(movable->ops[order[start]].value) : first.value;
      fx.last_kind = first.kind;
      ++start;
    } else {
      fx.depends_on_current = true;
      fx.exists = latest && !latest->deleted;
      if (fx.exists) fx.value = latest->value;
    }
    for (std::size_t i = start; i < end; ++i) {
      const auto& op = p.ops[order[i]];
      fx.last_kind = op.kind;
      need_check = true;
      if (op.kind == op_kind::merge) {
        if (!fx.exists) fx.value = json::object();
        apply_merge_patch(fx.value, op.value);
      } else {  // append
        if (!fx.exists) fx.value = json::array();
        if (!fx.value.is_array()) return not_an_array(key, fx.value);
        fx.value.push_back(op.value);
      }
      fx.exists = true;
    }
    if (fx.exists && need_check)
      if (auto s = check_value(fx.value, key, lim); !s) return std::move(s).take_error();
    if (fx.exists) {
      for (const auto& [pattern, c] : contracts_) {
        if (!pattern.matches(key)) continue;
        if (auto v = c.check(fx.value))
          return error{errc::contract_violation,
                       "value for key " + quote_for_message(key) + " breaks the contract of " +
                           quote_for_message(pattern.str()) +
                           (v->path.empty() ? std::string() : " at " + v->path) + ": " +
                           v->message,
                       key, v->path};
      }
    }
    effects.push_back(std::move(fx));
    g = end;
  }

  // Step 4: conflicts.
  std::vector<key_conflict> conflicts;
  auto latest_mod = [](const key_record* rec) -> std::uint64_t {
    return rec && rec->newest() ? rec->newest()->mod_revision : 0;
  };
  auto live_mod = [](const key_record* rec) -> std::uint64_t {
    const version_data* v = rec ? rec->newest() : nullptr;
    return v && !v->deleted ? v->mod_revision : 0;
  };
  auto seen_at_base = [&](const key_record* rec) -> std::uint64_t {
    const version_ptr* v = rec ? rec->at(p.base_revision) : nullptr;
    return v && !(*v)->deleted ? (*v)->mod_revision : 0;
  };
  if (serializable) {
    if (auto c = compact_rev_.load(std::memory_order_relaxed); p.base_revision < c)
      return error{errc::compacted, "scratchpad's snapshot at revision " +
                                        std::to_string(p.base_revision) +
                                        " is below the compaction point " + std::to_string(c) +
                                        "; its reads cannot be validated"};
    auto check_point = [&](std::string_view key) {
      const key_record* rec = find(key);
      if (latest_mod(rec) > p.base_revision)
        conflicts.push_back({std::string(key), seen_at_base(rec), live_mod(rec), {}});
    };
    if (p.base_revision < cur) {
      if (point_reads) {
        for (const auto& [key, mod] : *point_reads) check_point(key);
      } else {
        for (const auto& r : p.reads) check_point(r.key);
      }
      for (const auto& fx : effects) {
        if (!fx.depends_on_current) continue;
        if (std::any_of(mergeable_.begin(), mergeable_.end(),
                        [&](const key_pattern& kp) { return kp.matches(fx.key); }))
          continue;
        check_point(fx.key);
      }
      for (const std::string& range : ranges ? *ranges : p.ranges) {
        std::string_view pre = normalize_prefix(range);
        for_each_in_prefix(index_, pre, [&](const key_record& rec) {
          if (latest_mod(&rec) > p.base_revision)
            conflicts.push_back({std::string(rec.key()), seen_at_base(&rec), live_mod(&rec), std::string(pre)});
        });
      }
    }
    // A promotion built elsewhere may claim reads its base never showed.
    if (!point_reads) {
      for (const auto& r : p.reads) {
        const key_record* rec = find(r.key);
        if (latest_mod(rec) <= p.base_revision && seen_at_base(rec) != r.mod_revision)
          conflicts.push_back({r.key, r.mod_revision, live_mod(rec), {}});
      }
    }
  }
  for (const auto& e : p.expects) {
    std::uint64_t now = live_mod(find(e.key));
    if (now != e.mod_revision) conflicts.push_back({e.key, e.mod_revision, now, {}});
  }
  if (!conflicts.empty()) {
    std::sort(conflicts.begin(), conflicts.end(), [](const key_conflict& a, const key_conflict& b) {
      return a.key != b.key ? a.key < b.key : a.range < b.range;
    });
    conflicts.erase(std::unique(conflicts.begin(), conflicts.end(),
                                [](const key_conflict& a, const key_conflict& b) {
                                  return a.key == b.key;
                                }),
                    conflicts.end());
    error e{errc::conflict, conflict_message(conflicts, p.base_revision)};
    if (conflicts.size() == 1) e.key = conflicts.front().key;
    // A durable store may find the conflict in a promotion that is not
    // durable (visible) yet. Answer once it is, so that a retry's fresh
    // snapshot sees the change instead of conflicting on it again and
    // again while the sync runs.
    bool pending = false;
    for (const auto& c : conflicts) pending = pending || c.current_revision > visible;
    e.conflicts = std::move(conflicts);
    if (durable_ && pending) {
      const std::uint64_t seq = durable_->last_seq();
      commit.unlock();
      if (auto s = durable_->wait(seq); !s) return std::move(s).take_error();
    }
    return e;
  }

  // Step 5: commit.
  const std::uint64_t next = cur + 1;
  auto rec = std::make_shared<txn_record>();
  rec->revision = next;
  rec->txn_id = opts.txn_id;
  rec->author = p.author;
  rec->time_us = now_us();
  rec->trace = opts.trace;
  // Everything that allocates happens before the exclusive lock.
  std::vector<version_ptr>& versions = versions_;
  versions.clear();
  std::vector<std::unique_ptr<key_record>>& fresh = fresh_;
  fresh.clear();
  fresh.resize(effects.size());
  for (std::size_t i = 0; i < effects.size(); ++i) {
    key_effect& fx = effects[i];
    const version_data* latest = fx.rec ? fx.rec->newest() : nullptr;
    const bool live_now = latest && !latest->deleted;
    if (!fx.exists && !live_now) continue;  // erasing what is not there
    auto v = std::make_shared<version_data>();
    v->key = std::string(fx.key);
    v->author = p.author;
    v->mod_revision = next;
    if (fx.exists) {
      v->value = std::move(fx.value);
      v->create_revision = live_now ? latest->create_revision : next;
      v->version = live_now ? latest->version + 1 : 1;
    } else {
      v->deleted = true;
    }
    rec->changes.push_back(change{fx.last_kind, entry{v}});
    versions.push_back(std::move(v));
    if (!fx.rec) {
      auto kr = std::make_unique<key_record>(fx.key);
      fresh[versions.size() - 1] = std::move(kr);
    }
  }
  if (versions.empty()) {
    if (durable_) return promote_nothing_durable(commit, cur, hash, opts);
    if (!opts.txn_id.empty()) idem_.emplace(opts.txn_id, idem_record{cur, hash, 0, 0});
    return commit_result{cur, opts.txn_id, false, 0};
  }
  if (!opts.txn_id.empty()) idem_.reserve(idem_.size() + 1);

  {
    std::unique_lock state(state_mu_);
    for (std::size_t i = 0; i < versions.size(); ++i) {
      key_record* kr;
      if (fresh[i]) {
        kr = fresh[i].get();
        std::string_view k = kr->key();
        index_.emplace(k, std::move(fresh[i]));
        table_.insert(kr);
      } else {
        kr = table_.find(versions[i]->key, key_hash(versions[i]->key));
      }
      kr->push(std::move(versions[i]));
    }
    if (history_.empty()) hist_base_ = next;
    history_.push_back(rec);
    if (durable_) head_ = next;  // visible once durable: store::publish
    else rev_.store(next, std::memory_order_release);
  }
  if (durable_) return promote_durable_tail(commit, std::move(rec), hash);
  if (!opts.txn_id.empty())
    idem_.emplace(opts.txn_id, idem_record{next, hash, rec->changes.size(), 0});

  std::vector<std::shared_ptr<watcher>> wake;
  feed_watchers(rec, wake);
  if (opts_.retain_revisions && next - compact_revision() >= 2 * opts_.retain_revisions)
    compact_locked(next - opts_.retain_revisions);
  commit.unlock();
  wake_watchers(wake);
  return commit_result{next, opts.txn_id, false, rec->changes.size()};
}

// Hands the record to live watchers; a full buffer sends its watcher back
// to history. Needs commit_mu_ held.
void store::feed_watchers(const record_ptr& rec, std::vector<std::shared_ptr<watcher>>& wake) {
  for (const auto& w : watchers_) {
    if (!touches(*rec, w->prefix)) continue;
    std::lock_guard wl(w->mu);
    if (!w->live || w->failure) continue;
    if (w->queue.size() >= w->capacity) {
      w->live = false;
      ++w->fell_behind;
      continue;
    }
    w->queue.push_back(rec);
    w->fetch_from = rec->revision + 1;
    if (w->queue.size() == 1) wake.push_back(w);
  }
}

void store::wake_watchers(const std::vector<std::shared_ptr<watcher>>& wake) {
  for (const auto& w : wake) {
    std::function<void()> fn;
    {
      std::lock_guard wl(w->mu);
      if (w->reader_waiting) w->cv.notify_one();
      fn = w->on_ready;
    }
    if (fn) fn();
  }
}

result<commit_result> store::promote_durable_tail(std::unique_lock<std::mutex>& commit,
                                                  record_ptr rec, std::uint64_t hash) {
  commit_item item;
  item.rec = rec;
  item.txn_id = rec->txn_id;
  item.idem_revision = rec->revision;
  item.hash = hash;
  item.changes = rec->changes.size();
  const std::uint64_t seq = durable_->enqueue(std::move(item));
  if (!rec->txn_id.empty())
    idem_.emplace(rec->txn_id, idem_record{rec->revision, hash, rec->changes.size(), seq});
  commit.unlock();
  if (auto s = durable_->wait(seq); !s) return std::move(s).take_error();
  return commit_result{rec->revision, rec->txn_id, false, rec->changes.size()};
}

result<commit_result> store::promote_nothing_durable(std::unique_lock<std::mutex>& commit,
                                                     std::uint64_t cur, std::uint64_t hash,
                                                     const promote_options& opts) {
  // Nothing to log, but the answer (revision `cur`) may name revisions that
  // are not durable yet, and an idempotency record must survive a restart:
  // queue an item that waits for everything before it.
  if (opts.txn_id.empty() && cur == rev_.load(std::memory_order_relaxed))
    return commit_result{cur, opts.txn_id, false, 0};
  commit_item item;
  item.txn_id = opts.txn_id;
  item.idem_revision = cur;
  item.hash = hash;
  const std::uint64_t seq = durable_->enqueue(std::move(item));
  if (!opts.txn_id.empty()) idem_.emplace(opts.txn_id, idem_record{cur, hash, 0, seq});
  commit.unlock();
  if (auto s = durable_->wait(seq); !s) return std::move(s).take_error();
  return commit_result{cur, opts.txn_id, false, 0};
}

status store::compact(std::uint64_t rev) {
  std::unique_lock commit(commit_mu_);
  const std::uint64_t cur = rev_.load(std::memory_order_relaxed);
  if (rev > cur)
    return error{errc::future_revision, "cannot compact to revision " + std::to_string(rev) +
                                            ": the latest revision is " + std::to_string(cur)};
  if (rev <= compact_rev_.load(std::memory_order_relaxed)) return {};
  if (!durable_) {
    compact_locked(rev);
    return {};
  }
  // On disk first, in the committer's order; the committer then compacts
  // the memory (compact_published).
  if (durable_->failed()) return *durable_->failure();
  commit_item item;
  item.what = commit_item::kind::compaction;
  item.compact_to = rev;
  const std::uint64_t seq = durable_->enqueue(std::move(item));
  commit.unlock();
  return durable_->wait(seq);
}

void store::compact_published(std::uint64_t rev) {
  std::lock_guard commit(commit_mu_);
  if (rev > compact_rev_.load(std::memory_order_relaxed)) compact_locked(rev);
}

std::uint64_t store::retention_due() const noexcept {
  const std::uint64_t r = opts_.retain_revisions;
  const std::uint64_t cur = rev_.load(std::memory_order_acquire);
  if (r && cur - compact_revision() >= 2 * r) return cur - r;
  return 0;
}

void store::compact_locked(std::uint64_t rev) {
  std::vector<std::unique_ptr<key_record>> dead;  // destroyed after the lock is released
  std::vector<record_ptr> dropped;
  {
    std::unique_lock state(state_mu_);
    // Only keys written at revisions in [old compaction point, rev] can hold
    // versions that no read at >= rev needs: compaction costs what was
    // written since the last one, not the size of the board.
    const std::uint64_t last = std::min(rev, rev_.load(std::memory_order_relaxed));
    for (std::uint64_t r = hist_base_; r <= last && r - hist_base_ < history_.size(); ++r) {
      for (const change& c : history_[r - hist_base_]->changes) {
        key_record* kr = table_.find(c.after.key(), key_hash(c.after.key()));
        if (!kr || kr->compact(rev)) continue;
        table_.erase(kr);
        auto it = index_.find(kr->key());
        dead.push_back(std::move(it->second));
        index_.erase(it);
      }
    }
    while (!history_.empty() && history_.front()->revision < rev) {
      dropped.push_back(std::move(history_.front()));
      history_.pop_front();
      ++hist_base_;
    }
    if (history_.empty()) hist_base_ = rev_.load(std::memory_order_relaxed) + 1;
    compact_rev_.store(rev, std::memory_order_release);
  }
}

status store::set_contract(std::string_view pattern, contract c) {
  auto kp = key_pattern::parse(pattern);
  if (!kp) return std::move(kp).take_error();
  std::lock_guard commit(commit_mu_);
  contracts_.emplace_back(std::move(*kp), std::move(c));
  return {};
}

status store::declare_mergeable(std::string_view pattern) {
  auto kp = key_pattern::parse(pattern);
  if (!kp) return std::move(kp).take_error();
  std::lock_guard commit(commit_mu_);
  mergeable_.push_back(std::move(*kp));
  return {};
}

status store::register_agent(std::string_view agent, const std::vector<std::string>& patterns) {
  if (auto s = validate_author(agent, opts_.limits); !s) return s;
  std::vector<key_pattern> compiled;
  for (const auto& p : patterns) {
    auto kp = key_pattern::parse(p);
    if (!kp) return std::move(kp).take_error();
    compiled.push_back(std::move(*kp));
  }
  std::lock_guard commit(commit_mu_);
  agents_[std::string(agent)] = std::move(compiled);
  return {};
}

result<std::shared_ptr<watcher>> store::add_watch(std::string_view prefix, std::uint64_t from) {
  if (auto s = validate_prefix(prefix, opts_.limits.max_key_bytes); !s)
    return std::move(s).take_error();
  auto w = std::make_shared<watcher>();
  w->owner = weak_from_this();
  w->prefix = std::string(normalize_prefix(prefix));
  w->capacity = opts_.watch_buffer;
  std::lock_guard commit(commit_mu_);
  if (closed_.load(std::memory_order_relaxed))
    return error{errc::watch_closed, "the blackboard is closed"};
  const std::uint64_t cur = rev_.load(std::memory_order_relaxed);
  if (from == 0) from = cur + 1;
  if (from > cur + 1)
    return error{errc::future_revision, "cannot watch from revision " + std::to_string(from) +
                                            ": the latest revision is " + std::to_string(cur)};
  if (auto c = compact_rev_.load(std::memory_order_relaxed); from < c)
    return compacted_error(from, c);
  w->next_rev = from;
  w->fetch_from = from;
  w->live = from == cur + 1;
  watchers_.push_back(w);
  return w;
}

bool store::try_go_live(const std::shared_ptr<watcher>& w) {
  std::lock_guard commit(commit_mu_);
  std::lock_guard wl(w->mu);
  if (w->failure) return true;
  if (w->fetch_from != rev_.load(std::memory_order_relaxed) + 1) return false;
  w->live = true;
  return true;
}

void store::remove_watch(const watcher* w) {
  std::lock_guard commit(commit_mu_);
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                 [&](const auto& p) { return p.get() == w; }),
                  watchers_.end());
}

void store::close() {
  if (durable_) {
    {
      std::lock_guard commit(commit_mu_);
      closed_.store(true, std::memory_order_release);
    }
    // Without commit_mu_: the committer takes it to publish what is queued.
    durable_->stop();
  }
  std::vector<std::shared_ptr<watcher>> ws;
  {
    std::lock_guard commit(commit_mu_);
    closed_.store(true, std::memory_order_release);
    ws.swap(watchers_);
  }
  for (const auto& w : ws) {
    std::function<void()> fn;
    {
      std::lock_guard wl(w->mu);
      if (!w->failure) w->failure = error{errc::watch_closed, "the blackboard was destroyed"};
      w->cv.notify_all();
      fn = w->on_ready;
    }
    if (fn) fn();
  }
}

}  // namespace agora::bb::detail
