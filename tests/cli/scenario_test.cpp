// Scenario files (cli/scenario.hpp): errors that name the line, the field
// and what was expected; --set; the schema file agrees with the checker;
// the progress line.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agora/blackboard/blackboard.hpp"
#include "process.hpp"
#include "progress.hpp"
#include "scenario.hpp"

using namespace agora;
using namespace agora::cli;
namespace fs = std::filesystem;

namespace {

// Line numbers below refer to this text.
const char* const good = R"({
  "name": "t",
  "pattern": "debate",
  "input": {"question": "6 x 7?"},
  "agents": [
    {"id": "debater/a", "kind": "scripted", "replies": [42]},
    {"id": "debater/b", "kind": "scripted", "replies": [42]}
  ],
  "stop": {"any": [{"consensus": "majority"}, {"max_rounds": 3}]}
}
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

std::string all_errors(const scenario_load& l) {
  std::string out;
  for (const auto& e : l.errors) out += e.to_string() + "\n";
  return out;
}

bool has_error(const scenario_load& l, const std::string& text) {
  return all_errors(l).find(text) != std::string::npos;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a valid scenario loads with its agents, parts and policy", "[scenario]") {
  auto l = parse_scenario(good, "t.json");
  INFO(all_errors(l));
  REQUIRE(l);
  CHECK(l.value->name == "t");
  CHECK(l.value->pattern == "debate");
  REQUIRE(l.value->agents.size() == 2);
  CHECK(l.value->agents[0].id == "debater/a");
  CHECK(l.value->agents[0].part == "debater");
  CHECK_FALSE(l.value->agents[0].remote);
  CHECK(l.value->run.stop.bounded());
  CHECK(l.value->run.fallback == fallback::best_so_far);
  CHECK(l.value->input["question"] == "6 x 7?");
}

TEST_CASE("a syntax error names the exact line and column", "[scenario]") {
  // Line 3: the colon after "pattern" is missing; the parser stops at the
  // string that follows, which starts in column 13.
  auto l = parse_scenario(replace(good, "\"pattern\": \"debate\"", "\"pattern\" \"debate\""), "t.json");
  REQUIRE_FALSE(l);
  REQUIRE(l.errors.size() == 1);
  INFO(all_errors(l));
  CHECK(l.errors[0].line == 3);
  CHECK(l.errors[0].column == 13);
  CHECK(l.errors[0].to_string().rfind("t.json:3:13: not valid JSON: ", 0) == 0);

  // A trailing comma: the parser stops at the closing brace on line 10, column 1.
  auto l2 = parse_scenario(replace(good, "{\"max_rounds\": 3}]}\n", "{\"max_rounds\": 3}]},\n"), "t.json");
  REQUIRE_FALSE(l2);
  CHECK(l2.errors[0].line == 10);
  CHECK(l2.errors[0].column == 1);

  auto empty = parse_scenario("", "e.json");
  REQUIRE_FALSE(empty);
  CHECK(empty.errors[0].line == 1);
}

TEST_CASE("a value of the wrong type is reported where it starts", "[scenario]") {
  auto l = parse_scenario(replace(good, "\"name\": \"t\"", "\"name\": 5"), "t.json");
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) == "t.json:2:11: /name: expected a string; got 5\n");
}

TEST_CASE("a bad enum value lists the choices and suggests the closest", "[scenario]") {
  auto l = parse_scenario(replace(good, "\"kind\": \"scripted\", \"replies\": [42]}\n  ]",
                                  "\"kind\": \"scriptd\", \"replies\": [42]}\n  ]"),
                          "t.json");
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) ==
        "t.json:7:33: /agents/1/kind: expected one of \"llm\", \"tool\", \"scripted\"; got \"scriptd\"; did "
        "you mean \"scripted\"?\n");
}

TEST_CASE("an unknown key is named, with a suggestion when it is close", "[scenario]") {
  auto l = parse_scenario(replace(good, "\"pattern\"", "\"patern\""), "t.json");
  REQUIRE_FALSE(l);
  const std::string all = all_errors(l);
  CHECK(has_error(l, "t.json:3:3: /patern: unknown key \"patern\"; did you mean \"pattern\"?"));
  // The missing "pattern" is reported too: every error, not only the first.
  CHECK(has_error(l, "t.json:1:1: expected field \"pattern\""));

  auto far = parse_scenario(replace(good, "\"input\"", "\"zzzzzzzzz\""), "t.json");
  REQUIRE_FALSE(far);
  CHECK(has_error(far, "/zzzzzzzzz: unknown key \"zzzzzzzzz\" (allowed: \"$schema\", \"name\""));
}

TEST_CASE("a missing required field is reported at its object", "[scenario]") {
  auto l = parse_scenario(replace(good, "\"kind\": \"scripted\", \"replies\": [42]}\n  ]", "\"replies\": [42]}\n  ]"),
                          "t.json");
  REQUIRE_FALSE(l);
  CHECK(has_error(l, "t.json:7:5: /agents/1: expected field \"kind\" (one of \"llm\", \"tool\", \"scripted\"); got no \"kind\""));
}

TEST_CASE("duplicate agent ids are refused", "[scenario]") {
  auto l = parse_scenario(replace(good, "debater/b", "debater/a"), "t.json");
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) ==
        "t.json:7:12: /agents/1/id: expected an id no other agent has; got \"debater/a\" a second time\n");
}

TEST_CASE("an unknown endpoint name is refused naming the defined ones", "[scenario]") {
  auto text = replace(good, "{\"id\": \"debater/b\", \"kind\": \"scripted\", \"replies\": [42]}",
                      "{\"id\": \"debater/b\", \"kind\": \"llm\", \"endpoint\": \"locl\", \"prompt\": \"{{input.question}}\"}");
  text = replace(text, "\"stop\"", "\"endpoints\": {\"local\": {\"model\": \"m\", \"base_url\": \"http://127.0.0.1:1/v1\"}},\n  \"stop\"");
  auto l = parse_scenario(text, "t.json");
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) == "t.json:7:52: /agents/1/endpoint: expected one of \"local\" (the names in \"endpoints\") or "
                         "an endpoint object; got \"locl\", which \"endpoints\" does not define; did you mean \"local\"?\n");
}

TEST_CASE("an unbounded stop policy is refused", "[scenario]") {
  auto l = parse_scenario(replace(good, "{\"any\": [{\"consensus\": \"majority\"}, {\"max_rounds\": 3}]}",
                                  "{\"consensus\": \"majority\"}"),
                          "t.json");
  REQUIRE_FALSE(l);
  CHECK(has_error(l, "t.json:9:11: /stop: expected a bounded policy"));
  CHECK(has_error(l, "could run forever"));

  auto bad = parse_scenario(replace(good, "{\"max_rounds\": 3}", "{\"max_round\": 3}"), "t.json");
  REQUIRE_FALSE(bad);
  CHECK(has_error(bad, "/stop/any/1/max_round: expected one of \"any\""));
  CHECK(has_error(bad, "did you mean \"max_rounds\"?"));
}

TEST_CASE("kind-specific fields on another kind and pattern parts are checked", "[scenario]") {
  auto l = parse_scenario(replace(good, "\"replies\": [42]}\n  ]", "\"replies\": [42], \"command\": [\"x\"], \"part\": \"generator\"}\n  ]"),
                          "t.json");
  REQUIRE_FALSE(l);
  CHECK(has_error(l, "/agents/1/command: \"command\" is for \"kind\": \"tool\" agents; this one is \"scripted\""));
  CHECK(has_error(l, "/agents/1/part: expected for pattern \"debate\" one of \"debater\", \"judge\"; got \"generator\""));
}

TEST_CASE("set overrides a field by JSON pointer or dotted path", "[scenario]") {
  auto l = parse_scenario(good, "t.json", {"/agents/0/role=a skeptic", "stop.any.1.max_rounds=5", "name=other"});
  INFO(all_errors(l));
  REQUIRE(l);
  CHECK(l.value->agents[0].role == "a skeptic");
  CHECK(l.value->document["stop"]["any"][1]["max_rounds"] == 5);
  CHECK(l.value->name == "other");

  // A value set by --set that is wrong is blamed on the --set, not a line.
  auto wrong = parse_scenario(good, "t.json", {"agents.0.kind=robot"});
  REQUIRE_FALSE(wrong);
  CHECK(all_errors(wrong) == "--set agents.0.kind=robot: /agents/0/kind: expected one of \"llm\", \"tool\", "
                             "\"scripted\"; got \"robot\"\n");
}

TEST_CASE("a --set whose path does not exist is an error naming it", "[scenario]") {
  auto l = parse_scenario(good, "t.json", {"agents.7.role=x"});
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) == "--set agents.7.role=x: /agents has 2 elements; no index 7\n");
  auto l2 = parse_scenario(good, "t.json", {"/round/timeout_s=3"});
  REQUIRE_FALSE(l2);
  CHECK(all_errors(l2) == "--set /round/timeout_s=3: the document has no \"round\"\n");
  auto l3 = parse_scenario(good, "t.json", {"no-equals-sign"});
  REQUIRE_FALSE(l3);
  CHECK(has_error(l3, "--set no-equals-sign: expected PATH=VALUE"));
}

TEST_CASE("stop policies of every kind parse", "[scenario]") {
  auto p = parse_stop_policy(json::parse(R"({"any": [{"all": [{"consensus": {"supermajority": 0.66}},
      {"quality_threshold": 0.8}]}, {"token_budget": 1000}, {"cost_budget": 0.5}, {"quiescence": 2},
      {"stable_answer": 2}, {"deadline_s": 30}, {"consensus": "plurality"}, {"max_rounds": 4}]})"));
  REQUIRE(p);
  CHECK(p->bounded());
  CHECK(p->describe().find("max_rounds(4)") != std::string::npos);
  CHECK_FALSE(parse_stop_policy(json::parse(R"({"consensus": {"supermajority": 0.4}})")));
  CHECK_FALSE(parse_stop_policy(json::parse(R"({"max_rounds": 0})")));
}

TEST_CASE("the schema file is valid JSON with the checker's enums", "[scenario][schema]") {
  const fs::path file = fs::path(AGORA_SOURCE_DIR) / "cli" / "scenario.schema.json";
  const std::string text = slurp(file);
  CHECK(text == scenario_schema_text());  // the binary carries the same schema
  json schema = json::parse(text, nullptr, false);
  REQUIRE_FALSE(schema.is_discarded());
  CHECK(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(schema["additionalProperties"] == false);
  CHECK(schema["$defs"]["agent"]["additionalProperties"] == false);
  auto enum_of = [&](const std::string& ptr) {
    return schema.at(json::json_pointer(ptr)).get<std::vector<std::string>>();
  };
  CHECK(enum_of("/properties/pattern/enum") == scenario_patterns());
  CHECK(enum_of("/properties/fallback/enum") == scenario_fallbacks());
  CHECK(enum_of("/$defs/agent/properties/kind/enum") == scenario_agent_kinds());
  CHECK(enum_of("/$defs/agent/properties/part/enum") == scenario_agent_parts());
  CHECK(enum_of("/properties/swarm/properties/order/enum") == scenario_swarm_orders());
  CHECK(enum_of("/properties/swarm/properties/merge/enum") == scenario_swarm_merges());
  std::vector<std::string> kinds;
  for (const auto& alt : schema["$defs"]["policy"]["oneOf"]) kinds.push_back(alt["required"][0]);
  CHECK(kinds == scenario_stop_kinds());
  // Every key the checker accepts at the top level is a property of the schema, and back.
  auto l = parse_scenario(good, "t.json", {"zzz=1"});
  REQUIRE_FALSE(l);
  const std::string all = all_errors(l);
  for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
    CHECK(all.find("\"" + it.key() + "\"") != std::string::npos);
}

TEST_CASE("every example scenario is accepted", "[scenario][examples]") {
  const fs::path dir = fs::path(AGORA_SOURCE_DIR) / "examples" / "scenarios";
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    ++n;
    auto l = load_scenario(e.path().string());
    INFO(e.path().string() << "\n" << all_errors(l));
    CHECK(l);
  }
  CHECK(n >= 4);
}

TEST_CASE("a file that cannot be read is an error naming it", "[scenario]") {
  auto l = load_scenario("/nonexistent/x.json");
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) == "/nonexistent/x.json: cannot open the file\n");
}

TEST_CASE("an llm agent whose key variable is unset fails naming the variable", "[scenario]") {
  ::unsetenv("AGORA_TEST_SURELY_UNSET_KEY");
  auto text = replace(good, "{\"id\": \"debater/b\", \"kind\": \"scripted\", \"replies\": [42]}",
                      "{\"id\": \"debater/b\", \"kind\": \"llm\", \"endpoint\": \"x\", \"prompt\": \"{{input.question}}\"}");
  text = replace(text, "\"stop\"",
                 "\"endpoints\": {\"x\": {\"model\": \"m\", \"api_key_env\": \"AGORA_TEST_SURELY_UNSET_KEY\"}},\n  \"stop\"");
  auto l = parse_scenario(text, "t.json");
  INFO(all_errors(l));
  REQUIRE(l);
  process_runner runner(1);
  logic_context ctx;
  ctx.processes = &runner;
  auto logic = make_agent_logic(*l.value, l.value->agents[1], ctx);
  REQUIRE_FALSE(logic);
  CHECK(logic.error().message.find("$AGORA_TEST_SURELY_UNSET_KEY is not set") != std::string::npos);
  CHECK(logic.error().message.find("debater/b") != std::string::npos);
  // A scripted agent builds.
  CHECK(make_agent_logic(*l.value, l.value->agents[0], ctx));
}

TEST_CASE("the progress line is formatted from the run's state", "[progress]") {
  progress_state s;
  s.round = 2;
  s.answered = 2;
  s.expected = 3;
  s.tokens = 1234;
  s.cost_usd = 0.0012;
  s.elapsed = std::chrono::milliseconds(4200);
  CHECK(format_progress(s) == "round 2 \u00b7 2/3 answered \u00b7 1,234 tokens \u00b7 $0.0012 \u00b7 4.2 s");
  s.tokens = 1234567;
  s.expected = 0;
  CHECK(format_progress(s) == "round 2 \u00b7 2 answered \u00b7 1,234,567 tokens \u00b7 $0.0012 \u00b7 4.2 s");
}

TEST_CASE("the progress tracker counts answers and usage from commits", "[progress]") {
  auto board = std::make_shared<bb::blackboard>();
  auto w = board->watch("runs/r", 0);
  REQUIRE(w);
  auto put = [&](const std::string& author, const std::string& key, json v) {
    auto sp = board->begin(author);
    REQUIRE(sp.put(key, std::move(v)));
    REQUIRE(board->promote(sp));
  };
  put("debater/a", "runs/r/answers/1/debater/a", "x");
  put("debater/a", "runs/r/usage/1/debater/a", {{"tokens", 100}, {"cost_usd", 0.001}});
  put("debater/b", "runs/r/answers/1/debater/b", "y");
  put("o", "runs/r/round/1", {{"totals", {{"tokens", 150}, {"cost_usd", 0.002}}}});
  put("debater/a", "runs/r/answers/2/debater/a", "x");
  put("x", "runs/other/answers/9/z", "ignored");
  progress_tracker t("r", 3);
  for (int i = 0; i < 5; ++i) {
    auto r = w->next(std::chrono::seconds(5));
    REQUIRE(r);
    REQUIRE(*r);
    t.observe(**r);
  }
  auto s = t.state(std::chrono::milliseconds(1500));
  CHECK(s.round == 2);
  CHECK(s.answered == 1);
  CHECK(s.expected == 3);
  CHECK(s.tokens == 150);
  CHECK(s.cost_usd == Approx(0.002));
}

TEST_CASE("set PATH=null removes a field", "[scenario]") {
  auto l = parse_scenario(good, "t.json", {"agents.0.replies=null"});
  REQUIRE_FALSE(l);
  CHECK(has_error(l, "t.json:6:5: /agents/0: expected field \"replies\" (an array) for a scripted agent; got no \"replies\""));
  auto l2 = parse_scenario(good, "t.json", {"nothere=null"});
  REQUIRE_FALSE(l2);
  CHECK(all_errors(l2) == "--set nothere=null: the document has no \"nothere\" to remove\n");
}

TEST_CASE("a replay file that does not exist is an error at its line", "[scenario]") {
  auto text = replace(good, "{\"id\": \"debater/b\", \"kind\": \"scripted\", \"replies\": [42]}",
                      "{\"id\": \"debater/b\", \"kind\": \"llm\", \"replay\": \"no/such.jsonl\", \"prompt\": \"{{input.question}}\"}");
  auto l = parse_scenario(text, "/tmp/x/t.json");
  REQUIRE_FALSE(l);
  CHECK(all_errors(l) == "/tmp/x/t.json:7:50: /agents/1/replay: expected a recording file (JSON lines); got "
                         "\"no/such.jsonl\", but /tmp/x/no/such.jsonl is not a file\n");
}
