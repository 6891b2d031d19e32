# Shared by run.sh, test.sh and bench.sh: installing the local tools and starting Azurite.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AZURITE="$ROOT/deploy/node_modules/.bin/azurite"
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

require() {
  command -v "$1" >/dev/null 2>&1 || { log "missing: $1 ($2)"; exit 1; }
}

# Installs Azurite from deploy/package-lock.json when it is not there yet.
install_azurite() {
  require node "Node.js 20 or later"
  require npm "npm"
  if [ ! -x "$AZURITE" ]; then
    log "installing Azurite (npm ci in deploy/)"
    (cd "$ROOT/deploy" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
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
