#!/usr/bin/env bash
# Generates the manual pages from the binary's own --help with help2man (the
# Makefile's `man` target; also run by the Debian build), so that the pages
# can never disagree with the binary:
#   slipway(1)          `slipway help`: every command, one line each
#   slipway-CMD(1)      `slipway CMD --help` for each command `slipway help`
#                       lists (but help and version), followed by the --help
#                       of each subcommand of a command group (audit verify, ...)
# slipway(1)'s SEE ALSO names every page; each command's names slipway(1). Nothing here is
# committed: the pages are written to OUTDIR at build time.
#
# usage: scripts/gen-man.sh BINARY OUTDIR
# help2man reads $SOURCE_DATE_EPOCH for the page date (reproducible builds).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BINARY OUTDIR" >&2; exit 2; }
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$2
[ -x "$bin" ] || { echo "$0: '$1' is not an executable" >&2; exit 2; }
command -v help2man >/dev/null || {
	echo "$0: help2man is not installed (apt-get install help2man, or: bash scripts/install-deps.sh)" >&2
	exit 1
}

version=$("$bin" version)
version=${version#slipway }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# "  NAME   summary" lines under "commands:" of `slipway help`.
"$bin" help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ {
	name = $1; sub(/^ +[^ ]+ +/, ""); print name "\t" $0 }' >"$tmp/commands"
[ -s "$tmp/commands" ] || { echo "$0: '$bin help' lists no commands" >&2; exit 1; }

# The helper help2man runs as the "program": `NAME --help` prints the help of
# the command its name stands for (slipway, or slipway-CMD), `NAME --version`
# the version. Its help is tidied for help2man: "usage:" becomes "Usage:" (so
# that it becomes the SYNOPSIS) and the usage's continuation lines are joined
# to it. A command group's page also carries each subcommand's help.
cat >"$tmp/page" <<EOF
#!/usr/bin/env bash
set -euo pipefail
name=\$(basename "\$0")
cmd=\${name#slipway}; cmd=\${cmd#-}
if [ "\${1:-}" = --version ]; then echo "\$name $version"; exit 0; fi
tidy() {
	awk 'NR == 1 { sub(/^usage:/, "Usage:"); line = \$0; usage = 1; next }
	     usage && /^ +[^ ]/ { sub(/^ +/, " "); line = line \$0; next }
	     usage { print line; usage = 0 }
	     { print }
	     END { if (usage) print line }'
}
if [ -z "\$cmd" ]; then "$bin" help | tidy; exit 0; fi
group=\$("$bin" "\$cmd" --help)
printf '%s\n' "\$group" | tidy
# A command group lists its subcommands under "commands:"; add each one's own help
# (some groups have one help for all their subcommands: nothing to add then).
subs=\$(printf '%s\n' "\$group" | awk '/^commands:/ { on = 1; next } on && /^\$/ { exit } on && /^  [a-z]/ { print \$1 }')
for s in \$subs; do
	if h=\$("$bin" "\$cmd" "\$s" --help 2>/dev/null) && [ -n "\$h" ] && [ "\$h" != "\$group" ]; then
		printf '\nslipway %s %s:\n' "\$cmd" "\$s"
		printf '%s\n' "\$h" | awk -v sub_="\$cmd \$s" '/^usage:/ { print "  " \$0; next }
			/^[a-z][a-z ]*:\$/ { sub(/:\$/, ""); print \$0 " of " sub_ ":"; next } { print }'
	fi
done
EOF
chmod +x "$tmp/page"

pages=()
while IFS=$'\t' read -r name summary; do
	case "$name" in help | version) continue ;; esac
	pages+=("slipway-$name")
	printf '%s\n' "$summary" >"$tmp/summary-slipway-$name"
done <"$tmp/commands"

see_also() { # PAGE: slipway(1) names every page, a command's page names slipway(1)
	local p first=1
	printf '[SEE ALSO]\n'
	if [ "$1" = slipway ]; then
		for p in "${pages[@]}"; do
			[ $first = 1 ] || printf ',\n'
			printf '.BR %s (1)' "$p"
			first=0
		done
	else
		printf '.BR slipway (1)'
	fi
	printf '\n.PP\nThe documentation pages (docs/*.md in the source; /usr/share/doc/slipway in the Debian\npackage), docs/deploying.md in particular: installing, the systemd units, TLS, backups, upgrades.\n'
}

gen() { # PAGE SUMMARY
	ln -sf page "$tmp/$1"
	see_also "$1" >"$tmp/$1.h2m"
	help2man --no-info --no-discard-stderr --section=1 --name="$2" \
		--include="$tmp/$1.h2m" --output="$tmp/$1.1.new" "$tmp/$1"
	mv "$tmp/$1.1.new" "$out/$1.1"
}

for p in "${pages[@]}"; do
	gen "$p" "$(cat "$tmp/summary-$p")"
done
# Last: make's target for the whole set is slipway.1.
gen slipway "build, sign and ship services to Linux hosts"
# Pages of commands that no longer exist must not linger in OUTDIR.
for f in "$out"/slipway-*.1; do
	[ -e "$f" ] || continue
	n=$(basename "$f" .1)
	[ -e "$tmp/$n" ] || rm -f "$f"
done
echo "gen-man: $((${#pages[@]} + 1)) pages in $out"
