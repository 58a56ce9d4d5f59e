#include <catch2/catch.hpp>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "test_support.hpp"
#include "agora/actors/tracing.hpp"

using agora::actors::metrics;
using agora::actors::span;
using agora::actors::trace_context;
using agora::actors::tracer;
using nlohmann::json;

using agora_test::read_lines;

namespace {

std::string temp_path(const std::string& name) {
  return "/tmp/agora-tracing-test-" + std::to_string(::getpid()) + "-" + name;
}


std::string attribute(const json& span_line, const std::string& key) {
  for (const auto& a : span_line.at("attributes"))
    if (a.at("key") == key) {
      const auto& v = a.at("value");
      if (v.contains("stringValue")) return v["stringValue"].get<std::string>();
      if (v.contains("intValue")) return v["intValue"].get<std::string>();
      return v.dump();
    }
  return "<missing>";
}

}  // namespace

TEST_CASE("trace_context children share the trace and point at their parent",
          "[actors][tracing]") {
  trace_context root = trace_context::make_root();
  REQUIRE(root.valid());
  CHECK(root.parent_span_id == 0);
  trace_context kid = root.child();
  CHECK(kid.trace_hi == root.trace_hi);
  CHECK(kid.trace_lo == root.trace_lo);
  CHECK(kid.parent_span_id == root.span_id);
  CHECK(kid.span_id != root.span_id);
  CHECK(root.trace_id_hex().size() == 32);
  CHECK(agora::actors::span_id_hex(kid.span_id).size() == 16);
  CHECK(agora::actors::span_id_hex(0).empty());
  // Two roots are two traces.
  CHECK(trace_context::make_root().trace_id_hex() != root.trace_id_hex());
  // The child of "no trace" starts a new one rather than an invalid span.
  CHECK(trace_context{}.child().valid());
}

TEST_CASE("trace_context survives CAF's binary serialization", "[actors][tracing]") {
  trace_context in = trace_context::make_root().child();
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(in));
  trace_context out;
  caf::binary_deserializer source{nullptr, buf};
  REQUIRE_FALSE(source(out));
  CHECK(out == in);
}

TEST_CASE("tracer that is not opened writes nothing and spans are inactive",
          "[actors][tracing]") {
  tracer off;
  CHECK_FALSE(off.enabled());
  span s = off.start("task", trace_context::make_root(), "debater/alice");
  CHECK_FALSE(s.active());
  s.set("k", std::string("v"));
  s.fail("nope");
  s.end();
  CHECK(off.written() == 0);
}

TEST_CASE("tracer writes OpenTelemetry-shaped JSON lines with parent links and status",
          "[actors][tracing]") {
  const std::string path = temp_path("spans.jsonl");
  std::remove(path.c_str());
  auto opened = tracer::open(path);
  REQUIRE(opened);
  tracer& t = **opened;
  trace_context root = trace_context::make_root();
  trace_context parent_ctx;
  {
    span parent = t.start("run", root);
    parent_ctx = parent.context();
    {
      span child = t.start("task", parent.context(), "debater/alice");
      child.set("task", std::string("t7"));
      child.set("attempts", std::int64_t{2});
      child.set("score", 0.5);
      child.fail("conflict: 'a' (4 -> 7)");
    }
  }
  t.flush();
  CHECK(t.written() == 2);
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  const json& child = lines[0];  // the child ends first
  const json& parent = lines[1];
  CHECK(child.at("name") == "task");
  CHECK(parent.at("name") == "run");
  CHECK(child.at("traceId") == root.trace_id_hex());
  CHECK(parent.at("traceId") == root.trace_id_hex());
  CHECK(child.at("parentSpanId") == parent.at("spanId"));
  CHECK(parent.at("parentSpanId") == agora::actors::span_id_hex(root.span_id));
  CHECK(parent.at("spanId") == agora::actors::span_id_hex(parent_ctx.span_id));
  CHECK(child.at("kind") == "SPAN_KIND_INTERNAL");
  CHECK(child.at("status").at("code") == "STATUS_CODE_ERROR");
  CHECK(child.at("status").at("message") == "conflict: 'a' (4 -> 7)");
  CHECK(parent.at("status").at("code") == "STATUS_CODE_OK");
  CHECK(attribute(child, "agora.agent") == "debater/alice");
  CHECK(attribute(child, "task") == "t7");
  CHECK(attribute(child, "attempts") == "2");
  const auto start = std::stoll(child.at("startTimeUnixNano").get<std::string>());
  const auto end = std::stoll(child.at("endTimeUnixNano").get<std::string>());
  CHECK(start > 0);
  CHECK(end >= start);
  std::remove(path.c_str());
}

TEST_CASE("tracer open names the file it cannot open", "[actors][tracing]") {
  auto opened = tracer::open("/nonexistent-dir/x/spans.jsonl");
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == agora::bb::errc::invalid_argument);
  CHECK_THAT(opened.error().message, Catch::Contains("/nonexistent-dir/x/spans.jsonl"));
}

TEST_CASE("metrics count per agent only when enabled", "[actors][tracing]") {
  metrics off;
  off.of("a/1").tasks += 5;
  CHECK(off.to_json().empty());

  metrics on(true);
  auto& a = on.of("debater/alice");
  a.tasks += 3;
  a.failures += 1;
  a.conflicts += 2;
  a.record_latency(2'000'000);
  a.record_latency(4'000'000);
  a.record_latency(3'000'000);
  CHECK(&on.of("debater/alice") == &a);
  json j = on.to_json();
  REQUIRE(j.contains("debater/alice"));
  CHECK(j["debater/alice"]["tasks"] == 3);
  CHECK(j["debater/alice"]["failures"] == 1);
  CHECK(j["debater/alice"]["conflicts"] == 2);
  CHECK(j["debater/alice"]["latency_ms_mean"].get<double>() == Approx(3.0));
  CHECK(j["debater/alice"]["latency_ms_max"].get<double>() == Approx(4.0));
}

TEST_CASE("metrics keep each agent's counters on cache lines of their own",
          "[actors][tracing]") {
  // Agents on different cores bump their counters concurrently; counters
  // sharing a 64-byte line would make every update contend (actor_bench).
  metrics on(true);
  std::vector<const agora::actors::agent_counters*> cs;
  for (int i = 0; i < 8; ++i) cs.push_back(&on.of("bench/agent-" + std::to_string(i)));
  auto line = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) / 64; };
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto* first = reinterpret_cast<const char*>(cs[i]);
    const auto* last = first + sizeof(agora::actors::agent_counters) - 1;
    for (std::size_t j = 0; j < cs.size(); ++j) {
      if (i == j) continue;
      const auto* other = reinterpret_cast<const char*>(cs[j]);
      const auto* other_last = other + sizeof(agora::actors::agent_counters) - 1;
      CHECK(line(first) != line(other));
      CHECK(line(first) != line(other_last));
      CHECK(line(last) != line(other));
      CHECK(line(last) != line(other_last));
    }
  }
}

TEST_CASE("an unset trace_context is all zero and copies as plain words",
          "[actors][tracing]") {
  trace_context unset;
  CHECK_FALSE(unset.valid());
  CHECK(unset == trace_context{0, 0, 0, 0});
  trace_context copy = unset;  // what every message does with it
  CHECK(copy == unset);
  CHECK(agora::actors::span_id_hex(copy.span_id).empty());
}
