#include "agora/blackboard/snapshot.hpp"

#include "store.hpp"

namespace agora::bb {

result<entry> snapshot::get(std::string_view key) const { return store_->get(key, rev_); }

result<std::vector<entry>> snapshot::list(std::string_view prefix) const {
  return store_->list(prefix, rev_);
}

}  // namespace agora::bb
