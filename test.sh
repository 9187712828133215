#!/usr/bin/env bash
# Runs every test of SpotCheckpoint. Needs only the .NET 10 SDK; everything else is set up here.
set -euo pipefail
cd "$(dirname "$0")"

results="$(mktemp -d)"
status=0
# The object-store tests need Azurite, s3rver and the GCS emulator on 127.0.0.1: start them (installing pinned
# versions on first use), and stop them however this script ends. When they cannot start, stop here with start.sh's
# one line saying what is missing: the object-store tests are never skipped silently.
trap 'tests/emulators/stop.sh >/dev/null 2>&1 || true' EXIT
if ! tests/emulators/start.sh; then
  echo "error: the storage emulators could not be started (the line above says why); the object-store tests cannot run" >&2
  exit 1
fi
dotnet test SpotCheckpoint.sln -c Release --logger "trx" --results-directory "$results" "$@" || status=$?

# One plain closing line for CI and humans, summed over every test assembly.
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); passed=$((passed + ${p:-0}))
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters"); failed=$((failed + ${f:-0}))
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters"); skipped=$((skipped + ${n:-0}))
done
rm -rf "$results"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
