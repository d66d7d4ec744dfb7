#!/usr/bin/env bash
# Installs the Debian 12 packages rotor needs to build, test and run its demo.
# Only packages that are missing are installed; uses sudo when not root.
#
# Usage: scripts/deps.sh [build|test|demo]...   (default: build)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config ccache
  libssl-dev openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  liblmdb-dev lmdb-utils libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev libcpp-httplib-dev
)
test_pkgs=(curl openssl nginx-light iproute2 procps systemd
           clang-14 libfuzzer-14-dev libclang-rt-14-dev)
demo_pkgs=(curl nginx-light procps)

want=("${build_pkgs[@]}")
for set in "${@:-build}"; do
  case "$set" in
    build) ;;
    test) want+=("${test_pkgs[@]}") ;;
    demo) want+=("${demo_pkgs[@]}") ;;
    *) echo "deps.sh: unknown package set '$set' (use build, test or demo)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# De-duplicate.
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "deps.sh: missing packages (${missing[*]}) and not root and no sudo; install them and retry" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
