// The reviewers: built-in source checks (security, resources, complexity)
// and the tool reviewers (cppcheck, clang-tidy), which run their tools
// through a process_runner so that no CAF worker waits for a process.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <regex>
#include <set>

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
  f.file = file;
  f.line = static_cast<int>(line);
  f.rule = rule;
  f.category = category;
  f.severity = category_severity(category);
  f.message = std::move(message);
  f.evidence = evidence;
  return f;
}

int brace_delta(const std::string& s) {
  int d = 0;
  for (char c : s) d += c == '{' ? 1 : c == '}' ? -1 : 0;
  return d;
}

}  // namespace

std::vector<finding> review_security(const source_tree& tree) {
  // A call of the C library's function: not a member (`x.system()`,
  // `p->system()`) nor another namespace's (`caf::system`), but `std::` is.
  static const std::regex unbounded(R"((^|[^A-Za-z0-9_.>:]|std::)(strcpy|strcat|gets|sprintf|vsprintf)\s*\()");
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

std::vector<finding> review_resources(const source_tree& tree) {
  static const std::regex acquire(
      R"(([A-Za-z_]\w*)\s*=\s*(\([^()]*\)\s*)?(fopen|fdopen|tmpfile|popen|malloc|calloc|realloc|strdup|open|new)\b)");
  std::vector<finding> out;
  for (const auto& f : tree.files) {
    const auto code = code_lines(f.lines);
    for (std::size_t i = 0; i < code.size(); ++i) {
      std::smatch m;
      if (!std::regex_search(code[i], m, acquire)) continue;
      const std::string var = m[1];
      const std::string how = m[3];
      const std::string release =
          how == "fopen" || how == "fdopen" || how == "tmpfile" ? "fclose"
          : how == "popen"                                      ? "pclose"
          : how == "open"                                       ? "close"
          : how == "new"                                        ? "delete"
                                                                : "free";
      const std::regex released("(^|[^A-Za-z0-9_])(fclose|pclose|close|free|delete(\\s*\\[\\s*\\])?)\\s*\\(?\\s*" +
                                var + "\\b");
      const std::regex guard("if\\s*\\(\\s*(!\\s*" + var + "\\s*\\)|" + var +
                             "\\s*(==|<=)\\s*(NULL|nullptr|0|-1)\\s*\\)|(NULL|nullptr)\\s*==\\s*" + var +
                             "\\s*\\)|" + var + "\\s*<\\s*0\\s*\\))");
      const std::regex mentions("(^|[^A-Za-z0-9_])" + var + "($|[^A-Za-z0-9_])");
      const std::regex ret("(^|[^A-Za-z0-9_])return($|[^A-Za-z0-9_])");
      int depth = 0;         // blocks opened since the acquisition
      int guard_level = -1;  // depth outside the failure check's block; -1 = none
      bool guard_next = false;
      for (std::size_t j = i + 1; j < code.size(); ++j) {
        const std::string& l = code[j];
        if (std::regex_search(l, released)) break;
        const bool is_return = std::regex_search(l, ret);
        const bool in_guard = guard_next || (guard_level >= 0 && depth > guard_level);
        if (std::regex_search(l, guard)) {
          if (l.find('{') != std::string::npos) guard_level = depth;
          else if (!is_return) guard_next = true;
        } else if (is_return && !in_guard) {
          auto after = l.substr(l.find("return"));
          if (!std::regex_search(after, mentions))  // returning it hands it over
            out.push_back(make(f.path, j + 1, "resources/leak-on-return", "resource-leak",
                               "returns without " + release + "(" + var + "): what " + how + "() acquired at line " +
                                   std::to_string(i + 1) + " leaks on this path",
                               f.lines[j]));
        } else if (guard_next && !l.empty() && l.find_first_not_of(" \t") != std::string::npos) {
          guard_next = false;
        }
        depth += brace_delta(l);
        if (guard_level >= 0 && depth <= guard_level && l.find('}') != std::string::npos) guard_level = -1;
        if (depth < 0) break;  // left the block that holds it
      }
    }
  }
  return out;
}

std::vector<finding> review_complexity(const source_tree& tree, int max_complexity, int max_nesting) {
  static const std::regex decision(R"((^|[^A-Za-z0-9_])(if|for|while|case|catch)($|[^A-Za-z0-9_])|&&|\|\||\?)");
  static const std::regex not_function(R"(^\s*(if|for|while|switch|catch|do|else|return|sizeof|namespace|class|struct|union|enum|extern)\b)");
  static const std::regex name_before_paren(R"(([A-Za-z_~][\w:~]*)\s*\($)");
  std::vector<finding> out;
  for (const auto& f : tree.files) {
    const auto code = code_lines(f.lines);
    int depth = 0;
    std::string header;            // code since the last ; { or } outside functions
    std::vector<std::size_t> at;   // the line of each header character
    int body_depth = -1;           // depth of the current function's body; -1 = none
    std::string name;
    std::size_t name_line = 0;
    int complexity = 1, nesting = 0;
    for (std::size_t i = 0; i < code.size(); ++i) {
      const std::string& l = code[i];
      if (body_depth >= 0) {
        for (auto it = std::sregex_iterator(l.begin(), l.end(), decision); it != std::sregex_iterator(); ++it)
          ++complexity;
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
                name = m[1];
                name_line = at[static_cast<std::size_t>(m.position(1))] + 1;
                body_depth = depth;
                complexity = 1;
                nesting = 0;
              }
            }
            header.clear();
            at.clear();
          } else {
            nesting = std::max(nesting, depth - body_depth);
          }
        } else if (c == '}') {
          if (body_depth >= 0 && depth == body_depth) {
            if (complexity > max_complexity || nesting > max_nesting) {
              std::string why = "function '" + name + "' has cyclomatic complexity " + std::to_string(complexity) +
                                " (threshold " + std::to_string(max_complexity) + ") and nests blocks " +
                                std::to_string(nesting) + " deep (threshold " + std::to_string(max_nesting) +
                                "): split it or return early";
              out.push_back(make(f.path, name_line, "complexity/function", "complexity", why,
                                 f.lines[name_line - 1]));
            }
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

// Include directories for the tools: every directory of the tree that holds
// a header, and the directories above it (for `#include "lib/x.h"`).
std::vector<std::string> include_dirs(const source_tree& tree) {
  std::set<std::string> dirs;
  for (const auto& f : tree.files) {
    auto ext = std::filesystem::path(f.path).extension().string();
    if (ext != ".h" && ext != ".hpp") continue;
    for (auto p = std::filesystem::path(f.path).parent_path(); !p.empty(); p = p.parent_path())
      dirs.insert(p.generic_string());
    dirs.insert(".");
  }
  std::vector<std::string> out;
  for (const auto& d : dirs) out.push_back("-I" + d);
  return out;
}

// Finishes an asynchronous reviewer's task: contributes `found` or fails.
void finish(const swarm_turn& turn, bb::scratchpad* sp, const actors::completion& done,
            bb::result<std::vector<finding>> found) {
  try {
    if (!found) {
      done.fail(found.error());
      return;
    }
    done(submit_contribution(turn, *sp, {to_array(*found), artifact_edit::by_order}));
  } catch (const std::exception& e) {
    done.fail(bb::error{bb::errc::invalid_argument, std::string("reviewer failed: ") + e.what()});
  }
}

std::string describe_failure(const char* tool, const process_result& r) {
  if (r.timed_out) return std::string(tool) + " timed out after " + std::to_string(r.elapsed.count()) + " ms";
  std::string err = r.err.substr(0, 400);
  return std::string(tool) + " exited with " +
         (r.signal ? "signal " + std::to_string(r.signal) : "status " + std::to_string(r.exit_code)) +
         (err.empty() ? "" : ": " + err);
}

}  // namespace

actors::agent_logic builtin_reviewer(std::shared_ptr<const source_tree> tree,
                                     std::vector<finding> (*fn)(const source_tree&)) {
  return contributor([tree, fn](const swarm_turn&) -> bb::result<json> { return to_array(fn(*tree)); });
}

actors::agent_logic cppcheck_reviewer(std::shared_ptr<const source_tree> tree,
                                      std::shared_ptr<process_runner> runner) {
  return actors::agent_logic::async(
      [tree, runner](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        auto turn = swarm_turn::read(t, sp);
        if (!turn) {
          done.fail(turn.error());
          return;
        }
        process_request rq;
        rq.argv = {"cppcheck", "--xml", "--enable=warning,style,performance,portability",
                   "--suppress=missingInclude", "--suppress=missingIncludeSystem", "--inline-suppr", "-q"};
        for (auto& d : include_dirs(*tree)) rq.argv.push_back(d);
        // The files on stdin: a large tree does not fit a command line.
        rq.argv.push_back("--file-list=-");
        for (const auto& f : tree->files) rq.stdin_text += f.path + "\n";
        rq.cwd = tree->root;
        rq.timeout = std::chrono::minutes(5);
        runner->submit(std::move(rq), [tree, turn = *turn, sp = &sp, done](bb::result<process_result> r) {
          if (!r) return finish(turn, sp, done, r.error());
          if (r->timed_out || r->signal != 0)
            return finish(turn, sp, done, bb::error{bb::errc::io_error, describe_failure("cppcheck", *r)});
          auto parsed = parse_cppcheck_xml(r->err, *tree);
          if (!parsed)
            return finish(turn, sp, done, bb::error{bb::errc::io_error, describe_failure("cppcheck", *r)});
          finish(turn, sp, done, std::move(parsed));
        });
      });
}

actors::agent_logic clang_tidy_reviewer(std::shared_ptr<const source_tree> tree,
                                        std::shared_ptr<process_runner> runner) {
  return actors::agent_logic::async(
      [tree, runner](const actors::task& t, bb::scratchpad& sp, actors::completion done) {
        auto turn = swarm_turn::read(t, sp);
        if (!turn) {
          done.fail(turn.error());
          return;
        }
        // Headers are reviewed through the files that include them.
        std::vector<const source_file*> units;
        for (const auto& f : tree->files) {
          auto ext = std::filesystem::path(f.path).extension().string();
          if (ext != ".h" && ext != ".hpp") units.push_back(&f);
        }
        if (units.empty()) return finish(*turn, &sp, done, std::vector<finding>{});
        struct gather {
          std::mutex mu;
          std::size_t left;
          std::vector<finding> found;
          std::string failure;
        };
        auto g = std::make_shared<gather>();
        g->left = units.size();
        const auto includes = include_dirs(*tree);
        for (const auto* f : units) {
          const bool c = std::filesystem::path(f->path).extension() == ".c";
          process_request rq;
          rq.argv = {"clang-tidy", "--quiet",
                     "-checks=-*,clang-analyzer-*,bugprone-*,cert-*,-cert-err33-c,"
                     "-bugprone-easily-swappable-parameters,"
                     "-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,"
                     "readability-function-cognitive-complexity",
                     "-config={CheckOptions: [{key: readability-function-cognitive-complexity.Threshold, "
                     "value: 25}]}",
                     f->path, "--", c ? "-std=c11" : "-std=c++17"};
          if (c) rq.argv.insert(rq.argv.end() - 1, {"-x", "c"});
          for (const auto& d : includes) rq.argv.push_back(d);
          rq.cwd = tree->root;
          rq.timeout = std::chrono::minutes(2);
          runner->submit(std::move(rq), [tree, g, turn = *turn, sp = &sp, done,
                                         path = f->path](bb::result<process_result> r) {
            std::unique_lock<std::mutex> lock(g->mu);
            if (!r) {
              g->failure = r.error().message;
            } else if (r->timed_out || r->signal != 0) {
              g->failure = describe_failure("clang-tidy", *r) + " on " + path;
            } else {
              auto found = parse_clang_tidy(r->out, *tree);
              g->found.insert(g->found.end(), found.begin(), found.end());
            }
            if (--g->left != 0) return;
            auto found = std::move(g->found);
            auto failure = g->failure;
            lock.unlock();
            if (!failure.empty()) return finish(turn, sp, done, bb::error{bb::errc::io_error, failure});
            finish(turn, sp, done, std::move(found));
          });
        }
      });
}

}  // namespace agora::cli::review
