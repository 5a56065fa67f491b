#!/usr/bin/env bash
# make demo: a small simulated filesystem, drained end to end.
# (Grows with the project: for now it shows the lfs simulator that the campaign will use.)
set -euo pipefail
cd "$(dirname "$0")/.."
sim=$PWD/bin/lfs-sim
work=$(mktemp -d /tmp/migrator-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LFS_SIM_OSTS=8 LFS_SIM_NOCREATE=2,3
for i in $(seq 1 20); do
	"$sim" setstripe -c 1 -i $((i % 8)) "$work/file-$i"
	echo "data $i" > "$work/file-$i"
done
echo "files on OSTs 2,3:"; "$sim" find "$work" -type f -O 2,3
"$sim" find "$work" -type f -O 2,3 -0 | xargs -0 -r "$sim" migrate -n -v
echo "after lfs migrate, files on OSTs 2,3:"; "$sim" find "$work" -type f -O 2,3
