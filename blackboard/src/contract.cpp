#include "agora/blackboard/contract.hpp"

#include <cmath>
#include <map>

#include "json_util.hpp"

namespace agora::bb {

namespace {

enum type_bit : unsigned {
  t_object = 1, t_array = 2, t_string = 4, t_number = 8, t_integer = 16, t_boolean = 32,
  t_null = 64,
};

struct schema_node {
  unsigned types = 0;  // 0 = any
  std::vector<std::string> required;
  std::map<std::string, schema_node, std::less<>> properties;
  std::optional<bool> additional_allowed;
  std::shared_ptr<schema_node> additional_schema;
  std::shared_ptr<schema_node> items;
  std::optional<json> enum_values;
  std::optional<json> const_value;
  std::optional<double> minimum, maximum;
  std::optional<std::size_t> min_length, max_length, min_items, max_items;
};

std::optional<unsigned> type_from_name(const std::string& n) {
  if (n == "object") return t_object;
  if (n == "array") return t_array;
  if (n == "string") return t_string;
  if (n == "number") return t_number;
  if (n == "integer") return t_integer;
  if (n == "boolean") return t_boolean;
  if (n == "null") return t_null;
  return std::nullopt;
}

std::string type_list(unsigned types) {
  static const std::pair<unsigned, const char*> names[] = {
      {t_object, "object"}, {t_array, "array"},     {t_string, "string"}, {t_number, "number"},
      {t_integer, "integer"}, {t_boolean, "boolean"}, {t_null, "null"}};
  std::string out;
  for (auto& [bit, name] : names) {
    if (!(types & bit)) continue;
    if (!out.empty()) out += " or ";
    out += name;
  }
  return out;
}

error schema_error(const std::string& path, const std::string& why) {
  return error{errc::invalid_contract,
               "schema at " + (path.empty() ? std::string("/") : path) + ": " + why, {}, path};
}

std::optional<std::size_t> as_count(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::size_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::size_t>();
  return std::nullopt;
}

result<schema_node> compile(const json& s, const std::string& path);

status compile_keyword(schema_node& n, const std::string& kw, const json& v,
                       const std::string& path) {
  const std::string here = path + "/" + detail::pointer_token(kw);
  if (kw == "type") {
    auto add = [&](const json& t, const std::string& at) -> status {
      if (!t.is_string()) return schema_error(at, "type names must be strings");
      auto bit = type_from_name(t.get<std::string>());
      if (!bit) return schema_error(at, "unknown type '" + t.get<std::string>() + "'");
      n.types |= *bit;
      return {};
    };
    if (v.is_array()) {
      if (v.empty()) return schema_error(here, "type array is empty");
      for (std::size_t i = 0; i < v.size(); ++i)
        if (auto st = add(v[i], here + "/" + std::to_string(i)); !st) return st;
      return {};
    }
    return add(v, here);
  }
  if (kw == "required") {
    if (!v.is_array()) return schema_error(here, "must be an array of strings");
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string())
        return schema_error(here + "/" + std::to_string(i), "must be a string");
      n.required.push_back(v[i].get<std::string>());
    }
    return {};
  }
  if (kw == "properties") {
    if (!v.is_object()) return schema_error(here, "must be an object");
    for (auto it = v.begin(); it != v.end(); ++it) {
      auto sub = compile(it.value(), here + "/" + detail::pointer_token(it.key()));
      if (!sub) return std::move(sub).take_error();
      n.properties.emplace(it.key(), std::move(*sub));
    }
    return {};
  }
  if (kw == "additionalProperties") {
    if (v.is_boolean()) { n.additional_allowed = v.get<bool>(); return {}; }
    auto sub = compile(v, here);
    if (!sub) return std::move(sub).take_error();
    n.additional_schema = std::make_shared<schema_node>(std::move(*sub));
    return {};
  }
  if (kw == "items") {
    auto sub = compile(v, here);
    if (!sub) return std::move(sub).take_error();
    n.items = std::make_shared<schema_node>(std::move(*sub));
    return {};
  }
  if (kw == "enum") {
    if (!v.is_array() || v.empty()) return schema_error(here, "must be a non-empty array");
    n.enum_values = v;
    return {};
  }
  if (kw == "const") { n.const_value = v; return {}; }
  if (kw == "minimum" || kw == "maximum") {
    if (!v.is_number()) return schema_error(here, "must be a number");
    (kw == "minimum" ? n.minimum : n.maximum) = v.get<double>();
    return {};
  }
  if (kw == "minLength" || kw == "maxLength" || kw == "minItems" || kw == "maxItems") {
    auto c = as_count(v);
    if (!c) return schema_error(here, "must be a non-negative integer");
    if (kw == "minLength") n.min_length = c;
    else if (kw == "maxLength") n.max_length = c;
    else if (kw == "minItems") n.min_items = c;
    else n.max_items = c;
    return {};
  }
  // Annotations change nothing about validity.
  if (kw == "$schema" || kw == "$id" || kw == "$comment" || kw == "title" ||
      kw == "description" || kw == "default" || kw == "examples")
    return {};
  return schema_error(here, "unsupported keyword '" + kw +
                                "' (supported: type, required, properties, "
                                "additionalProperties, items, enum, const, minimum, maximum, "
                                "minLength, maxLength, minItems, maxItems)");
}

result<schema_node> compile(const json& s, const std::string& path) {
  if (s.is_boolean()) {
    schema_node n;
    if (!s.get<bool>()) n.enum_values = json::array();  // nothing is allowed
    return n;
  }
  if (!s.is_object()) return schema_error(path, "a schema must be an object");
  schema_node n;
  for (auto it = s.begin(); it != s.end(); ++it)
    if (auto st = compile_keyword(n, it.key(), it.value(), path); !st)
      return std::move(st).take_error();
  return n;
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xc0) != 0x80) ++n;
  return n;
}

unsigned type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return t_object;
    case json::value_t::array: return t_array;
    case json::value_t::string: return t_string;
    case json::value_t::boolean: return t_boolean;
    case json::value_t::null: return t_null;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return t_number | t_integer;
    case json::value_t::number_float: {
      double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? (t_number | t_integer) : t_number;
    }
    default: return 0;
  }
}

std::string short_json(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::optional<contract_violation> check_node(const schema_node& n, const json& v,
                                             const std::string& path) {
  auto fail = [&](std::string why) { return contract_violation{path, std::move(why)}; };
  if (n.types && !(type_of(v) & n.types))
    return fail("expected " + type_list(n.types) + ", got " + detail::type_name(v));
  if (n.enum_values) {
    bool found = false;
    for (const auto& e : *n.enum_values)
      if (e == v) { found = true; break; }
    if (!found) return fail(short_json(v) + " is not one of " + short_json(*n.enum_values));
  }
  if (n.const_value && *n.const_value != v)
    return fail("expected " + short_json(*n.const_value) + ", got " + short_json(v));
  if (v.is_number()) {
    double d = v.get<double>();
    if (n.minimum && d < *n.minimum)
      return fail(short_json(v) + " is less than the minimum " + short_json(*n.minimum));
    if (n.maximum && d > *n.maximum)
      return fail(short_json(v) + " is greater than the maximum " + short_json(*n.maximum));
  }
  if (v.is_string()) {
    auto len = code_points(v.get_ref<const std::string&>());
    if (n.min_length && len < *n.min_length)
      return fail("string of length " + std::to_string(len) + " is shorter than minLength " +
                  std::to_string(*n.min_length));
    if (n.max_length && len > *n.max_length)
      return fail("string of length " + std::to_string(len) + " is longer than maxLength " +
                  std::to_string(*n.max_length));
  }
  if (v.is_array()) {
    if (n.min_items && v.size() < *n.min_items)
      return fail("array of " + std::to_string(v.size()) + " items is shorter than minItems " +
                  std::to_string(*n.min_items));
    if (n.max_items && v.size() > *n.max_items)
      return fail("array of " + std::to_string(v.size()) + " items is longer than maxItems " +
                  std::to_string(*n.max_items));
    if (n.items)
      for (std::size_t i = 0; i < v.size(); ++i)
        if (auto viol = check_node(*n.items, v[i], path + "/" + std::to_string(i))) return viol;
  }
  if (v.is_object()) {
    for (const auto& r : n.required)
      if (!v.contains(r))
        return contract_violation{path + "/" + detail::pointer_token(r),
                                  "required field '" + r + "' is missing"};
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string sub = path + "/" + detail::pointer_token(it.key());
      auto p = n.properties.find(it.key());
      if (p != n.properties.end()) {
        if (auto viol = check_node(p->second, it.value(), sub)) return viol;
      } else if (n.additional_allowed == false) {
        return contract_violation{sub, "field '" + it.key() + "' is not allowed"};
      } else if (n.additional_schema) {
        if (auto viol = check_node(*n.additional_schema, it.value(), sub)) return viol;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

struct contract::impl {
  std::string description;
  std::optional<schema_node> schema;
  predicate pred;
};

result<contract> contract::from_schema(const json& schema) {
  auto node = compile(schema, "");
  if (!node) return std::move(node).take_error();
  auto p = std::make_shared<impl>();
  p->description = schema.dump(-1, ' ', false, json::error_handler_t::replace);
  p->schema = std::move(*node);
  return contract{std::move(p)};
}

contract contract::from_predicate(std::string name, predicate pred) {
  auto p = std::make_shared<impl>();
  p->description = "predicate " + name;
  p->pred = std::move(pred);
  return contract{std::move(p)};
}

std::optional<contract_violation> contract::check(const json& value) const {
  if (impl_->schema) return check_node(*impl_->schema, value, "");
  if (!impl_->pred) return std::nullopt;
  try {
    return impl_->pred(value);
  } catch (const std::exception& e) {
    return contract_violation{"", impl_->description + " threw: " + e.what()};
  } catch (...) {
    return contract_violation{"", impl_->description + " threw a non-standard exception"};
  }
}

const std::string& contract::description() const noexcept { return impl_->description; }

}  // namespace agora::bb
