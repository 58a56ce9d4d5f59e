/// \file tracing.hpp
/// Trace contexts carried by every message between actors, spans written as
/// JSON lines in OpenTelemetry's span model, and per-agent counters.
///
/// ```cpp
/// agora::actors::tracer tr;                        // off: every call is a no-op
/// auto opened = agora::actors::tracer::open("run.spans.jsonl");
/// if (!opened) ...                                 // names the file and errno text
/// agora::actors::tracer& t = *opened;
/// trace_context root = trace_context::make_root();
/// {
///   span s = t.start("task", root, "debater/alice");
///   s.set("task", "t7");
///   ...
///   s.fail("conflict: ...");                        // status ERROR with message
/// }                                                 // written when s ends
/// ```
/// One line per finished span, fields as OTLP/JSON names them:
/// `traceId` (32 hex digits), `spanId`, `parentSpanId` (16 hex digits, "" for
/// a root), `name`, `kind` ("SPAN_KIND_INTERNAL"), `startTimeUnixNano`,
/// `endTimeUnixNano` (decimal strings), `status` ({`code`: "STATUS_CODE_OK" |
/// "STATUS_CODE_ERROR", `message`}), `attributes` ([{`key`, `value`:
/// {`stringValue` | `intValue` | `doubleValue`}}]); the agent is the
/// attribute `agora.agent`.
///
/// Thread-safety: trace_context is a value. tracer and metrics are
/// thread-safe. A span belongs to one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <nlohmann/json.hpp>

#include "agora/blackboard/result.hpp"

namespace agora::actors {

/// Correlation (trace id) and causation (parent span id) of a message.
/// All zero = no trace.
///
/// Cost: four words, trivially copyable; an unset context is 32 zero bytes
/// to copy and never allocates, the same as a set one. In a CAF 0.17
/// message, a context sent as its own element costs more than its bytes:
/// about 65 instructions of CAF's matching and copying, and 48 bytes of
/// message (the value plus CAF's 16-byte type entry), which moves the
/// smallest messages out of glibc's fastbins into its slower small-bin
/// path (docs/benchmarks.md, actor_bench "N:1 mailbox"). Inside a message
/// type that carries it (task) it costs its 32 bytes only.
struct trace_context {
  std::uint64_t trace_hi = 0;
  std::uint64_t trace_lo = 0;
  std::uint64_t span_id = 0;
  std::uint64_t parent_span_id = 0;

  bool valid() const noexcept { return (trace_hi | trace_lo) != 0 && span_id != 0; }
  /// A new trace with a random id and a root span.
  static trace_context make_root();
  /// A new span in the same trace whose parent is this one.
  trace_context child() const;
  /// 32 lowercase hex digits.
  std::string trace_id_hex() const;

  friend bool operator==(const trace_context& a, const trace_context& b) noexcept {
    return a.trace_hi == b.trace_hi && a.trace_lo == b.trace_lo && a.span_id == b.span_id &&
           a.parent_span_id == b.parent_span_id;
  }
};

static_assert(std::is_trivially_copyable_v<trace_context> && sizeof(trace_context) == 32,
              "trace_context must stay four plain words: messages copy it everywhere");

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, trace_context& x) {
  return f(caf::meta::type_name("agora_trace_context"), x.trace_hi, x.trace_lo, x.span_id,
           x.parent_span_id);
}

/// 16 lowercase hex digits; "" for 0.
std::string span_id_hex(std::uint64_t id);

class tracer;

/// One operation in a trace. Written to its tracer when it ends (explicitly
/// or on destruction). A default-constructed or disabled span does nothing.
class span {
 public:
  span() = default;
  span(span&& other) noexcept;
  span& operator=(span&& other) noexcept;
  span(const span&) = delete;
  span& operator=(const span&) = delete;
  ~span();

  bool active() const noexcept { return sink_ != nullptr; }
  /// The context children of this span should carry.
  const trace_context& context() const noexcept { return ctx_; }

  void set(const std::string& key, std::string value);
  void set(const std::string& key, std::int64_t value);
  void set(const std::string& key, double value);
  /// Marks the span failed; the message becomes status.message.
  void fail(std::string message);
  /// Ends now (later calls do nothing).
  void end();

 private:
  friend class tracer;
  tracer* sink_ = nullptr;
  trace_context ctx_;
  std::string name_;
  std::string agent_;
  std::int64_t start_ns_ = 0;
  bool failed_ = false;
  std::string status_message_;
  nlohmann::json attributes_;
};

/// Writes finished spans as JSON lines to a file. Off (all no-ops) unless
/// opened.
class tracer {
 public:
  tracer() = default;  // disabled
  ~tracer();
  tracer(const tracer&) = delete;
  tracer& operator=(const tracer&) = delete;

  /// Opens (appends to) `path`. Fails with bb::errc::invalid_argument naming
  /// the file and the system's reason.
  static bb::result<std::unique_ptr<tracer>> open(const std::string& path);

  bool enabled() const noexcept { return out_ != nullptr; }

  /// Starts a span named `name` whose context is a child of `parent` (a new
  /// root when `parent` is not valid). Inactive when the tracer is disabled.
  span start(std::string name, const trace_context& parent, std::string agent = {});

  /// Spans written so far.
  std::uint64_t written() const noexcept { return written_.load(std::memory_order_relaxed); }
  /// Flushes buffered lines to the file.
  void flush();

 private:
  friend class span;
  void write(const span& s, std::int64_t end_ns);
  std::mutex mu_;
  std::FILE* out_ = nullptr;
  std::atomic<std::uint64_t> written_{0};
};

/// Counters of one agent. Updated with relaxed atomics: cheap, and exact once
/// the agent is idle. Each agent's counters start on their own cache line
/// (64 bytes), so that agents counting on different cores do not slow each
/// other down by sharing one (they would: the 56 bytes of two agents'
/// counters, allocated one after the other, straddle a line).
struct alignas(64) agent_counters {
  std::atomic<std::uint64_t> tasks{0};       ///< tasks finished (either way)
  std::atomic<std::uint64_t> failures{0};    ///< tasks that ended in an error outcome
  std::atomic<std::uint64_t> retries{0};     ///< promotion retries after a conflict
  std::atomic<std::uint64_t> promotions{0};  ///< successful promotions
  std::atomic<std::uint64_t> conflicts{0};   ///< promotions rejected with a conflict
  std::atomic<std::uint64_t> latency_ns_total{0};
  std::atomic<std::uint64_t> latency_ns_max{0};

  void record_latency(std::uint64_t ns) noexcept;
};

/// Per-agent counters by agent id. Off unless enabled; `of()` on a disabled
/// registry returns a shared sink that nobody reads.
class metrics {
 public:
  explicit metrics(bool enabled = false) : enabled_(enabled) {}
  bool enabled() const noexcept { return enabled_; }
  /// The counters of `agent` (created on first use). The reference stays valid
  /// for the registry's lifetime.
  agent_counters& of(const std::string& agent);
  /// {"<agent>": {"tasks": n, ..., "latency_ms_mean": x, "latency_ms_max": y}}.
  nlohmann::json to_json() const;

 private:
  bool enabled_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<agent_counters>> by_agent_;
  agent_counters sink_;
};

}  // namespace agora::actors
