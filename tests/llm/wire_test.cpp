// Tests of wire.hpp: both serializers and stream assemblers, against bodies
// recorded in the shape the real APIs send (tests/llm/data/).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agora/agents/wire.hpp"

namespace {

using json = nlohmann::json;
using agora::llm_errc;
using agora::llm_error;
using agora::llm_request;
using agora::llm_response;
using agora::llm_result;
using agora::message;
using agora::tool_call;
using agora::wire_format;

std::string read_data(const std::string& name) {
  const std::string path = std::string(AGORA_LLM_TEST_DATA) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  INFO("test data file " << path);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

llm_request simple_request() {
  llm_request req;
  req.messages = {message::system("You are terse."), message::user("Name the primes below 10.")};
  return req;
}

json body_of(wire_format f, const llm_request& req, const std::string& model = "default-model",
             std::uint32_t max_tokens = 1024) {
  auto b = agora::wire::to_request_body(f, req, model, max_tokens);
  INFO((b ? std::string() : agora::bb::to_string(b.error())));
  REQUIRE(b.ok());
  return *b;
}

// Feeds `chunks` through a fresh sse_parser into an assembler; stops at the
// first error an event gets.
llm_result assemble(wire_format f, const std::vector<std::string_view>& chunks, const llm_request& req,
                    std::string* deltas = nullptr) {
  agora::sse_parser parser;
  auto a = agora::wire::stream_assembler::make(f, req);
  if (deltas) a->on_delta = [deltas](std::string_view d) { deltas->append(d); };
  for (std::string_view c : chunks) {
    auto events = parser.feed(c);
    REQUIRE(events.ok());
    for (const auto& e : *events)
      if (auto err = a->feed(e)) return *err;
  }
  return a->finish(parser.finish());
}

llm_result assemble_whole(wire_format f, std::string_view stream, const llm_request& req,
                          std::string* deltas = nullptr) {
  return assemble(f, {stream}, req, deltas);
}

llm_response parsed(wire_format f, const std::string& body, const llm_request& req) {
  llm_result r = agora::wire::parse_reply(f, body, req);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

void check_same_reply(const llm_response& a, const llm_response& b) {
  CHECK(a.id == b.id);
  CHECK(a.model == b.model);
  CHECK(a.content == b.content);
  CHECK(a.tool_calls == b.tool_calls);
  CHECK(a.finish_reason == b.finish_reason);
  CHECK(a.tokens == b.tokens);
  CHECK(a.usage_reported == b.usage_reported);
}

// Every recorded stream assembles to the same reply as its non-streamed
// twin, however the bytes are split.
void check_stream_matches(wire_format f, const std::string& stream_file, const std::string& reply_file,
                          const llm_request& req) {
  const std::string stream = read_data(stream_file);
  const llm_response expected = parsed(f, read_data(reply_file), req);
  INFO("stream " << stream_file);

  std::string deltas;
  llm_result whole = assemble_whole(f, stream, req, &deltas);
  INFO((whole ? std::string() : whole.error().message));
  REQUIRE(whole.ok());
  check_same_reply(*whole, expected);
  CHECK(deltas == expected.content);

  for (std::size_t i = 0; i <= stream.size(); ++i) {
    std::string_view s(stream);
    llm_result r = assemble(f, {s.substr(0, i), s.substr(i)}, req);
    INFO("split at byte " << i);
    REQUIRE(r.ok());
    REQUIRE(r->content == expected.content);
    REQUIRE(r->tool_calls == expected.tool_calls);
    REQUIRE(r->tokens == expected.tokens);
    REQUIRE(r->finish_reason == expected.finish_reason);
  }

  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(std::string_view(stream).substr(i, 1));
  std::string byte_deltas;
  llm_result r = assemble(f, bytes, req, &byte_deltas);
  REQUIRE(r.ok());
  check_same_reply(*r, expected);
  CHECK(byte_deltas == expected.content);
}

}  // namespace

// --- request bodies ---------------------------------------------------------------

TEST_CASE("wire to_string names both formats", "[llm][wire]") {
  CHECK(std::string(agora::to_string(wire_format::openai)) == "openai");
  CHECK(std::string(agora::to_string(wire_format::anthropic)) == "anthropic");
}

TEST_CASE("wire openai request body carries every field of the request", "[llm][wire]") {
  llm_request req;
  req.model = "gpt-4o-mini";
  req.messages = {message::system("Be terse."), message::user("Weather in Paris?")};
  message call = message::assistant("");
  call.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}};
  req.messages.push_back(call);
  req.messages.push_back(message::tool_result("call_1", "18 C"));
  req.messages.push_back(message::system("Answer in one line."));
  req.temperature = 0.2;
  req.top_p = 0.9;
  req.seed = 42;
  req.stop = {"END"};
  req.max_tokens = 64;
  req.tools = {{"get_weather", "Current weather", json{{"type", "object"}}}};
  req.tool_choice = "auto";

  json b = body_of(wire_format::openai, req);
  CHECK(b["model"] == "gpt-4o-mini");
  REQUIRE(b["messages"].size() == 5);
  CHECK(b["messages"][0] == json{{"role", "system"}, {"content", "Be terse."}});
  CHECK(b["messages"][1] == json{{"role", "user"}, {"content", "Weather in Paris?"}});
  CHECK(b["messages"][2] ==
        json::parse(R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
                        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]})"));
  CHECK(b["messages"][3] == json{{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "18 C"}});
  CHECK(b["messages"][4] == json{{"role", "system"}, {"content", "Answer in one line."}});
  CHECK(b["temperature"] == 0.2);
  CHECK(b["top_p"] == 0.9);
  CHECK(b["seed"] == 42);
  CHECK(b["stop"] == json{"END"});
  CHECK(b["max_tokens"] == 64);
  CHECK(b["tools"] == json::parse(R"([{"type":"function","function":{"name":"get_weather",
                                       "description":"Current weather","parameters":{"type":"object"}}}])"));
  CHECK(b["tool_choice"] == "auto");
  CHECK_FALSE(b.contains("stream"));
  CHECK_FALSE(b.contains("stream_options"));
  CHECK_FALSE(b.contains("response_format"));
}

TEST_CASE("wire openai request body leaves out what the request does not set", "[llm][wire]") {
  json b = body_of(wire_format::openai, simple_request(), "local-model");
  CHECK(b["model"] == "local-model");
  for (const char* k : {"temperature", "top_p", "seed", "stop", "max_tokens", "tools", "tool_choice", "stream"})
    CHECK_FALSE(b.contains(k));
}

TEST_CASE("wire openai request body maps tool choice", "[llm][wire]") {
  llm_request req = simple_request();
  req.tools = {{"lookup", "", json{{"type", "object"}}}};
  for (const char* c : {"auto", "none", "required"}) {
    req.tool_choice = c;
    CHECK(body_of(wire_format::openai, req)["tool_choice"] == c);
  }
  req.tool_choice = "lookup";
  json b = body_of(wire_format::openai, req);
  CHECK(b["tool_choice"] == json::parse(R"({"type":"function","function":{"name":"lookup"}})"));
  CHECK_FALSE(b["tools"][0]["function"].contains("description"));  // empty: not sent
}

TEST_CASE("wire openai request body with stream asks for usage in the final chunk", "[llm][wire]") {
  llm_request req = simple_request();
  req.stream = true;
  json b = body_of(wire_format::openai, req);
  CHECK(b["stream"] == true);
  CHECK(b["stream_options"] == json{{"include_usage", true}});
}

TEST_CASE("wire openai request body sends a response schema as json_schema response_format", "[llm][wire]") {
  llm_request req = simple_request();
  req.response_schema = json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})");
  req.schema_name = "answer";
  json b = body_of(wire_format::openai, req);
  CHECK(b["response_format"] ==
        json{{"type", "json_schema"}, {"json_schema", {{"name", "answer"}, {"schema", *req.response_schema}, {"strict", true}}}});
  CHECK_FALSE(b.contains("tools"));
}

TEST_CASE("wire anthropic request body joins system messages and groups tool results", "[llm][wire]") {
  llm_request req;
  req.messages = {message::system("Be terse."), message::user("Weather in Paris and Tokyo?")};
  message call = message::assistant("Looking.");
  call.tool_calls = {{"toolu_1", "get_weather", R"({"city":"Paris"})"},
                     {"toolu_2", "get_weather", R"({"city":"Tokyo"})"}};
  req.messages.push_back(call);
  req.messages.push_back(message::tool_result("toolu_1", "18 C"));
  req.messages.push_back(message::tool_result("toolu_2", "25 C"));
  req.messages.push_back(message::system("Answer in one line."));
  req.messages.push_back(message::user("And?"));
  req.temperature = 0.5;
  req.top_p = 0.8;
  req.seed = 7;
  req.stop = {"END", "STOP"};

  json b = body_of(wire_format::anthropic, req, "claude-x", 333);
  CHECK(b["model"] == "claude-x");
  CHECK(b["max_tokens"] == 333);  // the default: the request set none
  CHECK(b["system"] == "Be terse.\n\nAnswer in one line.");
  REQUIRE(b["messages"].size() == 4);
  CHECK(b["messages"][0] == json{{"role", "user"}, {"content", "Weather in Paris and Tokyo?"}});
  CHECK(b["messages"][1] == json::parse(R"({"role":"assistant","content":[
      {"type":"text","text":"Looking."},
      {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Tokyo"}}]})"));
  CHECK(b["messages"][2] == json::parse(R"({"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_1","content":"18 C"},
      {"type":"tool_result","tool_use_id":"toolu_2","content":"25 C"}]})"));
  CHECK(b["messages"][3] == json{{"role", "user"}, {"content", "And?"}});
  CHECK(b["temperature"] == 0.5);
  CHECK(b["top_p"] == 0.8);
  CHECK(b["stop_sequences"] == json{"END", "STOP"});
  CHECK_FALSE(b.contains("seed"));  // the Messages API has none
  CHECK_FALSE(b.contains("stop"));
  CHECK_FALSE(b.contains("stream"));

  req.max_tokens = 50;
  req.stream = true;
  b = body_of(wire_format::anthropic, req);
  CHECK(b["max_tokens"] == 50);
  CHECK(b["stream"] == true);
  CHECK_FALSE(b.contains("stream_options"));
}

TEST_CASE("wire anthropic request body maps tools and tool choice", "[llm][wire]") {
  llm_request req = simple_request();
  req.tools = {{"lookup", "Finds a thing", json{{"type", "object"}}}};
  json b = body_of(wire_format::anthropic, req);
  CHECK(b["tools"] == json::parse(R"([{"name":"lookup","description":"Finds a thing","input_schema":{"type":"object"}}])"));
  CHECK_FALSE(b.contains("tool_choice"));
  const std::vector<std::pair<std::string, json>> cases = {
      {"auto", json{{"type", "auto"}}},
      {"none", json{{"type", "none"}}},
      {"required", json{{"type", "any"}}},
      {"lookup", json{{"type", "tool"}, {"name", "lookup"}}},
  };
  for (const auto& [choice, expected] : cases) {
    req.tool_choice = choice;
    CHECK(body_of(wire_format::anthropic, req)["tool_choice"] == expected);
  }
}

TEST_CASE("wire anthropic request body sends a response schema as a forced tool", "[llm][wire]") {
  llm_request req = simple_request();
  req.tools = {{"lookup", "", json{{"type", "object"}}}};
  req.tool_choice = "auto";
  req.response_schema = json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}}})");
  req.schema_name = "answer";
  json b = body_of(wire_format::anthropic, req);
  REQUIRE(b["tools"].size() == 2);
  CHECK(b["tools"][0]["name"] == "lookup");
  CHECK(b["tools"][1]["name"] == "answer");
  CHECK(b["tools"][1]["input_schema"] == *req.response_schema);
  CHECK(b["tool_choice"] == json{{"type", "tool"}, {"name", "answer"}});
  CHECK_FALSE(b.contains("response_format"));

  req.schema_name = "lookup";  // clashes with a tool
  auto bad = agora::wire::to_request_body(wire_format::anthropic, req, "m", 100);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == agora::bb::errc::invalid_argument);
  CHECK_THAT(bad.error().message, Catch::Contains("schema_name"));
}

TEST_CASE("wire anthropic request body rejects tool call arguments that are not a JSON object", "[llm][wire]") {
  for (const char* args : {"not json", "[1,2]", "42"}) {
    llm_request req = simple_request();
    message call = message::assistant("");
    call.tool_calls = {{"t0", "ok", "{}"}, {"t1", "f", args}};
    req.messages.push_back(call);
    auto b = agora::wire::to_request_body(wire_format::anthropic, req, "m", 100);
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().code == agora::bb::errc::invalid_argument);
    CHECK_THAT(b.error().message, Catch::Contains("messages[2].tool_calls[1].arguments"));
    // OpenAI passes the text as it is.
    CHECK(body_of(wire_format::openai, req)["messages"][2]["tool_calls"][1]["function"]["arguments"] == args);
  }
}

TEST_CASE("wire request body merges extra last and a null removes a key", "[llm][wire]") {
  for (auto f : {wire_format::openai, wire_format::anthropic}) {
    INFO(agora::to_string(f));
    llm_request req = simple_request();
    req.temperature = 0.3;
    req.max_tokens = 10;
    req.extra = json::parse(R"({"temperature":null,"max_tokens":null,"max_completion_tokens":10,
                                "model":"override","metadata":{"user_id":"u1"}})");
    json b = body_of(f, req);
    CHECK_FALSE(b.contains("temperature"));
    CHECK_FALSE(b.contains("max_tokens"));
    CHECK(b["max_completion_tokens"] == 10);
    CHECK(b["model"] == "override");
    CHECK(b["metadata"] == json{{"user_id", "u1"}});

    req.extra = json::array({1});
    auto bad = agora::wire::to_request_body(f, req, "m", 100);
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("extra"));
  }
}

TEST_CASE("wire request body without a conversation fails naming messages", "[llm][wire]") {
  for (auto f : {wire_format::openai, wire_format::anthropic}) {
    llm_request req;
    auto none = agora::wire::to_request_body(f, req, "m", 100);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == agora::bb::errc::invalid_argument);
    CHECK_THAT(none.error().message, Catch::StartsWith("messages"));
    req.messages = {message::system("only a system prompt")};
    auto only_system = agora::wire::to_request_body(f, req, "m", 100);
    REQUIRE_FALSE(only_system.ok());
    CHECK_THAT(only_system.error().message, Catch::StartsWith("messages"));
  }
}

TEST_CASE("wire tool calls of a reply round-trip into the next request", "[llm][wire]") {
  llm_response r = parsed(wire_format::openai, read_data("openai_tool_calls.json"), simple_request());
  llm_request req = simple_request();
  message m = message::assistant(r.content);
  m.tool_calls = r.tool_calls;
  req.messages.push_back(m);
  for (const auto& c : r.tool_calls) req.messages.push_back(message::tool_result(c.id, "result of " + c.name));

  json o = body_of(wire_format::openai, req);
  REQUIRE(o["messages"].size() == 5);
  CHECK(o["messages"][2]["tool_calls"][0]["id"] == "call_7hGkQ2mZp4sLx9VbN1cT3rWd");
  CHECK(o["messages"][2]["tool_calls"][1]["function"]["arguments"] == R"({"timezone":"Asia/Tokyo"})");
  CHECK(o["messages"][4]["tool_call_id"] == "call_Rt5yU8iOp0aSd2fGh4jKl6zX");

  json a = body_of(wire_format::anthropic, req);
  REQUIRE(a["messages"].size() == 3);
  CHECK(a["messages"][1]["content"][0] ==
        json::parse(R"({"type":"tool_use","id":"call_7hGkQ2mZp4sLx9VbN1cT3rWd","name":"get_weather",
                        "input":{"city":"Paris","unit":"celsius"}})"));
  CHECK(a["messages"][2]["content"][1] ==
        json::parse(R"({"type":"tool_result","tool_use_id":"call_Rt5yU8iOp0aSd2fGh4jKl6zX","content":"result of get_time"})"));

  // An Anthropic reply's tool call goes back as the same tool_use block.
  llm_response ar = parsed(wire_format::anthropic, read_data("anthropic_tool_use.json"), simple_request());
  llm_request req2 = simple_request();
  message m2 = message::assistant(ar.content);
  m2.tool_calls = ar.tool_calls;
  req2.messages.push_back(m2);
  req2.messages.push_back(message::tool_result(ar.tool_calls[0].id, "18 C"));
  json a2 = body_of(wire_format::anthropic, req2);
  const json recorded = json::parse(read_data("anthropic_tool_use.json"));
  CHECK(a2["messages"][1]["content"] == recorded["content"]);
}

// --- replies ----------------------------------------------------------------------

TEST_CASE("wire parse_reply reads a recorded openai chat completion", "[llm][wire]") {
  llm_response r = parsed(wire_format::openai, read_data("openai_chat.json"), simple_request());
  CHECK(r.id == "chatcmpl-BuK3mQ7cXy5vR2nT8pLs0aZ1eHdGf");
  CHECK(r.model == "gpt-4o-mini-2024-07-18");
  CHECK(r.content == "The primes below 10 are 2, 3, 5 and 7.");
  CHECK(r.tool_calls.empty());
  CHECK(r.finish_reason == "stop");
  CHECK(r.tokens == agora::usage{1320, 17, 1152, 0});
  CHECK(r.usage_reported);
}

TEST_CASE("wire parse_reply reads recorded openai tool calls", "[llm][wire]") {
  llm_response r = parsed(wire_format::openai, read_data("openai_tool_calls.json"), simple_request());
  CHECK(r.id == "chatcmpl-BuK4Ta9LmW2xP0qRs7Vn3cYb8dEfG");
  CHECK(r.content.empty());
  CHECK(r.tool_calls ==
        std::vector<tool_call>{{"call_7hGkQ2mZp4sLx9VbN1cT3rWd", "get_weather", R"({"city":"Paris","unit":"celsius"})"},
                               {"call_Rt5yU8iOp0aSd2fGh4jKl6zX", "get_time", R"({"timezone":"Asia/Tokyo"})"}});
  CHECK(r.finish_reason == "tool_calls");
  CHECK(r.tokens == agora::usage{94, 52, 0, 0});
}

TEST_CASE("wire parse_reply reads a recorded anthropic message", "[llm][wire]") {
  llm_response r = parsed(wire_format::anthropic, read_data("anthropic_message.json"), simple_request());
  CHECK(r.id == "msg_01HqX7vZbN3kTpR9sWcY2mLd");
  CHECK(r.model == "claude-sonnet-4-20250514");
  CHECK(r.content == "The primes below 10 are 2, 3, 5 and 7.");
  CHECK(r.tool_calls.empty());
  CHECK(r.finish_reason == "stop");                      // end_turn
  CHECK(r.tokens == agora::usage{21 + 1890, 20, 1890, 0});  // cache reads count as prompt
  CHECK(r.usage_reported);
}

TEST_CASE("wire parse_reply reads a recorded anthropic tool use", "[llm][wire]") {
  llm_response r = parsed(wire_format::anthropic, read_data("anthropic_tool_use.json"), simple_request());
  CHECK(r.id == "msg_01Aq9TzWx4YbK7cRmN2pLs5V");
  CHECK(r.content == "I'll look up the weather in Paris.");
  CHECK(r.tool_calls ==
        std::vector<tool_call>{{"toolu_01D7FLrfh4GYq7yT1ULFeyMV", "get_weather", R"({"city":"Paris","unit":"celsius"})"}});
  CHECK(r.finish_reason == "tool_calls");
  CHECK(r.tokens == agora::usage{412, 71, 0, 0});
}

TEST_CASE("wire parse_reply normalizes anthropic stop reasons", "[llm][wire]") {
  json msg = json::parse(read_data("anthropic_message.json"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"end_turn", "stop"},       {"stop_sequence", "stop"},      {"max_tokens", "length"},
      {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "pause_turn"}};
  for (const auto& [sent, expected] : cases) {
    msg["stop_reason"] = sent;
    CHECK(parsed(wire_format::anthropic, msg.dump(), simple_request()).finish_reason == expected);
  }
  msg["stop_reason"] = nullptr;
  CHECK(parsed(wire_format::anthropic, msg.dump(), simple_request()).finish_reason.empty());
}

TEST_CASE("wire parse_reply returns anthropic's forced schema tool as content", "[llm][wire]") {
  llm_request req = simple_request();
  req.response_schema = json{{"type", "object"}};
  req.schema_name = "answer";
  json msg = json::parse(read_data("anthropic_tool_use.json"));
  msg["content"] = json::parse(R"([{"type":"tool_use","id":"toolu_9","name":"answer","input":{"primes":[2,3,5,7]}},
                                   {"type":"tool_use","id":"toolu_10","name":"get_weather","input":{}}])");
  llm_response r = parsed(wire_format::anthropic, msg.dump(), req);
  CHECK(json::parse(r.content) == json{{"primes", {2, 3, 5, 7}}});
  CHECK(r.finish_reason == "stop");
  CHECK(r.tool_calls == std::vector<tool_call>{{"toolu_10", "get_weather", "{}"}});

  // Without a schema in the request the same block is an ordinary tool call.
  llm_response plain = parsed(wire_format::anthropic, msg.dump(), simple_request());
  CHECK(plain.content.empty());
  CHECK(plain.tool_calls.size() == 2);
  CHECK(plain.finish_reason == "tool_calls");
}

TEST_CASE("wire parse_reply estimates usage a server did not report", "[llm][wire]") {
  json body = json::parse(read_data("openai_chat.json"));
  body.erase("usage");
  llm_request req = simple_request();
  llm_response r = parsed(wire_format::openai, body.dump(), req);
  CHECK_FALSE(r.usage_reported);
  CHECK(r.tokens.prompt == agora::estimate_prompt_tokens(req));
  CHECK(r.tokens.completion == agora::estimate_tokens(r.content));
}

TEST_CASE("wire parse_reply fails on bad 2xx bodies naming the field and quoting the body", "[llm][wire]") {
  const llm_request req = simple_request();
  auto fails = [&](wire_format f, const std::string& body, const std::string& names) {
    llm_result r = agora::wire::parse_reply(f, body, req);
    INFO(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::invalid_reply);
    CHECK_FALSE(r.error().retryable());
    CHECK_THAT(r.error().message, Catch::Contains(names));
    CHECK_THAT(r.error().message, Catch::Contains(body.substr(0, 20)));
    return r.error();
  };
  fails(wire_format::openai, "<html>502 Bad Gateway</html>", "not JSON");
  fails(wire_format::anthropic, "", "not JSON");
  fails(wire_format::openai, "[1,2]", "not a JSON object");
  fails(wire_format::openai, R"({"id":"x","choices":[]})", "'choices'");
  fails(wire_format::openai, R"({"id":"x","choices":[{"index":0}]})", "'choices[0].message'");
  fails(wire_format::openai, R"({"choices":[{"message":{"content":5}}]})", "'choices[0].message.content'");
  fails(wire_format::openai, R"({"choices":[{"message":{"tool_calls":[{"id":"c","function":{}}]}}]})",
        "'choices[0].message.tool_calls[0].function.name'");
  fails(wire_format::openai,
        R"({"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":-1,"completion_tokens":1}})",
        "prompt_tokens");
  fails(wire_format::anthropic, R"({"id":"msg","type":"message"})", "'content'");
  fails(wire_format::anthropic, R"({"content":[{"type":"text"}]})", "'content[0].text'");
  fails(wire_format::anthropic, R"({"content":[{"type":"tool_use","id":"t"}]})", "'content[0].name'");

  // A long body is quoted by its start only.
  const std::string long_body = "x" + std::string(5000, 'y');
  llm_error e = fails(wire_format::openai, long_body, "not JSON");
  CHECK(e.message.size() < 400);
}

TEST_CASE("wire parse_reply classifies an error object inside a 2xx body", "[llm][wire]") {
  const llm_request req = simple_request();
  llm_result a = agora::wire::parse_reply(wire_format::anthropic, read_data("anthropic_error_overloaded.json"), req);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == llm_errc::server);
  CHECK(a.error().retryable());
  CHECK_THAT(a.error().message, Catch::Contains("Overloaded"));

  llm_result o = agora::wire::parse_reply(wire_format::openai, R"({"error":{"message":"model is loading"}})", req);
  REQUIRE_FALSE(o.ok());
  CHECK(o.error().code == llm_errc::server);  // no code of its own: as a 500
  CHECK_THAT(o.error().message, Catch::Contains("model is loading"));

  // Its own numeric code counts (vLLM-style errors).
  llm_result v = agora::wire::parse_reply(
      wire_format::openai, R"({"object":"error","error":{"message":"too many","type":"x","code":429}})", req);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().code == llm_errc::rate_limited);
  llm_result bad = agora::wire::parse_reply(
      wire_format::openai, R"({"error":{"message":"bad param","type":"BadRequestError","code":400}})", req);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == llm_errc::bad_request);
}

TEST_CASE("wire recorded error bodies classify as the API means them", "[llm][wire]") {
  agora::llm_error o = agora::classify_http_error(429, read_data("openai_error_429.json"), {{"retry-after", "20"}});
  CHECK(o.code == llm_errc::rate_limited);
  CHECK(o.retry_after == std::chrono::milliseconds(20000));
  CHECK_THAT(o.message, Catch::Contains("Rate limit reached"));
  agora::llm_error a = agora::classify_http_error(529, read_data("anthropic_error_overloaded.json"), {});
  CHECK(a.code == llm_errc::server);
  CHECK_THAT(a.message, Catch::Contains("overloaded_error"));
}

// --- streams ----------------------------------------------------------------------

TEST_CASE("wire openai stream assembles to the non-streamed reply however it is split", "[llm][wire]") {
  check_stream_matches(wire_format::openai, "openai_stream.txt", "openai_chat.json", simple_request());
}

TEST_CASE("wire openai stream rebuilds tool calls from fragments however it is split", "[llm][wire]") {
  check_stream_matches(wire_format::openai, "openai_stream_tools.txt", "openai_tool_calls.json", simple_request());
}

TEST_CASE("wire anthropic stream assembles to the non-streamed reply however it is split", "[llm][wire]") {
  check_stream_matches(wire_format::anthropic, "anthropic_stream.txt", "anthropic_message.json", simple_request());
}

TEST_CASE("wire anthropic stream rebuilds tool use from json fragments however it is split", "[llm][wire]") {
  check_stream_matches(wire_format::anthropic, "anthropic_stream_tools.txt", "anthropic_tool_use.json",
                       simple_request());
}

TEST_CASE("wire openai stream without a usage chunk estimates usage", "[llm][wire]") {
  std::string stream = read_data("openai_stream.txt");
  // Drop the usage chunk (the one with empty choices), as servers that ignore
  // stream_options do.
  const auto at = stream.find(R"("choices":[],"usage")");
  REQUIRE(at != std::string::npos);
  const auto start = stream.rfind("data: ", at);
  const auto end = stream.find("\n\n", at) + 2;
  stream.erase(start, end - start);
  llm_request req = simple_request();
  llm_result r = assemble_whole(wire_format::openai, stream, req);
  REQUIRE(r.ok());
  CHECK_FALSE(r->usage_reported);
  CHECK(r->content == "The primes below 10 are 2, 3, 5 and 7.");
  CHECK(r->tokens.prompt == agora::estimate_prompt_tokens(req));
  CHECK(r->tokens.completion == agora::estimate_tokens(r->content));
}

TEST_CASE("wire anthropic error event mid-stream is a typed error", "[llm][wire]") {
  std::string deltas;
  llm_result r = assemble_whole(wire_format::anthropic, read_data("anthropic_stream_error.txt"), simple_request(), &deltas);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::server);
  CHECK(r.error().retryable());
  CHECK_THAT(r.error().message, Catch::Contains("overloaded_error") && Catch::Contains("Overloaded"));
  CHECK(deltas == "The primes");  // what came before the error was handed out

  const std::vector<std::pair<std::string, llm_errc>> cases = {
      {"rate_limit_error", llm_errc::rate_limited},
      {"api_error", llm_errc::server},
      {"overloaded_error", llm_errc::server},
      {"invalid_request_error", llm_errc::bad_request},
      {"authentication_error", llm_errc::authentication},
      {"something_new", llm_errc::server},
  };
  for (const auto& [type, code] : cases) {
    auto a = agora::wire::stream_assembler::make(wire_format::anthropic, simple_request());
    agora::sse_event e;
    e.event = "error";
    e.data = R"({"type":"error","error":{"type":")" + type + R"(","message":"m"}})";
    auto err = a->feed(e);
    INFO(type);
    REQUIRE(err);
    CHECK(err->code == code);
    // The stream is over: finish() reports the same error.
    llm_result f = a->finish(agora::sse_end{false, false, 1});
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == code);
  }
}

TEST_CASE("wire openai error chunk mid-stream is a typed error", "[llm][wire]") {
  const std::string stream = read_data("openai_stream.txt");
  const auto second = stream.find("\n\n") + 2;
  const std::string cut = stream.substr(0, second) +
                          "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
  llm_result r = assemble_whole(wire_format::openai, cut, simple_request());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::server);
  CHECK_THAT(r.error().message, Catch::Contains("The server had an error"));
}

TEST_CASE("wire stream cut off before its end marker is a retryable transport error", "[llm][wire]") {
  struct stream_case {
    wire_format f;
    const char* file;
    const char* marker;
    const char* last_event;
  };
  for (const auto& c : {stream_case{wire_format::openai, "openai_stream.txt", "[DONE]", "data: [DONE]"},
                        stream_case{wire_format::anthropic, "anthropic_stream.txt", "message_stop", "event: message_stop"}}) {
    INFO(c.file);
    const std::string stream = read_data(c.file);
    const auto last = stream.rfind(c.last_event);
    REQUIRE(last != std::string::npos);

    // Every event but the end marker.
    llm_result r = assemble_whole(c.f, stream.substr(0, last), simple_request());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::transport);
    CHECK(r.error().retryable());
    CHECK_THAT(r.error().message, Catch::Contains(std::string("stream ended without ") + c.marker));

    // Cut in the middle of an event.
    llm_result mid = assemble_whole(c.f, stream.substr(0, last - 30), simple_request());
    REQUIRE_FALSE(mid.ok());
    CHECK(mid.error().code == llm_errc::transport);
    CHECK_THAT(mid.error().message, Catch::Contains("middle of an event"));

    // The end marker came, but then half an event: the stream still counts as cut off.
    llm_result tail = assemble_whole(c.f, stream + "data: {\"partial", simple_request());
    REQUIRE_FALSE(tail.ok());
    CHECK(tail.error().code == llm_errc::transport);

    // Nothing at all.
    llm_result empty = assemble_whole(c.f, "", simple_request());
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().code == llm_errc::transport);
  }
}

TEST_CASE("wire malformed JSON chunk ends the stream with invalid_reply", "[llm][wire]") {
  for (auto f : {wire_format::openai, wire_format::anthropic}) {
    INFO(agora::to_string(f));
    auto a = agora::wire::stream_assembler::make(f, simple_request());
    agora::sse_event e;
    e.event = f == wire_format::openai ? "message" : "content_block_delta";
    e.data = R"({"choices":[{"delta":{"content":"hi"})";
    auto err = a->feed(e);
    REQUIRE(err);
    CHECK(err->code == llm_errc::invalid_reply);
    CHECK_FALSE(err->retryable());
    CHECK_THAT(err->message, Catch::Contains("not a JSON object") && Catch::Contains(R"({"choices")"));
    agora::sse_event done;
    done.data = "[DONE]";
    CHECK(a->feed(done));  // still failed
    llm_result r = a->finish(agora::sse_end{true, false, 2});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::invalid_reply);
  }
}

TEST_CASE("wire anthropic stream delta for a block that never started is invalid", "[llm][wire]") {
  auto a = agora::wire::stream_assembler::make(wire_format::anthropic, simple_request());
  agora::sse_event e;
  e.event = "content_block_delta";
  e.data = R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}})";
  auto err = a->feed(e);
  REQUIRE(err);
  CHECK(err->code == llm_errc::invalid_reply);
  CHECK_THAT(err->message, Catch::Contains("content block 3"));
}

TEST_CASE("wire anthropic stream in schema mode returns the forced tool's input as content", "[llm][wire]") {
  llm_request req = simple_request();
  req.response_schema = json{{"type", "object"}};
  req.schema_name = "answer";
  std::string stream = read_data("anthropic_stream_tools.txt");
  // The recorded tool stream, with its tool renamed to the schema tool.
  const std::string from = R"("name":"get_weather")", to = R"("name":"answer")";
  stream.replace(stream.find(from), from.size(), to);
  std::string deltas;
  llm_result r = assemble_whole(wire_format::anthropic, stream, req, &deltas);
  REQUIRE(r.ok());
  CHECK(json::parse(r->content) == json{{"city", "Paris"}, {"unit", "celsius"}});
  CHECK(r->tool_calls.empty());
  CHECK(r->finish_reason == "stop");
  // on_delta saw the text block and then the schema tool's JSON as it came.
  CHECK(deltas == R"(I'll look up the weather in Paris.{"city": "Paris", "unit": "celsius"})");
}

TEST_CASE("wire anthropic stream keeps tool input it cannot parse and defaults an empty one", "[llm][wire]") {
  const std::string stream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\","
      "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t0\",\"name\":\"now\",\"input\":{}}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": tru\"}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
      "\"usage\":{\"output_tokens\":9}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  llm_result r = assemble_whole(wire_format::anthropic, stream, simple_request());
  REQUIRE(r.ok());
  CHECK(r->tool_calls == std::vector<tool_call>{{"t0", "now", "{}"}, {"t1", "f", R"({"a": tru)"}});
  CHECK(r->tokens == agora::usage{5, 9, 0, 0});
  CHECK(r->finish_reason == "tool_calls");
}

TEST_CASE("wire openai stream follows choice 0 only and ignores events after [DONE]", "[llm][wire]") {
  const std::string stream =
      "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}},"
      "{\"index\":0,\"delta\":{\"content\":\"mine\"}}]}\n\n"
      "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],"
      "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
      "data: [DONE]\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n";
  llm_result r = assemble_whole(wire_format::openai, stream, simple_request());
  REQUIRE(r.ok());
  CHECK(r->id == "c1");
  CHECK(r->content == "mine");
  CHECK(r->finish_reason == "length");
  CHECK(r->tokens == agora::usage{3, 1, 0, 0});
}
