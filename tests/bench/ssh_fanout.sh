#!/bin/sh
# ssh_fanout.sh [-r RUNS] [-a ANSIBLE_RUNS] [-H HOSTS] [-s STEPS]
#     [--no-ansible] [--no-install] [RUNBOOK]
#
# SSH fan-out, side by side in one invocation, on one private loopback sshd
# (tests/fixtures/sshd) seen through HOSTS inventory aliases: STEPS steps of
# `true`, each on every alias at once, the next step after the previous one
# finished everywhere (a runbook group step, then the next). Every run
# starts cold (no connection, no master). Variants:
#
#   runbook   `runbook run` of a runbook of STEPS steps `on:` a group of the
#             HOSTS aliases (inventory file, a fresh --state directory):
#             the whole product, journal (SQLite WAL, synchronous=FULL) and
#             audit chain included
#   transport the libssh2 transport alone (include/runbook/ssh.h) through
#             tests/bench/ssh_bench.c, one session per alias reused by all
#             steps, no journal (built here against $BUILD/ objects)
#   ssh-mux   OpenSSH with ControlMaster/ControlPersist, one master per
#             alias, `ssh ALIAS true` for every host-step through
#             xargs -P HOSTS, aliases round-robin (step by step)
#   ansible   ansible-playbook, STEPS `command: true` tasks, forks=HOSTS,
#             ControlPersist (one control path per alias) + pipelining,
#             no fact gathering, python3 interpreter given
#
# Prints each variant's median wall time (min-max) over RUNS (ansible:
# ANSIBLE_RUNS, default RUNS), each after one untimed warm-up (ansible's:
# one task on one host), the cost per host-step, and ratios against
# runbook. Tearing down what a run leaves (masters) is not timed. The
# sshd sets SetEnv SHLVL=1 so that root's ~/.bashrc does not dominate.
# RUNBOOK (default $BUILD/runbook, BUILD default build) is the binary of
# the runbook row; ssh_bench is linked against the engine objects of its
# build directory, which `make BUILD=...` brings up to date first.
# Installs ansible with apt-get when missing (unless --no-install); if that
# fails the ansible row says so.
# BENCH_FORMAT=tsv: result lines on stdout, this report on stderr (lib.sh).
set -u
RUNS=3 ARUNS='' HOSTS=20 STEPS=10 ANSIBLE=1 INSTALL=1 RUNBOOK=''
usage() {
	echo "usage: ssh_fanout.sh [-r RUNS] [-a ANSIBLE_RUNS] [-H HOSTS] [-s STEPS] [--no-ansible] [--no-install] [RUNBOOK]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift ;;
	-a) ARUNS=$2; shift ;;
	-H) HOSTS=$2; shift ;;
	-s) STEPS=$2; shift ;;
	--no-ansible) ANSIBLE=0 ;;
	--no-install) INSTALL=0 ;;
	-*) usage ;;
	*) [ -z "$RUNBOOK" ] || usage; RUNBOOK=$1 ;;
	esac
	shift
done
ARUNS=${ARUNS:-$RUNS}
[ "$INSTALL" = 1 ] || NO_INSTALL=1

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
[ "$ANSIBLE" = 1 ] || result ssh.host_step ansible n/a "skipped (--no-ansible)"
if [ -n "$RUNBOOK" ]; then
	case $RUNBOOK in /*) ;; *) RUNBOOK=$(pwd)/$RUNBOOK ;; esac
	BUILD=${BUILD:-$(dirname "$RUNBOOK")}
fi
BUILD=${BUILD:-build}
case $BUILD in "$ROOT"/*) BUILD=${BUILD#"$ROOT"/} ;; esac
RUNBOOK=${RUNBOOK:-$ROOT/$BUILD/runbook}
cd "$ROOT" || exit 1
W=$(mktemp -d "${TMPDIR:-/tmp}/rb-ssh-bench-XXXXXX") || exit 1
FX="$W/sshd"
cleanup() {
	[ -f "$FX/sshd.pid" ] && sh tests/fixtures/sshd/stop-sshd.sh "$FX"
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
minmax() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

# ---- build the driver against the engine objects
echo "building $BUILD/runbook objects and tests/bench/ssh_bench ..."
make --no-print-directory BUILD="$BUILD" "$BUILD/runbook" >/dev/null 3>&- ||
    { echo "ssh_fanout.sh: make failed" >&2; exit 1; }
OBJS=$(ls "$BUILD"/obj/*/*.o | grep -v -e "^$BUILD/obj/cli/" -e "^$BUILD/obj/main.o\$")
DEPS="yaml-0.1 libpcre2-8 libcurl libssh2 sqlite3 libmicrohttpd jansson libcrypto"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$W/ssh_bench" \
    tests/bench/ssh_bench.c $OBJS $(pkg-config --libs $DEPS) -lm ||
    { echo "ssh_fanout.sh: cannot build ssh_bench" >&2; exit 1; }

# ---- the server
PORT=$(SSHD_LOGLEVEL=INFO sh tests/fixtures/sshd/start-sshd.sh "$FX" 3>&-) ||
    { echo "ssh_fanout.sh: cannot start sshd" >&2; exit 1; }
USER_NAME=$(id -un)
ALIASES=$(i=0; while [ $i -lt "$HOSTS" ]; do printf 'h%02d ' $i; i=$((i + 1)); done)

# ---- ssh-mux configuration: one master per alias
CFG="$W/ssh_config"
: > "$CFG"
for a in $ALIASES; do
	cat >> "$CFG" <<EOF
Host $a
	HostName 127.0.0.1
	Port $PORT
	User $USER_NAME
	IdentityFile $FX/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile $FX/known_hosts
	HostKeyAlias [127.0.0.1]:$PORT
	StrictHostKeyChecking yes
	BatchMode yes
	ControlMaster auto
	ControlPath $W/cm-%n
	ControlPersist 60
EOF
done
# Host-steps in step order: every alias once per step.
: > "$W/jobs"
s=0
while [ $s -lt "$STEPS" ]; do
	for a in $ALIASES; do echo "$a" >> "$W/jobs"; done
	s=$((s + 1))
done
# Stop the masters and wait (up to 60 s: a loaded box is slow to let go)
# for their sockets to go, so the next run starts cold and never finds a
# stale socket (which disables multiplexing).
mux_stop() {
	for a in $ALIASES; do ssh -F "$CFG" -O exit "$a" >/dev/null 2>&1; done
	n=0
	while ls "$W"/cm-* >/dev/null 2>&1 && [ $n -lt 1200 ]; do
		sleep 0.05
		n=$((n + 1))
	done
}

# ---- runbook: an inventory of the aliases, one group step per step
{
	echo "defaults: {user: $USER_NAME, port: $PORT, identity: $FX/id_ed25519, known_hosts: $FX/known_hosts}"
	echo "hosts:"
	for a in $ALIASES; do echo "  $a: {address: 127.0.0.1}"; done
	echo "groups:"
	printf '  fleet: [%s]\n' "$(echo $ALIASES | sed 's/ /, /g')"
} > "$W/inventory.yaml"
{
	echo "runbook: fanout"
	echo "steps:"
	s=1
	while [ $s -le "$STEPS" ]; do
		printf '  - id: s%d\n    on: fleet\n    run: "true"\n' $s
		s=$((s + 1))
	done
} > "$W/fanout.yaml"

# ---- ansible
if [ "$ANSIBLE" = 1 ] && ! bench_install ansible-playbook ansible; then
	echo "ansible-playbook is not available (apt-get install ansible failed or --no-install): skipping the ansible row"
	ANSIBLE=0
	result ssh.host_step ansible n/a "not installed"
fi
if [ "$ANSIBLE" = 1 ]; then
	mkdir -p "$W/ansible"
	{
		echo "[fleet]"
		for a in $ALIASES; do
			echo "$a ansible_host=127.0.0.1 ansible_port=$PORT ansible_user=$USER_NAME ansible_control_path=$W/acp-$a"
		done
		echo "[fleet:vars]"
		echo "ansible_ssh_private_key_file=$FX/id_ed25519"
		echo "ansible_python_interpreter=/usr/bin/python3"
	} > "$W/ansible/hosts"
	cat > "$W/ansible/ansible.cfg" <<EOF
[defaults]
inventory = $W/ansible/hosts
forks = $HOSTS
host_key_checking = True
gathering = explicit
retry_files_enabled = False
stdout_callback = minimal
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$FX/known_hosts -o HostKeyAlias=[127.0.0.1]:$PORT -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes
EOF
	{
		echo "- hosts: fleet"
		echo "  gather_facts: false"
		echo "  tasks:"
		s=0
		while [ $s -lt "$STEPS" ]; do
			echo "    - ansible.builtin.command: \"true\""
			s=$((s + 1))
		done
	} > "$W/ansible/play.yml"
	printf -- '- hosts: %s\n  gather_facts: false\n  tasks:\n    - ansible.builtin.command: "true"\n' \
	    "${ALIASES%% *}" > "$W/ansible/warm.yml"
	ansible_stop() {
		for a in $ALIASES; do
			[ -S "$W/acp-$a" ] && ssh -o ControlPath="$W/acp-$a" -O exit x >/dev/null 2>&1
		done
		n=0
		while ls "$W"/acp-* >/dev/null 2>&1 && [ $n -lt 1200 ]; do
			sleep 0.05
			n=$((n + 1))
		done
	}
fi

# ---- runs
run_runbook() {
	rm -rf "$W/state"
	NO_COLOR=1 SSH_AUTH_SOCK='' "$RUNBOOK" run "$W/fanout.yaml" \
	    --inventory "$W/inventory.yaml" --state "$W/state" \
	    > "$W/rbrun.out" 2>&1 || { tail -n 20 "$W/rbrun.out" >&2; return 1; }
}
run_transport() {
	"$W/ssh_bench" -p "$PORT" -k "$FX/known_hosts" -i "$FX/id_ed25519" \
	    -H "$HOSTS" -s "$STEPS" > "$W/rb.out" || { cat "$W/rb.out" >&2; return 1; }
}
run_mux() {
	xargs -P "$HOSTS" -I{} ssh -F "$CFG" {} true < "$W/jobs" || return 1
}
run_ansible() {
	ANSIBLE_CONFIG="$W/ansible/ansible.cfg" ansible-playbook ${1:-"$W/ansible/play.yml"} \
	    > "$W/ansible.out" 2>&1 || { tail -n 20 "$W/ansible.out" >&2; return 1; }
}
# Warm-ups: the whole thing, except for ansible, where one task on one
# host loads Python's modules as well as a full run would, in a second
# instead of a run's 40 (minutes on a loaded box).
warm_runbook() { run_runbook; }
warm_transport() { run_transport; }
warm_mux() { run_mux && mux_stop; }
warm_ansible() { run_ansible "$W/ansible/warm.yml" && ansible_stop; }
# What a run leaves (masters) is torn down after the clock stops.
stop_runbook() { :; }
stop_transport() { :; }
stop_mux() { mux_stop; }
stop_ansible() { ansible_stop; }

# Time one variant RUNS times (ansible: ARUNS) after one warm-up.
measure() {
	name=$1 runs=$RUNS
	[ "$name" = ansible ] && runs=$ARUNS
	"warm_$name" >/dev/null 2>&1 || { echo "$name: warm-up failed" >&2; return 1; }
	: > "$W/t.$name"
	r=0
	while [ $r -lt "$runs" ]; do
		t0=$(now_ms)
		"run_$name" || { echo "$name: run failed" >&2; return 1; }
		echo $(( $(now_ms) - t0 )) >> "$W/t.$name"
		"stop_$name"
		r=$((r + 1))
	done
}

N=$((HOSTS * STEPS))
echo "ssh fan-out: $STEPS steps x $HOSTS aliases of 127.0.0.1:$PORT = $N host-steps of 'true', $RUNS runs each, ansible $ARUNS (+1 warm-up)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $(ssh -V 2>&1); libssh2 $(pkg-config --modversion libssh2)"
variants="runbook transport mux"
[ "$ANSIBLE" = 1 ] && variants="$variants ansible"
# A variant that fails is reported as such; the others still count.
ok=
for v in $variants; do
	echo "running $v ..."
	if measure "$v"; then
		ok="$ok $v"
	else
		[ "$v" = mux ] && v=ssh-mux
		result ssh.host_step "$v" n/a failed
	fi
done
variants=$ok
[ -f "$W/rb.out" ] && sed 's/^/  transport last run: /' "$W/rb.out"
result ssh.hosts n "$HOSTS" hosts
result ssh.steps n "$STEPS" steps

rb=$(median < "$W/t.runbook" 2>/dev/null || echo n/a)
printf '\n%-10s %12s %14s %16s %12s\n' variant "median ms" "min-max ms" "per host-step" "vs runbook"
for v in $variants; do
	m=$(median < "$W/t.$v")
	per=$(awk -v m="$m" -v n="$N" 'BEGIN { printf "%.2f", m / n }')
	printf '%-10s %12s %14s %13s ms %11sx\n' "$v" "$m" "$(minmax < "$W/t.$v")" \
	    "$per" "$(awk -v m="$m" -v r="$rb" 'BEGIN { if (r + 0 > 0) printf "%.1f", m / r; else printf "-" }')"
	[ "$v" = mux ] && v=ssh-mux
	result ssh.host_step "$v" "$per" ms/host-step
	result ssh.wall "$v" "$m" ms
done
echo
echo "targets: runbook >= 20x faster than ansible, and faster than ssh-mux"
[ -n "$variants" ] || exit 1
