#!/bin/sh
# The shipped runbooks, playbooks and examples: every file validates, and
# every runbook runs for real against the demo environment of
# examples/demo/env.sh (PostgreSQL and a web service on 127.0.0.1): healthy
# -> exit 0; broken -> a diagnosis naming the failing check, the
# remediation, exit 0 when it repaired and exit 1 when it could not.
. "$(dirname "$0")/lib.sh"

DEMO_HOME=$SRC_DIR/examples/demo
DEMO_QUIET=1
. "$DEMO_HOME/env.sh"
trap 'demo_env_stop; test_cleanup' EXIT
trap 'exit 129' HUP

export RUNBOOK_PATH="$SRC_DIR/runbooks:$SRC_DIR/playbooks"
# Never post to a real chat channel from a test.
unset SLACK_WEBHOOK_URL PGPASSWORD PGHOST PGPORT PGUSER PGDATABASE
# Thresholds about this machine that other test jobs can push over (the
# checks themselves are tested below with thresholds set to fail).
HOST_OK="-p max_load_per_cpu=1000 -p max_disk_pct=100 -p min_mem_available_pct=0"

test_expect_success 'every shipped runbook, playbook and example validates cleanly' '
	n=0
	for f in $(find "$SRC_DIR/runbooks" "$SRC_DIR/playbooks" "$SRC_DIR/examples" \
	    -name "*.yaml" -o -name "*.yml" | sort); do
		# The secrets examples/routes.yaml names, as serve needs them.
		RUNBOOK_WEBHOOK_TOKEN=t RUNBOOK_GRAFANA_SECRET=s \
		    "$RUNBOOK" validate "$f" >out 2>err || { cat err; echo "invalid: $f"; exit 1; }
		grep -q "0 errors, 0 warnings" out || { cat err; echo "warnings: $f"; exit 1; }
		n=$((n + 1))
	done &&
	test "$n" -ge 8
'

test_expect_success 'list shows the five runbooks and two playbooks' '
	"$RUNBOOK" list >out &&
	for r in db-connection high-error-rate performance-degradation \
	    outage-response maintenance-window; do
		grep "^$r  *runbook " out || exit 1
	done &&
	grep "^incident-response  *playbook " out &&
	grep "^scheduled-maintenance  *playbook " out
'

test_expect_success 'every runbook and playbook plans in every format' '
	for r in db-connection high-error-rate performance-degradation \
	    outage-response maintenance-window "incident-response -p kind=outage" \
	    "scheduled-maintenance -p change_id=CHG-1"; do
		for f in text json markdown dot; do
			"$RUNBOOK" plan $r --format $f >out 2>err || { cat err; exit 1; }
			test -s out || exit 1
		done
	done
'

test_expect_success 'runbooks whose inputs are all optional succeed on a plain machine' '
	"$RUNBOOK" run high-error-rate 2>err &&
	"$RUNBOOK" run outage-response 2>err &&
	"$RUNBOOK" run maintenance-window -p backup_dir="$TEST_TMP/backups" 2>err &&
	"$RUNBOOK" run performance-degradation $HOST_OK 2>err
'

if ! demo_pg_bindir >/dev/null || ! command -v psql >/dev/null 2>&1; then
	why="PostgreSQL is not installed (packages postgresql, postgresql-client)"
elif ! demo_env_start >"$TEST_TMP/demo-env.log" 2>&1; then
	cat "$TEST_TMP/demo-env.log" >&2
	why="it did not start"
else
	why=""
fi
if [ -n "$why" ]; then
	for t in db-connection high-error-rate performance-degradation \
	    outage-response maintenance-window playbooks; do
		test_skip "$t against the demo environment" "$why"
	done
	test_done
fi
export PGPASSWORD="$DEMO_PG_PASSWORD"
export SLACK_WEBHOOK_URL="$DEMO_CHAT_URL"

run_db() {
	"$RUNBOOK" run db-connection -p db_host="$DEMO_PG_HOST" \
	    -p db_port="$DEMO_PG_PORT" -p db_name="$DEMO_PG_DB" \
	    -p db_user="$DEMO_PG_USER" "$@"
}

# Hold N connections idle in a transaction, in a session of their own (its
# id, which is its process group, is written to holder.pid).
hold_connections() {
	setsid sh -c '
		i=0
		while [ "$i" -lt "$1" ]; do
			{ echo "begin; select 1;"; sleep 60; } |
			    psql -X -q -h "$DEMO_PG_HOST" -p "$DEMO_PG_PORT" \
			    -U "$DEMO_PG_USER" -d "$DEMO_PG_DB" >/dev/null 2>&1 &
			i=$((i + 1))
		done
		wait' sh "$1" &
	echo $! >"$TEST_TMP/holder.pid"
}

idle_in_tx_count() {
	psql -X -At -h "$DEMO_PG_HOST" -p "$DEMO_PG_PORT" -U "$DEMO_PG_USER" \
	    -d "$DEMO_PG_DB" -c "select count(*) from pg_stat_activity where state = 'idle in transaction'"
}

release_connections() {
	test -s "$TEST_TMP/holder.pid" &&
		kill -TERM -- "-$(cat "$TEST_TMP/holder.pid")" 2>/dev/null
	rm -f "$TEST_TMP/holder.pid"
}

# A JSON event stream's final status of a step.
step_status() {
	grep "\"event\":\"step_[a-z]*\".*\"step\":\"$2\"" "$1" | tail -n 1 |
		sed -n 's/.*"status":"\([a-z_]*\)".*/\1/p'
}

# ---- db-connection

test_expect_success 'db-connection: a healthy database passes every check (exit 0)' '
	run_db --output json >events &&
	for s in tcp-connect pg-ready login conn-usage idle-in-tx verify-ready verify-login; do
		test "$(step_status events $s)" = succeeded || { echo "$s"; exit 1; }
	done &&
	test "$(step_status events restart-db)" = skipped
'

test_expect_success 'db-connection: a stopped server is diagnosed, restarted and verified (exit 0)' '
	: >"$DEMO_CHAT_LOG" &&
	demo_pg_stop && ! demo_pg_running &&
	run_db -p restart_cmd="$DEMO_PG_RESTART" \
	    -p maintenance_flag="$DEMO_APP_DIR/maintenance.flag" 2>err &&
	grep "^failed  tcp-connect" err &&
	grep "^failed  pg-ready.*exit 2" err &&
	grep "no response" err &&
	grep "^ok      restart-db" err &&
	grep "^ok      verify-login" err &&
	demo_pg_running &&
	! test -e "$DEMO_APP_DIR/maintenance.flag" &&
	grep "was repaired and verified" "$DEMO_CHAT_LOG"
'

test_expect_success 'db-connection: a login it cannot repair fails the run (exit 1) and pages' '
	: >"$DEMO_CHAT_LOG" &&
	PGPASSWORD=wrong-password &&
	test_must_fail --exit 1 run_db 2>err &&
	grep "^failed  login" err &&
	grep "password authentication failed" err &&
	grep "^failed  verify-login.*after 3 attempts" err &&
	grep "db-connection FAILED" "$DEMO_CHAT_LOG"
'

test_expect_success 'db-connection: saturated connections and stuck transactions are cleared (exit 0)' '
	hold_connections 5 &&
	i=0 &&
	until test "$(idle_in_tx_count)" -ge 5; do
		i=$((i + 1)); test $i -lt 100; sleep 0.1
	done &&
	code=0 &&
	run_db -p max_conn_pct=25 -p idle_tx_minutes=0 -p terminate_idle_tx=true 2>err || code=$?
	release_connections
	test $code -eq 0 &&
	grep "^failed  conn-usage" err &&
	grep "connection use [3-9][0-9]% is at or above 25%" err &&
	grep "^failed  idle-in-tx" err &&
	grep "[5-9] sessions idle in a transaction" err &&
	grep "^ok      terminate-idle-tx" err &&
	grep "^ok      verify-headroom" err &&
	test "$(idle_in_tx_count)" -eq 0
'
release_connections

# ---- high-error-rate

her() {
	"$RUNBOOK" run high-error-rate -p log_file="$DEMO_APP_LOG" -p log_lines=40 \
	    -p metrics_url="$DEMO_APP_URL/metrics" -p sample_seconds=0 "$@"
}

test_expect_success 'high-error-rate: normal traffic is below the threshold (exit 0)' '
	demo_app_traffic 40 &&
	her -p deploy_dir="$DEMO_APP_DIR" --output json >events &&
	test "$(step_status events log-errors)" = succeeded &&
	test "$(step_status events metrics-errors)" = succeeded &&
	test "$(step_status events rollback-release)" = skipped
'

test_expect_success 'high-error-rate: a bad deploy is found and rolled back (exit 0)' '
	: >"$DEMO_CHAT_LOG" &&
	demo_app_deploy v2 && demo_app_traffic 40 &&
	her -p deploy_dir="$DEMO_APP_DIR" -p smoke_url="$DEMO_APP_URL/api/orders" 2>err &&
	grep "^failed  log-errors" err &&
	grep "error rate [0-9]*% ([0-9]* of 40 requests) is above 5%" err &&
	grep "^ok      rollback-release" err &&
	grep "^ok      verify-errors" err &&
	test "$(readlink "$DEMO_APP_DIR/current")" = releases/v1 &&
	grep "back from v2 to v1" "$DEMO_CHAT_LOG"
'

test_expect_success 'high-error-rate: errors with nothing to roll back fail the run (exit 1)' '
	demo_app_deploy v2 && demo_app_traffic 40 &&
	test_must_fail --exit 1 her 2>err &&
	grep "^failed  log-errors" err &&
	grep "^failed  errors-unresolved" err &&
	grep "no automatic rollback applies" err &&
	demo_app_deploy v1
'

# ---- performance-degradation

perf() {
	"$RUNBOOK" run performance-degradation -p app_url="$DEMO_APP_URL/api/orders" \
	    -p latency_samples=3 -p db_host="$DEMO_PG_HOST" -p db_port="$DEMO_PG_PORT" \
	    -p db_name="$DEMO_PG_DB" -p db_user="$DEMO_PG_USER" "$@"
}

test_expect_success 'performance-degradation: a fast service passes (exit 0)' '
	perf $HOST_OK --output json >events &&
	for s in latency cpu-load memory disk slow-queries; do
		test "$(step_status events $s)" = succeeded || { echo "$s"; exit 1; }
	done
'

test_expect_success 'performance-degradation: a bloated cache is flushed and latency verified (exit 0)' '
	touch "$DEMO_APP_DIR/cache/bloat" &&
	perf $HOST_OK -p cache_flush_cmd="curl -fsS -X POST $DEMO_APP_URL/cache/flush" 2>err &&
	grep "^failed  latency" err &&
	grep "average response time [0-9]* ms is above 500 ms" err &&
	grep "^ok      flush-cache" err &&
	grep "^ok      verify-latency" err &&
	! test -e "$DEMO_APP_DIR/cache/bloat"
'

test_expect_success 'performance-degradation: a full disk needs a human (exit 1)' '
	test_must_fail --exit 1 perf -p max_load_per_cpu=1000 -p min_mem_available_pct=0 \
	    -p max_disk_pct=0 -p disk_path="$DEMO_DIR" 2>err &&
	grep "^failed  disk" err &&
	grep "% full (maximum 0%)" err &&
	grep "^failed  capacity" err
'

# ---- outage-response

outage() {
	"$RUNBOOK" run outage-response -p service=demo-app \
	    -p health_url="$DEMO_APP_URL/healthz" -p health_match="^ok" \
	    -p status_cmd="$DEMO_APP_STATUS" -p restart_cmd="$DEMO_APP_RESTART" \
	    -p log_file="$DEMO_APP_DIR/log/app.log" "$@"
}

test_expect_success 'outage-response: a running service passes (exit 0)' '
	outage --output json >events &&
	test "$(step_status events health)" = succeeded &&
	test "$(step_status events health-body)" = succeeded &&
	test "$(step_status events status)" = succeeded &&
	test "$(step_status events restart)" = skipped
'

test_expect_success 'outage-response: a stopped service is restarted and verified (exit 0)' '
	demo_app_stop &&
	outage 2>err &&
	grep "^failed  health" err &&
	grep "^failed  status" err &&
	grep "^ok      restart " err &&
	grep "^ok      verify" err &&
	curl -fsS "$DEMO_APP_URL/healthz"
'

test_expect_success 'outage-response: down with its database, back through the restart chain (exit 0)' '
	: >"$DEMO_CHAT_LOG" &&
	demo_app_stop && demo_pg_stop &&
	outage -p deps_restart_cmd="$DEMO_PG_RESTART" 2>err &&
	grep "^failed  restart " err &&
	grep "cannot connect to the database" err &&
	grep "^ok      restart-deps" err &&
	grep "^ok      restart-again" err &&
	grep "^ok      verify" err &&
	demo_pg_running &&
	curl -fsS "$DEMO_APP_URL/healthz" &&
	grep "demo-app was down and is back" "$DEMO_CHAT_LOG"
'

# ---- maintenance-window

mw() {
	"$RUNBOOK" run maintenance-window -p backup_dir="$TEST_TMP/backups" \
	    -p health_url="$DEMO_APP_URL/healthz" \
	    -p maintenance_flag="$DEMO_APP_DIR/maintenance.flag" \
	    -p restart_cmd="$DEMO_APP_RESTART" \
	    -p change_cmd="ln -sfn releases/v2 $DEMO_APP_DIR/current" \
	    -p rollback_cmd="ln -sfn releases/v1 $DEMO_APP_DIR/current" "$@"
}

test_expect_success 'maintenance-window: backup, change, restart and post-checks (exit 0)' '
	rm -rf "$TEST_TMP/backups" &&
	mw -p db_host="$DEMO_PG_HOST" -p db_port="$DEMO_PG_PORT" -p db_name="$DEMO_PG_DB" \
	    -p db_user="$DEMO_PG_USER" -p host_health_cmd="curl -fsS $DEMO_APP_URL/healthz" 2>err &&
	grep "^ok      backup-db" err &&
	grep "^ok      rolling-change" err &&
	grep "^ok      post-db" err &&
	test "$(readlink "$DEMO_APP_DIR/current")" = releases/v2 &&
	! test -e "$DEMO_APP_DIR/maintenance.flag" &&
	pg_restore --list "$TEST_TMP"/backups/app-*.dump | grep "TABLE public orders"
'

test_expect_success 'maintenance-window: a host broken by the change is rolled back, the run fails (exit 1)' '
	demo_app_deploy v1 &&
	test_must_fail --exit 1 mw -p backup_path="$DEMO_APP_DIR/releases" \
	    -p host_health_cmd="curl -fsS $DEMO_APP_URL/healthz" \
	    -p change_cmd="ln -sfn releases/v3 $DEMO_APP_DIR/current" \
	    -p host_health_tries=1 2>err &&
	grep "^ok      backup-files" err &&
	grep "^failed  rolling-change" err &&
	grep "error: 503" err &&
	grep "health: still failing after 1 tries" err &&
	grep "not healthy; rolling this host back" err &&
	grep "^ok      maintenance-on (rollback)" err &&
	test "$(readlink "$DEMO_APP_DIR/current")" = releases/v1 &&
	! test -e "$DEMO_APP_DIR/maintenance.flag" &&
	curl -fsS "$DEMO_APP_URL/healthz"
'

# ---- playbooks

last_run() {
	"$RUNBOOK" runs --limit 1 | awk 'NR == 2 { print $1 }'
}

test_expect_success 'incident-response: people approve each stage; db-connection repairs (exit 4, then 0)' '
	: >"$DEMO_CHAT_LOG" &&
	demo_pg_stop &&
	test_must_fail --exit 4 "$RUNBOOK" run incident-response -p kind=database \
	    -p service=shop -p db_host="$DEMO_PG_HOST" -p db_port="$DEMO_PG_PORT" \
	    -p db_name="$DEMO_PG_DB" -p db_user="$DEMO_PG_USER" \
	    -p health_url="$DEMO_APP_URL/healthz" -p restart_cmd="$DEMO_PG_RESTART" 2>err &&
	grep "^failed  detect-db" err &&
	grep "^paused  assess" err &&
	! demo_pg_running &&
	id=$(last_run) &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" assess --by alice 2>err &&
	grep "^paused  status-page" err &&
	grep "INCIDENT P1 - shop" "$DEMO_CHAT_LOG" &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" status-page --by alice 2>err &&
	grep "^paused  approve-fix" err &&
	! demo_pg_running &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" approve-fix --by bob \
	    --comment "restart approved" 2>err &&
	grep "^ok      fix-database/restart-db" err &&
	grep "^paused  post-mortem" err &&
	demo_pg_running &&
	grep "RESOLVED P1 - shop" "$DEMO_CHAT_LOG" &&
	"$RUNBOOK" approve "$id" post-mortem --by alice 2>err &&
	"$RUNBOOK" runs --limit 1 | grep "$id.*succeeded"
'

test_expect_success 'incident-response: a rejected remediation fails the run and escalates (exit 1)' '
	: >"$DEMO_CHAT_LOG" &&
	test_must_fail --exit 4 "$RUNBOOK" run incident-response -p kind=outage \
	    -p service=shop -p health_url="$DEMO_APP_URL/healthz" 2>err &&
	id=$(last_run) &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" assess --by alice 2>err &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" status-page --by alice 2>err &&
	test_must_fail --exit 1 "$RUNBOOK" approve "$id" approve-fix --by bob --reject \
	    --comment "not while the vendor investigates" 2>err &&
	! grep "fix-outage/" err &&
	grep "ESCALATE P1 - shop" "$DEMO_CHAT_LOG"
'

test_expect_success 'scheduled-maintenance: announces days ahead, pauses for people, changes nothing outside its window' '
	: >"$DEMO_CHAT_LOG" &&
	test_must_fail --exit 4 "$RUNBOOK" run scheduled-maintenance -p change_id=CHG-1 2>err &&
	grep "^paused  advance-notice" err &&
	grep "Scheduled maintenance CHG-1" "$DEMO_CHAT_LOG" &&
	id=$(sed -n "s/^runbook: run of .scheduled-maintenance. started, run \([^ ]*\)$/\1/p" err) &&
	test -n "$id" &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" advance-notice --by alice 2>err &&
	test_must_fail --exit 4 "$RUNBOOK" approve "$id" change-approval --by bob 2>err &&
	grep "^paused  go-no-go" err &&
	case $(date -u +%u%H) in
	70[2-5]) ;;
	*) test_must_fail --exit 1 "$RUNBOOK" approve "$id" go-no-go --by carol 2>err &&
	   grep "outside the window (Sunday 02:00-06:00 UTC): nothing was changed" err &&
	   ! grep "^start   maintenance" err &&
	   ! grep FAILED "$DEMO_CHAT_LOG" ;;
	esac
'

test_done
