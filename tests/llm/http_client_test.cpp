// Tests of http_client.hpp: the real libcurl client against a real HTTP
// server on loopback (support/http_test_server), serving recorded OpenAI and
// Anthropic bodies and streams, and injecting faults.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/agents/http_client.hpp"
#include "support/http_test_server.hpp"

using namespace agora;
using namespace std::chrono_literals;
using agora::test::http_test_server;
using agora::test::scripted_response;
using json = nlohmann::json;

namespace {

const std::string expected_text = "The primes below 10 are 2, 3, 5 and 7.";

std::string data(const std::string& name) {
  std::ifstream in(std::string(AGORA_LLM_TEST_DATA) + "/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

scripted_response json_reply(int status, std::string body) {
  scripted_response r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = std::move(body);
  return r;
}

/// A stream sent as chunked SSE in small pieces, so events split across reads.
scripted_response sse_reply(std::string body, std::size_t piece = 0) {
  scripted_response r;
  r.headers = {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}};
  r.body = std::move(body);
  r.chunked = true;
  r.piece_bytes = piece;
  r.piece_delay = piece ? 1ms : 0ms;
  return r;
}

/// Fast retries, bounded timeouts, breaker off.
endpoint test_endpoint(const http_test_server& s, wire_format f = wire_format::openai) {
  endpoint ep;
  ep.format = f;
  ep.base_url = s.base_url() + "/v1";
  ep.model = f == wire_format::openai ? "gpt-4o-mini" : "claude-sonnet-4-20250514";
  ep.connect_timeout = 2s;
  ep.timeout = 10s;
  ep.idle_timeout = 5s;
  ep.retry.max_attempts = 3;
  ep.retry.base = 10ms;
  ep.retry.max_delay = 50ms;
  ep.breaker.failures = 0;
  ep.default_max_tokens = 321;
  return ep;
}

llm_request primes_request(bool stream = false) {
  llm_request req;
  req.messages = {message::system("Be terse."), message::user("Which numbers below 10 are prime?")};
  req.stream = stream;
  return req;
}

/// A call whose result arrives in a future; counts callbacks in `calls`.
struct pending {
  std::future<llm_result> result;
  call_handle handle;
};

pending start_call(llm_client& c, llm_request req, call_options o = {},
                   std::shared_ptr<std::atomic<int>> calls = nullptr) {
  auto p = std::make_shared<std::promise<llm_result>>();
  pending out{p->get_future(), {}};
  out.handle = c.call(
      std::move(req),
      [p, calls](llm_result r) {
        if (calls && calls->fetch_add(1) > 0) return;  // a second callback: counted, not delivered
        p->set_value(std::move(r));
      },
      std::move(o));
  return out;
}

llm_result wait(std::future<llm_result>& f, std::chrono::seconds limit = 10s) {
  REQUIRE(f.wait_for(limit) == std::future_status::ready);
  return f.get();
}

json body_of(const test::recorded_request& r) {
  auto j = json::parse(r.body, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

/// Sets an environment variable for one test and removes it after.
struct scoped_env {
  std::string name;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~scoped_env() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("http_client sends an OpenAI chat call and returns its content and usage", "[llm][http]") {
  http_test_server server;
  server.push(json_reply(200, data("openai_chat.json")));
  scoped_env key("AGORA_TEST_OPENAI_KEY", "sk-test-openai-123");
  auto ep = test_endpoint(server);
  ep.api_key_env = "AGORA_TEST_OPENAI_KEY";
  ep.headers = {{"X-Extra", "yes"}};
  http_client client(ep);

  std::atomic<bool> on_caller_thread{false};
  auto caller = std::this_thread::get_id();
  auto p = std::make_shared<std::promise<llm_result>>();
  auto f = p->get_future();
  (void)client.call(primes_request(), [&, p](llm_result r) {
    on_caller_thread = std::this_thread::get_id() == caller;
    p->set_value(std::move(r));
  });
  auto r = wait(f);
  REQUIRE(r.ok());
  CHECK(r->content == expected_text);
  CHECK(r->model == "gpt-4o-mini-2024-07-18");
  CHECK(r->finish_reason == "stop");
  CHECK(r->tokens.prompt == 1320);
  CHECK(r->tokens.completion == 17);
  CHECK(r->tokens.cached == 1152);
  CHECK(r->attempts == 1);
  CHECK(r->latency.count() > 0);
  CHECK_FALSE(on_caller_thread);

  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].path == "/v1/chat/completions");
  CHECK(seen[0].header("authorization") == "Bearer sk-test-openai-123");
  CHECK(seen[0].header("content-type") == "application/json");
  CHECK(seen[0].header("x-extra") == "yes");
  auto body = body_of(seen[0]);
  CHECK(body.at("model") == "gpt-4o-mini");
  REQUIRE(body.at("messages").size() == 2);
  CHECK(body["messages"][0]["role"] == "system");
  CHECK(body["messages"][1]["content"] == "Which numbers below 10 are prime?");
  CHECK_FALSE(body.value("stream", false));
}

TEST_CASE("http_client sends an Anthropic message call with its headers and max_tokens", "[llm][http]") {
  http_test_server server;
  server.push(json_reply(200, data("anthropic_message.json")));
  scoped_env key("AGORA_TEST_ANTHROPIC_KEY", "sk-ant-test-456");
  auto ep = test_endpoint(server, wire_format::anthropic);
  ep.api_key_env = "AGORA_TEST_ANTHROPIC_KEY";
  http_client client(ep);

  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE(r.ok());
  CHECK(r->content == expected_text);
  CHECK(r->tokens.prompt == 21 + 1890);
  CHECK(r->tokens.completion == 20);
  CHECK(r->tokens.cached == 1890);

  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].path == "/v1/messages");
  CHECK(seen[0].header("x-api-key") == "sk-ant-test-456");
  CHECK(seen[0].header("anthropic-version") == "2023-06-01");
  CHECK(seen[0].header("authorization").empty());
  auto body = body_of(seen[0]);
  CHECK(body.at("model") == "claude-sonnet-4-20250514");
  CHECK(body.at("max_tokens") == 321);
  CHECK(body.at("system").dump().find("Be terse.") != std::string::npos);
  REQUIRE(body.at("messages").size() == 1);
  CHECK(body["messages"][0]["role"] == "user");
}

TEST_CASE("http_client streams an OpenAI reply split across reads", "[llm][http]") {
  http_test_server server;
  server.push(sse_reply(data("openai_stream.txt"), 7));
  http_client client(test_endpoint(server));

  std::string deltas;  // written on the I/O thread, read after the result arrived
  call_options o;
  o.on_delta = [&deltas](std::string_view t) { deltas += t; };
  auto c = start_call(client, primes_request(true), o);
  auto r = wait(c.result);
  REQUIRE(r.ok());
  CHECK(r->content == expected_text);
  CHECK(deltas == expected_text);
  CHECK(r->usage_reported);
  CHECK(r->tokens.prompt == 1320);
  CHECK(r->tokens.completion == 17);
  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].header("accept") == "text/event-stream");
  auto body = body_of(seen[0]);
  CHECK(body.at("stream") == true);
  CHECK(body.at("stream_options").at("include_usage") == true);
}

TEST_CASE("http_client streams an Anthropic reply split across reads", "[llm][http]") {
  http_test_server server;
  server.push(sse_reply(data("anthropic_stream.txt"), 5));
  http_client client(test_endpoint(server, wire_format::anthropic));
  std::string deltas;
  call_options o;
  o.on_delta = [&deltas](std::string_view t) { deltas += t; };
  auto c = start_call(client, primes_request(true), o);
  auto r = wait(c.result);
  REQUIRE(r.ok());
  CHECK(r->content == expected_text);
  CHECK(deltas == expected_text);
  CHECK(r->tokens.completion == 20);
  CHECK(r->tokens.prompt == 21 + 1890);
  CHECK(body_of(server.requests().at(0)).at("stream") == true);
}

TEST_CASE("http_client honours retry-after-ms and Retry-After on 429", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  std::chrono::milliseconds asked{0};
  SECTION("retry-after-ms") {
    auto r429 = json_reply(429, data("openai_error_429.json"));
    r429.headers["retry-after-ms"] = "300";
    server.push(r429);
    asked = 300ms;
  }
  SECTION("Retry-After in seconds") {
    auto r429 = json_reply(429, data("openai_error_429.json"));
    r429.headers["Retry-After"] = "1";
    server.push(r429);
    asked = 1000ms;
  }
  server.push(json_reply(200, data("openai_chat.json")));
  http_client client(ep);
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  auto seen = server.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].at - seen[0].at >= asked);
  CHECK(r->latency >= asked);
}

TEST_CASE("http_client retries 500 and 503 and succeeds on the third attempt", "[llm][http]") {
  http_test_server server;
  server.push(json_reply(500, R"({"error":{"message":"boom","type":"server_error"}})"));
  server.push(json_reply(503, "Service Unavailable"));
  server.push(json_reply(200, data("openai_chat.json")));
  http_client client(test_endpoint(server));
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE(r.ok());
  CHECK(r->attempts == 3);
  CHECK(server.request_count() == 3);
}

TEST_CASE("http_client gives up after max_attempts with the last error", "[llm][http]") {
  http_test_server server;
  for (int i = 0; i < 3; ++i) server.push(json_reply(503, "down for maintenance"));
  http_client client(test_endpoint(server));
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::server);
  CHECK(r.error().http_status == 503);
  CHECK(r.error().message.find("after 3 attempts") != std::string::npos);
  CHECK(server.request_count() == 3);
}

TEST_CASE("http_client does not retry 400 or insufficient_quota", "[llm][http]") {
  http_test_server server;
  llm_errc want{};
  SECTION("400") {
    server.push(json_reply(400, R"({"error":{"message":"Unknown parameter: 'foo'","type":"invalid_request_error"}})"));
    want = llm_errc::bad_request;
  }
  SECTION("429 insufficient_quota") {
    server.push(json_reply(
        429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})"));
    want = llm_errc::quota;
  }
  server.push(json_reply(200, data("openai_chat.json")));  // must not be asked for
  http_client client(test_endpoint(server));
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == want);
  CHECK(server.request_count() == 1);
}

TEST_CASE("http_client times out a slow first byte and retries", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  ep.idle_timeout = 200ms;
  auto slow = json_reply(200, data("openai_chat.json"));
  slow.first_byte_delay = 2000ms;
  SECTION("the retry succeeds") {
    server.push(slow);
    server.push(json_reply(200, data("openai_chat.json")));
    http_client client(ep);
    auto t0 = std::chrono::steady_clock::now();
    auto c = start_call(client, primes_request());
    auto r = wait(c.result);
    REQUIRE(r.ok());
    CHECK(r->attempts == 2);
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);  // did not wait for the slow reply
  }
  SECTION("every attempt is slow") {
    ep.retry.max_attempts = 2;
    server.push(slow);
    server.push(slow);
    http_client client(ep);
    auto c = start_call(client, primes_request());
    auto r = wait(c.result);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::timeout);
    CHECK(r.error().message.find("idle_timeout") != std::string::npos);
    CHECK(server.request_count() == 2);
  }
  SECTION("the total timeout") {
    ep.retry.max_attempts = 1;
    ep.idle_timeout = 10s;
    ep.timeout = 300ms;
    auto trickle = sse_reply(data("openai_stream.txt"), 50);
    trickle.piece_delay = 100ms;  // bytes keep coming, the whole takes seconds
    server.push(trickle);
    http_client client(ep);
    auto c = start_call(client, primes_request(true));
    auto r = wait(c.result);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::timeout);
  }
}

TEST_CASE("http_client retries a stream dropped mid-way", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  auto dropped = sse_reply(data("openai_stream.txt"), 64);
  dropped.close_after_bytes = 700;
  SECTION("then succeeds") {
    server.push(dropped);
    server.push(sse_reply(data("openai_stream.txt"), 64));
    http_client client(ep);
    auto c = start_call(client, primes_request(true));
    auto r = wait(c.result);
    REQUIRE(r.ok());
    CHECK(r->content == expected_text);
    CHECK(r->attempts == 2);
  }
  SECTION("without a retry: a transport error") {
    ep.retry.max_attempts = 1;
    server.push(dropped);
    http_client client(ep);
    auto c = start_call(client, primes_request(true));
    auto r = wait(c.result);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::transport);
  }
}

TEST_CASE("http_client fails a stream that ends without its end marker", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  ep.retry.max_attempts = 1;
  std::string body = data("openai_stream.txt");
  auto done = body.find("data: [DONE]");
  REQUIRE(done != std::string::npos);
  body.erase(done);
  server.push(sse_reply(body, 100));
  http_client client(ep);
  auto c = start_call(client, primes_request(true));
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::transport);
  CHECK(r.error().retryable());
}

TEST_CASE("http_client turns an error event inside a stream into a typed error", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server, wire_format::anthropic);
  ep.retry.max_attempts = 1;
  server.push(sse_reply(data("anthropic_stream_error.txt"), 40));
  http_client client(ep);
  auto c = start_call(client, primes_request(true));
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::server);
  CHECK(r.error().message.find("Overloaded") != std::string::npos);
}

TEST_CASE("http_client classifies an error status on a streamed call by its body", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server, wire_format::anthropic);
  ep.retry.max_attempts = 1;
  server.push(json_reply(529, data("anthropic_error_overloaded.json")));
  http_client client(ep);
  auto c = start_call(client, primes_request(true));
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::server);
  CHECK(r.error().http_status == 529);
}

TEST_CASE("http_client reports a malformed JSON reply as invalid_reply without retrying", "[llm][http]") {
  http_test_server server;
  server.push(json_reply(200, R"({"id": "chatcmpl-1", "choices": [ {"message": )"));
  server.push(json_reply(200, data("openai_chat.json")));
  http_client client(test_endpoint(server));
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::invalid_reply);
  CHECK(server.request_count() == 1);
}

TEST_CASE("http_client cancels a call promptly wherever it is", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  SECTION("in flight, the server never answers") {
    scripted_response never;
    never.never_answer = true;
    server.push(never);
    http_client client(ep);
    auto c = start_call(client, primes_request());
    REQUIRE(server.wait_for_requests(1, 5s));
    auto t0 = std::chrono::steady_clock::now();
    c.handle.cancel();
    auto r = wait(c.result, 2s);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::cancelled);
    c.handle.cancel();  // a second cancel does nothing
  }
  SECTION("waiting for a retry") {
    auto r429 = json_reply(429, data("openai_error_429.json"));
    r429.headers["retry-after-ms"] = "20000";
    server.push(r429);
    http_client client(ep);
    auto c = start_call(client, primes_request());
    REQUIRE(server.wait_for_requests(1, 5s));
    c.handle.cancel();
    auto r = wait(c.result, 2s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::cancelled);
    CHECK(server.request_count() == 1);
  }
  SECTION("queued behind max_in_flight") {
    ep.max_in_flight = 1;
    scripted_response never;
    never.never_answer = true;
    server.set_default(never);
    http_client client(ep);
    auto first = start_call(client, primes_request());
    REQUIRE(server.wait_for_requests(1, 5s));
    auto queued = start_call(client, primes_request());
    queued.handle.cancel();
    auto r = wait(queued.result, 2s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::cancelled);
    CHECK(server.request_count() == 1);
    first.handle.cancel();
    CHECK(wait(first.result, 2s).error().code == llm_errc::cancelled);
  }
}

TEST_CASE("http_client keeps at most max_in_flight requests at the server and queues the rest", "[llm][http]") {
  http_test_server server;
  auto slow = json_reply(200, data("openai_chat.json"));
  slow.first_byte_delay = 100ms;
  server.set_default(slow);
  auto ep = test_endpoint(server);
  ep.max_in_flight = 2;
  http_client client(ep);
  std::vector<pending> calls;
  for (int i = 0; i < 6; ++i) calls.push_back(start_call(client, primes_request()));
  for (auto& c : calls) {
    auto r = wait(c.result);
    CHECK(r.ok());
  }
  CHECK(server.request_count() == 6);
  CHECK(server.max_concurrent() == 2);
  CHECK(server.connections() <= 2);  // connections are kept alive and reused
}

TEST_CASE("http_client circuit breaker opens after consecutive failures and closes after a probe", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  ep.retry.max_attempts = 1;
  ep.breaker.failures = 3;
  ep.breaker.cool_down = 300ms;
  for (int i = 0; i < 3; ++i) server.push(json_reply(500, "boom"));
  http_client client(ep);
  for (int i = 0; i < 3; ++i) {
    auto c = start_call(client, primes_request());
    CHECK(wait(c.result).error().code == llm_errc::server);
  }
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::circuit_open);
  CHECK(r.error().message.find(ep.url()) != std::string::npos);
  CHECK(r.error().message.find("lets a call through in") != std::string::npos);
  REQUIRE(r.error().retry_after);
  CHECK(*r.error().retry_after <= 300ms);
  CHECK(server.request_count() == 3);  // nothing reached the server

  // After the cool-down (the wait the error names), one probe goes through.
  std::this_thread::sleep_for(*r.error().retry_after + 20ms);
  auto probe_reply = json_reply(200, data("openai_chat.json"));
  probe_reply.first_byte_delay = 200ms;
  server.push(probe_reply);
  server.push(json_reply(200, data("openai_chat.json")));
  auto probe = start_call(client, primes_request());
  REQUIRE(server.wait_for_requests(4, 5s));
  auto during = start_call(client, primes_request());  // while the probe is out
  auto d = wait(during.result);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == llm_errc::circuit_open);
  CHECK(wait(probe.result).ok());
  auto after = start_call(client, primes_request());
  CHECK(wait(after.result).ok());
  CHECK(server.request_count() == 5);
}

TEST_CASE("http_client fails with invalid_request naming a missing API key variable", "[llm][http]") {
  http_test_server server;
  auto ep = test_endpoint(server);
  ep.api_key_env = "AGORA_TEST_NO_SUCH_KEY_VARIABLE";
  ::unsetenv(ep.api_key_env.c_str());
  http_client client(ep);
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::invalid_request);
  CHECK(r.error().message.find("AGORA_TEST_NO_SUCH_KEY_VARIABLE") != std::string::npos);
  CHECK(server.request_count() == 0);
}

TEST_CASE("http_client never shows the API key in errors or describe", "[llm][http]") {
  const std::string secret = "sk-agora-SECRET-4f9d2c7e1b";
  http_test_server server;
  scoped_env key("AGORA_TEST_SECRET_KEY", secret);
  auto ep = test_endpoint(server);
  ep.api_key_env = "AGORA_TEST_SECRET_KEY";
  ep.retry.max_attempts = 2;
  // Servers echo keys back; the client must not pass them on.
  server.push(json_reply(401, R"({"error":{"message":"Incorrect API key provided: )" + secret +
                                  R"(","type":"invalid_request_error","code":"invalid_api_key"}})"));
  server.push(json_reply(500, "internal error for key " + secret));
  server.push(json_reply(503, "still failing for key " + secret));
  http_client client(ep);
  std::vector<std::string> texts{client.describe()};
  for (int i = 0; i < 2; ++i) {
    auto c = start_call(client, primes_request());
    auto r = wait(c.result);
    REQUIRE_FALSE(r.ok());
    texts.push_back(r.error().message);
  }
  CHECK(client.describe().find("AGORA_TEST_SECRET_KEY") != std::string::npos);
  for (const auto& t : texts) {
    INFO(t);
    CHECK(t.find(secret) == std::string::npos);
  }
  auto seen = server.requests();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].header("authorization") == "Bearer " + secret);
}

TEST_CASE("http_client completes 200 calls in flight at once", "[llm][http]") {
  http_test_server server;
  auto reply = json_reply(200, data("openai_chat.json"));
  // So they overlap at the server: long enough that all 200 are sent before
  // the first is answered even under ThreadSanitizer on a busy machine
  // (300 ms was not: a CI run peaked at exactly 100 in flight).
  reply.first_byte_delay = 2s;
  server.set_default(reply);
  auto ep = test_endpoint(server);
  ep.max_in_flight = 256;
  ep.timeout = 30s;
  http_client client(ep);
  std::vector<pending> calls;
  for (int i = 0; i < 200; ++i) calls.push_back(start_call(client, primes_request(), {}, nullptr));
  int ok = 0;
  for (auto& c : calls) ok += wait(c.result, 30s).ok() ? 1 : 0;
  CHECK(ok == 200);
  CHECK(server.request_count() == 200);
  CHECK(server.max_concurrent() > 100);
  CHECK(client.totals().calls == 200);
}

TEST_CASE("http_client destructor cancels the calls in flight, each callback once", "[llm][http]") {
  http_test_server server;
  scripted_response never;
  never.never_answer = true;
  server.set_default(never);
  auto ep = test_endpoint(server);
  ep.max_in_flight = 3;  // 3 at the server, 2 queued
  auto callbacks = std::make_shared<std::atomic<int>>(0);
  std::vector<std::future<llm_result>> results;
  std::vector<call_handle> handles;
  {
    http_client client(ep);
    for (int i = 0; i < 5; ++i) {
      auto p = std::make_shared<std::promise<llm_result>>();
      results.push_back(p->get_future());
      handles.push_back(client.call(primes_request(), [p, callbacks](llm_result r) {
        callbacks->fetch_add(1);
        p->set_value(std::move(r));
      }));
    }
    REQUIRE(server.wait_for_requests(3, 5s));
  }
  CHECK(callbacks->load() == 5);  // all ran before the destructor returned
  for (const auto& h : handles) h.cancel();  // after the client is gone: nothing happens
  CHECK(callbacks->load() == 5);
  for (auto& f : results) {
    REQUIRE(f.wait_for(0s) == std::future_status::ready);
    auto r = f.get();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::cancelled);
  }
}

TEST_CASE("http_client reports a refused connection as a transport error", "[llm][http]") {
  std::string url;
  {
    http_test_server gone;  // a port that was free a moment ago and is closed now
    url = gone.base_url() + "/v1";
  }
  endpoint ep;
  ep.base_url = url;
  ep.model = "m";
  ep.retry.max_attempts = 2;
  ep.retry.base = 10ms;
  ep.breaker.failures = 0;
  http_client client(ep);
  auto c = start_call(client, primes_request());
  auto r = wait(c.result);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::transport);
  CHECK(r.error().message.find(url) != std::string::npos);
}

TEST_CASE("http_client describe names format, URL and model without credentials", "[llm][http]") {
  endpoint ep;
  ep.base_url = "https://user:pa55word@llm.example.com/v1";
  ep.model = "qwen";
  ep.api_key_env = "MY_KEY";
  http_client client(ep);
  auto d = client.describe();
  CHECK(d.find("openai-compatible") != std::string::npos);
  CHECK(d.find("llm.example.com/v1") != std::string::npos);
  CHECK(d.find("qwen") != std::string::npos);
  CHECK(d.find("pa55word") == std::string::npos);
  CHECK(client.default_model() == "qwen");
}

TEST_CASE("endpoint from_json reads a scenario's endpoint", "[llm][http]") {
  auto ep = endpoint::from_json(json::parse(R"({
    "format": "anthropic", "model": "claude-3-5-haiku-latest", "api_key_env": "ANTHROPIC_API_KEY",
    "headers": {"X-Team": "a"}, "connect_timeout_ms": 1500, "timeout_ms": 60000, "idle_timeout_ms": 20000,
    "default_max_tokens": 2048, "max_in_flight": 8,
    "retry": {"max_attempts": 4, "base_ms": 250, "max_delay_ms": 8000},
    "breaker": {"failures": 6, "cool_down_ms": 10000}})"));
  REQUIRE(ep.ok());
  CHECK(ep->format == wire_format::anthropic);
  CHECK(ep->base_url == "https://api.anthropic.com/v1");
  CHECK(ep->url() == "https://api.anthropic.com/v1/messages");
  CHECK(ep->model == "claude-3-5-haiku-latest");
  CHECK(ep->api_key_env == "ANTHROPIC_API_KEY");
  CHECK(ep->headers.at("X-Team") == "a");
  CHECK(ep->connect_timeout == 1500ms);
  CHECK(ep->timeout == 60000ms);
  CHECK(ep->idle_timeout == 20000ms);
  CHECK(ep->default_max_tokens == 2048);
  CHECK(ep->max_in_flight == 8);
  CHECK(ep->retry.max_attempts == 4);
  CHECK(ep->retry.base == 250ms);
  CHECK(ep->retry.max_delay == 8000ms);
  CHECK(ep->breaker.failures == 6);
  CHECK(ep->breaker.cool_down == 10000ms);

  auto local = endpoint::from_json(json::parse(R"({"base_url": "http://127.0.0.1:11434/v1/", "model": "qwen2.5"})"));
  REQUIRE(local.ok());
  CHECK(local->format == wire_format::openai);
  CHECK(local->api_key_env.empty());
  CHECK(local->url() == "http://127.0.0.1:11434/v1/chat/completions");
}

TEST_CASE("endpoint from_json names the bad field", "[llm][http]") {
  auto err = [](const char* text) {
    auto r = endpoint::from_json(json::parse(text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == bb::errc::invalid_argument);
    return r.error().message;
  };
  CHECK(err(R"({"format": "gemini", "model": "m"})").find("'format'") != std::string::npos);
  CHECK(err(R"({"format": "openai"})").find("'model'") != std::string::npos);
  CHECK(err(R"({"model": "m", "timeout_ms": "soon"})").find("'timeout_ms'") != std::string::npos);
  CHECK(err(R"({"model": "m", "max_in_flight": 0})").find("'max_in_flight'") != std::string::npos);
  CHECK(err(R"({"model": "m", "retry": {"attempts": 3}})").find("'retry.attempts'") != std::string::npos);
  CHECK(err(R"({"model": "m", "breaker": {"failures": -1}})").find("'breaker.failures'") != std::string::npos);
  CHECK(err(R"({"model": "m", "base_url": "ftp://x"})").find("'base_url'") != std::string::npos);
  CHECK(err(R"({"model": "m", "api_key": "sk-oops"})").find("'api_key'") != std::string::npos);
  CHECK(err(R"({"model": "m", "headers": {"X": 1}})").find("'headers.X'") != std::string::npos);
  CHECK(err(R"(["not", "an", "object"])").find("object") != std::string::npos);
}
