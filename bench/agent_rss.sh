#!/bin/sh
# Agent footprint: resident memory after issuing N certificates, and CPU used
# while idle. Starts its own CA (rotor-ca init + serve on free ports) in a
# temporary folder, then for each N runs rotor-agent with N certificates
# (1h TTL, so nothing renews during the measurement), waits for its "ready"
# line, and reads /proc/PID/status (VmRSS, VmHWM) and /proc/PID/stat
# (utime + stime) before and after an idle window.
#
#   bench/agent_rss.sh [BIN_DIR] [IDLE_SECONDS] [N...]
#   bench/agent_rss.sh build/bin 60 10 100
#
# Goal (issue 5): <= 12 MB RSS with 10 certificates, ~0% idle CPU.
# VmRSS counts every touched page of the shared libraries (gRPC, OpenSSL,
# protobuf, libstdc++) in full; Pss divides those among the processes that
# map them, and Anonymous is the agent's own memory. All three are printed.
# ROTOR_RSS_BREAKDOWN=N also prints the N largest resident mappings.
set -eu

BIN=${1:-build/bin}
IDLE=${2:-60}
shift 2 2>/dev/null || true
COUNTS=${*:-10 100}

WORK=$(mktemp -d /tmp/rotor-agent-bench-XXXXXX)
CA_PID=""
AGENT_PID=""
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
  [ -n "$CA_PID" ] && kill "$CA_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Waits up to $2 seconds for file $1 to contain $3.
wait_for() {
  i=0
  while ! grep -q "$3" "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt $(($2 * 10)) ]; then
      echo "timed out waiting for '$3' in $1" >&2
      tail -20 "$1" >&2
      exit 1
    fi
    sleep 0.1
  done
}

FP=$("$BIN/rotor-ca" init --data-dir "$WORK/ca" --trust-domain example.org 2>/dev/null)
# Generous rate limits: the agent asks for all its certificates at once.
sed -i 's/^  per_node_per_second: .*/  per_node_per_second: 1000/;
        s/^  per_node_burst: .*/  per_node_burst: 1000/' "$WORK/ca/ca.yaml"
"$BIN/rotor-ca" serve --data-dir "$WORK/ca" --listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 >"$WORK/ca.out" 2>"$WORK/ca.log" &
CA_PID=$!
wait_for "$WORK/ca.out" 30 "rotor-ca: serving"
CA=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "$WORK/ca.out")
ctl() { "$BIN/rotorctl" "$@" --ca "$CA" --credentials "$WORK/ca/admin"; }

max=0
for n in $COUNTS; do [ "$n" -gt "$max" ] && max=$n; done
i=1
while [ "$i" -le "$max" ]; do
  ctl entry create --node 'bench-*' --spiffe-id "spiffe://example.org/bench/$i" \
    --dns "svc$i.internal" >/dev/null 2>&1
  i=$((i + 1))
done

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# smaps_rollup: Pss (shared library pages divided among their users) and
# Anonymous (the agent's own heap and stacks).
smaps() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/smaps_rollup"; }

printf '%-6s %-8s %-8s %-8s %-8s %-8s %-11s %s\n' certs rss_kb pss_kb \
  anon_kb hwm_kb threads "idle_cpu_%" "idle_ticks/${IDLE}s"
for n in $COUNTS; do
  dir="$WORK/agent-$n"
  mkdir -p "$dir"
  ctl token create --node "bench-$n" >"$dir/token" 2>/dev/null
  {
    echo "ca: $CA"
    echo "trust_anchor: $FP"
    echo "join_token_file: $dir/token"
    echo "node_name: bench-$n"
    echo "state_dir: $dir/state"
    echo "certificates:"
    i=1
    while [ "$i" -le "$n" ]; do
      echo "  - name: c$i"
      echo "    spiffe_id: spiffe://example.org/bench/$i"
      echo "    dns_names: [svc$i.internal]"
      echo "    ttl: 1h"
      echo "    dir: $dir/certs/c$i"
      i=$((i + 1))
    done
  } >"$dir/agent.yaml"
  "$BIN/rotor-agent" run --config "$dir/agent.yaml" 2>"$dir/agent.log" &
  AGENT_PID=$!
  wait_for "$dir/agent.log" 120 "INFO rotor-agent: ready "
  issued=$(grep -c "rotated name=c" "$dir/agent.log" || true)
  if [ "$issued" -ne "$n" ]; then
    echo "expected $n issuances, saw $issued" >&2
    exit 1
  fi
  wait_for "$dir/agent.log" 30 "watching the CA for updates"
  t0=$(cpu_ticks "$AGENT_PID")
  sleep "$IDLE"
  t1=$(cpu_ticks "$AGENT_PID")
  rss=$(kb "$AGENT_PID" VmRSS)
  hwm=$(kb "$AGENT_PID" VmHWM)
  pss=$(smaps "$AGENT_PID" Pss)
  anon=$(smaps "$AGENT_PID" Anonymous)
  threads=$(kb "$AGENT_PID" Threads)
  pct=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$IDLE" \
    'BEGIN {printf "%.3f", 100 * d / hz / s}')
  printf '%-6s %-8s %-8s %-8s %-8s %-8s %-11s %s\n' "$n" "$rss" "$pss" \
    "$anon" "$hwm" "$threads" "$pct" "$((t1 - t0))"
  if [ -n "${ROTOR_RSS_BREAKDOWN:-}" ]; then
    # Resident KiB per mapped file (anonymous memory as [anon]), largest first.
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon]" : $6)}
         $1 == "Rss:" {rss[name] += $2}
         END {for (n in rss) printf "  %7d KiB  %s\n", rss[n], n}' \
      "/proc/$AGENT_PID/smaps" | sort -rn | head -"${ROTOR_RSS_BREAKDOWN}"
  fi
  kill "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=""
done
