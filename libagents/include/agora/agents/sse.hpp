/// \file sse.hpp
/// An incremental parser for server-sent events (the WHATWG "event stream"
/// format), as streaming LLM APIs send them: feed it bytes as they arrive,
/// in chunks of any size, and it hands back each complete event.
///
/// ```cpp
/// agora::sse_parser p;
/// for (std::string_view chunk : chunks_from_the_socket) {
///   auto events = p.feed(chunk);               // bb::result<std::vector<sse_event>>
///   if (!events) return events.error();        // a line over the size limit
///   for (const auto& e : *events) {
///     if (e.done()) break;                     // OpenAI's "data: [DONE]"
///     if (e.event == "error") ...              // Anthropic's error event
///     handle(e.data);                          // the JSON of one chunk
///   }
/// }
/// auto end = p.finish();                       // what the stream ended like
/// if (!end.clean()) ...                        // cut off: no [DONE], or half an event
/// ```
///
/// What it follows (https://html.spec.whatwg.org/#event-stream-interpretation):
/// lines end in CRLF, LF or CR — also when the CR and the LF arrive in
/// different chunks; a leading UTF-8 byte order mark is dropped; a line
/// starting with `:` is a comment; `field: value` drops one space after the
/// colon, and a line without a colon is a field with an empty value; `data`
/// lines accumulate, joined by `\n`; `event` sets the type (default
/// "message"); `id` sets the last event id unless it contains NUL; `retry`
/// takes digits only; other fields are ignored; a blank line dispatches the
/// event, unless it has no data (then only its id sticks). An event not
/// ended by a blank line when the stream ends is not dispatched: finish()
/// reports it.
///
/// Thread-safety: not thread-safe; one parser per stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agora/blackboard/result.hpp"

namespace agora {

/// One dispatched event.
struct sse_event {
  /// The event type: "message" unless an `event:` line said otherwise.
  std::string event = "message";
  /// The data lines, joined by "\n".
  std::string data;
  /// The last event id seen so far in the stream (ids stick across events).
  std::string id;
  /// A reconnection time the server asked for with this event, if any.
  std::optional<std::chrono::milliseconds> retry;

  /// True for OpenAI's end-of-stream marker, `data: [DONE]`.
  bool done() const noexcept { return data == "[DONE]"; }
};

/// How a stream ended, from finish().
struct sse_end {
  /// `data: [DONE]` was seen.
  bool saw_done = false;
  /// Bytes of an unfinished line or event were pending (the stream was cut
  /// off in the middle of an event).
  bool partial = false;
  /// Events dispatched over the whole stream.
  std::size_t events = 0;

  /// Ended after [DONE] with nothing pending.
  bool clean() const noexcept { return saw_done && !partial; }
};

/// See the file comment.
class sse_parser {
 public:
  /// `max_line_bytes` bounds one line and `max_event_bytes` one event's
  /// data, so a server that never sends a line break cannot make the parser
  /// grow without bound.
  explicit sse_parser(std::size_t max_line_bytes = 1 << 20, std::size_t max_event_bytes = 8 << 20)
      : max_line_(max_line_bytes), max_event_(max_event_bytes) {}

  /// Parses `chunk` and returns the events it completed, in order. Fails
  /// with bb::errc::limit_exceeded naming the limit and the byte offset in
  /// the stream; after a failure the parser refuses further input with the
  /// same error (the stream cannot be trusted any more).
  bb::result<std::vector<sse_event>> feed(std::string_view chunk);

  /// The stream ended. Reports whether [DONE] came and whether an event was
  /// left unfinished (it is dropped, as the format says). The parser can be
  /// reused for a new stream afterwards.
  sse_end finish();

  /// Bytes fed so far in this stream.
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  bb::status line(std::string_view l, std::vector<sse_event>& out);
  void reset();

  std::size_t max_line_;
  std::size_t max_event_;
  std::string buf_;            // the current, unfinished line
  bool after_cr_ = false;      // the previous chunk ended in CR: a leading LF belongs to it
  bool at_start_ = true;       // nothing fed yet: a BOM may come
  std::uint64_t offset_ = 0;
  // The event being assembled.
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  bool pending_ = false;       // fields seen since the last dispatch
  std::string last_id_;
  std::optional<std::chrono::milliseconds> retry_;
  // The stream so far.
  bool saw_done_ = false;
  std::size_t events_ = 0;
  std::optional<bb::error> failed_;
};

}  // namespace agora
