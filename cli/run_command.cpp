// Placeholder until scenarios land.
#include <iostream>
#include "args.hpp"
#include "commands.hpp"
namespace agora::cli {
int run_command(const std::vector<std::string>&) { std::cerr << "agora run: not built yet\n"; return exit_error; }
}
