#!/usr/bin/env bash
# The fuzz stage: runs every libFuzzer target (tests/fuzz/*_fuzzer.cc) for a
# bounded time on a copy of its checked-in seed corpus, and fails on any
# crash, leak, timeout or out-of-memory. Builds the targets first if needed
# (scripts/sanitize.sh --build-only: ASan + UBSan, clang-14).
#
# Usage: scripts/fuzz.sh [TARGET_fuzzer...]     (default: every target)
# Environment:
#   ROTOR_FUZZ_SECONDS    time per target (default 30)
#   ROTOR_ASAN_BUILD_DIR  the build (default build-asan)
# A failing input is kept as BUILD_DIR/fuzz-artifacts/TARGET-crash-<sha1>
# (or -leak-, -timeout-, -oom-); replay it with
#   BUILD_DIR/bin/TARGET_fuzzer BUILD_DIR/fuzz-artifacts/TARGET-crash-<sha1>
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ROTOR_ASAN_BUILD_DIR:-build-asan}
seconds=${ROTOR_FUZZ_SECONDS:-30}
source_dir=$PWD

scripts/sanitize.sh --build-only

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(cd "$build_dir/bin" && ls -1 ./*_fuzzer | sed 's|^\./||')
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz.sh: no *_fuzzer in $build_dir/bin" >&2
  exit 1
fi

artifacts=$source_dir/$build_dir/fuzz-artifacts
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/rotor-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
for target in "${targets[@]}"; do
  binary=$build_dir/bin/$target
  corpus=$work/$target
  mkdir -p "$corpus"
  # A copy: what the run adds to the corpus never touches the checked-in one.
  if [[ -d tests/fuzz/corpus/$target ]]; then
    cp tests/fuzz/corpus/"$target"/* "$corpus"/
  fi
  log=$work/$target.log
  start=$SECONDS
  rc=0
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target-" \
    "$corpus" >"$log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  units=$(find "$corpus" -type f | wc -l)
  if ((rc == 0)); then
    passed=$((passed + 1))
    printf 'fuzz %-24s ok    %4ds %9s runs %6s exec/s  cov %s  corpus %s\n' \
      "$target" "$elapsed" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$units"
  else
    failed=$((failed + 1))
    printf 'fuzz %-24s FAIL  %4ds (exit %d) after %s runs; input kept in %s\n' \
      "$target" "$elapsed" "$rc" "${runs:-?}" "$artifacts"
    echo "---- last lines of $target's log ----"
    tail -n 60 "$log"
    echo "----"
  fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
