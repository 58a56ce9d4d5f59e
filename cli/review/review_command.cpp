// Placeholder until the review swarm lands.
#include <iostream>
#include "args.hpp"
#include "commands.hpp"
namespace agora::cli {
int review_command(const std::vector<std::string>&) { std::cerr << "agora review: not built yet\n"; return exit_error; }
}
