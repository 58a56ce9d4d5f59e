#include "agora/blackboard/scratchpad.hpp"

#include <algorithm>
#include <map>

#include "json_util.hpp"
#include "agora/blackboard/key.hpp"

namespace agora::bb {

scratchpad::scratchpad(bb::snapshot base, std::string author, const bb::limits& lim)
    : base_(std::move(base)), limits_(lim) {
  p_.author = std::move(author);
  p_.base_revision = base_.revision();
}

void scratchpad::record_read(std::string_view key, std::uint64_t mod_revision) {
  reads_.try_emplace(std::string(key), mod_revision);
}

std::size_t scratchpad::last_overwrite(std::string_view key) const noexcept {
  for (std::size_t i = p_.ops.size(); i-- > 0;) {
    const auto& op = p_.ops[i];
    if (op.key == key && (op.kind == op_kind::put || op.kind == op_kind::erase)) return i;
  }
  return npos_;
}

result<entry> scratchpad::view(std::string_view key, bool record) {
  if (auto s = validate_key(key, limits_.max_key_bytes); !s) return std::move(s).take_error();
  const bool staged = std::any_of(p_.ops.begin(), p_.ops.end(),
                                  [&](const staged_op& op) { return op.key == key; });
  const std::size_t start = staged ? last_overwrite(key) : npos_;
  bool exists = false;
  json value;
  if (start == npos_) {
    auto e = base_.get(key);
    if (!e) return e;
    if (record) record_read(key, e->mod_revision());
    if (!staged) return e;
    exists = e->exists();
    if (exists) value = e->value();
  } else {
    exists = p_.ops[start].kind == op_kind::put;
    if (exists) value = p_.ops[start].value;
  }
  for (std::size_t i = start == npos_ ? 0 : start + 1; i < p_.ops.size(); ++i) {
    const auto& op = p_.ops[i];
    if (op.key != key) continue;
    if (op.kind == op_kind::merge) {
      if (!exists) value = json::object();
      detail::apply_merge_patch(value, op.value);
    } else if (op.kind == op_kind::append) {
      if (!exists) value = json::array();
      if (!value.is_array()) return detail::not_an_array(key, value);
      value.push_back(op.value);
    }
    exists = true;
  }
  if (!exists) return entry{};
  auto v = std::make_shared<detail::version_data>();
  v->key = std::string(key);
  v->value = std::move(value);
  v->author = p_.author;
  return entry{std::move(v)};
}

result<entry> scratchpad::get(std::string_view key) { return view(key, true); }

result<std::vector<entry>> scratchpad::list(std::string_view prefix) {
  auto base = base_.list(prefix);
  if (!base) return base;
  const std::string_view pre = normalize_prefix(prefix);
  if (std::find(ranges_.begin(), ranges_.end(), pre) == ranges_.end())
    ranges_.emplace_back(pre);
  bool staged = false;
  for (const auto& op : p_.ops)
    if (key_in_prefix(op.key, pre)) { staged = true; break; }
  if (!staged) return base;
  std::map<std::string, entry, std::less<>> merged;
  for (auto& e : *base) merged.emplace(e.key(), std::move(e));
  for (const auto& op : p_.ops) {
    if (!key_in_prefix(op.key, pre)) continue;
    auto v = view(op.key, false);  // the range read covers this key
    if (!v) return v.error();
    if (v->exists()) merged.insert_or_assign(op.key, std::move(*v));
    else merged.erase(op.key);
  }
  std::vector<entry> out;
  out.reserve(merged.size());
  for (auto& [k, e] : merged) out.push_back(std::move(e));
  return out;
}

status scratchpad::stage(op_kind kind, std::string_view key, json value) {
  if (auto s = validate_key(key, limits_.max_key_bytes); !s) return s;
  if (p_.ops.size() >= limits_.max_ops_per_txn)
    return error{errc::limit_exceeded,
                 "cannot stage more than max_ops_per_txn=" +
                     std::to_string(limits_.max_ops_per_txn) + " operations (key " +
                     detail::quote_for_message(key) + ")",
                 std::string(key)};
  if (auto s = detail::check_staged(kind, key, value, limits_); !s) return s;
  if (kind == op_kind::append) {
    // Refuse now what the snapshot already shows cannot work.
    auto cur = view(key, false);
    if (!cur) return cur.error();
    if (cur->exists() && !cur->value().is_array())
      return detail::not_an_array(key, cur->value());
  }
  if (kind == op_kind::erase) value = nullptr;
  p_.ops.push_back(staged_op{kind, std::string(key), std::move(value)});
  return {};
}

status scratchpad::put(std::string_view key, json value) {
  return stage(op_kind::put, key, std::move(value));
}
status scratchpad::erase(std::string_view key) { return stage(op_kind::erase, key, nullptr); }
status scratchpad::merge(std::string_view key, json patch) {
  return stage(op_kind::merge, key, std::move(patch));
}
status scratchpad::append(std::string_view key, json element) {
  return stage(op_kind::append, key, std::move(element));
}

status scratchpad::expect(std::string_view key, std::uint64_t mod_revision) {
  if (auto s = validate_key(key, limits_.max_key_bytes); !s) return s;
  p_.expects.push_back(key_revision{std::string(key), mod_revision});
  return {};
}

promotion scratchpad::to_promotion() const {
  promotion out = p_;
  out.reads.reserve(reads_.size());
  for (const auto& [k, rev] : reads_) out.reads.push_back(key_revision{k, rev});
  std::sort(out.reads.begin(), out.reads.end(),
            [](const key_revision& a, const key_revision& b) { return a.key < b.key; });
  out.ranges = ranges_;
  return out;
}

}  // namespace agora::bb
