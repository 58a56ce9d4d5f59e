// Helpers of the durable-blackboard tests: a fresh directory per test, and a
// dump of everything a reader can observe, metadata included, to compare a
// board before and after a reopen.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "blackboard/helpers.hpp"

namespace agora::bb::test {

/// A fresh directory under /tmp, removed with everything in it at the end.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = "/tmp/agora_durable_XXXXXX";
    char* made = mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Opens (or creates) a durable board and requires success.
inline std::shared_ptr<blackboard> open_board(const std::string& path,
                                              sync_mode sync = sync_mode::full,
                                              blackboard_options opts = {}) {
  durability d;
  d.path = path;
  d.sync = sync;
  auto b = blackboard::open(d, opts);
  INFO("open " << path << ": " << describe(b));
  REQUIRE(b.ok());
  REQUIRE((*b)->durable());
  return *b;
}

inline json entry_json(const entry& e) {
  return {{"key", e.key()},     {"exists", e.exists()},
          {"value", e.value()}, {"create", e.create_revision()},
          {"mod", e.mod_revision()}, {"version", e.version()},
          {"author", e.author()}};
}

/// State with every entry's metadata, and every history record whole.
inline json dump(const blackboard& b) {
  json out;
  out["revision"] = b.revision();
  out["compact_revision"] = b.compact_revision();
  json state = json::array();
  auto all = b.snapshot().list("");
  REQUIRE(all.ok());
  for (const entry& e : *all) state.push_back(entry_json(e));
  out["state"] = state;
  json hist = json::array();
  const std::uint64_t from = std::max<std::uint64_t>(1, b.compact_revision());
  if (from <= b.revision()) {
    auto h = b.history(from);
    REQUIRE(h.ok());
    for (const txn_record& t : *h) {
      json changes = json::array();
      for (const change& c : t.changes)
        changes.push_back({{"kind", to_string(c.kind)}, {"after", entry_json(c.after)}});
      hist.push_back({{"rev", t.revision},
                      {"txn", t.txn_id},
                      {"author", t.author},
                      {"time_us", t.time_us},
                      {"trace", t.trace},
                      {"changes", changes}});
    }
  }
  out["history"] = hist;
  return out;
}

}  // namespace agora::bb::test
