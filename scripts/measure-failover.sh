#!/usr/bin/env bash
# Measures a failover: 2 silo processes + the API on loopback (own Azurite, free ports) under a
# steady load of concurrent creates; kill -9 of the silo hosting most vaults. Reports the window
# from the kill to the first 201 in every vault that lived on the killed silo, and how many
# requests were answered 503 in it. RUNS=N repeats it (default 3).
#
# Settings of the silos and API can be overridden through the environment, e.g. Orleans' own
# membership defaults:
#   Orleans__Membership__ProbeTimeout=00:00:05 Orleans__Membership__DeathVoteExpirationTimeout=00:02:00 \
#   Orleans__Membership__TableRefreshTimeout=00:01:00 Orleans__Membership__IAmAliveTablePublishTimeout=00:00:30 \
#   scripts/measure-failover.sh
# or the strongly consistent directory: Orleans__UseDistributedGrainDirectory=true scripts/measure-failover.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

RUNS="${RUNS:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { log "RUNS must be a number from 1 to 99"; exit 2; }
require dotnet ".NET 10 SDK"
install_azurite
log "building (Release)"
dotnet build VaultGrains.sln -c Release -nologo -v q -clp:ErrorsOnly

REPORT="$(mktemp "${TMPDIR:-/tmp}/vaultgrains-failover.XXXXXX")"
trap 'rm -f "$REPORT"' EXIT
for run in $(seq 1 "$RUNS"); do
  log "run $run of $RUNS"
  if ! VAULTGRAINS_FAILOVER_REPORT="$REPORT" dotnet test tests/VaultGrains.Tests -c Release --no-build -nologo \
      --filter "FullyQualifiedName~FailoverTests.Killing_a_silo" >"$REPORT.log" 2>&1; then
    tail -n 40 "$REPORT.log" >&2
    log "run $run failed"
    exit 1
  fi
done
rm -f "$REPORT.log"

cat "$REPORT"
sed -n 's/.*window \([0-9.]*\) s.*; \([0-9]*\) x 503 in the window.*/\1 \2/p' "$REPORT" | sort -n | awk '
  { w[NR] = $1; u[NR] = $2; total += $2 }
  END { if (NR) printf "failover window over %d run(s): min %.1f s, median %.1f s, max %.1f s; 503s per failover: %.1f on average\n", NR, w[1], w[int((NR + 1) / 2)], w[NR], total / NR }'
