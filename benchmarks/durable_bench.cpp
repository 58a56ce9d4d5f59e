// durable_bench: durable promotions on Agora's SQLite-backed blackboard
// against etcd and Redis doing the same work with the same durability.
//
//   durable_bench [--quick] [--reps N] [--seconds S] [--dir PATH]
//                 [--systems agora,etcd,redis] [--writers 1,16,64] [--keep]
//                 [--agora-spin]
//
// One promotion: read 1-3 keys of a 10,000-key space (one pick in ten from
// 100 hot keys), then atomically write two ~200-byte JSON values (the first
// read key and one more key) and one history record, only if the read keys
// are unchanged; on a conflict, read again and retry (counted). Every system
// acknowledges only after its write is synced to disk:
//   agora  blackboard::open(durability{path, sync_mode::full}); scratchpad
//          gets + 2 puts + promote (serializable, with a txn_id); the history
//          record is the blackboard's own transaction log.
//   etcd   etcd-server (WAL fsync on, as by default), its v3 HTTP/JSON gateway
//          through libcurl, one keep-alive connection per writer; reads are
//          one read-only txn, the write a txn comparing each read key's
//          mod_revision and putting the 2 values and hist/<run>/<w>/<n>.
//   redis  redis-server with appendonly yes, appendfsync always; RESP over a
//          plain socket per writer; reads are pipelined HMGETs of hashes
//          {val, ver}, the write an EVALSHA script that checks each read
//          key's ver and writes the 2 values and hist/<run>/<w>/<n>.
// The peers are started by this program on free loopback ports with their
// data in a fresh directory on the same file system as Agora's file (default
// under /var/tmp; never use tmpfs), and stopped at exit, also on failure.
// Each case runs for a fixed time (3 s, --quick 1 s) at 1, 16 and 64
// writers (threads); figures are medians over N >= 5 repetitions (default
// 5). After every run the number of history records written is checked
// against the promotions counted. The last line of output is one JSON
// object for machines.

#include "bench_common.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "agora/blackboard/blackboard.hpp"
#include "agora/blackboard/failpoints.hpp"

using agora::bench::human;
using agora::bench::seconds_since;

namespace {

namespace bb = agora::bb;
namespace fs = std::filesystem;
using nlohmann::json;
using steady = std::chrono::steady_clock;

constexpr int k_keys = 10000;
constexpr int k_hot_keys = 100;
constexpr int k_hot_one_in = 10;     // one key pick in ten is a hot key
constexpr double k_target_ratio = 3; // Agora >= 3x the best peer at 16 writers

struct settings {
  bool quick = false;
  int reps = 5;
  double seconds = 3;
  std::string dir;  // parent of the data directory
  std::vector<std::string> systems{"agora", "etcd", "redis"};
  bool keep = false;
  std::vector<int> writers{1, 16, 64};
  bool agora_spin = false;  // retry a conflict at once, without waiting for visibility
};

// --- Failure and cleanup ----------------------------------------------------------

/// Server processes started by this program; killed at any exit.
std::mutex children_mutex;
std::vector<pid_t> children;
std::string data_dir;  // removed at exit unless --keep
bool keep_data = false;

void stop_children() {
  std::vector<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(children_mutex);
    pids.swap(children);
  }
  for (pid_t p : pids)
    ::kill(p, SIGTERM);
  for (pid_t p : pids) {
    // Give each 5 s to shut down cleanly, then SIGKILL.
    auto t0 = steady::now();
    int st = 0;
    while (::waitpid(p, &st, WNOHANG) == 0) {
      if (seconds_since(t0) > 5) {
        ::kill(p, SIGKILL);
        ::waitpid(p, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

/// Set once a signal stops the run; failures after it are its consequences.
std::atomic<bool> stopping{false};
std::mutex cleanup_mutex;

void cleanup() {
  std::lock_guard<std::mutex> lock(cleanup_mutex);
  stop_children();
  if (!data_dir.empty() && !keep_data) {
    std::error_code ec;
    fs::remove_all(data_dir, ec);
  }
}

[[noreturn]] void die(const std::string& what) {
  // The signal thread is stopping the servers and will exit for everyone.
  while (stopping.load())
    std::this_thread::sleep_for(std::chrono::seconds(1));
  std::cerr << "durable_bench: " << what << std::endl;
  std::exit(1);  // runs cleanup() (atexit)
}

/// Blocks SIGINT, SIGTERM and SIGHUP in every thread and starts one that
/// waits for them, stops the servers, removes the data directory and exits.
/// (The servers also die with this process through PR_SET_PDEATHSIG.)
void handle_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    stopping.store(true);
    std::cerr << "durable_bench: signal " << sig << ", stopping the servers" << std::endl;
    cleanup();
    std::_Exit(128 + sig);
  }).detach();
}

// --- Workload --------------------------------------------------------------------

struct xorshift {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

std::string key_name(int i) { return "k/" + std::to_string(i); }

int pick_key(xorshift& rng) {
  if (rng.next() % k_hot_one_in == 0)
    return static_cast<int>(rng.next() % k_hot_keys);
  return static_cast<int>(rng.next() % k_keys);
}

/// About 200 bytes of JSON text.
json make_value(int writer, std::uint64_t seq, int slot) {
  return json{{"writer", writer},
              {"seq", seq},
              {"slot", slot},
              {"status", "accepted"},
              {"score", 0.5 + static_cast<double>(seq % 100) / 200.0},
              {"tags", json::array({"durable", "bench", "json"})},
              {"text", std::string(96, static_cast<char>('a' + (seq + static_cast<std::uint64_t>(slot)) % 26))}};
}

/// One promotion to make, the same for every system.
struct plan {
  std::vector<std::string> reads;  // 1-3 distinct keys
  std::string write[2];            // write[0] = reads[0]; write[1] another key
  json value[2];
  std::string history;  // peers' history key hist/<run>/<writer>/<seq>
  json history_value;
  std::string txn_id;
};

plan make_plan(xorshift& rng, int run, int writer, std::uint64_t seq) {
  plan p;
  int n = 1 + static_cast<int>(rng.next() % 3);
  std::vector<int> ids;
  while (static_cast<int>(ids.size()) < n) {
    int k = pick_key(rng);
    if (std::find(ids.begin(), ids.end(), k) == ids.end())
      ids.push_back(k);
  }
  int second = pick_key(rng);
  while (second == ids[0])
    second = pick_key(rng);
  for (int k : ids)
    p.reads.push_back(key_name(k));
  p.write[0] = key_name(ids[0]);
  p.write[1] = key_name(second);
  p.value[0] = make_value(writer, seq, 0);
  p.value[1] = make_value(writer, seq, 1);
  std::string id = std::to_string(run) + "/" + std::to_string(writer) + "/" + std::to_string(seq);
  p.history = "hist/" + id;
  p.history_value = json{{"writer", writer}, {"seq", seq}, {"reads", p.reads},
                         {"writes", json::array({p.write[0], p.write[1]})}};
  p.txn_id = "bench/" + id;
  return p;
}

/// One writer's connection to a system. try_promote reads the plan's keys and
/// makes the conditional write once: true = committed (durably), false = a
/// read key changed (conflict). Anything else is fatal.
class writer_client {
 public:
  virtual ~writer_client() = default;
  virtual bool try_promote(const plan& p) = 0;
};

/// A system under test: preloaded before each run, then one client per writer.
class system_under_test {
 public:
  virtual ~system_under_test() = default;
  virtual std::string name() const = 0;
  /// Called before each timed run (untimed).
  virtual void prepare_run(int run) = 0;
  virtual std::unique_ptr<writer_client> connect(int writer) = 0;
  /// Number of history records written in `run` (checked against commits).
  virtual long history_count(int run) = 0;
  /// Figures of the run only this system can tell (name, unit, value).
  virtual std::vector<std::tuple<std::string, std::string, double>> run_stats() { return {}; }
  /// Called after each run (untimed).
  virtual void finish_run() {}
};

// --- Agora -----------------------------------------------------------------------

class agora_client : public writer_client {
 public:
  agora_client(std::shared_ptr<bb::blackboard> board, int writer, bool spin)
      : board_(std::move(board)), author_("bench/writer" + std::to_string(writer)), spin_(spin) {}

  bool try_promote(const plan& p) override {
    auto sp = board_->begin(author_);
    for (const auto& k : p.reads)
      if (auto e = sp.get(k); !e)
        die("agora: get " + k + ": " + to_string(e.error()));
    for (int i = 0; i < 2; ++i)
      if (auto s = sp.put(p.write[i], p.value[i]); !s)
        die("agora: put " + p.write[i] + ": " + to_string(s.error()));
    bb::promote_options opts;
    opts.txn_id = p.txn_id;
    auto r = board_->promote(std::move(sp), opts);
    if (r)
      return true;
    if (r.error().code == bb::errc::conflict) {
      if (!spin_) wait_until_visible(r.error());
      return false;
    }
    die("agora: promote " + p.txn_id + ": " + to_string(r.error()));
  }

 private:
  /// A durable board validates against promotions still being synced, but
  /// its snapshots show only acknowledged ones: a retry before the
  /// conflicting revision is visible would read the old value and conflict
  /// again. So wait for it (polled; a sync takes milliseconds).
  void wait_until_visible(const bb::error& e) {
    std::uint64_t need = 0;
    for (const auto& c : e.conflicts) need = std::max(need, c.current_revision);
    auto t0 = steady::now();
    while (board_->revision() < need) {
      if (seconds_since(t0) > 30)
        die("agora: revision " + std::to_string(need) + " not visible after 30 s");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  std::shared_ptr<bb::blackboard> board_;
  std::string author_;
  bool spin_;
};

class agora_system : public system_under_test {
 public:
  agora_system(std::string dir, bool spin) : dir_(std::move(dir)), spin_(spin) {}
  std::string name() const override { return "agora"; }

  // A fresh file per run, so runs do not inherit each other's log.
  void prepare_run(int run) override {
    board_.reset();
    path_ = dir_ + "/agora-" + std::to_string(run) + ".db";
    bb::durability d;
    d.path = path_;
    d.sync = bb::sync_mode::full;
    auto b = bb::blackboard::open(d);
    if (!b)
      die("agora: open " + path_ + ": " + to_string(b.error()));
    board_ = std::move(*b);
    if (!board_->durable())
      die("agora: open returned a board that is not durable");
    const int batch = static_cast<int>(std::min<std::size_t>(board_->options().limits.max_ops_per_txn, 500));
    for (int i = 0; i < k_keys; i += batch) {
      auto sp = board_->begin("bench/loader");
      for (int j = i; j < std::min(k_keys, i + batch); ++j)
        if (!sp.put(key_name(j), make_value(-1, static_cast<std::uint64_t>(j), 0)).ok())
          die("agora: preload put failed");
      if (auto r = board_->promote(std::move(sp)); !r)
        die("agora: preload promote: " + to_string(r.error()));
    }
    start_revision_ = board_->revision();
    start_counters_ = bb::failpoints::counters();
  }
  std::unique_ptr<writer_client> connect(int writer) override {
    return std::make_unique<agora_client>(board_, writer, spin_);
  }
  long history_count(int) override {
    auto h = board_->history(start_revision_ + 1);
    if (!h) {
      if (board_->revision() == start_revision_) return 0;
      die("agora: history: " + to_string(h.error()));
    }
    return static_cast<long>(h->size());
  }
  /// From the durable log's counters: promotions per group commit, and
  /// fsyncs (WAL and checkpoints) per promotion.
  std::vector<std::tuple<std::string, std::string, double>> run_stats() override {
    auto c = bb::failpoints::counters();
    double promotions = static_cast<double>(c.promotions - start_counters_.promotions);
    double groups = static_cast<double>(c.group_commits - start_counters_.group_commits);
    double syncs = static_cast<double>(c.syncs - start_counters_.syncs);
    return {{"promotions/group", "ratio", groups > 0 ? promotions / groups : 0},
            {"fsyncs/promotion", "ratio", promotions > 0 ? syncs / promotions : 0}};
  }
  void finish_run() override {
    board_.reset();
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      fs::remove(path_ + suffix, ec);
  }

 private:
  std::string dir_;
  bool spin_;
  std::string path_;
  std::shared_ptr<bb::blackboard> board_;
  std::uint64_t start_revision_ = 0;
  bb::failpoints::durable_counters start_counters_;
};

// --- Server processes ------------------------------------------------------------

/// A free loopback TCP port (bound, read back, released).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  for (std::string d; std::getline(ss, d, ':');) {
    std::string p = d + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  for (const char* d : {"/usr/sbin", "/usr/bin"}) {
    std::string p = std::string(d) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  die(name + " not found: install the benchmark's peers with `scripts/setup.sh --bench` "
             "(Debian's etcd-server and redis-server), or leave it out with --systems");
}

/// The first line `program --version` prints ("?" when it cannot run).
std::string version_of(const std::string& program) {
  std::string cmd = program + " --version 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return "?";
  char line[256] = {0};
  std::string out = std::fgets(line, sizeof line, f) != nullptr ? line : "?";
  ::pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

/// Starts argv[0] with stdout/stderr to `log`; it dies with this process.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::lock_guard<std::mutex> lock(children_mutex);
  pid_t pid = ::fork();
  if (pid < 0) die(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;  // undo handle_signals(): the mask survives exec
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  children.push_back(pid);
  return pid;
}

std::string tail_of(const std::string& file) {
  std::ifstream in(file);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 1500 ? all.substr(all.size() - 1500) : all;
}

/// Polls `ready` every 50 ms for up to 30 s; dies (with the log) when the
/// server exits or never answers.
void wait_until_ready(const std::string& what, pid_t pid, const std::string& log,
                      const std::function<bool()>& ready) {
  auto t0 = steady::now();
  while (seconds_since(t0) < 30) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid)
      die(what + " exited at start; its log " + log + ":\n" + tail_of(log));
    if (ready()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  die(what + " did not answer within 30 s; its log " + log + ":\n" + tail_of(log));
}

// --- etcd ------------------------------------------------------------------------

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

/// The gateway prints int64 fields as JSON strings.
std::uint64_t json_u64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return 0;
  if (it->is_string()) return std::strtoull(it->get<std::string>().c_str(), nullptr, 10);
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  return 0;
}

/// One keep-alive HTTP connection to etcd's JSON gateway.
class etcd_connection {
 public:
  explicit etcd_connection(int port) : base_("http://127.0.0.1:" + std::to_string(port)) {
    h_ = curl_easy_init();
    if (h_ == nullptr) die("curl_easy_init failed");
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h_, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, &etcd_connection::on_data);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &body_);
  }
  ~etcd_connection() {
    curl_easy_cleanup(h_);
    curl_slist_free_all(headers_);
  }
  etcd_connection(const etcd_connection&) = delete;
  etcd_connection& operator=(const etcd_connection&) = delete;

  /// GET or POST (when `payload` is given); nullopt when the server cannot
  /// be reached or answers other than 200 (the reason in `why`).
  std::optional<json> call(const std::string& path, const std::string* payload, std::string* why = nullptr) {
    body_.clear();
    std::string url = base_ + path;
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    if (payload != nullptr) {
      curl_easy_setopt(h_, CURLOPT_POST, 1L);
      curl_easy_setopt(h_, CURLOPT_POSTFIELDS, payload->data());
      curl_easy_setopt(h_, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload->size()));
    } else {
      curl_easy_setopt(h_, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(h_);
    long status = 0;
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
      if (why != nullptr)
        *why = rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP " + std::to_string(status) + ": " + body_;
      return std::nullopt;
    }
    auto j = json::parse(body_, nullptr, false);
    if (j.is_discarded()) {
      if (why != nullptr) *why = "reply is not JSON: " + body_.substr(0, 200);
      return std::nullopt;
    }
    return j;
  }

  json post(const std::string& path, const json& request) {
    std::string payload = request.dump();
    std::string why;
    auto r = call(path, &payload, &why);
    if (!r) die("etcd " + path + ": " + why);
    return *r;
  }

 private:
  static std::size_t on_data(char* p, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, size * n);
    return size * n;
  }
  std::string base_;
  CURL* h_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string body_;
};

class etcd_client : public writer_client {
 public:
  explicit etcd_client(int port) : c_(port) {}

  bool try_promote(const plan& p) override {
    // Reads: one read-only txn (served without a raft write) of 1-3 ranges.
    json ranges = json::array();
    for (const auto& k : p.reads)
      ranges.push_back({{"request_range", {{"key", base64(k)}}}});
    json rr = c_.post("/v3/kv/txn", json{{"success", ranges}});
    auto responses = rr.find("responses");
    if (responses == rr.end() || !responses->is_array() || responses->size() != p.reads.size())
      die("etcd: read txn reply without one response per key: " + rr.dump());
    // Write: compare every read key's mod_revision (0 = absent), then put.
    json compare = json::array();
    for (std::size_t i = 0; i < p.reads.size(); ++i) {
      std::uint64_t mod = 0;
      const json& range = (*responses)[i].value("response_range", json::object());
      auto kvs = range.find("kvs");
      if (kvs != range.end() && kvs->is_array() && !kvs->empty())
        mod = json_u64((*kvs)[0], "mod_revision");
      compare.push_back({{"key", base64(p.reads[i])},
                         {"target", "MOD"},
                         {"result", "EQUAL"},
                         {"mod_revision", std::to_string(mod)}});
    }
    json puts = json::array();
    for (int i = 0; i < 2; ++i)
      puts.push_back({{"request_put", {{"key", base64(p.write[i])}, {"value", base64(p.value[i].dump())}}}});
    puts.push_back({{"request_put", {{"key", base64(p.history)}, {"value", base64(p.history_value.dump())}}}});
    json wr = c_.post("/v3/kv/txn", json{{"compare", compare}, {"success", puts}});
    return wr.value("succeeded", false);
  }

 private:
  etcd_connection c_;
};

class etcd_system : public system_under_test {
 public:
  explicit etcd_system(const std::string& dir) {
    client_port_ = free_port();
    int peer_port = free_port();
    while (peer_port == client_port_) peer_port = free_port();
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port);
    std::string data = dir + "/etcd";
    log_ = dir + "/etcd.log";
    // Defaults otherwise: the WAL is fsynced before a write is acknowledged
    // (--unsafe-no-fsync stays off).
    pid_ = spawn({find_program("etcd"), "--name", "bench", "--data-dir", data,
                  "--listen-client-urls", client, "--advertise-client-urls", client,
                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                  "--initial-cluster", "bench=" + peer, "--initial-cluster-state", "new",
                  "--quota-backend-bytes", std::to_string(8LL << 30), "--logger", "zap",
                  "--log-level", "warn"},
                 log_);
    etcd_connection probe(client_port_);
    wait_until_ready("etcd", pid_, log_, [&] {
      auto h = probe.call("/health", nullptr);
      return h && h->value("health", "") == "true";
    });
    // Preload every key once; the servers keep their data across runs.
    for (int i = 0; i < k_keys; i += 100) {
      json puts = json::array();
      for (int j = i; j < std::min(k_keys, i + 100); ++j)
        puts.push_back({{"request_put",
                         {{"key", base64(key_name(j))},
                          {"value", base64(make_value(-1, static_cast<std::uint64_t>(j), 0).dump())}}}});
      probe.post("/v3/kv/txn", json{{"success", puts}});
    }
  }
  std::string name() const override { return "etcd"; }
  void prepare_run(int) override {}
  std::unique_ptr<writer_client> connect(int) override {
    return std::make_unique<etcd_client>(client_port_);
  }
  long history_count(int run) override {
    etcd_connection c(client_port_);
    std::string prefix = "hist/" + std::to_string(run) + "/";
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    json r = c.post("/v3/kv/range", json{{"key", base64(prefix)}, {"range_end", base64(end)}, {"count_only", true}});
    return static_cast<long>(json_u64(r, "count"));
  }

 private:
  int client_port_ = 0;
  pid_t pid_ = 0;
  std::string log_;
};

// --- Redis -----------------------------------------------------------------------

/// A RESP reply: simple string, error, integer, bulk string (nil = is_nil),
/// or array.
struct resp {
  char type = 0;  // '+', '-', ':', '$', '*'
  std::string str;
  long long integer = 0;
  bool is_nil = false;
  std::vector<resp> items;
};

/// One blocking RESP connection.
class redis_connection {
 public:
  explicit redis_connection(int port, bool quiet_failure = false) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) die(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};  // a reply that never comes fails the bench instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
      if (!quiet_failure) die("redis: connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
    }
  }
  ~redis_connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;
  bool connected() const { return fd_ >= 0; }

  static void append_command(std::string& out, const std::vector<std::string>& args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (const auto& a : args) {
      out += '$';
      out += std::to_string(a.size());
      out += "\r\n";
      out += a;
      out += "\r\n";
    }
  }

  void send_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) die(std::string("redis: send: ") + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
  }

  resp read_reply() {
    resp r;
    std::string line = read_line();
    if (line.empty()) die("redis: empty reply line");
    r.type = line[0];
    std::string rest = line.substr(1);
    switch (r.type) {
      case '+':
      case '-':
        r.str = rest;
        break;
      case ':':
        r.integer = std::atoll(rest.c_str());
        break;
      case '$': {
        long long n = std::atoll(rest.c_str());
        if (n < 0) {
          r.is_nil = true;
          break;
        }
        fill(static_cast<std::size_t>(n) + 2);
        r.str = buf_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n) + 2;
        break;
      }
      case '*': {
        long long n = std::atoll(rest.c_str());
        if (n < 0) {
          r.is_nil = true;
          break;
        }
        for (long long i = 0; i < n; ++i)
          r.items.push_back(read_reply());
        break;
      }
      default:
        die("redis: unexpected reply: " + line);
    }
    return r;
  }

  resp command(const std::vector<std::string>& args) {
    std::string out;
    append_command(out, args);
    send_all(out);
    resp r = read_reply();
    if (r.type == '-') die("redis: " + args[0] + ": " + r.str);
    return r;
  }

 private:
  /// Makes at least `n` bytes available at pos_.
  void fill(std::size_t n) {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
    while (buf_.size() - pos_ < n) {
      char chunk[16384];
      ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got == 0) die("redis: the server closed the connection");
      if (errno == EAGAIN || errno == EWOULDBLOCK) die("redis: no reply within 30 s");
      if (got < 0) die(std::string("redis: recv: ") + std::strerror(errno));
      buf_.append(chunk, static_cast<std::size_t>(got));
    }
  }
  std::string read_line() {
    for (;;) {
      auto end = buf_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string line = buf_.substr(pos_, end - pos_);
        pos_ = end + 2;
        return line;
      }
      fill(buf_.size() - pos_ + 1);
    }
  }

  int fd_ = -1;
  std::string buf_;
  std::size_t pos_ = 0;
};

// KEYS: the n read keys, the 2 written keys, the history key. ARGV: n, the n
// versions read ("0" = absent), the 2 values, the history value.
const char* const k_redis_script = R"lua(
local n = tonumber(ARGV[1])
for i = 1, n do
  local v = redis.call('HGET', KEYS[i], 'ver')
  if (v or '0') ~= ARGV[1 + i] then return 0 end
end
for j = 1, 2 do
  local k = KEYS[n + j]
  redis.call('HINCRBY', k, 'ver', 1)
  redis.call('HSET', k, 'val', ARGV[1 + n + j])
end
redis.call('SET', KEYS[n + 3], ARGV[n + 4])
return 1
)lua";

class redis_client : public writer_client {
 public:
  redis_client(int port, std::string sha) : c_(port), sha_(std::move(sha)) {}

  bool try_promote(const plan& p) override {
    // Reads: one round trip of pipelined HMGETs.
    std::string out;
    for (const auto& k : p.reads)
      redis_connection::append_command(out, {"HMGET", k, "val", "ver"});
    c_.send_all(out);
    std::vector<std::string> args{"EVALSHA", sha_, std::to_string(p.reads.size() + 3)};
    for (const auto& k : p.reads) args.push_back(k);
    args.push_back(p.write[0]);
    args.push_back(p.write[1]);
    args.push_back(p.history);
    args.push_back(std::to_string(p.reads.size()));
    for (const auto& k : p.reads) {
      resp r = c_.read_reply();
      if (r.type != '*' || r.items.size() != 2) die("redis: HMGET " + k + ": unexpected reply");
      args.push_back(r.items[1].is_nil ? "0" : r.items[1].str);
    }
    args.push_back(p.value[0].dump());
    args.push_back(p.value[1].dump());
    args.push_back(p.history_value.dump());
    resp w = c_.command(args);
    if (w.type != ':') die("redis: EVALSHA: unexpected reply type");
    return w.integer == 1;
  }

 private:
  redis_connection c_;
  std::string sha_;
};

class redis_system : public system_under_test {
 public:
  explicit redis_system(const std::string& dir) {
    port_ = free_port();
    std::string data = dir + "/redis";
    fs::create_directories(data);
    log_ = dir + "/redis.log";
    pid_ = spawn({find_program("redis-server"), "--port", std::to_string(port_), "--bind", "127.0.0.1",
                  "--dir", data, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                  "--daemonize", "no", "--protected-mode", "no"},
                 log_);
    wait_until_ready("redis-server", pid_, log_, [&] {
      redis_connection probe(port_, true);
      if (!probe.connected()) return false;
      std::string out;
      redis_connection::append_command(out, {"PING"});
      probe.send_all(out);
      return probe.read_reply().str == "PONG";
    });
    redis_connection c(port_);
    resp fsync = c.command({"CONFIG", "GET", "appendfsync"});
    if (fsync.items.size() != 2 || fsync.items[1].str != "always")
      die("redis-server does not run with appendfsync always");
    sha_ = c.command({"SCRIPT", "LOAD", k_redis_script}).str;
    std::string out;
    for (int i = 0; i < k_keys; ++i)
      redis_connection::append_command(
          out, {"HSET", key_name(i), "val", make_value(-1, static_cast<std::uint64_t>(i), 0).dump(), "ver", "1"});
    c.send_all(out);
    for (int i = 0; i < k_keys; ++i)
      if (c.read_reply().type == '-') die("redis: preload HSET failed");
  }
  std::string name() const override { return "redis"; }
  void prepare_run(int) override {
    redis_connection c(port_);
    dbsize_before_ = c.command({"DBSIZE"}).integer;
  }
  std::unique_ptr<writer_client> connect(int) override { return std::make_unique<redis_client>(port_, sha_); }
  long history_count(int) override {
    redis_connection c(port_);
    return static_cast<long>(c.command({"DBSIZE"}).integer - dbsize_before_);
  }

 private:
  int port_ = 0;
  pid_t pid_ = 0;
  std::string log_;
  std::string sha_;
  long long dbsize_before_ = 0;
};

// --- Running a case --------------------------------------------------------------

struct run_result {
  double promotions_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double retries_per_promotion = 0;
  std::vector<std::tuple<std::string, std::string, double>> stats;  // system_under_test::run_stats
};

double percentile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  auto idx = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
}

/// `writers` threads promote for `seconds`; latency is from the first read
/// to the acknowledged commit, retries included.
run_result run_case(system_under_test& sys, int run, int writers, double seconds) {
  sys.prepare_run(run);
  std::vector<std::unique_ptr<writer_client>> clients;
  for (int w = 0; w < writers; ++w)
    clients.push_back(sys.connect(w));
  std::vector<std::vector<float>> lat(static_cast<std::size_t>(writers));
  std::vector<long> retries(static_cast<std::size_t>(writers), 0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> pool;
  for (int w = 0; w < writers; ++w)
    pool.emplace_back([&, w] {
      auto& mine = lat[static_cast<std::size_t>(w)];
      mine.reserve(1 << 16);
      xorshift rng{0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(run * 131 + w + 1)};
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      for (std::uint64_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        plan p = make_plan(rng, run, w, seq);
        auto t0 = steady::now();
        while (!clients[static_cast<std::size_t>(w)]->try_promote(p))
          ++retries[static_cast<std::size_t>(w)];
        mine.push_back(static_cast<float>(
            std::chrono::duration<double, std::micro>(steady::now() - t0).count()));
      }
    });
  while (ready.load() < writers)
    std::this_thread::yield();
  auto t0 = steady::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& t : pool) t.join();
  double secs = seconds_since(t0);
  clients.clear();

  std::vector<float> all;
  long total_retries = 0;
  for (int w = 0; w < writers; ++w) {
    all.insert(all.end(), lat[static_cast<std::size_t>(w)].begin(), lat[static_cast<std::size_t>(w)].end());
    total_retries += retries[static_cast<std::size_t>(w)];
  }
  long commits = static_cast<long>(all.size());
  long recorded = sys.history_count(run);
  if (recorded != commits)
    die(sys.name() + ": run " + std::to_string(run) + " acknowledged " + std::to_string(commits) +
        " promotions but holds " + std::to_string(recorded) + " history records");
  run_result r;
  r.stats = sys.run_stats();
  sys.finish_run();
  r.promotions_per_s = static_cast<double>(commits) / secs;
  r.p50_us = percentile(all, 0.50);
  r.p99_us = percentile(all, 0.99);
  r.retries_per_promotion = commits > 0 ? static_cast<double>(total_retries) / static_cast<double>(commits) : 0;
  return r;
}

// --- Disk ------------------------------------------------------------------------

/// The file system and device holding `dir` (from statfs and /proc/self/mountinfo).
json describe_disk(const std::string& dir) {
  json d{{"path", dir}};
  struct statfs s {};
  std::string fstype = "unknown";
  if (::statfs(dir.c_str(), &s) == 0) {
    switch (static_cast<unsigned long>(s.f_type)) {
      case 0xEF53: fstype = "ext4"; break;
      case 0x58465342: fstype = "xfs"; break;
      case 0x9123683E: fstype = "btrfs"; break;
      case 0x01021994: fstype = "tmpfs"; break;
      case 0x794C7630: fstype = "overlay"; break;
      default: break;
    }
  }
  d["fs"] = fstype;
  // The longest mount point that prefixes dir names the device.
  std::ifstream in("/proc/self/mountinfo");
  std::string best_mount, device;
  std::string canonical = fs::weakly_canonical(dir).string();
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string id, parent, majmin, root, mount;
    ls >> id >> parent >> majmin >> root >> mount;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string type, source;
    rest >> type >> source;
    bool prefix = canonical.compare(0, mount.size(), mount) == 0 &&
                  (mount == "/" || canonical.size() == mount.size() || canonical[mount.size()] == '/');
    if (prefix && mount.size() >= best_mount.size()) {
      best_mount = mount;
      device = source;
    }
  }
  d["mount"] = best_mount;
  d["device"] = device;
  if (device.rfind("/dev/", 0) == 0) {
    std::string name = device.substr(5);
    std::ifstream rot("/sys/class/block/" + name + "/queue/rotational");
    int r = -1;
    if (rot >> r) d["rotational"] = r == 1;
  }
  return d;
}

/// Median latency of write(4 KiB) + fdatasync on `dir`: the floor of one
/// synced commit, for reading the figures.
double fdatasync_median_us(const std::string& dir) {
  std::string file = dir + "/fsync-probe";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open " + file + ": " + std::strerror(errno));
  std::string block(4096, 'x');
  std::vector<float> us;
  for (int i = 0; i < 200; ++i) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()))
      die("write " + file + ": " + std::strerror(errno));
    auto t0 = steady::now();
    if (::fdatasync(fd) != 0) die("fdatasync " + file + ": " + std::strerror(errno));
    us.push_back(static_cast<float>(std::chrono::duration<double, std::micro>(steady::now() - t0).count()));
  }
  ::close(fd);
  ::unlink(file.c_str());
  return percentile(us, 0.5);
}

// --- Output ----------------------------------------------------------------------

using agora::bench::figure;

struct case_figures {
  figure rate, p50, p99, retries;
  std::vector<figure> stats;  // run_stats(), in its order
};

std::string case_name(const std::string& system, int writers) {
  return system + ", " + std::to_string(writers) + (writers == 1 ? " writer" : " writers");
}

void print_table(const std::vector<figure>& figures, const json& m, const settings& s, double fsync_us) {
  std::printf("durable_bench: %s, %d cores, %s; %d repetitions of %.1f s%s\n",
              m["cpu"].get<std::string>().c_str(), m["cores"].get<int>(), m["kernel"].get<std::string>().c_str(),
              s.reps, s.seconds, s.quick ? " (quick)" : "");
  const json& d = m["disk"];
  std::printf("data on %s (%s on %s, %s), fdatasync median %.0f us\n", d["path"].get<std::string>().c_str(),
              d["fs"].get<std::string>().c_str(), d["device"].get<std::string>().c_str(),
              d.contains("rotational") ? (d["rotational"].get<bool>() ? "rotational=1" : "rotational=0")
                                       : "rotational=?",
              fsync_us);
  if (m.contains("peers"))
    for (const auto& [name, version] : m["peers"].items())
      std::printf("%s: %s\n", name.c_str(), version.get<std::string>().c_str());
  std::printf("%-22s %-22s %10s %10s %10s %-10s %10s %7s\n", "case", "metric", "median", "min", "max", "unit",
              "best peer", "ratio");
  std::printf("%s\n", std::string(108, '-').c_str());
  for (const figure& f : figures) {
    std::string base = f.baseline ? human(*f.baseline) : "-";
    std::string ratio = "-";
    if (f.baseline && *f.baseline > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", f.median() / *f.baseline);
      ratio = buf;
    }
    std::printf("%-22s %-22s %10s %10s %10s %-10s %10s %7s\n", f.case_name.c_str(), f.metric.c_str(),
                human(f.median()).c_str(), human(f.min()).c_str(), human(f.max()).c_str(), f.unit.c_str(),
                base.c_str(), ratio.c_str());
  }
}

json to_json(const std::vector<figure>& figures, const json& m) {
  json results = json::array();
  for (const figure& f : figures) {
    double v = f.median();
    bool has = f.baseline && *f.baseline > 0;
    results.push_back({{"case", f.case_name},
                       {"metric", f.metric},
                       {"value", v},
                       {"unit", f.unit},
                       {"baseline", has ? json(*f.baseline) : json(nullptr)},
                       {"ratio", has ? json(v / *f.baseline) : json(nullptr)},
                       {"min", f.min()},
                       {"max", f.max()}});
  }
  return {{"bench", "durable_bench"}, {"machine", m}, {"results", results}};
}

std::optional<settings> parse_args(int argc, char** argv) {
  settings s;
  bool seconds_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      s.quick = true;
    } else if (a == "--reps" && i + 1 < argc) {
      auto n = agora::bench::parse_reps(argv[++i]);
      if (!n) return std::nullopt;
      s.reps = *n;
    } else if (a == "--seconds" && i + 1 < argc) {
      char* end = nullptr;
      s.seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(s.seconds >= 0.2 && s.seconds <= 600)) return std::nullopt;
      seconds_given = true;
    } else if (a == "--dir" && i + 1 < argc) {
      s.dir = argv[++i];
    } else if (a == "--systems" && i + 1 < argc) {
      s.systems.clear();
      std::stringstream ss(argv[++i]);
      for (std::string n; std::getline(ss, n, ',');) {
        if (n != "agora" && n != "etcd" && n != "redis") return std::nullopt;
        s.systems.push_back(n);
      }
      if (s.systems.empty()) return std::nullopt;
    } else if (a == "--keep") {
      s.keep = true;
    } else if (a == "--writers" && i + 1 < argc) {
      s.writers.clear();
      std::stringstream ss(argv[++i]);
      for (std::string n; std::getline(ss, n, ',');) {
        char* end = nullptr;
        long w = std::strtol(n.c_str(), &end, 10);
        if (n.empty() || *end != '\0' || w < 1 || w > 1024) return std::nullopt;
        s.writers.push_back(static_cast<int>(w));
      }
      if (s.writers.empty()) return std::nullopt;
    } else if (a == "--agora-spin") {
      s.agora_spin = true;
    } else {
      return std::nullopt;
    }
  }
  if (s.quick && !seconds_given) s.seconds = 1;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed) {
    std::cerr << "usage: durable_bench [--quick] [--reps N] [--seconds S] [--dir PATH]\n"
                 "                     [--systems agora,etcd,redis] [--writers 1,16,64] [--keep]\n"
                 "                     [--agora-spin]\n"
                 "  --quick      1 s per case instead of 3 (smoke test)\n"
                 "  --reps N     repetitions per case, 5..1000 (default 5; figures are medians)\n"
                 "  --seconds S  duration of each case, 0.2..600\n"
                 "  --dir PATH   where the data directory is made (default /var/tmp); must be a\n"
                 "               real disk, not tmpfs\n"
                 "  --systems    which systems to run (default all three)\n"
                 "  --writers    writer counts to run (default 1,16,64)\n"
                 "  --keep       keep the data directory and the servers' logs\n"
                 "  --agora-spin retry an Agora conflict at once instead of first waiting\n"
                 "               until the conflicting revision is visible\n";
    return 2;
  }
  const settings s = *parsed;
  keep_data = s.keep;

  std::string parent = s.dir.empty() ? "/var/tmp" : s.dir;
  std::string templ = parent + "/durable_bench.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    die("cannot make a data directory under " + parent + ": " + std::strerror(errno));
  data_dir = buf.data();
  std::atexit(cleanup);
  handle_signals();

  json m = agora::bench::machine();
  m["disk"] = describe_disk(data_dir);
  if (m["disk"]["fs"] == "tmpfs")
    die(data_dir + " is on tmpfs, where a sync costs nothing: pass --dir on a real disk");
  double fsync_us = fdatasync_median_us(data_dir);
  m["disk"]["fdatasync_median_us"] = fsync_us;
  if (s.keep) std::cerr << "durable_bench: data in " << data_dir << "\n";

  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (const auto& n : s.systems) {
    if (n == "etcd") m["peers"]["etcd"] = version_of(find_program("etcd"));
    if (n == "redis") m["peers"]["redis"] = version_of(find_program("redis-server"));
  }
  std::vector<std::unique_ptr<system_under_test>> systems;
  for (const auto& n : s.systems) {
    if (n == "agora") systems.push_back(std::make_unique<agora_system>(data_dir, s.agora_spin));
    if (n == "etcd") systems.push_back(std::make_unique<etcd_system>(data_dir));
    if (n == "redis") systems.push_back(std::make_unique<redis_system>(data_dir));
  }

  // figures[system][writer count]
  std::vector<std::vector<case_figures>> figs(systems.size());
  for (std::size_t i = 0; i < systems.size(); ++i)
    for (int w : s.writers) {
      std::string c = case_name(systems[i]->name(), w);
      figs[i].push_back({figure{c, "promotions/s", "1/s", std::nullopt, {}},
                         figure{c, "p50 latency", "us", std::nullopt, {}},
                         figure{c, "p99 latency", "us", std::nullopt, {}},
                         figure{c, "retries/promotion", "ratio", std::nullopt, {}},
                         {}});
    }

  int run = 0;
  for (int rep = 0; rep < s.reps; ++rep)
    for (std::size_t wi = 0; wi < s.writers.size(); ++wi)
      for (std::size_t k = 0; k < systems.size(); ++k) {
        // Rotate the order per repetition so no system always runs first.
        std::size_t i = (k + static_cast<std::size_t>(rep)) % systems.size();
        run_result r = run_case(*systems[i], ++run, s.writers[wi], s.seconds);
        auto& f = figs[i][wi];
        f.rate.samples.push_back(r.promotions_per_s);
        f.p50.samples.push_back(r.p50_us);
        f.p99.samples.push_back(r.p99_us);
        f.retries.samples.push_back(r.retries_per_promotion);
        for (std::size_t k2 = 0; k2 < r.stats.size(); ++k2) {
          const auto& [metric, unit, value] = r.stats[k2];
          if (f.stats.size() <= k2) f.stats.push_back(figure{f.rate.case_name, metric, unit, std::nullopt, {}});
          f.stats[k2].samples.push_back(value);
        }
        std::fprintf(stderr, "  rep %d %-18s %10.0f/s p50 %8.0f us p99 %8.0f us\n", rep + 1,
                     case_name(systems[i]->name(), s.writers[wi]).c_str(), r.promotions_per_s, r.p50_us,
                     r.p99_us);
      }

  // Throughput baselines: Agora against the best peer at each writer count.
  std::vector<figure> out;
  for (std::size_t wi = 0; wi < s.writers.size(); ++wi) {
    std::optional<double> best_peer;
    for (std::size_t i = 0; i < systems.size(); ++i)
      if (systems[i]->name() != "agora")
        best_peer = std::max(best_peer.value_or(0.0), figs[i][wi].rate.median());
    for (std::size_t i = 0; i < systems.size(); ++i) {
      auto f = figs[i][wi];
      if (systems[i]->name() == "agora") f.rate.baseline = best_peer;
      out.push_back(f.rate);
      out.push_back(f.p50);
      out.push_back(f.p99);
      out.push_back(f.retries);
      for (const figure& x : f.stats) out.push_back(x);
    }
  }
  print_table(out, m, s, fsync_us);
  for (const figure& f : out)
    if (f.case_name == case_name("agora", 16) && f.metric == "promotions/s" && f.baseline && *f.baseline > 0)
      std::printf("target at 16 writers, agora >= %.0fx the best peer: %s (%.2fx)\n", k_target_ratio,
                  f.median() >= k_target_ratio * *f.baseline ? "met" : "NOT met", f.median() / *f.baseline);
  std::cout << to_json(out, m).dump() << std::endl;
  systems.clear();
  curl_global_cleanup();
  return 0;
}
