#!/usr/bin/env bash
# bench/pipeline/run.sh - pipeline scheduler benchmark: slipway run against make.
#
# usage: bash bench/pipeline/run.sh [N_JOBS]        (default 1000)
# env:   SLIPWAY_BIN  slipway binary (default: build/slipway of this repository)
#        RUNS         timed runs of each tool, the median is reported (default 3)
#        PARALLEL     -j for both tools (default 2)
#        SEED         DAG generator seed (default 42)
#        MAX_RATIO    the floor: slipway/make must stay at or under it (default 1.5)
#        WARMUP       untimed runs of each tool first (default 1: warm caches)
#
# Generates (bench/out/pipeline/, git-ignored) an N-job DAG of no-op steps
# (`true`) twice, as slipway.yml and as an equivalent Makefile (gen.py), then
# times `make -j2 -f Makefile` and `slipway run -j2 --no-cache` RUNS times
# each (fresh SLIPWAY_HOME under bench/out for every slipway run), and prints
# the median wall times (and CPU times, less sensitive to a busy machine),
# the ratio slipway/make of wall times against the floor, and the peak RSS
# of each (largest single process: make itself, slipway itself;
# from /usr/bin/time -f %M, or Python's getrusage(RUSAGE_CHILDREN) when GNU
# time is missing and cannot be installed).
#
# Checks that each tool really ran all N jobs (make: one `true` line per job;
# slipway: summary.json with N passed jobs). Prints PASS or FAIL against the
# floor. Exit 0 whether PASS or FAIL; exit 1 only when something failed to
# run (a tool exited non-zero, or ran fewer jobs); exit 2 on bad usage.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000}
RUNS=${RUNS:-3}
PAR=${PARALLEL:-2}
SEED=${SEED:-42}
MAX_RATIO=${MAX_RATIO:-1.5}
WARMUP=${WARMUP:-1}
SLIPWAY=${SLIPWAY_BIN:-$root/build/slipway}
PY=/usr/bin/python3
OUT=$root/bench/out/pipeline

# A make above us (`make bench`) must not lend its jobserver or flags to ours.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

die() { echo "bench/pipeline: $*" >&2; exit 1; }
usage() { echo "bench/pipeline: $*" >&2; echo "usage: bash bench/pipeline/run.sh [N_JOBS]" >&2; exit 2; }

[[ $N =~ ^[0-9]+$ ]] && ((N >= 1 && N <= 10000)) || usage "N_JOBS must be 1..10000, got '$N'"
[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1 && RUNS <= 50)) || usage "RUNS must be 1..50, got '$RUNS'"
[[ $PAR =~ ^[0-9]+$ ]] && ((PAR >= 1 && PAR <= 256)) || usage "PARALLEL must be 1..256, got '$PAR'"
[[ $WARMUP =~ ^[0-9]+$ ]] && ((WARMUP <= 10)) || usage "WARMUP must be 0..10, got '$WARMUP'"
[[ $SEED =~ ^[0-9]+$ ]] || usage "SEED must be a whole number, got '$SEED'"
[[ $MAX_RATIO =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage "MAX_RATIO must be a number, got '$MAX_RATIO'"
[[ -x $PY ]] || die "$PY is needed (generator and arithmetic)"
command -v make >/dev/null || die "make is not installed"
[[ $SLIPWAY == /* ]] || SLIPWAY=$PWD/$SLIPWAY
[[ -x $SLIPWAY ]] || die "no slipway binary at '$SLIPWAY' (run make, or set SLIPWAY_BIN)"

# ---- peak RSS: GNU time, else a Python wrapper --------------------------------
TIME=/usr/bin/time
if ! "$TIME" -f %M true >/dev/null 2>&1; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "bench/pipeline: installing Debian's 'time' package for peak RSS" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1; }
	fi
	"$TIME" -f %M true >/dev/null 2>&1 || TIME=""
fi

# measure DIR RSS_FILE CMD...: runs CMD in DIR (stdout+stderr to $LOGF), sets
# ELAPSED (seconds, wall), CPU (user+system seconds of CMD and its children)
# and RSS (KiB); returns CMD's exit status.
measure() {
	local dir=$1 rssf=$2 t0 t1 rc
	shift 2
	cd "$dir" || return 1
	t0=$EPOCHREALTIME
	if [[ -n $TIME ]]; then
		"$TIME" -f '%M %U %S' -o "$rssf" "$@" >"$LOGF" 2>&1
	else
		"$PY" -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    f.write("%d %.2f %.2f\n" % (u.ru_maxrss, u.ru_utime, u.ru_stime))
sys.exit(rc if rc >= 0 else 128 - rc)
' "$rssf" "$@" >"$LOGF" 2>&1
	fi
	rc=$?
	t1=$EPOCHREALTIME
	cd "$root" || return 1
	ELAPSED=$("$PY" -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")
	local line u sys
	line=$(tail -n 1 "$rssf" 2>/dev/null)
	read -r RSS u sys <<<"$line"
	[[ ${RSS:-} =~ ^[0-9]+$ ]] || RSS=0
	CPU=$("$PY" -c 'import sys
try: print("%.2f" % (float(sys.argv[1]) + float(sys.argv[2])))
except ValueError: print("0")' "${u:-x}" "${sys:-x}")
	return $rc
}

median() { printf '%s\n' "$@" | sort -g | "$PY" -c '
import sys
v = [float(x) for x in sys.stdin.read().split()]
n = len(v)
print("%.3f" % (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2))'; }

maxof() { printf '%s\n' "$@" | sort -n | tail -n 1; }

# ---- generate -------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT" || die "cannot create '$OUT'"
read -r njobs nedges nlayers < <("$PY" "$root/bench/pipeline/gen.py" "$OUT" "$N" "$SEED") ||
	die "generator failed"
[[ ${njobs:-} == "$N" ]] || die "generator failed"
echo "pipeline benchmark: $njobs jobs, $nedges edges, $nlayers layers (seed $SEED), -j$PAR, median of $RUNS runs"
echo "  slipway: $SLIPWAY"

# ---- warm-up: page cache, dynamic loader, first SQLite database ----------------------
for ((i = 1; i <= WARMUP; i++)); do
	LOGF=$OUT/warmup.log
	measure "$OUT" "$OUT/warmup.rss" make -j"$PAR" -f Makefile all ||
		{ tail -n 20 "$LOGF" >&2; die "make failed, log: $LOGF"; }
	rm -rf "$OUT/home.warmup"
	mkdir -p "$OUT/home.warmup"
	measure "$OUT" "$OUT/warmup.rss" env SLIPWAY_HOME="$OUT/home.warmup" "$SLIPWAY" run -j"$PAR" --no-cache ||
		{ tail -n 20 "$LOGF" >&2; die "slipway run failed, log: $LOGF"; }
done

# ---- timed runs: make and slipway alternate, so that a change in machine load
# during the benchmark hits both alike -------------------------------------------
declare -a MT=() MR=() MC=() ST=() SR=() SC=()
for ((i = 1; i <= RUNS; i++)); do
	LOGF=$OUT/make.$i.log
	measure "$OUT" "$OUT/make.$i.rss" make -j"$PAR" -f Makefile all
	rc=$?
	((rc == 0)) || { tail -n 20 "$LOGF" >&2; die "make failed (exit $rc), log: $LOGF"; }
	ran=$(grep -c '^true$' "$LOGF")
	[[ $ran == "$N" ]] || die "make ran $ran of $N recipes, log: $LOGF"
	MT+=("$ELAPSED")
	MR+=("$RSS")
	MC+=("$CPU")

	home=$OUT/home.$i
	rm -rf "$home"
	mkdir -p "$home"
	LOGF=$OUT/slipway.$i.log
	measure "$OUT" "$OUT/slipway.$i.rss" env SLIPWAY_HOME="$home" "$SLIPWAY" run -j"$PAR" --no-cache
	rc=$?
	((rc == 0)) || { tail -n 20 "$LOGF" >&2; die "slipway run failed (exit $rc), log: $LOGF"; }
	# it must really have run every job: read the run summary
	passed=$("$PY" - "$home" <<'EOF'
import glob, json, sys
s = sorted(glob.glob(sys.argv[1] + "/runs/*/*/summary.json"))
if len(s) != 1:
    print("%d summaries" % len(s))
    sys.exit(0)
d = json.load(open(s[0]))
if d.get("status") != "passed":
    print("status " + str(d.get("status")))
else:
    print(sum(1 for j in d.get("jobs", []) if j.get("status") == "passed"))
EOF
)
	[[ $passed == "$N" ]] || die "slipway run did not pass all $N jobs (got: $passed), log: $LOGF"
	ST+=("$ELAPSED")
	SR+=("$RSS")
	SC+=("$CPU")
done

# ---- report -----------------------------------------------------------------------
mmed=$(median "${MT[@]}")
smed=$(median "${ST[@]}")
mcpu=$(median "${MC[@]}")
scpu=$(median "${SC[@]}")
mrss=$(maxof "${MR[@]}")
srss=$(maxof "${SR[@]}")
read -r ratio verdict < <("$PY" -c '
import sys
m, s, lim = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r = s / m if m > 0 else float("inf")
print("%.2f %s" % (r, "PASS" if r <= lim else "FAIL"))' "$mmed" "$smed" "$MAX_RATIO")
mib() { "$PY" -c 'import sys; print("%.1f MiB" % (int(sys.argv[1]) / 1024))' "$1"; }
rss_src=${TIME:+/usr/bin/time %M}
# Without GNU time the number is an upper bound: a child's ru_maxrss keeps the
# RSS it had before exec, i.e. that of the Python process that forked it.
rss_src=${rss_src:-"getrusage (an upper bound: includes the Python launcher's RSS)"}

printf '  %-28s median %7.3f s   runs: %-20s  cpu %6.2f s   peak RSS %s\n' \
	"make -j$PAR" "$mmed" "${MT[*]}" "$mcpu" "$(mib "$mrss")"
printf '  %-28s median %7.3f s   runs: %-20s  cpu %6.2f s   peak RSS %s\n' \
	"slipway run -j$PAR --no-cache" "$smed" "${ST[*]}" "$scpu" "$(mib "$srss")"
printf '  ratio slipway/make: %s   floor: <= %s   peak RSS from %s\n' "$ratio" "$MAX_RATIO" "$rss_src"
echo "$verdict"
exit 0
