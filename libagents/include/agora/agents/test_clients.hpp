/// \file test_clients.hpp
/// Clients that are not a model: replies recorded from a real run
/// (replay_client), replies written by a test (scripted_client), and the
/// wrapper that records a real client's exchanges for replay
/// (recording_client). Runs and tests with them work offline.
///
/// ```cpp
/// // 1. Record a real run once (appends one JSON line per call):
/// auto real = std::make_shared<agora::http_client>(ep);              // http_client.hpp
/// auto rec = agora::recording_client::open(real, "debate.jsonl");   // bb::result<shared_ptr<...>>
/// if (!rec) fail(rec.error().message);
/// run_debate(*rec);                        // use *rec wherever the real client went
///
/// // 2. Replay it offline, as often as you like:
/// auto replay = agora::replay_client::open("debate.jsonl");
/// if (!replay) fail(replay.error().message);   // "debate.jsonl:7: request.messages[0].role: ..."
/// run_debate(*replay);
///
/// // 3. In a test, script the replies (a queue, or a function of the request):
/// auto fake = std::make_shared<agora::scripted_client>(std::vector<agora::llm_result>{
///     agora::scripted_client::reply("first answer"),
///     agora::scripted_client::failure(agora::llm_errc::rate_limited, "slow down")});
/// agora::scripted_options async;                       // replies from its own thread,
/// async.async = true;                                  // after async.delay: cancellable
/// agora::scripted_client echo([](const agora::llm_request& r) -> agora::llm_result {
///   return agora::scripted_client::reply("echo: " + r.messages.back().content);
/// }, async);
/// ```
///
/// ## The replay file (JSON lines)
/// One exchange per line: a JSON object with the request (llm_json.hpp's
/// form of llm_request) and either the response or the error it got:
///
/// ```
/// {"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Name a prime."}]}, "response": {"model": "gpt-4o-mini-2024-07-18", "content": "7", "finish_reason": "stop", "tokens": {"prompt": 11, "completion": 1}}}
/// {"request": {"messages": [{"role": "user", "content": "Again?"}]}, "error": {"code": "rate_limited", "message": "slow down", "http_status": 429, "retry_after_ms": 2000}}
/// ```
///
/// Blank lines are skipped. A hand-written line needs only `request.messages`
/// and `response` (or `error`: `code` is required); a response without
/// `tokens` gets estimated usage (4 bytes a token, usage_reported = false).
/// recording_client writes every field (cost, latency, attempts too), which
/// replay ignores where llm_client::call() recomputes them (cost) or where
/// they describe the real call (latency: a replayed reply reports its own).
///
/// ## Matching
/// By default a request is answered by the first *unused* exchange (in file
/// order) whose request matches it, so agents may ask in any order (and
/// concurrently). Requests match when their messages (role, content, tool
/// calls, tool_call_id), response_schema, tools and tool_choice are equal,
/// and their model is equal unless the recorded model is empty. Sampling
/// parameters (temperature, top_p, seed, stop, max_tokens), stream and
/// extra are not compared. When every matching exchange is used, the last
/// matching one in the file is served again (a loop that asks the same
/// question again gets the last recorded answer). No match fails the call
/// with llm_errc::invalid_request, naming the file and the first difference
/// from the nearest recorded request. With replay_options::strict_order the
/// exchanges are served in file order whatever the request says: for
/// recordings whose prompts change between runs (timestamps, random ids);
/// it assumes the calls come in the same order as when recorded.
///
/// Thread-safety: every member of the three clients is thread-safe.
/// replay_client and a synchronous scripted_client run the callback inside
/// call(); an asynchronous scripted_client runs it on its own thread;
/// recording_client on the thread of the client it wraps.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/agents/llm.hpp"
#include "agora/blackboard/result.hpp"

namespace agora {

// --- scripted_client ------------------------------------------------------------

/// How a scripted_client answers.
struct scripted_options {
  /// False: the reply is delivered inside call(). True: from the client's
  /// own thread, `delay` after the call, so a test sees replies arrive on
  /// another thread (and can cancel them while pending).
  bool async = false;
  std::chrono::milliseconds delay{0};
  /// default_model(): what a request with an empty model is sent as.
  std::string model = "scripted";
  /// For cost: a model absent from the table costs 0 (cost_known = false),
  /// and a cost budget then refuses every call; set a price for `model` to
  /// test cost budgets.
  price_table prices = price_table::defaults();
};

/// A test double of a model client: replies come from a script, not a
/// model. Either a function decides each reply, or a queue of replies is
/// served in call order; when the queue runs out a call fails with
/// llm_errc::invalid_request ("scripted_client: script exhausted after N
/// replies"). The reply is chosen when call() is made (the function runs
/// inside call(), on the caller's thread), and delivered at once or, with
/// scripted_options::async, later from the client's thread.
///
/// A reply whose tokens are all zero gets an estimate (estimate_prompt_tokens
/// of the request, estimate_tokens of the content and tool-call arguments;
/// usage_reported = false); an empty model is filled with the request's.
/// With req.stream and call_options::on_delta, the content is handed to
/// on_delta as one piece before the callback runs.
///
/// Cancelling a pending asynchronous reply delivers llm_errc::cancelled
/// (once, from the client's thread) instead. The destructor cancels every
/// pending reply that way and joins the thread.
///
/// Thread-safety: thread-safe.
class scripted_client final : public llm_client {
 public:
  using script = std::function<llm_result(const llm_request&)>;

  /// `decide` is called once per call with the request (model filled in).
  explicit scripted_client(script decide, scripted_options opts = {});
  /// Replies served in order, one per call.
  explicit scripted_client(std::vector<llm_result> replies, scripted_options opts = {});
  ~scripted_client() override;

  /// A reply with `content` (usage estimated, see the class comment).
  static llm_response reply(std::string content);
  /// A reply that calls one tool.
  static llm_response tool_reply(std::string id, std::string name, std::string arguments);
  /// An error reply.
  static llm_error failure(llm_errc code, std::string message);

  /// Every request received so far, in call order (model filled in; budget
  /// refusals never reach the client and are not listed).
  std::vector<llm_request> requests() const;
  /// Asynchronous replies not yet delivered.
  std::size_t pending() const;

  std::string describe() const override { return "scripted test client (not a model)"; }
  std::string default_model() const override { return opts_.model; }

 protected:
  call_handle start(llm_request req, callback done, const call_options& opts) override;

 private:
  struct state;
  llm_result next_reply(const llm_request& req);

  scripted_options opts_;
  script decide_;
  std::shared_ptr<state> state_;
  std::thread worker_;
};

// --- recording_client -----------------------------------------------------------

/// Wraps a client and appends every exchange it makes to a JSON-lines file
/// that replay_client plays back (format in the file comment). Each line is
/// written whole, under a mutex, and flushed, so a crash loses at most the
/// calls in flight. Budgets, cost and attribution work as on any client
/// (llm_client::call() of this wrapper); the wrapped client sees the calls
/// without the budget (already reserved here).
///
/// Thread-safety: thread-safe.
class recording_client final : public llm_client {
  struct sink;            // the file; shared with callbacks in flight
  struct private_tag {};  // open() is the way to make one

 public:
  /// Opens `path` for appending (creating it). Fails with
  /// bb::errc::invalid_argument naming the file when it cannot be opened,
  /// or when `inner` is null.
  static bb::result<std::shared_ptr<recording_client>> open(std::shared_ptr<llm_client> inner,
                                                            const std::string& path);

  /// Lines written so far.
  std::size_t lines_written() const;
  /// OK, or the first write error (a line that could not be written; the
  /// call itself still got its reply).
  bb::status write_status() const;

  /// "recording to FILE of: <the wrapped client's describe()>".
  std::string describe() const override;
  std::string default_model() const override { return inner_->default_model(); }

  recording_client(private_tag, std::shared_ptr<llm_client> inner, std::shared_ptr<sink> out);

 protected:
  call_handle start(llm_request req, callback done, const call_options& opts) override;

 private:
  std::shared_ptr<llm_client> inner_;
  std::shared_ptr<sink> out_;
};

// --- replay_client --------------------------------------------------------------

struct replay_options {
  /// Serve exchanges in file order, ignoring what the request says.
  bool strict_order = false;
  /// For cost, as for any client.
  price_table prices = price_table::defaults();
};

/// Plays back recorded exchanges (see the file comment for the file format
/// and the matching rules): recorded replies, not a model. Recorded errors
/// fail the call with the same llm_error. Usage and usage_reported are as
/// recorded. With req.stream and call_options::on_delta the content is
/// handed to on_delta as one piece. Replies are delivered inside call().
///
/// Thread-safety: thread-safe.
class replay_client final : public llm_client {
  struct exchange {
    std::size_t line = 0;
    llm_request request;
    nlohmann::json key;  // the request's canonical form, model excluded
    std::optional<llm_response> response;
    std::optional<llm_error> error;
    bool estimate_usage = false;  // the line gave no tokens
    bool used = false;
  };
  struct private_tag {};  // open() is the way to make one

 public:
  /// Reads the whole file. Fails with bb::errc::invalid_argument naming the
  /// file and line ("runs.jsonl:7: ...") for a line that is not JSON, lacks
  /// "request" or both "response" and "error", or holds a bad field; or
  /// naming the file when it cannot be read or has no exchange.
  static bb::result<std::shared_ptr<replay_client>> open(const std::string& path, replay_options opts = {});

  /// Exchanges in the file.
  std::size_t size() const noexcept { return exchanges_.size(); }
  /// Exchanges served at least once.
  std::size_t used() const;

  /// "replay of FILE (recorded replies, not a model)".
  std::string describe() const override;
  /// The first model named in the recording's requests ("replay" if none),
  /// so a request with an empty model matches what was recorded.
  std::string default_model() const override { return model_; }

  replay_client(private_tag, std::string path, replay_options opts, std::vector<exchange> exchanges);

 protected:
  call_handle start(llm_request req, callback done, const call_options& opts) override;

 private:
  /// The exchange to serve for `req` (an index), or the error to fail with.
  std::variant<std::size_t, llm_error> pick(const llm_request& req, const nlohmann::json& key);
  std::string no_match_hint(const llm_request& req) const;

  std::string path_;
  replay_options opts_;
  std::string model_;
  mutable std::mutex mu_;
  std::vector<exchange> exchanges_;
  std::size_t next_ = 0;  // strict_order: the next exchange to serve
};

}  // namespace agora
