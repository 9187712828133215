#!/usr/bin/env bash
# Starts the storage emulators the object-store tests use, on 127.0.0.1 only, and leaves them running:
#   Azurite (Azure Blob), @20minutes/s3rver (S3), the Firebase Storage emulator (GCS JSON API).
# Idempotent: installs the versions pinned in package-lock.json into ./node_modules when missing or stale,
# starts only what is not already running, then writes the endpoints to .state/endpoints.env.
# Ports can be moved with SPOTCKPT_AZURITE_PORT, SPOTCKPT_S3_PORT and SPOTCKPT_GCS_PORT.
# Safe to call from several processes at once (one holds .state/start.lock, the others wait, then find them running).
# When something is missing (Node >= 20, npm, a free port) it says so in one line starting "emulators:" and exits 1:
# the object-store tests are never skipped silently.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="$here/.state"
mkdir -p "$state"

azurite_port="${SPOTCKPT_AZURITE_PORT:-10410}"
s3_port="${SPOTCKPT_S3_PORT:-10420}"
gcs_port="${SPOTCKPT_GCS_PORT:-10430}"
bucket="spotckpt"
min_node_major=20 # firebase-tools 15 needs Node 20; Azurite 3.37 and s3rver 5 need less

fail() { echo "emulators: $*" >&2; exit 1; }

# One caller at a time: a second one would start a second emulator on the same data (and wipe it) or race npm ci.
command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is missing; install it"
exec 9>"$state/start.lock"
flock -w 600 9 || fail "another start.sh held $state/start.lock for 10 minutes; is one stuck?"

command -v node >/dev/null 2>&1 || fail "Node.js is missing (need Node >= $min_node_major on PATH)"
node_version="$(node -v 2>/dev/null || true)"
node_major="${node_version#v}"; node_major="${node_major%%.*}"
[[ "$node_major" =~ ^[0-9]+$ ]] || fail "could not read the Node.js version ('node -v' said '$node_version'; need Node >= $min_node_major)"
(( node_major >= min_node_major )) || fail "Node.js $node_version is too old (need Node >= $min_node_major)"

# Install (pinned) when node_modules does not match the lockfile.
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.spotckpt-lock.json" 2>/dev/null; then
  command -v npm >/dev/null 2>&1 || fail "npm is missing (it comes with Node.js; needed once to install the emulators)"
  echo "emulators: installing pinned packages (npm ci)..." >&2
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >"$state/npm.log" 2>&1) ||
    fail "npm ci failed (offline, or no registry?); see $state/npm.log: $(tail -n 1 "$state/npm.log" 2>/dev/null)"
  cp "$here/package-lock.json" "$here/node_modules/.spotckpt-lock.json"
fi

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
listening() { (echo >"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

azurite_url="http://127.0.0.1:$azurite_port/devstoreaccount1?comp=list"
s3_url="http://127.0.0.1:$s3_port/"
gcs_url="http://127.0.0.1:$gcs_port/storage/v1/b/$bucket/o"

# is_emulator NAME: the emulator's own answer (headers and body), not just any HTTP answer.
# Returns 0 when it is the emulator, 1 when something else answers, 2 when nothing answers (yet).
is_emulator() {
  local name="$1" url answer
  case "$name" in azurite) url="$azurite_url" ;; s3rver) url="$s3_url" ;; gcs) url="$gcs_url" ;; esac
  answer="$(curl -s -i --max-time 5 "$url" 2>/dev/null)" || return 2
  [ -n "$answer" ] || return 2
  case "$name" in
    azurite) grep -qi '^Server: Azurite-Blob' <<<"$answer" ;;
    s3rver) grep -q 'ListAllMyBucketsResult' <<<"$answer" ;;
    gcs) grep -q 'storage#objects' <<<"$answer" ;;
  esac || return 1
}

port_of() { case "$1" in azurite) echo "$azurite_port" ;; s3rver) echo "$s3_port" ;; gcs) echo "$gcs_port" ;; esac; }
port_var() { case "$1" in azurite) echo SPOTCKPT_AZURITE_PORT ;; s3rver) echo SPOTCKPT_S3_PORT ;; gcs) echo SPOTCKPT_GCS_PORT ;; esac; }

# start NAME COMMAND...: starts COMMAND in the background unless it runs already. A port that is listening is
# accepted only when it answers as that emulator (one started by another checkout counts as running); a busy emulator
# can be slow to answer, and a second instance would wipe the first one's data as it starts, so it is never replaced.
start() {
  local name="$1" port; shift
  port="$(port_of "$name")"
  if running "$name"; then return 0; fi
  if listening "$port"; then
    local verdict
    for _ in $(seq 1 12); do
      verdict=0; is_emulator "$name" || verdict=$?
      [ "$verdict" -eq 0 ] && return 0
      [ "$verdict" -eq 1 ] && fail "port $port is taken by a program that is not $name; free it or set $(port_var "$name") to another port"
      sleep 0.5
    done
    fail "port $port is taken by a program that does not answer HTTP; free it or set $(port_var "$name") to another port"
  fi
  # exec: the recorded id is the emulator's own, so that stop.sh ends exactly it. 9>&-: the emulator must not
  # inherit the lock, or the next caller would wait for it forever.
  (cd "$state" && exec nohup "$@" >"$state/$name.log" 2>&1 9>&-) &
  echo $! >"$state/$name.pid"
}

mkdir -p "$state/azurite" "$state/s3rver" "$state/gcs-tmp"
start azurite node "$here/node_modules/azurite/dist/src/blob/main.js" \
  --blobHost 127.0.0.1 --blobPort "$azurite_port" --location "$state/azurite" \
  --skipApiVersionCheck --disableTelemetry --loose --silent
start s3rver node "$here/s3rver.js" -d "$state/s3rver" -a 127.0.0.1 -p "$s3_port" \
  --allow-mismatched-signatures --silent --configure-bucket "$bucket"
TMPDIR="$state/gcs-tmp" start gcs node "$here/gcs.js" 127.0.0.1 "$gcs_port"

for name in azurite s3rver gcs; do
  for _ in $(seq 1 240); do
    verdict=0; is_emulator "$name" || verdict=$?
    [ "$verdict" -eq 0 ] && continue 2
    if running "$name"; then :; elif [ -f "$state/$name.pid" ]; then
      fail "$name exited at start; see $state/$name.log: $(tail -n 1 "$state/$name.log" 2>/dev/null)"
    fi
    sleep 0.5
  done
  fail "$name did not answer on port $(port_of "$name") in 2 minutes; see $state/$name.log"
done

# Azurite's well-known development account (public, documented; not a secret).
account_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
cat >"$state/endpoints.env.tmp" <<ENV
SPOTCKPT_S3_ENDPOINT=http://127.0.0.1:$s3_port
SPOTCKPT_S3_BUCKET=$bucket
SPOTCKPT_AZURE_CONNECTION_STRING=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$account_key;BlobEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1;
SPOTCKPT_AZURE_CONTAINER=$bucket
SPOTCKPT_GCS_ENDPOINT=http://127.0.0.1:$gcs_port
SPOTCKPT_GCS_BUCKET=$bucket
ENV
# A reader never sees a half-written file.
mv -f "$state/endpoints.env.tmp" "$state/endpoints.env"
echo "emulators: Azurite :$azurite_port, s3rver :$s3_port, GCS :$gcs_port ($state/endpoints.env)" >&2
