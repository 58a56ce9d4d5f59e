// budget and llm_client::call: reservations, refusals before sending,
// cost from the price table, attribution per agent.
#include <catch2/catch.hpp>

#include <thread>

#include "agora/agents/llm.hpp"

using namespace agora;

namespace {

/// Answers every call at once with a fixed usage; records what it was sent.
/// A test double of the client interface, not a model.
class fixed_client final : public llm_client {
 public:
  explicit fixed_client(usage u, price_table p = price_table::defaults())
      : llm_client(std::move(p)), u_(u) {}
  std::string describe() const override { return "fixed test client (not a model)"; }
  std::string default_model() const override { return "gpt-4o-mini"; }
  std::vector<llm_request> sent;
  bool fail = false;

 protected:
  call_handle start(llm_request req, callback done, const call_options&) override {
    sent.push_back(req);
    if (fail) {
      llm_error e;
      e.code = llm_errc::server;
      e.message = "boom";
      done(e);
      return {};
    }
    llm_response r;
    r.model = req.model;
    r.content = "ok";
    r.tokens = u_;
    done(r);
    return {};
  }

 private:
  usage u_;
};

usage tokens(std::uint64_t p, std::uint64_t c) {
  usage u;
  u.prompt = p;
  u.completion = c;
  return u;
}

llm_request ask(std::string text, std::optional<std::uint32_t> max_tokens = std::nullopt) {
  llm_request r;
  r.messages = {message::user(std::move(text))};
  r.max_tokens = max_tokens;
  return r;
}

}  // namespace

TEST_CASE("budget reserves, settles and refuses what does not fit", "[llm][budget]") {
  budget b(100, std::nullopt);
  auto t1 = b.reserve(60, 0);
  REQUIRE(std::holds_alternative<budget::ticket>(t1));
  CHECK(b.tokens_left() == 40);
  auto t2 = b.reserve(50, 0);
  REQUIRE(std::holds_alternative<llm_error>(t2));
  const auto& e = std::get<llm_error>(t2);
  CHECK(e.code == llm_errc::budget_exhausted);
  CHECK(e.message.find("token budget 100") != std::string::npos);
  CHECK_FALSE(e.retryable());
  b.settle(std::get<budget::ticket>(t1), 30, 0);  // spent less than reserved
  CHECK(b.tokens_spent() == 30);
  CHECK(b.tokens_left() == 70);
  CHECK(std::holds_alternative<budget::ticket>(b.reserve(70, 0)));
  CHECK(b.tokens_left() == 0);
}

TEST_CASE("concurrent reservations never overrun the limit", "[llm][budget]") {
  budget b(1000, std::nullopt);
  std::atomic<int> granted{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 1000; ++k)
        if (std::holds_alternative<budget::ticket>(b.reserve(7, 0))) granted++;
    });
  for (auto& t : ts) t.join();
  CHECK(granted.load() == 1000 / 7);
  CHECK(b.tokens_left() == 1000 % 7);
}

TEST_CASE("a client call is priced and attributed to its agent", "[llm][client]") {
  fixed_client c(tokens(1000, 500));
  std::optional<llm_result> got;
  c.call(ask("hi"), [&](llm_result r) { got = std::move(r); }, {"critic-1", nullptr, nullptr});
  c.call(ask("hi"), [&](llm_result) {}, {"critic-2", nullptr, nullptr});
  c.call(ask("hi"), [&](llm_result) {}, {"critic-1", nullptr, nullptr});
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK((*got)->cost_known);
  auto price = *price_table::defaults().find("gpt-4o-mini");
  double expect = (1000 * price.prompt_per_mtok + 500 * price.completion_per_mtok) / 1e6;
  CHECK((*got)->cost_usd == Approx(expect));
  CHECK(c.sent.at(0).model == "gpt-4o-mini");  // the default model filled in
  auto by = c.usage_by_agent();
  CHECK(by.at("critic-1").calls == 2);
  CHECK(by.at("critic-1").tokens.total() == 3000);
  CHECK(by.at("critic-2").calls == 1);
  CHECK(c.totals().cost_usd == Approx(3 * expect));
}

TEST_CASE("an unknown model's cost is marked unknown, not zero-and-fine", "[llm][client]") {
  fixed_client c(tokens(10, 10));
  llm_request r = ask("hi");
  r.model = "my-local-model";
  std::optional<llm_result> got;
  c.call(r, [&](llm_result x) { got = std::move(x); });
  REQUIRE(got->ok());
  CHECK_FALSE((*got)->cost_known);
  CHECK((*got)->cost_usd == 0);
}

TEST_CASE("a token budget caps max_tokens, charges real usage and then refuses before sending",
          "[llm][client][budget]") {
  fixed_client c(tokens(20, 30));
  auto b = std::make_shared<budget>(120, std::nullopt);
  call_options o{"a", b, nullptr};
  std::vector<llm_result> got;
  auto keep = [&](llm_result r) { got.push_back(std::move(r)); };
  c.call(ask("short question"), keep, o);  // no max_tokens: capped to what is left
  REQUIRE(c.sent.size() == 1);
  REQUIRE(c.sent[0].max_tokens);
  CHECK(*c.sent[0].max_tokens < 120);
  CHECK(b->tokens_spent() == 50);  // real usage, not the reservation
  c.call(ask("short question", 1000), keep, o);
  REQUIRE(c.sent.size() == 2);
  CHECK(*c.sent[1].max_tokens <= 70);  // 1000 asked, capped to the room left
  CHECK(b->tokens_spent() == 100);
  // 20 tokens left: the prompt alone (about 8) fits, so one more small call
  // is admitted with a tiny cap; after it nothing is.
  c.call(ask("short question"), keep, o);
  c.call(ask("short question"), keep, o);
  CHECK(c.sent.size() == 3);
  REQUIRE(got.size() == 4);
  CHECK(got[2].ok());
  REQUIRE_FALSE(got[3].ok());
  CHECK(got[3].error().code == llm_errc::budget_exhausted);
  CHECK(c.usage_by_agent().at("a").failures == 1);
}

TEST_CASE("a cost budget refuses a model without a price and stops when the money is spent",
          "[llm][client][budget]") {
  price_table p;
  p.set("priced", {1e6, 1e6, std::nullopt});  // $1 a token, easy arithmetic
  fixed_client c(tokens(2, 3), p);
  auto b = std::make_shared<budget>(std::nullopt, 12.0);
  std::vector<llm_result> got;
  auto keep = [&](llm_result r) { got.push_back(std::move(r)); };
  llm_request unpriced = ask("x", 3);
  unpriced.model = "unpriced";
  c.call(unpriced, keep, {"a", b, nullptr});
  REQUIRE_FALSE(got.back().ok());
  CHECK(got.back().error().code == llm_errc::budget_exhausted);
  CHECK(got.back().error().message.find("'unpriced'") != std::string::npos);
  CHECK(c.sent.empty());  // refused before sending

  llm_request priced = ask("x", 3);  // reserves about 5 prompt + 3 completion = $8
  priced.model = "priced";
  c.call(priced, keep, {"a", b, nullptr});
  REQUIRE(got.back().ok());
  CHECK(b->usd_spent() == Approx(5.0));  // real: 2 + 3 tokens
  c.call(priced, keep, {"a", b, nullptr});  // needs up to $8, $7 left
  REQUIRE_FALSE(got.back().ok());
  CHECK(got.back().error().code == llm_errc::budget_exhausted);
  CHECK(c.sent.size() == 1);
}

TEST_CASE("a failed call gives its reservation back", "[llm][client][budget]") {
  fixed_client c(tokens(1, 1));
  c.fail = true;
  auto b = std::make_shared<budget>(100, std::nullopt);
  std::optional<llm_result> got;
  c.call(ask("x", 10), [&](llm_result r) { got = std::move(r); }, {"a", b, nullptr});
  REQUIRE_FALSE(got->ok());
  CHECK(b->tokens_left() == 100);
  CHECK(b->tokens_spent() == 0);
}
