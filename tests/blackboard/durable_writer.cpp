// durable_writer: the writer process of the crash tests (crash_test.cpp).
// It opens a durable blackboard and promotes a seeded sequence of
// transactions from several threads, reporting each one on stdout before
// and after the promotion, until it is killed (SIGKILL by the parent, or by
// a failpoint from AGORA_FAILPOINTS) or has done --count of them.
//
//   durable_writer --path board.db [--sync full|normal] [--threads 4]
//                  [--seed 1] [--start 1] [--retry 17,18] [--compact-every 0]
//                  [--count 0 (= until killed)] [--max-seconds 60]
//
// Promotion number `seq` has txn id "w<seq>"; its content (reads 1-3 keys,
// puts 2-3 keys whose values name the txn and seq) is a function of
// (seed, seq) only, so a later life can rebuild it exactly. Output, one line
// per write(2), so that a line is either wholly in the pipe or not at all
// when the process dies:
//
//   OPEN <revision> <compact_revision>       the board is open
//   RETRY <revision> <txn> <replayed 0|1>    a --retry promotion committed
//   READY                                    retries done, writers start
//   SEND <txn> <hash>                        about to promote
//   ACK <revision> <txn> <hash>              promote returned: durable
//   COMPACT <rev> / COMPACTED <rev>          around blackboard::compact
//   DONE                                     --count reached (exit 0)
//   ERROR <message>                          anything else (exit 2)
//
// <hash> is content_hash() below: FNV-1a 64 over "key\nvalue\n" of every
// written key in key order, 16 hex digits; crash_test.cpp computes the same
// from the committed record.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <agora/blackboard/blackboard.hpp>
#include <agora/blackboard/failpoints.hpp>

#include "crash_hash.hpp"

using namespace agora::bb;

namespace {

// Writes one whole line with write(2): nothing is left in a user-space
// buffer when the process is killed.
void emit(const std::string& line) {
  std::string s = line + "\n";
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::_Exit(4);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void fail(const std::string& msg) {
  emit("ERROR " + msg);
  std::fprintf(stderr, "durable_writer: %s\n", msg.c_str());
  std::_Exit(2);
}

struct plan {
  std::string txn;
  std::vector<std::string> reads;
  std::map<std::string, json> writes;  // key order: the order the hash uses
};

constexpr int key_pool = 24;

plan plan_for(std::uint64_t seed, std::uint64_t seq) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + seq);
  plan p;
  p.txn = "w" + std::to_string(seq);
  const int nreads = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < nreads; ++i) p.reads.push_back("k/" + std::to_string(rng() % key_pool));
  const int nwrites = 2 + static_cast<int>(rng() % 2);
  while (static_cast<int>(p.writes.size()) < nwrites) {
    const std::string key = "k/" + std::to_string(rng() % key_pool);
    p.writes[key] = {{"txn", p.txn}, {"seq", seq}, {"n", p.writes.size()}};
  }
  return p;
}

std::string content_hash(const std::map<std::string, json>& writes) {
  std::map<std::string, std::string> dumped;
  for (const auto& [k, v] : writes) dumped[k] = v.dump();
  return agora::bb::test::writes_hash(dumped);
}

// Promotes the plan, starting over on a conflict or when a concurrent
// compaction overtook the snapshot (the content does not depend on what was
// read, so every attempt is the same promotion).
commit_result promote_plan(blackboard& b, const plan& p) {
  promote_options o;
  o.txn_id = p.txn;
  for (int attempt = 0; attempt < 100000; ++attempt) {
    auto sp = b.begin("writer");
    bool overtaken = false;  // a compaction passed the snapshot while reading
    for (const auto& k : p.reads)
      if (auto e = sp.get(k); !e) {
        if (e.error().code != errc::compacted) fail("read " + k + ": " + to_string(e.error()));
        overtaken = true;
        break;
      }
    if (overtaken) continue;
    for (const auto& [k, v] : p.writes)
      if (auto s = sp.put(k, v); !s) fail("put " + k + ": " + to_string(s.error()));
    auto r = b.promote(std::move(sp), o);
    if (r) return *r;
    if (r.error().code != errc::conflict && r.error().code != errc::compacted)
      fail("promote " + p.txn + ": " + to_string(r.error()));
  }
  fail("promote " + p.txn + ": still conflicting after 100000 attempts");
}

struct args {
  std::string path;
  sync_mode sync = sync_mode::full;
  int threads = 4;
  std::uint64_t seed = 1;
  std::uint64_t start = 1;
  std::vector<std::uint64_t> retry;
  std::uint64_t compact_every = 0;
  std::uint64_t count = 0;
  int max_seconds = 60;
};

std::uint64_t to_u64(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0) fail("bad number for " + flag + ": '" + v + "'");
  return n;
}

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) fail("missing value after " + flag);
    const std::string v = argv[++i];
    if (flag == "--path") a.path = v;
    else if (flag == "--sync") {
      if (v == "full") a.sync = sync_mode::full;
      else if (v == "normal") a.sync = sync_mode::normal;
      else fail("bad --sync '" + v + "' (expected full or normal)");
    } else if (flag == "--threads") a.threads = static_cast<int>(to_u64(flag, v));
    else if (flag == "--seed") a.seed = to_u64(flag, v);
    else if (flag == "--start") a.start = to_u64(flag, v);
    else if (flag == "--retry") {
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ','))
        if (!item.empty()) a.retry.push_back(to_u64(flag, item));
    } else if (flag == "--compact-every") a.compact_every = to_u64(flag, v);
    else if (flag == "--count") a.count = to_u64(flag, v);
    else if (flag == "--max-seconds") a.max_seconds = static_cast<int>(to_u64(flag, v));
    else fail("unknown flag " + flag);
  }
  if (a.path.empty()) fail("--path is required");
  if (a.threads < 1) fail("--threads must be at least 1");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  // Dies with the test process; and never runs unbounded.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const args a = parse(argc, argv);
  std::thread([limit = a.max_seconds] {
    std::this_thread::sleep_for(std::chrono::seconds(limit));
    emit("ERROR still running after --max-seconds");
    std::_Exit(3);
  }).detach();

  // The test option: this test program, and only a program that asks,
  // takes failpoints from the environment.
  if (auto fp = failpoints::apply_environment(); !fp) fail(to_string(fp.error()));
  durability d;
  d.path = a.path;
  d.sync = a.sync;
  auto opened = blackboard::open(d);
  if (!opened) fail("open: " + to_string(opened.error()));
  std::shared_ptr<blackboard> board = *opened;
  emit("OPEN " + std::to_string(board->revision()) + " " +
       std::to_string(board->compact_revision()));

  for (std::uint64_t seq : a.retry) {
    const plan p = plan_for(a.seed, seq);
    const commit_result r = promote_plan(*board, p);
    emit("RETRY " + std::to_string(r.revision) + " " + p.txn + " " + (r.replayed ? "1" : "0"));
  }
  emit("READY");

  std::atomic<std::uint64_t> issued{0};
  auto work = [&] {
    for (;;) {
      const std::uint64_t n = issued.fetch_add(1);
      if (a.count != 0 && n >= a.count) return;
      const plan p = plan_for(a.seed, a.start + n);
      const std::string hash = content_hash(p.writes);
      emit("SEND " + p.txn + " " + hash);
      const commit_result r = promote_plan(*board, p);
      if (r.replayed) fail("promote " + p.txn + ": unexpectedly replayed");
      emit("ACK " + std::to_string(r.revision) + " " + p.txn + " " + hash);
      if (a.compact_every != 0 && (n + 1) % a.compact_every == 0) {
        const std::uint64_t keep = a.compact_every / 2 + 1;
        const std::uint64_t rev = board->revision();
        if (rev > keep && rev - keep > board->compact_revision()) {
          emit("COMPACT " + std::to_string(rev - keep));
          if (auto s = board->compact(rev - keep); !s) fail("compact: " + to_string(s.error()));
          emit("COMPACTED " + std::to_string(rev - keep));
        }
      }
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < a.threads; ++t) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  board.reset();
  emit("DONE");
  return 0;
}
