// The HTML report of a run (report.hpp).
//
// The page is built in two layers: the parts a reader needs even without
// JavaScript (header, a review's findings, votes, result, conflicts, span
// tree, commits, transcript) are HTML rendered here, every run-provided text through
// html_escape(); the timeline is SVG drawn by the inline script from the
// JSON data block. The data block is JSON with '<', '>' and '&' written as
// \u escapes, so no text from the run can close the <script> element; the
// script builds the SVG with createElementNS/textContent, never from
// markup. The Content-Security-Policy allows no network at all and only
// the script carrying this page's nonce: even a text that slipped through
// could not run.
#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

#include "agora/agents/run.hpp"
#include "agora/blackboard/blackboard.hpp"
#include "inspect.hpp"

namespace agora::cli {

namespace {

namespace fs = std::filesystem;

std::string text_of(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

// JSON for the data block: '<', '>', '&' and the line separators escaped
// (they only occur inside strings, where \u escapes mean the same).
std::string script_json(const json& j) {
  const std::string raw = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(raw.size() + raw.size() / 16);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else if (c == '\xE2' && i + 2 < raw.size() && raw[i + 1] == '\x80' &&
             (raw[i + 2] == '\xA8' || raw[i + 2] == '\xA9')) {
      out += raw[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else out += c;
  }
  return out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string seconds_text(std::int64_t us) {
  if (us < 0) return "-";
  if (us < 1000000) return fixed(static_cast<double>(us) / 1000.0, 1) + " ms";
  if (us < 120000000) return fixed(static_cast<double>(us) / 1e6, 2) + " s";
  return fixed(static_cast<double>(us) / 6e7, 1) + " min";
}

std::string make_nonce() {
  std::random_device rd;
  std::string out;
  const char* digits = "0123456789abcdef";
  for (int i = 0; i < 24; ++i) out += digits[rd() % 16];
  return out;
}

// --- what the run left on the board ----------------------------------------------

struct gathered {
  json data = json::object();  // the data block
  json meta;
  json result;                 // null while the run goes on
  std::vector<json> rounds;    // round records, 1-based in order
  std::vector<json> contributions;
  std::vector<json> problems;  // failures, missing, late, conflicts
  std::vector<span_record> spans;
  std::vector<std::string> bad_span_lines;
  std::vector<json> commits;
  std::string transcript;
  std::int64_t start_us = 0, end_us = 0;
  json review;                 // runs/<run>/review (a review's outcome), null for other runs
};

bb::error no_run(const bb::blackboard& board, const std::string& run) {
  auto runs = list_runs(board);
  std::string list;
  for (const auto& r : runs) list += (list.empty() ? "" : ", ") + r;
  return bb::error{bb::errc::invalid_argument,
                   "no run '" + run + "' on this blackboard; runs: " + (list.empty() ? "(none)" : list)};
}

bb::result<gathered> gather(const report_input& in) {
  if (!in.board) return bb::error{bb::errc::invalid_argument, "report: no blackboard given"};
  const bb::blackboard& board = *in.board;
  const std::string& run = in.run_id;
  gathered g;
  auto snap = board.snapshot();
  auto meta = snap.get(run_keys::meta(run));
  if (!meta) return meta.error();
  if (!meta->exists()) return no_run(board, run);
  g.meta = meta->value();

  // Commit times and authors: the history under runs/<run>.
  std::map<std::uint64_t, std::int64_t> commit_time;  // revision -> commit time
  const std::uint64_t from = std::max<std::uint64_t>(1, board.compact_revision());
  if (snap.revision() >= from) {
    auto h = board.history(from, snap.revision(), run_keys::root(run));
    if (!h) return h.error();
    for (const auto& rec : *h) {
      commit_time[rec.revision] = rec.time_us;
      json keys = json::array();
      for (const auto& c : rec.changes)
        keys.push_back({{"key", c.after.key()}, {"op", bb::to_string(c.kind)}});
      g.commits.push_back({{"rev", rec.revision},
                           {"time_us", rec.time_us},
                           {"author", rec.author},
                           {"txn", rec.txn_id},
                           {"keys", keys}});
    }
  }
  auto time_of = [&](std::uint64_t rev) -> json {
    auto it = commit_time.find(rev);
    return it == commit_time.end() ? json() : json(it->second);
  };
  if (auto t = time_of(meta->mod_revision()); !t.is_null()) g.start_us = t.get<std::int64_t>();

  // Spans: every trace that has a span of this run (by agora.run).
  if (!in.spans_path.empty()) {
    auto sf = read_span_file(in.spans_path, false);
    if (!sf) return sf.error();
    std::set<std::string> traces;
    for (const auto& s : sf->spans)
      if (s.attribute("agora.run") == run) traces.insert(s.trace_id);
    for (auto& s : sf->spans)
      if (traces.count(s.trace_id)) g.spans.push_back(std::move(s));
    g.bad_span_lines = std::move(sf->bad_lines);
  }
  // The task span that committed a revision, by agent and revision.
  std::map<std::pair<std::string, std::int64_t>, const span_record*> span_by_commit;
  for (const auto& s : g.spans) {
    auto it = s.attributes.find("agora.revision");
    if (it != s.attributes.end() && it->is_number_integer())
      span_by_commit[{s.agent, it->get<std::int64_t>()}] = &s;
  }

  // Round records.
  for (std::uint32_t r = 1;; ++r) {
    auto rec = snap.get(run_keys::round(run, r));
    if (!rec || !rec->exists()) break;
    json j = rec->value().is_object() ? rec->value() : json::object();
    j["_revision"] = rec->mod_revision();
    j["_time_us"] = time_of(rec->mod_revision());
    g.rounds.push_back(std::move(j));
  }

  // Contributions: runs/<run>/answers/<round>/<member>.
  const std::string answers_prefix = run_keys::root(run) + "/answers/";
  auto answers = snap.list(run_keys::root(run) + "/answers");
  if (!answers) return answers.error();
  for (const auto& e : *answers) {
    std::string rest = e.key().substr(answers_prefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    std::uint32_t round = 0;
    try {
      round = static_cast<std::uint32_t>(std::stoul(rest.substr(0, slash)));
    } catch (const std::exception&) {
      continue;
    }
    const std::string who = rest.substr(slash + 1);
    json c = {{"agent", who},          {"round", round},
              {"answer", e.value()},   {"rev", e.mod_revision()},
              {"time_us", time_of(e.mod_revision())}, {"author", e.author()}};
    if (auto u = snap.get(run_keys::root(run) + "/usage/" + std::to_string(round) + "/" + who);
        u && u->exists() && u->value().is_object()) {
      c["tokens"] = u->value().value("tokens", json());
      c["cost_usd"] = u->value().value("cost_usd", json());
    }
    auto late = snap.get(run_keys::root(run) + "/late/" + std::to_string(round) + "/" + who);
    c["late"] = late && late->exists();
    if (c["late"].get<bool>() && late->value().is_object())
      c["late_by_ms"] = late->value().value("late_by_ms", json());
    bool counted = false;
    if (round >= 1 && round <= g.rounds.size()) {
      const json& rr = g.rounds[round - 1];
      auto a = rr.find("answers");
      counted = a != rr.end() && a->is_object() && a->contains(who);
    }
    c["counted"] = counted;
    auto sp = span_by_commit.find({who, static_cast<std::int64_t>(e.mod_revision())});
    if (sp != span_by_commit.end()) {
      c["span"] = sp->second->span_id;
      c["start_ns"] = sp->second->start_ns;
      c["end_ns"] = sp->second->end_ns;
      auto att = sp->second->attributes.find("agora.attempts");
      if (att != sp->second->attributes.end() && att->is_number_integer()) c["attempts"] = *att;
    }
    g.contributions.push_back(std::move(c));
  }

  // Problems: failures and missing members (round records), late answers,
  // retried or failed task spans.
  for (std::size_t i = 0; i < g.rounds.size(); ++i) {
    const json& rr = g.rounds[i];
    const auto round = static_cast<std::uint32_t>(i + 1);
    if (auto f = rr.find("failed"); f != rr.end() && f->is_object())
      for (const auto& [who, why] : f->items())
        g.problems.push_back({{"round", round}, {"agent", who}, {"kind", "failed"}, {"detail", text_of(why)}});
    if (auto m = rr.find("missing"); m != rr.end() && m->is_array())
      for (const auto& who : *m) {
        bool late = false;
        for (const auto& c : g.contributions)
          if (c["round"] == round && c["agent"] == who && c["late"].get<bool>()) late = true;
        g.problems.push_back({{"round", round},
                              {"agent", text_of(who)},
                              {"kind", late ? "late" : "no answer"},
                              {"detail", late ? "answered after the round closed: recorded, not counted"
                                              : "no answer before the round closed"}});
      }
  }
  for (const auto& s : g.spans) {
    auto att = s.attributes.find("agora.attempts");
    const std::int64_t attempts =
        att != s.attributes.end() && att->is_number_integer() ? att->get<std::int64_t>() : 1;
    const std::string task = s.attribute("agora.task");
    if (attempts > 1)
      g.problems.push_back({{"round", json()},
                            {"agent", s.agent},
                            {"kind", "retried"},
                            {"detail", "task " + task + " ran " + std::to_string(attempts) +
                                           " times: its promotion conflicted " +
                                           std::to_string(attempts - 1) + " time(s)"},
                            {"span", s.span_id}});
    if (s.error)
      g.problems.push_back({{"round", json()},
                            {"agent", s.agent},
                            {"kind", "span error"},
                            {"detail", s.name + (task.empty() ? "" : " " + task) + ": " + s.message},
                            {"span", s.span_id}});
  }

  auto res = snap.get(run_keys::result(run));
  if (res && res->exists()) g.result = res->value();
  // A review's outcome (cli/review: record_result writes to_json(review_report) there).
  if (auto rv = snap.get(run_keys::root(run) + "/review"); rv && rv->exists() && rv->value().is_object())
    g.review = rv->value();
  auto tr = transcript(board, run);
  g.transcript = tr ? *tr : "(no transcript: " + tr.error().message + ")";

  // The run's span of time: first to last commit, widened by its spans.
  g.end_us = g.start_us;
  for (const auto& c : g.commits) g.end_us = std::max(g.end_us, c["time_us"].get<std::int64_t>());
  if (g.start_us == 0 && !g.commits.empty()) g.start_us = g.commits.front()["time_us"].get<std::int64_t>();

  json spans = json::array();
  auto links = link_spans(g.spans);
  for (const auto& s : g.spans) {
    json j = s.to_json();
    const auto& l = links[s.span_id];
    j["shownUnder"] = l.parent;
    j["parentInferred"] = l.inferred;
    spans.push_back(std::move(j));
  }
  json members = g.meta.value("members", json::array());
  // Members that contributed without being listed (should not happen) get a lane too.
  for (const auto& c : g.contributions)
    if (std::find(members.begin(), members.end(), c["agent"]) == members.end()) members.push_back(c["agent"]);
  json rounds = json::array();
  for (const auto& r : g.rounds) rounds.push_back(r);
  g.data = {{"run", run},
            {"meta", g.meta},
            {"members", members},
            {"rounds", rounds},
            {"contributions", g.contributions},
            {"problems", g.problems},
            {"spans", spans},
            {"result", g.result},
            {"result_time_us", res && res->exists() ? time_of(res->mod_revision()) : json()},
            {"start_us", g.start_us},
            {"end_us", g.end_us}};
  return g;
}

// --- the page ----------------------------------------------------------------------

const char* const page_css = R"CSS(
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--muted:#5f6b7a;--line:#dde2e8;--accent:#2f6fde;
--ok:#1f9d55;--warn:#d98a00;--bad:#d64545;--band:#eef2f8;--band2:#f8f9fb;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 60px}
header.top{background:linear-gradient(135deg,#1e2a44,#2f4f8f);color:#fff;padding:26px 28px 22px}
header.top .inner{max-width:1200px;margin:0 auto}
header.top h1{margin:0 0 4px;font-size:24px;font-weight:650;letter-spacing:.2px}
header.top .sub{color:#c9d6ef;font-size:13px}
.badge{display:inline-block;padding:2px 9px;border-radius:999px;font-size:12px;font-weight:600;vertical-align:middle;margin-left:8px}
.badge.settled{background:#d7f5e3;color:#11693a}.badge.fallback{background:#fff1d6;color:#8a5a00}
.badge.escalated,.badge.failed{background:#fde0e0;color:#9b1c1c}.badge.running{background:#e3ecfd;color:#1f4fa8}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px;margin-top:18px}
.card{background:rgba(255,255,255,.1);border:1px solid rgba(255,255,255,.18);border-radius:10px;padding:10px 12px}
.card .k{font-size:11px;text-transform:uppercase;letter-spacing:.6px;color:#b8c7e6}
.card .v{font-size:18px;font-weight:600;margin-top:2px;word-break:break-word}
.card.wide{grid-column:1/-1}.card.wide .v{font-size:14px;font-weight:500}
nav.toc{margin:14px 0 0;font-size:13px}nav.toc a{color:#dfe8fb;margin-right:14px;text-decoration:none}
nav.toc a:hover{text-decoration:underline}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 20px;margin-top:18px}
section h2{margin:0 0 12px;font-size:17px}
section h3{margin:16px 0 8px;font-size:14px;color:var(--muted)}
.muted{color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:11px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.answer{font-family:var(--mono);font-size:12.5px;white-space:pre-wrap;word-break:break-word}
.bar{height:10px;border-radius:5px;background:#e5eaf2;min-width:120px;position:relative}
.bar>span{position:absolute;left:0;top:0;bottom:0;border-radius:5px;background:var(--accent)}
tr.winner .bar>span{background:var(--ok)}
tr.winner td:first-child{font-weight:600}
.rounds{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:14px}
.round{border:1px solid var(--line);border-radius:10px;padding:10px 12px}
.round h3{margin:0 0 6px;color:var(--ink)}
.progress{display:flex;gap:6px;align-items:flex-end;margin:6px 0 14px;flex-wrap:wrap}
.progress .step{flex:1;min-width:90px;background:var(--band2);border:1px solid var(--line);border-radius:8px;padding:8px}
.progress .step .pct{font-size:18px;font-weight:650}
.chip{display:inline-block;background:#eef2f8;border-radius:6px;padding:1px 7px;margin:1px 3px 1px 0;font-size:12px}
.chip.bad{background:#fde0e0;color:#9b1c1c}.chip.warn{background:#fff1d6;color:#8a5a00}.chip.ok{background:#d7f5e3;color:#11693a}
.result-answer{font-family:var(--mono);font-size:16px;background:#f1f7f3;border:1px solid #cfe9d8;border-radius:8px;padding:12px 14px;white-space:pre-wrap;word-break:break-word}
#timeline-chart{overflow-x:auto}
#timeline-chart svg{display:block;font:12px system-ui,sans-serif}
svg .band{fill:var(--band)}svg .band.alt{fill:var(--band2)}
svg .band-label{fill:#3b4a63;font-weight:600}
svg .lane-label{fill:var(--ink);font-weight:600}
svg .lane-line{stroke:var(--line)}
svg .tick{fill:var(--muted);font-size:10.5px}
svg .close-line{stroke:#8da2c4;stroke-dasharray:3 3}
svg .dur{fill:#9bbcf2;opacity:.85}svg .dur.late{fill:#f5c46b}
svg .dot{fill:var(--accent);stroke:#fff;stroke-width:1.5}svg .dot.final{fill:var(--ok)}svg .dot.late{fill:var(--warn)}
svg .fail{stroke:var(--bad);stroke-width:2.5}
svg .tok{fill:var(--muted);font-size:10.5px}
svg .retry{fill:var(--bad);font-size:10.5px;font-weight:600}
svg .result-flag{fill:var(--ok)}
.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin-top:8px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:-1px}
ul.tree{list-style:none;padding-left:18px;margin:2px 0;border-left:1px dashed var(--line)}
ul.tree.top{padding-left:0;border-left:none}
ul.tree li{margin:3px 0}
a.span{font-family:var(--mono);font-size:12.5px;text-decoration:none;color:var(--accent);cursor:pointer}
a.span.err{color:var(--bad)}
li.sel>a.span{background:#fff3bf;border-radius:4px;padding:0 3px}
li:target>a.span{background:#fff3bf;border-radius:4px;padding:0 3px}
.span-grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px}
#span-details{position:sticky;top:10px;align-self:start;border:1px solid var(--line);border-radius:10px;padding:10px 12px;background:var(--band2);font-size:13px;min-height:80px}
#span-details dt{font-size:11px;text-transform:uppercase;color:var(--muted);margin-top:6px}
#span-details dd{margin:0;word-break:break-word}
pre.transcript{background:#1e2430;color:#e7ecf5;border-radius:10px;padding:14px 16px;overflow-x:auto;font:12.5px/1.5 var(--mono);white-space:pre-wrap;word-break:break-word}
details summary{cursor:pointer;color:var(--muted)}
.err-banner{background:#fde0e0;color:#9b1c1c;border-radius:8px;padding:8px 12px;margin-top:10px}
footer{color:var(--muted);font-size:12px;margin-top:24px;text-align:center}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(110px,1fr));gap:8px;margin:4px 0 12px}
.stat{background:var(--band2);border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.stat .k{font-size:11px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted)}
.stat .v{font-size:18px;font-weight:650;font-variant-numeric:tabular-nums}
.stat.high .v{color:var(--bad)}.stat.medium .v{color:#8a5a00}.stat.warn{background:#fff1d6;border-color:#f3d9a4}
.sev{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11px;font-weight:650;text-transform:uppercase;letter-spacing:.4px}
.sev.high{background:#fde0e0;color:#9b1c1c}.sev.medium{background:#fff1d6;color:#8a5a00}.sev.low{background:#e3ecfd;color:#1f4fa8}.sev.other{background:#eef2f8;color:var(--muted)}
h3.file{font-family:var(--mono);font-size:13.5px;color:var(--ink);border-bottom:1px solid var(--line);padding-bottom:4px;word-break:break-all}
.finding{border:1px solid var(--line);border-left:4px solid var(--line);border-radius:8px;padding:8px 12px;margin:8px 0}
.finding.high{border-left-color:var(--bad)}.finding.medium{border-left-color:var(--warn)}.finding.low{border-left-color:var(--accent)}
.finding .head{display:flex;flex-wrap:wrap;gap:6px;align-items:center;font-size:12.5px}
.finding .line{font-family:var(--mono);font-weight:650}
.finding .msg{margin:6px 0;white-space:pre-wrap;word-break:break-word}
.finding .why{font-size:12.5px;margin:4px 0 0}
pre.code{background:#1e2430;color:#e7ecf5;border-radius:6px;padding:6px 0;margin:6px 0;overflow-x:auto;font:12.5px/1.45 var(--mono)}
pre.code>span{display:block;padding:0 10px;white-space:pre}pre.code>span.hl{background:#4a3b12}
pre.code .ln{display:inline-block;min-width:3.5em;color:#8a94a6;user-select:none}
pre.evidence{background:#1e2430;color:#e7ecf5;border-radius:6px;padding:6px 10px;margin:6px 0;overflow-x:auto;font:12.5px/1.45 var(--mono);white-space:pre-wrap;word-break:break-word}
a.cwe{font-size:12px;font-weight:650;color:var(--accent)}
.note-warn{background:#fff1d6;color:#8a5a00;border-radius:8px;padding:8px 12px}
details.unconfirmed{margin-top:14px}
)CSS";

// The timeline, the span panel. Every string from the run reaches the page
// through textContent or setAttribute, never through markup.
const char* const page_js = R"JS(
(function () {
  'use strict';
  var body = document.body;
  try {
    var data = JSON.parse(document.getElementById('agora-data').textContent);
    var probe = document.createElement('div');
    probe.innerHTML = '<svg></svg>';
    var NS = probe.firstChild.namespaceURI;
    function el(name, attrs, text) {
      var e = document.createElementNS(NS, name);
      if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function tip(e, text) { e.appendChild(el('title', null, text)); return e; }
    function txt(v) { return typeof v === 'string' ? v : JSON.stringify(v); }
    function secs(us) {
      if (us < 1000) return '+' + us + ' µs';
      if (us < 1e6) return '+' + (us / 1000).toFixed(1) + ' ms';
      return '+' + (us / 1e6).toFixed(us < 1e7 ? 3 : 2) + ' s';
    }
    function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

    // --- timeline: a piecewise time scale, one segment per round ---
    var members = data.members || [];
    var t0 = data.start_us;
    var cuts = [t0];
    data.rounds.forEach(function (r) { if (typeof r._time_us === 'number') cuts.push(Math.max(r._time_us, cuts[cuts.length - 1])); });
    var tEnd = data.end_us;
    (data.contributions || []).forEach(function (c) {
      if (typeof c.time_us === 'number') tEnd = Math.max(tEnd, c.time_us);
      if (typeof c.end_ns === 'number') tEnd = Math.max(tEnd, Math.floor(c.end_ns / 1000));
    });
    var lastCut = cuts[cuts.length - 1];
    var segs = [];
    for (var i = 1; i < cuts.length; i++) segs.push({a: cuts[i - 1], b: cuts[i], round: i, tail: false});
    if (tEnd > lastCut || segs.length === 0) segs.push({a: lastCut, b: Math.max(tEnd, lastCut + 1), round: null, tail: true});
    var total = 0; segs.forEach(function (s) { total += Math.max(1, s.b - s.a); });
    var weights = segs.map(function (s) {
      var share = Math.max(1, s.b - s.a) / total;
      return s.tail ? 0.12 + 0.3 * share : 0.5 / segs.length + 0.5 * share + 0.15;
    });
    var wsum = weights.reduce(function (x, y) { return x + y; }, 0);
    var chart = document.getElementById('timeline-chart');
    var left = 150, right = 30, width = Math.max(760, chart.clientWidth || 1000);
    var plotW = width - left - right;
    var x = left;
    segs.forEach(function (s, k) { s.x0 = x; s.x1 = x + plotW * weights[k] / wsum; x = s.x1; });
    function X(us) {
      if (typeof us !== 'number') return null;
      if (us <= segs[0].a) return segs[0].x0;
      for (var k = 0; k < segs.length; k++) {
        var s = segs[k];
        if (us <= s.b || k === segs.length - 1) {
          var f = s.b > s.a ? (Math.min(us, s.b) - s.a) / (s.b - s.a) : 0;
          return s.x0 + f * (s.x1 - s.x0);
        }
      }
      return segs[segs.length - 1].x1;
    }
    var laneH = 46, top = 46, h = top + laneH * Math.max(1, members.length) + 34;
    var svg = el('svg', {width: width, height: h, viewBox: '0 0 ' + width + ' ' + h, role: 'img', 'class': 'timeline'});
    svg.appendChild(el('desc', null, 'Timeline of run ' + data.run + ': one lane per agent, one band per round'));
    segs.forEach(function (s, k) {
      var g = el('g', {'class': s.tail ? 'band-group tail' : 'band-group', 'data-round': s.round === null ? '' : String(s.round)});
      g.appendChild(el('rect', {'class': 'band' + (k % 2 ? ' alt' : ''), x: s.x0, y: top - 26, width: Math.max(1, s.x1 - s.x0), height: h - top + 26 - 22}));
      var label = s.tail ? 'after' : 'Round ' + s.round;
      g.appendChild(el('text', {'class': 'band-label', x: s.x0 + 6, y: top - 10}, label));
      g.appendChild(el('line', {'class': 'close-line', x1: s.x1, x2: s.x1, y1: top - 26, y2: h - 22}));
      g.appendChild(el('text', {'class': 'tick', x: s.x1 - 3, y: h - 8, 'text-anchor': 'end'}, secs(s.b - t0)));
      if (!s.tail) {
        var rr = data.rounds[s.round - 1] || {};
        var agg = rr.summary && rr.summary.aggregate !== null && rr.summary.aggregate !== undefined ? txt(rr.summary.aggregate) : '(none)';
        tip(g, 'Round ' + s.round + ': closed ' + secs(s.b - t0) + ', aggregate ' + clip(agg, 80));
      }
      svg.appendChild(g);
    });
    svg.appendChild(el('text', {'class': 'tick', x: left + 2, y: h - 8}, '0'));
    var finalNorm = null;
    if (data.rounds.length) {
      var lr = data.rounds[data.rounds.length - 1];
      if (lr.summary && typeof lr.summary.aggregate === 'string') finalNorm = lr.summary.aggregate;
    }
    members.forEach(function (m, li) {
      var y = top + li * laneH + laneH / 2;
      var lane = el('g', {'class': 'lane', 'data-agent': m});
      lane.appendChild(el('line', {'class': 'lane-line', x1: left, x2: width - right, y1: y, y2: y}));
      lane.appendChild(el('text', {'class': 'lane-label', x: 10, y: y + 4}, clip(m, 20)));
      (data.contributions || []).filter(function (c) { return c.agent === m; }).forEach(function (c) {
        var late = !!c.late;
        var g = el('g', {'class': 'contribution' + (late ? ' late' : ''), 'data-round': String(c.round)});
        var xc = X(c.time_us);
        if (typeof c.start_ns === 'number' && typeof c.end_ns === 'number') {
          var xa = X(Math.floor(c.start_ns / 1000)), xb = X(Math.floor(c.end_ns / 1000));
          g.appendChild(el('rect', {'class': 'dur' + (late ? ' late' : ''), x: xa, y: y - 7, width: Math.max(2, xb - xa), height: 14, rx: 3}));
        }
        if (xc !== null) {
          var isFinal = c.counted && finalNorm !== null && String(c.round) === String(data.rounds.length) && data.rounds[c.round - 1].answers && data.rounds[c.round - 1].summary.answers[m] === finalNorm;
          g.appendChild(el('circle', {'class': 'dot' + (late ? ' late' : isFinal ? ' final' : ''), cx: xc, cy: y, r: 6}));
          var label = (typeof c.tokens === 'number' ? c.tokens + ' tok' : '') + (late ? ' late' : '');
          if (label) g.appendChild(el('text', {'class': 'tok', x: xc + 8, y: y - 9}, label.trim()));
          if (c.attempts > 1) g.appendChild(el('text', {'class': 'retry', x: xc + 8, y: y + 17}, '↻ ' + c.attempts + ' attempts'));
        }
        var dur = typeof c.start_ns === 'number' ? ((c.end_ns - c.start_ns) / 1e6).toFixed(2) + ' ms' : 'unknown';
        tip(g, m + ', round ' + c.round + (late ? ' (late, not counted)' : '') + '\nanswer: ' + clip(txt(c.answer), 300) +
          '\ncommitted at revision ' + c.rev + ', ' + secs((c.time_us || t0) - t0) + '\nduration: ' + dur +
          (typeof c.tokens === 'number' ? '\ntokens: ' + c.tokens : '') + (c.attempts > 1 ? '\nattempts: ' + c.attempts : ''));
        lane.appendChild(g);
      });
      (data.problems || []).filter(function (p) { return p.agent === m && p.kind === 'failed'; }).forEach(function (p) {
        var seg = segs[p.round - 1] || segs[segs.length - 1];
        var sp = (data.spans || []).filter(function (s) { return s.agent === m && s.status === 'error' && s.attributes['agora.task'] && String(s.attributes['agora.task']).indexOf('r' + p.round + ':') === 0; })[0];
        var xf = sp ? X(Math.floor(sp.endTimeUnixNano / 1000)) : seg.x1 - 10;
        var g = el('g', {'class': 'failure', 'data-round': String(p.round)});
        g.appendChild(el('line', {'class': 'fail', x1: xf - 5, x2: xf + 5, y1: y - 5, y2: y + 5}));
        g.appendChild(el('line', {'class': 'fail', x1: xf - 5, x2: xf + 5, y1: y + 5, y2: y - 5}));
        g.appendChild(el('text', {'class': 'retry', x: xf + 8, y: y + 4}, 'failed'));
        tip(g, m + ' failed in round ' + p.round + ': ' + p.detail);
        lane.appendChild(g);
      });
      svg.appendChild(lane);
    });
    if (typeof data.result_time_us === 'number') {
      var xr = X(data.result_time_us);
      var flag = el('g', {'class': 'result-marker'});
      flag.appendChild(el('path', {'class': 'result-flag', d: 'M' + xr + ' ' + (top - 24) + ' l10 5 l-10 5 z'}));
      flag.appendChild(el('line', {x1: xr, x2: xr, y1: top - 24, y2: h - 22, stroke: '#1f9d55', 'stroke-width': 1.5}));
      tip(flag, 'result committed ' + secs(data.result_time_us - t0));
      svg.appendChild(flag);
    }
    chart.textContent = '';
    chart.appendChild(svg);

    // --- spans: clicking one shows its parent and children ---
    var byId = {}, kids = {};
    (data.spans || []).forEach(function (s) { byId[s.spanId] = s; if (s.shownUnder) (kids[s.shownUnder] = kids[s.shownUnder] || []).push(s); });
    var panel = document.getElementById('span-details');
    function link(s) {
      var a = document.createElement('a');
      a.href = '#span-' + s.spanId; a.className = 'span' + (s.status === 'error' ? ' err' : '');
      a.textContent = s.name + (s.agent ? ' [' + s.agent + ']' : '');
      a.addEventListener('click', function () { show(s.spanId); });
      return a;
    }
    function show(id) {
      var s = byId[id]; if (!s || !panel) return;
      var prev = document.querySelector('li.sel'); if (prev) prev.classList.remove('sel');
      var li = document.getElementById('span-' + id); if (li) li.classList.add('sel');
      panel.textContent = '';
      var h = document.createElement('h3'); h.textContent = s.name + (s.agent ? ' — ' + s.agent : ''); panel.appendChild(h);
      var dl = document.createElement('dl');
      function row(k, v) { var dt = document.createElement('dt'); dt.textContent = k; var dd = document.createElement('dd'); if (typeof v === 'string') dd.textContent = v; else dd.appendChild(v); dl.appendChild(dt); dl.appendChild(dd); }
      row('span', s.spanId);
      row('duration', ((s.endTimeUnixNano - s.startTimeUnixNano) / 1e6).toFixed(3) + ' ms');
      row('status', s.status + (s.message ? ': ' + s.message : ''));
      var par;
      if (byId[s.parentSpanId]) par = link(byId[s.parentSpanId]);
      else if (s.parentSpanId && byId[s.shownUnder]) {
        par = document.createElement('span');
        par.appendChild(document.createTextNode(s.parentSpanId + ' (not recorded); enclosed by '));
        par.appendChild(link(byId[s.shownUnder]));
      } else par = s.parentSpanId ? s.parentSpanId + ' (not recorded)' : 'none (root)';
      row('parent', par);
      var ch = document.createElement('div');
      (kids[s.spanId] || []).forEach(function (c) { ch.appendChild(link(c)); ch.appendChild(document.createElement('br')); });
      if (!ch.childNodes.length) ch.textContent = 'none';
      row('children', ch);
      Object.keys(s.attributes || {}).forEach(function (k) { row(k, txt(s.attributes[k])); });
      panel.appendChild(dl);
    }
    Array.prototype.forEach.call(document.querySelectorAll('a.span[data-span]'), function (a) {
      a.addEventListener('click', function () { show(a.getAttribute('data-span')); });
    });
    if (location.hash.indexOf('#span-') === 0) show(location.hash.slice(6));
    body.setAttribute('data-render', 'ok');
  } catch (e) {
    body.setAttribute('data-render', 'error');
    var b = document.createElement('div'); b.className = 'err-banner'; b.id = 'render-error';
    b.textContent = 'The report script failed: ' + e;
    var m = document.querySelector('main'); if (m) m.insertBefore(b, m.firstChild);
  }
})();
)JS";

class page {
 public:
  page& raw(const std::string& s) {
    out_ += s;
    return *this;
  }
  page& text(const std::string& s) {
    out_ += html_escape(s);
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string card(const std::string& k, const std::string& v, bool wide = false) {
  return std::string("<div class=\"card") + (wide ? " wide" : "") + "\"><div class=\"k\">" + html_escape(k) +
         "</div><div class=\"v\">" + html_escape(v) + "</div></div>";
}

// A round's votes: the record's "votes" (debate) or, for patterns that
// record none, the tally of the counted normalized answers (what policies
// count as votes). Most votes first.
std::vector<std::pair<std::string, double>> votes_of(const json& r) {
  std::map<std::string, double> tally;
  if (auto v = r.find("votes"); v != r.end() && v->is_object()) {
    for (const auto& [ans, n] : v->items()) tally[ans] = n.is_number() ? n.get<double>() : 0;
  } else if (auto s = r.find("summary"); s != r.end() && s->is_object()) {
    if (auto a = s->find("answers"); a != s->end() && a->is_object())
      for (const auto& [who, ans] : a->items()) tally[text_of(ans)] += 1;
  }
  std::vector<std::pair<std::string, double>> out(tally.begin(), tally.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

void render_votes(page& p, const gathered& g) {
  p.raw("<section id=\"votes\"><h2>Votes and consensus</h2>");
  if (g.rounds.empty()) {
    p.raw("<p class=\"muted\">No round has closed yet.</p></section>");
    return;
  }
  // How consensus formed: the top answer's share round by round.
  p.raw("<div class=\"progress\">");
  for (std::size_t i = 0; i < g.rounds.size(); ++i) {
    const json& r = g.rounds[i];
    const json summary = r.value("summary", json::object());
    const double expected = std::max(1.0, summary.value("expected", 1.0));
    const auto votes = votes_of(r);
    const std::string top = votes.empty() ? std::string() : votes.front().first;
    const double best = votes.empty() ? 0.0 : votes.front().second;
    p.raw("<div class=\"step\"><div class=\"muted\">Round " + std::to_string(i + 1) + "</div><div class=\"pct\">")
        .text(fixed(100.0 * best / expected, 0) + "%")
        .raw("</div><div class=\"muted\">")
        .text(top.empty() ? "no votes" : "'" + (top.size() > 40 ? top.substr(0, 39) + "…" : top) + "' " +
                                             fixed(best, 0) + " of " + fixed(expected, 0))
        .raw("</div></div>");
  }
  p.raw("</div><div class=\"rounds\">");
  for (std::size_t i = 0; i < g.rounds.size(); ++i) {
    const json& r = g.rounds[i];
    const json summary = r.value("summary", json::object());
    const json agg = summary.value("aggregate", json());
    const double expected = std::max(1.0, summary.value("expected", 1.0));
    p.raw("<div class=\"round\" data-round=\"" + std::to_string(i + 1) + "\"><h3>Round " +
          std::to_string(i + 1) + "</h3>");
    p.raw("<table class=\"votes\"><thead><tr><th>Answer (normalized)</th><th>Votes</th><th></th><th>Voters</th></tr></thead><tbody>");
    const auto votes = votes_of(r);
    const json answers = summary.value("answers", json::object());
    for (const auto& [ans, n] : votes) {
      const bool winner = agg.is_string() && agg.get<std::string>() == ans;
      std::string voters;
      for (const auto& [who, a] : answers.items())
        if (a.is_string() && a.get<std::string>() == ans) voters += (voters.empty() ? "" : ", ") + who;
      p.raw(std::string("<tr class=\"vote-row") + (winner ? " winner" : "") + "\"><td class=\"answer\">")
          .text(ans)
          .raw("</td><td class=\"num\">" + fixed(n, 0) + " / " + fixed(expected, 0) +
               "</td><td><div class=\"bar\"><span style=\"width:" + fixed(100.0 * n / expected, 1) +
               "%\"></span></div></td><td>")
          .text(voters)
          .raw("</td></tr>");
    }
    if (votes.empty()) p.raw("<tr><td colspan=\"4\" class=\"muted\">no votes</td></tr>");
    p.raw("</tbody></table><p>Aggregate: <span class=\"answer\">")
        .text(agg.is_null() ? "(none)" : text_of(agg))
        .raw("</span>");
    if (auto q = summary.find("quality"); q != summary.end() && q->is_number())
      p.raw("<br>Quality: <b>").text(fixed(q->get<double>(), 3)).raw("</b>");
    if (auto j = r.find("judge"); j != r.end() && !j->is_null())
      p.raw("<br>Judge chose: <span class=\"answer\">").text(text_of(*j)).raw("</span>");
    if (auto m = r.find("merge_error"); m != r.end() && !m->is_null())
      p.raw("<br><span class=\"chip bad\">merge error</span> ").text(text_of(*m));
    if (auto f = r.find("failed"); f != r.end() && f->is_object() && !f->empty()) {
      p.raw("<br>Failed: ");
      for (const auto& [who, why] : f->items()) p.raw("<span class=\"chip bad\">").text(who).raw("</span>");
    }
    if (auto m = r.find("missing"); m != r.end() && m->is_array() && !m->empty()) {
      p.raw("<br>Not in time: ");
      for (const auto& who : *m) p.raw("<span class=\"chip warn\">").text(text_of(who)).raw("</span>");
    }
    if (auto t = r.find("totals"); t != r.end() && t->is_object())
      p.raw("<br><span class=\"muted\">")
          .text("after this round: " + text_of(t->value("tokens", json(0))) + " tokens, $" +
                fixed(t->value("cost_usd", 0.0), 4) + ", " +
                seconds_text(t->value("elapsed_ms", std::int64_t{0}) * 1000))
          .raw("</span>");
    p.raw("</p></div>");
  }
  p.raw("</div></section>");
}

void render_spans(page& p, const gathered& g) {
  p.raw("<section id=\"spans\"><h2>Spans</h2>");
  if (g.spans.empty()) {
    p.raw("<p class=\"muted\">No spans")
        .text(g.bad_span_lines.empty() ? " (no spans file given, or none of this run)." : ".")
        .raw("</p>");
  } else {
    p.raw("<p class=\"muted\">Click a span for its parent, children and attributes.</p><div class=\"span-grid\"><div>");
    std::map<std::string, std::vector<const span_record*>> children;
    std::set<std::string> known;
    for (const auto& s : g.spans) known.insert(s.span_id);
    auto links = link_spans(g.spans);
    std::vector<const span_record*> roots;
    for (const auto& s : g.spans) {
      const auto& l = links[s.span_id];
      if (l.parent.empty())
        roots.push_back(&s);
      else
        children[l.parent].push_back(&s);
    }
    auto by_start = [](const span_record* a, const span_record* b) { return a->start_ns < b->start_ns; };
    std::stable_sort(roots.begin(), roots.end(), by_start);
    for (auto& [k, v] : children) std::stable_sort(v.begin(), v.end(), by_start);
    std::set<std::string> done;
    std::function<void(const span_record*)> node = [&](const span_record* s) {
      if (!done.insert(s->span_id).second) return;
      p.raw("<li id=\"span-").text(s->span_id).raw("\"><a class=\"span").raw(s->error ? " err" : "")
          .raw("\" data-span=\"").text(s->span_id).raw("\" href=\"#span-").text(s->span_id).raw("\">")
          .text(s->name + (s->agent.empty() ? "" : " [" + s->agent + "]"))
          .raw("</a> <span class=\"muted\">")
          .text(fixed(static_cast<double>(s->end_ns - s->start_ns) / 1e6, 2) + " ms");
      const std::string task = s->attribute("agora.task");
      if (!task.empty()) p.text(" · " + task);
      const std::string attempts = s->attribute("agora.attempts");
      if (!attempts.empty() && attempts != "1") p.text(" · " + attempts + " attempts");
      p.raw("</span>");
      if (s->error) p.raw(" <span class=\"chip bad\">").text(s->message.empty() ? "error" : s->message).raw("</span>");
      if (!s->parent_id.empty() && !known.count(s->parent_id))
        p.raw(" <span class=\"muted\" title=\"")
            .text("parent " + s->parent_id + " was not recorded" +
                  (links[s->span_id].inferred ? "; shown under the span that encloses it in time" : ""))
            .raw("\">")
            .text(links[s->span_id].inferred ? "(parent inferred)" : "(parent not recorded)")
            .raw("</span>");
      auto it = children.find(s->span_id);
      if (it != children.end()) {
        p.raw("<ul class=\"tree\">");
        for (const auto* c : it->second) node(c);
        p.raw("</ul>");
      }
      p.raw("</li>");
    };
    p.raw("<ul class=\"tree top\">");
    for (const auto* r : roots) node(r);
    p.raw("</ul></div><div id=\"span-details\"><span class=\"muted\">Select a span.</span></div></div>");
  }
  if (!g.bad_span_lines.empty()) {
    p.raw("<details><summary>").text(std::to_string(g.bad_span_lines.size()) + " span line(s) could not be read").raw("</summary><ul>");
    for (const auto& b : g.bad_span_lines) p.raw("<li>").text(b).raw("</li>");
    p.raw("</ul></details>");
  }
  p.raw("</section>");
}

// --- a review's outcome (runs/<run>/review: cli/review's to_json(review_report)) ------

// A field as text: "" when missing or null. Never throws on a record of another shape.
std::string field_text(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : text_of(*it);
}

const json& field_array(const json& j, const char* key) {
  static const json empty = json::array();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : empty;
}

// The CSS class of a severity: only the known ones (anything else is "other").
const char* severity_class(const std::string& s) {
  return s == "high" ? "high" : s == "medium" ? "medium" : s == "low" ? "low" : "other";
}

// "reviewer/gcc" -> "gcc".
std::string reviewer_name(const std::string& id) { return id.substr(id.find('/') + 1); }

void review_stat(page& p, const std::string& key, const std::string& label, std::size_t n, const char* cls = "") {
  p.raw(std::string("<div class=\"stat") + (*cls ? " " : "") + cls + "\" data-stat=\"" + key + "\"><div class=\"k\">")
      .text(label)
      .raw("</div><div class=\"v\">" + std::to_string(n) + "</div></div>");
}

// Findings grouped by file (files in name order, findings by line).
void render_findings(page& p, const json& list, bool reported) {
  std::map<std::string, std::vector<const json*>> by_file;
  for (const auto& f : list)
    if (f.is_object()) by_file[field_text(f, "file")].push_back(&f);
  auto line_of = [](const json* f) {
    auto it = f->find("line");
    return it != f->end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  for (auto& [file, fs] : by_file) {
    std::stable_sort(fs.begin(), fs.end(), [&](const json* a, const json* b) { return line_of(a) < line_of(b); });
    p.raw("<h3 class=\"file\">").text(file.empty() ? "(no file)" : file)
        .raw(" <span class=\"muted\">").text("(" + std::to_string(fs.size()) + ")").raw("</span></h3>");
    for (const json* fp : fs) {
      const json& f = *fp;
      const std::string severity = field_text(f, "severity");
      const char* cls = severity_class(severity);
      p.raw(std::string("<div class=\"finding ") + cls + "\" data-severity=\"" + cls + "\"><div class=\"head\">")
          .raw("<span class=\"line\">").text("line " + field_text(f, "line")).raw("</span>")
          .raw(std::string("<span class=\"sev ") + cls + "\">").text(severity.empty() ? "?" : severity).raw("</span>");
      if (const std::string cat = field_text(f, "category"); !cat.empty())
        p.raw("<span class=\"chip\" title=\"kind\">").text(cat).raw("</span>");
      if (auto c = f.find("cwe"); c != f.end() && c->is_number_integer() && c->get<std::int64_t>() > 0) {
        const std::string n = std::to_string(c->get<std::int64_t>());
        p.raw("<a class=\"cwe\" href=\"https://cwe.mitre.org/data/definitions/" + n +
              ".html\" rel=\"noreferrer\">CWE-" + n + "</a>");
      }
      const json& by = field_array(f, "found_by");
      if (!by.empty()) {
        p.raw("<span class=\"muted\">found by</span>");
        for (const auto& who : by)
          p.raw("<span class=\"chip\" title=\"").text(text_of(who)).raw("\">").text(reviewer_name(text_of(who))).raw("</span>");
      }
      std::string rules;
      for (const auto& r : field_array(f, "rules")) rules += (rules.empty() ? "" : ", ") + text_of(r);
      if (rules.empty()) rules = field_text(f, "rule");
      if (!rules.empty()) p.raw("<span class=\"muted answer\">").text(rules).raw("</span>");
      p.raw("</div><p class=\"msg\">").text(field_text(f, "message")).raw("</p>");
      // The code around the line (the review's add_context), its line
      // marked; without it, the evidence the reviewer gave.
      const json* ctx = nullptr;
      if (auto c = f.find("context"); c != f.end() && c->is_object()) ctx = &*c;
      const json& lines = ctx ? field_array(*ctx, "lines") : field_array(f, "context");
      std::int64_t first = 0;
      if (ctx)
        if (auto fi = ctx->find("first"); fi != ctx->end() && fi->is_number_integer()) first = fi->get<std::int64_t>();
      if (!lines.empty() && first > 0) {
        p.raw("<pre class=\"code\">");
        std::int64_t n = first;
        for (const auto& l : lines) {
          const bool here = n == line_of(fp);
          p.raw(here ? "<span class=\"hl\">" : "<span>")
              .raw("<span class=\"ln\">").text(std::to_string(n)).raw("</span>")
              .text(text_of(l)).raw("</span>\n");
          ++n;
        }
        p.raw("</pre>");
        if (const std::string ev = field_text(f, "evidence"); !ev.empty() && ev.find('\n') != std::string::npos)
          p.raw("<pre class=\"evidence\"><code>").text(ev).raw("</code></pre>");
      } else if (const std::string ev = field_text(f, "evidence"); !ev.empty()) {
        p.raw("<pre class=\"evidence\"><code>").text(ev).raw("</code></pre>");
      }
      if (const std::string why = field_text(f, "kept_because"); !why.empty())
        p.raw("<p class=\"why muted\">").text((reported ? "kept because: " : "not kept: ") + why).raw("</p>");
      if (const std::string judge = field_text(f, "judge"); !judge.empty())
        p.raw("<p class=\"why\"><b>Judge:</b> ").text(judge).raw("</p>");
      p.raw("</div>");
    }
  }
}

void render_review(page& p, const json& rv) {
  const json& reported = field_array(rv, "findings");
  const json& unconfirmed = field_array(rv, "unconfirmed");
  const json& reviewers = field_array(rv, "reviewers");
  const json& skipped = field_array(rv, "skipped");
  const bool knows_coverage = rv.contains("not_analysed") && rv["not_analysed"].is_array();
  const json& unanalysed = field_array(rv, "not_analysed");
  std::size_t high = 0, medium = 0, low = 0;
  for (const auto& f : reported) {
    const std::string s = field_text(f, "severity");
    if (s == "high") ++high;
    else if (s == "medium") ++medium;
    else if (s == "low") ++low;
  }
  std::size_t files = 0;
  if (auto it = rv.find("files"); it != rv.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0)
    files = it->get<std::size_t>();

  p.raw("<section id=\"review\"><h2>Review findings</h2><p class=\"muted\">Review of <span class=\"answer\">")
      .text(field_text(rv, "target"))
      .raw("</span>");
  if (const std::string diff = field_text(rv, "diff"); !diff.empty())
    p.raw(", change <span class=\"answer\">").text(diff).raw("</span> (only findings on its changed lines)");
  if (auto m = rv.find("min_agree"); m != rv.end() && m->is_number_integer())
    p.text(". Reported when a rule is trusted alone, or " + std::to_string(m->get<std::int64_t>()) +
           " reviewers agree (not only by a function's name).");
  p.raw("</p><div class=\"stats\">");
  review_stat(p, "reported", "Reported", reported.size());
  review_stat(p, "high", "High", high, "high");
  review_stat(p, "medium", "Medium", medium, "medium");
  review_stat(p, "low", "Low", low, "low");
  review_stat(p, "unconfirmed", "Unconfirmed", unconfirmed.size());
  review_stat(p, "files", "Files", files);
  review_stat(p, "reviewers", "Reviewers", reviewers.size());
  review_stat(p, "left-out", "Left out", skipped.size(), skipped.empty() ? "" : "warn");
  review_stat(p, "not-analysed", "Not analysed", unanalysed.size(), unanalysed.empty() ? "" : "warn");
  p.raw("</div><p>Reviewers: ");
  for (const auto& who : reviewers)
    p.raw("<span class=\"chip ok\" title=\"").text(text_of(who)).raw("\">").text(reviewer_name(text_of(who))).raw("</span>");
  if (reviewers.empty()) p.raw("<span class=\"muted\">none answered</span>");
  for (const auto& s : skipped)
    p.raw(" <span class=\"chip warn\" title=\"").text("left out: " + field_text(s, "why")).raw("\">")
        .text(reviewer_name(field_text(s, "reviewer")) + " (left out)").raw("</span>");
  p.raw("</p>");

  // Reported findings.
  if (reported.empty())
    p.raw("<p class=\"muted\" id=\"review-none\">No finding was reported.</p>");
  else
    render_findings(p, reported, true);

  // Unconfirmed, collapsed.
  if (unconfirmed.empty()) {
    p.raw("<p class=\"muted\">No unconfirmed finding.</p>");
  } else {
    p.raw("<details class=\"unconfirmed\" id=\"review-unconfirmed\"><summary>")
        .text(std::to_string(unconfirmed.size()) +
              " unconfirmed finding(s): found, but not agreed on (not reported)")
        .raw("</summary>");
    render_findings(p, unconfirmed, false);
    p.raw("</details>");
  }

  // Reviewers left out, files not analysed: never silent about either.
  if (!skipped.empty()) {
    p.raw("<h3>Left out</h3><table><thead><tr><th>Reviewer</th><th>Why</th></tr></thead><tbody>");
    for (const auto& s : skipped)
      p.raw("<tr class=\"skipped-row\"><td>").text(field_text(s, "reviewer")).raw("</td><td>")
          .text(field_text(s, "why")).raw("</td></tr>");
    p.raw("</tbody></table>");
  }
  p.raw("<h3 id=\"review-not-analysed\">Not analysed</h3>");
  if (!knows_coverage) {
    p.raw("<p class=\"muted\">").text("The review's record does not say which files were analysed.").raw("</p>");
  } else if (unanalysed.empty()) {
    p.raw("<p class=\"muted\">Every reviewer that ran analysed every file.</p>");
  } else {
    p.raw("<p class=\"note-warn\">")
        .text(std::to_string(unanalysed.size()) +
              " file check(s) were not done: findings on these files may be missing.")
        .raw("</p><table><thead><tr><th>Reviewer</th><th>File</th><th>Reason</th></tr></thead><tbody>");
    for (const auto& n : unanalysed)
      p.raw("<tr class=\"unanalysed-row\"><td>").text(field_text(n, "reviewer"))
          .raw("</td><td class=\"answer\">").text(field_text(n, "file"))
          .raw("</td><td>").text(field_text(n, "reason")).raw("</td></tr>");
    p.raw("</tbody></table>");
  }
  p.raw("</section>\n");
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bb::result<std::string> render_html_report(const report_input& in) {
  auto gathered_or = gather(in);
  if (!gathered_or) return gathered_or.error();
  const gathered& g = *gathered_or;
  const std::string nonce = make_nonce();
  const std::string title = in.title.empty() ? in.run_id : in.title;
  const json& res = g.result;
  const std::string status = res.is_object() ? res.value("status", std::string("?")) : "running";
  std::string stopped_by;
  if (res.is_object())
    for (const auto& k : res.value("stopped_by", json::array())) stopped_by += (stopped_by.empty() ? "" : ", ") + text_of(k);
  const std::int64_t tokens = res.is_object() ? res.value("tokens", std::int64_t{0})
                              : g.rounds.empty() ? 0
                                                 : g.rounds.back().value("totals", json::object()).value("tokens", std::int64_t{0});
  const double cost = res.is_object() ? res.value("cost_usd", 0.0)
                      : g.rounds.empty() ? 0.0
                                         : g.rounds.back().value("totals", json::object()).value("cost_usd", 0.0);

  page p;
  p.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:; script-src 'nonce-" + nonce + "'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Agora report: ")
      .text(title)
      .raw("</title>\n<style>")
      .raw(page_css)
      .raw("</style></head>\n<body data-render=\"pending\">\n");

  // Header.
  p.raw("<header class=\"top\"><div class=\"inner\"><h1>Run ").text(title)
      .raw("<span class=\"badge ").text(status).raw("\" id=\"status\">").text(status).raw("</span></h1>");
  p.raw("<div class=\"sub\">").text(g.meta.value("pattern", std::string("?")) + " · policy " +
                                     g.meta.value("policy", std::string("?")) + " · fallback " +
                                     g.meta.value("fallback", std::string("?")));
  if (g.start_us) p.text(" · started " + format_time_us(g.start_us));
  p.raw("</div><div class=\"cards\">");
  p.raw(card("Pattern", g.meta.value("pattern", std::string("?"))));
  p.raw(card("Status", status));
  p.raw(card("Rounds", std::to_string(g.rounds.size())));
  p.raw(card("Tokens", std::to_string(tokens)));
  p.raw(card("Cost", "$" + fixed(cost, 4)));
  p.raw(card("Duration", seconds_text(g.end_us - g.start_us)));
  p.raw(card("Members", std::to_string(g.data["members"].size())));
  p.raw(card("Stopped by", stopped_by.empty() ? "-" : stopped_by));
  p.raw(card("Stop reason", res.is_object() ? res.value("reason", std::string()) : "the run has not finished", true));
  p.raw("</div><nav class=\"toc\">");
  if (!g.review.is_null()) p.raw("<a href=\"#review\">Review findings</a>");
  p.raw("<a href=\"#timeline\">Timeline</a><a href=\"#votes\">Votes</a>"
        "<a href=\"#result\">Result</a><a href=\"#conflicts\">Conflicts and retries</a>"
        "<a href=\"#spans\">Spans</a><a href=\"#commits\">Commits</a><a href=\"#transcript\">Transcript</a>"
        "</nav></div></header>\n<main>\n");

  // A review's outcome, first: what a reader of a review came for.
  if (!g.review.is_null()) render_review(p, g.review);

  // Timeline (drawn by the script).
  p.raw("<section id=\"timeline\"><h2>Timeline</h2><div id=\"timeline-chart\"><p class=\"muted\">"
        "The timeline is drawn by the page's script; the sections below have the same data as text."
        "</p></div><div class=\"legend\"><span><i style=\"background:#2f6fde\"></i>counted answer</span>"
        "<span><i style=\"background:#1f9d55\"></i>final answer</span><span><i style=\"background:#d98a00\">"
        "</i>late (not counted)</span><span><i style=\"background:#d64545\"></i>failed / retried</span>"
        "<span><i style=\"background:#9bbcf2;border-radius:2px\"></i>task duration (span)</span>"
        "<span>bands: rounds (each round gets room of its own; times are from the run's start)</span></div></section>\n");

  render_votes(p, g);

  // Result.
  p.raw("<section id=\"result\"><h2>Result</h2>");
  if (res.is_object()) {
    p.raw("<div class=\"result-answer\" id=\"final-answer\">")
        .text(res.contains("answer") && !res["answer"].is_null() ? text_of(res["answer"]) : "(no answer)")
        .raw("</div><p><b>Status:</b> <span class=\"badge ").text(status).raw("\">").text(status)
        .raw("</span></p><p><b>Stop reason:</b> <span id=\"stop-reason\">").text(res.value("reason", std::string()))
        .raw("</span></p><p><b>Stopped by:</b> ");
    for (const auto& k : res.value("stopped_by", json::array())) p.raw("<span class=\"chip ok\">").text(text_of(k)).raw("</span>");
    if (stopped_by.empty()) p.raw("<span class=\"muted\">-</span>");
    p.raw("</p>");
  } else {
    p.raw("<p class=\"muted\">The run has not finished (no runs/").text(in.run_id).raw("/result yet).</p>");
  }
  p.raw("<p class=\"muted\">Input: <span class=\"answer\">").text(g.meta.value("input", json()).dump(-1, ' ', false, json::error_handler_t::replace))
      .raw("</span></p></section>\n");

  // Conflicts and retries.
  p.raw("<section id=\"conflicts\"><h2>Conflicts, retries and failures</h2>");
  if (g.problems.empty()) {
    p.raw("<p class=\"muted\">None: every member answered in time, first try.</p>");
  } else {
    p.raw("<table><thead><tr><th>Round</th><th>Agent</th><th>What</th><th>Detail</th></tr></thead><tbody>");
    for (const auto& pr : g.problems) {
      const std::string kind = pr["kind"].get<std::string>();
      const char* cls = kind == "late" || kind == "no answer" ? "warn" : "bad";
      p.raw("<tr class=\"problem\"><td>").text(pr["round"].is_null() ? "" : text_of(pr["round"]))
          .raw("</td><td>").text(text_of(pr["agent"]))
          .raw("</td><td><span class=\"chip ").raw(cls).raw("\">").text(kind).raw("</span></td><td>")
          .text(pr["detail"].get<std::string>());
      if (pr.contains("span"))
        p.raw(" <a class=\"span\" href=\"#span-").text(pr["span"].get<std::string>()).raw("\">span</a>");
      p.raw("</td></tr>");
    }
    p.raw("</tbody></table>");
  }
  p.raw("</section>\n");

  render_spans(p, g);

  // Commits.
  p.raw("<section id=\"commits\"><h2>Commits</h2><details><summary>")
      .text(std::to_string(g.commits.size()) + " commits under runs/" + in.run_id)
      .raw("</summary><table><thead><tr><th>Rev</th><th>Time</th><th>Author</th><th>Txn</th><th>Keys</th></tr></thead><tbody>");
  for (const auto& c : g.commits) {
    std::string keys;
    for (const auto& k : c["keys"]) keys += (keys.empty() ? "" : ", ") + k["key"].get<std::string>();
    p.raw("<tr><td class=\"num\">" + std::to_string(c["rev"].get<std::uint64_t>()) + "</td><td class=\"num\">")
        .text(seconds_text(c["time_us"].get<std::int64_t>() - g.start_us))
        .raw("</td><td>").text(c["author"].get<std::string>())
        .raw("</td><td class=\"answer\">").text(c["txn"].get<std::string>())
        .raw("</td><td class=\"answer\">").text(keys).raw("</td></tr>");
  }
  p.raw("</tbody></table></details></section>\n");

  // Transcript.
  p.raw("<section id=\"transcript\"><h2>Transcript</h2><pre class=\"transcript\">").text(g.transcript)
      .raw("</pre></section>\n<footer>Generated by agora report from the run's blackboard")
      .text(in.spans_path.empty() ? "" : " and its spans")
      .raw(". Self-contained: no network access.</footer>\n</main>\n");

  p.raw("<script type=\"application/json\" id=\"agora-data\">").raw(script_json(g.data)).raw("</script>\n");
  p.raw("<script nonce=\"" + nonce + "\">").raw(page_js).raw("</script>\n</body></html>\n");
  return p.take();
}

bb::status write_html_report(const report_input& in, const std::string& path) {
  auto html = render_html_report(in);
  if (!html) return html.error();
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return bb::error{bb::errc::io_error, "cannot write report '" + path + "'"};
    out << *html;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return bb::error{bb::errc::io_error, "cannot write report '" + path + "'"};
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return bb::error{bb::errc::io_error, "cannot write report '" + path + "': " + ec.message()};
  }
  return {};
}

}  // namespace agora::cli
