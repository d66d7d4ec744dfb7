#!/usr/bin/env bash
# Side-by-side issuance throughput, in one run on one machine:
#   rotor      rotor-ca serve (durable LMDB store, gRPC over mTLS), loaded by
#              rotor-bench issue: SignWorkload from N client threads, each a
#              node over its own mTLS connection;
#   cfssl      Debian's `cfssl serve` (golang-cfssl) without a database,
#              loaded by wrk POSTing CSRs to /api/v1/cfssl/sign over plain
#              HTTP with N connections;
#   cfssl+db   the same with its SQLite certificate database (-db-config);
#   crypto     rotor-bench crypto: CSR verify + certificate sign in process
#              (the crypto limit) and rotor's issuance path without RPC or
#              store, on 1 and on 2 threads.
# at each concurrency in CONCURRENCY, alternating the servers so that a
# change in the machine's load touches all of them alike. Everything, load
# generators included, shares the same cores. Prints one JSON line per run
# and then a table with the ratios (docs/performance.md reads it).
#
# Every server gets a CA of its own in a temporary folder, removed at the
# end. rotor's ca.yaml has its rate limits raised (rate_limit:
# per_node_per_second, per_node_burst, attest_concurrency_per_source), since
# the defaults (50/s per node) are meant to stop a misbehaving agent, not a
# benchmark.
#
# Usage: bench/compare.sh [BIN_DIR]          (default build/bin)
#   DURATION=10 CONCURRENCY="8 64" ROUNDS=1 bench/compare.sh build/bin
# Needs rotor-ca and rotor-bench in BIN_DIR; installs golang-cfssl, wrk,
# sqlite3, jq, openssl and curl when missing (apt-get, with sudo when not root).
set -euo pipefail

BIN=${1:-build/bin}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-"8 64"}
ROUNDS=${ROUNDS:-1}
CSRS=16

for b in rotor-ca rotor-bench; do
  if [[ ! -x "$BIN/$b" ]]; then
    echo "compare.sh: $BIN/$b not found; build it first (scripts/build.sh) or pass BIN_DIR" >&2
    exit 1
  fi
done

# --- Packages ---
need=(golang-cfssl wrk sqlite3 jq openssl curl)
missing=()
for p in "${need[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "compare.sh: missing packages (${missing[*]}) and not root and no sudo; install them and retry" >&2
      exit 1
    fi
    sudo_cmd=(sudo)
  fi
  echo "compare.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/rotor-compare-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

log() { echo "compare.sh: $*" >&2; }

# Waits up to $2 seconds for file $1 to contain $3.
wait_for() {
  local i=0
  while ! grep -q "$3" "$1" 2>/dev/null; do
    i=$((i + 1))
    if ((i > $2 * 10)); then
      log "timed out waiting for '$3' in $1"
      tail -20 "$1" >&2
      exit 1
    fi
    sleep 0.1
  done
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  log "no free port found"
  exit 1
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# --- rotor ---
log "starting rotor-ca in $WORK/rotor"
"$BIN/rotor-ca" init --data-dir "$WORK/rotor" --trust-domain bench.example \
  >/dev/null 2>"$WORK/rotor-init.log"
sed -i 's/^  per_node_per_second: .*/  per_node_per_second: 1000000/;
        s/^  per_node_burst: .*/  per_node_burst: 1000000/;
        s/^  attest_concurrency_per_source: .*/  attest_concurrency_per_source: 64/' \
  "$WORK/rotor/ca.yaml"
"$BIN/rotor-ca" serve --data-dir "$WORK/rotor" --listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 >"$WORK/rotor.out" 2>"$WORK/rotor.log" &
ROTOR_PID=$!
PIDS+=("$ROTOR_PID")
wait_for "$WORK/rotor.out" 30 "rotor-ca: serving"
ROTOR_ADDR=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "$WORK/rotor.out")

# --- cfssl: one CA, two servers (without and with the database) ---
mkdir -p "$WORK/cfssl"
cd "$WORK/cfssl"
echo '{"CN": "cfssl bench CA", "key": {"algo": "ecdsa", "size": 256}}' >ca-csr.json
cfssl genkey -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
cat >config.json <<'EOF'
{"signing": {"default": {"expiry": "1h",
  "usages": ["digital signature", "key encipherment", "server auth", "client auth"]}}}
EOF
# The certificates table of cfssl's certdb (its SQLite migration
# 001_CreateCertificates.sql; the Debian package does not ship it).
sqlite3 certs.db <<'EOF'
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier)
    REFERENCES certificates(serial_number, authority_key_identifier)
);
EOF
echo "{\"driver\": \"sqlite3\", \"data_source\": \"$WORK/cfssl/certs.db\"}" >db.json

CFSSL_PORT=$(free_port)
cfssl serve -address 127.0.0.1 -port "$CFSSL_PORT" -ca ca.pem -ca-key ca-key.pem \
  -config config.json >"$WORK/cfssl.log" 2>&1 &
CFSSL_PID=$!
PIDS+=("$CFSSL_PID")
wait_for "$WORK/cfssl.log" 30 "Now listening"
CFSSL_DB_PORT=$(free_port)
cfssl serve -address 127.0.0.1 -port "$CFSSL_DB_PORT" -ca ca.pem -ca-key ca-key.pem \
  -config config.json -db-config db.json >"$WORK/cfssl-db.log" 2>&1 &
CFSSL_DB_PID=$!
PIDS+=("$CFSSL_DB_PID")
wait_for "$WORK/cfssl-db.log" 30 "Now listening"

# CSRs like rotor's (EC P-256, the SPIFFE ID as URI SAN), plus a DNS name
# in "hosts" so that cfssl's certificate carries a SAN too; a wrk script
# that cycles through them and prints one JSON line when done.
{
  echo 'local bodies = {'
  for i in $(seq "$CSRS"); do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout /dev/null -subj "/" \
      -addext "subjectAltName=critical,URI:spiffe://bench.example/app,DNS:app.bench.example" \
      -out "req$i.pem" 2>/dev/null
    jq -n --rawfile csr "req$i.pem" \
      '{certificate_request: $csr, hosts: ["app.bench.example"]} | tojson' | sed 's/$/,/'
  done
  cat <<'EOF'
}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local ok = summary.requests - e.status - e.timeout - e.read - e.write
  io.write(string.format(
    '{"issued":%d,"errors":%d,"per_second":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f}\n',
    ok, e.connect + e.read + e.write + e.status + e.timeout, ok / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000))
end
EOF
} >sign.lua
cd - >/dev/null

# One check that both answer before measuring.
for port in "$CFSSL_PORT" "$CFSSL_DB_PORT"; do
  jq -n --rawfile csr "$WORK/cfssl/req1.pem" '{certificate_request: $csr}' >"$WORK/body.json"
  if ! curl -s -X POST -H 'Content-Type: application/json' --data @"$WORK/body.json" \
      "http://127.0.0.1:$port/api/v1/cfssl/sign" | grep -q '"success":true'; then
    log "cfssl on port $port did not sign the test CSR"
    exit 1
  fi
done

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
record() {  # name concurrency json
  local line
  line=$(echo "$3" | jq -c --arg name "$1" --argjson c "$2" --argjson load "$(load1)" \
    '{name: $name, concurrency: $c} + . + {load_after: $load}')
  echo "$line" | tee -a "$RESULTS"
}

# CPU seconds (user + system) a process has used so far, from /proc.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}

run_cfssl() {  # name port concurrency pid
  local out before after client
  before=$(cpu_seconds "$4")
  # wrk's own CPU (user + system, from bash's time) beside the server's.
  client=$( { TIMEFORMAT='%U %S'; time wrk -t 2 -c "$3" -d "${DURATION}s" \
    -s "$WORK/cfssl/sign.lua" "http://127.0.0.1:$2/api/v1/cfssl/sign" \
    >"$WORK/wrk.out"; } 2>&1 | tail -1)
  out=$(grep '^{' "$WORK/wrk.out" | tail -1)
  after=$(cpu_seconds "$4")
  out=$(echo "$out" | jq -c --argjson b "$before" --argjson a "$after" \
    --argjson c "$(echo "$client" | awk '{print $1 + $2}')" \
    '. + {client_cpu_us_per_issue: (if .issued > 0 then ($c * 1e6 / .issued | floor) else null end),
          ca_cpu_us_per_issue: (if .issued > 0 then (($a - $b) * 1e6 / .issued | floor) else null end)}')
  record "$1" "$3" "$out"
}

for round in $(seq "$ROUNDS"); do
  for c in $CONCURRENCY; do
    log "round $round, concurrency $c: rotor"
    out=$("$BIN/rotor-bench" issue --ca "$ROTOR_ADDR" --credentials "$WORK/rotor/admin" \
      --concurrency "$c" --duration "${DURATION}s" --ca-pid "$ROTOR_PID" --json)
    record rotor "$c" "$out"
    log "round $round, concurrency $c: cfssl"
    run_cfssl cfssl "$CFSSL_PORT" "$c" "$CFSSL_PID"
    log "round $round, concurrency $c: cfssl+db"
    run_cfssl cfssl+db "$CFSSL_DB_PORT" "$c" "$CFSSL_DB_PID"
  done
  log "round $round: crypto"
  record crypto 1 "$("$BIN/rotor-bench" crypto --duration 5s --json)"
  record crypto 2 "$("$BIN/rotor-bench" crypto --duration 5s --threads 2 --json)"
done
STORED=$(sqlite3 "$WORK/cfssl/certs.db" 'SELECT COUNT(*) FROM certificates;')
log "cfssl+db stored $STORED certificates"

# --- Table ---
echo
echo "machine: $(nproc) cores, $(uname -r); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %5s %10s %8s %8s %8s %8s %12s %12s %6s\n' server conc issued/s p50_ms p99_ms p999_ms errors server_cpu_us client_cpu_us load
jq -r 'select(.name != "crypto") |
  [.name, .concurrency, .per_second, .p50_ms, .p99_ms, .p999_ms, .errors,
   (.ca_cpu_us_per_issue // "-"), (.client_cpu_us_per_issue // "-"), .load_after] | @tsv' \
  "$RESULTS" | while IFS=$'\t' read -r n c ps p50 p99 p999 e cpu ccpu l; do
  printf '%-10s %5s %10.0f %8.2f %8.2f %8.2f %8s %12s %12s %6s\n' "$n" "$c" "$ps" "$p50" "$p99" "$p999" "$e" "$cpu" "$ccpu" "$l"
done
jq -r 'select(.name == "crypto") |
  "crypto limit on \(.threads) core(s): \(.verify_sign_per_second | floor)/s verify+sign; rotor issuance path without RPC or store: \(.issue_per_second | floor)/s"' \
  "$RESULTS"
echo
echo "ratios (best round of each):"
jq -rs '
  def best(n; c): [.[] | select(.name == n and .concurrency == c) | .per_second] | max;
  (map(select(.name == "crypto" and .threads == 2)) | map(.verify_sign_per_second) | max) as $limit2 |
  (map(select(.name == "rotor")) | map(.concurrency) | unique)[] as $c |
  best("rotor"; $c) as $r |
  "concurrency \($c): rotor/cfssl = \($r / best("cfssl"; $c) * 100 | round / 100)x (goal >= 1.2), " +
  "rotor/cfssl+db = \($r / best("cfssl+db"; $c) * 100 | round / 100)x (goal >= 8), " +
  "rotor/crypto limit (2 cores) = \($r / $limit2 * 100 | round)% (goal >= 30%)"' "$RESULTS"
