#!/usr/bin/env bash
# make bench: every benchmark, each beside its baseline, in one run on this machine.
#   - the Go benchmarks of the formats (manifest, checkpoint);
#   - internal/benchrun: migrator against the exec floor (xargs) and GNU parallel on the same
#     simulator trees, plan against a serial lfs find, resume, collect, memory at 10x scale.
# Results go to stdout and to bench-results.md; BENCHMARKS.md holds a committed run.
# BENCH_ARGS passes options to benchrun (e.g. BENCH_ARGS=-quick for a smoke run).
# BENCH_SCALE=1e7 (or 1e8) adds internal/scalebench: plan, seal, work, collect and verify over
# a synthetic namespace of that many entries (1e7: about 20 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v parallel >/dev/null && [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends parallel >/dev/null || true
fi
go test -run '^$' -bench . -benchmem -cpu 1 ./manifest ./checkpoint ./fidindex
go run ./internal/benchrun -o bench-results.md ${BENCH_ARGS:-}
if [ -n "${BENCH_SCALE:-}" ]; then
	go run ./internal/scalebench -n "$BENCH_SCALE" -o bench-results.md
fi
