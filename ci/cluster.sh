#!/usr/bin/env bash
# A three-node Slurm cluster on this one machine, for migrator's node-failure test
# (e2e/nodefail_test.go) and for trying failures by hand.
#
#   ci/cluster.sh up          start what is missing: bridge, one network namespace per node,
#                             munged, slurmctld, one slurmd per node; wait until every node
#                             is idle; prints the SLURM_CONF to use. Also brings a killed
#                             node back (ReturnToService=2 returns it to service).
#   ci/cluster.sh down        stop everything this script started and remove its namespaces,
#                             links and bridge (the state directory is kept, for post mortems)
#   ci/cluster.sh kill NODE   SIGKILL every process of NODE (its slurmd, slurmstepds, job
#                             scripts and their children: all processes in its namespace), as
#                             a node losing power would; slurmctld marks it down within
#                             SlurmdTimeout and requeues its batch jobs
#   ci/cluster.sh status      exit 0 if slurmctld and every node's slurmd started here run
#   ci/cluster.sh env         print "export SLURM_CONF=..." for a shell to eval
#   ci/cluster.sh nodes       print the node names, one a line
#
# Nodes node1..node3 each run in their own network namespace (migrator-node1, ...; address
# 10.213.0.11-13 on a veth into bridge migcl-br0, whose address 10.213.0.1 is slurmctld's)
# and their own UTS namespace (hostname node1, ...), so each looks like a separate host to
# the tasks it runs (a shard lock names its holder's host). The filesystem is shared: a
# network namespace does not isolate it, so a campaign and a tree under /tmp are seen by
# every node, as a cluster filesystem would be. Its own munged (its own key and socket),
# ports 16827/16828 and directory $MIGRATOR_CLUSTER_DIR (default /var/tmp/migrator-cluster):
# the single-node Slurm of ci/slurm.sh (16817/16818, /var/tmp/migrator-slurm) is untouched.
# Nothing in /etc is changed. Needs root and iproute2.
set -euo pipefail

dir=${MIGRATOR_CLUSTER_DIR:-/var/tmp/migrator-cluster}
conf=$dir/slurm.conf
ctld_port=${MIGRATOR_CLUSTER_CTLD_PORT:-16827}
d_port=${MIGRATOR_CLUSTER_SLURMD_PORT:-16828}
net=${MIGRATOR_CLUSTER_NET:-10.213.0}
nodes=(node1 node2 node3)
bridge=migcl-br0

log() { printf 'ci/cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

ns_of() { echo "migrator-$1"; }
addr_of() { # NODE -> 10.213.0.1N
	local i
	for i in "${!nodes[@]}"; do
		if [ "${nodes[$i]}" = "$1" ]; then echo "$net.$((11 + i))"; return 0; fi
	done
	die "no node '$1' (nodes: ${nodes[*]})"
}

# alive PIDFILE: the process named in PIDFILE exists and is not a zombie (as in ci/slurm.sh).
alive() {
	local pid state
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -r "/proc/$pid/stat" ] || return 1
	state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
	[ "$state" != Z ] && [ "$state" != X ]
}

running() {
	local n
	alive "$dir/run/slurmctld.pid" || return 1
	for n in "${nodes[@]}"; do alive "$dir/run/slurmd-$n.pid" || return 1; done
}

write_conf() {
	local n node_lines=""
	for n in "${nodes[@]}"; do
		# CPUs and memory are declared (SlurmdParameters=config_overrides), not the
		# machine's: four CPUs (migrator's collect job asks for four), so two tasks of two
		# workers each per node; the --mem of migrate and collect jobs fits.
		node_lines+="NodeName=$n NodeAddr=$(addr_of "$n") NodeHostname=$n CPUs=4 RealMemory=4096 State=UNKNOWN"$'\n'
	done
	cat >"$conf.tmp" <<CONF
# Written by ci/cluster.sh: three nodes, each in its own network namespace on this machine.
ClusterName=migcluster
SlurmctldHost=localhost($net.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire (minimum 5 s) is also how long a requeued job waits before it may start again.
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
# slurmctld listens on every address (it binds the name "localhost" otherwise, which
# the nodes cannot reach from their namespaces); the port is ours alone.
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
# Fast failure detection: a node whose slurmd does not answer for SlurmdTimeout is set DOWN
# and its batch jobs requeued (JobRequeue=1; migrator's job scripts also say --requeue).
# Production values are minutes (default 300 s); here the test must not wait that long.
SlurmdTimeout=10
MessageTimeout=5
# A node whose slurmd comes back registers and returns to service by itself.
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=300
MaxArraySize=100001
MaxJobCount=200000
${node_lines}PartitionName=all Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP
CONF
	mv "$conf.tmp" "$conf"
}

start_munge() {
	if alive "$dir/run/munged.pid"; then return 0; fi
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

# net_up: the bridge in this (the root) namespace, and for each node its namespace with a
# veth whose other end is on the bridge. Each step only if missing.
net_up() {
	if ! ip link show "$bridge" >/dev/null 2>&1; then
		ip link add "$bridge" type bridge
		ip addr add "$net.1/24" dev "$bridge"
	fi
	ip link set "$bridge" up
	local n ns
	for n in "${nodes[@]}"; do
		ns=$(ns_of "$n")
		[ -e "/run/netns/$ns" ] || ip netns add "$ns"
		if ! ip link show "migcl-$n" >/dev/null 2>&1; then
			ip link add "migcl-$n" type veth peer name eth0 netns "$ns"
			ip link set "migcl-$n" master "$bridge" up
			ip -n "$ns" addr add "$(addr_of "$n")/24" dev eth0
			ip -n "$ns" link set eth0 up
			ip -n "$ns" link set lo up
		fi
	done
}

start_node() { # NODE
	local n=$1
	if alive "$dir/run/slurmd-$n.pid"; then return 0; fi
	install -d -m 0755 "$dir/spool/$n"
	# Its own UTS namespace: the node's hostname is its name (for slurmd, and for the
	# tasks, which record their host in shard locks and checkpoints). nsenter, not
	# "ip netns exec", which mounts a fresh /sys without the cgroup filesystem that
	# slurmd needs.
	nsenter --net="/run/netns/$(ns_of "$n")" unshare --uts -- \
		/bin/sh -c 'hostname "$1" && exec /usr/sbin/slurmd -f "$2" -N "$1"' sh "$n" "$conf"
}

node_states() {
	SLURM_CONF=$conf timeout 15 sinfo -h -N -o '%N %T' 2>/dev/null || true
}

cmd_up() {
	[ "$(id -u)" = 0 ] || die "starting a cluster (namespaces, slurmctld, slurmd) needs root"
	command -v /usr/sbin/slurmctld >/dev/null || die "slurmctld is not installed (run: ci/slurm.sh install)"
	command -v ip >/dev/null || die "ip (iproute2) is not installed"
	install -d -m 0755 "$dir" "$dir/spool" "$dir/log" "$dir/run"
	if ! alive "$dir/run/slurmctld.pid"; then
		# A fresh controller starts with no jobs: a job left from an earlier cluster
		# would run again in this one.
		rm -rf "$dir/state"
	fi
	install -d -m 0755 "$dir/state"
	write_conf
	net_up
	start_munge
	alive "$dir/run/slurmctld.pid" || /usr/sbin/slurmctld -f "$conf"
	local n
	for n in "${nodes[@]}"; do start_node "$n"; done
	local i states bad
	for i in $(seq 1 150); do
		states=$(node_states)
		bad=$(printf '%s\n' "$states" | awk 'NF==2 && $2 !~ /^(idle|mixed|allocated)$/ {print $1}')
		if [ "$(printf '%s\n' "$states" | awk 'NF==2' | wc -l)" = "${#nodes[@]}" ] && [ -z "$bad" ]; then
			log "cluster is up: ${nodes[*]} are idle; SLURM_CONF=$conf"
			echo "$conf"
			return 0
		fi
		for n in $bad; do
			case "$(printf '%s\n' "$states" | awk -v n="$n" '$1==n {print $2}')" in
			down* | drain*) SLURM_CONF=$conf scontrol update NodeName="$n" State=RESUME >/dev/null 2>&1 || true ;;
			esac
		done
		sleep 0.2
	done
	tail -n 20 "$dir/log/slurmctld.log" >&2 || true
	die "nodes not all idle after 30 s: $(echo $states)"
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

# kill_ns NODE: SIGKILL every process in NODE's network namespace, until none is left
# (a process may be forking while we kill).
kill_ns() {
	local ns i pids
	ns=$(ns_of "$1")
	[ -e "/run/netns/$ns" ] || return 0
	for i in $(seq 1 50); do
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	die "processes left in namespace $ns: $(ip netns pids "$ns" | tr '\n' ' ')"
}

cmd_kill() {
	[ "$#" = 1 ] || die "usage: ci/cluster.sh kill NODE"
	addr_of "$1" >/dev/null
	[ -e "/run/netns/$(ns_of "$1")" ] || die "node $1 is not up (no namespace $(ns_of "$1"))"
	local n
	n=$(ip netns pids "$(ns_of "$1")" | wc -l)
	kill_ns "$1"
	rm -f "$dir/run/slurmd-$1.pid"
	log "node $1 killed: $n process(es) got SIGKILL"
}

cmd_down() {
	local n
	for n in "${nodes[@]}"; do
		stop_pidfile "$dir/run/slurmd-$n.pid"
		kill_ns "$n" # what its slurmd left: job steps and their children
		if [ -e "/run/netns/$(ns_of "$n")" ]; then ip netns del "$(ns_of "$n")"; fi
		# (deleting the namespace deletes its veth pair, though not always at once)
		ip link del "migcl-$n" 2>/dev/null || true
	done
	if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge"; fi
	stop_pidfile "$dir/run/slurmctld.pid"
	stop_pidfile "$dir/run/munged.pid"
	log "the cluster started from $dir is stopped"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
kill) shift; cmd_kill "$@" ;;
status) running ;;
env) echo "export SLURM_CONF=$conf" ;;
nodes) printf '%s\n' "${nodes[@]}" ;;
*) echo "usage: $0 up|down|kill NODE|status|env|nodes" >&2; exit 2 ;;
esac
