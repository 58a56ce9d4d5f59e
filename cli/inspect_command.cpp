// `agora inspect DIR|TRACE.jsonl`: a data directory's blackboard (summary,
// history, a key's versions, time travel, a run's transcript) or a spans
// file as a tree (inspect.hpp).
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agora/agents/run.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "inspect.hpp"

namespace agora::cli {

namespace {

using json = nlohmann::json;

const command_spec& inspect_spec() {
  static const command_spec spec{
      "inspect",
      "agora inspect DIR|TRACE.jsonl [options]",
      "Shows what a run left behind. On a data directory DIR (DIR/blackboard.db):\n"
      "without options a summary (revision, compaction point, keys, runs and their\n"
      "status); --history the commits; --key a key's versions; --at REV the state\n"
      "at a past revision (time travel); --run R a run's transcript. On a spans\n"
      "file (JSON lines): the span tree, indented by parent. Only reads: it may run\n"
      "while `agora serve --data DIR` has the blackboard open, and then sees what\n"
      "was committed when it started.",
      {{"history", "", "one line per commit: revision, time, author, txn id, keys"},
       {"prefix", "P", "only keys under P (with --history, --at)"},
       {"from", "REV", "first revision (--history; default the oldest kept)"},
       {"to", "REV", "last revision (--history; default the latest)"},
       {"limit", "N", "at most N commits (--history)"},
       {"key", "K", "every version of key K: revision, author, time, value"},
       {"at", "REV", "the state at revision REV (with --prefix: under P)"},
       {"run", "R", "run R's transcript"},
       {"trace-id", "ID", "spans file: only the trace with this id"},
       {"json", "", "machine-readable output"}},
      {"DIR|TRACE.jsonl"},
      1,
      1,
      "examples:\n"
      "  agora inspect run1\n"
      "  agora inspect run1 --history --prefix runs/q1 --limit 20\n"
      "  agora inspect run1 --key runs/q1/round/1\n"
      "  agora inspect run1 --at 12 --prefix runs/q1\n"
      "  agora inspect run1 --run q1\n"
      "  agora inspect run1/spans.jsonl --trace-id 5bf8375f1bbbf6d02453ea4177defc62\n"
      "exit codes: 0 shown; 2 bad command line, no blackboard in DIR, a key never\n"
      "written, a revision out of range or compacted, an unknown run, a malformed\n"
      "span line (named by line number); 3 the blackboard could not be read.\n"};
  return spec;
}

int fail(int code, const std::string& what) {
  std::cerr << "agora inspect: " << what << "\n";
  return code;
}

int fail(const bb::error& e) {
  const bool input = e.code != bb::errc::io_error && e.code != bb::errc::corrupt;
  return fail(input ? exit_usage : exit_error, e.message.empty() ? bb::to_string(e) : e.message);
}

bb::result<std::uint64_t> u64_option(const parsed_args& a, const std::string& name, std::uint64_t fallback) {
  auto v = a.get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
  if (v->empty() || (*v)[0] == '-' || end != v->c_str() + v->size() || errno != 0)
    return bb::error{bb::errc::invalid_argument,
                     "option '--" + name + "': expected a whole number, got '" + *v + "'"};
  return static_cast<std::uint64_t>(n);
}

std::string value_text(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string keys_of(const bb::txn_record& r) {
  std::string keys;
  for (const auto& c : r.changes) {
    keys += keys.empty() ? "" : " ";
    keys += c.after.key();
    if (c.kind != bb::op_kind::put) keys += std::string("(") + bb::to_string(c.kind) + ")";
  }
  return keys;
}

json record_json(const bb::txn_record& r, bool values) {
  json keys = json::array();
  for (const auto& c : r.changes) {
    json k = {{"key", c.after.key()}, {"op", bb::to_string(c.kind)}, {"version", c.after.version()}};
    if (values) k["value"] = c.after.exists() ? c.after.value() : json();
    keys.push_back(std::move(k));
  }
  return {{"revision", r.revision}, {"time_us", r.time_us}, {"time", format_time_us(r.time_us)},
          {"author", r.author},     {"txn_id", r.txn_id},   {"changes", keys}};
}

// A revision a read is asked at: within [compaction point, latest].
bb::status check_revision(const bb::blackboard& board, std::uint64_t rev, const char* option) {
  const std::uint64_t lo = std::max<std::uint64_t>(1, board.compact_revision());
  if (rev > board.revision())
    return bb::error{bb::errc::invalid_argument, std::string("--") + option + " " + std::to_string(rev) +
                                                      " is beyond the latest revision " +
                                                      std::to_string(board.revision())};
  if (rev < lo)
    return bb::error{bb::errc::invalid_argument,
                     std::string("--") + option + " " + std::to_string(rev) +
                         (rev == 0 ? " is not a revision" : " is compacted") + " (revisions " +
                         std::to_string(lo) + ".." + std::to_string(board.revision()) + " can be read)"};
  return {};
}

int summary(const std::string& dir, const bb::blackboard& board, bool as_json) {
  auto snap = board.snapshot();
  auto all = snap.list("");
  if (!all) return fail(all.error());
  json runs = json::array();
  for (const auto& r : list_runs(board)) {
    json j = {{"run", r}};
    auto meta = snap.get(run_keys::meta(r));
    if (meta && meta->exists() && meta->value().is_object())
      j["pattern"] = meta->value().value("pattern", json());
    auto res = snap.get(run_keys::result(r));
    if (res && res->exists() && res->value().is_object()) {
      j["status"] = res->value().value("status", json("?"));
      j["rounds"] = res->value().value("rounds", json());
      j["answer"] = res->value().value("answer", json());
    } else {
      j["status"] = "unfinished";
    }
    runs.push_back(std::move(j));
  }
  if (as_json) {
    std::cout << json{{"dir", dir},
                      {"revision", board.revision()},
                      {"compact_revision", board.compact_revision()},
                      {"keys", all->size()},
                      {"runs", runs}}
                     .dump(2, ' ', false, json::error_handler_t::replace)
              << "\n";
    return exit_ok;
  }
  std::cout << dir << "/" << board_file << "\n"
            << "  revision " << board.revision() << ", compaction point " << board.compact_revision()
            << ", " << all->size() << " keys\n";
  if (runs.empty()) std::cout << "  no runs\n";
  for (const auto& r : runs) {
    std::cout << "  run " << r["run"].get<std::string>() << ": " << value_text(r.value("pattern", json("?")))
              << ", " << r["status"].get<std::string>();
    if (r.contains("rounds")) std::cout << " after " << value_text(r["rounds"]) << " round(s)";
    if (r.contains("answer") && !r["answer"].is_null()) std::cout << ", answer " << value_text(r["answer"]);
    std::cout << "\n";
  }
  return exit_ok;
}

int history(const bb::blackboard& board, const parsed_args& a, bool as_json) {
  const std::uint64_t lo = std::max<std::uint64_t>(1, board.compact_revision());
  auto from = u64_option(a, "from", lo);
  if (!from) return fail(from.error());
  auto to = u64_option(a, "to", board.revision());
  if (!to) return fail(to.error());
  auto limit = u64_option(a, "limit", 0);
  if (!limit) return fail(limit.error());
  if (board.revision() == 0) {
    if (as_json) std::cout << "[]\n";
    return exit_ok;
  }
  if (auto st = check_revision(board, *from, "from"); !st) return fail(st.error());
  if (a.has("to"))
    if (auto st = check_revision(board, *to, "to"); !st) return fail(st.error());
  if (*from > *to)
    return fail(exit_usage, "--from " + std::to_string(*from) + " is after --to " + std::to_string(*to));
  auto h = board.history(*from, *to, a.get_or("prefix", ""));
  if (!h) return fail(h.error());
  std::size_t n = h->size();
  if (*limit && *limit < n) n = static_cast<std::size_t>(*limit);
  if (as_json) {
    json out = json::array();
    for (std::size_t i = 0; i < n; ++i) out.push_back(record_json((*h)[i], false));
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return exit_ok;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = (*h)[i];
    std::cout << "rev " << r.revision << "  " << format_time_us(r.time_us) << "  " << r.author << "  txn "
              << (r.txn_id.empty() ? "-" : r.txn_id) << "  " << keys_of(r) << "\n";
  }
  if (n < h->size())
    std::cout << "... " << (h->size() - n) << " more (--from " << (*h)[n].revision << ")\n";
  return exit_ok;
}

int key(const bb::blackboard& board, const std::string& k, bool as_json) {
  auto v = key_versions(board, k);
  if (!v) return fail(v.error());
  if (as_json) {
    json out = json::array();
    for (const auto& r : *v) {
      const auto& c = r.changes.front();
      out.push_back({{"revision", r.revision},
                     {"time_us", r.time_us},
                     {"time", format_time_us(r.time_us)},
                     {"author", c.after.author()},
                     {"txn_id", r.txn_id},
                     {"op", bb::to_string(c.kind)},
                     {"version", c.after.version()},
                     {"exists", c.after.exists()},
                     {"value", c.after.exists() ? c.after.value() : json()}});
    }
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return exit_ok;
  }
  for (const auto& r : *v) {
    const auto& c = r.changes.front();
    std::cout << "rev " << r.revision << "  " << format_time_us(r.time_us) << "  " << c.after.author()
              << "  " << bb::to_string(c.kind) << "  "
              << (c.after.exists() ? value_text(c.after.value()) : std::string("(erased)")) << "\n";
  }
  return exit_ok;
}

int at(const bb::blackboard& board, const parsed_args& a, bool as_json) {
  auto rev = u64_option(a, "at", 0);
  if (!rev) return fail(rev.error());
  if (auto st = check_revision(board, *rev, "at"); !st) return fail(st.error());
  auto snap = board.snapshot_at(*rev);
  if (!snap) return fail(snap.error());
  auto entries = snap->list(a.get_or("prefix", ""));
  if (!entries) return fail(entries.error());
  if (as_json) {
    json out = json::object();
    for (const auto& e : *entries)
      out[e.key()] = {{"value", e.value()}, {"revision", e.mod_revision()}, {"author", e.author()}, {"version", e.version()}};
    std::cout << json{{"revision", *rev}, {"keys", out}}.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return exit_ok;
  }
  std::cout << "state at revision " << *rev << " (" << entries->size() << " keys)\n";
  for (const auto& e : *entries)
    std::cout << e.key() << " = " << value_text(e.value()) << "  (rev " << e.mod_revision() << ", "
              << e.author() << ")\n";
  return exit_ok;
}

int run_transcript(const bb::blackboard& board, const std::string& run, bool as_json) {
  auto t = transcript(board, run);
  if (!t) {
    std::string runs;
    for (const auto& r : list_runs(board)) runs += (runs.empty() ? "" : ", ") + r;
    return fail(exit_usage, "no run '" + run + "' on this blackboard; runs: " + (runs.empty() ? "(none)" : runs));
  }
  if (as_json) {
    auto res = board.get(run_keys::result(run));
    json out = {{"run", run}, {"transcript", *t}};
    out["result"] = res && res->exists() ? res->value() : json();
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    std::cout << *t;
  }
  return exit_ok;
}

int trace(const std::string& path, const parsed_args& a, bool as_json) {
  for (const char* o : {"history", "prefix", "from", "to", "limit", "key", "at", "run"})
    if (a.has(o))
      return fail(exit_usage, std::string("--") + o + " needs a data directory; '" + path +
                                  "' is a spans file");
  {
    // A blackboard file given instead of its directory: say so, not "line 1 is not JSON".
    std::ifstream in(path, std::ios::binary);
    char head[16] = {};
    in.read(head, sizeof head);
    if (in.gcount() == sizeof head && std::string(head, sizeof head) == std::string("SQLite format 3\0", 16))
      return fail(exit_usage, "'" + path + "' is a blackboard file; give its directory: agora inspect " +
                                  std::filesystem::path(path).parent_path().string());
  }
  auto f = read_span_file(path, true);
  if (!f) return fail(f.error());
  const std::string id = a.get_or("trace-id", "");
  if (!id.empty()) {
    bool found = false;
    for (const auto& s : f->spans) found = found || s.trace_id == id;
    if (!found) return fail(exit_usage, "no trace '" + id + "' in '" + path + "'");
  }
  if (as_json)
    std::cout << span_tree_json(f->spans, id).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  else
    std::cout << render_span_tree(f->spans, id);
  return exit_ok;
}

}  // namespace

int inspect_command(const std::vector<std::string>& args) {
  const command_spec& spec = inspect_spec();
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, args, parsed)) return *done;
  const parsed_args* a = &parsed;
  const std::string target = a->positionals.at(0);
  const bool as_json = a->has("json");
  std::error_code ec;
  if (std::filesystem::is_regular_file(target, ec)) return trace(target, *a, as_json);
  if (!std::filesystem::exists(target, ec))
    return fail(exit_usage, "'" + target + "' does not exist (expected a data directory or a spans file)");
  if (a->has("trace-id")) return fail(exit_usage, "--trace-id needs a spans file; '" + target + "' is a directory");
  int modes = 0;
  for (const char* m : {"history", "key", "at", "run"}) modes += a->has(m) ? 1 : 0;
  if (modes > 1) return fail(exit_usage, "choose one of --history, --key, --at, --run");
  for (const char* o : {"from", "to", "limit"})
    if (a->has(o) && !a->has("history")) return fail(exit_usage, std::string("--") + o + " goes with --history");
  if (a->has("prefix") && !a->has("history") && !a->has("at"))
    return fail(exit_usage, "--prefix goes with --history or --at");
  auto board = open_data_dir(target);
  if (!board) return fail(board.error());
  if (a->has("history")) return history(**board, *a, as_json);
  if (auto k = a->get("key")) return key(**board, *k, as_json);
  if (a->has("at")) return at(**board, *a, as_json);
  if (auto r = a->get("run")) return run_transcript(**board, *r, as_json);
  return summary(target, **board, as_json);
}

}  // namespace agora::cli
