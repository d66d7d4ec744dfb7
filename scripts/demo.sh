#!/usr/bin/env bash
# Installs what is missing, builds rotor and runs the demo: a CA created
# under ./var, printing the root fingerprint agents pin.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build demo
ROTOR_BUILD_TARGETS="rotor-ca" scripts/build.sh >/dev/null
bin=build/bin
data=./var/ca

if [[ -e "$data/ca/root.crt" ]]; then
  echo "demo: $data already holds a CA (remove ./var to start afresh); its root:"
  fp=$(openssl x509 -in "$data/ca/root.crt" -outform DER | sha256sum | cut -d' ' -f1)
  echo "sha256:$fp"
  exit 0
fi

echo "demo: creating a CA for trust domain demo.rotor.internal in $data"
"$bin/rotor-ca" init --data-dir "$data" --trust-domain demo.rotor.internal
echo "demo: files created:"
find "$data" -type f -printf '  %m %p\n' | sort -k2
