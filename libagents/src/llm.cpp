#include "agora/agents/llm.hpp"

#include <cmath>
#include <limits>
#include <sstream>

namespace agora {

const char* to_string(role r) noexcept {
  switch (r) {
    case role::system: return "system";
    case role::user: return "user";
    case role::assistant: return "assistant";
    case role::tool: return "tool";
  }
  return "unknown";
}

// --- budget ---------------------------------------------------------------------

std::uint64_t budget::tokens_spent() const {
  std::lock_guard<std::mutex> g(mu_);
  return tokens_spent_;
}

double budget::usd_spent() const {
  std::lock_guard<std::mutex> g(mu_);
  return usd_spent_;
}

std::uint64_t budget::tokens_left() const {
  std::lock_guard<std::mutex> g(mu_);
  if (!max_tokens_) return std::numeric_limits<std::uint64_t>::max();
  std::uint64_t used = tokens_spent_ + tokens_reserved_;
  return used >= *max_tokens_ ? 0 : *max_tokens_ - used;
}

double budget::usd_left() const {
  std::lock_guard<std::mutex> g(mu_);
  if (!max_usd_) return std::numeric_limits<double>::infinity();
  double left = *max_usd_ - usd_spent_ - usd_reserved_;
  return left > 0 ? left : 0;
}

namespace {
std::string fmt_usd(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return "$" + os.str();
}
}  // namespace

std::variant<budget::ticket, llm_error> budget::reserve(std::uint64_t tokens, double usd) {
  std::lock_guard<std::mutex> g(mu_);
  if (max_tokens_ && tokens_spent_ + tokens_reserved_ + tokens > *max_tokens_) {
    llm_error e;
    e.code = llm_errc::budget_exhausted;
    e.message = "token budget " + std::to_string(*max_tokens_) + ": " + std::to_string(tokens_spent_) +
                " spent and " + std::to_string(tokens_reserved_) + " reserved by calls in flight; this call needs up to " +
                std::to_string(tokens);
    return e;
  }
  if (max_usd_ && usd_spent_ + usd_reserved_ + usd > *max_usd_ + 1e-12) {
    llm_error e;
    e.code = llm_errc::budget_exhausted;
    e.message = "cost budget " + fmt_usd(*max_usd_) + ": " + fmt_usd(usd_spent_) + " spent and " +
                fmt_usd(usd_reserved_) + " reserved by calls in flight; this call may cost up to " + fmt_usd(usd);
    return e;
  }
  tokens_reserved_ += tokens;
  usd_reserved_ += usd;
  return ticket{tokens, usd};
}

void budget::settle(const ticket& t, std::uint64_t tokens, double usd) {
  std::lock_guard<std::mutex> g(mu_);
  tokens_reserved_ -= std::min(tokens_reserved_, t.tokens);
  usd_reserved_ -= std::min(usd_reserved_, t.usd);
  tokens_spent_ += tokens;
  usd_spent_ += usd;
}

// --- estimates ------------------------------------------------------------------

std::uint64_t estimate_tokens(std::string_view text) noexcept { return (text.size() + 3) / 4; }

std::uint64_t estimate_prompt_tokens(const llm_request& req) {
  std::uint64_t n = 0;
  for (const auto& m : req.messages) {
    n += 4 + estimate_tokens(m.content);  // a few tokens of framing per message
    for (const auto& c : m.tool_calls) n += estimate_tokens(c.name) + estimate_tokens(c.arguments);
  }
  for (const auto& t : req.tools)
    n += estimate_tokens(t.name) + estimate_tokens(t.description) + estimate_tokens(t.parameters.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (req.response_schema) n += estimate_tokens(req.response_schema->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return n;
}

// --- llm_client -----------------------------------------------------------------

namespace {

/// The price of `tokens` prompt and `completion` tokens on `model`; 0 with
/// known = false when the table has none.
double price_of(const price_table& prices, const std::string& model, std::uint64_t prompt,
                std::uint64_t completion, bool& known) {
  usage u;
  u.prompt = prompt;
  u.completion = completion;
  auto c = prices.cost(model, u);
  known = c.ok();
  return c.ok() ? *c : 0.0;
}

}  // namespace

call_handle llm_client::call(llm_request req, callback done, call_options opts) {
  if (req.model.empty()) req.model = default_model();
  std::string agent = opts.agent;
  auto fail_now = [&](llm_error e) {
    {
      std::lock_guard<std::mutex> g(stats_mu_);
      by_agent_[agent].failures++;
    }
    done(std::move(e));
    return call_handle{};
  };

  std::shared_ptr<budget> b = opts.budget;
  budget::ticket ticket;
  if (b) {
    std::uint64_t prompt = estimate_prompt_tokens(req);
    std::uint64_t left = b->tokens_left();
    if (b->max_tokens()) {
      // Cap generation to what is left after the prompt; a call that cannot
      // even send its prompt is refused below.
      std::uint64_t room = left > prompt ? left - prompt : 0;
      if (room == 0) {
        llm_error e;
        e.code = llm_errc::budget_exhausted;
        e.message = "token budget " + std::to_string(*b->max_tokens()) + ": " + std::to_string(left) +
                    " tokens left, the prompt alone needs about " + std::to_string(prompt);
        return fail_now(std::move(e));
      }
      if (!req.max_tokens || *req.max_tokens > room)
        req.max_tokens = static_cast<std::uint32_t>(std::min<std::uint64_t>(room, 0xffffffffu));
    }
    std::uint64_t completion = req.max_tokens ? *req.max_tokens : 0;
    double usd = 0;
    if (b->max_usd()) {
      bool known = false;
      usd = price_of(prices_, req.model, prompt, completion, known);
      if (!known) {
        llm_error e;
        e.code = llm_errc::budget_exhausted;
        e.message = "cost budget: the price table has no price for model '" + req.model +
                    "', so the call's cost cannot be bounded (price_table::set it, or use a token budget)";
        return fail_now(std::move(e));
      }
      if (!req.max_tokens) {
        // No token limit and no token budget: the completion is unbounded,
        // and so is the cost. Bound it by what the money left buys.
        usd = b->usd_left();
      }
    }
    auto r = b->reserve(prompt + completion, usd);
    if (auto* e = std::get_if<llm_error>(&r)) return fail_now(std::move(*e));
    ticket = std::get<budget::ticket>(r);
  }

  auto wrapped = [this, agent, b, ticket, model = req.model, done = std::move(done)](llm_result r) mutable {
    if (r) {
      // Price by the model that answered (servers name the dated version),
      // else by the model asked for.
      auto c = prices_.cost(r->model, r->tokens);
      if (!c.ok()) c = prices_.cost(model, r->tokens);
      bool known = c.ok();
      r->cost_usd = known ? *c : 0.0;
      r->cost_known = known;
      if (b) b->settle(ticket, r->tokens.total(), r->cost_usd);
      std::lock_guard<std::mutex> g(stats_mu_);
      auto& t = by_agent_[agent];
      t.calls++;
      t.tokens += r->tokens;
      t.cost_usd += r->cost_usd;
    } else {
      if (b) b->release(ticket);
      std::lock_guard<std::mutex> g(stats_mu_);
      by_agent_[agent].failures++;
    }
    done(std::move(r));
  };
  return start(std::move(req), std::move(wrapped), opts);
}

std::map<std::string, usage_totals> llm_client::usage_by_agent() const {
  std::lock_guard<std::mutex> g(stats_mu_);
  return by_agent_;
}

usage_totals llm_client::totals() const {
  std::lock_guard<std::mutex> g(stats_mu_);
  usage_totals all;
  for (const auto& [_, t] : by_agent_) {
    all.calls += t.calls;
    all.failures += t.failures;
    all.tokens += t.tokens;
    all.cost_usd += t.cost_usd;
  }
  return all;
}

}  // namespace agora
