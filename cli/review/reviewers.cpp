// The reviewers: built-in source checks (security, resources, complexity)
// and the tool reviewers (cppcheck, clang-tidy), which run their tools
// through a process_runner so that no CAF worker waits for a process.
#include <algorithm>
#include <cctype>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include <agora/agents/swarm.hpp>

#include "review/review.hpp"

namespace agora::cli::review {

namespace {

// Longer lines (minified or generated code) are not analysed: libstdc++'s
// std::regex recurses per character and could exhaust the stack on them.
constexpr std::size_t max_line = 4096;

// The file's lines with comments and the contents of string and character
// literals blanked (the quotes stay), so that checks see only code.
std::vector<std::string> code_lines(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  bool block_comment = false;
  for (const auto& l : lines) {
    std::string s = l.size() > max_line ? std::string() : l;
    char quote = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (block_comment) {
        if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/') {
          s[i] = s[i + 1] = ' ';
          ++i;
          block_comment = false;
        } else {
          s[i] = ' ';
        }
      } else if (quote) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          s[i] = s[i + 1] = ' ';
          ++i;
        } else if (s[i] == quote) {
          quote = 0;
        } else {
          s[i] = ' ';
        }
      } else if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '/') {
        s.erase(i);
        break;
      } else if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
        s[i] = s[i + 1] = ' ';
        ++i;
        block_comment = true;
      } else if (s[i] == '"' || s[i] == '\'') {
        quote = s[i];
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

finding make(const std::string& file, std::size_t line, const char* rule, const std::string& category,
             std::string message, const std::string& evidence) {
  finding f;
  f.cwe = lookup_rule(std::string(rule).substr(0, std::string(rule).find('/')), rule, message).cwe;
  f.file = file;
  f.line = static_cast<int>(line);
  f.rule = rule;
  f.category = category;
  f.severity = category_severity(category);
  f.message = std::move(message);
  f.evidence = evidence;
  return f;
}



}  // namespace

std::vector<finding> review_security(const source_tree& tree) {
  // A call of the C library's function: not a member (`x.system()`,
  // `p->system()`) nor another namespace's (`caf::system`), but `std::` is.
  static const std::regex unbounded(R"((^|[^A-Za-z0-9_.>:]|std::)(strcpy|strcat|sprintf|vsprintf)\s*\()");
  static const std::regex gets_call(R"((^|[^A-Za-z0-9_.>:]|std::)gets\s*\()");
  static const std::regex shell(
      R"((^|[^A-Za-z0-9_.>:]|std::)(system|popen|execl|execlp|execle|execv|execvp)\s*\(\s*(.?))");
  std::vector<finding> out;
  for (const auto& f : tree.files) {
    const auto code = code_lines(f.lines);
    for (std::size_t i = 0; i < code.size(); ++i) {
      std::smatch m;
      if (std::regex_search(code[i], m, unbounded)) {
        const std::string fn = m[2];
        out.push_back(make(f.path, i + 1, "security/unbounded-copy", "buffer-overflow",
                           fn + "() writes into its destination without a bound: input longer than the "
                                "buffer overflows it (use snprintf or a bounded copy)",
                           f.lines[i]));
      }
      if (std::regex_search(code[i], m, gets_call))
        out.push_back(make(f.path, i + 1, "security/dangerous-function", "dangerous-function",
                           "gets() reads a line of any length into a fixed buffer: it cannot be used safely "
                           "(use fgets with the buffer's size)",
                           f.lines[i]));
      // A string literal is a fixed command; `)` is a declaration or a call without one.
      if (std::regex_search(code[i], m, shell) && m[3] != "\"" && m[3] != ")") {
        const std::string fn = m[2];
        out.push_back(make(f.path, i + 1, "security/shell-command", "command-injection",
                           fn + "() runs a command built at run time: input that reaches it can run "
                                "other commands (use execve with a fixed argv, or validate it)",
                           f.lines[i]));
      }
    }
  }
  return out;
}

namespace {

// One function found by scan_functions: its name, the line of the name, the
// line of its closing brace, its cyclomatic complexity and block nesting.
struct scanned_function {
  std::string name;
  int first = 0, last = 0;
  int complexity = 1, nesting = 0;
};

// The functions of one file, found lexically (comments and literals
// blanked; preprocessor lines are not code: `#pragma comment(...)` must not
// read as a function's header).
std::vector<scanned_function> scan_functions(const source_file& f) {
  static const std::regex decision(R"((^|[^A-Za-z0-9_])(if|for|while|case|catch)($|[^A-Za-z0-9_])|&&|\|\||\?)");
  static const std::regex not_function(R"(^\s*(if|for|while|switch|catch|do|else|return|sizeof|namespace|class|struct|union|enum|extern)\b)");
  static const std::regex name_before_paren(R"(([A-Za-z_~][\w:~]*)\s*\($)");
  std::vector<scanned_function> out;
  auto code = code_lines(f.lines);
  bool cont = false;
  for (std::size_t i = 0; i < code.size(); ++i) {
    const auto first = code[i].find_first_not_of(" \t");
    const bool directive = cont || (first != std::string::npos && code[i][first] == '#');
    cont = directive && !code[i].empty() && code[i].back() == '\\';
    if (directive) code[i].clear();
  }
  int depth = 0;
  std::string header;           // code since the last ; { or } outside functions
  std::vector<std::size_t> at;  // the line of each header character
  int body_depth = -1;          // depth of the current function's body; -1 = none
  scanned_function cur;
  for (std::size_t i = 0; i < code.size(); ++i) {
    const std::string& l = code[i];
    if (body_depth >= 0) {
      for (auto it = std::sregex_iterator(l.begin(), l.end(), decision); it != std::sregex_iterator(); ++it)
        ++cur.complexity;
    }
    for (char c : l) {
      if (body_depth < 0 && c != '{' && c != '}' && c != ';') {
        header += c;
        at.push_back(i);
      }
      if (c == ';' && body_depth < 0) {
        header.clear();
        at.clear();
      } else if (c == '{') {
        ++depth;
        if (body_depth < 0) {
          // Is the header a function's? `name(...) [qualifiers]` and not a control statement or lambda.
          auto close = header.rfind(')');
          auto open = header.find('(');
          bool fn = open != std::string::npos && close != std::string::npos && close > open &&
                    !std::regex_search(header, not_function) && header.find('[') == std::string::npos &&
                    header.find('=') == std::string::npos;
          if (fn) {
            std::smatch m;
            std::string upto = header.substr(0, open + 1);
            if (std::regex_search(upto, m, name_before_paren)) {
              cur = scanned_function{};
              cur.name = m[1];
              cur.first = static_cast<int>(at[static_cast<std::size_t>(m.position(1))]) + 1;
              body_depth = depth;
            }
          }
          header.clear();
          at.clear();
        } else {
          cur.nesting = std::max(cur.nesting, depth - body_depth);
        }
      } else if (c == '}') {
        if (body_depth >= 0 && depth == body_depth) {
          cur.last = static_cast<int>(i) + 1;
          out.push_back(cur);
          body_depth = -1;
        }
        --depth;
        if (body_depth < 0) {
          header.clear();
          at.clear();
        }
      }
    }
  }
  return out;
}

}  // namespace

std::vector<function_span> function_spans(const source_file& f) {
  std::vector<function_span> out;
  for (const auto& s : scan_functions(f)) out.push_back({s.name, s.first, s.last});
  return out;
}

std::map<std::string, std::vector<std::pair<int, int>>> reachable_functions(
    const source_tree& tree, const std::function<bool(const std::string&, int)>& changed) {
  struct fn {
    const source_file* file;
    function_span span;
    std::string bare;  // the name without its qualifiers
    bool reached = false;
  };
  std::vector<fn> all;
  std::map<const source_file*, std::vector<std::string>> code;
  for (const auto& f : tree.files) {
    for (auto& sp : function_spans(f)) {
      const auto colon = sp.name.rfind(':');
      std::string bare = colon == std::string::npos ? sp.name : sp.name.substr(colon + 1);
      all.push_back({&f, std::move(sp), std::move(bare)});
    }
  }
  for (auto& x : all)
    for (int l = x.span.first; l <= x.span.last && !x.reached; ++l) x.reached = changed(x.file->path, l);
  // Who calls whom, by name: each identifier followed by '(' in a body.
  std::map<std::string, std::vector<std::size_t>> callers, named;
  std::vector<std::set<std::string>> calls_of(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) named[all[i].bare].push_back(i);
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto& x = all[i];
    auto& lines = code[x.file];
    if (lines.empty()) lines = code_lines(x.file->lines);
    std::set<std::string> calls;
    for (int l = x.span.first + 1; l <= x.span.last; ++l) {
      const std::string& text = lines[static_cast<std::size_t>(l - 1)];
      for (std::size_t at = 0; at < text.size();) {
        if (!(std::isalpha(static_cast<unsigned char>(text[at])) || text[at] == '_')) {
          ++at;
          continue;
        }
        std::size_t end = at;
        while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
        std::size_t after = end;
        while (after < text.size() && text[after] == ' ') ++after;
        if (after < text.size() && text[after] == '(') calls.insert(text.substr(at, end - at));
        at = end;
      }
    }
    for (const auto& c : calls) callers[c].push_back(i);
    calls_of[i] = std::move(calls);
  }
  // From each reached function to its callers (what the change returns
  // reaches them) and its callees (what it passes reaches them), each once.
  std::vector<std::size_t> work;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i].reached) work.push_back(i);
  auto reach = [&](std::size_t j) {
    if (all[j].reached) return;
    all[j].reached = true;
    work.push_back(j);
  };
  while (!work.empty()) {
    const std::size_t i = work.back();
    work.pop_back();
    if (auto it = callers.find(all[i].bare); it != callers.end())
      for (std::size_t j : it->second) reach(j);
    for (const auto& c : calls_of[i])
      if (auto it = named.find(c); it != named.end())
        for (std::size_t j : it->second) reach(j);
  }
  std::map<std::string, std::vector<std::pair<int, int>>> out;
  for (const auto& x : all)
    if (x.reached) out[x.file->path].emplace_back(x.span.first, x.span.last);
  return out;
}

std::vector<finding> review_complexity(const source_tree& tree, int max_complexity, int max_nesting) {
  std::vector<finding> out;
  for (const auto& f : tree.files) {
    for (const auto& fn : scan_functions(f)) {
      if (fn.complexity <= max_complexity && fn.nesting <= max_nesting) continue;
      std::string why = "function '" + fn.name + "' has cyclomatic complexity " + std::to_string(fn.complexity) +
                        " (threshold " + std::to_string(max_complexity) + ") and nests blocks " +
                        std::to_string(fn.nesting) + " deep (threshold " + std::to_string(max_nesting) +
                        "): split it or return early";
      out.push_back(make(f.path, fn.first, "complexity/function", "complexity", why,
                         f.lines[static_cast<std::size_t>(fn.first - 1)]));
    }
  }
  return out;
}

// --- Agents ------------------------------------------------------------------

namespace {

json to_array(const std::vector<finding>& fs) {
  json a = json::array();
  for (const auto& f : fs) a.push_back(to_json(f));
  return a;
}

bool is_header(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  return ext == ".h" || ext == ".hpp";
}

// Finishes an asynchronous reviewer's task: stages its coverage record and
// contributes `found` (one promotion), or fails.
void finish(const swarm_turn& turn, bb::scratchpad* sp, const actors::completion& done,
            bb::result<std::vector<finding>> found, const coverage* cov = nullptr) {
  try {
    if (!found) {
      done.fail(found.error());
      return;
    }
    if (cov) {
      const std::string reviewer = turn.key.substr(turn.key.rfind("/reviewer/") + 1);
      if (auto s = sp->put(coverage_key(turn.run_id, reviewer), to_json(*cov)); !s) {
        done.fail(s.error());
        return;
      }
    }
    done(submit_contribution(turn, *sp, {to_array(*found), artifact_edit::by_order}));
  } catch (const std::exception& e) {
    done.fail(bb::error{bb::errc::invalid_argument, std::string("reviewer failed: ") + e.what()});
  }
}

std::string first_line(const std::string& s) {
  auto start = s.find_first_not_of("\n ");
  if (start == std::string::npos) return "";
  auto end = s.find('\n', start);
  return s.substr(start, std::min<std::size_t>(end == std::string::npos ? s.size() - start : end - start, 300));
}

// The whole line of a compiler's output holding its first "error: ", "" if none.
std::string first_error_line(const std::string& text) {
  const auto at = text.find("error: ");
  if (at == std::string::npos) return "";
  const auto bol = text.rfind('\n', at);
  const auto eol = text.find('\n', at);
  const std::size_t b = bol == std::string::npos ? 0 : bol + 1;
  return text.substr(b, (eol == std::string::npos ? text.size() : eol) - b);
}

std::string describe_failure(const std::string& tool, const process_result& r) {
  if (r.timed_out) return tool + " timed out after " + std::to_string(r.elapsed.count() / 1000) + " s";
  if (r.cancelled) return tool + " was stopped (interrupted)";
  if (r.not_started) return "not started: the review's time limit ran out";
  const std::string err = first_line(r.err);
  return tool + " exited with " +
         (r.signal ? "signal " + std::to_string(r.signal) : "status " + std::to_string(r.exit_code)) +
         (err.empty() ? "" : ": " + err);
}

// What one tool does with one file: the process to run, and how to read
// what it printed (findings; the file's failure, if any, into `failed`).
struct per_file_tool {
  std::string name;
  std::function<bool(const source_file&)> wants;
  std::function<process_request(const source_file&)> request;
  std::function<std::vector<finding>(const process_result&, const source_file&, std::vector<not_analysed>&)>
      parse;
};

// A reviewer that runs `tool` once per file, `ctx.runner` processes at
// once. A file whose process failed, timed out, could not be compiled, or
// was not started before the review's deadline is not analysed, with the
// reason; the reviewer itself succeeds with what it found elsewhere.
actors::agent_logic per_file_reviewer(tool_context ctx, per_file_tool tool) {
  return actors::agent_logic::async([ctx, tool](const actors::task& t, bb::scratchpad& sp,
                                                actors::completion done) {
    auto turn = swarm_turn::read(t, sp);
    if (!turn) {
      done.fail(turn.error());
      return;
    }
    std::vector<const source_file*> units;
    for (const auto& f : ctx.tree->files)
      if (tool.wants(f)) units.push_back(&f);
    if (ctx.files_planned) ctx.files_planned(units.size());
    if (units.empty()) {
      coverage none;
      return finish(*turn, &sp, done, std::vector<finding>{}, &none);
    }
    struct gather {
      std::mutex mu;
      std::size_t left = 0;
      std::vector<finding> found;
      coverage cov;
    };
    auto g = std::make_shared<gather>();
    g->left = units.size();
    // Called with g->mu held: true for the last file.
    auto one_done = [g] { return --g->left == 0; };
    for (const auto* f : units) {
      process_request rq = tool.request(*f);
      rq.timeout = ctx.per_file_timeout;
      rq.not_after = ctx.deadline;
      rq.cwd = ctx.tree->root;
      const std::string path = f->path;
      auto on_result = [g, ctx, tool, f, path, one_done, turn = *turn, sp = &sp,
                        done](bb::result<process_result> r) {
        std::vector<not_analysed> failed;
        std::vector<finding> found;
        if (!r) {
          failed.push_back({"", path, r.error().message});
        } else if (r->timed_out && std::chrono::steady_clock::now() >= ctx.deadline - std::chrono::milliseconds(200)) {
          failed.push_back({"", path, "stopped: " + ctx.deadline_reason});
        } else if (r->not_started) {
          failed.push_back({"", path, "not started: " + ctx.deadline_reason});
        } else if (r->timed_out || (r->signal != 0 && !r->truncated) || r->cancelled) {
          failed.push_back({"", path, describe_failure(tool.name, *r)});
        } else {
          found = tool.parse(*r, *f, failed);
        }
        if (ctx.file_done) ctx.file_done();
        std::unique_lock<std::mutex> lock(g->mu);
        g->found.insert(g->found.end(), found.begin(), found.end());
        bool this_failed = false;
        for (auto& n : failed) {
          // One process checks one translation unit: an error inside a
          // header it includes leaves that unit (named) not analysed.
          n.file = path;
          if (n.file == path) this_failed = true;
          bool seen = false;
          for (const auto& o : g->cov.files) seen = seen || o.file == n.file;
          if (!seen) g->cov.files.push_back(std::move(n));
        }
        if (!this_failed) ++g->cov.analysed;
        if (!one_done()) return;
        auto all = std::move(g->found);
        auto cov = std::move(g->cov);
        lock.unlock();
        finish(turn, sp, done, std::move(all), &cov);
      };
      ctx.runner->submit(std::move(rq), on_result);
    }
  });
}

// The compiler's arguments for `f`: its flags, the dialect, the language.
std::vector<std::string> compile_args(const tool_context& ctx, const source_file& f) {
  std::vector<std::string> args = ctx.flags->of(f.path);
  if (auto s = ctx.flags->std_flag(f.path); !s.empty()) args.push_back(s);
  return args;
}

const std::vector<std::string>& warning_flags() {
  static const std::vector<std::string> w = {"-Wall", "-Wextra", "-Wformat=2", "-Wformat-security"};
  return w;
}

}  // namespace

std::string coverage_key(const std::string& run_id, const std::string& reviewer_id) {
  return "runs/" + run_id + "/coverage/" + reviewer_id;
}

actors::agent_logic builtin_reviewer(std::shared_ptr<const source_tree> tree,
                                     std::vector<finding> (*fn)(const source_tree&)) {
  return contributor([tree, fn](const swarm_turn&) -> bb::result<json> { return to_array(fn(*tree)); });
}

actors::agent_logic cppcheck_reviewer(tool_context ctx) {
  per_file_tool t;
  t.name = "cppcheck";
  t.wants = [](const source_file& f) { return !is_header(f.path); };
  t.request = [ctx](const source_file& f) {
    process_request rq;
    rq.argv = {"cppcheck", "--xml", "--enable=warning,style,performance,portability",
               "--suppress=missingInclude", "--suppress=missingIncludeSystem", "--inline-suppr", "-q"};
    const bool c = std::filesystem::path(f.path).extension() == ".c";
    rq.argv.push_back(c ? "--language=c" : "--language=c++");
    for (const auto& a : ctx.flags->of(f.path))
      if (a.rfind("-I", 0) == 0 || a.rfind("-D", 0) == 0 || a.rfind("-U", 0) == 0) rq.argv.push_back(a);
    rq.argv.push_back(f.path);
    return rq;
  };
  auto tree = ctx.tree;
  t.parse = [tree](const process_result& r, const source_file& f, std::vector<not_analysed>& failed) {
    auto parsed = parse_cppcheck_xml(r.err, *tree, &failed);
    if (!parsed) {
      failed.push_back({"", f.path, describe_failure("cppcheck", r)});
      return std::vector<finding>{};
    }
    return std::move(*parsed);
  };
  return per_file_reviewer(std::move(ctx), std::move(t));
}

actors::agent_logic gcc_reviewer(tool_context ctx) {
  per_file_tool t;
  t.name = "gcc";
  t.wants = [](const source_file& f) { return !is_header(f.path); };
  t.request = [ctx](const source_file& f) {
    process_request rq;
    const bool c = std::filesystem::path(f.path).extension() == ".c";
    // -fsyntax-only would stop before the analyzer runs: compile to nothing.
    rq.argv = {c ? "gcc" : "g++", "-c", "-o", "/dev/null", "-fanalyzer", "-fdiagnostics-format=json",
               "-fmax-errors=5"};
    for (const auto& w : warning_flags()) rq.argv.push_back(w);
    for (const auto& a : compile_args(ctx, f)) rq.argv.push_back(a);
    rq.argv.push_back(c ? "-xc" : "-xc++");
    rq.argv.push_back(f.path);
    return rq;
  };
  auto tree = ctx.tree;
  t.parse = [tree](const process_result& r, const source_file& f, std::vector<not_analysed>& failed) {
    auto parsed = parse_gcc_json(r.err, *tree, &failed);
    if (!parsed) {
      if (r.exit_code != 0) failed.push_back({"", f.path, describe_failure("gcc", r)});
      return std::vector<finding>{};
    }
    if (r.exit_code != 0 && failed.empty()) failed.push_back({"", f.path, describe_failure("gcc", r)});
    return std::move(*parsed);
  };
  return per_file_reviewer(std::move(ctx), std::move(t));
}

actors::agent_logic clang_tidy_reviewer(tool_context ctx) {
  per_file_tool t;
  t.name = "clang-tidy";
  t.wants = [](const source_file& f) { return !is_header(f.path); };
  t.request = [ctx](const source_file& f) {
    process_request rq;
    const bool c = std::filesystem::path(f.path).extension() == ".c";
    rq.argv = {"clang-tidy", "--quiet", "--allow-enabling-analyzer-alpha-checkers",
               "-checks=-*,clang-analyzer-*,-clang-analyzer-alpha*,bugprone-*,cert-*,-cert-err33-c,"
               "-bugprone-easily-swappable-parameters,"
               "-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,"
               "clang-analyzer-alpha.security.ArrayBoundV2,clang-analyzer-alpha.unix.cstring.OutOfBounds,"
               "clang-analyzer-alpha.security.taint.TaintPropagation,clang-analyzer-alpha.security.ReturnPtrRange,"
               "clang-analyzer-alpha.core.CastSize,clang-analyzer-alpha.core.SizeofPtr,"
               "clang-analyzer-alpha.unix.Stream,"
               "readability-function-cognitive-complexity",
               "-config={CheckOptions: [{key: readability-function-cognitive-complexity.Threshold, "
               "value: 25}]}",
               f.path, "--"};
    rq.argv.push_back(c ? "-xc" : "-xc++");
    for (const auto& w : warning_flags()) rq.argv.push_back(w);
    for (const auto& a : compile_args(ctx, f)) rq.argv.push_back(a);
    return rq;
  };
  auto tree = ctx.tree;
  t.parse = [tree](const process_result& r, const source_file& f, std::vector<not_analysed>& failed) {
    auto found = parse_clang_tidy(r.out, *tree, &failed);
    // Compiler errors are printed on stdout with the warnings; a failure
    // that printed none (a crash) is named by clang-tidy's stderr.
    if (r.exit_code != 0 && failed.empty() && r.err.find("error") != std::string::npos) {
      // Name the first error clang-tidy printed, not its count.
      std::string why = describe_failure("clang-tidy", r);
      for (const std::string* text : {&r.out, &r.err})
        if (auto e = first_error_line(*text); !e.empty()) {
          why = "clang-tidy: " + e;
          break;
        }
      failed.push_back({"", f.path, why});
    }
    return found;
  };
  return per_file_reviewer(std::move(ctx), std::move(t));
}

actors::agent_logic flawfinder_reviewer(tool_context ctx) {
  return actors::agent_logic::async([ctx](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
    auto turn = swarm_turn::read(t, sp);
    if (!turn) {
      done.fail(turn.error());
      return;
    }
    process_request rq;
    rq.argv = {"flawfinder", "--csv", "--dataonly", "--quiet", "--minlevel=1", "--"};
    for (const auto& f : ctx.tree->files) rq.argv.push_back(f.path);
    rq.cwd = ctx.tree->root;
    rq.timeout = ctx.per_file_timeout * 4;
    rq.not_after = ctx.deadline;
    ctx.runner->submit(std::move(rq), [ctx, turn = *turn, sp = &sp, done](bb::result<process_result> r) {
      coverage cov;
      if (!r) return finish(turn, sp, done, r.error());
      if (r->not_started || r->timed_out || r->signal != 0 || r->exit_code != 0) {
        for (const auto& f : ctx.tree->files) cov.files.push_back({"", f.path, describe_failure("flawfinder", *r)});
        return finish(turn, sp, done, std::vector<finding>{}, &cov);
      }
      cov.analysed = ctx.tree->files.size();
      finish(turn, sp, done, parse_flawfinder_csv(r->out, *ctx.tree), &cov);
    });
  });
}

actors::agent_logic flow_reviewer(tool_context ctx) {
  per_file_tool t;
  t.name = "flow";
  t.wants = [](const source_file& f) { return !is_header(f.path); };
  t.request = [ctx](const source_file& f) {
    process_request rq;
    const bool c = std::filesystem::path(f.path).extension() == ".c";
    rq.argv = {"clang", "-fsyntax-only", "-Xclang", "-ast-dump=json", "-fno-color-diagnostics", "-w",
               c ? "-xc" : "-xc++"};
    for (const auto& a : compile_args(ctx, f)) rq.argv.push_back(a);
    rq.argv.push_back(f.path);
    rq.max_output = flow_max_ast;
    rq.stop_when_truncated = true;
    return rq;
  };
  auto tree = ctx.tree;
  t.parse = [tree](const process_result& r, const source_file& f, std::vector<not_analysed>& failed) {
    if (r.truncated) {
      failed.push_back({"", f.path,
                        "clang's AST of this file is larger than " + std::to_string(flow_max_ast >> 20) +
                            " MB (its headers); the data-flow analysis was not run"});
      return std::vector<finding>{};
    }
    if (r.exit_code != 0) {
      // The compiler's first error names why.
      std::string why = describe_failure("clang", r);
      if (auto e = first_error_line(r.err); !e.empty()) why = "clang: " + e;
      failed.push_back({"", f.path, why});
      return std::vector<finding>{};
    }
    std::string text;
    for (const auto& l : f.lines) text += l + "\n";
    // clang's offsets count the bytes of the file as it is on disk.
    if (std::ifstream in(std::filesystem::path(tree->root) / f.path, std::ios::binary); in) {
      std::ostringstream raw;
      raw << in.rdbuf();
      text = raw.str();
    }
    auto found = analyse_clang_ast(r.out, f.path, f.path, text);
    if (!found) {
      failed.push_back({"", f.path, found.error().message});
      return std::vector<finding>{};
    }
    return std::move(*found);
  };
  return per_file_reviewer(std::move(ctx), std::move(t));
}

}  // namespace agora::cli::review
