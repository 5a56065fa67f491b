#!/usr/bin/env bash
# make test: every test of the project. Unit tests always; the Slurm integration tests on
# the project's single-node Slurm, which this script starts (and stops again) when it can:
# as root with Slurm's packages installed (ci/slurm.sh install). Otherwise those tests skip
# and say why. Then it runs the whole suite again with Slurm's commands hidden
# (ci/noslurm.sh), to prove the suite passes on a machine without Slurm.
set -euo pipefail
cd "$(dirname "$0")/.."

started=
if [ -z "${SLURM_CONF:-}" ]; then
	if [ "$(id -u)" = 0 ] && command -v /usr/sbin/slurmctld >/dev/null 2>&1; then
		if ! ci/slurm.sh status; then
			ci/slurm.sh up >/dev/null
			started=1
		fi
		export SLURM_CONF=$(ci/slurm.sh env | sed 's/^export SLURM_CONF=//')
		export MIGRATOR_REQUIRE_SLURM=1
	elif [ "$(id -u)" != 0 ]; then
		echo "test: not root, so Slurm integration tests will skip (they need to start slurmd)" >&2
	else
		echo "test: Slurm is not installed, so Slurm integration tests will skip (install it with: ci/slurm.sh install)" >&2
	fi
else
	export MIGRATOR_REQUIRE_SLURM=1
fi
# The node-failure test (e2e/nodefail_test.go) starts and stops its own three-node cluster
# (ci/cluster.sh); here it is required wherever that cluster can be made, and the cluster
# is stopped on any exit (a test killed by its timeout cannot stop it), unless it ran
# before this script did.
cluster_req= cluster_was_up=
# (Without iproute2 it fails, saying so: ci/slurm.sh install installs it.)
if [ "$(id -u)" = 0 ] && command -v /usr/sbin/slurmd >/dev/null 2>&1 && unshare --net true 2>/dev/null; then
	cluster_req=1
	if ci/cluster.sh status; then cluster_was_up=1; fi
fi
stop() {
	if [ -n "$started" ]; then ci/slurm.sh down >/dev/null 2>&1 || true; fi
	if [ -n "$cluster_req" ] && [ -z "$cluster_was_up" ]; then ci/cluster.sh down >/dev/null 2>&1 || true; fi
}
trap stop EXIT

go vet ./...
# Everything, with the race detector on (the packages with goroutines are most of them).
# e2e takes about 15 minutes of it on 2 cores: the timeout leaves room for a slower machine.
MIGRATOR_REQUIRE_CLUSTER=$cluster_req go test -race -count=1 -timeout 30m ./...

# Every Go benchmark once (one iteration each): make bench must not be the first to find
# that one no longer runs.
if ! out=$(go test -run '^$' -bench . -benchtime 1x ./... 2>&1); then
	printf '%s\n' "$out" >&2
	exit 1
fi
echo "test: every Go benchmark runs"

# Everything again as on a newcomer's machine, without Slurm: its commands hidden in a
# private mount namespace (ci/noslurm.sh), SLURM_CONF unset. The Slurm tests must skip
# (internal/slurmtest's TestRequireSkipsWithoutSlurm checks that they do) and the rest
# pass. Without the race detector: that pass above covered it, and this one is about what
# Slurm's absence changes.
if [ -n "${MIGRATOR_SKIP_NOSLURM:-}" ]; then
	echo "test: the pass without Slurm is skipped (MIGRATOR_SKIP_NOSLURM is set)" >&2
else
	ci/noslurm.sh go test -count=1 -timeout 20m ./...
	echo "test: the suite passes without Slurm"
fi

# The decoders' fuzz targets, briefly (a longer run: go test ./manifest -fuzz FuzzShardStream).
# Budgets are counts of executions, about 10 s each here, not durations: with a duration,
# Go 1.26's fuzz coordinator may report its own deadline as a failure ("context deadline
# exceeded", golang/go#75804, fixed in Go 1.27). A real failure prints the input it saved.
for target in manifest:FuzzShardReader:200000 manifest:FuzzShardStream:60000 checkpoint:FuzzLogReader:8000 \
	manifest:FuzzDecodeIndex:20000 campaign:FuzzSubmissions:20000 campaign:FuzzDecodeSpec:20000 \
	fidindex:FuzzOpen:3000 sweep:FuzzDecodeHit:20000 checkpoint:FuzzRebuild:2000 \
	events:FuzzParseCursor:20000; do
	IFS=: read -r pkg name execs <<<"$target"
	if ! out=$(go test "./$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "${execs}x" -fuzzminimizetime 500x 2>&1); then
		printf '%s\n' "$out" >&2
		exit 1
	fi
	echo "fuzz $pkg:$name: ok ($execs runs)"
done
