// A debate among three LLM debaters (an optimist, a realist and a
// pessimist) estimating how long a migration takes. Each answers blind in
// round 1, then reads the others' latest estimates — quoted as data with
// their authors, never as instructions — and may revise, until a majority
// agrees, the token budget is spent, or four rounds are done. Prints the
// transcript, the answer, why the run stopped, and the tokens and cost.
//
//   debate                                   replay examples/data/debate.jsonl (offline)
//   debate --replay FILE                     replay another recording
//   debate --endpoint openai --model gpt-4o-mini               (key from $OPENAI_API_KEY)
//   debate --endpoint anthropic --model claude-3-5-haiku-latest (key from $ANTHROPIC_API_KEY)
//   debate --endpoint http://127.0.0.1:8080/v1 --model qwen    (OpenAI-compatible, no key)
//   ... --key-env VAR                        take the API key from $VAR instead
//   ... --record FILE                        also append every exchange to FILE (JSON lines)
//
// By default it runs on replay_client, which plays recorded exchanges: not a
// model. examples/data/debate.jsonl is in the format recording_client
// writes, but its replies were written by hand, because no model could be
// reached from the machine it was made on: the requests are exactly what
// this program sends (they were captured by running it through
// recording_client around a scripted_client that gave the hand-written
// replies). Record a real run with `--endpoint ... --record FILE` and replay
// it with `--replay FILE`.
#include <agora/agora.hpp>
#include <agora/agents/http_client.hpp>
#include <agora/agents/llm_agent.hpp>
#include <agora/agents/test_clients.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

using namespace agora;

#ifndef AGORA_DEBATE_REPLAY
#define AGORA_DEBATE_REPLAY "examples/data/debate.jsonl"
#endif

namespace {

struct options {
  std::string endpoint;  // "" = replay
  std::string model;
  std::string key_env;
  bool key_env_set = false;
  std::string record;
  std::string replay = AGORA_DEBATE_REPLAY;
};

int bad_usage(const std::string& why) {
  std::cerr << "debate: " << why
            << "\nusage: debate [--replay FILE] | [--endpoint openai|anthropic|URL --model M "
               "[--key-env VAR]] [--record FILE]\n";
  return 2;
}

// The client the debaters share: a replay of a recording, or a real server.
bb::result<std::shared_ptr<llm_client>> make_client(const options& o) {
  std::shared_ptr<llm_client> client;
  if (o.endpoint.empty()) {
    auto r = replay_client::open(o.replay);
    if (!r) return r.error();
    client = *r;
  } else {
    endpoint ep;
    if (o.endpoint == "openai") {
      ep.format = wire_format::openai;
      ep.base_url = "https://api.openai.com/v1";
      ep.api_key_env = "OPENAI_API_KEY";
    } else if (o.endpoint == "anthropic") {
      ep.format = wire_format::anthropic;
      ep.base_url = "https://api.anthropic.com/v1";
      ep.api_key_env = "ANTHROPIC_API_KEY";
    } else {
      ep.format = wire_format::openai;  // Ollama, vLLM, llama.cpp's server, LM Studio
      ep.base_url = o.endpoint;
    }
    if (o.key_env_set) ep.api_key_env = o.key_env;
    ep.model = o.model;
    client = std::make_shared<http_client>(ep);
  }
  if (!o.record.empty()) {
    auto rec = recording_client::open(client, o.record);
    if (!rec) return rec.error();
    client = *rec;
  }
  return client;
}

}  // namespace

// Runs the debate on `client`; returns the process's exit code.
int run_debate(const std::shared_ptr<llm_client>& client, bool remote) {
  actors::runtime rt;                               // the CAF actor system, all types registered
  auto board = std::make_shared<bb::blackboard>();  // where the debate happens

  // The output contract: every reply is an estimate with a reason.
  const json estimate = {{"type", "object"},
                         {"required", {"minutes", "reason"}},
                         {"properties", {{"minutes", {{"type", "integer"}, {"minimum", 0}}},
                                         {"reason", {{"type", "string"}}}}},
                         {"additionalProperties", false}};
  debate_config cfg;
  for (std::string persona : {"optimist", "realist", "pessimist"}) {
    llm_agent_config llm;
    llm.client = client;  // one client, usage attributed per agent
    llm.system = "You are the " + persona + " of a team of three engineers who estimate work together.";
    llm.prompt =
        "Question: {{input.question}}\n"
        "Give your estimate in whole minutes and one sentence of reasoning. If the estimates of "
        "your colleagues are shown, weigh them and revise yours if they convince you.";
    llm.output_schema = estimate;
    llm.defaults.temperature = 0.2;
    llm.defaults.seed = 7;
    llm.defaults.max_tokens = 200;
    auto logic = llm_agent(llm);
    auto id = actors::agent_id::make("estimator", persona);
    if (!logic || !id) return 1;
    auto agent = actors::spawn_agent(rt, board, {*id, "estimator", {}}, *logic);
    if (!agent) return 1;
    cfg.debaters.push_back({*id, *agent, persona});
  }
  // Debaters agree when they give the same number of minutes.
  cfg.extract = [](const json& a) {
    return a.is_object() && a.contains("minutes") ? a["minutes"].dump() : a.dump();
  };
  // Stop when a majority agrees, the tokens run out, or after four rounds;
  // then take the round with the broadest agreement.
  cfg.run.stop = consensus(majority) | token_budget(20000) | max_rounds(4);
  cfg.run.fallback = fallback::best_so_far;
  cfg.run.round.timeout = remote ? std::chrono::seconds(120) : std::chrono::seconds(5);

  auto debate = spawn_debate(rt, board, cfg);
  if (!debate) {
    std::cerr << bb::to_string(debate.error()) << "\n";
    return 1;
  }
  auto result = run_pattern(rt.system(), *debate, "estimate-1",
                            {{"question", "How many minutes will the database migration take?"}},
                            remote ? std::chrono::minutes(10) : std::chrono::minutes(1));
  if (!result) {
    std::cerr << actors::render(result.error()) << "\n";
    return 1;
  }
  auto text = transcript(*board, "estimate-1");  // read back from the blackboard
  std::cout << (text ? *text : bb::to_string(text.error())) << "\n";
  std::cout << "model: " << client->describe() << "\n";
  std::cout << to_string(result->status) << ": " << result->answer.dump() << " after " << result->rounds
            << " round(s)\n";
  std::cout << "reason: " << result->reason << "\n";
  char cost[32];
  std::snprintf(cost, sizeof cost, "$%.6f", result->cost_usd);
  std::cout << "tokens: " << result->tokens << ", cost: " << cost << "\n";
  for (const auto& [agent, u] : client->usage_by_agent())
    std::cout << "  " << agent << ": " << u.calls << " call(s), " << u.tokens.total() << " tokens\n";
  return result->status == run_status::settled || result->status == run_status::fallback ? 0 : 1;
}

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--endpoint") ok = value(o.endpoint);
    else if (arg == "--model") ok = value(o.model);
    else if (arg == "--key-env") {
      ok = value(o.key_env);
      o.key_env_set = ok;
    }
    else if (arg == "--record") ok = value(o.record);
    else if (arg == "--replay") ok = value(o.replay);
    else return bad_usage("unknown argument '" + arg + "'");
    if (!ok) return bad_usage(arg + " needs a value");
  }
  if (!o.endpoint.empty() && o.model.empty()) return bad_usage("--endpoint needs --model");
  auto client = make_client(o);
  if (!client) {
    std::cerr << "debate: " << client.error().message << "\n";
    return 1;
  }
  return run_debate(*client, !o.endpoint.empty());
}
