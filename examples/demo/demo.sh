#!/bin/sh
# demo.sh RUNBOOK - a short tour of runbook against a throwaway environment:
# a real PostgreSQL and a small web service on 127.0.0.1 (examples/demo/
# env.sh), started under a temporary directory and stopped again, by PID,
# however the script ends. `make demo` builds the binary and runs this.
#
# Stages: validate the shipped files; review a plan; run db-connection on a
# healthy database; stop PostgreSQL and run it again (diagnosis, restart,
# verification); show the run record; break a deploy and let
# high-error-rate roll it back. Exits 0 when every stage behaved as
# described, 1 otherwise.
set -u
RUNBOOK=${1:-build/runbook}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $RUNBOOK in /*) ;; *) RUNBOOK=$(pwd)/$RUNBOOK ;; esac
if [ ! -x "$RUNBOOK" ]; then
	echo "demo: error: no runbook binary at '$RUNBOOK'" >&2
	echo "demo: hint: run 'make demo', or 'make' and then 'sh examples/demo/demo.sh build/runbook'" >&2
	exit 2
fi
DEMO_HOME=$ROOT/examples/demo
. "$DEMO_HOME/env.sh"

failed=0
trap 'demo_env_stop' EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP

bold="" plain=""
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
fi

stage() {
	printf '\n%s== %s%s\n' "$bold" "$1" "$plain"
	shift
	for line in "$@"; do
		printf '   %s\n' "$line"
	done
}

# show CMD...: print the command as a reader would type it, then run it.
show() {
	printf '\n$'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_./:=@%+-]*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	"$@"
}

# verdict WANT GOT WHAT: say how a command ended; note a surprise.
verdict() {
	if [ "$2" -eq "$1" ]; then
		printf '   -> exit %d: %s\n' "$2" "$3"
	else
		printf '   -> exit %d, expected %d (%s)\n' "$2" "$1" "$3"
		failed=1
	fi
}

# expect CODE WHAT CMD...: run CMD (shown) and give the verdict.
expect() {
	want=$1 what=$2
	shift 2
	show "$@"
	verdict "$want" $? "$what"
}

stage "Starting the demo environment" \
    "PostgreSQL (initdb in a temporary directory, port chosen at random), a" \
    "web service with /healthz, an access log and a release symlink, and a" \
    "stand-in for the Slack webhook that records what runbooks post."
demo_env_start || exit 1

export RUNBOOK_STATE_DIR="$DEMO_DIR/state"
export RUNBOOK_PATH="$ROOT/runbooks:$ROOT/playbooks"
export SLACK_WEBHOOK_URL="$DEMO_CHAT_URL"
export PGPASSWORD="$DEMO_PG_PASSWORD"
cd "$DEMO_DIR" || exit 1
set -- -p db_host="$DEMO_PG_HOST" -p db_port="$DEMO_PG_PORT" \
    -p db_name="$DEMO_PG_DB" -p db_user="$DEMO_PG_USER"

stage "1. Validate everything that ships" \
    "Every runbook, playbook and example is checked before anything runs:" \
    "unknown keys, bad expressions, steps that do not exist, missing params."
expect 0 "all files valid" "$RUNBOOK" validate "$ROOT/runbooks" "$ROOT/playbooks" "$ROOT/examples"

stage "2. Review the plan" \
    "What a run would execute, command by command, with a digest a reviewer" \
    "can approve ('run --plan-digest' refuses anything else). The password" \
    "comes from \$PGPASSWORD and is never shown."
expect 0 "plan rendered" "$RUNBOOK" plan db-connection "$@" \
    -p restart_cmd="$DEMO_PG_RESTART" --format markdown 2>/dev/null

stage "3. A healthy database" \
    "Every check passes (TCP, pg_isready, a login, connection headroom," \
    "idle transactions); the remediation steps are skipped; exit 0."
expect 0 "healthy, nothing to repair" "$RUNBOOK" run db-connection "$@"

stage "4. Break it" \
    "Stop PostgreSQL (a fast shutdown of the postmaster, by PID)."
demo_pg_stop
show pg_isready -h "$DEMO_PG_HOST" -p "$DEMO_PG_PORT"

stage "5. Diagnose, repair, verify" \
    "The checks fail and say why; the maintenance page goes up, restart_cmd" \
    "restarts the server, verification retries until it accepts logins, the" \
    "page comes down and the channel is told. Exit 0: repaired."
# -v shows every command and its output; the run's id is in the first line.
out=$DEMO_DIR/repair.out
show "$RUNBOOK" run db-connection "$@" -p restart_cmd="$DEMO_PG_RESTART" \
    -p maintenance_flag="$DEMO_APP_DIR/maintenance.flag" -v 2>"$out"
code=$?
sed 's/^/   | /' "$out"
verdict 0 "$code" "repaired and verified"
run_id=$(sed -n "s/^runbook: run of '[^']*' started, run \([^ ]*\).*/\1/p" "$out" | head -n 1)
demo_pg_running || { echo "   -> PostgreSQL is not running after the repair"; failed=1; }

stage "6. The record" \
    "Every run is journaled (what ran, where, its output) and audited."
if [ -n "$run_id" ] && "$RUNBOOK" show -h >/dev/null 2>&1; then
	expect 0 "run record shown" "$RUNBOOK" show "$run_id"
else
	echo "   ('runbook show' is not in this build; the run id was ${run_id:-unknown})"
fi

stage "7. A bad deploy" \
    "Release v2 fails 40% of requests. high-error-rate measures the error" \
    "rate in the access log, finds the deploy was recent, switches 'current'" \
    "back to v1 and smoke-tests the service. Exit 0: rolled back."
demo_app_deploy v2
demo_app_traffic 40
expect 0 "rolled back to v1" "$RUNBOOK" run high-error-rate \
    -p log_file="$DEMO_APP_LOG" -p log_lines=40 \
    -p deploy_dir="$DEMO_APP_DIR" -p smoke_url="$DEMO_APP_URL/api/orders"
printf '   live release now: %s\n' "$(basename "$(readlink "$DEMO_APP_DIR/current")")"

stage "8. What the on-call channel saw" \
    "Messages posted to the webhook (\$SLACK_WEBHOOK_URL) during the demo:"
sed 's/^/   /' "$DEMO_CHAT_LOG"

stage "Stopping the demo environment" \
    "Everything started above is stopped by PID and its directory removed."
if [ "$failed" -ne 0 ]; then
	echo "demo: some stages did not behave as described (see above)" >&2
	exit 1
fi
echo "demo: done; next: README.md ('A five-minute tour'), 'man ./src/runbook.1'"
