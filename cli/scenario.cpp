// Scenario files: parsing with line-located errors, --set overrides, the
// checker (which cli/scenario.schema.json mirrors) and the agents' logic.
// See scenario.hpp and docs/scenarios.md.
#include "scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "agora/agents/debate.hpp"
#include "agora/agents/http_client.hpp"
#include "agora/agents/llm_agent.hpp"
#include "agora/agents/policy.hpp"
#include "agora/agents/test_clients.hpp"
#include "agora/blackboard/scratchpad.hpp"
#include "process.hpp"

namespace agora::cli {

namespace fs = std::filesystem;

// --- The enums ------------------------------------------------------------------

const std::vector<std::string>& scenario_patterns() {
  static const std::vector<std::string> v{"debate", "swarm", "evaluator_loop"};
  return v;
}
const std::vector<std::string>& scenario_agent_kinds() {
  static const std::vector<std::string> v{"llm", "tool", "scripted"};
  return v;
}
const std::vector<std::string>& scenario_agent_parts() {
  static const std::vector<std::string> v{"debater",     "judge",     "contributor",
                                          "synthesizer", "generator", "evaluator"};
  return v;
}
const std::vector<std::string>& scenario_fallbacks() {
  static const std::vector<std::string> v{"best_so_far", "last", "escalate"};
  return v;
}
const std::vector<std::string>& scenario_stop_kinds() {
  static const std::vector<std::string> v{"any",         "all",          "max_rounds",
                                          "consensus",   "deadline_s",   "token_budget",
                                          "cost_budget", "quality_threshold", "quiescence",
                                          "stable_answer"};
  return v;
}
const std::vector<std::string>& scenario_swarm_orders() {
  static const std::vector<std::string> v{"round_robin", "parallel_then_merge", "iterative"};
  return v;
}
const std::vector<std::string>& scenario_swarm_merges() {
  static const std::vector<std::string> v{"collect", "list", "concat"};
  return v;
}

namespace {

const std::vector<std::string> top_keys{"$schema", "name",  "description", "pattern", "input",
                                        "agents",  "endpoints", "stop",    "fallback", "round",
                                        "vote_field", "swarm", "evaluator_loop"};
const std::vector<std::string> agent_keys{
    "id",     "kind",   "role",        "part",          "on",        "description",
    "endpoint", "replay", "model",     "prompt",        "system",    "output_schema",
    "max_tokens", "temperature", "seed", "max_repairs", "reads",     "command",
    "timeout_s", "cwd",  "env",        "replies"};
const std::vector<std::string> llm_only{"endpoint",    "replay", "model", "prompt", "system",
                                        "output_schema", "max_tokens", "temperature", "seed",
                                        "max_repairs", "reads"};
const std::vector<std::string> tool_only{"command", "timeout_s", "cwd", "env"};
const std::vector<std::string> scripted_only{"replies"};
const std::vector<std::string> round_keys{"quorum", "timeout_s", "late_grace_s"};
const std::vector<std::string> swarm_keys{"order", "blind_first", "merge"};
const std::vector<std::string> loop_keys{"combine"};
const std::vector<std::string> consensus_names{"majority", "unanimity", "plurality"};

constexpr std::size_t max_policy_depth = 32;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string quoted_list(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += "\"" + v[i] + "\"";
  }
  return out;
}

std::string safe_dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// "a string", "\"lmm\"", "an object", "3".
std::string describe_value(const json& j) {
  switch (j.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::null: return "null";
    case json::value_t::string: {
      std::string s = safe_dump(j);
      if (s.size() > 48) s.replace(44, std::string::npos, "...\"");
      return s;
    }
    default: return safe_dump(j);
  }
}

std::string escape_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string unescape_token(const std::string& t) {
  std::string out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '~' && i + 1 < t.size() && (t[i + 1] == '0' || t[i + 1] == '1')) {
      out += t[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += t[i];
    }
  }
  return out;
}

std::string child(const std::string& ptr, const std::string& key) { return ptr + "/" + escape_token(key); }
std::string child(const std::string& ptr, std::size_t i) { return ptr + "/" + std::to_string(i); }

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// The closest of `options` to `word`, when it is close enough to be a typo.
std::string suggest(const std::string& word, const std::vector<std::string>& options) {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (const auto& o : options) {
    std::size_t d = edit_distance(word, o);
    if (d < best_d) {
      best_d = d;
      best = o;
    }
  }
  const std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3 + 1));
  return best_d <= limit ? best : std::string();
}

// --- Where values are in the text ------------------------------------------------

struct text_pos {
  std::size_t line = 0;
  std::size_t column = 0;
};

/// Maps byte offsets to 1-based line and column (columns count characters).
class line_index {
 public:
  explicit line_index(const std::string& text) : text_(text) {
    starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') starts_.push_back(i + 1);
  }
  text_pos at(std::size_t offset) const {
    offset = std::min(offset, text_.size());
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    std::size_t line = static_cast<std::size_t>(it - starts_.begin());
    std::size_t start = starts_[line - 1];
    std::size_t col = 1;
    for (std::size_t i = start; i < offset; ++i)
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
    return {line, col};
  }

 private:
  const std::string& text_;
  std::vector<std::size_t> starts_;
};

/// Where every value (by JSON pointer) and every member key starts in a
/// JSON text that parsed. Iterative, so deep nesting cannot overflow the
/// stack.
struct position_map {
  std::map<std::string, text_pos> values;
  std::map<std::string, text_pos> keys;
  /// Keys given twice in one object: (pointer, position of the repeat).
  std::vector<std::pair<std::string, text_pos>> duplicates;

  static position_map scan(const std::string& text) {
    position_map m;
    line_index lines(text);
    struct frame {
      bool object;
      std::string ptr;
      std::size_t index;
    };
    std::vector<frame> stack;
    std::size_t i = 0;
    const std::size_t n = text.size();
    auto ws = [&] {
      while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) ++i;
    };
    auto skip_string = [&] {  // at '"'
      ++i;
      while (i < n && text[i] != '"') {
        if (text[i] == '\\') ++i;
        ++i;
      }
      ++i;
    };
    enum class want { value, key, after };
    want w = want::value;
    std::string ptr;
    while (i <= n) {
      ws();
      if (i >= n) break;
      if (w == want::value) {
        m.values[ptr] = lines.at(i);
        char c = text[i];
        if (c == '{') {
          ++i;
          stack.push_back({true, ptr, 0});
          w = want::key;
        } else if (c == '[') {
          ++i;
          stack.push_back({false, ptr, 0});
          ws();
          if (i < n && text[i] == ']') {
            w = want::after;
          } else {
            ptr = child(stack.back().ptr, std::size_t{0});
            w = want::value;
          }
        } else if (c == '"') {
          skip_string();
          w = want::after;
        } else {
          while (i < n && std::string(",]} \t\r\n").find(text[i]) == std::string::npos) ++i;
          w = want::after;
        }
      } else if (w == want::key) {
        if (text[i] == '}') {
          w = want::after;
          continue;
        }
        std::size_t start = i;
        skip_string();
        json k = json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                             text.begin() + static_cast<std::ptrdiff_t>(std::min(i, n)), nullptr, false);
        std::string key = k.is_string() ? k.get<std::string>() : std::string();
        ptr = child(stack.back().ptr, key);
        text_pos kp = lines.at(start);
        if (!m.keys.emplace(ptr, kp).second) m.duplicates.emplace_back(ptr, kp);
        ws();
        if (i < n && text[i] == ':') ++i;
        w = want::value;
      } else {  // after a value, or at the close of an empty container
        if (stack.empty()) break;
        char c = text[i];
        if (c == ',') {
          ++i;
          if (stack.back().object) {
            w = want::key;
          } else {
            ++stack.back().index;
            ptr = child(stack.back().ptr, stack.back().index);
            w = want::value;
          }
        } else if (c == '}' || c == ']') {
          ++i;
          stack.pop_back();
          w = want::after;
        } else {
          ++i;  // cannot happen for text that parsed
        }
      }
    }
    return m;
  }
};

// --- Syntax errors ----------------------------------------------------------------

/// Catches the parser's error without exceptions (sax_parse reports it).
struct error_sax : nlohmann::json_sax<json> {
  std::size_t position = 0;
  std::string token;
  std::string message;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t pos, const std::string& last_token, const nlohmann::detail::exception& ex) override {
    position = pos;
    token = last_token;
    message = ex.what();
    return false;
  }
};

scenario_error syntax_error(const std::string& text, const std::string& file) {
  error_sax sax;
  (void)json::sax_parse(text, &sax, json::input_format_t::json, true, false);
  scenario_error e;
  e.file = file;
  // The parser reports the offset after the token it stopped at; point at
  // the token's start.
  std::size_t offset = sax.position > 0 ? sax.position - 1 : 0;
  if (!sax.token.empty() && sax.token.size() <= sax.position &&
      text.compare(sax.position - sax.token.size(), sax.token.size(), sax.token) == 0)
    offset = sax.position - sax.token.size();
  text_pos p = line_index(text).at(offset);
  e.line = p.line;
  e.column = p.column;
  std::string m = sax.message;
  // "[json.exception.parse_error.101] parse error at line 3, column 1: syntax error ..."
  if (auto c = m.find("column "); c != std::string::npos) {
    if (auto colon = m.find(": ", c); colon != std::string::npos) m = m.substr(colon + 2);
  } else if (auto b = m.find("] "); b != std::string::npos) {
    m = m.substr(b + 2);
  }
  if (m.empty()) m = "not valid JSON";
  e.message = "not valid JSON: " + m;
  return e;
}

// --- The checker ------------------------------------------------------------------

class checker {
 public:
  checker(std::string file, const position_map& pos, std::vector<std::pair<std::string, std::string>> sets)
      : file_(std::move(file)), pos_(pos), sets_(std::move(sets)) {}

  std::vector<scenario_error> errors;

  /// An error at the value `ptr` (or its key, when `at_key`).
  void fail(const std::string& ptr, std::string expected, std::string message, bool at_key = false) {
    scenario_error e;
    e.file = file_;
    e.field = ptr;
    e.expected = std::move(expected);
    e.message = std::move(message);
    for (const auto& [set_ptr, set_text] : sets_) {
      if (ptr == set_ptr || ptr.rfind(set_ptr + "/", 0) == 0) {
        e.file = "--set " + set_text;
        errors.push_back(std::move(e));
        return;
      }
    }
    std::optional<text_pos> where;
    if (at_key) {
      if (auto k = pos_.keys.find(ptr); k != pos_.keys.end()) where = k->second;
    }
    // A value that is missing is reported where its nearest parent starts.
    for (std::string p = ptr; !where;) {
      if (auto v = pos_.values.find(p); v != pos_.values.end()) where = v->second;
      if (p.empty()) break;
      const auto slash = p.rfind('/');
      p.resize(slash == std::string::npos ? 0 : slash);
    }
    if (where) {
      e.line = where->line;
      e.column = where->column;
    }
    errors.push_back(std::move(e));
  }

  void wrong(const std::string& ptr, const std::string& expected, const json& got) {
    fail(ptr, expected, "got " + describe_value(got));
  }

  /// Checks the keys of object `j` at `ptr` against `allowed`.
  void keys(const json& j, const std::string& ptr, const std::vector<std::string>& allowed) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (contains(allowed, it.key())) continue;
      std::string hint = suggest(it.key(), allowed);
      std::string msg = "unknown key \"" + it.key() + "\"";
      if (!hint.empty()) msg += "; did you mean \"" + hint + "\"?";
      else msg += " (allowed: " + quoted_list(allowed) + ")";
      fail(child(ptr, it.key()), "", msg, true);
    }
  }

  /// The string at j[key] (when present): checks its type and, with `one_of`, its value.
  std::optional<std::string> string_field(const json& j, const std::string& ptr, const std::string& key,
                                          const std::vector<std::string>& one_of = {}, bool required = false) {
    auto it = j.find(key);
    const std::string p = child(ptr, key);
    std::string expected = one_of.empty() ? "a string" : "one of " + quoted_list(one_of);
    if (it == j.end()) {
      if (required) fail(ptr, "field \"" + key + "\" (" + expected + ")", "got no \"" + key + "\"");
      return std::nullopt;
    }
    if (!it->is_string()) {
      wrong(p, expected, *it);
      return std::nullopt;
    }
    std::string s = it->get<std::string>();
    if (!one_of.empty() && !contains(one_of, s)) {
      std::string msg = "got " + describe_value(*it);
      std::string hint = suggest(s, one_of);
      if (!hint.empty()) msg += "; did you mean \"" + hint + "\"?";
      fail(p, expected, msg);
      return std::nullopt;
    }
    return s;
  }

  std::optional<double> number_field(const json& j, const std::string& ptr, const std::string& key,
                                     double min, double max, bool integer, bool min_exclusive = false) {
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    const std::string p = child(ptr, key);
    std::string expected = integer ? "an integer" : "a number";
    if (min_exclusive) expected += " > " + trim_num(min);
    else if (min > -1e300) expected += " >= " + trim_num(min);
    if (max < 1e300) expected += " and <= " + trim_num(max);
    if (!it->is_number() || (integer && !it->is_number_integer() && !is_whole(*it))) {
      wrong(p, expected, *it);
      return std::nullopt;
    }
    double v = it->get<double>();
    if (!std::isfinite(v) || v < min || (min_exclusive && v <= min) || v > max) {
      wrong(p, expected, *it);
      return std::nullopt;
    }
    return v;
  }

  static bool is_whole(const json& j) {
    if (!j.is_number_float()) return false;
    double d = j.get<double>();
    return std::isfinite(d) && std::floor(d) == d;
  }
  static std::string trim_num(double d) {
    std::ostringstream o;
    o << d;
    return o.str();
  }

 private:
  std::string file_;
  const position_map& pos_;
  std::vector<std::pair<std::string, std::string>> sets_;
};

// --- Stop policies ----------------------------------------------------------------

/// Builds a policy, reporting every problem to `c` (or, without a checker,
/// stopping at the first).
std::optional<policy> build_policy(const json& j, const std::string& ptr, checker& c, std::size_t depth) {
  const std::string expected_obj =
      "a policy object with one key of " + quoted_list(scenario_stop_kinds());
  if (depth > max_policy_depth) {
    c.fail(ptr, "a policy nested at most " + std::to_string(max_policy_depth) + " levels deep",
           "got a deeper one");
    return std::nullopt;
  }
  if (!j.is_object() || j.size() != 1) {
    c.fail(ptr, expected_obj,
           j.is_object() ? "got an object with " + std::to_string(j.size()) + " keys" : "got " + describe_value(j));
    return std::nullopt;
  }
  const std::string kind = j.begin().key();
  const json& v = j.begin().value();
  const std::string p = child(ptr, kind);
  if (!contains(scenario_stop_kinds(), kind)) {
    std::string hint = suggest(kind, scenario_stop_kinds());
    std::string msg = "unknown policy \"" + kind + "\"";
    if (!hint.empty()) msg += "; did you mean \"" + hint + "\"?";
    c.fail(p, "one of " + quoted_list(scenario_stop_kinds()), msg, true);
    return std::nullopt;
  }
  auto count = [&](double min, double max, bool integer) -> std::optional<double> {
    return c.number_field(j, ptr, kind, min, max, integer);
  };
  if (kind == "any" || kind == "all") {
    if (!v.is_array() || v.empty()) {
      c.wrong(p, "a non-empty array of policies", v);
      return std::nullopt;
    }
    std::optional<policy> out;
    bool ok = true;
    for (std::size_t i = 0; i < v.size(); ++i) {
      auto sub = build_policy(v[i], child(p, i), c, depth + 1);
      if (!sub) {
        ok = false;
        continue;
      }
      if (!out) out = *sub;
      else out = kind == "any" ? (*out | *sub) : (*out & *sub);
    }
    if (!ok) return std::nullopt;
    return out;
  }
  if (kind == "max_rounds") {
    auto n = count(1, 1e6, true);
    if (!n) return std::nullopt;
    return max_rounds(static_cast<std::uint32_t>(*n));
  }
  if (kind == "deadline_s") {
    auto n = c.number_field(j, ptr, kind, 0, 1e7, false, true);
    if (!n) return std::nullopt;
    return deadline(std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*n * 1000))));
  }
  if (kind == "token_budget") {
    auto n = count(1, 1e15, true);
    if (!n) return std::nullopt;
    return token_budget(static_cast<std::uint64_t>(*n));
  }
  if (kind == "cost_budget") {
    auto n = c.number_field(j, ptr, kind, 0, 1e9, false, true);
    if (!n) return std::nullopt;
    return cost_budget(*n);
  }
  if (kind == "quality_threshold") {
    auto n = c.number_field(j, ptr, kind, -1e300, 1e300, false);
    if (!n) return std::nullopt;
    return quality_threshold(*n);
  }
  if (kind == "quiescence" || kind == "stable_answer") {
    auto n = count(1, 1e6, true);
    if (!n) return std::nullopt;
    return kind == "quiescence" ? quiescence(static_cast<std::uint32_t>(*n))
                                : stable_answer(static_cast<std::uint32_t>(*n));
  }
  // consensus
  const std::string expected = "one of " + quoted_list(consensus_names) + " or {\"supermajority\": q} with q in (0.5, 1]";
  if (v.is_string()) {
    std::string r = v.get<std::string>();
    if (r == "majority") return consensus(majority);
    if (r == "unanimity") return consensus(unanimity);
    if (r == "plurality") return consensus(plurality);
    std::string msg = "got " + describe_value(v);
    std::string hint = suggest(r, consensus_names);
    if (!hint.empty()) msg += "; did you mean \"" + hint + "\"?";
    c.fail(p, expected, msg);
    return std::nullopt;
  }
  if (v.is_object() && v.size() == 1 && v.contains("supermajority") && v["supermajority"].is_number()) {
    auto rule = consensus_rule::make_supermajority(v["supermajority"].get<double>());
    if (rule) return consensus(*rule);
    c.wrong(child(p, "supermajority"), "a number in (0.5, 1]", v["supermajority"]);
    return std::nullopt;
  }
  c.wrong(p, expected, v);
  return std::nullopt;
}

// --- --set ---------------------------------------------------------------------

/// Applies one override; returns the pointer it set, or an error message.
bb::result<std::string> apply_set(json& doc, const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    return bb::error{bb::errc::invalid_argument, "expected PATH=VALUE (a JSON pointer like /agents/0/role "
                                                 "or a dotted path like agents.0.role)"};
  std::string path = text.substr(0, eq);
  std::string raw = text.substr(eq + 1);
  std::vector<std::string> tokens;
  if (path[0] == '/') {
    std::size_t start = 1;
    while (true) {
      auto slash = path.find('/', start);
      tokens.push_back(unescape_token(path.substr(start, slash - start)));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
  } else {
    std::size_t start = 0;
    while (true) {
      auto dot = path.find('.', start);
      tokens.push_back(path.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }
  json value = json::parse(raw, nullptr, false);
  if (value.is_discarded()) value = raw;
  json* at = &doc;
  std::string ptr;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    const bool last = i + 1 == tokens.size();
    if (t.empty() && !(at->is_object()))
      return bb::error{bb::errc::invalid_argument, "empty segment in path \"" + path + "\""};
    if (at->is_object()) {
      std::string next = child(ptr, t);
      if (last && value.is_null()) {  // PATH=null removes an optional field
        if (at->erase(t) == 0)
          return bb::error{bb::errc::invalid_argument,
                           (ptr.empty() ? std::string("the document") : ptr) + " has no \"" + t + "\" to remove"};
        return next;
      }
      if (last) {
        (*at)[t] = std::move(value);
        return next;
      }
      auto it = at->find(t);
      if (it == at->end())
        return bb::error{bb::errc::invalid_argument,
                         (ptr.empty() ? std::string("the document") : ptr) + " has no \"" + t + "\""};
      at = &*it;
      ptr = next;
    } else if (at->is_array()) {
      bool digits = !t.empty() && t.size() < 10 && std::all_of(t.begin(), t.end(), [](char ch) {
        return ch >= '0' && ch <= '9';
      });
      if (!digits && !(last && t == "-"))
        return bb::error{bb::errc::invalid_argument, ptr + " is an array; \"" + t + "\" is not an index"};
      std::size_t idx = t == "-" ? at->size() : static_cast<std::size_t>(std::stoul(t));
      if (idx > at->size() || (idx == at->size() && !last))
        return bb::error{bb::errc::invalid_argument, ptr + " has " + std::to_string(at->size()) +
                                                         " elements; no index " + t};
      if (last) {
        if (idx == at->size()) at->push_back(std::move(value));
        else (*at)[idx] = std::move(value);
        return child(ptr, idx);
      }
      at = &(*at)[idx];
      ptr = child(ptr, idx);
    } else {
      return bb::error{bb::errc::invalid_argument,
                       (ptr.empty() ? std::string("the document") : ptr) + " is " + describe_value(*at) +
                           ", not an object or array"};
    }
  }
  return bb::error{bb::errc::invalid_argument, "empty path"};
}

// --- The whole check ----------------------------------------------------------

std::string default_part(const std::string& pattern) {
  if (pattern == "debate") return "debater";
  if (pattern == "swarm") return "contributor";
  return "evaluator";
}

void check_agent(checker& c, scenario& s, const json& a, std::size_t i, const json& endpoints,
                 std::set<std::string>& ids, bool& has_generator) {
  const std::string ptr = child("/agents", i);
  if (!a.is_object()) {
    c.wrong(ptr, "an agent object", a);
    return;
  }
  c.keys(a, ptr, agent_keys);
  agent_def d;
  auto id = c.string_field(a, ptr, "id", {}, true);
  if (id) {
    auto parsed = actors::agent_id::parse(*id);
    if (!parsed) {
      c.fail(child(ptr, "id"), "an agent id \"type/name\"",
             "got " + describe_value(a["id"]) + " (" + parsed.error().message + ")");
    } else if (!ids.insert(*id).second) {
      c.fail(child(ptr, "id"), "an id no other agent has", "got " + describe_value(a["id"]) + " a second time");
    }
    d.id = *id;
  }
  auto kind = c.string_field(a, ptr, "kind", scenario_agent_kinds(), true);
  d.kind = kind.value_or("");
  d.role = c.string_field(a, ptr, "role").value_or("");
  (void)c.string_field(a, ptr, "description");
  std::vector<std::string> parts_ok;
  if (s.pattern == "debate") parts_ok = {"debater", "judge"};
  else if (s.pattern == "swarm") parts_ok = {"contributor", "synthesizer"};
  else if (s.pattern == "evaluator_loop") parts_ok = {"generator", "evaluator"};
  if (auto part = c.string_field(a, ptr, "part", scenario_agent_parts())) {
    if (!parts_ok.empty() && !contains(parts_ok, *part))
      c.fail(child(ptr, "part"), "for pattern \"" + s.pattern + "\" one of " + quoted_list(parts_ok),
             "got " + describe_value(a["part"]));
    d.part = *part;
  }
  if (d.part.empty()) {
    d.part = default_part(s.pattern);
    if (s.pattern == "evaluator_loop" && !has_generator) d.part = "generator";
  }
  if (d.part == "generator") has_generator = true;
  auto on = c.string_field(a, ptr, "on", {"local", "worker"});
  d.remote = on && *on == "worker";
  (void)c.string_field(a, ptr, "model");
  (void)c.string_field(a, ptr, "system");
  (void)c.string_field(a, ptr, "cwd");
  (void)c.number_field(a, ptr, "max_tokens", 1, 1e7, true);
  (void)c.number_field(a, ptr, "temperature", 0, 2, false);
  (void)c.number_field(a, ptr, "seed", -9.2e18, 9.2e18, true);
  (void)c.number_field(a, ptr, "max_repairs", 0, 100, true);
  (void)c.number_field(a, ptr, "timeout_s", 0, 1e6, false, true);
  if (auto it = a.find("output_schema"); it != a.end() && !it->is_object())
    c.wrong(child(ptr, "output_schema"), "a JSON schema object", *it);
  if (auto it = a.find("reads"); it != a.end()) {
    if (!it->is_array()) c.wrong(child(ptr, "reads"), "an array of strings", *it);
    else
      for (std::size_t k = 0; k < it->size(); ++k)
        if (!(*it)[k].is_string()) c.wrong(child(child(ptr, "reads"), k), "a string", (*it)[k]);
  }
  if (auto it = a.find("env"); it != a.end()) {
    if (!it->is_object()) c.wrong(child(ptr, "env"), "an object of strings", *it);
    else
      for (auto e = it->begin(); e != it->end(); ++e)
        if (!e->is_string()) c.wrong(child(child(ptr, "env"), e.key()), "a string", *e);
  }
  if (auto it = a.find("command"); it != a.end()) {
    if (!it->is_array() || it->empty()) c.wrong(child(ptr, "command"), "a non-empty array of strings (argv)", *it);
    else
      for (std::size_t k = 0; k < it->size(); ++k)
        if (!(*it)[k].is_string()) c.wrong(child(child(ptr, "command"), k), "a string", (*it)[k]);
  }
  if (auto it = a.find("replies"); it != a.end() && (!it->is_array() || it->empty()))
    c.wrong(child(ptr, "replies"), "a non-empty array (one reply per round)", *it);
  if (auto replay = c.string_field(a, ptr, "replay")) {
    fs::path p(*replay);
    if (p.is_relative()) p = fs::path(s.base_dir()) / p;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      c.fail(child(ptr, "replay"), "a recording file (JSON lines)",
             "got " + describe_value(a["replay"]) + ", but " + p.lexically_normal().string() + " is not a file");
  }
  (void)c.string_field(a, ptr, "prompt");
  if (auto it = a.find("endpoint"); it != a.end()) {
    if (it->is_string()) {
      const std::string name = it->get<std::string>();
      if (!endpoints.is_object() || !endpoints.contains(name)) {
        std::vector<std::string> names;
        if (endpoints.is_object())
          for (auto e = endpoints.begin(); e != endpoints.end(); ++e) names.push_back(e.key());
        std::string msg = "got \"" + name + "\", which \"endpoints\" does not define";
        std::string hint = suggest(name, names);
        if (!hint.empty()) msg += "; did you mean \"" + hint + "\"?";
        c.fail(child(ptr, "endpoint"),
               names.empty() ? "an endpoint object (or a name defined in \"endpoints\")"
                             : "one of " + quoted_list(names) + " (the names in \"endpoints\") or an endpoint object",
               msg);
      }
    } else if (it->is_object()) {
      auto ep = endpoint::from_json(*it);
      if (!ep) c.fail(child(ptr, "endpoint"), "an endpoint object", ep.error().message);
    } else {
      c.wrong(child(ptr, "endpoint"), "an endpoint name or object", *it);
    }
  }
  // Fields of one kind on another kind's agent.
  if (kind) {
    auto misplaced = [&](const std::vector<std::string>& fields, const std::string& owner) {
      if (*kind == owner) return;
      for (const auto& f : fields)
        if (a.contains(f))
          c.fail(child(ptr, f), "", "\"" + f + "\" is for \"kind\": \"" + owner + "\" agents; this one is \"" +
                                        *kind + "\"", true);
    };
    misplaced(llm_only, "llm");
    misplaced(tool_only, "tool");
    misplaced(scripted_only, "scripted");
    if (*kind == "llm") {
      const bool has_ep = a.contains("endpoint"), has_replay = a.contains("replay");
      if (has_ep == has_replay)
        c.fail(ptr, "exactly one of \"endpoint\" or \"replay\" for an llm agent",
               has_ep ? "got both" : "got neither");
      if (!a.contains("prompt")) c.fail(ptr, "field \"prompt\" (a string) for an llm agent", "got no \"prompt\"");
    } else if (*kind == "tool" && !a.contains("command")) {
      c.fail(ptr, "field \"command\" (argv array) for a tool agent", "got no \"command\"");
    } else if (*kind == "scripted" && !a.contains("replies")) {
      c.fail(ptr, "field \"replies\" (an array) for a scripted agent", "got no \"replies\"");
    }
  }
  d.spec = a;
  s.agents.push_back(std::move(d));
}

scenario_load check_document(json doc, const std::string& file, const position_map& pos,
                             std::vector<std::pair<std::string, std::string>> sets) {
  checker c(file, pos, std::move(sets));
  auto s = std::make_unique<scenario>();
  s->file = file;
  if (!doc.is_object()) {
    c.wrong("", "a scenario object", doc);
    return {nullptr, std::move(c.errors)};
  }
  c.keys(doc, "", top_keys);
  (void)c.string_field(doc, "", "$schema");
  (void)c.string_field(doc, "", "description");
  if (auto name = c.string_field(doc, "", "name", {}, true)) {
    if (name->empty() || name->find('/') != std::string::npos ||
        std::any_of(name->begin(), name->end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }))
      c.fail("/name", "a non-empty name without '/' or control characters (it names the run)",
             "got " + describe_value(doc["name"]));
    s->name = *name;
  }
  s->pattern = c.string_field(doc, "", "pattern", scenario_patterns(), true).value_or("");
  s->input = doc.value("input", json::object());
  if (s->pattern == "debate" && !(s->input.is_object() && s->input.contains("question")))
    c.fail("/input", "an object with a \"question\" (what the debaters answer)",
           "got " + describe_value(s->input) + (s->input.is_object() ? " without \"question\"" : ""));
  json endpoints = json::object();
  if (auto it = doc.find("endpoints"); it != doc.end()) {
    if (!it->is_object()) {
      c.wrong("/endpoints", "an object: name → endpoint", *it);
    } else {
      endpoints = *it;
      for (auto e = it->begin(); e != it->end(); ++e) {
        if (!e->is_object()) {
          c.wrong(child("/endpoints", e.key()), "an endpoint object", *e);
          continue;
        }
        auto ep = endpoint::from_json(*e);
        if (!ep) c.fail(child("/endpoints", e.key()), "an endpoint object", ep.error().message);
      }
    }
  }
  auto agents = doc.find("agents");
  if (agents == doc.end()) {
    c.fail("", "field \"agents\" (an array of agents)", "got no \"agents\"");
  } else if (!agents->is_array() || agents->empty()) {
    c.wrong("/agents", "a non-empty array of agents", *agents);
  } else {
    std::set<std::string> ids;
    bool has_generator = false;
    for (const auto& a : *agents)
      if (a.is_object() && a.value("part", json()) == "generator") has_generator = true;
    // With no explicit generator, the first agent without a part is it.
    bool first_default = has_generator;
    for (std::size_t i = 0; i < agents->size(); ++i) check_agent(c, *s, (*agents)[i], i, endpoints, ids, first_default);
    // Parts per pattern.
    auto count_part = [&](const std::string& p) {
      return std::count_if(s->agents.begin(), s->agents.end(), [&](const agent_def& d) { return d.part == p; });
    };
    if (s->pattern == "debate") {
      if (count_part("judge") > 1) c.fail("/agents", "at most one \"judge\"", "got " + std::to_string(count_part("judge")));
      if (count_part("debater") == 0) c.fail("/agents", "at least one \"debater\"", "got none");
    } else if (s->pattern == "swarm") {
      if (count_part("synthesizer") > 1)
        c.fail("/agents", "at most one \"synthesizer\"", "got " + std::to_string(count_part("synthesizer")));
      if (count_part("contributor") == 0) c.fail("/agents", "at least one \"contributor\"", "got none");
    } else if (s->pattern == "evaluator_loop") {
      if (count_part("generator") != 1)
        c.fail("/agents", "exactly one \"generator\"", "got " + std::to_string(count_part("generator")));
      if (count_part("evaluator") == 0) c.fail("/agents", "at least one \"evaluator\"", "got none");
    }
  }
  // Policies.
  if (auto it = doc.find("stop"); it == doc.end()) {
    c.fail("", "field \"stop\" (a stop policy, e.g. {\"any\": [{\"consensus\": \"majority\"}, {\"max_rounds\": 3}]})",
           "got no \"stop\"");
  } else {
    const std::size_t before = c.errors.size();
    auto p = build_policy(*it, "/stop", c, 0);
    if (p && c.errors.size() == before) {
      if (auto b = p->check_bounded(s->name.empty() ? "scenario" : s->name); !b)
        c.fail("/stop", "a bounded policy: add {\"max_rounds\": n} or {\"deadline_s\": x} under \"any\"",
               "got " + p->describe() + ", which could run forever");
      else
        s->run.stop = *p;
    }
  }
  if (auto f = c.string_field(doc, "", "fallback", scenario_fallbacks())) {
    s->run.fallback = *f == "last" ? fallback::last : *f == "escalate" ? fallback::escalate : fallback::best_so_far;
  }
  if (auto it = doc.find("round"); it != doc.end()) {
    if (!it->is_object()) {
      c.wrong("/round", "an object {quorum, timeout_s, late_grace_s}", *it);
    } else {
      c.keys(*it, "/round", round_keys);
      if (auto q = c.number_field(*it, "/round", "quorum", 0, 1e6, true))
        s->run.round.quorum = static_cast<std::size_t>(*q);
      if (auto t = c.number_field(*it, "/round", "timeout_s", 0, 1e6, false, true))
        s->run.round.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*t * 1000)));
      if (auto g = c.number_field(*it, "/round", "late_grace_s", 0, 1e6, false))
        s->run.round.late_grace = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*g * 1000)));
    }
  }
  s->vote_field = c.string_field(doc, "", "vote_field").value_or("");
  if (auto it = doc.find("swarm"); it != doc.end()) {
    if (s->pattern != "swarm") c.fail("/swarm", "", "\"swarm\" options are for \"pattern\": \"swarm\"", true);
    if (!it->is_object()) {
      c.wrong("/swarm", "an object {order, blind_first, merge}", *it);
    } else {
      c.keys(*it, "/swarm", swarm_keys);
      if (auto o = c.string_field(*it, "/swarm", "order", scenario_swarm_orders()))
        s->order = *o == "round_robin" ? swarm_order::round_robin
                   : *o == "iterative" ? swarm_order::iterative
                                       : swarm_order::parallel_then_merge;
      if (auto b = it->find("blind_first"); b != it->end()) {
        if (!b->is_boolean()) c.wrong("/swarm/blind_first", "a boolean", *b);
        else s->blind_first = b->get<bool>();
      }
      s->merge = c.string_field(*it, "/swarm", "merge", scenario_swarm_merges()).value_or("");
    }
  }
  if (s->pattern == "swarm" && s->merge.empty()) {
    const bool synth = std::any_of(s->agents.begin(), s->agents.end(),
                                   [](const agent_def& d) { return d.part == "synthesizer"; });
    // LLM contributors do not edit the artifact themselves: they need a merge.
    const bool llm = std::any_of(s->agents.begin(), s->agents.end(),
                                 [](const agent_def& d) { return d.kind == "llm" && d.part == "contributor"; });
    if (!synth && (s->order == swarm_order::parallel_then_merge || s->blind_first || llm)) s->merge = "collect";
  }
  if (auto it = doc.find("evaluator_loop"); it != doc.end()) {
    if (s->pattern != "evaluator_loop")
      c.fail("/evaluator_loop", "", "\"evaluator_loop\" options are for \"pattern\": \"evaluator_loop\"", true);
    if (!it->is_object()) {
      c.wrong("/evaluator_loop", "an object {combine}", *it);
    } else {
      c.keys(*it, "/evaluator_loop", loop_keys);
      if (auto m = c.string_field(*it, "/evaluator_loop", "combine", {"mean", "min"}))
        s->combine = *m == "min" ? score_combine::min : score_combine::mean;
    }
  }
  for (const auto& [ptr, p] : pos.duplicates) {
    c.fail(ptr, "", "key \"" + unescape_token(ptr.substr(ptr.rfind('/') + 1)) + "\" appears twice in one object (the last one would win)", true);
    // Point at the repeat, not the first one.
    c.errors.back().line = p.line;
    c.errors.back().column = p.column;
  }
  if (!c.errors.empty()) {
    std::stable_sort(c.errors.begin(), c.errors.end(), [](const scenario_error& a, const scenario_error& b) {
      if (a.file != b.file) return a.file < b.file;
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return {nullptr, std::move(c.errors)};
  }
  s->document = std::move(doc);
  return {std::move(s), {}};
}

}  // namespace

std::string scenario_error::to_string() const {
  std::string out = file;
  if (line) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!field.empty()) out += field + ": ";
  if (!expected.empty()) out += "expected " + expected + "; ";
  out += message;
  return out;
}

std::string scenario::base_dir() const {
  fs::path p(file);
  fs::path dir = p.parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

bb::result<agora::policy> parse_stop_policy(const json& j, const std::string& pointer) {
  position_map none;
  checker c("stop", none, {});
  auto p = build_policy(j, pointer, c, 0);
  if (!c.errors.empty()) return bb::error{bb::errc::invalid_argument, c.errors.front().to_string()};
  if (!p) return bb::error{bb::errc::invalid_argument, "bad stop policy"};
  return *p;
}

scenario_load parse_scenario(const std::string& text, const std::string& file,
                             const std::vector<std::string>& overrides) {
  try {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return {nullptr, {syntax_error(text, file)}};
    const position_map pos = position_map::scan(text);
    std::vector<scenario_error> errors;
    std::vector<std::pair<std::string, std::string>> sets;
    for (const auto& o : overrides) {
      auto r = apply_set(doc, o);
      if (!r) {
        scenario_error e;
        e.file = "--set " + o;
        e.message = r.error().message;
        errors.push_back(std::move(e));
        continue;
      }
      sets.emplace_back(*r, o);
    }
    if (!errors.empty()) return {nullptr, std::move(errors)};
    return check_document(std::move(doc), file, pos, std::move(sets));
  } catch (const std::exception& ex) {  // nothing here should throw; never let it out
    scenario_error e;
    e.file = file;
    e.message = std::string("internal error while checking: ") + ex.what();
    return {nullptr, {e}};
  }
}

scenario_load load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    scenario_error e;
    e.file = path;
    std::error_code ec;
    e.message = fs::is_directory(path, ec) ? "is a directory, not a scenario file" : "cannot open the file";
    return {nullptr, {e}};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_scenario(text.str(), path, overrides);
}

// --- Agents' logic -------------------------------------------------------------

namespace {

bb::error logic_error(const agent_def& a, const std::string& field, const std::string& why) {
  return bb::error{bb::errc::invalid_argument, "agent " + a.id + ": " + field + ": " + why};
}

/// A path from the scenario, resolved against its directory.
std::string resolve(const scenario& s, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(s.base_dir()) / p).lexically_normal().string();
}

std::uint32_t round_of(const actors::task& t) {
  auto it = t.input.find("round");
  if (it != t.input.end() && it->is_number_integer() && it->get<std::int64_t>() > 0)
    return static_cast<std::uint32_t>(std::min<std::int64_t>(it->get<std::int64_t>(), UINT32_MAX));
  return 1;
}

/// Stages `value` as the member's contribution and builds the outcome's
/// result, as the pattern's protocol wants it for `part`.
actors::logic_result contribute(const std::string& part, const actors::task& t, bb::scratchpad& sp, json value) {
  if (part == "evaluator") {
    auto verdict = evaluation::from_json(value);
    if (!verdict)
      return bb::error{bb::errc::invalid_argument,
                       "an evaluator answers {\"pass\": bool, \"score\": number, \"critique\": text}; " +
                           verdict.error().message};
    json v = verdict->to_json();
    if (auto key = t.input.find("key"); key != t.input.end() && key->is_string())
      if (auto st = sp.put(key->get<std::string>(), v); !st) return std::move(st).take_error();
    return json{{"answer", v}, {"pass", verdict->pass}, {"score", verdict->score}, {"critique", verdict->critique}};
  }
  if (auto key = t.input.find("key"); key != t.input.end() && key->is_string())
    if (auto st = sp.put(key->get<std::string>(), value); !st) return std::move(st).take_error();
  return json{{"answer", std::move(value)}};
}

/// The last non-empty line of `text`, shortened.
std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  auto nl = t.rfind('\n');
  std::string line = nl == std::string::npos ? t : t.substr(nl + 1);
  if (line.size() > 200) line.replace(197, std::string::npos, "...");
  return line;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

bb::result<actors::agent_logic> scripted_logic(const agent_def& a) {
  auto replies = std::make_shared<const json>(a.spec.value("replies", json::array()));
  if (!replies->is_array() || replies->empty()) return logic_error(a, "replies", "a non-empty array is required");
  auto pick = [replies](std::uint32_t round) -> json {
    std::size_t i = round == 0 ? 0 : std::min<std::size_t>(round - 1, replies->size() - 1);
    return (*replies)[i];
  };
  if (a.part == "contributor")
    return contributor([pick](const swarm_turn& turn) -> bb::result<json> { return pick(turn.round); });
  if (a.part == "synthesizer")
    return swarm_synthesizer([pick](const swarm_merge& m) -> bb::result<json> { return pick(m.round); });
  const std::string part = a.part;
  return actors::agent_logic::sync([pick, part](const actors::task& t, bb::scratchpad& sp) -> actors::logic_result {
    return contribute(part, t, sp, pick(round_of(t)));
  });
}

bb::result<actors::agent_logic> tool_logic(const scenario& s, const agent_def& a, const logic_context& ctx) {
  if (!ctx.processes) return logic_error(a, "command", "tool agents need a process runner");
  process_request proto;
  for (const auto& arg : a.spec.value("command", json::array()))
    if (arg.is_string()) proto.argv.push_back(arg.get<std::string>());
  if (proto.argv.empty()) return logic_error(a, "command", "a non-empty argv array is required");
  // A program named by a relative path with a '/' is found from the scenario's directory.
  if (proto.argv[0].find('/') != std::string::npos) proto.argv[0] = resolve(s, proto.argv[0]);
  proto.cwd = resolve(s, a.spec.value("cwd", std::string(".")));
  const double timeout_s = a.spec.value("timeout_s", 60.0);
  proto.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(timeout_s * 1000)));
  if (auto env = a.spec.find("env"); env != a.spec.end() && env->is_object())
    for (auto e = env->begin(); e != env->end(); ++e)
      if (e->is_string()) proto.env.push_back(e.key() + "=" + e->get<std::string>());
  proto.env.push_back("AGORA_AGENT_ID=" + a.id);
  process_runner* runner = ctx.processes;
  const std::string part = a.part, id = a.id, role = a.role, what = joined(proto.argv);
  return actors::agent_logic::async([=](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    std::shared_ptr<swarm_turn> turn;
    if (part == "contributor") {
      auto r = swarm_turn::read(t, sp);
      if (!r) {
        done.fail(r.error());
        return;
      }
      turn = std::make_shared<swarm_turn>(std::move(*r));
    }
    json in = t.input;
    if (in.is_object()) {
      in["agent"] = id;
      if (!in.contains("persona") && !role.empty()) in["persona"] = role;
      // The previous round's record, so a tool need not read the blackboard.
      if (auto prev = in.find("previous"); prev != in.end() && prev->is_string()) {
        auto e = sp.get(prev->get<std::string>());
        if (e && e->exists()) in["previous_record"] = e->value();
      }
      if (turn) in["artifact"] = turn->artifact;
    }
    process_request rq = proto;
    rq.stdin_text = safe_dump(in);
    bb::scratchpad* pad = &sp;
    runner->submit(std::move(rq), [=](bb::result<process_result> r) {
      if (!r) {
        done.fail(bb::error{bb::errc::invalid_argument, "tool agent " + id + ": " + r.error().message});
        return;
      }
      if (r->timed_out || r->exit_code != 0) {
        std::string why = r->timed_out ? "timed out after " + checker::trim_num(timeout_s) + " s"
                          : r->signal ? "was killed by signal " + std::to_string(r->signal)
                                      : "exited with status " + std::to_string(r->exit_code);
        std::string err = last_line(r->err);
        done.fail(bb::error{bb::errc::invalid_argument, "tool agent " + id + ": command '" + what + "' " + why +
                                                            (err.empty() ? "" : ": " + err)});
        return;
      }
      json value = json::parse(r->out, nullptr, false);
      if (value.is_discarded()) value = json(r->out);
      if (value.is_string()) {  // text output: without the trailing newline
        std::string v = value.get<std::string>();
        while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
        value = v;
      }
      if (turn) {
        done(submit_contribution(*turn, *pad, {std::move(value), artifact_edit::by_order}));
        return;
      }
      done(contribute(part, t, *pad, std::move(value)));
    });
  });
}

bb::result<actors::agent_logic> llm_logic(const scenario& s, const agent_def& a, const logic_context& ctx) {
  std::shared_ptr<llm_client> client;
  if (auto replay = a.spec.find("replay"); replay != a.spec.end() && replay->is_string()) {
    auto r = replay_client::open(resolve(s, replay->get<std::string>()));
    if (!r) return logic_error(a, "replay", r.error().message.rfind("replay: ", 0) == 0 ? r.error().message.substr(8)
                                                                                        : r.error().message);
    client = *r;
  } else {
    json ep_json = a.spec.value("endpoint", json());
    std::string field = "endpoint";
    if (ep_json.is_string()) {
      field = "endpoints/" + ep_json.get<std::string>();
      ep_json = s.document.value("endpoints", json::object()).value(ep_json.get<std::string>(), json());
    }
    auto ep = endpoint::from_json(ep_json);
    if (!ep) return logic_error(a, field, ep.error().message);
    if (!ep->api_key_env.empty()) {
      const char* key = std::getenv(ep->api_key_env.c_str());
      if (!key || !*key)
        return logic_error(a, field, "the API key variable $" + ep->api_key_env + " is not set (export it, or set "
                                     "\"api_key_env\": \"\" for a server without a key)");
    }
    client = std::make_shared<http_client>(*ep);
  }
  if (!ctx.record_path.empty()) {
    auto rec = recording_client::open(client, ctx.record_path);
    if (!rec) return logic_error(a, "--record", rec.error().message);
    client = *rec;
  }
  llm_agent_config cfg;
  cfg.client = client;
  cfg.model = a.spec.value("model", std::string());
  cfg.system = a.spec.value("system", std::string());
  if (cfg.system.empty() && !a.role.empty()) cfg.system = "You are " + a.role + ".";
  cfg.prompt = a.spec.value("prompt", std::string());
  for (const auto& r : a.spec.value("reads", json::array()))
    if (r.is_string()) cfg.reads.push_back(r.get<std::string>());
  if (auto os = a.spec.find("output_schema"); os != a.spec.end() && os->is_object()) {
    cfg.output_schema = *os;
  } else if (a.part == "evaluator") {
    cfg.output_schema = json{{"type", "object"},
                             {"required", {"pass", "score"}},
                             {"properties",
                              {{"pass", {{"type", "boolean"}}},
                               {"score", {{"type", "number"}}},
                               {"critique", {{"type", "string"}}}}}};
  }
  if (auto m = a.spec.find("max_repairs"); m != a.spec.end() && m->is_number()) cfg.max_repairs = m->get<int>();
  if (auto m = a.spec.find("max_tokens"); m != a.spec.end() && m->is_number())
    cfg.defaults.max_tokens = m->get<std::uint32_t>();
  if (auto m = a.spec.find("temperature"); m != a.spec.end() && m->is_number())
    cfg.defaults.temperature = m->get<double>();
  if (auto m = a.spec.find("seed"); m != a.spec.end() && m->is_number()) cfg.defaults.seed = m->get<std::int64_t>();
  cfg.tracer = ctx.tracer;
  auto logic = llm_agent(std::move(cfg));
  if (!logic) return logic_error(a, "prompt", logic.error().message);
  return logic;
}

}  // namespace

bb::result<actors::agent_logic> make_agent_logic(const scenario& s, const agent_def& a, const logic_context& ctx) {
  try {
    if (a.kind == "scripted") return scripted_logic(a);
    if (a.kind == "tool") return tool_logic(s, a, ctx);
    if (a.kind == "llm") return llm_logic(s, a, ctx);
    return logic_error(a, "kind", "unknown kind \"" + a.kind + "\"");
  } catch (const std::exception& ex) {
    return logic_error(a, "spec", ex.what());
  }
}

}  // namespace agora::cli
