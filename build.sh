#!/usr/bin/env bash
# The project's one entry point. Each command installs what is missing
# (scripts/setup.sh), configures, builds and runs.
#
#   ./build.sh demo    build `agora` and run the main job: `agora review` of
#                      the sample tree examples/review-sample (offline)
#   ./build.sh test    build with -Werror and run every test; build and run a
#                      user's project on Agora four ways (tests/consumer); then run the
#                      blackboard and LLM-layer tests (the code without CAF)
#                      again under AddressSanitizer + UndefinedBehaviorSanitizer,
#                      and under ThreadSanitizer
#   ./build.sh bench   build optimized and run the benchmarks (extra arguments,
#                      e.g. --quick, go to each benchmark)
#
# Environment: JOBS (default 2), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")"

jobs=${JOBS:-2}
build=${BUILD_DIR:-build}
cmd=${1:-demo}

scripts/setup.sh

configure() {  # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
}

case "$cmd" in
  demo)
    # The main job: a swarm of reviewer agents reviews the sample tree
    # (offline), keeps the run in build/demo/review/ and writes the
    # review as Markdown, SARIF and an HTML report of the run.
    configure "$build"
    cmake --build "$build" -j "$jobs" --target agora
    mkdir -p "$build/demo"
    "$build/cli/agora" review examples/review-sample --fail-on never \
      --data "$build/demo/review" --markdown "$build/demo/review.md" \
      --sarif "$build/demo/review.sarif" --report "$build/demo/review.html"
    echo
    echo "demo: wrote $build/demo/review.md, review.sarif and review.html (open it in a browser);"
    echo "      the run is in $build/demo/review: try '$build/cli/agora inspect $build/demo/review --run review'"
    ;;
  test)
    configure "$build" -DAGORA_WERROR=ON
    cmake --build "$build" -j "$jobs"
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
    echo "== a user's project on Agora: tests/consumer (find_package, add_subdirectory, FetchContent, .deb) =="
    # All four ways (about 9 minutes: the subdirectory and FetchContent ways
    # build Agora's libraries again inside the consumer, shared and static).
    JOBS=$jobs tests/consumer/run.sh "$build" package deb subdirectory fetchcontent
    # CAF itself is not instrumented (Debian's libcaf), so TSan reports on
    # CAF code are noise; the sanitizer runs cover the code without CAF.
    echo "== blackboard and LLM-layer tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
    configure "$build-asan" -DAGORA_WERROR=ON -DAGORA_SANITIZE=address,undefined \
      -DAGORA_BUILD_EXAMPLES=OFF -DAGORA_BUILD_BENCHMARKS=OFF
    cmake --build "$build-asan" -j "$jobs" --target blackboard_tests llm_tests
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" -R '^(blackboard|llm)_tests:'
    echo "== blackboard and LLM-layer tests under ThreadSanitizer =="
    configure "$build-tsan" -DAGORA_WERROR=ON -DAGORA_SANITIZE=thread \
      -DAGORA_BUILD_EXAMPLES=OFF -DAGORA_BUILD_BENCHMARKS=OFF
    cmake --build "$build-tsan" -j "$jobs" --target blackboard_tests llm_tests
    TSAN_OPTIONS=halt_on_error=1 \
      ctest --test-dir "$build-tsan" --output-on-failure -j "$jobs" -R '^(blackboard|llm)_tests:'
    echo "== fuzz targets, short run =="
    # The targets without CAF (the scenario checker's target links the
    # actor layer: minutes of clang build; its saved inputs replay in
    # fuzz_regression_tests above). `fuzz/run.sh` alone runs all of them.
    fuzz/run.sh --without-caf "${FUZZ_SECONDS:-5}"
    ;;
  bench)
    cmake -S . -B "$build-release" -DCMAKE_BUILD_TYPE=Release -DAGORA_BUILD_TESTS=OFF >/dev/null
    cmake --build "$build-release" -j "$jobs" --target blackboard_bench actor_bench patterns_bench llm_bench
    "$build-release/benchmarks/blackboard_bench" "${@:2}"
    "$build-release/benchmarks/actor_bench" "${@:2}"
    "$build-release/benchmarks/patterns_bench" "${@:2}"
    "$build-release/benchmarks/llm_bench" "${@:2}"
    # durable_bench starts etcd and Redis itself; they are bench-only packages.
    scripts/setup.sh --bench
    cmake --build "$build-release" -j "$jobs" --target durable_bench
    "$build-release/benchmarks/durable_bench" "${@:2}"
    ;;
  *)
    echo "usage: ./build.sh demo|test|bench" >&2
    exit 2
    ;;
esac
