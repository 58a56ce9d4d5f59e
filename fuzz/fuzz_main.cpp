// The libFuzzer entry point of one target: fuzz/CMakeLists.txt compiles this
// file once per target with AGORA_FUZZ_TARGET naming its function.
#include <cstddef>
#include <cstdint>

#include "targets.hpp"

#ifndef AGORA_FUZZ_TARGET
#error "define AGORA_FUZZ_TARGET as a function of targets.hpp, e.g. fuzz_contract"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return agora::fuzz::AGORA_FUZZ_TARGET(data, size);
}
