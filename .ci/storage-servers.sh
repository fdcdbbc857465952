# Sourced by .ci/run: starts the storage servers the storage package's tests
# use (Azurite, versitygw as a SigV4-verifying S3 server, fake-gcs-server) on
# loopback, exports the IISBRIDGE_TEST_* variables for those that came up,
# and stops them when the run exits. It never fails the run: a server that
# cannot be installed or started is reported, and its tests skip.
#
# Tools are installed once into $IISBRIDGE_TOOLS (outside the repository):
# npm for Azurite, go install for the Go programs (versitygw's first build
# takes several minutes on two cores; later runs reuse it).

IISBRIDGE_TOOLS="${IISBRIDGE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/iisbridge-tools}"
storage_run_dir="$(mktemp -d "${TMPDIR:-/tmp}/iisbridge-storage.XXXXXX")"
storage_pids=()

storage_note() { echo "ci storage: $*" >&2; }

storage_stop() {
  local pid
  for pid in "${storage_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$storage_run_dir" || true
}
trap storage_stop EXIT

# storage_free_port BASE: the first port from BASE nothing listens on.
storage_free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

# storage_wait URL SECONDS: wait until URL answers HTTP at all, or the
# server started last has exited.
storage_wait() {
  local i pid=$!
  for ((i = 0; i < $2 * 2; i++)); do
    if curl -s -o /dev/null --max-time 2 "$1"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

storage_go_tool() { # NAME MODULE@VERSION
  if [ ! -x "$IISBRIDGE_TOOLS/bin/$1" ]; then
    storage_note "installing $2 into $IISBRIDGE_TOOLS/bin"
    mkdir -p "$IISBRIDGE_TOOLS/bin"
    (cd "$storage_run_dir" && GOBIN="$IISBRIDGE_TOOLS/bin" timeout 1200 go install "$2") >"$storage_run_dir/$1-install.log" 2>&1 ||
      { storage_note "could not install $2: $(tail -3 "$storage_run_dir/$1-install.log" | tr '\n' ' ')"; return 1; }
  fi
}

storage_start_azurite() {
  local bin="$IISBRIDGE_TOOLS/npm/node_modules/.bin/azurite-blob" port
  if [ ! -x "$bin" ]; then
    command -v npm >/dev/null || { storage_note "npm not found: Azure tests will skip"; return 1; }
    storage_note "installing azurite@3.37.0 into $IISBRIDGE_TOOLS/npm"
    mkdir -p "$IISBRIDGE_TOOLS/npm"
    npm install --prefix "$IISBRIDGE_TOOLS/npm" --no-audit --no-fund --silent azurite@3.37.0 >"$storage_run_dir/azurite-install.log" 2>&1 ||
      { storage_note "could not install azurite: Azure tests will skip"; return 1; }
  fi
  port=$(storage_free_port 10000)
  # Strict mode (no --loose): Azurite checks Shared Key and SAS signatures.
  "$bin" --blobHost 127.0.0.1 --blobPort "$port" --inMemoryPersistence --skipApiVersionCheck --silent \
    >"$storage_run_dir/azurite.log" 2>&1 &
  storage_pids+=($!)
  if storage_wait "http://127.0.0.1:$port/devstoreaccount1?comp=list" 60; then
    export IISBRIDGE_TEST_AZURITE="http://127.0.0.1:$port/devstoreaccount1"
  else
    storage_note "Azurite did not come up: Azure tests will skip ($(tail -2 "$storage_run_dir/azurite.log" | tr '\n' ' '))"
  fi
}

storage_start_s3() {
  storage_go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0 || return 1
  local port
  port=$(storage_free_port 7070)
  mkdir -p "$storage_run_dir/s3/data" "$storage_run_dir/s3/meta"
  export IISBRIDGE_TEST_S3_ACCESS_KEY=iisbridge-test IISBRIDGE_TEST_S3_SECRET_KEY=iisbridge-test-secret
  "$IISBRIDGE_TOOLS/bin/versitygw" --access "$IISBRIDGE_TEST_S3_ACCESS_KEY" --secret "$IISBRIDGE_TEST_S3_SECRET_KEY" \
    --port "127.0.0.1:$port" posix --sidecar "$storage_run_dir/s3/meta" "$storage_run_dir/s3/data" \
    >"$storage_run_dir/s3.log" 2>&1 &
  storage_pids+=($!)
  if storage_wait "http://127.0.0.1:$port/" 30; then
    export IISBRIDGE_TEST_S3="http://127.0.0.1:$port"
  else
    storage_note "versitygw did not come up: S3 tests will skip ($(tail -2 "$storage_run_dir/s3.log" | tr '\n' ' '))"
  fi
}

storage_start_gcs() {
  storage_go_tool fake-gcs-server github.com/fsouza/fake-gcs-server@v1.56.1 || return 1
  local port
  port=$(storage_free_port 4443)
  "$IISBRIDGE_TOOLS/bin/fake-gcs-server" -scheme http -host 127.0.0.1 -port "$port" -backend memory \
    -external-url "http://127.0.0.1:$port" -public-host "127.0.0.1:$port" -log-level warn \
    >"$storage_run_dir/gcs.log" 2>&1 &
  storage_pids+=($!)
  if storage_wait "http://127.0.0.1:$port/storage/v1/b" 30; then
    export IISBRIDGE_TEST_GCS="http://127.0.0.1:$port"
  else
    storage_note "fake-gcs-server did not come up: GCS tests will skip ($(tail -2 "$storage_run_dir/gcs.log" | tr '\n' ' '))"
  fi
}

if command -v curl >/dev/null; then
  storage_start_azurite || true
  storage_start_s3 || true
  storage_start_gcs || true
else
  storage_note "curl not found: storage servers not started, their tests will skip"
fi
storage_note "servers: azurite=${IISBRIDGE_TEST_AZURITE:-none} s3=${IISBRIDGE_TEST_S3:-none} gcs=${IISBRIDGE_TEST_GCS:-none}"
