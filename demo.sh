#!/usr/bin/env bash
# First README command: installs what Slipway needs (Debian packages), builds
# it, and runs the main job end to end on examples/hello in a scratch
# directory: validate the spec, run the pipeline (twice, to show the cache),
# create a signing key, cut a signed release, verify it (with Slipway and
# with Debian's minisign), check the event log; then start a server and three
# agents on loopback, roll the release out (rolling), ship a second release
# and roll back; then a canary in prod through a real HAProxy under steady
# load: a bad release rolled back by analysis on its own, a good one
# promoted to 100%; and stop everything cleanly.
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

# Bold headings only on a terminal, and not with NO_COLOR set (no-color.org): piped or
# captured output (tests, logs, CI) gets no escape codes.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "a service repository: examples/hello, copied to $DEMO/hello"
cp -r examples/hello "$DEMO/hello"
make -s -C "$DEMO/hello" clean
cd "$DEMO/hello"
# prod's canary drives HAProxy through its admin socket: the demo's own HAProxy, not the system one.
mkdir -p "$DEMO/haproxy"
sed -i "s|/run/haproxy/admin.sock|$DEMO/haproxy/admin.sock|" slipway.yml
echo "(prod's HAProxy socket in slipway.yml set to the demo's: $DEMO/haproxy/admin.sock)"
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
run "$SW" release   # version from VERSION (version: {file: VERSION} in slipway.yml)
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
# enroll LABELS FIRST LAST: agents host<FIRST>..host<LAST> with a one-time join token each, two
# free ports each (slot a's port appended to $ports), then wait (5 s at most) until all are online.
enroll() {
	local labels=$1 i a b join n
	for i in $(seq "$2" "$3"); do
		join=$("$SW" join-token create --labels "$labels" --output json |
			/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
		a=$(free_port); b=$(free_port)
		ports+=("$a")
		SLIPWAY_JOIN_TOKEN=$join "$SW" agent --root "$DEMO/agents/host$i" --name "host$i" --ports "$a,$b" \
			--heartbeat-ms 300 --stop-services-on-exit 2>"$DEMO/agent$i.log" &
		agent_pids+=($!)
		pids+=($!)
	done
	for _ in $(seq 50); do
		n=$("$SW" hosts --output json | /usr/bin/python3 -c 'import json,sys; print(sum(1 for h in json.load(sys.stdin) if h.get("online")))')
		[ "$n" = "$3" ] && break
		sleep 0.1
	done
}
enroll env=staging 1 3
run "$SW" hosts

step "roll hello out to staging (rolling, one host at a time, health-checked)"
run "$SW" deploy "$bundle" --env staging --wait
for p in "${ports[@]}"; do
	printf '$ GET http://127.0.0.1:%s/\n' "$p"
	/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$p/', timeout=2).read().decode(), end='')"
done

step "a second release: 1.0.1, then one command back to the previous good release"
echo 1.0.1 >VERSION && git -c user.name=Demo -c user.email=demo@example.com commit -qam "hello 1.0.1"
"$SW" run -j2 >/dev/null
bundle2=$("$SW" release --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["bundle"])')
run "$SW" deploy "$bundle2" --env staging --wait
run "$SW" rollback hello --env staging --wait
run "$SW" history hello --env staging
printf '$ GET http://127.0.0.1:%s/\n' "${ports[0]}"
/usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:${ports[0]}/', timeout=2).read().decode(), end='')"

step "prod: three more hosts (env=prod) behind a real HAProxy on loopback"
enroll env=prod,address=127.0.0.1 4 6
fe=$(free_port)
{
	printf 'global\n    stats socket %s mode 600 level admin\n' "$DEMO/haproxy/admin.sock"
	printf 'defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n'
	printf 'frontend web\n    bind 127.0.0.1:%s\n    default_backend hello\n' "$fe"
	"$SW" haproxy-config --env prod
} >"$DEMO/haproxy/haproxy.cfg"
run cat "$DEMO/haproxy/haproxy.cfg"
haproxy -c -q -f "$DEMO/haproxy/haproxy.cfg"
haproxy -db -f "$DEMO/haproxy/haproxy.cfg" >"$DEMO/haproxy/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$DEMO/haproxy/admin.sock" ] && break; sleep 0.1; done
echo "HAProxy: http://127.0.0.1:$fe/ -> backend hello (balance random), admin socket $DEMO/haproxy/admin.sock"

step "prod's first release (1.0.0): nothing to compare a canary with, so it is installed on every host"
run "$SW" deploy "$bundle" --env prod --wait

step "steady load through HAProxy from now on (every answer counted per version and status)"
/usr/bin/python3 - "$fe" "$DEMO/load.json" <<'PY' &
import collections, http.client, json, signal, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
seen = collections.Counter()
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
end = time.monotonic() + 300
while not stop and time.monotonic() < end:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        v = body.split()[3] if r.status == 200 and body.startswith("hello from") else "-"
        seen[f"{r.status} {v}"] += 1
    except (OSError, http.client.HTTPException):
        seen["error"] += 1
    finally:
        c.close()
    with open(out + ".tmp", "w") as f:
        json.dump(seen, f)
    if sum(seen.values()) % 25 == 0:
        import os
        os.replace(out + ".tmp", out)
    time.sleep(0.01)
import os
os.replace(out + ".tmp", out)
PY
load_pid=$!
pids+=($load_pid)
load_report() {
	/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  answers so far:", ", ".join(f"{k}: {v}" for k, v in sorted(d.items())))' "$DEMO/load.json" 2>/dev/null || true
}
sleep 1
load_report

step "a bad release: 1.1.0 ships a setting that makes / fail after 30 requests (HELLO_FAIL_AFTER)"
echo 1.1.0 >VERSION
sed -i 's|^  command: ./dist/hello --port ${PORT}$|&\n  env: { HELLO_FAIL_AFTER: "30" }|' slipway.yml
git -c user.name=Demo -c user.email=demo@example.com commit -qam "hello 1.1.0"
"$SW" run -j2 >/dev/null
bundle_bad=$("$SW" release --version 1.1.0 --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["bundle"])')
echo "staging has no traffic: its health checks pass, so the rolling deployment succeeds"
run "$SW" deploy "$bundle_bad" --env staging --wait
echo "prod: canary 20%, analyses on HAProxy's counters every 500 ms; nobody touches anything"
if run "$SW" deploy "$bundle_bad" --env prod --wait; then
	echo "demo: the bad release was not rolled back" >&2
	exit 1
fi
bad_id=$("$SW" history hello --env prod --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run "$SW" analysis show "$bad_id"
load_report

step "a good release: 1.2.0 without that setting, canary 20% -> analysis -> 50% -> 100%"
echo 1.2.0 >VERSION
sed -i '/^  env: { HELLO_FAIL_AFTER: "30" }$/d' slipway.yml
git -c user.name=Demo -c user.email=demo@example.com commit -qam "hello 1.2.0"
"$SW" run -j2 >/dev/null
bundle_good=$("$SW" release --version 1.2.0 --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["bundle"])')
run "$SW" deploy "$bundle_good" --env staging --wait
run "$SW" deploy "$bundle_good" --env prod --wait
run "$SW" history hello --env prod
kill -TERM "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
load_report
echo "(5xx answers come only from the bad canary, during the seconds before analysis took it out)"

step "the event log has every step"
run "$SW" audit verify --db "$DEMO/server/slipway.db"

step "stop everything cleanly"
for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
kill -TERM "${pids[0]}" 2>/dev/null || true
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
echo "server, agents and HAProxy stopped; services stopped with them"
