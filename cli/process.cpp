#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

extern char** environ;

namespace agora::cli {

namespace {

using clock = std::chrono::steady_clock;

struct fd_guard {
  int fd = -1;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bb::error io_error(const std::string& what) {
  return bb::error{bb::errc::io_error, what + ": " + std::strerror(errno)};
}

std::string join_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

bool program_exists(const std::string& name) {
  if (name.empty()) return false;
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string full = dir + "/" + name;
    struct stat st {};
    if (::stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(full.c_str(), X_OK) == 0)
      return true;
    start = end + 1;
  }
  return false;
}

bb::result<process_result> run_process(const process_request& rq) {
  if (rq.argv.empty() || rq.argv[0].empty())
    return bb::error{bb::errc::invalid_argument, "run_process: empty argv"};
  const std::string name = rq.argv[0];
  // A child that exits before reading all of stdin makes our write raise
  // SIGPIPE, whose default action ends this process; EPIPE is enough.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  if (!program_exists(name))
    return bb::error{bb::errc::io_error, "cannot run '" + name + "': not found in PATH"};

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return io_error("pipe");
  fd_guard in_r{in[0]}, in_w{in[1]};
  if (::pipe2(out, O_CLOEXEC) != 0) return io_error("pipe");
  fd_guard out_r{out[0]}, out_w{out[1]};
  if (::pipe2(err, O_CLOEXEC) != 0) return io_error("pipe");
  fd_guard err_r{err[0]}, err_w{err[1]};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  if (!rq.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, rq.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);

  std::vector<char*> args;
  for (const auto& a : rq.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The caller's environment, with rq.env's entries replacing those of the
  // same name (a second PATH= would be ignored by getenv in the child).
  auto name_of = [](const std::string& e) { return e.substr(0, e.find('=')); };
  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    bool replaced = std::any_of(rq.env.begin(), rq.env.end(),
                                [&](const std::string& x) { return name_of(x) == name_of(entry); });
    if (!replaced) env_store.push_back(std::move(entry));
  }
  for (const auto& e : rq.env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  const auto start = clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, name.c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return io_error("cannot run '" + join_argv(rq.argv) + "'");
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();

  process_result res;
  std::size_t written = 0;
  if (rq.stdin_text.empty()) {
    in_w.reset();
  } else {
    // Non-blocking: a child that writes while we feed it must not deadlock
    // us on a full pipe in both directions.
    ::fcntl(in_w.fd, F_SETFL, ::fcntl(in_w.fd, F_GETFL) | O_NONBLOCK);
  }
  const auto deadline = start + rq.timeout;
  char buf[65536];
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out_r.fd >= 0) { fds[n] = {out_r.fd, POLLIN, 0}; idx_out = n++; }
    if (err_r.fd >= 0) { fds[n] = {err_r.fd, POLLIN, 0}; idx_err = n++; }
    if (in_w.fd >= 0) { fds[n] = {in_w.fd, POLLOUT, 0}; idx_in = n++; }
    if (rq.cancel && rq.cancel->load()) {
      res.cancelled = true;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      break;
    }
    int pr = ::poll(fds, n, static_cast<int>(std::min<long long>(left.count(), rq.cancel ? 50 : 1000)));
    if (pr < 0) {
      if (errno == EINTR) continue;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return io_error("poll");
    }
    auto drain = [&](int idx, fd_guard& g, std::string& into) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = ::read(g.fd, buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) return;
        g.reset();
        return;
      }
      std::size_t keep = std::min<std::size_t>(static_cast<std::size_t>(got),
                                               rq.max_output > into.size() ? rq.max_output - into.size() : 0);
      into.append(buf, keep);
      if (keep < static_cast<std::size_t>(got)) res.truncated = true;
    };
    drain(idx_out, out_r, res.out);
    drain(idx_err, err_r, res.err);
    if (res.truncated && rq.stop_when_truncated) {
      // What follows would be thrown away: stop the producer now.
      ::kill(-pid, SIGKILL);
      break;
    }
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::write(in_w.fd, rq.stdin_text.data() + written, rq.stdin_text.size() - written);
      if (w < 0 && errno != EINTR && errno != EAGAIN) in_w.reset();  // the child closed stdin
      if (w > 0) written += static_cast<std::size_t>(w);
      if (written == rq.stdin_text.size()) in_w.reset();
    }
  }
  in_w.reset();
  if (res.timed_out || res.cancelled) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Descendants that kept running in the group (a shell's children) go too.
  ::kill(-pid, SIGKILL);
  res.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.signal = WTERMSIG(status);
  }
  return res;
}

process_runner::process_runner(std::size_t threads) : s_(std::make_shared<state>()) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([s = s_] { work(s); });
}

process_runner::~process_runner() {
  cancel_all();
  const auto self = std::this_thread::get_id();
  for (auto& t : threads_) {
    // A callback on this very thread dropped the runner: the thread holds
    // the shared state and ends when its callback returns.
    if (t.get_id() == self)
      t.detach();
    else
      t.join();
  }
}

void process_runner::cancel_all() {
  std::deque<std::pair<process_request, callback>> left;
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->stopping = true;
    s_->cancelled = true;  // running processes see it within 50 ms
    left.swap(s_->queue);
  }
  s_->cv.notify_all();
  for (auto& [rq, done] : left)
    done(bb::error{bb::errc::io_error, "cancelled: '" + join_argv(rq.argv) + "' never ran"});
}

void process_runner::submit(process_request rq, callback done) {
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    if (!s_->stopping) {
      if (!rq.cancel) rq.cancel = &s_->cancelled;
      s_->queue.emplace_back(std::move(rq), std::move(done));
      s_->cv.notify_one();
      return;
    }
  }
  done(bb::error{bb::errc::io_error, "cancelled: the process runner is stopping"});
}

void process_runner::work(const std::shared_ptr<state>& s) {
  for (;;) {
    std::pair<process_request, callback> job;
    {
      std::unique_lock<std::mutex> lk(s->mu);
      s->cv.wait(lk, [&s] { return s->stopping || !s->queue.empty(); });
      if (s->queue.empty()) return;
      job = std::move(s->queue.front());
      s->queue.pop_front();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= job.first.not_after) {
      process_result r;
      r.not_started = true;
      job.second(r);
      continue;
    }
    if (job.first.not_after != std::chrono::steady_clock::time_point::max())
      job.first.timeout = std::min(job.first.timeout, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          job.first.not_after - now));
    job.second(run_process(job.first));
  }
}

}  // namespace agora::cli
