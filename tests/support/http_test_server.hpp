/// \file http_test_server.hpp
/// A real HTTP/1.1 server on 127.0.0.1 for tests and benchmarks of the
/// libcurl client: it binds a port the OS picks, records every request, and
/// answers from a per-test script of responses with faults (a slow first
/// byte, a body sent in pieces with pauses, a connection dropped after N
/// bytes, no answer at all). Not a general HTTP server: request bodies need
/// Content-Length (no chunked uploads), and there is no TLS.
///
/// ```cpp
/// agora::test::http_test_server server;
/// agora::test::scripted_response r;
/// r.status = 429;
/// r.headers = {{"Retry-After", "1"}};
/// server.push(r);                                  // the first request gets this
/// server.push({200, {{"Content-Type", "application/json"}}, body});
/// ... point a client at server.base_url() + "/v1" ...
/// REQUIRE(server.wait_for_requests(2, std::chrono::seconds(5)));
/// auto seen = server.requests();                   // method, path, headers, body
/// ```
///
/// Thread-safety: all members are thread-safe. One thread accepts; each
/// connection gets its own thread. Every wait inside is bounded, and the
/// destructor stops the server promptly (it shuts down every socket and
/// interrupts every scripted pause).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace agora::test {

/// Header names as sent; look them up with recorded_request::header().
using header_list = std::map<std::string, std::string>;

/// One request the server received.
struct recorded_request {
  std::string method;
  std::string path;
  /// Header names lower-cased.
  header_list headers;
  std::string body;
  /// When the request was complete (steady clock).
  std::chrono::steady_clock::time_point at;
  /// The value of header `name` (any case), "" when absent.
  std::string header(const std::string& name) const;
};

/// One scripted answer and the faults to inject while sending it.
struct scripted_response {
  int status = 200;
  header_list headers;
  std::string body;
  /// Wait this long after reading the request before sending anything.
  std::chrono::milliseconds first_byte_delay{0};
  /// Send the body in pieces of at most this many bytes (0 = at once),
  /// pausing `piece_delay` between pieces (each piece is its own write, so
  /// the client reads events split across reads).
  std::size_t piece_bytes = 0;
  std::chrono::milliseconds piece_delay{0};
  /// Transfer-Encoding: chunked instead of Content-Length (as streaming
  /// servers do); each piece is one chunk.
  bool chunked = false;
  /// Close the connection after this many bytes of the body (the headers
  /// announce the whole body): a connection dropped mid-reply.
  std::optional<std::size_t> close_after_bytes;
  /// Never answer: hold the connection open until the client goes away or
  /// the server stops.
  bool never_answer = false;
  /// Close the connection after this response (else keep-alive).
  bool close = false;
};

/// See the file comment.
class http_test_server {
 public:
  /// Binds 127.0.0.1 on a free port and starts serving. Throws
  /// std::runtime_error if it cannot bind (a test setup failure).
  http_test_server();
  ~http_test_server();
  http_test_server(const http_test_server&) = delete;
  http_test_server& operator=(const http_test_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  /// "http://127.0.0.1:<port>".
  std::string base_url() const;

  /// Appends a response to the script; requests take them in arrival order.
  void push(scripted_response r);
  /// The answer to requests that find the script empty (default: 500 with a
  /// body saying the script ran out).
  void set_default(scripted_response r);

  /// Every request received so far, in arrival order.
  std::vector<recorded_request> requests() const;
  std::size_t request_count() const;
  /// The most requests that were being answered at the same time.
  std::size_t max_concurrent() const;
  /// Waits until at least `n` requests arrived; false on timeout.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;
  /// Connections accepted so far.
  std::size_t connections() const;

 private:
  void accept_loop();
  void serve(int fd);
  /// Sleeps `d` unless the server stops first; false if it stopped.
  bool pause(std::chrono::milliseconds d);
  bool send_all(int fd, const char* p, std::size_t n);
  scripted_response next_response();

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<scripted_response> script_;
  scripted_response default_;
  std::vector<recorded_request> requests_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
  std::size_t in_progress_ = 0;
  std::size_t max_concurrent_ = 0;
  std::size_t connections_ = 0;
};

}  // namespace agora::test
