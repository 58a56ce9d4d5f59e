// What serve, worker and `run --listen` share (node_support.hpp).
#include "node_support.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/actors/supervision.hpp"
#include "agora/actors/tracing.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "commands.hpp"

namespace agora::cli {

namespace {

bb::error bad(std::string msg) { return bb::error{bb::errc::invalid_argument, std::move(msg)}; }

/// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (every interface).
bb::result<std::pair<std::string, std::uint16_t>> parse_host_port(const std::string& option,
                                                                  const std::string& text,
                                                                  bool port_required) {
  auto fail = [&](const std::string& why) {
    return bad("--" + option + " '" + text + "': " + why + " (expected HOST:PORT, e.g. 127.0.0.1:4242)");
  };
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail("an IPv6 address must be written [ADDRESS]:PORT");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return fail("no ':PORT'");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos)
      return fail("an IPv6 address must be written [ADDRESS]:PORT");
  }
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return fail("the port is not a number");
  const long port = std::strtol(port_text.c_str(), nullptr, 10);
  if (port > 65535) return fail("the port is above 65535");
  if (port_required && port == 0) return fail("the port must be 1-65535");
  if (port_required && host.empty()) return fail("no host");
  return std::make_pair(host, static_cast<std::uint16_t>(port));
}

/// "60 s", "1.5 s", "200 ms".
std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  if (d.count() > 1000 && d.count() % 100 == 0)
    return std::to_string(d.count() / 1000) + "." + std::to_string(d.count() % 1000 / 100) + " s";
  return std::to_string(d.count()) + " ms";
}

}  // namespace

std::string host_port(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string node_cli::address() const { return host_port(host, port); }

void add_node_options(command_spec& spec, node_role role) {
  if (role == node_role::worker) {
    spec.options.push_back({"join", "HOST:PORT", "the node to join (required)"});
  } else {
    spec.options.push_back(
        {"listen", "HOST:PORT",
         role == node_role::serve
             ? "address to listen on (default 127.0.0.1:0: loopback, any free port, printed)"
             : "also publish the run's blackboard on this address for `agora worker`s"});
  }
  spec.options.push_back({"token-env", "VAR",
                          "environment variable holding the join token (default AGORA_JOIN_TOKEN); "
                          "the token is never read from the command line nor printed"});
  spec.options.push_back({"tls-cert", "FILE", "this process's certificate (PEM); TLS needs all three"});
  spec.options.push_back({"tls-key", "FILE", "its private key (PEM)"});
  spec.options.push_back({"tls-ca", "FILE", "the authority every peer's certificate must be signed by"});
  spec.options.push_back({"name", "NAME",
                          role == node_role::worker ? "this worker's name in the node's logs "
                                                      "(default: HOSTNAME-PID)"
                                                    : "this node's name in logs (default: agora)"});
  if (role != node_role::worker)
    spec.options.push_back({"insecure-plaintext", "",
                            "allow listening beyond loopback without TLS (anyone on the network can "
                            "read the traffic)"});
}

bb::result<node_cli> read_node_options(const parsed_args& a, node_role role) {
  node_cli o;
  const std::string addr_option = role == node_role::worker ? "join" : "listen";
  o.address_given = a.has(addr_option);
  if (o.address_given) {
    auto hp = parse_host_port(addr_option, *a.get(addr_option), role == node_role::worker);
    if (!hp) return hp.error();
    o.host = hp->first;
    o.port = hp->second;
  } else if (role == node_role::worker) {
    return bad("--join HOST:PORT is required (the address `agora serve` printed)");
  }
  o.token_env = a.get_or("token-env", o.token_env);
  if (o.token_env.empty()) return bad("--token-env: the variable name is empty");
  const bool needs_token = role != node_role::run || o.address_given;
  if (needs_token) {
    const char* v = std::getenv(o.token_env.c_str());
    if (v == nullptr || *v == '\0')
      return bad("--token-env: the environment variable " + o.token_env +
                 " holding the join token is " + (v == nullptr ? "not set" : "empty") +
                 " (set it to the same secret on the node and its workers)");
    o.join_token = v;
  }
  o.tls_cert = a.get_or("tls-cert", "");
  o.tls_key = a.get_or("tls-key", "");
  o.tls_ca = a.get_or("tls-ca", "");
  const int tls_given = int(!o.tls_cert.empty()) + int(!o.tls_key.empty()) + int(!o.tls_ca.empty());
  if (tls_given != 0 && tls_given != 3) {
    std::string missing;
    for (auto [name, value] : {std::pair<const char*, const std::string*>{"--tls-cert", &o.tls_cert},
                               {"--tls-key", &o.tls_key},
                               {"--tls-ca", &o.tls_ca}})
      if (value->empty()) missing += (missing.empty() ? "" : ", ") + std::string(name);
    return bad("TLS needs --tls-cert, --tls-key and --tls-ca together; missing " + missing);
  }
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"--tls-cert", &o.tls_cert},
                             {"--tls-key", &o.tls_key},
                             {"--tls-ca", &o.tls_ca}})
    if (!value->empty()) {
      std::FILE* f = std::fopen(value->c_str(), "rb");
      if (f == nullptr) return bad(std::string(name) + " '" + *value + "': cannot be read");
      std::fclose(f);
    }
  o.name = a.get_or("name", "");
  if (a.has("name") && o.name.empty()) return bad("--name: the name is empty");
  o.allow_plaintext_remote = role != node_role::worker && a.has("insecure-plaintext");
  return o;
}

// --- node_system ------------------------------------------------------------------

struct node_system::impl {
  node_cli opts;
  caf::actor_system_config cfg;
  std::unique_ptr<actors::tracer> tracer;  // outlives the system's actors
  std::unique_ptr<caf::actor_system> sys;  // destroyed first
};

node_system::node_system() : impl_(std::make_unique<impl>()) {}

node_system::~node_system() {
  impl_->sys.reset();  // waits for every actor
  if (impl_->tracer) impl_->tracer->flush();
}

bb::result<std::unique_ptr<node_system>> node_system::make(const node_cli& opts,
                                                          const std::string& spans_path) {
  std::unique_ptr<node_system> ns(new node_system());
  auto& im = *ns->impl_;
  im.opts = opts;
  if (spans_path.empty()) {
    im.tracer = std::make_unique<actors::tracer>();
  } else {
    auto t = actors::tracer::open(spans_path);
    if (!t) return t.error();
    im.tracer = std::move(*t);
  }
  actors::register_types(im.cfg);
  actors::register_node_types(im.cfg);
  im.cfg.set("scheduler.max-threads", actors::runtime_options::default_worker_threads());
  im.cfg.load<caf::io::middleman>();
  actors::set_failure_detection(im.cfg, actors::failure_detection{});
  if (opts.tls()) {
    if (auto err = actors::enable_tls(im.cfg, {opts.tls_cert, opts.tls_key, opts.tls_ca, ""}))
      return bad("TLS (--tls-cert/--tls-key/--tls-ca): " + actors::render(err));
  }
  im.sys = std::make_unique<caf::actor_system>(im.cfg);
  if (opts.tls()) {
    if (auto err = actors::check_tls(*im.sys))
      return bad("TLS (--tls-cert/--tls-key/--tls-ca): " + actors::render(err));
  }
  return ns;
}

caf::actor_system& node_system::system() { return *impl_->sys; }
actors::tracer& node_system::tracer() { return *impl_->tracer; }
const node_cli& node_system::options() const { return impl_->opts; }

// --- run_node ---------------------------------------------------------------------

namespace {

/// A dispatcher behind an agent's interface, so that it can be a pattern
/// member: run(task) becomes dispatch(task), the dispatcher's reply is the
/// member's. Linked to the dispatcher: either's exit ends both.
actors::agent_actor::behavior_type member_forwarder(actors::agent_actor::pointer self,
                                                    actors::supervisor_actor dispatcher,
                                                    actors::agent_spec spec) {
  self->link_to(dispatcher);
  return {
      [self, dispatcher](actors::run_atom, actors::task t) {
        return self->delegate(dispatcher, actors::dispatch_atom::value, std::move(t));
      },
      [spec](actors::describe_atom) { return spec; },
  };
}

}  // namespace

struct run_node::impl {
  node_system* ns = nullptr;
  actors::blackboard_actor board;
  std::unique_ptr<actors::node> node;
  std::vector<caf::actor> members;  // forwarders (and their linked dispatchers)
  std::vector<caf::actor> dispatchers;
  bool stopped = false;
};

run_node::run_node() : impl_(std::make_unique<impl>()) {}

run_node::~run_node() { stop(); }

bb::result<std::unique_ptr<run_node>> run_node::start(node_system& ns,
                                                     std::shared_ptr<bb::blackboard> board,
                                                     std::ostream& log) {
  const node_cli& o = ns.options();
  if (o.join_token.empty())
    return bad("--token-env: no join token (set " + o.token_env + " to a secret)");
  std::unique_ptr<run_node> rn(new run_node());
  auto& im = *rn->impl_;
  im.ns = &ns;
  actors::blackboard_actor_options bo;
  bo.tracer = &ns.tracer();
  im.board = actors::spawn_blackboard(ns.system(), std::move(board), bo);
  actors::node_options no;
  no.name = o.name.empty() ? "agora" : o.name;
  no.host = o.host;
  no.port = o.port;
  no.join_token = o.join_token;
  no.allow_plaintext_remote = o.allow_plaintext_remote;
  no.tracer = &ns.tracer();
  auto n = actors::node::start(ns.system(), im.board, no);
  if (!n) {
    caf::anon_send_exit(im.board, caf::exit_reason::user_shutdown);
    im.stopped = true;
    return bad("cannot listen on " + o.address() + " (--listen): " + actors::render(n.error()));
  }
  im.node = std::move(*n);
  log << "listening on " << host_port(o.host, im.node->port()) << (im.node->tls() ? " (TLS)" : "")
      << std::endl;
  return rn;
}

std::uint16_t run_node::port() const { return impl_->node ? impl_->node->port() : 0; }
const actors::blackboard_actor& run_node::board_actor() const { return impl_->board; }
const actors::agent_registry_actor& run_node::registry() const { return impl_->node->registry(); }

bb::result<std::vector<member>> run_node::remote_members(const std::vector<agent_def>& defs,
                                                         std::chrono::milliseconds wait) {
  auto& im = *impl_;
  if (im.stopped || !im.node) return bad("the node is stopped");
  // agent id → index of the def
  std::map<std::string, std::size_t> wanted;
  std::vector<actors::agent_id> ids;
  for (std::size_t i = 0; i < defs.size(); ++i) {
    auto id = actors::agent_id::parse(defs[i].id);
    if (!id) return bad("agent " + defs[i].id + ": " + id.error().message);
    wanted.emplace(id->str(), i);
    ids.push_back(*id);
  }
  std::set<std::size_t> present;
  auto note = [&](const actors::agent_entry& e) {
    auto it = wanted.find(e.spec.id.str());
    if (it != wanted.end()) present.insert(it->second);
  };
  auto& sys = im.ns->system();
  {
    caf::scoped_actor self{sys};
    caf::error failed;
    self->request(im.node->registry(), std::chrono::seconds(10), actors::follow_atom::value,
                  std::string())
        .receive(
            [&](const std::vector<actors::agent_entry>& entries) {
              for (const auto& e : entries) note(e);
            },
            [&](const caf::error& err) { failed = err; });
    if (failed) return bad("the node's registry did not answer: " + actors::render(failed));
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (present.size() < defs.size()) {
      if (interrupted())
        return bb::error{bb::errc::watch_closed, "interrupted while waiting for workers"};
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      const auto slice = std::min<std::chrono::steady_clock::duration>(
          deadline - now, std::chrono::milliseconds(200));
      self->receive(
          [&](actors::agent_up_atom, const actors::agent_entry& e) { note(e); },
          [&](actors::agent_gone_atom, const actors::agent_entry& e, const caf::error&) {
            auto it = wanted.find(e.spec.id.str());
            if (it != wanted.end()) present.erase(it->second);
          },
          caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(slice)) >> [] {});
    }
    // Leaving the scope ends the follow: the registry drops followers that go down.
  }
  if (present.size() < defs.size()) {
    std::string missing;
    for (std::size_t i = 0; i < defs.size(); ++i)
      if (!present.count(i)) missing += (missing.empty() ? "" : ", ") + defs[i].id;
    return bad("no worker registered " + missing + " within " + seconds_text(wait) + " (start `agora worker --join " + host_port(im.ns->options().host, port()) +
               " --scenario FILE`)");
  }
  std::vector<member> out;
  for (std::size_t i = 0; i < defs.size(); ++i) {
    actors::dispatcher_options dopts;
    dopts.tracer = &im.ns->tracer();
    auto d = actors::spawn_dispatcher(sys, im.node->registry(), im.board, ids[i].str(),
                                      dopts);
    if (!d) return bad("agent " + defs[i].id + ": " + d.error().message);
    im.dispatchers.push_back(caf::actor_cast<caf::actor>(*d));
    actors::agent_spec spec{ids[i], defs[i].role, {}};
    auto fwd = sys.spawn(member_forwarder, *d, spec);
    im.members.push_back(caf::actor_cast<caf::actor>(fwd));
    out.push_back(member{ids[i], fwd, defs[i].role});
  }
  return out;
}

void run_node::stop() {
  auto& im = *impl_;
  if (im.stopped) return;
  im.stopped = true;
  for (auto& m : im.members) caf::anon_send_exit(m, caf::exit_reason::user_shutdown);
  for (auto& d : im.dispatchers) caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  im.members.clear();
  im.dispatchers.clear();
  if (im.node) im.node->stop();
  caf::anon_send_exit(im.board, caf::exit_reason::user_shutdown);
}

}  // namespace agora::cli
