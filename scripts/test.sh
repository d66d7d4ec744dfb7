#!/usr/bin/env bash
# Installs what is missing, builds rotor and runs the whole test suite.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build test
scripts/build.sh
jobs=$(nproc 2>/dev/null || echo 2)
ctest --test-dir "${ROTOR_BUILD_DIR:-build}" --output-on-failure -j "$jobs" \
  --timeout 600
