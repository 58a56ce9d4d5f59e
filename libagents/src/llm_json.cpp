#include "agora/agents/llm_json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

namespace agora {

using nlohmann::json;

namespace {

// --- writing --------------------------------------------------------------------

json calls_to_json(const std::vector<tool_call>& calls) {
  json a = json::array();
  for (const auto& c : calls) a.push_back(to_json(c));
  return a;
}

// --- reading --------------------------------------------------------------------
// The readers below throw bad_field on the first problem; each public
// from_json catches it and turns it into a bb::error. The exception never
// leaves this file.

/// Where a value sits: a dotted name for people and a JSON pointer for code.
struct place {
  std::string name;     ///< "request.messages[1].role"
  std::string pointer;  ///< "/messages/1/role"
  const char* type;     ///< what the root is, for errors about the root itself

  place key(const std::string& k) const {
    std::string esc;
    for (char c : k) {
      if (c == '~') esc += "~0";
      else if (c == '/') esc += "~1";
      else esc += c;
    }
    return {name.empty() ? k : name + "." + k, pointer + "/" + esc, type};
  }
  place index(std::size_t i) const {
    return {name + "[" + std::to_string(i) + "]", pointer + "/" + std::to_string(i), type};
  }
  std::string label() const { return name.empty() ? std::string(type) : name; }
};

struct bad_field {
  std::string message;
  std::string pointer;
};

/// A short quote of a value for an error message.
std::string quote(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

[[noreturn]] void fail(const place& p, const std::string& what) {
  throw bad_field{p.label() + ": " + what, p.pointer};
}

void expect_object(const json& j, const place& p) {
  if (!j.is_object()) fail(p, "expected a JSON object, got " + quote(j));
}

/// The member `k` of object `j`, or nullptr when absent or null.
const json* member(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& required(const json& j, const place& p, const char* k) {
  const json* v = member(j, k);
  if (!v) fail(p.key(k), "missing (required)");
  return *v;
}

std::string read_string(const json& v, const place& p) {
  if (!v.is_string()) fail(p, "expected a string, got " + quote(v));
  return v.get<std::string>();
}

double read_number(const json& v, const place& p) {
  if (!v.is_number()) fail(p, "expected a number, got " + quote(v));
  double d = v.get<double>();
  if (!std::isfinite(d)) fail(p, "expected a finite number, got " + quote(v));
  return d;
}

std::uint64_t read_uint(const json& v, const place& p, std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<std::int64_t>() < 0))
    fail(p, "expected a non-negative integer, got " + quote(v));
  auto n = v.get<std::uint64_t>();
  if (n > max) fail(p, "expected at most " + std::to_string(max) + ", got " + quote(v));
  return n;
}

std::int64_t read_int(const json& v, const place& p) {
  if (!v.is_number_integer()) fail(p, "expected an integer, got " + quote(v));
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    fail(p, "integer out of range, got " + quote(v));
  return v.get<std::int64_t>();
}

bool read_bool(const json& v, const place& p) {
  if (!v.is_boolean()) fail(p, "expected true or false, got " + quote(v));
  return v.get<bool>();
}

const json& read_array(const json& v, const place& p) {
  if (!v.is_array()) fail(p, "expected an array, got " + quote(v));
  return v;
}

std::string opt_string(const json& j, const place& p, const char* k, std::string def = {}) {
  const json* v = member(j, k);
  return v ? read_string(*v, p.key(k)) : def;
}

// Typed readers, one per type; `p` is the place of `j`.

tool_call read_tool_call(const json& j, const place& p) {
  expect_object(j, p);
  tool_call c;
  c.id = opt_string(j, p, "id");
  c.name = read_string(required(j, p, "name"), p.key("name"));
  if (const json* a = member(j, "arguments")) {
    if (a->is_string()) c.arguments = a->get<std::string>();
    else if (a->is_object() || a->is_array()) c.arguments = a->dump();
    else fail(p.key("arguments"), "expected JSON text (a string) or an object, got " + quote(*a));
  }
  return c;
}

std::vector<tool_call> read_tool_calls(const json& j, const place& p) {
  std::vector<tool_call> out;
  const json& a = read_array(j, p);
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(read_tool_call(a[i], p.index(i)));
  return out;
}

message read_message(const json& j, const place& p) {
  expect_object(j, p);
  message m;
  std::string r = read_string(required(j, p, "role"), p.key("role"));
  if (r == "system") m.role = role::system;
  else if (r == "user") m.role = role::user;
  else if (r == "assistant") m.role = role::assistant;
  else if (r == "tool") m.role = role::tool;
  else fail(p.key("role"), "expected one of system, user, assistant, tool; got " + quote(r));
  m.content = opt_string(j, p, "content");
  if (const json* c = member(j, "tool_calls")) m.tool_calls = read_tool_calls(*c, p.key("tool_calls"));
  m.tool_call_id = opt_string(j, p, "tool_call_id");
  return m;
}

tool_def read_tool_def(const json& j, const place& p) {
  expect_object(j, p);
  tool_def t;
  t.name = read_string(required(j, p, "name"), p.key("name"));
  t.description = opt_string(j, p, "description");
  if (const json* s = member(j, "parameters")) {
    if (!s->is_object()) fail(p.key("parameters"), "expected a JSON schema object, got " + quote(*s));
    t.parameters = *s;
  }
  return t;
}

llm_request read_request(const json& j, const place& p) {
  expect_object(j, p);
  llm_request r;
  r.model = opt_string(j, p, "model");
  {
    place mp = p.key("messages");
    const json& a = read_array(required(j, p, "messages"), mp);
    for (std::size_t i = 0; i < a.size(); ++i) r.messages.push_back(read_message(a[i], mp.index(i)));
  }
  if (const json* v = member(j, "temperature")) r.temperature = read_number(*v, p.key("temperature"));
  if (const json* v = member(j, "top_p")) r.top_p = read_number(*v, p.key("top_p"));
  if (const json* v = member(j, "seed")) r.seed = read_int(*v, p.key("seed"));
  if (const json* v = member(j, "stop")) {
    place sp = p.key("stop");
    const json& a = read_array(*v, sp);
    for (std::size_t i = 0; i < a.size(); ++i) r.stop.push_back(read_string(a[i], sp.index(i)));
  }
  if (const json* v = member(j, "max_tokens"))
    r.max_tokens = static_cast<std::uint32_t>(read_uint(*v, p.key("max_tokens"), 0xffffffffu));
  if (const json* v = member(j, "response_schema")) {
    if (!v->is_object()) fail(p.key("response_schema"), "expected a JSON schema object, got " + quote(*v));
    r.response_schema = *v;
  }
  r.schema_name = opt_string(j, p, "schema_name", r.schema_name);
  if (const json* v = member(j, "tools")) {
    place tp = p.key("tools");
    const json& a = read_array(*v, tp);
    for (std::size_t i = 0; i < a.size(); ++i) r.tools.push_back(read_tool_def(a[i], tp.index(i)));
  }
  r.tool_choice = opt_string(j, p, "tool_choice");
  if (const json* v = member(j, "stream")) r.stream = read_bool(*v, p.key("stream"));
  if (const json* v = member(j, "extra")) {
    if (!v->is_object()) fail(p.key("extra"), "expected an object, got " + quote(*v));
    r.extra = *v;
  }
  return r;
}

usage read_usage(const json& j, const place& p) {
  expect_object(j, p);
  usage u;
  if (const json* v = member(j, "prompt")) u.prompt = read_uint(*v, p.key("prompt"));
  if (const json* v = member(j, "completion")) u.completion = read_uint(*v, p.key("completion"));
  if (const json* v = member(j, "cached")) u.cached = read_uint(*v, p.key("cached"));
  if (const json* v = member(j, "reasoning")) u.reasoning = read_uint(*v, p.key("reasoning"));
  return u;
}

llm_response read_response(const json& j, const place& p) {
  expect_object(j, p);
  llm_response r;
  r.id = opt_string(j, p, "id");
  r.model = opt_string(j, p, "model");
  r.content = opt_string(j, p, "content");
  if (const json* v = member(j, "tool_calls")) r.tool_calls = read_tool_calls(*v, p.key("tool_calls"));
  r.finish_reason = opt_string(j, p, "finish_reason");
  if (const json* v = member(j, "tokens")) r.tokens = read_usage(*v, p.key("tokens"));
  if (const json* v = member(j, "usage_reported")) r.usage_reported = read_bool(*v, p.key("usage_reported"));
  if (const json* v = member(j, "cost_usd")) r.cost_usd = read_number(*v, p.key("cost_usd"));
  if (const json* v = member(j, "cost_known")) r.cost_known = read_bool(*v, p.key("cost_known"));
  if (const json* v = member(j, "latency_us"))
    r.latency = std::chrono::microseconds(read_int(*v, p.key("latency_us")));
  if (const json* v = member(j, "attempts"))
    r.attempts = static_cast<int>(read_uint(*v, p.key("attempts"), std::numeric_limits<int>::max()));
  return r;
}

llm_error read_error(const json& j, const place& p) {
  expect_object(j, p);
  llm_error e;
  std::string code = read_string(required(j, p, "code"), p.key("code"));
  auto c = llm_errc_from_string(code);
  if (!c) fail(p.key("code"), "not an error code (rate_limited, quota, authentication, ...): " + quote(code));
  e.code = *c;
  e.message = opt_string(j, p, "message");
  if (const json* v = member(j, "http_status"))
    e.http_status = static_cast<int>(read_uint(*v, p.key("http_status"), 999));
  if (const json* v = member(j, "retry_after_ms"))
    e.retry_after = std::chrono::milliseconds(read_int(*v, p.key("retry_after_ms")));
  return e;
}

/// Runs a reader, turning its bad_field into the result's error.
template <class T, class Reader>
bb::result<T> guarded(const json& j, const std::string& where, const char* type, Reader read) {
  try {
    return read(j, place{where, "", type});
  } catch (const bad_field& f) {
    return bb::error{bb::errc::invalid_argument, f.message, {}, f.pointer};
  } catch (const json::exception& e) {
    // Not expected (every access is checked first); kept so that no
    // exception leaves a public function.
    return bb::error{bb::errc::invalid_argument,
                     (where.empty() ? std::string(type) : where) + ": " + e.what()};
  }
}

}  // namespace

// --- public ---------------------------------------------------------------------

std::optional<llm_errc> llm_errc_from_string(std::string_view name) noexcept {
  for (int i = 1; i <= static_cast<int>(llm_errc::invalid_request); ++i) {
    auto c = static_cast<llm_errc>(i);
    if (name == to_string(c)) return c;
  }
  return std::nullopt;
}

json to_json(const tool_call& c) {
  return json{{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}};
}

json to_json(const message& m) {
  json j{{"role", to_string(m.role)}, {"content", m.content}};
  if (!m.tool_calls.empty()) j["tool_calls"] = calls_to_json(m.tool_calls);
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  return j;
}

json to_json(const tool_def& t) {
  return json{{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}};
}

json to_json(const llm_request& r) {
  json j = json::object();
  j["model"] = r.model;
  json msgs = json::array();
  for (const auto& m : r.messages) msgs.push_back(to_json(m));
  j["messages"] = std::move(msgs);
  if (r.temperature) j["temperature"] = *r.temperature;
  if (r.top_p) j["top_p"] = *r.top_p;
  if (r.seed) j["seed"] = *r.seed;
  if (!r.stop.empty()) j["stop"] = r.stop;
  if (r.max_tokens) j["max_tokens"] = *r.max_tokens;
  if (r.response_schema) j["response_schema"] = *r.response_schema;
  if (r.response_schema || r.schema_name != llm_request{}.schema_name) j["schema_name"] = r.schema_name;
  if (!r.tools.empty()) {
    json tools = json::array();
    for (const auto& t : r.tools) tools.push_back(to_json(t));
    j["tools"] = std::move(tools);
  }
  if (!r.tool_choice.empty()) j["tool_choice"] = r.tool_choice;
  if (r.stream) j["stream"] = true;
  if (!r.extra.empty()) j["extra"] = r.extra;
  return j;
}

json to_json(const usage& u) {
  return json{{"prompt", u.prompt}, {"completion", u.completion}, {"cached", u.cached}, {"reasoning", u.reasoning}};
}

json to_json(const llm_response& r) {
  json j = json::object();
  j["id"] = r.id;
  j["model"] = r.model;
  j["content"] = r.content;
  if (!r.tool_calls.empty()) j["tool_calls"] = calls_to_json(r.tool_calls);
  j["finish_reason"] = r.finish_reason;
  j["tokens"] = to_json(r.tokens);
  j["usage_reported"] = r.usage_reported;
  j["cost_usd"] = r.cost_usd;
  j["cost_known"] = r.cost_known;
  j["latency_us"] = static_cast<std::int64_t>(r.latency.count());
  j["attempts"] = r.attempts;
  return j;
}

json to_json(const llm_error& e) {
  json j{{"code", to_string(e.code)}, {"message", e.message}};
  if (e.http_status != 0) j["http_status"] = e.http_status;
  if (e.retry_after) j["retry_after_ms"] = static_cast<std::int64_t>(e.retry_after->count());
  return j;
}

template <>
bb::result<tool_call> from_json<tool_call>(const json& j, const std::string& where) {
  return guarded<tool_call>(j, where, "tool_call", read_tool_call);
}
template <>
bb::result<message> from_json<message>(const json& j, const std::string& where) {
  return guarded<message>(j, where, "message", read_message);
}
template <>
bb::result<tool_def> from_json<tool_def>(const json& j, const std::string& where) {
  return guarded<tool_def>(j, where, "tool_def", read_tool_def);
}
template <>
bb::result<llm_request> from_json<llm_request>(const json& j, const std::string& where) {
  return guarded<llm_request>(j, where, "llm_request", read_request);
}
template <>
bb::result<usage> from_json<usage>(const json& j, const std::string& where) {
  return guarded<usage>(j, where, "usage", read_usage);
}
template <>
bb::result<llm_response> from_json<llm_response>(const json& j, const std::string& where) {
  return guarded<llm_response>(j, where, "llm_response", read_response);
}
template <>
bb::result<llm_error> from_json<llm_error>(const json& j, const std::string& where) {
  return guarded<llm_error>(j, where, "llm_error", read_error);
}

}  // namespace agora
