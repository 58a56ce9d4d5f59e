#include "agora/actors/errors.hpp"

#include <string_view>
#include <utility>

#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/pec.hpp>
#include <caf/sec.hpp>

namespace agora::actors {

namespace {

using conflict_list = std::vector<bb::key_conflict>;

bool known_bb_code(std::uint8_t code) noexcept {
  // bb::to_string names every code it knows; asking it keeps this mapping
  // right when the blackboard layer adds codes.
  return code != 0 && std::string_view(bb::to_string(static_cast<bb::errc>(code))) !=
                          std::string_view("unknown_error");
}

bool known_actors_code(std::uint8_t code) noexcept {
  return code != 0 && std::string_view(to_string(static_cast<errc>(code))) != "unknown";
}

std::string render_context(const caf::message& ctx) {
  if (ctx.empty()) return {};
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
  return caf::to_string(ctx);
}

std::string with_context(std::string head, const caf::message& ctx) {
  auto text = render_context(ctx);
  if (!text.empty()) {
    head += ": ";
    head += text;
  }
  return head;
}

std::string render_blackboard(std::uint8_t code, caf::atom_value, const caf::message& ctx) {
  caf::error err{code, blackboard_category, ctx};
  return bb::to_string(from_caf_error(err));
}

std::string render_actors(std::uint8_t code, caf::atom_value, const caf::message& ctx) {
  std::string head = known_actors_code(code)
                         ? std::string(to_string(static_cast<errc>(code)))
                         : "agora_act error " + std::to_string(code);
  return with_context(std::move(head), ctx);
}

}  // namespace

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::timeout: return "timeout";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::agent_failed: return "agent_failed";
    case errc::circuit_open: return "circuit_open";
    case errc::no_agent: return "no_agent";
    case errc::cancelled: return "cancelled";
    case errc::bad_message: return "bad_message";
    case errc::join_refused: return "join_refused";
    case errc::node_lost: return "node_lost";
    case errc::unknown_watch: return "unknown_watch";
    case errc::internal: return "internal";
  }
  return "unknown";
}

caf::error to_caf_error(const bb::error& e) {
  // The context always has the same eight elements, so that the other side
  // can take it apart without guessing: message, key, path, conflicts,
  // origin, origin_code, retryable, retry_after in ms (-1: none).
  const std::int64_t after = e.retry_after ? static_cast<std::int64_t>(e.retry_after->count()) : -1;
  return caf::error{static_cast<std::uint8_t>(e.code), blackboard_category,
                    caf::make_message(e.message, e.key, e.path, e.conflicts, e.origin, e.origin_code,
                                      e.retryable, after)};
}

bool is_blackboard_error(const caf::error& err) noexcept {
  return err && err.category() == blackboard_category;
}

bb::error from_caf_error(const caf::error& err) {
  if (!err) return bb::error{bb::errc::invalid_argument, "no error"};
  if (err.category() != blackboard_category)
    return bb::error{bb::errc::invalid_argument, render(err)};
  bb::error out;
  const std::uint8_t code = err.code();
  if (known_bb_code(code)) {
    out.code = static_cast<bb::errc>(code);
  } else {
    out.code = bb::errc::invalid_argument;
    out.message = "unknown blackboard error code " + std::to_string(code);
  }
  const caf::message& ctx = err.context();
  const bool full = ctx.match_elements<std::string, std::string, std::string, conflict_list, std::string,
                                       std::string, bool, std::int64_t>();
  // The four elements every version sends; the other four since the retry hint.
  if (full || ctx.match_elements<std::string, std::string, std::string, conflict_list>()) {
    std::string text = ctx.get_as<std::string>(0);
    if (out.message.empty())
      out.message = std::move(text);
    else if (!text.empty())
      out.message += ": " + text;
    out.key = ctx.get_as<std::string>(1);
    out.path = ctx.get_as<std::string>(2);
    out.conflicts = ctx.get_as<conflict_list>(3);
    if (full) {
      out.origin = ctx.get_as<std::string>(4);
      out.origin_code = ctx.get_as<std::string>(5);
      out.retryable = ctx.get_as<bool>(6);
      if (const auto after = ctx.get_as<std::int64_t>(7); after >= 0)
        out.retry_after = std::chrono::milliseconds(after);
    }
  } else if (auto text = render_context(ctx); !text.empty()) {
    // Built by someone else's make_error: keep whatever it says.
    out.message = out.message.empty() ? std::move(text) : out.message + ": " + text;
  }
  return out;
}

std::string render(const caf::error& err) {
  if (!err) return {};
  const auto cat = err.category();
  const auto code = err.code();
  const auto& ctx = err.context();
  if (cat == blackboard_category) return render_blackboard(code, cat, ctx);
  if (cat == actors_category) return render_actors(code, cat, ctx);
  if (cat == caf::atom("system"))
    return with_context("system: " + caf::to_string(static_cast<caf::sec>(code)), ctx);
  if (cat == caf::atom("exit"))
    return with_context("exit: " + caf::to_string(static_cast<caf::exit_reason>(code)), ctx);
  if (cat == caf::atom("parser"))
    return with_context("parser: " + caf::to_string(static_cast<caf::pec>(code)), ctx);
  return caf::to_string(err);
}

void add_error_categories(caf::actor_system_config& cfg) {
  cfg.add_error_category(blackboard_category, render_blackboard);
  cfg.add_error_category(actors_category, render_actors);
}

bool operator==(const caf::error& err, errc code) noexcept {
  return err && err.category() == actors_category &&
         err.code() == static_cast<std::uint8_t>(code);
}

}  // namespace agora::actors

namespace agora::bb {

bool operator==(const caf::error& err, errc code) noexcept {
  return err && err.category() == actors::blackboard_category &&
         err.code() == static_cast<std::uint8_t>(code);
}

}  // namespace agora::bb
