// A worker process for the node tests: joins a node, spawns agents that
// promote one result per task, registers them, and runs until the node's
// connection goes away (or its lifetime ends).
//
//   node_worker --port P --token T --name w1 [--host 127.0.0.1] [--type echo]
//               [--agents 2] [--work-ms 0] [--async-batch 0] [--cert C --key K --ca A]
//               [--heartbeat-ms 250] [--timeout-ms 2000] [--lifetime-s 60]
//
// --async-batch N (N > 0) makes the logic asynchronous, as an LLM agent's:
// each run stages nothing in its call and parks its completion; once N runs
// (of any of this worker's agents) are parked, a thread of its own writes
// their results and completes them. A worker whose agents held a CAF thread
// per running logic could never park more runs than it has CAF threads
// (2), so with N above that the batch only completes when async logic
// really runs off the CAF threads.
//
// Standard output, one line each, for the test to wait on:
//   READY <agents>       joined and registered
//   REFUSED <reason>     the node (or the TLS handshake) refused us: exit 3
//   FAILED <reason>      anything else went wrong: exit 4
// Log lines go to standard error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "agora/actors/errors.hpp"
#include "agora/actors/node.hpp"
#include "agora/actors/runtime.hpp"

namespace {

using namespace agora;
using namespace agora::actors;

struct args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, std::string def = {}) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long num(const std::string& k, long def) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    return (end && *end == '\0') ? v : def;
  }
};

int say(const char* what, const std::string& text, int code) {
  std::cout << what << " " << text << std::endl;
  return code;
}

/// The result every agent writes for a task: it depends on the task only,
/// so any agent computes the same one.
bb::status put_result(const task& t, bb::scratchpad& sp) {
  return sp.put("runs/" + t.run_id + "/results/" + t.task_id,
                {{"task", t.task_id}, {"input", t.input}});
}

/// Parks async runs and completes them, a batch at a time, from threads
/// of its own (see --async-batch). Joins them when destroyed.
class batch_completer {
 public:
  explicit batch_completer(std::size_t batch) : batch_(batch) {}
  ~batch_completer() {
    for (auto& th : threads_) th.join();
  }

  void park(const task& t, bb::scratchpad& sp, completion done) {
    std::lock_guard<std::mutex> lock(mu_);
    parked_.push_back(run{&t, &sp, std::move(done)});
    if (parked_.size() < batch_) return;
    threads_.emplace_back([runs = std::move(parked_)] {
      // The task and scratchpad stay valid until their completion is called.
      for (const auto& r : runs) r.done(put_result(*r.t, *r.sp));
    });
    parked_.clear();
  }

 private:
  struct run {
    const task* t;
    bb::scratchpad* sp;
    completion done;
  };
  std::size_t batch_;
  std::mutex mu_;
  std::vector<run> parked_;
  std::vector<std::thread> threads_;
};

int run(const args& a) {
  caf::actor_system_config cfg;
  register_types(cfg);
  register_node_types(cfg);
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(2));
  cfg.load<caf::io::middleman>();
  failure_detection fd;
  fd.heartbeat_interval = std::chrono::milliseconds(a.num("--heartbeat-ms", 250));
  fd.connection_timeout = std::chrono::milliseconds(a.num("--timeout-ms", 2000));
  set_failure_detection(cfg, fd);
  if (!a.get("--cert").empty()) {
    tls_options tls{a.get("--cert"), a.get("--key"), a.get("--ca"), ""};
    if (auto err = enable_tls(cfg, tls)) return say("FAILED", render(err), 4);
  }
  caf::actor_system sys{cfg};

  connect_options co;
  co.host = a.get("--host", "127.0.0.1");
  co.port = static_cast<std::uint16_t>(a.num("--port", 0));
  co.join_token = a.get("--token");
  co.worker = a.get("--name", "worker");
  co.timeout = std::chrono::milliseconds(a.num("--connect-timeout-ms", 5000));
  auto conn = connect_to_node(sys, co);
  if (!conn) {
    std::fprintf(stderr, "agora.worker warn join failed worker=%s node=%s:%u reason=\"%s\"\n",
                 co.worker.c_str(), co.host.c_str(), static_cast<unsigned>(co.port),
                 render(conn.error()).c_str());
    return conn.error() == errc::join_refused ? say("REFUSED", render(conn.error()), 3)
                                              : say("FAILED", render(conn.error()), 4);
  }

  // Each task puts one result.
  const auto work = std::chrono::milliseconds(a.num("--work-ms", 0));
  const long batch = a.num("--async-batch", 0);
  auto completer = std::make_shared<batch_completer>(batch > 0 ? static_cast<std::size_t>(batch) : 1);
  auto logic =
      batch > 0
          ? agent_logic::async([completer](const task& t, bb::scratchpad& sp, completion done) {
              completer->park(t, sp, std::move(done));
            })
          : agent_logic::sync([work](const task& t, bb::scratchpad& sp) -> logic_result {
              // Stands in for slow work (a model call). Blocking one of this
              // process's CAF threads is harmless here: the process does
              // nothing else.
              if (work.count() > 0) std::this_thread::sleep_for(work);
              auto s = put_result(t, sp);
              if (!s) return std::move(s).take_error();
              return nlohmann::json{{"done", true}};
            });
  const std::string type = a.get("--type", "echo");
  std::vector<agent_entry> entries;
  for (long i = 0; i < a.num("--agents", 1); ++i) {
    auto id = agent_id::make(type, co.worker + "-" + std::to_string(i));
    if (!id) return say("FAILED", bb::to_string(id.error()), 4);
    agent_spec spec{*id, type, {}};
    auto agent = spawn_remote_agent(sys, conn->board, spec, logic);
    if (!agent) return say("FAILED", bb::to_string(agent.error()), 4);
    entries.push_back(agent_entry{spec, *agent, {}, {}});
  }
  auto stop_agents = [&] {
    for (auto& e : entries) caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  };
  if (auto err = register_agents(sys, *conn, entries)) {
    stop_agents();
    return err == errc::join_refused ? say("REFUSED", render(err), 3)
                                     : say("FAILED", render(err), 4);
  }
  say("READY", std::to_string(entries.size()), 0);

  // Until the node goes away (its proxies die with the connection).
  caf::scoped_actor self{sys};
  self->monitor(conn->registry);
  bool lost = false;
  self->receive([&](const caf::down_msg&) { lost = true; },
                caf::after(std::chrono::seconds(a.num("--lifetime-s", 60))) >> [] {});
  std::fprintf(stderr, "agora.worker info worker=%s stopping reason=%s\n", co.worker.c_str(),
               lost ? "node_lost" : "lifetime");
  stop_agents();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  args a;
  for (int i = 1; i + 1 < argc; i += 2) a.kv[argv[i]] = argv[i + 1];
  return run(a);
}
