// The promotion target: bytes decoded into a blackboard's configuration and
// a sequence of operations on it, of which promotions are what matter: a
// scratchpad's staged writes, or a promotion built field by field as it
// arrives from another process (arbitrary keys, values, merge patches,
// operation kinds, revisions). Every promotion goes through the whole
// validate -> commit path and is checked against a model of the state.
#include <map>
#include <optional>
#include <variant>

#include "agora/blackboard/blackboard.hpp"
#include "support.hpp"

namespace agora::fuzz {

namespace {

using bb::json;
using state = std::map<std::string, json>;

const char* const segments[] = {"a", "b", "c", "runs"};
const char* const patterns[] = {"a/*", "a/**", "**", "b", "*/c", "runs/*/b"};
const char* const authors[] = {"alice/1", "bob/2", "x"};
const char* const txn_ids[] = {"", "t1", "t2", "t3"};
const char* const schemas[] = {
    R"({"type": "object", "required": ["a"]})",
    R"({"type": "array", "maxItems": 3, "items": {"type": "integer"}})",
    R"({"type": "integer", "minimum": 0, "maximum": 100})",
    R"({"type": ["string", "null"], "maxLength": 4})",
    R"({"enum": [1, "x", null, {"a": 1}]})",
    R"({"type": "object", "additionalProperties": {"type": "number"}})",
};

std::string key(input& in) {
  const std::uint8_t k = in.byte();
  if (k >= 240) return in.bytes(24);  // anything: exercises validation
  std::string out = segments[k % 4];
  for (int i = 0; i < (k >> 2) % 3; ++i) out.append("/").append(segments[(k >> (4 + i)) % 4]);
  return out;
}

std::string author(input& in) {
  const std::uint8_t a = in.byte();
  return a >= 250 ? in.bytes(16) : authors[a % 3];
}

json value(input& in) {
  switch (in.byte() % 8) {
    case 0: return json::object();
    case 1: return json::array();
    case 2: return in.byte();
    case 3: return "s";
    case 4: return json{{"a", in.byte()}};
    case 5: return json{{"a", nullptr}, {"b", json::array({1, 2})}};
    default: {
      json j = json::parse(in.bytes(64), nullptr, false);
      return j.is_discarded() ? json() : j;
    }
  }
}

/// Every key's value in a snapshot.
std::optional<state> read_all(const bb::snapshot& s) {
  auto all = s.list("");
  if (!all) return std::nullopt;
  state out;
  for (const auto& e : *all) out.emplace(e.key(), e.value());
  return out;
}

std::string describe(const state& s) {
  json j = json::object();
  for (const auto& [k, v] : s) j[k] = v;
  return text(j);
}

std::string describe(const bb::promotion& p) {
  json ops = json::array();
  for (const auto& op : p.ops) ops.push_back({static_cast<int>(op.kind), op.key, op.value});
  return "promotion by '" + p.author + "' at " + std::to_string(p.base_revision) + " " + text(ops);
}

/// The state after `p` commits onto `s`. nullopt when the model says the
/// commit cannot succeed (an append onto a value that is not an array).
/// A put or erase makes the key's earlier operations in the same promotion
/// irrelevant: the blackboard does not evaluate them (an append onto a
/// non-array that a later put overrides does not fail the promotion).
std::optional<state> apply(state s, const bb::promotion& p) {
  std::map<std::string, std::size_t> last_overwrite;
  for (std::size_t i = 0; i < p.ops.size(); ++i)
    if (p.ops[i].kind == bb::op_kind::put || p.ops[i].kind == bb::op_kind::erase) last_overwrite[p.ops[i].key] = i;
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    const auto& op = p.ops[i];
    if (auto it = last_overwrite.find(op.key); it != last_overwrite.end() && i < it->second) continue;
    switch (op.kind) {
      case bb::op_kind::put: s[op.key] = op.value; break;
      case bb::op_kind::erase: s.erase(op.key); break;
      case bb::op_kind::merge: {
        json cur = s.count(op.key) ? s[op.key] : json();
        cur.merge_patch(op.value);
        s[op.key] = std::move(cur);
        break;
      }
      case bb::op_kind::append: {
        json& cur = s[op.key];
        if (cur.is_null()) cur = json::array();
        if (!cur.is_array()) return std::nullopt;
        cur.push_back(op.value);
        break;
      }
    }
  }
  return s;
}

struct world {
  bb::blackboard board;
  std::vector<std::pair<std::string, bb::contract>> contracts;
  state model;
  std::optional<bb::scratchpad> sp;
  // The last promotion and how it went, for retries.
  std::variant<std::monostate, bb::scratchpad, bb::promotion> last;
  bb::promote_options last_opts;
  std::optional<bb::commit_result> last_result;

  explicit world(bb::blackboard_options o) : board(std::move(o)) {}
};

void check_contracts(const world& w, const state& s) {
  for (const auto& [k, v] : s)
    for (const auto& [pattern, c] : w.contracts) {
      auto pat = bb::key_pattern::parse(pattern);
      if (pat && pat->matches(k))
        AGORA_FUZZ_CHECK(!c.check(v), "committed value of '" + k + "' breaks contract on " + pattern);
    }
}

/// Promotes with `promote` and checks the outcome against the model.
template <class Promote>
void promote_and_check(world& w, const bb::promotion& content, const bb::promote_options& opts,
                       Promote&& promote) {
  const std::uint64_t rev0 = w.board.revision();
  const auto before = read_all(w.board.snapshot());
  AGORA_FUZZ_CHECK(before && *before == w.model, "state differs from the model before promoting");
  bb::result<bb::commit_result> r = promote();
  const auto after = read_all(w.board.snapshot());
  AGORA_FUZZ_CHECK(after.has_value(), "latest snapshot unreadable");
  if (!r) {
    AGORA_FUZZ_CHECK(w.board.revision() == rev0, "a failed promotion moved the revision: " + bb::to_string(r.error()));
    AGORA_FUZZ_CHECK(*after == *before, "a failed promotion changed the state: " + bb::to_string(r.error()));
    AGORA_FUZZ_CHECK(!r.error().message.empty(), "error without a message");
    if (r.error().code == bb::errc::conflict) AGORA_FUZZ_CHECK(!r.error().conflicts.empty(), "conflict names no key");
    return;
  }
  if (r->replayed) {
    AGORA_FUZZ_CHECK(w.board.revision() == rev0 && *after == *before, "a replayed promotion changed the board");
    AGORA_FUZZ_CHECK(r->revision <= rev0, "a replay returned a future revision");
    return;
  }
  for (const auto& op : content.ops)
    AGORA_FUZZ_CHECK(op.kind >= bb::op_kind::put && op.kind <= bb::op_kind::append,
                     "a promotion with an unknown operation kind committed");
  auto expected = apply(w.model, content);
  AGORA_FUZZ_CHECK(expected.has_value(), "an append onto a non-array committed: " + describe(content) +
                                             " onto " + describe(*before) + " gave " + describe(*after));
  if (r->revision == rev0) {
    // Nothing written (only erases of absent keys): no revision.
    AGORA_FUZZ_CHECK(w.board.revision() == rev0 && *after == *before && *expected == *before,
                     "a promotion that committed no revision changed something");
    return;
  }
  AGORA_FUZZ_CHECK(r->revision == rev0 + 1 && w.board.revision() == rev0 + 1,
                   "commit at " + std::to_string(r->revision) + " after revision " + std::to_string(rev0));
  AGORA_FUZZ_CHECK(*after == *expected, "state after " + describe(content) + " is " + describe(*after) +
                                            ", the model says " + describe(*expected));
  w.model = *after;
  check_contracts(w, *after);
  // History records the commit, and the old revision still reads as before.
  auto h = w.board.history(r->revision, r->revision);
  AGORA_FUZZ_CHECK(h && h->size() == 1 && (*h)[0].revision == r->revision && (*h)[0].changes.size() == r->changes &&
                       (*h)[0].author == content.author && (*h)[0].txn_id == opts.txn_id,
                   "history of the new revision");
  if (rev0 >= w.board.compact_revision()) {
    auto old = w.board.snapshot_at(rev0);
    AGORA_FUZZ_CHECK(old.ok(), "previous revision unreadable");
    auto then = read_all(*old);
    AGORA_FUZZ_CHECK(then && *then == *before, "previous revision changed by a commit");
  }
}

bb::promote_options options(input& in) {
  bb::promote_options o;
  const std::uint8_t b = in.byte();
  o.txn_id = txn_ids[b % 4];
  o.isolation = (b & 4) ? bb::isolation::blind : bb::isolation::serializable;
  return o;
}

/// A promotion as it arrives from another process: every field from the input.
bb::promotion raw_promotion(input& in, std::uint64_t rev) {
  bb::promotion p;
  p.author = author(in);
  p.base_revision = in.number(rev + 2);
  for (int n = in.byte() % 5; n > 0; --n) {
    // Kinds 0 and 5 are not op_kinds: a peer may still send them.
    p.ops.push_back(bb::staged_op{static_cast<bb::op_kind>(in.byte() % 6), key(in), value(in)});
  }
  for (int n = in.byte() % 3; n > 0; --n) p.reads.push_back(bb::key_revision{key(in), in.number(rev + 1)});
  for (int n = in.byte() % 2; n > 0; --n) p.ranges.push_back(in.flag() ? std::string() : key(in));
  for (int n = in.byte() % 2; n > 0; --n) p.expects.push_back(bb::key_revision{key(in), in.number(rev + 1)});
  return p;
}

void check_staging(bb::scratchpad& sp, std::size_t before, const bb::status& s) {
  if (s) {
    AGORA_FUZZ_CHECK(sp.size() == before + 1, "a staged write did not stage one operation");
  } else {
    AGORA_FUZZ_CHECK(sp.size() == before, "a refused write staged something: " + bb::to_string(s.error()));
    AGORA_FUZZ_CHECK(!s.error().message.empty(), "error without a message");
  }
}

}  // namespace

int fuzz_promotion(const std::uint8_t* data, std::size_t size) {
  return guarded("promotion", [&] {
    input in(data, size);
    bb::blackboard_options o;
    o.limits.max_key_bytes = 4 + in.byte() % 60;
    o.limits.max_value_bytes = 16 + 16 * std::size_t{in.byte()};
    o.limits.max_ops_per_txn = 1 + in.byte() % 16;
    o.limits.max_depth = 1 + in.byte() % 8;
    const std::uint8_t setup = in.byte();
    o.access = (setup & 1) ? bb::access_control::registered : bb::access_control::open;
    o.retain_revisions = (setup & 2) ? 1 + (setup >> 5) : 0;
    world w(o);

    for (int n = in.byte() % 3; n > 0; --n) {
      const std::string pattern = patterns[in.byte() % 6];
      auto c = bb::contract::from_schema(json::parse(schemas[in.byte() % 6]));
      AGORA_FUZZ_CHECK(c.ok(), "fixed schema");
      AGORA_FUZZ_CHECK(w.board.set_contract(pattern, *c).ok(), "set_contract");
      w.contracts.emplace_back(pattern, *c);
    }
    if (setup & 4) AGORA_FUZZ_CHECK(w.board.declare_mergeable(patterns[in.byte() % 6]).ok(), "declare_mergeable");
    if (o.access == bb::access_control::registered)
      for (const std::string a : authors) {
        auto s = w.board.register_agent(a, {patterns[in.byte() % 6], patterns[in.byte() % 6]});
        // Authors are bounded like keys.
        AGORA_FUZZ_CHECK(s.ok() == (a.size() <= o.limits.max_key_bytes), "register_agent '" + a + "'");
      }

    for (int steps = 0; !in.empty() && steps < 64; ++steps) {
      const std::uint64_t rev = w.board.revision();
      switch (in.byte() % 12) {
        case 0: {  // a new scratchpad, on the latest or an older snapshot
          std::string a = author(in);
          if (in.flag() && rev > 0) {
            auto s = w.board.snapshot_at(in.number(rev));
            if (s) w.sp.emplace(w.board.begin(std::move(a), *s));
            else AGORA_FUZZ_CHECK(s.error().code == bb::errc::compacted, bb::to_string(s.error()));
          } else {
            w.sp.emplace(w.board.begin(std::move(a)));
          }
          break;
        }
        case 1: case 2: case 3: case 4: {  // stage a write
          if (!w.sp) w.sp.emplace(w.board.begin(authors[0]));
          const std::uint8_t kind = in.byte() % 4;
          std::string k = key(in);
          const std::size_t before = w.sp->size();
          bb::status s;
          if (kind == 0) s = w.sp->put(k, value(in));
          if (kind == 1) s = w.sp->erase(k);
          if (kind == 2) s = w.sp->merge(k, value(in));
          if (kind == 3) s = w.sp->append(k, value(in));
          check_staging(*w.sp, before, s);
          break;
        }
        case 5: {  // pin a key
          if (!w.sp) break;
          std::string k = key(in);
          (void)w.sp->expect(k, in.number(rev + 1));
          break;
        }
        case 6: {  // recorded reads
          if (!w.sp) break;
          std::string k = key(in);
          if (in.flag()) (void)w.sp->get(k);
          else (void)w.sp->list(in.flag() ? std::string() : k);
          break;
        }
        case 7: {  // promote the scratchpad
          if (!w.sp) break;
          bb::promote_options opts = options(in);
          bb::promotion content = w.sp->to_promotion();
          bb::scratchpad copy = *w.sp;
          std::optional<bb::commit_result> got;
          promote_and_check(w, content, opts, [&] {
            auto r = w.board.promote(*w.sp, opts);
            if (r) got = *r;
            return r;
          });
          w.last = std::move(copy);
          w.last_opts = opts;
          w.last_result = got;
          w.sp.reset();
          break;
        }
        case 8: {  // a promotion built elsewhere
          bb::promotion p = raw_promotion(in, rev);
          bb::promote_options opts = options(in);
          std::optional<bb::commit_result> got;
          promote_and_check(w, p, opts, [&] {
            bb::promotion moved = p;
            auto r = in.flag() ? w.board.promote(p, opts) : w.board.promote(std::move(moved), opts);
            if (r) got = *r;
            return r;
          });
          w.last = std::move(p);
          w.last_opts = opts;
          w.last_result = got;
          break;
        }
        case 9: {  // retry the last promotion, as a client in doubt does
          // Only a promotion that committed a revision leaves an idempotency record.
          const bool idempotent = w.last_result && w.last_result->changes > 0 && !w.last_result->replayed &&
                                  !w.last_opts.txn_id.empty();
          std::optional<bb::result<bb::commit_result>> r;
          if (auto* sp = std::get_if<bb::scratchpad>(&w.last)) {
            const bb::promotion content = sp->to_promotion();
            promote_and_check(w, content, w.last_opts, [&] {
              r.emplace(w.board.promote(*sp, w.last_opts));
              return *r;
            });
          } else if (auto* p = std::get_if<bb::promotion>(&w.last)) {
            promote_and_check(w, *p, w.last_opts, [&] {
              r.emplace(w.board.promote(*p, w.last_opts));
              return *r;
            });
          }
          if (idempotent && r) {
            AGORA_FUZZ_CHECK(r->ok(), "retry of committed txn '" + w.last_opts.txn_id + "' failed: " +
                                          bb::to_string(r->error()));
            AGORA_FUZZ_CHECK((*r)->revision == w.last_result->revision,
                             "retry of txn '" + w.last_opts.txn_id + "' got another revision");
            AGORA_FUZZ_CHECK((*r)->replayed, "retry was not a replay");
          }
          break;
        }
        case 10: {  // compaction
          const std::uint64_t to = in.number(rev + 1);
          auto s = w.board.compact(to);
          if (to > rev) {
            AGORA_FUZZ_CHECK(!s && s.error().code == bb::errc::future_revision, "compact beyond the latest revision");
          } else {
            AGORA_FUZZ_CHECK(s.ok(), "compact: " + bb::to_string(s.error()));
            AGORA_FUZZ_CHECK(w.board.compact_revision() >= to, "compact_revision below the compaction");
            if (to > 1) {
              auto old = w.board.snapshot_at(to - 1);
              AGORA_FUZZ_CHECK(!old && old.error().code == bb::errc::compacted, "compacted revision still readable");
            }
          }
          AGORA_FUZZ_CHECK(read_all(w.board.snapshot()) == w.model, "compaction changed the state");
          break;
        }
        default: {  // reads with arbitrary arguments
          const std::uint64_t from = in.number(rev + 1);
          const std::uint64_t to = in.number(rev + 1);
          std::string prefix = in.flag() ? std::string() : key(in);
          auto h = w.board.history(from, to, prefix);
          if (h)
            for (const auto& rec : *h)
              AGORA_FUZZ_CHECK(rec.revision >= from && rec.revision <= std::min(to, rev), "history out of range");
          auto s = w.board.snapshot_at(from);
          if (s) {
            auto l = s->list(prefix);
            if (l)
              for (const auto& e : *l) AGORA_FUZZ_CHECK(bb::key_in_prefix(e.key(), bb::normalize_prefix(prefix)),
                                                        "list returned a key outside the prefix");
          }
          break;
        }
      }
    }
  });
}

}  // namespace agora::fuzz
