#!/usr/bin/env bash
# First README command: installs what Slipway needs (Debian packages), builds
# it, and runs the main job end to end on examples/hello in a scratch
# directory: validate the spec, run the pipeline (twice, to show the cache),
# create a signing key, cut a signed release, verify it (with Slipway and
# with Debian's minisign), check the event log; then start a server and three
# agents on loopback, roll the release out (rolling), ship a second release
# and roll back, and stop everything cleanly.
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
run "$SW" release --version "$(cat VERSION)"
bundle=$(ls "$SLIPWAY_HOME"/releases/hello/*.tar.zst)

step "verify it with Slipway, and with Debian's minisign"
run "$SW" verify "$bundle"
run minisign -V -p "$SLIPWAY_HOME/keys/slipway.pub" -m "$bundle"

step "check the tamper-evident event log"
run "$SW" audit verify
run "$SW" audit log --limit 3

step "start the control plane (slipway server) on loopback"
"$SW" server --data "$DEMO/server" --listen 127.0.0.1:0 --trust "$SLIPWAY_HOME/keys/slipway.pub" \
	2>"$DEMO/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$DEMO/server/server.url" ] && [ -s "$DEMO/server/admin.token" ] && break; sleep 0.1; done
export SLIPWAY_SERVER=$(cat "$DEMO/server/server.url")
export SLIPWAY_TOKEN=$(cat "$DEMO/server/admin.token")
echo "server at $SLIPWAY_SERVER (admin token in $DEMO/server/admin.token)"

step "enroll three host agents (env=staging), each with its own root and ports"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=()
agent_pids=()
for i in 1 2 3; do
	join=$("$SW" join-token create --labels env=staging --output json |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
	a=$(free_port); b=$(free_port)
	ports+=("$a")
	"$SW" agent --root "$DEMO/agents/host$i" --join "$join" --name "host$i" --ports "$a,$b" \
		--heartbeat-ms 300 --stop-services-on-exit 2>"$DEMO/agent$i.log" &
	agent_pids+=($!)
done
pids+=("${agent_pids[@]}")
for _ in $(seq 100); do
	n=$("$SW" hosts --output json | /usr/bin/python3 -c 'import json,sys; print(sum(1 for h in json.load(sys.stdin) if h.get("online")))')
	[ "$n" = 3 ] && break
	sleep 0.1
done
run "$SW" hosts

step "roll hello out to staging (rolling, one host at a time, health-checked)"
run "$SW" deploy "$bundle" --env staging --wait
for p in "${ports[@]}"; do
	printf '$ GET http://127.0.0.1:%s/\n' "$p"
	/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$p/', timeout=2).read().decode(), end='')"
done

step "a second release: 1.0.1, then one command back to the previous good release"
echo 1.0.1 >VERSION && git commit -qam "hello 1.0.1"
"$SW" run -j2 >/dev/null
bundle2=$("$SW" release --version "$(cat VERSION)" --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["bundle"])')
run "$SW" deploy "$bundle2" --env staging --wait
run "$SW" rollback hello --env staging --wait
run "$SW" history hello --env staging
printf '$ GET http://127.0.0.1:%s/\n' "${ports[0]}"
/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:${ports[0]}/', timeout=2).read().decode(), end='')"

step "the event log has every step"
run "$SW" audit verify --db "$DEMO/server/slipway.db"

step "stop everything cleanly"
for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
kill -TERM "${pids[0]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()
echo "server and agents stopped; services stopped with them"
