#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "agora/actors/errors.hpp"
#include "agora/actors/messages.hpp"
#include "agora/actors/runtime.hpp"
#include "agora/blackboard/blackboard.hpp"

namespace bb = agora::bb;
namespace act = agora::actors;
using bb::json;

namespace {

act::runtime_options small_runtime() {
  act::runtime_options o;
  o.worker_threads = 1;
  return o;
}

/// What crossing the wire does to a value: CAF's binary format and back.
template <class T>
T round_trip(caf::actor_system& sys, const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto err = sink(const_cast<T&>(x));
  INFO("serialize: " << act::render(err));
  REQUIRE_FALSE(err);
  T out{};
  caf::binary_deserializer source{sys, buf};
  err = source(out);
  INFO("deserialize: " << act::render(err));
  REQUIRE_FALSE(err);
  return out;
}

/// Bytes laid out as CAF writes them, for forging bad input.
template <class... Ts>
std::vector<char> bytes_of(caf::actor_system& sys, Ts... xs) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(xs...));
  return buf;
}

template <class T>
caf::error load(caf::actor_system& sys, const std::vector<char>& buf, T& out) {
  caf::binary_deserializer source{sys, buf};
  return source(out);
}

bool same(const bb::staged_op& a, const bb::staged_op& b) {
  return a.kind == b.kind && a.key == b.key && a.value == b.value;
}

bool same(const bb::key_revision& a, const bb::key_revision& b) {
  return a.key == b.key && a.mod_revision == b.mod_revision;
}

template <class T>
bool same_list(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return false;
  return true;
}

/// A board with a few revisions: puts, a merge, an append and an erase.
std::shared_ptr<bb::blackboard> sample_board() {
  auto board = std::make_shared<bb::blackboard>();
  auto a = board->begin("alice");
  REQUIRE(a.put("runs/1/answer", json{{"text", "zwölf ✓"}, {"n", 12}}).ok());
  REQUIRE(a.put("runs/1/log", json::array({"start"})).ok());
  REQUIRE(board->promote(a, bb::promote_options{"t1", bb::isolation::serializable}).ok());
  auto b = board->begin("bob");
  REQUIRE(b.merge("runs/1/answer", json{{"n", 13}}).ok());
  REQUIRE(b.append("runs/1/log", "bob").ok());
  REQUIRE(board->promote(b).ok());
  auto c = board->begin("carol");
  REQUIRE(c.erase("runs/1/log").ok());
  REQUIRE(board->promote(c).ok());
  return board;
}

}  // namespace

TEST_CASE("messages convert entries and records to wire form", "[actors][messages]") {
  auto board = sample_board();
  auto e = board->get("runs/1/answer");
  REQUIRE(e.ok());
  auto d = act::to_entry_data(*e);
  CHECK(d.key == "runs/1/answer");
  CHECK(d.author == "bob");
  CHECK(d.create_revision == 1);
  CHECK(d.mod_revision == 2);
  CHECK(d.version == 2);
  CHECK_FALSE(d.deleted);
  CHECK(d.exists());
  auto v = act::parse_value(d);
  REQUIRE(v);
  CHECK(*v == json{{"text", "zwölf ✓"}, {"n", 13}});

  auto absent = act::to_entry_data(*board->get("runs/1/none"));
  CHECK_FALSE(absent.exists());
  CHECK_FALSE(absent.deleted);
  CHECK(absent.key.empty());
  CHECK(absent.value == "null");

  auto hist = board->history(1);
  REQUIRE(hist.ok());
  auto recs = act::to_record_data(*hist);
  REQUIRE(recs.size() == 3);
  CHECK(recs[0].revision == 1);
  CHECK(recs[0].txn_id == "t1");
  CHECK(recs[0].author == "alice");
  CHECK(recs[0].time_us > 0);
  REQUIRE(recs[1].changes.size() == 2);
  CHECK(recs[1].changes[0].kind == bb::op_kind::merge);
  CHECK(recs[1].changes[1].kind == bb::op_kind::append);
  REQUIRE(recs[2].changes.size() == 1);
  const auto& tomb = recs[2].changes[0];
  CHECK(tomb.kind == bb::op_kind::erase);
  CHECK(tomb.after.deleted);
  CHECK(tomb.after.key == "runs/1/log");
  CHECK(tomb.after.mod_revision == 3);
  CHECK(tomb.after.author == "carol");
  CHECK(tomb.after.value == "null");
  CHECK_FALSE(tomb.after.exists());
}

TEST_CASE("messages survive CAF's binary round trip", "[actors][messages]") {
  act::runtime rt{small_runtime()};
  auto& sys = rt.system();
  auto board = sample_board();

  SECTION("entry_data and vectors of it") {
    auto listed = board->snapshot().list("runs");
    REQUIRE(listed.ok());
    auto es = act::to_entry_data(*listed);
    REQUIRE_FALSE(es.empty());
    CHECK(round_trip(sys, es.front()) == es.front());
    CHECK(round_trip(sys, es) == es);
  }
  SECTION("record_data with every op kind, tombstones included") {
    auto recs = act::to_record_data(*board->history(1));
    for (const auto& r : recs) CHECK(round_trip(sys, r) == r);
    CHECK(round_trip(sys, recs) == recs);
  }
  SECTION("a promotion with every field") {
    auto sp = board->begin("dave");
    REQUIRE(sp.get("runs/1/answer").ok());
    REQUIRE(sp.list("runs/1").ok());
    REQUIRE(sp.put("runs/2/x", json{{"deep", json::array({1, 2.5, "ß", nullptr, true})}}).ok());
    REQUIRE(sp.put("runs/2/s", "plain string").ok());
    REQUIRE(sp.merge("runs/1/answer", json{{"n", nullptr}}).ok());
    REQUIRE(sp.append("runs/2/list", 7).ok());
    REQUIRE(sp.erase("runs/2/gone").ok());
    REQUIRE(sp.expect("runs/1/answer", 2).ok());
    auto p = sp.to_promotion();
    auto q = round_trip(sys, p);
    CHECK(q.author == p.author);
    CHECK(q.base_revision == p.base_revision);
    CHECK(same_list(q.ops, p.ops));
    CHECK(same_list(q.reads, p.reads));
    CHECK(q.ranges == p.ranges);
    CHECK(same_list(q.expects, p.expects));
    // And the blackboard accepts what arrived.
    auto r = board->promote(q);
    INFO((r.ok() ? std::string("ok") : bb::to_string(r.error())));
    CHECK(r.ok());
  }
  SECTION("staged_op, key_revision, promote_options, commit_result, key_conflict") {
    bb::staged_op op{bb::op_kind::append, "k", json{{"a", 1}}};
    CHECK(same(round_trip(sys, op), op));
    bb::key_revision kr{"k/x", 42};
    CHECK(same(round_trip(sys, kr), kr));
    bb::promote_options o{"txn-9", bb::isolation::blind};
    auto o2 = round_trip(sys, o);
    CHECK(o2.txn_id == "txn-9");
    CHECK(o2.isolation == bb::isolation::blind);
    bb::commit_result c{17, "txn-9", true, 3};
    auto c2 = round_trip(sys, c);
    CHECK(c2.revision == 17);
    CHECK(c2.txn_id == "txn-9");
    CHECK(c2.replayed);
    CHECK(c2.changes == 3);
    bb::key_conflict kc{"a", 4, 7, "runs"};
    CHECK(round_trip(sys, kc) == kc);
  }
  SECTION("a whole watch event message, as the blackboard actor sends it") {
    auto rec = act::to_record_data(*board->history(2, 2));
    REQUIRE(rec.size() == 1);
    caf::message m =
        caf::make_message(act::watch_event_atom::value, std::uint64_t{5}, rec.front());
    auto m2 = round_trip(sys, m);
    REQUIRE((m2.match_elements<act::watch_event_atom, std::uint64_t, act::record_data>()));
    CHECK(m2.get_as<std::uint64_t>(1) == 5);
    CHECK(m2.get_as<act::record_data>(2) == rec.front());
  }
  SECTION("replies carrying vectors, which CAF registers along with each type") {
    auto recs = act::to_record_data(*board->history(1));
    auto m = round_trip(sys, caf::make_message(recs));
    REQUIRE(m.match_elements<std::vector<act::record_data>>());
    CHECK(m.get_as<std::vector<act::record_data>>(0) == recs);
    auto es = act::to_entry_data(*board->snapshot().list(""));
    auto m3 = round_trip(sys, caf::make_message(es));
    REQUIRE(m3.match_elements<std::vector<act::entry_data>>());
    CHECK(m3.get_as<std::vector<act::entry_data>>(0) == es);
  }
  SECTION("a promote request message") {
    bb::promotion p;
    p.author = "eve";
    p.ops.push_back(bb::staged_op{bb::op_kind::put, "a", 1});
    caf::message m = caf::make_message(act::promote_atom::value, p, bb::promote_options{});
    auto m2 = round_trip(sys, m);
    REQUIRE((m2.match_elements<act::promote_atom, bb::promotion, bb::promote_options>()));
    CHECK(m2.get_as<bb::promotion>(1).ops.at(0).value == json(1));
  }
  SECTION("a traced promote request: the context travels, the options' trace tag does not") {
    bb::promotion p;
    p.author = "eve";
    p.ops.push_back(bb::staged_op{bb::op_kind::put, "a", 1});
    const auto ctx = act::trace_context::make_root().child();
    bb::promote_options o{"txn-1", bb::isolation::serializable};
    o.trace = act::to_trace_tag(ctx);  // the actor sets it from ctx on arrival
    auto m = round_trip(sys, caf::make_message(act::promote_atom::value, p, o, ctx));
    REQUIRE((m.match_elements<act::promote_atom, bb::promotion, bb::promote_options,
                              act::trace_context>()));
    CHECK(m.get_as<act::trace_context>(3) == ctx);
    CHECK(m.get_as<bb::promote_options>(2).txn_id == "txn-1");
    CHECK(m.get_as<bb::promote_options>(2).trace == bb::trace_tag{});
  }
  SECTION("every traced request keeps its elements and its context, empty or not") {
    const auto ctx = GENERATE(act::trace_context{}, act::trace_context::make_root().child());
    const std::uint64_t n = 3;
    std::vector<caf::message> requests{
        caf::make_message(act::read_atom::value, std::string("runs/1/a"), n, ctx),
        caf::make_message(act::list_atom::value, std::string("runs"), n, ctx),
        caf::make_message(act::revision_atom::value, ctx),
        caf::make_message(act::history_atom::value, n, n, std::string("runs"), ctx),
        caf::make_message(act::compact_atom::value, n, ctx),
        caf::make_message(act::watch_atom::value, std::string("runs"), n, n, ctx),
        caf::make_message(act::credit_atom::value, n, n, ctx),
        caf::make_message(act::unwatch_atom::value, n, ctx),
        caf::make_message(act::watches_atom::value, ctx),
    };
    for (const auto& m : requests) {
      auto m2 = round_trip(sys, m);
      INFO("request " << caf::to_string(m));
      CHECK(m2.type_token() == m.type_token());
      CHECK(m2.get_as<act::trace_context>(m2.size() - 1) == ctx);
      CHECK(caf::to_string(m2) == caf::to_string(m));
    }
  }
  SECTION("traced watch events and ends, as the blackboard actor sends them") {
    auto rec = act::to_record_data(*board->history(2, 2));
    REQUIRE(rec.size() == 1);
    const auto ctx = act::trace_context::make_root().child();
    auto ev = round_trip(
        sys, caf::make_message(act::watch_event_atom::value, std::uint64_t{5}, rec.front(), ctx));
    REQUIRE((ev.match_elements<act::watch_event_atom, std::uint64_t, act::record_data,
                               act::trace_context>()));
    CHECK(ev.get_as<act::record_data>(2) == rec.front());
    CHECK(ev.get_as<act::trace_context>(3) == ctx);
    auto why = act::to_caf_error(bb::error{bb::errc::compacted, "history below 9 is gone"});
    auto end =
        round_trip(sys, caf::make_message(act::watch_end_atom::value, std::uint64_t{5}, why, ctx));
    REQUIRE((end.match_elements<act::watch_end_atom, std::uint64_t, caf::error,
                                act::trace_context>()));
    CHECK(end.get_as<caf::error>(2) == bb::errc::compacted);
    CHECK(act::from_caf_error(end.get_as<caf::error>(2)).message == "history below 9 is gone");
    CHECK(end.get_as<act::trace_context>(3) == ctx);
  }
}

TEST_CASE("messages convert a trace context to the blackboard's trace tag and back",
          "[actors][messages]") {
  const auto ctx = act::trace_context::make_root().child();
  const bb::trace_tag tag = act::to_trace_tag(ctx);
  CHECK(tag == bb::trace_tag{ctx.trace_hi, ctx.trace_lo, ctx.span_id, ctx.parent_span_id});
  CHECK(act::from_trace_tag(tag) == ctx);
  // Empty stays empty: an untraced commit's record reads as "not traced".
  CHECK(act::to_trace_tag(act::trace_context{}) == bb::trace_tag{});
  CHECK_FALSE(act::from_trace_tag(bb::trace_tag{}).valid());
}

TEST_CASE("messages turn bad JSON text into bad_message", "[actors][messages]") {
  act::runtime rt{small_runtime()};
  auto& sys = rt.system();

  SECTION("a staged_op whose value text is not JSON fails to load, naming the key") {
    auto buf = bytes_of(sys, std::uint8_t{1}, std::string("runs/1/x"), std::string("{\"a\": "));
    bb::staged_op op;
    auto err = load(sys, buf, op);
    REQUIRE(err);
    CHECK(err == act::errc::bad_message);
    CHECK(act::render(err).find("runs/1/x") != std::string::npos);
  }
  SECTION("a staged_op with an unknown kind fails to load") {
    auto buf = bytes_of(sys, std::uint8_t{9}, std::string("k"), std::string("1"));
    bb::staged_op op;
    auto err = load(sys, buf, op);
    CHECK(err == act::errc::bad_message);
  }
  SECTION("promote_options with an unknown isolation fails to load") {
    auto buf = bytes_of(sys, std::string("t"), std::uint8_t{0});
    bb::promote_options o;
    CHECK(load(sys, buf, o) == act::errc::bad_message);
  }
  SECTION("a staged_op whose value cannot be written as JSON fails to save") {
    bb::staged_op op{bb::op_kind::put, "k", json(std::string("\xff\xfe"))};
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    CHECK(sink(op) == act::errc::bad_message);
  }
  SECTION("an entry_data with bad value text parses to bad_message") {
    act::entry_data d;
    d.key = "runs/1/y";
    d.value = "[1, 2";
    auto v = act::parse_value(d);
    REQUIRE_FALSE(v);
    CHECK(v.error() == act::errc::bad_message);
    CHECK(act::render(v.error()).find("runs/1/y") != std::string::npos);
    CHECK_FALSE(act::parse_json("nope", "a test value"));
    auto ok = act::parse_json("{\"ok\": true}", "a test value");
    REQUIRE(ok);
    CHECK(*ok == json{{"ok", true}});
  }
}
