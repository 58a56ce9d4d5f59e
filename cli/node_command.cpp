// Placeholder until nodes land.
#include <iostream>
#include "args.hpp"
#include "commands.hpp"
namespace agora::cli {
int serve_command(const std::vector<std::string>&) { std::cerr << "agora serve: not built yet\n"; return exit_error; }
int worker_command(const std::vector<std::string>&) { std::cerr << "agora worker: not built yet\n"; return exit_error; }
}
