/// \file report_test_support.hpp
/// What report_test.cpp and inspect_test.cpp share: a temporary directory
/// holding the demo run (report_fixture.hpp), and running the built
/// `agora` binary (AGORA_BIN) with a finite timeout.
///
/// Thread-safety: test-only; one thread.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/report_fixture.hpp"
#include "process.hpp"

namespace agora::test {

/// A fresh directory under the system's temp dir, removed on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "agora-report-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const char* made = ::mkdtemp(buf.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A directory with the demo run "demo" in it (blackboard.db, spans.jsonl).
struct demo_dir {
  temp_dir dir;
  run_result result;
  demo_dir() {
    auto r = make_demo_run(dir.path(), "demo");
    if (!r) FAIL("the demo run failed: " << bb::to_string(r.error()));
    result = *r;
  }
};

/// Runs `agora ARGS...`, bounded to a minute.
inline cli::process_result run_agora(std::vector<std::string> args) {
  cli::process_request rq;
  rq.argv = {AGORA_BIN};
  rq.argv.insert(rq.argv.end(), args.begin(), args.end());
  rq.timeout = std::chrono::seconds(60);
  auto r = cli::run_process(rq);
  REQUIRE(r);
  REQUIRE_FALSE(r->timed_out);
  return *r;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Occurrences of `needle` in `hay`.
inline std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

/// Lines of `text` (without their '\n').
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace agora::test
