#!/usr/bin/env bash
# First README command: installs what Slipway needs (Debian packages), builds
# it, and runs the main job end to end on examples/hello in a scratch
# directory: validate the spec, run the pipeline (twice, to show the cache),
# create a signing key, cut a signed release, verify it (with Slipway and
# with Debian's minisign), check the event log, and run the released service.
# Everything it creates lives under one temporary directory, removed at exit
# unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

bash scripts/install-deps.sh
make -j"$(nproc 2>/dev/null || echo 2)" all >/dev/null

SW=$ROOT/build/slipway
DEMO=$(mktemp -d /tmp/slipway-demo.XXXXXX)
export SLIPWAY_HOME=$DEMO/home
export SLIPWAY_ACTOR=${SLIPWAY_ACTOR:-demo@example.com}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $DEMO"; else rm -rf "$DEMO"; fi
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "a service repository: examples/hello, copied to $DEMO/hello"
cp -r examples/hello "$DEMO/hello"
make -s -C "$DEMO/hello" clean
cd "$DEMO/hello"
git init -q . && git add -A && git -c user.name=Demo -c user.email=demo@example.com commit -qm "hello 1.0.0"

step "validate slipway.yml"
run "$SW" check

step "run the pipeline (build -> test -> package, as a DAG)"
run "$SW" run -j2

step "run it again: unchanged jobs come from the cache"
run "$SW" run -j2

step "create a signing key (minisign format)"
run "$SW" keygen

step "cut a signed, content-addressed release"
run "$SW" release
bundle=$(ls "$SLIPWAY_HOME"/releases/hello/*.tar.zst)

step "verify it with Slipway, and with Debian's minisign"
run "$SW" verify "$bundle"
run minisign -V -p "$SLIPWAY_HOME/keys/slipway.pub" -m "$bundle"

step "check the tamper-evident event log"
run "$SW" audit verify
run "$SW" audit log --limit 3

step "run the released service from the bundle"
mkdir -p "$DEMO/install"
tar --zstd -xf "$bundle" -C "$DEMO/install"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$DEMO/install" && exec ./dist/hello --port "$port") 2>"$DEMO/hello.log" &
pids+=($!)
for _ in $(seq 50); do
	/usr/bin/python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null && break
	sleep 0.1
done
printf '$ GET http://127.0.0.1:%s/\n' "$port"
/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=2).read().decode(), end='')"

step "done"
echo "Deploying to hosts (slipway server / agent) is the next capability; see docs/architecture.md."
