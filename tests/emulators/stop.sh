#!/usr/bin/env bash
# Stops the emulators start.sh started (by their recorded process ids only) and removes their data.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="$here/.state"
for name in azurite s3rver gcs; do
  pidfile="$state/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  # Data goes only with the process that used it.
  case "$name" in
    gcs) rm -rf "$state/gcs-tmp" ;;
    *) rm -rf "${state:?}/$name" ;;
  esac
done
rm -f "$state/endpoints.env"
