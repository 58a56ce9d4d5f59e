#include "agora/agents/llm_error.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

namespace agora {

const char* to_string(llm_errc c) noexcept {
  switch (c) {
    case llm_errc::rate_limited: return "rate_limited";
    case llm_errc::quota: return "quota";
    case llm_errc::authentication: return "authentication";
    case llm_errc::bad_request: return "bad_request";
    case llm_errc::context_overflow: return "context_overflow";
    case llm_errc::server: return "server";
    case llm_errc::timeout: return "timeout";
    case llm_errc::transport: return "transport";
    case llm_errc::invalid_reply: return "invalid_reply";
    case llm_errc::cancelled: return "cancelled";
    case llm_errc::budget_exhausted: return "budget_exhausted";
    case llm_errc::circuit_open: return "circuit_open";
    case llm_errc::invalid_request: return "invalid_request";
  }
  return "unknown";
}

bool llm_error::retryable() const noexcept {
  switch (code) {
    case llm_errc::rate_limited:
    case llm_errc::server:
    case llm_errc::timeout:
    case llm_errc::transport:
      return true;
    default:
      return false;
  }
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::string> header(const http_headers& h, std::string_view name) {
  for (const auto& [k, v] : h)
    if (lower(k) == name) return v;
  return std::nullopt;
}

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// retry-after-ms (OpenAI), then Retry-After: delay-seconds or an HTTP date.
std::optional<std::chrono::milliseconds> retry_after(const http_headers& h,
                                                     std::chrono::system_clock::time_point now) {
  if (auto ms = header(h, "retry-after-ms")) {
    auto v = trim(*ms);
    if (digits(v) && v.size() < 12) return std::chrono::milliseconds(std::stoll(v));
  }
  auto ra = header(h, "retry-after");
  if (!ra) return std::nullopt;
  auto v = trim(*ra);
  if (digits(v) && v.size() < 10) return std::chrono::seconds(std::stoll(v));
  std::tm tm{};
  const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  // In seconds: a date far from now (year 1011, 9999) overflows
  // system_clock's nanoseconds (found by the http_error fuzz target).
  const std::time_t when = timegm(&tm);
  const std::time_t now_s = std::chrono::system_clock::to_time_t(now);
  if (when <= now_s) return std::chrono::milliseconds(0);
  const long long secs = static_cast<long long>(when) - static_cast<long long>(now_s);
  if (secs > 1000LL * 1000 * 1000 * 1000) return std::nullopt;  // no sane wait; ignore it
  return std::chrono::milliseconds(secs * 1000);
}

std::string quote(std::string_view body) {
  constexpr std::size_t max_len = 200;
  std::string s(body.substr(0, max_len));
  if (body.size() > max_len) s += "...";
  return "'" + s + "'";
}

}  // namespace

llm_error classify_http_error(int status, std::string_view body, const http_headers& headers,
                              std::chrono::system_clock::time_point now) {
  llm_error e;
  e.http_status = status;
  e.retry_after = retry_after(headers, now);

  // The provider's own words, when the body is one of the two error shapes.
  std::string type, code, message;
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    auto err = j.find("error");
    if (err != j.end() && err->is_object()) {
      if (auto t = err->find("type"); t != err->end() && t->is_string()) type = t->get<std::string>();
      if (auto c = err->find("code"); c != err->end() && c->is_string()) code = c->get<std::string>();
      if (auto m = err->find("message"); m != err->end() && m->is_string()) message = m->get<std::string>();
    }
  }
  const std::string said = message.empty() ? (body.empty() ? std::string("no body") : quote(body)) : message;
  e.message = "HTTP " + std::to_string(status) + (type.empty() ? "" : " " + type) + ": " + said;

  const std::string text = lower(message);
  const bool too_long = code == "context_length_exceeded" ||
                        text.find("prompt is too long") != std::string::npos ||
                        text.find("maximum context length") != std::string::npos ||
                        text.find("context window") != std::string::npos;
  if (status == 429) {
    e.code = (code == "insufficient_quota" || type == "insufficient_quota") ? llm_errc::quota
                                                                              : llm_errc::rate_limited;
  } else if (status == 401 || status == 403) {
    e.code = llm_errc::authentication;
  } else if (status == 408) {
    e.code = llm_errc::timeout;
  } else if (status == 409 || status >= 500) {
    e.code = llm_errc::server;  // includes Anthropic's 529 overloaded_error
  } else if (status == 400 || status == 413) {
    e.code = too_long ? llm_errc::context_overflow : llm_errc::bad_request;
  } else if (status >= 400) {
    e.code = llm_errc::bad_request;
  } else {
    e.code = llm_errc::invalid_reply;  // not an error status: the caller misread the reply
  }
  return e;
}

std::optional<std::chrono::milliseconds> retry_policy::next_delay(int attempt, const llm_error& e,
                                                                  std::mt19937_64& rng) const {
  if (!e.retryable() || attempt >= max_attempts || attempt < 1) return std::nullopt;
  // base × 2^(attempt-1), capped, without overflowing for large attempts.
  long long cap = max_delay.count();
  long long grown = base.count();
  for (int i = 1; i < attempt && grown < cap; ++i) grown *= 2;
  grown = std::min(grown, cap);
  std::uniform_int_distribution<long long> jitter(0, std::max<long long>(grown, 0));
  std::chrono::milliseconds wait(jitter(rng));
  if (e.retry_after && *e.retry_after > wait) wait = *e.retry_after;
  return wait;
}

}  // namespace agora
