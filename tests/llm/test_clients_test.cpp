// scripted_client, recording_client and replay_client: replies that are not
// a model, recorded runs replayed offline, and the errors a user sees when a
// recording does not fit.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <unistd.h>

#include "agora/agents/llm_json.hpp"
#include "agora/agents/test_clients.hpp"

using namespace agora;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A file in the temp directory, removed at the end of the test.
struct temp_file {
  fs::path path;
  temp_file() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("agora_replay_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".jsonl");
    fs::remove(path);
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  std::string str() const { return path.string(); }
  void write(const std::string& text) const {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  std::vector<std::string> lines() const {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
};

llm_request ask(std::string text) {
  llm_request r;
  r.messages = {message::system("You are terse."), message::user(std::move(text))};
  return r;
}

/// Calls a client that answers inside call() and returns the result.
llm_result call_now(llm_client& c, llm_request req, call_options opts = {}) {
  std::optional<llm_result> got;
  (void)c.call(std::move(req), [&](llm_result r) { got.emplace(std::move(r)); }, std::move(opts));
  REQUIRE(got.has_value());
  return std::move(*got);
}

/// Waits (at most 10 s) for a callback from another thread.
struct waiter {
  std::promise<llm_result> p;
  std::future<llm_result> f = p.get_future();
  std::thread::id thread;
  std::atomic<int> calls{0};
  llm_client::callback cb() {
    return [this](llm_result r) {
      thread = std::this_thread::get_id();
      if (calls++ == 0) p.set_value(std::move(r));
    };
  }
  llm_result get() {
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  }
};

usage tokens(std::uint64_t p, std::uint64_t c, std::uint64_t cached = 0) {
  usage u;
  u.prompt = p;
  u.completion = c;
  u.cached = cached;
  return u;
}

}  // namespace

// --- scripted_client ------------------------------------------------------------

TEST_CASE("scripted_client serves its queue in order, then fails as exhausted", "[llm][test_clients]") {
  scripted_client c(std::vector<llm_result>{scripted_client::reply("one"),
                                            scripted_client::failure(llm_errc::server, "overloaded"),
                                            scripted_client::reply("three")});
  CHECK(c.describe() == "scripted test client (not a model)");
  auto r1 = call_now(c, ask("a"));
  REQUIRE(r1.ok());
  CHECK(r1->content == "one");
  CHECK(r1->model == "scripted");
  auto r2 = call_now(c, ask("b"));
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == llm_errc::server);
  CHECK(r2.error().message == "overloaded");
  CHECK(call_now(c, ask("c"))->content == "three");
  auto r4 = call_now(c, ask("d"));
  REQUIRE_FALSE(r4.ok());
  CHECK(r4.error().code == llm_errc::invalid_request);
  CHECK(r4.error().message == "scripted_client: script exhausted after 3 replies");

  auto seen = c.requests();
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].messages[1].content == "a");
  CHECK(seen[3].messages[1].content == "d");
  CHECK(seen[0].model == "scripted");  // call() filled in default_model()
  CHECK(c.totals().calls == 2);
  CHECK(c.totals().failures == 2);
}

TEST_CASE("scripted_client lets a function decide each reply and estimates missing usage", "[llm][test_clients]") {
  scripted_client c([](const llm_request& req) -> llm_result {
    if (req.messages.back().content == "reported") {
      llm_response r = scripted_client::reply("with usage");
      r.tokens = tokens(11, 3);
      return r;
    }
    return scripted_client::reply("echo: " + req.messages.back().content);
  });
  auto est = call_now(c, ask("twelve bytes"));
  REQUIRE(est.ok());
  CHECK(est->content == "echo: twelve bytes");
  CHECK_FALSE(est->usage_reported);
  llm_request asked = ask("twelve bytes");
  asked.model = "scripted";
  CHECK(est->tokens.prompt == estimate_prompt_tokens(asked));
  CHECK(est->tokens.completion == estimate_tokens("echo: twelve bytes"));

  auto rep = call_now(c, ask("reported"));
  REQUIRE(rep.ok());
  CHECK(rep->usage_reported);
  CHECK(rep->tokens == tokens(11, 3));
  CHECK(c.totals().tokens.prompt == est->tokens.prompt + 11);
}

TEST_CASE("scripted_client turns an exception of its script into an error", "[llm][test_clients]") {
  scripted_client c([](const llm_request&) -> llm_result { throw std::runtime_error("no such case"); });
  auto r = call_now(c, ask("x"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::invalid_request);
  CHECK_THAT(r.error().message, Catch::Contains("no such case"));
}

TEST_CASE("scripted_client async replies arrive on its own thread, streamed content as a delta",
          "[llm][test_clients]") {
  scripted_options o;
  o.async = true;
  o.delay = std::chrono::milliseconds(5);
  scripted_client c(std::vector<llm_result>{scripted_client::reply("streamed text")}, o);
  std::string deltas;
  std::thread::id delta_thread;
  call_options opts;
  opts.on_delta = [&](std::string_view d) {
    deltas += std::string(d);
    delta_thread = std::this_thread::get_id();
  };
  llm_request req = ask("go");
  req.stream = true;
  waiter w;
  (void)c.call(req, w.cb(), opts);
  auto r = w.get();
  REQUIRE(r.ok());
  CHECK(r->content == "streamed text");
  CHECK(deltas == "streamed text");
  CHECK(w.thread != std::this_thread::get_id());
  CHECK(delta_thread == w.thread);
  CHECK(c.pending() == 0);
}

TEST_CASE("scripted_client async replies come in call order when their delays are equal", "[llm][test_clients]") {
  scripted_options o;
  o.async = true;
  scripted_client c(std::vector<llm_result>{scripted_client::reply("1"), scripted_client::reply("2"),
                                            scripted_client::reply("3")},
                    o);
  std::mutex mu;
  std::vector<std::string> order;
  waiter last;
  auto last_cb = last.cb();
  for (int i = 0; i < 3; ++i)
    (void)c.call(ask(std::to_string(i)), [&, i](llm_result r) {
      {
        std::lock_guard<std::mutex> g(mu);
        order.push_back(r->content);
      }
      if (i == 2) last_cb(std::move(r));
    });
  (void)last.get();
  std::lock_guard<std::mutex> g(mu);
  CHECK(order == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("scripted_client cancel of a pending reply delivers cancelled once", "[llm][test_clients]") {
  scripted_options o;
  o.async = true;
  o.delay = std::chrono::hours(1);
  std::atomic<int> callbacks{0};
  {
    scripted_client c(std::vector<llm_result>{scripted_client::reply("never seen")}, o);
    waiter w;
    auto cb = w.cb();
    call_handle h = c.call(ask("x"), [&](llm_result r) {
      callbacks++;
      cb(std::move(r));
    });
    CHECK(c.pending() == 1);
    h.cancel();
    auto r = w.get();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == llm_errc::cancelled);
    CHECK(c.pending() == 0);
    h.cancel();  // already ended: nothing happens
    CHECK(c.totals().failures == 1);
  }  // the destructor joined the thread: no callback can come later
  CHECK(callbacks == 1);
}

TEST_CASE("scripted_client destructor cancels pending replies", "[llm][test_clients]") {
  scripted_options o;
  o.async = true;
  o.delay = std::chrono::hours(1);
  std::optional<llm_result> got;
  call_handle h;
  {
    scripted_client c(std::vector<llm_result>{scripted_client::reply("never seen")}, o);
    h = c.call(ask("x"), [&](llm_result r) { got.emplace(std::move(r)); });
  }
  REQUIRE(got.has_value());
  REQUIRE_FALSE(got->ok());
  CHECK(got->error().code == llm_errc::cancelled);
  h.cancel();  // the client is gone: a handle that outlives it does nothing
}

// --- recording_client and replay_client -----------------------------------------

TEST_CASE("recording_client records exchanges that replay_client serves back identically", "[llm][test_clients]") {
  temp_file file;
  llm_response answer = scripted_client::reply("Seven.");
  answer.id = "chatcmpl-1";
  answer.model = "gpt-4o-mini-2024-07-18";
  answer.tokens = tokens(120, 3, 100);
  llm_response tool = scripted_client::tool_reply("call_1", "weather", R"({"city":"Oslo"})");
  tool.tokens = tokens(80, 12);
  llm_response unreported = scripted_client::reply("no usage from this server");
  unreported.tokens = tokens(9, 7);
  unreported.usage_reported = false;
  llm_error limited = scripted_client::failure(llm_errc::rate_limited, "slow down");
  limited.http_status = 429;
  limited.retry_after = std::chrono::milliseconds(2500);

  scripted_options so;
  so.model = "gpt-4o-mini";
  auto inner = std::make_shared<scripted_client>(std::vector<llm_result>{answer, tool, unreported, limited}, so);
  auto rec = recording_client::open(inner, file.str());
  REQUIRE(rec.ok());
  CHECK_THAT((*rec)->describe(), Catch::StartsWith("recording to " + file.str() + " of: scripted test client"));
  CHECK((*rec)->default_model() == "gpt-4o-mini");

  llm_request q1 = ask("Name a prime.");
  llm_request q2 = ask("Weather in Oslo?");
  q2.tools = {tool_def{"weather", "Current weather", json{{"type", "object"}}}};
  q2.tool_choice = "auto";
  llm_request q3 = ask("Count.");
  q3.response_schema = json{{"type", "object"}};
  llm_request q4 = ask("Again!");

  std::vector<llm_result> live;
  for (const auto& q : {q1, q2, q3, q4}) live.push_back(call_now(**rec, q, {"recorder", nullptr, nullptr}));
  CHECK((*rec)->lines_written() == 4);
  CHECK((*rec)->write_status().ok());
  auto lines = file.lines();
  REQUIRE(lines.size() == 4);
  for (const auto& l : lines) {
    json j = json::parse(l);
    CHECK(j.contains("request"));
    CHECK(j.contains("response") != j.contains("error"));
  }
  CHECK(json::parse(lines[3]).at("error").at("code") == "rate_limited");

  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  replay_client& replay = **rep;
  CHECK(replay.size() == 4);
  CHECK(replay.describe() == "replay of " + file.str() + " (recorded replies, not a model)");
  CHECK(replay.default_model() == "gpt-4o-mini");

  std::vector<llm_result> played;
  for (const auto& q : {q1, q2, q3, q4}) played.push_back(call_now(replay, q));
  for (int i = 0; i < 3; ++i) {
    INFO("exchange " << i);
    REQUIRE(played[i].ok());
    CHECK(played[i]->content == live[i]->content);
    CHECK(played[i]->tool_calls == live[i]->tool_calls);
    CHECK(played[i]->tokens == live[i]->tokens);
    CHECK(played[i]->usage_reported == live[i]->usage_reported);
    CHECK(played[i]->model == live[i]->model);
    CHECK(played[i]->finish_reason == live[i]->finish_reason);
    CHECK(played[i]->id == live[i]->id);
    CHECK(played[i]->cost_usd == Approx(live[i]->cost_usd));
    CHECK(played[i]->cost_known == live[i]->cost_known);
  }
  CHECK(played[0]->cost_known);  // gpt-4o-mini* is in the default price table
  CHECK(played[0]->tokens.cached == 100);
  CHECK_FALSE(played[2]->usage_reported);
  REQUIRE_FALSE(played[3].ok());
  CHECK(played[3].error().code == llm_errc::rate_limited);
  CHECK(played[3].error().message == "slow down");
  CHECK(played[3].error().http_status == 429);
  REQUIRE(played[3].error().retry_after);
  CHECK(played[3].error().retry_after->count() == 2500);
  CHECK(replay.used() == 4);
  CHECK(replay.totals().tokens == (*rec)->totals().tokens);
}

TEST_CASE("recording_client appends whole lines when called from many threads", "[llm][test_clients]") {
  temp_file file;
  auto inner = std::make_shared<scripted_client>(
      [](const llm_request& req) -> llm_result { return scripted_client::reply(std::string(500, 'x') + req.messages[1].content); });
  auto rec = recording_client::open(inner, file.str());
  REQUIRE(rec.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) (void)call_now(**rec, ask("t" + std::to_string(t) + "-" + std::to_string(i)));
    });
  for (auto& th : threads) th.join();
  CHECK((*rec)->lines_written() == 200);
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  CHECK((*rep)->size() == 200);
  auto r = call_now(**rep, ask("t3-49"));
  REQUIRE(r.ok());
  CHECK(r->content == std::string(500, 'x') + "t3-49");
}

TEST_CASE("recording_client appends to an existing file and names a file it cannot open", "[llm][test_clients]") {
  temp_file file;
  auto inner = std::make_shared<scripted_client>(
      [](const llm_request&) -> llm_result { return scripted_client::reply("ok"); });
  for (int run = 0; run < 2; ++run) {
    auto rec = recording_client::open(inner, file.str());
    REQUIRE(rec.ok());
    (void)call_now(**rec, ask("run " + std::to_string(run)));
  }
  CHECK(file.lines().size() == 2);

  auto bad = recording_client::open(inner, "/nonexistent-dir/x.jsonl");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("/nonexistent-dir/x.jsonl"));
  auto null = recording_client::open(nullptr, file.str());
  REQUIRE_FALSE(null.ok());
}

TEST_CASE("recording_client does not record a cancelled call", "[llm][test_clients]") {
  temp_file file;
  scripted_options o;
  o.async = true;
  o.delay = std::chrono::hours(1);
  auto inner = std::make_shared<scripted_client>(std::vector<llm_result>{scripted_client::reply("late")}, o);
  auto rec = recording_client::open(inner, file.str());
  REQUIRE(rec.ok());
  waiter w;
  call_handle h = (*rec)->call(ask("x"), w.cb());
  h.cancel();
  auto r = w.get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::cancelled);
  CHECK((*rec)->lines_written() == 0);
  CHECK(file.lines().empty());
}

TEST_CASE("a budget refusal through call() sends nothing to the inner client and records nothing",
          "[llm][test_clients]") {
  temp_file file;
  auto inner = std::make_shared<scripted_client>(std::vector<llm_result>{scripted_client::reply("ok")});
  auto rec = recording_client::open(inner, file.str());
  REQUIRE(rec.ok());
  call_options opts;
  opts.budget = std::make_shared<budget>(10, std::nullopt);
  auto r = call_now(**rec, ask(std::string(400, 'a')), opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::budget_exhausted);
  CHECK(inner->requests().empty());
  CHECK((*rec)->lines_written() == 0);

  // Within budget, the inner client is called once and the budget is
  // settled once (not reserved a second time by the inner client).
  opts.budget = std::make_shared<budget>(1000, std::nullopt);
  auto ok = call_now(**rec, ask("short"), opts);
  REQUIRE(ok.ok());
  CHECK(inner->requests().size() == 1);
  CHECK(opts.budget->tokens_spent() == ok->tokens.total());
  CHECK(opts.budget->tokens_left() == 1000 - ok->tokens.total());

  // Replay: a refused call uses up no exchange.
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  call_options tiny;
  tiny.budget = std::make_shared<budget>(1, std::nullopt);
  auto refused = call_now(**rep, ask("short"), tiny);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == llm_errc::budget_exhausted);
  CHECK((*rep)->used() == 0);
  CHECK(call_now(**rep, ask("short"))->content == "ok");
}

// --- replay_client matching -----------------------------------------------------

namespace {

std::string line(const std::string& user, const std::string& reply, const std::string& model = "m") {
  json req{{"model", model}, {"messages", {{{"role", "user"}, {"content", user}}}}};
  return json{{"request", req}, {"response", {{"content", reply}, {"tokens", {{"prompt", 5}, {"completion", 2}}}}}}
             .dump() +
         "\n";
}

llm_request user_asks(const std::string& text) {
  llm_request r;
  r.messages = {message::user(text)};
  return r;
}

}  // namespace

TEST_CASE("replay_client matches by content, not by order", "[llm][test_clients]") {
  temp_file file;
  file.write(line("first question", "first answer") + line("second question", "second answer"));
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  CHECK(call_now(**rep, user_asks("second question"))->content == "second answer");
  CHECK(call_now(**rep, user_asks("first question"))->content == "first answer");
  CHECK((*rep)->used() == 2);
}

TEST_CASE("replay_client serves equal requests in file order, then repeats the last one", "[llm][test_clients]") {
  temp_file file;
  file.write(line("roll a die", "4") + line("other", "x") + line("roll a die", "2"));
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  CHECK(call_now(**rep, user_asks("roll a die"))->content == "4");
  CHECK(call_now(**rep, user_asks("roll a die"))->content == "2");
  CHECK(call_now(**rep, user_asks("roll a die"))->content == "2");
  CHECK((*rep)->used() == 2);
}

TEST_CASE("replay_client ignores sampling parameters, stream and an empty recorded model", "[llm][test_clients]") {
  temp_file file;
  file.write(line("hello", "hi there", "") + line("with model", "yes", "big-model"));
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  CHECK((*rep)->default_model() == "big-model");
  llm_request q = user_asks("hello");
  q.model = "anything";
  q.temperature = 1.5;
  q.seed = 7;
  q.max_tokens = 10;
  q.stop = {"x"};
  CHECK(call_now(**rep, q)->content == "hi there");

  llm_request wrong_model = user_asks("with model");
  wrong_model.model = "small-model";
  auto r = call_now(**rep, wrong_model);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("model: recorded 'big-model', asked 'small-model'"));
  CHECK(call_now(**rep, user_asks("with model"))->content == "yes");  // empty model = default_model()
}

TEST_CASE("replay_client compares tools, tool choice and response schema", "[llm][test_clients]") {
  temp_file file;
  llm_request with_tools = user_asks("q");
  with_tools.model = "m";
  with_tools.tools = {tool_def{"search", "", json{{"type", "object"}}}};
  with_tools.tool_choice = "required";
  llm_request with_schema = user_asks("q");
  with_schema.model = "m";
  with_schema.response_schema = json{{"type", "object"}};
  file.write(json{{"request", to_json(with_tools)}, {"response", {{"content", "tools"}}}}.dump() + "\n" +
             json{{"request", to_json(with_schema)}, {"response", {{"content", "{}"}}}}.dump() + "\n" +
             line("q", "plain"));
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  CHECK(call_now(**rep, with_schema)->content == "{}");
  CHECK(call_now(**rep, user_asks("q"))->content == "plain");
  CHECK(call_now(**rep, with_tools)->content == "tools");
  llm_request other_choice = with_tools;
  other_choice.tool_choice = "auto";
  auto r = call_now(**rep, other_choice);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("tool_choice: recorded 'required', asked 'auto'"));
}

TEST_CASE("replay_client strict_order serves the file in order whatever is asked", "[llm][test_clients]") {
  temp_file file;
  file.write(line("prompt at 10:00:01", "a") + line("prompt at 10:00:02", "b"));
  replay_options o;
  o.strict_order = true;
  auto rep = replay_client::open(file.str(), o);
  REQUIRE(rep.ok());
  CHECK(call_now(**rep, user_asks("prompt at 12:30:00"))->content == "a");
  CHECK(call_now(**rep, user_asks("something else"))->content == "b");
  auto r = call_now(**rep, user_asks("prompt at 12:30:02"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::invalid_request);
  CHECK_THAT(r.error().message, Catch::Contains("all 2 recorded exchanges of " + file.str() + " were served"));
}

TEST_CASE("replay_client without a matching exchange names the file and the first difference",
          "[llm][test_clients]") {
  temp_file file;
  file.write(line("Summarize the debate about cats.", "Cats won.") + line("unrelated", "x"));
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  auto r = call_now(**rep, user_asks("Summarize the debate about dogs."));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == llm_errc::invalid_request);
  const std::string& m = r.error().message;
  CHECK_THAT(m, Catch::StartsWith("replay: no recorded exchange for this request (file " + file.str() +
                                  ", 2 exchanges)"));
  CHECK_THAT(m, Catch::Contains("nearest is line 1"));
  CHECK_THAT(m, Catch::Contains("messages[0] (user).content differs at byte 27"));
  CHECK_THAT(m, Catch::Contains("about cats."));
  CHECK_THAT(m, Catch::Contains("about dogs."));

  llm_request longer = user_asks("unrelated");
  longer.messages.push_back(message::assistant("x"));
  longer.messages.push_back(message::user("and then?"));
  auto r2 = call_now(**rep, longer);
  REQUIRE_FALSE(r2.ok());
  CHECK_THAT(r2.error().message, Catch::Contains("nearest is line 2"));
  CHECK_THAT(r2.error().message, Catch::Contains("recorded 1 messages, asked 3"));
  CHECK((*rep)->used() == 0);
}

TEST_CASE("replay_client replays recorded errors and estimates usage a hand-written reply omits",
          "[llm][test_clients]") {
  temp_file file;
  file.write(
      "{\"request\": {\"messages\": [{\"role\": \"user\", \"content\": \"fail\"}]}, "
      "\"error\": {\"code\": \"context_overflow\", \"message\": \"too long\", \"http_status\": 400}}\n"
      "\n"
      "{\"request\": {\"messages\": [{\"role\": \"user\", \"content\": \"hand\"}]}, "
      "\"response\": {\"content\": \"written by hand\"}}\r\n");
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  CHECK((*rep)->size() == 2);
  CHECK((*rep)->default_model() == "replay");
  auto e = call_now(**rep, user_asks("fail"));
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == llm_errc::context_overflow);
  CHECK(e.error().message == "too long");
  CHECK(e.error().http_status == 400);
  auto h = call_now(**rep, user_asks("hand"));
  REQUIRE(h.ok());
  CHECK(h->content == "written by hand");
  CHECK_FALSE(h->usage_reported);
  CHECK(h->tokens.completion == estimate_tokens("written by hand"));
  CHECK(h->tokens.prompt > 0);
  CHECK(h->model == "replay");
}

TEST_CASE("replay_client hands streamed content to on_delta as one piece", "[llm][test_clients]") {
  temp_file file;
  file.write(line("stream me", "all of it"));
  auto rep = replay_client::open(file.str());
  REQUIRE(rep.ok());
  std::vector<std::string> deltas;
  call_options opts;
  opts.on_delta = [&](std::string_view d) { deltas.emplace_back(d); };
  llm_request q = user_asks("stream me");
  q.stream = true;
  CHECK(call_now(**rep, q, opts)->content == "all of it");
  CHECK(deltas == std::vector<std::string>{"all of it"});
}

TEST_CASE("replay_client open names the file and line of a bad line", "[llm][test_clients]") {
  struct bad_case {
    std::string second_line;
    std::string expected;
  };
  const bad_case cases[] = {
      {"{not json", ":2: not JSON: {not json"},
      {"[1]", ":2: expected an object"},
      {R"({"response": {"content": "x"}})", ":2: no \"request\""},
      {R"({"request": {"messages": []}})", ":2: neither \"response\" nor \"error\""},
      {R"({"request": {"messages": []}, "response": {}, "error": {"code": "server"}})", ":2: both"},
      {R"({"request": {"messages": [{"role": "bot"}]}, "response": {}})",
       ":2: request.messages[0].role: expected one of system, user, assistant, tool"},
      {R"({"request": {"messages": []}, "response": {"tokens": {"prompt": "many"}}})",
       ":2: response.tokens.prompt: expected a non-negative integer"},
      {R"({"request": {"messages": []}, "error": {"code": "oops"}})", ":2: error.code: not an error code"},
  };
  for (const auto& c : cases) {
    INFO(c.second_line);
    temp_file file;
    file.write(line("fine", "ok") + c.second_line + "\n");
    auto rep = replay_client::open(file.str());
    REQUIRE_FALSE(rep.ok());
    CHECK(rep.error().code == bb::errc::invalid_argument);
    CHECK_THAT(rep.error().message, Catch::StartsWith(file.str() + c.expected));
  }

  auto missing = replay_client::open("/nonexistent-dir/run.jsonl");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("cannot read '/nonexistent-dir/run.jsonl'"));

  temp_file empty;
  empty.write("\n\n");
  auto none = replay_client::open(empty.str());
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Contains("holds no recorded exchange"));
}
