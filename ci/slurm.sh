#!/usr/bin/env bash
# Single-node Slurm on 127.0.0.1 for migrator's integration tests.
#
#   ci/slurm.sh install   install Debian's slurmctld, slurmd, slurm-client, munge (and iproute2,
#                         for ci/cluster.sh) if missing
#   ci/slurm.sh up        start munged, slurmctld and slurmd (only those not already ours and
#                         running) and wait until the node is idle; prints the SLURM_CONF to use
#   ci/slurm.sh down      stop only the daemons this script started, by their pid files
#   ci/slurm.sh status    exit 0 if the daemons started from here are running
#   ci/slurm.sh env       print "export SLURM_CONF=..." for a shell to eval
#
# Everything lives in $MIGRATOR_SLURM_DIR (default /var/tmp/migrator-slurm): config, munge key
# and socket, state, spool, logs, pid files. Nothing in /etc is changed and no system service
# is touched, so a machine's own Slurm, if any, is left alone (we use ports 16817/16818).
set -euo pipefail

dir=${MIGRATOR_SLURM_DIR:-/var/tmp/migrator-slurm}
conf=$dir/slurm.conf
ctld_port=${MIGRATOR_SLURMCTLD_PORT:-16817}
d_port=${MIGRATOR_SLURMD_PORT:-16818}

log() { printf 'ci/slurm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() { # true when every named package is installed (not merely "removed, config kept")
	local p
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || return 1
	done
}

cmd_install() {
	# iproute2 (ip netns) for ci/cluster.sh's three-node cluster.
	local pkgs=(slurmctld slurmd slurm-client munge iproute2)
	if installed "${pkgs[@]}"; then return 0; fi
	[ "$(id -u)" = 0 ] || die "installing ${pkgs[*]} needs root"
	log "installing ${pkgs[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
		log "install failed; refreshing the package lists once and retrying"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	fi
}

# running: our slurmctld and slurmd are both alive.
running() { alive "$dir/run/slurmctld.pid" && alive "$dir/run/slurmd.pid"; }

# alive PIDFILE: the process named in PIDFILE exists and is not a zombie. A stopped daemon can
# linger as a zombie for a moment, which kill -0 would still call alive.
alive() {
	local pid state
	[ -s "$1" ] || return 1
	pid=$(cat "$1")
	[ -r "/proc/$pid/stat" ] || return 1
	state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
	[ "$state" != Z ] && [ "$state" != X ]
}

write_conf() {
	local cpus=16
	# Memory is declared too (not consumed: CR_Core), so that job scripts' --mem, which
	# migrator derives from --workers, fits the node; without RealMemory Slurm takes 1 MB.
	local mem=65536
	cat >"$conf" <<CONF
# Written by ci/slurm.sh for migrator's tests: one node, loopback only.
ClusterName=migrator
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default
# 120 s, minimum 5): 20 s keeps the requeue tests short and still leaves a loaded CI
# machine time to launch a batch script.
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=20
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Declare more CPUs (and memory) than the machine has so a 100-task array runs many tasks at once.
SlurmdParameters=config_overrides
JobRequeue=1
KillWait=5
MinJobAge=300
MaxArraySize=100001
MaxJobCount=200000
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
	if alive "$dir/run/munged.pid"; then return 0; fi
	# The socket directory must be searchable by all and writable only by munge; the key
	# and munged's own files stay private to munge.
	install -d -m 0755 -o munge -g munge "$dir/munge"
	install -d -m 0700 -o munge -g munge "$dir/munge-private"
	local key=$dir/munge-private/munge.key
	if [ ! -s "$key" ]; then
		dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
		chown munge:munge "$key"
		chmod 0400 "$key"
	fi
	runuser -u munge -- /usr/sbin/munged \
		--socket="$dir/munge/munge.socket" \
		--key-file="$key" \
		--pid-file="$dir/munge-private/munged.pid" \
		--log-file="$dir/munge-private/munged.log" \
		--seed-file="$dir/munge-private/munged.seed"
	cp "$dir/munge-private/munged.pid" "$dir/run/munged.pid"
}

start_daemon() { # NAME ARGS...
	local name=$1; shift
	if alive "$dir/run/$name.pid"; then return 0; fi
	"/usr/sbin/$name" -f "$conf" "$@"
}

node_state() {
	SLURM_CONF=$conf timeout 15 sinfo -h -N -o '%T' -n localhost 2>/dev/null | head -n1
}

cmd_up() {
	[ "$(id -u)" = 0 ] || die "starting slurmctld and slurmd needs root"
	command -v /usr/sbin/slurmctld >/dev/null || die "slurmctld is not installed (run: ci/slurm.sh install)"
	install -d -m 0755 "$dir" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
	write_conf
	start_munge
	start_daemon slurmctld
	start_daemon slurmd -N localhost
	local i state=
	for i in $(seq 1 150); do
		state=$(node_state)
		case "$state" in
		idle | mixed | allocated) break ;;
		down* | drain*) SLURM_CONF=$conf scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
		esac
		sleep 0.2
	done
	case "$state" in
	idle | mixed | allocated) ;;
	*) tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
	   die "node localhost is '${state:-unknown}' after 30 s, not idle" ;;
	esac
	log "slurm is up: node localhost is $state; SLURM_CONF=$conf"
	echo "$conf"
}

stop_pidfile() { # PIDFILE
	local f=$1 pid i
	alive "$f" || { rm -f "$f"; return 0; }
	pid=$(cat "$f")
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do alive "$f" || break; sleep 0.1; done
	if alive "$f"; then kill -KILL "$pid" 2>/dev/null || true; fi
	rm -f "$f"
}

cmd_down() {
	stop_pidfile "$dir/run/slurmd.pid"
	stop_pidfile "$dir/run/slurmctld.pid"
	stop_pidfile "$dir/run/munged.pid"
	log "slurm daemons started from $dir are stopped"
}

case "${1:-}" in
install) cmd_install ;;
up) cmd_install; cmd_up ;;
down) cmd_down ;;
status) running ;;
env) echo "export SLURM_CONF=$conf" ;;
*) echo "usage: $0 install|up|down|status|env" >&2; exit 2 ;;
esac
