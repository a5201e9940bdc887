#!/bin/sh
# ssh_fanout.sh [-r RUNS] [-H HOSTS] [-s STEPS] [--no-ansible] [--no-install]
#
# SSH fan-out, side by side in one invocation, on one private loopback sshd
# (tests/fixtures/sshd) seen through HOSTS inventory aliases: STEPS steps of
# `true`, each on every alias at once, the next step after the previous one
# finished everywhere (a runbook group step, then the next). Every run
# starts cold (no connection, no master). Variants:
#
#   runbook   the libssh2 transport (include/runbook/ssh.h) through
#             tests/bench/ssh_bench.c, one session per alias reused by all
#             steps (built here against build/ objects)
#   ssh-mux   OpenSSH with ControlMaster/ControlPersist, one master per
#             alias, `ssh ALIAS true` for every host-step through
#             xargs -P HOSTS, aliases round-robin (step by step)
#   ansible   ansible-playbook, STEPS `command: true` tasks, forks=HOSTS,
#             ControlPersist (one control path per alias) + pipelining,
#             no fact gathering, python3 interpreter given
#
# Prints each variant's median wall time (min-max) over RUNS, the cost per
# host-step, and ratios against runbook. Compare with
# /work/shared/research/baselines.md section 2 (same sshd settings:
# SetEnv SHLVL=1 so root's ~/.bashrc does not dominate).
# Installs ansible with apt-get when missing (unless --no-install); if that
# fails the ansible row is skipped.
set -u
RUNS=3 HOSTS=20 STEPS=10 ANSIBLE=1 INSTALL=1
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift ;;
	-H) HOSTS=$2; shift ;;
	-s) STEPS=$2; shift ;;
	--no-ansible) ANSIBLE=0 ;;
	--no-install) INSTALL=0 ;;
	*) echo "usage: ssh_fanout.sh [-r RUNS] [-H HOSTS] [-s STEPS] [--no-ansible] [--no-install]" >&2
	   exit 2 ;;
	esac
	shift
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
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
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
minmax() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

# ---- build the driver against the engine objects
echo "building build/runbook objects and tests/bench/ssh_bench ..."
make --no-print-directory build/runbook >/dev/null || { echo "ssh_fanout.sh: make failed" >&2; exit 1; }
OBJS=$(ls build/obj/*/*.o | grep -v -e '^build/obj/cli/' -e '^build/obj/main.o$')
DEPS="yaml-0.1 libpcre2-8 libcurl libssh2 sqlite3 libmicrohttpd jansson libcrypto"
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$W/ssh_bench" \
    tests/bench/ssh_bench.c $OBJS $(pkg-config --libs $DEPS) -lm ||
    { echo "ssh_fanout.sh: cannot build ssh_bench" >&2; exit 1; }

# ---- the server
PORT=$(SSHD_LOGLEVEL=INFO sh tests/fixtures/sshd/start-sshd.sh "$FX") ||
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
# Stop the masters and wait for their sockets to go, so the next run
# starts cold and never finds a stale socket (which disables multiplexing).
mux_stop() {
	for a in $ALIASES; do ssh -F "$CFG" -O exit "$a" >/dev/null 2>&1; done
	n=0
	while ls "$W"/cm-* >/dev/null 2>&1 && [ $n -lt 100 ]; do
		sleep 0.05
		n=$((n + 1))
	done
}

# ---- ansible
if [ "$ANSIBLE" = 1 ] && ! command -v ansible-playbook >/dev/null 2>&1; then
	if [ "$INSTALL" = 1 ]; then
		echo "installing ansible (apt-get) ..."
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq ansible; } >/dev/null 2>&1
	fi
	command -v ansible-playbook >/dev/null 2>&1 ||
	    { echo "ansible-playbook is not available (apt-get install ansible failed or --no-install): skipping the ansible row"; ANSIBLE=0; }
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
	ansible_stop() {
		for a in $ALIASES; do
			[ -S "$W/acp-$a" ] && ssh -o ControlPath="$W/acp-$a" -O exit x >/dev/null 2>&1
		done
		n=0
		while ls "$W"/acp-* >/dev/null 2>&1 && [ $n -lt 100 ]; do
			sleep 0.05
			n=$((n + 1))
		done
	}
fi

# ---- runs
run_runbook() {
	"$W/ssh_bench" -p "$PORT" -k "$FX/known_hosts" -i "$FX/id_ed25519" \
	    -H "$HOSTS" -s "$STEPS" > "$W/rb.out" || { cat "$W/rb.out" >&2; return 1; }
}
run_mux() {
	xargs -P "$HOSTS" -I{} ssh -F "$CFG" {} true < "$W/jobs" || return 1
	mux_stop
}
run_ansible() {
	ANSIBLE_CONFIG="$W/ansible/ansible.cfg" ansible-playbook "$W/ansible/play.yml" \
	    > "$W/ansible.out" 2>&1 || { tail -n 20 "$W/ansible.out" >&2; return 1; }
	ansible_stop
}

# Time one variant RUNS times (after one warm-up); sets $times.
measure() {
	name=$1
	"run_$name" >/dev/null 2>&1 || { echo "$name: warm-up failed" >&2; return 1; }
	: > "$W/t.$name"
	r=0
	while [ $r -lt "$RUNS" ]; do
		t0=$(now_ms)
		"run_$name" || { echo "$name: run failed" >&2; return 1; }
		echo $(( $(now_ms) - t0 )) >> "$W/t.$name"
		r=$((r + 1))
	done
}

N=$((HOSTS * STEPS))
echo "ssh fan-out: $STEPS steps x $HOSTS aliases of 127.0.0.1:$PORT = $N host-steps of 'true', $RUNS runs each (+1 warm-up)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $(ssh -V 2>&1); libssh2 $(pkg-config --modversion libssh2)"
variants="runbook mux"
[ "$ANSIBLE" = 1 ] && variants="$variants ansible"
for v in $variants; do
	echo "running $v ..."
	measure "$v" || exit 1
done
cat "$W/rb.out" | sed 's/^/  runbook last run: /'

rb=$(median < "$W/t.runbook")
printf '\n%-10s %12s %14s %16s %12s\n' variant "median ms" "min-max ms" "per host-step" "vs runbook"
for v in $variants; do
	m=$(median < "$W/t.$v")
	printf '%-10s %12s %14s %13s ms %11sx\n' "$v" "$m" "$(minmax < "$W/t.$v")" \
	    "$(awk -v m="$m" -v n="$N" 'BEGIN { printf "%.2f", m / n }')" \
	    "$(awk -v m="$m" -v r="$rb" 'BEGIN { printf "%.1f", m / r }')"
done
echo
echo "targets: runbook >= 20x faster than ansible, and faster than ssh-mux"
