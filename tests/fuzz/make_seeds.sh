#!/usr/bin/env bash
# Regenerates the seed corpora of tests/fuzz/corpus/ that are made rather
# than written by hand: CSRs and PEM files with the openssl command, service
# requests with the service fuzzers' own seed writer (which needs the fuzz
# build: scripts/sanitize.sh --build-only). The YAML seeds of
# ca_config_fuzzer and agent_config_fuzzer are written by hand.
#
# The corpora are checked in; run this only to change them.
#
# Usage: tests/fuzz/make_seeds.sh [BUILD_DIR]   (default build-asan)
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-build-asan}
corpus=tests/fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- csr_fuzzer: DER PKCS#10, valid and near-valid ---
out=$corpus/csr_fuzzer
rm -rf "$out" && mkdir -p "$out"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ec.key" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$work/ed.key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$work/rsa1024.key" 2>/dev/null
csr() {  # NAME KEY EXTENSION...
  local name=$1 key=$2
  shift 2
  local args=()
  for ext in "$@"; do args+=(-addext "$ext"); done
  openssl req -new -key "$work/$key" -subj / "${args[@]}" -outform DER \
    -out "$out/$name.der" 2>/dev/null
}
csr ec_uri_dns ec.key 'subjectAltName=critical,URI:spiffe://example.org/web,DNS:web.example.org'
csr ec_wildcard ec.key 'subjectAltName=critical,URI:spiffe://example.org/web,DNS:*.web.example.org'
csr rsa_uri rsa.key 'subjectAltName=critical,URI:spiffe://example.org/db'
csr ed25519_dns ed.key 'subjectAltName=critical,DNS:db.internal'
csr two_uris ec.key 'subjectAltName=critical,URI:spiffe://example.org/web,URI:spiffe://example.org/db'
csr ip_san ec.key 'subjectAltName=critical,URI:spiffe://example.org/web,IP:10.0.0.1'
csr email_san ec.key 'subjectAltName=critical,email:a@example.org'
csr ca_true ec.key 'subjectAltName=critical,URI:spiffe://example.org/web' 'basicConstraints=critical,CA:TRUE'
csr no_san ec.key 'keyUsage=digitalSignature'
csr rsa_1024 rsa1024.key 'subjectAltName=critical,URI:spiffe://example.org/web'

# --- pem_fuzzer: certificate chains and private keys ---
out=$corpus/pem_fuzzer
rm -rf "$out" && mkdir -p "$out"
openssl req -x509 -new -key "$work/ec.key" -subj "/CN=fuzz root" -days 3650 \
  -addext 'basicConstraints=critical,CA:TRUE' -out "$work/root.pem" 2>/dev/null
openssl req -new -key "$work/ed.key" -subj / -out "$work/leaf.csr" \
  -addext 'subjectAltName=critical,URI:spiffe://example.org/web,DNS:web.example.org,IP:127.0.0.1'
openssl x509 -req -in "$work/leaf.csr" -CA "$work/root.pem" -CAkey "$work/ec.key" \
  -copy_extensions copy -days 1 -set_serial 0x1a2b -out "$work/leaf.pem" 2>/dev/null
cat "$work/leaf.pem" "$work/root.pem" >"$out/chain.pem"
cp "$work/root.pem" "$out/root.pem"
{ echo "subject=fuzz root"; cat "$work/root.pem"; echo "trailing text"; } >"$out/root_with_text.pem"
cp "$work/ec.key" "$out/ec_pkcs8.pem"
cp "$work/ed.key" "$out/ed25519.pem"
openssl pkey -in "$work/ec.key" -traditional -out "$out/ec_traditional.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$out/rsa_1024.pem" 2>/dev/null
# Few PBKDF2 iterations keep every run of this input cheap.
openssl pkcs8 -topk8 -in "$work/ec.key" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -iter 16 -passout 'pass:rotor fuzz passphrase' -out "$out/ec_encrypted.pem"
cat "$work/root.pem" "$work/ec.key" >"$out/cert_and_key.pem"
# Throwaway keys made for this corpus; they protect nothing.
chmod 644 "$out"/*

# --- node_service_fuzzer, admin_service_fuzzer: framed requests ---
for target in node_service_fuzzer admin_service_fuzzer; do
  out=$corpus/$target
  rm -rf "$out" && mkdir -p "$out"
  ROTOR_FUZZ_WRITE_SEEDS=$PWD/$out "$build_dir/bin/$target"
done
ls -l "$corpus"/*
