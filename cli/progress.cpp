// The progress line of `agora run` (progress.hpp).
#include "progress.hpp"

#include <cstdio>

#include "agora/blackboard/blackboard.hpp"

namespace agora::cli {

namespace {

std::string thousands(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::uint32_t to_round(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<std::uint32_t>(std::stoul(s));
}

}  // namespace

std::string format_progress(const progress_state& s) {
  char cost[32], secs[32];
  std::snprintf(cost, sizeof cost, "$%.4f", s.cost_usd);
  std::snprintf(secs, sizeof secs, "%.1f s", static_cast<double>(s.elapsed.count()) / 1000.0);
  std::string answered = std::to_string(s.answered);
  if (s.expected) answered += "/" + std::to_string(s.expected);
  return "round " + std::to_string(s.round) + " \u00b7 " + answered + " answered \u00b7 " + thousands(s.tokens) +
         " tokens \u00b7 " + cost + " \u00b7 " + secs;
}

progress_tracker::progress_tracker(const std::string& run_id, std::size_t expected)
    : prefix_("runs/" + run_id + "/"), expected_(expected) {}

void progress_tracker::observe(const bb::txn_record& t) {
  for (const auto& c : t.changes) {
    const std::string& key = c.after.key();
    if (key.compare(0, prefix_.size(), prefix_) != 0) continue;
    std::string rest = key.substr(prefix_.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    std::string kind = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
    auto slash2 = rest.find('/');
    std::uint32_t r = to_round(rest.substr(0, slash2));
    if (r == 0) continue;
    const bool exists = c.after.exists();
    if (kind == "answers" && slash2 != std::string::npos) {
      if (exists) answers_[r].insert(rest.substr(slash2 + 1));
      if (r > round_) round_ = r;
    } else if (kind == "usage" && exists) {
      const auto& v = c.after.value();
      std::uint64_t tokens = 0;
      double cost = 0;
      if (auto it = v.find("tokens"); it != v.end() && it->is_number_integer() && it->get<std::int64_t>() > 0)
        tokens = it->get<std::uint64_t>();
      if (auto it = v.find("cost_usd"); it != v.end() && it->is_number()) cost = it->get<double>();
      usage_[key] = {tokens, cost};
    } else if (kind == "round" && exists) {
      const auto& v = c.after.value();
      if (auto tot = v.find("totals"); tot != v.end() && tot->is_object()) {
        if (auto it = tot->find("tokens"); it != tot->end() && it->is_number_integer() && it->get<std::int64_t>() > 0)
          closed_tokens_ = std::max(closed_tokens_, it->get<std::uint64_t>());
        if (auto it = tot->find("cost_usd"); it != tot->end() && it->is_number())
          closed_cost_ = std::max(closed_cost_, it->get<double>());
      }
    }
  }
}

progress_state progress_tracker::state(std::chrono::milliseconds elapsed) const {
  progress_state s;
  s.round = round_;
  s.expected = expected_;
  if (auto it = answers_.find(round_); it != answers_.end()) s.answered = it->second.size();
  std::uint64_t tokens = 0;
  double cost = 0;
  for (const auto& [k, u] : usage_) {
    tokens += u.first;
    cost += u.second;
  }
  s.tokens = std::max(tokens, closed_tokens_);
  s.cost_usd = std::max(cost, closed_cost_);
  s.elapsed = elapsed;
  return s;
}

std::unique_ptr<progress_line> progress_line::start(std::shared_ptr<bb::blackboard> board, const std::string& run_id,
                                                    std::size_t expected, std::ostream& out, bool enabled) {
  std::unique_ptr<progress_line> line(new progress_line());
  if (!enabled || !board) return line;
  auto w = board->watch("runs/" + run_id, 0);
  if (!w) return line;  // no progress is not worth failing a run for
  auto shared_watch = std::make_shared<bb::watch>(std::move(*w));
  progress_line* self = line.get();
  line->thread_ = std::thread([self, shared_watch, run_id, expected, &out] {
    progress_tracker tracker(run_id, expected);
    const auto started = std::chrono::steady_clock::now();
    std::string last;
    while (!self->stop_.load()) {
      auto r = shared_watch->next(std::chrono::milliseconds(200));
      if (!r) break;
      if (*r) tracker.observe(**r);
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      std::string text = format_progress(tracker.state(elapsed));
      if (text != last) {
        out << "\r\033[K" << text << std::flush;
        last = text;
      }
    }
    if (!last.empty()) out << "\r\033[K" << std::flush;
  });
  return line;
}

void progress_line::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

progress_line::~progress_line() { stop(); }

}  // namespace agora::cli
