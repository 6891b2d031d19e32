# Shared by run.sh, test.sh and bench.sh: installing the local tools, starting Azurite and the service.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AZURITE="$ROOT/deploy/node_modules/.bin/azurite"
REDOCLY="$ROOT/deploy/node_modules/.bin/redocly"
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

require() {
  command -v "$1" >/dev/null 2>&1 || { log "missing: $1 ($2)"; exit 1; }
}

# Installs Azurite (and Redocly CLI, which test.sh lints the API description with) from
# deploy/package-lock.json when they are not there yet.
install_azurite() {
  require node "Node.js 20 or later"
  require npm "npm"
  if [ ! -x "$AZURITE" ] || [ ! -x "$REDOCLY" ]; then
    log "installing Azurite and Redocly CLI (npm ci in deploy/)"
    (cd "$ROOT/deploy" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# bicep_build FILE.bicep OUT.json: compiles with the Bicep CLI of the NuGet package that
# deploy/azure/Bicep.proj pins (after `dotnet restore` of it); fails on an error or a warning.
bicep_build() {
  local version packages bicep output
  version=$(sed -n 's:.*<BicepVersion>\(.*\)</BicepVersion>.*:\1:p' "$ROOT/deploy/azure/Bicep.proj")
  packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
  bicep="$packages/azure.bicep.commandline.linux-x64/$version/tools/bicep"
  [ -x "$bicep" ] || { log "missing $bicep (dotnet restore deploy/azure/Bicep.proj)"; return 1; }
  output=$("$bicep" build "$1" --outfile "$2" 2>&1) || { printf '%s\n' "$output" >&2; return 1; }
  if grep -q "Warning" <<<"$output"; then printf '%s\n' "$output" >&2; return 1; fi
}

# A TCP port nobody listens on now.
free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# start_azurite DIR BLOB QUEUE TABLE: starts Azurite in the background, sets AZURITE_PID.
start_azurite() {
  mkdir -p "$1"
  setsid "$AZURITE" --silent --disableTelemetry --skipApiVersionCheck --location "$1" \
    --blobHost 127.0.0.1 --blobPort "$2" --queueHost 127.0.0.1 --queuePort "$3" \
    --tableHost 127.0.0.1 --tablePort "$4" >"$1/azurite.log" 2>&1 &
  AZURITE_PID=$!
  for port in "$2" "$4"; do
    wait_port "$port" 60 || { log "Azurite did not start; see $1/azurite.log"; return 1; }
  done
}

azurite_connection_string() { # BLOB QUEUE TABLE
  echo "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;BlobEndpoint=http://127.0.0.1:$1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$2/devstoreaccount1;TableEndpoint=http://127.0.0.1:$3/devstoreaccount1;"
}

# export_service_settings DATA BLOB QUEUE TABLE: what the silo and API processes read (storage on
# the local Azurite, Azure Table clustering, local key-encryption key under DATA/keys).
export_service_settings() {
  export Storage__ConnectionString="$(azurite_connection_string "$2" "$3" "$4")"
  export Orleans__Clustering=AzureStorage
  # A fresh cluster id per run keeps rows of silos that died in an earlier run out of the way;
  # the service id (which keys grain state) stays the same.
  export Orleans__ClusterId="vaultgrains-$(date +%s)"
  export Orleans__ServiceId="${ORLEANS_SERVICE_ID:-vaultgrains}"
  export Encryption__Provider=Local
  export Encryption__Local__KeyFile="$1/keys/local-kek.key"
  export DOTNET_ENVIRONMENT="${DOTNET_ENVIRONMENT:-Production}"
}

# ensure_cluster_tls DIR: a local cluster CA and the silo, api and proxy certificates in DIR (made
# on first use by the silo's own `cluster-certificates` command, renewed when due; needs the Release
# build). Every Orleans connection is mutual TLS: start_silo, start_api and start_proxy hand each
# process its own certificate.
ensure_cluster_tls() {
  dotnet "$ROOT/src/Silo/bin/Release/net10.0/VaultGrains.Silo.dll" cluster-certificates "$1" || { log "could not make cluster certificates in $1"; return 1; }
  CLUSTER_TLS_DIR="$1"
  export Orleans__Tls__CaFile="$1/ca.pem"
}

# cluster_tls NAME: runs the rest of the command line with the certificate NAME of CLUSTER_TLS_DIR.
cluster_tls() {
  local name=$1; shift
  Orleans__Tls__CertificateFile="${CLUSTER_TLS_DIR:?ensure_cluster_tls first}/$name.pem" Orleans__Tls__KeyFile="$CLUSTER_TLS_DIR/$name.key" "$@"
}

# run_built NAME PROJECT_DIR DLL [LOG] (env assignments before the call apply): starts a Release
# build in its own session (setsid), its output into LOG or into ours prefixed with [NAME].
# The pid is left in $!.
run_built() {
  local dir="$ROOT/$2/bin/Release/net10.0"
  if [ -n "${4:-}" ]; then
    setsid dotnet "$dir/$3" --contentRoot "$dir" >"$4" 2>&1 &
  else
    # The prefixing sed ignores INT and TERM: a Ctrl-C must not close the pipe of a process that
    # is still shutting down (its next log line would then kill it mid-handover).
    setsid dotnet "$dir/$3" --contentRoot "$dir" > >(trap '' INT TERM; exec sed -u "s/^/[$1] /") 2>&1 &
  fi
}

# start_silo N SILO_PORT GATEWAY_PORT [LOG]: starts silo N. Appends its pid to SILO_PIDS.
start_silo() {
  Orleans__SiloPort="$2" Orleans__GatewayPort="$3" cluster_tls silo run_built "silo$1" src/Silo VaultGrains.Silo.dll "${4:-}"
  SILO_PIDS+=("$!")
}

# start_api PORT ADMIN_TOKEN [LOG]: starts the API on 127.0.0.1:PORT; sets API_PID. Agents are
# told the proxy is at 127.0.0.1:PROXY_PORT (default 8081).
start_api() {
  VAULT_ADMIN_TOKEN="$2" ASPNETCORE_URLS="http://127.0.0.1:$1" Proxy__ProxyUrl="http://127.0.0.1:${PROXY_PORT:-8081}" \
    cluster_tls api run_built api src/Api VaultGrains.Api.dll "${3:-}"
  API_PID=$!
}

# start_api_in_silo PORT ADMIN_TOKEN SILO_PORT GATEWAY_PORT [LOG]: the API hosting the silo in its own
# process (Api:HostSilo; README, "Deployment modes"), with the silo's certificate; sets API_PID.
start_api_in_silo() {
  Api__HostSilo=true Orleans__SiloPort="$3" Orleans__GatewayPort="$4" \
  VAULT_ADMIN_TOKEN="$2" ASPNETCORE_URLS="http://127.0.0.1:$1" Proxy__ProxyUrl="http://127.0.0.1:${PROXY_PORT:-8081}" \
    cluster_tls silo run_built api src/Api VaultGrains.Api.dll "${5:-}"
  API_PID=$!
}

# start_proxy PORT [LOG]: starts the secret proxy on 127.0.0.1:PORT with the PROXY_* settings of
# the caller's environment (see README.md); sets PROXY_PID.
start_proxy() {
  Proxy__Address=127.0.0.1 Proxy__Port="$1" \
  Proxy__AllowPrivate="${PROXY_ALLOW_PRIVATE:-false}" Proxy__Resolve="${PROXY_RESOLVE:-}" \
  Proxy__UpstreamCaFile="${PROXY_UPSTREAM_CA_FILE:-}" Proxy__AllowedPorts="${PROXY_ALLOWED_PORTS:-443}" \
    cluster_tls proxy run_built proxy src/Proxy VaultGrains.Proxy.dll "${2:-}"
  PROXY_PID=$!
}

# wait_healthy PORT SECONDS: until GET /healthz answers 200.
wait_healthy() {
  local deadline=$((SECONDS + $2))
  until curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# Stops the given pids with SIGTERM, then SIGKILL after a grace period.
stop_pids() { # seconds pid...
  local grace=$1; shift
  local pids=()
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && pids+=("$pid"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while [ $SECONDS -lt $deadline ]; do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 1 ] || return 0
    sleep 0.2
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
