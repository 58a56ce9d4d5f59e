// The failure plumbing of fuzz/targets.hpp.
#include <cstdio>
#include <cstdlib>

#include "support.hpp"

namespace agora::fuzz {

thread_local const char* current_target = "?";

namespace {
failure_handler handler = abort_on_failure;
}  // namespace

void abort_on_failure(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void throw_on_failure(const std::string& message) { throw invariant_broken{message}; }

void set_failure_handler(failure_handler h) { handler = h ? h : abort_on_failure; }

void fail(const std::string& what) {
  handler(std::string("fuzz target ") + current_target + ": " + what);
  std::abort();  // a handler that returns breaks its contract
}

}  // namespace agora::fuzz
