/// \file llm.hpp
/// One request/response model for chat LLMs, whatever the wire format, and
/// the interface every model client implements.
///
/// ```cpp
/// agora::llm_request req;
/// req.messages = {agora::message::system("You are terse."),
///                 agora::message::user("Name a prime.")};
/// req.max_tokens = 50;
/// auto h = client.call(std::move(req), [](agora::llm_result r) {
///   if (!r) { log(r.error().message); return; }         // typed: r.error().code
///   use(r->content, r->tokens, r->cost_usd);
/// }, {"critic-1", nullptr, nullptr});                      // call_options: agent, budget, on_delta
/// h.cancel();                                              // done() then gets llm_errc::cancelled
/// ```
///
/// Clients: http_client (http_client.hpp: OpenAI Chat Completions and
/// Anthropic Messages over libcurl), replay_client and scripted_client
/// (test_clients.hpp: recorded or scripted replies — not a model).
///
/// This header and every client header are free of CAF; the LLM agent
/// (llm_agent.hpp) joins a client to the actor runtime.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/agents/llm_error.hpp"
#include "agora/agents/usage.hpp"

namespace agora {

// --- The request ----------------------------------------------------------------

/// Who speaks a message.
enum class role : std::uint8_t { system, user, assistant, tool };

/// "system", "user", "assistant", "tool".
const char* to_string(role r) noexcept;

/// A tool call the model asked for.
struct tool_call {
  /// The server's id for the call ("call_abc", "toolu_01..."); a tool result answers it.
  std::string id;
  /// The tool's name.
  std::string name;
  /// The arguments as the model wrote them: JSON text (not parsed, because a
  /// model may write invalid JSON and the caller decides what to do then).
  std::string arguments;
  friend bool operator==(const tool_call& a, const tool_call& b) {
    return a.id == b.id && a.name == b.name && a.arguments == b.arguments;
  }
};

/// One message of a conversation.
struct message {
  agora::role role = agora::role::user;
  /// The text. For role::tool: the tool's result.
  std::string content;
  /// role::assistant: the tool calls it made (content may then be empty).
  std::vector<tool_call> tool_calls;
  /// role::tool: the id of the call this message answers.
  std::string tool_call_id;

  static message system(std::string text) { return {agora::role::system, std::move(text), {}, {}}; }
  static message user(std::string text) { return {agora::role::user, std::move(text), {}, {}}; }
  static message assistant(std::string text) { return {agora::role::assistant, std::move(text), {}, {}}; }
  static message tool_result(std::string call_id, std::string result) {
    return {agora::role::tool, std::move(result), {}, std::move(call_id)};
  }
};

/// A tool the model may call.
struct tool_def {
  std::string name;
  std::string description;
  /// The JSON schema of the arguments (an object schema).
  nlohmann::json parameters = nlohmann::json::object();
};

/// One call to a chat model.
struct llm_request {
  /// The model; empty = the client's configured model.
  std::string model;
  /// The conversation. System messages may appear anywhere in OpenAI's
  /// format; Anthropic's has one top-level system prompt, so its serializer
  /// joins every system message into it (in order) and sends the rest.
  std::vector<message> messages;
  std::optional<double> temperature;
  std::optional<double> top_p;
  /// For reproducible sampling where the server supports it (OpenAI-compatible
  /// servers; Anthropic's API has no seed and the serializer drops it).
  std::optional<std::int64_t> seed;
  std::vector<std::string> stop;
  /// The most tokens to generate. Anthropic requires one: when unset, its
  /// serializer sends the client's default (endpoint::default_max_tokens).
  std::optional<std::uint32_t> max_tokens;
  /// Structured output: the JSON schema the reply must follow. OpenAI format:
  /// `response_format: {type: json_schema, json_schema: {name, schema, strict}}`.
  /// Anthropic has no schema mode: its serializer sends the schema as a
  /// forced tool named `schema_name` and the parser returns the tool's input
  /// as `content` (so callers see one shape either way).
  std::optional<nlohmann::json> response_schema;
  std::string schema_name = "output";
  std::vector<tool_def> tools;
  /// "" (the server's default), "auto", "none", "required", or a tool name
  /// (forces that tool).
  std::string tool_choice;
  /// Stream the reply (server-sent events). The result is the same either
  /// way; call_options::on_delta sees the text as it arrives.
  bool stream = false;
  /// Merged into the request body last (top-level keys; an explicit null
  /// removes a key): for what this model does not cover.
  nlohmann::json extra = nlohmann::json::object();
};

// --- The reply ------------------------------------------------------------------

/// What a call returned.
struct llm_response {
  /// The server's id of the reply.
  std::string id;
  /// The model that answered, as the server named it.
  std::string model;
  /// The text (joined text blocks). With a response_schema: the JSON text.
  std::string content;
  std::vector<tool_call> tool_calls;
  /// Normalized: "stop", "length", "tool_calls", "content_filter"; other
  /// values as the server sent them ("" when it sent none).
  std::string finish_reason;
  /// Tokens of this call, retries excluded (failed attempts bill nothing
  /// the server told us about).
  agora::usage tokens;
  /// False when the server reported no usage (some OpenAI-compatible servers
  /// stream without it); `tokens` is then an estimate (4 bytes a token).
  bool usage_reported = true;
  /// The call's cost in USD by the client's price table.
  double cost_usd = 0;
  /// False when the price table has no price for `model` (cost_usd is 0).
  bool cost_known = false;
  /// From the call to its reply, retries and waits included.
  std::chrono::microseconds latency{0};
  /// HTTP requests made, the successful one included (1 without retries).
  int attempts = 1;
};

/// A reply or a typed error.
class [[nodiscard]] llm_result {
 public:
  llm_result(llm_response r) : v_(std::in_place_index<0>, std::move(r)) {}  // NOLINT: implicit by design
  llm_result(llm_error e) : v_(std::in_place_index<1>, std::move(e)) {}     // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  llm_response& value() & { return std::get<0>(v_); }
  const llm_response& value() const& { return std::get<0>(v_); }
  llm_response&& value() && { return std::get<0>(std::move(v_)); }
  llm_response& operator*() & { return value(); }
  const llm_response& operator*() const& { return value(); }
  llm_response* operator->() { return &value(); }
  const llm_response* operator->() const { return &value(); }
  /// The error; only valid when `!ok()`.
  const llm_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<llm_response, llm_error> v_;
};

// --- Budgets --------------------------------------------------------------------

/// A spending limit shared by every call (and every agent) it is given to.
/// A call is admitted only if what it may spend fits: before sending, the
/// client reserves the prompt's estimated tokens (4 bytes a token) plus the
/// request's max_tokens (capping max_tokens to what is left when the request
/// sets none or more), and the cost of those at the model's price; the reply's
/// real usage then replaces the reservation. So concurrent calls cannot
/// overrun the limit together; a refused call fails with
/// llm_errc::budget_exhausted and sends nothing.
///
/// Thread-safety: all members are thread-safe.
class budget {
 public:
  /// nullopt = no limit of that kind.
  budget(std::optional<std::uint64_t> max_tokens, std::optional<double> max_usd)
      : max_tokens_(max_tokens), max_usd_(max_usd) {}

  std::optional<std::uint64_t> max_tokens() const noexcept { return max_tokens_; }
  std::optional<double> max_usd() const noexcept { return max_usd_; }

  /// Spent so far (settled calls only).
  std::uint64_t tokens_spent() const;
  double usd_spent() const;
  /// Tokens still free: the limit minus spent and reserved (max if no limit).
  std::uint64_t tokens_left() const;
  /// USD still free (infinity if no limit).
  double usd_left() const;

  /// A reservation; settle() or release() it exactly once.
  struct ticket {
    std::uint64_t tokens = 0;
    double usd = 0;
  };
  /// Reserves `tokens` and `usd`, or explains (budget_exhausted, naming the
  /// limit, what is spent and what the call needed) why not.
  std::variant<ticket, llm_error> reserve(std::uint64_t tokens, double usd);
  /// Replaces a reservation by what the call really spent.
  void settle(const ticket& t, std::uint64_t tokens, double usd);
  /// Gives a reservation back (the call failed before the server billed it).
  void release(const ticket& t) { settle(t, 0, 0); }

 private:
  mutable std::mutex mu_;
  std::optional<std::uint64_t> max_tokens_;
  std::optional<double> max_usd_;
  std::uint64_t tokens_spent_ = 0, tokens_reserved_ = 0;
  double usd_spent_ = 0, usd_reserved_ = 0;
};

// --- The client interface -------------------------------------------------------

/// Per call: attribution and hooks. Not sent to the server.
struct call_options {
  /// The agent the call's usage is attributed to (llm_client::usage_by_agent).
  std::string agent;
  /// A budget to reserve from before sending (see budget); none = unlimited.
  std::shared_ptr<agora::budget> budget;
  /// For a streamed request: each piece of text as it arrives, on the
  /// client's thread. Must not block.
  std::function<void(std::string_view)> on_delta;
};

/// Usage and cost totals, for one agent or a whole client.
struct usage_totals {
  std::uint64_t calls = 0;     ///< calls that returned a reply
  std::uint64_t failures = 0;  ///< calls that ended in an error (budget refusals included)
  agora::usage tokens;
  double cost_usd = 0;
};

namespace detail {
/// The client's side of a call in flight; call_handle cancels through it.
class call_control {
 public:
  virtual ~call_control() = default;
  virtual void cancel() = 0;
};
}  // namespace detail

/// Cancels a call in flight. Cancelling a call that already ended does
/// nothing; otherwise its callback runs once with llm_errc::cancelled.
/// Dropping the handle does not cancel.
class call_handle {
 public:
  call_handle() = default;
  explicit call_handle(std::shared_ptr<detail::call_control> c) : c_(std::move(c)) {}
  void cancel() const {
    if (c_) c_->cancel();
  }

 private:
  std::shared_ptr<detail::call_control> c_;
};

/// A chat model client. Implementations override start(); call() adds what
/// every client must do the same way: budget reservation and settlement,
/// cost from the price table, and usage attribution per agent.
///
/// Thread-safety: call(), usage_by_agent() and totals() are thread-safe.
/// Callbacks run on the client's own thread (http_client's I/O thread) or,
/// for a client that answers at once, inside call(); they must not block.
class llm_client {
 public:
  using callback = std::function<void(llm_result)>;

  explicit llm_client(price_table prices = price_table::defaults()) : prices_(std::move(prices)) {}
  virtual ~llm_client() = default;
  llm_client(const llm_client&) = delete;
  llm_client& operator=(const llm_client&) = delete;

  /// Starts a call; `done` runs exactly once with the reply or an error.
  call_handle call(llm_request req, callback done, call_options opts = {});

  /// What this client is, for people and traces: "openai-compatible
  /// http://127.0.0.1:8080/v1 model qwen", "replay of runs.jsonl (recorded
  /// replies, not a model)". Never contains a secret.
  virtual std::string describe() const = 0;
  /// The model a request with an empty `model` goes to.
  virtual std::string default_model() const = 0;

  /// Usage and cost attributed to each call_options::agent ("" for calls
  /// that named none).
  std::map<std::string, usage_totals> usage_by_agent() const;
  /// Everything this client spent.
  usage_totals totals() const;
  const price_table& prices() const noexcept { return prices_; }

 protected:
  /// Sends `req` (model already filled in) and calls `done` once. The
  /// response's tokens must be filled; cost is filled by call().
  virtual call_handle start(llm_request req, callback done, const call_options& opts) = 0;

 private:
  price_table prices_;
  mutable std::mutex stats_mu_;
  std::map<std::string, usage_totals> by_agent_;
};

/// Estimated tokens of a text: 4 bytes a token, rounded up. For budgets and
/// servers that report no usage.
std::uint64_t estimate_tokens(std::string_view text) noexcept;
/// Estimated prompt tokens of a request: its messages, tool definitions and schema.
std::uint64_t estimate_prompt_tokens(const llm_request& req);

}  // namespace agora
