/// \file contract.hpp
/// Contracts: what a value written under a key pattern must look like.
///
/// A contract is either a JSON Schema subset or a C++ predicate:
/// ```cpp
/// auto c = agora::bb::contract::from_schema(R"({
///   "type": "object", "required": ["answer", "confidence"],
///   "properties": {
///     "answer": {"type": "string", "minLength": 1},
///     "confidence": {"type": "number", "minimum": 0, "maximum": 1}}})"_json);
/// if (!c) return c.error();            // errc::invalid_contract, names the schema path
/// bb.set_contract("runs/*/answers/*", std::move(*c));
/// ```
/// Supported keywords: `type` (a name or an array of names among object,
/// array, string, number, integer, boolean, null), `required`, `properties`,
/// `additionalProperties` (boolean or schema), `items` (a schema for every
/// element), `enum`, `const`, `minimum`, `maximum`, `minLength`, `maxLength`
/// (in code points), `minItems`, `maxItems`. Any other keyword is refused at
/// compile time rather than silently ignored.
///
/// Thread-safety: an immutable value once built; `check` may run on any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::bb {

/// Where and why a value breaks a contract.
struct contract_violation {
  std::string path;     ///< JSON pointer into the value, "" for the whole value
  std::string message;  ///< e.g. "expected number, got string"
};

class contract {
 public:
  /// A predicate returns nothing when the value is acceptable.
  using predicate = std::function<std::optional<contract_violation>(const json&)>;

  /// Compiles a schema. Fails with errc::invalid_contract naming the schema
  /// path of the first thing it cannot use (unknown keyword, wrong type).
  static result<contract> from_schema(const json& schema);

  /// Wraps a predicate; `name` appears in violation messages. The predicate
  /// must not throw (an exception is reported as a violation).
  static contract from_predicate(std::string name, predicate p);

  /// The first violation, or nothing.
  std::optional<contract_violation> check(const json& value) const;

  /// The schema text, or "predicate <name>".
  const std::string& description() const noexcept;

  struct impl;  // private; public only so the source can define it

 private:
  explicit contract(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<const impl> impl_;
};

}  // namespace agora::bb
