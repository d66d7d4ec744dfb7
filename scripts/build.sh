#!/usr/bin/env bash
# Configures and builds rotor into build/ (binaries in build/bin/).
# Uses ccache when present. Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${ROTOR_BUILD_DIR:-build}
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
ninja -C "$build_dir" ${ROTOR_BUILD_TARGETS:-}
