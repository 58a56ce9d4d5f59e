// Every input saved under tests/fuzz_regressions/<target>/ (a crash or a
// broken invariant a fuzzer found once) and every seed under
// fuzz/corpus/<target>/ goes through the same target function the fuzzer
// runs (fuzz/targets.hpp), here built by the normal compiler. A broken
// invariant or an escaped exception fails the test naming the file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "targets.hpp"

namespace fs = std::filesystem;

namespace {

agora::fuzz::target find_target(const std::string& name) {
  for (const auto& t : agora::fuzz::all_targets())
    if (name == t.name) return t;
  FAIL("no fuzz target named " << name);
  return {};
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().front() != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Runs every file of `dir` through `t`; returns how many there were.
std::size_t replay(const agora::fuzz::target& t, const fs::path& dir) {
  agora::fuzz::set_failure_handler(agora::fuzz::throw_on_failure);
  const auto files = files_in(dir);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    REQUIRE(in.good());
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      t.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const agora::fuzz::invariant_broken& e) {
      FAIL_CHECK(f.string() << ": " << e.message);
    }
  }
  return files.size();
}

void check_target(const std::string& name) {
  const auto t = find_target(name);
  INFO("target " << name);
  // The seeds are the fuzzer's starting points; each target has some.
  CHECK(replay(t, fs::path(AGORA_FUZZ_CORPUS) / name) > 0);
  replay(t, fs::path(AGORA_FUZZ_REGRESSIONS) / name);
}

}  // namespace

TEST_CASE("fuzz target contract passes its seeds and saved crashes", "[fuzz][contract]") { check_target("contract"); }
TEST_CASE("fuzz target key passes its seeds and saved crashes", "[fuzz][key]") { check_target("key"); }
TEST_CASE("fuzz target promotion passes its seeds and saved crashes", "[fuzz][promotion]") { check_target("promotion"); }
TEST_CASE("fuzz target json_text passes its seeds and saved crashes", "[fuzz][json_text]") { check_target("json_text"); }
TEST_CASE("fuzz target sse passes its seeds and saved crashes", "[fuzz][sse]") { check_target("sse"); }
TEST_CASE("fuzz target wire_reply passes its seeds and saved crashes", "[fuzz][wire_reply]") { check_target("wire_reply"); }
TEST_CASE("fuzz target wire_stream passes its seeds and saved crashes", "[fuzz][wire_stream]") { check_target("wire_stream"); }
TEST_CASE("fuzz target http_error passes its seeds and saved crashes", "[fuzz][http_error]") { check_target("http_error"); }
TEST_CASE("fuzz target usage passes its seeds and saved crashes", "[fuzz][usage]") { check_target("usage"); }
TEST_CASE("fuzz target llm_json passes its seeds and saved crashes", "[fuzz][llm_json]") { check_target("llm_json"); }
TEST_CASE("fuzz target replay_file passes its seeds and saved crashes", "[fuzz][replay_file]") { check_target("replay_file"); }
TEST_CASE("fuzz target endpoint passes its seeds and saved crashes", "[fuzz][endpoint]") { check_target("endpoint"); }
TEST_CASE("fuzz target scenario passes its seeds and saved crashes", "[fuzz][scenario]") { check_target("scenario"); }

TEST_CASE("fuzz regression folders each name a fuzz target", "[fuzz]") {
  // A crash saved under a misspelt folder would never be replayed.
  std::error_code ec;
  for (const fs::path& root : {fs::path(AGORA_FUZZ_REGRESSIONS), fs::path(AGORA_FUZZ_CORPUS)}) {
    if (!fs::is_directory(root, ec)) continue;
    for (const auto& e : fs::directory_iterator(root)) {
      if (!e.is_directory()) continue;
      const std::string name = e.path().filename().string();
      const auto targets = agora::fuzz::all_targets();
      const bool known = std::any_of(targets.begin(), targets.end(),
                                     [&](const agora::fuzz::target& t) { return name == t.name; });
      INFO(e.path().string() << " names no fuzz target");
      CHECK(known);
    }
  }
}
