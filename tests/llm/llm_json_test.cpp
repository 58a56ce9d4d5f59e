// llm_json: JSON forms of the request/response model, and errors that name
// the field of bad input.
#include <catch2/catch.hpp>

#include "agora/agents/llm_json.hpp"

using namespace agora;
using nlohmann::json;

namespace {

llm_request full_request() {
  llm_request r;
  r.model = "gpt-4o-mini";
  r.messages = {message::system("Be terse."), message::user("Weather in Oslo?")};
  message call = message::assistant("");
  call.tool_calls = {tool_call{"call_1", "weather", R"({"city":"Oslo"})"}};
  r.messages.push_back(call);
  r.messages.push_back(message::tool_result("call_1", "12 C, rain"));
  r.temperature = 0.25;
  r.top_p = 0.9;
  r.seed = -42;
  r.stop = {"\n\n", "END"};
  r.max_tokens = 300;
  r.response_schema = json{{"type", "object"}, {"required", {"answer"}}};
  r.schema_name = "verdict";
  r.tools = {tool_def{"weather", "Current weather", json{{"type", "object"}}}};
  r.tool_choice = "auto";
  r.stream = true;
  r.extra = json{{"logprobs", true}};
  return r;
}

}  // namespace

TEST_CASE("llm_json round-trips a request with every field set", "[llm][llm_json]") {
  llm_request r = full_request();
  json j = to_json(r);
  auto back = from_json<llm_request>(j);
  REQUIRE(back.ok());
  CHECK(to_json(*back) == j);
  CHECK(back->model == "gpt-4o-mini");
  REQUIRE(back->messages.size() == 4);
  CHECK(back->messages[0].role == role::system);
  CHECK(back->messages[2].tool_calls == r.messages[2].tool_calls);
  CHECK(back->messages[3].role == role::tool);
  CHECK(back->messages[3].tool_call_id == "call_1");
  CHECK(back->temperature == 0.25);
  CHECK(back->top_p == 0.9);
  CHECK(back->seed == -42);
  CHECK(back->stop == r.stop);
  CHECK(back->max_tokens == 300u);
  CHECK(back->response_schema == r.response_schema);
  CHECK(back->schema_name == "verdict");
  REQUIRE(back->tools.size() == 1);
  CHECK(back->tools[0].name == "weather");
  CHECK(back->tools[0].description == "Current weather");
  CHECK(back->tools[0].parameters == json{{"type", "object"}});
  CHECK(back->tool_choice == "auto");
  CHECK(back->stream);
  CHECK(back->extra == json{{"logprobs", true}});
}

TEST_CASE("llm_json leaves unset request fields out and reads them back unset", "[llm][llm_json]") {
  llm_request r;
  r.messages = {message::user("hi")};
  json j = to_json(r);
  CHECK_FALSE(j.contains("temperature"));
  CHECK_FALSE(j.contains("seed"));
  CHECK_FALSE(j.contains("response_schema"));
  CHECK_FALSE(j.contains("stream"));
  auto back = from_json<llm_request>(j);
  REQUIRE(back.ok());
  CHECK_FALSE(back->temperature);
  CHECK_FALSE(back->max_tokens);
  CHECK_FALSE(back->response_schema);
  CHECK(back->schema_name == "output");
  CHECK_FALSE(back->stream);
  CHECK(back->extra == json::object());
}

TEST_CASE("llm_json round-trips messages, tool calls and tool definitions", "[llm][llm_json]") {
  tool_call c{"toolu_01", "search", R"({"q":"prime numbers"})"};
  auto c2 = from_json<tool_call>(to_json(c));
  REQUIRE(c2.ok());
  CHECK(*c2 == c);

  message m = message::assistant("thinking");
  m.tool_calls = {c, tool_call{"toolu_02", "calc", "{}"}};
  auto m2 = from_json<message>(to_json(m));
  REQUIRE(m2.ok());
  CHECK(m2->role == role::assistant);
  CHECK(m2->content == "thinking");
  CHECK(m2->tool_calls == m.tool_calls);

  message t = message::tool_result("toolu_01", "2, 3, 5");
  auto t2 = from_json<message>(to_json(t));
  REQUIRE(t2.ok());
  CHECK(t2->role == role::tool);
  CHECK(t2->tool_call_id == "toolu_01");
  CHECK(t2->content == "2, 3, 5");

  tool_def d{"calc", "Adds numbers", json{{"type", "object"}, {"properties", {{"a", {{"type", "number"}}}}}}};
  auto d2 = from_json<tool_def>(to_json(d));
  REQUIRE(d2.ok());
  CHECK(d2->name == d.name);
  CHECK(d2->description == d.description);
  CHECK(d2->parameters == d.parameters);
}

TEST_CASE("llm_json round-trips a response with its usage", "[llm][llm_json]") {
  llm_response r;
  r.id = "chatcmpl-1";
  r.model = "gpt-4o-mini-2024-07-18";
  r.content = "7";
  r.tool_calls = {tool_call{"call_9", "f", "{}"}};
  r.finish_reason = "tool_calls";
  r.tokens.prompt = 120;
  r.tokens.completion = 30;
  r.tokens.cached = 100;
  r.tokens.reasoning = 12;
  r.usage_reported = false;
  r.cost_usd = 0.00042;
  r.cost_known = true;
  r.latency = std::chrono::microseconds(1234567);
  r.attempts = 3;
  auto back = from_json<llm_response>(to_json(r));
  REQUIRE(back.ok());
  CHECK(back->id == r.id);
  CHECK(back->model == r.model);
  CHECK(back->content == r.content);
  CHECK(back->tool_calls == r.tool_calls);
  CHECK(back->finish_reason == r.finish_reason);
  CHECK(back->tokens == r.tokens);
  CHECK(back->usage_reported == false);
  CHECK(back->cost_usd == Approx(0.00042));
  CHECK(back->cost_known);
  CHECK(back->latency == r.latency);
  CHECK(back->attempts == 3);

  auto u = from_json<usage>(to_json(r.tokens));
  REQUIRE(u.ok());
  CHECK(*u == r.tokens);
}

TEST_CASE("llm_json round-trips an error with its status and wait", "[llm][llm_json]") {
  llm_error e;
  e.code = llm_errc::rate_limited;
  e.message = "slow down";
  e.http_status = 429;
  e.retry_after = std::chrono::milliseconds(1500);
  json j = to_json(e);
  CHECK(j.at("code") == "rate_limited");
  auto back = from_json<llm_error>(j);
  REQUIRE(back.ok());
  CHECK(back->code == llm_errc::rate_limited);
  CHECK(back->message == "slow down");
  CHECK(back->http_status == 429);
  REQUIRE(back->retry_after);
  CHECK(back->retry_after->count() == 1500);

  llm_error plain;
  plain.code = llm_errc::server;
  auto p = from_json<llm_error>(to_json(plain));
  REQUIRE(p.ok());
  CHECK(p->http_status == 0);
  CHECK_FALSE(p->retry_after);
}

TEST_CASE("llm_json knows every error code by name", "[llm][llm_json]") {
  for (int i = 1; i <= static_cast<int>(llm_errc::invalid_request); ++i) {
    auto c = static_cast<llm_errc>(i);
    CHECK(llm_errc_from_string(to_string(c)) == c);
  }
  CHECK_FALSE(llm_errc_from_string("teapot"));
}

TEST_CASE("llm_json reads hand-written forms: defaults and arguments given as an object", "[llm][llm_json]") {
  json j = json::parse(R"({"messages": [
      {"role": "user", "content": "hi"},
      {"role": "assistant", "tool_calls": [{"name": "f", "arguments": {"x": 1}}]}]})");
  auto r = from_json<llm_request>(j);
  REQUIRE(r.ok());
  CHECK(r->model.empty());
  REQUIRE(r->messages.size() == 2);
  CHECK(r->messages[1].content.empty());
  REQUIRE(r->messages[1].tool_calls.size() == 1);
  CHECK(json::parse(r->messages[1].tool_calls[0].arguments) == json{{"x", 1}});

  auto resp = from_json<llm_response>(json{{"content", "ok"}});
  REQUIRE(resp.ok());
  CHECK(resp->content == "ok");
  CHECK(resp->usage_reported);
  CHECK(resp->attempts == 1);
  CHECK(resp->tokens.total() == 0);
}

TEST_CASE("llm_json names the field of bad input", "[llm][llm_json]") {
  struct bad_case {
    const char* text;
    const char* name;     // expected in the message
    const char* pointer;  // expected error::path
  };
  const bad_case requests[] = {
      {R"({"model": "m"})", "messages: missing", "/messages"},
      {R"({"messages": {}})", "messages: expected an array", "/messages"},
      {R"({"messages": [{"role": "bot"}]})", "messages[0].role: expected one of system, user, assistant, tool",
       "/messages/0/role"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role: missing", "/messages/0/role"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content: expected a string, got 5",
       "/messages/0/content"},
      {R"({"messages": [{"role": "user"}, {"role": "assistant", "tool_calls": [{"id": "c"}]}]})",
       "messages[1].tool_calls[0].name: missing", "/messages/1/tool_calls/0/name"},
      {R"({"messages": [], "temperature": "hot"})", "temperature: expected a number", "/temperature"},
      {R"({"messages": [], "max_tokens": -3})", "max_tokens: expected a non-negative integer", "/max_tokens"},
      {R"({"messages": [], "seed": 1.5})", "seed: expected an integer", "/seed"},
      {R"({"messages": [], "stop": ["a", 2]})", "stop[1]: expected a string", "/stop/1"},
      {R"({"messages": [], "tools": [{"name": "t", "parameters": "none"}]})", "tools[0].parameters",
       "/tools/0/parameters"},
      {R"({"messages": [], "stream": "yes"})", "stream: expected true or false", "/stream"},
      {R"([1, 2])", "llm_request: expected a JSON object", ""},
  };
  for (const auto& c : requests) {
    INFO(c.text);
    auto r = from_json<llm_request>(json::parse(c.text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == bb::errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(c.name));
    CHECK(r.error().path == c.pointer);
  }

  auto resp = from_json<llm_response>(json::parse(R"({"tokens": {"prompt": -1}})"));
  REQUIRE_FALSE(resp.ok());
  CHECK_THAT(resp.error().message, Catch::Contains("tokens.prompt: expected a non-negative integer"));

  auto err = from_json<llm_error>(json::parse(R"({"code": "teapot"})"));
  REQUIRE_FALSE(err.ok());
  CHECK_THAT(err.error().message, Catch::Contains("code: not an error code"));
  CHECK_THAT(err.error().message, Catch::Contains("teapot"));

  auto nocode = from_json<llm_error>(json::parse(R"({"message": "x"})"));
  REQUIRE_FALSE(nocode.ok());
  CHECK_THAT(nocode.error().message, Catch::Contains("code: missing"));

  // `where` prefixes the names: how a replay file reports the field of a line.
  auto prefixed = from_json<llm_request>(json::parse(R"({"messages": [{"role": 1}]})"), "request");
  REQUIRE_FALSE(prefixed.ok());
  CHECK_THAT(prefixed.error().message, Catch::StartsWith("request.messages[0].role: expected a string, got 1"));
}
