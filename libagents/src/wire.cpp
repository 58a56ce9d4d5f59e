// The OpenAI Chat Completions and Anthropic Messages wire formats (wire.hpp).
#include "agora/agents/wire.hpp"

#include <map>
#include <utility>
#include <vector>

namespace agora {

const char* to_string(wire_format f) noexcept {
  switch (f) {
    case wire_format::openai: return "openai";
    case wire_format::anthropic: return "anthropic";
  }
  return "unknown";
}

namespace wire {

namespace {

using json = nlohmann::json;

// --- shared helpers -------------------------------------------------------------

// The start of a body for an error message: at most 200 bytes, quoted.
std::string quote_start(std::string_view body) {
  constexpr std::size_t max = 200;
  std::string s(body.substr(0, max));
  return "'" + s + (body.size() > max ? "...'" : "'");
}

llm_error invalid_reply(wire_format f, const std::string& what, std::string_view body) {
  llm_error e;
  e.code = llm_errc::invalid_reply;
  e.message = std::string(to_string(f)) + " reply: " + what + "; body starts " + quote_start(body);
  return e;
}

// The HTTP status an Anthropic error type stands for
// (https://docs.anthropic.com/en/api/errors), so an error event inside a
// stream is classified like the same error sent as an HTTP reply.
int anthropic_error_status(const std::string& type) {
  static const std::map<std::string, int> statuses = {
      {"invalid_request_error", 400}, {"authentication_error", 401}, {"permission_error", 403},
      {"not_found_error", 404},       {"request_too_large", 413},    {"rate_limit_error", 429},
      {"api_error", 500},             {"timeout_error", 504},        {"overloaded_error", 529},
  };
  auto it = statuses.find(type);
  return it == statuses.end() ? 500 : it->second;
}

// An error object inside a 2xx body or a stream: its own numeric code when it
// has one (vLLM and others send {"error": {"code": 400, ...}}), the status its
// Anthropic type stands for, else 500.
llm_error classify_embedded_error(const json& j, std::string_view text, const char* where) {
  int status = 500;
  const json* err = nullptr;
  if (auto it = j.find("error"); it != j.end()) err = &*it;
  if (err && err->is_object()) {
    auto code = err->find("code");
    auto type = err->find("type");
    if (code != err->end() && code->is_number_integer() && code->get<std::int64_t>() >= 400 &&
        code->get<std::int64_t>() <= 599)
      status = static_cast<int>(code->get<std::int64_t>());
    else if (type != err->end() && type->is_string())
      status = anthropic_error_status(type->get<std::string>());
  }
  llm_error e = classify_http_error(status, text, {});
  e.message = std::string(where) + ": " + e.message;
  return e;
}

bool has_error_object(const json& j) {
  auto it = j.find("error");
  return it != j.end() && !it->is_null();
}

// The string at j[key]; "" when absent or null. Fails (returns false) when
// present with another type.
bool opt_string(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bb::status merge_extra(json& body, const json& extra) {
  if (extra.is_null()) return {};
  if (!extra.is_object())
    return bb::error{bb::errc::invalid_argument,
                     "extra: must be a JSON object of top-level keys, got " +
                         extra.dump(-1, ' ', false, json::error_handler_t::replace)};
  for (const auto& [k, v] : extra.items()) {
    if (v.is_null())
      body.erase(k);
    else
      body[k] = v;
  }
  return {};
}

bb::status check_has_conversation(const llm_request& req) {
  for (const auto& m : req.messages)
    if (m.role != role::system) return {};
  return bb::error{bb::errc::invalid_argument,
                   "messages: the request has no user, assistant or tool message (" +
                       std::to_string(req.messages.size()) + " system messages only)"};
}

// Fills tokens from a usage object, or estimates them when there is none.
// `prompt_estimate` gives the prompt's estimated tokens (called only when needed).
template <class PromptEstimate>
std::optional<llm_error> fill_tokens(wire_format f, const json* usage_obj, PromptEstimate prompt_estimate,
                                     llm_response& r, std::string_view body) {
  if (!usage_obj || usage_obj->is_null() || (usage_obj->is_object() && usage_obj->empty())) {
    r.tokens.prompt = prompt_estimate();
    std::uint64_t out = estimate_tokens(r.content);
    for (const auto& c : r.tool_calls) out += estimate_tokens(c.name) + estimate_tokens(c.arguments);
    r.tokens.completion = out;
    r.usage_reported = false;
    return std::nullopt;
  }
  auto u = f == wire_format::openai ? usage::from_openai(*usage_obj) : usage::from_anthropic(*usage_obj);
  if (!u) return invalid_reply(f, u.error().message, body);
  r.tokens = *u;
  r.usage_reported = true;
  return std::nullopt;
}

// --- OpenAI: request ------------------------------------------------------------

bb::result<json> openai_body(const llm_request& req, const std::string& model) {
  json body = json::object();
  body["model"] = model;
  json msgs = json::array();
  for (const auto& m : req.messages) {
    json jm = {{"role", to_string(m.role)}};
    switch (m.role) {
      case role::system:
      case role::user: jm["content"] = m.content; break;
      case role::assistant:
        // With tool calls and no text, the API wants content null.
        jm["content"] = (m.content.empty() && !m.tool_calls.empty()) ? json(nullptr) : json(m.content);
        if (!m.tool_calls.empty()) {
          json calls = json::array();
          for (const auto& c : m.tool_calls)
            calls.push_back({{"id", c.id},
                             {"type", "function"},
                             {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
          jm["tool_calls"] = std::move(calls);
        }
        break;
      case role::tool:
        jm["tool_call_id"] = m.tool_call_id;
        jm["content"] = m.content;
        break;
    }
    msgs.push_back(std::move(jm));
  }
  body["messages"] = std::move(msgs);
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (req.seed) body["seed"] = *req.seed;
  if (!req.stop.empty()) body["stop"] = req.stop;
  if (req.max_tokens) body["max_tokens"] = *req.max_tokens;
  if (req.response_schema)
    body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", req.schema_name}, {"schema", *req.response_schema}, {"strict", true}}}};
  if (!req.tools.empty()) {
    json tools = json::array();
    for (const auto& t : req.tools) {
      json fn = {{"name", t.name}, {"parameters", t.parameters}};
      if (!t.description.empty()) fn["description"] = t.description;
      tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    body["tools"] = std::move(tools);
  }
  if (req.tool_choice == "auto" || req.tool_choice == "none" || req.tool_choice == "required")
    body["tool_choice"] = req.tool_choice;
  else if (!req.tool_choice.empty())
    body["tool_choice"] = {{"type", "function"}, {"function", {{"name", req.tool_choice}}}};
  if (req.stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

// --- Anthropic: request ---------------------------------------------------------

bb::result<json> anthropic_body(const llm_request& req, const std::string& model,
                                std::uint32_t default_max_tokens) {
  json body = json::object();
  body["model"] = model;
  body["max_tokens"] = req.max_tokens.value_or(default_max_tokens);
  std::string system;
  json msgs = json::array();
  bool last_is_tool_results = false;  // msgs.back() is a user message of tool_result blocks
  for (std::size_t i = 0; i < req.messages.size(); ++i) {
    const message& m = req.messages[i];
    switch (m.role) {
      case role::system:
        if (!system.empty()) system += "\n\n";
        system += m.content;
        continue;  // a system message between tool results does not split them
      case role::user: msgs.push_back({{"role", "user"}, {"content", m.content}}); break;
      case role::assistant:
        if (m.tool_calls.empty()) {
          msgs.push_back({{"role", "assistant"}, {"content", m.content}});
        } else {
          json blocks = json::array();
          if (!m.content.empty()) blocks.push_back({{"type", "text"}, {"text", m.content}});
          for (std::size_t k = 0; k < m.tool_calls.size(); ++k) {
            const tool_call& c = m.tool_calls[k];
            json input = c.arguments.empty() ? json::object()
                                             : json::parse(c.arguments, nullptr, false);
            if (input.is_discarded() || !input.is_object())
              return bb::error{bb::errc::invalid_argument,
                               "messages[" + std::to_string(i) + "].tool_calls[" + std::to_string(k) +
                                   "].arguments: Anthropic needs a JSON object, got " +
                                   quote_start(c.arguments),
                               "", "/messages/" + std::to_string(i) + "/tool_calls/" + std::to_string(k) +
                                       "/arguments"};
            blocks.push_back({{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", std::move(input)}});
          }
          msgs.push_back({{"role", "assistant"}, {"content", std::move(blocks)}});
        }
        break;
      case role::tool: {
        json block = {{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.content}};
        if (last_is_tool_results)
          msgs.back()["content"].push_back(std::move(block));
        else
          msgs.push_back({{"role", "user"}, {"content", json::array({std::move(block)})}});
        last_is_tool_results = true;
        continue;
      }
    }
    last_is_tool_results = false;
  }
  if (!system.empty()) body["system"] = system;
  body["messages"] = std::move(msgs);
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (!req.stop.empty()) body["stop_sequences"] = req.stop;
  // req.seed: the Messages API has no seed; dropped.
  json tools = json::array();
  for (const auto& t : req.tools) {
    json jt = {{"name", t.name}, {"input_schema", t.parameters}};
    if (!t.description.empty()) jt["description"] = t.description;
    tools.push_back(std::move(jt));
  }
  if (req.response_schema) {
    // No schema mode: the schema becomes a tool the model is forced to call;
    // parse_reply returns that call's input as the content.
    for (const auto& t : req.tools)
      if (t.name == req.schema_name)
        return bb::error{bb::errc::invalid_argument,
                         "schema_name: '" + req.schema_name +
                             "' is also the name of a tool; Anthropic's schema mode sends the schema as "
                             "a tool of that name, so pick another schema_name"};
    tools.push_back({{"name", req.schema_name},
                     {"description", "Answer by calling this tool; its input is your whole answer."},
                     {"input_schema", *req.response_schema}});
  }
  if (!tools.empty()) body["tools"] = std::move(tools);
  if (req.response_schema)
    body["tool_choice"] = {{"type", "tool"}, {"name", req.schema_name}};
  else if (req.tool_choice == "auto" || req.tool_choice == "none")
    body["tool_choice"] = {{"type", req.tool_choice}};
  else if (req.tool_choice == "required")
    body["tool_choice"] = {{"type", "any"}};
  else if (!req.tool_choice.empty())
    body["tool_choice"] = {{"type", "tool"}, {"name", req.tool_choice}};
  if (req.stream) body["stream"] = true;
  return body;
}

// --- OpenAI: reply --------------------------------------------------------------

llm_result openai_reply(const json& j, std::string_view body, const llm_request& req) {
  const auto f = wire_format::openai;
  llm_response r;
  if (!opt_string(j, "id", r.id)) return invalid_reply(f, "field 'id' is not a string", body);
  if (!opt_string(j, "model", r.model)) return invalid_reply(f, "field 'model' is not a string", body);
  auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty())
    return invalid_reply(f, "field 'choices' is missing or not a non-empty array", body);
  const json& c0 = (*choices)[0];
  if (!c0.is_object()) return invalid_reply(f, "field 'choices[0]' is not an object", body);
  auto msg = c0.find("message");
  if (msg == c0.end() || !msg->is_object())
    return invalid_reply(f, "field 'choices[0].message' is missing or not an object", body);
  if (!opt_string(*msg, "content", r.content))
    return invalid_reply(f, "field 'choices[0].message.content' is not a string", body);
  if (!opt_string(c0, "finish_reason", r.finish_reason))
    return invalid_reply(f, "field 'choices[0].finish_reason' is not a string", body);
  if (auto calls = msg->find("tool_calls"); calls != msg->end() && !calls->is_null()) {
    if (!calls->is_array()) return invalid_reply(f, "field 'choices[0].message.tool_calls' is not an array", body);
    for (std::size_t k = 0; k < calls->size(); ++k) {
      const json& c = (*calls)[k];
      const std::string where = "choices[0].message.tool_calls[" + std::to_string(k) + "]";
      auto fn = c.is_object() ? c.find("function") : c.end();
      if (!c.is_object() || fn == c.end() || !fn->is_object())
        return invalid_reply(f, "field '" + where + ".function' is missing or not an object", body);
      tool_call tc;
      if (!opt_string(c, "id", tc.id)) return invalid_reply(f, "field '" + where + ".id' is not a string", body);
      auto name = fn->find("name");
      if (name == fn->end() || !name->is_string())
        return invalid_reply(f, "field '" + where + ".function.name' is missing or not a string", body);
      tc.name = name->get<std::string>();
      if (auto a = fn->find("arguments"); a != fn->end() && !a->is_null())
        tc.arguments = a->is_string() ? a->get<std::string>() : a->dump();  // some servers send an object
      r.tool_calls.push_back(std::move(tc));
    }
  }
  const json* u = nullptr;
  if (auto it = j.find("usage"); it != j.end()) u = &*it;
  if (auto e = fill_tokens(f, u, [&] { return estimate_prompt_tokens(req); }, r, body)) return *e;
  return r;
}

// --- Anthropic: reply -----------------------------------------------------------

// One content block, from a reply or rebuilt from a stream.
struct block {
  std::string type;
  std::string text;       // text blocks
  std::string id, name;   // tool_use blocks
  std::string arguments;  // tool_use: the input as JSON text
};

// Whether a reply carries structured output as Anthropic's forced tool.
struct schema_mode {
  bool on = false;
  std::string name;
  static schema_mode of(const llm_request& req) { return {req.response_schema.has_value(), req.schema_name}; }
};

std::string anthropic_finish_reason(const std::string& stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return stop_reason;
}

// Joins the blocks into a response: text blocks into content; tool_use
// blocks into tool calls, except the forced schema tool in schema mode,
// whose input becomes the content.
void anthropic_fill(const std::vector<block>& blocks, const std::string& stop_reason, const schema_mode& schema,
                    llm_response& r) {
  bool schema_answer = false;
  std::string text;
  for (const auto& b : blocks) {
    if (b.type == "text") {
      text += b.text;
    } else if (b.type == "tool_use") {
      if (schema.on && b.name == schema.name && !schema_answer) {
        schema_answer = true;
        r.content = b.arguments;
      } else {
        r.tool_calls.push_back({b.id, b.name, b.arguments});
      }
    }
  }
  if (!schema_answer) r.content = std::move(text);
  r.finish_reason = anthropic_finish_reason(stop_reason);
  // The forced tool call is the answer, not a request to run a tool.
  if (schema_answer && r.finish_reason == "tool_calls") r.finish_reason = "stop";
}

llm_result anthropic_reply(const json& j, std::string_view body, const llm_request& req) {
  const auto f = wire_format::anthropic;
  llm_response r;
  if (!opt_string(j, "id", r.id)) return invalid_reply(f, "field 'id' is not a string", body);
  if (!opt_string(j, "model", r.model)) return invalid_reply(f, "field 'model' is not a string", body);
  auto content = j.find("content");
  if (content == j.end() || !content->is_array())
    return invalid_reply(f, "field 'content' is missing or not an array", body);
  std::vector<block> blocks;
  for (std::size_t k = 0; k < content->size(); ++k) {
    const json& c = (*content)[k];
    const std::string where = "content[" + std::to_string(k) + "]";
    block b;
    if (!c.is_object() || !opt_string(c, "type", b.type) || b.type.empty())
      return invalid_reply(f, "field '" + where + ".type' is missing or not a string", body);
    if (b.type == "text") {
      auto t = c.find("text");
      if (t == c.end() || !t->is_string())
        return invalid_reply(f, "field '" + where + ".text' is missing or not a string", body);
      b.text = t->get<std::string>();
    } else if (b.type == "tool_use") {
      auto name = c.find("name");
      if (name == c.end() || !name->is_string())
        return invalid_reply(f, "field '" + where + ".name' is missing or not a string", body);
      b.name = name->get<std::string>();
      if (!opt_string(c, "id", b.id)) return invalid_reply(f, "field '" + where + ".id' is not a string", body);
      auto input = c.find("input");
      b.arguments = (input == c.end() || input->is_null()) ? "{}" : input->dump();
    }  // thinking and other block types carry nothing this model holds
    blocks.push_back(std::move(b));
  }
  std::string stop_reason;
  if (!opt_string(j, "stop_reason", stop_reason))
    return invalid_reply(f, "field 'stop_reason' is not a string", body);
  anthropic_fill(blocks, stop_reason, schema_mode::of(req), r);
  const json* u = nullptr;
  if (auto it = j.find("usage"); it != j.end()) u = &*it;
  if (auto e = fill_tokens(f, u, [&] { return estimate_prompt_tokens(req); }, r, body)) return *e;
  return r;
}

// --- stream assemblers ----------------------------------------------------------

llm_error cut_off(wire_format f, const sse_end& end, const char* marker) {
  llm_error e;
  e.code = llm_errc::transport;
  e.message = std::string(to_string(f)) + " stream ended without " + marker +
              (end.partial ? " (cut off in the middle of an event)" : "") + " after " +
              std::to_string(end.events) + " events";
  return e;
}

class openai_assembler final : public stream_assembler {
 public:
  explicit openai_assembler(const llm_request& req) : prompt_estimate_(estimate_prompt_tokens(req)) {}

  std::optional<llm_error> feed(const sse_event& e) override {
    if (failed_) return failed_;
    if (done_) return std::nullopt;  // nothing counts after [DONE]
    ++chunks_;
    if (e.done()) {
      done_ = true;
      return std::nullopt;
    }
    json j = json::parse(e.data, nullptr, false);
    if (e.event == "error" && (j.is_discarded() || !j.is_object()))
      return fail(classify_embedded_error(json::object(), e.data, "error event inside the stream"));
    if (j.is_discarded() || !j.is_object())
      return fail(invalid_reply(f_, "stream chunk " + std::to_string(chunks_) + " is not a JSON object", e.data));
    if (e.event == "error" || has_error_object(j))
      return fail(classify_embedded_error(j, e.data, "error inside the stream"));
    if (r_.id.empty() && !opt_string(j, "id", r_.id))
      return fail(invalid_reply(f_, "chunk " + std::to_string(chunks_) + ": field 'id' is not a string", e.data));
    if (r_.model.empty() && !opt_string(j, "model", r_.model))
      return fail(invalid_reply(f_, "chunk " + std::to_string(chunks_) + ": field 'model' is not a string", e.data));
    if (auto u = j.find("usage"); u != j.end() && !u->is_null()) usage_ = *u;
    auto choices = j.find("choices");
    if (choices == j.end() || choices->is_null()) return std::nullopt;
    if (!choices->is_array())
      return fail(invalid_reply(f_, "chunk " + std::to_string(chunks_) + ": field 'choices' is not an array", e.data));
    for (const json& c : *choices) {
      if (!c.is_object()) continue;
      auto index = c.find("index");  // one choice is asked for: index 0 (or none given)
      if (index != c.end() && !(index->is_number_integer() && index->get<std::int64_t>() == 0)) continue;
      if (auto err = choice(c, e.data)) return fail(std::move(*err));
    }
    return std::nullopt;
  }

  llm_result finish(const sse_end& end) override {
    if (failed_) return *failed_;
    if (!done_ || end.partial) return cut_off(f_, end, "[DONE]");
    for (auto& [index, call] : calls_) r_.tool_calls.push_back(std::move(call));
    const std::string body = usage_.dump();
    if (auto e = fill_tokens(f_, usage_.is_null() ? nullptr : &usage_, [this] { return prompt_estimate_; }, r_, body))
      return *e;
    return std::move(r_);
  }

 private:
  std::optional<llm_error> choice(const json& c, std::string_view data) {
    const std::string where = "chunk " + std::to_string(chunks_) + ": field 'choices[0].";
    if (!opt_string(c, "finish_reason", finish_))
      return invalid_reply(f_, where + "finish_reason' is not a string", data);
    if (!finish_.empty()) r_.finish_reason = finish_;
    auto delta = c.find("delta");
    if (delta == c.end() || !delta->is_object()) return std::nullopt;
    std::string text;
    if (!opt_string(*delta, "content", text)) return invalid_reply(f_, where + "delta.content' is not a string", data);
    if (!text.empty()) {
      r_.content += text;
      if (on_delta) on_delta(text);
    }
    auto calls = delta->find("tool_calls");
    if (calls == delta->end() || calls->is_null()) return std::nullopt;
    if (!calls->is_array()) return invalid_reply(f_, where + "delta.tool_calls' is not an array", data);
    for (std::size_t k = 0; k < calls->size(); ++k) {
      const json& tc = (*calls)[k];
      const std::string at = where + "delta.tool_calls[" + std::to_string(k) + "]";
      if (!tc.is_object()) return invalid_reply(f_, at + "' is not an object", data);
      auto idx = tc.find("index");
      // Fragments are joined by index; a server that sends none means the position.
      std::int64_t index = static_cast<std::int64_t>(k);
      if (idx != tc.end() && !idx->is_null()) {
        if (!idx->is_number_integer()) return invalid_reply(f_, at + ".index' is not an integer", data);
        index = idx->get<std::int64_t>();
      }
      tool_call& call = calls_[index];
      std::string id;
      if (!opt_string(tc, "id", id)) return invalid_reply(f_, at + ".id' is not a string", data);
      if (!id.empty()) call.id = id;  // some servers repeat the id in every fragment
      auto fn = tc.find("function");
      if (fn == tc.end() || fn->is_null()) continue;
      if (!fn->is_object()) return invalid_reply(f_, at + ".function' is not an object", data);
      std::string name, args;
      if (!opt_string(*fn, "name", name)) return invalid_reply(f_, at + ".function.name' is not a string", data);
      if (!opt_string(*fn, "arguments", args))
        return invalid_reply(f_, at + ".function.arguments' is not a string", data);
      call.name += name;
      call.arguments += args;
    }
    return std::nullopt;
  }

  std::optional<llm_error> fail(llm_error e) {
    failed_ = std::move(e);
    return failed_;
  }

  static constexpr wire_format f_ = wire_format::openai;
  std::uint64_t prompt_estimate_;
  llm_response r_;
  std::string finish_;
  std::map<std::int64_t, tool_call> calls_;
  json usage_;  // null until a chunk carries usage
  std::size_t chunks_ = 0;
  bool done_ = false;
  std::optional<llm_error> failed_;
};

class anthropic_assembler final : public stream_assembler {
 public:
  explicit anthropic_assembler(const llm_request& req)
      : prompt_estimate_(estimate_prompt_tokens(req)), schema_(schema_mode::of(req)) {}

  std::optional<llm_error> feed(const sse_event& e) override {
    if (failed_) return failed_;
    if (stopped_) return std::nullopt;  // nothing counts after message_stop
    ++events_;
    json j = json::parse(e.data, nullptr, false);
    if (e.event == "error" && (j.is_discarded() || !j.is_object()))
      return fail(classify_embedded_error(json::object(), e.data, "error event inside the stream"));
    if (j.is_discarded() || !j.is_object())
      return fail(invalid_reply(f_, "stream event " + std::to_string(events_) + " (" + e.event +
                                        ") is not a JSON object", e.data));
    std::string type = e.event;
    if (auto t = j.find("type"); t != j.end() && t->is_string()) type = t->get<std::string>();
    if (e.event == "error" || type == "error" || has_error_object(j)) {
      llm_error err = classify_embedded_error(j, e.data, "error event inside the stream");
      return fail(std::move(err));
    }
    const std::string where = "event " + std::to_string(events_) + " (" + type + "): field '";
    if (type == "message_start") {
      auto m = j.find("message");
      if (m == j.end() || !m->is_object()) return fail(invalid_reply(f_, where + "message' is missing", e.data));
      if (!opt_string(*m, "id", r_.id) || !opt_string(*m, "model", r_.model))
        return fail(invalid_reply(f_, where + "message.id' or 'message.model' is not a string", e.data));
      if (auto u = m->find("usage"); u != m->end() && u->is_object()) usage_ = *u;
    } else if (type == "content_block_start") {
      auto cb = j.find("content_block");
      auto idx = index(j);
      if (!idx || cb == j.end() || !cb->is_object())
        return fail(invalid_reply(f_, where + "index' or 'content_block' is missing", e.data));
      open_block& b = blocks_[*idx];
      if (!opt_string(*cb, "type", b.b.type) || !opt_string(*cb, "text", b.b.text) ||
          !opt_string(*cb, "id", b.b.id) || !opt_string(*cb, "name", b.b.name))
        return fail(invalid_reply(f_, where + "content_block' has a field of the wrong type", e.data));
      if (auto in = cb->find("input"); in != cb->end() && !in->is_null()) b.start_input = in->dump();
    } else if (type == "content_block_delta") {
      auto idx = index(j);
      auto d = j.find("delta");
      if (!idx || d == j.end() || !d->is_object())
        return fail(invalid_reply(f_, where + "index' or 'delta' is missing", e.data));
      auto it = blocks_.find(*idx);
      if (it == blocks_.end())
        return fail(invalid_reply(f_, "event " + std::to_string(events_) + ": a delta for content block " +
                                          std::to_string(*idx) + ", which never started", e.data));
      std::string dtype, piece;
      opt_string(*d, "type", dtype);
      if (dtype == "text_delta") {
        if (!opt_string(*d, "text", piece)) return fail(invalid_reply(f_, where + "delta.text' is not a string", e.data));
        it->second.b.text += piece;
        if (on_delta && !piece.empty()) on_delta(piece);
      } else if (dtype == "input_json_delta") {
        if (!opt_string(*d, "partial_json", piece))
          return fail(invalid_reply(f_, where + "delta.partial_json' is not a string", e.data));
        it->second.json_text += piece;
        // In schema mode this tool's input is the answer's text: stream it too.
        if (on_delta && !piece.empty() && schema_.on && it->second.b.name == schema_.name)
          on_delta(piece);
      }  // thinking_delta, signature_delta, citations_delta: nothing this model holds
    } else if (type == "message_delta") {
      if (auto d = j.find("delta"); d != j.end() && d->is_object())
        if (!opt_string(*d, "stop_reason", stop_reason_))
          return fail(invalid_reply(f_, where + "delta.stop_reason' is not a string", e.data));
      // message_delta's counts are cumulative: they replace message_start's
      // (whose output_tokens is a placeholder), key by key.
      if (auto u = j.find("usage"); u != j.end() && u->is_object())
        for (const auto& [k, v] : u->items()) usage_[k] = v;
    } else if (type == "message_stop") {
      stopped_ = true;
    }  // ping, content_block_stop and event types added later carry nothing needed
    return std::nullopt;
  }

  llm_result finish(const sse_end& end) override {
    if (failed_) return *failed_;
    if (!stopped_ || end.partial) return cut_off(f_, end, "message_stop");
    std::vector<block> blocks;
    for (auto& [idx, ob] : blocks_) {
      block b = std::move(ob.b);
      if (b.type == "tool_use") {
        // The joined fragments, normalized like a non-streamed reply's
        // input; kept as sent when they are not valid JSON.
        if (ob.json_text.empty()) {
          b.arguments = ob.start_input.empty() ? "{}" : ob.start_input;
        } else {
          json parsed = json::parse(ob.json_text, nullptr, false);
          b.arguments = parsed.is_discarded() ? ob.json_text : parsed.dump();
        }
      }
      blocks.push_back(std::move(b));
    }
    anthropic_fill(blocks, stop_reason_, schema_, r_);
    const std::string body = usage_.dump();
    if (auto e = fill_tokens(f_, usage_.is_object() ? &usage_ : nullptr, [this] { return prompt_estimate_; }, r_, body))
      return *e;
    return std::move(r_);
  }

 private:
  struct open_block {
    block b;
    std::string json_text;    // input_json_delta fragments
    std::string start_input;  // content_block_start's input, as JSON text
  };

  static std::optional<std::int64_t> index(const json& j) {
    auto i = j.find("index");
    if (i == j.end() || !i->is_number_integer()) return std::nullopt;
    return i->get<std::int64_t>();
  }

  std::optional<llm_error> fail(llm_error e) {
    failed_ = std::move(e);
    return failed_;
  }

  static constexpr wire_format f_ = wire_format::anthropic;
  std::uint64_t prompt_estimate_;
  schema_mode schema_;
  llm_response r_;
  std::map<std::int64_t, open_block> blocks_;
  std::string stop_reason_;
  json usage_;  // null until message_start
  std::size_t events_ = 0;
  bool stopped_ = false;
  std::optional<llm_error> failed_;
};

}  // namespace

bb::result<nlohmann::json> to_request_body(wire_format f, const llm_request& req,
                                           const std::string& default_model,
                                           std::uint32_t default_max_tokens) {
  if (auto s = check_has_conversation(req); !s) return s.error();
  const std::string& model = req.model.empty() ? default_model : req.model;
  auto body = f == wire_format::openai ? openai_body(req, model) : anthropic_body(req, model, default_max_tokens);
  if (!body) return body;
  if (auto s = merge_extra(*body, req.extra); !s) return s.error();
  return body;
}

llm_result parse_reply(wire_format f, std::string_view body, const llm_request& req) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return invalid_reply(f, "not JSON", body);
  if (!j.is_object()) return invalid_reply(f, "not a JSON object", body);
  // Some OpenAI-compatible servers answer an error with status 200.
  if (has_error_object(j)) return classify_embedded_error(j, body, "2xx reply carrying an error");
  return f == wire_format::openai ? openai_reply(j, body, req) : anthropic_reply(j, body, req);
}

std::unique_ptr<stream_assembler> stream_assembler::make(wire_format f, const llm_request& req) {
  if (f == wire_format::openai) return std::make_unique<openai_assembler>(req);
  return std::make_unique<anthropic_assembler>(req);
}

}  // namespace wire
}  // namespace agora
