#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and runs each on its seed corpus for a while. See docs/fuzzing.md.
#
#   fuzz/run.sh              # every target, 20 s each
#   fuzz/run.sh 5            # 5 s each (or FUZZ_SECONDS=5 fuzz/run.sh)
#   fuzz/run.sh 60 promotion sse    # only these targets
#   fuzz/run.sh --without-caf 5     # the targets whose code has no CAF (what
#                                   # CI runs: `scenario` links the actor and
#                                   # agents layers, about 6 more minutes of
#                                   # clang build; its saved inputs replay in
#                                   # fuzz_regression_tests on every CI run)
#
# Environment: FUZZ_SECONDS (default 20), FUZZ_BUILD_DIR (default
# build-fuzz), JOBS (default 2), FUZZ_MAX_LEN (default 4096 bytes per input),
# FUZZ_TIMEOUT (default 10 s per input).
#
# Each target starts from fuzz/corpus/<target>/, tests/fuzz_regressions/<target>/
# (read only) and, for the reply and stream parsers, tests/llm/data/; what it
# learns goes to $FUZZ_BUILD_DIR/corpus/<target>/. A crash, a broken
# invariant, a leak or a hang is written to $FUZZ_BUILD_DIR/crashes/ and
# makes the script exit 1 once every target has run. To keep one as a
# regression test, copy it to tests/fuzz_regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

without_caf=0
if [ "${1:-}" = "--without-caf" ]; then without_caf=1; shift; fi
seconds=${1:-${FUZZ_SECONDS:-20}}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
max_len=${FUZZ_MAX_LEN:-4096}
timeout=${FUZZ_TIMEOUT:-10}
all=(contract key promotion json_text sse wire_reply wire_stream http_error usage llm_json replay_file endpoint)
# cli/scenario.cpp (fuzz/targets/scenario.cpp): links CAF and agora::agents.
[ "$without_caf" = 1 ] || all+=(scenario)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

for cc in clang++-14 clang++; do
  if command -v "$cc" >/dev/null; then cxx=$cc; break; fi
done
if [ -z "${cxx:-}" ]; then
  echo "fuzz/run.sh: clang++ not found (scripts/setup.sh installs it)" >&2
  exit 2
fi

echo "== configuring $build with $cxx (fuzzer, address, undefined)"
# Debug keeps the code's asserts; -O1 keeps the fuzzers fast enough.
CXX=$cxx cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DAGORA_BUILD_FUZZERS=ON \
  -DAGORA_SANITIZE=address,undefined -DAGORA_BUILD_TESTS=OFF -DAGORA_BUILD_EXAMPLES=OFF \
  -DAGORA_BUILD_BENCHMARKS=OFF >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j "$jobs" --target "${build_targets[@]}"

crashes="$build/crashes"
rm -rf "$crashes"  # what an earlier run found is not this run's finding
mkdir -p "$crashes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work"
  dirs=("$work" "fuzz/corpus/$t")
  [ -d "tests/fuzz_regressions/$t" ] && dirs+=("tests/fuzz_regressions/$t")
  case "$t" in sse|wire_reply|wire_stream) dirs+=("tests/llm/data") ;; esac
  log="$build/fuzz_$t.log"
  echo "== fuzz_$t for ${seconds}s (log: $log)"
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len="$max_len" -timeout="$timeout" \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/${t}-" "${dirs[@]}" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log" | tr '\n' ' ' || true
    echo
  else
    echo "!! fuzz_$t found a problem:" >&2
    grep -E 'ERROR|SUMMARY|fuzz target|runtime error|Test unit written' "$log" | head -20 >&2 || true
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: problems found by: ${failed[*]}; inputs in $crashes/" >&2
  echo "  reproduce: $build/fuzz/fuzz_<target> <file>; keep: copy to tests/fuzz_regressions/<target>/" >&2
  exit 1
fi
echo "fuzz/run.sh: no problem found (${#targets[@]} targets, ${seconds}s each)"
