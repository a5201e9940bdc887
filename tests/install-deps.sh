#!/bin/sh
# install-deps.sh - install what building and testing runbook needs.
# Debian/Ubuntu: apt-get (through sudo when not root). Elsewhere: says what
# to install and fails.
set -e
PKGS="build-essential pkg-config libyaml-dev libpcre2-dev libcurl4-openssl-dev \
libssh2-1-dev libsqlite3-dev libmicrohttpd-dev libjansson-dev libssl-dev \
clang libclang-rt-14-dev openssh-server openssh-client sqlite3 curl python3 \
mandoc graphviz postgresql postgresql-client procps"

if ! command -v apt-get >/dev/null 2>&1; then
	echo "runbook: error: cannot install dependencies: apt-get not found" >&2
	echo "runbook: hint: install the equivalents of: $PKGS" >&2
	exit 1
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# Node.js (for the schema agreement test's ajv): only when absent, since
# some machines carry a newer Node.js that Debian's npm would conflict with.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "runbook: error: missing:$missing; not root and sudo is not installed" >&2
		echo "runbook: hint: as root run: apt-get install$missing" >&2
		exit 1
	fi
	SUDO=sudo
fi
echo "runbook: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
