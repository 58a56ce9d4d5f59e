#include "agora/actors/node.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/session.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "agora/actors/errors.hpp"
#include "agora/blackboard/key.hpp"
#include "dispatch_engine.hpp"
#include "log_line.hpp"

namespace agora::actors {

// --- setup ----------------------------------------------------------------------------

void register_node_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<agent_entry>("agora_agent_entry");
  cfg.add_message_type<join_request>("agora_join_request");
  cfg.add_message_type<join_reply>("agora_join_reply");
}

namespace {

caf::timespan to_timespan(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<caf::timespan>(std::max(d, std::chrono::milliseconds(0)));
}

std::chrono::milliseconds to_ms(caf::timespan t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t);
}

caf::error invalid(std::string why) {
  return caf::make_error(caf::sec::invalid_argument, std::move(why));
}

bool readable_file(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

}  // namespace

void set_failure_detection(caf::actor_system_config& cfg, const failure_detection& fd) {
  cfg.set("middleman.heartbeat-interval", to_timespan(fd.heartbeat_interval));
  cfg.set("middleman.connection-timeout", to_timespan(fd.connection_timeout));
}

failure_detection failure_detection_of(const caf::actor_system& sys) {
  failure_detection fd;
  fd.heartbeat_interval =
      to_ms(caf::get_or(sys.config(), "middleman.heartbeat-interval", caf::timespan{0}));
  fd.connection_timeout =
      to_ms(caf::get_or(sys.config(), "middleman.connection-timeout", caf::timespan{0}));
  return fd;
}

caf::error enable_tls(caf::actor_system_config& cfg, const tls_options& tls) {
  const std::pair<const char*, const std::string*> files[] = {
      {"certificate", &tls.certificate}, {"key", &tls.key}, {"ca_file", &tls.ca_file}};
  for (const auto& [what, path] : files) {
    if (path->empty()) return invalid(std::string("TLS ") + what + " is empty");
    if (!readable_file(*path))
      return invalid(std::string("TLS ") + what + " '" + *path + "' is not a readable file");
  }
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = tls.certificate;
  cfg.openssl_key = tls.key;
  cfg.openssl_cafile = tls.ca_file;
  cfg.openssl_passphrase = tls.passphrase;
  return caf::none;
}

bool tls_enabled(const caf::actor_system& sys) {
  return sys.has_openssl_manager() && sys.openssl_manager().authentication_enabled();
}

// --- CAF 0.17 with OpenSSL 3: one failed TLS connection must not close the others ---------
//
// OpenSSL keeps errors in a per-thread queue, and SSL_get_error() reads that
// queue: it must be empty before every TLS I/O call. CAF 0.17's openssl
// module never empties it (it only reads it for log lines, which Debian's
// build compiles out). All TLS connections run on CAF's one multiplexer
// thread, so the error left by one failed connection (a peer killed without
// close_notify, a certificate refused, plain TCP sent to the TLS port) makes
// the next "no data yet" on any healthy connection look fatal, and CAF
// closes it: one bad peer disconnects every worker. Measured: a SIGKILLed
// worker, a rogue-CA joiner or a plain-TCP joiner each dropped a healthy
// TLS worker, every time.
//
// These definitions interpose the I/O calls CAF's session makes and empty
// the queue first, as OpenSSL documents for every caller. They are found
// before libssl's because this object is linked into the executable (or a
// library loaded before libssl); the real functions come from dlsym.
// Emptying the queue before an I/O call is what every correct caller does,
// so other OpenSSL users in the process are not affected.

namespace {

template <class Fn>
Fn tls_next(const char* name) {
  void* sym = ::dlsym(RTLD_NEXT, name);
  Fn fn;
  static_assert(sizeof(fn) == sizeof(sym));
  std::memcpy(&fn, &sym, sizeof fn);
  return fn;
}

void clear_tls_errors() {
  using clear_fn = void (*)();
  static const clear_fn clear = [] {
    void* sym = ::dlsym(RTLD_DEFAULT, "ERR_clear_error");
    clear_fn fn;
    std::memcpy(&fn, &sym, sizeof fn);
    return fn;
  }();
  if (clear) clear();
}

}  // namespace

}  // namespace agora::actors

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto next = agora::actors::tls_next<int (*)(SSL*, void*, int)>("SSL_read");
  agora::actors::clear_tls_errors();
  return next(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto next = agora::actors::tls_next<int (*)(SSL*, const void*, int)>("SSL_write");
  agora::actors::clear_tls_errors();
  return next(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto next = agora::actors::tls_next<int (*)(SSL*)>("SSL_accept");
  agora::actors::clear_tls_errors();
  return next(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto next = agora::actors::tls_next<int (*)(SSL*)>("SSL_connect");
  agora::actors::clear_tls_errors();
  return next(ssl);
}

}  // extern "C"

namespace agora::actors {

namespace lv = detail::lv;

namespace {

/// An OpenSSL function from the libssl/libcrypto the process has loaded
/// (through libcaf_openssl), or null. agora_actors does not link OpenSSL
/// itself.
template <class Fn>
Fn tls_symbol(const char* name) {
  void* sym = ::dlsym(RTLD_DEFAULT, name);
  Fn fn;
  std::memcpy(&fn, &sym, sizeof fn);
  return fn;
}

/// OpenSSL's error queue as text (and empties it).
std::string tls_errors() {
  static const auto get = tls_symbol<decltype(&::ERR_get_error)>("ERR_get_error");
  static const auto text = tls_symbol<decltype(&::ERR_error_string_n)>("ERR_error_string_n");
  std::string out;
  if (!get || !text) return out;
  while (auto e = get()) {
    char buf[256];
    text(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

/// Loads the files the way CAF's session will (same calls, same order), on
/// a context we free on every path: CAF's own throws and leaks its context.
caf::error load_tls_files(const caf::actor_system_config& cfg) {
  static const auto method = tls_symbol<decltype(&::TLS_method)>("TLS_method");
  static const auto ctx_new = tls_symbol<decltype(&::SSL_CTX_new)>("SSL_CTX_new");
  static const auto ctx_free = tls_symbol<decltype(&::SSL_CTX_free)>("SSL_CTX_free");
  static const auto chain = tls_symbol<decltype(&::SSL_CTX_use_certificate_chain_file)>(
      "SSL_CTX_use_certificate_chain_file");
  static const auto key =
      tls_symbol<decltype(&::SSL_CTX_use_PrivateKey_file)>("SSL_CTX_use_PrivateKey_file");
  static const auto passphrase = tls_symbol<decltype(&::SSL_CTX_set_default_passwd_cb_userdata)>(
      "SSL_CTX_set_default_passwd_cb_userdata");
  static const auto verify =
      tls_symbol<decltype(&::SSL_CTX_load_verify_locations)>("SSL_CTX_load_verify_locations");
  clear_tls_errors();
  if (!method || !ctx_new || !ctx_free || !chain || !key || !passphrase || !verify)
    return invalid("OpenSSL's functions are not loaded in this process");
  std::unique_ptr<SSL_CTX, decltype(ctx_free)> ctx{ctx_new(method()), ctx_free};
  if (!ctx) return invalid("cannot create an OpenSSL context: " + tls_errors());
  // With user data and no callback, OpenSSL's default callback uses the
  // data as the key's passphrase: what CAF's callback does too.
  std::string pass = cfg.openssl_passphrase;
  if (!pass.empty()) passphrase(ctx.get(), pass.data());
  if (chain(ctx.get(), cfg.openssl_certificate.c_str()) != 1)
    return invalid("cannot load certificate '" + cfg.openssl_certificate + "': " + tls_errors());
  if (key(ctx.get(), cfg.openssl_key.c_str(), SSL_FILETYPE_PEM) != 1)
    return invalid("cannot load private key '" + cfg.openssl_key +
                   "' (does it belong to the certificate?): " + tls_errors());
  const char* cafile = cfg.openssl_cafile.empty() ? nullptr : cfg.openssl_cafile.c_str();
  const char* capath = cfg.openssl_capath.empty() ? nullptr : cfg.openssl_capath.c_str();
  if ((cafile || capath) && verify(ctx.get(), cafile, capath) != 1)
    return invalid("cannot load trusted CA certificates '" + cfg.openssl_cafile +
                   "': " + tls_errors());
  return caf::none;
}

}  // namespace

caf::error check_tls(caf::actor_system& sys) {
  if (!tls_enabled(sys)) return invalid("TLS is not enabled in this actor system");
  // CAF builds an SSL context per connection from these settings and
  // throws from its I/O thread when they do not load, which ends the
  // process. Loading them here first turns that into an error we report.
  if (auto err = load_tls_files(sys.config())) return err;
  // Then CAF's own code path, which now cannot fail on the files.
  try {
    caf::openssl::session probe{sys};
    if (!probe.init()) return invalid("cannot create an OpenSSL session");
  } catch (const std::exception& e) {
    return invalid(std::string("TLS settings do not load: ") + e.what());
  }
  return caf::none;
}

namespace {

std::string q(const std::string& s) { return detail::log_value(s); }

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

/// Compares without stopping at the first difference, so that the time a
/// refusal takes says nothing about how much of the token was right.
bool same_token(const std::string& a, const std::string& b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

caf::timestamp wall_now() {
  return std::chrono::time_point_cast<caf::timespan>(std::chrono::system_clock::now());
}

/// Asks the middleman which host:port the connection to `nid` comes from
/// and calls `then` with "host:port", "local", or "unknown".
template <class Self, class F>
void lookup_peer(Self* self, const caf::node_id& nid, std::chrono::milliseconds timeout, F then) {
  if (nid == self->node() || !self->system().has_middleman()) {
    then(std::string("local"));
    return;
  }
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, timeout, caf::get_atom::value, nid)
      .then(
          [then](const caf::node_id&, const std::string& host, std::uint16_t port) mutable {
            then(host.empty() ? std::string("unknown") : host + ":" + std::to_string(port));
          },
          [then](const caf::error&) mutable { then(std::string("unknown")); });
}

// --- the registry ---------------------------------------------------------------------

struct follower {
  caf::actor_addr addr;
  std::string type;
};

struct registry_state {
  std::string node_name;
  std::string token;
  blackboard_actor board;
  failure_detection fd;
  std::chrono::milliseconds request_timeout{5000};
  detail::log_fn log;
  tracer* trace = nullptr;  // null unless enabled
  std::map<std::string, agent_entry> agents;   // by id
  std::map<caf::actor_addr, std::string> ids;  // agent address -> id
  std::vector<follower> followers;
  std::set<caf::node_id> lost_nodes;  // reported once each
  const char* name = "agora_registry";
};

using registry_pointer = agent_registry_actor::stateful_pointer<registry_state>;

// "" = every agent; "type/key" = that one agent; "type" = the agents of the type.
bool of_type(const agent_entry& e, const std::string& type) {
  if (type.empty()) return true;
  if (type.find('/') != std::string::npos) return e.spec.id.str() == type;
  return e.spec.id.type() == type;
}

std::vector<agent_entry> agents_of(const registry_state& st, const std::string& type) {
  std::vector<agent_entry> out;
  for (const auto& [id, e] : st.agents)
    if (of_type(e, type)) out.push_back(e);
  return out;
}

template <class... Ts>
void tell_followers(registry_state& st, const agent_entry& e, const Ts&... xs) {
  for (const auto& f : st.followers)
    if (of_type(e, f.type))
      if (auto dest = caf::actor_cast<caf::actor>(f.addr)) caf::anon_send(dest, xs...);
}

void handle_join(registry_pointer self, caf::typed_response_promise<join_reply> rp,
                 join_request req, const caf::node_id& nid, const std::string& peer) {
  auto& st = self->state;
  auto refuse = [&](const std::string& reason, const std::string& message) {
    st.log(lv::warn, "join refused node=" + q(st.node_name) + " worker=" + q(req.worker) +
                                " peer=" + peer + " reason=" + reason);
    rp.deliver(caf::make_error(errc::join_refused, message));
  };
  if (!same_token(req.token, st.token))
    return refuse("bad_token", "node " + st.node_name + " refused the join: wrong join token");
  if (req.worker.empty())
    return refuse("no_worker_name",
                  "node " + st.node_name + " refused the join: the worker name is empty");
  const auto timeout_ms = static_cast<std::uint64_t>(st.fd.connection_timeout.count());
  if (nid != self->node() && timeout_ms > 0 &&
      (req.heartbeat_ms == 0 || req.heartbeat_ms * 2 > timeout_ms))
    return refuse("heartbeat_mismatch",
                  "node " + st.node_name + " refused the join: the worker's heartbeat interval (" +
                      std::to_string(req.heartbeat_ms) +
                      " ms, 0 = off) must be at most half the node's connection timeout (" +
                      std::to_string(timeout_ms) + " ms), or the node drops the worker as dead");
  for (const auto& a : req.agents) {
    if (!a.handle || a.spec.id.empty()) {
      rp.deliver(caf::make_error(
          errc::bad_message, "join of worker " + req.worker + ": an agent has no id or no handle"));
      return;
    }
    auto it = st.agents.find(a.spec.id.str());
    if (it != st.agents.end() && it->second.handle != a.handle)
      return refuse("duplicate_agent", "node " + st.node_name + " refused the join: agent " +
                                           a.spec.id.str() + " is already registered by worker " +
                                           it->second.worker);
  }
  // The registration's context: what the agents' arrival causes (a
  // dispatcher's work) continues the worker's trace.
  span join_span;
  if (st.trace) {
    join_span = st.trace->start("node.join", req.trace, req.worker);
    join_span.set("agora.node", st.node_name);
    join_span.set("agora.peer", peer);
  }
  const trace_context ctx = join_span.active() ? join_span.context() : req.trace;
  const std::string trace_id = ctx.valid() ? ctx.trace_id_hex() : std::string("none");
  std::uint32_t registered = 0;
  for (auto& a : req.agents) {
    const std::string id = a.spec.id.str();
    if (st.agents.count(id) != 0) continue;  // the same handle again
    a.worker = req.worker;
    a.peer = peer;
    a.trace = ctx;
    self->monitor(a.handle);
    st.ids[a.handle.address()] = id;
    auto& stored = st.agents[id] = std::move(a);
    ++registered;
    st.log(lv::debug, "agent registered id=" + q(id) + " worker=" + q(req.worker) +
                                 " peer=" + peer + " trace=" + trace_id);
    tell_followers(st, stored, agent_up_atom::value, stored);
  }
  st.log(lv::info, "join accepted node=" + q(st.node_name) + " worker=" + q(req.worker) +
                              " peer=" + peer + " registered=" + std::to_string(registered) +
                              " trace=" + trace_id);
  join_span.set("agora.registered", std::int64_t{registered});
  join_reply r;
  r.node = st.node_name;
  r.board = st.board;
  r.heartbeat_ms = static_cast<std::uint64_t>(st.fd.heartbeat_interval.count());
  r.connection_timeout_ms = timeout_ms;
  r.registered = registered;
  rp.deliver(std::move(r));
}

void registry_down(registry_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto it = st.ids.find(dm.source);
  if (it == st.ids.end()) {
    st.followers.erase(std::remove_if(st.followers.begin(), st.followers.end(),
                                      [&](const follower& f) { return f.addr == dm.source; }),
                       st.followers.end());
    return;
  }
  auto node_it = st.agents.find(it->second);
  st.ids.erase(it);
  if (node_it == st.agents.end()) return;
  agent_entry gone = std::move(node_it->second);
  st.agents.erase(node_it);
  const caf::node_id nid = dm.source.node();
  if (dm.reason == caf::exit_reason::remote_link_unreachable && nid != self->node() &&
      st.lost_nodes.insert(nid).second) {
    std::size_t lost = 1;
    for (const auto& [id, e] : st.agents)
      if (e.handle.node() == nid) ++lost;
    st.log(lv::warn, "worker lost node=" + q(st.node_name) + " worker=" + q(gone.worker) +
                                " peer=" + gone.peer + " agents=" + std::to_string(lost) +
                                " reason=connection_lost");
  }
  st.log(lv::info, "agent gone id=" + q(gone.spec.id.str()) + " worker=" + q(gone.worker) +
                              " reason=" + q(render(dm.reason)));
  tell_followers(st, gone, agent_gone_atom::value, gone, dm.reason);
}

agent_registry_actor::behavior_type registry_behavior(registry_pointer self,
                                                      std::shared_ptr<registry_state> init) {
  self->state.node_name = std::move(init->node_name);
  self->state.token = std::move(init->token);
  self->state.board = std::move(init->board);
  self->state.fd = init->fd;
  self->state.request_timeout = init->request_timeout;
  self->state.log = std::move(init->log);
  self->state.trace = init->trace;
  self->set_down_handler([self](caf::down_msg& dm) { registry_down(self, dm); });
  return {
      [self](node_join_atom, join_request& req) -> caf::result<join_reply> {
        const auto& sender = self->current_sender();
        if (!sender) return caf::make_error(errc::bad_message, "a join without a sender");
        // Before the promise: making it takes the sender out of the message.
        const caf::node_id nid = sender->node();
        auto rp = self->make_response_promise<join_reply>();
        lookup_peer(self, nid, self->state.request_timeout,
                    [self, rp, req, nid](const std::string& peer) mutable {
                      handle_join(self, std::move(rp), std::move(req), nid, peer);
                    });
        return rp;
      },
      [self](lookup_atom, const std::string& type) -> std::vector<agent_entry> {
        return agents_of(self->state, type);
      },
      [self](follow_atom, const std::string& type) -> caf::result<std::vector<agent_entry>> {
        const auto& sender = self->current_sender();
        if (!sender) return caf::make_error(errc::bad_message, "a follow without a sender");
        auto addr = caf::actor_cast<caf::actor_addr>(sender);
        self->monitor(addr);
        self->state.followers.push_back(follower{addr, type});
        return agents_of(self->state, type);
      },
  };
}

}  // namespace

// --- the node -------------------------------------------------------------------------

caf::expected<std::unique_ptr<node>> node::start(caf::actor_system& sys, blackboard_actor board,
                                                 node_options opts) {
  opts.logger = detail::logger_or_default(opts.logger);
  const detail::log_fn log{opts.logger};
  auto refuse = [&](const std::string& why) {
    log(lv::err, "node start refused node=" + q(opts.name) + " reason=" + q(why));
    return invalid(why);
  };
  if (opts.join_token.empty()) return refuse("join_token is empty: every node needs one");
  if (!board) return refuse("the blackboard actor is invalid");
  if (!sys.has_middleman()) return refuse("the middleman is not loaded (caf::io::middleman)");
  bool tls = false;
  if (sys.has_openssl_manager()) {
    if (!tls_enabled(sys))
      return refuse(
          "the openssl module is loaded without a certificate: CAF would fall back to "
          "anonymous TLS, which authenticates nobody; use enable_tls");
    if (auto err = check_tls(sys)) return refuse(render(err));
    tls = true;
  } else if (!is_loopback(opts.host)) {
    if (!opts.allow_plaintext_remote)
      return refuse("plain TCP on '" + (opts.host.empty() ? std::string("*") : opts.host) +
                    "' would expose the node beyond this machine: enable TLS (enable_tls) or set "
                    "allow_plaintext_remote");
    log(lv::warn, "node listens without TLS beyond loopback node=" + q(opts.name) +
                                  " host=" + q(opts.host) + " (allow_plaintext_remote is set)");
  }
  const failure_detection fd = failure_detection_of(sys);
  if (fd.heartbeat_interval.count() == 0 || fd.connection_timeout.count() == 0)
    log(lv::warn,
             "dead peers will not be noticed node=" + q(opts.name) +
                 " heartbeat_ms=" + std::to_string(fd.heartbeat_interval.count()) +
                 " connection_timeout_ms=" + std::to_string(fd.connection_timeout.count()) +
                 " (use set_failure_detection)");
  else if (fd.heartbeat_interval.count() * 2 > fd.connection_timeout.count())
    return refuse("heartbeat interval " + std::to_string(fd.heartbeat_interval.count()) +
                  " ms is more than half the connection timeout " +
                  std::to_string(fd.connection_timeout.count()) +
                  " ms: healthy peers would be dropped");

  auto init = std::make_shared<registry_state>();
  init->node_name = opts.name;
  init->token = opts.join_token;
  init->board = board;
  init->fd = fd;
  init->request_timeout = opts.request_timeout;
  init->log = log;
  init->trace = opts.tracer && opts.tracer->enabled() ? opts.tracer : nullptr;
  agent_registry_actor registry = sys.spawn(registry_behavior, std::move(init));

  const char* host = opts.host.empty() ? nullptr : opts.host.c_str();
  auto port = tls ? caf::openssl::publish(registry, opts.port, host, opts.reuse_address)
                  : sys.middleman().publish(registry, opts.port, host, opts.reuse_address);
  if (!port) {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    log(lv::err, "node start failed node=" + q(opts.name) + " host=" + q(opts.host) +
                                   " port=" + std::to_string(opts.port) +
                                   " reason=" + q(render(port.error())));
    return port.error();
  }
  std::unique_ptr<node> n{new node()};
  n->sys_ = &sys;
  n->board_ = std::move(board);
  n->registry_ = std::move(registry);
  n->port_ = *port;
  n->tls_ = tls;
  n->opts_ = std::move(opts);
  detail::log_fn{n->opts_.logger}(lv::info,
               "node listening node=" + q(n->opts_.name) + " host=" + q(n->opts_.host) +
                   " port=" + std::to_string(n->port_) + " tls=" + (tls ? "on" : "off") +
                   " heartbeat_ms=" + std::to_string(fd.heartbeat_interval.count()) +
                   " connection_timeout_ms=" + std::to_string(fd.connection_timeout.count()));
  return n;
}

node::~node() { stop(); }

void node::stop() {
  if (!registry_) return;
  // Both middleman actors (plain and openssl) share one BASP broker, so the
  // plain one closes a TLS port too.
  caf::anon_send(sys_->middleman().actor_handle(), caf::close_atom::value, port_);
  caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
  registry_ = nullptr;
  detail::log_fn{opts_.logger}(lv::info,
            "node stopped node=" + q(opts_.name) + " port=" + std::to_string(port_));
}

// --- joining --------------------------------------------------------------------------

namespace {

std::string where(const connect_options& o) { return o.host + ":" + std::to_string(o.port); }

/// Opens the BASP connection and returns the published registry.
caf::expected<agent_registry_actor> open_connection(caf::actor_system& sys,
                                                    const connect_options& opts, bool tls) {
  caf::io::middleman_actor mm =
      tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  caf::scoped_actor self{sys};
  caf::expected<agent_registry_actor> out{caf::make_error(errc::timeout, "no answer")};
  const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  // CAF 0.17 times out a connection that has not yet received anything at
  // its next heartbeat tick, so a tick during the TLS handshake fails the
  // connect with connection_timeout. It is worth another try.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    bool retry = false;
    self->request(mm, left, caf::connect_atom::value, opts.host, opts.port)
        .receive(
            [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
              if (!ptr) {
                out = caf::make_error(caf::sec::no_actor_published_at_port,
                                      "nothing is published at " + where(opts));
              } else if (ifs != sys.message_types<agent_registry_actor>()) {
                out = caf::make_error(errc::join_refused,
                                      "the actor at " + where(opts) +
                                          " is not an Agora node registry of this version");
              } else {
                out = caf::actor_cast<agent_registry_actor>(std::move(ptr));
              }
            },
            [&](caf::error& err) {
              if (err == caf::sec::connection_timeout) {
                retry = true;
                out = caf::make_error(errc::timeout, "the connection to " + where(opts) +
                                                         " timed out during the handshake");
              } else if (err == caf::sec::disconnect_during_handshake) {
                out = caf::make_error(
                    errc::join_refused,
                    tls ? "node " + where(opts) +
                              " cut the TLS handshake: it did not accept our certificate, we did "
                              "not accept its certificate, or it does not speak TLS"
                        : "node " + where(opts) + " cut the handshake: it probably requires TLS");
              } else if (err == caf::sec::request_timeout) {
                out = caf::make_error(errc::timeout,
                                      "no connection to " + where(opts) + " within " +
                                          std::to_string(opts.timeout.count()) + " ms");
              } else {
                out = std::move(err);
              }
            });
    if (!retry) break;
  }
  return out;
}

caf::expected<join_reply> join(caf::actor_system& sys, const agent_registry_actor& registry,
                               join_request req, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<join_reply> out{caf::make_error(errc::timeout, "no answer")};
  self->request(registry, timeout, node_join_atom::value, std::move(req))
      .receive([&](join_reply& r) { out = std::move(r); },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   out =
                       caf::make_error(errc::timeout, "the node did not answer the join within " +
                                                          std::to_string(timeout.count()) + " ms");
                 else
                   out = std::move(err);
               });
  return out;
}

}  // namespace

caf::expected<node_connection> connect_to_node(caf::actor_system& sys,
                                               const connect_options& opts) {
  if (opts.worker.empty()) return invalid("connect_to_node: the worker name is empty");
  if (!sys.has_middleman()) return invalid("connect_to_node: the middleman is not loaded");
  const bool tls = sys.has_openssl_manager();
  if (tls) {
    if (!tls_enabled(sys))
      return invalid(
          "connect_to_node: the openssl module is loaded without a certificate "
          "(anonymous TLS authenticates nobody); use enable_tls");
    if (auto err = check_tls(sys)) return err;
  }
  auto registry = open_connection(sys, opts, tls);
  if (!registry) return registry.error();
  const failure_detection mine = failure_detection_of(sys);
  const trace_context trace = opts.trace.valid() ? opts.trace : trace_context::make_root();
  join_request req;
  req.token = opts.join_token;
  req.worker = opts.worker;
  req.heartbeat_ms = static_cast<std::uint64_t>(mine.heartbeat_interval.count());
  req.trace = trace.child();
  auto reply = join(sys, *registry, std::move(req), opts.timeout);
  if (!reply) return reply.error();
  const auto my_timeout = static_cast<std::uint64_t>(mine.connection_timeout.count());
  if (my_timeout > 0 && (reply->heartbeat_ms == 0 || reply->heartbeat_ms * 2 > my_timeout))
    return caf::make_error(errc::join_refused, "node " + where(opts) + " sends heartbeats every " +
                                                   std::to_string(reply->heartbeat_ms) +
                                                   " ms (0 = never): our connection timeout of " +
                                                   std::to_string(my_timeout) +
                                                   " ms would drop it as dead");
  node_connection c;
  c.registry = std::move(*registry);
  c.board = std::move(reply->board);
  c.node = std::move(reply->node);
  c.join_token = opts.join_token;
  c.worker = opts.worker;
  c.node_failure_detection.heartbeat_interval = std::chrono::milliseconds(reply->heartbeat_ms);
  c.node_failure_detection.connection_timeout =
      std::chrono::milliseconds(reply->connection_timeout_ms);
  c.trace = trace;
  return c;
}

caf::error register_agents(caf::actor_system& sys, const node_connection& conn,
                           std::vector<agent_entry> agents, std::chrono::milliseconds timeout) {
  join_request req;
  req.token = conn.join_token;
  req.worker = conn.worker;
  req.heartbeat_ms =
      static_cast<std::uint64_t>(failure_detection_of(sys).heartbeat_interval.count());
  req.agents = std::move(agents);
  req.trace = conn.trace.valid() ? conn.trace.child() : trace_context::make_root();
  auto reply = join(sys, conn.registry, std::move(req), timeout);
  if (!reply) return std::move(reply.error());
  return caf::none;
}

// --- remote agents --------------------------------------------------------------------

namespace {

using remote_expire_atom = caf::atom_constant<caf::atom("rmexpire")>;

using remote_impl =
    agent_actor::extend<caf::reacts_to<detail::logic_done_atom, std::uint64_t, std::uint32_t>,
                        caf::reacts_to<remote_expire_atom, std::uint64_t>>;

struct remote_setup {
  blackboard_actor board;
  agent_spec spec;
  agent_logic logic;
  remote_agent_options opts;
  tracer* trace = nullptr;  // null unless enabled
};

/// The view one run of the logic works on: the scope as of the node's
/// revision `base`, loaded into a private blackboard.
struct scope_view {
  std::uint64_t base = 0;
  bb::blackboard mirror;
  std::uint64_t mirror_revision = 0;
  std::map<std::string, std::uint64_t> node_revision;  // key -> mod_revision on the node

  explicit scope_view(const bb::blackboard_options& o) : mirror(o) {}
};

/// One task from receipt to reply.
struct remote_job {
  task t;  // trace: this task's span when tracing, else the sender's context
  caf::typed_response_promise<outcome> promise;
  caf::timestamp deadline{};
  std::uint32_t runs = 0;
  std::uint64_t step = 0;  // tells the current step's replies from stale ones
  // The promotion is sent: from now on only the node's answer (or its
  // request timeout) settles the task, not the deadline — it may commit.
  bool committing = false;
  std::vector<std::string> scope;
  span task_span;
  std::shared_ptr<scope_view> view;               // the current run's
  std::shared_ptr<detail::completion_core> core;  // the current async run
  nlohmann::json value;                           // what the logic reported
};

struct remote_agent_state {
  std::shared_ptr<const remote_setup> setup;
  std::unordered_map<std::uint64_t, remote_job> jobs;
  std::uint64_t next_seq = 0;
  const char* name = "agora_remote_agent";

  ~remote_agent_state() {
    for (auto& [seq, j] : jobs) {
      if (j.core) j.core->called.store(true, std::memory_order_release);  // a late completion is ignored
      if (!j.promise.pending()) continue;
      outcome o;
      o.status = outcome_status::cancelled;
      o.txn_id = j.t.txn_id();
      o.attempts = j.runs;
      o.dispatches = 1;
      o.agent = setup ? setup->spec.id.str() : std::string();
      o.error = caf::make_error(errc::cancelled,
                                "agent " + o.agent + " stopped before the task finished");
      detail::end_outcome_span(j.task_span, o);
      j.promise.deliver(std::move(o));
    }
  }
};

using remote_pointer = remote_impl::stateful_pointer<remote_agent_state>;

void remote_attempt(remote_pointer self, std::uint64_t seq);

/// The job `seq` if it still waits for the step `step` (0: any step).
remote_job* remote_current(remote_pointer self, std::uint64_t seq, std::uint64_t step = 0) {
  auto it = self->state.jobs.find(seq);
  if (it == self->state.jobs.end() || (step != 0 && it->second.step != step)) return nullptr;
  return &it->second;
}

void remote_finish(remote_pointer self, std::uint64_t seq, outcome o) {
  auto it = self->state.jobs.find(seq);
  if (it == self->state.jobs.end()) return;
  remote_job& j = it->second;
  if (j.core) j.core->called.store(true, std::memory_order_release);
  o.txn_id = j.t.txn_id();
  o.attempts = j.runs;
  o.dispatches = 1;
  o.agent = self->state.setup->spec.id.str();
  if (o.ok() && o.result.is_null()) o.result = std::move(j.value);
  detail::end_outcome_span(j.task_span, o);
  j.promise.deliver(std::move(o));
  self->state.jobs.erase(it);
}

void remote_fail(remote_pointer self, std::uint64_t seq, outcome_status status, caf::error err) {
  outcome o;
  o.status = status;
  o.error = std::move(err);
  remote_finish(self, seq, std::move(o));
}

caf::error remote_deadline_error(const remote_job& j, const char* when) {
  return caf::make_error(errc::deadline_exceeded,
                         "task " + j.t.txn_id() + " passed its deadline " + when);
}

/// Timeout for the next request: the request timeout, capped by the deadline.
std::chrono::milliseconds remote_timeout(const remote_setup& s, const remote_job& j) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(j.deadline - wall_now());
  return std::max(std::chrono::milliseconds(1), std::min(left, s.opts.request_timeout));
}

/// A request to the board failed: past the deadline that is the deadline's
/// fault (unless the promotion was sent: then nobody knows whether it
/// committed, and a retry with the same txn_id will tell), else the
/// request's.
void remote_request_failed(remote_pointer self, std::uint64_t seq, const char* what,
                           const caf::error& err) {
  remote_job* j = remote_current(self, seq);
  if (!j) return;
  if (wall_now() >= j->deadline && !j->committing)
    return remote_fail(
        self, seq, outcome_status::deadline_exceeded,
        remote_deadline_error(*j, (std::string("during ") + what).c_str()));
  if (is_blackboard_error(err)) return remote_fail(self, seq, outcome_status::error, err);
  remote_fail(self, seq, outcome_status::error,
              caf::make_error(errc::agent_failed, std::string(what) + " failed: " + render(err)));
}

bool in_scope(const std::vector<std::string>& scope, std::string_view key) {
  for (const auto& s : scope)
    if (bb::key_in_prefix(key, bb::normalize_prefix(s))) return true;
  return false;
}

std::string scope_text(const std::vector<std::string>& scope) {
  std::string out;
  for (const auto& s : scope) out += (out.empty() ? "'" : ", '") + s + "'";
  return "[" + out + "]";
}

/// Loads the scope's entries (as of the node's revision `rev`) into a
/// private blackboard.
caf::expected<std::shared_ptr<scope_view>> make_view(std::uint64_t rev,
                                                     const std::vector<entry_data>& entries) {
  bb::blackboard_options mo;
  // The mirror holds whatever the node holds; the node checks its own
  // limits on the promotion.
  mo.limits.max_ops_per_txn = std::numeric_limits<std::size_t>::max();
  mo.limits.max_value_bytes = std::numeric_limits<std::size_t>::max();
  mo.limits.max_depth = std::numeric_limits<std::size_t>::max();
  mo.limits.max_key_bytes = std::numeric_limits<std::size_t>::max();
  auto view = std::make_shared<scope_view>(mo);
  view->base = rev;
  if (!entries.empty()) {
    auto load = view->mirror.begin("agora/mirror");
    for (const auto& e : entries) {
      auto v = parse_value(e);
      if (!v) return std::move(v.error());
      if (auto put = load.put(e.key, std::move(*v)); !put) return to_caf_error(put.error());
      view->node_revision[e.key] = e.mod_revision;
    }
    bb::promote_options blind;
    blind.isolation = bb::isolation::blind;
    if (auto c = view->mirror.promote(std::move(load), blind); !c) return to_caf_error(c.error());
  }
  view->mirror_revision = view->mirror.revision();
  return view;
}

/// The logic's promotion in the node's terms: base revision and reads
/// renumbered from the mirror's revisions to the node's, so that the node
/// checks them exactly as it checks a local agent's. Fails with
/// errc::bad_message for a read or listed prefix outside the scope.
caf::expected<bb::promotion> to_node_promotion(const remote_setup& s, const remote_job& j,
                                               const bb::scratchpad& pad) {
  const scope_view& v = *j.view;
  bb::promotion p = pad.to_promotion();
  p.base_revision = v.base;
  auto outside = [&](const std::string& key, const char* what) {
    return caf::make_error(errc::bad_message, "agent " + s.spec.id.str() + " " + what + " '" + key +
                                                  "' outside its scope " + scope_text(j.scope));
  };
  for (auto& r : p.reads) {
    if (!in_scope(j.scope, r.key)) return outside(r.key, "read key");
    auto it = v.node_revision.find(r.key);
    r.mod_revision = (r.mod_revision == 0 || it == v.node_revision.end()) ? 0 : it->second;
  }
  for (const auto& range : p.ranges)
    if (!in_scope(j.scope, range)) return outside(range, "listed prefix");
  for (auto& e : p.expects) {
    auto it = v.node_revision.find(e.key);
    if (e.mod_revision == v.mirror_revision && it != v.node_revision.end())
      e.mod_revision = it->second;
  }
  return p;
}

/// A txn_id committed before by another agent: find its revision for the outcome.
void remote_replayed(remote_pointer self, std::uint64_t seq, const std::string& first_key) {
  remote_job& j = self->state.jobs.at(seq);
  const remote_setup& s = *self->state.setup;
  const auto txn = j.t.txn_id();
  const auto step = ++j.step;
  self->request(s.board, s.opts.request_timeout, history_atom::value, std::uint64_t{1},
                std::numeric_limits<std::uint64_t>::max(), first_key, j.t.trace)
      .then(
          [self, seq, step, txn](const std::vector<record_data>& records) {
            if (!remote_current(self, seq, step)) return;
            outcome o;
            o.status = outcome_status::ok;
            o.replayed = true;
            for (const auto& r : records)
              if (r.txn_id == txn) {
                o.revision = r.revision;
                o.changes = r.changes.size();
              }
            remote_finish(self, seq, std::move(o));
          },
          [self, seq, step](const caf::error&) {
            if (!remote_current(self, seq, step)) return;
            outcome o;  // committed before; the revision is unknown (compacted)
            o.status = outcome_status::ok;
            o.replayed = true;
            remote_finish(self, seq, std::move(o));
          });
}

/// The logic of the current run is done: send its promotion to the node.
void remote_promote(remote_pointer self, std::uint64_t seq, caf::error failure, nlohmann::json value,
                    const bb::scratchpad& pad) {
  remote_job& j = self->state.jobs.at(seq);
  const remote_setup& s = *self->state.setup;
  if (failure) return remote_fail(self, seq, outcome_status::error, std::move(failure));
  j.value = std::move(value);
  if (wall_now() >= j.deadline)
    return remote_fail(self, seq, outcome_status::deadline_exceeded,
                       remote_deadline_error(j, "before it was promoted"));
  auto p = to_node_promotion(s, j, pad);
  if (!p) return remote_fail(self, seq, outcome_status::error, std::move(p.error()));
  if (auto u = detail::usage_write(j.t, j.value)) p->ops.push_back(std::move(*u));
  bb::promote_options po;
  po.txn_id = j.t.txn_id();
  po.isolation = s.opts.agent.isolation;
  std::string first_key = p->ops.empty() ? std::string() : p->ops.front().key;
  const auto step = ++j.step;
  j.committing = true;
  // Not capped by the deadline: the answer says whether the task committed.
  self->request(s.board, s.opts.request_timeout, promote_atom::value, std::move(*p), po, j.t.trace)
      .then(
          [self, seq, step](const bb::commit_result& c) {
            if (!remote_current(self, seq, step)) return;
            outcome o;
            o.status = outcome_status::ok;
            o.revision = c.revision;
            o.replayed = c.replayed;
            o.changes = c.changes;
            remote_finish(self, seq, std::move(o));
          },
          [self, seq, step, first_key](const caf::error& err) {
            remote_job* job = remote_current(self, seq, step);
            if (!job) return;
            if (err == bb::errc::conflict) {
              job->committing = false;  // nothing was committed
              if (job->runs <= self->state.setup->opts.agent.max_conflict_retries)
                return remote_attempt(self, seq);
              return remote_fail(self, seq, outcome_status::conflict, err);
            }
            // An earlier dispatch of this task (another agent: another
            // author, so other content) committed it. Its commit stands.
            if (err == bb::errc::duplicate_txn && !first_key.empty())
              return remote_replayed(self, seq, first_key);
            remote_request_failed(self, seq, "the promotion", err);
          });
}

caf::error logic_threw(const remote_setup& s, const char* what) {
  return caf::make_error(errc::agent_failed, "agent " + s.spec.id.str() + " logic threw: " + what);
}

/// The current async run of `seq` completed (its completion was called or
/// dropped): promote what it staged.
void remote_settle(remote_pointer self, std::uint64_t seq) {
  remote_job& j = self->state.jobs.at(seq);
  auto core = std::move(j.core);
  bb::scratchpad pad = std::move(*core->pad);
  remote_promote(self, seq, std::move(core->failure), std::move(core->value), pad);
}

/// Runs the logic on a view of the scope at `rev`.
void remote_run_logic(remote_pointer self, std::uint64_t seq, std::uint64_t rev,
                      const std::vector<entry_data>& entries) {
  remote_job& j = self->state.jobs.at(seq);
  const remote_setup& s = *self->state.setup;
  auto view = make_view(rev, entries);
  if (!view) return remote_fail(self, seq, outcome_status::error, std::move(view.error()));
  j.view = std::move(*view);
  if (!s.logic.is_async()) {
    auto pad = j.view->mirror.begin(s.spec.id.str());
    caf::error failure;
    nlohmann::json value;
    try {
      logic_result lr = s.logic.sync_function()(j.t, pad);
      if (lr)
        value = std::move(*lr);
      else
        failure = to_caf_error(lr.error());
    } catch (const std::exception& e) {
      failure = logic_threw(s, e.what());
    } catch (...) {
      failure = logic_threw(s, "an exception not derived from std::exception");
    }
    return remote_promote(self, seq, std::move(failure), std::move(value), pad);
  }
  // Async: the logic returns at once and completes from any thread; the
  // completion tells this actor by message (detail::completion_core), so
  // no thread waits. The view stays alive in the job until then.
  auto core = std::make_shared<detail::completion_core>();
  core->t = std::make_shared<const task>(j.t);
  core->pad.emplace(j.view->mirror.begin(s.spec.id.str()));
  core->agent = self->address();
  core->task_seq = seq;
  core->run = j.runs;
  j.core = core;
  if (detail::call_async_logic(s.logic.async_function(), core, s.spec.id.str()))
    remote_settle(self, seq);  // it completed inside the call
}

/// Reads scope[idx...] at `rev`, then runs the logic.
void remote_read_scope(remote_pointer self, std::uint64_t seq, std::uint64_t rev, std::size_t idx,
                       std::vector<entry_data> entries) {
  remote_job& j = self->state.jobs.at(seq);
  const remote_setup& s = *self->state.setup;
  if (idx == j.scope.size() || rev == 0)  // revision 0: the board is empty
    return remote_run_logic(self, seq, rev, entries);
  const auto step = ++j.step;
  self->request(s.board, remote_timeout(s, j), list_atom::value, j.scope[idx], rev, j.t.trace)
      .then(
          [self, seq, step, rev, idx, entries](std::vector<entry_data>& more) mutable {
            if (!remote_current(self, seq, step)) return;
            entries.insert(entries.end(), std::make_move_iterator(more.begin()),
                           std::make_move_iterator(more.end()));
            remote_read_scope(self, seq, rev, idx + 1, std::move(entries));
          },
          [self, seq, step](const caf::error& err) {
            if (remote_current(self, seq, step))
              remote_request_failed(self, seq, "reading the scope", err);
          });
}

/// One run of the logic: take the revision, read the scope, run, promote.
void remote_attempt(remote_pointer self, std::uint64_t seq) {
  remote_job& j = self->state.jobs.at(seq);
  const remote_setup& s = *self->state.setup;
  if (wall_now() >= j.deadline)
    return remote_fail(self, seq, outcome_status::deadline_exceeded,
                       remote_deadline_error(j, "before it was promoted"));
  ++j.runs;
  const auto step = ++j.step;
  self->request(s.board, remote_timeout(s, j), revision_atom::value, j.t.trace)
      .then(
          [self, seq, step](std::uint64_t rev) {
            if (remote_current(self, seq, step)) remote_read_scope(self, seq, rev, 0, {});
          },
          [self, seq, step](const caf::error& err) {
            if (remote_current(self, seq, step))
              remote_request_failed(self, seq, "reading the revision", err);
          });
}

remote_impl::behavior_type remote_agent_behavior(remote_pointer self,
                                                 std::shared_ptr<const remote_setup> setup) {
  self->state.setup = std::move(setup);
  return {
      [self](run_atom, task& t) -> caf::result<outcome> {
        auto& st = self->state;
        const remote_setup& s = *st.setup;
        // Sync logic runs one task at a time; async up to
        // max_concurrent_tasks. The others wait in the mailbox (skipped
        // messages are retried after the next message is handled).
        const std::size_t limit =
            s.logic.is_async() ? std::max<std::uint32_t>(1, s.opts.agent.max_concurrent_tasks) : 1;
        if (st.jobs.size() >= limit) return caf::skip;
        const auto seq = ++st.next_seq;
        remote_job& j = st.jobs[seq];
        j.promise = self->make_response_promise<outcome>();
        auto promise = j.promise;
        if (s.trace) {
          j.task_span = s.trace->start("agent.task", t.trace, s.spec.id.str());
          j.task_span.set("agora.run", t.run_id);
          j.task_span.set("agora.task", t.task_id);
          j.task_span.set("agora.attempt_group", static_cast<std::int64_t>(t.attempt_group));
          j.task_span.set("agora.remote", std::int64_t{1});
          t.trace = j.task_span.context();
        }
        j.t = std::move(t);
        if (auto v = validate_task(j.t); !v) {
          remote_fail(self, seq, outcome_status::error, to_caf_error(v.error()));
          return promise;
        }
        j.deadline = j.t.deadline == caf::timestamp{}
                         ? wall_now() + std::chrono::duration_cast<caf::timespan>(
                                            s.opts.agent.default_timeout)
                         : j.t.deadline;
        j.scope = s.opts.scope;
        if (j.scope.empty()) j.scope.push_back("runs/" + j.t.run_id);
        // Enforces the deadline while the logic runs (a completion may
        // never come); requests are bounded by their own timeouts.
        detail::send_later_weak(self->address(), std::max(j.deadline - wall_now(), caf::timespan::zero()),
                                caf::make_message(remote_expire_atom::value, seq));
        remote_attempt(self, seq);
        return promise;
      },
      [self](describe_atom) -> agent_spec { return self->state.setup->spec; },
      [self](detail::logic_done_atom, std::uint64_t seq, std::uint32_t run) {
        remote_job* j = remote_current(self, seq);
        // A completion of a run the agent gave up on, or of an earlier run: ignored.
        if (!j || !j->core || j->core->run != run) return;
        remote_settle(self, seq);
      },
      [self](remote_expire_atom, std::uint64_t seq) {
        remote_job* j = remote_current(self, seq);
        if (!j || j->committing) return;
        remote_fail(self, seq, outcome_status::deadline_exceeded,
                    remote_deadline_error(*j, "before it was promoted"));
      },
  };
}

}  // namespace

bb::result<agent_actor> spawn_remote_agent(caf::actor_system& sys, blackboard_actor board,
                                           agent_spec spec, agent_logic logic,
                                           remote_agent_options opts) {
  auto bad = [](std::string why) {
    return bb::error{bb::errc::invalid_argument, "spawn_remote_agent: " + std::move(why)};
  };
  if (!board) return bad("the blackboard actor is invalid");
  if (spec.id.empty()) return bad("the agent id is empty");
  if (logic.empty()) return bad("agent " + spec.id.str() + " has no logic");
  for (const auto& s : opts.scope)
    if (auto v = bb::validate_prefix(s, 512); !v || bb::normalize_prefix(s).empty())
      return bad("scope prefix '" + s + "' is not a key prefix (or selects every key)");
  auto setup = std::make_shared<remote_setup>();
  setup->board = std::move(board);
  setup->spec = std::move(spec);
  setup->logic = std::move(logic);
  setup->opts = std::move(opts);
  if (setup->opts.agent.tracer && setup->opts.agent.tracer->enabled())
    setup->trace = setup->opts.agent.tracer;
  agent_actor handle =
      sys.spawn(remote_agent_behavior, std::shared_ptr<const remote_setup>(std::move(setup)));
  return handle;
}

// --- the dispatcher -------------------------------------------------------------------

namespace {

using dispatch_follow_atom = caf::atom_constant<caf::atom("dsfollow")>;

using dispatcher_impl =
    supervisor_actor::extend<caf::reacts_to<agent_up_atom, agent_entry>,
                             caf::reacts_to<agent_gone_atom, agent_entry, caf::error>,
                             caf::reacts_to<detail::engine_expire_atom, std::uint64_t>,
                             caf::reacts_to<detail::engine_retry_atom, std::uint64_t>,
                             caf::reacts_to<dispatch_follow_atom>>;

struct dispatcher_setup {
  agent_registry_actor registry;
  blackboard_actor board;
  std::string type;
  dispatcher_options opts;
};

struct dispatcher_state {
  agent_registry_actor registry;
  blackboard_actor board;
  std::string type;
  dispatcher_options opts;
  detail::dispatch_engine engine;
  const char* name = "agora_dispatcher";

  // Answers unfinished tasks cancelled: their agents are not ours and may
  // still finish them, so they are not dead-lettered.
  ~dispatcher_state() { engine.stop(); }
};

using dispatcher_pointer = dispatcher_impl::stateful_pointer<dispatcher_state>;

/// An agent the registry announced (or listed when we started following).
void dadd(dispatcher_pointer self, agent_entry e) {
  auto& st = self->state;
  if (!e.handle || st.type.empty() || !of_type(e, st.type)) return;
  if (st.opts.tracer && st.opts.tracer->enabled()) {
    // The registration's trace: the worker's join caused this agent's work.
    span s = st.opts.tracer->start("dispatcher.agent_added", e.trace, e.spec.id.str());
    s.set("agora.worker", e.worker);
    s.set("agora.peer", e.peer);
  }
  auto handle = e.handle;
  auto peer = e.peer;
  self->monitor(handle);
  st.engine.add_agent(std::move(e.spec), std::move(handle), std::move(peer));
}

void dfollow(dispatcher_pointer self) {
  auto& st = self->state;
  self->request(st.registry, st.opts.request_timeout, follow_atom::value, st.type)
      .then(
          [self](std::vector<agent_entry>& agents) {
            for (auto& e : agents) dadd(self, std::move(e));
          },
          [self](const caf::error& err) {
            auto& state = self->state;
            detail::log_fn{state.opts.logger}(lv::err,
                           "dispatcher cannot follow the registry type=" + q(state.type) +
                               " error=" + q(render(err)) + " (retrying)");
            detail::send_later_weak(
                self->address(),
                std::chrono::duration_cast<caf::timespan>(state.opts.request_timeout),
                caf::make_message(dispatch_follow_atom::value));
          });
}

dispatcher_impl::behavior_type dispatcher_behavior(dispatcher_pointer self,
                                                   std::shared_ptr<dispatcher_setup> init) {
  auto& st = self->state;
  st.registry = std::move(init->registry);
  st.board = std::move(init->board);
  st.type = std::move(init->type);
  st.opts = std::move(init->opts);
  detail::engine_options eo;
  eo.source = detail::agent_source::registry;
  eo.owner = "dispatcher";
  eo.type = st.type;
  eo.agents = "type " + st.type;
  eo.max_attempts = st.opts.max_attempts;
  eo.breaker = st.opts.breaker;
  eo.reply_grace = st.opts.reply_grace;
  eo.default_timeout = st.opts.default_timeout;
  eo.clock = st.opts.clock;
  eo.dlq_prefix = st.opts.dlq_prefix;
  eo.dlq_author = st.opts.dlq_author;
  eo.trace = st.opts.tracer;
  eo.log = detail::log_fn{st.opts.logger};
  st.engine.configure(
      std::move(eo), self->address(), detail::send_through(self),
      [self](bb::promotion p, const trace_context& ctx, detail::dispatch_engine::dlq_done_fn done) {
        bb::promote_options po;
        po.isolation = bb::isolation::blind;
        auto& state = self->state;
        self->request(state.board, state.opts.request_timeout, promote_atom::value, std::move(p),
                      po, ctx)
            .then([done](const bb::commit_result& c) { done(c.revision, {}); },
                  [done](const caf::error& err) { done(0, render(err)); });
      });
  self->set_down_handler(
      [self](caf::down_msg& dm) { self->state.engine.agent_down(dm.source, dm.reason); });
  dfollow(self);
  return {
      [self](dispatch_atom, task& t) -> caf::result<outcome> {
        return self->state.engine.accept(std::move(t), self->make_response_promise<outcome>());
      },
      [self](health_atom) -> supervisor_health { return self->state.engine.health(); },
      [self](agent_up_atom, agent_entry& e) { dadd(self, std::move(e)); },
      [self](agent_gone_atom, const agent_entry& e, const caf::error& reason) {
        self->state.engine.agent_down(e.handle.address(), reason);
      },
      [self](detail::engine_expire_atom, std::uint64_t job) { self->state.engine.expire(job); },
      [self](detail::engine_retry_atom, std::uint64_t job) { self->state.engine.retry_due(job); },
      [self](dispatch_follow_atom) { dfollow(self); },
  };
}

}  // namespace

bb::result<supervisor_actor> spawn_dispatcher(caf::actor_system& sys, agent_registry_actor registry,
                                              blackboard_actor board, std::string type,
                                              dispatcher_options opts) {
  auto bad = [](std::string why) {
    return bb::error{bb::errc::invalid_argument, "spawn_dispatcher: " + std::move(why)};
  };
  if (!registry) return bad("the registry is invalid");
  if (!board) return bad("the blackboard actor is invalid");
  if (type.empty()) return bad("the agent type is empty");
  if (opts.max_attempts == 0) return bad("max_attempts is 0");
  if (!opts.clock) opts.clock = steady_clock_fn();
  opts.logger = detail::logger_or_default(opts.logger);
  if (opts.dlq_author.empty()) {
    std::string who = type;  // an agent id as the type: its '/' would nest the author's id
    std::replace(who.begin(), who.end(), '/', '.');
    opts.dlq_author = "dispatcher/" + who;
  }
  auto init = std::make_shared<dispatcher_setup>();
  init->registry = std::move(registry);
  init->board = std::move(board);
  init->type = std::move(type);
  init->opts = std::move(opts);
  supervisor_actor handle = sys.spawn(dispatcher_behavior, std::move(init));
  return handle;
}

}  // namespace agora::actors
