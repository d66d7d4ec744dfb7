#!/usr/bin/env bash
# The demo: certificates that rotate under a live mTLS connection.
#
# Installs what is missing (scripts/deps.sh build demo), builds rotor
# (scripts/build.sh), then, everything under ./var:
#   - a CA (rotor-ca init, once; later runs reuse it) served on free ports,
#   - two agents, each a node with its own join token and entry:
#       demo-server holds web.demo.internal's certificate,
#       demo-client holds a client certificate,
#     both with a short TTL (ROTOR_DEMO_TTL, default 10s: a rotation about
#     every 5 s),
#   - nginx, needing no privileges, on 127.0.0.1:ROTOR_DEMO_PORT (default 9443, or the
#     next free port), serving mTLS from the server agent's files (certificate,
#     trust bundle for clients, CRLs) and reloaded by the agent's on_rotate
#     hook (SIGHUP),
#   - curl calling nginx once a second with the client agent's certificate.
# It prints each rotation and each response as they happen. Ctrl-C (or
# ROTOR_DEMO_SECONDS=N: stop after N seconds) stops everything it started
# and prints a summary; the exit code is 1 if any request failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${ROTOR_DEMO_SECONDS:-0}
ttl=${ROTOR_DEMO_TTL:-10s}
first_port=${ROTOR_DEMO_PORT:-9443}
build_dir=${ROTOR_BUILD_DIR:-build}
bin=$build_dir/bin
[[ $bin == /* ]] || bin=$PWD/$bin
var=$PWD/var
ca_dir=$var/ca     # kept across runs
run=$var/demo      # everything else: emptied at each start
host=web.demo.internal

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

pids=()      # what this run started, in start order
names=()
cleanup() {
  local code=$?
  trap - INT TERM EXIT
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    for _ in {1..100}; do
      kill -0 "${pids[i]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if ((${#pids[@]})); then
    say "stopped ${names[*]}; logs are in $run"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME OUT ERR CMD...: runs CMD in the background, remembered for cleanup.
start() {
  local name=$1 out=$2 err=$3
  shift 3
  "$@" >"$out" 2>"$err" &
  pids+=($!)
  names+=("$name")
}

# wait_until SECONDS WHAT LOG CMD...: polls CMD every 0.1 s; dies showing LOG
# if it does not succeed in time.
wait_until() {
  local limit=$1 what=$2 log=$3
  shift 3
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      tail -n 20 "$log" >&2 || true
      die "timed out waiting for $what (log: $log)"
    fi
    sleep 0.1
  done
}

mkdir -p "$var"
# One demo at a time per checkout (the processes it starts hold the lock too).
exec 9>"$var/demo.lock"
flock -n 9 || die "another demo is running from this folder (var/demo.lock); stop it first"
say "checking Debian packages (scripts/deps.sh build demo installs what is missing)"
scripts/deps.sh build demo
say "building rotor-ca, rotor-agent and rotorctl into $build_dir/bin (log: var/build.log; the first build takes minutes)"
if ! ROTOR_BUILD_DIR=$build_dir ROTOR_BUILD_TARGETS="rotor-ca rotor-agent rotorctl" \
    scripts/build.sh >"$var/build.log" 2>&1; then
  tail -n 30 "$var/build.log" >&2
  die "the build failed; the whole log is var/build.log"
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx ]] || die "nginx not found (scripts/deps.sh demo installs nginx-light)"

# The CA: reused when a previous run made one.
if [[ -e $ca_dir/ca/root.crt ]]; then
  say "reusing the CA in var/ca from a previous run (remove ./var to start afresh)"
else
  rm -rf "$ca_dir"
  say "creating a CA for trust domain demo.rotor.internal in var/ca"
  "$bin/rotor-ca" init --data-dir "$ca_dir" --trust-domain demo.rotor.internal \
    >/dev/null 2>"$var/init.log" || { cat "$var/init.log" >&2; die "rotor-ca init failed"; }
fi
td=$(sed -n 's/^trust_domain: *//p' "$ca_dir/ca.yaml")
fingerprint=sha256:$(openssl x509 -in "$ca_dir/ca/root.crt" -outform DER | sha256sum | cut -d' ' -f1)
say "root fingerprint (pinned by the agents): $fingerprint"
# The demo's TTLs are seconds; the CA refuses TTLs under min_ttl (1m by default).
sed -i 's/^min_ttl: .*/min_ttl: 5s/' "$ca_dir/ca.yaml"

rm -rf "$run"
mkdir -p "$run/nginx/tmp"
say "starting the CA (logs: var/demo/ca.log)"
start rotor-ca "$run/ca.out" "$run/ca.log" \
  "$bin/rotor-ca" serve --data-dir "$ca_dir" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0
ca_ready() {
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$run/ca.log" >&2; die "rotor-ca serve exited"; }
  grep -q '^rotor-ca: serving grpc=' "$run/ca.out" 2>/dev/null
}
wait_until 30 "the CA" "$run/ca.log" ca_ready
export ROTOR_CA ROTOR_CREDENTIALS=$ca_dir/admin
ROTOR_CA=$(sed -n 's/^rotor-ca: serving grpc=\([^ ]*\).*/\1/p' "$run/ca.out")
say "CA serving gRPC on $ROTOR_CA"

# ctl ARGS...: rotorctl with the admin credentials; its notes go to a log.
ctl() {
  "$bin/rotorctl" "$@" 2>>"$run/rotorctl.log" ||
    { tail -n 5 "$run/rotorctl.log" >&2; die "rotorctl $1 $2 failed"; }
}
# entry NODE SPIFFE_ID [DNS]: grants the identity unless an entry already does.
entry() {
  if ctl entry list | grep -qF "$2"; then
    say "entry: node $1 may hold $2 (kept from a previous run)"
    return
  fi
  ctl entry create --node "$1" --spiffe-id "$2" ${3:+--dns "$3"} >/dev/null
  say "entry: node $1 may hold $2${3:+ ($3)}"
}
entry demo-server "spiffe://$td/demo/web" "$host"
entry demo-client "spiffe://$td/demo/client"

# agent NODE CERT_NAME SPIFFE_ID DNS_NAMES HOOK_YAML: writes the agent's
# config and join token under var/demo/NODE and starts it.
agent() {
  local node=$1 name=$2 id=$3 dns=$4 hook=$5 dir=$run/$1
  mkdir -p "$dir"
  (umask 077 && ctl token create --node "$node" --ttl 10m >"$dir/token")
  cat >"$dir/agent.yaml" <<EOF
ca: $ROTOR_CA
trust_anchor: $fingerprint
join_token_file: $dir/token
node_name: $node
state_dir: $dir/state
renew_at: 0.5
backoff_initial: 200ms
backoff_max: 5s
certificates:
  - name: $name
    spiffe_id: $id
    dns_names: [$dns]
    ttl: $ttl
    dir: $dir/certs/$name
$hook
EOF
  start "rotor-agent($node)" "$dir/agent.out" "$dir/agent.log" \
    "$bin/rotor-agent" run --config "$dir/agent.yaml"
}
server_certs=$run/demo-server/certs/web
client_certs=$run/demo-client/certs/client
agent demo-server web "spiffe://$td/demo/web" "$host" "    on_rotate:
      signal: {name: HUP, pid_file: $run/nginx/nginx.pid}"
agent demo-client client "spiffe://$td/demo/client" "" ""
say "started two agents with $ttl certificates (logs: var/demo/demo-server/agent.log, var/demo/demo-client/agent.log)"
wait_until 30 "the server certificate" "$run/demo-server/agent.log" test -e "$server_certs/crl.pem"
wait_until 30 "the client certificate" "$run/demo-client/agent.log" test -e "$client_certs/key.pem"

# nginx: its own prefix, pid and logs under var/demo/nginx, a high port.
nginx_conf() {
  cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $run/nginx/nginx.pid;
error_log $run/nginx/error.log info;
events { worker_connections 64; }
http {
  access_log $run/nginx/access.log;
  client_body_temp_path $run/nginx/tmp/body;
  proxy_temp_path $run/nginx/tmp/proxy;
  fastcgi_temp_path $run/nginx/tmp/fastcgi;
  uwsgi_temp_path $run/nginx/tmp/uwsgi;
  scgi_temp_path $run/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$1 ssl;
    server_name $host;
    ssl_certificate $server_certs/cert.pem;
    ssl_certificate_key $server_certs/key.pem;
    ssl_client_certificate $server_certs/bundle.pem;
    ssl_crl $server_certs/crl.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {
      default_type text/plain;
      return 200 "client_serial=\$ssl_client_serial verify=\$ssl_client_verify\n";
    }
  }
}
EOF
}
port=""
for ((p = first_port; p < first_port + 20; p++)); do
  nginx_conf "$p" >"$run/nginx/nginx.conf"
  : >"$run/nginx/error.log"
  start nginx "$run/nginx/nginx.out" "$run/nginx/nginx.err" \
    "$nginx" -p "$run/nginx/" -c "$run/nginx/nginx.conf" -e "$run/nginx/error.log"
  nginx_up() { [[ -s $run/nginx/nginx.pid ]] || ! kill -0 "${pids[-1]}" 2>/dev/null; }
  wait_until 10 "nginx" "$run/nginx/error.log" nginx_up
  if kill -0 "${pids[-1]}" 2>/dev/null; then port=$p; break; fi
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]' 'names[-1]'
  grep -q 'Address already in use' "$run/nginx/error.log" ||
    { tail -n 20 "$run/nginx/error.log" >&2; die "nginx did not start"; }
done
[[ -n $port ]] || die "no free port in $first_port..$((p - 1)) for nginx"
say "nginx serving mTLS on https://$host:$port/ (127.0.0.1; logs: var/demo/nginx/)"

# A careful client reads the key and certificate from one published set:
# resolve ..data once, copy both files out of that folder, and retry if the
# agent swapped sets meanwhile (it removes the old folder after the swap).
read_client_pair() {
  local before after
  for _ in 1 2 3 4 5; do
    before=$(readlink "$client_certs/..data") || return 1
    if cp "$client_certs/$before/cert.pem" "$run/client.crt" 2>/dev/null &&
      (umask 077 && cp "$client_certs/$before/key.pem" "$run/client.key" 2>/dev/null); then
      after=$(readlink "$client_certs/..data") || return 1
      [[ $before == "$after" ]] && return 0
    fi
  done
  return 1
}

# Prints what the agents logged since the last call: each rotation (a new
# certificate) and each rewrite of the files for a new CRL or trust bundle
# (the server's hook reloads nginx for both).
declare -A seen=([demo-server]=0 [demo-client]=0)
rotations=0
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
print_rotations() {
  local node line n
  for node in demo-server demo-client; do
    n=0
    while IFS= read -r line; do
      n=$((n + 1))
      ((n > ${seen[$node]})) || continue
      if [[ $line == *' rotated name='* ]]; then
        rotations=$((rotations + 1))
        printf 'demo: %s  ROTATED %-18s %s -> %s (%s), next renewal %s\n' "$(date +%T)" \
          "$node/$(field name "$line")" "$(field old_serial "$line")" \
          "$(field new_serial "$line")" "$(field reason "$line")" \
          "$(field next_renewal "$line" | sed 's/^.*T//')"
      else
        printf 'demo: %s  UPDATED %-18s new %s written next to certificate %s\n' \
          "$(date +%T)" "$node/$(field name "$line")" "$(field reason "$line")" \
          "$(field serial "$line")"
      fi
    done < <(grep -E ' (rotated|rewrote the files) name=' "$run/$node/agent.log" || true)
    seen[$node]=$n
  done
}

requests=0
failures=0
summary() {
  say "$requests requests, $failures failed, $rotations certificates issued or rotated"
}
trap 'summary; exit 130' INT
trap 'summary; exit 143' TERM

say "meanwhile, in another shell: export ROTOR_CA=$ROTOR_CA ROTOR_CREDENTIALS=var/ca/admin"
say "  then $build_dir/bin/rotorctl cert list --node demo-client, or cert revoke SERIAL"
say "calling nginx once a second with the client's certificate; Ctrl-C stops"
start_time=$SECONDS
while ((seconds == 0 || SECONDS - start_time < seconds)); do
  print_rotations
  requests=$((requests + 1))
  if ! read_client_pair; then
    failures=$((failures + 1))
    say "$(date +%T)  cannot read the client's files in $client_certs"
  elif response=$(curl -sS --fail --max-time 5 \
    --cert "$run/client.crt" --key "$run/client.key" \
    --cacert "$client_certs/bundle.pem" --resolve "$host:$port:127.0.0.1" \
    -w '%{certs}' "https://$host:$port/" 2>&1); then
    # The body names the client certificate nginx verified; %{certs}
    # details the server's chain, whose first "Serial Number:" is the leaf's.
    # Serials are shown as the agents log them: lowercase, no leading zeros.
    client_serial=$(sed -n 's/^client_serial=\([0-9A-Fa-f]*\) .*/\1/p' <<<"$response" |
      tr 'A-F' 'a-f' | sed 's/^0*//')
    server_serial=$(grep -m1 -o 'Serial Number:[0-9a-fA-F:]*' <<<"$response" |
      cut -d: -f2- | tr -d ':' | tr 'A-F' 'a-f' | sed 's/^0*//')
    printf 'demo: %s  GET https://%s:%s/ -> 200: nginx (server cert %s) accepted client cert %s\n' \
      "$(date +%T)" "$host" "$port" "${server_serial:-?}" "${client_serial:-?}"
  else
    failures=$((failures + 1))
    printf 'demo: %s  GET https://%s:%s/ FAILED: %s\n' "$(date +%T)" "$host" "$port" \
      "$(head -n 1 <<<"$response")"
  fi
  sleep 1
done
print_rotations
summary
((failures == 0))
