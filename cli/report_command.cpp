// `agora report DIR`: the HTML report of a run in a data directory (report.hpp).
#include <filesystem>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "inspect.hpp"
#include "report.hpp"

namespace agora::cli {

namespace {

const command_spec& report_spec() {
  static const command_spec spec{
      "report",
      "agora report DIR [--run R] [-o FILE.html] [--trace SPANS.jsonl]",
      "Writes one self-contained HTML file about a run in the data directory DIR\n"
      "(DIR/blackboard.db, and DIR/spans.jsonl when present): a timeline of rounds\n"
      "and agents, the votes per round, the result and stop reason, conflicts and\n"
      "retries, the spans and the transcript. The file opens without network access.\n"
      "Prints the path of the file it wrote.",
      {{"run", "R", "the run to report (needed when DIR holds several)"},
       {"output", "FILE.html", "where to write (default DIR/report-<run>.html); also -o"},
       {"trace", "SPANS.jsonl", "spans to use instead of DIR/spans.jsonl"}},
      {"DIR"},
      1,
      1,
      "examples:\n"
      "  agora report run1                    # run1/report-<run>.html\n"
      "  agora report run1 --run q7 -o q7.html\n"
      "exit codes: 0 written; 2 bad command line, no blackboard in DIR, unknown or\n"
      "ambiguous run, unreadable spans file; 3 the file could not be written.\n"};
  return spec;
}

}  // namespace

int report_command(const std::vector<std::string>& args) {
  const command_spec& spec = report_spec();
  // -o is the one short option: accept it as --output.
  std::vector<std::string> argv;
  for (const auto& a : args) {
    if (a == "-o") argv.emplace_back("--output");
    else if (a.rfind("-o=", 0) == 0) argv.push_back("--output=" + a.substr(3));
    else argv.push_back(a);
  }
  parsed_args parsed;
  if (auto done = parse_or_exit(spec, argv, parsed)) return *done;
  const parsed_args* a = &parsed;
  const std::string dir = a->positionals.at(0);
  auto board = open_data_dir(dir);
  if (!board) {
    std::cerr << "agora report: " << board.error().message << "\n";
    return board.error().code == bb::errc::invalid_argument ? exit_usage : exit_error;
  }
  std::string run = a->get_or("run", "");
  if (run.empty()) {
    auto runs = list_runs(**board);
    if (runs.empty()) {
      std::cerr << "agora report: no run in '" << dir << "' (no runs/<id>/meta on its blackboard)\n";
      return exit_usage;
    }
    if (runs.size() > 1) {
      std::cerr << "agora report: '" << dir << "' holds " << runs.size()
                << " runs; choose one with --run:";
      for (const auto& r : runs) std::cerr << " " << r;
      std::cerr << "\n";
      return exit_usage;
    }
    run = runs.front();
  }
  report_input in;
  in.board = board->get();
  in.run_id = run;
  if (auto t = a->get("trace")) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*t, ec)) {
      std::cerr << "agora report: --trace '" << *t << "' is not a readable file\n";
      return exit_usage;
    }
    in.spans_path = *t;
  } else {
    const auto spans = std::filesystem::path(dir) / spans_file;
    std::error_code ec;
    if (std::filesystem::is_regular_file(spans, ec)) in.spans_path = spans.string();
  }
  const std::string out =
      a->get_or("output", (std::filesystem::path(dir) / ("report-" + run + ".html")).string());
  auto st = write_html_report(in, out);
  if (!st) {
    std::cerr << "agora report: " << st.error().message << "\n";
    return st.error().code == bb::errc::io_error ? exit_error : exit_usage;
  }
  std::cout << out << "\n";
  return exit_ok;
}

}  // namespace agora::cli
