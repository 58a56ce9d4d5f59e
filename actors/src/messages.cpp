#include "agora/actors/messages.hpp"

#include <exception>

#include <caf/actor_system_config.hpp>

#include "registration.hpp"

namespace agora::actors {

entry_data to_entry_data(const bb::entry& e) {
  entry_data out;
  out.key = e.key();
  // Stored values were validated as UTF-8 on promotion, so strict dumping
  // cannot fail here; `replace` only makes sure nothing can throw.
  out.value = e.value().dump(-1, ' ', false, bb::json::error_handler_t::replace);
  out.author = e.author();
  out.create_revision = e.create_revision();
  out.mod_revision = e.mod_revision();
  out.version = e.version();
  out.deleted = !e.exists() && !e.key().empty();
  return out;
}

record_data to_record_data(const bb::txn_record& r) {
  record_data out;
  out.revision = r.revision;
  out.txn_id = r.txn_id;
  out.author = r.author;
  out.time_us = r.time_us;
  out.changes.reserve(r.changes.size());
  for (const auto& c : r.changes) out.changes.push_back(change_data{c.kind, to_entry_data(c.after)});
  return out;
}

std::vector<entry_data> to_entry_data(const std::vector<bb::entry>& es) {
  std::vector<entry_data> out;
  out.reserve(es.size());
  for (const auto& e : es) out.push_back(to_entry_data(e));
  return out;
}

std::vector<record_data> to_record_data(const std::vector<bb::txn_record>& rs) {
  std::vector<record_data> out;
  out.reserve(rs.size());
  for (const auto& r : rs) out.push_back(to_record_data(r));
  return out;
}

caf::expected<bb::json> parse_json(const std::string& text, const std::string& what) {
  bb::json value;
  if (auto err = detail::load_json(text, value, what)) return err;
  return value;
}

caf::expected<bb::json> parse_value(const entry_data& e) {
  return parse_json(e.value, "value of key '" + e.key + "'");
}

namespace detail {

caf::error dump_json(const bb::json& value, std::string& out, const std::string& what) {
  try {
    out = value.dump();
    return caf::none;
  } catch (const std::exception& ex) {
    return caf::make_error(errc::bad_message, what + " cannot be written as JSON: " + ex.what());
  }
}

caf::error load_json(const std::string& text, bb::json& out, const std::string& what) {
  // Untrusted text from the wire: parse without exceptions, once.
  auto parsed = bb::json::parse(text, nullptr, false);
  if (parsed.is_discarded()) {
    constexpr std::size_t shown = 40;
    std::string excerpt = text.size() > shown ? text.substr(0, shown) + "..." : text;
    return caf::make_error(errc::bad_message, what + " is not valid JSON: '" + excerpt + "'");
  }
  out = std::move(parsed);
  return caf::none;
}

caf::error bad_enum(const char* field, unsigned value) {
  return caf::make_error(errc::bad_message,
                         std::string(field) + " has no valid value: " + std::to_string(value));
}

void register_blackboard_types(caf::actor_system_config& cfg) {
  // add_message_type<T> also registers std::vector<T> (as "std::vector<name>").
  cfg.add_message_type<entry_data>("agora::entry_data");
  cfg.add_message_type<change_data>("agora::change_data");
  cfg.add_message_type<record_data>("agora::record_data");
  cfg.add_message_type<bb::staged_op>("agora::bb::staged_op");
  cfg.add_message_type<bb::key_revision>("agora::bb::key_revision");
  cfg.add_message_type<bb::promotion>("agora::bb::promotion");
  cfg.add_message_type<bb::promote_options>("agora::bb::promote_options");
  cfg.add_message_type<bb::commit_result>("agora::bb::commit_result");
  cfg.add_message_type<bb::key_conflict>("agora::bb::key_conflict");
}

}  // namespace detail

}  // namespace agora::actors
