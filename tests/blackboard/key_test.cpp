// Keys, prefixes and key patterns (key.hpp).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using agora::bb::test::describe;
using Catch::Contains;

namespace {

constexpr std::size_t max_key = 512;

struct bad_input {
  std::string text;
  std::string quoted;  // a part of the input the error message must contain
};

}  // namespace

TEST_CASE("key validate_key accepts well-formed keys", "[blackboard][key]") {
  const std::vector<std::string> keys = {
      "a", "runs/42/debate/round/2/alice", "_dlq/task-7", "with space/and.dots",
      "h\xc3\xa9llo/\xe6\x97\xa5\xe6\x9c\xac",  // "héllo/日本"
      std::string(max_key, 'k')};
  for (const auto& k : keys) {
    auto s = validate_key(k, max_key);
    INFO(k << ": " << describe(s));
    CHECK(s.ok());
  }
}

TEST_CASE("key validate_key rejects malformed keys with invalid_key quoting the key",
          "[blackboard][key]") {
  const std::vector<bad_input> cases = {
      // empty and empty segments
      {"/runs/1", "/runs/1"},
      {"runs/1/", "runs/1/"},
      {"runs//1", "runs//1"},
      {"/", "/"},
      // control characters, including DEL and NUL
      {"runs/a\x01z", "runs/a"},
      {"runs/a\tz", "runs/a"},
      {"runs/a\nz", "runs/a"},
      {"runs/a\x1fz", "runs/a"},
      {"runs/a\x7fz", "runs/a"},
      {std::string("runs/a\0z", 8), "runs/a"},
      // invalid UTF-8: stray byte, truncated sequence, overlong '/', surrogate,
      // beyond U+10FFFF
      {"runs/a\xffz", "runs/a"},
      {"runs/a\xc3", "runs/a"},
      {"runs/a\xc0\xafz", "runs/a"},
      {"runs/a\xed\xa0\x80z", "runs/a"},
      {"runs/a\xf4\x90\x80\x80z", "runs/a"},
  };
  for (const auto& c : cases) {
    auto s = validate_key(c.text, max_key);
    INFO("key " << c.text << ": " << describe(s));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::invalid_key);
    CHECK_THAT(s.error().message, Contains(c.quoted));
  }
  auto empty = validate_key("", max_key);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == errc::invalid_key);
  CHECK_FALSE(empty.error().message.empty());
}

TEST_CASE("key validate_key rejects a key over max_key_bytes naming the limit and the length",
          "[blackboard][key]") {
  SECTION("one byte too long") {
    auto s = validate_key(std::string(max_key + 1, 'k'), max_key);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::limit_exceeded);
    CHECK_THAT(s.error().message, Contains("max_key_bytes"));
    CHECK_THAT(s.error().message, Contains("513"));
  }
  SECTION("counted in bytes of UTF-8, not characters") {
    std::string key;
    for (int i = 0; i < 150; ++i) key += "\xc3\xa9";  // 150 x "é" = 300 bytes
    CHECK(validate_key(key, 300).ok());
    auto s = validate_key(key, 299);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::limit_exceeded);
    CHECK_THAT(s.error().message, Contains("max_key_bytes"));
    CHECK_THAT(s.error().message, Contains("300"));
  }
}

TEST_CASE("key validate_prefix allows the empty prefix and a trailing slash", "[blackboard][key]") {
  for (const char* p : {"", "runs", "runs/", "runs/4", "runs/4/"}) {
    auto s = validate_prefix(p, max_key);
    INFO("prefix '" << p << "': " << describe(s));
    CHECK(s.ok());
  }
}

TEST_CASE("key validate_prefix rejects malformed prefixes", "[blackboard][key]") {
  const std::vector<bad_input> cases = {
      {"/runs", "/runs"},          {"runs//4", "runs//4"},      {"runs//", "runs//"},
      {"runs/a\x01", "runs/a"},    {"runs/a\x7f", "runs/a"},    {"runs/a\xff", "runs/a"},
  };
  for (const auto& c : cases) {
    auto s = validate_prefix(c.text, max_key);
    INFO("prefix " << c.text << ": " << describe(s));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == errc::invalid_key);
    CHECK_THAT(s.error().message, Contains(c.quoted));
  }
  auto long_prefix = validate_prefix(std::string(20, 'p'), 16);
  REQUIRE_FALSE(long_prefix.ok());
  CHECK(long_prefix.error().code == errc::limit_exceeded);
  CHECK_THAT(long_prefix.error().message, Contains("max_key_bytes"));
  CHECK_THAT(long_prefix.error().message, Contains("20"));
}

TEST_CASE("key normalize_prefix strips one trailing slash", "[blackboard][key]") {
  CHECK(normalize_prefix("runs/4/") == "runs/4");
  CHECK(normalize_prefix("runs/4") == "runs/4");
  CHECK(normalize_prefix("runs/") == "runs");
  CHECK(normalize_prefix("") == "");
}

TEST_CASE("key key_in_prefix selects whole segments", "[blackboard][key]") {
  CHECK(key_in_prefix("runs/4", "runs/4"));
  CHECK(key_in_prefix("runs/4/x", "runs/4"));
  CHECK(key_in_prefix("runs/4/x/y", "runs/4"));
  CHECK(key_in_prefix("runs/4/x", "runs/4/"));
  CHECK_FALSE(key_in_prefix("runs/42", "runs/4"));
  CHECK_FALSE(key_in_prefix("runs/42/x", "runs/4"));
  CHECK_FALSE(key_in_prefix("runs", "runs/4"));
  CHECK_FALSE(key_in_prefix("run", "runs"));
  CHECK_FALSE(key_in_prefix("other/runs/4", "runs/4"));
}

TEST_CASE("key key_in_prefix with the empty prefix selects every key", "[blackboard][key]") {
  CHECK(key_in_prefix("a", ""));
  CHECK(key_in_prefix("runs/42/debate", ""));
}

TEST_CASE("key key_pattern matches literal segments exactly", "[blackboard][key]") {
  auto p = key_pattern::parse("runs/1/answer");
  REQUIRE(p.ok());
  CHECK(p->str() == "runs/1/answer");
  CHECK(p->matches("runs/1/answer"));
  CHECK_FALSE(p->matches("runs/1/answer/x"));
  CHECK_FALSE(p->matches("runs/1"));
  CHECK_FALSE(p->matches("runs/1/answers"));
  CHECK_FALSE(p->matches("runs/11/answer"));
}

TEST_CASE("key key_pattern star matches exactly one segment", "[blackboard][key]") {
  auto p = key_pattern::parse("runs/*/answer");
  REQUIRE(p.ok());
  CHECK(p->matches("runs/1/answer"));
  CHECK(p->matches("runs/xyz/answer"));
  CHECK_FALSE(p->matches("runs/answer"));
  CHECK_FALSE(p->matches("runs/1/2/answer"));
  CHECK_FALSE(p->matches("runs/1/answer/x"));

  auto any = key_pattern::parse("*");
  REQUIRE(any.ok());
  CHECK(any->matches("a"));
  CHECK_FALSE(any->matches("a/b"));
}

TEST_CASE("key key_pattern double star matches zero or more segments", "[blackboard][key]") {
  auto tail = key_pattern::parse("runs/**");
  REQUIRE(tail.ok());
  CHECK(tail->matches("runs"));
  CHECK(tail->matches("runs/1"));
  CHECK(tail->matches("runs/1/2/3"));
  CHECK_FALSE(tail->matches("run"));
  CHECK_FALSE(tail->matches("runsx/1"));
  CHECK_FALSE(tail->matches("other/runs"));

  auto all = key_pattern::parse("**");
  REQUIRE(all.ok());
  CHECK(all->matches("a"));
  CHECK(all->matches("a/b/c"));

  auto middle = key_pattern::parse("a/**/z");
  REQUIRE(middle.ok());
  CHECK(middle->matches("a/z"));
  CHECK(middle->matches("a/b/z"));
  CHECK(middle->matches("a/b/c/z"));
  CHECK_FALSE(middle->matches("a/z/b"));
  CHECK_FALSE(middle->matches("a"));

  auto lead = key_pattern::parse("**/alice");
  REQUIRE(lead.ok());
  CHECK(lead->matches("alice"));
  CHECK(lead->matches("runs/1/alice"));
  CHECK_FALSE(lead->matches("alice/x"));
  CHECK_FALSE(lead->matches("runs/xalice"));

  auto mixed = key_pattern::parse("runs/*/debate/**");
  REQUIRE(mixed.ok());
  CHECK(mixed->matches("runs/1/debate"));
  CHECK(mixed->matches("runs/1/debate/round/2/alice"));
  CHECK_FALSE(mixed->matches("runs/debate/x"));
  CHECK_FALSE(mixed->matches("runs/1/other/x"));

  auto twice = key_pattern::parse("**/x/**");
  REQUIRE(twice.ok());
  CHECK(twice->matches("x"));
  CHECK(twice->matches("a/b/x/c/d"));
  CHECK_FALSE(twice->matches("a/b/c"));
}

TEST_CASE("key key_pattern parse rejects empty patterns and empty segments naming the pattern",
          "[blackboard][key]") {
  for (const char* text : {"runs//x", "/runs", "runs/", "/"}) {
    auto p = key_pattern::parse(text);
    INFO("pattern '" << text << "': " << describe(p));
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().code == errc::invalid_argument);
    CHECK_THAT(p.error().message, Contains(text));
  }
  auto empty = key_pattern::parse("");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == errc::invalid_argument);
}
