#include "agora/blackboard/blackboard.hpp"

#include "store.hpp"

namespace agora::bb {

blackboard::blackboard(blackboard_options options)
    : store_(std::make_shared<detail::store>(options)) {}

result<std::shared_ptr<blackboard>> blackboard::open(const durability& d,
                                                     blackboard_options options) {
  auto s = detail::store::open_durable(d, options);
  if (!s) return std::move(s).take_error();
  auto b = std::make_shared<blackboard>(options);
  b->store_ = std::move(*s);
  return b;
}

bool blackboard::durable() const noexcept { return store_->durable(); }

std::optional<error> blackboard::write_failure() const { return store_->write_failure(); }

blackboard::~blackboard() {
  if (store_) store_->close();
}

const blackboard_options& blackboard::options() const noexcept { return store_->options(); }
std::uint64_t blackboard::revision() const noexcept { return store_->revision(); }
std::uint64_t blackboard::compact_revision() const noexcept { return store_->compact_revision(); }

bb::snapshot blackboard::snapshot() const { return bb::snapshot{store_, store_->revision()}; }

result<bb::snapshot> blackboard::snapshot_at(std::uint64_t rev) const {
  const std::uint64_t cur = store_->revision();
  if (rev > cur)
    return error{errc::future_revision, "revision " + std::to_string(rev) +
                                            " is after the latest revision " + std::to_string(cur)};
  if (auto c = store_->compact_revision(); rev < c)
    return error{errc::compacted, "revision " + std::to_string(rev) +
                                      " is below the compaction point " + std::to_string(c)};
  return bb::snapshot{store_, rev};
}

result<entry> blackboard::get(std::string_view key) const {
  return store_->get(key, store_->revision());
}

scratchpad blackboard::begin(std::string author) const {
  return scratchpad{snapshot(), std::move(author), store_->options().limits};
}

scratchpad blackboard::begin(std::string author, bb::snapshot base) const {
  return scratchpad{std::move(base), std::move(author), store_->options().limits};
}

namespace {
bool same_limits(const limits& a, const limits& b) {
  return a.max_key_bytes == b.max_key_bytes && a.max_value_bytes == b.max_value_bytes &&
         a.max_ops_per_txn == b.max_ops_per_txn && a.max_depth == b.max_depth;
}
}  // namespace

result<commit_result> blackboard::promote_scratchpad(const scratchpad& sp, scratchpad* movable,
                                                     const promote_options& opts) {
  if (sp.base_.store_.get() != store_.get())
    return error{errc::invalid_argument, "the scratchpad of " + sp.author() +
                                             " was made on another blackboard's snapshot"};
  // What a scratchpad staged was validated when it was staged, under these limits.
  const bool trusted = same_limits(sp.limits_, store_->options().limits);
  return store_->promote(sp.p_, movable ? &movable->p_ : nullptr, &sp.reads_, &sp.ranges_,
                         trusted, opts);
}

result<commit_result> blackboard::promote(const scratchpad& sp, const promote_options& opts) {
  return promote_scratchpad(sp, nullptr, opts);
}

result<commit_result> blackboard::promote(scratchpad&& sp, const promote_options& opts) {
  return promote_scratchpad(sp, &sp, opts);
}

result<commit_result> blackboard::promote(const promotion& p, const promote_options& opts) {
  return store_->promote(p, nullptr, nullptr, nullptr, false, opts);
}

result<commit_result> blackboard::promote(promotion&& p, const promote_options& opts) {
  return store_->promote(p, &p, nullptr, nullptr, false, opts);
}

result<std::vector<txn_record>> blackboard::history(std::uint64_t from, std::uint64_t to,
                                                    std::string_view prefix) const {
  if (from == 0)
    return error{errc::invalid_argument, "history starts at revision 1, not 0"};
  if (from > to)
    return error{errc::invalid_argument, "history range is empty: from " + std::to_string(from) +
                                             " > to " + std::to_string(to)};
  if (auto s = validate_prefix(prefix, store_->options().limits.max_key_bytes); !s)
    return std::move(s).take_error();
  prefix = normalize_prefix(prefix);
  auto recs = store_->records(from, to);
  if (!recs) return std::move(recs).take_error();
  std::vector<txn_record> out;
  out.reserve(recs->size());
  for (const auto& r : *recs)
    if (detail::touches(*r, prefix)) out.push_back(detail::filtered(*r, prefix));
  return out;
}

status blackboard::compact(std::uint64_t rev) { return store_->compact(rev); }

result<bb::watch> blackboard::watch(std::string_view prefix, std::uint64_t from_revision) {
  auto w = store_->add_watch(prefix, from_revision);
  if (!w) return std::move(w).take_error();
  return bb::watch{std::move(*w)};
}

status blackboard::set_contract(std::string_view pattern, contract c) {
  return store_->set_contract(pattern, std::move(c));
}

status blackboard::declare_mergeable(std::string_view pattern) {
  return store_->declare_mergeable(pattern);
}

status blackboard::register_agent(std::string_view agent,
                                  const std::vector<std::string>& write_patterns) {
  return store_->register_agent(agent, write_patterns);
}

}  // namespace agora::bb
