#!/usr/bin/env bash
# Installs what is missing, builds, and runs Azurite, the silo(s) and the API in the foreground.
# Ctrl-C or SIGTERM stops everything. See README.md for the environment variables.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"

PORT="${PORT:-8080}"
PROXY_PORT="${PROXY_PORT:-8081}"
SILOS="${SILOS:-1}"
# separate: silo process(es) + the API as a cluster client (the default); in-silo: one API process
# that hosts the silo itself (Api:HostSilo; README, "Deployment modes").
VAULT_MODE="${VAULT_MODE:-separate}"
DATA="${VAULT_DATA_DIR:-$ROOT/.data}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"
BLOB_PORT="${AZURITE_BLOB_PORT:-10000}"
QUEUE_PORT="${AZURITE_QUEUE_PORT:-10001}"
TABLE_PORT="${AZURITE_TABLE_PORT:-10002}"
SILO_PORT_BASE="${SILO_PORT_BASE:-11111}"
GATEWAY_PORT_BASE="${GATEWAY_PORT_BASE:-30000}"
# Management listeners on 127.0.0.1 (metrics, dashboard): API on MANAGEMENT_PORT, silo N on +N, proxy on -1.
MANAGEMENT_PORT="${MANAGEMENT_PORT:-9464}"

require dotnet ".NET 10 SDK"
[[ "$SILOS" =~ ^[1-9][0-9]?$ ]] || { log "SILOS must be a number from 1 to 99"; exit 2; }
case "$VAULT_MODE" in separate|in-silo) ;; *) log "VAULT_MODE must be separate or in-silo"; exit 2 ;; esac
[ "$VAULT_MODE" = separate ] || [ "$SILOS" = 1 ] || { log "VAULT_MODE=in-silo runs one process: leave SILOS at 1"; exit 2; }
if port_open "$PORT"; then log "port $PORT is in use; set PORT"; exit 2; fi
if port_open "$PROXY_PORT"; then log "port $PROXY_PORT is in use; set PROXY_PORT"; exit 2; fi
if port_open "$MANAGEMENT_PORT"; then log "port $MANAGEMENT_PORT is in use; set MANAGEMENT_PORT"; exit 2; fi
if [ -n "${PROXY_UPSTREAM_CA_FILE:-}" ]; then
  [ -r "$PROXY_UPSTREAM_CA_FILE" ] || { log "PROXY_UPSTREAM_CA_FILE: cannot read $PROXY_UPSTREAM_CA_FILE"; exit 2; }
  PROXY_UPSTREAM_CA_FILE="$(cd "$(dirname "$PROXY_UPSTREAM_CA_FILE")" && pwd)/$(basename "$PROXY_UPSTREAM_CA_FILE")"
fi
case "${PROXY_ALLOW_PRIVATE:-0}" in 1|true) PROXY_ALLOW_PRIVATE=true ;; *) PROXY_ALLOW_PRIVATE=false ;; esac

if [ -z "${VAULT_ADMIN_TOKEN:-}" ]; then
  if [ ! -s "$DATA/admin-token" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$DATA/admin-token")
  fi
  VAULT_ADMIN_TOKEN="$(cat "$DATA/admin-token")"
  TOKEN_SOURCE="$DATA/admin-token"
  ADMIN_EXAMPLE="ADMIN=\$(cat \"$DATA/admin-token\")"
else
  TOKEN_SOURCE="the VAULT_ADMIN_TOKEN environment variable"
  ADMIN_EXAMPLE="ADMIN=\"\$VAULT_ADMIN_TOKEN\""
fi

install_azurite
# RUN_SKIP_BUILD=1: run the Release build that is there (./test.sh's supervision test, which must
# not rebuild under the other tests).
if [ "${RUN_SKIP_BUILD:-0}" != 1 ]; then
  log "building (Release)"
  dotnet build src/Silo/Silo.csproj -c Release -nologo -v q -clp:ErrorsOnly
  dotnet build src/Api/Api.csproj -c Release -nologo -v q -clp:ErrorsOnly
  dotnet build src/Proxy/Proxy.csproj -c Release -nologo -v q -clp:ErrorsOnly
fi

API_PID=""
PROXY_PID=""
SILO_PIDS=()
AZURITE_PID=""
# Children run in their own sessions (setsid): a Ctrl-C or a SIGTERM to our process group reaches
# only this script, which then stops them in order rather than all at once.
shutdown() {
  local code=${1:-0}
  # Finish the ordered stop even if our output pipe is gone (./run.sh | tee, closed terminal)
  # or another Ctrl-C arrives: it is bounded by the grace periods below anyway.
  set +e
  trap '' INT TERM PIPE
  trap - EXIT
  log "stopping"
  # Front ends first (drain connections), then silos (hand their grains over), then storage.
  # The grace periods add up to under 30 s.
  local front=()
  [ -z "$API_PID" ] || front+=("$API_PID")
  [ -z "$PROXY_PID" ] || front+=("$PROXY_PID")
  [ ${#front[@]} -eq 0 ] || stop_pids 8 "${front[@]}"
  [ ${#SILO_PIDS[@]} -eq 0 ] || stop_pids 15 "${SILO_PIDS[@]}"
  [ -z "$AZURITE_PID" ] || stop_pids 5 "$AZURITE_PID"
  rm -rf "$DATA/run"
  log "stopped"
  exit "$code"
}
trap 'shutdown 0' INT TERM
trap 'shutdown $?' EXIT

# Silo I+1 listens on SILO_PORT_BASE+I and GATEWAY_PORT_BASE+I; its pid is in SILO_PIDS[I] and in
# $DATA/run/silo<I+1>.pid (for operators, and the supervision test, to find it).
RUNDIR="$DATA/run"
SILO_STARTED=()
SILO_DELAY=()
launch_silo() { # I
  local keep=("${SILO_PIDS[@]}") pid
  Management__Port=$((MANAGEMENT_PORT + $1 + 1)) start_silo $(($1 + 1)) $((SILO_PORT_BASE + $1)) $((GATEWAY_PORT_BASE + $1))
  pid=$!
  SILO_PIDS=("${keep[@]}")
  SILO_PIDS[$1]=$pid
  SILO_STARTED[$1]=$SECONDS
  mkdir -p "$RUNDIR" && echo "$pid" >"$RUNDIR/silo$(($1 + 1)).pid"
}

# Supervision, as an orchestrator would do it: a silo that dies is logged and replaced after a
# back-off (2 s; doubling up to 30 s while it keeps dying within a minute of its start) and the
# other silos keep serving meanwhile. The API, the proxy or Azurite exiting stops everything.
supervise() {
  local pid status i
  while true; do
    status=0
    # A child that died while this script was doing something else (starting up, a back-off) is
    # no longer a job `wait -n` knows about, but `wait PID` still has its status: look first.
    for pid in "$API_PID" "$PROXY_PID" "${SILO_PIDS[@]}" "$AZURITE_PID" ""; do
      if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
    done
    if [ -n "$pid" ]; then
      wait "$pid" 2>/dev/null || status=$?
    else
      wait -n -p pid "$API_PID" "$PROXY_PID" "${SILO_PIDS[@]}" "$AZURITE_PID" || status=$?
    fi
    for i in "${!SILO_PIDS[@]}"; do
      if [ -n "$pid" ] && [ "${SILO_PIDS[$i]}" = "$pid" ]; then
        replace_silo "$i" "$status"
        continue 2
      fi
    done
    log "a process exited on its own (pid ${pid:-?}, status $status)"
    return 0
  done
}

replace_silo() { # I STATUS
  local n=$(($1 + 1)) alive=0 pid how="exited with status $2" delay=2
  for pid in "${SILO_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then alive=$((alive + 1)); fi
  done
  [ "$2" -le 128 ] || how="was killed by signal $(($2 - 128))"
  if [ $((SECONDS - SILO_STARTED[$1])) -lt 60 ] && [ "${SILO_DELAY[$1]:-0}" -gt 0 ]; then
    delay=$((SILO_DELAY[$1] * 2 > 30 ? 30 : SILO_DELAY[$1] * 2))
  fi
  SILO_DELAY[$1]=$delay
  if [ "$alive" -gt 0 ]; then
    log "silo $n (pid ${SILO_PIDS[$1]}) $how; $alive of $SILOS silos still running and serving; starting a replacement in $delay s"
  else
    log "silo $n (pid ${SILO_PIDS[$1]}) $how; no silo is left: requests are answered 503 until it is back; restarting it in $delay s"
  fi
  sleep "$delay" &
  wait $! || true
  launch_silo "$1"
  log "silo $n restarted (pid ${SILO_PIDS[$1]}); it rejoins the cluster on ports $((SILO_PORT_BASE + $1))/$((GATEWAY_PORT_BASE + $1))"
}

log "starting Azurite (data in $DATA/azurite)"
start_azurite "$DATA/azurite" "$BLOB_PORT" "$QUEUE_PORT" "$TABLE_PORT"

export_service_settings "$DATA" "$BLOB_PORT" "$QUEUE_PORT" "$TABLE_PORT"
ensure_cluster_tls "$DATA/cluster-tls"
if [ "$VAULT_MODE" = in-silo ]; then
  SILOS=0
  Management__Port="$MANAGEMENT_PORT" start_api_in_silo "$PORT" "$VAULT_ADMIN_TOKEN" "$SILO_PORT_BASE" "$GATEWAY_PORT_BASE"
else
  for i in $(seq 0 $((SILOS - 1))); do
    launch_silo "$i"
  done
  for i in $(seq 0 $((SILOS - 1))); do
    wait_port $((GATEWAY_PORT_BASE + i)) 120 || { log "silo $((i + 1)) did not start"; exit 1; }
  done
  Management__Port="$MANAGEMENT_PORT" start_api "$PORT" "$VAULT_ADMIN_TOKEN"
fi
wait_healthy "$PORT" 120 || { log "API did not become healthy"; exit 1; }
Management__Port=$((MANAGEMENT_PORT - 1)) start_proxy "$PROXY_PORT"
wait_healthy "$PROXY_PORT" 60 || { log "secret proxy did not start"; exit 1; }

cat <<INFO

VaultGrains is running: http://127.0.0.1:$PORT   ($VAULT_MODE: $SILOS separate silo(s), data in $DATA)
Secret proxy: http://127.0.0.1:$PROXY_PORT   (private destinations allowed: $PROXY_ALLOW_PRIVATE; upstream ports: ${PROXY_ALLOWED_PORTS:-443})
API reference: http://127.0.0.1:$PORT/docs   (OpenAPI: /openapi/v1.json; whole flow: src/Api/VaultGrains.Api.http)
Admin token: $TOKEN_SOURCE
Metrics (Prometheus): API http://127.0.0.1:$MANAGEMENT_PORT/metrics   silo 1..$SILOS http://127.0.0.1:$((MANAGEMENT_PORT + 1))/metrics..:$((MANAGEMENT_PORT + SILOS))   proxy http://127.0.0.1:$((MANAGEMENT_PORT - 1))/metrics
Orleans dashboard: http://127.0.0.1:$MANAGEMENT_PORT/dashboard/   (admin token as Bearer, or as the password in the browser's prompt)
Try it:
  $ADMIN_EXAMPLE
  ORG=\$(curl -s -X POST http://127.0.0.1:$PORT/api/admin/v1/organizations -H "Authorization: Bearer \$ADMIN" -H 'Content-Type: application/json' -d '{"name":"Acme"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
  KEY=\$(curl -s -X POST http://127.0.0.1:$PORT/api/admin/v1/organizations/\$ORG/api-keys -H "Authorization: Bearer \$ADMIN" -H 'Content-Type: application/json' -d '{"name":"ci"}' | sed 's/.*"key":"\([^"]*\)".*/\1/')
  VAULT=\$(curl -s -X POST http://127.0.0.1:$PORT/api/public/v1/vaults -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d '{"name":"Production"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
  curl -s -X POST http://127.0.0.1:$PORT/api/public/v1/vaults/\$VAULT/secrets -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d '{"env_key":"DATABASE_URL","value":"postgresql://...","allowed_domains":["*.example.com"]}'
Give an agent placeholders instead of values (README.md, "Using secrets from an agent"):
  curl -s -X POST http://127.0.0.1:$PORT/api/public/v1/runtimes -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d "{\\"name\\":\\"agent\\",\\"vault_ids\\":[\\"\$VAULT\\"]}"
  then HTTPS_PROXY=http://<runtime id>:<token>@127.0.0.1:$PROXY_PORT, trusting the ca_certificate of GET /api/public/v1/runtimes/<id>/environment
Press Ctrl-C to stop.

INFO
# Runs until a signal arrives or the API, the proxy or Azurite dies; silos are replaced.
supervise
shutdown 1
