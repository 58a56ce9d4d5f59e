/// \file targets.hpp
/// The fuzz targets: one function per parser family of untrusted input,
/// shared by the libFuzzer executables (fuzz/fuzz_main.cpp, clang) and the
/// regression test that replays saved inputs (tests/fuzz_regression_test.cpp,
/// the normal GCC build).
///
/// ```cpp
/// // libFuzzer (one executable per target, see fuzz/CMakeLists.txt):
/// extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {
///   return agora::fuzz::fuzz_contract(d, n);
/// }
/// // Replaying a saved input in a test: a broken invariant or an escaped
/// // exception throws agora::fuzz::invariant_broken instead of aborting.
/// agora::fuzz::set_failure_handler(agora::fuzz::throw_on_failure);
/// agora::fuzz::fuzz_contract(bytes.data(), bytes.size());
/// ```
///
/// Each target feeds its bytes to the parser, lets no exception out of the
/// API go unnoticed (one escaping is a failure), and checks invariants the
/// API promises (docs/fuzzing.md lists them). A failure calls the failure
/// handler: by default it prints the target and the broken invariant to
/// stderr and aborts, which libFuzzer records as a crash.
///
/// Thread-safety: the targets are not meant to run concurrently (the
/// failure handler and the replay target's temporary file are per process).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace agora::fuzz {

// --- blackboard (agora_blackboard) ---------------------------------------------

/// A JSON array `[schema, value...]`: contract::from_schema, then check on
/// every value; the verdict survives a JSON round trip of schema and value,
/// and a blackboard with the contract accepts a put exactly when check does.
int fuzz_contract(const std::uint8_t* data, std::size_t size);
/// Keys, prefixes and key patterns: validate_key, validate_prefix,
/// key_pattern::parse and matches, key_in_prefix.
int fuzz_key(const std::uint8_t* data, std::size_t size);
/// Bytes decoded into a blackboard configuration (limits, contracts,
/// mergeable patterns, registered agents) and a sequence of scratchpad
/// operations, promotions built by hand (as received from another
/// process), retries, compactions and reads; checked against a model.
int fuzz_promotion(const std::uint8_t* data, std::size_t size);
/// JSON text as values travel between actors (actors' detail::load_json:
/// nlohmann's non-throwing parse), then put on a blackboard and read back.
int fuzz_json_text(const std::uint8_t* data, std::size_t size);

// --- the LLM layer (agora_llm) ---------------------------------------------------

/// sse_parser fed the bytes whole, one byte at a time and in chunks.
int fuzz_sse(const std::uint8_t* data, std::size_t size);
/// wire::parse_reply, both formats, with and without a response schema.
int fuzz_wire_reply(const std::uint8_t* data, std::size_t size);
/// An SSE stream through sse_parser and wire::stream_assembler, both
/// formats; split anywhere it assembles the same as unsplit.
int fuzz_wire_stream(const std::uint8_t* data, std::size_t size);
/// classify_http_error on a status, headers and a body; retry_policy on
/// the result.
int fuzz_http_error(const std::uint8_t* data, std::size_t size);
/// usage::from_openai and usage::from_anthropic, and price_table::cost.
int fuzz_usage(const std::uint8_t* data, std::size_t size);
/// llm_json.hpp's from_json for every type, and its to_json round trip.
int fuzz_llm_json(const std::uint8_t* data, std::size_t size);
/// replay_client::open on a file holding the bytes, then a call that must
/// get the first exchange's recorded reply.
int fuzz_replay_file(const std::uint8_t* data, std::size_t size);
/// endpoint::from_json, and retry_policy::next_delay of what it accepts.
int fuzz_endpoint(const std::uint8_t* data, std::size_t size);
/// cli::parse_scenario (the `agora run` scenario checker) with and without
/// --set overrides: a scenario or errors that name the file, never a throw.
int fuzz_scenario(const std::uint8_t* data, std::size_t size);

/// One target, by name (the name is also its corpus and regression folder).
struct target {
  const char* name;
  int (*run)(const std::uint8_t*, std::size_t);
};

/// Every target above.
inline std::vector<target> all_targets() {
  return {{"contract", fuzz_contract},       {"key", fuzz_key},
          {"promotion", fuzz_promotion},     {"json_text", fuzz_json_text},
          {"sse", fuzz_sse},                 {"wire_reply", fuzz_wire_reply},
          {"wire_stream", fuzz_wire_stream}, {"http_error", fuzz_http_error},
          {"usage", fuzz_usage},             {"llm_json", fuzz_llm_json},
          {"replay_file", fuzz_replay_file}, {"endpoint", fuzz_endpoint},
          {"scenario", fuzz_scenario}};
}

// --- failures --------------------------------------------------------------------

/// What throw_on_failure throws. Deliberately not a std::exception, so that
/// the targets' guards (which turn escaped std::exceptions into failures)
/// let it through.
struct invariant_broken {
  std::string message;
};

/// Called with "fuzz target <name>: <what broke>"; must not return.
using failure_handler = void (*)(const std::string& message);

/// The default handler: prints the message to stderr and aborts.
[[noreturn]] void abort_on_failure(const std::string& message);
/// The regression test's handler: throws invariant_broken.
[[noreturn]] void throw_on_failure(const std::string& message);
/// Replaces the handler (for the whole process).
void set_failure_handler(failure_handler h);

}  // namespace agora::fuzz
