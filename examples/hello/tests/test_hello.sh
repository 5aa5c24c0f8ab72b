#!/usr/bin/env bash
# test_hello.sh - end-to-end checks of the hello service.
#
# usage: tests/test_hello.sh [HELLO_BIN [HGET_BIN [JUNIT_XML]]]
#        (defaults: build/hello build/hget build/junit.xml)
#
# Starts the real binary on a free loopback port (--port 0; the port is read
# from its "msg=started ... addr=127.0.0.1:N" log line) once per check, talks
# to it with build/hget (tests/hget.c; curl may not be installed), and checks
# each endpoint, each fault-injection switch, bad configuration and the
# SIGTERM/SIGINT drain. Writes one JUnit XML testsuite ("hello") with one
# testcase per check; a failed check becomes a <failure> carrying the reason
# and the tail of the service log. Exit 0 when every check passed, else 1.
# Every wait is bounded; every started process is killed at the end.
set -u
# bash >= 5.2 would read '&' in ${s//x/y} replacements as "the match"
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd "$(dirname "$0")" && pwd)
HELLO=$(realpath "${1:-build/hello}")
HGET=$(realpath "${2:-build/hget}")
JUNIT=${3:-build/junit.xml}
VERSION_FILE=$here/../VERSION

for b in "$HELLO" "$HGET"; do
	[[ -x $b ]] || { echo "test_hello: '$b' is not an executable (run make first)" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hello-test.XXXXXX") || exit 2
declare -a STARTED=()

cleanup() {
	local p
	for p in "${STARTED[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	STARTED=()
}
trap 'cleanup; rm -rf "$WORK"' EXIT

now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# ---- check bookkeeping ---------------------------------------------------

declare -a TC_NAME=() TC_TIME=() TC_FAIL=()
FAILS=""

fail() { FAILS+="$*"$'\n'; }

expect_eq() { # what actual expected
	[[ "$2" == "$3" ]] || fail "$1: expected '$3', got '$2'"
}

expect_match() { # what actual regex
	[[ "$2" =~ $3 ]] || fail "$1: '$2' does not match /$3/"
}

run_check() { # name function
	local name=$1 t0 t1 log
	FAILS=""
	LOG=""
	t0=$(now_ms)
	"$2"
	t1=$(now_ms)
	if [[ -n $FAILS && -n $LOG && -f $LOG ]]; then
		FAILS+="--- service log (last 20 lines) ---"$'\n'"$(tail -n 20 "$LOG")"$'\n'
	fi
	cleanup
	TC_NAME+=("$name")
	TC_TIME+=("$((t1 - t0))")
	TC_FAIL+=("$FAILS")
	if [[ -z $FAILS ]]; then
		printf 'ok    %s\n' "$name"
	else
		printf 'FAIL  %s\n%s' "$name" "$(sed 's/^/      /' <<<"$FAILS")"
		echo
	fi
}

xml_escape() {
	local s=$1
	s=${s//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	s=${s//\"/&quot;}
	s=${s//\'/&apos;}
	# control characters other than tab/newline are not allowed in XML 1.0
	s=$(tr -d '\000-\010\013\014\016-\037' <<<"$s")
	printf '%s' "$s"
}

write_junit() {
	local i n=${#TC_NAME[@]} failures=0 total_ms=0 tmp first
	for ((i = 0; i < n; i++)); do
		[[ -n ${TC_FAIL[i]} ]] && failures=$((failures + 1))
		total_ms=$((total_ms + TC_TIME[i]))
	done
	mkdir -p "$(dirname "$JUNIT")"
	tmp=$JUNIT.tmp.$$
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n'
		printf '<testsuites name="hello" tests="%d" failures="%d" errors="0" time="%d.%03d">\n' \
			"$n" "$failures" $((total_ms / 1000)) $((total_ms % 1000))
		printf '  <testsuite name="hello" tests="%d" failures="%d" errors="0" skipped="0" time="%d.%03d" timestamp="%s" hostname="%s">\n' \
			"$n" "$failures" $((total_ms / 1000)) $((total_ms % 1000)) \
			"$(date -u +%Y-%m-%dT%H:%M:%S)" "$(xml_escape "$(uname -n)")"
		for ((i = 0; i < n; i++)); do
			printf '    <testcase classname="hello" name="%s" time="%d.%03d"' \
				"$(xml_escape "${TC_NAME[i]}")" $((TC_TIME[i] / 1000)) $((TC_TIME[i] % 1000))
			if [[ -z ${TC_FAIL[i]} ]]; then
				printf '/>\n'
			else
				first=${TC_FAIL[i]%%$'\n'*}
				printf '>\n      <failure message="%s" type="AssertionError">%s</failure>\n    </testcase>\n' \
					"$(xml_escape "$first")" "$(xml_escape "${TC_FAIL[i]}")"
			fi
		done
		printf '  </testsuite>\n</testsuites>\n'
	} >"$tmp" && mv -f "$tmp" "$JUNIT"
}

# ---- talking to the service ------------------------------------------------

PID="" PORT="" LOG="" NSTART=0

# start_hello [VAR=value ...] [-- args...]: start with --port 0 (unless args
# are given), wait (max 5 s) for the started line; sets PID PORT LOG.
start_hello() {
	local -a envs=() args=(--port 0)
	while (($#)); do
		if [[ $1 == -- ]]; then
			shift
			args=("$@")
			break
		fi
		envs+=("$1")
		shift
	done
	NSTART=$((NSTART + 1))
	LOG=$WORK/hello.$NSTART.log
	env -u HELLO_VERSION -u HELLO_ERROR_RATE -u HELLO_FAIL_AFTER -u HELLO_DELAY_MS -u HELLO_SLOW_AFTER \
		-u HELLO_UNHEALTHY -u HELLO_HEALTH_FAIL_AFTER_MS -u HELLO_BIND -u HELLO_DRAIN_MS -u PORT \
		"${envs[@]}" "$HELLO" "${args[@]}" 2>"$LOG" &
	PID=$!
	STARTED+=("$PID")
	PORT=""
	local i line
	for ((i = 0; i < 250; i++)); do
		line=$(grep -m1 'msg=started' "$LOG" 2>/dev/null)
		if [[ $line =~ addr=127\.0\.0\.1:([0-9]+) ]]; then
			PORT=${BASH_REMATCH[1]}
			return 0
		fi
		exited "$PID" && break
		sleep 0.02
	done
	fail "hello did not start (env: ${envs[*]}; args: ${args[*]})"
	return 1
}

# exited PID: true once the child has exited (zombie or gone).
exited() {
	local st
	[[ -r /proc/$1/stat ]] || return 0
	st=$(</proc/"$1"/stat) || return 0
	st=${st##*) }
	[[ ${st:0:1} == Z || ${st:0:1} == X ]]
}

# wait_exit PID [MS]: wait (bounded, default 5000 ms) for PID to exit; sets RC
# (exit status, or "timeout").
wait_exit() {
	local pid=$1 limit=${2:-5000} t0
	t0=$(now_ms)
	while ! exited "$pid"; do
		if (($(now_ms) - t0 > limit)); then
			RC=timeout
			return 1
		fi
		sleep 0.02
	done
	wait "$pid" 2>/dev/null
	RC=$?
	return 0
}

# req [METHOD] PATH: one request to the current PORT; sets STATUS and BODY
# (exact bytes, trailing newlines kept). STATUS is "error" when no response.
req() {
	local method=GET
	if (($# == 2)); then
		method=$1
		shift
	fi
	rm -f "$WORK/body"
	if STATUS=$("$HGET" -t 5000 -X "$method" -o "$WORK/body" 127.0.0.1 "$PORT" "$1" 2>"$WORK/hget.err"); then
		BODY=$(cat "$WORK/body"; printf x)
		BODY=${BODY%x}
	else
		STATUS=error
		BODY=""
	fi
}

# metric NAME_WITH_LABELS: the value of that exact series in BODY (a /metrics
# answer), or "absent".
metric() {
	local line
	while IFS= read -r line; do
		if [[ $line == "$1 "* ]]; then
			echo "${line#"$1 "}"
			return
		fi
	done <<<"$BODY"
	echo absent
}

# wait_in_flight N: wait (bounded, 10 s) until the service answers N requests at
# once besides the /metrics request that asks (its own gauge counts that one).
# Checks that need a request in flight wait for this instead of sleeping.
wait_in_flight() {
	local i v
	for ((i = 0; i < 500; i++)); do
		req /metrics
		v=$(metric hello_in_flight_requests)
		[[ $v =~ ^[0-9]+$ ]] && ((v >= $1 + 1)) && return 0
		sleep 0.02
	done
	fail "never saw $1 request(s) in flight (last hello_in_flight_requests: ${v:-none})"
	return 1
}

# held_request: one GET / in the background, killed at the end of the check.
held_request() {
	"$HGET" -t 120000 127.0.0.1 "$PORT" / >/dev/null 2>&1 &
	STARTED+=($!)
}

stop_hello() { # [SIGNAL]: signal PID and wait for it; sets RC
	kill -"${1:-TERM}" "$PID" 2>/dev/null
	wait_exit "$PID" 5000
}

# ---- checks ----------------------------------------------------------------

check_root() {
	start_hello HELLO_VERSION=2.3.4-test || return
	req /
	expect_eq "GET / status" "$STATUS" 200
	expect_eq "GET / body" "$BODY" "hello from hello 2.3.4-test (pid $PID)"$'\n'
	req HEAD /
	expect_eq "HEAD / status" "$STATUS" 200
	expect_eq "HEAD / body" "$BODY" ""
}

check_healthz() {
	start_hello || return
	req /healthz
	expect_eq "GET /healthz status" "$STATUS" 200
	expect_eq "GET /healthz body" "$BODY" "ok"
}

check_version_env() {
	start_hello HELLO_VERSION=9.8.7-rc.1+abc || return
	req /version
	expect_eq "GET /version status" "$STATUS" 200
	expect_eq "GET /version body" "${BODY%$'\n'}" '{"service":"hello","version":"9.8.7-rc.1+abc"}'
	expect_match "started line" "$(grep -m1 msg=started "$LOG")" "version=9\.8\.7-rc\.1\+abc pid=$PID "
}

check_version_compiled() {
	local v
	v=$(tr -d '[:space:]' <"$VERSION_FILE")
	start_hello || return
	req /version
	expect_eq "GET /version body" "${BODY%$'\n'}" "{\"service\":\"hello\",\"version\":\"$v\"}"
	req /
	expect_eq "GET / body" "$BODY" "hello from hello $v (pid $PID)"$'\n'
	expect_eq "--version" "$("$HELLO" --version)" "hello $v"
}

check_not_found_and_method() {
	start_hello || return
	req /nope
	expect_eq "GET /nope status" "$STATUS" 404
	req POST /
	expect_eq "POST / status" "$STATUS" 405
	req DELETE /healthz
	expect_eq "DELETE /healthz status" "$STATUS" 405
}

check_keep_alive() {
	local out
	start_hello || return
	out=$("$HGET" -t 5000 -k 3 127.0.0.1 "$PORT" / 2>&1)
	expect_eq "3 requests on one HTTP/1.1 connection" "$out" $'200\n200\n200'
	out=$("$HGET" -t 5000 -k 2 -X HEAD 127.0.0.1 "$PORT" /version 2>&1)
	expect_eq "HEAD twice on one connection" "$out" $'200\n200'
	req /metrics
	expect_eq 'hello_requests_total{code="200"}' "$(metric 'hello_requests_total{code="200"}')" 5
}

check_metrics() {
	local v i le prev=0 cnt
	start_hello HELLO_VERSION=1.2.3 || return
	for i in 1 2 3; do req /; done
	req /nope
	req /healthz
	req /healthz
	req /metrics
	expect_eq "GET /metrics status" "$STATUS" 200
	expect_match "# TYPE counter" "$BODY" $'# TYPE hello_requests_total counter\n'
	expect_match "# TYPE histogram" "$BODY" $'# TYPE hello_request_duration_seconds histogram\n'
	expect_eq 'hello_requests_total{code="200"}' "$(metric 'hello_requests_total{code="200"}')" 3
	expect_eq 'hello_requests_total{code="404"}' "$(metric 'hello_requests_total{code="404"}')" 1
	expect_eq 'hello_requests_total{code="503"}' "$(metric 'hello_requests_total{code="503"}')" absent
	cnt=$(metric hello_request_duration_seconds_count)
	expect_eq "histogram _count (health checks and scrapes excluded)" "$cnt" 4
	for le in 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 +Inf; do
		v=$(metric "hello_request_duration_seconds_bucket{le=\"$le\"}")
		if [[ ! $v =~ ^[0-9]+$ ]]; then
			fail "bucket le=$le: '$v'"
			continue
		fi
		((v >= prev)) || fail "bucket le=$le ($v) below the previous bucket ($prev)"
		prev=$v
	done
	expect_eq 'bucket le="+Inf" == _count' "$prev" "$cnt"
	expect_match "_sum" "$(metric hello_request_duration_seconds_sum)" '^[0-9]+\.[0-9]+$'
	expect_eq "hello_up" "$(metric hello_up)" 1
	expect_eq 'hello_version_info{version="1.2.3"}' "$(metric 'hello_version_info{version="1.2.3"}')" 1
	# a second scrape sees the same application counters (scrapes are not counted)
	req /metrics
	expect_eq "second scrape _count" "$(metric hello_request_duration_seconds_count)" 4
}

check_error_rate() {
	local i got="" want=""
	start_hello HELLO_ERROR_RATE=0.25 || return
	for i in $(seq 1 12); do
		req /
		got+="$STATUS "
		if ((i % 4 == 0)); then want+="500 "; else want+="200 "; fi
	done
	expect_eq "statuses of 12 requests at rate 0.25" "$got" "$want"
	req /metrics
	expect_eq 'hello_requests_total{code="500"}' "$(metric 'hello_requests_total{code="500"}')" 3
	expect_eq 'hello_requests_total{code="200"}' "$(metric 'hello_requests_total{code="200"}')" 9
	req /healthz
	expect_eq "/healthz unaffected by the error rate" "$STATUS" 200
}

check_error_rate_bounds() {
	local i got
	start_hello HELLO_ERROR_RATE=1 || return
	got=""
	for i in 1 2 3; do req /; got+="$STATUS "; done
	expect_eq "rate 1" "$got" "500 500 500 "
	cleanup
	start_hello HELLO_ERROR_RATE=0 || return
	got=""
	for i in 1 2 3; do req /; got+="$STATUS "; done
	expect_eq "rate 0" "$got" "200 200 200 "
	cleanup
	start_hello HELLO_ERROR_RATE=0.5 || return
	got=""
	for i in 1 2 3 4; do req /; got+="$STATUS "; done
	expect_eq "rate 0.5" "$got" "200 500 200 500 "
}

check_fail_after() {
	local i got=""
	start_hello HELLO_FAIL_AFTER=3 || return
	for i in 1 2 3 4 5; do req /; got+="$STATUS "; done
	expect_eq "statuses with HELLO_FAIL_AFTER=3" "$got" "200 200 200 500 500 "
	req /healthz
	expect_eq "/healthz unaffected" "$STATUS" 200
	req /version
	expect_eq "/version unaffected" "$STATUS" 200
}

# Upper bounds on wall time fail on a busy machine; these checks bound only from
# below (a delayed request takes at least the delay) and show "not delayed" with a
# delay far beyond the client's timeout (60 s against req's 5 s).
check_delay() {
	local t0 dt
	start_hello HELLO_DELAY_MS=300 || return
	t0=$(now_ms)
	req /
	dt=$(($(now_ms) - t0))
	expect_eq "status" "$STATUS" 200
	((dt >= 300)) || fail "GET / took ${dt} ms, want >= 300"
	req /healthz
	req /metrics
	expect_eq 'bucket le="0.25"' "$(metric 'hello_request_duration_seconds_bucket{le="0.25"}')" 0
	expect_eq 'bucket le="2.5"' "$(metric 'hello_request_duration_seconds_bucket{le="2.5"}')" 1
	cleanup
	# the delay is for / only: /healthz answers while a / is held for 60 s
	start_hello HELLO_DELAY_MS=60000 || return
	held_request
	wait_in_flight 1 || return
	req /healthz
	expect_eq "/healthz while / is delayed" "$STATUS" 200
}

check_slow_after() {
	local t0 dt i
	# the first 2 are not delayed: with a 60 s delay they answer within req's 5 s
	start_hello HELLO_DELAY_MS=60000 HELLO_SLOW_AFTER=2 || return
	for i in 1 2; do
		req /
		expect_eq "status of request $i (the delay starts after 2)" "$STATUS" 200
	done
	cleanup
	start_hello HELLO_DELAY_MS=300 HELLO_SLOW_AFTER=2 || return
	for i in 1 2; do
		req /
		expect_eq "status of request $i" "$STATUS" 200
	done
	t0=$(now_ms)
	req /
	dt=$(($(now_ms) - t0))
	expect_eq "status of request 3" "$STATUS" 200
	((dt >= 300)) || fail "request 3 took ${dt} ms, want >= 300"
	req /metrics
	expect_eq 'requests in the histogram' "$(metric 'hello_request_duration_seconds_count')" 3
	expect_eq 'bucket le="2.5"' "$(metric 'hello_request_duration_seconds_bucket{le="2.5"}')" 3
}

check_concurrent() {
	local i n=8 ok=0 s
	local -a pids=()
	start_hello HELLO_DELAY_MS=500 || return
	for ((i = 0; i < n; i++)); do
		"$HGET" -t 30000 127.0.0.1 "$PORT" / >"$WORK/par.$i" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for ((i = 0; i < n; i++)); do
		s=$(<"$WORK/par.$i")
		[[ $s == 200 ]] && ok=$((ok + 1))
	done
	expect_eq "parallel requests answered 200" "$ok" "$n"
	req /metrics
	expect_eq 'hello_requests_total{code="200"}' "$(metric 'hello_requests_total{code="200"}')" "$n"
	cleanup
	# served concurrently: n requests held for 60 s each are all in flight at once
	start_hello HELLO_DELAY_MS=60000 || return
	for ((i = 0; i < n; i++)); do held_request; done
	wait_in_flight "$n"
}

check_unhealthy() {
	start_hello HELLO_UNHEALTHY=1 || return
	req /healthz
	expect_eq "/healthz status" "$STATUS" 503
	expect_eq "/healthz body" "$BODY" "unhealthy"
	req /
	expect_eq "/ still answers" "$STATUS" 200
	cleanup
	start_hello HELLO_UNHEALTHY=0 || return
	req /healthz
	expect_eq "HELLO_UNHEALTHY=0" "$STATUS" 200
}

check_health_fail_after() {
	local t0 i first
	t0=$(now_ms)
	start_hello HELLO_HEALTH_FAIL_AFTER_MS=1500 || return
	req /healthz
	first=$STATUS
	if (($(now_ms) - t0 < 1400)); then
		expect_eq "/healthz before the deadline" "$first" 200
	fi
	for ((i = 0; i < 250; i++)); do
		req /healthz
		[[ $STATUS == 503 ]] && break
		sleep 0.02
	done
	expect_eq "/healthz after the deadline" "$STATUS" 503
	(($(now_ms) - t0 >= 1500)) || fail "/healthz failed before 1500 ms"
	req /
	expect_eq "/ still answers" "$STATUS" 200
}

check_sigterm() {
	start_hello || return
	req /
	stop_hello TERM
	expect_eq "exit status after SIGTERM" "$RC" 0
	expect_match "stop line" "$(grep msg=stopped "$LOG")" 'msg=stopped signal=TERM requests=1 '
	expect_eq "log lines (one start, one stop)" "$(wc -l <"$LOG" | tr -d ' ')" 2
}

check_sigint() {
	start_hello || return
	stop_hello INT
	expect_eq "exit status after SIGINT" "$RC" 0
	expect_match "stop line" "$(grep msg=stopped "$LOG")" 'signal=INT'
}

check_drain() {
	local hpid t0 s
	start_hello HELLO_DELAY_MS=1000 || return
	t0=$(now_ms)
	"$HGET" -t 5000 -o "$WORK/drain.body" 127.0.0.1 "$PORT" / >"$WORK/drain.status" 2>&1 &
	hpid=$!
	wait_in_flight 1 || return
	kill -TERM "$PID"
	# draining: the listener is shut down, so a new connection is refused
	# at once (not left hanging until the process exits, which a timeout
	# would show instead of "refused")
	local i
	for ((i = 0; i < 250; i++)); do
		req /healthz
		[[ $STATUS == error ]] && break
		sleep 0.02
	done
	expect_eq "new request while draining" "$STATUS" error
	expect_match "new request while draining" "$(<"$WORK/hget.err")" 'refused'
	wait "$hpid"
	s=$(<"$WORK/drain.status")
	expect_eq "in-flight request finished" "$s" 200
	wait_exit "$PID" 5000
	expect_eq "exit status" "$RC" 0
	(($(now_ms) - t0 >= 1000)) || fail "exited before the in-flight request was done"
	expect_match "stop line" "$(grep msg=stopped "$LOG")" 'abandoned=0'
}

check_drain_keep_alive() {
	local hpid out
	start_hello HELLO_DELAY_MS=2000 || return
	# the first of two kept-alive requests is in flight when TERM arrives: it
	# is answered, with "Connection: close", so the client goes elsewhere
	"$HGET" -t 10000 -k 2 127.0.0.1 "$PORT" / >"$WORK/ka.status" 2>"$WORK/ka.err" &
	hpid=$!
	wait_in_flight 1 || return
	kill -TERM "$PID"
	wait "$hpid"
	out=$(<"$WORK/ka.status")
	expect_eq "in-flight kept-alive request answered" "$out" 200
	expect_match "client told to close" "$(<"$WORK/ka.err")" 'server answered Connection: close'
	wait_exit "$PID" 5000
	expect_eq "exit status" "$RC" 0
}

check_drain_limit() {
	# a request held for 60 s: the drain gives up after 300 ms (forced=true),
	# well inside stop_hello's 5 s wait
	start_hello HELLO_DELAY_MS=60000 HELLO_DRAIN_MS=300 || return
	held_request
	wait_in_flight 1 || return
	stop_hello TERM
	expect_eq "exit status" "$RC" 0
	expect_match "stop line" "$(grep msg=stopped "$LOG")" 'abandoned=1 forced=true'
}

check_port_env() {
	local p
	start_hello || return
	p=$PORT
	stop_hello TERM
	start_hello PORT="$p" -- || return
	expect_eq "port from env PORT" "$PORT" "$p"
	req /
	expect_eq "GET /" "$STATUS" 200
	# --port wins over PORT
	cleanup
	start_hello PORT=1 -- --port 0 || return
	[[ $PORT != 1 ]] || fail "--port did not override PORT"
}

check_port_in_use() {
	local p
	start_hello || return
	p=$PORT
	env -u PORT "$HELLO" --port "$p" 2>"$WORK/inuse.log" &
	STARTED+=($!)
	wait_exit $! 5000
	expect_eq "exit status when the port is taken" "$RC" 1
	expect_match "error line" "$(<"$WORK/inuse.log")" 'level=error .*cannot listen'
}

check_bad_config() {
	local -a cases=(
		"-- --port abc" "-- --port 70000" "-- --bogus"
		"HELLO_ERROR_RATE=1.5" "HELLO_ERROR_RATE=abc" "HELLO_ERROR_RATE=-0.1"
		"HELLO_FAIL_AFTER=-1" "HELLO_FAIL_AFTER=3x" "HELLO_DELAY_MS=x" "HELLO_DELAY_MS=60001" "HELLO_SLOW_AFTER=2.5"
		"HELLO_UNHEALTHY=yes" "HELLO_HEALTH_FAIL_AFTER_MS=1.5" "HELLO_DRAIN_MS=abc"
		"HELLO_VERSION=bad\"version" "HELLO_BIND=not-an-address" "PORT=abc"
	)
	local c out rc
	for c in "${cases[@]}"; do
		local -a envs=() args=(--port 0)
		if [[ $c == "-- "* ]]; then
			read -r -a args <<<"${c#-- }"
		else
			envs=("$c")
			[[ $c == PORT=* ]] && args=()
		fi
		out=$(env -u PORT "${envs[@]}" timeout 5 "$HELLO" "${args[@]}" 2>&1 >/dev/null)
		rc=$?
		expect_eq "exit status for '$c'" "$rc" 2
		expect_match "error line for '$c'" "$out" '^ts=[^ ]+ level=error service=hello msg="[^"]+"$'
	done
	expect_eq "--help exit status" "$("$HELLO" --help >/dev/null; echo $?)" 0
}

check_bind_override() {
	start_hello HELLO_BIND=127.0.0.1 || return
	req /healthz
	expect_eq "HELLO_BIND=127.0.0.1" "$STATUS" 200
	cleanup
	# ::1 may be disabled on this host; only check it when it binds
	NSTART=$((NSTART + 1))
	local log=$WORK/hello.$NSTART.log pid line i
	env HELLO_BIND=::1 "$HELLO" --port 0 2>"$log" &
	pid=$!
	STARTED+=("$pid")
	for ((i = 0; i < 250; i++)); do
		line=$(grep -m1 'msg=started' "$log" 2>/dev/null)
		[[ -n $line ]] && break
		exited "$pid" && break
		sleep 0.02
	done
	if [[ $line =~ addr=\[::1\]:([0-9]+) ]]; then
		STATUS=$("$HGET" -t 5000 ::1 "${BASH_REMATCH[1]}" /healthz 2>/dev/null)
		expect_eq "HELLO_BIND=::1" "$STATUS" 200
	fi
}

run_check root check_root
run_check healthz check_healthz
run_check version_from_env check_version_env
run_check version_compiled_in check_version_compiled
run_check not_found_and_method check_not_found_and_method
run_check keep_alive check_keep_alive
run_check metrics check_metrics
run_check error_rate check_error_rate
run_check error_rate_bounds check_error_rate_bounds
run_check fail_after check_fail_after
run_check delay check_delay
run_check slow_after check_slow_after
run_check concurrent check_concurrent
run_check unhealthy check_unhealthy
run_check health_fail_after check_health_fail_after
run_check sigterm check_sigterm
run_check sigint check_sigint
run_check drain_in_flight check_drain
run_check drain_keep_alive check_drain_keep_alive
run_check drain_limit check_drain_limit
run_check port_env check_port_env
run_check port_in_use check_port_in_use
run_check bad_config check_bad_config
run_check bind_override check_bind_override

write_junit
nfail=0
for f in "${TC_FAIL[@]}"; do [[ -n $f ]] && nfail=$((nfail + 1)); done
echo "hello: ${#TC_NAME[@]} checks, $nfail failed; report in $JUNIT"
((nfail == 0))
