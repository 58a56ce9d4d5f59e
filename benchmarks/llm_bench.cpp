// llm_bench: what the libcurl client (http_client) costs per call, next to a
// server that answers at once.
//
//   <reply>, N in flight   N calls kept in flight (1, 16, 256) against a
//                          loopback HTTP/1.1 server answering with a
//                          recorded OpenAI reply, non-streamed (one JSON
//                          body) or streamed (SSE, 22 events):
//                          requests/s, and the client process's CPU time
//                          per call (user + system, all threads: the
//                          caller, the I/O thread, libcurl).
//
// The server (tests/support/http_test_server) runs in a forked child
// process, so its CPU time is not counted in "CPU per call"; requests/s is
// bounded by both sides together (the server is a thread per connection, not
// a fast server), so CPU per call is the figure that says what the client
// costs. Figures are medians of --reps runs.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "agora/agents/http_client.hpp"
#include "bench_common.hpp"
#include "support/http_test_server.hpp"

using namespace agora;
using json = nlohmann::json;
using agora::bench::figure;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "llm_bench: " << what << "\n";
  std::exit(1);
}

std::string data(const std::string& name) {
  std::ifstream in(std::string(AGORA_LLM_TEST_DATA) + "/" + name, std::ios::binary);
  if (!in) die("cannot read " + std::string(AGORA_LLM_TEST_DATA) + "/" + name);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

/// The servers' child process: one server for plain replies, one for streams.
struct server_child {
  pid_t pid = -1;
  int life_fd = -1;  // closing it tells the child to exit
  std::uint16_t plain_port = 0, stream_port = 0;
};

/// Forks before this process has any thread (curl, clients): the child
/// serves until its end of the pipe closes.
server_child fork_servers() {
  std::string plain = data("openai_chat.json"), stream = data("openai_stream.txt");
  int ports[2], life[2];
  if (pipe(ports) != 0 || pipe(life) != 0) die("pipe failed");
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    ::close(ports[0]);
    ::close(life[1]);
    {
      test::http_test_server a, b;
      test::scripted_response r;
      r.headers = {{"Content-Type", "application/json"}};
      r.body = plain;
      a.set_default(r);
      test::scripted_response s;
      s.headers = {{"Content-Type", "text/event-stream"}};
      s.body = stream;
      s.chunked = true;
      b.set_default(s);
      std::string line = std::to_string(a.port()) + " " + std::to_string(b.port()) + "\n";
      if (::write(ports[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
      ::close(ports[1]);
      char c;
      while (::read(life[0], &c, 1) > 0) {
      }
    }
    _exit(0);
  }
  ::close(ports[1]);
  ::close(life[0]);
  char buf[64] = {};
  std::size_t got = 0;
  while (got < sizeof buf - 1) {
    ssize_t n = ::read(ports[0], buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    if (std::memchr(buf, '\n', got)) break;
  }
  ::close(ports[0]);
  server_child c;
  c.pid = pid;
  c.life_fd = life[1];
  if (std::sscanf(buf, "%hu %hu", &c.plain_port, &c.stream_port) != 2) die("the server child sent no ports");
  return c;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct run_result {
  double per_second;
  double cpu_us_per_call;
};

/// `total` calls, `in_flight` at a time: each callback starts the next call.
run_result run(std::uint16_t port, bool stream, std::size_t in_flight, std::size_t total) {
  endpoint ep;
  ep.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  ep.model = "gpt-4o-mini";
  ep.max_in_flight = in_flight;
  ep.retry.max_attempts = 1;
  ep.breaker.failures = 0;
  ep.timeout = std::chrono::seconds(60);
  http_client client(ep);
  llm_request req;
  req.messages = {message::system("Be terse."), message::user("Which numbers below 10 are prime?")};
  req.stream = stream;

  std::mutex mu;
  std::condition_variable cv;
  std::size_t done = 0, failed = 0;
  std::atomic<std::size_t> started{0};
  std::string first_error;
  std::function<void()> next;
  next = [&] {
    if (started.fetch_add(1) >= total) return;
    (void)client.call(req, [&](llm_result r) {
      next();  // before counting: once the count is full, run() may return
      std::lock_guard<std::mutex> g(mu);
      ++done;
      if (!r.ok() && failed++ == 0) first_error = r.error().message;
      cv.notify_one();  // under the lock: the waiter may return right after it
    });
  };
  // Warm up: connections made, handles pooled.
  {
    std::size_t warm = std::min<std::size_t>(in_flight, 64);
    std::atomic<std::size_t> left{warm};
    std::mutex wm;
    std::condition_variable wcv;
    for (std::size_t i = 0; i < warm; ++i)
      (void)client.call(req, [&](llm_result) {
        std::lock_guard<std::mutex> g(wm);
        if (--left == 0) wcv.notify_one();
      });
    std::unique_lock<std::mutex> g(wm);
    if (!wcv.wait_for(g, std::chrono::seconds(60), [&] { return left == 0; })) die("warm-up calls did not finish");
  }
  double cpu0 = cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < in_flight; ++i) next();
  {
    std::unique_lock<std::mutex> g(mu);
    if (!cv.wait_for(g, std::chrono::seconds(300), [&] { return done == total; }))
      die("calls did not finish in 300 s");
  }
  double wall = bench::seconds_since(t0);
  double cpu = cpu_seconds() - cpu0;
  if (failed) die(std::to_string(failed) + " calls failed, first: " + first_error);
  return {static_cast<double>(total) / wall, cpu * 1e6 / static_cast<double>(total)};
}

struct settings {
  bool quick = false;
  int reps = 5;
};

std::optional<settings> parse_args(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      s.quick = true;
    } else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      auto n = bench::parse_reps(argv[++i]);
      if (!n) return std::nullopt;
      s.reps = *n;
    } else {
      return std::nullopt;
    }
  }
  return s;
}

void print_table(const std::vector<figure>& figs, const json& m, const settings& s) {
  std::printf("llm_bench — %s, %d cores, %s; median of %d runs%s; server in a child process\n\n",
              m["cpu"].get<std::string>().c_str(), m["cores"].get<int>(), m["kernel"].get<std::string>().c_str(),
              s.reps, s.quick ? " (quick)" : "");
  std::printf("%-32s %-22s %12s %12s %12s\n", "case", "metric", "median", "min", "max");
  for (const auto& f : figs)
    std::printf("%-32s %-22s %12s %12s %12s\n", f.case_name.c_str(), (f.metric + " [" + f.unit + "]").c_str(),
                bench::human(f.median()).c_str(), bench::human(f.min()).c_str(), bench::human(f.max()).c_str());
  std::printf("\n");
}

json to_json(const std::vector<figure>& figs, const json& m) {
  json results = json::array();
  for (const auto& f : figs) {
    json r = {{"case", f.case_name}, {"metric", f.metric}, {"value", f.median()}, {"unit", f.unit}};
    r["baseline"] = f.baseline ? json(*f.baseline) : json();
    r["ratio"] = f.baseline ? json(f.median() / *f.baseline) : json();
    r["min"] = f.min();
    r["max"] = f.max();
    results.push_back(r);
  }
  return {{"bench", "llm_bench"}, {"machine", m}, {"results", results}};
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_args(argc, argv);
  if (!parsed) {
    std::cerr << "usage: llm_bench [--quick] [--reps N]\n"
                 "  --quick   fewer calls per run (smoke test)\n"
                 "  --reps N  repetitions per figure, 5..1000 (default 5; figures are medians)\n";
    return 2;
  }
  const settings s = *parsed;
  std::signal(SIGPIPE, SIG_IGN);
  server_child servers = fork_servers();

  std::vector<figure> figures;
  for (bool stream : {false, true}) {
    for (std::size_t n : {std::size_t{1}, std::size_t{16}, std::size_t{256}}) {
      std::size_t total = n == 1 ? 2000 : n == 16 ? 10000 : 20000;
      if (s.quick) total /= 10;
      std::string name = std::string(stream ? "streamed" : "non-streamed") + ", " + std::to_string(n) + " in flight";
      figure rate{name, "requests/s", "1/s", std::nullopt, {}};
      figure cpu{name, "client CPU per call", "us", std::nullopt, {}};
      for (int r = 0; r < s.reps; ++r) {
        auto res = run(stream ? servers.stream_port : servers.plain_port, stream, n, total);
        rate.samples.push_back(res.per_second);
        cpu.samples.push_back(res.cpu_us_per_call);
      }
      figures.push_back(rate);
      figures.push_back(cpu);
    }
  }
  ::close(servers.life_fd);
  int status = 0;
  ::waitpid(servers.pid, &status, 0);

  json m = bench::machine();
  print_table(figures, m, s);
  std::cout << to_json(figures, m).dump() << std::endl;
  return 0;
}
