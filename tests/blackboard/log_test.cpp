// agora::log: levels in SPDLOG_LEVEL syntax, stderr/file sinks with
// timestamps, the JSON-lines format, a program's own sink, AGORA_LOG, and
// spdlog's default logger left alone.
#include <stdlib.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <agora/log.hpp>

#include "support/temp_dir.hpp"

namespace {

namespace alog = agora::log;
using agora::bb::errc;

/// A program's own sink: keeps the payloads with their logger and level.
class keep_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> g(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override {
    lines_.push_back(std::string(m.logger_name.data(), m.logger_name.size()) + " " +
                     std::string(spdlog::level::to_string_view(m.level).data()) + " " +
                     std::string(m.payload.data(), m.payload.size()));
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

/// Puts the defaults back for the next test in this process.
struct restore_defaults {
  ~restore_defaults() { (void)alog::configure({}); }
};

}  // namespace

TEST_CASE("log levels follow SPDLOG_LEVEL syntax: a default and per logger", "[log]") {
  restore_defaults restore;
  auto sink = std::make_shared<keep_sink>();
  REQUIRE(alog::configure({"warn,agora.test.a=debug", "", alog::format::text}).ok());
  alog::set_sinks({sink});
  auto a = alog::get("agora.test.a");
  auto b = alog::get("agora.test.b");
  a->debug("a debug");
  b->info("b info");  // below warn: dropped
  b->warn("b warn");
  // A later configure changes loggers that exist already.
  REQUIRE(alog::configure({"error", "", alog::format::text}).ok());
  alog::set_sinks({sink});
  b->warn("b warn again");  // below error now
  a->debug("a debug again");
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "agora.test.a debug a debug");
  CHECK(lines[1] == "agora.test.b warning b warn");
  CHECK(alog::get("agora.test.a") == a);  // the same logger every time
}

TEST_CASE("a bad log level names the entry and changes nothing", "[log]") {
  restore_defaults restore;
  auto sink = std::make_shared<keep_sink>();
  REQUIRE(alog::configure({"info", "", alog::format::text}).ok());
  alog::set_sinks({sink});
  auto s = alog::configure({"info,agora.bb=loud", "", alog::format::text});
  REQUIRE(!s.ok());
  CHECK(s.error().code == errc::invalid_argument);
  CHECK(s.error().message.find("'agora.bb=loud'") != std::string::npos);
  CHECK(!alog::check_levels("=debug").ok());
  CHECK(alog::check_levels(" debug , agora.cli=off ").ok());
  // Still info, still the program's sink.
  alog::get("agora.test.c")->info("still here");
  REQUIRE(sink->lines().size() == 1);
}

TEST_CASE("a log file gets timestamped lines; an unopenable one is an io_error naming it",
          "[log]") {
  restore_defaults restore;
  agora::test::temp_dir dir;
  const std::string file = (dir.path / "agora.log").string();
  REQUIRE(alog::configure({"info", file, alog::format::text}).ok());
  alog::get(alog::actors)->info("join accepted node=hub worker=w1");
  const auto lines = read_lines(file);
  REQUIRE(lines.size() == 1);
  // 2026-12-07T15:04:05.123+00:00 agora.actors info join accepted ...
  INFO(lines[0]);
  CHECK(lines[0].size() > 30);
  CHECK(lines[0][4] == '-');
  CHECK(lines[0][10] == 'T');
  CHECK(lines[0][19] == '.');
  CHECK(lines[0].find(" agora.actors info join accepted node=hub worker=w1") == 29);

  // Under a regular file: no directory can be made there.
  auto bad = alog::configure({"info", file + "/x.log", alog::format::text});
  REQUIRE(!bad.ok());
  CHECK(bad.error().code == errc::io_error);
  CHECK(bad.error().message.find(file + "/x.log") != std::string::npos);
  // The old file sink stays: nothing changed.
  alog::get(alog::actors)->info("after the bad one");
  CHECK(read_lines(file).size() == 2);
}

TEST_CASE("the JSON format writes one object per line with the key=value fields", "[log]") {
  restore_defaults restore;
  agora::test::temp_dir dir;
  const std::string file = (dir.path / "agora.jsonl").string();
  REQUIRE(alog::configure({"debug", file, alog::format::json}).ok());
  alog::get(alog::actors)
      ->warn("join refused node=hub worker=" + alog::value("w 1") + " reason=bad_token peer=" +
             alog::value("10.0.0.2:5") + " note=" + alog::value("a \"quoted\" = value"));
  alog::get(alog::bb)->debug("compaction done");
  const auto lines = read_lines(file);
  REQUIRE(lines.size() == 2);
  const auto j = nlohmann::json::parse(lines[0]);
  CHECK(j.at("logger") == "agora.actors");
  CHECK(j.at("level") == "warn");
  CHECK(j.at("event") == "join refused");
  CHECK(j.at("worker") == "w 1");
  CHECK(j.at("reason") == "bad_token");
  CHECK(j.at("peer") == "10.0.0.2:5");
  CHECK(j.at("note") == "a \"quoted\" = value");
  CHECK(j.at("ts").get<std::string>().size() == 29);
  const auto k = nlohmann::json::parse(lines[1]);
  CHECK(k.at("event") == "compaction done");
  CHECK(k.at("level") == "debug");
}

TEST_CASE("AGORA_LOG is read only when asked, names itself when wrong", "[log]") {
  restore_defaults restore;
  auto sink = std::make_shared<keep_sink>();
  REQUIRE(alog::configure({"info", "", alog::format::text}).ok());
  alog::set_sinks({sink});
  REQUIRE(setenv("AGORA_LOG", "agora.test.e=debug", 1) == 0);
  alog::get("agora.test.e")->debug("before");  // not applied yet
  REQUIRE(alog::configure_from_environment().ok());
  alog::get("agora.test.e")->debug("after");
  REQUIRE(setenv("AGORA_LOG", "verbose", 1) == 0);
  auto bad = alog::configure_from_environment();
  unsetenv("AGORA_LOG");
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("AGORA_LOG") != std::string::npos);
  CHECK(bad.error().message.find("'verbose'") != std::string::npos);
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "agora.test.e debug after");
}

TEST_CASE("Agora never configures spdlog's default logger or registry", "[log]") {
  restore_defaults restore;
  auto before = spdlog::default_logger();
  const auto level = before->level();
  REQUIRE(alog::configure({"trace", "", alog::format::json}).ok());
  alog::get(alog::bb)->trace("x");
  CHECK(spdlog::default_logger() == before);
  CHECK(spdlog::default_logger()->level() == level);
  CHECK(spdlog::get("agora.bb") == nullptr);  // not in spdlog's registry
}

TEST_CASE("log values are quoted only when they need it", "[log]") {
  CHECK(alog::value("w1") == "w1");
  CHECK(alog::value("") == "\"\"");
  CHECK(alog::value("a b") == "\"a b\"");
  CHECK(alog::value("k=v") == "\"k=v\"");
  CHECK(alog::value("say \"hi\"\n") == "\"say \\\"hi\\\"\\n\"");
}
