#include "agora/agents/http_client.hpp"

#include <curl/curl.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agora/log.hpp"

namespace agora {

// --- endpoint -------------------------------------------------------------------

std::string endpoint::url() const {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + (format == wire_format::anthropic ? "/messages" : "/chat/completions");
}

namespace {

using json = nlohmann::json;

bb::error bad_field(const std::string& field, const std::string& what) {
  return bb::error{bb::errc::invalid_argument, "endpoint field '" + field + "': " + what};
}

std::optional<bb::error> check_known(const json& j, const std::string& prefix, const std::set<std::string>& known) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (known.count(it.key())) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return bad_field(prefix + it.key(), "unknown field (known: " + list + ")");
  }
  return std::nullopt;
}

std::optional<bb::error> read_string(const json& j, const std::string& key, const std::string& name,
                                     std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (!it->is_string()) return bad_field(name, std::string("expected a string, got ") + it->type_name());
  out = it->get<std::string>();
  return std::nullopt;
}

/// An integer field in [min, max].
std::optional<bb::error> read_int(const json& j, const std::string& key, const std::string& name, long long min,
                                  long long max, long long& out) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (!it->is_number_integer())
    return bad_field(name, std::string("expected an integer, got ") +
                               (it->is_number() ? it->dump() : std::string(it->type_name())));
  if (it->is_number_unsigned() && it->get<unsigned long long>() > static_cast<unsigned long long>(max))
    return bad_field(name, "must be at most " + std::to_string(max) + ", got " + it->dump());
  long long v = it->get<long long>();
  if (v < min || v > max)
    return bad_field(name, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                               std::to_string(v));
  out = v;
  return std::nullopt;
}

constexpr long long max_ms = 24LL * 3600 * 1000;  // a day: anything longer is a typo

}  // namespace

bb::result<endpoint> endpoint::from_json(const json& j) {
  if (!j.is_object())
    return bb::error{bb::errc::invalid_argument, std::string("endpoint: expected a JSON object, got ") + j.type_name()};
  if (auto e = check_known(j, "",
                           {"format", "base_url", "model", "api_key_env", "headers", "connect_timeout_ms",
                            "timeout_ms", "idle_timeout_ms", "default_max_tokens", "max_in_flight", "retry",
                            "breaker", "anthropic_version"}))
    return *e;
  endpoint ep;
  std::string format = "openai";
  if (auto e = read_string(j, "format", "format", format)) return *e;
  if (format == "openai")
    ep.format = wire_format::openai;
  else if (format == "anthropic")
    ep.format = wire_format::anthropic;
  else
    return bad_field("format", "expected \"openai\" or \"anthropic\", got \"" + format + "\"");
  ep.base_url = ep.format == wire_format::anthropic ? "https://api.anthropic.com/v1" : "https://api.openai.com/v1";
  if (auto e = read_string(j, "base_url", "base_url", ep.base_url)) return *e;
  if (ep.base_url.rfind("http://", 0) != 0 && ep.base_url.rfind("https://", 0) != 0)
    return bad_field("base_url", "expected an http:// or https:// URL, got \"" + ep.base_url + "\"");
  if (!j.contains("model")) return bad_field("model", "missing (the model a request without one goes to)");
  if (auto e = read_string(j, "model", "model", ep.model)) return *e;
  if (ep.model.empty()) return bad_field("model", "must not be empty");
  if (auto e = read_string(j, "api_key_env", "api_key_env", ep.api_key_env)) return *e;
  if (auto e = read_string(j, "anthropic_version", "anthropic_version", ep.anthropic_version)) return *e;
  if (auto it = j.find("headers"); it != j.end()) {
    if (!it->is_object()) return bad_field("headers", std::string("expected an object, got ") + it->type_name());
    for (auto h = it->begin(); h != it->end(); ++h) {
      if (!h->is_string())
        return bad_field("headers." + h.key(), std::string("expected a string, got ") + h->type_name());
      ep.headers[h.key()] = h->get<std::string>();
    }
  }
  long long v = 0;
  if (auto e = read_int(j, "connect_timeout_ms", "connect_timeout_ms", 1, max_ms, v)) return *e;
  if (j.contains("connect_timeout_ms")) ep.connect_timeout = std::chrono::milliseconds(v);
  if (auto e = read_int(j, "timeout_ms", "timeout_ms", 1, max_ms, v)) return *e;
  if (j.contains("timeout_ms")) ep.timeout = std::chrono::milliseconds(v);
  if (auto e = read_int(j, "idle_timeout_ms", "idle_timeout_ms", 1, max_ms, v)) return *e;
  if (j.contains("idle_timeout_ms")) ep.idle_timeout = std::chrono::milliseconds(v);
  if (auto e = read_int(j, "default_max_tokens", "default_max_tokens", 1, 0xffffffffLL, v)) return *e;
  if (j.contains("default_max_tokens")) ep.default_max_tokens = static_cast<std::uint32_t>(v);
  if (auto e = read_int(j, "max_in_flight", "max_in_flight", 1, 100000, v)) return *e;
  if (j.contains("max_in_flight")) ep.max_in_flight = static_cast<std::size_t>(v);
  if (auto it = j.find("retry"); it != j.end()) {
    if (!it->is_object()) return bad_field("retry", std::string("expected an object, got ") + it->type_name());
    if (auto e = check_known(*it, "retry.", {"max_attempts", "base_ms", "max_delay_ms"})) return *e;
    if (auto e = read_int(*it, "max_attempts", "retry.max_attempts", 1, 100, v)) return *e;
    if (it->contains("max_attempts")) ep.retry.max_attempts = static_cast<int>(v);
    if (auto e = read_int(*it, "base_ms", "retry.base_ms", 0, max_ms, v)) return *e;
    if (it->contains("base_ms")) ep.retry.base = std::chrono::milliseconds(v);
    if (auto e = read_int(*it, "max_delay_ms", "retry.max_delay_ms", 0, max_ms, v)) return *e;
    if (it->contains("max_delay_ms")) ep.retry.max_delay = std::chrono::milliseconds(v);
  }
  if (auto it = j.find("breaker"); it != j.end()) {
    if (!it->is_object()) return bad_field("breaker", std::string("expected an object, got ") + it->type_name());
    if (auto e = check_known(*it, "breaker.", {"failures", "cool_down_ms"})) return *e;
    if (auto e = read_int(*it, "failures", "breaker.failures", 0, 1000000, v)) return *e;
    if (it->contains("failures")) ep.breaker.failures = static_cast<int>(v);
    if (auto e = read_int(*it, "cool_down_ms", "breaker.cool_down_ms", 0, max_ms, v)) return *e;
    if (it->contains("cool_down_ms")) ep.breaker.cool_down = std::chrono::milliseconds(v);
  }
  return ep;
}

// --- the I/O machinery ----------------------------------------------------------

namespace http_detail {

using clock = std::chrono::steady_clock;

void global_init() {
  // Once per process and never cleaned up: curl_global_cleanup is not
  // thread-safe and other clients (or other libraries) may still use curl.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// The URL with any user:password@ replaced by ***@.
std::string masked_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto host = scheme + 3;
  auto path = url.find('/', host);
  auto at = url.rfind('@', path == std::string::npos ? url.size() : path);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + "***" + url.substr(at);
}

/// Replaces every occurrence of `secret` in `text` by "***".
void scrub(std::string& text, const std::string& secret) {
  if (secret.empty()) return;
  for (auto p = text.find(secret); p != std::string::npos; p = text.find(secret, p + 3))
    text.replace(p, secret.size(), "***");
}

llm_error make_error(llm_errc code, std::string message) {
  llm_error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

class io_loop;

/// One call, from start() to its callback. Fields below `loop` and
/// `cancel_sent` belong to the I/O thread once the call is posted.
struct http_call final : detail::call_control, std::enable_shared_from_this<http_call> {
  std::weak_ptr<io_loop> loop;
  std::atomic<bool> cancel_sent{false};
  void cancel() override;

  enum class state : std::uint8_t { queued, running, retry_wait, finished };

  llm_request req;
  llm_client::callback done;
  std::function<void(std::string_view)> on_delta;
  std::string body;
  curl_slist* headers = nullptr;
  std::string key;  // to scrub from error messages
  std::optional<llm_error> early_error;
  clock::time_point started;
  int attempts = 0;
  std::string previous_failure;  // of the last attempt, when a retry is due
  state st = state::queued;
  bool holds_slot = false;
  bool probe = false;
  CURL* easy = nullptr;
  std::multimap<clock::time_point, std::shared_ptr<http_call>>::iterator timer;

  // The current attempt.
  int status = 0;
  http_headers resp_headers;
  std::string resp_body;
  std::optional<sse_parser> parser;
  std::unique_ptr<wire::stream_assembler> assembler;
  std::optional<llm_error> stream_error;
  clock::time_point last_byte;
  char errbuf[CURL_ERROR_SIZE] = {};

  http_call() = default;
  http_call(const http_call&) = delete;
  http_call& operator=(const http_call&) = delete;
  ~http_call() override {
    if (headers) curl_slist_free_all(headers);
  }

  bool streaming_ok() const { return req.stream && status >= 200 && status < 300; }
};

using call_ptr = std::shared_ptr<http_call>;

constexpr std::size_t max_reply_bytes = 64u << 20;
constexpr std::size_t max_pooled_handles = 1024;

class io_loop {
 public:
  explicit io_loop(const endpoint& ep) : ep_(ep), url_(ep.url()), rng_(std::random_device{}()) {
    if (ep.max_in_flight == 0) config_error_ = "endpoint max_in_flight is 0: no call could ever be sent";
    if (ep.base_url.empty()) config_error_ = "endpoint base_url is empty";
    multi_ = curl_multi_init();
    if (!multi_) config_error_ = "curl_multi_init failed";
  }
  ~io_loop() {
    for (CURL* e : pool_) curl_easy_cleanup(e);
    if (multi_) curl_multi_cleanup(multi_);
  }
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  const std::string& url() const { return url_; }
  const std::optional<std::string>& config_error() const { return config_error_; }

  void start() {
    if (multi_) thread_ = std::thread([this] { run(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(inbox_mu_);
      stopping_ = true;
    }
    if (multi_) curl_multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
    // Without a thread (curl_multi_init failed) calls were answered at post.
  }

  void post_call(call_ptr c) {
    {
      std::lock_guard<std::mutex> g(inbox_mu_);
      if (!closed_ && multi_) {
        new_calls_.push_back(std::move(c));
        c = nullptr;
      }
    }
    if (c) {
      // No I/O thread to run it on: the only case is a client whose multi
      // handle could not be made.
      auto done = std::move(c->done);
      c->st = http_call::state::finished;
      done(c->early_error ? *c->early_error : make_error(llm_errc::invalid_request, "no I/O thread"));
      return;
    }
    curl_multi_wakeup(multi_);
  }

  void post_cancel(call_ptr c) {
    {
      std::lock_guard<std::mutex> g(inbox_mu_);
      if (closed_) return;
      cancels_.push_back(std::move(c));
    }
    curl_multi_wakeup(multi_);
  }

 private:
  void run();
  void accept(const call_ptr& c);
  void admit();
  void fire_timers(clock::time_point now);
  void start_attempt(const call_ptr& c);
  void drain_messages();
  void check_idle(clock::time_point now);
  int poll_timeout_ms(clock::time_point now) const;
  llm_result outcome(http_call& c, CURLcode rc);
  void attempt_done(const call_ptr& c, llm_result r);
  void finish(const call_ptr& c, llm_result r);
  void detach_transfer(http_call& c);
  void shutdown_all();
  std::optional<llm_error> breaker_admit(http_call& c, clock::time_point now);
  void breaker_record(http_call& c, const llm_result& r, clock::time_point now);
  CURL* take_easy();
  void release_easy(CURL* e);

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user);
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user);

  const endpoint ep_;
  const std::string url_;
  /// agora.llm: retries, failures, circuit changes (never a key or a prompt).
  const log::logger_ptr log_ = log::get(log::llm);
  std::optional<std::string> config_error_;
  CURLM* multi_ = nullptr;
  std::thread thread_;

  std::mutex inbox_mu_;
  std::vector<call_ptr> new_calls_;
  std::vector<call_ptr> cancels_;
  bool stopping_ = false;
  bool closed_ = false;

  // I/O thread only.
  std::deque<call_ptr> waiting_;
  std::size_t active_ = 0;  // calls holding a slot
  std::unordered_map<CURL*, call_ptr> transfers_;
  std::multimap<clock::time_point, call_ptr> timers_;
  clock::time_point idle_check_at_ = clock::time_point::max();
  std::vector<CURL*> pool_;
  std::mt19937_64 rng_;
  // The circuit breaker.
  int consecutive_failures_ = 0;
  std::optional<clock::time_point> open_until_;
  bool probe_in_flight_ = false;
  std::string last_failure_;
};

void http_call::cancel() {
  if (cancel_sent.exchange(true)) return;
  if (auto l = loop.lock()) l->post_cancel(shared_from_this());
}

void io_loop::run() {
  for (;;) {
    std::vector<call_ptr> news, cancels;
    bool stop = false;
    {
      std::lock_guard<std::mutex> g(inbox_mu_);
      news.swap(new_calls_);
      cancels.swap(cancels_);
      stop = stopping_;
    }
    for (const auto& c : news) accept(c);
    for (const auto& c : cancels)
      finish(c, make_error(llm_errc::cancelled, "call to " + masked_url(url_) + " cancelled"));
    if (stop) {
      shutdown_all();
      return;
    }
    auto now = clock::now();
    fire_timers(now);
    admit();
    int running = 0;
    curl_multi_perform(multi_, &running);
    drain_messages();
    now = clock::now();
    check_idle(now);
    admit();  // slots that completions freed
    curl_multi_poll(multi_, nullptr, 0, poll_timeout_ms(now), nullptr);
  }
}

void io_loop::accept(const call_ptr& c) {
  if (c->early_error) {
    finish(c, *c->early_error);
    return;
  }
  waiting_.push_back(c);
}

void io_loop::admit() {
  while (!waiting_.empty() && active_ < ep_.max_in_flight) {
    call_ptr c = std::move(waiting_.front());
    waiting_.pop_front();
    c->holds_slot = true;
    ++active_;
    start_attempt(c);
  }
}

void io_loop::fire_timers(clock::time_point now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    call_ptr c = timers_.begin()->second;
    timers_.erase(timers_.begin());
    c->st = http_call::state::queued;
    start_attempt(c);
  }
}

int io_loop::poll_timeout_ms(clock::time_point now) const {
  if (!waiting_.empty() && active_ < ep_.max_in_flight) return 0;
  auto next = now + std::chrono::seconds(1);
  if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
  if (!transfers_.empty()) next = std::min(next, idle_check_at_);
  if (next <= now) return 0;
  // Round up so a timer is not woken for a millisecond early, again and again.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(next - now).count();
  return static_cast<int>((us + 999) / 1000);
}

std::optional<llm_error> io_loop::breaker_admit(http_call& c, clock::time_point now) {
  if (ep_.breaker.failures <= 0 || !open_until_) return std::nullopt;
  if (now < *open_until_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*open_until_ - now);
    auto reopen = std::chrono::system_clock::now() + left;
    std::time_t t = std::chrono::system_clock::to_time_t(reopen);
    char when[32] = "?";
    std::tm tm{};
    if (gmtime_r(&t, &tm)) std::strftime(when, sizeof when, "%H:%M:%S UTC", &tm);
    auto e = make_error(llm_errc::circuit_open,
                        "circuit open for " + masked_url(url_) + " after " + std::to_string(consecutive_failures_) +
                            " consecutive failed attempts (last: " + last_failure_ + "); it lets a call through in " +
                            ms_text(left) + " (at " + when + "); nothing was sent");
    e.retry_after = left;
    return e;
  }
  if (probe_in_flight_)
    return make_error(llm_errc::circuit_open, "circuit half-open for " + masked_url(url_) +
                                                  ": one probe call is testing the server, the others are refused "
                                                  "until it succeeds; nothing was sent");
  probe_in_flight_ = true;
  c.probe = true;
  return std::nullopt;
}

void io_loop::breaker_record(http_call& c, const llm_result& r, clock::time_point now) {
  if (ep_.breaker.failures <= 0) return;
  bool unwell = false;
  if (!r.ok()) {
    auto code = r.error().code;
    if (code == llm_errc::cancelled || code == llm_errc::circuit_open) {
      // Says nothing about the server.
      if (c.probe) probe_in_flight_ = false;
      c.probe = false;
      return;
    }
    if (code == llm_errc::rate_limited) {
      // The server is up and says when to come back: neither a failure nor a success.
      if (c.probe) probe_in_flight_ = false;
      c.probe = false;
      return;
    }
    unwell = code == llm_errc::transport || code == llm_errc::timeout || code == llm_errc::server;
  }
  if (c.probe) probe_in_flight_ = false;
  bool was_probe = c.probe;
  c.probe = false;
  if (unwell) {
    ++consecutive_failures_;
    last_failure_ = r.error().message;
    if (was_probe || (consecutive_failures_ >= ep_.breaker.failures && !open_until_)) {
      open_until_ = now + ep_.breaker.cool_down;
      log_->warn("model circuit opened url={} failures={} cooldown_ms={} code={}", log::value(masked_url(url_)),
                 consecutive_failures_, ep_.breaker.cool_down.count(), to_string(r.error().code));
    }
  } else {
    // The server answered: it is reachable again.
    if (open_until_) log_->info("model circuit closed url={}", log::value(masked_url(url_)));
    consecutive_failures_ = 0;
    open_until_.reset();
  }
}

CURL* io_loop::take_easy() {
  if (!pool_.empty()) {
    CURL* e = pool_.back();
    pool_.pop_back();
    return e;
  }
  return curl_easy_init();
}

void io_loop::release_easy(CURL* e) {
  if (pool_.size() >= max_pooled_handles) {
    curl_easy_cleanup(e);
    return;
  }
  // Keeps the handle's connection and DNS caches; forgets its options.
  curl_easy_reset(e);
  pool_.push_back(e);
}

void io_loop::start_attempt(const call_ptr& c) {
  auto now = clock::now();
  if (auto e = breaker_admit(*c, now)) {
    if (!c->previous_failure.empty()) e->message += "; this call's previous attempt failed: " + c->previous_failure;
    finish(c, std::move(*e));
    return;
  }
  CURL* e = take_easy();
  if (!e) {
    finish(c, make_error(llm_errc::transport, "curl_easy_init failed"));
    return;
  }
  c->attempts++;
  c->status = 0;
  c->resp_headers.clear();
  c->resp_body.clear();
  c->stream_error.reset();
  c->errbuf[0] = '\0';
  if (c->req.stream) {
    c->parser.emplace();
    c->assembler = wire::stream_assembler::make(ep_.format, c->req);
    if (c->on_delta) {
      c->assembler->on_delta = [f = c->on_delta](std::string_view text) {
        try {
          f(text);
        } catch (...) {
          // A caller's hook must not unwind through libcurl.
        }
      };
    }
  }
  curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &io_loop::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, c.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &io_loop::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, c.get());
  curl_easy_setopt(e, CURLOPT_PRIVATE, c.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(ep_.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(ep_.timeout.count()));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "agora-llm (libcurl)");
  c->easy = e;
  c->st = http_call::state::running;
  c->last_byte = now;
  transfers_.emplace(e, c);
  idle_check_at_ = std::min(idle_check_at_, now + ep_.idle_timeout);
  if (CURLMcode mc = curl_multi_add_handle(multi_, e); mc != CURLM_OK) {
    transfers_.erase(e);
    c->easy = nullptr;
    release_easy(e);
    attempt_done(c, make_error(llm_errc::transport, std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc)));
  }
}

std::size_t io_loop::on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* c = static_cast<http_call*>(user);
  std::size_t len = size * n;
  c->last_byte = clock::now();
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after a 100 Continue, or a redirect): start over.
    auto sp = line.find(' ');
    c->status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    c->resp_headers.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  c->resp_headers[lower(line.substr(0, colon))] = std::string(value);
  return len;
}

std::size_t io_loop::on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* c = static_cast<http_call*>(user);
  std::size_t len = size * n;
  c->last_byte = clock::now();
  try {
    if (c->streaming_ok()) {
      auto events = c->parser->feed(std::string_view(data, len));
      if (!events) {
        c->stream_error = make_error(llm_errc::invalid_reply, "stream: " + bb::to_string(events.error()));
        return 0;  // aborts the transfer
      }
      for (const auto& ev : *events) {
        if (auto err = c->assembler->feed(ev)) {
          c->stream_error = std::move(*err);
          return 0;
        }
      }
      return len;
    }
    if (c->resp_body.size() + len > max_reply_bytes) {
      c->stream_error = make_error(llm_errc::invalid_reply, "reply longer than " +
                                                                std::to_string(max_reply_bytes >> 20) + " MiB");
      return 0;
    }
    c->resp_body.append(data, len);
    return len;
  } catch (const std::exception& ex) {
    c->stream_error = make_error(llm_errc::invalid_reply, std::string("reading the reply: ") + ex.what());
    return 0;
  }
}

void io_loop::detach_transfer(http_call& c) {
  if (!c.easy) return;
  curl_multi_remove_handle(multi_, c.easy);
  transfers_.erase(c.easy);
  release_easy(c.easy);
  c.easy = nullptr;
}

void io_loop::drain_messages() {
  int queued = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &queued)) {
    if (m->msg != CURLMSG_DONE) continue;
    auto it = transfers_.find(m->easy_handle);
    if (it == transfers_.end()) continue;
    call_ptr c = it->second;
    CURLcode rc = m->data.result;
    llm_result r = outcome(*c, rc);
    detach_transfer(*c);
    attempt_done(c, std::move(r));
  }
}

llm_result io_loop::outcome(http_call& c, CURLcode rc) {
  std::string where = "POST " + masked_url(url_) + ": ";
  if (c.stream_error) {
    llm_error e = std::move(*c.stream_error);
    e.message = where + e.message;
    return e;
  }
  if (rc != CURLE_OK) {
    std::string said = c.errbuf[0] ? std::string(c.errbuf) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return make_error(llm_errc::timeout, where + said + " (connect_timeout " + ms_text(ep_.connect_timeout) +
                                               ", timeout " + ms_text(ep_.timeout) + ")");
    }
    return make_error(llm_errc::transport, where + said);
  }
  if (c.status < 200 || c.status >= 300) {
    llm_error e = classify_http_error(c.status, c.resp_body, c.resp_headers);
    e.message = where + e.message;
    return e;
  }
  if (c.req.stream) {
    llm_result r = c.assembler->finish(c.parser->finish());
    if (!r.ok()) {
      llm_error e = r.error();
      e.message = where + e.message;
      return e;
    }
    return r;
  }
  llm_result r = wire::parse_reply(ep_.format, c.resp_body, c.req);
  if (!r.ok()) {
    llm_error e = r.error();
    e.message = where + e.message;
    if (e.http_status == 0) e.http_status = c.status;
    return e;
  }
  return r;
}

void io_loop::attempt_done(const call_ptr& c, llm_result r) {
  auto now = clock::now();
  breaker_record(*c, r, now);
  if (r.ok()) {
    finish(c, std::move(r));
    return;
  }
  if (auto wait = ep_.retry.next_delay(c->attempts, r.error(), rng_)) {
    if (log_->should_log(spdlog::level::info)) {
      std::string why = r.error().message;
      scrub(why, c->key);
      log_->info("model call retried url={} attempt={} delay_ms={} code={} http_status={} error={}",
                 log::value(masked_url(url_)), c->attempts,
                 std::chrono::duration_cast<std::chrono::milliseconds>(*wait).count(),
                 to_string(r.error().code), r.error().http_status, log::value(why.substr(0, 300)));
    }
    c->st = http_call::state::retry_wait;
    c->previous_failure = r.error().message;
    c->timer = timers_.emplace(now + *wait, c);
    return;
  }
  finish(c, std::move(r));
}

void io_loop::finish(const call_ptr& c, llm_result r) {
  switch (c->st) {
    case http_call::state::finished:
      return;
    case http_call::state::queued: {
      auto it = std::find(waiting_.begin(), waiting_.end(), c);
      if (it != waiting_.end()) waiting_.erase(it);
      break;
    }
    case http_call::state::running:
      detach_transfer(*c);
      break;
    case http_call::state::retry_wait:
      timers_.erase(c->timer);
      break;
  }
  c->st = http_call::state::finished;
  if (c->holds_slot) {
    c->holds_slot = false;
    --active_;
  }
  if (c->probe) breaker_record(*c, r, clock::now());
  if (r.ok()) {
    r->attempts = std::max(c->attempts, 1);
    r->latency = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - c->started);
  } else {
    llm_error e = r.error();
    if (c->attempts > 1 && e.code != llm_errc::cancelled)
      e.message += " (after " + std::to_string(c->attempts) + " attempts)";
    scrub(e.message, c->key);
    if (e.code != llm_errc::cancelled)
      log_->warn("model call failed url={} code={} http_status={} attempts={} error={}",
                 log::value(masked_url(url_)), to_string(e.code), e.http_status, c->attempts,
                 log::value(e.message.substr(0, 300)));
    r = llm_result(std::move(e));
  }
  auto done = std::move(c->done);
  c->done = nullptr;
  c->assembler.reset();
  c->parser.reset();
  if (!done) return;
  try {
    done(std::move(r));
  } catch (...) {
    // Documented: callbacks must not throw; the I/O thread must survive one that does.
  }
}

void io_loop::check_idle(clock::time_point now) {
  if (transfers_.empty() || now < idle_check_at_) return;
  auto next = clock::time_point::max();
  std::vector<call_ptr> expired;
  for (const auto& [easy, c] : transfers_) {
    auto deadline = c->last_byte + ep_.idle_timeout;
    if (deadline <= now)
      expired.push_back(c);
    else
      next = std::min(next, deadline);
  }
  idle_check_at_ = next;
  for (const auto& c : expired) {
    bool first = c->status == 0;
    detach_transfer(*c);
    attempt_done(c, make_error(llm_errc::timeout, "POST " + masked_url(url_) + ": no byte received for " +
                                                      ms_text(ep_.idle_timeout) + " (idle_timeout" +
                                                      (first ? ", waiting for the reply to start)" : ")")));
  }
}

void io_loop::shutdown_all() {
  {
    std::lock_guard<std::mutex> g(inbox_mu_);
    closed_ = true;
    for (auto& c : new_calls_) waiting_.push_back(std::move(c));
    new_calls_.clear();
    cancels_.clear();
  }
  std::vector<call_ptr> all(waiting_.begin(), waiting_.end());
  for (const auto& [t, c] : timers_) all.push_back(c);
  for (const auto& [e, c] : transfers_) all.push_back(c);
  for (const auto& c : all)
    finish(c, make_error(llm_errc::cancelled, "call to " + masked_url(url_) + " cancelled: the client was destroyed"));
}

}  // namespace http_detail

// --- http_client ----------------------------------------------------------------

struct http_client::core final : http_detail::io_loop {
  using io_loop::io_loop;
};

http_client::http_client(endpoint ep, price_table prices) : llm_client(std::move(prices)), ep_(std::move(ep)) {
  http_detail::global_init();
  core_ = std::make_shared<core>(ep_);
  core_->start();
}

http_client::~http_client() { core_->stop(); }

std::string http_client::describe() const {
  std::string s = ep_.format == wire_format::anthropic ? "anthropic " : "openai-compatible ";
  s += http_detail::masked_url(ep_.base_url) + " model " + ep_.model;
  s += ep_.api_key_env.empty() ? " (no API key)" : " (key from $" + ep_.api_key_env + ")";
  return s;
}

std::string http_client::default_model() const { return ep_.model; }

call_handle http_client::start(llm_request req, callback done, const call_options& opts) {
  using namespace http_detail;
  auto c = std::make_shared<http_call>();
  c->loop = core_;
  c->started = clock::now();
  c->done = std::move(done);
  c->on_delta = opts.on_delta;
  const std::string where = "POST " + masked_url(core_->url()) + ": ";
  if (core_->config_error()) {
    c->early_error = make_error(llm_errc::invalid_request, where + *core_->config_error() + "; nothing was sent");
  } else if (!ep_.api_key_env.empty()) {
    const char* v = std::getenv(ep_.api_key_env.c_str());
    if (!v || !*v)
      c->early_error = make_error(llm_errc::invalid_request,
                                  where + "the API key variable $" + ep_.api_key_env +
                                      " (endpoint api_key_env) is not set or empty; nothing was sent");
    else
      c->key = v;
  }
  if (!c->early_error) {
    auto b = wire::to_request_body(ep_.format, req, ep_.model, ep_.default_max_tokens);
    if (!b.ok()) {
      c->early_error = make_error(llm_errc::invalid_request, where + b.error().message + "; nothing was sent");
    } else {
      try {
        c->body = b->dump();
      } catch (const nlohmann::json::exception& ex) {
        c->early_error =
            make_error(llm_errc::invalid_request, where + "the request cannot be sent as JSON: " + ex.what());
      }
    }
  }
  if (!c->early_error) {
    auto add = [&](const std::string& h) { c->headers = curl_slist_append(c->headers, h.c_str()); };
    add("Content-Type: application/json");
    add(req.stream ? "Accept: text/event-stream" : "Accept: application/json");
    add("Expect:");  // no 100-continue round trip before the body
    if (ep_.format == wire_format::anthropic) {
      if (!c->key.empty()) add("x-api-key: " + c->key);
      add("anthropic-version: " + ep_.anthropic_version);
    } else if (!c->key.empty()) {
      add("Authorization: Bearer " + c->key);
    }
    for (const auto& [k, v] : ep_.headers) add(k + ": " + v);
  }
  c->req = std::move(req);
  core_->post_call(c);
  return call_handle(std::move(c));
}

}  // namespace agora
