// Placeholder until reports land.
#include <iostream>
#include "args.hpp"
#include "commands.hpp"
namespace agora::cli {
int report_command(const std::vector<std::string>&) { std::cerr << "agora report: not built yet\n"; return exit_error; }
}
