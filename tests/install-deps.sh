#!/bin/sh
# install-deps.sh - install the Debian/Ubuntu packages that building and
# testing runbook need: with apt-get, as root or through sudo.
#
# Without root or a usable sudo it installs nothing and says what is
# missing. A missing build or harness package stops here (exit 1): nothing
# could be built or tested. A missing optional package does not: `make test`
# runs what it can, and every test that needs the package is skipped with
# its name. Nothing else is ever downloaded, here or during the tests.
#
# Usage: sh tests/install-deps.sh [--check]   (--check: only report)

# To build (pkg-config finds each library).
BUILD_PKGS="build-essential pkg-config libyaml-dev libpcre2-dev \
libcurl4-openssl-dev libssh2-1-dev libsqlite3-dev libmicrohttpd-dev \
libjansson-dev libssl-dev"
# The test harness itself: free ports, HTTP fixtures, reading state.db,
# HMAC signatures, process checks.
HARNESS_PKGS="python3 curl sqlite3 openssl procps"
# Optional: "PACKAGE:what needs it" (tests skip without it, naming it).
OPTIONAL_PKGS="
openssh-server:SSH tests (a private sshd on 127.0.0.1)
openssh-client:SSH tests (ssh-keygen)
postgresql:the shipped runbooks against a real PostgreSQL, make demo
postgresql-client:the shipped runbooks against a real PostgreSQL, make demo
clang:fuzz and fault-injection smoke tests, make asan
libclang-rt-dev:fuzz and fault-injection smoke tests, make asan (sanitizer runtimes)
mandoc:the man page lint and the docs tests
python3-jsonschema:the JSON schema agreement test (t0200)
python3-yaml:the JSON schema agreement test (t0200)
graphviz:rendering plan --format dot (t6000)
man-db:man ./src/runbook.1, as the README shows
"

check_only=""
[ "${1:-}" = "--check" ] && check_only=1

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "runbook: warning: not a Debian/Ubuntu system: cannot check or install packages" >&2
	echo "runbook: hint: install the equivalents of: $BUILD_PKGS $HARNESS_PKGS" >&2
	echo "runbook: hint: optional: $(printf '%s\n' "$OPTIONAL_PKGS" | cut -d: -f1 | tr '\n' ' ')" >&2
	exit 0
fi

need="" opt=""
for p in $BUILD_PKGS $HARNESS_PKGS; do
	installed "$p" || need="$need $p"
done
for p in $(printf '%s\n' "$OPTIONAL_PKGS" | cut -d: -f1); do
	installed "$p" || opt="$opt $p"
done
[ -z "$need$opt" ] && exit 0

# How to become root: already root, or sudo that works without a password
# (or with one typed at this terminal).
SUDO=none
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	if sudo -n true 2>/dev/null; then
		SUDO=sudo
	elif [ -t 0 ] && [ -z "${CI:-}" ]; then
		SUDO=sudo
	fi
fi

# Say what is missing and what each optional package is for.
report() {
	if [ -n "$need" ]; then
		echo "runbook: error: missing packages needed to build and test:$need" >&2
	fi
	for p in $opt; do
		why=$(printf '%s\n' "$OPTIONAL_PKGS" | sed -n "s/^$p://p")
		echo "runbook: warning: optional package $p is not installed: these skip: $why" >&2
	done
	echo "runbook: hint: as root: apt-get install$need$opt" >&2
}

if [ -n "$check_only" ] || [ "$SUDO" = none ]; then
	report
	[ "$SUDO" = none ] && [ -z "$check_only" ] &&
		echo "runbook: note: not root and no usable sudo, so nothing was installed" >&2
	[ -z "$need" ]
	exit $?
fi

echo "runbook: installing:$need$opt" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "runbook: warning: apt-get update failed" >&2
# shellcheck disable=SC2086
if $SUDO apt-get install -y -qq --no-install-recommends $need $opt >/dev/null; then
	exit 0
fi
# All at once failed: the required ones, then each optional one by itself.
if [ -n "$need" ]; then
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null || {
		report
		exit 1
	}
fi
left=""
for p in $opt; do
	$SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
		left="$left $p"
done
need="" opt=$left
[ -n "$opt" ] && report
exit 0
