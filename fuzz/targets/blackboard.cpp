// Fuzz targets of the blackboard's small parsers: contracts (JSON Schema
// subset), keys and key patterns, and JSON text as values travel between
// actors.
#include <optional>

#include "agora/blackboard/blackboard.hpp"
#include "support.hpp"

namespace agora::fuzz {

namespace {

using bb::json;

bool same_verdict(const std::optional<bb::contract_violation>& a,
                  const std::optional<bb::contract_violation>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->path == b->path && a->message == b->message);
}

void check_pointer(const std::string& path) {
  AGORA_FUZZ_CHECK(path.empty() || path.front() == '/', "path '" + path + "' is not a JSON pointer");
  try {
    json::json_pointer p(path);
  } catch (const json::exception& e) {
    fail("path '" + path + "' is not a JSON pointer: " + e.what());
  }
}

}  // namespace

int fuzz_contract(const std::uint8_t* data, std::size_t size) {
  return guarded("contract", [&] {
    json doc = json::parse(data, data + size, nullptr, false);
    if (doc.is_discarded() || !doc.is_array() || doc.empty()) return;
    auto c = bb::contract::from_schema(doc[0]);
    if (!c) {
      AGORA_FUZZ_CHECK(c.error().code == bb::errc::invalid_contract, bb::to_string(c.error()));
      AGORA_FUZZ_CHECK(!c.error().message.empty(), "empty message");
      return;
    }
    // The schema as another process would receive it.
    auto again = bb::contract::from_schema(json::parse(text(doc[0]), nullptr, false));
    AGORA_FUZZ_CHECK(again.ok(), "schema " + text(doc[0]) + " stops compiling after a JSON round trip");

    bb::blackboard board;
    AGORA_FUZZ_CHECK(board.set_contract("k/*", *c).ok(), "set_contract");
    for (std::size_t i = 1; i < doc.size() && i <= 8; ++i) {
      const json& v = doc[i];
      auto verdict = c->check(v);
      AGORA_FUZZ_CHECK(same_verdict(verdict, c->check(v)), "check is not deterministic");
      const json v2 = json::parse(text(v), nullptr, false);
      AGORA_FUZZ_CHECK(same_verdict(verdict, c->check(v2)),
                       "verdict on " + text(v) + " changes after a JSON round trip of the value");
      AGORA_FUZZ_CHECK(same_verdict(verdict, again->check(v)),
                       "verdict on " + text(v) + " changes after a JSON round trip of the schema");
      if (verdict) {
        check_pointer(verdict->path);
        AGORA_FUZZ_CHECK(!verdict->message.empty(), "violation without a message");
      }
      // The blackboard enforces the same verdict on a promotion.
      const std::string key = "k/" + std::to_string(i);
      auto sp = board.begin("fuzz/contract");
      if (auto s = sp.put(key, v); !s) {
        AGORA_FUZZ_CHECK(s.error().code == bb::errc::invalid_value || s.error().code == bb::errc::limit_exceeded,
                         bb::to_string(s.error()));
        continue;
      }
      const std::uint64_t before = board.revision();
      auto r = board.promote(sp);
      if (verdict) {
        AGORA_FUZZ_CHECK(!r && r.error().code == bb::errc::contract_violation,
                         "the blackboard accepted " + text(v) + ", which check() refuses");
        AGORA_FUZZ_CHECK(board.revision() == before, "a failed promotion moved the revision");
      } else {
        AGORA_FUZZ_CHECK(r.ok(), "the blackboard refused " + text(v) + ", which check() accepts: " +
                                     bb::to_string(r.error()));
        auto e = board.get(key);
        AGORA_FUZZ_CHECK(e.ok() && e->exists() && e->value() == v, "value read back differs");
      }
    }
  });
}

int fuzz_key(const std::uint8_t* data, std::size_t size) {
  return guarded("key", [&] {
    input in(data, size);
    const std::size_t max = 1 + in.byte();
    const std::string s(in.rest());
    const std::string_view sv = s;

    auto k = bb::validate_key(s, max);
    if (k) {
      AGORA_FUZZ_CHECK(!s.empty() && s.size() <= max, "accepted key of bad length");
      AGORA_FUZZ_CHECK(s.front() != '/' && s.back() != '/' && s.find("//") == std::string::npos,
                       "accepted key with an empty segment");
      for (unsigned char c : s) AGORA_FUZZ_CHECK(c >= 0x20 && c != 0x7f, "accepted a control character");
      AGORA_FUZZ_CHECK(bb::validate_prefix(s, max).ok(), "a valid key is not a valid prefix");
      AGORA_FUZZ_CHECK(bb::key_in_prefix(s, ""), "the empty prefix misses a key");
      AGORA_FUZZ_CHECK(bb::key_in_prefix(s, s), "a key is not in its own prefix");
      for (std::size_t p = sv.find('/'); p != std::string_view::npos; p = sv.find('/', p + 1))
        AGORA_FUZZ_CHECK(bb::key_in_prefix(s, sv.substr(0, p)), "a key is not in its parent's prefix");
      AGORA_FUZZ_CHECK(!bb::key_in_prefix(s, s + "x"), "a key is in a longer prefix");
    } else {
      auto code = k.error().code;
      AGORA_FUZZ_CHECK(code == bb::errc::invalid_key || code == bb::errc::limit_exceeded, bb::to_string(k.error()));
      AGORA_FUZZ_CHECK(!k.error().message.empty(), "empty message");
    }

    if (auto p = bb::validate_prefix(s, max); p) {
      const std::string_view norm = bb::normalize_prefix(s);
      if (!norm.empty())
        AGORA_FUZZ_CHECK(bb::validate_key(norm, max).ok(), "a valid prefix normalizes to an invalid key");
    } else {
      AGORA_FUZZ_CHECK(!p.error().message.empty(), "empty message");
    }

    auto pat = bb::key_pattern::parse(s);
    if (!pat) {
      AGORA_FUZZ_CHECK(pat.error().code == bb::errc::invalid_argument, bb::to_string(pat.error()));
      return;
    }
    AGORA_FUZZ_CHECK(pat->str() == s, "pattern text changed");
    if (!k) return;
    // A valid key, read as a pattern: it matches itself when it has no wildcard,
    // and so do patterns made from it with wildcards.
    if (s.find('*') == std::string::npos)
      AGORA_FUZZ_CHECK(pat->matches(s), "a pattern without wildcards misses its own text");
    auto any = bb::key_pattern::parse("**");
    AGORA_FUZZ_CHECK(any && any->matches(s), "** misses a key");
    auto deep = bb::key_pattern::parse("**/" + s);
    if (s.find('*') == std::string::npos)
      AGORA_FUZZ_CHECK(deep && deep->matches(s), "**/key misses key");
    const auto slash = sv.find('/');
    auto first_star = bb::key_pattern::parse("*" + std::string(slash == std::string_view::npos ? "" : sv.substr(slash)));
    if (sv.substr(slash == std::string_view::npos ? sv.size() : slash).find('*') == std::string_view::npos)
      AGORA_FUZZ_CHECK(first_star && first_star->matches(s), "*/rest misses key");
  });
}

int fuzz_json_text(const std::uint8_t* data, std::size_t size) {
  return guarded("json_text", [&] {
    // What actors' detail::load_json does with a value that arrives as text.
    json j = json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return;
    // dump() throws on invalid UTF-8; parsed text never holds any.
    const std::string t = j.dump();
    json back = json::parse(t, nullptr, false);
    AGORA_FUZZ_CHECK(!back.is_discarded() && back == j, "JSON text round trip changed " + t);
    AGORA_FUZZ_CHECK(back.dump() == t, "dump is not a fixed point");

    // Then the blackboard stores it (as a staged put would arrive) and a
    // reader gets it back as text.
    bb::blackboard board;
    bb::promotion p;
    p.author = "fuzz/json_text";
    p.ops.push_back(bb::staged_op{bb::op_kind::put, "v", j});
    auto r = board.promote(std::move(p));
    if (!r) {
      auto code = r.error().code;
      AGORA_FUZZ_CHECK(code == bb::errc::invalid_value || code == bb::errc::limit_exceeded, bb::to_string(r.error()));
      AGORA_FUZZ_CHECK(board.revision() == 0, "a failed promotion moved the revision");
      return;
    }
    auto e = board.get("v");
    AGORA_FUZZ_CHECK(e.ok() && e->exists(), "stored value missing");
    AGORA_FUZZ_CHECK(e->value() == j, "stored value differs");
    AGORA_FUZZ_CHECK(e->value().dump() == t, "stored value dumps differently");
  });
}

}  // namespace agora::fuzz
