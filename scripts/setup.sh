#!/usr/bin/env bash
# Installs what Agora needs to build and test on Debian bookworm, and nothing
# that is already there. Idempotent; works as root and uses sudo otherwise.
#
#   scripts/setup.sh            # install missing packages
#   scripts/setup.sh --check    # only list what is missing (exit 1 if any)
#   scripts/setup.sh --bench [--check]
#                               # also the benchmarks' peers (etcd, Redis)
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config
  libcaf-dev          # CAF 0.17 (core, io, openssl)
  libssl-dev          # CAF's openssl module links against it
  openssl             # the CLI makes throwaway certificates for the node tests
  nlohmann-json3-dev
  libcurl4-openssl-dev
  libspdlog-dev
  catch2              # Catch2 v2
  clang               # fuzz/run.sh builds the libFuzzer targets with clang; agora review: reviewer/flow (clang's AST)
  libclang-rt-14-dev  # libFuzzer and clang's sanitizer runtimes
  libsqlite3-dev      # the durable blackboard's log (blackboard::open)
  sqlite3             # the sqlite3 shell, to inspect a durable log (docs/durability.md)
  cppcheck            # agora review: the reviewer/cppcheck agent (docs/review.md)
  clang-tidy          # agora review: the reviewer/clang-tidy agent (docs/review.md)
  flawfinder          # agora review: the reviewer/flawfinder agent, a corroborating lexical source
  python3-jsonschema  # the SARIF test validates agora's SARIF against the official 2.1.0 schema
  chromium            # the report tests open agora report's HTML headless (docs/reports.md)
  nodejs              # benchmarks/plot/report.mjs writes BENCHMARKS.md; bench_report_test runs it
  gnuplot-nox         # ... and its plots
)

# Opt-in, not needed to build or test: the servers durable_bench compares
# against (it starts its own on loopback ports; Debian may also start the
# system services on 2379 and 6379, which the bench does not use).
if [ "${1:-}" = "--bench" ]; then
  packages+=(etcd-server redis-server)
  # benchmarks/run_all: the Erlang/OTP peer and LangGraph.js (npm ci).
  packages+=(erlang-base)
  # npm: Debian's package, unless a node distribution that brings its own is there.
  if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi
  shift
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -eq 0 ]; then echo "setup: all packages present"; exit 0; fi
  echo "setup: missing: ${missing[*]}"; exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt's lists may be missing on a fresh machine; refresh them once.
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
