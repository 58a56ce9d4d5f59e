#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>

#include "args.hpp"

using namespace agora::cli;

namespace {
command_spec spec() {
  return {"run",
          "agora run SCENARIO.json [options]",
          "Runs a scenario.",
          {{"set", "PATH=VALUE", "override a field", true},
           {"report", "FILE", "write an HTML report"},
           {"quiet", "", "no progress line"}},
          {"SCENARIO.json"},
          1,
          1};
}
}  // namespace

TEST_CASE("args parses values, repeated options, flags and positionals", "[cli][args]") {
  auto a = parse_args(spec(), {"s.json", "--set", "a=1", "--set=b=2", "--quiet", "--report", "r.html"});
  REQUIRE(a);
  CHECK(a->positionals == std::vector<std::string>{"s.json"});
  CHECK(a->all("set") == std::vector<std::string>{"a=1", "b=2"});
  CHECK(a->has("quiet"));
  CHECK(a->get_or("report", "") == "r.html");
  CHECK_FALSE(a->help);
}

TEST_CASE("args names the option and the command on bad input", "[cli][args]") {
  auto unknown = parse_args(spec(), {"s.json", "--reprot", "x"});
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.error().message, Catch::Contains("agora run: unknown option '--reprot'"));
  auto missing = parse_args(spec(), {"s.json", "--report"});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("'--report' needs a value (FILE)"));
  auto flag_value = parse_args(spec(), {"s.json", "--quiet=yes"});
  REQUIRE_FALSE(flag_value);
  CHECK_THAT(flag_value.error().message, Catch::Contains("'--quiet' takes no value"));
  auto twice = parse_args(spec(), {"s.json", "--report", "a", "--report", "b"});
  REQUIRE_FALSE(twice);
  CHECK_THAT(twice.error().message, Catch::Contains("given twice"));
  auto none = parse_args(spec(), {});
  REQUIRE_FALSE(none);
  CHECK_THAT(none.error().message, Catch::Contains("missing SCENARIO.json"));
  auto extra = parse_args(spec(), {"a.json", "b.json"});
  REQUIRE_FALSE(extra);
  CHECK_THAT(extra.error().message, Catch::Contains("unexpected argument 'b.json'"));
}

TEST_CASE("args --help wins over everything else and usage lists every option", "[cli][args]") {
  auto a = parse_args(spec(), {"--bogus", "--help"});
  REQUIRE(a);
  CHECK(a->help);
  std::string u = usage(spec());
  CHECK_THAT(u, Catch::Contains("usage: agora run SCENARIO.json"));
  CHECK_THAT(u, Catch::Contains("--set PATH=VALUE"));
  CHECK_THAT(u, Catch::Contains("(repeatable)"));
  CHECK_THAT(u, Catch::Contains("--quiet"));
  CHECK_THAT(u, Catch::Contains("--help"));
}

TEST_CASE("args number_option checks range and form", "[cli][args]") {
  command_spec s{"x", "agora x", "", {{"n", "N", "a number"}}, {}, 0, 0};
  auto ok = parse_args(s, {"--n", "2.5"});
  REQUIRE(ok);
  auto v = number_option(*ok, "n", 1, 0, 10);
  REQUIRE(v);
  CHECK(*v == 2.5);
  auto bad = parse_args(s, {"--n", "2x"});
  REQUIRE(bad);
  auto e = number_option(*bad, "n", 1, 0, 10);
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("'--n': expected a number from 0 to 10, got '2x'"));
  auto absent = parse_args(s, {});
  REQUIRE(absent);
  CHECK(*number_option(*absent, "n", 7, 0, 10) == 7);
}

TEST_CASE("args parse_or_exit prints the error once and returns the exit code", "[cli][args]") {
  std::ostringstream err, out;
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  parsed_args a;
  auto bad = parse_or_exit(spec(), {"s.json", "--bogus"}, a);
  auto help = parse_or_exit(spec(), {"--help"}, a);
  auto fine = parse_or_exit(spec(), {"s.json", "--quiet"}, a);
  std::cerr.rdbuf(old_err);
  std::cout.rdbuf(old_out);
  CHECK(bad == std::optional<int>(exit_usage));
  CHECK(err.str() == "agora run: unknown option '--bogus' (agora run --help lists the options)\n");
  CHECK(help == std::optional<int>(exit_ok));
  CHECK(out.str() == usage(spec()));
  CHECK_FALSE(fine);
  CHECK(a.has("quiet"));
}
