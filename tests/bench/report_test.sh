#!/usr/bin/env bash
# Tests of benchmarks/plot/report.mjs, the generator of BENCHMARKS.md: from
# results.jsonl (the JSON lines of a real full benchmarks/run_all on the
# project machine, 2026-11-21) it must write the tables with ratios computed
# from that file, the list of rows where Agora is behind, and real PNG plots;
# bad input must fail with exit 1 naming the file and line, writing nothing.
#
#   tests/bench/report_test.sh REPO_ROOT
set -uo pipefail
root=${1:?usage: report_test.sh REPO_ROOT}
fixture="$root/tests/bench/results.jsonl"
work=$(mktemp -d /tmp/agora-report-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
has() {  # has FILE TEXT: the report contains TEXT literally
  grep -qF -- "$2" "$1" || fail "$1 lacks: $2"
}

# --- A real run's results -----------------------------------------------------
out="$work/out"
if ! node "$root/benchmarks/plot/report.mjs" --results "$fixture" --out "$out" \
    --elapsed 792 >"$work/stdout" 2>"$work/stderr"; then
  fail "report.mjs exited non-zero on the fixture: $(cat "$work/stderr")"
fi
md="$out/BENCHMARKS.md"
if [ -f "$md" ]; then
  # The machine and the peers' versions come from the run_all line.
  has "$md" "| 2 | AMD EPYC | Linux 6.18.44-fc-v669 | 23.5 GiB |"
  has "$md" "Erlang/OTP 25 (erts 13.1.5)"
  has "$md" "The run took 13 minutes."
  # ping-pong: Agora 1254726 / Erlang 2472942 = 0.507 -> 0.51, 1.97x behind;
  # raw CAF 1274089 / 2472942 = 0.515 -> 0.52.
  has "$md" "| ping-pong, 2 actors | round trips/s | 1.25M (1.15M–1.36M) | 1.27M (1.01M–1.43M) | 2.47M (2.38M–2.50M) | 0.51 | 0.52 | **Agora 1.97x behind** |"
  # A time: lower is better, so Agora 236 us against LangGraph's 3373 us is ahead.
  has "$md" "| 3 debaters x 3 rounds | time per round [us] | 236 (208–239) | 3373 (3125–3398) | 0.07 | Agora 14.31x ahead |"
  # Durable commits: both peers' ratios from one row.
  has "$md" "| 1 writer | promotions/s [1/s] | 2515 (2136–2861) | 520 (466–549) | 2749 (2292–2893) | 4.84 | 0.91 | within 10% |"
  # The behind list names each row with both figures.
  has "$md" "- actor creation (actors/s): Agora 3942 1/s against Erlang's 205.3k 1/s (52.08x)"
  for png in debate_time debate_memory durable_commits actor_rates; do
    f="$out/docs/bench/$png.png"
    if [ ! -s "$f" ]; then
      fail "no plot $f"
    elif [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
      fail "$f is not a PNG"
    fi
  done
else
  fail "no $md"
fi

# --- Bad input: exit 1, the file and line named, nothing written ---------------
bad="$work/bad.jsonl"
{ head -n 1 "$fixture"; echo '{"bench": "actor", "results": [oops'; } >"$bad"
node "$root/benchmarks/plot/report.mjs" --results "$bad" --out "$work/bad-out" 2>"$work/bad.err"
rc=$?
[ "$rc" -eq 1 ] || fail "a malformed line: exit $rc, want 1"
grep -qF "$bad:2: not JSON" "$work/bad.err" || fail "a malformed line: stderr lacks '$bad:2: not JSON': $(cat "$work/bad.err")"
[ ! -e "$work/bad-out/BENCHMARKS.md" ] || fail "a malformed line still wrote BENCHMARKS.md"

tail -n +2 "$fixture" >"$work/nomachine.jsonl"
node "$root/benchmarks/plot/report.mjs" --results "$work/nomachine.jsonl" --out "$work/nm-out" 2>"$work/nm.err"
rc=$?
[ "$rc" -eq 1 ] || fail "no run_all line: exit $rc, want 1"
grep -qF "no run_all line" "$work/nm.err" || fail "no run_all line: stderr says: $(cat "$work/nm.err")"

if [ "$failures" -ne 0 ]; then
  echo "report_test: $failures failure(s)"
  exit 1
fi
echo "report_test: all checks passed"
