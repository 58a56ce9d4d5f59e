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

// --- logging --------------------------------------------------------------------------

const char* to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "unknown";
}

log_sink stderr_log_sink(log_level min) {
  return [min](log_level l, const std::string& line) {
    if (l < min) return;
    // One fprintf per line: lines from several threads do not interleave.
    std::fprintf(stderr, "agora.node %s %s\n", to_string(l), line.c_str());
  };
}

namespace {

/// Quotes a value for a key=value line when it needs it.
std::string q(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \"=") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

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
  log_sink log;
  std::map<std::string, agent_entry> agents;   // by id
  std::map<caf::actor_addr, std::string> ids;  // agent address -> id
  std::vector<follower> followers;
  std::set<caf::node_id> lost_nodes;  // reported once each
  const char* name = "agora_registry";
};

using registry_pointer = agent_registry_actor::stateful_pointer<registry_state>;

bool of_type(const agent_entry& e, const std::string& type) {
  return type.empty() || e.spec.id.type() == type;
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
    st.log(log_level::warn, "join refused node=" + q(st.node_name) + " worker=" + q(req.worker) +
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
  std::uint32_t registered = 0;
  for (auto& a : req.agents) {
    const std::string id = a.spec.id.str();
    if (st.agents.count(id) != 0) continue;  // the same handle again
    a.worker = req.worker;
    a.peer = peer;
    self->monitor(a.handle);
    st.ids[a.handle.address()] = id;
    auto& stored = st.agents[id] = std::move(a);
    ++registered;
    st.log(log_level::debug,
           "agent registered id=" + q(id) + " worker=" + q(req.worker) + " peer=" + peer);
    tell_followers(st, stored, agent_up_atom::value, stored);
  }
  st.log(log_level::info, "join accepted node=" + q(st.node_name) + " worker=" + q(req.worker) +
                              " peer=" + peer + " registered=" + std::to_string(registered));
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
    st.log(log_level::warn, "worker lost node=" + q(st.node_name) + " worker=" + q(gone.worker) +
                                " peer=" + gone.peer + " agents=" + std::to_string(lost) +
                                " reason=connection_lost");
  }
  st.log(log_level::info, "agent gone id=" + q(gone.spec.id.str()) + " worker=" + q(gone.worker) +
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
  if (!opts.log) opts.log = stderr_log_sink();
  auto refuse = [&](const std::string& why) {
    opts.log(log_level::error, "node start refused node=" + q(opts.name) + " reason=" + q(why));
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
    opts.log(log_level::warn, "node listens without TLS beyond loopback node=" + q(opts.name) +
                                  " host=" + q(opts.host) + " (allow_plaintext_remote is set)");
  }
  const failure_detection fd = failure_detection_of(sys);
  if (fd.heartbeat_interval.count() == 0 || fd.connection_timeout.count() == 0)
    opts.log(log_level::warn,
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
  init->log = opts.log;
  agent_registry_actor registry = sys.spawn(registry_behavior, std::move(init));

  const char* host = opts.host.empty() ? nullptr : opts.host.c_str();
  auto port = tls ? caf::openssl::publish(registry, opts.port, host, opts.reuse_address)
                  : sys.middleman().publish(registry, opts.port, host, opts.reuse_address);
  if (!port) {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    opts.log(log_level::error, "node start failed node=" + q(opts.name) + " host=" + q(opts.host) +
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
  n->opts_.log(log_level::info,
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
  opts_.log(log_level::info,
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
  join_request req;
  req.token = opts.join_token;
  req.worker = opts.worker;
  req.heartbeat_ms = static_cast<std::uint64_t>(mine.heartbeat_interval.count());
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
  auto reply = join(sys, conn.registry, std::move(req), timeout);
  if (!reply) return std::move(reply.error());
  return caf::none;
}

// --- remote agents --------------------------------------------------------------------

namespace {

struct remote_setup {
  blackboard_actor board;
  agent_spec spec;
  agent_logic logic;
  remote_agent_options opts;
};

/// The task being worked on.
struct remote_job {
  task t;
  caf::typed_response_promise<outcome> promise;
  caf::timestamp deadline{};
  std::uint32_t runs = 0;
  std::vector<std::string> scope;
  nlohmann::json value;  // what the logic reported
};

struct remote_agent_state {
  std::shared_ptr<const remote_setup> setup;
  std::deque<remote_job> queue;  // queue.front() is in progress when busy
  bool busy = false;
  std::uint64_t step = 0;  // tells the current step's replies from stale ones
  const char* name = "agora_remote_agent";

  ~remote_agent_state() {
    for (auto& j : queue) {
      if (!j.promise.pending()) continue;
      outcome o;
      o.status = outcome_status::cancelled;
      o.txn_id = j.t.txn_id();
      o.attempts = j.runs;
      o.dispatches = 1;
      o.agent = setup ? setup->spec.id.str() : std::string();
      o.error = caf::make_error(errc::cancelled,
                                "agent " + o.agent + " stopped before the task finished");
      j.promise.deliver(std::move(o));
    }
  }
};

using remote_pointer = agent_actor::stateful_pointer<remote_agent_state>;

void remote_next(remote_pointer self);
void remote_attempt(remote_pointer self);

void remote_finish(remote_pointer self, outcome o) {
  auto& st = self->state;
  if (st.queue.empty()) return;
  remote_job& j = st.queue.front();
  o.txn_id = j.t.txn_id();
  o.attempts = j.runs;
  o.dispatches = 1;
  o.agent = st.setup->spec.id.str();
  if (o.ok() && o.result.is_null()) o.result = std::move(j.value);
  j.promise.deliver(std::move(o));
  st.queue.pop_front();
  st.busy = false;
  ++st.step;
  remote_next(self);
}

void remote_fail(remote_pointer self, outcome_status status, caf::error err) {
  outcome o;
  o.status = status;
  o.error = std::move(err);
  remote_finish(self, std::move(o));
}

/// Timeout for the next request: the request timeout, capped by the deadline.
std::chrono::milliseconds remote_timeout(const remote_setup& s, const remote_job& j) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(j.deadline - wall_now());
  return std::max(std::chrono::milliseconds(1), std::min(left, s.opts.request_timeout));
}

/// A request to the board failed: past the deadline that is the deadline's
/// fault, else the request's.
void remote_request_failed(remote_pointer self, const char* what, const caf::error& err) {
  auto& j = self->state.queue.front();
  if (wall_now() >= j.deadline)
    return remote_fail(
        self, outcome_status::deadline_exceeded,
        caf::make_error(errc::deadline_exceeded,
                        "task " + j.t.txn_id() + " passed its deadline during " + what));
  if (is_blackboard_error(err)) return remote_fail(self, outcome_status::error, err);
  remote_fail(self, outcome_status::error,
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

/// Runs the logic on a view of the scope at `rev` and sends the promotion.
void remote_run_logic(remote_pointer self, std::uint64_t rev, std::vector<entry_data> entries) {
  auto& st = self->state;
  const remote_setup& s = *st.setup;
  remote_job& j = st.queue.front();
  bb::blackboard_options mo;
  // The mirror holds whatever the node holds; the node checks its own
  // limits on the promotion.
  mo.limits.max_ops_per_txn = std::numeric_limits<std::size_t>::max();
  mo.limits.max_value_bytes = std::numeric_limits<std::size_t>::max();
  mo.limits.max_depth = std::numeric_limits<std::size_t>::max();
  mo.limits.max_key_bytes = std::numeric_limits<std::size_t>::max();
  bb::blackboard mirror(mo);
  std::map<std::string, std::uint64_t> node_revision;  // key -> mod_revision on the node
  if (!entries.empty()) {
    auto load = mirror.begin("agora/mirror");
    for (const auto& e : entries) {
      auto v = parse_value(e);
      if (!v) return remote_fail(self, outcome_status::error, std::move(v.error()));
      if (auto put = load.put(e.key, std::move(*v)); !put)
        return remote_fail(self, outcome_status::error, to_caf_error(put.error()));
      node_revision[e.key] = e.mod_revision;
    }
    bb::promote_options blind;
    blind.isolation = bb::isolation::blind;
    if (auto c = mirror.promote(std::move(load), blind); !c)
      return remote_fail(self, outcome_status::error, to_caf_error(c.error()));
  }
  const std::uint64_t mirror_rev = mirror.revision();
  auto pad = mirror.begin(s.spec.id.str());
  caf::error failure;
  try {
    logic_result lr = s.logic.sync_function()(j.t, pad);
    if (lr)
      j.value = std::move(*lr);
    else
      failure = to_caf_error(lr.error());
  } catch (const std::exception& e) {
    failure = caf::make_error(errc::agent_failed,
                              "agent " + s.spec.id.str() + " logic threw: " + e.what());
  } catch (...) {
    failure = caf::make_error(
        errc::agent_failed,
        "agent " + s.spec.id.str() + " logic threw an exception not derived from std::exception");
  }
  if (failure) return remote_fail(self, outcome_status::error, std::move(failure));
  if (wall_now() >= j.deadline)
    return remote_fail(
        self, outcome_status::deadline_exceeded,
        caf::make_error(errc::deadline_exceeded,
                        "task " + j.t.txn_id() + " passed its deadline before it was promoted"));
  // Reads are renumbered from the mirror's revisions to the node's: the
  // node then checks them exactly as it checks a local agent's.
  bb::promotion p = pad.to_promotion();
  p.base_revision = rev;
  auto outside = [&](const std::string& key, const char* what) {
    return remote_fail(
        self, outcome_status::error,
        caf::make_error(errc::bad_message, "agent " + s.spec.id.str() + " " + what + " '" + key +
                                               "' outside its scope " + scope_text(j.scope)));
  };
  for (auto& r : p.reads) {
    if (!in_scope(j.scope, r.key)) return outside(r.key, "read key");
    auto it = node_revision.find(r.key);
    r.mod_revision = (r.mod_revision == 0 || it == node_revision.end()) ? 0 : it->second;
  }
  for (const auto& range : p.ranges)
    if (!in_scope(j.scope, range)) return outside(range, "listed prefix");
  for (auto& e : p.expects) {
    auto it = node_revision.find(e.key);
    if (e.mod_revision == mirror_rev && it != node_revision.end()) e.mod_revision = it->second;
  }
  bb::promote_options po;
  po.txn_id = j.t.txn_id();
  po.isolation = s.opts.agent.isolation;
  std::string first_key = p.ops.empty() ? std::string() : p.ops.front().key;
  const auto step = ++st.step;
  self->request(s.board, remote_timeout(s, j), promote_atom::value, std::move(p), po)
      .then(
          [self, step](const bb::commit_result& c) {
            if (self->state.step != step) return;
            outcome o;
            o.status = outcome_status::ok;
            o.revision = c.revision;
            o.replayed = c.replayed;
            o.changes = c.changes;
            remote_finish(self, std::move(o));
          },
          [self, step, first_key](const caf::error& err) {
            auto& state = self->state;
            if (state.step != step) return;
            const remote_setup& setup = *state.setup;
            remote_job& job = state.queue.front();
            if (err == bb::errc::conflict) {
              if (job.runs <= setup.opts.agent.max_conflict_retries) return remote_attempt(self);
              return remote_fail(self, outcome_status::conflict, err);
            }
            if (err == bb::errc::duplicate_txn && !first_key.empty()) {
              // An earlier dispatch of this task (another agent: another
              // author, so other content) committed it. Its commit stands;
              // find its revision for the outcome.
              const auto txn = job.t.txn_id();
              const auto step2 = ++state.step;
              self->request(setup.board, remote_timeout(setup, job), history_atom::value,
                            std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max(), first_key)
                  .then(
                      [self, step2, txn](const std::vector<record_data>& records) {
                        if (self->state.step != step2) return;
                        outcome o;
                        o.status = outcome_status::ok;
                        o.replayed = true;
                        for (const auto& r : records)
                          if (r.txn_id == txn) {
                            o.revision = r.revision;
                            o.changes = r.changes.size();
                          }
                        remote_finish(self, std::move(o));
                      },
                      [self, step2](const caf::error&) {
                        if (self->state.step != step2) return;
                        outcome o;  // committed before; the revision is unknown (compacted)
                        o.status = outcome_status::ok;
                        o.replayed = true;
                        remote_finish(self, std::move(o));
                      });
              return;
            }
            remote_request_failed(self, "the promotion", err);
          });
}

/// Reads scope[idx...] at `rev`, then runs the logic.
void remote_read_scope(remote_pointer self, std::uint64_t rev, std::size_t idx,
                       std::vector<entry_data> entries) {
  auto& st = self->state;
  remote_job& j = st.queue.front();
  if (idx == j.scope.size() || rev == 0)  // revision 0: the board is empty
    return remote_run_logic(self, rev, std::move(entries));
  const auto step = ++st.step;
  self->request(st.setup->board, remote_timeout(*st.setup, j), list_atom::value, j.scope[idx], rev)
      .then(
          [self, step, rev, idx, entries](std::vector<entry_data>& more) mutable {
            if (self->state.step != step) return;
            entries.insert(entries.end(), std::make_move_iterator(more.begin()),
                           std::make_move_iterator(more.end()));
            remote_read_scope(self, rev, idx + 1, std::move(entries));
          },
          [self, step](const caf::error& err) {
            if (self->state.step != step) return;
            remote_request_failed(self, "reading the scope", err);
          });
}

/// One run of the logic: take the revision, read the scope, run, promote.
void remote_attempt(remote_pointer self) {
  auto& st = self->state;
  remote_job& j = st.queue.front();
  if (wall_now() >= j.deadline)
    return remote_fail(
        self, outcome_status::deadline_exceeded,
        caf::make_error(errc::deadline_exceeded,
                        "task " + j.t.txn_id() + " passed its deadline before it was promoted"));
  ++j.runs;
  const auto step = ++st.step;
  self->request(st.setup->board, remote_timeout(*st.setup, j), revision_atom::value)
      .then(
          [self, step](std::uint64_t rev) {
            if (self->state.step != step) return;
            remote_read_scope(self, rev, 0, {});
          },
          [self, step](const caf::error& err) {
            if (self->state.step != step) return;
            remote_request_failed(self, "reading the revision", err);
          });
}

void remote_next(remote_pointer self) {
  auto& st = self->state;
  if (st.busy || st.queue.empty()) return;
  st.busy = true;
  remote_job& j = st.queue.front();
  if (auto v = validate_task(j.t); !v)
    return remote_fail(self, outcome_status::error, to_caf_error(v.error()));
  j.deadline = j.t.deadline == caf::timestamp{}
                   ? wall_now() + std::chrono::duration_cast<caf::timespan>(
                                      st.setup->opts.agent.default_timeout)
                   : j.t.deadline;
  j.scope = st.setup->opts.scope;
  if (j.scope.empty()) j.scope.push_back("runs/" + j.t.run_id);
  remote_attempt(self);
}

agent_actor::behavior_type remote_agent_behavior(remote_pointer self,
                                                 std::shared_ptr<const remote_setup> setup) {
  self->state.setup = std::move(setup);
  return {
      [self](run_atom, task& t) -> caf::result<outcome> {
        remote_job j;
        j.t = std::move(t);
        j.promise = self->make_response_promise<outcome>();
        auto promise = j.promise;
        self->state.queue.push_back(std::move(j));
        remote_next(self);
        return promise;
      },
      [self](describe_atom) -> agent_spec { return self->state.setup->spec; },
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
  if (logic.is_async()) return bad("agent " + spec.id.str() + ": async logic is not supported yet");
  for (const auto& s : opts.scope)
    if (auto v = bb::validate_prefix(s, 512); !v || bb::normalize_prefix(s).empty())
      return bad("scope prefix '" + s + "' is not a key prefix (or selects every key)");
  auto setup = std::make_shared<remote_setup>();
  setup->board = std::move(board);
  setup->spec = std::move(spec);
  setup->logic = std::move(logic);
  setup->opts = std::move(opts);
  agent_actor handle =
      sys.spawn(remote_agent_behavior, std::shared_ptr<const remote_setup>(std::move(setup)));
  return handle;
}

// --- the dispatcher -------------------------------------------------------------------

namespace {

using dispatch_expire_atom = caf::atom_constant<caf::atom("dsexpire")>;
using dispatch_follow_atom = caf::atom_constant<caf::atom("dsfollow")>;

using dispatcher_impl =
    supervisor_actor::extend<caf::reacts_to<agent_up_atom, agent_entry>,
                             caf::reacts_to<agent_gone_atom, agent_entry, caf::error>,
                             caf::reacts_to<dispatch_expire_atom, std::uint64_t>,
                             caf::reacts_to<dispatch_follow_atom>>;

/// One agent of the type, as the dispatcher sees it.
struct dslot {
  agent_entry entry;
  caf::actor_addr addr;
  circuit_breaker breaker;
  std::uint64_t job = 0;       // the task in flight, 0 = none
  std::uint64_t dispatch = 0;  // its dispatch id
  std::uint64_t tasks_done = 0;
};

struct djob {
  task t;
  caf::typed_response_promise<outcome> promise;
  std::uint32_t dispatches = 0;
  std::uint32_t attempts = 0;
  std::string agent;           // where it runs; "" while waiting
  std::uint64_t dispatch = 0;  // the current dispatch's id
  std::string last_agent;
};

struct dispatcher_state {
  agent_registry_actor registry;
  blackboard_actor board;
  std::string type;
  dispatcher_options opts;
  std::map<std::string, dslot> slots;  // by agent id
  std::unordered_map<std::uint64_t, djob> jobs;
  std::deque<std::uint64_t> waiting;
  std::uint64_t next_job = 0;
  std::uint64_t next_dispatch = 0;
  std::string last_pick;  // round robin: start after this id
  std::uint64_t succeeded = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t dlq_failures = 0;
  bool following = false;
  const char* name = "agora_dispatcher";

  ~dispatcher_state() {
    for (auto& [seq, j] : jobs) {
      if (!j.promise.pending()) continue;
      outcome o;
      o.status = outcome_status::cancelled;
      o.txn_id = j.t.txn_id();
      o.attempts = j.attempts;
      o.dispatches = j.dispatches;
      o.agent = j.last_agent;
      o.error = caf::make_error(errc::cancelled,
                                "the dispatcher of " + type + " stopped before the task finished");
      j.promise.deliver(std::move(o));
    }
  }
};

using dispatcher_pointer = dispatcher_impl::stateful_pointer<dispatcher_state>;

outcome make_failure(outcome_status status, caf::error err) {
  outcome o;
  o.status = status;
  o.error = std::move(err);
  return o;
}

void dpump(dispatcher_pointer self);

/// Writes the DLQ entry through the board, then answers the requester.
void dgive_up(dispatcher_pointer self, std::uint64_t seq, outcome o) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end()) return;
  djob j = std::move(it->second);
  st.jobs.erase(it);
  o.txn_id = j.t.txn_id();
  o.attempts = j.attempts;
  o.dispatches = j.dispatches;
  if (o.agent.empty()) o.agent = j.last_agent;
  o.revision = 0;
  o.replayed = false;
  o.changes = 0;
  ++st.dead_letters;
  const std::string key = dlq_key(j.t, st.opts.dlq_prefix);
  st.opts.log(log_level::warn,
              "task dead-lettered type=" + q(st.type) + " txn=" + q(o.txn_id) + " key=" + q(key) +
                  " dispatches=" + std::to_string(o.dispatches) + " error=" + q(render(o.error)));
  // A task's input can hold strings that are not UTF-8, which the wire
  // refuses: a lossy round trip keeps the record rather than lose it.
  auto text = dlq_record(j.t, o).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  bb::promotion p;
  p.author = st.opts.dlq_author;
  p.ops.push_back(
      bb::staged_op{bb::op_kind::put, key, nlohmann::json::parse(text, nullptr, false)});
  bb::promote_options po;
  po.isolation = bb::isolation::blind;
  auto promise = j.promise;
  self->request(st.board, st.opts.request_timeout, promote_atom::value, std::move(p), po)
      .then(
          [promise, o, key](const bb::commit_result& c) mutable {
            o.result = {{"dlq", key}, {"dlq_revision", c.revision}};
            if (promise.pending()) promise.deliver(std::move(o));
          },
          [self, promise, o, key](const caf::error& err) mutable {
            ++self->state.dlq_failures;
            self->state.opts.log(log_level::error, "dead letter not written key=" + q(key) +
                                                       " error=" + q(render(err)));
            o.result = {{"dlq", key}, {"dlq_error", render(err)}};
            if (promise.pending()) promise.deliver(std::move(o));
          });
}

bool retryable(const outcome& o) {
  switch (o.status) {
    case outcome_status::ok:
    case outcome_status::deadline_exceeded:
      return false;
    case outcome_status::conflict:
    case outcome_status::cancelled:
      return true;
    case outcome_status::error:
      break;
  }
  return o.error == errc::agent_failed || o.error == errc::timeout ||
         o.error == bb::errc::compacted || o.error == bb::errc::conflict;
}

void dretry_or_give_up(dispatcher_pointer self, std::uint64_t seq, outcome last) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end()) return;
  djob& j = it->second;
  j.agent.clear();
  j.dispatch = 0;
  if (retryable(last) && j.dispatches < st.opts.max_attempts && wall_now() < j.t.deadline) {
    st.waiting.push_front(seq);  // it has waited its turn already
    return;
  }
  dgive_up(self, seq, std::move(last));
}

/// Frees the agent running `j`'s current dispatch.
void dend_dispatch(dispatcher_state& st, djob& j) {
  auto it = st.slots.find(j.agent);
  if (it == st.slots.end() || it->second.dispatch != j.dispatch) return;
  it->second.job = 0;
  it->second.dispatch = 0;
  ++it->second.tasks_done;
}

void don_reply(dispatcher_pointer self, std::uint64_t seq, std::uint64_t dispatch, outcome o) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end() || it->second.dispatch != dispatch) return;  // stale
  djob& j = it->second;
  j.attempts += o.attempts;
  j.last_agent = j.agent;
  if (o.error == bb::errc::duplicate_txn) {
    // The task's txn_id was committed before, by an earlier dispatch on
    // another agent (another author, so the blackboard sees other
    // content): that commit stands and the task is done.
    o.status = outcome_status::ok;
    o.replayed = true;
    o.error = caf::error{};
  }
  auto slot = st.slots.find(j.agent);
  if (slot != st.slots.end()) {
    if (o.status == outcome_status::error || o.status == outcome_status::deadline_exceeded)
      slot->second.breaker.record_failure();
    else if (o.status != outcome_status::cancelled)
      slot->second.breaker.record_success();
  }
  dend_dispatch(st, j);
  if (o.ok()) {
    o.attempts = j.attempts;
    o.dispatches = j.dispatches;
    ++st.succeeded;
    j.promise.deliver(std::move(o));
    st.jobs.erase(it);
  } else {
    dretry_or_give_up(self, seq, std::move(o));
  }
  dpump(self);
}

void don_request_error(dispatcher_pointer self, std::uint64_t seq, std::uint64_t dispatch,
                       const caf::error& err) {
  auto& st = self->state;
  auto it = st.jobs.find(seq);
  if (it == st.jobs.end() || it->second.dispatch != dispatch) return;  // stale
  djob& j = it->second;
  j.attempts += 1;
  j.last_agent = j.agent;
  auto slot = st.slots.find(j.agent);
  if (slot != st.slots.end()) slot->second.breaker.record_failure();
  dend_dispatch(st, j);
  outcome last =
      err == caf::sec::request_timeout
          ? make_failure(
                outcome_status::deadline_exceeded,
                caf::make_error(errc::timeout,
                                "agent " + j.last_agent + " did not answer by the task's deadline"))
          : make_failure(
                outcome_status::error,
                caf::make_error(errc::agent_failed, "agent " + j.last_agent +
                                                        " did not take the task: " + render(err)));
  dretry_or_give_up(self, seq, std::move(last));
  dpump(self);
}

void ddispatch_to(dispatcher_pointer self, std::uint64_t seq, dslot& s) {
  auto& st = self->state;
  djob& j = st.jobs.at(seq);
  const auto id = ++st.next_dispatch;
  ++j.dispatches;
  j.agent = s.entry.spec.id.str();
  j.dispatch = id;
  s.job = seq;
  s.dispatch = id;
  auto remaining = std::max(j.t.deadline - wall_now(), caf::timespan::zero()) +
                   std::chrono::duration_cast<caf::timespan>(st.opts.reply_grace);
  st.opts.log(log_level::debug, "dispatch type=" + q(st.type) + " txn=" + q(j.t.txn_id()) +
                                    " agent=" + q(j.agent) +
                                    " dispatch=" + std::to_string(j.dispatches));
  self->request(s.entry.handle, remaining, run_atom::value, j.t)
      .then([self, seq, id](outcome& o) { don_reply(self, seq, id, std::move(o)); },
            [self, seq, id](caf::error& e) { don_request_error(self, seq, id, e); });
}

/// An idle agent whose breaker lets a task through: closed ones first, in
/// round robin, then a half-open probe. Null if none.
dslot* dpick(dispatcher_state& st) {
  if (st.slots.empty()) return nullptr;
  for (int pass = 0; pass < 2; ++pass) {
    auto start = st.slots.upper_bound(st.last_pick);
    for (std::size_t k = 0; k < st.slots.size(); ++k) {
      if (start == st.slots.end()) start = st.slots.begin();
      dslot& s = start->second;
      ++start;
      if (s.job != 0) continue;
      if (pass == 0 && s.breaker.state() != breaker_state::closed) continue;
      if (!s.breaker.allow()) continue;
      st.last_pick = s.entry.spec.id.str();
      return &s;
    }
  }
  return nullptr;
}

void dpump(dispatcher_pointer self) {
  auto& st = self->state;
  while (!st.waiting.empty()) {
    const std::uint64_t seq = st.waiting.front();
    auto it = st.jobs.find(seq);
    if (it == st.jobs.end() || !it->second.agent.empty()) {
      st.waiting.pop_front();
      continue;
    }
    djob& j = it->second;
    if (wall_now() >= j.t.deadline) {
      st.waiting.pop_front();
      auto err =
          st.slots.empty()
              ? caf::make_error(errc::no_agent, "no agent of type " + st.type +
                                                    " was available before the task's deadline")
              : caf::make_error(
                    errc::deadline_exceeded,
                    "task " + j.t.txn_id() + " passed its deadline waiting for an agent");
      dgive_up(
          self, seq,
          make_failure(st.slots.empty() ? outcome_status::error : outcome_status::deadline_exceeded,
                       std::move(err)));
      continue;
    }
    if (dslot* s = dpick(st)) {
      st.waiting.pop_front();
      ddispatch_to(self, seq, *s);
      continue;
    }
    // Nobody can take it now. Busy agents will come free and new agents
    // may register: wait (the deadline timer ends the wait). Only when every
    // agent is idle behind an open breaker is the answer known now.
    bool any_busy = st.slots.empty();
    for (auto& [id, s] : st.slots)
      if (s.job != 0) any_busy = true;
    if (any_busy) return;
    st.waiting.pop_front();
    dgive_up(
        self, seq,
        make_failure(outcome_status::error,
                     caf::make_error(errc::circuit_open, "every agent of type " + st.type +
                                                             " has its circuit breaker open")));
  }
}

void dremove(dispatcher_pointer self, const caf::actor_addr& addr, const caf::error& reason);

void dadd(dispatcher_pointer self, agent_entry e) {
  auto& st = self->state;
  if (!e.handle || std::string(e.spec.id.type()) != st.type) return;
  const std::string id = e.spec.id.str();
  auto it = st.slots.find(id);
  if (it != st.slots.end()) {
    if (it->second.addr == e.handle.address()) return;
    // The id now names another actor: the old one is gone, with its task.
    dremove(self, it->second.addr,
            caf::make_error(errc::agent_failed, "agent " + id + " was registered again"));
  }
  dslot s;
  s.addr = e.handle.address();
  s.entry = std::move(e);
  s.breaker = circuit_breaker(st.opts.breaker, st.opts.clock);
  self->monitor(s.entry.handle);
  st.slots[id] = std::move(s);
  dpump(self);
}

/// The agent is gone: its task in flight goes back to the queue.
void dremove(dispatcher_pointer self, const caf::actor_addr& addr, const caf::error& reason) {
  auto& st = self->state;
  auto it = std::find_if(st.slots.begin(), st.slots.end(),
                         [&](const auto& kv) { return kv.second.addr == addr; });
  if (it == st.slots.end()) return;
  dslot s = std::move(it->second);
  st.slots.erase(it);
  const std::string id = s.entry.spec.id.str();
  if (s.job == 0) return;
  auto j = st.jobs.find(s.job);
  if (j == st.jobs.end() || j->second.dispatch != s.dispatch) return;
  st.opts.log(log_level::warn, "agent lost with a task type=" + q(st.type) + " agent=" + q(id) +
                                   " peer=" + s.entry.peer + " txn=" + q(j->second.t.txn_id()) +
                                   " reason=" + q(render(reason)));
  j->second.attempts += 1;
  j->second.last_agent = id;
  dretry_or_give_up(self, s.job,
                    make_failure(outcome_status::error,
                                 caf::make_error(errc::agent_failed,
                                                 "agent " + id + " was lost: " + render(reason))));
  dpump(self);
}

void dfollow(dispatcher_pointer self) {
  auto& st = self->state;
  self->request(st.registry, st.opts.request_timeout, follow_atom::value, st.type)
      .then(
          [self](std::vector<agent_entry>& agents) {
            self->state.following = true;
            for (auto& e : agents) dadd(self, std::move(e));
          },
          [self](const caf::error& err) {
            auto& state = self->state;
            state.opts.log(log_level::error,
                           "dispatcher cannot follow the registry type=" + q(state.type) +
                               " error=" + q(render(err)) + " (retrying)");
            detail::send_later_weak(
                self->system(), self->address(),
                std::chrono::duration_cast<caf::timespan>(state.opts.request_timeout),
                caf::make_message(dispatch_follow_atom::value));
          });
}

dispatcher_impl::behavior_type dispatcher_behavior(dispatcher_pointer self,
                                                   std::shared_ptr<dispatcher_state> init) {
  auto& st = self->state;
  st.registry = std::move(init->registry);
  st.board = std::move(init->board);
  st.type = std::move(init->type);
  st.opts = std::move(init->opts);
  self->set_down_handler([self](caf::down_msg& dm) { dremove(self, dm.source, dm.reason); });
  dfollow(self);
  return {
      [self](dispatch_atom, task& t) -> caf::result<outcome> {
        auto& state = self->state;
        if (auto v = validate_task(t); !v) {
          outcome o = make_failure(outcome_status::error, to_caf_error(v.error()));
          o.txn_id = t.txn_id();
          return o;
        }
        // One deadline for every dispatch: retries do not extend it.
        if (t.deadline == caf::timestamp{})
          t.deadline =
              wall_now() + std::chrono::duration_cast<caf::timespan>(state.opts.default_timeout);
        const auto seq = ++state.next_job;
        djob j;
        j.promise = self->make_response_promise<outcome>();
        j.t = std::move(t);
        const auto remaining = j.t.deadline - wall_now();
        if (remaining > caf::timespan::zero())
          detail::send_later_weak(self->system(), self->address(), remaining,
                                  caf::make_message(dispatch_expire_atom::value, seq));
        auto promise = j.promise;
        state.jobs.emplace(seq, std::move(j));
        state.waiting.push_back(seq);
        dpump(self);
        return promise;
      },
      [self](health_atom) -> supervisor_health {
        auto& state = self->state;
        supervisor_health h;
        for (auto& [id, s] : state.slots) {
          agent_health a;
          a.id = id;
          a.state = s.job != 0 ? agent_state::busy : agent_state::idle;
          a.breaker = s.breaker.state();
          a.consecutive_failures = s.breaker.consecutive_failures();
          a.tasks_done = s.tasks_done;
          h.agents.push_back(std::move(a));
        }
        h.waiting = state.waiting.size();
        h.running = state.jobs.size() - state.waiting.size();
        h.succeeded = state.succeeded;
        h.dead_letters = state.dead_letters;
        h.dlq_failures = state.dlq_failures;
        return h;
      },
      [self](agent_up_atom, agent_entry& e) { dadd(self, std::move(e)); },
      [self](agent_gone_atom, const agent_entry& e, const caf::error& reason) {
        dremove(self, e.handle.address(), reason);
      },
      [self](dispatch_expire_atom, std::uint64_t seq) {
        // Only a task still waiting is settled here; one in flight is
        // settled by the agent's reply or the request timeout.
        auto& state = self->state;
        auto it = state.jobs.find(seq);
        if (it == state.jobs.end() || !it->second.agent.empty()) return;
        dpump(self);
      },
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
  if (!opts.log) opts.log = stderr_log_sink();
  if (opts.dlq_author.empty()) opts.dlq_author = "dispatcher/" + type;
  auto init = std::make_shared<dispatcher_state>();
  init->registry = std::move(registry);
  init->board = std::move(board);
  init->type = std::move(type);
  init->opts = std::move(opts);
  supervisor_actor handle = sys.spawn(dispatcher_behavior, std::move(init));
  return handle;
}

}  // namespace agora::actors
