#include "durable_log.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include <spdlog/logger.h>

#include "agora/blackboard/failpoints.hpp"
#include "agora/log.hpp"
#include "failpoints_internal.hpp"
#include "json_util.hpp"
#include "sqlite_vfs.hpp"

namespace agora::bb::detail {

namespace {

constexpr const char* log_format = "agora-blackboard";
constexpr std::int64_t schema_version = 1;

// Everything a new log gets, in one transaction (see docs/durability.md).
constexpr const char* schema_sql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE TABLE txn_log(
  revision INTEGER PRIMARY KEY,
  txn_id   TEXT,
  author   TEXT NOT NULL,
  time_us  INTEGER NOT NULL,
  trace    TEXT,
  changes  TEXT NOT NULL);
CREATE TABLE state(
  key TEXT PRIMARY KEY, value TEXT NOT NULL, create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL, version INTEGER NOT NULL, author TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE history(
  key TEXT NOT NULL, revision INTEGER NOT NULL, kind TEXT NOT NULL,
  PRIMARY KEY(key, revision)) WITHOUT ROWID;
CREATE TABLE idempotency(
  txn_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, hash INTEGER NOT NULL,
  changes INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE base(
  key TEXT PRIMARY KEY, value TEXT NOT NULL, create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL, version INTEGER NOT NULL, author TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('format', 'agora-blackboard'), ('schema_version', 1),
                        ('base_revision', 0), ('compact_revision', 0);
)sql";

std::string text_of(sqlite3_stmt* st, int col) {
  const unsigned char* t = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<std::size_t>(n))
           : std::string();
}

std::uint64_t u64_of(sqlite3_stmt* st, int col) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(st, col));
}

void bind_text(sqlite3_stmt* st, int i, std::string_view s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}
void bind_u64(sqlite3_stmt* st, int i, std::uint64_t v) {
  sqlite3_bind_int64(st, i, static_cast<sqlite3_int64>(v));
}

std::optional<op_kind> kind_from(std::string_view s) {
  if (s == "put") return op_kind::put;
  if (s == "erase") return op_kind::erase;
  if (s == "merge") return op_kind::merge;
  if (s == "append") return op_kind::append;
  return std::nullopt;
}

/// A record's change list as the log's JSON text, and each change's value as
/// JSON text for the state table (empty for an erase): every value is
/// serialized once and never copied as a tree. The text is what
/// json::dump() of [{"create_revision", "key", "kind", "value", "version"}
/// or {"deleted": true, "key", "kind"}] gives, keys in that order.
struct encoded_changes {
  std::string text;
  std::vector<std::string> values;
};

encoded_changes encode_changes(const txn_record& r) {
  encoded_changes out;
  out.values.reserve(r.changes.size());
  out.text.push_back('[');
  for (const change& c : r.changes) {
    if (out.text.size() > 1) out.text.push_back(',');
    const std::string key = json(c.after.key()).dump();
    const std::string kind = json(to_string(c.kind)).dump();
    if (c.after.exists()) {
      out.values.push_back(c.after.value().dump());
      out.text += "{\"create_revision\":";
      out.text += std::to_string(c.after.create_revision());
      out.text += ",\"key\":" + key + ",\"kind\":" + kind + ",\"value\":";
      out.text += out.values.back();
      out.text += ",\"version\":";
      out.text += std::to_string(c.after.version());
      out.text.push_back('}');
    } else {
      out.values.emplace_back();
      out.text += "{\"deleted\":true,\"key\":" + key + ",\"kind\":" + kind + "}";
    }
  }
  out.text.push_back(']');
  return out;
}

bool trace_empty(const trace_tag& t) {
  for (auto v : t)
    if (v) return false;
  return true;
}

// FNV-1a, 64 bits.
struct fnv {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  void byte(unsigned char b) noexcept {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  void u64(std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>(v >> (8 * i)));
  }
  void str(std::string_view s) noexcept {
    u64(s.size());
    for (char c : s) byte(static_cast<unsigned char>(c));
  }
  void value(const json& j) noexcept {
    switch (j.type()) {
      case json::value_t::null: byte(0); break;
      case json::value_t::boolean: byte(1); byte(j.get_ref<const bool&>() ? 1 : 0); break;
      case json::value_t::number_integer: {
        auto v = j.get_ref<const json::number_integer_t&>();
        // 5 and 5u are the same number whichever way the JSON was built.
        byte(v < 0 ? 2 : 3);
        u64(static_cast<std::uint64_t>(v));
        break;
      }
      case json::value_t::number_unsigned:
        byte(3);
        u64(j.get_ref<const json::number_unsigned_t&>());
        break;
      case json::value_t::number_float: {
        double d = j.get_ref<const json::number_float_t&>();
        std::uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        byte(4);
        u64(bits);
        break;
      }
      case json::value_t::string: byte(5); str(j.get_ref<const std::string&>()); break;
      case json::value_t::array:
        byte(6);
        u64(j.size());
        for (const auto& e : j) value(e);
        break;
      case json::value_t::object:
        // nlohmann's objects iterate in key order: the form is canonical.
        byte(7);
        u64(j.size());
        for (auto it = j.begin(); it != j.end(); ++it) {
          str(it.key());
          value(it.value());
        }
        break;
      case json::value_t::binary: {
        byte(8);
        const auto& b = j.get_binary();
        u64(b.size());
        for (auto c : b) byte(c);
        break;
      }
      case json::value_t::discarded: byte(9); break;
    }
  }
};

}  // namespace

std::uint64_t stable_content_hash(const promotion& p) noexcept {
  fnv f;
  f.str(p.author);
  f.u64(p.ops.size());
  for (const auto& op : p.ops) {
    f.byte(static_cast<unsigned char>(op.kind));
    f.str(op.key);
    f.value(op.value);
  }
  return f.h;
}

void sqlite_closer::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
void stmt_finalizer::operator()(sqlite3_stmt* st) const noexcept { sqlite3_finalize(st); }

durable_log::durable_log(store& s, const durability& d)
    : store_(s), path_(d.path), sync_(d.sync), max_group_(d.max_group ? d.max_group : 1) {}

durable_log::~durable_log() { stop(); }

error durable_log::io_error(const std::string& what, const std::string& why) const {
  return error{errc::io_error, what + " '" + path_ + "': " + why};
}

error durable_log::sqlite_error(const std::string& what) const {
  const int ext = db_ ? sqlite3_extended_errcode(db_.get()) : SQLITE_ERROR;
  std::string msg = db_ ? sqlite3_errmsg(db_.get()) : "out of memory";
  msg += " (SQLite error " + std::to_string(ext) + ")";
  const int primary = ext & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
    return error{errc::corrupt, "durable blackboard '" + path_ + "' is not a valid Agora log: " +
                                    what + ": " + msg};
  return io_error(what, msg);
}

status durable_log::exec(const char* sql) {
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    return sqlite_error(std::string("cannot run '") + sql + "' on");
  return {};
}

status durable_log::prepare(stmt_ptr& st, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return sqlite_error("cannot prepare a statement for");
  }
  st.reset(raw);
  return {};
}

result<std::unique_ptr<durable_log>> durable_log::open(const durability& d, store& s) {
  if (d.path.empty()) return error{errc::invalid_argument, "durability::path is empty"};
  std::unique_ptr<durable_log> log(new durable_log(s, d));
  if (auto st = log->open_file(); !st) return std::move(st).take_error();
  if (auto st = log->recover(); !st) return std::move(st).take_error();
  const std::uint64_t head = s.revision();
  const std::uint64_t compacted = s.compact_revision();
  // Debug: every reader (inspect, report) opens a board too.
  log->log_->debug("durable board recovered path={} revision={} compact_revision={} sync={}",
                   log::value(d.path), head, compacted, d.sync == sync_mode::full ? "full" : "normal");
  return log;
}

status durable_log::open_file() {
  const char* vfs = agora_vfs();
  if (!vfs) return io_error("cannot open durable blackboard", "SQLite has no default VFS");
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, vfs);
  db_.reset(raw);
  if (rc != SQLITE_OK) return sqlite_error("cannot open durable blackboard");
  sqlite3_extended_result_codes(db_.get(), 1);
  // Another process writing the same file (a second writer is not supported,
  // but the sqlite3 shell may be reading): wait for it rather than fail.
  sqlite3_busy_timeout(db_.get(), 10000);

  // Is it a database at all? (SQLite reads the header lazily.)
  stmt_ptr tables;
  if (auto st = prepare(tables, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"); !st)
    return st;
  if (sqlite3_step(tables.get()) != SQLITE_ROW) return sqlite_error("cannot read");
  const std::int64_t table_count = sqlite3_column_int64(tables.get(), 0);
  tables.reset();

  {
    stmt_ptr wal;
    if (auto st = prepare(wal, "PRAGMA journal_mode=WAL"); !st) return st;
    if (sqlite3_step(wal.get()) != SQLITE_ROW) return sqlite_error("cannot switch to WAL mode");
    if (text_of(wal.get(), 0) != "wal")
      return io_error("cannot switch to WAL mode", "journal_mode is " + text_of(wal.get(), 0));
  }
  if (auto st = exec(sync_ == sync_mode::full ? "PRAGMA synchronous=FULL"
                                              : "PRAGMA synchronous=NORMAL");
      !st)
    return st;

  if (table_count == 0) {
    if (auto st = exec("BEGIN IMMEDIATE"); !st) return st;
    if (auto st = exec(schema_sql); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
    if (auto st = exec("COMMIT"); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
  }

  // Agora's own meta table, format and version.
  stmt_ptr meta;
  int prc = SQLITE_OK;
  {
    sqlite3_stmt* raw_meta = nullptr;
    prc = sqlite3_prepare_v2(db_.get(), "SELECT key, value FROM meta", -1, &raw_meta, nullptr);
    meta.reset(raw_meta);
  }
  if (prc != SQLITE_OK) {
    if ((sqlite3_extended_errcode(db_.get()) & 0xff) == SQLITE_ERROR)
      return error{errc::corrupt, "durable blackboard '" + path_ +
                                      "' is not an Agora log: it is a SQLite database without "
                                      "Agora's meta table"};
    return sqlite_error("cannot read the meta table of");
  }
  std::string format;
  std::int64_t version = -1;
  bool have_base = false, have_compact = false;
  std::uint64_t base_rev = 0;
  while ((prc = sqlite3_step(meta.get())) == SQLITE_ROW) {
    std::string k = text_of(meta.get(), 0);
    if (k == "format") format = text_of(meta.get(), 1);
    else if (k == "schema_version") version = sqlite3_column_int64(meta.get(), 1);
    else if (k == "base_revision") { have_base = true; base_rev = u64_of(meta.get(), 1); }
    else if (k == "compact_revision") { have_compact = true; compact_rev_ = u64_of(meta.get(), 1); }
  }
  if (prc != SQLITE_DONE) return sqlite_error("cannot read the meta table of");
  if (format != log_format)
    return error{errc::corrupt, "durable blackboard '" + path_ +
                                    "' is not an Agora log: meta.format is '" + format +
                                    "', expected '" + log_format + "'"};
  if (version != schema_version)
    return error{errc::corrupt, "durable blackboard '" + path_ + "' has schema version " +
                                    std::to_string(version) + "; this build reads version " +
                                    std::to_string(schema_version)};
  if (!have_base || !have_compact ||
      (compact_rev_ == 0 ? base_rev != 0 : base_rev + 1 != compact_rev_))
    return error{errc::corrupt, "durable blackboard '" + path_ +
                                    "' has an inconsistent meta table (base_revision " +
                                    std::to_string(base_rev) + ", compact_revision " +
                                    std::to_string(compact_rev_) + ")"};

  if (auto st = prepare(ins_log_,
                        "INSERT INTO txn_log(revision, txn_id, author, time_us, trace, changes) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      !st)
    return st;
  if (auto st = prepare(ins_hist_, "INSERT INTO history(key, revision, kind) VALUES (?1, ?2, ?3)");
      !st)
    return st;
  if (auto st = prepare(put_state_,
                        "INSERT OR REPLACE INTO state(key, value, create_revision, mod_revision, "
                        "version, author) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      !st)
    return st;
  if (auto st = prepare(del_state_, "DELETE FROM state WHERE key = ?1"); !st) return st;
  if (auto st = prepare(ins_idem_,
                        "INSERT INTO idempotency(txn_id, revision, hash, changes) "
                        "VALUES (?1, ?2, ?3, ?4)");
      !st)
    return st;
  if (auto st = prepare(put_base_,
                        "INSERT OR REPLACE INTO base(key, value, create_revision, mod_revision, "
                        "version, author) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
      !st)
    return st;
  if (auto st = prepare(del_base_, "DELETE FROM base WHERE key = ?1"); !st) return st;
  return {};
}

status durable_log::recover() {
  if (failpoint_hit(failpoint::during_recovery))
    return io_error("cannot recover durable blackboard",
                    "I/O error injected by failpoint during_recovery");
  const std::uint64_t base_rev = compact_rev_ == 0 ? 0 : compact_rev_ - 1;
  auto corrupt = [&](const std::string& why) {
    return error{errc::corrupt, "durable blackboard '" + path_ + "' is damaged: " + why};
  };
  // Each state row as it is stored (base and state tables share a shape).
  auto row_version = [&](sqlite3_stmt* st, const char* table) -> result<version_ptr> {
    auto v = std::make_shared<version_data>();
    v->key = text_of(st, 0);
    v->value = json::parse(text_of(st, 1), nullptr, false);
    if (v->value.is_discarded())
      return corrupt(std::string(table) + " row for key " + quote_for_message(v->key) +
                     " holds a value that is not JSON");
    v->create_revision = u64_of(st, 2);
    v->mod_revision = u64_of(st, 3);
    v->version = u64_of(st, 4);
    v->author = text_of(st, 5);
    return version_ptr(std::move(v));
  };

  // 1. The state at the compaction base.
  stmt_ptr q;
  if (auto st = prepare(q, "SELECT key, value, create_revision, mod_revision, version, author "
                           "FROM base ORDER BY key");
      !st)
    return st;
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    auto v = row_version(q.get(), "base");
    if (!v) return std::move(v).take_error();
    if ((*v)->mod_revision > base_rev)
      return corrupt("base row for key " + quote_for_message((*v)->key) + " has mod_revision " +
                     std::to_string((*v)->mod_revision) + " above the base revision " +
                     std::to_string(base_rev));
    store_.restore_version(std::move(*v));
  }
  if (rc != SQLITE_DONE) return sqlite_error("cannot read the base table of");

  // 2. The log above it, which must be contiguous.
  if (auto st = prepare(q, "SELECT revision, txn_id, author, time_us, trace, changes "
                           "FROM txn_log ORDER BY revision");
      !st)
    return st;
  std::uint64_t head = base_rev;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    const std::uint64_t rev = u64_of(q.get(), 0);
    if (rev != head + 1)
      return corrupt("txn_log jumps from revision " + std::to_string(head) + " to " +
                     std::to_string(rev));
    auto rec = std::make_shared<txn_record>();
    rec->revision = rev;
    rec->txn_id = text_of(q.get(), 1);
    rec->author = text_of(q.get(), 2);
    rec->time_us = sqlite3_column_int64(q.get(), 3);
    const std::string where = "txn_log revision " + std::to_string(rev);
    if (sqlite3_column_type(q.get(), 4) != SQLITE_NULL) {
      json t = json::parse(text_of(q.get(), 4), nullptr, false);
      if (!t.is_array() || t.size() != 4) return corrupt(where + ": trace is not 4 numbers");
      for (std::size_t i = 0; i < 4; ++i) {
        if (!t[i].is_number_unsigned()) return corrupt(where + ": trace is not 4 numbers");
        rec->trace[i] = t[i].get<std::uint64_t>();
      }
    }
    json cs = json::parse(text_of(q.get(), 5), nullptr, false);
    if (!cs.is_array()) return corrupt(where + ": changes is not a JSON array");
    std::vector<version_ptr> versions;
    versions.reserve(cs.size());
    for (const json& c : cs) {
      if (!c.is_object() || !c.contains("key") || !c["key"].is_string() || !c.contains("kind") ||
          !c["kind"].is_string())
        return corrupt(where + ": a change lacks its key or kind");
      auto kind = kind_from(c["kind"].get<std::string>());
      if (!kind) return corrupt(where + ": unknown change kind " + c["kind"].dump());
      auto v = std::make_shared<version_data>();
      v->key = c["key"].get<std::string>();
      v->author = rec->author;
      v->mod_revision = rev;
      v->deleted = c.value("deleted", false);
      if (!v->deleted) {
        if (!c.contains("value") || !c.contains("create_revision") || !c.contains("version") ||
            !c["create_revision"].is_number_unsigned() || !c["version"].is_number_unsigned())
          return corrupt(where + ": the change of key " + quote_for_message(v->key) +
                         " lacks its value, create_revision or version");
        v->value = c["value"];
        v->create_revision = c["create_revision"].get<std::uint64_t>();
        v->version = c["version"].get<std::uint64_t>();
      }
      rec->changes.push_back(change{*kind, entry{v}});
      versions.push_back(std::move(v));
    }
    store_.restore_record(std::move(rec), std::move(versions));
    head = rev;
  }
  if (rc != SQLITE_DONE) return sqlite_error("cannot read the txn_log table of");

  // 3. Idempotency records.
  if (auto st = prepare(q, "SELECT txn_id, revision, hash, changes FROM idempotency"); !st)
    return st;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    const std::uint64_t rev = u64_of(q.get(), 1);
    if (rev > head)
      return corrupt("idempotency record " + quote_for_message(text_of(q.get(), 0)) +
                     " names revision " + std::to_string(rev) + ", after the last revision " +
                     std::to_string(head));
    store_.restore_idempotency(text_of(q.get(), 0), rev, u64_of(q.get(), 2),
                               static_cast<std::size_t>(u64_of(q.get(), 3)));
  }
  if (rc != SQLITE_DONE) return sqlite_error("cannot read the idempotency table of");
  store_.finish_restore(head, compact_rev_);

  // 4. The state table must equal the replay (it is written in the same
  // transactions, so a difference means the file was edited or damaged).
  if (auto st = prepare(q, "SELECT key, value, create_revision, mod_revision, version, author "
                           "FROM state ORDER BY key");
      !st)
    return st;
  std::size_t rows = 0;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    ++rows;
    auto v = row_version(q.get(), "state");
    if (!v) return std::move(v).take_error();
    auto e = store_.get((*v)->key, head);
    if (!e || !e->exists() || e->value() != (*v)->value ||
        e->mod_revision() != (*v)->mod_revision || e->create_revision() != (*v)->create_revision ||
        e->version() != (*v)->version || e->author() != (*v)->author)
      return corrupt("the state table disagrees with the replayed log at key " +
                     quote_for_message((*v)->key));
  }
  if (rc != SQLITE_DONE) return sqlite_error("cannot read the state table of");
  auto all = store_.list("", head);
  if (!all) return std::move(all).take_error();
  if (all->size() != rows)
    return corrupt("the state table has " + std::to_string(rows) + " keys, the replayed log " +
                   std::to_string(all->size()));
  return {};
}

void durable_log::start() { committer_ = std::thread([this] { run(); }); }

void durable_log::stop() {
  {
    std::lock_guard lock(q_mu_);
    stopping_ = true;
  }
  q_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard lock(ack_mu_);
    stopped_ = true;
  }
  ack_cv_.notify_all();
  if (db_ && failed()) {
    // A failed commit may have left a complete transaction in the WAL that
    // this connection no longer indexes (the sync failed after the write):
    // a checkpoint on close would drop it. Leave the WAL for the next open,
    // whose recovery reads every complete transaction in it.
    sqlite3_db_config(db_.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  }
  ins_log_.reset();
  ins_hist_.reset();
  put_state_.reset();
  del_state_.reset();
  ins_idem_.reset();
  put_base_.reset();
  del_base_.reset();
  db_.reset();
}

std::uint64_t durable_log::enqueue(commit_item item) {
  std::uint64_t seq;
  {
    std::lock_guard lock(q_mu_);
    seq = next_seq_++;
    item.seq = seq;
    queue_.push_back(std::move(item));
  }
  q_cv_.notify_one();
  return seq;
}

std::uint64_t durable_log::last_seq() const {
  std::lock_guard lock(q_mu_);
  return next_seq_ - 1;
}

bool durable_log::acked(std::uint64_t seq) const {
  std::lock_guard lock(ack_mu_);
  return acked_seq_ >= seq;
}

status durable_log::wait(std::uint64_t seq) {
  std::unique_lock lock(ack_mu_);
  ack_cv_.wait(lock, [&] { return acked_seq_ >= seq || failure_ || stopped_; });
  if (acked_seq_ >= seq) return {};
  if (failure_) return *failure_;
  return error{errc::watch_closed, "the blackboard was closed before the promotion was durable"};
}

std::optional<error> durable_log::failure() const {
  std::lock_guard lock(ack_mu_);
  return failure_;
}

void durable_log::fail(error e) {
  {
    std::lock_guard lock(ack_mu_);
    if (!failure_) {
      log_->error("durable board failed; it refuses writes until reopened path={} error={}",
                  log::value(path_), log::value(e.message));
      failure_ = std::move(e);
    }
    failed_.store(true, std::memory_order_release);
  }
  ack_cv_.notify_all();
}

void durable_log::ack(std::uint64_t seq) {
  {
    std::lock_guard lock(ack_mu_);
    acked_seq_ = seq;
  }
  ack_cv_.notify_all();
}

void durable_log::run() {
  std::vector<commit_item> group;
  // Group gathering. Writers acknowledged by one group come straight back;
  // taking the queue at once would leave them for the next group, and with
  // W writers two half groups would take turns, each sync committing W/2.
  // So when fewer items are queued than writers were active around the
  // last group (its size plus those that queued while it was written), the
  // committer waits a little — at most half the last write's time, and
  // never more than 2 ms — for them to rejoin.
  std::size_t active = 1;
  std::chrono::steady_clock::duration last_write{};
  while (true) {
    group.clear();
    {
      std::unique_lock lock(q_mu_);
      q_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      if (queue_.size() < active && queue_.front().what == commit_item::kind::promotion) {
        const auto delay = std::min<std::chrono::steady_clock::duration>(
            last_write / 2, std::chrono::milliseconds(2));
        q_cv_.wait_for(lock, delay, [&] { return queue_.size() >= active || stopping_; });
      }
      if (queue_.front().what == commit_item::kind::compaction) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && queue_.front().what == commit_item::kind::promotion &&
               group.size() < max_group_) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    // After a write failure nothing is written again: the items queued
    // behind the failed group were validated against its invisible versions.
    if (failed()) continue;  // their waiters already have the failure
    if (group.front().what == commit_item::kind::compaction) {
      if (auto s = write_compaction(group.front().compact_to); !s) {
        fail(std::move(s).take_error());
        continue;
      }
      ack(group.front().seq);
      continue;
    }
    const auto write_start = std::chrono::steady_clock::now();
    if (auto s = write_group(group); !s) {
      fail(std::move(s).take_error());
      continue;
    }
    last_write = std::chrono::steady_clock::now() - write_start;
    {
      std::lock_guard lock(q_mu_);
      active = std::min(max_group_, group.size() + queue_.size());
    }
    store_.publish(group);
    counter_promotions.fetch_add(group.size(), std::memory_order_relaxed);
    // Retention compacts before the acknowledgement, as in memory, so a
    // promoter sees the compaction point its commit caused. The group is
    // durable whatever happens to the compaction.
    status retained;
    if (std::uint64_t r = store_.retention_due()) retained = write_compaction(r);
    ack(group.back().seq);
    if (!retained) fail(std::move(retained).take_error());
  }
}

status durable_log::step_statement(sqlite3_stmt* st, const std::string& what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) return sqlite_error(what);
  return {};
}

status durable_log::rollback(error e) {
  sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  return e;
}

status durable_log::write_group(const std::vector<commit_item>& group) {
  std::uint64_t first = 0, last = 0;
  for (const auto& it : group)
    if (it.rec) {
      if (!first) first = it.rec->revision;
      last = it.rec->revision;
    }
  const std::string what =
      first == 0 ? std::string("cannot write idempotency records to durable blackboard")
      : first == last
          ? "cannot write revision " + std::to_string(first) + " to durable blackboard"
          : "cannot write revisions " + std::to_string(first) + ".." + std::to_string(last) +
                " to durable blackboard";
  bool any_write = false;
  for (const auto& it : group) any_write = any_write || it.rec || !it.txn_id.empty();
  if (!any_write) return {};  // only waits for what came before: nothing to write

  auto step = [&](sqlite3_stmt* st) { return step_statement(st, what); };

  if (sqlite3_exec(db_.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback(sqlite_error(what));
  if (failpoint_hit(failpoint::before_write))
    return rollback(io_error(what, "I/O error injected by failpoint before_write"));
  for (const auto& it : group) {
    if (it.rec) {
      const txn_record& r = *it.rec;
      sqlite3_stmt* st = ins_log_.get();
      bind_u64(st, 1, r.revision);
      if (r.txn_id.empty()) sqlite3_bind_null(st, 2);
      else bind_text(st, 2, r.txn_id);
      bind_text(st, 3, r.author);
      sqlite3_bind_int64(st, 4, r.time_us);
      if (trace_empty(r.trace)) sqlite3_bind_null(st, 5);
      else bind_text(st, 5, json(r.trace).dump());
      const encoded_changes enc = encode_changes(r);
      bind_text(st, 6, enc.text);
      if (auto s = step(st); !s) return rollback(s.error());
      for (std::size_t ci = 0; ci < r.changes.size(); ++ci) {
        const change& c = r.changes[ci];
        st = ins_hist_.get();
        bind_text(st, 1, c.after.key());
        bind_u64(st, 2, r.revision);
        bind_text(st, 3, to_string(c.kind));
        if (auto s = step(st); !s) return rollback(s.error());
        if (c.after.exists()) {
          st = put_state_.get();
          bind_text(st, 1, c.after.key());
          bind_text(st, 2, enc.values[ci]);
          bind_u64(st, 3, c.after.create_revision());
          bind_u64(st, 4, c.after.mod_revision());
          bind_u64(st, 5, c.after.version());
          bind_text(st, 6, c.after.author());
        } else {
          st = del_state_.get();
          bind_text(st, 1, c.after.key());
        }
        if (auto s = step(st); !s) return rollback(s.error());
      }
    }
    if (!it.txn_id.empty()) {
      sqlite3_stmt* st = ins_idem_.get();
      bind_text(st, 1, it.txn_id);
      bind_u64(st, 2, it.idem_revision);
      bind_u64(st, 3, it.hash);
      bind_u64(st, 4, it.changes);
      if (auto s = step(st); !s) return rollback(s.error());
    }
  }
  if (failpoint_hit(failpoint::after_write))
    return rollback(io_error(what, "I/O error injected by failpoint after_write"));
  if (sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback(sqlite_error(what));
  counter_group_commits.fetch_add(1, std::memory_order_relaxed);
  if (failpoint_hit(failpoint::before_ack))
    return io_error(what, "I/O error injected by failpoint before_ack (the group is durable)");
  return {};
}

status durable_log::write_compaction(std::uint64_t rev) {
  if (rev <= compact_rev_) return {};
  const std::string what = "cannot compact to revision " + std::to_string(rev) + " in durable blackboard";
  // The base moves from the state at compact_rev_ - 1 to the state at rev - 1:
  // apply the records in between, which are still in memory.
  const std::uint64_t from = compact_rev_ == 0 ? 1 : compact_rev_;
  std::vector<record_ptr> recs;
  if (rev - 1 >= from) {
    auto r = store_.records(from, rev - 1);
    if (!r) return std::move(r).take_error();
    recs = std::move(*r);
  }
  auto step = [&](sqlite3_stmt* st) { return step_statement(st, what); };
  if (sqlite3_exec(db_.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback(sqlite_error(what));
  for (const auto& r : recs) {
    for (const change& c : r->changes) {
      sqlite3_stmt* st;
      if (c.after.exists()) {
        st = put_base_.get();
        bind_text(st, 1, c.after.key());
        bind_text(st, 2, c.after.value().dump());
        bind_u64(st, 3, c.after.create_revision());
        bind_u64(st, 4, c.after.mod_revision());
        bind_u64(st, 5, c.after.version());
        bind_text(st, 6, c.after.author());
      } else {
        st = del_base_.get();
        bind_text(st, 1, c.after.key());
      }
      if (auto s = step(st); !s) return rollback(s.error());
    }
  }
  const std::string sql = "DELETE FROM txn_log WHERE revision < " + std::to_string(rev) +
                          "; DELETE FROM history WHERE revision < " + std::to_string(rev) +
                          "; UPDATE meta SET value = " + std::to_string(rev - 1) +
                          " WHERE key = 'base_revision'; UPDATE meta SET value = " +
                          std::to_string(rev) + " WHERE key = 'compact_revision';";
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback(sqlite_error(what));
  if (failpoint_hit(failpoint::during_compaction))
    return rollback(io_error(what, "I/O error injected by failpoint during_compaction"));
  if (sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback(sqlite_error(what));
  const std::uint64_t dropped = rev - from;
  compact_rev_ = rev;
  store_.compact_published(rev);
  log_->debug("compaction written path={} compact_revision={} records_folded={}",
              log::value(path_), rev, dropped);
  return {};
}

}  // namespace agora::bb::detail
