// Reading blackboards and span files (inspect.hpp).
#include "inspect.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "commands.hpp"

namespace agora::cli {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

bb::error bad(std::string what) { return bb::error{bb::errc::invalid_argument, std::move(what)}; }

// OTLP/JSON writes 64-bit integers as decimal strings; accept numbers too.
bool read_int64(const json& j, std::int64_t& out) {
  try {
    if (j.is_number_integer()) {
      out = j.get<std::int64_t>();
      return true;
    }
    if (j.is_string()) {
      std::size_t used = 0;
      const auto& s = j.get_ref<const std::string&>();
      out = std::stoll(s, &used);
      return used == s.size() && !s.empty();
    }
  } catch (const std::exception&) {
  }
  return false;
}

std::string duration_text(std::int64_t ns) {
  char buf[64];
  if (ns < 1000000)
    std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(ns) / 1e6);
  else if (ns < 10000000000LL)
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}


}  // namespace

std::string span_record::attribute(const std::string& key) const {
  auto it = attributes.find(key);
  if (it == attributes.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

json span_record::to_json() const {
  json j = {{"traceId", trace_id}, {"spanId", span_id},   {"parentSpanId", parent_id},
            {"name", name},        {"agent", agent},      {"startTimeUnixNano", start_ns},
            {"endTimeUnixNano", end_ns}, {"durationNs", end_ns - start_ns},
            {"status", error ? "error" : "ok"}, {"attributes", attributes}, {"line", line}};
  if (!message.empty()) j["message"] = message;
  return j;
}

bb::result<span_record> parse_span(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) return bad("not JSON");
  if (!j.is_object()) return bad("not a JSON object");
  span_record s;
  auto text = [&](const char* field, std::string& out, bool required) -> bb::status {
    auto it = j.find(field);
    if (it == j.end()) {
      if (required) return bad(std::string("field '") + field + "' is missing");
      return {};
    }
    if (!it->is_string()) return bad(std::string("field '") + field + "' is not a string");
    out = it->get<std::string>();
    return {};
  };
  if (auto st = text("traceId", s.trace_id, true); !st) return st.error();
  if (auto st = text("spanId", s.span_id, true); !st) return st.error();
  if (auto st = text("parentSpanId", s.parent_id, false); !st) return st.error();
  if (auto st = text("name", s.name, true); !st) return st.error();
  if (s.span_id.empty()) return bad("field 'spanId' is empty");
  for (auto [field, out] : {std::pair<const char*, std::int64_t*>{"startTimeUnixNano", &s.start_ns},
                            {"endTimeUnixNano", &s.end_ns}}) {
    auto it = j.find(field);
    if (it == j.end()) return bad(std::string("field '") + field + "' is missing");
    if (!read_int64(*it, *out))
      return bad(std::string("field '") + field + "' is not a decimal number of nanoseconds");
  }
  if (auto st = j.find("status"); st != j.end() && st->is_object()) {
    s.error = st->value("code", std::string()) == "STATUS_CODE_ERROR";
    if (auto m = st->find("message"); m != st->end() && m->is_string()) s.message = m->get<std::string>();
  }
  if (auto attrs = j.find("attributes"); attrs != j.end()) {
    if (!attrs->is_array()) return bad("field 'attributes' is not an array");
    for (const auto& a : *attrs) {
      if (!a.is_object() || !a.contains("key") || !a["key"].is_string())
        return bad("an attribute has no string 'key'");
      const std::string key = a["key"].get<std::string>();
      const json v = a.value("value", json::object());
      json out;
      if (!v.is_object()) {
        out = v;
      } else if (v.contains("stringValue")) {
        out = v["stringValue"];
      } else if (v.contains("intValue")) {
        std::int64_t n = 0;
        out = read_int64(v["intValue"], n) ? json(n) : v["intValue"];
      } else if (v.contains("doubleValue")) {
        out = v["doubleValue"];
      } else if (v.contains("boolValue")) {
        out = v["boolValue"];
      } else {
        out = v;
      }
      s.attributes[key] = out;
    }
  }
  s.agent = s.attribute("agora.agent");
  return s;
}

bb::result<span_file> read_span_file(const std::string& path, bool strict) {
  std::ifstream in(path);
  if (!in) return bb::error{bb::errc::io_error, "cannot read spans file '" + path + "'"};
  span_file out;
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto s = parse_span(line);
    if (!s) {
      std::string what = path + ":" + std::to_string(n) + ": " + s.error().message;
      if (strict) return bad("malformed span at " + what);
      out.bad_lines.push_back(std::move(what));
      continue;
    }
    s->line = n;
    out.spans.push_back(std::move(*s));
  }
  if (in.bad()) return bb::error{bb::errc::io_error, "cannot read spans file '" + path + "'"};
  return out;
}

namespace {

// Children by parent; roots are spans whose parent is empty or unknown.
struct span_forest {
  std::map<std::string, span_link> links;
  std::vector<const span_record*> roots;
  std::map<std::string, std::vector<const span_record*>> children;
  std::set<std::string> known;
};

span_forest make_forest(const std::vector<span_record>& spans, const std::string& trace_id) {
  span_forest f;
  std::vector<span_record> kept;
  for (const auto& s : spans)
    if (trace_id.empty() || s.trace_id == trace_id) kept.push_back(s);
  f.links = link_spans(kept);
  std::map<std::string, const span_record*> by_id;
  for (const auto& s : spans)
    if (trace_id.empty() || s.trace_id == trace_id) {
      by_id.emplace(s.span_id, &s);
      f.known.insert(s.span_id);
    }
  std::vector<const span_record*> ordered;
  for (const auto& [id, s] : by_id) ordered.push_back(s);
  std::stable_sort(ordered.begin(), ordered.end(), [](const span_record* a, const span_record* b) {
    return a->trace_id != b->trace_id ? a->trace_id < b->trace_id : a->start_ns < b->start_ns;
  });
  for (const auto* s : ordered) {
    const auto& l = f.links[s->span_id];
    if (l.parent.empty())
      f.roots.push_back(s);
    else
      f.children[l.parent].push_back(s);
  }
  return f;
}

}  // namespace

std::map<std::string, span_link> link_spans(const std::vector<span_record>& spans) {
  std::map<std::string, span_link> out;
  std::set<std::string> known;
  for (const auto& s : spans) known.insert(s.span_id);
  for (const auto& s : spans) {
    span_link l;
    if (!s.parent_id.empty() && s.parent_id != s.span_id && known.count(s.parent_id)) {
      l.parent = s.parent_id;
    } else if (!s.parent_id.empty()) {
      const span_record* best = nullptr;
      for (const auto& c : spans) {
        if (c.trace_id != s.trace_id || c.span_id == s.span_id) continue;
        if (c.start_ns > s.start_ns || c.end_ns < s.end_ns) continue;
        if (c.end_ns - c.start_ns <= s.end_ns - s.start_ns) continue;  // strictly longer: no cycles
        if (!best || c.end_ns - c.start_ns > best->end_ns - best->start_ns) best = &c;
      }
      if (best) {
        l.parent = best->span_id;
        l.inferred = true;
      }
    }
    out.emplace(s.span_id, std::move(l));
  }
  return out;
}

std::string render_span_tree(const std::vector<span_record>& spans, const std::string& trace_id) {
  auto f = make_forest(spans, trace_id);
  std::ostringstream out;
  std::string current_trace;
  std::set<std::string> printed;
  std::function<void(const span_record*, int)> print = [&](const span_record* s, int depth) {
    if (!printed.insert(s->span_id).second) return;  // a cycle in a malformed file
    out << std::string(2 + 2 * static_cast<std::size_t>(depth), ' ') << s->name;
    if (!s->agent.empty()) out << " [" << s->agent << "]";
    out << " " << duration_text(s->end_ns - s->start_ns);
    out << (s->error ? " ERROR" : " ok");
    if (s->error && !s->message.empty()) out << ": " << s->message;
    for (const char* k : {"agora.run", "agora.task", "agora.attempts", "agora.revision"}) {
      auto v = s->attribute(k);
      if (!v.empty()) out << " " << (k + 6) << "=" << v;
    }
    out << " span=" << s->span_id;
    if (!s->parent_id.empty() && !f.known.count(s->parent_id))
      out << " (parent " << s->parent_id << " not recorded"
          << (f.links[s->span_id].inferred ? "; under the enclosing span)" : ")");
    out << "\n";
    auto it = f.children.find(s->span_id);
    if (it != f.children.end())
      for (const auto* c : it->second) print(c, depth + 1);
  };
  for (const auto* r : f.roots) {
    if (r->trace_id != current_trace) {
      current_trace = r->trace_id;
      out << "trace " << current_trace << "\n";
    }
    print(r, 0);
  }
  return out.str();
}

json span_tree_json(const std::vector<span_record>& spans, const std::string& trace_id) {
  auto f = make_forest(spans, trace_id);
  std::set<std::string> done;
  std::function<json(const span_record*)> node = [&](const span_record* s) {
    json j = s->to_json();
    j["children"] = json::array();
    if (f.links[s->span_id].inferred) j["parentInferred"] = f.links[s->span_id].parent;
    if (!done.insert(s->span_id).second) return j;
    auto it = f.children.find(s->span_id);
    if (it != f.children.end())
      for (const auto* c : it->second) j["children"].push_back(node(c));
    return j;
  };
  json out = json::array();
  for (const auto* r : f.roots) out.push_back(node(r));
  return out;
}

bb::result<std::shared_ptr<bb::blackboard>> open_data_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return bad("'" + dir + "' is not a directory (expected a data directory with " + board_file + ")");
  const std::string path = (fs::path(dir) / board_file).string();
  if (!fs::is_regular_file(path, ec))
    return bad("'" + dir + "' has no " + board_file + " (is it the --data directory of a run?)");
  bb::durability d;
  d.path = path;
  // This process only reads: `normal` keeps it from forcing syncs of its own.
  d.sync = bb::sync_mode::normal;
  return bb::blackboard::open(d);
}

std::vector<std::string> list_runs(const bb::blackboard& board) {
  std::vector<std::string> out;
  auto all = board.snapshot().list("runs");
  if (!all) return out;
  for (const auto& e : *all) {
    const std::string& k = e.key();  // runs/<id>/meta
    if (k.size() > 10 && k.compare(k.size() - 5, 5, "/meta") == 0) {
      std::string id = k.substr(5, k.size() - 10);
      if (id.find('/') == std::string::npos) out.push_back(id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bb::result<std::vector<bb::txn_record>> key_versions(const bb::blackboard& board, const std::string& key) {
  const std::uint64_t from = std::max<std::uint64_t>(1, board.compact_revision());
  std::vector<bb::txn_record> out;
  if (board.revision() >= from) {
    auto h = board.history(from, board.revision(), key);
    if (!h) return h.error();
    for (auto& rec : *h) {
      std::vector<bb::change> mine;
      for (auto& c : rec.changes)
        if (c.after.key() == key) mine.push_back(c);
      if (mine.empty()) continue;
      rec.changes = std::move(mine);
      out.push_back(std::move(rec));
    }
  }
  if (out.empty()) {
    // Compacted away, or never written: the current state tells them apart.
    auto now = board.get(key);
    if (!now) return now.error();
    if (now->exists()) {
      bb::txn_record rec;
      rec.revision = now->mod_revision();
      rec.author = now->author();
      rec.changes.push_back(bb::change{bb::op_kind::put, *now});
      out.push_back(std::move(rec));  // its history is compacted: no time, no txn id
      return out;
    }
    return bad("key '" + key + "' was never written (revisions " + std::to_string(from) + ".." +
               std::to_string(board.revision()) + ")");
  }
  return out;
}

std::string format_time_us(std::int64_t us) {
  if (us <= 0) return "-";
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>((us / 1000) % 1000));
  return out;
}

}  // namespace agora::cli
