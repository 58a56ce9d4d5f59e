// Small helpers shared by the blackboard tests: readable failure output for
// the error codes, one-line commits, and a before/after comparison that
// proves a rejected promotion changed nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

namespace Catch {
template <>
struct StringMaker<agora::bb::errc> {
  static std::string convert(agora::bb::errc c) {
    return c == agora::bb::errc{} ? std::string("no error") : agora::bb::to_string(c);
  }
};
template <>
struct StringMaker<agora::bb::op_kind> {
  static std::string convert(agora::bb::op_kind k) { return agora::bb::to_string(k); }
};
template <>
struct StringMaker<agora::bb::key_conflict> {
  static std::string convert(const agora::bb::key_conflict& c) {
    return "{" + c.key + " " + std::to_string(c.seen_revision) + "->" +
           std::to_string(c.current_revision) + (c.range.empty() ? "" : " in " + c.range) + "}";
  }
};
}  // namespace Catch

namespace agora::bb::test {

/// "ok", or the error as to_string renders it; for INFO().
template <class R>
std::string describe(const R& r) {
  return r.ok() ? std::string("ok") : to_string(r.error());
}

/// The error code of a failed result, errc{} ("no error") for a success.
template <class R>
errc code_of(const R& r) {
  return r.ok() ? errc{} : r.error().code;
}

using key_values = std::vector<std::pair<std::string, json>>;

/// Puts every pair in one promotion by `author` and requires it to commit.
inline commit_result commit_puts(blackboard& b, const key_values& kvs,
                                 const std::string& author = "writer",
                                 const promote_options& opts = {}) {
  auto sp = b.begin(author);
  for (const auto& [k, v] : kvs) {
    auto s = sp.put(k, v);
    INFO("put " << k << ": " << describe(s));
    REQUIRE(s.ok());
  }
  auto r = b.promote(sp, opts);
  INFO("promote: " << describe(r));
  REQUIRE(r.ok());
  return *r;
}

/// Commits one put and returns its revision.
inline std::uint64_t commit_put(blackboard& b, const std::string& key, const json& v,
                                const std::string& author = "writer") {
  return commit_puts(b, {{key, v}}, author).revision;
}

/// Commits one erase and returns its revision.
inline std::uint64_t commit_erase(blackboard& b, const std::string& key,
                                  const std::string& author = "writer") {
  auto sp = b.begin(author);
  auto s = sp.erase(key);
  INFO("erase " << key << ": " << describe(s));
  REQUIRE(s.ok());
  auto r = b.promote(sp);
  INFO("promote: " << describe(r));
  REQUIRE(r.ok());
  return r->revision;
}

/// The value at `key` in the latest revision (null when absent).
inline json value_of(const blackboard& b, const std::string& key) {
  auto e = b.get(key);
  INFO("get " << key << ": " << describe(e));
  REQUIRE(e.ok());
  return e->value();
}

/// Everything a reader can observe of a board.
struct board_state {
  std::uint64_t revision = 0;
  json contents;  // key -> {value, create, mod, version, author}
  json history;   // revision -> {txn_id, author, keys}
};

inline board_state observe(const blackboard& b) {
  board_state s;
  s.revision = b.revision();
  s.contents = json::object();
  s.history = json::array();
  auto all = b.snapshot().list("");
  REQUIRE(all.ok());
  for (const entry& e : *all)
    s.contents[e.key()] = {{"value", e.value()},
                           {"create", e.create_revision()},
                           {"mod", e.mod_revision()},
                           {"version", e.version()},
                           {"author", e.author()}};
  const std::uint64_t from = std::max<std::uint64_t>(1, b.compact_revision());
  if (from <= s.revision) {
    auto h = b.history(from);
    REQUIRE(h.ok());
    for (const txn_record& t : *h) {
      json keys = json::array();
      for (const change& c : t.changes) keys.push_back(c.after.key());
      s.history.push_back({{"rev", t.revision}, {"txn", t.txn_id}, {"author", t.author},
                           {"keys", keys}});
    }
  }
  return s;
}

/// Checks that nothing observable changed since `before`.
inline void check_unchanged(const blackboard& b, const board_state& before) {
  const board_state now = observe(b);
  CHECK(now.revision == before.revision);
  CHECK(now.contents == before.contents);
  CHECK(now.history == before.history);
}

}  // namespace agora::bb::test
