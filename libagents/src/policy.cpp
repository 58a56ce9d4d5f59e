// Policies are a small immutable expression tree: leaves test one thing on
// the run's state, `|` and `&` nodes combine their children's decisions.
#include "agora/agents/policy.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

namespace agora {

namespace {

std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string fmt_usd(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", v);
  return buf;
}

std::string fmt_ms(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + " ms";
  auto s = ms / 1000;
  if (s % 60 != 0 || s == 0) return std::to_string(s) + " s";
  return std::to_string(s / 60) + " min";
}

// Quoted and cut short: answers can be long texts.
std::string quote(const std::string& answer) {
  constexpr std::size_t max_len = 60;
  if (answer.size() <= max_len) return "'" + answer + "'";
  return "'" + answer.substr(0, max_len) + "...'";
}

decision stop_with(stop_kind k, std::string reason, std::optional<std::string> answer = {}) {
  decision d;
  d.stop = true;
  d.reason = std::move(reason);
  d.kinds.push_back(k);
  d.answer = std::move(answer);
  return d;
}

}  // namespace

// --- the tree -------------------------------------------------------------------

struct policy::node {
  virtual ~node() = default;
  virtual decision evaluate(const run_state& s) const = 0;
  virtual bool bounded() const noexcept = 0;
  virtual std::string describe() const = 0;
  virtual std::optional<std::chrono::milliseconds> time_limit() const { return std::nullopt; }
  virtual std::optional<std::uint64_t> token_limit() const { return std::nullopt; }
  virtual std::optional<double> cost_limit() const { return std::nullopt; }
};

namespace {

using node_ptr = std::shared_ptr<const policy::node>;

struct max_rounds_node final : policy::node {
  std::uint32_t n;
  explicit max_rounds_node(std::uint32_t x) : n(std::max<std::uint32_t>(x, 1)) {}
  decision evaluate(const run_state& s) const override {
    if (s.rounds_done() < n) return {};
    return stop_with(stop_kind::max_rounds,
                     "max_rounds: " + std::to_string(s.rounds_done()) + " of " + std::to_string(n) +
                         " rounds done");
  }
  bool bounded() const noexcept override { return true; }
  std::string describe() const override { return "max_rounds(" + std::to_string(n) + ")"; }
};

struct deadline_node final : policy::node {
  std::chrono::milliseconds d;
  explicit deadline_node(std::chrono::milliseconds x) : d(x) {}
  decision evaluate(const run_state& s) const override {
    if (s.elapsed < d) return {};
    return stop_with(stop_kind::deadline, "deadline: " + fmt_ms(s.elapsed) + " elapsed, limit " +
                                              fmt_ms(d) + " (after round " +
                                              std::to_string(s.rounds_done()) + ")");
  }
  bool bounded() const noexcept override { return true; }
  std::string describe() const override { return "deadline(" + fmt_ms(d) + ")"; }
  std::optional<std::chrono::milliseconds> time_limit() const override { return d; }
};

struct token_budget_node final : policy::node {
  std::uint64_t n;
  explicit token_budget_node(std::uint64_t x) : n(x) {}
  decision evaluate(const run_state& s) const override {
    if (s.tokens < n) return {};
    return stop_with(stop_kind::token_budget, "token_budget: " + std::to_string(s.tokens) +
                                                  " tokens used, budget " + std::to_string(n));
  }
  bool bounded() const noexcept override { return false; }
  std::string describe() const override { return "token_budget(" + std::to_string(n) + ")"; }
  std::optional<std::uint64_t> token_limit() const override { return n; }
};

struct cost_budget_node final : policy::node {
  double usd;
  explicit cost_budget_node(double x) : usd(x) {}
  decision evaluate(const run_state& s) const override {
    if (s.cost_usd < usd) return {};
    return stop_with(stop_kind::cost_budget,
                     "cost_budget: " + fmt_usd(s.cost_usd) + " spent, budget " + fmt_usd(usd));
  }
  bool bounded() const noexcept override { return false; }
  std::string describe() const override { return "cost_budget(" + fmt_double(usd) + ")"; }
  std::optional<double> cost_limit() const override { return usd; }
};

struct consensus_node final : policy::node {
  consensus_rule rule;
  explicit consensus_node(consensus_rule r) : rule(r) {}
  decision evaluate(const run_state& s) const override {
    const round_summary* r = s.last();
    if (!r || r->answers.empty() || r->expected == 0) return {};
    std::map<std::string, std::size_t> votes;
    for (const auto& [agent, answer] : r->answers) ++votes[answer];
    // The leader; on a tie, the smaller answer (a stable choice).
    auto top = votes.begin();
    std::size_t second = 0;
    for (auto it = votes.begin(); it != votes.end(); ++it) {
      if (it->second > top->second || (it->second == top->second && answer_less(it->first, top->first))) top = it;
    }
    for (auto it = votes.begin(); it != votes.end(); ++it)
      if (it != top) second = std::max(second, it->second);
    bool agreed = false;
    switch (rule.which()) {
      case consensus_rule::kind::plurality:
        agreed = top->second > second;
        break;
      case consensus_rule::kind::unanimity:
        agreed = votes.size() == 1 && top->second == r->expected;
        break;
      default:
        agreed = top->second >= rule.needed(r->expected);
        break;
    }
    if (!agreed) return {};
    return stop_with(stop_kind::consensus,
                     "consensus (" + rule.name() + "): " + std::to_string(top->second) + " of " +
                         std::to_string(r->expected) + " agree on " + quote(top->first) +
                         " after round " + std::to_string(r->number),
                     top->first);
  }
  bool bounded() const noexcept override { return false; }
  std::string describe() const override { return "consensus(" + rule.name() + ")"; }
};

struct quality_node final : policy::node {
  double t;
  explicit quality_node(double x) : t(x) {}
  decision evaluate(const run_state& s) const override {
    const round_summary* r = s.last();
    if (!r || !r->quality || *r->quality < t) return {};
    return stop_with(stop_kind::quality,
                     "quality_threshold: score " + fmt_double(*r->quality) + " >= " + fmt_double(t) +
                         " in round " + std::to_string(r->number),
                     r->aggregate);
  }
  bool bounded() const noexcept override { return false; }
  std::string describe() const override { return "quality_threshold(" + fmt_double(t) + ")"; }
};

struct quiescence_node final : policy::node {
  std::uint32_t k;
  explicit quiescence_node(std::uint32_t x) : k(std::max<std::uint32_t>(x, 1)) {}
  decision evaluate(const run_state& s) const override {
    if (s.rounds.size() < k) return {};
    for (auto it = s.rounds.rbegin(); it != s.rounds.rbegin() + k; ++it)
      if (it->new_contributions != 0) return {};
    return stop_with(stop_kind::quiescence, "quiescence: no new contribution in the last " +
                                                std::to_string(k) + " round(s), up to round " +
                                                std::to_string(s.rounds_done()));
  }
  bool bounded() const noexcept override { return false; }
  std::string describe() const override { return "quiescence(" + std::to_string(k) + ")"; }
};

struct stable_answer_node final : policy::node {
  std::uint32_t k;
  explicit stable_answer_node(std::uint32_t x) : k(std::max<std::uint32_t>(x, 1)) {}
  decision evaluate(const run_state& s) const override {
    if (s.rounds.size() < k) return {};
    const auto& last = s.rounds.back().aggregate;
    if (!last) return {};
    for (auto it = s.rounds.rbegin(); it != s.rounds.rbegin() + k; ++it)
      if (it->aggregate != last) return {};
    return stop_with(stop_kind::stable_answer,
                     "stable_answer: " + quote(*last) + " unchanged for " + std::to_string(k) +
                         " round(s), up to round " + std::to_string(s.rounds_done()),
                     last);
  }
  bool bounded() const noexcept override { return false; }
  std::string describe() const override { return "stable_answer(" + std::to_string(k) + ")"; }
};

// Merges two stopping decisions: reasons joined, kinds concatenated, the
// first settled answer kept.
decision merge(decision a, decision b, const char* joiner) {
  a.reason += joiner;
  a.reason += b.reason;
  a.kinds.insert(a.kinds.end(), b.kinds.begin(), b.kinds.end());
  if (!a.answer) a.answer = std::move(b.answer);
  return a;
}

// The smaller of two optional limits (either may be missing).
template <class T>
std::optional<T> smaller(std::optional<T> x, std::optional<T> y) {
  if (x && y) return std::min(*x, *y);
  return x ? x : y;
}

struct any_node final : policy::node {  // a | b
  node_ptr a, b;
  any_node(node_ptr x, node_ptr y) : a(std::move(x)), b(std::move(y)) {}
  decision evaluate(const run_state& s) const override {
    decision da = a->evaluate(s);
    decision db = b->evaluate(s);
    if (da.stop && db.stop) return merge(std::move(da), std::move(db), "; ");
    return da.stop ? da : db;
  }
  bool bounded() const noexcept override { return a->bounded() || b->bounded(); }
  std::optional<std::chrono::milliseconds> time_limit() const override {
    auto x = a->time_limit(), y = b->time_limit();
    if (x && y) return std::min(*x, *y);
    return x ? x : y;
  }
  std::optional<std::uint64_t> token_limit() const override { return smaller(a->token_limit(), b->token_limit()); }
  std::optional<double> cost_limit() const override { return smaller(a->cost_limit(), b->cost_limit()); }
  std::string describe() const override { return a->describe() + " | " + b->describe(); }
};

struct all_node final : policy::node {  // a & b
  node_ptr a, b;
  all_node(node_ptr x, node_ptr y) : a(std::move(x)), b(std::move(y)) {}
  decision evaluate(const run_state& s) const override {
    decision da = a->evaluate(s);
    if (!da.stop) return {};
    decision db = b->evaluate(s);
    if (!db.stop) return {};
    return merge(std::move(da), std::move(db), " and ");
  }
  bool bounded() const noexcept override { return a->bounded() && b->bounded(); }
  std::optional<std::chrono::milliseconds> time_limit() const override {
    auto x = a->time_limit(), y = b->time_limit();
    if (x && y) return std::max(*x, *y);
    return std::nullopt;
  }
  std::optional<std::uint64_t> token_limit() const override { return smaller(a->token_limit(), b->token_limit()); }
  std::optional<double> cost_limit() const override { return smaller(a->cost_limit(), b->cost_limit()); }
  std::string describe() const override {
    // `&` binds tighter than `|` in C++: parenthesize an `|` operand.
    auto wrap = [](const node_ptr& n) {
      auto text = n->describe();
      return dynamic_cast<const any_node*>(n.get()) ? "(" + text + ")" : text;
    };
    return wrap(a) + " & " + wrap(b);
  }
};

}  // namespace

// --- policy ----------------------------------------------------------------------

decision policy::evaluate(const run_state& state) const {
  if (!root_) return {};
  return root_->evaluate(state);
}

bool policy::bounded() const noexcept { return root_ && root_->bounded(); }

std::optional<std::chrono::milliseconds> policy::time_limit() const {
  return root_ ? root_->time_limit() : std::nullopt;
}

std::optional<std::uint64_t> policy::token_limit() const {
  return root_ ? root_->token_limit() : std::nullopt;
}

std::optional<double> policy::cost_limit() const { return root_ ? root_->cost_limit() : std::nullopt; }

std::string policy::describe() const { return root_ ? root_->describe() : "(none)"; }

bb::status policy::check_bounded(const std::string& run_id) const {
  if (!root_)
    return bb::error{bb::errc::invalid_argument,
                     "run '" + run_id +
                         "' has no stop policy and could loop forever: give it max_rounds(n) or "
                         "deadline(d), e.g. consensus(majority) | max_rounds(5)"};
  if (!root_->bounded())
    return bb::error{bb::errc::invalid_argument,
                     "run '" + run_id + "': stop policy '" + describe() +
                         "' may never stop (consensus, quality, quiescence, stable answers and "
                         "budgets are not guaranteed to happen): add '| max_rounds(n)' or "
                         "'| deadline(d)'"};
  return {};
}

policy operator|(const policy& a, const policy& b) {
  if (!a.root_) return b;
  if (!b.root_) return a;
  return policy(std::make_shared<any_node>(a.root_, b.root_));
}

policy operator&(const policy& a, const policy& b) {
  if (!a.root_) return b;
  if (!b.root_) return a;
  return policy(std::make_shared<all_node>(a.root_, b.root_));
}

policy max_rounds(std::uint32_t n) { return policy(std::make_shared<max_rounds_node>(n)); }
policy deadline(std::chrono::milliseconds d) { return policy(std::make_shared<deadline_node>(d)); }
policy token_budget(std::uint64_t n) { return policy(std::make_shared<token_budget_node>(n)); }
policy cost_budget(double usd) { return policy(std::make_shared<cost_budget_node>(usd)); }
policy consensus(consensus_rule rule) { return policy(std::make_shared<consensus_node>(rule)); }
policy quality_threshold(double t) { return policy(std::make_shared<quality_node>(t)); }
policy quiescence(std::uint32_t k) { return policy(std::make_shared<quiescence_node>(k)); }
policy stable_answer(std::uint32_t k) { return policy(std::make_shared<stable_answer_node>(k)); }

// --- consensus rules -------------------------------------------------------------

const consensus_rule majority = consensus_rule::make_majority();
const consensus_rule unanimity = consensus_rule::make_unanimity();
const consensus_rule plurality = consensus_rule::make_plurality();

bb::result<consensus_rule> consensus_rule::make_supermajority(double q) {
  if (!(q > 0.5 && q <= 1.0))
    return bb::error{bb::errc::invalid_argument,
                     "supermajority quota " + fmt_double(q) + " is outside (0.5, 1]"};
  return consensus_rule(kind::supermajority, q);
}

consensus_rule supermajority(double q) {
  auto r = consensus_rule::make_supermajority(q);
  assert(r.ok() && "supermajority quota outside (0.5, 1]");
  return r.ok() ? *r : consensus_rule::make_majority();
}

std::string consensus_rule::name() const {
  switch (kind_) {
    case kind::majority: return "majority";
    case kind::supermajority: {
      char buf[48];
      std::snprintf(buf, sizeof buf, "supermajority(%.2f)", quota_);
      return buf;
    }
    case kind::unanimity: return "unanimity";
    case kind::plurality: return "plurality";
  }
  return "?";
}

std::size_t consensus_rule::needed(std::size_t expected) const noexcept {
  switch (kind_) {
    case kind::majority: return expected / 2 + 1;
    case kind::supermajority: {
      // ceil(q × n), with a little slack so that 2/3 × 3 is 2, not 3.
      auto v = static_cast<std::size_t>(std::ceil(quota_ * static_cast<double>(expected) - 1e-9));
      return std::max<std::size_t>(v, 1);
    }
    case kind::unanimity: return expected;
    case kind::plurality: return 1;
  }
  return expected;
}

// --- decisions, names, fallback --------------------------------------------------

bool decision::has(stop_kind k) const noexcept {
  return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
}

const char* to_string(stop_kind k) noexcept {
  switch (k) {
    case stop_kind::none: return "none";
    case stop_kind::max_rounds: return "max_rounds";
    case stop_kind::deadline: return "deadline";
    case stop_kind::token_budget: return "token_budget";
    case stop_kind::cost_budget: return "cost_budget";
    case stop_kind::consensus: return "consensus";
    case stop_kind::quality: return "quality_threshold";
    case stop_kind::quiescence: return "quiescence";
    case stop_kind::stable_answer: return "stable_answer";
    case stop_kind::custom: return "custom";
  }
  return "unknown";
}

const char* to_string(fallback f) noexcept {
  switch (f) {
    case fallback::best_so_far: return "best_so_far";
    case fallback::last: return "last";
    case fallback::escalate: return "escalate";
  }
  return "unknown";
}

namespace {

// The whole text is one finite number (JSON's or strtod's syntax).
std::optional<double> as_number(const std::string& s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

struct custom_node final : policy::node {
  std::string name;
  std::function<decision(const run_state&)> fn;
  std::uint32_t bound;
  custom_node(std::string n, std::function<decision(const run_state&)> f, std::uint32_t b)
      : name(std::move(n)), fn(std::move(f)), bound(b) {}
  decision evaluate(const run_state& s) const override {
    decision d;
    try {
      d = fn(s);
    } catch (const std::exception& e) {
      return stop_with(stop_kind::custom, name + " failed: " + e.what());
    } catch (...) {
      return stop_with(stop_kind::custom, name + " failed: an exception that is not a std::exception");
    }
    if (d.stop) {
      if (d.kinds.empty()) d.kinds.push_back(stop_kind::custom);
      if (d.reason.empty()) d.reason = name + ": stopped after round " + std::to_string(s.rounds_done());
      return d;
    }
    if (bound > 0 && s.rounds_done() >= bound)
      return stop_with(stop_kind::custom, name + ": " + std::to_string(s.rounds_done()) + " of " +
                                              std::to_string(bound) + " rounds done");
    return {};
  }
  bool bounded() const noexcept override { return bound > 0; }
  std::string describe() const override {
    return bound > 0 ? name + "(bound " + std::to_string(bound) + ")" : name;
  }
};

}  // namespace

bool answer_less(const std::string& a, const std::string& b) {
  const auto x = as_number(a), y = as_number(b);
  if (x && y && *x != *y) return *x < *y;
  return a < b;
}

policy custom(std::string name, std::function<decision(const run_state&)> fn, std::uint32_t round_bound) {
  if (name.empty()) name = "custom";
  if (!fn) fn = [](const run_state&) { return decision{}; };
  return policy(std::make_shared<custom_node>(std::move(name), std::move(fn), round_bound));
}

std::optional<std::string> pick_fallback(fallback f, const run_state& state) {
  if (f == fallback::escalate) return std::nullopt;
  if (f == fallback::last) {
    for (auto it = state.rounds.rbegin(); it != state.rounds.rend(); ++it)
      if (it->aggregate) return it->aggregate;
    return std::nullopt;
  }
  // best_so_far: (quality, vote share) lexicographically; later rounds win ties.
  const round_summary* best = nullptr;
  auto share = [](const round_summary& r) {
    if (!r.aggregate || r.expected == 0) return 0.0;
    std::size_t n = 0;
    for (const auto& [agent, answer] : r.answers)
      if (answer == *r.aggregate) ++n;
    return static_cast<double>(n) / static_cast<double>(r.expected);
  };
  for (const auto& r : state.rounds) {
    if (!r.aggregate) continue;
    if (!best) {
      best = &r;
      continue;
    }
    double q = r.quality.value_or(-INFINITY), bq = best->quality.value_or(-INFINITY);
    if (q > bq || (q == bq && share(r) >= share(*best))) best = &r;
  }
  if (!best) return std::nullopt;
  return best->aggregate;
}

}  // namespace agora
