#!/usr/bin/env bash
# make bench: every benchmark, side by side with its baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchmem ./...
