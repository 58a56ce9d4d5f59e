// Contracts: the JSON-Schema subset and predicates (contract.hpp).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <agora/blackboard/blackboard.hpp>

#include "helpers.hpp"

using namespace agora::bb;
using agora::bb::test::describe;
using Catch::Contains;

namespace {

contract compile(const json& schema) {
  auto c = contract::from_schema(schema);
  INFO("schema " << schema.dump() << ": " << describe(c));
  REQUIRE(c.ok());
  return *c;
}

void check_accepts(const contract& c, const std::vector<json>& values) {
  for (const auto& v : values) {
    auto violation = c.check(v);
    INFO("value " << v.dump() << " against " << c.description() << ": "
                  << (violation ? violation->path + " " + violation->message : "ok"));
    CHECK_FALSE(violation.has_value());
  }
}

void check_rejects(const contract& c, const std::vector<json>& values) {
  for (const auto& v : values) {
    INFO("value " << v.dump() << " against " << c.description());
    auto violation = c.check(v);
    CHECK(violation.has_value());
  }
}

/// The path of the violation of `v`, or "<ok>".
std::string violation_path(const contract& c, const json& v) {
  auto violation = c.check(v);
  return violation ? violation->path : "<ok>";
}

/// Compiling must fail with invalid_contract naming `schema_path`.
void check_refused(const json& schema, const std::string& schema_path) {
  auto c = contract::from_schema(schema);
  INFO("schema " << schema.dump() << ": " << describe(c));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == errc::invalid_contract);
  CHECK_THAT(c.error().message, Contains(schema_path));
}

}  // namespace

TEST_CASE("contract type checks each JSON type and tells integer from number",
          "[blackboard][contract]") {
  check_accepts(compile({{"type", "object"}}), {json::object(), R"({"a":1})"_json});
  check_rejects(compile({{"type", "object"}}), {json::array(), "s", 1, nullptr});
  check_accepts(compile({{"type", "array"}}), {json::array(), "[1,2]"_json});
  check_rejects(compile({{"type", "array"}}), {json::object(), "[]"});
  check_accepts(compile({{"type", "string"}}), {"", "text"});
  check_rejects(compile({{"type", "string"}}), {1, true, nullptr});
  check_accepts(compile({{"type", "number"}}), {1.5, -3, 7u, 0});
  check_rejects(compile({{"type", "number"}}), {"1", true, nullptr});
  check_accepts(compile({{"type", "integer"}}), {0, -3, 7u, std::uint64_t(18446744073709551615u)});
  check_rejects(compile({{"type", "integer"}}), {1.5, "1", true});
  check_accepts(compile({{"type", "boolean"}}), {true, false});
  check_rejects(compile({{"type", "boolean"}}), {0, "true", nullptr});
  check_accepts(compile({{"type", "null"}}), {nullptr});
  check_rejects(compile({{"type", "null"}}), {false, 0, ""});

  auto v = compile({{"type", "number"}}).check("text");
  REQUIRE(v.has_value());
  CHECK(v->path == "");
  CHECK_FALSE(v->message.empty());
}

TEST_CASE("contract type accepts an array of type names", "[blackboard][contract]") {
  auto c = compile({{"type", {"string", "null"}}});
  check_accepts(c, {"x", nullptr});
  check_rejects(c, {1, json::object(), json::array()});
  auto d = compile({{"type", {"integer", "boolean"}}});
  check_accepts(d, {1, true});
  check_rejects(d, {1.5, "1"});
}

TEST_CASE("contract required names the missing member", "[blackboard][contract]") {
  auto c = compile(R"({"type":"object","required":["answer","confidence"]})"_json);
  check_accepts(c, {R"({"answer":1,"confidence":2})"_json, R"({"answer":1,"confidence":2,"x":3})"_json});
  auto v = c.check(R"({"answer":1})"_json);
  REQUIRE(v.has_value());
  CHECK_THAT(v->message, Contains("confidence"));
}

TEST_CASE("contract properties checks present members and reports a JSON pointer",
          "[blackboard][contract]") {
  auto c = compile(R"({"properties":{
      "a":{"type":"string"},
      "b":{"properties":{"c":{"type":"integer"}}},
      "x/y~z":{"type":"boolean"}}})"_json);
  check_accepts(c, {json::object(), R"({"a":"s","b":{"c":1}})"_json, R"({"other":[1]})"_json});
  CHECK(violation_path(c, R"({"a":1})"_json) == "/a");
  CHECK(violation_path(c, R"({"a":"s","b":{"c":"no"}})"_json) == "/b/c");
  // Pointer escaping per RFC 6901: '~' -> "~0", '/' -> "~1".
  CHECK(violation_path(c, R"({"x/y~z":1})"_json) == "/x~1y~0z");
}

TEST_CASE("contract additionalProperties false refuses unknown members", "[blackboard][contract]") {
  auto c = compile(R"({"properties":{"a":{}},"additionalProperties":false})"_json);
  check_accepts(c, {json::object(), R"({"a":[1,2]})"_json});
  auto v = c.check(R"({"a":1,"intruder":2})"_json);
  REQUIRE(v.has_value());
  CHECK((v->path == "/intruder" || v->message.find("intruder") != std::string::npos));

  auto open = compile(R"({"properties":{"a":{}},"additionalProperties":true})"_json);
  check_accepts(open, {R"({"a":1,"intruder":2})"_json});
}

TEST_CASE("contract additionalProperties schema checks every unlisted member",
          "[blackboard][contract]") {
  auto c = compile(R"({"properties":{"name":{"type":"string"}},
                       "additionalProperties":{"type":"number"}})"_json);
  check_accepts(c, {R"({"name":"x","alice":1,"bob":2.5})"_json});
  CHECK(violation_path(c, R"({"name":"x","alice":1,"bob":"two"})"_json) == "/bob");
  CHECK(violation_path(c, R"({"name":3})"_json) == "/name");
}

TEST_CASE("contract items checks every element and reports its index", "[blackboard][contract]") {
  auto c = compile(R"({"type":"object","properties":{
      "votes":{"type":"array","items":{"type":"string"}}}})"_json);
  check_accepts(c, {R"({"votes":[]})"_json, R"({"votes":["a","b"]})"_json});
  CHECK(violation_path(c, R"({"votes":["a","b",3]})"_json) == "/votes/2");

  auto nested = compile(R"({"items":{"items":{"minimum":0}}})"_json);
  CHECK(violation_path(nested, R"([[1],[2,-1]])"_json) == "/1/1");
}

TEST_CASE("contract enum and const compare whole JSON values", "[blackboard][contract]") {
  auto e = compile(R"({"enum":["yes","no",null,{"k":[1]}]})"_json);
  check_accepts(e, {"yes", "no", nullptr, R"({"k":[1]})"_json});
  check_rejects(e, {"maybe", R"({"k":[2]})"_json, 1, json::array()});

  auto k = compile(R"({"const":{"a":[1,2]}})"_json);
  check_accepts(k, {R"({"a":[1,2]})"_json});
  check_rejects(k, {R"({"a":[2,1]})"_json, json::object(), nullptr});
}

TEST_CASE("contract minimum and maximum are inclusive bounds", "[blackboard][contract]") {
  auto c = compile(R"({"type":"number","minimum":0,"maximum":1})"_json);
  check_accepts(c, {0, 1, 0.5, 0u});
  check_rejects(c, {-0.001, 1.001, -1, 2, std::uint64_t(18446744073709551615u)});
  auto path = violation_path(compile(R"({"properties":{"p":{"maximum":10}}})"_json),
                             R"({"p":11})"_json);
  CHECK(path == "/p");
}

TEST_CASE("contract minLength and maxLength count code points", "[blackboard][contract]") {
  auto c = compile(R"({"type":"string","minLength":2,"maxLength":3})"_json);
  check_accepts(c, {"ab", "abc",
                    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",  // 日本語: 3 code points, 9 bytes
                    "\xc3\xa9\xc3\xa9"});                    // éé: 2 code points, 4 bytes
  check_rejects(c, {"a", "abcd",
                    "\xc3\xa9",                                  // é: 1 code point, 2 bytes
                    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" "x"});  // 4 code points
}

TEST_CASE("contract minItems and maxItems bound array length", "[blackboard][contract]") {
  auto c = compile(R"({"type":"array","minItems":1,"maxItems":2})"_json);
  check_accepts(c, {"[1]"_json, "[1,2]"_json});
  check_rejects(c, {json::array(), "[1,2,3]"_json});
}

TEST_CASE("contract from_schema compiles the documented example", "[blackboard][contract]") {
  const json schema = R"({
    "type": "object", "required": ["answer", "confidence"],
    "properties": {
      "answer": {"type": "string", "minLength": 1},
      "confidence": {"type": "number", "minimum": 0, "maximum": 1}}})"_json;
  auto c = compile(schema);
  check_accepts(c, {R"({"answer":"42","confidence":0.9})"_json});
  CHECK(violation_path(c, R"({"answer":"","confidence":0.9})"_json) == "/answer");
  CHECK(violation_path(c, R"({"answer":"42","confidence":1.5})"_json) == "/confidence");
  CHECK(json::parse(c.description()) == schema);

  check_accepts(compile(json::object()), {1, "x", nullptr, json::array()});
}

TEST_CASE("contract from_schema refuses unknown keywords naming the schema path",
          "[blackboard][contract]") {
  check_refused(R"({"type":"string","pattern":"^x"})"_json, "/pattern");
  check_refused(R"({"properties":{"a":{"type":"string","format":"email"}}})"_json,
                "/properties/a/format");
  check_refused(R"({"items":{"oneOf":[]}})"_json, "/items/oneOf");
}

TEST_CASE("contract from_schema refuses malformed keywords naming the schema path",
          "[blackboard][contract]") {
  check_refused(R"({"type":"float"})"_json, "/type");
  check_refused(R"({"type":5})"_json, "/type");
  check_refused(R"({"type":["string",7]})"_json, "/type");
  check_refused(R"({"required":"answer"})"_json, "/required");
  check_refused(R"({"properties":[]})"_json, "/properties");
  check_refused(R"({"properties":{"a":{"maxItems":"x"}}})"_json, "/properties/a/maxItems");
  check_refused(R"({"additionalProperties":"no"})"_json, "/additionalProperties");
  check_refused(R"({"items":5})"_json, "/items");
  check_refused(R"({"enum":"x"})"_json, "/enum");
  check_refused(R"({"minimum":"0"})"_json, "/minimum");
  check_refused(R"({"maxLength":-1})"_json, "/maxLength");

  auto not_object = contract::from_schema(42);
  REQUIRE_FALSE(not_object.ok());
  CHECK(not_object.error().code == errc::invalid_contract);
}

TEST_CASE("contract from_predicate reports the predicate's violation", "[blackboard][contract]") {
  auto c = contract::from_predicate("positive", [](const json& v) -> std::optional<contract_violation> {
    if (v.is_object() && v.value("n", 0) > 0) return std::nullopt;
    return contract_violation{"/n", "must be positive"};
  });
  CHECK(c.description() == "predicate positive");
  check_accepts(c, {R"({"n":1})"_json});
  auto v = c.check(R"({"n":-1})"_json);
  REQUIRE(v.has_value());
  CHECK(v->path == "/n");
  CHECK_THAT(v->message, Contains("must be positive"));
}

TEST_CASE("contract from_predicate turns a throwing predicate into a violation",
          "[blackboard][contract]") {
  auto std_throw = contract::from_predicate(
      "explodes", [](const json&) -> std::optional<contract_violation> {
        throw std::runtime_error("boom");
      });
  std::optional<contract_violation> v;
  CHECK_NOTHROW(v = std_throw.check(1));
  REQUIRE(v.has_value());
  CHECK_THAT(v->message, Contains("explodes"));

  auto odd_throw = contract::from_predicate(
      "throws_int", [](const json&) -> std::optional<contract_violation> { throw 42; });
  std::optional<contract_violation> w;
  CHECK_NOTHROW(w = odd_throw.check(1));
  CHECK(w.has_value());
}
