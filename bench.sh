#!/usr/bin/env bash
# Benchmarks the service (1 silo + API, as ./run.sh starts them) against an in-memory ceiling
# server and the raw write rate of the same Azurite, then prints one table and writes it as JSON
# to bench/results/. Everything runs on loopback, on free ports, with its data in a temporary
# directory. With the secret proxy and a TLS upstream (bench/Upstream) it also measures requests
# through the proxy against the same upstream direct. Settings: BENCH_* environment variables
# (README, "Performance"); `./bench.sh proxy` is BENCH_SCENARIOS=proxy. `./bench.sh audit` and
# `./bench.sh telemetry` (modes of their own) measure what a feature with an off switch costs: the
# hot-vault and spread-create scenarios as shipped and after restarting silo and API with
# Audit__Enabled=false (Telemetry__Enabled=false), alternating in BENCH_ROUNDS rounds, in one run. BENCH_MODE=in-silo measures the API
# hosting the silo (Api:HostSilo) instead of silo + API; BENCH_MODE=compare runs the scenarios
# (default hot,list) against both deployments in one run, rows "service, separate" and "service, in-silo".
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"

require dotnet ".NET 10 SDK"
require curl "curl"
install_azurite
if [ $# -gt 0 ]; then BENCH_SCENARIOS="$(IFS=,; echo "$*")"; export BENCH_SCENARIOS; fi
# The proxy scenario runs in a full run and whenever BENCH_SCENARIOS names it; when it is the only
# one, nothing was written that a restart would have to prove durable.
case ",${BENCH_SCENARIOS:-proxy}," in *,proxy,*) RUN_PROXY=1 ;; *) RUN_PROXY=0 ;; esac
ONLY_PROXY=0
[ "${BENCH_SCENARIOS:-}" != "proxy" ] || ONLY_PROXY=1
# On/off comparison of a feature with an off switch: its name (the mode), the label of the two
# phases' rows ("LABEL on" / "LABEL off", bench/Load/SwitchFigures.cs) and the setting that turns
# it off.
SWITCH=""
case ",${BENCH_SCENARIOS:-}," in
  ,audit,) SWITCH=audit SWITCH_LABEL=trail SWITCH_SETTING=Audit__Enabled ;;
  ,telemetry,) SWITCH=telemetry SWITCH_LABEL=telemetry SWITCH_SETTING=Telemetry__Enabled ;;
  *,audit,*|*,telemetry,*) log "audit and telemetry are modes of their own: ./bench.sh audit, ./bench.sh telemetry"; exit 2 ;;
esac

BENCH_MODE="${BENCH_MODE:-separate}"
case "$BENCH_MODE" in
  separate|in-silo) SERVICE_MODE="$BENCH_MODE" ;;
  compare) SERVICE_MODE=separate ;;
  *) log "BENCH_MODE must be separate, in-silo or compare"; exit 2 ;;
esac
if [ "$BENCH_MODE" = compare ] && [ -n "$SWITCH" ]; then log "BENCH_MODE=compare is a mode of its own: leave out audit/telemetry"; exit 2; fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vaultgrains-bench.XXXXXX")"
RESULTS="$ROOT/bench/results"
RESULT="$RESULTS/bench-$(date -u +%Y%m%d-%H%M%S).json"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then COMMIT="$COMMIT-dirty"; fi
mkdir -p "$RESULTS"

AZURITE_PID=""
SILO_PIDS=()
API_PID=""
CEILING_PID=""
LOAD_PID=""
PROXY_PID=""
UPSTREAM_PID=""
stop_proxy() {
  [ -z "$PROXY_PID" ] || stop_pids 8 "$PROXY_PID"
  [ -z "$UPSTREAM_PID" ] || stop_pids 5 "$UPSTREAM_PID"
  PROXY_PID=""
  UPSTREAM_PID=""
}
stop_service() {
  [ -z "$API_PID" ] || stop_pids 8 "$API_PID"
  [ ${#SILO_PIDS[@]} -eq 0 ] || stop_pids 15 "${SILO_PIDS[@]}"
  API_PID=""
  SILO_PIDS=()
}
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  [ -z "$LOAD_PID" ] || stop_pids 5 "$LOAD_PID"
  stop_proxy
  stop_service
  [ -z "$CEILING_PID" ] || stop_pids 5 "$CEILING_PID"
  [ -z "$AZURITE_PID" ] || stop_pids 5 "$AZURITE_PID"
  if [ "$code" -ne 0 ] && [ -d "$WORK" ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { log "last lines of $f:"; tail -n 20 "$f" >&2; }; done
  fi
  [ -n "${BENCH_KEEP:-}" ] && log "kept $WORK" || rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (Release)"
for project in src/Silo/Silo.csproj src/Api/Api.csproj src/Proxy/Proxy.csproj bench/Ceiling/Ceiling.csproj bench/Upstream/Upstream.csproj bench/Load/Load.csproj; do
  dotnet build "$project" -c Release -nologo -v q -clp:ErrorsOnly
done

BLOB=$(free_port); QUEUE=$(free_port); TABLE=$(free_port)
SILO_PORT=$(free_port); GATEWAY_PORT=$(free_port); API_PORT=$(free_port); CEILING_PORT=$(free_port)
# start_api tells agents the proxy is here (the environment's proxy_url).
PROXY_PORT=$(free_port); UPSTREAM_PORT=$(free_port)
ADMIN_TOKEN="$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"

if [ -z "$SWITCH" ]; then # an on/off comparison starts an Azurite per phase
  log "starting Azurite on ports $BLOB/$QUEUE/$TABLE (data in $WORK)"
  start_azurite "$WORK/azurite" "$BLOB" "$QUEUE" "$TABLE"
  export_service_settings "$WORK" "$BLOB" "$QUEUE" "$TABLE"
fi
ensure_cluster_tls "$WORK/cluster-tls"

# Starts the service in SERVICE_MODE and sets SERVICE_WATCH, the --watch arguments of its processes.
start_service() { # RUN
  export Orleans__ClusterId="vaultgrains-bench-$(date +%s)-$1"
  if [ "$SERVICE_MODE" = in-silo ]; then
    start_api_in_silo "$API_PORT" "$ADMIN_TOKEN" "$SILO_PORT" "$GATEWAY_PORT" "$WORK/api-$1.log"
    SERVICE_WATCH=(--watch "api+silo=$API_PID")
  else
    start_silo 1 "$SILO_PORT" "$GATEWAY_PORT" "$WORK/silo-$1.log"
    wait_port "$GATEWAY_PORT" 120 || { log "the silo did not start"; return 1; }
    start_api "$API_PORT" "$ADMIN_TOKEN" "$WORK/api-$1.log"
    SERVICE_WATCH=(--watch "silo=${SILO_PIDS[0]}" --watch "api=$API_PID")
  fi
  wait_healthy "$API_PORT" 120 || { log "the API did not become healthy"; return 1; }
}

# The load generator runs in the background so that a signal reaches our trap at once.
run_load() {
  local status=0
  dotnet "$ROOT/bench/Load/bin/Release/net10.0/VaultGrains.Bench.Load.dll" "$@" &
  LOAD_PID=$!
  wait "$LOAD_PID" || status=$?
  LOAD_PID=""
  return "$status"
}

if [ -n "$SWITCH" ]; then
  # The same two scenarios with the feature on and off on the same machine in one run: what it
  # costs is the ratio. The machine is shared and its speed drifts within minutes, so the phases
  # alternate in BENCH_ROUNDS rounds, on then off, then off then on (a steady drift weighs on both
  # alike), and the figures add the rounds up. Each phase has its own Azurite, started empty (Azurite
  # slows down as it fills: a phase that inherited the earlier phases' blobs ran at half the speed),
  # a freshly started silo and API and its own 1,000 new vaults. Short windows by default.
  export BENCH_SCENARIOS=spread,hot BENCH_WARMUP="${BENCH_WARMUP:-30}" BENCH_DURATION="${BENCH_DURATION:-10}"
  ROUNDS="${BENCH_ROUNDS:-2}"
  case "$ROUNDS" in ''|*[!0-9]*|0) log "BENCH_ROUNDS must be a whole number of at least 1"; exit 2 ;; esac
  SWITCH_ARGS=()
  # The audit comparison also counts the trail's appends in its container.
  [ "$SWITCH" != audit ] || SWITCH_ARGS=(--audit-container "vaultgrains-audit")
  STATES="" CHECKS=""
  switch_phase() { # ROUND on|off
    local phase="$2-$1"
    BLOB=$(free_port); QUEUE=$(free_port); TABLE=$(free_port)
    log "$SWITCH $2 (round $1 of $ROUNDS): starting an empty Azurite on ports $BLOB/$QUEUE/$TABLE, then the service (API on port $API_PORT)"
    start_azurite "$WORK/azurite-$phase" "$BLOB" "$QUEUE" "$TABLE"
    export_service_settings "$WORK" "$BLOB" "$QUEUE" "$TABLE"
    # Silo and API start with the setting in their environment when off (Audit:Enabled is read by
    # the silo, Telemetry:Enabled by both), as shipped when on, whatever this shell had set.
    if [ "$2" = off ]; then export "$SWITCH_SETTING=false"; else unset "$SWITCH_SETTING"; fi
    start_service "$phase"
    unset "$SWITCH_SETTING"
    BENCH_ADMIN_TOKEN="$ADMIN_TOKEN" BENCH_STORAGE="$Storage__ConnectionString" run_load run \
      --service "http://127.0.0.1:$API_PORT/" --vault-container "vaultgrains-vaults" "${SWITCH_ARGS[@]}" \
      --phase "$SWITCH_LABEL $2 #$1" --state "$WORK/run-$phase.json" \
      "${SERVICE_WATCH[@]}" --watch "azurite=$AZURITE_PID"
    stop_service
    # Every 201 of the phase durable: a restart, as shipped, on the phase's storage lists them all.
    log "restarting silo and API to verify that every acknowledged create of the phase was stored"
    local verify=(--service "http://127.0.0.1:$API_PORT/")
    if ! start_service "verify-$phase"; then verify=(--service-unavailable "the service did not restart"); fi
    run_load verify "${verify[@]}" --state "$WORK/run-$phase.json" --durability-out "$WORK/durable-$phase.json" || true
    stop_service
    stop_pids 5 "$AZURITE_PID"
    AZURITE_PID=""
    STATES="$STATES${STATES:+,}$WORK/run-$phase.json"
    CHECKS="$CHECKS${CHECKS:+,}$WORK/durable-$phase.json"
  }
  for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then switch_phase "$round" on; switch_phase "$round" off
    else switch_phase "$round" off; switch_phase "$round" on; fi
  done
  BENCH_COMMIT="$COMMIT" run_load verify --checked "$CHECKS" --state "$STATES" --out "$RESULT"
  exit 0
fi

if [ "$BENCH_MODE" = compare ]; then
  # The same scenarios against both deployments on the same machine in one run: compare the two
  # rows' ratio. Each phase has a freshly started service and vaults of its own.
  export BENCH_SCENARIOS="${BENCH_SCENARIOS:-hot,list}" BENCH_WARMUP="${BENCH_WARMUP:-30}" BENCH_DURATION="${BENCH_DURATION:-10}"
  for phase in separate in-silo; do
    SERVICE_MODE=$phase
    log "$phase: starting the service on port $API_PORT"
    start_service "$phase"
    BENCH_ADMIN_TOKEN="$ADMIN_TOKEN" BENCH_STORAGE="$Storage__ConnectionString" run_load run \
      --service "http://127.0.0.1:$API_PORT/" --vault-container "vaultgrains-vaults" \
      --phase "$phase" --state "$WORK/run-$phase.json" "${SERVICE_WATCH[@]}" --watch "azurite=$AZURITE_PID"
    stop_service
  done
  log "restarting the service to verify that every acknowledged create of both phases was stored"
  VERIFY=(--service "http://127.0.0.1:$API_PORT/")
  SERVICE_MODE=separate
  if ! start_service verify; then VERIFY=(--service-unavailable "the service did not restart"); fi
  BENCH_COMMIT="$COMMIT" run_load verify "${VERIFY[@]}" --state "$WORK/run-separate.json,$WORK/run-in-silo.json" --out "$RESULT"
  exit 0
fi

log "starting the service ($SERVICE_MODE, API on port $API_PORT)"
start_service 1

log "starting the ceiling server on port $CEILING_PORT"
CEILING_DIR="$ROOT/bench/Ceiling/bin/Release/net10.0"
VAULT_ADMIN_TOKEN="$ADMIN_TOKEN" ASPNETCORE_URLS="http://127.0.0.1:$CEILING_PORT" \
  setsid dotnet "$CEILING_DIR/VaultGrains.Bench.Ceiling.dll" --contentRoot "$ROOT/bench/Ceiling" >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!
wait_healthy "$CEILING_PORT" 60 || { log "the ceiling server did not start"; exit 1; }

PROXY_ARGS=()
if [ "$RUN_PROXY" = 1 ]; then
  UPSTREAM_HOST=api.bench.test
  # The value the proxy releases; only the upstream (which counts its arrivals) and the load
  # generator (which stores it as a secret) get it, through their environment.
  BENCH_PROXY_SECRET="sk_bench_$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
  log "starting the upstream on port $UPSTREAM_PORT ($UPSTREAM_HOST, CA made for this run)"
  BENCH_UPSTREAM_PORT="$UPSTREAM_PORT" BENCH_UPSTREAM_HOST="$UPSTREAM_HOST" BENCH_UPSTREAM_CA_FILE="$WORK/upstream-ca.pem" \
    BENCH_PROXY_SECRET="$BENCH_PROXY_SECRET" run_built upstream bench/Upstream VaultGrains.Bench.Upstream.dll "$WORK/upstream.log"
  UPSTREAM_PID=$!
  wait_port "$UPSTREAM_PORT" 60 || { log "the upstream did not start"; exit 1; }
  log "starting the secret proxy on port $PROXY_PORT"
  PROXY_ALLOW_PRIVATE=true PROXY_RESOLVE="$UPSTREAM_HOST=127.0.0.1" PROXY_UPSTREAM_CA_FILE="$WORK/upstream-ca.pem" \
    PROXY_ALLOWED_PORTS="$UPSTREAM_PORT" start_proxy "$PROXY_PORT" "$WORK/proxy.log"
  wait_healthy "$PROXY_PORT" 60 || { log "the secret proxy did not start"; exit 1; }
  PROXY_ARGS=(--upstream "https://$UPSTREAM_HOST:$UPSTREAM_PORT/" --upstream-ca "$WORK/upstream-ca.pem"
    --watch "proxy=$PROXY_PID" --watch "upstream=$UPSTREAM_PID")
fi

BENCH_ADMIN_TOKEN="$ADMIN_TOKEN" BENCH_STORAGE="$Storage__ConnectionString" BENCH_PROXY_SECRET="${BENCH_PROXY_SECRET:-}" run_load run \
  --service "http://127.0.0.1:$API_PORT/" --ceiling "http://127.0.0.1:$CEILING_PORT/" \
  --vault-container "vaultgrains-vaults" --state "$WORK/run.json" \
  "${SERVICE_WATCH[@]}" --watch "azurite=$AZURITE_PID" --watch "ceiling=$CEILING_PID" \
  "${PROXY_ARGS[@]}"
# The proxy is a client of this cluster: it goes before the silo does.
stop_proxy

VERIFY=(--service "http://127.0.0.1:$API_PORT/")
if [ "$ONLY_PROXY" = 0 ]; then
  # Every 201 durable: stop silo and API, start them again on the same storage, and list.
  log "restarting silo and API to verify that every acknowledged create was stored"
  stop_service
  if ! start_service 2; then VERIFY=(--service-unavailable "the service did not restart"); fi
else
  VERIFY+=(--not-restarted true)
fi
BENCH_COMMIT="$COMMIT" run_load verify "${VERIFY[@]}" --state "$WORK/run.json" --out "$RESULT"
