#!/usr/bin/env bash
# make demo: a small simulated Lustre filesystem, drained end to end with the local
# scheduler, then verified: every selected file left the source OSTs with its content,
# inode, mode, owner and mtime unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
work=$(mktemp -d /tmp/migrator-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
fs=$work/fs
camp=$work/campaign

# The simulated filesystem: 8 OSTs; the admin has stopped object creation on OSTs 2 and 3
# (on Lustre: lctl set_param osp.*-OST0002*.max_create_count=0 on the MDS).
export LFS_SIM_OSTS=8 LFS_SIM_NOCREATE=2,3

echo "== a simulated filesystem"
"$bin/lfs-sim" sim-mktree --files 3000 --sources 2,3 --source-share 0.6 --hostile-every 25 \
	--link-every 60 --special-every 80 --max-size 65536 "$fs"

# What must not change: content, inode, mode, owner, mtime of every regular file.
# (sha256sum and stat escape or NUL-terminate names, so odd names compare exactly.)
fingerprint() {
	(cd "$fs" && find . -type f -print0 | sort -z | xargs -0 sha256sum &&
		find . -type f -print0 | sort -z | xargs -0 stat --printf '%i %a %U %Y %n\0')
}
fingerprint >"$work/before"
on_source=$("$bin/lfs-sim" find "$fs" -type f -O 2,3 -0 | tr -cd '\0' | wc -c)
echo "$on_source names of regular files have an object on OST 2 or 3"

echo
echo "== migrator plan (local scheduler: the shards run here)"
"$bin/migrator" plan "$camp" --osts 2,3 --scan-path "$fs" --lfs "$bin/lfs-sim" \
	--scheduler local --shard-files 400 --array-throttle 2 --workers 4

echo
echo "== migrator status"
"$bin/migrator" status "$camp"

echo
echo "== verify"
left=$("$bin/lfs-sim" find "$fs" -type f -O 2,3 | wc -l)
fingerprint >"$work/after"
if [ "$left" != 0 ]; then
	echo "FAIL: $left files still have an object on OST 2 or 3" >&2
	exit 1
fi
if ! cmp -s "$work/before" "$work/after"; then
	echo "FAIL: file content or metadata changed" >&2
	exit 1
fi
echo "OK: no file left on OSTs 2,3; content, inode, mode, owner and mtime of every file unchanged"
