#include "agora/agents/sse.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace agora;

namespace {

// Feeds `stream` in chunks of `n` bytes and collects the events.
std::vector<sse_event> parse_in_chunks(sse_parser& p, const std::string& stream, std::size_t n) {
  std::vector<sse_event> all;
  for (std::size_t i = 0; i < stream.size(); i += n) {
    auto got = p.feed(std::string_view(stream).substr(i, n));
    REQUIRE(got);
    all.insert(all.end(), got->begin(), got->end());
  }
  return all;
}

}  // namespace

TEST_CASE("sse parses an OpenAI-style stream, however it is split", "[agents][sse]") {
  const std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      ": keep-alive\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
      "data: [DONE]\n\n";
  // Every split of the stream, down to one byte at a time, gives the same events.
  for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, stream.size()}) {
    sse_parser p;
    auto events = parse_in_chunks(p, stream, n);
    REQUIRE(events.size() == 3);
    CHECK(events[0].event == "message");
    CHECK(events[0].data == "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
    CHECK(events[1].data == "{\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}");
    CHECK(events[2].done());
    auto end = p.finish();
    CHECK(end.clean());
    CHECK(end.events == 3);
  }
}

TEST_CASE("sse accepts CRLF, CR and LF line ends, also split across chunks", "[agents][sse]") {
  sse_parser p;
  auto a = p.feed("data: one\r");
  REQUIRE(a);
  CHECK(a->empty());
  // The LF completes the CRLF of the last chunk: it is not a blank line, so
  // "one" and "two" are one event.
  auto b = p.feed("\ndata: two\r\n\r\ndata: three\r\rdata: four\n\n");
  REQUIRE(b);
  REQUIRE(b->size() == 3);
  CHECK((*b)[0].data == "one\ntwo");
  CHECK((*b)[1].data == "three");
  CHECK((*b)[2].data == "four");
}

TEST_CASE("sse joins multi-line data, keeps event types and ids, drops comments", "[agents][sse]") {
  sse_parser p;
  auto got = p.feed(
      "\xEF\xBB\xBF"  // a byte order mark opens the stream
      ": a comment\n"
      "event: content_block_delta\n"
      "id: 7\n"
      "data: line one\n"
      "data:line two\n"  // no space after the colon
      "data\n"           // no colon: an empty value
      "retry: 1500\n"
      "\n"
      "data: next\n"
      "\n");
  REQUIRE(got);
  REQUIRE(got->size() == 2);
  CHECK((*got)[0].event == "content_block_delta");
  CHECK((*got)[0].data == "line one\nline two\n");
  CHECK((*got)[0].id == "7");
  REQUIRE((*got)[0].retry);
  CHECK((*got)[0].retry->count() == 1500);
  CHECK((*got)[1].event == "message");  // the type does not stick
  CHECK((*got)[1].id == "7");           // the id does
  CHECK_FALSE((*got)[1].retry);
}

TEST_CASE("sse hands over an error event that comes mid-stream", "[agents][sse]") {
  sse_parser p;
  auto got = p.feed(
      "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n");
  REQUIRE(got);
  REQUIRE(got->size() == 2);
  CHECK((*got)[1].event == "error");
  CHECK((*got)[1].data.find("overloaded_error") != std::string::npos);
  auto end = p.finish();
  CHECK_FALSE(end.saw_done);
  CHECK_FALSE(end.partial);
}

TEST_CASE("sse reports a stream cut off without [DONE] or in the middle of an event",
          "[agents][sse]") {
  sse_parser p;
  auto got = p.feed("data: {\"a\":1}\n\ndata: {\"b\"");
  REQUIRE(got);
  CHECK(got->size() == 1);
  auto end = p.finish();
  CHECK_FALSE(end.clean());
  CHECK_FALSE(end.saw_done);
  CHECK(end.partial);  // the half event is dropped, not dispatched

  // A complete line whose event was never ended by a blank line is pending too.
  auto again = p.feed("data: {\"c\":3}\n");
  REQUIRE(again);
  CHECK(again->empty());
  CHECK(p.finish().partial);
}

TEST_CASE("sse refuses a line or an event over its limit and names where", "[agents][sse]") {
  sse_parser p(16, 64);
  auto ok = p.feed("data: short\n\n");
  REQUIRE(ok);
  auto bad = p.feed("data: this line never ends and goes on");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == bb::errc::limit_exceeded);
  CHECK(bad.error().message == "SSE stream: a line passed max_line_bytes=16 without a line break, at byte 13");
  // The stream cannot be trusted any more.
  CHECK_FALSE(p.feed("\n\n"));

  sse_parser q(1024, 8);
  auto big = q.feed("data: 12345\ndata: 67890\n\n");
  REQUIRE_FALSE(big);
  CHECK(big.error().message.find("max_event_bytes=8") != std::string::npos);
}
