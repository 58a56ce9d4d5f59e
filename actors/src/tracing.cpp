#include "agora/actors/tracing.hpp"

#include <caf/actor_system_config.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "registration.hpp"

namespace agora::actors {

namespace {

std::int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

std::uint64_t random_u64() {
  // One generator per thread: ids must not collide across threads, and a
  // mutex here would be the tracer's hot spot.
  thread_local std::mt19937_64 gen{std::random_device{}() ^
                                   (static_cast<std::uint64_t>(now_ns()) << 1)};
  std::uint64_t v;
  do {
    v = gen();
  } while (v == 0);
  return v;
}

void hex64(std::uint64_t v, char* out) {
  static const char* digits = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = digits[v & 0xf];
    v >>= 4;
  }
}

}  // namespace

trace_context trace_context::make_root() {
  trace_context c;
  c.trace_hi = random_u64();
  c.trace_lo = random_u64();
  c.span_id = random_u64();
  return c;
}

trace_context trace_context::child() const {
  if (!valid()) return make_root();
  trace_context c = *this;
  c.parent_span_id = span_id;
  c.span_id = random_u64();
  return c;
}

std::string trace_context::trace_id_hex() const {
  std::string s(32, '0');
  hex64(trace_hi, s.data());
  hex64(trace_lo, s.data() + 16);
  return s;
}

std::string span_id_hex(std::uint64_t id) {
  if (id == 0) return {};
  std::string s(16, '0');
  hex64(id, s.data());
  return s;
}

// --- span -------------------------------------------------------------------

span::span(span&& other) noexcept { *this = std::move(other); }

span& span::operator=(span&& other) noexcept {
  if (this != &other) {
    end();
    sink_ = std::exchange(other.sink_, nullptr);
    ctx_ = other.ctx_;
    name_ = std::move(other.name_);
    agent_ = std::move(other.agent_);
    start_ns_ = other.start_ns_;
    failed_ = other.failed_;
    status_message_ = std::move(other.status_message_);
    attributes_ = std::move(other.attributes_);
  }
  return *this;
}

span::~span() { end(); }

void span::set(const std::string& key, std::string value) {
  if (sink_) attributes_[key] = std::move(value);
}
void span::set(const std::string& key, std::int64_t value) {
  if (sink_) attributes_[key] = value;
}
void span::set(const std::string& key, double value) {
  if (sink_) attributes_[key] = value;
}

void span::fail(std::string message) {
  if (!sink_) return;
  failed_ = true;
  status_message_ = std::move(message);
}

void span::end() {
  if (!sink_) return;
  tracer* t = std::exchange(sink_, nullptr);
  t->write(*this, now_ns());
}

// --- tracer -----------------------------------------------------------------

tracer::~tracer() {
  if (out_) std::fclose(out_);
}

bb::result<std::unique_ptr<tracer>> tracer::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f)
    return bb::error{bb::errc::invalid_argument,
                     "cannot open span file '" + path + "': " + std::strerror(errno)};
  auto t = std::make_unique<tracer>();
  t->out_ = f;
  return t;
}

span tracer::start(std::string name, const trace_context& parent, std::string agent) {
  span s;
  if (!out_) return s;
  s.sink_ = this;
  s.ctx_ = parent.child();
  s.name_ = std::move(name);
  s.agent_ = std::move(agent);
  s.start_ns_ = now_ns();
  s.attributes_ = nlohmann::json::object();
  return s;
}

void tracer::write(const span& s, std::int64_t end_ns) {
  using nlohmann::json;
  json attrs = json::array();
  auto add = [&](const std::string& key, const json& v) {
    json value;
    if (v.is_string()) value["stringValue"] = v;
    else if (v.is_number_integer()) value["intValue"] = std::to_string(v.get<std::int64_t>());
    else if (v.is_number()) value["doubleValue"] = v;
    else value["stringValue"] = v.dump();
    attrs.push_back(json{{"key", key}, {"value", std::move(value)}});
  };
  if (!s.agent_.empty()) add("agora.agent", s.agent_);
  for (auto it = s.attributes_.begin(); it != s.attributes_.end(); ++it) add(it.key(), it.value());
  json status{{"code", s.failed_ ? "STATUS_CODE_ERROR" : "STATUS_CODE_OK"}};
  if (!s.status_message_.empty()) status["message"] = s.status_message_;
  json line{{"traceId", s.ctx_.trace_id_hex()},
            {"spanId", span_id_hex(s.ctx_.span_id)},
            {"parentSpanId", span_id_hex(s.ctx_.parent_span_id)},
            {"name", s.name_},
            {"kind", "SPAN_KIND_INTERNAL"},
            {"startTimeUnixNano", std::to_string(s.start_ns_)},
            {"endTimeUnixNano", std::to_string(end_ns)},
            {"status", std::move(status)},
            {"attributes", std::move(attrs)}};
  // Invalid UTF-8 in an attribute must not throw out of a destructor.
  std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(mu_);
  std::fwrite(text.data(), 1, text.size(), out_);
  written_.fetch_add(1, std::memory_order_relaxed);
}

void tracer::flush() {
  std::lock_guard lock(mu_);
  if (out_) std::fflush(out_);
}

// --- metrics ----------------------------------------------------------------

void agent_counters::record_latency(std::uint64_t ns) noexcept {
  latency_ns_total.fetch_add(ns, std::memory_order_relaxed);
  auto prev = latency_ns_max.load(std::memory_order_relaxed);
  while (prev < ns && !latency_ns_max.compare_exchange_weak(prev, ns, std::memory_order_relaxed)) {
  }
}

agent_counters& metrics::of(const std::string& agent) {
  if (!enabled_) return sink_;
  std::lock_guard lock(mu_);
  auto& slot = by_agent_[agent];
  if (!slot) slot = std::make_unique<agent_counters>();
  return *slot;
}

nlohmann::json metrics::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  std::lock_guard lock(mu_);
  for (const auto& [agent, c] : by_agent_) {
    const auto tasks = c->tasks.load(std::memory_order_relaxed);
    const auto total = c->latency_ns_total.load(std::memory_order_relaxed);
    out[agent] = {{"tasks", tasks},
                  {"failures", c->failures.load(std::memory_order_relaxed)},
                  {"retries", c->retries.load(std::memory_order_relaxed)},
                  {"promotions", c->promotions.load(std::memory_order_relaxed)},
                  {"conflicts", c->conflicts.load(std::memory_order_relaxed)},
                  {"latency_ms_mean", tasks ? static_cast<double>(total) / tasks / 1e6 : 0.0},
                  {"latency_ms_max",
                   static_cast<double>(c->latency_ns_max.load(std::memory_order_relaxed)) / 1e6}};
  }
  return out;
}

namespace detail {

void register_tracing_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<trace_context>("agora_trace_context");
}

}  // namespace detail

}  // namespace agora::actors
