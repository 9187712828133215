#!/usr/bin/env bash
# Starts the storage emulators the object-store tests use, on 127.0.0.1 only, and leaves them running:
#   Azurite (Azure Blob), @20minutes/s3rver (S3), the Firebase Storage emulator (GCS JSON API).
# Idempotent: installs the versions pinned in package-lock.json into ./node_modules when missing or stale,
# starts only what is not already answering, then writes the endpoints to .state/endpoints.env.
# Ports can be moved with SPOTCKPT_AZURITE_PORT, SPOTCKPT_S3_PORT and SPOTCKPT_GCS_PORT.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="$here/.state"
mkdir -p "$state"

azurite_port="${SPOTCKPT_AZURITE_PORT:-10410}"
s3_port="${SPOTCKPT_S3_PORT:-10420}"
gcs_port="${SPOTCKPT_GCS_PORT:-10430}"
bucket="spotckpt"

# Install (pinned) when node_modules does not match the lockfile.
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.spotckpt-lock.json" 2>/dev/null; then
  echo "emulators: installing pinned packages (npm ci)..." >&2
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  cp "$here/package-lock.json" "$here/node_modules/.spotckpt-lock.json"
fi

answers() { curl -s -o /dev/null --max-time 5 "$1"; }
running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
listening() { (echo >"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

# start NAME PORT COMMAND...: starts COMMAND in the background unless it runs already or its port is taken. A busy
# emulator can be slow to answer HTTP, and a second instance would wipe the first one's data as it starts, so the
# test is the process and the listening port, never an HTTP answer.
start() {
  local name="$1" port="$2"; shift 2
  if running "$name" || listening "$port"; then return 0; fi
  # exec: the recorded id is the emulator's own, so that stop.sh ends exactly it.
  (cd "$state" && exec nohup "$@" >"$state/$name.log" 2>&1) &
  echo $! >"$state/$name.pid"
}

azurite_url="http://127.0.0.1:$azurite_port/devstoreaccount1?comp=list"
s3_url="http://127.0.0.1:$s3_port/"
gcs_url="http://127.0.0.1:$gcs_port/storage/v1/b/$bucket/o"

mkdir -p "$state/azurite" "$state/s3rver" "$state/gcs-tmp"
start azurite "$azurite_port" node "$here/node_modules/azurite/dist/src/blob/main.js" \
  --blobHost 127.0.0.1 --blobPort "$azurite_port" --location "$state/azurite" \
  --skipApiVersionCheck --disableTelemetry --loose --silent
start s3rver "$s3_port" node "$here/s3rver.js" -d "$state/s3rver" -a 127.0.0.1 -p "$s3_port" \
  --allow-mismatched-signatures --silent --configure-bucket "$bucket"
TMPDIR="$state/gcs-tmp" start gcs "$gcs_port" node "$here/gcs.js" 127.0.0.1 "$gcs_port"

for name in azurite s3rver gcs; do
  url_var="${name}_url"; [ "$name" = s3rver ] && url_var=s3_url
  for _ in $(seq 1 240); do
    answers "${!url_var}" && continue 2
    sleep 0.5
  done
  echo "emulators: $name did not answer on ${!url_var}; see $state/$name.log" >&2
  tail -n 20 "$state/$name.log" >&2 || true
  exit 1
done

# Azurite's well-known development account (public, documented; not a secret).
account_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
cat >"$state/endpoints.env" <<ENV
SPOTCKPT_S3_ENDPOINT=http://127.0.0.1:$s3_port
SPOTCKPT_S3_BUCKET=$bucket
SPOTCKPT_AZURE_CONNECTION_STRING=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$account_key;BlobEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1;
SPOTCKPT_AZURE_CONTAINER=$bucket
SPOTCKPT_GCS_ENDPOINT=http://127.0.0.1:$gcs_port
SPOTCKPT_GCS_BUCKET=$bucket
ENV
echo "emulators: Azurite :$azurite_port, s3rver :$s3_port, GCS :$gcs_port ($state/endpoints.env)" >&2
