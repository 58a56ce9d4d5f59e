#include "support/http_test_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace agora::test {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 529: return "Overloaded";
    default: return "Status";
  }
}

}  // namespace

std::string recorded_request::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

http_test_server::http_test_server() {
  default_.status = 500;
  default_.headers = {{"Content-Type", "application/json"}};
  default_.body = R"({"error":{"type":"test_server","message":"the test server's script ran out"}})";

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("http_test_server: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 1024) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd_);
    throw std::runtime_error("http_test_server: cannot listen on 127.0.0.1: " + why);
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

http_test_server::~http_test_server() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  acceptor_.join();  // polls with a short timeout, sees stop_
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> g(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  ::close(listen_fd_);
}

std::string http_test_server::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void http_test_server::push(scripted_response r) {
  std::lock_guard<std::mutex> g(mu_);
  script_.push_back(std::move(r));
}

void http_test_server::set_default(scripted_response r) {
  std::lock_guard<std::mutex> g(mu_);
  default_ = std::move(r);
}

std::vector<recorded_request> http_test_server::requests() const {
  std::lock_guard<std::mutex> g(mu_);
  return requests_;
}

std::size_t http_test_server::request_count() const {
  std::lock_guard<std::mutex> g(mu_);
  return requests_.size();
}

std::size_t http_test_server::max_concurrent() const {
  std::lock_guard<std::mutex> g(mu_);
  return max_concurrent_;
}

std::size_t http_test_server::connections() const {
  std::lock_guard<std::mutex> g(mu_);
  return connections_;
}

bool http_test_server::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> g(mu_);
  return cv_.wait_for(g, timeout, [&] { return requests_.size() >= n; });
}

bool http_test_server::pause(std::chrono::milliseconds d) {
  if (d.count() <= 0) return !stop_;
  std::unique_lock<std::mutex> g(mu_);
  cv_.wait_for(g, d, [&] { return stop_.load(); });
  return !stop_;
}

scripted_response http_test_server::next_response() {
  std::lock_guard<std::mutex> g(mu_);
  if (script_.empty()) return default_;
  auto r = std::move(script_.front());
  script_.pop_front();
  return r;
}

void http_test_server::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 50);
    if (n <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> g(mu_);
    if (stop_) {
      ::close(fd);
      break;
    }
    open_fds_.push_back(fd);
    ++connections_;
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

bool http_test_server::send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    if (stop_) return false;
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

void http_test_server::serve(int fd) {
  std::string buf;
  // Reads more bytes into buf; false when the peer closed or the server stops.
  auto read_more = [&]() -> bool {
    char tmp[16384];
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, 50);
      if (n < 0 && errno != EINTR) return false;
      if (n <= 0) continue;
      ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(r));
      return true;
    }
    return false;
  };

  bool keep_open = true;
  while (keep_open && !stop_) {
    std::size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) goto done;
    {
      recorded_request req;
      std::string head = buf.substr(0, head_end);
      buf.erase(0, head_end + 4);
      std::size_t line_end = head.find("\r\n");
      std::string request_line = head.substr(0, line_end);
      auto sp1 = request_line.find(' ');
      auto sp2 = request_line.find(' ', sp1 + 1);
      if (sp1 == std::string::npos || sp2 == std::string::npos) goto done;
      req.method = request_line.substr(0, sp1);
      req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        pos = e + 2;
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        req.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
      }
      if (lower(req.header("expect")) == "100-continue") {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!send_all(fd, cont, sizeof cont - 1)) goto done;
      }
      std::size_t length = 0;
      if (auto cl = req.header("content-length"); !cl.empty()) length = std::stoul(cl);
      while (buf.size() < length)
        if (!read_more()) goto done;
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      req.at = std::chrono::steady_clock::now();
      if (lower(req.header("connection")) == "close") keep_open = false;

      scripted_response r = next_response();
      {
        std::lock_guard<std::mutex> g(mu_);
        requests_.push_back(std::move(req));
        ++in_progress_;
        max_concurrent_ = std::max(max_concurrent_, in_progress_);
      }
      cv_.notify_all();
      struct done_guard {
        http_test_server* s;
        ~done_guard() {
          std::lock_guard<std::mutex> g(s->mu_);
          --s->in_progress_;
        }
      } guard{this};

      if (r.never_answer) {
        // Hold the connection until the client hangs up or the server stops.
        while (read_more()) {
        }
        goto done;
      }
      if (!pause(r.first_byte_delay)) goto done;
      std::string head_out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
      for (const auto& [k, v] : r.headers) head_out += k + ": " + v + "\r\n";
      if (r.chunked)
        head_out += "Transfer-Encoding: chunked\r\n";
      else
        head_out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
      if (r.close || !keep_open) {
        head_out += "Connection: close\r\n";
        keep_open = false;
      }
      head_out += "\r\n";
      if (!send_all(fd, head_out.data(), head_out.size())) goto done;

      std::size_t limit = r.close_after_bytes ? std::min(*r.close_after_bytes, r.body.size()) : r.body.size();
      std::size_t piece = r.piece_bytes == 0 ? std::max<std::size_t>(r.body.size(), 1) : r.piece_bytes;
      std::size_t sent = 0;
      while (sent < limit) {
        if (sent > 0 && !pause(r.piece_delay)) goto done;
        std::size_t n = std::min(piece, limit - sent);
        std::string out;
        if (r.chunked) {
          char size_line[32];
          std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
          out = size_line + r.body.substr(sent, n) + "\r\n";
        } else {
          out = r.body.substr(sent, n);
        }
        if (!send_all(fd, out.data(), out.size())) goto done;
        sent += n;
      }
      if (r.close_after_bytes) goto done;  // dropped mid-reply
      if (r.chunked && !send_all(fd, "0\r\n\r\n", 5)) goto done;
    }
  }
done:
  std::lock_guard<std::mutex> g(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  ::close(fd);
}

}  // namespace agora::test
