// `agora review PATH`: a swarm of reviewer agents on a source tree, a
// consensus on their findings, an optional LLM reviewer and judge, and the
// outputs (docs/review.md).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <agora/agora.hpp>
#include <agora/agents/http_client.hpp>
#include <agora/agents/llm_agent.hpp>
#include <agora/agents/test_clients.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "report.hpp"
#include "review/review.hpp"
#include "review/review_run.hpp"

namespace agora::cli {

namespace rv = review;
namespace fs = std::filesystem;

namespace {

const command_spec& review_spec() {
  static const command_spec spec{
      "review",
      "agora review PATH [options]",
      "Reviews the C and C++ files under PATH (.c .cc .cpp .cxx .h .hpp; hidden and build\n"
      "directories are skipped; PATH may be one file) with a swarm of reviewer agents:\n"
      "cppcheck, clang-tidy, and built-in security, resource-leak and complexity reviewers.\n"
      "A finding is reported when --min-agree reviewers found it, or when one found it\n"
      "with severity high and evidence; the others are unconfirmed (--all shows them).\n"
      "Runs offline; --llm adds an LLM reviewer and a judge for unconfirmed findings.",
      {{"markdown", "FILE", "write the review as Markdown ('-' = stdout, for all three)"},
       {"sarif", "FILE", "write SARIF 2.1.0 (code-scanning tools read it)"},
       {"json", "FILE", "write the findings as JSON"},
       {"report", "FILE.html", "write the HTML report of the run"},
       {"data", "DIR", "keep the run: DIR/blackboard.db and DIR/spans.jsonl (replaces a previous review there)"},
       {"fail-on", "LEVEL", "exit 1 when a reported finding is at or above LEVEL: low|medium|high|never (default high)"},
       {"min-agree", "N", "reviewers that must agree for a finding to be reported (default 2)"},
       {"all", "", "also show unconfirmed findings"},
       {"jobs", "N", "tool processes at once (default 2)"},
       {"llm", "ENDPOINT", "add an LLM reviewer and judge: an endpoint JSON file, or replay:FILE.jsonl"},
       {"quiet", "", "no progress or summary on the terminal (files are still written)"}},
      {"PATH"},
      1,
      1,
      "Exit codes: 0 nothing reported at or above --fail-on, 1 findings at or above it,\n"
      "2 bad command line, PATH or endpoint file (nothing ran), 3 the review failed,\n"
      "130 interrupted.\n\n"
      "Example: agora review examples/review-sample --sarif review.sarif --markdown review.md\n"};
  return spec;
}

// Writes an output file: "-" is stdout; a regular file (or a new one) is
// replaced atomically (a temporary file renamed); anything else (a symlink,
// /dev/stdout, a pipe) is written in place, never replaced.
bb::status write_file(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text << std::flush;
    return {};
  }
  std::error_code ec;
  const auto link = fs::symlink_status(path, ec);
  if (fs::exists(link) && !fs::is_regular_file(link)) {
    std::ofstream out(path, std::ios::binary);
    if (!out || !(out << text).flush()) return bb::error{bb::errc::io_error, "cannot write " + path};
    return {};
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return bb::error{bb::errc::io_error, "cannot write " + path};
    out << text;
    if (!out.flush()) return bb::error{bb::errc::io_error, "cannot write " + path};
  }
  fs::rename(tmp, path, ec);
  if (ec) return bb::error{bb::errc::io_error, "cannot write " + path + ": " + ec.message()};
  return {};
}

bb::result<std::shared_ptr<llm_client>> open_llm(const std::string& spec) {
  if (spec.rfind("replay:", 0) == 0) {
    replay_options ro;
    ro.strict_order = true;  // the prompts quote the sources: recorded in call order
    auto r = replay_client::open(spec.substr(7), ro);
    if (!r) return bb::error{bb::errc::invalid_argument, "--llm " + spec + ": " + r.error().message};
    return std::shared_ptr<llm_client>(*r);
  }
  std::ifstream in(spec);
  if (!in) return bb::error{bb::errc::invalid_argument, "--llm: cannot read endpoint file " + spec};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return bb::error{bb::errc::invalid_argument, "--llm " + spec + ": not JSON"};
  auto ep = endpoint::from_json(j);
  if (!ep) return bb::error{bb::errc::invalid_argument, "--llm " + spec + ": " + ep.error().message};
  return std::shared_ptr<llm_client>(std::make_shared<http_client>(*ep));
}

}  // namespace

int review_command(const std::vector<std::string>& args) {
  const auto& spec = review_spec();
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, args, parsed)) return *done;
  const parsed_args* a = &parsed;
  rv::review_plan plan;
  const std::string fail_on = a->get_or("fail-on", "high");
  if (fail_on != "low" && fail_on != "medium" && fail_on != "high" && fail_on != "never") {
    std::cerr << "agora review: --fail-on must be low, medium, high or never, not '" << fail_on << "'\n";
    return exit_usage;
  }
  auto min_agree = number_option(*a, "min-agree", 2, 1, 100);
  auto jobs = number_option(*a, "jobs", 2, 1, 64);
  if (!min_agree || !jobs) {
    std::cerr << (!min_agree ? min_agree.error() : jobs.error()).message << "\n";
    return exit_usage;
  }
  plan.consensus.min_agree = static_cast<std::size_t>(*min_agree);
  plan.jobs = static_cast<std::size_t>(*jobs);
  const bool quiet = a->has("quiet");
  plan.progress = quiet ? nullptr : &std::cerr;
  plan.cancelled = [] { return interrupted(); };
  // Only when the run does not end by itself after its processes were
  // killed; what is committed is durable already.
  plan.abandon = [] {
    std::cerr << "agora review: interrupted" << std::endl;
    std::_Exit(exit_interrupted);
  };

  auto tree = rv::load_source_tree(a->positionals[0]);
  if (!tree) {
    std::cerr << "agora review: " << tree.error().message << "\n";
    return tree.error().code == bb::errc::io_error ? exit_error : exit_usage;
  }
  if (tree->files.empty()) {
    std::cerr << "agora review: no C or C++ files under " << a->positionals[0] << "\n";
    return exit_usage;
  }
  plan.tree = std::make_shared<const rv::source_tree>(std::move(*tree));
  if (auto llm = a->get("llm")) {
    auto client = open_llm(*llm);
    if (!client) {
      std::cerr << "agora review: " << client.error().message << "\n";
      return exit_usage;
    }
    plan.llm = *client;
  }
  if (auto data = a->get("data")) {
    std::error_code ec;
    fs::create_directories(*data, ec);
    if (ec) {
      std::cerr << "agora review: --data " << *data << ": " << ec.message() << "\n";
      return exit_usage;
    }
    for (const char* name : {board_file, spans_file}) {
      auto p = fs::path(*data) / name;
      if (fs::exists(p, ec)) {
        if (!quiet) std::cerr << "agora review: replacing the previous review in " << p.string() << "\n";
        fs::remove(p, ec);
        fs::remove(p.string() + "-wal", ec);
        fs::remove(p.string() + "-shm", ec);
      }
    }
    plan.board_path = (fs::path(*data) / board_file).string();
    plan.spans_path = (fs::path(*data) / spans_file).string();
  }

  auto done = rv::run_review(plan);
  if (interrupted()) return exit_interrupted;
  if (!done) {
    std::cerr << "agora review: " << done.error().message << "\n";
    return done.error().code == bb::errc::invalid_argument ? exit_usage : exit_error;
  }
  rv::review_report& report = done->report;
  report.target = a->positionals[0];

  const bool all = a->has("all");
  if (!quiet) std::cout << rv::to_terminal(report, is_terminal(STDOUT_FILENO), all);
  bool wrote_ok = true;
  auto save = [&wrote_ok](const std::optional<std::string>& path, const std::string& text) {
    if (!path) return;
    if (auto s = write_file(*path, text); !s) {
      std::cerr << "agora review: " << s.error().message << "\n";
      wrote_ok = false;
    }
  };
  save(a->get("markdown"), rv::to_markdown(report, all));
  save(a->get("sarif"), rv::to_sarif(report).dump(2) + "\n");
  save(a->get("json"), rv::to_json(report).dump(2) + "\n");
  if (auto html = a->get("report")) {
    report_input in;
    in.board = done->board.get();
    in.run_id = rv::review_run_id;
    in.spans_path = plan.spans_path;
    in.title = "agora review " + report.target;
    if (auto s = write_html_report(in, *html); !s) {
      std::cerr << "agora review: --report " << *html << ": " << s.error().message << "\n";
      wrote_ok = false;
    }
  }
  if (!wrote_ok) return exit_error;
  if (fail_on == "never") return exit_ok;
  const int threshold = rv::severity_rank(fail_on);
  for (const auto& f : report.findings)
    if (f.reported && rv::severity_rank(f.severity) >= threshold) return exit_findings;
  return exit_ok;
}

}  // namespace agora::cli
