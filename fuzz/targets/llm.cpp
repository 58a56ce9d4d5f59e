// Fuzz targets of the LLM layer: what a model server sends back (SSE
// streams, reply bodies, error replies, usage objects) and what a user
// hands in as files (replay recordings, endpoint configuration).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include <unistd.h>

#include "agora/agents/http_client.hpp"
#include "agora/agents/llm_error.hpp"
#include "agora/agents/llm_json.hpp"
#include "agora/agents/sse.hpp"
#include "agora/agents/test_clients.hpp"
#include "agora/agents/usage.hpp"
#include "agora/agents/wire.hpp"
#include "support.hpp"

namespace agora::fuzz {

namespace {

using nlohmann::json;

// --- sse ---------------------------------------------------------------------------

struct sse_run {
  bool ok = true;
  std::vector<sse_event> events;
  sse_end end;
};

bool same_events(const std::vector<sse_event>& a, const std::vector<sse_event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id || a[i].retry != b[i].retry)
      return false;
  return true;
}

/// Feeds `stream` to `p` in pieces of the sizes `sizes` cycles through (0 = whole).
sse_run feed(sse_parser& p, std::string_view stream, const std::vector<std::size_t>& sizes) {
  sse_run out;
  std::size_t at = 0, k = 0;
  while (at < stream.size()) {
    const std::size_t n = sizes[k++ % sizes.size()];
    const std::string_view chunk = stream.substr(at, n == 0 ? stream.size() : n);
    at += chunk.size();
    auto got = p.feed(chunk);
    if (!got) {
      out.ok = false;
      AGORA_FUZZ_CHECK(got.error().code == bb::errc::limit_exceeded, bb::to_string(got.error()));
      auto again = p.feed("data: x\n\n");
      AGORA_FUZZ_CHECK(!again, "a failed parser accepted more input");
      break;
    }
    for (auto& e : *got) out.events.push_back(std::move(e));
  }
  out.end = p.finish();
  return out;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// --- wire ---------------------------------------------------------------------------

/// A request as the reply answers it: bit 0 the format, bit 1 a response
/// schema, bit 2 a tool.
llm_request request_for(std::uint8_t mode) {
  llm_request req;
  req.messages = {message::system("Be terse."), message::user("Name a prime.")};
  if (mode & 2) {
    req.response_schema = json{{"type", "object"}, {"properties", {{"answer", {{"type", "string"}}}}}};
    req.schema_name = "output";
  }
  if (mode & 4) req.tools.push_back(tool_def{"search", "searches", json{{"type", "object"}}});
  return req;
}

wire_format format_for(std::uint8_t mode) { return (mode & 1) ? wire_format::anthropic : wire_format::openai; }

/// A result as JSON, for comparisons.
json summary(const llm_result& r) { return r.ok() ? json{{"ok", to_json(r.value())}} : json{{"error", to_json(r.error())}}; }

void check_result(const llm_result& r) {
  if (r.ok()) {
    // What a recording holds must read back as the same response.
    const json j = to_json(r.value());
    auto back = from_json<llm_response>(json::parse(text(j), nullptr, false));
    AGORA_FUZZ_CHECK(back.ok(), "to_json of a parsed reply does not read back: " +
                                    (back ? std::string() : back.error().message));
    AGORA_FUZZ_CHECK(text(to_json(*back)) == text(j), "reply changes in a JSON round trip: " + text(j));
  } else {
    AGORA_FUZZ_CHECK(!r.error().message.empty(), "error without a message");
    (void)r.error().retryable();
  }
}

struct stream_run {
  bool parsed = true;  // the SSE layer accepted the bytes
  json result;
  std::string deltas;
};

stream_run assemble(wire_format f, const llm_request& req, std::string_view stream,
                    const std::vector<std::size_t>& sizes) {
  stream_run out;
  sse_parser p;
  auto a = wire::stream_assembler::make(f, req);
  a->on_delta = [&](std::string_view d) { out.deltas.append(d); };
  bool failed = false;
  std::size_t at = 0, k = 0;
  while (at < stream.size()) {
    const std::size_t n = sizes[k++ % sizes.size()];
    const std::string_view chunk = stream.substr(at, n == 0 ? stream.size() : n);
    at += chunk.size();
    auto events = p.feed(chunk);
    if (!events) {
      out.parsed = false;
      return out;
    }
    for (const auto& e : *events) {
      if (failed) break;
      if (a->feed(e)) failed = true;  // the stream is over; finish() reports the error
    }
  }
  llm_result r = a->finish(p.finish());
  check_result(r);
  if (r.ok() && f == wire_format::openai)
    AGORA_FUZZ_CHECK(out.deltas == r->content, "on_delta saw other text than the content");
  out.result = summary(r);
  return out;
}

// --- replay files -------------------------------------------------------------------

/// A temporary file per process (the fuzzers run one input at a time).
const std::string& replay_path() {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("agora_fuzz_replay_" + std::to_string(::getpid()) + ".jsonl"))
          .string();
  return path;
}

/// The first exchange's request, read as replay_client reads it.
std::optional<llm_request> first_request(std::string_view file) {
  std::size_t at = 0;
  while (at <= file.size()) {
    std::size_t nl = file.find('\n', at);
    if (nl == std::string_view::npos) nl = file.size();
    std::string_view line = file.substr(at, nl - at);
    at = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("request")) return std::nullopt;
    auto r = from_json<llm_request>(j["request"]);
    if (!r) return std::nullopt;
    return *r;
  }
  return std::nullopt;
}

template <class T>
void round_trip(const json& j) {
  auto r = from_json<T>(j, "x");
  if (!r) {
    const bb::error& e = r.error();
    AGORA_FUZZ_CHECK(e.code == bb::errc::invalid_argument, bb::to_string(e));
    AGORA_FUZZ_CHECK(e.message.rfind("x", 0) == 0, "message does not start with `where`: " + e.message);
    AGORA_FUZZ_CHECK(e.path.empty() || e.path.front() == '/', "path is not a JSON pointer: " + e.path);
    return;
  }
  const json once = to_json(*r);
  auto back = from_json<T>(json::parse(text(once), nullptr, false));
  AGORA_FUZZ_CHECK(back.ok(), "to_json output " + text(once) + " does not read back: " +
                                  (back ? std::string() : back.error().message));
  AGORA_FUZZ_CHECK(text(to_json(*back)) == text(once), "not a fixed point: " + text(once));
}

}  // namespace

int fuzz_sse(const std::uint8_t* data, std::size_t size) {
  return guarded("sse", [&] {
    const std::string_view stream(reinterpret_cast<const char*>(data), size);
    // The bytes are the stream (so recorded streams serve as seeds as they
    // are); the limits are the defaults and small ones that the fuzzer can reach.
    for (const auto& [max_line, max_event] : {std::pair<std::size_t, std::size_t>{1 << 20, 8 << 20}, {64, 256}}) {
      sse_parser p(max_line, max_event);
      const sse_run whole = feed(p, stream, {0});
      // The parser is reusable after finish(): the same stream again gives the same.
      const sse_run reused = feed(p, stream, {0});
      sse_parser q(max_line, max_event);
      const sse_run bytes = feed(q, stream, {1});  // a split at every point
      sse_parser r(max_line, max_event);
      const std::size_t step = 2 + size % 11;
      const sse_run chunks = feed(r, stream, {step, 1, 2 * step + 1});

      for (const sse_run* other : {&reused, &bytes, &chunks}) {
        AGORA_FUZZ_CHECK(other->ok == whole.ok, "chunking changes whether the stream is accepted");
        if (!whole.ok) continue;
        AGORA_FUZZ_CHECK(same_events(other->events, whole.events), "chunking changes the events");
        AGORA_FUZZ_CHECK(other->end.saw_done == whole.end.saw_done && other->end.partial == whole.end.partial &&
                             other->end.events == whole.end.events,
                         "chunking changes how the stream ended");
      }
      if (!whole.ok) continue;
      bool done = false;
      for (const auto& e : whole.events) {
        AGORA_FUZZ_CHECK(!e.event.empty(), "event without a type");
        AGORA_FUZZ_CHECK(e.data.size() <= max_event, "event data over max_event_bytes");
        AGORA_FUZZ_CHECK(e.id.find('\0') == std::string::npos, "id with NUL");
        done = done || e.done();
      }
      AGORA_FUZZ_CHECK(whole.end.saw_done == done, "saw_done disagrees with the events");
      AGORA_FUZZ_CHECK(whole.end.events == whole.events.size(), "events count");
    }
  });
}

int fuzz_wire_reply(const std::uint8_t* data, std::size_t size) {
  return guarded("wire_reply", [&] {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    // Every format and request mode on the same body: plain, schema, tools.
    for (std::uint8_t mode : {0, 1, 2, 3, 4, 5}) {
      const llm_request req = request_for(mode);
      llm_result r = wire::parse_reply(format_for(mode), body, req);
      check_result(r);
      AGORA_FUZZ_CHECK(summary(r) == summary(wire::parse_reply(format_for(mode), body, req)),
                       "parse_reply is not deterministic");
    }
  });
}

int fuzz_wire_stream(const std::uint8_t* data, std::size_t size) {
  return guarded("wire_stream", [&] {
    const std::string_view stream(reinterpret_cast<const char*>(data), size);
    for (std::uint8_t mode : {0, 1, 2, 3}) {
      const llm_request req = request_for(mode);
      const wire_format f = format_for(mode);
      const stream_run whole = assemble(f, req, stream, {0});
      if (!whole.parsed) {
        // Bytes the SSE layer refuses: one split point is enough to compare.
        const stream_run half = assemble(f, req, stream, {1 + size / 2, 0});
        AGORA_FUZZ_CHECK(half.parsed == whole.parsed && half.result == whole.result,
                         "a split stream assembles differently: " + text(half.result) + " vs " + text(whole.result));
        continue;
      }
      const stream_run bytes = assemble(f, req, stream, {1});  // a split at every point
      const stream_run odd = assemble(f, req, stream, {3 + size % 7, 1});
      for (const stream_run* other : {&bytes, &odd}) {
        AGORA_FUZZ_CHECK(other->parsed == whole.parsed, "chunking changes whether the SSE layer accepts the stream");
        AGORA_FUZZ_CHECK(other->result == whole.result, "a split stream assembles differently: " +
                                                            text(other->result) + " vs " + text(whole.result));
        AGORA_FUZZ_CHECK(other->deltas == whole.deltas, "a split stream gives other deltas");
      }
    }
  });
}

int fuzz_http_error(const std::uint8_t* data, std::size_t size) {
  return guarded("http_error", [&] {
    static const char* const names[] = {"retry-after", "Retry-After", "retry-after-ms", "RETRY-AFTER-MS",
                                        "content-type"};
    input in(data, size);
    const int status = static_cast<int>(in.number(999));
    http_headers headers;
    for (int n = in.byte() % 4; n > 0; --n) {
      const std::uint8_t b = in.byte();
      std::string name = b < 250 ? names[b % 5] : in.bytes(16);
      headers[name] = in.bytes(40);
    }
    const std::string_view body = in.rest();
    // A fixed "now" keeps HTTP-date waits reproducible.
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));

    const llm_error e = classify_http_error(status, body, headers, now);
    AGORA_FUZZ_CHECK(e.http_status == status, "status not kept");
    AGORA_FUZZ_CHECK(e.message.rfind("HTTP " + std::to_string(status), 0) == 0, "message: " + e.message);
    if (e.retry_after) AGORA_FUZZ_CHECK(e.retry_after->count() >= 0, "negative retry_after");
    if (status == 401 || status == 403) AGORA_FUZZ_CHECK(e.code == llm_errc::authentication, to_string(e.code));
    if (status == 429)
      AGORA_FUZZ_CHECK(e.code == llm_errc::rate_limited || e.code == llm_errc::quota, to_string(e.code));
    if (status >= 500) AGORA_FUZZ_CHECK(e.code == llm_errc::server, to_string(e.code));
    if (status < 400) AGORA_FUZZ_CHECK(e.code == llm_errc::invalid_reply, to_string(e.code));
    if (headers.size() == 1 && lower(headers.begin()->first) == "retry-after") {
      // An HTTP-date asks to wait until then: nothing for a date past, the
      // distance (in whole seconds here) for a date to come.
      std::string v = headers.begin()->second;
      v.erase(0, v.find_first_not_of(" \t"));
      v.erase(v.find_last_not_of(" \t") + 1);
      std::tm tm{};
      const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
      if (!v.empty() && end && *end == '\0') {
        const long long ahead = static_cast<long long>(timegm(&tm)) - 1700000000LL;
        const std::chrono::milliseconds want(ahead <= 0 ? 0 : ahead * 1000);
        AGORA_FUZZ_CHECK(e.retry_after == want, "Retry-After '" + v + "' gives a wait of " +
                                                    (e.retry_after ? std::to_string(e.retry_after->count()) : "none") +
                                                    " ms, not " + std::to_string(want.count()));
      }
    }
    const llm_error again = classify_http_error(status, body, headers, now);
    AGORA_FUZZ_CHECK(again.code == e.code && again.message == e.message && again.retry_after == e.retry_after,
                     "not deterministic");
    // What the error reads back as from a recording.
    auto back = from_json<llm_error>(json::parse(text(to_json(e)), nullptr, false));
    AGORA_FUZZ_CHECK(back && back->code == e.code && back->retry_after == e.retry_after, "llm_error round trip");

    retry_policy policy;
    std::mt19937_64 rng(size);
    for (int attempt = 0; attempt <= policy.max_attempts + 1; ++attempt) {
      auto d = policy.next_delay(attempt, e, rng);
      if (!e.retryable() || attempt < 1 || attempt >= policy.max_attempts) {
        AGORA_FUZZ_CHECK(!d, "a delay where no retry is due");
        continue;
      }
      AGORA_FUZZ_CHECK(d.has_value(), "no delay for a retryable error");
      AGORA_FUZZ_CHECK(d->count() >= 0, "negative delay");
      if (e.retry_after) AGORA_FUZZ_CHECK(*d >= *e.retry_after, "delay shorter than the server asked");
      AGORA_FUZZ_CHECK(*d <= std::max(policy.max_delay, e.retry_after.value_or(std::chrono::milliseconds(0))),
                       "delay over max_delay");
    }
  });
}

int fuzz_usage(const std::uint8_t* data, std::size_t size) {
  return guarded("usage", [&] {
    json j = json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return;
    const price_table prices = price_table::defaults();
    for (bool anthropic : {false, true}) {
      auto u = anthropic ? usage::from_anthropic(j) : usage::from_openai(j);
      if (!u) {
        AGORA_FUZZ_CHECK(u.error().code == bb::errc::invalid_argument, bb::to_string(u.error()));
        AGORA_FUZZ_CHECK(!u.error().message.empty(), "empty message");
        continue;
      }
      if (anthropic) {
        // prompt = input + cache reads + cache writes, without wrapping around.
        AGORA_FUZZ_CHECK(u->prompt >= u->cached, "anthropic prompt " + std::to_string(u->prompt) +
                                                     " below its cached part " + std::to_string(u->cached));
      }
      for (const char* model : {"gpt-4o-mini", "claude-3-5-haiku-latest"}) {
        auto cost = prices.cost(model, *u);
        if (cost) AGORA_FUZZ_CHECK(*cost >= 0, "negative cost");
      }
      auto back = from_json<usage>(json::parse(text(to_json(*u)), nullptr, false));
      AGORA_FUZZ_CHECK(back && *back == *u, "usage round trip");
    }
  });
}

int fuzz_llm_json(const std::uint8_t* data, std::size_t size) {
  return guarded("llm_json", [&] {
    json j = json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return;
    // Every form on the same JSON (a replay line's parts are these forms).
    round_trip<tool_call>(j);
    round_trip<message>(j);
    round_trip<tool_def>(j);
    round_trip<llm_request>(j);
    round_trip<usage>(j);
    round_trip<llm_response>(j);
    round_trip<llm_error>(j);
    if (j.is_object())
      for (const char* part : {"request", "response", "error"})
        if (auto it = j.find(part); it != j.end()) {
          if (std::string(part) == "request") round_trip<llm_request>(*it);
          if (std::string(part) == "response") round_trip<llm_response>(*it);
          if (std::string(part) == "error") round_trip<llm_error>(*it);
        }
  });
}

int fuzz_replay_file(const std::uint8_t* data, std::size_t size) {
  return guarded("replay_file", [&] {
    const std::string& path = replay_path();
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
      AGORA_FUZZ_CHECK(out.good(), "cannot write " + path);
    }
    auto c = replay_client::open(path);  // reads the whole file
    std::remove(path.c_str());
    if (!c) {
      AGORA_FUZZ_CHECK(c.error().code == bb::errc::invalid_argument, bb::to_string(c.error()));
      AGORA_FUZZ_CHECK(c.error().message.find(path) != std::string::npos,
                       "error does not name the file: " + c.error().message);
      return;
    }
    AGORA_FUZZ_CHECK((*c)->size() >= 1, "opened a recording without an exchange");
    // The first exchange's own request gets the first exchange's reply.
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    auto req = first_request(file);
    AGORA_FUZZ_CHECK(req.has_value(), "opened a recording whose first request does not read");
    std::optional<llm_result> got;
    (void)(*c)->call(*req, [&](llm_result r) { got.emplace(std::move(r)); });
    AGORA_FUZZ_CHECK(got.has_value(), "replay_client did not answer inside call()");
    AGORA_FUZZ_CHECK((*c)->used() == 1, "the call used no exchange: " +
                                            (got->ok() ? std::string("ok") : got->error().message));
  });
}

int fuzz_endpoint(const std::uint8_t* data, std::size_t size) {
  return guarded("endpoint", [&] {
    json j = json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return;
    auto ep = endpoint::from_json(j);
    if (!ep) {
      AGORA_FUZZ_CHECK(ep.error().code == bb::errc::invalid_argument, bb::to_string(ep.error()));
      AGORA_FUZZ_CHECK(ep.error().message.rfind("endpoint", 0) == 0, "message: " + ep.error().message);
      return;
    }
    AGORA_FUZZ_CHECK(!ep->model.empty(), "accepted an empty model");
    AGORA_FUZZ_CHECK(ep->max_in_flight >= 1, "accepted max_in_flight 0");
    AGORA_FUZZ_CHECK(ep->base_url.rfind("http://", 0) == 0 || ep->base_url.rfind("https://", 0) == 0,
                     "accepted base_url " + ep->base_url);
    const std::string url = ep->url();
    const std::string tail = ep->format == wire_format::openai ? "/chat/completions" : "/messages";
    AGORA_FUZZ_CHECK(url.size() >= tail.size() && url.compare(url.size() - tail.size(), tail.size(), tail) == 0,
                     "url " + url);
    AGORA_FUZZ_CHECK(ep->retry.max_attempts >= 1 && ep->retry.base.count() >= 0 && ep->retry.max_delay.count() >= 0,
                     "accepted a negative retry setting");
    // The retry policy a scenario configures stays in its bounds.
    llm_error e;
    e.code = llm_errc::server;
    std::mt19937_64 rng(size);
    for (int attempt = 1; attempt < ep->retry.max_attempts; ++attempt) {
      auto d = ep->retry.next_delay(attempt, e, rng);
      AGORA_FUZZ_CHECK(d && d->count() >= 0 && *d <= ep->retry.max_delay, "retry delay out of bounds");
    }
  });
}

}  // namespace agora::fuzz
