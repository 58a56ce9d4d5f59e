// Crash tests of the durable blackboard (docs/durability.md, "Crash tests"),
// modelled on SQLite's and etcd's: a real writer process (durable_writer)
// promotes from several threads and reports every promotion it sends and
// every acknowledgement it gets; the test kills it with SIGKILL at a random
// moment (or a crash failpoint kills it at an exact one), opens the file
// in-process and checks, every time:
//   - every acknowledged promotion is there, identical (its record at the
//     acknowledged revision carries its txn id and content hash);
//   - revisions are contiguous and never go backwards;
//   - the state equals the replay of the history;
//   - every record is a promotion the writer sent, whole (all of its keys
//     at one revision), so unacknowledged promotions are all or nothing;
// then the next writer life retries the in-doubt promotions and the test
// checks that a committed one is replayed at its original revision and a
// lost one commits anew.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "blackboard/crash_hash.hpp"
#include "blackboard/durable_helpers.hpp"

extern char** environ;

using namespace agora::bb;
using namespace agora::bb::test;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Each wait on the writer is bounded; a writer that is slow to start (a
// loaded machine, a sanitizer build) still gets this long.
constexpr auto writer_timeout = std::chrono::seconds(30);

// The same hash as durable_writer's content_hash, from a committed record:
// The hash durable_writer printed for the txn, from what the file holds.
std::string record_hash(const txn_record& r) {
  std::map<std::string, std::string> writes;
  for (const change& c : r.changes) writes[c.after.key()] = c.after.value().dump();
  return agora::bb::test::writes_hash(writes);
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::uint64_t seq_of(const std::string& txn) { return std::stoull(txn.substr(1)); }

struct writer_config {
  std::string path;
  sync_mode sync = sync_mode::full;
  int threads = 4;
  std::uint64_t seed = 1;
  std::uint64_t start = 1;
  std::vector<std::uint64_t> retry;
  std::uint64_t compact_every = 0;
  std::uint64_t count = 0;
  std::string failpoints;  // AGORA_FAILPOINTS of the writer; empty = unset
};

/// A durable_writer process: stdout on a pipe (read line by line), stderr
/// in a file. Killed and reaped by the destructor if still running.
class writer_process {
 public:
  writer_process(const writer_config& c, std::string stderr_file)
      : stderr_file_(std::move(stderr_file)) {
    std::vector<std::string> args = {AGORA_DURABLE_WRITER,
                                     "--path", c.path,
                                     "--sync", c.sync == sync_mode::full ? "full" : "normal",
                                     "--threads", std::to_string(c.threads),
                                     "--seed", std::to_string(c.seed),
                                     "--start", std::to_string(c.start),
                                     "--compact-every", std::to_string(c.compact_every),
                                     "--count", std::to_string(c.count)};
    if (!c.retry.empty()) {
      std::string list;
      for (auto s : c.retry) list += (list.empty() ? "" : ",") + std::to_string(s);
      args.push_back("--retry");
      args.push_back(list);
    }
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::string(*e).rfind("AGORA_FAILPOINTS=", 0) != 0) env.emplace_back(*e);
    if (!c.failpoints.empty()) env.push_back("AGORA_FAILPOINTS=" + c.failpoints);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_file_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int rc = ::posix_spawn(&pid_, AGORA_DURABLE_WRITER, &fa, nullptr, argv.data(),
                                 envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
    INFO("posix_spawn " << AGORA_DURABLE_WRITER << ": " << rc);
    REQUIRE(rc == 0);
  }
  ~writer_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  writer_process(const writer_process&) = delete;
  writer_process& operator=(const writer_process&) = delete;

  /// Reads until a line starting with `prefix` has been read, the pipe
  /// closes, or `deadline`; true when such a line arrived.
  bool read_until_line(const std::string& prefix, steady::time_point deadline) {
    for (;;) {
      for (std::size_t i = scanned_; i < lines_.size(); ++i)
        if (lines_[i].rfind(prefix, 0) == 0) {
          scanned_ = i + 1;
          return true;
        }
      scanned_ = lines_.size();
      if (eof_ || !read_some(deadline)) return false;
    }
  }
  /// Keeps reading (the writer must not block on a full pipe) until `deadline`.
  void read_until(steady::time_point deadline) {
    while (!eof_ && read_some(deadline)) {
    }
  }
  void kill_now() { REQUIRE(::kill(pid_, SIGKILL) == 0); }
  /// Reads to the end of the output and reaps the process; its wait status.
  int wait_exit(steady::time_point deadline) {
    read_until(deadline);
    INFO("writer output did not end in time; stderr: " << stderr_text());
    REQUIRE(eof_);
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return status;
  }
  const std::vector<std::string>& lines() const { return lines_; }
  std::string stderr_text() const {
    std::ifstream in(stderr_file_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  /// The last lines, for failure messages.
  std::string tail() const {
    std::string s;
    for (std::size_t i = lines_.size() > 8 ? lines_.size() - 8 : 0; i < lines_.size(); ++i)
      s += lines_[i] + " | ";
    return s;
  }

 private:
  // One read (false at the deadline or the end of the output).
  bool read_some(steady::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    char buf[4096];
    const ssize_t got = ::read(out_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) return true;
    if (got <= 0) {
      eof_ = true;
      return false;
    }
    partial_.append(buf, static_cast<std::size_t>(got));
    for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    return true;
  }

  std::string stderr_file_;
  pid_t pid_ = -1;
  int out_ = -1;
  bool eof_ = false;
  std::string partial_;
  std::vector<std::string> lines_;
  std::size_t scanned_ = 0;
};

bool killed_by_sigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

/// What the test knows about the board across writer lives, from the
/// writers' reports and its own checks.
struct ledger {
  std::map<std::string, std::string> sent;  // txn -> content hash
  std::map<std::string, std::pair<std::uint64_t, std::string>> acked;  // txn -> (revision, hash)
  // Sent but not acknowledged in the last life, in the order sent.
  std::vector<std::string> in_doubt;
  // Of those, the ones the last check found committed, with their revision.
  std::map<std::string, std::uint64_t> committed;
  std::uint64_t revision = 0;  // at the last check
  std::uint64_t next_seq = 1;
  std::size_t lives = 0;
  std::size_t retried_present = 0, retried_absent = 0;

  std::vector<std::uint64_t> retry_seqs() const {
    std::vector<std::uint64_t> out;
    for (const auto& t : in_doubt) out.push_back(seq_of(t));
    return out;
  }

  /// Takes in a life's output: RETRY lines are checked against the last
  /// check's findings; SEND and ACK lines are recorded.
  void absorb(const writer_process& w) {
    ++lives;
    INFO("writer output tail: " << w.tail());
    std::set<std::string> open_now;
    std::size_t retries = 0, fresh = 0;
    for (const std::string& line : w.lines()) {
      const auto f = words(line);
      REQUIRE(!f.empty());
      INFO("line: " << line);
      REQUIRE(f[0] != "ERROR");
      if (f[0] == "SEND") {
        REQUIRE(f.size() == 3);
        REQUIRE(sent.count(f[1]) == 0);
        sent[f[1]] = f[2];
        open_now.insert(f[1]);
        next_seq = std::max(next_seq, seq_of(f[1]) + 1);
      } else if (f[0] == "ACK") {
        REQUIRE(f.size() == 4);
        REQUIRE(open_now.count(f[2]) == 1);
        REQUIRE(sent[f[2]] == f[3]);
        const std::uint64_t rev = std::stoull(f[1]);
        CHECK(rev > revision);
        acked[f[2]] = {rev, f[3]};
        open_now.erase(f[2]);
      } else if (f[0] == "RETRY") {
        // The in-doubt promotions of the last life, retried in order: one
        // that had committed is replayed at its original revision; one that
        // had not commits anew, right after what the last check saw.
        REQUIRE(f.size() == 4);
        REQUIRE(retries < in_doubt.size());
        const std::string& txn = in_doubt[retries++];
        REQUIRE(f[2] == txn);
        const std::uint64_t rev = std::stoull(f[1]);
        auto c = committed.find(txn);
        if (c != committed.end()) {
          CHECK(f[3] == "1");
          CHECK(rev == c->second);
          ++retried_present;
        } else {
          CHECK(f[3] == "0");
          CHECK(rev == revision + ++fresh);
          ++retried_absent;
        }
        acked[txn] = {rev, sent[txn]};
      }
    }
    // Either the writer got past its retries, or it never started them.
    CHECK((retries == in_doubt.size() || retries == 0));
    if (retries == in_doubt.size()) {
      in_doubt.clear();
      committed.clear();
    }
    for (const std::string& line : w.lines()) {
      const auto f = words(line);
      if (f[0] == "SEND" && open_now.count(f[1])) in_doubt.push_back(f[1]);
    }
  }
};

// txn_id -> revision, from the idempotency table (the only trace of an
// acknowledged promotion whose record was compacted away).
std::map<std::string, std::uint64_t> idempotency_table(const std::string& path) {
  sqlite3* db = nullptr;
  const int orc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::map<std::string, std::uint64_t> out;
  INFO("sqlite3_open_v2 " << path << ": " << orc);
  if (orc != SQLITE_OK) {
    sqlite3_close(db);
    REQUIRE(orc == SQLITE_OK);
  }
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT txn_id, revision FROM idempotency", -1, &st, nullptr) ==
          SQLITE_OK);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
        static_cast<std::uint64_t>(sqlite3_column_int64(st, 1));
  sqlite3_finalize(st);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_DONE);
  return out;
}

/// Every broken invariant a check found, for one REQUIRE at the end (a
/// Catch assertion per record would dominate the test's time).
struct problems {
  std::vector<std::string> found;
  void add(std::string what) {
    if (found.size() < 20) found.push_back(std::move(what));
  }
  std::string text() const {
    std::string s;
    for (const auto& f : found) s += "\n  " + f;
    return s;
  }
};

/// Opens the file in-process and checks every invariant against what the
/// writers reported; records which in-doubt promotions committed.
void check_board(const std::string& path, sync_mode sync, ledger& l) {
  problems p;
  std::map<std::string, std::uint64_t> in_history;  // txn -> revision
  {
    auto b = open_board(path, sync);
    const std::uint64_t rev = b->revision();
    const std::uint64_t cr = b->compact_revision();
    INFO("revision " << rev << ", compact_revision " << cr << ", last check " << l.revision);
    // Never backwards.
    REQUIRE(rev >= l.revision);
    // Contiguous, and every record is a promotion the writer sent, whole.
    const std::uint64_t from = std::max<std::uint64_t>(1, cr);
    std::vector<txn_record> records;
    if (from <= rev) {
      auto h = b->history(from);
      INFO(describe(h));
      REQUIRE(h.ok());
      records = std::move(*h);
    }
    REQUIRE(records.size() == (from <= rev ? rev - from + 1 : 0));
    for (std::size_t i = 0; i < records.size(); ++i) {
      const txn_record& r = records[i];
      const std::string where = "record at revision " + std::to_string(r.revision) + " (" +
                                r.txn_id + "): ";
      if (r.revision != from + i)
        p.add(where + "expected revision " + std::to_string(from + i));
      auto sent = l.sent.find(r.txn_id);
      if (sent == l.sent.end())
        p.add(where + "not a promotion the writer sent");
      else if (record_hash(r) != sent->second)
        p.add(where + "content hash " + record_hash(r) + " but the writer sent " + sent->second);
      if (in_history.count(r.txn_id) != 0)
        p.add(where + "txn id committed twice");
      in_history[r.txn_id] = r.revision;
    }
    // Every acknowledged promotion present at its revision (compacted ones
    // are checked against the idempotency table below).
    for (const auto& [txn, ack] : l.acked) {
      const std::string where = "acknowledged " + txn + " at " + std::to_string(ack.first) + ": ";
      if (ack.first > rev)
        p.add(where + "beyond the board's revision");
      if (ack.first >= from) {
        auto h = in_history.find(txn);
        if (h == in_history.end())
          p.add(where + "missing from the history");
        else if (h->second != ack.first)
          p.add(where + "found at revision " + std::to_string(h->second));
      }
    }
    // The state is the replay of the history onto the state at the
    // compaction point.
    struct version_seen {
      json value;
      std::uint64_t create = 0, mod = 0, version = 0;
      std::string author;
      bool operator==(const version_seen& o) const {
        return create == o.create && mod == o.mod && version == o.version &&
               author == o.author && value == o.value;
      }
      bool operator!=(const version_seen& o) const { return !(*this == o); }
    };
    auto seen = [](const entry& e) {
      return version_seen{e.value(), e.create_revision(), e.mod_revision(), e.version(),
                          e.author()};
    };
    auto show = [](const version_seen& v) {
      return json{{"value", v.value}, {"create", v.create}, {"mod", v.mod},
                  {"version", v.version}, {"author", v.author}}.dump();
    };
    std::map<std::string, version_seen> replay;
    std::uint64_t replay_from = 1;
    if (cr > 0) {
      auto base = b->snapshot_at(cr);
      REQUIRE(base.ok());
      auto all = base->list("");
      REQUIRE(all.ok());
      for (const entry& e : *all) replay[e.key()] = seen(e);
      replay_from = cr + 1;
    }
    for (const txn_record& r : records) {
      if (r.revision < replay_from) continue;
      for (const change& c : r.changes) {
        const std::string where =
            "record at revision " + std::to_string(r.revision) + ", key " + c.after.key() + ": ";
        if (c.kind != op_kind::put || !c.after.exists()) p.add(where + "not a put");
        auto it = replay.find(c.after.key());
        version_seen expect{c.after.value(), r.revision, r.revision, 1, "writer"};
        if (it != replay.end()) {
          expect.create = it->second.create;
          expect.version = it->second.version + 1;
        }
        if (seen(c.after) != expect)
          p.add(where + show(seen(c.after)) + ", the replay expects " + show(expect));
        replay[c.after.key()] = std::move(expect);
      }
    }
    auto now = b->snapshot().list("");
    REQUIRE(now.ok());
    std::map<std::string, version_seen> state;
    for (const entry& e : *now) state[e.key()] = seen(e);
    if (state.size() != replay.size())
      p.add("the state has " + std::to_string(state.size()) + " keys, the replay of the history " +
            std::to_string(replay.size()));
    for (const auto& [k, v] : state) {
      auto it = replay.find(k);
      if (it == replay.end()) p.add("state key " + k + " is not in the replay of the history");
      else if (it->second != v)
        p.add("state key " + k + " is " + show(v) + ", the replay of the history " +
              show(it->second));
    }
    l.revision = rev;
  }
  // With the board closed: the idempotency records agree with the history
  // and hold every acknowledged promotion, compacted or not.
  const auto idem = idempotency_table(path);
  for (const auto& [txn, rev] : in_history) {
    auto i = idem.find(txn);
    if (i == idem.end() || i->second != rev)
      p.add("record of " + txn + " at " + std::to_string(rev) + ": no idempotency record for it");
  }
  for (const auto& [txn, ack] : l.acked) {
    auto i = idem.find(txn);
    if (i == idem.end() || i->second != ack.first)
      p.add("acknowledged " + txn + " at " + std::to_string(ack.first) +
          ": idempotency record " + (i == idem.end() ? "missing" : std::to_string(i->second)));
  }
  for (const auto& [txn, rev] : idem) {
    if (l.sent.count(txn) != 1)
      p.add("idempotency record " + txn + ": not a promotion the writer sent");
    if (rev > l.revision)
      p.add("idempotency record " + txn + " at " + std::to_string(rev) +
                             ": beyond the board's revision");
  }
  INFO("problems found:" << p.text());
  REQUIRE(p.found.empty());
  // The in-doubt promotions: committed (whole, checked above) or absent.
  l.committed.clear();
  for (const std::string& txn : l.in_doubt) {
    auto i = idem.find(txn);
    if (i != idem.end()) l.committed[txn] = i->second;
  }
}

std::uint64_t crash_seed() {
  if (const char* s = std::getenv("AGORA_CRASH_SEED"); s && *s) return std::stoull(s);
  return std::random_device{}();
}

struct crash_loop {
  sync_mode sync = sync_mode::full;
  int threads = 4;
  std::uint64_t compact_every = 0;
  int kills = 200;
  // A file is replaced by a fresh one once it holds this many revisions, so
  // that the time a life spends in recovery stays bounded however fast the
  // machine writes.
  std::uint64_t revisions_per_file = 400;
};

// Totals over the files of one crash loop.
struct crash_totals {
  std::size_t files = 0, acked = 0, retried_present = 0, retried_absent = 0, max_in_doubt = 0;
  std::uint64_t compactions_seen = 0;
  steady::duration to_first_ack{}, checking{};
};

writer_config life_config(const crash_loop& cfg, const std::string& path, std::uint64_t seed,
                          const ledger& l) {
  writer_config c;
  c.path = path;
  c.sync = cfg.sync;
  c.threads = cfg.threads;
  c.seed = seed;
  c.start = l.next_seq;
  c.retry = l.retry_seqs();
  c.compact_every = cfg.compact_every;
  return c;
}

// One life killed at a random moment: started, left to run 0-50 ms after
// its first acknowledgement, killed with SIGKILL, then checked.
void kill_one_life(const crash_loop& cfg, const std::string& path, const std::string& err_file,
                   std::uint64_t seed, std::mt19937_64& rng, ledger& l, crash_totals& t) {
  const auto life_started = steady::now();
  writer_process w(life_config(cfg, path, seed, l), err_file);
  {
    INFO("writer stderr: " << w.stderr_text() << " output: " << w.tail());
    REQUIRE(w.read_until_line("ACK ", steady::now() + writer_timeout));
  }
  t.to_first_ack += steady::now() - life_started;
  w.read_until(steady::now() + milliseconds(rng() % 51));
  w.kill_now();
  const int status = w.wait_exit(steady::now() + writer_timeout);
  {
    INFO("writer " << describe_status(status) << "; stderr: " << w.stderr_text());
    REQUIRE(killed_by_sigkill(status));
  }
  l.absorb(w);
  t.max_in_doubt = std::max(t.max_in_doubt, l.in_doubt.size());
  const auto check_started = steady::now();
  check_board(path, cfg.sync, l);
  t.checking += steady::now() - check_started;
}

// The last life on a file: retries what the last kill left in doubt, does
// a few more promotions and ends cleanly; then the last check.
void finish_file(const crash_loop& cfg, const std::string& path, const std::string& err_file,
                 std::uint64_t seed, ledger& l, crash_totals& t) {
  writer_config c = life_config(cfg, path, seed, l);
  c.count = 8;
  writer_process w(c, err_file);
  const int status = w.wait_exit(steady::now() + writer_timeout);
  INFO("last writer " << describe_status(status) << "; stderr: " << w.stderr_text()
                      << "; output: " << w.tail());
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(w.lines().back() == "DONE");
  l.absorb(w);
  check_board(path, cfg.sync, l);
  CHECK(l.in_doubt.empty());
  ++t.files;
  t.acked += l.acked.size();
  t.retried_present += l.retried_present;
  t.retried_absent += l.retried_absent;
  if (cfg.compact_every != 0) {
    auto b = open_board(path, cfg.sync);
    t.compactions_seen += b->compact_revision() > 1 ? 1 : 0;
  }
}

// Kills a writer at random moments, cfg.kills times, checking after each
// kill and each restart; bounded in time.
void run_crash_loop(const crash_loop& cfg) {
  const std::uint64_t seed = crash_seed();
  WARN("crash test seed " << seed << " (set AGORA_CRASH_SEED=" << seed << " to repeat)");
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  temp_dir dir;
  const std::string err_file = dir.file("writer.err");
  const auto started = steady::now();
  const auto budget = std::chrono::seconds(120);
  crash_totals t;
  std::string path;
  ledger l;
  for (int kill = 0; kill < cfg.kills; ++kill) {
    if (path.empty() || l.revision >= cfg.revisions_per_file) {
      if (!path.empty()) finish_file(cfg, path, err_file, seed, l, t);
      path = dir.file("board" + std::to_string(t.files) + ".db");
      l = ledger{};
    }
    INFO("kill " << kill << " (a life of " << path << ")");
    kill_one_life(cfg, path, err_file, seed, rng, l, t);
    REQUIRE(steady::now() - started < budget);
  }
  finish_file(cfg, path, err_file, seed, l, t);
  // The test did what it claims: many promotions, kills in the middle of
  // them, retries of both kinds.
  CHECK(t.acked > static_cast<std::size_t>(cfg.kills));
  CHECK(t.retried_present > 0);
  CHECK(t.retried_absent > 0);
  if (cfg.compact_every != 0) CHECK(t.compactions_seen == t.files);
  auto ms = [](steady::duration d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
  };
  WARN("crash test: " << cfg.kills << " kills on " << t.files << " files, " << t.acked
                      << " acknowledged promotions, retried " << t.retried_present
                      << " committed and " << t.retried_absent
                      << " lost in-doubt promotions, at most " << t.max_in_doubt
                      << " in doubt at once; " << ms(steady::now() - started)
                      << " ms in all, of which " << ms(t.to_first_ack)
                      << " ms from start to first ACK, " << ms(t.checking) << " ms checking");
}

// --- Crash failpoints ---

// A writer life that must end by itself with DONE, after `count` promotions
// (and the retries the ledger holds); then checked.
void clean_life(writer_config c, std::uint64_t count, const std::string& err_file, ledger& l) {
  c.start = l.next_seq;
  c.retry = l.retry_seqs();
  c.count = count;
  c.failpoints.clear();
  writer_process w(c, err_file);
  const int status = w.wait_exit(steady::now() + writer_timeout);
  INFO("writer " << describe_status(status) << "; stderr: " << w.stderr_text()
                 << "; output: " << w.tail());
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(w.lines().back() == "DONE");
  l.absorb(w);
  check_board(c.path, c.sync, l);
  CHECK(l.in_doubt.empty());
}

// A writer life run with AGORA_FAILPOINTS=c.failpoints until a crash
// failpoint kills it. Nothing else signals it, and without the failpoint it
// would run until --max-seconds and exit with 3: a death by SIGKILL is the
// failpoint's. Returns the output; the caller checks where it stopped.
std::vector<std::string> crash_life(writer_config c, const std::string& err_file, ledger& l) {
  c.start = l.next_seq;
  c.retry = l.retry_seqs();
  c.count = 0;
  writer_process w(c, err_file);
  const int status = w.wait_exit(steady::now() + writer_timeout);
  INFO("AGORA_FAILPOINTS=" << c.failpoints << ": writer " << describe_status(status)
                           << "; stderr: " << w.stderr_text() << "; output: " << w.tail());
  REQUIRE(killed_by_sigkill(status));
  l.absorb(w);
  return w.lines();
}

std::size_t count_lines(const std::vector<std::string>& lines, const std::string& prefix) {
  return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& s) {
    return s.rfind(prefix, 0) == 0;
  }));
}

enum class in_flight { absent, present, either };

// A crash failpoint in the write path of a group commit, with one writer
// thread, so that each group is one promotion: life 1 commits 3 promotions
// cleanly; life 2 runs with `<point>=crash@<nth>` and dies with its nth
// group (or nth sync) in flight; the check finds every acknowledged one and
// the in-flight one as `expect` says; life 3 retries it: replayed at its
// original revision when it was durable, committed anew otherwise.
void run_write_path_crash(const std::string& point, std::uint64_t nth, in_flight expect,
                          bool exact_group) {
  temp_dir dir;
  const std::string err_file = dir.file("writer.err");
  writer_config c;
  c.path = dir.file("board.db");
  c.threads = 1;
  c.seed = crash_seed();
  INFO("seed " << c.seed);
  ledger l;
  clean_life(c, 3, err_file, l);
  REQUIRE(l.revision == 3);

  c.failpoints = point + "=crash@" + std::to_string(nth);
  const auto lines = crash_life(c, err_file, l);
  INFO("output of the crashed life: " << [&] {
    std::string s;
    for (const auto& x : lines) s += x + " | ";
    return s;
  }());
  // It died with one promotion sent and not acknowledged...
  REQUIRE(!lines.empty());
  CHECK(lines.back().rfind("SEND ", 0) == 0);
  REQUIRE(l.in_doubt.size() == 1);
  // ... after some were acknowledged: for the group-commit points exactly
  // nth - 1 (one group per promotion), for the sync points at least one.
  const std::size_t acks = count_lines(lines, "ACK ");
  if (exact_group) CHECK(acks == nth - 1);
  else CHECK(acks >= 1);
  const std::uint64_t acked_revision = l.revision + acks;

  check_board(c.path, c.sync, l);
  const std::string txn = l.in_doubt.front();
  const bool present = l.committed.count(txn) == 1;
  if (expect == in_flight::either)
    WARN("crash failpoint " << c.failpoints << ": the in-flight promotion " << txn << " is "
                            << (present ? "present" : "absent") << " after the crash");
  if (expect == in_flight::absent) CHECK_FALSE(present);
  if (expect == in_flight::present) CHECK(present);
  // Nothing but what was acknowledged, and the in-flight one at the next
  // revision when present.
  CHECK(l.revision == acked_revision + (present ? 1 : 0));
  if (present) CHECK(l.committed[txn] == acked_revision + 1);

  const std::size_t replayed_before = l.retried_present;
  clean_life(c, 3, err_file, l);
  CHECK(l.retried_present - replayed_before == (present ? 1u : 0u));
  CHECK(l.retried_present + l.retried_absent == 1);
  CHECK(l.revision == acked_revision + 1 + 3);
}


// The same with four writer threads, so that groups hold several
// promotions: whatever group the failpoint caught is wholly durable
// (`durable`) or wholly lost; its promotions are among the in-doubt ones.
void run_group_crash(const std::string& point, bool durable) {
  temp_dir dir;
  const std::string err_file = dir.file("writer.err");
  writer_config c;
  c.path = dir.file("board.db");
  c.threads = 4;
  c.seed = crash_seed();
  INFO("seed " << c.seed);
  ledger l;
  clean_life(c, 8, err_file, l);
  c.failpoints = point + "=crash@5";
  (void)crash_life(c, err_file, l);
  REQUIRE(!l.in_doubt.empty());
  check_board(c.path, c.sync, l);
  INFO(l.in_doubt.size() << " in doubt, " << l.committed.size() << " of them committed");
  if (durable) CHECK(!l.committed.empty());
  else CHECK(l.committed.size() < l.in_doubt.size());
  const std::size_t in_doubt = l.in_doubt.size(), committed = l.committed.size();
  clean_life(c, 8, err_file, l);
  CHECK(l.retried_present == committed);
  CHECK(l.retried_absent == in_doubt - committed);
}

}  // namespace

TEST_CASE("crash failpoint before_write loses the in-flight promotion and nothing else",
          "[blackboard][durable][crash][failpoint]") {
  run_write_path_crash("before_write", 3, in_flight::absent, true);
}

TEST_CASE("crash failpoint after_write loses the in-flight promotion and nothing else",
          "[blackboard][durable][crash][failpoint]") {
  run_write_path_crash("after_write", 3, in_flight::absent, true);
}

TEST_CASE("crash failpoint before_sync leaves the in-flight promotion all or nothing",
          "[blackboard][durable][crash][failpoint]") {
  run_write_path_crash("before_sync", 3, in_flight::either, false);
}

TEST_CASE("crash failpoint after_sync keeps the in-flight promotion and its retry replays it",
          "[blackboard][durable][crash][failpoint]") {
  run_write_path_crash("after_sync", 3, in_flight::present, false);
}

TEST_CASE("crash failpoint before_ack keeps the in-flight promotion and its retry replays it",
          "[blackboard][durable][crash][failpoint]") {
  run_write_path_crash("before_ack", 3, in_flight::present, true);
}

TEST_CASE("crash failpoint during_compaction keeps the log uncompacted and every promotion",
          "[blackboard][durable][crash][failpoint]") {
  temp_dir dir;
  const std::string err_file = dir.file("writer.err");
  writer_config c;
  c.path = dir.file("board.db");
  c.threads = 1;
  c.seed = crash_seed();
  INFO("seed " << c.seed);
  ledger l;
  clean_life(c, 3, err_file, l);
  // Compacting every 6 promotions: the first compaction goes through, the
  // second one dies inside its transaction.
  c.compact_every = 6;
  c.failpoints = "during_compaction=crash@2";
  const auto lines = crash_life(c, err_file, l);
  REQUIRE(count_lines(lines, "COMPACTED ") == 1);
  REQUIRE(count_lines(lines, "COMPACT ") == 2);
  REQUIRE(lines.back().rfind("COMPACT ", 0) == 0);
  CHECK(l.in_doubt.empty());
  std::uint64_t first = 0, second = 0;
  for (const auto& line : lines) {
    const auto f = words(line);
    if (f[0] == "COMPACTED") first = std::stoull(f[1]);
    if (f[0] == "COMPACT") second = std::stoull(f[1]);
  }
  REQUIRE(first > 0);
  REQUIRE(second > first);
  check_board(c.path, c.sync, l);
  {
    auto b = open_board(c.path);
    CHECK(b->compact_revision() == first);
  }
  // The board works on: compacts and commits again.
  clean_life(c, 12, err_file, l);
  auto b = open_board(c.path);
  CHECK(b->compact_revision() > second);
}

TEST_CASE("crash failpoint during_recovery leaves the log to the next open",
          "[blackboard][durable][crash][failpoint]") {
  temp_dir dir;
  const std::string err_file = dir.file("writer.err");
  writer_config c;
  c.path = dir.file("board.db");
  c.seed = crash_seed();
  INFO("seed " << c.seed);
  std::mt19937_64 rng(c.seed);
  ledger l;
  // A life killed in the middle of its promotions, not checked (so that its
  // WAL is still there, uncheckpointed, for the next open to recover).
  {
    writer_process w(c, err_file);
    REQUIRE(w.read_until_line("ACK ", steady::now() + writer_timeout));
    w.read_until(steady::now() + milliseconds(rng() % 51));
    w.kill_now();
    REQUIRE(killed_by_sigkill(w.wait_exit(steady::now() + writer_timeout)));
    l.absorb(w);
  }
  REQUIRE(!l.acked.empty());
  // Dies opening it: before it could report the open.
  c.failpoints = "during_recovery=crash";
  const auto lines = crash_life(c, err_file, l);
  CHECK(lines.empty());
  // Opened again without the failpoint: everything acknowledged is there.
  check_board(c.path, c.sync, l);
  clean_life(c, 8, err_file, l);
}

TEST_CASE("a durable blackboard survives SIGKILL at random moments",
          "[blackboard][durable][crash]") {
  run_crash_loop({});
}

TEST_CASE("a durable blackboard survives SIGKILL at random moments while compacting",
          "[blackboard][durable][crash]") {
  crash_loop cfg;
  cfg.compact_every = 16;
  run_crash_loop(cfg);
}

TEST_CASE("a durable blackboard with sync_mode normal survives SIGKILL at random moments",
          "[blackboard][durable][crash]") {
  crash_loop cfg;
  cfg.sync = sync_mode::normal;
  run_crash_loop(cfg);
}

TEST_CASE("crash failpoint before_ack with four writers keeps the caught group",
          "[blackboard][durable][crash][failpoint]") {
  run_group_crash("before_ack", true);
}

TEST_CASE("crash failpoint after_write with four writers loses the caught group",
          "[blackboard][durable][crash][failpoint]") {
  run_group_crash("after_write", false);
}
