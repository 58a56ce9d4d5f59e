#include "agora/agents/sse.hpp"

#include <utility>

namespace agora {

namespace {

constexpr std::string_view bom = "\xEF\xBB\xBF";

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

bb::result<std::vector<sse_event>> sse_parser::feed(std::string_view chunk) {
  if (failed_) return *failed_;
  std::vector<sse_event> out;
  // A BOM may only open the stream; it may itself arrive split.
  if (at_start_) {
    buf_.append(chunk);
    offset_ += chunk.size();
    if (buf_.size() < bom.size() && bom.substr(0, buf_.size()) == buf_) return out;
    at_start_ = false;
    std::string pending = std::move(buf_);
    buf_.clear();
    std::string_view rest = pending;
    if (rest.substr(0, bom.size()) == bom) rest.remove_prefix(bom.size());
    offset_ -= rest.size();  // counted again below
    return feed(rest);
  }
  std::size_t i = 0;
  if (after_cr_ && !chunk.empty() && chunk[0] == '\n') i = 1;  // CR in one chunk, LF in the next
  after_cr_ = false;
  std::size_t start = i;
  for (; i < chunk.size(); ++i) {
    char c = chunk[i];
    if (c != '\n' && c != '\r') continue;
    std::string_view piece = chunk.substr(start, i - start);
    bb::status s;
    if (buf_.empty()) {
      s = line(piece, out);
    } else {
      buf_.append(piece);
      s = line(buf_, out);
      buf_.clear();
    }
    if (!s) {
      failed_ = s.error();
      return *failed_;
    }
    if (c == '\r') {
      if (i + 1 < chunk.size()) {
        if (chunk[i + 1] == '\n') ++i;
      } else {
        after_cr_ = true;
      }
    }
    start = i + 1;
  }
  if (start < chunk.size()) {
    buf_.append(chunk.substr(start));
    if (buf_.size() > max_line_) {
      failed_ = bb::error{bb::errc::limit_exceeded,
                          "SSE stream: a line passed max_line_bytes=" + std::to_string(max_line_) +
                              " without a line break, at byte " + std::to_string(offset_ + start)};
      return *failed_;
    }
  }
  offset_ += chunk.size();
  return out;
}

bb::status sse_parser::line(std::string_view l, std::vector<sse_event>& out) {
  if (l.size() > max_line_)
    return bb::error{bb::errc::limit_exceeded, "SSE stream: a line of " + std::to_string(l.size()) +
                                                   " bytes passed max_line_bytes=" + std::to_string(max_line_) +
                                                   " near byte " + std::to_string(offset_)};
  if (l.empty()) {  // dispatch
    if (has_data_) {
      sse_event e;
      if (!type_.empty()) e.event = std::move(type_);
      e.data = std::move(data_);
      e.id = last_id_;
      e.retry = retry_;
      if (e.done()) saw_done_ = true;
      out.push_back(std::move(e));
      ++events_;
    }
    type_.clear();
    data_.clear();
    has_data_ = false;
    pending_ = false;
    retry_.reset();
    return {};
  }
  if (l.front() == ':') return {};  // a comment (keep-alive)
  pending_ = true;
  auto colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_event_)
      return bb::error{bb::errc::limit_exceeded, "SSE stream: an event's data passed max_event_bytes=" +
                                                     std::to_string(max_event_) + " near byte " +
                                                     std::to_string(offset_)};
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "retry") {
    if (all_digits(value) && value.size() < 12)
      retry_ = std::chrono::milliseconds(std::stoll(std::string(value)));
  }
  return {};
}

sse_end sse_parser::finish() {
  sse_end end;
  end.saw_done = saw_done_;
  end.partial = !buf_.empty() || pending_ || (at_start_ && !buf_.empty());
  end.events = events_;
  reset();
  return end;
}

void sse_parser::reset() {
  buf_.clear();
  after_cr_ = false;
  at_start_ = true;
  offset_ = 0;
  type_.clear();
  data_.clear();
  has_data_ = false;
  pending_ = false;
  last_id_.clear();
  retry_.reset();
  saw_done_ = false;
  events_ = 0;
  failed_.reset();
}

}  // namespace agora
