/// \file snapshot.hpp
/// An immutable view of a blackboard at one revision.
///
/// ```cpp
/// agora::bb::snapshot s = board.snapshot();          // latest, O(1)
/// auto e = s.get("runs/1/answer");                   // result<entry>
/// auto all = s.list("runs/1");                       // result<std::vector<entry>>
/// ```
/// Taking a snapshot copies nothing: it names a revision of the multi-version
/// store. It never sees later commits. If the blackboard is compacted past
/// its revision, its reads fail with errc::compacted rather than answer
/// wrongly. A snapshot keeps its blackboard's store alive.
///
/// Thread-safety: thread-safe; read it from any number of threads while
/// commits go on.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "agora/blackboard/entry.hpp"
#include "agora/blackboard/result.hpp"

namespace agora::bb {

namespace detail {
class store;
}

class snapshot {
 public:
  /// The revision this snapshot shows.
  std::uint64_t revision() const noexcept { return rev_; }

  /// The key's version at revision(); an empty entry when the key does not
  /// exist there. Fails with errc::invalid_key, errc::compacted.
  result<entry> get(std::string_view key) const;

  /// Every existing key in the prefix's subtree (see key.hpp), in key order.
  /// Fails with errc::invalid_key, errc::compacted.
  result<std::vector<entry>> list(std::string_view prefix) const;

  snapshot(std::shared_ptr<const detail::store> s, std::uint64_t rev)
      : store_(std::move(s)), rev_(rev) {}

 private:
  friend class blackboard;
  std::shared_ptr<const detail::store> store_;
  std::uint64_t rev_ = 0;
};

}  // namespace agora::bb
