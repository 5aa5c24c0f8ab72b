#!/usr/bin/env bash
# Installs the Debian packages Slipway needs to build and test. A quick no-op
# when everything is present. Runs apt-get as root, or through sudo.
set -euo pipefail

PKGS=(
	# build
	build-essential make pkg-config git clang libclang-rt-14-dev
	# libraries (DESIGN.md, Dependencies)
	libyaml-dev libjansson-dev libsodium-dev libsqlite3-dev libarchive-dev libzstd-dev
	liblua5.4-dev libgit2-dev libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libpq-dev libexpat1-dev
	# tests and real peers
	libcmocka-dev python3 python3-pytest minisign zstd sqlite3 procps haproxy prometheus openssl
	# host bootstrap over ssh: the client it runs, the sshd its test starts
	openssh-client openssh-server
	# packaging (make install's manual pages, the Debian package) and its test
	help2man debhelper dpkg-dev fakeroot man-db groff-base systemd
)
if [ "${1:-}" = "--bench" ]; then PKGS+=(time); fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
