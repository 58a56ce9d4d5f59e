#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/sec.hpp>

#include <set>
#include <string>
#include <vector>

#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace bb = agora::bb;
namespace act = agora::actors;

namespace {

act::runtime_options small_runtime() {
  act::runtime_options o;
  o.worker_threads = 1;
  return o;
}

bb::error sample_conflict() {
  bb::error e{bb::errc::conflict, "2 keys changed since revision 4: 'a' (4 -> 7), 'runs/b' (0 -> 6)"};
  e.conflicts.push_back(bb::key_conflict{"a", 4, 7, ""});
  e.conflicts.push_back(bb::key_conflict{"runs/b", 0, 6, "runs"});
  return e;
}

void require_same(const bb::error& a, const bb::error& b) {
  CHECK(a.code == b.code);
  CHECK(a.message == b.message);
  CHECK(a.key == b.key);
  CHECK(a.path == b.path);
  CHECK(a.conflicts == b.conflicts);
  CHECK(a.origin == b.origin);
  CHECK(a.origin_code == b.origin_code);
  CHECK(a.retryable == b.retryable);
  CHECK(a.retry_after == b.retry_after);
}

// What an LLM agent reports when its model rate-limits it.
bb::error sample_rate_limit() {
  bb::error e{bb::errc::unavailable, "llm rate_limited: agent talker/a call 1 to model m: slow down"};
  e.origin = "llm";
  e.origin_code = "rate_limited";
  e.retryable = true;
  e.retry_after = std::chrono::milliseconds(1500);
  return e;
}

// A real conflict, made by the blackboard itself.
bb::error real_conflict() {
  bb::blackboard board;
  auto seed = board.begin("w");
  REQUIRE(seed.put("a", 1).ok());
  REQUIRE(board.promote(seed).ok());
  auto reader = board.begin("r");
  REQUIRE(reader.get("a").ok());
  REQUIRE(reader.put("b", 2).ok());
  auto writer = board.begin("w");
  REQUIRE(writer.put("a", 3).ok());
  REQUIRE(board.promote(writer).ok());
  auto r = board.promote(reader);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == bb::errc::conflict);
  return r.error();
}

}  // namespace

TEST_CASE("errors round trip a bb::error through caf::error keeping everything",
          "[actors][errors]") {
  SECTION("a conflict with its conflict list") {
    auto e = sample_conflict();
    caf::error ce = act::to_caf_error(e);
    CHECK(ce.category() == act::blackboard_category);
    CHECK(ce.code() == static_cast<std::uint8_t>(bb::errc::conflict));
    CHECK(act::is_blackboard_error(ce));
    require_same(act::from_caf_error(ce), e);
  }
  SECTION("a contract violation with key and JSON path") {
    bb::error e{bb::errc::contract_violation, "runs/1/vote: /votes/2: expected number, got string",
                "runs/1/vote", "/votes/2"};
    require_same(act::from_caf_error(act::to_caf_error(e)), e);
  }
  SECTION("a model failure with its layer's code and its retry hint") {
    auto e = sample_rate_limit();
    caf::error ce = act::to_caf_error(e);
    CHECK(ce == bb::errc::unavailable);
    require_same(act::from_caf_error(ce), e);
    bb::error no_hint{bb::errc::invalid_argument, "llm bad_request: ..."};
    no_hint.origin = "llm";
    no_hint.origin_code = "bad_request";
    auto back = act::from_caf_error(act::to_caf_error(no_hint));
    CHECK_FALSE(back.retryable);
    CHECK_FALSE(back.retry_after.has_value());
    CHECK(back.origin_code == "bad_request");
  }
  SECTION("every blackboard code") {
    for (int c = 1; c <= static_cast<int>(bb::errc::unavailable); ++c) {
      bb::error e{static_cast<bb::errc>(c), "m", "k", "/p"};
      auto back = act::from_caf_error(act::to_caf_error(e));
      CHECK(back.code == e.code);
      CHECK(back.message == "m");
      CHECK(act::to_caf_error(e) == static_cast<bb::errc>(c));
    }
  }
}

TEST_CASE("errors round trip a caf::error through CAF's binary serialization",
          "[actors][errors]") {
  act::runtime rt{small_runtime()};
  auto e = sample_conflict();
  e.key = "a";
  e.path = "/x/0";
  caf::error ce = act::to_caf_error(e);
  std::vector<char> buf;
  caf::binary_serializer sink{rt.system(), buf};
  REQUIRE_FALSE(sink(ce));
  caf::error back;
  caf::binary_deserializer source{rt.system(), buf};
  auto err = source(back);
  INFO(act::render(err));
  REQUIRE_FALSE(err);
  require_same(act::from_caf_error(back), e);
  // And the model layer's code with its retry hint (what crosses nodes).
  const auto limited = sample_rate_limit();
  std::vector<char> buf2;
  caf::binary_serializer sink2{rt.system(), buf2};
  REQUIRE_FALSE(sink2(act::to_caf_error(limited)));
  caf::error back2;
  caf::binary_deserializer source2{rt.system(), buf2};
  REQUIRE_FALSE(source2(back2));
  require_same(act::from_caf_error(back2), limited);
}

TEST_CASE("errors render blackboard and actor errors through the actor system",
          "[actors][errors]") {
  act::runtime rt{small_runtime()};
  SECTION("a real conflict renders as the blackboard prints it") {
    auto e = real_conflict();
    auto text = rt.system().render(act::to_caf_error(e));
    CHECK(text == bb::to_string(e));
    CHECK(text.rfind("conflict: 1 key changed", 0) == 0);
    CHECK(text.find("'a' (1 -> 2)") != std::string::npos);
    CHECK(act::render(act::to_caf_error(e)) == text);
  }
  SECTION("the sample in the documentation") {
    bb::error e{bb::errc::conflict, "1 key changed since revision 4: 'a' (4 -> 7)"};
    e.conflicts.push_back(bb::key_conflict{"a", 4, 7, ""});
    CHECK(rt.system().render(act::to_caf_error(e)) ==
          "conflict: 1 key changed since revision 4: 'a' (4 -> 7)");
  }
  SECTION("an actor-layer error") {
    auto ce = caf::make_error(act::errc::bad_message, "staged value of key 'a' is not valid JSON");
    CHECK(rt.system().render(ce) == "bad_message: staged value of key 'a' is not valid JSON");
    CHECK(act::render(ce) == rt.system().render(ce));
    CHECK(rt.system().render(caf::make_error(act::errc::timeout)) == "timeout");
  }
}

TEST_CASE("errors turn a foreign caf::error into a readable bb::error", "[actors][errors]") {
  caf::error timeout = caf::make_error(caf::sec::request_timeout);
  CHECK_FALSE(act::is_blackboard_error(timeout));
  auto e = act::from_caf_error(timeout);
  CHECK(e.code == bb::errc::invalid_argument);
  CHECK(e.message == "system: request_timeout");
  CHECK(e.conflicts.empty());

  auto actor_err = act::from_caf_error(caf::make_error(act::errc::node_lost, "node 7 went away"));
  CHECK(actor_err.message == "node_lost: node 7 went away");

  CHECK(act::from_caf_error(caf::error{}).message == "no error");

  // A blackboard-category error built by hand, without our context layout.
  caf::error odd = caf::make_error(bb::errc::forbidden, std::string("alice may not write 'x'"));
  auto f = act::from_caf_error(odd);
  CHECK(f.code == bb::errc::forbidden);
  CHECK(f.message == "alice may not write 'x'");
}

TEST_CASE("errors compare a caf::error with either layer's codes", "[actors][errors]") {
  caf::error ce = act::to_caf_error(sample_conflict());
  CHECK(ce == bb::errc::conflict);
  CHECK(ce != bb::errc::forbidden);
  CHECK(ce != act::errc::timeout);
  caf::error te = caf::make_error(act::errc::timeout);
  CHECK(te == act::errc::timeout);
  CHECK(act::errc::timeout == te);
  CHECK(te != bb::errc::invalid_key);  // same code number, other category
  CHECK(caf::error{} != act::errc::timeout);
}

TEST_CASE("errors name every actor-layer code", "[actors][errors]") {
  std::set<std::string> names;
  for (int c = 1; c <= static_cast<int>(act::errc::internal); ++c) {
    std::string n = act::to_string(static_cast<act::errc>(c));
    CHECK(n != "unknown");
    names.insert(n);
  }
  CHECK(names.size() == static_cast<std::size_t>(act::errc::internal));
  CHECK(std::string(act::to_string(static_cast<act::errc>(200))) == "unknown");
}
