#!/usr/bin/env bash
# Installs what is missing, builds rotor and runs the whole test suite.
# This is the README's test command; .ci/run calls it.
#
# Stages, in order (ROTOR_TEST_STAGES picks some, e.g. "unit"):
#   unit      the plain build (build/) and every test
#   sanitize  everything again built with ASan + UBSan (build-asan/,
#             scripts/sanitize.sh)
#   fuzz      every fuzz target for ROTOR_FUZZ_SECONDS each (default 30),
#             on the sanitizer build (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
stages=${ROTOR_TEST_STAGES:-unit sanitize fuzz}
for stage in $stages; do
  case "$stage" in
    unit|sanitize|fuzz) ;;
    *) echo "test.sh: unknown stage '$stage' (use unit, sanitize, fuzz)" >&2; exit 2 ;;
  esac
done

scripts/deps.sh build test
times=()
for stage in $stages; do
  echo "==== stage $stage ===="
  start=$SECONDS
  case "$stage" in
    unit)
      scripts/build.sh
      jobs=$(nproc 2>/dev/null || echo 2)
      ctest --test-dir "${ROTOR_BUILD_DIR:-build}" --output-on-failure \
        -j "$jobs" --timeout 600
      ;;
    sanitize) scripts/sanitize.sh ;;
    fuzz) scripts/fuzz.sh ;;
  esac
  times+=("$stage $((SECONDS - start))s")
  echo "==== stage $stage done in $((SECONDS - start))s ===="
done
echo "stage times: ${times[*]}"
