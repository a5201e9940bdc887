# env.sh - the throwaway demo environment the shipped runbooks run against:
# a real PostgreSQL cluster and a small web service (examples/demo/app.py)
# with a chat-webhook stand-in, all on 127.0.0.1 under one temporary
# directory. Sourced by examples/demo/demo.sh and tests/cli/t7000-runbooks.sh.
#
#   DEMO_HOME=examples/demo; . "$DEMO_HOME/env.sh"
#   demo_env_start          start everything; sets and exports the DEMO_*
#                           variables below; returns non-zero on failure
#   demo_env_stop           stop everything it started (by PID), remove the
#                           directory; safe to call twice (use it in a trap;
#                           a watchdog does it if the calling shell dies
#                           without running its traps)
#
#   demo_pg_stop            fast shutdown of PostgreSQL (the "outage")
#   demo_pg_running         whether the postmaster is alive
#   demo_app_stop           stop the web service (its own outage; it needs
#                           PostgreSQL to start again)
#   demo_app_deploy NAME    point $DEMO_APP_DIR/current at releases/NAME
#   demo_app_traffic N      send N API requests (fills the access log)
#
# Variables: DEMO_DIR, DEMO_PG_HOST, DEMO_PG_PORT, DEMO_PG_USER, DEMO_PG_DB,
# DEMO_PG_PASSWORD, DEMO_PG_DATA, DEMO_PG_RESTART (a restart command for the
# runbooks' restart_cmd), DEMO_APP_URL, DEMO_APP_DIR, DEMO_APP_LOG (access
# log), DEMO_APP_RESTART, DEMO_APP_STATUS, DEMO_CHAT_URL (POST here instead of
# Slack), DEMO_CHAT_LOG (what was posted).
#
# Running as root: PostgreSQL refuses to run as root, so initdb and pg_ctl run
# as the unprivileged user $DEMO_PG_OSUSER (default postgres) through runuser
# (or su), and the cluster's directory belongs to that user.

DEMO_HOME=${DEMO_HOME:-${SRC_DIR:+$SRC_DIR/examples/demo}}
DEMO_HOME=${DEMO_HOME:-$(cd "$(dirname "$0")" && pwd)}
DEMO_DIR=""
DEMO_WATCHDOG=""

demo_say() {
	[ -n "${DEMO_QUIET:-}" ] || printf '%s\n' "demo: $*" >&2
}

demo_die() {
	printf '%s\n' "demo: error: $*" >&2
	return 1
}

# The directory of PostgreSQL's server programs (initdb, pg_ctl).
demo_pg_bindir() {
	if [ -n "${DEMO_PG_BIN:-}" ]; then
		echo "$DEMO_PG_BIN"
		return 0
	fi
	# shellcheck disable=SC2012
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$d" ] && command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir)
	fi
	[ -n "$d" ] && [ -x "$d/initdb" ] || return 1
	echo "$d"
}

# A command line prefix that runs a command as the cluster's owner.
demo_pg_runas() {
	if [ "$(id -u)" -ne 0 ]; then
		echo ""
	elif command -v runuser >/dev/null 2>&1; then
		echo "runuser -u $DEMO_PG_OSUSER --"
	else
		echo "demo_su $DEMO_PG_OSUSER"
	fi
}

# N free TCP ports on 127.0.0.1, one per line.
demo_free_ports() {
	"$DEMO_PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# Wait up to $2 tenths of a second for command $1 to succeed.
demo_wait_for() {
	i=0
	while ! eval "$1" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt "$2" ] || return 1
		sleep 0.1
	done
}

demo_pg_pid() {
	[ -r "$DEMO_PG_DATA/postmaster.pid" ] &&
		head -n 1 "$DEMO_PG_DATA/postmaster.pid"
}

demo_pg_running() {
	p=$(demo_pg_pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

# Fast shutdown by PID: SIGINT to the postmaster, then wait for it.
demo_pg_stop() {
	p=$(demo_pg_pid) || return 0
	[ -n "$p" ] || return 0
	kill -INT "$p" 2>/dev/null || return 0
	demo_wait_for "! kill -0 $p" 100 && return 0
	kill -KILL "$p" 2>/dev/null
	demo_wait_for "! kill -0 $p" 50
}

demo_pidfile_stop() {
	[ -r "$1" ] || return 0
	p=$(cat "$1")
	rm -f "$1"
	[ -n "$p" ] && kill -TERM "$p" 2>/dev/null || return 0
	demo_wait_for "! kill -0 $p" 50 && return 0
	kill -KILL "$p" 2>/dev/null
}

demo_app_stop() {
	demo_pidfile_stop "$DEMO_APP_DIR/app.pid"
}

demo_app_deploy() {
	ln -sfn "releases/$1" "$DEMO_APP_DIR/current.new" &&
		mv -T "$DEMO_APP_DIR/current.new" "$DEMO_APP_DIR/current"
}

demo_app_traffic() {
	i=0
	while [ "$i" -lt "$1" ]; do
		curl -s -o /dev/null --max-time 5 "$DEMO_APP_URL/api/orders"
		i=$((i + 1))
	done
}

# Write the service-control scripts the runbooks call as restart_cmd /
# status_cmd. They are what systemctl would be on a real host.
demo_write_scripts() {
	bin=$DEMO_DIR/bin
	mkdir -p "$bin" || return 1
	ctl="'$DEMO_PG_BINDIR/pg_ctl' -D '$DEMO_PG_DATA' -l '$DEMO_DIR/pg/postgres.log' -w -t 30 -m fast restart"
	if [ "$(id -u)" -ne 0 ]; then
		run="exec $ctl"
	elif command -v runuser >/dev/null 2>&1; then
		run="exec runuser -u $DEMO_PG_OSUSER -- $ctl"
	else
		run="exec su $DEMO_PG_OSUSER -s /bin/sh -c \"$ctl\""
	fi
	cat >"$bin/pg-restart" <<-EOF
	#!/bin/sh
	# Restart (or start, when it is down) the demo PostgreSQL cluster.
	$run
	EOF
	for role in app chat; do
		dir=$DEMO_DIR/$role
		port=$DEMO_APP_PORT db="--db 127.0.0.1:$DEMO_PG_PORT"
		[ "$role" = chat ] && port=$DEMO_CHAT_PORT db=""
		cat >"$bin/$role-restart" <<-EOF
		#!/bin/sh
		# Restart (or start) the demo $role service and wait until it
		# answers HTTP (like systemctl, it does not judge the answer: that
		# is the health check's job). Its PID is in $dir/app.pid.
		pidfile="$dir/app.pid"
		if [ -r "\$pidfile" ] && kill -0 "\$(cat "\$pidfile")" 2>/dev/null; then
			kill -TERM "\$(cat "\$pidfile")"
			i=0
			while kill -0 "\$(cat "\$pidfile")" 2>/dev/null && [ \$i -lt 50 ]; do
				sleep 0.1; i=\$((i + 1))
			done
		fi
		setsid=""
		command -v setsid >/dev/null 2>&1 && setsid=setsid
		\$setsid "$DEMO_PYTHON" "$DEMO_HOME/app.py" --dir "$dir" --port $port $db \\
		    >>"$dir/log/app.log" 2>&1 </dev/null &
		echo \$! >"\$pidfile"
		i=0
		until curl -s -o /dev/null --max-time 1 http://127.0.0.1:$port/healthz; do
			if ! kill -0 "\$(cat "\$pidfile")" 2>/dev/null || [ \$i -ge 100 ]; then
				echo "$role: did not come up; last log lines:" >&2
				tail -n 5 "$dir/log/app.log" >&2
				exit 1
			fi
			sleep 0.1; i=\$((i + 1))
		done
		echo "$role: running, pid \$(cat "\$pidfile"), port $port"
		EOF
		cat >"$bin/$role-status" <<-EOF
		#!/bin/sh
		# Like 'systemctl is-active': exit 0 and "active" when running,
		# exit 3 and "inactive" when not.
		if [ -r "$dir/app.pid" ] && kill -0 "\$(cat "$dir/app.pid")" 2>/dev/null; then
			echo "active (pid \$(cat "$dir/app.pid"))"
			exit 0
		fi
		echo inactive
		exit 3
		EOF
	done
	chmod 0755 "$bin"/*
}

demo_pg_init() {
	runas=$(demo_pg_runas)
	pg=$DEMO_DIR/pg
	mkdir -p "$pg/sock" || return 1
	printf '%s\n' "$DEMO_PG_PASSWORD" >"$pg/pwfile"
	if [ "$(id -u)" -eq 0 ]; then
		id "$DEMO_PG_OSUSER" >/dev/null 2>&1 ||
			{ demo_die "no user '$DEMO_PG_OSUSER' to run PostgreSQL as (set DEMO_PG_OSUSER)"; return 1; }
		chown -R "$DEMO_PG_OSUSER" "$pg" || return 1
	fi
	# Local socket connections are trusted (the demo's own setup);
	# TCP connections need the password, like a real server.
	$runas "$DEMO_PG_BINDIR/initdb" --no-sync -D "$DEMO_PG_DATA" -U "$DEMO_PG_USER" \
	    --pwfile="$pg/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
	    -E UTF8 --locale=C >"$pg/initdb.log" 2>&1 ||
		{ cat "$pg/initdb.log" >&2; demo_die "initdb failed"; return 1; }
	rm -f "$pg/pwfile"
	cat >>"$DEMO_PG_DATA/postgresql.conf" <<-EOF
	# runbook demo
	listen_addresses = '127.0.0.1'
	port = $DEMO_PG_PORT
	unix_socket_directories = '$pg/sock'
	max_connections = 20
	shared_buffers = 16MB
	fsync = off
	full_page_writes = off
	EOF
}

demo_pg_start() {
	runas=$(demo_pg_runas)
	$runas "$DEMO_PG_BINDIR/pg_ctl" -D "$DEMO_PG_DATA" \
	    -l "$DEMO_DIR/pg/postgres.log" -w -t 30 start >/dev/null 2>&1 ||
		{ tail -n 20 "$DEMO_DIR/pg/postgres.log" >&2; demo_die "PostgreSQL did not start"; return 1; }
}

# Run SQL in the demo database through the local socket.
demo_psql() {
	psql -X -q -h "$DEMO_DIR/pg/sock" -p "$DEMO_PG_PORT" \
	    -U "$DEMO_PG_USER" -d "${DEMO_PSQL_DB:-$DEMO_PG_DB}" -v ON_ERROR_STOP=1 "$@"
}

demo_app_init() {
	for role in app chat; do
		dir=$DEMO_DIR/$role
		mkdir -p "$dir/releases/v1" "$dir/releases/v2" "$dir/log" "$dir/cache" ||
			return 1
		echo ok >"$dir/releases/v1/mode"
		echo error >"$dir/releases/v2/mode"
		ln -s releases/v1 "$dir/current"
		: >"$dir/log/access.log"
		: >"$dir/notify.log"
	done
}

demo_env_start() {
	DEMO_PG_OSUSER=${DEMO_PG_OSUSER:-postgres}
	DEMO_PG_BINDIR=$(demo_pg_bindir) ||
		{ demo_die "PostgreSQL server programs not found (apt-get install postgresql, or set DEMO_PG_BIN)"; return 1; }
	# The system Python starts in 50 ms; a version manager's shim can
	# take a second, and the demo starts Python a few times.
	DEMO_PYTHON=${DEMO_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
	for p in "$DEMO_PYTHON" curl psql pg_isready pg_dump; do
		command -v "$p" >/dev/null 2>&1 ||
			{ demo_die "'${p:-python3}' not found (make deps installs it)"; return 1; }
	done
	base=${DEMO_TMPDIR:-${TMPDIR:-/tmp}}
	# The cluster's owner must be able to reach the directory.
	[ "$(id -u)" -eq 0 ] && [ -z "${DEMO_TMPDIR:-}" ] && base=/tmp
	DEMO_DIR=$(mktemp -d "$base/runbook-demo.XXXXXX") || return 1
	chmod 0755 "$DEMO_DIR"
	DEMO_PG_HOST=127.0.0.1
	ports=$(demo_free_ports 3) || return 1
	DEMO_PG_PORT=$(echo "$ports" | sed -n 1p)
	DEMO_PG_USER=demo
	DEMO_PG_DB=app
	DEMO_PG_PASSWORD=demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	DEMO_PG_DATA=$DEMO_DIR/pg/data
	DEMO_PG_RESTART=$DEMO_DIR/bin/pg-restart
	DEMO_APP_PORT=$(echo "$ports" | sed -n 2p)
	DEMO_CHAT_PORT=$(echo "$ports" | sed -n 3p)
	DEMO_APP_URL=http://127.0.0.1:$DEMO_APP_PORT
	DEMO_APP_DIR=$DEMO_DIR/app
	DEMO_APP_LOG=$DEMO_APP_DIR/log/access.log
	DEMO_APP_RESTART=$DEMO_DIR/bin/app-restart
	DEMO_APP_STATUS=$DEMO_DIR/bin/app-status
	DEMO_CHAT_URL=http://127.0.0.1:$DEMO_CHAT_PORT/notify
	DEMO_CHAT_LOG=$DEMO_DIR/chat/notify.log
	export DEMO_DIR DEMO_PG_HOST DEMO_PG_PORT DEMO_PG_USER DEMO_PG_DB \
	    DEMO_PG_PASSWORD DEMO_PG_DATA DEMO_PG_RESTART DEMO_APP_URL \
	    DEMO_APP_DIR DEMO_APP_LOG DEMO_APP_RESTART DEMO_APP_STATUS \
	    DEMO_CHAT_URL DEMO_CHAT_LOG

	demo_watchdog_start
	demo_say "environment in $DEMO_DIR"
	demo_app_init && demo_write_scripts && demo_pg_init || return 1
	demo_pg_start || return 1
	DEMO_PSQL_DB=postgres demo_psql -c "create database $DEMO_PG_DB" >/dev/null ||
		return 1
	demo_psql -c "create table orders (id serial primary key, placed timestamptz default now())" \
	    >/dev/null || return 1
	demo_say "PostgreSQL $("$DEMO_PG_BINDIR/postgres" -V | sed 's/^[^0-9]*\([0-9.]*\).*/\1/') on $DEMO_PG_HOST:$DEMO_PG_PORT (pid $(demo_pg_pid)), database '$DEMO_PG_DB', user '$DEMO_PG_USER'"
	"$DEMO_DIR/bin/app-restart" >/dev/null && "$DEMO_DIR/bin/chat-restart" >/dev/null ||
		return 1
	demo_say "web service on $DEMO_APP_URL (pid $(cat "$DEMO_APP_DIR/app.pid")), chat webhook on $DEMO_CHAT_URL"
}

# The services run in sessions of their own, so nothing reaches them when
# the shell that started them dies without its EXIT trap (SIGKILL, a
# harness timeout): a watchdog polls that shell and then cleans up.
demo_watchdog_start() {
	owner=$$
	(
		trap '' INT HUP
		DEMO_WATCHDOG=""
		while kill -0 "$owner" 2>/dev/null; do
			sleep 1
		done
		demo_env_stop
	) >/dev/null 2>&1 </dev/null &
	DEMO_WATCHDOG=$!
}

demo_env_stop() {
	if [ -n "$DEMO_WATCHDOG" ]; then
		kill "$DEMO_WATCHDOG" 2>/dev/null
		DEMO_WATCHDOG=""
	fi
	[ -n "$DEMO_DIR" ] && [ -d "$DEMO_DIR" ] || return 0
	demo_pidfile_stop "$DEMO_DIR/app/app.pid"
	demo_pidfile_stop "$DEMO_DIR/chat/app.pid"
	demo_pg_stop
	rm -rf "$DEMO_DIR"
	DEMO_DIR=""
}

# su fallback for systems without runuser: su USER -s /bin/sh -c 'cmd args'.
demo_su() {
	u=$1
	shift
	q=""
	for a in "$@"; do
		q="$q '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
	done
	su "$u" -s /bin/sh -c "$q"
}
