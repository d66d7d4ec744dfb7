#!/usr/bin/env bash
# The sanitizer stage: builds everything with AddressSanitizer + UBSan and
# the libFuzzer targets (clang-14) into build-asan/, then runs the whole test
# suite there. The fuzz stage (scripts/fuzz.sh) reuses the same build.
#
# Usage: scripts/sanitize.sh [--build-only]
# Environment: ROTOR_ASAN_BUILD_DIR (default build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ROTOR_ASAN_BUILD_DIR:-build-asan}
source_dir=$PWD

# Sanitizer settings for everything run from here on: the build (ctest
# discovery runs the test binaries), the tests, and the rotor binaries the
# tests start. UBSan stops at the first finding and says where.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$source_dir/tests/sanitizer/lsan.supp:print_suppressions=0}

if [[ ! -f "$build_dir/build.ninja" ]]; then
  # -O1 with line tables: readable stacks at a fraction of -O2 -g's build
  # time. Assertions stay on (no NDEBUG).
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DROTOR_SANITIZE=ON -DROTOR_FUZZ=ON -DROTOR_BUILD_BENCH=OFF
fi
ninja -C "$build_dir"
if [[ ${1:-} == --build-only ]]; then
  exit 0
fi

# Every test runs; RotorBenchTest.* skips itself here, as this build leaves
# out the benchmarks (ROTOR_BUILD_BENCH=OFF: under ASan they measure nothing).
ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 600
