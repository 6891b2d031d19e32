#!/usr/bin/env bash
# Restores, builds and runs every test against an Azurite of its own (temporary directory, free
# ports), then prints "N passed, M failed" alone on the last line. Exits non-zero on any failure.
set -uo pipefail
source "$(dirname "$0")/scripts/common.sh"
cd "$ROOT"

require dotnet ".NET 10 SDK"
install_azurite || exit 1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vaultgrains-test.XXXXXX")"
AZURITE_PID=""
cleanup() {
  [ -z "$AZURITE_PID" ] || stop_pids 10 "$AZURITE_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building"
if ! dotnet build VaultGrains.sln -c Release -nologo -v q -clp:ErrorsOnly; then
  echo "0 passed, 1 failed"
  exit 1
fi

# The Azure infrastructure (deploy/azure) must compile: Bicep comes from its NuGet package, restored
# like any other; a failed or warning build counts as a failed test. Its role assignments are
# checked by AzureInfrastructureTests.
log "bicep build deploy/azure/main.bicep"
infra_failed=0
if ! dotnet restore deploy/azure/Bicep.proj -nologo -v q \
  || ! bicep_build deploy/azure/main.bicep "$WORK/main.json"; then
  log "bicep build failed"
  infra_failed=1
fi

BLOB=$(free_port); QUEUE=$(free_port); TABLE=$(free_port)
log "starting Azurite on ports $BLOB/$QUEUE/$TABLE"
start_azurite "$WORK/azurite" "$BLOB" "$QUEUE" "$TABLE" || { echo "0 passed, 1 failed"; exit 1; }
export VAULTGRAINS_TEST_STORAGE="$(azurite_connection_string "$BLOB" "$QUEUE" "$TABLE")"
export VAULTGRAINS_TEST_AZURITE_PID="$AZURITE_PID"

log "testing"
dotnet test VaultGrains.sln -c Release --no-build -nologo \
  --logger "trx;LogFilePrefix=results" --logger "console;verbosity=normal" \
  --results-directory "$WORK/results" "$@"
status=$?

passed=0; failed=0
for trx in "$WORK"/results/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
failed=$((failed + infra_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
