#include "agora/agents/test_clients.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>

#include "agora/agents/llm_json.hpp"

namespace agora {

using nlohmann::json;

namespace {

using steady = std::chrono::steady_clock;

llm_error make_error(llm_errc code, std::string message) {
  llm_error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

/// Fills what a scripted or hand-written reply may leave out: the model,
/// and an estimate of usage when it gives no tokens.
void complete_reply(llm_response& r, const llm_request& req, bool estimate_usage) {
  if (r.model.empty()) r.model = req.model;
  if (estimate_usage) {
    r.tokens = usage{};
    r.tokens.prompt = estimate_prompt_tokens(req);
    std::uint64_t completion = estimate_tokens(r.content);
    for (const auto& c : r.tool_calls) completion += estimate_tokens(c.name) + estimate_tokens(c.arguments);
    r.tokens.completion = completion;
    r.usage_reported = false;
  }
}

/// A line of JSON, written whatever bytes a model produced (invalid UTF-8
/// becomes U+FFFD rather than an exception).
std::string dump_line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

// --- scripted_client ------------------------------------------------------------

/// Shared by the client, its worker thread and the call handles, so a handle
/// that outlives the client cancels nothing and touches nothing freed.
struct scripted_client::state {
  struct pending_reply {
    steady::time_point due;
    llm_result reply;
    callback done;
    std::function<void(std::string_view)> on_delta;
  };

  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::deque<llm_result> script;  // queue mode
  std::size_t script_size = 0;
  std::vector<llm_request> requests;
  std::map<std::uint64_t, pending_reply> pending;  // by call number
  std::uint64_t next_id = 0;
};

namespace {

void deliver(llm_result reply, const std::function<void(std::string_view)>& on_delta,
             const std::function<void(llm_result)>& done) {
  if (reply.ok() && on_delta && !reply->content.empty()) on_delta(reply->content);
  done(std::move(reply));
}

class scripted_control final : public detail::call_control {
 public:
  explicit scripted_control(std::function<void()> cancel_fn) : cancel_(std::move(cancel_fn)) {}
  void cancel() override { cancel_(); }

 private:
  std::function<void()> cancel_;
};

}  // namespace

scripted_client::scripted_client(script decide, scripted_options opts)
    : llm_client(opts.prices), opts_(std::move(opts)), decide_(std::move(decide)), state_(std::make_shared<state>()) {
  if (opts_.async) worker_ = std::thread([st = state_] {
    std::unique_lock<std::mutex> lk(st->mu);
    for (;;) {
      if (st->pending.empty()) {
        if (st->stopping) return;
        st->wake.wait(lk);
        continue;
      }
      // The earliest due reply; the call number breaks ties (call order).
      auto first = st->pending.begin();
      for (auto it = st->pending.begin(); it != st->pending.end(); ++it)
        if (it->second.due < first->second.due) first = it;
      if (!st->stopping && first->second.due > steady::now()) {
        st->wake.wait_until(lk, first->second.due);
        continue;
      }
      state::pending_reply p = std::move(first->second);
      st->pending.erase(first);
      if (st->stopping) p.reply = make_error(llm_errc::cancelled, "scripted_client: destroyed with the reply pending");
      lk.unlock();
      deliver(std::move(p.reply), p.on_delta, p.done);
      lk.lock();
    }
  });
}

scripted_client::scripted_client(std::vector<llm_result> replies, scripted_options opts)
    : scripted_client(script{}, std::move(opts)) {
  std::lock_guard<std::mutex> g(state_->mu);
  state_->script_size = replies.size();
  for (auto& r : replies) state_->script.push_back(std::move(r));
}

scripted_client::~scripted_client() {
  {
    std::lock_guard<std::mutex> g(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (worker_.joinable()) worker_.join();
}

llm_response scripted_client::reply(std::string content) {
  llm_response r;
  r.content = std::move(content);
  r.finish_reason = "stop";
  return r;
}

llm_response scripted_client::tool_reply(std::string id, std::string name, std::string arguments) {
  llm_response r;
  r.tool_calls.push_back(tool_call{std::move(id), std::move(name), std::move(arguments)});
  r.finish_reason = "tool_calls";
  return r;
}

llm_error scripted_client::failure(llm_errc code, std::string message) { return make_error(code, std::move(message)); }

std::vector<llm_request> scripted_client::requests() const {
  std::lock_guard<std::mutex> g(state_->mu);
  return state_->requests;
}

std::size_t scripted_client::pending() const {
  std::lock_guard<std::mutex> g(state_->mu);
  return state_->pending.size();
}

llm_result scripted_client::next_reply(const llm_request& req) {
  if (decide_) {
    try {
      return decide_(req);
    } catch (const std::exception& e) {
      return make_error(llm_errc::invalid_request, std::string("scripted_client: the script threw: ") + e.what());
    }
  }
  std::lock_guard<std::mutex> g(state_->mu);
  if (state_->script.empty())
    return make_error(llm_errc::invalid_request,
                      "scripted_client: script exhausted after " + std::to_string(state_->script_size) + " replies");
  llm_result r = std::move(state_->script.front());
  state_->script.pop_front();
  return r;
}

call_handle scripted_client::start(llm_request req, callback done, const call_options& opts) {
  {
    std::lock_guard<std::mutex> g(state_->mu);
    state_->requests.push_back(req);
  }
  llm_result reply = next_reply(req);
  if (reply.ok()) complete_reply(*reply, req, reply->tokens.total() == 0);
  std::function<void(std::string_view)> on_delta = req.stream ? opts.on_delta : nullptr;

  std::unique_lock<std::mutex> lk(state_->mu);
  if (!opts_.async || state_->stopping) {
    lk.unlock();
    if (opts_.async)  // a callback of a cancelled call asked again while the client shuts down
      reply = make_error(llm_errc::cancelled, "scripted_client: destroyed with the reply pending");
    deliver(std::move(reply), on_delta, done);
    return {};
  }
  std::uint64_t id = state_->next_id++;
  state_->pending.emplace(id, state::pending_reply{steady::now() + opts_.delay, std::move(reply), std::move(done),
                                                   std::move(on_delta)});
  lk.unlock();
  state_->wake.notify_all();

  std::weak_ptr<state> weak = state_;
  auto cancel = [weak, id] {
    auto st = weak.lock();
    if (!st) return;
    {
      std::lock_guard<std::mutex> g(st->mu);
      auto it = st->pending.find(id);
      if (it == st->pending.end()) return;  // delivered already: nothing to cancel
      it->second.reply = make_error(llm_errc::cancelled, "scripted_client: call cancelled");
      it->second.due = steady::time_point::min();
    }
    st->wake.notify_all();
  };
  return call_handle(std::make_shared<scripted_control>(std::move(cancel)));
}

// --- recording_client -----------------------------------------------------------

struct recording_client::sink {
  struct closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  std::string path;
  mutable std::mutex mu;
  std::unique_ptr<std::FILE, closer> file;
  std::size_t lines = 0;
  bb::status status;

  void write(const llm_request& req, const llm_result& r) {
    json line = json::object();
    line["request"] = to_json(req);
    if (r.ok()) line["response"] = to_json(*r);
    else line["error"] = to_json(r.error());
    std::string text = dump_line(line) + "\n";
    std::lock_guard<std::mutex> g(mu);
    bool ok = std::fwrite(text.data(), 1, text.size(), file.get()) == text.size();
    ok = std::fflush(file.get()) == 0 && ok;
    if (ok) ++lines;
    else if (status.ok())
      status = bb::error{bb::errc::invalid_argument, "recording_client: cannot write to '" + path +
                                                         "': " + std::strerror(errno)};
  }
};

recording_client::recording_client(private_tag, std::shared_ptr<llm_client> inner, std::shared_ptr<sink> out)
    : llm_client(inner->prices()), inner_(std::move(inner)), out_(std::move(out)) {}

bb::result<std::shared_ptr<recording_client>> recording_client::open(std::shared_ptr<llm_client> inner,
                                                                     const std::string& path) {
  if (!inner)
    return bb::error{bb::errc::invalid_argument, "recording_client: no client to record (null) for '" + path + "'"};
  auto out = std::make_shared<sink>();
  out->path = path;
  out->file.reset(std::fopen(path.c_str(), "ab"));
  if (!out->file)
    return bb::error{bb::errc::invalid_argument,
                     "recording_client: cannot open '" + path + "' for appending: " + std::strerror(errno)};
  return std::make_shared<recording_client>(private_tag{}, std::move(inner), std::move(out));
}

std::size_t recording_client::lines_written() const {
  std::lock_guard<std::mutex> g(out_->mu);
  return out_->lines;
}

bb::status recording_client::write_status() const {
  std::lock_guard<std::mutex> g(out_->mu);
  return out_->status;
}

std::string recording_client::describe() const {
  return "recording to " + out_->path + " of: " + inner_->describe();
}

call_handle recording_client::start(llm_request req, callback done, const call_options& opts) {
  // The budget was reserved by this client's call(); the inner client must
  // not reserve it a second time.
  call_options inner_opts = opts;
  inner_opts.budget = nullptr;
  auto recorded = std::make_shared<llm_request>(req);
  auto out = out_;
  return inner_->call(
      std::move(req),
      [out, recorded, done = std::move(done)](llm_result r) {
        // A cancellation says nothing about the model's answer: replaying it
        // would fail a request that the recorded run simply stopped waiting for.
        if (r.ok() || r.error().code != llm_errc::cancelled) out->write(*recorded, r);
        done(std::move(r));
      },
      std::move(inner_opts));
}

// --- replay_client --------------------------------------------------------------

namespace {

/// What matching compares, the model aside (see the header).
json canonical(const llm_request& r) {
  json msgs = json::array();
  for (const auto& m : r.messages) msgs.push_back(to_json(m));
  json tools = json::array();
  for (const auto& t : r.tools) tools.push_back(to_json(t));
  return json{{"messages", std::move(msgs)},
              {"response_schema", r.response_schema ? *r.response_schema : json()},
              {"tools", std::move(tools)},
              {"tool_choice", r.tool_choice}};
}

std::string cut(std::string s, std::size_t max = 60) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 character
  return s.substr(0, n) + "...";
}

/// A piece of `s` around byte `at`, quoted, cut on UTF-8 character boundaries.
std::string around(const std::string& s, std::size_t at) {
  std::size_t from = at > 20 ? at - 20 : 0;
  while (from > 0 && (static_cast<unsigned char>(s[from]) & 0xC0) == 0x80) --from;
  std::size_t to = std::min(s.size(), at + 40);
  while (to < s.size() && (static_cast<unsigned char>(s[to]) & 0xC0) == 0x80) ++to;
  return std::string("\"") + (from > 0 ? "..." : "") + s.substr(from, to - from) + (to < s.size() ? "..." : "") + "\"";
}

std::string short_json(const json& j) { return cut(dump_line(j), 80); }

std::string tool_names(const std::vector<tool_def>& tools) {
  std::string s = "[";
  for (std::size_t i = 0; i < tools.size(); ++i) s += (i ? ", " : "") + tools[i].name;
  return s + "]";
}

/// The first difference between a recorded request and an asked one.
std::string first_difference(const llm_request& rec, const llm_request& asked) {
  if (!rec.model.empty() && rec.model != asked.model)
    return "model: recorded '" + rec.model + "', asked '" + asked.model + "'";
  std::size_t n = std::min(rec.messages.size(), asked.messages.size());
  for (std::size_t i = 0; i < n; ++i) {
    const message& a = rec.messages[i];
    const message& b = asked.messages[i];
    std::string at = "messages[" + std::to_string(i) + "]";
    if (a.role != b.role)
      return at + ".role: recorded " + to_string(a.role) + ", asked " + to_string(b.role);
    if (a.content != b.content) {
      std::size_t k = 0;
      while (k < a.content.size() && k < b.content.size() && a.content[k] == b.content[k]) ++k;
      return at + " (" + to_string(a.role) + ").content differs at byte " + std::to_string(k) + ": recorded " +
             around(a.content, k) + ", asked " + around(b.content, k);
    }
    if (!(a.tool_calls == b.tool_calls)) {
      json x = json::array(), y = json::array();
      for (const auto& c : a.tool_calls) x.push_back(to_json(c));
      for (const auto& c : b.tool_calls) y.push_back(to_json(c));
      return at + ".tool_calls: recorded " + short_json(x) + ", asked " + short_json(y);
    }
    if (a.tool_call_id != b.tool_call_id)
      return at + ".tool_call_id: recorded '" + a.tool_call_id + "', asked '" + b.tool_call_id + "'";
  }
  if (rec.messages.size() != asked.messages.size()) {
    const auto& longer = rec.messages.size() > asked.messages.size() ? rec.messages : asked.messages;
    return "recorded " + std::to_string(rec.messages.size()) + " messages, asked " +
           std::to_string(asked.messages.size()) + " (the first " + std::to_string(n) + " are equal; then " +
           to_string(longer[n].role) + " " + around(longer[n].content, 0) + ")";
  }
  json rs = rec.response_schema ? *rec.response_schema : json();
  json as = asked.response_schema ? *asked.response_schema : json();
  if (rs != as) return "response_schema: recorded " + short_json(rs) + ", asked " + short_json(as);
  if (canonical(rec).at("tools") != canonical(asked).at("tools"))
    return "tools: recorded " + tool_names(rec.tools) + ", asked " + tool_names(asked.tools) +
           (tool_names(rec.tools) == tool_names(asked.tools) ? " (their descriptions or parameters differ)" : "");
  if (rec.tool_choice != asked.tool_choice)
    return "tool_choice: recorded '" + rec.tool_choice + "', asked '" + asked.tool_choice + "'";
  return "none found";
}

}  // namespace

replay_client::replay_client(private_tag, std::string path, replay_options opts, std::vector<exchange> exchanges)
    : llm_client(opts.prices), path_(std::move(path)), opts_(std::move(opts)), exchanges_(std::move(exchanges)) {
  for (const auto& e : exchanges_)
    if (!e.request.model.empty()) {
      model_ = e.request.model;
      break;
    }
  if (model_.empty()) model_ = "replay";
}

bb::result<std::shared_ptr<replay_client>> replay_client::open(const std::string& path, replay_options opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return bb::error{bb::errc::invalid_argument,
                     "replay: cannot read '" + path + "': " + std::strerror(errno)};
  std::vector<exchange> exchanges;
  std::string text;
  std::size_t line_no = 0;
  auto bad = [&](const std::string& what) {
    return bb::error{bb::errc::invalid_argument, path + ":" + std::to_string(line_no) + ": " + what};
  };
  while (std::getline(in, text)) {
    ++line_no;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return bad("not JSON: " + cut(text));
    if (!j.is_object())
      return bad("expected an object {\"request\": ..., \"response\" or \"error\": ...}, got " + cut(text));
    auto req_it = j.find("request");
    if (req_it == j.end()) return bad("no \"request\"");
    bool has_response = j.contains("response"), has_error = j.contains("error");
    if (!has_response && !has_error) return bad("neither \"response\" nor \"error\"");
    if (has_response && has_error) return bad("both \"response\" and \"error\"; an exchange has one");
    exchange ex;
    ex.line = line_no;
    auto req = from_json<llm_request>(*req_it, "request");
    if (!req) return bad(req.error().message);
    ex.request = std::move(*req);
    if (has_response) {
      const json& rj = j.at("response");
      auto resp = from_json<llm_response>(rj, "response");
      if (!resp) return bad(resp.error().message);
      ex.response = std::move(*resp);
      ex.estimate_usage = !rj.contains("tokens") || rj.at("tokens").is_null();
    } else {
      auto err = from_json<llm_error>(j.at("error"), "error");
      if (!err) return bad(err.error().message);
      ex.error = std::move(*err);
    }
    ex.key = canonical(ex.request);
    exchanges.push_back(std::move(ex));
  }
  if (in.bad()) return bb::error{bb::errc::invalid_argument, "replay: error reading '" + path + "'"};
  if (exchanges.empty())
    return bb::error{bb::errc::invalid_argument, "replay: '" + path + "' holds no recorded exchange"};
  return std::make_shared<replay_client>(private_tag{}, path, std::move(opts), std::move(exchanges));
}

std::size_t replay_client::used() const {
  std::lock_guard<std::mutex> g(mu_);
  return static_cast<std::size_t>(
      std::count_if(exchanges_.begin(), exchanges_.end(), [](const exchange& e) { return e.used; }));
}

std::string replay_client::describe() const { return "replay of " + path_ + " (recorded replies, not a model)"; }

std::string replay_client::no_match_hint(const llm_request& req) const {
  // The nearest recording: most leading messages equal, then the model.
  std::size_t best = 0, best_score = 0;
  for (std::size_t i = 0; i < exchanges_.size(); ++i) {
    const llm_request& rec = exchanges_[i].request;
    std::size_t k = 0;
    while (k < rec.messages.size() && k < req.messages.size() && to_json(rec.messages[k]) == to_json(req.messages[k]))
      ++k;
    std::size_t score = 2 * k + (rec.model.empty() || rec.model == req.model ? 1 : 0);
    if (score > best_score) {
      best = i;
      best_score = score;
    }
  }
  const exchange& near = exchanges_[best];
  return "nearest is line " + std::to_string(near.line) + ", first difference: " +
         first_difference(near.request, req);
}

std::variant<std::size_t, llm_error> replay_client::pick(const llm_request& req, const json& key) {
  std::lock_guard<std::mutex> g(mu_);
  if (opts_.strict_order) {
    if (next_ >= exchanges_.size())
      return make_error(llm_errc::invalid_request, "replay: all " + std::to_string(exchanges_.size()) +
                                                       " recorded exchanges of " + path_ +
                                                       " were served (strict_order)");
    exchanges_[next_].used = true;
    return next_++;
  }
  std::optional<std::size_t> again;
  for (std::size_t i = 0; i < exchanges_.size(); ++i) {
    exchange& ex = exchanges_[i];
    if (!ex.request.model.empty() && ex.request.model != req.model) continue;
    if (ex.key != key) continue;
    if (!ex.used) {
      ex.used = true;
      return i;
    }
    again = i;  // the last used match, served again when no unused one is left
  }
  if (again) return *again;
  return make_error(llm_errc::invalid_request, "replay: no recorded exchange for this request (file " + path_ +
                                                   ", " + std::to_string(exchanges_.size()) + " exchanges); " +
                                                   no_match_hint(req));
}

call_handle replay_client::start(llm_request req, callback done, const call_options& opts) {
  auto t0 = steady::now();
  auto picked = pick(req, canonical(req));
  if (auto* e = std::get_if<llm_error>(&picked)) {
    done(std::move(*e));
    return {};
  }
  // Exchanges are never changed after open() but for `used`, so reading one
  // without the lock is safe.
  const exchange& ex = exchanges_[std::get<std::size_t>(picked)];
  if (ex.error) {
    done(*ex.error);
    return {};
  }
  llm_response r = *ex.response;
  complete_reply(r, req, ex.estimate_usage);
  r.cost_usd = 0;  // call() prices it with this client's table
  r.cost_known = false;
  r.latency = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
  deliver(std::move(r), req.stream ? opts.on_delta : nullptr, done);
  return {};
}

}  // namespace agora
