// `agora review PATH`: a swarm of reviewer agents on a source tree, a
// consensus on their findings, an optional LLM reviewer and judge, and the
// outputs (docs/review.md).
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
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
#include "review/diff.hpp"
#include "review/review_run.hpp"

namespace agora::cli {

namespace rv = review;
namespace fs = std::filesystem;

namespace {

double seconds_of(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

// Wall time since `started` and CPU time of agora itself and of the tool
// processes it waited for (review_eval compares reviewers by them).
json run_timing(std::chrono::steady_clock::time_point started) {
  rusage self{};
  rusage children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double self_s = seconds_of(self.ru_utime) + seconds_of(self.ru_stime);
  const double analysis = rv::flow_analysis_cpu_seconds();
  // self_cpu_s: all of agora's own CPU; analysis_cpu_s: the part of it that
  // is reviewer/flow's analysis (an analyzer running in-process);
  // overhead_cpu_s: the rest (actors, transport, parsing, merging, outputs).
  return {{"wall_s", wall},
          {"self_cpu_s", self_s},
          {"analysis_cpu_s", analysis},
          {"overhead_cpu_s", std::max(0.0, self_s - analysis)},
          {"children_cpu_s", seconds_of(children.ru_utime) + seconds_of(children.ru_stime)}};
}

const command_spec& review_spec() {
  static const command_spec spec{
      "review",
      "agora review PATH [options]",
      "Reviews the C and C++ files under PATH (.c .cc .cpp .cxx .h .hpp; hidden and build\n"
      "directories are skipped; PATH may be one file) with a swarm of reviewer agents:\n"
      "gcc (-fanalyzer and warnings), clang-tidy (clang's analyzer and warnings), cppcheck,\n"
      "flawfinder, and built-in security and complexity reviewers. Findings merge when they\n"
      "name the same defect (file, family of CWEs, nearby lines). A finding is reported when\n"
      "its rule is trusted alone (path-sensitive or semantic evidence, calibrated per rule),\n"
      "or when --min-agree reviewers agree and one of them is not a lexical pattern; the\n"
      "others are unconfirmed (--all shows them). A file a reviewer could not analyse is\n"
      "listed with the reason. Runs offline; --llm adds an LLM reviewer and a judge.\n"
      "The compiler's flags: -p DIR (or --compile-commands FILE) reads compile_commands.json;\n"
      "-I DIR, -D NAME[=VALUE] and --std add to every file's flags.",
      {{"markdown", "FILE", "write the review as Markdown ('-' = stdout, for all three)"},
       {"sarif", "FILE", "write SARIF 2.1.0 (code-scanning tools read it)"},
       {"json", "FILE", "write the findings as JSON"},
       {"report", "FILE.html", "write the HTML report of the run"},
       {"data", "DIR", "keep the run: DIR/blackboard.db and DIR/spans.jsonl (replaces a previous review there)"},
       {"fail-on", "LEVEL[,not-analysed]", "exit 1 when a reported finding is at or above LEVEL: low|medium|high|never (default high); with not-analysed, also when a file was not analysed"},
       {"compile-commands", "FILE", "a compile database (compile_commands.json, or its directory; also -p DIR)"},
       {"include-dir", "DIR", "add -I DIR for every file (also -I DIR; repeatable)", true},
       {"define", "NAME[=VALUE]", "add -D NAME for every file (also -D NAME; repeatable)", true},
       {"std", "STD", "the dialect of files without their own -std: c99, gnu11, c++17, gnu++20, ... (default gnu11 and gnu++17)"},
       {"reviewers", "LIST", "the reviewers to run, comma separated (default all: security,complexity,cppcheck,gcc,clang-tidy,flawfinder,flow)"},
       {"timeout-per-file", "SECONDS", "each tool process on one file (default 120)"},
       {"budget", "SECONDS", "the whole review: files not started by then are not analysed, and listed (default 8 hours)"},
       {"diff", "REV|A..B", "review a git change: the files it touches, and report only findings on its changed lines"},
       {"context", "N|function", "with --diff: also findings within N lines of a changed line (default 0), or, with 'function', in every function the change touches and in the functions that call those (by name, in the files reviewed)"},
       {"min-agree", "N", "reviewers that must agree for a finding without a rule trusted alone to be reported (default 3)"},
       {"all", "", "also show unconfirmed findings"},
       {"jobs", "N", "tool processes at once (default: the number of cores)"},
       {"llm", "ENDPOINT", "add an LLM reviewer and judge: an endpoint JSON file, or replay:FILE.jsonl"},
       {"quiet", "", "no progress or summary on the terminal (files are still written)"}},
      {"PATH"},
      1,
      1,
      "Exit codes: 0 nothing reported at or above --fail-on, 1 findings at or above it (or\n"
      "a file not analysed, with --fail-on ...,not-analysed),\n"
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


// The compilers' short options, as clang-tidy and cppcheck users type
// them: -p DIR, -I DIR / -IDIR, -D X / -DX.
std::vector<std::string> long_options(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.insert(out.end(), args.begin() + long(i), args.end());
      break;
    }
    auto take = [&](const char* flag, const char* name) {
      if (a == flag && i + 1 < args.size()) {
        out.push_back(std::string("--") + name);
        out.push_back(args[++i]);
        return true;
      }
      if (a.size() > 2 && a.rfind(flag, 0) == 0 && a[1] != '-') {
        out.push_back(std::string("--") + name);
        out.push_back(a.substr(2));
        return true;
      }
      return false;
    };
    if (take("-p", "compile-commands") || take("-I", "include-dir") || take("-D", "define")) continue;
    out.push_back(a);
  }
  return out;
}

}  // namespace

int review_command(const std::vector<std::string>& raw_args) {
  const auto started = std::chrono::steady_clock::now();
  const auto& spec = review_spec();
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, long_options(raw_args), parsed)) return *done;
  const parsed_args* a = &parsed;
  rv::review_plan plan;
  std::string fail_on = a->get_or("fail-on", "high");
  bool fail_unanalysed = false;
  if (auto comma = fail_on.find(','); comma != std::string::npos) {
    const std::string extra = fail_on.substr(comma + 1);
    if (extra != "not-analysed") {
      std::cerr << "agora review: --fail-on: after the level only 'not-analysed' may follow, not '" << extra
                << "'\n";
      return exit_usage;
    }
    fail_unanalysed = true;
    fail_on = fail_on.substr(0, comma);
  } else if (fail_on == "not-analysed") {
    fail_unanalysed = true;
    fail_on = "never";
  }
  if (fail_on != "low" && fail_on != "medium" && fail_on != "high" && fail_on != "never") {
    std::cerr << "agora review: --fail-on must be low, medium, high or never (optionally followed by "
                 "',not-analysed'), not '"
              << fail_on << "'\n";
    return exit_usage;
  }
  const long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  auto min_agree = number_option(*a, "min-agree", 3, 1, 100);
  auto jobs = number_option(*a, "jobs", cores, 1, 256);
  auto per_file = number_option(*a, "timeout-per-file", 120, 1, 86400);
  auto budget = number_option(*a, "budget", 0, 0, 7 * 86400);
  const bool reach = a->get("context") && *a->get("context") == "function";
  auto context = reach ? bb::result<double>(0.0) : number_option(*a, "context", 0, 0, 100000);
  for (const auto* n : {&min_agree, &jobs, &per_file, &budget, &context})
    if (!*n) {
      std::cerr << n->error().message << "\n";
      return exit_usage;
    }
  plan.per_file_timeout = std::chrono::seconds(static_cast<long>(*per_file));
  plan.budget = std::chrono::seconds(static_cast<long>(*budget));
  if (auto list = a->get("reviewers")) {
    std::stringstream ss(*list);
    for (std::string name; std::getline(ss, name, ',');) {
      const auto& known = rv::all_reviewers();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string all;
        for (const auto& k : known) all += (all.empty() ? "" : ",") + k;
        std::cerr << "agora review: --reviewers: unknown reviewer '" << name << "' (known: " << all << ")\n";
        return exit_usage;
      }
      plan.reviewers.push_back(name);
    }
    if (plan.reviewers.empty()) {
      std::cerr << "agora review: --reviewers: name at least one reviewer\n";
      return exit_usage;
    }
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
  // --diff: only the files the change touches (findings are filtered below).
  std::optional<rv::change_set> change;
  if (auto spec_text = a->get("diff")) {
    std::error_code ec;
    const std::string root = tree->root;
    auto c = rv::read_change(root, *spec_text);
    if (!c) {
      std::cerr << "agora review: " << c.error().message << "\n";
      return c.error().code == bb::errc::invalid_argument ? exit_usage : exit_error;
    }
    change = std::move(*c);
    std::vector<rv::source_file> kept;
    for (auto& f : tree->files) {
      const auto* cf = change->find(f.path);
      if (cf && !cf->deleted && !cf->ranges.empty()) kept.push_back(std::move(f));
    }
    tree->files = std::move(kept);
    tree->reindex();
    if (tree->files.empty()) {
      if (!quiet)
        std::cout << "agora review " << a->positionals[0] << " --diff " << *spec_text
                  << ": the change touches no C or C++ line under PATH; nothing to review\n";
      return exit_ok;
    }
  } else if (a->has("context")) {
    std::cerr << "agora review: --context goes with --diff\n";
    return exit_usage;
  }
  std::shared_ptr<rv::build_flags> flags;
  if (auto db = a->get("compile-commands")) {
    auto read = rv::read_compile_database(*db, *tree);
    if (!read) {
      std::cerr << "agora review: " << read.error().message << "\n";
      return exit_usage;
    }
    flags = std::make_shared<rv::build_flags>(std::move(*read));
  } else {
    flags = std::make_shared<rv::build_flags>(rv::default_flags(*tree));
  }
  for (const auto& d : a->all("include-dir")) {
    std::error_code ec;
    const std::string dir = fs::absolute(d, ec).lexically_normal().string();
    flags->common.push_back("-I" + dir);
    for (auto& [file, fl] : flags->per_file) fl.push_back("-I" + dir);
  }
  for (const auto& d : a->all("define")) {
    flags->common.push_back("-D" + d);
    for (auto& [file, fl] : flags->per_file) fl.push_back("-D" + d);
  }
  if (auto std_name = a->get("std")) {
    const bool cxx = std_name->find("++") != std::string::npos;
    static const std::regex valid(R"((c|gnu)(\+\+)?[0-9a-z]{2})");
    if (!std::regex_match(*std_name, valid)) {
      std::cerr << "agora review: --std: '" << *std_name << "' is not a C or C++ dialect (c99, gnu11, c++17, gnu++20, ...)\n";
      return exit_usage;
    }
    (cxx ? flags->cxx_std : flags->c_std) = *std_name;
  }
  plan.flags = flags;
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
  {
    // SARIF paths relative to the working directory when it holds the tree
    // (CI runs at the repository's top, and code scanning wants paths
    // relative to it).
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    const std::string c = cwd.lexically_normal().string();
    if (!ec && (report.root == c || report.root.compare(0, c.size() + 1, c + "/") == 0)) report.uri_base = c;
  }
  if (change) {
    // Only what the change touched (or, with --context, lies near it).
    report.diff = *a->get("diff");
    std::vector<rv::finding> kept;
    std::map<std::string, std::vector<std::pair<int, int>>> reached;
    if (reach)
      reached = rv::reachable_functions(*plan.tree, [&change](const std::string& file, int line) {
        const auto* cf = change->find(file);
        return cf && cf->touched(line);
      });
    auto in_reach = [&reached](const rv::finding& f) {
      auto it = reached.find(f.file);
      if (it == reached.end()) return false;
      for (const auto& [first, last] : it->second)
        if (f.line >= first && f.line <= last) return true;
      return false;
    };
    for (auto& f : report.findings) {
      const auto* cf = change->find(f.file);
      if ((cf && cf->touched(f.line, static_cast<int>(*context))) || (reach && in_reach(f))) kept.push_back(std::move(f));
    }
    report.findings = std::move(kept);
    if (auto s = rv::record_result(*done->board, report); !s) {
      std::cerr << "agora review: " << s.error().message << "\n";
      return exit_error;
    }
  }

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
  save(a->get("sarif"), rv::to_sarif(report, all).dump(2) + "\n");
  if (a->get("json")) {
    json j = rv::to_json(report);
    j["timing"] = run_timing(started);
    save(a->get("json"), j.dump(2) + "\n");
  }
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
  if (fail_unanalysed && !report.unanalysed.empty()) return exit_findings;
  if (fail_on == "never") return exit_ok;
  const int threshold = rv::severity_rank(fail_on);
  for (const auto& f : report.findings)
    if (f.reported && rv::severity_rank(f.severity) >= threshold) return exit_findings;
  return exit_ok;
}

}  // namespace agora::cli
