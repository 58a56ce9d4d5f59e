// Placeholder until inspect lands.
#include <iostream>
#include "args.hpp"
#include "commands.hpp"
namespace agora::cli {
int inspect_command(const std::vector<std::string>&) { std::cerr << "agora inspect: not built yet\n"; return exit_error; }
}
