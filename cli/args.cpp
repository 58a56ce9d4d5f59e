#include "args.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "agora/log.hpp"

namespace agora::cli {

std::optional<std::string> parsed_args::get(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string parsed_args::get_or(const std::string& name, std::string fallback) const {
  auto v = get(name);
  return v ? *v : std::move(fallback);
}

std::vector<std::string> parsed_args::all(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

namespace {

bb::error usage_error(const command_spec& spec, const std::string& what) {
  return bb::error{bb::errc::invalid_argument,
                   "agora " + spec.name + ": " + what + " (agora " + spec.name + " --help lists the options)"};
}

}  // namespace

bb::result<parsed_args> parse_args(const command_spec& spec, const std::vector<std::string>& argv) {
  parsed_args out;
  for (const auto& a : argv)
    if (a == "--help" || a == "-h") {
      out.help = true;
      return out;
    }
  bool rest_positional = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (rest_positional || a.size() < 2 || a[0] != '-' || a == "-") {
      out.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      rest_positional = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return usage_error(spec, "unknown option '" + a + "'");
    std::string name = a.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto opt = std::find_if(spec.options.begin(), spec.options.end(),
                            [&](const option_spec& o) { return o.name == name; });
    if (opt == spec.options.end()) return usage_error(spec, "unknown option '--" + name + "'");
    if (!opt->repeatable && out.has(name))
      return usage_error(spec, "option '--" + name + "' given twice");
    if (opt->value_name.empty()) {
      if (inline_value) return usage_error(spec, "option '--" + name + "' takes no value");
      out.values[name].push_back("");
      continue;
    }
    if (inline_value) {
      out.values[name].push_back(*inline_value);
    } else if (i + 1 < argv.size()) {
      out.values[name].push_back(argv[++i]);
    } else {
      return usage_error(spec, "option '--" + name + "' needs a value (" + opt->value_name + ")");
    }
  }
  if (out.positionals.size() < spec.min_positionals) {
    std::string names;
    for (std::size_t i = out.positionals.size(); i < spec.positional_names.size(); ++i)
      names += (names.empty() ? "" : " ") + spec.positional_names[i];
    return usage_error(spec, "missing " + (names.empty() ? std::string("argument") : names));
  }
  if (out.positionals.size() > spec.max_positionals)
    return usage_error(spec, "unexpected argument '" + out.positionals[spec.max_positionals] + "'");
  return out;
}

std::string usage(const command_spec& spec) {
  std::ostringstream s;
  s << "usage: " << spec.synopsis << "\n\n" << spec.description << "\n";
  if (!spec.options.empty()) {
    s << "\noptions:\n";
    std::size_t width = 0;
    auto left = [](const option_spec& o) {
      return "--" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    };
    for (const auto& o : spec.options) width = std::max(width, left(o).size());
    for (const auto& o : spec.options) {
      std::string l = left(o);
      s << "  " << l << std::string(width - l.size() + 2, ' ') << o.help
        << (o.repeatable ? " (repeatable)" : "") << "\n";
    }
    s << "  --help" << std::string(width > 6 ? width - 6 + 2 : 2, ' ') << "this text\n";
  }
  s << "\nlogging (every command; also AGORA_LOG=LEVELS):\n"
       "  --log-level LEVELS       info (default), debug, warn, off, or per logger:\n"
       "                           warn,agora.actors=debug (loggers agora.bb, agora.actors,\n"
       "                           agora.llm, agora.agents, agora.cli)\n"
       "  --log-file FILE          append the log lines to FILE instead of stderr\n"
       "  --log-format text|json   timestamped text lines (default) or JSON lines\n";
  if (!spec.epilog.empty()) s << "\n" << spec.epilog << (spec.epilog.back() == '\n' ? "" : "\n");
  return s.str();
}

bb::status take_logging_options(const std::string& command, std::vector<std::string>& argv) {
  std::map<std::string, std::string> given;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      rest.insert(rest.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    bool taken = false;
    for (const char* name : {"log-level", "log-file", "log-format"}) {
      const std::string flag = std::string("--") + name;
      if (a == flag) {
        if (i + 1 >= argv.size())
          return bb::error{bb::errc::invalid_argument,
                           "agora " + command + ": " + flag + " needs a value"};
        given[name] = argv[++i];
        taken = true;
      } else if (a.rfind(flag + "=", 0) == 0) {
        given[name] = a.substr(flag.size() + 1);
        taken = true;
      }
    }
    if (!taken) rest.push_back(a);
  }
  log::settings s;
  if (const char* env = std::getenv("AGORA_LOG"); env && *env) {
    if (auto ok = log::check_levels(env); !ok)
      return bb::error{bb::errc::invalid_argument, "AGORA_LOG: " + ok.error().message};
    s.levels = env;
  }
  if (auto it = given.find("log-level"); it != given.end()) {
    if (auto ok = log::check_levels(it->second); !ok)
      return bb::error{bb::errc::invalid_argument,
                       "agora " + command + ": --log-level: " + ok.error().message};
    s.levels += (s.levels.empty() ? "" : ",") + it->second;
  }
  if (auto it = given.find("log-format"); it != given.end()) {
    if (it->second == "json") {
      s.fmt = log::format::json;
    } else if (it->second != "text") {
      return bb::error{bb::errc::invalid_argument, "agora " + command + ": --log-format '" +
                                                       it->second + "' is not text or json"};
    }
  }
  if (auto it = given.find("log-file"); it != given.end()) s.file = it->second;
  if (auto ok = log::configure(s); !ok) {
    return bb::error{ok.error().code, "agora " + command + ": " + ok.error().message};
  }
  argv = std::move(rest);
  return {};
}

std::optional<int> parse_or_exit(const command_spec& spec, const std::vector<std::string>& argv,
                                 parsed_args& out) {
  auto a = parse_args(spec, argv);
  if (!a) {
    std::cerr << a.error().message << "\n";  // names the command itself
    return exit_usage;
  }
  if (a->help) {
    std::cout << usage(spec);
    return exit_ok;
  }
  out = std::move(*a);
  return std::nullopt;
}

bb::result<double> number_option(const parsed_args& a, const std::string& name, double fallback,
                                 double min, double max) {
  auto v = a.get(name);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || end != v->c_str() + v->size() || errno != 0 || !std::isfinite(d) || d < min ||
      d > max) {
    std::ostringstream msg;
    msg << "option '--" << name << "': expected a number from " << min << " to " << max << ", got '"
        << *v << "'";
    return bb::error{bb::errc::invalid_argument, msg.str()};
  }
  return d;
}

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

}  // namespace agora::cli
