#!/usr/bin/env bash
# Installs what Agora needs to build and test on Debian bookworm, and nothing
# that is already there. Idempotent; works as root and uses sudo otherwise.
#
#   scripts/setup.sh            # install missing packages
#   scripts/setup.sh --check    # only list what is missing (exit 1 if any)
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
)

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
