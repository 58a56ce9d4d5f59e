#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "agora/actors/blackboard_actor.hpp"
#include "agora/actors/errors.hpp"
#include "agora/actors/messages.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "test_support.hpp"

namespace bb = agora::bb;
namespace act = agora::actors;
using bb::json;
using act::blackboard_actor;
using act::trace_context;
using std::uint64_t;

namespace {

/// The context of a request that is not traced: the traced form of every
/// message, with nothing in it.
const trace_context no_trace{};

// Generous: a reply that does not come within this is a failure, not a
// slow machine. Nothing in these tests waits for it unless something broke.
constexpr std::chrono::seconds wait_limit{10};

act::runtime_options test_runtime() {
  act::runtime_options o;
  o.worker_threads = 2;
  o.request_timeout = wait_limit;
  return o;
}

/// A runtime, a blackboard shared with its actor, and a scoped actor to
/// talk to it. The actor is told to quit at the end, so the runtime's
/// destructor (which waits for every actor) returns.
struct fixture {
  explicit fixture(bb::blackboard_options o = {})
      : rt(test_runtime()), board(std::make_shared<bb::blackboard>(o)),
        actor(act::spawn_blackboard(rt.system(), board)), self(rt.system()) {}
  ~fixture() { caf::anon_send_exit(actor, caf::exit_reason::user_shutdown); }

  act::runtime rt;
  std::shared_ptr<bb::blackboard> board;
  blackboard_actor actor;
  caf::scoped_actor self;
};

/// Sends a request and requires a reply of type T.
template <class T, class Handle, class... Ts>
T ask(caf::scoped_actor& self, const Handle& to, Ts&&... xs) {
  std::optional<T> out;
  caf::error err;
  self->request(to, wait_limit, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { err = std::move(e); });
  INFO("request failed: " << act::render(err));
  REQUIRE(out.has_value());
  return std::move(*out);
}

/// Sends a request whose reply is empty and requires success.
template <class... Ts>
void ask_done(caf::scoped_actor& self, const blackboard_actor& to, Ts&&... xs) {
  bool done = false;
  caf::error err;
  self->request(to, wait_limit, std::forward<Ts>(xs)...)
      .receive([&]() { done = true; }, [&](caf::error& e) { err = std::move(e); });
  INFO("request failed: " << act::render(err));
  REQUIRE(done);
}

/// Sends a request that must fail (replying T on success); returns the error.
template <class T, class... Ts>
caf::error ask_error(caf::scoped_actor& self, const blackboard_actor& to, Ts&&... xs) {
  caf::error err;
  bool replied = false;
  self->request(to, wait_limit, std::forward<Ts>(xs)...)
      .receive([&](T&) { replied = true; }, [&](caf::error& e) { err = std::move(e); });
  CHECK_FALSE(replied);
  REQUIRE(err);
  return err;
}

bb::promotion put(const std::string& author, const std::string& key, json value) {
  bb::promotion p;
  p.author = author;
  p.ops.push_back(bb::staged_op{bb::op_kind::put, key, std::move(value)});
  return p;
}

/// An untraced promotion through `f`'s actor (a fixture or traced_fixture).
template <class Fixture>
bb::commit_result promote(Fixture& f, bb::promotion p, bb::promote_options o = {}) {
  return ask<bb::commit_result>(f.self, f.actor, act::promote_atom::value, std::move(p),
                                std::move(o), no_trace);
}

/// Round trip through the actor: everything it sent before this reply is in
/// our mailbox when this returns (CAF keeps one sender's messages in order).
uint64_t sync(fixture& f) {
  return ask<uint64_t>(f.self, f.actor, act::revision_atom::value, no_trace);
}

/// One event of a watch opened with the traced form.
struct event {
  act::record_data record;
  trace_context context;  ///< the committing promotion's
};

/// Waits for `n` events of watch `id`, each within the wait limit.
std::vector<event> take_events(caf::scoped_actor& self, uint64_t id, std::size_t n) {
  std::vector<event> out;
  bool timed_out = false;
  uint64_t wrong_id = 0;
  while (out.size() < n && !timed_out) {
    self->receive(
        [&](act::watch_event_atom, uint64_t wid, act::record_data& r, trace_context& ctx) {
          if (wid != id) wrong_id = wid;
          out.push_back(event{std::move(r), ctx});
        },
        caf::after(wait_limit) >> [&] { timed_out = true; });
  }
  CHECK(wrong_id == 0);
  INFO("events received: " << out.size() << " of " << n);
  REQUIRE_FALSE(timed_out);
  return out;
}

/// The events already in the mailbox, without waiting for more. Events in
/// the untraced (old) shape count too, so that none goes unnoticed.
std::vector<event> pending_events(caf::scoped_actor& self) {
  std::vector<event> out;
  bool empty = false;
  while (!empty)
    self->receive(
        [&](act::watch_event_atom, uint64_t, act::record_data& r, trace_context& ctx) {
          out.push_back(event{std::move(r), ctx});
        },
        [&](act::watch_event_atom, uint64_t, act::record_data& r) {
          out.push_back(event{std::move(r), trace_context{}});
        },
        caf::after(std::chrono::seconds(0)) >> [&] { empty = true; });
  return out;
}

std::vector<uint64_t> revisions(const std::vector<act::record_data>& rs) {
  std::vector<uint64_t> out;
  for (const auto& r : rs) out.push_back(r.revision);
  return out;
}

std::vector<uint64_t> revisions(const std::vector<event>& es) {
  std::vector<uint64_t> out;
  for (const auto& e : es) out.push_back(e.record.revision);
  return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t r = from; r <= to; ++r) out.push_back(r);
  return out;
}

uint64_t open_watch(fixture& f, const std::string& prefix, uint64_t from, uint64_t credit,
                    const trace_context& ctx = no_trace) {
  return ask<uint64_t>(f.self, f.actor, act::watch_atom::value, prefix, from, credit, ctx);
}

}  // namespace

TEST_CASE("blackboard_actor reads and lists at the latest and at older revisions",
          "[actors][blackboard_actor]") {
  fixture f;
  CHECK(sync(f) == 0);
  promote(f, put("alice", "runs/1/a", 1));
  promote(f, put("bob", "runs/1/b", json{{"x", "y"}}));
  promote(f, put("alice", "runs/1/a", 2));
  CHECK(sync(f) == 3);

  auto a = ask<act::entry_data>(f.self, f.actor, act::read_atom::value, std::string("runs/1/a"),
                                uint64_t{0}, no_trace);
  CHECK(a.exists());
  CHECK(a.value == "2");
  CHECK(a.mod_revision == 3);
  CHECK(a.version == 2);
  CHECK(a.author == "alice");

  auto old = ask<act::entry_data>(f.self, f.actor, act::read_atom::value,
                                  std::string("runs/1/a"), uint64_t{1}, no_trace);
  CHECK(old.value == "1");
  CHECK(old.mod_revision == 1);

  auto none = ask<act::entry_data>(f.self, f.actor, act::read_atom::value,
                                   std::string("runs/1/zzz"), uint64_t{0}, no_trace);
  CHECK_FALSE(none.exists());

  auto all = ask<std::vector<act::entry_data>>(f.self, f.actor, act::list_atom::value,
                                               std::string("runs/1"), uint64_t{0}, no_trace);
  REQUIRE(all.size() == 2);
  CHECK(all[0].key == "runs/1/a");
  CHECK(all[1].key == "runs/1/b");
  auto b = act::parse_value(all[1]);
  REQUIRE(b);
  CHECK(*b == json{{"x", "y"}});

  auto at1 = ask<std::vector<act::entry_data>>(f.self, f.actor, act::list_atom::value,
                                               std::string("runs"), uint64_t{1}, no_trace);
  CHECK(at1.size() == 1);

  // The actor and direct callers share one board.
  CHECK(f.board->revision() == 3);
}

TEST_CASE("blackboard_actor reports blackboard errors as caf::error", "[actors][blackboard_actor]") {
  fixture f;
  promote(f, put("alice", "a", 1));

  auto bad_key = ask_error<act::entry_data>(f.self, f.actor, act::read_atom::value,
                                            std::string("a//b"), uint64_t{0}, no_trace);
  CHECK(bad_key == bb::errc::invalid_key);
  CHECK(act::from_caf_error(bad_key).message.find("a//b") != std::string::npos);

  auto future = ask_error<act::entry_data>(f.self, f.actor, act::read_atom::value,
                                           std::string("a"), uint64_t{9}, no_trace);
  CHECK(future == bb::errc::future_revision);

  auto bad_range = ask_error<std::vector<act::record_data>>(
      f.self, f.actor, act::history_atom::value, uint64_t{0}, uint64_t{1}, std::string(), no_trace);
  CHECK(bad_range == bb::errc::invalid_argument);

  bb::promotion bad = put("alice", "x", 1);
  bad.ops[0].key = "x/";
  auto rejected = ask_error<bb::commit_result>(f.self, f.actor, act::promote_atom::value, bad,
                                               bb::promote_options{}, no_trace);
  CHECK(rejected == bb::errc::invalid_key);
  CHECK(act::from_caf_error(rejected).key == "x/");

  bb::promotion no_author = put("", "x", 1);
  CHECK(ask_error<bb::commit_result>(f.self, f.actor, act::promote_atom::value, no_author,
                                     bb::promote_options{}, no_trace) ==
        bb::errc::invalid_argument);
  CHECK(sync(f) == 1);  // nothing rejected changed the board
}

TEST_CASE("blackboard_actor promotes idempotently and reports history",
          "[actors][blackboard_actor]") {
  fixture f;
  bb::promote_options once{"run1/task1/0", bb::isolation::serializable};
  auto first = promote(f, put("alice", "runs/1/a", 1), once);
  CHECK(first.revision == 1);
  CHECK(first.changes == 1);
  CHECK_FALSE(first.replayed);
  auto again = promote(f, put("alice", "runs/1/a", 1), once);
  CHECK(again.revision == 1);
  CHECK(again.replayed);

  promote(f, put("bob", "other/x", true));
  promote(f, put("carol", "runs/1/b", "text"));

  auto all = ask<std::vector<act::record_data>>(f.self, f.actor, act::history_atom::value,
                                                uint64_t{1}, UINT64_MAX, std::string(), no_trace);
  CHECK(revisions(all) == std::vector<uint64_t>{1, 2, 3});
  CHECK(all[0].txn_id == "run1/task1/0");
  CHECK(all[0].author == "alice");

  auto runs =
      ask<std::vector<act::record_data>>(f.self, f.actor, act::history_atom::value, uint64_t{1},
                                         uint64_t{3}, std::string("runs"), no_trace);
  CHECK(revisions(runs) == std::vector<uint64_t>{1, 3});
  REQUIRE(runs[1].changes.size() == 1);
  CHECK(runs[1].changes[0].kind == bb::op_kind::put);
  CHECK(runs[1].changes[0].after.key == "runs/1/b");
  CHECK(runs[1].changes[0].after.value == "\"text\"");
}

TEST_CASE("blackboard_actor compacts and then refuses what it forgot",
          "[actors][blackboard_actor]") {
  fixture f;
  for (int i = 1; i <= 4; ++i) promote(f, put("w", "k", i));
  ask_done(f.self, f.actor, act::compact_atom::value, uint64_t{3}, no_trace);
  CHECK(f.board->compact_revision() == 3);

  auto old = ask_error<act::entry_data>(f.self, f.actor, act::read_atom::value, std::string("k"),
                                        uint64_t{2}, no_trace);
  CHECK(old == bb::errc::compacted);
  auto hist = ask_error<std::vector<act::record_data>>(
      f.self, f.actor, act::history_atom::value, uint64_t{1}, UINT64_MAX, std::string(), no_trace);
  CHECK(hist == bb::errc::compacted);
  auto kept = ask<std::vector<act::record_data>>(f.self, f.actor, act::history_atom::value,
                                                 uint64_t{3}, UINT64_MAX, std::string(), no_trace);
  CHECK(revisions(kept) == std::vector<uint64_t>{3, 4});

  bool replied = false;
  caf::error err;
  f.self->request(f.actor, wait_limit, act::compact_atom::value, uint64_t{99}, no_trace)
      .receive([&]() { replied = true; }, [&](caf::error& e) { err = std::move(e); });
  CHECK_FALSE(replied);
  CHECK(err == bb::errc::future_revision);
}

TEST_CASE("blackboard_actor delivers a conflict with its conflicting keys",
          "[actors][blackboard_actor]") {
  fixture f;
  promote(f, put("w", "a", 4));
  // A scratchpad built next to the actor, as a remote agent would build its
  // promotion: it reads "a" at revision 1.
  auto sp = f.board->begin("reader");
  REQUIRE(sp.get("a").ok());
  REQUIRE(sp.put("b", "derived from a").ok());
  auto p = sp.to_promotion();

  promote(f, put("w", "a", 7));  // "a" moves on

  auto err = ask_error<bb::commit_result>(f.self, f.actor, act::promote_atom::value, p,
                                          bb::promote_options{}, no_trace);
  CHECK(err == bb::errc::conflict);
  auto e = act::from_caf_error(err);
  CHECK(e.code == bb::errc::conflict);
  REQUIRE(e.conflicts.size() == 1);
  CHECK(e.conflicts[0].key == "a");
  CHECK(e.conflicts[0].seen_revision == 1);
  CHECK(e.conflicts[0].current_revision == 2);
  auto text = f.rt.system().render(err);
  CHECK(text.rfind("conflict: ", 0) == 0);
  CHECK(text.find("'a' (1 -> 2)") != std::string::npos);
  CHECK(sync(f) == 2);
}

TEST_CASE("blackboard_actor watch delivers records in order with no gaps",
          "[actors][blackboard_actor]") {
  fixture f;
  promote(f, put("w", "runs/1/a", 1));      // 1
  promote(f, put("w", "runs/1/b", 2));      // 2
  promote(f, put("w", "runs/1/c", 3));      // 3
  promote(f, put("w", "other/x", 0));       // 4: not under the prefix
  auto id = open_watch(f, "runs/1", 2, 100);  // from the past
  promote(f, put("w", "runs/1/a", 5));      // 5
  promote(f, put("w", "runs/1/d", 6));      // 6
  promote(f, put("w", "runs/10/x", 7));     // 7: "runs/10" is not under "runs/1"
  promote(f, put("w", "other/y", 8));       // 8
  promote(f, put("w", "runs/1/b", 9));      // 9

  auto events = take_events(f.self, id, 5);
  CHECK(revisions(events) == std::vector<uint64_t>{2, 3, 5, 6, 9});
  for (const auto& e : events)
    for (const auto& c : e.record.changes) CHECK(c.after.key.rfind("runs/1/", 0) == 0);
  CHECK(events.back().record.changes.at(0).after.value == "9");
  sync(f);
  CHECK(pending_events(f.self).empty());

  // Commits made directly on the shared board reach the watch too.
  auto sp = f.board->begin("direct");
  REQUIRE(sp.put("runs/1/z", 10).ok());
  REQUIRE(f.board->promote(sp).ok());
  CHECK(revisions(take_events(f.self, id, 1)) == std::vector<uint64_t>{10});
}

TEST_CASE("blackboard_actor watch sends no more events than the subscriber's credit",
          "[actors][blackboard_actor]") {
  // A big buffer keeps every pending revision queued; a small one makes the
  // watch fall behind and catch up from history. Neither may change what
  // the subscriber sees.
  const std::size_t buffer = GENERATE(std::size_t{1024}, std::size_t{4});
  INFO("watch_buffer " << buffer);
  bb::blackboard_options opts;
  opts.watch_buffer = buffer;
  fixture f{opts};
  auto id = open_watch(f, "runs", 0, 2);
  for (int i = 1; i <= 50; ++i) promote(f, put("w", "runs/k" + std::to_string(i % 7), i));
  CHECK(sync(f) == 50);

  auto first = pending_events(f.self);
  CHECK(revisions(first) == std::vector<uint64_t>{1, 2});

  f.self->send(f.actor, act::credit_atom::value, id, uint64_t{48}, no_trace);
  auto rest = take_events(f.self, id, 48);
  CHECK(revisions(rest) == range(3, 50));
  sync(f);
  CHECK(pending_events(f.self).empty());

  // Credit left over is used by later commits, one event each.
  f.self->send(f.actor, act::credit_atom::value, id, uint64_t{10}, no_trace);
  sync(f);
  CHECK(pending_events(f.self).empty());
  promote(f, put("w", "runs/late", 51));
  CHECK(revisions(take_events(f.self, id, 1)) == std::vector<uint64_t>{51});
}

TEST_CASE("blackboard_actor unwatch stops events", "[actors][blackboard_actor]") {
  fixture f;
  auto id = open_watch(f, "runs", 0, 100);
  CHECK(ask<uint64_t>(f.self, f.actor, act::watches_atom::value, no_trace) == 1);
  promote(f, put("w", "runs/a", 1));
  promote(f, put("w", "runs/b", 2));
  CHECK(revisions(take_events(f.self, id, 2)) == std::vector<uint64_t>{1, 2});

  ask_done(f.self, f.actor, act::unwatch_atom::value, id, no_trace);
  CHECK(ask<uint64_t>(f.self, f.actor, act::watches_atom::value, no_trace) == 0);
  for (int i = 3; i <= 5; ++i) promote(f, put("w", "runs/c", i));
  sync(f);
  CHECK(pending_events(f.self).empty());
  // Closing twice, or granting credit to a closed watch, is harmless.
  ask_done(f.self, f.actor, act::unwatch_atom::value, id, no_trace);
  f.self->send(f.actor, act::credit_atom::value, id, uint64_t{5}, no_trace);
  sync(f);
  CHECK(pending_events(f.self).empty());
}

TEST_CASE("blackboard_actor cancels the watches of a subscriber that goes down",
          "[actors][blackboard_actor]") {
  fixture f;
  uint64_t mine = 0;
  {
    caf::scoped_actor subscriber{f.rt.system()};
    // Monitored before it opens its watches: CAF notifies monitors newest
    // first, so the blackboard's down message is in its mailbox before ours
    // reaches us, and the count below needs no waiting.
    f.self->monitor(subscriber->address());
    ask<uint64_t>(subscriber, f.actor, act::watch_atom::value, std::string("runs"), uint64_t{0},
                  uint64_t{10}, no_trace);
    ask<uint64_t>(subscriber, f.actor, act::watch_atom::value, std::string("other"), uint64_t{0},
                  uint64_t{10}, no_trace);
    mine = open_watch(f, "runs", 0, 10);  // ours stays open
    CHECK(ask<uint64_t>(f.self, f.actor, act::watches_atom::value, no_trace) == 3);
    promote(f, put("w", "runs/a", 1));
  }  // the subscriber quits here

  bool down = false;
  f.self->receive([&](caf::down_msg&) { down = true; }, caf::after(wait_limit) >> [] {});
  REQUIRE(down);
  CHECK(ask<uint64_t>(f.self, f.actor, act::watches_atom::value, no_trace) == 1);
  // The blackboard keeps working, and our own watch still delivers.
  promote(f, put("w", "runs/b", 2));
  CHECK(revisions(take_events(f.self, mine, 2)) == std::vector<uint64_t>{1, 2});
}

TEST_CASE("blackboard_actor ends a watch whose history was compacted away",
          "[actors][blackboard_actor]") {
  bb::blackboard_options opts;
  opts.watch_buffer = 2;
  fixture f{opts};
  const auto opener = trace_context::make_root();
  auto id = open_watch(f, "runs", 0, 1, opener);
  for (int i = 1; i <= 10; ++i) promote(f, put("w", "runs/k", i));
  CHECK(revisions(take_events(f.self, id, 1)) == std::vector<uint64_t>{1});
  // Revisions 2 and 3 wait in the watch's buffer; it overflowed at 4, so
  // the rest must come from history, which compaction now removes.
  ask_done(f.self, f.actor, act::compact_atom::value, uint64_t{10}, no_trace);
  f.self->send(f.actor, act::credit_atom::value, id, uint64_t{100}, no_trace);
  auto buffered = take_events(f.self, id, 2);
  CHECK(revisions(buffered) == std::vector<uint64_t>{2, 3});

  caf::error reason;
  uint64_t ended = 0;
  trace_context cause;
  f.self->receive(
      [&](act::watch_end_atom, uint64_t wid, caf::error& e, trace_context& ctx) {
        ended = wid;
        reason = std::move(e);
        cause = ctx;
      },
      caf::after(wait_limit) >> [] {});
  CHECK(ended == id);
  CHECK(reason == bb::errc::compacted);
  // The end links to the request that opened the watch (this actor records
  // no spans, so that is the request's own context).
  CHECK(cause == opener);
  CHECK(ask<uint64_t>(f.self, f.actor, act::watches_atom::value, no_trace) == 0);
}

// -- trace contexts ---------------------------------------------------------------

namespace {

/// A blackboard actor spawned on a runtime that writes spans to a fresh
/// file, so the actor records them with the runtime's tracer.
struct traced_fixture {
  explicit traced_fixture(const std::string& name)
      : path(fresh_file(name)), rt(with_spans(path)), board(std::make_shared<bb::blackboard>()),
        actor(act::spawn_blackboard(rt, board)), self(rt.system()) {}
  ~traced_fixture() {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    std::remove(path.c_str());
  }

  /// Every span written so far.
  std::vector<json> spans() {
    rt.tracer().flush();
    return agora_test::read_lines(path);
  }

  static std::string fresh_file(const std::string& name) {
    auto p = "/tmp/agora-bb-actor-test-" + std::to_string(::getpid()) + "-" + name + ".jsonl";
    std::remove(p.c_str());
    return p;
  }
  static act::runtime_options with_spans(const std::string& p) {
    auto o = test_runtime();
    o.spans_path = p;
    return o;
  }

  std::string path;
  act::runtime rt;
  std::shared_ptr<bb::blackboard> board;
  blackboard_actor actor;
  caf::scoped_actor self;
};

/// The attribute `key` of a span line as text; "<missing>" when absent.
std::string attribute(const json& span_line, const std::string& key) {
  for (const auto& a : span_line.at("attributes"))
    if (a.at("key") == key) {
      const auto& v = a.at("value");
      if (v.contains("stringValue")) return v["stringValue"].get<std::string>();
      if (v.contains("intValue")) return v["intValue"].get<std::string>();
      return v.dump();
    }
  return "<missing>";
}

}  // namespace

TEST_CASE("blackboard_actor records a traced promote as a child span of the request's context",
          "[actors][blackboard_actor][tracing]") {
  traced_fixture f{"promote"};
  REQUIRE(f.rt.tracer().enabled());
  // A remote agent's promotion that read "runs/1/a" while it was absent.
  auto sp = f.board->begin("debater/bob");
  REQUIRE(sp.get("runs/1/a").ok());
  REQUIRE(sp.put("runs/1/b", 2).ok());
  auto stale = sp.to_promotion();

  const auto task = trace_context::make_root();
  bb::promote_options o;
  o.txn_id = "run1/t1/0";
  auto c = ask<bb::commit_result>(f.self, f.actor, act::promote_atom::value,
                                  put("debater/alice", "runs/1/a", 1), o, task);
  const auto retry = trace_context::make_root();
  auto err = ask_error<bb::commit_result>(f.self, f.actor, act::promote_atom::value, stale,
                                          bb::promote_options{}, retry);
  REQUIRE(err == bb::errc::conflict);

  auto spans = f.spans();
  REQUIRE(spans.size() == 2);
  const json& ok = spans[0];
  CHECK(ok.at("name") == "bb.promote");
  CHECK(ok.at("traceId") == task.trace_id_hex());
  CHECK(ok.at("parentSpanId") == act::span_id_hex(task.span_id));
  CHECK(ok.at("spanId") != act::span_id_hex(task.span_id));
  CHECK(ok.at("status").at("code") == "STATUS_CODE_OK");
  CHECK(attribute(ok, "agora.revision") == std::to_string(c.revision));
  CHECK(attribute(ok, "agora.txn_id") == "run1/t1/0");
  CHECK(attribute(ok, "agora.keys") == "1");
  CHECK(attribute(ok, "agora.agent") == "debater/alice");
  CHECK(attribute(ok, "agora.status") == "ok");

  const json& refused = spans[1];
  CHECK(refused.at("name") == "bb.promote");
  CHECK(refused.at("traceId") == retry.trace_id_hex());
  CHECK(refused.at("parentSpanId") == act::span_id_hex(retry.span_id));
  CHECK(refused.at("status").at("code") == "STATUS_CODE_ERROR");
  CHECK(refused.at("status").at("message").get<std::string>().rfind("conflict: ", 0) == 0);
  CHECK(attribute(refused, "agora.status") == "conflict");
  CHECK(attribute(refused, "agora.conflicts") == "runs/1/a");
  CHECK(attribute(refused, "agora.revision") == "<missing>");  // nothing committed
}

TEST_CASE("blackboard_actor records a traced read as a child span with key and revision",
          "[actors][blackboard_actor][tracing]") {
  traced_fixture f{"read"};
  promote(f, put("w", "runs/1/a", 1));  // untraced: no span
  promote(f, put("w", "runs/1/b", 2));
  const auto task = trace_context::make_root().child();
  auto e = ask<act::entry_data>(f.self, f.actor, act::read_atom::value, std::string("runs/1/a"),
                                uint64_t{0}, task);
  CHECK(e.value == "1");

  auto spans = f.spans();
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].at("name") == "bb.read");
  CHECK(spans[0].at("traceId") == task.trace_id_hex());
  CHECK(spans[0].at("parentSpanId") == act::span_id_hex(task.span_id));
  CHECK(attribute(spans[0], "agora.key") == "runs/1/a");
  CHECK(attribute(spans[0], "agora.revision") == "2");      // the snapshot read
  CHECK(attribute(spans[0], "agora.mod_revision") == "1");  // the version found
}

TEST_CASE("blackboard_actor records one span per traced request and none for untraced ones",
          "[actors][blackboard_actor][tracing]") {
  traced_fixture f{"all"};
  // Each request once, with the context given; `old` sends the deprecated
  // forms instead. Returns after every reply (and the credit) was handled.
  auto each_request = [&f](const trace_context& ctx, bool old) {
    auto& self = f.self;
    const auto& a = f.actor;
    uint64_t id = 0;
    // Blind: the promotion's base (revision 0) is below the compaction
    // point after the first round.
    const bb::promote_options blind{"", bb::isolation::blind};
    if (old) {
      ask<bb::commit_result>(self, a, act::promote_atom::value, put("w", "k", 1), blind);
      ask<act::entry_data>(self, a, act::read_atom::value, std::string("k"), uint64_t{0});
      ask<std::vector<act::entry_data>>(self, a, act::list_atom::value, std::string(),
                                        uint64_t{0});
      ask<uint64_t>(self, a, act::revision_atom::value);
      ask<std::vector<act::record_data>>(self, a, act::history_atom::value, uint64_t{1},
                                         UINT64_MAX, std::string());
      ask_done(self, a, act::compact_atom::value, uint64_t{1});
      id = ask<uint64_t>(self, a, act::watch_atom::value, std::string("none"), uint64_t{0},
                         uint64_t{0});
      self->send(a, act::credit_atom::value, id, uint64_t{1});
      ask<uint64_t>(self, a, act::watches_atom::value);
      ask_done(self, a, act::unwatch_atom::value, id);
    } else {
      ask<bb::commit_result>(self, a, act::promote_atom::value, put("w", "k", 1), blind, ctx);
      ask<act::entry_data>(self, a, act::read_atom::value, std::string("k"), uint64_t{0}, ctx);
      ask<std::vector<act::entry_data>>(self, a, act::list_atom::value, std::string(),
                                        uint64_t{0}, ctx);
      ask<uint64_t>(self, a, act::revision_atom::value, ctx);
      ask<std::vector<act::record_data>>(self, a, act::history_atom::value, uint64_t{1},
                                         UINT64_MAX, std::string(), ctx);
      ask_done(self, a, act::compact_atom::value, uint64_t{1}, ctx);
      id = ask<uint64_t>(self, a, act::watch_atom::value, std::string("none"), uint64_t{0},
                         uint64_t{0}, ctx);
      self->send(a, act::credit_atom::value, id, uint64_t{1}, ctx);
      ask<uint64_t>(self, a, act::watches_atom::value, ctx);
      ask_done(self, a, act::unwatch_atom::value, id, ctx);
    }
  };

  each_request(no_trace, false);
  each_request(no_trace, true);
  CHECK(f.spans().empty());
  CHECK(f.rt.tracer().written() == 0);

  const auto ctx = trace_context::make_root();
  each_request(ctx, false);
  auto spans = f.spans();
  std::set<std::string> names;
  for (const auto& s : spans) {
    INFO(s.dump());
    names.insert(s.at("name").get<std::string>());
    CHECK(s.at("traceId") == ctx.trace_id_hex());
    CHECK(s.at("parentSpanId") == act::span_id_hex(ctx.span_id));
  }
  CHECK(spans.size() == 10);
  CHECK(names == std::set<std::string>{"bb.promote", "bb.read", "bb.list", "bb.revision",
                                       "bb.history", "bb.compact", "bb.watch", "bb.credit",
                                       "bb.watches", "bb.unwatch"});
}

TEST_CASE("blackboard_actor watch events carry the context of the promotion that committed them",
          "[actors][blackboard_actor][tracing]") {
  SECTION("without spans of its own: the promotion request's context, passed through") {
    fixture f;
    auto id = open_watch(f, "runs", 0, 10, trace_context::make_root());
    const auto a = trace_context::make_root();
    ask<bb::commit_result>(f.self, f.actor, act::promote_atom::value, put("w", "runs/a", 1),
                           bb::promote_options{}, a);
    promote(f, put("w", "runs/b", 2));  // not traced
    // A commit made directly on the board, by a caller that set the tag.
    const auto c = trace_context::make_root();
    auto sp = f.board->begin("direct");
    REQUIRE(sp.put("runs/c", 3).ok());
    bb::promote_options direct;
    direct.trace = act::to_trace_tag(c);
    REQUIRE(f.board->promote(sp, direct).ok());

    auto events = take_events(f.self, id, 3);
    CHECK(revisions(events) == std::vector<uint64_t>{1, 2, 3});
    CHECK(events[0].context == a);
    CHECK_FALSE(events[1].context.valid());
    CHECK(events[1].context == trace_context{});
    CHECK(events[2].context == c);
  }
  SECTION("with spans: the bb.promote span's context, a child of the request's") {
    traced_fixture f{"watch"};
    auto id = ask<uint64_t>(f.self, f.actor, act::watch_atom::value, std::string("runs"),
                            uint64_t{0}, uint64_t{10}, no_trace);
    const auto a = trace_context::make_root();
    ask<bb::commit_result>(f.self, f.actor, act::promote_atom::value, put("w", "runs/a", 1),
                           bb::promote_options{}, a);
    auto events = take_events(f.self, id, 1);
    auto spans = f.spans();
    REQUIRE(spans.size() == 1);
    const auto& commit = events[0].context;
    CHECK(commit.trace_id_hex() == a.trace_id_hex());
    CHECK(commit.parent_span_id == a.span_id);
    CHECK(act::span_id_hex(commit.span_id) == spans[0].at("spanId"));
    CHECK(attribute(spans[0], "agora.revision") == "1");
  }
}

TEST_CASE("blackboard_actor still answers the untraced (deprecated) form of every request",
          "[actors][blackboard_actor]") {
  fixture f;
  auto c = ask<bb::commit_result>(f.self, f.actor, act::promote_atom::value, put("w", "runs/a", 1),
                                  bb::promote_options{});
  CHECK(c.revision == 1);
  CHECK(ask<act::entry_data>(f.self, f.actor, act::read_atom::value, std::string("runs/a"),
                             uint64_t{0})
            .value == "1");
  CHECK(ask<std::vector<act::entry_data>>(f.self, f.actor, act::list_atom::value,
                                          std::string("runs"), uint64_t{0})
            .size() == 1);
  CHECK(ask<uint64_t>(f.self, f.actor, act::revision_atom::value) == 1);
  CHECK(ask<std::vector<act::record_data>>(f.self, f.actor, act::history_atom::value,
                                           uint64_t{1}, UINT64_MAX, std::string())
            .size() == 1);
  // A watch opened the old way sends its events the old way: no context.
  auto id = ask<uint64_t>(f.self, f.actor, act::watch_atom::value, std::string("runs"),
                          uint64_t{1}, uint64_t{0});
  f.self->send(f.actor, act::credit_atom::value, id, uint64_t{1});
  bool old_shape = false;
  bool new_shape = false;
  f.self->receive([&](act::watch_event_atom, uint64_t, act::record_data&) { old_shape = true; },
                  [&](act::watch_event_atom, uint64_t, act::record_data&,
                      trace_context&) { new_shape = true; },
                  caf::after(wait_limit) >> [] {});
  CHECK(old_shape);
  CHECK_FALSE(new_shape);
  CHECK(ask<uint64_t>(f.self, f.actor, act::watches_atom::value) == 1);
  ask_done(f.self, f.actor, act::unwatch_atom::value, id);
  ask_done(f.self, f.actor, act::compact_atom::value, uint64_t{1});

  // The traced part of the interface is a handle of its own: code holding
  // it cannot send an untraced request.
  act::traced_blackboard_actor traced = f.actor;
  CHECK(ask<uint64_t>(f.self, traced, act::revision_atom::value, no_trace) == 1);
}

TEST_CASE("blackboard_actor quits when told to, so the system can shut down",
          "[actors][blackboard_actor]") {
  act::runtime rt{test_runtime()};
  auto actor = act::spawn_blackboard(rt.system(), nullptr);  // makes its own board
  caf::scoped_actor self{rt.system()};
  self->monitor(actor);
  auto rev = uint64_t{99};
  self->request(actor, wait_limit, act::revision_atom::value, no_trace)
      .receive([&](uint64_t r) { rev = r; }, [](caf::error&) {});
  CHECK(rev == 0);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  caf::error reason;
  self->receive([&](caf::down_msg& dm) { reason = dm.reason; }, caf::after(wait_limit) >> [] {});
  CHECK(reason == caf::exit_reason::user_shutdown);
}  // ~runtime returns: no actor is left

// runtime has no test file of its own in tests/CMakeLists.txt; its tests
// live here, next to its main user.

TEST_CASE("runtime sets worker threads and the middleman's heartbeat and timeout",
          "[actors][runtime]") {
  act::runtime_options o;
  o.worker_threads = 2;
  o.load_middleman = true;
  act::runtime rt{o};
  auto& sys = rt.system();
  CHECK(sys.scheduler().num_workers() == 2);
  CHECK(caf::get_or(sys.config(), "scheduler.max-threads", std::size_t{0}) == 2);
  CHECK(sys.has_middleman());
  CHECK(caf::get_or(sys.config(), "middleman.heartbeat-interval", caf::timespan{0}) ==
        std::chrono::seconds(1));
  CHECK(caf::get_or(sys.config(), "middleman.connection-timeout", caf::timespan{0}) ==
        std::chrono::seconds(5));
  CHECK(rt.request_timeout() == std::chrono::seconds(10));
  CHECK(rt.options().worker_threads == 2);
}

TEST_CASE("runtime latency profiles set the scheduler and middleman", "[actors][runtime]") {
  {
    act::runtime_options o;
    o.worker_threads = 2;
    o.load_middleman = true;
    o.latency = act::latency_profile::low_latency;
    act::runtime rt{o};
    const auto& cfg = rt.system().config();
    CHECK(caf::get_or(cfg, "scheduler.policy", caf::atom("")) == caf::atom("sharing"));
    CHECK(caf::get_or(cfg, "middleman.workers", std::size_t{99}) == 0);
    CHECK(rt.system().scheduler().num_workers() == 2);
  }
  {
    act::runtime_options o;
    o.worker_threads = 1;
    o.load_middleman = true;
    o.latency = act::latency_profile::balanced;
    act::runtime rt{o};
    const auto& cfg = rt.system().config();
    CHECK(caf::get_or(cfg, "work-stealing.moderate-poll-attempts", std::size_t{0}) == 1);
    CHECK(caf::get_or(cfg, "middleman.workers", std::size_t{99}) == 0);
  }
  {
    act::runtime_options o;  // CAF's own settings stay untouched by default
    o.worker_threads = 1;
    act::runtime rt{o};
    CHECK(caf::get_or(rt.system().config(), "scheduler.policy", caf::atom("stealing")) ==
          caf::atom("stealing"));
  }
}

TEST_CASE("runtime defaults keep tracing and metrics off", "[actors][runtime]") {
  act::runtime_options o;
  CHECK(o.worker_threads >= 1);
  CHECK_FALSE(o.load_middleman);
  o.worker_threads = 0;  // counts as 1
  act::runtime rt{o};
  CHECK(rt.system().scheduler().num_workers() == 1);
  CHECK_FALSE(rt.system().has_middleman());
  CHECK_FALSE(rt.tracer().enabled());
  CHECK_FALSE(rt.metrics().enabled());
  CHECK(rt.tracing_status().ok());
}

TEST_CASE("runtime opens the span file or says why it cannot", "[actors][runtime]") {
  act::runtime_options o;
  o.worker_threads = 1;
  o.metrics_enabled = true;
  SECTION("a writable path turns tracing on") {
    o.spans_path = "/tmp/agora-runtime-test-" + std::to_string(::getpid()) + ".jsonl";
    {
      auto rt = act::runtime::open(o);
      REQUIRE(rt.ok());
      CHECK((*rt)->tracer().enabled());
      CHECK((*rt)->metrics().enabled());
    }
    std::remove(o.spans_path.c_str());
  }
  SECTION("a path in a missing directory fails open() and leaves the constructor's tracer off") {
    o.spans_path = "/nonexistent-agora-dir/spans.jsonl";
    auto rt = act::runtime::open(o);
    REQUIRE_FALSE(rt.ok());
    CHECK(rt.error().message.find("/nonexistent-agora-dir/spans.jsonl") != std::string::npos);
    act::runtime plain{o};
    CHECK_FALSE(plain.tracer().enabled());
    CHECK_FALSE(plain.tracing_status().ok());
  }
}
