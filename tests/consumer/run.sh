#!/usr/bin/env bash
# Builds and runs tests/consumer (a user's own CMake project) against
# Agora in each way a user picks it up, and checks that its debate ran:
#
#   package       `cmake --install` of Agora's build into a prefix, then
#                 find_package(Agora) with CMAKE_PREFIX_PATH
#   subdirectory  add_subdirectory(<this checkout>), with BUILD_SHARED_LIBS=ON
#                 (Agora's libraries shared, with their SONAME)
#   fetchcontent  FetchContent from this checkout's git repository (HEAD),
#                 static libraries
#   deb           `cpack -G DEB` (agora-dev_*.deb), `apt-get install` of
#                 it, find_package(Agora) from /usr; removed afterwards
#                 (needs root, as scripts/setup.sh does)
#
#   tests/consumer/run.sh AGORA_BUILD_DIR [WAY...]     (default: all four)
#
# AGORA_BUILD_DIR is a configured and built Agora build tree (package and
# deb install from it). Exit 0 when every way built and printed its stop
# reason; otherwise the first failure's output and exit 1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
[[ $# -ge 1 ]] || { echo "usage: $0 AGORA_BUILD_DIR [package|subdirectory|fetchcontent|deb]..." >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
ways=("$@")
[[ ${#ways[@]} -gt 0 ]] || ways=(package subdirectory fetchcontent deb)
jobs=${JOBS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/agora-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Root for apt-get (the deb way), as scripts/setup.sh does.
as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "consumer (deb): installing a package needs root or sudo" >&2; return 1
  fi
}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# consume NAME CMAKE_ARGS...: configure, build and run the consumer. The
# ways that build Agora's sources inside the consumer leave the build type
# empty, as many projects do (Agora must not force one on its parent; and
# -O0 builds the libraries in half the time); the others use
# RelWithDebInfo.
consume() {
  local name=$1; shift
  local dir="$work/$name"
  local t0=$SECONDS
  local type=RelWithDebInfo
  [[ $name == subdirectory || $name == fetchcontent ]] && type=
  if ! cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "${launcher[@]}" "$@" >"$dir.log" 2>&1 ||
     ! cmake --build "$dir" -j "$jobs" --target debate >>"$dir.log" 2>&1; then
    echo "consumer ($name): the build failed:" >&2
    tail -40 "$dir.log" >&2
    return 1
  fi
  local out
  if ! out=$("$dir/debate" 2>&1); then
    echo "consumer ($name): the debate failed:" >&2
    echo "$out" >&2
    return 1
  fi
  if ! grep -q '^reason: consensus (unanimity): 3 of 3 agree' <<<"$out"; then
    echo "consumer ($name): no stop reason in its output:" >&2
    echo "$out" >&2
    return 1
  fi
  # The parent's own target `debate` and Agora's targets side by side;
  # only the libraries, not Agora's tests, examples or tools.
  if [[ $name == subdirectory || $name == fetchcontent ]]; then
    local targets
    targets=$(cmake --build "$dir" --target help | sed -n 's/^\.\.\. //p' | tr '\n' ' ')
    for t in agora_blackboard agora_llm agora_actors agora_agents; do
      [[ " $targets " == *" $t "* ]] || { echo "consumer ($name): target $t missing: $targets" >&2; return 1; }
    done
    for t in agora blackboard_tests agora_example_debate blackboard_bench; do
      [[ " $targets " != *" $t "* ]] || { echo "consumer ($name): Agora's $t is built as a subproject" >&2; return 1; }
    done
    # The parent's empty build type stays empty: Agora forces none.
    grep -qx 'CMAKE_BUILD_TYPE:STRING=' "$dir/CMakeCache.txt" ||
      { echo "consumer ($name): the build type changed: $(grep '^CMAKE_BUILD_TYPE' "$dir/CMakeCache.txt")" >&2; return 1; }
  fi
  echo "consumer ($name): $(grep '^reason:' <<<"$out") [$((SECONDS - t0)) s]"
}

for way in "${ways[@]}"; do
  case "$way" in
    package)
      cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
      consume package -DAGORA_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH="$work/prefix"
      ;;
    subdirectory)
      consume subdirectory -DAGORA_CONSUMER_MODE=subdirectory -DAGORA_SOURCE_DIR="$src" -DBUILD_SHARED_LIBS=ON
      # Shared: the program loads Agora's versioned libraries.
      so=$(ldd "$work/subdirectory/debate" | grep -o 'libagora_agents\.so\.[0-9.]*' | head -1)
      [[ $so == libagora_agents.so.0.1 ]] ||
        { echo "consumer (subdirectory): expected libagora_agents.so.0.1 in ldd, got '$so'" >&2; exit 1; }
      ;;
    fetchcontent)
      consume fetchcontent -DAGORA_CONSUMER_MODE=fetchcontent -DAGORA_GIT_REPOSITORY="$src" \
        -DAGORA_GIT_TAG="$(git -C "$src" rev-parse HEAD)"
      ;;
    deb)
      (cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) ||
        { echo "consumer (deb): cpack failed:" >&2; tail -20 "$work/cpack.log" >&2; exit 1; }
      deb=$(ls "$work"/deb/agora-dev_*.deb)
      if dpkg -s agora-dev >/dev/null 2>&1; then
        echo "consumer (deb): agora-dev is installed already; remove it first (apt-get remove agora-dev)" >&2
        exit 1
      fi
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >"$work/apt.log" 2>&1 ||
        { echo "consumer (deb): apt-get install $deb failed:" >&2; tail -20 "$work/apt.log" >&2; exit 1; }
      status=0
      consume deb -DAGORA_CONSUMER_MODE=package || status=1
      as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q agora-dev >>"$work/apt.log" 2>&1
      [[ $status == 0 ]] || exit 1
      ;;
    *) echo "$0: unknown way '$way'" >&2; exit 2 ;;
  esac
done
